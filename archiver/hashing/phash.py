"""pHash (64-bit) of grey pictures, bit-compatible with imagehash's ``phash``.

imagehash resizes to 32x32 (Lanczos), takes the DCT's 8x8 lowest frequencies and sets
a bit where a coefficient is above their median, first coefficient as the most
significant bit. Computing it here lets a batch of video frames share one matrix
product; `search --phash HEX` takes the same hex strings imagehash prints.
"""

from __future__ import annotations

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
