"""The ``archiver`` command line: a thin layer over the same services the daemon and web use.

Exit codes: 0 success; 1 the work failed or found problems (capture items, verify,
export, timestamp), or the archive cannot take it (a full disk, a database that cannot be
reached); 2 bad usage or config; 130 interrupted (Ctrl-C); 143 stopped by SIGTERM
(``capture``, ``export``).
"""

from __future__ import annotations

import codecs
import io
import json
import logging
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

import click
from click.core import ParameterSource

from archiver import __version__
from archiver.config import SOURCE_KINDS, Config, is_http_url, load_config, parse_duration
from archiver.errors import (
    UNAVAILABLE_ERRNOS,
    ArchiverError,
    ArchiveUnavailable,
    ConfigError,
    StoreError,
)
from archiver.jsontext import printable, storable
from archiver.logs import LOGGER, escape_controls, events_left_out, setup_logging

# Each command imports the services it uses, so `archiver --help` and light
# commands do not pay for the HTTP, HTML, video and hashing libraries.
if TYPE_CHECKING:
    from archiver.archive import Archive
    from archiver.capture import ItemResult


EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143, as shells report SIGTERM
EXIT_BROKEN_PIPE = 141  # the reader went away (`search | head`), as shells report SIGPIPE


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    echo(f"archiver: error: {message}", err=True)
    sys.exit(code)


def echo(line: str = "", *, err: bool = False) -> None:
    """One line of text output, with every control character escaped
    (`escape_controls`, as in the logs): the values in it come from pages and
    platforms (a URL, an update label, a caption, a server's reason), and an ESC or a
    bidirectional override in one rewrote the terminal. archiver's own words hold none."""
    text = escape_controls(line) + "\n"
    if err:
        click.echo(text, err=True, nl=False)
    else:
        _write(text)


def echo_json(data: Any) -> None:
    """``data`` as indented JSON on stdout: non-ASCII characters as themselves on a
    UTF-8 stdout, else as ``\\u`` escapes, so that a Latin-1 locale still gets valid
    JSON (its characters that stdout could not encode ended in a traceback)."""
    _write(json.dumps(data, indent=2, ensure_ascii=not _is_utf8(sys.stdout)) + "\n")


def _is_utf8(stream: object) -> bool:
    encoding = getattr(stream, "encoding", None) or "ascii"
    return codecs.lookup(encoding).name == "utf-8"


def _write(text: str) -> None:
    """Write ``text`` to stdout whole, or raise BrokenPipeError when the reader went
    away; where stdout cannot be written (a full disk, a closed stdout) the command
    fails with one line, not a traceback."""
    if sys.stdout is None:  # started with stdout closed
        fail("cannot write the output: standard output is closed", EXIT_FAILED)
    try:
        _write_whole(text)
    except BrokenPipeError:
        raise
    except OSError as exc:
        _stdout_discarded()  # what is still buffered, not to a traceback at exit
        fail(f"cannot write the output: {exc.strerror or exc}", EXIT_FAILED)


def _write_whole(text: str) -> None:
    """With PYTHONUNBUFFERED or ``python -u`` stdout has no buffer, and Python's text
    layer drops what one write() left over: a reader that left in the middle of a
    long JSON array cut it short, and the command still exited 0."""
    stream = sys.stdout
    binary = getattr(stream, "buffer", None)
    if binary is None:  # a text-only stream
        stream.write(text)
        stream.flush()
        return
    stream.flush()  # what was written through the text layer first
    data = memoryview(text.encode(stream.encoding, stream.errors or "strict"))
    while data:
        written = binary.write(data)
        if written is None:  # a non-blocking stdout that is full: wait for the reader
            select.select([], [binary], [])
            continue
        data = data[written:]
    binary.flush()


def _unencodable_escaped() -> None:
    """On a stdout that is not UTF-8 (a Latin-1 locale, PYTHONIOENCODING), what it
    cannot encode is written as a ``\\u`` escape, as on stderr: an Arabic caption
    ended `report` in a UnicodeEncodeError traceback."""
    if isinstance(sys.stdout, io.TextIOWrapper) and not _is_utf8(sys.stdout):
        sys.stdout.reconfigure(errors="backslashreplace")


