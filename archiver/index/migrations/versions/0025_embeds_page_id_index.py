"""an index on the page of each embed

The unique index on ``(coalesce(page_id, 0), url)`` cannot serve ``page_id IN (…)``:
`search --page` and the liveness report read every embed (PostgreSQL) or every
sighting (SQLite) of the archive to find one page's, 50 to 70 ms at 300,000 files and
growing with the archive.

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_embeds_page_id", "embeds", ["page_id"])


def downgrade() -> None:
    op.drop_index("ix_embeds_page_id", table_name="embeds")
