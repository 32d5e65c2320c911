"""The provenance sidecar: a JSON file beside each original that explains it on its own.

Schema documented in docs/provenance.md. The index is the source for each rewrite;
the sidecar is rewritten atomically after every change, never the original.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from archiver import __version__
from archiver.index.models import Embed, Media, Page, PageSnapshot, Sighting, iso, utcnow
from archiver.index.records import SIGHTING_COLUMNS, placements_of, sighting_rows
from archiver.jsontext import printable
from archiver.store.atomic import write_atomic
from archiver.store.digest import hash_file
from archiver.store.layout import SIDECAR

SCHEMA = "archiver.provenance"
SCHEMA_VERSION = 1
PAGE_SCHEMA = "archiver.page-snapshot"
#: 2: ``pages`` lists every page that served the version (1 described one page only)
PAGE_SCHEMA_VERSION = 2


def media_document(
    session: Session, media: Media, directory: Path, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The sidecar for ``media``, built from the index rows."""
    original = Path(media.path).name
    recorded = media.companions
    companions = sorted(recorded) if recorded is not None else listed_companions(directory)
    platform = None
    if media.platform_extractor:
        platform = {
            "extractor": media.platform_extractor,
            "id": media.platform_id,
            "title": media.platform_title,
            "uploader": media.platform_uploader,
            "upload_date": media.platform_upload_date.isoformat()
            if media.platform_upload_date
            else None,
            "uploaded_at": iso(media.platform_uploaded_at),
            "metadata": media.platform_metadata or {},
        }
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "file": {
            "name": original,
            "sha256": media.sha256,
            "md5": media.md5,
            "size_bytes": media.size_bytes,
            "mime_type": media.mime_type,
            "media_type": media.media_type,
        },
        "first_captured_at": iso(media.first_captured_at),
        "platform": platform,
        "sightings": _sightings(session, media.id),
        "companion_files": companions,
        "companion_digests": dict(sorted(recorded.items())) if recorded is not None else None,
        "written_at": iso(utcnow()),
        "written_by": f"archiver {__version__}",
    }
    if extra:
        document.update(extra)
    return document


def _sightings(session: Session, media_id: int) -> list[dict[str, Any]]:
    """Every sighting of a file as its sidecar lists it, oldest first, read as rows in
    one query: loaded as objects with their embeds and pages, a file seen on 10,000
    pages took 2.5 s and 130 MB at each new sighting."""
    rows = session.execute(
        sighting_rows(
            Sighting.id,
            Sighting.reused_from_id,
            *SIGHTING_COLUMNS,
            Embed.original_url,
            Embed.found_in,
            Sighting.last_seen_at,
            Sighting.tool,
            Sighting.tool_version,
            Sighting.archiver_version,
            Sighting.http_status,
            Sighting.response_headers,
        )
        .where(Sighting.media_id == media_id)
        .order_by(Sighting.first_seen_at, Sighting.id)
    ).all()
    # a download shared is the same file's earlier sighting (`shared_download`'s facts)
    shared = {
        row.id: {
            "page_url": row.page_url,
            "embed_url": row.embed_url,
            "first_seen_at": iso(row.first_seen_at),
        }
        for row in rows
    }
    return [
        {
            "page_url": row.page_url,
            "page_title": row.page_title,
            "update": row.update_label,
            "context": row.context,
            "other_placements": placements_of(row.embed_metadata),
            "posted_at": iso(row.posted_at),
            "embed_url": row.embed_url,
            "embed_original_url": row.original_url,
            "found_in": row.found_in,
            "media_url": row.media_url,
            "first_seen_at": iso(row.first_seen_at),
            "last_seen_at": iso(row.last_seen_at),
            "acquisition": {
                "tool": row.tool,
                "tool_version": row.tool_version,
                "archiver_version": row.archiver_version,
                "http_status": row.http_status,
                "response_headers": row.response_headers,
                "reused_from": shared.get(row.reused_from_id or 0),
            },
        }
        for row in rows
    ]


