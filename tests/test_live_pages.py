"""Live pages split into pages: older updates are read back, and an update that scrolls
on to an older page is neither recorded as removed nor archived twice."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import func, select, update
from support import FixtureServer, make_photo
from support.archiving import run_cli, settings, write_config

from archiver import jobs
from archiver.archive import Archive
from archiver.capture import Capturer
from archiver.config import config_from_dict
from archiver.extract import extract_embeds
from archiver.extract.pagination import continues_page
from archiver.fetch.http import HttpFetcher
from archiver.index.models import (
    CaptureJob,
    Embed,
    Event,
    LinkCheck,
    Media,
    Page,
    PageSnapshot,
    Sighting,
    Source,
    utcnow,
)
from archiver.liveness.report import embed_statuses
from archiver.liveness.service import sync_targets, targets_for
from archiver.older_pages import OlderPageReader
from archiver.search import SearchQuery, search
from archiver.sources.poll import Poller
from archiver.sources.registry import add_source


def live_page(updates: list[str], older: str | None, *, newer: str | None = None) -> str:
    """A live blog page, newest update first, with the Guardian's kind of navigation:
    the link to older updates says "Next" to screen readers only."""
    blocks = "".join(
        f"<div class='block'><p>UPDATE {name}: Footage posted by activists:</p>"
        f"<img src='/media/{name}.jpg'></div>"
        for name in updates
    )
    nav = "<nav id='liveblog-navigation'>"
    if newer is not None:
        nav += f"<a href='{newer}#liveblog-navigation'><span class='hidden'>Previous</span></a>"
    if older is not None:
        nav += f"<a href='{older}#liveblog-navigation'><span class='hidden'>Next</span></a>"
        nav += "<a href='?page=with:block-last#liveblog-navigation'>Oldest</a>"
    nav += "</nav>"
    return f"""<html><head><title>Syria live</title>
