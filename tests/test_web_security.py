"""Who may read and write through the web app, and what errors give away (nothing)."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import lxml.html
import pytest
from PIL import Image
from starlette.requests import Request
from support import FixtureServer
from support.archiving import settings, store_as_earlier_versions_did
from support.browser import TOKEN, AppClient

from archiver.archive import Archive
from archiver.capture import Capturer
from archiver.config import config_from_dict, is_loopback
from archiver.errors import ConfigError
from archiver.index.models import Embed, Media, Page, Sighting
from archiver.logs import ThrottledEvent
from archiver.search import QueryError, SearchQuery, parse_when
from archiver.web import BindError, create_app, serve, start_background
from archiver.web import server as web_server
from archiver.web import uploads as web_uploads
from archiver.web.media import parse_range
from archiver.web.security import MAX_BODY, safe_next
from archiver.web.uploads import BadUpload, UploadSlots, receive_upload

SHA = "ab" * 32
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def archive_for(tmp_path: Path) -> Iterator[Any]:
    """Open the same empty archive with the ``[web]`` settings given."""
    opened: list[Archive] = []

    def make(**web: Any) -> Archive:
        archive = Archive.open(config_from_dict(settings(tmp_path / "storage", web=web)))
        opened.append(archive)
        return archive

    yield make
    for archive in opened:
        archive.close()


def test_loopback_addresses() -> None:
    for host in ("127.0.0.1", "127.3.4.5", "::1", "[::1]", "localhost"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "archive.example.org", ""):
        assert not is_loopback(host), host


def test_refuses_to_start_off_loopback_without_a_token(archive_for: Any) -> None:
    archive = archive_for(host="0.0.0.0")
    with pytest.raises(ConfigError, match=r"refusing to serve on 0\.0\.0\.0 without a token"):
        create_app(archive)
    with pytest.raises(ConfigError, match="without a token"):
        start_background(archive, port=0)
    with pytest.raises(ConfigError, match="without a token"):
        serve(archive, port=0)
    with pytest.raises(ConfigError, match="without a token"):
        create_app(archive_for(), host="192.168.1.10")
    with pytest.raises(ConfigError, match="too short"):
        create_app(archive_for(token="short"))
    create_app(archive_for(host="0.0.0.0", token=TOKEN))  # fine with a token
    create_app(archive_for(host="0.0.0.0", public_read_only=True))  # or published on purpose


def test_off_loopback_every_route_needs_the_token(archive_for: Any) -> None:
    app = create_app(archive_for(token=TOKEN), host="0.0.0.0")
    with AppClient(app, base_url="http://archive.example.org") as anonymous:
        for path in ("/api/search", "/api/dupes", "/api/status", f"/media/{SHA}", "/openapi.json"):
            denied = anonymous.get(path)
            assert denied.status_code == 401, path
            assert denied.headers["www-authenticate"] == "Bearer"
            assert denied.json() == {
                "error": "this archive needs a token: send Authorization: Bearer <token>"
            }
        for path in ("/", "/dupes", "/editors", "/status", f"/item/{SHA}", f"/embed/{SHA}"):
            page = anonymous.get(path)
            assert page.status_code == 303, path
            assert page.headers["location"].startswith("/login?next=")
        assert anonymous.post("/api/similar", files={"file": ("a.jpg", b"x")}).status_code == 401
        assert anonymous.get("/static/archiver.css").status_code == 200
        assert anonymous.get("/login").status_code == 200
        wrong = {"Authorization": "Bearer " + "y" * len(TOKEN)}
        assert anonymous.get("/api/search", headers=wrong).status_code == 401
        assert anonymous.get("/api/search", headers={"Authorization": TOKEN}).status_code == 401

    with AppClient(
        app, base_url="http://archive.example.org", headers={"Authorization": f"Bearer {TOKEN}"}
    ) as bearer:
        assert bearer.get("/api/search").json() == []
        assert bearer.get("/").status_code == 200
        assert bearer.get(f"/media/{SHA}").status_code == 404


def test_a_login_cookie_lasts_30_days_and_only_under_its_token(archive_for: Any) -> None:
    """A copied cookie does not open the archive forever: it carries its issue time,
    signed with the token, and is refused after 30 days, or once the token changed."""
    app = create_app(archive_for(token=TOKEN), host="0.0.0.0")
    other = create_app(archive_for(token=TOKEN + "-rotated"), host="0.0.0.0")
    rules = app.state.policy
    now = time.time()
    cases = {
        rules.session_value(now): 200,
        rules.session_value(now - 29 * 86400): 200,
        rules.session_value(now - 31 * 86400): 303,  # expired: to the login page
        rules.session_value(now + 3600): 303,  # issued in the future: forged
        rules.session_value(now).split(".")[1]: 303,  # the old form, without a time
        f"{int(now)}.{'0' * 64}": 303,
    }
    for value, status in cases.items():
        with AppClient(app, base_url="http://archive.example.org") as browser:
            browser.client.cookies.set("archiver_session", value)
            assert browser.get("/dupes").status_code == status, value
    with AppClient(other, base_url="http://archive.example.org") as browser:
        browser.client.cookies.set("archiver_session", rules.session_value(now))
        assert browser.get("/dupes").status_code == 303
    # "²" is a digit to str.isdigit(), not to int(): every page was a 500
    odd = {"type": "http", "headers": [(b"cookie", "archiver_session=\u00b2.x".encode("latin-1"))]}
    assert not rules.cookie_ok(Request(odd))


def test_login_cookie_opens_the_pages_but_never_writes(archive_for: Any) -> None:
    app = create_app(archive_for(token=TOKEN), host="0.0.0.0")
    with AppClient(app, base_url="http://archive.example.org") as browser:
        wrong = browser.post("/login", data={"token": "nope", "next": "/dupes"})
        assert wrong.status_code == 401 and "not right" in wrong.text
        assert "archiver_session" not in browser.client.cookies
        logged = browser.post("/login", data={"token": TOKEN, "next": "/dupes"})
        assert logged.status_code == 303 and logged.headers["location"] == "/dupes"
        cookie = logged.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert TOKEN.lower() not in cookie  # derived from the token, not the token
        assert browser.get("/dupes").status_code == 200
        assert browser.get("/api/search").status_code == 200
        queued = browser.post("/api/captures", json={"url": "https://example.org/a"})
        assert queued.status_code == 401  # a cookie never writes (no cross-site forms)
        out = browser.post("/logout")
        assert out.status_code == 303
        browser.client.cookies.clear()
        assert browser.get("/dupes").status_code == 303
        elsewhere = browser.post("/login", data={"token": TOKEN, "next": "//evil.example/x"})
        assert elsewhere.headers["location"] == "/"
    for target, expected in (
        ("/item/abc?x=1", "/item/abc?x=1"),
        ("https://evil.example", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        (None, "/"),
    ):
        assert safe_next(target) == expected


def test_public_read_only_opens_reads_only(archive_for: Any) -> None:
    app = create_app(archive_for(public_read_only=True), host="0.0.0.0")
    with AppClient(app, base_url="http://archive.example.org") as anyone:
        assert anyone.get("/api/search").status_code == 200
        assert anyone.get("/").status_code == 200
        refused = anyone.post("/api/captures", json={"url": "https://example.org/a"})
        assert refused.status_code == 403 and "set [web] token" in refused.json()["error"]
    app = create_app(archive_for(public_read_only=True, token=TOKEN), host="0.0.0.0")
    with AppClient(app, base_url="http://archive.example.org") as anyone:
        assert anyone.get("/api/search").status_code == 200
        assert anyone.post("/api/captures", json={"url": "https://x.org/a"}).status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        queued = anyone.post("/api/captures", json={"url": "https://x.org/a"}, headers=auth)
        assert queued.status_code == 202


def test_loopback_refuses_foreign_host_headers(archive_for: Any) -> None:
    """A page elsewhere cannot read a loopback archive by DNS rebinding."""
    app = create_app(archive_for())
    for base in ("http://127.0.0.1:8787", "http://localhost:8787", "http://[::1]:8787"):
        with AppClient(app, base_url=base) as local:
            assert local.get("/api/search").status_code == 200, base
    with AppClient(app, base_url="http://rebind.evil.example:8787") as foreign:
        refused = foreign.get("/api/search")
        assert refused.status_code == 400 and "Host" in refused.text
    proxied = create_app(archive_for(base_url="https://archive.example.org", token=TOKEN))
    with AppClient(proxied, base_url="http://archive.example.org") as behind_proxy:
        assert behind_proxy.get("/api/search", headers=BEARER).status_code == 200
    with AppClient(proxied, base_url="http://rebind.evil.example") as foreign:
        assert foreign.get("/api/search", headers=BEARER).status_code == 400


def test_a_proxy_in_front_of_a_loopback_archive_needs_base_url(archive_for: Any) -> None:
    """nginx's default ``proxy_pass http://127.0.0.1:8787`` sends ``Host: 127.0.0.1``:
    without base_url every read was open to the proxy's clients, the Host check passed."""
    app = create_app(archive_for())
    with AppClient(app, base_url="http://127.0.0.1:8787") as local:
        assert local.get("/api/search").status_code == 200
        for name, value in (
            ("X-Forwarded-For", "203.0.113.5"),
            ("Forwarded", "for=203.0.113.5;proto=https"),
            ("X-Real-IP", "203.0.113.5"),
            ("X-Forwarded-Host", "archive.example.org"),
        ):
            refused = local.get("/api/search", headers={name: value})
            assert refused.status_code == 400, name
            assert "set [web] base_url" in refused.text
    proxied = create_app(archive_for(base_url="https://archive.example.org", token=TOKEN))
    with AppClient(proxied, base_url="http://127.0.0.1:8787", headers=BEARER) as behind:
        assert behind.get("/api/search", headers={"X-Forwarded-For": "203.0.113.5"}).is_success


