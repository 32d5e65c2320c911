"""Fingerprint memory benchmark: an hour of video, its frames judged in batches or at once.

    .venv/bin/python bench/fingerprint_memory_bench.py

A video over a minute is sampled once a second, so an hour gives 3,600 grey frames
(160 px on the longer side). Before its frames are hashed, the bars around the picture
are found over all of them (`content_box`), with temporaries of about 8 bytes a pixel.
This makes three H.264 videos with the ``ffmpeg`` of ``imageio-ffmpeg`` (64x48, one
frame a second: a few seconds to encode) and fingerprints each in a fresh process:

batched
    as archiver does: `borders.SOLID_BATCH` frames at a time;
all at once
    ``SOLID_BATCH`` past the frame count: every frame in one go, as before 2026-11-27
    (the baseline).

Printed side by side: wall time and how much fingerprinting grew the process's peak
resident memory (VmHWM, MB = 10^6 bytes, after its imports), and the ratio of the
batched peak to the baseline's. A 2-second clip shows the cost that does not grow
with length. Exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _child import in_child, timed  # type: ignore[import-not-found]
from imageio_ffmpeg import get_ffmpeg_exe

from archiver.hashing import borders, fingerprint

VIDEOS = {  # name: lavfi source
    "1 h, black": "color=c=black:s=64x48:r=1:d=3600",
    "1 h, test pattern": "testsrc2=s=64x48:r=1:d=3600",
    "2 s, test pattern": "testsrc2=s=320x240:r=25:d=2",
}
ALL_AT_ONCE = 1 << 30


def make(path: Path, source: str) -> Path:
    encode = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    quiet = ["-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    subprocess.run(
        [get_ffmpeg_exe(), *quiet, "-f", "lavfi", "-i", source, *encode, str(path)], check=True
    )
    return path


def measure(path: Path, batch: int) -> None:
    """Child process: fingerprint, print wall seconds, peak growth (MB) and frames."""
    borders.SOLID_BATCH = batch
    found, seconds, grown = timed(lambda: fingerprint(path, "video"))
    print(json.dumps([seconds, grown, len(getattr(found, "frames", []))]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=borders.SOLID_BATCH, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        measure(args.child, args.batch)
        return 0
    print("fingerprint_memory_bench: load average " + " ".join(f"{x:.1f}" for x in os.getloadavg()))
    print(
        f"{'video':<18} {'frames':>6} {'batched s':>9} {'MB':>6} "
        f"{'all at once s':>13} {'MB':>6} {'memory':>7}"
    )
    with tempfile.TemporaryDirectory(prefix="fingerprint-bench-") as scratch:
        for name, source in VIDEOS.items():
            video = make(Path(scratch) / "video.mp4", source)
            now, now_mb, frames = in_child(__file__, "--child", str(video))
            before, before_mb, _ = in_child(
                __file__, "--child", str(video), "--batch", str(ALL_AT_ONCE)
            )
            print(
                f"{name:<18} {frames:>6} {now:>9.2f} {now_mb:>6.0f} {before:>13.2f} "
                f"{before_mb:>6.0f} {now_mb / max(before_mb, 1e-9):>7.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
