"""Platform captures through yt-dlp: the real yt-dlp on local URLs, a stand-in for YouTube."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import sysconfig
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import select, update
from support import FixtureServer, MediaSet
from support.archiving import make_config
from support.media import make_clip, make_hls
from support.server import RequestHandler
from support.ytdlp import standin_extractors
from yt_dlp_ejs.yt import solver

from archiver import capture as capture_module
from archiver.archive import Archive
from archiver.capture import Capturer
from archiver.config import Config, YtdlpConfig
from archiver.daemon import Daemon
from archiver.errors import FetchError
from archiver.fetch import ytdlp as ytdlp_module
from archiver.fetch.ytdlp import (
    Ytdlp,
    error_line,
    failed_subtitles,
    is_permanent,
    is_removed,
    run_bounded,
)
from archiver.index.models import CaptureJob, Media
from archiver.integrity.eventlog import log_path
from archiver.integrity.fixity import verify_archive
from archiver.search import SearchQuery, search

FAKE = Path(__file__).parent / "fixtures" / "fake_ytdlp.py"
MERGING = Path(__file__).parent / "support" / "merging_ytdlp.py"
YOUTUBE_PAGE = """<article><p><strong>UPDATE 1800 GMT:</strong> Rebels denied any advance by
regime forces, posting video of their fighters near the Citadel:</p>
<iframe src="https://www.youtube.com/embed/abc123XYZ_0?feature=oembed&si=trk" width="560"></iframe>
</article>"""


def fake_config(root: Path, timeout: float = 30, db_url: str = "") -> Config:
    base = make_config(root, db_url)
    return base.model_copy(
        update={"ytdlp": YtdlpConfig(command=[sys.executable, str(FAKE)], timeout=timeout)}
    )


def test_real_ytdlp_downloads_a_local_file_with_its_version(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    server.add_file("/clip.mp4", media.clip_a)
    config = make_config(tmp_path)
    ytdlp = Ytdlp(config.ytdlp, config.network, None)
    result = ytdlp.download(server.url("/clip.mp4"), tmp_path / "work")

    (file,) = result.files
    assert file.path.read_bytes() == media.clip_a.read_bytes()
    assert file.info["extractor"] == "generic"
    assert result.version[:4].isdigit()


def test_youtube_embed_is_archived_with_platform_metadata(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_b))
    server.add_page("/live", YOUTUBE_PAGE)
    with Archive.open(fake_config(tmp_path)) as archive:
        report = Capturer(archive).capture_url(server.url("/live"))
        assert report.ok, report.to_json()
        (item,) = report.items
        assert item.url == "https://www.youtube.com/watch?v=abc123XYZ_0"
        assert item.original_url.startswith("https://www.youtube.com/embed/abc123XYZ_0")

        folder = item.files[0].path.parent
        assert (folder / "original.mp4").read_bytes() == media.clip_b.read_bytes()
        assert sorted(p.name for p in folder.iterdir()) == [
            "original.mp4",
            "platform.info.json",
            "provenance.json",
            "subtitles.en.vtt",
            "thumbnail.webp",
        ]
        sidecar = json.loads((folder / "provenance.json").read_text())
        platform = sidecar["platform"]
        assert platform["extractor"] == "Youtube" and platform["id"] == "abc123XYZ_0"
        assert platform["uploader"] == "Aleppo Media Centre"
        assert platform["upload_date"] == "2013-09-28"
        assert platform["metadata"]["webpage_url"].endswith("v=abc123XYZ_0")
        assert platform["metadata"]["duration"] == 2
        acquisition = sidecar["sightings"][0]["acquisition"]
        assert acquisition == {
            "tool": "yt-dlp",
            "tool_version": "2026.10.26",
            "archiver_version": acquisition["archiver_version"],
            "http_status": None,
            "response_headers": None,
            "reused_from": None,
        }
        assert sidecar["sightings"][0]["update"] == "UPDATE 1800 GMT"
        assert sha256(folder / "original.mp4") == sidecar["file"]["sha256"]


class Killed(BaseException):
    """The process killed at a chosen point (kill -9): nothing after it runs."""


def kill_around_place_original(monkeypatch: pytest.MonkeyPatch, *, after: bool) -> None:
    """Make the capture die just before, or just after, its original's rename."""
    place = capture_module.place_original

    def placing_then_killed(*args: Any, **kwargs: Any) -> Path:
        if after:
            place(*args, **kwargs)
        raise Killed

    monkeypatch.setattr(capture_module, "place_original", placing_then_killed)


