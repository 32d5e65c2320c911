"""who a placement belongs to; capture jobs that run alone after a worker died

A process that starts indexed every placement intent it found, its own or not: one
started beside a running capture dropped that capture's intent for a file not yet
linked, and the file, linked and then cut off by a crash, stayed in ``media/``
unindexed. Each intent now names its writer (``host:pid``), and only a dead writer's
intents are settled.

A worker's death was charged to every job it was running: one file that crashed the
daemon took the jobs beside it down with it, given up after as many crashes. A job
that was running beside others when its worker died is now marked ``run_alone``:
the attempt is not charged, and it next runs with nothing beside it, where a death
is its own.

Revision ID: 0028
Revises: 0027
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("placements", sa.Column("owner", sa.String(200), nullable=True))
    op.add_column(
        "capture_jobs",
        sa.Column("run_alone", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("capture_jobs") as batch_op:
        batch_op.drop_column("run_alone")
    with op.batch_alter_table("placements") as batch_op:
        batch_op.drop_column("owner")
