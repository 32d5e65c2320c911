"""page seen_title: the title the page's newest version showed

Every version whose title differed from the page's retitled it, and a page's title
names each file seen on it (their search text and sidecars): a live page whose title
carries a clock or a count of new posts had every one of its files' sidecars
rewritten at every poll. The page now follows a title once two versions in a row show
it; this column keeps what the last one showed.

Revision ID: 0036
Revises: 0035
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("pages", sa.Column("seen_title", sa.Text(), nullable=True))


def downgrade() -> None:
    # not a batch copy of the table on SQLite: dropping the old one, foreign keys on,
    # deletes its snapshots and embeds
    op.drop_column("pages", "seen_title")
