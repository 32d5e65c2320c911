"""sidecar debts: sidecars owed a rewrite, recorded with the change that needs it

Sidecars are written after the transaction that changes what they say commits. A
crash in between left a page version without a sidecar, or a file's sidecar without
its page's new title or its near-duplicate group, for good. Each such transaction now
records the debt; the rewrite removes it, and the next start pays what is left.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sidecar_debts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "media_id", sa.Integer(), sa.ForeignKey("media.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column("page_sha256", sa.String(64), nullable=True),
    )
    op.create_index("ix_sidecar_debts_media_id", "sidecar_debts", ["media_id"])
    op.create_index("ix_sidecar_debts_page_sha256", "sidecar_debts", ["page_sha256"])


def downgrade() -> None:
    op.drop_table("sidecar_debts")
