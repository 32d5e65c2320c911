"""The configuration file and the CLI contract (exit codes, JSON shapes), run as a real process."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import pty
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from support import FixtureServer, MediaSet
from support.archiving import cli_command, run_cli, settings, store_as_earlier_versions_did
from support.archiving import write_config as write_settings

from archiver.archive import Archive
from archiver.config import config_from_dict, load_config
from archiver.errors import ConfigError
from archiver.index.db import SCHEMA_HEAD, make_engine
from archiver.index.models import CaptureJob, Media, utcnow
from archiver.jsontext import printable


def write_config(path: Path, body: str) -> Path:
    path.write_text(body)
    return path


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write_config(
        tmp_path / "archiver.toml",
        '[storage]\nroot = "store"\n[network]\nallow_private_addresses = true\n'
        'read_timeout = "3s"\n',
    )


def test_relative_storage_root_is_relative_to_the_config_file(config_file: Path) -> None:
    config = load_config(config_file)
    assert config.storage_root == config_file.parent / "store"
    assert config.database_url == f"sqlite:///{config_file.parent / 'store' / 'archive.db'}"
    assert config.network.read_timeout == 3.0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[network]\nmax_file_size = 'lots'\n", "network.max_file_size: not a size"),
        ("[[sources]]\nurl = 'feeds.example/rss'\n", "sources.0.url: not an http(s) URL"),
        ("[polling]\ndefault_every = '4000000d'\n", "polling.default_every: '4000000d' is longer"),
        ("[network]\nallow_private = true\n", "network.allow_private: unknown key"),
        ("[download]\nconcurrency = 0\n", "download.concurrency: Input should be greater"),
        ("[network\n", "invalid TOML"),
        # a float turned these into infinity, and Python's integer limit stopped tomllib:
        # tracebacks, exit 1
        ("[network]\nmax_file_size = '1" + "0" * 400 + "MB'\n", "network.max_file_size"),
        ("[web]\nmax_upload = 18446744073709551616\n", "web.max_upload: 18446744073709551616"),
        ("[download]\nconcurrency = " + "9" * 5000 + "\n", "invalid TOML: Exceeds the limit"),
        # strings and numbers are no booleans: "no" turned the address guard on
        ("[network]\nallow_private_addresses = 'no'\n", "network.allow_private_addresses: Input"),
        ("[network]\nallow_private_addresses = 0\n", "network.allow_private_addresses: Input"),
        ("[web]\nport = '8787'\n", "web.port: Input should be a valid integer"),
        ("[download]\nconcurrency = 4.0\n", "download.concurrency: Input should be a valid"),
        ("[liveness]\njitter = '0.2'\n", "liveness.jitter: Input should be a valid number"),
        ("[timestamp]\ntsa_url = 'tsa.example'\n", "timestamp.tsa_url: not an http(s) URL"),
        ("[posts]\nimgur_client_id = 'a b'\n", "posts.imgur_client_id: String should match"),
        ("[liveness]\nwebhook_url = 'ftp://x.example/'\n", "liveness.webhook_url: not an http"),
        # a header without a colon was accepted and never sent
        ("[liveness]\nwebhook_header = 'Bearer abc'\n", "liveness.webhook_header: not a header"),
        # editors' snippets pointed at "notaurl/media/..."; serve said "refusing to serve on
        # no such host without a token"; an internal field was taken as a key
        ("[web]\nbase_url = 'notaurl'\n", "web.base_url: not an http(s) URL"),
        ("[web]\nhost = 'no such host'\n", "web.host: not an IP address or host name"),
        ("[web]\nhost = '256.300.1.1'\n", "web.host: not an IP address or host name"),
        ("source_path = '/etc'\n", "source_path: unknown key"),
        # each of these passed, then failed the first command with a traceback
        ('[network]\nuser_agent = "caf\\u00e9"\n', "network.user_agent: only printable ASCII"),
        ('[network]\nuser_agent = "a\\nb"\n', "network.user_agent: only printable ASCII"),
        # an empty User-Agent header was sent: no one to reach
        ('[network]\nuser_agent = " "\n', "network.user_agent: must not be empty"),
        ('[liveness]\nwebhook_header = "X-A: b\\r"\n', "liveness.webhook_header: only printable"),
        ("[database]\nurl = 'postgresql+asyncpg://h/x'\n", "database.url: PostgreSQL is reached"),
        ("[database]\nurl = 'sqlite+pysqlcipher:///x.db'\n", "database.url: unsupported database"),
        ("[database]\nurl = 'mysql://h/x'\n", "database.url: unsupported database 'mysql'"),
        ("[database]\nurl = 'postgresql+psycopg://h:99999/x'\n", "database.url: port 99999"),
        # libpq refused these only on connecting: "database unavailable", restarted for ever
        ("[database]\nurl = 'postgresql+psycopg://h/x?foo=bar'\n", "invalid connection option"),
        ("[database]\nurl = 'postgresql+psycopg://h/x?sslmode=bogus'\n", "sslmode must be"),
        ("[database]\nurl = 'postgresql+psycopg://h/x?connect_timeout=a'\n", "connect_timeout"),
        ('[database]\nurl = "sqlite:///a\\u0000b.db"\n', "database.url: contains a NUL"),
        ("[storage]\nroot = '~nosuchuser-archiver/x'\n", "storage.root: no home directory"),
        ('[storage]\nroot = "a\\u0000b"\n', "storage.root: contains a NUL"),
        # made the archive in the config file's own folder
        ("[storage]\nroot = ''\n", "storage.root: empty: name a directory"),
        # "initialised", then every capture failed: the tables lived and died with `init`
        ("[database]\nurl = 'sqlite://'\n", "database.url: an in-memory SQLite"),
        ("[database]\nurl = 'sqlite:///:memory:'\n", "database.url: an in-memory SQLite"),
        ("[database]\nurl = 'sqlite:///file::memory:?uri=true'\n", "an in-memory SQLite"),
        # passed every bound: each capture then ended in a traceback, or a source's
        # interval in every poll's
        ("[network]\npage_deadline = nan\n", "network.page_deadline: nan is not a number of"),
        ("[polling]\ndefault_every = nan\n", "polling.default_every: nan is not a number of"),
        ("[daemon]\ntick = 1" + "0" * 400 + "\n", "daemon.tick: 1000"),  # no float holds it
        # the last of two tables with one URL won, silently: a daily source polled each minute
        (
            "[[sources]]\nurl = 'https://a.example/feed'\nevery = '1d'\n"
            "[[sources]]\nurl = 'https://b.example/feed'\n"
            "[[sources]]\nurl = 'https://a.example/feed '\nevery = '1m'\n",
            "sources.2.url: 'https://a.example/feed' is also at sources.0",
        ),
        # a lease renewed every third of it, each renewal a database write
        ("[daemon]\nlease = '0.01s'\n", "daemon.lease: at least 1s"),
        ("[daemon]\ntick = 0.000001\n", "daemon.tick: at least 0.05s"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(write_config(tmp_path / "bad.toml", body))


def test_a_storage_root_under_the_home_folder_is_read_as_a_shell_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``root = "~/archive"`` made a folder named ``~`` beside the config file."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    config = load_config(write_config(tmp_path / "a.toml", '[storage]\nroot = "~/archive"\n'))
    assert config.storage_root == tmp_path / "home" / "archive"


def test_a_relative_sqlite_database_is_relative_to_the_config_file(
    tmp_path: Path, config_file: Path
) -> None:
    """It was relative to the directory the command ran in: a daemon started from
    another one opened (and created) another, empty index."""
    config_file.write_text(
        '[storage]\nroot = "store"\n[database]\nurl = "sqlite:///index/archive.db"\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        cli_command(config_file, "init"), cwd=elsewhere, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "index" / "archive.db").is_file() and not any(elsewhere.iterdir())
    url = f"sqlite:///{tmp_path}/abs.db"
    config_file.write_text(f'[database]\nurl = "{url}"\n')
    assert load_config(config_file).database_url == url


def test_an_ipv6_host_in_brackets_is_taken_as_the_address(tmp_path: Path) -> None:
    """``host = "[::1]"`` passed validation and failed at start: no address has brackets."""
    config = load_config(write_config(tmp_path / "a.toml", '[web]\nhost = "[::1]"\n'))
    assert config.web.host == "::1"


def test_the_default_config_file_is_valid() -> None:
    config = load_config(Path(__file__).parent.parent / "config" / "archiver.toml")
    assert config.storage_root.name == "storage"
    assert not config.network.allow_private_addresses


def test_archived_files_take_the_umask_so_the_group_can_read_them(
    config_file: Path, server: FixtureServer, media: MediaSet
) -> None:
    """Under the unit's UMask=0027 originals, sidecars and page versions were 0600
    (written through mkstemp): the ``archiver`` group of investigators read nothing."""
    server.add_file("/photo.jpg", media.photo_a)
    server.add_page("/blog", "<article><p>Shelling reported:</p><img src='/photo.jpg'></article>")
    done = subprocess.run(
        cli_command(config_file, "capture", server.url("/blog")),
        capture_output=True,
        text=True,
        umask=0o027,
    )
    assert done.returncode == 0, done.stderr
    store = config_file.parent / "store"
    placed = [p for top in ("media", "pages") for p in (store / top).rglob("*") if p.is_file()]
    assert len(placed) == 4  # the photo, the page version, their sidecars
    assert {oct(p.stat().st_mode & 0o777) for p in placed} == {"0o640"}


def test_cli_capture_and_search_contract(
    config_file: Path, server: FixtureServer, media: MediaSet
) -> None:
    server.add_file("/photo.jpg", media.photo_a)
    server.add_status("/gone.jpg", 410)
    server.add_page(
        "/blog",
        "<article><p>UPDATE 1430 GMT: Shelling reported:</p><img src='/photo.jpg'></article>",
    )
    server.add_status("/busy.jpg", 503)
    server.add_status("/private.jpg", 403)  # a bot check as often as for good: retried
    server.add_status("/refused.jpg", 400)
    server.add_page(
        "/bad",
        "<article><p>Two:</p><img src='/photo.jpg'><img src='/gone.jpg'>"
        "<p>More:</p><img src='/busy.jpg'><img src='/private.jpg'><img src='/refused.jpg'>"
        "</article>",
    )

    assert run_cli(config_file, "init").returncode == 0
    ok = run_cli(config_file, "capture", server.url("/blog"), "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["items"][0]["status"] == "stored"
    assert list((config_file.parent / "store" / "tmp").iterdir()) == []  # its scratch: gone

    partial = run_cli(config_file, "capture", server.url("/bad"))
    assert partial.returncode == 1
    assert "gone" in partial.stdout and "HTTP 410" in partial.stdout
    assert "Traceback" not in partial.stderr
    # status says which failures will be retried and which will not
    failures = run_cli(config_file, "status").stdout.split("recent failures:\n", 1)[1]
    lines = {line.split()[2].rsplit("/", 1)[1]: line for line in failures.splitlines()}
    assert lines["gone.jpg"].endswith("(HTTP 410 from " + server.url("/gone.jpg") + ")")
    assert re.search(r"\(HTTP 503 [^)]*\)  next attempt 20\d\d-", lines["busy.jpg"])
    assert re.search(r"\(HTTP 403 [^)]*\)  next attempt 20\d\d-", lines["private.jpg"])
    assert lines["refused.jpg"].endswith("  not retried")
    # capturing the page again tries every item not archived yet, at once
    names = ("gone.jpg", "busy.jpg", "private.jpg", "refused.jpg")
    hits = {name: server.hits(f"/{name}") for name in names}
    again = run_cli(config_file, "capture", server.url("/bad"))
    assert again.returncode == 1 and again.stdout.count("already ") == 1
    for name, before in hits.items():
        assert server.hits(f"/{name}") > before, name

    digest = hashlib.sha256(media.photo_a.read_bytes()).hexdigest()
    found = run_cli(config_file, "search", "--sha256", digest[:8], "--json")
    assert found.returncode == 0, found.stderr
    (record,) = json.loads(found.stdout)
    assert set(record) >= {
        "sha256",
        "md5",
        "media_type",
        "mime_type",
        "size_bytes",
        "path",
        "sidecar",
        "first_captured_at",
        "sightings",
        "platform",
    }
    assert record["sha256"] == digest and record["media_type"] == "image"
    assert record["mime_type"] == "image/jpeg" and record["platform"] is None
    assert Path(record["path"]).read_bytes() == media.photo_a.read_bytes()
    assert json.loads(Path(record["sidecar"]).read_text())["file"]["sha256"] == digest
    assert record["first_captured_at"].endswith("Z")
    assert [s["update"] for s in record["sightings"]] == ["UPDATE 1430 GMT", None]
    assert set(record["sightings"][0]) == {
        "page_url",
        "update",
        "context",
        "other_placements",
        "posted_at",
        "embed_url",
        "media_url",
        "first_seen_at",
    }

    by_text = json.loads(run_cli(config_file, "search", "--text", "shelling", "--json").stdout)
    assert [r["sha256"] for r in by_text] == [digest]
    assert (
        json.loads(run_cli(config_file, "search", "--until", "2000-01-01", "--json").stdout) == []
    )
    assert "no matches" in run_cli(config_file, "search", "--md5", "00000000").stdout
    table = run_cli(config_file, "search").stdout
    assert digest[:16] in table


def test_until_takes_in_the_second_or_minute_a_capture_is_shown_at(
    config_file: Path, server: FixtureServer, media: MediaSet
) -> None:
    """A file captured at 22:46:58.149617 was found neither by ``--until`` 22:46:58,
    the time the table shows, nor 22:46, nor its own time given to ``--since`` and
    ``--until`` both: the end was taken as an instant, and the capture came after it."""
    server.add_file("/photo.jpg", media.photo_a)
    assert run_cli(config_file, "capture", server.url("/photo.jpg")).returncode == 0
    listed = run_cli(config_file, "search", "--json")
    assert listed.returncode == 0, listed.stderr
    (record,) = json.loads(listed.stdout)
    captured = record["first_captured_at"]
    shown = run_cli(config_file, "search").stdout.splitlines()[1].split()[3]  # CAPTURED (UTC)
    assert captured.startswith(shown)

    def found(*filters: str) -> list[str]:
        result = run_cli(config_file, "search", *filters, "--json")
        assert result.returncode == 0, result.stderr
        return [r["sha256"] for r in json.loads(result.stdout)]

    for until in (f"{shown}Z", shown[:16], f"{shown[:10]} {shown[11:16]}+00:00"):
        assert found("--until", until) == [record["sha256"]], until
    assert found("--since", captured, "--until", captured) == [record["sha256"]]
    second_before = datetime.fromisoformat(shown) - timedelta(seconds=1)
    assert found("--until", f"{second_before.isoformat()}Z") == []


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["search", "--sha256", "abc"], "sha256: takes 8 to 64 hex characters, got 'abc'"),
        (["search", "--since", "yesterday"], "since: not an ISO 8601 date or datetime"),
        (["search", "--limit", "abc"], "Invalid value for '--limit': 'abc' is not a valid"),
        (["search", "--limit", "1e3"], "Invalid value for '--limit': '1e3' is not a valid"),
        (["search", "--bogus"], "No such option '--bogus'"),
        (["capture"], "Missing argument 'URL'"),
        (["capture", "--older-pages", "-1", "https://example.org/"], "'--older-pages': -1"),
        (["source", "add", "https://example.org/feed", "--every", "x"], "'--every': not a"),
        (["frobnicate"], "No such command 'frobnicate'"),
        (["--log-level", "loud", "status"], "Invalid value for '--log-level': 'loud'"),
        # digits of other scripts are no ISO 8601 (Python's int() reads them)
        (["search", "--until", "２０２６"], "until: not an ISO 8601 date or datetime"),
        (["search", "--since", "٢٠٢٦-١١"], "since: not an ISO 8601 date or datetime"),
        (["search", "--upload-until", "2026-３２９"], "upload-until: not an ISO 8601 date"),
        # each tunes its own search, and was ignored without it
        (["search", "--min-similarity", "0.7"], "--min-similarity: only with --similar-to"),
        (["search", "--max-distance", "4"], "--max-distance: only with --phash"),
        (["search", "--max-distance", "10", "--sha256", "a" * 8], "--max-distance: only with"),
    ],
)
def test_cli_usage_errors_exit_2_with_one_line(
    config_file: Path, args: list[str], said: str
) -> None:
    """click's own usage errors (a value of the wrong type, an unknown option, a
    missing argument) took three lines, usage, hint and error, unlike the rest."""
    result = run_cli(config_file, *args)
    assert (result.returncode, result.stdout) == (2, "")
    (line,) = result.stderr.splitlines()
    assert line.startswith("archiver: error: ") and said in line, line


def test_help_is_still_shown_whole(config_file: Path) -> None:
    for args in (["search", "--help"], ["source"]):
        result = run_cli(config_file, *args)
        shown = result.stdout + result.stderr
        assert shown.startswith(f"Usage: archiver {args[0]} [OPTIONS]"), shown
        assert "Options:" in shown and "archiver: error" not in shown


def test_capture_of_a_url_that_is_not_http_is_a_usage_error(config_file: Path) -> None:
    """Exit 2 with one line, as the README promises for bad usage, and nothing is
    queued: the API refuses such a URL too, and the daemon would only fail it."""
    for url in ("ftp://example.org/clip.mp4", "example.org/live", "not a url", "http://[::1"):
        result = run_cli(config_file, "capture", url, "--json")
        assert (result.returncode, result.stdout) == (2, ""), result.stderr
        assert result.stderr.strip() == f"archiver: error: not an http(s) URL: {url!r}"
    with Archive.open(load_config(config_file)) as archive, archive.read_session() as session:
        assert list(session.scalars(select(CaptureJob.url))) == []


def test_capturing_a_feed_says_to_add_it_as_a_source_and_an_xhtml_page_is_a_page(
    config_file: Path, server: FixtureServer, media: MediaSet
) -> None:
    """An RSS script served as text/html was archived as a page with nothing in it (exit
    0), a JSON Feed was downloaded as a file and refused as "not media", and an XHTML
    page served as application/xml was taken for a feed."""
    rss = "<?xml version='1.0'?><rss version='2.0'><channel><title>Live</title></channel></rss>"
    server.add_bytes("/feed.php", rss.encode(), "text/html")
    feed = {"version": "https://jsonfeed.org/version/1.1", "items": []}
    server.add_bytes("/feed.json", json.dumps(feed).encode(), "application/feed+json")
    xhtml = (
        "<?xml version='1.0'?><html xmlns='http://www.w3.org/1999/xhtml'><body><article>"
        "<p>Smoke over the port:</p><img src='/photo.jpg'/></article></body></html>"
    )
    server.add_bytes("/live.xhtml", xhtml.encode(), "application/xml")
    server.add_file("/photo.jpg", media.photo_a)

    for path in ("/feed.php", "/feed.json"):
        result = run_cli(config_file, "capture", server.url(path))
        assert result.returncode == 1, result.stderr
        assert "this is a feed, not a page: add it as a source" in result.stdout
    page = run_cli(config_file, "capture", server.url("/live.xhtml"), "--json")
    assert page.returncode == 0, page.stderr
    assert [item["status"] for item in json.loads(page.stdout)["items"]] == ["stored"]


def test_cli_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    bad = write_config(tmp_path / "bad.toml", "[storage]\nrooot = 'x'\n")
    result = run_cli(bad, "init")
    assert result.returncode == 2
    assert result.stderr.strip() == f"archiver: error: {bad}: storage.rooot: unknown key"


def test_search_by_hash_does_not_load_the_media_decoders(config_file: Path) -> None:
    """Scripts run `archiver search` often: numpy, PyAV and Pillow load only when a
    file has to be fingerprinted (`--similar-to`), not for a lookup by hash."""
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from archiver.cli import cli\n"
        f"args = ['--config', {str(config_file)!r}, 'search', '--sha256', 'deadbeef', '--json']\n"
        "result = CliRunner().invoke(cli, args)\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted({'numpy', 'av', 'PIL'} & set(sys.modules)))\n"
    )
    assert run_cli(config_file, "init").returncode == 0
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_setup_errors_found_late_still_exit_2_with_one_line(tmp_path: Path) -> None:
    """A storage root that cannot be created, or an unsafe web address met only when
    the daemon starts: bad configuration, exit 2, one line, no traceback."""
    (tmp_path / "a-file").write_text("not a folder")
    under_a_file = write_config(tmp_path / "a.toml", '[storage]\nroot = "a-file/storage"\n')
    result = run_cli(under_a_file, "capture", "https://example.org/live", "--json")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("archiver: error: storage: Not a directory")
    assert len(result.stderr.strip().splitlines()) == 1
    exposed = write_config(
        tmp_path / "b.toml",
        '[storage]\nroot = "store"\n[web]\nenabled = true\nhost = "0.0.0.0"\n',
    )
    result = run_cli(exposed, "run", timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "without a token" in result.stderr.strip().splitlines()[-1]


def test_a_database_that_cannot_be_reached_exits_1_so_the_service_is_restarted(
    tmp_path: Path,
) -> None:
    """PostgreSQL not up yet at boot (or restarting) is a state that passes, not bad
    configuration: exit 1 with one line, which systemd restarts (it does not restart
    on exit 2)."""
    down = write_config(
        tmp_path / "down.toml",
        '[storage]\nroot = "store"\n[database]\n'
        'url = "postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2"\n',
    )
    for folder in ("media", "pages"):  # an archive, whose index is down
        (tmp_path / "store" / folder).mkdir(parents=True)
    for args in (["run", "--once"], ["search", "--json"]):
        result = run_cli(down, *args, timeout=60)
        assert result.returncode == 1, result.stderr
        assert result.stderr.startswith("archiver: error: archive database unavailable: ")
        assert len(result.stderr.strip().splitlines()) == 1


def test_a_file_that_is_no_database_is_named_in_one_line(config_file: Path) -> None:
    """A damaged archive.db gave a 50-frame traceback."""
    store = config_file.parent / "store"
    for folder in ("media", "pages"):
        (store / folder).mkdir(parents=True)
    (store / "archive.db").write_bytes(b"\x8f" * 4096)
    result = run_cli(config_file, "search")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "archiver: error: archive database unusable: file is not a database"
        f" (sqlite:///{store / 'archive.db'})"
    )


def test_an_index_a_newer_archiver_migrated_is_refused_in_one_line(
    tmp_path: Path, db_url: str
) -> None:
    """Gone back to an older release, every command was Alembic's traceback ("Can't
    locate revision"), exit 1, read as "some items failed"."""
    config = write_settings(tmp_path / "a.toml", settings(tmp_path / "store", db_url))
    assert run_cli(config, "init").returncode == 0
    engine = make_engine(db_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9001'"))
    engine.dispose()
    for command in (["search"], ["init"], ["verify"]):
        result = run_cli(config, *command)
        assert (result.returncode, result.stderr.strip()) == (
            2,
            "archiver: error: the archive's index is at schema revision 9001, which this"
            f" archiver (newest {SCHEMA_HEAD}) does not know: run the newer archiver that"
            " made it",
        ), command


@pytest.mark.parametrize("command", [["verify"], ["search"], ["export", "--out", "bag"]])
def test_commands_that_look_at_an_archive_refuse_a_root_that_holds_none(
    tmp_path: Path, command: list[str]
) -> None:
    """`verify` on a disk that failed to mount (an empty mount point), or a mistyped
    root, made a new empty archive there and said it was intact (exit 0)."""
    (tmp_path / "mnt").mkdir()
    config = write_config(tmp_path / "a.toml", '[storage]\nroot = "mnt"\n')
    result = run_cli(config, *command)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"archiver: error: no archive at {tmp_path / 'mnt'} (no media/ and pages/ folders):"
        " `archiver init` makes one; or is its disk not mounted?"
    )
    assert list((tmp_path / "mnt").iterdir()) == []
    # the folders without the index (it was moved, or the config names another)
    assert run_cli(config, "init").returncode == 0
    (tmp_path / "mnt" / "archive.db").unlink()
    result = run_cli(config, *command)
    assert result.returncode == 2
    assert f"(no index file {tmp_path / 'mnt' / 'archive.db'})" in result.stderr
    assert not (tmp_path / "mnt" / "archive.db").exists()


