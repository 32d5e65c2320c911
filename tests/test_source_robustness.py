"""Sources and liveness against servers that misbehave for months: absurd Retry-After
values, feeds that never come back, entries without links, shutdown mid-poll."""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import wait
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import select, update
from support import FixtureServer, MediaSet, RequestHandler
from support.archiving import make_config, run_cli, settings, write_config

from archiver.archive import Archive
from archiver.capture import Capturer
from archiver.config import Config, load_config
from archiver.daemon import Daemon
from archiver.errors import FetchError
from archiver.extract import extract_embeds
from archiver.fetch.http import HttpFetcher
from archiver.index.bulk import EntryRecord, entry_digests, record_feed_entries
from archiver.index.models import CaptureJob, Embed, LinkCheck, Page, Source, utcnow
from archiver.index.records import upsert_embed
from archiver.integrity.fixity import verify_archive
from archiver.jsontext import load_json
from archiver.sources import feed as feed_module
from archiver.sources.entries import MAX_ATTACHMENTS, media_embeds
from archiver.sources.feed import MAX_FEED_DEPTH, looks_like_feed, parse_feed
from archiver.sources.poll import CLAIM_HOLD, Poller, PollResult, claim_due_sources
from archiver.sources.registry import add_source, remove_source
from archiver.stopping import StopFlag
from archiver.workers import worker_id

HOURS_6 = timedelta(hours=6)  # polling.max_backoff by default
SLACK = timedelta(minutes=1)


@pytest.fixture
def polling(tmp_path: Path, db_url: str) -> Iterator[tuple[Config, Archive, Poller]]:
    config = make_config(tmp_path / "storage", db_url)  # polling jitter 0
    http = HttpFetcher(config.network, 2)
    with Archive.open(config) as archive:
        yield config, archive, Poller(Capturer(archive), config.polling, http)
    http.close()


def test_retry_after_and_endless_errors_back_off_at_most_max_backoff(
    polling: tuple[Config, Archive, Poller], server: FixtureServer
) -> None:
    _, archive, poller = polling
    server.add_retry_after("/huge.rss", status=503, retry_after="999999999999")
    server.add_retry_after("/year.rss", status=429, retry_after=str(365 * 24 * 3600))
    server.add_status("/dead.rss", 500)
    with archive.session() as session:
        ids = {
            name: add_source(session, server.url(f"/{name}.rss"), every=600).id
            for name in ("huge", "year", "dead")
        }
        session.get_one(Source, ids["dead"]).consecutive_errors = 2000  # ~3 months hourly

    for name, source_id in ids.items():
        assert poller.poll(source_id).result == "error", name

    with archive.read_session() as session:
        for name, source_id in ids.items():
            source = session.get_one(Source, source_id)
            assert source.last_polled_at is not None and source.last_error, name
            assert source.consecutive_errors == (2001 if name == "dead" else 1)
            assert abs(source.next_poll_at - source.last_polled_at - HOURS_6) < SLACK, name


def test_a_poll_cut_short_by_shutdown_is_not_an_error(
    polling: tuple[Config, Archive, Poller], server: FixtureServer
) -> None:
    config, archive, _ = polling
    feed = (
        b"<?xml version='1.0'?><rss version='2.0'><channel>" + b" " * 20_000 + b"</channel></rss>"
    )
    server.add_slow("/slow.rss", feed, delay_per_chunk=0.1, chunk_size=1024)
    with archive.session() as session:
        source_id = add_source(session, server.url("/slow.rss"), every=600).id
    with archive.session() as session:
        assert claim_due_sources(session, utcnow(), 10) == [source_id]  # as the daemon does

    stop = StopFlag()
    http = HttpFetcher(config.network, 2, stop)
    poller = Poller(Capturer(archive), config.polling, http)
    threading.Timer(0.5, stop.set).start()  # SIGTERM while the body trickles in
    result = poller.poll(source_id)
    http.close()

    assert result.result == "interrupted" and result.error is None
    with archive.read_session() as session:
        source = session.get_one(Source, source_id)
        assert source.consecutive_errors == 0 and source.last_error is None
        assert source.last_polled_at is None and source.last_result is None
        assert source.next_poll_at <= utcnow()  # due again for the next start


def test_a_failing_source_is_never_polled_more_often_than_its_interval(
    polling: tuple[Config, Archive, Poller], server: FixtureServer
) -> None:
    """The backoff, capped at max_backoff (6 h), polled a failing weekly source every
    six hours: 28 times as often as when it worked."""
    _, archive, poller = polling
    server.add_status("/weekly.rss", 500)
    with archive.session() as session:
        source_id = add_source(session, server.url("/weekly.rss"), every=7 * 86400).id

    for errors in (1, 2, 3):
        assert poller.poll(source_id).result == "error"
        with archive.read_session() as session:
            source = session.get_one(Source, source_id)
            assert source.consecutive_errors == errors and source.last_polled_at is not None
            assert abs(source.next_poll_at - source.last_polled_at - timedelta(days=7)) < SLACK


def test_a_poll_cut_short_by_a_crash_is_taken_up_again_within_minutes(
    polling: tuple[Config, Archive, Poller],
) -> None:
    """kill -9, the OOM killer or the watchdog in the middle of a poll: taking the
    source had pushed its next poll out by its interval, and nothing undid it, so a
    daily source was not polled again for a day after the restart."""
    _, archive, _ = polling
    with archive.session() as session:
        source_id = add_source(session, "https://example.org/daily.rss", every=86400).id
    with archive.session() as session:
        assert claim_due_sources(session, utcnow(), 10) == [source_id]
    # ... and the process is killed: no poll recorded, no claim released

    with archive.session() as session:
        assert claim_due_sources(session, utcnow(), 10) == []  # held meanwhile
        later = utcnow() + timedelta(minutes=5, seconds=1)
        assert claim_due_sources(session, later, 10) == [source_id]


def _exited_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def _claimed(archive: Archive, url: str, holder: str) -> int:
    """A new source, taken by ``holder`` as a daemon takes it."""
    with archive.session() as session:
        source_id = add_source(session, url, every=600).id
    with archive.session() as session:
        assert claim_due_sources(session, utcnow(), 10, owner=holder) == [source_id]
    return source_id


