"""search text case-folded (see ``fold_text``)

Documents and words were lower-cased, which writes Greek capital Sigma at a word's end
as final sigma: ``ΟΔΟΣΤΡΩΜΑ`` was stored with ``σ`` inside and the word ``ΟΔΟΣ`` was
looked for with ``ς``, and found nothing (nor did ``οδος`` find a stored ``ΟΔΟΣ``).
Case-folding writes both as ``σ`` (and ``ß`` as ``ss``). The stored documents are
folded again.

Revision ID: 0026
Revises: 0025
"""

from __future__ import annotations

from alembic import op

from archiver.index.textindex import refold_documents

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    refold_documents(op.get_bind())


def downgrade() -> None:
    pass  # case-folded documents are lower case too: the older search reads them
