"""Decision rules: when two fingerprints show the same picture or the same footage.

Precision comes first: a false flag costs an investigator a day, a missed copy only
leaves two records unlinked. Every rule is documented in docs/matching.md together with
the evaluation that set its thresholds.

Similarity is on one scale for every method: 1.0 is identical, `DECISION` (0.8) is the
decision threshold, 0 is unrelated; each method maps its raw measure onto it linearly
(`distance_similarity`, `coverage_similarity`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from archiver.hashing.model import ImageFingerprint, VideoFingerprint
from archiver.hashing.thumbnail import GATE_NAMES, gate_hashes

from .align import align_score
from .bits import Words, distances, pack

#: Similarity at the decision threshold, whatever the method.
DECISION = 0.8

# Images: PDQ (256 bits), straight or mirrored, at distance <= IMAGE_PDQ_MAX.
IMAGE_PDQ_MAX = 31
#: Images whose PDQ quality is below this (near-uniform) match nothing.
IMAGE_MIN_QUALITY = 20
# Crops: one image's centred 92% window against the other's picture (either way round),
# at PDQ distance <= IMAGE_WINDOW_MAX *and* pHash distance <= IMAGE_WINDOW_PHASH of the
# same two pictures (two hashes must agree for this looser match).
IMAGE_WINDOW_MAX = 48
IMAGE_WINDOW_PHASH = 6
# Fingerprints with thumbnails (v4): the rules above and the gate only propose
# candidates; the thumbnails' alignment score (`align.align_score`, -1..1) decides.
#: A candidate: gate hashes (picture or a grid window against the other's picture)
#: within this many bits of 64, straight or mirrored.
IMAGE_GATE_MAX = 14
#: The alignment score at the decision threshold.
IMAGE_ALIGN_MIN = 0.45
#: The index verifies at most this many candidates per query, nearest gate first.
IMAGE_MAX_CANDIDATES = 32

# Videos.
FRAME_MAX = 12  # a frame matches a frame at pHash distance <= this (of 64)
MIN_COVERAGE = 0.5  # share of a clip's frames that must find their match
MIN_FRAMES = 4  # and never fewer matched frames (of different looks) than this
#: Frames within this many bits of the first frame of their run are one look: a still
#: picture or a static shot is one piece of evidence however many frames it lasts.
SAME_LOOK = 4
#: Equal stretches a clip's length is cut into, to tell how far its counted frames
#: spread (`_covered`); a clip of fewer sampled frames is cut into as many.
PARTS = 8
OFFSET_TOLERANCE = 1.5  # matched frames agree on the time shift within this many intervals
_PAIRS = 1 << 20  # frame pairs compared or listed at a time


@dataclass(frozen=True)
class Match:
    """Why two fingerprints were found alike: similarity (0..1) and the rule that fired."""

    similarity: float
    method: str


def distance_similarity(distance: float, threshold: float) -> float:
    """Map a distance onto the shared scale: 0 -> 1.0, `threshold` -> DECISION, linear."""
    return max(0.0, 1.0 - (1.0 - DECISION) * distance / threshold)


# --- images --------------------------------------------------------------------------


@dataclass(frozen=True)
class PackedImage:
    """An image fingerprint as arrays, for vectorised comparison.

    ``pdq`` holds the hashes compared straight (the picture, and the image as stored
    when a border was trimmed); ``pdq_mirror`` the mirrored ones. ``window`` is the
    centred 92% window's PDQ (straight, mirrored: 2 x 4) and ``phash`` the pHashes of
    the picture and of the window (picture, picture mirrored, window, window
    mirrored); both are None for fingerprints without a window.
    """

    pdq: Words  # K x 4
    pdq_mirror: Words  # K x 4
    quality: int
    window: Words | None = None  # 2 x 4
    phash: tuple[int, int, int, int] | None = None
    gate: Words | None = None  # 10: picture, then the grid windows (straight)
    thumbnail: npt.NDArray[np.uint8] | None = None

    @property
    def aligned(self) -> bool:
        """Whether matches of this image are decided by aligning thumbnails.

        Stored images are packed without their thumbnail (it is loaded for the few
        candidates to verify), so this is told by the gate hashes alone.
        """
        return self.gate is not None

    @functools.cached_property
    def gate_mirror(self) -> Words:
        """The gate hashes of the mirror image (from the thumbnail; computed once)."""
        assert self.thumbnail is not None
        return np.array(gate_hashes(np.ascontiguousarray(self.thumbnail[:, ::-1])), np.uint64)


def pack_image(fp: ImageFingerprint) -> PackedImage:
    h = fp.hashes
    suffixes = ["", "_full"] if "pdq_full" in h else [""]
    names = ("phash", "phash_mirror", "phash_c92", "phash_c92_mirror")
    windowed = "pdq_c92" in h and "pdq_c92_mirror" in h and all(n in h for n in names)
    gated = all(n in h for n in GATE_NAMES)
    return PackedImage(
        pack([h[f"pdq{s}"] for s in suffixes], 4),
        pack([h[f"pdq{s}_mirror"] for s in suffixes], 4),
        int(h.get("pdq_quality", 0)),
        pack([h["pdq_c92"], h["pdq_c92_mirror"]], 4) if windowed else None,
        (h[names[0]], h[names[1]], h[names[2]], h[names[3]]) if windowed else None,
        np.array([h[n] for n in GATE_NAMES], np.uint64) if gated else None,
        fp.thumbnail,
    )


def query_gates(a: PackedImage) -> tuple[Words, Words]:
    """`a`'s gate hashes straight and of its mirror image (from its thumbnail)."""
    assert a.thumbnail is not None and a.gate is not None
    return a.gate, a.gate_mirror


