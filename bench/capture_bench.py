"""Capture benchmark: ``archiver capture`` of a page's media, against a floor and yt-dlp.

    .venv/bin/python bench/capture_bench.py            # 3 rounds, 2 GiB big file (~3-4 min)
    .venv/bin/python bench/capture_bench.py --quick    # 1 round, 300 MiB big file (smoke check)

A live-blog page (an ``<article>`` of updates, each with a ``<video src>`` and two
``<img src>`` in figures) is served from 127.0.0.1 by the tests' ``FixtureServer``, which
streams the files from disk. Its 30 files are generated once per run: 3 real H.264/AAC
clips (``make_clip``, 720p and 1080p, 1.4-1.8 MiB), 7 videos made of a real clip's
header followed by filler up to 4-20 MiB (``make_big_file``: no encoding time) and 20
real photographs (``make_photo``, 0.5-3 megapixel JPEGs); every file has different
bytes. Nothing leaves the machine.

Each round runs these one after the other, so machine noise hits them alike:

capture
    ``archiver --config CFG capture PAGE --json`` as a process against a fresh, empty
    archive (SQLite, default settings but ``allow_private_addresses``); wall time from
    spawn to exit. The report must list the 30 files as stored with the right SHA-256,
    or the notes say what went wrong.
floor
    ``bench/_capture_floor.py`` as a process: the same 30 file URLs fetched with plain
    httpx by as many threads as archiver opens connections to the page's host (its
    ``[download] concurrency``, at most ``per_host_concurrency``), each streamed to
    disk and hashed with SHA-256: the least work archiving them can take. It does not
    fetch the page, fsync, compute MD5 or keep an index.
capture and floor over a link
    The same two, with the server sending each response no faster than ``--link-mbit``
    (default 100 Mbit/s) per connection: a file host on the internet rather than
    loopback. On loopback the 30 files arrive in a few tenths of a second, less than
    Python's start-up and imports, so that ratio mostly measures start-up and the
    CPU work of archiving; over a link it measures what archiving adds to a download.
sequential yt-dlp
    What people script by hand: ``python -m yt_dlp --ignore-config --no-progress -o
    DIR/%(id)s.%(ext)s URL`` for each of the 30 URLs, one after another; the sum of the
    30 wall times. Each must leave its file, byte for byte the size served.
fixed cost
    ``archiver capture`` of a page without media on a fresh archive: interpreter start,
    imports, creating and migrating the database, storing the page. Part of the capture
    row; shown to tell start-up from the cost that grows with the files.
libraries alone
    ``python -c "import sqlalchemy.orm, httpx"``: the interpreter and the two libraries
    the design names for the index and for downloads, loaded and nothing done. Any
    ``capture`` built on them pays this before its first request; shown against the
    1.3x target's allowance.
peak RSS
    ``archiver capture`` of a page embedding one 2 GiB video (a real clip's header, then
    filler, written to a temp dir and deleted at the end). The figure is the process's
    peak resident memory, which must not grow with the file.

How to read the table: each figure is the median of the rounds, with min and max.
``vs floor`` divides a median time by the floor's. ``CPU s`` is the median user + system
CPU time of the process (summed over the 30 processes for yt-dlp): steadier than wall
time on a busy machine. ``RSS MB`` is the median peak resident memory (VmHWM, MB = 10^6
bytes; the largest of the 30 for yt-dlp). Targets are checked on medians: capture within
1.3x of the floor, at least 3x faster than sequential yt-dlp, at most 250 MB peak RSS for
the big file; the 1.3x target is checked on loopback and over the link. A last line
divides capture's CPU time by the number of cores: no schedule of that much work can
come closer to the loopback floor than that. The load average is printed before and
after: other work on the machine slows every row. The benchmark reports; it always
exits 0.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from _child import vm_hwm  # type: ignore[import-not-found]  # noqa: E402
from support.media import make_big_file, make_clip, make_photo  # noqa: E402
from support.server import FixtureServer  # noqa: E402

from archiver.config import load_config  # noqa: E402

BIN = Path(sys.executable).parent
FLOOR_SCRIPT = Path(__file__).resolve().parent / "_capture_floor.py"
MIB = 1 << 20
TITLE = "archiver capture benchmark: a page's media, against a floor and against yt-dlp"

TARGET_FLOOR_RATIO = 1.3  # capture may take at most this many times the floor
TARGET_YTDLP_SPEEDUP = 3.0  # capture must be at least this many times faster than yt-dlp
TARGET_PEAK_RSS = 250 * 10**6  # bytes

# Time limits per process, so a hung child cannot stall the run.
CAPTURE_TIMEOUT = 180.0
LINK = "/link"  # the same files, served at ``--link-mbit`` per connection
FLOOR_TIMEOUT = 120.0
YTDLP_TIMEOUT = 60.0  # each of the 30 invocations
BIG_TIMEOUT = 300.0
#: What the ``libraries alone`` row runs: the design's index and download libraries.
LIBRARIES = "import sqlalchemy.orm, httpx"


# ---- the media and the page -----------------------------------------------------------


@dataclass(frozen=True)
class MediaFile:
    name: str  # file name, also the last path segment of its URL
    path: Path
    kind: str  # "video" or "photo"
    made_by: str  # how it was generated
    size: int
    sha256: str

    @property
    def url_path(self) -> str:
        return f"/media/2026/11/{self.name}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


# (name, seconds, size) of the real clips; (name, MiB) of the header + filler videos
CLIPS = (
    ("idlib-frontline-720p.mp4", 4.0, (1280, 720)),
    ("aleppo-citadel-720p.mp4", 6.0, (1280, 720)),
    ("hama-convoy-1080p.mp4", 3.0, (1920, 1080)),
)
FILLED = (
    ("press-briefing.mp4", 4),
    ("field-hospital.mp4", 6),
    ("checkpoint-footage.mp4", 8),
    ("market-strike.mp4", 11),
    ("rescue-operation.mp4", 14),
    ("drone-overflight.mp4", 17),
    ("raqqa-interview.mp4", 20),
)
PHOTO_SIZES = ((2048, 1536), (1600, 1067), (1280, 960), (1024, 768), (800, 600))
PHOTO_COUNT = 20


def make_media(directory: Path) -> list[MediaFile]:
    """The 30 files: 10 videos and 20 photos, all distinct, in page order."""
    directory.mkdir(parents=True, exist_ok=True)
    videos: list[tuple[Path, str]] = []
    for seed, (name, seconds, size) in enumerate(CLIPS, start=11):
        clip = make_clip(directory / name, seconds=seconds, size=size, seed=seed)
        videos.append((clip, f"H.264 clip {size[0]}x{size[1]} {seconds:.0f}s"))
    for seed, (name, mib) in enumerate(FILLED, start=21):
        videos.append((make_big_file(directory / name, mib * MIB, seed=seed), "header + filler"))
    photos: list[tuple[Path, str]] = []
    for index in range(PHOTO_COUNT):
        size = PHOTO_SIZES[index % len(PHOTO_SIZES)]
        path = make_photo(directory / f"photo-{index + 1:02d}.jpg", seed=100 + index, size=size)
        photos.append((path, f"JPEG {size[0]}x{size[1]}"))
    # Page order: each update has one video and two photos.
    ordered: list[tuple[Path, str, str]] = []
    for index, (video, made_by) in enumerate(videos):
        ordered.append((video, "video", made_by))
        ordered += [(path, "photo", how) for path, how in photos[2 * index : 2 * index + 2]]
    files = [
        MediaFile(path.name, path, kind, made_by, path.stat().st_size, _sha256(path))
        for path, kind, made_by in ordered
    ]
    if len({f.sha256 for f in files}) != len(files):
        raise RuntimeError("generated media are not all distinct")
    return files


HOURS = ("0600", "0745", "0910", "1030", "1215", "1340", "1500", "1620", "1800", "1945")
PLACES = ("Idlib", "Aleppo", "Hama", "Homs", "Raqqa", "Deir ez-Zor", "Daraa", "Latakia")


def page_html(files: Sequence[MediaFile], prefix: str = "") -> str:
    """A live blog: site chrome around an <article> of updates, one embed per figure;
    the files' URLs start with ``prefix``."""
    updates: list[str] = []
    per_update = 3
    for number in range(0, len(files), per_update):
        index = number // per_update
        place = PLACES[index % len(PLACES)]
        figures = []
        for f in files[number : number + per_update]:
            caption = escape(f"{place}: {f.name.rsplit('.', 1)[0].replace('-', ' ')}.")
            if f.kind == "video":
                element = f'<video controls preload="none" src="{prefix}{f.url_path}"></video>'
            else:
                element = f'<img src="{prefix}{f.url_path}" alt="{caption}" loading="lazy">'
            figures.append(f"<figure>{element}<figcaption>{caption}</figcaption></figure>")
        updates.append(
            f"""<section class="update" id="update-{index + 1}">
  <h2>UPDATE {HOURS[index % len(HOURS)]} GMT</h2>
  <p>Activists in {place} are posting video and photographs of the fighting near the
  city centre; we have not been able to verify them independently.</p>
  {"".join(figures)}
</section>"""
        )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Syria Daily, Sept 28: fighting around the Citadel - Newsroom</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
