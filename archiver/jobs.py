"""The durable capture queue: job states, leases and retry backoff, all in the index.

A job is one URL to capture: an embed found on a page, or a page/URL given
directly (``embed_id`` is null). States:

- ``pending``: waiting to run;
- ``running``: leased by a worker until ``lease_expires_at``; an expired lease
  means the worker died, and the job may be taken again (unless its worker is a
  process of this host that still runs: suspended with the machine, say);
- ``done``: stored; ``skipped``: fetched but not evidence (an icon-sized image);
- ``failed``: the last attempt failed (``last_error``); retried at
  ``next_attempt_at`` with exponential backoff, not retried when that is null
  (until the daemon starts with another yt-dlp than the one that gave the error:
  `retry_for_new_ytdlp`);
- ``gone``: the server or platform says the media no longer exists (404, 410,
  "video unavailable"; a page the queue captures by its URL, after a few attempts:
  `GONE_PAGE_ATTEMPTS`); when a liveness check later finds the URL live, the job is
  pending again (`retry_returned`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, func, select, union_all, update
from sqlalchemy.orm import Session

from archiver.errors import ArchiveUnavailable, FetchError
from archiver.extract.urls import signed_only, url_spellings
from archiver.fetch.limits import host_of
from archiver.index.models import CaptureJob, Embed, JobState, Sighting, utcnow
from archiver.index.records import get_or_create
from archiver.workers import Renewer, on_this_host, worker_exited

MAX_ATTEMPTS = 16  # with the backoff below: retried for about five and a half days
BASE_DELAY = timedelta(minutes=1)
MAX_DELAY = timedelta(hours=24)
LEASE = timedelta(minutes=10)
UNAVAILABLE_DELAY = timedelta(minutes=5)  # retry time after "disk full" and the like
# a page the queue captures by its URL (a feed entry's link) that answers 404 or 410 is
# fetched this often, with the backoff (about two hours), before it is recorded gone:
# a feed often goes out before its page is up, and a page embedding nothing has no
# liveness check to notice it later
GONE_PAGE_ATTEMPTS = 8
# due jobs looked through past the claim's size for ones whose host has room
HOST_QUOTA_WINDOW = 200
WINDOW_BATCH = 16  # rows of that window read at a time


CLAIMABLE = (JobState.PENDING, JobState.FAILED, JobState.RUNNING)


def backoff(attempts: int) -> timedelta:
    """1 min, 2 min, 4 min ... capped at a day: a failure is retried quickly at first,
    and for days in all (`MAX_ATTEMPTS`), so that an outage of the source's host, or
    of archiver's own network, over a night or a weekend does not cost the evidence."""
    delay: timedelta = BASE_DELAY * (2 ** max(attempts - 1, 0))
    return min(delay, MAX_DELAY)


@dataclass(frozen=True)
class Outcome:
    state: JobState
    error: str | None = None
    retry_at: datetime | None = None
    counted: bool = True  # False: the attempt does not count towards MAX_ATTEMPTS
    ytdlp_version: str | None = None  # the yt-dlp that gave the error, when one did


def outcome_of_error(
    error: FetchError | Exception, attempts: int, now: datetime, *, page: bool = False
) -> Outcome:
    """Classify a failed attempt: gone for good, retry later, or give up.

    A ``page`` the queue captures by its URL is gone only after `GONE_PAGE_ATTEMPTS`
    attempts said so; before, it is retried with the backoff.

    The retry waits the backoff, or as long as the server's ``Retry-After`` asked
    (up to `MAX_DELAY`) when that is longer. When the archive itself could not take
    the work (disk full, database unreachable) the job is retried after
    `UNAVAILABLE_DELAY` and the attempt is not counted.
    """
    message = str(error) or type(error).__name__
    if isinstance(error, ArchiveUnavailable):  # the archive's fault, not the item's
        return Outcome(JobState.FAILED, message, now + UNAVAILABLE_DELAY, counted=False)
    if isinstance(error, FetchError):
        if error.gone and page and attempts < GONE_PAGE_ATTEMPTS:  # not up yet, perhaps
            return Outcome(JobState.FAILED, message, now + backoff(attempts))
        if error.gone:
            return Outcome(JobState.GONE, message)
        if not error.retryable:
            return Outcome(JobState.FAILED, message)
    if attempts >= MAX_ATTEMPTS:
        return Outcome(JobState.FAILED, f"{message} (gave up after {attempts} attempts)")
    delay = backoff(attempts)
    if isinstance(error, FetchError) and error.retry_after:  # the server said when (429, 503)
        delay = max(delay, timedelta(seconds=min(error.retry_after, MAX_DELAY.total_seconds())))
    return Outcome(JobState.FAILED, message, now + delay)


