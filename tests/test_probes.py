"""Liveness probes: real HTTP against the local fixture server, platforms' real answers.

The generic path (files, player pages, article pages) runs against a real local
server. Platform oEmbed endpoints are mocked with the bodies the platforms really
send; yt-dlp's classification runs a stand-in that prints yt-dlp's real error lines.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx
from support import (
    FixtureServer,
    MediaSet,
    RequestHandler,
    bluesky,
    closed_port,
    imgur,
    instagram,
    mastodon,
    reddit,
    threads,
)
from support.telegram import album, telegram_widget

from archiver.config import NetworkConfig, PostsConfig, YtdlpConfig
from archiver.fetch.http import make_client
from archiver.fetch.netguard import GuardedTransport
from archiver.fetch.ytdlp import Ytdlp
from archiver.liveness import oembed
from archiver.liveness.oembed import DEFAULT_ENDPOINTS
from archiver.liveness.probes import CheckResult, Prober
from archiver.liveness.ytdlp_probe import probe_command, ytdlp_check

FAKE_PROBE = Path(__file__).parent / "fixtures" / "fake_ytdlp_probe.py"
NO_OEMBED = {platform: "" for platform in DEFAULT_ENDPOINTS}

# -- the platforms' real oEmbed answers ------------------------------------------------

YOUTUBE_OEMBED = {
    "title": "Fighters near the Citadel, Aleppo",
    "author_name": "Aleppo Media Centre",
    "author_url": "https://www.youtube.com/@AleppoMediaCentre",
    "type": "video",
    "height": 113,
    "width": 200,
    "version": "1.0",
    "provider_name": "YouTube",
    "provider_url": "https://www.youtube.com/",
    "thumbnail_height": 360,
    "thumbnail_width": 480,
    "thumbnail_url": "https://i.ytimg.com/vi/abc123XYZ_0/hqdefault.jpg",
    "html": '<iframe width="200" height="113" src="https://www.youtube.com/embed/abc123XYZ_0?feature=oembed" frameborder="0" allow="accelerometer; autoplay; clipboard-write; encrypted-media; gyroscope; picture-in-picture; web-share" referrerpolicy="strict-origin-when-cross-origin" allowfullscreen title="Fighters near the Citadel, Aleppo"></iframe>',
}
VIMEO_OEMBED = {
    "type": "video",
    "version": "1.0",
    "provider_name": "Vimeo",
    "provider_url": "https://vimeo.com/",
    "title": "Aleppo, old city, 28 September",
    "author_name": "Aleppo Media Centre",
    "author_url": "https://vimeo.com/aleppomedia",
    "is_plus": "0",
    "account_type": "basic",
    "html": '<iframe src="https://player.vimeo.com/video/76979871?app_id=122963" width="640" height="360" frameborder="0" allow="autoplay; fullscreen; picture-in-picture; clipboard-write; encrypted-media" title="Aleppo, old city, 28 September"></iframe>',
    "width": 640,
    "height": 360,
    "duration": 62,
    "description": "",
    "thumbnail_url": "https://i.vimeocdn.com/video/452001751-8216e0571c251a09d7a8387550942d89f7f86f6398f8ed886e639b0dd50d3c90-d_640",
    "thumbnail_width": 640,
    "thumbnail_height": 360,
    "upload_date": "2013-10-15 14:08:29",
    "video_id": 76979871,
    "uri": "/videos/76979871",
}
# What Vimeo answers without the whitelisted Referer for a video embeddable only on
# chosen domains: the private metadata is left out.
VIMEO_DOMAIN_LIMITED = {
    "type": "video",
    "version": "1.0",
    "provider_name": "Vimeo",
    "provider_url": "https://vimeo.com/",
    "html": '<iframe src="https://player.vimeo.com/video/76979871?app_id=122963" width="640" height="360" frameborder="0" allow="autoplay; fullscreen; picture-in-picture; clipboard-write; encrypted-media"></iframe>',
    "width": 640,
    "height": 360,
    "video_id": 76979871,
    "uri": "/videos/76979871",
    "domain_status_code": 403,
}
X_OEMBED = {
    "url": "https://twitter.com/Interior/status/507185938620219395",
    "author_name": "US Department of the Interior",
    "author_url": "https://twitter.com/Interior",
    "html": '<blockquote class="twitter-tweet"><p lang="en" dir="ltr">Sunsets don&#39;t get much better than this one over <a href="https://twitter.com/GrandTetonNPS?ref_src=twsrc%5Etfw">@GrandTetonNPS</a>. <a href="http://t.co/YuKy2rcjyU">pic.twitter.com/YuKy2rcjyU</a></p>&mdash; US Department of the Interior (@Interior) <a href="https://twitter.com/Interior/status/507185938620219395?ref_src=twsrc%5Etfw">May 5, 2014</a></blockquote>\n<script async src="https://platform.twitter.com/widgets.js" charset="utf-8"></script>\n\n',
    "width": 550,
    "height": None,
    "type": "rich",
    "cache_age": "3153600000",
    "provider_name": "Twitter",
    "provider_url": "https://twitter.com",
    "version": "1.0",
}
X_PROTECTED = {
    "error": "Sorry, you are not authorized to see this status.",
    "request": "/oembed?url=https://twitter.com/Interior/status/507185938620219395",
}
TIKTOK_OEMBED = {
    "version": "1.0",
    "type": "video",
    "title": "Scramble up ur name & I\u2019ll try to guess it #foryoupage #petsoftiktok",
    "author_url": "https://www.tiktok.com/@scout2015",
    "author_name": "Scout, Suki & Stella",
    "width": "100%",
    "height": "100%",
    "html": '<blockquote class="tiktok-embed" cite="https://www.tiktok.com/@scout2015/video/6718335390845095173" data-video-id="6718335390845095173" style="max-width: 605px;min-width: 325px;" > <section> <a target="_blank" title="@scout2015" href="https://www.tiktok.com/@scout2015?refer=embed">@scout2015</a> </section> </blockquote> <script async src="https://www.tiktok.com/embed.js"></script>',
    "thumbnail_width": 720,
    "thumbnail_height": 1280,
    "thumbnail_url": "https://p16-sign-va.tiktokcdn.com/obj/tos-maliva-p-0068/06kv6rfcesljdjr45ukb0000d844090v0200000a05",
    "provider_url": "https://www.tiktok.com",
    "provider_name": "TikTok",
    "author_unique_id": "scout2015",
    "embed_product_id": "6718335390845095173",
    "embed_type": "video",
}
TIKTOK_ERROR = {
    "code": 400,
    "message": "Something went wrong",
    "status_msg": "Something went wrong",
}
DAILYMOTION_OEMBED = {
    "type": "video",
    "version": "1.0",
    "provider_name": "Dailymotion",
    "provider_url": "https://www.dailymotion.com",
    "title": "Aleppo: the Citadel at dawn",
    "description": "",
    "author_name": "Aleppo Media Centre",
    "author_url": "https://www.dailymotion.com/aleppomedia",
    "width": 480,
    "height": 270,
    "html": '<iframe frameborder="0" width="480" height="270" src="https://geo.dailymotion.com/player.html?video=x8j2k1z&" allowfullscreen allow="autoplay; fullscreen; picture-in-picture; web-share"></iframe>',
    "thumbnail_url": "https://s1.dmcdn.net/v/WxYZ1d0p8hG6d4FkM/x240",
    "thumbnail_width": 427,
    "thumbnail_height": 240,
}

YOUTUBE_EMBED = "https://www.youtube.com/embed/abc123XYZ_0?feature=oembed&si=trk"
YOUTUBE_WATCH = "https://www.youtube.com/watch?v=abc123XYZ_0"


def text(status: int, body: str) -> httpx.Response:
    """YouTube's error answers: a bare word as an HTML page."""
    return httpx.Response(status, text=body, headers={"content-type": "text/html; charset=utf-8"})


# -- fixtures -------------------------------------------------------------------------


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=2.0, follow_redirects=True) as opened:
        yield opened


