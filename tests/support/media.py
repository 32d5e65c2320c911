"""Real media files, generated on the fly for tests.

Everything here is built from real photographs shipped with scikit-image and encoded
with the ffmpeg binary bundled by imageio-ffmpeg, so tests exercise genuine JPEG, PNG,
GIF, H.264/AAC MP4 and M4A/MP3 files rather than placeholder bytes.

Determinism: for a given seed every generator produces the same content. Photos, PNGs,
pixels and big files are byte-identical across runs; clips and audio are encoded with
bit-exact flags and a single encoder thread, so they are byte-identical for a given
ffmpeg build.
"""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image

__all__ = [
    "PHOTOGRAPHS",
    "MediaSet",
    "ffmpeg_exe",
    "generate_media_set",
    "make_audio",
    "make_big_file",
    "make_clip",
    "make_photo",
    "make_png",
    "make_tiny",
]

#: Photographs shipped inside the scikit-image wheel (no network needed); picked by seed.
PHOTOGRAPHS = ("astronaut", "coffee", "chelsea", "rocket", "camera")

_BITEXACT = ["-fflags", "+bitexact", "-flags", "+bitexact", "-map_metadata", "-1"]

StrPath = str | os.PathLike[str]


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped by the imageio-ffmpeg wheel."""
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


@functools.cache
def _photograph(name: str) -> np.ndarray:
    image = np.asarray(getattr(skimage.data, name)())
    if image.ndim == 2:  # greyscale: replicate into RGB
        image = np.stack([image] * 3, axis=-1)
    image = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
    image.setflags(write=False)
    return image


def _source(seed: int, source_image: StrPath | np.ndarray | None) -> Image.Image:
    if source_image is None:
        return Image.fromarray(_photograph(PHOTOGRAPHS[seed % len(PHOTOGRAPHS)]))
    if isinstance(source_image, np.ndarray):
        return Image.fromarray(source_image).convert("RGB")
    with Image.open(source_image) as image:
        return image.convert("RGB")


def _check_even(size: tuple[int, int]) -> None:
    if size[0] % 2 or size[1] % 2 or min(size) <= 0:
        raise ValueError(f"H.264/yuv420p needs positive even dimensions, got {size}")


def _run_ffmpeg(args: list[str], frames: Iterator[bytes] | None = None) -> None:
    """Run ffmpeg quietly, feeding `frames` to its stdin; raise with its error text."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args]
    if frames is None:
        cmd.insert(1, "-nostdin")
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL if frames is None else subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    if proc.stdin is not None:
        try:
            for frame in frames or ():
                proc.stdin.write(frame)
        except BrokenPipeError:
            pass  # ffmpeg died early: its stderr says why
        finally:
            proc.stdin.close()
    assert proc.stderr is not None
    message = proc.stderr.read().decode(errors="replace").strip()
    proc.stderr.close()
    if proc.wait() != 0:
        raise RuntimeError(f"ffmpeg failed ({proc.returncode}): {message}")


def _camera_path(
    photo: Image.Image, size: tuple[int, int], frames: int, seed: int
) -> Iterator[bytes]:
    """Yield RGB frames of a slow pan and zoom across `photo`, like a handheld camera."""
    rng = np.random.default_rng(seed)
    width, height = photo.size
    aspect = size[0] / size[1]
    # Largest crop with the output aspect ratio that fits inside the photo.
    full_w = min(width, height * aspect)
    zoom_from, zoom_to = rng.uniform(0.55, 0.75), rng.uniform(0.8, 1.0)
    if rng.random() < 0.5:
        zoom_from, zoom_to = zoom_to, zoom_from
    start, end = rng.random(2), rng.random(2)
    for i in range(frames):
        t = i / max(frames - 1, 1)
        t = t * t * (3 - 2 * t)  # ease in and out
        crop_w = full_w * (zoom_from + (zoom_to - zoom_from) * t)
        crop_h = crop_w / aspect
        fx, fy = start + (end - start) * t
        left, top = fx * (width - crop_w), fy * (height - crop_h)
        box = (left, top, left + crop_w, top + crop_h)
        yield photo.resize(size, Image.Resampling.BILINEAR, box=box).tobytes()


