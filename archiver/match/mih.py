"""Multi-index hashing over 64-bit frame hashes: candidates without a full scan.

Each hash is cut into four 16-bit chunks; per chunk the entries are kept sorted, so
the entries sharing a chunk value with a query are one ``searchsorted`` away. Two
hashes within distance 3 always share a chunk; close pairs beyond that usually do, and
a video match rests on several frame pairs, so a matching video is found when any one
of its close frame pairs shares a chunk. Candidates are verified with the full
distance before anything is scored.

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

    def candidates(self, queries: npt.NDArray[np.uint64]) -> tuple[IntArray, IntArray]:
        """(query index, entry index) for every entry sharing a chunk with a query."""
        q_parts, e_parts = [], []
        for c in range(_CHUNKS):
            values = _chunk(queries, c)
            lo = np.searchsorted(self.sorted_chunks[c], values, side="left")
            hi = np.searchsorted(self.sorted_chunks[c], values, side="right")
            lengths = hi - lo
            total = int(lengths.sum())
            if total == 0:
                continue
            q_idx = np.repeat(np.arange(len(queries)), lengths)
            starts = np.repeat(lo - np.cumsum(lengths) + lengths, lengths)
            positions = starts + np.arange(total)
            q_parts.append(q_idx)
            e_parts.append(self.orders[c][positions].astype(np.int64))
        if not q_parts:
            empty = np.empty(0, np.int64)
            return empty, empty
        return np.concatenate(q_parts), np.concatenate(e_parts)


class FrameHashIndex:
    """Entries (64-bit hash, owner id) searchable for hashes within a distance."""

    def __init__(self) -> None:
        self._segments: list[_Segment] = []
        self._pending_hashes: list[npt.NDArray[np.uint64]] = []
        self._pending_owners: list[IntArray] = []

    def add(self, owner: int, hashes: Words) -> None:
        """Add hashes (any shape; flattened) owned by `owner`."""
        flat = np.ascontiguousarray(hashes, dtype=np.uint64).ravel()
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
    ) -> tuple[IntArray, IntArray]:
        """(query index, owner) of entries within `max_distance` that share a chunk."""
        self._flush(live)
        q_out, o_out = [], []
        for seg in self._segments:
            qi, ei = seg.candidates(queries)
            if len(qi) == 0:
                continue
            d = np.bitwise_count(seg.hashes[ei] ^ queries[qi])
            ok = (d <= max_distance) & live[seg.owners[ei]]
            q_out.append(qi[ok])
            o_out.append(seg.owners[ei[ok]])
        if not q_out:
            empty = np.empty(0, np.int64)
            return empty, empty
        return np.concatenate(q_out), np.concatenate(o_out)

    def __len__(self) -> int:
        return sum(len(s.hashes) for s in self._segments) + sum(
            len(h) for h in self._pending_hashes
        )