@pytest.fixture
def prober(client: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> Prober:
    monkeypatch.setattr(oembed, "ASK_AGAIN_AFTER", 0.0)  # TikTok's second asking, at once
    return Prober(client, None)


# Instagram's embed widget as some visitors get it: no post, a link to log in.
LOGIN = (
    '<html><body><div class="Embed EmbedIsBroken"><a href="https://www.instagram.com/'
    'accounts/login/">Log in to see photos and videos</a></div></body></html>'
)


def fake_ytdlp(allow_private: bool = True) -> Ytdlp:
    config = YtdlpConfig(command=[sys.executable, str(FAKE_PROBE)])
    return Ytdlp(config, NetworkConfig(allow_private_addresses=allow_private), None)


@pytest.fixture
def probe_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The file the stand-in yt-dlp lists the URLs it was asked about in."""
    log = tmp_path / "ytdlp-calls.txt"
    log.touch()
    monkeypatch.setenv("FAKE_YTDLP_PROBE_LOG", str(log))
    return log


def check_file(prober: Prober, url: str) -> CheckResult:
    return prober.check(url, kind="file", platform=None)


# -- direct files ---------------------------------------------------------------------


def test_file_served_is_live_from_head_alone(
    prober: Prober, server: FixtureServer, media: MediaSet
) -> None:
    server.add_file("/media/clip.mp4", media.clip_a)
    result = check_file(prober, server.url("/media/clip.mp4"))
    assert result == CheckResult("live", "HTTP 200 (video/mp4)", 200, None, "http-head")
    assert [r.method for r in server.requests] == ["HEAD"]


def test_head_refused_falls_back_to_a_ranged_get_that_reads_one_kb(
    prober: Prober, server: FixtureServer, media: MediaSet
) -> None:
    data = media.clip_a.read_bytes()
    assert len(data) > 20 * 1024
    sent: list[int] = []

    def no_head(request: RequestHandler) -> None:
        if request.command == "HEAD":
            request.send_simple(405, headers={"Allow": "GET"})
            return
        start, end = request.headers["Range"].removeprefix("bytes=").split("-")
        part = data[int(start) : int(end) + 1]
        request.send_response(206)
        request.send_header("Content-Type", "video/mp4")
        request.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        request.send_header("Content-Length", str(len(part)))
        request.end_headers()
        request.wfile.write(part)
        sent.append(len(part))

    server.add_handler("/clip.mp4", no_head)
    result = check_file(prober, server.url("/clip.mp4"))

    assert result == CheckResult("live", "HTTP 206 (video/mp4)", 206, None, "http-range")
    head, get = server.requests
    assert (head.method, get.method) == ("HEAD", "GET")
    assert get.headers["range"] == "bytes=0-1023"
    assert sent == [1024]


def test_a_server_ignoring_the_range_is_not_read_to_the_end(
    prober: Prober, server: FixtureServer
) -> None:
    written = 0

    def endless(request: RequestHandler) -> None:
        nonlocal written
        if request.command == "HEAD":
            request.send_simple(501)
            return
        request.close_connection = True
        request.send_response(200)
        request.send_header("Content-Type", "video/mp4")
        request.end_headers()
        chunk = b"\x00\x00\x00\x18ftypmp42" + bytes(64 * 1024 - 12)
        try:
            while request.wait(0.001):
                request.wfile.write(chunk)
                written += len(chunk)
        except OSError:
            pass

    server.add_handler("/live.mp4", endless)
    started = time.monotonic()
    result = check_file(prober, server.url("/live.mp4"))

    assert (result.status, result.probe, result.http_status) == ("live", "http-range", 200)
    assert time.monotonic() - started < 2
    time.sleep(0.2)  # the server notices the hang-up
    assert written < 16 * 1024 * 1024  # far less than a download: the socket buffers, at most


@pytest.mark.parametrize(
    ("status", "expected", "reason"),
    [
        (404, "gone", "HTTP 404"),
        (410, "gone", "HTTP 410"),
        (401, "restricted", "HTTP 401 (login required)"),
        (403, "restricted", "HTTP 403"),
        (451, "restricted", "HTTP 451 (unavailable for legal reasons)"),
        (500, "error", "HTTP 500"),
        (502, "error", "HTTP 502"),
        (408, "error", "HTTP 408 (request timeout)"),
        (400, "error", "HTTP 400 (not proof of removal)"),
    ],
)
def test_status_codes(
    prober: Prober, server: FixtureServer, status: int, expected: str, reason: str
) -> None:
    server.add_status("/v.mp4", status, b"<html><body>nope</body></html>")
    result = check_file(prober, server.url("/v.mp4"))
    # bad news from HEAD is confirmed with a GET before it is believed
    assert result == CheckResult(expected, reason, status, None, "http-range")  # type: ignore[arg-type]
    assert [r.method for r in server.requests] == ["HEAD", "GET"]


def test_rate_limit_is_an_error_with_retry_after_and_no_second_request(
    prober: Prober, server: FixtureServer
) -> None:
    server.add_retry_after("/v.mp4", 429, "120")
    result = check_file(prober, server.url("/v.mp4"))
    assert result == CheckResult("error", "HTTP 429 (rate limited)", 429, 120.0, "http-head")
    assert server.hits("/v.mp4") == 1


def test_service_unavailable_carries_retry_after(prober: Prober, server: FixtureServer) -> None:
    """A HEAD answered 503 with a ``Retry-After`` ends the check: a GET a second later
    asked again what the server had said not to ask for a while."""
    server.add_retry_after("/v.mp4", 503, "30")
    result = check_file(prober, server.url("/v.mp4"))
    assert result == CheckResult("error", "HTTP 503", 503, 30.0, "http-head")
    assert server.hits("/v.mp4") == 1


def test_html_instead_of_media_is_a_soft_404(prober: Prober, server: FixtureServer) -> None:
    server.add_page(
        "/uploads/strike.mp4", "<!doctype html><title>Page not found</title><h1>Oops</h1>"
    )
    result = check_file(prober, server.url("/uploads/strike.mp4"))
    assert result.status == "gone"
    assert result.reason == "soft 404: HTML page instead of media (HTTP 206, text/html)"
    assert (result.http_status, result.probe) == (206, "http-range")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"404 Not Found: this file was deleted.", "text/plain"),
        (b'{"error": "not found"}', "application/json"),
        (b"<Error><Code>NoSuchKey</Code></Error>", "application/xml"),  # a bucket's answer
    ],
    ids=["words", "json", "xml"],
)
def test_an_answer_that_is_not_media_is_a_soft_404(
    prober: Prober, server: FixtureServer, body: bytes, content_type: str
) -> None:
    """HEAD was believed for any type but HTML or a vague one, and a vague one with
    words in it was live: capture refused these bytes, liveness called them live.
    (HEAD naming a media type, with a length, is still believed alone.)"""
    server.add_bytes("/v/strike.mp4", body, content_type)
    result = check_file(prober, server.url("/v/strike.mp4"))
    assert result.status == "gone" and result.reason.startswith("soft 404")


def test_a_head_without_a_length_is_not_believed(prober: Prober, server: FixtureServer) -> None:
    """Only a 2xx with a media type and a length is taken from HEAD."""

    def head_says_photo(request: RequestHandler) -> None:
        if request.command == "HEAD":
            request.send_response(200)
            request.send_header("Content-Type", "image/jpeg")
            request.end_headers()
        else:
            request.send_simple(404, b"gone", "text/plain")

    server.add_handler("/p.jpg", head_says_photo)
    result = check_file(prober, server.url("/p.jpg"))
    assert (result.status, result.probe) == ("gone", "http-range")


def test_html_sniffed_when_the_type_says_nothing(prober: Prober, server: FixtureServer) -> None:
    server.add_bytes(
        "/photo.jpg", b"\n<html><body>File removed</body></html>", "application/octet-stream"
    )
    assert check_file(prober, server.url("/photo.jpg")).status == "gone"


def test_redirect_to_a_login_page_is_restricted(prober: Prober, server: FixtureServer) -> None:
    server.add_redirect("/private/clip.mp4", "/accounts/login?next=/private/clip.mp4&token=abc")
    server.add_page("/accounts/login", "<html><form><input name=password></form></html>")
    result = check_file(prober, server.url("/private/clip.mp4"))
    assert result.status == "restricted"
    assert result.reason == "redirected to a login page (127.0.0.1/accounts/login)"
    assert "token" not in result.reason


CAPTCHA_PAGE = (
    "<!doctype html><html><head><title>Just a moment...</title></head><body>"
    "<div class='cf-turnstile'></div><p>Please complete the captcha to continue.</p></body></html>"
)
CONSENT_PAGE = "<!doctype html><html><body><h1>Before you continue</h1><form></form></body></html>"


def test_walls_before_the_media_are_errors_not_removals(
    prober: Prober, server: FixtureServer
) -> None:
    """A captcha, a bot check or a cookie-consent page answered instead of the site: each
    was reported to editors as a removal (a soft 404) or as restricted."""
    server.add_status("/cf.jpg", 403, CAPTCHA_PAGE.encode(), {"cf-mitigated": "challenge"})
    server.add_page("/wall.jpg", CAPTCHA_PAGE)
    server.add_page("/player/8", CAPTCHA_PAGE)
    server.add_redirect("/player/7", "/consent?continue=/player/7")
    server.add_page("/consent", CONSENT_PAGE)
    for url, kind in (("/cf.jpg", "file"), ("/wall.jpg", "file"), ("/player/8", "player")):
        result = prober.check(server.url(url), kind=kind, platform=None)
        assert result.status == "error", (url, result)
        assert "anti-bot, captcha or consent page" in result.reason
    consent = prober.check(server.url("/player/7"), kind="player", platform=None)
    assert consent.status == "error"


# The walls of DataDome, PerimeterX and Cloudflare as they answer a reader they take for a bot
DATADOME_WALL = (
    '<html lang="en"><head><title>lemonde.fr</title></head><body><p id="cmsg">Please enable JS'
    " and disable any ad blocker</p><script>var dd={'rt':'c','cid':'AHrlqAAAAAMA','t':'fe',"
    "'host':'geo.captcha-delivery.com'}</script>"
    '<script src="https://ct.captcha-delivery.com/c.js"></script></body></html>'
)
PERIMETERX_WALL = (
    "<!DOCTYPE html><html><head><title>Access to this page has been denied</title></head>"
    '<body><div id="px-captcha"></div><p>Press &amp; Hold to confirm you are a human (and not'
    ' a bot).</p><script src="/px/captcha.js"></script></body></html>'
)
CLOUDFLARE_BLOCK = (
    "<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head><body>"
    '<div id="cf-wrapper"><h1 data-translate="block_headline">Sorry, you have been blocked</h1>'
    "<p>This website is using a security service to protect itself from online attacks.</p>"
    "</div></body></html>"
)
CLOUDFLARE_CHALLENGE = (
    '<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title></head><body>'
    "<noscript>Enable JavaScript and cookies to continue</noscript><script>(function(){"
    "window._cf_chl_opt={cvId: '3',cType: 'managed'};var a=document.createElement('script');"
    "a.src='/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1?ray=8e6f';"
    "document.getElementsByTagName('head')[0].appendChild(a);}());</script></body></html>"
)


@pytest.mark.parametrize(
    ("wall", "headers"),
    [
        (DATADOME_WALL, {}),
        (PERIMETERX_WALL, {}),
        (CLOUDFLARE_BLOCK, {"Server": "cloudflare"}),
        (CLOUDFLARE_CHALLENGE, {"cf-mitigated": "challenge"}),
    ],
    ids=["datadome", "perimeterx", "cloudflare-block", "cloudflare-challenge"],
)
def test_a_wall_answering_403_is_an_error_not_a_restriction(
    client: httpx.Client, server: FixtureServer, wall: str, headers: dict[str, str]
) -> None:
    """Anti-bot services refuse a reader they take for a bot with a 403 and their page:
    files, players and posts were "restricted" (dead embeds), and a post's reader did
    not heed Cloudflare's ``cf-mitigated: challenge`` that the file's check heeds."""
    status = f"/api/v1/statuses/{mastodon.STATUS_ID}"  # the test server is the instance
    for path in ("/v/clip.mp4", "/player/3", status):
        server.add_status(path, 403, wall.encode(), {"Content-Type": "text/html", **headers})
    post = server.url(f"/@{mastodon.USER}/{mastodon.STATUS_ID}")
    prober = Prober(client, None)
    for url, kind, platform in (
        (server.url("/v/clip.mp4"), "file", None),
        (server.url("/player/3"), "player", None),
        (post, "platform", "mastodon"),
    ):
        result = prober.check(url, kind=kind, platform=platform)
        assert (result.status, result.http_status) == ("error", 403), (kind, result)
        assert "anti-bot, captcha or consent page" in result.reason


def test_single_sign_on_pages_are_login_pages(prober: Prober, server: FixtureServer) -> None:
    for path, login in (
        ("/a.jpg", "/common/oauth2/v2.0/authorize?client_id=x"),
        ("/b.jpg", "/authwall?trk=x"),
        # SAML: Azure AD's, ADFS's (each was "gone": a soft 404)
        ("/c.jpg", "/8a2f-tenant/saml2?SAMLRequest=fZJLT8MwEITv"),
        ("/d.jpg", "/adfs/ls/?SAMLRequest=fZJLT8MwEITv&RelayState=x"),
    ):
        server.add_redirect(path, login)
        server.add_page(login.split("?")[0], "<html><form><input name=password></form></html>")
        assert check_file(prober, server.url(path)).status == "restricted", path


def test_sign_in_words_count_only_as_words_of_their_own(
    prober: Prober, server: FixtureServer
) -> None:
    """A live blog reached through a redirect was "redirected to a login page", a dead
    embed, when its slug held the letters: "signin" in "signing", "log-in" in "blog-in"."""
    blog = (
        f"<html><body><p>UPDATE 1800 GMT</p><iframe src='{YOUTUBE_EMBED}'></iframe></body></html>"
    )
    for number, slug in enumerate(
        (
            "peace-deal-signing-ceremony-live",
            "minister-resigning-live-updates",
            "ukraine-live-blog-in-kyiv",
            "facebook-login-outage-live",  # the word, in an article's title
        )
    ):
        server.add_redirect(f"/r/{number}", f"/world/2026/nov/27/{slug}", 301)
        server.add_page(f"/world/2026/nov/27/{slug}", blog)
        for kind in ("page", "player"):
            result = prober.check(server.url(f"/r/{number}"), kind=kind, platform=None)
            assert result.status == "live", (slug, kind, result)
    form = "<html><form><input name=password></form></html>"
    for number, login in enumerate(
        ("/wp-login.php?redirect_to=x", "/users/sign_in", "/account/sign-in?next=/v/1")
    ):
        server.add_redirect(f"/v/{number}.mp4", login)
        server.add_page(login.split("?")[0], form)
        assert check_file(prober, server.url(f"/v/{number}.mp4")).status == "restricted", login


def test_a_player_sent_to_a_consent_or_sign_in_hosts_front_page_is_not_gone(
    client: httpx.Client,
) -> None:
    """Its front page was taken for the site's home page (a removed video's player sent
    there plays other videos): "gone", where a wall or a sign-in says nothing of it."""
    prober = Prober(client, None)
    with respx.mock() as router:
        for number, front in (
            (1, "https://consent.example.org/?continue=x"),
            (2, "https://login.example.org/"),
        ):
            moved = httpx.Response(302, headers={"location": front})
            router.get(f"https://news.example/embed/{number}").mock(return_value=moved)
        router.get(host="consent.example.org").mock(
            return_value=httpx.Response(200, html=CONSENT_PAGE)
        )
        form = "<html><form><input name=password></form></html>"
        router.get(host="login.example.org").mock(return_value=httpx.Response(200, html=form))
        consent = prober.check("https://news.example/embed/1", kind="player", platform=None)
        sign_in = prober.check("https://news.example/embed/2", kind="player", platform=None)
    assert (consent.status, sign_in.status) == ("error", "restricted"), (consent, sign_in)


def test_a_file_is_media_to_the_check_as_capture_takes_it(
    prober: Prober, server: FixtureServer
) -> None:
    """A Windows Media file served as application/octet-stream is media by its address's
    extension, and archived so; the check, which did not look at the address, said
    "soft 404: not media" and told the editors it was gone."""
    asf = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c") + bytes(range(256)) * 8
    server.add_bytes("/old/clip.wmv", asf, "application/octet-stream")
    assert check_file(prober, server.url("/old/clip.wmv")).status == "live"


def test_lost_media_redirected_elsewhere_is_gone(
    prober: Prober, server: FixtureServer, media: MediaSet
) -> None:
    """A removed image redirected to the host's placeholder (imgur's ``/removed.png``)
    and a removed video's player URL sent to the home page (which plays other videos)
    were live; a tag manager's ``<noscript><iframe>`` counted as a player."""
    server.add_file("/removed.png", media.photo_a, content_type="image/png")
    server.add_redirect("/i/abc123.jpg", "/removed.png")
    server.add_redirect("/player/99", "/")
    server.add_page("/", "<html><body><video src='/other.mp4'></video></body></html>")
    server.add_page(
        "/player/gtm",
        "<html><body><noscript><iframe src='https://www.googletagmanager.com/ns.html?id=GTM-X'"
        " height=0 width=0></iframe></noscript><h1>This video has been removed</h1></body></html>",
    )
    image = check_file(prober, server.url("/i/abc123.jpg"))
    assert (image.status, image.reason) == (
        "gone",
        "redirected to a placeholder (127.0.0.1/removed.png, HTTP 200)",
    )
    home = prober.check(server.url("/player/99"), kind="player", platform=None)
    assert home.status == "gone" and "home page" in home.reason
    tagged = prober.check(server.url("/player/gtm"), kind="player", platform=None)
    assert tagged.status == "gone"


