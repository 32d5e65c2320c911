"""X, Telegram and Reddit posts' photos, which yt-dlp leaves out: what the platforms'
embed widgets read (Reddit's post JSON) stands in on 127.0.0.1, in the platforms'
formats; the photos are real files."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from hashlib import sha256
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from support import (
    FixtureServer,
    MediaSet,
    bluesky,
    closed_port,
    imgur,
    instagram,
    mastodon,
    reddit,
    threads,
    tiktok,
)
from support.archiving import make_config, run_cli, settings, write_config
from support.browser import AppClient, sha256_of
from support.server import guess_content_type
from support.telegram import (
    album,
    forwarded_from,
    not_supported,
    round_video,
    telegram_widget,
    video,
    voice,
)

from archiver.archive import Archive
from archiver.capture import Capturer, ItemResult
from archiver.config import Config, PostsConfig, YtdlpConfig
from archiver.fetch import bluesky as bluesky_reader
from archiver.fetch.xposts import syndication_token
from archiver.index.models import CaptureJob, Media
from archiver.integrity.fixity import verify_archive
from archiver.liveness.report import embed_statuses
from archiver.search import SearchQuery, search
from archiver.web import create_app

FAKE_YTDLP = Path(__file__).parent / "fixtures" / "fake_ytdlp.py"
POST_ID = "384036183367811072"
PAGE = f"""<article><p>UPDATE 1800 GMT: The ambassador laughs, and activists post this:</p>
<blockquote class="twitter-tweet"><p lang="en" dir="ltr">Smoke over the Citadel this
morning <a href="https://t.co/Xq2bJ0aDcE">pic.twitter.com/Xq2bJ0aDcE</a></p>&mdash; Aleppo
Media Centre (@AMC_Aleppo) <a href="https://twitter.com/AMC_Aleppo/status/{POST_ID}?ref_src=twsrc%5Etfw">September
28, 2013</a></blockquote>
<script async src="https://platform.twitter.com/widgets.js" charset="utf-8"></script>
</article>"""


def media_detail(kind: str, url: str) -> dict[str, Any]:
    """One ``mediaDetails`` entry as the endpoint gives it."""
    detail: dict[str, Any] = {
        "display_url": "pic.twitter.com/Xq2bJ0aDcE",
        "expanded_url": f"https://twitter.com/AMC_Aleppo/status/{POST_ID}/photo/1",
        "ext_media_availability": {"status": "Available"},
        "indices": [47, 70],
        "media_url_https": url,
        "original_info": {"height": 768, "width": 1024, "focus_rects": []},
        "sizes": {
            "large": {"h": 768, "resize": "fit", "w": 1024},
            "medium": {"h": 768, "resize": "fit", "w": 1024},
            "small": {"h": 510, "resize": "fit", "w": 680},
            "thumb": {"h": 150, "resize": "crop", "w": 150},
        },
        "type": kind,
        "url": "https://t.co/Xq2bJ0aDcE",
    }
    if kind == "video":
        detail["video_info"] = {
            "aspect_ratio": [16, 9],
            "duration_millis": 2000,
            "variants": [
                {"bitrate": 832000, "content_type": "video/mp4", "url": url + ".mp4"},
            ],
        }
    return detail


def post(media: list[dict[str, Any]], text: str = "Smoke over the Citadel this morning") -> bytes:
    """A ``tweet-result`` answer in X's format."""
    answer = {
        "__typename": "Tweet",
        "lang": "en",
        "favorite_count": 212,
        "possibly_sensitive": False,
        "created_at": "2013-09-28T07:41:12.000Z",
        "display_text_range": [0, 46],
        "entities": {"hashtags": [], "urls": [], "user_mentions": [], "symbols": []},
        "id_str": POST_ID,
        "text": f"{text} https://t.co/Xq2bJ0aDcE",
        "user": {
            "id_str": "1249447266",
            "name": "Aleppo Media Centre",
            "profile_image_url_https": "https://pbs.twimg.com/profile_images/1/amc_normal.jpg",
            "screen_name": "AMC_Aleppo",
            "verified": False,
            "is_blue_verified": False,
            "profile_image_shape": "Circle",
        },
        "edit_control": {"edit_tweet_ids": [POST_ID], "editable_until_msecs": "0"},
        "mediaDetails": media,
        "photos": [
            {"url": m["media_url_https"], "width": 1024, "height": 768}
            for m in media
            if m["type"] == "photo"
        ],
        "conversation_count": 3,
        "news_action_type": "conversation",
        "isEdited": False,
        "isStaleEdit": False,
    }
    return json.dumps(answer).encode()


TOMBSTONE = json.dumps(
    {
        "__typename": "TweetTombstone",
        "tombstone": {
            "text": {
                "text": "This Post was deleted by the Post author. Learn more",
                "entities": [],
                "rtl": False,
            }
        },
    }
).encode()


def posts_config(root: Path, server: FixtureServer) -> Config:
    base = make_config(root)
    widgets = PostsConfig(
        x_syndication_url=server.url("/tweet-result"),
        telegram_url=server.url(),
        reddit_url=server.url(),
        instagram_url=server.url(),
        tiktok_url=server.url(),
        threads_url=server.url(),
        bluesky_url=server.url(),
        plc_url=server.url("/plc"),
        imgur_url=server.url(),
    )
    return base.model_copy(
        update={
            "posts": widgets,
            "ytdlp": YtdlpConfig(command=[sys.executable, str(FAKE_YTDLP)], timeout=30),
        }
    )


def capture(config: Config, server: FixtureServer, page: str = PAGE) -> ItemResult:
    server.add_page("/live", page)
    with Archive.open(config) as archive:
        (item,) = Capturer(archive).capture_url(server.url("/live")).items
    return item


def assert_kept_with_post(
    config: Config, photo: Path, record: bytes, update: str, **platform: str | None
) -> dict[str, Any]:
    """The platform's answer lies beside the photo, the sidecar holds the post's facts
    (``platform``: its fields, ``metadata`` keys given as ``metadata_NAME``) and the
    page's update, and the archive verifies; the sidecar's ``platform`` is returned."""
    folder = photo.parent
    kept = next(folder.glob("platform.post.*"))
    assert kept.read_bytes() == record
    sidecar = json.loads((folder / "provenance.json").read_text())
    found = sidecar["platform"]
    for name, value in platform.items():
        if name.startswith("metadata_"):
            assert found["metadata"].get(name[len("metadata_") :]) == value, name
        else:
            assert found[name] == value, name
    assert sidecar["sightings"][0]["update"] == update
    with Archive.open(config) as archive:
        assert verify_archive(archive).ok
    return dict(found)


def test_the_syndication_token_is_javascripts() -> None:
    """Values a JavaScript engine gives for the widget's expression."""
    assert syndication_token(POST_ID) == "xihgvxnvexj"
    assert syndication_token("1003") == "8wma6zx8nk"
    assert syndication_token("20") == "6dq1a2xwd93"


