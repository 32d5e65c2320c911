"""The index on both databases: migrations match the models, capture and search agree."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import random
import secrets
import threading
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import (
    Connection,
    Engine,
    Select,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    make_url,
    select,
    text,
    update,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from support import DEFAULT_PG_URL, PG_URL_ENV, FixtureServer, MediaSet
from support.archiving import make_config

from archiver.archive import Archive
from archiver.capture import Capturer
from archiver.errors import ArchiveUnavailable
from archiver.index.db import SCHEMA_HEAD, is_unavailable, make_engine, migrate
from archiver.index.models import (
    Base,
    CaptureJob,
    Fingerprint,
    Media,
    Page,
    Placement,
    SidecarDebt,
    Sighting,
)
from archiver.index.records import pages_read_as, upsert_page
from archiver.index.textindex import FTS_TABLE, TRIGRAM_INDEX, fold_text, owns
from archiver.search import MAX_WORD_LENGTH, QueryError, SearchQuery, matching_ids, records, search
from archiver.status import queue_counts, recent_failures


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
        context = MigrationContext.configure(
            connection, opts={"include_name": lambda name, *_: not owns(name)}
        )
        differences = compare_metadata(context, Base.metadata)
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


@pytest.mark.parametrize(
    ("name", "author", "stored", "in_sidecar"),
    [
        # PostgreSQL's text cannot hold NUL: U+FFFD there; the sidecar keeps what the page said
        (
            r"Citadel \u0000strike",
            r"Ali\u0000",
            ("Citadel {nul}strike", "Ali{nul}"),
            "Citadel \x00strike",
        ),
        # half a surrogate pair (an emoji cut in two): no UTF-8 can hold it, on either database
        (
            r"Citadel \ud83d strike \ud83d\ude00",
            r"Ali\udc00",
            ("Citadel \ufffd strike \U0001f600", "Ali\ufffd"),
            "Citadel \ufffd strike \U0001f600",
        ),
    ],
    ids=["NUL", "half a surrogate pair"],
)
def test_characters_some_storage_cannot_hold_are_stored_on_both_databases(
    db_url: str,
    tmp_path: Path,
    server: FixtureServer,
    media: MediaSet,
    name: str,
    author: str,
    stored: tuple[str, str],
    in_sidecar: str,
) -> None:
    """A player page's JSON-LD with such a name failed the whole capture; it is kept
    with U+FFFD where storage needs it (the platform metadata, JSON, keeps a NUL)."""
    server.add_file("/clip.mp4", media.clip_a)
    server.add_page(
        "/player",
        f'<script type="application/ld+json">{{"@type": "VideoObject", "name": "{name}",'
        f' "author": "{author}", "contentUrl": "/clip.mp4"}}</script>',
    )
    server.add_page("/live", "<article><p>The footage:</p><iframe src='/player'></iframe>")
    with Archive.open(make_config(tmp_path / "storage", db_url)) as archive:
        report = Capturer(archive).capture_url(server.url("/live"))
        assert report.ok, report.to_json()
        with archive.session() as session:
            media_row = session.scalars(select(Media)).one()
            title, uploader = media_row.platform_title, media_row.platform_uploader
            found = search(session, archive.layout, SearchQuery.parse(text="citadel"))
        sidecar = json.loads(
            (archive.layout.absolute(media_row.path).parent / "provenance.json").read_text()
        )
    nul = "\ufffd" if db_url.startswith("postgresql") else "\x00"
    assert (title, uploader) == tuple(text.format(nul=nul) for text in stored)
    assert [r.media.sha256 for r in found] == [media_row.sha256]
    assert sidecar["platform"]["metadata"]["name"] == in_sidecar


@pytest.mark.parametrize(
    "spellings",
    [
        ["https://example.org/live"] * 4,
        # one address as the address bar shows it and percent-escaped, in either case:
        # no unique key spans them, so the lookups must not race
        ["https://example.org/حلب", "https://example.org/%D8%AD%D9%84%D8%A8"] * 2,
        ["https://example.org/%d8%ad%d9%84%d8%a8", "https://example.org/حلب"] * 2,
    ],
    ids=["one-spelling", "letters-and-escapes", "lower-escapes-and-letters"],
)
def test_racing_writers_create_one_row(db_url: str, tmp_path: Path, spellings: list[str]) -> None:
    """get-or-create under concurrency: the loser of a race reuses the winner's row."""
    with Archive.open(make_config(tmp_path / "storage", db_url)) as archive:
        barrier = threading.Barrier(len(spellings))
        errors: list[BaseException] = []

        def write(url: str) -> None:
            try:
                barrier.wait()
                from archiver.index.models import utcnow

                with archive.session() as session:
                    upsert_page(session, url, "Live", utcnow())
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(url,)) for url in spellings]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        with archive.session() as session:
            assert session.scalar(select(func.count()).select_from(Page)) == 1