def test_a_start_takes_up_at_once_the_sources_a_dead_process_of_this_host_held(
    polling: tuple[Config, Archive, Poller],
) -> None:
    """A daemon killed mid-poll (kill -9, the OOM killer, the watchdog) left its
    sources held for the five-minute claim, its own restart included: in a crash loop
    its live pages were polled every five minutes. A live process's claims are its
    own, and another host's cannot be asked (they lapse); a live process that only
    has the dead holder's pid, started after the claim, holds nothing, nor does this
    process's own id at its start (a restarted container's daemon is pid 1 again)."""
    _, archive, _ = polling
    host = socket.gethostname()
    alive = subprocess.Popen(["sleep", "60"])
    try:
        held = {
            name: _claimed(archive, f"https://example.org/{name}", holder)
            for name, holder in {
                "dead": f"{host}:{_exited_pid()}",
                "reused": f"{host}:{alive.pid}",
                "own": worker_id(),
                "alive": f"{host}:{alive.pid}",
                "elsewhere": f"other-host:{_exited_pid()}",
            }.items()
        }
        with archive.session() as session:  # taken before ``alive`` started
            reused = session.get_one(Source, held["reused"])
            reused.claimed_at = utcnow() - timedelta(hours=1)
        daemon = Daemon(archive)
        daemon.prepare()
        daemon.shutdown()
    finally:
        alive.kill()
        alive.wait()

    with archive.session() as session:
        due = set(claim_due_sources(session, utcnow(), 10))
        left = {s.url.rpartition("/")[2]: s for s in session.scalars(select(Source))}
        assert due == {held["dead"], held["reused"], held["own"]}
        assert left["alive"].claimed_by == f"{host}:{alive.pid}"
        assert left["elsewhere"].claimed_by.startswith("other-host:")  # type: ignore[union-attr]
        for name in ("alive", "elsewhere"):
            assert left[name].next_poll_at > utcnow() + CLAIM_HOLD - SLACK, name


def test_a_source_whose_poll_ended_keeps_its_schedule_through_a_start(
    polling: tuple[Config, Archive, Poller], server: FixtureServer
) -> None:
    """A poll that ended, however it ended, holds nothing: the next start does not
    bring the source's next poll forward as if it had been cut short."""
    _, archive, poller = polling
    server.add_page("/page", "<html><body><p>hello</p></body></html>")
    server.add_status("/down", 500)
    polled = [_claimed(archive, server.url(path), poller.owner) for path in ("/page", "/down")]
    for source_id in polled:
        poller.poll(source_id)
    released = _claimed(archive, "https://example.org/released", poller.owner)
    poller.release(released)  # then put off again, as by its poll
    with archive.session() as session:
        session.get_one(Source, released).next_poll_at = utcnow() + timedelta(hours=1)

    daemon = Daemon(archive)
    daemon.prepare()
    daemon.shutdown()

    with archive.read_session() as session:
        for source_id in [*polled, released]:
            source = session.get_one(Source, source_id)
            assert source.claimed_by is None and source.claimed_at is None
            assert source.next_poll_at > utcnow() + timedelta(minutes=9), source.url


def test_a_running_daemon_takes_up_the_sources_a_daemon_that_died_beside_it_held(
    polling: tuple[Config, Archive, Poller], server: FixtureServer
) -> None:
    """Two daemons of one host on one PostgreSQL database: one is killed mid-poll, and
    the other polled its sources only once their claims lapsed."""
    _, archive, _ = polling
    server.add_page("/live", "<html><body><p>Shelling resumed.</p></body></html>")
    daemon = Daemon(archive)
    daemon.prepare()
    source_id = _claimed(archive, server.url("/live"), f"{socket.gethostname()}:{_exited_pid()}")
    try:
        assert daemon._poll_batch() == 0  # looked at start, not again at each claim
        daemon.claims_freed_at = time.monotonic() - 3600  # looked an hour ago
        assert daemon._poll_batch() == 1
        wait(list(daemon.polling))
    finally:
        daemon.shutdown()
    assert server.hits("/live") == 1
    with archive.read_session() as session:
        source = session.get_one(Source, source_id)
        assert source.last_result == "changed" and source.claimed_by is None


def test_a_poll_outlasting_its_claim_keeps_it_and_then_sets_its_next_poll(
    polling: tuple[Config, Archive, Poller], server: FixtureServer
) -> None:
    """The claim is short so that a crash costs minutes; a poll that lasts longer
    renews it, or another daemon on the database would poll the source beside it.
    Once recorded, the source's next poll is its interval away, not a renewal's."""
    _, archive, poller = polling
    hold = timedelta(seconds=0.6)  # renewed each third of it: 0.3 s lapsed on a busy machine
    poller.claims.hold_for = hold
    answer = threading.Event()

    def slow_feed(request: RequestHandler) -> None:
        answer.wait(10)
        request.send_simple(200, FEED, "application/rss+xml")

    server.add_handler("/slow.rss", slow_feed)
    with archive.session() as session:
        source_id = add_source(session, server.url("/slow.rss"), every=600).id
    with archive.session() as session:
        assert claim_due_sources(session, utcnow(), 10, hold=hold) == [source_id]
    polling_now = threading.Thread(target=poller.poll, args=(source_id,))
    polling_now.start()
    taken_meanwhile = []
    for _ in range(8):  # 1.6 s: well over two holds, under the fetch's read time-out
        polling_now.join(0.2)
        with archive.session() as session:  # another daemon looking for due sources
            taken_meanwhile += claim_due_sources(session, utcnow(), 10)
    answer.set()
    polling_now.join(10)

    assert taken_meanwhile == []
    time.sleep(hold.total_seconds())  # a renewal after the poll would land by now
    with archive.read_session() as session:
        source = session.get_one(Source, source_id)
        assert source.last_result != "error" and source.last_polled_at is not None
        assert abs(source.next_poll_at - source.last_polled_at - timedelta(seconds=600)) < SLACK


def test_a_poll_that_crashes_is_put_off_to_its_interval(
    polling: tuple[Config, Archive, Poller], server: FixtureServer
) -> None:
    """An unexpected error in a poll (a bug met on one source) is not retried each
    time its short claim lapses, with a traceback every few minutes."""
    _, archive, poller = polling
    server.add_page("/page", "<html><body><p>hello</p></body></html>")
    with archive.session() as session:
        source_id = add_source(session, server.url("/page"), every=3600).id

    def crash(*_: object, **__: object) -> None:
        raise RuntimeError("a bug")

    poller._handle = crash  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        poller.poll(source_id)

    with archive.read_session() as session:
        wait = session.get_one(Source, source_id).next_poll_at - utcnow()
    assert abs(wait - timedelta(hours=1)) < SLACK


