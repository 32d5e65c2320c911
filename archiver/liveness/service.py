"""Running liveness checks: which URLs, politely, and what a result changes.

Targets are every embed URL archiver has seen and every page that embeds
something. Each has a ``link_checks`` row with its current status and next check
time; each change of status is a ``link_check_events`` row. A turn to ``gone`` or
``restricted`` is logged and sent to the webhook, if one is configured. An embed
or page whose capture found it gone but that a check finds live is queued for
capture again.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import exists, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from archiver.archive import Archive
from archiver.errors import ArchiveUnavailable
from archiver.extract.urls import signed_only, url_spellings
from archiver.fetch.http import make_client
from archiver.fetch.limits import HostLimiter, host_of
from archiver.index.bulk import insert_ignoring_duplicates
from archiver.index.db import is_unavailable
from archiver.index.models import (
    Embed,
    LinkCheck,
    LinkCheckEvent,
    Page,
    utcnow,
)
from archiver.index.records import pages_read_as
from archiver.integrity.eventlog import logged_session
from archiver.integrity.events import record_liveness
from archiver.jobs import (
    HOST_QUOTA_WINDOW,
    WINDOW_BATCH,
    HostQuota,
    gone_at_capture,
    retry_returned,
)
from archiver.liveness import outbox
from archiver.liveness.gate import UNREACHABLE_PAUSE, HostGate, NotAsked
from archiver.liveness.probes import CheckResult, Prober, Status
from archiver.liveness.report import DEAD, archived_copies, kept_posts, settled_status
from archiver.liveness.schedule import CLAIM_LEASE, next_check
from archiver.liveness.webhook import LivenessEvent, WebhookNotifier
from archiver.logs import ThrottledEvent, log_event

MAX_HOST_PAUSE = 120.0  # longer Retry-After values move the next check instead
SKIPPED = "skipped"  # the probe of a check whose host was not asked
CRASHED = "internal"  # the probe of a check whose probe raised (a bug, logged)
#: Checks of one host the daemon has in flight at once: one asking, one waiting for
#: its turn (the host's pace is kept); the other workers are left to other hosts.
PER_HOST_IN_FLIGHT = 2
NOT_RECORDED = ThrottledEvent("liveness.not_recorded")  # a full disk: once a minute


@dataclass(frozen=True)
class Target:
    check_id: int
    url: str
    kind: str
    platform: str | None


def sync_targets(archive: Archive, now: datetime, *, after: int = 0) -> int:
    """Give every embed URL and every page with embeds a check row (new ones due now);
    how many were added. With ``after``, only embeds whose id is greater are looked at
    (and their pages): see `TargetSync`.

    The rows missing are found in a read, which takes no write lock: a scan of every
    embed (half a second at 500,000) held SQLite's for its whole length, every ten
    seconds, and captures waited. The new rows are written in a short transaction.
    """
    with archive.read_session() as session:
        unchecked = session.execute(
            select(Embed.url, Embed.kind, Embed.platform, Embed.original_url)
            .where(Embed.id > after)
            .where(~exists().where(LinkCheck.url == Embed.url))
            .distinct()
        ).all()
        # a file under a signature: its bare address is refused, its signed one expires
        # (either would read restricted, and alert, while the page shows it)
        new_embeds = dict.fromkeys(
            (url, kind, platform)
            for url, kind, platform, spelling in unchecked
            if not signed_only(spelling, url)
        )
        with_embeds = (  # each form the faster for its case (0.1 s against 0.4 s)
            Page.id.in_(select(Embed.page_id).where(Embed.id > after))
            if after
            else exists().where(Embed.page_id == Page.id)
        )
        new_pages = session.scalars(
            select(Page.url).where(with_embeds).where(~exists().where(LinkCheck.url == Page.url))
        ).all()
    rows = [
        {"url": url, "kind": kind, "platform": platform} for url, kind, platform in new_embeds
    ] + [{"url": url, "kind": "page", "platform": None} for url in new_pages]
    if not rows:
        return 0
    common = {"next_check_at": now, "consecutive_errors": 0, "created_at": now}
    unique = {row["url"]: row for row in rows}
    with archive.session() as session:  # a row another process added meanwhile stays
        insert_ignoring_duplicates(
            session,
            LinkCheck.__table__,  # type: ignore[arg-type]
            [{**row, **common} for row in unique.values()],
        )
    return len(unique)


#: Seconds between two looks at the embeds added since the last (the daemon's minute).
SYNC_EVERY = 60.0
#: Seconds between two looks at every embed.
FULL_SYNC_EVERY = 3600.0


class TargetSync:
    """The daemon's `sync_targets`: at most every ``every`` seconds it looks at the
    embeds added since its last look (the newest id it saw), and once every
    `FULL_SYNC_EVERY` at all of them. A look at every embed each minute took 1.1 s
    at 1,000,000 embeds (4 ms now). The full look finds what the quick ones cannot:
    an embed whose id a transaction took before another's that committed first
    (PostgreSQL), or whose check row was removed."""

    def __init__(self, every: float = SYNC_EVERY) -> None:
        self.every = every
        self.after = 0
        self.looked_at = -every  # monotonic times of the last look and full look
        self.full_at = -FULL_SYNC_EVERY

    def run(self, archive: Archive, now: datetime) -> int:
        """Give the new embeds and their pages a check row, when a look is due; how
        many were added."""
        started = time.monotonic()
        if started - self.looked_at < self.every:
            return 0
        full = started - self.full_at >= FULL_SYNC_EVERY
        with archive.read_session() as session:
            newest = session.scalar(select(func.max(Embed.id))) or 0
        added = sync_targets(archive, now, after=0 if full else self.after)
        self.after, self.looked_at = newest, started
        if full:
            self.full_at = started
        return added


def interleave_by_host(targets: list[Target]) -> list[Target]:
    """Round-robin over hosts, so workers waiting on one host's limit leave others busy."""
    by_host: dict[str, deque[Target]] = {}
    for target in targets:
        by_host.setdefault(host_of(target.url), deque()).append(target)
    ordered: list[Target] = []
    while by_host:
        for host in list(by_host):
            ordered.append(by_host[host].popleft())
            if not by_host[host]:
                del by_host[host]
    return ordered


