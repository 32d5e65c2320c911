"""The configuration file and the CLI contract (exit codes, JSON shapes), run as a real process."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import FixtureServer, MediaSet
from support.archiving import run_cli

from archiver.config import load_config
from archiver.errors import ConfigError


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
        ("[network]\nallow_private = true\n", "network.allow_private: unknown key"),
        ("[download]\nconcurrency = 0\n", "download.concurrency: Input should be greater"),
        ("[network\n", "invalid TOML"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(write_config(tmp_path / "bad.toml", body))


def test_the_default_config_file_is_valid() -> None:
    config = load_config(Path(__file__).parent.parent / "config" / "archiver.toml")
    assert config.storage_root.name == "storage"
    assert not config.network.allow_private_addresses


def test_cli_capture_and_search_contract(
    config_file: Path, server: FixtureServer, media: MediaSet
) -> None:
    server.add_file("/photo.jpg", media.photo_a)
    server.add_status("/gone.jpg", 410)
    server.add_page(
        "/blog",
        "<article><p>UPDATE 1430 GMT: Shelling reported:</p><img src='/photo.jpg'></article>",
    )
    server.add_page(
        "/bad", "<article><p>Two:</p><img src='/photo.jpg'><img src='/gone.jpg'></article>"
    )

    assert run_cli(config_file, "init").returncode == 0
    ok = run_cli(config_file, "capture", server.url("/blog"), "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["items"][0]["status"] == "stored"

    partial = run_cli(config_file, "capture", server.url("/bad"))
    assert partial.returncode == 1
    assert "gone" in partial.stdout and "HTTP 410" in partial.stdout
    assert "Traceback" not in partial.stderr

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


@pytest.mark.parametrize(
    "args",
    [
        ["search", "--sha256", "abc"],
        ["search", "--since", "yesterday"],
        ["capture"],
        ["frobnicate"],
    ],
)
def test_cli_usage_errors_exit_2_with_one_line(config_file: Path, args: list[str]) -> None:
    result = run_cli(config_file, *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


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
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