<link rel="next" href="/2013/09/29/syria-daily"></head><body>
<article><h1>Syria live</h1>{blocks}{nav}</article>
<aside><a href="/2013/09/29/syria-daily">Next story</a></aside></body></html>"""


def serve_blog(server: FixtureServer, pages: list[list[str]]) -> None:
    """Serve ``pages`` (each a list of updates) at /live, /live?page=2, ..."""
    for number, updates in enumerate(pages, start=1):
        path = "/live" if number == 1 else f"/live?page={number}"
        older = f"?page={number + 1}" if number < len(pages) else None
        newer = None if number == 1 else ("/live" if number == 2 else f"?page={number - 1}")
        server.add_page(path, live_page(updates, older, newer=newer))


@pytest.fixture
def blog(
    tmp_path: Path, db_url: str, server: FixtureServer
) -> Iterator[tuple[Archive, Poller, int]]:
    config = config_from_dict(settings(tmp_path / "storage", db_url, polling={"older_pages": 3}))
    http = HttpFetcher(config.network, 2)
    with Archive.open(config) as archive:
        with archive.session() as session:
            source_id = add_source(session, server.url("/live"), every=600, kind="page").id
        yield archive, Poller(Capturer(archive), config.polling, http), source_id
    http.close()


def embeds_by_page(archive: Archive) -> dict[str, tuple[str, bool]]:
    """Embed file name -> (the page it was first found on, whether recorded as removed)."""
    with archive.read_session() as session:
        rows = session.execute(select(Embed.url, Page.url, Embed.removed_at).join(Page)).all()
    by_name: dict[str, tuple[str, bool]] = {}
    for embed_url, page_url, removed_at in rows:
        name = embed_url.rsplit("/", 1)[1].removesuffix(".jpg")
        assert name not in by_name, f"{name} recorded twice"
        by_name[name] = (page_url.rsplit("/", 1)[1], removed_at is not None)
    return by_name


def test_a_first_poll_reads_older_pages_back_to_the_limit(
    blog: tuple[Archive, Poller, int], server: FixtureServer
) -> None:
    archive, poller, source_id = blog
    serve_blog(server, [["E"], ["D"], ["C"], ["B"], ["A"]])

    result = poller.poll(source_id)

    assert result.result == "changed" and result.older_pages == 3  # the limit
    assert embeds_by_page(archive) == {
        "E": ("live", False),
        "D": ("live?page=2", False),
        "C": ("live?page=3", False),
        "B": ("live?page=4", False),
    }
    assert server.hits("/live?page=5") == 0
    assert server.hits("/2013/09/29/syria-daily") == 0  # "next story" is another page
    with archive.read_session() as session:
        jobs = set(session.scalars(select(CaptureJob.url)))
        sources = set(session.scalars(select(Page.source_id)))
    assert {url.rsplit("/", 1)[1] for url in jobs} == {"E.jpg", "D.jpg", "C.jpg", "B.jpg"}
    assert sources == {source_id}


def test_a_file_only_the_feed_gave_the_page_sends_no_one_looking_for_it(
    blog: tuple[Archive, Poller, int], server: FixtureServer
) -> None:
    """A video the blog's feed attaches to the page was never on it, so never left it:
    counted as an update that had scrolled on, it kept the reader of older pages going
    to the last one at the next poll, looking for it. And the page is the blog's
    source's still after the feed's poll recorded its entries on it."""
    archive, poller, source_id = blog
    serve_blog(server, [["B"], ["A"], ["Z"]])
    poller.poll(source_id)  # a first poll reads back to the limit
    live = server.url("/live")
    item = (
        f"<item><title>UPDATE 1800 GMT</title><link>{live}#u18</link><guid>u18</guid>"
        f"<enclosure url='{server.url('/media/original.mp4')}' length='9' type='video/mp4'/>"
        "</item>"
    )
    rss = f"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>{item}</channel></rss>"
    server.add_bytes("/live.rss", rss.encode(), "application/rss+xml")
    with archive.session() as session:
        feed = add_source(session, server.url("/live.rss"), every=600).id
    assert poller.poll(feed).new_embeds == 1

    serve_blog(server, [["C", "B"], ["A"], ["Z"]])  # C is posted
    result = poller.poll(source_id)

    assert (result.new_embeds, result.removed_embeds, result.older_pages) == (1, 0, 1)
    assert server.hits("/live?page=3") == 1  # the first poll's read only

    # E and D are posted, C and B scroll on: a feed poll between made the page the
    # feed's, and the reader of its older pages, looking by source, saw none of the
    # first page's embeds: C and B were recorded again as new, on the older pages
    later = item.replace("1800", "1900").replace("u18", "u19").replace("original", "second")
    server.add_bytes("/live.rss", rss.replace(item, later + item).encode(), "application/rss+xml")
    assert poller.poll(feed).new_embeds == 1
    serve_blog(server, [["E", "D"], ["C"], ["B", "A"], ["Z"]])
    result = poller.poll(source_id)
    assert (result.new_embeds, result.removed_embeds) == (2, 0)
    assert not any(removed for _, removed in embeds_by_page(archive).values())


def test_the_first_page_is_dated_when_it_came_not_after_its_older_pages(
    blog: tuple[Archive, Poller, int], server: FixtureServer
) -> None:
    """The first page was recorded once its older pages were read (thirty slow ones
    take minutes), and dated then: fetched, and its updates seen, after those pages."""
    archive, poller, source_id = blog
    serve_blog(server, [["C"], ["B"], ["A"]])
    poller.poll(source_id)
    with archive.read_session() as session:
        fetched = session.execute(
            select(Page.url, PageSnapshot.first_fetched_at, Embed.first_seen_at)
            .join(PageSnapshot, PageSnapshot.page_id == Page.id)
            .join(Embed, Embed.page_id == Page.id)
        ).all()
        page = session.scalars(select(Page).where(Page.url == server.url("/live"))).one()
        dated = (page.first_fetched_at, page.last_fetched_at, page.judged_at)
    by_time = sorted(fetched, key=lambda row: row.first_fetched_at)
    assert [url.rsplit("/", 1)[1] for url, _, _ in by_time] == [
        "live",
        "live?page=2",
        "live?page=3",
    ]
    assert all(version == seen for _, version, seen in fetched)
    assert dated == (by_time[0].first_fetched_at,) * 3


def test_an_update_that_scrolls_on_is_kept_and_one_deleted_is_removed(
    blog: tuple[Archive, Poller, int], server: FixtureServer
) -> None:
    archive, poller, source_id = blog
    serve_blog(server, [["C", "B"], ["A"]])
    poller.poll(source_id)
    with archive.read_session() as session:
        jobs_before = session.scalar(select(CaptureJob.id).order_by(CaptureJob.id.desc()))

    # D is posted; B scrolls on to the second page, A to a third
    serve_blog(server, [["D", "C"], ["B", "A"], ["Z"]])
    result = poller.poll(source_id)

    assert (result.new_embeds, result.removed_embeds, result.older_pages) == (1, 0, 1)
    assert server.hits("/live?page=3") == 0  # the second page holds what was archived
    assert embeds_by_page(archive) == {
        "D": ("live", False),
        "C": ("live", False),
        "B": ("live", False),  # first found there, on the page still
        "A": ("live?page=2", False),
    }
    with archive.read_session() as session:
        new_jobs = list(session.scalars(select(CaptureJob.url).where(CaptureJob.id > jobs_before)))
    assert [url.rsplit("/", 1)[1] for url in new_jobs] == ["D.jpg"]  # nothing fetched twice

    # the live blog deletes C; E is posted; D scrolls on
    serve_blog(server, [["E"], ["D", "B"], ["A"]])
    result = poller.poll(source_id)

    assert (result.new_embeds, result.removed_embeds) == (1, 1)
    removed = {name for name, (_, gone) in embeds_by_page(archive).items() if gone}
    assert removed == {"C"}

    # later polls do not judge again what scrolled on before
    serve_blog(server, [["F"], ["E"], ["D", "B"]])
    assert poller.poll(source_id).removed_embeds == 0


def test_a_deletion_is_judged_though_the_page_was_captured_between_two_polls(
    blog: tuple[Archive, Poller, int], server: FixtureServer
) -> None:
    """The poll judged the embeds last seen at the newest time any was seen: a capture
    (or the blog's feed entry) in between moved that on, and the deleted one, last
    seen at the poll before, was taken as judged already: never recorded removed."""
    archive, poller, source_id = blog
    serve_blog(server, [["C", "B", "A"], ["Z"]])
    poller.poll(source_id)
    serve_blog(server, [["C", "B"], ["Z"]])  # A deleted
    Capturer(archive).capture_url(server.url("/live"))  # judges nothing
    result = poller.poll(source_id)
    assert result.removed_embeds == 1
    assert {name for name, (_, gone) in embeds_by_page(archive).items() if gone} == {"A"}


def test_an_update_a_capture_saw_while_the_older_pages_were_read_is_not_removed(
    blog: tuple[Archive, Poller, int], server: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A capture of the page, while a poll read its older pages, recorded a newer
    version with a new update. The poll's version, fetched before it, lacked the
    update, and it was recorded as removed from the page that had just shown it."""
    archive, poller, source_id = blog
    serve_blog(server, [["B"], ["A"]])
    poller.poll(source_id)
    serve_blog(server, [["C", "B"], ["A"]])
    read = OlderPageReader.read

    def captured_meanwhile(reader: OlderPageReader, limit: int, *, read_back: bool) -> Any:
        serve_blog(server, [["D", "C", "B"], ["A"]])  # D is posted
        Capturer(archive).capture_url(server.url("/live"))
        return read(reader, limit, read_back=read_back)

    monkeypatch.setattr(OlderPageReader, "read", captured_meanwhile)
    assert poller.poll(source_id).removed_embeds == 0
    assert not any(gone for _, gone in embeds_by_page(archive).values())


def test_what_scrolled_on_is_not_judged_again_when_the_older_link_is_missing_once(
    blog: tuple[Archive, Poller, int], server: FixtureServer
) -> None:
    """Without a link to older pages every embed missing was judged, those that had
    scrolled on to them polls before too."""
    archive, poller, source_id = blog
    serve_blog(server, [["C", "B"], ["A"]])
    poller.poll(source_id)
    serve_blog(server, [["D", "C"], ["B", "A"]])  # B scrolls on
    poller.poll(source_id)
    server.add_page("/live", live_page(["D", "C"], None))  # the navigation left out once
    assert poller.poll(source_id).removed_embeds == 0
    assert not any(gone for _, gone in embeds_by_page(archive).values())


def test_a_source_polled_before_older_pages_were_read_is_read_back_once(
    blog: tuple[Archive, Poller, int], server: FixtureServer
) -> None:
    archive, poller, source_id = blog
    serve_blog(server, [["C"], ["B"], ["A"]])
    settings_then = poller.settings.model_copy(update={"older_pages": 0})
    Poller(poller.capturer, settings_then, poller.http).poll(source_id)  # as before
    assert server.hits("/live?page=2") == 0

    serve_blog(server, [["D"], ["C"], ["B"], ["A"]])
    result = poller.poll(source_id)

    assert result.older_pages == 3 and result.removed_embeds == 0
    assert set(embeds_by_page(archive)) == {"D", "C", "B", "A"}


def store_queued(archive: Archive) -> None:
    """Run every queued embed job, as the daemon would; each stores its file."""
    with archive.read_session() as session:
        jobs = session.execute(select(CaptureJob.id, CaptureJob.embed_id)).all()
    capturer = Capturer(archive)
    for job_id, embed_id in jobs:
        assert capturer.run_embed_job(job_id, embed_id).status == "stored"


def test_search_and_report_by_the_live_page_include_its_older_pages(
    blog: tuple[Archive, Poller, int], server: FixtureServer, tmp_path: Path
) -> None:
    archive, poller, source_id = blog
    for seed, name in enumerate("CBA"):
        server.add_file(f"/media/{name}.jpg", make_photo(tmp_path / f"{name}.jpg", seed=seed))
    serve_blog(server, [["C"], ["B"], ["A"]])
    poller.poll(source_id)
    store_queued(archive)

    live = server.url("/live")
    with archive.read_session() as session:
        found = search(session, archive.layout, SearchQuery(page=live))
        pages = {s["page_url"] for r in found for s in r.to_json()["sightings"]}
        report = embed_statuses(session, archive.layout, page=live)
        only_page_two = search(session, archive.layout, SearchQuery(page=f"{live}?page=2"))
    assert pages == {live, f"{live}?page=2", f"{live}?page=3"}
    assert [row.embed.url.rsplit("/", 1)[1] for row in report] == ["C.jpg", "B.jpg", "A.jpg"]
    assert len(only_page_two) == 1
    sync_targets(archive, utcnow())  # `archiver check LIVE` checks them all too
    with archive.read_session() as session:
        checked = {target.url.rsplit("/", 1)[1] for target in targets_for(session, live)}
    assert checked == {"live", "C.jpg", "B.jpg", "A.jpg"}


def test_an_older_page_that_failed_is_read_again_with_what_lies_beyond_it(
    blog: tuple[Archive, Poller, int], server: FixtureServer
) -> None:
    """The first poll read page 2, then page 3 answered 503: the poll counted as done,
    the next ones stopped at page 2 (it holds what was archived), and the updates
    beyond it were never archived."""
    archive, poller, source_id = blog
    serve_blog(server, [["D"], ["C"], ["B"], ["A"]])
    server.add_status("/live?page=3", 503)
    poller.poll(source_id)
    assert set(embeds_by_page(archive)) == {"D", "C"}

    serve_blog(server, [["D"], ["C"], ["B"], ["A"]])  # the server is back; nothing new
    poller.poll(source_id)
    assert set(embeds_by_page(archive)) == {"D", "C", "B", "A"}
    serve_blog(server, [["E"], ["D"], ["C"], ["B"], ["A"]])
    assert poller.poll(source_id).older_pages == 1  # read back once: then as before


@pytest.mark.parametrize("status", [404, 410])
def test_an_older_page_gone_for_good_ends_the_pages_and_is_not_read_back(
    blog: tuple[Archive, Poller, int], server: FixtureServer, status: int
) -> None:
    """A link to an older page that is gone for good owed a read back on every poll:
    each forgot the page's checksum and validators, fetched it whole and read all its
    older pages again, for as long as the blog stayed up."""
    archive, poller, source_id = blog
    serve_blog(server, [["D"], ["C"], ["B"], ["A"]])
    server.add_status("/live?page=3", status)

    first = poller.poll(source_id)
    again = [poller.poll(source_id) for _ in range(3)]

    assert first.result == "changed" and not first.read_back_owed
    assert set(embeds_by_page(archive)) == {"D", "C"}
    assert all(r.result == "unchanged" and r.older_pages is None for r in again)
    assert server.hits("/live?page=2") == server.hits("/live?page=3") == 1
    conditional = [r for r in server.requests if r.path == "/live" and "if-none-match" in r.headers]
    assert len(conditional) == 3
    with archive.read_session() as session:
        source = session.get_one(Source, source_id)
        assert source.content_sha256 is not None and source.last_error is None


def test_an_older_page_that_failed_is_the_sources_last_error_until_it_is_read(
    blog: tuple[Archive, Poller, int], server: FixtureServer
) -> None:
    """An older page answering 503 has each poll read the pages back; the poll is no
    error, and nothing showed the source stuck on it."""
    archive, poller, source_id = blog
    serve_blog(server, [["C"], ["B"], ["A"]])
    server.add_status("/live?page=2", 503)

    assert poller.poll(source_id).read_back_owed
    with archive.read_session() as session:
        source = session.get_one(Source, source_id)
        assert source.last_result == "changed" and source.consecutive_errors == 0
        assert source.last_error and "/live?page=2" in source.last_error
        assert "503" in source.last_error

    serve_blog(server, [["C"], ["B"], ["A"]])  # back
    assert not poller.poll(source_id).read_back_owed
    with archive.read_session() as session:
        assert session.get_one(Source, source_id).last_error is None


@pytest.mark.parametrize("older_pages_fail", ["limit", "error"])
def test_nothing_is_judged_removed_when_the_older_pages_were_not_all_read(
    blog: tuple[Archive, Poller, int], server: FixtureServer, older_pages_fail: str
) -> None:
    archive, poller, source_id = blog
    serve_blog(server, [["B"], ["A"]])
    poller.poll(source_id)

    # five updates at once: B scrolls on past the pages one poll reads
    serve_blog(server, [["G"], ["F"], ["E"], ["D"], ["C"], ["B"], ["A"]])
    if older_pages_fail == "error":
        server.add_status("/live?page=3", 500)
    result = poller.poll(source_id)

    assert result.result == "changed" and result.removed_embeds == 0
    assert embeds_by_page(archive)["B"] == ("live", False)


STREAM = "<iframe src='https://www.youtube.com/embed/dQw4w9WgXcQ'></iframe>"


def serve_streaming_blog(server: FixtureServer, pages: list[list[str]]) -> None:
    """`serve_blog`, with the blog's live stream repeated at the top of every page."""
    serve_blog(server, pages)
    for number, updates in enumerate(pages, start=1):
        path = "/live" if number == 1 else f"/live?page={number}"
        older = f"?page={number + 1}" if number < len(pages) else None
        html = live_page(updates, older).replace("<article>", f"<article>{STREAM}")
        server.add_page(path, html)


def test_updates_past_a_page_repeating_the_live_stream_are_read(
    blog: tuple[Archive, Poller, int], server: FixtureServer
) -> None:
    """Reading stopped at the second page, which repeats the live stream archived
    before: updates posted during a back-off, beyond it, were never archived, and the
    ones that scrolled on to the fourth page were recorded as removed."""
    archive, poller, source_id = blog
    serve_streaming_blog(server, [["C", "B"], ["A"]])
    poller.poll(source_id)

    serve_streaming_blog(server, [["H", "G"], ["F", "E"], ["D", "C"], ["B", "A"]])
    result = poller.poll(source_id)

    assert (result.older_pages, result.removed_embeds) == (3, 0)
    found = embeds_by_page(archive)
    assert found["D"] == ("live?page=3", False) and found["F"] == ("live?page=2", False)
    assert found["C"] == found["B"] == ("live", False)


def test_updates_that_scroll_across_two_older_pages_are_not_removed(
    blog: tuple[Archive, Poller, int], server: FixtureServer
) -> None:
    """Only the first older page holding an update of the old first page was read: the
    rest, on the next, were recorded as removed, and stayed so."""
    archive, poller, source_id = blog
    serve_blog(server, [["D", "C"], ["B", "A"]])
    poller.poll(source_id)

    serve_blog(server, [["G", "F"], ["E", "D"], ["C", "B"], ["A"]])  # D and C part
    result = poller.poll(source_id)

    assert (result.older_pages, result.removed_embeds) == (2, 0)
    assert server.hits("/live?page=4") == 0  # the third page held what was archived
    assert not any(gone for _, gone in embeds_by_page(archive).values())


def test_an_update_recorded_as_removed_is_taken_back_when_an_older_page_shows_it(
    blog: tuple[Archive, Poller, int], server: FixtureServer
) -> None:
    archive, poller, source_id = blog
    serve_blog(server, [["C", "B"], ["A"]])
    poller.poll(source_id)
    with archive.session() as session:  # as a poll before this fix, or in error, left it
        session.execute(
            update(Embed).where(Embed.url.endswith("/B.jpg")).values(removed_at=utcnow())
        )

    serve_blog(server, [["D", "C"], ["B", "A"]])
    poller.poll(source_id)

    assert embeds_by_page(archive)["B"] == ("live", False)
    with archive.read_session() as session:
        (taken_back,) = session.scalars(select(Event).where(Event.type == "embed_returned"))
    assert (taken_back.payload["embed_url"], taken_back.payload["where"]) == (
        server.url("/media/B.jpg"),
        "older page",
    )


def test_an_embed_put_back_on_the_page_keeps_its_removal_in_the_event_log(
    blog: tuple[Archive, Poller, int], server: FixtureServer, tmp_path: Path
) -> None:
    """An editor pulled a photo and put it back: its removal time was set back to none
    without a trace, and the poll that took it back (the page's first version again,
    stored before) said "unchanged". The page's first version again, byte for byte,
    may be a stale copy: it is judged when the next poll finds it so again."""
    archive, poller, source_id = blog
    for seed, name in enumerate("CB"):
        server.add_file(f"/media/{name}.jpg", make_photo(tmp_path / f"{name}.jpg", seed=seed))
    serve_blog(server, [["C", "B"]])
    poller.poll(source_id)
    store_queued(archive)

    serve_blog(server, [["C"]])
    pulled = poller.poll(source_id)
    with archive.read_session() as session:
        removed_at = session.scalars(select(Embed.removed_at).where(Embed.url.endswith("/B.jpg")))
        judged = removed_at.one()
    serve_blog(server, [["C", "B"]])
    assert poller.poll(source_id).returned_embeds == 0  # an earlier version: not yet
    back = poller.poll(source_id)

    assert (pulled.result, pulled.removed_embeds) == ("changed", 1)
    assert (back.result, back.returned_embeds, back.removed_embeds) == ("changed", 1, 0)
    assert embeds_by_page(archive)["B"] == ("live", False)
    with archive.read_session() as session:
        photo = session.scalars(select(Media.sha256).join(Sighting).join(Embed)).all()
        events = session.scalars(select(Event).where(Event.type.startswith("embed_"))).all()
        versions = session.scalars(select(PageSnapshot.sha256).order_by(PageSnapshot.id)).all()
    b_photo = next(sha for sha in photo if sha in {e.media_sha256 for e in events})
    common = {"page_url": server.url("/live"), "embed_url": server.url("/media/B.jpg")}
    assert [(e.type, e.media_sha256, e.payload) for e in events] == [
        ("embed_removed", b_photo, {**common, "version_sha256": versions[1], "sha256": b_photo}),
        (
            "embed_returned",
            b_photo,
            {
                **common,
                "version_sha256": versions[0],  # the first version, served again
                "removed_at": judged.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "where": "page",
                "sha256": b_photo,
            },
        ),
    ]


def _run_queued(archive: Archive) -> list[str]:
    """Run every embed job pending or to be retried, as the worker would when each is
    due (now, whatever its backoff); their statuses."""
    with archive.read_session() as session:
        queued = session.execute(
            select(CaptureJob.id, CaptureJob.embed_id).where(
                CaptureJob.next_attempt_at.is_not(None),
                CaptureJob.state.in_(("pending", "failed")),
                CaptureJob.embed_id.is_not(None),
            )
        ).all()
    return [Capturer(archive).run_embed_job(job, embed).status for job, embed in queued]


def test_a_photo_the_page_writes_under_a_new_cache_buster_each_time_stays_one_embed(
    blog: tuple[Archive, Poller, int], server: FixtureServer, tmp_path: Path
) -> None:
    """``photo.jpg?v=<random>`` anew in every version: each poll made a new embed, a
    job, a download, a sighting and a liveness check, the file's sidecar grew for
    ever, and the spelling before was judged removed from the page. The page's
    spelling is what is fetched: the bare address may be a CDN's stale copy."""
    archive, poller, source_id = blog
    photo = make_photo(tmp_path / "C.jpg", seed=1).read_bytes()
    stale = make_photo(tmp_path / "C0.jpg", seed=2).read_bytes()

    def cdn(request: Any) -> None:
        busted = "v" in dict(parse_qsl(urlsplit(request.path).query))
        request.send_simple(200, photo if busted else stale, "image/jpeg")

    server.add_handler("/media/C.jpg", cdn)
    block = "<div class='block'><p>UPDATE 1800 GMT: Smoke over the Citadel:</p>{}</div>"
    for token in ("9f1c2e", "04ab77", "e5d3a0"):
        img = f"<img src='/media/C.jpg?v={token}&amp;w=1200'>"
        server.add_page(
            "/live", f"<html><body><article>{block.format(img)}</article></body></html>"
        )
        poller.poll(source_id)
        assert set(_run_queued(archive)) <= {"stored"}
        sync_targets(archive, utcnow())

    with archive.read_session() as session:
        embeds = session.execute(select(Embed.url, Embed.original_url, Embed.removed_at)).all()
        assert session.scalar(select(func.count()).select_from(CaptureJob)) == 1
        sightings = session.execute(select(Sighting.media_url, Media.sha256).join(Media)).all()
        checks = session.scalars(select(LinkCheck.url).where(LinkCheck.kind == "file")).all()
        events = session.scalars(select(Event.type)).all()
    first = server.url("/media/C.jpg?v=9f1c2e&w=1200")
    assert embeds == [(server.url("/media/C.jpg?w=1200"), first, None)]
    assert sightings == [(first, hashlib.sha256(photo).hexdigest())]
    assert checks == [server.url("/media/C.jpg?w=1200")]
    assert "embed_removed" not in events
    assert server.hits("/media/C.jpg") == 1


def _bucket(
    server: FixtureServer, photo: bytes, unsigned: int, expired: int = 403
) -> dict[str, Any]:
    """Cloud storage at /bucket/D.jpg: the file for the current signature while ``up``,
    503 while not, ``expired`` for another signature and ``unsigned`` without one."""
    state: dict[str, Any] = {"signature": "", "up": False}

    def bucket(request: Any) -> None:
        signature = dict(parse_qsl(urlsplit(request.path).query)).get("X-Amz-Signature")
        if signature is None:
            request.send_simple(unsigned, b"<Error><Code>NoSuchKey</Code></Error>")
        elif signature != state["signature"]:
            request.send_simple(expired, b"<Error><Code>ExpiredToken</Code></Error>")
        elif not state["up"]:
            request.send_simple(503, b"slow down")
        else:
            request.send_simple(200, photo, "image/jpeg")

    server.add_handler("/bucket/D.jpg", bucket)
    return state


def _signed(signature: str) -> str:
    return f"/bucket/D.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature={signature}"


@pytest.mark.parametrize("unsigned", [403, 404])
def test_a_file_under_an_expiring_signature_is_fetched_with_the_newest_one(
    blog: tuple[Archive, Poller, int], server: FixtureServer, tmp_path: Path, unsigned: int
) -> None:
    """A file in cloud storage the page links with a signature it renews in each version
    is one embed (`file_url` drops the signature), and when its first download failed
    the retry asks with the signature the page gives now: the first one has expired.
    A bare address the storage says is not there (404) does not end the job: the
    signed one failed only for a while."""
    archive, poller, source_id = blog
    photo = make_photo(tmp_path / "D.jpg", seed=3).read_bytes()
    bucket = _bucket(server, photo, unsigned)

    def version(signature: str) -> None:
        bucket["signature"] = signature
        img = f"<img src='{_signed(signature).replace('&', '&amp;')}'>"
        block = f"<div class='block'><p>UPDATE 1800 GMT: Smoke over the Citadel:</p>{img}</div>"
        server.add_page("/live", f"<html><body><article>{block}</article></body></html>")
        poller.poll(source_id)

    version("aaaa1111")
    assert _run_queued(archive) == ["failed"]  # the bucket is down
    with archive.read_session() as session:
        assert session.scalar(select(CaptureJob.state)) == "failed"
        session.execute(update(CaptureJob).values(state="running"))
        session.commit()
    version("bbbb2222")  # while its job runs, the embed keeps the spelling it is fetched by
    with archive.read_session() as session:
        assert "aaaa1111" in session.scalar(select(Embed.original_url))
        session.execute(update(CaptureJob).values(state="failed"))
        session.commit()
    bucket["up"] = True
    version("cccc3333")
    assert _run_queued(archive) == ["stored"]
    with archive.read_session() as session:
        (embed,) = session.scalars(select(Embed))
        (sighting,) = session.scalars(select(Sighting))
    assert embed.url == server.url("/bucket/D.jpg")
    assert embed.original_url == sighting.media_url == server.url(_signed("cccc3333"))


def _signed_page(server: FixtureServer, signatures: list[str]) -> None:
    """/live showing /bucket/D.jpg and /bucket/E.jpg, in that order, under these signatures."""
    blocks = "".join(
        f"<div class='block'><p>UPDATE {name}: Smoke over the Citadel:</p>"
        f"<img src='{_signed(signature).replace('D.jpg', name + '.jpg').replace('&', '&amp;')}'></div>"
        for name, signature in zip("DE", signatures, strict=False)
    )
    server.add_page("/live", f"<html><body><article>{blocks}</article></body></html>")


def test_a_file_first_seen_under_an_expired_signature_is_fetched_with_the_next_one(
    blog: tuple[Archive, Poller, int], server: FixtureServer, tmp_path: Path
) -> None:
    """A page served from a cache gave a signature that had expired: refused, the job
    ended. The next version's signature runs it again (its attempts still counted),
    and the file is not checked for liveness: its bare address is refused, its signed
    one expires (a false alarm either way)."""
    archive, poller, source_id = blog
    bucket = _bucket(server, make_photo(tmp_path / "D.jpg", seed=3).read_bytes(), 403, 400)
    bucket["signature"], bucket["up"] = "current1", True
    _signed_page(server, ["expired0"])
    poller.poll(source_id)
    assert _run_queued(archive) == ["failed"]
    with archive.read_session() as session:
        assert session.scalar(select(CaptureJob.next_attempt_at)) is None  # not retried

    _signed_page(server, ["current1"])
    poller.poll(source_id)
    with archive.read_session() as session:
        assert session.scalar(select(CaptureJob.state)) == "pending"  # due again
    assert _run_queued(archive) == ["stored"]
    assert sync_targets(archive, utcnow()) == 1  # the page alone
    with archive.read_session() as session:
        assert session.scalar(select(CaptureJob.attempts)) == 2
        assert session.scalars(select(LinkCheck.url)).all() == [server.url("/live")]


@pytest.mark.parametrize(
    "signed",
    [
        # Azure Blob Storage's shared access signature: expiry ``se``, proof ``sig``
        "/media/D.jpg?sv=2021-08-06&se=2026-11-28T1{n}%3A00%3A00Z&sr=b&sp=r&sig=Zm9v{n}YmFy",
        # Akamai's token
        "/media/D.jpg?hdnts=exp%3D17000000{n}0~acl%3D%2F*~hmac%3Dab{n}cd",
        # ByteDance's (TikTok's) CDN
        "/media/D.jpg?x-expires=17000000{n}0&x-signature=ab{n}cd%3D",
    ],
    ids=["azure-sas", "akamai", "bytedance"],
)
def test_a_file_renewed_under_a_new_signature_each_poll_stays_one_embed(
    blog: tuple[Archive, Poller, int], server: FixtureServer, tmp_path: Path, signed: str
) -> None:
    """Only S3's, Google Cloud Storage's, CloudFront's and Facebook's signatures were
    known: a photo served from Azure, Akamai or ByteDance's CDN under a new signature
    in each version was one more embed, job and download per poll, the spelling
    before judged removed, and each one's liveness check, on an expired signature,
    read restricted (and alerted)."""
    archive, poller, source_id = blog
    photo = make_photo(tmp_path / "D.jpg", seed=3).read_bytes()
    server.add_bytes("/media/D.jpg", photo, "image/jpeg")
    ran: list[str] = []
    for n in (1, 2, 3):
        img = f"<img src='{signed.format(n=n).replace('&', '&amp;')}' width=600>"
        block = f"<div class='block'><p>UPDATE 1800 GMT: Smoke over the Citadel:</p>{img}</div>"
        server.add_page("/live", f"<html><body><article>{block}</article></body></html>")
        poller.poll(source_id)
        ran += _run_queued(archive)

    with archive.read_session() as session:
        embeds = session.execute(select(Embed.url, Embed.original_url, Embed.removed_at)).all()
        events = session.scalars(select(Event.type)).all()
    assert embeds == [(server.url("/media/D.jpg"), server.url(signed.format(n=1)), None)]
    assert "embed_removed" not in events
    assert (ran, server.hits("/media/D.jpg")) == (["stored"], 1)
    assert sync_targets(archive, utcnow()) == 1  # the page alone: the signature expires


def test_a_deleted_file_is_not_fetched_again_at_every_new_spelling(
    blog: tuple[Archive, Poller, int], server: FixtureServer, tmp_path: Path
) -> None:
    """A file gone (404) that the page writes under a new cache-buster at every poll
    is not run again each time: a cache-buster does not change what the server holds
    (a liveness check finding it back runs it again). A new signature does, once the
    job's backoff is over: a page that signs anew at every poll ran a deleted file's
    job at every poll, using up its attempts in as many polls."""
    archive, poller, source_id = blog

    def version(img: str) -> None:
        block = f"<div class='block'><p>UPDATE 1800 GMT: Smoke:</p><img src='{img}'></div>"
        server.add_page("/live", f"<html><body><article>{block}</article></body></html>")
        poller.poll(source_id)

    for token in ("1", "2", "3"):
        version(f"/media/G.jpg?v={token}")
        _run_queued(archive)
    with archive.read_session() as session:
        assert session.execute(select(CaptureJob.state, CaptureJob.attempts)).one() == ("gone", 1)

    _bucket(server, b"", 404, expired=404)  # deleted: 404 for every spelling
    _signed_page(server, ["aaaa1111"])
    poller.poll(source_id)
    _run_queued(archive)
    _signed_page(server, ["bbbb2222"])
    poller.poll(source_id)
    with archive.read_session() as session:
        job = session.scalars(select(CaptureJob).where(CaptureJob.url.contains("bucket"))).one()
    assert (job.state, job.attempts) == ("pending", 1)
    assert "404" in (job.last_error or "")  # why nothing is archived yet, for the report
    assert job.next_attempt_at >= job.updated_at + jobs.backoff(1) - timedelta(seconds=1)


def test_a_poll_respelling_files_does_not_wait_on_jobs_a_renewal_holds(
    blog: tuple[Archive, Poller, int], server: FixtureServer
) -> None:
    """On PostgreSQL a poll locked its page's jobs one by one in the page's order while
    a lease renewal locked the same rows in another: a deadlock, the poll failed. A job
    another holds is left; the next version respells it."""
    archive, poller, source_id = blog
    _signed_page(server, ["s1", "s1"])
    poller.poll(source_id)
    with archive.session() as session:
        session.execute(update(CaptureJob).values(state="running", lease_owner="w"))
    with archive.read_session() as session:
        job_ids = {
            embed_id: job_id
            for embed_id, job_id in session.execute(select(CaptureJob.embed_id, CaptureJob.id))
        }
    (first, second) = sorted(job_ids)
    keeper = jobs.LeaseKeeper(archive.session, "w", timedelta(minutes=10))
    renewing, errors = threading.Event(), []

    def renew() -> None:
        renewing.wait()
        try:
            keeper.renew(sorted(job_ids.values()))
        except Exception as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=renew)
    thread.start()
    try:
        with archive.session() as session:  # the poll's transaction, in the page's order
            jobs.respell_unarchived(session, second, "x", "x", utcnow())
            renewing.set()
            time.sleep(0.5)  # the renewal locks the first job, and waits on the second
            jobs.respell_unarchived(session, first, "y", "y", utcnow())
    finally:
        renewing.set()
        thread.join()
    assert not errors


