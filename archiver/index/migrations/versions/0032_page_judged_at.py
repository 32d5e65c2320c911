"""page judged_at: when a source's poll last judged which embeds left the page

An embed is judged removed once, in the poll where it left the page. Which poll that
was was told by the newest time any embed of the page was seen; a capture or a feed
entry between two polls moved that on without judging anything, and an embed
deleted before it was never judged. Pages judged before the upgrade have none: their
next poll judges as before, and sets it.

Revision ID: 0032
Revises: 0031
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import archiver.index.models

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("judged_at", archiver.index.models.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.drop_column("judged_at")
