"""One file on many pages: what the editors' report reads for it, before and after.

    .venv/bin/python bench/many_pages_bench.py                # 2,000 pages
    .venv/bin/python bench/many_pages_bench.py --pages 500    # smoke check

A byline photo, a channel's logo clip or one video embedded in every article: one
file seen through one embed URL on ``--pages`` pages, each embed with its sighting
and the same caption. The index is built (SQLite; on disk only that file and, once
written, its sidecar), then each of these runs in a fresh process, which prints its
wall time and how much its peak resident memory grew:

baseline
    The file's search text as it was made until 2026-11-27 (the caption once per
    page), and the archived copies of the embed URL read as they were: the file's
    whole row (search text included) once per page.
now
    The search text as `search_document` makes it now (each caption once), and
    `archived_copies`, which reads the distinct (URL, file) pairs and then each
    file's row once, without its search text.

Both are what ``/editors`` and ``/api/embeds`` do for a page showing that embed, and
what the daemon does when the URL turns dead.

A second table times what each new sighting of that file costs its sidecar, which
lists every sighting (the issue asks for that, so the file grows with the pages):

sidecar rewrite
    ``Capturer.rewrite_sidecar``: the index read, the document built and written
    atomically (fsync, rename).
floor
    The same bytes written atomically by ``write_atomic``: what any rewrite of a file
    that size costs.

Exits 0.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from _child import in_child, timed  # type: ignore[import-not-found]
from sqlalchemy import insert, select, update
from sqlalchemy.orm import undefer

from archiver.archive import Archive
from archiver.capture import Capturer
from archiver.config import config_from_dict
from archiver.index.models import Embed, Media, Page, Sighting, utcnow
from archiver.index.records import search_document
from archiver.index.textindex import fold_text
from archiver.liveness.report import archived_copies
from archiver.store.atomic import write_atomic
from archiver.store.layout import SIDECAR

URL = "https://cdn.news.test/files/front-line-map.jpg"
HEADERS = {"content-type": "image/jpeg", "content-length": "250000", "etag": '"5f1c-9a"'}
CAPTION = "Rebels denied any advance by regime forces, posting video of their fighters:"


def _config(root: Path) -> dict[str, object]:
    return {"storage": {"root": str(root)}}


def build(root: Path, pages: int) -> None:
    now = utcnow()
    sha = hashlib.sha256(b"the map").hexdigest()
    with Archive.open(config_from_dict(_config(root))) as archive, archive.engine.begin() as db:
        archive.layout.media_dir(sha).mkdir(parents=True)
        (archive.layout.media_dir(sha) / "original.jpg").write_bytes(b"the map")
        db.execute(
            insert(Media),
            [{"id": 1, "sha256": sha, "md5": sha[:32], "size_bytes": 250_000,
              "mime_type": "image/jpeg", "media_type": "image",
              "path": f"media/{sha[:2]}/{sha[2:4]}/{sha}/original.jpg",
              "first_captured_at": now,
              "search_text": fold_text(" ".join([CAPTION, "UPDATE 1800 GMT"] * pages))}],
        )  # fmt: skip
        db.execute(
            insert(Page),
            [{"id": n + 1, "url": f"https://news.test/story-{n}", "first_fetched_at": now,
              "last_fetched_at": now} for n in range(pages)],
        )  # fmt: skip
        db.execute(
            insert(Embed),
            [{"id": n + 1, "page_id": n + 1, "url": URL, "original_url": URL, "kind": "file",
              "found_in": "img", "update_label": "UPDATE 1800 GMT", "context": CAPTION,
              "first_seen_at": now, "last_seen_at": now} for n in range(pages)],
        )  # fmt: skip
        db.execute(
            insert(Sighting),
            [{"media_id": 1, "embed_id": n + 1, "media_url": URL, "tool": "httpx",
              "tool_version": "0.28.1", "archiver_version": "0.1.0", "http_status": 200,
              "response_headers": HEADERS, "first_seen_at": now, "last_seen_at": now}
             for n in range(pages)],
        )  # fmt: skip


def _baseline_copies(archive: Archive) -> int:
    """The query `archived_copies` ran until 2026-11-27: the file's row once per page,
    its search text with it (not deferred then)."""
    with archive.read_session() as session:
        found: dict[str, dict[str, Media]] = {}
        rows = session.execute(
            select(Embed.url, Media)
            .join(Sighting, Sighting.embed_id == Embed.id)
            .join(Media, Media.id == Sighting.media_id)
            .where(Embed.url.in_([URL]))
            .options(undefer(Media.search_text))
        )
        for url, media in rows:
            found.setdefault(url, {})[media.sha256] = media
        return len(found[URL])


def _copies(archive: Archive) -> int:
    with archive.read_session() as session:
        return len(archived_copies(session, {URL})[URL])


def measure(root: Path, which: str) -> None:
    """Child process: print wall seconds, peak RSS growth and the search text's length
    (or the sidecar's size)."""
    with Archive.open(config_from_dict(_config(root)), migrate_schema=False) as archive:
        if which in ("sidecar", "floor"):
            sidecar = archive.layout.media_dir(hashlib.sha256(b"the map").hexdigest()) / SIDECAR
            data = sidecar.read_bytes() if which == "floor" else b""
            import archiver.duplicates  # noqa: F401  (imported at a capture's first file)

            if which == "sidecar":
                _, seconds, grown = timed(lambda: Capturer(archive).rewrite_sidecar(1))
            else:
                tmp = archive.layout.process_tmp()
                _, seconds, grown = timed(lambda: write_atomic(sidecar, [data], tmp_dir=tmp))
            print(json.dumps([seconds, grown, sidecar.stat().st_size]))
            return
        if which == "now":
            with archive.session() as session:
                media = session.get_one(Media, 1)
                session.execute(update(Media).values(search_text=search_document(session, media)))
        with archive.read_session() as session:
            length = len(session.scalar(select(Media.search_text)) or "")
        copies = _baseline_copies if which == "baseline" else _copies
        files, seconds, grown = timed(lambda: copies(archive))
        assert files == 1
        print(json.dumps([seconds, grown, length]))


def run(root: Path, which: str) -> tuple[float, float, int]:
    seconds, grown, length = in_child(__file__, "--child", which, "--dir", str(root))
    return seconds, grown, length


def _table(size: str, rows: list[tuple[str, tuple[float, float, int]]]) -> None:
    """Each row's size, time and memory growth, and its ratios to the first row's."""
    base = rows[0][1]
    print(f"{'':<16} {size:>13} {'seconds':>8} {'MB':>7} {'time':>7} {'memory':>7}")
    for name, (seconds, grown, length) in rows:
        print(
            f"{name:<16} {length:>13,} {seconds:>8.3f} {grown:>7.1f} "
            f"{seconds / base[0]:>7.3f} {grown / max(base[1], 0.1):>7.3f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument(
        "--child", choices=("baseline", "now", "sidecar", "floor"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        measure(args.dir, args.child)
        return 0
    work = Path(tempfile.mkdtemp(prefix="many-pages-bench-", dir=args.dir))
    try:
        root = work / "storage"
        build(root, args.pages)
        print(
            f"many_pages_bench: one file through one URL on {args.pages:,} pages; load "
            "average " + " ".join(f"{x:.1f}" for x in os.getloadavg())
        )
        _table("search text", [("baseline", run(root, "baseline")), ("now", run(root, "now"))])
        print()
        rewrite, floor = run(root, "sidecar"), run(root, "floor")
        _table("sidecar bytes", [("floor", floor), ("sidecar rewrite", rewrite)])
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
