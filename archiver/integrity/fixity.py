"""Fixity: re-hash what is stored and hold it against the index, the sidecars and the log.

A stored original proves nothing unless it can be shown, at any later time, to be
the bytes captured. ``verify_archive`` re-reads every original and page snapshot
(streamed, several files at once), compares each with the database and with its
sidecar, looks for files nobody indexed, checks the event chain, and records the
run as a ``fixity`` entry in that chain.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import os
import random
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import ColumnElement, Executable, Select, case, func, select, text, true
from sqlalchemy.orm import Session

from archiver.archive import Archive
from archiver.errors import ArchiverError, Interrupted, StoreError
from archiver.index.models import (
    Embed,
    Event,
    Media,
    Page,
    PageSnapshot,
    Placement,
    SidecarDebt,
    Sighting,
    iso,
    utcnow,
)
from archiver.index.records import placements_of, sighting_rows
from archiver.integrity.eventlog import (
    ChainReport,
    file_head,
    flush_log,
    log_path,
    record,
    verify_chain,
    witnessed_lines,
)
from archiver.integrity.readers import default_workers, run_parallel, sha256_file
from archiver.jsontext import printable
from archiver.store.layout import SIDECAR, Layout, pid_alive
from archiver.store.sidecar import (
    MEDIA_KEYS,
    PAGE_KEYS,
    PAGE_SCHEMA,
    PAGE_SCHEMA_VERSION,
    SCHEMA,
    SCHEMA_VERSION,
    companion_names,
    read_sidecar,
    unknown_keys,
)

Kind = Literal["missing", "corrupt", "orphan", "disagreement", "chain"]
KINDS: tuple[Kind, ...] = ("missing", "corrupt", "orphan", "disagreement", "chain")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX2 = re.compile(r"[0-9a-f]{2}")
_NOT_ADDRESS = "indexed path is not its content address"
EVENT_PROBLEMS = 20  # problems named in the fixity entry; the rest are counted
_BATCH = 500  # hashes per IN (...) query
_STREAMED_ROWS = 2000  # rows read at a time of the sightings' facts (their headers add up)
#: A full check goes through the archive in this many parts (`Part`), so what it holds
#: in memory at once is the index rows and results of one part, not of every file.
FULL_CHECK_PARTS = 16


@dataclass(frozen=True)
class Problem:
    kind: Kind
    sha256: str | None
    path: str | None  # absolute, as the filesystem has it
    detail: str

    @property
    def printable_path(self) -> str | None:
        """The path as reports, the log and a terminal can take it (`printable`)."""
        return None if self.path is None else printable(self.path)

    @property
    def printable_detail(self) -> str:
        """The detail as reports can take it: it may quote a name from the disk (a
        link's target) whose bytes are not UTF-8."""
        return printable(self.detail)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "sha256": self.sha256,
            "path": self.printable_path,
            "detail": self.printable_detail,
        }