def test_a_feeds_file_under_an_expiring_signature_is_fetched_with_the_newest_one(
    blog: tuple[Archive, Poller, int], server: FixtureServer, tmp_path: Path
) -> None:
    """The same for a file a feed entry attaches (a bridge's feed of a social account)."""
    archive, poller, _ = blog
    bucket = _bucket(server, make_photo(tmp_path / "D.jpg", seed=3).read_bytes(), 403)
    with archive.session() as session:
        feed = add_source(session, server.url("/live.rss"), every=600).id

    def version(signature: str) -> None:
        bucket["signature"] = signature
        enclosure = server.url(_signed(signature)).replace("&", "&amp;")
        item = (
            f"<item><title>UPDATE 1800 GMT</title><link>{server.url('/live')}#u18</link>"
            f"<guid>u18</guid><enclosure url='{enclosure}' length='9' type='image/jpeg'/></item>"
        )
        rss = f"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>{item}</channel></rss>"
        server.add_bytes("/live.rss", rss.encode(), "application/rss+xml")
        poller.poll(feed)

    version("aaaa1111")
    assert _run_queued(archive) == ["failed"]
    bucket["up"] = True
    version("bbbb2222")
    assert _run_queued(archive) == ["stored"]
    with archive.read_session() as session:
        assert session.scalar(select(Sighting.media_url)) == server.url(_signed("bbbb2222"))


