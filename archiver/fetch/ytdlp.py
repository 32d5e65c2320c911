"""Platform and player URLs through yt-dlp, in a subprocess that cannot hang or crash us.

The subprocess runs in its own process group with a hard time-out; on time-out the
whole group is killed. Postprocessing that would change bytes is off (``--fixup
never``, ``--concat-playlist never``, no recoding, no embedding): a file served as one
stream is stored as served (an HLS stream as its segments one after another). Where
a platform serves video and audio as separate streams (Reddit, X's HLS, YouTube's
higher qualities), yt-dlp remuxes them into one file with the ffmpeg that ships in
the imageio-ffmpeg wheel: the encoded streams are the platform's (stream copy, never
a re-encode), the container is ffmpeg's, and the streams as served are deleted. Such
a file's ``format_id`` says so, ``VIDEO+AUDIO``, and its info lists both streams.

Unless private addresses are allowed, yt-dlp runs under :mod:`archiver.fetch.ytdlp_guard`,
which checks the address of every connection it makes, with native downloaders only
(no network download is handed to ffmpeg). The size cap is enforced on the files
being written, whether or not the server declared a length.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from archiver.config import NetworkConfig, YtdlpConfig
from archiver.errors import (
    UNAVAILABLE_ERRNOS,
    ArchiverError,
    ArchiveUnavailable,
    BlockedAddressError,
    FetchError,
    Interrupted,
)
from archiver.fetch.http import Deadline, download_limit
from archiver.fetch.netguard import check_host
from archiver.fetch.ytdlp_guard import (
    CANNOT_START,
    CANNOT_START_EXIT,
    EXEC,
    PARENT_ENV,
    REFUSED,
    UNGUARDED,
)
from archiver.jsontext import load_json
from archiver.logs import log_event

MAX_ENTRIES = 50  # a post may carry several videos or photos; a channel must not flood us
GUARD_MODULE = "archiver.fetch.ytdlp_guard"
SIZE_POLL = 0.5  # seconds between looks at the size of the files being written
MAX_RUN = 24 * 3600.0  # even a download that keeps making progress ends after a day

# yt-dlp's wording for media the platform says is removed, or closed to us (retrying
# will not help; a liveness check may see it return)
_REMOVED = re.compile(
    r"video unavailable|private video|has been removed|been terminated"
    r"|no longer available|does not exist|not available|removed for violating|copyright"
    r"|account .*suspended|sign in to confirm your age|login required|requires authentication",
    re.IGNORECASE,
)
# ... for a URL this yt-dlp gets nothing from: a post without video (a text or photo
# tweet), a site it has no extractor for. The post is not gone; a newer yt-dlp may help.
_NOTHING_TO_GET = re.compile(
    r"unsupported url|no video could be found|no media found|there(?:'s| is) no video"
    r"|is not a video or animated image",  # Imgur's photo posts
    re.IGNORECASE,
)
# ... for a failure of its own: no format matched (platform changes cause it, a newer
# yt-dlp fixes it). Retried, whatever "not available" says.
_ITS_OWN = re.compile(r"requested format is not available", re.IGNORECASE)
# ... for media closed to where we are, not removed ("not available from your location
# due to geo restriction", "has blocked it in your country on copyright grounds"):
# retried, never counted gone, whatever "not available" or "copyright" says.
_GEO = re.compile(r"from your location|geo[- ]?restrict|in your (?:country|region)", re.IGNORECASE)

#: How a file was encoded, as yt-dlp says (kept beside what a player page declares).
FORMAT_FIELDS = (
    "duration",
    "format",
    "format_id",
    "ext",
    "width",
    "height",
    "fps",
    "vcodec",
    "acodec",
)

PLATFORM_FIELDS = (
    "extractor",
    "extractor_key",
    "id",
    "title",
    "uploader",
    "uploader_id",
    "uploader_url",
    "channel",
    "channel_id",
    "channel_url",
    "upload_date",
    "timestamp",
    "release_timestamp",
    "description",
    "webpage_url",
    "original_url",
    *FORMAT_FIELDS,
    "view_count",
    "like_count",
    "tags",
    "categories",
    "location",
)


@dataclass(frozen=True)
class PlatformFile:
    """One downloaded media file with what the extractor said about it."""

    path: Path
    info: dict[str, Any]
    info_path: Path | None
    thumbnail: Path | None = None
    subtitles: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class YtdlpResult:
    """The files yt-dlp delivered; ``incomplete`` is why others behind the URL were not
    (an entry that failed or was over the size cap, a live stream), else None;
    ``notes`` say what beside them did not come (a subtitle track that failed)."""

    files: list[PlatformFile]
    version: str
    incomplete: ArchiverError | None = None
    notes: list[str] = field(default_factory=list)


def _ran(files: list[PlatformFile]) -> str | None:
    """The version of the yt-dlp that made the files, as it wrote in their info.json:
    one upgraded in place under a daemon that runs for months (``pip install -U``, the
    usual cure when a platform changes) was recorded as the one found at its start."""
    for file in files:
        stamp = file.info.get("_version")
        if isinstance(stamp, dict) and isinstance(stamp.get("version"), str) and stamp["version"]:
            return str(stamp["version"])[:64]
    return None


def platform_metadata(info: dict[str, Any]) -> dict[str, Any]:
    """The extractor's facts worth keeping as provenance (a subset of info.json)."""
    return {key: info[key] for key in PLATFORM_FIELDS if info.get(key) not in (None, "", [])}