RSS = """<?xml version='1.0'?><rss version='2.0'><channel><title>Blog</title>
<item><title>Shelling, 3 Oct</title><guid isPermaLink="false">post-42</guid>
<description>&lt;p&gt;Photo:&lt;/p&gt;&lt;img src="/media/{photo}"&gt;</description></item>
<item><title>Linked</title><link>/blog/2013/10/linked</link><guid isPermaLink="false">post-43</guid>
<description>&lt;video src="/media/{clip}"&gt;&lt;/video&gt;</description></item>
<item><guid>{permalink}</guid><description>no embeds</description></item>
</channel></rss>"""
ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="{base}"><title>Wire</title>
<entry><id>urn:uuid:6f1c0d5e-0000-4000-8000-000000000001</id><updated>2013-10-03T09:00:00Z</updated>
<content type="html">&lt;p&gt;Clip:&lt;/p&gt;&lt;video src="{clip}"&gt;&lt;/video&gt;</content></entry>
</feed>"""


def test_feed_entries_without_a_page_archive_their_embeds_on_the_feed(
    polling: tuple[Config, Archive, Poller], server: FixtureServer, media: MediaSet
) -> None:
    _, archive, poller = polling
    photo, clip = media.photo_a.name, media.clip_a.name
    permalink = server.url("/blog/2013/10/permalink")
    rss = RSS.format(photo=photo, clip=clip, permalink=permalink)
    server.add_bytes("/blog/feed.rss", rss.encode(), "application/rss+xml")
    atom = ATOM.format(base=server.url("/wire/"), clip=clip)  # relative to the xml:base
    server.add_bytes("/feeds/wire.atom", atom.encode(), "application/atom+xml")
    with archive.session() as session:
        blog = add_source(session, server.url("/blog/feed.rss"), every=600).id
        wire = add_source(session, server.url("/feeds/wire.atom"), every=600).id

    blog_result, wire_result = poller.poll(blog), poller.poll(wire)
    assert (blog_result.new_entries, blog_result.new_embeds) == (3, 2)
    assert (wire_result.new_entries, wire_result.new_embeds) == (1, 1)

    with archive.read_session() as session:
        pages = set(session.scalars(select(Page.url)))
        page_jobs = set(
            session.scalars(select(CaptureJob.url).where(CaptureJob.embed_id.is_(None)))
        )
        embeds = {
            e.url: (e.page.url if e.page else None, e.update_label)
            for e in session.scalars(select(Embed))
        }
        embed_jobs = set(
            session.scalars(select(CaptureJob.url).where(CaptureJob.embed_id.is_not(None)))
        )
    linked = server.url("/blog/2013/10/linked")
    assert page_jobs == {linked, permalink}  # no bogus /blog/post-42, no urn:uuid:
    assert pages == {
        server.url("/blog/feed.rss"),
        server.url("/feeds/wire.atom"),
        linked,
        permalink,
    }
    assert embeds == {
        server.url(f"/media/{photo}"): (server.url("/blog/feed.rss"), "Shelling, 3 Oct"),
        server.url(f"/media/{clip}"): (linked, None),
        server.url(f"/wire/{clip}"): (
            server.url("/feeds/wire.atom"),
            "urn:uuid:6f1c0d5e-0000-4000-8000-000000000001",
        ),
    }
    assert embed_jobs == set(embeds)

    server.add_bytes(
        "/blog/feed.rss",
        rss.replace("Blog</title>", "Blog!</title>").encode(),
        "application/rss+xml",
    )
    again = poller.poll(blog)  # a new feed body, the same entries: nothing new
    assert again.result == "unchanged" and again.new_embeds == 0


def test_one_unschedulable_liveness_result_loses_no_other(
    tmp_path: Path, db_url: str, server: FixtureServer, media: MediaSet
) -> None:
    with FixtureServer(host="127.0.0.2") as limited:  # its own host: its pause holds no other
        limited.add_file("/clip.mp4", media.clip_a)
        server.add_file("/media/photo_a.jpg", media.photo_a)
        server.add_file("/media/photo_b.jpg", media.photo_b)
        server.add_page(
            "/live",
            "<article><p>Three:</p><img src='/media/photo_a.jpg'><img src='/media/photo_b.jpg'>"
            f"<video src='{limited.url('/clip.mp4')}'></video></article>",
        )
        config = write_config(tmp_path / "a.toml", settings(tmp_path / "storage", db_url))
        assert run_cli(config, "capture", server.url("/live")).returncode == 0
        limited.add_retry_after("/clip.mp4", status=503, retry_after="999999999999")

        checked = run_cli(config, "check", "--json")

    assert checked.returncode == 0, checked.stderr
    assert "Traceback" not in checked.stderr
    statuses = {
        row["embed_url"].rsplit("/", 1)[1]: row["status"] for row in json.loads(checked.stdout)
    }
    assert statuses == {"photo_a.jpg": "live", "photo_b.jpg": "live", "clip.mp4": "error"}
    with Archive.open(load_config(config)) as archive, archive.read_session() as session:
        check = session.scalars(select(LinkCheck).where(LinkCheck.url.endswith("/clip.mp4"))).one()
        assert check.checked_at is not None
        day = timedelta(seconds=archive.config.liveness.live_every)
        assert check.next_check_at - check.checked_at <= day * 1.1 + SLACK  # not 31,000 years


FEED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Live</title>
<item><title>UPDATE 1800 GMT</title><guid isPermaLink="false">urn:uuid:1</guid>
<description>Smoke over the port.</description></item></channel></rss>"""


def test_a_feed_entry_spelling_a_kept_pages_address_otherwise_is_that_page(
    polling: tuple[Config, Archive, Poller], server: FixtureServer
) -> None:
    """A feed wrote ``/%D8%AD…`` for a page captured as ``/حلب`` (and ``/%d8%ad…`` for
    it in another entry): each spelling made a page row, and the page was captured
    under each."""
    _, archive, poller = polling
    server.add_page("/" + quote("حلب"), "<article><p>Smoke over the port.</p></article>")
    assert Capturer(archive).capture_url(server.url("/حلب")).ok
    items = "".join(
        f"<item><title>Aleppo {n}</title><link>{server.url(path)}</link></item>"
        for n, path in enumerate(("/" + quote("حلب"), "/" + quote("حلب").lower()))
    )
    feed = f"<?xml version='1.0'?><rss version='2.0'><channel>{items}</channel></rss>"
    server.add_bytes("/feed", feed.encode(), "application/rss+xml")
    with archive.session() as session:
        source_id = add_source(session, server.url("/feed"), every=600, kind="feed").id
    assert poller.poll(source_id).result == "changed"
    with archive.read_session() as session:
        pages = set(session.scalars(select(Page.url)))
        page_jobs = set(
            session.scalars(select(CaptureJob.url).where(CaptureJob.embed_id.is_(None)))
        )
    assert pages == {server.url("/حلب"), server.url("/feed")}
    assert page_jobs == {server.url("/حلب")}


def test_a_feed_that_answers_with_a_page_once_is_not_read_as_that_page(
    polling: tuple[Config, Archive, Poller], server: FixtureServer
) -> None:
    """A maintenance page served with 200 was detected as the source's kind: read as a
    page, the feed's embeds (of entries without a link) were recorded as removed from
    it, for good."""
    _, archive, poller = polling
    feed = FEED.replace(b"Smoke over the port.", b"&lt;img src='/media/smoke.jpg'&gt;")
    server.add_bytes("/live", feed, "application/rss+xml")
    with archive.session() as session:
        source_id = add_source(session, server.url("/live"), every=600, kind="auto").id
    assert poller.poll(source_id).result == "changed"
    server.add_page("/live", "<html><body><h1>Down for maintenance</h1></body></html>")
    down = poller.poll(source_id)
    assert down.result == "error" and "the feed answered with a page" in str(down.error)
    server.add_bytes("/live", feed, "application/rss+xml")
    poller.poll(source_id)
    with archive.read_session() as session:
        embeds = session.execute(select(Embed.url, Embed.removed_at)).all()
        kind = session.scalar(select(Source.detected_kind))
    assert [(url.rsplit("/", 1)[1], removed) for url, removed in embeds] == [("smoke.jpg", None)]
    assert kind == "feed"


