"""The hash-chained event log: appends, the JSON lines copy, and finding tampering."""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from support.archiving import cli_command, make_config, settings, write_config
from support.smalldisk import Step, on_small_disk

from archiver.archive import Archive
from archiver.index.models import Event, Page, utcnow
from archiver.index.records import upsert_page
from archiver.integrity import eventlog
from archiver.integrity.eventlog import (
    GENESIS,
    NewEntry,
    append_event,
    append_events,
    flush_log,
    line_of,
    log_path,
    logged_session,
    record,
    verify_chain,
)


@pytest.fixture
def archive(tmp_path: Path, db_url: str) -> Any:
    with Archive.open(make_config(tmp_path / "storage", db_url)) as opened:
        yield opened


@pytest.fixture
def sqlite_archive(tmp_path: Path) -> Any:
    with Archive.open(make_config(tmp_path / "storage")) as opened:
        yield opened


def fill(archive: Archive, count: int) -> None:
    for i in range(count):
        sha = hashlib.sha256(str(i).encode()).hexdigest()
        record(
            archive,
            "capture",
            {"sha256": sha, "url": f"https://example.org/{i}.mp4", "n": i},
            media_sha256=sha,
        )


def lines(archive: Archive) -> list[bytes]:
    return log_path(archive.layout).read_bytes().splitlines(keepends=True)


def rewrite_line(archive: Archive, seq: int, change: Any) -> None:
    path = log_path(archive.layout)
    entries = path.read_bytes().splitlines(keepends=True)
    entry = json.loads(entries[seq - 1])
    change(entry)
    entries[seq - 1] = (
        json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        + b"\n"
    )
    path.write_bytes(b"".join(entries))


def recompute(entry: dict[str, Any]) -> str:
    """The documented rule, written out independently of archiver's code."""
    body = {k: v for k, v in entry.items() if k != "sha256"}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    ).hexdigest()


def test_entries_chain_from_genesis_and_the_file_mirrors_the_database(archive: Archive) -> None:
    fill(archive, 5)
    at = datetime(2026, 11, 25, 18, 0, 4, 512000, tzinfo=UTC)
    record(
        archive,
        "liveness",
        {"url": "https://example.org/v", "status": "gone", "note": "Алеппо ✓"},
        at=at,
    )

    written = [json.loads(line) for line in lines(archive)]
    assert [e["seq"] for e in written] == [1, 2, 3, 4, 5, 6]
    assert written[0]["prev_sha256"] == GENESIS == "0" * 64
    for before, entry in itertools.pairwise(written):
        assert entry["prev_sha256"] == before["sha256"]
    for entry in written:
        assert recompute(entry) == entry["sha256"]
    assert written[5]["at"] == "2026-11-25T18:00:04.512000Z"
    assert written[5]["payload"]["note"] == "Алеппо ✓"
    assert written[0]["media_sha256"] == hashlib.sha256(b"0").hexdigest()

    with archive.read_session() as session:
        rows = session.scalars(select(Event).order_by(Event.seq)).all()
        assert [(r.seq, r.sha256, r.prev_sha256) for r in rows] == [
            (e["seq"], e["sha256"], e["prev_sha256"]) for e in written
        ]
    report = verify_chain(archive)
    assert report.ok, report.to_json()
    assert (report.entries, report.file_lines, report.head_seq) == (6, 6, 6)
    assert report.head_sha256 == written[-1]["sha256"]
    assert flush_log(archive) == 0  # nothing new: existing lines are left alone


def test_concurrent_appends_and_flushes_keep_one_gapless_chain(archive: Archive) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(8):
                with logged_session(archive) as session:
                    if n % 2:  # a liveness batch appends several at once
                        batch = [
                            NewEntry("liveness", {"worker": n, "i": i, "j": j}) for j in (0, 1)
                        ]
                        append_events(session, batch)
                    else:
                        append_event(session, "sighting", {"worker": n, "i": i})
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    flush_log(archive)
    written = [json.loads(line) for line in lines(archive)]
    assert [entry["seq"] for entry in written] == list(range(1, 49))  # each once, in order
    batches = [e["payload"] for e in written if e["type"] == "liveness"]
    for first, second in zip(batches[::2], batches[1::2], strict=True):  # a batch stays together
        assert (first["worker"], first["i"], first["j"], second["j"]) == (
            second["worker"],
            second["i"],
            0,
            1,
        )
    assert verify_chain(archive).ok