def page_document(session: Session, sha256: str) -> dict[str, Any]:
    """The sidecar of one page version: its bytes, and every page that served them,
    oldest first, read as rows in one query. Two addresses of one page, or two pages
    answering alike (a consent or error page), share the stored bytes."""
    served = session.execute(
        select(
            PageSnapshot.size_bytes,
            Page.url,
            PageSnapshot.final_url,
            PageSnapshot.http_status,
            PageSnapshot.headers,
            PageSnapshot.first_fetched_at,
            PageSnapshot.last_fetched_at,
        )
        .join(Page, Page.id == PageSnapshot.page_id)
        .where(PageSnapshot.sha256 == sha256)
        .order_by(PageSnapshot.first_fetched_at, PageSnapshot.id)
    ).all()
    return {
        "schema": PAGE_SCHEMA,
        "schema_version": PAGE_SCHEMA_VERSION,
        "sha256": sha256,
        "size_bytes": served[0].size_bytes,
        "pages": [
            {
                "url": row.url,
                "final_url": row.final_url,
                "http_status": row.http_status,
                "response_headers": row.headers,
                "first_fetched_at": iso(row.first_fetched_at),
                "last_fetched_at": iso(row.last_fetched_at),
            }
            for row in served
        ],
        "written_by": f"archiver {__version__}",
    }


def write_sidecar(directory: Path, document: dict[str, Any], tmp_dir: Path) -> Path:
    path = directory / SIDECAR
    write_atomic(path, _encoded(document), tmp_dir=tmp_dir)
    return path


def _encoded(document: dict[str, Any]) -> Iterator[bytes]:
    """The sidecar's JSON, a few thousand pieces at a time as it is encoded: the
    pieces of a sidecar listing 10,000 sightings, all joined first, took 40 MB more."""
    pieces = itertools.chain(
        json.JSONEncoder(indent=2, ensure_ascii=False).iterencode(document), ["\n"]
    )
    while chunk := "".join(itertools.islice(pieces, 4096)):
        yield chunk.encode("utf-8")


