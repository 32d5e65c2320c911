"""A live page source: the page itself and, when it is split into pages, its older pages.

Each older page is kept as a page of its own (its address, its versions, the source
it belongs to), holding only the embeds first found there: an update that scrolls on
from the first page to the second is already archived, and is neither recorded nor
downloaded again. How far back a poll reads:

- the first poll of a source reads up to ``[polling] older_pages`` older pages, so
  what was posted before the source was added is archived too;
- a later poll (of a changed page) reads on until a page that holds an embed archived
  before (what scrolled off the first page is there), the last page, or that limit.

Whether an embed that left the first page was removed is judged against the older
pages read in the same poll (see ``capture.record_embeds``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from sqlalchemy import select

from archiver.capture import Capturer, OlderPages, RecordedPage, read_page
from archiver.errors import ArchiverError, Interrupted
from archiver.extract import PageExtraction
from archiver.extract.pagination import continues_page
from archiver.fetch.http import HttpFetcher, Response
from archiver.index.models import Embed, Page
from archiver.logs import log_event


@dataclass
class RecordedLivePage:
    page: RecordedPage
    older_pages: int = 0  # older pages read
    older_embeds: int = 0  # embeds first found on them


def record_live_page(
    capturer: Capturer,
    http: HttpFetcher,
    source_id: int,
    body: bytes,
    response: Response,
    *,
    older_pages: int,
    first_poll: bool,
) -> RecordedLivePage:
    """Record a new version of a live page, after reading the older pages it links."""
    extraction = read_page(body, response.final_url)
    reader = _OlderPageReader(capturer, http, source_id, response.final_url, extraction)
    older = reader.read(older_pages, first_poll) if older_pages else None
    recorded = capturer.record_page(
        response.url,
        body,
        response=response,
        source_id=source_id,
        mark_removed=True,
        extraction=extraction,
        older=older,
    )
    return RecordedLivePage(recorded, reader.pages, reader.new_embeds)


class _OlderPageReader:
    def __init__(
        self,
        capturer: Capturer,
        http: HttpFetcher,
        source_id: int,
        first_url: str,
        first: PageExtraction,
    ) -> None:
        self.capturer = capturer
        self.http = http
        self.source_id = source_id
        self.first_url = first_url
        self.first = first
        self.visited = {first_url}
        self.pages = 0
        self.new_embeds = 0

    def _next(self, extraction: PageExtraction) -> str | None:
        for url in extraction.older_pages:
            if url not in self.visited and continues_page(self.first_url, url):
                return url
        return None

    def read(self, limit: int, first_poll: bool) -> OlderPages | None:
        """Read and record older pages; None when the page links none."""
        url = self._next(self.first)
        if url is None:
            return None
        with self.capturer.archive.read_session() as session:
            archived = set(
                session.scalars(
                    select(Embed.url).join(Page).where(Page.source_id == self.source_id)
                )
            )
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
            except Interrupted:
                raise
            except ArchiverError as exc:
                older.complete = False
                log_event("page.older_failed", logging.WARNING, url=url, reason=str(exc))
                break
            if extraction is None:
                break  # it led back, or away: the pages end here
            found = {embed.url for embed in extraction.embeds}
            older.embed_urls |= found
            known |= found
            if found & archived and not first_poll:
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
        extraction = read_page(document.body, final)
        self.pages += 1
        fresh = [embed for embed in extraction.embeds if embed.url not in known]
        recorded = self.capturer.record_page(
            response.url,
            document.body,
            response=response,
            source_id=self.source_id,
            extraction=replace(extraction, embeds=fresh),
        )
        self.new_embeds += recorded.new_embeds
        return extraction
