"""Where things live under the storage root (documented in storage/README.md)."""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

SIDECAR = "provenance.json"


def _fan_out(base: Path, sha256: str) -> Path:
    return base / sha256[:2] / sha256[2:4] / sha256


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def media_root(self) -> Path:
        return self.root / "media"

    @property
    def pages_root(self) -> Path:
        return self.root / "pages"

    @property
    def tmp_root(self) -> Path:
        return self.root / "tmp"

    def media_dir(self, sha256: str) -> Path:
        return _fan_out(self.media_root, sha256)

    def page_dir(self, sha256: str) -> Path:
        return _fan_out(self.pages_root, sha256)

    def replaced_dir(self, sha256: str) -> Path:
        """Where sidecars rewritten from the index, and originals found damaged when
        their bytes came again, are kept as they were."""
        return _fan_out(self.root / "replaced", sha256)

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def absolute(self, relative: str) -> Path:
        return self.root / relative

    def process_tmp(self) -> Path:
        """This process's scratch directory; its name lets a restart find stale ones."""
        return self.tmp_root / f"{socket.gethostname()}-{os.getpid()}"

    def exists(self) -> bool:
        """Whether an archive was made here (`create` ran)."""
        return self.media_root.is_dir() and self.pages_root.is_dir()

    def create(self) -> None:
        for directory in (self.media_root, self.pages_root, self.tmp_root):
            directory.mkdir(parents=True, exist_ok=True)

    def remove_stale_tmp(self) -> list[Path]:
        """At start-up: delete scratch directories of processes on this host that no
        longer run (and this process's own, left by an earlier one with the same pid).

        Directories of other hosts (a shared object store) are left alone.
        """
        removed: list[Path] = []
        if not self.tmp_root.is_dir():
            return removed
        host = socket.gethostname()
        for entry in self.tmp_root.iterdir():
            owner_host, _, pid = entry.name.rpartition("-")
            if owner_host != host or not pid.isdecimal():
                continue
            if int(pid) == os.getpid() or not pid_alive(int(pid)):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
        return removed


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
