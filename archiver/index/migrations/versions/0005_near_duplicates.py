"""near duplicates

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

import archiver.index.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "duplicate_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("earliest_media_id", sa.Integer(), nullable=False),
        sa.Column("created_at", archiver.index.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", archiver.index.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["earliest_media_id"],
            ["media.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "duplicate_pairs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("media_a_id", sa.Integer(), nullable=False),
        sa.Column("media_b_id", sa.Integer(), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("found_at", archiver.index.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["media_a_id"], ["media.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["media_b_id"], ["media.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("media_a_id", "media_b_id"),
    )
    with op.batch_alter_table("duplicate_pairs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_duplicate_pairs_media_b_id"), ["media_b_id"], unique=False
        )

    op.create_table(
        "fingerprints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.Integer(), nullable=False),
        sa.Column("algorithm", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("hashes", sa.JSON(), nullable=True),
        sa.Column("frame_hash_names", sa.JSON(), nullable=True),
        sa.Column("frame_count", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", archiver.index.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["media_id"], ["media.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("media_id"),
    )
    op.create_table(
        "duplicate_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.Integer(), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["duplicate_groups.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["media_id"], ["media.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("media_id"),
    )
    with op.batch_alter_table("duplicate_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_duplicate_members_group_id"), ["group_id"], unique=False
        )

    op.create_table(
        "frame_hashes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint_id", sa.Integer(), nullable=False),
        sa.Column("t", sa.Float(), nullable=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["fingerprint_id"], ["fingerprints.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("frame_hashes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_frame_hashes_fingerprint_id"), ["fingerprint_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("frame_hashes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_frame_hashes_fingerprint_id"))

    op.drop_table("frame_hashes")
    with op.batch_alter_table("duplicate_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_duplicate_members_group_id"))

    op.drop_table("duplicate_members")
    op.drop_table("fingerprints")
    with op.batch_alter_table("duplicate_pairs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_duplicate_pairs_media_b_id"))

    op.drop_table("duplicate_pairs")
    op.drop_table("duplicate_groups")
