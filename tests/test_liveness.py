"""Liveness end to end: capture a page, kill its embeds one by one, check, report, notify."""

from __future__ import annotations

import json
import logging
import socket
import sqlite3
import threading
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, update
from support import FixtureServer, MediaSet, RequestHandler, bluesky, locked_table, pg_schema
from support.archiving import make_config, run_cli, settings, write_config
from support.browser import AppClient, sha256_of

from archiver import jobs as queue
from archiver.archive import Archive
from archiver.capture import Capturer
from archiver.config import LivenessConfig, PostsConfig, config_from_dict, load_config
from archiver.extract import extract_embeds
from archiver.fetch.http import HttpFetcher
from archiver.fetch.limits import HostLimiter
from archiver.index.models import (
    CaptureJob,
    Embed,
    LinkCheck,
    LinkCheckEvent,
    Media,
    Page,
    Sighting,
    WebhookOutbox,
    utcnow,
)
from archiver.index.records import upsert_embed, upsert_page
from archiver.jobs import GONE_PAGE_ATTEMPTS, MAX_ATTEMPTS, HostQuota, embed_job, retry_returned
from archiver.liveness import outbox, service
from archiver.liveness.probes import Prober
from archiver.liveness.report import archived_copies, embed_statuses
from archiver.liveness.result import CheckResult
from archiver.liveness.schedule import CLAIM_LEASE, next_check
from archiver.liveness.service import (
    UNREACHABLE_PAUSE,
    LivenessChecker,
    Target,
    TargetSync,
    claim_due,
    sync_targets,
)
from archiver.liveness.webhook import LivenessEvent, WebhookNotifier
from archiver.sources.poll import Poller
from archiver.sources.registry import add_source
from archiver.stopping import StopFlag
from archiver.web import create_app
from archiver.web.views import _settled_dead

PLAYER = """<html><head><script type="application/ld+json">
{"@type": "VideoObject", "name": "Citadel", "contentUrl": "/media/clip_b.mp4", "uploadDate": "2013-09-28"}
</script></head><body><div id="player"></div></body></html>"""
PAGE = """<article><p>UPDATE 1800 GMT: Footage of the Citadel:</p>
<iframe src="/player/1"></iframe>
<p>ORIGINAL ENTRY: Smoke over the old city:</p><img src="/media/photo_a.jpg">
<p>And the strike:</p><video src="/media/clip_a.mp4"></video></article>"""


@pytest.fixture
def config(tmp_path: Path, server: FixtureServer, media: MediaSet) -> Path:
    server.add_page("/live", PAGE)
    server.add_page("/player/1", PLAYER)
    for name in ("photo_a", "clip_a", "clip_b"):
        path = getattr(media, name)
        server.add_file(f"/media/{path.name}", path)
    return write_config(tmp_path / "a.toml", settings(tmp_path / "storage"))


def check(config: Path, *args: str) -> dict[str, dict[str, object]]:
    result = run_cli(config, "check", "--json", *args)
    assert result.returncode == 0, result.stderr
    return {row["embed_url"].rsplit("/", 1)[1]: row for row in json.loads(result.stdout)}


def embeds_with(config: Path, *statuses: str) -> set[str]:
    """The embeds the editors' filter finds, by the last part of their URL."""
    with Archive.open(load_config(config)) as archive, archive.read_session() as session:
        rows = embed_statuses(session, archive.layout, statuses=set(statuses))
        return {row.embed.url.rsplit("/", 1)[1] for row in rows}


def test_dead_embeds_are_classified_and_the_archive_named(
    config: Path, server: FixtureServer, media: MediaSet
) -> None:
    assert run_cli(config, "capture", server.url("/live")).returncode == 0
    assert embeds_with(config, "unchecked") == {"1", "photo_a.jpg", "clip_a.mp4"}
    first = check(config)
    assert {name: row["status"] for name, row in first.items()} == {
        "1": "live",
        "photo_a.jpg": "live",
        "clip_a.mp4": "live",
    }
    assert first["photo_a.jpg"]["update"] == "ORIGINAL ENTRY"
    assert first["photo_a.jpg"]["page_url"] == server.url("/live")
    assert first["photo_a.jpg"]["first_seen_dead_at"] is None
    assert len(first["1"]["archived_sha256"]) == 1  # the player's video

    server.add_status("/media/photo_a.jpg", 404)
    server.add_page(
        "/player/1", "<html><body><p>This video is no longer available.</p></body></html>"
    )
    server.add_retry_after("/media/clip_a.mp4", status=503, retry_after="1")
    second = check(config)
    assert second["photo_a.jpg"]["status"] == "gone" and second["photo_a.jpg"]["http_status"] == 404
    assert second["1"]["status"] == "gone" and "soft 404" in second["1"]["reason"]
    assert second["clip_a.mp4"]["status"] == "error"  # transient: never reported as gone
    dead_since = second["photo_a.jpg"]["first_seen_dead_at"]
    assert dead_since is not None and second["photo_a.jpg"]["archived_sha256"]

    only_dead = check(config, "--status", "gone,restricted")
    assert set(only_dead) == {"photo_a.jpg", "1"}
    assert embeds_with(config, "error", "unchecked") == {"clip_a.mp4"}
    assert embeds_with(config, "live") == set()

    shared = server.url("/live?utm_source=twitter#update-3")  # as captured: any spelling
    report = run_cli(config, "report", shared)
    assert report.returncode == 0, report.stderr
    assert "gone since" in report.stdout and "archived copy, use instead" in report.stdout
    assert "original.jpg" in report.stdout

    server.add_status("/media/photo_a.jpg", 503)  # an error in between: not a new death
    erred = check(config, "--page", shared)
    assert (erred["photo_a.jpg"]["status"], erred["photo_a.jpg"]["dead"]) == ("error", True)
    assert erred["clip_a.mp4"]["dead"] is False  # it was live, then erred
    with Archive.open(load_config(config)) as archive, AppClient(create_app(archive)) as client:
        editors = client.get("/editors").text  # counted and flagged as dead still
        photo = erred["photo_a.jpg"]["archived_sha256"][0]
        item = client.get(f"/item/{photo}").text  # its page said "error HTTP 503" alone
    assert "2 of 2 shown embeds are dead on the page" in editors
    assert "dead since" in editors and "dead since" in item
    said = run_cli(config, "report", shared).stdout  # as the editors' page says it
    assert f"error since {dead_since}:" in said and "archived copy, use instead" in said
    assert embeds_with(config, "gone", "restricted") == {"1", "photo_a.jpg"}  # still dead
    assert "clip_a.mp4" not in embeds_with(config, "gone")  # it was live, then erred
    server.add_status("/media/photo_a.jpg", 404)
    assert check(config)["photo_a.jpg"]["first_seen_dead_at"] == dead_since
    server.add_status("/media/photo_a.jpg", 503)
    check(config)
    server.add_file("/media/photo_a.jpg", media.photo_a)
    back = check(config, "--page", server.url("/live"))
    assert back["photo_a.jpg"]["status"] == "live"
    assert back["photo_a.jpg"]["first_seen_dead_at"] == dead_since  # history is kept
    with Archive.open(load_config(config)) as archive, archive.read_session() as session:
        came_back = session.scalars(
            select(LinkCheck.came_back_at).where(LinkCheck.url.endswith("photo_a.jpg"))
        ).one()
    assert came_back is not None  # gone, an error, then live: it came back


