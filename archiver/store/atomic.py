"""Durable, all-or-nothing file placement: nothing half-written is ever in place."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from archiver.errors import ArchiveUnavailable, storage_error


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


@functools.cache
def file_mode() -> int:
    """The mode a file the process creates gets (0o666 less the umask): what files
    placed in the archive are given, as ``open`` would. ``mkstemp`` makes them 0600,
    so the unit's ``UMask=0027`` did not let the ``archiver`` group read them."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no /proc: read it by setting it (once, at the first file)
    os.umask(mask)
    return 0o666 & ~mask


def _scratch(directory: Path, prefix: str, suffix: str) -> tuple[int, str]:
    """``mkstemp`` (a new file no other process can take), with the umask's mode."""
    fd, name = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=suffix)
    os.fchmod(fd, file_mode())
    return fd, name


@contextlib.contextmanager
def temp_file(directory: Path, suffix: str = "") -> Iterator[tuple[Path, BinaryIO]]:
    """A new file in ``directory`` that is removed unless the caller moved it away."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = _scratch(directory, "tmp", suffix + ".part")
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
    try:
        make_dirs(final.parent)  # its FileExistsError (a file or dead link in the way)
        with open(tmp, "rb") as f:  # is a failure, never "already stored"
            os.fsync(f.fileno())
    except OSError as exc:
        raise storage_error(exc, f"cannot store {final.name}") from None
    try:
        os.link(tmp, final)
    except FileExistsError:
        tmp.unlink(missing_ok=True)
        if not final.is_file():  # a dead link or a folder in its place: nothing stored
            raise ArchiveUnavailable(
                f"cannot store {final.name}: something else is in its place"
            ) from None
        return False
    except OSError as exc:
        raise storage_error(exc, f"cannot store {final.name}") from None
    tmp.unlink(missing_ok=True)
    fsync_dir(final.parent)
    return True


def write_atomic(path: Path, pieces: Iterable[bytes], *, tmp_dir: Path) -> None:
    """Replace ``path`` with ``pieces`` of bytes, written as they come, atomically
    (used for sidecars, never for originals).

    The temp file lives in ``tmp_dir`` (same filesystem), so a crash leaves no
    debris beside the evidence.
    """
    try:
        make_dirs(path.parent)
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = _scratch(tmp_dir, f"{path.name}.", ".part")
    except OSError as exc:
        raise storage_error(exc, f"cannot write {path.name}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.writelines(pieces)
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
