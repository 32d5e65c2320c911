"""Placing files in the content-addressed tree; an original is written once and never again."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from archiver.errors import storage_error
from archiver.store.atomic import fsync_dir, locked_dir, make_dirs, publish, temp_file
from archiver.store.digest import hash_file
from archiver.store.layout import SIDECAR, Layout

ORIGINAL = "original"
PAGE_FILE = "page.html"


def find_original(layout: Layout, sha256: str) -> Path | None:
    """The stored original of these bytes: a file, not a symbolic link (dead or not:
    whatever it points at, the archive does not hold those bytes)."""
    directory = layout.media_dir(sha256)
    if not directory.is_dir():
        return None
    return next((p for p in _originals(directory) if p.is_file() and not p.is_symlink()), None)


def _originals(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"{ORIGINAL}.*"))


@dataclass(frozen=True)
class Damaged:
    """A stored original whose bytes are not the ones its name says, met when the same
    bytes were downloaded again: kept under ``replaced/`` as it was."""

    path: Path  # the original's place, where the fresh copy goes
    kept: Path  # where the damaged bytes are kept
    sha256: str | None  # what they hash to; None: they could not be read
    size_bytes: int


def place_original(
    layout: Layout,
    tmp: Path,
    sha256: str,
    extension: str,
    on_damaged: Callable[[Damaged], None] | None = None,
) -> Path:
    """Move a verified temp file to ``media/ab/cd/<sha256>/original.<ext>``.

    Identical bytes already stored win: the new copy is discarded, so a file is
    never stored twice and an existing original is never touched. Placers of the same
    bytes take turns under the folder's lock: two captures at once, whose servers named
    bytes that cannot tell their type differently (``.wmv`` and ``.mp4``), both found
    no original and stored one each. A symbolic link where the original belongs is
    not one: the new copy, verified, takes the link's place (and name, which the
    index may know it by). Nor is a stored copy whose bytes are no longer these
    (bit rot, tampering): it is kept under ``replaced/``, ``on_damaged`` is told
    (before anything is replaced), and the new copy takes its place; the existing one
    is read again for this, a second download of the same bytes being the one chance
    to repair the archive from its source.
    """
    directory = layout.media_dir(sha256)
    final = directory / f"{ORIGINAL}.{extension}"
    try:
        make_dirs(directory)
    except OSError as exc:
        raise storage_error(exc, f"cannot store {final.name}") from None
    with locked_dir(directory):
        existing = find_original(layout, sha256)
        if existing is not None:
            damaged = _damaged(layout, existing, sha256)
            if damaged is None:
                tmp.unlink(missing_ok=True)
                return existing
            if on_damaged is not None:
                on_damaged(damaged)
            return _in_place_of(tmp, existing)
        links = [p for p in _originals(directory) if p.is_symlink()]
        if links:
            return _in_place_of(tmp, links[0])
        publish(tmp, final)
        return final


def _damaged(layout: Layout, original: Path, sha256: str) -> Damaged | None:
    """None when ``original`` holds the bytes named ``sha256``; else it is kept under
    ``replaced/`` (a second name for the same bytes: nothing is copied)."""
    try:
        digests = hash_file(original)
        found: str | None = digests.sha256
        size = digests.size_bytes
    except OSError:  # unreadable (an I/O error): damaged too
        found, size = None, original.stat().st_size
    if found == sha256:
        return None
    kept = replaced_name(layout, sha256, ORIGINAL, original.suffix)
    try:
        os.link(original, kept)
        fsync_dir(kept.parent)
    except OSError as exc:
        raise storage_error(exc, f"cannot keep the damaged {original.name}") from None
    return Damaged(original, kept, found, size)


def replaced_name(layout: Layout, sha256: str, stem: str, suffix: str) -> Path:
    """A free ``replaced/ab/cd/<sha256>/<stem>.<UTC time>[.n]<suffix>``, its folder made."""
    directory = layout.replaced_dir(sha256)
    make_dirs(directory)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate = directory / f"{stem}.{stamp}{suffix}"
    n = 1
    while candidate.exists() or candidate.is_symlink():
        n += 1
        candidate = directory / f"{stem}.{stamp}.{n}{suffix}"
    return candidate


def _in_place_of(tmp: Path, stale: Path) -> Path:
    """Put a verified copy where a symbolic link or damaged bytes stand: neither is
    the evidence, and the copy is (renaming over a link replaces the link, never what
    it points at)."""
    try:
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, stale)
        fsync_dir(stale.parent)
    except OSError as exc:
        raise storage_error(exc, f"cannot store {stale.name}") from None
    return stale


def place_companions(layout: Layout, sha256: str, companions: list[tuple[Path, str]]) -> None:
    """Keep companion files (thumbnail, subtitles, platform info), each a temp file and
    the name it takes, beside the original of ``sha256``: before it is placed, so an
    original in place always has its companions (each is fsynced, its folder entry
    too). One already there is kept as it is: evidence is never rewritten. Done under
    the folder's lock, which `remove_unplaced_companions` takes too."""
    if not companions:
        return
    directory = layout.media_dir(sha256)
    try:
        make_dirs(directory)
    except OSError as exc:
        raise storage_error(exc, f"cannot store {companions[0][1]}") from None
    with locked_dir(directory):
        for source, name in companions:
            if not (directory / name).exists():
                publish(source, directory / name)


def remove_unplaced_companions(
    layout: Layout, sha256: str, names: list[str], claimed: Callable[[], set[str]]
) -> list[str]:
    """Remove the companions ``names`` a placement left beside no original of
    ``sha256`` (a crash, or a failure, between placing them and the original), which
    nothing indexed explains: `verify` would report them. Those ``claimed`` names
    (asked under the folder's lock: what the index records, the sidecar lists, or
    another placement still to be settled intends) stay, and all of them do when a
    whole original is in place. The names removed.

    The folder itself stays: a placer of the same bytes may have made it and be
    waiting for its lock."""
    directory = layout.media_dir(sha256)
    if not directory.is_dir():
        return []
    removed: list[str] = []
    with locked_dir(directory):
        original = find_original(layout, sha256)
        if original is not None and hash_file(original).sha256 == sha256:
            return removed
        kept = claimed()
        for name in names:
            file = directory / name
            if name in kept or not _companion_name(name) or not _plain_file(file):
                continue
            try:
                file.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise storage_error(exc, f"cannot remove {name}") from None
            removed.append(name)
        if removed:
            fsync_dir(directory)
    return removed


def _companion_name(name: str) -> bool:
    """A name a companion can have: a plain file name, neither an original's nor the
    sidecar's."""
    return (
        name not in ("", ".", "..", SIDECAR)
        and "/" not in name
        and not name.startswith(f"{ORIGINAL}.")
    )


def _plain_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def place_page(layout: Layout, body: bytes, sha256: str, tmp_dir: Path) -> Path:
    """Store a page version's raw bytes (their SHA-256 is ``sha256``, known to the
    caller beforehand) under ``pages/ab/cd/<sha256>/page.html``."""
    final = layout.page_dir(sha256) / PAGE_FILE
    if not final.exists():
        try:
            with temp_file(tmp_dir) as (tmp, sink):
                sink.write(body)
                sink.flush()
                publish(tmp, final)
        except OSError as exc:  # a full disk is the archive's fault, not the page's
            raise storage_error(exc, "cannot store the page") from None
    return final
