"""Sidecars owed a rewrite (`SidecarDebt`): recorded in the transaction that changes
what a sidecar says, paid once it is rewritten, and after a crash at the next start."""

from __future__ import annotations

from collections.abc import Iterable

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


def outstanding(session: Session) -> tuple[list[int], list[str]]:
    """The files and page versions whose sidecars are owed a rewrite."""
    media = session.scalars(select(SidecarDebt.media_id).where(SidecarDebt.media_id.is_not(None)))
    pages = session.scalars(
        select(SidecarDebt.page_sha256).where(SidecarDebt.page_sha256.is_not(None))
    )
    return sorted({m for m in media if m is not None}), sorted({p for p in pages if p})