def gate_distance(query: Words, stored: Words) -> int:
    """Least distance of picture to picture, picture to a window or a window to picture."""
    pic = np.bitwise_count(query[0] ^ stored)  # query picture vs stored picture + windows
    win = np.bitwise_count(query[1:] ^ stored[0])  # query windows vs stored picture
    return int(min(pic.min(), win.min()))


def aligned_similarity(score: float) -> float:
    """An alignment score on the shared scale: IMAGE_ALIGN_MIN -> DECISION, 1 -> 1."""
    if score >= IMAGE_ALIGN_MIN:
        return DECISION + (1 - DECISION) * (score - IMAGE_ALIGN_MIN) / (1 - IMAGE_ALIGN_MIN)
    return max(0.0, DECISION * score / IMAGE_ALIGN_MIN)


def verify_images(
    query: npt.NDArray[np.uint8], other: npt.NDArray[np.uint8], orientations: set[bool]
) -> Match | None:
    """Align two thumbnails in the given orientations (True: `query` mirrored)."""
    best: Match | None = None
    for mirrored in sorted(orientations):
        sim = round(aligned_similarity(align_score(query, other, mirrored)), 4)
        if best is None or sim > best.similarity:
            best = Match(sim, "image-aligned" + ("-mirrored" if mirrored else ""))
    return best


def image_distance(a: PackedImage, b: PackedImage) -> tuple[int, bool]:
    """Least PDQ distance between any stored form of `a` and of `b`; True if mirrored."""
    straight = int(distances(a.pdq, b.pdq).min())
    mirrored = int(distances(a.pdq_mirror, b.pdq).min())
    return (mirrored, True) if mirrored < straight else (straight, False)


def _popcount(value: int) -> int:
    return int(value).bit_count()


def window_distance(a: PackedImage, b: PackedImage) -> tuple[int, bool] | None:
    """Least PDQ distance of `a`'s window to `b`'s picture or of `a`'s picture to `b`'s
    window, among the pairings whose pHashes agree (<= IMAGE_WINDOW_PHASH); True if
    `a` was mirrored. None when no pairing agrees or either has no window.
    """
    if a.window is None or b.window is None or a.phash is None or b.phash is None:
        return None
    best: tuple[int, bool] | None = None
    for m, mirrored in ((0, False), (1, True)):
        pairs = (
            (a.window[m], b.pdq[0], a.phash[2 + m] ^ b.phash[0]),
            ((a.pdq_mirror if mirrored else a.pdq)[0], b.window[0], a.phash[m] ^ b.phash[2]),
        )
        for left, right, ph in pairs:
            if _popcount(ph) > IMAGE_WINDOW_PHASH:
                continue
            d = int(np.bitwise_count(left ^ right).sum())
            if best is None or d < best[0]:
                best = (d, mirrored)
    return best


