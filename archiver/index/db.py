"""Engine creation and schema migration for SQLite (embedded) and PostgreSQL (scale-out)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from archiver.errors import ArchiverError, ArchiveUnavailable, ConfigError, StoreError

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # transactions are begun by _sqlite_begin
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # a committed capture survives power loss
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    """Take the write lock up front: a read-then-write transaction (a job claim) can
    otherwise fail with "database is locked" when another writer got in between.
    Read-only sessions (``READ_ONLY``) begin deferred and do not block writers."""
    if connection.get_execution_options().get("archiver_read_only"):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, read_only: bool = False) -> Engine:
    """An engine for ``url``; SQLite gets WAL and foreign keys. ``read_only``: a SQLite
    index opened to read alone (`read_only_sqlite`)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"database.url: not a database URL: {url!r}") from None
    if parsed.get_backend_name() == "sqlite" and read_only and parsed.database:
        return read_only_sqlite(Path(parsed.database))
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql":
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
        event.listen(engine, "connect", _postgresql_text_without_nul)
        return engine
    raise ConfigError(f"database.url: unsupported database {parsed.get_backend_name()!r}")


def read_only_sqlite(path: Path) -> Engine:
    """An engine that only reads the SQLite index at ``path``, for an archive whose
    folder or filesystem archiver may not write (`sqlite_storage_problem`).

    Opening it as usual sets WAL mode, which has to create the ``-wal`` and ``-shm``
    files beside it: ``search`` and ``status`` were refused on an archive they could
    read. Opened read-only, SQLite reads a ``-wal`` left there (a daemon writing as
    another user); with none, every commit is in the file, read as it is
    (``immutable``: no lock file is needed either).
    """
    wal = path.with_name(path.name + "-wal").exists()
    uri = f"{path.absolute().as_uri()}?mode=ro{'' if wal else '&immutable=1'}"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)

    engine = create_engine("sqlite://", creator=connect)
    event.listen(engine, "connect", _read_only_pragmas)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _read_only_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # transactions are begun by _sqlite_begin
    dbapi_connection.execute("PRAGMA busy_timeout=30000")


def _postgresql_text_without_nul(dbapi_connection: Any, _record: object) -> None:
    """Send NUL characters in text as U+FFFD: PostgreSQL's text cannot hold them.

    They do reach archiver from outside (a JSON-LD ``"\\u0000"``, a platform title), and
    SQLite stores them, so without this one title would fail a whole capture on
    PostgreSQL only. JSON columns (the platform metadata) are sent with NUL escaped
    and keep the exact text, as do yt-dlp's info files.
    """
    adapters = getattr(dbapi_connection, "adapters", None)  # psycopg 3
    if adapters is None:
        return
    from psycopg.abc import Buffer
    from psycopg.types.string import StrBinaryDumper, StrDumperUnknown

    class Text(StrDumperUnknown):
        def dump(self, obj: str) -> Buffer | None:
            return super().dump(obj.replace("\x00", "\ufffd"))

    class BinaryText(StrBinaryDumper):
        def dump(self, obj: str) -> Buffer | None:
            return super().dump(obj.replace("\x00", "\ufffd"))

    adapters.register_dumper(str, BinaryText)
    adapters.register_dumper(str, Text)  # registered last: the one "%s" uses, as before


SCHEMA_HEAD = "0040"  # the newest migration; a test keeps it equal to the scripts' head


def schema_revision(engine: Engine) -> str | None:
    """The index's schema revision (None before any): one cheap query, so commands on
    an up-to-date archive skip loading Alembic."""
    try:
        with engine.connect() as connection:
            found = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError):
        return None
    return None if found is None else str(found)


def refuse_newer_schema(revision: str | None) -> None:
    """ConfigError for an index a later archiver migrated (after going back to this
    release): no migration here knows its revision, and Alembic's own error was a
    traceback from every command."""
    known = {path.name.split("_", 1)[0] for path in (MIGRATIONS / "versions").glob("*.py")}
    if revision is not None and revision not in known:
        raise ConfigError(
            f"the archive's index is at schema revision {revision}, which this archiver"
            f" (newest {SCHEMA_HEAD}) does not know: run the newer archiver that made it"
        )