def test_a_feed_entry_whose_photo_takes_a_new_cache_buster_each_poll_has_not_changed(
    blog: tuple[Archive, Poller, int], server: FixtureServer
) -> None:
    """A feed whose entry writes its photo under a new ``?v=`` at every poll made the
    entry changed each time: its page was queued for capture again and its embeds
    recorded again. A change in its words is a change."""
    archive, poller, _ = blog
    with archive.session() as session:
        feed = add_source(session, server.url("/live.rss"), every=600).id

    def poll(token: str, words: str) -> str:
        photo = server.url(f"/media/E.jpg?v={token}")
        item = (
            f"<item><title>UPDATE 1800 GMT</title><link>{server.url('/2013/09/28/aleppo')}</link>"
            f"<description>{escape(f'<p>{words}</p><img src={photo!r}>')}</description></item>"
        )
        rss = f"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>{item}</channel></rss>"
        server.add_bytes("/live.rss", rss.encode(), "application/rss+xml")
        return poller.poll(feed).result

    assert poll("9f1c2e", "Smoke over the Citadel:") == "changed"
    assert poll("04ab77", "Smoke over the Citadel:") == "unchanged"
    assert poll("e5d3a0", "Smoke over the Citadel, the rebels say:") == "changed"
    with archive.read_session() as session:
        assert session.scalars(select(Embed.url)).all() == [server.url("/media/E.jpg")]


