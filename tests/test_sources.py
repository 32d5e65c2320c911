"""Feeds and live pages: parsing, kind detection, and a feed of 10,000 entries."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest
from sqlalchemy import func, select
from support import FixtureServer, MediaSet
from support.archiving import make_config

from archiver.archive import Archive
from archiver.capture import Capturer
from archiver.errors import FetchError
from archiver.fetch.http import HttpFetcher
from archiver.index.models import CaptureJob, Embed, Page
from archiver.sources.feed import looks_like_feed, parse_feed
from archiver.sources.poll import Poller
from archiver.sources.registry import add_source

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
        ("text/html", b"<rss>", False),
        ("application/octet-stream", b"<!DOCTYPE html><html><body><feed>", False),
    ],
)
def test_kind_is_detected(content_type: str, body: bytes, feed: bool) -> None:
    assert looks_like_feed(content_type, body) is feed


def test_garbage_is_a_malformed_feed() -> None:
    with pytest.raises(FetchError, match="malformed feed"):
        parse_feed(b"\x00\x01 not xml at all <<<", "https://example.org/feed")


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
    config = make_config(tmp_path / "storage")
    with Archive.open(config) as archive:
        with archive.session() as session:
            source_id = add_source(session, server.url("/big.rss"), every=60).id
        http = HttpFetcher(config.network, 2)
        poller = Poller(Capturer(archive), config.polling, http)
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
        http.close()