#: Where yt-dlp lists the files it delivered (``--print-to-file``), in its work folder.
PATHS_FILE = ".delivered-paths.txt"
#: What yt-dlp says when it skips a file whose declared size is over ``--max-filesize``.
OVER_MAX_FILESIZE = "File is larger than max-filesize"
#: Live streams are left until they end (``--match-filter``): a recording of one grows
#: without end, and the platform keeps the whole stream once it is over.
NOT_LIVE = "!is_live"
#: What yt-dlp says when it leaves out an entry that `NOT_LIVE` filters.
LIVE_SKIPPED = f"does not pass filter ({NOT_LIVE})"


#: What yt-dlp says before it downloads a subtitle track, on stdout.
_WRITING_SUBTITLES = re.compile(r"^\[info\] Writing video subtitles to: (.+)$", re.MULTILINE)

#: Subtitle formats yt-dlp writes beside a download.
_SUBTITLE_SUFFIXES = frozenset(
    {".vtt", ".srt", ".ass", ".ssa", ".ttml", ".srv1", ".srv2", ".srv3", ".json3", ".lrc",
     ".dfxp", ".sbv"}
)  # fmt: skip
#: Thumbnails keep the extension of their URL: TikTok's covers end in ``.image``.
_THUMBNAIL_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".avif", ".heic", ".heif", ".bmp", ".image"}
)

#: yt-dlp's report of a write that failed for want of room (ENOSPC, EDQUOT, EROFS)
_ARCHIVE_FULL = re.compile(
    r"\[Errno (?:" + "|".join(map(str, sorted(UNAVAILABLE_ERRNOS))) + r")\] [^\n]*"
)


#: yt-dlp's network errors end in the exception they wrap, which mostly repeats them:
#: ``…: Failed to resolve 'host' (caused by TransportError("…: Failed to resolve 'host'"))``
_CAUSED_BY = re.compile(r"""\s*\(caused by \w+\((["']?)(.*)\1\)\)$""")


