"""The tamper-evident event log: every archival event, each entry hashing the one before.

Entries are appended inside the caller's transaction (``append_event``), so an event
exists exactly when the change it records was committed. The database is the
authority; ``flush_log`` then appends the committed entries to
``<root>/log/events.jsonl``, a second copy that plain tools can read and that an
attacker would have to alter consistently with the database. ``verify_chain``
recomputes every hash in both copies and names the first broken entry.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

from sqlalchemy import Select, func, select, text
from sqlalchemy.orm import Session

from archiver.archive import Archive
from archiver.errors import ArchiverError, StoreError
from archiver.index.models import Event, utcnow
from archiver.integrity.canonical import (
    GENESIS,
    entry_hash,
    entry_line,
    format_time,
    normalize,
)
from archiver.logs import ThrottledEvent, log_event
from archiver.store.layout import Layout

EVENT_TYPES = frozenset(
    {
        "capture",
        "sighting",
        "page",
        "duplicate",
        "liveness",
        "embed_removed",
        "embed_returned",
        "fixity",
        "export",
        "timestamp",
        "log_rebuilt",
        "sidecar_rewritten",
        "original_restored",
    }
)
EVENT_LOCK = 727470  # PostgreSQL advisory lock serialising appends (migrations use 727465)
_HEX64 = re.compile(r"[0-9a-f]{64}")
_APPENDED = "archiver.events_appended"
_LOCKED = "archiver.event_lock_held"  # this transaction holds EVENT_LOCK
_BATCH = 1000
# Once a minute at most: on a full disk every flush fails, each second
FLUSH_FAILED = ThrottledEvent("eventlog.flush_failed")
TORN_LINE = ThrottledEvent("eventlog.torn_line")
NOT_JSON = ThrottledEvent("eventlog.not_json")

Where = Literal["database", "file"]


def log_dir(layout: Layout) -> Path:
    return layout.root / "log"


def log_path(layout: Layout) -> Path:
    return log_dir(layout) / "events.jsonl"


def timestamps_dir(layout: Layout) -> Path:
    return log_dir(layout) / "timestamps"


def entry_of(event: Event) -> dict[str, Any]:
    """The hashed fields of a stored entry, as they were hashed."""
    return {
        "seq": event.seq,
        "at": format_time(event.at),
        "type": event.type,
        "media_sha256": event.media_sha256,
        "payload": event.payload,
        "prev_sha256": event.prev_sha256,
    }


def line_of(event: Event) -> bytes:
    """The entry's line in ``events.jsonl`` (and in exported bags), newline included."""
    return entry_line(entry_of(event), event.sha256)


# ---- appending ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NewEntry:
    """An entry to append: its type, payload and the file it is about (if any)."""

    type: str
    payload: dict[str, Any]
    media_sha256: str | None = None


def append_event(
    session: Session,
    type: str,
    payload: dict[str, Any],
    *,
    media_sha256: str | None = None,
    at: datetime | None = None,
) -> Event:
    """Append an entry in the caller's transaction; it exists only if that commits.

    Appends are serialised: on PostgreSQL by a transaction-scoped advisory lock (held
    until commit, so call this last in the transaction to keep the lock short); on
    SQLite the write transaction (``BEGIN IMMEDIATE``) already excludes other writers.
    After the commit, ``flush_log`` (or ``logged_session``) copies it to the file.
    """
    (event,) = append_events(session, [NewEntry(type, payload, media_sha256)], at=at)
    return event


def append_events(
    session: Session, entries: list[NewEntry], *, at: datetime | None = None
) -> list[Event]:
    """Append several entries, in order, as `append_event` does one: under one lock,
    chained from one read of the head, written in one flush (a liveness batch changes
    hundreds of statuses at once)."""
    for entry in entries:
        if entry.type not in EVENT_TYPES:
            known = ", ".join(sorted(EVENT_TYPES))
            raise ValueError(f"unknown event type {entry.type!r} (known: {known})")
        if entry.media_sha256 is not None and not _HEX64.fullmatch(entry.media_sha256):
            raise ValueError(
                f"media_sha256 must be 64 lower-case hex digits, got {entry.media_sha256!r}"
            )
    if not entries:
        return []
    connection = session.connection()
    if connection.get_execution_options().get("archiver_read_only"):
        raise ValueError("events are appended in a read-write session (archive.session())")
    take_event_lock(session)
    when = (at or utcnow()).astimezone(UTC)
    seq, prev = head(session)
    events: list[Event] = []
    for entry in entries:
        body = normalize(entry.payload)
        seq += 1
        chained = {
            "seq": seq,
            "at": format_time(when),
            "type": entry.type,
            "media_sha256": entry.media_sha256,
            "payload": body,
            "prev_sha256": prev,
        }
        event = Event(
            seq=seq,
            at=when,
            type=entry.type,
            media_sha256=entry.media_sha256,
            payload=body,
            prev_sha256=prev,
            sha256=entry_hash(chained),
        )
        events.append(event)
        prev = event.sha256
    session.add_all(events)
    session.flush()
    session.info[_APPENDED] = True
    return events