def test_a_photo_post_is_archived_with_the_post_beside_each_photo(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """yt-dlp would say "No video could be found in this tweet" and keep nothing."""
    monkeypatch.setenv("FAKE_YTDLP_MODE", "no-video")
    server.add_file("/media/BVUc0ZJCIAAmnM_.jpg", media.photo_a)
    server.add_file("/media/BVUc0ZKCUAAbQ9x.jpg", media.photo_b)
    answer = post(
        [
            media_detail("photo", server.url("/media/BVUc0ZJCIAAmnM_.jpg")),
            media_detail("photo", server.url("/media/BVUc0ZKCUAAbQ9x.jpg")),
        ]
    )
    server.add_bytes("/tweet-result", answer, "application/json;charset=utf-8")
    config = posts_config(tmp_path / "storage", server)
    item = capture(config, server)

    assert item.status == "stored", item.reason
    assert item.url == f"https://twitter.com/AMC_Aleppo/status/{POST_ID}"
    assert [f.sha256 for f in item.files] == [sha256_of(media.photo_a), sha256_of(media.photo_b)]
    (asked,) = [r.path for r in server.requests if r.path.startswith("/tweet-result")]
    assert parse_qs(urlsplit(asked).query) == {
        "id": [POST_ID],
        "lang": ["en"],
        "token": ["xihgvxnvexj"],
    }
    photos = [r.path for r in server.requests if r.path.startswith("/media/")]
    assert photos == [
        "/media/BVUc0ZJCIAAmnM_.jpg?name=orig",
        "/media/BVUc0ZKCUAAbQ9x.jpg?name=orig",
    ]
    folder = item.files[0].path.parent
    assert (folder / "platform.post.json").read_bytes() == answer
    sidecar = json.loads((folder / "provenance.json").read_text())
    assert sidecar["companion_files"] == ["platform.post.json"]
    assert sidecar["companion_digests"] == {
        "platform.post.json": {
            "sha256": hashlib.sha256(answer).hexdigest(),
            "size_bytes": len(answer),
        }
    }
    assert sidecar["platform"]["metadata"]["uploader_id"] == "AMC_Aleppo"
    (folder / "platform.post.json").write_bytes(answer.replace(b"Aleppo", b"Idlib_"))
    with Archive.open(config) as archive:  # the platform's answer is checked as the file is
        problems = verify_archive(archive).problems
    assert [(p.kind, p.path, p.detail.split(":")[0]) for p in problems] == [
        (
            "corrupt",
            str(folder / "platform.post.json"),
            "companion file 'platform.post.json''s bytes changed",
        )
    ]

    with Archive.open(config) as archive, archive.read_session() as session:
        query = SearchQuery.parse(sha256=item.files[0].sha256)
        (record,) = search(session, archive.layout, query)
        found = record.to_json()
    platform = found["platform"]
    assert platform["extractor"] == "X" and platform["id"] == POST_ID
    assert platform["uploader"] == "Aleppo Media Centre"
    assert platform["upload_date"] == "2013-09-28"
    assert platform["title"].startswith("Smoke over the Citadel")
    sighting = found["sightings"][0]
    assert sighting["update"] == "UPDATE 1800 GMT"
    assert sighting["media_url"] == server.url("/media/BVUc0ZJCIAAmnM_.jpg?name=orig")


def test_the_photo_of_a_quoted_post_is_kept_too(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """A live blog embeds a post quoting the photo: the embed shows the photo."""
    server.add_file("/media/BVUc0ZJCIAAmnM_.jpg", media.photo_a)
    quoting = json.loads(post([], text="Confirmed by a second source:"))
    quoting["quoted_tweet"] = json.loads(
        post([media_detail("photo", server.url("/media/BVUc0ZJCIAAmnM_.jpg"))])
    ) | {"id_str": "384036183367800001"}
    server.add_bytes("/tweet-result", json.dumps(quoting).encode(), "application/json")
    config = posts_config(tmp_path / "storage", server)
    item = capture(config, server)
    assert item.status == "stored", item.reason
    assert [f.sha256 for f in item.files] == [sha256_of(media.photo_a)]
    sidecar = json.loads((item.files[0].path.parent / "provenance.json").read_text())
    assert sidecar["platform"]["id"] == "384036183367800001"  # the quoted post's, not ours


def test_x_post_text_and_names_are_kept_as_written_not_html_escaped(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """The endpoint escapes &, < and > as HTML (as X's v1.1 API did), in the quoted
    post too: the archive keeps what the author wrote."""
    server.add_file("/media/BVUc0ZJCIAAmnM_.jpg", media.photo_a)
    escaped = "Strikes on Kharkiv &amp; Sumy: casualties &gt; 20 &lt;update&gt;"
    quoting = json.loads(post([], text=escaped))
    quoted = json.loads(post([media_detail("photo", server.url("/media/BVUc0ZJCIAAmnM_.jpg"))]))
    quoted |= {"id_str": "384036183367800001", "text": escaped}
    quoted["user"]["name"] = "Kharkiv &amp; Sumy Media"
    quoting["quoted_tweet"] = quoted
    server.add_bytes("/tweet-result", json.dumps(quoting).encode(), "application/json")
    item = capture(posts_config(tmp_path / "storage", server), server)
    assert item.status == "stored", item.reason
    platform = json.loads((item.files[0].path.parent / "provenance.json").read_text())["platform"]
    assert platform["title"] == "Strikes on Kharkiv & Sumy: casualties > 20 <update>"
    assert platform["uploader"] == "Kharkiv & Sumy Media"


def test_a_post_with_a_video_and_a_photo_keeps_both(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_b))
    server.add_file("/media/BVUc0ZJCIAAmnM_.jpg", media.photo_a)
    video = "https://pbs.twimg.com/ext_tw_video_thumb/384036/pu/img/v1.jpg"
    photo = server.url("/media/BVUc0ZJCIAAmnM_.jpg")
    server.add_bytes(
        "/tweet-result",
        post([media_detail("video", video), media_detail("photo", photo)]),
        "application/json",
    )
    item = capture(posts_config(tmp_path / "storage", server), server)
    assert item.status == "stored", item.reason
    assert {f.sha256 for f in item.files} == {sha256_of(media.clip_b), sha256_of(media.photo_a)}


def x_card(name: str, **values: str) -> dict[str, Any]:
    """A post's ``card`` as the endpoint gives it: string binding values by name."""
    bound = {key: {"type": "STRING", "string_value": value} for key, value in values.items()}
    return {
        "name": f"745291183405076480:{name}",
        "url": "https://t.co/c4Rd",
        "binding_values": bound,
    }


VIDEO_ENTITY = json.dumps({"media_entities": {"13": {"type": "video", "id_str": "13"}}})
PHOTO_ENTITY = json.dumps({"media_entities": {"13": {"type": "photo", "id_str": "13"}}})


@pytest.mark.parametrize(
    ("card", "status"),
    [
        (x_card("broadcast", broadcast_url="https://x.com/i/broadcasts/1yNGaNgPQbgxj"), "stored"),
        (x_card("amplify", amplify_url_vmap="https://amp.twimg.com/prod/vmap/1.vmap"), "stored"),
        (x_card("unified_card", unified_card=VIDEO_ENTITY), "stored"),
        (x_card("poll2choice_video", player_stream_url="https://x.com/v.vmap"), "stored"),
        (x_card("unified_card", unified_card=PHOTO_ENTITY), "skipped"),
        (x_card("summary_large_image", card_url="https://t.co/L1nK"), "skipped"),
    ],
    ids=["broadcast", "amplify", "unified video", "poll video", "unified photo", "link preview"],
)
def test_an_x_video_in_a_card_goes_to_ytdlp(
    tmp_path: Path,
    server: FixtureServer,
    media: MediaSet,
    monkeypatch: pytest.MonkeyPatch,
    card: dict[str, Any],
    status: str,
) -> None:
    """An X Live broadcast or an advertiser's video is in the post's card, and its
    ``mediaDetails`` is empty: the post was skipped as having no photo or video, though
    yt-dlp reads the card from the same answer. A link's preview is no video."""
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_a))
    answer = json.loads(post([], text="LIVE: press conference in Aleppo"))
    server.add_bytes(
        "/tweet-result", json.dumps(answer | {"card": card}).encode(), "application/json"
    )
    item = capture(posts_config(tmp_path / "storage", server), server)
    assert item.status == status, item.reason
    if status == "stored":
        assert [f.sha256 for f in item.files] == [sha256_of(media.clip_a)]


def test_the_card_of_a_quoted_x_post_is_not_taken_for_a_video_of_the_quoting_one(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """yt-dlp reads the card of the post it is given, not of the post it quotes."""
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_a))
    quoting = json.loads(post([], text="Confirmed by a second source:"))
    broadcast = x_card("broadcast", broadcast_url="https://x.com/i/broadcasts/1yNGaNgPQbgxj")
    quoting["quoted_tweet"] = json.loads(post([])) | {
        "id_str": "384036183367800001",
        "card": broadcast,
    }
    server.add_bytes("/tweet-result", json.dumps(quoting).encode(), "application/json")
    item = capture(posts_config(tmp_path / "storage", server), server)
    assert item.status == "skipped", item.reason


@pytest.mark.parametrize(("ytdlp", "status"), [("crash", "stored"), ("unavailable", "gone")])
def test_when_ytdlp_cannot_take_an_x_video_the_mp4_x_serves_is_archived(
    tmp_path: Path,
    server: FixtureServer,
    media: MediaSet,
    monkeypatch: pytest.MonkeyPatch,
    ytdlp: str,
    status: str,
) -> None:
    """yt-dlp's X extractor breaks often: the post's own answer lists the video's MP4s,
    and the one of the highest bitrate is archived instead. A video yt-dlp says was
    removed is gone, not looked for elsewhere."""
    monkeypatch.setenv("FAKE_YTDLP_MODE", ytdlp)
    server.add_file("/ext_tw_video/384036/pu/vid/1280x720/clip.mp4", media.clip_a)
    video = media_detail("video", "https://pbs.twimg.com/ext_tw_video_thumb/384036/pu/img/v1.jpg")
    video["video_info"]["variants"] = [
        {"bitrate": 256000, "content_type": "video/mp4", "url": server.url("/480x270.mp4")},
        {
            "content_type": "application/x-mpegURL",
            "url": "https://video.twimg.com/ext_tw_video/384036/pu/pl/playlist.m3u8",
        },
        {
            "bitrate": 2176000,
            "content_type": "video/mp4",
            "url": server.url("/ext_tw_video/384036/pu/vid/1280x720/clip.mp4"),
        },
    ]
    server.add_bytes("/tweet-result", post([video]), "application/json")
    config = posts_config(tmp_path / "storage", server)
    item = capture(config, server)
    assert item.status == status, item.reason
    if status == "stored":
        assert [f.sha256 for f in item.files] == [sha256_of(media.clip_a)]
        sidecar = json.loads((item.files[0].path.parent / "provenance.json").read_text())
        assert sidecar["sightings"][0]["acquisition"]["tool"] == "httpx"
        assert sidecar["platform"]["extractor"] == "X"
    assert not [r for r in server.requests if r.path == "/480x270.mp4"]


@pytest.mark.parametrize(
    ("answer", "status", "reason"),
    [
        (TOMBSTONE, "gone", "X: This Post was deleted by the Post author"),
        (None, "gone", "HTTP 404"),
        (post([], text="Heavy shelling heard across the old city"), "skipped", "no photo or video"),
    ],
)
def test_deleted_and_text_only_posts(
    tmp_path: Path, server: FixtureServer, answer: bytes | None, status: str, reason: str
) -> None:
    if answer is None:
        server.add_status("/tweet-result", 404)
    else:
        server.add_bytes("/tweet-result", answer, "application/json")
    item = capture(posts_config(tmp_path / "storage", server), server)
    assert item.status == status and reason in str(item.reason), item.reason


@pytest.mark.parametrize(("ytdlp", "status"), [("ok", "stored"), ("no-video", "failed")])
def test_when_the_widget_cannot_be_read_ytdlp_does_what_it_did_before(
    tmp_path: Path,
    server: FixtureServer,
    media: MediaSet,
    monkeypatch: pytest.MonkeyPatch,
    ytdlp: str,
    status: str,
) -> None:
    """A rate limit or a changed format must not cost a video post; a post yt-dlp finds
    nothing in either fails with the widget's reason, and is retried."""
    monkeypatch.setenv("FAKE_YTDLP_MODE", ytdlp)
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_b))
    server.add_bytes("/tweet-result", b"<html>Rate limit exceeded</html>", "text/html")
    item = capture(posts_config(tmp_path / "storage", server), server)
    assert item.status == status
    if status == "stored":
        assert [f.sha256 for f in item.files] == [sha256_of(media.clip_b)]
    else:
        assert "X: the post endpoint did not answer with a post" in str(item.reason)


# ---- Telegram ---------------------------------------------------------------------------

TELEGRAM_PAGE = """<article><p>UPDATE 0800 GMT: A channel in the city posted these:</p>
<script async src="https://telegram.org/js/telegram-widget.js?22"
 data-telegram-post="AleppoToday/1234" data-width="100%"></script></article>"""


def test_a_telegram_album_is_archived_with_the_post_beside_each_photo(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_YTDLP_MODE", "crash")  # no video: yt-dlp is not asked
    server.add_file("/file/AgADsq4xG0.jpg", media.photo_a)
    server.add_file("/file/AgADtK4xG0.jpg", media.photo_b)
    widget = telegram_widget(album(server.url("/file/AgADsq4xG0.jpg"), "/file/AgADtK4xG0.jpg"))
    server.add_page("/AleppoToday/1234", widget)
    config = posts_config(tmp_path / "storage", server)
    item = capture(config, server, TELEGRAM_PAGE)

    assert item.status == "stored", item.reason
    assert item.url == "https://t.me/AleppoToday/1234"
    assert [f.sha256 for f in item.files] == [sha256_of(media.photo_a), sha256_of(media.photo_b)]
    asked = [r.path for r in server.requests if r.path.startswith("/AleppoToday/")]
    assert asked == ["/AleppoToday/1234?embed=1&mode=tme"]
    folder = item.files[1].path.parent
    assert (folder / "platform.post.html").read_text() == widget
    sidecar = json.loads((folder / "provenance.json").read_text())
    platform = sidecar["platform"]
    assert (platform["extractor"], platform["id"]) == ("Telegram", "AleppoToday/1234")
    assert platform["uploader"] == "Aleppo Today" and platform["upload_date"] == "2013-09-28"
    assert platform["title"] == "Smoke over the Citadel after the strike this morning."
    assert sidecar["sightings"][0]["update"] == "UPDATE 0800 GMT"
    with Archive.open(config) as archive:  # the post beside each photo is a known companion
        assert verify_archive(archive).ok


@pytest.mark.parametrize("ytdlp", ["ok", "crash"])
def test_a_telegram_video_post_goes_to_ytdlp_and_else_its_mp4_is_fetched(
    tmp_path: Path,
    server: FixtureServer,
    media: MediaSet,
    monkeypatch: pytest.MonkeyPatch,
    ytdlp: str,
) -> None:
    monkeypatch.setenv("FAKE_YTDLP_MODE", ytdlp)
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_b))
    server.add_file("/file/clip.mp4", media.clip_a)
    server.add_page("/AleppoToday/1234", telegram_widget(video(server.url("/file/clip.mp4"))))
    item = capture(posts_config(tmp_path / "storage", server), server, TELEGRAM_PAGE)
    assert item.status == "stored", item.reason
    expected = media.clip_b if ytdlp == "ok" else media.clip_a
    assert [f.sha256 for f in item.files] == [sha256_of(expected)]