def error_line(stderr: str) -> str:
    """yt-dlp's own one-line reason (its last ``ERROR:`` line), or the last line; a
    wrapped cause that only repeats the reason is left out."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [n for n, line in enumerate(lines) if line.startswith("ERROR:")]
    if not errors:
        return _without_repeated_cause(lines[-1] if lines else "no output")
    reason = lines[errors[-1]].removeprefix("ERROR:").strip()
    # A download that failed is reported as "ERROR: " with the reason on the lines
    # after it ("[download] Got error: HTTP Error 503 ... Giving up after 10 retries").
    reason = reason or " ".join(lines[errors[-1] + 1 :]) or "no reason given"
    return _without_repeated_cause(reason)


def _without_repeated_cause(reason: str) -> str:
    """``reason`` without a wrapped cause that only repeats it, cut to a storable length."""
    cause = _CAUSED_BY.search(reason)
    if cause and cause[2] and cause[2] in reason[: cause.start()]:
        reason = reason[: cause.start()]
    return reason[:500]


def is_permanent(message: str) -> bool:
    """Whether retrying with this yt-dlp cannot help."""
    if _ITS_OWN.search(message) or _GEO.search(message):
        return False
    return bool(_NOTHING_TO_GET.search(message) or _REMOVED.search(message))


def is_removed(message: str) -> bool:
    """Whether the platform says the media is removed or closed to us (a job gone)."""
    return is_permanent(message) and not _NOTHING_TO_GET.search(message)


class YtdlpError(FetchError):
    """yt-dlp could not download a URL. The job keeps which yt-dlp failed, so that a
    given-up job is tried again once another version is installed."""


class PartialDownload(YtdlpError):
    """yt-dlp delivered some of the files behind a URL, not all: those are archived and
    this says why the others are not."""


class FileTooLarge(FetchError):
    """A file yt-dlp wrote (or was writing) grew past ``[network] max_file_size``."""

    def __init__(self, cap: int) -> None:
        super().__init__(f"file larger than the {_size_text(cap)} cap", retryable=False)


def _size_text(size: int) -> str:
    mib = size / 1024**2
    if mib < 1:
        return f"{size} bytes"
    return f"{mib:.0f} MiB" if mib >= 10 else f"{mib:.1f}".removesuffix(".0") + " MiB"


def over_the_cap() -> PartialDownload:
    """Why a URL with more entries than `MAX_ENTRIES` is incomplete. Not retried: a
    retry would get the same first entries."""
    return PartialDownload(
        f"yt-dlp: more than {MAX_ENTRIES} entries: the first {MAX_ENTRIES} archived",
        retryable=False,
    )


def _partial(missing: ArchiverError, delivered: int) -> ArchiverError:
    """The reason for what is missing, when ``delivered`` files did come: the URL is
    not gone, and an unreachable archive stays what it is."""
    if not isinstance(missing, FetchError) or isinstance(missing, PartialDownload):
        return missing
    kept = f"{delivered} file{'s' if delivered != 1 else ''} archived"
    return PartialDownload(f"{missing} ({kept}, others not)", retryable=missing.retryable)


def failed_subtitles(stdout: str, stderr: str, delivered: list[Path], work_dir: Path) -> list[Path]:
    """The subtitle tracks yt-dlp could not download, when they are all that failed;
    else none. It goes on to the video after such a track and exits 1 for it, one
    error each: the video came, and retrying would download it again for a track."""
    tracks = [Path(found.strip()) for found in _WRITING_SUBTITLES.findall(stdout)]
    failed = [t if t.is_absolute() else work_dir / t for t in tracks]
    failed = [track for track in failed if not track.exists()]
    errors = sum(line.startswith("ERROR:") for line in stderr.splitlines())
    videos = {path.name.split(".", 1)[0] for path in delivered}
    # a track that failed with an exception ends its entry before the video: not this
    if not failed or errors != len(failed):
        return []
    if any(track.name.split(".", 1)[0] not in videos for track in failed):
        return []
    return failed


@dataclass(frozen=True)
class FolderLook:
    """What is under a folder: sizes in bytes of the largest file and of all of them
    together, and each file's path, size and modification time."""

    largest: int
    total: int
    files: frozenset[tuple[str, int, int]]


def look_at(root: Path) -> FolderLook:
    """What is under ``root`` now; a file renamed or removed while we look is left out."""
    largest = total = 0
    files: set[tuple[str, int, int]] = set()
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                stat = os.lstat(path)
                largest, total = max(largest, stat.st_size), total + stat.st_size
                files.add((path, stat.st_size, stat.st_mtime_ns))
    return FolderLook(largest, total, frozenset(files))