def read_sidecar(path: Path) -> dict[str, Any]:
    """A sidecar as written; raises OSError, or ValueError when it is not UTF-8 JSON of
    an object (a damaged or tampered file: verify reports it, export refuses it). Two
    values under one key (JSON readers keep either one) and text no UTF-8 can hold
    (a lone surrogate, ``\\ud800``) are not what archiver writes either."""
    # opened without waiting, and read only if it is a file: a pipe put where the
    # sidecar belongs held verify forever; and never through a symbolic link, whose
    # target the archive does not hold
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno == errno.ELOOP and path.is_symlink():
            raise ValueError("a symbolic link, not the stored file") from None
        raise
    with os.fdopen(fd, "rb") as stream:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        raw = stream.read()
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
        if _SURROGATE_ESCAPE.search(raw):  # UTF-8 holds none: only an escape can
            json.dumps(data, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise ValueError("nested too deep") from None
    except UnicodeEncodeError:
        raise ValueError("holds text that is not Unicode (a lone surrogate)") from None
    if not isinstance(data, dict):
        raise ValueError(f"not a JSON object but {type(data).__name__}")
    return data


#: ``\\ud800``-``\\udfff`` written as a JSON escape (archiver writes none: its sidecars
#: are UTF-8, which cannot hold them)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"two values under the key {printable(key)}")
        found[key] = value
    return found


def recorded_companions(
    directory: Path, placed: list[str], known: dict[str, Any] | None
) -> dict[str, Any]:
    """The index's record of an original's companions with ``placed`` added: each
    file's SHA-256 and size as it lies in ``directory``.

    Only files archiver put there are companions; a stray file in the folder is not
    adopted. A file indexed before companions were recorded (``known`` None) starts
    from what its sidecar lists.
    """
    record: dict[str, Any] = dict(known) if known is not None else {}
    fresh = [*placed, *(listed_companions(directory) if known is None else [])]
    for name in fresh:
        file = directory / name
        if name not in record and file.is_file():
            digests = hash_file(file)
            record[name] = {"sha256": digests.sha256, "size_bytes": digests.size_bytes}
    return dict(sorted(record.items()))


def listed_companions(directory: Path) -> list[str]:
    """The companions the sidecar in ``directory`` lists that are files there (none when
    it has no readable sidecar)."""
    try:
        listed = companion_names(read_sidecar(directory / SIDECAR))
    except (OSError, ValueError):
        return []
    return sorted(
        name
        for name in listed
        if isinstance(name, str)
        and name not in ("", ".", "..", SIDECAR)
        and "/" not in name
        and (directory / name).is_file()
    )


def companion_names(document: dict[str, Any]) -> list[object]:
    """What a sidecar lists under ``companion_files``, as written; raises ValueError when
    that is not a list. Each entry is still to be checked for being a plain file name."""
    listed = document.get("companion_files")
    if listed is None:
        return []
    if not isinstance(listed, list):
        raise ValueError(f"companion_files is not a list but {type(listed).__name__}")
    return listed


#: The keys `media_document` writes, at each level of the document (``[]``: each item
#: of a list, ``.*``: each value of an object).
MEDIA_KEYS: dict[str, frozenset[str]] = {
    "": frozenset(
        {"schema", "schema_version", "file", "first_captured_at", "platform", "sightings",
         "companion_files", "companion_digests", "written_at", "written_by", "near_duplicates"}
    ),
    "file": frozenset({"name", "sha256", "md5", "size_bytes", "mime_type", "media_type"}),
    "platform": frozenset(
        {"extractor", "id", "title", "uploader", "upload_date", "uploaded_at", "metadata"}
    ),
    "sightings[]": frozenset(
        {"page_url", "page_title", "update", "context", "other_placements", "posted_at",
         "embed_url", "embed_original_url", "found_in", "media_url", "first_seen_at",
         "last_seen_at", "acquisition"}
    ),
    "sightings[].other_placements[]": frozenset({"update", "context"}),
    "sightings[].acquisition": frozenset(
        {"tool", "tool_version", "archiver_version", "http_status", "response_headers",
         "reused_from"}
    ),
    "sightings[].acquisition.reused_from": frozenset({"page_url", "embed_url", "first_seen_at"}),
    "companion_digests.*": frozenset({"sha256", "size_bytes"}),
    # `sidecar_section`; ``members`` only until 2026-11-25, when the group's list gave
    # way to the file's own similarity
    "near_duplicates": frozenset(
        {"algorithm", "fingerprint", "group_id", "earliest", "similarity_to_earliest",
         "method", "matching_error", "members"}
    ),
    "near_duplicates.members[]": frozenset({"sha256", "similarity", "method"}),
    # one set for the three kinds (image, video, none); ``hashes`` holds one value per
    # hash the fingerprint has, by its name
    "near_duplicates.fingerprint": frozenset(
        {"kind", "width", "height", "hashes", "duration", "frames_hashed", "frame_hash_names",
         "reason"}
    ),
}  # fmt: skip
#: The keys `page_document` writes (schema version 2).
PAGE_KEYS: dict[str, frozenset[str]] = {
    "": frozenset({"schema", "schema_version", "sha256", "size_bytes", "pages", "written_by"}),
    "pages[]": frozenset(
        {"url", "final_url", "http_status", "response_headers", "first_fetched_at",
         "last_fetched_at"}
    ),
}  # fmt: skip


def unknown_keys(
    document: dict[str, Any], written: dict[str, frozenset[str]] = MEDIA_KEYS
) -> list[str]:
    """The keys of a sidecar that archiver does not write (`MEDIA_KEYS`, `PAGE_KEYS`;
    dotted, sorted): what no comparison with the index could vouch for."""
    found: set[str] = set()
    levels: list[tuple[str, object]] = [("", document)]
    while levels:
        where, value = levels.pop()
        if not isinstance(value, dict):
            continue
        for key, inner in value.items():
            name = f"{where}.{key}" if where else key
            if key not in written[where]:
                found.add(printable(name))
            elif f"{name}[]" in written and isinstance(inner, list):
                levels += [(f"{name}[]", each) for each in inner]
            elif f"{name}.*" in written and isinstance(inner, dict):
                levels += [(f"{name}.*", each) for each in inner.values()]
            elif name in written:
                levels.append((name, inner))
    return sorted(found)
