"""Export: a real archive's selection as a BagIt bag that the bagit library validates."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bagit
import pytest
from PIL import Image
from sqlalchemy import select, text
from support import FixtureServer, MediaSet
from support.archiving import cli_command, make_config, run_cli, settings, write_config
from support.media import make_big_file
from support.tsa import LocalTSA

from archiver import stopping
from archiver.archive import Archive
from archiver.capture import Capturer
from archiver.config import YtdlpConfig
from archiver.index.models import Event, LinkCheck, Page, PageSnapshot, utcnow
from archiver.integrity import events
from archiver.integrity import export as export_module
from archiver.integrity.canonical import entry_hash
from archiver.integrity.eventlog import entry_of, log_path, logged_session, record, verify_chain
from archiver.integrity.export import ExportError, describe, export_bag
from archiver.integrity.fixity import verify_archive
from archiver.integrity.repair import rewrite_sidecars
from archiver.integrity.timestamp import timestamp_head
from archiver.search import SearchQuery
from archiver.stopping import signals_held

BLOG = """<!doctype html><html><head><title>Syria Daily, Sept 28</title></head><body><article>
<h1>Syria Daily, Sept 28</h1>
<p><strong>UPDATE 1800 GMT:</strong> Rebels posted video of their fighters near the Citadel:</p>
<video controls src="/media/clip_a.mp4"></video>
<p>Smoke rises over the old city:</p>
<img src="/media/photo_a.jpg" width="800" height="600">
</article></body></html>
"""
OTHER = """<!doctype html><html><head><title>Idlib, Oct 2</title></head><body><article>
<h1>Idlib, Oct 2</h1><p>A market after the strike:</p>
<img src="/media/photo_b.jpg" width="800" height="600">
</article></body></html>
"""


FAKE_YTDLP = Path(__file__).parent / "fixtures" / "fake_ytdlp.py"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(archive: Archive, server: FixtureServer, media: MediaSet) -> None:
    """Two captured pages (the capture hooks write their log entries)."""
    server.add_page("/syria-daily", BLOG)
    server.add_page("/idlib", OTHER)
    for name in ("clip_a", "photo_a", "photo_b"):
        path = getattr(media, name)
        server.add_file(f"/media/{path.name}", path)
    for page in ("/syria-daily", "/idlib"):
        assert Capturer(archive).capture_url(server.url(page)).ok


def snapshot_of_tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): sha256_of(p) for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture
def archive(tmp_path: Path, db_url: str) -> Any:
    with Archive.open(make_config(tmp_path / "storage", db_url)) as opened:
        yield opened


@pytest.fixture
def sqlite_archive(tmp_path: Path) -> Any:
    with Archive.open(make_config(tmp_path / "storage")) as opened:
        yield opened


def test_an_exported_page_validates_and_carries_its_evidence(
    archive: Archive, server: FixtureServer, media: MediaSet, tmp_path: Path
) -> None:
    build(archive, server, media)
    media_root = archive.layout.media_root
    before = snapshot_of_tree(media_root) | snapshot_of_tree(archive.layout.pages_root)
    out = tmp_path / "export" / "syria-daily"
    query = SearchQuery.parse(page=server.url("/syria-daily"))

    report = export_bag(archive, query, out, organization="Example Human Rights Archive")

    bag = bagit.Bag(str(out))
    assert bag.is_valid()
    bag.validate()  # raises with the reason if not
    clip, photo = sha256_of(media.clip_a), sha256_of(media.photo_a)
    other = sha256_of(media.photo_b)
    payload = set(bag.payload_entries())
    for sha in (clip, photo):
        folder = f"data/media/{sha[:2]}/{sha[2:4]}/{sha}"
        assert f"{folder}/provenance.json" in payload
        (original,) = [p for p in payload if p.startswith(f"{folder}/original.")]
        assert sha256_of(out / original) == sha
    assert not any(other in p for p in payload)  # not seen on this page
    with archive.read_session() as session:
        page_sha = session.scalars(
            select(PageSnapshot.sha256).join(Page).where(Page.url == server.url("/syria-daily"))
        ).all()
    pages = [p for p in payload if p.startswith("data/pages/") and p.endswith("page.html")]
    assert len(pages) == 1 and pages[0].split("/")[-2] in page_sha

    info = bag.info
    assert info["Source-Organization"] == "Example Human Rights Archive"
    assert info["Bag-Software-Agent"].startswith("archiver ")
    assert info["External-Description"].endswith(f"seen on {server.url('/syria-daily')}")
    assert info["Payload-Oxum"] == f"{report.bytes}.{report.files}"
    assert info["Bag-Count"] == "1 of 1"
    assert (report.media, report.pages) == (2, 1)

    lines = (out / "data/log/events.jsonl").read_bytes().splitlines(keepends=True)
    full_log = set(log_path(archive.layout).read_bytes().splitlines(keepends=True))
    entries = [json.loads(line) for line in lines]
    assert all(line in full_log for line in lines)  # byte for byte in the archive's log
    assert {e["media_sha256"] for e in entries if e["type"] == "capture"} == {clip, photo}
    assert [e["type"] for e in entries].count("page") == 1
    head = json.loads((out / "data/log/head.json").read_text())
    assert head["seq"] == report.event_seq - 1  # the head when the bag was made
    assert head["entry"]["sha256"] == head["sha256"]
    described = json.loads((out / "data/export.json").read_text())
    assert {m["sha256"] for m in described["media"]} == {clip, photo}
    assert (out / "data/README.txt").read_text().startswith("This is a BagIt bag")

    after = snapshot_of_tree(media_root) | snapshot_of_tree(archive.layout.pages_root)
    assert after == before  # the archive was only read
    with archive.read_session() as session:
        logged = session.scalars(select(Event).where(Event.seq == report.event_seq)).one()
    assert logged.type == "export"
    assert logged.payload["tagmanifest_sha256"] == sha256_of(out / "tagmanifest-sha256.txt")
    assert logged.payload["media"] == 2
    assert verify_chain(archive).ok


def test_a_tampered_bag_does_not_validate(
    sqlite_archive: Archive, server: FixtureServer, media: MediaSet, tmp_path: Path
) -> None:
    build(sqlite_archive, server, media)
    out = tmp_path / "bag"
    export_bag(sqlite_archive, SearchQuery.parse(sha256=sha256_of(media.clip_a)[:12]), out)
    (original,) = (out / "data" / "media").rglob("original.*")
    data = bytearray(original.read_bytes())
    data[len(data) // 2] ^= 0xFF
    original.write_bytes(bytes(data))
    with pytest.raises(bagit.BagValidationError):
        bagit.Bag(str(out)).validate()


def test_zip_serialization_unzips_to_a_valid_bag(
    sqlite_archive: Archive, server: FixtureServer, media: MediaSet, tmp_path: Path
) -> None:
    build(sqlite_archive, server, media)
    with LocalTSA() as tsa:
        stamped = timestamp_head(sqlite_archive, tsa.url)
    out = tmp_path / "court-2026-11"
    report = export_bag(sqlite_archive, SearchQuery.parse(), out, zip=True)

    assert report.path == tmp_path / "court-2026-11.zip" and report.zipped
    assert not out.exists()  # the bag folder was only the staging area
    with zipfile.ZipFile(report.path) as serialized:
        names = serialized.namelist()
        assert all(n.startswith("court-2026-11/") for n in names)
        serialized.extractall(tmp_path / "unzipped")
    bag = bagit.Bag(str(tmp_path / "unzipped" / "court-2026-11"))
    bag.validate()
    assert report.media == 3 and report.pages == 2
    token = f"data/log/timestamps/{stamped.seq}.tsr"
    assert token in set(bag.payload_entries())  # the newest anchor of the log travels along


def test_an_empty_selection_is_a_one_line_error_and_writes_nothing(
    sqlite_archive: Archive, server: FixtureServer, media: MediaSet, tmp_path: Path
) -> None:
    build(sqlite_archive, server, media)
    out = tmp_path / "nothing"
    with pytest.raises(ExportError) as caught:
        export_bag(sqlite_archive, SearchQuery.parse(text="no such words anywhere"), out)
    assert str(caught.value) == (
        "nothing to export: no stored file matches (words 'no such words anywhere')"
    )
    assert "\n" not in str(caught.value)
    assert not out.exists()


def test_the_destination_must_be_new_or_empty_and_outside_the_archive(
    sqlite_archive: Archive, server: FixtureServer, media: MediaSet, tmp_path: Path
) -> None:
    build(sqlite_archive, server, media)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="is not empty"):
        export_bag(sqlite_archive, SearchQuery.parse(), busy)
    with pytest.raises(ExportError, match="inside the archive"):
        export_bag(sqlite_archive, SearchQuery.parse(), sqlite_archive.layout.root / "exports")
    (tmp_path / "taken.zip").write_bytes(b"")
    with pytest.raises(ExportError, match="already exists"):
        export_bag(sqlite_archive, SearchQuery.parse(), tmp_path / "taken", zip=True)
    # a folder that cannot be made (under a file) was a traceback
    (tmp_path / "a-file").write_text("mine")
    with pytest.raises(ExportError, match=r"^cannot write .*/a-file/bag: Not a directory$"):
        export_bag(sqlite_archive, SearchQuery.parse(), tmp_path / "a-file" / "bag")
    empty = tmp_path / "empty"
    empty.mkdir()
    export_bag(sqlite_archive, SearchQuery.parse(), empty)
    bagit.Bag(str(empty)).validate()


def test_a_bag_whose_log_entry_cannot_be_recorded_is_removed(
    sqlite_archive: Archive,
    server: FixtureServer,
    media: MediaSet,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bag is whole and named in the log, or not there: one written before its
    ``export`` entry failed was left behind looking like an export."""
    build(sqlite_archive, server, media)

    def unrecorded(*args: object, **kwargs: object) -> None:
        raise ExportError("the log cannot be written")

    monkeypatch.setattr(export_module, "record", unrecorded)
    exports = tmp_path / "exports"
    exports.mkdir()
    for zipped in (False, True):
        with pytest.raises(ExportError, match="the log cannot be written"):
            export_bag(sqlite_archive, SearchQuery.parse(), exports / "bag", zip=zipped)
        assert list(exports.iterdir()) == []


