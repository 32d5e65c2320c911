"""The JSON API and the pages against a real archive captured from a local site.

Every request goes through the real ASGI app (in-process); traversal attempts go over a
real socket to uvicorn, so its own request-line parsing is part of what is tested.
"""

from __future__ import annotations

import html
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from support import FixtureServer, MediaSet, locked_table, pg_schema
from support.archiving import run_cli, settings, write_config
from support.browser import TOKEN, AppClient, LiveApp, Newsroom, build_newsroom

from archiver.archive import Archive
from archiver.capture import Capturer
from archiver.config import config_from_dict
from archiver.duplicates import list_groups
from archiver.index.models import CaptureJob, Page, PageSnapshot
from archiver.liveness.report import embed_statuses
from archiver.search import SearchQuery, search
from archiver.web import create_app
from archiver.web.views import matching_sighting


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory, media: MediaSet) -> Iterator[Newsroom]:
    with FixtureServer() as server:
        built = build_newsroom(tmp_path_factory.mktemp("web"), server, media)
        yield built
        built.archive.close()


@pytest.fixture(scope="module")
def client(room: Newsroom) -> Iterator[AppClient]:
    with AppClient(create_app(room.archive)) as app_client:
        yield app_client


def with_web(room: Newsroom, **web: Any) -> Archive:
    """The same archive opened again with other ``[web]`` settings."""
    data = settings(room.archive.layout.root, web=web)
    return Archive.open(config_from_dict(data))


def one_line_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and "\n" not in body["error"] and body["error"]
    return str(body["error"])


# ---- search ------------------------------------------------------------------------------


def test_search_returns_what_the_cli_prints(
    room: Newsroom, client: AppClient, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "a.toml", settings(room.archive.layout.root))
    for params in (
        {},
        {"text": "citadel"},
        {"sha256": room.sha["clip_a"][:10]},
        {"page": room.repost_url, "limit": "2"},
    ):
        flags = [f"--{k}={v}" for k, v in params.items()]
        cli = run_cli(config, "search", "--json", *flags)
        assert cli.returncode == 0, cli.stderr
        api = client.get("/api/search", params=params)
        assert api.status_code == 200
        assert api.json() == json.loads(cli.stdout), params
        # the CLI says on stderr that more match; the API in a header
        assert ("X-More-Results" in api.headers) == ("--limit to see more" in cli.stderr)
    everything = client.get("/api/search")
    assert len(everything.json()) == len(room.sha) and "X-More-Results" not in everything.headers
    cut = client.get("/api/search", params={"limit": "1"})
    assert len(cut.json()) == 1 and cut.headers["X-More-Results"] == "1"


def test_search_filters(room: Newsroom, client: AppClient) -> None:
    def shas(**params: str) -> set[str]:
        response = client.get("/api/search", params=params)
        assert response.status_code == 200, response.text
        return {r["sha256"] for r in response.json()}

    sha = room.sha
    assert shas(sha256=sha["clip_a"][:8]) == {sha["clip_a"]}
    assert shas(sha256=sha["clip_a"].upper()) == {sha["clip_a"]}
    md5 = client.get(f"/api/media/{sha['photo_a']}").json()["md5"]
    assert shas(md5=md5[:12]) == {sha["photo_a"]}
    assert shas(text="citadel fighters") == {sha["clip_b"]}  # platform title + context
    assert shas(text="UPDATE 0900") == {sha["clip_copy"], sha["photo_copy"], sha["audio"]}
    assert shas(page=room.live_url) == {sha["clip_a"], sha["clip_b"], sha["photo_a"]}
    assert shas(upload_since="2013-09-01", upload_until="2013-09-28") == {sha["clip_b"]}
    assert shas(upload_until="2013-09-27") == set()
    assert shas(since="2000-01-01", until="2999-12-31") == set(sha.values())
    assert shas(until="2001-01-01") == set()
    assert len(shas(limit="2")) == 2


def test_bad_filters_are_one_line_400s(client: AppClient) -> None:
    """Each names the filter as the API knows it, not as a CLI flag (``--since``)."""
    for params, expected in (
        ({"sha256": "xyz"}, "sha256: takes 8 to 64 hex"),
        ({"sha256": "abc"}, "hex"),
        ({"md5": "0" * 33}, "md5: takes 8 to 32 hex"),
        ({"since": "yesterday"}, "since: not an ISO 8601"),
        ({"upload_since": "28/09/2013"}, "upload-since: not an ISO 8601"),
        ({"limit": "many"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "100000"}, "limit"),
    ):
        message = one_line_error(client.get("/api/search", params=params), 400)
        assert expected in message and "--" not in message, (params, message)
    one_line_error(client.get("/api/embeds", params={"status": "dead"}), 400)


