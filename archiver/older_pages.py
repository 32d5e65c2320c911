"""Reading the older pages of a page split into pages, and recording what they hold.

A live blog shows its newest updates and moves older ones on to further pages
(``extract.pagination`` finds the link). Each older page is recorded as a page of its
own, holding only the embeds first found there: an update that scrolled on from the
first page is recorded there already, and is neither recorded nor downloaded again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, or_, select

from archiver.errors import ArchiverError, ArchiveUnavailable, FetchError, Interrupted
from archiver.extract import ExtractError, PageExtraction, extract_embeds
from archiver.extract.document import charset_of
from archiver.extract.pagination import continues_page, same_page
from archiver.extract.urls import clean_url
from archiver.fetch.http import HttpFetcher, Response
from archiver.index.models import Embed, Page, utcnow
from archiver.index.records import find_page
from archiver.integrity.eventlog import logged_session
from archiver.integrity.events import record_embed_changes
from archiver.logs import log_event

if TYPE_CHECKING:
    from archiver.capture import Capturer


@dataclass
class OlderPages:
    """What the older pages of a live page held, read in the same poll as the page."""

    embed_urls: set[str] = field(default_factory=set)  # canonical URLs of their embeds
    # read up to what was archived before, or to the last one: one gone for good (a
    # 404) is the last one
    complete: bool = True
    # why one could not be read (a 503): what lies beyond it is read back next time,
    # or pages never read were given up for good once the one before it was kept
    failure: str | None = None


#: How a page job's error begins when an older page failed: its retry reads back.
OLDER_PAGE_FAILED = "an older page could not be read"


def _gone(error: ArchiverError) -> bool:
    """Whether an older page failed for good (a 404 or 410, a page that is no page):
    reading it again later would fail the same way."""
    return isinstance(error, FetchError) and not error.retryable


def read_page(body: bytes, response: Response) -> PageExtraction:
    """The embeds (and links to older pages) of a page's bytes, read as ``response``
    (its final URL, the charset its Content-Type names)."""
    try:
        return extract_embeds(body, response.final_url, charset_of(response.headers))
    except ExtractError as exc:
        raise FetchError(f"cannot read page: {exc}", retryable=False) from None


@dataclass
class _Archived:
    """What was archived of a live page before a poll: the embed URLs of its pages."""

    embeds: set[str]
    pending: set[str]  # of the first page, not judged yet: what it held last
    left: set[str]  # of those, the ones the first page holds no more
    removed: set[str]  # recorded as removed
    older_kept: bool  # whether any of its older pages was recorded


def awaits_judgement(embed: Embed, judged_at: datetime | None, previous: datetime | None) -> bool:
    """Whether a live page's embed, were it no longer on the first page, is judged in
    this poll: one last seen before the page's last judgement was judged then, and on a
    page never judged only those of its last version are (`capture.record_embeds`).
    One no version of the page held (a feed entry's enclosure) never leaves it: counted,
    it kept the reader looking for it down to the last older page."""
    if embed.removed_at is not None or not embed.held_by_page:
        return False
    if judged_at is not None:
        return embed.last_seen_at >= judged_at
    return embed.last_seen_at == previous


def links_older_page(first_url: str, extraction: PageExtraction) -> bool:
    """Whether a page read at ``first_url`` links a further page of itself."""
    return any(continues_page(first_url, url) for url in extraction.older_pages)


class OlderPageReader:
    """Reads and records the older pages a page links, one after the other.

    ``source_id`` is the live page source polled, whose older pages belong to it.
    Reading stops where what was archived before on the page goes on (the embeds of
    the source's pages, or without one, a page captured by hand or linked from a feed
    entry, of the first page and the older pages that name it), once each update that
    left the first page since its last judgement was found again on an older page.
    """

    def __init__(
        self,
        capturer: Capturer,
        http: HttpFetcher,
        source_id: int | None,
        first: Response,
        extraction: PageExtraction,
    ) -> None:
        self.capturer = capturer
        self.http = http
        self.source_id = source_id
        self.first_final = first.final_url
        self.first_url = clean_url(first.final_url)  # where the pages go on from
        self.first_page = first.url  # what the first page is recorded as
        self.first = extraction
        self.visited = {self.first_url}
        self.pages = 0
        self.new_embeds = 0
        self.jobs: list[tuple[int, int]] = []  # (job id, embed id) of what they hold

    def _next(self, extraction: PageExtraction) -> str | None:
        for url in extraction.older_pages:
            if url not in self.visited and continues_page(self.first_url, url):
                return url
        return None

    def _pages(self) -> ColumnElement[bool]:
        """The rows of this live page: its first page, by its addresses (a feed whose
        entries link to it records it as the feed's: by source alone, the first page's
        embeds went unseen, and reading stopped before those that had scrolled on were
        found), and its older pages, the source's (else those naming it first)."""
        first = Page.url.in_([self.first_page, self.first_final, self.first_url])
        if self.source_id is not None:
            return or_(first, Page.source_id == self.source_id)
        return or_(first, Page.first_page_url == self.first_page)

    def _archived(self) -> _Archived:
        """What the page's rows hold before this poll records anything more."""
        with self.capturer.archive.read_session() as session:
            rows = session.execute(
                select(Page.url, Embed)
                .outerjoin(Embed, Embed.page_id == Page.id)
                .where(self._pages())
            ).all()
            page = find_page(session, self.first_page)
            judged_at = page.judged_at if page is not None else None
            embeds = [embed for _, embed in rows if embed is not None]
            first = [e for e in embeds if page is not None and e.page_id == page.id]
            previous = max((embed.last_seen_at for embed in first), default=None)
            pending = [e for e in first if awaits_judgement(e, judged_at, previous)]
            now = {e.url for e in self.first.embeds} | {e.original_url for e in self.first.embeds}
            return _Archived(
                embeds={embed.url for embed in embeds},
                pending={embed.url for embed in pending},
                left={e.url for e in pending if e.url not in now and e.original_url not in now},
                removed={embed.url for embed in embeds if embed.removed_at is not None},
                older_kept=any(continues_page(self.first_url, url) for url, _ in rows),
            )

    def read(self, limit: int, *, read_back: bool) -> OlderPages | None:
        """Read and record up to ``limit`` older pages; None when the page links none.

        Unless ``read_back`` (or none of the page's older pages is kept yet), reading
        stops after a page holding an embed archived before (not one the first page
        holds now: a live-stream player repeated on every page), once every embed that
        left the first page was found on the pages read: from there on, its older
        pages were read already. One that left and is on none of them was removed,
        which only the pages read up to one archived before behind it can tell.
        """
        url = self._next(self.first)
        if url is None:
            return None
        archived = self._archived()
        # none of its older pages kept yet (a first capture, a source polled before they
        # were read): read back as on a first poll. The first page's embeds may be
        # archived already, by the feed entries that link to it, without its older pages.
        read_back = read_back or not archived.older_kept
        current = {embed.url for embed in self.first.embeds}
        earlier = archived.embeds - current  # what was archived before, not on the page now
        # archived behind what the first page held: what left it lies before these
        behind = earlier - archived.pending
        passed_behind = False
        # what the first page holds now is recorded there, not on an older page
        known = archived.embeds | current
        older = OlderPages()
        while url is not None:
            if self.pages == limit:
                # every update that left the first page was found, or one archived
                # behind them was passed: what was not found was removed
                older.complete = archived.left <= older.embed_urls or passed_behind
                log_event("page.older_not_read", url=self.first_url, pages=limit, next=url)
                break
            self.visited.add(url)
            try:
                extraction = self._record(url, known, archived.removed)
            except (Interrupted, ArchiveUnavailable):
                raise  # not this page's fault: the poll or capture fails, and is retried
            except ArchiverError as exc:
                if _gone(exc):
                    # the pages end here: owing a read back for a page that is no more,
                    # every poll fetched the page whole and all its older pages again
                    log_event("page.older_gone", logging.WARNING, url=url, reason=str(exc))
                    break
                older.complete, older.failure = False, f"{url}: {exc}"
                log_event("page.older_failed", logging.WARNING, url=url, reason=str(exc))
                break
            if extraction is None:
                break  # it led back to a page read: the pages end here
            found = {embed.url for embed in extraction.embeds}
            older.embed_urls |= found
            known |= found
            passed_behind = passed_behind or bool(found & behind)
            if not read_back and found & earlier and archived.left <= older.embed_urls:
                break  # what was archived before goes on from here
            url = self._next(extraction)
        if self.pages:
            log_event(
                "page.older_read", url=self.first_url, pages=self.pages, new_embeds=self.new_embeds
            )
        return older

    def _record(self, url: str, known: set[str], removed: set[str]) -> PageExtraction | None:
        """Record an older page with the embeds first found there; None when the address
        redirected back to a page already read (or the first). One that redirects away
        (a challenge, a login or consent page) is a failure: read again next time."""
        document = self.http.get_document(url)
        response = document.response
        final = clean_url(response.final_url)
        if final != url:
            if final in self.visited or same_page(self.first_url, final):
                return None
            if not continues_page(self.first_url, final):
                raise FetchError(f"redirected away, to {response.final_url}")
        self.visited.add(final)
        extraction = read_page(document.body, response)
        self.pages += 1
        fresh = [embed for embed in extraction.embeds if embed.url not in known]
        recorded = self.capturer.record_page(
            response.url,
            document.body,
            response=response,
            source_id=self.source_id,
            extraction=replace(extraction, embeds=fresh),
            first_page=self.first_page,
        )
        self.new_embeds += recorded.new_embeds
        self.jobs += recorded.jobs
        shown = {embed.url for embed in extraction.embeds}
        self._restore(removed & shown, recorded.sha256)
        removed -= shown
        return extraction

    def _restore(self, urls: set[str], version: str) -> None:
        """Take back the removal of embeds an older page (its ``version``) shows: they
        scrolled on to it (one judged while it lay past the pages read, or from a page
        served in error). The event log keeps both the removal and its taking back."""
        if not urls:
            return
        now = utcnow()
        with logged_session(self.capturer.archive) as session:
            taken_back = session.scalars(
                select(Embed).where(
                    Embed.url.in_(sorted(urls)),
                    Embed.removed_at.is_not(None),
                    Embed.page_id.in_(select(Page.id).where(self._pages())),
                )
            ).all()
            returned = [(embed.id, embed.removed_at) for embed in taken_back if embed.removed_at]
            for embed in taken_back:
                embed.removed_at = None
            record_embed_changes(session, [], returned, version=version, at=now, where="older page")
        log_event("page.removal_undone", url=self.first_url, embeds=len(returned))
