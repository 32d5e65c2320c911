"""an index on a page's versions by the time each was first fetched

The item page links each sighting to the page as archived when the embed was first
found there: the page's newest version fetched by then. A live page polled for months
has tens of thousands of versions, and each lookup sorted them all (45 ms at 50,000
on SQLite, for each of a file's sightings).

Revision ID: 0029
Revises: 0028
"""

from __future__ import annotations

from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_page_snapshots_page_fetched", "page_snapshots", ["page_id", "first_fetched_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_page_snapshots_page_fetched", table_name="page_snapshots")
