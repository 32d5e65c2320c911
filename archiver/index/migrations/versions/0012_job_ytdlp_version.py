"""capture job ytdlp_version: which yt-dlp gave the job's last error

Platforms change and yt-dlp follows with new releases; a job that yt-dlp gave up on
is tried again once the daemon starts with another version. Jobs that failed before
this revision have none, and are not retried that way.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("capture_jobs", sa.Column("ytdlp_version", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("capture_jobs", "ytdlp_version")
