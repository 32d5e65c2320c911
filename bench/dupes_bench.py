"""Near-duplicate detection quality: precision and recall per re-upload transform.

    .venv/bin/python bench/dupes_bench.py [--quick] [--keep]

Builds distinct clips (a camera moving over real photographs, including hard negatives
filmed in the same style) and distinct photos, applies the re-upload transforms of
bench/_transforms.py, fingerprints everything and decides every pair with
`archiver.match.compare`. Two baselines run on the same videos (bench/_baselines.py):
the ``videohash`` method and pHash of the middle frame. For each baseline the best
threshold in hindsight is reported too, so the margin is not an artefact of a badly
chosen cut. The index is checked against `compare`: every item is queried and must
return exactly the items `compare` matches.

--quick uses the smaller set of the test suite; --keep reuses bench/.out/dupes when it
was built from the same transforms.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import _baselines as B  # noqa: E402
import _transforms as T  # noqa: E402
from _evaluate import Counts, Report, evaluate  # noqa: E402

from archiver.hashing import ImageFingerprint, VideoFingerprint, fingerprint  # noqa: E402
from archiver.match import FingerprintIndex, compare  # noqa: E402

PRECISION_TARGET = 0.99
RECALL_TARGET = 0.95
PER_TRANSFORM_TARGET = 0.90
MARGIN_TARGET = 0.10  # F1 over each baseline's best threshold

Fingerprint = ImageFingerprint | VideoFingerprint


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def f1(c: Counts) -> float:
    p, r = c.precision, c.recall
    return 2 * p * r / (p + r) if p + r else 0.0


def build(directory: Path, quick: bool) -> tuple[list[T.Item], list[T.Item]]:
    clips = T.TEST_CLIPS if quick else T.BENCH_CLIPS
    photos = T.TEST_PHOTOS if quick else T.BENCH_PHOTOS
    return T.build_videos(clips, directory / "videos"), T.build_photos(photos, directory / "photos")


def material(args: argparse.Namespace) -> tuple[list[T.Item], list[T.Item], Path | None]:
    """Generate (or, with --keep, reuse) the clips and photos."""
    stamp = hashlib.sha256((HERE / "_transforms.py").read_bytes()).hexdigest()[:16]
    stamp += "-quick" if args.quick else "-full"
    if args.keep:
        directory = HERE / ".out" / "dupes"
        if (directory / "stamp").exists() and (directory / "stamp").read_text() == stamp:
            clips = T.TEST_CLIPS if args.quick else T.BENCH_CLIPS
            photos = T.TEST_PHOTOS if args.quick else T.BENCH_PHOTOS
            return (*_listing(directory, clips, photos), None)
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        videos, images = build(directory, args.quick)
        (directory / "stamp").write_text(stamp)
        return videos, images, None
    directory = Path(tempfile.mkdtemp(prefix="dupes_bench_"))
    videos, images = build(directory, args.quick)
    return videos, images, directory


def _listing(
    directory: Path, clips: list[T.ClipSpec], photos: list[T.PhotoSpec]
) -> tuple[list[T.Item], list[T.Item]]:
    videos = [T.Item(c.name, "original", directory / "videos" / f"{c.name}.mp4") for c in clips]
    videos += [
        T.Item(c.name, t, directory / "videos" / f"{c.name}.{t}.mp4")
        for c in clips
        for t in T.VIDEO_TRANSFORMS
    ]
    images = [T.Item(p.name, "original", directory / "photos" / f"{p.name}.jpg") for p in photos]
    images += [
        T.Item(p.name, t, directory / "photos" / f"{p.name}.{t}.jpg")
        for p in photos
        for t in T.PHOTO_TRANSFORMS
    ]
    return videos, images


def table(title: str, columns: dict[str, Report]) -> None:
    """Precision/recall per transform, one column pair per method."""
    print(f"\n{title}")
    names = list(columns)
    header = f"  {'transform':24s}" + "".join(f"{n:>22s}" for n in names)
    print(header)
    print(f"  {'':24s}" + "".join(f"{'precision  recall':>22s}" for _ in names))
    first = columns[names[0]]
    for transform in first.per_transform:
        row = f"  {transform:24s}"
        for n in names:
            c = columns[n].per_transform[transform]
            row += f"{c.precision:>12.3f}{c.recall:>10.3f}"
        print(row)
    for label, pick in (
        ("overall (original-copy)", lambda r: r.overall),
        ("copy-copy (recall)", lambda r: r.copy_to_copy),
    ):
        row = f"  {label:24s}"
        for n in names:
            c = pick(columns[n])
            row += f"{c.precision:>12.3f}{c.recall:>10.3f}"
        print(row)
    row = f"  {'hard-negative pairs FP':24s}"
    for n in names:
        r = columns[n]
        row += f"{f'{r.hard_negative_fp}/{r.hard_negative_pairs}':>22s}"
    print(row)


def best_threshold(
    items: Sequence[T.Item], hashes: list[int | None], hard: Sequence[tuple[str, str]]
) -> tuple[int, Report]:
    """The baseline's best overall F1 over every distance threshold (hindsight)."""
    best: tuple[float, int, Report] | None = None
    for limit in range(0, 33):
        report = evaluate(
            items, lambda i, j, cut=limit: B.hamming(hashes[i], hashes[j]) <= cut, hard
        )
        score = f1(report.overall)
        if best is None or score > best[0]:
            best = (score, limit, report)
    assert best is not None
    return best[1], best[2]


