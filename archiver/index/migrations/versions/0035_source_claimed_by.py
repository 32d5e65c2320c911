"""source claimed_by, claimed_at: who is polling a source, and since when

Taking a source pushed its next poll out by a five-minute hold, renewed while the poll
ran; a daemon killed mid-poll (kill -9, the OOM killer, the watchdog) left its sources
waiting the hold out, its own restart included: a daemon in a crash loop polled its
live pages every five minutes. A claim now names its holder (``host:pid``, as a job's
lease does) and when it was taken, so a start takes up at once the sources a dead
process of its host held. Claims taken before the upgrade have none: they lapse as
before.

Revision ID: 0035
Revises: 0034
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import archiver.index.models

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sources", sa.Column("claimed_by", sa.String(200), nullable=True))
    op.add_column(
        "sources", sa.Column("claimed_at", archiver.index.models.UTCDateTime(), nullable=True)
    )


def downgrade() -> None:
    # not a batch copy of the table on SQLite: dropping the old one, foreign keys on,
    # deletes its feeds' entry digests and unlinks its pages
    op.drop_column("sources", "claimed_at")
    op.drop_column("sources", "claimed_by")
