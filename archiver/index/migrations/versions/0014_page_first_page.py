"""page first_page_url: an older page of a page split into pages names its first page

A live page source's older pages are tied to the first page through the source. A
live blog captured by hand or linked from a feed entry has no source: its older pages
name the first page's address here, so that ``search --page``, ``report`` and
``check`` with that address include them. Older pages recorded before this revision
are found under their own address only.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_page_url", sa.Text(), nullable=True))
        batch_op.create_index("ix_pages_first_page_url", ["first_page_url"])


def downgrade() -> None:
    # not a batch: on SQLite that copies ``pages``, and dropping the old table would
    # cascade to its embeds and snapshots
    op.drop_index("ix_pages_first_page_url", table_name="pages")
    op.drop_column("pages", "first_page_url")
