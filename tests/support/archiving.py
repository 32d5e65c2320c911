"""Archives for tests: configs that reach the local fixture servers, and the CLI as a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from archiver.config import Config, config_from_dict

FAST = {
    "network": {"allow_private_addresses": True, "read_timeout": 2, "connect_timeout": 2},
    "download": {"concurrency": 4},
    "polling": {"per_host_delay": 0, "jitter": 0},
    "daemon": {"tick": 0.2, "shutdown_grace": 3},
    "liveness": {"per_host_rate": 100},
    "web": {"enabled": False},  # tests that serve the web app pick a free port themselves
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
