"""Sidecars owed a rewrite (`SidecarDebt`): recorded in the transaction that changes
what a sidecar says, paid once it is rewritten, and after a crash at the next start."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, func, select
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


#: Debts removed per statement: a regroup over a long full disk can owe one sidecar
#: more than the 65,535 parameters PostgreSQL takes in one.
PAY_BATCH = 10_000


def pay(session: Session, debt_ids: list[int]) -> None:
    """Remove debts whose sidecar was written; later ones stay (the ids read, not every
    id up to the last: on PostgreSQL a debt numbered before it may commit after)."""
    for start in range(0, len(debt_ids), PAY_BATCH):
        chunk = debt_ids[start : start + PAY_BATCH]
        session.execute(delete(SidecarDebt).where(SidecarDebt.id.in_(chunk)))


def last_debt(session: Session) -> int | None:
    """The id of the newest debt outstanding now (ids only grow), None when none is."""
    return session.scalar(select(func.max(SidecarDebt.id)))


def outstanding(session: Session, through: int | None = None) -> tuple[list[int], list[str]]:
    """The files and page versions whose sidecars are owed a rewrite (by the debts up to
    id ``through``, when given: those a look at the table found)."""
    query = select(SidecarDebt.media_id, SidecarDebt.page_sha256)
    if through is not None:
        query = query.where(SidecarDebt.id <= through)
    rows = session.execute(query).all()
    media = {m for m, _ in rows if m is not None}
    return sorted(media), sorted({p for _, p in rows if p})