def test_a_kind_changed_while_its_source_is_polled_is_read_so_at_the_next_poll(
    polling: tuple[Config, Archive, Poller], server: FixtureServer
) -> None:
    """``source add URL --kind feed`` while the page was being fetched: the poll, still
    reading a page, then recorded its checksum and put the next poll an interval away,
    and the feed was read as the page until it changed."""
    _, archive, poller = polling
    changed: list[bool] = []

    def answer(request: RequestHandler) -> None:
        if not changed:  # the first poll: the kind changes while it runs
            with archive.session() as session:
                add_source(session, server.url("/live"), every=None, kind="feed")
            changed.append(True)
        request.send_simple(200, b"<br />\n" + FEED, "text/html")  # a PHP notice first

    server.add_handler("/live", answer)
    with archive.session() as session:
        source_id = add_source(session, server.url("/live"), every=600).id
    assert poller.poll(source_id).kind == "page"
    with archive.read_session() as session:
        source = session.get_one(Source, source_id)
        assert source.content_sha256 is None and source.next_poll_at <= utcnow()
    assert poller.poll(source_id).kind == "feed"


@pytest.mark.parametrize("kind", ["page", "feed"])
def test_a_source_removed_while_it_is_polled_leaves_its_finds_archived(
    polling: tuple[Config, Archive, Poller], server: FixtureServer, kind: str
) -> None:
    """`archiver source remove` while a slow page is being fetched: the poll still
    stores the page version (no longer linked to the removed source) instead of
    failing on the missing source, so no stored file is left without its index row.
    A feed's failed on its foreign key, with a traceback."""
    _, archive, poller = polling
    answered = threading.Event()

    def slow_page(request: RequestHandler) -> None:
        answered.wait(10)
        if kind == "feed":
            request.send_simple(200, FEED, "application/rss+xml")
            return
        body = b"<html><head><title>Live</title></head><body><article><p>UPDATE 1800 GMT</p>"
        request.send_simple(200, body + b"</article></body></html>", "text/html")

    server.add_handler("/live", slow_page)
    with archive.session() as session:
        source_id = add_source(session, server.url("/live"), every=600, kind=kind).id
    outcome: list[object] = []
    polling_now = threading.Thread(target=lambda: outcome.append(poller.poll(source_id)))
    polling_now.start()
    while not server.hits("/live"):
        polling_now.join(0.05)
    with archive.session() as session:
        remove_source(session, str(source_id))
    answered.set()
    polling_now.join(10)
    assert outcome and getattr(outcome[0], "result", None) != "error"
    with archive.read_session() as session:
        page = session.scalars(select(Page).where(Page.url == server.url("/live"))).one()
        assert page.source_id is None and (kind == "feed" or page.title == "Live")
    assert verify_archive(archive, record_event=False).ok


def test_an_entry_spelling_its_link_otherwise_is_no_change(
    polling: tuple[Config, Archive, Poller],
) -> None:
    """A page kept as ``/حلب``, the feed writing ``/%D8%AD…``: its digest was looked up
    under the feed's spelling alone, so the unchanged entry was new at every change of
    another, and its page was captured again."""
    _, archive, _ = polling
    with archive.session() as session:
        source_id = add_source(session, "https://example.org/feed.rss", every=600).id
        entry = EntryRecord(link="https://example.org/حلب", title=None, digest="d", embeds=[])
        record_feed_entries(session, source_id, [entry], utcnow())
    escaped = "https://example.org/%D8%AD%D9%84%D8%A8"
    with archive.read_session() as session:
        assert entry_digests(session, source_id, [escaped]) == {escaped: "d"}


def test_a_feed_batch_keeps_a_pages_later_fetch_and_its_title(
    polling: tuple[Config, Archive, Poller],
) -> None:
    """A poll stamps its batch with the time it began; a capture of one of the pages
    may have committed a later fetch meanwhile, and an entry without a title must
    not erase the page's. An embed the page had is seen again."""
    _, archive, _ = polling
    began = utcnow()
    with archive.session() as session:
        source_id = add_source(session, "https://example.org/feed.rss", every=600).id
        session.add(
            Page(
                url="https://example.org/live",
                title="Syria Daily, Sept 28",
                first_fetched_at=began,
                last_fetched_at=began + timedelta(minutes=5),
            )
        )
    (photo,) = extract_embeds(
        b"<article><p>Smoke:</p><img src='/smoke.jpg' width=800 height=600></article>",
        "https://example.org/live",
    ).embeds
    with archive.session() as session:
        page_id = session.scalars(select(Page.id)).one()
        upsert_embed(session, session.get_one(Page, page_id), photo, began - timedelta(hours=1))
    entry = EntryRecord(link="https://example.org/live", title=None, digest="d", embeds=[photo])
    with archive.session() as session:
        assert record_feed_entries(session, source_id, [entry], began) == 0  # none new
    with archive.read_session() as session:
        page = session.scalars(select(Page)).one()
        assert page.title == "Syria Daily, Sept 28"
        assert page.last_fetched_at == began + timedelta(minutes=5)
        assert page.source_id == source_id
        assert entry_digests(session, source_id, [page.url]) == {page.url: "d"}
        assert session.scalars(select(Embed.last_seen_at)).one() == began  # seen again


# --- hostile feeds --------------------------------------------------------------------------

FEED_URL = "https://feeds.example/live.rss"


def rss(items: str, prolog: str = "") -> str:
    return (
        f"<?xml version='1.0' encoding='utf-8'?>\n{prolog}<rss version='2.0'><channel>"
        f"<title>Live</title>{items}</channel></rss>"
    )


def test_a_feed_body_naming_a_local_file_is_not_read_from_disk(
    polling: tuple[Config, Archive, Poller], server: FixtureServer, tmp_path: Path
) -> None:
    """feedparser opens bytes that name an existing file (and would read "/dev/zero"
    until memory runs out): a body of nothing but a path is a malformed feed."""
    _, archive, poller = polling
    local = tmp_path / "local.rss"
    item = "<item><title>Local secret</title><link>https://local.example/secret</link></item>"
    local.write_text(rss(item))
    server.add_bytes("/feed.rss", str(local).encode(), "application/rss+xml")
    with archive.session() as session:
        source_id = add_source(session, server.url("/feed.rss"), every=600).id

    result = poller.poll(source_id)

    assert result.result == "error" and result.error is not None
    assert result.error.startswith("malformed feed")
    with archive.read_session() as session:
        assert not session.scalars(select(Page).where(Page.url.contains("local.example"))).all()