def take_event_lock(session: Session) -> None:
    """On PostgreSQL, the lock that serialises appends to the log, held to commit; the
    transaction's own row changes are written first, so their locks come before it."""
    if session.get_bind().dialect.name == "postgresql" and not session.info.get(_LOCKED):
        session.flush()
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": EVENT_LOCK})
        session.info[_LOCKED] = True


def head(session: Session) -> tuple[int, str]:
    """(seq, sha256) of the newest entry; (0, 64 zeros) for an empty log."""
    newest = select(Event.seq, Event.sha256).order_by(Event.seq.desc()).limit(1)
    row = session.execute(newest).first()
    return (row[0], row[1]) if row else (0, GENESIS)


@contextlib.contextmanager
def logged_session(archive: Archive) -> Iterator[Session]:
    """``archive.session()`` that copies the entries it appended to the file after commit.

    On PostgreSQL it takes the log's lock first, before any row: a transaction that
    took it after changing rows (a file's search text, a page's title) deadlocked
    with one that held it and went on to change those rows, and both may append
    entries at any point of their work. So transactions that append take turns, as
    all writers do on SQLite; those that do not append never wait for it.

    A failure to write the file does not undo the committed work: the database holds
    the entries and the next flush writes them.
    """
    with archive.session() as session:
        take_event_lock(session)
        yield session
        appended = bool(session.info.pop(_APPENDED, False))
    if appended:
        try:
            flush_log(archive)
        except (OSError, ArchiverError) as exc:
            FLUSH_FAILED(reason=str(exc))


def record(
    archive: Archive,
    type: str,
    payload: dict[str, Any],
    *,
    media_sha256: str | None = None,
    at: datetime | None = None,
) -> Event:
    """Append one entry in a transaction of its own, then flush it to the file."""
    with logged_session(archive) as session:
        event = append_event(session, type, payload, media_sha256=media_sha256, at=at)
        session.expunge(event)
    return event


# ---- the JSON lines copy ------------------------------------------------------------------


def flush_log(archive: Archive, *, rebuild: bool = False) -> int:
    """Append to ``log/events.jsonl`` every committed entry after the file's last line.

    Runs under an exclusive ``flock`` on the file, so several processes (and threads)
    can flush at once; lines are written in seq order and fsynced, and existing lines
    are never rewritten. Only an incomplete last line (a write cut short by a crash)
    is cut off, to be written again whole. An entry that does not continue the
    file's chain (its hash or its link does not hold: the database was altered) is
    not copied, nor anything after it, so the file stays an independent witness.
    For the same reason a file that lost lines a check saw in it (deleted, cut) is
    not refilled from the database, unless ``rebuild`` (``verify --rebuild-log``):
    a database rewritten whole would otherwise pass with a witness made from it.
    Returns the number of lines written.
    """
    path = log_path(archive.layout)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK, 0o644)
    try:
        _regular(fd, path)  # lines written into a pipe are lost, and fill it and block
        fcntl.flock(fd, fcntl.LOCK_EX)
        last, prev = _tail(fd, path)
        with archive.read_session() as session:
            seen = None if rebuild else witnessed_lines(session)
            if seen is not None and last < seen:
                _not_rebuilt(path, last, seen)
                return 0
            size = os.fstat(fd).st_size
            try:
                return _append_lines(fd, session, last, prev)
            except OSError:
                _cut_back(fd, size)
                raise
    finally:
        os.close(fd)  # releases the lock


