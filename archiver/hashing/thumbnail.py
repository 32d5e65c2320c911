"""A small grey thumbnail of a picture, and the crop-tolerant hashes taken from it.

Global hashes cannot line up a copy cropped off-centre (docs/matching.md); aligning
two thumbnails at compare time can. The thumbnail (`SIDE` pixels on the longer side,
8-bit grey) is stored with the fingerprint and read back only for the few candidates
to verify. Candidates are found with `gate_hashes`: a 64-bit DCT sign hash (pHash's
recipe, taken straight from the thumbnail) of the picture and of a 3x3 grid of
windows covering `GRID_SCALE` of each side, so a crop by 5-15% lands within a few
bits of one of the original's windows, whichever of the two arrives first.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt
from PIL import Image

#: Longer side of the stored thumbnail, pixels (64 x 48 = 3 KB for a 4:3 photo).
SIDE = 64
#: Share of each side the gate windows cover, and their offsets (share of the side)
#: from the centre: 3 x 3 windows.
GRID_SCALE = 0.9
GRID_OFFSETS = (-0.03, 0.0, 0.03)
#: Hash names: the whole picture, then the windows row by row.
GATE_NAMES = ("gate", *(f"gate_w{i}" for i in range(len(GRID_OFFSETS) ** 2)))

Thumbnail = npt.NDArray[np.uint8]


def make_thumbnail(grey: npt.NDArray[np.uint8]) -> Thumbnail:
    """A grey picture reduced to `SIDE` pixels on its longer side (area average)."""
    height, width = grey.shape
    scale = SIDE / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = Image.fromarray(np.ascontiguousarray(grey, dtype=np.uint8), "L")
    return np.asarray(image.resize(size, Image.Resampling.BOX), np.uint8)


@functools.lru_cache(maxsize=256)
def _dct8(n: int) -> npt.NDArray[np.float64]:
    """The 8 lowest DCT-II rows over `n` samples."""
    return np.cos(np.pi * np.outer(np.arange(8), 2 * np.arange(n) + 1) / (2 * n))


def _dct_bits(grey: npt.NDArray[np.float64]) -> npt.NDArray[np.uint64]:
    """pHash's bits (8x8 lowest DCT frequencies above their median) of each of a stack
    of grey arrays (``N x H x W``), first coefficient as the most significant bit."""
    low = _dct8(grey.shape[-2]) @ grey @ _dct8(grey.shape[-1]).T  # N x 8 x 8
    flat = low.reshape(len(grey), 64)
    bits = flat > np.median(flat, axis=1, keepdims=True)
    return np.packbits(bits, axis=1).view(">u8")[:, 0].astype(np.uint64)


def dct_hash(grey: npt.NDArray[np.float64]) -> int:
    """pHash's bits (8x8 lowest DCT frequencies above their median) of a grey array."""
    return int(_dct_bits(np.asarray(grey, np.float64)[None])[0])


def gate_hashes(thumb: Thumbnail) -> list[int]:
    """`dct_hash` of the whole thumbnail and of each grid window (`GATE_NAMES` order)."""
    grey = thumb.astype(np.float64)
    height, width = grey.shape
    h, w = max(8, round(height * GRID_SCALE)), max(8, round(width * GRID_SCALE))
    windows = []
    for oy in GRID_OFFSETS:
        for ox in GRID_OFFSETS:
            top = min(max(round((height - h) / 2 + oy * height), 0), max(height - h, 0))
            left = min(max(round((width - w) / 2 + ox * width), 0), max(width - w, 0))
            windows.append(grey[top : top + h, left : left + w])
    # A thumbnail narrower than 8 px has windows of the whole (clipped) picture.
    hashes = [dct_hash(grey)]
    if all(win.shape == windows[0].shape for win in windows):
        hashes += [int(v) for v in _dct_bits(np.stack(windows))]
    else:
        hashes += [dct_hash(win) for win in windows]
    return hashes


def to_pixels(thumb: Thumbnail) -> tuple[int, bytes]:
    """(width, row-major pixels): how a thumbnail is stored (``fingerprints.thumbnail``)."""
    return int(thumb.shape[1]), np.ascontiguousarray(thumb, np.uint8).tobytes()


def from_pixels(width: int, pixels: bytes) -> Thumbnail:
    """The inverse of `to_pixels`; raises ValueError when the bytes are not a whole picture."""
    if width <= 0 or not pixels or len(pixels) % width:
        raise ValueError("thumbnail size does not match its pixels")
    return np.frombuffer(pixels, dtype=np.uint8).reshape(-1, width).copy()
