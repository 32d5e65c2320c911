"""Multi-index hashing over 64-bit frame hashes: candidates without a full scan.

Each hash is cut into four 16-bit chunks; per chunk the entries are kept sorted, so
the entries sharing a chunk value with a query are one ``searchsorted`` away. Two
hashes within distance 3 always share a chunk; close pairs beyond that usually do, and
a video match rests on several frame pairs, so a matching video is found when any one
of its close frame pairs shares a chunk. Candidates are verified with the full
distance before anything is scored.

Only which owners have a close frame is asked for, so repeated hashes are kept once:
an owner's identical frames are one entry, identical query hashes one query. A long
still video (an hour of one logo) is then a handful of entries, not thousands whose
every pair with a like query would be a candidate. Candidate pairs are made at most
`_BATCH` at a time, so a chunk value shared by many entries costs time, not memory.

Entries arrive in segments (one per batch of additions) that are merged once there are
too many, so adding a video costs a sort of the new frames, not of the whole index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .bits import Words

_CHUNKS = 4
_MAX_SEGMENTS = 8
_BATCH = 1 << 20  # candidate pairs made at a time
IntArray = npt.NDArray[np.int64]


def _chunk(values: npt.NDArray[np.uint64], c: int) -> npt.NDArray[np.uint16]:
    return ((values >> np.uint64(16 * c)) & np.uint64(0xFFFF)).astype(np.uint16)


@dataclass
class _Segment:
    """Immutable sorted chunk tables over a block of entries."""

    hashes: npt.NDArray[np.uint64]  # M
    owners: IntArray  # M
    sorted_chunks: list[npt.NDArray[np.uint16]]
    orders: list[npt.NDArray[np.int32]]

    @classmethod
    def build(cls, hashes: npt.NDArray[np.uint64], owners: IntArray) -> _Segment:
        chunks = [_chunk(hashes, c) for c in range(_CHUNKS)]
        orders = [np.argsort(ch, kind="stable").astype(np.int32) for ch in chunks]
        return cls(hashes, owners, [ch[o] for ch, o in zip(chunks, orders, strict=True)], orders)

    def owners_within(self, queries: npt.NDArray[np.uint64], max_distance: int) -> IntArray:
        """Owners of entries within `max_distance` of a query, sharing a chunk with it."""
        found = []
        for c in range(_CHUNKS):
            values = _chunk(queries, c)
            lo = np.searchsorted(self.sorted_chunks[c], values, side="left")
            lengths = np.searchsorted(self.sorted_chunks[c], values, side="right") - lo
            ends = np.cumsum(lengths)
            total = int(ends[-1]) if len(ends) else 0
            for first in range(0, total, _BATCH):
                # pair k is query q's (k - its first pair)-th entry sharing chunk c
                pair = np.arange(first, min(first + _BATCH, total))
                q = np.searchsorted(ends, pair, side="right")
                entries = self.orders[c][lo[q] + pair - (ends[q] - lengths[q])]
                close = np.bitwise_count(self.hashes[entries] ^ queries[q]) <= max_distance
                found.append(np.unique(self.owners[entries[close]]))
        return np.unique(np.concatenate(found)) if found else np.empty(0, np.int64)


class FrameHashIndex:
    """Entries (64-bit hash, owner id) searchable for hashes within a distance."""

    def __init__(self) -> None:
        self._segments: list[_Segment] = []
        self._pending_hashes: list[npt.NDArray[np.uint64]] = []
        self._pending_owners: list[IntArray] = []

    def add(self, owner: int, hashes: Words) -> None:
        """Add hashes (any shape; flattened, each distinct one once) owned by `owner`."""
        flat = np.unique(np.ascontiguousarray(hashes, dtype=np.uint64).ravel())
        self._pending_hashes.append(flat)
        self._pending_owners.append(np.full(len(flat), owner, np.int64))

    def _flush(self, live: npt.NDArray[np.bool_]) -> None:
        if self._pending_hashes:
            hashes = np.concatenate(self._pending_hashes)
            owners = np.concatenate(self._pending_owners)
            self._pending_hashes, self._pending_owners = [], []
            if len(hashes):
                self._segments.append(_Segment.build(hashes, owners))
        if len(self._segments) > _MAX_SEGMENTS:
            self.compact(live)

    def compact(self, live: npt.NDArray[np.bool_]) -> None:
        """Merge all segments into one, dropping entries whose owner is no longer live."""
        if not self._segments:
            return
        hashes = np.concatenate([s.hashes for s in self._segments])
        owners = np.concatenate([s.owners for s in self._segments])
        keep = live[owners]
        self._segments = [_Segment.build(hashes[keep], owners[keep])] if keep.any() else []

    def search(
        self, queries: npt.NDArray[np.uint64], max_distance: int, live: npt.NDArray[np.bool_]
    ) -> IntArray:
        """Live owners with an entry within `max_distance` of a query (sharing a chunk)."""
        self._flush(live)
        distinct = np.unique(queries)
        found = [seg.owners_within(distinct, max_distance) for seg in self._segments]
        owners = np.unique(np.concatenate(found)) if found else np.empty(0, np.int64)
        return owners[live[owners]]

    def __len__(self) -> int:
        return sum(len(s.hashes) for s in self._segments) + sum(
            len(h) for h in self._pending_hashes
        )
