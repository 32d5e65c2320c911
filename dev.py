#!/usr/bin/env python3
"""Set up and run archiver from a fresh clone: ``python3 dev.py run`` or ``python3 dev.py test``.

Needs only Python 3.11+ and pip. Creates ``.venv`` with the project and its test
tools, then runs the daemon on ``config/archiver.toml`` or the whole test suite.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".installed"


def sh(*args: str | Path, check: bool = True, **kwargs: object) -> int:
    print("+", " ".join(str(a) for a in args), flush=True)
    return subprocess.run([str(a) for a in args], check=check, **kwargs).returncode  # type: ignore[call-overload]


def ensure_venv(extras: str) -> None:
    """Create .venv and install the project, again only when pyproject.toml changed
    (or when the test tools are wanted and were not installed yet)."""
    if not _usable_venv():
        # none yet, or one cut short (Ctrl-C, no ensurepip): made again from scratch
        shutil.rmtree(VENV, ignore_errors=True)
        venv.create(VENV, with_pip=True)
    project = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    installed = STAMP.read_text().split(":") if STAMP.exists() else []
    if installed[:1] == [project] and (not extras or extras in installed[1:]):
        return
    sh(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    sh(
        BIN / "python",
        "-m",
        "pip",
        "install",
        "--quiet",
        "-e",
        f"{ROOT}[{extras}]" if extras else ROOT,
    )
    STAMP.write_text(":".join([project, extras]) if extras else project)


def _usable_venv() -> bool:
    """.venv was created to the end: venv writes bin/python first and pip last."""
    python = BIN / "python"
    if not python.exists():
        return False
    return subprocess.run([python, "-c", "import pip"], stderr=subprocess.DEVNULL).returncode == 0


def ensure_postgresql() -> None:
    """Tests need the local PostgreSQL (127.0.0.1:5432, database ``test``): start it if stopped."""
    import socket

    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
        return
    except OSError:
        pass
    clusters = Path("/etc/postgresql")
    if shutil.which("pg_ctlcluster") and clusters.is_dir():
        for version in sorted(p.name for p in clusters.iterdir()):
            sh("pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start", check=False)


def ensure_debian_packages() -> None:
    """What tests need from Debian: Chromium and ChromeDriver (the web tests drive
    them) and libfaketime (a daemon's clock set back); installed if missing."""
    wanted = {
        "chromium": Path("/usr/bin/chromium").exists(),
        "chromium-driver": Path("/usr/bin/chromedriver").exists(),
        "libfaketime": any(Path("/usr/lib").glob("*/faketime/libfaketime.so.1")),
    }
    missing = [package for package, present in wanted.items() if not present]
    if not missing:
        return
    if shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        sh("apt-get", "update", "-q", env=env)
        sh("apt-get", "install", "-y", "-q", *missing, env=env)
        return
    sys.exit(
        f"the tests need Debian's {', '.join(missing)}: "
        f"apt-get install {' '.join(missing)} (as root)"
    )


def run() -> int:
    ensure_venv("")
    config = os.environ.get("ARCHIVER_CONFIG") or str(ROOT / "config" / "archiver.toml")
    command = [str(BIN / "archiver"), "--config", config, "--log-level", "info", "run"]
    print("+", " ".join([*command, *sys.argv[2:]]), flush=True)
    daemon = subprocess.Popen([*command, *sys.argv[2:]])
    # Ctrl-C reaches the daemon from the terminal, and it shuts down in its own order
    # (in-flight downloads get their grace period): this process only waits for it.
    # A SIGTERM sent here is passed on.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, _frame: daemon.send_signal(signum))
    return daemon.wait()


def test() -> int:
    ensure_venv("test")
    ensure_postgresql()
    ensure_debian_packages()
    for step in (
        [BIN / "ruff", "check", "archiver", "tests", "bench", "dev.py"],
        [BIN / "ruff", "format", "--check", "archiver", "tests", "bench", "dev.py"],
        [BIN / "mypy"],
    ):
        if sh(*step, check=False, cwd=ROOT) != 0:
            return 1
    # worksteal: a worker left idle takes tests queued for the other, so the slow tests
    # that land last do not leave one core idle at the end
    return sh(
        BIN / "pytest", "-n", "2", "--dist", "worksteal", *sys.argv[2:], check=False, cwd=ROOT
    )


def main() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 (this file may run on an older Python)
        sys.exit("archiver needs Python 3.11 or newer")
    commands = {"run": run, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit("usage: python3 dev.py run [ARGS...] | python3 dev.py test [PYTEST ARGS...]")
    sys.exit(commands[sys.argv[1]]())


if __name__ == "__main__":
    main()
