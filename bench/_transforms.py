"""Near-duplicate evaluation material: distinct clips and photos, and re-upload transforms.

Everything is made from real photographs shipped with scikit-image and encoded with the
ffmpeg binary bundled by imageio-ffmpeg. A *clip* is a virtual camera moving over a
photograph (pan, zoom, diagonal drift or handheld wobble). Distinct clips include hard
negatives "filmed in the same style": the same motion over different photographs, and
the same motion over different, non-overlapping regions of one large photograph.

The video transforms are what re-uploading channels do (re-encode at a low bitrate,
downscale to 240p, crop 10% and add a logo, trim to the middle half, letterbox, mirror,
brightness/contrast/noise); the photo transforms are what reposting does (JPEG quality
30, resize to 40%, crop 8%, watermark banner, white border with a caption, mirror).
"""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import skimage.data
from PIL import Image, ImageDraw, ImageFont

if TYPE_CHECKING:
    from archiver.hashing import VideoFingerprint

FPS = 25
SIZE = (640, 360)

Region = tuple[float, float, float, float]  # left, top, right, bottom as fractions
FULL: Region = (0.0, 0.0, 1.0, 1.0)


def ffmpeg_exe() -> str:
    """The ffmpeg binary shipped by imageio-ffmpeg."""
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def run_ffmpeg(args: list[str], stdin: Iterator[bytes] | None = None) -> None:
    """Run ffmpeg quietly (one encoder thread: reproducible, fair on a shared machine)."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args]
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    if proc.stdin is not None:
        try:
            for chunk in stdin or ():
                proc.stdin.write(chunk)
        except BrokenPipeError:
            pass
        finally:
            proc.stdin.close()
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.wait() != 0:
        raise RuntimeError(f"ffmpeg failed: {err.strip()}")


#: Faces of scikit-image's LFW subset (25 x 25 px) are scaled up this many times.
FACE_SCALE = 10


@functools.cache
def photograph(name: str) -> Image.Image:
    """A scikit-image photograph as RGB.

    ``lfw_subset:N`` is the N-th picture of the LFW subset (the first 100 are faces),
    scaled up `FACE_SCALE` times; ``stereo_motorcycle`` is the left view of the pair.
    """
    base, _, index = name.partition(":")
    data = getattr(skimage.data, base)()
    if base == "stereo_motorcycle":
        data = data[0]
    array = np.asarray(data[int(index)] if index else data)
    if array.dtype.kind in "bf":  # masks (horse) and floats 0..1 (phantom, faces)
        array = np.rint(array.astype(np.float64) * 255).astype(np.uint8)
    if base == "lfw_subset":  # 25 x 25
        face = Image.fromarray(array)
        side = face.size[0] * FACE_SCALE
        array = np.asarray(face.resize((side, side), Image.Resampling.BICUBIC))
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    return Image.fromarray(np.ascontiguousarray(array[..., :3]).astype(np.uint8))


def region_of(name: str, region: Region) -> Image.Image:
    """The `region` (fractions of width and height) of a photograph."""
    photo = photograph(name)
    w, h = photo.size
    left, top, right, bottom = region
    return photo.crop((round(left * w), round(top * h), round(right * w), round(bottom * h)))


# --- camera motions ------------------------------------------------------------------


def _ease(t: float) -> float:
    return t * t * (3 - 2 * t)


def camera_path(motion: str, frames: int, seed: int) -> list[tuple[float, float, float]]:
    """(centre x, centre y, zoom) per frame, as fractions of the source; zoom 1 = full."""
    rng = np.random.default_rng(seed)
    out = []
    walk = np.cumsum(rng.normal(0, 0.004, (frames, 2)), axis=0)
    for i in range(frames):
        t = _ease(i / max(frames - 1, 1))
        if motion == "pan":  # left to right at a fixed zoom
            out.append((0.3 + 0.4 * t, 0.5, 0.6))
        elif motion == "zoom_in":
            out.append((0.5, 0.5, 1.0 - 0.45 * t))
        elif motion == "zoom_out":
            out.append((0.5, 0.5, 0.55 + 0.45 * t))
        elif motion == "diagonal":
            out.append((0.32 + 0.36 * t, 0.32 + 0.36 * t, 0.62))
        elif motion == "handheld":  # slow drift with wobble
            x, y = walk[i]
            out.append((0.4 + 0.2 * t + x, 0.5 + y, 0.7))
        else:
            raise ValueError(motion)
    return out


@dataclass(frozen=True)
class ClipSpec:
    """A distinct piece of footage: a camera motion over a region of a photograph."""

    name: str
    photo: str
    motion: str
    region: Region = FULL
    seconds: float = 10.0
    seed: int = 0


def render_frames(spec: ClipSpec, size: tuple[int, int] = SIZE) -> Iterator[bytes]:
    """RGB frames of the clip."""
    source = region_of(spec.photo, spec.region)
    sw, sh = source.size
    aspect = size[0] / size[1]
    full_w = min(sw, sh * aspect)
    frames = round(spec.seconds * FPS)
    for cx, cy, zoom in camera_path(spec.motion, frames, spec.seed):
        w = full_w * zoom
        h = w / aspect
        x0 = min(max(cx * sw - w / 2, 0), sw - w)
        y0 = min(max(cy * sh - h / 2, 0), sh - h)
        yield source.resize(size, Image.Resampling.BILINEAR, box=(x0, y0, x0 + w, y0 + h)).tobytes()


def make_clip(spec: ClipSpec, path: Path, size: tuple[int, int] = SIZE, gop: int = 50) -> Path:
    """Encode the clip as an upload would be: H.264 (veryfast, CRF 20), 2 s keyframes."""
    run_ffmpeg(
        [
            *("-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{size[0]}x{size[1]}"),
            *("-r", str(FPS), "-i", "-"),
            *("-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-g", str(gop)),
            *("-pix_fmt", "yuv420p", "-threads", "1", "-movflags", "+faststart", str(path)),
        ],
        stdin=render_frames(spec, size),
    )
    return path


# --- video transforms ----------------------------------------------------------------


def _logo_png(directory: Path) -> Path:
    path = directory / "channel_logo.png"
    if not path.exists():
        logo = Image.fromarray(skimage.data.logo()).convert("RGBA")
        logo.thumbnail((80, 80))  # a channel "bug": 1/8 of a 640-wide frame
        logo.save(path)
    return path


def _x264(crf: int = 23, extra: tuple[str, ...] = ()) -> list[str]:
    return ["-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), *extra, "-threads", "1"]


def _duration(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.duration is not None and stream.time_base is not None
        return float(stream.duration * stream.time_base)


def v_reencode(src: Path, dst: Path) -> None:
    run_ffmpeg(
        [
            "-i",
            str(src),
            *_x264(extra=("-b:v", "150k", "-maxrate", "200k", "-bufsize", "400k")),
            "-an",
            str(dst),
        ]
    )


def v_240p(src: Path, dst: Path) -> None:
    run_ffmpeg(["-i", str(src), "-vf", "scale=-2:240", *_x264(26), "-an", str(dst)])


def v_crop_logo(src: Path, dst: Path) -> None:
    logo = _logo_png(dst.parent)
    graph = (
        "[0:v]crop=iw*0.9:ih*0.9:iw*0.06:ih*0.04,scale=640:360[v];"
        "[1:v]format=rgba,colorchannelmixer=aa=0.7[l];[v][l]overlay=W-w-16:16"
    )
    run_ffmpeg(
        ["-i", str(src), "-i", str(logo), "-filter_complex", graph, *_x264(), "-an", str(dst)]
    )


def v_trim(src: Path, dst: Path) -> None:
    d = _duration(src)
    run_ffmpeg(
        ["-ss", f"{d / 4:.3f}", "-i", str(src), "-t", f"{d / 2:.3f}", *_x264(), "-an", str(dst)]
    )


def v_letterbox(src: Path, dst: Path) -> None:
    vf = "scale=640:360,pad=640:480:0:60:black,scale=480:360"
    run_ffmpeg(["-i", str(src), "-vf", vf, *_x264(), "-an", str(dst)])


def v_mirror(src: Path, dst: Path) -> None:
    run_ffmpeg(["-i", str(src), "-vf", "hflip", *_x264(), "-an", str(dst)])


def v_color(src: Path, dst: Path) -> None:
    vf = "eq=brightness=0.08:contrast=1.25:saturation=1.3,noise=alls=12:allf=t+u"
    run_ffmpeg(["-i", str(src), "-vf", vf, *_x264(), "-an", str(dst)])


VIDEO_TRANSFORMS: dict[str, Callable[[Path, Path], None]] = {
    "reencode_150k": v_reencode,
    "downscale_240p": v_240p,
    "crop10_logo": v_crop_logo,
    "trim_middle_half": v_trim,
    "letterbox": v_letterbox,
    "mirror": v_mirror,
    "bright_contrast_noise": v_color,
}


# --- photo transforms ----------------------------------------------------------------


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def p_jpeg30(image: Image.Image) -> tuple[Image.Image, int]:
    return image, 30


def p_resize40(image: Image.Image) -> tuple[Image.Image, int]:
    w, h = image.size
    return image.resize((round(w * 0.4), round(h * 0.4)), Image.Resampling.LANCZOS), 85


def p_crop8(image: Image.Image) -> tuple[Image.Image, int]:
    w, h = image.size  # 8% of each side's length, taken unevenly as a person would
    return image.crop((round(0.05 * w), round(0.02 * h), round(0.97 * w), round(0.94 * h))), 90


def p_watermark(image: Image.Image) -> tuple[Image.Image, int]:
    w, h = image.size
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    top = round(h * 0.70)
    draw.rectangle((0, top, w, top + round(h * 0.12)), fill=(0, 0, 0, 110))
    draw.text(
        (round(w * 0.05), top + round(h * 0.02)),
        "@frontline_news  EXCLUSIVE",
        fill=(255, 255, 255, 200),
        font=_font(max(10, round(h * 0.07))),
    )
    return Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB"), 90


def p_border_caption(image: Image.Image) -> tuple[Image.Image, int]:
    w, h = image.size
    pad, caption = round(0.05 * w), round(0.16 * h)
    canvas = Image.new("RGB", (w + 2 * pad, h + 2 * pad + caption), "white")
    canvas.paste(image, (pad, pad))
    draw = ImageDraw.Draw(canvas)
    size = max(10, round(caption * 0.28))
    draw.text(
        (pad, h + pad + round(caption * 0.15)),
        "Footage from the eastern front, 12 March",
        fill=(20, 20, 20),
        font=_font(size),
    )
    draw.text(
        (pad, h + pad + round(caption * 0.55)),
        "shared 3,201 times",
        fill=(110, 110, 110),
        font=_font(round(size * 0.8)),
    )
    return canvas, 88


def p_mirror(image: Image.Image) -> tuple[Image.Image, int]:
    return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), 90


PHOTO_TRANSFORMS: dict[str, Callable[[Image.Image], tuple[Image.Image, int]]] = {
    "jpeg_q30": p_jpeg30,
    "resize_40pct": p_resize40,
    "crop_8pct": p_crop8,
    "watermark_banner": p_watermark,
    "border_caption": p_border_caption,
    "mirror": p_mirror,
}


@dataclass(frozen=True)
class PhotoSpec:
    """A distinct photograph: a region of a scikit-image photograph."""

    name: str
    photo: str
    region: Region = FULL


# --- suites --------------------------------------------------------------------------

#: The evaluation set. Pairs sharing a `group` comment are hard negatives of each other.
BENCH_CLIPS = [
    ClipSpec("astronaut_pan", "astronaut", "pan", seed=1),
    ClipSpec("coffee_pan", "coffee", "pan", seed=1),  # same motion, other photo
    ClipSpec("rocket_zoom", "rocket", "zoom_in", seed=2),
    ClipSpec("chelsea_zoom", "chelsea", "zoom_in", seed=2),  # same motion, other photo
    ClipSpec("camera_diag", "camera", "diagonal", seed=3),
    ClipSpec("moon_diag", "moon", "diagonal", seed=3),  # same motion, other grey photo
    ClipSpec("hubble_left", "hubble_deep_field", "handheld", (0.0, 0.0, 0.5, 1.0), seed=4),
    ClipSpec("hubble_right", "hubble_deep_field", "handheld", (0.5, 0.0, 1.0, 1.0), seed=4),
    ClipSpec("retina_tl", "retina", "zoom_out", (0.0, 0.0, 0.5, 0.5), seed=5),
    ClipSpec("retina_br", "retina", "zoom_out", (0.5, 0.5, 1.0, 1.0), seed=5),
    ClipSpec("grass_pan", "grass", "pan", seed=6),
    ClipSpec("gravel_pan", "gravel", "pan", seed=6),  # same motion, similar texture
    ClipSpec("ihc_handheld", "immunohistochemistry", "handheld", seed=7),
    ClipSpec("coins_zoom", "coins", "zoom_in", seed=8),
]

#: Hard-negative pairs: distinct footage filmed in the same style.
BENCH_HARD_PAIRS = [
    ("astronaut_pan", "coffee_pan"),
    ("rocket_zoom", "chelsea_zoom"),
    ("camera_diag", "moon_diag"),
    ("hubble_left", "hubble_right"),
    ("retina_tl", "retina_br"),
    ("grass_pan", "gravel_pan"),
]

BENCH_PHOTOS = [
    PhotoSpec("astronaut", "astronaut"),
    PhotoSpec("coffee", "coffee"),
    PhotoSpec("chelsea", "chelsea"),
    PhotoSpec("rocket", "rocket"),
    PhotoSpec("camera", "camera"),
    PhotoSpec("moon", "moon"),
    PhotoSpec("ihc", "immunohistochemistry"),
    PhotoSpec("coins", "coins"),
    PhotoSpec("clock", "clock"),
    PhotoSpec("cell", "cell"),
    PhotoSpec("page", "page"),
    PhotoSpec("text", "text"),
    PhotoSpec("grass", "grass"),
    PhotoSpec("gravel", "gravel"),
    PhotoSpec("brick", "brick"),
    PhotoSpec("hubble_left", "hubble_deep_field", (0.0, 0.0, 0.5, 1.0)),
    PhotoSpec("hubble_right", "hubble_deep_field", (0.5, 0.0, 1.0, 1.0)),
    PhotoSpec("retina_tl", "retina", (0.0, 0.0, 0.5, 0.5)),
    PhotoSpec("retina_br", "retina", (0.5, 0.5, 1.0, 1.0)),
    PhotoSpec("retina_tr", "retina", (0.5, 0.0, 1.0, 0.5)),
]

BENCH_PHOTO_HARD_PAIRS = [
    ("hubble_left", "hubble_right"),
    ("retina_tl", "retina_br"),
    ("retina_tl", "retina_tr"),
    ("retina_tr", "retina_br"),
    ("grass", "gravel"),
    ("page", "text"),
    ("camera", "moon"),
]


def _tiles(name: str, photo: str, n: int = 3) -> list[PhotoSpec]:
    """The `n` x `n` non-overlapping tiles of a photograph, row by row."""
    return [
        PhotoSpec(f"{name}_t{row}{col}", photo, (col / n, row / n, (col + 1) / n, (row + 1) / n))
        for row in range(n)
        for col in range(n)
    ]


#: Extra negatives (`bench/negatives_bench.py`): 91 sources that look alike in layout or
#: texture. 3 x 3 tiles of four photographs (the retina's bottom corners are near mirror
#: images of each other; the rocket's top tiles are mostly sky), 50 faces of the LFW
#: subset (tightly cropped, all the same layout) and five other pictures. All of it
#: ships with scikit-image: nothing is downloaded.
NEGATIVE_PHOTOS = [
    *_tiles("retina", "retina"),
    *_tiles("hubble", "hubble_deep_field"),
    *_tiles("rocket", "rocket"),
    *_tiles("astronaut", "astronaut"),
    *(PhotoSpec(f"face{i:02d}", f"lfw_subset:{i}") for i in range(50)),
    PhotoSpec("horse", "horse"),
    PhotoSpec("colorwheel", "colorwheel"),
    PhotoSpec("microaneurysms", "microaneurysms"),
    PhotoSpec("motorcycle", "stereo_motorcycle"),
    PhotoSpec("phantom", "shepp_logan_phantom"),
]

#: The smaller set the test suite uses: other photographs, regions and motions.
TEST_CLIPS = [
    ClipSpec("brick_pan", "brick", "pan", seconds=6, seed=11),
    ClipSpec("cell_pan", "cell", "pan", seconds=6, seed=11),  # same motion, other photo
    ClipSpec("astro_zoom", "astronaut", "zoom_out", seconds=6, seed=12),
    ClipSpec("hubble_top", "hubble_deep_field", "diagonal", (0.0, 0.0, 1.0, 0.5), 6, 13),
    ClipSpec("hubble_bottom", "hubble_deep_field", "diagonal", (0.0, 0.5, 1.0, 1.0), 6, 13),
]
TEST_PHOTOS = [
    PhotoSpec("astronaut", "astronaut"),
    PhotoSpec("chelsea", "chelsea"),
    PhotoSpec("brick", "brick"),
    PhotoSpec("gravel", "gravel"),
    PhotoSpec("retina_bl", "retina", (0.0, 0.5, 0.5, 1.0)),
    PhotoSpec("retina_tr", "retina", (0.5, 0.0, 1.0, 0.5)),
]


@dataclass(frozen=True)
class Item:
    """One generated file: which source it shows and how it was transformed."""

    source: str
    transform: str  # "original" for the untransformed file
    path: Path


def build_videos(
    clips: list[ClipSpec],
    directory: Path,
    transforms: dict[str, Callable[[Path, Path], None]] | None = None,
    workers: int = 2,
) -> list[Item]:
    """Encode every clip and every transform of it (ffmpeg runs in `workers` threads)."""
    transforms = VIDEO_TRANSFORMS if transforms is None else transforms
    directory.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(workers) as pool:
        originals = list(pool.map(lambda c: make_clip(c, directory / f"{c.name}.mp4"), clips))
        jobs = [
            (clip.name, name, fn, src, directory / f"{clip.name}.{name}.mp4")
            for clip, src in zip(clips, originals, strict=True)
            for name, fn in transforms.items()
        ]
        list(pool.map(lambda j: j[2](j[3], j[4]), jobs))
    items = [Item(c.name, "original", p) for c, p in zip(clips, originals, strict=True)]
    items += [Item(source, name, dst) for source, name, _, _, dst in jobs]
    return items


def build_photos(
    photos: list[PhotoSpec],
    directory: Path,
    transforms: dict[str, Callable[[Image.Image], tuple[Image.Image, int]]] | None = None,
) -> list[Item]:
    """Save every photo (JPEG quality 92) and every transform of it."""
    transforms = PHOTO_TRANSFORMS if transforms is None else transforms
    directory.mkdir(parents=True, exist_ok=True)
    items = []
    for spec in photos:
        image = region_of(spec.photo, spec.region)
        path = directory / f"{spec.name}.jpg"
        image.save(path, quality=92)
        items.append(Item(spec.name, "original", path))
        for name, fn in transforms.items():
            out, quality = fn(image)
            dst = directory / f"{spec.name}.{name}.jpg"
            out.save(dst, quality=quality)
            items.append(Item(spec.name, name, dst))
    return items


def still_fingerprint(picture: int, frames: int, step: float, seed: int) -> VideoFingerprint:
    """A long still video's fingerprint: one picture's pHash for `frames` samples `step`
    seconds apart, each with one bit of noise (an hour of a logo or studio backdrop)."""
    import random

    from archiver.hashing import FrameHash, VideoFingerprint

    rng = random.Random(seed)
    names = ("phash", "phash_mirror", "phash_c90", "phash_c90_mirror")
    out = []
    for i in range(frames):
        noisy = picture ^ (1 << rng.randrange(64))
        out.append(FrameHash(i * step, {n: noisy ^ k for k, n in enumerate(names)}))
    return VideoFingerprint(frames * step, 640, 360, out)
