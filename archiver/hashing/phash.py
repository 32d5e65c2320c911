"""pHash (64-bit) of grey pictures, bit-compatible with imagehash's ``phash``.

imagehash resizes to 32x32 (Lanczos), takes the DCT's 8x8 lowest frequencies and sets
a bit where a coefficient is above their median, first coefficient as the most
significant bit. Computing it here lets a batch of video frames share one matrix
product; `search --phash HEX` takes the same hex strings imagehash prints.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt
from PIL import Image

_N = 32
# DCT-II rows for the 8 lowest frequencies (scale does not matter: only signs vs median).
_DCT8 = np.cos(np.pi * np.outer(np.arange(8), 2 * np.arange(_N) + 1) / (2 * _N))
_WEIGHTS = np.array([1 << (63 - k) for k in range(64)], dtype=np.uint64)


def resize32(grey: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
    """A grey picture scaled to 32x32 the way imagehash does it."""
    image = Image.fromarray(np.ascontiguousarray(grey))
    return np.asarray(image.resize((_N, _N), Image.Resampling.LANCZOS), dtype=np.float64)


def phash_batch(small: npt.NDArray[np.float64]) -> npt.NDArray[np.uint64]:
    """pHash of each 32x32 picture in ``N x 32 x 32`` as uint64."""
    low = _DCT8 @ small @ _DCT8.T  # N x 8 x 8
    flat = low.reshape(len(small), 64)
    bits = flat > np.median(flat, axis=1, keepdims=True)
    return np.asarray(np.bitwise_or.reduce(bits.astype(np.uint64) * _WEIGHTS, axis=1), np.uint64)


def phash(grey: npt.NDArray[np.uint8]) -> int:
    """pHash of one grey picture as an int (imagehash's hex string read as a number)."""
    return int(phash_batch(resize32(grey)[None])[0])


def _lanczos(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Pillow's Lanczos kernel (support 3)."""
    return np.asarray(np.where((x >= -3) & (x < 3), np.sinc(x) * np.sinc(x / 3), 0.0))


@functools.lru_cache(maxsize=1024)
def _projection(n: int) -> npt.NDArray[np.float32]:
    """pHash's 8 lowest DCT rows after Pillow's Lanczos resize of `n` samples to 32,
    as one ``8 x n`` matrix (Pillow's coefficients, without its 8-bit rounding)."""
    scale = n / _N
    support = 3.0 * max(scale, 1.0)
    resize = np.zeros((_N, n))
    for i in range(_N):
        centre = (i + 0.5) * scale
        lo = max(int(centre - support + 0.5), 0)
        hi = min(int(centre + support + 0.5), n)
        offsets = (np.arange(lo, hi, dtype=np.float64) - centre + 0.5) / max(scale, 1.0)
        taps = _lanczos(offsets)
        if taps.sum() != 0:
            taps = taps / taps.sum()
        resize[i, lo:hi] = taps
    return np.asarray(_DCT8 @ resize, np.float32)


def phash_mirrored(luma: npt.NDArray[np.float32]) -> tuple[int, int]:
    """pHash of a grey picture (float ``H x W``) and of its mirror image.

    The 32x32 Lanczos resize and the DCT are linear, so both collapse into an ``8 x H``
    and an ``8 x W`` matrix: a few small products instead of resampling every pixel.
    The resize is computed in floating point rather than Pillow's 8-bit steps, so a
    coefficient next to the median may land on the other side of it: imagehash run on
    the same picture differs by a bit at most, typically by none.
    """
    rows, cols = luma.shape
    # einsum rather than `@`: a product this size would wake OpenBLAS's thread pool,
    # whose threads then spin on the same core when hashing is pinned to one.
    tall = np.einsum("ij,jk->ik", _projection(rows), np.asarray(luma, np.float32))  # 8 x W
    across = _projection(cols)
    low = np.stack([tall @ across.T, tall @ across[:, ::-1].T]).astype(np.float64)
    flat = low.reshape(2, 64)
    bits = flat > np.median(flat, axis=1, keepdims=True)
    words = np.bitwise_or.reduce(bits.astype(np.uint64) * _WEIGHTS, axis=1)
    return int(words[0]), int(words[1])