def archive_with_a_file(root: Path, db_url: str = "") -> Path:
    """The config of an archive at ``root`` (SQLite unless ``db_url``) holding one file."""
    data = settings(root, db_url)
    with Archive.open(config_from_dict(data)) as archive:
        store_as_earlier_versions_did(archive, b"\xff\xd8\xff" + b"x" * 500, "image/jpeg")
    return write_settings(root.parent / f"{root.name}.toml", data)


@pytest.mark.parametrize("command", [["search", "--json"], ["export", "--out", "bag"]])
def test_commands_that_look_at_an_archive_refuse_a_postgresql_database_that_holds_none(
    tmp_path: Path, pg_url: str, command: list[str]
) -> None:
    """A config naming the wrong PostgreSQL database or schema (SQLite's missing index
    file is refused above) made a read-only command build an archive there and answer
    "no matches", exit 0, though the storage root holds files."""
    root = tmp_path / "store"
    archive_with_a_file(root)
    wrong = write_settings(tmp_path / "pg.toml", settings(root, pg_url))
    result = run_cli(wrong, *command)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("archiver: error: no archive in the database postgresql")
    assert "(it holds no tables): `archiver init` makes one" in line
    engine = make_engine(pg_url)
    try:
        with engine.connect() as connection:
            assert not connection.execute(
                text("SELECT * FROM pg_tables WHERE schemaname = current_schema()")
            ).all()
    finally:
        engine.dispose()