def test_a_search_listing_more_files_than_a_statement_takes_values(
    pg_url: str, tmp_path: Path
) -> None:
    """`search --limit 70000` on PostgreSQL (65,535 values a statement) failed as
    "archive database unavailable"; SQLite builds stop at 32,766 by default (this
    machine's at 250,000, too many rows for a test)."""
    count = 70_000
    now = datetime.now(UTC)
    with Archive.open(make_config(tmp_path / "storage", pg_url)) as archive:
        with archive.engine.begin() as connection:
            connection.execute(
                insert(Media.__table__),  # type: ignore[arg-type]
                [
                    {
                        "id": i,
                        "sha256": f"{i:064x}",
                        "md5": f"{i:032x}",
                        "size_bytes": 1,
                        "mime_type": "image/jpeg",
                        "media_type": "image",
                        "path": f"media/{i}.jpg",
                        "first_captured_at": now,
                    }
                    for i in range(1, count + 1)
                ],
            )
        ids = list(range(count, 0, -1))
        with archive.read_session() as session:
            found = records(session, archive.layout, ids)
        assert [r.media.id for r in found] == ids


def test_schema_head_constant_names_the_newest_migration() -> None:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    from archiver.index.db import MIGRATIONS, SCHEMA_HEAD

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_HEAD


# ---- word search and its index ----------------------------------------------------------------

VOCABULARY = [
    "barrel", "bombs", "douma", "citadel", "aleppo", "update", "1800", "gmt", "footage",
    "straße", "ägypten", "حلب", "дамаск", "σεισμός", "50%", "a_b", 'say"no"', "back\\slash",
    "near(x)", "and", "not", "or", "x*", "-minus", "col:on", "al", "é", "q", "o'clock",
]  # fmt: skip
QUERIES = [
    *VOCABULARY,
    "BARREL", "Douma", "ÄGYPTEN", "ДАМАСК", "STRASSE", "σεισμ", "ισμ", "ppo", "rre", "tad",
    "barrel douma", "citadel gmt", "al é", "50", "%", "_", '"', "ra", "a", "18 00",
    "bombs  footage   q", "douma douma", "absent", "xyz", "c", "l:o", "'", "o'c",
    "x' or '1'='1", "'; drop table media; --",
]  # fmt: skip


def _documents(count: int, seed: int) -> list[str]:
    """Folded search documents as capture writes them: title, context, update, page."""
    rng = random.Random(seed)
    return [
        fold_text(" | ".join(" ".join(rng.sample(VOCABULARY, rng.randint(0, 4))) for _ in range(3)))
        for _ in range(count)
    ]


def _add_media(session: Session, first: int, documents: list[str | None]) -> None:
    rows = []
    for n, document in enumerate(documents, start=first):
        digest = hashlib.sha256(str(n).encode()).hexdigest()
        rows.append(
            {
                "id": n,
                "sha256": digest,
                "md5": digest[:32],
                "size_bytes": n,
                "mime_type": "image/jpeg",
                "media_type": "image",
                "path": f"media/{digest}",
                "first_captured_at": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=n % 37),
                "search_text": document,
            }
        )
    session.execute(insert(Media), rows)


def _expected(session: Session, words: str, limit: int) -> list[int]:
    """The answer by definition: every word a substring of the document, newest first."""
    rows = session.execute(select(Media.id, Media.first_captured_at, Media.search_text)).all()
    hits = [r for r in rows if all(w in (r.search_text or "") for w in fold_text(words).split())]
    hits.sort(key=lambda r: (r.first_captured_at, r.id), reverse=True)
    return [r.id for r in hits[:limit]]


def _assert_search_is_substring_search(archive: Archive) -> None:
    """Both ways to the answer agree with the definition: the index lookup alone,
    and the newest-first walk search tries first (its window: 50 files a result)."""
    with archive.session() as session:
        for words in QUERIES:
            for limit in (1, 3, 1000):
                query = SearchQuery.parse(text=words, limit=limit)
                expected = _expected(session, words, limit)
                assert session.scalars(query.statement()).all() == expected, (words, limit)
                assert matching_ids(session, query) == expected, (words, limit)


