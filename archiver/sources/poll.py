"""Polling one source: conditional GET, feed or page, new work queued, backoff on errors."""

from __future__ import annotations

import hashlib
import html
import logging
import math
import random
import socket
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit

from sqlalchemy import case, exists, select, update
from sqlalchemy.orm import Session

from archiver.capture import Capturer
from archiver.config import PollingConfig
from archiver.errors import ArchiverError, ArchiveUnavailable, FetchError, Interrupted
from archiver.extract import ExtractError, FoundEmbed, extract_embeds
from archiver.extract.collect import EmbedList
from archiver.extract.document import charset_of
from archiver.extract.urls import clean_url
from archiver.fetch.http import HttpFetcher, Response
from archiver.index.bulk import (
    EntryRecord,
    embed_row,
    entry_digests,
    insert_ignoring_duplicates,
    pending_job_rows,
    record_feed_entries,
)
from archiver.index.models import CaptureJob, Embed, Source, utcnow
from archiver.index.records import live_source
from archiver.integrity.eventlog import logged_session
from archiver.logs import log_event
from archiver.sources.entries import FeedEntry, link_media, media_embeds
from archiver.sources.feed import looks_like_feed, parse_feed
from archiver.sources.pages import record_live_page
from archiver.sources.registry import read_anew
from archiver.workers import Renewer, worker_exited, worker_id

PollOutcome = Literal["changed", "unchanged", "error", "interrupted", "removed"]
ENTRY_BATCH = 500
MAX_DOUBLINGS = 32  # 2**32 times any interval is far past max_backoff; more would overflow


@dataclass
class PollResult:
    source_id: int
    url: str
    result: PollOutcome
    kind: str | None = None
    new_embeds: int = 0
    removed_embeds: int = 0
    returned_embeds: int = 0  # judged removed before, and on the page again
    new_entries: int = 0
    older_pages: int | None = None  # of a live page split into pages, read in this poll
    # one of them failed, or a feed entry is to be read again (`record_feed_entries`):
    # the next poll reads the source whole, as a first poll does
    read_back_owed: bool = False
    older_failure: str | None = None  # why, kept as the source's last error
    read_back: bool = False  # a live page's older pages were all read, back to the limit
    # a live page's version was an earlier one served again: the next poll records and
    # judges its answer, unchanged or not (`RECORD_AGAIN`)
    record_again: bool = False
    error: str | None = None


#: A live page's checksum when the page's last version judged nothing, being an earlier
#: version served again: the next answer is recorded whatever it is, and judged.
RECORD_AGAIN = ""

#: A source answered "304 Not Modified" this long is fetched whole once: a server
#: whose validators never move (a script sending its own file's mtime) hides new entries.
REFETCH_WHOLE = timedelta(days=1)


#: How long taking a source holds it. The poll renews the hold while it runs
#: (`ClaimKeeper`), so a poll cut short by a crash (kill -9, the OOM killer, the
#: watchdog) or by a database gone away is taken up again this soon, by another
#: daemon on the same database, rather than an interval later; a process of the
#: holder's host takes it up at once (`free_exited_claims`).
CLAIM_HOLD = timedelta(minutes=5)


