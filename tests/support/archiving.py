"""Archives for tests: configs that reach the local fixture servers, and the CLI as a process."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from archiver.archive import Archive
from archiver.config import Config, config_from_dict
from archiver.index.models import utcnow
from archiver.index.records import upsert_media
from archiver.store.objects import place_original

FAST = {
    "network": {"allow_private_addresses": True, "read_timeout": 2, "connect_timeout": 2},
    "download": {"concurrency": 4},
    "polling": {"per_host_delay": 0, "jitter": 0},
    "daemon": {"tick": 0.2, "shutdown_grace": 3},
    "liveness": {"per_host_rate": 100},
    "web": {"enabled": False},  # tests that serve the web app pick a free port themselves
    "fixity": {"enabled": False},  # a daemon's first turn a minute of ticks after its start
}


def settings(root: Path, db_url: str = "", **sections: dict[str, Any]) -> dict[str, Any]:
    """Config data for an archive at ``root``: fast and allowed to reach 127.0.0.1."""
    data: dict[str, Any] = {"storage": {"root": str(root)}, "database": {"url": db_url}}
    for name, values in FAST.items():
        data[name] = {**values, **sections.get(name, {})}
    for name, values in sections.items():
        data.setdefault(name, values)
    return data


def make_config(root: Path, db_url: str = "", **network: object) -> Config:
    return config_from_dict(settings(root, db_url, network=dict(network)))


def write_config(path: Path, data: dict[str, Any]) -> Path:
    """Write config data as TOML (only the shapes archiver's config uses)."""
    lines: list[str] = []
    for name, values in data.items():
        if isinstance(values, list):
            for entry in values:
                lines.append(f"[[{name}]]")
                lines += [f"{k} = {json.dumps(v)}" for k, v in entry.items()]
            continue
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def cli_command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "archiver", "--config", str(config), *args]


def run_cli(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_command(config, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def start_daemon(config: Path, *args: str, log: Path) -> subprocess.Popen[bytes]:
    """``archiver run`` as a real background process, logging to ``log``."""
    with log.open("ab") as sink:
        return subprocess.Popen(
            cli_command(config, "--log-level", "info", "run", *args),
            stdout=sink,
            stderr=sink,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def store_as_earlier_versions_did(
    archive: Archive, body: bytes, mime_type: str, extension: str = "bin"
) -> str:
    """Put ``body`` in the archive indexed under ``mime_type`` as it is given, the way
    a capture by an earlier version stored a server's Content-Type (today's capture
    refuses lists, XML-based types and markup). Returns its SHA-256."""
    sha256 = hashlib.sha256(body).hexdigest()
    tmp = archive.layout.process_tmp()
    tmp.mkdir(parents=True, exist_ok=True)
    part = tmp / f"{sha256}.part"
    part.write_bytes(body)
    path = place_original(archive.layout, part, sha256, extension)
    with archive.session() as session:
        upsert_media(
            session,
            sha256=sha256,
            md5=hashlib.md5(body).hexdigest(),
            size_bytes=len(body),
            mime_type=mime_type,
            media_type=mime_type.split("/", 1)[0],
            path=archive.layout.relative(path),
            at=utcnow(),
            platform=None,
        )
    return sha256
