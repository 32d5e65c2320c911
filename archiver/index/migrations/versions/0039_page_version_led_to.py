"""page_snapshots.led_to: where a page version's address led, as pages are recorded

A page captured through a redirect to the story with tracking parameters or a
fragment (``/article?utm_source=feed``, as feed links lead) was not found by the
story's own address: the lookup compared the version's ``final_url`` as fetched.
``led_to`` is that address as a page is recorded (``clean_url``), filled in here for
the versions already archived, and indexed by its start in place of ``final_url``'s.

Revision ID: 0039
Revises: 0038
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from archiver.extract.urls import clean_url

revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None

_BATCH = 1000


def upgrade() -> None:
    op.add_column("page_snapshots", sa.Column("led_to", sa.Text(), nullable=True))
    snapshots = sa.table(
        "page_snapshots", sa.column("id", sa.Integer), sa.column("final_url", sa.Text),
        sa.column("led_to", sa.Text),
    )  # fmt: skip
    bind = op.get_bind()
    fill = (
        sa.update(snapshots)
        .where(snapshots.c.id == sa.bindparam("row_id"))
        .values(led_to=sa.bindparam("clean"))
    )
    read = sa.select(snapshots.c.id, snapshots.c.final_url).order_by(snapshots.c.id).limit(_BATCH)
    last = 0
    while batch := bind.execute(read.where(snapshots.c.id > last)).all():
        bind.execute(fill, [{"row_id": i, "clean": clean_url(url)} for i, url in batch])
        last = batch[-1][0]
    op.drop_index("ix_page_snapshots_final_url_start", table_name="page_snapshots")
    op.create_index(
        "ix_page_snapshots_led_to_start", "page_snapshots", [sa.text("substr(led_to, 1, 200)")]
    )


def downgrade() -> None:
    op.drop_index("ix_page_snapshots_led_to_start", table_name="page_snapshots")
    op.create_index(
        "ix_page_snapshots_final_url_start",
        "page_snapshots",
        [sa.text("substr(final_url, 1, 200)")],
    )
    op.drop_column("page_snapshots", "led_to")