@dataclass(frozen=True)
class Part:
    """Slice ``index`` of ``count``: the files whose SHA-256 starts with a byte that is
    ``index`` modulo ``count`` (a daily run of part ``day % 7`` of 7 covers all weekly)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"part {self.index} of {self.count} does not exist")

    def holds(self, sha256: str) -> bool:
        return int(sha256[:2], 16) % self.count == self.index


@dataclass
class FixityReport:
    scope: str  # "full", "sample of N", "part i/n"
    root: str
    problems: list[Problem] = field(default_factory=list)
    originals: int = 0  # originals checked
    pages: int = 0  # page snapshots checked
    files_hashed: int = 0
    bytes_hashed: int = 0
    seconds: float = 0.0
    chain: ChainReport = field(default_factory=ChainReport)
    event_seq: int | None = None  # the ``fixity`` entry recording this run
    witnessed_lines: int = 0  # the lines the previous check saw in the log file

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(p.kind for p in self.problems)
        return {kind: found[kind] for kind in KINDS}

    def summary(self) -> dict[str, Any]:
        """What the ``fixity`` entry records: counts and the first problems, paths relative."""
        root = printable(self.root).rstrip("/") + "/"
        named = []
        for p in self.problems[:EVENT_PROBLEMS]:
            path = p.printable_path
            named.append(
                {
                    "kind": p.kind,
                    "sha256": p.sha256,
                    "path": path[len(root) :] if path and path.startswith(root) else path,
                }
            )
        return {
            "ok": self.ok,
            "scope": self.scope,
            "originals": self.originals,
            "pages": self.pages,
            "bytes_hashed": self.bytes_hashed,
            "seconds": round(self.seconds, 3),
            "counts": self.counts,
            "problems": named,
            "chain": {
                "ok": self.chain.ok,
                "head_seq": self.chain.head_seq,
                # a witness for the next check; lines lost since the last one stay owed
                "file_lines": max(self.chain.file_lines, self.witnessed_lines),
            },
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "scope": self.scope,
            "root": printable(self.root),
            "originals": self.originals,
            "pages": self.pages,
            "files_hashed": self.files_hashed,
            "bytes_hashed": self.bytes_hashed,
            "seconds": round(self.seconds, 3),
            "counts": self.counts,
            "problems": [p.to_json() for p in self.problems],
            "chain": self.chain.to_json(),
            "event_seq": self.event_seq,
        }

    def lines(self) -> list[str]:
        """Human-readable report, one problem per line, for the CLI."""
        rate = self.bytes_hashed / self.seconds / 1e6 if self.seconds else 0.0
        out = [
            f"{p.kind:<12} {(p.sha256 or '-')[:16]:<16} {p.printable_path or '-'}  "
            f"({p.printable_detail})"
            for p in self.problems
        ]
        out.append(
            f"{'ok' if self.ok else 'PROBLEMS'}: {self.scope}, {self.originals} originals, "
            f"{self.pages} page snapshots, {self.bytes_hashed} bytes hashed in "
            f"{self.seconds:.1f} s ({rate:.0f} MB/s); event log: {self.chain.entries} entries, "
            f"{'intact' if self.chain.ok else 'BROKEN'}"
        )
        if not self.ok:
            counts = ", ".join(f"{n} {kind}" for kind, n in self.counts.items() if n)
            out.append(f"found: {counts}")
        return out


@dataclass(frozen=True)
class _Original:
    sha256: str
    md5: str
    size_bytes: int
    mime_type: str
    media_type: str
    path: str  # relative to the root
    sightings: int
    # name -> (sha256, size) of the files archiver placed beside it; None: not recorded
    companions: tuple[tuple[str, str, int], ...] | None = None
    first_captured_at: str | None = None
    # extractor, id, title, uploader and upload date
    platform: tuple[str | None, ...] = (None, None, None, None, None)
    provenance: str | None = None  # `facts_digest` of its sightings
    # the platform's upload moment and a digest of its metadata (`_platform_details`)
    uploaded_at: str | None = None
    platform_metadata: str | None = None


@dataclass(frozen=True)
class _Snapshot:
    sha256: str
    size_bytes: int
    path: str
    pages: int  # pages that served these bytes
    served: str | None = None  # `facts_digest` of each page's `_SERVED_FACTS`


@dataclass
class _Checked:
    problems: list[Problem]
    directory: Path
    names: set[str]  # files that belong in the directory
    hashed: int = 0


def verify_archive(
    archive: Archive,
    *,
    sample: int | None = None,
    part: Part | None = None,
    workers: int | None = None,
    record_event: bool = True,
    stop: threading.Event | None = None,
) -> FixityReport:
    """Check every stored original and page snapshot (or a random ``sample`` of the
    originals, or one ``part`` of everything), then the event chain; record the run.

    ``report.ok`` is False when anything is missing, corrupt, orphaned, disagrees
    between sidecar and database, or when the chain is broken. Setting ``stop``
    (default ``archive.stop``; the daemon passes its shutdown event) ends the run
    between two files with ``Interrupted``, and nothing is recorded.
    """
    if sample is not None and sample < 1:
        raise ArchiverError("--sample must be at least 1")
    started = time.monotonic()
    layout = archive.layout
    halt = stop or archive.stop
    if sample is not None:
        report = FixityReport(f"sample of {sample}", str(layout.root))
        originals, _ = _load(archive, _sampled(archive, sample))
        problems = _check_all(report, layout, originals, [], halt, workers).problems
    else:
        scope = "full" if part is None else f"part {part.index}/{part.count}"
        report = FixityReport(scope, str(layout.root))
        problems = []
        parts = [part] if part else [Part(i, FULL_CHECK_PARTS) for i in range(FULL_CHECK_PARTS)]
        for each in parts:
            originals, snapshots = _load(archive, part=each)
            checked = _check_all(report, layout, originals, snapshots, halt, workers)
            problems += checked.problems
            problems += _orphans(layout, layout.media_root, checked.allowed, each)
            problems += _orphans(layout, layout.pages_root, checked.allowed, each)
        problems += _unindexed(archive, part)
        if part is None or part.index == 0:
            problems += _stale_scratch(layout)
    problems = _recheck(archive, problems)

    with archive.read_session() as session:
        report.witnessed_lines = witnessed_lines(session) or 0
    problems += _lost_log_lines(archive, report.witnessed_lines)
    with contextlib.suppress(OSError, ArchiverError):
        flush_log(archive)  # on failure, the chain check below names what is wrong
    report.chain = verify_chain(archive)
    problems += _chain_problems(report.chain, layout)
    report.problems = sorted(problems, key=lambda p: (KINDS.index(p.kind), p.path or ""))
    report.seconds = time.monotonic() - started
    if record_event:
        report.event_seq = record(archive, "fixity", report.summary()).seq
    return report


@dataclass
class _Results:
    problems: list[Problem]
    allowed: dict[Path, set[str]]  # the names that belong in each object's folder


def _check_all(
    report: FixityReport,
    layout: Layout,
    originals: list[_Original],
    snapshots: list[_Snapshot],
    halt: threading.Event,
    workers: int | None,
) -> _Results:
    """Check these originals and snapshots (several threads) and count them in ``report``."""
    checks: list[Callable[[], _Checked]] = [
        *(lambda o=o: _check_original(layout, o) for o in originals),
        *(lambda s=s: _check_snapshot(layout, s) for s in snapshots),
    ]

    def run(check: Callable[[], _Checked]) -> _Checked:
        if halt.is_set():  # the daemon is shutting down: stop between files
            raise Interrupted("fixity check interrupted by shutdown; nothing recorded")
        return check()

    results = _Results([], {})
    for checked in run_parallel(checks, run, workers or default_workers()):
        results.problems += checked.problems
        results.allowed.setdefault(checked.directory, set()).update(checked.names)
        report.files_hashed += 1 if checked.hashed else 0
        report.bytes_hashed += checked.hashed
    report.originals += len(originals)
    report.pages += len(snapshots)
    return results


def _sampled(archive: Archive, size: int) -> set[str]:
    """The SHA-256s of ``size`` originals drawn at random (reservoir sampling: the
    index is read once, and only the sample is held)."""
    chance = random.SystemRandom()
    kept: list[str] = []
    with archive.read_session() as session:
        shas = session.scalars(select(Media.sha256).execution_options(yield_per=_BATCH))
        for seen, sha256 in enumerate(shas):
            if seen < size:
                kept.append(sha256)
            elif (slot := chance.randrange(seen + 1)) < size:
                kept[slot] = sha256
    return set(kept)


def due_part(
    archive: Archive, every_seconds: float, *, slices: int = 7, now: datetime | None = None
) -> Part | None:
    """The slice of the fixity cycle due now, or None when it already ran.

    The cycle (``[fixity] every``, a week by default) is cut into ``slices`` slots;
    in slot ``k`` the files of ``Part(k % slices, slices)`` are checked, so every
    file is re-hashed once per cycle and each day reads a seventh of the archive.
    Whether the slot's slice ran is read from the log's ``fixity`` entries, so a
    restart neither repeats nor skips it. Only entries dated inside the slot count: one
    recorded while the clock ran ahead (a bad step, an RTC reset to a later year) is
    no run of the slot the corrected clock is in.
    """
    moment = now or utcnow()
    slot_seconds = every_seconds / slices
    slot = int(moment.timestamp() // slot_seconds)
    part = Part(slot % slices, slices)
    slot_start = datetime.fromtimestamp(slot * slot_seconds, UTC)
    slot_end = datetime.fromtimestamp((slot + 1) * slot_seconds, UTC)
    with archive.read_session() as session:
        recent = session.scalars(
            select(Event.payload).where(
                Event.type == "fixity", Event.at >= slot_start, Event.at < slot_end
            )
        ).all()
    scope = f"part {part.index}/{part.count}"
    return None if any(p.get("scope") in (scope, "full") for p in recent) else part


#: First key of the PostgreSQL advisory lock a daemon holds while it checks a slice.
SLICE_LOCK = 727467


def run_due_slice(
    archive: Archive, every_seconds: float, stop: threading.Event | None = None
) -> FixityReport | None:
    """Check the slice due now (`due_part`), unless it ran or another daemon runs it.

    On PostgreSQL daemons sharing the database claim the slice with an advisory lock
    held while it runs, and look again once they hold it, so no two hash the same
    seventh of the archive. (On SQLite only one daemon opens an archive.)
    """
    part = due_part(archive, every_seconds)
    if part is None:
        return None
    with _slice_claimed(archive, part) as mine:
        if not mine or due_part(archive, every_seconds) != part:
            return None
        return verify_archive(archive, part=part, stop=stop)


@contextlib.contextmanager
def _slice_claimed(archive: Archive, part: Part) -> Iterator[bool]:
    if archive.engine.dialect.name != "postgresql":
        yield True
        return
    key = {"k": SLICE_LOCK, "part": part.index}
    with archive.engine.connect() as connection:
        mine = bool(connection.scalar(text("SELECT pg_try_advisory_lock(:k, :part)"), key))
        connection.commit()
        try:
            yield mine
        finally:
            if mine:
                connection.execute(text("SELECT pg_advisory_unlock(:k, :part)"), key)
                connection.commit()


# ---- what the index knows ---------------------------------------------------------------


def _load(
    archive: Archive, only: set[str] | None = None, part: Part | None = None
) -> tuple[list[_Original], list[_Snapshot]]:
    """Originals and distinct page snapshots as indexed: all, those in ``only``, or
    those of ``part`` (chosen by the database: the rows of other parts are not read)."""
    media_query = select(
        Media.id,
        Media.sha256,
        Media.md5,
        Media.size_bytes,
        Media.mime_type,
        Media.media_type,
        Media.path,
        Media.companions,
        Media.first_captured_at,
        Media.platform_extractor,
        Media.platform_id,
        Media.platform_title,
        Media.platform_uploader,
        Media.platform_upload_date,
        Media.platform_uploaded_at,
        Media.platform_metadata,
    )
    page_query = select(
        PageSnapshot.sha256, PageSnapshot.size_bytes, PageSnapshot.path, func.count()
    ).group_by(PageSnapshot.sha256, PageSnapshot.size_bytes, PageSnapshot.path)
    scopes: list[_Scope]
    if only is not None:
        wanted = sorted(only)
        scopes = [_among(wanted[i : i + _BATCH]) for i in range(0, len(wanted), _BATCH)]
    else:
        scopes = [_everything if part is None else functools.partial(_in_part, part=part)]
    originals: list[_Original] = []
    snapshots: set[_Snapshot] = set()
    with archive.read_session() as session:
        for scope in scopes:
            seen = _sighting_facts(session, select(Media.id).where(scope(Media.sha256)))
            for row in session.execute(media_query.where(scope(Media.sha256))):
                sightings, provenance = seen.get(row[0], _UNSEEN)
                platform = (*row[9:13], row[13].isoformat() if row[13] else None)
                originals.append(
                    _Original(
                        sha256=row.sha256,
                        md5=row.md5,
                        size_bytes=row.size_bytes,
                        mime_type=row.mime_type,
                        media_type=row.media_type,
                        path=row.path,
                        sightings=sightings,
                        companions=_recorded(row[7]),
                        first_captured_at=iso(row[8]),
                        platform=platform if row[9] else _NO_PLATFORM,
                        provenance=provenance,
                        uploaded_at=iso(row[14]) if row[9] else None,
                        platform_metadata=_metadata_digest(row[15] or {}) if row[9] else None,
                    )
                )
            served = _served_digests(session, scope)
            snapshots.update(
                _Snapshot(*row, served=served.get(row[0]))
                for row in session.execute(page_query.where(scope(PageSnapshot.sha256)))
            )
    return originals, sorted(snapshots, key=str)


#: Which rows of a SHA-256 column a query reads.
_Scope = Callable[[Any], ColumnElement[bool]]


def _everything(column: Any) -> ColumnElement[bool]:
    return true()


def _among(shas: list[str]) -> _Scope:
    return lambda column: column.in_(shas)


def _in_part(column: Any, part: Part) -> ColumnElement[bool]:
    """Whether a SHA-256 column's value is in ``part`` (`Part.holds`, in SQL)."""
    prefixes = [f"{byte:02x}" for byte in range(256) if byte % part.count == part.index]
    return func.substr(column, 1, 2).in_(prefixes)


