"""Feeds and live pages: parsing, kind detection, attached files, and a feed of 10,000
entries."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import resource
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from support import FixtureServer, MediaSet, pg_schema
from support.archiving import make_config, run_cli, settings, write_config
from support.browser import AppClient

from archiver import jobs
from archiver.archive import Archive
from archiver.capture import Capturer
from archiver.config import SourceEntry, config_from_dict, load_config
from archiver.errors import ConfigError, FetchError
from archiver.fetch.http import HttpFetcher
from archiver.index.models import CaptureJob, Embed, JobState, Page, Source, utcnow
from archiver.search import SearchQuery, search
from archiver.sources import poll as poll_module
from archiver.sources.feed import looks_like_feed, parse_feed
from archiver.sources.poll import ENTRY_BATCH, Poller, PollResult
from archiver.sources.registry import add_source, remove_source, sync_config_sources
from archiver.web import create_app

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Live</title>
<entry><title>Aleppo, 28 Sept</title><link href="https://example.org/2013/09/28/aleppo"/>
<id>tag:example.org,2013:1</id><updated>2013-09-28T18:00:00Z</updated>
<content type="html">&lt;p&gt;Footage:&lt;/p&gt;&lt;iframe src="https://www.youtube.com/embed/abc123XYZ_0"&gt;&lt;/iframe&gt;</content>
</entry></feed>"""


def test_atom_entries_keep_their_iframes() -> None:
    (entry,) = parse_feed(ATOM, "https://example.org/feed.atom")
    assert entry.link == "https://example.org/2013/09/28/aleppo"
    assert entry.title == "Aleppo, 28 Sept" and entry.published.year == 2013  # type: ignore[union-attr]
    assert '<iframe src="https://www.youtube.com/embed/abc123XYZ_0">' in entry.html


@pytest.mark.parametrize(
    ("content_type", "body", "feed"),
    [
        ("application/rss+xml", b"", True),
        ("text/xml", b"<?xml version='1.0'?>\n<rss version='2.0'>", True),
        ("application/xml", ATOM, True),
        ("text/html", b"<?xml version='1.0'?>\n<rss version='2.0'>", True),  # PHP's default type
        ("text/html", b"<!DOCTYPE html><title>rss</title><rss>", False),
        ("text/html", b"<p>Our <feed> of news", False),
        ("application/json", b'{"version": "https://jsonfeed.org/version/1.1"}', True),
        ("application/json", b'{"feed": "<rss>"}', False),
        ("application/json", b'{"about": "https://jsonfeed.org/version/1.1"}', False),
        ("application/octet-stream", b"<!DOCTYPE html><html><body><feed>", False),
    ],
)
def test_kind_is_detected(content_type: str, body: bytes, feed: bool) -> None:
    assert looks_like_feed(content_type, body) is feed


MEDIA_RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>Wire</title>
<item><title>Aleppo, 28 Sept</title><link>{base}/2013/09/28/aleppo</link>
<pubDate>Sat, 28 Sep 2013 21:00:00 +0300</pubDate>
<description>Shelling resumed at dawn. Rebels posted video of their fighters near the
Citadel:</description>
<enclosure url="{base}/files/citadel" length="{length}" type="video/mp4"/>
<enclosure url="{base}/files/statement.pdf" length="1000" type="application/pdf"/>
<media:group>
  <media:content url="{base}/files/citadel" type="video/mp4" duration="1"/>
  <media:content url="/media/photo_a.jpg" medium="image" width="640"/>
  <media:thumbnail url="{base}/media/photo_b.jpg"/>
</media:group>
</item>
<item><title>Radio report from Homs</title><guid isPermaLink="false">wire-77</guid>
<enclosure url="{base}/media/report.m4a" length="1" type="audio/mp4"/>
</item>
<item><title>Convoy on the M5</title><link>{base}/media/convoy.jpg</link>
<description>A convoy heading north, filmed from a bridge.</description></item>
</channel></rss>"""


def test_files_a_feed_entry_attaches_are_archived_with_the_entrys_context(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """Video and podcast feeds carry their evidence as enclosures and Media RSS content,
    not in the entry's HTML: those files were never archived."""
    base = server.url("").rstrip("/")
    body = MEDIA_RSS.format(base=base, length=media.clip_a.stat().st_size)
    server.add_bytes("/wire.rss", body.encode(), "application/rss+xml")
    server.add_page(
        "/2013/09/28/aleppo", "<html><body><article><p>Aleppo.</p></article></body></html>"
    )
    server.add_file("/files/citadel", media.clip_a)  # no extension: its declared type decides
    server.add_file("/media/photo_a.jpg", media.photo_a)
    server.add_file("/media/photo_b.jpg", media.photo_b)
    server.add_file("/media/report.m4a", media.audio)
    server.add_file("/media/convoy.jpg", media.photo_c)
    config = write_config(tmp_path / "archiver.toml", settings(tmp_path / "storage"))
    assert run_cli(config, "source", "add", server.url("/wire.rss")).returncode == 0

    result = run_cli(config, "run", "--once")

    assert result.returncode == 0, result.stderr
    assert "feed.entry_unreadable" not in result.stderr  # a title and a file: nothing to read
    stored = json.loads(run_cli(config, "search", "--json").stdout)
    convoy = next(
        item for item in stored if item["sightings"][0]["page_url"].endswith("convoy.jpg")
    )
    found = {item["media_type"]: item for item in stored if item is not convoy}
    assert set(found) == {"video", "image", "audio"}  # not the thumbnail, not the PDF
    (video,) = found["video"]["sightings"]
    assert video["page_url"] == f"{base}/2013/09/28/aleppo"
    assert video["media_url"] == f"{base}/files/citadel"
    assert video["context"] == (
        "Shelling resumed at dawn. Rebels posted video of their fighters near the Citadel:"
    )
    assert video["posted_at"] == "2013-09-28T18:00:00Z"  # when the feed says it went out
    with Archive.open(load_config(config)) as archive, AppClient(create_app(archive)) as web:
        item_page = web.get(f"/item/{found['video']['sha256']}").text
    assert "posted 2013-09-28 18:00 UTC (by its feed)" in item_page
    assert found["image"]["sha256"] == hashlib.sha256(media.photo_a.read_bytes()).hexdigest()
    assert found["image"]["sightings"][0]["media_url"] == f"{base}/media/photo_a.jpg"
    (audio,) = found["audio"]["sightings"]
    assert (audio["page_url"], audio["update"]) == (
        server.url("/wire.rss"),
        "Radio report from Homs",
    )
    assert audio["context"] == "Radio report from Homs" and audio["posted_at"] is None
    assert server.hits("/media/photo_b.jpg") == 0 and server.hits("/files/statement.pdf") == 0
    # an entry whose link is itself media: archived once, as the entry's embed, in context
    ((sighting,),) = [convoy["sightings"]]
    assert sighting["context"] == "A convoy heading north, filmed from a bridge."
    (in_sidecar,) = json.loads(Path(convoy["sidecar"]).read_text())["sightings"]
    assert in_sidecar["page_title"] == "Convoy on the M5" and in_sidecar["posted_at"] is None
    queue = json.loads(run_cli(config, "status", "--json").stdout)["queue"]
    assert queue["done"] == 5  # the article's page and four files: no page job for the photo