def folder_sizes(root: Path) -> tuple[int, int]:
    """Sizes in bytes of the largest file under ``root`` and of all of them together."""
    look = look_at(root)
    return look.largest, look.total


class Ytdlp:
    def __init__(
        self,
        config: YtdlpConfig,
        network: NetworkConfig,
        ffmpeg: str | None,
        stop: threading.Event | None = None,
    ) -> None:
        self.stop = stop or threading.Event()  # set at shutdown: the subprocess is killed
        self.config = config
        self.network = network
        self.ffmpeg = ffmpeg
        # A configured command is run as given: the address guard cannot reach into
        # it, so only the URL's own host is checked before it starts.
        self.guarded = not network.allow_private_addresses and not config.command
        guard = [sys.executable, "-m", GUARD_MODULE]
        # unguarded, it still dies with us (`ytdlp_guard.die_with_parent`): it ran on,
        # writing past the size cap, after a capture was killed
        if self.guarded:
            self.command = guard
        elif config.command:
            self.command = [*guard, EXEC, *config.command]
        else:
            self.command = [*guard, UNGUARDED]

    @functools.cached_property
    def version(self) -> str:
        if not self.config.command:
            from yt_dlp.version import __version__

            return str(__version__)
        try:
            done = subprocess.run(
                [*self.command, "--version"], capture_output=True, text=True, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired):
            return "unknown"
        return done.stdout.strip() or "unknown"

    @property
    def guard_arguments(self) -> list[str]:
        """What keeps a guarded yt-dlp's connections where the guard sees them: no
        proxy from the environment (``HTTPS_PROXY``: the guard saw the proxy's address
        alone, and a public one fetched intranet addresses for it) and native
        downloaders (ffmpeg, aria2c & co. would connect outside the guard)."""
        return ["--proxy", "", "--downloader", "native"] if self.guarded else []

    def arguments(self, url: str, work_dir: Path) -> list[str]:
        args = [
            *self.command,
            "--ignore-config",
            "--no-cache-dir",
            "--no-progress",
            "--no-mtime",
            "--no-part",
            "--no-continue",  # never append to a file already there
            # an HLS or DASH segment that cannot be had fails the download: by default
            # yt-dlp leaves it out and delivers a video with a gap as a whole one
            "--abort-on-unavailable-fragments",
            "--fixup",
            "never",
            # The parts of a "multi_video" (a broadcast in parts) are kept as served, not
            # joined into one file that replaces them.
            "--concat-playlist",
            "never",
            "--yes-playlist",
            # one more than is kept, to know when there were more (`over_the_cap`)
            "--playlist-items",
            f"1:{MAX_ENTRIES + 1}",
            "--write-info-json",
            "--no-write-playlist-metafiles",
            "--restrict-filenames",
            "--socket-timeout",
            str(int(self.network.read_timeout)),
            "--max-filesize",
            str(self.network.max_file_size),
            "--user-agent",
            self.network.user_agent,
            "--paths",
            str(work_dir),
            "--match-filter",
            NOT_LIVE,
            # Numbered, not named by id: entries of one player share the page's id, and
            # ids with dots or non-ASCII letters would blur into each other's files.
            "--output",
            "%(autonumber)s.%(ext)s",
            # The paths go to a file, so stdout keeps yt-dlp's own messages (such as
            # a file skipped for being over --max-filesize) instead of going quiet.
            "--print-to-file",
            "after_move:filepath",
            str(work_dir / PATHS_FILE),
            "--no-simulate",
        ]
        args += self.guard_arguments
        if self.ffmpeg:
            args += ["--ffmpeg-location", self.ffmpeg]
        if self.config.format:
            args += ["--format", self.config.format]
        if self.config.write_thumbnail:
            args += ["--write-thumbnail"]
        if self.config.write_subtitles:
            args += ["--write-subs", "--sub-langs", "all,-live_chat"]
        return [*args, "--", url]

    def download(self, url: str, work_dir: Path) -> YtdlpResult:
        """Download every media file behind ``url`` into ``work_dir``.

        Raises FetchError with yt-dlp's own one-line reason on failure,
        BlockedAddressError when yt-dlp tried to reach a non-public address and
        FileTooLarge when a file outgrew the size cap; on failure ``work_dir`` is
        removed with whatever was written into it.
        """
        if not self.network.allow_private_addresses:
            check_host(urlsplit(url).hostname or "", 443)
        work_dir.mkdir(parents=True, exist_ok=True)
        try:
            return self._download(url, work_dir)
        except BaseException:
            shutil.rmtree(work_dir, ignore_errors=True)
            raise

    def _download(self, url: str, work_dir: Path) -> YtdlpResult:
        stdout, stderr, code = self._run(self.arguments(url, work_dir), work_dir, url)
        listed = work_dir / PATHS_FILE
        lines = listed.read_text(errors="replace").splitlines() if listed.exists() else []
        listed.unlink(missing_ok=True)
        paths = [Path(line) for line in dict.fromkeys(lines) if line.strip()]
        paths = [p if p.is_absolute() else work_dir / p for p in paths]
        tracks = failed_subtitles(stdout, stderr, paths, work_dir) if code == 1 else []
        notes: list[str] = []
        if tracks:  # the videos came: a track that did not is noted, not retried for
            names = ", ".join(track.name for track in tracks)
            notes.append(f"yt-dlp: subtitles not archived ({names}): {error_line(stderr)}")
            log_event("ytdlp.subtitles_missing", logging.WARNING, url=url, reason=notes[-1])
            code = 0
        missing = self._missing(stdout, stderr, code)
        if not paths:
            raise missing or YtdlpError("yt-dlp: yt-dlp found no media")
        if len(paths) > MAX_ENTRIES:  # the one asked for beyond the cap is not kept
            paths = paths[:MAX_ENTRIES]
            missing = missing or over_the_cap()
        files = [self._collect(path) for path in paths]
        if folder_sizes(work_dir)[0] > self.network.max_file_size:
            raise FileTooLarge(self.network.max_file_size)
        if missing is not None:  # some entries came, others did not: say which share
            missing = _partial(missing, len(files))
        return YtdlpResult(files, _ran(files) or self.version, missing, notes)

    def _missing(self, stdout: str, stderr: str, code: int) -> ArchiverError | None:
        """Why media behind the URL was not delivered, from yt-dlp's exit and output;
        None when nothing was left out."""
        if code != 0:
            reason = error_line(stderr)
            if self.guarded and reason.startswith(REFUSED):
                return BlockedAddressError(reason)
            full = _ARCHIVE_FULL.search(stderr)
            if full:  # the archive's disk, not the video: retried, not counted
                return ArchiveUnavailable(f"yt-dlp: cannot write to the archive: {full[0]}")
            return YtdlpError(
                f"yt-dlp: {reason}", retryable=not is_permanent(reason), gone=is_removed(reason)
            )
        if OVER_MAX_FILESIZE in stdout:  # declared too large: not fetched
            return FileTooLarge(self.network.max_file_size)
        if LIVE_SKIPPED in stdout:
            return YtdlpError(
                "yt-dlp: a live stream that has not ended: it is archived once it has",
                retryable=True,
            )
        return None

    def _run(self, args: list[str], work_dir: Path, url: str) -> tuple[str, str, int]:
        try:
            done = run_bounded(
                args,
                self.config.timeout,
                self.stop,
                watch=work_dir,
                max_file_size=self.network.max_file_size,
                # past the deadline, on while the bytes written so far come fast enough:
                # a trickle held a download slot for the day `MAX_RUN` allows
                pace=Deadline(url, download_limit(self.network)),
            )
        except TimeoutError:  # before OSError, of which it is a subclass
            raise YtdlpError(
                f"yt-dlp timed out: {self.config.timeout:.0f}s without progress"
            ) from None
        except OSError as exc:
            raise YtdlpError(f"yt-dlp could not start: {exc.strerror}", retryable=False) from None
        if done.returncode < 0:
            name = signal.Signals(-done.returncode).name
            raise YtdlpError(f"yt-dlp crashed ({name})")
        if done.returncode == CANNOT_START_EXIT and CANNOT_START in error_line(done.stderr):
            reason = error_line(done.stderr).split(CANNOT_START, 1)[1]
            raise YtdlpError(f"yt-dlp could not start: {reason}", retryable=False)
        return done.stdout, done.stderr, done.returncode

    def _collect(self, media: Path) -> PlatformFile:
        if not media.is_file():
            raise FetchError(f"yt-dlp reported a file it did not write: {media.name}")
        stem = media.name.split(".", 1)[0]
        siblings = sorted(p for p in media.parent.iterdir() if p.name.startswith(stem + "."))
        info_path = next((p for p in siblings if p.name.endswith(".info.json")), None)
        info: dict[str, Any] = {}
        if info_path is not None:
            with contextlib.suppress(OSError, ValueError, RecursionError):
                info = load_json(info_path.read_text(encoding="utf-8"))
        subtitles = [p for p in siblings if p.suffix.lower() in _SUBTITLE_SUFFIXES]
        thumbnail = next(
            (p for p in siblings if p.suffix.lower() in _THUMBNAIL_SUFFIXES and p != media), None
        )
        return PlatformFile(media, info, info_path, thumbnail, subtitles)


