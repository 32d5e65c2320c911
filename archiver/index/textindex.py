"""The index behind ``search --text``: substring search without scanning every file.

Word search means "every word is a substring of ``media.search_text``" (a LIKE
``'%word%'`` per word). A B-tree cannot answer that, so each database gets a trigram
index over the column:

- **SQLite:** an FTS5 table with the ``trigram`` tokenizer over ``media.search_text``
  (external content: it stores only the index, the text stays in ``media``), kept in
  sync by triggers on ``media``, so every write path (capture, rehash, bulk inserts)
  stays correct without knowing about it. Searches pre-select the candidate rows
  with ``MATCH`` for each word of 3 or more characters; the LIKE still decides.
- **PostgreSQL:** a GIN ``gin_trgm_ops`` index (extension ``pg_trgm``), which the
  planner uses for ``LIKE '%word%'`` directly. When the extension cannot be created
  (no privilege, not installed) the upgrade goes on without the index: search stays
  correct but scans, and a warning says what to run.

``create_text_index`` is the one definition, used both by migration 0008 and by the
one-step creation of an empty database. A later migration that rebuilds ``media`` on
SQLite (``batch_alter_table`` copies it to a new table) drops the triggers with the
old table and must call ``create_text_index`` again.
"""

from __future__ import annotations

import logging
import unicodedata
from typing import Any

from sqlalchemy import BindParameter, Boolean, ColumnElement, Connection, bindparam, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from archiver.logs import log_event

FTS_TABLE = "media_search"  # SQLite; its shadow tables are media_search_data, _idx, ...
TRIGRAM_INDEX = "ix_media_search_text_trgm"  # PostgreSQL
MIN_INDEXED = 3  # trigram: shorter words cannot be looked up, they are only scanned
STATISTICS_TARGET = 1000  # PostgreSQL: documents sampled to estimate how common a word is


def fold_text(text: str) -> str:
    """Text as word search compares it, the stored documents and the words alike:
    composed (NFKC: ``й`` typed as one letter or as ``и`` and a breve), case-folded
    (Unicode's caseless form: Greek ``Σ`` at a word's end is ``σ`` as elsewhere, where
    lower case makes it ``ς``; ``ß`` is ``ss``), and Turkish ``İ`` as ``i`` (folded, it
    is ``i`` and a combining dot)."""
    return unicodedata.normalize("NFKC", text).casefold().replace("i\u0307", "i")


def refold_documents(bind: Connection, batch: int = 2000) -> None:
    """Fold the stored search documents again (`fold_text`), for a migration that
    changed it; the SQLite trigram index follows by its triggers."""
    after = 0
    while True:
        rows = bind.execute(
            text(
                "SELECT id, search_text FROM media WHERE id > :after AND search_text IS NOT NULL "
                "ORDER BY id LIMIT :n"
            ),
            {"after": after, "n": batch},
        ).all()
        if not rows:
            return
        changed = [
            {"i": media_id, "t": fold_text(document)}
            for media_id, document in rows
            if fold_text(document) != document
        ]
        if changed:
            bind.execute(text("UPDATE media SET search_text = :t WHERE id = :i"), changed)
        after = rows[-1][0]


_SQLITE_CREATE = (
    f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5("
    "search_text, content='media', content_rowid='id', tokenize='trigram', columnsize=0)",
    f"CREATE TRIGGER {FTS_TABLE}_insert AFTER INSERT ON media BEGIN "
    f"INSERT INTO {FTS_TABLE}(rowid, search_text) VALUES (new.id, new.search_text); END",
    # external content: the index must be told the old text to forget it
    f"CREATE TRIGGER {FTS_TABLE}_delete AFTER DELETE ON media BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); END",
    f"CREATE TRIGGER {FTS_TABLE}_update AFTER UPDATE OF id, search_text ON media "
    "WHEN old.id IS NOT new.id OR old.search_text IS NOT new.search_text BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); "
    f"INSERT INTO {FTS_TABLE}(rowid, search_text) VALUES (new.id, new.search_text); END",
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')",  # backfill existing rows
)
_SQLITE_DROP = (
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_insert",
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_delete",
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_update",
    f"DROP TABLE IF EXISTS {FTS_TABLE}",
)


def create_text_index(connection: Connection) -> None:
    """Create the word-search index for ``media`` and fill it from the rows there."""
    if connection.dialect.name == "sqlite":
        for statement in _SQLITE_CREATE:
            connection.exec_driver_sql(statement)
    elif connection.dialect.name == "postgresql":
        _create_trigram_index(connection)


def drop_text_index(connection: Connection) -> None:
    """Remove what ``create_text_index`` made (the extension stays: others may use it)."""
    if connection.dialect.name == "sqlite":
        for statement in _SQLITE_DROP:
            connection.exec_driver_sql(statement)
    elif connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"DROP INDEX IF EXISTS {TRIGRAM_INDEX}")
        connection.exec_driver_sql("ALTER TABLE media ALTER COLUMN search_text SET STATISTICS -1")


