"""Liveness benchmark: direct-file checks per second over 50 hosts, per-host limit held.

Run from the repository root (PostgreSQL at 127.0.0.1:5432, trust auth, database ``test``;
the PostgreSQL part is skipped, and says so, when it is not reachable):

    .venv/bin/python bench/liveness_bench.py            # about 1 minute
    .venv/bin/python bench/liveness_bench.py --quick    # fewer checks, about 40 s
    .venv/bin/python bench/liveness_bench.py --rate 10 --concurrency 64

Every request goes to local HTTP servers (``tests/support/server.py``), one per host on
127.0.0.2 ... 127.0.0.51, run by a child process of their own so that they share no
interpreter (and no GIL) with the code being timed. PostgreSQL work happens in a schema
of its own (``bench_<hex>``) that is dropped at the end; archives live in a temporary
directory that is removed. The exit status is 0 whatever the verdicts: read the table.

What is measured
----------------
Each run builds a fresh archive (``Archive.open``, migrations included) and inserts one
``link_checks`` row of kind ``file`` per URL: small media files (``video/mp4``, 4 KiB)
spread over the 50 hosts, one URL per host in turn (round-robin by row id). One URL in
40 on every host answers 404 (a removed file: a HEAD, then the ranged GET, then
``gone`` with its history event); every other one answers HEAD with 200, a media type
and a length (``live`` from the HEAD alone). The targets are those ``targets_for``
returns (what ``archiver check`` runs), and the timed part is
``LivenessChecker.open(archive).run(targets)``, end to end: every probe, the per-host
limiter, and every result recorded in the database (status, next check time, one
``link_check_events`` row per change of status). Afterwards every row is verified: each
URL checked once, with the status its server gave.

1. **Throughput** (target: 200+ checks/s on SQLite, and on PostgreSQL). The product
   default, 1 request per second per host, caps 50 hosts at 50 checks/s; so this run
   sets ``[liveness] per_host_rate = 5`` (250 requests/s over 50 hosts) and
   ``concurrency = 128`` (``--rate`` and ``--concurrency`` change them). The "ceiling"
   printed next to it is what the limit itself allows: with every host's first request
   free, a host with ``R`` requests needs ``(R - 1) / per_host_rate`` seconds.
2. **Default settings** (targets: about 50 checks/s, limit held): the same checks with
   ``LivenessConfig``'s defaults (``per_host_rate = 1``, ``concurrency = 16``), for a
   few seconds.
3. **Host order** (information): the throughput settings again, but with the rows in
   host order (all URLs of one host, then the next: what a page whose embeds share a
   CDN gives), for a fixed window after which the pool is stopped.

The per-host limit is verified from the servers' own logs, not from archiver: each
server records the arrival time of every request (``time.monotonic``, which both
processes share). For each host the busiest 1 s window ``[t, t + 1 s)`` is counted;
the largest count over all hosts is the "max per-host rate" and must not exceed
``per_host_rate``. The smallest gap between two requests to one host, and how many
gaps were under ``1 / per_host_rate`` (and under 95 % of it: more than timer slop), are
printed too. The same is computed from the
client's side (an httpx request hook: the moment a request leaves the host slot, before
its connection is made), which tells the limiter's own spacing from delays on the way.
"Sustained" is the rate after each host's first (free) request: requests to the
servers, less one per host, over the time from the first arrival to the last.

To show where the time goes: ``check()`` and ``record()`` are timed per call (a
check's time includes its wait for the host's turn); each database transaction is
timed from its BEGIN (on SQLite ``BEGIN IMMEDIATE``, which takes the one write lock)
until its connection is back in the pool; and the CPU time of this process per check.
The number of TCP connections the servers accepted is printed with the requests.
Every run is stopped after 75 s whatever happens (it then says "cut short").
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import httpx  # noqa: E402
import psycopg  # noqa: E402
import support  # noqa: E402
from sqlalchemy import event, insert, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from support.archiving import settings  # noqa: E402
from support.server import FixtureServer, RequestHandler  # noqa: E402

from archiver.archive import Archive  # noqa: E402
from archiver.config import LivenessConfig, config_from_dict  # noqa: E402
from archiver.index.models import LinkCheck, LinkCheckEvent, utcnow  # noqa: E402
from archiver.liveness.service import LivenessChecker, Target, targets_for  # noqa: E402

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
HOSTS = 50
FIRST_HOST = 2  # 127.0.0.2 ... 127.0.0.51
GONE_EVERY = 40  # on each host, URL j is removed (404) when j % GONE_EVERY == GONE_EVERY - 1
BODY = os.urandom(4096)
TARGET_CHECKS = 200.0
FAST_RATE = 5.0  # [liveness] per_host_rate for the throughput runs
FAST_CONCURRENCY = 128  # [liveness] concurrency for the throughput runs


# ---- the servers (child process) -------------------------------------------------------------


def serve(hosts: int, first: int, per_host: int) -> None:
    """``--serve``: one FixtureServer per host; commands on stdin, answers on stdout."""
    lock = threading.Lock()
    log: dict[str, list[tuple[float, str, int]]] = {}
    servers: list[FixtureServer] = []

    def route(host: str, status: int) -> Callable[[RequestHandler], None]:
        def handler(request: RequestHandler) -> None:
            arrived = time.monotonic()
            with lock:
                log[host].append((arrived, request.command, request.client_address[1]))
            request.read_body()
            if status == 200:
                request.send_simple(200, BODY, "video/mp4", headers={"Accept-Ranges": "bytes"})
            else:
                request.send_simple(status, b"not found\n")

        return handler

    for i in range(hosts):
        server = FixtureServer(host=f"127.0.0.{first + i}")
        servers.append(server)
        log[server.host] = []
        for j in range(per_host):
            server.add_handler(f"/media/{j:04d}.mp4", route(server.host, 200))
            server.add_handler(f"/removed/{j:04d}.mp4", route(server.host, 404))
    print(json.dumps({"bases": [s.base_url for s in servers]}), flush=True)
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "reset":
                with lock:
                    for entries in log.values():
                        entries.clear()
                print(json.dumps({"ok": True}), flush=True)
            elif command == "log":
                with lock:
                    snapshot = {host: list(entries) for host, entries in log.items()}
                errors = sum(len(s.errors) for s in servers)
                print(json.dumps({"log": snapshot, "errors": errors}), flush=True)
            elif command == "quit":
                break
    finally:
        for server in servers:
            server.close()


class Sites:
    """The child process serving the hosts, seen from the benchmark."""

    def __init__(self, per_host: int) -> None:
        self.per_host = per_host
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(per_host)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.bases: list[str] = self._read()["bases"]

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the server process exited")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _ask(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._read()

    def reset(self) -> None:
        self._ask("reset")

    def log(self) -> tuple[dict[str, list[tuple[float, str, int]]], int]:
        answer = self._ask("log")
        entries = {host: [(t, m, p) for t, m, p in rows] for host, rows in answer["log"].items()}
        return entries, int(answer["errors"])

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            assert self.process.stdin is not None
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def urls(self, per_host: int, order: str) -> list[tuple[str, str]]:
        """(url, expected status) for ``per_host`` URLs on every host, in ``order``."""
        if per_host > self.per_host:
            raise ValueError("more URLs per host than the servers have")
        by_host = [
            [
                (f"{base}/removed/{j:04d}.mp4", "gone")
                if j % GONE_EVERY == GONE_EVERY - 1
                else (f"{base}/media/{j:04d}.mp4", "live")
                for j in range(per_host)
            ]
            for base in self.bases
        ]
        if order == "host":
            return [url for urls in by_host for url in urls]
        return [urls[j] for j in range(per_host) for urls in by_host]


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


# ---- one run ---------------------------------------------------------------------------------


@dataclass
class Timings:
    """Durations of calls made from many threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    values: list[float] = field(default_factory=list)

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                with self.lock:
                    self.values.append(elapsed)

        return timed

    def percentile(self, share: float) -> float:
        ordered = sorted(self.values)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


