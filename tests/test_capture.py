"""Capture end to end: real pages and real media from a local server, into a real archive."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import unicodedata
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from PIL import Image
from sqlalchemy import select
from support import FixtureServer, MediaSet, RequestHandler, closed_port
from support.archiving import make_config, settings
from support.browser import AppClient
from support.media import make_hls

import archiver.capture as capture_module
import archiver.store.objects as objects
from archiver import jobs
from archiver.archive import Archive
from archiver.capture import Capturer, StoredFile
from archiver.config import YtdlpConfig, config_from_dict
from archiver.duplicates import DuplicateFinder
from archiver.errors import ArchiveUnavailable, Interrupted
from archiver.fetch.http import HttpFetcher, Response
from archiver.index.models import (
    CaptureJob,
    Embed,
    Event,
    Fingerprint,
    Media,
    Page,
    Placement,
    utcnow,
)
from archiver.index.records import search_document
from archiver.integrity.fixity import verify_archive
from archiver.liveness.report import embed_statuses
from archiver.search import SearchQuery, search
from archiver.sources.poll import Poller
from archiver.sources.registry import add_source
from archiver.web import create_app

FAKE_YTDLP = Path(__file__).parent / "fixtures" / "fake_ytdlp.py"
PLATFORM_UPDATE = """<article><p><strong>UPDATE 1800 GMT:</strong> Fighters near the Citadel:</p>
<iframe src="https://www.youtube.com/embed/abc123XYZ_0" width="560"></iframe></article>"""


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    with Archive.open(make_config(tmp_path / "storage")) as opened:
        yield opened


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


LIVE_BLOG = """<!doctype html>
<html><head><title>Syria Daily, Sept 28: Rebels hold the Citadel</title>
<meta property="og:image" content="/static/share-card.jpg"></head>
<body>
<header><img src="/static/logo.png" alt="EA WorldView" width="200" height="60">
<nav><a href="/world">World</a> <a href="/syria">Syria</a></nav></header>
<article>
<h1>Syria Daily, Sept 28: Rebels hold the Citadel</h1>
<p><strong>ORIGINAL ENTRY:</strong> Fighting continued overnight in Aleppo.
Activists filmed the aftermath of a strike on the market:</p>
<video controls src="/media/clip_a.mp4" poster="/media/photo_c.jpg"></video>
<p><strong>UPDATE 1800 GMT:</strong> Rebels denied any advance by regime forces,
posting video of their fighters near the Citadel:</p>
<iframe src="about:blank" data-src="/player/7" width="560" height="315"></iframe>
<figure><a href="/media/photo_a.jpg"><img src="/thumbs/photo_a_small.jpg" width="300"></a>
<figcaption>Smoke rises over the old city, September 28.</figcaption></figure>
<p>The ambassador laughs:</p>
<img srcset="/thumbs/photo_b_small.jpg 320w, /media/photo_b.jpg 800w" src="/thumbs/photo_b_small.jpg">
<p>More on <a href="/syria/yesterday">yesterday's fighting</a>.</p>
<img src="/pixel.gif" width="1" height="1">
</article>
<aside class="sidebar"><img src="/media/photo_c.jpg" alt="related"></aside>
</body></html>
"""

PLAYER = """<!doctype html><html><head>
<meta property="og:title" content="Fighters near the Citadel">
<script type="application/ld+json">
{"@context": "https://schema.org", "@type": "VideoObject", "name": "Fighters near the Citadel",
 "contentUrl": "/media/clip_b.mp4", "uploadDate": "2013-09-28T17:40:00Z",
 "author": {"@type": "Person", "name": "Aleppo Media Centre"}}
</script></head><body><div id="player"></div></body></html>
"""


def serve_live_blog(server: FixtureServer, media: MediaSet) -> str:
    server.add_page("/syria-daily", LIVE_BLOG)
    server.add_page("/player/7", PLAYER)
    for name in ("clip_a", "clip_b", "photo_a", "photo_b", "photo_c"):
        path = getattr(media, name)
        server.add_file(f"/media/{path.name}", path)
    server.add_file("/thumbs/photo_a_small.jpg", media.photo_c)
    server.add_file("/thumbs/photo_b_small.jpg", media.photo_c)
    server.add_file("/static/logo.png", media.png)
    server.add_file("/pixel.gif", media.pixel)
    return server.url("/syria-daily")


def test_live_blog_embeds_are_archived_with_update_and_context(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    url = serve_live_blog(server, media)
    report = Capturer(archive).capture_url(url)

    assert report.ok, report.to_json()
    stored = {f.sha256 for item in report.items for f in item.files}
    expected = {sha256_of(media.clip_a), sha256_of(media.clip_b)}
    expected |= {sha256_of(media.photo_a), sha256_of(media.photo_b)}
    assert stored == expected  # not the thumbnails, logo, pixel, share card or sidebar
    for path in ("/thumbs/photo_a_small.jpg", "/static/logo.png", "/pixel.gif"):
        assert server.hits(path) == 0

    with archive.session() as session:
        records = {
            r.media.sha256: r.to_json() for r in search(session, archive.layout, SearchQuery())
        }
    strike = records[sha256_of(media.clip_a)]["sightings"][0]
    assert strike["update"] == "ORIGINAL ENTRY"
    assert strike["context"].endswith("filmed the aftermath of a strike on the market:")
    fighters = records[sha256_of(media.clip_b)]
    assert fighters["sightings"][0]["update"] == "UPDATE 1800 GMT"
    assert fighters["sightings"][0]["context"] == (
        "Rebels denied any advance by regime forces, posting video of their fighters near the Citadel:"
    )
    assert fighters["sightings"][0]["embed_url"] == server.url("/player/7")
    assert fighters["sightings"][0]["media_url"] == server.url("/media/clip_b.mp4")
    assert fighters["platform"]["upload_date"] == "2013-09-28"
    assert fighters["platform"]["uploader"] == "Aleppo Media Centre"
    smoke = records[sha256_of(media.photo_a)]["sightings"][0]
    assert smoke["context"] == "Smoke rises over the old city, September 28."


def test_stored_file_is_the_exact_bytes_with_a_complete_sidecar(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    url = serve_live_blog(server, media)
    Capturer(archive).capture_url(url)
    digest = sha256_of(media.clip_a)
    folder = archive.layout.media_dir(digest)

    original = folder / "original.mp4"
    assert original.read_bytes() == media.clip_a.read_bytes()
    assert folder.parent.parent.name == digest[:2] and folder.parent.name == digest[2:4]

    sidecar = json.loads((folder / "provenance.json").read_text())
    assert sidecar["schema"] == "archiver.provenance" and sidecar["schema_version"] == 1
    assert sidecar["file"] == {
        "name": "original.mp4",
        "sha256": digest,
        "md5": hashlib.md5(media.clip_a.read_bytes()).hexdigest(),
        "size_bytes": media.clip_a.stat().st_size,
        "mime_type": "video/mp4",
        "media_type": "video",
    }
    (sighting,) = sidecar["sightings"]
    assert sighting["page_url"] == url
    assert sighting["page_title"] == "Syria Daily, Sept 28: Rebels hold the Citadel"
    assert sighting["found_in"] == "video"
    acquisition = sighting["acquisition"]
    assert acquisition["tool"] == "httpx" and acquisition["http_status"] == 200
    assert acquisition["response_headers"]["content-length"] == str(media.clip_a.stat().st_size)
    # the documented example has the keys a sidecar has (it lacked two once)
    documented = (Path(__file__).parents[1] / "docs" / "provenance.md").read_text()
    example = json.loads(documented.partition("```json\n")[2].partition("\n```")[0])
    assert set(example) == set(sidecar) and set(example["file"]) == set(sidecar["file"])
    (shown,) = example["sightings"]
    assert set(shown) == set(sighting) and set(shown["acquisition"]) == set(acquisition)

    page_versions = list((archive.layout.pages_root).rglob("page.html"))
    assert [p.read_text() for p in page_versions] == [LIVE_BLOG]
    assert not files_under(archive.layout.tmp_root)


def test_identical_bytes_on_two_pages_are_stored_once_with_two_sightings(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    server.add_file("/a/photo.jpg", media.photo_a)
    server.add_file("/b/same-photo-other-name.jpg", media.photo_a)
    server.add_page(
        "/a", "<article><h2>Monday</h2><p>Seen first here:</p><img src='/a/photo.jpg'></article>"
    )
    server.add_page(
        "/b",
        "<article><p>UPDATE 0900 GMT: A re-post:</p><img src='/b/same-photo-other-name.jpg'></article>",
    )
    capturer = Capturer(archive)
    first = capturer.capture_url(server.url("/a"))
    second = capturer.capture_url(server.url("/b"))

    assert first.items[0].status == "stored" and second.items[0].status == "already"
    digest = sha256_of(media.photo_a)
    assert len(list(archive.layout.media_root.rglob("original.*"))) == 1
    sidecar = json.loads((archive.layout.media_dir(digest) / "provenance.json").read_text())
    assert [(s["page_url"], s["update"]) for s in sidecar["sightings"]] == [
        (server.url("/a"), "Monday"),
        (server.url("/b"), "UPDATE 0900 GMT"),
    ]


def test_a_page_embedding_a_file_deleted_since_it_was_archived_is_given_that_copy(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    """A second page embedding footage deleted since it was archived through a first:
    its item said "gone", and neither a search by that page nor the file's sidecar
    knew that the page showed what the archive holds."""
    update = "<article><p>{}:</p><video src='/media/clip.mp4'></video></article>"
    server.add_file("/media/clip.mp4", media.clip_a)
    server.add_page("/a", update.format("UPDATE 1800 GMT: Fighters near the Citadel"))
    server.add_page("/b", update.format("UPDATE 0900 GMT: The same clip, now verified"))
    capturer = Capturer(archive)
    assert capturer.capture_url(server.url("/a")).ok
    server.add_status("/media/clip.mp4", 404)
    (item,) = capturer.capture_url(server.url("/b")).items

    digest = sha256_of(media.clip_a)
    assert (item.status, [f.sha256 for f in item.files]) == ("already", [digest])
    sidecar = json.loads((archive.layout.media_dir(digest) / "provenance.json").read_text())
    first, second = sidecar["sightings"]
    assert (second["page_url"], second["update"]) == (server.url("/b"), "UPDATE 0900 GMT")
    assert second["acquisition"]["reused_from"] == {
        "page_url": server.url("/a"),
        "embed_url": server.url("/media/clip.mp4"),
        "first_seen_at": first["first_seen_at"],
    }
    with archive.read_session() as session:
        found = search(session, archive.layout, SearchQuery.parse(page=server.url("/b")))
    assert [r.media.sha256 for r in found] == [digest]


# an ASF (Windows Media) header: bytes that do not show their type, so the server's word
# names the stored file
ASF = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c") + bytes(range(256)) * 32


def test_bytes_two_placers_bring_at_once_are_stored_once(
    archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both looked for an original, found none, and linked their own: ``original.wmv``
    and ``original.mp4`` of the same bytes, one of them unknown to the index."""
    sha256 = hashlib.sha256(ASF).hexdigest()
    looked, linking = threading.Event(), threading.Event()
    real_find, real_publish = objects.find_original, objects.publish

    def find(layout: Any, digest: str) -> Path | None:
        if threading.current_thread().name == "second":
            looked.set()
        return real_find(layout, digest)

    def publish(tmp: Path, final: Path) -> bool:
        if threading.current_thread().name == "first":
            linking.set()
            looked.wait(1)  # the second looks now, unless it waits its turn
        return real_publish(tmp, final)

    monkeypatch.setattr(objects, "find_original", find)
    monkeypatch.setattr(objects, "publish", publish)
    placed: dict[str, Path] = {}

    def place(name: str, extension: str) -> None:
        part = tmp_path / f"{name}.part"
        part.write_bytes(ASF)
        placed[name] = objects.place_original(archive.layout, part, sha256, extension)

    first = threading.Thread(target=place, args=("first", "wmv"), name="first")
    first.start()
    assert linking.wait(10)
    second = threading.Thread(target=place, args=("second", "mp4"), name="second")
    second.start()
    first.join(10)
    second.join(10)
    folder = archive.layout.media_dir(sha256)
    assert sorted(p.name for p in folder.iterdir()) == ["original.wmv"]
    assert placed == {"first": folder / "original.wmv", "second": folder / "original.wmv"}


