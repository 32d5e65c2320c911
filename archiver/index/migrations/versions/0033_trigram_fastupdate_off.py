"""the word search's trigram index without a pending list, on archives made before it

Migration 0008 first created ``ix_media_search_text_trgm`` with PostgreSQL's default
``fastupdate = on``; the option was added to it later, and ``CREATE INDEX IF NOT
EXISTS`` leaves an existing index as it is. Archives upgraded through the first 0008
kept new rows in a pending list every search reads through (docs/web.md).

Revision ID: 0033
Revises: 0032
"""

from __future__ import annotations

from alembic import op

from archiver.index.textindex import TRIGRAM_INDEX

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER INDEX IF EXISTS {TRIGRAM_INDEX} SET (fastupdate = off)")


def downgrade() -> None:
    pass  # the option only spares searches work; nothing to undo
