"""The web tests' world: a small newsroom archive, the app on loopback, a real Chromium.

`build_newsroom` captures two live-blog pages from a `FixtureServer` into a real
archive (a video, photos, a platform player with an upload date, a mirrored re-post
and a recompressed photo that become near-duplicate groups, an audio file), then
deletes a photo and empties the player page, then runs the liveness check, so the
editors' dashboard has dead embeds (an image, a video player) with their archived
replacements.

`AppClient` calls the app in-process through httpx's ASGI transport, from synchronous
tests. `LiveApp` serves it with uvicorn on 127.0.0.1 (a free port) in a thread and
records every request it sees. `chromium` starts Debian's Chromium through its
ChromeDriver, both found on this machine: a missing browser fails the test with
instructions; Selenium is never allowed to download one.
"""

from __future__ import annotations

import functools
import hashlib
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import pytest
import uvicorn
from PIL import Image
from starlette.types import ASGIApp, Receive, Scope, Send

from archiver.archive import Archive
from archiver.capture import Capturer
from archiver.config import config_from_dict
from archiver.index.models import utcnow
from archiver.liveness.service import LivenessChecker, sync_targets, targets_for

from .archiving import settings
from .media import MediaSet, ffmpeg_exe
from .server import FixtureServer

__all__ = [
    "TOKEN",
    "AppClient",
    "LiveApp",
    "Newsroom",
    "build_newsroom",
    "chromium",
    "find_chromium",
    "sha256_of",
]

TOKEN = "test-token-0123456789abcdef"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER_CANDIDATES = ("/usr/bin/chromedriver",)

PLAYER = """<html><head><title>Player</title><script type="application/ld+json">
{"@type": "VideoObject", "name": "Fighters near the Citadel", "contentUrl": "/media/clip_b.mp4",
 "uploadDate": "2013-09-28"}
</script></head><body><div id="player"></div></body></html>"""
LIVE = """<html><head><title>Syria Daily, Sept 28: Regime claims advance in Aleppo</title></head>
<body><article>
<h2>UPDATE 1800 GMT</h2>
<p>Rebels denied any advance by regime forces, posting video of their fighters near the Citadel:</p>
<iframe src="/player/1"></iframe>
<h2>ORIGINAL ENTRY</h2>
<p>Smoke rises over the old city after the morning strikes:</p><img src="/media/photo_a.jpg">
<p>Activists filmed the strike on the market from a rooftop:</p><video src="/media/clip_a.mp4"></video>
</article></body></html>"""
REPOST = """<html><head><title>Aleppo round-up: footage re-posted by local channels</title></head>
<body><article>
<h2>UPDATE 0900 GMT</h2>
<p>A local channel re-posted the rooftop footage of the market strike:</p>
<video src="/copy/clip.mp4"></video>
<p>The smoke photo, recompressed, circulates on messaging apps:</p><img src="/copy/photo.jpg">
<p>A voice message describing the shelling:</p><audio src="/media/audio.m4a"></audio>
</article></body></html>"""


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _recompress(source: Path, target: Path) -> Path:
    with Image.open(source) as image:
        size = (int(image.width * 0.4), int(image.height * 0.4))
        image.convert("RGB").resize(size).save(target, "JPEG", quality=30)
    return target


def _mirror(source: Path, target: Path) -> Path:
    args = ["-y", "-loglevel", "error", "-i", str(source), "-vf", "hflip,scale=240:-2"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "32", "-an", str(target)]
    subprocess.run([ffmpeg_exe(), *args], check=True)
    return target


@dataclass
class Newsroom:
    """What `build_newsroom` made: the archive, its pages, and the files' digests."""

    archive: Archive
    server: FixtureServer
    live_url: str
    repost_url: str
    files: dict[str, Path]
    sha: dict[str, str] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.server.url(path)