#: What a sighting says in the sidecar and verify holds against the index.
# Not the page's title: it follows the page, and the sidecars of archives made before
# a feed's retitling reached them (2026-11-26) may trail it.
_SIGHTING_FACTS = (
    "page_url", "update", "context", "embed_url", "embed_original_url", "media_url",
    "first_seen_at", "acquisition.tool", "found_in", "posted_at", "last_seen_at",
    "acquisition.tool_version", "acquisition.archiver_version", "acquisition.http_status",
    "acquisition.response_headers", "acquisition.reused_from", "other_placements",
)  # fmt: skip
_PLATFORM_FACTS = ("extractor", "id", "title", "uploader", "upload_date")
_NO_PLATFORM: tuple[None, ...] = (None,) * len(_PLATFORM_FACTS)


def facts_digest(rows: Iterable[Iterable[object]]) -> str:
    """One digest of rows of facts, in any order: a file's sightings (`_SIGHTING_FACTS`:
    where, in which update, with what context, through which address, by which tool
    and since when it was seen), or the pages that served a version (`_SERVED_FACTS`)."""
    lines = sorted(json.dumps(list(row), ensure_ascii=False, sort_keys=True) for row in rows)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


#: A file no sighting names: none, and the digest of none.
_UNSEEN = (0, facts_digest([]))