def run_bounded(
    args: list[str],
    timeout: float,
    stop: threading.Event,
    *,
    watch: Path | None = None,
    max_file_size: int | None = None,
    pace: Deadline | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command in its own process group; the whole group is killed when it
    outlives ``timeout`` (TimeoutError), when ``stop`` is set (Interrupted) or, with
    ``watch`` and ``max_file_size``, when a file under ``watch`` grows past
    ``max_file_size`` bytes (FileTooLarge; looked at every SIZE_POLL seconds, so it
    holds whether or not the server declared a length), or, with ``watch`` and
    ``pace``, when the files under ``watch`` come slower than it allows (FetchError).

    With ``watch``, ``timeout`` counts from the last progress (any file under ``watch``
    written, added, renamed or removed), up to `MAX_RUN` in all: a hung extractor is
    still killed after ``timeout``, but a long video on a slow link is not cut off
    while it arrives.

    Raises OSError when the command cannot start.
    """
    with tempfile.TemporaryDirectory(prefix="archiver-js-", ignore_cleanup_errors=True) as scratch:
        # yt-dlp starts Deno for YouTube's challenges; Deno keeps a cache in the home
        # folder, which for the service is the archive's root: it goes here instead
        env = {"DENO_DIR": scratch, **os.environ, "PYTHONUNBUFFERED": "1"}
        env[PARENT_ENV] = str(os.getpid())  # the guard dies with us (`ytdlp_guard`)
        return _run_bounded(args, timeout, stop, env, watch, max_file_size, pace)


def _run_bounded(
    args: list[str],
    timeout: float,
    stop: threading.Event,
    env: dict[str, str],
    watch: Path | None,
    max_file_size: int | None,
    pace: Deadline | None,
) -> subprocess.CompletedProcess[str]:
    process = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
        env=env,
    )
    started = time.monotonic()
    deadline = started + timeout
    next_look = started + SIZE_POLL
    seen: frozenset[tuple[str, int, int]] = frozenset()
    try:
        while True:
            try:
                stdout, stderr = process.communicate(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                now = time.monotonic()
                if stop.is_set():
                    raise Interrupted("interrupted by shutdown") from None
                if now > deadline:
                    raise TimeoutError from None
                if watch is not None and now >= next_look:
                    next_look = now + SIZE_POLL
                    look = look_at(watch)
                    if max_file_size and look.largest > max_file_size:
                        raise FileTooLarge(max_file_size) from None
                    if pace is not None:
                        pace.received = look.total
                        pace.check()
                    # progress: the time-out starts again. Not the total size passing
                    # its peak: a merge deletes the streams it joined, and the next
                    # download was killed before it had written as much again.
                    if look.files != seen:
                        seen = look.files
                        deadline = min(now + timeout, started + max(timeout, MAX_RUN))
    except BaseException:
        _kill_group(process)
        raise
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        process.communicate(timeout=5)