def test_word_search_is_substring_search_and_the_index_follows_writes(
    db_url: str, tmp_path: Path
) -> None:
    """Every word must be a substring (case-insensitive, any script, short words and
    LIKE or FTS5 syntax characters taken literally), in any part of the document;
    the same after rows are inserted, updated (ORM and bulk) and deleted."""
    with Archive.open(make_config(tmp_path / "storage", db_url)) as archive:
        with archive.session() as session:
            _add_media(session, 1, [*_documents(250, seed=1), None, ""])
        _assert_search_is_substring_search(archive)

        with archive.session() as session:
            renamed = _documents(40, seed=2)
            for media, document in zip(
                session.scalars(select(Media).order_by(Media.id).limit(40)), renamed, strict=True
            ):
                media.search_text = document
            session.execute(
                update(Media).where(Media.id % 7 == 0).values(search_text="citadel ۱۸۰۰ gmt")
            )
            session.execute(update(Media).where(Media.id == 100).values(search_text=None))
            session.execute(delete(Media).where(Media.id % 5 == 0))
            session.delete(session.get_one(Media, 3))
            _add_media(session, 1000, _documents(30, seed=3))
        _assert_search_is_substring_search(archive)
        with archive.session() as session:
            assert session.scalars(SearchQuery.parse(text="۱۸۰۰").statement()).all()
            # the longest word taken, of 4-byte characters and wildcards: under SQLite's
            # bound on a LIKE pattern (a longer one was a traceback there)
            longest = ("😀%" * MAX_WORD_LENGTH)[:MAX_WORD_LENGTH]
            assert not session.scalars(SearchQuery.parse(text=longest).statement()).all()
            with pytest.raises(QueryError, match="a word is longer than 10,000 characters"):
                SearchQuery.parse(text=longest + "b")
            if archive.engine.dialect.name == "sqlite":  # the index against the rows
                session.execute(
                    text(
                        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rank) VALUES ('integrity-check', 1)"
                    )
                )


def _plan(connection: Connection, statement: Select[Any]) -> str:
    """The plan of the SQL the statement runs as (its literal patterns expanded)."""
    sent: list[tuple[str, Any]] = []

    def record(*args: Any) -> None:
        sent.append((args[2], args[3]))  # the statement and parameters of the cursor

    event.listen(connection, "before_cursor_execute", record)
    try:
        connection.execute(statement).all()
    finally:
        event.remove(connection, "before_cursor_execute", record)
    explain = "EXPLAIN QUERY PLAN " if connection.dialect.name == "sqlite" else "EXPLAIN "
    sql, parameters = sent[-1]
    return "\n".join(str(row[-1]) for row in connection.exec_driver_sql(explain + sql, parameters))


def _text_index_used(connection: Connection, words: str) -> bool:
    plan = _plan(connection, SearchQuery.parse(text=words).statement())
    return (f"SCAN {FTS_TABLE} VIRTUAL TABLE" in plan) or (TRIGRAM_INDEX in plan)


def test_word_search_uses_the_text_index(db_url: str, tmp_path: Path) -> None:
    """A rare word is looked up, not scanned for: FTS5 on SQLite, the GIN trigram
    index on PostgreSQL (chosen by its planner on 20,000 rows); a word too short for
    trigrams is not sent to the index; the walk tried first for common words is a
    range of the capture-time index, not a scan."""
    with Archive.open(make_config(tmp_path / "storage", db_url)) as archive:
        with archive.session() as session:
            _add_media(session, 1, _documents(20_000, seed=4))
            _add_media(session, 30_000, ["the one with zanzibar in it"])
        with archive.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE media")
            assert _text_index_used(connection, "Zanzibar")
            assert _text_index_used(connection, "zanzibar al")
            if connection.dialect.name == "sqlite":
                assert not _text_index_used(connection, "al")
                walk = _plan(connection, SearchQuery.parse(text="zanzibar").recent_statement())
                assert "USING INDEX ix_media_first_captured_at (first_captured_at>?)" in walk
                assert FTS_TABLE not in walk
        with archive.session() as session:
            assert len(session.scalars(SearchQuery.parse(text="zanzibar").statement()).all()) == 1


def test_a_page_search_looks_up_the_pages_embeds(tmp_path: Path) -> None:
    """`--page` scanned every sighting (SQLite) or embed (PostgreSQL): the unique index
    on (coalesce(page_id, 0), url) cannot serve ``page_id IN (...)``."""
    query = SearchQuery.parse(page="https://example.org/live")
    with (
        Archive.open(make_config(tmp_path / "storage", "")) as archive,
        archive.engine.begin() as connection,
    ):
        plan = _plan(connection, query.statement())
    assert "ix_embeds_page_id" in plan, plan