def test_the_report_says_why_an_embed_has_no_archived_copy(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """Before any check, an editor learns what archiving each embed met: a 404 (gone),
    a 503 to be retried (after how many attempts, and when next); in the CLI's
    report, its JSON and the editors' page."""
    server.add_page(
        "/blog",
        "<article><p>UPDATE 0900 GMT: Three clips:</p><video src='/media/gone.mp4'></video>"
        "<video src='/media/busy.mp4'></video><video src='/media/clip_b.mp4'></video></article>",
    )
    server.add_status("/media/gone.mp4", 404)
    server.add_status("/media/busy.mp4", 503)
    server.add_file("/media/clip_b.mp4", media.clip_b)
    config = write_config(tmp_path / "a.toml", settings(tmp_path / "storage"))
    assert run_cli(config, "capture", server.url("/blog")).returncode == 1

    answer = run_cli(config, "report", server.url("/blog"), "--json")
    embeds = {e["embed_url"].rsplit("/", 1)[1]: e for e in json.loads(answer.stdout)["embeds"]}
    gone, busy = embeds["gone.mp4"]["capture"], embeds["busy.mp4"]["capture"]
    assert (gone["state"], gone["next_attempt_at"]) == ("gone", None)
    assert "HTTP 404" in gone["reason"]
    assert (busy["state"], busy["attempts"]) == ("failed", 1) and "HTTP 503" in busy["reason"]
    assert embeds["clip_b.mp4"]["capture"] == {
        "state": "done",
        "reason": None,
        "attempts": 1,
        "next_attempt_at": None,
    }
    text = run_cli(config, "report", server.url("/blog")).stdout
    assert "no archived copy (capture gone: HTTP 404" in text
    retry = f"no archived copy (capture failed: {busy['reason']}; next attempt "
    assert retry + busy["next_attempt_at"] in text
    assert text.count("no archived copy") == 2  # not for the stored clip

    with Archive.open(load_config(config)) as archive, AppClient(create_app(archive)) as client:
        editors = client.get("/editors", params={"status": "all"}).text
    assert "capture gone: HTTP 404" in editors and "capture failed: HTTP 503" in editors

    # dead already when its capture was tried: "since" the first check read as the day
    # it died; one that answered 503 first and 404 at the next attempt was said to be
    # gone "already when first captured", beside "capture gone after 2 attempts"
    server.add_status("/media/busy.mp4", 404)
    assert run_cli(config, "capture", server.url("/blog")).returncode == 1
    check(config)
    with Archive.open(load_config(config)) as archive, AppClient(create_app(archive)) as client:
        editors = client.get("/editors").text
    assert editors.count("already when its capture was tried; checked dead since") == 2
    assert "first captured" not in editors


def test_a_dead_embed_the_page_no_longer_carries_is_not_left_to_replace(
    config: Path, server: FixtureServer
) -> None:
    """An editor replaced a dead embed and the next poll recorded it removed: it stayed
    on the editors' list of dead embeds to replace, without a word of the removal."""
    assert run_cli(config, "capture", server.url("/live")).returncode == 0
    server.add_status("/media/photo_a.jpg", 404)
    check(config)
    with Archive.open(load_config(config)) as archive:
        with archive.session() as session:
            session.execute(
                update(Embed).where(Embed.url.endswith("photo_a.jpg")).values(removed_at=utcnow())
            )
        with AppClient(create_app(archive)) as client:
            editors = client.get("/editors").text
    assert "0 of 1 shown embed is dead on the page" in editors
    assert "no longer on the page since" in editors
    row = check(config, "--status", "gone")["photo_a.jpg"]
    assert row["dead"] is True and row["removed_from_page_at"] is not None
    # the CLI's report says it too (it said "gone since …, use instead" alone), and
    # which embed it is by its context, as the editors' page does
    report = run_cli(config, "report", server.url("/live")).stdout
    assert f"no longer on the page since {row['removed_from_page_at']}" in report
    assert row["context"] and f"      {row['context']}" in report


def test_a_page_the_archive_does_not_hold_is_named_not_reported_in_good_order(
    config: Path, server: FixtureServer
) -> None:
    """A mistyped address gave "No dead embeds on this page." and an empty list: an
    editor read a page in good order; the CLI refused it."""
    assert run_cli(config, "capture", server.url("/live")).returncode == 0
    wrong = "https://news.example/no-such-live-page"
    with Archive.open(load_config(config)) as archive, AppClient(create_app(archive)) as client:
        page = client.get("/editors", params={"page": wrong})
        api = client.get("/api/embeds", params={"page": wrong})
        held = client.get("/api/embeds", params={"page": server.url("/live"), "status": "gone"})
    assert page.status_code == 400 and "no archived embeds for page" in page.text
    assert "No dead embeds" not in page.text
    assert api.status_code == 400 and "no archived embeds for page" in api.json()["error"]
    assert held.status_code == 200 and held.json() == []  # held, and none of them gone
    refused = run_cli(config, "report", wrong)
    assert refused.returncode == 2 and "no archived embeds for page" in refused.stderr


def test_check_usage_errors(config: Path, server: FixtureServer) -> None:
    assert run_cli(config, "check", "--status", "dead").returncode == 2
    empty = run_cli(config, "check", "--status", ",")  # it checked and listed every embed
    assert empty.returncode == 2 and "status: is empty" in empty.stderr
    assert run_cli(config, "check", "--page", "https://example.org/nope").returncode == 2
    # an embed's own address given as the page: checked, then said to hold no embeds
    # (it was a traceback once pages of nothing were refused)
    assert run_cli(config, "capture", server.url("/live")).returncode == 0
    embed = check(config)["photo_a.jpg"]["embed_url"]
    own = run_cli(config, "check", "--page", embed)
    assert own.returncode == 2 and own.stderr.strip().endswith(
        f"no archived embeds for page {embed!r}"
    )


def test_finding_new_embeds_to_check_takes_no_write_lock(
    config: Path, server: FixtureServer
) -> None:
    """The scan for embeds without a check row held SQLite's write lock for its whole
    length every ten seconds (half a second at 500,000 embeds): captures waited."""
    assert run_cli(config, "capture", server.url("/live")).returncode == 0
    with Archive.open(load_config(config)) as archive:
        assert sync_targets(archive, utcnow()) == 4  # the page and its embeds
        index = load_config(config).storage_root / "archive.db"
        writer = sqlite3.connect(index, isolation_level=None, timeout=0)
        try:
            writer.execute("BEGIN IMMEDIATE")  # a capture's transaction, held
            done = threading.Event()
            scan = threading.Thread(target=lambda: (sync_targets(archive, utcnow()), done.set()))
            scan.start()
            assert done.wait(10), "the scan waited for the write lock"
        finally:
            writer.execute("ROLLBACK")
            writer.close()
            scan.join()


def test_the_daemon_looks_at_new_embeds_each_minute_and_at_all_of_them_hourly(
    config: Path, server: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scan of every embed each minute took 1.1 s at 1,000,000 embeds."""
    assert run_cli(config, "capture", server.url("/live")).returncode == 0
    with Archive.open(load_config(config)) as archive:
        sync = TargetSync(every=0)
        assert sync.run(archive, utcnow()) == 4  # the first run looks at everything
        with archive.session() as session:
            page = upsert_page(session, "https://news.example/tuesday", None, utcnow())
            (found,) = extract_embeds(
                "<article><img src='https://cdn.example/new.jpg'></article>", page.url
            ).embeds
            upsert_embed(session, page, found, utcnow())
            # a row lost below the mark: only a look at every embed gives it back
            session.execute(delete(LinkCheck).where(LinkCheck.url == server.url("/live")))
        assert sync.run(archive, utcnow()) == 2  # the new embed and its page
        assert sync.run(archive, utcnow()) == 0
        monkeypatch.setattr(service, "FULL_SYNC_EVERY", 0.0)
        assert sync.run(archive, utcnow()) == 1
        with archive.read_session() as session:
            urls = set(session.scalars(select(LinkCheck.url)))
    assert {server.url("/live"), "https://news.example/tuesday"} <= urls
    assert "https://cdn.example/new.jpg" in urls


def test_schedule_depends_on_status() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    quiet = LivenessConfig(jitter=0)
    assert next_check(quiet, "live", 0, now) == now + timedelta(hours=24)
    assert next_check(quiet, "error", 1, now) == now + timedelta(hours=1)
    assert next_check(quiet, "error", 3, now) == now + timedelta(hours=4)
    assert next_check(quiet, "error", 10, now) == now + timedelta(hours=24)
    assert next_check(quiet, "gone", 0, now) == now + timedelta(days=7)
    # gone with nothing captured: again after as long as it has been dead, 1 h to 7 days
    for dead_for, wait in ((0, 1), (5, 5), (30, 30), (24 * 30, 24 * 7)):
        uncaptured = timedelta(hours=dead_for)
        assert next_check(quiet, "gone", 0, now, uncaptured_for=uncaptured) == now + timedelta(
            hours=wait
        )
    assert next_check(quiet, "error", 1, now, retry_after=7200) == now + timedelta(hours=2)
    spread = {next_check(LivenessConfig(), "live", 0, now) for _ in range(20)}
    assert len(spread) > 1 and all(
        abs(t - now - timedelta(hours=24)) <= timedelta(hours=2.4) for t in spread
    )


def test_an_embed_archived_through_another_page_has_that_copy_to_use(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """The same file embedded on a second page after it was deleted: the report of the
    second page said "no archived copy" though the archive held it from the first."""
    server.add_file("/media/photo_a.jpg", media.photo_a)
    for page in ("/monday", "/tuesday"):
        server.add_page(page, "<article><p>The market:</p><img src='/media/photo_a.jpg'></article>")
    config = write_config(tmp_path / "a.toml", settings(tmp_path / "storage"))
    assert run_cli(config, "capture", server.url("/monday")).returncode == 0
    server.add_status("/media/photo_a.jpg", 404)
    # gone by then: the second page's sighting shares the first's download
    assert run_cli(config, "capture", server.url("/tuesday")).returncode == 0

    answer = json.loads(run_cli(config, "report", server.url("/tuesday"), "--json").stdout)

    (embed,) = answer["embeds"]
    assert embed["archived_sha256"] == [sha256_of(media.photo_a)]
    assert [copy["sha256"] for copy in embed["archived"]] == [sha256_of(media.photo_a)]


def test_a_post_archived_under_one_spelling_is_the_copy_of_its_others(
    tmp_path: Path, db_url: str
) -> None:
    """A tweet archived as ``twitter.com/Foo/status/N`` and embedded elsewhere as the
    widget's ``/i/status/N`` (or an Instagram post as ``/reel/`` and ``/p/``) was "no
    archived copy" there: copies are found by the id the platform gave the files too,
    and only for that platform."""
    now = utcnow()
    archived = {
        "https://twitter.com/Foo/status/1234567891": ("X", "1234567891"),
        "https://www.instagram.com/reel/CxYz123/": ("Instagram", "CxYz123"),
        "https://www.youtube.com/watch?v=abc123XYZ_0": ("Youtube", "1234567891"),
    }
    with Archive.open(config_from_dict(settings(tmp_path / "storage", db_url))) as archive:
        with archive.session() as session:
            page = upsert_page(session, "https://news.example/monday", None, now)
            for n, (url, (extractor, post_id)) in enumerate(archived.items()):
                (found,) = extract_embeds(
                    f"<article><a href='{url}'>post</a></article>", page.url
                ).embeds
                embed = upsert_embed(session, page, found, now)
                sha = f"{n:064x}"
                media = Media(
                    sha256=sha, md5="0" * 32, size_bytes=1, mime_type="video/mp4",
                    media_type="video", path=f"media/{sha}/original.mp4", first_captured_at=now,
                    platform_extractor=extractor, platform_id=post_id,
                )  # fmt: skip
                session.add(media)
                session.flush()
                session.add(
                    Sighting(
                        media_id=media.id,
                        embed_id=embed.id,
                        media_url=url,
                        tool="yt-dlp",
                        tool_version="x",
                        archiver_version="x",
                        first_seen_at=now,
                        last_seen_at=now,
                    )
                )
        with archive.read_session() as session:
            copies = archived_copies(
                session,
                {
                    "https://twitter.com/i/status/1234567891",
                    "https://www.instagram.com/p/CxYz123/",
                    "https://www.tiktok.com/@/video/1234567891",  # the tweet's id, not a TikTok
                },
            )
            found = {url: [m.platform_extractor for m in media] for url, media in copies.items()}
    assert found == {
        "https://twitter.com/i/status/1234567891": ["X"],
        "https://www.instagram.com/p/CxYz123/": ["Instagram"],
    }


def test_turning_gone_posts_a_webhook_event_without_leaking_the_secret(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    received: list[dict[str, object]] = []
    got = threading.Event()

    def hook(request: object) -> None:
        body = request.read_body()  # type: ignore[attr-defined]
        received.append({"json": json.loads(body), "auth": request.headers.get("Authorization")})  # type: ignore[attr-defined]
        request.send_simple(204, b"", "text/plain")  # type: ignore[attr-defined]
        got.set()

    server.add_handler("/hook", hook)
    server.add_file("/media/photo_b.jpg", media.photo_b)
    server.add_page("/page", "<article><p>Photo:</p><img src='/media/photo_b.jpg'></article>")
    secret = "Bearer s3cr3t-token"
    data = settings(
        tmp_path / "storage",
        liveness={
            "webhook_url": server.url("/hook?key=abc"),
            "webhook_header": f"Authorization: {secret}",
        },
    )
    config = write_config(tmp_path / "w.toml", data)
    assert run_cli(config, "capture", server.url("/page")).returncode == 0
    check(config)
    server.add_status("/media/photo_b.jpg", 410)
    result = run_cli(config, "--log-level", "info", "check")
    assert result.returncode == 0
    assert got.wait(10)
    event = received[0]["json"]
    assert event["status"] == "gone" and event["previous_status"] == "live"  # type: ignore[index]
    assert event["embed_url"] == server.url("/media/photo_b.jpg")  # type: ignore[index]
    assert event["page_url"] == server.url("/page") and event["archived_sha256"]  # type: ignore[index]
    assert received[0]["auth"] == secret
    assert "event=liveness.dead" in result.stderr
    assert "s3cr3t" not in result.stderr and "key=abc" not in result.stderr
    server.add_status("/media/photo_b.jpg", 503)  # a bad moment of the host ...
    check(config)
    server.add_status("/media/photo_b.jpg", 410)  # ... is no second death to announce
    check(config)
    assert len(received) == 1


def test_a_death_the_receiver_was_down_for_is_announced_when_it_is_back(
    tmp_path: Path, db_url: str, server: FixtureServer, media: MediaSet
) -> None:
    """The receiver refused connections while ``archiver check`` found a photo gone: the
    command gave up at exit and, the death being recorded, no later check sent it."""
    received: list[dict[str, object]] = []
    server.add_file("/media/photo_b.jpg", media.photo_b)
    server.add_page("/page", "<article><p>Photo:</p><img src='/media/photo_b.jpg'></article>")
    with socket.socket() as closed:  # a port nothing listens on: the receiver is down
        closed.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{closed.getsockname()[1]}/hook"
    data = settings(tmp_path / "storage", db_url, liveness={"webhook_url": down})
    config = write_config(tmp_path / "w.toml", data)
    assert run_cli(config, "capture", server.url("/page")).returncode == 0
    check(config)
    server.add_status("/media/photo_b.jpg", 410)
    check(config)  # the death, and nobody to tell
    with Archive.open(load_config(config)) as archive, archive.read_session() as session:
        assert len(session.scalars(select(WebhookOutbox)).all()) == 1  # owed

    def hook(request: object) -> None:
        received.append(json.loads(request.read_body()))  # type: ignore[attr-defined]
        request.send_simple(204, b"", "text/plain")  # type: ignore[attr-defined]

    server.add_handler("/hook", hook)
    data["liveness"]["webhook_url"] = server.url("/hook")
    write_config(tmp_path / "w.toml", data)
    check(config)  # still gone: no new death, but the owed one goes out

    assert [(e["status"], e["embed_url"]) for e in received] == [
        ("gone", server.url("/media/photo_b.jpg"))
    ]
    with Archive.open(load_config(config)) as archive, archive.read_session() as session:
        assert session.scalars(select(WebhookOutbox)).all() == []


def test_per_host_rate_is_held(tmp_path: Path, server: FixtureServer, media: MediaSet) -> None:
    for i in range(6):
        server.add_file(f"/p/{i}.jpg", media.photo_c)
    server.add_page(
        "/six",
        "<article><p>Six:</p>"
        + "".join(f"<img src='/p/{i}.jpg'>" for i in range(6))
        + "</article>",
    )
    config = write_config(
        tmp_path / "r.toml", settings(tmp_path / "storage", liveness={"per_host_rate": 4})
    )
    assert run_cli(config, "capture", server.url("/six")).returncode == 0
    started = time.monotonic()
    rows = check(config)
    assert len(rows) == 6 and {r["status"] for r in rows.values()} == {"live"}
    assert time.monotonic() - started >= 6 / 4  # 7 requests (page + 6) at most 4 per second


@pytest.mark.parametrize(
    ("platform", "post", "asked"),
    [
        ("twitter", "https://twitter.com/Interior/status/507185938620219395", "/oembed"),
        ("bluesky", bluesky.POST_URL, "/xrpc/app.bsky.feed.getPosts"),
    ],
    ids=["x-oembed", "bluesky-api"],
)
def test_a_retry_after_pauses_the_host_that_sent_it(
    tmp_path: Path, server: FixtureServer, platform: str, post: str, asked: str
) -> None:
    """X's posts are asked about at its oEmbed endpoint (publish.twitter.com), Bluesky's
    at its API (public.api.bsky.app): their 429's Retry-After paused twitter.com and
    bsky.app instead, and the next checks asked the endpoint at once."""
    server.add_retry_after(asked, 429, "2")
    limiter = HostLimiter(per_host=1)  # no pace of its own: only the pause holds a request
    prober = Prober(
        httpx.Client(trust_env=False, timeout=2.0),
        None,
        oembed_endpoints={"twitter": server.url("/oembed")},
        limiter=limiter,
        posts=PostsConfig(bluesky_url=server.url()),
    )
    with Archive.open(config_from_dict(settings(tmp_path / "storage"))) as archive:
        checker = LivenessChecker(archive, prober, WebhookNotifier(None), limiter)
        result = checker.check(Target(1, post, "platform", platform))
        checker.close()
    assert (result.status, result.http_status, result.retry_after) == ("error", 429, 2.0)
    started = time.monotonic()
    with limiter.slot(post):
        assert time.monotonic() - started < 0.5  # the post's own host said nothing
    with limiter.slot(server.url(asked)):
        assert time.monotonic() - started >= 1.0  # the endpoint's host waits as it asked


def test_a_result_that_cannot_be_recorded_costs_the_rest_of_its_batch_nothing(
    tmp_path: Path,
    db_url: str,
    server: FixtureServer,
    media: MediaSet,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Results are written in batches; one that fails to record (here a fault injected
    into recording photo_b's) is logged and undone, and the others are kept."""
    server.add_file("/a.jpg", media.photo_a)
    server.add_file("/b.jpg", media.photo_b)
    server.add_page("/live", "<article><p>Two:</p><img src='/a.jpg'><img src='/b.jpg'>")
    config = write_config(tmp_path / "a.toml", settings(tmp_path / "storage", db_url))
    assert run_cli(config, "capture", server.url("/live")).returncode == 0
    apply = LivenessChecker._apply

    def faulty(self: LivenessChecker, session: Any, target: Target, *rest: Any) -> Any:
        found = apply(self, session, target, *rest)  # its changes are made, then it fails
        if target.url.endswith("/b.jpg"):
            raise RuntimeError("injected fault")
        return found

    monkeypatch.setattr(LivenessChecker, "_apply", faulty)
    with Archive.open(load_config(config)) as archive:
        checker, due = _checker_and_due(archive)
        checker.run(due)
        checker.close()
        with archive.read_session() as session:
            rows = {c.url.rsplit("/", 1)[1]: c.status for c in session.scalars(select(LinkCheck))}
    assert rows["a.jpg"] == "live"
    assert rows["b.jpg"] != "live"  # rolled back to before the failed result
    assert "recording the check of" in caplog.text and "/b.jpg failed" in caplog.text


def test_results_the_database_cannot_take_are_one_line_and_checked_again(
    tmp_path: Path, server: FixtureServer, media: MediaSet, caplog: pytest.LogCaptureFixture
) -> None:
    """While the database cannot take writes (here its link_checks table is held
    locked past the connection's lock_timeout; in life a full disk or a restart), a
    batch of results is dropped with one warning, not a traceback per result, and
    the checks are claimed and done again later."""
    server.add_file("/a.jpg", media.photo_a)
    server.add_page("/live", "<article><p>One:</p><img src='/a.jpg'></article>")
    with pg_schema(lock_timeout_ms=200) as url:
        config = write_config(tmp_path / "a.toml", settings(tmp_path / "storage", url))
        assert run_cli(config, "capture", server.url("/live")).returncode == 0
        with Archive.open(load_config(config)) as archive:
            checker, due = _checker_and_due(archive)
            with caplog.at_level(logging.INFO, logger="archiver"), locked_table(url, "link_checks"):
                checker.run(due)
            assert "liveness.not_recorded" in caplog.text
            assert not [r for r in caplog.records if r.exc_info]
            later = utcnow() + CLAIM_LEASE + timedelta(seconds=1)
            with archive.session() as session:
                again = claim_due(session, later, 10)
            assert {t.url for t in again} == {t.url for t in due}
            checker.run(again)
            checker.close()
            with archive.read_session() as session:
                statuses = {c.status for c in session.scalars(select(LinkCheck))}
    assert statuses == {"live"}


def test_one_turn_to_gone_recorded_by_two_checkers_at_once_is_one_death(
    tmp_path: Path,
    db_url: str,
    server: FixtureServer,
    media: MediaSet,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The daemon and an ``archiver check`` found the same URL gone at the same moment:
    on PostgreSQL both read it live before either committed, and the death was
    recorded, and notified, twice."""
    server.add_file("/a.jpg", media.photo_a)
    server.add_page("/live", "<article><p>One:</p><img src='/a.jpg'></article>")
    config = write_config(tmp_path / "a.toml", settings(tmp_path / "storage", db_url))
    assert run_cli(config, "capture", server.url("/live")).returncode == 0
    first_in = threading.Event()
    record_liveness = service.record_liveness

    def slow_first(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "first":  # it holds the row a while
            first_in.set()
            time.sleep(1.0)
        return record_liveness(*args, **kwargs)

    monkeypatch.setattr(service, "record_liveness", slow_first)
    with Archive.open(load_config(config)) as archive:
        checker, due = _checker_and_due(archive)
        (target,) = [t for t in due if t.url.endswith("/a.jpg")]
        checker.record([(target, CheckResult("live", "HTTP 200", 200, None, "http-head"))])
        gone = [(target, CheckResult("gone", "HTTP 404", 404, None, "http-range"))]
        first = threading.Thread(target=checker.record, args=(gone,), name="first")
        first.start()
        assert first_in.wait(10)
        checker.record(gone)  # the other checker, while the first has not committed
        first.join()
        checker.close()
        with archive.read_session() as session:
            deaths = session.scalars(
                select(LinkCheckEvent.status).where(LinkCheckEvent.status == "gone")
            ).all()
    assert deaths == ["gone"]


def test_a_host_that_does_not_answer_holds_up_no_other_host(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """Checks of one host go one at a time; behind a host that accepts connections and
    never answers, each waited out its time-outs, and the other hosts' checks waited
    for all of them (hours, for a thousand embeds on a hanging CDN)."""
    hanging = [f"/hang/{n}.jpg" for n in range(5)]
    for path in hanging:
        server.add_hang(path, seconds=10)
    server.add_file("/ok.jpg", media.photo_a)
    elsewhere = server.url("/ok.jpg").replace("127.0.0.1", "localhost")  # another host
    body = "".join(f"<img src='{server.url(p)}'>" for p in hanging) + f"<img src='{elsewhere}'>"
    data = settings(tmp_path / "storage", liveness={"concurrency": 1, "timeout": "0.4s"})
    with Archive.open(config_from_dict(data)) as archive:
        with archive.session() as session:
            page = upsert_page(session, "https://news.example/live", None, utcnow())
            for found in extract_embeds(
                f"<article><p>Photos:</p>{body}</article>", page.url
            ).embeds:
                upsert_embed(session, page, found, utcnow())
        checker, due = _checker_and_due(archive)
        started = time.monotonic()
        results = dict(zip([t.url for t in due], checker.run(due), strict=True))
        took = time.monotonic() - started
        checker.close()
        # the unasked say nothing of their URLs: no status, no history, due after the
        # pause (each was an "error", and a CDN that hung once flipped all its embeds)
        with archive.read_session() as session:
            unasked = session.scalars(
                select(LinkCheck).where(LinkCheck.url.in_(
                    [url for url, r in results.items() if r.probe == "skipped"]
                ))
            ).all()  # fmt: skip
            history = session.scalars(select(LinkCheckEvent.reason)).all()
    assert results[elsewhere].status == "live"
    skipped = [r for url, r in results.items() if r.probe == "skipped"]
    assert len(skipped) == 4 and all(r.status == "error" for r in skipped)
    assert skipped[0].reason == "not asked: 127.0.0.1 did not answer a check moments ago"
    assert took < 3.0  # one hanging check's HEAD and GET; five of them took 4 s and more
    assert len(unasked) == 4 and all(c.status is None and c.checked_at is None for c in unasked)
    soon = utcnow() + timedelta(seconds=UNREACHABLE_PAUSE - 30)
    assert all(c.next_check_at > soon for c in unasked)
    assert not any("not asked" in (reason or "") for reason in history)


def test_checks_not_begun_at_a_shutdown_are_not_begun(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """The prober did not look at the stop flag: checks queued at a shutdown ran on at
    a request a second per host, and held the daemon's stop for half a minute."""
    server.add_file("/ok.jpg", media.photo_a)
    with Archive.open(config_from_dict(settings(tmp_path / "storage"))) as archive:
        with archive.session() as session:
            page = upsert_page(session, "https://news.example/live", None, utcnow())
            (found,) = extract_embeds(
                f"<article><p>Photo:</p><img src='{server.url('/ok.jpg')}'></article>", page.url
            ).embeds
            upsert_embed(session, page, found, utcnow())
        checker, due = _checker_and_due(archive)
        archive.stop.set()
        results = checker.run(due)
        checker.close()
        with archive.read_session() as session:
            checks = session.scalars(select(LinkCheck)).all()
    assert due and {(r.probe, r.reason) for r in results} == {
        ("skipped", "not asked: shutting down")
    }
    assert server.hits("/ok.jpg") == 0  # nothing asked
    assert all(check.status is None for check in checks)  # due again, untouched


def _checker_and_due(archive: Archive) -> tuple[LivenessChecker, list[Target]]:
    """A checker, and the checks now due (each embed given its check row first)."""
    checker = LivenessChecker.open(archive)
    sync_targets(archive, utcnow())
    with archive.session() as session:
        return checker, claim_due(session, utcnow(), 10)


def test_an_embed_gone_at_capture_but_live_at_a_check_is_captured_again(
    config: Path, server: FixtureServer, media: MediaSet
) -> None:
    """A fresh post's image can 404 for a while (a CDN catching up, a post restored
    after review): the capture says gone, a later check finds it live, and the daemon
    then archives it instead of leaving it unarchived for good."""
    server.add_status("/media/photo_a.jpg", 404)
    first = run_cli(config, "capture", server.url("/live"))
    assert first.returncode == 1 and "gone" in first.stdout
    check(config)  # still 404: checked again within the hour, not in a week
    with Archive.open(load_config(config)) as archive, archive.read_session() as session:
        rows = session.execute(select(LinkCheck.url, LinkCheck.status, LinkCheck.next_check_at))
        waits = {url.rsplit("/", 1)[1]: (status, at - utcnow()) for url, status, at in rows}
    assert waits["photo_a.jpg"][0] == "gone"
    assert timedelta(minutes=50) < waits["photo_a.jpg"][1] < timedelta(minutes=70)
    assert waits["clip_a.mp4"][1] > timedelta(hours=20)  # live: daily

    server.add_file("/media/photo_a.jpg", media.photo_a)
    result = run_cli(config, "--log-level", "info", "check", "--json")
    assert result.returncode == 0, result.stderr
    assert "event=capture.retry url=" in result.stderr
    assert "/media/photo_a.jpg" in result.stderr
    with Archive.open(load_config(config)) as archive, archive.read_session() as session:
        jobs = session.scalars(select(CaptureJob).where(CaptureJob.url.endswith("photo_a.jpg")))
        assert [(job.state, job.attempts) for job in jobs] == [("pending", 1)]

    assert run_cli(config, "run", "--once").returncode == 0
    found = json.loads(run_cli(config, "search", "--page", server.url("/live"), "--json").stdout)
    assert sha256_of(media.photo_a) in {row["sha256"] for row in found}


def _run_page_job(archive: Archive) -> str:
    """Run the page job now if it is to run, whatever its backoff, as the queue would
    once it is due; its state."""
    capturer = Capturer(archive)
    page_job = CaptureJob.embed_id.is_(None)
    with archive.session() as session:
        session.execute(update(CaptureJob).where(page_job).values(next_attempt_at=utcnow()))
        claimed = queue.claim_due(session, capturer.owner, 10, utcnow())
        taken = [job.id for job in claimed if job.embed_id is None]
    for job_id in taken:
        capturer.run_claimed(job_id)
    with archive.read_session() as session:
        return session.scalars(select(CaptureJob.state).where(page_job)).one()


def test_a_feed_entrys_page_gone_at_capture_but_live_at_a_check_is_captured_again(
    tmp_path: Path, db_url: str, server: FixtureServer
) -> None:
    """A feed went out before its page was up, and the page still answered 404 at the
    last of its captures' retries: gone. A check finding the page live later left it
    so (only embeds' jobs were looked at): what the page holds beyond the feed's
    summary was never archived."""
    item = (
        f"<item><title>Aleppo</title><link>{server.url('/story')}</link><guid>s1</guid>"
        "<description>&lt;p&gt;Shelling at dawn:&lt;/p&gt;&lt;img src='/media/dawn.jpg'&gt;"
        "</description></item>"
    )
    rss = f"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>{item}</channel></rss>"
    server.add_bytes("/feed.rss", rss.encode(), "application/rss+xml")
    server.add_status("/story", 404)
    config = make_config(tmp_path / "storage", db_url)
    with Archive.open(config) as archive, closing(HttpFetcher(config.network, 2)) as http:
        with archive.session() as session:
            source = add_source(session, server.url("/feed.rss"), every=60).id
        Poller(Capturer(archive), config.polling, http).poll(source)
        states = [_run_page_job(archive) for _ in range(GONE_PAGE_ATTEMPTS)]
        server.add_page(
            "/story",
            "<article><p>Shelling at dawn:</p><img src='/media/dawn.jpg' width=600>"
            "<p>Video of the Citadel:</p><video src='/media/citadel.mp4'></video></article>",
        )
        checker, due = _checker_and_due(archive)
        checker.run([target for target in due if target.url.endswith("/story")])
        checker.close()
        with archive.read_session() as session:
            retried = session.scalars(select(CaptureJob).where(CaptureJob.embed_id.is_(None)))
            (job,) = [(job.state, job.attempts) for job in retried]
        last = _run_page_job(archive)
        with archive.read_session() as session:
            found = {url.rsplit("/", 1)[1] for url in session.scalars(select(Embed.url))}
    assert states == ["failed"] * (GONE_PAGE_ATTEMPTS - 1) + ["gone"]
    assert job == ("pending", GONE_PAGE_ATTEMPTS)
    assert (last, found) == ("done", {"dawn.jpg", "citadel.mp4"})


def test_a_url_that_answers_checks_but_never_downloads_is_given_up(
    tmp_path: Path, db_url: str
) -> None:
    """Captured again on every live check, a job would loop for ever: the attempts
    it used are not reset, so it stops at the limit."""
    page_url = "https://news.example/live"
    found = extract_embeds(
        b"<article><p>Smoke:</p><img src='/fresh.jpg' width=800 height=600>"
        b"<p>Fire:</p><img src='/spent.jpg' width=800 height=600></article>",
        page_url,
    ).embeds
    with Archive.open(make_config(tmp_path / "storage", db_url)) as archive:
        now = utcnow()
        with archive.session() as session:
            page = Page(url=page_url, first_fetched_at=now, last_fetched_at=now)
            session.add(page)
            session.flush()
            for attempts, embed in zip((1, MAX_ATTEMPTS), found, strict=True):
                job = embed_job(session, upsert_embed(session, page, embed, now))
                job.state, job.attempts, job.next_attempt_at = "gone", attempts, None
        urls = [embed.url for embed in found]
        with archive.session() as session:
            assert retry_returned(session, urls, now) == [urls[0]]
        with archive.read_session() as session:
            states = dict(session.execute(select(CaptureJob.url, CaptureJob.state)).all())
        assert states == {urls[0]: "pending", urls[1]: "gone"}


# -- checks waiting for their host's turn, claims, the clock, removed embeds ----------


def _page_of(
    archive: Archive, urls: list[str], page_url: str = "https://news.example/live"
) -> None:
    """A page embedding ``urls`` as images, and their check rows (due now)."""
    body = "".join(f"<img src='{url}'>" for url in urls)
    with archive.session() as session:
        page = upsert_page(session, page_url, None, utcnow())
        for found in extract_embeds(f"<article><p>Photos:</p>{body}</article>", page_url).embeds:
            upsert_embed(session, page, found, utcnow())
    sync_targets(archive, utcnow())


def _due(archive: Archive) -> list[Target]:
    with archive.session() as session:
        return [t for t in claim_due(session, utcnow(), 50) if t.kind != "page"]


def test_checks_waiting_behind_a_host_that_hung_are_skipped_once_it_did(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """With four workers, the others were already waiting for the hanging host's turn
    when it hung: each asked it in turn, and waited out its time-outs."""
    hanging = [f"/hang/{n}.jpg" for n in range(8)]
    for path in hanging:
        server.add_hang(path, seconds=10)
    server.add_file("/ok.jpg", media.photo_a)
    elsewhere = server.url("/ok.jpg").replace("127.0.0.1", "localhost")
    liveness = {"concurrency": 4, "timeout": "0.4s", "per_host_rate": 10}
    data = settings(tmp_path / "storage", liveness=liveness)
    with Archive.open(config_from_dict(data)) as archive:
        _page_of(archive, [*map(server.url, hanging), elsewhere])
        checker = LivenessChecker.open(archive)
        started = time.monotonic()
        results = checker.run(_due(archive))
        took = time.monotonic() - started
        checker.close()
    skipped = [r for r in results if r.probe == "skipped"]
    assert len(skipped) == 7, [(r.probe, r.reason) for r in results]
    assert took < 3.0, took
    assert sum(server.hits(path) for path in hanging) == 2  # one check: its HEAD, its GET


def test_checks_waiting_for_a_host_that_asked_for_a_pause_are_skipped(
    tmp_path: Path, server: FixtureServer
) -> None:
    """A 429 with Retry-After 3: the checks already waiting for the host's turn slept
    through the pause, one after another (a 120 s pause held every worker for
    minutes). Now they end unasked, due again once the pause is over."""
    paths = [f"/busy/{n}.jpg" for n in range(6)]
    for path in paths:
        server.add_retry_after(path, 429, "3")
    liveness = {"concurrency": 4, "timeout": "2s", "per_host_rate": 10}
    data = settings(tmp_path / "storage", liveness=liveness)
    with Archive.open(config_from_dict(data)) as archive:
        _page_of(archive, [server.url(p) for p in paths])
        checker = LivenessChecker.open(archive)
        started = time.monotonic()
        results = checker.run(_due(archive))
        took = time.monotonic() - started
        checker.close()
        with archive.read_session() as session:
            checks = session.scalars(select(LinkCheck).where(LinkCheck.kind != "page")).all()
    assert took < 2.5, took
    skipped = [r for r in results if r.probe == "skipped"]
    assert len(skipped) == 5 and sum(server.hits(p) for p in paths) == 1
    assert all("127.0.0.1 asked for a pause" in r.reason for r in skipped), skipped
    unasked = [c for c in checks if c.status is None]  # untouched, due after the pause
    assert len(unasked) == len(skipped)
    assert all(c.next_check_at < utcnow() + timedelta(seconds=10) for c in unasked)


def test_a_stop_ends_the_checks_waiting_for_their_hosts_turn(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """One request every 5 s to a host: the checks waiting for their turn at a
    shutdown waited them out (a stop during a 120 s pause took half an hour, and
    systemd killed the daemon)."""
    for n in range(4):
        server.add_file(f"/p/{n}.jpg", media.photo_a)
    data = settings(tmp_path / "storage", liveness={"concurrency": 4, "per_host_rate": 0.2})
    with Archive.open(config_from_dict(data)) as archive:
        _page_of(archive, [server.url(f"/p/{n}.jpg") for n in range(4)])
        checker = LivenessChecker.open(archive)
        futures = [checker.pool.submit(checker.check, t) for t in _due(archive)]
        time.sleep(0.5)
        archive.stop.set()
        started = time.monotonic()
        checker.close()
        took = time.monotonic() - started
    results = [f.result() for f in futures]
    assert took < 2.0, took
    assert (
        sorted(r.reason for r in results if r.probe == "skipped")
        == ["not asked: shutting down"] * 3
    )
    assert sum(server.hits(f"/p/{n}.jpg") for n in range(4)) == 1


def test_a_wait_for_a_hosts_turn_ends_when_the_stop_is_set() -> None:
    stop = StopFlag()
    limiter = HostLimiter(per_host=1, stop=stop)  # type: ignore[call-arg]
    limiter.defer("https://cdn.example/a.jpg", 60)  # a Retry-After
    entered: list[float] = []

    def ask() -> None:
        with limiter.slot("https://cdn.example/b.jpg"):
            entered.append(time.monotonic())

    waiting = threading.Thread(target=ask)
    waiting.start()
    time.sleep(0.2)
    stopped = time.monotonic()
    stop.set()
    waiting.join(5)
    assert entered and entered[0] - stopped < 0.5  # the caller decides, on its flag


def test_claims_leave_a_busy_host_its_share_and_take_other_hosts_checks(
    tmp_path: Path, db_url: str
) -> None:
    """A host with thousands of due checks came first in every claim: each worker took
    one and waited for the host's turn (one request a second), while the other
    hosts' checks waited for all of them."""
    busy = [f"https://cdn.example/{n}.jpg" for n in range(30)]
    with Archive.open(make_config(tmp_path / "storage", db_url)) as archive:
        _page_of(archive, [*busy, "https://other.example/a.jpg"])
        with archive.session() as session:  # the busy host's checks are due first
            session.execute(
                update(LinkCheck)
                .where(LinkCheck.url.in_(busy))
                .values(next_check_at=utcnow() - timedelta(hours=1))
            )
        quota = HostQuota(2)
        quota.running["cdn.example"] = 1  # one in flight already
        with archive.session() as session:
            claimed = claim_due(session, utcnow(), 4, quota)  # type: ignore[call-arg]
    hosts = sorted(t.url.split("/")[2] for t in claimed)
    assert hosts == ["cdn.example", "news.example", "other.example"]


def _owed_rows(archive: Archive) -> int:
    with archive.read_session() as session:
        return len(session.scalars(select(WebhookOutbox)).all())


def test_an_owed_event_delivered_meanwhile_is_not_sent_again(
    tmp_path: Path, db_url: str, server: FixtureServer
) -> None:
    """The daemon's round read the outbox, and the event was delivered and settled
    before the round queued it: it was no longer "on its way" and went out twice."""

    def hook(request: RequestHandler) -> None:
        request.read_body()
        request.send_simple(204, b"", "text/plain")

    server.add_handler("/hook", hook)
    data = settings(tmp_path / "storage", db_url, liveness={"webhook_url": server.url("/hook")})
    event = LivenessEvent(
        "https://cdn.example/a.jpg", "https://news.example/live", None, "gone", "live",
        "HTTP 404", 404, utcnow(),
    )  # fmt: skip
    with Archive.open(config_from_dict(data)) as archive:
        with archive.session() as session:
            outbox.owe(session, [event], utcnow())
        with archive.read_session() as session:
            read = outbox.owed(session, utcnow())  # a round reads the outbox
        checker = LivenessChecker.open(archive)  # meanwhile the event goes out
        deadline = time.monotonic() + 5
        while server.hits("/hook") < 1 or _owed_rows(archive):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.2)  # settled, and no longer on its way
        for stale in read:  # the round queues what it read
            checker.notifier.notify(stale)
        checker.close()
    assert server.hits("/hook") == 1


def test_a_return_recorded_after_the_clock_was_set_back_is_a_return(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clock a day ahead recorded a death; set right, it recorded the return an
    hour earlier by the wall clock: the embed read as dead, and its next real death
    was taken for the same one and never announced."""
    with Archive.open(make_config(tmp_path / "storage", db_url)) as archive:
        _page_of(archive, ["https://cdn.example/a.jpg"])
        with archive.read_session() as session:
            row = session.scalars(select(LinkCheck).where(LinkCheck.kind == "file")).one()
        target = Target(row.id, row.url, row.kind, row.platform)
        checker = LivenessChecker(
            archive, Prober(httpx.Client(), None), WebhookNotifier(None), HostLimiter(1)
        )
        real = utcnow()

        def record(offset: timedelta, status: str, code: int) -> None:
            monkeypatch.setattr(service, "utcnow", lambda: real + offset)
            result = CheckResult(status, f"HTTP {code}", code, None, "http-range")  # type: ignore[arg-type]
            checker.record([(target, result)])

        record(timedelta(hours=-1), "live", 200)
        record(timedelta(days=1), "gone", 404)  # the clock runs a day ahead
        record(timedelta(0), "live", 200)  # set right: the file is back
        record(timedelta(minutes=5), "error", 503)
        with archive.read_session() as session:
            (status,) = embed_statuses(session, archive.layout)
            dead_view = embed_statuses(session, archive.layout, statuses={"gone"})
            check_row = session.scalars(select(LinkCheck).where(LinkCheck.kind == "file")).one()
            shown_dead = _settled_dead(check_row)
        sent: list[LivenessEvent] = []
        checker.notifier = WebhookNotifier("http://127.0.0.1:9/hook")
        monkeypatch.setattr(checker.notifier, "notify", sent.append)
        record(timedelta(hours=2), "gone", 404)  # and now it is deleted: a new death
        checker.close()
    assert (status.dead, dead_view, shown_dead) == (False, [], False)
    assert [e.status for e in sent] == ["gone"]


def test_no_dead_embed_event_for_a_page_that_no_longer_carries_it(tmp_path: Path) -> None:
    """An editor replaced the embed on one page; another still carries it: only that
    one is told of its death."""
    url = "https://cdn.example/a.jpg"
    with Archive.open(make_config(tmp_path / "storage")) as archive:
        _page_of(archive, [url], "https://news.example/replaced")
        _page_of(archive, [url], "https://news.example/still")
        with archive.session() as session:
            session.execute(
                update(Embed)
                .where(Embed.page_id.in_(select(Page.id).where(Page.url.like("%replaced"))))
                .values(removed_at=utcnow())
            )
        with archive.read_session() as session:
            row = session.scalars(select(LinkCheck).where(LinkCheck.url == url)).one()
        target = Target(row.id, row.url, row.kind, row.platform)
        sent: list[LivenessEvent] = []
        notifier = WebhookNotifier("http://127.0.0.1:9/hook")
        notifier.notify = sent.append  # type: ignore[method-assign]
        checker = LivenessChecker(archive, Prober(httpx.Client(), None), notifier, HostLimiter(1))
        checker.record([(target, CheckResult("live", "HTTP 200", 200, None, "http-head"))])
        checker.record([(target, CheckResult("gone", "HTTP 404", 404, None, "http-range"))])
        assert [e.page_url for e in sent] == ["https://news.example/still"]
        with archive.session() as session:  # now the other page too
            session.execute(update(Embed).values(removed_at=utcnow()))
        checker.record([(target, CheckResult("live", "HTTP 200", 200, None, "http-head"))])
        checker.record([(target, CheckResult("gone", "HTTP 404", 404, None, "http-range"))])
        checker.close()
    assert len(sent) == 1


def test_an_embed_whose_host_idna_refuses_is_reported_not_a_crash(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """``http://xn--abc-.com/c.jpg``: ``archiver check`` ended in a traceback, with no
    report for the page's other embeds."""
    server.add_file("/ok.jpg", media.photo_a)
    server.add_page(
        "/live", "<article><p>Two:</p><img src='/ok.jpg'><img src='http://xn--abc-.com/c.jpg'>"
    )
    config = write_config(tmp_path / "a.toml", settings(tmp_path / "storage"))
    run_cli(config, "capture", server.url("/live"))  # 1: c.jpg could not be captured
    rows = check(config)
    assert (rows["ok.jpg"]["status"], rows["c.jpg"]["status"]) == ("live", "error")
    assert rows["c.jpg"]["reason"] == "unsupported URL"


def test_a_probe_that_crashes_is_logged_and_checked_again_later(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in a probe: the check's exception was lost in the daemon (no log line, the
    URL claimed again every ten minutes and "unchecked" for ever)."""
    with Archive.open(make_config(tmp_path / "storage")) as archive:
        _page_of(archive, ["https://cdn.example/a.jpg"])
        checker = LivenessChecker.open(archive)

        def crash(*args: object, **kwargs: object) -> CheckResult:
            raise RuntimeError("a bug")

        checker.prober.check = crash  # type: ignore[method-assign]
        with caplog.at_level(logging.ERROR, logger="archiver"):
            (result,) = checker.run(_due(archive))
        checker.close()
        with archive.read_session() as session:
            row = session.scalars(select(LinkCheck).where(LinkCheck.kind == "file")).one()
    assert (result.status, result.reason) == ("error", "internal error: RuntimeError")
    assert "checking https://cdn.example/a.jpg crashed" in caplog.text
    assert any(r.exc_info for r in caplog.records)
    assert row.status == "error" and row.next_check_at > utcnow() + timedelta(minutes=30)