def entity_doctypes(secret_file: Path, secret_url: str) -> dict[str, str]:
    laughs = '<!ENTITY l0 "lol">\n' + "".join(
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">\n' for i in range(1, 10)
    )
    return {
        "file": f'<!DOCTYPE rss [<!ENTITY e SYSTEM "file://{secret_file}">]>',
        "file, one per line": f'<!DOCTYPE rss [\n<!ENTITY e SYSTEM "file://{secret_file}">\n]>',
        "http": f'<!DOCTYPE rss [\n<!ENTITY e SYSTEM "{secret_url}">\n]>',
        "parameter": f'<!DOCTYPE rss [\n<!ENTITY % p SYSTEM "{secret_url}">\n%p;\n]>',
        "external DTD": f'<!DOCTYPE rss SYSTEM "{secret_url}">',
        # a "<x" in a comment ended feedparser's own DOCTYPE removal early
        "comment": f'<!DOCTYPE rss [\n<!-- <x -->\n<!ENTITY e SYSTEM "file://{secret_file}">\n]>',
        "billion laughs": f"<!DOCTYPE rss [\n{laughs}<!ENTITY e '&l9;'>\n]>",
        "billion laughs, comment": f"<!DOCTYPE rss [\n<!-- <x -->\n{laughs}]>",
        # plain-text entities pass feedparser's filter, and its fallback parser expanded
        # them without a limit: 100 KB of feed became 600 MB of text
        "quadratic": f'<!DOCTYPE rss [\n<!ENTITY e "{"A" * 10_000}">\n]>',
        "quadratic, broken": f'<!DOCTYPE rss [\n<!ENTITY e "{"A" * 10_000}">\n]><junk',
    }


@pytest.mark.parametrize(
    "variant", list(entity_doctypes(Path("/x"), "http://x/")), ids=lambda variant: variant
)
def test_feed_entities_are_neither_fetched_nor_expanded(
    variant: str, server: FixtureServer, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-FROM-DISK")
    server.add_bytes("/secret", b"SECRET-FROM-THE-NETWORK", "text/plain")
    doctype = entity_doctypes(secret, server.url("/secret"))[variant]
    item = (
        "<item><title>&e;</title><link>https://ex.example/a</link>"
        "<description>&lt;p&gt;Clip:&lt;/p&gt;" + "&e;" * 200 + "</description></item>"
    )
    body = rss(item, prolog=doctype + "\n").encode()

    (entry,) = parse_feed(body, FEED_URL)

    assert server.hits("/secret") == 0
    found = f"{entry.title} {entry.html}"
    assert "SECRET" not in found and "lol" not in found
    assert len(entry.html) < 5_000  # "&e;" 200 times, not 200 copies of 10 KB
    assert entry.link == "https://ex.example/a"


def _utf16(text: str) -> bytes:
    return text.replace("utf-8", "utf-16").encode("utf-16")


def _utf16_without_bom(text: str) -> bytes:
    return text.replace("utf-8", "utf-16").encode("utf-16-le")


def _licence_first(text: str) -> bytes:
    return text.replace("<rss", "<!-- " + "licence text " * 400 + "-->\n<rss", 1).encode()


@pytest.mark.parametrize(
    ("content_type", "encode"),
    [("application/xml", _utf16), ("text/xml", _utf16_without_bom), ("text/xml", _licence_first)],
    ids=["UTF-16", "UTF-16 without a BOM", "a licence comment of 5 KB first"],
)
def test_feeds_are_read_as_feeds_whatever_their_encoding_or_prolog(
    polling: tuple[Config, Archive, Poller],
    server: FixtureServer,
    content_type: str,
    encode: Callable[[str], bytes],
) -> None:
    """They were taken for pages (their root element was looked for in the first 2 KB of
    bytes), so their entries were never read."""
    _, archive, poller = polling
    link = server.url("/2013/09/28/aleppo")
    item = (
        f"<item><title>Aleppo</title><link>{link}</link>"
        "<description>&lt;img src='/media/smoke.jpg'&gt;</description></item>"
    )
    server.add_bytes("/feed", encode(rss(item)), content_type)

    result, embeds = _poll_feed_url(archive, poller, server)

    assert (result.kind, result.result, result.new_entries) == ("feed", "changed", 1)
    assert embeds == [server.url("/media/smoke.jpg")]


def test_a_stray_byte_of_another_encoding_garbles_only_itself() -> None:
    """One Windows-1252 byte in a UTF-8 feed made feedparser read the whole feed as
    Windows-1252: every Arabic title turned into mojibake."""
    items = (
        "<item><title>حلب: اشتباكات عنيفة</title><link>https://ex.example/1</link></item>"
        "<item><title>Caf\x00</title><link>https://ex.example/2</link></item>"
    )
    body = rss(items).encode().replace(b"Caf\x00", b"Caf\xe9 \xab25\xbb")

    titles = [entry.title for entry in parse_feed(body, FEED_URL)]

    assert titles == ["حلب: اشتباكات عنيفة", "Café «25»"]


def test_a_feed_without_byte_order_mark_or_declaration_in_utf_16_is_read() -> None:
    body = "<rss version='2.0'><channel><item><title>Ḥimṣ</title><link>https://ex.example/1</link></item></channel></rss>"
    for encoding in ("utf-16-le", "utf-16-be"):
        (entry,) = parse_feed(body.encode(encoding), FEED_URL)
        assert entry.title == "Ḥimṣ"


def test_an_html_page_served_as_a_feed_is_archived_as_a_page(
    polling: tuple[Config, Archive, Poller], server: FixtureServer
) -> None:
    """Sites answer a feed URL with an HTML page under the feed's Content-Type; it was
    read as a feed with no entries and archived nothing."""
    _, archive, poller = polling
    page = (
        "<!DOCTYPE html><html><head><title>Live</title></head><body><article>"
        "<p>Smoke over the port:</p><img src='/media/smoke.jpg'></article></body></html>"
    )
    server.add_bytes("/feed", page.encode(), "application/rss+xml")

    result, embeds = _poll_feed_url(archive, poller, server)

    assert (result.kind, result.result, result.new_embeds) == ("page", "changed", 1)
    assert embeds == [server.url("/media/smoke.jpg")]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<!DOCTYPE html><html><body><p>Moved.</p></body></html>", "an HTML page"),
        (b"<html><body><p>Not found</p></body></html>", "an HTML page"),
        (b'{"error": "not found", "status": 404}', "JSON without a JSON Feed version"),
        (b"<error><code>404</code></error>", ""),
        (b"", ""),
    ],
    ids=["HTML", "XHTML without doctype", "JSON", "XML", "empty"],
)
def test_what_is_not_a_feed_is_one_line_saying_so(body: bytes, reason: str) -> None:
    """A source forced to be a feed, answering something else, said nothing (no
    entries) or "malformed feed: <unknown>:2:104: mismatched tag"."""
    with pytest.raises(FetchError) as caught:
        parse_feed(body, FEED_URL)
    message = str(caught.value)
    assert message.startswith("not an RSS, Atom, RDF or JSON feed") and reason in message
    assert "\n" not in message and not caught.value.retryable