JSON_FEED = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "Aleppo wire",
    "items": [
        {
            "id": "2013-09-28-citadel",
            "url": "/2013/09/28/citadel",
            "title": "Fighting near the Citadel",
            "content_html": "<p>UPDATE 1800 GMT: Rebels posted video of their fighters:</p>"
            "<video src='/media/citadel.mp4'></video><img src='/media/citadel.jpg'>",
            "image": "/media/citadel.jpg",  # also in the content: one embed
            "banner_image": "/media/wire-banner.jpg",  # the blog's decoration
            "date_published": "2013-09-28T18:00:00+03:00",
        },
        {
            "id": 77,  # JSON Feed 1.0 allowed numbers
            "date_published": "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
            "content_text": "Audio from the field hospital <2 km from the front>.",
            "attachments": [
                {"url": "/media/hospital.m4a", "mime_type": "audio/mp4", "size_in_bytes": 9},
                {"url": "/files/report.pdf", "mime_type": "application/pdf"},
            ],
            "image": "/media/hospital-ward.jpg",  # a status without a page: its only copy
        },
        "not an item",
    ],
}


def test_a_json_feed_is_read_as_a_feed(tmp_path: Path, server: FixtureServer) -> None:
    """It was refused ("JSON Feed is not supported"): its items were never archived.
    An item's ``image`` (its main picture) was not read either."""
    server.add_bytes("/wire.json", json.dumps(JSON_FEED).encode(), "application/feed+json")
    config = make_config(tmp_path / "storage")
    with Archive.open(config) as archive:
        with archive.session() as session:
            source_id = add_source(session, server.url("/wire.json"), every=60).id
        http = HttpFetcher(config.network, 2)
        result = Poller(Capturer(archive), config.polling, http).poll(source_id)
        http.close()
        with archive.read_session() as session:
            rows = list(session.scalars(select(Embed)))
            embeds = {e.url: (e.page.url, e.update_label, e.context) for e in rows}
            page = session.scalars(select(Page).where(Page.url.endswith("/citadel"))).one()

    assert (result.kind, result.result, result.new_entries) == ("feed", "changed", 2)
    citadel, said = server.url("/2013/09/28/citadel"), "Rebels posted video of their fighters:"
    hospital = (
        server.url("/wire.json"),
        "77",
        "Audio from the field hospital <2 km from the front>.",
    )
    assert embeds == {
        server.url("/media/citadel.mp4"): (citadel, "UPDATE 1800 GMT", said),
        server.url("/media/citadel.jpg"): (citadel, "UPDATE 1800 GMT", said),
        server.url("/media/hospital.m4a"): hospital,
        server.url("/media/hospital-ward.jpg"): hospital,
    }
    assert len(rows) == len(embeds)
    assert page.title == "Fighting near the Citadel"
    (_, numbered, *_) = parse_feed(json.dumps(JSON_FEED).encode(), server.url("/wire.json"))
    assert numbered.entry_id == "77" and "&lt;2 km" in numbered.html
    assert numbered.published is None


def test_an_entry_whose_attachments_change_is_read_again() -> None:
    item = "<item><title>Homs</title><link>https://ex.example/1</link><description>Smoke.</description>{}</item>"
    enclosure = '<enclosure url="https://cdn.ex.example/1.mp4" type="video/mp4" length="9"/>'
    (plain,) = parse_feed(rss_of(item.format("")), "https://ex.example/feed")
    (attached,) = parse_feed(rss_of(item.format(enclosure)), "https://ex.example/feed")

    assert plain.digest == hashlib.sha256(b"Smoke.").hexdigest()  # as before attachments were read
    assert attached.html == plain.html and attached.digest != plain.digest
    (declared,) = attached.attachments
    assert (declared.url, declared.media_type, declared.is_file) == (
        "https://cdn.ex.example/1.mp4",
        "video",
        True,
    )


def rss_of(items: str) -> bytes:
    return f"<rss version='2.0'><channel><title>t</title>{items}</channel></rss>".encode()


MRSS_NAMESPACE = "xmlns:media='http://search.yahoo.com/mrss/'"


