"""Loading the near-duplicate index from the database: time and memory at start.

    .venv/bin/python bench/index_load_bench.py            # 200,000 images + 2,000 videos
    .venv/bin/python bench/index_load_bench.py --quick    # 20,000 images + 200 videos

A daemon (or `archiver search --similar-to`) loads every stored fingerprint into its
in-memory index before the first match. This builds a SQLite archive with synthetic
fingerprints (random hashes in the stored format; images with their 64 px thumbnail,
videos of 60 frames), then runs, each in a fresh process, one after the other:

floor
    the same columns read with the standard library's ``sqlite3``: every row fetched,
    nothing decoded. No index can be loaded faster than its rows are read.
archiver
    ``archive.duplicates.refresh``: the rows streamed in batches, decoded and indexed.

Each line gives wall and CPU seconds and the growth of the process's peak resident
memory (VmHWM) over what it had after its imports; ``vs floor`` divides by the floor.
The benchmark reports; it always exits 0.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archiver.archive import Archive  # noqa: E402
from archiver.config import load_config  # noqa: E402
from archiver.hashing import ALGORITHM  # noqa: E402
from archiver.hashing.thumbnail import GATE_NAMES  # noqa: E402

WORDS_64 = ("phash", "phash_mirror", "phash_c92", "phash_c92_mirror", *GATE_NAMES)
WORDS_256 = ("pdq", "pdq_mirror", "pdq_c92", "pdq_c92_mirror")
FRAME_NAMES = ["phash", "phash_c90", "phash_c90_mirror", "phash_mirror"]
FRAMES = 60
BATCH = 5000


def build(config_path: Path, images: int, videos: int) -> None:
    """An archive of `images` + `videos` media rows, each with a fingerprint."""
    from sqlalchemy import insert

    from archiver.index.models import Fingerprint as Row
    from archiver.index.models import FrameHashRow, Media

    rng = random.Random(7)
    now = datetime.now(UTC)
    total = images + videos
    with Archive.open(load_config(config_path)) as archive, archive.session() as session:
        for start in range(0, total, BATCH):
            media, prints, frames = [], [], []
            for n in range(start + 1, min(total, start + BATCH) + 1):
                digest = hashlib.sha256(str(n).encode()).hexdigest()
                video = n > images
                media.append(
                    {
                        "id": n,
                        "sha256": digest,
                        "md5": digest[:32],
                        "size_bytes": n,
                        "mime_type": "video/mp4" if video else "image/jpeg",
                        "media_type": "video" if video else "image",
                        "path": f"media/{digest}",
                        "first_captured_at": now,
                        "search_text": "",
                    }
                )
                row = {"id": n, "media_id": n, "algorithm": ALGORITHM, "width": 1280}
                row.update(height=720, created_at=now, frame_count=0)
                if video:
                    row.update(kind="video", duration=30.0, frame_count=FRAMES)
                    row.update(frame_hash_names=FRAME_NAMES)
                    frames += [
                        {"fingerprint_id": n, "t": f / 2, "hashes": rng.randbytes(32)}
                        for f in range(FRAMES)
                    ]
                else:
                    hashes = {k: format(rng.getrandbits(64), "x") for k in WORDS_64}
                    hashes.update({k: format(rng.getrandbits(256), "x") for k in WORDS_256})
                    hashes["pdq_quality"] = "64"
                    row.update(kind="image", hashes=hashes, thumbnail_width=64)
                    row.update(thumbnail=rng.randbytes(64 * 48))
                prints.append(row)
            session.execute(insert(Media), media)
            session.execute(insert(Row), prints)
            if frames:
                session.execute(insert(FrameHashRow), frames)


FLOOR = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1])
rows = connection.execute(
    "SELECT id, media_id, kind, width, height, duration, hashes, frame_hash_names"
    " FROM fingerprints ORDER BY id"
)
count = sum(1 for _ in rows)
frames = connection.execute(
    "SELECT fingerprint_id, t, hashes FROM frame_hashes ORDER BY fingerprint_id, t"
)
print(count, "fingerprints,", sum(1 for _ in frames), "frames read")
"""

ARCHIVER = """
import sys
from archiver.archive import Archive
from archiver.config import load_config
with Archive.open(load_config(sys.argv[1])) as archive:
    finder = archive.duplicates
    with archive.read_session() as session:
        finder.refresh(session)
    print(len(finder.index), "fingerprints indexed")
"""

# Run in the child: note the peak RSS after imports, run the code, print the figures.
WRAPPER = """
import resource, sys, time
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
code = sys.argv.pop(1)
import sqlite3, archiver.archive, archiver.config, archiver.duplicates, archiver.match
start_rss, wall, cpu = hwm(), time.perf_counter(), time.process_time()
exec(compile(code, "<bench>", "exec"))
print("RESULT", time.perf_counter() - wall, time.process_time() - cpu, hwm() - start_rss)
"""


def run(code: str, argument: str) -> tuple[float, float, int, str]:
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, code, argument],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    lines = done.stdout.splitlines()
    result = next(line for line in lines if line.startswith("RESULT")).split()[1:]
    counts = next(line for line in lines if not line.startswith("RESULT"))
    return float(result[0]), float(result[1]), int(result[2]), counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 images, 200 videos")
    args = parser.parse_args()
    images, videos = (20_000, 200) if args.quick else (200_000, 2_000)
    with tempfile.TemporaryDirectory(prefix="index-load-bench-") as scratch:
        config = Path(scratch) / "archiver.toml"
        config.write_text(f'[storage]\nroot = "{Path(scratch) / "storage"}"\n')
        print(f"building an archive of {images:,} images and {videos:,} videos x {FRAMES} frames")
        build(config, images, videos)
        database = str(Path(scratch) / "storage" / "archive.db")
        size = Path(database).stat().st_size / 1e6
        print(f"database: {size:.0f} MB\n")
        floor = run(FLOOR, database)
        ours = run(ARCHIVER, str(config))
    print(f"{'measurement':<44} {'wall s':>7} {'CPU s':>7} {'RSS +MB':>8} {'vs floor':>9}")
    print("-" * 79)
    for label, (wall, cpu, rss, counts) in (
        ("floor: sqlite3 reads the rows", floor),
        ("archiver: DuplicateFinder.refresh", ours),
    ):
        ratio = wall / floor[0]
        print(f"{label:<44} {wall:7.2f} {cpu:7.2f} {rss / 1e6:8.0f} {ratio:8.1f}x  ({counts})")
    per_image = ours[0] / (images + videos) * 1e6
    print(f"\narchiver: {per_image:.0f} us and {ours[2] / (images + videos):.0f} B per fingerprint")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