@dataclass
class HostQuota:
    """At most ``per_host`` jobs of one host in flight: a worker that takes a job whose
    host has no free slot only waits for it, while other hosts' jobs wait behind it.

    ``running`` counts the jobs in flight by host; `claim_due` adds what it claims and
    counts in ``held_back`` the due jobs it passed over for a full host.
    """

    per_host: int
    running: Counter[str] = field(default_factory=Counter)
    held_back: int = 0

    def take(self, url: str) -> bool:
        host = host_of(url)
        if self.running[host] >= self.per_host:
            self.held_back += 1
            return False
        self.running[host] += 1
        return True


def claim_due(
    session: Session,
    owner: str,
    limit: int,
    now: datetime,
    lease: timedelta = LEASE,
    *,
    idle: bool = True,
    quota: HostQuota | None = None,
    held: Collection[int] = (),
) -> list[CaptureJob]:
    """Atomically take up to ``limit`` due jobs, soonest due first: pending ones, failed
    ones whose retry time has come, and running ones whose lease expired (their worker
    died).

    On PostgreSQL the rows are locked with ``FOR UPDATE SKIP LOCKED`` so daemons on
    several hosts never take the same job; SQLite transactions here begin with
    ``BEGIN IMMEDIATE``, which serializes claims on one archive. A job whose worker
    died during its last allowed attempt is given up instead (see `abandon`).

    A job marked ``run_alone`` waits its turn like any other, and no job due after it
    is taken before it: a worker running nothing (``idle``) takes it as the whole
    claim, a busy one takes nothing more until it has emptied. Its runner must take no
    other job while it runs.

    A job ``owner`` has in flight (``held``: its ids) is never taken again, however its
    lease looks: a clock stepped forward past the lease (a suspended machine resumed)
    made the daemon give up its own downloads in flight, and download them again. One
    of ``owner``'s that is not in flight any more, its outcome never recorded (the
    database was away as it ended), is put back uncounted and taken again when its
    lease runs out, as a dead worker's would be. Nor is a job whose lease ran out taken
    from another process of this host that still runs it (an ``archiver capture``,
    suspended with the machine): it was downloaded twice at once (`worker_exited`).

    A dead worker's job that ran alone is charged for the death and waits the backoff
    (`abandon`): it is not taken in the claim that found it so (it ran again at once).

    With a ``quota``, a job whose host already has its share in flight is left due,
    and a later one of another host is taken instead (up to `HOST_QUOTA_WINDOW` jobs
    further down the queue).
    """
    # a running job's next_attempt_at is its lease expiry: one condition, one index
    due = and_(CaptureJob.state.in_(CLAIMABLE), CaptureJob.next_attempt_at <= now)
    window = limit if quota is None else limit + HOST_QUOTA_WINDOW
    # the window is read as (id, url) a few rows at a time (a server-side cursor on
    # PostgreSQL, which locks a row as it is read): the rows passed over for a full
    # host are not loaded as objects, and rows past the last one needed not read
    # (nor locked; those read are, until the commit)
    query = select(
        CaptureJob.id,
        CaptureJob.url,
        CaptureJob.state,
        CaptureJob.lease_owner,
        CaptureJob.updated_at,
    ).where(due)
    query = query.order_by(CaptureJob.next_attempt_at).limit(window)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    wanted: list[int] = []
    with session.execute(query.execution_options(yield_per=WINDOW_BATCH)) as rows:
        for job_id, url, state, holder, taken_at in rows:
            if len(wanted) == limit:
                break
            if holder == owner and job_id in held:  # its lease run out: clock stepped on
                continue
            if state == JobState.RUNNING and _still_held(holder, owner, taken_at):
                continue
            if quota is None or quota.take(url):
                wanted.append(job_id)
    loaded = select(CaptureJob).where(CaptureJob.id.in_(wanted))
    by_id = {job.id: job for job in session.scalars(loaded)} if wanted else {}
    claimed: list[CaptureJob] = []
    for job in (by_id[job_id] for job_id in wanted):
        if job.state == JobState.RUNNING and job.lease_owner == owner:
            release(job, now, owner)  # ended, its outcome never recorded
        elif job.state == JobState.RUNNING:
            abandon(job, now)
            if job.state != JobState.PENDING or _not_due(job, now):
                continue  # given up, or it waits the backoff of a death charged to it
        if job.run_alone:
            if not claimed and idle:
                start(job, owner, now, lease, alone=True)
                return [job]
            break  # what runs now finishes first; then it runs alone
        start(job, owner, now, lease)
        claimed.append(job)
    return claimed


