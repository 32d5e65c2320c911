"""Speed of near-duplicate detection: hashing videos and photos, querying the index.

    .venv/bin/python bench/similar_bench.py [--quick]

Prints, with PASS/FAIL against the targets:
  * video hashing speed in multiples of real time, 720p H.264, one decoder thread
    pinned to one core (CPU time, so other load on the machine does not count);
  * image hashing throughput in photos per second, one core;
  * `FingerprintIndex.query` latency over a synthetic index of 1,000,000 images and
    10,000 videos of 300 frames (random hashes: uniform buckets, see docs/matching.md);
  * a long still video (one picture for two hours) queried against archived ones,
    side by side with an ordinary video of as many frames: time and peak memory.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _transforms as T

from archiver.hashing import (
    FrameHash,
    ImageFingerprint,
    VideoFingerprint,
    fingerprint,
)
from archiver.match import FingerprintIndex

VIDEO_TARGET = 30.0  # x real time
IMAGE_TARGET = 100.0  # photos per second
QUERY_TARGET = 0.200  # seconds
STILL_MEMORY_TARGET = 256  # MiB allocated by one query of a long still video


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


@contextlib.contextmanager
def one_core() -> Iterator[None]:
    """Run the measured code on one core so the numbers mean "per core"."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cores)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, cores)