CONSENT = (
    "<html><head><title>Before you continue</title></head><body><form action='/consent'>"
    "<p>We use cookies.</p><button>Accept all</button></form></body></html>"
)


@pytest.mark.parametrize("served", ["consent", "no older link"])
def test_a_page_served_in_error_once_judges_nothing_removed(
    blog: tuple[Archive, Poller, int],
    server: FixtureServer,
    caplog: pytest.LogCaptureFixture,
    served: str,
) -> None:
    """A consent wall (or a stale copy without the link to older pages), answered once
    with status 200, recorded every update that left the page since as removed."""
    archive, poller, source_id = blog
    serve_blog(server, [["C", "B"], ["A"]])
    poller.poll(source_id)
    wall = CONSENT if served == "consent" else live_page(["C"], None)
    server.add_page("/live", wall)

    with caplog.at_level(logging.INFO, logger="archiver"):
        assert poller.poll(source_id).removed_embeds == 0
    assert [r for r in caplog.records if r.getMessage() == "page.removals_deferred"]

    serve_blog(server, [["D", "C"], ["B", "A"]])  # back, B scrolled on meanwhile
    assert poller.poll(source_id).removed_embeds == 0
    assert not any(gone for _, gone in embeds_by_page(archive).values())
    serve_blog(server, [["E", "D"], ["B", "A"]])  # C deleted: judged as ever
    assert poller.poll(source_id).removed_embeds == 1
    assert embeds_by_page(archive)["C"] == ("live", True)


