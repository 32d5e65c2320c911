"""capture_jobs page_changed_at: a poll found the page changed while its job ran

A feed entry that changed while its page's capture job ran was left to that job,
which had fetched the page before the change and ended done: the page's new version
(a video added to a developing story) was never captured, the entry being unchanged
at the next poll. The poll now marks such a job, and the job is pending again when it
ends instead of done.

Revision ID: 0038
Revises: 0037
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import archiver.index.models

revision = "0038"
down_revision = "0037"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "capture_jobs",
        sa.Column("page_changed_at", archiver.index.models.UTCDateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("capture_jobs", "page_changed_at")
