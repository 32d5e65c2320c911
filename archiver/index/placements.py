"""Files about to be linked into ``media/``, page versions into ``pages/`` (`Placement`):
the intent is committed before the link, the index transaction removes it. What a
crash leaves is indexed at the next start from what the intent holds, the provenance
included."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from archiver.index.models import Placement, utcnow
from archiver.index.records import Acquisition, PlatformFacts
from archiver.workers import worker_exited


@dataclass(frozen=True)
class PlacementIntent:
    """Everything indexing a file needs besides the file itself."""

    sha256: str
    md5: str
    size_bytes: int
    mime_type: str
    media_type: str
    acquisition: Acquisition
    facts: PlatformFacts | None
    companions: list[str] = field(default_factory=list)  # names placed beside it
    # when it was downloaded: the time its sighting is given, were it indexed only at
    # the next start (not written before 2026-11-27: the time of indexing, then)
    fetched_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        data = {**asdict(self), "kind": "media", "fetched_at": _iso(self.fetched_at)}
        if self.facts is not None:
            facts = data["facts"]
            facts["upload_date"] = _iso(self.facts.upload_date)
            facts["uploaded_at"] = _iso(self.facts.uploaded_at)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlacementIntent:
        fields = {k: v for k, v in data.items() if k != "kind"}
        facts = fields["facts"]
        if facts is not None:
            when = {"upload_date": date, "uploaded_at": datetime}
            facts = PlatformFacts(**{**facts, **{k: _read(t, facts[k]) for k, t in when.items()}})
        return cls(
            **{
                **fields,
                "acquisition": Acquisition(**fields["acquisition"]),
                "facts": facts,
                "fetched_at": _read(datetime, fields.get("fetched_at")),
            }
        )


@dataclass(frozen=True)
class PageIntent:
    """Everything indexing a page version needs besides its bytes."""

    url: str
    sha256: str
    size_bytes: int
    final_url: str
    http_status: int
    headers: dict[str, str]
    title: str | None
    fetched_at: datetime
    # whether its embeds are recorded with it (a page's; not a feed's, nor a platform's
    # answer): a crash before that left a version whose embeds nothing read (not
    # written before 2026-11-27: False)
    holds_embeds: bool = False

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "fetched_at": self.fetched_at.isoformat(), "kind": "page"}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PageIntent:
        fields = {k: v for k, v in data.items() if k != "kind"}
        return cls(**{**fields, "fetched_at": datetime.fromisoformat(data["fetched_at"])})


def intend(
    session: Session, embed_id: int | None, intent: PlacementIntent | PageIntent, owner: str
) -> int:
    """Record ``owner``'s intent to place a file seen through ``embed_id`` (a page
    version: None); its id."""
    row = Placement(
        embed_id=embed_id,
        sha256=intent.sha256,
        intent=intent.to_json(),
        owner=owner,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row.id


def spend_intents(session: Session, embed_id: int, sha256: str) -> list[str]:
    """These bytes are indexed as seen through ``embed_id``: every intent to place them
    so is spent, an earlier attempt's among them (cut short after its link, by a full
    disk, say), which the next start would otherwise index again. The companions any of
    them placed, which the indexer records: an earlier attempt's alone may name one."""
    where = (Placement.embed_id == embed_id, Placement.sha256 == sha256)
    spent = session.scalars(select(Placement.intent).where(*where)).all()
    session.execute(delete(Placement).where(*where))
    return sorted(
        {name for data in spent for name in data.get("companions") or [] if isinstance(name, str)}
    )


def done(session: Session, placement_id: int) -> None:
    """The file is indexed (or was never placed): the intent is spent."""
    session.execute(delete(Placement).where(Placement.id == placement_id))


def pending_companions(session: Session, sha256: str, besides: int) -> set[str]:
    """The companions other placements of these bytes, not yet indexed nor dropped,
    intend to place (``besides``: the one being settled): a live capture's, placed
    before its original, or one the same settle comes to next."""
    intents = session.scalars(
        select(Placement.intent).where(Placement.sha256 == sha256, Placement.id != besides)
    )
    return {
        name
        for intent in intents
        for name in intent.get("companions") or []
        if isinstance(name, str)
    }


def left_over(
    session: Session, also: str | None, now: datetime, lease: timedelta
) -> list[tuple[int, int | None, PlacementIntent | PageIntent]]:
    """Intents a crash left: id, embed id and intent, oldest first.

    Those of a live process (an ``archiver capture`` beside the daemon, between its
    intent and its link) are its own to finish. A writer of this host is asked
    whether it runs, and whether it is the process that wrote the intent, not a later
    one given its pid (`worker_exited`; ``also``, this process's id at its start,
    counts as dead: an earlier process with the same pid). An intent older than a
    job's ``lease`` (``[daemon] lease``), far longer than placing and indexing a file
    takes, is left over whoever wrote it: one of another host cannot be asked, and a
    pid of this host said alive by a process that only reused it (after a reboot) kept
    the file out of the index for good.
    """
    rows = session.execute(
        select(
            Placement.id,
            Placement.embed_id,
            Placement.intent,
            Placement.owner,
            Placement.created_at,
        ).order_by(Placement.id)
    )
    return [
        (
            row.id,
            row.embed_id,
            PageIntent.from_json(row.intent)
            if row.intent.get("kind") == "page"
            else PlacementIntent.from_json(row.intent),
        )
        for row in rows
        if _writer_gone(row.owner, also, row.created_at, now - row.created_at > lease)
    ]


def _writer_gone(owner: str | None, also: str | None, written: datetime, lapsed: bool) -> bool:
    if owner is None or owner == also:  # written before owners were kept; a reused pid
        return True
    return lapsed or worker_exited(owner, since=written)


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _read(kind: type[date], value: str | None) -> date | None:
    """A date or datetime (``kind``) written by `_iso`."""
    return None if value is None else kind.fromisoformat(value)
