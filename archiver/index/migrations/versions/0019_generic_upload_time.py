"""no upload time for files of yt-dlp's generic extractor

The generic extractor reports a file server's Last-Modified as the file's
``timestamp``, which was kept as the platform's upload time and could name a copy
with an old file time the earliest of its near-duplicates. It is cleared; yt-dlp's
info JSON beside each file keeps what it said. Their sidecars are owed a rewrite
(``sidecar_debts``), which the daemon's next start pays.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_GENERIC = "lower(platform_extractor) = 'generic' AND (platform_upload_date IS NOT NULL"
_GENERIC += " OR platform_uploaded_at IS NOT NULL)"


def upgrade() -> None:
    bind = op.get_bind()
    bind.execute(
        sa.text(f"INSERT INTO sidecar_debts (media_id) SELECT id FROM media WHERE {_GENERIC}")
    )
    bind.execute(
        sa.text(
            "UPDATE media SET platform_upload_date = NULL, platform_uploaded_at = NULL "
            f"WHERE {_GENERIC}"
        )
    )


def downgrade() -> None:
    pass  # what was cleared was never the platform's word