@pytest.mark.parametrize(
    "body",
    [
        b'{"version": "https://jsonfeed.org/version/1.1", "items": '
        + b"[" * 200_000
        + b"]" * 200_000
        + b"}",
        b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": ',
    ],
    ids=["200,000 levels deep", "cut short"],
)
def test_a_broken_json_feed_is_one_line_saying_so(body: bytes) -> None:
    with pytest.raises(FetchError) as caught:
        parse_feed(body, FEED_URL)
    assert str(caught.value).startswith("malformed feed: ") and "\n" not in str(caught.value)


def test_a_page_with_credentials_and_an_overlong_url_keeps_its_evidence_and_not_them(
    polling: tuple[Config, Archive, Poller], server: FixtureServer
) -> None:
    """One embed URL of 3 KB failed every embed of the page on PostgreSQL (its index
    rows take 2,704 bytes), reported as the database being unavailable; credentials the
    page wrote into a URL were kept in the index and the capture queue."""
    _, archive, poller = polling
    digits = "".join(hashlib.sha256(bytes([i])).hexdigest() for i in range(47))  # no repeats
    long = f"https://cdn.example/{digits}.mp4"  # PostgreSQL cannot compress it below the limit
    page = (
        "<html><body><article><p>Footage from the port:</p>"
        f"<video src='{long}'></video><img src='https://editor:hunter2@cdn.example/port.jpg'>"
        f"<a href='{server.url('/media/clip.mp4')}'>the clip</a></article></body></html>"
    )
    server.add_page("/live", page)
    with archive.session() as session:
        source_id = add_source(session, server.url("/live"), every=600).id

    result = poller.poll(source_id)

    assert (result.result, result.error, result.new_embeds) == ("changed", None, 2)
    with archive.read_session() as session:
        embeds = session.execute(select(Embed.url, Embed.original_url)).all()
        jobs = session.scalars(select(CaptureJob.url)).all()
    assert sorted(url for url, _ in embeds) == [
        server.url("/media/clip.mp4"),
        "https://cdn.example/port.jpg",
    ]
    assert "hunter2" not in repr(embeds) + repr(jobs)


def test_a_feed_entry_title_of_megabytes_is_kept_to_a_bounded_length() -> None:
    """It became the entry page's title and, for an entry without a link, the update label
    of each of its embeds (5 MB each)."""
    huge = "Aleppo " * 300_000
    items = (
        f"<item><title>{huge}</title><link>https://ex.example/1</link></item>"
        f"<item><title>{huge}</title><guid isPermaLink='false'>x</guid>"
        "<description>&lt;img src='/a.jpg'&gt;</description></item>"
    )
    linked, unlinked = parse_feed(rss(items).encode(), FEED_URL)
    assert linked.title is not None and len(linked.title) <= 1000
    assert unlinked.label is not None and len(unlinked.label) <= 200


YOUTUBE_CHANNEL_FEED = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" xmlns:media="http://search.yahoo.com/mrss/"
 xmlns="http://www.w3.org/2005/Atom"><title>Aleppo Media Center</title>
<entry><id>yt:video:dQw4w9WgXcQ</id><yt:videoId>dQw4w9WgXcQ</yt:videoId>
<title>Shelling of Bustan al-Qasr</title>
<link rel="alternate" href="https://www.youtube.com/watch?v=dQw4w9WgXcQ"/>
<published>2013-09-28T18:00:00+00:00</published>
<media:group><media:title>Shelling of Bustan al-Qasr</media:title>
<media:content url="https://www.youtube.com/v/dQw4w9WgXcQ?version=3" type="application/x-shockwave-flash" width="640" height="390"/>
<media:thumbnail url="https://i1.ytimg.com/vi/dQw4w9WgXcQ/hqdefault.jpg" width="480" height="360"/>
<media:description>Filmed this morning from the roof of the mosque.</media:description>
</media:group></entry></feed>"""


def test_a_video_feed_entry_is_one_platform_capture_with_the_entrys_context(
    polling: tuple[Config, Archive, Poller], server: FixtureServer
) -> None:
    """A channel feed's entry links to the video and names it again in media:content:
    it was a page job without the entry's context, and would have been downloaded twice."""
    _, archive, poller = polling
    server.add_bytes("/feed", YOUTUBE_CHANNEL_FEED.encode(), "application/atom+xml")

    result, embeds = _poll_feed_url(archive, poller, server)

    watch = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    assert (result.new_entries, embeds) == (1, [watch])
    with archive.read_session() as session:
        (job,) = session.scalars(select(CaptureJob))
        embed = session.get_one(Embed, job.embed_id)
        assert (job.url, embed.kind, embed.page.url) == (watch, "platform", watch)
        assert embed.page.title == "Shelling of Bustan al-Qasr"
        assert embed.context == "Filmed this morning from the roof of the mosque."


def test_an_entry_dated_before_year_one_is_read_without_its_date() -> None:
    """Atom's ``0001-01-01T00:00:00+01:00`` is in year 0 in UTC: the whole poll failed
    with "year 0 is out of range"."""
    body = (
        "<feed xmlns='http://www.w3.org/2005/Atom'><entry><title>Homs</title>"
        "<link href='https://ex.example/1'/><updated>0001-01-01T00:00:00+01:00</updated>"
        "</entry></feed>"
    )
    (entry,) = parse_feed(body.encode(), FEED_URL)
    assert (entry.link, entry.published) == ("https://ex.example/1", None)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (
            "application/rss+xml",
            "<rss version='2.0'><channel><item><title>Homs &#x110000;&#99999999999999999999;"
            "</title><link>/2013/09/28/homs</link><description>Smoke &#xD800;over the port:"
            "&lt;img src='/media/smoke.jpg'&gt;</description></item></channel></rss>",
        ),
        (
            "application/feed+json",
            '{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "\\ud800",'
            ' "url": "/2013/09/28/homs", "title": "Homs \\udc00", "content_html":'
            " \"Smoke \\ud800over the port:<img src='/media/smoke.jpg'>\"}]}",
        ),
    ],
    ids=["RSS character references", "JSON Feed escapes"],
)
def test_characters_that_cannot_be_are_stored_as_replacement_characters(
    polling: tuple[Config, Archive, Poller], server: FixtureServer, content_type: str, body: str
) -> None:
    """``&#x110000;`` and a 20-digit reference failed the whole feed (ValueError,
    OverflowError); ``&#xD800;`` or JSON's ``\\ud800`` made a lone surrogate, which no
    database or sidecar can store."""
    _, archive, poller = polling
    server.add_bytes("/feed", body.encode(), content_type)

    result, embeds = _poll_feed_url(archive, poller, server)

    assert (result.result, result.new_entries, result.error) == ("changed", 1, None)
    assert embeds == [server.url("/media/smoke.jpg")]
    with archive.read_session() as session:
        title = session.scalars(select(Page.title).where(Page.url.endswith("/homs"))).one()
    assert title is not None and title.startswith("Homs \ufffd")