def test_a_video_a_crash_left_placed_keeps_its_platform_info(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A capture killed once the video was in place lost its platform's info, thumbnail
    and subtitles, placed after it from the scratch folder the next start sweeps: the
    video was indexed without them, and a deleted post cannot give them again."""
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_b))
    server.add_page("/live", YOUTUBE_PAGE)
    with Archive.open(fake_config(tmp_path)) as archive:
        kill_around_place_original(monkeypatch, after=True)
        with pytest.raises(Killed):
            Capturer(archive).capture_url(server.url("/live"))
        assert Capturer(archive).recover() == (1, 0)  # the next start
        folder = archive.layout.media_dir(sha256(media.clip_b))
        with archive.read_session() as session:
            recorded = session.scalars(select(Media.companions)).one()
        sidecar = json.loads((folder / "provenance.json").read_text())
        assert verify_archive(archive).ok
    companions = ["platform.info.json", "subtitles.en.vtt", "thumbnail.webp"]
    assert sorted(recorded or {}) == sidecar["companion_files"] == companions
    info = json.loads((folder / "platform.info.json").read_text())
    assert info["title"] == "Fighters near the Citadel, Aleppo"
    assert recorded["platform.info.json"]["sha256"] == sha256(folder / "platform.info.json")


def test_companions_a_crash_left_without_their_video_are_removed_at_the_next_start(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Placed before their video, they describe nothing the archive holds when the
    capture died before the video's rename: `verify` would call them orphans."""
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_b))
    server.add_page("/live", YOUTUBE_PAGE)
    with Archive.open(fake_config(tmp_path)) as archive:
        kill_around_place_original(monkeypatch, after=False)
        with pytest.raises(Killed):
            Capturer(archive).capture_url(server.url("/live"))
        folder = archive.layout.media_dir(sha256(media.clip_b))
        assert (folder / "platform.info.json").is_file()  # placed before the video
        assert Capturer(archive).recover() == (0, 0)  # the next start
        assert not list(folder.iterdir())
        assert verify_archive(archive).ok


def test_a_restore_cut_short_keeps_the_companions_an_earlier_capture_archived(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file indexed before companions were recorded, its sidecar lost and its original
    gone: a capture of the same bytes, killed before the original's rename, found the
    earlier platform info in place and kept it; the next start removed it as its own."""
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_b))
    server.add_page("/live", YOUTUBE_PAGE)
    with Archive.open(fake_config(tmp_path)) as archive:
        Capturer(archive).capture_url(server.url("/live"))
        folder = archive.layout.media_dir(sha256(media.clip_b))
        with archive.session() as session:
            session.execute(update(Media).values(companions=None))  # indexed before 0015
        (folder / "provenance.json").unlink()
        (folder / "original.mp4").unlink()
        server.add_page("/reupload", YOUTUBE_PAGE.replace("abc123XYZ_0", "reupload_01"))
        kill_around_place_original(monkeypatch, after=False)
        with pytest.raises(Killed):  # the same bytes, uploaded again
            Capturer(archive).capture_url(server.url("/reupload"))
        Capturer(archive).recover()  # the next start
    assert sorted(p.name for p in folder.iterdir()) == [
        "platform.info.json",
        "subtitles.en.vtt",
        "thumbnail.webp",
    ]


def test_a_video_archived_through_another_page_this_week_is_not_downloaded_again(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same clip embedded by two live blogs: one download, and the second page's
    sighting says whose download it shares; with ``reuse_within = 0`` each downloads."""
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_b))
    for path in ("/live", "/other", "/third"):
        server.add_page(path, YOUTUBE_PAGE)
    config = fake_config(tmp_path)
    with Archive.open(config) as archive:
        assert Capturer(archive).capture_url(server.url("/live")).ok
        monkeypatch.setenv("FAKE_YTDLP_MODE", "crash")  # yt-dlp must not be asked again
        (item,) = Capturer(archive).capture_url(server.url("/other")).items
        events = [json.loads(line) for line in log_path(archive.layout).read_text().splitlines()]
    assert item.status == "already", item.reason
    assert [f.sha256 for f in item.files] == [sha256(media.clip_b)]
    sidecar = json.loads((item.files[0].path.parent / "provenance.json").read_text())
    first, second = sidecar["sightings"]
    assert (first["page_url"], second["page_url"]) == (server.url("/live"), server.url("/other"))
    assert first["acquisition"]["reused_from"] is None
    shared = {
        "page_url": server.url("/live"),
        "embed_url": "https://www.youtube.com/watch?v=abc123XYZ_0",
        "first_seen_at": first["first_seen_at"],
    }
    assert second["acquisition"] == {**first["acquisition"], "reused_from": shared}
    assert events[-1]["type"] == "sighting" and events[-1]["payload"]["reused_from"] == shared
    with Archive.open(config) as archive:  # the shared download is the index's too
        assert verify_archive(archive).ok

    every_time = config.download.model_copy(update={"reuse_within": 0.0})
    with Archive.open(config.model_copy(update={"download": every_time})) as archive:
        (again,) = Capturer(archive).capture_url(server.url("/third")).items
    assert again.status == "failed" and "yt-dlp" in str(again.reason)  # it was asked


def test_an_archived_video_is_found_by_any_spelling_of_its_link(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An investigator holds a short link or a player URL, not archiver's canonical one."""
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_b))
    server.add_page("/live", YOUTUBE_PAGE)
    with Archive.open(fake_config(tmp_path)) as archive:
        assert Capturer(archive).capture_url(server.url("/live")).ok
        with archive.read_session() as session:
            for link in (
                "https://youtu.be/abc123XYZ_0?si=Ab12",
                "https://www.youtube.com/embed/abc123XYZ_0?feature=oembed",
                "https://www.youtube.com/watch?v=abc123XYZ_0",
                server.url("/live?utm_source=twitter"),
                server.url("/live").removeprefix("http://"),  # pasted without its http://
            ):
                found = search(session, archive.layout, SearchQuery.parse(page=link))
                assert [r.media.sha256 for r in found] == [sha256(media.clip_b)], link
            other = SearchQuery.parse(page="https://youtu.be/zzz123XYZ_0")
            assert search(session, archive.layout, other) == []


