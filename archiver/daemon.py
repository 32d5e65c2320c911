"""``archiver run``: sources polled on schedule, the durable queue drained, clean shutdown.

APScheduler (3.x) drives the periodic work; the work itself lives in the database
(``capture_jobs``, ``sources``), so a crash or ``kill -9`` loses nothing: on restart
interrupted jobs are taken up again and scratch files are removed.

Shutdown (SIGTERM/SIGINT): stop taking work, let in-flight downloads finish within
``daemon.shutdown_grace``, then abort the rest (temp files removed, jobs back to
pending) and exit 0.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any

from archiver import jobs
from archiver.archive import Archive
from archiver.capture import Capturer
from archiver.clock import ClockWatch, due_now, recorded_ahead
from archiver.errors import ArchiverError, ArchiveUnavailable, ConfigError, Interrupted
from archiver.fetch.http import HttpFetcher
from archiver.fetch.limits import host_of
from archiver.index.debts import last_debt
from archiver.index.models import utcnow
from archiver.integrity.eventlog import FLUSH_FAILED, flush_log
from archiver.integrity.fixity import run_due_slice
from archiver.jobs import retry_for_new_ytdlp
from archiver.liveness.service import PER_HOST_IN_FLIGHT, LivenessChecker, Target, TargetSync
from archiver.liveness.service import claim_due as claim_due_checks
from archiver.liveness.service import release as release_checks
from archiver.logs import ThrottledEvent, log_event
from archiver.notify import Notifier
from archiver.sources.poll import Poller, claim_due_sources, free_exited_claims
from archiver.sources.registry import sync_config_sources
from archiver.status import queue_counts

if TYPE_CHECKING:
    from archiver.web.server import Background

LOCK_NAME = "daemon.lock"
OWED_EVERY = 10.0  # seconds between two sendings of the webhook events still owed
#: Seconds between two looks, while running, for sources a dead process beside this
#: one (another daemon on the same host and database) held (`free_exited_claims`).
EXITED_CLAIMS_EVERY = 60.0
#: The first fixity turn comes this many ticks after the start (a minute by default),
#: not an hour: a daemon restarted more often than hourly never checked the archive.
#: The turn checks only the slice due, so one that ran today is not run again.
FIXITY_FIRST_TICKS = 60


class AlreadyRunning(ArchiverError):
    """Another daemon holds this SQLite archive."""


@contextlib.contextmanager
def archive_lock(root: Path) -> Iterator[IO[str]]:
    """One daemon per SQLite archive: an exclusive lock on ``<root>/daemon.lock``.

    The kernel drops the lock when the process dies, even by ``kill -9``.
    """
    path = root / LOCK_NAME
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise AlreadyRunning(
            f"another archiver daemon ({holder}) is already running on {root}; "
            "SQLite archives take one daemon (use PostgreSQL to run several)"
        ) from None
    # Who holds it, for the message above; only a courtesy, so a full disk that
    # cannot take these bytes does not stop the daemon (the lock is what counts).
    with contextlib.suppress(OSError):
        os.ftruncate(handle.fileno(), 0)
        os.pwrite(handle.fileno(), f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
    try:
        yield handle
    finally:
        handle.close()


class Daemon:
    def __init__(self, archive: Archive) -> None:
        config = archive.config
        self.archive = archive
        self.config = config
        self.capturer = Capturer(archive)
        self.poll_http = HttpFetcher(
            config.network,
            config.polling.per_host_concurrency,
            archive.stop,
            config.polling.per_host_delay,
        )
        self.poller = Poller(self.capturer, config.polling, self.poll_http)
        self.workers = ThreadPoolExecutor(config.download.concurrency, "job")
        self.pollers = ThreadPoolExecutor(config.polling.concurrency, "poll")
        self.inflight: dict[int, Future[None]] = {}
        self.inflight_hosts: dict[int, str] = {}  # each job in flight: its URL's host
        self.alone: int | None = None  # a job in flight that runs with none beside it
        self.polling: dict[Future[object], int] = {}  # each poll running, and its source
        self.lock = threading.Lock()
        self.accepting = True
        self.stop_requested = threading.Event()
        self.polled_once: set[int] | None = None  # `run --once`: the sources it polled
        self.notifier = Notifier.from_environment()
        self.checker = LivenessChecker.open(archive) if config.liveness.enabled else None
        self.checking: dict[Future[object], str] = {}  # each check in flight: its URL's host
        self.target_sync = TargetSync()  # new embeds given check rows once a minute
        self.owed_sent_at = -OWED_EVERY  # monotonic: when owed webhook events were last sent
        self.lease = timedelta(seconds=config.daemon.lease)
        self.settled_at = -self.lease.total_seconds()  # monotonic: placements last settled
        self.owed_through: int | None = None  # the newest sidecar debt at that look
        self.claims_freed_at = -EXITED_CLAIMS_EVERY  # monotonic: dead holders' claims last freed
        # every worker meets the same full disk: one line a minute
        self.unavailable = ThrottledEvent("archive.unavailable", logging.ERROR)
        self.sidecars_owed = ThrottledEvent("sidecar.owed")

    # ---- start-up ----------------------------------------------------------------------

    def prepare(self) -> None:
        """Clean up after an earlier crash and sync the config's sources."""
        removed = self.archive.layout.remove_stale_tmp()
        recovered = self._recover_jobs()
        freed = self._free_exited_claims(also=self.capturer.owner)
        try:
            flush_log(self.archive)  # entries committed just before a crash reach the file
        except (OSError, ArchiverError) as exc:  # the next entry's flush tries again
            FLUSH_FAILED(reason=str(exc))
        with self.archive.session() as session:
            sync_config_sources(session, self.config.sources, self.config.polling.default_every)
        retried = self._retry_for_new_ytdlp()
        with self.archive.read_session() as session:
            ahead = recorded_ahead(session, utcnow())
        if ahead is not None:  # written by a clock that ran ahead, since set back
            self._catch_up(ahead.total_seconds())
        placed, owed = Capturer(self.archive).recover()
        self.settled_at = time.monotonic()
        log_event(
            "daemon.start",
            pid=os.getpid(),
            root=str(self.archive.layout.root),
            recovered_jobs=recovered or None,
            recovered_sources=freed or None,
            removed_scratch=len(removed) or None,
            retried_for_ytdlp=retried or None,
            indexed_placed_files=placed or None,
            rewritten_sidecars=owed or None,
        )

    def _retry_for_new_ytdlp(self) -> int:
        """After a yt-dlp upgrade (the usual cure when a platform breaks), what the old
        version gave up on is tried again (`jobs.retry_for_new_ytdlp`)."""
        version = self.archive.ytdlp.version
        if version == "unknown":
            return 0
        with self.archive.session() as session:
            return retry_for_new_ytdlp(session, version, utcnow())

    def _recover_jobs(self) -> int:
        """Jobs left running by a dead process of this host are taken up now, instead
        of when their lease expires; an attempt it ran alone counts (`jobs.abandon`).
        A live process's jobs (an ``archiver capture`` running beside the daemon) are
        left alone, on SQLite too."""
        with self.archive.session() as session:
            # our own id too: a restarted container's daemon is often pid 1 again
            return jobs.recover_exited(session, utcnow(), also=self.capturer.owner)

    def _free_exited_claims(self, also: str | None = None) -> int:
        """Sources a dead process of this host was polling are due now, not once their
        claims lapse (`free_exited_claims`); ``also``: our own id at a start (a
        restarted container's daemon is often pid 1 again)."""
        self.claims_freed_at = time.monotonic()
        with self.archive.session() as session:
            return free_exited_claims(session, utcnow(), also=also)

    # ---- periodic work -----------------------------------------------------------------

    def poll_due(self) -> int:
        """Poll every due source, refilling the poll pool as polls finish (not once per
        tick: polls take milliseconds); returns how many were started."""
        return _refill(self._poll_batch, lambda: set(self.polling), self)

    def _poll_batch(self) -> int | None:
        """Claim due sources for the free poll slots: the number started, or None when
        every slot is busy."""
        if not self.accepting or self.stop_requested.is_set():
            return 0
        with self.lock:
            self.polling = {f: s for f, s in self.polling.items() if not f.done()}
            room = self.config.polling.concurrency * 2 - len(self.polling)
            busy = set(self.polling.values()) | (self.polled_once or set())
        if room <= 0:
            return None
        self._free_siblings_claims()
        with self.archive.session() as session:
            due = claim_due_sources(session, utcnow(), room, busy, owner=self.capturer.owner)
        if self.polled_once is not None:  # each source once, though due again meanwhile
            self.polled_once.update(due)
        with self.lock:  # as in `_drain_batch`: nothing is submitted once shutdown began
            if self.accepting:
                for source_id in due:
                    self.polling[self.pollers.submit(self._poll, source_id)] = source_id
                return len(due)
        for source_id in due:  # claimed as the shutdown began: due again at the next start
            self.poller.release(source_id)
        return 0

    def _free_siblings_claims(self) -> None:
        """Between claims, every `EXITED_CLAIMS_EVERY` seconds: the sources a process
        that died beside this one was polling (another daemon of this host on the same
        PostgreSQL database) are due now, not once their claims lapse."""
        if time.monotonic() - self.claims_freed_at < EXITED_CLAIMS_EVERY:
            return
        if freed := self._free_exited_claims():
            log_event("daemon.claims_freed", recovered_sources=freed)

    def _poll(self, source_id: int) -> object:
        try:
            return self.poller.poll(source_id)
        except ArchiveUnavailable as exc:  # the claim stands: polled again when it lapses
            self.unavailable(reason=str(exc))
            return None
        except Exception:
            logging.getLogger("archiver").exception("poll crashed for source %s", source_id)
            return None

    def drain(self) -> int:
        """Run every due job, claiming more as workers free up; returns how many started."""
        return _refill(self._drain_batch, lambda: set(self.inflight.values()), self)

    def _drain_batch(self) -> int | None:
        """Claim due jobs for the free workers: the number started, or None when every
        worker is busy."""
        if not self.accepting:
            return 0
        self.settle_leftovers()
        with self.lock:
            self.inflight = {k: f for k, f in self.inflight.items() if not f.done()}
            self.inflight_hosts = {k: self.inflight_hosts[k] for k in self.inflight}
            room = self.config.download.concurrency - len(self.inflight)
            idle = not self.inflight
            if self.alone not in self.inflight:
                self.alone = None
            quota = jobs.HostQuota(
                self.config.download.per_host_concurrency, Counter(self.inflight_hosts.values())
            )
            held = set(self.inflight) | self.capturer.leases.held()
        if room <= 0 or self.alone is not None:  # a job running alone has every worker
            return None
        with self.archive.session() as session:
            taken = jobs.claim_due(
                session,
                self.capturer.owner,
                room,
                utcnow(),
                self.lease,
                idle=idle,
                quota=quota,
                held=held,
            )
            claimed = [(j.id, j.run_alone, host_of(j.url)) for j in taken]
        with self.lock:  # `shutdown` stops accepting under this lock: no job slips past it
            if self.accepting:
                for job_id, alone, host in claimed:
                    self.inflight[job_id] = self.workers.submit(self._run_job, job_id)
                    self.inflight_hosts[job_id] = host
                    if alone:
                        self.alone = job_id
                if not claimed and quota.held_back and self.inflight:
                    return None  # what is due waits for its host's jobs in flight
                return len(claimed)
        with self.archive.session() as session:  # claimed as the shutdown began
            for job_id, _, _ in claimed:
                jobs.release(jobs.locked(session, job_id), utcnow(), self.capturer.owner)
        return 0

    def settle_leftovers(self) -> None:
        """Between claims, every third of a lease: index the files a process that died
        beside this one (a killed ``archiver capture``) left placed, before its jobs'
        leases run out and they are taken over (`Capturer.settle_placements`). Only the
        next start did: the job, run again, said "gone" once the post was deleted, and
        the file stayed in media/ out of the index.

        Then rewrite the sidecars owed at the last look (`SidecarDebt`, up to the newest
        debt then: ids only grow): a writer pays its debts right after its commit, so
        one still owed a third of a lease on died before it could (the earlier member
        of a near-duplicate group kept a sidecar that knew no group until the daemon's
        next start). A rewrite beside a
        slow writer's is harmless: writers of a sidecar take turns, each writing the
        latest state."""
        if time.monotonic() - self.settled_at < self.lease.total_seconds() / 3:
            return
        self.settled_at = time.monotonic()
        placed = self.capturer.settle_placements()
        if placed:
            log_event("daemon.placements_settled", indexed_placed_files=placed)
        with self.archive.read_session() as session:
            latest = last_debt(session)
        through, self.owed_through = self.owed_through, latest
        if through is None:
            return
        failed: list[tuple[str, str]] = []
        rewritten = self.capturer.settle_sidecars(through, lambda *fault: failed.append(fault))
        if rewritten:
            log_event("daemon.sidecars_settled", rewritten_sidecars=rewritten)
        if failed:  # one line for them all (a full disk fails every one), once a minute
            self.sidecars_owed(still_owed=len(failed), key=failed[0][0], reason=failed[0][1])

    def _run_job(self, job_id: int) -> None:
        try:
            self.capturer.run_claimed(job_id)
        except ArchiveUnavailable as exc:  # its lease runs out: taken up again then
            self.unavailable(reason=str(exc))
            self.capturer.leases.drop(job_id)
        except Exception:
            # not an expected failure: keep the traceback, put the job back for a retry
            logging.getLogger("archiver").exception("job %s crashed", job_id)
            self.capturer.leases.drop(job_id)
            with contextlib.suppress(Exception), self.archive.session() as session:
                job = jobs.locked(session, job_id)
                jobs.finish(
                    job,
                    jobs.outcome_of_error(RuntimeError("internal error"), job.attempts, utcnow()),
                    utcnow(),
                    self.capturer.owner,
                )

    def check_links(self) -> int:
        """Liveness: run every due check, claiming more as checks end, as `drain` does
        (one claim a turn ran at most twice the workers' checks every ten seconds,
        however fast they were); returns how many started."""
        if self.checker is None:
            return 0
        return _refill(self._check_batch, lambda: set(self.checking), self)

    def _check_batch(self) -> int | None:
        """Claim due checks for the free places (twice the workers: one queued behind
        each): the number started, or None when every place is taken, or when what is
        due waits for its host's checks in flight (`PER_HOST_IN_FLIGHT`)."""
        checker = self.checker
        if checker is None or not self.accepting or self.stop_requested.is_set():
            return 0
        self._liveness_chores(checker)
        with self.lock:
            self.checking = {f: host for f, host in self.checking.items() if not f.done()}
            room = self.config.liveness.concurrency * 2 - len(self.checking)
            quota = jobs.HostQuota(PER_HOST_IN_FLIGHT, Counter(self.checking.values()))
        if room <= 0:
            return None
        with self.archive.session() as session:
            due = claim_due_checks(session, utcnow(), room, quota)
        with self.lock:  # as in `_drain_batch`: nothing is submitted once shutdown began
            if self.accepting:
                for target in due:
                    future: Future[object] = checker.pool.submit(checker.check, target)
                    future.add_done_callback(_report_crash(target))
                    self.checking[future] = host_of(target.url)
                if not due and quota.held_back and self.checking:
                    return None
                return len(due)
        with self.archive.session() as session:
            release_checks(session, due, utcnow())
        return 0

    def _liveness_chores(self, checker: LivenessChecker) -> None:
        """Between claims: new embeds given a check row (`TargetSync` looks once a
        minute), and the webhook events a receiver was down for sent again, every
        `OWED_EVERY` seconds (a turn can run for hours through a backlog)."""
        self.target_sync.run(self.archive, utcnow())
        if time.monotonic() - self.owed_sent_at >= OWED_EVERY:
            self.owed_sent_at = time.monotonic()
            checker.send_owed()

    def fixity(self) -> None:
        """Re-hash today's slice of the archive (each file once per ``fixity.every``)."""
        if not self.config.fixity.enabled or not self.accepting:
            return
        try:
            report = run_due_slice(self.archive, self.config.fixity.every, self.stop_requested)
        except Interrupted:
            return
        if report is None:
            return
        log_event(
            "fixity.done",
            logging.INFO if report.ok else logging.WARNING,
            scope=report.scope,
            ok=report.ok,
            bytes=report.bytes_hashed,
            seconds=round(report.seconds, 1),
            **{k: n for k, n in report.counts.items() if n},
        )

    def timestamp(self) -> None:
        """Have the configured authority sign the log head, when it grew and is due."""
        from archiver.integrity.timestamp import timestamp_due, timestamp_head

        settings = self.config.timestamp
        if not self.accepting or not timestamp_due(self.archive, settings.every):
            return
        try:
            token = timestamp_head(self.archive, settings.tsa_url, timeout=settings.timeout)
        except ArchiverError as exc:
            log_event("timestamp.failed", logging.WARNING, reason=str(exc))
            return
        log_event("timestamp.done", seq=token.seq, gen_time=token.gen_time.isoformat())

    def heartbeat(self) -> None:
        self.notifier.watchdog()
        with self.lock:
            busy = sum(not f.done() for f in self.inflight.values())
        self.notifier.status(f"{busy} capture(s) running")

    def progress(self) -> None:
        """On a terminal: a line every few seconds with the queue at a glance."""
        with self.archive.session() as session:
            counts = queue_counts(session)
        with self.lock:
            busy = sum(not f.done() for f in self.inflight.values())
        log_event("daemon.progress", downloading=busy, **counts)

    # ---- modes -------------------------------------------------------------------------

    def run_once(self) -> None:
        """Poll every due source once, drain the queue, wait for it all, return; a
        stop (SIGTERM, Ctrl-C) ends it as it ends the daemon. Sources due again while
        others were polled (polls slower than their interval) polled round and round."""
        self.prepare()
        self.polled_once = set()
        while not self.stop_requested.is_set() and self.poll_due():
            self._wait_polls()
        self._wait_polls()
        while not self.stop_requested.is_set():
            with self.lock:  # a claim made while busy may leave a job that runs alone
                was_busy = any(not f.done() for f in self.inflight.values())
            started = self.drain()
            with self.lock:
                pending = [f for f in self.inflight.values() if not f.done()]
            if not started and not pending and not was_busy:
                break
            if pending:
                wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
        while not self.stop_requested.is_set() and self.check_links():
            with self.lock:
                checks = list(self.checking)
            wait(checks)
        self.shutdown()

    def _wait_polls(self) -> None:
        """Until the polls end, or a stop is asked for (the shutdown cuts them short)."""
        while not self.stop_requested.is_set():
            with self.lock:
                polls = [f for f in self.polling if not f.done()]
            if not polls:
                return
            wait(polls, timeout=0.5, return_when=FIRST_COMPLETED)

    def run_forever(self) -> None:
        self.prepare()
        tick = self.config.daemon.tick
        # Imported here, as the time-stamp code is below: `run --once` needs neither.
        from apscheduler.schedulers.background import BackgroundScheduler

        scheduler = BackgroundScheduler(timezone=UTC)
        # a periodic job still busy refilling simply skips a turn: not worth a log line
        logging.getLogger("apscheduler").setLevel(logging.ERROR)

        def every(seconds: float, work: Callable[[], object], name: str, **extra: Any) -> None:
            # one turn at a time; a turn still busy makes the next one skip; a turn
            # due while the process stalled runs late, once (APScheduler drops one
            # over a second late: a dropped watchdog ping left systemd a whole
            # interval without one, WatchdogSec, and it killed the service)
            scheduler.add_job(
                self._guarded(work),
                "interval",
                seconds=seconds,
                id=name,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
                **extra,
            )

        now = datetime.now(UTC)
        every(tick, self.poll_due, "poll", next_run_time=now)
        every(tick, self.drain, "drain", next_run_time=now)
        if self.checker is not None:
            every(max(tick, 10.0), self.check_links, "liveness")
        first = now + timedelta(seconds=FIXITY_FIRST_TICKS * tick)
        every(3600, self.fixity, "fixity", jitter=600, next_run_time=first)
        if self.config.timestamp.tsa_url:
            every(3600, self.timestamp, "timestamp", jitter=600)
        if sys.stderr.isatty():
            every(5, self.progress, "progress")
        interval = self.notifier.watchdog_interval()
        if interval:
            every(interval, self.heartbeat, "watchdog")
        clock = ClockWatch()  # before the turns are first timed by the wall clock
        web = self._start_web()
        scheduler.start()
        self.notifier.ready("polling sources and draining the capture queue")
        log_event("daemon.ready")
        try:
            while not self.stop_requested.wait(timeout=5.0):
                if back := clock.set_back():
                    self._catch_up(back)  # the schedules first, then the turns that read them
                    # the scheduler's turns follow the wall clock: each would wait it out
                    for job in scheduler.get_jobs():
                        job.modify(next_run_time=datetime.now(UTC))
        finally:
            # Periodic work still running submits nothing more, and is not waited for
            # here: the fixity check and polls stop on the stop event, and the grace
            # period below must start now to end within systemd's TimeoutStopSec.
            with self.lock:
                self.accepting = False
            scheduler.shutdown(wait=False)
            if web is not None:
                web.stop()
            self.shutdown()

    def _catch_up(self, seconds: float) -> None:
        """The clock was set back ``seconds``: what was scheduled meanwhile is due now."""
        with self.archive.session() as session:
            moved = due_now(session, utcnow())
        log_event(
            "daemon.clock_set_back",
            logging.WARNING,
            seconds=round(seconds),
            made_due=moved,
            reason="the clock was set back: what was scheduled meanwhile is due now",
        )

    def _guarded(self, work: Callable[[], object]) -> Callable[[], None]:
        """Periodic work that reports an unavailable archive (disk full, database gone)
        in one line instead of a traceback per tick; it runs again at its next turn."""

        def run() -> None:
            try:
                work()
            except ArchiveUnavailable as exc:
                self.unavailable(reason=str(exc))

        return run

    def _start_web(self) -> Background | None:
        """Serve the web app beside the daemon ([web] enabled); archiving goes on
        without it when it cannot start (say, the port is taken)."""
        if not self.config.web.enabled:
            return None
        from archiver.web.server import start_background

        try:
            return start_background(self.archive)
        except ConfigError:
            raise  # an unsafe address is a configuration error: refuse to run
        except ArchiverError as exc:
            log_event("web.failed", logging.ERROR, reason=str(exc))
            return None

    def hang_up(self, signum: int, _frame: FrameType | None = None) -> None:
        """SIGHUP, which asks a daemon to reload, is answered with a warning: it has
        nothing to reload (sources are synced at start). Left to its default it ended
        the process as a crash does, and systemd, counting SIGHUP a clean exit, left
        the service down."""
        log_event(
            "daemon.signal",
            logging.WARNING,
            signal=signal.Signals(signum).name,
            reason="ignored: nothing is reloaded; restart the service to apply a changed config",
        )

    def request_stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        if signum is not None:
            log_event("daemon.signal", signal=signal.Signals(signum).name)
        self.stop_requested.set()

    def shutdown(self) -> None:
        """Stop taking work; give in-flight work the grace period; abort the rest."""
        with self.lock:
            self.accepting = False
        self.notifier.stopping("finishing in-flight captures")
        grace = self.config.daemon.shutdown_grace
        if self.checker is not None:  # checks waiting for a turn end now, unasked
            self.checker.stop()
        with self.lock:
            running = [f for f in self.inflight.values() if not f.done()]
            polls = [f for f in {*self.polling, *self.checking} if not f.done()]
        if running or polls:
            log_event("daemon.stopping", in_flight=len(running), grace_seconds=grace)
        everything: list[Future[Any]] = [*running, *polls]
        _, unfinished = wait(everything, timeout=grace)
        if unfinished:
            self.archive.stop.set()  # transfers raise Interrupted; their jobs go back to pending
            wait(unfinished, timeout=30)
        self.workers.shutdown(wait=True, cancel_futures=True)
        self.pollers.shutdown(wait=True, cancel_futures=True)
        self.poll_http.close()
        if self.checker is not None:
            self.checker.close()
        with self.archive.session() as session:
            counts = queue_counts(session)
        log_event("daemon.stopped", aborted=len(unfinished) or None, **counts)