def test_an_entrys_text_is_its_description_whatever_else_describes_it() -> None:
    """feedparser files a second summary-like element as the entry's content: the alt
    text of a Mastodon post's photo stood in for the post, whose links were lost; an
    empty ``content:encoded`` hid a description holding a video."""
    post = "&lt;p&gt;Shelling &lt;a href='https://t.me/chan/5'&gt;source&lt;/a&gt;&lt;/p&gt;"
    mastodon = (
        f"<item><title>x</title><link>https://m.example/@a/1</link><description>{post}"
        "</description><media:content url='https://m.example/a.jpg' medium='image'>"
        "<media:description>Smoke over the town</media:description></media:content></item>"
    )
    hidden = (
        "<item><title>y</title><link>https://ex.example/2</link>"
        "<content:encoded xmlns:content='http://purl.org/rss/1.0/modules/content/'>"
        "<![CDATA[]]></content:encoded><description>&lt;iframe "
        "src='https://www.youtube.com/embed/abc123XYZ_0'&gt;&lt;/iframe&gt;</description></item>"
    )
    feed = f"<rss version='2.0' {MRSS_NAMESPACE}><channel><title>t</title>{mastodon}{hidden}"
    first, second = parse_feed(f"{feed}</channel></rss>".encode(), "https://m.example/feed")
    assert "https://t.me/chan/5" in first.html and "Smoke" not in first.html
    assert "youtube.com/embed/abc123XYZ_0" in second.html
    assert first.base == "https://m.example/@a/1"  # no xml:base: relative to the link


ATOM_WITH_BASE = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://ex.example/blog/"><title>Blog</title>
<entry><title>Aleppo</title><link href="2024/05/06/aleppo.html"/><id>tag:ex,1</id>
<content type="html">&lt;img src="images/shelling.jpg"&gt;</content></entry>
<entry xml:base="https://cdn.ex.example/"><title>Homs</title><id>tag:ex,2</id>
<summary>Shelling in Homs.</summary><content src="clips/homs.mp4" type="video/mp4"/></entry>
</feed>"""
ATOM_WITHOUT_BASE = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Channel</title>
<entry><title>Post</title><link href="https://t.me/s/chan/55"/><id>tag:ex,9</id>
<summary>Shelling reported in Aleppo.</summary>
<content type="text">Shelling reported in Aleppo. Footage:
https://t.me/chan/55</content></entry>
<entry><title>Clip</title><link href="https://ex.example/posts/10"/><id>tag:ex,10</id>
<content src="/media/10.mp4" type="video/mp4"/></entry>
<entry><title>Elsewhere</title><id>tag:ex,11</id><content src="/posts/11" type="text/html"/></entry>
</feed>"""


def test_an_atom_entrys_content_is_read_as_atom_defines_it() -> None:
    """Relative URLs in an entry's content resolved against its link, not the xml:base in
    scope (XML Base): ``images/shelling.jpg`` was looked for under ``2024/05/06/``. A
    plain-text ``<content>`` was passed over for the ``<summary>``, an abstract of it,
    losing the post's bare URL. Media given out of line (``<content src>``) was never
    archived, and an entry holding nothing else was dropped."""
    aleppo, homs = parse_feed(ATOM_WITH_BASE.encode(), "https://ex.example/feed.atom")
    assert aleppo.link == "https://ex.example/blog/2024/05/06/aleppo.html"
    assert aleppo.base == "https://ex.example/blog/"
    (clip,) = homs.attachments
    assert (homs.link, homs.html, homs.base) == (
        None,
        "Shelling in Homs.",
        "https://cdn.ex.example/",
    )
    assert (clip.url, clip.media_type, clip.is_file) == (
        "https://cdn.ex.example/clips/homs.mp4",
        "video",
        True,
    )

    post, linked = parse_feed(ATOM_WITHOUT_BASE.encode(), "https://ex.example/feed.atom")
    assert post.html == "Shelling reported in Aleppo. Footage:\nhttps://t.me/chan/55"
    assert post.base == post.link == "https://t.me/s/chan/55"  # no xml:base: the link
    assert [item.url for item in linked.attachments] == ["https://ex.example/media/10.mp4"]


def test_an_atom_plain_text_content_holding_markup_characters_is_text() -> None:
    """Atom's ``type="text"`` is text: its ``<b>`` and ``<50`` were read as HTML, as
    RSS descriptions are, and words after a ``<`` could be taken for a tag."""
    atom = ATOM_WITHOUT_BASE.replace(
        "Footage:\n", "&lt;b&gt;Footage&lt;/b&gt; of &lt;50 &amp; more:\n"
    )
    post, _ = parse_feed(atom.encode(), "https://ex.example/feed.atom")
    assert post.html == (
        "Shelling reported in Aleppo. &lt;b&gt;Footage&lt;/b&gt; of &lt;50 &amp; more:\n"
        "https://t.me/chan/55"
    )


@pytest.mark.parametrize(
    ("written", "moment"),
    [
        ("Mon, 06 May 2024 09:30:00 EEST", "2024-05-06T06:30:00+00:00"),  # was read as UTC
        ("Mon, 06 May 2024 09:30:00 UTC+03:00", "2024-05-06T06:30:00+00:00"),
        ("Mon, 06 May 24 09:30 CET", "2024-05-06T08:30:00+00:00"),
        ("Mon, 06 May 2024 09:30:00 +0000 (UTC)", "2024-05-06T09:30:00+00:00"),
        ("2024-05-06 09:30:00+03", "2024-05-06T06:30:00+00:00"),  # was midnight
        ("1715000000", "2024-05-06T12:53:20+00:00"),  # seconds since 1970: was 1714
        ("Mon, 06 May 2024 09:30:00 IST", None),  # India's, Ireland's or Israel's
        # was US Central: Go's RFC 1123 in Asia/Shanghai (+08:00), a post 14 hours late
        ("Mon, 06 May 2024 09:30:00 CST", None),
        ("Mon, 06 May 2024 09:30:00 BST", None),  # British Summer Time or Bangladesh's
        ("Mon, 06 May 2024 09:30:00 PST", None),  # US Pacific or the Philippines'
        ("Mon, 06 May 2024 09:30:00 MST", None),  # US Mountain or Malaysia's
        ("Mon, 06 May 2024 09:30:00 EDT", "2024-05-06T13:30:00+00:00"),  # one meaning
        # Java's and Go's own forms went to feedparser, which took CST for US Central
        # and IST for UTC
        ("Tue Mar 12 18:00:00 CST 2024", None),
        ("Tue Mar 12 18:00:00 IST 2024", None),
        ("2024-03-12 18:00:00 +0800 CST", None),  # was midnight
        ("Mon, 31 Feb 2024 09:30:00 GMT", None),
    ],
)
def test_an_entrys_date_is_the_moment_it_names_or_none(written: str, moment: str | None) -> None:
    item = f"<item><title>x</title><link>https://ex.example/1</link><pubDate>{written}</pubDate>"
    (entry,) = parse_feed(
        rss_of(item + "<description>x</description></item>"), "https://ex.example/f"
    )
    assert (entry.published.isoformat() if entry.published else None) == moment
    item = {"id": "1", "url": "https://ex.example/1", "content_html": "", "date_published": written}
    feed = {"version": "https://jsonfeed.org/version/1.1", "items": [item]}
    (entry,) = parse_feed(json.dumps(feed).encode(), "https://ex.example/feed.json")
    assert (entry.published.isoformat() if entry.published else None) == moment