class Context:
    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path

    @property
    def config(self) -> Config:
        try:
            return load_config(self.config_path)
        except ConfigError as exc:
            fail(str(exc))

    @contextmanager
    def archive(
        self, *, existing: bool = False, tidy: bool = True, reading: bool = False
    ) -> Iterator[Archive]:
        """The configured archive; `existing`: one that is there already (commands that
        look at an archive refuse an empty folder rather than make one there);
        `reading`: for a command that only reads, which works on an index archiver may
        read but not write (nothing is tidied then).

        Scratch folders that dead processes left are removed first (`tidy`; the daemon
        does that itself, to log it), and this process's own, emptied, at the end."""
        from sqlalchemy.exc import OperationalError, ProgrammingError

        from archiver.archive import Archive
        from archiver.index.db import database_failed

        try:
            archive = Archive.open(self.config, create=not existing, reading=reading)
        except StoreError as exc:  # may pass (database starting, disk full), or damage: exit 1
            fail(str(exc), EXIT_FAILED)
        except ArchiverError as exc:
            fail(str(exc))
        except OSError as exc:  # the storage root cannot be created or written
            storage_failure(exc, self.config.storage_root)
        with archive:
            try:
                if tidy and not reading:
                    archive.layout.remove_stale_tmp()
                yield archive
            except ArchiveUnavailable as exc:  # disk full, database gone: no traceback
                fail(str(exc), EXIT_FAILED)
            except (OperationalError, ProgrammingError) as exc:  # a damaged index, say
                if (failure := database_failed(exc, archive.engine.url)) is None:
                    raise
                fail(str(failure), EXIT_FAILED)
            except OSError as exc:
                if exc.errno not in UNAVAILABLE_ERRNOS:
                    raise
                storage_failure(exc, archive.layout.root)
            finally:
                with suppress(OSError):  # not empty: what a crash would leave
                    archive.layout.process_tmp().rmdir()


def _count(number: int, noun: str) -> str:
    """``1 embed``, ``3 embeds``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def storage_failure(exc: OSError, root: Path) -> NoReturn:
    """One line for storage that cannot be written: exit 1 when that may pass (a full
    or read-only disk), 2 when it is the configuration's fault (say, not a folder)."""
    code = EXIT_FAILED if exc.errno in UNAVAILABLE_ERRNOS else EXIT_USAGE
    fail(f"storage: {exc.strerror or exc}: {exc.filename or root}", code)


pass_context = click.make_pass_decorator(Context)


def _text(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A word of the command line that is text (a URL, a name): a shell argument whose
    bytes are not UTF-8, which Python holds as lone surrogates, is refused in one line;
    carried on into a URL, the index or the log, it ended in a traceback."""
    if value is not None and storable(value) != value:
        name = param.opts[0].lstrip("-") if isinstance(param, click.Option) else param.name
        fail(f"{name}: is not UTF-8 text: '{printable(value)}'")
    return value


class _Terminated(KeyboardInterrupt):
    """SIGTERM taken as Ctrl-C (`_sigterm_as_ctrl_c`): the work stops as it does for
    Ctrl-C, its cleanup and all, and the exit code still says which signal it was."""


def _interrupted_code(exc: KeyboardInterrupt) -> int:
    return EXIT_TERMINATED if isinstance(exc, _Terminated) else EXIT_INTERRUPTED


def _raise_terminated(signum: int, frame: object) -> NoReturn:
    raise _Terminated


@contextmanager
def _sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM (`timeout`, `docker stop`, systemd) stops the block as Ctrl-C does. Left
    to its default it ended the process at once: a transfer's ``.part`` file stayed in
    the scratch folder and its job stayed leased until the next start cleaned up."""
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _usage_in_one_line() -> Iterator[None]:
    """click's usage errors (a bad value, an unknown option, a missing argument) as
    the project's own: one ``archiver: error:`` line, exit 2. click's own block of
    usage, hint and error took three lines that scripts and logs had to pick apart."""
    try:
        yield
    except click.exceptions.NoArgsIsHelpError:
        raise  # a group given no command (`archiver source`) shows its help
    except click.UsageError as exc:
        fail(printable(exc.format_message().replace("\n", " ")))


@contextmanager
def _reader_gone_quietly() -> Iterator[None]:
    """A reader that stops reading (``archiver search | head``) ends the command
    quietly with 141, as a shell reports SIGPIPE: click's 1 would read as a failure
    (or, for ``search``, as nothing found)."""
    try:
        yield
    except BrokenPipeError:
        _stdout_discarded()
        raise click.exceptions.Exit(EXIT_BROKEN_PIPE) from None


def _stdout_discarded() -> None:
    """What is still buffered for stdout goes nowhere, not to a traceback at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


class _Commands(click.Group):
    """Ctrl-C anywhere in a command (opening the archive, say) exits 130, as a shell
    reports SIGINT; click alone prints "Aborted!" and exits 1, a failure's code. A
    reader that stops reading ends it with 141 (`_reader_gone_quietly`). Usage errors
    are one line (`_usage_in_one_line`). The top level's usage errors, ``--help`` and
    ``--version`` are met making its context, every command's within `invoke`."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        with _reader_gone_quietly(), _usage_in_one_line():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with _reader_gone_quietly(), _usage_in_one_line():
                return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            echo("interrupted", err=True)
            raise click.exceptions.Exit(_interrupted_code(exc)) from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="archiver")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="ARCHIVER_CONFIG",
    help="TOML config file (default: $ARCHIVER_CONFIG, else built-in defaults).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="warning",
    show_default=True,
    help="Structured log lines on stderr at this level and above.",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, log_level: str) -> None:
    """Archive the media embedded in live blogs and feeds, with provenance."""
    setup_logging(log_level)
    ctx.obj = Context(config_path)