def image_method(mirrored: bool, window: bool) -> str:
    return "image-pdq" + ("-window" if window else "") + ("-mirrored" if mirrored else "")


def score_images(a: PackedImage, b: PackedImage) -> Match | None:
    """Similarity of two images (no threshold applied); None if either is too plain.

    With thumbnails on both sides: the alignment of the thumbnails in each orientation
    that is a candidate (by the gate, or by the hash rules below); None when neither is.
    Otherwise (older schemes, or a thumbnail that was not loaded) the better of the
    picture rule (PDQ, threshold `IMAGE_PDQ_MAX`) and the window rule (PDQ of window
    against picture, threshold `IMAGE_WINDOW_MAX`, pHashes agreeing).
    """
    if min(a.quality, b.quality) < IMAGE_MIN_QUALITY:
        return None
    hashed = score_hashes(a, b)
    if not (a.aligned and b.aligned) or a.thumbnail is None or b.thumbnail is None:
        return hashed
    assert b.gate is not None
    orientations = {
        mirrored
        for mirrored, gates in zip((False, True), query_gates(a), strict=True)
        if gate_distance(gates, b.gate) <= IMAGE_GATE_MAX
    }
    if hashed.similarity >= DECISION:
        orientations.add(hashed.method.endswith("-mirrored"))
    return verify_images(a.thumbnail, b.thumbnail, orientations) if orientations else None


def score_hashes(a: PackedImage, b: PackedImage) -> Match:
    """The better of the picture rule and the window rule (see `score_images`)."""
    distance, mirrored = image_distance(a, b)
    best = Match(
        round(distance_similarity(distance, IMAGE_PDQ_MAX), 4), image_method(mirrored, False)
    )
    window = window_distance(a, b)
    if window is not None:
        sim = round(distance_similarity(window[0], IMAGE_WINDOW_MAX), 4)
        if sim > best.similarity:
            best = Match(sim, image_method(window[1], True))
    return best


# --- videos --------------------------------------------------------------------------


@dataclass(frozen=True)
class PackedVideo:
    """A video fingerprint as arrays: frame times and the four pHashes of each frame."""

    t: npt.NDArray[np.float64]
    full: Words  # N x 1: phash
    centre: Words  # N x 1: phash_c90
    full_mirror: Words
    centre_mirror: Words
    interval: float  # typical spacing of the sampled frames, seconds
    looks: npt.NDArray[np.int64]  # per frame: its run of frames that look the same
    # per frame: which of `parts` equal stretches of the clip's length it falls in
    part: npt.NDArray[np.int64]
    parts: int


def pack_video(fp: VideoFingerprint) -> PackedVideo:
    times = np.array([f.t for f in fp.frames], dtype=np.float64)
    steps = np.diff(np.sort(times))
    interval = float(np.median(steps)) if len(steps) else 1.0

    def column(name: str) -> Words:
        return pack([f.hashes[name] for f in fp.frames], 1)

    full = column("phash")
    interval = max(interval, 0.1)
    length = max(fp.duration, float(times.max()) + interval if len(times) else 0.0, interval)
    parts = max(1, min(PARTS, round(length / interval)))
    part = np.minimum((times / length * parts).astype(np.int64), parts - 1)
    return PackedVideo(
        times,
        full,
        column("phash_c90"),
        column("phash_mirror"),
        column("phash_c90_mirror"),
        interval,
        _looks(full),
        part,
        parts,
    )


def _looks(full: Words) -> npt.NDArray[np.int64]:
    """A label per frame (in time order), shared by the frames within `SAME_LOOK` bits
    of the first frame of their run."""
    labels = np.zeros(len(full), dtype=np.int64)
    start, label = 0, 0
    for i in range(1, len(full)):
        if int(np.bitwise_count(full[i, 0] ^ full[start, 0])) > SAME_LOOK:
            start, label = i, label + 1
        labels[i] = label
    return labels