@dataclass
class Spacing:
    """How closely requests to one host followed each other."""

    max_window: int = 0  # most requests to one host in any 1 s window
    min_gap: float = float("inf")  # smallest time between two requests to one host
    short_gaps: int = 0  # gaps under 1 / rate
    clearly_short: int = 0  # gaps under 95 % of 1 / rate (not just timer slop)


@dataclass
class Outcome:
    name: str
    backend: str
    rate: float
    concurrency: int
    checks: int = 0  # targets handed to run()
    recorded: int = 0  # rows with checked_at set afterwards
    wrong: int = 0  # rows whose status is not what their server answers
    events: int = 0
    wall: float = 0.0
    requests: int = 0
    methods: Counter[str] = field(default_factory=Counter)
    connections: int = 0
    server: Spacing = field(default_factory=lambda: Spacing())  # arrivals, servers' clock
    client: Spacing = field(default_factory=lambda: Spacing())  # sends, as the client saw them
    cpu: float = 0.0  # CPU seconds of this process during run()
    windowed: bool = False  # stopped after a fixed time: not every check ran
    sustained: float = 0.0
    ceiling: float = 0.0
    server_errors: int = 0
    check_times: Timings = field(default_factory=Timings)
    record_times: Timings = field(default_factory=Timings)
    transactions: Timings = field(default_factory=Timings)  # BEGIN until back in the pool
    statuses: Counter[str] = field(default_factory=Counter)

    @property
    def per_second(self) -> float:
        return self.recorded / self.wall if self.wall else 0.0


