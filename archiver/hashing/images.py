"""Image fingerprints: pHash and PDQ of the border-trimmed picture, of its centred 92%
window, and of the mirror images of both; a 64 px grey thumbnail of the picture and the
crop-tolerant gate hashes taken from it (see `thumbnail`).

Memory stays bounded for huge files: JPEGs are decoded at 1/2..1/8 scale straight from
the DCT (Pillow's draft mode), anything still over `MAX_DECODE_PIXELS` is refused, and
Pillow's own decompression-bomb guard stays on. The pixel limit holds for every frame
of an animation or multi-page file (checked after each seek, before decoding), and
progressive JPEGs over it are refused at full size: libjpeg keeps all their DCT
coefficients whatever the draft scale. At most `MAX_ANIMATION_FRAMES` frames are looked
at, found by seeking one at a time (the frame count is never asked for: Pillow walks a
whole TIFF page chain for it, quadratically). Hashes are taken from a copy of at most
`WORK_SIDE` pixels, which is all a 64x64 (PDQ) or 32x32 (pHash) summary needs.

Pillow's failures on bad input (any of `_PILLOW_FAILURES` from opening, seeking,
decoding or converting) become ``unreadable image: ...``; errors in the code here are
not caught.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from archiver.errors import HashingError

from . import pdq, thumbnail
from .borders import content_box
from .model import ImageFingerprint
from .phash import phash_mirrored

#: Images narrower or shorter than this (tracking pixels, icons) are not hashed.
MIN_SIDE = 32
#: Pixels decoded at most (after JPEG draft scaling): about 120 MB as RGB.
MAX_DECODE_PIXELS = 40_000_000
#: The longer side of the working copy the hashes are computed from.
WORK_SIDE = 512
#: Animated images: the first frame with enough detail among this many.
MAX_ANIMATION_FRAMES = 5
#: Share of the picture (each side) in the centred window also hashed (`*_c92`): a copy
#: cropped by about 8% lines up with it (and a crop of the copy with its full picture).
WINDOW = 0.92
#: A row or column of a still is border when this share of its pixels is within this
#: many grey levels of its median: a synthetic border, not a sky or a wall.
FLAT_SOLID = (0.98, 6)

#: What Pillow raises on malformed files besides `OSError` and `SyntaxError` (its
#: "not an image" error): plugins index, unpack and look up header fields unchecked.
_PILLOW_FAILURES = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    NotImplementedError,
    RuntimeError,
    TypeError,
    KeyError,
    IndexError,
    ZeroDivisionError,
    struct.error,
)


def fingerprint_image(path: Path) -> ImageFingerprint:
    """Fingerprint an image file; raises `HashingError` with a one-line reason."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with _pillow():
                image = Image.open(path)
            with image:
                return _fingerprint(image)
    except MemoryError:
        raise HashingError("image too large to hash (out of memory)") from None


@contextmanager
def _pillow() -> Iterator[None]:
    """Around calls into Pillow: its failures on bad input as `HashingError`."""
    try:
        yield
    except Image.DecompressionBombError:
        raise HashingError("image too large to hash (decompression bomb guard)") from None
    except _PILLOW_FAILURES as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise HashingError(f"unreadable image: {reason}") from None


_ORIENTATION = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _fingerprint(image: Image.Image) -> ImageFingerprint:
    width, height = image.size
    with _pillow():
        orientation = image.getexif().get(_ORIENTATION, 1)
    if orientation in (5, 6, 7, 8):  # the camera was held sideways
        width, height = height, width
    if min(width, height) < MIN_SIDE:
        raise HashingError(f"image too small to hash ({width}x{height})")
    if width * height > MAX_DECODE_PIXELS and (
        image.info.get("progressive") or image.info.get("progression")
    ):
        raise HashingError(f"progressive JPEG too large to hash ({width}x{height})")
    # JPEG only: decode at 1/2..1/8 scale, keeping the longer side >= WORK_SIDE, and
    # only the luma channel of a colour JPEG (no chroma upsampling, no colour conversion).
    scale = WORK_SIDE / max(image.size)
    with _pillow():
        image.draft(
            "L", (max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale)))
        )
    if image.size[0] * image.size[1] > MAX_DECODE_PIXELS:
        raise HashingError(f"image too large to hash ({width}x{height})")
    first: ImageFingerprint | None = None
    for index in range(MAX_ANIMATION_FRAMES):
        if index:
            with _pillow():
                try:
                    image.seek(index)
                except EOFError:  # the frame before was the last
                    break
            if image.size[0] * image.size[1] > MAX_DECODE_PIXELS:
                frame_width, frame_height = image.size
                raise HashingError(
                    f"image too large to hash (frame {index + 1} is {frame_width}x{frame_height})"
                )
        hashes, thumb = hash_picture(_working_copy(image, _TRANSPOSE.get(orientation)))
        found = ImageFingerprint(width, height, hashes, thumb)
        if hashes["pdq_quality"] >= pdq.MIN_QUALITY:
            return found
        first = first or found
    assert first is not None
    return first


