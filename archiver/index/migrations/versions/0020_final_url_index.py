"""an index on where each page version's address led (its start)

A page captured through a short link or a redirect was found only by the address it
was asked for, not by the story's own. Page versions keep their ``final_url``; this
indexes its first 200 characters (a B-tree entry must stay short, an address need
not), and the lookup compares the whole address after.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_page_snapshots_final_url_start",
        "page_snapshots",
        [sa.text("substr(final_url, 1, 200)")],
    )


def downgrade() -> None:
    op.drop_index("ix_page_snapshots_final_url_start", table_name="page_snapshots")
