"""Fixity benchmark: ``verify_archive`` against ``sha256sum`` on the same files, in one run.

    .venv/bin/python bench/verify_bench.py                  # 2 GiB, 3 rounds (~2-4 min)
    .venv/bin/python bench/verify_bench.py --size 256MiB --rounds 1   # smoke check
    .venv/bin/python bench/verify_bench.py --dir /srv/archive-disk    # the disk to measure

Builds a throwaway archive (SQLite) in a temporary folder under ``--dir``: originals
of three sizes (half the bytes in 256 MiB videos, 30 % in 8 MiB ones, 20 % in
256 KiB photos), each with different random bytes, placed with the store's own
functions, indexed, and given a sidecar; the whole folder is deleted at the end.

Each round runs the two one after the other, so machine noise hits them alike:

sha256sum
    ``sha256sum`` (coreutils) over every original, one process: the plain tool an
    archivist would reach for. Its rate is original bytes / wall time.
archiver verify
    ``verify_archive(archive)``, exactly what ``archiver verify`` runs: loading the
    index, re-hashing every original (several threads), reading and comparing every
    sidecar, the orphan walk, the event-chain check, recording the ``fixity`` entry.
    Its rate is bytes hashed / wall time of the whole run.

Both are measured twice per round: ``cold``, after evicting every file of the
archive from the page cache (``posix_fadvise(DONTNEED)`` after a ``sync``), which is
the disk speed the target is about; and ``warm``, with the files cached, where the
hashing itself is the limit. The ratio is archiver / sha256sum on the median rates;
the target is at least 0.80 for both. Exit code 0 when both pass, 1 otherwise. The
load average is printed before and after: other work on the machine slows both.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from archiver.archive import Archive
from archiver.config import config_from_dict, parse_size
from archiver.index.models import Media, utcnow
from archiver.integrity.fixity import verify_archive
from archiver.store.objects import place_original
from archiver.store.sidecar import media_document, write_sidecar

TARGET = 0.80
MiB = 1024 * 1024
SIZES = ((256 * MiB, 0.5), (8 * MiB, 0.3), (256 * 1024, 0.2))  # file size, share of bytes


def plan(total: int) -> list[int]:
    sizes: list[int] = []
    for size, share in SIZES:
        sizes += [size] * max(1, round(total * share / size))
    return sizes


def generate(archive: Archive, sizes: list[int]) -> list[Path]:
    """Random originals, placed, indexed and with a sidecar, as a capture leaves them."""
    block = os.urandom(64 * MiB)
    tmp = archive.layout.process_tmp()
    tmp.mkdir(parents=True, exist_ok=True)
    placed: list[tuple[Path, str, str, int]] = []
    for i, size in enumerate(sizes):
        sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
        part = tmp / f"bench-{i}.part"
        with part.open("wb") as sink:
            head = os.urandom(64)  # every file has different bytes
            offset = (i * 7919 * 4096) % len(block)
            written = 0
            while written < size:
                if written == 0:
                    chunk = head
                else:
                    end = min(offset + size - written, len(block))
                    chunk = block[offset:end]
                    offset = end % len(block)
                sha256.update(chunk)
                md5.update(chunk)
                sink.write(chunk)
                written += len(chunk)
        path = place_original(archive.layout, part, sha256.hexdigest(), "mp4")
        placed.append((path, sha256.hexdigest(), md5.hexdigest(), size))
    now = utcnow()
    with archive.session() as session:
        for path, sha, md5_hex, size in placed:
            media = Media(
                sha256=sha,
                md5=md5_hex,
                size_bytes=size,
                mime_type="video/mp4",
                media_type="video",
                path=archive.layout.relative(path),
                first_captured_at=now,
            )
            session.add(media)
            session.flush()
            write_sidecar(path.parent, media_document(session, media, path.parent), tmp)
    return [path for path, *_ in placed]


def evict(root: Path) -> None:
    """Drop the archive's files from the page cache, so the next read comes from disk."""
    os.sync()
    for path in root.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def time_sha256sum(paths: list[Path]) -> float:
    started = time.perf_counter()
    batch = 500  # keep each command line well under ARG_MAX
    for start in range(0, len(paths), batch):
        subprocess.run(
            ["sha256sum", "--", *map(str, paths[start : start + batch])],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return time.perf_counter() - started


def time_verify(archive: Archive, expected_bytes: int) -> float:
    started = time.perf_counter()
    report = verify_archive(archive)
    elapsed = time.perf_counter() - started
    if not report.ok or report.bytes_hashed != expected_bytes:
        sys.exit(f"verify_bench: the archive did not verify: {report.lines()[-2:]}")
    return elapsed


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="2GiB", help="total size of the originals")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where to build the archive")
    args = parser.parse_args()
    if shutil.which("sha256sum") is None:
        sys.exit("verify_bench: sha256sum (coreutils) is needed for the comparison")

    sizes = plan(parse_size(args.size))
    total = sum(sizes)
    work = Path(tempfile.mkdtemp(prefix="verify-bench-", dir=args.dir))
    try:
        config = config_from_dict({"storage": {"root": str(work / "storage")}})
        with Archive.open(config) as archive:
            started = time.perf_counter()
            paths = generate(archive, sizes)
            counts = ", ".join(f"{sizes.count(s)} x {s // 1024} KiB" for s, _ in SIZES)
            print(
                f"verify_bench: {len(paths)} originals, {total / 2**30:.2f} GiB ({counts}) "
                f"under {work}, built in {time.perf_counter() - started:.1f} s; "
                f"{os.cpu_count()} CPUs, load average {_load()}"
            )
            rates: dict[tuple[str, str], list[float]] = {}
            for round_no in range(1, args.rounds + 1):
                for cache in ("cold", "warm"):
                    if cache == "cold":
                        evict(archive.layout.root)
                    else:
                        time_sha256sum(paths)  # fill the cache
                    tool = time_sha256sum(paths)
                    if cache == "cold":
                        evict(archive.layout.root)
                    ours = time_verify(archive, total)
                    rates.setdefault((cache, "sha256sum"), []).append(total / tool / 1e6)
                    rates.setdefault((cache, "archiver"), []).append(total / ours / 1e6)
                    print(
                        f"round {round_no} {cache}: sha256sum {total / tool / 1e6:7.0f} MB/s, "
                        f"archiver verify {total / ours / 1e6:7.0f} MB/s"
                    )
        print(f"load average {_load()}")
        passed = True
        print(f"{'cache':<6} {'sha256sum MB/s':>15} {'archiver MB/s':>14} {'ratio':>6}  result")
        for cache in ("cold", "warm"):
            tool = statistics.median(rates[(cache, "sha256sum")])
            ours = statistics.median(rates[(cache, "archiver")])
            ratio = ours / tool
            verdict = "PASS" if ratio >= TARGET else "FAIL"
            passed &= ratio >= TARGET
            print(f"{cache:<6} {tool:>15.0f} {ours:>14.0f} {ratio:>6.2f}  {verdict} (>= {TARGET})")
        return 0 if passed else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
