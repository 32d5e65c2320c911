""" "Have we seen this?": near-duplicates of a file an investigator holds, or of a pHash."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from archiver.archive import Archive
from archiver.errors import HashingError
from archiver.index.models import Media
from archiver.search import MediaRecord, QueryError, records
from archiver.store.digest import hash_file
from archiver.store.mediatypes import head_of, identify

PHASH_BITS = 64
_PHASH_HEX = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True)
class SimilarQuery:
    path: Path
    min_similarity: float | None = None  # None: the decision rules
    limit: int = 100


def similar_to_file(archive: Archive, query: SimilarQuery) -> list[MediaRecord]:
    """The archived copy of a local file, when its very bytes are archived (similarity
    1.0, whatever its kind or length), then the archived near-duplicates of an image
    or video, best first."""
    if not query.path.is_file():
        raise QueryError(f"no such file: {query.path}")
    if query.min_similarity is not None and not 0 <= query.min_similarity <= 1:
        raise QueryError("min-similarity: takes a number from 0 to 1")
    exact = _archived_copy(archive, query.path)
    try:
        found = _near_duplicates(archive, query)
    except (QueryError, HashingError):
        if exact is None:
            raise
        found = []  # an audio file, or one too broken to fingerprint, that is archived
    scores = {key: similarity for key, similarity, _ in found}
    methods = {key: method for key, _, method in found}
    keys = [key for key, _, _ in found]
    if exact is not None:  # the very bytes: told apart from a copy that scores 1.0 too
        keys = [exact, *(key for key in keys if key != exact)]
        scores[exact], methods[exact] = 1.0, "exact"
    with archive.read_session() as session:
        return records(session, archive.layout, keys[: query.limit], scores, methods)


def _archived_copy(archive: Archive, path: Path) -> int | None:
    """The media id of the file with these bytes, if archived."""
    sha256 = hash_file(path).sha256
    with archive.read_session() as session:
        found: int | None = session.scalar(select(Media.id).where(Media.sha256 == sha256))
        return found


def _near_duplicates(archive: Archive, query: SimilarQuery) -> list[tuple[int, float, str]]:
    """(media id, similarity, rule) of the archived files that match the file's
    fingerprint."""
    identity = identify(head_of(query.path), None, query.path.name)
    if identity is None:
        raise QueryError(f"not an image or video: {query.path}")
    from archiver.hashing import fingerprint  # numpy, PyAV, Pillow: only for this query

    fp = fingerprint(query.path, identity.media_type)
    found = archive.duplicates.query(fp, query.min_similarity)[: query.limit]
    return [(key, match.similarity, match.method) for key, match in found]


def parse_phash(value: str) -> int:
    """imagehash's 16 hex characters (``0x`` before them allowed) as a number; no sign
    or ``_`` (which Python's ``int`` takes, reading ``-1234…`` as another hash)."""
    text = value.strip().lower().removeprefix("0x")
    if not _PHASH_HEX.fullmatch(text):
        raise QueryError(f"phash: takes 16 hex characters, got {value!r}")
    return int(text, 16)


def similar_to_phash(
    archive: Archive, phash: int, max_distance: int, limit: int = 100
) -> list[MediaRecord]:
    """Archived images whose pHash is within ``max_distance`` bits, nearest first.

    ``similarity`` is ``1 - distance / 64``.
    """
    if not 0 <= max_distance <= PHASH_BITS:
        raise QueryError("max-distance: takes 0 to 64")
    found = archive.duplicates.query_phash(phash, max_distance)[:limit]
    with archive.read_session() as session:
        return records(
            session,
            archive.layout,
            [k for k, _ in found],
            {k: 1 - d / PHASH_BITS for k, d in found},
        )


__all__ = ["SimilarQuery", "parse_phash", "similar_to_file", "similar_to_phash"]
