"""Reading the older pages of a page split into pages, and recording what they hold.

A live blog shows its newest updates and moves older ones on to further pages
(``extract.pagination`` finds the link). Each older page is recorded as a page of its
own, holding only the embeds first found there: an update that scrolled on from the
first page is recorded there already, and is neither recorded nor downloaded again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from sqlalchemy import or_, select

from archiver.errors import ArchiverError, ArchiveUnavailable, FetchError, Interrupted
from archiver.extract import ExtractError, PageExtraction, extract_embeds
from archiver.extract.document import charset_of
from archiver.extract.pagination import continues_page
from archiver.fetch.http import HttpFetcher, Response
from archiver.index.models import Embed, Page
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


class OlderPageReader:
    """Reads and records the older pages a page links, one after the other.

    ``source_id`` is the live page source polled, whose older pages belong to it.
    Reading stops where what was archived before on the page goes on: the embeds of
    the source's pages, or without one (a page captured by hand or linked from a feed
    entry), of the first page and the older pages that name it.
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
        self.first_url = first.final_url  # where the pages go on from
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

    def read(self, limit: int, *, read_back: bool) -> OlderPages | None:
        """Read and record up to ``limit`` older pages; None when the page links none.

        Unless ``read_back`` (or none of the page's older pages is kept yet),
        reading stops after a page that holds an embed archived before (by the source,
        or without one on this page or its older pages): from there on, its older
        pages were read already.
        """
        url = self._next(self.first)
        if url is None:
            return None
        ours = (
            Page.source_id == self.source_id
            if self.source_id is not None
            else or_(
                Page.url.in_([self.first_page, self.first_url]),
                Page.first_page_url == self.first_page,
            )
        )
        with self.capturer.archive.read_session() as session:
            rows = session.execute(
                select(Page.url, Embed.url).outerjoin(Embed, Embed.page_id == Page.id).where(ours)
            ).all()
        archived = {embed for _, embed in rows if embed is not None}
        # none of its older pages kept yet (a first capture, a source polled before they
        # were read): read back as on a first poll. The first page's embeds may be
        # archived already, by the feed entries that link to it, without its older pages.
        read_back = read_back or not any(continues_page(self.first_url, p) for p, _ in rows)
        # what the first page holds now is recorded there, not on an older page
        known = archived | {embed.url for embed in self.first.embeds}
        older = OlderPages()
        while url is not None:
            if self.pages == limit:
                older.complete = False
                log_event("page.older_not_read", url=self.first_url, pages=limit, next=url)
                break
            self.visited.add(url)
            try:
                extraction = self._record(url, known)
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
                break  # it led back, or away: the pages end here
            found = {embed.url for embed in extraction.embeds}
            older.embed_urls |= found
            known |= found
            if found & archived and not read_back:
                break  # what was archived before goes on from here
            url = self._next(extraction)
        if self.pages:
            log_event(
                "page.older_read", url=self.first_url, pages=self.pages, new_embeds=self.new_embeds
            )
        return older

    def _record(self, url: str, known: set[str]) -> PageExtraction | None:
        """Record an older page with the embeds first found there; None when the address
        redirected to a page already read, or to one that does not continue the page."""
        document = self.http.get_document(url)
        response = document.response
        final = response.final_url
        if final != url and (final in self.visited or not continues_page(self.first_url, final)):
            return None
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
        return extraction