def test_an_earlier_version_served_again_once_judges_nothing_removed(
    blog: tuple[Archive, Poller, int], server: FixtureServer
) -> None:
    """A cache node's stale copy (the page of two polls ago, byte for byte) recorded
    the update posted since as removed, in the event log and for editors, and as
    returned at the next poll (and one deleted since as returned); a page that truly
    went back to it is judged when a poll finds it so again."""
    archive, poller, source_id = blog
    serve_blog(server, [["C", "B", "A"]])
    poller.poll(source_id)
    serve_blog(server, [["D", "C", "B", "A"]])
    poller.poll(source_id)
    serve_blog(server, [["C", "B", "A"]])  # one edge's stale copy
    assert poller.poll(source_id).removed_embeds == 0
    serve_blog(server, [["E", "D", "C", "B", "A"]])
    assert poller.poll(source_id).returned_embeds == 0
    with archive.read_session() as session:
        assert not session.scalars(select(Event).where(Event.type == "embed_removed")).all()

    serve_blog(server, [["D", "C", "B", "A"]])  # E deleted: the page as it was before it
    assert poller.poll(source_id).removed_embeds == 0  # an earlier version: not yet
    assert poller.poll(source_id).removed_embeds == 1  # found so again (not skipped as unchanged)
    assert embeds_by_page(archive)["E"] == ("live", True)

    serve_blog(server, [["D", "B", "A"]])  # C deleted
    assert poller.poll(source_id).removed_embeds == 1
    serve_blog(server, [["D", "C", "B", "A"]])  # a stale copy from before: C is not back
    assert poller.poll(source_id).returned_embeds == 0
    serve_blog(server, [["D", "B", "A"]])
    result = poller.poll(source_id)
    assert (result.removed_embeds, result.returned_embeds) == (0, 0)
    assert embeds_by_page(archive)["C"] == ("live", True)


def test_a_stale_copy_served_in_turn_with_the_page_never_brings_a_deleted_update_back(
    blog: tuple[Archive, Poller, int], server: FixtureServer
) -> None:
    """A cache node serving a stale copy in turn with the page: its second serve was
    dated by its first, after the deletion, and the deleted update was recorded as
    back on the page, and never judged removed again."""
    archive, poller, source_id = blog
    serve_blog(server, [["D", "C", "B", "A"]])
    poller.poll(source_id)
    serve_blog(server, [["D", "B", "A"]])  # C deleted
    assert poller.poll(source_id).removed_embeds == 1
    for _ in range(2):
        serve_blog(server, [["D", "C", "B", "A"]])
        assert poller.poll(source_id).returned_embeds == 0
        serve_blog(server, [["D", "B", "A"]])
        assert poller.poll(source_id).removed_embeds == 0
    with archive.read_session() as session:
        assert not session.scalars(select(Event).where(Event.type == "embed_returned")).all()
    assert embeds_by_page(archive)["C"] == ("live", True)


def test_a_stale_copy_a_capture_fetched_between_polls_is_still_an_earlier_version(
    blog: tuple[Archive, Poller, int], server: FixtureServer
) -> None:
    """`archiver capture` (or a feed entry's page job) got the stale copy between two
    polls, which judge nothing; the next poll then took it for the page as judged and
    recorded the update posted since as removed."""
    archive, poller, source_id = blog
    serve_blog(server, [["C", "B", "A"]])
    poller.poll(source_id)
    serve_blog(server, [["D", "C", "B", "A"]])
    poller.poll(source_id)
    serve_blog(server, [["C", "B", "A"]])
    Capturer(archive).capture_url(server.url("/live"))
    assert poller.poll(source_id).removed_embeds == 0
    with archive.read_session() as session:
        assert not session.scalars(select(Event).where(Event.type == "embed_removed")).all()


def test_a_stale_copy_has_the_next_poll_record_the_page_not_read_all_older_pages_back(
    blog: tuple[Archive, Poller, int], server: FixtureServer
) -> None:
    """The poll after a stale copy read every older page back to the limit (30 by
    default), as after a failure, where only the first page was to be recorded again:
    under a cache node serving one in turn, every other poll."""
    _, poller, source_id = blog
    older = [["A"], ["Z"], ["Y"], ["X"]]
    serve_blog(server, [["C", "B"], *older])
    poller.poll(source_id)
    serve_blog(server, [["D", "C", "B"], *older])
    normal = poller.poll(source_id)
    serve_blog(server, [["C", "B"], *older])
    assert poller.poll(source_id).removed_embeds == 0
    serve_blog(server, [["D", "C", "B"], *older])
    assert poller.poll(source_id).older_pages == normal.older_pages