def claim_due_sources(
    session: Session,
    now: datetime,
    limit: int,
    busy: Collection[int] = (),
    hold: timedelta = CLAIM_HOLD,
    owner: str | None = None,
) -> list[int]:
    """Take due, unpaused sources for ``owner`` (`worker_id`, this process's by
    default); pushing their next poll out by ``hold`` acts as a lease so another
    daemon on the same database does not poll them at the same time; naming the
    holder lets a process of its host take them up as soon as it dies
    (`free_exited_claims`). Sources in ``busy`` (this process is polling them, or has
    them queued) are not taken again."""
    query = (
        select(Source)
        .where(Source.paused.is_(False), Source.next_poll_at <= now, Source.id.not_in(busy))
        .order_by(Source.next_poll_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed = list(session.scalars(query))
    holder = owner or worker_id()
    for source in claimed:
        source.next_poll_at = now + hold
        source.claimed_by, source.claimed_at = holder, now
    return [s.id for s in claimed]


def free_exited_claims(session: Session, now: datetime, also: str | None = None) -> int:
    """Make due now the sources claimed by processes of this host that no longer run
    (and by ``also``: this process's id at its start, an earlier process's reused): a
    daemon killed mid-poll left them held for `CLAIM_HOLD`, its own restart included,
    and one in a crash loop polled its live pages every five minutes. Claims of live
    processes are theirs; those of other hosts, which cannot be asked, lapse. How many.

    Each is freed only if still the dead holder's: one another daemon took meanwhile
    (its hold lapsed) is left to it, without locking the claims of the living.
    """
    host = socket.gethostname()
    held = session.execute(
        select(Source.id, Source.claimed_by, Source.claimed_at).where(
            Source.claimed_by.startswith(f"{host}:", autoescape=True)
        )
    ).all()
    freed = 0
    for source_id, holder, claimed_at in held:
        if holder != also and not worker_exited(holder, since=claimed_at):
            continue
        result = session.execute(
            update(Source)
            .where(Source.id == source_id, Source.claimed_by == holder)
            .values(
                next_poll_at=case((Source.next_poll_at > now, now), else_=Source.next_poll_at),
                claimed_by=None,
                claimed_at=None,
            ),
            execution_options={"synchronize_session": False},
        )
        freed += result.rowcount  # type: ignore[attr-defined]
    return freed


def end_claim(source: Source, owner: str) -> None:
    """Forget that ``owner`` holds the source, its poll over or given up; a claim
    another daemon took once this one lapsed (the database was away) stays its own."""
    if source.claimed_by == owner:
        source.claimed_by = source.claimed_at = None


class ClaimKeeper(Renewer):
    """Renews, in the background, the claims of the sources this process is polling.

    A claim is short (`CLAIM_HOLD`) so that a crash costs minutes, not an interval; a
    live blog read back over thirty slow older pages outlasts it, and another daemon
    would poll the source beside it.
    """

    def __init__(
        self, session: Callable[[], AbstractContextManager[Session]], hold: timedelta = CLAIM_HOLD
    ) -> None:
        super().__init__(hold, "claim-keeper")
        self._session = session

    def renew(self, ids: list[int]) -> None:
        """Hold these sources another ``hold`` (never bringing a poll forward)."""
        until = utcnow() + self.hold_for
        with self._session() as session:
            session.execute(
                update(Source)
                .where(Source.id.in_(ids), Source.next_poll_at < until)
                .values(next_poll_at=until)
            )


class Poller:
    def __init__(self, capturer: Capturer, settings: PollingConfig, http: HttpFetcher) -> None:
        self.capturer = capturer
        self.archive = capturer.archive
        self.settings = settings
        self.http = http  # its own host limiter, with the politeness delay
        self.owner = capturer.owner  # who its claims name (`claim_due_sources`)
        self.claims = ClaimKeeper(self.archive.session)

    def _next(self, every: float, now: datetime, floor: float = 0.0) -> datetime:
        spread = 1 + random.uniform(-self.settings.jitter, self.settings.jitter)
        return now + timedelta(seconds=max(every * spread, floor))

    def poll(self, source_id: int) -> PollResult:
        """Poll a source claimed for it (`claim_due_sources`), holding the claim while
        the poll runs."""
        self.claims.hold(source_id)
        try:
            return self._poll(source_id)
        except ArchiveUnavailable:
            raise  # the database is away: the claim lapses, and the source is polled then
        except Exception:
            # not an expected failure: were the claim left to lapse, its traceback would
            # come every few minutes; it is polled at its interval, as after an error
            with suppress(Exception):
                self._put_off(source_id)
            raise
        finally:
            self.claims.drop(source_id)

    def _poll(self, source_id: int) -> PollResult:
        with self.archive.read_session() as session:  # no write lock for a read
            source = session.get(Source, source_id)
            if source is None:  # removed after it was claimed, before its poll began
                log_event("source.gone", id=source_id, reason="removed before its poll")
                return PollResult(source_id, "", "removed")
            url, kind = source.url, source.kind
            was_feed = kind == "auto" and source.detected_kind == "feed"
            known_sha = source.content_sha256
            # never read: older pages are read back to the limit; so they are once a day
            read_back = known_sha is None or self._read_back_due(source)
            conditional = {}
            whole = source.fetched_whole_at
            # (a time ahead of now, the clock set back, is no recent fetch; a read back
            # fetches it whole: a 304 would read nothing)
            recent = whole is not None and timedelta(0) <= utcnow() - whole < REFETCH_WHOLE
            if recent and not read_back:
                if source.etag:
                    conditional["If-None-Match"] = source.etag
                if source.last_modified:
                    conditional["If-Modified-Since"] = source.last_modified
        result = PollResult(source_id, url, "unchanged")
        retry_after: float | None = None
        response: Response | None = None
        try:
            document = self.http.get_document(url, conditional)
            fetched_at = utcnow()
            response = document.response
            if response.status != 304:
                sha = hashlib.sha256(document.body).hexdigest()
                if sha != known_sha or read_back:
                    self._handle(
                        source_id,
                        kind,
                        document.body,
                        response,
                        fetched_at,
                        result,
                        read_back,
                        was_feed,
                        judge_anyway=known_sha == RECORD_AGAIN,
                    )
                known_sha = sha
        except Interrupted:
            # Shutdown cut the poll short: the source was not polled, so no error, no
            # back-off, and it is due again at once (its claim only pushed it out).
            self.release(source_id)
            result.result = "interrupted"
            log_event("source.interrupted", url=url)
            return result
        except ArchiverError as exc:
            result.result, result.error = "error", str(exc)
            retry_after = exc.retry_after if isinstance(exc, FetchError) else None
            # the archive could not take it (disk full): not the source's fault
            counted = not isinstance(exc, ArchiveUnavailable)
        else:
            counted = True
        self._record(
            source_id, result, response, known_sha, retry_after, counted=counted, polled_as=kind
        )
        return result

    def _read_back_due(self, source: Source) -> bool:
        """Whether a live page's older pages are due to be read back to the limit, its
        first page changed or not (`[polling] older_pages_read_back`): an update that
        scrolled on to an older page and was edited there to add its video was never
        archived. A source polled before they were timed is due at once."""
        every = self.settings.older_pages_read_back
        if not (
            every and self.settings.older_pages and "page" in (source.kind, source.detected_kind)
        ):
            return False
        last = source.read_back_at
        return last is None or not timedelta(0) <= utcnow() - last < timedelta(seconds=every)

    def _handle(
        self,
        source_id: int,
        kind: str,
        body: bytes,
        response: Response,
        fetched_at: datetime,
        result: PollResult,
        read_back: bool,
        was_feed: bool = False,
        *,
        judge_anyway: bool = False,
    ) -> None:
        """Record a changed source as the feed or page it is; ``fetched_at``: when its
        answer came. With ``read_back``, a live page's older pages are read back to the
        limit (a first poll, a read back owed or due)."""
        if kind == "auto":
            feed = looks_like_feed(response.content_type, body)
            if was_feed and not feed:
                # a maintenance or error page served with 200 in the feed's place: read
                # as the page it detected, it recorded the feed's embeds as removed
                served = response.content_type or "no type"
                raise FetchError(
                    f"the feed answered with a page, not a feed ({served}): retried;"
                    " `archiver source add URL --kind page` if it is a page now"
                )
            kind = "feed" if feed else "page"
        result.kind = kind
        if kind == "feed":
            self._handle_feed(source_id, body, response, result)
            return
        live = record_live_page(
            self.capturer,
            self.http,
            source_id,
            body,
            response,
            older_pages=self.settings.older_pages,
            first_poll=read_back,
            fetched_at=fetched_at,
            judge_anyway=judge_anyway,
        )
        result.new_embeds = live.page.new_embeds + live.older_embeds
        result.removed_embeds = live.page.removed_embeds
        result.returned_embeds = live.page.returned_embeds
        result.older_pages = live.older_pages or None
        result.read_back_owed = live.older_failure is not None
        result.record_again = live.page.judgement_owed
        result.older_failure = live.older_failure
        result.read_back = read_back and live.older_failure is None
        # a version stored before (the page went back to it) changed the page when its
        # embeds did: "unchanged" beside a removal misled whoever read the log
        moved = result.new_embeds or result.removed_embeds or result.returned_embeds
        result.result = "changed" if live.page.changed or moved else "unchanged"

    def _handle_feed(
        self, source_id: int, body: bytes, response: Response, result: PollResult
    ) -> None:
        """Keep the feed version, then index each new or changed entry in one pass.

        Each entry becomes a page (its link) with the embeds found in its content
        (relative URLs resolved against the link), and a job to capture the linked
        page itself. Unchanged entries are skipped by the digest of their content.
        Entries sharing a link (a live blog's updates, each linking to the live page)
        are that one page with all their embeds (see `_entry_record`). An entry
        without a page of its own gets no page and no page job: its embeds are the
        feed's, labelled with the entry (see ``_record_unlinked``).
        """
        parsed = parse_feed(body, response.final_url, charset_of(response.headers))
        entries = _by_link(parsed)
        unlinked = [entry for entry in parsed if entry.link is None]
        now = utcnow()
        placed = self.capturer.place_version(response.url, body, response, None, now)
        with logged_session(self.archive) as session:
            feed_page, feed_sha256, _ = self.capturer.store_version(session, placed)
            feed_page.source_id = live_source(session, source_id)  # removed meanwhile?
            feed_page_id = feed_page.id
        self.capturer.rewrite_page_sidecar(feed_sha256)
        for start in range(0, len(entries), ENTRY_BATCH):
            # between batches: a feed of 40,000 entries held a shutdown up for half a
            # minute; the feed's checksum is recorded only once all were read, so the
            # next poll reads on (entries recorded are skipped by their digest)
            self.archive.stop.check()
            batch = entries[start : start + ENTRY_BATCH]
            with self.archive.session() as session:
                seen = entry_digests(session, source_id, [link for link, _ in batch])
                records = []
                for link, group in batch:
                    digest = _group_digest(group)
                    if seen.get(link) != digest:
                        records.append(self._entry_record(link, group, digest))
                        result.new_entries += len(group)
                retitled: list[int] = []
                unsettled: list[str] = []
                result.new_embeds += record_feed_entries(
                    session, source_id, records, now, retitled, unsettled
                )
            # an entry not recorded as read (its page's capture could not be told of the
            # change): the next poll reads the feed whole, and the entry again
            result.read_back_owed |= bool(unsettled)
            for media_id in sorted(set(retitled)):  # their pages' new titles
                self.capturer.rewrite_sidecar(media_id)
        if unlinked:
            self._record_unlinked(feed_page_id, unlinked, now, result)
        result.result = "changed" if result.new_entries else "unchanged"

    def _entry_record(self, link: str, group: list[FeedEntry], digest: str) -> EntryRecord:
        """What the entries linking to ``link`` record: one page, with the embeds of
        each entry. Live-blog feeds link every update to the live page; each update's
        embeds are then labelled with its title, as for entries without a page; so are
        those of a lone entry whose link points into the page (``/live#update-3``: the
        feed held one update this time). Media in several updates is credited to the
        earliest (a feed lists the newest first)."""
        updates = len(group) > 1 or any(urlsplit(e.link or "").fragment for e in group)
        if not updates:
            (entry,) = group
            embeds = self._entry_embeds(entry)
        else:
            found = EmbedList()
            for entry in _oldest_first(group):
                for embed in self._entry_embeds(entry):
                    found.add(replace(embed, update=_entry_update(entry, embed)))
            embeds = found.items()
        # a link that is itself media is one of the entry's embeds, captured with the
        # entry's context, not a page to capture
        page_job = link_media(group[0]) is None
        title = None if updates else group[0].title  # updates' titles: not the page's
        return EntryRecord(link, title, digest, embeds, page_job)

    def _entry_embeds(self, entry: FeedEntry) -> list[FoundEmbed]:
        """What the entry's content embeds, then its link if that is media and the files it
        attaches, one per URL."""
        found = EmbedList()
        for embed in [*self._content_embeds(entry), *media_embeds(entry)]:
            if not self.archive.serves(embed.url):  # a copy of ours in its place
                found.add(replace(embed, posted_at=entry.published))
        return found.items()

    def _content_embeds(self, entry: FeedEntry) -> list[FoundEmbed]:
        markup = entry.html
        if not markup.strip():
            return []  # a title and an enclosure: nothing to read, nothing unreadable
        if "<" not in markup:  # plain text: its lines are paragraphs (a post's bare URL)
            lines = html.unescape(markup).splitlines()
            markup = "".join(f"<p>{html.escape(line)}</p>" for line in lines if line.strip())
        try:
            return extract_embeds(markup, entry.base).embeds
        except ExtractError as exc:
            where = entry.link or entry.base
            log_event(
                "feed.entry_unreadable",
                logging.WARNING,
                url=where,
                entry=None if entry.link else entry.label,
                reason=str(exc),
            )
            return []

    def _record_unlinked(
        self, feed_page_id: int, entries: list[FeedEntry], now: datetime, result: PollResult
    ) -> None:
        """Archive the embeds of entries that have no page of their own.

        An entry without a link (or whose id is not a permalink) has no URL to queue
        or to record as a page: its embeds are recorded on the feed's page, with the
        entry's title (else its id) as their update label, so each names the feed
        and the entry it came from. Embeds already on the feed are left as they are,
        the way unchanged linked entries are skipped. Media in several entries is the
        earliest's, as in a live blog's updates.
        """
        with self.archive.read_session() as session:
            known = set(session.scalars(select(Embed.url).where(Embed.page_id == feed_page_id)))
        entries = _oldest_first(entries)
        for start in range(0, len(entries), ENTRY_BATCH):
            self.archive.stop.check()
            fresh: dict[str, FoundEmbed] = {}
            new_entries = 0
            for entry in entries[start : start + ENTRY_BATCH]:
                embeds = [e for e in self._entry_embeds(entry) if e.url not in known]
                for embed in embeds:
                    fresh[embed.url] = replace(embed, update=_entry_update(entry, embed))
                    known.add(embed.url)
                new_entries += bool(embeds)
            if not fresh:
                continue
            with self.archive.session() as session:
                rows = [embed_row(feed_page_id, embed, now) for embed in fresh.values()]
                insert_ignoring_duplicates(session, Embed.__table__, rows)  # type: ignore[arg-type]
                without_job = session.execute(
                    select(Embed.id, Embed.url)
                    .where(Embed.page_id == feed_page_id)
                    .where(~exists().where(CaptureJob.embed_id == Embed.id))
                ).all()
                jobs = pending_job_rows([(url, id_) for id_, url in without_job], now)
                insert_ignoring_duplicates(session, CaptureJob.__table__, jobs)  # type: ignore[arg-type]
            result.new_entries += new_entries
            result.new_embeds += len(fresh)

    def release(self, source_id: int) -> None:
        """Make a claimed source due again without recording a poll."""
        self.claims.drop(source_id)
        with self.archive.session() as session:
            source = session.get(Source, source_id)
            if source is not None:
                source.next_poll_at = utcnow()
                end_claim(source, self.owner)

    def _put_off(self, source_id: int) -> None:
        """Schedule a source whose poll crashed at its interval, five minutes at least."""
        self.claims.drop(source_id)
        with self.archive.session() as session:
            source = session.get(Source, source_id)
            if source is not None:
                floor = CLAIM_HOLD.total_seconds()
                source.next_poll_at = self._next(source.every_seconds, utcnow(), floor)
                end_claim(source, self.owner)

    def _record(
        self,
        source_id: int,
        result: PollResult,
        response: Response | None,
        content_sha: str | None,
        retry_after: float | None,
        *,
        counted: bool = True,
        polled_as: str,
    ) -> None:
        """Record a poll. An error backs the source off, unless it was not ``counted``
        (the archive could not take the result): then it is polled at its interval.
        A source whose kind changed from ``polled_as`` while it was polled (``source
        add URL --kind``) is read again at once, as its new kind (`read_anew`)."""
        self.claims.drop(source_id)  # no renewal after the schedule set here
        now = utcnow()
        with self.archive.session() as session:
            source = session.get(Source, source_id)
            if source is None:  # removed while we polled
                return
            end_claim(source, self.owner)
            source.last_polled_at = now
            source.last_result = result.result
            if result.kind:
                source.detected_kind = result.kind
            if result.result == "error" and not counted:
                source.last_error = result.error
                source.next_poll_at = self._next(source.every_seconds, now)
            elif result.result == "error":
                source.consecutive_errors += 1
                source.last_error = result.error
                # Both capped at max_backoff: the doubling before it can overflow a float,
                # a Retry-After before it can overflow a date or stop polling for a year.
                cap = self.settings.max_backoff
                doublings = min(source.consecutive_errors, MAX_DOUBLINGS)
                every = source.every_seconds
                # never sooner than its interval: a weekly source failing was polled
                # every max_backoff (6 h), far more often than when it worked
                backoff = max(every, min(every * 2**doublings, cap))
                source.next_poll_at = self._next(backoff, now, floor=_clamp(retry_after, cap))
            else:
                source.consecutive_errors = 0
                # an older page that failed (a 503): the poll is no error, but says why
                # the next poll reads the page whole and its older pages back, as a
                # first poll does (no checksum, no validators)
                source.last_error = result.older_failure
                owed = result.read_back_owed
                source.content_sha256 = None if owed else content_sha
                if result.record_again and not owed:
                    source.content_sha256 = RECORD_AGAIN
                if result.read_back:
                    source.read_back_at = now
                if response is not None and response.status != 304:
                    fresh = not (owed or result.record_again)  # else a 304 would read nothing
                    source.etag = response.headers.get("etag") if fresh else None
                    source.last_modified = response.headers.get("last-modified") if fresh else None
                    source.fetched_whole_at = now
                source.next_poll_at = self._next(source.every_seconds, now)
            if source.kind != polled_as:
                read_anew(source, now)
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
            returned_embeds=result.returned_embeds or None,
            older_pages=result.older_pages,
            reason=result.error,
        )


def _clamp(seconds: float | None, cap: float) -> float:
    """A server's requested wait within [0, cap]; none, negative or NaN count as 0."""
    if seconds is None or math.isnan(seconds):
        return 0.0
    return min(max(seconds, 0.0), cap)


def _by_link(entries: list[FeedEntry]) -> list[tuple[str, list[FeedEntry]]]:
    """The entries that have a page, grouped by it ("/live#update-3", "?utm_source=rss":
    the page), in the feed's order. An entry the feed repeats (the same id, title and
    content) is one: two made a group of live-blog updates, and the page lost its title."""
    groups: dict[str, list[FeedEntry]] = {}
    seen: set[tuple[str, str | None, str | None, str]] = set()
    for entry in entries:
        if entry.link is None:
            continue
        link = clean_url(entry.link)
        key = (link, entry.entry_id, entry.title, entry.digest)
        if key not in seen:
            seen.add(key)
            groups.setdefault(link, []).append(entry)
    return list(groups.items())


def _group_digest(group: list[FeedEntry]) -> str:
    """The digest recorded for the entries sharing a link: an entry's own when alone
    (as before entries were grouped), else one over all of theirs, in any order."""
    if len(group) == 1:
        return group[0].digest
    return hashlib.sha256("\n".join(sorted(e.digest for e in group)).encode()).hexdigest()


def _oldest_first(entries: list[FeedEntry]) -> list[FeedEntry]:
    """Entries by their dates when each has one, else in the reverse of the feed's order
    (newest first, by custom)."""
    if all(entry.published is not None for entry in entries):
        return sorted(entries, key=lambda entry: entry.published or datetime.min)
    return entries[::-1]


def _entry_update(entry: FeedEntry, embed: FoundEmbed) -> str | None:
    """The update label of an embed of an entry without a page: the entry's title or
    id, followed by the label found inside the entry's content, if any."""
    if entry.label and embed.update:
        return f"{entry.label}: {embed.update}"
    return entry.label or embed.update