def check_targets(label: str, ours: Report, baselines: dict[str, Report]) -> bool:
    o = ours.overall
    worst = min(ours.per_transform.items(), key=lambda kv: kv[1].recall)
    ok_p, ok_r = o.precision >= PRECISION_TARGET, o.recall >= RECALL_TARGET
    ok_t = all(
        c.recall >= PER_TRANSFORM_TARGET and c.precision >= PER_TRANSFORM_TARGET
        for c in ours.per_transform.values()
    )
    print(f"\n{label} targets")
    print(f"  overall precision {o.precision:.3f} >= {PRECISION_TARGET}: {verdict(ok_p)}")
    print(f"  overall recall    {o.recall:.3f} >= {RECALL_TARGET}: {verdict(ok_r)}")
    print(
        f"  every transform >= {PER_TRANSFORM_TARGET} (worst: {worst[0]} recall "
        f"{worst[1].recall:.3f}): {verdict(ok_t)}"
    )
    ok = ok_p and ok_r and ok_t
    for name, report in baselines.items():
        margin = f1(o) - f1(report.overall)
        good = margin >= MARGIN_TARGET
        ok &= good
        print(
            f"  F1 {f1(o):.3f} vs {name} {f1(report.overall):.3f}: margin {margin:+.3f} "
            f">= {MARGIN_TARGET}: {verdict(good)}"
        )
    return ok


def fingerprint_all(items: Sequence[T.Item], kind: str) -> list[Fingerprint]:
    return [fingerprint(it.path, kind) for it in items]  # type: ignore[arg-type]


def index_agreement(items: Sequence[T.Item], fps: Sequence[Fingerprint]) -> tuple[int, int]:
    """Pairs `compare` matches that an index query misses, and the other way round."""
    index = FingerprintIndex()
    for key, fp in enumerate(fps):
        index.add(key, fp)
    missed = extra = 0
    for key, fp in enumerate(fps):
        got = {k for k, _ in index.query(fp, limit=len(fps))} - {key}
        want = {j for j, other in enumerate(fps) if j != key and compare(fp, other)}
        missed += len(want - got)
        extra += len(got - want)
    return missed, extra


def decide_with(fps: Sequence[Fingerprint]) -> Callable[[int, int], bool]:
    return lambda i, j: compare(fps[i], fps[j]) is not None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the small set of the tests")
    parser.add_argument("--keep", action="store_true", help="reuse bench/.out/dupes")
    args = parser.parse_args()
    started = time.perf_counter()
    videos, photos, scratch = material(args)
    hard_v = [] if args.quick else T.BENCH_HARD_PAIRS
    hard_p = [] if args.quick else T.BENCH_PHOTO_HARD_PAIRS
    print(
        f"material: {len(videos)} videos from {len({v.source for v in videos})} distinct clips,"
        f" {len(photos)} photos from {len({p.source for p in photos})} distinct photos"
        f" ({time.perf_counter() - started:.0f} s)"
    )

    t0 = time.perf_counter()
    video_fps = fingerprint_all(videos, "video")
    photo_fps = fingerprint_all(photos, "image")
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        vh = list(pool.map(lambda it: B.videohash(it.path), videos))
    mid = [B.middle_frame_phash(it.path) for it in videos]
    t_base = time.perf_counter() - t0
    print(f"fingerprints: archiver {t_ours:.1f} s, baselines {t_base:.1f} s")

    ours_v = evaluate(videos, decide_with(video_fps), hard_v)
    vh_r = evaluate(videos, lambda i, j: B.hamming(vh[i], vh[j]) <= B.VIDEOHASH_MAX, hard_v)
    mid_r = evaluate(videos, lambda i, j: B.hamming(mid[i], mid[j]) <= B.MIDFRAME_MAX, hard_v)
    vh_t, vh_best = best_threshold(videos, vh, hard_v)
    mid_t, mid_best = best_threshold(videos, mid, hard_v)
    table(
        "VIDEOS: pairwise precision / recall",
        {
            "archiver": ours_v,
            f"videohash <={B.VIDEOHASH_MAX}": vh_r,
            f"videohash best <={vh_t}": vh_best,
            f"mid-frame pHash <={B.MIDFRAME_MAX}": mid_r,
            f"mid-frame best <={mid_t}": mid_best,
        },
    )
    ours_p = evaluate(photos, decide_with(photo_fps), hard_p)
    table("PHOTOS: pairwise precision / recall", {"archiver": ours_p})

    for label, report in (("videos", ours_v), ("photos", ours_p)):
        wrong = [p for c in report.per_transform.values() for p in c.false_pairs]
        if wrong:
            print(f"\n{label}: missed or false pairs ({len(wrong)}), first 30:")
            for a, b in wrong[:30]:
                print(f"  {a}  <->  {b}")

    missed, extra = index_agreement(videos + photos, video_fps + photo_fps)
    print(f"\nindex vs compare over all items: {missed} missed, {extra} extra")

    ok = check_targets(
        "VIDEOS",
        ours_v,
        {f"videohash (best <={vh_t})": vh_best, f"mid-frame (best <={mid_t})": mid_best},
    )
    ok &= check_targets("PHOTOS", ours_p, {})
    print(f"\nall quality targets: {verdict(ok)}   ({time.perf_counter() - started:.0f} s)")
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