def test_a_json_feed_items_text_and_external_url_are_read() -> None:
    """An empty ``content_html`` hid ``content_text``; ``external_url``, the video a
    link-blog item is about, was never read."""
    item = {
        "id": "1",
        "url": "https://ex.example/1",
        "content_html": "",
        "content_text": "Footage: https://t.me/chan/55",
        "external_url": "https://www.youtube.com/watch?v=abc123XYZ_0",
    }
    feed = {"version": "https://jsonfeed.org/version/1.1", "items": [item]}
    (entry,) = parse_feed(json.dumps(feed).encode(), "https://ex.example/feed.json")
    assert entry.html == "Footage: https://t.me/chan/55"
    assert [a.url for a in entry.attachments] == ["https://www.youtube.com/watch?v=abc123XYZ_0"]


def test_garbage_is_a_malformed_feed() -> None:
    with pytest.raises(FetchError, match="malformed feed"):
        parse_feed(b"\x00\x01 not xml at all <<<", "https://example.org/feed")


@contextlib.contextmanager
def feed_poller(
    storage: Path, feed_url: str, db_url: str = ""
) -> Iterator[tuple[Archive, Poller, int]]:
    """An archive with ``feed_url`` as its one source, and a poller for it."""
    config = make_config(storage, db_url)
    with Archive.open(config) as archive:
        with archive.session() as session:
            source_id = add_source(session, feed_url, every=60).id
        http = HttpFetcher(config.network, 2)
        try:
            yield archive, Poller(Capturer(archive), config.polling, http), source_id
        finally:
            http.close()


def test_entries_linking_to_one_live_page_all_have_their_embeds_recorded(
    tmp_path: Path, server: FixtureServer
) -> None:
    """A live blog's feed links every update to the live page. One record per link kept
    only the last entry, so the other updates' media were never archived, and the
    link's one digest then flipped on every poll. Each link names its update by a
    fragment, which the server never sees: one page."""

    def update(n: int) -> str:
        return (
            f"<item><title>UPDATE {n}00 GMT</title><link>/live#u{n}</link><guid>u{n}</guid>"
            f"<description>&lt;p&gt;Photo:&lt;/p&gt;&lt;img src='/media/{n}.jpg'&gt;</description>"
            "</item>"
        )

    server.add_bytes("/live.rss", rss_of(update(18) + update(17)), "application/rss+xml")
    with feed_poller(tmp_path / "storage", server.url("/live.rss")) as (archive, poller, source):
        first = poller.poll(source)
        again = poller.poll(source)
        server.add_bytes("/live.rss", rss_of(update(19) + update(18) + update(17)))
        third = poller.poll(source)
        with archive.session() as session:
            embeds = session.execute(select(Embed.url, Embed.update_label).order_by(Embed.id))
            found = [(url.rsplit("/", 1)[1], label) for url, label in embeds]
            page_jobs = select(CaptureJob.url).where(CaptureJob.embed_id.is_(None))
            assert session.scalars(page_jobs).all() == [server.url("/live")]  # one page

    assert (first.new_entries, first.new_embeds) == (2, 2)
    assert (again.result, again.new_entries) == ("unchanged", 0)
    assert (third.new_entries, third.new_embeds) == (3, 1)
    assert sorted(found) == [
        ("17.jpg", "UPDATE 1700 GMT"),
        ("18.jpg", "UPDATE 1800 GMT"),
        ("19.jpg", "UPDATE 1900 GMT"),
    ]


def test_what_only_a_feed_gave_a_live_page_is_not_judged_removed_from_it(
    tmp_path: Path, db_url: str, server: FixtureServer
) -> None:
    """A live blog polled as a page and through its feed: the feed's update attaches
    the original video and shows a still the page draws by script. The page's HTML
    never held either, and its next changed poll recorded both as removed from it. The
    video once the page shows it, and takes it off again, is removed."""
    base = server.url("").rstrip("/")

    def page(*updates: str) -> None:
        updates += ("1700 GMT <img src='/media/morning.jpg'>",)  # on the page throughout
        sections = "".join(f"<section><p>UPDATE {u}</p></section>" for u in updates)
        server.add_page("/live", f"<html><body><article>{sections}</article></body></html>")

    update = (
        f"<item><title>UPDATE 1800 GMT</title><link>{base}/live#u18</link><guid>u18</guid>"
        "<description>&lt;p&gt;Fighters near the Citadel:&lt;/p&gt;"
        "&lt;img src='/media/citadel-still.jpg'&gt;</description>"
        f"<enclosure url='{base}/media/citadel.mp4' length='1000' type='video/mp4'/></item>"
    )
    server.add_bytes("/live.rss", rss_of(update), "application/rss+xml")
    config = make_config(tmp_path / "storage", db_url)
    with Archive.open(config) as archive:
        with archive.session() as session:
            live = add_source(session, server.url("/live"), every=60, kind="page").id
            feed = add_source(session, server.url("/live.rss"), every=60).id
        http = HttpFetcher(config.network, 2)
        poller = Poller(Capturer(archive), config.polling, http)
        try:
            page("1800 GMT")
            poller.poll(live)
            poller.poll(feed)
            page("1900 GMT", "1800 GMT")
            judged = [poller.poll(live).removed_embeds]
            page("1900 GMT", "1800 GMT <video src='/media/citadel.mp4'></video>")
            judged.append(poller.poll(live).removed_embeds)  # the page shows the video now
            page("2000 GMT", "1900 GMT", "1800 GMT")  # and takes it off again
            judged.append(poller.poll(live).removed_embeds)
        finally:
            http.close()
        with archive.read_session() as session:
            rows = session.execute(select(Embed.url, Embed.removed_at)).all()
    assert judged == [0, 0, 1]
    assert {url.rsplit("/", 1)[1]: at is not None for url, at in rows} == {
        "morning.jpg": False,
        "citadel.mp4": True,
        "citadel-still.jpg": False,
    }