def naive_utc(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def make_archive(root: Path, db_url: str, liveness: dict[str, Any]) -> Archive:
    config = config_from_dict(settings(root, db_url, liveness=liveness))
    return Archive.open(config)


def watch_transactions(archive: Archive, into: Timings) -> None:
    """Time each transaction from its BEGIN (``BEGIN IMMEDIATE`` on SQLite: the write
    lock is taken) until its connection is back in the pool (committed)."""
    begun: dict[int, float] = {}

    def on_begin(connection: Any) -> None:
        begun[id(connection.connection.dbapi_connection)] = time.perf_counter()

    def on_checkin(dbapi_connection: Any, _record: Any) -> None:
        started = begun.pop(id(dbapi_connection), None)
        if started is not None:
            with into.lock:
                into.values.append(time.perf_counter() - started)

    event.listen(archive.engine, "begin", on_begin)
    event.listen(archive.engine.pool, "checkin", on_checkin)


def insert_checks(archive: Archive, urls: list[tuple[str, str]]) -> list[Target]:
    now = utcnow()
    rows = [
        {
            "url": url,
            "kind": "file",
            "platform": None,
            "next_check_at": now,
            "consecutive_errors": 0,
            "created_at": now,
        }
        for url, _ in urls
    ]
    with archive.session() as session:
        session.execute(insert(LinkCheck), rows)
    with archive.read_session() as session:
        targets = targets_for(session, None)
    return sorted(targets, key=lambda t: t.check_id)  # row order: the order of ``urls``


def spacing(times_by_host: list[list[float]], delay: float) -> Spacing:
    """The busiest 1 s window ``[t, t + 1 s)`` and the smallest gap, over every host."""
    found = Spacing()
    for unsorted in times_by_host:
        times = sorted(unsorted)
        start = 0
        for end, t in enumerate(times):
            while times[start] <= t - 1.0:
                start += 1
            found.max_window = max(found.max_window, end - start + 1)
        for a, b in itertools.pairwise(times):
            found.min_gap = min(found.min_gap, b - a)
            found.short_gaps += b - a < delay
            found.clearly_short += b - a < 0.95 * delay
    return found


def analyse_log(
    outcome: Outcome,
    log: dict[str, list[tuple[float, str, int]]],
    sent: dict[str, list[float]],
    since: float,
    until: float,
) -> None:
    """Per-host rates from the servers' arrival times (and the client's send times)."""
    delay = 1.0 / outcome.rate
    arrivals: list[list[float]] = []
    for entries in log.values():
        kept = [(t, m, p) for t, m, p in entries if since <= t <= until]
        outcome.methods.update(m for _, m, _ in kept)
        outcome.connections += len({p for _, _, p in kept})
        if kept:
            arrivals.append([t for t, _, _ in kept])
    outcome.requests = sum(len(times) for times in arrivals)
    outcome.server = spacing(arrivals, delay)
    outcome.client = spacing(
        [[t for t in times if since <= t <= until] for times in sent.values()], delay
    )
    if arrivals:
        span = max(max(times) for times in arrivals) - min(min(times) for times in arrivals)
        if span > 0:
            outcome.sustained = (outcome.requests - len(arrivals)) / span


def run_once(
    name: str,
    backend: str,
    db_url: str,
    sites: Sites,
    work: Path,
    *,
    per_host: int,
    rate: float,
    concurrency: int,
    order: str = "round-robin",
    window: float | None = None,
    deadline: float = 75.0,
) -> Outcome:
    """Check ``per_host`` URLs on every host; with ``window``, stop the pool after that long
    (and after ``deadline`` in any case, so that a stalled run cannot hang the benchmark)."""
    outcome = Outcome(name, backend, rate, concurrency, windowed=window is not None)
    urls = sites.urls(per_host, order)
    expected = dict(urls)
    root = Path(tempfile.mkdtemp(prefix=f"{backend}-", dir=work)) / "storage"
    liveness = {"per_host_rate": rate, "concurrency": concurrency}
    with make_archive(root, db_url, liveness) as archive:
        targets = insert_checks(archive, urls)
        outcome.checks = len(targets)
        checker = LivenessChecker.open(archive)
        checker.record = outcome.record_times.wrap(checker.record)  # type: ignore[method-assign]
        checker.check = outcome.check_times.wrap(checker.check)  # type: ignore[method-assign]
        sent: dict[str, list[float]] = {}
        sent_lock = threading.Lock()

        def on_request(request: httpx.Request) -> None:
            """Just before a request leaves: inside the host slot, before connecting."""
            now = time.monotonic()
            with sent_lock:
                sent.setdefault(request.url.host, []).append(now)

        checker.prober.client.event_hooks = {"request": [on_request], "response": []}
        watch_transactions(archive, outcome.transactions)
        sites.reset()
        stopped = threading.Event()

        def stop() -> None:
            stopped.set()
            checker.pool.shutdown(wait=False, cancel_futures=True)

        stopper = threading.Timer(window if window is not None else deadline, stop)
        started_at = utcnow()
        cpu = time.process_time()
        start = time.monotonic()
        stopper.start()
        with contextlib.suppress(CancelledError):  # the pool was stopped
            checker.run(targets)
        end = time.monotonic()
        outcome.cpu = time.process_time() - cpu
        stopper.cancel()
        checker.close()  # when stopped: waits for the checks already running
        if stopped.is_set() and window is None:
            print(f"  cut short: not done after {deadline:g} s")
            window = deadline
            outcome.windowed = True
        outcome.wall = window if window is not None else end - start
        log, outcome.server_errors = sites.log()
        with sent_lock:
            sent_copy = {host: list(times) for host, times in sent.items()}
        until = start + outcome.wall if window else float("inf")
        analyse_log(outcome, log, sent_copy, start, until)
        if window is None:
            requests_per_host = max(len(entries) for entries in log.values())
            outcome.ceiling = outcome.checks / max((requests_per_host - 1) / rate, 1e-9)
        with archive.read_session() as session:
            checks = session.execute(
                select(LinkCheck.url, LinkCheck.status, LinkCheck.checked_at)
            ).all()
            event_times = session.scalars(select(LinkCheckEvent.at)).all()
        cutoff = naive_utc(started_at + timedelta(seconds=window or 1e6))
        outcome.events = sum(naive_utc(at) <= cutoff for at in event_times)
        for url, status, checked_at in checks:
            if checked_at is None or naive_utc(checked_at) > cutoff:
                continue  # not checked, or (with a window) checked after it
            outcome.recorded += 1
            outcome.statuses[status or "none"] += 1
            outcome.wrong += status != expected[url]
    return outcome


# ---- output ----------------------------------------------------------------------------------


def describe(o: Outcome) -> None:
    ms = 1000.0
    print(f"  settings: [liveness] per_host_rate = {o.rate:g}, concurrency = {o.concurrency}")
    if not o.windowed:
        print(
            f"  {o.checks} checks in {o.wall:.2f} s = {o.per_second:.1f} checks/s end to end"
            f" (ceiling under the limit: {o.ceiling:.1f}/s); sustained {o.sustained:.1f}/s"
        )
    else:
        print(
            f"  {o.recorded} of {o.checks} checks done in the {o.wall:.1f} s window ="
            f" {o.per_second:.1f} checks/s (servers saw {o.requests} requests)"
        )
    methods = ", ".join(f"{m} {n}" for m, n in sorted(o.methods.items()))
    statuses = ", ".join(f"{s} {n}" for s, n in sorted(o.statuses.items()))
    print(
        f"  requests: {o.requests} ({methods}) on {o.connections} TCP connections;"
        f" recorded: {o.recorded} ({statuses}), {o.events} status events,"
        f" {o.wrong} wrong, server errors {o.server_errors}"
    )
    for label, found in (("servers saw", o.server), ("client sent", o.client)):
        gap = f"{found.min_gap * ms:.1f} ms" if found.min_gap != float("inf") else "n/a"
        print(
            f"  per host, {label}: at most {found.max_window} requests in a 1 s window"
            f" (limit {o.rate:g}); smallest gap {gap} (1/rate = {ms / o.rate:.0f} ms);"
            f" {found.short_gaps} gaps under 1/rate, {found.clearly_short} under 95 % of it"
        )
    c, r = o.check_times, o.record_times
    print(
        f"  check() p50 {c.percentile(0.5) * ms:.1f} ms, p99 {c.percentile(0.99) * ms:.1f} ms"
        f" (limiter wait included); record() p50 {r.percentile(0.5) * ms:.1f} ms,"
        f" p99 {r.percentile(0.99) * ms:.1f} ms, max {max(r.values, default=0) * ms:.1f} ms"
    )
    done = max(len(c.values), 1)
    print(
        f"  this process used {o.cpu:.2f} CPU s = {o.cpu / done * ms:.2f} ms per check;"
        f" record() took {sum(r.values):.1f} s summed over threads"
    )
    t = o.transactions
    held = sum(t.values)
    if o.windowed:
        share = ""
    elif o.backend == "sqlite":
        share = f" = the write lock held {held / o.wall:.0%} of the wall time"
    else:
        share = f" = {held / o.wall:.1f} open at once on average"
    lock = " (SQLite: each holds the one write lock)" if o.backend == "sqlite" else ""
    print(
        f"  {len(t.values)} write transactions{lock}: p50 {t.percentile(0.5) * ms:.1f} ms,"
        f" p90 {t.percentile(0.9) * ms:.1f} ms; open {held:.2f} s in all{share}"
    )


@dataclass
class Row:
    name: str
    measured: str
    target: str
    verdict: str  # PASS, FAIL, info, skip


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def throughput_rows(o: Outcome) -> list[Row]:
    label = f"{o.backend}, rate {o.rate:g}/s/host, concurrency {o.concurrency}"
    correct = o.recorded == o.checks and o.wrong == 0 and o.server_errors == 0
    return [
        Row(
            f"throughput ({label})",
            f"{o.per_second:.1f} checks/s",
            f">= {TARGET_CHECKS:.0f}",
            verdict(o.per_second >= TARGET_CHECKS),
        ),
        Row(
            f"max per-host rate ({o.backend}, 1 s window)",
            f"{o.server.max_window} req/s",
            f"<= {o.rate:g}",
            verdict(o.server.max_window <= o.rate),
        ),
        Row(
            f"max per-host rate, as sent by the client ({o.backend})",
            f"{o.client.max_window} req/s",
            "",
            "info",
        ),
        Row(
            f"TCP connections opened ({o.backend})",
            f"{o.connections} for {o.requests} req",
            "",
            "info",
        ),
        Row(
            f"every check recorded right ({o.backend})",
            f"{o.recorded}/{o.checks}, {o.wrong} wrong",
            "all, 0 wrong",
            verdict(correct),
        ),
    ]


def print_table(rows: list[Row]) -> None:
    widths = [max(len(getattr(r, f)) for r in rows) for f in ("name", "measured", "target")]
    header = ("check", "measured", "target", "result")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=False)]
    line = f"{{:<{widths[0]}}}  {{:>{widths[1]}}}  {{:>{widths[2]}}}  {{}}"
    print(line.format(*header))
    print("-" * (sum(widths) + 14))
    for r in rows:
        print(line.format(r.name, r.measured, r.target, r.verdict))


