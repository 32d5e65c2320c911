"""The index on both databases: migrations match the models, capture and search agree."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select
from support import FixtureServer, MediaSet
from support.archiving import make_config

from archiver.archive import Archive
from archiver.capture import Capturer
from archiver.index.db import SCHEMA_HEAD, make_engine, migrate
from archiver.index.models import Base, Media, Page, Sighting
from archiver.index.records import upsert_page
from archiver.search import SearchQuery, search


@pytest.mark.parametrize("shortcut", [False, True], ids=["migrations", "fresh-schema"])
def test_migrations_build_exactly_the_models_and_are_idempotent(
    db_url: str, shortcut: bool
) -> None:
    """Both ways to a current schema agree with the models: the Alembic migrations
    one by one, and the one-step creation used for an empty database."""
    engine = make_engine(db_url)
    migrate(engine, shortcut_when_empty=shortcut)
    migrate(engine)
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == SCHEMA_HEAD
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def test_capture_and_search_behave_the_same_on_both_databases(
    db_url: str, tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    server.add_file("/a.jpg", media.photo_a)
    server.add_file("/b.mp4", media.clip_a)
    server.add_page(
        "/one",
        "<article><h2>UPDATE 0600 GMT</h2><p>Barrel bombs on Douma:</p><img src='/a.jpg'>"
        "<p>And the footage:</p><video src='/b.mp4'></video></article>",
    )
    server.add_page("/two", "<article><p>Again, 50% more:</p><img src='/a.jpg'></article>")
    with Archive.open(make_config(tmp_path / "storage", db_url)) as archive:
        capturer = Capturer(archive)
        assert capturer.capture_url(server.url("/one")).ok
        assert capturer.capture_url(server.url("/two")).ok

        def find(**filters: object) -> list[str]:
            with archive.session() as session:
                query = SearchQuery.parse(**filters)  # type: ignore[arg-type]
                return [r.media.sha256 for r in search(session, archive.layout, query)]

        photo = hashlib.sha256(media.photo_a.read_bytes()).hexdigest()
        clip = hashlib.sha256(media.clip_a.read_bytes()).hexdigest()
        assert sorted(find()) == sorted([photo, clip])
        assert find(sha256=photo[:8]) == [photo]
        assert find(md5=hashlib.md5(media.clip_a.read_bytes()).hexdigest()[:10]) == [clip]
        assert find(text="barrel DOUMA") == [photo]
        assert find(text="50%") == [photo]  # LIKE wildcards in words are literal
        assert find(text="footage") == [clip]
        assert sorted(find(page=server.url("/one"))) == sorted([photo, clip])
        assert find(page=server.url("/two")) == [photo]
        assert find(since="2000-01-01", until="2000-12-31") == []
        assert len(find(limit=1)) == 1
        with archive.session() as session:
            assert session.scalar(select(func.count()).select_from(Media)) == 2
            assert session.scalar(select(func.count()).select_from(Sighting)) == 3


def test_racing_writers_create_one_row(db_url: str, tmp_path: Path) -> None:
    """get-or-create under concurrency: the loser of a unique-key race reuses the winner's row."""
    with Archive.open(make_config(tmp_path / "storage", db_url)) as archive:
        barrier = threading.Barrier(4)
        errors: list[BaseException] = []

        def write() -> None:
            try:
                barrier.wait()
                from archiver.index.models import utcnow

                with archive.session() as session:
                    upsert_page(session, "https://example.org/live", "Live", utcnow())
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=write) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        with archive.session() as session:
            assert session.scalar(select(func.count()).select_from(Page)) == 1


def test_schema_head_constant_names_the_newest_migration() -> None:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    from archiver.index.db import MIGRATIONS, SCHEMA_HEAD

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_HEAD