def test_names_of_odd_types_from_an_extractor_are_stored_on_both_databases(
    db_url: str,
    tmp_path: Path,
    server: FixtureServer,
    media: MediaSet,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An extractor may give a list where a title belongs, a number for a channel, an
    id longer than its column, or NaN: neither database took such a row (PostgreSQL's jsonb refuses NaN, and the
    sidecar held it, which JSON does not allow), and the capture ended in a traceback."""
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_b))
    odd = {"title": ["Citadel", "Aleppo"], "uploader": None, "channel": 1234}
    odd |= {"duration": float("nan"), "view_count": float("inf")}  # Python's JSON writes them
    odd |= {"id": "clip-" + "x" * 300}  # the generic extractor's: a URL's last segment
    monkeypatch.setenv("FAKE_YTDLP_INFO", json.dumps(odd))
    server.add_page("/live", YOUTUBE_PAGE)
    with Archive.open(fake_config(tmp_path / "storage", db_url=db_url)) as archive:
        report = Capturer(archive).capture_url(server.url("/live"))
        assert report.ok, report.to_json()
        (stored,) = report.items[0].files
        sidecar = json.loads((stored.path.parent / "provenance.json").read_text())
    platform = sidecar["platform"]
    assert (platform["title"], platform["uploader"]) == (None, "1234")
    assert platform["id"] == odd["id"][:200] and platform["metadata"]["id"] == odd["id"]
    assert platform["metadata"]["title"] == ["Citadel", "Aleppo"]  # as the extractor said
    assert not {"duration", "view_count"} & set(platform["metadata"])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("mode", "status", "reason"),
    [
        ("unavailable", "gone", "Video unavailable. This video has been removed by the uploader"),
        ("private", "gone", "Private video"),
        ("crash", "failed", "yt-dlp crashed (SIGSEGV)"),
    ],
)
def test_ytdlp_failures_are_one_line_reasons(
    tmp_path: Path,
    server: FixtureServer,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    status: str,
    reason: str,
) -> None:
    monkeypatch.setenv("FAKE_YTDLP_MODE", mode)
    server.add_page("/live", YOUTUBE_PAGE)
    with Archive.open(fake_config(tmp_path)) as archive:
        (item,) = Capturer(archive).capture_url(server.url("/live")).items
    assert item.status == status
    assert reason in (item.reason or "") and "\n" not in (item.reason or "")
    assert not list(archive.layout.tmp_root.rglob("*.mp4"))


def test_a_hung_extractor_is_killed_at_the_time_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_YTDLP_MODE", "hang")
    config = fake_config(tmp_path, timeout=1)
    started = time.monotonic()
    with pytest.raises(FetchError, match="timed out: 1s without progress") as caught:
        Ytdlp(config.ytdlp, config.network, None).download(
            "https://www.youtube.com/watch?v=abc123XYZ_0", tmp_path / "work"
        )
    assert time.monotonic() - started < 10
    assert caught.value.retryable


def test_a_download_making_progress_outlives_the_time_out(
    tmp_path: Path, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The time-out is for a hung extractor: a long video arriving slowly over a poor
    link (here 3 s against a 1 s time-out) is not cut off, and retried for ever."""
    monkeypatch.setenv("FAKE_YTDLP_MODE", "slow")
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_b))
    config = fake_config(tmp_path, timeout=1)
    started = time.monotonic()
    result = Ytdlp(config.ytdlp, config.network, None).download(
        "https://www.youtube.com/watch?v=abc123XYZ_0", tmp_path / "work"
    )
    assert time.monotonic() - started > 2.5
    (file,) = result.files
    assert file.path.read_bytes() == media.clip_b.read_bytes()


def test_a_download_after_a_merge_is_progress_though_the_folder_is_smaller(
    tmp_path: Path,
) -> None:
    """A merge deletes the streams it joined: progress was the folder's total size
    passing its peak, and the next video was killed at the time-out while it arrived,
    before it had written as much as was deleted."""
    config = make_config(tmp_path)
    merging = YtdlpConfig(command=[sys.executable, str(MERGING)], timeout=1)
    started = time.monotonic()
    result = Ytdlp(merging, config.network, None).download(
        "https://x.com/AMC_Aleppo/status/1", tmp_path / "work"
    )
    assert time.monotonic() - started > 2.5
    assert [file.path.name for file in result.files] == ["00001.mp4", "00002.mp4"]
    assert result.files[1].path.stat().st_size == 12 * 64 * 1024


@pytest.mark.parametrize(("min_rate", "completes"), [(1, True), (1024**3, False)])
def test_a_download_trickling_past_the_download_deadline_is_cut_off(
    tmp_path: Path, media: MediaSet, monkeypatch: pytest.MonkeyPatch, min_rate: int, completes: bool
) -> None:
    """As for direct files: past ``download_deadline`` a download goes on only while its
    bytes average ``download_min_rate``. Any byte counted as progress, so a trickle
    held a download slot for up to a day."""
    monkeypatch.setenv("FAKE_YTDLP_MODE", "slow")  # about 3 s
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_b))
    base = fake_config(tmp_path, timeout=60)
    network = base.network.model_copy(
        update={"download_deadline": 1.0, "download_min_rate": min_rate}
    )
    ytdlp = Ytdlp(base.ytdlp, network, None)
    url = "https://www.youtube.com/watch?v=abc123XYZ_0"
    if completes:  # slow but steady
        (file,) = ytdlp.download(url, tmp_path / "work").files
        assert file.path.read_bytes() == media.clip_b.read_bytes()
        return
    with pytest.raises(FetchError, match=r"took longer than 1s \(network.download_deadline\)"):
        ytdlp.download(url, tmp_path / "work")


