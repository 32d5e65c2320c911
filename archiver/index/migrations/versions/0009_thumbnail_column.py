"""thumbnail column: image thumbnails leave the fingerprint's JSON for their own column

Before, each image's 64 px thumbnail sat in ``fingerprints.hashes`` under
``"thumbnail"`` as ``"WxH:base64"``, so loading the matcher's index at start read and
decoded every thumbnail only to drop it. Now the pixels are a deferred blob
(``thumbnail``, row-major 8-bit grey) with their width (``thumbnail_width``), read
only for the candidates being verified. Rows are moved in batches by id.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import base64
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

KEY = "thumbnail"  # the JSON key the thumbnail was kept under
BATCH = 1000

fingerprints = sa.table(
    "fingerprints",
    sa.column("id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("hashes", sa.JSON()),
    sa.column("thumbnail_width", sa.Integer()),
    sa.column("thumbnail", sa.LargeBinary()),
)


def _image_rows(connection: sa.Connection) -> Any:
    """(id, hashes, thumbnail_width, thumbnail) of image fingerprints, in id batches."""
    last = 0
    while True:
        rows = connection.execute(
            sa.select(
                fingerprints.c.id,
                fingerprints.c.hashes,
                fingerprints.c.thumbnail_width,
                fingerprints.c.thumbnail,
            )
            .where(fingerprints.c.kind == "image", fingerprints.c.id > last)
            .order_by(fingerprints.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        yield rows


def _update(connection: sa.Connection, changes: list[dict[str, Any]]) -> None:
    if changes:
        connection.execute(
            fingerprints.update()
            .where(fingerprints.c.id == sa.bindparam("row_id"))
            .values(
                hashes=sa.bindparam("hashes"),
                thumbnail_width=sa.bindparam("width"),
                thumbnail=sa.bindparam("pixels"),
            ),
            changes,
        )


def _from_text(text: object) -> tuple[int, bytes] | tuple[None, None]:
    """``"WxH:base64"`` as (width, pixels); (None, None) when it is not one."""
    if not isinstance(text, str):
        return None, None
    size, _, data = text.partition(":")
    try:
        width, height = (int(v) for v in size.split("x"))
        pixels = base64.b64decode(data, validate=True)
    except ValueError:
        return None, None
    return (width, pixels) if width > 0 and len(pixels) == width * height else (None, None)


def upgrade() -> None:
    op.add_column("fingerprints", sa.Column("thumbnail_width", sa.Integer(), nullable=True))
    op.add_column("fingerprints", sa.Column("thumbnail", sa.LargeBinary(), nullable=True))
    connection = op.get_bind()
    for rows in _image_rows(connection):
        changes = []
        for row in rows:
            if not row.hashes or KEY not in row.hashes:
                continue
            hashes = dict(row.hashes)
            width, pixels = _from_text(hashes.pop(KEY))
            changes.append({"row_id": row.id, "hashes": hashes, "width": width, "pixels": pixels})
        _update(connection, changes)


def downgrade() -> None:
    connection = op.get_bind()
    for rows in _image_rows(connection):
        changes = []
        for row in rows:
            if row.thumbnail is None or not row.thumbnail_width or row.hashes is None:
                continue
            height = len(row.thumbnail) // row.thumbnail_width
            text = f"{row.thumbnail_width}x{height}:" + base64.b64encode(row.thumbnail).decode()
            hashes = {**row.hashes, KEY: text}
            changes.append({"row_id": row.id, "hashes": hashes, "width": None, "pixels": None})
        _update(connection, changes)
    with op.batch_alter_table("fingerprints") as batch_op:
        batch_op.drop_column("thumbnail")
        batch_op.drop_column("thumbnail_width")