@cli.command()
@pass_context
def init(ctx: Context) -> None:
    """Create the storage layout and database (safe to run again)."""
    with ctx.archive() as archive:
        echo(f"archive ready at {archive.layout.root}")
        echo(f"database: {archive.engine.url.render_as_string(hide_password=True)}")


class _StatusLine:
    """A line at the bottom of a terminal's stderr, redrawn in place while a capture
    runs: the items ended, the bytes arriving, the time taken. Items were shown only
    as they ended, so one long video left the terminal blank for minutes.

    Item lines and log lines are written above it (`item`, `above`), which clears it
    first; one lock orders the writes of the worker threads and the redrawing one."""

    EVERY = 0.5  # seconds between redraws

    def __init__(self, scratch: Path, *, drawn: bool) -> None:
        self._scratch = scratch
        self._drawn = drawn
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._began = time.monotonic()
        self._done = 0
        self._arriving = 0
        self._showing = False
        self._dot = " \u00b7 " if _is_utf8(sys.stderr) else " - "
        self._thread = threading.Thread(target=self._redraw, name="status-line", daemon=True)

    def start(self) -> None:
        if self._drawn:
            self._thread.start()

    def stop(self) -> None:
        """Stop redrawing and leave the terminal as it was: no half line."""
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2 * self.EVERY)
        with self._lock:
            self._clear()

    def item(self, item: ItemResult) -> None:
        """One line for an item that ended (from any worker thread)."""
        with self._lock:
            self._done += 1
            self._clear()
            echo(f"[{self._done}] {item.status:<8} {item.url}", err=True)
            self._draw()

    def above(self, stream: TextIO, text: str) -> None:
        """Text another writer (the log) puts on stderr, above the status line."""
        with self._lock:
            self._clear()
            stream.write(text)
            stream.flush()
            self._draw()

    def _redraw(self) -> None:
        from archiver.fetch.ytdlp import look_at  # loaded by capture already

        while True:
            arriving = look_at(self._scratch).total  # outside the lock: it reads a folder
            with self._lock:
                if self._stopped.is_set():
                    return
                self._arriving = arriving
                with suppress(OSError):  # a terminal gone: the main thread will say so
                    self._draw()
            if self._stopped.wait(self.EVERY):
                return

    def _draw(self) -> None:
        if not self._drawn or self._stopped.is_set():
            return
        elapsed = _elapsed(time.monotonic() - self._began)
        line = self._dot.join(
            (f"{self._done:>3} done", f"{_size(self._arriving)} arriving", elapsed)
        )
        # a line longer than the terminal wraps, and a carriage return goes back only
        # to the start of its last row
        sys.stderr.write(f"\r\x1b[K{line[: _columns() - 1]}")
        sys.stderr.flush()
        self._showing = True

    def _clear(self) -> None:
        if self._showing:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self._showing = False


class _AboveStatus:
    """The log handler's stream while a status line shows: each log line is written
    above it, not run into it."""

    def __init__(self, status: _StatusLine, stream: TextIO) -> None:
        self._status = status
        self._stream = stream

    def write(self, text: str) -> int:
        self._status.above(self._stream, text)
        return len(text)

    def flush(self) -> None:
        self._stream.flush()


@contextmanager
def _progress(enabled: bool, scratch: Path) -> Iterator[Callable[[ItemResult], None] | None]:
    """What a capture shows on a terminal as it runs (nothing elsewhere, or with
    --json): a line per item as it ends, and a status line under them. A terminal
    that takes no cursor control (TERM=dumb) gets the item lines alone."""
    if not enabled:
        yield None
        return
    status = _StatusLine(scratch, drawn=os.environ.get("TERM") != "dumb")
    handlers = [
        h
        for h in {*LOGGER.handlers, *logging.getLogger().handlers}
        if isinstance(h, logging.StreamHandler) and h.stream is sys.stderr
    ]
    for handler in handlers:
        handler.setStream(_AboveStatus(status, sys.stderr))
    status.start()
    try:
        yield status.item
    finally:
        status.stop()
        for handler in handlers:
            handler.setStream(sys.stderr)


def _size(number: int) -> str:
    """``512 B``, ``45.3 MiB``."""
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    value, step = float(number), 0
    while value >= 1024 and step < len(units) - 1:
        value, step = value / 1024, step + 1
    return f"{number} B" if step == 0 else f"{value:.1f} {units[step]}"


