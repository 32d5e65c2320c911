"""Platform and player URLs through yt-dlp, in a subprocess that cannot hang or crash us.

The subprocess runs in its own process group with a hard time-out; on time-out the
whole group is killed. Postprocessing that would change bytes is off (``--fixup
never``, no recoding, no embedding): the stored file is what the platform served.
When yt-dlp must merge separate video and audio streams it remuxes them with the
ffmpeg that ships in the imageio-ffmpeg wheel (stream copy, never a re-encode).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from archiver.config import NetworkConfig, YtdlpConfig
from archiver.errors import FetchError, Interrupted
from archiver.fetch.netguard import check_host

MAX_ENTRIES = 50  # a post may carry several videos or photos; a channel must not flood us

# yt-dlp's wording for media that is gone for good (retrying will not help)
_PERMANENT = re.compile(
    r"unsupported url|video unavailable|private video|has been removed|been terminated"
    r"|no longer available|does not exist|not available|removed for violating|copyright"
    r"|account .*suspended|sign in to confirm your age|login required|requires authentication"
    r"|no video could be found|no media found|there's no video",
    re.IGNORECASE,
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
    "duration",
    "format",
    "format_id",
    "ext",
    "width",
    "height",
    "fps",
    "vcodec",
    "acodec",
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
    files: list[PlatformFile]
    version: str


def platform_metadata(info: dict[str, Any]) -> dict[str, Any]:
    """The extractor's facts worth keeping as provenance (a subset of info.json)."""
    return {key: info[key] for key in PLATFORM_FIELDS if info.get(key) not in (None, "", [])}


def error_line(stderr: str) -> str:
    """yt-dlp's own one-line reason (its last ``ERROR:`` line), or the last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    chosen = errors[-1] if errors else (lines[-1] if lines else "no output")
    return chosen.removeprefix("ERROR:").strip()[:500]


def is_permanent(message: str) -> bool:
    return bool(_PERMANENT.search(message))


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
        self.command = config.command or [sys.executable, "-m", "yt_dlp"]

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

    def arguments(self, url: str, work_dir: Path) -> list[str]:
        args = [
            *self.command,
            "--ignore-config",
            "--no-cache-dir",
            "--no-progress",
            "--no-mtime",
            "--no-part",
            "--fixup",
            "never",
            "--yes-playlist",
            "--playlist-items",
            f"1:{MAX_ENTRIES}",
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
            "--output",
            "%(id)s.%(ext)s",
            "--print",
            "after_move:filepath",
            "--no-simulate",
        ]
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

        Raises FetchError with yt-dlp's own one-line reason on failure.
        """
        if not self.network.allow_private_addresses:
            check_host(urlsplit(url).hostname or "", 443)
        work_dir.mkdir(parents=True, exist_ok=True)
        stdout, stderr, code = self._run(self.arguments(url, work_dir))
        paths = [Path(line) for line in stdout.splitlines() if line.strip()]
        paths = [p if p.is_absolute() else work_dir / p for p in paths]
        if code != 0 or not paths:
            reason = error_line(stderr) if code != 0 else "yt-dlp found no media"
            raise FetchError(f"yt-dlp: {reason}", retryable=not is_permanent(reason))
        return YtdlpResult([self._collect(path) for path in paths], self.version)

    def _run(self, args: list[str]) -> tuple[str, str, int]:
        try:
            done = run_bounded(args, self.config.timeout, self.stop)
        except TimeoutError:  # before OSError, of which it is a subclass
            raise FetchError(f"yt-dlp timed out after {self.config.timeout:.0f}s") from None
        except OSError as exc:
            raise FetchError(f"yt-dlp could not start: {exc.strerror}", retryable=False) from None
        if done.returncode < 0:
            name = signal.Signals(-done.returncode).name
            raise FetchError(f"yt-dlp crashed ({name})")
        return done.stdout, done.stderr, done.returncode

    def _collect(self, media: Path) -> PlatformFile:
        if not media.is_file():
            raise FetchError(f"yt-dlp reported a file it did not write: {media.name}")
        stem = media.name.split(".", 1)[0]
        siblings = sorted(p for p in media.parent.iterdir() if p.name.startswith(stem + "."))
        info_path = next((p for p in siblings if p.name.endswith(".info.json")), None)
        info: dict[str, Any] = {}
        if info_path is not None:
            with contextlib.suppress(OSError, ValueError):
                info = json.loads(info_path.read_text(encoding="utf-8"))
        thumbnail = next(
            (
                p
                for p in siblings
                if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp") and p != media
            ),
            None,
        )
        subtitles = [p for p in siblings if p.suffix.lower() in (".vtt", ".srt", ".ass", ".ttml")]
        return PlatformFile(media, info, info_path, thumbnail, subtitles)


def run_bounded(
    args: list[str], timeout: float, stop: threading.Event
) -> subprocess.CompletedProcess[str]:
    """Run a command in its own process group; the whole group is killed when it
    outlives ``timeout`` (TimeoutError) or when ``stop`` is set (Interrupted).

    Raises OSError when the command cannot start.
    """
    process = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                stdout, stderr = process.communicate(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if stop.is_set():
                    raise Interrupted("interrupted by shutdown") from None
                if time.monotonic() > deadline:
                    raise TimeoutError from None
    except BaseException:
        _kill_group(process)
        raise
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        process.communicate(timeout=5)