def test_the_queue_counts_and_failures_read_the_state_index(tmp_path: Path) -> None:
    """`archiver status` and ``/api/status`` read every job: 0.4 s at a million."""
    sent: list[tuple[str, Any]] = []
    with (
        Archive.open(make_config(tmp_path / "storage", "")) as archive,
        archive.engine.connect() as connection,
    ):

        def record(*args: Any) -> None:
            if args[2].lstrip().upper().startswith("SELECT"):
                sent.append((args[2], args[3]))

        event.listen(connection, "before_cursor_execute", record)
        with Session(bind=connection) as session:
            queue_counts(session)
            recent_failures(session)
        event.remove(connection, "before_cursor_execute", record)
        plans = [
            str(connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", parameters).all())
            for sql, parameters in sent
        ]
    assert len(plans) == 2
    assert all("ix_capture_jobs_state_updated" in plan for plan in plans), plans


def _alembic(engine: Engine, action: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig

    from archiver.index.db import MIGRATIONS

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def test_text_index_migration_backfills_and_downgrades(db_url: str, tmp_path: Path) -> None:
    """0007 -> 0008 indexes the rows already there; the downgrade removes the index
    (inserts still work: no trigger left behind) and the upgrade can run again."""
    engine = make_engine(db_url)
    _alembic(engine, "upgrade", "0007")
    documents = _documents(200, seed=5)
    with Session(engine) as session, session.begin():
        _add_media(session, 1, [*documents, "zanzibar footage"])
    _alembic(engine, "upgrade", "head")
    with engine.connect() as connection:
        assert {FTS_TABLE, TRIGRAM_INDEX} & set(_schema_names(connection))
    with Session(engine) as session:  # on SQLite, rows missing from FTS5 would not be found
        for words in ("zanzibar", "footage", "barrel douma", "حلب"):
            query = SearchQuery.parse(text=words, limit=1000)
            assert session.scalars(query.statement()).all() == _expected(session, words, 1000)

    _alembic(engine, "downgrade", "0007")
    with engine.connect() as connection:
        assert not [name for name in _schema_names(connection) if owns(name)]
    with Session(engine) as session, session.begin():
        _add_media(session, 900, ["added at 0007"])
    migrate(engine)
    with Session(engine) as session:
        query = SearchQuery.parse(text="added 0007")
        assert len(session.scalars(query.statement()).all()) == 1
    engine.dispose()


def test_thumbnail_migration_moves_the_pixels_out_of_the_json_and_back(
    db_url: str, tmp_path: Path
) -> None:
    """0008 -> 0009 moves each image's ``"WxH:base64"`` thumbnail into its own column
    (a malformed one is dropped, other hashes stay); the downgrade puts it back."""
    engine = make_engine(db_url)
    _alembic(engine, "upgrade", "0008")
    pixels = bytes(range(256)) * 12  # 64 x 48
    good = {"phash": "8f373714acfcf4d0", "thumbnail": "64x48:" + base64.b64encode(pixels).decode()}
    broken = {"phash": "1", "thumbnail": "64x48:bm90IHBpeGVscw=="}
    with Session(engine) as session, session.begin():
        _add_media(session, 1, [None, None, None])
        for media_id, kind, hashes in ((1, "image", good), (2, "image", broken), (3, "none", None)):
            session.execute(
                text(
                    "INSERT INTO fingerprints (media_id, algorithm, kind, hashes, frame_count,"
                    " created_at) VALUES (:m, 'v', :k, :h, 0, :t)"
                ),
                {"m": media_id, "k": kind, "h": json.dumps(hashes), "t": datetime.now(UTC)},
            )
    _alembic(engine, "upgrade", "head")
    with Session(engine) as session:
        rows = session.execute(
            select(
                Fingerprint.media_id,
                Fingerprint.hashes,
                Fingerprint.thumbnail_width,
                Fingerprint.thumbnail,
            ).order_by(Fingerprint.media_id)
        ).all()
    assert [tuple(r) for r in rows] == [
        (1, {"phash": "8f373714acfcf4d0"}, 64, pixels),
        (2, {"phash": "1"}, None, None),
        (3, None, None, None),
    ]
    _alembic(engine, "downgrade", "0008")
    with engine.connect() as connection:
        restored = connection.execute(
            text("SELECT media_id, hashes FROM fingerprints ORDER BY media_id")
        ).all()
        columns = {c["name"] for c in inspect(connection).get_columns("fingerprints")}
    assert [(m, h if isinstance(h, dict) or h is None else json.loads(h)) for m, h in restored] == [
        (1, good),
        (2, {"phash": "1"}),
        (3, None),
    ]
    assert not {"thumbnail", "thumbnail_width"} & columns
    migrate(engine)
    engine.dispose()


def test_reused_from_migration_keeps_every_sighting_and_goes_back(db_url: str) -> None:
    """0012 -> 0013 rebuilds the sightings table on SQLite (to add a foreign key):
    every sighting survives, none shares a download; the downgrade drops the column."""
    engine = make_engine(db_url)
    _alembic(engine, "upgrade", "0012")
    at = datetime(2026, 11, 25, 18, tzinfo=UTC)
    with Session(engine) as session, session.begin():
        _add_media(session, 1, [None, None])
        session.execute(
            text(
                "INSERT INTO embeds (id, url, original_url, kind, found_in, first_seen_at,"
                " last_seen_at) VALUES (1, 'https://v.example/1', 'https://v.example/1',"
                " 'file', 'video', :t, :t)"
            ),
            {"t": at},
        )
        for media_id in (1, 2):
            session.execute(
                text(
                    "INSERT INTO sightings (media_id, embed_id, media_url, tool, tool_version,"
                    " archiver_version, first_seen_at, last_seen_at)"
                    " VALUES (:m, 1, 'https://v.example/1', 'httpx', '0.28', '0.1.0', :t, :t)"
                ),
                {"m": media_id, "t": at},
            )
    _alembic(engine, "upgrade", "head")
    with Session(engine) as session:
        rows = session.execute(
            select(Sighting.media_id, Sighting.tool, Sighting.reused_from_id).order_by(
                Sighting.media_id
            )
        ).all()
    assert [tuple(r) for r in rows] == [(1, "httpx", None), (2, "httpx", None)]
    _alembic(engine, "downgrade", "0012")
    with engine.connect() as connection:
        columns = {c["name"] for c in inspect(connection).get_columns("sightings")}
        count = connection.execute(text("SELECT count(*) FROM sightings")).scalar_one()
    assert "reused_from_id" not in columns and count == 2
    migrate(engine)
    engine.dispose()


def test_worker_deaths_migration_keeps_jobs_and_intents_and_goes_back(db_url: str) -> None:
    """0027 -> 0028: jobs there already are not to run alone, intents there already have
    no writer (a start settles them as a dead one's); the downgrade drops both columns."""
    engine = make_engine(db_url)
    _alembic(engine, "upgrade", "0027")
    at = datetime(2026, 11, 27, 12, tzinfo=UTC)
    with Session(engine) as session, session.begin():
        session.execute(
            text(
                "INSERT INTO capture_jobs (url, state, attempts, created_at, updated_at)"
                " VALUES ('https://v.example/1', 'pending', 2, :t, :t)"
            ),
            {"t": at},
        )
        session.execute(
            text(
                "INSERT INTO placements (sha256, intent, created_at)"
                ' VALUES (:s, \'{"kind": "page"}\', :t)'
            ),
            {"s": "ab" * 32, "t": at},
        )
    _alembic(engine, "upgrade", "head")
    with Session(engine) as session:
        assert session.execute(select(CaptureJob.attempts, CaptureJob.run_alone)).one() == (
            2,
            False,
        )
        assert session.scalars(select(Placement.owner)).one() is None
    _alembic(engine, "downgrade", "0027")
    with engine.connect() as connection:
        jobs = {c["name"] for c in inspect(connection).get_columns("capture_jobs")}
        intents = {c["name"] for c in inspect(connection).get_columns("placements")}
        counts = [
            connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("capture_jobs", "placements")
        ]
    assert "run_alone" not in jobs and "owner" not in intents and counts == [1, 1]
    migrate(engine)
    engine.dispose()


def test_upgrading_a_populated_archive_from_the_first_revision_keeps_every_row(
    db_url: str,
) -> None:
    """Upgrades that copy a table on SQLite (0002 adds a foreign key to ``pages``) ran
    with foreign keys on, and dropping the old table cascaded: every embed, snapshot
    and sighting of the archive was deleted."""
    engine = make_engine(db_url)
    _alembic(engine, "upgrade", "0001")
    at = datetime(2013, 9, 28, 18, tzinfo=UTC)
    with Session(engine) as session, session.begin():
        _add_media(session, 1, [None])
        session.execute(
            text(
                "INSERT INTO pages (id, url, first_fetched_at, last_fetched_at)"
                " VALUES (1, 'https://news.example/syria-daily', :t, :t)"
            ),
            {"t": at},
        )
        session.execute(
            text(
                "INSERT INTO page_snapshots (page_id, sha256, size_bytes, path, final_url,"
                " http_status, headers, first_fetched_at, last_fetched_at) VALUES (1, :h, 1,"
                " 'pages/p', 'https://news.example/syria-daily', 200, '{}', :t, :t)"
            ),
            {"t": at, "h": "a" * 64},
        )
        session.execute(
            text(
                "INSERT INTO embeds (id, page_id, url, original_url, kind, found_in,"
                " first_seen_at, last_seen_at) VALUES (1, 1, 'https://v.example/1',"
                " 'https://v.example/1', 'file', 'video', :t, :t)"
            ),
            {"t": at},
        )
        session.execute(
            text(
                "INSERT INTO sightings (media_id, embed_id, media_url, tool, tool_version,"
                " archiver_version, first_seen_at, last_seen_at)"
                " VALUES (1, 1, 'https://v.example/1', 'httpx', '0.28', '0.1.0', :t, :t)"
            ),
            {"t": at},
        )
    migrate(engine)
    with engine.connect() as connection:
        counts = [
            connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("pages", "page_snapshots", "embeds", "sightings", "media")
        ]
    engine.dispose()
    assert counts == [1, 1, 1, 1, 1]


def test_upload_moment_migration_fills_it_from_the_stored_metadata(
    db_url: str, tmp_path: Path
) -> None:
    """0009 -> 0010 reads the upload's moment from the platform metadata already stored:
    yt-dlp's ``timestamp``, or a JSON-LD ``uploadDate`` with a time and an offset."""
    engine = make_engine(db_url)
    _alembic(engine, "upgrade", "0009")
    metadata = [
        {"timestamp": 1380390000},  # yt-dlp: 2013-09-28T17:40:00Z
        {"uploadDate": "2013-09-28T12:40:00-05:00"},  # JSON-LD, New York time
        {"uploadDate": "2013-09-28"},  # a date alone: no moment
        {"uploadDate": "9999-12-31T23:00:00-05:00"},  # past year 9999 in UTC: no moment
        None,
    ]
    with Session(engine) as session, session.begin():
        _add_media(session, 1, [None] * len(metadata))
        for media_id, value in enumerate(metadata, start=1):
            session.execute(
                text("UPDATE media SET platform_metadata = :m WHERE id = :i"),
                {"m": json.dumps(value) if value is not None else None, "i": media_id},
            )
    _alembic(engine, "upgrade", "head")
    moment = datetime(2013, 9, 28, 17, 40, tzinfo=UTC)
    with Session(engine) as session:
        found = session.scalars(select(Media.platform_uploaded_at).order_by(Media.id)).all()
    assert found == [moment, moment, None, None, None]
    _alembic(engine, "downgrade", "0009")
    with engine.connect() as connection:
        assert "platform_uploaded_at" not in {
            c["name"] for c in inspect(connection).get_columns("media")
        }
    migrate(engine)
    engine.dispose()


def _schema_names(connection: Connection) -> list[str]:
    """Tables, triggers and indexes of the archive's schema."""
    if connection.dialect.name == "sqlite":
        return list(connection.scalars(text("SELECT name FROM sqlite_master")))
    return list(
        connection.scalars(
            text("SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace")
        )
    )


def test_migration_0033_takes_the_trigram_index_off_its_pending_list(pg_url: str) -> None:
    """Archives upgraded through the first 0008 kept PostgreSQL's ``fastupdate = on``:
    ``CREATE INDEX IF NOT EXISTS`` left the index as that migration had made it."""
    engine = make_engine(pg_url)
    _alembic(engine, "upgrade", "0032")
    trigrams = "SELECT extnamespace::regnamespace FROM pg_extension WHERE extname = 'pg_trgm'"
    with engine.begin() as connection:  # as the first 0008 made it
        schema = connection.exec_driver_sql(trigrams).scalar()
        connection.exec_driver_sql(f"DROP INDEX {TRIGRAM_INDEX}")
        connection.exec_driver_sql(
            f"CREATE INDEX {TRIGRAM_INDEX} ON media USING gin (search_text {schema}.gin_trgm_ops)"
        )
    options = text("SELECT reloptions FROM pg_class WHERE oid = to_regclass(:name)")
    with engine.connect() as connection:
        assert connection.scalar(options, {"name": TRIGRAM_INDEX}) is None
    _alembic(engine, "upgrade", "head")
    with engine.connect() as connection:
        assert connection.scalar(options, {"name": TRIGRAM_INDEX}) == ["fastupdate=off"]
    engine.dispose()


def test_postgresql_without_pg_trgm_privilege_still_upgrades(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A role that may not create extensions gets a working archive without the
    trigram index (word search scans) and a warning naming what to run."""
    base = make_url(os.environ.get(PG_URL_ENV) or DEFAULT_PG_URL)
    suffix = secrets.token_hex(4)
    database, role = f"archiver_notrgm_{suffix}", f"archiver_notrgm_{suffix}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        connection.exec_driver_sql(f"CREATE DATABASE {database}")
    try:
        owner = create_engine(base.set(database=database), isolation_level="AUTOCOMMIT")
        with owner.connect() as connection:  # PostgreSQL 15: no CREATE on public for others
            connection.exec_driver_sql(f"CREATE SCHEMA archive AUTHORIZATION {role}")
        owner.dispose()
        url = base.set(database=database, username=role).update_query_dict(
            {"options": "-csearch_path=archive"}
        )
        engine = make_engine(url.render_as_string(hide_password=False))
        with caplog.at_level(logging.WARNING, logger="archiver"):
            migrate(engine)
        assert "index.text_index_missing" in caplog.messages
        with Session(engine) as session, session.begin():
            _add_media(session, 1, ["zanzibar footage"])
        with Session(engine) as session:
            assert len(session.scalars(SearchQuery.parse(text="zanzibar").statement()).all()) == 1
        with engine.connect() as connection:
            assert TRIGRAM_INDEX not in _schema_names(connection)
        engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
            connection.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        admin.dispose()


def test_only_the_databases_own_failures_count_as_unavailable(tmp_path: Path, pg_url: str) -> None:
    """A full disk, a lost connection or a lock held too long may pass: the work is
    retried later, uncounted. A statement the database refuses every time (here an
    index row over PostgreSQL's size limit) is the work's own failure, not that."""
    with Archive.open(make_config(tmp_path / "storage", pg_url)) as archive:
        with pytest.raises(OperationalError) as refused, archive.session() as session:
            session.execute(
                text(
                    "INSERT INTO sources (url, kind, every_seconds, paused, from_config,"
                    " next_poll_at, consecutive_errors, created_at)"
                    " VALUES (:u, 'auto', 60, false, false, now(), 0, now())"
                ),
                {"u": "https://example.org/" + secrets.token_hex(5000)},
            )
        assert not is_unavailable(refused.value)
    down = make_config(tmp_path / "down", "postgresql+psycopg://postgres@127.0.0.1:1/test")
    with (
        Archive.open(down, migrate_schema=False) as archive,
        pytest.raises(ArchiveUnavailable, match=r"^archive database unavailable: "),
        archive.read_session() as session,
    ):
        session.execute(text("SELECT 1"))


def test_migration_0017_folds_the_stored_documents(db_url: str, tmp_path: Path) -> None:
    """Documents were only lower-cased: decomposed letters and "İdlib" (lower-cased to
    "i" and a combining dot) were not found by words typed as usual."""
    engine = make_engine(db_url)
    _alembic(engine, "upgrade", "0016")
    kyiv = unicodedata.normalize("NFD", "обстріл під києвом")
    with Session(engine) as session, session.begin():
        _add_media(session, 1, [kyiv, "İdlib countryside".lower(), None])
    _alembic(engine, "upgrade", "head")
    with Session(engine) as session:
        for words, expected in (("Києвом", [1]), ("idlib", [2]), ("İDLIB", [2])):
            assert session.scalars(SearchQuery.parse(text=words).statement()).all() == expected
    engine.dispose()


def test_migration_0026_case_folds_so_a_greek_word_ending_in_sigma_is_found(
    db_url: str, tmp_path: Path
) -> None:
    """Lower case writes a word-final capital Sigma as final sigma: a title in capitals,
    ΟΔΟΣΤΡΩΜΑ, was stored with σ inside and the word ΟΔΟΣ was looked for with ς."""
    engine = make_engine(db_url)
    _alembic(engine, "upgrade", "0025")
    with Session(engine) as session, session.begin():  # as lower case stored them
        _add_media(session, 1, [d.lower() for d in ("ΟΔΟΣΤΡΩΜΑ news", "ΣΕΙΣΜΟΣ", "Straße")])
    _alembic(engine, "upgrade", "head")
    with Session(engine) as session:
        for words, expected in (
            ("ΟΔΟΣ", [1]),
            ("οδος", [1]),
            ("σεισμοσ", [2]),
            ("σεισμός".replace("ό", "ο"), [2]),
            ("STRASSE", [3]),
            ("straße", [3]),
        ):
            found = session.scalars(SearchQuery.parse(text=words).statement()).all()
            assert found == expected, words
    engine.dispose()


def test_migration_0031_queues_imgur_gallery_posts_yt_dlp_gave_up_again(
    db_url: str, tmp_path: Path
) -> None:
    """yt-dlp got nothing from a gallery photo post and its job failed for good; the
    API reader that reads them now would never have been asked."""
    engine = make_engine(db_url)
    _alembic(engine, "upgrade", "0030")
    at = datetime(2026, 11, 20, 12, tzinfo=UTC)
    photo = "ERROR: [imgur:gallery] Hk3vB9z: Hk3vB9z is not a video or animated image"
    jobs = [
        ("https://imgur.com/gallery/Hk3vB9z", "failed", photo),
        ("https://imgur.com/gallery/Qx7pLm2", "gone", "HTTP 404"),  # deleted: stays
        ("https://www.youtube.com/watch?v=abc123XYZ_0", "failed", photo),  # not Imgur's
    ]
    with Session(engine) as session, session.begin():
        for url, state, error in jobs:
            session.execute(
                text(
                    "INSERT INTO capture_jobs (url, state, attempts, last_error, ytdlp_version,"
                    " created_at, updated_at) VALUES (:u, :s, 1, :e, '2026.10.1', :t, :t)"
                ),
                {"u": url, "s": state, "e": error, "t": at},
            )
    _alembic(engine, "upgrade", "head")
    with Session(engine) as session:
        found = session.execute(
            select(CaptureJob.state, CaptureJob.attempts, CaptureJob.last_error).order_by(
                CaptureJob.id
            )
        ).all()
        due = session.scalar(select(CaptureJob.next_attempt_at).where(CaptureJob.id == 1))
    assert [tuple(row) for row in found] == [
        ("pending", 0, None),
        ("gone", 1, "HTTP 404"),
        ("failed", 1, photo),
    ]
    assert due is not None and due > at
    engine.dispose()


def test_migration_0019_clears_the_upload_time_a_file_server_gave(
    db_url: str, tmp_path: Path
) -> None:
    """yt-dlp's generic extractor reports a file server's Last-Modified as the upload:
    cleared, and the file's sidecar owed a rewrite; a platform's own time stays."""
    engine = make_engine(db_url)
    _alembic(engine, "upgrade", "0018")
    moment = datetime(2013, 9, 28, 17, 40, tzinfo=UTC)
    with Session(engine) as session, session.begin():
        _add_media(session, 1, [None, None])
        for media_id, extractor in ((1, "Generic"), (2, "Youtube")):
            session.execute(
                update(Media)
                .where(Media.id == media_id)
                .values(
                    platform_extractor=extractor,
                    platform_upload_date=moment.date(),
                    platform_uploaded_at=moment,
                )
            )
    _alembic(engine, "upgrade", "head")
    with Session(engine) as session:
        found = session.execute(
            select(Media.platform_upload_date, Media.platform_uploaded_at).order_by(Media.id)
        ).all()
        owed = session.scalars(select(SidecarDebt.media_id)).all()
    assert [tuple(row) for row in found] == [(None, None), (moment.date(), moment)]
    assert owed == [1]
    engine.dispose()


def test_migration_0022_keeps_each_pages_entry_digest_under_its_feed(db_url: str) -> None:
    """The one digest a page kept goes to the feed the page names, and back."""
    engine = make_engine(db_url)
    _alembic(engine, "upgrade", "0021")
    now = datetime(2013, 9, 28, 18, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO sources (id, url, kind, every_seconds, paused, from_config,"
                " next_poll_at, consecutive_errors, created_at)"
                " VALUES (1, 'https://ex.example/feed', 'feed', 600, false, false, :t, 0, :t)"
            ),
            {"t": now},
        )
        for page_id, source, digest in ((1, 1, "d" * 64), (2, None, "e" * 64), (3, 1, None)):
            connection.execute(
                text(
                    "INSERT INTO pages (id, url, source_id, feed_entry_sha256, first_fetched_at,"
                    " last_fetched_at) VALUES (:id, :url, :source, :digest, :t, :t)"
                ),
                {"id": page_id, "url": f"https://ex.example/{page_id}", "source": source}
                | {"digest": digest, "t": now},
            )
    _alembic(engine, "upgrade", "0022")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT source_id, page_id, digest FROM feed_entry_digests"))
        assert [tuple(row) for row in rows] == [(1, 1, "d" * 64)]
    _alembic(engine, "downgrade", "0021")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, feed_entry_sha256 FROM pages ORDER BY id"))
        assert [tuple(row) for row in rows] == [(1, "d" * 64), (2, None), (3, None)]
    engine.dispose()


def test_migration_0034_tells_what_only_a_feed_gave_a_page(db_url: str) -> None:
    """A feed's attachments and media links on a live page, which no version of the page
    held, were judged removed from it at its next poll; the page's own embeds are judged
    as before, and the downgrade drops the column."""
    engine = make_engine(db_url)
    _alembic(engine, "upgrade", "0033")
    now = datetime(2013, 9, 28, 18, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO pages (id, url, first_fetched_at, last_fetched_at)"
                " VALUES (1, 'https://ex.example/live', :t, :t)"
            ),
            {"t": now},
        )
        for found_in in ("img", "enclosure", "link", "iframe"):
            connection.execute(
                text(
                    "INSERT INTO embeds (page_id, url, original_url, kind, found_in,"
                    " first_seen_at, last_seen_at) VALUES (1, :u, :u, 'file', :f, :t, :t)"
                ),
                {"u": f"https://ex.example/{found_in}.mp4", "f": found_in, "t": now},
            )
    _alembic(engine, "upgrade", "head")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT found_in, held_by_page FROM embeds ORDER BY id"))
        held = [(found_in, bool(flag)) for found_in, flag in rows]
    assert held == [("img", True), ("enclosure", False), ("link", False), ("iframe", True)]
    _alembic(engine, "downgrade", "0033")
    with engine.connect() as connection:
        assert "held_by_page" not in {c["name"] for c in inspect(connection).get_columns("embeds")}
    engine.dispose()


def test_migration_0039_finds_a_page_by_the_story_a_redirect_led_to(db_url: str) -> None:
    """A version whose redirect led to the story with tracking parameters was found only
    by that address as fetched: the upgrade records where it led as pages are
    recorded, and the downgrade drops it."""
    engine = make_engine(db_url)
    _alembic(engine, "upgrade", "0038")
    now = datetime(2013, 9, 28, 18, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO pages (id, url, first_fetched_at, last_fetched_at)"
                " VALUES (1, 'https://t.example/item-1', :t, :t)"
            ),
            {"t": now},
        )
        for number, final_url in enumerate(
            ["https://News.example/story?utm_source=feed&id=7#top", "https://t.example/item-1"]
        ):
            connection.execute(
                text(
                    "INSERT INTO page_snapshots (page_id, sha256, size_bytes, path, final_url,"
                    " http_status, headers, first_fetched_at, last_fetched_at)"
                    " VALUES (1, :sha, 10, 'pages/x', :u, 200, '{}', :t, :t)"
                ),
                {"sha": f"{number}" * 64, "u": final_url, "t": now},
            )
    _alembic(engine, "upgrade", "head")
    with engine.connect() as connection:
        led_to = connection.execute(text("SELECT led_to FROM page_snapshots ORDER BY id")).scalars()
        assert list(led_to) == ["https://news.example/story?id=7", "https://t.example/item-1"]
        found = connection.execute(pages_read_as(["https://news.example/story?id=7"])).scalars()
        assert list(found) == [1]
    _alembic(engine, "downgrade", "0038")
    with engine.connect() as connection:
        columns = {c["name"] for c in inspect(connection).get_columns("page_snapshots")}
        assert "led_to" not in columns and "final_url" in columns
    engine.dispose()