def test_behind_a_reverse_proxy_reads_need_the_token(archive_for: Any) -> None:
    """With base_url set, the proxy forwards the internet to 127.0.0.1 and a client
    can name any Host through it: loopback no longer means the person at the machine."""
    app = create_app(archive_for(base_url="https://archive.example.org", token=TOKEN))
    for base in ("http://archive.example.org", "http://127.0.0.1:8787", "http://localhost"):
        with AppClient(app, base_url=base) as anonymous:
            for path in ("/api/search", "/api/status", f"/media/{'0' * 64}"):
                assert anonymous.get(path).status_code == 401, (base, path)
        with AppClient(app, base_url=base, headers=BEARER) as holder:
            assert holder.get("/api/search").status_code == 200, base
    public = create_app(archive_for(base_url="https://archive.example.org", public_read_only=True))
    with AppClient(public, base_url="http://archive.example.org") as anyone:
        assert anyone.get("/api/search").status_code == 200
    with pytest.raises(ConfigError, match="base_url publishes the archive"):
        create_app(archive_for(base_url="https://archive.example.org"))


def test_cross_site_posts_are_refused(archive_for: Any) -> None:
    with AppClient(create_app(archive_for())) as client:
        upload = {"file": ("a.jpg", b"\xff\xd8\xff" + b"x" * 100)}
        foreign = client.post("/similar", files=upload, headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403 and "cross-site" in foreign.text
        same = client.post("/similar", files=upload, headers={"Origin": "http://127.0.0.1:8787"})
        assert same.status_code == 400  # reached the app: not an image it can hash
        assert client.post("/similar", files=upload).status_code == 400  # no Origin: a script
        assert client.post("/logout", headers={"Origin": "null"}).status_code == 403


def test_behind_a_reverse_proxy_the_published_origin_is_ours(archive_for: Any) -> None:
    """nginx's default ``proxy_pass`` sends ``Host: 127.0.0.1:8787`` and the browser its
    Origin, base_url's: every login, logout and upload was "cross-site request refused"."""
    app = create_app(archive_for(base_url="https://archive.example.org", token=TOKEN))
    with AppClient(app, base_url="http://127.0.0.1:8787") as behind:
        ours = {"Origin": "https://archive.example.org"}
        logged = behind.post("/login", data={"token": TOKEN, "next": "/"}, headers=ours)
        assert logged.status_code == 303, logged.text
        for origin in ("https://evil.example", "http://archive.example.org", "null"):
            refused = behind.post("/login", data={"token": TOKEN}, headers={"Origin": origin})
            assert refused.status_code == 403, origin


def test_a_base_url_written_with_its_default_port_is_the_browsers_origin(
    archive_for: Any,
) -> None:
    """Browsers leave a default port out of Origin: a base_url written with one made
    every login and upload through the proxy "cross-site"."""
    for base_url in (
        "https://archive.example.org:443",
        "HTTPS://Archive.Example.org:443/",
        "http://archive.example.org:80/",
    ):
        app = create_app(archive_for(base_url=base_url, token=TOKEN))
        scheme = base_url.split(":")[0].lower()
        other = "http" if scheme == "https" else "https"
        with AppClient(app, base_url="http://127.0.0.1:8787") as behind:
            ours = {"Origin": f"{scheme}://archive.example.org"}
            logged = behind.post("/login", data={"token": TOKEN, "next": "/"}, headers=ours)
            assert logged.status_code == 303, (base_url, logged.text)
            for origin in (f"{other}://archive.example.org", f"{scheme}://archive.example.org:8"):
                refused = behind.post("/login", data={"token": TOKEN}, headers={"Origin": origin})
                assert refused.status_code == 403, (base_url, origin)
    with AppClient(create_app(archive_for())) as local:  # the Host header, likewise
        upload = {"file": ("a.jpg", b"x")}
        for host in ("127.0.0.1:80", "LOCALHOST"):
            origin = f"http://{host.split(':')[0].lower()}"
            same = local.post("/similar", files=upload, headers={"Host": host, "Origin": origin})
            assert same.status_code == 400, (host, same.text)  # reached the app: no image


def fetched(site: str, mode: str, dest: str) -> dict[str, str]:
    """The Fetch Metadata headers a browser sends with a request."""
    return {"Sec-Fetch-Site": site, "Sec-Fetch-Mode": mode, "Sec-Fetch-Dest": dest}


def test_other_sites_may_only_link_to_a_loopback_archive(archive_for: Any) -> None:
    """A page elsewhere that embeds ``/media/<sha256>`` (an ``<img>``, an ``<object>``)
    sees "load" or "error": whether the archive holds the file. On loopback, where reads
    are open to the person at the machine, other sites may open its pages, nothing else."""
    image = fetched("cross-site", "no-cors", "image")
    framed = fetched("cross-site", "navigate", "object")
    link = fetched("cross-site", "navigate", "document")
    own = fetched("same-origin", "no-cors", "image")
    with AppClient(create_app(archive_for())) as local:
        for headers in (image, framed):
            for path in (f"/media/{SHA}", "/api/search", "/", f"/embed/{SHA}"):
                refused = local.get(path, headers=headers)
                assert refused.status_code == 403 and "cross-site" in refused.text, path
        assert local.get("/", headers=link).status_code == 200
        # a window opened on a download stays the opener's: a stored file is not opened
        # for another site either (a 404 page took the window away: held or not, told)
        opened = local.get(f"/media/{SHA}?download=1", headers=link)
        assert opened.status_code == 403 and "cross-site" in opened.text
        assert local.get(f"/media/{SHA}", headers=own).status_code == 404  # reached the app
        page = local.get("/")
        assert page.headers["cross-origin-resource-policy"] == "same-origin"
    published = create_app(archive_for(public_read_only=True), host="0.0.0.0")
    with AppClient(published, base_url="http://archive.example.org") as anyone:
        answer = anyone.get("/api/search", headers=image)  # articles embed published copies
        assert answer.status_code == 200 and "cross-origin-resource-policy" not in answer.headers


def test_security_headers(archive_for: Any) -> None:
    with AppClient(create_app(archive_for())) as client:
        page = client.get("/")
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "same-origin"
        assert page.headers["x-frame-options"] == "DENY"
        csp = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        missing = client.get(f"/media/{SHA}")
        assert missing.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in missing.headers["content-security-policy"]
        api = client.get("/api/search")
        assert api.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in api.headers["content-security-policy"]
        assert page.headers["cache-control"] == api.headers["cache-control"] == "no-store"
        assert "no-store" not in client.get("/static/archiver.css").headers.get("cache-control", "")


#: Files whose bytes prove no type, indexed under the type their server declared (as
#: earlier versions stored it; capture now refuses lists, XML-based types and markup).
HOSTILE_ORIGINALS = {
    "image/x-icon, text/html": (  # a browser takes the last type of a list: HTML
        b"xx<html><script>document.title='ran'</script><h1>an archived page</h1></html>"
    ),
    "image/png, image/svg+xml": (
        '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">'
        '<script>document.title="ran"</script></svg>'.encode("utf-16-be")  # no BOM, no "<"
    ),
    "image/x+xml": b"xx<feed/>",  # any +xml type is parsed as XML
    # a type archiver serves inline, but on its server's word: the bytes prove no PNG
    "image/png": b"\x00\x01<html><script>document.title='ran'</script></html>",
}


def test_originals_of_a_type_their_server_chose_are_attachments(archive_for: Any) -> None:
    """Bytes no sniffer recognises, indexed under the Content-Type their server sent (by
    an earlier version): served back as such, a "photo" would be an HTML or SVG
    document on the archive's origin."""
    archive = archive_for()
    stored = {
        declared: store_as_earlier_versions_did(archive, body, declared)
        for declared, body in HOSTILE_ORIGINALS.items()
    }
    with AppClient(create_app(archive)) as client:
        for declared, sha in stored.items():
            for method in ("GET", "HEAD"):
                served = client.request(method, f"/media/{sha}")
                assert served.status_code == 200, declared
                assert served.headers["content-type"] == "application/octet-stream", declared
                assert served.headers["content-disposition"].startswith("attachment;"), declared
                assert served.headers["x-content-type-options"] == "nosniff"
                assert "sandbox" in served.headers["content-security-policy"]
            assert client.get(f"/api/media/{sha}").json()["mime_type"] == declared


MARKUP = "\"'><script>alert(1)</script><img src=x onerror=alert(2)></textarea><svg onload=alert(3)>"
HOSTILE_PAGE = f"""<html><head><title>{MARKUP}</title></head><body><article>
<h2>UPDATE {MARKUP.replace("<", "&lt;")}</h2>
<p>Caption {MARKUP.replace("<", "&lt;")}:</p><img src="/photo.jpg">
</article></body></html>"""


URL_ATTRIBUTES = ("href", "src", "action", "formaction", "data", "poster")
SCRIPT_SCHEMES = ("javascript:", "data:", "vbscript:")


def markup_problems(html: str) -> list[str]:
    """Elements and attributes that would run script or load content they should not."""
    problems = []
    for element in lxml.html.fromstring(html).iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag in ("svg", "iframe", "object", "embed", "base"):
            problems.append(element.tag)
        if element.tag == "script" and not element.get("src", "").startswith("/static/"):
            problems.append("inline script")
        for name, value in element.attrib.items():
            url = value.strip().lower() if name in URL_ATTRIBUTES else ""
            if name.startswith("on") or name == "srcdoc" or url.startswith(SCRIPT_SCHEMES):
                problems.append(f"{element.tag} {name}={value[:30]}")
    return problems


def test_hostile_archived_text_stays_text(
    archive_for: Any, server: FixtureServer, tmp_path: Path
) -> None:
    """Titles, update labels, captions, URLs and platform data come from archived pages
    and platforms: every page shows them as text, links to http(s) only, and the snippet
    an editor pastes into an article is one element with quoted attributes."""
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (300, 200), "red").save(photo, "JPEG")
    server.add_file("/photo.jpg", photo)
    server.add_page("/hostile", HOSTILE_PAGE)
    archive = archive_for()
    report = Capturer(archive).capture_url(server.url("/hostile"))
    assert report.ok, report.to_json()
    sha = report.items[0].files[0].sha256
    with archive.session() as session:
        media = session.query(Media).one()
        media.platform_title = media.platform_uploader = MARKUP
        media.platform_metadata = {MARKUP: MARKUP, "webpage_url": "javascript:alert(4)"}
        session.query(Embed).one().url = "javascript:alert(5)//"
        session.query(Page).one().url = " javascript:alert(6)"
        session.query(Sighting).one().media_url = "data:text/html,<script>alert(7)</script>"
    with AppClient(create_app(archive)) as client:
        for path in ("/", "/?text=script", f"/item/{sha}", "/editors?status=all", "/dupes"):
            shown = client.get(path)
            assert shown.status_code == 200, path
            assert markup_problems(shown.text) == [], path
        editors = lxml.html.fromstring(client.get("/editors?status=all").text)
        (snippet,) = [area.text_content() for area in editors.iter("textarea")]
        (element,) = lxml.html.fragments_fromstring(snippet)
        assert element.tag == "img" and set(element.attrib) == {"src", "alt"}
        assert element.get("src") == f"http://127.0.0.1:8787/media/{sha}"
        assert MARKUP in element.get("alt", "") and markup_problems(snippet) == []
        (button,) = editors.find_class("copy")
        assert button.get("data-copy") == snippet


