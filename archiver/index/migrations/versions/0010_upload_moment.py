"""upload moment: the exact UTC time of a platform upload, when the platform gave one

``media.platform_upload_date`` keeps the UTC day; ``platform_uploaded_at`` the moment,
so the earliest known instance of a near-duplicate group is decided by the time where
there is one. Filled from the platform metadata already stored: yt-dlp's
``timestamp``, or a JSON-LD ``uploadDate`` with a time and an offset.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import archiver.index.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BATCH = 1000

media = sa.table(
    "media",
    sa.column("id", sa.Integer()),
    sa.column("platform_metadata", sa.JSON()),
    sa.column("platform_uploaded_at", archiver.index.models.UTCDateTime()),
)


def _moment(metadata: object) -> datetime | None:
    """The upload's moment in stored platform metadata (as capture reads it now)."""
    if not isinstance(metadata, dict):
        return None
    stamp = metadata.get("timestamp")
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        try:
            return datetime.fromtimestamp(stamp, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    text = metadata.get("uploadDate")
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.utcoffset() is None:
        return None
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # a time zone pushing year 1 or 9999 out of range
        return None


def upgrade() -> None:
    op.add_column(
        "media",
        sa.Column("platform_uploaded_at", archiver.index.models.UTCDateTime(), nullable=True),
    )
    connection = op.get_bind()
    last = 0
    while True:
        rows = connection.execute(
            sa.select(media.c.id, media.c.platform_metadata)
            .where(media.c.id > last, media.c.platform_metadata.is_not(None))
            .order_by(media.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        found = [
            {"row_id": row.id, "moment": moment}
            for row in rows
            if (moment := _moment(row.platform_metadata)) is not None
        ]
        if found:
            connection.execute(
                media.update()
                .where(media.c.id == sa.bindparam("row_id"))
                .values(platform_uploaded_at=sa.bindparam("moment")),
                found,
            )


def downgrade() -> None:
    op.drop_column("media", "platform_uploaded_at")