def test_writers_that_append_and_change_the_same_row_take_turns_not_deadlock(
    archive: Archive,
) -> None:
    """On PostgreSQL one transaction changed a row and then asked for the log's lock,
    while another held that lock and went on to change the same row: "deadlock
    detected", and a capture failed as "archive database unavailable" (several daemons
    on one database did so within seconds)."""
    with archive.session() as session:
        page = upsert_page(session, "https://news.example/live", "Live", utcnow())
        page_id = page.id
    changed = threading.Event()
    errors: list[BaseException] = []

    def retitle(session: Any, title: str) -> None:
        session.get(Page, page_id).title = title
        session.flush()

    def row_then_log() -> None:  # a file's search text, then its capture entry
        try:
            with logged_session(archive) as session:
                retitle(session, "first")
                changed.set()
                append_event(session, "page", {"by": "row then log"})
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def log_then_row() -> None:  # a page version's entry, then the page's new title
        try:
            with logged_session(archive) as session:
                append_event(session, "page", {"by": "log then row"})
                changed.wait(1.0)  # the other has the row (it cannot, taking turns)
                retitle(session, "second")
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    first = threading.Thread(target=log_then_row)
    first.start()
    time.sleep(0.2)  # it holds the log's lock
    second = threading.Thread(target=row_then_log)
    second.start()
    for thread in (first, second):
        thread.join(30)
    assert not errors, errors
    with archive.read_session() as session:
        assert session.get_one(Page, page_id).title == "first"
        assert len(session.scalars(select(Event)).all()) == 2


def test_a_rolled_back_transaction_leaves_no_entry(archive: Archive) -> None:
    fill(archive, 2)
    with pytest.raises(RuntimeError), archive.session() as session:
        append_event(session, "capture", {"doomed": True})
        raise RuntimeError("the capture failed after all")
    fill(archive, 1)
    with archive.read_session() as session:
        assert list(session.scalars(select(Event.seq).order_by(Event.seq))) == [1, 2, 3]
    assert verify_chain(archive).ok


def test_edited_database_entry_is_named(archive: Archive) -> None:
    fill(archive, 6)
    with archive.engine.begin() as connection:
        connection.execute(
            text("UPDATE events SET payload = :p WHERE seq = 4"),
            {"p": json.dumps({"sha256": "0" * 64, "url": "https://example.org/other.mp4", "n": 3})},
        )
    report = verify_chain(archive)
    assert not report.ok
    first = report.first_break
    assert first is not None
    assert (first.seq, first.where) == (4, "database")
    assert "altered" in first.why
    file_break = [b for b in report.breaks if b.where == "file"]
    assert [(b.seq, "differs from the database" in b.why) for b in file_break] == [(4, True)]


def test_rewritten_database_entry_with_a_fresh_hash_breaks_the_next_link(archive: Archive) -> None:
    fill(archive, 5)
    with archive.read_session() as session:
        event = session.scalars(select(Event).where(Event.seq == 2)).one()
        forged = {
            "seq": 2,
            "at": event.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "type": event.type,
            "media_sha256": event.media_sha256,
            "payload": {"forged": True},
            "prev_sha256": event.prev_sha256,
        }
    with archive.engine.begin() as connection:
        connection.execute(
            text("UPDATE events SET payload = :p, sha256 = :s WHERE seq = 2"),
            {"p": json.dumps({"forged": True}), "s": recompute(forged)},
        )
    report = verify_chain(archive)
    by_where = {b.where: b for b in report.breaks}
    assert (by_where["database"].seq, by_where["file"].seq) == (3, 2)
    assert "prev_sha256" in by_where["database"].why
    assert "differs from the database" in by_where["file"].why
    assert report.first_break == by_where["file"]