def test_a_lone_update_is_labelled_and_media_in_several_is_the_earliest_ones(
    tmp_path: Path, server: FixtureServer
) -> None:
    """A live blog's feed holding one update this time: its media went unlabelled and
    its title became the live page's. A video in two updates was credited to the newer
    (a feed lists the newest first). A post's bare URL in a plain-text entry was not
    found."""

    def update(n: int, video: str) -> str:
        return (
            f"<item><title>UPDATE {n}00 GMT</title><link>/live#u{n}</link><guid>u{n}</guid>"
            f"<pubDate>Sat, 28 Sep 2013 {n}:00:00 GMT</pubDate><description>&lt;p&gt;Video:"
            f"&lt;/p&gt;&lt;iframe src='https://www.youtube.com/embed/{video}'&gt;&lt;/iframe&gt;"
            "</description></item>"
        )

    plain = (
        "<item><title>Channel</title><link>/posts/9</link><guid>p9</guid>"
        "<description>Shelling reported.\nhttps://t.me/chan/55</description></item>"
    )
    server.add_bytes("/live.rss", rss_of(update(17, "abc123XYZ_0") + plain), "application/rss+xml")
    with feed_poller(tmp_path / "storage", server.url("/live.rss")) as (archive, poller, source):
        poller.poll(source)
        server.add_bytes("/live.rss", rss_of(update(19, "def456XYZ_1") + update(18, "abc123XYZ_0")))
        poller.poll(source)
        with archive.session() as session:
            embeds = session.execute(select(Embed.url, Embed.update_label, Embed.posted_at))
            found = {url.rsplit("=", 1)[-1]: (label, at and at.hour) for url, label, at in embeds}
            live = session.scalars(select(Page).where(Page.url == server.url("/live"))).one()
            assert live.title is None
    assert found.pop("https://t.me/chan/55")[0] is None
    assert found == {"abc123XYZ_0": ("UPDATE 1700 GMT", 17), "def456XYZ_1": ("UPDATE 1900 GMT", 19)}


def test_a_repeated_entry_is_no_update_and_media_without_a_page_is_the_earliests(
    tmp_path: Path, server: FixtureServer
) -> None:
    """An entry the feed lists twice was taken for a live blog's two updates: its page
    lost its title and its video was labelled as an update. A video in two entries
    without a page (``isPermaLink="false"``) was credited to the newer: a repost at
    18:00, not the post at 09:00."""

    def item(title: str, guid: str, hour: int, video: str) -> str:
        return (
            f"<item><title>{title}</title>{guid}<pubDate>Sat, 28 Sep 2013 {hour}:00:00 GMT"
            "</pubDate><description>&lt;p&gt;Video:&lt;/p&gt;&lt;iframe src='https://www."
            f"youtube.com/embed/{video}'&gt;&lt;/iframe&gt;</description></item>"
        )

    story = item("Strike on Douma market", "<link>/story</link><guid>s1</guid>", 12, "def456XYZ_1")
    repost = item("Repost", "<guid isPermaLink='false'>c-2</guid>", 18, "abc123XYZ_0")
    first = item("First posted", "<guid isPermaLink='false'>c-1</guid>", 9, "abc123XYZ_0")
    server.add_bytes("/feed.rss", rss_of(repost + story + story + first), "application/rss+xml")
    with feed_poller(tmp_path / "storage", server.url("/feed.rss")) as (archive, poller, source):
        poller.poll(source)
        with archive.read_session() as session:
            title = session.scalar(select(Page.title).where(Page.url == server.url("/story")))
            embeds = session.execute(select(Embed.url, Embed.update_label, Embed.posted_at))
            found = {url.rsplit("=", 1)[-1]: (label, at.hour) for url, label, at in embeds}
    assert title == "Strike on Douma market"
    assert found == {"def456XYZ_1": (None, 12), "abc123XYZ_0": ("First posted", 9)}


def test_a_json_feed_is_known_by_its_version_wherever_and_however_written(
    tmp_path: Path, server: FixtureServer
) -> None:
    """Its version was looked for, as most encoders write it, in its first 64 KiB. PHP's
    escaped slashes (``https:\\/\\/jsonfeed.org``) made the feed a page, its raw JSON
    searched for embeds; sorted keys put the version after the items, and a feed
    that grew past 64 KiB failed every poll ("the feed answered with a page")."""
    base = server.url("").rstrip("/")

    def serve(count: int, body: Callable[[dict[str, Any]], str]) -> None:
        items = [
            {
                "id": str(n),
                "url": f"{base}/posts/{n}",
                "content_html": f"<p>Footage {n}: {'x' * 400}</p><iframe "
                f"src='https://www.youtube.com/embed/abc123XYZ_{n % 10}'></iframe>",
            }
            for n in range(count)
        ]
        feed = {"version": "https://jsonfeed.org/version/1.1", "items": items}
        server.add_bytes("/feed.json", body(feed).encode(), "application/json")

    serve(2, lambda feed: json.dumps(feed).replace("/", "\\/"))  # PHP's json_encode
    with feed_poller(tmp_path / "storage", server.url("/feed.json")) as (_, poller, source):
        php = poller.poll(source)
        serve(200, lambda feed: json.dumps(feed, sort_keys=True))
        grown = poller.poll(source)
    assert (php.kind, php.new_entries, php.new_embeds) == ("feed", 2, 2)
    assert (grown.kind, grown.result, grown.new_entries) == ("feed", "changed", 198)


