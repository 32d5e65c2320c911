"""Search the index: by hash (full or prefix), capture date, page, and words.

The CLI's ``search --json`` and the web API return exactly ``MediaRecord.to_json()``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, select, union
from sqlalchemy.orm import Session, selectinload

from archiver.errors import ArchiverError
from archiver.index.models import DuplicateMember, Embed, Media, Page, Sighting, iso
from archiver.store.layout import SIDECAR, Layout

MIN_PREFIX = 8
DEFAULT_LIMIT = 100


class QueryError(ArchiverError):
    """A search filter is malformed (bad hash, bad date)."""


def parse_when(value: str, *, end: bool = False) -> datetime:
    """An ISO 8601 date or datetime as UTC; a bare date as the day's start (or end)."""
    text = value.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time(), UTC)
            return moment + timedelta(days=1) if end else moment
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(f"not an ISO 8601 date or datetime: {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _hex_prefix(value: str, name: str, full: int) -> str:
    text = value.strip().lower()
    if not re.fullmatch(r"[0-9a-f]+", text) or not MIN_PREFIX <= len(text) <= full:
        raise QueryError(f"--{name} takes {MIN_PREFIX} to {full} hex characters, got {value!r}")
    return text


@dataclass(frozen=True)
class SearchQuery:
    sha256: str | None = None
    md5: str | None = None
    since: datetime | None = None  # on first capture time, inclusive
    until: datetime | None = None  # exclusive
    page: str | None = None
    text: str | None = None
    upload_since: date | None = None  # on the platform's upload date, inclusive
    upload_until: date | None = None  # inclusive
    limit: int = DEFAULT_LIMIT

    @classmethod
    def parse(
        cls,
        *,
        sha256: str | None = None,
        md5: str | None = None,
        since: str | None = None,
        until: str | None = None,
        page: str | None = None,
        text: str | None = None,
        upload_since: str | None = None,
        upload_until: str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> SearchQuery:
        """Validate user input (CLI flags, API query parameters)."""
        if limit < 1:
            raise QueryError("--limit must be at least 1")
        return cls(
            sha256=_hex_prefix(sha256, "sha256", 64) if sha256 else None,
            md5=_hex_prefix(md5, "md5", 32) if md5 else None,
            since=parse_when(since) if since else None,
            until=parse_when(until, end=True) if until else None,
            page=page.strip() if page else None,
            text=text.strip() if text and text.strip() else None,
            upload_since=parse_when(upload_since).date() if upload_since else None,
            upload_until=parse_when(upload_until).date() if upload_until else None,
            limit=limit,
        )

    def statement(self) -> Select[int]:
        """The media ids that match, newest capture first.

        Each filter narrows ``media`` directly (hash prefixes as index ranges, page
        and words through sub-selects), so no join multiplies rows to de-duplicate.
        """
        query = select(Media.id)
        for column, prefix in ((Media.sha256, self.sha256), (Media.md5, self.md5)):
            if prefix:  # hex only: "g" sorts after every hex digit
                query = query.where(column >= prefix, column < prefix + "g")
        if self.since:
            query = query.where(Media.first_captured_at >= self.since)
        if self.until:
            query = query.where(Media.first_captured_at < self.until)
        if self.upload_since:
            query = query.where(Media.platform_upload_date >= self.upload_since)
        if self.upload_until:
            query = query.where(Media.platform_upload_date <= self.upload_until)
        seen = select(Sighting.media_id).join(Embed, Embed.id == Sighting.embed_id)
        if self.page:
            on_page = seen.join(Page, Page.id == Embed.page_id).where(Page.url == self.page)
            query = query.where(Media.id.in_(union(on_page, seen.where(Embed.url == self.page))))
        for word in (self.text or "").lower().split():
            query = query.where(Media.search_text.like(f"%{_escape(word)}%", escape="\\"))
        return query.order_by(Media.first_captured_at.desc(), Media.id.desc()).limit(self.limit)


def _escape(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class MediaRecord:
    """One stored file as search results present it."""

    media: Media
    layout: Layout
    duplicate_group: int | None = None
    similarity: float | None = None  # for --similar-to and --phash results

    def to_json(self) -> dict[str, Any]:
        m = self.media
        path = self.layout.absolute(m.path)
        return {
            "sha256": m.sha256,
            "md5": m.md5,
            "media_type": m.media_type,
            "mime_type": m.mime_type,
            "size_bytes": m.size_bytes,
            "path": str(path),
            "sidecar": str(path.parent / SIDECAR),
            "first_captured_at": iso(m.first_captured_at),
            "sightings": [
                {
                    "page_url": s.embed.page.url if s.embed.page else None,
                    "update": s.embed.update_label,
                    "context": s.embed.context,
                    "embed_url": s.embed.url,
                    "media_url": s.media_url,
                    "first_seen_at": iso(s.first_seen_at),
                }
                for s in m.sightings
            ],
            "platform": {
                "extractor": m.platform_extractor,
                "id": m.platform_id,
                "title": m.platform_title,
                "uploader": m.platform_uploader,
                "upload_date": m.platform_upload_date.isoformat()
                if m.platform_upload_date
                else None,
            }
            if m.platform_extractor
            else None,
            "duplicate_group": self.duplicate_group,
            **({"similarity": round(self.similarity, 4)} if self.similarity is not None else {}),
        }


def search(session: Session, layout: Layout, query: SearchQuery) -> list[MediaRecord]:
    ids: list[int] = list(session.scalars(query.statement()))
    return records(session, layout, ids)


def records(
    session: Session, layout: Layout, ids: list[int], similarity: dict[int, float] | None = None
) -> list[MediaRecord]:
    """Search results for these media ids, in this order."""
    if not ids:
        return []
    groups = dict(
        session.execute(
            select(DuplicateMember.media_id, DuplicateMember.group_id).where(
                DuplicateMember.media_id.in_(ids)
            )
        ).all()
    )
    rows = session.scalars(
        select(Media)
        .where(Media.id.in_(ids))
        .options(
            selectinload(Media.sightings).selectinload(Sighting.embed).selectinload(Embed.page)
        )
    ).all()
    by_id = {row.id: row for row in rows}
    similarity = similarity or {}
    return [
        MediaRecord(by_id[i], layout, groups.get(i), similarity.get(i)) for i in ids if i in by_id
    ]


__all__ = ["MediaRecord", "QueryError", "SearchQuery", "parse_when", "records", "search"]