def _append_lines(fd: int, session: Session, last: int, prev: str) -> int:
    """Write the committed entries after seq ``last`` (whose hash is ``prev``) and
    fsync them; returns the number of lines written."""
    written = 0
    batch: list[bytes] = []
    for event in _readable(session, select(Event).where(Event.seq > last)):
        entry = entry_of(event)
        why = _entry_problem(entry, event.sha256, last + written + len(batch) + 1, prev)
        if why:  # a gap (a later flush continues) or an altered entry
            if not why.startswith("seq"):
                log_event("eventlog.not_copied", logging.WARNING, seq=event.seq, reason=why)
            break
        batch.append(entry_line(entry, event.sha256))
        prev = event.sha256
        session.expunge(event)
        if len(batch) >= _BATCH:
            _write_all(fd, b"".join(batch))
            written, batch = written + len(batch), []
    if batch:
        _write_all(fd, b"".join(batch))
        written += len(batch)
    if written:
        os.fsync(fd)
    return written


def _cut_back(fd: int, size: int) -> None:
    """Cut the file back to ``size`` after a write failed (a full disk writes part of a
    line): a torn last line would stay until the next flush, and a check reading the
    file meanwhile would take it for a line the file holds. The failure itself is
    what the caller reports, so failing to cut is left to the next flush's `_tail`."""
    with contextlib.suppress(OSError):
        os.ftruncate(fd, size)
        os.fsync(fd)


def witnessed_lines(session: Session) -> int | None:
    """How many lines the last check saw in the log file (its ``fixity`` entry says);
    None before a check recorded it."""
    last = session.scalar(
        select(Event.payload).where(Event.type == "fixity").order_by(Event.seq.desc()).limit(1)
    )
    chain = last.get("chain") if isinstance(last, dict) else None
    seen = chain.get("file_lines") if isinstance(chain, dict) else None
    return seen if isinstance(seen, int) else None


_WARNED: set[tuple[str, int]] = set()  # (file, where it ends) warned of, once a process


def _not_rebuilt(path: Path, last: int, seen: int) -> None:
    if (str(path), last) in _WARNED:
        return
    _WARNED.add((str(path), last))
    log_event(
        "eventlog.not_rebuilt",
        logging.WARNING,
        path=str(path),
        ends_at=last,
        held=seen,
        reason="lines a check saw are gone: restore the file from a backup, or rebuild"
        " it from the database with `archiver verify --rebuild-log`",
    )


def rebuild_log(archive: Archive) -> int:
    """Refill a log file that lost lines from the database, and say so in the log (a
    ``log_rebuilt`` entry): the lines after ``file_ended_at`` and before the entry are
    the database's word alone. Returns the number of lines written.

    The entry is recorded before the file is refilled: a crash in between leaves the
    log saying so and the file still short (verify names it, and a second rebuild
    records a second entry), where the other order left a refilled file with nothing
    to say that it was.
    """
    before = file_head(archive.layout)
    with archive.read_session() as session:
        missing = head(session)[0] - before
    if missing <= 0:
        return 0
    record(archive, "log_rebuilt", {"file_ended_at": before, "lines_written": missing})
    flush_log(archive, rebuild=True)
    return file_head(archive.layout) - before


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _last_newline(fd: int, end: int) -> int:
    """Offset of the last ``\\n`` before ``end``, or -1."""
    chunk = 64 * 1024
    while end > 0:
        start = max(0, end - chunk)
        block = os.pread(fd, end - start, start)
        found = block.rfind(b"\n")
        if found >= 0:
            return start + found
        end = start
    return -1


def _tail(fd: int, path: Path) -> tuple[int, str]:
    """(seq, sha256) of the file's last entry; (0, 64 zeros) for an empty file."""
    size = os.fstat(fd).st_size
    if size and os.pread(fd, 1, size - 1) != b"\n":
        size = _last_newline(fd, size) + 1
        os.ftruncate(fd, size)
        os.fsync(fd)
        TORN_LINE(path=str(path), kept_bytes=size)
    if size == 0:
        return 0, GENESIS
    start = _last_newline(fd, size - 1) + 1
    try:
        entry = json.loads(os.pread(fd, size - start, start))
        seq, sha256 = entry["seq"], entry["sha256"]
    except (ValueError, KeyError, TypeError, RecursionError):
        seq, sha256 = None, None
    if not isinstance(seq, int) or not isinstance(sha256, str):
        raise StoreError(f"{path}: the last line is not a log entry; run archiver verify")
    return seq, sha256


