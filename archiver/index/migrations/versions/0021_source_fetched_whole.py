"""when each source was last fetched whole, not answered "304 Not Modified"

A server whose ``Last-Modified`` never moves answers every conditional poll with 304
and hides new entries for good; a source not fetched whole for a day is polled
without its validators.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import archiver.index.models

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "sources",
        sa.Column("fetched_whole_at", archiver.index.models.UTCDateTime(), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("fetched_whole_at")
