"""embed held_by_page: whether a version of the page itself held the embed

A live page source's poll judged every embed of the page missing from its new version
as removed, those a feed entry linking to the page had given too: a file the entry
attaches (an enclosure), which the page's HTML never held, was said to be taken off the
page. Only an embed a version of the page held is judged now. The rows already there
are told apart by how they were found: a feed's attachments and media links were the
feed's alone; media in an entry's text reads as the page's would, and is judged as
before.

Revision ID: 0034
Revises: 0033
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

#: How a feed entry gives media that no page does (`sources.feed`, `sources.jsonfeed`).
FEED_ONLY = ("enclosure", "content", "media:content", "attachment", "external_url", "link")


def upgrade() -> None:
    op.add_column(
        "embeds",
        sa.Column("held_by_page", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    embeds = sa.table("embeds", sa.column("found_in", sa.String), sa.column("held_by_page"))
    op.execute(
        embeds.update().where(embeds.c.found_in.in_(FEED_ONLY)).values(held_by_page=sa.false())
    )


def downgrade() -> None:
    # not a batch copy of the table on SQLite: dropping the old one deletes its sightings
    op.drop_column("embeds", "held_by_page")
