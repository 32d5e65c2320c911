"""The service object every edge (CLI, daemon, web) opens: config, index, storage, fetchers."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sqlalchemy import Engine, make_url, select
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from archiver.config import Config, is_loopback
from archiver.errors import ConfigError
from archiver.index.db import (
    SCHEMA_HEAD,
    database_unavailable,
    database_unusable,
    is_unavailable,
    make_engine,
    migrate,
    refuse_lasting_problem,
    refuse_newer_schema,
    schema_revision,
    session_factory,
    sqlite_storage_problem,
)
from archiver.index.models import Media
from archiver.stopping import StopFlag
from archiver.store.layout import Layout

if TYPE_CHECKING:
    from archiver.duplicates import DuplicateFinder
    from archiver.fetch.http import HttpFetcher
    from archiver.fetch.ytdlp import Ytdlp


def ffmpeg_binary() -> str | None:
    """The ffmpeg that the imageio-ffmpeg wheel ships (no system package needed)."""
    import imageio_ffmpeg

    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError:
        return None


@dataclass
class Archive:
    config: Config
    engine: Engine
    sessions: sessionmaker[Session]
    read_sessions: sessionmaker[Session]
    layout: Layout
    stop: StopFlag = field(default_factory=StopFlag)  # shutdown: abort transfers
    #: SQLite has one writer at a time. Threads of this process queue here, and the
    #: next one starts the moment the last commits, instead of polling the database
    #: lock in SQLite's busy handler, which sleeps up to 100 ms between tries.
    writer: contextlib.AbstractContextManager[object] = field(
        default_factory=contextlib.nullcontext
    )

    @classmethod
    def open(
        cls,
        config: Config,
        *,
        migrate_schema: bool = True,
        create: bool = True,
        reading: bool = False,
    ) -> Archive:
        """Open (and by default create or upgrade) the archive the config names.

        Without `create`, a storage root that holds no archive is refused: `verify` on
        a disk that failed to mount, or a mistyped root, made an empty archive there
        and reported it intact. `reading`: for a command that only reads, which also
        works where the SQLite index may be read and not written (`_read_only`).
        """
        layout = Layout(config.storage_root)
        existed = layout.exists()
        if not create:
            _check_exists(layout, existed, config.database_url)
        if reading and (read_only := _read_only(config.database_url)) is not None:
            return cls._reader(config, read_only, layout)
        engine = make_engine(config.database_url)
        if create:  # a command that adds to the archive (no connection is open yet)
            refuse_lasting_problem(engine.url)
        try:
            if migrate_schema:
                migrate(engine, create=create)
        except DatabaseError as exc:  # not a database at all (a damaged or foreign file)
            engine.dispose()
            raise database_unusable(exc, engine.url) from None
        except ConfigError:  # no archive there, or one a later archiver made
            engine.dispose()
            raise
        if not existed and migrate_schema and _lists_files(engine):
            engine.dispose()
            raise ConfigError(
                f"no archive at {layout.root} (no media/ and pages/ folders), but"
                " the index lists files: is its disk not mounted? (to go on with"
                " an empty root, make those folders)"
            )
        layout.create()
        readers = session_factory(engine, read_only=True)
        archive = cls(config, engine, session_factory(engine), readers, layout)
        if engine.dialect.name == "sqlite":
            archive.writer = threading.RLock()
        return archive

    @classmethod
    def _reader(cls, config: Config, engine: Engine, layout: Layout) -> Archive:
        """The archive opened on an index it may only read: as it is, not upgraded."""
        if (revision := schema_revision(engine)) != SCHEMA_HEAD:
            engine.dispose()
            refuse_newer_schema(revision)
            problem = sqlite_storage_problem(make_url(config.database_url))
            why = problem.reason if problem else "it is read-only"
            raise ConfigError(f"cannot upgrade the archive's index to read it: {why}")
        readers = session_factory(engine, read_only=True)
        return cls(config, engine, readers, readers, layout, writer=threading.RLock())

    def serves(self, url: str) -> bool:
        """Whether ``url`` is a stored file served by this archive's own web app: the
        replacement an editor pasted into a page for a dead embed is its copy, not new
        evidence, nor an embed to check."""
        return urlsplit(url).path.startswith(_SERVED_PATHS) and origin_of(url) in self._origins

    @cached_property
    def _origins(self) -> frozenset[str]:
        """Where the web app is reached: ``base_url``, its address, and on loopback or
        every address, the names a person at the machine uses."""
        web = self.config.web
        hosts = {web.host.strip("[]").lower()}
        if hosts & _EVERY_ADDRESS or is_loopback(web.host):
            hosts |= _LOCAL_NAMES
        ours = {origin_of(f"http://{_netloc(host)}:{web.port}") for host in hosts}
        published = {origin_of(web.base_url)} if web.base_url else set()
        return frozenset(origin for origin in ours | published if origin is not None)

    @cached_property
    def http(self) -> HttpFetcher:
        from archiver.fetch.http import HttpFetcher

        return HttpFetcher(
            self.config.network, self.config.download.per_host_concurrency, self.stop
        )

    @cached_property
    def ytdlp(self) -> Ytdlp:
        from archiver.fetch.ytdlp import Ytdlp

        return Ytdlp(self.config.ytdlp, self.config.network, ffmpeg_binary(), self.stop)

    @cached_property
    def duplicates(self) -> DuplicateFinder:
        """This process's near-duplicate matcher (its index loads on first use)."""
        from archiver.duplicates import DuplicateFinder

        return DuplicateFinder(self)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on error."""
        with (
            _database_failures(self.engine),
            self.writer,
            self.sessions() as session,
            session.begin(),
        ):
            yield session

    @contextlib.contextmanager
    def read_session(self) -> Iterator[Session]:
        """For reads only (search, reports): on SQLite it does not take the write lock."""
        with _database_failures(self.engine), self.read_sessions() as session, session.begin():
            yield session

    def close(self) -> None:
        if "http" in self.__dict__:
            self.http.close()
        self.engine.dispose()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def _database_failures(engine: Engine) -> Iterator[None]:
    """Sessions raise the database's own failures (`is_unavailable`) as one
    ArchiveUnavailable line.

    Every caller already reports an ArchiverError in one line and retries the work
    later; a failure of the work itself (an IntegrityError, a statement PostgreSQL
    refuses) still surfaces as itself.
    """
    try:
        yield
    except OperationalError as exc:
        if not is_unavailable(exc):
            raise
        raise database_unavailable(exc, engine.url) from exc


def _lists_files(engine: Engine) -> bool:
    """Whether the index holds a file: an index kept elsewhere (PostgreSQL) with an
    empty storage root is a disk not mounted, not a new archive."""
    with engine.connect() as connection:
        return connection.execute(select(Media.id).limit(1)).first() is not None


def _check_exists(layout: Layout, existed: bool, database_url: str) -> None:
    """Raise ConfigError unless the storage root (and a SQLite index file) is there."""
    missing = None
    if not existed:
        missing = "no media/ and pages/ folders"
    elif (index := _sqlite_file(database_url)) is not None and not index.is_file():
        missing = f"no index file {index}"
    if missing is not None:
        raise ConfigError(
            f"no archive at {layout.root} ({missing}): `archiver init` makes one;"
            " or is its disk not mounted?"
        )


def _read_only(database_url: str) -> Engine | None:
    """A read-only engine when the SQLite index is there and archiver may read it but
    not write it or its folder, for good (a read-only filesystem, permissions)."""
    index = _sqlite_file(database_url)
    if index is None or not os.access(index, os.R_OK):
        return None
    problem = sqlite_storage_problem(make_url(database_url))
    if problem is None or not problem.lasting:
        return None
    return make_engine(database_url, read_only=True)


def _sqlite_file(database_url: str) -> Path | None:
    try:
        url = make_url(database_url)
    except ArgumentError:  # make_engine names a bad URL
        return None
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    return Path(url.database)


#: Where the web app serves stored files, in the snippets its editors' view hands out.
_SERVED_PATHS = ("/media/", "/embed/")
_EVERY_ADDRESS = {"0.0.0.0", "::"}
_LOCAL_NAMES = {"127.0.0.1", "localhost", "::1"}


def _netloc(host: str) -> str:
    return f"[{host}]" if ":" in host else host


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of a URL, lower-cased, without the scheme's default
    port (``https://a.example:443/`` is ``https://a.example``, as a browser's Origin
    says it); None when it is not one."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:  # "http://[", a port that is no number
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    if not scheme or not host:
        return None
    netloc = _netloc(host)
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc += f":{port}"
    return f"{scheme}://{netloc}"