def make_720p(path: Path, seconds: float, gop: int | None) -> Path:
    """A 720p30 H.264 clip (x264 veryfast, CRF 23) of a camera moving over a photo."""
    spec = T.ClipSpec("speed", "astronaut", "handheld", seconds=seconds, seed=9)
    keyint = ["-g", str(gop)] if gop else []  # None: x264's default (keyint 250)
    T.run_ffmpeg(
        [
            *("-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "1280x720", "-r", "30", "-i", "-"),
            *("-c:v", "libx264", "-preset", "veryfast", "-crf", "23", *keyint),
            *("-pix_fmt", "yuv420p", "-threads", "2", str(path)),
        ],
        stdin=_frames_30fps(spec),
    )
    return path


def _frames_30fps(spec: T.ClipSpec):  # type: ignore[no-untyped-def]
    old = T.FPS
    T.FPS = 30
    try:
        yield from T.render_frames(spec, (1280, 720))
    finally:
        T.FPS = old


def bench_video(directory: Path, seconds: float) -> bool:
    print(f"\n== video hashing: 720p30 H.264, {seconds:.0f} s clips, one core, one thread ==")
    ok = True
    for label, gop in (("keyframe every 2 s (-g 60)", 60), ("x264 default (keyint 250)", None)):
        path = make_720p(directory / f"speed_{gop}.mp4", seconds, gop)
        with one_core():
            cpu0, wall0 = time.process_time(), time.perf_counter()
            fp = fingerprint(path, "video")
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        assert isinstance(fp, VideoFingerprint)
        speed = fp.duration / cpu
        ok &= speed >= VIDEO_TARGET
        print(
            f"  {label:28s} {len(fp.frames):4d} frames  cpu {cpu:5.2f} s  wall {wall:5.2f} s"
            f"  -> {speed:5.1f}x real time (CPU)  target >= {VIDEO_TARGET:.0f}x"
            f"  {verdict(speed >= VIDEO_TARGET)}"
        )
    return ok


def bench_images(directory: Path, count: int) -> bool:
    print(f"\n== image hashing: {count} photos per size, one core ==")
    photos = [T.photograph(n) for n in ("astronaut", "coffee", "chelsea", "rocket", "retina")]
    ok = True
    sizes = [
        ((1280, 960), "JPEG"),
        ((2048, 1536), "JPEG"),
        ((4032, 3024), "JPEG"),
        ((1280, 720), "PNG"),
    ]
    for size, fmt in sizes:
        paths = []
        for i in range(count):
            image = photos[i % len(photos)].resize(size, Image.Resampling.BILINEAR)
            path = directory / f"p{size[0]}_{i}.{fmt.lower()}"
            image.save(path, format=fmt, **({"quality": 85} if fmt == "JPEG" else {}))
            paths.append(path)
        with one_core():
            cpu0 = time.process_time()
            for path in paths:
                fingerprint(path, "image")
            rate = count / (time.process_time() - cpu0)
        typical = size == (2048, 1536)
        if typical:
            ok &= rate >= IMAGE_TARGET
        note = f"target >= {IMAGE_TARGET:.0f}/s  {verdict(rate >= IMAGE_TARGET)}" if typical else ""
        print(f"  {fmt:4s} {size[0]}x{size[1]:<5d} {rate:7.1f} photos/s  {note}")
    return ok


def _random_int(rng: random.Random, bits: int) -> int:
    return rng.getrandbits(bits)


def bench_index(images: int, videos: int, frames: int) -> bool:
    print(f"\n== index query: {images:,} images + {videos:,} videos x {frames} frames ==")
    rng = random.Random(7)
    index = FingerprintIndex()
    planted = set(rng.sample(range(images), 20))
    stored_images: dict[int, ImageFingerprint] = {}
    t0 = time.perf_counter()
    for key in range(images):
        hashes = {
            "phash": _random_int(rng, 64),
            "phash_mirror": _random_int(rng, 64),
            "pdq": _random_int(rng, 256),
            "pdq_mirror": _random_int(rng, 256),
            "pdq_c92": _random_int(rng, 256),
            "pdq_c92_mirror": _random_int(rng, 256),
            "phash_c92": _random_int(rng, 64),
            "phash_c92_mirror": _random_int(rng, 64),
            "pdq_quality": 100,
        }
        image = ImageFingerprint(1024, 768, hashes)
        index.add(key, image)
        if key in planted:
            stored_images[key] = image
    t_images = time.perf_counter() - t0
    stored_videos: list[VideoFingerprint] = []
    t0 = time.perf_counter()
    for v in range(videos):
        fp = _random_video(rng, frames)
        if v < 20:
            stored_videos.append(fp)
        index.add(images + v, fp)
    t_videos = time.perf_counter() - t0
    t0 = time.perf_counter()
    index.query(_random_video(rng, frames))  # the first query sorts the new frames
    t_first = time.perf_counter() - t0
    print(
        f"  load: images {t_images:.1f} s, videos {t_videos:.1f} s,"
        f" first video query (builds the frame tables) {t_first:.2f} s"
    )
    image_times, video_times, found = [], [], 0
    for key, image in stored_images.items():
        probe = _near_image(rng, image)
        t0 = time.perf_counter()
        result = index.query(probe)
        image_times.append(time.perf_counter() - t0)
        found += any(k == key for k, _ in result)
    for i, fp in enumerate(stored_videos):
        t0 = time.perf_counter()
        result = index.query(_near_video(rng, fp))
        video_times.append(time.perf_counter() - t0)
        found += any(k == images + i for k, _ in result)
    ok = True
    for label, times in (("image query", image_times), ("video query", video_times)):
        worst = max(times)
        ok &= worst < QUERY_TARGET
        print(
            f"  {label}: median {statistics.median(times) * 1000:6.1f} ms,"
            f" max {worst * 1000:6.1f} ms  target < {QUERY_TARGET * 1000:.0f} ms"
            f"  {verdict(worst < QUERY_TARGET)}"
        )
    print(f"  planted near-duplicates found: {found}/{len(image_times) + len(video_times)}")
    t0 = time.perf_counter()
    index.query_phash(_random_int(rng, 64), 8)
    print(f"  query_phash over {images:,} images: {(time.perf_counter() - t0) * 1000:.1f} ms")
    return ok and found == len(image_times) + len(video_times)


def bench_still_videos(frames: int) -> bool:
    print(f"\n== long still videos: {frames} frames of one picture against 10 such ==")
    rng = random.Random(11)
    index = FingerprintIndex()
    picture = _random_int(rng, 64)
    for v in range(10):
        # the same picture in every one, each pixel of noise a bit flip
        index.add(v, T.still_fingerprint(picture, frames, step=1.0, seed=v))
        index.add(100 + v, _random_video(rng, frames))
    index.query(_random_video(rng, 10))  # builds the frame tables
    rows = []
    for label, probe in (
        ("ordinary video", _random_video(rng, frames)),
        ("still video", T.still_fingerprint(picture, frames, step=2.0, seed=99)),
    ):
        tracemalloc.start()
        t0 = time.perf_counter()
        found = index.query(probe)
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        rows.append((seconds, peak))
        print(f"  {label:15s} {seconds:6.2f} s  peak {peak:7.1f} MiB  matches {len(found)}")
    (t_base, m_base), (t_still, m_still) = rows
    ok = m_still < STILL_MEMORY_TARGET
    print(
        f"  still / ordinary: time {t_still / t_base:.2f}x, memory {m_still / m_base:.2f}x;"
        f" target < {STILL_MEMORY_TARGET} MiB  {verdict(ok)}"
    )
    return ok


def _near_image(rng: random.Random, image: ImageFingerprint) -> ImageFingerprint:
    """A copy of a stored image with 12 of its PDQ bits flipped."""
    flips = sum(1 << b for b in rng.sample(range(256), 12))
    return ImageFingerprint(1024, 768, {**image.hashes, "pdq": image.hashes["pdq"] ^ flips})


def _random_video(rng: random.Random, frames: int) -> VideoFingerprint:
    names = ("phash", "phash_mirror", "phash_c90", "phash_c90_mirror")
    return VideoFingerprint(
        float(frames),
        1280,
        720,
        [FrameHash(float(t), {n: _random_int(rng, 64) for n in names}) for t in range(frames)],
    )


def _near_video(rng: random.Random, fp: VideoFingerprint) -> VideoFingerprint:
    """The middle half of `fp` with 4 bits of every frame hash flipped."""
    n = len(fp.frames)
    out = []
    for f in fp.frames[n // 4 : 3 * n // 4]:
        flips = sum(1 << b for b in rng.sample(range(64), 4))
        out.append(FrameHash(f.t, {k: v ^ flips for k, v in f.hashes.items()}))
    return VideoFingerprint(fp.duration / 2, fp.width, fp.height, out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    args = parser.parse_args()
    np.random.seed(0)
    with tempfile.TemporaryDirectory(prefix="similar_bench_") as tmp:
        directory = Path(tmp)
        ok = bench_video(directory, 10.0 if args.quick else 60.0)
        ok &= bench_images(directory, 20 if args.quick else 100)
    with one_core():
        if args.quick:
            ok &= bench_index(20_000, 200, 300)
        else:
            ok &= bench_index(1_000_000, 10_000, 300)
        ok &= bench_still_videos(1200 if args.quick else 3600)
    print(f"\nall speed targets: {verdict(ok)}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
