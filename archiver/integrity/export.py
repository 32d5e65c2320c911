"""Export: the selected evidence as a BagIt bag a court or a repository can take as is.

The bag holds the originals with their sidecars and companion files, every stored
version of the pages they were seen on, the log entries about them and the log's
head (so a reader can check the entries against the full log and its timestamp),
plus ``export.json`` and ``README.txt`` describing all of it. The archive is only
read: every file is copied and checked against its content address on the way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeGuard

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from archiver import __version__
from archiver.archive import Archive
from archiver.errors import ArchiverError, StoreError
from archiver.index.models import DuplicatePair, Embed, Event, Media, Page, Sighting, iso
from archiver.integrity.bag import BagWriter, ExportError, serialize_zip
from archiver.integrity.canonical import format_time
from archiver.integrity.eventlog import (
    GENESIS,
    content_problem,
    entry_of,
    file_lines,
    flush_log,
    head,
    line_of,
    not_json,
    record,
)
from archiver.integrity.fixity import sidecar_problems
from archiver.jsontext import printable
from archiver.search import SearchQuery
from archiver.stopping import signals_held
from archiver.store.layout import SIDECAR, Layout
from archiver.store.sidecar import companion_names, read_sidecar

_CHUNK = 500  # hashes per IN (...) query
_REWRITE = "`archiver verify --rewrite-sidecars` writes it again from the index"


@dataclass
class ExportReport:
    path: Path  # the bag directory, or the .zip
    zipped: bool
    query: str
    media: int = 0
    pages: int = 0
    files: int = 0  # payload files
    bytes: int = 0  # payload octets
    events: int = 0  # log entries included
    manifest_sha256: str = ""
    tagmanifest_sha256: str = ""
    event_seq: int | None = None  # the ``export`` entry recording it

    def to_json(self) -> dict[str, Any]:
        return {
            "path": printable(self.path),
            "zip": self.zipped,
            "query": self.query,
            "media": self.media,
            "pages": self.pages,
            "files": self.files,
            "bytes": self.bytes,
            "events": self.events,
            "manifest_sha256": self.manifest_sha256,
            "tagmanifest_sha256": self.tagmanifest_sha256,
            "event_seq": self.event_seq,
        }


def describe(query: SearchQuery) -> str:
    """The selection in words, for bag-info.txt and the ``export`` entry."""
    parts = []
    if query.sha256:
        parts.append(f"sha256 {'=' if len(query.sha256) == 64 else 'starts with'} {query.sha256}")
    if query.md5:
        parts.append(f"md5 {'=' if len(query.md5) == 32 else 'starts with'} {query.md5}")
    if query.since:
        parts.append(f"captured at or after {iso(query.since)}")
    if query.until:
        parts.append(f"captured before {iso(query.until)}")
    if query.page:
        parts.append(f"seen on {query.page}")
    if query.text:
        parts.append(f"words {query.text!r}")
    if query.upload_since:
        parts.append(f"uploaded to its platform on or after {query.upload_since.isoformat()}")
    if query.upload_until:
        parts.append(f"uploaded to its platform on or before {query.upload_until.isoformat()}")
    return "; ".join(parts) if parts else "every stored file"


@dataclass
class _Plan:
    """What goes into the bag, gathered in one read transaction before any copying."""

    media: list[dict[str, Any]] = field(default_factory=list)
    pages: dict[str, dict[str, Any]] = field(default_factory=dict)  # by snapshot sha256
    lines: list[bytes] = field(default_factory=list)
    # each line the bag carries, the head's too, by seq: the log file's, byte for byte
    in_file: dict[int, bytes] = field(default_factory=dict)
    head: dict[str, Any] = field(default_factory=dict)
    token: str | None = None  # relative path of the newest timestamp token
    token_entry: int | None = None  # the ``timestamp`` entry recording it
    token_sha256: str | None = None  # the token's SHA-256, as that entry records it
    # the SHA-256 the index records for each companion file, by its relative path
    companion_sha256: dict[str, str] = field(default_factory=dict)


def export_bag(
    archive: Archive,
    query: SearchQuery,
    out: Path,
    *,
    zip: bool = False,
    organization: str | None = None,
) -> ExportReport:
    """Write the files ``query`` selects (no limit) as a bag at ``out`` (or ``out.zip``)
    and record an ``export`` entry. ``out`` must be new or empty and outside the archive."""
    out = out.absolute()
    target = out.with_name(out.name + ".zip") if zip else out
    _check_destination(archive.layout, out, target if zip else None)
    description = describe(query)
    with archive.read_session() as session:
        plan = _plan(session, archive.layout, query)
    with contextlib.suppress(OSError, ArchiverError):
        flush_log(archive)  # each entry the plan read was committed: now it is in the file
    if not plan.media:
        raise ExportError(f"nothing to export: no stored file matches ({description})")
    _check_sidecars(archive, plan)

    existed = out.exists()
    # a bag is whole and recorded in the log, or not there: Ctrl-C or SIGTERM is held
    # back while the entry is recorded, so once it is committed the bag stays (a signal
    # then ends the command, after), and before, both go
    recorded = False
    try:
        try:
            report, payload = _write(archive, plan, description, out, target, existed, organization)
        except OSError as exc:  # the folder cannot be made: under a file, in /proc
            raise ExportError(f"cannot write {printable(out)}: {exc.strerror or exc}") from None
        with signals_held():
            report.event_seq = record(archive, "export", payload).seq
            recorded = True
    except BaseException:
        if not recorded:
            _discard(out, existed, target)
        raise
    return report


def _discard(out: Path, existed: bool, target: Path) -> None:
    """Remove what an export left of its bag: the folder's contents (the folder too
    when it made it) and the zip (new: `_check_destination` saw none)."""
    _clear(out, existed)
    if target != out:
        target.unlink(missing_ok=True)


def _write(
    archive: Archive,
    plan: _Plan,
    description: str,
    out: Path,
    target: Path,
    existed: bool,
    organization: str | None,
) -> tuple[ExportReport, dict[str, Any]]:
    """The bag at ``out``, serialized to ``target`` when that is another (a zip), and
    the payload of its ``export`` entry."""
    zip = target != out
    writer = BagWriter(out)
    _fill(writer, archive.layout, plan, description)
    info = _bag_info(plan, description, organization or _configured_organization(archive))
    manifest_sha256, tagmanifest_sha256 = writer.finish(info)
    if zip:
        serialize_zip(out, target)
        _clear(out, existed)
    report = ExportReport(
        path=target,
        zipped=zip,
        query=description,
        media=len(plan.media),
        pages=len(plan.pages),
        files=len(writer.manifest),
        bytes=writer.octets,
        events=len(plan.lines),
        manifest_sha256=manifest_sha256,
        tagmanifest_sha256=tagmanifest_sha256,
    )
    payload = {
        "bag": printable(target.name),
        "zip": zip,
        "query": description,
        "media": report.media,
        "pages": report.pages,
        "files": report.files,
        "bytes": report.bytes,
        "log_head_seq": plan.head["seq"],
        "manifest_sha256": manifest_sha256,
        "tagmanifest_sha256": tagmanifest_sha256,
    }
    return report, payload


def _check_sidecars(archive: Archive, plan: _Plan) -> None:
    """A bag must not carry a sidecar the index contradicts: the reader would have two
    accounts of one file and no way to tell which the archive stands by."""
    wanted = {media["sha256"] for media in plan.media} | set(plan.pages)
    problems = sidecar_problems(archive, wanted)
    if problems:
        first = problems[0]
        where = archive.layout.relative(Path(first.path or ""))
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ExportError(f"cannot export {where}: {first.detail}{more}; {_REWRITE}")


def _check_destination(layout: Layout, out: Path, zip_target: Path | None) -> None:
    if out.resolve().is_relative_to(layout.root.resolve()):
        raise ExportError(f"{out} is inside the archive: export to a folder outside it")
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        raise ExportError(f"{out} is not empty: export to a new or empty folder")
    if zip_target is not None and zip_target.exists():
        raise ExportError(f"{zip_target} already exists")


def _clear(out: Path, existed: bool) -> None:
    """Remove what the export wrote (all of ``out`` when the export created it)."""
    if not out.exists():
        return
    if not existed:
        shutil.rmtree(out, ignore_errors=True)
        return
    for child in out.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _configured_organization(archive: Archive) -> str | None:
    section = getattr(archive.config, "export", None)
    value = getattr(section, "organization", None)
    return value if isinstance(value, str) and value else None


# ---- selection ----------------------------------------------------------------------------


def _plan(session: Session, layout: Layout, query: SearchQuery) -> _Plan:
    plan = _Plan()
    ids = list(session.scalars(query.statement().limit(None)))
    selected: list[Media] = []
    for start in range(0, len(ids), _CHUNK):
        selected += session.scalars(
            select(Media)
            .where(Media.id.in_(ids[start : start + _CHUNK]))
            .options(
                selectinload(Media.sightings)
                .selectinload(Sighting.embed)
                .selectinload(Embed.page)
                .selectinload(Page.snapshots)
            )
        ).all()
    for media in sorted(selected, key=lambda m: (m.first_captured_at, m.sha256)):
        pages = [s.embed.page for s in media.sightings if s.embed.page is not None]
        plan.media.append(
            {
                "sha256": media.sha256,
                "md5": media.md5,
                "size_bytes": media.size_bytes,
                "mime_type": media.mime_type,
                "media_type": media.media_type,
                "first_captured_at": iso(media.first_captured_at),
                "original": media.path,
                "sidecar": f"{Path(media.path).parent.as_posix()}/{SIDECAR}",
                "companions": _companions(layout, media, plan.companion_sha256),
                "seen_on": sorted({page.url for page in pages}),
            }
        )
        for page in pages:
            for snapshot in page.snapshots:
                plan.pages.setdefault(
                    snapshot.sha256,
                    {
                        "sha256": snapshot.sha256,
                        "url": page.url,
                        "size_bytes": snapshot.size_bytes,
                        "first_fetched_at": iso(snapshot.first_fetched_at),
                        "snapshot": snapshot.path,
                        "sidecar": f"{Path(snapshot.path).parent.as_posix()}/{SIDECAR}",
                    },
                )
    _plan_events(session, plan, [m.id for m in selected])
    _check_token(session, layout, plan)
    return plan


def _companions(layout: Layout, media: Media, digests: dict[str, str]) -> list[str]:
    """Companion files as the index records them, each SHA-256 put in ``digests``; for a
    file indexed before companions were recorded, as its sidecar lists them. The
    sidecar must be readable either way: it goes into the bag."""
    original = media.path
    try:
        listed = companion_names(read_sidecar(layout.absolute(original).parent / SIDECAR))
    except FileNotFoundError:
        raise ExportError(f"cannot export {original}: its sidecar is missing; {_REWRITE}") from None
    except (OSError, ValueError) as exc:
        why = f"its sidecar is unreadable ({exc})"
        raise ExportError(f"cannot export {original}: {why}; {_REWRITE}") from None
    if media.companions is None:
        return sorted(n for n in listed if _plain(n))
    folder = Path(original).parent
    recorded = {name: entry for name, entry in media.companions.items() if _plain(name)}
    for name, entry in recorded.items():
        if isinstance(entry, dict) and isinstance(entry.get("sha256"), str):
            digests[(folder / name).as_posix()] = entry["sha256"]
    return sorted(recorded)


def _plain(name: object) -> TypeGuard[str]:
    """A plain file name, not a path out of the folder."""
    return isinstance(name, str) and "/" not in name and name not in ("", ".", "..")


def _plan_events(session: Session, plan: _Plan, media_ids: list[int]) -> None:
    """Entries about the selected files and pages, the newest fixity and timestamp
    entries (archive-wide attestations), and the head."""
    if unreadable := not_json(session):
        raise ExportError(
            f"the event log's entry {unreadable[0]} is not JSON in the database: it was "
            "altered (run archiver verify)"
        )
    chosen: dict[int, Event] = {}
    shas = [m["sha256"] for m in plan.media]
    for start in range(0, len(shas), _CHUNK):
        for event in session.scalars(
            select(Event).where(Event.media_sha256.in_(shas[start : start + _CHUNK]))
        ):
            chosen[event.seq] = event
    for event in _duplicates_naming(session, media_ids, set(shas)):
        chosen[event.seq] = event
    # a page version's entries: its capture, and rewrites of its sidecar
    about_pages = Event.type.in_(("page", "sidecar_rewritten")) & Event.media_sha256.is_(None)
    for event in session.scalars(
        select(Event).where(about_pages).execution_options(yield_per=1000)
    ):
        if event.payload.get("sha256") in plan.pages:
            chosen[event.seq] = event
    for kind in ("fixity", "timestamp"):
        newest = session.scalars(
            select(Event).where(Event.type == kind).order_by(Event.seq.desc()).limit(1)
        ).first()
        if newest is not None:
            chosen[newest.seq] = newest
            if kind == "timestamp" and isinstance(newest.payload.get("token"), str):
                plan.token = newest.payload["token"]
                plan.token_entry = newest.seq
    seq, sha256 = head(session)
    head_event = session.scalars(select(Event).where(Event.seq == seq)).first()
    carried = dict(chosen)
    if head_event is not None:  # head.json and Archiver-Log-Head carry it too
        carried[head_event.seq] = head_event
    plan.in_file = {seq: _checked_line(carried[seq]) for seq in sorted(carried)}
    _check_links(session, list(carried.values()))
    plan.lines = [plan.in_file[seq] for seq in sorted(chosen)]
    plan.head = {
        "seq": seq,
        "sha256": sha256,
        "entry": {**entry_of(head_event), "sha256": head_event.sha256} if head_event else None,
    }


def _checked_line(event: Event) -> bytes:
    """The entry's line, once its content is shown to still hash to its sha256: a bag
    must not carry an entry altered in the database (`verify` names the break)."""
    if content_problem(entry_of(event), event.sha256) is not None:
        raise ExportError(
            f"the event log's entry {event.seq} does not match its sha256: it was altered "
            "(run archiver verify)"
        )
    return line_of(event)


def _check_links(session: Session, events: list[Event]) -> None:
    """Each entry must link to the entries beside it in the database: altered with its
    sha256 recomputed, it still hashes right, but breaks those links (`verify` names
    it). Only the entries beside these are read, not the whole chain."""
    beside = sorted({seq for event in events for seq in (event.seq - 1, event.seq + 1)})
    links = {0: (GENESIS, GENESIS)}  # seq: (sha256, prev_sha256)
    for start in range(0, len(beside), _CHUNK):
        rows = session.execute(
            select(Event.seq, Event.sha256, Event.prev_sha256).where(
                Event.seq.in_(beside[start : start + _CHUNK])
            )
        )
        links.update((seq, (sha256, prev)) for seq, sha256, prev in rows)
    for event in events:
        before, after = links.get(event.seq - 1), links.get(event.seq + 1)
        if before is None or before[0] != event.prev_sha256:
            other = event.seq - 1
        elif after is not None and after[1] != event.sha256:
            other = event.seq + 1
        else:
            continue
        raise ExportError(
            f"the event log's entry {event.seq} does not link to entry {other}: it or the "
            "chain around it was altered (run archiver verify)"
        )


def _in_file(layout: Layout, plan: _Plan) -> None:
    """Each line the bag carries must be the archive's log file's line, byte for byte,
    as the bag promises: the database's alone is one copy's word."""
    try:
        held = file_lines(layout, sorted(plan.in_file))
    except StoreError as exc:
        raise ExportError(str(exc)) from None
    for seq, line in plan.in_file.items():
        if held.get(seq) != line:
            raise ExportError(
                f"the event log's entry {seq} is not in log/events.jsonl as in the database: "
                "one copy was altered, or the file lost lines (run archiver verify)"
            )


def _check_token(session: Session, layout: Layout, plan: _Plan) -> None:
    """The newest token must be the one its entry recorded (`_fill` copies exactly
    those bytes) and stamp the hash the chain holds at its seq: a bag must not carry a
    token `verify` reports. One that is not there goes without the bag carrying it."""
    if plan.token is None or plan.token_entry is None:
        return
    # Imported here: ASN.1 and signature checking only when there is a token.
    from archiver.integrity import tsp

    payload = session.scalars(select(Event.payload).where(Event.seq == plan.token_entry)).one()
    recorded, seq = payload.get("token_sha256"), payload.get("seq")
    path = layout.absolute(plan.token)
    if not path.is_file():
        plan.token = None
        return
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ExportError(f"cannot export {path}: {exc.strerror or exc}") from None
    stamped = session.scalar(select(Event.sha256).where(Event.seq == seq)) if seq else None
    why = None
    if hashlib.sha256(data).hexdigest() != recorded:
        why = f"differs from the token recorded by entry {plan.token_entry}"
    elif stamped is None:
        why = f"stamps entry {seq!r}, which is not in the chain"
    else:
        try:
            why = tsp.imprint_problem(tsp.parse_token(data), bytes.fromhex(stamped))
        except tsp.TokenError as exc:
            why = str(exc)
    if why is not None:
        raise ExportError(f"cannot export {path}: the timestamp token {why} (run archiver verify)")
    plan.token_sha256 = recorded


def _duplicates_naming(session: Session, media_ids: list[int], shas: set[str]) -> list[Event]:
    """``duplicate`` entries that name a selected file as ``other_sha256``.

    Such an entry is filed under the newer file, so an export of the older one (often
    the original) would otherwise lose the record that a copy exists. The payload is
    generic JSON, so instead of reading every ``duplicate`` entry the partners are
    found through the indexed near-duplicate pairs, and only their entries are read.
    """
    selected = set(media_ids)
    partners: set[int] = set()
    for mine, theirs in (
        (DuplicatePair.media_a_id, DuplicatePair.media_b_id),
        (DuplicatePair.media_b_id, DuplicatePair.media_a_id),
    ):
        for start in range(0, len(media_ids), _CHUNK):
            partners.update(
                session.scalars(select(theirs).where(mine.in_(media_ids[start : start + _CHUNK])))
            )
    ids = sorted(partners - selected)  # a selected partner's entries are already in
    found: list[Event] = []
    for start in range(0, len(ids), _CHUNK):
        found += [
            event
            for event in session.scalars(
                select(Event)
                .join(Media, Media.sha256 == Event.media_sha256)
                .where(Media.id.in_(ids[start : start + _CHUNK]), Event.type == "duplicate")
            )
            if event.payload.get("other_sha256") in shas
        ]
    return found


# ---- writing ------------------------------------------------------------------------------


def _fill(writer: BagWriter, layout: Layout, plan: _Plan, description: str) -> None:
    for media in plan.media:
        writer.copy(
            layout.absolute(media["original"]), media["original"], expect_sha256=media["sha256"]
        )
        writer.copy(layout.absolute(media["sidecar"]), media["sidecar"])
        folder = Path(media["original"]).parent
        for name in media["companions"]:
            path = (folder / name).as_posix()
            expected = plan.companion_sha256.get(path)
            writer.copy(layout.absolute(path), path, expect_sha256=expected)
    for page in plan.pages.values():
        writer.copy(
            layout.absolute(page["snapshot"]), page["snapshot"], expect_sha256=page["sha256"]
        )
        writer.copy(layout.absolute(page["sidecar"]), page["sidecar"])
    _in_file(layout, plan)
    writer.write("log/events.jsonl", b"".join(plan.lines))
    writer.write("log/head.json", _json(plan.head))
    token = None
    if plan.token:
        writer.copy(layout.absolute(plan.token), plan.token, expect_sha256=plan.token_sha256)
        token = plan.token
    document = {
        "schema": "archiver.export",
        "schema_version": 1,
        "query": description,
        "exported_at": format_time(datetime.now(UTC)),
        "exported_by": f"archiver {__version__}",
        "source_root": str(layout.root),
        "media": plan.media,
        "pages": list(plan.pages.values()),
        "log": {
            "entries": "log/events.jsonl",
            "count": len(plan.lines),
            "head": "log/head.json",
            "timestamp_token": token,
        },
    }
    writer.write("export.json", _json(document))
    writer.write("README.txt", README.encode("utf-8"))


def _bag_info(plan: _Plan, description: str, organization: str | None) -> list[tuple[str, str]]:
    info = [("Source-Organization", organization)] if organization else []
    return [
        *info,
        ("Bagging-Date", datetime.now(UTC).date().isoformat()),
        ("Bag-Count", "1 of 1"),
        ("External-Description", f"Evidence exported by archiver: {description}"),
        ("Bag-Software-Agent", f"archiver {__version__}"),
        ("Archiver-Media-Count", str(len(plan.media))),
        ("Archiver-Page-Snapshot-Count", str(len(plan.pages))),
        ("Archiver-Log-Head", f"{plan.head['seq']} {plan.head['sha256']}"),
    ]


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


README = """\
This is a BagIt bag (RFC 8493) of evidence exported by archiver.

