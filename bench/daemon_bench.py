"""Daemon benchmarks: a 304 sweep of 1,000 sources, a memory soak, job-claim latency.

Run from the repository root (PostgreSQL at 127.0.0.1:5432, trust auth, database ``test``):

    .venv/bin/python bench/daemon_bench.py                  # everything, 10-minute soak
    .venv/bin/python bench/daemon_bench.py --quick          # 1-minute soak, fewer items
    .venv/bin/python bench/daemon_bench.py --only sweep     # or: soak, claim
    .venv/bin/python bench/daemon_bench.py --soak-minutes 3

Every request goes to local HTTP servers on 127.0.0.x (``tests/support/server.py``);
PostgreSQL work happens in a schema of its own (``bench_<hex>``) that is dropped at the
end; archives live in a temporary directory that is removed. Each part stops by itself.
The exit status is 0 whatever the verdicts: read the table.

What is measured
----------------
1. **Sweep** (target: 200+ sources/s). 1,000 RSS feeds spread round-robin over 20 hosts
   (127.0.0.10-29, 50 feeds each), served by a separate process so that the servers
   share no interpreter with the code being timed. Every feed is polled once first
   (``archiver run --once``: it stores each feed's ETag and archives its entry page);
   then every source is made due and one sweep is timed, in which each feed answers
   304 Not Modified:

   - ``run --once`` as a subprocess, wall clock: what an operator (or a cron job) sees;
   - the same minus the start-up of ``run --once`` when nothing is due (interpreter,
     imports, migrations check): the sweep's own rate;
   - ``Daemon.run_once()`` in this process on the same archive: no start-up at all;
   - ``archiver run``, the long-running daemon, at the default ``daemon.tick`` (1 s):
     from the first 304 to the last, as the servers count them.

   The first three are the median of 3 runs. The polling settings used are printed;
   the per-host politeness settings matter: with the default ``per_host_delay = 1s``
   a host with 50 feeds takes 49 s or more. Done on SQLite and on PostgreSQL; every
   sweep is checked: exactly one 304 per feed, every source recorded as unchanged.

2. **Soak** (target: RSS under 300 MB, and flat: the least-squares growth over the
   second half is under 10% of the RSS at its start). ``archiver run`` as a real
   process with live-blog feeds as sources: each feed entry carries 5 photos and links
   to its article page. The photos are 96x72 JPEGs that are all different pictures
   (smooth random colour fields), so none is a near-duplicate of another. 20% of the
   entries are there at the start (a backlog); the rest appear at an even pace until
   75% of the soak, so there is work all along. The daemon's VmRSS
   (``/proc/PID/status``) and the number of stored files are sampled every few
   seconds. Items archived per second: stored photos divided by the time until the
   last one was stored (so, paced by publication), and the best 30-second window.
   ``--quick``: 1 minute, 500 photos; ``--soak-items`` sets the number.

   Then three short drains of a backlog (one page of distinct photos, default worker
   count): ``run --once``, and the long-running daemon at ``daemon.tick`` 1 s (the
   default) and 0.2 s, which refills its workers only once per tick. Last, the same
   ``run --once`` drain of copies of one photograph (each with its own grain and JPEG
   quality), which all fall into one near-duplicate group: the rate of the last
   quarter against the first shows what one more member of a growing group costs.

3. **Claim latency on PostgreSQL** (target: p99 under 20 ms). 100,000 pending
   ``capture_jobs`` rows are COPYed into the schema made by the product's migrations,
   then ANALYZEd. One claim is ``archiver.jobs.claim_due(session, owner, 4, now,
   lease, quota=HostQuota(2))``, as the daemon claims with nothing in flight, in its own
   transaction, commit included (the jobs come 50 to a host, in order, so a claim
   takes two of one host and looks past the rest of that host's for two more): 200 in
   a row from one thread, then 2 and 4 threads claiming at once (``FOR UPDATE SKIP
   LOCKED``); no job may be claimed twice. The plan PostgreSQL chose for the claim query is printed.

How to read the output
----------------------
Each part prints its details as it goes; the summary table at the end lists every
figure against its target with PASS or FAIL (``info`` rows have no target). Timings
depend on the machine: this runs the daemon, the HTTP servers and PostgreSQL on one
host, so they compete for the same CPUs; their number and the load average before each
part are printed, so a run on a busy machine can be recognised as such.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import math
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402
import psycopg  # noqa: E402
import support  # noqa: E402
from PIL import Image  # noqa: E402
from sqlalchemy import Engine, event, func, select, text, update  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from support.archiving import run_cli, settings, start_daemon, write_config  # noqa: E402
from support.media import make_photo  # noqa: E402
from support.server import FixtureServer, RequestHandler  # noqa: E402

from archiver import jobs  # noqa: E402
from archiver.archive import Archive  # noqa: E402
from archiver.config import load_config  # noqa: E402
from archiver.index.db import make_engine, migrate, session_factory  # noqa: E402
from archiver.index.models import CaptureJob, Source, utcnow  # noqa: E402
from archiver.sources.registry import add_source  # noqa: E402

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SITES = Path(__file__).resolve().parent / "_daemon_sites.py"

SWEEP_TARGET = 200.0  # sources per second
REPEATS = 3  # each sweep timing is the median of this many
DEFAULT_TICK = 1.0  # [daemon] tick
LONG_SWEEP_LIMIT = 240.0  # seconds the long-running daemon gets for one sweep
RSS_LIMIT_MB = 300.0
FLAT_LIMIT = 0.10  # growth over the soak's second half
DUPES_LIMIT = 240.0  # seconds the near-duplicate drain may take
CLAIM_TARGET_MS = 20.0

# The sweep's polling settings (printed with the results).
SWEEP_HOSTS = 20
SWEEP_FIRST_HOST = 10
SWEEP_POLLING: dict[str, Any] = {
    "concurrency": 8,  # the default
    "per_host_concurrency": 2,  # the default
    "per_host_delay": 0,  # default 1s: 50 feeds on one host would take 49 s or more
    "jitter": 0,
}

SOAK_FEED_HOST0 = 40  # feeds on 127.0.0.40..59, one per host
SOAK_PHOTO_HOST0 = 60  # photos on 127.0.0.60..63
SOAK_PHOTO_HOSTS = 4
PHOTOS_PER_ENTRY = 5
FEED_WINDOW = 20  # entries a feed shows, newest first (more if the backlog needs it)


# ---- results -------------------------------------------------------------------------------


@dataclass
class Row:
    section: str
    metric: str
    value: str
    target: str = ""
    verdict: str = "info"


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)

    def add(
        self, section: str, metric: str, value: str, target: str = "", ok: bool | None = None
    ) -> None:
        verdict = "info" if ok is None else ("PASS" if ok else "FAIL")
        self.rows.append(Row(section, metric, value, target, verdict))
        print(f"  -> {metric}: {value}" + (f"  [{verdict}, target {target}]" if target else ""))

    def skip(self, section: str, metric: str, reason: str) -> None:
        self.rows.append(Row(section, metric, reason, "", "SKIP"))
        print(f"  -> {metric}: skipped ({reason})")

    def table(self) -> str:
        head = ("part", "measure", "measured", "target", "verdict")
        cells = [head, *[(r.section, r.metric, r.value, r.target, r.verdict) for r in self.rows]]
        widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
        line = "  ".join("-" * w for w in widths)

        def fmt(c: tuple[str, ...]) -> str:
            return "  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip()

        return "\n".join([fmt(head), line, *[fmt(c) for c in cells[1:]]])


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def banner(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 76 - len(title)), flush=True)
    print(f"  ({load_average()})", flush=True)


def say(message: str) -> None:
    print(f"  {message}", flush=True)


# ---- PostgreSQL ------------------------------------------------------------------------------


def pg_reachable(base_url: str) -> str | None:
    """None when PostgreSQL answers, else why not."""
    libpq = make_url(base_url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(libpq, connect_timeout=5):
            return None
    except psycopg.Error as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def pg_schema(base_url: str) -> contextlib.AbstractContextManager[str]:
    """A fresh schema ``bench_...`` (dropped afterwards): the tests' own helper."""
    return support.pg_schema(base_url, prefix="bench")