def test_a_signal_once_the_bag_is_recorded_keeps_it(
    sqlite_archive: Archive,
    server: FixtureServer,
    media: MediaSet,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGTERM while the log file was written, after the ``export`` entry was
    committed, removed the bag: the log named a bag that was not there."""
    build(sqlite_archive, server, media)
    real = export_module.record

    def then_terminated(*args: Any, **kwargs: Any) -> Any:
        event = real(*args, **kwargs)  # committed; the signal comes as the file is written
        os.kill(os.getpid(), signal.SIGTERM)
        return event

    monkeypatch.setattr(export_module, "record", then_terminated)
    export_terminated(sqlite_archive, tmp_path / "bag")
    assert (tmp_path / "bag" / "bagit.txt").is_file()  # the bag the entry names
    with sqlite_archive.read_session() as session:
        (entry,) = session.scalars(select(Event.payload).where(Event.type == "export"))
    assert entry["bag"] == "bag"


def test_a_signal_just_before_the_entry_is_recorded_takes_the_bag_with_it(
    sqlite_archive: Archive,
    server: FixtureServer,
    media: MediaSet,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGTERM after the bag was written and before the signals were held left the
    bag in place with no entry in the log."""
    build(sqlite_archive, server, media)
    real = export_module.signals_held

    @contextlib.contextmanager
    def terminated_first() -> Iterator[None]:
        os.kill(os.getpid(), signal.SIGTERM)
        with real():
            yield

    monkeypatch.setattr(export_module, "signals_held", terminated_first)
    export_terminated(sqlite_archive, tmp_path / "bag")
    assert not (tmp_path / "bag").exists()
    with sqlite_archive.read_session() as session:
        assert not session.scalars(select(Event).where(Event.type == "export")).all()


def export_terminated(archive: Archive, out: Path) -> None:
    """Export everything to ``out``, ended by the SIGTERM the test sends meanwhile, with
    SIGTERM handled as the CLI handles it."""

    def as_the_cli(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, as_the_cli)
    try:
        with pytest.raises(SystemExit):
            export_bag(archive, SearchQuery.parse(), out)
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_every_held_signal_is_raised_again_and_every_handler_put_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C and SIGTERM both held: SIGTERM's handler never ran. Ctrl-C arriving as
    the handlers were put back raised before SIGTERM's was, which stayed swallowed."""
    ran: list[str] = []

    def on_int(signum: int, frame: object) -> None:
        ran.append("INT")
        raise KeyboardInterrupt

    def on_term(signum: int, frame: object) -> None:
        ran.append("TERM")

    real_signal = signal.signal
    pressed: list[bool] = []

    def ctrl_c_as_it_is_put_back(signum: int, handler: Any) -> Any:
        before = real_signal(signum, handler)
        if handler is on_int and not pressed:
            pressed.append(True)
            os.kill(os.getpid(), signal.SIGINT)  # its handler raises here, at once
        return before

    previous = {signal.SIGINT: real_signal(signal.SIGINT, on_int)}
    previous[signal.SIGTERM] = real_signal(signal.SIGTERM, on_term)
    try:
        with pytest.raises(KeyboardInterrupt), signals_held():
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGTERM)
        assert ran == ["INT", "TERM"]

        ran.clear()
        monkeypatch.setattr(signal, "signal", ctrl_c_as_it_is_put_back)
        with pytest.raises(KeyboardInterrupt), signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
        monkeypatch.undo()
        assert ran == ["INT", "TERM"]
        assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == (
            on_int,
            on_term,
        )
    finally:
        for signum, handler in previous.items():
            real_signal(signum, handler)