</head>
<body>
<header class="site-header"><a href="/" class="logo">Newsroom</a>
<nav><a href="/world/">World</a> <a href="/middle-east/">Middle East</a></nav></header>
<main>
<article class="live-blog">
<h1>Syria Daily, Sept 28: fighting around the Citadel</h1>
<p class="byline">By our correspondents, updated throughout the day</p>
<p class="lede">ORIGINAL ENTRY: Clashes continued overnight in several cities.</p>
{chr(10).join(updates)}
</article>
</main>
<aside class="related"><h3>Related</h3>
<ul><li><a href="/world/syria-daily-sept-27">Sept 27</a></li></ul></aside>
<footer><p>&copy; Newsroom</p></footer>
</body>
</html>
"""


EMPTY_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Syria Daily, Sept 29 - Newsroom</title></head>
<body><main><article><h1>Syria Daily, Sept 29</h1>
<p>ORIGINAL ENTRY: A quiet night; no new footage has been posted.</p></article></main></body>
</html>
"""


def big_page_html(url_path: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Full drone footage - Newsroom</title></head>
<body><main><article><h1>The full, unedited drone footage</h1>
<p>UPDATE 2100 GMT: The whole recording, as the activists uploaded it:</p>
<figure><video controls preload="none" src="{url_path}"></video>
<figcaption>Drone footage over the Citadel, unedited.</figcaption></figure>
</article></main></body></html>
"""


# ---- running a process ------------------------------------------------------------------


@dataclass(frozen=True)
class Child:
    wall: float  # seconds from spawn to exit
    cpu: float  # user + system CPU seconds of the process
    returncode: int | None  # None: killed at the time limit
    peak_rss: int  # bytes: the largest VmHWM seen while it ran
    stdout: str
    stderr: str

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def run_child(command: Sequence[str], timeout: float) -> Child:
    """Run a process to completion, killing its process group at ``timeout``.

    It is reaped with ``wait4`` the moment it exits (exact wall and CPU time). Peak
    memory is VmHWM from /proc, sampled every 20 ms: a high-water mark, so only
    growth in the last 20 ms before exit could be missed. (``wait4``'s ru_maxrss is
    no use here: it starts from this process's own size at fork.)
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True
        )
        reaped: list[tuple[int, resource.struct_rusage, float]] = []

        def reap() -> None:
            _, status, usage = os.wait4(process.pid, 0)
            reaped.append((status, usage, time.perf_counter()))

        reaper = threading.Thread(target=reap, daemon=True)
        reaper.start()
        peak = 0
        killed = False
        while reaper.is_alive():
            peak = max(peak, vm_hwm(process.pid))
            if time.perf_counter() - start > timeout:
                os.killpg(process.pid, signal.SIGKILL)
                killed = True
                reaper.join()
                break
            reaper.join(0.02)
        status, usage, end = reaped[0]
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        return Child(
            wall=end - start,
            cpu=usage.ru_utime + usage.ru_stime,
            returncode=None if killed else process.returncode,
            peak_rss=peak,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


def _failure(child: Child, what: str) -> str:
    if child.timed_out:
        return f"{what}: killed after {child.wall:.0f}s"
    lines = [line for line in child.stderr.splitlines() if line.strip()]
    last = lines[-1][:160] if lines else "no output"
    return f"{what}: exit {child.returncode}: {last}"


# ---- the measurements ---------------------------------------------------------------------


@dataclass
class Series:
    """One row of the table: what each round measured, and what went wrong, if anything."""

    label: str
    unit: str  # "s": the figure is wall time; "MB": the figure is peak RSS
    walls: list[float] = field(default_factory=list)  # seconds
    cpus: list[float] = field(default_factory=list)  # CPU seconds
    peaks: list[float] = field(default_factory=list)  # MB (10^6 bytes)
    problems: list[str] = field(default_factory=list)

    def add(self, wall: float, cpu: float, peak: int, problem: str | None = None) -> None:
        self.walls.append(wall)
        self.cpus.append(cpu)
        self.peaks.append(peak / 1e6)
        if problem:
            self.fail(problem)

    def fail(self, problem: str) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    @property
    def values(self) -> list[float]:
        return self.walls if self.unit == "s" else self.peaks

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


class Bench:
    """The fixtures on the server, and one method per measurement (each adds a round)."""

    def __init__(
        self, work: Path, server: FixtureServer, files: list[MediaFile], link_rate: float
    ) -> None:
        self.work = work
        self.server = server
        self.files = files
        self.runs = 0
        self.page_url = server.url("/2026/09/28/syria-daily-live.html")
        self.link_page_url = server.url(f"{LINK}/2026/09/28/syria-daily-live.html")
        self.empty_url = server.url("/2026/09/29/syria-daily-live.html")
        self.big_url = server.url("/2026/09/30/drone-footage.html")
        server.add_page("/2026/09/28/syria-daily-live.html", page_html(files))
        server.add_page(f"{LINK}/2026/09/28/syria-daily-live.html", page_html(files, LINK))
        server.add_page("/2026/09/29/syria-daily-live.html", EMPTY_PAGE)
        for f in files:
            server.add_file(f.url_path, f.path)
            server.add_file(LINK + f.url_path, f.path, rate=link_rate)
        self.expected = {f.sha256 for f in files}
        settings = load_config(self._archive_config(work / "probe"))
        self.concurrency = settings.download.concurrency
        self.per_host = settings.download.per_host_concurrency
        self.threads = min(self.concurrency, self.per_host)  # all files are on one host
        shutil.rmtree(work / "probe")

    def serve_big(self, media: MediaFile) -> None:
        self.server.add_file(media.url_path, media.path)
        self.server.add_page("/2026/09/30/drone-footage.html", big_page_html(media.url_path))

    def _fresh(self, name: str) -> Path:
        self.runs += 1
        directory = self.work / f"{name}-{self.runs}"
        directory.mkdir()
        return directory

    @staticmethod
    def _archive_config(directory: Path) -> Path:
        """A config for a new archive in ``directory``; archiver's defaults otherwise."""
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "archiver.toml"
        config.write_text(
            f"[storage]\nroot = {json.dumps(str(directory / 'storage'))}\n\n"
            "[network]\nallow_private_addresses = true\n"
        )
        return config

    def _capture(self, url: str, timeout: float) -> tuple[Child, dict[str, Any] | None]:
        """``archiver capture URL --json`` against a new archive, deleted afterwards."""
        directory = self._fresh("archive")
        config = self._archive_config(directory)
        command = [str(BIN / "archiver"), "--config", str(config), "capture", url, "--json"]
        try:
            child = run_child(command, timeout)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        try:
            report = json.loads(child.stdout)
        except ValueError:
            return child, None
        return child, report if isinstance(report, dict) else None

    @staticmethod
    def _check(child: Child, report: dict[str, Any] | None, expected: set[str]) -> str | None:
        """None when the report lists exactly the expected files, each newly stored."""
        if child.timed_out:
            return f"killed after {child.wall:.0f}s"
        if report is None:
            return _failure(child, "no JSON report")
        items: list[dict[str, Any]] = report.get("items") or []
        stored = {
            file["sha256"]
            for item in items
            if item.get("status") == "stored"
            for file in item.get("files", [])
        }
        if stored == expected and len(items) == len(expected):
            return None
        reasons = [str(item.get("reason")) for item in items if item.get("status") != "stored"]
        return (
            f"{len(stored & expected)}/{len(expected)} stored"
            + (f" (error: {report.get('error')})" if report.get("error") else "")
            + (f" (first problem: {reasons[0]})" if reasons else "")
        )

    def capture(self, series: Series, page_url: str) -> None:
        child, report = self._capture(page_url, CAPTURE_TIMEOUT)
        series.add(child.wall, child.cpu, child.peak_rss, self._check(child, report, self.expected))

    def fixed_cost(self, series: Series) -> None:
        child, report = self._capture(self.empty_url, CAPTURE_TIMEOUT)
        ok = report is not None and report.get("ok") is True and report.get("items") == []
        series.add(child.wall, child.cpu, child.peak_rss, None if ok else _failure(child, "empty"))

    def libraries(self, series: Series) -> None:
        child = run_child([sys.executable, "-c", LIBRARIES], CAPTURE_TIMEOUT)
        ok = child.returncode == 0
        series.add(child.wall, child.cpu, child.peak_rss, None if ok else _failure(child, "import"))

    def floor(self, series: Series, prefix: str) -> None:
        out = self._fresh("floor")
        command = [sys.executable, str(FLOOR_SCRIPT), "--concurrency", str(self.threads)]
        command += ["--out", str(out), *(self.server.url(prefix + f.url_path) for f in self.files)]
        child = run_child(command, FLOOR_TIMEOUT)
        shutil.rmtree(out, ignore_errors=True)
        got = {line.split()[0] for line in child.stdout.splitlines() if line.strip()}
        ok = child.returncode == 0 and got == self.expected
        series.add(child.wall, child.cpu, child.peak_rss, None if ok else _failure(child, "floor"))

    def ytdlp(self, series: Series) -> None:
        out = self._fresh("ytdlp")
        wall = cpu = 0.0
        peak = 0
        problem: str | None = None
        for f in self.files:
            command = [str(BIN / "python"), "-m", "yt_dlp", "--ignore-config", "--no-progress"]
            command += ["-o", f"{out}/%(id)s.%(ext)s", self.server.url(f.url_path)]
            child = run_child(command, YTDLP_TIMEOUT)
            wall, cpu, peak = wall + child.wall, cpu + child.cpu, max(peak, child.peak_rss)
            if child.returncode != 0:
                problem = problem or _failure(child, f"yt-dlp {f.name}")
        sizes = sorted(path.stat().st_size for path in out.iterdir())
        shutil.rmtree(out, ignore_errors=True)
        if sizes != sorted(f.size for f in self.files):
            problem = problem or f"yt-dlp left {len(sizes)} files, not the {len(self.files)} served"
        series.add(wall, cpu, peak, problem)

    def big_file(self, series: Series, media: MediaFile) -> None:
        child, report = self._capture(self.big_url, BIG_TIMEOUT)
        problem = self._check(child, report, {media.sha256})
        series.add(child.wall, child.cpu, child.peak_rss, problem)


def make_big(directory: Path, size: int) -> MediaFile:
    """The big video, written in 1 MiB chunks and synced so that its write-back does not
    overlap the measurements."""
    directory.mkdir(parents=True, exist_ok=True)
    path = make_big_file(directory / "drone-footage-full.mp4", size, seed=99)
    with path.open("rb+") as f:
        os.fsync(f.fileno())
    return MediaFile(path.name, path, "video", "header + filler", size, _sha256(path))


# ---- the report ---------------------------------------------------------------------------


def _allowance(spent: float | None, floor: float | None) -> str:
    """How much of the 1.3x target's allowance loading the libraries alone takes."""
    if not spent or not floor:
        return ""
    return f"{spent / (TARGET_FLOOR_RATIO * floor):.0%} of the {TARGET_FLOOR_RATIO}x allowance"


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_table(rows: Sequence[tuple[Series, str]], floor: float | None) -> None:
    head = (
        f"{'measurement':<52} {'median':>7} {'min':>7} {'max':>7} {'vs floor':>8} "
        f"{'CPU s':>6} {'RSS MB':>6}  notes"
    )
    print(head)
    print("-" * len(head))
    for series, note in rows:
        values = series.values
        digits = 2 if series.unit == "s" else 0
        median = series.median
        ratio = ""
        if series.unit == "s" and floor and median is not None:
            ratio = f"{median / floor:.2f}x"
        notes = "; ".join([note] * bool(note) + series.problems)
        print(
            f"{series.label + ' [' + series.unit + ']':<52} {_num(median, digits):>7} "
            f"{_num(min(values, default=None), digits):>7} "
            f"{_num(max(values, default=None), digits):>7} {ratio:>8} "
            f"{_num(_median(series.cpus)):>6} {_num(_median(series.peaks), 0):>6}  {notes}"
        )


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f} (1 min), {five:.1f} (5 min)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 round, 300 MiB big file")
    parser.add_argument(
        "--link-mbit",
        type=float,
        default=100.0,
        help="per-connection speed of the emulated link, Mbit/s (default 100)",
    )
    args = parser.parse_args()
    link_rate = args.link_mbit * 1e6 / 8
    rounds = 1 if args.quick else 3
    big_size = 300 * MIB if args.quick else 2 * 2**30
    big_label = f"{big_size / 2**30:.2f} GiB"

    started = time.perf_counter()
    load_before = _load()
    # An installed archiver has its bytecode compiled (pip does that); from a source tree
    # under PYTHONDONTWRITEBYTECODE every start would compile its hundred modules again.
    compileall.compile_dir(ROOT / "archiver", quiet=1)
    with tempfile.TemporaryDirectory(prefix="capture-bench-") as scratch, FixtureServer() as server:
        work = Path(scratch)
        t0 = time.perf_counter()
        files = make_media(work / "media")
        media_time = time.perf_counter() - t0
        t0 = time.perf_counter()
        big = make_big(work / "big", big_size)
        big_time = time.perf_counter() - t0
        bench = Bench(work, server, files, link_rate)
        bench.serve_big(big)

        videos = [f for f in files if f.kind == "video"]
        total = sum(f.size for f in files)
        print(TITLE)
        print(
            f"page with {len(files)} files, {total / MIB:.1f} MiB: {len(videos)} videos of "
            f"{min(f.size for f in videos) / MIB:.1f}-{max(f.size for f in videos) / MIB:.1f} MiB "
            f"({len(CLIPS)} real H.264 clips, {len(FILLED)} clip header + filler) and "
            f"{len(files) - len(videos)} JPEG photos, served by {server.base_url}"
        )
        print(
            f"archiver [download] concurrency = {bench.concurrency}, per_host_concurrency = "
            f"{bench.per_host}; floor threads = {bench.threads}; {rounds} round(s), "
            f"interleaved; {os.cpu_count()} CPUs, load average {load_before}"
        )
        print(f"generated in {media_time:.1f}s (page media) + {big_time:.1f}s ({big_label} file)")
        print(flush=True)

        capture = Series("archiver capture PAGE (CLI, fresh archive)", "s")
        floor = Series(f"floor: httpx, {bench.threads} threads, write + SHA-256", "s")
        mbit = f"{args.link_mbit:g} Mbit/s"
        link_capture = Series(f"archiver capture PAGE, {mbit} per connection", "s")
        link_floor = Series(f"floor, {mbit} per connection", "s")
        ytdlp = Series("sequential yt-dlp, one process per URL", "s")
        fixed = Series("  fixed cost: capture of a page without media", "s")
        libraries = Series("  libraries alone: import sqlalchemy.orm, httpx", "s")
        big_rss = Series(f"peak RSS: capture of one {big_label} file", "MB")
        steps: list[tuple[Series, Callable[[Series], None]]] = [
            (capture, lambda series: bench.capture(series, bench.page_url)),
            (floor, lambda series: bench.floor(series, "")),
            (link_capture, lambda series: bench.capture(series, bench.link_page_url)),
            (link_floor, lambda series: bench.floor(series, LINK)),
            (ytdlp, bench.ytdlp),
            (fixed, bench.fixed_cost),
            (libraries, bench.libraries),
            (big_rss, lambda series: bench.big_file(series, big)),
        ]
        for number in range(1, rounds + 1):
            for series, measure in steps:
                t0 = time.perf_counter()
                measure(series)
                took = time.perf_counter() - t0
                print(f"  round {number}/{rounds}: {series.label.strip():<50} {took:6.2f}s")
        big.path.unlink()
    print()

    mib = total / MIB
    big_wall = _median(big_rss.walls)
    rows = [
        (capture, f"{mib / capture.median:.0f} MiB/s" if capture.median else ""),
        (floor, f"{mib / floor.median:.0f} MiB/s" if floor.median else ""),
        (ytdlp, f"{mib / ytdlp.median:.0f} MiB/s" if ytdlp.median else ""),
        (fixed, "start-up, part of the capture row"),
        (libraries, _allowance(libraries.median, floor.median)),
        (big_rss, f"took {big_wall:.1f}s" if big_wall else ""),
    ]
    print_table(rows, floor.median)
    print(f"\nover an emulated link: the server sends each response at {mbit}")
    print_table(
        [
            (link_capture, f"{mib / link_capture.median:.0f} MiB/s" if link_capture.median else ""),
            (link_floor, f"{mib / link_floor.median:.0f} MiB/s" if link_floor.median else ""),
        ],
        link_floor.median,
    )

    ratio = capture.median / floor.median if capture.median and floor.median else None
    link_ratio = (
        link_capture.median / link_floor.median
        if link_capture.median and link_floor.median
        else None
    )
    speedup = ytdlp.median / capture.median if capture.median and ytdlp.median else None
    peak = big_rss.median
    checks = [
        (
            f"capture within {TARGET_FLOOR_RATIO}x of the floor (loopback)",
            f"{ratio:.2f}x" if ratio else "-",
            None if ratio is None else ratio <= TARGET_FLOOR_RATIO,
        ),
        (
            f"capture within {TARGET_FLOOR_RATIO}x of the floor ({mbit} link)",
            f"{link_ratio:.2f}x" if link_ratio else "-",
            None if link_ratio is None else link_ratio <= TARGET_FLOOR_RATIO,
        ),
        (
            f"capture at least {TARGET_YTDLP_SPEEDUP:.0f}x faster than sequential yt-dlp",
            f"{speedup:.1f}x" if speedup else "-",
            None if speedup is None else speedup >= TARGET_YTDLP_SPEEDUP,
        ),
        (
            f"peak RSS at most {TARGET_PEAK_RSS / 1e6:.0f} MB archiving a {big_label} file",
            f"{peak:.0f} MB" if peak else "-",
            None if peak is None else peak * 1e6 <= TARGET_PEAK_RSS,
        ),
    ]
    print("\ntargets (on medians)")
    for text, measured, ok in checks:
        verdict = "n/a " if ok is None else ("PASS" if ok else "FAIL")
        print(f"  {verdict}  {text:<62} {measured}")
    cpu = [_median(series.cpus) for series in (capture, fixed, floor)]
    if capture.median and fixed.median and floor.median and all(cpu):
        work_part = capture.median - fixed.median
        work_cpu = (cpu[0] or 0.0) - (cpu[1] or 0.0)
        print(
            f"\ncapture minus its fixed cost (the part that grows with the files): "
            f"{work_part:.2f}s wall = {work_part / floor.median:.2f}x the floor; "
            f"{work_cpu:.2f} CPU s = {work_cpu / (cpu[2] or 1.0):.2f}x the floor's"
        )
        cores = os.cpu_count() or 1
        bound = (cpu[0] or 0.0) / cores
        print(
            f"capture's CPU time spread over all {cores} cores takes {bound:.2f}s = "
            f"{bound / floor.median:.2f}x the loopback floor: no schedule of that work can "
            "come closer to it on this machine"
        )
    if any(series.problems for series, _ in rows):
        print("some runs did not archive everything: see the notes column")
    print(f"load average now {_load()}; total benchmark time {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
