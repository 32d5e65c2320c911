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
whole TIFF page chain for it, quadratically). A GIF's frame sizes are read before Pillow
opens it or seeks (`_gif_canvases`), and its frames after the first, which Pillow
composites in RGB, only on canvases up to `MAX_GIF_COMPOSITE_PIXELS`. Frames are turned
grey a strip at a time, never as whole RGB(A) copies, and pictures over
`LARGE_DECODE_PIXELS` are decoded one at a time. Hashes are taken from a copy of at
most `WORK_SIDE` pixels, which is all a 64x64 (PDQ) or 32x32 (pHash) summary needs.

Pillow's failures on bad input (any of `_PILLOW_FAILURES` from opening, seeking,
decoding or converting) become ``unreadable image: ...``; errors in the code here are
not caught.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
from PIL import Image
from PIL.JpegImagePlugin import JpegImageFile

from archiver.errors import HashingError

from . import pdq, thumbnail
from .borders import content_box
from .model import LARGE_DECODE, ImageFingerprint
from .phash import phash_mirrored

#: Images narrower or shorter than this (tracking pixels, icons) are not hashed.
MIN_SIDE = 32
#: Pixels decoded at most (after JPEG draft scaling): about 120 MB as RGB.
MAX_DECODE_PIXELS = 40_000_000
#: The longer side of the working copy the hashes are computed from.
WORK_SIDE = 512
#: Animated images: the first frame with enough detail among this many.
MAX_ANIMATION_FRAMES = 5
#: Pillow composites a GIF's frames after the first in RGB(A), with a copy of the frame
#: before, a disposal fill and conversions: about 16 bytes per canvas pixel at once
#: (640 MB for 6000x6000, 250 MB at this size). Those frames are looked at only on
#: canvases up to this size (4000x3000); a larger GIF is hashed by its first frame.
MAX_GIF_COMPOSITE_PIXELS = 12_000_000
#: Decoding a picture larger than this can take 5 to 17 bytes a pixel at once (Pillow
#: decodes WebP through libwebp's animation decoder, which copies its RGBA canvas: a
#: 36-megapixel WebP peaks at 620 MB). Such decodes take turns, one at a time in a
#: process, so that the download workers hashing side by side stay within the
#: service's memory limit. JPEGs are decoded scaled down and rarely come near it.
LARGE_DECODE_PIXELS = 12_000_000
#: Frames are turned grey this many pixels (whole rows) at a time, so that their RGBA
#: copies (three at 4 bytes a pixel to put transparency on white) stay small.
STRIP_PIXELS = 1 << 20
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
                canvases = _gif_canvases(path, MAX_ANIMATION_FRAMES)
                if canvases and canvases[0][0] * canvases[0][1] > MAX_DECODE_PIXELS:
                    raise HashingError(
                        f"image too large to hash ({canvases[0][0]}x{canvases[0][1]})"
                    )
                image = Image.open(path)
            with image:
                return _fingerprint(image, canvases)
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


def _fingerprint(
    image: Image.Image, gif_canvases: list[tuple[int, int]] | None
) -> ImageFingerprint:
    """`gif_canvases`: for a GIF, the canvas of each frame `_gif_canvases` found."""
    width, height = image.size
    if min(width, height) < MIN_SIDE:
        raise HashingError(f"image too small to hash ({width}x{height})")
    if width * height > MAX_DECODE_PIXELS and not isinstance(image, JpegImageFile):
        # checked before the EXIF is read: a PNG's may follow its pixels, and Pillow
        # decodes them all to reach it (12000x12000: 600 MB for a 420 KB file)
        raise HashingError(f"image too large to hash ({width}x{height})")
    with _pillow():
        orientation = image.getexif().get(_ORIENTATION, 1)
    if orientation in (5, 6, 7, 8):  # the camera was held sideways
        width, height = height, width
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
    large = image.size[0] * image.size[1] > LARGE_DECODE_PIXELS
    with LARGE_DECODE if large else nullcontext():
        return _first_detailed(image, gif_canvases, width, height, orientation)