def test_deleted_database_entry_is_named_and_the_intact_file_is_not_blamed(
    archive: Archive,
) -> None:
    fill(archive, 5)
    with archive.engine.begin() as connection:
        connection.execute(text("DELETE FROM events WHERE seq = 3"))
    report = verify_chain(archive)
    assert [(b.seq, b.where) for b in report.breaks] == [(4, "database")]
    assert "missing" in report.breaks[0].why
    assert report.file_lines == 5  # the file still holds entry 3


def test_edited_file_line_is_named(sqlite_archive: Archive) -> None:
    archive = sqlite_archive
    fill(archive, 6)
    rewrite_line(archive, 5, lambda e: e["payload"].update(url="https://example.org/swapped.mp4"))
    report = verify_chain(archive)
    assert report.breaks == [report.first_break]
    first = report.first_break
    assert first is not None
    assert (first.seq, first.where) == (5, "file")
    assert "altered" in first.why


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda line: b"[" * 100_000 + b"]" * 100_000 + b"\n", "not valid JSON"),
        (lambda line: line.replace(b'"n":2', b'"n":"\\ud800"'), "cannot be encoded"),
        (lambda line: line.replace(b'"n":2', b'"n":NaN'), "cannot be encoded"),  # Python reads it
    ],
    ids=["nested too deep", "half a surrogate pair", "NaN"],
)
def test_a_file_line_no_entry_could_be_is_named(
    sqlite_archive: Archive, damage: Any, why: str
) -> None:
    """Such lines crashed the check (RecursionError, UnicodeEncodeError, ValueError)
    instead of naming the line."""
    archive = sqlite_archive
    fill(archive, 4)
    path = log_path(archive.layout)
    entries = path.read_bytes().splitlines(keepends=True)
    entries[2] = damage(entries[2])
    path.write_bytes(b"".join(entries))

    first = verify_chain(archive).first_break

    assert first is not None and (first.seq, first.where) == (3, "file")
    assert why in first.why


def test_edited_file_line_with_a_fresh_hash_still_differs_from_the_database(
    sqlite_archive: Archive,
) -> None:
    archive = sqlite_archive
    fill(archive, 4)

    def forge(entry: dict[str, Any]) -> None:
        entry["payload"]["url"] = "https://example.org/swapped.mp4"
        entry["sha256"] = recompute(entry)

    rewrite_line(archive, 4, forge)
    first = verify_chain(archive).first_break
    assert first is not None
    assert (first.seq, first.where) == (4, "file")
    assert "differs from the database" in first.why