# ---- small helpers ---------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile of ``values`` (share in 0..1)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmRSS:\s+(\d+)\s+kB", status, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else None


def linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    return slope, my - slope * mx


def stop_process(process: subprocess.Popen[bytes], timeout: float = 60) -> int:
    """SIGTERM, then SIGKILL if it does not exit within ``timeout``; returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def wait_for(check: Callable[[], object], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return bool(check())


def media_count(database: Path) -> int:
    """Stored files, read from the daemon's SQLite index without taking its write lock."""
    if not database.exists():
        return 0
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM media").fetchone()[0])
        except sqlite3.OperationalError:  # not migrated yet
            return 0


def queue_states(database: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT state, count(*) FROM capture_jobs GROUP BY state")
        return {str(state): int(count) for state, count in rows}


# ---- 1. sweep --------------------------------------------------------------------------------


class Sites:
    """The sweep's feed servers, in a child process (see _daemon_sites.py)."""

    def __init__(self, sources: int) -> None:
        command = [sys.executable, str(SITES), "--sources", str(sources)]
        command += ["--hosts", str(SWEEP_HOSTS), "--first-host", str(SWEEP_FIRST_HOST)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the feed servers did not start")
        self.feeds: list[str] = json.loads(line)["feeds"]

    def stats(self) -> dict[str, int]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("stats\n")
        self.process.stdin.flush()
        counts: dict[str, int] = json.loads(self.process.stdout.readline())
        return counts

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            with contextlib.suppress(OSError):
                self.process.stdin.write("quit\n")
                self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def make_all_due(archive: Archive) -> datetime:
    mark = utcnow()
    with archive.session() as session:
        session.execute(update(Source).values(next_poll_at=mark - timedelta(seconds=1)))
    return mark


def polled_since(archive: Archive, mark: datetime) -> dict[str, int]:
    with archive.session() as session:
        rows = session.execute(
            select(Source.last_result, func.count())
            .where(Source.last_polled_at >= mark)
            .group_by(Source.last_result)
        )
        return {str(result): int(count) for result, count in rows}


def timed_cli(
    config: Path, *args: str, timeout: float
) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    result = run_cli(config, *args, timeout=timeout)
    return time.perf_counter() - started, result


class CountingHandler(logging.Handler):
    """Swallows the in-process daemon's log lines, counting warnings and errors."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.first: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if self.first is None:
            self.first = record.getMessage()


@contextlib.contextmanager
def quiet_archiver_logs() -> Iterator[CountingHandler]:
    logger = logging.getLogger("archiver")
    saved = logger.handlers[:], logger.propagate
    counter = CountingHandler()
    logger.handlers[:] = [counter]
    logger.propagate = False
    try:
        yield counter
    finally:
        logger.handlers[:], logger.propagate = saved


def median_run(runs: list[float]) -> str:
    middle, low, high = statistics.median(runs), min(runs), max(runs)
    return f"median of {len(runs)}: {middle:.2f} s, range {low:.2f}-{high:.2f} s"


def sweep_backend(name: str, db_url: str, sites: Sites, work: Path, results: Results) -> None:
    from archiver.daemon import Daemon  # the daemon's whole import graph, only when needed

    n = len(sites.feeds)
    part = f"sweep/{name}"
    target = f">= {SWEEP_TARGET:.0f} src/s"
    root = work / f"sweep-{name}"
    config_path = write_config(
        work / f"sweep-{name}.toml", settings(root, db_url, polling=dict(SWEEP_POLLING))
    )
    config = load_config(config_path)
    archive = Archive.open(config)
    print(f"  [{name}]")
    try:
        with archive.session() as session:
            for url in sites.feeds:
                add_source(session, url, every=3600.0)

        before = sites.stats()
        seconds, prep = timed_cli(config_path, "run", "--once", timeout=1200)
        with archive.session() as session:
            tagged = session.scalar(select(func.count()).where(Source.etag.is_not(None)))
            rows = session.execute(
                select(CaptureJob.state, func.count()).group_by(CaptureJob.state)
            )
            queue = {str(state): int(count) for state, count in rows}
        say(
            f"first poll of {n} feeds (200, parse, entry page archived) with 'run --once': "
            f"{seconds:.1f} s, exit {prep.returncode}; {tagged} sources have an ETag; "
            f"jobs {queue}; requests {delta(sites.stats(), before)}"
        )
        if prep.returncode != 0 or tagged != n:
            say(f"first poll incomplete; stderr ends: {prep.stderr.strip()[-800:]}")
            results.add(
                part,
                f"{n} x 304 sweep",
                f"not run: only {tagged} of {n} have an ETag",
                target,
                False,
            )
            return

        idle = [timed_cli(config_path, "run", "--once", timeout=120)[0] for _ in range(REPEATS)]
        startup = statistics.median(idle)
        say(f"'run --once' with nothing due (start-up, shut-down): {median_run(idle)}")

        # the sweep as an operator runs it
        walls: list[float] = []
        ok = True
        for _ in range(REPEATS):
            mark = make_all_due(archive)
            before = sites.stats()
            wall, swept = timed_cli(config_path, "run", "--once", timeout=600)
            served = delta(sites.stats(), before)
            polled = polled_since(archive, mark)
            good = (
                swept.returncode == 0 and served == {"feed_304": n} and polled == {"unchanged": n}
            )
            if not good:
                say(f"sweep incomplete: exit {swept.returncode}, served {served}, sources {polled}")
                say(f"stderr ends: {swept.stderr.strip()[-800:]}")
            ok = ok and good
            walls.append(wall)
        say(f"sweep with 'run --once' ({n} x 304, all 'unchanged'): {median_run(walls)}")
        wall = statistics.median(walls)
        results.add(
            part,
            f"{n} x 304, 'run --once' wall clock",
            f"{n / wall:.0f} src/s ({wall:.2f} s)",
            target,
            ok and n / wall >= SWEEP_TARGET,
        )
        net = max(wall - startup, 1e-6)
        results.add(
            part,
            f"{n} x 304, 'run --once' minus start-up ({startup:.2f} s)",
            f"{n / net:.0f} src/s ({net:.2f} s)",
            target,
            ok and n / net >= SWEEP_TARGET,
        )

        # the same sweep in this process, through the Daemon class
        runs: list[float] = []
        ok = True
        for _ in range(REPEATS):
            mark = make_all_due(archive)
            before = sites.stats()
            with quiet_archiver_logs() as logged:
                daemon = Daemon(archive)
                started = time.perf_counter()
                daemon.run_once()
                runs.append(time.perf_counter() - started)
            served = delta(sites.stats(), before)
            polled = polled_since(archive, mark)
            good = served == {"feed_304": n} and polled == {"unchanged": n} and not logged.count
            if not good:
                say(
                    f"in-process sweep: served {served}, sources {polled}, "
                    f"{logged.count} warnings (first: {logged.first})"
                )
            ok = ok and good
        say(f"sweep with Daemon.run_once() in this process: {median_run(runs)}")
        inproc = statistics.median(runs)
        results.add(
            part,
            f"{n} x 304, Daemon.run_once() in-process",
            f"{n / inproc:.0f} src/s ({inproc:.2f} s)",
            target,
            ok and n / inproc >= SWEEP_TARGET,
        )

        # the long-running daemon as deployed ('archiver run', default tick)
        run_config = write_config(
            work / f"sweep-{name}-run.toml",
            settings(root, db_url, polling=dict(SWEEP_POLLING), daemon={"tick": DEFAULT_TICK}),
        )
        mark = make_all_due(archive)
        before = sites.stats()
        process = start_daemon(run_config, log=work / f"sweep-{name}-run.log")
        started = time.monotonic()
        first: float | None = None
        answered = 0
        while time.monotonic() - started < LONG_SWEEP_LIMIT and process.poll() is None:
            answered = delta(sites.stats(), before).get("feed_304", 0)
            if answered and first is None:
                first = time.monotonic() - started
            if answered >= n:
                break
            time.sleep(0.1)
        last = time.monotonic() - started
        time.sleep(0.5)  # let the last polls be recorded
        code = stop_process(process)
        polled = polled_since(archive, mark)
        ok = answered >= n and polled == {"unchanged": n}
        span = last - (first or 0.0)
        say(
            f"sweep with 'archiver run' (tick {DEFAULT_TICK:g} s): first 304 after "
            f"{first or 0:.1f} s, {answered} by {last:.1f} s; exit {code}; sources {polled}"
        )
        if answered < n:
            value = f"{answered / span:.0f} src/s (only {answered} of {n} in {span:.0f} s)"
        else:
            value = f"{n / span:.0f} src/s ({span:.2f} s, first to last 304)"
        results.add(
            part,
            f"{n} x 304, 'archiver run' daemon, tick {DEFAULT_TICK:g} s",
            value,
            target,
            ok and n / span >= SWEEP_TARGET,
        )
    finally:
        archive.close()


def bench_sweep(
    args: argparse.Namespace, work: Path, results: Results, pg_error: str | None
) -> None:
    banner(f"1. sweep of {args.sources} feed sources answering 304")
    settings_text = ", ".join(f"{k} = {v}" for k, v in SWEEP_POLLING.items())
    say(
        f"{args.sources} feeds over {SWEEP_HOSTS} hosts 127.0.0.{SWEEP_FIRST_HOST}-"
        f"{SWEEP_FIRST_HOST + SWEEP_HOSTS - 1} ({math.ceil(args.sources / SWEEP_HOSTS)} per host)"
    )
    say(f"[polling] {settings_text}")
    say(
        "with the default per_host_delay = 1s the sweep could not beat "
        f"{SWEEP_HOSTS} src/s here ({math.ceil(args.sources / SWEEP_HOSTS) - 1} s per host)"
    )
    sites = Sites(args.sources)
    try:
        sweep_backend("sqlite", "", sites, work, results)
        if pg_error:
            results.skip("sweep/postgresql", "304 sweep", f"PostgreSQL unreachable: {pg_error}")
        else:
            with pg_schema(args.pg_url) as url:
                sweep_backend("postgresql", url, sites, work, results)
    finally:
        sites.close()


# ---- 2. soak ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SoakPlan:
    minutes: float
    photos: int
    feeds: int
    every: str = "5s"
    backlog_share: float = 0.2
    release_share: float = 0.75
    sample_every: float = 5.0

    @property
    def entries(self) -> int:
        return math.ceil(self.photos / PHOTOS_PER_ENTRY)

    @property
    def window(self) -> int:
        """Entries a feed shows: enough for the whole backlog to be seen."""
        backlog = round(self.entries * self.backlog_share)
        return max(FEED_WINDOW, math.ceil(backlog / self.feeds) + 5)

    @property
    def seconds(self) -> float:
        return self.minutes * 60

    def released(self, elapsed: float) -> int:
        """Entries published ``elapsed`` seconds into the soak."""
        backlog = round(self.entries * self.backlog_share)
        span = self.seconds * self.release_share
        if elapsed >= span:
            return self.entries
        return backlog + int((self.entries - backlog) * max(elapsed, 0.0) / span)


ENTRY_HTML = "<p><strong>UPDATE {hh:02d}{mm:02d} GMT:</strong> Footage from front {e}:</p>{figures}"
FIGURE = (
    '<figure><img src="{src}" width="96" height="72"><figcaption>{caption}</figcaption></figure>'
)


class LiveBlogs:
    """Feeds whose entries appear over time, their article pages, and the photos."""

    def __init__(self, plan: SoakPlan, photos: list[bytes]) -> None:
        self.plan = plan
        self.started = time.monotonic()
        self.feeds = [FixtureServer(f"127.0.0.{SOAK_FEED_HOST0 + f}") for f in range(plan.feeds)]
        self.photo_hosts = [
            FixtureServer(f"127.0.0.{SOAK_PHOTO_HOST0 + h}") for h in range(SOAK_PHOTO_HOSTS)
        ]
        self.entries: list[str] = []  # the entry's HTML content
        for e in range(plan.entries):
            figures = []
            for k in range(PHOTOS_PER_ENTRY):
                index = e * PHOTOS_PER_ENTRY + k
                if index >= len(photos):
                    break
                host = self.photo_hosts[index % SOAK_PHOTO_HOSTS]
                host.add_bytes(f"/img/{e}/{k}.jpg", photos[index], "image/jpeg")
                caption = f"Photo {k + 1} from front {e}."
                figures.append(FIGURE.format(src=host.url(f"/img/{e}/{k}.jpg"), caption=caption))
            html = ENTRY_HTML.format(hh=e // 60 % 24, mm=e % 60, e=e, figures="".join(figures))
            self.entries.append(html)
            feed = self.feeds[e % plan.feeds]
            feed.add_page(
                f"/posts/{e}",
                f"<!doctype html><html><head><title>Front {e}</title></head><body>"
                f"<nav><a href='/'>Home</a></nav><article><h1>Front {e}</h1>{html}</article>"
                "</body></html>",
            )
        for f, feed in enumerate(self.feeds):
            feed.add_handler("/feed.xml", self._feed_handler(f, feed))

    def restart_clock(self) -> None:
        self.started = time.monotonic()

    def feed_body(self, f: int, base: str) -> bytes:
        released = self.plan.released(time.monotonic() - self.started)
        mine = [e for e in range(f, released, self.plan.feeds)][-self.plan.window :][::-1]
        items = "".join(
            f"<item><title>Front {e}</title><link>{base}/posts/{e}</link>"
            f"<guid>{base}/posts/{e}</guid>"
            f"<content:encoded><![CDATA[{self.entries[e]}]]></content:encoded></item>"
            for e in mine
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
            f"<channel><title>Live blog {f}</title><link>{base}/</link>{items}</channel></rss>"
        ).encode()

    def _feed_handler(self, f: int, server: FixtureServer) -> Callable[[RequestHandler], None]:
        def handler(request: RequestHandler) -> None:
            request.read_body()
            body = self.feed_body(f, server.base_url)
            etag = f'"{len(body):x}-{hash(body) & 0xFFFFFFFF:08x}"'
            if request.headers.get("If-None-Match") == etag:
                request.send_response(304)
                request.send_header("ETag", etag)
                request.end_headers()
                return
            request.send_simple(200, body, "application/rss+xml", headers={"ETag": etag})

        return handler

    @property
    def feed_urls(self) -> list[str]:
        return [feed.url("/feed.xml") for feed in self.feeds]

    def close(self) -> None:
        for server in [*self.feeds, *self.photo_hosts]:
            server.close(timeout=1.0)


def distinct_images(count: int) -> list[bytes]:
    """``count`` small JPEGs (96x72) that are different pictures, not near-duplicates of
    one another: smooth random colour fields (an 8x6 grid of random colours blown up,
    plus grain), so their perceptual hashes are unrelated and none is flagged."""
    images = []
    for seed in range(count):
        rng = np.random.default_rng(seed)
        grid = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), "RGB")
        pixels = np.asarray(grid.resize((96, 72), Image.Resampling.BICUBIC), dtype=np.int16)
        pixels += rng.integers(-6, 7, pixels.shape, dtype=np.int16)
        buffer = io.BytesIO()
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=85)
        images.append(buffer.getvalue())
    return images


def near_duplicates(count: int, scratch: Path) -> list[bytes]:
    """``count`` JPEGs of one photograph (``make_photo``), each with its own grain and
    JPEG quality: different bytes, the same picture (one near-duplicate group)."""
    base = make_photo(scratch / "near-duplicate-base.jpg", seed=0, size=(96, 72))
    with Image.open(base) as opened:
        pixels = np.asarray(opened.convert("RGB"), dtype=np.int16)
    base.unlink()
    images = []
    for k in range(count):
        rng = np.random.default_rng(1_000_000 + k)
        noisy = np.clip(pixels + rng.integers(-2, 3, pixels.shape), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(noisy).save(buffer, "JPEG", quality=int(rng.integers(75, 95)))
        images.append(buffer.getvalue())
    return images


@dataclass
class Sample:
    t: float  # seconds since the daemon started
    rss: float  # MB
    media: int


def soak_run(plan: SoakPlan, photos: list[bytes], work: Path, results: Results) -> None:
    part = "soak"
    root = work / "soak"
    database = root / "archive.db"
    polling = {"per_host_delay": 1.0, "per_host_concurrency": 2, "concurrency": 8, "jitter": 0.1}
    daemon_settings = {"tick": 0.2, "shutdown_grace": 10}
    config_path = write_config(
        work / "soak.toml",
        settings(root, "", polling=polling, daemon=daemon_settings, download={"concurrency": 4}),
    )
    say(
        f"{len(photos)} photos in {plan.entries} entries over {plan.feeds} feeds (one host each, "
        f"polled every {plan.every}); {plan.backlog_share:.0%} there at the start, the rest "
        f"published evenly until {plan.release_share:.0%} of the {plan.minutes:g}-minute soak"
    )
    say(
        "settings: [download] concurrency = 4, per_host_concurrency = 2 (defaults); "
        "[polling] per_host_delay = 1s, per_host_concurrency = 2, concurrency = 8, "
        "jitter = 0.1 (defaults); [daemon] tick = 0.2s (default 1s, see the drain rows)"
    )
    sites = LiveBlogs(plan, photos)
    daemon: subprocess.Popen[bytes] | None = None
    samples: list[Sample] = []
    try:
        every = float(plan.every.rstrip("s"))
        with Archive.open(load_config(config_path)) as archive, archive.session() as session:
            for url in sites.feed_urls:
                add_source(session, url, every=every, kind="feed")
        log = work / "soak.log"
        sites.restart_clock()
        started = time.monotonic()
        daemon = start_daemon(config_path, log=log)
        ready = wait_for(lambda: "event=daemon.ready" in log.read_text(errors="replace"), 60)
        ready_at = time.monotonic() - started
        say(f"daemon pid {daemon.pid} ready after {ready_at:.1f} s" if ready else "never ready")
        next_report = 60.0
        while (now := time.monotonic() - started) < plan.seconds and daemon.poll() is None:
            mb = rss_mb(daemon.pid)
            if mb is not None:
                samples.append(Sample(now, mb, media_count(database)))
            if now >= next_report:
                say(
                    f"t={now / 60:4.1f} min  RSS {mb or 0:6.1f} MB  stored {samples[-1].media:5d}"
                    f" / published {min(plan.released(now) * PHOTOS_PER_ENTRY, len(photos))}"
                )
                next_report += 60.0
            time.sleep(max(0.0, plan.sample_every - (time.monotonic() - started - now)))
        crashed = daemon.poll() is not None
        code = stop_process(daemon, timeout=60)
        stopped = time.monotonic() - started
        say(
            f"daemon {'died' if crashed else 'stopped by SIGTERM'} at {stopped:.0f} s, "
            f"exit {code}; jobs {queue_states(database)}"
        )
        text_log = log.read_text(errors="replace")
        tracebacks = text_log.count("Traceback")
        failures = text_log.count("event=capture.failed")
        late = text_log.count("skipped: maximum number of running instances reached")
        say(
            f"log: {tracebacks} tracebacks, {failures} capture.failed lines, {late} scheduler "
            "runs skipped because the previous poll/drain was still running"
        )
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        sites.close()

    if len(samples) < 4:
        results.skip(part, "RSS", "too few samples")
        return
    rss = [s.rss for s in samples]
    second = [s for s in samples if s.t >= plan.seconds / 2]
    slope, intercept = linear_fit([s.t / 60 for s in second], [s.rss for s in second])
    half_minutes = (second[-1].t - second[0].t) / 60
    base = slope * second[0].t / 60 + intercept
    growth = slope * half_minutes / base if base else 0.0
    say(
        f"RSS samples: {len(samples)} (every {plan.sample_every:g} s); start {rss[0]:.1f} MB, "
        f"max {max(rss):.1f} MB, end {rss[-1]:.1f} MB; second half: slope {slope:+.2f} MB/min, "
        f"growth {growth:+.1%} over {half_minutes:.1f} min"
    )
    results.add(
        part,
        "daemon RSS start / max / end",
        f"{rss[0]:.0f} / {max(rss):.0f} / {rss[-1]:.0f} MB",
        f"max < {RSS_LIMIT_MB:.0f} MB",
        max(rss) < RSS_LIMIT_MB,
    )
    results.add(
        part,
        "RSS growth over the second half (least squares)",
        f"{growth:+.1%} ({slope:+.2f} MB/min)",
        f"< {FLAT_LIMIT:.0%}",
        growth < FLAT_LIMIT,
    )
    stored = samples[-1].media
    first_full = next((s for s in samples if s.media >= stored), samples[-1])
    results.add(
        part,
        "photos archived by the end",
        f"{stored} of {len(photos)}",
        f"{len(photos)}",
        stored >= len(photos),
    )
    results.add(
        part,
        "items archived per second (mean)",
        f"{stored / max(first_full.t, 1e-6):.1f} /s (last stored at {first_full.t:.0f} s)",
    )
    window = 30.0
    best = 0.0
    for i, s in enumerate(samples):
        later = next((u for u in samples[i:] if u.t - s.t >= window), None)
        if later is not None:
            best = max(best, (later.media - s.media) / (later.t - s.t))
    results.add(part, f"items archived per second (best {window:.0f} s)", f"{best:.1f} /s")
    offered = len(photos) * (1 - plan.backlog_share) / (plan.seconds * plan.release_share)
    say(f"publishing pace after the backlog: {offered:.1f} photos/s")


def backlog_run(
    work: Path, name: str, page: str, count: int, *, tick: float, once: bool, limit: float
) -> list[tuple[float, int]]:
    """A fresh SQLite archive whose one source is ``page``; runs ``archiver run`` (or
    ``run --once``) until ``count`` files are stored, it exits, or ``limit`` seconds
    pass. Returns (seconds since start, files stored) at every change of the count."""
    download = {"concurrency": 4, "per_host_concurrency": 4}
    root = work / name
    config_path = write_config(
        work / f"{name}.toml", settings(root, "", daemon={"tick": tick}, download=download)
    )
    with Archive.open(load_config(config_path)) as archive, archive.session() as session:
        add_source(session, page, every=3600.0, kind="page")
    database = root / "archive.db"
    process = start_daemon(config_path, *(["--once"] if once else []), log=work / f"{name}.log")
    stamps: list[tuple[float, int]] = []
    started = time.monotonic()
    try:
        while time.monotonic() - started < limit:
            n = media_count(database)
            if not stamps or n != stamps[-1][1]:
                stamps.append((time.monotonic() - started, n))
            if n >= count or process.poll() is not None:
                break
            time.sleep(0.05)
    finally:
        stop_process(process)
    return stamps


def time_to(stamps: list[tuple[float, int]], n: int) -> float | None:
    """When the stored count first reached ``n``."""
    return next((t for t, stored in stamps if stored >= n), None)


def gallery(server: FixtureServer, path: str, images: list[bytes]) -> str:
    figures = []
    for i, image in enumerate(images):
        server.add_bytes(f"{path}/{i}.jpg", image, "image/jpeg")
        figures.append(FIGURE.format(src=f"{path}/{i}.jpg", caption=f"Photo {i}."))
    server.add_page(path, f"<article><h1>Gallery</h1>{''.join(figures)}</article>")
    return server.url(path)


def drain_probe(images: list[bytes], work: Path, results: Results) -> None:
    """How fast a backlog of photo jobs drains: run --once, and the daemon at two ticks.

    The rate is taken from the first stored photo to the last (start-up excluded)."""
    count = len(images)
    with FixtureServer(f"127.0.0.{SOAK_PHOTO_HOST0 + SOAK_PHOTO_HOSTS}") as server:
        page = gallery(server, "/gallery", images)
        say(
            f"drain: a page source with {count} distinct photos on one host; [download] "
            "concurrency = 4 (default), per_host_concurrency = 4 (so one host is no limit)"
        )
        for label, tick, once in (
            ("'run --once'", 1.0, True),
            ("'run', tick 1 s (default)", 1.0, False),
            ("'run', tick 0.2 s", 0.2, False),
        ):
            name = f"drain-{tick:g}-{'once' if once else 'run'}"
            limit = count / 4 * tick * 2 + 60
            stamps = backlog_run(work, name, page, count, tick=tick, once=once, limit=limit)
            first, (last, stored) = time_to(stamps, 1), stamps[-1]
            if first is None or stored < 2:
                detail = f"only {stored} of {count} stored"
            else:
                rate = (stored - 1) / max(last - first, 1e-6)
                detail = f"{rate:.1f} photos/s ({stored} of {count}, in {last - first:.1f} s)"
            results.add("soak/drain", f"backlog drain rate, {label}", detail)
            if not once:
                say(f"   (workers are refilled once per tick: at most {4 / tick:g} jobs/s)")


def dupes_probe(images: list[bytes], work: Path, results: Results) -> None:
    """The same drain with every photo a near-duplicate of the others: how the cost of
    one more member grows with the size of its group."""
    count = len(images)
    with FixtureServer(f"127.0.0.{SOAK_PHOTO_HOST0 + SOAK_PHOTO_HOSTS + 1}") as server:
        page = gallery(server, "/reposts", images)
        say(
            f"near-duplicates: a page source with {count} copies of one photograph (own grain "
            "and JPEG quality each: distinct bytes, one group), 'run --once', same settings"
        )
        stamps = backlog_run(work, "dupes", page, count, tick=1.0, once=True, limit=DUPES_LIMIT)
    stored = stamps[-1][1]
    quarter = max(count // 4, 2)
    marks = [time_to(stamps, n) for n in (1, quarter, count - quarter, count)]
    if None in marks[:2]:
        results.add("soak/dupes", "near-duplicate drain", f"only {stored} of {count} stored")
        return
    t1, tq = marks[0] or 0.0, marks[1] or 0.0
    early = (quarter - 1) / max(tq - t1, 1e-6)
    results.add(
        "soak/dupes",
        f"near-duplicate drain, members 1-{quarter}",
        f"{early:.1f} photos/s",
    )
    if marks[2] is None or marks[3] is None:
        late_at = time_to(stamps, stored) or 0.0
        results.add(
            "soak/dupes",
            f"near-duplicate drain, members {quarter}-{count}",
            f"only {stored} of {count} stored after {late_at:.0f} s (limit {DUPES_LIMIT:.0f} s)",
        )
        return
    late = quarter / max(marks[3] - marks[2], 1e-6)
    results.add(
        "soak/dupes",
        f"near-duplicate drain, members {count - quarter}-{count}",
        f"{late:.1f} photos/s ({early / max(late, 1e-6):.1f}x slower than 1-{quarter})",
    )


def bench_soak(args: argparse.Namespace, work: Path, results: Results) -> None:
    minutes = args.soak_minutes if args.soak_minutes is not None else (1.0 if args.quick else 10.0)
    photos_wanted = args.soak_items or (500 if args.quick else 5000)
    feeds = 10 if args.quick else 20
    plan = SoakPlan(
        minutes=minutes,
        photos=photos_wanted,
        feeds=feeds,
        sample_every=2.0 if minutes <= 2 else 5.0,
    )
    banner(f"2. soak: 'archiver run' for {minutes:g} min, {photos_wanted} photos")
    started = time.perf_counter()
    probe = 80 if args.quick else 200
    images = distinct_images(photos_wanted + probe)
    reposts = near_duplicates(60 if args.quick else 120, work)
    say(
        f"made {len(images)} distinct images and {len(reposts)} near-duplicates in "
        f"{time.perf_counter() - started:.1f} s"
    )
    soak_run(plan, images[:photos_wanted], work, results)
    drain_probe(images[photos_wanted:], work, results)
    dupes_probe(reposts, work, results)


# ---- 3. claim latency ------------------------------------------------------------------------


def copy_jobs(engine: Engine, count: int) -> float:
    """COPY ``count`` pending jobs, due over the last day; returns the seconds taken."""
    now = datetime.now(UTC).replace(tzinfo=None)
    started = time.perf_counter()
    raw = engine.raw_connection()
    try:
        conn: Any = raw.driver_connection
        columns = "url, state, attempts, next_attempt_at, created_at, updated_at"
        with conn.cursor() as cur, cur.copy(f"COPY capture_jobs ({columns}) FROM STDIN") as copy:
            for i in range(count):
                due = now - timedelta(seconds=86400 * (count - i) / count)
                # 50 to a host: a page's embeds
                url = f"https://cdn{i // 50}.example.org/live/media/{i}.jpg"
                copy.write_row((url, "pending", 0, due, due, due))
        conn.commit()
        with conn.cursor() as cur:
            cur.execute("ANALYZE capture_jobs")
        conn.commit()
    finally:
        raw.close()
    return time.perf_counter() - started


def claim_plan(engine: Engine, sessions: Any) -> list[str]:
    """EXPLAIN ANALYZE of the claim query exactly as claim_due sends it (rolled back)."""
    captured: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM capture_jobs" in statement and "FOR UPDATE" in statement:
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        with sessions() as session:
            jobs.claim_due(
                session, "plan:0", 4, utcnow(), timedelta(minutes=10), quota=jobs.HostQuota(2)
            )
            session.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    if not captured:
        return ["(claim query not seen)"]
    statement, parameters = captured[0]
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
        lines = [str(row[0]) for row in cursor.fetchall()]
        conn.rollback()
    return lines


def claim_loop(
    sessions: Any, owner: str, claims: int, latencies: list[float], claimed: list[int]
) -> None:
    lease = timedelta(minutes=10)
    for _ in range(claims):
        started = time.perf_counter()
        with sessions() as session, session.begin():
            got = jobs.claim_due(session, owner, 4, utcnow(), lease, quota=jobs.HostQuota(2))
            ids = [job.id for job in got]
        latencies.append((time.perf_counter() - started) * 1000)
        claimed.extend(ids)


def run_claimers(
    sessions: Any, threads: int, per_thread: int
) -> tuple[list[float], list[int], float]:
    """``threads`` claimers at once, each ``per_thread`` claims; (latencies, ids, wall)."""
    latencies: list[float] = []
    claimed: list[int] = []
    lock = threading.Lock()

    def work(k: int) -> None:
        mine: list[float] = []
        got: list[int] = []
        claim_loop(sessions, f"bench:{threads}:{k}", per_thread, mine, got)
        with lock:
            latencies.extend(mine)
            claimed.extend(got)

    started = time.perf_counter()
    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return latencies, claimed, time.perf_counter() - started


def bench_claim(args: argparse.Namespace, results: Results, pg_error: str | None) -> None:
    part = "claim/postgresql"
    banner(f"3. claim latency on PostgreSQL with {args.claim_jobs:,} pending jobs")
    if pg_error:
        results.skip(part, "claim latency", f"PostgreSQL unreachable: {pg_error}")
        return
    with pg_schema(args.pg_url) as url:
        engine = make_engine(url)
        try:
            migrate(engine)
            seconds = copy_jobs(engine, args.claim_jobs)
            say(f"COPY of {args.claim_jobs:,} pending jobs + ANALYZE: {seconds:.1f} s")
            sessions = session_factory(engine)
            plan = claim_plan(engine, sessions)
            say("plan of the claim query (EXPLAIN ANALYZE):")
            for line in plan:
                say("    " + line)
            everything: list[int] = []
            warm: list[float] = []
            claim_loop(sessions, "bench:warm-up", 10, warm, everything)
            for threads in (1, 2, 4):
                per_thread = 200 if threads == 1 else 100
                latencies, claimed, wall = run_claimers(sessions, threads, per_thread)
                everything += claimed
                p50, p95, p99 = (percentile(latencies, q) for q in (0.50, 0.95, 0.99))
                say(
                    f"{threads} claimer(s) x {per_thread} claims of 4: p50 {p50:.2f} ms, "
                    f"p95 {p95:.2f} ms, p99 {p99:.2f} ms, max {max(latencies):.2f} ms; "
                    f"{len(latencies) / wall:.0f} claims/s, {len(claimed)} jobs"
                )
                results.add(
                    part,
                    f"claim_due(limit 4), {threads} thread(s): p50 / p95 / p99",
                    f"{p50:.1f} / {p95:.1f} / {p99:.1f} ms",
                    f"p99 < {CLAIM_TARGET_MS:.0f} ms",
                    p99 < CLAIM_TARGET_MS and len(claimed) == 4 * len(latencies),
                )
            duplicates = len(everything) - len(set(everything))
            results.add(
                part,
                "jobs claimed twice (all runs)",
                f"{duplicates} of {len(everything)}",
                "0",
                duplicates == 0,
            )
            with engine.connect() as conn:
                running = conn.execute(
                    text("SELECT count(*) FROM capture_jobs WHERE state = 'running'")
                ).scalar_one()
            say(f"running jobs in the table afterwards: {running} (claimed {len(everything)})")
        finally:
            engine.dispose()


# ---- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Daemon benchmarks: 304 sweep, memory soak, claim latency."
    )
    parser.add_argument("--quick", action="store_true", help="1-minute soak with 500 photos")
    parser.add_argument("--only", choices=["sweep", "soak", "claim"], help="run one part")
    parser.add_argument(
        "--soak-minutes", type=float, default=None, help="soak length (default 10; 1 with --quick)"
    )
    parser.add_argument(
        "--soak-items", type=int, default=None, help="photos in the soak (default 5,000; 500)"
    )
    parser.add_argument("--sources", type=int, default=1000, help="sources in the sweep")
    parser.add_argument(
        "--claim-jobs", type=int, default=100_000, help="pending jobs to claim from"
    )
    parser.add_argument("--pg-url", default=os.environ.get("ARCHIVER_TEST_PG_URL", DEFAULT_PG_URL))
    args = parser.parse_args()

    print(
        f"archiver daemon benchmarks: {os.cpu_count()} CPUs, Python "
        f"{sys.version.split()[0]}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    pg_error = pg_reachable(args.pg_url)
    if pg_error:
        print(f"PostgreSQL unreachable ({pg_error}): its parts are skipped")
    results = Results()
    work = Path(tempfile.mkdtemp(prefix="archiver-bench-"))
    try:
        parts: list[tuple[str, Callable[[], None]]] = [
            ("sweep", lambda: bench_sweep(args, work, results, pg_error)),
            ("soak", lambda: bench_soak(args, work, results)),
            ("claim", lambda: bench_claim(args, results, pg_error)),
        ]
        for name, part in parts:
            if args.only in (None, name):
                try:
                    part()
                except Exception as exc:  # a broken part must not hide the others
                    traceback.print_exc()
                    results.add(name, "part crashed", f"{type(exc).__name__}: {exc}", "", False)
    except KeyboardInterrupt:
        print("\ninterrupted: partial results")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    banner("summary")
    print(results.table())
    sys.exit(0)


if __name__ == "__main__":
    main()