def load_line() -> str:
    with contextlib.suppress(OSError):
        one, five, _ = os.getloadavg()
        return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"
    return "load average unknown"


# ---- the parts -----------------------------------------------------------------------------


@dataclass
class Plan:
    per_host: int  # throughput runs: URLs per host
    default_per_host: int  # default-settings run: URLs per host
    window: float  # host-order run: seconds before the pool is stopped
    pg_url: str
    rate: float = FAST_RATE  # [liveness] per_host_rate of the throughput and host-order runs
    concurrency: int = FAST_CONCURRENCY  # [liveness] concurrency of those runs


def part_throughput(sites: Sites, work: Path, plan: Plan) -> list[Row]:
    print(f"\n1. throughput, SQLite: {plan.per_host * HOSTS} file checks, round-robin hosts")
    fast = run_once(
        "throughput",
        "sqlite",
        "",
        sites,
        work,
        per_host=plan.per_host,
        rate=plan.rate,
        concurrency=plan.concurrency,
    )
    describe(fast)
    return throughput_rows(fast)


def part_postgresql(sites: Sites, work: Path, plan: Plan) -> list[Row]:
    print(f"\n1b. throughput, PostgreSQL: {plan.per_host * HOSTS} file checks, round-robin hosts")
    pg_error = pg_reachable(plan.pg_url)
    if pg_error is not None:
        print(f"  skipped: PostgreSQL unreachable: {pg_error}")
        return [Row("throughput (postgresql)", "-", "", f"skip ({pg_error})")]
    with pg_schema(plan.pg_url) as url:
        pg = run_once(
            "throughput",
            "postgresql",
            url,
            sites,
            work,
            per_host=plan.per_host,
            rate=plan.rate,
            concurrency=plan.concurrency,
        )
        describe(pg)
    return throughput_rows(pg)