def _regular(fd: int, path: Path) -> None:
    """Refuse what is not a regular file at the log's place (a folder, a pipe): the
    chain check names it (`verify_chain`)."""
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        raise StoreError(f"{path} is not a regular file; run archiver verify")


def file_head(layout: Layout) -> int:
    """The seq of the log file's last complete line (0: no file, or no complete line);
    read only, unlike a flush, which cuts a torn last line off. Raises StoreError for
    something other than a regular file there, opened without waiting on a pipe."""
    fd = _open_read(log_path(layout))
    if fd is None:
        return 0
    try:
        end = _last_newline(fd, os.fstat(fd).st_size)
        if end < 0:
            return 0
        start = _last_newline(fd, end) + 1
        try:
            seq = json.loads(os.pread(fd, end - start, start)).get("seq")
        except (ValueError, AttributeError, RecursionError):
            return 0
        return seq if isinstance(seq, int) else 0
    finally:
        os.close(fd)


def file_lines(layout: Layout, seqs: Iterable[int]) -> dict[int, bytes]:
    """The log file's lines (newline included) of the entries ``seqs`` (ascending), by
    seq; one the file has not is left out. Each is found by halving the file on its
    lines' seqs, which ascend: a few blocks are read for each, not the whole log. A
    line met on the way that is no entry leaves the one sought out. Raises StoreError
    for something other than a regular file there."""
    fd = _open_read(log_path(layout))
    if fd is None:
        return {}
    found: dict[int, bytes] = {}
    with os.fdopen(fd, "rb") as stream:
        start, end = 0, _last_newline(fd, _settled_size(stream)) + 1
        for seq in seqs:
            if (at := _line_of_seq(stream, seq, start, end)) is not None:
                found[seq] = at[1]
                start = at[0] + len(at[1])
    return found


def _line_of_seq(stream: IO[bytes], seq: int, low: int, high: int) -> tuple[int, bytes] | None:
    """(offset, line) of entry ``seq`` among the whole lines between offsets ``low``
    (a line's start) and ``high``, or None."""
    while low < high:
        middle = (low + high) // 2
        start, line = _line_after(stream, middle)
        if start >= high:  # no line starts between the middle and the end
            high = middle
            continue
        try:
            found = json.loads(line).get("seq")
        except (ValueError, AttributeError, RecursionError):
            return None
        if found == seq:
            return start, line
        if not isinstance(found, int):
            return None
        if found < seq:
            low = start + len(line)
        else:
            high = middle
    return None


def _line_after(stream: IO[bytes], offset: int) -> tuple[int, bytes]:
    """(offset, line) of the first line that starts at ``offset`` or after it."""
    stream.seek(max(offset - 1, 0))
    if offset:
        stream.readline()  # the rest of the line ``offset - 1`` is in
    return stream.tell(), stream.readline()


def _open_read(path: Path) -> int | None:
    """A read-only descriptor of the log file (None: there is none), opened without
    waiting on a pipe. Raises StoreError for something other than a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except IsADirectoryError:  # some systems refuse to open a folder at all
        raise StoreError(f"{path} is not a regular file; run archiver verify") from None
    try:
        _regular(fd, path)
    except StoreError:
        os.close(fd)
        raise
    return fd


# ---- verification -------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainBreak:
    """The first entry that does not hold in one copy of the log, and why."""

    seq: int
    where: Where
    why: str

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "where": self.where, "why": self.why}


@dataclass(frozen=True)
class TimestampCheck:
    """One stored RFC 3161 token checked against the chain."""

    seq: int
    path: str
    ok: bool
    why: str | None = None
    gen_time: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "path": self.path,
            "ok": self.ok,
            "why": self.why,
            "gen_time": format_time(self.gen_time) if self.gen_time else None,
        }


@dataclass
class ChainReport:
    entries: int = 0  # in the database
    file_lines: int = 0
    head_seq: int = 0
    head_sha256: str = GENESIS
    unflushed: int = 0  # database entries not yet in the file (flushed after commit)
    breaks: list[ChainBreak] = field(default_factory=list)  # at most one per copy
    timestamps: list[TimestampCheck] = field(default_factory=list)
    path: str = ""

    @property
    def ok(self) -> bool:
        return not self.breaks and all(t.ok for t in self.timestamps)

    @property
    def first_break(self) -> ChainBreak | None:
        """The lowest broken seq; at a tie the database, whose entry is the authority."""
        if not self.breaks:
            return None
        return min(self.breaks, key=lambda b: (b.seq, b.where != "database"))

    def to_json(self) -> dict[str, Any]:
        first = self.first_break
        return {
            "ok": self.ok,
            "entries": self.entries,
            "file_lines": self.file_lines,
            "unflushed": self.unflushed,
            "head": {"seq": self.head_seq, "sha256": self.head_sha256},
            "first_break": first.to_json() if first else None,
            "breaks": [b.to_json() for b in self.breaks],
            "timestamps": [t.to_json() for t in self.timestamps],
            "path": self.path,
        }


def _entry_problem(entry: dict[str, Any], sha256: Any, seq: int, prev: str) -> str | None:
    """Why an entry (database row or parsed line) does not continue the chain, or None."""
    if why := _seq_problem(entry.get("seq"), seq):
        return why
    if entry.get("prev_sha256") != prev:
        return f"prev_sha256 does not match the sha256 of entry {seq - 1}"
    return content_problem(entry, sha256)


def _seq_problem(found: object, seq: int) -> str | None:
    if found != seq:
        return f"seq {found!r} where {seq} was expected: entries are missing or moved"
    return None


def content_problem(entry: dict[str, Any], sha256: Any) -> str | None:
    """Why an entry's content does not hash to its ``sha256`` (it was altered), or None."""
    try:
        recomputed = entry_hash(entry)
    except ValueError:  # NaN, or half a surrogate pair: nothing archiver ever wrote
        return "the entry's content cannot be encoded: the entry was altered"
    if recomputed != sha256:
        return "sha256 does not match the entry's content: the entry was altered"
    return None


