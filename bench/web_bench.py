"""Web API benchmark: ``GET /api/search`` latency on an archive of 100,000 files.

Run from the repository root (PostgreSQL at 127.0.0.1:5432, trust auth, database ``test``;
the PostgreSQL part is skipped, and says so, when it is not reachable):

    .venv/bin/python bench/web_bench.py                  # SQLite, then PostgreSQL
    .venv/bin/python bench/web_bench.py --items 20000 --requests 50 --no-postgresql

What is measured
----------------
A fresh archive (``Archive.open``: migrations included) is filled with synthetic rows
through SQLAlchemy core: ``--items`` media rows (default 100,000), each seen once
through its own embed, 20 embeds to a page (5,000 pages), with update labels, captions
drawn from a 3,000-word vocabulary (Zipf-like: a few words are everywhere, most are
rare), page titles, and platform titles and upload dates on a third of the files.
Capture times spread over two years. No files are written: search reads the index only.
The inserts go through the word-search index's triggers (SQLite) or GIN index
(PostgreSQL) as captures do, so the fill time includes building it.

Each request goes through the whole web app in-process (httpx's ASGI transport):
routing, the security middleware, the read session, the query, ``MediaRecord.to_json``
for every result and the JSON encoding. Query kinds, each ``--requests`` times with
fresh random arguments (after a warm-up):

- ``hash prefix``: ``sha256=`` 10 hex characters of a stored file;
- ``md5 prefix``: ``md5=`` 10 hex characters;
- ``text (rare)``: one rare word; ``text (common)``: one of the commonest words (matches
  about a tenth of the archive); ``text (2 words)``: a common and a mid-frequency word;
- ``date range``: ``since``/``until`` a random 7-day window (about 1,000 files, 100 shown);
- ``upload range``: ``upload_since``/``upload_until`` a random 30-day window;
- ``page``: ``page=`` a random page URL (20 files);
- ``newest 50``: no filter, ``limit=50``.

Results are capped by the API's default ``limit=100``. p50/p95/p99 are printed per kind
with PASS/FAIL against the 100 ms target for p95. PostgreSQL runs in a schema of its own
(``bench_<hex>``) that is dropped at the end; the SQLite archive lives in a temporary
directory that is removed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import insert

from archiver.archive import Archive
from archiver.config import config_from_dict
from archiver.index.models import Embed, Media, Page, Sighting
from archiver.web import create_app

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import support

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGET_MS = 100.0
EMBEDS_PER_PAGE = 20
VOCABULARY = 3000
BATCH = 5000
START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=730)


# ---- synthetic archive -----------------------------------------------------------------------


def _words(rng: random.Random) -> list[str]:
    syllables = ["al", "ep", "po", "ci", "ta", "del", "ma", "rk", "et", "st", "ri", "ke", "ho"]
    syllables += ["ms", "da", "ra", "qa", "sh", "ya", "ne", "ou", "ta", "ib", "id", "lib"]
    found: set[str] = set()
    while len(found) < VOCABULARY:
        found.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return sorted(found)


@dataclass
class Corpus:
    words: list[str]
    weights: list[float]
    rng: random.Random

    def sentence(self, length: int) -> str:
        return " ".join(self.rng.choices(self.words, self.weights, k=length))


def fill(archive: Archive, items: int, seed: int = 7) -> dict[str, Any]:
    """Insert the synthetic rows; returns what the queries draw their arguments from."""
    rng = random.Random(seed)
    words = _words(rng)
    corpus = Corpus(words, [1 / (rank + 1) for rank in range(len(words))], rng)
    pages = max(1, items // EMBEDS_PER_PAGE)
    now = datetime.now(UTC)
    page_rows = [
        {
            "id": p + 1,
            "url": f"https://news.example.org/live/{p}",
            "title": corpus.sentence(6).capitalize(),
            "first_fetched_at": now,
            "last_fetched_at": now,
        }
        for p in range(pages)
    ]
    shas: list[str] = []
    md5s: list[str] = []
    with archive.engine.begin() as connection:
        connection.execute(insert(Page.__table__), page_rows)  # type: ignore[arg-type]
        for start in range(0, items, BATCH):
            media, embeds, sightings = [], [], []
            for i in range(start, min(start + BATCH, items)):
                sha = hashlib.sha256(f"media {i}".encode()).hexdigest()
                md5 = hashlib.md5(f"media {i}".encode()).hexdigest()
                shas.append(sha)
                md5s.append(md5)
                captured = START + SPAN * (i / items) + timedelta(seconds=rng.randint(0, 600))
                platform = i % 3 == 0
                uploaded = captured - timedelta(days=rng.randint(0, 90))
                title = corpus.sentence(5) if platform else None
                update = f"UPDATE {rng.randint(0, 23):02d}00 GMT"
                context = corpus.sentence(14)
                page_id = i // EMBEDS_PER_PAGE + 1 if i // EMBEDS_PER_PAGE < pages else pages
                document = [title or "", context, update, page_rows[page_id - 1]["title"]]
                media.append(
                    {
                        "id": i + 1,
                        "sha256": sha,
                        "md5": md5,
                        "size_bytes": rng.randint(10_000, 50_000_000),
                        "mime_type": "video/mp4" if i % 2 else "image/jpeg",
                        "media_type": "video" if i % 2 else "image",
                        "path": f"media/{sha[:2]}/{sha[2:4]}/{sha}/original.mp4",
                        "first_captured_at": captured,
                        "platform_extractor": "Youtube" if platform else None,
                        "platform_id": f"id{i}" if platform else None,
                        "platform_title": title,
                        "platform_uploader": "Channel" if platform else None,
                        "platform_upload_date": uploaded.date() if platform else None,
                        "search_text": " ".join(p for p in document if p).lower(),
                    }
                )
                url = f"https://cdn.example.org/v/{i}.mp4"
                seen = captured
                embeds.append(
                    {
                        "id": i + 1,
                        "page_id": page_id,
                        "url": url,
                        "original_url": url,
                        "kind": "file",
                        "found_in": "video",
                        "update_label": update,
                        "context": context,
                        "first_seen_at": seen,
                        "last_seen_at": seen,
                    }
                )
                sightings.append(
                    {
                        "media_id": i + 1,
                        "embed_id": i + 1,
                        "media_url": url,
                        "tool": "httpx",
                        "tool_version": "0.28",
                        "archiver_version": "0.1.0",
                        "first_seen_at": seen,
                        "last_seen_at": seen,
                    }
                )
            connection.execute(insert(Media.__table__), media)  # type: ignore[arg-type]
            connection.execute(insert(Embed.__table__), embeds)  # type: ignore[arg-type]
            connection.execute(insert(Sighting.__table__), sightings)  # type: ignore[arg-type]
    if archive.engine.dialect.name == "postgresql":
        with archive.engine.begin() as connection:
            for table in ("media", "pages", "embeds", "sightings"):
                connection.exec_driver_sql(f"ANALYZE {table}")
            for table in ("media", "pages", "embeds", "sightings"):
                connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
    else:
        with archive.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    return {
        "shas": shas,
        "md5s": md5s,
        "pages": [row["url"] for row in page_rows],
        "common": words[:5],
        "mid": words[40:200],
        "rare": words[1500:],
    }


# ---- queries -----------------------------------------------------------------------------------


def query_kinds(
    data: dict[str, Any], rng: random.Random
) -> dict[str, Callable[[], dict[str, str]]]:
    def window(days: int) -> tuple[date, date]:
        first = START + SPAN * rng.random()
        return first.date(), (first + timedelta(days=days - 1)).date()

    def dates() -> dict[str, str]:
        since, until = window(7)
        return {"since": since.isoformat(), "until": until.isoformat()}

    def uploads() -> dict[str, str]:
        since, until = window(30)
        return {"upload_since": since.isoformat(), "upload_until": until.isoformat()}

    return {
        "hash prefix": lambda: {"sha256": rng.choice(data["shas"])[:10]},
        "md5 prefix": lambda: {"md5": rng.choice(data["md5s"])[:10]},
        "text (rare)": lambda: {"text": rng.choice(data["rare"])},
        "text (common)": lambda: {"text": rng.choice(data["common"])},
        "text (2 words)": lambda: {
            "text": f"{rng.choice(data['common'])} {rng.choice(data['mid'])}"
        },
        "date range": dates,
        "upload range": uploads,
        "page": lambda: {"page": rng.choice(data["pages"])},
        "newest 50": lambda: {"limit": "50"},
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


async def measure(
    archive: Archive, data: dict[str, Any], requests: int, seed: int = 11
) -> dict[str, tuple[list[float], float]]:
    """Latency in ms per kind, and the mean number of results."""
    app = create_app(archive)
    rng = random.Random(seed)
    kinds = query_kinds(data, rng)
    transport = httpx.ASGITransport(app=app)
    out: dict[str, tuple[list[float], float]] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8787") as client:
        for name, make in kinds.items():
            for _ in range(5):  # warm-up: caches, prepared statements, the connection pool
                (await client.get("/api/search", params=make())).raise_for_status()
            times: list[float] = []
            counts: list[int] = []
            for _ in range(requests):
                params = make()
                started = time.perf_counter()
                response = await client.get("/api/search", params=params)
                times.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
                counts.append(len(response.json()))
            out[name] = (times, statistics.fmean(counts))
    return out


def report(label: str, results: dict[str, tuple[list[float], float]]) -> bool:
    print(f"\n{label}")
    print(f"  {'query':<16} {'results':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  verdict")
    ok = True
    for name, (times, mean_results) in results.items():
        p50, p95, p99 = (percentile(times, q) for q in (0.5, 0.95, 0.99))
        verdict = "PASS" if p95 < TARGET_MS else "FAIL"
        ok = ok and verdict == "PASS"
        print(
            f"  {name:<16} {mean_results:>8.1f} {p50:>8.1f} {p95:>8.1f} {p99:>8.1f}  "
            f"{verdict} (p95 < {TARGET_MS:.0f} ms)"
        )
    return ok


def run(url: str, root: Path, items: int, requests: int, label: str) -> bool:
    config = config_from_dict({"storage": {"root": str(root)}, "database": {"url": url}})
    with Archive.open(config) as archive:
        started = time.perf_counter()
        data = fill(archive, items)
        print(f"  {label}: {items:,} files inserted in {time.perf_counter() - started:.1f} s")
        results = asyncio.run(measure(archive, data, requests))
    return report(
        f"{label}: GET /api/search over {items:,} files, {requests} requests per kind", results
    )


def pg_schema(base_url: str) -> contextlib.AbstractContextManager[str]:
    """A fresh schema ``bench_...`` (dropped afterwards): the tests' own helper."""
    return support.pg_schema(base_url, prefix="bench")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000, help="files in the archive")
    parser.add_argument("--requests", type=int, default=100, help="timed requests per kind")
    parser.add_argument("--no-postgresql", action="store_true", help="SQLite only")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="PostgreSQL (a schema is made)")
    args = parser.parse_args()
    verdicts: list[bool] = []
    with tempfile.TemporaryDirectory(prefix="web-bench-") as tmp:
        root = Path(tmp)
        verdicts.append(run("", root / "sqlite", args.items, args.requests, "SQLite"))
        if not args.no_postgresql:
            try:
                with pg_schema(args.pg_url) as url:
                    verdicts.append(run(url, root / "pg", args.items, args.requests, "PostgreSQL"))
            except psycopg.OperationalError as exc:
                print(f"\nPostgreSQL skipped: not reachable ({str(exc).splitlines()[0]})")
    print("\noverall:", "PASS" if all(verdicts) else "FAIL (see the kinds marked FAIL)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