def _digests_by_first(
    session: Session, query: Executable, facts: Callable[[list[Any]], list[list[object]]]
) -> dict[Any, tuple[int, str]]:
    """How many of ``query``'s rows there are and the `facts_digest` of the ``facts``
    of each group of rows, by their first column (the query orders by it)."""
    digests: dict[Any, tuple[int, str]] = {}
    streamed = session.execute(query, execution_options={"yield_per": _STREAMED_ROWS})
    for key, group in itertools.groupby(streamed, key=lambda row: row[0]):
        rows = list(group)
        digests[key] = (len(rows), facts_digest(facts(rows)))
    return digests


def _sighting_facts(session: Session, media_ids: Select[Any]) -> dict[int, tuple[int, str]]:
    """Each file's number of sightings in the index and their `facts_digest`, for the
    files ``media_ids`` selects: the facts of `_SIGHTING_FACTS`, as the sidecar writes
    them (a shared download as the page, address and time of the file's sighting
    whose download it shares)."""
    query = sighting_rows(
        Sighting.media_id,
        Sighting.id,
        Sighting.reused_from_id,
        Page.url,
        Embed.update_label,
        Embed.context,
        Embed.url,
        Embed.original_url,
        Sighting.media_url,
        Sighting.first_seen_at,
        Sighting.tool,
        Embed.found_in,
        Embed.posted_at,
        Sighting.last_seen_at,
        Sighting.tool_version,
        Sighting.archiver_version,
        Sighting.http_status,
        Sighting.response_headers,
        Embed.embed_metadata,
    )
    query = query.where(Sighting.media_id.in_(media_ids)).order_by(Sighting.media_id)

    def facts(rows: list[Any]) -> list[list[object]]:
        shared = {
            row[1]: {"page_url": row[3], "embed_url": row[6], "first_seen_at": iso(row[9])}
            for row in rows
        }
        return [
            [
                *row[3:9], iso(row[9]), row[10], row[11], iso(row[12]), iso(row[13]),
                *row[14:18], shared.get(row[2] or 0), placements_of(row[18]),
            ]
            for row in rows
        ]  # fmt: skip

    return _digests_by_first(session, query, facts)


#: What each page that served a version says in its sidecar and the index alike (its
#: headers and last fetch time change with every fetch, and are not held against it).
_SERVED_FACTS = ("url", "final_url", "http_status", "first_fetched_at")


def _served_digests(session: Session, scope: _Scope) -> dict[str, str]:
    """`facts_digest` of the `_SERVED_FACTS` of the pages that served each version
    (those whose SHA-256 is in ``scope``)."""
    query = (
        select(
            PageSnapshot.sha256,
            Page.url,
            PageSnapshot.final_url,
            PageSnapshot.http_status,
            PageSnapshot.first_fetched_at,
        )
        .join(Page, Page.id == PageSnapshot.page_id)
        .order_by(PageSnapshot.sha256)
    )
    digests = _digests_by_first(
        session, query, lambda rows: [[*row[1:4], iso(row[4])] for row in rows]
    )
    return {sha256: digest for sha256, (_, digest) in digests.items()}


def _recorded(companions: object) -> tuple[tuple[str, str, int], ...] | None:
    """The index's companions as (name, sha256, size); None when not recorded. A value
    not of the shape archiver writes is kept as a companion that matches no file."""
    if not isinstance(companions, dict):
        return None
    recorded = []
    for name, facts in sorted(companions.items()):
        digest = facts.get("sha256") if isinstance(facts, dict) else None
        size = facts.get("size_bytes") if isinstance(facts, dict) else None
        recorded.append((name, str(digest), size if isinstance(size, int) else -1))
    return tuple(recorded)


# ---- one stored object ------------------------------------------------------------------