def test_a_photo_named_for_a_removal_is_no_placeholder(
    prober: Prober, server: FixtureServer, media: MediaSet
) -> None:
    """A redirect to ``…/lenin-statue-removed-from-square.jpg``, a photograph served as
    one, was "redirected to a placeholder" (gone): a word of the name was enough. A name
    that is a placeholder's, with a size to it, still is one."""
    for number, name in enumerate(
        ("lenin-statue-removed-from-square.jpg", "tweet-deleted-by-minister.jpg")
    ):
        server.add_file(f"/uploads/2026/11/{name}", media.photo_a, content_type="image/jpeg")
        server.add_redirect(f"/img/{number}", f"/uploads/2026/11/{name}")
        assert check_file(prober, server.url(f"/img/{number}")).status == "live", name
    server.add_file("/images/photo_unavailable_t.gif", media.photo_a, content_type="image/gif")
    server.add_redirect("/photos/77.jpg", "/images/photo_unavailable_t.gif")
    placeholder = check_file(prober, server.url("/photos/77.jpg"))
    assert (placeholder.status, placeholder.reason) == (
        "gone",
        "redirected to a placeholder (127.0.0.1/images/photo_unavailable_t.gif, HTTP 200)",
    )


def test_a_hanging_server_times_out_as_an_error(server: FixtureServer) -> None:
    server.add_hang("/slow.mp4", seconds=10)
    with httpx.Client(trust_env=False, timeout=0.3) as client:
        started = time.monotonic()
        result = check_file(Prober(client, None), server.url("/slow.mp4"))
    assert result == CheckResult("error", "timed out waiting for data", None, None, "http-range")
    assert time.monotonic() - started < 2