def test_a_misspelt_or_repeated_filter_is_refused_not_ignored(client: AppClient) -> None:
    """``sha=…`` and ``q=…`` were ignored, so every file "matched"; of two ``sha256``
    one was dropped without a word. The search page is read the same way, and shows
    no results under its error. Words not in UTF-8 were read with U+FFFD for each bad
    byte (``text=%FF`` found every caption a page's wrong charset left one in), where
    the CLI refuses them."""
    everything = len(client.get("/api/search").json())
    assert everything > 1
    for query, expected in (
        ("sha=370adb9c", "unknown parameter 'sha'"),
        ("q=citadel", "unknown parameter 'q'"),
        ("sha256=370adb9c&sha256=14e95c22", "sha256: given twice"),
        ("text=caf%E9", "text: is not UTF-8 text: 'caf\\xe9'"),
        ("page=http://example.org/%FF", "page: is not UTF-8 text"),
    ):
        assert expected in one_line_error(client.get(f"/api/search?{query}"), 400)
        page = client.get(f"/?{query}")
        assert page.status_code == 400 and expected in html.unescape(page.text)
        assert "Nothing matches" not in page.text and "results-title" not in page.text


def test_embeds_and_dupes_refuse_what_they_would_ignore(room: Newsroom, client: AppClient) -> None:
    """``statuses=gone``, ``state=gone`` and ``url=…`` were ignored and every embed
    listed, an empty ``page`` listed every page's, and of ``limit=1&limit=2`` one was
    dropped without a word: an editor read it as the answer to what was asked."""
    for path, query, expected in (
        ("/api/embeds", "statuses=gone", "unknown parameter 'statuses'"),
        ("/api/embeds", "state=gone", "unknown parameter 'state'"),
        ("/api/embeds", f"url={room.live_url}", "unknown parameter 'url'"),
        ("/api/embeds", "status=gone&status=restricted", "status: given twice"),
        ("/api/embeds", "status=", "status: is empty"),
        ("/api/embeds", "status=,%20", "status: is empty"),
        ("/api/embeds", "page=", "no archived embeds for page ''"),
        ("/api/embeds", "page=https://elsewhere.example/story", "no archived embeds for page"),
        ("/api/embeds", "limit=1&limit=2", "limit: given twice"),
        ("/api/dupes", "limit=1&limit=2", "limit: given twice"),
        ("/api/dupes", "offest=1", "unknown parameter 'offest'"),
    ):
        assert expected in one_line_error(client.get(f"{path}?{query}"), 400), query
    every = {"status": "gone", "page": room.live_url, "limit": 5, "offset": 0}
    assert client.get("/api/embeds", params=every).status_code == 200
    assert client.get("/api/dupes", params={"limit": 1, "offset": 0}).status_code == 200


def test_a_result_row_shows_the_sighting_that_matched() -> None:
    """Found through its page in Idlib, a clip's row showed the first page it was seen
    on, with that page's update and context, and "and 1 more"."""
    result = {
        "sightings": [
            {"page_url": "https://news.example/aleppo", "embed_url": "https://v.example/1.mp4",
             "update": "UPDATE 1800 GMT", "context": "Insurgents are posting video"},
            {"page_url": "https://news.example/idlib", "embed_url": "https://v.example/1.mp4",
             "update": "UPDATE 0930 GMT", "context": "Civil defence posted this clip of the rescue"},
        ]
    }  # fmt: skip
    assert matching_sighting(result, SearchQuery.parse(page="news.example/idlib")) == 1
    assert matching_sighting(result, SearchQuery.parse(text="RESCUE civil")) == 1
    assert matching_sighting(result, SearchQuery.parse(text="posting")) == 0
    assert matching_sighting(result, SearchQuery.parse()) == 0


def test_a_time_in_a_date_filter_stays_in_its_field(client: AppClient) -> None:
    """``?since=…T15:27:47Z`` was applied but a date field cannot show a time: the box
    was empty, and searching again dropped the filter without a word."""
    page = client.get("/", params={"since": "2026-11-27T15:27:47Z"}).text
    assert 'type="text" name="since" value="2026-11-27T15:27:47Z"' in page
    assert 'type="date" name="until" value=""' in page
    plain = client.get("/", params={"since": "2026-11-27"}).text
    assert 'type="date" name="since" value="2026-11-27"' in plain


