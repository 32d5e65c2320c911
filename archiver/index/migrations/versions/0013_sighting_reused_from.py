"""sighting reused_from_id: a sighting whose bytes were not downloaded again

A URL archived a little earlier through another page (the same clip embedded by
several live blogs) is not fetched again: the new sighting names the one whose
download it shares. Sightings made before this revision were each downloaded.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sightings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reused_from_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_sightings_reused_from_id",
            "sightings",
            ["reused_from_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("sightings", schema=None) as batch_op:
        batch_op.drop_constraint("fk_sightings_reused_from_id", type_="foreignkey")
        batch_op.drop_column("reused_from_id")