data/media/ab/cd/<sha256>/   one folder per original, named by the SHA-256 of its bytes
    original.<ext>           the bytes exactly as captured
    provenance.json          what the file is, where, when and how it was found
    (other files)            what the platform said: info JSON, thumbnail, subtitles
data/pages/ab/cd/<sha256>/   each stored version of the pages the files were seen on
    page.html, provenance.json
data/log/events.jsonl        the archive's event-log entries about these files
data/log/head.json           the log's newest entry when the bag was made
data/log/timestamps/*.tsr    the newest RFC 3161 time-stamp token of the log, if any
data/export.json             the selection, and where each file is in this bag

To check it:
1. The bag: any BagIt validator (e.g. `bagit.py --validate DIR`) re-hashes every file
   against manifest-sha256.txt and the tag files against tagmanifest-sha256.txt.
2. Each original: `sha256sum original.<ext>` equals the name of its folder and the
   sha256 in its provenance.json.
3. Each log entry: the SHA-256 of the entry without its "sha256" field, encoded as
   JSON with sorted keys, no whitespace, UTF-8, equals its "sha256"; the same entries
   appear byte for byte in the archive's full log (log/events.jsonl), whose chain
   leads to the head in log/head.json.
4. A time-stamp token: `openssl ts -verify -digest <sha256 of entry N> -in N.tsr
   -CAfile <the TSA's CA certificate>` proves that entry N existed at the stamped time.
"""


__all__ = ["ExportError", "ExportReport", "describe", "export_bag"]