def test_outside_json_holds_only_values_storage_takes() -> None:
    """Python's parser accepts NaN, Infinity and 1e400 (infinite as a float), which
    JSON, PostgreSQL's jsonb and a sidecar's strict readers do not, and lone halves of
    surrogate pairs, which no UTF-8 storage holds."""
    text = '{"a": NaN, "b": [-Infinity, 1e400, 1.5], "\\udc00": "x\\ud83d\\ude00\\ud800"}'
    assert load_json(text) == {"a": None, "b": [None, None, 1.5], "\ufffd": "x\U0001f600\ufffd"}


def test_feedparser_failing_on_a_feed_is_one_line_saying_so() -> None:
    """A namespace URI with a no-break space made feedparser raise "too many values to
    unpack": a traceback instead of a reason."""
    body = (
        "<rss version='2.0' xmlns:content='http://pur\u00a0l.org/'><channel><item>"
        "<link>https://ex.example/1</link><content:encoded>x</content:encoded></item>"
        "</channel></rss>"
    )
    with pytest.raises(FetchError, match=r"^malformed feed: "):
        parse_feed(body.encode(), FEED_URL)


def test_an_entry_attaching_thousands_of_files_keeps_a_bounded_number() -> None:
    enclosures = "".join(
        f"<enclosure url='https://cdn.ex.example/{i}.mp4' type='video/mp4' length='1'/>"
        for i in range(10_000)
    )
    item = f"<item><title>Flood</title><link>https://ex.example/1</link>{enclosures}</item>"

    (entry,) = parse_feed(rss(item).encode(), FEED_URL)

    assert len(entry.attachments) == MAX_ATTACHMENTS == 64
    assert len(media_embeds(entry)) == 64


def test_capturing_a_page_with_a_control_character_in_an_embed_url_archives_it(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """httpx refused the URL the page gave (a browser sends it percent-encoded) and
    ``archiver capture`` ended in a traceback instead of archiving the clip."""
    server.add_file("/clips/port%01side.mp4", media.clip_a)
    server.add_page("/live", "<article><p>Clip:</p><video src='/clips/port\x01side.mp4'></video>")
    config = write_config(tmp_path / "a.toml", settings(tmp_path / "storage"))

    captured = run_cli(config, "capture", server.url("/live"), "--json")

    assert captured.returncode == 0, captured.stderr
    assert "Traceback" not in captured.stderr
    (item,) = json.loads(captured.stdout)["items"]
    assert (item["url"], item["status"]) == (server.url("/clips/port%01side.mp4"), "stored")


def _poll_feed_url(
    archive: Archive, poller: Poller, server: FixtureServer
) -> tuple[PollResult, list[str]]:
    """Add ``/feed`` as a source, poll it once: the result, and every embed URL found."""
    with archive.session() as session:
        source_id = add_source(session, server.url("/feed"), every=600).id
    result = poller.poll(source_id)
    with archive.read_session() as session:
        return result, list(session.scalars(select(Embed.url)))


def test_a_feed_declaring_no_encoding_is_read_in_the_charset_its_server_names(
    polling: tuple[Config, Archive, Poller], server: FixtureServer
) -> None:
    """A Windows-1251 feed named so only by ``Content-Type`` had its Cyrillic contexts
    stored as mojibake, where no search finds them; an encoding the feed declares
    itself still wins over the server's (often a default for every file)."""
    _, archive, poller = polling
    item = (
        f"<item><title>Обстрел Харькова</title><link>{server.url('/a')}</link>"
        "<description>&lt;p&gt;Бойцы у цитадели:&lt;/p&gt;&lt;img src='/p.jpg'&gt;"
        "</description></item>"
    )
    body = rss(item).replace(" encoding='utf-8'", "").encode("windows-1251")
    server.add_bytes("/feed", body, "application/rss+xml; charset=windows-1251")

    _poll_feed_url(archive, poller, server)

    with archive.read_session() as session:
        assert session.scalar(select(Embed.context)) == "Бойцы у цитадели:"
    declared = rss("<item><title>Ḥimṣ</title><link>https://ex.example/1</link></item>")
    (entry,) = parse_feed(declared.encode(), FEED_URL, "iso-8859-1")
    assert entry.title == "Ḥimṣ"


def test_a_feed_declaring_utf_8_that_is_not_is_read_in_the_charset_its_server_names() -> None:
    """A Windows-1256 feed whose template declares UTF-8, served as ``windows-1256``,
    was read as Windows-1252: its Arabic titles were mojibake no search finds. A UTF-8
    feed with one stray byte, served with a default charset, stays UTF-8."""
    arabic = "قصف سوق دوما"
    item = f"<item><title>{arabic}</title><link>https://ex.example/1</link></item>"
    (entry,) = parse_feed(rss(item).encode("cp1256"), FEED_URL, "windows-1256")
    assert entry.title == arabic
    stray = rss(item + "<item><title>Caf\x00</title><link>https://ex.example/2</link></item>")
    body = stray.encode().replace(b"Caf\x00", b"Caf\xe9")
    assert [e.title for e in parse_feed(body, FEED_URL, "windows-1256")] == [arabic, "Café"]


def test_a_permalink_guid_beside_an_empty_link_is_the_entrys_page() -> None:
    """An empty ``<link>`` (before the guid or after it) took the place of the permalink
    guid: the entry had no page, and the page was never captured."""
    items = (
        "<item><title>a</title><link></link><guid>https://ex.example/a</guid></item>"
        "<item><title>b</title><guid>https://ex.example/b</guid><link/></item>"
        "<item><title>c</title><link> </link><guid isPermaLink='false'>https://ex.example/c"
        "</guid><description>Smoke.</description></item>"
        "<item><title>d</title><link></link><guid>post-4</guid><description>Smoke.</description>"
        "</item>"
    )
    links = [entry.link for entry in parse_feed(rss(items).encode(), FEED_URL)]
    assert links == ["https://ex.example/a", "https://ex.example/b", None, None]


def test_a_feed_nested_too_deep_or_too_large_is_refused_before_it_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """feedparser reads ill-formed XML with memory growing as the square of the depth:
    an 800 KB feed of 34,000 elements left open took over 20 GB, and the service was
    killed at every poll. Such a feed is now one line, at once; HTML in a CDATA section
    and void elements are no nesting, and a feed of ordinary depth is read."""
    open_tables = "<table>" * (MAX_FEED_DEPTH + 1)
    deep = rss(f"<item><title>x</title><link>https://ex.example/1</link>{open_tables}</item>")
    with pytest.raises(FetchError) as refused:
        parse_feed(deep.encode(), FEED_URL)
    assert str(refused.value) == "malformed feed: elements nested more than 1,024 deep"
    html = "<![CDATA[" + "<p>unclosed" * 5000 + "]]>" + "<br><img src='/a.jpg'>" * 2000
    fine = rss(f"<item><title>Ḥimṣ</title><link>https://ex.example/1</link>{html}</item>")
    (entry,) = parse_feed(fine.encode(), FEED_URL)
    assert entry.title == "Ḥimṣ"
    # an attribute's ">" ends no tag; an RSS <link> holds its text, its end closes it
    labelled = "".join(
        f'<item><category domain="News > World"/><link>https://ex.example/{n}</link></item>'
        for n in range(1100)
    )
    assert len(parse_feed(rss(labelled).encode(), FEED_URL)) == 1100
    links = rss("<item><title>x</title>" + "<x><link>https://ex.example/1</link>" * 1100)
    with pytest.raises(FetchError, match="nested more than 1,024 deep"):
        parse_feed(links.encode(), FEED_URL)
    monkeypatch.setattr(feed_module, "MAX_ELEMENTS", 100)
    many = rss("".join(f"<item><title>{n}</title></item>" for n in range(60)))
    with pytest.raises(FetchError) as refused:
        parse_feed(many.encode(), FEED_URL)
    assert str(refused.value) == "malformed feed: more than 100 elements"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "body",
    [
        "<a" * 200_000,  # no ">" after any of them
        "<a " + '"<>" ' * 100_000 + '"',  # quoted ">"s, the last quote left open
        "<a<a<a" * 100_000 + ' "' + "x" * 5000 + ">",  # a value too long to be one
        "<![CDATA[" * 100_000,  # sections never closed
    ],
)
def test_scanning_a_feed_for_its_depth_takes_one_pass_whatever_it_holds(body: str) -> None:
    """The scan's pattern backtracked: 4 kB of "<a" took 106 s, 100 kB would never end,
    a poll thread pinned by one hostile source."""
    with pytest.raises(FetchError):  # what feedparser makes of it, once scanned
        parse_feed(f"<rss version='2.0'><channel>{body}".encode(), FEED_URL)


