"""placements: a file about to be linked into media/ (or a page version into pages/),
with what indexing it needs

A file linked into place just before its index commit was left without provenance by
a crash in between, for good once its server stopped serving those bytes. The intent
to place it is now committed first, and the next start indexes what it finds placed.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import archiver.index.models

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "placements",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "embed_id",
            sa.Integer(),
            sa.ForeignKey("embeds.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("intent", sa.JSON(), nullable=False),
        sa.Column("created_at", archiver.index.models.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_placements_embed_id", "placements", ["embed_id"])


def downgrade() -> None:
    op.drop_table("placements")