def close_frames(
    a: PackedVideo, b: PackedVideo
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Which frames of `a` are within `FRAME_MAX` of which of `b`: straight, and `a`
    mirrored.

    Close means picture-to-picture or picture-to-centre-window in either direction, so
    a copy cropped by about 10% and scaled back up still lines up. The distances are
    taken a block of `a`'s frames at a time, so memory is the two n x m answers, one
    byte a pair (26 MB for 3,600 sampled frames, the most kept, against 3,600).
    """
    n, m = len(a.t), len(b.t)
    straight, mirrored = np.empty((n, m), np.bool_), np.empty((n, m), np.bool_)
    theirs = np.concatenate([b.full, b.centre])
    step = max(1, _PAIRS // max(1, 8 * m))
    for s in range(0, n, step):
        k = min(step, n - s)
        block = slice(s, s + k)
        ours = [a.full[block], a.centre[block], a.full_mirror[block], a.centre_mirror[block]]
        close = distances(np.concatenate(ours), theirs) <= FRAME_MAX
        full_b, centre_b = close[:, :m], close[:, m:]
        for out, at in ((straight, 0), (mirrored, 2 * k)):
            out[block] = full_b[at : at + k] | full_b[at + k : at + 2 * k] | centre_b[at : at + k]
    return straight, mirrored


Pairs = tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]


def _close_pairs(close: npt.NDArray[np.bool_]) -> Iterable[Pairs]:
    """(rows, columns) of the close pairs: listed once when there are at most `_PAIRS`
    of them, else found again a block of rows at a time on each pass."""
    if np.count_nonzero(close) <= _PAIRS:
        ii, jj = np.nonzero(close)
        return [(ii, jj)]
    return _PairBlocks(close)


@dataclass(frozen=True)
class _PairBlocks:
    close: npt.NDArray[np.bool_]

    def __iter__(self) -> Iterator[Pairs]:
        step = max(1, _PAIRS // max(1, self.close.shape[1]))
        for s in range(0, len(self.close), step):
            ii, jj = np.nonzero(self.close[s : s + step])
            yield ii + s, jj


@dataclass(frozen=True)
class VideoScore:
    """How two videos line up: coverage of the better-covered clip and matched frames."""

    similarity: float
    method: str
    coverage: float
    frames: int  # matched frames of different looks (on the side with more of them)
    offset: float  # seconds to add to a time in `a` to find it in `b`

    @property
    def match(self) -> Match:
        return Match(round(self.similarity, 4), self.method)


def coverage_similarity(coverage: float) -> float:
    """Coverage (0..1) on the shared scale: MIN_COVERAGE -> DECISION, 1.0 -> 1.0."""
    if coverage < MIN_COVERAGE:
        return DECISION * coverage / MIN_COVERAGE
    return DECISION + (1.0 - DECISION) * (coverage - MIN_COVERAGE) / (1.0 - MIN_COVERAGE)


def score_videos(a: PackedVideo, b: PackedVideo, *, decisive: bool = False) -> VideoScore | None:
    """Best temporally consistent alignment of two videos, straight or mirrored.

    For every frame pair within `FRAME_MAX` the time shift is noted; the shift that most
    frames agree on (within `OFFSET_TOLERANCE` sampling intervals) wins, and only frames
    that agree with it count. Coverage is the share of a clip's frames counted, at most
    the share of its length they are spread over (`_covered`), taken for the clip it is
    larger for, so a trimmed copy matches the part it shares.

    `decisive`: leave out an orientation whose close frames show fewer than
    `MIN_FRAMES` looks, which no alignment of it could pass (two hours of one still
    picture against another is one look): `video_decision` is the same, only a score
    below it may be None instead.
    """
    if len(a.t) == 0 or len(b.t) == 0:
        return None
    best: VideoScore | None = None
    tolerance = OFFSET_TOLERANCE * max(a.interval, b.interval)
    for mirrored, close in zip((False, True), close_frames(a, b), strict=True):
        if decisive and _looks_in_reach(a, b, close) < MIN_FRAMES:
            continue
        pairs = _close_pairs(close)
        for centre in _candidate_shifts(a, b, pairs, tolerance):
            in_a = np.zeros(len(a.t), np.bool_)
            in_b = np.zeros(len(b.t), np.bool_)
            agreeing = []
            for ii, jj in pairs:
                shifts = b.t[jj] - a.t[ii]
                agree = np.abs(shifts - centre) <= tolerance
                in_a[ii[agree]] = True
                in_b[jj[agree]] = True
                agreeing.append(shifts[agree])
            coverage = max(_covered(a, in_a), _covered(b, in_b))
            # different looks, not frames: two talks over one still picture share
            # every frame, and that is one picture in common, not footage (the side
            # that shows more of them counts: a re-encode can blur two into one)
            looks = max(len(np.unique(a.looks[in_a])), len(np.unique(b.looks[in_b])))
            score = VideoScore(
                coverage_similarity(float(coverage)),
                "video-frames-mirrored" if mirrored else "video-frames",
                float(coverage),
                looks,
                float(np.median(np.concatenate(agreeing))),
            )
            if best is None or _rank(score) > _rank(best):
                best = score
    return best


def _covered(video: PackedVideo, counted: npt.NDArray[np.bool_]) -> float:
    """The share of a clip's kept frames that are counted, at most the share of its
    length they are spread over (`PARTS` stretches). Plain frames (night, black) are
    not kept: two night clips of one channel kept only its bright intro and end slate,
    each "covered" whole at 1.000, though their footage had nothing in common; a dark
    clip's copy still matches over its length."""
    kept = counted.sum() / len(video.t)
    spread = len(np.unique(video.part[counted])) / video.parts
    return float(min(kept, spread))


def _looks_in_reach(a: PackedVideo, b: PackedVideo, close: npt.NDArray[np.bool_]) -> int:
    """The most looks any alignment can count: those with a close frame at all."""
    return max(
        len(np.unique(a.looks[close.any(axis=1)])), len(np.unique(b.looks[close.any(axis=0)]))
    )


def _rank(score: VideoScore) -> tuple[bool, float, int]:
    """Alignments with enough matched frames first, then by similarity."""
    return score.frames >= MIN_FRAMES, score.similarity, score.frames


def _candidate_shifts(
    a: PackedVideo, b: PackedVideo, pairs: Iterable[Pairs], tolerance: float
) -> list[float]:
    """Centres of the most populated time shifts of the close pairs (histogram with
    half-tolerance bins), counted a block of pairs at a time."""
    width = tolerance / 2
    values, counts = [], []
    for ii, jj in pairs:
        v, c = np.unique(np.round((b.t[jj] - a.t[ii]) / width).astype(np.int64), return_counts=True)
        values.append(v)
        counts.append(c)
    if not values:
        return []
    bins, where = np.unique(np.concatenate(values), return_inverse=True)
    totals = np.bincount(where, weights=np.concatenate(counts)).astype(np.int64)
    top = bins[np.argsort(totals)[::-1][:8]]
    return [float(v * width) for v in top]


def video_decision(score: VideoScore | None, min_similarity: float | None = None) -> bool:
    """The video rule: enough coverage and never fewer than MIN_FRAMES matched frames."""
    if score is None or score.frames < MIN_FRAMES:
        return False
    return score.similarity >= (DECISION if min_similarity is None else min_similarity)


# --- public --------------------------------------------------------------------------


def compare(
    a: ImageFingerprint | VideoFingerprint, b: ImageFingerprint | VideoFingerprint
) -> Match | None:
    """A `Match` when `a` and `b` are near-duplicates by the decision rules, else None.

    Images match images and videos match videos; a photo is not matched against the
    frames of a video (see docs/matching.md for why).
    """
    if isinstance(a, ImageFingerprint) and isinstance(b, ImageFingerprint):
        match = score_images(pack_image(a), pack_image(b))
        return match if match is not None and match.similarity >= DECISION else None
    if isinstance(a, VideoFingerprint) and isinstance(b, VideoFingerprint):
        score = score_videos(pack_video(a), pack_video(b), decisive=True)
        return score.match if score is not None and video_decision(score) else None
    return None