def test_a_handler_python_cannot_put_back_is_an_error_not_a_hang() -> None:
    """Retried as if a pending signal's handler had raised, it was tried for ever (a
    handler installed outside Python reads as None)."""
    with pytest.raises(TypeError):
        stopping._restore({signal.SIGTERM: None})


def test_a_held_signal_arrives_as_the_block_ends_while_other_threads_run() -> None:
    """With the signals blocked in the main thread's mask, the kernel gave them to
    another thread and Python ran the handler at some later point: the export had
    returned and the command carried on (one run in five, with two busy threads)."""
    done = threading.Event()

    def busy() -> None:
        while not done.is_set():
            pass

    threads = [threading.Thread(target=busy) for _ in range(2)]
    for thread in threads:
        thread.start()
    arrived: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: arrived.append(signum))
    try:
        for _ in range(100):
            arrived.clear()
            with signals_held():
                os.kill(os.getpid(), signal.SIGTERM)
                assert arrived == []
            assert arrived == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)
        done.set()
        for thread in threads:
            thread.join()


def test_a_corrupt_original_is_never_exported(
    sqlite_archive: Archive, server: FixtureServer, media: MediaSet, tmp_path: Path
) -> None:
    build(sqlite_archive, server, media)
    sha = sha256_of(media.photo_b)
    (original,) = sqlite_archive.layout.media_dir(sha).glob("original.*")
    with original.open("r+b") as f:
        f.seek(100)
        f.write(b"\x00\x00\x00")
    out = tmp_path / "bag"
    with pytest.raises(ExportError, match=f"no longer match sha256 {sha}"):
        export_bag(sqlite_archive, SearchQuery.parse(), out)
    assert not out.exists()