def _elapsed(seconds: float) -> str:
    """``0:12``, ``1:02:03``."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def _columns() -> int:
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns or 80
    except (OSError, ValueError):
        return 80


def _describe(item: ItemResult) -> Iterator[str]:
    if not item.files:
        yield f"{item.status:<8} {'-':<16} {item.url}" + (
            f"  ({item.reason})" if item.reason else ""
        )
    for f in item.files:
        yield f"{item.status:<8} {f.sha256[:16]} {item.url}"
        yield f"{'':26}{f.path}"
        if f.near_duplicates and (said := _near_duplicates(f.near_duplicates)):
            yield f"{'':26}{said}"


def _near_duplicates(near: dict[str, Any]) -> str | None:
    """One line on what matching found for a new file (the JSON has the whole list)."""
    if error := near.get("fingerprint_error"):  # or matching's, which says so
        from archiver.duplicates import MATCHING_FAILED  # loaded already: it matched

        return error if error.startswith(MATCHING_FAILED) else f"not fingerprinted: {error}"
    matches: list[dict[str, Any]] = near.get("matches") or []
    if not matches:
        return None
    best = max(matches, key=lambda m: m["similarity"])
    more = f" and {len(matches) - 1} more" if len(matches) > 1 else ""
    return (
        f"near-duplicate of {best['sha256'][:16]} ({best['similarity']:.3f}, {best['method']})"
        f"{more}; group {near['group_id']}, earliest {str(near['earliest'])[:16]}"
    )


@cli.command()
@click.argument("url", callback=_text)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--older-pages",
    type=click.IntRange(0, 1000),
    default=0,
    show_default=True,
    help="Also archive up to N older pages of a live page split into pages.",
)
@pass_context
def capture(ctx: Context, url: str, as_json: bool, older_pages: int) -> None:
    """Archive a page's embedded media (or one media/platform URL) now."""
    if not is_http_url(url):  # a usage error, as for the API: no job is queued for it
        fail(f"not an http(s) URL: {url!r}")
    url = url.strip()
    from archiver.capture import Capturer

    interactive = sys.stderr.isatty() and not as_json
    # on a terminal each failed item is shown as it ends and in the report, with its
    # reason: its log line would say it a third time (unless --log-level asks for it)
    chosen = click.get_current_context().find_root().get_parameter_source("log_level")
    shown = ("capture.failed",) if interactive and chosen is ParameterSource.DEFAULT else ()
    with ctx.archive() as archive, events_left_out(*shown):
        try:
            scratch = archive.layout.process_tmp()
            with _sigterm_as_ctrl_c(), _progress(interactive, scratch) as on_item:
                capturer = Capturer(archive)
                # what a crash left unindexed or unwritten, where no daemon runs to do it
                capturer.recover()
                report = capturer.capture_url(url, on_item=on_item, older_pages=older_pages)
        except KeyboardInterrupt as exc:
            said = "terminated" if isinstance(exc, _Terminated) else "interrupted"
            echo(f"{said}: what was not finished stays queued for the daemon", err=True)
            sys.exit(_interrupted_code(exc))
    if as_json:
        echo_json(report.to_json())
    else:
        if report.error:
            echo(f"failed   {url}  ({report.error})")
        elif report.page_sha256:
            older = f", {_count(report.older_pages, 'older page')}" if report.older_pages else ""
            embeds = _count(len(report.items), "embed")
            echo(f"page     {report.page_sha256[:16]} {url}  ({embeds}{older})")
        for item in report.items:
            for line in _describe(item):
                echo(line)
    sys.exit(0 if report.ok else EXIT_FAILED)


