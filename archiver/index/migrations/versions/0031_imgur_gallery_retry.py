"""Imgur gallery posts given up by yt-dlp: queued again for Imgur's own API

Before 0031 a gallery post (``imgur.com/gallery/ID``) went to yt-dlp, which gets
nothing from a photo post ("… is not a video or animated image"): its job failed for
good, to be retried only by a new yt-dlp. Archiver now reads gallery posts from
Imgur's API, so those jobs are pending again, with fresh attempts.

Revision ID: 0031
Revises: 0030
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import archiver.index.models

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

_JOBS = sa.table(
    "capture_jobs",
    sa.column("url", sa.Text),
    sa.column("state", sa.String),
    sa.column("attempts", sa.Integer),
    sa.column("last_error", sa.Text),
    sa.column("next_attempt_at", archiver.index.models.UTCDateTime()),
    sa.column("updated_at", archiver.index.models.UTCDateTime()),
)


def upgrade() -> None:
    now = datetime.now(UTC)
    op.execute(
        _JOBS.update()
        .where(
            _JOBS.c.state == "failed",
            _JOBS.c.url.like("https://imgur.com/gallery/%"),
            _JOBS.c.last_error.like("%is not a video or animated image%"),
        )
        .values(state="pending", attempts=0, last_error=None, next_attempt_at=now, updated_at=now)
    )


def downgrade() -> None:
    """Nothing to undo: the jobs run (or ran) as any pending job."""
