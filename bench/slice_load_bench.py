"""Fixity slice benchmark: what the daemon's daily check reads from the index.

    .venv/bin/python bench/slice_load_bench.py              # 300,000 files + page versions
    .venv/bin/python bench/slice_load_bench.py --rows 50000  # smoke check

The daemon re-hashes a seventh of the archive each day (`Part` k of 7). Before it
hashes, it reads what the index says of that seventh: each original's row, the facts
of its sightings, each page version. This builds an index (SQLite, no files on disk)
of ``--rows`` originals, each seen once on a live page, and as many page versions,
then measures in a fresh process each:

whole index
    ``_load(archive)``: every row, as a full ``verify`` part reads them all; the
    daily slice read this much and kept a seventh until 2026-11-27 (the baseline).
one slice
    ``_load(archive, part=Part(3, 7))``: the rows of one seventh, chosen by the
    database.

Printed side by side: wall time and peak resident memory (VmHWM of the process,
after its imports) and their ratios to the whole index. A full ``verify`` reads the
index in 16 such parts one after another (``FULL_CHECK_PARTS``), so it holds about a
sixteenth at once. Exits 0.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _child import in_child, timed  # type: ignore[import-not-found]
from sqlalchemy import insert

from archiver.archive import Archive
from archiver.config import config_from_dict
from archiver.index.models import Embed, Media, Page, PageSnapshot, Sighting, utcnow
from archiver.integrity.fixity import Part, _load

BATCH = 20_000
CONTEXT = "Rebels denied any advance by regime forces, posting video of their fighters:"


# what a CDN answers with a photo: verify holds each sighting's headers to the index
HEADERS = {
    "accept-ranges": "bytes", "age": "4183", "cache-control": "public, max-age=31536000",
    "content-length": "250000", "content-type": "image/jpeg",
    "date": "Sat, 28 Sep 2013 18:00:00 GMT", "last-modified": "Sat, 28 Sep 2013 17:41:07 GMT",
    "server": "cloudflare", "vary": "Accept-Encoding", "via": "1.1 varnish",
    "x-cache": "HIT, HIT", "x-served-by": "cache-fra-etou8220089-FRA",
}  # fmt: skip


def _config(root: Path) -> dict[str, object]:
    return {"storage": {"root": str(root)}}


def build(root: Path, rows: int) -> None:
    """``rows`` originals with one sighting each on one live page, and ``rows`` page
    versions of it, as the index holds them (the files themselves are not made)."""
    now = utcnow()
    with Archive.open(config_from_dict(_config(root))) as archive, archive.engine.begin() as db:
        db.execute(
            insert(Page),
            [{"id": 1, "url": "https://news.test/live", "first_fetched_at": now,
              "last_fetched_at": now}],
        )  # fmt: skip
        for start in range(0, rows, BATCH):
            media, embeds, sightings, versions = [], [], [], []
            for i in range(start, min(rows, start + BATCH)):
                sha = hashlib.sha256(b"file %d" % i).hexdigest()
                url = f"https://cdn.news.test/{i}.jpg"
                media.append(
                    {"id": i + 1, "sha256": sha, "md5": sha[:32], "size_bytes": 250_000,
                     "mime_type": "image/jpeg", "media_type": "image",
                     "path": f"media/{sha[:2]}/{sha[2:4]}/{sha}/original.jpg",
                     "first_captured_at": now}
                )  # fmt: skip
                embeds.append(
                    {"id": i + 1, "page_id": 1, "url": url, "original_url": url,
                     "kind": "file", "found_in": "img", "update_label": "UPDATE 1800 GMT",
                     "context": CONTEXT, "first_seen_at": now, "last_seen_at": now}
                )  # fmt: skip
                sightings.append(
                    {"media_id": i + 1, "embed_id": i + 1, "media_url": url, "tool": "httpx",
                     "tool_version": "0.28.1", "archiver_version": "0.1.0",
                     "http_status": 200, "response_headers": {**HEADERS, "etag": sha[:16]},
                     "first_seen_at": now, "last_seen_at": now}
                )  # fmt: skip
                version = hashlib.sha256(b"page %d" % i).hexdigest()
                versions.append(
                    {"page_id": 1, "sha256": version, "size_bytes": 55_000,
                     "path": f"pages/{version[:2]}/{version[2:4]}/{version}/page.html",
                     "final_url": "https://news.test/live", "http_status": 200,
                     "headers": {}, "first_fetched_at": now, "last_fetched_at": now}
                )  # fmt: skip
            db.execute(insert(Media), media)
            db.execute(insert(Embed), embeds)
            db.execute(insert(Sighting), sightings)
            db.execute(insert(PageSnapshot), versions)


def measure(root: Path, part: str) -> None:
    """Child process: load the rows, print wall seconds, peak RSS and counts as JSON."""
    with Archive.open(config_from_dict(_config(root)), migrate_schema=False) as archive:
        chosen = Part(3, 7) if part == "slice" else None
        (originals, versions), seconds, grown = timed(lambda: _load(archive, part=chosen))
        print(json.dumps([seconds, grown, len(originals), len(versions)]))


def run(root: Path, part: str) -> tuple[float, float, int, int]:
    seconds, grown, originals, versions = in_child(__file__, "--child", part, "--dir", str(root))
    return seconds, grown, originals, versions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--child", choices=("whole", "slice"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        measure(args.dir, args.child)
        return 0
    work = Path(tempfile.mkdtemp(prefix="slice-bench-", dir=args.dir))
    try:
        root = work / "storage"
        started = time.perf_counter()
        build(root, args.rows)
        print(
            f"slice_load_bench: {args.rows:,} originals and {args.rows:,} page versions "
            f"indexed in {time.perf_counter() - started:.0f} s; load average "
            + " ".join(f"{x:.1f}" for x in os.getloadavg())
        )
        whole = run(root, "whole")
        one = run(root, "slice")
        print(f"{'reading':<14} {'rows':>17} {'seconds':>8} {'MB':>6} {'time':>6} {'memory':>7}")
        for name, (seconds, grown, originals, versions) in (
            ("whole index", whole),
            ("one slice", one),
        ):
            print(
                f"{name:<14} {originals:>8,} +{versions:>8,} {seconds:>8.2f} {grown:>6.0f} "
                f"{seconds / whole[0]:>6.2f} {grown / max(whole[1], 1e-9):>7.2f}"
            )
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