def _linked(path: Path, sha256: str, what: str) -> Problem | None:
    """A symbolic link where a stored file belongs, as a problem: whatever it points at,
    the archive no longer holds the bytes (and `export` refuses it)."""
    if not path.is_symlink():
        return None
    try:
        target = os.readlink(path)
    except OSError as exc:
        target = f"unreadable: {exc.strerror}"
    detail = f"{what} is a symbolic link (to {target}), not the stored file"
    return Problem("corrupt", sha256, str(path), detail)


def _hash_check(path: Path, sha256: str, size_bytes: int, what: str) -> tuple[list[Problem], int]:
    """Missing or corrupt (a link, the size, then the streamed SHA-256); bytes hashed."""
    where = str(path)
    if linked := _linked(path, sha256, what):
        return [linked], 0
    try:
        stat = path.stat()
    except FileNotFoundError:
        return [Problem("missing", sha256, where, f"{what} is missing")], 0
    except OSError as exc:  # a bad sector, a permission: name the file, check the rest
        return [Problem("corrupt", sha256, where, f"{what} is unreadable: {exc.strerror}")], 0
    if not path.is_file():
        return [Problem("corrupt", sha256, where, f"{what} is not a regular file")], 0
    if stat.st_size != size_bytes:
        detail = f"{what} has {stat.st_size} bytes, {size_bytes} recorded"
        return [Problem("corrupt", sha256, where, detail)], 0
    try:
        digest, read = sha256_file(path)
    except OSError as exc:
        return [Problem("corrupt", sha256, where, f"{what} is unreadable: {exc.strerror}")], 0
    if digest != sha256:
        detail = f"{what}'s bytes changed: sha256 on disk is {digest}"
        return [Problem("corrupt", sha256, where, detail)], read
    return [], read


def _read_sidecar(path: Path, sha256: str) -> tuple[dict[str, Any] | None, list[Problem]]:
    if linked := _linked(path, sha256, "sidecar"):
        return None, [linked]
    try:
        document = read_sidecar(path)
    except FileNotFoundError:
        return None, [Problem("missing", sha256, str(path), "sidecar is missing")]
    except (OSError, ValueError) as exc:
        return None, [Problem("corrupt", sha256, str(path), f"sidecar is unreadable: {exc}")]
    return document, []


def _disagree(
    sha256: str, path: Path, pairs: Iterable[tuple[str, object, object]]
) -> list[Problem]:
    return [
        Problem(
            "disagreement", sha256, str(path), f"{name}: sidecar {said!r}, database {known!r}"[:500]
        )
        for name, said, known in pairs
        if said != known or type(said) is not type(known)  # 1.0 or true is not 1
    ]


def _check_placed(
    path: Path, home: Path, sha256: str, size_bytes: int, what: str, rehash: bool
) -> tuple[list[Problem], dict[str, Any] | None, int]:
    """What every stored file owes: its content address, its bytes (when rehashing)
    and a readable sidecar. Returns the problems, the sidecar and the bytes hashed."""
    problems: list[Problem] = []
    hashed = 0
    if path.parent != home:
        problems.append(Problem("disagreement", sha256, str(path), _NOT_ADDRESS))
    if linked := _linked(path, sha256, what):
        problems.append(linked)
    elif rehash:
        found, hashed = _hash_check(path, sha256, size_bytes, what)
        problems += found
    document, unreadable = _read_sidecar(path.parent / SIDECAR, sha256)
    return problems + unreadable, document, hashed


def _check_original(layout: Layout, known: _Original, *, rehash: bool = True) -> _Checked:
    path = layout.absolute(known.path)
    directory, sidecar = path.parent, path.parent / SIDECAR
    problems, document, hashed = _check_placed(
        path, layout.media_dir(known.sha256), known.sha256, known.size_bytes, "original", rehash
    )
    names = {path.name, SIDECAR}
    if document is not None:
        given = document.get("file")
        facts: dict[str, Any] = given if isinstance(given, dict) else {}
        sightings = document.get("sightings")
        problems += _disagree(
            known.sha256,
            sidecar,
            [
                ("schema", document.get("schema"), SCHEMA),
                ("schema_version", document.get("schema_version"), SCHEMA_VERSION),
                ("file.name", facts.get("name"), path.name),
                ("file.sha256", facts.get("sha256"), known.sha256),
                ("file.md5", facts.get("md5"), known.md5),
                ("file.size_bytes", facts.get("size_bytes"), known.size_bytes),
                ("file.mime_type", facts.get("mime_type"), known.mime_type),
                ("file.media_type", facts.get("media_type"), known.media_type),
                (
                    "sightings (count)",
                    len(sightings) if isinstance(sightings, list) else _not_a_list(sightings),
                    known.sightings,
                ),
                (
                    "companion_digests",
                    _recorded(document.get("companion_digests")),
                    known.companions,
                ),
                ("first_captured_at", document.get("first_captured_at"), known.first_captured_at),
                ("platform", _platform_of(document), known.platform),
            ],
        )
        if isinstance(sightings, list) and len(sightings) == known.sightings:
            said = [
                [_fact(sighting, fact) for fact in _SIGHTING_FACTS]
                for sighting in sightings
                if isinstance(sighting, dict)
            ]
            if facts_digest(said) != known.provenance:
                detail = (
                    "sightings: a page, update, context, address, tool, status or time "
                    "in the sidecar is not the database's"
                )
                problems.append(Problem("disagreement", known.sha256, str(sidecar), detail))
        problems += _platform_details(known, sidecar, document)
        problems += _unwritten_keys(known.sha256, sidecar, document, MEDIA_KEYS)
    if known.companions is not None:
        found, companions, read = _check_recorded_companions(
            known.sha256, known.companions, directory, document, rehash
        )
        hashed += read
    else:
        found, companions = _check_listed_companions(known.sha256, directory, document)
    return _Checked(problems + found, directory, names | companions, hashed)


