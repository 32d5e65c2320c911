"""The daemon as real processes against a local fixture server, SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import wait
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, insert, select, update
from sqlalchemy.orm import Session
from support import FixtureServer, MediaSet, make_photo
from support.archiving import run_cli, settings, start_daemon, write_config

from archiver import clock
from archiver.archive import Archive as OpenArchive
from archiver.config import config_from_dict
from archiver.daemon import Daemon
from archiver.extract import extract_embeds
from archiver.index.models import (
    CaptureJob,
    Embed,
    Fingerprint,
    LinkCheck,
    Media,
    Placement,
    SidecarDebt,
    Source,
    utcnow,
)
from archiver.index.records import upsert_embed, upsert_page

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Syria Daily</title><link>{base}/</link>
<item><title>Syria Daily, Sept 28</title><link>/2013/09/28/syria-daily</link>
<pubDate>Sat, 28 Sep 2013 18:00:00 GMT</pubDate>
<content:encoded><![CDATA[<p><strong>UPDATE 1800 GMT:</strong> Rebels posted video of
their fighters near the Citadel:</p><video src="../../../media/clip_a.mp4"></video>]]></content:encoded>
</item></channel></rss>"""

ITEM_PAGE = """<html><body><article><h1>Syria Daily, Sept 28</h1>
<p>ORIGINAL ENTRY: A photograph from the old city:</p><img src="/media/photo_a.jpg"></article>
</body></html>"""


