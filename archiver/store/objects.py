"""Placing files in the content-addressed tree; an original is written once and never again."""

from __future__ import annotations

from pathlib import Path

from archiver.errors import storage_error
from archiver.store.atomic import locked_dir, make_dirs, publish, temp_file
from archiver.store.layout import Layout

ORIGINAL = "original"
PAGE_FILE = "page.html"


def find_original(layout: Layout, sha256: str) -> Path | None:
    """The stored original of these bytes: a file (a dead link is none)."""
    directory = layout.media_dir(sha256)
    if not directory.is_dir():
        return None
    return next((p for p in sorted(directory.glob(f"{ORIGINAL}.*")) if p.is_file()), None)


def place_original(layout: Layout, tmp: Path, sha256: str, extension: str) -> Path:
    """Move a verified temp file to ``media/ab/cd/<sha256>/original.<ext>``.

    Identical bytes already stored win: the new copy is discarded, so a file is
    never stored twice and an existing original is never touched. Placers of the same
    bytes take turns under the folder's lock: two captures at once, whose servers named
    bytes that cannot tell their type differently (``.wmv`` and ``.mp4``), both found
    no original and stored one each.
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
            tmp.unlink(missing_ok=True)
            return existing
        publish(tmp, final)
        return final


def place_extra(layout: Layout, sha256: str, source: Path, name: str) -> Path:
    """Keep a companion file (thumbnail, subtitles, platform info) beside an original."""
    final = layout.media_dir(sha256) / name
    publish(source, final)
    return final


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