def _fact(sighting: dict[str, Any], name: str) -> object:
    """A sighting's fact by its dotted name (``acquisition.tool``); other placements
    are none in a sidecar written before it listed them."""
    value: object = sighting
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return [] if value is None and name == "other_placements" else value


def _platform_of(document: dict[str, Any]) -> tuple[object, ...]:
    """A sidecar's platform facts (`_PLATFORM_FACTS`; all None without a platform)."""
    platform = document.get("platform")
    if not isinstance(platform, dict):
        return _NO_PLATFORM if platform is None else (platform,) * len(_PLATFORM_FACTS)
    return tuple(platform.get(fact) for fact in _PLATFORM_FACTS)


def _unwritten_keys(
    sha256: str, sidecar: Path, document: dict[str, Any], written: dict[str, frozenset[str]]
) -> list[Problem]:
    """The keys of a sidecar archiver does not write, as one disagreement."""
    unknown = unknown_keys(document, written)
    if not unknown:
        return []
    detail = f"keys archiver does not write: {', '.join(unknown)}"[:500]
    return [Problem("disagreement", sha256, str(sidecar), detail)]


def _not_a_list(value: object) -> str:
    return f"a {type(value).__name__}, not a list"


def _metadata_digest(metadata: object) -> str:
    """A platform's metadata, in short: a dict read from JSON, in any key order."""
    encoded = json.dumps(metadata, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(encoded.encode()).hexdigest()


def _platform_details(known: _Original, sidecar: Path, document: dict[str, Any]) -> list[Problem]:
    """The platform's upload moment and metadata in the sidecar against the index's.
    A sidecar written before the moment was kept (migration 0010) has no
    ``uploaded_at`` at all: only a sidecar that names one is held to it."""
    platform = document.get("platform")
    if known.platform_metadata is None and platform is not None:
        if _platform_of(document) != _NO_PLATFORM:
            return []  # its facts are not the database's none: `platform` says so
        detail = "platform: the sidecar names one, the database none"
        return [Problem("disagreement", known.sha256, str(sidecar), detail)]
    if not isinstance(platform, dict) or known.platform_metadata is None:
        return []  # none on either side, or not the same: `platform` says so
    uploaded_at = platform.get("uploaded_at", known.uploaded_at)
    if (
        _metadata_digest(platform.get("metadata")) == known.platform_metadata
        and uploaded_at == known.uploaded_at
    ):
        return []
    detail = "platform: its upload moment or metadata in the sidecar is not the database's"
    return [Problem("disagreement", known.sha256, str(sidecar), detail)]


def _listed(
    sha256: str, sidecar: Path, document: dict[str, Any]
) -> tuple[list[object], list[Problem]]:
    """What the sidecar lists under ``companion_files``, or the problem with that list."""
    try:
        return companion_names(document), []
    except ValueError as exc:
        return [], [Problem("disagreement", sha256, str(sidecar), str(exc))]


def _check_recorded_companions(
    sha256: str,
    recorded: tuple[tuple[str, str, int], ...],
    directory: Path,
    document: dict[str, Any] | None,
    rehash: bool,
) -> tuple[list[Problem], set[str], int]:
    """Companions the index records: each there with its recorded bytes (when
    rehashing), and the sidecar listing exactly them. Returns the problems, the
    companions' names and the bytes hashed."""
    names = [name for name, _, _ in recorded]
    sidecar = directory / SIDECAR
    problems: list[Problem] = []
    if document is not None:
        listed, problems = _listed(sha256, sidecar, document)
        if not problems and listed != names:
            problems += _disagree(sha256, sidecar, [("companion_files", listed, names)])
    hashed = 0
    for name, digest, size in recorded:
        what = f"companion file {name!r}"
        if rehash:
            found, read = _hash_check(directory / name, digest, size, what)
            problems += [replace(problem, sha256=sha256) for problem in found]
            hashed += read
        elif linked := _linked(directory / name, sha256, what):
            problems.append(linked)
        elif not (directory / name).is_file():
            problems.append(Problem("missing", sha256, str(directory / name), f"{what} is missing"))
    return problems, set(names), hashed


def _check_listed_companions(
    sha256: str, directory: Path, document: dict[str, Any] | None
) -> tuple[list[Problem], set[str]]:
    """Companions of a file indexed before they were recorded: what its sidecar lists,
    each a plain name and there."""
    if document is None:
        return [], set()
    listed, problems = _listed(sha256, directory / SIDECAR, document)
    names: set[str] = set()
    for name in listed:
        if not isinstance(name, str) or "/" in name or name in ("", ".", ".."):
            detail = f"bad companion {name!r}"
            problems.append(Problem("disagreement", sha256, str(directory / SIDECAR), detail))
            continue
        names.add(name)
        if linked := _linked(directory / name, sha256, f"companion file {name!r}"):
            problems.append(linked)
        elif not (directory / name).is_file():
            detail = "companion file listed by the sidecar is missing"
            problems.append(Problem("missing", sha256, str(directory / name), detail))
    return problems, names


def _check_snapshot(layout: Layout, known: _Snapshot, *, rehash: bool = True) -> _Checked:
    path = layout.absolute(known.path)
    problems, document, hashed = _check_placed(
        path, layout.page_dir(known.sha256), known.sha256, known.size_bytes, "page snapshot", rehash
    )
    if document is not None:
        problems += _disagree(
            known.sha256,
            path.parent / SIDECAR,
            [
                ("schema", document.get("schema"), PAGE_SCHEMA),
                ("sha256", document.get("sha256"), known.sha256),
                ("size_bytes", document.get("size_bytes"), known.size_bytes),
            ],
        )
        sidecar = path.parent / SIDECAR
        version = document.get("schema_version")
        if version not in (1, PAGE_SCHEMA_VERSION) or type(version) is not int:
            detail = f"schema_version: sidecar {version!r}, archiver writes 1 or 2"
            problems.append(Problem("disagreement", known.sha256, str(sidecar), detail))
        elif version == PAGE_SCHEMA_VERSION:
            problems += _unwritten_keys(known.sha256, sidecar, document, PAGE_KEYS)
        # version 1 described one page, at the top level: held to it as to a list of one
        pages = [document] if document.get("schema_version") == 1 else document.get("pages")
        listed = len(pages) if isinstance(pages, list) else pages
        problems += _disagree(
            known.sha256, path.parent / SIDECAR, [("pages (count)", listed, known.pages)]
        )
        said = [
            [page.get(fact) for fact in _SERVED_FACTS]
            for page in (pages if isinstance(pages, list) else [])
            if isinstance(page, dict)
        ]
        if listed == known.pages and facts_digest(said) != known.served:
            detail = (
                "pages: an address, where it led, its status or first fetch time in the "
                "sidecar is not the database's"
            )
            problems.append(
                Problem("disagreement", known.sha256, str(path.parent / SIDECAR), detail)
            )
    return _Checked(problems, path.parent, {path.name, SIDECAR}, hashed)


# ---- what the log records ---------------------------------------------------------------


def _unindexed(archive: Archive, part: Part | None) -> list[Problem]:
    """Originals and page versions whose capture the log records and the index no
    longer has (all, or those of ``part``). Archiver never removes either row, so one
    gone is evidence gone: with its folder removed too, nothing else would notice."""
    layout = archive.layout
    scope = _everything if part is None else functools.partial(_in_part, part=part)
    found: list[Problem] = []
    with archive.read_session() as session:
        for kind, sha256, indexed, home in (
            ("capture", Event.media_sha256, Media.sha256, layout.media_dir),
            ("page", _payload_sha256(session), PageSnapshot.sha256, layout.page_dir),
        ):
            query = (
                select(sha256, func.min(Event.seq))
                .where(Event.type == kind, scope(sha256))
                .where(~select(indexed).where(indexed == sha256).exists())
                .group_by(sha256)
                .order_by(sha256)
                .execution_options(yield_per=_BATCH)
            )
            for sha, seq in session.execute(query):
                if sha is None or not _HEX64.fullmatch(sha):
                    continue  # no entry archiver writes: if altered, the chain check says
                folder = home(sha)
                held = (
                    "the index has none" if folder.exists() else "the index and the disk have none"
                )
                detail = f"the log records its capture (entry {seq}); {held}"
                found.append(Problem("missing", sha, str(folder), detail))
    return found


def _payload_sha256(session: Session) -> ColumnElement[str]:
    """A ``page`` entry's ``payload.sha256``, in SQL (its only record of the version).
    SQLite keeps payloads as text an edit can break, which it refuses to read into:
    such an entry (`not_json`, a chain break) gives NULL."""
    sha256: ColumnElement[str] = Event.payload["sha256"].as_string()
    if session.get_bind().dialect.name != "sqlite":
        return sha256
    return case((func.json_valid(Event.payload) == 1, sha256))


# ---- what nobody indexed ----------------------------------------------------------------


def _owner(directory: Path) -> str | None:
    """The SHA-256 a folder under media/ or pages/ is named by, if any."""
    for part in reversed(directory.parts):
        if _HEX64.fullmatch(part):
            return part
    return None


def _orphans(
    layout: Layout, top: Path, allowed: dict[Path, set[str]], part: Part | None
) -> list[Problem]:
    """Files (and symlinks) under ``top`` that are not a known object or its companions."""
    found: list[Problem] = []
    if not top.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(top):
        directory = Path(dirpath)
        if directory == top and part is not None:
            dirnames[:] = [
                d
                for d in dirnames
                if (_HEX2.fullmatch(d) and int(d, 16) % part.count == part.index)
                or (not _HEX2.fullmatch(d) and part.index == 0)
            ]
            if part.index != 0:
                filenames = []
        links = [d for d in dirnames if (directory / d).is_symlink()]
        names = allowed.get(directory, set())
        known = directory in allowed
        for name in sorted([*filenames, *links]):
            if name in names:
                continue
            detail = "not listed in the sidecar" if known else "not known to the index"
            sha = _owner(directory)
            found.append(Problem("orphan", sha, str(directory / name), detail))
    return found


def _stale_scratch(layout: Layout) -> list[Problem]:
    """Scratch under tmp/ that no running process of this host owns."""
    found: list[Problem] = []
    if not layout.tmp_root.is_dir():
        return found
    host = socket.gethostname()
    for entry in sorted(layout.tmp_root.iterdir()):
        owner_host, _, pid = entry.name.rpartition("-")
        if entry.is_dir() and not entry.is_symlink() and pid.isdecimal():
            if owner_host == host and not pid_alive(int(pid)):
                detail = "scratch of a process that no longer runs"
                found.append(Problem("orphan", None, str(entry), detail))
            continue
        found.append(Problem("orphan", None, str(entry), "not a process's scratch folder"))
    return found


def _recheck(archive: Archive, problems: list[Problem]) -> list[Problem]:
    """Look again at disagreements and orphans of named objects before reporting them.

    A capture running meanwhile places a file before indexing it and writes the
    sidecar after: for a moment a new file looks orphaned, has no sidecar yet, or a
    new sighting is not yet in it. The second look, with fresh index rows, settles
    those.
    """
    settling = ("orphan", "disagreement", "missing sidecar")
    suspects = {p.sha256 for p in problems if _settling(p) in settling and p.sha256}
    if not suspects:
        return problems
    _wait_for_writers(archive, suspects)
    layout = archive.layout
    originals, snapshots = _load(archive, suspects)
    second: list[Problem] = []
    allowed: dict[Path, set[str]] = {}
    for checked in [
        *(_check_original(layout, o, rehash=False) for o in originals),
        *(_check_snapshot(layout, s, rehash=False) for s in snapshots),
    ]:
        second += [p for p in checked.problems if _settling(p) in settling[1:]]
        allowed.setdefault(checked.directory, set()).update(checked.names)
    for problem in problems:
        if problem.kind == "orphan" and problem.sha256 in suspects and problem.path:
            path = Path(problem.path)
            if path.name not in allowed.get(path.parent, set()) and (
                path.exists() or path.is_symlink()
            ):
                second.append(problem)
    kept = [p for p in problems if not (_settling(p) in settling and p.sha256 in suspects)]
    return kept + second


#: How long a check waits for the writers of files it found out of step (see `_owed`).
SETTLE_SECONDS = 10.0


def _wait_for_writers(archive: Archive, sha256s: set[str]) -> None:
    """Wait, up to `SETTLE_SECONDS`, until none of these is being written. Many
    captures at once wait their turn on a folder's lock, so a second look straight
    away found sidecars still a few sightings behind (verify exited 1, an export was
    refused, while captures ran). What a crash left owed stays owed: it is reported,
    after the wait, as before."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while _owed(archive, sha256s) and time.monotonic() < deadline:
        time.sleep(0.2)


def _owed(archive: Archive, sha256s: set[str]) -> set[str]:
    """Which of these files and page versions the index says are being written: a
    placement not yet indexed, or a sidecar owed a rewrite."""
    wanted = sorted(sha256s)
    owed: set[str] = set()
    with archive.read_session() as session:
        for start in range(0, len(wanted), _BATCH):
            batch = wanted[start : start + _BATCH]
            owed.update(
                session.scalars(select(Placement.sha256).where(Placement.sha256.in_(batch)))
            )
            owed.update(
                session.scalars(
                    select(Media.sha256)
                    .join(SidecarDebt, SidecarDebt.media_id == Media.id)
                    .where(Media.sha256.in_(batch))
                )
            )
            owed.update(
                s
                for s in session.scalars(
                    select(SidecarDebt.page_sha256).where(SidecarDebt.page_sha256.in_(batch))
                )
                if s
            )
    return owed


def sidecar_problems(archive: Archive, only: set[str] | None = None) -> list[Problem]:
    """What is wrong with the sidecars of the stored files and page versions (all, or
    those whose SHA-256 is in ``only``): missing, unreadable, or not saying what the
    index says. Only sidecars are read; after a second look, as in `verify_archive`,
    so a capture writing a sidecar right now is not taken for a problem. All of them
    are read a part at a time, as a full check does."""
    layout = archive.layout
    loads = (
        [_load(archive, only)]
        if only is not None
        else (_load(archive, part=Part(i, FULL_CHECK_PARTS)) for i in range(FULL_CHECK_PARTS))
    )
    problems = [
        problem
        for originals, snapshots in loads
        for checked in [
            *(_check_original(layout, o, rehash=False) for o in originals),
            *(_check_snapshot(layout, s, rehash=False) for s in snapshots),
        ]
        for problem in checked.problems
        if _of_sidecar(problem)
    ]
    return [problem for problem in _recheck(archive, problems) if _of_sidecar(problem)]


def _of_sidecar(problem: Problem) -> bool:
    return problem.path is not None and Path(problem.path).name == SIDECAR


def _settling(problem: Problem) -> str:
    """The kind of problem a capture in progress can cause for a moment, if it is one."""
    if problem.kind == "missing" and problem.path and problem.path.endswith(SIDECAR):
        return "missing sidecar"  # indexed a moment before its sidecar is written
    return problem.kind


def _lost_log_lines(archive: Archive, seen: int) -> list[Problem]:
    """The log file must still hold the lines the last check saw in it.

    A flush writes a missing tail from the database, as it must after a crash (the
    file lags the commits); but lines a check has seen in the file were there, and a
    file that lost them was cut or replaced. Without this, deleting the file would
    let a database rewritten whole pass as intact; and a flush does not refill such a
    file (`flush_log`), so this is named at every check until the file is restored,
    or rebuilt on purpose (``verify --rebuild-log``, itself a log entry).
    """
    if not seen:
        return []  # no check recorded it yet (archives from before this was kept)
    try:
        held = file_head(archive.layout)
    except StoreError:
        return []  # not a regular file: the chain check names it
    if held >= seen:
        return []
    path = str(log_path(archive.layout))
    why = (
        f"the log file ends at entry {held} but held {seen} entries at the last check:"
        " lines were removed or the file was replaced"
    )
    return [Problem("chain", None, path, why)]


def _chain_problems(chain: ChainReport, layout: Layout) -> list[Problem]:
    problems = [
        Problem(
            "chain",
            None,
            chain.path if b.where == "file" else None,
            f"{b.where} entry {b.seq}: {b.why}",
        )
        for b in chain.breaks
    ]
    problems += [
        Problem("chain", None, str(layout.absolute(t.path)), f"timestamp of entry {t.seq}: {t.why}")
        for t in chain.timestamps
        if not t.ok
    ]
    return problems


__all__ = ["KINDS", "FixityReport", "Part", "Problem", "due_part", "verify_archive"]