def test_removed_and_extra_file_lines_are_named(sqlite_archive: Archive) -> None:
    archive = sqlite_archive
    fill(archive, 4)
    path = log_path(archive.layout)
    original = path.read_bytes()
    entries = original.splitlines(keepends=True)

    path.write_bytes(b"".join(entries[:1] + entries[2:]))  # line 2 removed
    first = verify_chain(archive).first_break
    assert first is not None
    assert (first.seq, first.where) == (2, "file")

    forged = json.loads(entries[-1])
    forged.update(seq=5, prev_sha256=forged["sha256"], payload={"forged": True})
    forged["sha256"] = recompute(forged)
    path.write_bytes(
        original + json.dumps(forged, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    )
    first = verify_chain(archive).first_break
    assert first is not None
    assert (first.seq, first.where) == (5, "file")
    assert "database does not have" in first.why


def test_a_torn_last_line_is_written_again_whole(sqlite_archive: Archive) -> None:
    archive = sqlite_archive
    fill(archive, 3)
    path = log_path(archive.layout)
    whole = path.read_bytes()
    path.write_bytes(whole[: whole.rindex(b"\n", 0, len(whole) - 1) + 20])  # a crash mid-write
    assert flush_log(archive) == 1
    assert path.read_bytes() == whole
    assert verify_chain(archive).ok


def test_a_file_behind_the_database_is_caught_up_not_broken(sqlite_archive: Archive) -> None:
    archive = sqlite_archive
    fill(archive, 2)
    with archive.session() as session:  # committed, not yet flushed (e.g. a crash right after)
        append_event(session, "capture", {"late": True})
    report = verify_chain(archive)
    assert report.ok and report.unflushed == 1
    assert flush_log(archive) == 1
    assert verify_chain(archive).unflushed == 0


def test_an_altered_entry_is_not_copied_into_the_file(archive: Archive) -> None:
    fill(archive, 3)
    with archive.session() as session:  # committed, not yet flushed
        append_event(session, "capture", {"n": 3})
        append_event(session, "capture", {"n": 4})
    with archive.engine.begin() as connection:
        connection.execute(text("UPDATE events SET payload = :p WHERE seq = 4"), {"p": '{"n": 9}'})
    assert flush_log(archive) == 0  # the file keeps only what held when it was written
    report = verify_chain(archive)
    assert [(b.seq, b.where) for b in report.breaks] == [(4, "database")]
    assert (report.file_lines, report.unflushed) == (3, 2)


def test_appends_are_refused_outside_a_write_session_or_with_unknown_types(
    sqlite_archive: Archive,
) -> None:
    archive = sqlite_archive
    with pytest.raises(ValueError, match="unknown event type"), archive.session() as session:
        append_event(session, "captrue", {})
    with pytest.raises(ValueError, match="read-write session"), archive.read_session() as session:
        append_event(session, "capture", {})
    with pytest.raises(ValueError, match="64 lower-case hex"), archive.session() as session:
        append_event(session, "capture", {}, media_sha256="ABC")
    with pytest.raises(TypeError, match="plain JSON"), archive.session() as session:
        append_event(session, "capture", {"when": datetime.now(UTC)})


def test_an_entry_committed_while_the_chain_is_checked_is_not_a_break(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A capture commits and flushes an entry after the check's database snapshot
    began: its line is the next check's, not "an entry the database does not have"."""
    fill(archive, 3)
    step = eventlog._FileWalker.step
    appended: list[int] = []

    def step_while_capturing(walker: Any, seq: int, line: bytes, sha256: str) -> None:
        if not appended:  # the snapshot is taken: a capture commits and flushes now
            appended.append(record(archive, "capture", {"n": "during"}).seq)
            flush_log(archive)
        step(walker, seq, line, sha256)

    monkeypatch.setattr(eventlog._FileWalker, "step", step_while_capturing)
    report = verify_chain(archive)
    assert appended == [4] and len(lines(archive)) == 4
    assert report.ok and report.breaks == [] and report.head_seq == 3
    monkeypatch.undo()
    assert verify_chain(archive).head_seq == 4  # and the next check has it


RECORD = """
import sys
from pathlib import Path
from archiver.archive import Archive
from archiver.config import load_config
from archiver.integrity.eventlog import log_path, record
with Archive.open(load_config(Path(sys.argv[1]))) as archive:
    for n in range(int(sys.argv[2])):
        record(archive, "capture", {"n": n, "blob": "y" * int(sys.argv[3])})
    data = log_path(archive.layout).read_bytes()
    print("whole" if data.endswith(b"\\n") else "torn")
"""


def test_a_flush_cut_short_by_a_full_disk_leaves_no_torn_line_to_witness(
    tmp_path: Path,
) -> None:
    """A full disk wrote part of a line: a check that then counted it as a line the file
    held made every later flush refuse to write, and every check say lines were
    removed, once space was freed. The flush cuts its part-line back at once."""
    disk = tmp_path / "disk"
    database = tmp_path / "db"
    database.mkdir()
    config = write_config(
        tmp_path / "a.toml", settings(disk / "storage", f"sqlite:///{database}/archive.db")
    )
    entries = [sys.executable, "-c", RECORD, str(config)]
    verify = cli_command(config, "verify", "--json")
    fill_disk = ["sh", "-c", f"cat /dev/zero > {disk / 'filler'}; true"]
    steps = [
        Step([*entries, "3", "10"]),
        Step(verify),
        Step(fill_disk),
        Step([*entries, "1", "9000"]),  # committed (the database is elsewhere), not flushed
        Step(verify),
        Step(["rm", str(disk / "filler")]),
        Step(verify),
    ]
    ran = on_small_disk(disk, "1m", steps, tmp_path / "out")
    assert [r.returncode for r in ran] == [0, 0, 0, 0, 0, 0, 0], [r.stderr for r in ran]
    full, freed = json.loads(ran[4].stdout), json.loads(ran[6].stdout)
    assert ran[3].stdout.strip() == "whole"
    assert "eventlog.flush_failed" in ran[3].stderr
    assert full["ok"] and full["chain"]["file_lines"] == 4 and full["chain"]["unflushed"] == 1
    assert freed["ok"], freed["problems"]
    assert freed["chain"]["unflushed"] == 0
    assert freed["chain"]["file_lines"] == freed["chain"]["head"]["seq"] == 6


def test_a_torn_last_line_is_not_counted_as_a_line_nor_as_damage(
    sqlite_archive: Archive,
) -> None:
    """A write cut short that nothing cut back yet (a crash mid-write) is a line not yet
    flushed: a check counting it would make it a line the file must keep holding."""
    archive = sqlite_archive
    fill(archive, 3)
    path = log_path(archive.layout)
    with archive.session() as session:  # committed; its flush cut short
        late = append_event(session, "capture", {"late": True})
        torn = line_of(late)[:30]
    with path.open("ab") as sink:
        sink.write(torn)
    report = verify_chain(archive)
    assert report.ok, report.breaks
    assert (report.file_lines, report.unflushed) == (3, 1)
    assert flush_log(archive) == 1 and verify_chain(archive).file_lines == 4


def test_an_entry_whose_payload_is_not_json_is_named_alone(sqlite_archive: Archive) -> None:
    """SQLite keeps a payload as text, which an edit can break: reading it failed its
    whole batch, so the intact file was blamed for entries "the database does not
    have", and nothing after the batch's start was checked."""
    archive = sqlite_archive
    fill(archive, 6)
    with archive.engine.begin() as connection:
        connection.execute(text("UPDATE events SET payload = '{\"n\": 2' WHERE seq IN (3, 6)"))
    report = verify_chain(archive)
    assert [b.to_json() for b in report.breaks] == [
        {"seq": 3, "where": "database", "why": "the entry's payload is not JSON"}
    ]
    assert (report.entries, report.head_seq, report.file_lines) == (6, 6, 6)
    rewrite_line(archive, 4, lambda entry: entry["payload"].update(n=40))  # still checked
    assert [(b.seq, b.where) for b in verify_chain(archive).breaks] == [
        (3, "database"),
        (4, "file"),
    ]


def test_the_file_lines_of_entries_are_found_by_seq(sqlite_archive: Archive) -> None:
    """An export holds each line it carries to the file's: found by halving the file,
    whatever the lengths of the lines around it, and none past its end or where a
    line met on the way is no entry."""
    archive = sqlite_archive
    with logged_session(archive) as session:
        pads = [{"n": n, "pad": "x" * (n * 37 % 500)} for n in range(120)]
        append_events(session, [NewEntry("sighting", pad) for pad in pads])
    held = lines(archive)
    every = dict(enumerate(held, 1))
    assert eventlog.file_lines(archive.layout, range(1, 125)) == every
    assert eventlog.file_lines(archive.layout, [1, 77, 120]) == {s: every[s] for s in (1, 77, 120)}
    log_path(archive.layout).write_bytes(b"".join([*held[:60], b"not an entry\n", *held[61:]]))
    assert eventlog.file_lines(archive.layout, [61]) == {}
