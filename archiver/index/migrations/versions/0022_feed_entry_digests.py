"""feed entry digests per source and page

Each page kept one digest of the feed content that linked to it. Two feeds linking the
same story with different content (a full-text feed and a summary feed) overwrote each
other's, so each poll of either took every shared entry for changed and captured its
page again. The digest is now kept per source; ``pages.feed_entry_sha256`` is no
longer read (dropping it would rebuild the pages table on SQLite).

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feed_entry_digests",
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("page_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["page_id"], ["pages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("source_id", "page_id"),
    )
    op.execute(
        "INSERT INTO feed_entry_digests (source_id, page_id, digest)"
        " SELECT source_id, id, feed_entry_sha256 FROM pages"
        " WHERE source_id IS NOT NULL AND feed_entry_sha256 IS NOT NULL"
    )
    op.execute("UPDATE pages SET feed_entry_sha256 = NULL")


def downgrade() -> None:
    op.execute(
        "UPDATE pages SET feed_entry_sha256 = (SELECT digest FROM feed_entry_digests d"
        " WHERE d.page_id = pages.id AND d.source_id = pages.source_id)"
    )
    op.drop_table("feed_entry_digests")