def migrate(engine: Engine, *, shortcut_when_empty: bool = True, create: bool = True) -> None:
    """Bring the schema to the newest revision (idempotent).

    An empty database gets the newest schema in one step (the models, which a test
    keeps identical to the migrations) and is stamped with the head revision;
    an existing one is upgraded by the Alembic migrations. Without ``create``, an
    empty database is refused: a config naming the wrong PostgreSQL database or
    schema made a read-only command build an archive there and answer "no matches".
    """
    found = schema_revision(engine)
    if found == SCHEMA_HEAD:
        return
    refuse_newer_schema(found)
    try:
        with engine.connect() as connection, _foreign_keys_off(connection), connection.begin():
            if connection.dialect.name == "postgresql":
                # several daemons may start at once against one database
                connection.execute(text("SELECT pg_advisory_xact_lock(727465)"))
            empty = not inspect(connection).get_table_names()
            if empty and not create:
                raise ConfigError(
                    f"no archive in the database {engine.url} (it holds no tables):"
                    " `archiver init` makes one; or does the config name another?"
                )
            if shortcut_when_empty and empty:
                _create_newest(connection)
            else:
                _upgrade(connection)
                _check_foreign_keys(connection)
    except OperationalError as exc:  # down, unreachable or full: may pass, so not a config error
        refuse_lasting_problem(engine.url)
        raise database_unavailable(exc, engine.url) from None


@contextlib.contextmanager
def _foreign_keys_off(connection: Connection) -> Iterator[None]:
    """On SQLite, migrate with foreign keys off, as SQLite asks for table changes.

    A migration that alters a table SQLite cannot ALTER copies it and drops the old
    one, and with foreign keys on, that drop deletes every row that points at it
    through ``ON DELETE CASCADE`` (upgrading an archive from 0001 emptied its embeds
    and page snapshots). The pragma is ignored inside a transaction, so it is set on
    the connection before the migration's transaction begins.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    raw = connection.connection.dbapi_connection
    assert raw is not None
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def _check_foreign_keys(connection: Connection) -> None:
    """With foreign keys off, check them before the migration commits."""
    if connection.dialect.name == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise StoreError(
                f"schema migration left {len(broken)} rows with broken references; "
                "nothing was changed"
            )


#: PostgreSQL error classes and codes that are the server's state, not the statement's:
#: connection lost (08), insufficient resources such as a full disk (53), shut down or
#: starting (57), system I/O (58), and a lock or serialisation conflict worth retrying.
_PG_UNAVAILABLE_CLASSES = ("08", "53", "57", "58")
_PG_UNAVAILABLE_CODES = ("40001", "40P01", "55P03")
#: SQLite's messages for the same (its OperationalError also means "no such table").
_SQLITE_UNAVAILABLE = (
    "disk is full",
    "disk i/o error",
    "database is locked",
    "unable to open database",
    "readonly database",
)


def is_unavailable(exc: OperationalError) -> bool:
    """Whether a database error is the database's state (it may pass: retry the work
    later) rather than the work's own fault (a statement PostgreSQL cannot run, such
    as an index row over its size limit, fails the same way every time)."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate[:2] in _PG_UNAVAILABLE_CLASSES or sqlstate in _PG_UNAVAILABLE_CODES
    if isinstance(exc.orig, sqlite3.Error):
        return any(words in str(exc.orig).lower() for words in _SQLITE_UNAVAILABLE)
    return True  # no state: the connection itself failed


def database_unavailable(exc: OperationalError, url: URL | None = None) -> ArchiveUnavailable:
    """The one-line error for the database's own failure: the disk under SQLite is
    full, PostgreSQL is down or restarting, a lock was held too long. For SQLite, what
    is wrong with the folder of its file is said too: its own words for a full disk
    can be "disk I/O error", which reads as failing hardware."""
    problem = sqlite_storage_problem(url) if isinstance(exc.orig, sqlite3.Error) else None
    where = f" ({problem.reason})" if problem else ""
    return ArchiveUnavailable(f"archive database unavailable: {_said(exc)}{where}")


