"""text index: trigram index for word search (SQLite FTS5, PostgreSQL pg_trgm)

Revision ID: 0008
Revises: 0007
"""

from alembic import op

from archiver.index.textindex import create_text_index, drop_text_index

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_text_index(op.get_bind())  # also fills it from the existing rows


def downgrade() -> None:
    drop_text_index(op.get_bind())
