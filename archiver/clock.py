"""The wall clock set back: schedules made while it ran ahead would wait out the gap.

A machine whose clock ran ahead (a board without a battery, a VM restored from a
snapshot) is corrected by NTP or an operator. Every poll, liveness check and retry
scheduled meanwhile is then due that much later than meant, and the daemon's own
timers (APScheduler follows the wall clock) wait it out too: polling stopped, without
a word, for as long as the clock had been ahead. Both are caught here: a step back
seen while running (the wall clock moves against the monotonic one), and at start
times recorded in the future. What was scheduled is then made due at once; it
schedules itself again by the corrected clock. (A step forward needs nothing: what
is overdue runs at once, and a daemon never takes back a job it holds, `claim_due`.)
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from archiver.index.models import CaptureJob, Event, LinkCheck, Source
from archiver.jobs import CLAIMABLE, MAX_DELAY

#: Smaller steps are left alone (NTP slews small errors anyway).
SET_BACK = timedelta(minutes=1)


class ClockWatch:
    """Notices the wall clock being set back, between two looks."""

    def __init__(self) -> None:
        self._offset = _offset()

    def set_back(self) -> float:
        """Seconds the wall clock was set back since the last look; 0 when it was not
        (or by less than `SET_BACK`)."""
        offset = _offset()
        moved, self._offset = self._offset - offset, offset
        return moved if moved > SET_BACK.total_seconds() else 0.0


def _offset() -> float:
    return time.time() - time.monotonic()


def recorded_ahead(session: Session, now: datetime) -> timedelta | None:
    """How far the newest time the archive recorded (a poll, a check, a log entry) is
    ahead of ``now``, when more than `SET_BACK`: the clock has been set back since."""
    newest = [
        session.scalar(select(func.max(column)))
        for column in (Source.last_polled_at, LinkCheck.checked_at, Event.at)
    ]
    ahead = max((moment - now for moment in newest if moment is not None), default=None)
    return ahead if ahead is not None and ahead > SET_BACK else None


def due_now(session: Session, now: datetime) -> int:
    """Make every poll and check scheduled after ``now`` due at ``now``, and every retry
    scheduled later than any backoff reaches (`MAX_DELAY`); a job held by a running
    process (its lease) is left to it. How many were moved.

    A retry due within the backoff may be one scheduled by the corrected clock: the
    log's times stay ahead until the clock catches up, so each start until then sees
    the set-back again, and a daemon restarted in a loop ran every such retry at each
    start, its attempts spent in minutes instead of days."""
    moved = 0
    for table, column, after, *only in (
        (Source, Source.next_poll_at, now),
        (LinkCheck, LinkCheck.next_check_at, now),
        (
            CaptureJob,
            CaptureJob.next_attempt_at,
            now + MAX_DELAY,
            CaptureJob.state.in_(CLAIMABLE),
            CaptureJob.lease_owner.is_(None),
        ),
    ):
        result = session.execute(
            update(table).where(column > after, *only).values({column: now}),
            execution_options={"synchronize_session": False},
        )
        moved += result.rowcount  # type: ignore[attr-defined]
    return moved