@dataclass(frozen=True)
class StorageProblem:
    reason: str
    lasting: bool  # it stays until someone acts (read-only, permissions): not a full disk


#: Less free space than this under the SQLite file is a full disk (SQLite needs room
#: for its journal and shared memory before it can even read).
LOW_SPACE = 1024 * 1024


def refuse_lasting_problem(url: URL) -> None:
    """ConfigError when the SQLite file's folder has a problem that will not pass by
    itself (read-only, permissions): a restart would only meet it again."""
    problem = sqlite_storage_problem(url)
    if problem is not None and problem.lasting:
        raise ConfigError(f"cannot write the archive's index: {problem.reason}")


def sqlite_storage_problem(url: URL | None) -> StorageProblem | None:
    """What keeps SQLite from its file's folder: a read-only filesystem, a file or
    folder archiver may not write, or a full disk; None when none of these is seen."""
    if url is None or url.get_backend_name() != "sqlite" or not url.database:
        return None
    path = Path(url.database).absolute()
    try:
        stats = os.statvfs(path.parent)
    except OSError:
        return None
    if stats.f_flag & os.ST_RDONLY:
        return StorageProblem(f"{path.parent} is on a read-only filesystem", lasting=True)
    for place in (path.parent, path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))):
        if place.exists() and not os.access(place, os.W_OK):
            return StorageProblem(f"no permission to write {place}", lasting=True)
    free = stats.f_bavail * stats.f_frsize
    if free < LOW_SPACE:
        return StorageProblem(f"the disk is full: {free:,} bytes free in {path.parent}", False)
    return None


def database_unusable(exc: DatabaseError, url: URL) -> StoreError:
    """The one-line error for a file that is no database (damaged, or another's)."""
    return StoreError(f"archive database unusable: {_said(exc)} ({url})")


#: What PostgreSQL says of an index that cannot answer: a table or column missing, a
#: user that may not read it.
_PG_INDEX_STATES = frozenset({"42P01", "42703", "42501"})
_SQLITE_INDEX_WORDS = ("no such table", "no such column")


def database_failed(exc: DatabaseError, url: URL | None = None) -> ArchiverError | None:
    """The one-line error for a statement the index could not run: the database's
    state (`database_unavailable`), or the index itself (a table a half-restored copy
    lacks, a PostgreSQL user that may not read it); None for any other failure, a
    fault of archiver's own, which keeps its traceback."""
    if isinstance(exc, OperationalError) and is_unavailable(exc):
        return database_unavailable(exc, url)
    sqlstate = getattr(exc.orig, "sqlstate", None)
    said = str(exc.orig).lower() if isinstance(exc.orig, sqlite3.Error) else ""
    if sqlstate in _PG_INDEX_STATES or said.startswith(_SQLITE_INDEX_WORDS):
        return StoreError(
            f"archive database failed: {_said(exc)} (is the index damaged, or may this"
            " user not read it?)"
        )
    return None


def _said(exc: DatabaseError) -> str:
    """The first line of what the database driver said."""
    detail = str(exc.orig or exc).strip().splitlines()
    return detail[0] if detail else type(exc.orig or exc).__name__


def _create_newest(connection: Connection) -> None:
    from archiver.index.models import Base
    from archiver.index.textindex import create_text_index

    Base.metadata.create_all(connection)
    create_text_index(connection)  # not in the models: an FTS table, triggers, a GIN index
    connection.execute(
        text(
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
            "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
        )
    )
    connection.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": SCHEMA_HEAD})


def _upgrade(connection: Connection) -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


def session_factory(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    bind = engine.execution_options(archiver_read_only=True) if read_only else engine
    return sessionmaker(bind, expire_on_commit=False)
