"""search text: one lower-cased document per stored file for word search

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_text", sa.Text(), nullable=True))
    bind = op.get_bind()
    documents: dict[int, list[str]] = {}
    for media_id, title in bind.execute(sa.text("SELECT id, platform_title FROM media")):
        documents[media_id] = [title or ""]
    rows = bind.execute(
        sa.text(
            "SELECT s.media_id, e.context, e.update_label, p.title FROM sightings s "
            "JOIN embeds e ON e.id = s.embed_id LEFT JOIN pages p ON p.id = e.page_id"
        )
    )
    for media_id, *parts in rows:
        documents.setdefault(media_id, [""]).extend(part or "" for part in parts)
    for media_id, parts in documents.items():
        text = " ".join(part for part in parts if part).lower()
        bind.execute(
            sa.text("UPDATE media SET search_text = :t WHERE id = :i"), {"t": text, "i": media_id}
        )


def downgrade() -> None:
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.drop_column("search_text")