def part_defaults(sites: Sites, work: Path, plan: Plan) -> list[Row]:
    defaults = LivenessConfig()
    print(
        f"\n2. default settings, SQLite: {plan.default_per_host * HOSTS} file checks,"
        " round-robin hosts"
    )
    slow = run_once(
        "default",
        "sqlite",
        "",
        sites,
        work,
        per_host=plan.default_per_host,
        rate=defaults.per_host_rate,
        concurrency=defaults.concurrency,
    )
    describe(slow)
    expected = HOSTS * defaults.per_host_rate
    return [
        Row(
            f"default settings (rate {defaults.per_host_rate:g}/s/host,"
            f" concurrency {defaults.concurrency}): sustained",
            f"{slow.sustained:.1f} checks/s",
            f"~{expected:.0f} (>= {0.9 * expected:.0f})",
            verdict(0.9 * expected <= slow.sustained <= 1.02 * expected),
        ),
        Row(
            "default settings: end to end (first request per host free)",
            f"{slow.per_second:.1f} checks/s",
            "",
            "info",
        ),
        Row(
            "default settings: max per-host rate (1 s window)",
            f"{slow.server.max_window} req/s",
            f"<= {defaults.per_host_rate:g}",
            verdict(slow.server.max_window <= defaults.per_host_rate),
        ),
        Row(
            "default settings: max per-host rate, as sent by the client",
            f"{slow.client.max_window} req/s",
            "",
            "info",
        ),
        Row(
            "default settings: every check recorded right",
            f"{slow.recorded}/{slow.checks}, {slow.wrong} wrong",
            "all, 0 wrong",
            verdict(slow.recorded == slow.checks and slow.wrong == 0),
        ),
    ]


