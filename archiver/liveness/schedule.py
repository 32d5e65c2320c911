"""When each URL is checked next: by its status, spread with jitter, Retry-After honoured."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from archiver.config import LivenessConfig

CLAIM_LEASE = timedelta(minutes=10)  # a claimed check is not claimed again before this


def next_check(
    settings: LivenessConfig,
    status: str,
    consecutive_errors: int,
    now: datetime,
    retry_after: float | None = None,
) -> datetime:
    """live: daily; error: hourly, doubling with each further error up to daily;
    gone: weekly (to notice a return); restricted: every three days."""
    if status == "error":
        base = min(settings.error_every * 2 ** max(consecutive_errors - 1, 0), settings.live_every)
    else:
        base = {
            "live": settings.live_every,
            "gone": settings.gone_every,
            "restricted": settings.restricted_every,
        }[status]
    spread = base * (1 + random.uniform(-settings.jitter, settings.jitter))
    return now + timedelta(seconds=max(spread, retry_after or 0.0))
