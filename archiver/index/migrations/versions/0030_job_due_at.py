"""capture job due_at: when a job was due as it was last started

A job cut short by a shutdown or a crash goes back to its place in the queue, the
time it was due when it was taken, not behind the jobs queued while it ran. Jobs
running at the upgrade have none and are due again at once, as before.

Revision ID: 0030
Revises: 0029
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import archiver.index.models

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("capture_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", archiver.index.models.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("capture_jobs", schema=None) as batch_op:
        batch_op.drop_column("due_at")
