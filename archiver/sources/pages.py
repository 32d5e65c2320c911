"""A live page source: the page itself and, when it is split into pages, its older pages.

Each older page is kept as a page of its own (its address, its versions, the source
it belongs to), holding only the embeds first found there: an update that scrolls on
from the first page to the second is already archived, and is neither recorded nor
downloaded again. How far back a poll reads:

- the first poll of a source reads up to ``[polling] older_pages`` older pages, so
  what was posted before the source was added is archived too (as does a poll of a
  source none of whose older pages is kept yet);
- a later poll (of a changed page) reads on until every embed that left the first
  page has been found on an older page and the page read holds an embed archived
  before (not one the first page still shows), the last page, or that limit
  (`OlderPageReader.read`).

Whether an embed that left the first page was removed is judged against the older
pages read in the same poll (see ``capture.record_embeds``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from archiver.capture import Capturer, RecordedPage
from archiver.fetch.http import HttpFetcher, Response
from archiver.older_pages import OlderPageReader, read_page


@dataclass
class RecordedLivePage:
    page: RecordedPage
    older_pages: int = 0  # older pages read
    older_embeds: int = 0  # embeds first found on them
    # why an older page could not be read (a 503): the next poll reads them back
    older_failure: str | None = None


def record_live_page(
    capturer: Capturer,
    http: HttpFetcher,
    source_id: int,
    body: bytes,
    response: Response,
    *,
    older_pages: int,
    first_poll: bool,
    fetched_at: datetime,
    judge_anyway: bool = False,
) -> RecordedLivePage:
    """Record a new version of a live page, after reading the older pages it links;
    dated ``fetched_at``, when it came: reading thirty older pages takes minutes, and
    the first page came out dated after them. ``judge_anyway``: see
    `Capturer.record_page`."""
    extraction = read_page(body, response)
    reader = OlderPageReader(capturer, http, source_id, response, extraction)
    older = reader.read(older_pages, read_back=first_poll) if older_pages else None
    recorded = capturer.record_page(
        response.url,
        body,
        response=response,
        source_id=source_id,
        mark_removed=True,
        extraction=extraction,
        older=older,
        fetched_at=fetched_at,
        judge_anyway=judge_anyway,
    )
    failure = older.failure if older is not None else None
    return RecordedLivePage(recorded, reader.pages, reader.new_embeds, failure)