def test_a_configured_ytdlp_that_cannot_start_says_so_and_is_not_retried(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    missing = YtdlpConfig(command=[str(tmp_path / "no-such-yt-dlp")])
    ytdlp = Ytdlp(missing, config.network, None)
    with pytest.raises(FetchError, match=r"^yt-dlp could not start: No such file") as caught:
        ytdlp.download("https://www.youtube.com/watch?v=abc123XYZ_0", tmp_path / "work")
    assert not caught.value.retryable


def test_error_classification_follows_ytdlp_wording() -> None:
    stderr = (
        "WARNING: [youtube] unable to extract\n"
        "ERROR: [youtube] x: This video is no longer available because the YouTube account "
        "associated with this video has been terminated.\n"
    )
    line = error_line(stderr)
    assert line.startswith("[youtube] x: This video is no longer available")
    # a wrapped cause that repeats the reason is left out; one that adds to it is kept
    offline = (
        "[youtube] x: Unable to download API page: HTTPSConnection(host='www.youtube.com', "
        "port=443): Failed to resolve 'www.youtube.com' ([Errno -2] Name or service not known)"
    )
    repeated = offline.split("page: ", 1)[1]
    assert error_line(f'ERROR: {offline} (caused by TransportError("{repeated}"))') == offline
    reset = f"{offline} (caused by TransportError('[Errno 104] Connection reset by peer'))"
    assert error_line(f"ERROR: {reset}") == reset
    assert is_permanent(line)
    assert not is_permanent("[generic] HTTP Error 503: Service Unavailable")
    assert is_permanent("Unsupported URL: https://example.org/")
    # the platform said so: gone; yt-dlp got nothing, or failed itself: not gone
    assert is_removed("[youtube] x: Video unavailable. This video has been removed")
    assert is_removed("[youtube] x: Private video. Sign in if you've been granted access")
    for nothing in (
        "Unsupported URL: https://example.org/",
        "[twitter] 1: No video could be found in this tweet",
        "[Instagram] Cx1: There is no video in this post",
        "[Imgur] Hk3vB9z: Hk3vB9z is not a video or animated image",
    ):
        assert is_permanent(nothing) and not is_removed(nothing)
    own = "[youtube] x: Requested format is not available. Use --list-formats"
    assert not is_permanent(own) and not is_removed(own)
    # closed to where we are, not removed: retried, not gone
    for geo in (
        "[ORF] 123: This video is not available from your location due to geo restriction",
        "[youtube] x: The uploader has not made this video available in your country",
        "[youtube] x: This video contains content from SME, who has blocked it in your "
        "country on copyright grounds",
    ):
        assert not is_permanent(geo) and not is_removed(geo), geo


def test_a_job_an_older_ytdlp_gave_up_on_is_tried_again_after_an_upgrade(
    db_url: str,
    tmp_path: Path,
    server: FixtureServer,
    media: MediaSet,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Platforms break yt-dlp for longer than a job's backoff lasts; the upgrade that
    fixes it must bring back what was given up meanwhile. A post yt-dlp got no video
    from is not gone (liveness calls it live): it fails, and waits for another yt-dlp."""
    server.add_page("/live", YOUTUBE_PAGE)
    monkeypatch.setenv("FAKE_YTDLP_MODE", "no-video")
    config = fake_config(tmp_path / "storage", db_url=db_url)
    with Archive.open(config) as archive:
        (item,) = Capturer(archive).capture_url(server.url("/live")).items
        assert item.status == "failed" and "No video could be found" in str(item.reason)
        Daemon(archive).prepare()  # the same yt-dlp: nothing to try again
        with archive.read_session() as session:
            job = session.scalars(select(CaptureJob).where(CaptureJob.embed_id.is_not(None))).one()
            assert (job.state, job.next_attempt_at) == ("failed", None)
            assert (job.attempts, job.ytdlp_version) == (1, "2026.10.26")

    monkeypatch.setenv("FAKE_YTDLP_VERSION", "2026.11.20")
    monkeypatch.setenv("FAKE_YTDLP_MODE", "ok")
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_b))
    with Archive.open(config) as archive:
        daemon = Daemon(archive)
        daemon.prepare()
        with archive.read_session() as session:
            job = session.get_one(CaptureJob, job.id)
            assert (job.state, job.attempts) == ("pending", 0)
        daemon.run_once()
        with archive.read_session() as session:
            job = session.get_one(CaptureJob, job.id)
            assert (job.state, job.ytdlp_version, job.last_error) == ("done", None, None)


def test_the_ytdlp_a_file_names_is_the_one_that_made_it(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A daemon runs for months and yt-dlp is upgraded under it (the usual cure when a
    platform changes): every later file's sidecar named the version found at start."""
    server.add_page("/live", YOUTUBE_PAGE)
    server.add_page("/later", YOUTUBE_PAGE.replace("abc123XYZ_0", "def456XYZ_1"))
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_b))
    with Archive.open(fake_config(tmp_path / "storage")) as archive:
        capturer = Capturer(archive)  # one process throughout
        assert capturer.capture_url(server.url("/live")).ok
        monkeypatch.setenv("FAKE_YTDLP_VERSION", "2026.12.09")  # upgraded in place
        monkeypatch.setenv("FAKE_YTDLP_INFO", json.dumps({"id": "def456XYZ_1"}))
        monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_a))
        assert capturer.capture_url(server.url("/later")).ok
        for clip, version in ((media.clip_b, "2026.10.26"), (media.clip_a, "2026.12.09")):
            folder = archive.layout.media_dir(sha256(clip))
            (sighting,) = json.loads((folder / "provenance.json").read_text())["sightings"]
            assert sighting["acquisition"]["tool_version"] == version


