"""A filesystem that fills up: a tmpfs of a chosen size, mounted for a run of commands.

The mount lives in a private mount namespace (``unshare --user --map-root-user
--mount``), so no privileges are needed and nothing outside sees it; it vanishes when
the last command ends. Commands run one after another inside it, and a step may
first grow the disk (the archivist freeing space) or make it read-only, so a test can
show what a full disk does and that the archive recovers once there is room.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Step:
    argv: list[str]
    remount: str | None = None  # remount the disk with these options first ("size=64m", "ro")


@dataclass(frozen=True)
class Ran:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


def on_small_disk(mount: Path, size: str, steps: list[Step], scratch: Path) -> list[Ran]:
    """Run ``steps`` with a ``size`` tmpfs at ``mount``; their output goes to ``scratch``."""
    unshare = shutil.which("unshare")
    if unshare is None:
        raise RuntimeError("util-linux's unshare is needed to make a small disk")
    mount.mkdir(parents=True, exist_ok=True)
    scratch.mkdir(parents=True, exist_ok=True)
    lines = ["set -u", f"mount -t tmpfs -o size={size} small {shlex.quote(str(mount))} || exit 97"]
    for n, step in enumerate(steps):
        if step.remount:
            lines.append(f"mount -o remount,{step.remount} {shlex.quote(str(mount))} || exit 98")
        out, err, code = (
            shlex.quote(str(scratch / f"{n}.{kind}")) for kind in ("out", "err", "rc")
        )
        lines.append(f"{shlex.join(step.argv)} >{out} 2>{err}; echo $? >{code}")
    done = subprocess.run(
        [unshare, "--user", "--map-root-user", "--mount", "bash", "-c", "\n".join(lines)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"could not make a small disk (exit {done.returncode}): {done.stderr}")
    return [
        Ran(
            step.argv,
            int((scratch / f"{n}.rc").read_text()),
            (scratch / f"{n}.out").read_text(),
            (scratch / f"{n}.err").read_text(),
        )
        for n, step in enumerate(steps)
    ]
