"""The floor for ``capture_bench``: fetch files concurrently with plain httpx, nothing more.

Run as its own process (so it shares no interpreter with the fixture server):

    python bench/_capture_floor.py --concurrency 4 --out DIR URL [URL ...]

Each URL is streamed to a file in DIR and hashed with SHA-256 as it arrives, the
necessary work of archiving a file (download, write, hash). No database, no
sidecars, no fsync, no type sniffing. Prints one ``<sha256> <bytes> <url>`` line
per file; exits 1 if any download failed.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx


def fetch(client: httpx.Client, url: str, target: Path) -> tuple[str, int]:
    """Stream ``url`` into ``target``; return its SHA-256 and size."""
    digest = hashlib.sha256()
    size = 0
    with client.stream("GET", url) as response, target.open("wb") as sink:
        response.raise_for_status()
        for chunk in response.iter_raw():
            digest.update(chunk)
            sink.write(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("urls", nargs="+")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    limits = httpx.Limits(max_connections=args.concurrency)
    with (
        httpx.Client(limits=limits, timeout=30.0, trust_env=False) as client,
        ThreadPoolExecutor(args.concurrency) as pool,
    ):
        futures = [
            pool.submit(fetch, client, url, args.out / f"{index:03d}.bin")
            for index, url in enumerate(args.urls)
        ]
        failed = 0
        for url, future in zip(args.urls, futures, strict=True):
            try:
                sha256, size = future.result()
            except (httpx.HTTPError, OSError) as exc:
                print(f"failed: {url}: {exc}", file=sys.stderr)
                failed += 1
                continue
            print(f"{sha256} {size} {url}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