def test_errors_give_away_no_traceback_or_path(
    archive_for: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = f"{tmp_path}/storage/archive.db is on fire"

    def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError(secret)

    monkeypatch.setattr("archiver.web.api.status_report", explode)
    monkeypatch.setattr("archiver.web.pages.status_report", explode)
    with AppClient(create_app(archive_for())) as client:
        api = client.get("/api/status")
        assert api.status_code == 500 and api.json() == {"error": "internal error"}
        page = client.get("/status")
        assert page.status_code == 500 and "Internal error" in page.text
        for response in (api, page):
            assert "Traceback" not in response.text and "fire" not in response.text
            assert str(tmp_path) not in response.text and ".py" not in response.text
            assert response.headers["x-content-type-options"] == "nosniff"

        for path in ("/nowhere", "/api/nowhere"):
            missing = client.get(path)
            assert missing.status_code == 404 and "Traceback" not in missing.text
        assert client.get("/api/nowhere").json() == {"error": "Not Found"}
        assert "<h1>" in client.get("/nowhere").text
        assert client.request("DELETE", "/api/search").status_code == 405


def test_a_host_or_origin_that_is_no_url_is_refused_not_a_500(archive_for: Any) -> None:
    """``Host: [`` made the security check raise: a 500 with a traceback in the log
    and none of the security headers, at any client's will. The API's refusals are its
    one line of JSON (they were plain text, unlike every other API error)."""
    with AppClient(create_app(archive_for())) as local:
        for host in ("[", "a]"):
            answer = local.get("/api/status", headers={"Host": host})
            assert answer.status_code == 400
            assert answer.json() == {"error": "unexpected Host header"}
            page = local.get("/status", headers={"Host": host})
            assert page.status_code == 400 and page.text == "unexpected Host header\n"
        for origin in ("http://[", "http://a]"):
            answer = local.post("/logout", headers={"Origin": origin})
            assert answer.status_code == 403 and "cross-site" in answer.text
            api = local.post("/api/captures", json={"url": "x"}, headers={"Origin": origin})
            assert api.json() == {"error": "cross-site request refused"}


def test_a_request_body_is_bounded_before_the_token_is_checked(archive_for: Any) -> None:
    """400 MB posted to /api/captures without the token was read and parsed whole (1.3
    GB of memory) before the 401; a multipart /login spooled any size to /tmp."""
    app = create_app(archive_for(token=TOKEN))
    big = b'{"url": "' + b"a" * (MAX_BODY + 1) + b'"}'
    with AppClient(app) as local:
        declared = local.post("/api/captures", content=big)
        assert declared.status_code == 413 and "over 65536 bytes" in declared.json()["error"]

        async def chunks() -> AsyncIterator[bytes]:  # sent without a length
            for start in range(0, len(big), 4096):
                yield big[start : start + 4096]

        streamed = local.post("/api/captures", content=chunks(), headers=BEARER)
        assert streamed.status_code == 413 and "over 65536 bytes" in streamed.json()["error"]
        login = local.post("/login", files={"token": ("t", b"x" * (MAX_BODY + 1))})
        assert login.status_code == 413
        small = local.post("/api/captures", json={"url": "https://example.org/live"})
        assert small.status_code == 401  # a small body reaches the token check
        upload = {"file": ("a.jpg", b"\xff\xd8\xff" + b"x" * (2 * MAX_BODY))}
        assert local.post("/api/similar", files=upload).status_code == 400  # read: no photo


def test_a_connection_that_never_finishes_its_headers_is_closed(
    archive_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Half-sent requests were held for ever: 20,000 of them exhausted the process's
    file descriptors and the server answered nobody."""
    monkeypatch.setattr(web_server, "HEADER_TIMEOUT", 0.5)
    handle = start_background(archive_for(), port=0)
    try:
        with socket.create_connection(("127.0.0.1", handle.port), timeout=5) as slow:
            slow.sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            began = time.monotonic()
            assert slow.recv(1024) == b""  # closed by the server
            assert time.monotonic() - began < 3
        answer = httpx.get(f"{handle.url}/api/status", timeout=10)
        assert answer.status_code == 200
    finally:
        handle.stop()


def _trickle(port: int, head: bytes, seconds: float) -> tuple[bytes, float]:
    """Send ``head``, then a body byte every 0.2 s: what came back, and when the server
    closed the connection (``seconds`` if it did not)."""
    answer = b""
    began = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
        sock.sendall(head)
        while time.monotonic() - began < seconds:
            try:
                sock.sendall(b"a")
                if not (chunk := sock.recv(4096)):
                    return answer, time.monotonic() - began
                answer += chunk
            except TimeoutError:
                continue
            except OSError:  # reset: closed with body bytes unread
                return answer, time.monotonic() - began
    return answer, seconds


@pytest.mark.parametrize("path", ["/login", "/api/captures"])
def test_a_body_sent_too_slowly_loses_its_connection(
    archive_for: Any, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """Only the headers had a time limit: a body trickled in a byte at a time held its
    connection for ever, before any token was checked, and 999 of them locked everyone
    out. A body gets as long as the headers, then must keep up 16 KiB/s."""
    monkeypatch.setattr(web_server, "HEADER_TIMEOUT", 1.0)  # 10 s in life
    handle = start_background(archive_for(token=TOKEN), port=0)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 60000\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n\r\n"
    ).encode()
    try:
        answer, closed = _trickle(handle.port, head, seconds=8)
        assert closed < 4, f"{path}: open after {closed:.1f} s of trickling"
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b"request body too slow: send at least 16 KiB/s" in answer
        assert b"connection: close" in answer.lower()
        sent = httpx.post(  # a body sent at once is unaffected
            f"{handle.url}/api/captures", json={"url": "https://example.org/a"}, headers=BEARER
        )
        assert sent.status_code == 202, sent.text
    finally:
        handle.stop()


def test_past_the_connection_limit_the_refusal_is_one_line_with_retry_after(
    archive_for: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """uvicorn's own limit answered "Service Unavailable" in plain text, no Retry-After,
    and logged "Exceeded concurrency limit." for each request refused: a flood of
    connections filled the journal too."""
    monkeypatch.setattr(web_server, "MAX_CONNECTIONS", 3)
    monkeypatch.setattr(web_server, "OVER_CAPACITY", ThrottledEvent("web.over_capacity"))
    handle = start_background(archive_for(), port=0)
    held = [socket.create_connection(("127.0.0.1", handle.port), timeout=5) for _ in "abc"]
    try:
        connections = handle.server.server_state.connections
        deadline = time.monotonic() + 5
        while len(connections) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        with caplog.at_level(logging.INFO, logger="archiver"):
            for _ in range(3):
                busy = httpx.get(f"{handle.url}/api/status", timeout=10)
                assert busy.status_code == 503 and busy.headers["retry-after"] == "10"
                assert busy.json() == {"error": "too many connections: try again"}
            page = httpx.get(f"{handle.url}/status", timeout=10)
            assert page.status_code == 503 and page.text == "too many connections: try again\n"
        assert [r.getMessage() for r in caplog.records if "oncurrency" in r.getMessage()] == []
        assert [r.msg for r in caplog.records].count("web.over_capacity") == 1
        for sock in held:
            sock.close()
        deadline = time.monotonic() + 5
        while len(connections) > 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert httpx.get(f"{handle.url}/api/status", timeout=10).status_code == 200
    finally:
        for sock in held:
            sock.close()
        handle.stop()


def test_background_server_starts_and_stops(archive_for: Any) -> None:
    archive = archive_for(token=TOKEN)
    handle = start_background(archive, port=0)
    try:
        assert handle.url.startswith("http://127.0.0.1:")
        answer = httpx.get(f"{handle.url}/api/search", timeout=10)
        assert answer.status_code == 200 and answer.json() == []
        assert "server" not in answer.headers  # no software banner
    finally:
        handle.stop()
    assert not handle.thread.is_alive()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{handle.url}/api/search", timeout=2)


def test_a_taken_port_is_a_clear_error(archive_for: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(BindError, match=rf"cannot listen on 127\.0\.0\.1:{port}"):
            start_background(archive_for(), port=port)


def test_serve_runs_in_the_foreground_until_sigterm(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    program = (
        "import sys\n"
        "from archiver.archive import Archive\n"
        "from archiver.config import config_from_dict\n"
        "from archiver.logs import setup_logging\n"
        "from archiver.web import serve\n"
        "setup_logging('info')\n"
        f"config = config_from_dict({{'storage': {{'root': {str(tmp_path / 's')!r}}}}})\n"
        "with Archive.open(config) as archive:\n"
        f"    serve(archive, '127.0.0.1', {port})\n"
        "print('returned', flush=True)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", program], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/api/search", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert answer.status_code == 200 and answer.json() == []
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "returned" in out
    assert f"event=web.listening url=http://127.0.0.1:{port}" in err and "event=web.stopped" in err
    assert "Traceback" not in err


def test_malformed_reads_get_a_one_line_400_never_a_500(archive_for: Any) -> None:
    """Whatever a reader sends, the answer is a one-line 400, not a traceback."""
    many_words = " ".join(f"w{n}" for n in range(40))
    with AppClient(create_app(archive_for())) as local:
        assert local.get("/api/search", params={"until": "9999-12-31"}).status_code == 200
        for query in (
            {"sha256": ""},
            {"since": "0001-01-01T00:00+01:00"},
            {"upload_until": "9999-12-31T23:59-05:00"},
            {"text": "citadel\x00"},
            {"page": "https://example.org/\x00"},
            {"text": many_words},
        ):
            answer = local.get("/api/search", params=query)
            assert answer.status_code == 400, query
            assert "\n" not in answer.json()["error"], query
        repeated = local.get("/api/search", params={"text": " ".join(["a"] * 1100)})
        assert repeated.status_code == 200  # one word, given 1,100 times
        for limit in ("²", "9" * 5000):
            assert local.get("/", params={"limit": limit}).status_code == 400
        for limit in ("0", "1001"):  # the web's range, not the command line's (1,000,000)
            answer = local.get("/api/search", params={"limit": limit})
            assert answer.json() == {"error": "limit: must be from 1 to 1,000"}, limit
        fields = {f"f{n}": "x" for n in range(40)}
        upload = {"file": ("a.jpg", b"\xff\xd8\xff" + b"x" * 100)}
        crowded = local.post("/similar", files=upload, data=fields)
        assert crowded.status_code == 400 and "too many form fields" in crowded.text


MALFORMED_UPLOAD = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from support.archiving import settings
from support.browser import AppClient
from archiver.archive import Archive
from archiver.config import config_from_dict
from archiver.web import create_app
b = sys.argv[3].encode()
body = b'--' + b + b'\\r\\nContent Disposition: form-data; name="file"\\r\\n\\r\\nxx\\r\\n--' + b + b'--\\r\\n'
with Archive.open(config_from_dict(settings(Path(sys.argv[2])))) as archive:
    with AppClient(create_app(archive)) as local:
        answer = local.post(
            "/api/similar", content=body, headers={"Content-Type": "multipart/form-data; boundary=" + b.decode()}
        )
print(answer.status_code, answer.json()["error"])
"""


@pytest.mark.parametrize("boundary", ["b0", "b" * 300], ids=["bad header", "long boundary"])
def test_a_malformed_upload_leaves_no_bare_line_in_the_service_log(
    tmp_path: Path, boundary: str
) -> None:
    """python-multipart logged "Found invalid character 32 in header at 13" for each
    such request, and with no handler of the service's for it Python printed the line
    bare: any client could fill the journal with lines outside archiver's format. A
    boundary over 256 characters was a 500 with a traceback."""
    tests = str(Path(__file__).parent)
    done = subprocess.run(
        [sys.executable, "-c", MALFORMED_UPLOAD, tests, str(tmp_path / "storage"), boundary],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("400 ") and done.stdout.count("\n") == 1
    assert done.stderr == ""


def test_an_upload_the_sender_abandons_is_a_bad_upload_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    """A client that hangs up mid-upload (a reader cancelling a large file) was logged
    as an internal error with a traceback, each time."""
    messages = iter(
        [
            {"type": "http.request", "body": b"--b0\r\nContent-Disposition: form-data; "
             b'name="file"; filename="x.jpg"\r\n\r\n' + b"x" * 1000, "more_body": True},
            {"type": "http.disconnect"},
        ]
    )  # fmt: skip

    async def receive() -> dict[str, Any]:
        return next(messages)

    scope = {
        "type": "http",
        "method": "POST",
        "headers": [(b"content-type", b"multipart/form-data; boundary=b0")],
        "app": SimpleNamespace(state=SimpleNamespace(upload_slots=UploadSlots())),
    }

    async def upload() -> None:
        async with receive_upload(Request(scope, receive), tmp_path, 10_000_000):
            raise AssertionError("the upload was not whole")

    with pytest.raises(BadUpload, match="the upload was cut short"):
        asyncio.run(upload())
    assert list(tmp_path.iterdir()) == []


def test_uploads_held_open_are_bounded_in_number_and_cut_when_too_slow(
    archive_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Uploads that sent part of their body and went silent were kept for as long as
    their connections stayed open, as many as connections were allowed: a thousand
    times max_upload of scratch space, on the disk that holds the evidence."""
    monkeypatch.setattr(web_uploads, "UPLOADS_AT_ONCE", 2)
    monkeypatch.setattr(web_uploads, "UPLOAD_GRACE", 3.0)
    monkeypatch.setattr(web_uploads, "MIN_UPLOAD_RATE", 1_000_000)  # 200 KB buy 0.2 s more
    archive = archive_for(max_upload=10_000_000)
    handle = start_background(archive, port=0)
    head = (
        b"POST /api/similar HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5000000\r\n"
        b"Content-Type: multipart/form-data; boundary=b0\r\n\r\n"
        b'--b0\r\nContent-Disposition: form-data; name="file"; filename="x.jpg"\r\n\r\n'
    )
    scratch = archive.layout.tmp_root
    try:
        stalled = [socket.create_connection(("127.0.0.1", handle.port), timeout=10) for _ in "ab"]
        for connection in stalled:
            connection.sendall(head + b"\xff\xd8\xff" + b"x" * 200_000)
        deadline = time.monotonic() + 5
        while len(list(scratch.rglob("upload-*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        busy = httpx.post(f"{handle.url}/api/similar", files={"file": ("y.jpg", b"y")}, timeout=10)
        assert busy.status_code == 503 and busy.headers["retry-after"] == "10"
        assert busy.json() == {"error": "2 uploads are being received: try again"}
        page = httpx.post(f"{handle.url}/similar", files={"file": ("y.jpg", b"y")}, timeout=10)
        assert page.status_code == 503 and page.headers["retry-after"] == "10"
        for connection in stalled:  # silent past the grace: cut off, their bytes removed
            answer = b""
            while b"upload too slow" not in answer and (more := connection.recv(4096)):
                answer += more  # the headers and the body may come apart
            assert answer.startswith(b"HTTP/1.1 408") and b"upload too slow" in answer
            connection.close()
        assert not list(scratch.rglob("upload-*"))
        again = httpx.post(f"{handle.url}/api/similar", files={"file": ("y.jpg", b"y")}, timeout=10)
        assert again.status_code == 400  # a slot again; the file is no photo
    finally:
        handle.stop()


def test_odd_range_headers_are_ignored() -> None:
    assert parse_range("bytes=\u00b2-", 100) is None
    assert parse_range("bytes=-\u00b3", 100) is None
    assert parse_range("bytes=" + "9" * 5000 + "-", 100) is None
    assert parse_range("bytes=10-19", 100) == (10, 19)


def test_search_filters_given_empty_or_out_of_range_are_refused() -> None:
    """``--sha256 "$H"`` with ``$H`` unset selected every file (and so did an export);
    a --limit past 2^63 was a traceback from the database."""
    for empty in ({"sha256": ""}, {"md5": " "}, {"text": "   "}, {"page": ""}, {"until": ""}):
        with pytest.raises(QueryError, match="is empty: leave it out"):
            SearchQuery.parse(**empty)
    for limit in (0, 1_000_001, 2**63):
        with pytest.raises(QueryError, match="limit: must be from 1 to 1,000,000"):
            SearchQuery.parse(limit=limit)
    # a week or a date given as the last upload day takes in all of it
    assert SearchQuery.parse(upload_until="2026-W48").upload_until == date(2026, 11, 29)
    assert SearchQuery.parse(upload_until="2026-11-25").upload_until == date(2026, 11, 25)
    assert SearchQuery.parse(upload_until="9999-12-31").upload_until == date(9999, 12, 31)


def test_a_bare_date_in_any_iso_form_is_the_whole_day() -> None:
    day_end = parse_when("2026-11-25", end=True)
    assert parse_when("20261125", end=True) == day_end
    assert parse_when("2026-W48-3", end=True) == day_end
    # a week without its day is the whole week (it was its Monday alone)
    assert parse_when("2026-W48") == parse_when("2026-11-23")
    assert parse_when("2026W48", end=True) == parse_when("2026-11-30")
    # the calendar's last day has no next day: no end at all
    assert parse_when("9999-12-31", end=True) == datetime.max.replace(tzinfo=UTC)


def test_a_month_a_year_and_an_ordinal_date_are_iso_periods_too() -> None:
    """ISO 8601's month (2026-11), year (2026) and ordinal date (2026-331) were
    refused as "not an ISO 8601 date": "everything from September" took two dates."""
    assert parse_when("2026-09") == parse_when("2026-09-01")
    assert parse_when("2026-09", end=True) == parse_when("2026-10-01")
    assert parse_when("2026-12", end=True) == parse_when("2027-01-01")
    assert parse_when("2026") == parse_when("2026-01-01")
    assert parse_when("2026", end=True) == parse_when("2027-01-01")
    assert parse_when("2026-331") == parse_when("2026331") == parse_when("2026-11-27")
    assert parse_when("2024-366", end=True) == parse_when("2025-01-01")
    assert parse_when("9999-12", end=True) == datetime.max.replace(tzinfo=UTC)
    assert SearchQuery.parse(upload_until="2026-02").upload_until == date(2026, 2, 28)
    for wrong in ("2026-13", "2026-366", "2026-000", "202611"):
        with pytest.raises(QueryError, match="not an ISO 8601 date"):
            parse_when(wrong)


def test_an_until_datetime_takes_in_what_it_names_to_its_precision() -> None:
    """A datetime as ``--until`` was the instant it names: a file captured at
    14:35:07.25 was not found by --until 14:35:07 (the seconds the search table
    shows), 14:35, or its own time to the microsecond. As a bare date takes in its
    day, a datetime takes in its hour, minute, second, or with a fraction its instant."""
    at = parse_when("2026-11-27T14:35:07.25Z")
    assert parse_when("2026-11-27T14Z", end=True) == parse_when("2026-11-27T15:00Z")
    assert parse_when("2026-11-27T14:35", end=True) == parse_when("2026-11-27T14:36")
    assert parse_when("20261127T143507Z", end=True) == parse_when("2026-11-27T14:35:08")
    assert parse_when("2026-11-27T19:35:07,25+05", end=True) == at + timedelta(microseconds=1)
    assert parse_when("2026-11-27T14:35:07.2500009", end=True) == at + timedelta(microseconds=1)
    assert parse_when("2026-11-27T14:35:07.25") == at  # a start is where it begins
    # 24:00 is a day's end already; the calendar's last second has no end at all
    assert parse_when("2026-11-27T24:00", end=True) == parse_when("2026-11-27", end=True)
    assert parse_when("9999-12-31T23:59:59Z", end=True) == datetime.max.replace(tzinfo=UTC)
    # the last upload day a datetime gives is the day it ends in
    assert SearchQuery.parse(upload_until="2026-11-27T23:59Z").upload_until == date(2026, 11, 27)
    assert SearchQuery.parse(upload_until="2026-11-27T24:00").upload_until == date(2026, 11, 27)


def test_datetimes_in_the_other_iso_forms_are_read() -> None:
    """An ordinal date with a time, the day's end written 24:00 and lower-case "t" and
    "z" are ISO 8601 too, and were refused."""
    moment = parse_when("2026-11-27T14:35Z")
    assert parse_when("2026-331T14:35Z") == parse_when("2026331T14:35Z") == moment
    assert parse_when("2026-11-27t14:35z") == moment
    assert parse_when("2026-11-27T24:00") == parse_when("2026-11-28T00:00")
    assert parse_when("2026-11-27T24:00:00+02:00") == parse_when("2026-11-27T22:00Z")
    assert parse_when("20261127T1435Z") == parse_when("2026-11-27 14:35") == moment
    assert parse_when("2026-11-27T19:35:00,5+05") == moment.replace(microsecond=500000)
    # Python's reader took these: a date then a zone ("2026-11-27-05:00" was 05:00
    # that day, "2026-11-27Z" its start: --until left the whole day out), any one
    # character between a date and a time
    for wrong in (
        "2026-11-27T24:01", "2026-366T00:00", "2026-000T10:00", "2026-11-27-05:00",
        "2026-11-27Z", "2026-W48Z", "2026-11-27/20", "2026-11-27.19", "2026-11-27519:00",
        "2026-W48T10:00", "2026-11T10:00",
    ):  # fmt: skip
        with pytest.raises(QueryError, match="not an ISO 8601 date"):
            parse_when(wrong)
    with pytest.raises(QueryError, match="out of range"):
        parse_when("9999-12-31T24:00")