@pytest.mark.parametrize("args", [["search", "--json"], ["search"], ["status", "--json"]])
def test_output_that_cannot_be_written_is_one_line_not_a_traceback(
    tmp_path: Path, args: list[str]
) -> None:
    """``archiver search --json > results.json`` on a full disk ended in a traceback
    of ENOSPC; with stdout closed, in an AttributeError."""
    config = archive_with_a_file(tmp_path / "store")
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            cli_command(config, *args), stdout=full, stderr=subprocess.PIPE, text=True, timeout=120
        )
    assert done.returncode == 1
    assert done.stderr == "archiver: error: cannot write the output: No space left on device\n"
    closed = subprocess.run(
        [*cli_command(config, *args)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, timeout=120, preexec_fn=lambda: os.close(1),
    )  # fmt: skip
    assert closed.returncode == 1
    assert closed.stderr == "archiver: error: cannot write the output: standard output is closed\n"


def test_an_index_that_cannot_answer_a_query_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """An index at the newest revision without its word index (a half-restored copy)
    ended ``search --text`` in a traceback of "no such table: media_search"; so did a
    PostgreSQL user that may not read the tables."""
    config = archive_with_a_file(tmp_path / "store")
    with sqlite3.connect(tmp_path / "store" / "archive.db") as db:
        for trigger in ("insert", "delete", "update"):
            db.execute(f"DROP TRIGGER media_search_{trigger}")
        db.execute("DROP TABLE media_search")
    result = run_cli(config, "search", "--text", "citadel")
    assert result.returncode == 1
    assert result.stderr == (
        "archiver: error: archive database failed: no such table: media_search"
        " (is the index damaged, or may this user not read it?)\n"
    )


def test_a_statement_archiver_gets_wrong_keeps_its_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault of archiver's own (a dict bound as a parameter) says nothing of the index:
    told "is the index damaged?", without the stack, an operator restored a sound one."""
    from click.testing import CliRunner

    import archiver.status
    from archiver.cli import cli

    config = archive_with_a_file(tmp_path / "store")

    def wrong(session: Any) -> Any:
        return session.execute(text("SELECT :x"), {"x": {"a": 1}})

    monkeypatch.setattr(archiver.status, "status_report", wrong)
    result = CliRunner().invoke(cli, ["--config", str(config), "status"])
    assert result.exception is not None and "is the index damaged" not in result.output


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--text", os.fsdecode(b"abc\xff")], "text: is not UTF-8 text: 'abc\\xff'"),
        (["--page", os.fsdecode(b"http://x/\xff")], "page: is not UTF-8 text: 'http://x/\\xff'"),
        (["--phash=-123456789abcdef"], "phash: takes 16 hex characters, got '-123456789abcdef'"),
        (["--phash", "1234_5678_9abcde"], "phash: takes 16 hex characters, got '1234_5678_9abcde'"),
    ],
    ids=["text-not-utf8", "page-not-utf8", "negative-phash", "phash-with-underscores"],
)
def test_search_arguments_that_are_no_text_or_no_hash_are_usage_errors(
    config_file: Path, args: list[str], said: str
) -> None:
    """A shell argument not in UTF-8 ended in UnicodeEncodeError, a pHash with a sign
    in OverflowError; Python's int() read one with underscores as another hash."""
    assert run_cli(config_file, "init").returncode == 0
    result = run_cli(config_file, "search", *args)
    assert (result.returncode, result.stderr.strip()) == (2, f"archiver: error: {said}")


BAD_URL = os.fsdecode(b"http://127.0.0.1:9/\xff")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["capture", BAD_URL], "url"),
        (["source", "add", BAD_URL], "url"),
        (["source", "add", "http://127.0.0.1:9/feed", "--name", os.fsdecode(b"n\xff")], "name"),
        (["source", "pause", BAD_URL], "ref"),
        (["report", BAD_URL], "page"),
        (["check", "--page", BAD_URL], "page"),
        (["timestamp", "--tsa", BAD_URL], "tsa"),
    ],
    ids=["capture", "source-add", "source-name", "source-pause", "report", "check", "tsa"],
)
def test_words_of_other_commands_that_are_no_text_are_usage_errors(
    config_file: Path, args: list[str], said: str
) -> None:
    """Search refused them; every other command went on to a UnicodeEncodeError."""
    assert run_cli(config_file, "init").returncode == 0
    result = run_cli(config_file, *args)
    assert (result.returncode, result.stderr.strip()) == (
        2,
        f"archiver: error: {said}: is not UTF-8 text: '{printable(args[-1])}'",
    )