def test_an_entry_retitling_its_page_retitles_the_files_seen_there(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """An entry's new title became its page's, but the files archived from the page
    kept the old one in their search text and sidecars: the words of the new title
    found nothing."""

    def entry(title: str) -> bytes:  # a changed entry: its words change with its title
        item = f"<title>{title}</title><description>{title}.</description><link>/story</link>"
        return rss_of(f"<item>{item}<guid>s</guid></item>")

    server.add_file("/media/a.jpg", media.photo_a)
    server.add_page("/story", "<article><p>The market:</p><img src='/media/a.jpg'></article>")
    server.add_bytes("/feed.rss", entry("Shelling in Aleppo"), "application/rss+xml")
    with feed_poller(tmp_path / "storage", server.url("/feed.rss")) as (archive, poller, source):
        poller.poll(source)
        Capturer(archive).capture_url(server.url("/story"))
        server.add_bytes("/feed.rss", entry("Market struck in Douma"), "application/rss+xml")
        poller.poll(source)
        with archive.read_session() as session:
            (found,) = search(session, archive.layout, SearchQuery.parse(text="douma struck"))
    sidecar = json.loads(Path(found.to_json()["sidecar"]).read_text())
    assert sidecar["sightings"][0]["page_title"] == "Market struck in Douma"


def test_an_entry_read_again_with_its_title_unchanged_leaves_the_pages_own_title(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """An entry re-read at every poll (a token in its text) gave the page its title
    each time, and a capture of the page its own ``<title>`` back: the two took turns,
    each turn rewriting the sidecars of the files seen there. The same title again
    is not taken; a new one is, at once."""

    def entry(title: str, token: str) -> bytes:
        item = f"<title>{title}</title><description>Smoke, ref {token}.</description>"
        return rss_of(f"<item>{item}<link>/story</link><guid>s</guid></item>")

    server.add_file("/media/a.jpg", media.photo_a)
    server.add_page(
        "/story",
        "<html><head><title>Story 2 | Wire</title></head><body><article><p>The market:</p>"
        "<img src='/media/a.jpg'></article></body></html>",
    )
    server.add_bytes("/feed.rss", entry("Story two", "1"), "application/rss+xml")
    with feed_poller(tmp_path / "storage", server.url("/feed.rss")) as (archive, poller, source):
        poller.poll(source)
        for _ in range(2):  # two versions in a row show the page's own title
            Capturer(archive).capture_url(server.url("/story"))

        def title_after(feed: bytes) -> str | None:
            server.add_bytes("/feed.rss", feed, "application/rss+xml")
            assert poller.poll(source).result == "changed"
            with archive.read_session() as session:
                return session.scalar(select(Page.title).where(Page.url == server.url("/story")))

        assert title_after(entry("Story two", "2")) == "Story 2 | Wire"
        assert title_after(entry("Story two, updated", "3")) == "Story two, updated"


def _run_due(archive: Archive) -> None:
    """Run every due job, and those due again after, as the daemon's queue would."""
    capturer = Capturer(archive)
    for _ in range(10):
        with archive.session() as session:
            taken = [j.id for j in jobs.claim_due(session, capturer.owner, 20, utcnow())]
        if not taken:
            return
        for job_id in taken:
            capturer.run_claimed(job_id)


def _story_feed(server: FixtureServer, text: str) -> None:
    item = (
        f"<item><title>Aleppo</title><link>{server.url('/story')}</link><guid>s1</guid>"
        f"<description>{text}</description></item>"
    )
    server.add_bytes("/feed.rss", rss_of(item), "application/rss+xml")


def test_an_entry_changed_while_its_page_is_being_captured_has_the_page_captured_again(
    tmp_path: Path, db_url: str, server: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A changed entry's page was captured again only when its job had ended: one
    running then (the page fetched before the change) ended done, the next polls saw
    the entry unchanged, and the page's new version (a video added to a developing
    story) was never fetched."""

    def story(*names: str) -> None:
        imgs = "".join(f"<p>Footage:</p><img src='/media/{n}.jpg' width=600>" for n in names)
        server.add_page("/story", f"<html><body><article>{imgs}</article></body></html>")

    _story_feed(server, "Shelling resumed at dawn.")
    story("A")
    feed_url = server.url("/feed.rss")
    with feed_poller(tmp_path / "storage", feed_url, db_url) as (archive, poller, source):
        poller.poll(source)
        record_page = Capturer.record_page
        seen: list[PollResult] = []

        def fetched_then_edited(self: Capturer, url: str, *args: Any, **kw: Any) -> Any:
            if url.endswith("/story") and not seen:  # its bytes came; now the story grows
                story("A", "B")
                _story_feed(server, "Shelling resumed at dawn. UPDATE: video added.")
                seen.append(poller.poll(source))
            return record_page(self, url, *args, **kw)

        monkeypatch.setattr(Capturer, "record_page", fetched_then_edited)
        _run_due(archive)
        assert poller.poll(source).new_entries == 0
        _run_due(archive)
        with archive.read_session() as session:
            found = {u.rsplit("/", 1)[1] for u in session.scalars(select(Embed.url))}
            page_job = select(CaptureJob.state, CaptureJob.attempts)
            state = session.execute(page_job.where(CaptureJob.embed_id.is_(None))).one()
    assert [poll.new_entries for poll in seen] == [1]
    assert found == {"A.jpg", "B.jpg"}
    assert tuple(state) == ("done", 1)  # the run cut short by the change is not counted


def test_a_poll_does_not_wait_on_a_running_page_job_another_holds_and_reads_the_entry_again(
    tmp_path: Path, server: FixtureServer
) -> None:
    """On PostgreSQL a poll does not wait on the row of a job another transaction holds
    (a lease renewal, a capture recording its end): it deadlocked with a renewal. The
    change is not lost for it: the entry is read again at the next poll, which queues
    the page again once its job has ended."""
    _story_feed(server, "Shelling resumed at dawn.")
    server.add_page("/story", "<html><body><article><p>Smoke.</p></article></body></html>")
    with (
        pg_schema(lock_timeout_ms=2000) as url,
        feed_poller(tmp_path / "storage", server.url("/feed.rss"), url) as (
            archive,
            poller,
            source,
        ),
    ):
        poller.poll(source)
        with archive.session() as session:
            (job_id,) = [j.id for j in jobs.claim_due(session, "w", 10, utcnow())]
        _story_feed(server, "Shelling resumed at dawn. UPDATE: video added.")
        with archive.session() as holder:  # the capture records its end meanwhile
            job = jobs.locked(holder, job_id)
            changed = poller.poll(source)
            jobs.finish(job, jobs.Outcome(JobState.DONE), utcnow(), "w")
        again = poller.poll(source)
        with archive.read_session() as session:
            state = session.get_one(CaptureJob, job_id).state
    assert (changed.result, changed.new_entries) == ("changed", 1)
    assert (again.new_entries, state) == (1, "pending")


def test_an_entrys_page_not_up_yet_is_fetched_again_before_it_is_judged_gone(
    tmp_path: Path, db_url: str, server: FixtureServer
) -> None:
    """A feed often goes out before its page is up: the page's 404 made its job gone at
    once, never tried again while the entry did not change (a page embedding nothing
    has no liveness check to notice it either). It is retried with the backoff first."""
    _story_feed(server, "Shelling resumed at dawn.")
    server.add_status("/story", 404)
    feed_url = server.url("/feed.rss")
    with feed_poller(tmp_path / "storage", feed_url, db_url) as (archive, poller, source):
        poller.poll(source)
        _run_due(archive)
        with archive.read_session() as session:
            job = session.scalars(select(CaptureJob)).one()
        server.add_page("/story", "<article><p>Citadel:</p><img src='/media/c.jpg'></article>")
        with archive.session() as session:  # its retry is due
            session.get_one(CaptureJob, job.id).next_attempt_at = utcnow()
        _run_due(archive)
        with archive.read_session() as session:
            state = session.get_one(CaptureJob, job.id).state
            found = session.scalars(select(Embed.url)).all()
    assert (job.state, job.attempts) == ("failed", 1)
    assert "404" in (job.last_error or "")
    assert job.next_attempt_at is not None
    assert timedelta(seconds=50) < job.next_attempt_at - job.updated_at < timedelta(seconds=70)
    assert (state, found) == ("done", [server.url("/media/c.jpg")])


def test_a_feed_of_ten_thousand_entries_is_recorded_with_bounded_memory(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    items = "".join(
        f"<item><title>Update {i}</title><link>/live/{i}</link>"
        f"<description>&lt;p&gt;Photo {i}:&lt;/p&gt;&lt;img src='/media/{i}.jpg'&gt;</description></item>"
        for i in range(10_000)
    )
    body = f"<?xml version='1.0'?><rss version='2.0'><channel><title>Big</title>{items}</channel></rss>"
    server.add_bytes("/big.rss", body.encode(), "application/rss+xml")
    with feed_poller(tmp_path / "storage", server.url("/big.rss")) as (archive, poller, source_id):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = poller.poll(source_id)
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024

        assert result.result == "changed" and result.new_entries == 10_000
        assert grown_mb < 200
        with archive.session() as session:
            pages = select(func.count()).select_from(Page).where(Page.source_id == source_id)
            assert session.scalar(pages) == 10_001  # the feed itself and its entries
            assert session.scalar(select(func.count()).select_from(Embed)) == 10_000
            page_jobs = select(func.count()).where(CaptureJob.embed_id.is_(None))
            assert session.scalar(page_jobs) == 10_000

        second = poller.poll(source_id)  # same body again: nothing to do
        assert second.result == "unchanged" and second.new_entries == 0


def test_a_shutdown_stops_a_long_feed_between_batches_and_the_next_poll_reads_on(
    tmp_path: Path, server: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A feed of 40,000 entries held a SIGTERM up for half a minute past the grace:
    nothing between its batches of entries looked at the stop flag."""
    items = "".join(
        f"<item><title>Update {n}</title><link>{server.url(f'/story/{n}')}</link>"
        f"<description>Smoke over the port, part {n}.</description></item>"
        for n in range(3 * ENTRY_BATCH)
    )
    server.add_bytes("/feed.xml", rss_of(items), "application/rss+xml")
    recorded = poll_module.record_feed_entries
    batches = 0

    def record_then_stop(*args: Any, **kwargs: Any) -> int:
        nonlocal batches
        batches += 1
        archive.stop.set()  # SIGTERM arrives while the first batch is recorded
        return recorded(*args, **kwargs)

    monkeypatch.setattr(poll_module, "record_feed_entries", record_then_stop)
    with feed_poller(tmp_path / "storage", server.url("/feed.xml")) as (archive, poller, source):
        stopped = poller.poll(source)
        assert (stopped.result, batches) == ("interrupted", 1)
        with archive.read_session() as session:
            assert session.get_one(Source, source).content_sha256 is None  # not read yet
            assert session.scalar(select(func.count()).select_from(Page)) == ENTRY_BATCH + 1
        archive.stop.clear()
        monkeypatch.setattr(poll_module, "record_feed_entries", recorded)
        again = poller.poll(source)
        with archive.read_session() as session:
            pages = session.scalar(select(func.count()).select_from(Page))
    assert again.result == "changed" and again.new_entries == 2 * ENTRY_BATCH
    assert pages == 3 * ENTRY_BATCH + 1  # every entry's page, and the feed's


def test_a_shorter_interval_takes_effect_at_once(tmp_path: Path, db_url: str) -> None:
    """A daily source made hourly, in ``[[sources]]`` or by ``source add --every``, kept
    the next poll set from the day: it waited out the day before its first hourly poll."""
    config = make_config(tmp_path / "storage", db_url)
    url = "https://example.org/feed"
    with Archive.open(config) as archive:
        with archive.session() as session:
            sync_config_sources(session, [SourceEntry(url=url, every=86400)], 600)
        polled = utcnow()
        with archive.session() as session:  # as a poll leaves it
            source = session.scalars(select(Source)).one()
            source.last_polled_at, source.next_poll_at = polled, polled + timedelta(days=1)

        with archive.session() as session:  # the file now says every hour
            sync_config_sources(session, [SourceEntry(url=url, every=3600)], 600)
        with archive.read_session() as session:
            source = session.scalars(select(Source)).one()
            assert source.every_seconds == 3600
            assert source.next_poll_at == polled + timedelta(hours=1)

        with archive.session() as session:
            add_source(session, url, every=60)  # `source add URL --every 1m`
            add_source(session, url, every=7200)  # longer: the next poll stays
        with archive.read_session() as session:
            source = session.scalars(select(Source)).one()
            assert source.every_seconds == 7200
            assert source.next_poll_at == polled + timedelta(minutes=1)


def test_a_start_logs_the_config_sources_it_removes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A source deleted from ``[[sources]]`` is removed at the next start; so is one a
    daemon sharing the database declared in its own file, which nothing showed."""
    config = make_config(tmp_path / "storage")
    kept, dropped = "https://example.org/kept", "https://example.org/dropped"
    with Archive.open(config) as archive:
        with archive.session() as session:
            entries = [SourceEntry(url=kept), SourceEntry(url=dropped)]
            assert sync_config_sources(session, entries, 600) == []
        with caplog.at_level(logging.INFO, logger="archiver"), archive.session() as session:
            assert sync_config_sources(session, [SourceEntry(url=kept)], 600) == [dropped]
        with archive.read_session() as session:
            assert list(session.scalars(select(Source.url))) == [kept]
    (removed,) = [r for r in caplog.records if r.getMessage() == "source.removed"]
    assert removed.fields["url"] == dropped  # type: ignore[attr-defined]


def test_one_page_spelled_otherwise_is_the_same_source(tmp_path: Path, db_url: str) -> None:
    """Another spelling of a source's URL (the host's case, a fragment, a tracking
    parameter) became a second source, polling the page and its older pages twice."""
    config = make_config(tmp_path / "storage", db_url)
    url = "https://news.example/live"
    with Archive.open(config) as archive:
        with archive.session() as session:
            first = add_source(session, f"{url}?utm_source=twitter#top", every=600).id
            for spelling in ("HTTPS://News.Example/live", f"{url}?fbclid=x", f"{url}#block-7"):
                assert add_source(session, spelling, every=600).id == first, spelling
        with archive.read_session() as session:
            assert list(session.scalars(select(Source.url))) == [url]
        with archive.session() as session:
            assert remove_source(session, "https://NEWS.example/live#x").id == first
        with archive.read_session() as session:
            assert session.scalar(select(func.count()).select_from(Source)) == 0


def test_a_source_recorded_under_another_spelling_before_is_found_by_any(
    tmp_path: Path, db_url: str
) -> None:
    config = make_config(tmp_path / "storage", db_url)
    with Archive.open(config) as archive:
        with archive.session() as session:  # as added before URLs were cleaned
            old = add_source(session, "https://news.example/live", every=600)
            old.url = "https://News.Example/live?utm_medium=social"
        with archive.session() as session:
            again = add_source(session, "https://news.example/live", every=60)
            assert again.id == old.id and again.every_seconds == 60


def test_a_config_listing_one_source_under_two_spellings_is_refused(tmp_path: Path) -> None:
    data = settings(tmp_path / "storage")
    data["sources"] = [
        {"url": "https://news.example/live"},
        {"url": "https://NEWS.example/live?utm_source=rss#latest", "every": "1m"},
    ]
    with pytest.raises(ConfigError, match=r"sources\.1\.url: .* is also at sources\.0"):
        config_from_dict(data)


def test_a_config_source_added_again_by_the_cli_stays_the_configs(
    tmp_path: Path, db_url: str
) -> None:
    """`source add` renaming a config source recorded it as added by hand: deleted from
    the file, it was polled on for ever."""
    config = make_config(tmp_path / "storage", db_url)
    url = "https://news.example/feed"
    with Archive.open(config) as archive:
        with archive.session() as session:
            sync_config_sources(session, [SourceEntry(url=url)], 600)
        with archive.session() as session:
            add_source(session, url, every=None, name="Kyiv")
        with archive.session() as session:
            assert sync_config_sources(session, [], 600) == [url]
        with archive.read_session() as session:
            assert session.scalar(select(func.count()).select_from(Source)) == 0


def test_a_sources_kind_changed_is_read_so_at_its_next_poll(
    tmp_path: Path, server: FixtureServer
) -> None:
    """A feed behind a PHP notice, served as ``text/html``, is detected as a page. Made a
    feed (``source add URL --kind feed``, or its ``[[sources]]`` table), it was still
    read as the page until the feed changed: its validators got a 304, its checksum
    said unchanged."""
    notice = b"<br />\n<b>Deprecated</b>: create_function() in <b>feed.php</b><br />\n"
    item = (
        "<item><title>Video</title><link>/posts/1</link><description>&lt;iframe "
        "src='https://www.youtube.com/embed/abc123XYZ_0'&gt;&lt;/iframe&gt;</description></item>"
    )
    server.add_bytes("/feed.php", notice + rss_of(item), "text/html; charset=UTF-8")
    url = server.url("/feed.php")
    with feed_poller(tmp_path / "storage", url) as (archive, poller, source):
        detected = poller.poll(source)
        with archive.session() as session:
            add_source(session, url, every=None, kind="feed")
        with archive.read_session() as session:
            assert session.get_one(Source, source).next_poll_at <= utcnow()  # due now
        forced = poller.poll(source)
        with archive.session() as session:
            sync_config_sources(session, [SourceEntry(url=url, kind="page")], 600)
        back = poller.poll(source)
        with archive.read_session() as session:
            embeds = session.execute(select(Page.url, Embed.url).join(Embed.page)).all()
    assert (detected.kind, forced.kind, back.kind) == ("page", "feed", "page")
    assert (server.url("/posts/1"), "https://www.youtube.com/watch?v=abc123XYZ_0") in embeds