@pytest.mark.parametrize(
    ("widget", "status", "reason"),
    [
        (
            '<div class="tgme_widget_message_error">Post not found</div>',
            "gone",
            "Telegram: Post not found",
        ),
        (telegram_widget(""), "skipped", "has no photo or video"),
        (  # "Please open Telegram to view this post": media, though not shown; retried
            telegram_widget(not_supported()),
            "failed",
            "Telegram: the post holds media its embed widget does not show",
        ),
        ("<html><body><p>Please wait...</p></body></html>", "failed", "shows no message"),
    ],
)
def test_a_deleted_or_text_only_telegram_post(
    tmp_path: Path, server: FixtureServer, widget: str, status: str, reason: str
) -> None:
    server.add_page("/AleppoToday/1234", widget)
    item = capture(posts_config(tmp_path / "storage", server), server, TELEGRAM_PAGE)
    assert item.status == status and reason in str(item.reason), item.reason


@pytest.mark.parametrize("kind", ["round video", "voice"])
def test_a_telegram_round_video_or_voice_message_is_fetched_as_served(
    tmp_path: Path,
    server: FixtureServer,
    media: MediaSet,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    """yt-dlp's Telegram extractor knows neither: they were taken for posts of words."""
    monkeypatch.setenv("FAKE_YTDLP_MODE", "no-video")
    served = media.clip_a if kind == "round video" else media.audio
    server.add_file("/file/message.bin", served)
    player = round_video if kind == "round video" else voice
    server.add_page("/AleppoToday/1234", telegram_widget(player(server.url("/file/message.bin"))))
    item = capture(posts_config(tmp_path / "storage", server), server, TELEGRAM_PAGE)
    assert item.status == "stored", item.reason
    assert [f.sha256 for f in item.files] == [sha256_of(served)]


@pytest.mark.parametrize(
    ("href", "credited", "source"),
    [
        (
            "https://t.me/KharkivLive/5678",
            ("KharkivLive/5678", "Kharkiv Live", "https://t.me/KharkivLive/5678"),
            "Telegram's embed widget of https://t.me/AleppoToday/1234, which forwarded it",
        ),
        (
            None,
            ("AleppoToday/1234", "Aleppo Today", "https://t.me/AleppoToday/1234"),
            "Telegram's embed widget (the post is forwarded from Kharkiv Live)",
        ),
    ],
    ids=["from a channel's post", "from a name alone"],
)
def test_a_forwarded_telegram_posts_photo_is_credited_to_where_it_came_from(
    tmp_path: Path,
    server: FixtureServer,
    media: MediaSet,
    monkeypatch: pytest.MonkeyPatch,
    href: str | None,
    credited: tuple[str, str, str],
    source: str,
) -> None:
    """The forwarding channel did not post it first: the post it was forwarded from
    is credited, as a quoted post is; without a link to it, its name is kept."""
    monkeypatch.setenv("FAKE_YTDLP_MODE", "crash")
    server.add_file("/file/AgADsq4xG0.jpg", media.photo_a)
    parts = forwarded_from("Kharkiv Live", href) + album(server.url("/file/AgADsq4xG0.jpg"))
    server.add_page("/AleppoToday/1234", telegram_widget(parts))
    item = capture(posts_config(tmp_path / "storage", server), server, TELEGRAM_PAGE)
    assert item.status == "stored", item.reason
    assert [f.sha256 for f in item.files] == [sha256_of(media.photo_a)]
    sidecar = json.loads((item.files[0].path.parent / "provenance.json").read_text())
    platform = sidecar["platform"]
    found = (platform["id"], platform["uploader"], platform["metadata"]["webpage_url"])
    assert found == credited
    assert platform["metadata"]["source"] == source
    assert platform["title"] == "Smoke over the Citadel after the strike this morning."
    assert sidecar["sightings"][0]["embed_url"] == "https://t.me/AleppoToday/1234"


def test_a_text_only_telegram_post_is_kept_to_stand_in_for_it(
    tmp_path: Path, server: FixtureServer
) -> None:
    """The page holds only the widget's script, none of the post's words: when the post
    is deleted, the kept answer is all that says what it was."""
    widget = telegram_widget("")
    server.add_page("/AleppoToday/1234", widget)
    config = posts_config(tmp_path / "storage", server)
    item = capture(config, server, TELEGRAM_PAGE)
    assert item.status == "skipped"
    assert item.reason == (
        "the Telegram post has no photo or video: its text is kept as a version of "
        "https://t.me/AleppoToday/1234"
    )
    said = "Aleppo Today (@AleppoToday) on Telegram: Smoke over the Citadel after the strike"

    with Archive.open(config) as archive:
        with archive.read_session() as session:
            (row,) = embed_statuses(session, archive.layout, page=server.url("/live"))
        kept = row.to_json()["kept_post"]
        assert kept["title"].startswith(said)
        assert Path(kept["path"]).read_text() == widget  # the answer as served
        provenance = json.loads((Path(kept["path"]).parent / "provenance.json").read_text())
        (fetched,) = provenance["pages"]
        assert fetched["url"] == "https://t.me/AleppoToday/1234"
        assert fetched["final_url"] == server.url("/AleppoToday/1234?embed=1&mode=tme")
        with AppClient(create_app(archive)) as client:
            editors = client.get("/editors", params={"status": "all"}).text
        assert "The post's text, as archived" in editors and said in editors
        assert verify_archive(archive).ok

    config_file = write_config(tmp_path / "archiver.toml", settings(tmp_path / "storage"))
    report = run_cli(config_file, "report", server.url("/live"))
    assert report.returncode == 0, report.stderr
    assert f"post's text kept ({kept['fetched_at']}): {said}" in report.stdout


def test_a_deleted_text_only_post_is_announced_with_its_kept_text(
    tmp_path: Path, server: FixtureServer
) -> None:
    received: list[dict[str, Any]] = []
    server.add_handler(
        "/hook",
        lambda request: (
            received.append(json.loads(request.read_body())),
            request.send_simple(204, b"", "text/plain"),
        ),
    )
    server.add_page("/AleppoToday/1234", telegram_widget(""))
    server.add_page("/live", TELEGRAM_PAGE)
    data = settings(
        tmp_path / "storage",
        posts={"telegram_url": server.url()},
        liveness={"webhook_url": server.url("/hook")},
    )
    config = write_config(tmp_path / "archiver.toml", data)
    assert run_cli(config, "capture", server.url("/live")).returncode == 0
    assert run_cli(config, "check").returncode == 0  # live
    server.add_page(
        "/AleppoToday/1234", '<div class="tgme_widget_message_error">Post not found</div>'
    )
    assert run_cli(config, "check").returncode == 0

    (event,) = [e for e in received if e["embed_url"] == "https://t.me/AleppoToday/1234"]
    assert event["status"] == "gone" and event["archived_sha256"] == []
    kept = sha256(telegram_widget("").encode()).hexdigest()
    assert event["kept_post_sha256"] == kept


def test_a_post_url_given_directly_is_archived_the_same_way(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """`archiver capture https://x.com/…/status/ID`: what an investigator holds is a link."""
    server.add_file("/media/BVUc0ZJCIAAmnM_.jpg", media.photo_a)
    photo = media_detail("photo", server.url("/media/BVUc0ZJCIAAmnM_.jpg"))
    server.add_bytes("/tweet-result", post([photo]), "application/json")
    with Archive.open(posts_config(tmp_path / "storage", server)) as archive:
        report = Capturer(archive).capture_url(f"https://x.com/AMC_Aleppo/status/{POST_ID}")
    assert report.ok, report.to_json()
    (item,) = report.items
    assert [f.sha256 for f in item.files] == [sha256_of(media.photo_a)]


REDDIT_JSON = f"/comments/{reddit.POST_ID}/.json"


def test_a_reddit_gallery_is_archived_in_its_order_with_the_post_beside_each_photo(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_YTDLP_MODE", "crash")  # no video: yt-dlp is not asked
    server.add_file("/k3uw0k0pa8x81.jpg", media.photo_b)
    server.add_file("/0f2vld1pa8x81.png", media.png)
    gallery = reddit.post_data(
        is_gallery=True,
        gallery_data={
            "items": [
                {"media_id": "0f2vld1pa8x81", "id": 411, "caption": "North gate"},
                {"media_id": "k3uw0k0pa8x81", "id": 412},
            ]
        },
        media_metadata={  # Reddit's own order is not the post's
            "k3uw0k0pa8x81": reddit.image_metadata(
                "k3uw0k0pa8x81", server.url("/k3uw0k0pa8x81.jpg")
            ),
            "0f2vld1pa8x81": reddit.image_metadata(
                "0f2vld1pa8x81", server.url("/0f2vld1pa8x81.png"), "image/png"
            ),
        },
    )
    body = reddit.answer(gallery)
    server.add_bytes(REDDIT_JSON, body, "application/json; charset=UTF-8")
    config = posts_config(tmp_path / "storage", server)
    item = capture(config, server, reddit.EMBED)

    assert item.status == "stored", item.reason
    assert item.url == f"https://www.reddit.com/comments/{reddit.POST_ID}/"
    assert [f.sha256 for f in item.files] == [sha256_of(media.png), sha256_of(media.photo_b)]
    asked = [r.path for r in server.requests if r.path.startswith("/comments/")]
    assert asked == [f"{REDDIT_JSON}?raw_json=1"]
    assert_kept_with_post(  # the JSON beside each photo holds the comments too
        config,
        item.files[0].path,
        body,
        "UPDATE 1800 GMT",
        extractor="Reddit",
        id=reddit.POST_ID,
        uploader="aleppo_watch",
        upload_date="2013-09-28",
        title="Rebel fighters near the Citadel this morning",
        metadata_community="r/syriancivilwar",
        metadata_webpage_url=f"https://www.reddit.com{reddit.PERMALINK}",
    )


def test_a_reddit_gallery_still_being_processed_is_archived_as_far_as_it_goes(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """A live blog may embed a post moments after it was made, when Reddit has not
    given every photo's address yet: what is there is archived, and the item is tried
    again for the rest."""
    server.add_file("/k3uw0k0pa8x81.jpg", media.photo_b)
    server.add_file("/0f2vld1pa8x81.jpg", media.photo_c)
    ready = reddit.image_metadata("k3uw0k0pa8x81", server.url("/k3uw0k0pa8x81.jpg"))
    later = reddit.image_metadata("0f2vld1pa8x81", server.url("/0f2vld1pa8x81.jpg"))
    items = [{"media_id": "k3uw0k0pa8x81", "id": 1}, {"media_id": "0f2vld1pa8x81", "id": 2}]
    processing = {"status": "unprocessed", "id": "0f2vld1pa8x81"}

    def gallery(second: dict[str, Any]) -> bytes:
        metadata = {"k3uw0k0pa8x81": ready, "0f2vld1pa8x81": second}
        data = reddit.post_data(
            is_gallery=True, gallery_data={"items": items}, media_metadata=metadata
        )
        return reddit.answer(data)

    server.add_bytes(REDDIT_JSON, gallery(processing), "application/json")
    config = posts_config(tmp_path / "storage", server)
    first = capture(config, server, reddit.EMBED)
    assert first.status == "failed" and "1 of the post's photos are still being processed" in str(
        first.reason
    )
    server.add_bytes(REDDIT_JSON, gallery(later), "application/json")
    with Archive.open(config) as archive:
        (again,) = Capturer(archive).capture_url(f"https://www.reddit.com{reddit.PERMALINK}").items
    assert again.status == "stored", again.reason
    assert {f.sha256 for f in again.files} == {sha256_of(media.photo_b), sha256_of(media.photo_c)}


def test_a_reddit_photo_post_given_directly_and_a_crosspost_of_it(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """The photo of a crosspost is kept with the original post's facts, as a quoted
    post's is: it is who posted it first that says where it came from."""
    server.add_file("/a8dh3kq.jpeg", media.photo_a)
    photo = reddit.post_data(
        post_hint="image",
        domain="i.redd.it",
        url=server.url("/a8dh3kq.jpeg"),
        url_overridden_by_dest=server.url("/a8dh3kq.jpeg"),
    )
    server.add_bytes(REDDIT_JSON, reddit.answer(photo), "application/json")
    config = posts_config(tmp_path / "storage", server)
    with Archive.open(config) as archive:
        report = Capturer(archive).capture_url(f"https://www.reddit.com{reddit.PERMALINK}")
    assert report.ok, report.to_json()
    assert [f.sha256 for f in report.items[0].files] == [sha256_of(media.photo_a)]

    crosspost = dict(
        reddit.post_data(
            id="1ftb0qq",
            author="levant_news",
            subreddit_name_prefixed="r/worldnews",
            permalink="/r/worldnews/comments/1ftb0qq/fighters_near_the_citadel/",
            crosspost_parent=f"t3_{reddit.POST_ID}",
            crosspost_parent_list=[photo],
            # as Reddit gives it: the original's media address as the crosspost's own
            post_hint="image",
            domain="i.redd.it",
            url=server.url("/a8dh3kq.jpeg"),
            url_overridden_by_dest=server.url("/a8dh3kq.jpeg"),
        )
    )
    server.add_bytes("/comments/1ftb0qq/.json", reddit.answer(crosspost), "application/json")
    with Archive.open(config) as archive:
        (item,) = Capturer(archive).capture_url("https://redd.it/1ftb0qq").items
    assert item.status == "already", item.reason
    sidecar = json.loads((item.files[0].path.parent / "provenance.json").read_text())
    assert sidecar["platform"]["id"] == reddit.POST_ID  # the first post's, kept first
    assert [s["embed_url"] for s in sidecar["sightings"]] == [
        f"https://www.reddit.com/comments/{reddit.POST_ID}/",
        "https://www.reddit.com/comments/1ftb0qq/",
    ]


def test_a_crossposts_photo_is_the_original_posts_and_fetched_once(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """Reddit gives a crosspost the original's media address as its own ``url``: the
    photo is the original's, kept with its facts, not the crossposter's."""
    photo_url = server.url("/a8dh3kq.jpeg")
    server.add_file("/a8dh3kq.jpeg", media.photo_a)
    original = reddit.post_data(
        post_hint="image", domain="i.redd.it", url=photo_url, url_overridden_by_dest=photo_url
    )
    crosspost = reddit.post_data(
        id="1ftb0qq",
        author="levant_news",
        subreddit_name_prefixed="r/worldnews",
        permalink="/r/worldnews/comments/1ftb0qq/fighters_near_the_citadel/",
        crosspost_parent=f"t3_{reddit.POST_ID}",
        crosspost_parent_list=[original],
        post_hint="image",
        domain="i.redd.it",
        url=photo_url,
        url_overridden_by_dest=photo_url,
    )
    server.add_bytes("/comments/1ftb0qq/.json", reddit.answer(crosspost), "application/json")
    with Archive.open(posts_config(tmp_path / "storage", server)) as archive:
        (item,) = Capturer(archive).capture_url("https://redd.it/1ftb0qq").items
    assert item.status == "stored", item.reason
    assert [f.sha256 for f in item.files] == [sha256_of(media.photo_a)]
    platform = json.loads((item.files[0].path.parent / "provenance.json").read_text())["platform"]
    assert (platform["id"], platform["uploader"]) == (reddit.POST_ID, "aleppo_watch")
    assert platform["metadata"]["community"] == "r/syriancivilwar"
    assert server.hits("/a8dh3kq.jpeg") == 1


def test_one_photo_that_fails_does_not_cost_the_rest_of_the_post(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gallery's first photo answers 404: the others are archived all the same, and
    the item is retried, not gone (the post is there: Reddit just listed it)."""
    monkeypatch.setenv("FAKE_YTDLP_MODE", "crash")
    server.add_status("/aaaa1111aaaa1.jpg", 404)
    server.add_file("/k3uw0k0pa8x81.jpg", media.photo_b)
    server.add_file("/0f2vld1pa8x81.jpg", media.photo_c)
    ids = ["aaaa1111aaaa1", "k3uw0k0pa8x81", "0f2vld1pa8x81"]
    gallery = reddit.post_data(
        is_gallery=True,
        gallery_data={"items": [{"media_id": m, "id": n} for n, m in enumerate(ids)]},
        media_metadata={m: reddit.image_metadata(m, server.url(f"/{m}.jpg")) for m in ids},
    )
    server.add_bytes(REDDIT_JSON, reddit.answer(gallery), "application/json")
    config = posts_config(tmp_path / "storage", server)
    item = capture(config, server, reddit.EMBED)

    assert item.status == "failed", (item.status, item.reason)
    reason = str(item.reason)
    assert "404" in reason and reason.endswith("(2 files archived, 1 not)"), reason
    assert "\n" not in reason
    with Archive.open(config) as archive, archive.read_session() as session:
        kept = set(session.scalars(select(Media.sha256)))
        job = session.scalars(select(CaptureJob).where(CaptureJob.last_error == reason)).one()
    assert kept == {sha256_of(media.photo_b), sha256_of(media.photo_c)}
    assert (job.state, job.next_attempt_at is not None) == ("failed", True)  # tried again

    server.add_file("/aaaa1111aaaa1.jpg", media.photo_a)  # back, say after a CDN fault
    with Archive.open(config) as archive:
        (again,) = Capturer(archive).capture_url(f"https://www.reddit.com{reddit.PERMALINK}").items
    assert again.status == "stored", again.reason
    assert [f.sha256 for f in again.files] == [
        sha256_of(media.photo_a),
        sha256_of(media.photo_b),
        sha256_of(media.photo_c),
    ]


@pytest.mark.parametrize("strange", [{"id": "k3uw0k0pa8x81"}, ["k3uw0k0pa8x81"], 7])
def test_a_gallery_item_naming_no_media_id_fails_with_a_reason_and_costs_nothing_else(
    tmp_path: Path, server: FixtureServer, media: MediaSet, strange: object
) -> None:
    """A malformed answer (a changed format, a proxy's) is a one-line reason, retried;
    it crashed the capture with a TypeError."""
    server.add_file("/0f2vld1pa8x81.jpg", media.photo_c)
    gallery = reddit.post_data(
        is_gallery=True,
        gallery_data={"items": [{"media_id": strange, "id": 1}, {"media_id": "0f2vld1pa8x81"}]},
        media_metadata={
            "0f2vld1pa8x81": reddit.image_metadata(
                "0f2vld1pa8x81", server.url("/0f2vld1pa8x81.jpg")
            )
        },
    )
    server.add_bytes(REDDIT_JSON, reddit.answer(gallery), "application/json")
    config = posts_config(tmp_path / "storage", server)
    item = capture(config, server, reddit.EMBED)
    assert item.status == "failed", (item.status, item.reason)
    assert item.reason == ("Reddit: 1 of the gallery's items name no media id (a changed format?)")
    with Archive.open(config) as archive, archive.read_session() as session:
        assert list(session.scalars(select(Media.sha256))) == [sha256_of(media.photo_c)]


def test_a_reddit_video_post_goes_to_ytdlp(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_b))
    video = reddit.post_data(
        is_video=True,
        domain="v.redd.it",
        url="https://v.redd.it/9xk2fq1pa8x81",
        media={
            "reddit_video": {
                "bitrate_kbps": 2400,
                "fallback_url": "https://v.redd.it/9xk2fq1pa8x81/DASH_720.mp4?source=fallback",
                "height": 720,
                "width": 1280,
                "duration": 2,
                "is_gif": False,
            }
        },
    )
    server.add_bytes(REDDIT_JSON, reddit.answer(video), "application/json")
    item = capture(posts_config(tmp_path / "storage", server), server, reddit.EMBED)
    assert item.status == "stored", item.reason
    assert [f.sha256 for f in item.files] == [sha256_of(media.clip_b)]


# ---- Instagram --------------------------------------------------------------------------

INSTAGRAM_EMBED = f"/p/{instagram.CODE}/embed/captioned/"


def test_an_instagram_carousel_keeps_its_photos_and_its_video(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_a))
    server.add_file("/v/t51.2885-15/citadel_1.jpg", media.photo_a)
    server.add_file("/v/t51.2885-15/citadel_3.jpg", media.photo_c)
    first, third = server.url("/v/t51.2885-15/citadel_1.jpg"), "/v/t51.2885-15/citadel_3.jpg"
    children = [
        instagram.node("GraphImage", "CxA7aQ1Lq0w", first),
        instagram.node("GraphVideo", "CxA7aQ2Lq0x", server.url("/v/t51.2885-15/still.jpg")),
        instagram.node("GraphImage", "CxA7aQ3Lq0y", server.url(third)),
    ]
    page = instagram.embed_page(
        instagram.shortcode_media("GraphSidecar", first, children), photo=first
    )
    server.add_page(INSTAGRAM_EMBED, page)
    config = posts_config(tmp_path / "storage", server)
    item = capture(config, server, instagram.EMBED)

    assert item.status == "stored", item.reason
    assert item.url == instagram.POST_URL
    assert [f.sha256 for f in item.files] == [
        sha256_of(media.clip_a),  # the video, through yt-dlp
        sha256_of(media.photo_a),
        sha256_of(media.photo_c),
    ]
    assert_kept_with_post(
        config,
        item.files[1].path,
        page.encode(),
        "UPDATE 0800 GMT",
        extractor="Instagram",
        id=instagram.CODE,
        uploader="Aleppo Media Center",
        upload_date="2013-09-28",
        title="Smoke over the Citadel after this morning's strike.",
        metadata_uploader_id="aleppo_media",
    )


def test_when_instagram_gives_no_post_data_the_shown_photo_is_taken_at_its_largest(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some visitors get the widget with ``gql_data`` empty: the page's own photo (its
    srcset's 1080 px) and caption still say what the post was."""
    monkeypatch.setenv("FAKE_YTDLP_MODE", "crash")  # a photo: yt-dlp is not asked
    server.add_file("/v/t51.2885-15/citadel.jpg", media.photo_b)
    photo = server.url("/v/t51.2885-15/citadel.jpg")
    server.add_page(INSTAGRAM_EMBED, instagram.embed_page(None, photo=photo))
    with Archive.open(posts_config(tmp_path / "storage", server)) as archive:
        report = Capturer(archive).capture_url(f"https://instagram.com/reel/{instagram.CODE}")
    assert report.ok, report.to_json()
    (item,) = report.items
    assert [f.sha256 for f in item.files] == [sha256_of(media.photo_b)]
    asked = [r.path for r in server.requests if r.path.startswith("/v/")]
    assert asked == ["/v/t51.2885-15/citadel.jpg"]  # the 1080 px, not the 640 px shown
    sidecar = json.loads((item.files[0].path.parent / "provenance.json").read_text())
    platform = sidecar["platform"]
    assert platform["title"] == "Smoke over the Citadel after this morning's strike."
    assert platform["metadata"]["uploader_id"] == "aleppo_media"


def test_a_carousel_shown_without_its_post_data_keeps_its_first_photo_and_is_retried(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``gql_data`` empty a carousel's widget shows its first photo alone: that
    one was archived as the whole post, and the rest never asked for again."""
    monkeypatch.setenv("FAKE_YTDLP_MODE", "crash")
    server.add_file("/v/t51.2885-15/citadel.jpg", media.photo_b)
    photo = server.url("/v/t51.2885-15/citadel.jpg")
    server.add_page(INSTAGRAM_EMBED, instagram.embed_page(None, photo=photo, carousel=True))
    with Archive.open(posts_config(tmp_path / "storage", server)) as archive:
        report = Capturer(archive).capture_url(f"https://instagram.com/p/{instagram.CODE}")
        with archive.read_session() as session:
            job = session.scalars(select(CaptureJob).where(CaptureJob.embed_id.is_not(None))).one()
            stored = list(session.scalars(select(Media.sha256)))
    (item,) = report.items
    assert stored == [sha256_of(media.photo_b)]  # what was shown is archived
    assert item.status == "failed" and "only the carousel's first photo" in (item.reason or "")
    assert job.state == "failed" and job.next_attempt_at is not None  # asked for again


@pytest.mark.parametrize("mp4_served", [True, False])
def test_when_ytdlp_cannot_take_an_instagram_video_its_mp4_is_fetched(
    tmp_path: Path,
    server: FixtureServer,
    media: MediaSet,
    monkeypatch: pytest.MonkeyPatch,
    mp4_served: bool,
) -> None:
    """yt-dlp needs an account for Instagram: the widget's post data names each video's
    MP4 (``video_url``), which is fetched instead. When that is not there either, the
    item fails (and is retried: a missing MP4 is no proof of removal), and the photos
    beside the video are archived already."""
    monkeypatch.setenv("FAKE_YTDLP_MODE", "crash")
    server.add_file("/v/t51.2885-15/citadel_1.jpg", media.photo_a)
    if mp4_served:
        server.add_file("/o1/v/t16/reel.jpg.mp4", media.clip_a)
    first = server.url("/v/t51.2885-15/citadel_1.jpg")
    children = [
        instagram.node("GraphImage", "CxA7aQ1Lq0w", first),
        instagram.node("GraphVideo", "CxA7aQ2Lq0x", server.url("/o1/v/t16/reel.jpg")),
    ]
    media_json = instagram.shortcode_media("GraphSidecar", first, children)
    server.add_page(INSTAGRAM_EMBED, instagram.embed_page(media_json, photo=first))
    config = posts_config(tmp_path / "storage", server)
    item = capture(config, server, instagram.EMBED)
    if mp4_served:
        assert item.status == "stored", item.reason
        assert [f.sha256 for f in item.files] == [sha256_of(media.clip_a), sha256_of(media.photo_a)]
        return
    assert item.status == "failed", item.reason
    with Archive.open(config) as archive, archive.read_session() as session:
        found = search(session, archive.layout, SearchQuery.parse(sha256=sha256_of(media.photo_a)))
    assert [hit.media.sha256 for hit in found] == [sha256_of(media.photo_a)]


@pytest.mark.parametrize(
    ("page", "status", "reason"),
    [
        # a video post shown without post data: yt-dlp takes it, as it did before
        (instagram.embed_page(None, photo="/v/still.jpg", video=True), "stored", None),
        (
            "<html><body><div class='Embed EmbedIsBroken'></div></body></html>",
            "failed",
            "Instagram: the embed shows no photo or video",
        ),
        (
            instagram.embed_page(
                instagram.shortcode_media("GraphImage", "/a.jpg") | {"shortcode": "Bb"}
            ),
            "failed",
            "another post than",
        ),
    ],
)
def test_an_instagram_video_or_an_unreadable_embed_goes_to_ytdlp(
    tmp_path: Path,
    server: FixtureServer,
    media: MediaSet,
    monkeypatch: pytest.MonkeyPatch,
    page: str,
    status: str,
    reason: str | None,
) -> None:
    monkeypatch.setenv("FAKE_YTDLP_MODE", "ok" if status == "stored" else "no-video")
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_b))
    server.add_page(INSTAGRAM_EMBED, page)
    item = capture(posts_config(tmp_path / "storage", server), server, instagram.EMBED)
    assert item.status == status, item.reason
    if reason is None:
        assert [f.sha256 for f in item.files] == [sha256_of(media.clip_b)]
    else:
        assert reason in str(item.reason)


def test_a_deleted_instagram_post_is_gone(tmp_path: Path, server: FixtureServer) -> None:
    server.add_handler(
        INSTAGRAM_EMBED, lambda request: request.send_simple(404, b"<html></html>", "text/html")
    )
    item = capture(posts_config(tmp_path / "storage", server), server, instagram.EMBED)
    assert item.status == "gone" and "HTTP 404" in str(item.reason), item.reason


# ---- Threads ----------------------------------------------------------------------------

THREADS_PAGE = f"/@{threads.ACCOUNT}/post/{threads.CODE}"


def test_a_threads_carousel_keeps_its_photos_and_its_video(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """yt-dlp has no Threads extractor: the photos, each at its largest size, and the
    video's MP4 are taken from the post's page, in the post's order."""
    monkeypatch.setenv("FAKE_YTDLP_MODE", "crash")
    server.add_file("/v/t51.29350-15/shelter_1.jpg", media.photo_a)
    server.add_file("/o1/v/t16/f2/m86/shelter.mp4", media.clip_a)
    server.add_file("/v/t51.29350-15/shelter_3.jpg", media.photo_c)
    post = threads.post(
        threads.media(photo=server.url("/v/t51.29350-15/shelter_1.jpg")),
        threads.media(video=server.url("/o1/v/t16/f2/m86/shelter.mp4")),
        threads.media(photo=server.url("/v/t51.29350-15/shelter_3.jpg")),
    )
    page = threads.post_page(post)
    server.add_page(THREADS_PAGE, page)
    config = posts_config(tmp_path / "storage", server)
    item = capture(config, server, threads.EMBED)

    assert item.status == "stored", item.reason
    assert item.url == threads.POST_URL
    assert [f.sha256 for f in item.files] == [
        sha256_of(media.clip_a),  # the video, as Threads serves it
        sha256_of(media.photo_a),
        sha256_of(media.photo_c),
    ]
    asked = sorted(r.path for r in server.requests if r.path.startswith(("/v/", "/o1/")))
    assert asked == [
        "/o1/v/t16/f2/m86/shelter.mp4",
        "/v/t51.29350-15/shelter_1.jpg",
        "/v/t51.29350-15/shelter_3.jpg",
    ]  # the 1440 px originals and the 720p video, not the smaller copies
    assert_kept_with_post(
        config,
        item.files[1].path,
        page.encode(),
        "UPDATE 1100 GMT",
        extractor="Threads",
        id=threads.CODE,
        uploader="Aleppo Media Center",
        upload_date="2024-06-04",
        title="The shelter in Bustan al-Qasr after this morning's strike.",
        metadata_uploader_id=threads.ACCOUNT,
        metadata_source="Threads' post page",
    )


def test_a_threads_quote_keeps_the_quoted_posts_photo_with_its_facts(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quote post shows the post it quotes (``share_info.quoted_post``), photo and
    all: it was taken for a post of words."""
    monkeypatch.setenv("FAKE_YTDLP_MODE", "crash")
    server.add_file("/v/t51.29350-15/quoted.jpg", media.photo_a)
    quoted = threads.post(
        threads.media(photo=server.url("/v/t51.29350-15/quoted.jpg")), code="C9qUoTeD001"
    )
    quoted["user"] = dict(quoted["user"], username="kharkiv.news", full_name="Kharkiv News")
    quoting = threads.post(text="Second source confirms:")
    quoting["text_post_app_info"]["share_info"] = {
        "can_repost": True,
        "is_reposted_by_viewer": False,
        "repost_restricted_reason": None,
        "can_quote_post": True,
        "quoted_post": quoted,
        "reposted_post": None,
    }
    server.add_page(THREADS_PAGE, threads.post_page(quoting))
    item = capture(posts_config(tmp_path / "storage", server), server, threads.EMBED)
    assert item.status == "stored", (item.status, item.reason)
    assert [f.sha256 for f in item.files] == [sha256_of(media.photo_a)]
    platform = json.loads((item.files[0].path.parent / "provenance.json").read_text())["platform"]
    assert (platform["id"], platform["uploader"]) == ("C9qUoTeD001", "Kharkiv News")
    assert platform["metadata"]["webpage_url"] == (
        "https://www.threads.com/@kharkiv.news/post/C9qUoTeD001"
    )


@pytest.mark.parametrize(
    ("page", "status", "reason"),
    [
        (
            threads.post_page(threads.post(text="Shelling again tonight in Bustan al-Qasr.")),
            "skipped",
            "the Threads post has no photo or video: its text is kept as a version of "
            + threads.POST_URL,
        ),
        (
            threads.post_page(None),
            "failed",
            "Threads: the page holds no data of the post (a login wall?)",
        ),
        (
            threads.post_page(threads.post(threads.media(photo="/a.jpg"), code="Other0123")),
            "failed",
            "Threads: the page holds no data of the post",
        ),
        (None, "gone", "HTTP 404"),
    ],
)
def test_a_threads_post_of_words_is_kept_and_a_page_without_it_is_retried(
    tmp_path: Path,
    server: FixtureServer,
    monkeypatch: pytest.MonkeyPatch,
    page: str | None,
    status: str,
    reason: str,
) -> None:
    monkeypatch.setenv("FAKE_YTDLP_MODE", "crash")  # as yt-dlp has no Threads extractor
    if page is None:
        server.add_status(THREADS_PAGE, 404)
    else:
        server.add_page(THREADS_PAGE, page)
    config = posts_config(tmp_path / "storage", server)
    item = capture(config, server, threads.EMBED)
    assert item.status == status and reason in str(item.reason), item.reason
    if status == "skipped":
        with Archive.open(config) as archive, archive.read_session() as session:
            (row,) = embed_statuses(session, archive.layout, page=server.url("/live"))
            kept = row.to_json()["kept_post"]
        assert kept["title"] == (
            "Aleppo Media Center (@aleppo.media) on Threads: "
            "Shelling again tonight in Bustan al-Qasr."
        )
        assert Path(kept["path"]).read_text() == page


# ---- TikTok -----------------------------------------------------------------------------

TIKTOK_PAGE = f"/@{tiktok.ACCOUNT}/video/{tiktok.POST_ID}"
TIKTOK_PHOTO = "/tos-maliva-i-photomode-us/{}~tplv-photomode-image.jpeg"


def test_a_tiktok_photo_post_keeps_its_photos_and_its_sound(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """yt-dlp would keep the sound alone ("/video/" address) or nothing ("/photo/"):
    the page's photos are taken from the first CDN host listing each, in post order."""
    monkeypatch.setenv("FAKE_YTDLP_MODE", "crash")  # a photo post: yt-dlp is not asked
    copies = []
    for name, photo in (("a1", media.photo_b), ("b2", media.photo_a)):
        server.add_file(TIKTOK_PHOTO.format(name), photo)
        # the same photo on a second CDN host, which tests do not serve
        copies.append([server.url(TIKTOK_PHOTO.format(name)), f"http://127.0.0.2:9/{name}.jpeg"])
    server.add_file("/obj/ies-music-va/7335678901234567891.m4a", media.audio)
    sound = server.url("/obj/ies-music-va/7335678901234567891.m4a")
    page = tiktok.post_page(tiktok.item(photos=copies, sound=sound))
    server.add_page(TIKTOK_PAGE, page)
    config = posts_config(tmp_path / "storage", server)
    item = capture(config, server, tiktok.EMBED)

    assert item.status == "stored", item.reason
    assert item.url == tiktok.POST_URL
    assert [f.sha256 for f in item.files] == [
        sha256_of(media.photo_b),
        sha256_of(media.photo_a),
        sha256_of(media.audio),
    ]
    assert [f.media_type for f in item.files] == ["image", "image", "audio"]
    assert_kept_with_post(
        config,
        item.files[0].path,
        page.encode(),
        "UPDATE 1430 GMT",
        extractor="TikTok",
        id=tiktok.POST_ID,
        uploader="Frontline Reports",
        upload_date="2024-02-14",
        title="The shelter this morning #douma",
        metadata_uploader_id=tiktok.ACCOUNT,
        metadata_webpage_url=f"https://www.tiktok.com/@{tiktok.ACCOUNT}/photo/{tiktok.POST_ID}",
        metadata_source="TikTok's post page",
    )


@pytest.mark.parametrize(
    ("case", "ytdlp", "stored"),
    [
        ("video", "ok", "clip_b"),  # yt-dlp takes a video, as before
        ("video", "crash", "clip_a"),  # yt-dlp broke: the page's playAddr is fetched
        ("challenge", "ok", "clip_b"),  # TikTok showed a challenge page: yt-dlp alone
        ("private", "private", None),  # neither could: the item fails, to be retried
    ],
)
def test_a_tiktok_video_goes_to_ytdlp_and_its_page_stands_in_when_ytdlp_fails(
    tmp_path: Path,
    server: FixtureServer,
    media: MediaSet,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    ytdlp: str,
    stored: str | None,
) -> None:
    monkeypatch.setenv("FAKE_YTDLP_MODE", ytdlp)
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_b))
    server.add_file("/video/tos/useast2a/tos-useast2a-ve-0068c001/play.mp4", media.clip_a)
    video = server.url("/video/tos/useast2a/tos-useast2a-ve-0068c001/play.mp4")
    pages = {
        "video": tiktok.post_page(tiktok.item(video=video)),
        "challenge": tiktok.post_page(None, data=False),
        "private": tiktok.post_page(None, 10216, "item is private"),
    }
    server.add_page(TIKTOK_PAGE, pages[case])
    item = capture(posts_config(tmp_path / "storage", server), server, tiktok.EMBED)
    if stored is None:
        assert item.status == "failed", item.reason
        assert "TikTok: the page shows no post (status 10216: item is private)" in str(item.reason)
        return
    assert item.status == "stored", item.reason
    assert [f.sha256 for f in item.files] == [sha256_of(getattr(media, stored))]


def test_a_tiktok_video_archived_this_week_is_not_read_again(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A TikTok post's video cannot be replaced: a second page embedding it shares the
    first download (`[download] reuse_within`), without asking TikTok again."""
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_b))
    server.add_page(TIKTOK_PAGE, tiktok.post_page(tiktok.item(video=server.url("/play.mp4"))))
    config = posts_config(tmp_path / "storage", server)
    first = capture(config, server, tiktok.EMBED)
    monkeypatch.setenv("FAKE_YTDLP_MODE", "crash")  # yt-dlp must not be asked again
    server.add_page("/second", tiktok.EMBED.replace("UPDATE 1430", "UPDATE 1600"))
    with Archive.open(config) as archive:
        (second,) = Capturer(archive).capture_url(server.url("/second")).items
    assert (first.status, second.status) == ("stored", "already"), second.reason
    assert [f.sha256 for f in second.files] == [sha256_of(media.clip_b)]
    assert [r.path for r in server.requests].count(TIKTOK_PAGE) == 1


# ---- Bluesky ----------------------------------------------------------------------------

GET_POSTS = "/xrpc/app.bsky.feed.getPosts"
GET_THREAD = "/xrpc/app.bsky.feed.getPostThread"
CID_A = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
CID_B = "bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy"
QUOTED_DID = "did:plc:4llrhdclvdlmmynkwsmg5tdc"


def serve_blobs(server: FixtureServer, blobs: dict[str, Path]) -> None:
    """The data server's getBlob: each blob by its CID."""

    def get_blob(request: Any) -> None:
        query = parse_qs(urlsplit(request.path).query)
        found = blobs.get(query.get("cid", [""])[0])
        if found is None:
            request.send_simple(400, b'{"error":"BlobNotFound"}', "application/json")
        else:
            request.send_simple(200, found.read_bytes(), guess_content_type(found))

    server.add_handler("/pds/xrpc/com.atproto.sync.getBlob", get_blob)


def test_a_bluesky_photo_post_is_archived_as_uploaded_with_the_post_beside_it(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CDN's copies are re-encoded: each photo is the blob the author uploaded, from
    the data server the account's DID document names."""
    monkeypatch.setenv("FAKE_YTDLP_MODE", "crash")  # photos: yt-dlp is not asked
    cdn = server.url("/cdn")
    view = bluesky.post_view(
        bluesky.images_view(cdn, bluesky.DID, [CID_A, CID_B]),
        bluesky.images_record([CID_A, CID_B]),
    )
    body = bluesky.answer(view)
    server.add_bytes(GET_POSTS, body, "application/json; charset=utf-8")
    document = bluesky.did_document(bluesky.DID, server.url("/pds"))
    server.add_bytes(f"/plc/{bluesky.DID}", document, "application/json")
    serve_blobs(server, {CID_A: media.photo_a, CID_B: media.photo_c})
    config = posts_config(tmp_path / "storage", server)
    item = capture(config, server, bluesky.EMBED)

    assert item.status == "stored", item.reason
    assert item.url == bluesky.POST_URL
    assert [f.sha256 for f in item.files] == [sha256_of(media.photo_a), sha256_of(media.photo_c)]
    asked = [r.path for r in server.requests]
    assert (
        f"{GET_POSTS}?uris=at%3A%2F%2F{bluesky.DID.replace(':', '%3A')}%2Fapp.bsky.feed.post%2F{bluesky.RKEY}"
        in asked
    )
    assert not [path for path in asked if path.startswith("/cdn/")]  # never the CDN's copy
    assert_kept_with_post(
        config,
        item.files[0].path,
        body,
        "UPDATE 1800 GMT",
        extractor="Bluesky",
        id=f"{bluesky.DID}/{bluesky.RKEY}",
        uploader="The Kyiv Independent",
        upload_date="2024-10-14",
        title="Smoke over the power plant after this morning's strike.",
        metadata_uploader_id=bluesky.HANDLE,
    )


def quoted_record(value: dict[str, Any], embed: dict[str, Any]) -> dict[str, Any]:
    """The Kharkiv News post another one quotes, as getPosts shows it (``viewRecord``):
    ``value`` adds to its record, ``embed`` is how its media is shown."""
    return {
        "$type": "app.bsky.embed.record#viewRecord",
        "uri": f"at://{QUOTED_DID}/app.bsky.feed.post/3l6otz2fbzc2k",
        "cid": "bafyreibjifzpqj6o6wcq3hejh7y4z4z2vmiklkvykc57tw3pcbx3kxifpm",
        "author": bluesky.author(QUOTED_DID, "kharkiv.news", "Kharkiv News"),
        "value": {
            "$type": "app.bsky.feed.post",
            "createdAt": "2024-10-14T06:02:40.000Z",
            **value,
        },
        "embeds": [embed],
        "indexedAt": "2024-10-14T06:02:41.000Z",
        "labels": [],
    }


def test_a_bluesky_quote_keeps_both_posts_photos_and_the_cdn_copy_stands_in(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """A quote with an image of its own: each photo with its own post's facts. The
    quoted account's data server cannot be found (its DID document answers 404): its
    photo is taken from the CDN rather than not at all."""
    cdn = server.url("/cdn")
    quoted = quoted_record(
        {
            "text": "Explosions heard in the north of the city.",
            "embed": bluesky.images_record([CID_B]),
        },
        bluesky.images_view(cdn, QUOTED_DID, [CID_B]),
    )
    view = bluesky.post_view(
        {
            "$type": "app.bsky.embed.recordWithMedia#view",
            "record": {"$type": "app.bsky.embed.record#view", "record": quoted},
            "media": bluesky.images_view(cdn, bluesky.DID, [CID_A]),
        }
    )
    server.add_bytes(GET_POSTS, bluesky.answer(view), "application/json")
    document = bluesky.did_document(bluesky.DID, server.url("/pds"))
    server.add_bytes(f"/plc/{bluesky.DID}", document, "application/json")
    serve_blobs(server, {CID_A: media.photo_a})
    server.add_file(f"/cdn/img/feed_fullsize/plain/{QUOTED_DID}/{CID_B}@jpeg", media.photo_b)
    item = capture(posts_config(tmp_path / "storage", server), server, bluesky.EMBED)

    assert item.status == "stored", item.reason
    assert [f.sha256 for f in item.files] == [sha256_of(media.photo_a), sha256_of(media.photo_b)]
    quoted_sidecar = json.loads((item.files[1].path.parent / "provenance.json").read_text())
    assert quoted_sidecar["platform"]["uploader"] == "Kharkiv News"
    assert quoted_sidecar["platform"]["id"] == f"{QUOTED_DID}/3l6otz2fbzc2k"


def test_a_quoted_bluesky_post_that_quotes_in_turn_keeps_its_own_photo(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """The quoted post is itself a quote with an image: its ``embeds[0]`` is a
    ``recordWithMedia#view``, its image under ``media``."""
    cdn = server.url("/cdn")
    quoted = quoted_record(
        {"text": "Confirmed: the strike hit the plant."},
        {
            "$type": "app.bsky.embed.recordWithMedia#view",
            "record": {
                "$type": "app.bsky.embed.record#view",
                "record": {
                    "$type": "app.bsky.embed.record#viewNotFound",
                    "uri": "at://did:plc:zzz/app.bsky.feed.post/3kzzzzzzzzz2a",
                    "notFound": True,
                },
            },
            "media": bluesky.images_view(cdn, QUOTED_DID, [CID_B]),
        },
    )
    view = bluesky.post_view(
        {"$type": "app.bsky.embed.record#view", "record": quoted}, text="Look at this:"
    )
    server.add_bytes(GET_POSTS, bluesky.answer(view), "application/json")
    server.add_file(f"/cdn/img/feed_fullsize/plain/{QUOTED_DID}/{CID_B}@jpeg", media.photo_b)
    item = capture(posts_config(tmp_path / "storage", server), server, bluesky.EMBED)
    assert item.status == "stored", (item.status, item.reason)
    assert [f.sha256 for f in item.files] == [sha256_of(media.photo_b)]
    platform = json.loads((item.files[0].path.parent / "provenance.json").read_text())["platform"]
    assert platform["id"] == f"{QUOTED_DID}/3l6otz2fbzc2k"


def test_a_bluesky_photo_is_taken_from_the_cdn_when_the_data_server_is_down(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DID document names a data server that no longer answers (a self-hosted one
    shut down); the CDN still serves the photo."""
    monkeypatch.setenv("FAKE_YTDLP_MODE", "crash")
    cdn = server.url("/cdn")
    view = bluesky.post_view(
        bluesky.images_view(cdn, bluesky.DID, [CID_A]), bluesky.images_record([CID_A])
    )
    server.add_bytes(GET_POSTS, bluesky.answer(view), "application/json")
    dead = f"http://127.0.0.1:{closed_port()}"
    server.add_bytes(
        f"/plc/{bluesky.DID}", bluesky.did_document(bluesky.DID, dead), "application/json"
    )
    server.add_file(f"/cdn/img/feed_fullsize/plain/{bluesky.DID}/{CID_A}@jpeg", media.photo_a)
    item = capture(posts_config(tmp_path / "storage", server), server, bluesky.EMBED)
    assert item.status == "stored", (item.status, item.reason)
    assert [f.sha256 for f in item.files] == [sha256_of(media.photo_a)]
    sidecar = json.loads((item.files[0].path.parent / "provenance.json").read_text())
    assert sidecar["sightings"][0]["media_url"] == server.url(
        f"/cdn/img/feed_fullsize/plain/{bluesky.DID}/{CID_A}@jpeg"
    )


@pytest.mark.parametrize("ytdlp", ["ok", "crash"])
def test_a_bluesky_video_post_goes_to_ytdlp_and_else_its_blob_is_fetched(
    tmp_path: Path,
    server: FixtureServer,
    media: MediaSet,
    monkeypatch: pytest.MonkeyPatch,
    ytdlp: str,
) -> None:
    """yt-dlp takes Bluesky videos; when it cannot, the video's blob (which its HLS
    playlist names) is fetched from the author's data server, as uploaded."""
    monkeypatch.setenv("FAKE_YTDLP_MODE", ytdlp)
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_b))
    cid = "bafkreihwihm6kpd6zuwhhlro75p5qks5qtrcu55jp3gddbfjsieiv7wuka"
    encoded = bluesky.DID.replace(":", "%3A")
    video = {
        "$type": "app.bsky.embed.video#view",
        "cid": cid,
        "playlist": f"https://video.bsky.app/watch/{encoded}/{cid}/playlist.m3u8",
        "thumbnail": f"https://video.bsky.app/watch/{encoded}/{cid}/thumbnail.jpg",
        "aspectRatio": {"height": 720, "width": 1280},
    }
    server.add_bytes(GET_POSTS, bluesky.answer(bluesky.post_view(video)), "application/json")
    document = bluesky.did_document(bluesky.DID, server.url("/pds"))
    server.add_bytes(f"/plc/{bluesky.DID}", document, "application/json")
    serve_blobs(server, {cid: media.clip_a})
    item = capture(posts_config(tmp_path / "storage", server), server, bluesky.EMBED)
    assert item.status == "stored", item.reason
    expected = media.clip_b if ytdlp == "ok" else media.clip_a
    assert [f.sha256 for f in item.files] == [sha256_of(expected)]


@pytest.mark.parametrize(
    ("platform", "answer", "status", "reason"),
    [
        (
            "reddit",
            reddit.answer(
                reddit.post_data(
                    author="[deleted]",
                    selftext="[deleted]",
                    removed_by_category="deleted",
                    url=reddit.PERMALINK,
                    is_self=True,
                )
            ),
            "gone",
            "Reddit: the post was deleted by its author",
        ),
        (
            "reddit",
            reddit.answer(
                reddit.post_data(
                    is_self=True,
                    url=f"https://www.reddit.com{reddit.PERMALINK}",
                    selftext="Heavy shelling heard from the old city since dawn.",
                )
            ),
            "skipped",
            "the Reddit post has no photo or video: its text is kept",
        ),
        ("reddit", b'{"message": "Not Found", "error": 404}', "gone", "HTTP 404"),
        ("reddit", b"<html><body>whoa there, pardner!</body></html>", "failed", "not hold a post"),
        ("bluesky", b'{"posts": []}', "gone", "Bluesky: the post was not found"),
        (
            "bluesky",
            bluesky.answer(bluesky.post_view(text="Air raid alert across the east.")),
            "skipped",
            "the Bluesky post has no photo or video: its text is kept",
        ),
        ("bluesky", b'{"error":"InternalServerError"}', "failed", "did not answer with posts"),
        ("mastodon", b'{"error":"Record not found"}', "gone", "HTTP 404"),
        (
            "mastodon",
            b'{"id": "113331196497446434", "content": "<p>Air raid alert.</p>",'
            b' "media_attachments": []}',
            "skipped",
            "the Mastodon post has no photo or video: its text is kept",
        ),
    ],
)
def test_a_deleted_text_only_or_unreadable_post(
    tmp_path: Path,
    server: FixtureServer,
    monkeypatch: pytest.MonkeyPatch,
    platform: str,
    answer: bytes,
    status: str,
    reason: str,
) -> None:
    """Reddit's JSON and Bluesky's and Mastodon's APIs: gone when removed or no longer
    listed, the text
    kept when there is nothing else, retried when the answer is not one."""
    monkeypatch.setenv("FAKE_YTDLP_MODE", "no-video")  # as yt-dlp ends on such a post
    path, page = {
        "reddit": (REDDIT_JSON, reddit.EMBED),
        "bluesky": (GET_POSTS, bluesky.EMBED),
        "mastodon": (MASTODON_API, mastodon.embed_frame(server.url().rstrip("/"))),
    }[platform]
    code = 404 if b'"error": 404' in answer or b"Record not found" in answer else 200
    server.add_handler(path, lambda request: request.send_simple(code, answer, "application/json"))
    item = capture(posts_config(tmp_path / "storage", server), server, page)
    assert item.status == status and reason in str(item.reason), item.reason


def test_a_bluesky_post_named_by_handle_is_asked_for_by_its_thread(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handle can change hands: the thread endpoint resolves it. Its 400 for a post
    it cannot find is no proof of removal (a handle that moved answers the same)."""
    monkeypatch.setenv("FAKE_YTDLP_MODE", "no-video")
    view = bluesky.post_view(bluesky.images_view(server.url("/cdn"), bluesky.DID, [CID_A]))
    thread = {"thread": {"$type": "app.bsky.feed.defs#threadViewPost", "post": view}}
    server.add_bytes(GET_THREAD, json.dumps(thread).encode(), "application/json")
    server.add_bytes(
        f"/plc/{bluesky.DID}",
        bluesky.did_document(bluesky.DID, server.url("/pds")),
        "application/json",
    )
    serve_blobs(server, {CID_A: media.photo_a})
    config = posts_config(tmp_path / "storage", server)
    by_handle = f"https://bsky.app/profile/{bluesky.HANDLE}/post/{bluesky.RKEY}"
    with Archive.open(config) as archive:
        (item,) = Capturer(archive).capture_url(by_handle).items
    assert item.status == "stored", item.reason
    assert [f.sha256 for f in item.files] == [sha256_of(media.photo_a)]
    asked = next(r.path for r in server.requests if r.path.startswith(GET_THREAD))
    assert parse_qs(urlsplit(asked).query)["uri"] == [
        f"at://{bluesky.HANDLE}/app.bsky.feed.post/{bluesky.RKEY}"
    ]

    server.add_status(GET_THREAD, 400, b'{"error":"NotFound","message":"Post not found"}')
    with Archive.open(config) as archive:
        (again,) = (
            Capturer(archive).capture_url(by_handle.replace(bluesky.RKEY, "3l6ozzzzzzz2a")).items
        )
    assert again.status == "failed" and "HTTP 400" in str(again.reason), again.reason


# ---- Mastodon ---------------------------------------------------------------------------

MASTODON_API = f"/api/v1/statuses/{mastodon.STATUS_ID}"


@pytest.mark.parametrize("snippet", [mastodon.embed_frame, mastodon.embed_blockquote])
def test_a_mastodon_status_is_archived_with_its_photos_and_videos(
    tmp_path: Path,
    server: FixtureServer,
    media: MediaSet,
    monkeypatch: pytest.MonkeyPatch,
    snippet: Callable[[str], str],
) -> None:
    """Any host may be a Mastodon instance: its embed says so. yt-dlp has no Mastodon
    extractor, so the video is fetched as the instance serves it."""
    monkeypatch.setenv("FAKE_YTDLP_MODE", "crash")  # yt-dlp is not asked
    server.add_file("/system/media_attachments/files/original/a.jpeg", media.photo_a)
    server.add_file("/system/media_attachments/files/original/b.mp4", media.clip_a)
    files = server.url("/system/media_attachments/files/original")
    data = mastodon.status(
        server.url().rstrip("/"),
        [
            mastodon.attachment("image", f"{files}/a.jpeg", 1),
            mastodon.attachment("video", f"{files}/b.mp4", 2),
        ],
    )
    body = mastodon.answer(data)
    server.add_bytes(MASTODON_API, body, "application/json; charset=utf-8")
    config = posts_config(tmp_path / "storage", server)
    item = capture(config, server, snippet(server.url().rstrip("/")))

    assert item.status == "stored", item.reason
    assert item.url == server.url(f"/@{mastodon.USER}/{mastodon.STATUS_ID}")
    assert [f.sha256 for f in item.files] == [sha256_of(media.photo_a), sha256_of(media.clip_a)]
    assert_kept_with_post(
        config,
        item.files[1].path,
        body,
        "UPDATE 1800 GMT",
        extractor="Mastodon",
        id=mastodon.STATUS_ID,
        uploader="Aleppo Watch",
        upload_date="2024-10-21",
        title="Smoke over the market after the strike this morning. #Aleppo",
        metadata_uploader_id=mastodon.USER,
    )


def test_media_posted_on_an_instance_that_shut_down_is_taken_from_this_instances_copy(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """A status seen through another instance names its photo on the instance it was
    posted to (``remote_url``): when that one is down for good, its attachments failed
    day after day while the instance answering kept a copy (``url``)."""
    server.add_file("/cache/media_attachments/a.jpeg", media.photo_a)
    gone = f"http://127.0.0.1:{closed_port()}/system/media_attachments/a.jpeg"
    photo = mastodon.attachment("image", server.url("/cache/media_attachments/a.jpeg"))
    photo["remote_url"] = gone
    body = mastodon.answer(mastodon.status(server.url().rstrip("/"), [photo]))
    server.add_bytes(MASTODON_API, body, "application/json; charset=utf-8")
    config = posts_config(tmp_path / "storage", server)
    item = capture(config, server, mastodon.embed_frame(server.url().rstrip("/")))
    assert item.status == "stored", item.reason
    assert [f.sha256 for f in item.files] == [sha256_of(media.photo_a)]
    sidecar = json.loads((item.files[0].path.parent / "provenance.json").read_text())
    assert sidecar["sightings"][0]["media_url"] == server.url("/cache/media_attachments/a.jpeg")


def test_an_attachment_the_instance_did_not_download_is_taken_from_where_it_was_posted(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """An instance that has not downloaded a remote attachment (too large, its origin
    down at the time) calls it ``"type": "unknown"``; ``remote_url`` still names it,
    and its bytes say what it is."""
    server.add_file("/system/media_attachments/files/original/big.mp4", media.clip_a)
    video = mastodon.attachment("unknown", server.url("/media_proxy/11333119/original"))
    video |= {
        "remote_url": server.url("/system/media_attachments/files/original/big.mp4"),
        "preview_url": None,
        "meta": None,
    }
    body = mastodon.answer(mastodon.status(server.url().rstrip("/"), [video]))
    server.add_bytes(MASTODON_API, body, "application/json; charset=utf-8")
    item = capture(
        posts_config(tmp_path / "storage", server),
        server,
        mastodon.embed_frame(server.url().rstrip("/")),
    )
    assert item.status == "stored", (item.status, item.reason)
    assert [(f.sha256, f.media_type) for f in item.files] == [(sha256_of(media.clip_a), "video")]


def test_a_boosted_status_keeps_its_photo_with_the_boosted_statuss_facts(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    instance = server.url().rstrip("/")
    server.add_file("/media/original.png", media.png)
    boosted = mastodon.status(
        instance,
        [mastodon.attachment("image", server.url("/media/original.png"))],
        status_id="113331100000000001",
        user="kharkiv_news",
    )
    data = mastodon.status(instance, [], reblog=boosted)
    server.add_bytes(MASTODON_API, mastodon.answer(data), "application/json")
    item = capture(
        posts_config(tmp_path / "storage", server), server, mastodon.embed_frame(instance)
    )
    assert item.status == "stored", item.reason
    sidecar = json.loads((item.files[0].path.parent / "provenance.json").read_text())
    assert sidecar["platform"]["id"] == "113331100000000001"
    assert sidecar["platform"]["metadata"]["uploader_id"] == "kharkiv_news"


@pytest.mark.parametrize(
    ("answer", "status", "reason"),
    [
        (b'{"reason": "private", "message": "Forbidden", "error": 403}', "gone", "is private"),
        (b'{"reason": "quarantined", "message": "Forbidden", "error": 403}', "gone", "quarantined"),
        (b"<html><body>You've been blocked by network security.</body></html>", "failed", "403"),
    ],
    ids=["private", "quarantined", "blocked address"],
)
def test_a_post_in_a_subreddit_closed_to_us_is_gone_not_failed(
    tmp_path: Path,
    server: FixtureServer,
    monkeypatch: pytest.MonkeyPatch,
    answer: bytes,
    status: str,
    reason: str,
) -> None:
    """Reddit answers 403 with its reason for a subreddit gone private: that failed for
    good as "HTTP 403", never taken again when the subreddit reopened. A 403 that names
    no reason (a block page for the address) is a failure, as before."""
    monkeypatch.setenv("FAKE_YTDLP_MODE", "no-video")
    server.add_status(REDDIT_JSON, 403, answer, headers={"Content-Type": "application/json"})
    item = capture(posts_config(tmp_path / "storage", server), server, reddit.EMBED)
    assert item.status == status and reason in str(item.reason), item.reason


# ---- Imgur ------------------------------------------------------------------------------


def test_an_imgur_album_is_archived_with_its_photos_and_videos(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """yt-dlp takes an Imgur album's videos only (its photos are left out, a photo post
    "is not a video or animated image"): the API lists both, and Imgur serves them as
    uploaded."""
    monkeypatch.setenv("FAKE_YTDLP_MODE", "crash")  # yt-dlp is not asked
    server.add_file("/i/Rk2pQ7a.jpeg", media.photo_a)
    server.add_file("/i/Vd9sT1b.mp4", media.clip_a)
    data = imgur.post(
        imgur.ALBUM_ID,
        [
            imgur.medium("image", server.url("/i/Rk2pQ7a.jpeg"), "Rk2pQ7a", "image/jpeg"),
            imgur.medium("video", server.url("/i/Vd9sT1b.mp4"), "Vd9sT1b", "video/mp4", "Smoke"),
        ],
        album=True,
    )
    body = imgur.answer(data)
    server.add_bytes(f"/post/v1/albums/{imgur.ALBUM_ID}", body, "application/json")
    config = posts_config(tmp_path / "storage", server)
    item = capture(config, server, imgur.embed_blockquote(f"a/{imgur.ALBUM_ID}"))

    assert item.status == "stored", item.reason
    assert item.url == f"https://imgur.com/a/{imgur.ALBUM_ID}"
    assert [f.sha256 for f in item.files] == [sha256_of(media.photo_a), sha256_of(media.clip_a)]
    asked = next(r.path for r in server.requests if r.path.startswith("/post/v1/"))
    assert parse_qs(urlsplit(asked).query) == {
        "client_id": ["546c25a59c58ad7"],
        "include": ["media,account"],
    }
    assert_kept_with_post(
        config,
        item.files[0].path,
        body,
        "UPDATE 1800 GMT",
        extractor="Imgur",
        id=imgur.ALBUM_ID,
        uploader=imgur.USER,
        upload_date="2024-10-21",
        title="Shelling of the market this morning\n\nSmoke",
        metadata_uploader_id=imgur.USER,
    )


def test_a_deleted_imgur_post_is_gone_and_a_strange_answer_retried(
    tmp_path: Path, server: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_YTDLP_MODE", "crash")
    path = f"/post/v1/media/{imgur.POST_ID}"
    config = posts_config(tmp_path / "storage", server)
    server.add_status(path, 404, b'{"errors":[{"code":"404","status":"Not Found"}]}')
    item = capture(config, server, imgur.embed_blockquote(imgur.POST_ID))
    assert item.status == "gone" and "HTTP 404" in str(item.reason), item.reason

    server.add_bytes(path, b"<html><body>Over capacity</body></html>", "text/html")
    item = capture(config, server, imgur.embed_blockquote(imgur.POST_ID))
    assert item.status == "failed" and "did not answer with post" in str(item.reason)


@pytest.mark.parametrize("album", [False, True], ids=["single post", "album"])
def test_an_imgur_gallery_post_is_read_as_an_album_or_else_as_a_post(
    tmp_path: Path,
    server: FixtureServer,
    media: MediaSet,
    monkeypatch: pytest.MonkeyPatch,
    album: bool,
) -> None:
    """A gallery post went to yt-dlp, which gets nothing from a photo: the albums
    endpoint answers for an album, and its 404 sends the reader on to the media one."""
    monkeypatch.setenv("FAKE_YTDLP_MODE", "crash")
    server.add_file("/i/Rk2pQ7a.jpeg", media.photo_a)
    photo = imgur.medium("image", server.url("/i/Rk2pQ7a.jpeg"), "Rk2pQ7a", "image/jpeg")
    body = imgur.answer(imgur.post(imgur.POST_ID, [photo], album=album))
    albums, single = f"/post/v1/albums/{imgur.POST_ID}", f"/post/v1/media/{imgur.POST_ID}"
    if album:
        server.add_bytes(albums, body, "application/json")
    else:
        server.add_status(albums, 404, b'{"errors":[{"code":"404","status":"Not Found"}]}')
        server.add_bytes(single, body, "application/json")
    page = f"""<article><p>UPDATE 1800 GMT: Activists posted photos from the market:</p>
<p><a href="https://imgur.com/gallery/market-{imgur.POST_ID}">imgur.com</a></p></article>"""
    config = posts_config(tmp_path / "storage", server)
    item = capture(config, server, page)

    assert item.status == "stored", item.reason
    assert item.url == f"https://imgur.com/gallery/{imgur.POST_ID}"
    assert [f.sha256 for f in item.files] == [sha256_of(media.photo_a)]
    asked = [r.path.split("?")[0] for r in server.requests if r.path.startswith("/post/v1/")]
    assert asked == ([albums] if album else [albums, single])
    assert_kept_with_post(config, item.files[0].path, body, "UPDATE 1800 GMT", id=imgur.POST_ID)


@pytest.mark.parametrize(
    ("card", "video"),
    [
        ("https://www.youtube.com/watch?v=abc123XYZ_0", True),
        ("https://i.imgur.com/AbCdEfG.jpg", False),
    ],
)
def test_a_bluesky_link_card_is_yt_dlps_when_it_names_a_platforms_post(
    card: str, video: bool
) -> None:
    """A card to an Imgur photo went to yt-dlp once i.imgur.com was a platform's host:
    "No video could be found", and the post's words were not kept."""
    external = {
        "$type": "app.bsky.embed.external#view",
        "external": {"uri": card, "title": "Smoke", "description": "", "thumb": None},
    }
    body = bluesky.answer(bluesky.post_view(embed=external))
    assert bluesky_reader.parse_posts(body, bluesky.RKEY).has_video is video