def make_hls(clip: StrPath, directory: StrPath, segment_seconds: float = 1.0) -> Path:
    """Cut an H.264 clip into an HLS stream as video players serve it (a VOD playlist
    ``index.m3u8`` and MPEG-TS segments ``seg000.ts`` …), stream-copied; returns the
    playlist."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    playlist = folder / "index.m3u8"
    hls = ["-f", "hls", "-hls_time", str(segment_seconds), "-hls_playlist_type", "vod"]
    segments = ["-hls_segment_filename", str(folder / "seg%03d.ts")]
    _run_ffmpeg(["-i", str(clip), "-c", "copy", *hls, *segments, *_BITEXACT, str(playlist)])
    return playlist


def make_clip(
    path: StrPath,
    *,
    seconds: float = 2.0,
    size: tuple[int, int] = (320, 240),
    fps: int = 25,
    seed: int = 0,
    source_image: StrPath | np.ndarray | None = None,
    audio: bool = True,
) -> Path:
    """Encode a real H.264/AAC MP4 (yuv420p, faststart) of a camera moving over a photo.

    The photograph, the pan and the zoom all depend on `seed`, so clips with different
    seeds are genuinely different footage (distinct perceptual hashes), not a re-encode.
    """
    _check_even(size)
    path = Path(path)
    frame_count = max(1, round(seconds * fps))
    video_in = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{size[0]}x{size[1]}"]
    video_in += ["-r", str(fps), "-i", "-"]
    audio_in: list[str] = []
    codecs = ["-map", "0:v"]
    if audio:
        tone = f"sine=frequency={330 + 110 * (seed % 7)}:sample_rate=44100:duration={seconds}"
        audio_in = ["-f", "lavfi", "-i", tone]
        codecs += ["-map", "1:a", "-c:a", "aac", "-b:a", "64k", "-ac", "1"]
    codecs += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    codecs += ["-threads", "1", "-g", str(fps), "-movflags", "+faststart", "-f", "mp4"]
    photo = _source(seed, source_image)
    _run_ffmpeg(
        [*video_in, *audio_in, *codecs, *_BITEXACT, str(path)],
        frames=_camera_path(photo, size, frame_count, seed),
    )
    return path


def make_big_file(path: StrPath, size_bytes: int, *, seed: int = 0, sparse: bool = False) -> Path:
    """Write a large MP4-looking file fast: a real clip's header, then filler to `size_bytes`.

    The filler is one pseudo-random MiB repeated (incompressible, written in chunks, so
    making a GiB costs no memory); `sparse=True` leaves a hole instead, which is instant
    but reads back as zeros.
    """
    path = Path(path)
    scratch = path.with_name(f".{path.name}.head.mp4")
    make_clip(scratch, seconds=0.2, size=(64, 48), fps=10, seed=seed, audio=False)
    head = scratch.read_bytes()[:size_bytes]
    scratch.unlink()
    with path.open("wb") as out:
        out.write(head)
        if sparse:
            out.truncate(size_bytes)
            return path
        chunk = np.random.default_rng(seed).bytes(1 << 20)
        remaining = size_bytes - len(head)
        while remaining > 0:
            remaining -= out.write(chunk[:remaining])
    return path


def make_photo(
    path: StrPath,
    *,
    seed: int = 0,
    size: tuple[int, int] = (800, 600),
    fmt: str = "JPEG",
    quality: int = 90,
) -> Path:
    """Save a real photograph, cropped and lightly noised by `seed`, at exactly `size`.

    Seeds pick different photographs; seeds sharing a photograph still get a different
    crop and noise, hence different bytes (but they may be near-duplicates, on purpose).
    """
    path = Path(path)
    rng = np.random.default_rng(seed)
    photo = _source(seed, None)
    width, height = photo.size
    aspect = size[0] / size[1]
    crop_w = min(width, height * aspect) * rng.uniform(0.85, 1.0)
    crop_h = crop_w / aspect
    left, top = rng.random() * (width - crop_w), rng.random() * (height - crop_h)
    image = photo.resize(
        size, Image.Resampling.LANCZOS, box=(left, top, left + crop_w, top + crop_h)
    )
    pixels = np.asarray(image, dtype=np.int16) + rng.integers(-3, 4, (size[1], size[0], 3))
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    options: dict[str, object] = {"quality": quality} if fmt.upper() in {"JPEG", "WEBP"} else {}
    image.save(path, format=fmt, **options)
    return path


def make_png(path: StrPath, *, seed: int = 0, size: tuple[int, int] = (640, 480)) -> Path:
    """A real photograph as a lossless PNG."""
    return make_photo(path, seed=seed, size=size, fmt="PNG")


def make_tiny(path: StrPath) -> Path:
    """A 1x1 tracking pixel: GIF unless the suffix says .png. Archivers should skip these."""
    path = Path(path)
    fmt = "PNG" if path.suffix.lower() == ".png" else "GIF"
    Image.new("RGB", (1, 1), (255, 255, 255)).save(path, format=fmt)
    return path


def make_audio(path: StrPath, seconds: float = 1.0, *, frequency: int = 440) -> Path:
    """A real sine tone: AAC in .m4a, or MP3 when the suffix is .mp3."""
    path = Path(path)
    if path.suffix.lower() == ".mp3":
        codec = ["-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3"]
    else:
        codec = ["-c:a", "aac", "-b:a", "64k", "-movflags", "+faststart", "-f", "ipod"]
    tone = f"sine=frequency={frequency}:sample_rate=44100:duration={seconds}"
    _run_ffmpeg(["-f", "lavfi", "-i", tone, "-ac", "1", *codec, *_BITEXACT, str(path)])
    return path


@dataclass(frozen=True)
class MediaSet:
    """The media every test session gets: see `generate_media_set`."""

    clip_a: Path
    clip_b: Path
    photo_a: Path
    photo_b: Path
    photo_c: Path
    png: Path
    pixel: Path
    audio: Path

    @property
    def directory(self) -> Path:
        return self.clip_a.parent

    def files(self) -> dict[str, Path]:
        """Attribute name -> file (named `<attribute><suffix>`), e.g. to serve them all."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def generate_media_set(directory: StrPath) -> MediaSet:
    """Generate the standard media into `directory` (a second or so)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    return MediaSet(
        clip_a=make_clip(out / "clip_a.mp4", seed=0),
        clip_b=make_clip(out / "clip_b.mp4", seed=1),
        photo_a=make_photo(out / "photo_a.jpg", seed=0),
        photo_b=make_photo(out / "photo_b.jpg", seed=1),
        photo_c=make_photo(out / "photo_c.jpg", seed=2),
        png=make_png(out / "png.png", seed=3),
        pixel=make_tiny(out / "pixel.gif"),
        audio=make_audio(out / "audio.m4a"),
    )
