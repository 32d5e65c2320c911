"""feed_entry_digests title: the title a feed's entry last gave its page

A feed entry re-read at every poll (a photo under a new signature each time, a
per-request token) gave its page its title at every poll, and a capture of the page
its own `<title>` back: the two took turns, and each turn rewrote the sidecars of
every file seen on the page. An entry's title is now taken when it is new to the
entry; this column keeps what the entry said last.

Revision ID: 0037
Revises: 0036
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("feed_entry_digests", sa.Column("title", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("feed_entry_digests", "title")
