"""Hashes as packed uint64 words and vectorised Hamming distances.

A 64-bit hash is one word, a 256-bit PDQ four (least significant first). Distances use
numpy's popcount (``np.bitwise_count``) over XORed words.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Words = npt.NDArray[np.uint64]

#: Bytes of work per block of a distance matrix (bounds memory for long videos).
_BLOCK_BYTES = 32 << 20


def pack(values: Sequence[int], words: int) -> Words:
    """Integers of ``64 * words`` bits as an ``N x words`` uint64 array."""
    size = 8 * words
    raw = b"".join(v.to_bytes(size, "little") for v in values)
    return np.frombuffer(raw, dtype=np.uint64).reshape(len(values), words).copy()


def unpack(row: Words) -> int:
    """One packed row back to an integer."""
    return int.from_bytes(row.astype("<u8").tobytes(), "little")


def distances(a: Words, b: Words) -> npt.NDArray[np.uint16]:
    """All Hamming distances between the rows of `a` (``N x W``) and `b` (``M x W``)."""
    out = np.empty((len(a), len(b)), dtype=np.uint16)
    if a.shape[1] == 1:  # one word: no sum over words needed
        step = max(1, _BLOCK_BYTES // max(1, 8 * len(b)))
        for start in range(0, len(a), step):
            x = a[start : start + step, 0, None] ^ b[None, :, 0]
            out[start : start + step] = np.bitwise_count(x)
        return out
    step = max(1, _BLOCK_BYTES // max(1, 8 * a.shape[1] * len(b)))
    for start in range(0, len(a), step):
        x = a[start : start + step, None, :] ^ b[None, :, :]
        out[start : start + step] = np.bitwise_count(x).sum(axis=2, dtype=np.uint16)
    return out


def distances_to(rows: Words, query: Words) -> npt.NDArray[np.uint16]:
    """Hamming distance of every row of `rows` (``N x W``) to one `query` (``W``)."""
    return np.asarray(np.bitwise_count(rows ^ query).sum(axis=1), dtype=np.uint16)