def _still_held(holder: str | None, owner: str, taken_at: datetime) -> bool:
    """Whether a running job's lease, run out, is held by another process of this host
    that still runs (and took it: `worker_exited`)."""
    if holder is None or holder == owner or not on_this_host(holder):
        return False
    return not worker_exited(holder, since=taken_at)


def _not_due(job: CaptureJob, now: datetime) -> bool:
    return job.next_attempt_at is not None and job.next_attempt_at > now


def locked(session: Session, job_id: int) -> CaptureJob:
    """A job's row; on PostgreSQL locked against other daemons until the commit."""
    query = select(CaptureJob).where(CaptureJob.id == job_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.scalars(query).one()


def respell_unarchived(
    session: Session, embed_id: int, url: str, spelling: str, now: datetime
) -> None:
    """Give the embed of canonical address ``url``, nothing archived through it yet,
    the page's newest spelling of it (``original_url``), which its job fetches first
    when the canonical address lacks only its cache-buster or signature
    (`respelled_only`): a retry asks with the signature the page gives now, not an
    expired one. A job that ended on an old signature (refused once it expired) runs
    again under a new one once its backoff is over, its attempts still counted (a
    file deleted, on a page that signs anew at every poll, is not fetched at every
    poll); a new cache-buster does not change what the server holds, and runs nothing.

    Not once a sighting holds the spelling it was made under, nor while the job runs,
    is held back by a capture or is locked by another (a download under way may record
    its sighting under the spelling it had: the file's sidecar would disagree with the
    index): the next version that spells it anew tries again. The job's row is not waited
    for: a poll locking the rows of its page's jobs in the page's order would deadlock
    with a lease renewal locking them in another.
    """
    archived = select(Sighting.id).where(Sighting.embed_id == embed_id).limit(1)
    if session.scalar(archived) is not None:
        return
    query = select(CaptureJob).where(CaptureJob.embed_id == embed_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    job = session.scalars(query).one_or_none()
    if job is not None and (job.state == JobState.RUNNING or job.lease_owner is not None):
        return
    if session.scalar(archived) is not None:  # recorded before the lock was taken
        return
    session.execute(update(Embed).where(Embed.id == embed_id).values(original_url=spelling))
    if job is None:
        return
    ended = job.state == JobState.GONE or (
        job.state == JobState.FAILED and job.next_attempt_at is None
    )
    if ended and job.attempts < MAX_ATTEMPTS and signed_only(spelling, url):
        job.state = JobState.PENDING  # its last error kept: the editors' report says it
        job.next_attempt_at = max(now, job.updated_at + backoff(job.attempts))
        job.updated_at = now


def mark_changed(session: Session, urls: Collection[str], now: datetime) -> set[str]:
    """Tell the running capture jobs of these pages that the page changed (its feed
    entry did) since they fetched it: `finish` leaves such a job pending, for a capture
    of the new version. Returns the URLs whose job still runs unmarked, for the caller
    to see the change again later: one locked by another at that moment (a renewal, a
    capture recording its end) is not waited for: a poll waiting on a job's row
    deadlocked with a lease renewal (see `respell_unarchived`).

    Call before requeueing the pages' ended jobs: a job ending meanwhile is then
    marked, returned, or found ended by that requeue.
    """
    if not urls:
        return set()
    page_jobs = and_(CaptureJob.embed_id.is_(None), CaptureJob.url.in_(urls))
    running = select(CaptureJob.id).where(page_jobs, CaptureJob.state == JobState.RUNNING)
    if session.get_bind().dialect.name == "postgresql":
        running = running.with_for_update(skip_locked=True)
    marked = set(
        session.scalars(
            update(CaptureJob)
            .where(CaptureJob.id.in_(running))
            .values(page_changed_at=now)
            .returning(CaptureJob.url)
            .execution_options(synchronize_session=False)
        )
    )
    still = select(CaptureJob.url).where(page_jobs, CaptureJob.state == JobState.RUNNING)
    return set(session.scalars(still)) - marked


def claim(job: CaptureJob, owner: str, now: datetime, lease: timedelta) -> bool:
    """Take a `locked` job now (a person asked for it), unless a live worker holds it.

    A lease held by a process of this host that has exited (a capture killed, or one
    that could not record its outcome on a full disk) does not make a person wait
    for it to run out.
    """
    leased = job.state == JobState.RUNNING and job.lease_expires_at and job.lease_expires_at > now
    if leased and not worker_exited(job.lease_owner, since=job.updated_at):
        return False
    if job.state == JobState.RUNNING:  # its worker died: that attempt is settled first
        abandon(job, now)
    start(job, owner, now, lease)  # a person asked: run now, beside the page's other jobs
    return True


def requeue(job: CaptureJob, now: datetime) -> None:
    """Capture a finished URL again (a page asked for anew may have a new version)."""
    job.state, job.attempts, job.next_attempt_at = JobState.PENDING, 0, now
    job.last_error, job.updated_at = None, now


def retry_returned(session: Session, urls: Collection[str], now: datetime) -> list[str]:
    """Capture again the gone embeds and pages whose URL a liveness check found live;
    their URLs.

    A 404 at capture time is not always the end: a CDN that had not caught up with a
    fresh post, a post restored after review. Attempts are not reset, so a server that
    answers the check but never the download is given up after `MAX_ATTEMPTS`.
    """
    if not urls:
        return []
    # one conditional statement: a job a worker claims meanwhile is not touched
    retried = session.scalars(
        update(CaptureJob)
        .where(_gone_at_capture(urls), CaptureJob.attempts < MAX_ATTEMPTS)
        .values(state=JobState.PENDING, next_attempt_at=now, updated_at=now)
        .returning(CaptureJob.url)
        .execution_options(synchronize_session=False)
    )
    return sorted(retried)


def gone_at_capture(session: Session, url: str) -> bool:
    """Whether an embed or page of this URL has a capture job that ended gone (nothing
    archived)."""
    found = session.scalar(select(CaptureJob.id).where(_gone_at_capture([url])).limit(1))
    return found is not None


def _gone_at_capture(urls: Collection[str]) -> ColumnElement[bool]:
    """Capture jobs that ended gone of embeds with one of these URLs, and of pages (or
    files) captured by their URL, under any spelling of it (`url_spellings`: a page's
    check is of the page as kept, its job of the URL as queued)."""
    embed_jobs = select(CaptureJob.id).join(Embed, Embed.id == CaptureJob.embed_id)
    spellings = sorted({spelling for url in urls for spelling in url_spellings(url)})
    url_jobs = select(CaptureJob.id).where(
        CaptureJob.embed_id.is_(None), CaptureJob.url.in_(spellings)
    )
    either = union_all(embed_jobs.where(Embed.url.in_(urls)), url_jobs)
    return and_(CaptureJob.id.in_(either), CaptureJob.state == JobState.GONE)


def retry_for_new_ytdlp(session: Session, version: str, now: datetime) -> int:
    """Jobs another yt-dlp gave up on are pending again, with fresh attempts: how many.

    Platforms change their sites and yt-dlp follows with releases; a platform that
    fails for longer than the backoff lasts (days) would otherwise keep every job
    of that time given up after the upgrade that fixes it. A post yt-dlp got
    nothing from (no extractor, no video) is tried again too; jobs the platform said
    are gone are not (liveness checks notice a return).
    """
    result = session.execute(
        update(CaptureJob)
        .where(
            CaptureJob.state == JobState.FAILED,
            CaptureJob.next_attempt_at.is_(None),
            CaptureJob.ytdlp_version.is_not(None),
            CaptureJob.ytdlp_version != version,
        )
        .values(state=JobState.PENDING, attempts=0, next_attempt_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def release(job: CaptureJob, now: datetime, owner: str) -> bool:
    """Put an interrupted job back as it was before this attempt (shutdown, not failure).

    Only the lease's holder may: False (and nothing changed) when another worker has
    taken the job over since (our lease expired) or finished it.
    """
    if not held_by(job, owner):
        return False
    job.state = JobState.PENDING
    job.attempts = max(job.attempts - 1, 0)
    job.next_attempt_at = back_in_line(job, now)
    job.lease_owner = None
    job.lease_expires_at = None
    job.updated_at = now
    return True


def abandon(job: CaptureJob, now: datetime) -> None:
    """A running job whose worker died (crash, kill -9, power cut); it runs alone next.

    Which of the jobs a worker was running killed it is not known, so a death is
    charged only to a job started to run alone (``run_alone`` while it runs: see
    `start`); the job is pending again after the backoff a failure waits, unless that
    was its last allowed attempt: a file that crashes the process every time must not
    restart it forever. The backoff spreads those deaths over days, as failures are:
    a long download that was merely in flight, alone, through a crash loop of another
    cause (restarted each few seconds) was given up within minutes, and it held up the
    queue behind it at each start. A job that ran beside others is not charged, and
    runs alone next time (`claim_due`), where a death is its own: the jobs beside a
    file that kills the process lose nothing.
    """
    job.lease_owner = None
    job.lease_expires_at = None
    job.updated_at = now
    charged = job.run_alone  # its death is its own: it does not go first again
    if not charged:
        job.attempts = max(job.attempts - 1, 0)
    job.run_alone = True
    if job.attempts >= MAX_ATTEMPTS:
        job.state, job.next_attempt_at = JobState.FAILED, None
        job.last_error = f"gave up: the worker died during each of {job.attempts} attempts"
    else:
        job.state = JobState.PENDING
        job.next_attempt_at = now + backoff(job.attempts) if charged else back_in_line(job, now)


def back_in_line(job: CaptureJob, now: datetime) -> datetime:
    """When an interrupted job is due again: where it stood in the queue, when it was
    due as it was started, not behind every job queued while it ran (a shutdown or a
    crash in the middle of a long backlog left the downloads it cut short to the end of
    it). A job that crashed its worker alone is due now instead (`abandon`)."""
    return min(job.due_at, now) if job.due_at is not None else now


def hold_back(
    job_ids: list[int], session: Session, owner: str, now: datetime, lease: timedelta
) -> None:
    """Keep pending jobs for ``owner``, which runs them itself at once (`claim` does
    not wait for a job to be due): they are due for the queue only a lease from now,
    renewed by ``owner``'s `LeaseKeeper` while it holds them, or as soon as ``owner``
    lets them go (`let_go`) or is found dead (`recover_exited`)."""
    if job_ids:
        due = CaptureJob.next_attempt_at
        session.execute(
            update(CaptureJob)
            .where(CaptureJob.id.in_(job_ids), CaptureJob.state == JobState.PENDING)
            .values(
                due_at=case((due < now, due), else_=now),  # its place, for `let_go`
                next_attempt_at=now + lease,
                lease_owner=owner,
            )
        )


def let_go(job_ids: list[int], session: Session, owner: str, now: datetime) -> None:
    """Make the jobs ``owner`` held back and did not run (Ctrl-C) due again where
    they stood in the queue."""
    if job_ids:
        session.execute(
            update(CaptureJob)
            .where(
                CaptureJob.id.in_(job_ids),
                CaptureJob.state == JobState.PENDING,
                CaptureJob.lease_owner == owner,
            )
            .values(next_attempt_at=func.coalesce(CaptureJob.due_at, now), lease_owner=None)
        )


def recover_exited(session: Session, now: datetime, also: str | None = None) -> int:
    """Take up now the jobs of processes of this host that no longer run (and of
    ``also``: this process's id, reused): running ones are abandoned (`abandon`),
    held-back ones (`hold_back`) made due. How many.

    On PostgreSQL the rows are locked as they are read, and those another daemon is
    claiming at that moment skipped: read unlocked, a job a daemon elsewhere had just
    taken over from the dead process was put back as pending under it, and run twice.
    """
    query = select(CaptureJob).where(
        CaptureJob.state.in_((JobState.RUNNING, JobState.PENDING)),
        CaptureJob.lease_owner.is_not(None),
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    held = session.scalars(query)
    count = 0
    for job in held:
        since = job.updated_at if job.state == JobState.RUNNING else None  # when it took it
        if job.lease_owner != also and not worker_exited(job.lease_owner, since=since):
            continue
        if job.state == JobState.RUNNING:
            abandon(job, now)
        else:
            job.next_attempt_at, job.lease_owner = back_in_line(job, now), None
        count += 1
    return count


def start(
    job: CaptureJob, owner: str, now: datetime, lease: timedelta = LEASE, *, alone: bool = False
) -> None:
    """Run the job for ``owner``; ``alone``: with nothing beside it, so that a death of
    its worker is its own (`abandon`)."""
    job.due_at = min(job.next_attempt_at or now, now)
    job.state = JobState.RUNNING
    job.run_alone = alone
    job.attempts += 1
    job.lease_owner = owner
    job.lease_expires_at = now + lease
    job.next_attempt_at = job.lease_expires_at  # taken up again if the worker dies
    job.page_changed_at = None  # this run fetches the page as it is now
    job.updated_at = now


def done_at_recovery(job: CaptureJob, now: datetime) -> None:
    """The job's one file was indexed by a start after its worker died (from the intent
    it left): done. Run again, it said "gone" once the server had lost the file, beside
    the file it had archived. A worker that runs it now keeps it."""
    if job.state in (JobState.DONE, JobState.SKIPPED):
        return
    owner = job.lease_owner
    if job.state == JobState.RUNNING and owner is not None:
        lapsed = job.lease_expires_at is not None and job.lease_expires_at <= now
        if not (worker_exited(owner, since=job.updated_at) if on_this_host(owner) else lapsed):
            return
    job.state = JobState.DONE
    job.run_alone = False
    job.last_error = None
    job.next_attempt_at = None
    job.lease_owner = job.lease_expires_at = None
    job.updated_at = now


def held_by(job: CaptureJob, owner: str) -> bool:
    """Whether `owner` still holds the job's lease."""
    return job.state == JobState.RUNNING and job.lease_owner == owner


def finish(job: CaptureJob, outcome: Outcome, now: datetime, owner: str) -> bool:
    """Record the attempt's outcome; only the lease's holder may (see `release`).

    A page a poll found changed while the job ran (`mark_changed`) is captured again:
    where the job would end (done, gone, given up) it is pending, with fresh attempts,
    as the poll makes an ended job of a changed entry. A retry due later is left to
    run then.
    """
    if not held_by(job, owner):
        return False
    if not outcome.counted:
        job.attempts = max(job.attempts - 1, 0)
    job.state = outcome.state
    job.run_alone = False  # it ran to an outcome: it did not kill its worker this time
    job.last_error, job.ytdlp_version = outcome.error, outcome.ytdlp_version
    job.next_attempt_at = outcome.retry_at
    job.lease_owner = None
    job.lease_expires_at = None
    job.updated_at = now
    changed, job.page_changed_at = job.page_changed_at, None
    if changed is not None and outcome.retry_at is None and job.state != JobState.SKIPPED:
        job.state, job.attempts, job.next_attempt_at = JobState.PENDING, 0, now
    return True


class LeaseKeeper(Renewer):
    """Renews the leases of the jobs this process is working on, and its holds on the
    jobs it keeps back to run next (`hold_back`), in the background.

    A lease says "a live worker has this job"; it expires `lease` after it was last
    renewed, and then any worker may take the job. Every runner (the daemon's workers
    and ``archiver capture`` alike) holds the jobs it works on here, so a download
    that outlasts the lease is not started a second time elsewhere.
    """

    def __init__(
        self,
        session: Callable[[], AbstractContextManager[Session]],
        owner: str,
        lease: timedelta,
    ) -> None:
        super().__init__(lease, "lease-keeper")
        self._session = session
        self.owner = owner

    def renew(self, ids: list[int]) -> None:
        """Extend these jobs' leases, where this process still holds them, and the
        holds on those it keeps back to run itself (`hold_back`): a page whose downloads
        outlasted one lease had its jobs still waiting taken by a daemon beside it."""
        until = utcnow() + self.hold_for
        ours = and_(CaptureJob.id.in_(ids), CaptureJob.lease_owner == self.owner)
        with self._session() as session:
            session.execute(
                update(CaptureJob)
                .where(ours, CaptureJob.state == JobState.RUNNING)
                .values(lease_expires_at=until, next_attempt_at=until)
            )
            session.execute(
                update(CaptureJob)
                .where(ours, CaptureJob.state == JobState.PENDING)
                .values(next_attempt_at=until)
            )


def url_job(session: Session, url: str) -> CaptureJob:
    """The job that captures ``url`` as a page or direct file (no embed)."""
    return _job(session, url, None)


def embed_job(session: Session, embed: Embed) -> CaptureJob:
    """The embed's capture job; a new embed gets a pending one."""
    return _job(session, embed.url, embed.id)


def _job(session: Session, url: str, embed_id: int | None) -> CaptureJob:
    now = utcnow()
    where = (
        CaptureJob.embed_id == embed_id
        if embed_id is not None
        else (CaptureJob.embed_id.is_(None)) & (CaptureJob.url == url)
    )
    job, _ = get_or_create(
        session,
        lambda: session.scalar(select(CaptureJob).where(where)),
        lambda: CaptureJob(
            url=url,
            embed_id=embed_id,
            state=JobState.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        ),
    )
    return job