def test_bytes_indexed_first_by_a_capture_that_did_not_place_them_are_what_the_file_says(
    archive: Archive, server: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A capture whose server called the bytes ``video/mp4`` found them placed as
    ``original.wmv`` by another, not yet indexed: it indexed them as ``video/mp4``."""
    server.add_bytes("/a/clip.wmv", ASF, "video/x-ms-wmv")
    server.add_bytes("/b/clip", ASF, "video/mp4")
    server.add_page("/a", "<article><p>First:</p><video src='/a/clip.wmv'></video></article>")
    server.add_page("/b", "<article><p>Again:</p><video src='/b/clip'></video></article>")
    placed, second_done = threading.Event(), threading.Event()
    real_place = capture_module.place_original

    def place_then_wait(*args: Any, **kwargs: Any) -> Path:
        path = real_place(*args, **kwargs)
        if args[-1] == "wmv":  # the first capture's (on one of its pool's threads)
            placed.set()
            assert second_done.wait(60)  # placed, not indexed, while the second runs
        return path

    monkeypatch.setattr(capture_module, "place_original", place_then_wait)
    first = threading.Thread(target=lambda: Capturer(archive).capture_url(server.url("/a")))
    first.start()
    assert placed.wait(60)
    (item,) = Capturer(archive).capture_url(server.url("/b")).items
    second_done.set()
    first.join(60)

    assert item.status == "stored", item.reason
    with archive.read_session() as session:
        (media,) = session.scalars(select(Media)).all()
        assert (media.path.rsplit("/", 1)[1], media.mime_type) == ("original.wmv", "video/x-ms-wmv")
    assert verify_archive(archive).ok


def test_bytes_another_capture_placed_under_another_name_are_indexed_at_the_next_start_as_the_file_says(
    archive: Archive, server: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As above, but killed before either indexed them: the next start settled the
    ``video/mp4`` intent first (oldest first) and indexed ``original.wmv`` as
    ``video/mp4``, index and sidecar disagreeing with the file."""
    server.add_bytes("/a/clip.wmv", ASF, "video/x-ms-wmv")
    server.add_bytes("/b/clip", ASF, "video/mp4")
    server.add_page("/a", "<article><p>First:</p><video src='/a/clip.wmv'></video></article>")
    server.add_page("/b", "<article><p>Again:</p><video src='/b/clip'></video></article>")
    real_place = capture_module.place_original

    def killed(capturer: Capturer, path: Path, intent: Any, *args: Any, **kw: Any) -> StoredFile:
        return StoredFile(intent.sha256, path, intent.media_type, True)  # never indexed

    def place(layout: Any, tmp: Path, sha256: str, extension: str, **kwargs: Any) -> Path:
        if extension == "mp4":  # /b's intent is recorded; /a places the bytes meanwhile
            Capturer(archive).capture_url(server.url("/a"))
        return real_place(layout, tmp, sha256, extension, **kwargs)

    monkeypatch.setattr(Capturer, "_index_placed", killed)
    monkeypatch.setattr(capture_module, "place_original", place)
    Capturer(archive).capture_url(server.url("/b"))
    monkeypatch.undo()
    folder = archive.layout.media_dir(hashlib.sha256(ASF).hexdigest())
    assert sorted(p.name for p in folder.iterdir()) == ["original.wmv"]

    assert Capturer(archive).recover()[0] == 2  # the next start
    sidecar = json.loads((folder / "provenance.json").read_text())
    with archive.read_session() as session:
        (media,) = session.scalars(select(Media)).all()
        assert (media.path.rsplit("/", 1)[1], media.mime_type) == ("original.wmv", "video/x-ms-wmv")
    assert sidecar["file"]["mime_type"] == "video/x-ms-wmv"


def test_one_file_on_many_pages_with_one_caption_is_searched_and_reported_once_a_page(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    """A byline photo or a recurring clip on every article: its search document held
    the caption once per page, and the editors' report read the file's row once per
    page for each embed (memory growing with the square of the pages)."""
    server.add_file("/files/map.jpg", media.photo_a)
    capturer = Capturer(archive)
    for n in range(4):
        server.add_page(
            f"/story-{n}",
            f"<article><h2>Story {n}</h2><p>The front line on Monday:</p>"
            "<img src='/files/map.jpg'></article>",
        )
        capturer.capture_url(server.url(f"/story-{n}"))

    with archive.read_session() as session:
        document = session.scalar(select(Media.search_text))
        # added to at each sighting, it is here what reading every sighting again makes
        assert document == search_document(session, session.scalars(select(Media)).one())
        rows = embed_statuses(session, archive.layout)
        found = search(session, archive.layout, SearchQuery.parse(text="front line story 3"))
    assert document is not None and document.count("the front line on monday:") == 1
    assert [f"story {n}" in document for n in range(4)] == [True] * 4
    assert len(found) == 1
    digest = sha256_of(media.photo_a)
    assert [[m.sha256 for m in row.copies] for row in rows] == [[digest]] * 4


def test_two_addresses_serving_the_same_page_share_one_version_and_both_are_in_its_sidecar(
    archive: Archive, server: FixtureServer
) -> None:
    """The version's one sidecar was rewritten by each page that served the bytes, so
    the second address replaced the first's URL, headers and times."""
    body = "<article><p>UPDATE 1800 GMT: No media in this update.</p></article>"
    server.add_page("/live", body)
    server.add_page("/live-amp", body)
    capturer = Capturer(archive)
    for path in ("/live", "/live-amp", "/live"):
        capturer.capture_url(server.url(path))

    (version,) = archive.layout.pages_root.rglob("page.html")
    sidecar = json.loads((version.parent / "provenance.json").read_text())
    assert (sidecar["schema_version"], sidecar["size_bytes"]) == (2, len(body.encode()))
    pages = sidecar["pages"]
    assert [p["url"] for p in pages] == [server.url("/live"), server.url("/live-amp")]
    assert pages[0]["last_fetched_at"] > pages[1]["first_fetched_at"]  # fetched again last
    assert pages[1]["http_status"] == 200 and "content-type" in pages[1]["response_headers"]
    assert verify_archive(archive).ok

    del pages[1]  # a page taken out of the provenance
    (version.parent / "provenance.json").write_text(json.dumps(sidecar))
    (problem,) = verify_archive(archive).problems
    assert (problem.kind, problem.detail) == (
        "disagreement",
        "pages (count): sidecar 1, database 2",
    )


def test_a_page_is_archived_under_its_address_without_tracking_or_fragment(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    """A page captured from a shared link was found only under that spelling: searching
    the page's plain address found nothing."""
    server.add_file("/media/photo_a.jpg", media.photo_a)
    server.add_page("/story", "<article><p>The market:</p><img src='/media/photo_a.jpg'></article>")
    shared = server.url("/story?utm_source=twitter&utm_medium=social&id=7#update-3")

    report = Capturer(archive).capture_url(shared)

    assert report.ok and report.url == server.url("/story?id=7")
    assert server.requests[0].path == "/story?id=7"
    with archive.read_session() as session:
        assert session.scalars(select(Page.url)).all() == [server.url("/story?id=7")]
        for spelling in (server.url("/story?id=7"), shared):
            (found,) = search(session, archive.layout, SearchQuery.parse(page=spelling))
            assert found.to_json()["sha256"] == sha256_of(media.photo_a)


def test_a_page_and_its_words_are_found_however_they_are_typed(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    """A page at an address in Arabic letters was found only in the spelling it was
    captured under, not as the address bar shows it or with lower-case escapes; a
    context in decomposed letters was not found by the word typed as usual, nor
    "İdlib" by "idlib"."""
    server.add_file("/media/photo_a.jpg", media.photo_a)
    escaped = "/" + quote("حلب")
    said = unicodedata.normalize("NFD", "Обстріл під Києвом, як і в İdlib:")
    server.add_page(escaped, f"<article><p>{said}</p><img src='/media/photo_a.jpg'></article>")

    assert Capturer(archive).capture_url(server.url(escaped)).ok
    with archive.read_session() as session:
        for spelling in (escaped, escaped.lower(), "/حلب"):
            (found,) = search(session, archive.layout, SearchQuery.parse(page=server.url(spelling)))
            assert found.to_json()["sha256"] == sha256_of(media.photo_a)
        for words in ("Києвом", "idlib", "İDLIB під"):
            assert len(search(session, archive.layout, SearchQuery.parse(text=words))) == 1


def test_a_page_is_one_row_however_its_address_is_spelled(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    """A feed wrote an address in Arabic letters and a person pasted it from the
    address bar, percent-escaped: each spelling made a page row of its own, so the
    page was listed, checked and described twice."""
    server.add_file("/media/photo_a.jpg", media.photo_a)
    escaped = "/" + quote("حلب")
    server.add_page(
        escaped, "<article><p>Smoke over the port:</p><img src='/media/photo_a.jpg'></article>"
    )

    for spelling in ("/حلب", escaped):
        assert Capturer(archive).capture_url(server.url(spelling)).ok

    with archive.read_session() as session:
        (page,) = session.scalars(select(Page)).all()
        (embed,) = session.scalars(select(Embed)).all()
    assert page.url == server.url("/حلب") and embed.page_id == page.id
    with archive.read_session() as session:
        (found,) = search(session, archive.layout, SearchQuery.parse(page=server.url(escaped)))
    assert [s["page_url"] for s in found.to_json()["sightings"]] == [server.url("/حلب")]


def test_a_daemon_beside_a_capture_does_not_take_the_captures_own_jobs(
    archive: Archive, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page's embed jobs were due the moment they were recorded: a daemon draining
    the queue took them, and ``archiver capture`` reported its own page's files as
    "queued" (no SHA-256, exit 1) though nothing had failed."""
    server.add_file("/media/photo_a.jpg", media.photo_a)
    server.add_file("/media/photo_b.jpg", media.photo_b)
    server.add_page(
        "/live",
        "<article><p>Smoke:</p><img src='/media/photo_a.jpg'>"
        "<p>The port:</p><img src='/media/photo_b.jpg'></article>",
    )
    capturer = Capturer(archive)
    record_page = capturer.record_page
    taken: list[int] = []

    def then_a_daemon_polls(*args: Any, **kwargs: Any) -> Any:
        recorded = record_page(*args, **kwargs)
        with archive.session() as session:  # the daemon's tick, right after the commit
            taken.extend(job.id for job in jobs.claim_due(session, "other:1", 10, utcnow()))
        return recorded

    monkeypatch.setattr(capturer, "record_page", then_a_daemon_polls)
    report = capturer.capture_url(server.url("/live"))

    assert taken == [] and report.ok
    assert [item.status for item in report.items] == ["stored", "stored"]


def test_a_page_captured_through_a_short_link_is_found_by_its_own_address(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    """A page captured from a short link was found only by the short link, though the
    archive keeps where each version's address led."""
    server.add_file("/media/photo_a.jpg", media.photo_a)
    server.add_page("/story", "<article><p>The market:</p><img src='/media/photo_a.jpg'></article>")
    server.add_redirect("/s/xyz", "/story", 301)

    assert Capturer(archive).capture_url(server.url("/s/xyz")).ok
    with archive.read_session() as session:
        for spelling in ("/s/xyz", "/story"):
            (found,) = search(session, archive.layout, SearchQuery.parse(page=server.url(spelling)))
            assert found.to_json()["sha256"] == sha256_of(media.photo_a)


@pytest.mark.parametrize("target", ["/story?utm_source=feed&utm_medium=rss", "/story#top"])
def test_a_page_a_redirect_led_to_with_tracking_or_a_fragment_is_found_by_its_own_address(
    archive: Archive, server: FixtureServer, media: MediaSet, target: str
) -> None:
    """Feed links lead through a redirect to the story with tracking parameters
    (FeedBurner, dlvr.it): the version's address was compared as fetched, and the
    story's own address, as an investigator copies it, found nothing, in `search`,
    `report` and the embeds' checks alike."""
    server.add_file("/media/photo_a.jpg", media.photo_a)
    server.add_page("/story", "<article><p>The market:</p><img src='/media/photo_a.jpg'></article>")
    server.add_redirect("/feed/item-1", target, 301)

    assert Capturer(archive).capture_url(server.url("/feed/item-1")).ok
    with archive.read_session() as session:
        for spelling in ("/story", target):
            (found,) = search(session, archive.layout, SearchQuery.parse(page=server.url(spelling)))
            assert found.to_json()["sha256"] == sha256_of(media.photo_a)
        (status,) = embed_statuses(session, archive.layout, page=server.url("/story"))
        assert status.to_json()["page_url"] == server.url("/feed/item-1")


def test_a_page_is_read_in_the_charset_its_server_names(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    """An Arabic live blog whose charset only the HTTP header names (no <meta>) was
    read as Windows-1252: its title and every context came out as mojibake."""
    server.add_file("/media/photo_a.jpg", media.photo_a)
    html = (
        "<html><head><title>حلب: اشتباكات</title></head><body><article>"
        "<p>ناشطون نشروا هذه الصورة:</p><img src='/media/photo_a.jpg'></article></body></html>"
    )
    server.add_bytes("/ar", html.encode("cp1256"), "text/html; charset=windows-1256")

    report = Capturer(archive).capture_url(server.url("/ar"))

    assert report.ok and report.title == "حلب: اشتباكات"
    with archive.read_session() as session:
        assert session.scalars(select(Embed.context)).all() == ["ناشطون نشروا هذه الصورة:"]


def test_capturing_again_reuses_finished_work_and_keeps_one_page_version(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    url = serve_live_blog(server, media)
    capturer = Capturer(archive)
    capturer.capture_url(url)
    hits = server.hits("/media/clip_a.mp4")
    again = capturer.capture_url(url)

    assert again.ok and not again.page_changed
    assert {item.status for item in again.items} == {"already"}
    assert server.hits("/media/clip_a.mp4") == hits
    assert len(list(archive.layout.pages_root.rglob("page.html"))) == 1


def test_a_direct_media_url_is_archived_without_a_page(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    server.add_file("/raw/footage.mp4", media.clip_b)
    report = Capturer(archive).capture_url(server.url("/raw/footage.mp4"))

    assert report.ok and report.page_sha256 is None
    (item,) = report.items
    assert item.found_in == "direct" and item.files[0].sha256 == sha256_of(media.clip_b)


X_PHOTO_PAGE = """<article><p>UPDATE 1800 GMT: The photo the activists posted:</p>
<img src="http://pbs.twimg.com:{port}/media/FxYzAbC?format=jpg&amp;name=small" width="680">
</article>"""


def stand_in(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Resolve the host ``name`` to the local server's address."""
    real = socket.getaddrinfo

    def lookup(host: str, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host == name else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)


@pytest.fixture
def x_photo_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """X's photo host, pbs.twimg.com, stood in for by the local server."""
    stand_in(monkeypatch, "pbs.twimg.com")


@pytest.mark.usefixtures("x_photo_host")
def test_a_hotlinked_x_photo_is_archived_at_its_uploaded_size(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    server.add_page("/p", X_PHOTO_PAGE.format(port=server.port))
    server.add_file("/media/FxYzAbC?format=jpg&name=small", media.photo_c)
    server.add_file("/media/FxYzAbC?format=jpg&name=orig", media.photo_a)
    report = Capturer(archive).capture_url(server.url("/p"))

    (item,) = report.items
    assert item.status == "stored" and item.files[0].sha256 == sha256_of(media.photo_a)
    assert server.hits("/media/FxYzAbC?format=jpg&name=small") == 0
    page_spelling = f"http://pbs.twimg.com:{server.port}/media/FxYzAbC?format=jpg&name=small"
    assert item.original_url == page_spelling
    with archive.session() as session:
        (record,) = search(session, archive.layout, SearchQuery())
    found = record.to_json()
    assert found["sightings"][0]["media_url"] == page_spelling.replace("small", "orig")
    (sighting,) = json.loads(Path(found["sidecar"]).read_text())["sightings"]
    assert sighting["embed_original_url"] == page_spelling


@pytest.mark.usefixtures("x_photo_host")
def test_a_file_refused_at_its_canonical_address_is_fetched_as_the_page_wrote_it(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    server.add_page("/p", X_PHOTO_PAGE.format(port=server.port))
    server.add_file("/media/FxYzAbC?format=jpg&name=small", media.photo_c)
    server.add_status("/media/FxYzAbC?format=jpg&name=orig", 404)
    report = Capturer(archive).capture_url(server.url("/p"))

    (item,) = report.items
    assert item.status == "stored" and item.files[0].sha256 == sha256_of(media.photo_c)
    with archive.session() as session:
        (record,) = search(session, archive.layout, SearchQuery())
    assert record.to_json()["sightings"][0]["media_url"].endswith("name=small")

    # when the page's spelling fails too, the canonical address's error is the reason
    server.add_status("/media/FxYzAbC?format=jpg&name=small", 404)
    server.add_page("/q", X_PHOTO_PAGE.format(port=server.port).replace("FxYzAbC", "FxYzAbC2"))
    server.add_status("/media/FxYzAbC2?format=jpg&name=orig", 410)
    server.add_status("/media/FxYzAbC2?format=jpg&name=small", 404)
    (gone,) = Capturer(archive).capture_url(server.url("/q")).items
    assert gone.status == "gone" and gone.reason.startswith("HTTP 410")


def test_a_wordpress_photo_is_archived_as_uploaded_else_as_shown(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    """WordPress shows sizes it made of an upload (``-1024x683``), without the photo's
    EXIF data: the upload beside them is archived; a site that kept no upload gives
    the size the page showed."""
    server.add_file("/wp-content/uploads/2013/09/minaret.jpg", media.photo_a)
    server.add_file("/wp-content/uploads/2013/09/minaret-1024x683.jpg", media.photo_b)
    server.add_file("/wp-content/uploads/2013/09/dome-1024x683.jpg", media.photo_c)
    server.add_page(
        "/p",
        "<article><p>The minaret:</p><img src='/wp-content/uploads/2013/09/minaret-1024x683.jpg'>"
        "<p>The dome:</p><img src='/wp-content/uploads/2013/09/dome-1024x683.jpg'></article>",
    )
    minaret, dome = Capturer(archive).capture_url(server.url("/p")).items
    assert minaret.files[0].sha256 == sha256_of(media.photo_a)
    assert minaret.original_url.endswith("minaret-1024x683.jpg")
    assert (dome.status, dome.files[0].sha256) == ("stored", sha256_of(media.photo_c))


def test_a_photo_an_image_cdn_copied_is_archived_from_its_upload_else_from_the_copy(
    archive: Archive, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Photon's copy (``i0.wp.com/SITE/PATH?resize=…``) is re-encoded, without the
    photo's EXIF data: the upload on the site is archived; when that site is down, the
    copy the page showed is, at once (it may be gone when the site is back)."""
    stand_in(monkeypatch, "i0.wp.com")  # Jetpack's image CDN
    cdn = f"http://i0.wp.com:{server.port}"
    upload = f"127.0.0.1:{server.port}/wp-content/uploads/2024/03/tanks.jpg"
    down = f"127.0.0.1:{closed_port()}/wp-content/uploads/2024/03/depot.jpg"
    server.add_file("/wp-content/uploads/2024/03/tanks.jpg", media.photo_a)
    server.add_file(f"/{upload}", media.photo_b)
    server.add_file(f"/{down}", media.photo_c)
    server.add_page(
        "/p",
        f"<article><p>Tanks:</p><img src='{cdn}/{upload}?resize=1024,768'>"
        f"<p>The depot:</p><img src='{cdn}/{down}?resize=1024,768'></article>",
    )
    tanks, depot = Capturer(archive).capture_url(server.url("/p")).items
    assert tanks.url == f"http://{upload}" and tanks.original_url.startswith(cdn)
    assert tanks.files[0].sha256 == sha256_of(media.photo_a)
    assert server.hits(f"/{upload}") == 0
    assert (depot.status, depot.files[0].sha256) == ("stored", sha256_of(media.photo_c))


def test_a_player_url_that_serves_json_is_left_to_ytdlp(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JW Player's embed names its media's JSON, not a page to read for media: yt-dlp
    reads it (here a stand-in, as the player's host cannot be reached)."""
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_b))
    monkeypatch.setenv(
        "FAKE_YTDLP_INFO", json.dumps({"id": "nPripu9l", "extractor_key": "JWPlatform"})
    )
    server.add_bytes(
        "/v2/media/nPripu9l", b'{"playlist": [{"mediaid": "nPripu9l"}]}', "application/json"
    )
    player = server.url("/v2/media/nPripu9l")
    server.add_page("/p", f'<article><p>Footage:</p><iframe src="{player}"></iframe></article>')
    ytdlp = YtdlpConfig(command=[sys.executable, str(FAKE_YTDLP)], timeout=30)
    config = make_config(tmp_path / "storage").model_copy(update={"ytdlp": ytdlp})
    with Archive.open(config) as archive:
        (item,) = Capturer(archive).capture_url(server.url("/p")).items
    assert item.status == "stored", item.reason
    assert [f.sha256 for f in item.files] == [sha256_of(media.clip_b)]


def test_ytdlp_downloads_from_one_host_take_turns_as_direct_downloads_do(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page of YouTube embeds was as many downloads from YouTube at once as there
    were workers, whatever ``per_host_concurrency`` said."""
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_b))
    ids = ("abc123XYZ_0", "abc123XYZ_1", "abc123XYZ_2")
    frames = "".join(f'<iframe src="https://www.youtube.com/embed/{i}"></iframe>' for i in ids)
    server.add_page("/p", f"<article><p>Footage:</p>{frames}</article>")
    ytdlp = YtdlpConfig(command=[sys.executable, str(FAKE_YTDLP)], timeout=30)
    config = make_config(tmp_path / "storage")
    download_config = config.download.model_copy(
        update={"concurrency": 3, "per_host_concurrency": 1}
    )
    config = config.model_copy(update={"ytdlp": ytdlp, "download": download_config})
    running, most = [0], [0]
    lock = threading.Lock()
    with Archive.open(config) as archive:
        real = archive.ytdlp.download

        def download(url: str, work_dir: Path) -> Any:
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            try:
                time.sleep(0.3)
                return real(url, work_dir)
            finally:
                with lock:
                    running[0] -= 1

        monkeypatch.setattr(archive.ytdlp, "download", download)
        report = Capturer(archive).capture_url(server.url("/p"))
    assert [i.status for i in report.items] == ["stored", "already", "already"], [
        i.reason for i in report.items
    ]
    assert most[0] == 1


def test_a_video_served_as_an_hls_stream_is_archived_through_ytdlp(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """``<video><source type="application/x-mpegURL">``: the playlist is not the video;
    yt-dlp (the real one) fetches the segments it lists and joins them, unconverted."""
    playlist = make_hls(media.clip_a, tmp_path / "hls")
    segments = sorted(playlist.parent.glob("seg*.ts"))
    for path in [playlist, *segments]:
        server.add_file(f"/live/hls/{path.name}", path)
    server.add_page(
        "/p",
        "<article><p>Live from the Citadel:</p><video controls><source "
        'src="/live/hls/index.m3u8" type="application/x-mpegURL"></video></article>',
    )
    with Archive.open(make_config(tmp_path / "storage")) as archive:
        (item,) = Capturer(archive).capture_url(server.url("/p")).items
    assert item.status == "stored", item.reason
    (stored,) = item.files
    assert stored.media_type == "video"
    joined = b"".join(segment.read_bytes() for segment in segments)
    assert stored.path.read_bytes() == joined  # the segments as served, one after another
    sidecar = json.loads((stored.path.parent / "provenance.json").read_text())
    assert sidecar["sightings"][0]["acquisition"]["tool"] == "yt-dlp"


def test_a_player_pages_hls_stream_keeps_what_the_page_declares(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """The player page's JSON-LD names an HLS playlist: the video yt-dlp joined was
    recorded with its generic extractor's facts (titled ``index``, no uploader, no
    upload date) and what the page declared was lost."""
    playlist = make_hls(media.clip_a, tmp_path / "hls")
    for path in [playlist, *sorted(playlist.parent.glob("seg*.ts"))]:
        server.add_file(f"/live/hls/{path.name}", path)
    server.add_page("/player/7", PLAYER.replace("/media/clip_b.mp4", "/live/hls/index.m3u8"))
    server.add_page("/p", "<article><p>Fighters:</p><iframe src='/player/7'></iframe></article>")
    with Archive.open(make_config(tmp_path / "storage")) as archive:
        (item,) = Capturer(archive).capture_url(server.url("/p")).items
    assert item.status == "stored", item.reason
    folder = item.files[0].path.parent
    platform = json.loads((folder / "provenance.json").read_text())["platform"]
    said = {key: platform[key] for key in ("extractor", "title", "uploader", "upload_date")}
    assert said == {
        "extractor": "json-ld",
        "title": "Fighters near the Citadel",
        "uploader": "Aleppo Media Centre",
        "upload_date": "2013-09-28",
    }
    assert platform["metadata"]["og:title"] == "Fighters near the Citadel"
    assert platform["metadata"]["ext"] == "mp4" and "format_id" in platform["metadata"]
    assert json.loads((folder / "platform.info.json").read_text())["title"] == "index"


def test_an_embed_whose_canonical_address_changed_is_not_recorded_as_removed(
    archive: Archive,
) -> None:
    """An upgrade that spells an embed's canonical address otherwise (here an X photo,
    now asked for at its uploaded size) must not record it as removed from a live page
    that still shows it; an embed the page dropped is."""
    url = "https://news.example/live"
    served = Response(url, url, 200, {"content-type": "text/html"})
    small = "https://pbs.twimg.com/media/FxYzAbC?format=jpg&name=small"
    page = f"<article><p>The photo:</p><img src='{small}'><img src='/media/gone.jpg'></article>"
    capturer = Capturer(archive)
    capturer.record_page(url, page.encode(), response=served, mark_removed=True)
    with archive.session() as session:  # as an older archiver recorded it
        old = session.scalars(select(Embed).where(Embed.original_url == small)).one()
        old.url = small
    again = page.replace("<img src='/media/gone.jpg'>", "") + "<p>UPDATE 1800 GMT</p>"
    recorded = capturer.record_page(url, again.encode(), response=served, mark_removed=True)
    with archive.session() as session:
        removed = session.scalars(select(Embed.url).where(Embed.removed_at.is_not(None))).all()
    assert removed == ["https://news.example/media/gone.jpg"] and recorded.removed_embeds == 1


def test_an_interrupted_download_leaves_nothing_and_is_retried(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    data = media.clip_a.read_bytes()
    server.add_truncated("/media/cut.mp4", data[: len(data) // 2], declared_length=len(data))
    server.add_page("/p", "<article><p>Cut off:</p><video src='/media/cut.mp4'></video></article>")
    report = Capturer(archive).capture_url(server.url("/p"))

    (item,) = report.items
    assert item.status == "failed" and not report.ok
    assert "closed the connection early" in item.reason or "incomplete" in item.reason
    assert not list(archive.layout.media_root.rglob("*"))
    assert not files_under(archive.layout.tmp_root)
    with archive.session() as session:
        job = session.scalars(select(CaptureJob).where(CaptureJob.embed_id.is_not(None))).one()
        assert job.state == "failed" and job.next_attempt_at is not None and job.attempts == 1


def test_a_file_placed_but_never_indexed_is_new_when_the_retry_indexes_it(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    """A process that died between placing a file and indexing it left the bytes in
    place; the retry indexes them and reports them as new to the archive (it said
    "already there" because the folder existed)."""
    data = media.photo_a.read_bytes()
    folder = archive.layout.media_dir(hashlib.sha256(data).hexdigest())
    folder.mkdir(parents=True)
    (folder / "original.jpg").write_bytes(data)
    server.add_file("/media/photo_a.jpg", media.photo_a)
    server.add_page("/p", "<article><p>The market:</p><img src='/media/photo_a.jpg'></article>")

    (item,) = Capturer(archive).capture_url(server.url("/p")).items

    assert item.status == "stored" and [f.new for f in item.files] == [True]
    assert (folder / "provenance.json").is_file()
    assert verify_archive(archive).ok


def test_a_retry_that_indexes_a_file_spends_the_intent_an_earlier_attempt_left(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    """An attempt cut short after its link (the disk filled before the index was
    written) left its intent, owned by the daemon that still runs; the retry indexed
    the file and left that intent, so the next start indexed the file again."""
    server.add_status("/media/photo_a.jpg", 503)
    server.add_page("/p", "<article><p>The market:</p><img src='/media/photo_a.jpg'></article>")
    capturer = Capturer(archive)
    (failed,) = capturer.capture_url(server.url("/p")).items
    assert failed.status == "failed"
    sha256 = hashlib.sha256(media.photo_a.read_bytes()).hexdigest()
    with archive.session() as session:
        embed_id = session.scalars(select(Embed.id)).one()
        earlier = {"kind": "media", "sha256": sha256}  # what the cut-short attempt wrote
        session.add(Placement(embed_id=embed_id, sha256=sha256, intent=earlier,
                              owner=capturer.owner, created_at=utcnow()))  # fmt: skip

    server.add_file("/media/photo_a.jpg", media.photo_a)
    (item,) = capturer.capture_url(server.url("/p")).items
    assert item.status == "stored"
    with archive.session() as session:
        assert not session.scalars(select(Placement)).all()


def test_a_file_a_shutdown_left_unfingerprinted_is_finished_not_downloaded_again(
    archive: Archive, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shutdown while a stored file was fingerprinted put its job back to pending;
    run again, it downloaded the file again and, its post deleted meanwhile, said
    "gone" beside the file it had archived, which was never fingerprinted."""
    server.add_file("/media/photo_a.jpg", media.photo_a)
    server.add_page("/p", "<article><p>The market:</p><img src='/media/photo_a.jpg'></article>")
    fingerprint = DuplicateFinder.process

    def shut_down(finder: DuplicateFinder, media_id: int) -> None:
        raise Interrupted("interrupted by shutdown")

    monkeypatch.setattr(DuplicateFinder, "process", shut_down)
    capturer = Capturer(archive)
    (cut_short,) = capturer.capture_url(server.url("/p")).items
    assert cut_short.status == "queued"
    monkeypatch.setattr(DuplicateFinder, "process", fingerprint)
    server.add_status("/media/photo_a.jpg", 404)

    (item,) = capturer.capture_url(server.url("/p")).items
    assert item.status == "already" and item.files[0].sha256 == sha256_of(media.photo_a)
    assert server.hits("/media/photo_a.jpg") == 1
    with archive.read_session() as session:
        assert session.scalars(select(Fingerprint.kind)).all() == ["image"]
        job = session.scalars(select(CaptureJob).where(CaptureJob.embed_id.is_not(None))).one()
        assert job.state == "done"


def test_a_download_indexed_at_the_next_start_is_when_its_bytes_entered_the_archive(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A capture died between placing a photo and indexing it; another archived a copy
    of it, then its bytes through another page. Indexed at the next start, the first
    download left the file dated by the later capture, and the copy its earliest."""
    copy = tmp_path / "copy.jpg"
    with Image.open(media.photo_a) as image:
        image.resize((image.width * 2 // 5, image.height * 2 // 5)).save(copy, quality=30)
    for name, path in (("a", media.photo_a), ("copy", copy), ("b", media.photo_a)):
        server.add_file(f"/{name}/photo.jpg", path)
        server.add_page(f"/{name}", f"<article><p>Smoke:</p><img src='/{name}/photo.jpg'>")
    photo = sha256_of(media.photo_a)
    with Archive.open(make_config(tmp_path / "storage")) as archive:

        def died(capturer: Capturer, path: Path, intent: Any, *args: Any, **kw: Any) -> StoredFile:
            return StoredFile(intent.sha256, path, intent.media_type, True)  # never indexed

        monkeypatch.setattr(Capturer, "_index_placed", died)
        Capturer(archive).capture_url(server.url("/a"))
        monkeypatch.undo()
        elsewhere = Capturer(archive, owner="elsewhere:1")
        assert elsewhere.capture_url(server.url("/copy")).ok
        (item,) = elsewhere.capture_url(server.url("/b")).items
        assert item.files[0].near_duplicates["earliest"] == sha256_of(copy)
        assert Capturer(archive).recover() == (1, 0)  # the next start
        sidecar = json.loads((item.files[0].path.parent / "provenance.json").read_text())
        with archive.read_session() as session:
            captures = session.scalars(
                select(Event.at).where(Event.type == "capture", Event.media_sha256 == photo)
            ).all()
    first = min(sighting["first_seen_at"] for sighting in sidecar["sightings"])
    assert sidecar["first_captured_at"] == first == sidecar["sightings"][0]["first_seen_at"]
    assert sidecar["sightings"][0]["page_url"] == server.url("/a")
    assert len(captures) == 1  # the bytes entered once; the first download is a sighting
    assert sidecar["near_duplicates"]["earliest"] == photo


def index_fails_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first file placed meets a full disk at its index commit: linked into
    media/, not indexed, its intent left."""
    real = Capturer._index_placed
    failed: list[Any] = []

    def index(capturer: Capturer, path: Path, intent: Any, *args: Any, **kw: Any) -> StoredFile:
        if not failed:
            failed.append(intent)
            raise ArchiveUnavailable("cannot index: database or disk is full")
        return real(capturer, path, intent, *args, **kw)

    monkeypatch.setattr(Capturer, "_index_placed", index)


def test_a_retry_records_the_companions_the_attempt_cut_short_placed(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first attempt placed a video with its info, thumbnail and subtitles, and met
    a full disk indexing it; the retry's yt-dlp got no subtitles (a track that failed
    is a note). The retry spent the first attempt's intent, which alone named the
    track: it lay in the folder in no record and no sidecar, an orphan for good."""
    without_subs = tmp_path / "ytdlp_without_subs_on_retry.py"
    without_subs.write_text(
        "import os, runpy, sys\n"
        "if os.environ.get('NO_SUBS'):\n"
        "    sys.argv = [a for a in sys.argv if a != '--write-subs']\n"
        f"runpy.run_path({str(FAKE_YTDLP)!r}, run_name='__main__')\n"
    )
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_b))
    server.add_page("/live", PLATFORM_UPDATE)
    ytdlp = YtdlpConfig(command=[sys.executable, str(without_subs)], timeout=30)
    config = make_config(tmp_path / "storage").model_copy(update={"ytdlp": ytdlp})
    with Archive.open(config) as archive:
        index_fails_once(monkeypatch)
        (first,) = Capturer(archive).capture_url(server.url("/live")).items
        assert first.status == "failed" and "disk is full" in (first.reason or "")
        folder = archive.layout.media_dir(sha256_of(media.clip_b))
        assert (folder / "subtitles.en.vtt").is_file()

        monkeypatch.setenv("NO_SUBS", "1")
        (again,) = Capturer(archive).capture_url(server.url("/live")).items
        assert again.status == "stored", again.reason
        with archive.read_session() as session:
            companions = session.scalars(select(Media.companions)).one() or {}
        sidecar = json.loads((folder / "provenance.json").read_text())
        assert "subtitles.en.vtt" in companions
        assert "subtitles.en.vtt" in sidecar["companion_files"]
        assert verify_archive(archive).ok


def live_version(*names: str) -> bytes:
    """A live page's version showing a photo for each of ``names``."""
    images = "".join(f"<p>{n}:</p><img src='https://cdn.example.org/{n}.jpg'>" for n in names)
    return f"<html><body><article><p>Live.</p>{images}</article></body></html>".encode()


def test_a_page_version_kept_at_the_next_start_does_not_undo_a_later_removal(
    archive: Archive,
) -> None:
    """Its embeds were recorded as seen again: one a later version had judged removed
    from the page lost that judgement and its time."""
    url = "https://news.example.org/live"
    answer = Response(url, url, 200, {"content-type": "text/html; charset=utf-8"})

    capturer = Capturer(archive)
    capturer.record_page(url, live_version("a", "b"), response=answer, mark_removed=True)
    died = Capturer(archive, owner=f"{socket.gethostname()}:999999")  # killed after placing
    died.place_version(url, live_version("a", "b", "c"), answer, None, utcnow(), holds_embeds=True)
    capturer.record_page(url, live_version("a"), response=answer, mark_removed=True)  # b went
    with archive.read_session() as session:
        removed = session.scalars(select(Embed.removed_at).where(Embed.url.endswith("/b.jpg")))
        judged = removed.one()
    assert judged is not None

    assert capturer.recover() == (1, 0)
    with archive.read_session() as session:
        embeds = {e.url.rsplit("/", 1)[1]: e.removed_at for e in session.scalars(select(Embed))}
    assert embeds == {"a.jpg": None, "b.jpg": judged, "c.jpg": None}  # c: in that version


def test_a_page_version_kept_at_the_next_start_brings_back_an_earlier_removal(
    archive: Archive,
) -> None:
    """The version a crash left unindexed holds an embed an earlier poll judged gone:
    it is back, and the event log says so, as a poll's version would have."""
    url = "https://news.example.org/live"
    answer = Response(url, url, 200, {"content-type": "text/html; charset=utf-8"})

    capturer = Capturer(archive)
    capturer.record_page(url, live_version("a", "b"), response=answer, mark_removed=True)
    capturer.record_page(url, live_version("a"), response=answer, mark_removed=True)  # b went
    died = Capturer(archive, owner=f"{socket.gethostname()}:999999")  # killed after placing
    died.place_version(url, live_version("a", "b"), answer, None, utcnow(), holds_embeds=True)

    assert capturer.recover() == (1, 0)
    with archive.read_session() as session:
        gone = session.scalars(select(Embed.url).where(Embed.removed_at.is_not(None))).all()
        events = session.scalars(select(Event.type).where(Event.type.startswith("embed_")))
        assert (gone, events.all()) == ([], ["embed_removed", "embed_returned"])


def test_an_embed_whose_address_the_page_still_writes_is_not_removed(archive: Archive) -> None:
    """A newer archiver reading another rendition of a picture (the upload, not its
    WebP copy) recorded the copy as taken off the page at the next version."""
    url = "https://news.example.org/live"
    answer = Response(url, url, 200, {"content-type": "text/html; charset=utf-8"})
    webp = "/wp-content/uploads/2023/10/crater.jpg.webp"
    first = f"<article><p>The crater:</p><img src='{webp}'><img src='/uploads/dam.jpg'></article>"
    later = (  # the same picture, as the upload's fallback; another photo taken off
        f"<article><p>The crater:</p><picture><source srcset='{webp}' type='image/webp'>"
        "<img src='/wp-content/uploads/2023/10/crater.jpg'></picture></article>"
    )
    capturer = Capturer(archive)
    capturer.record_page(url, first.encode(), response=answer, mark_removed=True)
    recorded = capturer.record_page(url, later.encode(), response=answer, mark_removed=True)
    assert recorded.removed_embeds == 1
    with archive.read_session() as session:
        removed = {
            e.url.rsplit("/", 1)[1]: e.removed_at is not None
            for e in session.scalars(select(Embed))
        }
    assert removed == {"crater.jpg.webp": False, "dam.jpg": True, "crater.jpg": False}


def test_a_media_folder_whose_disk_went_away_fails_the_item_and_a_dead_link_gives_way(
    archive: Archive, server: FixtureServer, media: MediaSet, tmp_path: Path
) -> None:
    """``media/`` a link to a disk that went away: creating the file's folder said "File
    exists", which was read as "these bytes are already stored", so the file was
    indexed and logged as captured while its only copy was deleted. A dead link where
    the original itself belongs is no copy either: the download takes its place."""
    elsewhere = tmp_path / "mediadisk"
    archive.layout.media_root.rename(elsewhere)
    archive.layout.media_root.symlink_to(tmp_path / "unmounted")
    server.add_file("/media/photo_a.jpg", media.photo_a)
    server.add_page("/p", "<article><p>The market:</p><img src='/media/photo_a.jpg'></article>")
    (item,) = Capturer(archive).capture_url(server.url("/p")).items
    assert item.status == "failed" and "File exists" in (item.reason or ""), item.reason
    with archive.session() as session:
        assert not session.scalars(select(Media)).all()
        assert not session.scalars(select(Event.type).where(Event.type == "capture")).all()
        job = session.scalars(select(CaptureJob).where(CaptureJob.embed_id.is_not(None))).one()
        assert job.attempts == 0  # the archive's state, not the evidence's fault

    # one level down: the file's own place a dead link (originals on an unmounted disk).
    # A link is not the bytes (verify calls it corrupt): the verified download takes
    # its place, and what it pointed at is left as it was.
    archive.layout.media_root.unlink()
    elsewhere.rename(archive.layout.media_root)
    sha256 = hashlib.sha256(media.photo_a.read_bytes()).hexdigest()
    folder = archive.layout.media_dir(sha256)
    folder.mkdir(parents=True)
    (folder / "original.jpg").symlink_to(tmp_path / "cold-storage" / "original.jpg")
    (again,) = Capturer(archive).capture_url(server.url("/p")).items
    assert again.status == "stored", again.reason
    stored = folder / "original.jpg"
    assert not stored.is_symlink() and stored.read_bytes() == media.photo_a.read_bytes()
    assert not (tmp_path / "cold-storage").exists()
    with archive.session() as session:
        assert [m.sha256 for m in session.scalars(select(Media))] == [sha256]


def test_bad_embeds_fail_one_by_one_and_the_rest_is_archived(
    archive: Archive, server: FixtureServer, media: MediaSet, tmp_path: Path
) -> None:
    server.add_file("/ok.jpg", media.photo_b)
    server.add_status("/missing.jpg", 404)
    server.add_status("/broken.mp4", 503)
    server.add_redirect_loop("/loop.mp4")
    server.add_page("/fake.jpg", "<html><body>Not an image</body></html>")
    server.add_bytes("/login.jpg", b"<!DOCTYPE html><p>Sign in to see it</p>", "image/jpeg")
    server.add_endless("/endless.mp4", "video/mp4")
    server.add_bytes("/empty.mp4", b"", "video/mp4")
    server.add_redirect("/garbled.mp4", "http://[::1")
    server.add_redirect("/to-file.mp4", "file:///etc/passwd")
    server.add_handler("/reset.mp4", _reset_mid_body)
    server.add_page(
        "/mixed",
        "<article><p>Everything at once:</p>"
        "<img src='/ok.jpg'><img src='/missing.jpg'><video src='/broken.mp4'></video>"
        "<video src='/loop.mp4'></video><img src='/fake.jpg'><video src='/endless.mp4'></video>"
        "<img src='/login.jpg'>"
        "<video src='/empty.mp4'></video><video src='/garbled.mp4'></video>"
        "<video src='/to-file.mp4'></video><video src='/reset.mp4'></video>"
        "<img src='http://a..b/bad-host.jpg'>"
        "<p>A <b>broken <i>paragraph</p></article>",
    )
    small = make_config(tmp_path / "small", max_file_size="2MiB")
    with Archive.open(small) as capped:
        report = Capturer(capped).capture_url(server.url("/mixed"))
        by_url = {item.url.rsplit("/", 1)[1]: item for item in report.items}

        assert by_url["ok.jpg"].status == "stored"
        assert by_url["missing.jpg"].status == "gone" and "404" in by_url["missing.jpg"].reason
        assert by_url["broken.mp4"].status == "failed" and "503" in by_url["broken.mp4"].reason
        assert "too many redirects" in by_url["loop.mp4"].reason
        assert by_url["fake.jpg"].reason.startswith("not media: text/html at")
        # the reason named only the type the server claimed, as if the bytes were odd
        assert by_url["login.jpg"].reason.startswith("not media: a web page served as image/")
        assert "too large" in by_url["endless.mp4"].reason
        # these three ended the whole capture with a traceback, or stored nothing as a file
        assert by_url["bad-host.jpg"].reason.startswith("unsupported URL: bad host name")
        assert by_url["garbled.mp4"].reason.startswith("bad redirect from ")
        assert by_url["empty.mp4"].reason == "empty response: HTTP 200 with no bytes"
        # these named neither the redirect's target nor the URL at all
        assert (by_url["to-file.mp4"].reason or "").startswith(
            f"unsupported redirect from {server.url('/to-file.mp4')} to file:"
        )
        reset = by_url["reset.mp4"].reason or ""
        assert reset.startswith("connection lost (") and reset.endswith(server.url("/reset.mp4"))
        for item in report.items:
            assert item.reason is None or "\n" not in item.reason
        assert len(list(capped.layout.media_root.rglob("original.*"))) == 1
        assert not files_under(capped.layout.tmp_root)


def test_a_page_of_very_many_embeds_records_the_first_of_them(
    archive: Archive,
    server: FixtureServer,
    media: MediaSet,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A page of 100,000 images was recorded embed by embed in one transaction: the
    archive's write lock was held for minutes before the first download, and every
    other capture failed "database is locked". The first embeds are recorded, the
    rest logged."""
    monkeypatch.setattr(capture_module, "MAX_EMBEDS_PER_PAGE", 2)
    for n, photo in enumerate((media.photo_a, media.photo_b, media.photo_c)):
        server.add_file(f"/p{n}.jpg", photo)
    images = "".join(f"<p>Update {n}:</p><img src='/p{n}.jpg'>" for n in range(3))
    server.add_page("/p", f"<article>{images}</article>")
    report = Capturer(archive).capture_url(server.url("/p"))
    assert [item.url.rsplit("/", 1)[1] for item in report.items] == ["p0.jpg", "p1.jpg"]
    assert "page.embeds_capped" in caplog.text
    with archive.read_session() as session:
        assert len(session.scalars(select(Embed)).all()) == 2


def test_a_redirect_loop_is_retried_later(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    """A loop of redirects failed the item for good, never tried again, though cookie
    walls and CDNs send one for a while: it is retried with backoff, as a 503 is."""
    server.add_redirect_loop("/loop.jpg")
    server.add_page("/p", "<article><p>The dam:</p><img src='/loop.jpg'></article>")
    (item,) = Capturer(archive).capture_url(server.url("/p")).items
    assert item.status == "failed" and (item.reason or "").startswith("too many redirects")
    with archive.read_session() as session:
        job = session.scalars(select(CaptureJob).where(CaptureJob.embed_id.is_not(None))).one()
    assert (job.state, job.attempts) == ("failed", 1) and job.next_attempt_at is not None


def test_a_part_or_a_redirect_going_nowhere_is_never_stored_as_the_whole(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    """A 206 to a request for the whole file was stored as the original (its first 1,000
    bytes, with provenance), and a page answered 206 was read cut short, its later
    embeds lost without a word; a 302 without a Location was read as the page."""
    whole = media.photo_a.read_bytes()
    part = {"Content-Range": f"bytes 0-999/{len(whole)}", "Content-Type": "image/jpeg"}
    server.add_status("/part.jpg", 206, whole[:1000], part)
    server.add_status("/nowhere.jpg", 302, b"<html>moved</html>", {"Content-Type": "text/html"})
    server.add_page("/p", "<article><p>Two:</p><img src='/part.jpg'><img src='/nowhere.jpg'>")
    server.add_status("/cut", 206, b"<article><p>Smoke:</p>", {"Content-Type": "text/html"})

    report = Capturer(archive).capture_url(server.url("/p"))
    by_url = {item.url.rsplit("/", 1)[1]: item for item in report.items}
    assert by_url["part.jpg"].status == "failed"
    assert by_url["part.jpg"].reason == (
        f"HTTP 206 (part of the file) from {server.url('/part.jpg')}, for the whole file"
    )
    assert by_url["nowhere.jpg"].reason == (
        f"HTTP 302 from {server.url('/nowhere.jpg')}: a redirect with no Location"
    )
    assert not list(archive.layout.media_root.rglob("original.*"))
    cut = Capturer(archive).capture_url(server.url("/cut"))
    assert not cut.ok and "HTTP 206" in (cut.error or "")


def _reset_mid_body(request: RequestHandler) -> None:
    """Half a video, then a TCP reset (a linger of 0 on close)."""
    request.send_response(200)
    request.send_header("Content-Type", "video/mp4")
    request.send_header("Content-Length", "100000")
    request.end_headers()
    request.wfile.write(b"\0" * 50000)
    request.wfile.flush()
    request.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    os.close(request.connection.detach())  # now: the handler's files still hold the socket
    request.rfile, request.wfile = io.BytesIO(), io.BytesIO()  # for the handler's finish


def test_a_page_served_without_a_type_is_read_as_a_browser_reads_it(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    """A page whose server named no Content-Type failed as "not media: unknown type":
    a browser sniffs its markup and shows it. A file without a type is still a file,
    and so is one typed as a page."""

    def untyped(body: bytes) -> Callable[[RequestHandler], None]:
        def handler(request: RequestHandler) -> None:
            request.send_response(200)  # and no Content-Type header at all
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            first, rest = body[:4], body[4:]  # the page's leading blank line comes alone
            request.wfile.write(first)
            request.wfile.flush()
            time.sleep(0.2)
            request.wfile.write(rest)

        return handler

    server.add_file("/a.jpg", media.photo_a)
    page = b"\r\n\r\n<!doctype html><article><p>Smoke:</p><img src='/a.jpg'></article>"
    server.add_handler("/untyped", untyped(page))
    server.add_handler("/untyped.jpg", untyped(media.photo_b.read_bytes()))

    report = Capturer(archive).capture_url(server.url("/untyped"))
    assert report.ok and [item.status for item in report.items] == ["stored"]
    assert report.items[0].context == "Smoke:"
    (file,) = Capturer(archive).capture_url(server.url("/untyped.jpg")).items
    assert file.status == "stored"
    # named a page by a server's default type: the bytes say it is a photo (it failed
    # for good, "cannot read page: not an HTML document")
    server.add_file("/mistyped.jpg", media.photo_c, content_type="text/html")
    (file,) = Capturer(archive).capture_url(server.url("/mistyped.jpg")).items
    assert file.status == "stored" and file.files[0].path.name == "original.jpg"


def test_refuses_addresses_that_are_not_public(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    server.add_file("/photo.jpg", media.photo_a)
    server.add_page("/page", "<article><img src='/photo.jpg'></article>")
    port = server.port
    with Archive.open(make_config(tmp_path / "s", allow_private_addresses=False)) as guarded:
        capturer = Capturer(guarded)
        for url in (f"http://127.0.0.1:{port}/page", f"http://localhost:{port}/page"):
            report = capturer.capture_url(url)
            assert not report.ok and "non-public address" in (report.error or "")
        assert server.hits("/page") == 0


def test_a_retitled_page_renames_its_files_in_search_and_sidecars(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    """Once two versions in a row show the new title: a title that changed with every
    version (a clock) had the sidecar of every file seen on the page rewritten at
    every poll."""
    server.add_file("/m/photo.jpg", media.photo_a)
    article = "<title>{}</title><article><p>Smoke over the old city:</p><img src='/m/photo.jpg'>"
    capturer = Capturer(archive)
    digest = sha256_of(media.photo_a)
    sidecar_path = archive.layout.media_dir(digest) / "provenance.json"
    for title in ("Syria Daily, Sept 28", "Syria Daily (12:01)", "Syria Daily (12:02)"):
        server.add_page("/live", article.format(title))
        capturer.capture_url(server.url("/live"))
        written = json.loads(sidecar_path.read_text())["written_at"]
    assert json.loads(sidecar_path.read_text())["sightings"][0]["page_title"] == (
        "Syria Daily, Sept 28"
    )
    server.add_page("/live", article.format("Syria Daily, Sept 28: Citadel falls"))
    capturer.capture_url(server.url("/live"))
    assert json.loads(sidecar_path.read_text())["written_at"] == written  # not yet
    capturer.capture_url(server.url("/live"))  # the same version again: the title holds

    def found(words: str) -> list[str]:
        with archive.read_session() as session:
            hits = search(session, archive.layout, SearchQuery(text=words))
            return [hit.media.sha256 for hit in hits]

    assert found("citadel falls") == [digest] and found("12:02") == []
    assert found("sept 28") == [digest]
    sidecar = json.loads((archive.layout.media_dir(digest) / "provenance.json").read_text())
    assert sidecar["sightings"][0]["page_title"] == "Syria Daily, Sept 28: Citadel falls"


def test_a_file_embedded_twice_on_a_page_keeps_both_placements(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    """A newest-first live blog reposting footage "now verified" lists the repost first:
    the update that first posted it, and its words, were lost to search and sidecar."""
    server.add_file("/files/strike.mp4", media.clip_a)
    update = "<article><h2>UPDATE {} GMT</h2><p>{}</p><video src='/files/strike.mp4'></video>"
    server.add_page(
        "/live/idlib",
        "<main>"
        + update.format("2300", "Reposting the earlier footage of the strike, now verified:")
        + "</article>"
        + update.format("1200", "Unverified footage of an air strike on Saraqeb:")
        + "</article></main>",
    )
    (item,) = Capturer(archive).capture_url(server.url("/live/idlib")).items
    digest = sha256_of(media.clip_a)
    sidecar = json.loads((archive.layout.media_dir(digest) / "provenance.json").read_text())
    (sighting,) = sidecar["sightings"]
    assert (sighting["update"], item.update) == ("UPDATE 2300 GMT", "UPDATE 2300 GMT")
    placed = [
        {"update": "UPDATE 1200 GMT", "context": "Unverified footage of an air strike on Saraqeb:"}
    ]
    assert sighting["other_placements"] == placed
    with archive.read_session() as session:
        (hit,) = search(session, archive.layout, SearchQuery(text="saraqeb unverified"))
        assert hit.to_json()["sightings"][0]["other_placements"] == placed
    with AppClient(create_app(archive)) as web:  # what editors read of it
        assert "also under UPDATE 1200 GMT" in web.get(f"/item/{digest}").text
    assert verify_archive(archive).ok
    sidecar["sightings"][0]["other_placements"] = []  # what an edit would hide
    (archive.layout.media_dir(digest) / "provenance.json").write_text(json.dumps(sidecar))
    assert not verify_archive(archive, record_event=False).ok


def test_the_archives_own_copy_pasted_into_a_page_is_no_new_embed(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """An editor pasted the editors' view's snippet for a dead embed: the archive
    captured its own ``/media/`` URL as new evidence, listed it as a live embed and
    checked it."""
    data = settings(tmp_path / "storage", web={"base_url": "https://archive.example.org"})
    digest = "ab" * 32
    server.add_file("/photo.jpg", media.photo_a)
    server.add_page(
        "/live",
        "<article><p>The footage, from our archive:</p>"
        f"<video src='https://archive.example.org/media/{digest}'></video>"
        f"<iframe src='http://localhost:8787/embed/{digest}'></iframe>"
        f"<img src='http://127.0.0.1:8787/media/{digest}'><p>New:</p><img src='/photo.jpg'>",
    )
    with Archive.open(config_from_dict(data)) as archive:
        report = Capturer(archive).capture_url(server.url("/live"))
        assert [item.url for item in report.items] == [server.url("/photo.jpg")]
        with archive.read_session() as session:
            assert session.scalars(select(Embed.url)).all() == [server.url("/photo.jpg")]


def test_a_sidecar_writer_waits_for_another_process_and_writes_the_latest_state(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    """Two processes rewriting one sidecar (a capture beside the daemon) take turns on
    its folder, and each reads the index only once it is its turn: a change committed
    while a writer waited is in what it writes, never overwritten by a stale copy."""
    server.add_file("/m/photo.jpg", media.photo_a)
    server.add_page("/live", "<title>Before</title><article><p>Smoke:</p><img src='/m/photo.jpg'>")
    capturer = Capturer(archive)
    assert capturer.capture_url(server.url("/live")).ok
    digest = sha256_of(media.photo_a)
    folder = archive.layout.media_dir(digest)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys\n"
            f"fd = os.open({str(folder)!r}, os.O_RDONLY | os.O_DIRECTORY)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline() == "locked\n"
    with archive.read_session() as session:
        media_id = session.scalars(select(Media.id).where(Media.sha256 == digest)).one()
    writer = threading.Thread(target=capturer.rewrite_sidecar, args=(media_id,))
    writer.start()
    writer.join(0.5)
    assert writer.is_alive()  # waiting for the other process
    with archive.session() as session:
        session.scalars(select(Page)).one().title = "After"
    holder.stdin.close()
    holder.wait(5)
    writer.join(5)
    sidecar = json.loads((folder / "provenance.json").read_text())
    assert sidecar["sightings"][0]["page_title"] == "After"


def test_an_upload_date_at_the_edge_of_the_calendar_is_kept_as_a_date(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    """A player page's JSON-LD says year 1 at +01:00, which is before year 1 in UTC:
    the date is kept as written, with no exact moment, and the capture goes on."""
    server.add_file("/clip.mp4", media.clip_a)
    server.add_page(
        "/player",
        '<script type="application/ld+json">{"@type": "VideoObject", "name": "Old",'
        ' "contentUrl": "/clip.mp4", "uploadDate": "0001-01-01T00:00:00+01:00"}</script>',
    )
    server.add_page("/live", "<article><p>Footage:</p><iframe src='/player'></iframe>")
    report = Capturer(archive).capture_url(server.url("/live"))
    assert report.ok, report.to_json()
    with archive.read_session() as session:
        stored = session.scalars(select(Media)).one()
        assert (stored.platform_upload_date, stored.platform_uploaded_at) == (date(1, 1, 1), None)


def test_a_poll_logs_the_embeds_of_a_page_that_can_never_be_fetched(
    tmp_path: Path, server: FixtureServer, media: MediaSet, caplog: pytest.LogCaptureFixture
) -> None:
    """An embed at ``ftp://`` or at port 99999 was dropped without a word."""
    server.add_file("/photo.jpg", media.photo_a)
    server.add_page(
        "/live",
        "<article><p>Footage:</p><video src='ftp://example.org/x.mp4'></video>"
        "<iframe src='https://127.0.0.1:99999/p' width='640' height='360'></iframe>"
        "<p>Photo:</p><img src='/photo.jpg'></article>",
    )
    config = make_config(tmp_path / "storage")
    with Archive.open(config) as archive:
        with archive.session() as session:
            source_id = add_source(session, server.url("/live"), every=60).id
        http = HttpFetcher(config.network, 2)
        Poller(Capturer(archive), config.polling, http).poll(source_id)
        http.close()
        with archive.read_session() as session:
            assert [e.url for e in session.scalars(select(Embed))] == [server.url("/photo.jpg")]
    (record,) = [r for r in caplog.records if "page.embed_unusable" in r.getMessage()]
    assert record.levelname == "WARNING"
    fields = record.__dict__["fields"]
    assert fields["count"] == 2 and fields["embed"] == "ftp://example.org/x.mp4"
    assert fields["reason"].startswith("unsupported URL: scheme 'ftp'")