class _FileWalker:
    """Reads ``events.jsonl`` in step with the database rows, matched by seq.

    Each line must continue the file's own chain and equal the database entry with
    the same seq. Lines for seqs the database lacks (a deleted row, reported by the
    database check) are checked on their own, so a damaged database does not make
    an intact file look damaged.
    """

    def __init__(self, stream: IO[bytes] | None, size: int = 0) -> None:
        """`size`: the bytes the file had before the database snapshot began; lines
        flushed later (captures going on) belong to entries the snapshot cannot see."""
        self.stream = stream
        self.left = size
        self.prev = GENESIS
        self.lines = 0
        self.broken: ChainBreak | None = None
        self.ended = stream is None

    def _open(self) -> bool:
        return not self.ended and self.broken is None

    def _read(self) -> bytes | None:
        """The next whole line, or None at the end. A last line without its newline is
        a write cut short (a crash, a full disk): not yet flushed, so neither a line
        the file holds nor damage; the next flush cuts it off and writes it whole."""
        line = self.stream.readline(self.left) if self.stream and self.left > 0 else b""
        if not line.endswith(b"\n"):
            self.ended = True
            return None
        self.left -= len(line)
        self.lines += 1
        return line

    def _check(self, line: bytes) -> str | None:
        """Why the line does not continue the file's chain, or None (then it does)."""
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            return f"line {self.lines} is not valid JSON"
        if not isinstance(entry, dict):
            return f"line {self.lines} is not a complete log entry"
        why = _entry_problem(entry, entry.get("sha256"), self.lines, self.prev)
        if why is None:
            self.prev = entry["sha256"]
        return why

    def alone(self, seq: int) -> None:
        """Check the lines up to ``seq`` on their own: the database lacks their entries,
        or cannot give them (a payload that is not JSON)."""
        while self._open() and self.lines < seq:
            line = self._read()
            if line is not None and (why := self._check(line)):
                self.broken = ChainBreak(self.lines, "file", why)

    def step(self, seq: int, database_line: bytes, database_sha256: str) -> None:
        self.alone(seq - 1)
        if not self._open() or self.lines + 1 != seq or (line := self._read()) is None:
            return
        if line == database_line:  # the same bytes: the database check covers them
            self.prev = database_sha256
            return
        why = self._check(line) or (
            "the line differs from the database entry "
            "(one copy was altered; a timestamp token tells which)"
        )
        self.broken = ChainBreak(seq, "file", why)

    def finish(self) -> None:
        if self._open() and self._read() is not None:
            self.broken = ChainBreak(
                self.lines, "file", "the file has entries the database does not have"
            )