def _report_crash(target: Target) -> Callable[[Future[object]], None]:
    """A done-callback for a check's future: an exception it raised is logged, with
    its traceback (it was lost, and the check claimed again every ten minutes)."""

    def report(future: Future[object]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            logging.getLogger("archiver").error(
                "check of %s crashed", target.url, exc_info=(type(exc), exc, exc.__traceback__)
            )

    return report


def _refill(
    batch: Callable[[], int | None], running: Callable[[], set[Future[Any]]], daemon: Daemon
) -> int:
    """Call ``batch`` until nothing is due, waiting for a slot whenever all are busy."""
    started = 0
    while daemon.accepting:
        count = batch()
        if count == 0:
            break
        started += count or 0
        with daemon.lock:
            busy = [f for f in running() if not f.done()]
        if count is None and busy:
            wait(busy, timeout=1.0, return_when=FIRST_COMPLETED)
    return started


def run_daemon(archive: Archive, *, once: bool) -> None:
    """The body of ``archiver run``: lock (SQLite), signals, then run."""
    sqlite = archive.engine.dialect.name == "sqlite"
    with archive_lock(archive.layout.root) if sqlite else contextlib.nullcontext():
        daemon = Daemon(archive)
        signal.signal(signal.SIGTERM, daemon.request_stop)
        signal.signal(signal.SIGINT, daemon.request_stop)
        signal.signal(signal.SIGHUP, daemon.hang_up)
        started = time.monotonic()
        if once:
            daemon.run_once()
        else:
            daemon.run_forever()
        log_event("daemon.exit", seconds=round(time.monotonic() - started, 1))
    sys.stderr.flush()
