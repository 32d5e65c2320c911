"""Durable, all-or-nothing file placement: nothing half-written is ever in place."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from archiver.errors import storage_error


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path) -> None:
    """``mkdir -p`` whose new directories survive a power cut: each new one's entry in
    its parent is fsynced (POSIX does not promise that without it)."""
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    path.mkdir(parents=True, exist_ok=True)
    for directory in reversed(missing):
        fsync_dir(directory.parent)


@contextlib.contextmanager
def locked_dir(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on a directory, against other threads and processes.

    ``flock`` locks belong to an open file description, so two threads of one process
    exclude each other as two processes do; the kernel drops the lock if the holder
    dies. Writers of the same sidecar take turns with it.
    """
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def temp_file(directory: Path, suffix: str = "") -> Iterator[tuple[Path, BinaryIO]]:
    """A new file in ``directory`` that is removed unless the caller moved it away."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, suffix=suffix + ".part")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            yield path, f
    finally:
        path.unlink(missing_ok=True)


def publish(tmp: Path, final: Path) -> bool:
    """Move a complete temp file to ``final`` unless a file is already there.

    Returns True when ``tmp`` became ``final``; False when ``final`` already
    existed (same content address), in which case ``tmp`` is discarded. Uses
    link + unlink so an existing file is never replaced, even by a racing daemon.
    """
    make_dirs(final.parent)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    try:
        os.link(tmp, final)
    except FileExistsError:
        tmp.unlink(missing_ok=True)
        return False
    except OSError as exc:
        raise storage_error(exc, f"cannot store {final.name}") from None
    tmp.unlink(missing_ok=True)
    fsync_dir(final.parent)
    return True


def write_atomic(path: Path, data: bytes, *, tmp_dir: Path) -> None:
    """Replace ``path`` with ``data`` atomically (used for sidecars, never for originals).

    The temp file lives in ``tmp_dir`` (same filesystem), so a crash leaves no
    debris beside the evidence.
    """
    make_dirs(path.parent)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=tmp_dir, prefix=f"{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(name, path)
    except OSError as exc:
        Path(name).unlink(missing_ok=True)
        raise storage_error(exc, f"cannot write {path.name}") from None
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