def selection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The filters that select stored files, the same for ``search`` and ``export``
    (their values go to ``SearchQuery.parse``)."""
    options = [
        click.option("--sha256", help="Full SHA-256 or a prefix of 8+ hex characters."),
        click.option("--md5", help="Full MD5 or a prefix of 8+ hex characters."),
        click.option(
            "--since", help="Captured at or after this ISO 8601 date/datetime (UTC default)."
        ),
        click.option(
            "--until",
            help="Captured by the end of this date or datetime, to its precision"
            " (2026-11-27T22:46: that whole minute).",
        ),
        click.option(
            "--page", help="Only media seen on this page URL (or embed URL), in any spelling of it."
        ),
        click.option(
            "--text", help="Words that must all appear in titles, context or update labels."
        ),
        click.option("--upload-since", help="Uploaded to its platform on or after this date."),
        click.option("--upload-until", help="Uploaded to its platform on or before this date."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@cli.command("search")
@selection_options
@click.option(
    "--similar-to",
    "similar_to",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Near-duplicates of this local image or video, best first.",
)
@click.option(
    "--min-similarity", type=float, help="With --similar-to: list everything this similar (0-1)."
)
@click.option("--phash", help="Images whose 64-bit pHash (16 hex) is near this one.")
@click.option("--max-distance", type=int, default=10, show_default=True, help="With --phash.")
@click.option(
    "--limit",
    type=int,
    default=100,
    show_default=True,
    help="Show at most this many (a note on stderr says when there are more).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_context
def search_command(
    ctx: Context,
    /,
    as_json: bool,
    similar_to: Path | None,
    min_similarity: float | None,
    phash: str | None,
    max_distance: int,
    **filters: Any,
) -> None:
    """Find stored files by hash, capture date, page, words, or by likeness."""
    from archiver.errors import HashingError
    from archiver.search import QueryError, SearchQuery, search
    from archiver.similar import (
        SimilarQuery,
        parse_phash,
        similar_to_file,
        similar_to_phash,
    )

    # each tunes its own search: given without it, it was silently ignored
    if min_similarity is not None and similar_to is None:
        fail("--min-similarity: only with --similar-to")
    given = click.get_current_context().get_parameter_source("max_distance")
    if given is not ParameterSource.DEFAULT and phash is None:
        fail("--max-distance: only with --phash")
    by_likeness = similar_to is not None or phash is not None
    if by_likeness and any(v for k, v in filters.items() if k != "limit"):
        fail("--similar-to and --phash cannot be combined with the other filters")
    if similar_to is not None and phash is not None:
        fail("use either --similar-to or --phash")
    try:
        query = SearchQuery.parse(**filters)
        # one more than is shown tells whether there are more: a list cut at the limit
        # looked like all there was
        asked = replace(query, limit=query.limit + 1)
        with ctx.archive(existing=True, reading=True) as archive:
            if similar_to is not None:
                found = similar_to_file(
                    archive, SimilarQuery(similar_to, min_similarity, asked.limit)
                )
            elif phash is not None:
                found = similar_to_phash(archive, parse_phash(phash), max_distance, asked.limit)
            else:
                with archive.read_session() as session:
                    found = search(session, archive.layout, asked)
            records = [r.to_json() for r in found[: query.limit]]
    except (QueryError, HashingError) as exc:
        fail(str(exc))
    if as_json:
        echo_json(records)
    elif not records:
        echo("no matches")
    else:
        _table(records)
    if len(found) > query.limit:  # on stderr: stdout stays the list (or valid JSON)
        echo(f"(showing the first {query.limit}; --limit to see more)", err=True)


def _table(records: list[dict[str, Any]]) -> None:
    """Search results as a table, one file a line."""
    # a search by likeness says how alike: an exact copy and a re-encode look the same
    alike = any("similarity" in r for r in records)
    matched = any("match" in r for r in records)  # how: a --similar-to search says, --phash not
    similar = f"{'SIMILAR':>7}  " if alike else ""
    similar += f"{'MATCH':<21}  " if matched else ""
    captured = "CAPTURED (UTC)"
    echo(f"{'SHA-256':<16}  {similar}{'TYPE':<5}  {'SIZE':>10}  {captured:<20}  FIRST SEEN ON")
    for r in records:
        seen = r["sightings"][0] if r["sightings"] else {}
        where = seen.get("page_url") or seen.get("embed_url") or "-"
        score = f"{r.get('similarity', 0.0):>7.4f}  " if alike else ""
        score += f"{r.get('match') or '-':<21}  " if matched else ""
        echo(
            f"{r['sha256'][:16]}  {score}{r['media_type']:<5}  {r['size_bytes']:>10}  "
            f"{r['first_captured_at'][:19]:<20}  {where}"
        )


@cli.command()
@click.option(
    "--once",
    is_flag=True,
    help="Do all due work (poll due sources, drain the queue, due liveness checks), then exit.",
)
@pass_context
def run(ctx: Context, once: bool) -> None:
    """Run the daemon until SIGTERM/SIGINT (or, with --once, until the due work is done)."""
    from archiver.daemon import run_daemon

    with ctx.archive(tidy=False) as archive:  # the daemon removes and logs stale scratch
        try:
            run_daemon(archive, once=once)
        except ConfigError as exc:  # found late, e.g. an unsafe [web] address
            fail(str(exc))
        except ArchiverError as exc:
            fail(str(exc), EXIT_FAILED)


@cli.command()
@click.option("--host", help="Address to listen on (default: [web] host, loopback).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: [web] port, 8787).")
@pass_context
def serve(ctx: Context, host: str | None, port: int | None) -> None:
    """Serve the web app and JSON API until SIGTERM/SIGINT."""
    from archiver.web.server import serve as serve_web

    with ctx.archive() as archive:
        try:
            serve_web(archive, host, port)
        except ConfigError as exc:
            fail(str(exc))
        except ArchiverError as exc:
            fail(str(exc), EXIT_FAILED)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@pass_context
def status(ctx: Context, as_json: bool) -> None:
    """Sources with their last poll, queue counts by state, recent failures."""
    from archiver.status import status_report

    with ctx.archive(existing=True, reading=True) as archive, archive.read_session() as session:
        report = status_report(session)
    if as_json:
        echo_json(report)
        return
    echo("queue: " + ", ".join(f"{k} {v}" for k, v in report["queue"].items()))
    if report["interrupted"]:
        echo(
            f"  of those running, {report['interrupted']} left by processes that have exited:"
            " taken up at the next start, or when their lease runs out"
        )
    echo(f"sources: {len(report['sources'])}")
    for s in report["sources"]:
        state = "paused" if s["paused"] else (s["last_result"] or "not polled yet")
        echo(f"  [{s['id']}] {s['url']}  {state}  last poll {s['last_polled_at'] or '-'}")
        if s["last_error"]:
            echo(f"        error: {s['last_error']}")
    if report["recent_failures"]:
        echo("recent failures:")
        for f in report["recent_failures"]:
            line = f"  {f['failed_at']}  {f['state']:<6} {f['url']}  ({f['reason']})"
            if f["state"] == "failed":
                retry = f["next_attempt_at"]
                line += f"  next attempt {retry}" if retry else "  not retried"
            echo(line)


@cli.group()
def source() -> None:
    """Manage the feeds and live pages the daemon polls."""


def _duration(value: str | None) -> float | None:
    """``--every``'s interval in seconds."""
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--every'") from None