def test_ytdlp_as_archiver_runs_it_can_answer_youtubes_challenges(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """YouTube withholds most formats from a client that cannot run its JavaScript
    challenges: yt-dlp must find a JavaScript runtime and the challenge scripts, with
    nothing to download at run time, and Deno's cache must stay out of the home folder
    (the service's home is the archive's root)."""
    server.add_file("/clip.mp4", media.clip_a)
    home = tmp_path / "home"
    home.mkdir()
    config = make_config(tmp_path / "storage")
    ytdlp = Ytdlp(config.ytdlp, config.network, None)
    verbose = [*ytdlp.command, "--verbose", "--simulate", "--ignore-config"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        patch.delenv("DENO_DIR", raising=False)
        done = run_bounded([*verbose, server.url("/clip.mp4")], 120, threading.Event())
        assert done.returncode == 0, done.stderr
        assert "JS runtimes: deno-" in done.stderr
        assert "yt_dlp_ejs-" in done.stderr  # the challenge scripts, installed, not fetched

        # the solver loads in that runtime, run as yt-dlp runs it: no network, no npm
        deno = shutil.which("deno", path=sysconfig.get_path("scripts"))
        assert deno is not None
        script = f"{solver.lib()}\nObject.assign(globalThis, lib);\n{solver.core()}\n"
        (tmp_path / "solver.js").write_text(script + "console.log(typeof jsc);\n")
        options = ["--no-code-cache", "--no-prompt", "--no-remote", "--no-lock"]
        options += ["--node-modules-dir=none", "--no-config", "--no-npm", "--cached-only"]
        loaded = run_bounded(
            [deno, "run", *options, str(tmp_path / "solver.js")], 60, threading.Event()
        )
    assert loaded.stdout.strip() == "function", loaded.stderr
    assert list(home.iterdir()) == []


# --- a player with several clips: each stored whole, each with its own provenance -------------

PLAYER_LISTING = """<html><head><title>Player</title></head><body><div id="p"></div><script>
jwplayer("p").setup({{ playlist: [
  {{ title: "Citadel clip one", sources: [{{ file: "{first}", type: "video/mp4" }}] }},
  {{ title: "Citadel clip two", sources: [{{ file: "{second}", type: "video/mp4" }}] }}
]}});
</script></body></html>"""
PLAYER_SCRIPT = """<html><head><title>Player</title></head><body><script>
var a = {{ file: "{first}" }};
var b = {{ file: "{second}" }};
var c = {{ file: "{third}" }};
</script></body></html>"""
LIVE_WITH_PLAYER = """<article><h2>UPDATE 1800 GMT</h2><p>Clips from the Citadel:</p>
<iframe src="/player/42" width="640" height="360"></iframe></article>"""


def capture_player(
    tmp_path: Path, server: FixtureServer, player: str, **network: object
) -> tuple[Any, CaptureJob, dict[str, dict[str, Any]]]:
    """Capture a live page whose one embed is the player at /player/42: the item, the
    player's capture job, and each original in the archive by SHA-256, with its sidecar
    and yt-dlp's info.json."""
    server.add_page("/player/42", player)
    server.add_page("/live", LIVE_WITH_PLAYER)
    with Archive.open(make_config(tmp_path, **network)) as archive:
        (item,) = Capturer(archive).capture_url(server.url("/live")).items
        with archive.session() as session:
            job = session.scalars(select(CaptureJob).where(CaptureJob.embed_id.is_not(None))).one()
            session.expunge(job)
        originals = {
            sha256(path): {
                name: json.loads((path.parent / name).read_text())
                for name in ("provenance.json", "platform.info.json")
            }
            for path in archive.layout.media_root.rglob("original.*")
        }
    return item, job, originals


@pytest.mark.parametrize(
    ("first", "second", "player"),
    [
        ("/media/first/video.mp4", "/media/second/video.mp4", PLAYER_LISTING),  # one id: "video"
        ("/v/aleppo.citadel.mp4", "/v/aleppo.citadel2.mp4", PLAYER_SCRIPT),
        ("/v/" + quote("قلعة.mp4"), "/v/" + quote("حلب.mp4"), PLAYER_SCRIPT),
    ],
    ids=["shared id", "dotted ids", "Arabic ids"],
)
def test_each_clip_of_a_player_is_stored_whole_with_its_own_provenance(
    tmp_path: Path,
    server: FixtureServer,
    media: MediaSet,
    first: str,
    second: str,
    player: str,
) -> None:
    """Clips whose yt-dlp ids were one file name (a playlist's entries take the page's
    id; --restrict-filenames makes Arabic ids "_"; "a.b" and "a.b2" shared the stem
    "a") were written into one file: the first clip with the tail of the second, stored
    as the second. Or a clip got the other's info.json."""
    server.add_file(first, media.clip_b)  # the smaller first: yt-dlp resumed into it
    server.add_file(second, media.clip_a)
    server.add_status("/v/none.mp4", 404)
    urls = {"first": server.url(first), "second": server.url(second)}
    item, job, originals = capture_player(
        tmp_path, server, player.format(**urls, third=server.url("/v/none.mp4"))
    )
    assert set(originals) == {sha256(media.clip_b), sha256(media.clip_a)}
    for clip, url in ((media.clip_b, urls["first"]), (media.clip_a, urls["second"])):
        kept = originals[sha256(clip)]
        (sighting,) = kept["provenance.json"]["sightings"]
        assert sighting["media_url"] == kept["platform.info.json"]["url"] == url
    if player is PLAYER_LISTING:
        assert item.status == "stored", item.reason
    else:  # the third clip is gone: the two are kept, the job says what is missing
        assert item.status == "failed"
        assert item.reason.endswith("HTTP Error 404: Not Found (2 files archived, others not)")
        assert job.state == "failed" and job.next_attempt_at is not None


def test_a_clip_over_the_size_cap_among_others_is_reported_not_dropped(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """yt-dlp skips an entry declared larger than --max-filesize and exits 0: the item
    said "stored" with one clip of two, and nothing said why."""
    server.add_file("/v/big.mp4", media.clip_a)
    server.add_file("/v/small.mp4", media.clip_b)
    between = (media.clip_a.stat().st_size + media.clip_b.stat().st_size) // 2
    player = PLAYER_SCRIPT.format(
        first=server.url("/v/big.mp4"), second=server.url("/v/small.mp4"), third=""
    )
    item, job, originals = capture_player(tmp_path, server, player, max_file_size=between)

    assert set(originals) == {sha256(media.clip_b)}
    assert item.status == "failed"
    assert item.reason == f"file larger than the {between} bytes cap (1 file archived, others not)"
    assert job.state == "failed" and job.next_attempt_at is None  # a bigger cap is a decision


@pytest.mark.parametrize("where", ["captured directly", "in a player page"])
def test_an_hls_playlist_goes_to_ytdlp_wherever_it_is_found(
    tmp_path: Path, server: FixtureServer, media: MediaSet, where: str
) -> None:
    """A playlist given to `capture`, or played by a player page's <video>, was refused
    as "not media: application/vnd.apple.mpegurl" and never retried."""
    playlist = make_hls(media.clip_a, tmp_path / "hls")
    for part in playlist.parent.iterdir():
        server.add_file(f"/hls/{part.name}", part)
    server.add_page("/player/7", "<video src='/hls/index.m3u8' width='640'></video>")
    server.add_page(
        "/live", "<article><p>The stream:</p><iframe src='/player/7'></iframe></article>"
    )
    url = server.url("/hls/index.m3u8" if where == "captured directly" else "/live")
    with Archive.open(make_config(tmp_path)) as archive:
        (item,) = Capturer(archive).capture_url(url).items
    assert item.status == "stored", item.reason
    segments = sorted(playlist.parent.glob("seg*.ts"))
    assert item.files[0].path.read_bytes() == b"".join(s.read_bytes() for s in segments)


def test_a_stream_missing_a_segment_is_not_stored_as_the_whole_video(
    tmp_path: Path, server: FixtureServer
) -> None:
    """yt-dlp leaves out a segment it cannot get and delivers the rest as the video:
    a clip with a gap in the middle was stored, its job done, never tried again."""
    playlist = make_hls(make_clip(tmp_path / "clip.mp4", seconds=4), tmp_path / "hls")
    parts = sorted(playlist.parent.iterdir())
    assert len([part for part in parts if part.suffix == ".ts"]) >= 3
    for part in parts:
        if part.name != "seg001.ts":  # gone from the CDN: 404
            server.add_file(f"/hls/{part.name}", part)
    with Archive.open(make_config(tmp_path)) as archive:
        (item,) = Capturer(archive).capture_url(server.url("/hls/index.m3u8")).items
        with archive.session() as session:
            job = session.scalars(select(CaptureJob).where(CaptureJob.embed_id.is_not(None))).one()
            assert job.state == "failed" and job.next_attempt_at is not None
    assert item.status == "failed" and not item.files
    assert item.reason == "yt-dlp: fragment 2 not found, unable to continue"
    assert not list((tmp_path / "media").rglob("original.*"))


@pytest.mark.parametrize("server_honours_if_range", [True, False])
def test_a_cut_download_is_never_resumed_from_another_file(
    tmp_path: Path, server: FixtureServer, media: MediaSet, server_honours_if_range: bool
) -> None:
    """Cut half-way, yt-dlp asked for the rest with Range alone: the file replaced
    meanwhile, the stored video was the old one's start joined to the new one's end."""
    old, new = media.clip_a.read_bytes(), media.clip_b.read_bytes()
    asked: list[str | None] = []

    def video(request: RequestHandler) -> None:
        ranged, condition = request.headers.get("Range"), request.headers.get("If-Range")
        asked.append(condition)
        request.close_connection = True
        if len(asked) <= 2:  # the extractor's look, then the download: the old file, cut
            request.send_response(200)
            request.send_header("Content-Type", "video/mp4")
            request.send_header("Content-Length", str(len(old)))
            request.send_header("ETag", '"old"')
            request.end_headers()
            request.wfile.write(old[: len(old) // 2])
            return
        headers = {"ETag": '"new"', "Accept-Ranges": "bytes"}
        stale = condition is not None and condition != '"new"'
        if ranged is None or (stale and server_honours_if_range):
            request.send_simple(200, new, "video/mp4", headers)
            return
        start = int(ranged.removeprefix("bytes=").partition("-")[0])
        headers["Content-Range"] = f"bytes {start}-{len(new) - 1}/{len(new)}"
        request.send_simple(206, new[start:], "video/mp4", headers)

    server.add_handler("/v.mp4", video)
    with Archive.open(make_config(tmp_path)) as archive:
        (delivered,) = archive.ytdlp.download(server.url("/v.mp4"), tmp_path / "work").files
    assert delivered.path.read_bytes() == new
    assert asked[2] == '"old"'  # the rest was asked for only from the file begun


def test_a_player_whose_extractor_timed_out_is_tried_again(
    tmp_path: Path, server: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """yt-dlp's time-out (or a 503) on a player page ended the job for good, as
    "no media found in player page", without the yt-dlp version an upgrade retries."""
    monkeypatch.setenv("FAKE_YTDLP_MODE", "hang")
    server.add_page("/player/42", "<html><body><div id='player'></div></body></html>")
    server.add_page("/live", LIVE_WITH_PLAYER)
    with Archive.open(fake_config(tmp_path, timeout=1)) as archive:
        (item,) = Capturer(archive).capture_url(server.url("/live")).items
        with archive.session() as session:
            job = session.scalars(select(CaptureJob).where(CaptureJob.embed_id.is_not(None))).one()
            assert (job.state, job.ytdlp_version) == ("failed", "2026.10.26")
            assert job.next_attempt_at is not None
    assert item.reason == "no media found in player page (yt-dlp timed out: 1s without progress)"


def test_a_live_stream_is_left_until_it_has_ended(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """A stream without an end (no #EXT-X-ENDLIST) was recorded until the size cap and
    then thrown away, again on every retry; with the address guard on, it was refused
    with a reason about addresses. It is now retried until the platform has it whole."""
    playlist = make_hls(media.clip_a, tmp_path / "hls")
    segment = next(playlist.parent.glob("seg*.ts"))
    live = "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:7\n" + "".join(
        f"#EXTINF:1.0,\n/live/seg{n}.ts\n" for n in range(7, 10)
    )
    server.add_bytes("/live/stream.m3u8", live.encode(), "application/vnd.apple.mpegurl")
    for n in range(7, 10):
        server.add_file(f"/live/seg{n}.ts", segment)
    with Archive.open(make_config(tmp_path)) as archive:
        (item,) = Capturer(archive).capture_url(server.url("/live/stream.m3u8")).items
        with archive.session() as session:
            job = session.scalars(select(CaptureJob).where(CaptureJob.embed_id.is_not(None))).one()
            assert job.state == "failed" and job.next_attempt_at is not None
    assert item.reason == "yt-dlp: a live stream that has not ended: it is archived once it has"
    assert not any(request.path.endswith(".ts") for request in server.requests)


def test_a_thumbnail_in_any_image_format_is_kept(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """Only .jpg, .png and .webp thumbnails were kept: a GIF poster (or TikTok's
    ``.image`` covers) was downloaded, then left behind."""
    server.add_file("/v/clip.mp4", media.clip_a)
    server.add_file("/img/poster.gif", media.pixel)
    player = """<html><body><div id="p"></div><script>jwplayer("p").setup(
    {"file": "/v/clip.mp4", "image": "/img/poster.gif", "title": "Citadel"});</script></body></html>"""
    item, _, originals = capture_player(tmp_path, server, player)
    assert item.status == "stored", item.reason
    (kept,) = originals.values()
    assert "thumbnail.gif" in kept["provenance.json"]["companion_files"]
    assert (item.files[0].path.parent / "thumbnail.gif").read_bytes() == media.pixel.read_bytes()


def test_a_file_servers_last_modified_is_no_upload_date(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """yt-dlp's generic extractor gives a plain file the server's Last-Modified as its
    `timestamp`. Kept as the platform's upload, it made a copy whose host kept an old
    file time the earliest of its near-duplicates, ahead of the original."""
    server.add_file("/v/clip.mp4", media.clip_a)
    clip = server.url("/v/clip.mp4")
    player = f"<html><body><script>var a = {{ file: '{clip}' }};</script></body></html>"
    item, _, originals = capture_player(tmp_path, server, player)
    assert item.status == "stored", item.reason
    (kept,) = originals.values()
    assert kept["platform.info.json"]["timestamp"]  # what yt-dlp said stays in its info
    platform = kept["provenance.json"]["platform"]
    assert platform["extractor"] == "Generic"
    assert platform["upload_date"] is None and platform["uploaded_at"] is None


def test_a_video_in_parts_is_archived_part_by_part(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """yt-dlp joins the parts of a "multi_video" (a broadcast in parts) into one file and
    deletes them: without ffprobe the join failed and the parts were kept as a partial
    download, retried for ever; with it, what it listed was gone and nothing was kept."""
    standin_extractors(monkeypatch)
    server.add_file("/v/part1.mp4", media.clip_a)
    server.add_file("/v/part2.mp4", media.clip_b)
    server.add_page("/multipart/bcast", "<html><body><div id='player'></div></body></html>")
    server.add_page(
        "/live", "<article><p>UPDATE:</p><iframe src='/multipart/bcast'></iframe></article>"
    )
    with Archive.open(make_config(tmp_path)) as archive:
        (item,) = Capturer(archive).capture_url(server.url("/live")).items
        with archive.read_session() as session:
            job = session.scalars(select(CaptureJob).where(CaptureJob.embed_id.is_not(None))).one()
            assert job.state == "done"
    assert item.status == "stored", item.reason
    assert sorted(f.sha256 for f in item.files) == sorted(map(sha256, (media.clip_a, media.clip_b)))
    for file in item.files:
        sidecar = json.loads((file.path.parent / "provenance.json").read_text())
        assert sidecar["platform"]["id"] in ("bcast_p1", "bcast_p2")


def test_a_download_that_failed_keeps_the_reason_ytdlp_gave_below_its_error(
    tmp_path: Path, server: FixtureServer
) -> None:
    """yt-dlp reports a failed download as "ERROR: " with the reason on the next line:
    the job kept "yt-dlp: " and nothing else."""
    server.add_status("/v/clip.mp4", 503)
    player = """<html><body><div id="p"></div><script>jwplayer("p").setup(
    {"file": "/v/clip.mp4", "title": "Citadel"});</script></body></html>"""
    server.add_page("/player/42", player)
    config = make_config(tmp_path)
    with pytest.raises(FetchError) as caught:
        Ytdlp(config.ytdlp, config.network, None).download(
            server.url("/player/42"), tmp_path / "work"
        )
    assert str(caught.value) == (
        "yt-dlp: [download] Got error: HTTP Error 503: Service Unavailable."
        " Giving up after 10 retries"
    )
    assert caught.value.retryable and not caught.value.gone
    # what comes after an empty ERROR: is its reason, on one line
    assert error_line("WARNING: x\nERROR: \nfirst part\n  second part\n") == (
        "first part second part"
    )
    assert error_line("ERROR: \n") == "no reason given"


def test_a_subtitle_track_that_failed_does_not_cost_the_video(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """yt-dlp downloads the video after a subtitle track it could not get, and exits 1
    for the track: the video was archived as a partial download and downloaded again
    on every retry."""
    server.add_file("/v/clip.mp4", media.clip_a)
    server.add_bytes("/subs/ar.vtt", b"WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n", "text/vtt")
    server.add_status("/subs/en.vtt", 503)
    tracks = "".join(
        f'<track kind="subtitles" srclang="{lang}" src="/subs/{lang}.vtt">' for lang in ("ar", "en")
    )
    server.add_page(
        "/player/42",
        f"<html><head><title>Citadel</title></head><body>"
        f'<video controls src="/v/clip.mp4">{tracks}</video></body></html>',
    )
    config = make_config(tmp_path)
    result = Ytdlp(config.ytdlp, config.network, None).download(
        server.url("/player/42"), tmp_path / "work"
    )
    assert result.incomplete is None
    (file,) = result.files
    assert file.path.read_bytes() == media.clip_a.read_bytes()
    assert [track.name for track in file.subtitles] == ["00001.ar.vtt"]
    assert result.notes == [
        "yt-dlp: subtitles not archived (00001.en.vtt): [download] Got error: "
        "HTTP Error 503: Service Unavailable. Giving up after 10 retries"
    ]
    # another error besides, or a track whose video did not come: a failure as before
    said = f"[info] Writing video subtitles to: {tmp_path / '00002.en.vtt'}\n"
    video = [tmp_path / "00002.mp4"]
    assert failed_subtitles(said, "ERROR: \nGot error\n", video, tmp_path)
    assert not failed_subtitles(said, "ERROR: \nGot error\nERROR: x: gone\n", video, tmp_path)
    assert not failed_subtitles(said, "ERROR: Unable to download video subtitles", [], tmp_path)


@pytest.mark.parametrize("entries", [3, 5])
def test_a_playlist_over_the_cap_says_what_was_left_out(
    tmp_path: Path, server: FixtureServer, monkeypatch: pytest.MonkeyPatch, entries: int
) -> None:
    """A player or channel of more videos than the cap was cut at it, silently: the job
    said done. What is over the cap is now named, and not retried for (a retry would
    get the same first ones); at the cap, nothing is missing."""
    standin_extractors(monkeypatch)
    monkeypatch.setattr(ytdlp_module, "MAX_ENTRIES", 3)
    for n in range(1, entries + 1):
        server.add_bytes(f"/v/c{n}.mp4", b"\x00\x00\x00\x18ftypmp42" + bytes([n]) * 64, "video/mp4")
    config = make_config(tmp_path)
    result = Ytdlp(config.ytdlp, config.network, None).download(
        server.url(f"/channel/aleppo?entries={entries}"), tmp_path / "work"
    )
    assert [file.info["id"] for file in result.files] == ["c1", "c2", "c3"]
    assert not server.hits("/v/c5.mp4")  # one past the cap is asked for, no more
    if entries == 3:
        assert result.incomplete is None
        return
    assert isinstance(result.incomplete, FetchError)
    assert str(result.incomplete) == "yt-dlp: more than 3 entries: the first 3 archived"
    assert not result.incomplete.retryable and not result.incomplete.gone