def test_a_listing_cut_short_says_so(client: AppClient) -> None:
    """``/?limit=1`` showed one file as if it were all; a page past the last group said
    the archive held no near-duplicates."""
    cut = client.get("/", params={"limit": "1"}).text
    assert "The first 1 shown: more may match" in cut
    assert "more may match" not in client.get("/").text  # all of them fit
    past = client.get("/dupes", params={"offset": 500}).text
    assert "No more groups past this point." in past and "No near-duplicates" not in past


# ---- one file, groups, embeds, status ---------------------------------------------------


def test_media_detail(room: Newsroom, client: AppClient) -> None:
    photo = client.get(f"/api/media/{room.sha['photo_a']}").json()
    assert photo["sha256"] == room.sha["photo_a"] and len(photo["md5"]) == 32
    fingerprint = photo["near_duplicates"]["fingerprint"]
    assert fingerprint["kind"] == "image" and len(fingerprint["hashes"]["pdq"]) == 64
    assert photo["group"]["earliest"] == room.sha["photo_a"]
    assert {m["sha256"] for m in photo["group"]["members"]} == {
        room.sha["photo_a"],
        room.sha["photo_copy"],
    }
    (seen,) = photo["sightings"]
    assert seen["update"] == "ORIGINAL ENTRY" and seen["page_title"].startswith("Syria Daily")
    (check,) = photo["liveness"]
    assert check["status"] == "gone" and check["http_status"] == 404
    assert [(e["from"], e["to"]) for e in check["events"]] == [(None, "gone")]

    player = client.get(f"/api/media/{room.sha['clip_b']}").json()
    assert player["platform"]["upload_date"] == "2013-09-28"
    assert player["platform"]["title"] == "Fighters near the Citadel"
    assert player["near_duplicates"]["fingerprint"]["kind"] == "video"

    assert one_line_error(client.get(f"/api/media/{'0' * 64}"), 404)
    assert one_line_error(client.get("/api/media/not-a-digest"), 404)


def test_dupes_embeds_and_status_match_the_services(room: Newsroom, client: AppClient) -> None:
    with room.archive.read_session() as session:
        groups = [g.to_json() for g in list_groups(session)]
        gone = [
            r.to_json() for r in embed_statuses(session, room.archive.layout, statuses={"gone"})
        ]
        on_live = [
            r.to_json() for r in embed_statuses(session, room.archive.layout, page=room.live_url)
        ]
    assert client.get("/api/dupes").json() == groups and len(groups) == 2
    assert client.get("/api/embeds", params={"status": "gone"}).json() == gone
    assert {r["embed_url"] for r in gone} >= {room.url("/media/photo_a.jpg")}
    assert client.get("/api/embeds", params={"page": room.live_url}).json() == on_live
    for path in ("/api/dupes", "/api/embeds"):
        whole = client.get(path).json()
        one_by_one = [client.get(path, params={"limit": 1, "offset": n}).json() for n in range(3)]
        assert [row for chunk in one_by_one for row in chunk] == whole[:3]
    every = client.get("/api/embeds").json()
    pages = [
        client.get("/api/embeds", params={"limit": 2, "offset": start}).json()
        for start in range(0, len(every), 2)
    ]
    assert len(every) > 2 and [row for chunk in pages for row in chunk] == every
    for limit in (0, 10_001):
        one_line_error(client.get("/api/embeds", params={"limit": limit}), 400)
    status = client.get("/api/status").json()
    assert set(status) == {"sources", "queue", "interrupted", "recent_failures"}
    assert status["queue"]["done"] >= 2


def test_openapi_schema_lists_the_api(client: AppClient) -> None:
    schema = client.get("/openapi.json").json()
    for path in ("/api/search", "/api/media/{sha256}", "/api/dupes", "/api/embeds"):
        assert "get" in schema["paths"][path]
    assert "post" in schema["paths"]["/api/similar"]
    assert "post" in schema["paths"]["/api/captures"]
    assert "/media/{sha256}" in schema["paths"]


# ---- find this file ---------------------------------------------------------------------