def test_connection_refused_is_an_error(prober: Prober) -> None:
    result = check_file(prober, f"http://127.0.0.1:{closed_port()}/clip.mp4")
    assert result.status == "error"
    assert result.reason.startswith("connection failed:")
    assert result.probe == "http-head"


def test_the_ssrf_guard_refusal_is_an_error_not_gone(server: FixtureServer) -> None:
    with httpx.Client(transport=GuardedTransport(), trust_env=False) as client:
        result = check_file(Prober(client, None), server.url("/clip.mp4"))
    assert result.status == "error"
    assert result.reason.startswith("refused: 127.0.0.1 resolves to non-public address")
    assert server.requests == []


def test_unsupported_schemes_and_kinds(prober: Prober) -> None:
    assert prober.check("ftp://example.org/a.mp4", kind="file", platform=None).status == "error"
    with pytest.raises(ValueError):
        prober.check("https://example.org/a.mp4", kind="video", platform=None)


# -- player pages and article pages ---------------------------------------------------

PLAYER = """<!doctype html><html><head><meta property="og:title" content="Fighters near the Citadel">
<meta property="og:video" content="/media/clip.mp4"></head>
<body><video controls src="/media/clip.mp4"></video></body></html>"""
PLAYER_GONE = """<!doctype html><html><head><title>Video</title>
<meta property="og:image" content="/static/share-card.jpg"></head>
<body><div class="error"><h1>This video has been removed</h1><p>The video you are looking for
is no longer available.</p></div></body></html>"""
PLAYER_SCRIPTED = """<!doctype html><html><head><script src="/js/jwplayer.js"></script></head>
<body><div id="player"></div><script>jwplayer("player").setup({file: "https://cdn.example.org/hls/7/master.m3u8"});</script>
</body></html>"""


@pytest.mark.parametrize(
    ("page", "expected", "reason"),
    [
        (PLAYER, "live", "HTTP 200: player page holds media ("),
        (PLAYER_GONE, "gone", "soft 404: player page holds no media"),
        (PLAYER_SCRIPTED, "live", "HTTP 200: player page names a media file"),
    ],
)
def test_player_pages(
    prober: Prober, server: FixtureServer, page: str, expected: str, reason: str
) -> None:
    server.add_page("/player/7", page)
    result = prober.check(server.url("/player/7"), kind="player", platform=None)
    assert (result.status, result.probe, result.http_status) == (expected, "player-page", 200)
    assert result.reason.startswith(reason)


# Cloudflare's bot-detection snippet, which it puts on every page of the sites it serves
CLOUDFLARE_JSD = (
    "<script>(function(){function c(){var b=a.contentDocument||a.contentWindow.document;"
    "if(b){var d=b.createElement('script');d.innerHTML=\"window.__CF$cv$params={r:'8e6f1a2b'"
    ",t:'MTczMjcxMjAwMC4wMDAwMDA='};var a=document.createElement('script');a.nonce='';"
    "a.src='/cdn-cgi/challenge-platform/scripts/jsd/main.js';"
    "document.getElementsByTagName('head')[0].appendChild(a);\";"
    "b.getElementsByTagName('head')[0].appendChild(d)}}if(document.body){var a=document."
    "createElement('iframe');a.height=1;a.width=1;a.style.visibility='hidden';"
    "document.body.appendChild(a);c()}})();</script>"
)


def test_cloudflares_bot_detection_snippet_is_no_wall(
    prober: Prober, server: FixtureServer
) -> None:
    """A removed video's player page and an error page served for a photo, on a site
    behind Cloudflare, were "an anti-bot page answered" (an error, checked for ever)
    instead of gone: the snippet on every page names Cloudflare's challenge platform."""
    server.add_page("/embed/v/9911", PLAYER_GONE.replace("</body>", CLOUDFLARE_JSD + "</body>"))
    server.add_page(
        "/uploads/strike.jpg",
        f"<!doctype html><title>Page not found</title><h1>404</h1>{CLOUDFLARE_JSD}",
    )
    player = prober.check(server.url("/embed/v/9911"), kind="player", platform=None)
    assert (player.status, player.reason) == ("gone", "soft 404: player page holds no media")
    photo = check_file(prober, server.url("/uploads/strike.jpg"))
    assert photo.status == "gone" and photo.reason.startswith("soft 404: HTML page")
    localized = CLOUDFLARE_CHALLENGE.replace("Just a moment...", "Einen Moment bitte…")
    server.add_page("/embed/v/9912", localized)  # the challenge itself still is a wall
    wall = prober.check(server.url("/embed/v/9912"), kind="player", platform=None)
    assert wall.status == "error"


def test_player_url_that_is_media_itself_is_live(
    prober: Prober, server: FixtureServer, media: MediaSet
) -> None:
    server.add_file("/player/8", media.clip_b, content_type="video/mp4")
    result = prober.check(server.url("/player/8"), kind="player", platform=None)
    assert result.status == "live"


def test_player_page_status_codes(prober: Prober, server: FixtureServer) -> None:
    server.add_status("/player/9", 410)
    result = prober.check(server.url("/player/9"), kind="player", platform=None)
    assert result == CheckResult("gone", "HTTP 410", 410, None, "player-page")


@pytest.mark.parametrize(
    ("status", "expected"), [(200, "live"), (404, "gone"), (403, "restricted")]
)
def test_article_pages(prober: Prober, server: FixtureServer, status: int, expected: str) -> None:
    server.add_status(
        "/syria-daily", status, b"<html><body>article</body></html>", {"Content-Type": "text/html"}
    )
    result = prober.check(server.url("/syria-daily"), kind="page", platform=None)
    assert (result.status, result.http_status, result.probe) == (expected, status, "http-get")


# -- platforms: oEmbed --------------------------------------------------------------


# fmt: off
YOUTUBE_ANSWERS = [
    (httpx.Response(200, json=YOUTUBE_OEMBED), "live", "YouTube oEmbed: 200"),
    (text(404, "Not Found"), "gone", "YouTube oEmbed: 404 (removed, deleted or never existed)"),
    (text(400, "Bad Request"), "gone", "YouTube oEmbed: 400 (no such video)"),
    (text(401, "Unauthorized"), "restricted", "YouTube oEmbed: 401 (private or embedding disabled)"),
    (text(403, "Forbidden"), "restricted", "YouTube oEmbed: 403 (private)"),
    (text(200, "Forbidden"), "restricted", "YouTube oEmbed: 200 Forbidden (private)"),
    (text(503, "Service Unavailable"), "error", "YouTube oEmbed 503"),
    (text(500, "<html><body>Internal error</body></html>"), "error", "YouTube oEmbed 500"),
]
# fmt: on