def build_newsroom(
    root: Path,
    server: FixtureServer,
    media: MediaSet,
    *,
    db_url: str = "",
    web: dict[str, Any] | None = None,
) -> Newsroom:
    """Capture the two pages, then kill ``photo_a`` and the player; check liveness."""
    root.mkdir(parents=True, exist_ok=True)
    files = {
        "clip_a": media.clip_a,
        "clip_b": media.clip_b,
        "photo_a": media.photo_a,
        "audio": media.audio,
        "photo_copy": _recompress(media.photo_a, root / "reposted.jpg"),
        "clip_copy": _mirror(media.clip_a, root / "mirrored.mp4"),
    }
    server.add_page("/live", LIVE)
    server.add_page("/repost", REPOST)
    server.add_page("/player/1", PLAYER)
    for name in ("clip_a", "clip_b", "photo_a", "audio"):
        server.add_file(f"/media/{files[name].name}", files[name])
    server.add_file("/copy/clip.mp4", files["clip_copy"])
    server.add_file("/copy/photo.jpg", files["photo_copy"])

    config = config_from_dict(settings(root / "storage", db_url, web=web or {}))
    archive = Archive.open(config)
    capturer = Capturer(archive)
    for path in ("/live", "/repost"):
        report = capturer.capture_url(server.url(path))
        assert report.ok, report.to_json()

    server.add_status("/media/photo_a.jpg", 404)  # deleted by the site
    server.add_page(
        "/player/1", "<html><body><p>This video is no longer available.</p></body></html>"
    )
    sync_targets(archive, utcnow())
    with archive.read_session() as session:
        targets = targets_for(session, None)
    checker = LivenessChecker.open(archive)
    try:
        checker.run(targets)
    finally:
        checker.close()
    room = Newsroom(archive, server, server.url("/live"), server.url("/repost"), files)
    room.sha = {name: sha256_of(path) for name, path in files.items()}
    return room


# ---- the app in-process and on a real socket -----------------------------------------------


class AppClient:
    """httpx on the ASGI app (no socket) for synchronous tests; Host is 127.0.0.1."""

    def __init__(
        self, app: ASGIApp, base_url: str = "http://127.0.0.1:8787", **kwargs: Any
    ) -> None:
        self._stack = ExitStack()
        self._portal = self._stack.enter_context(anyio.from_thread.start_blocking_portal())
        transport = httpx.ASGITransport(app=app)
        self.client = httpx.AsyncClient(transport=transport, base_url=base_url, **kwargs)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        call = functools.partial(self.client.request, method, url, **kwargs)
        response: httpx.Response = self._portal.call(call)
        return response

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("HEAD", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def close(self) -> None:
        self._portal.call(self.client.aclose)
        self._stack.close()

    def __enter__(self) -> AppClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    range: str | None


class _Recorder:
    def __init__(self, app: ASGIApp, seen: list[Seen]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            wanted = headers.get(b"range")
            self.seen.append(
                Seen(scope["method"], scope["path"], wanted.decode() if wanted else None)
            )
        await self.app(scope, receive, send)


class LiveApp:
    """uvicorn on 127.0.0.1 with a free port, in a thread; records what it was asked."""

    def __init__(self, app: ASGIApp) -> None:
        self.requests: list[Seen] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            _Recorder(app, self.requests),
            log_config=None,
            access_log=False,
            lifespan="off",
            ws="none",
            http="h11",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveApp:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the web app did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


# ---- Chromium ---------------------------------------------------------------------------


def find_chromium() -> tuple[str, str]:
    """Paths of Chromium and its ChromeDriver; fails (never skips) when they are missing."""
    browser = next((p for p in CHROMIUM_CANDIDATES if Path(p).is_file()), None)
    browser = browser or shutil.which("chromium")
    driver = next((p for p in DRIVER_CANDIDATES if Path(p).is_file()), None)
    driver = driver or shutil.which("chromedriver")
    if not browser or not driver:
        missing = " and ".join(
            name for name, path in (("chromium", browser), ("chromedriver", driver)) if not path
        )
        pytest.fail(
            f"the browser tests need Chromium and ChromeDriver; {missing} not found. "
            "Install them (Debian: apt-get install chromium chromium-driver), "
            "or run `python3 dev.py test`, which does.",
            pytrace=False,
        )
    return browser, driver


@contextmanager
def chromium(profile: Path, size: tuple[int, int] = (1280, 800)) -> Iterator[Any]:
    """A headless Chromium driven through the local ChromeDriver (Selenium Manager unused)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = find_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
        "--mute-audio",
        f"--user-data-dir={profile}",
        f"--window-size={size[0]},{size[1]}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        driver.set_page_load_timeout(30)
        yield driver
    finally:
        driver.quit()
