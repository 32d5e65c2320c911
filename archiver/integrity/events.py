"""The entries the archive's own work writes to the event log, one builder per type.

Each call goes inside the transaction that makes the change it records (last in
that transaction, see ``append_event``), so the log says exactly what was
committed. Payloads are small and name things by URL and SHA-256; the full detail
stays in the index and the sidecars. Schemas: docs/integrity.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from archiver.index.models import Embed, Event, LinkCheck, Media, Page, PageSnapshot, Sighting
from archiver.index.records import shared_download
from archiver.integrity.canonical import format_time
from archiver.integrity.eventlog import NewEntry, append_event, append_events


def _sighting_facts(sighting: Sighting) -> dict[str, Any]:
    embed = sighting.embed
    return {
        "url": sighting.media_url,
        "page_url": embed.page.url if embed.page else None,
        "embed_url": embed.url,
        "found_in": embed.found_in,
        "tool": sighting.tool,
        "tool_version": sighting.tool_version,
    }


def record_capture(
    session: Session, media: Media, sighting: Sighting, *, at: datetime | None = None
) -> Event:
    """New bytes entered the archive (the first sighting of a new original)."""
    payload = {
        "sha256": media.sha256,
        "md5": media.md5,
        "size_bytes": media.size_bytes,
        "mime_type": media.mime_type,
        "media_type": media.media_type,
        "path": media.path,
        **_sighting_facts(sighting),
        "archiver_version": sighting.archiver_version,
    }
    return append_event(session, "capture", payload, media_sha256=media.sha256, at=at)


def record_sighting(
    session: Session, media: Media, sighting: Sighting, *, at: datetime | None = None
) -> Event:
    """Bytes already archived were found again, through another embed or page (and,
    for a platform video archived shortly before, not downloaded again)."""
    payload = {"sha256": media.sha256, **_sighting_facts(sighting)}
    if sighting.reused_from_id is not None:
        payload["reused_from"] = shared_download(session.get(Sighting, sighting.reused_from_id))
    return append_event(session, "sighting", payload, media_sha256=media.sha256, at=at)


def record_page(session: Session, page: Page, sha256: str, *, at: datetime | None = None) -> Event:
    """A new version (``sha256``) of a page (or feed) was stored under ``pages/``."""
    snapshot = session.scalars(
        select(PageSnapshot).where(PageSnapshot.page_id == page.id, PageSnapshot.sha256 == sha256)
    ).one()
    payload = {
        "sha256": snapshot.sha256,
        "url": page.url,
        "final_url": snapshot.final_url,
        "http_status": snapshot.http_status,
        "size_bytes": snapshot.size_bytes,
        "path": snapshot.path,
    }
    return append_event(session, "page", payload, at=at)


def record_duplicate(
    session: Session,
    sha256: str,
    other_sha256: str,
    *,
    media_type: str,
    similarity: float,
    method: str,
    at: datetime | None = None,
) -> Event:
    """A file was flagged as a near-duplicate of one archived earlier (``other_sha256``)."""
    payload = {
        "sha256": sha256,
        "other_sha256": other_sha256,
        "media_type": media_type,
        "similarity": round(float(similarity), 4),
        "method": method,
    }
    return append_event(session, "duplicate", payload, media_sha256=sha256, at=at)


def record_liveness(
    session: Session,
    changes: list[tuple[LinkCheck, str | None]],
    *,
    at: datetime | None = None,
) -> list[Event]:
    """Checked URLs changed status (live, gone, restricted, error): (check, previous).

    One entry per archived file obtained through a URL, so each file's history (and
    an export of it) carries the fate of its source; one entry without a file when
    nothing was archived from it. A batch of results is appended at once.
    """
    urls = sorted({check.url for check, _ in changes})
    found: dict[str, set[str]] = {}
    if urls:  # the files of every changed URL in one query
        for url, sha256 in session.execute(
            select(Embed.url, Media.sha256)
            .join(Sighting, Sighting.embed_id == Embed.id)
            .join(Media, Media.id == Sighting.media_id)
            .where(Embed.url.in_(urls))
        ):
            found.setdefault(url, set()).add(sha256)
    entries: list[NewEntry] = []
    for check, previous_status in changes:
        archived = sorted(found.get(check.url, ()))
        base = {
            "url": check.url,
            "kind": check.kind,
            "previous_status": previous_status,
            "status": check.status,
            "reason": check.reason,
            "http_status": check.http_status,
            "probe": check.probe,
        }
        entries += _per_file("liveness", base, archived)
    return append_events(session, entries, at=at)


def record_embed_changes(
    session: Session,
    removed: list[int],
    returned: list[tuple[int, datetime]],
    *,
    version: str | None,
    at: datetime,
    where: str = "page",
) -> list[Event]:
    """Embeds (by id) judged gone from a page, and ones judged gone before that it
    holds again (with when they were judged gone): a live page's editor pulling a
    video and putting it back is evidence too, and the embed's row keeps only whether
    it is on the page now. ``version``: the page version that told (its SHA-256);
    ``where``: ``page``, or ``older page`` (the embed had scrolled on to one).

    One entry per file archived from the embed, as for liveness, so each file's
    history (and an export of it) carries it; one without a file when none was."""
    ids = sorted({*removed, *(embed_id for embed_id, _ in returned)})
    if not ids:
        return []
    embeds = {e.id: e for e in session.scalars(select(Embed).where(Embed.id.in_(ids)))}
    files: dict[int, set[str]] = {}
    for embed_id, sha256 in session.execute(
        select(Sighting.embed_id, Media.sha256)
        .join(Media, Media.id == Sighting.media_id)
        .where(Sighting.embed_id.in_(ids))
    ):
        files.setdefault(embed_id, set()).add(sha256)
    changes: list[tuple[str, int, dict[str, Any]]] = [
        ("embed_removed", embed_id, {}) for embed_id in removed
    ]
    changes += [
        ("embed_returned", embed_id, {"removed_at": format_time(when), "where": where})
        for embed_id, when in returned
    ]
    entries: list[NewEntry] = []
    for kind, embed_id, facts in changes:
        embed = embeds[embed_id]
        base: dict[str, Any] = {
            "page_url": embed.page.url if embed.page is not None else None,
            "embed_url": embed.url,
            "version_sha256": version,
            **facts,
        }
        entries += _per_file(kind, base, sorted(files.get(embed_id, ())))
    return append_events(session, entries, at=at)


def _per_file(kind: str, base: dict[str, Any], archived: list[str]) -> list[NewEntry]:
    """One entry per archived file (its ``sha256`` in the payload), so each file's
    history carries it; one without a file when none was archived."""
    if not archived:
        return [NewEntry(kind, {**base, "sha256": None})]
    return [NewEntry(kind, {**base, "sha256": sha}, sha) for sha in archived]


__all__ = [
    "record_capture",
    "record_duplicate",
    "record_embed_changes",
    "record_liveness",
    "record_page",
    "record_sighting",
]
