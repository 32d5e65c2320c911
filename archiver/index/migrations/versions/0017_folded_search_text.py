"""search text folded: composed, lower case, Turkish İ as i (see ``fold_text``)

Documents were only lower-cased: a context in decomposed letters (``и`` and a combining
breve for ``й``) was not found by a word typed the usual way, and ``İdlib`` lower-cased
to ``i`` plus a combining dot, which ``idlib`` is not. The stored documents are folded
as the words of a search now are. The SQLite trigram index follows by its triggers.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from alembic import op

from archiver.index.textindex import refold_documents

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    refold_documents(op.get_bind())


def downgrade() -> None:
    pass  # folded documents are still lower case: the older search reads them