def test_companions_are_exported_as_the_index_records_them_and_never_corrupt(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Companions (yt-dlp's info JSON, the thumbnail, subtitles) were copied unchecked:
    a damaged one went into a bag that validated. And they were the ones the sidecar
    listed: a sidecar emptied by hand left them out of the bag (now such a sidecar is
    refused until it is rewritten from the index)."""
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_b))
    ytdlp = YtdlpConfig(command=[sys.executable, str(FAKE_YTDLP)], timeout=30)
    config = make_config(tmp_path / "storage").model_copy(update={"ytdlp": ytdlp})
    server.add_page(
        "/live",
        "<article><p>Fighters:</p><iframe src='https://www.youtube.com/embed/abc123XYZ_0'>"
        "</iframe></article>",
    )
    with Archive.open(config) as archive:
        (item,) = Capturer(archive).capture_url(server.url("/live")).items
        folder = item.files[0].path.parent
        sidecar = folder / "provenance.json"
        emptied = {**json.loads(sidecar.read_text()), "companion_files": []}
        sidecar.write_text(json.dumps(emptied))
        with pytest.raises(ExportError, match=r"companion_files: sidecar \[\], database"):
            export_bag(archive, SearchQuery.parse(), tmp_path / "bag")
        (rewritten,) = rewrite_sidecars(archive)
        assert rewritten.problems[0].startswith("companion_files")
        export_bag(archive, SearchQuery.parse(), tmp_path / "bag")
        exported = {p.name for p in (tmp_path / "bag" / "data").rglob("*") if p.is_file()}
        assert {"platform.info.json", "thumbnail.webp", "subtitles.en.vtt"} <= exported

        thumbnail = folder / "thumbnail.webp"
        thumbnail.write_bytes(thumbnail.read_bytes() + b"\x00")
        with pytest.raises(ExportError, match=r"thumbnail\.webp: its bytes no longer match"):
            export_bag(archive, SearchQuery.parse(), tmp_path / "again")
    assert not (tmp_path / "again").exists()


def test_an_entry_altered_in_the_database_is_never_exported(
    sqlite_archive: Archive, server: FixtureServer, media: MediaSet, tmp_path: Path
) -> None:
    """The bag's log lines are rebuilt from the database: an entry edited there (its
    hash left alone) went into a bag that validated, though the line fails its hash."""
    build(sqlite_archive, server, media)
    with sqlite_archive.engine.begin() as connection:
        seq = connection.execute(
            text("SELECT min(seq) FROM events WHERE type = 'capture'")
        ).scalar_one()
        connection.execute(
            text("UPDATE events SET payload = :p WHERE seq = :s"),
            {"p": json.dumps({"url": "https://elsewhere.example/"}), "s": seq},
        )
    out = tmp_path / "bag"
    with pytest.raises(ExportError, match=f"entry {seq} does not match its sha256"):
        export_bag(sqlite_archive, SearchQuery.parse(), out)
    assert not out.exists()
    # an edit that leaves no JSON at all was a JSONDecodeError traceback, in verify too
    with sqlite_archive.engine.begin() as connection:
        connection.execute(
            text("UPDATE events SET payload = :p WHERE seq = :s"), {"p": '{"a": 1', "s": seq}
        )
    with pytest.raises(ExportError, match=f"entry {seq} is not JSON in the database"):
        export_bag(sqlite_archive, SearchQuery.parse(), out)
    assert not out.exists()
    report = verify_archive(sqlite_archive)
    assert [b.to_json() for b in report.chain.breaks][:1] == [
        {"seq": seq, "where": "database", "why": "the entry's payload is not JSON"}
    ]


def test_a_timestamp_token_verify_reports_is_never_exported(
    sqlite_archive: Archive, server: FixtureServer, media: MediaSet, tmp_path: Path
) -> None:
    """The newest token was copied as it lay: one altered since its entry recorded it
    went into a bag that validated, beside the entry that says otherwise."""
    build(sqlite_archive, server, media)
    with LocalTSA() as tsa:
        stamped = timestamp_head(sqlite_archive, tsa.url)
    good = stamped.path.read_bytes()
    altered = bytearray(good)
    altered[-5] ^= 1
    stamped.path.write_bytes(bytes(altered))
    out = tmp_path / "bag"
    with pytest.raises(
        ExportError,
        match=f"{stamped.path}: the timestamp token differs from the token recorded by "
        rf"entry {stamped.event_seq} \(run archiver verify\)$",
    ):
        export_bag(sqlite_archive, SearchQuery.parse(), out)
    assert not out.exists()
    stamped.path.write_bytes(good)
    export_bag(sqlite_archive, SearchQuery.parse(), out)
    assert (out / "data" / "log" / "timestamps" / f"{stamped.seq}.tsr").read_bytes() == good


def test_a_head_entry_altered_in_the_database_is_never_exported(
    sqlite_archive: Archive, server: FixtureServer, media: MediaSet, tmp_path: Path
) -> None:
    """The head goes into head.json and bag-info's Archiver-Log-Head: an entry altered
    in the database went there unchecked when it was about no exported file."""
    build(sqlite_archive, server, media)
    newest = record(
        sqlite_archive, "liveness", {"url": "https://example.org/x", "status": "gone"}
    ).seq
    with sqlite_archive.engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE events SET payload = json_set(payload, '$.status', 'live') WHERE seq = :s"
            ),
            {"s": newest},
        )
    out = tmp_path / "bag"
    with pytest.raises(ExportError, match=f"entry {newest} does not match its sha256"):
        export_bag(sqlite_archive, SearchQuery.parse(), out)
    assert not out.exists()


def forge(archive: Archive, seq: int, url: str) -> None:
    """Give entry ``seq`` another URL in the database, its sha256 recomputed to match."""
    with archive.session() as session:
        event = session.scalars(select(Event).where(Event.seq == seq)).one()
        event.payload = {**event.payload, "url": url}
        event.sha256 = entry_hash(entry_of(event))


def test_an_entry_altered_with_its_hash_recomputed_is_never_exported(
    archive: Archive, server: FixtureServer, media: MediaSet, tmp_path: Path
) -> None:
    """An entry edited in the database with its sha256 recomputed still hashed right,
    and went into a bag that validated: verify named the broken link to the entry
    after it, which export never looked at."""
    build(archive, server, media)
    clip = sha256_of(media.clip_a)
    with archive.read_session() as session:
        seq = session.scalars(
            select(Event.seq).where(Event.type == "capture", Event.media_sha256 == clip)
        ).one()
    forge(archive, seq, "https://elsewhere.example/clip.mp4")
    assert not verify_chain(archive).ok

    out = tmp_path / "bag"
    with pytest.raises(ExportError, match=rf"entry {seq} does not link to entry {seq + 1}: "):
        export_bag(archive, SearchQuery.parse(sha256=clip), out)
    assert not out.exists()


def test_an_entry_that_is_not_the_log_files_line_is_never_exported(
    sqlite_archive: Archive, server: FixtureServer, media: MediaSet, tmp_path: Path
) -> None:
    """The bag's lines were the database's alone, never held to the log file's: a line
    edited in the file, or the newest entry rewritten in the database with its sha256
    recomputed (no entry after it to break a link), went into a bag, whose README says
    its lines are byte for byte the archive's log."""
    archive = sqlite_archive
    build(archive, server, media)
    clip = sha256_of(media.clip_a)
    newest = record(
        archive,
        "liveness",
        {"url": "https://example.org/clip", "status": "gone"},
        media_sha256=clip,
    ).seq
    path = log_path(archive.layout)
    intact = path.read_bytes()
    with archive.read_session() as session:
        seq = session.scalars(
            select(Event.seq).where(Event.type == "capture", Event.media_sha256 == clip)
        ).one()
    path.write_bytes(intact.replace(b"/media/clip_a.mp4", b"/media/clip_z.mp4", 1))
    out = tmp_path / "bag"
    not_in_file = "is not in log/events.jsonl as in the database"
    with pytest.raises(ExportError, match=f"entry {seq} {not_in_file}"):
        export_bag(archive, SearchQuery.parse(sha256=clip), out)
    assert not out.exists()

    path.write_bytes(intact)
    forge(archive, newest, "https://example.org/elsewhere")
    with pytest.raises(ExportError, match=f"entry {newest} {not_in_file}"):
        export_bag(archive, SearchQuery.parse(sha256=clip), out)
    assert not out.exists()


def test_an_export_stopped_by_sigterm_leaves_nothing(tmp_path: Path, server: FixtureServer) -> None:
    """SIGTERM (what `timeout`, systemd and `docker stop` send) left a half-copied bag,
    a truncated original in it, where Ctrl-C cleaned up."""
    big = make_big_file(tmp_path / "long.mp4", 400 * 1024 * 1024)
    server.add_file("/long.mp4", big)
    config = write_config(tmp_path / "a.toml", settings(tmp_path / "storage"))
    assert run_cli(config, "capture", server.url("/long.mp4")).returncode == 0
    out = tmp_path / "bag"
    export = subprocess.Popen(
        cli_command(config, "export", "--out", str(out)), stderr=subprocess.PIPE, text=True
    )
    while not any(out.rglob("original.*")):  # copying the original
        assert export.poll() is None, export.communicate()
        time.sleep(0.01)
    export.send_signal(signal.SIGTERM)
    _, stderr = export.communicate(timeout=60)
    assert export.returncode == 128 + signal.SIGTERM, stderr
    assert not out.exists() or not any(out.iterdir())


def test_a_files_history_travels_with_it(
    sqlite_archive: Archive, server: FixtureServer, media: MediaSet, tmp_path: Path
) -> None:
    """Liveness and near-duplicate entries name each archived file, so its bag has them."""
    archive = sqlite_archive
    build(archive, server, media)
    clip, photo_a, photo_b = (
        sha256_of(getattr(media, n)) for n in ("clip_a", "photo_a", "photo_b")
    )
    now = utcnow()
    with logged_session(archive) as session:
        check = LinkCheck(
            url=server.url("/media/clip_a.mp4"),
            kind="file",
            status="gone",
            reason="HTTP 404",
            http_status=404,
            probe="http",
            checked_at=now,
            next_check_at=now,
            created_at=now,
        )
        session.add(check)
        session.flush()
        (gone,) = events.record_liveness(session, [(check, "live")])
        events.record_duplicate(
            session, photo_b, photo_a, media_type="image", similarity=0.93127, method="pdq"
        )
    assert gone.media_sha256 == clip and gone.payload["status"] == "gone"

    out = tmp_path / "clip"
    export_bag(archive, SearchQuery.parse(sha256=clip), out)
    entries = [
        json.loads(line) for line in (out / "data/log/events.jsonl").read_text().splitlines()
    ]
    liveness = [e for e in entries if e["type"] == "liveness"]
    assert [(e["media_sha256"], e["payload"]["previous_status"]) for e in liveness] == [
        (clip, "live")
    ]
    assert not any(e["type"] == "duplicate" for e in entries)  # about other files

    export_bag(archive, SearchQuery.parse(sha256=photo_b), tmp_path / "photo")
    lines = (tmp_path / "photo/data/log/events.jsonl").read_text().splitlines()
    (duplicate,) = [json.loads(line) for line in lines if '"type":"duplicate"' in line]
    assert duplicate["payload"] == {
        "sha256": photo_b,
        "other_sha256": photo_a,
        "media_type": "image",
        "similarity": 0.9313,
        "method": "pdq",
    }
    assert verify_chain(archive).ok


def test_the_original_carries_the_entry_of_a_later_copy(
    archive: Archive, server: FixtureServer, media: MediaSet, tmp_path: Path
) -> None:
    """A ``duplicate`` entry is filed under the newer file; exporting only the older
    one still carries it, without the copy itself."""
    copy = tmp_path / "reposted.jpg"
    with Image.open(media.photo_a) as image:
        small = image.convert("RGB").resize((image.width * 2 // 5, image.height * 2 // 5))
        small.save(copy, "JPEG", quality=30)
    server.add_file("/orig/photo.jpg", media.photo_a)
    server.add_file("/copy/photo.jpg", copy)
    server.add_page("/first", "<article><p>Smoke:</p><img src='/orig/photo.jpg'></article>")
    server.add_page("/repost", "<article><p>Re-posted:</p><img src='/copy/photo.jpg'></article>")
    capturer = Capturer(archive)
    assert capturer.capture_url(server.url("/first")).ok
    assert capturer.capture_url(server.url("/repost")).ok
    original, reposted = sha256_of(media.photo_a), sha256_of(copy)

    out = tmp_path / "original"
    report = export_bag(archive, SearchQuery.parse(sha256=original), out)

    bag = bagit.Bag(str(out))
    bag.validate()
    assert report.media == 1
    assert not any(reposted in p for p in bag.payload_entries())  # the selection decides
    described = json.loads((out / "data/export.json").read_text())
    assert [m["sha256"] for m in described["media"]] == [original]
    lines = (out / "data/log/events.jsonl").read_bytes().splitlines(keepends=True)
    entries = [json.loads(line) for line in lines]
    (duplicate,) = [e for e in entries if e["type"] == "duplicate"]
    assert duplicate["media_sha256"] == reposted
    assert duplicate["payload"]["other_sha256"] == original
    full_log = set(log_path(archive.layout).read_bytes().splitlines(keepends=True))
    assert all(line in full_log for line in lines)  # byte for byte in the archive's log
    assert all(entry_hash(e) == e["sha256"] for e in entries)
    assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)
    assert report.events == len(entries)
    assert verify_chain(archive).ok


def test_export_selects_by_platform_upload_date_like_search(
    archive: Archive, server: FixtureServer, media: MediaSet, tmp_path: Path
) -> None:
    """``export`` takes every filter ``search`` takes; the bag says what it selected.
    Plain files have no platform upload date: an upload-date filter selects none."""
    build(archive, server, media)
    query = SearchQuery.parse(upload_since="2013-09-28", upload_until="2013-10-01")
    assert describe(query) == (
        "uploaded to its platform on or after 2013-09-28; "
        "uploaded to its platform on or before 2013-10-01"
    )
    with pytest.raises(ExportError):
        export_bag(archive, query, tmp_path / "none")
    everything = export_bag(archive, SearchQuery.parse(), tmp_path / "all")
    assert everything.media == 3
