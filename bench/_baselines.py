"""The two baselines archiver's video matching is compared against.

(a) ``videohash`` (PyPI ``videohash`` 3.0.1, the "VideoHash" class): one 64-bit hash per
video. The package cannot run with Pillow >= 10 (it calls ``Image.ANTIALIAS``), so its
published method is reproduced step by step from its source (videohash.py,
framesextractor.py, collagemaker.py, tilemaker.py and imagedominantcolor 1.0.1):

1. ffmpeg ``cropdetect`` on 3 frames at each of the start times 2, 5, 10, 20, 40, 100,
   300, 600, 1200, 2400, 7200 and 14400 s; the most common ``crop=`` is applied;
2. ffmpeg extracts one frame per second, scaled to 144x144, as JPEG;
3. the frames are laid out in a collage of round(sqrt(n)) columns, 1024 px wide, on
   black (each frame thumbnailed with Lanczos), saved as JPEG and read back;
4. wavelet hash (``imagehash.whash``, 8x8, Haar) of the collage: 64 bits;
5. the frames side by side are cut into 8x8 tiles; each tile's dominant colour (over a
   16x16 Lanczos thumbnail: per pixel the strictly largest of r, g, b, else "l"; the
   tile is "l" if "l" is most common, else r/g/b if it leads the other two by 10% of
   the pixels, else "n") is compared with the pattern r*16, g*16, b*16, l*16;
6. hash bit i = whash bit i XOR (dominant colour of tile i == pattern[i]);
7. two videos are "similar" when the Hamming distance is <= ceil(15% of 64) = 10.

The tie between equally common pixel colours in step 5 is broken by first occurrence
(the package uses ``max(set(...), key=list.count)``, whose tie order depends on string
hashing).

(b) pHash (imagehash) of each video's middle frame; "similar" at distance <= 10.
"""

from __future__ import annotations

import math
import re
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

import av
import imagehash
import numpy as np
from _transforms import ffmpeg_exe  # type: ignore[import-not-found]
from PIL import Image

VIDEOHASH_MAX = math.ceil(15 / 100 * 64)  # 10
MIDFRAME_MAX = 10
_CROP_TIMES = (2, 5, 10, 20, 40, 100, 300, 600, 1200, 2400, 7200, 14400)
_PATTERN = ["r"] * 16 + ["g"] * 16 + ["b"] * 16 + ["l"] * 16


def _detect_crop(path: Path) -> list[str]:
    found: list[str] = []
    duration = _duration(path)
    for start in _CROP_TIMES:
        if start >= duration:  # ffmpeg would find no frame there: same result, less time
            continue
        cmd = [ffmpeg_exe(), "-hide_banner", "-ss", str(start), "-i", str(path)]
        cmd += ["-vframes", "3", "-vf", "cropdetect", "-f", "null", "-"]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        found += re.findall(r"crop=[0-9]{1,4}:[0-9]{1,4}:[0-9]{1,4}:[0-9]{1,4}", out.stderr)
    if not found:
        return []
    return ["-vf", Counter(found).most_common(1)[0][0]]


def _extract_frames(path: Path, directory: Path) -> list[Path]:
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(path)]
    cmd += [*_detect_crop(path), "-s", "144x144", "-r", "1"]
    cmd += [str(directory / "video_frame_%07d.jpeg")]
    subprocess.run(cmd, capture_output=True, check=False)
    return sorted(directory.glob("video_frame_*.jpeg"))


def _collage(frames: list[Path], out: Path, width: int = 1024) -> Image.Image:
    per_row = round(math.sqrt(len(frames)))
    with Image.open(frames[0]) as first:
        fw, fh = first.size
    scale = width / (per_row * fw)
    sw, sh = math.ceil(fw * scale), math.ceil(fh * scale)
    rows = math.ceil(len(frames) / per_row)
    collage = Image.new("RGB", (width, math.ceil(scale * fh * rows)))
    x = 0
    for count, frame_path in enumerate(frames):
        if count % per_row == 0:
            x = 0
        with Image.open(frame_path) as frame:
            frame.thumbnail((sw, sh), Image.Resampling.LANCZOS)
            collage.paste(frame, (x, (count // per_row) * sh))
        x += sw
    collage.save(out)
    return Image.open(out)


def _dominant_colour(tile: Image.Image) -> str:
    small = tile.resize((16, 16), Image.Resampling.LANCZOS).convert("RGBA")
    labels = []
    for r, g, b, _ in small.getdata():  # type: ignore[misc]
        if r > g and r > b:
            labels.append("r")
        elif g > b and g > r:
            labels.append("g")
        elif b > r and b > g:
            labels.append("b")
        else:
            labels.append("l")
    counts = Counter(labels)
    if counts.most_common(1)[0][0] == "l":
        return "l"
    mpd = int(len(labels) * 10 / 100)
    r, g, b = counts.get("r", 0), counts.get("g", 0), counts.get("b", 0)
    if r - mpd > g and r - mpd > b:
        return "r"
    if g - mpd > b and g - mpd > r:
        return "g"
    if b - mpd > r and b - mpd > g:
        return "b"
    return "n"


def _tiles(frames: list[Path]) -> list[Image.Image]:
    with Image.open(frames[0]) as first:
        w, h = first.size
    strip = Image.new("RGB", (w * len(frames), h))
    for i, path in enumerate(frames):
        with Image.open(path) as frame:
            strip.paste(frame, (i * w, 0))
    columns = rows = 8
    tile_w, tile_h = strip.width // columns, strip.height // rows
    tiles = []
    for y in range(0, strip.height - rows, tile_h):  # the package's loop bounds
        for x in range(0, strip.width - columns, tile_w):
            tiles.append(strip.crop((x, y, x + tile_w, y + tile_h)))
    return tiles


def videohash(path: Path) -> int | None:
    """The 64-bit videohash of a video, or None when ffmpeg extracts no frame."""
    with tempfile.TemporaryDirectory(prefix="videohash_") as tmp:
        directory = Path(tmp)
        frames = _extract_frames(path, directory)
        if not frames:
            return None
        collage = _collage(frames, directory / "collage.jpg")
        whash = imagehash.whash(collage).hash.astype(int).ravel().tolist()
        collage.close()
        colours = [_dominant_colour(t) for t in _tiles(frames)]
    bits = [w ^ int(c == p) for w, c, p in zip(whash, colours, _PATTERN, strict=True)]
    return int("".join(map(str, bits)), 2)


def _duration(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.duration is None or stream.time_base is None:
            return float("inf")
        return float(stream.duration * stream.time_base)


def middle_frame_phash(path: Path) -> int | None:
    """imagehash's pHash of the frame in the middle of the video."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        duration = float(stream.duration * stream.time_base) if stream.duration else 0.0
        target = duration / 2
        frame = None
        for candidate in container.decode(stream):
            frame = candidate
            if candidate.time is not None and candidate.time >= target:
                break
        if frame is None:
            return None
        image = frame.to_image()
    return int(str(imagehash.phash(image)), 16)


def hamming(a: int | None, b: int | None) -> int:
    if a is None or b is None:
        return 64
    return int(np.bitwise_count(np.uint64(a ^ b)))
