"""Job leases: held while work runs, taken over only from dead workers, never twice."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import Future
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from support import FixtureServer, MediaSet, make_photo
from support.archiving import settings
from support.server import RequestHandler

from archiver.archive import Archive
from archiver.capture import Capturer, CaptureReport
from archiver.config import config_from_dict
from archiver.daemon import Daemon
from archiver.errors import FetchError
from archiver.index.models import CaptureJob, JobState, Source, utcnow
from archiver.jobs import (
    MAX_ATTEMPTS,
    HostQuota,
    Outcome,
    claim,
    claim_due,
    finish,
    hold_back,
    let_go,
    locked,
    outcome_of_error,
    recover_exited,
    release,
    requeue,
    start,
    url_job,
)
from archiver.sources.poll import claim_due_sources
from archiver.sources.registry import add_source
from archiver.status import status_report

LEASE = 1.0  # seconds: short, so a test sees one expire
HOUR = timedelta(hours=1)


def _archive(root: Path, db_url: str = "") -> Archive:
    data = settings(root, db_url)
    data["daemon"] = {**data.get("daemon", {}), "lease": f"{LEASE}s"}
    return Archive.open(config_from_dict(data))


def _job(archive: Archive, url: str) -> CaptureJob:
    with archive.read_session() as session:
        job = session.scalars(select(CaptureJob).where(CaptureJob.url == url)).one()
        session.expunge(job)
        return job


def _timed_jobs(daemon: Daemon) -> dict[int, tuple[float, float]]:
    """When each job the daemon runs from now on starts and ends, by its id."""
    spans: dict[int, tuple[float, float]] = {}
    run = daemon.capturer.run_claimed

    def timed(job_id: int) -> None:
        began = time.monotonic()
        try:
            run(job_id)
        finally:
            spans[job_id] = (began, time.monotonic())

    daemon.capturer.run_claimed = timed  # type: ignore[method-assign]
    return spans


def test_a_capture_outlasting_its_lease_keeps_it_and_is_not_run_twice(
    tmp_path: Path, server: FixtureServer, db_url: str
) -> None:
    """``archiver capture`` of a file that takes 3 leases to download renews its
    lease: a daemon claiming due jobs meanwhile never takes it, and it ends done."""
    slow = tmp_path / "slow.bin"
    slow.write_bytes(os.urandom(240_000))
    server.add_file("/slow.mp4", slow, content_type="video/mp4", rate=80_000)  # 3 s
    url = server.url("/slow.mp4")
    with _archive(tmp_path / "storage", db_url) as archive:
        reports: list[CaptureReport] = []
        capture = threading.Thread(
            target=lambda: reports.append(Capturer(archive).capture_url(url))
        )
        capture.start()
        taken: list[str] = []
        while capture.is_alive():
            with archive.session() as session:
                taken += [j.url for j in claim_due(session, "daemon-elsewhere:1", 10, utcnow())]
            capture.join(0.2)
        assert reports and reports[0].error is None and not taken
        assert server.hits("/slow.mp4") == 1
        assert {j.state for j in _all_jobs(archive)} == {JobState.DONE}


def _all_jobs(archive: Archive) -> list[CaptureJob]:
    with archive.read_session() as session:
        return list(session.scalars(select(CaptureJob)))


def test_a_job_taken_over_keeps_the_new_holders_record(tmp_path: Path) -> None:
    """A worker whose lease expired (it hung) cannot finish or release the job that
    another worker has since taken: the late result is not written over the new one."""
    with _archive(tmp_path / "storage") as archive, archive.session() as session:
        job = url_job(session, "https://example.org/live")
        now = utcnow()
        start(job, "hung:1", now, timedelta(seconds=LEASE))
        later = now + timedelta(seconds=2 * LEASE)
        assert claim_due(session, "fresh:2", 10, later) == [job] and job.run_alone
        assert not finish(job, Outcome(JobState.FAILED, "late error"), later, "hung:1")
        assert not release(job, later, "hung:1")
        assert (job.state, job.lease_owner, job.last_error) == (JobState.RUNNING, "fresh:2", None)
        assert finish(job, Outcome(JobState.DONE), later, "fresh:2")
        assert job.state == JobState.DONE


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_job_that_kills_its_worker_every_time_is_given_up(tmp_path: Path) -> None:
    """After a crash the next start takes the dead process's jobs up at once and the
    interrupted attempt counts, so a file that crashes the process every time stops
    after the last allowed attempt instead of restarting the service forever. Jobs of
    a live process (an ``archiver capture`` beside the daemon) are left alone."""
    host = socket.gethostname()
    beside = subprocess.Popen(["sleep", "60"])  # a live `archiver capture` process
    with _archive(tmp_path / "storage") as archive:
        daemon = Daemon(archive)
        with archive.session() as session:
            poison = url_job(session, "https://example.org/poison.mp4").id
            live = url_job(session, "https://example.org/long.mp4")
            start(live, f"{host}:{beside.pid}", utcnow(), timedelta(hours=1))
        for attempt in range(MAX_ATTEMPTS + 1):  # its first run was beside others: free
            with archive.session() as session:
                job = session.get_one(CaptureJob, poison)
                assert job.state == JobState.PENDING and job.attempts == max(attempt - 1, 0)
                alone = job.run_alone  # as the daemon starts it
                start(job, f"{host}:{_dead_pid()}", utcnow(), timedelta(hours=1), alone=alone)
            assert daemon._recover_jobs() == 1  # the restart after the crash
        given_up = _job(archive, "https://example.org/poison.mp4")
        assert given_up.state == JobState.FAILED and given_up.next_attempt_at is None
        assert (
            given_up.last_error
            == f"gave up: the worker died during each of {MAX_ATTEMPTS} attempts"
        )
        still = _job(archive, "https://example.org/long.mp4")
        assert still.state == JobState.RUNNING and still.lease_owner == f"{host}:{beside.pid}"
        # A restarted container's daemon often has the dead one's pid (1): not alive.
        with archive.session() as session:
            start(
                url_job(session, "https://example.org/pid1.mp4"), f"{host}:{os.getpid()}", utcnow()
            )
        assert daemon._recover_jobs() == 1
        daemon.workers.shutdown()
        daemon.pollers.shutdown()
    beside.kill()
    beside.wait()


def test_a_start_leaves_a_dead_workers_job_that_another_daemon_is_taking_over(
    tmp_path: Path, pg_url: str
) -> None:
    """Two daemons on one PostgreSQL database: as one started and recovered a dead
    worker's jobs, the other claimed one of them. The start, having read the job
    before that claim, put it back as pending under the new holder (or waited on its
    lock): the download ran twice."""
    dead = f"{socket.gethostname()}:{_dead_pid()}"
    with _archive(tmp_path / "storage", pg_url) as archive:
        with archive.session() as session:
            job = url_job(session, "https://example.org/long.mp4")
            start(job, dead, utcnow() - HOUR, timedelta(seconds=LEASE))
        with archive.session() as elsewhere:
            assert len(claim_due(elsewhere, "elsewhere:1", 10, utcnow())) == 1  # uncommitted
            with archive.session() as starting:
                starting.execute(text("SET LOCAL lock_timeout = '2s'"))
                assert recover_exited(starting, utcnow(), also="me:1") == 0
        again = _job(archive, "https://example.org/long.mp4")
        assert (again.state, again.lease_owner) == (JobState.RUNNING, "elsewhere:1")


def test_status_tells_the_running_jobs_of_exited_processes_apart(
    tmp_path: Path, db_url: str
) -> None:
    """After a ``kill -9`` of ``archiver capture`` and before any start, status counted
    its jobs as running, with no process running them."""
    host = socket.gethostname()
    with _archive(tmp_path / "storage", db_url) as archive, archive.session() as session:
        dead = f"{host}:{_dead_pid()}"
        start(url_job(session, "https://example.org/a.mp4"), dead, utcnow())
        start(url_job(session, "https://example.org/b.mp4"), dead, utcnow())
        start(url_job(session, "https://example.org/c.mp4"), f"{host}:{os.getpid()}", utcnow())
        start(url_job(session, "https://example.org/d.mp4"), "elsewhere:7", utcnow())
        session.flush()
        report = status_report(session)
        assert (report["queue"]["running"], report["interrupted"]) == (4, 2)


def test_a_worker_dying_beside_other_jobs_charges_none_and_each_runs_alone_next(
    tmp_path: Path, db_url: str
) -> None:
    """A worker's death was charged to every job it was running: one file that crashed
    the daemon took the jobs beside it down with it, a long download given up after as
    many crashes as it had run beside the culprit. Now such a death is charged to no
    one, and each of those jobs next runs alone, where a death is its own."""
    host = socket.gethostname()
    crowd, lone = f"{host}:{_dead_pid()}", f"{host}:{_dead_pid()}"
    with _archive(tmp_path / "storage", db_url) as archive:
        daemon = Daemon(archive)
        with archive.session() as session:
            for name in ("a", "b", "c"):
                start(url_job(session, f"https://example.org/{name}.mp4"), crowd, utcnow())
            start(url_job(session, "https://example.org/lone.mp4"), lone, utcnow(), alone=True)
            url_job(session, "https://example.org/fresh.mp4")
        assert daemon._recover_jobs() == 4
        with archive.session() as session:
            found = {j.url.rsplit("/", 1)[1]: j for j in session.scalars(select(CaptureJob))}
            assert {name: (j.state, j.attempts, j.run_alone) for name, j in found.items()} == {
                "a.mp4": ("pending", 0, True),  # not charged: it ran beside others
                "b.mp4": ("pending", 0, True),
                "c.mp4": ("pending", 0, True),
                "lone.mp4": ("pending", 1, True),  # it was run alone: charged
                "fresh.mp4": ("pending", 0, False),
            }
            now = utcnow()
            # the jobs the death was not charged to keep their place in the queue, before
            # the job queued after them: none is taken past one that must run alone while
            # work is in flight; with none in flight, that job alone, and so on. The job
            # that died alone, likely the cause, goes behind the new one: it does not
            # crash the worker again before anything else can run
            assert claim_due(session, "me:1", 10, now, idle=False) == []
            for name in ("a", "b", "c"):
                (first,) = claim_due(session, "me:1", 10, now)
                assert first.url == f"https://example.org/{name}.mp4" and first.run_alone
                assert finish(first, Outcome(JobState.DONE), now, "me:1")
                assert not first.run_alone
            (fresh,) = claim_due(session, "me:1", 10, now, idle=False)
            assert fresh.url == "https://example.org/fresh.mp4"
            assert finish(fresh, Outcome(JobState.DONE), now, "me:1")
            assert claim_due(session, "me:1", 10, now) == []  # the backoff of a failure
            (lone,) = claim_due(session, "me:1", 10, now + timedelta(minutes=1))
            assert lone.url == "https://example.org/lone.mp4" and lone.run_alone
        daemon.workers.shutdown()
        daemon.pollers.shutdown()


def test_repeated_crashes_beside_other_jobs_never_add_up(tmp_path: Path, db_url: str) -> None:
    """A killed ``archiver capture`` left its jobs running under a dead pid; the next
    capture took them over (`claim`) with one more attempt each, and the daemon then gave
    up a page and two videos after 25 kills: "the worker died during each of 24
    attempts". Jobs of another host's dead daemon, taken up as their leases ran out,
    were charged in turn: the last of them, alone by then, paid for the crash."""
    host = socket.gethostname()
    with _archive(tmp_path / "storage", db_url) as archive, archive.session() as session:
        page = url_job(session, "https://example.org/live")
        for _ in range(25):  # a capture, killed with the page's job running
            assert claim(locked(session, page.id), f"{host}:{_dead_pid()}", utcnow(), HOUR)
        assert (page.attempts, page.run_alone) == (1, False)
        lost = [url_job(session, f"https://example.org/{n}.mp4") for n in range(3)]
        for job in lost:
            start(job, "other-host:4242", utcnow(), timedelta(seconds=LEASE))
        later = utcnow() + timedelta(seconds=2 * LEASE)
        taken = [claim_due(session, "me:1", 10, later) for _ in lost]
        assert all(len(one) == 1 and one[0].run_alone for one in taken)  # one at a time
        assert [job.attempts for job in lost] == [1, 1, 1]  # none charged for the crash


def test_the_daemon_runs_a_job_that_must_run_alone_with_nothing_beside_it(
    tmp_path: Path, server: FixtureServer
) -> None:
    """Such a job waits its turn; the jobs in flight finish first, it runs with no
    other, and the rest run together after it."""
    for n in range(4):
        photo = make_photo(tmp_path / f"p{n}.jpg", seed=n)
        server.add_file(f"/p{n}.jpg", photo, rate=photo.stat().st_size * 3)  # 1/3 s each
    with _archive(tmp_path / "storage") as archive:
        daemon = Daemon(archive)
        with archive.session() as session:
            ids = [url_job(session, server.url(f"/p{n}.jpg")).id for n in range(4)]
            session.get_one(CaptureJob, ids[2]).run_alone = True
        spans = _timed_jobs(daemon)
        daemon.run_once()
        assert {j.state for j in _all_jobs(archive)} == {JobState.DONE}
        alone = spans.pop(ids[2])
        assert spans[ids[0]][1] <= alone[0] and spans[ids[1]][1] <= alone[0]  # due before it
        assert spans[ids[3]][0] >= alone[1]  # due after it: not taken before it
        first, second = spans[ids[0]], spans[ids[1]]
        assert first[0] < second[1] and second[0] < first[1]  # the others side by side


def test_a_claim_passes_over_jobs_of_a_host_whose_share_is_in_flight(
    tmp_path: Path, db_url: str
) -> None:
    """Workers that took a busy host's jobs only waited for its slot, while the jobs of
    other hosts queued behind them waited for the workers."""
    with _archive(tmp_path / "storage", db_url) as archive, archive.session() as session:
        slow = [url_job(session, f"https://slow.example/{n}.mp4") for n in range(3)]
        other = url_job(session, "https://other.example/a.jpg")
        session.flush()
        quota = HostQuota(2, Counter({"slow.example": 1}))
        taken = claim_due(session, "me:1", 3, utcnow(), quota=quota)
        assert [job.url for job in taken] == [slow[0].url, other.url]
        assert quota.held_back == 2 and {slow[1].state, slow[2].state} == {JobState.PENDING}
        # without a quota (``archiver capture`` of a page) the queue's order alone
        assert [j.url for j in claim_due(session, "me:1", 1, utcnow())] == [slow[1].url]


def test_the_daemon_runs_another_hosts_job_beside_a_slow_hosts_download(
    tmp_path: Path, server: FixtureServer
) -> None:
    """Two workers, one download at a time per host: the second worker is not left
    waiting for the slow host's slot while another host's photo is due."""
    slow = [make_photo(tmp_path / f"slow{n}.jpg", seed=n) for n in range(2)]
    for n, photo in enumerate(slow):
        server.add_file(f"/slow{n}.jpg", photo, rate=photo.stat().st_size)  # 1 s each
    with FixtureServer("127.0.0.3") as other:
        other.add_file("/quick.jpg", make_photo(tmp_path / "quick.jpg", seed=7))
        data = settings(
            tmp_path / "storage", download={"concurrency": 2, "per_host_concurrency": 1}
        )
        with Archive.open(config_from_dict(data)) as archive:
            daemon = Daemon(archive)
            with archive.session() as session:
                ids = [url_job(session, server.url(f"/slow{n}.jpg")).id for n in range(2)]
                ids.append(url_job(session, other.url("/quick.jpg")).id)
            spans = _timed_jobs(daemon)
            daemon.run_once()
            assert {j.state for j in _all_jobs(archive)} == {JobState.DONE}
            assert spans[ids[2]][1] < spans[ids[0]][1]  # done during the first slow download


def test_a_daemon_never_takes_back_a_job_it_holds_whatever_its_clock_says(
    tmp_path: Path, db_url: str
) -> None:
    """Its clock stepped forward past the lease (a suspended machine resumed): the
    daemon took its own download in flight for a dead worker's, gave it up, and
    downloaded the file again."""
    with _archive(tmp_path / "storage", db_url) as archive, archive.session() as session:
        job = url_job(session, "https://example.org/long.mp4")
        start(job, "daemon:1", utcnow(), timedelta(seconds=LEASE))
        session.flush()
        stepped = utcnow() + timedelta(days=1)
        assert claim_due(session, "daemon:1", 10, stepped, held={job.id}) == []
        assert job.state == JobState.RUNNING and job.attempts == 1
        assert claim_due(session, "daemon-elsewhere:2", 10, stepped) == [job]  # it died


def test_a_job_whose_outcome_was_never_recorded_is_run_again_by_the_same_daemon(
    tmp_path: Path, server: FixtureServer, db_url: str
) -> None:
    """The database was away as a download ended (``job.not_recorded``): the job stayed
    running under the daemon's own name, which never took it back, and waited for a
    restart, perhaps months away. Once its lease runs out it is run again, uncounted."""
    server.add_file("/p.jpg", make_photo(tmp_path / "p.jpg"))
    with _archive(tmp_path / "storage", db_url) as archive:
        daemon = Daemon(archive)
        with archive.session() as session:
            job = url_job(session, server.url("/p.jpg"))
            start(job, daemon.capturer.owner, utcnow() - HOUR, timedelta(seconds=LEASE))
        assert daemon.drain() == 1
        daemon.shutdown()
        (done,) = [j for j in _all_jobs(archive) if j.embed_id is None]
        assert (done.state, done.attempts, server.hits("/p.jpg")) == (JobState.DONE, 1, 1)


def test_an_expired_lease_on_the_last_attempt_is_given_up_not_claimed(tmp_path: Path) -> None:
    """A worker on another host that died during the job's last attempt: its expired
    lease is not claimed an extra time."""
    with _archive(tmp_path / "storage") as archive, archive.session() as session:
        job = url_job(session, "https://example.org/poison.mp4")
        job.attempts = MAX_ATTEMPTS - 1
        start(job, "other-host:7", utcnow(), timedelta(seconds=LEASE), alone=True)
        assert claim_due(session, "me:1", 10, utcnow() + timedelta(seconds=2 * LEASE)) == []
        assert job.state == JobState.FAILED and job.attempts == MAX_ATTEMPTS


def test_a_failing_download_is_retried_for_days_before_it_is_given_up() -> None:
    """A source's host down over a weekend (or archiver's own network over a night)
    must not cost the evidence: retries start within minutes and go on for days."""
    now = utcnow()
    error = FetchError("connection failed: [Errno 111] Connection refused")
    waited, attempts = timedelta(0), 1
    while (outcome := outcome_of_error(error, attempts, now)).retry_at is not None:
        waited += outcome.retry_at - now
        attempts += 1
    assert outcome.state == JobState.FAILED and "gave up after" in str(outcome.error)
    assert attempts == MAX_ATTEMPTS
    assert outcome_of_error(error, 1, now).retry_at == now + timedelta(minutes=1)
    assert timedelta(days=5) < waited < timedelta(days=7)


@pytest.mark.parametrize(("retry_after", "hours"), [("3600", 1.0), ("99999999999", 24.0)])
def test_a_rate_limited_capture_waits_as_long_as_the_server_asks(
    tmp_path: Path, server: FixtureServer, retry_after: str, hours: float
) -> None:
    """429 with Retry-After: the retry waits that long (up to a day), not the backoff's
    first minute."""

    def limited(request: RequestHandler) -> None:
        request.send_simple(429, b"slow down", headers={"Retry-After": retry_after})

    server.add_handler("/busy.mp4", limited)
    url = server.url("/busy.mp4")
    with _archive(tmp_path / "storage") as archive:
        report = Capturer(archive).capture_url(url)
        assert report.error and "429" in report.error
        job = _job(archive, url)
    assert job.state == JobState.FAILED and job.next_attempt_at is not None
    wait = (job.next_attempt_at - job.updated_at).total_seconds()
    assert wait == pytest.approx(hours * 3600, abs=5)


def test_capturing_a_url_a_live_worker_is_capturing_says_so(tmp_path: Path) -> None:
    """``archiver capture`` of a URL the daemon is capturing right now does not run it
    a second time beside it: the report gives the reason and the job is untouched."""
    url = "https://example.org/live"
    with _archive(tmp_path / "storage") as archive:
        with archive.session() as session:
            start(url_job(session, url), "daemon:1", utcnow(), timedelta(hours=1))
        report = Capturer(archive).capture_url(url)
        assert report.error == (
            "being captured by another worker right now; try again when it is done"
        )
        assert not report.ok
        job = _job(archive, url)
    assert (job.state, job.lease_owner, job.attempts) == (JobState.RUNNING, "daemon:1", 1)


def test_a_lease_left_by_an_exited_capture_of_this_host_does_not_hold_up_the_next(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """A capture that was killed, or could not record its outcome (disk full), leaves
    its lease behind; the next ``archiver capture`` on this host sees that process is
    gone and takes the job at once. A live holder's lease is still respected."""
    server.add_file("/clip.mp4", media.clip_a)
    url = server.url("/clip.mp4")
    exited = subprocess.Popen(["true"])
    exited.wait()
    gone = f"{socket.gethostname()}:{exited.pid}"
    alive = f"{socket.gethostname()}:{os.getpid()}"
    with _archive(tmp_path / "storage") as archive:
        with archive.session() as session:
            start(url_job(session, url), alive, utcnow(), timedelta(hours=1))
        assert Capturer(archive, owner="other:1").capture_url(url).error is not None
        with archive.session() as session:
            job = session.scalars(
                select(CaptureJob).where(CaptureJob.url == url, CaptureJob.embed_id.is_(None))
            ).one()
            job.lease_owner = gone
        report = Capturer(archive).capture_url(url)
        assert report.ok, report.to_json()
        with archive.read_session() as session:
            states = set(session.scalars(select(CaptureJob.state)))
    assert states == {JobState.DONE}