@source.command("add")
@click.argument("url", callback=_text)
@click.option(
    "--every", help="Polling interval: 30s, 10m, 1h, 1d (default: polling.default_every)."
)
@click.option("--name", callback=_text, help="A name to show in lists.")
@click.option(
    "--kind", type=click.Choice(SOURCE_KINDS), help="What it is (default: auto, detected)."
)
@pass_context
def source_add(
    ctx: Context, url: str, every: str | None, name: str | None, kind: str | None
) -> None:
    """Add a source (or update the one with this URL: only what is given changes)."""
    from archiver.sources.registry import add_source

    seconds = _duration(every)
    with ctx.archive() as archive, _source_errors(), archive.session() as session:
        added = add_source(
            session,
            url,
            every=seconds,
            default_every=archive.config.polling.default_every,
            name=name,
            kind=kind,
        )
        echo(f"source {added.id}: {added.url} every {added.every_seconds:g}s ({added.kind})")


@source.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_context
def source_list(ctx: Context, as_json: bool) -> None:
    """List sources with their schedule (--json: and their last poll)."""
    from archiver.sources.registry import list_sources

    with ctx.archive(existing=True, reading=True) as archive, archive.read_session() as session:
        views = [v.to_json() for v in list_sources(session)]
    if as_json:
        echo_json(views)
        return
    for v in views:
        flags = " paused" if v["paused"] else ""
        echo(
            f"{v['id']:>4}  {v['kind']:<4} every {v['every_seconds']:g}s{flags}  {v['url']}"
            + (f"  ({v['name']})" if v["name"] else "")
        )


@source.command("remove")
@click.argument("ref", metavar="ID|URL", callback=_text)
@pass_context
def source_remove(ctx: Context, ref: str) -> None:
    """Stop polling a source (what it found stays archived)."""
    from archiver.sources.registry import remove_source

    with ctx.archive(existing=True) as archive, _source_errors(), archive.session() as session:
        removed = remove_source(session, ref)
        echo(f"removed source {removed.id}: {removed.url}")


@source.command("pause")
@click.argument("ref", metavar="ID|URL", callback=_text)
@pass_context
def source_pause(ctx: Context, ref: str) -> None:
    """Pause polling a source."""
    _set_paused(ctx, ref, True)


@source.command("resume")
@click.argument("ref", metavar="ID|URL", callback=_text)
@pass_context
def source_resume(ctx: Context, ref: str) -> None:
    """Resume polling a source (it is polled at once)."""
    _set_paused(ctx, ref, False)


def _set_paused(ctx: Context, ref: str, paused: bool) -> None:
    from archiver.sources.registry import set_paused

    with ctx.archive(existing=True) as archive, _source_errors(), archive.session() as session:
        source_id = set_paused(session, ref, paused).id
        echo(f"{'paused' if paused else 'resumed'} source {source_id}")


@contextmanager
def _source_errors() -> Iterator[None]:
    from archiver.sources.registry import SourceError

    try:
        yield
    except SourceError as exc:
        fail(str(exc))


def _statuses(value: str | None) -> set[str] | None:
    from archiver.liveness.report import parse_statuses
    from archiver.search import QueryError

    try:
        return parse_statuses(value)
    except QueryError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command()
