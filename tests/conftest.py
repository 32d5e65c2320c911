"""Shared fixtures: real media files, real HTTP servers, real databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import FixtureServer, MediaSet, generate_media_set, pg_schema


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> MediaSet:
    """Clips, photos, a PNG, a tracking pixel and audio, generated once per session."""
    return generate_media_set(tmp_path_factory.mktemp("media"))


@pytest.fixture(scope="session")
def media_dir(media: MediaSet) -> Path:
    """The directory holding the session's generated media."""
    return media.directory


@pytest.fixture(scope="session")
def media_server(media: MediaSet) -> Iterator[FixtureServer]:
    """A shared server with every media file at /media/<file name>; don't count hits on it."""
    with FixtureServer() as srv:
        for path in media.files().values():
            srv.add_file(f"/media/{path.name}", path)
        yield srv


@pytest.fixture
def server() -> Iterator[FixtureServer]:
    """A fresh server per test; a route handler that crashed fails the test."""
    with FixtureServer() as srv:
        yield srv
    if srv.errors:
        pytest.fail(f"fixture server route raised: {srv.errors[0]!r}", pytrace=False)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    with pg_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Run a database test against both SQLite and PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/archive.db"
    url: str = request.getfixturevalue("pg_url")
    return url