@pytest.mark.parametrize("label", ["base64", "rot13", "undefined", "utf-32", "cp500"])
def test_a_feed_naming_a_charset_no_reader_reads_is_read_as_if_it_named_none(label: str) -> None:
    """``encoding="base64"`` made decoding raise: the poll crashed with a traceback and
    the source showed no error; ``cp500`` (EBCDIC) read the XML as nonsense."""
    item = "<item><title>Ḥimṣ</title><link>https://ex.example/1</link></item>"
    for declared, served in ((label, None), ("utf-8", label)):
        body = rss(item).replace("encoding='utf-8'", f"encoding='{declared}'").encode()
        assert looks_like_feed("application/rss+xml", body)
        (entry,) = parse_feed(body, FEED_URL, served)
        assert entry.title == "Ḥimṣ"


def test_a_changed_entry_queues_its_page_again_after_the_page_failed_for_good(
    polling: tuple[Config, Archive, Poller], server: FixtureServer
) -> None:
    """A feed often goes out before its article is up: the page's 404 made its job gone,
    and later changes of the entry, once the page was there, never captured it."""
    _, archive, poller = polling
    link = server.url("/story")
    item = "<item><title>{}</title><link>" + link + "</link><description>{}</description></item>"
    server.add_bytes("/feed", rss(item.format("Shelling", "soon")).encode(), "application/rss+xml")
    with archive.session() as session:
        source_id = add_source(session, server.url("/feed"), every=600).id
    poller.poll(source_id)
    with archive.session() as session:
        job = session.scalars(select(CaptureJob).where(CaptureJob.url == link)).one()
        job.state, job.next_attempt_at, job.attempts = "gone", None, 1  # the 404
        job_id = job.id

    server.add_bytes(
        "/feed", rss(item.format("Shelling", "footage")).encode(), "application/rss+xml"
    )
    assert poller.poll(source_id).new_entries == 1

    with archive.read_session() as session:
        job = session.get_one(CaptureJob, job_id)
        assert (job.state, job.attempts, job.next_attempt_at is not None) == ("pending", 0, True)


def test_two_feeds_linking_one_story_do_not_capture_it_again_on_every_poll(
    polling: tuple[Config, Archive, Poller], server: FixtureServer
) -> None:
    """A page kept one digest of its entry, so a full-text feed and a summary feed of
    the same story overwrote each other's: every poll of either (any change of the
    feed, such as its build date) took the entry for changed and queued the page."""
    _, archive, poller = polling
    link = server.url("/story")
    item = (
        "<item><title>Shelling</title><link>" + link + "</link><description>{}</description></item>"
    )

    def serve(built: str) -> None:
        for path, text in (("/full", "the full text"), ("/summary", "a summary")):
            body = rss(item.format(text), prolog="").replace("<channel>", f"<channel>{built}")
            server.add_bytes(path, body.encode(), "application/rss+xml")

    serve("<lastBuildDate>Sat, 28 Sep 2013 18:00:00 GMT</lastBuildDate>")
    with archive.session() as session:
        sources = [add_source(session, server.url(p), every=600).id for p in ("/full", "/summary")]
    assert [poller.poll(s).new_entries for s in sources] == [1, 1]
    with archive.session() as session:  # the story was captured
        session.execute(update(CaptureJob).values(state="done", next_attempt_at=None))

    serve("<lastBuildDate>Sat, 28 Sep 2013 18:10:00 GMT</lastBuildDate>")  # the entry as was
    assert [poller.poll(s).new_entries for s in sources] == [0, 0]

    with archive.read_session() as session:
        assert session.scalars(select(CaptureJob.state)).all() == ["done"]


def test_a_source_removed_before_its_claimed_poll_began_is_no_crash(
    polling: tuple[Config, Archive, Poller], server: FixtureServer, caplog: pytest.LogCaptureFixture
) -> None:
    """`source remove` between the claim and the poll: the daemon logged "poll crashed"
    with a traceback."""
    _, archive, poller = polling
    with archive.session() as session:
        source_id = add_source(session, server.url("/feed"), every=600).id
    with archive.session() as session:
        remove_source(session, str(source_id))

    with caplog.at_level(logging.INFO, logger="archiver"):
        assert poller.poll(source_id).result == "removed"
    assert [r.getMessage() for r in caplog.records] == ["source.gone"]
    assert server.hits("/feed") == 0