@pytest.mark.parametrize(("response", "expected", "reason"), YOUTUBE_ANSWERS)
def test_youtube_oembed(
    prober: Prober, response: httpx.Response, expected: str, reason: str
) -> None:
    with respx.mock(assert_all_called=True) as router:
        route = router.get(DEFAULT_ENDPOINTS["youtube"]).mock(return_value=response)
        result = prober.check(YOUTUBE_EMBED, kind="platform", platform="youtube")
    assert (result.status, result.reason, result.probe) == (expected, reason, "oembed:youtube")
    asked = route.calls.last.request.url
    assert asked.params["url"] == YOUTUBE_WATCH  # the canonical post, tracking dropped
    assert asked.params["format"] == "json"


def test_oembed_rate_limit_keeps_retry_after(prober: Prober) -> None:
    with respx.mock() as router:
        router.get(DEFAULT_ENDPOINTS["youtube"]).mock(
            return_value=httpx.Response(
                429, text="Too Many Requests", headers={"Retry-After": "3600"}
            )
        )
        result = prober.check(YOUTUBE_WATCH, kind="platform", platform="youtube")
    assert result == CheckResult(
        "error", "YouTube oEmbed 429 (rate limited)", 429, 3600.0, "oembed:youtube"
    )


# fmt: off
PLATFORM_ANSWERS = [
    ("vimeo", "https://player.vimeo.com/video/76979871?h=", httpx.Response(200, json=VIMEO_OEMBED), "live", "Vimeo oEmbed: 200"),
    ("vimeo", "https://vimeo.com/76979871", httpx.Response(200, json=VIMEO_DOMAIN_LIMITED), "live", "Vimeo oEmbed: 200 (embedding limited to the owner's chosen domains)"),
    ("vimeo", "https://vimeo.com/76979871", text(404, "404 Not Found"), "gone", "Vimeo oEmbed: 404 (deleted or hidden)"),
    ("vimeo", "https://vimeo.com/76979871", text(403, "403 Forbidden"), "restricted", "Vimeo oEmbed: 403 (private or embedding restricted)"),
    ("twitter", "https://x.com/Interior/status/507185938620219395", httpx.Response(200, json=X_OEMBED), "live", "X oEmbed: 200"),
    ("twitter", "https://x.com/Interior/status/507185938620219395", httpx.Response(404), "gone", "X oEmbed: 404 (post deleted or account suspended)"),
    ("twitter", "https://twitter.com/Interior/status/507185938620219395", httpx.Response(403, json=X_PROTECTED), "restricted", "X oEmbed: 403 Sorry, you are not authorized to see this status. (protected account)"),
    ("tiktok", "https://www.tiktok.com/@scout2015/video/6718335390845095173", httpx.Response(200, json=TIKTOK_OEMBED), "live", "TikTok oEmbed: 200"),
    ("tiktok", "https://www.tiktok.com/@scout2015/video/6718335390845095173", httpx.Response(400, json=TIKTOK_ERROR), "gone", "TikTok oEmbed: 400 Something went wrong (removed or no such post)"),
    ("tiktok", "https://www.tiktok.com/@scout2015/video/6718335390845095173", httpx.Response(200, json=TIKTOK_ERROR), "gone", "TikTok oEmbed: 200 Something went wrong (removed or no such post)"),
    ("dailymotion", "https://www.dailymotion.com/embed/video/x8j2k1z", httpx.Response(200, json=DAILYMOTION_OEMBED), "live", "Dailymotion oEmbed: 200"),
    ("dailymotion", "https://dai.ly/x8j2k1z", httpx.Response(404, json={"error": {"code": 404, "message": "This video does not exist or has been deleted.", "type": "not_found"}}), "gone", "Dailymotion oEmbed: 404 This video does not exist or has been deleted. (deleted or never existed)"),
    ("dailymotion", "https://www.dailymotion.com/video/x8j2k1z", httpx.Response(403, json={"error": {"code": 403, "message": "This video is private.", "type": "access_forbidden"}}), "restricted", "Dailymotion oEmbed: 403 This video is private. (private or password-protected)"),
]
# fmt: on


@pytest.mark.parametrize(("platform", "url", "response", "expected", "reason"), PLATFORM_ANSWERS)
def test_platform_oembed(
    prober: Prober, platform: str, url: str, response: httpx.Response, expected: str, reason: str
) -> None:
    with respx.mock(assert_all_called=True) as router:
        router.get(DEFAULT_ENDPOINTS[platform]).mock(return_value=response)
        result = prober.check(url, kind="platform", platform=platform)
    assert (result.status, result.reason, result.probe) == (expected, reason, f"oembed:{platform}")


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        (httpx.Response(200, json=TIKTOK_OEMBED), "live"),
        (httpx.Response(400, json=TIKTOK_ERROR), "gone"),
    ],
)
def test_a_tiktok_post_said_to_be_gone_is_asked_about_once_more(
    prober: Prober, second: httpx.Response, expected: str
) -> None:
    """TikTok's endpoint answers "Something went wrong" now and then for a post that
    is there: only a second such answer is taken for a removal."""
    url = "https://www.tiktok.com/@scout2015/video/6718335390845095173"
    with respx.mock() as router:
        route = router.get(DEFAULT_ENDPOINTS["tiktok"])
        route.side_effect = [httpx.Response(400, json=TIKTOK_ERROR), second]
        result = prober.check(url, kind="platform", platform="tiktok")
    assert (result.status, route.call_count) == (expected, 2)


OEMBED_POSTS = {
    "vimeo": "https://vimeo.com/76979871",
    "dailymotion": "https://www.dailymotion.com/video/x8j2k1z",
    "tiktok": "https://www.tiktok.com/@scout2015/video/6718335390845095173",
}


@pytest.mark.parametrize("platform", sorted(OEMBED_POSTS))
def test_an_oembed_endpoint_answering_with_a_cloudflare_challenge_is_no_restriction(
    prober: Prober, platform: str
) -> None:
    """A challenge comes as a 403, which each platform's table reads as a private post:
    the post was "restricted", a conclusive verdict (no yt-dlp asked), reported dead
    to editors and sent to the webhook."""
    challenge = httpx.Response(
        403,
        text=CLOUDFLARE_CHALLENGE,
        headers={"content-type": "text/html; charset=UTF-8", "cf-mitigated": "challenge"},
    )
    with respx.mock() as router:
        router.get(DEFAULT_ENDPOINTS[platform]).mock(return_value=challenge)
        result = prober.check(OEMBED_POSTS[platform], kind="platform", platform=platform)
    assert (result.status, result.http_status, result.probe) == ("error", 403, f"oembed:{platform}")
    assert "anti-bot, captcha or consent page" in result.reason


def test_oembed_unreachable_without_ytdlp_is_an_error(prober: Prober) -> None:
    with respx.mock() as router:
        router.get(DEFAULT_ENDPOINTS["twitter"]).mock(side_effect=httpx.ConnectTimeout("timed out"))
        result = prober.check(
            "https://twitter.com/i/status/1003", kind="platform", platform="twitter"
        )
    assert result == CheckResult(
        "error", "X oEmbed: timed out connecting", None, None, "oembed:twitter"
    )


def test_oembed_endpoints_can_point_at_a_local_server(
    client: httpx.Client, server: FixtureServer
) -> None:
    def oembed(request: RequestHandler) -> None:
        asked = httpx.URL(request.path).params["url"]
        if asked == YOUTUBE_WATCH:
            request.send_simple(200, json.dumps(YOUTUBE_OEMBED).encode(), "application/json")
        else:
            request.send_simple(404, b"Not Found", "text/html; charset=utf-8")

    server.add_handler("/oembed", oembed)
    prober = Prober(client, None, oembed_endpoints={"youtube": server.url("/oembed")})
    assert prober.check(YOUTUBE_EMBED, kind="platform", platform="youtube").status == "live"
    gone = prober.check("https://youtu.be/Removed0001", kind="platform", platform=None)
    assert (gone.status, gone.http_status) == ("gone", 404)
    assert server.hits("/oembed") == 2


