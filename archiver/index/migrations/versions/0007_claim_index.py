"""claim index: due claimable jobs by next attempt (running jobs: their lease expiry)

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

CLAIMABLE = "state IN ('pending', 'failed', 'running')"


def upgrade() -> None:
    op.execute(
        "UPDATE capture_jobs SET next_attempt_at = lease_expires_at "
        "WHERE state = 'running' AND lease_expires_at IS NOT NULL"
    )
    with op.batch_alter_table("capture_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_capture_jobs_due")
        batch_op.create_index(
            "ix_capture_jobs_claimable",
            ["next_attempt_at"],
            unique=False,
            sqlite_where=sa.text(CLAIMABLE),
            postgresql_where=sa.text(CLAIMABLE),
        )


def downgrade() -> None:
    with op.batch_alter_table("capture_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_capture_jobs_claimable")
        batch_op.create_index("ix_capture_jobs_due", ["state", "next_attempt_at"], unique=False)
