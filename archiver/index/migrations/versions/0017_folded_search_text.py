"""search text folded: composed, lower case, Turkish İ as i (see ``fold_text``)

Documents were only lower-cased: a context in decomposed letters (``и`` and a combining
breve for ``й``) was not found by a word typed the usual way, and ``İdlib`` lower-cased
to ``i`` plus a combining dot, which ``idlib`` is not. The stored documents are folded
as the words of a search now are. The SQLite trigram index follows by its triggers.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from archiver.index.textindex import fold_text

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

BATCH = 2000


def upgrade() -> None:
    bind = op.get_bind()
    after = 0
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT id, search_text FROM media WHERE id > :after AND search_text IS NOT NULL "
                "ORDER BY id LIMIT :n"
            ),
            {"after": after, "n": BATCH},
        ).all()
        if not rows:
            return
        changed = [
            {"i": media_id, "t": fold_text(text)}
            for media_id, text in rows
            if fold_text(text) != text
        ]
        if changed:
            bind.execute(sa.text("UPDATE media SET search_text = :t WHERE id = :i"), changed)
        after = rows[-1][0]


def downgrade() -> None:
    pass  # folded documents are still lower case: the older search reads them
