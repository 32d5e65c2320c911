"""sources

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

import archiver.index.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("detected_kind", sa.String(length=8), nullable=True),
        sa.Column("every_seconds", sa.Float(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("from_config", sa.Boolean(), nullable=False),
        sa.Column("next_poll_at", archiver.index.models.UTCDateTime(), nullable=False),
        sa.Column("last_polled_at", archiver.index.models.UTCDateTime(), nullable=True),
        sa.Column("last_result", sa.String(length=16), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("consecutive_errors", sa.Integer(), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("content_sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", archiver.index.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("url"),
    )
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sources_next_poll_at"), ["next_poll_at"], unique=False)
    with op.batch_alter_table("capture_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "uq_capture_jobs_url",
            ["url"],
            unique=True,
            sqlite_where=sa.text("embed_id IS NULL"),
            postgresql_where=sa.text("embed_id IS NULL"),
        )
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("feed_entry_sha256", sa.String(length=64), nullable=True))
        batch_op.create_foreign_key(
            "fk_pages_source_id", "sources", ["source_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("capture_jobs", schema=None) as batch_op:
        batch_op.drop_index("uq_capture_jobs_url")
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.drop_constraint("fk_pages_source_id", type_="foreignkey")
        batch_op.drop_column("feed_entry_sha256")
        batch_op.drop_column("source_id")
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sources_next_poll_at"))

    op.drop_table("sources")