def _working_copy(image: Image.Image, transpose: Image.Transpose | None) -> npt.NDArray[np.uint8]:
    """The current frame as upright grey on white, reduced to about `WORK_SIDE`.

    Grey is luma as ITU-R 601 weighs it (Pillow's "L"; what a JPEG stores as Y);
    wider grey is scaled to 8 bits (`_wide_grey`).
    """
    with _pillow():
        image.load()
        grey = _reduced_grey(image)
        if transpose is not None:
            grey = grey.transpose(transpose)
        return np.asarray(grey, dtype=np.uint8)


def _reduced_grey(image: Image.Image) -> Image.Image:
    """The loaded current frame as 8-bit grey on white, reduced to about `WORK_SIDE`."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        grey = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("L")
    elif image.mode in ("L", "RGB"):
        grey = image.convert("L")
    elif image.mode.startswith("I") or image.mode == "F":
        grey = _wide_grey(image)
    else:
        grey = image.convert("RGB").convert("L")
    factor = round(max(grey.size) / WORK_SIDE)
    if factor >= 2:
        grey = grey.reduce(factor)
    return grey


def _wide_grey(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit or float grey as 8-bit grey.

    Pillow's ``convert("L")`` clips such values at 255, so a 16-bit scan or PNG would
    hash as plain white. Values up to 255 are kept as they are, larger ones are taken
    as 16-bit (divided by 257) and floats up to 1.0 as fractions of white.
    """
    wide = image.convert("I") if image.mode.startswith("I;16") else image
    factor = round(max(wide.size) / WORK_SIDE)
    if factor >= 2:
        wide = wide.reduce(factor)
    values = np.asarray(wide, dtype=np.float64)
    top = float(values.max(initial=0.0))
    if image.mode == "F" and top <= 1.0:
        values = values * 255
    elif top > 255:
        values = values / 257
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), "L")


def hash_rgb(rgb: npt.NDArray[np.uint8]) -> dict[str, int]:
    """The named hashes of an ``H x W x 3`` picture (see `ImageFingerprint`)."""
    return hash_picture(rgb)[0]


def hash_picture(picture: npt.NDArray[np.uint8]) -> tuple[dict[str, int], thumbnail.Thumbnail]:
    """The named hashes of a grey ``H x W`` (or RGB ``H x W x 3``) picture and its thumbnail."""
    if picture.ndim == 3:
        picture = np.asarray(Image.fromarray(np.ascontiguousarray(picture), "RGB").convert("L"))
    grey = np.ascontiguousarray(picture, dtype=np.uint8)
    top, bottom, left, right = content_box(grey[None], solid=FLAT_SOLID, bands=True)
    inner = grey[top:bottom, left:right]
    window = inner[_centre(*inner.shape)]
    hashes, blocks = _hash_pairs(((inner, ""), (window, "_c92")))
    hashes["pdq_quality"] = int(pdq.quality(blocks[0]))
    if inner.shape != grey.shape:  # trimmed: keep the picture as stored too
        full = _hash_pairs(((grey, "_full"),))[0]
        del full["phash_full_mirror"]
        hashes.update(full)
    thumb = thumbnail.make_thumbnail(inner)
    hashes.update(zip(thumbnail.GATE_NAMES, thumbnail.gate_hashes(thumb), strict=True))
    return hashes, thumb


def _centre(height: int, width: int) -> tuple[slice, slice]:
    """The centred `WINDOW` share of a ``height x width`` picture."""
    dy, dx = round(height * (1 - WINDOW) / 2), round(width * (1 - WINDOW) / 2)
    return slice(dy, height - dy), slice(dx, width - dx)


def _hash_pairs(
    pictures: tuple[tuple[npt.NDArray[np.uint8], str], ...],
) -> tuple[dict[str, int], npt.NDArray[np.float32]]:
    """pHash and PDQ of each grey picture and of its mirror image, named by suffix, and
    the PDQ blocks (straight and mirrored of each, in order)."""
    out: dict[str, int] = {}
    blocks: list[npt.NDArray[np.float32]] = []
    for grey, suffix in pictures:
        luma = grey.astype(np.float32)
        blocks += pdq.downsample64_mirrored(luma)
        out[f"phash{suffix}"], out[f"phash{suffix}_mirror"] = phash_mirrored(luma)
    stacked = np.stack(blocks)
    words = pdq.hash_blocks(stacked)
    for i, (_, suffix) in enumerate(pictures):
        out[f"pdq{suffix}"] = pdq.words_to_int(words[2 * i])
        out[f"pdq{suffix}_mirror"] = pdq.words_to_int(words[2 * i + 1])
    return out, stacked
