"""Sidecars owed a rewrite (`SidecarDebt`): recorded in the transaction that changes
what a sidecar says, paid once it is rewritten, and after a crash at the next start."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from archiver.index.models import SidecarDebt


def owe_media_sidecars(session: Session, media_ids: Iterable[int]) -> None:
    """Record that these files' sidecars must be rewritten once ``session`` commits."""
    session.add_all(SidecarDebt(media_id=media_id) for media_id in set(media_ids))


def owe_page_sidecar(session: Session, sha256: str) -> None:
    """Record that this page version's sidecar must be rewritten once ``session`` commits."""
    session.add(SidecarDebt(page_sha256=sha256))


def media_debts(session: Session, media_id: int) -> list[int]:
    """Ids of the debts of a file's sidecar. Read before the sidecar's facts, in the
    same transaction: what they record is then in the sidecar written from those facts."""
    return list(session.scalars(select(SidecarDebt.id).where(SidecarDebt.media_id == media_id)))


def page_debts(session: Session, sha256: str) -> list[int]:
    """Ids of the debts of a page version's sidecar (see `media_debts`)."""
    return list(session.scalars(select(SidecarDebt.id).where(SidecarDebt.page_sha256 == sha256)))


def pay(session: Session, debt_ids: list[int]) -> None:
    """Remove debts whose sidecar was written; later ones stay."""
    if debt_ids:
        session.execute(delete(SidecarDebt).where(SidecarDebt.id.in_(debt_ids)))


def debt_ids(session: Session) -> set[int]:
    """The ids of every debt outstanding now."""
    return set(session.scalars(select(SidecarDebt.id)))


def outstanding(
    session: Session, among: Collection[int] | None = None
) -> tuple[list[int], list[str]]:
    """The files and page versions whose sidecars are owed a rewrite (by the debts
    ``among`` these ids, when given)."""
    query = select(SidecarDebt.media_id, SidecarDebt.page_sha256)
    if among is not None:
        query = query.where(SidecarDebt.id.in_(among))
    rows = session.execute(query).all()
    media = {m for m, _ in rows if m is not None}
    return sorted(media), sorted({p for _, p in rows if p})
