"""The fingerprint records archiver stores for each image and video."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

#: Held while a large picture or video is decoded: those take turns, so that workers
#: fingerprinting side by side stay within the service's memory limit.
LARGE_DECODE = threading.Lock()

#: Name and version of the fingerprint scheme; stored with every fingerprint. Bump it
#: whenever the hashes computed for the same file change, so old rows get recomputed.
ALGORITHM = "archiver-phash-pdq-v5"


@dataclass(frozen=True)
class ImageFingerprint:
    """An image's size and named hashes (unsigned ints).

    Keys: ``phash``/``phash_mirror`` (64-bit, imagehash's pHash of the picture inside
    any screenshot border and of its mirror image), ``pdq``/``pdq_mirror`` (256-bit PDQ
    of the same), ``pdq_c92``/``pdq_c92_mirror``/``phash_c92``/``phash_c92_mirror`` (the
    same of the picture's centred 92% window, which lines up with a copy cropped by
    about 8%) and ``pdq_quality`` (0..100: how much detail PDQ saw). When a border
    was trimmed, ``phash_full``, ``pdq_full`` and ``pdq_full_mirror`` hash the image as
    stored, border and all. ``gate`` and ``gate_w0``..``gate_w8`` are the crop-tolerant
    candidate hashes of `archiver.hashing.thumbnail`.

    ``thumbnail`` (8-bit grey, 64 px on the longer side, of the border-trimmed picture)
    is what a candidate match is verified with; None for fingerprints without one.
    """

    width: int
    height: int
    hashes: dict[str, int] = field(hash=False)
    thumbnail: npt.NDArray[np.uint8] | None = field(default=None, hash=False, compare=False)


@dataclass(frozen=True)
class FrameHash:
    """One sampled video frame: its time in seconds and four 64-bit pHashes.

    ``phash`` (the picture inside any letterbox bars), ``phash_c90`` (its centred 90%
    window, which lines up with a copy cropped by ~10%) and ``phash_mirror`` /
    ``phash_c90_mirror`` of the mirror image; all with the four corners blanked.
    """

    t: float
    hashes: dict[str, int] = field(hash=False)


@dataclass(frozen=True)
class VideoFingerprint:
    """A video's duration (seconds), display size and sampled frame hashes in time order.

    Frames too plain to identify anything (PDQ quality < 50: black, white, fades) are
    left out, so ``frames`` may be empty for a video that is all black or white.
    """

    duration: float
    width: int
    height: int
    frames: list[FrameHash] = field(hash=False)
