"""Polling one source: conditional GET, feed or page, new work queued, backoff on errors."""

from __future__ import annotations

import hashlib
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from archiver.capture import Capturer
from archiver.config import PollingConfig
from archiver.errors import ArchiverError, FetchError
from archiver.extract import ExtractError, FoundEmbed, extract_embeds
from archiver.fetch.http import HttpFetcher, Response
from archiver.index.bulk import EntryRecord, record_feed_entries
from archiver.index.models import Page, Source, utcnow
from archiver.integrity.eventlog import logged_session
from archiver.integrity.events import record_page
from archiver.logs import log_event
from archiver.sources.feed import FeedEntry, looks_like_feed, parse_feed

PollOutcome = Literal["changed", "unchanged", "error"]
ENTRY_BATCH = 500


@dataclass
class PollResult:
    source_id: int
    url: str
    result: PollOutcome
    kind: str | None = None
    new_embeds: int = 0
    removed_embeds: int = 0
    new_entries: int = 0
    error: str | None = None


def _entry_digests(session: Session, links: list[str]) -> dict[str, str | None]:
    """The content digest last recorded for each known entry link (bulk, in chunks)."""
    found: dict[str, str | None] = {}
    for start in range(0, len(links), 500):
        chunk = links[start : start + 500]
        rows = session.execute(select(Page.url, Page.feed_entry_sha256).where(Page.url.in_(chunk)))
        found.update({url: digest for url, digest in rows})
    return found


def claim_due_sources(session: Session, now: datetime, limit: int) -> list[int]:
    """Take due, unpaused sources; pushing their next poll out acts as a lease so
    another daemon on the same database does not poll them at the same time."""
    query = (
        select(Source)
        .where(Source.paused.is_(False), Source.next_poll_at <= now)
        .order_by(Source.next_poll_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed = list(session.scalars(query))
    for source in claimed:
        source.next_poll_at = now + timedelta(seconds=max(source.every_seconds, 300))
    return [s.id for s in claimed]


class Poller:
    def __init__(self, capturer: Capturer, settings: PollingConfig, http: HttpFetcher) -> None:
        self.capturer = capturer
        self.archive = capturer.archive
        self.settings = settings
        self.http = http  # its own host limiter, with the politeness delay

    def _next(self, every: float, now: datetime, floor: float = 0.0) -> datetime:
        spread = 1 + random.uniform(-self.settings.jitter, self.settings.jitter)
        return now + timedelta(seconds=max(every * spread, floor))

    def poll(self, source_id: int) -> PollResult:
        with self.archive.read_session() as session:  # no write lock for a read
            source = session.get_one(Source, source_id)
            url, kind = source.url, source.kind
            conditional = {}
            if source.etag:
                conditional["If-None-Match"] = source.etag
            if source.last_modified:
                conditional["If-Modified-Since"] = source.last_modified
            known_sha = source.content_sha256
        result = PollResult(source_id, url, "unchanged")
        retry_after: float | None = None
        response: Response | None = None
        try:
            document = self.http.get_document(url, conditional)
            response = document.response
            if response.status != 304:
                sha = hashlib.sha256(document.body).hexdigest()
                if sha != known_sha:
                    self._handle(source_id, kind, document.body, response, result)
                known_sha = sha
        except ArchiverError as exc:
            result.result, result.error = "error", str(exc)
            retry_after = exc.retry_after if isinstance(exc, FetchError) else None
        self._record(source_id, result, response, known_sha, retry_after)
        return result

    def _handle(
        self, source_id: int, kind: str, body: bytes, response: Response, result: PollResult
    ) -> None:
        if kind == "auto":
            kind = "feed" if looks_like_feed(response.content_type, body) else "page"
        result.kind = kind
        if kind == "feed":
            self._handle_feed(source_id, body, response, result)
        else:
            recorded = self.capturer.record_page(
                response.url, body, response=response, source_id=source_id, mark_removed=True
            )
            result.new_embeds, result.removed_embeds = recorded.new_embeds, recorded.removed_embeds
            result.result = "changed" if recorded.changed else "unchanged"

    def _handle_feed(
        self, source_id: int, body: bytes, response: Response, result: PollResult
    ) -> None:
        """Keep the feed version, then index each new or changed entry in one pass.

        Each entry becomes a page (its link) with the embeds found in its content
        (relative URLs resolved against the link), and a job to capture the linked
        page itself. Unchanged entries are skipped by the digest of their content.
        """
        entries = parse_feed(body, response.final_url)
        now = utcnow()
        with logged_session(self.archive) as session:
            feed_page, sha, new_version = self.capturer.store_version(
                session, response.url, body, response, None, now
            )
            feed_page.source_id = source_id
            if new_version:
                record_page(session, feed_page, sha, at=now)
        for start in range(0, len(entries), ENTRY_BATCH):
            batch = entries[start : start + ENTRY_BATCH]
            with self.archive.session() as session:
                seen = _entry_digests(session, [e.link for e in batch])
                changed: dict[str, EntryRecord] = {}
                for entry in batch:
                    digest = hashlib.sha256(entry.html.encode("utf-8")).hexdigest()
                    if seen.get(entry.link) != digest:
                        embeds = self._entry_embeds(entry)
                        changed[entry.link] = EntryRecord(entry.link, entry.title, digest, embeds)
                result.new_entries += len(changed)
                records = list(changed.values())
                result.new_embeds += record_feed_entries(session, source_id, records, now)
        result.result = "changed" if result.new_entries else "unchanged"

    def _entry_embeds(self, entry: FeedEntry) -> list[FoundEmbed]:
        if "<" not in entry.html:
            return []  # plain text: nothing embedded
        try:
            return extract_embeds(entry.html, entry.link).embeds
        except ExtractError as exc:
            log_event("feed.entry_unreadable", logging.WARNING, url=entry.link, reason=str(exc))
            return []

    def _record(
        self,
        source_id: int,
        result: PollResult,
        response: Response | None,
        content_sha: str | None,
        retry_after: float | None,
    ) -> None:
        now = utcnow()
        with self.archive.session() as session:
            source = session.get(Source, source_id)
            if source is None:  # removed while we polled
                return
            source.last_polled_at = now
            source.last_result = result.result
            if result.kind:
                source.detected_kind = result.kind
            if result.result == "error":
                source.consecutive_errors += 1
                source.last_error = result.error
                backoff = min(
                    source.every_seconds * 2**source.consecutive_errors, self.settings.max_backoff
                )
                source.next_poll_at = self._next(backoff, now, floor=retry_after or 0.0)
            else:
                source.consecutive_errors = 0
                source.last_error = None
                source.content_sha256 = content_sha
                if response is not None and response.status != 304:
                    source.etag = response.headers.get("etag")
                    source.last_modified = response.headers.get("last-modified")
                source.next_poll_at = self._next(source.every_seconds, now)
        level = logging.WARNING if result.result == "error" else logging.INFO
        log_event(
            "source.polled",
            level,
            url=result.url,
            result=result.result,
            kind=result.kind,
            new_entries=result.new_entries or None,
            new_embeds=result.new_embeds or None,
            removed_embeds=result.removed_embeds or None,
            reason=result.error,
        )