def test_similar_upload_finds_near_duplicates(
    room: Newsroom, client: AppClient, tmp_path: Path
) -> None:
    from PIL import Image

    held = tmp_path / "held.jpg"
    with Image.open(room.files["photo_a"]) as image:
        image.convert("RGB").resize((480, 360)).save(held, "JPEG", quality=50)
    with held.open("rb") as f:
        response = client.post("/api/similar", files={"file": ("held.jpg", f, "image/jpeg")})
    assert response.status_code == 200, response.text
    found = response.json()
    assert {r["sha256"] for r in found} == {room.sha["photo_a"], room.sha["photo_copy"]}
    assert found[0]["similarity"] >= found[-1]["similarity"] > 0.8
    assert not list(room.archive.layout.tmp_root.rglob("upload-*"))  # removed afterwards

    text = client.post("/api/similar", files={"file": ("notes.txt", b"hello " * 100)})
    message = one_line_error(text, 400)
    assert "/" not in message.replace("an image or video", "")  # no host path
    one_line_error(client.post("/api/similar", data={"x": "1"}), 400)
    one_line_error(client.post("/api/similar", content=b"raw bytes"), 400)
    # a file under another field name was "too long"; a broken photo was named by the
    # scratch file's name, not the one it was sent under
    wrong = client.post("/api/similar", files={"nofile": ("held.jpg", b"x" * 5000)})
    assert one_line_error(wrong, 400) == "send the file in the form field 'file', not 'nofile'"
    broken = client.post("/api/similar", files={"file": ("held.jpg", b"\xff\xd8\xff" + b"0" * 99)})
    message = one_line_error(broken, 400)
    assert "held.jpg" in message and "upload-" not in message, message


def test_uploads_are_capped(room: Newsroom) -> None:
    small = with_web(room, max_upload=1000)
    with AppClient(create_app(small)) as capped:
        big = b"\xff\xd8\xff" + b"x" * 200_000
        declared = capped.post("/api/similar", files={"file": ("big.jpg", big)})
        assert "at most 1000 bytes" in one_line_error(declared, 413)

        async def trickle() -> Any:  # chunked: no Content-Length to refuse up front
            boundary = b"b0undary"
            yield b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; '
            yield b'filename="big.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
            for _ in range(50):
                yield b"y" * 4096
            yield b"\r\n--" + boundary + b"--\r\n"

        streamed = capped.post(
            "/api/similar",
            content=trickle(),
            headers={"Content-Type": "multipart/form-data; boundary=b0undary"},
        )
        one_line_error(streamed, 413)
        page = capped.post("/similar", files={"file": ("big.jpg", big)})
        assert page.status_code == 413 and "at most 1000 bytes" in page.text
    assert not list(small.layout.tmp_root.rglob("upload-*"))
    small.close()


# ---- queueing captures ------------------------------------------------------------------


def test_captures_always_need_the_token(room: Newsroom, client: AppClient) -> None:
    url = "https://example.org/syria-daily-sept-29"
    refused = client.post("/api/captures", json={"url": url})
    assert "set [web] token" in one_line_error(refused, 403)

    guarded = with_web(room, token=TOKEN)
    with AppClient(create_app(guarded)) as app_client:
        assert app_client.get("/api/search").status_code == 200  # loopback: reads open
        missing = app_client.post("/api/captures", json={"url": url})
        one_line_error(missing, 401)
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = {"Authorization": "Bearer " + "x" * len(TOKEN)}
        one_line_error(app_client.post("/api/captures", json={"url": url}, headers=wrong), 401)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        queued = app_client.post("/api/captures", json={"url": url}, headers=auth)
        assert queued.status_code == 202, queued.text
        job = queued.json()
        assert job["url"] == url and job["state"] == "pending" and job["job_id"] > 0
        again = app_client.post("/api/captures", json={"url": url}, headers=auth).json()
        assert again["job_id"] == job["job_id"]
        bodies: list[object] = [
            {"url": "file:///etc/passwd"},
            {"url": "javascript:x"},
            {"url": "http://[::1"},  # was a 500: urlsplit raised
            {"url": "http://example.org/a\u0000b"},  # was queued, NUL and all
            {"url": "http://example.org:99999/a"},
            {},
            [],
        ]
        for bad in bodies:
            one_line_error(app_client.post("/api/captures", json=bad, headers=auth), 400)
    with guarded.read_session() as session:
        row = session.get_one(CaptureJob, job["job_id"])
        assert (row.url, row.state, row.embed_id) == (url, "pending", None)
    guarded.close()


# ---- streaming the originals ------------------------------------------------------------


