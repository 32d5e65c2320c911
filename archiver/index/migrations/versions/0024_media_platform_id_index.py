"""an index on the platform's id of each file

An embed of a post under another spelling (``x.com/foo/status/N`` where the archive
holds ``twitter.com/Foo/status/N``; ``/reel/CODE`` for ``/p/CODE``) found no archived
copy: copies are now also found by the post's id on its platform.

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_media_platform_id", "media", ["platform_id"])


def downgrade() -> None:
    op.drop_index("ix_media_platform_id", table_name="media")