def test_oembed_endpoint_behind_the_ssrf_guard_is_an_error(server: FixtureServer) -> None:
    with httpx.Client(transport=GuardedTransport(), trust_env=False) as guarded:
        prober = Prober(guarded, None, oembed_endpoints={"youtube": server.url("/oembed")})
        result = prober.check(YOUTUBE_WATCH, kind="platform", platform="youtube")
    assert (result.status, result.probe) == ("error", "oembed:youtube")
    assert result.reason.startswith("YouTube oEmbed: refused: 127.0.0.1 resolves to non-public")


@pytest.mark.parametrize(
    ("widget", "status", "reason"),
    [
        (telegram_widget(album("https://cdn4.telesco.pe/file/a.jpg")), "live", "(photos)"),
        (telegram_widget(""), "live", "the post is there (text)"),
        ('<div class="tgme_widget_message_error">Post not found</div>', "gone", "Post not found"),
        (None, "error", "HTTP 502"),
    ],
)
def test_telegram_posts_are_checked_on_their_widget_page(
    client: httpx.Client, server: FixtureServer, widget: str | None, status: str, reason: str
) -> None:
    """Telegram has no oEmbed, and yt-dlp cannot tell a photo post from a deleted one:
    the page its embed widget shows says "Post not found" when the post is gone."""
    if widget is None:
        server.add_status("/AleppoToday/1234", 502)
    else:
        server.add_page("/AleppoToday/1234", widget)
    prober = Prober(client, None, posts=PostsConfig(telegram_url=server.url()))
    result = prober.check("https://t.me/AleppoToday/1234", kind="platform", platform="telegram")
    assert (result.status, result.probe) == (status, "telegram-widget")
    assert reason in result.reason
    assert [r.path for r in server.requests] == ["/AleppoToday/1234?embed=1&mode=tme"]


REDDIT_PHOTO = reddit.post_data(
    post_hint="image", url_overridden_by_dest="https://i.redd.it/a8.jpg"
)
IMGUR_VIDEO = imgur.post(
    imgur.POST_ID,
    [imgur.medium("video", f"https://i.imgur.com/{imgur.POST_ID}.mp4", imgur.POST_ID, "video/mp4")],
)
INSTAGRAM_PHOTO = instagram.shortcode_media("GraphImage", "https://scontent.cdninstagram.com/a.jpg")


@pytest.mark.parametrize(
    ("platform", "answer", "status", "reason"),
    [
        ("reddit", reddit.answer(REDDIT_PHOTO), "live", "the post is there (photos)"),
        (  # the photo is still listed, and archived, but readers see "[removed]"
            "reddit",
            reddit.answer({**REDDIT_PHOTO, "removed_by_category": "moderator"}),
            "gone",
            "Reddit: the post was removed (moderator)",
        ),
        ("reddit", None, "gone", "HTTP 404"),
        ("instagram", instagram.embed_page(INSTAGRAM_PHOTO).encode(), "live", "(photos)"),
        ("instagram", None, "gone", "HTTP 404"),
        ("threads", threads.post_page(threads.post()).encode(), "live", "is there (text)"),
        ("threads", None, "gone", "HTTP 404"),
        ("bluesky", bluesky.answer(bluesky.post_view()), "live", "the post is there (text)"),
        ("bluesky", b'{"posts": []}', "gone", "Bluesky: the post was not found"),
        ("mastodon", mastodon.answer(mastodon.status("", [])), "live", "is there (text)"),
        ("mastodon", None, "gone", "HTTP 404"),
        ("imgur", imgur.answer(IMGUR_VIDEO), "live", "the post is there (a video)"),
        ("imgur", None, "gone", "HTTP 404"),
    ],
)
def test_posts_are_checked_by_what_their_platforms_widgets_read(
    client: httpx.Client,
    server: FixtureServer,
    platform: str,
    answer: bytes | None,
    status: str,
    reason: str,
) -> None:
    """yt-dlp sees videos only: to it a photo post looks deleted, or unsupported (and
    Imgur's videos are files, not a video for yt-dlp: still "a video")."""
    posts = PostsConfig(
        reddit_url=server.url(),
        instagram_url=server.url(),
        threads_url=server.url(),
        bluesky_url=server.url(),
        imgur_url=server.url(),
    )
    url, path, probe = {
        "reddit": (
            f"https://www.reddit.com{reddit.PERMALINK}",
            f"/comments/{reddit.POST_ID}/.json",
            "reddit-json",
        ),
        "instagram": (
            instagram.POST_URL,
            f"/p/{instagram.CODE}/embed/captioned/",
            "instagram-widget",
        ),
        "threads": (threads.POST_URL, f"/@{threads.ACCOUNT}/post/{threads.CODE}", "threads-page"),
        "bluesky": (bluesky.POST_URL, "/xrpc/app.bsky.feed.getPosts", "bluesky-api"),
        "mastodon": (  # the test server is the instance
            server.url(f"/@{mastodon.USER}/{mastodon.STATUS_ID}"),
            f"/api/v1/statuses/{mastodon.STATUS_ID}",
            "mastodon-api",
        ),
        "imgur": (
            f"https://imgur.com/{imgur.POST_ID}",
            f"/post/v1/media/{imgur.POST_ID}",
            "imgur-api",
        ),
    }[platform]
    if answer is None:
        server.add_status(path, 404)
    else:
        server.add_bytes(
            path,
            answer,
            "text/html" if platform in ("instagram", "threads") else "application/json",
        )
    result = Prober(client, None, posts=posts).check(url, kind="platform", platform=platform)
    assert (result.status, result.probe) == (status, probe)
    assert reason in result.reason


@pytest.mark.parametrize(("single", "status"), [(True, "live"), (False, "gone")])
def test_an_imgur_gallery_post_is_an_album_or_else_a_single_post(
    client: httpx.Client, server: FixtureServer, single: bool, status: str
) -> None:
    """The albums endpoint's 404 says only that the gallery post is no album."""
    server.add_status(f"/post/v1/albums/{imgur.POST_ID}", 404)
    single_path = f"/post/v1/media/{imgur.POST_ID}"
    if single:
        server.add_bytes(single_path, imgur.answer(IMGUR_VIDEO), "application/json")
    else:
        server.add_status(single_path, 404)
    prober = Prober(client, None, posts=PostsConfig(imgur_url=server.url()))
    gallery = f"https://imgur.com/gallery/{imgur.POST_ID}"
    result = prober.check(gallery, kind="platform", platform="imgur")
    assert (result.status, result.probe, result.http_status) == (
        status,
        "imgur-api",
        200 if single else 404,
    )


def test_an_imgur_refusal_names_no_reason_and_says_nothing_of_the_post(
    client: httpx.Client, server: FixtureServer
) -> None:
    """A bare 403 was "restricted": every Imgur post would turn dead the day the
    client id is refused."""
    server.add_status(f"/post/v1/media/{imgur.POST_ID}", 403, b'{"errors":[{"code":"403"}]}')
    prober = Prober(client, None, posts=PostsConfig(imgur_url=server.url()))
    result = prober.check(f"https://imgur.com/{imgur.POST_ID}", kind="platform", platform="imgur")
    assert (result.status, result.probe) == ("error", "imgur-api")
    assert "no reason given" in result.reason


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (b'{"reason": "private", "message": "Forbidden", "error": 403}', "gone"),
        (b"<html><body>You've been blocked by network security.</body></html>", "error"),
    ],
    ids=["private", "blocked address"],
)
def test_a_reddit_refusal_is_read_as_capture_reads_it(
    client: httpx.Client, server: FixtureServer, answer: bytes, status: str
) -> None:
    """A 403 that names why (a subreddit gone private) is gone, as at capture; one that
    names nothing is a block of this address, which says nothing of the post (it was
    reported as restricted, a dead embed)."""
    server.add_status(f"/comments/{reddit.POST_ID}/.json", 403, answer)
    posts = PostsConfig(reddit_url=server.url())
    url = f"https://www.reddit.com{reddit.PERMALINK}"
    result = Prober(client, None, posts=posts).check(url, kind="platform", platform="reddit")
    assert (result.status, result.http_status) == (status, 403)


def test_no_oembed_and_no_ytdlp_cannot_tell(prober: Prober) -> None:
    with respx.mock(assert_all_called=False):  # no request at all
        facebook = prober.check(
            "https://www.facebook.com/watch/?v=1234567890", kind="platform", platform="facebook"
        )
        channel = prober.check(
            "https://www.youtube.com/@AleppoMediaCentre", kind="platform", platform="youtube"
        )
    assert facebook == CheckResult("error", "no probe for facebook URLs without yt-dlp", None)
    assert channel.status == "error"  # a channel is not a post: its oEmbed 404 would lie


