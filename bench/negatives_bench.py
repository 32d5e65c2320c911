"""Photo precision on extra negatives: many sources that look alike, every pair decided.

    .venv/bin/python bench/negatives_bench.py [--keep]

91 sources (bench/_transforms.py `NEGATIVE_PHOTOS`: 3 x 3 non-overlapping tiles of the
retina, Hubble, rocket and astronaut photographs, 50 faces of scikit-image's LFW subset
scaled up, five other scikit-image pictures), each saved as an original and with the six
photo transforms of bench/dupes_bench.py: 637 photos, 200,655 pairs of different
sources. Every pair is decided with archiver's matcher (`archiver.match.compare`'s
rules on the stored fingerprints), and the index is checked against those decisions.

Prints the pairs of different sources that were flagged (grouped by the two sources),
the closest different-source pairs below the threshold (the margin), and recall within
the set per transform. Target: overall precision >= 0.99; the goal is no false pair.
Everything ships with scikit-image (nothing is downloaded). --keep reuses
bench/.out/negatives when it was built from the same material.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import _transforms as T  # noqa: E402
from _evaluate import evaluate, label  # noqa: E402
from dupes_bench import PRECISION_TARGET, table, verdict  # noqa: E402

from archiver.hashing import ImageFingerprint, fingerprint  # noqa: E402
from archiver.match import DECISION, FingerprintIndex, Match  # noqa: E402
from archiver.match.compare import pack_image, score_images  # noqa: E402

#: How many of the closest different-source pairs below the threshold are listed.
CLOSEST = 10


def material(keep: bool) -> tuple[list[T.Item], Path | None]:
    """Generate (or, with `keep`, reuse) the photos; the scratch directory to remove."""
    stamp = hashlib.sha256((HERE / "_transforms.py").read_bytes()).hexdigest()[:16]
    if not keep:
        directory = Path(tempfile.mkdtemp(prefix="negatives_bench_"))
        return T.build_photos(T.NEGATIVE_PHOTOS, directory), directory
    directory = HERE / ".out" / "negatives"
    if (directory / "stamp").exists() and (directory / "stamp").read_text() == stamp:
        items = []
        for spec in T.NEGATIVE_PHOTOS:
            items.append(T.Item(spec.name, "original", directory / f"{spec.name}.jpg"))
            items += [
                T.Item(spec.name, t, directory / f"{spec.name}.{t}.jpg") for t in T.PHOTO_TRANSFORMS
            ]
        return items, None
    shutil.rmtree(directory, ignore_errors=True)
    items = T.build_photos(T.NEGATIVE_PHOTOS, directory)
    (directory / "stamp").write_text(stamp)
    return items, None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="reuse bench/.out/negatives")
    args = parser.parse_args()
    started = time.perf_counter()
    items, scratch = material(args.keep)
    sources = len({it.source for it in items})
    print(f"material: {len(items)} photos from {sources} distinct sources")

    t0 = time.perf_counter()
    fps: list[ImageFingerprint] = []
    for it in items:
        fp = fingerprint(it.path, "image")
        assert isinstance(fp, ImageFingerprint)
        fps.append(fp)
    packed = [pack_image(fp) for fp in fps]
    print(f"fingerprints: {time.perf_counter() - t0:.1f} s")

    # `compare` on packed fingerprints (packed once, not once per pair).
    scores: dict[tuple[int, int], Match] = {}

    def decide(i: int, j: int) -> bool:
        match = score_images(packed[i], packed[j])
        if match is None:
            return False
        scores[i, j] = match
        return match.similarity >= DECISION

    t0 = time.perf_counter()
    report = evaluate(items, decide)
    print(f"pairs decided: {time.perf_counter() - t0:.1f} s")
    table("EXTRA NEGATIVES: pairwise precision / recall", {"archiver": report})

    different = {
        pair: m for pair, m in scores.items() if items[pair[0]].source != items[pair[1]].source
    }
    false = sorted(
        ((p, m) for p, m in different.items() if m.similarity >= DECISION),
        key=lambda pm: -pm[1].similarity,
    )
    per_source = Counter(it.source for it in items)
    negatives = len(items) * (len(items) - 1) // 2 - sum(
        k * (k - 1) // 2 for k in per_source.values()
    )
    print(
        f"\ndifferent-source pairs: {negatives:,}, verified by alignment or hashes: "
        f"{len(different):,}, flagged: {len(false)}"
    )
    if false:
        by_sources = Counter(
            " / ".join(sorted((items[i].source, items[j].source))) for (i, j), _ in false
        )
        print("false pairs by sources:")
        for names, count in by_sources.most_common():
            print(f"  {count:4d}  {names}")
        print("false pairs (best first):")
        for (i, j), m in false:
            print(f"  {m.similarity:.3f} {m.method:24s} {label(items[i])}  <->  {label(items[j])}")
    below = sorted(
        ((p, m) for p, m in different.items() if m.similarity < DECISION),
        key=lambda pm: -pm[1].similarity,
    )[:CLOSEST]
    print(f"closest different-source pairs below the threshold ({DECISION}):")
    for (i, j), m in below:
        print(f"  {m.similarity:.3f} {m.method:24s} {label(items[i])}  <->  {label(items[j])}")
    print(f"missed original-copy pairs: {report.overall.fn}")
    for transform, counts in report.per_transform.items():
        missed = [
            a.split(":")[0] for a, b in counts.false_pairs if a.split(":")[0] == b.split(":")[0]
        ]
        if missed:
            print(f"  {transform:18s} {' '.join(missed)}")

    index = FingerprintIndex()
    for key, fp in enumerate(fps):
        index.add(key, fp)
    flagged = {p for p, m in scores.items() if m.similarity >= DECISION}
    flagged |= {(j, i) for i, j in flagged}
    lost: list[tuple[int, int]] = []
    extra: list[tuple[int, int]] = []
    for key, fp in enumerate(fps):
        got = {k for k, _ in index.query(fp, limit=len(fps))} - {key}
        want = {j for j in range(len(fps)) if (key, j) in flagged}
        lost += [(key, j) for j in sorted(want - got)]
        extra += [(key, j) for j in sorted(got - want)]
    print(f"index vs compare over all items: {len(lost)} missed, {len(extra)} extra")
    for kind, pairs in (("missed", lost), ("extra", extra)):
        for i, j in pairs:
            print(f"  {kind}: query {label(items[i])}  ->  {label(items[j])}")

    o = report.overall
    ok = o.precision >= PRECISION_TARGET
    print("\nEXTRA NEGATIVES targets")
    print(f"  overall precision {o.precision:.3f} >= {PRECISION_TARGET}: {verdict(ok)}")
    print(f"  false pairs {o.fp} (goal 0)   recall in the set {o.recall:.3f} (no target)")
    print(f"\nall targets: {verdict(ok)}   ({time.perf_counter() - started:.0f} s)")
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
