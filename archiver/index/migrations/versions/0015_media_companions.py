"""media companions: the files archiver placed beside an original, with their digests

Before this revision a sidecar listed every other file in the original's folder as a
companion, so a stray file there was adopted at the next rewrite. Now the index names
the companions archiver placed (info JSON, thumbnail, subtitles, a platform's answer)
with their SHA-256 and size, and ``verify`` checks them. Files indexed before this
revision keep the list their sidecar gives until they are stored again.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, not a batch: on SQLite a batch copies the table, and dropping
# the old ``media`` table would cascade to its sightings.
def upgrade() -> None:
    op.add_column("media", sa.Column("companions", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("media", "companions")