def _exited_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def wait_for(check: Callable[[], object], timeout: float = 30, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Archive:
    """A test archive: its config file and a way to look into its index."""

    def __init__(self, root: Path, db_url: str = "", **sections: dict[str, object]) -> None:
        self.root = root
        self.config = write_config(
            root.parent / f"{root.name}.toml", settings(root, db_url, **sections)
        )
        self.db_url = db_url or f"sqlite:///{root / 'archive.db'}"
        self.log = root.parent / f"{root.name}.log"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = run_cli(self.config, *args)
        assert result.returncode in (0, 1), result.stderr
        return result

    def execute(self, statement: object) -> None:
        engine = create_engine(self.db_url)
        try:
            with Session(engine) as session, session.begin():
                session.execute(statement)  # type: ignore[call-overload]
        finally:
            engine.dispose()

    def query(self, statement: object) -> list[object]:
        engine = create_engine(self.db_url)
        try:
            with Session(engine) as session:
                return list(session.scalars(statement))  # type: ignore[call-overload]
        finally:
            engine.dispose()

    def debris(self) -> list[Path]:
        """Anything in the tree that is not a complete, indexed file or its sidecar."""
        tmp = [p for p in (self.root / "tmp").rglob("*") if p.is_file()]
        parts = [p for p in self.root.rglob("*.part")]
        return tmp + parts


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    return Archive(tmp_path / "storage")


@pytest.fixture
def daemons() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_feed_source_entries_and_their_pages_are_archived(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    server.add_bytes("/feed", RSS.format(base=server.url("")).encode(), "application/rss+xml")
    server.add_page("/2013/09/28/syria-daily", ITEM_PAGE)
    server.add_file("/media/clip_a.mp4", media.clip_a)
    server.add_file("/media/photo_a.jpg", media.photo_a)

    assert "source 1" in archive.cli("source", "add", server.url("/feed"), "--every", "30s").stdout
    stale = archive.root / "tmp" / f"{socket.gethostname()}-{_exited_pid()}"
    stale.mkdir(parents=True)
    (stale / "tmp-1.part").write_bytes(b"half a download")
    result = archive.cli("--log-level", "info", "run", "--once")
    assert result.returncode == 0, result.stderr
    assert re.search(r" removed_scratch=1\b", result.stderr)  # logged by the daemon
    assert list((archive.root / "tmp").iterdir()) == []  # and its own, at the end

    found = json.loads(archive.cli("search", "--json").stdout)
    by_type = {r["media_type"]: r for r in found}
    item = server.url("/2013/09/28/syria-daily")
    video = by_type["video"]["sightings"][0]
    assert video["page_url"] == item and video["update"] == "UPDATE 1800 GMT"
    assert video["media_url"] == server.url("/media/clip_a.mp4")
    assert by_type["image"]["sightings"][0]["page_url"] == item
    status = json.loads(archive.cli("status", "--json").stdout)
    assert status["queue"]["done"] == 3  # the entry's page, the video in the feed, the photo
    (source,) = status["sources"]
    assert source["detected_kind"] == "feed" and source["last_result"] == "changed"
    assert "event=capture.done" in result.stderr and "Traceback" not in result.stderr

    again = archive.cli("run", "--once")  # not due yet: nothing polled
    assert again.returncode == 0 and server.hits("/feed") == 1


def test_what_a_clock_running_ahead_scheduled_is_due_once_it_is_set_back(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    """A daemon run under a clock two days ahead (then corrected by NTP) left every
    poll, check and retry two days out: the next run polled nothing, without a word."""
    server.add_file("/media/photo_a.jpg", media.photo_a)
    server.add_page("/live", "<article><p>Shelling:</p><img src='/media/photo_a.jpg'></article>")
    archive.cli("source", "add", server.url("/live"), "--every", "10m")
    assert archive.cli("run", "--once").returncode == 0
    polled = server.hits("/live")
    assert archive.cli("run", "--once").returncode == 0 and server.hits("/live") == polled
    ahead = utcnow() + timedelta(days=2)  # what the clock ahead recorded
    engine = create_engine(archive.db_url)
    with Session(engine) as session, session.begin():
        session.execute(
            update(Source).values(last_polled_at=ahead, next_poll_at=ahead + timedelta(minutes=10))
        )
        session.execute(update(CaptureJob).values(state="failed", next_attempt_at=ahead))
    engine.dispose()

    result = archive.cli("--log-level", "info", "run", "--once")

    assert "event=daemon.clock_set_back" in result.stderr
    assert server.hits("/live") > polled  # polled again now, not in two days
    (source,) = archive.query(select(Source))
    assert source.next_poll_at < ahead  # type: ignore[attr-defined]
    assert all(job.state == "done" for job in archive.query(select(CaptureJob)))  # type: ignore[attr-defined]

    # the log's times stay ahead, so the next start sees the set-back again: a retry the
    # corrected clock scheduled within its backoff is not run early (a daemon restarted
    # in a loop spent a job's attempts in minutes)
    engine = create_engine(archive.db_url)
    with Session(engine) as session, session.begin():
        later = utcnow() + timedelta(minutes=16)
        session.execute(
            update(CaptureJob).values(state="failed", attempts=5, next_attempt_at=later)
        )
        session.execute(update(Source).values(last_polled_at=ahead))  # as the log's are
    engine.dispose()
    again = archive.cli("--log-level", "info", "run", "--once")
    assert "event=daemon.clock_set_back" in again.stderr
    assert {(job.state, job.attempts) for job in archive.query(select(CaptureJob))} == {  # type: ignore[attr-defined]
        ("failed", 5)
    }


def _faketime() -> str:
    """Debian's libfaketime (dev.py installs it): a process's wall clock, set at will."""
    found = sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))
    assert found, "libfaketime is missing: python3 dev.py test installs it"
    return str(found[0])


def test_a_running_daemon_whose_clock_is_set_back_polls_on(
    archive: Archive,
    server: FixtureServer,
    daemons: list[subprocess.Popen[bytes]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its clock an hour ahead, then set right: APScheduler's turns follow the wall
    clock, so the next poll waited the hour out, and a source added meanwhile too."""
    server.add_page("/live", "<article><p>Nothing yet.</p></article>")
    clock_file = tmp_path / "clock"
    clock_file.write_text("+1h\n")
    monkeypatch.setenv("LD_PRELOAD", _faketime())
    monkeypatch.setenv("FAKETIME_TIMESTAMP_FILE", str(clock_file))
    monkeypatch.setenv("FAKETIME_NO_CACHE", "1")
    monkeypatch.setenv("DONT_FAKE_MONOTONIC", "1")
    daemons.append(start_daemon(archive.config, log=archive.log))
    wait_for(lambda: "event=daemon.ready" in archive.log.read_text(), what="the daemon")
    clock_file.write_text("+0\n")  # NTP steps the clock back an hour
    for name in ("LD_PRELOAD", "FAKETIME_TIMESTAMP_FILE"):
        monkeypatch.delenv(name)
    archive.cli("source", "add", server.url("/live"), "--every", "1h")  # due now
    wait_for(lambda: server.hits("/live"), timeout=30, what="a poll")
    assert "event=daemon.clock_set_back" in archive.log.read_text()


def test_the_clock_watch_sees_the_wall_clock_set_back(monkeypatch: pytest.MonkeyPatch) -> None:
    wall = [1_000_000.0]
    monkeypatch.setattr(clock.time, "time", lambda: wall[0])
    watch = clock.ClockWatch()
    wall[0] -= 30  # within a minute: NTP's business
    assert watch.set_back() == 0.0
    wall[0] -= 3600
    assert watch.set_back() == pytest.approx(3600, abs=1)
    wall[0] += 7200  # set forward: what is overdue runs anyway
    assert watch.set_back() == 0.0


def test_live_page_update_is_archived_and_a_removed_embed_is_recorded(
    archive: Archive, server: FixtureServer, media: MediaSet, daemons: list[subprocess.Popen[bytes]]
) -> None:
    server.add_file("/media/photo_a.jpg", media.photo_a)
    server.add_file("/media/photo_b.jpg", media.photo_b)
    first = "<article><p>ORIGINAL ENTRY: Smoke:</p><img src='/media/photo_a.jpg'></article>"
    server.add_page("/live", first)
    archive.cli("source", "add", server.url("/live"), "--every", "1s", "--kind", "page")
    daemons.append(start_daemon(archive.config, log=archive.log))

    wait_for(lambda: archive.query(select(Media.sha256)), what="first embed archived")
    changed = time.monotonic()
    server.add_page(
        "/live",
        "<article><p>UPDATE 1800 GMT: The Citadel:</p><img src='/media/photo_b.jpg'></article>",
    )
    wait_for(lambda: len(archive.query(select(Media.sha256))) == 2, what="new update archived")
    assert time.monotonic() - changed < 2 * 1 + 2  # within two intervals (plus a tick)
    removed = wait_for(
        lambda: archive.query(select(Embed).where(Embed.removed_at.is_not(None))), what="removal"
    )
    assert [e.url for e in removed] == [server.url("/media/photo_a.jpg")]  # type: ignore[attr-defined]

    # SIGHUP asks for a reload there is none of: the daemon goes on (it died at once,
    # and systemd, counting that a clean exit, left the service down)
    daemons[0].send_signal(signal.SIGHUP)
    wait_for(lambda: "signal=SIGHUP" in archive.log.read_text(), what="the SIGHUP answered")
    time.sleep(0.5)
    assert daemons[0].poll() is None
    daemons[0].send_signal(signal.SIGTERM)
    assert daemons[0].wait(timeout=20) == 0


def test_sigterm_during_a_slow_download_exits_cleanly_and_requeues(
    archive: Archive, server: FixtureServer, media: MediaSet, daemons: list[subprocess.Popen[bytes]]
) -> None:
    data = media.clip_a.read_bytes()
    server.add_slow("/media/slow.mp4", data, delay_per_chunk=0.5, chunk_size=1024)
    server.add_page("/page", "<article><p>Slow:</p><video src='/media/slow.mp4'></video></article>")
    archive.cli("source", "add", server.url("/page"), "--every", "1h")
    daemon = start_daemon(archive.config, log=archive.log)
    daemons.append(daemon)

    wait_for(lambda: server.hits("/media/slow.mp4"), what="download started")
    time.sleep(0.5)
    stopped = time.monotonic()
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=30) == 0
    assert time.monotonic() - stopped < 3 + 10  # the grace period, then a prompt abort
    (job,) = archive.query(select(CaptureJob).where(CaptureJob.embed_id.is_not(None)))
    assert job.state == "pending" and job.attempts == 0 and job.lease_owner is None  # type: ignore[attr-defined]
    assert archive.debris() == []
    assert not list((archive.root / "media").rglob("original.*"))
    log = archive.log.read_text()
    assert "event=daemon.stopped" in log and "Traceback" not in log


def test_sigterm_during_a_poll_of_run_once_ends_it_and_the_poll_is_no_error(
    archive: Archive, server: FixtureServer, daemons: list[subprocess.Popen[bytes]]
) -> None:
    """`run --once` waited for its polls whatever it was told: a source answering
    slowly held a SIGTERM up to its read time-out, and the poll cut short then was
    recorded as an error, with backoff."""
    server.add_slow("/page", b"<article><p>Slow.</p></article>" * 2000, 0.5, 1024)
    archive.cli("source", "add", server.url("/page"), "--every", "1h")
    daemon = start_daemon(archive.config, "--once", log=archive.log)
    daemons.append(daemon)
    wait_for(lambda: server.hits("/page"), what="the poll started")
    stopped = time.monotonic()
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=30) == 0
    assert time.monotonic() - stopped < 3 + 10  # the grace period, then a prompt abort
    (source,) = archive.query(select(Source))
    assert source.last_result != "error", source.last_error  # type: ignore[attr-defined]


def test_kill_9_during_a_poll_then_restart_polls_the_source_at_once(
    tmp_path: Path, db_url: str, server: FixtureServer, daemons: list[subprocess.Popen[bytes]]
) -> None:
    """The claim a daemon killed mid-poll left held the source five minutes, against
    its own restart too: a daemon in a crash loop (the OOM killer, the watchdog) polled
    its live pages every five minutes whatever their interval."""
    archive = Archive(tmp_path / "storage", db_url, liveness={"enabled": False})
    server.add_slow("/live", b"<article><p>Shelling resumed.</p></article>" * 2000, 0.5, 1024)
    archive.cli("source", "add", server.url("/live"), "--every", "1m", "--kind", "page")
    daemon = start_daemon(archive.config, log=archive.log)
    daemons.append(daemon)
    wait_for(lambda: server.hits("/live"), what="the poll started")
    daemon.kill()
    daemon.wait()
    (held,) = archive.query(select(Source.claimed_by))
    assert held == f"{socket.gethostname()}:{daemon.pid}"

    server.add_page("/live", "<article><p>Shelling resumed.</p></article>")
    result = archive.cli("--log-level", "info", "run", "--once")

    assert result.returncode == 0, result.stderr
    assert server.hits("/live") == 2
    assert "recovered_sources=1" in result.stderr
    (source,) = archive.query(select(Source))
    assert source.last_result == "changed" and source.claimed_by is None  # type: ignore[attr-defined]


def test_kill_9_during_a_download_then_restart_finishes_with_one_copy(
    archive: Archive, server: FixtureServer, media: MediaSet, daemons: list[subprocess.Popen[bytes]]
) -> None:
    data = media.clip_b.read_bytes()
    server.add_slow("/media/clip.mp4", data, delay_per_chunk=0.2, chunk_size=4096)
    server.add_page(
        "/page", "<article><p>Footage:</p><video src='/media/clip.mp4'></video></article>"
    )
    archive.cli("source", "add", server.url("/page"), "--every", "1h")
    daemon = start_daemon(archive.config, log=archive.log)
    daemons.append(daemon)
    wait_for(lambda: server.hits("/media/clip.mp4"), what="download started")
    time.sleep(1.0)
    daemon.kill()
    daemon.wait()
    assert list((archive.root / "tmp").rglob("*.part"))  # the kill left a partial file behind

    server.add_file("/media/clip.mp4", media.clip_b)
    result = archive.cli("run", "--once")
    assert result.returncode == 0, result.stderr
    originals = list((archive.root / "media").rglob("original.*"))
    assert len(originals) == 1 and originals[0].read_bytes() == data
    assert archive.debris() == []
    (job,) = archive.query(select(CaptureJob).where(CaptureJob.embed_id.is_not(None)))
    assert job.state == "done"  # type: ignore[attr-defined]


def test_a_second_daemon_on_one_sqlite_archive_is_refused(
    archive: Archive, server: FixtureServer, daemons: list[subprocess.Popen[bytes]]
) -> None:
    daemons.append(start_daemon(archive.config, log=archive.log))
    wait_for(lambda: "event=daemon.ready" in archive.log.read_text(), what="daemon ready")
    second = run_cli(archive.config, "run", "--once")
    assert second.returncode == 1
    assert "already running" in second.stderr and "Traceback" not in second.stderr


def test_two_daemons_on_postgresql_share_the_queue_without_doing_a_job_twice(
    tmp_path: Path, pg_url: str, server: FixtureServer, daemons: list[subprocess.Popen[bytes]]
) -> None:
    photos = [make_photo(tmp_path / f"p{i}.jpg", seed=i, size=(96, 72)) for i in range(50)]
    for i, photo in enumerate(photos):
        server.add_slow(f"/p/{i}.jpg", photo.read_bytes(), delay_per_chunk=0.05, chunk_size=2048)
    server.add_page(
        "/fifty",
        "<article><p>Fifty:</p>"
        + "".join(f"<img src='/p/{i}.jpg'>" for i in range(50))
        + "</article>",
    )
    shared = tmp_path / "shared"
    config = Archive(
        shared,
        pg_url,
        daemon={"tick": 0.1},
        download={"concurrency": 4},
        liveness={"enabled": False},  # only the downloads may hit the photos
    )
    config.cli("source", "add", server.url("/fifty"), "--every", "1h", "--kind", "page")
    logs = [tmp_path / "one.log", tmp_path / "two.log"]
    for log in logs:
        daemons.append(start_daemon(config.config, log=log))

    wait_for(lambda: len(config.query(select(Media.id))) == 50, timeout=90, what="50 files")
    for daemon in daemons:
        daemon.send_signal(signal.SIGTERM)
    assert [d.wait(timeout=30) for d in daemons] == [0, 0]

    assert [server.hits(f"/p/{i}.jpg") for i in range(50)] == [1] * 50
    done = [log.read_text().count("event=capture.done") for log in logs]
    assert sum(done) == 50 and all(done), done  # both daemons worked, nothing twice
    jobs = config.query(select(CaptureJob).where(CaptureJob.embed_id.is_not(None)))
    assert sorted((j.state, j.attempts) for j in jobs) == [("done", 1)] * 50  # type: ignore[attr-defined]
    assert server.hits("/fifty") == 1


def test_bad_sources_back_off_and_the_others_keep_going(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    server.add_file("/media/photo_c.jpg", media.photo_c)
    server.add_page("/good", "<article><p>Fine:</p><img src='/media/photo_c.jpg'></article>")
    server.add_status("/broken", 500)
    server.add_retry_after("/busy", status=503, retry_after="120")
    server.add_bytes(
        "/bad-feed", b"<?xml version='1.0'?><rss><channel><item><title>x", "application/rss+xml"
    )
    server.add_bytes("/huge", b"<html>" + b"x" * (3 * 1024 * 1024), "text/html")
    server.add_slow("/trickle", b"<html>" + b"x" * 4096, delay_per_chunk=0.5, chunk_size=16)
    for path in ("/good", "/broken", "/busy", "/bad-feed", "/huge", "/trickle"):
        archive.cli("source", "add", server.url(path), "--every", "10s")
    limited = Archive(
        archive.root, network={"max_page_size": "1MiB", "page_deadline": 2, "read_timeout": 2}
    )
    started = time.monotonic()
    result = limited.cli("run", "--once")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 30

    sources = {s.url.rsplit("/", 1)[1]: s for s in limited.query(select(Source))}  # type: ignore[attr-defined]
    assert sources["good"].last_result == "changed"
    assert len(limited.query(select(Media.id))) == 1
    reasons = {name: s.last_error for name, s in sources.items() if s.last_result == "error"}
    assert set(reasons) == {"broken", "busy", "bad-feed", "huge", "trickle"}
    assert "HTTP 500" in reasons["broken"]
    assert "malformed feed" in reasons["bad-feed"]
    assert "too large" in reasons["huge"]
    assert "took longer" in reasons["trickle"] or "timed out" in reasons["trickle"]
    for name in reasons:
        assert sources[name].consecutive_errors == 1
        assert "\n" not in reasons[name]
    busy_wait = sources["busy"].next_poll_at - sources["busy"].last_polled_at
    assert busy_wait.total_seconds() >= 120  # Retry-After honoured
    broken_wait = sources["broken"].next_poll_at - sources["broken"].last_polled_at
    assert broken_wait.total_seconds() >= 20  # backoff: twice the interval
    assert "Traceback" not in result.stderr


def test_conditional_get_skips_unchanged_sources(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    archive = Archive(tmp_path / "storage", liveness={"enabled": False})  # only the polls hit /page
    server.add_file("/media/photo_a.jpg", media.photo_a)
    server.add_page("/page", "<article><p>One:</p><img src='/media/photo_a.jpg'></article>")
    archive.cli("source", "add", server.url("/page"), "--every", "1s")
    archive.cli("run", "--once")
    time.sleep(1.2)
    archive.cli("run", "--once")
    first, second = [r for r in server.requests if r.path == "/page"]
    assert "if-none-match" not in first.headers
    assert second.headers["if-none-match"]
    (source,) = archive.query(select(Source))
    assert source.last_result == "unchanged"  # type: ignore[attr-defined]

    # answered 304 for a day: fetched whole once, in case the validators never move
    engine = create_engine(archive.db_url)
    with engine.begin() as connection:
        day_ago = utcnow() - timedelta(days=1, seconds=1)
        connection.execute(update(Source).values(fetched_whole_at=day_ago))
    engine.dispose()
    time.sleep(1.2)
    archive.cli("run", "--once")
    third = [r for r in server.requests if r.path == "/page"][2]
    assert "if-none-match" not in third.headers and "if-modified-since" not in third.headers
    (source,) = archive.query(select(Source))
    assert utcnow() - source.fetched_whole_at < timedelta(minutes=1)  # type: ignore[attr-defined]

    # fetched whole "tomorrow", by a clock that was ahead: not recent, so fetched whole
    # (it waited for the clock to catch up, the new entries hidden behind 304s)
    engine = create_engine(archive.db_url)
    with engine.begin() as connection:
        connection.execute(update(Source).values(fetched_whole_at=utcnow() + timedelta(days=1)))
    engine.dispose()
    time.sleep(1.2)
    archive.cli("run", "--once")
    fourth = [r for r in server.requests if r.path == "/page"][3]
    assert "if-none-match" not in fourth.headers


def test_sources_from_the_config_file_are_synced(tmp_path: Path, server: FixtureServer) -> None:
    server.add_page("/a", "<article><p>a</p></article>")
    entries = [{"url": server.url("/a"), "every": "5m", "name": "Syria Daily", "kind": "page"}]
    archive = Archive(tmp_path / "storage", sources=entries)
    archive.cli("run", "--once")
    listed = json.loads(archive.cli("source", "list", "--json").stdout)
    assert [(s["url"], s["every_seconds"], s["name"], s["from_config"]) for s in listed] == [
        (server.url("/a"), 300.0, "Syria Daily", True)
    ]


def test_source_commands(archive: Archive, server: FixtureServer) -> None:
    url = server.url("/feed")
    assert archive.cli("source", "add", url, "--every", "10m", "--name", "Feed").returncode == 0
    assert archive.cli("source", "pause", "1").returncode == 0
    (listed,) = json.loads(archive.cli("source", "list", "--json").stdout)
    assert listed["paused"] and listed["every_seconds"] == 600 and listed["name"] == "Feed"
    assert archive.cli("source", "resume", url).returncode == 0
    assert archive.cli("source", "remove", url).returncode == 0
    assert json.loads(archive.cli("source", "list", "--json").stdout) == []
    bad = run_cli(archive.config, "source", "add", url, "--every", "soon")
    assert bad.returncode == 2 and "not a duration" in bad.stderr
    for ref in ("42", "3000000000", "9223372036854775808", "9" * 5000):  # were tracebacks
        missing = run_cli(archive.config, "source", "remove", ref)
        assert missing.returncode == 2 and f"no source '{ref}'" in missing.stderr, missing.stderr


def test_the_daemon_serves_the_web_app_on_loopback(
    tmp_path: Path, daemons: list[subprocess.Popen[bytes]]
) -> None:
    import socket

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    archive = Archive(tmp_path / "storage", web={"enabled": True, "port": port})
    daemons.append(start_daemon(archive.config, log=archive.log))
    wait_for(lambda: "event=daemon.ready" in archive.log.read_text(), what="daemon ready")
    response = httpx.get(f"http://127.0.0.1:{port}/api/search", timeout=10)
    assert response.status_code == 200 and response.json() == []
    daemons[0].send_signal(signal.SIGTERM)
    assert daemons[0].wait(timeout=30) == 0
    assert "event=web.stopped" in archive.log.read_text()


def test_the_first_fixity_check_comes_soon_after_the_start(
    tmp_path: Path, server: FixtureServer, media: MediaSet, daemons: list[subprocess.Popen[bytes]]
) -> None:
    """It came an hour after the start: a daemon restarted more often than that (a
    crash loop, a host rebooted each night) never re-hashed its archive."""
    server.add_file("/m/photo.jpg", media.photo_a)
    server.add_page("/p", "<article><p>The market:</p><img src='/m/photo.jpg'></article>")
    tick = 0.05  # the first turn 60 ticks after the start: 3 s
    archive = Archive(
        tmp_path / "storage", daemon={"tick": tick, "shutdown_grace": 3}, fixity={"enabled": True}
    )
    assert archive.cli("capture", server.url("/p")).returncode == 0
    daemons.append(start_daemon(archive.config, log=archive.log))
    wait_for(lambda: "event=fixity.done" in archive.log.read_text(), what="a fixity check")
    daemons[0].send_signal(signal.SIGTERM)
    assert daemons[0].wait(timeout=30) == 0
    (line,) = [x for x in archive.log.read_text().splitlines() if "event=fixity.done" in x]
    assert "ok=true" in line and 'scope="part ' in line, line  # the slice due today


# --- a crash between a commit and the sidecar it changed --------------------------------------

DIE_AT = """
import os, sys, time
import archiver.capture as capture
moment = sys.argv[1]
written, placed, paged = capture.write_sidecar, capture.place_original, capture.place_page
def write_or_die(directory, document, tmp):
    near = document.get("near_duplicates") or {}
    if (moment == "page" and "pages" in document) or (moment == "group" and near.get("group_id")):
        os._exit(9)  # as kill -9: nothing after the commit runs
    written(directory, document, tmp)
def place_and_die(*args, **kwargs):
    if moment == "placed after a pause":  # another process starts meanwhile
        pause = os.environ["PAUSE_AT"]
        open(pause + ".paused", "w").close()
        while not os.path.exists(pause + ".go"):
            time.sleep(0.02)
    placed(*args, **kwargs)
    os._exit(9)  # linked into media/, not yet indexed
def page_and_die(*args):
    paged(*args)
    os._exit(9)  # linked into pages/, not yet indexed
def fingerprint_and_die(*args):
    os._exit(9)  # indexed, its sidecar written, not yet fingerprinted
capture.write_sidecar = write_or_die
if moment == "fingerprinting":
    import archiver.duplicates as duplicates
    duplicates.DuplicateFinder.process = fingerprint_and_die
if moment.startswith("placed"):
    capture.place_original = place_and_die
if moment == "page placed":
    capture.place_page = page_and_die
from archiver.cli import main
sys.argv = ["archiver", *sys.argv[2:]]
main()
"""


def die_capturing(config: Path, url: str, moment: str) -> None:
    """``archiver capture URL``, killed at ``moment`` (see DIE_AT)."""
    died = subprocess.run(
        [sys.executable, "-c", DIE_AT, moment, "--config", str(config), "capture", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert died.returncode == 9, died.stderr


@pytest.mark.parametrize("moment", ["page", "group"])
def test_sidecars_a_crash_left_stale_are_rewritten_at_the_next_start(
    tmp_path: Path, server: FixtureServer, media: MediaSet, moment: str
) -> None:
    """Sidecars are written after the commit that changes what they say. A crash in
    between left a page version without a sidecar for good, or the earlier member of a
    near-duplicate group with a sidecar that knew no group: a retry found the index
    done and rewrote nothing, and a page that had changed meanwhile stored its new
    version beside the old one without a sidecar."""
    copy = make_photo(tmp_path / "copy.jpg", seed=0, quality=60)  # photo_a, re-encoded
    server.add_file("/p/a.jpg", media.photo_a)
    server.add_file("/p/copy.jpg", copy)
    live = "<article><p>The square:</p><img src='/p/a.jpg'><p>Again:</p><img src='/p/copy.jpg'>"
    server.add_page("/live", live + "</article>")
    config = write_config(tmp_path / "archiver.toml", settings(tmp_path / "storage"))
    die_capturing(config, server.url("/live"), moment)
    # verify finishes what the crash left owed first, as any start does: reported, it
    # read as damage ("sidecar is missing") that the next start repaired by itself
    assert run_cli(config, "verify").returncode == 0
    server.add_page("/live", live + "<p>UPDATE 1900 GMT: calm.</p></article>")  # a new version

    run_cli(config, "run", "--once")
    assert run_cli(config, "verify").returncode == 0
    groups = {
        json.loads(sidecar.read_text())["near_duplicates"]["group_id"]
        for sidecar in (tmp_path / "storage" / "media").rglob("provenance.json")
    }
    assert groups == {1}  # the page's files were captured after all, and matched


@pytest.mark.parametrize("restart", ["run --once", "capture", "verify"])
def test_a_file_placed_but_not_indexed_when_the_process_died_is_indexed_at_the_next_start(
    tmp_path: Path, server: FixtureServer, media: MediaSet, restart: str
) -> None:
    """Killed after the file was linked into media/ and before its index commit, and
    the post deleted before the retry: the evidence stayed on disk with no provenance,
    found by no search, and `verify` named it an orphan for good. The daemon's start
    indexes it, and so does the next `archiver capture` where no daemon runs, dated
    when it was downloaded (it was dated when that start indexed it), and `verify`
    before it checks (it reported an orphan the next start would index)."""
    server.add_file("/p/a.jpg", media.photo_a)
    server.add_page("/live", "<article><p>Smoke over the port:</p><img src='/p/a.jpg'></article>")
    server.add_page("/other", "<article><p>Nothing to see.</p></article>")
    config = write_config(tmp_path / "archiver.toml", settings(tmp_path / "storage"))
    die_capturing(config, server.url("/live"), "placed")
    server.add_status("/p/a.jpg", 404)  # gone before the retry

    restarted = datetime.now(UTC)
    if restart == "capture":
        run_cli(config, "capture", server.url("/other"))
    elif restart == "run --once":
        run_cli(config, "run", "--once")
    assert run_cli(config, "verify").returncode == 0
    (found,) = json.loads(run_cli(config, "search", "--json").stdout)
    (sighting,) = found["sightings"]
    assert sighting["context"] == "Smoke over the port:"
    assert sighting["media_url"] == server.url("/p/a.jpg")
    downloaded = datetime.fromisoformat(found["first_captured_at"])
    assert downloaded == datetime.fromisoformat(sighting["first_seen_at"]) < restarted
    # its job is done: run again, it said "gone" beside the file it had archived
    again = run_cli(config, "capture", server.url("/live"), "--json")
    assert again.returncode == 0, again.stdout
    (item,) = json.loads(again.stdout)["items"]
    assert item["status"] == "already" and item["files"][0]["sha256"] == found["sha256"]


def test_a_process_starting_beside_a_capture_leaves_its_placement_to_it(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """Each process's start settled every placement intent: a capture started while
    another was between its intent and its link dropped that intent (the file was not
    there yet), and when the first then died after linking, its evidence stayed in
    media/ unindexed, an orphan for good once the post was gone."""
    server.add_file("/p/a.jpg", media.photo_a)
    server.add_page("/live", "<article><p>Smoke over the port:</p><img src='/p/a.jpg'></article>")
    server.add_page("/other", "<article><p>Nothing to see.</p></article>")
    config = write_config(tmp_path / "archiver.toml", settings(tmp_path / "storage"))
    pause = tmp_path / "pause"
    command = ["--config", str(config), "capture", server.url("/live")]
    first = subprocess.Popen(
        [sys.executable, "-c", DIE_AT, "placed after a pause", *command],
        env={**os.environ, "PAUSE_AT": str(pause)},
        stderr=subprocess.PIPE,
    )
    wait_for(lambda: Path(f"{pause}.paused").exists(), what="the intent, before the link")
    assert run_cli(config, "capture", server.url("/other")).returncode == 0  # starts beside it
    Path(f"{pause}.go").touch()
    assert first.wait(timeout=60) == 9
    server.add_status("/p/a.jpg", 404)  # gone before the retry

    run_cli(config, "run", "--once")
    checked = run_cli(config, "verify")
    assert checked.returncode == 0, checked.stdout
    (found,) = json.loads(run_cli(config, "search", "--json").stdout)
    assert found["sightings"][0]["context"] == "Smoke over the port:"


def test_a_capture_killed_while_fingerprinting_a_file_is_finished_not_downloaded_again(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """Killed (the OOM killer, kill -9) while a file it had indexed was fingerprinted:
    the job, run again at the next start, downloaded the file again and, its post
    deleted meanwhile, ended "gone" beside the file it had archived."""
    archive = Archive(tmp_path / "storage", liveness={"enabled": False})  # no checks' hits
    server.add_file("/p/a.jpg", media.photo_a)
    server.add_page("/live", "<article><p>Smoke over the port:</p><img src='/p/a.jpg'></article>")
    die_capturing(archive.config, server.url("/live"), "fingerprinting")
    server.add_status("/p/a.jpg", 404)

    archive.cli("run", "--once")
    assert server.hits("/p/a.jpg") == 1
    (job,) = archive.query(select(CaptureJob).where(CaptureJob.embed_id.is_not(None)))
    assert (job.state, job.last_error) == ("done", None)  # type: ignore[attr-defined]
    assert archive.query(select(Fingerprint.kind)) == ["image"]
    assert archive.cli("verify").returncode == 0


@pytest.mark.parametrize("writer", ["pid reused", "lease passed"])
def test_a_file_left_placed_by_a_writer_whose_pid_lives_on_is_indexed(
    tmp_path: Path, server: FixtureServer, media: MediaSet, writer: str
) -> None:
    """A power cut between linking a photo into media/ and indexing it; after the
    reboot, a live process had the dead capture's pid. Its intent was kept for that
    process, and its job for its lease: run again, the job ended "gone" (the post was
    deleted meanwhile), and the photo stayed on disk out of the index."""
    lease = "10m" if writer == "pid reused" else "1s"
    archive = Archive(tmp_path / "storage", daemon={"lease": lease}, liveness={"enabled": False})
    server.add_file("/p/a.jpg", media.photo_a)
    server.add_page("/live", "<article><p>Smoke over the port:</p><img src='/p/a.jpg'></article>")
    die_capturing(archive.config, server.url("/live"), "placed")
    server.add_status("/p/a.jpg", 404)
    time.sleep(1)  # /proc tells when a process started to the second
    reused = subprocess.Popen(["sleep", "60"])  # started after the dead capture's work
    try:
        if writer == "pid reused":  # its job and its intent
            owner = f"{socket.gethostname()}:{reused.pid}"
            held = CaptureJob.lease_owner.is_not(None)
            archive.execute(update(CaptureJob).where(held).values(lease_owner=owner))
        else:  # alive, and older than the intent: only the intent's age tells
            owner = f"{socket.gethostname()}:{os.getpid()}"
        archive.execute(update(Placement).values(owner=owner))
        archive.cli("run", "--once")
    finally:
        reused.kill()
        reused.wait()
    assert server.hits("/p/a.jpg") == 1
    assert archive.query(select(Media.sha256)) == [
        hashlib.sha256(media.photo_a.read_bytes()).hexdigest()
    ]
    (job,) = archive.query(select(CaptureJob).where(CaptureJob.embed_id.is_not(None)))
    assert job.state == "done"  # type: ignore[attr-defined]


def test_a_running_daemon_indexes_what_a_capture_killed_beside_it_left_placed(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """``archiver capture`` killed beside a daemon that runs for months, between linking
    a photo into media/ and indexing it: only a start settled what a crash left, so the
    daemon took the job over once its lease ran out and, the post deleted meanwhile, it
    ended "gone", the photo in media/ out of the index until the daemon's next start."""
    server.add_file("/p/a.jpg", media.photo_a)
    server.add_page("/live", "<article><p>Smoke over the port:</p><img src='/p/a.jpg'></article>")
    data = settings(tmp_path / "storage", daemon={"lease": "1s"})
    config = write_config(tmp_path / "archiver.toml", data)
    with OpenArchive.open(config_from_dict(data)) as opened:
        daemon = Daemon(opened)
        daemon.prepare()  # up before the capture runs
        die_capturing(config, server.url("/live"), "placed")
        server.add_status("/p/a.jpg", 404)
        time.sleep(1.0)  # the capture's leases run out
        daemon.drain()
        wait(list(daemon.inflight.values()))
        daemon.shutdown()
        with opened.read_session() as session:
            indexed = session.scalars(select(Media.sha256)).all()
            job = session.scalars(select(CaptureJob).where(CaptureJob.embed_id.is_not(None))).one()
            state = job.state
    assert indexed == [hashlib.sha256(media.photo_a.read_bytes()).hexdigest()]
    assert state == "done" and server.hits("/p/a.jpg") == 1


def test_a_running_daemon_rewrites_the_sidecars_a_capture_killed_beside_it_left_stale(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """``archiver capture`` killed beside a running daemon after matching a copy to an
    earlier photo, before rewriting the earlier one's sidecar: only a start rewrote
    what a crash left owed, so for as long as the daemon ran that sidecar knew no
    group (its job done, nothing ran it again)."""
    copy = make_photo(tmp_path / "copy.jpg", seed=0, quality=60)  # photo_a, re-encoded
    server.add_file("/p/a.jpg", media.photo_a)
    server.add_file("/p/copy.jpg", copy)
    live = "<article><p>The square:</p><img src='/p/a.jpg'><p>Again:</p><img src='/p/copy.jpg'>"
    server.add_page("/live", live + "</article>")
    data = settings(tmp_path / "storage", daemon={"lease": "1s"})
    config = write_config(tmp_path / "archiver.toml", data)
    with OpenArchive.open(config_from_dict(data)) as opened:
        daemon = Daemon(opened)
        daemon.prepare()  # up before the capture runs
        die_capturing(config, server.url("/live"), "group")
        daemon.settle_leftovers()  # the debt is seen: its writer may still pay it
        time.sleep(0.4)  # a third of a lease
        daemon.settle_leftovers()
        daemon.shutdown()
    sidecar = opened.layout.media_dir(hashlib.sha256(media.photo_a.read_bytes()).hexdigest())
    document = json.loads((sidecar / "provenance.json").read_text())
    assert document["near_duplicates"]["group_id"] is not None


def test_a_running_daemon_settles_more_owed_sidecars_than_a_query_can_name(
    tmp_path: Path, server: FixtureServer, media: MediaSet, pg_url: str
) -> None:
    """Debts piled up over a long full disk: naming each in the query passed
    PostgreSQL's 65,535 parameters (SQLite takes more), and every rewrite failed."""
    server.add_file("/p/a.jpg", media.photo_a)
    server.add_page("/live", "<article><p>Smoke over the port:</p><img src='/p/a.jpg'></article>")
    data = settings(tmp_path / "storage", pg_url, daemon={"lease": "1s"})
    with OpenArchive.open(config_from_dict(data)) as opened:
        daemon = Daemon(opened)
        daemon.prepare()
        daemon.capturer.capture_url(server.url("/live"))
        with opened.session() as session:
            media_id = session.scalars(select(Media.id)).one()
            session.execute(insert(SidecarDebt), [{"media_id": media_id}] * 70_000)
        daemon.settle_leftovers()  # the debts are seen
        time.sleep(0.4)  # a third of a lease
        daemon.settle_leftovers()
        daemon.shutdown()
        with opened.read_session() as session:
            assert session.scalar(select(func.count()).select_from(SidecarDebt)) == 0


def test_a_page_version_placed_but_not_indexed_when_the_process_died_is_kept(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """Killed after a page version was linked into pages/ and before its index commit,
    and the page changed before the retry: that version stayed an orphan for good, and
    once kept, the photo only it held was never captured."""
    server.add_file("/p/a.jpg", media.photo_a)
    server.add_page("/live", "<article><p>Smoke over the port:</p><img src='/p/a.jpg'></article>")
    config = write_config(tmp_path / "archiver.toml", settings(tmp_path / "storage"))
    die_capturing(config, server.url("/live"), "page placed")
    server.add_page("/live", "<article><p>UPDATE: the post was taken down.</p></article>")

    run_cli(config, "capture", server.url("/live"))
    run_cli(config, "run", "--once")
    checked = run_cli(config, "verify", "--json")
    assert checked.returncode == 0, checked.stdout
    assert json.loads(checked.stdout)["pages"] == 2  # the first version too, with its sidecar
    (found,) = json.loads(run_cli(config, "search", "--json").stdout)
    assert found["sha256"] == hashlib.sha256(media.photo_a.read_bytes()).hexdigest()
    assert found["sightings"][0]["context"] == "Smoke over the port:"


def _daemon_with_embeds(
    tmp_path: Path, server: FixtureServer, media: MediaSet, count: int
) -> Daemon:
    """A daemon (not started) whose archive holds a page of ``count`` photos."""
    for n in range(count):
        server.add_file(f"/p/{n}.jpg", media.photo_a)
    data = settings(tmp_path / "storage", liveness={"concurrency": 2, "per_host_rate": 1000})
    archive = OpenArchive.open(config_from_dict(data))
    body = "".join(f"<img src='{server.url(f'/p/{n}.jpg')}'>" for n in range(count))
    with archive.session() as session:
        page = upsert_page(session, "https://news.example/live", None, utcnow())
        for found in extract_embeds(f"<article><p>P:</p>{body}</article>", page.url).embeds:
            upsert_embed(session, page, found, utcnow())
    return Daemon(archive)


def _finish_checks(daemon: Daemon) -> list[LinkCheck]:
    """Wait for the checks in flight and their results; every check row."""
    assert daemon.checker is not None
    wait(list(daemon.checking), timeout=10)
    daemon.checker.flush()
    with daemon.archive.read_session() as session:
        return list(session.scalars(select(LinkCheck)))


def test_a_liveness_turn_runs_every_due_check_claiming_more_as_checks_end(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """The turn claimed twice the workers' checks once, every ten seconds: with two
    workers, 24 checks a minute however fast they ran (16 workers: 192 a minute)."""
    daemon = _daemon_with_embeds(tmp_path, server, media, 30)
    try:
        started = daemon.check_links()
        checks = _finish_checks(daemon)
    finally:
        daemon.shutdown()
        daemon.archive.close()
    assert started == len(checks) == 31  # the photos and their page
    assert all(check.checked_at is not None for check in checks)


def test_a_check_that_crashes_in_the_daemon_is_logged(
    tmp_path: Path, server: FixtureServer, media: MediaSet, caplog: pytest.LogCaptureFixture
) -> None:
    """The exception of a check's future was never looked at: no log line, and the
    URL claimed again every ten minutes, "unchecked" for ever."""
    daemon = _daemon_with_embeds(tmp_path, server, media, 1)
    assert daemon.checker is not None

    def crash(target: object) -> object:
        raise RuntimeError("a bug")

    daemon.checker.check = crash  # type: ignore[method-assign]
    try:
        with caplog.at_level(logging.ERROR, logger="archiver"):
            daemon.check_links()
            _finish_checks(daemon)
    finally:
        daemon.shutdown()
        daemon.archive.close()
    crashed = [r for r in caplog.records if "crashed" in r.getMessage()]
    assert crashed and all(r.exc_info for r in crashed)
    assert server.url("/p/0.jpg") in caplog.text