def part_host_order(sites: Sites, work: Path, plan: Plan) -> list[Row]:
    print(
        f"\n3. host order, SQLite: {plan.per_host * HOSTS} file checks, all of one host"
        f" then the next; stopped after {plan.window:g} s"
    )
    grouped = run_once(
        "host order",
        "sqlite",
        "",
        sites,
        work,
        per_host=plan.per_host,
        order="host",
        window=plan.window,
        rate=plan.rate,
        concurrency=plan.concurrency,
    )
    describe(grouped)
    return [
        Row(
            "host-ordered rows, same settings as 1",
            f"{grouped.per_second:.1f} checks/s",
            "",
            "info",
        ),
        Row(
            "host-ordered rows: max per-host rate (1 s window)",
            f"{grouped.server.max_window} req/s",
            f"<= {plan.rate:g}",
            verdict(grouped.server.max_window <= plan.rate),
        ),
    ]


PARTS: list[tuple[str, Callable[[Sites, Path, Plan], list[Row]]]] = [
    ("throughput (sqlite)", part_throughput),
    ("throughput (postgresql)", part_postgresql),
    ("default settings", part_defaults),
    ("host order", part_host_order),
]


# ---- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer checks (about 40 s)")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="PostgreSQL (a schema is made)")
    parser.add_argument(
        "--rate", type=float, default=FAST_RATE, help="per_host_rate of the throughput runs"
    )
    parser.add_argument(
        "--concurrency", type=int, default=FAST_CONCURRENCY, help="their concurrency"
    )
    parser.add_argument("--serve", type=int, metavar="PER_HOST", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(HOSTS, FIRST_HOST, args.serve)
        return

    logging.getLogger("archiver").setLevel(logging.ERROR)  # no liveness.dead lines
    plan = Plan(
        per_host=20 if args.quick else 40,  # throughput: 1,000 or 2,000 checks
        default_per_host=4 if args.quick else 6,  # default settings: 200 or 300 checks
        window=4.0 if args.quick else 6.0,
        pg_url=args.pg_url,
        rate=args.rate,
        concurrency=args.concurrency,
    )
    rows: list[Row] = []
    print(f"liveness benchmark: {HOSTS} hosts 127.0.0.{FIRST_HOST}-{FIRST_HOST + HOSTS - 1}")
    print(f"{os.cpu_count()} CPUs, {load_line()}")
    began = time.monotonic()
    sites = Sites(plan.per_host)
    try:
        with tempfile.TemporaryDirectory(prefix="liveness-bench-") as tmp:
            for name, part in PARTS:
                try:
                    rows += part(sites, Path(tmp), plan)
                except Exception as exc:  # report it and go on with the other parts
                    traceback.print_exc()
                    rows.append(Row(name, "-", "", f"FAIL ({type(exc).__name__})"))
    finally:
        sites.close()

    print(f"\nsummary ({time.monotonic() - began:.0f} s in all; {load_line()})\n")
    print_table(rows)


if __name__ == "__main__":
    main()