@click.option(
    "--page", callback=_text, help="Only this page and its embeds (default: everything seen)."
)
@click.option("--status", "status_filter", help="Only report these, e.g. gone,restricted.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_context
def check(ctx: Context, page: str | None, status_filter: str | None, as_json: bool) -> None:
    """Check now whether embeds are still live, and report. Dead embeds are data: exit 0."""
    from archiver.index.models import utcnow
    from archiver.liveness.report import embed_statuses
    from archiver.liveness.service import LivenessChecker, sync_targets, targets_for
    from archiver.search import QueryError

    statuses = _statuses(status_filter)
    with ctx.archive(existing=True) as archive:
        sync_targets(archive, utcnow())
        with archive.read_session() as session:
            targets = targets_for(session, page)
        if page is not None and not targets:
            fail(f"no archived page {page!r} (capture it first)")
        checker = LivenessChecker.open(archive)
        try:
            checker.run(targets)
        finally:
            checker.close()
        with archive.read_session() as session:
            try:
                rows = embed_statuses(session, archive.layout, page=page, statuses=statuses)
            except QueryError as exc:  # a URL checked, but no page of embeds (an embed's)
                fail(str(exc))
            records = [row.to_json() for row in rows]
    if as_json:
        echo_json(records)
        return
    for r in records:
        since = f" since {r['first_seen_dead_at']}" if r["dead"] else ""  # an error since too
        echo(f"{r['status']:<10} {r['embed_url']}{since}")
        echo(f"{'':11}on {r['page_url']}  ({r['reason'] or 'not checked'})")
    if not records:
        echo("no embeds match")


@cli.command()
@click.argument("page", callback=_text)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@pass_context
def report(ctx: Context, page: str, as_json: bool) -> None:
    """The editors' report for one page: each embed, its status, its archived copy."""
    from archiver.liveness.report import capture_note, embed_statuses, page_status
    from archiver.search import QueryError

    with ctx.archive(existing=True, reading=True) as archive, archive.read_session() as session:
        try:
            rows = embed_statuses(session, archive.layout, page=page)
        except QueryError as exc:
            fail(str(exc))
        page_check = page_status(session, page)
        embeds = [{**row.to_json(), "archived": row.archived()} for row in rows]
        data = {
            "page_url": page,
            "page_status": page_check.status if page_check else None,
            "embeds": embeds,
        }
    if as_json:
        echo_json(data)
        return
    echo(f"{page}  (page: {data['page_status'] or 'not checked'})")
    for embed in embeds:
        dead = embed["dead"]  # still, through a check that could not tell (an error)
        since = f" since {embed['first_seen_dead_at']}" if dead else ""
        echo(f"  [{embed['update'] or '-'}] {embed['status']}{since}: {embed['embed_url']}")
        if embed["context"]:
            echo(f"      {embed['context']}")
        if removed := embed["removed_from_page_at"]:  # as the editors' page says it
            echo(f"      no longer on the page since {removed}")
        for copy in embed["archived"]:
            label = "archived copy, use instead" if dead else "archived copy"
            echo(f"      {label}: {copy['path']}")
        if post := embed["kept_post"]:
            label = "post's text as archived" if dead else "post's text kept"
            echo(f"      {label} ({post['fetched_at']}): {post['title']}")
            echo(f"        {post['path']}")
        elif not embed["archived"]:
            note = capture_note(embed["capture"])
            if dead or note:
                echo("      no archived copy" + (f" ({note})" if note else ""))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_context
def dupes(ctx: Context, as_json: bool) -> None:
    """Near-duplicate groups, each with its earliest member (the likely original)."""
    from archiver.duplicates import list_groups

    with ctx.archive(existing=True, reading=True) as archive, archive.read_session() as session:
        groups = [g.to_json() for g in list_groups(session)]
    if as_json:
        echo_json(groups)
        return
    if not groups:
        echo("no near-duplicates")
    for g in groups:
        echo(f"group {g['group_id']}: earliest {g['earliest']}")
        for m in g["members"]:
            echo(f"  {m['sha256']}  {m['similarity']:.3f}  {m['method']}  {_origin(m['origin'])}")


def _origin(origin: dict[str, Any]) -> str:
    """What a member's place in its group's order counts from, in words."""
    if origin["by"] == "sighting":
        return f"first seen {origin['at']} " + (
            f"on {origin['page_url']}" if origin["page_url"] else "(captured directly)"
        )
    if origin["by"] == "upload":
        return f"uploaded {origin['at']}"
    return f"uploaded no later than {origin['at']} (a date without its time zone)"


@cli.command()
@click.option("--all", "everything", is_flag=True, help="Rehash every file, not only stale ones.")
@pass_context
def rehash(ctx: Context, everything: bool) -> None:
    """Recompute fingerprints of an older algorithm or that matching failed on (or all)."""
    from archiver.duplicates import rehash_archive

    with ctx.archive(existing=True) as archive:
        done, failed = rehash_archive(archive, everything=everything)
    echo(f"rehashed {done} file(s)")
    if failed:  # each logged (duplicate.rehash_failed); the next rehash takes them up
        fail(f"{failed} file(s) failed (logged): `archiver rehash` tries them again", code=1)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--sample",
    type=click.IntRange(min=1),
    help="Check N originals chosen at random (the event log is always checked whole).",
)
@click.option(
    "--rebuild-log",
    is_flag=True,
    help="Refill an event log file that lost lines from the database first (recorded).",
)
@click.option(
    "--rewrite-sidecars",
    is_flag=True,
    help="Rewrite sidecars that disagree with the index from it first, keeping the old"
    " ones under replaced/ (recorded).",
)
@pass_context
def verify(
    ctx: Context, as_json: bool, sample: int | None, rebuild_log: bool, rewrite_sidecars: bool
) -> None:
    """Re-hash every stored file; report missing, corrupt, orphaned and disagreeing ones."""
    from archiver.capture import Capturer
    from archiver.integrity.eventlog import rebuild_log as refill_log
    from archiver.integrity.fixity import verify_archive
    from archiver.integrity.repair import rewrite_sidecars as rewrite

    repairs: dict[str, Any] = {}
    with ctx.archive(existing=True) as archive:
        try:
            # what a crash left placed but unindexed, or its sidecar owed, is finished
            # first, as any start does: reported, it read as damage
            Capturer(archive).recover()
            if rebuild_log:
                repairs["log_lines_rebuilt"] = refill_log(archive)
            if rewrite_sidecars:
                repairs["sidecars_rewritten"] = [r.to_json() for r in rewrite(archive)]
            report = verify_archive(archive, sample=sample)
        except ArchiverError as exc:
            fail(str(exc), EXIT_FAILED)
    if as_json:
        echo_json({**report.to_json(), **repairs})
    else:
        if rebuild_log:
            echo(f"event log: {repairs['log_lines_rebuilt']} line(s) written from the database")
        if rewrite_sidecars:
            _echo_rewritten(repairs["sidecars_rewritten"])
        for line in report.lines():
            echo(line)
    sys.exit(0 if report.ok else EXIT_FAILED)