# -- platforms: yt-dlp ----------------------------------------------------------------


# fmt: off
YTDLP_ANSWERS = [
    ("https://www.youtube.com/watch?v=LiveVideo01", "live", "yt-dlp: media found (Youtube LiveVideo01)"),
    ("https://www.youtube.com/watch?v=Removed0001", "gone", "yt-dlp: [youtube] Removed0001: Video unavailable. This video has been removed by the uploader"),
    ("https://www.youtube.com/watch?v=Terminated1", "gone", "has been terminated"),
    ("https://www.youtube.com/watch?v=TermsOfServ", "gone", "removed for violating YouTube's Terms of Service"),
    ("https://www.youtube.com/watch?v=Unavailable", "gone", "Video unavailable"),
    ("https://www.youtube.com/watch?v=Http404Page", "gone", "HTTP Error 404: Not Found"),
    ("https://www.youtube.com/watch?v=PrivateVid1", "restricted", "yt-dlp: [youtube] PrivateVid1: Private video. Sign in if you've been granted access to this video"),
    ("https://www.youtube.com/watch?v=AgeGated001", "restricted", "Sign in to confirm your age. This video may be inappropriate for some users"),
    ("https://www.youtube.com/watch?v=GeoBlocked1", "restricted", "not made this video available in your country"),
    ("https://www.youtube.com/watch?v=MembersOnly", "restricted", "members-only content"),
    ("https://www.youtube.com/watch?v=BotCheck001", "error", "not a bot"),
    ("https://www.youtube.com/watch?v=TryLater001", "error", "try again later"),
    ("https://www.youtube.com/watch?v=RateLimited", "error", "HTTP Error 429"),
    ("https://www.youtube.com/watch?v=ApiGone0404", "error", "Unable to download API page: HTTP Error 404"),
    ("https://www.youtube.com/watch?v=TimedOut001", "error", "timed out"),
    ("https://www.youtube.com/watch?v=NoNetwork01", "error", "Temporary failure in name resolution"),
    ("https://twitter.com/i/status/1001", "restricted", "NSFW tweet requires authentication"),
    ("https://twitter.com/i/status/1002", "restricted", "protected tweet"),
    ("https://twitter.com/i/status/1003", "gone", "This Post was deleted by the Post author"),
    ("https://twitter.com/i/status/1004", "gone", "This Post is from a suspended account"),
    ("https://twitter.com/i/status/1005", "live", "No video could be found in this tweet"),
    ("https://www.instagram.com/p/EmptyResp/", "error", "Instagram sent an empty media response"),
    ("https://www.instagram.com/p/RateLimit/", "error", "rate-limit reached or login required"),
    ("https://www.instagram.com/p/FollowOnly/", "restricted", "registered users who follow this account"),
    ("https://vimeo.com/76979871", "restricted", "Cannot download embed-only video"),
    ("https://www.facebook.com/watch/?v=1234567890", "restricted", "Facebook said"),
    ("https://www.tiktok.com/@scout2015/video/7106594312292453675", "restricted", "You do not have permission to view this post"),
    ("https://www.tiktok.com/@scout2015/video/7106594312292453676", "error", "Your IP address is blocked"),
    ("https://www.dailymotion.com/video/x8j2k1z", "gone", "dailymotion said: Content deleted"),
    ("https://imgur.com/gallery/Hk3vB9z", "live", "is not a video or animated image"),
]
# fmt: on


@pytest.mark.parametrize(("url", "expected", "reason"), YTDLP_ANSWERS)
def test_ytdlp_classification(client: httpx.Client, url: str, expected: str, reason: str) -> None:
    prober = Prober(client, fake_ytdlp(), oembed_endpoints=NO_OEMBED)
    with respx.mock(assert_all_called=False) as router:  # Instagram's widget: a login wall
        router.route(host="www.instagram.com").mock(return_value=httpx.Response(200, html=LOGIN))
        # Imgur's API, over capacity: yt-dlp is asked what a photo post is to it
        router.route(host="api.imgur.com").mock(return_value=httpx.Response(503))
        result = prober.check(url, kind="platform", platform=None)
    # when neither can tell, the widget's answer stands, with yt-dlp's reason beside it
    asked = "instagram-widget" if "instagram" in url and expected == "error" else "yt-dlp"
    assert (result.status, result.probe) == (expected, asked)
    assert reason in result.reason
    assert "--cookies" not in result.reason and "\n" not in result.reason


def test_ytdlp_http_status_is_kept(client: httpx.Client) -> None:
    prober = Prober(client, fake_ytdlp(), oembed_endpoints=NO_OEMBED)
    result = prober.check("https://example.org/dead", kind="platform", platform="generic")
    assert (result.status, result.http_status) == ("gone", 410)


def test_ytdlp_probe_is_metadata_only() -> None:
    command = probe_command(fake_ytdlp(), "https://www.youtube.com/watch?v=LiveVideo01", 20)
    assert {"--simulate", "--skip-download", "--dump-single-json", "--ignore-config"} <= set(
        command
    )
    assert "--no-simulate" not in command and "--write-info-json" not in command
    assert command[-2:] == ["--", "https://www.youtube.com/watch?v=LiveVideo01"]


def test_ytdlp_that_hangs_is_killed_at_the_time_out(client: httpx.Client) -> None:
    prober = Prober(client, fake_ytdlp(), oembed_endpoints=NO_OEMBED, ytdlp_timeout=0.5)
    started = time.monotonic()
    result = prober.check(
        "https://www.youtube.com/watch?v=Hangs000001", kind="platform", platform=None
    )
    assert result == CheckResult("error", "yt-dlp timed out after 0.5s", None, None, "yt-dlp")
    assert time.monotonic() - started < 3


def test_ytdlp_crash_is_an_error(client: httpx.Client) -> None:
    prober = Prober(client, fake_ytdlp(), oembed_endpoints=NO_OEMBED)
    result = prober.check(
        "https://www.youtube.com/watch?v=Crashes0001", kind="platform", platform=None
    )
    assert result == CheckResult("error", "yt-dlp crashed (SIGSEGV)", None, None, "yt-dlp")


def test_ytdlp_is_not_pointed_at_private_addresses(probe_log: Path) -> None:
    result = ytdlp_check(fake_ytdlp(allow_private=False), "http://127.0.0.1:8080/watch?v=x", 5)
    assert result.status == "error"
    assert result.reason.startswith("refused: 127.0.0.1 resolves to non-public address")
    assert probe_log.read_text() == ""


# -- platforms: oEmbed and yt-dlp together -------------------------------------------


def with_ytdlp(client: httpx.Client) -> Prober:
    return Prober(client, fake_ytdlp())


def test_oembed_live_needs_no_ytdlp(client: httpx.Client, probe_log: Path) -> None:
    with respx.mock() as router:
        router.get(DEFAULT_ENDPOINTS["youtube"]).mock(
            return_value=httpx.Response(200, json=YOUTUBE_OEMBED)
        )
        result = with_ytdlp(client).check(YOUTUBE_EMBED, kind="platform", platform="youtube")
    assert result.probe == "oembed:youtube"
    assert probe_log.read_text() == ""


def test_oembed_gone_gets_its_reason_from_ytdlp(client: httpx.Client, probe_log: Path) -> None:
    with respx.mock() as router:
        router.get(DEFAULT_ENDPOINTS["youtube"]).mock(return_value=text(404, "Not Found"))
        result = with_ytdlp(client).check(
            "https://youtu.be/Removed0001", kind="platform", platform="youtube"
        )
    assert (result.status, result.probe) == ("gone", "yt-dlp")
    assert result.reason.endswith("This video has been removed by the uploader")
    assert probe_log.read_text() == "https://www.youtube.com/watch?v=Removed0001\n"


def test_oembed_gone_stands_when_ytdlp_cannot_tell(client: httpx.Client) -> None:
    with respx.mock() as router:
        router.get(DEFAULT_ENDPOINTS["youtube"]).mock(return_value=text(404, "Not Found"))
        result = with_ytdlp(client).check(
            "https://youtu.be/TimedOut001", kind="platform", platform="youtube"
        )
    assert (result.status, result.probe, result.http_status) == ("gone", "oembed:youtube", 404)


