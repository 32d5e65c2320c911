"""sources read_back_at: when a live page's older pages were last read back in full

A poll reads a live page's older pages only when its first page changed, and stops
where what was archived before goes on: a video added later to an update that had
scrolled on to an older page was never archived. The older pages are now read back
to the limit once a day; this column keeps when they last were.

Revision ID: 0040
Revises: 0039
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import archiver.index.models

revision = "0040"
down_revision = "0039"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "sources", sa.Column("read_back_at", archiver.index.models.UTCDateTime(), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("sources", "read_back_at")
