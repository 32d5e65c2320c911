"""SHA-256 and MD5 computed in the same pass as the bytes are written or read."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Digests:
    sha256: str
    md5: str
    size_bytes: int


class Hasher:
    """Feeds both digests at once so a file is read (or received) only one time."""

    def __init__(self) -> None:
        self._sha256 = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._sha256.update(chunk)
        self._md5.update(chunk)
        self.size += len(chunk)

    def digests(self) -> Digests:
        return Digests(self._sha256.hexdigest(), self._md5.hexdigest(), self.size)


def hash_file(path: Path) -> Digests:
    """Digests of a file, streamed in 1 MiB chunks."""
    hasher = Hasher()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            hasher.update(chunk)
    return hasher.digests()