def test_vimeo_404_that_still_plays_elsewhere_is_not_gone(client: httpx.Client) -> None:
    with respx.mock() as router:
        router.get(DEFAULT_ENDPOINTS["vimeo"]).mock(return_value=text(404, "404 Not Found"))
        result = with_ytdlp(client).check(
            "https://vimeo.com/76979871", kind="platform", platform="vimeo"
        )
    assert (result.status, result.probe) == ("restricted", "yt-dlp")


# fmt: off
YOUTUBE_401_CASES = [
    ("LiveVideo01", "restricted", "YouTube oEmbed: 401 (embedding disabled by the uploader; the video still plays on YouTube)"),
    ("PrivateVid1", "restricted", "yt-dlp: [youtube] PrivateVid1: Private video. Sign in if you've been granted access to this video"),
    ("BotCheck001", "restricted", "YouTube oEmbed: 401 (private or embedding disabled)"),
]
# fmt: on


@pytest.mark.parametrize(("video", "expected", "reason"), YOUTUBE_401_CASES)
def test_youtube_401_is_told_apart_by_ytdlp(
    client: httpx.Client, video: str, expected: str, reason: str
) -> None:
    with respx.mock() as router:
        router.get(DEFAULT_ENDPOINTS["youtube"]).mock(return_value=text(401, "Unauthorized"))
        result = with_ytdlp(client).check(
            f"https://www.youtube.com/watch?v={video}", kind="platform", platform="youtube"
        )
    assert (result.status, result.reason) == (expected, reason)


def test_oembed_outage_is_decided_by_ytdlp(client: httpx.Client) -> None:
    with respx.mock() as router:
        router.get(DEFAULT_ENDPOINTS["youtube"]).mock(return_value=text(503, "Service Unavailable"))
        result = with_ytdlp(client).check(
            "https://www.youtube.com/watch?v=LiveVideo01", kind="platform", platform="youtube"
        )
    assert (result.status, result.probe) == ("live", "yt-dlp")


def test_oembed_outage_and_ytdlp_failure_stay_an_error(client: httpx.Client) -> None:
    with respx.mock() as router:
        router.get(DEFAULT_ENDPOINTS["youtube"]).mock(
            return_value=httpx.Response(
                503, text="Service Unavailable", headers={"Retry-After": "60"}
            )
        )
        result = with_ytdlp(client).check(
            "https://www.youtube.com/watch?v=BotCheck001", kind="platform", platform="youtube"
        )
    assert (result.status, result.retry_after, result.probe) == ("error", 60.0, "oembed:youtube")
    assert result.reason.startswith("YouTube oEmbed 503; yt-dlp: ")


def test_a_wall_before_an_oembed_endpoint_leaves_the_post_to_ytdlp(
    client: httpx.Client, probe_log: Path
) -> None:
    """The wall's page alone (no ``cf-mitigated``) is known too, and yt-dlp decides."""
    with respx.mock() as router:
        router.get(DEFAULT_ENDPOINTS["youtube"]).mock(return_value=text(403, CLOUDFLARE_BLOCK))
        result = with_ytdlp(client).check(
            "https://www.youtube.com/watch?v=LiveVideo01", kind="platform", platform="youtube"
        )
    assert (result.status, result.probe) == ("live", "yt-dlp")
    assert "LiveVideo01" in probe_log.read_text()


def test_oembed_rate_limit_does_not_send_ytdlp(client: httpx.Client, probe_log: Path) -> None:
    with respx.mock() as router:
        router.get(DEFAULT_ENDPOINTS["twitter"]).mock(
            return_value=httpx.Response(429, headers={"Retry-After": "900"})
        )
        result = with_ytdlp(client).check(
            "https://twitter.com/i/status/1003", kind="platform", platform="twitter"
        )
    assert (result.status, result.retry_after) == ("error", 900.0)
    assert probe_log.read_text() == ""


def test_platforms_without_oembed_go_to_ytdlp(client: httpx.Client, probe_log: Path) -> None:
    with respx.mock(assert_all_called=False):  # no HTTP request from this process
        result = with_ytdlp(client).check(
            "https://www.facebook.com/watch/?v=1234567890", kind="platform", platform="facebook"
        )
    assert (result.status, result.probe) == ("restricted", "yt-dlp")
    assert probe_log.read_text() == "https://www.facebook.com/watch/?v=1234567890\n"


def test_an_instagram_widget_that_shows_nothing_gets_ytdlps_opinion(
    client: httpx.Client, probe_log: Path
) -> None:
    """Instagram shows some visitors a login wall in place of the post: that is no
    answer, and yt-dlp may still tell (a private account's post is restricted)."""
    with respx.mock() as router:
        wall = router.get("https://www.instagram.com/p/FollowOnly/embed/captioned/")
        wall.mock(return_value=httpx.Response(200, html=LOGIN))
        result = with_ytdlp(client).check(
            "https://www.instagram.com/reel/FollowOnly/?igsh=abc",
            kind="platform",
            platform="instagram",
        )
    assert (result.status, result.probe) == ("restricted", "yt-dlp")
    assert probe_log.read_text() == "https://www.instagram.com/reel/FollowOnly/\n"


# -- a deadline per request, hosts IDNA refuses, localised home pages -----------------


@pytest.mark.parametrize("kind", ["file", "player", "page", "oembed"])
def test_a_server_that_trickles_its_headers_is_cut_off_at_the_deadline(
    server: FixtureServer, kind: str
) -> None:
    """Each probe request has a deadline of twice the read time-out (here 0.5 s: 1 s),
    all told: a server sending its headers a byte at a time held a check for minutes.
    A blown deadline is a host that does not answer (its other checks are skipped)."""
    server.add_header_drip("/slow", "image/jpeg")
    network = NetworkConfig(allow_private_addresses=True, read_timeout=0.5, connect_timeout=1)
    with make_client(network, timeout=0.5) as client:
        prober = Prober(client, None, oembed_endpoints={"twitter": server.url("/slow")})
        started = time.monotonic()
        if kind == "oembed":
            url = "https://twitter.com/Interior/status/507185938620219395"
            result = prober.check(url, kind="platform", platform="twitter")
        else:
            result = prober.check(server.url("/slow"), kind=kind, platform=None)
        took = time.monotonic() - started
    assert took < 4, took
    assert result.status == "error" and result.unreachable, result
    assert result.reason.endswith("timed out: no whole answer within 1 s"), result.reason


def test_a_host_idna_refuses_is_an_unsupported_url_for_every_probe(
    prober: Prober, server: FixtureServer
) -> None:
    """``xn--abc-.com``: idna.IDNAError is no httpx error; it crashed ``archiver check``
    with a traceback, and in the daemon left the URL unchecked for ever. Asked at
    once, or met on a redirect."""
    bad = "http://xn--abc-.com/c.jpg"
    server.add_redirect("/r.jpg", bad)
    server.add_redirect("/xrpc/app.bsky.feed.getPosts", bad)
    with_posts = Prober(
        prober.client,
        None,
        oembed_endpoints={"twitter": server.url("/r.jpg")},
        posts=PostsConfig(bluesky_url=server.url()),
    )
    results = [
        *(prober.check(url, kind=kind, platform=None) for url in (bad, server.url("/r.jpg"))
          for kind in ("file", "player", "page")),
        with_posts.check(bluesky.POST_URL, kind="platform", platform="bluesky"),
        with_posts.check(
            "https://twitter.com/Interior/status/507185938620219395",
            kind="platform",
            platform="twitter",
        ),
    ]  # fmt: skip
    assert [r.status for r in results] == ["error"] * 8
    assert all(r.reason.endswith("unsupported URL") for r in results), results


@pytest.mark.parametrize("home", ["/en/", "/fr-fr/", "/pt_BR", "/es-419/"])
def test_a_player_sent_to_a_localised_home_page_is_gone(
    prober: Prober, server: FixtureServer, home: str
) -> None:
    """A removed video's player URL sent to ``/en/`` (the site's home page in English,
    which plays other videos) was live: only ``/`` was taken for the home page."""
    server.add_redirect("/player/7", home)
    server.add_page(home, "<html><body><video src='/other.mp4'></video></body></html>")
    result = prober.check(server.url("/player/7"), kind="player", platform=None)
    assert result.status == "gone" and "home page" in result.reason, result


def test_a_player_sent_to_an_article_in_a_language_is_no_home_page(
    prober: Prober, server: FixtureServer
) -> None:
    server.add_redirect("/player/8", "/en/2013/09/28/citadel")
    server.add_page(
        "/en/2013/09/28/citadel", "<html><body><video src='/c.mp4'></video></body></html>"
    )
    assert prober.check(server.url("/player/8"), kind="player", platform=None).status == "live"
