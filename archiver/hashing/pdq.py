"""PDQ (Meta's 256-bit perceptual hash) in numpy.

A port of the reference algorithm (luma, two Jarosz box-filter passes, decimation to
64x64, 16x16 DCT without the DC row/column, threshold at the median, gradient-based
quality score) so that archiver needs no compiled extension and can hash a batch of
video frames in a few matrix products. Bits follow the reference: bit ``k`` of the
returned integer is the reference's bit ``k``, so ``format(h, "064x")`` is the
reference's hex string.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

#: Frames and images whose PDQ quality is below this carry too little detail to match.
MIN_QUALITY = 50

_SIDE = 64
_DCT: FloatArray = (
    np.sqrt(2.0 / 64.0)
    * np.cos(
        np.pi / 2.0 / 64.0 * np.outer(np.arange(1, 17), 2 * np.arange(64) + 1),
    )
).astype(np.float32)


@functools.lru_cache(maxsize=1024)
def _operator(n: int) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """The reference's downsampling of one axis of length `n`, as 64 weighted sums.

    Two passes of the reference's box filter (a centred mean whose window shrinks at
    the edges) followed by picking 64 sample points are linear, so each output is a
    weighted sum of a few neighbouring inputs: ``(indices, weights)``, both ``64 x K``.
    Only those are computed, instead of filtering every pixel.
    """
    full = (n + 2 * _SIDE - 1) // (2 * _SIDE)
    half = (full + 2) // 2
    idx = np.arange(n)
    lo = np.maximum(idx - (full - half), 0)  # box window of output i: [lo[i], hi[i])
    hi = np.minimum(idx + half, n)
    picks = (((np.arange(_SIDE) + 0.5) * n) / _SIDE).astype(np.int64)
    # Second pass at each pick p averages first-pass outputs j in [lo[p], hi[p]); each of
    # those averages inputs [lo[j], hi[j]). Accumulate as a difference array per pick.
    offsets = np.arange(full)
    js = lo[picks][:, None] + offsets  # 64 x full (entries past hi[p] are masked out)
    valid = js < hi[picks][:, None]
    js = np.minimum(js, n - 1)
    share = valid / ((hi - lo)[picks][:, None] * (hi - lo)[js])
    diff = np.zeros((_SIDE, n + 1))
    rows_idx = np.broadcast_to(np.arange(_SIDE)[:, None], js.shape)
    np.add.at(diff, (rows_idx, lo[js]), share)
    np.add.at(diff, (rows_idx, hi[js]), -share)
    rows = np.cumsum(diff, axis=1)[:, :n]  # 64 x n, banded
    rows[np.abs(rows) < 1e-12] = 0.0
    width = int((rows > 0).sum(axis=1).max())
    first = np.clip(np.argmax(rows > 0, axis=1), 0, n - width)
    indices = first[:, None] + np.arange(width)
    weights = np.take_along_axis(rows, indices, axis=1).astype(np.float32)
    return indices, weights


def downsample64(luma: FloatArray) -> FloatArray:
    """Jarosz-filter (two box passes per axis) and decimate luma (``... x H x W``) to 64x64."""
    rows, cols = luma.shape[-2:]
    ri, rw = _operator(rows)
    ci, cw = _operator(cols)
    plane = np.asarray(luma, dtype=np.float32)
    tall = (plane[..., ri, :] * rw[:, :, None]).sum(axis=-2)  # ... x 64 x W
    out = (tall[..., ci] * cw).sum(axis=-1)  # ... x 64 x 64
    return np.asarray(out, dtype=np.float32)


def downsample64_mirrored(luma: FloatArray) -> tuple[FloatArray, FloatArray]:
    """`downsample64` of a 2-D luma plane and of its mirror image, sharing the row pass.

    Summed tap by tap (in the same order as `downsample64`, so the results are equal):
    no ``64 x K x W`` temporary.
    """
    rows, cols = luma.shape
    ri, rw = _operator(rows)
    ci, cw = _operator(cols)
    plane = np.asarray(luma, dtype=np.float32)
    tall = rw[:, 0, None] * plane[ri[:, 0]]  # 64 x W
    for k in range(1, ri.shape[1]):
        tall += rw[:, k, None] * plane[ri[:, k]]
    wide = np.ascontiguousarray(tall.T)  # W x 64: columns as rows
    flipped = cols - 1 - ci
    straight = cw[:, 0, None] * wide[ci[:, 0]]  # 64 (output columns) x 64 (rows)
    mirrored = cw[:, 0, None] * wide[flipped[:, 0]]
    for k in range(1, ci.shape[1]):
        straight += cw[:, k, None] * wide[ci[:, k]]
        mirrored += cw[:, k, None] * wide[flipped[:, k]]
    return np.ascontiguousarray(straight.T), np.ascontiguousarray(mirrored.T)


def quality(block: FloatArray) -> npt.NDArray[np.int64]:
    """Reference quality of 64x64 block(s) (``...x64x64``): 0..100, from summed gradients."""
    b = block.astype(np.float32)
    dv = np.trunc((b[..., :-1, :] - b[..., 1:, :]) * np.float32(100) / np.float32(255))
    dh = np.trunc((b[..., :, :-1] - b[..., :, 1:]) * np.float32(100) / np.float32(255))
    total = np.abs(dv).sum(axis=(-2, -1)) + np.abs(dh).sum(axis=(-2, -1))
    return np.asarray(np.minimum(total.astype(np.int64) // 90, 100), dtype=np.int64)


def hash_blocks(blocks: FloatArray) -> npt.NDArray[np.uint64]:
    """PDQ bits of 64x64 block(s) (``Nx64x64``) as ``Nx4`` uint64 words, least significant first."""
    dct = _DCT @ blocks.astype(np.float32) @ _DCT.T  # N x 16 x 16
    flat = dct.reshape(len(blocks), 256)
    median = np.partition(flat, 127, axis=1)[:, 127:128]  # the reference's lower median
    bits = (flat > median).reshape(len(blocks), 4, 64)
    # Bit k of word w is the (64 w + k)-th coefficient: little-endian bit and byte order.
    packed = np.packbits(bits, axis=2, bitorder="little")
    return np.ascontiguousarray(packed).view("<u8")[:, :, 0].astype(np.uint64)


def words_to_int(words: npt.NDArray[np.uint64]) -> int:
    """Four uint64 words (least significant first) as one 256-bit integer."""
    return sum(int(w) << (64 * i) for i, w in enumerate(words.tolist()))


def int_to_words(value: int, count: int = 4) -> list[int]:
    """A non-negative integer as `count` 64-bit words, least significant first."""
    return [(value >> (64 * i)) & 0xFFFF_FFFF_FFFF_FFFF for i in range(count)]