def _create_trigram_index(connection: Connection) -> None:
    """The GIN index, if ``pg_trgm`` is there or may be created; else a warning."""
    schema = _trigram_schema(connection)
    if schema is None:
        return
    opclass = f"{connection.dialect.identifier_preparer.quote_schema(schema)}.gin_trgm_ops"
    # fastupdate off: new rows go straight into the index instead of a pending list
    # that every search reads through until autovacuum merges it (up to 4 MB)
    connection.exec_driver_sql(
        f"CREATE INDEX IF NOT EXISTS {TRIGRAM_INDEX} ON media "
        f"USING gin (search_text {opclass}) WITH (fastupdate = off)"
    )
    # LIKE '%word%' is estimated from the sampled documents; with the default 100 a
    # word in one of them reads as 1 % of the archive and gets a full scan
    connection.exec_driver_sql(
        f"ALTER TABLE media ALTER COLUMN search_text SET STATISTICS {STATISTICS_TARGET}"
    )


def _trigram_schema(connection: Connection) -> str | None:
    """The schema holding ``pg_trgm``, creating the extension when it is missing.

    A new extension goes into ``public`` when that exists: extensions are per
    database, and one inside the archive's own schema would vanish (with the
    indexes of every other schema using it) when that schema is dropped.
    """
    found = _extension_schema(connection)
    if found is not None:
        return found
    public = connection.scalar(text("SELECT to_regnamespace('public') IS NOT NULL"))
    savepoint = connection.begin_nested()  # a refusal must not abort the whole upgrade
    try:
        connection.exec_driver_sql(
            "CREATE EXTENSION IF NOT EXISTS pg_trgm" + (" SCHEMA public" if public else "")
        )
    except DBAPIError as exc:
        savepoint.rollback()
        log_event(
            "index.text_index_missing",
            logging.WARNING,
            reason=str(getattr(exc, "orig", exc)).splitlines()[0],
            effect="word search scans media; once CREATE EXTENSION pg_trgm is done "
            "(by a role with CREATE on the database), run: "
            f"CREATE INDEX {TRIGRAM_INDEX} ON media USING gin (search_text gin_trgm_ops) "
            "WITH (fastupdate = off) (docs/web.md)",
        )
        return None
    savepoint.commit()
    return _extension_schema(connection)


def _extension_schema(connection: Connection) -> str | None:
    query = text(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'"
    )
    schema: str | None = connection.scalar(query)
    return schema


def owns(name: str | None) -> bool:
    """Whether a table or index of this name belongs to the word-search index, which
    the models do not describe (schema comparisons leave these out)."""
    return bool(name) and (name == TRIGRAM_INDEX or str(name).startswith(FTS_TABLE))


class IndexedWords(ColumnElement[bool]):
    """True for the media rows the SQLite word index finds every word in; on other
    databases no clause at all (their ``LIKE`` uses the trigram index by itself).

    A candidate filter only: the trigram lookup folds case by its own rules, so the
    ``LIKE`` per word stays in the query and gives the exact answer.
    """

    type = Boolean()
    inherit_cache = True
    _is_implicitly_boolean = True  # a condition already: no "= 1" where booleans are ints
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy's declaration, read by its cache
        ("media_id", InternalTraversal.dp_clauseelement),
        ("phrases", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, media_id: ColumnElement[int], words: list[str]) -> None:
        self.media_id = media_id
        self.phrases: BindParameter[str] = bindparam(
            "text_phrases", fts_phrases(words), unique=True
        )


def fts_phrases(words: list[str]) -> str:
    """An FTS5 query that needs every word as a substring: each one a quoted phrase."""
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)


@compiles(IndexedWords, "sqlite")
def _indexed_words_sqlite(element: IndexedWords, compiler: SQLCompiler, **kw: Any) -> str:
    media_id = compiler.process(element.media_id, **kw)
    phrases = compiler.process(element.phrases, **kw)
    return f"{media_id} IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH {phrases})"


@compiles(IndexedWords)
def _indexed_words_other(element: IndexedWords, compiler: SQLCompiler, **kw: Any) -> str:
    return "1 = 1"


__all__ = [
    "FTS_TABLE",
    "MIN_INDEXED",
    "TRIGRAM_INDEX",
    "IndexedWords",
    "create_text_index",
    "drop_text_index",
    "fts_phrases",
    "owns",
]