def _echo_rewritten(rewritten: list[dict[str, Any]]) -> None:
    echo(f"sidecars: {len(rewritten)} rewritten from the index")
    for item in rewritten:
        kept = f"old one kept as {item['replaced']}" if item["replaced"] else "there was none"
        echo(f"  {item['sidecar']} ({kept}): {'; '.join(item['problems'])}")


@cli.command("export")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A new or empty folder for the bag (with --zip, OUT.zip is written).",
)
@selection_options
@click.option("--zip", "as_zip", is_flag=True, help="Write OUT.zip, the bag serialized.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_context
def export_command(ctx: Context, /, out: Path, as_zip: bool, as_json: bool, **filters: Any) -> None:
    """Write the selected files, their pages and log entries as a BagIt bag."""
    from archiver.integrity.export import export_bag
    from archiver.search import MAX_RESULTS, QueryError, SearchQuery

    try:
        query = SearchQuery.parse(limit=MAX_RESULTS, **filters)
    except QueryError as exc:
        fail(str(exc))
    with ctx.archive(existing=True) as archive:
        # `timeout`, systemd and `docker stop` send SIGTERM: the half-made bag is
        # removed as on Ctrl-C, not left looking like an export
        signal.signal(signal.SIGTERM, _terminated)
        try:
            report = export_bag(archive, query, out, zip=as_zip)
        except ArchiverError as exc:
            fail(str(exc), EXIT_FAILED)
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if as_json:
        echo_json(report.to_json())
        return
    echo(f"bag      {report.path}")
    echo(
        f"         {report.media} files, {report.pages} page versions, {report.events} log "
        f"entries; {report.files} payload files, {report.bytes} bytes"
    )
    echo(f"         selected: {report.query}")


def _terminated(signum: int, frame: object) -> NoReturn:
    """SIGTERM as an exit that unwinds (cleanup runs), with the shell's code for it."""
    raise SystemExit(128 + signum)


@cli.command()
@click.option(
    "--tsa", "tsa_url", callback=_text, help="RFC 3161 TSA URL (default: [timestamp] tsa_url)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the token's facts as JSON.")
@pass_context
def timestamp(ctx: Context, tsa_url: str | None, as_json: bool) -> None:
    """Have a time-stamping authority sign the event log's newest entry."""
    from archiver.integrity.timestamp import timestamp_head

    if tsa_url is not None and not is_http_url(tsa_url):
        fail(f"--tsa: not an http(s) URL: {tsa_url!r}")
    with ctx.archive(existing=True) as archive:
        url = tsa_url or archive.config.timestamp.tsa_url
        if not url:
            fail("no time-stamping authority: give --tsa URL or set [timestamp] tsa_url")
        try:
            token = timestamp_head(archive, url, timeout=archive.config.timestamp.timeout)
        except ArchiverError as exc:
            fail(str(exc), EXIT_FAILED)
    if as_json:
        echo_json(token.to_json())
        return
    echo(f"entry {token.seq} ({token.sha256}) stamped at {token.gen_time.isoformat()}")
    echo(f"token {token.path}")


def main() -> None:
    _unencodable_escaped()
    cli(prog_name="archiver")