def test_a_video_added_later_to_an_update_on_an_older_page_is_archived_within_a_day(
    blog: tuple[Archive, Poller, int], server: FixtureServer
) -> None:
    """An editor added the video to an update that had scrolled on to an older page
    ("video to follow"): older pages were read only when the first page changed, and
    only down to what was archived before, so it was never archived."""
    archive, poller, source_id = blog
    serve_blog(server, [["C", "B"], ["A"]])
    poller.poll(source_id)
    video = "<video src='/media/citadel.mp4'></video></div>"
    server.add_page("/live?page=2", live_page(["A"], None, newer="/live").replace("</div>", video))

    assert poller.poll(source_id).result == "unchanged"  # read back a day ago, or less
    with archive.session() as session:
        source = session.get_one(Source, source_id)
        assert source.read_back_at is not None
        source.read_back_at -= timedelta(days=1)
    result = poller.poll(source_id)
    assert (result.new_embeds, result.removed_embeds, result.older_pages) == (1, 0, 1)
    with archive.read_session() as session:
        (embed,) = session.scalars(select(Embed).where(Embed.url.endswith("citadel.mp4")))
        assert embed.page.url == server.url("/live?page=2")
        assert utcnow() - session.get_one(Source, source_id).read_back_at < timedelta(minutes=1)
    assert poller.poll(source_id).result == "unchanged"


def test_an_older_page_redirected_away_is_read_again_next_time(
    blog: tuple[Archive, Poller, int], server: FixtureServer
) -> None:
    """An older page sent to an anti-bot challenge was taken for the last page: what
    scrolled on to it was recorded as removed, and nothing beyond it was read."""
    archive, poller, source_id = blog
    serve_blog(server, [["C", "B"], ["A"]])
    poller.poll(source_id)
    serve_blog(server, [["D", "C"], ["B", "A"]])
    server.add_redirect("/live?page=2", "/challenge?return=%2Flive%3Fpage%3D2")
    server.add_page("/challenge", "<html><body>Checking your browser...</body></html>")

    result = poller.poll(source_id)

    assert result.removed_embeds == 0 and result.read_back_owed
    assert "redirected away" in str(result.older_failure)
    serve_blog(server, [["D", "C"], ["B", "A"]])  # the challenge passed
    assert not poller.poll(source_id).read_back_owed
    assert not any(gone for _, gone in embeds_by_page(archive).values())


def test_a_live_page_added_from_a_shared_link_reads_its_older_pages(
    tmp_path: Path, db_url: str, server: FixtureServer
) -> None:
    """The link as shared (``?CMP=share_btn_tw``) was compared with the older pages'
    ``?page=2``, which replaces the query: no older page was ever read."""
    config = config_from_dict(settings(tmp_path / "storage", db_url, polling={"older_pages": 3}))
    http = HttpFetcher(config.network, 2)
    with Archive.open(config) as archive:
        with archive.session() as session:
            shared = server.url("/live?CMP=share_btn_tw")
            source_id = add_source(session, shared, every=600, kind="page").id
        poller = Poller(Capturer(archive), config.polling, http)
        serve_blog(server, [["C", "B"], ["A"]])
        assert poller.poll(source_id).older_pages == 1
        serve_blog(server, [["D", "C"], ["B", "A"]])
        assert poller.poll(source_id).removed_embeds == 0
        found = embeds_by_page(archive)
    http.close()
    assert found["A"] == ("live?page=2", False) and found["B"][1] is False


LIVE = "https://www.theguardian.com/world/live/2013/sep/28/syria-live"


@pytest.mark.parametrize(
    ("navigation", "expected"),
    [
        # the Guardian: a "Next" for screen readers, then "Oldest"; no rel
        (
            "<a href='?page=with:block-9#liveblog-navigation'><span>Previous</span></a>"
            "<a href='?page=with:block-3#liveblog-navigation'><span class='hidden'>Next</span>"
            "</a><a href='?page=with:block-1#liveblog-navigation'>Oldest</a>",
            [f"{LIVE}?page=with:block-3"],
        ),
        (
            "<a rel='next' href='/world/live/2013/sep/28/syria-live/page/2/'>2</a>",
            [f"{LIVE}/page/2/"],
        ),
        ("<a aria-label='Next page' href='?page=2'>›</a>", [f"{LIVE}?page=2"]),
        ("<a href='?page=2'>Older posts</a>", [f"{LIVE}?page=2"]),
        ("<a href='?page=1'>Newer posts</a><a href='#top'>Next</a>", []),
    ],
)
def test_the_link_to_older_updates_is_found_by_what_it_says(
    navigation: str, expected: list[str]
) -> None:
    html = f"<html><body><article><p>UPDATE 1800 GMT: words</p></article>{navigation}</body>"
    assert extract_embeds(html, LIVE).older_pages == expected


@pytest.mark.parametrize(
    "label",
    [
        "« Older Entries",  # WordPress's own, its arrow first
        "Наступна",  # Ukrainian
        "Наступна сторінка »",
        "Старіші записи",
        "Следующая",  # Russian
        "Далее",
        "Ältere Beiträge",  # German
        "Suivant ›",  # French
        "Articles plus anciens",
        "التالي",  # Arabic
        "التدوينات الأقدم",
        "הבא",  # Hebrew
        "بعدی",  # Persian
        "نوشته‌های قدیمی‌تر",
    ],
)
def test_the_link_to_older_updates_is_found_in_the_blogs_language(label: str) -> None:
    """Only English "Next" and "Older" were read: a Ukrainian, Russian or Arabic live
    blog without ``rel="next"`` was read to its first page only."""
    html = (
        "<html><body><article><p>UPDATE 1800 GMT: words</p></article>"
        f"<a href='?page=1'>Previous</a><a href='?page=2'>{label}</a></body>"
    )
    assert extract_embeds(html, LIVE).older_pages == [f"{LIVE}?page=2"]


@pytest.mark.parametrize(
    "label",
    [
        "Назад",  # Russian "back": as often the newer page
        "الأقدم",  # Arabic "the oldest": a sort order, or the last page
        "Older comments",
        "Next story",
    ],
)
def test_words_that_are_not_surely_the_older_page_are_not_followed(label: str) -> None:
    html = (
        "<html><body><article><p>UPDATE 1800 GMT: words</p></article>"
        f"<a href='?page=2'>{label}</a></body>"
    )
    assert extract_embeds(html, LIVE).older_pages == []


@pytest.mark.parametrize(
    ("url", "continues"),
    [
        (f"{LIVE}?page=with:block-3", True),
        (f"{LIVE}/page/2/", True),
        (f"{LIVE}/2", True),
        ("https://www.theguardian.com/world/live/2013/sep/29/syria-live", False),  # next day
        (f"{LIVE}-2", False),
        (f"{LIVE}/analysis", False),
        ("http://www.theguardian.com/world/live/2013/sep/28/syria-live?page=2", False),
        ("https://amp.theguardian.com/world/live/2013/sep/28/syria-live?page=2", False),
        (LIVE, False),
        ("https://news.example/live.php?id=7&page=2", True),
        ("https://news.example/live.php?id=8", False),  # another live page
    ],
)
def test_only_a_further_page_of_the_same_page_is_followed(url: str, continues: bool) -> None:
    first = "https://news.example/live.php?id=7" if "live.php" in url else LIVE
    assert continues_page(first, url) is continues


