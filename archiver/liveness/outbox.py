"""Liveness events owed to the webhook, kept in the database until delivered.

An event is written in the transaction that records the status change it tells of,
so it is owed exactly when the change is recorded. The notifier delivers it in the
background and settles it here: removed once the receiver took it (or refused it for
good), put off with the capture jobs' backoff when the receiver could not be reached,
given up (with a warning) after as many attempts as a capture job gets. Whatever is
owed is sent again when a checker starts, and on each of the daemon's rounds.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from archiver.archive import Archive
from archiver.errors import ArchiveUnavailable
from archiver.index.models import WebhookOutbox, utcnow
from archiver.jobs import MAX_ATTEMPTS, backoff
from archiver.liveness.webhook import LivenessEvent
from archiver.logs import log_event


def owe(session: Session, events: list[LivenessEvent], now: datetime) -> list[LivenessEvent]:
    """Write the events to the outbox (in the caller's transaction); each with its row."""
    rows = [
        WebhookOutbox(event=event.to_json(), created_at=now, attempts=0, next_attempt_at=now)
        for event in events
    ]
    session.add_all(rows)
    session.flush()
    return [replace(event, outbox_id=row.id) for event, row in zip(events, rows, strict=True)]


def owed(session: Session, now: datetime, limit: int = 1000) -> list[LivenessEvent]:
    """Events due for another delivery, oldest first."""
    rows = session.scalars(
        select(WebhookOutbox)
        .where(WebhookOutbox.next_attempt_at <= now)
        .order_by(WebhookOutbox.id)
        .limit(limit)
    )
    return [LivenessEvent.from_json(row.event, outbox_id=row.id) for row in rows]


def still_owed(archive: Archive, outbox_id: int) -> bool:
    """Whether the event is still in the outbox (not delivered and settled meanwhile);
    True when the database cannot tell: a receiver may get an event twice, never not
    at all."""
    try:
        with archive.read_session() as session:
            return session.get(WebhookOutbox, outbox_id) is not None
    except ArchiveUnavailable:
        return True


def settle(archive: Archive, outbox_id: int, failure: str | None) -> None:
    """Delivered (``failure`` None) or refused for good: removed. Not delivered: put off
    with the backoff, or given up after `MAX_ATTEMPTS`. A database that cannot take it
    leaves the event owed: sent again (a receiver may get an event more than once)."""
    try:
        with archive.session() as session:
            row = session.get(WebhookOutbox, outbox_id)
            if row is None:
                return
            if failure is None:
                session.delete(row)
                return
            row.attempts += 1
            row.last_error = failure[:300]
            if row.attempts >= MAX_ATTEMPTS:
                log_event(
                    "liveness.webhook_given_up",
                    logging.WARNING,
                    embed_url=row.event.get("embed_url"),
                    attempts=row.attempts,
                    reason=row.last_error,
                )
                session.delete(row)
            else:
                row.next_attempt_at = utcnow() + backoff(row.attempts)
    except ArchiveUnavailable as exc:
        log_event("liveness.outbox_not_recorded", logging.WARNING, reason=str(exc))
