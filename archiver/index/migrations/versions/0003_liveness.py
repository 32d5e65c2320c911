"""liveness

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

import archiver.index.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "link_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("probe", sa.String(length=32), nullable=True),
        sa.Column("checked_at", archiver.index.models.UTCDateTime(), nullable=True),
        sa.Column("next_check_at", archiver.index.models.UTCDateTime(), nullable=False),
        sa.Column("consecutive_errors", sa.Integer(), nullable=False),
        sa.Column("first_seen_dead_at", archiver.index.models.UTCDateTime(), nullable=True),
        sa.Column("came_back_at", archiver.index.models.UTCDateTime(), nullable=True),
        sa.Column("created_at", archiver.index.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("url"),
    )
    with op.batch_alter_table("link_checks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_link_checks_next_check_at"), ["next_check_at"], unique=False
        )

    op.create_table(
        "link_check_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("at", archiver.index.models.UTCDateTime(), nullable=False),
        sa.Column("previous_status", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["check_id"], ["link_checks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("link_check_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_link_check_events_check_id"), ["check_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("link_check_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_check_events_check_id"))

    op.drop_table("link_check_events")
    with op.batch_alter_table("link_checks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_checks_next_check_at"))

    op.drop_table("link_checks")