def test_range_requests(room: Newsroom, client: AppClient) -> None:
    sha = room.sha["clip_a"]
    data = room.files["clip_a"].read_bytes()
    size = len(data)
    full = client.get(f"/media/{sha}")
    assert full.status_code == 200 and full.content == data
    assert full.headers["content-type"] == "video/mp4"
    assert full.headers["accept-ranges"] == "bytes"
    assert full.headers["content-disposition"] == f'inline; filename="{sha}.mp4"'
    assert full.headers["etag"] == f'"{sha}"'

    def ranged(value: str, **headers: str) -> httpx.Response:
        return client.get(f"/media/{sha}", headers={"Range": value, **headers})

    part = ranged("bytes=100-1099")
    assert part.status_code == 206 and part.content == data[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{size}"
    assert part.headers["content-length"] == "1000"
    tail = ranged("bytes=-500")
    assert tail.status_code == 206 and tail.content == data[-500:]
    assert tail.headers["content-range"] == f"bytes {size - 500}-{size - 1}/{size}"
    rest = ranged(f"bytes={size - 10}-")
    assert rest.status_code == 206 and rest.content == data[-10:]
    clipped = ranged(f"bytes={size - 5}-{size + 500}")
    assert clipped.status_code == 206 and clipped.content == data[-5:]
    whole = ranged(f"bytes=-{size * 2}")
    assert whole.status_code == 206 and whole.content == data
    for unsatisfiable in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
        refused = ranged(unsatisfiable)
        assert refused.status_code == 416, unsatisfiable
        assert refused.headers["content-range"] == f"bytes */{size}"
        assert data[:100] not in refused.content
    for ignored in ("bytes=0-10,20-30", "items=0-10", "bytes=abc", "bytes=10-5"):
        assert ranged(ignored).status_code == 200, ignored
    assert ranged("bytes=0-9", **{"If-Range": '"stale"'}).status_code == 200
    assert ranged("bytes=0-9", **{"If-Range": f'"{sha}"'}).status_code == 206
    for tags, status in [(f'"{sha}"', 304), (f'"x", W/"{sha}"', 304), ("*", 304), ('"x"', 200)]:
        assert client.get(f"/media/{sha}", headers={"If-None-Match": tags}).status_code == status

    head = client.head(f"/media/{sha}")
    assert head.status_code == 200 and head.headers["content-length"] == str(size)
    download = client.get(f"/media/{sha}", params={"download": "1"})
    assert download.headers["content-disposition"] == f'attachment; filename="{sha}.mp4"'
    assert download.headers["content-type"] == "application/octet-stream"

    image = client.get(f"/media/{room.sha['photo_a']}")
    assert image.headers["content-type"] == "image/jpeg"
    assert image.content == room.files["photo_a"].read_bytes()
    audio = client.get(f"/media/{room.sha['audio']}", headers={"Range": "bytes=0-3"})
    assert audio.status_code == 206 and audio.headers["content-type"].startswith("audio/")


def test_provenance_sidecar(room: Newsroom, client: AppClient) -> None:
    sha = room.sha["clip_b"]
    response = client.get(f"/media/{sha}/provenance.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    stored = room.archive.layout.media_dir(sha) / "provenance.json"
    assert response.content == stored.read_bytes()
    assert response.json()["file"]["sha256"] == sha
    one_line_error(client.get(f"/media/{'a' * 64}/provenance.json"), 404)
    # the original lost: its provenance is what tells what it was, so it is still served
    original = next(stored.parent.glob("original.*"))
    original.rename(original.with_name("aside"))
    try:
        assert client.get(f"/media/{sha}/provenance.json").content == stored.read_bytes()
        one_line_error(client.get(f"/media/{sha}"), 404)
    finally:
        original.with_name("aside").rename(original)


def test_the_page_a_file_was_found_on_is_shown_as_archived(
    room: Newsroom, client: AppClient
) -> None:
    """An investigator reached the file and its sidecar, never the page version that
    held it: the item page links it, and it is served in a sandbox that runs nothing
    of it and loads nothing from the sites it names."""
    detail = client.get(f"/api/media/{room.sha['clip_a']}").json()
    (seen,) = [s for s in detail["sightings"] if s["page_url"] == room.live_url]
    version = seen["page_version"]
    with room.archive.read_session() as session:
        stored = session.execute(
            select(Page.url, PageSnapshot.path)
            .join(Page, PageSnapshot.page_id == Page.id)
            .where(PageSnapshot.sha256 == version)
        ).first()
    assert stored is not None and stored.url == room.live_url
    assert f'href="/media/pages/{version}"' in client.get(f"/item/{room.sha['clip_a']}").text
    # a digest as some tools print it, in upper case: "no such file" was not true
    upper = room.sha["clip_a"].upper()
    for path in (f"/item/{upper}", f"/api/media/{upper}", f"/media/{upper}"):
        assert client.get(path).status_code == 200, path
    page = client.get(f"/media/pages/{version}")
    raw = room.archive.layout.absolute(stored.path).read_bytes()
    assert page.status_code == 200 and page.text == raw.decode()
    # its source, never a document: a page's resource hints and <base> reached the
    # sites it names even in a sandbox
    assert page.headers["content-type"] == "text/plain; charset=utf-8"
    assert page.headers["content-security-policy"] == "default-src 'none'; sandbox"
    saved = client.get(f"/media/pages/{version}", params={"download": 1})
    assert saved.headers["content-disposition"].startswith("attachment;")
    assert saved.content == raw
    sidecar = client.get(f"/media/pages/{version}/provenance.json")
    assert sidecar.status_code == 200 and version in sidecar.text
    one_line_error(client.get(f"/media/pages/{'b' * 64}"), 404)
    one_line_error(client.get(f"/media/pages/{room.sha['clip_a']}"), 404)  # a file, no page


def test_the_page_version_linked_is_the_one_the_embed_was_found_in(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """Picked by when the file was downloaded, a photo whose first download failed was
    linked to the version of the page that had dropped it meanwhile."""
    with_photo = "<article><p>The depot:</p><img src='/p.jpg'></article>"
    server.add_page("/live", with_photo)
    server.add_status("/p.jpg", 503)
    with Archive.open(config_from_dict(settings(tmp_path / "storage"))) as archive:
        first = Capturer(archive).capture_url(server.url("/live"))
        server.add_page("/live", "<article><p>The photo was removed.</p></article>")
        Capturer(archive).capture_url(server.url("/live"))
        server.add_page("/live", with_photo)
        server.add_file("/p.jpg", media.photo_a)
        (item,) = Capturer(archive).capture_url(server.url("/live")).items
        assert item.status == "stored"
        with AppClient(create_app(archive)) as app_client:
            detail = app_client.get(f"/api/media/{item.files[0].sha256}").json()
    assert detail["sightings"][0]["page_version"] == first.page_sha256


def test_a_page_archived_in_another_charset_reads_as_it_was_served(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """A windows-1251 page was sent as UTF-8: "Обстріл Харкова" came out as
    replacement characters."""
    body = "<article><p>Обстріл Харкова:</p><img src='/p.jpg'></article>"
    server.add_bytes("/uk", body.encode("cp1251"), "text/html; charset=windows-1251")
    server.add_file("/p.jpg", media.photo_a)
    with Archive.open(config_from_dict(settings(tmp_path / "storage"))) as archive:
        Capturer(archive).capture_url(server.url("/uk"))
        with archive.read_session() as session:
            version = session.scalars(select(PageSnapshot.sha256)).one()
        with AppClient(create_app(archive)) as app_client:
            page = app_client.get(f"/media/pages/{version}")
    assert "Обстріл Харкова" in page.text


def _raw_get(port: int, target: bytes) -> tuple[int, bytes]:
    """One request with the target exactly as given (no client-side normalising)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, answer


def test_no_path_reaches_outside_the_archive(room: Newsroom) -> None:
    root = room.archive.layout.root
    (root / "secret.txt").write_text("TOP-SECRET-MARKER")
    sha = room.sha["clip_a"]
    attempts = [
        b"/media/../secret.txt",
        b"/media/../../../../etc/passwd",
        b"/media/%2e%2e%2fsecret.txt",
        b"/media/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        b"/media/%252e%252e%252fsecret.txt",
        b"/media/%252e%252e%252f%252e%252e%252fetc%252fpasswd",
        b"/media/..%2fsecret.txt",
        b"/media/..%5csecret.txt",
        b"/media//etc/passwd",
        b"/media/%2fetc%2fpasswd",
        b"/media/" + str(root / "secret.txt").encode(),
        b"/media/secret.txt%00",
        b"/media/" + sha.encode() + b"%00",
        b"/media/" + sha.encode() + b"%00.mp4",
        b"/media/" + sha.encode() + b"0",
        b"/media/" + sha.encode() * 2,
        b"/media/" + sha.encode() + b"/../../secret.txt",
        b"/media/" + sha.encode() + b"/%2e%2e%2f%2e%2e%2fsecret.txt",
        b"/media/" + sha.encode() + b"/provenance.json/../../../secret.txt",
        b"/api/media/..%2f..%2fsecret.txt",
        b"/item/..%2f..%2fsecret.txt",
        b"/static/../secret.txt",
        b"/static/%2e%2e/%2e%2e/secret.txt",
        b"/static/%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.txt",
        b"/embed/%2e%2e%2fsecret.txt",
    ]
    with LiveApp(create_app(room.archive)) as live:
        for target in attempts:
            status, answer = _raw_get(live.port, target)
            assert status in (400, 404), (target, status)
            assert b"TOP-SECRET" not in answer and b"root:x:0:0" not in answer, target
            assert str(root).encode() not in answer, target
        status, answer = _raw_get(live.port, b"/media/" + sha.encode())
        assert status == 200 and answer.endswith(room.files["clip_a"].read_bytes())


# ---- pages -------------------------------------------------------------------------------


def test_head_is_answered_as_get_without_the_body(room: Newsroom, client: AppClient) -> None:
    """Every page and API route answered HEAD with a 405, the embeddable player too,
    which CMS link checkers probe with HEAD: only originals and static files took it."""
    sha = room.sha["clip_a"]
    paths = [
        "/", f"/item/{sha}", f"/embed/{sha}", f"/embed/{'ab' * 32}", "/dupes", "/editors",
        "/status", "/login", "/api/search?limit=2", "/api/search?sha=1", f"/api/media/{sha}",
        "/api/dupes", "/api/embeds", "/api/status", "/openapi.json", "/logout", "/nowhere",
        f"/media/{sha}", "/static/archiver.css",
    ]  # fmt: skip
    for path in paths:
        got, head = client.get(path), client.head(path)
        assert head.status_code == got.status_code, path
        assert head.headers == got.headers, path
        assert head.status_code != 405 or path == "/logout"  # a form's POST, as for GET
    request = f"HEAD /embed/{sha} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with (
        LiveApp(create_app(room.archive)) as live,  # no body on the wire either
        socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock,
    ):
        sock.sendall(request.encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    top, _, body = answer.partition(b"\r\n\r\n")
    assert top.startswith(b"HTTP/1.1 200") and body == b""
    assert b"content-length: " in top.lower() and b"frame-ancestors *" in top


def test_pages_render_the_archive(room: Newsroom, client: AppClient) -> None:
    sha = room.sha
    found = client.get("/", params={"sha256": sha["clip_a"][:12]})
    assert found.status_code == 200 and f"/item/{sha['clip_a']}" in found.text
    assert f"/item/{sha['photo_a']}" not in found.text
    bad = client.get("/", params={"sha256": "xyz"})
    assert bad.status_code == 400 and "hex characters" in bad.text
    assert client.get("/", params={"limit": "lots"}).status_code == 400
    assert "Fighters near the Citadel" in client.get("/", params={"text": "citadel"}).text
    uploaded = client.get("/", params={"upload_since": "2013-09-28"}).text
    assert f"/item/{sha['clip_b']}" in uploaded and f"/item/{sha['clip_a']}" not in uploaded

    item = client.get(f"/item/{sha['photo_a']}").text
    for expected in (
        sha["photo_a"],
        "ORIGINAL ENTRY",
        "Smoke rises over the old city",
        "pdq",
        f"/media/{sha['photo_a']}/provenance.json",
        "gone",
        "HTTP 404",
        "earliest",
    ):
        assert expected in item, expected
    video = client.get(f"/item/{sha['clip_a']}").text
    assert f'<video id="player" controls preload="metadata" src="/media/{sha["clip_a"]}"' in video
    assert "<audio" in client.get(f"/item/{sha['audio']}").text
    assert client.get(f"/item/{'0' * 64}").status_code == 404
    assert client.get("/item/nope").status_code == 404

    dupes = client.get("/dupes").text
    assert dupes.count('class="group"') == 2 and sha["clip_copy"] in dupes
    # what chose each member's place: the page the earliest was first seen on (the
    # copies' first sightings, on the repost, came after)
    seen_on = rf'first seen [\d-]+ [\d:]+ UTC on <a class="url" href="{re.escape(room.live_url)}"'
    assert len(re.findall(seen_on, dupes)) == 2
    assert "platform upload date where known, else the first sighting" not in dupes
    # a result's group tag leads to the group past /dupes' first page too (it named an
    # anchor only the first page could hold)
    found = client.get("/", params={"sha256": sha["clip_copy"]}).text
    assert f'href="/item/{sha["clip_copy"]}#group"' in found
    assert 'id="group"' in client.get(f"/item/{sha['clip_copy']}").text

    editors = client.get("/editors").text
    snippet = f"&lt;img src=&#34;http://127.0.0.1:8787/media/{sha['photo_a']}&#34;"
    assert snippet in editors and "gone" in editors and "HTTP 404" in editors
    assert sha["clip_a"] not in editors  # live embeds are not listed by default
    assert sha["clip_a"] not in client.get("/editors", params={"status": ""}).text  # nor so
    every = client.get("/editors", params={"status": "all", "page": room.live_url}).text
    assert sha["clip_a"] in every and "&lt;video controls" in every
    assert client.get("/editors", params={"status": "dead-ish"}).status_code == 400

    status = client.get("/status").text
    assert "Capture queue" in status and "done" in status

    embed = client.get(f"/embed/{sha['clip_a']}")
    assert (
        embed.status_code == 200 and "frame-ancestors *" in embed.headers["content-security-policy"]
    )


def test_base_url_from_config_goes_into_snippets(room: Newsroom, client: AppClient) -> None:
    """Without it, snippets point at this machine's loopback, which no reader of a story
    can reach: the editors' page says so (the snippets just did not load)."""
    assert "this machine's own address" in client.get("/editors", params={"status": "all"}).text
    public = with_web(room, base_url="https://archive.example.org/", public_read_only=True)
    with AppClient(create_app(public)) as app_client:
        editors = app_client.get("/editors", params={"status": "all"}).text
    assert f"https://archive.example.org/media/{room.sha['photo_a']}" in editors
    assert "this machine's own address" not in editors
    public.close()


# ---- PostgreSQL too ------------------------------------------------------------------------


def test_api_on_both_databases(
    db_url: str, tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    room = build_newsroom(tmp_path, server, media, db_url=db_url)
    try:
        with AppClient(create_app(room.archive)) as app_client:
            listed = app_client.get("/api/search", params={"text": "citadel"}).json()
            with room.archive.read_session() as session:
                expected = [
                    r.to_json()
                    for r in search(session, room.archive.layout, SearchQuery.parse(text="citadel"))
                ]
            assert listed == expected and [r["sha256"] for r in listed] == [room.sha["clip_b"]]
            uploaded = app_client.get("/api/search", params={"upload_since": "2013-09-28"})
            assert [r["sha256"] for r in uploaded.json()] == [room.sha["clip_b"]]
            detail = app_client.get(f"/api/media/{room.sha['photo_a']}").json()
            assert detail["liveness"][0]["status"] == "gone"
            gone = app_client.get("/api/embeds", params={"status": "gone"}).json()
            assert room.sha["photo_a"] in {s for r in gone for s in r["archived_sha256"]}
            ranged = app_client.get(
                f"/media/{room.sha['clip_a']}", headers={"Range": "bytes=10-19"}
            )
            assert ranged.content == room.files["clip_a"].read_bytes()[10:20]
            assert len(app_client.get("/api/dupes").json()) == 2
    finally:
        room.archive.close()


def test_long_listings_come_in_pages(
    client: AppClient, room: Newsroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/dupes and /editors show a slice at a time, with links to the next and back."""
    monkeypatch.setattr("archiver.web.pages.UI_GROUPS", 1)
    monkeypatch.setattr("archiver.web.pages.UI_EMBEDS", 1)
    first = client.get("/dupes").text
    assert first.count('class="group"') == 1 and 'href="/dupes?offset=1"' in first
    second = client.get("/dupes", params={"offset": 1}).text
    assert second.count('class="group"') == 1 and 'rel="prev"' in second
    assert 'rel="next"' not in second  # the archive has two groups
    everything = client.get("/editors", params={"status": "all"}).text
    assert everything.count('class="embed-row') == 1
    assert 'href="/editors?status=all&amp;offset=1"' in everything
    assert client.get("/dupes", params={"offset": -1}).status_code == 400


def test_a_database_that_does_not_answer_is_a_one_line_503(tmp_path: Path) -> None:
    """PostgreSQL that cannot serve a read (here: a table held locked past the app's
    lock_timeout; in life, a restart or a full disk) gives 503 with Retry-After and
    one line, not a 500 and a traceback; reads work again once it answers."""
    with pg_schema(lock_timeout_ms=200) as url:
        archive = Archive.open(config_from_dict(settings(tmp_path / "storage", url)))
        try:
            with AppClient(create_app(archive)) as app_client:
                assert app_client.get("/api/search").json() == []
                with locked_table(url, "media"):
                    busy = app_client.get("/api/search")
                    page = app_client.get("/")
                assert one_line_error(busy, 503).startswith("archive database unavailable: ")
                assert busy.headers["retry-after"] == "60"
                assert page.status_code == 503 and "Archive unavailable" in page.text
                assert app_client.get("/api/search").json() == []
        finally:
            archive.close()