def verify_chain(archive: Archive) -> ChainReport:
    """Recompute every hash in the database and in ``events.jsonl``; check the links,
    the gapless seq, that each line equals its database entry, and that the stored
    RFC 3161 tokens stamp hashes that are in the chain. Streams both copies."""
    path = log_path(archive.layout)
    report = ChainReport(path=str(path))
    tokens: dict[int, Path] | None = None
    stamped_hashes: dict[int, str] = {}
    recorded_tokens: dict[int, tuple[int, dict[str, Any]]] = {}
    with contextlib.ExitStack() as stack:
        # Entries reach the file after their commit, so the bytes the file holds now
        # are all in the snapshot the query below sees; later lines are left out.
        readable = path.is_file()  # a folder or a pipe where the file belongs is a break
        stream = stack.enter_context(path.open("rb")) if readable else None
        walker = _FileWalker(stream, _settled_size(stream) if stream else 0)
        session = stack.enter_context(archive.read_session())
        unreadable = _unreadable(session)
        rows = _readable(session, select(Event).where(Event.seq.not_in(unreadable)))
        prev, db_break = GENESIS, None
        for seq, sha256, event in _with_unreadable(rows, unreadable):
            if tokens is None:  # listed once the snapshot exists: a token file is placed
                tokens = _token_files(archive.layout)  # before its entry is committed
            report.entries += 1
            expected = report.entries
            entry = entry_of(event) if event else None
            if db_break is None:
                why = (
                    _entry_problem(entry, sha256, expected, prev)
                    if entry is not None
                    else _seq_problem(seq, expected) or "the entry's payload is not JSON"
                )
                if why:
                    db_break = ChainBreak(seq, "database", why)
            prev = sha256  # an unreadable entry's hash and link still chain the rest
            report.head_seq, report.head_sha256 = seq, sha256
            if seq in tokens:
                stamped_hashes[seq] = sha256
            if event is None or entry is None:
                walker.alone(seq)  # the file's line is checked on its own
                continue
            walker.step(seq, entry_line(entry, sha256), sha256)
            if event.type == "timestamp" and isinstance(event.payload.get("seq"), int):
                recorded_tokens[event.payload["seq"]] = (seq, event.payload)
            session.expunge(event)
        if tokens is None:  # no entries: listed after the query, which made the snapshot
            tokens = _token_files(archive.layout)  # (a log cut to nothing keeps its tokens)
        walker.finish()
    report.file_lines = walker.lines
    if walker.ended and walker.broken is None:
        report.unflushed = max(0, report.head_seq - walker.lines)
    file_break = walker.broken
    if not readable and (path.exists() or path.is_symlink()):
        file_break = ChainBreak(1, "file", f"{path.name} is not a regular file")
    report.breaks = [b for b in (db_break, file_break) if b is not None]
    with archive.read_session() as session:
        # A token of a head past the snapshot stamps an entry committed while this ran
        # (a token is placed after its entry commits): the next check's. One whose entry
        # the database does not hold even now stamps an entry the chain no longer has:
        # both copies cut at the same entry, which only the token still shows.
        later = [seq for seq in tokens or {} if seq > report.head_seq]
        committed = set(session.scalars(select(Event.seq).where(Event.seq.in_(later))))
        checked = {seq: p for seq, p in (tokens or {}).items() if seq not in committed}
        report.timestamps = _check_tokens(
            archive.layout, checked, stamped_hashes, recorded_tokens, session
        )
    return report


def not_json(session: Session) -> list[int]:
    """Seqs of entries whose payload is not JSON: SQLite keeps it as text, which an
    edit can break (PostgreSQL's ``json`` type refuses such a value)."""
    if session.get_bind().dialect.name != "sqlite":
        return []
    return list(
        session.scalars(
            select(Event.seq).where(func.json_valid(Event.payload) == 0).order_by(Event.seq)
        )
    )


def _unreadable(session: Session) -> dict[int, str]:
    """The entries whose payload is not JSON (`not_json`), each seq with its stored
    sha256: their hash and link columns still read."""
    seqs = not_json(session)
    if not seqs:
        return {}
    found = session.execute(select(Event.seq, Event.sha256).where(Event.seq.in_(seqs)))
    return {seq: sha256 for seq, sha256 in found}