def _first_detailed(
    image: Image.Image,
    gif_canvases: list[tuple[int, int]] | None,
    width: int,
    height: int,
    orientation: int,
) -> ImageFingerprint:
    """The fingerprint of the first frame with enough detail (or of the first frame)."""
    first: ImageFingerprint | None = None
    for index in range(MAX_ANIMATION_FRAMES):
        if index and gif_canvases is not None:
            if index >= len(gif_canvases):
                break
            canvas_width, canvas_height = gif_canvases[index]
            if canvas_width * canvas_height > MAX_DECODE_PIXELS:
                size = f"{canvas_width}x{canvas_height}"
                raise HashingError(f"image too large to hash (frame {index + 1} is {size})")
            if canvas_width * canvas_height > MAX_GIF_COMPOSITE_PIXELS:
                break
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
    if (image.mode.startswith("I") or image.mode == "F") and not _has_alpha(image):
        grey = _wide_grey(image)
    else:
        grey = _grey(image)
    factor = round(max(grey.size) / WORK_SIDE)
    if factor >= 2:
        grey = grey.reduce(factor)
    return grey


def _has_alpha(image: Image.Image) -> bool:
    """Whether the picture has transparency, which is put on white."""
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


def _grey(image: Image.Image) -> Image.Image:
    """The loaded frame as 8-bit grey on white, converted a strip of rows at a time.

    Every conversion works pixel by pixel, so the strips make the same picture as the
    whole frame would, while the frame's RGB(A) copies (4 bytes a pixel each) are never
    made whole: a 40-megapixel GIF with transparency took 550 MB converted at once.
    """
    rows = max(1, STRIP_PIXELS // max(1, image.width))
    if image.height <= rows:
        return _grey_strip(image)
    out = Image.new("L", image.size)
    for top in range(0, image.height, rows):
        box = (0, top, image.width, min(image.height, top + rows))
        out.paste(_grey_strip(image.crop(box)), box)
    return out


def _grey_strip(image: Image.Image) -> Image.Image:
    """8-bit grey of a picture; transparency is put on white."""
    if _has_alpha(image):
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("L")
    if image.mode in ("L", "RGB"):
        return image.convert("L")
    return image.convert("RGB").convert("L")


def _gif_canvases(path: Path, frames: int) -> list[tuple[int, int]] | None:
    """The canvas of each of a GIF's first `frames` frames; None for other files.

    Pillow grows a GIF's canvas to hold a frame that reaches past it, and allocates the
    fill for a frame's "restore" disposal, while it seeks to the frame: before any pixel
    limit can be checked on the result (a 272-byte GIF whose second frame claimed
    13000x13000 took 700 MB). So the frame descriptors are read here first, block by
    block as Pillow reads them (stray bytes skipped, extensions ended where Pillow ends
    them), so that both see the same frames. The list ends with the file's frames.
    """
    with path.open("rb") as file:
        head = file.read(13)
        if len(head) < 13 or head[:6] not in (b"GIF87a", b"GIF89a"):
            return None
        width, height = struct.unpack_from("<HH", head, 6)
        if head[10] & 0x80:
            file.read(3 << ((head[10] & 7) + 1))  # global colour table
        canvases: list[tuple[int, int]] = []
        while len(canvases) < frames:
            block = file.read(1)
            if block in (b"", b";"):
                break
            if block == b"!":
                label = file.read(1)
                if not label:
                    break
                _skip_extension(file, label[0], first_frame=not canvases)
            elif block == b",":
                descriptor = file.read(9)
                if len(descriptor) < 9:
                    break
                left, top, frame_width, frame_height = struct.unpack_from("<4H", descriptor)
                width, height = max(width, left + frame_width), max(height, top + frame_height)
                canvases.append((width, height))
                if len(canvases) == frames:
                    break
                if descriptor[8] & 0x80:
                    file.read(3 << ((descriptor[8] & 7) + 1))  # local colour table
                file.read(1)  # LZW minimum code size
                while _gif_data(file):  # the image data
                    pass
    return canvases


def _skip_extension(file: BinaryIO, label: int, *, first_frame: bool) -> None:
    """Read past an extension's data as Pillow's GIF plugin does.

    A comment ends at its terminator; another extension ends after its first sub-block
    (two for a NETSCAPE2.0 block before the first frame) and the run that follows up to
    a terminator, which is one run more than the format has when that first sub-block
    is empty.
    """
    block = _gif_data(file)
    if label == 0xFE:
        while block:
            block = _gif_data(file)
        return
    if label == 0xFF and first_frame and block is not None and block.startswith(b"NETSCAPE2.0"):
        _gif_data(file)
    while _gif_data(file):
        pass


def _gif_data(file: BinaryIO) -> bytes | None:
    """One data sub-block; None at a terminator (as Pillow's ``GifImageFile.data``)."""
    size = file.read(1)
    if size and size[0]:
        return file.read(size[0])
    return None


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
