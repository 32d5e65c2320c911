"""When each URL is checked next: by its status, spread with jitter, Retry-After honoured."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

from archiver.config import LivenessConfig

CLAIM_LEASE = timedelta(minutes=10)  # a claimed check is not claimed again before this
MAX_DOUBLINGS = 32  # 2**32 times any interval is far past every cap; more would overflow


def next_check(
    settings: LivenessConfig,
    status: str,
    consecutive_errors: int,
    now: datetime,
    retry_after: float | None = None,
    uncaptured_for: timedelta | None = None,
) -> datetime:
    """live: daily; error: hourly, doubling with each further error up to daily;
    gone: weekly (to notice a return); restricted: every three days.

    A gone URL that archiver never captured (``uncaptured_for``: how long it has been
    dead) is checked again after as long as that, between ``error_every`` and
    ``gone_every``: a CDN that had not caught up with a fresh post is noticed within
    the hour, and a URL dead for days costs a check every few days.

    A Retry-After is honoured up to ``live_every``, the longest wait after errors: a
    server asking for a year (or for more seconds than a date can hold) is asked
    again the next day, and no value can make this raise, since one result that
    could not be scheduled would lose every other result recorded with it.
    """
    if status == "error":
        doublings = min(max(consecutive_errors - 1, 0), MAX_DOUBLINGS)
        base = min(settings.error_every * 2**doublings, settings.live_every)
    elif status == "gone" and uncaptured_for is not None:
        waited = uncaptured_for.total_seconds()
        base = min(max(waited, settings.error_every), settings.gone_every)
    else:
        base = {
            "live": settings.live_every,
            "gone": settings.gone_every,
            "restricted": settings.restricted_every,
        }[status]
    spread = base * (1 + random.uniform(-settings.jitter, settings.jitter))
    return now + timedelta(seconds=max(spread, clamp_wait(retry_after, settings.live_every)))


def clamp_wait(seconds: float | None, cap: float) -> float:
    """A server's requested wait within [0, cap]; none, negative or NaN count as 0."""
    if seconds is None or math.isnan(seconds):
        return 0.0
    return min(max(seconds, 0.0), cap)