@pytest.mark.parametrize("shared", ["?utm_source=twitter", "?CMP=share_btn_tw"])
def test_a_live_page_shared_with_a_query_of_its_own_is_continued(shared: str) -> None:
    first = f"https://WWW.theguardian.com/world/live/2013/sep/28/syria-live{shared}"
    assert continues_page(first, f"{LIVE}?page=2")
    assert not continues_page(first, LIVE) and not continues_page(first, f"{LIVE}{shared}")
    assert not continues_page(first, "https://www.theguardian.com/world/2013/sep/29/syria-daily")


def test_capture_archives_older_pages_when_asked(tmp_path: Path, server: FixtureServer) -> None:
    for seed, name in enumerate("CBA"):
        server.add_file(f"/media/{name}.jpg", make_photo(tmp_path / f"{name}.jpg", seed=seed))
    serve_blog(server, [["C"], ["B"], ["A"]])
    config = write_config(tmp_path / "archiver.toml", settings(tmp_path / "storage"))
    live = server.url("/live")

    alone = run_cli(config, "capture", live, "--json")
    report = json.loads(alone.stdout)
    assert alone.returncode == 0 and report["older_pages"] == 0
    assert [item["url"].rsplit("/", 1)[1] for item in report["items"]] == ["C.jpg"]

    older = run_cli(config, "capture", live, "--older-pages", "1", "--json")
    report = json.loads(older.stdout)
    assert older.returncode == 0, older.stderr
    assert report["older_pages"] == 1 and server.hits("/live?page=3") == 0
    items = {item["url"].rsplit("/", 1)[1]: item for item in report["items"]}
    assert set(items) == {"C.jpg", "B.jpg"} and items["B.jpg"]["status"] == "stored"
    assert "Footage posted by activists" in items["B.jpg"]["context"]

    # the older page names the first: searching by the blog's address finds both
    found = json.loads(run_cli(config, "search", "--page", live, "--json").stdout)
    pages = sorted(s["page_url"] for record in found for s in record["sightings"])
    assert pages == [live, f"{live}?page=2"]
    report = run_cli(config, "report", live)
    assert report.returncode == 0 and "B.jpg" in report.stdout, report.stdout
    assert run_cli(config, "capture", live, "--older-pages", "-1").returncode == 2


FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>World news</title><link>{base}/</link>
<item><title>Syria live: {title}</title><link>/live</link><guid>/live</guid>
<description>{title}</description></item></channel></rss>"""


def test_a_page_job_whose_older_page_failed_is_retried_reading_back(
    blog: tuple[Archive, Poller, int], server: FixtureServer
) -> None:
    """A feed entry's live blog (a page job, no source): its page 3 answered 503, the
    job was done, and the next capture stopped at page 2 (it holds what was archived):
    the updates beyond it were never archived."""
    archive, _, _ = blog
    serve_blog(server, [["D"], ["C"], ["B"], ["A"]])
    server.add_status("/live?page=3", 503)
    capturer = Capturer(archive, owner="page-jobs:1")

    def run_page_job() -> CaptureJob:
        with archive.session() as session:
            job = jobs.url_job(session, server.url("/live"))
            job.next_attempt_at = utcnow()
            assert jobs.claim(job, capturer.owner, utcnow(), capturer.lease)
            job_id = job.id
        capturer.run_claimed(job_id)
        with archive.read_session() as session:
            return session.get_one(CaptureJob, job_id)

    failed = run_page_job()
    assert failed.state == "failed" and "an older page could not be read" in str(failed.last_error)
    assert set(embeds_by_page(archive)) == {"D", "C"}
    serve_blog(server, [["D"], ["C"], ["B"], ["A"]])  # the server is back
    assert run_page_job().state == "done"
    assert set(embeds_by_page(archive)) == {"D", "C", "B", "A"}


def test_a_live_blog_a_feed_entry_links_is_read_back_and_then_up_to_what_was_archived(
    tmp_path: Path, db_url: str, server: FixtureServer
) -> None:
    """A news feed's entry for a live blog changes as the blog does; each change captures
    the blog, and its older pages are read as a live page source's are."""
    for seed, name in enumerate("ABCD"):
        server.add_file(f"/media/{name}.jpg", make_photo(tmp_path / f"{name}.jpg", seed=seed))
    serve_blog(server, [["C"], ["B"], ["A"]])
    feed = FEED.format(base=server.url("").rstrip("/"), title="{title}")
    server.add_bytes("/feed", feed.format(title="rebels advance").encode(), "application/rss+xml")
    data = settings(tmp_path / "storage", polling={"older_pages": 5}, liveness={"enabled": False})
    config = write_config(tmp_path / "archiver.toml", data)
    assert run_cli(config, "source", "add", server.url("/feed"), "--every", "1s").returncode == 0

    first = run_cli(config, "run", "--once")
    assert first.returncode == 0, first.stderr
    assert (server.hits("/live?page=2"), server.hits("/live?page=3")) == (1, 1)

    # D is posted; the others scroll on, and the feed's entry changes with the blog
    serve_blog(server, [["D"], ["C"], ["B"], ["A"]])
    server.add_bytes("/feed", feed.format(title="ceasefire talks").encode(), "application/rss+xml")
    time.sleep(1.1)  # the feed is due again
    second = run_cli(config, "run", "--once")
    assert second.returncode == 0, second.stderr

    assert server.hits("/live?page=2") == 2  # it holds C, archived before: reading stops
    assert (server.hits("/live?page=3"), server.hits("/live?page=4")) == (1, 0)
    with Archive.open(config_from_dict(data)) as archive:
        assert embeds_by_page(archive) == {
            "D": ("live", False),
            "C": ("live", False),  # first found there; not recorded again on page 2
            "B": ("live?page=2", False),
            "A": ("live?page=3", False),
        }
        with archive.read_session() as session:
            done = session.scalars(select(CaptureJob.url).where(CaptureJob.embed_id.is_not(None)))
            assert sorted(url.rsplit("/", 1)[1] for url in done) == [
                "A.jpg",
                "B.jpg",
                "C.jpg",
                "D.jpg",
            ]
    found = json.loads(run_cli(config, "search", "--page", server.url("/live"), "--json").stdout)
    assert len(found) == 4  # the blog's address finds its older pages' files too


def test_a_live_blog_whose_feed_carries_its_newest_updates_is_read_back_in_full(
    tmp_path: Path, db_url: str, server: FixtureServer
) -> None:
    """The feed's entries record the newest updates' embeds on the live page before its
    job runs; the first capture took them for an earlier reading and stopped at the
    first older page holding one, so updates older than the feed were never archived."""
    for seed, name in enumerate("ABC"):
        server.add_file(f"/media/{name}.jpg", make_photo(tmp_path / f"{name}.jpg", seed=seed))
    serve_blog(server, [["C"], ["B"], ["A"]])
    feed = FEED.format(base=server.url("").rstrip("/"), title="{title}").replace(
        "<description>{title}</description>",
        "<description>&lt;img src='/media/C.jpg'&gt;&lt;img src='/media/B.jpg'&gt;</description>",
    )
    server.add_bytes("/feed", feed.format(title="rebels advance").encode(), "application/rss+xml")
    data = settings(tmp_path / "storage", db_url, polling={"older_pages": 5})
    config = write_config(tmp_path / "archiver.toml", {**data, "liveness": {"enabled": False}})
    assert run_cli(config, "source", "add", server.url("/feed"), "--every", "1h").returncode == 0

    first = run_cli(config, "run", "--once")

    assert first.returncode == 0, first.stderr
    assert server.hits("/live?page=3") == 1
    with Archive.open(config_from_dict(data)) as archive:
        assert embeds_by_page(archive)["A"] == ("live?page=3", False)