def _readable(session: Session, query: Select[Event]) -> Iterator[Event]:
    """The entries ``query`` selects, in seq order, streamed, less those whose payload
    is not JSON (`not_json` names them): reading one fails its whole batch, and the
    entries around it are still to be read. They leave a gap in the seqs."""
    last = 0
    try:
        for event in session.scalars(_streamed(query)):
            last = event.seq
            yield event
    except ValueError:  # json.JSONDecodeError, while loading a batch
        unreadable = not_json(session)
        if not unreadable:
            raise
        NOT_JSON(seq=unreadable[0])
        rest = query.where(Event.seq > last, Event.seq.not_in(unreadable))
        yield from session.scalars(_streamed(rest))


def _streamed(query: Select[Event]) -> Select[Event]:
    return query.order_by(Event.seq).execution_options(yield_per=_BATCH)


def _with_unreadable(
    rows: Iterable[Event], unreadable: dict[int, str]
) -> Iterator[tuple[int, str, Event | None]]:
    """(seq, sha256, entry) of ``rows`` in seq order, with the entries whose payload is
    not JSON in their places as (seq, sha256, None)."""
    left = sorted(unreadable.items())
    for event in rows:
        while left and left[0][0] < event.seq:
            yield (*left.pop(0), None)
        yield event.seq, event.sha256, event
    for seq, sha256 in left:
        yield seq, sha256, None


def _swapped(seq: int, imprint: str, session: Session) -> str | None:
    """Why a token stamps another entry's hash: its file was swapped for, or renamed
    from, that entry's token (the chain itself may be whole)."""
    other = session.scalar(select(Event.seq).where(Event.sha256 == imprint))
    if other is None or other == seq:
        return None
    return f"is the token of entry {other}, not of entry {seq}: token files were swapped"


def _settled_size(stream: IO[bytes]) -> int:
    """The file's size between two appends (they hold an exclusive ``flock``)."""
    fcntl.flock(stream.fileno(), fcntl.LOCK_SH)
    try:
        return os.fstat(stream.fileno()).st_size
    finally:
        fcntl.flock(stream.fileno(), fcntl.LOCK_UN)


def _token_files(layout: Layout) -> dict[int, Path]:
    directory = timestamps_dir(layout)
    if not directory.is_dir():
        return {}
    return {int(p.stem): p for p in directory.glob("*.tsr") if p.stem.isdecimal()}


def _check_tokens(
    layout: Layout,
    tokens: dict[int, Path],
    hashes: dict[int, str],
    recorded: dict[int, tuple[int, dict[str, Any]]],
    session: Session,
) -> list[TimestampCheck]:
    # Imported here: ASN.1 and signature checking (33 ms) only when there are tokens.
    from archiver.integrity import tsp

    checks: list[TimestampCheck] = []
    for seq in sorted(set(tokens) | set(recorded)):
        path = tokens.get(seq, timestamps_dir(layout) / f"{seq}.tsr")
        where = layout.relative(path)
        if seq not in tokens:
            checks.append(
                TimestampCheck(seq, where, False, f"missing: recorded by entry {recorded[seq][0]}")
            )
            continue
        try:
            data = path.read_bytes() if path.is_file() else None
        except OSError as exc:
            checks.append(TimestampCheck(seq, where, False, f"unreadable: {exc.strerror}"))
            continue
        if data is None:  # a folder or a pipe named like a token
            checks.append(TimestampCheck(seq, where, False, "not a regular file"))
            continue
        why, gen_time = None, None
        try:
            token = tsp.parse_token(data)
            gen_time = token.gen_time
            if seq not in hashes:
                why = f"stamps entry {seq}, which is not in the chain"
            else:
                why = tsp.imprint_problem(token, bytes.fromhex(hashes[seq]))
                if why is not None:
                    why = _swapped(seq, token.hashed_message.hex(), session) or why
        except tsp.TokenError as exc:
            why = str(exc)
        if why is None and seq in recorded:
            entry_seq, payload = recorded[seq]
            if payload.get("token_sha256") != hashlib.sha256(data).hexdigest():
                why = f"differs from the token recorded by entry {entry_seq}"
        checks.append(TimestampCheck(seq, where, why is None, why, gen_time))
    return checks


__all__ = [
    "EVENT_TYPES",
    "GENESIS",
    "ChainBreak",
    "ChainReport",
    "TimestampCheck",
    "append_event",
    "content_problem",
    "entry_of",
    "file_head",
    "file_lines",
    "flush_log",
    "head",
    "line_of",
    "log_path",
    "logged_session",
    "rebuild_log",
    "record",
    "timestamps_dir",
    "verify_chain",
    "witnessed_lines",
]