def test_a_daemon_refuses_an_empty_storage_root_whose_index_lists_files(
    tmp_path: Path, pg_url: str, server: FixtureServer, media: MediaSet
) -> None:
    """With the index in PostgreSQL, a daemon started before the storage disk was
    mounted made a new archive on the mount point (hidden once the disk came)."""
    server.add_file("/photo.jpg", media.photo_a)
    mounted = write_settings(tmp_path / "a.toml", settings(tmp_path / "disk", pg_url))
    assert run_cli(mounted, "capture", server.url("/photo.jpg")).returncode == 0
    (tmp_path / "mnt").mkdir()
    unmounted = write_settings(tmp_path / "b.toml", settings(tmp_path / "mnt", pg_url))
    result = run_cli(unmounted, "run", "--once")
    assert (result.returncode, result.stderr.strip()) == (
        2,
        f"archiver: error: no archive at {tmp_path / 'mnt'} (no media/ and pages/ folders),"
        " but the index lists files: is its disk not mounted? (to go on with an empty"
        " root, make those folders)",
    )
    assert list((tmp_path / "mnt").iterdir()) == []


def test_a_time_stamping_authority_that_is_no_url_is_a_usage_error(config_file: Path) -> None:
    result = run_cli(config_file, "timestamp", "--tsa", "tsa.example")
    assert result.returncode == 2
    assert result.stderr.strip() == "archiver: error: --tsa: not an http(s) URL: 'tsa.example'"


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [(signal.SIGINT, 130, "interrupted: "), (signal.SIGTERM, 143, "terminated: ")],
    ids=["ctrl-c", "sigterm"],
)
@pytest.mark.parametrize("server_sends", ["slowly", "nothing"])
def test_ctrl_c_or_sigterm_stops_a_capture_at_once_and_leaves_its_jobs_queued(
    config_file: Path,
    server: FixtureServer,
    tmp_path: Path,
    server_sends: str,
    signum: signal.Signals,
    code: int,
    said: str,
) -> None:
    """A server that sent nothing held Ctrl-C for the 30 s of the read time-out, and
    the item was then recorded as failed ("timed out waiting for data"). SIGTERM
    (`timeout`, `docker stop`, systemd) ended the process on the spot: the download's
    ``.part`` file stayed in the scratch folder and its job stayed leased."""
    slow = tmp_path / "slow.mp4"
    slow.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(2_000_000))
    if server_sends == "slowly":
        server.add_file("/slow.mp4", slow, rate=50_000)  # 40 s to send it whole
    else:
        server.add_hang("/slow.mp4", seconds=60)
    server.add_page("/live", "<article><p>Footage:</p><video src='/slow.mp4'></video>")
    config_file.write_text(config_file.read_text().replace('"3s"', '"30s"'))  # the default
    capture = subprocess.Popen(
        cli_command(config_file, "capture", server.url("/live"), "--json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},  # SIGABRT prints every thread
        # as from a terminal: a suite started in the background (``cmd &``) passes on
        # an ignored SIGINT, which Python then rightly keeps ignoring
        preexec_fn=_default_sigint,
    )
    while not server.hits("/slow.mp4"):
        time.sleep(0.05)
    time.sleep(0.3)
    capture.send_signal(signum)
    try:
        _, stderr = capture.communicate(timeout=10)  # not the download's 40 s, nor 30 s
    except subprocess.TimeoutExpired:
        capture.send_signal(signal.SIGABRT)
        pytest.fail(f"still running 10 s after {signum.name}:\n{capture.communicate()[1]}")
    assert capture.returncode == code, stderr
    assert stderr.strip() == f"{said}what was not finished stays queued for the daemon"
    assert list((config_file.parent / "store" / "tmp").rglob("*")) == []  # no .part left
    with Archive.open(load_config(config_file)) as archive, archive.read_session() as session:
        jobs = {job.url: (job.state, job.attempts) for job in session.scalars(select(CaptureJob))}
    assert jobs[server.url("/slow.mp4")] == ("pending", 0)  # not a failure: not counted


def test_ctrl_c_while_the_archive_opens_exits_130(tmp_path: Path) -> None:
    """Ctrl-C before a command's own work (a database slow to answer) printed click's
    "Aborted!" and exited 1, which a script reads as a failure."""
    with socket.socket() as silent:  # takes the connection, never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        config = write_settings(
            tmp_path / "a.toml",
            settings(tmp_path / "storage", f"postgresql+psycopg://postgres@127.0.0.1:{port}/test"),
        )
        for folder in ("media", "pages"):
            (tmp_path / "storage" / folder).mkdir(parents=True)
        search = subprocess.Popen(
            cli_command(config, "search"),
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_default_sigint,
        )
        silent.settimeout(60)
        waiting, _ = silent.accept()  # started, and waiting for the database
        search.send_signal(signal.SIGINT)
        _, stderr = search.communicate(timeout=30)
        waiting.close()
    assert search.returncode == 130, stderr
    assert stderr.strip() == "interrupted"


