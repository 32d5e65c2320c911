"""initial schema

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from archiver.index.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("mime_type", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=16), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("first_captured_at", UTCDateTime(), nullable=False),
        sa.Column("platform_extractor", sa.String(length=100), nullable=True),
        sa.Column("platform_id", sa.String(length=200), nullable=True),
        sa.Column("platform_title", sa.Text(), nullable=True),
        sa.Column("platform_uploader", sa.Text(), nullable=True),
        sa.Column("platform_upload_date", sa.Date(), nullable=True),
        sa.Column("platform_metadata", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sha256"),
    )
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_media_first_captured_at"), ["first_captured_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_media_md5"), ["md5"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_media_platform_upload_date"), ["platform_upload_date"], unique=False
        )

    op.create_table(
        "pages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("first_fetched_at", UTCDateTime(), nullable=False),
        sa.Column("last_fetched_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("url"),
    )
    op.create_table(
        "embeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("page_id", sa.Integer(), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("original_url", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=True),
        sa.Column("media_type", sa.String(length=16), nullable=True),
        sa.Column("found_in", sa.String(length=32), nullable=False),
        sa.Column("update_label", sa.Text(), nullable=True),
        sa.Column("context", sa.Text(), nullable=True),
        sa.Column("embed_metadata", sa.JSON(), nullable=True),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("removed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["page_id"], ["pages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("embeds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_embeds_url"), ["url"], unique=False)
    # one embed per (page, canonical URL); direct captures have no page
    op.create_index(
        "uq_embeds_page_url",
        "embeds",
        [sa.text("coalesce(page_id, 0)"), "url"],
        unique=True,
    )

    op.create_table(
        "page_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("page_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("final_url", sa.Text(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("first_fetched_at", UTCDateTime(), nullable=False),
        sa.Column("last_fetched_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["page_id"], ["pages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("page_id", "sha256"),
    )
    with op.batch_alter_table("page_snapshots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_page_snapshots_sha256"), ["sha256"], unique=False)

    op.create_table(
        "capture_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("embed_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["embed_id"], ["embeds.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("embed_id"),
    )
    with op.batch_alter_table("capture_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_capture_jobs_due", ["state", "next_attempt_at"], unique=False)

    op.create_table(
        "sightings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.Integer(), nullable=False),
        sa.Column("embed_id", sa.Integer(), nullable=False),
        sa.Column("media_url", sa.Text(), nullable=False),
        sa.Column("tool", sa.String(length=32), nullable=False),
        sa.Column("tool_version", sa.String(length=64), nullable=False),
        sa.Column("archiver_version", sa.String(length=64), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("response_headers", sa.JSON(), nullable=True),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["embed_id"], ["embeds.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["media_id"], ["media.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("media_id", "embed_id"),
    )
    with op.batch_alter_table("sightings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sightings_embed_id"), ["embed_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sightings_media_id"), ["media_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sightings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sightings_media_id"))
        batch_op.drop_index(batch_op.f("ix_sightings_embed_id"))

    op.drop_table("sightings")
    with op.batch_alter_table("capture_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_capture_jobs_due")

    op.drop_table("capture_jobs")
    with op.batch_alter_table("page_snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_page_snapshots_sha256"))

    op.drop_table("page_snapshots")
    op.drop_index("uq_embeds_page_url", table_name="embeds")
    with op.batch_alter_table("embeds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_embeds_url"))

    op.drop_table("embeds")
    op.drop_table("pages")
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_media_platform_upload_date"))
        batch_op.drop_index(batch_op.f("ix_media_md5"))
        batch_op.drop_index(batch_op.f("ix_media_first_captured_at"))

    op.drop_table("media")
