"""How fast embed extraction reads a big live blog and many feed-entry fragments.

Usage: .venv/bin/python bench/extract_bench.py

Prints the median of several runs for a 2 MB live blog (800 updates, 1,600 embeds)
and for 10,000 feed-entry fragments, against the targets: the 2 MB page in under a
second, a fragment in under a millisecond.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_extract import BASE, big_live_blog

from archiver.extract import extract_embeds


def timed(work: object, repeat: int = 5) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()  # type: ignore[operator]
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> None:
    page = big_live_blog()
    fragments = [
        f"<p>Photo {i}:</p><img src='/media/{i}.jpg'><p>and <a href='/x/{i}.mp4'>a clip</a></p>"
        for i in range(10_000)
    ]
    page_seconds = timed(lambda: extract_embeds(page, BASE))
    fragments_seconds = timed(lambda: [extract_embeds(f, BASE) for f in fragments], repeat=3)
    per_fragment_ms = fragments_seconds / len(fragments) * 1000
    print(f"{'case':<34}{'median':>12}{'target':>12}  result")
    print(
        f"{'2 MB live blog (1,600 embeds)':<34}{page_seconds:>11.3f}s{'< 1 s':>12}  "
        f"{'PASS' if page_seconds < 1 else 'FAIL'}"
    )
    print(
        f"{'feed-entry fragment':<34}{per_fragment_ms:>10.3f}ms{'< 1 ms':>12}  "
        f"{'PASS' if per_fragment_ms < 1 else 'FAIL'}"
    )


if __name__ == "__main__":
    main()