def _on_a_terminal(
    command: list[str], interrupt_on: re.Pattern[bytes] | None = None
) -> tuple[int, str]:
    """Run ``command`` with stdout and stderr on a pseudo-terminal: its exit code and
    what was written to the terminal (as bytes go, cursor controls and all). With
    ``interrupt_on``, Ctrl-C (SIGINT) once the output matches it."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        preexec_fn=_default_sigint,
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        shown += chunk
        if interrupt_on is not None and interrupt_on.search(shown):
            process.send_signal(signal.SIGINT)
            interrupt_on = None
    os.close(leader)
    return process.wait(timeout=60), shown.decode().replace("\r\n", "\n")


def _visible(shown: str) -> str:
    """What a terminal shows of ``shown``: a carriage return goes back to the start of
    the line, and ``ESC [ K`` clears the rest of it (a status line redrawn in place)."""
    lines = shown.split("\n")
    return "\n".join(line.rsplit("\r", 1)[-1].replace("\x1b[K", "") for line in lines)


def test_on_a_terminal_each_item_is_shown_as_it_ends_and_its_failure_said_once(
    config_file: Path, server: FixtureServer, media: MediaSet
) -> None:
    """The progress lines and the report say which item failed and why: the log line
    of that failure is left out, unless ``--log-level`` asks for the log."""
    server.add_file("/a.jpg", media.photo_a)
    server.add_status("/gone.mp4", 404)
    server.add_page("/live", "<article><p>Two:</p><img src='/a.jpg'><video src='/gone.mp4'>")
    code, shown = _on_a_terminal(cli_command(config_file, "capture", server.url("/live")))
    assert code == 1, shown
    shown = _visible(shown)
    progress = [line for line in shown.splitlines() if line.startswith("[")]
    assert sorted(line[:4] for line in progress) == ["[1] ", "[2] "]  # as each ends
    assert sorted(line[4:] for line in progress) == [
        f"gone     {server.url('/gone.mp4')}",
        f"stored   {server.url('/a.jpg')}",
    ]
    assert f"gone     -                {server.url('/gone.mp4')}  (HTTP 404" in shown
    assert "capture.failed" not in shown

    logged = cli_command(config_file, "--log-level", "warning", "capture", server.url("/live"))
    code, shown = _on_a_terminal(logged)
    assert code == 1 and "event=capture.failed" in shown and "status=gone" in shown


_DOT = "(?: · | - )"  # " - " where stderr takes no UTF-8
_STATUS = re.compile(rf"\r\x1b\[K *(\d+) done{_DOT}([\d.]+) (B|KiB|MiB) arriving{_DOT}(\d+):(\d\d)")
_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2}


def _status_lines(shown: str) -> list[tuple[int, float, int]]:
    """(items done, bytes arriving, seconds) of each status line drawn in ``shown``."""
    return [
        (int(done), float(size) * _UNITS[unit], int(minutes) * 60 + int(seconds))
        for done, size, unit, minutes, seconds in _STATUS.findall(shown)
    ]


def test_on_a_terminal_a_status_line_shows_the_bytes_arriving(
    config_file: Path, server: FixtureServer, tmp_path: Path
) -> None:
    """A capture showed nothing until an item ended: a 1 MB file trickling for 9 s left
    the terminal blank all that time. A status line under the item lines is redrawn in
    place with the bytes arriving; it is cleared before each item line, before the
    report and on Ctrl-C, and never drawn without a terminal or with --json."""
    slow = tmp_path / "slow.mp4"
    slow.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(1_000_000))
    server.add_file("/slow.mp4", slow, rate=330_000)  # 3 s to send it whole
    code, shown = _on_a_terminal(cli_command(config_file, "capture", server.url("/slow.mp4")))
    before, item, after = shown.partition("[1] ")
    assert item, shown
    drawn = _status_lines(before)
    assert len(drawn) >= 4, shown  # redrawn every half second or so
    assert {done for done, _, _ in drawn} == {0}
    arriving = [size for _, size, _ in drawn]
    assert max(arriving) >= 300_000, arriving
    assert any(a < b for a, b in itertools.pairwise(arriving)), arriving  # it grows
    assert drawn[-1][2] >= 2  # seconds taken
    assert before.endswith("\r\x1b[K")  # cleared before the item line
    assert "arriving" not in _visible(shown), shown  # and at the end, before the report
    assert _visible(after).splitlines()[0].endswith(server.url("/slow.mp4"))

    # Ctrl-C leaves no half line behind, and exits as it did
    server.add_file("/slower.mp4", slow, rate=100_000)
    interrupted = re.compile(rb"\d KiB arriving|MiB arriving")
    command = cli_command(config_file, "capture", server.url("/slower.mp4"))
    code, shown = _on_a_terminal(command, interrupt_on=interrupted)
    assert code == 130, shown
    assert _status_lines(shown), shown
    assert (
        _visible(shown).strip() == "interrupted: what was not finished stays queued for the daemon"
    )

    # no terminal (pipes), or --json: no status line, as before
    server.add_file("/quick.mp4", slow, rate=1_000_000)
    piped = run_cli(config_file, "capture", server.url("/quick.mp4"))
    assert "\x1b" not in piped.stderr and "arriving" not in piped.stderr, piped.stderr
    code, shown = _on_a_terminal(
        cli_command(config_file, "capture", server.url("/quick.mp4"), "--json")
    )
    assert "\x1b" not in shown and "arriving" not in shown, shown


def index_photos(config_file: Path, count: int) -> None:
    """``count`` one-byte photos in the index alone (what search reads), no files."""
    with Archive.open(load_config(config_file)) as archive, archive.session() as session:
        now = utcnow()
        for n in range(count):
            sha = f"{n:064x}"
            session.add(
                Media(
                    sha256=sha,
                    md5="0" * 32,
                    size_bytes=1,
                    mime_type="image/jpeg",
                    media_type="image",
                    path=f"media/{sha}/original.jpg",
                    first_captured_at=now,
                )
            )


def test_search_says_on_stderr_when_there_are_more_than_the_limit(config_file: Path) -> None:
    """A search cut at ``--limit`` (100 by default) looked like all there was: a note on
    stderr says there are more (stdout stays the table, or valid JSON)."""
    index_photos(config_file, 2)
    note = "(showing the first 1; --limit to see more)\n"
    cut = run_cli(config_file, "search", "--limit", "1", "--json")
    assert cut.returncode == 0 and cut.stderr == note
    assert len(json.loads(cut.stdout)) == 1
    table = run_cli(config_file, "search", "--limit", "1")
    assert table.stderr == note and len(table.stdout.splitlines()) == 2  # heading, a file
    for limit in ("2", "5"):  # all there is: no note
        whole = run_cli(config_file, "search", "--limit", limit, "--json")
        assert whole.stderr == "" and len(json.loads(whole.stdout)) == 2


def test_source_add_again_changes_only_what_is_given(config_file: Path) -> None:
    """Re-running ``source add URL`` to rename a source keeps its interval and kind."""
    url = "https://example.org/live/aleppo"

    def listed() -> dict[str, object]:
        (view,) = json.loads(run_cli(config_file, "source", "list", "--json").stdout)
        return {k: view[k] for k in ("every_seconds", "kind", "name")}

    assert (
        run_cli(config_file, "source", "add", url, "--every", "2m", "--kind", "page").returncode
        == 0
    )
    assert run_cli(config_file, "source", "add", url, "--name", "Aleppo live").returncode == 0
    assert listed() == {"every_seconds": 120, "kind": "page", "name": "Aleppo live"}
    assert run_cli(config_file, "source", "add", url, "--kind", "auto").returncode == 0
    assert listed() == {"every_seconds": 120, "kind": "auto", "name": "Aleppo live"}


@pytest.mark.parametrize("json_array", [False, True])
def test_a_reader_that_stops_reading_ends_the_command_quietly(
    config_file: Path, json_array: bool
) -> None:
    """``archiver search | head`` exited 1, a failure's code (for ``search``, "nothing
    found"): the reader going away ends it with 141, as shells report SIGPIPE. The
    JSON array is one long write, which unbuffered (PYTHONUNBUFFERED) was cut short
    without an error: ``search --json | head -1`` exited 0."""
    index_photos(config_file, 3000)
    child = subprocess.Popen(
        cli_command(config_file, "search", "--limit", "3000", *(["--json"] * json_array)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.readline()
    child.stdout.close()  # `head -1` has what it wanted
    assert child.wait(60) == 141
    assert child.stderr.read() == b""


#: What a page can hold that a terminal obeys: a colour, text hidden (ESC[8m), a
#: hyperlink (OSC 8, ended by BEL), and text shown backwards (U+202E)
_HOSTILE = "\x1b[31mred\x1b[0m \x1b[8mhidden \x1b]8;;https://evil.example/\x07link \u202eesrever"


def test_text_from_a_page_cannot_send_the_terminal_escape_sequences(
    config_file: Path, server: FixtureServer, media: MediaSet
) -> None:
    """An update label or a caption holding ESC or a bidirectional override reached an
    investigator's terminal raw through ``report``: the text output escapes controls
    as the logs do (``\\u001b``), and the JSON stays what the page said."""
    html_text = "".join(f"&#{ord(c)};" if ord(c) < 32 or ord(c) > 126 else c for c in _HOSTILE)
    server.add_file("/photo.jpg", media.photo_a)
    server.add_page(
        "/live",
        f"<article><h2>UPDATE 14:30 GMT {html_text}</h2><p>Shelling {html_text}:</p>"
        "<img src='/photo.jpg'></article>",
    )
    page = server.url("/live")
    assert run_cli(config_file, "capture", page).returncode == 0
    name = run_cli(config_file, "source", "add", page, "--name", f"Live {_HOSTILE}")
    assert name.returncode == 0, name.stderr

    as_json = run_cli(config_file, "report", page, "--json")
    (embed,) = json.loads(as_json.stdout)["embeds"]
    assert _HOSTILE in embed["update"] and _HOSTILE in embed["context"]  # as the page said
    for args in (["report", page], ["check"], ["search"], ["source", "list"], ["status"]):
        shown = run_cli(config_file, *args)
        assert shown.returncode == 0, shown.stderr
        said = shown.stdout + shown.stderr
        assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]", said), (args, said)
    shown = run_cli(config_file, "report", page).stdout
    assert shown.count("\\u001b[31mred\\u001b[0m \\u001b[8mhidden \\u001b]8;;") == 2, shown
    assert "\\u0007link \\u202eesrever" in shown
    assert "\\u001b[8mhidden" in run_cli(config_file, "source", "list").stdout


def test_a_stdout_that_is_not_utf8_gets_escapes_and_valid_json(
    config_file: Path, server: FixtureServer, media: MediaSet
) -> None:
    """In a Latin-1 locale an Arabic caption ended ``report``, ``capture --json`` and
    ``search --json`` in a UnicodeEncodeError traceback: text shows what the locale
    cannot as ``\\u`` escapes, and the JSON escapes it, staying the same JSON."""
    server.add_file("/photo.jpg", media.photo_a)
    server.add_page("/live", "<article><p>قصف على حلب:</p><img src='/photo.jpg'></article>")
    page = server.url("/live")

    def latin1(*args: str) -> subprocess.CompletedProcess[bytes]:
        env = {**os.environ, "PYTHONIOENCODING": "latin-1", "PYTHONUNBUFFERED": "1"}
        return subprocess.run(cli_command(config_file, *args), capture_output=True, env=env)

    captured = latin1("capture", page, "--json")
    assert captured.returncode == 0, captured.stderr
    assert json.loads(captured.stdout)["items"][0]["status"] == "stored"
    found = latin1("search", "--json")
    assert found.returncode == 0, found.stderr
    assert found.stdout.isascii()
    (record,) = json.loads(found.stdout)
    assert json.loads(run_cli(config_file, "search", "--json").stdout) == [record]
    assert record["sightings"][0]["context"] == "قصف على حلب:"
    for args in (["report", page], ["search"], ["report", page, "--json"]):
        shown = latin1(*args)
        assert (shown.returncode, shown.stderr) == (0, b""), (args, shown.stderr)
    assert "\\u0642\\u0635\\u0641" in latin1("report", page).stdout.decode("latin-1")


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["search", "--help"]])
def test_help_and_version_end_quietly_when_the_reader_is_gone(
    config_file: Path, args: list[str]
) -> None:
    """``archiver --help | head -0`` exited 1 while ``archiver search --help | head -0``
    exited 141: the top level's help and version are written before any command runs."""
    reader, writer = os.pipe()
    os.close(reader)  # gone before anything is written
    try:
        done = subprocess.run(
            cli_command(config_file, *args), stdout=writer, stderr=subprocess.PIPE, timeout=60
        )
    finally:
        os.close(writer)
    assert (done.returncode, done.stderr) == (141, b"")


def test_an_empty_archiver_config_is_refused(tmp_path: Path) -> None:
    """``ARCHIVER_CONFIG=`` (an environment file's line left empty) meant the built-in
    defaults, and made an archive in whatever folder the command ran in."""
    env = {**os.environ, "ARCHIVER_CONFIG": ""}
    command = [sys.executable, "-m", "archiver", "init"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "archiver: error: ARCHIVER_CONFIG is set but empty: name a config file, or unset it\n"
    )
    assert list(tmp_path.iterdir()) == []


#: A page with one good photo and embeds whose addresses can never be fetched, beside
#: addresses that are not embeds (a data: image, a mail link, an icon-sized image).
UNUSABLE_EMBEDS_PAGE = (
    "<article><p>Shelling reported:</p><img src='/photo.jpg'>"
    "<p>Footage:</p><video src='ftp://example.org/x.mp4'></video>"
    "<iframe src='https://127.0.0.1:99999/p' width='640' height='360'></iframe>"
    "<img src='/{long}.jpg' width='640' height='480'>"
    "<img src='data:image/png;base64,iVBORw0KGgo=' width='640' height='480'>"
    "<p><a href='mailto:desk@example.org'>Write to us</a></p>"
    "<img src='ftp://example.org/dot.gif' width='1' height='1'>"
    "</article>"
).format(long="a" * 3000)


def test_cli_capture_reports_embeds_that_can_never_be_fetched(
    config_file: Path, server: FixtureServer, media: MediaSet
) -> None:
    """They were dropped silently: the report said everything was archived (exit 0)."""
    server.add_file("/photo.jpg", media.photo_a)
    server.add_page("/blog", UNUSABLE_EMBEDS_PAGE)
    assert run_cli(config_file, "init").returncode == 0
    done = run_cli(config_file, "capture", server.url("/blog"), "--json")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    items = json.loads(done.stdout)["items"]
    assert [(i["status"], i["url"].rsplit("/", 1)[-1][:10]) for i in items] == [
        ("stored", "photo.jpg"),
        ("failed", "x.mp4"),
        ("failed", "p"),
        ("failed", "a" * 10),
    ]
    assert [i["reason"] for i in items[1:]] == [
        "unsupported URL: scheme 'ftp' (only http and https are fetched)",
        "unsupported URL: port 99999 is not a port",
        "unsupported URL: longer than 2,600 bytes",
    ]
    assert len(items[3]["url"]) == 300
    assert set(items[1]) == set(items[0])  # the same keys as any item