def test_a_bug_in_the_work_fails_the_jobs_and_leaves_no_lease_held(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected exception goes on to the caller (which logs it), but the jobs it
    cut short are failed for a retry, not left leased and renewed forever."""
    server.add_file("/clip.mp4", media.clip_a)

    def broken(self: Capturer, *args: object) -> list[object]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Capturer, "_store_download", broken)
    with _archive(tmp_path / "storage") as archive:
        capturer = Capturer(archive)
        with pytest.raises(RuntimeError, match="a bug"):
            capturer.capture_url(server.url("/clip.mp4"))
        assert capturer.leases.held() == set()
        states = {(j.embed_id is None, j.state, j.last_error) for j in _all_jobs(archive)}
    assert states == {
        (True, JobState.FAILED, "internal error"),
        (False, JobState.FAILED, "internal error"),
    }


def test_an_embed_another_worker_is_capturing_makes_the_capture_not_ok(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """`archiver capture` did not archive an embed the daemon is capturing right now:
    the item says so ("queued", with its reason) and the command exits 1, not 0."""
    server.add_file("/photo.jpg", media.photo_a)
    server.add_page("/live", "<article><p>Smoke:</p><img src='/photo.jpg'></article>")
    with _archive(tmp_path / "storage") as archive:
        capturer = Capturer(archive)
        assert capturer.capture_url(server.url("/live")).ok
        with archive.session() as session:
            embed_job = session.scalars(
                select(CaptureJob).where(CaptureJob.embed_id.is_not(None))
            ).one()
            embed_job.state = JobState.PENDING
            start(embed_job, "daemon-elsewhere:1", utcnow(), timedelta(hours=1))
        report = capturer.capture_url(server.url("/live"))
    (item,) = report.items
    assert (item.status, item.reason) == ("queued", "being captured by another worker")
    assert not report.ok


def test_a_source_still_being_polled_is_not_polled_again_when_its_claim_lapses(
    tmp_path: Path,
) -> None:
    """Claiming a source holds it for five minutes at most; a live blog read back over
    thirty slow older pages takes longer, and its next poll began beside the first."""
    with _archive(tmp_path / "storage") as archive:
        daemon = Daemon(archive)
        with archive.session() as session:
            source_id = add_source(session, "https://example.org/live", every=60).id
        running: Future[object] = Future()  # the poll of that source, under way
        daemon.polling[running] = source_id
        with archive.session() as session:  # its claim lapsed: due again
            session.get_one(Source, source_id).next_poll_at = utcnow() - timedelta(seconds=1)

        assert daemon._poll_batch() == 0

        with archive.session() as session:  # left due, untouched, for when that poll ends
            assert claim_due_sources(session, utcnow(), 10) == [source_id]


def test_a_download_cut_short_by_a_shutdown_keeps_its_place_in_the_queue(
    tmp_path: Path, db_url: str
) -> None:
    """Put back as due "now", it went behind every job queued while it ran: after a
    restart in a long backlog, the download cut short waited for all of it."""
    with _archive(tmp_path / "storage", db_url) as archive, archive.session() as session:
        cut_short = url_job(session, "https://example.org/long.mp4")
        start(cut_short, "me:1", utcnow())
        backlog = [url_job(session, f"https://example.org/{n}.jpg") for n in range(3)]
        session.flush()
        assert release(cut_short, utcnow(), "me:1")
        taken = claim_due(session, "me:2", 2, utcnow())
        assert [job.url for job in taken] == [cut_short.url, backlog[0].url]

        # its place is when it was due as it was taken, not when it was first made: a job
        # done long ago and queued again behind a backlog, taken by `archiver capture`
        # and cut short, goes back behind that backlog
        for job in taken:
            assert finish(job, Outcome(JobState.DONE), utcnow(), "me:2")
        requeue(cut_short, utcnow())
        assert claim(locked(session, cut_short.id), "cli:9", utcnow(), HOUR)
        assert release(cut_short, utcnow(), "cli:9")
        taken = claim_due(session, "me:2", 3, utcnow())
        assert [job.url for job in taken] == [backlog[1].url, backlog[2].url, cut_short.url]


def test_a_job_held_back_and_let_go_keeps_its_place_in_the_queue(
    tmp_path: Path, db_url: str
) -> None:
    """A job `archiver capture` held back and let go (Ctrl-C) was due at once, behind
    the jobs queued before it."""
    with _archive(tmp_path / "storage", db_url) as archive, archive.session() as session:
        backlog = [url_job(session, f"https://example.org/{n}.jpg") for n in range(2)]
        session.flush()
        later = utcnow() + timedelta(seconds=2 * LEASE)
        held = backlog[0]
        hold_back([held.id], session, "cli:9", later, HOUR)
        newer = url_job(session, "https://example.org/newer.jpg")
        session.flush()
        let_go([held.id], session, "cli:9", utcnow() + timedelta(seconds=3 * LEASE))
        session.expire_all()
        taken = claim_due(session, "me:1", 3, utcnow() + timedelta(seconds=4 * LEASE))
        assert [job.url for job in taken] == [held.url, backlog[1].url, newer.url]


def test_a_page_whose_downloads_outlast_a_lease_keeps_the_jobs_it_holds_back(
    tmp_path: Path, server: FixtureServer
) -> None:
    """``archiver capture`` of a page of three videos, one download at a time, each
    longer than the lease: its jobs still waiting were held back for one lease only,
    and a daemon beside it took them. (A lease of 3 s, renewed each second: a busy
    machine may hold a renewal back past a shorter one.)"""
    for n in range(3):
        video = tmp_path / f"v{n}.bin"
        video.write_bytes(os.urandom(280_000))
        server.add_file(f"/v{n}.mp4", video, content_type="video/mp4", rate=80_000)  # 3.5 s
    videos = "".join(f"<video src='/v{n}.mp4'></video>" for n in range(3))
    server.add_page("/live", f"<article><p>Footage:</p>{videos}</article>")
    data = settings(tmp_path / "storage", download={"concurrency": 1})
    data["daemon"] = {**data["daemon"], "lease": "3s"}
    with Archive.open(config_from_dict(data)) as archive:
        reports: list[CaptureReport] = []
        capture = threading.Thread(
            target=lambda: reports.append(Capturer(archive).capture_url(server.url("/live")))
        )
        capture.start()
        taken: list[str] = []
        while capture.is_alive():
            with archive.session() as session:
                taken += [j.url for j in claim_due(session, "daemon-elsewhere:1", 10, utcnow())]
            capture.join(0.2)
        assert not taken and reports[0].ok, [(i.url, i.status, i.reason) for i in reports[0].items]
        assert {j.state for j in _all_jobs(archive)} == {JobState.DONE}


def test_a_live_process_of_this_host_keeps_its_job_whatever_its_lease_says(
    tmp_path: Path, db_url: str
) -> None:
    """The machine was suspended past the lease with an ``archiver capture`` running:
    once resumed, the daemon took the capture's download for a dead worker's and both
    downloaded it. A live process that only reused a dead holder's pid (after a
    reboot) holds nothing."""
    host = socket.gethostname()
    live = f"{host}:{os.getpid()}"
    with _archive(tmp_path / "storage", db_url) as archive, archive.session() as session:
        capturing = url_job(session, "https://example.org/long.mp4")
        start(capturing, live, utcnow(), timedelta(seconds=LEASE))
        session.flush()
        resumed = utcnow() + HOUR
        assert claim_due(session, "daemon:1", 10, resumed) == []
        assert (capturing.state, capturing.lease_owner) == (JobState.RUNNING, live)
        orphan = url_job(session, "https://example.org/other.mp4")
        reused = subprocess.Popen(["sleep", "60"])  # started after its pid's holder took it
        try:
            start(orphan, f"{host}:{reused.pid}", utcnow() - HOUR, timedelta(seconds=LEASE))
            session.flush()
            assert claim_due(session, "daemon:1", 10, resumed) == [orphan]
        finally:
            reused.kill()
            reused.wait()


def test_a_job_charged_with_its_workers_death_waits_its_backoff_in_the_claim_that_finds_it(
    tmp_path: Path, db_url: str
) -> None:
    """A job run alone whose worker died (on another host, never back) was charged and
    given its backoff by the claim that took it over, which then ran it at once."""
    with _archive(tmp_path / "storage", db_url) as archive, archive.session() as session:
        job = url_job(session, "https://example.org/poison.mp4")
        job.attempts = 3
        start(job, "other-host:4242", utcnow(), timedelta(seconds=LEASE), alone=True)
        later = utcnow() + timedelta(seconds=2 * LEASE)
        assert claim_due(session, "me:1", 4, later) == []
        assert (job.state, job.attempts, job.lease_owner) == (JobState.PENDING, 4, None)
        assert claim_due(session, "me:1", 4, later + timedelta(minutes=8)) == [job]