def claim_due(
    session: Session, now: datetime, limit: int, quota: HostQuota | None = None
) -> list[Target]:
    """Due checks, soonest first, leased by pushing their next time out (``SKIP
    LOCKED`` on PostgreSQL).

    With a ``quota``, a check whose host already has its share in flight is left due
    and a later one of another host is taken instead (up to `HOST_QUOTA_WINDOW`
    checks further down): a host with thousands of due checks, asked one at a time,
    held every worker waiting for its turn while the other hosts' checks waited.
    """
    window = limit if quota is None else limit + HOST_QUOTA_WINDOW
    query = (
        select(LinkCheck.id, LinkCheck.url)
        .where(LinkCheck.next_check_at <= now)
        .order_by(LinkCheck.next_check_at)
        .limit(window)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    wanted: list[int] = []
    # read a few rows at a time, as jobs.claim_due: on PostgreSQL each row read is locked
    with session.execute(query.execution_options(yield_per=WINDOW_BATCH)) as rows:
        for check_id, url in rows:
            if len(wanted) == limit:
                break
            if quota is None or quota.take(url):
                wanted.append(check_id)
    if not wanted:
        return []
    order = {check_id: n for n, check_id in enumerate(wanted)}
    claimed = list(session.scalars(select(LinkCheck).where(LinkCheck.id.in_(wanted))))
    for check in claimed:
        check.next_check_at = now + CLAIM_LEASE
    claimed.sort(key=lambda check: order[check.id])
    return interleave_by_host([Target(c.id, c.url, c.kind, c.platform) for c in claimed])


def release(session: Session, targets: list[Target], now: datetime) -> None:
    """Claimed checks that will not run now (a shutdown began): due again at once."""
    for check in session.scalars(
        select(LinkCheck).where(LinkCheck.id.in_([t.check_id for t in targets]))
    ):
        check.next_check_at = now


def targets_for(session: Session, page_url: str | None) -> list[Target]:
    """What ``archiver check`` runs now: one page (itself and its embeds, a live page's
    older pages' too), or everything."""
    query = select(LinkCheck)
    if page_url is not None:
        spellings = url_spellings(page_url)  # as captured: with tracking parameters, say
        embed_urls = select(Embed.url).where(Embed.page_id.in_(pages_read_as(spellings)))
        query = query.where(LinkCheck.url.in_(spellings) | LinkCheck.url.in_(embed_urls))
    return [Target(c.id, c.url, c.kind, c.platform) for c in session.scalars(query)]


class LivenessChecker:
    """Runs checks with a per-host rate limit and records what they found."""

    def __init__(
        self,
        archive: Archive,
        prober: Prober,
        notifier: WebhookNotifier,
        limiter: HostLimiter,
        gate: HostGate | None = None,
    ) -> None:
        settings = archive.config.liveness
        self.archive = archive
        self.settings = settings
        self.prober = prober
        self.notifier = notifier
        self.limiter = limiter  # shared with the prober: every request counts
        # the hosts not to ask now; the limiter asks it too (its ``admit``) while a
        # check waits for its host's turn, when `open` made them together
        self.gate = gate or HostGate(archive.stop, 1.0 / settings.per_host_rate)
        self.pool = ThreadPoolExecutor(settings.concurrency, thread_name_prefix="check")
        self._results: queue.Queue[tuple[Target, CheckResult]] = queue.Queue()
        threading.Thread(target=self._write_loop, name="check-writer", daemon=True).start()

    @classmethod
    def open(cls, archive: Archive) -> LivenessChecker:
        """A checker with archiver's guarded HTTP client and the configured webhook."""
        settings = archive.config.liveness
        client = make_client(archive.config.network, timeout=settings.timeout)
        header = None
        if ":" in settings.webhook_header:
            name, _, value = settings.webhook_header.partition(":")
            header = (name.strip(), value.strip())
        notifier = WebhookNotifier(
            settings.webhook_url or None,
            secret_header=header,
            settle=lambda outbox_id, failure: outbox.settle(archive, outbox_id, failure),
            still_owed=lambda outbox_id: outbox.still_owed(archive, outbox_id),
        )
        gate = HostGate(archive.stop, 1.0 / settings.per_host_rate)
        limiter = HostLimiter(per_host=1, delay=gate.pace, stop=gate.stopping, admit=gate.admit)
        prober = Prober(client, archive.ytdlp, limiter=limiter, posts=archive.config.posts)
        checker = cls(archive, prober, notifier, limiter, gate)
        checker.send_owed()  # what an earlier run could not deliver
        return checker

    def send_owed(self) -> int:
        """Queue the webhook events owed and due again (see ``outbox``): how many."""
        if not self.notifier.enabled:
            return 0
        try:
            with self.archive.read_session() as session:
                events = outbox.owed(session, utcnow())
        except ArchiveUnavailable as exc:
            log_event("liveness.outbox_not_read", logging.WARNING, reason=str(exc))
            return 0
        for event in events:
            self.notifier.notify(event)
        return len(events)

    def stop(self) -> None:
        """Checks not begun, and those waiting for their host's turn, end unasked (a
        shutdown: the checks under way finish)."""
        self.gate.stopping.set()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.flush()
        self.notifier.close()
        self.prober.client.close()

    def run(self, targets: list[Target]) -> list[CheckResult]:
        """Check now (in parallel, polite per host) and record every result."""
        results = list(self.pool.map(self.check, interleave_by_host(targets)))
        self.flush()
        return results

    def check(self, target: Target) -> CheckResult:
        """Probe one URL; its result is recorded by the writer thread, in batches.

        A host that did not answer a check at all (a time-out) is not asked again for
        `UNREACHABLE_PAUSE`: its other due checks end at once, unasked (probe `SKIPPED`:
        recorded as due again after the pause, their status untouched), instead of each
        holding a worker for as long (the host's checks go one at a time, and a
        thousand of them behind a hanging CDN kept every other host waiting for hours).
        Nor are the checks still queued at a shutdown (at one request a second per host,
        they held the daemon's stop for half a minute). The same holds for a check
        already waiting for its host's turn (see `HostGate`), and one whose host asked
        for a pause longer than its pace: it is due again when the pause is over.
        """
        refused = self.gate.refusal(host_of(target.url))
        try:
            if refused is not None:
                raise refused
            result = self.prober.check(target.url, kind=target.kind, platform=target.platform)
        except NotAsked as exc:
            result = CheckResult("error", exc.reason, None, exc.again_in, SKIPPED)
        except Exception as exc:  # a bug: logged, and the URL checked again as after an error
            logging.getLogger("archiver").exception("checking %s crashed", target.url)
            reason = f"internal error: {type(exc).__name__}"
            result = CheckResult("error", reason, None, None, CRASHED)
        if result.unreachable:  # the host asked: an oEmbed endpoint's, an API's
            self.gate.went_silent(host_of(result.asked or target.url))
        if result.retry_after and result.probe != SKIPPED:  # the host that said so
            self.limiter.defer(result.asked or target.url, min(result.retry_after, MAX_HOST_PAUSE))
        self._results.put((target, result))
        return result

    def flush(self) -> None:
        """Wait until every result handed to the writer is committed."""
        self._results.join()

    def _write_loop(self) -> None:
        """One writer, many results per transaction: on SQLite every transaction holds
        the single write lock, so one per check would make the lock the bottleneck."""
        while True:
            batch = [self._results.get()]
            deadline = time.monotonic() + 0.1
            while len(batch) < 200 and (left := deadline - time.monotonic()) > 0:
                try:
                    batch.append(self._results.get(timeout=left))
                except queue.Empty:
                    break
            try:
                self.record(batch)
            except ArchiveUnavailable as exc:  # disk full, database away: checked again later
                NOT_RECORDED(results=len(batch), reason=str(exc))
            except Exception:
                logging.getLogger("archiver").exception("recording liveness results failed")
            finally:
                for _ in batch:
                    self._results.task_done()

    def record(self, batch: list[tuple[Target, CheckResult]]) -> None:
        """Record a batch of results in one transaction. A result that cannot be
        recorded (a bug, a value the database refuses) is logged and checked again
        later, and costs the others nothing: when the batch fails as a whole, each
        result is recorded again in a savepoint of its own."""
        now = utcnow()
        with logged_session(self.archive) as session:
            # The batch's rows in one query, held here: the session keeps loaded rows
            # only while they are referenced, and `_apply` finds them in it by id.
            # Locked (PostgreSQL; SQLite writes one at a time) in one order: the daemon
            # and an `archiver check` recording the same URL's turn to gone would both
            # read it live, and record and notify the death twice.
            ids = [target.check_id for target, _ in batch]
            rows = session.scalars(
                select(LinkCheck)
                .where(LinkCheck.id.in_(ids))
                .order_by(LinkCheck.id)
                .with_for_update()
            ).all()
            try:
                changed: list[tuple[LinkCheck, str | None]] = []
                with session.begin_nested():  # the common case: one flush for the batch
                    events = [
                        event
                        for target, result in batch
                        for event in self._apply(session, target, result, now, changed)
                    ]
            except Exception as exc:
                if isinstance(exc, OperationalError) and is_unavailable(exc):
                    raise  # the database itself failed, not a result: the batch waits
                events, changed = self._record_one_by_one(session, batch, now)
            del rows
            if events and self.notifier.enabled:  # owed with the changes they tell of
                events = outbox.owe(session, events, now)
            live = {target.url for target, result in batch if result.status == "live"}
            retried = retry_returned(session, live, now)
            record_liveness(session, changed, at=now)
        for url in retried:
            log_event("capture.retry", url=url, reason="gone at capture, live again")
        for event in events:
            log_event(
                "liveness.dead",
                logging.WARNING,
                url=event.embed_url,
                page=event.page_url,
                status=event.status,
                reason=event.reason,
                archived=len(event.archived_sha256),
            )
            self.notifier.notify(event)

    def _record_one_by_one(
        self, session: Session, batch: list[tuple[Target, CheckResult]], now: datetime
    ) -> tuple[list[LivenessEvent], list[tuple[LinkCheck, str | None]]]:
        """Each result in its own savepoint, so the one that fails is found and left out."""
        events: list[LivenessEvent] = []
        changed: list[tuple[LinkCheck, str | None]] = []
        for target, result in batch:
            mark = len(changed)
            try:
                with session.begin_nested():
                    found = self._apply(session, target, result, now, changed)
            except Exception as exc:
                if isinstance(exc, OperationalError) and is_unavailable(exc):
                    raise
                del changed[mark:]
                logging.getLogger("archiver").exception(
                    "recording the check of %s failed", target.url
                )
                continue
            events += found
        return events, changed

    def _apply(
        self,
        session: Session,
        target: Target,
        result: CheckResult,
        now: datetime,
        changed: list[tuple[LinkCheck, str | None]],
    ) -> list[LivenessEvent]:
        """Update one check row; a change of status becomes an event in its history."""
        check = session.get(LinkCheck, target.check_id)
        if check is None:
            return []
        if result.probe == SKIPPED:
            # nothing was learnt of the URL (its host hung moments ago): its status and
            # history stay as they were (an "error" for each embed of a CDN that hung
            # once made them all flip and fill the history); due again after the pause
            pause = result.retry_after or UNREACHABLE_PAUSE
            check.next_check_at = now + timedelta(seconds=pause)
            return []
        previous = check.status
        # an error says nothing of the URL: what it was before the errors still stands
        settled = (
            session.scalar(select(settled_status(check.id))) if previous == "error" else previous
        )
        check.status, check.reason = result.status, result.reason
        check.http_status, check.probe, check.checked_at = result.http_status, result.probe, now
        check.consecutive_errors = check.consecutive_errors + 1 if result.status == "error" else 0
        if result.status in DEAD and settled not in DEAD:
            check.first_seen_dead_at = now
        if result.status == "live" and settled in DEAD:
            check.came_back_at = now
        uncaptured_for = None
        if result.status == "gone" and gone_at_capture(session, check.url):
            uncaptured_for = now - (check.first_seen_dead_at or now)
        check.next_check_at = next_check(
            self.settings,
            result.status,
            check.consecutive_errors,
            now,
            result.retry_after,
            uncaptured_for,
        )
        if previous == result.status:
            return []
        changed.append((check, previous))
        session.add(
            LinkCheckEvent(
                check_id=check.id,
                at=now,
                previous_status=previous,
                status=result.status,
                reason=result.reason,
                http_status=result.http_status,
            )
        )
        if result.status not in DEAD or settled == result.status:
            return []  # a dead URL that answered an error once is not dead anew
        return self._events(session, check, settled, now)

    def _events(
        self, session: Session, check: LinkCheck, previous: str | None, now: datetime
    ) -> list[LivenessEvent]:
        """One event per page that still embeds the URL (or one for the page itself).

        A page an editor took the embed off (``removed_at``) is told nothing: its dead
        embed was already replaced."""
        # one query: the pages of thousands of embeds loaded one by one held the write
        # transaction (and every capture) for seconds
        found = session.execute(
            select(Embed.url, Page.url, Embed.update_label, Embed.kind, Embed.removed_at)
            .outerjoin(Page, Embed.page_id == Page.id)
            .where(Embed.url == check.url)
            .order_by(Embed.id)
        ).all()
        embeds = [row[:4] for row in found if row.removed_at is None]
        if found and not embeds:
            return []  # every page that carried it took it off
        copies = [
            media.sha256 for media in archived_copies(session, {check.url}).get(check.url, ())
        ]
        where = [(url, page_url, update, copies) for url, page_url, update, _ in embeds] or [
            (check.url, check.url, None, [])
        ]
        posts = {url for url, *_, kind in embeds if kind == "platform"}  # not a page's versions
        kept = kept_posts(session, self.archive.layout, posts).get(check.url)
        return [
            LivenessEvent(
                embed_url=url,
                page_url=page_url,
                update=update,
                status=cast(Status, check.status),
                previous_status=cast(Status | None, previous),
                reason=check.reason or "",
                http_status=check.http_status,
                checked_at=now,
                archived_sha256=archived,
                kept_post_sha256=kept.sha256 if kept else None,
            )
            for url, page_url, update, archived in where
        ]
