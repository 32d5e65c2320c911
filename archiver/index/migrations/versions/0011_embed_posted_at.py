"""embed posted_at: when a feed said the entry holding an embed was posted

A feed entry's ``published`` (else ``updated``) date is what the outlet says about
when the update went out: provenance that the capture time cannot give. Embeds found
before this revision have none.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import archiver.index.models

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "embeds", sa.Column("posted_at", archiver.index.models.UTCDateTime(), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("embeds", "posted_at")
