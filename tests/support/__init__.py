"""Test support: real media, real HTTP servers and real PostgreSQL schemas.

Import from here in tests (`from support import FixtureServer, make_clip`); the
`tests/` directory is on `sys.path` because it holds the root `conftest.py`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from .media import (
    PHOTOGRAPHS,
    MediaSet,
    ffmpeg_exe,
    generate_media_set,
    make_audio,
    make_big_file,
    make_clip,
    make_photo,
    make_png,
    make_tiny,
)
from .server import (
    FixtureServer,
    Handler,
    Request,
    RequestHandler,
    closed_port,
    guess_content_type,
)

__all__ = [
    "DEFAULT_PG_URL",
    "PG_URL_ENV",
    "PHOTOGRAPHS",
    "FixtureServer",
    "Handler",
    "MediaSet",
    "Request",
    "RequestHandler",
    "closed_port",
    "ffmpeg_exe",
    "generate_media_set",
    "guess_content_type",
    "locked_table",
    "make_audio",
    "make_big_file",
    "make_clip",
    "make_photo",
    "make_png",
    "make_tiny",
    "pg_schema",
]

PG_URL_ENV = "ARCHIVER_TEST_PG_URL"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextmanager
def pg_schema(
    base_url: str | None = None, prefix: str = "t", *, lock_timeout_ms: int | None = None
) -> Iterator[str]:
    """Create a uniquely named, empty schema; yield a URL whose search_path selects it.

    With ``lock_timeout_ms``, a statement of those connections that waits longer for a
    lock fails (an OperationalError, as when the database cannot serve): a test holds
    a table locked to see what archiver does then.

    Connections made through the URL are tagged with the schema name as their
    application_name, so leaked ones can be cut off before the schema is dropped
    (an idle-in-transaction session would otherwise block DROP SCHEMA forever).
    PostgreSQL being unreachable fails the test: it is never skipped.
    """
    url = make_url(base_url or os.environ.get(PG_URL_ENV) or DEFAULT_PG_URL)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    schema = f"{prefix}_{worker}_{secrets.token_hex(6)}"
    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = sql.Identifier(schema)
    try:
        with psycopg.connect(libpq, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(name))
    except psycopg.OperationalError as exc:
        where = url.render_as_string(hide_password=True)
        pytest.fail(
            f"PostgreSQL is required but unreachable at {where} (set {PG_URL_ENV}): {exc}",
            pytrace=False,
        )
    given = url.query.get("options", ())
    options = " ".join([*([given] if isinstance(given, str) else given), f"-csearch_path={schema}"])
    if lock_timeout_ms is not None:
        options += f" -clock_timeout={lock_timeout_ms}"
    query = {"options": options, "application_name": schema}
    try:
        yield url.update_query_dict(query).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq, autocommit=True, connect_timeout=5) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s AND pid <> pg_backend_pid()",
                [schema],
            )
            conn.execute("SET lock_timeout = '10s'")
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(name))


@contextmanager
def locked_table(url: str, table: str) -> Iterator[None]:
    """Hold ``table`` of a `pg_schema` locked (ACCESS EXCLUSIVE) until the block ends."""
    parsed = make_url(url)
    schema = parsed.query["application_name"]
    libpq = parsed.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    with psycopg.connect(libpq, connect_timeout=5) as holder:  # one transaction, held open
        holder.execute(
            sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(sql.Identifier(schema, table))
        )
        yield
