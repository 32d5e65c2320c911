"""Find the picture inside letterbox bars, screenshot borders and caption strips.

Re-uploads add black bars (letterbox, pillarbox), white screenshot borders and caption
strips. Hashing the padded picture would move every DCT coefficient, so both sides of a
comparison are trimmed the same way first: rows and columns that are one flat tone are
peeled off each edge. A line is "flat" when nearly all its pixels are within a few grey
levels of the line's median. For stills, a short run of other lines enclosed by flat
ones (a caption line inside a screenshot's border) is peeled too.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

#: Never trim an axis down to less than this share of its length (a plain picture).
MIN_KEEP = 0.25
#: A caption line is at most this share of the axis.
MAX_BAND = 0.1
#: Frames judged at once: the temporaries take about 8 bytes a pixel of the frames at
#: hand (an hour of video sampled once a second took 600 MB at once). Each frame's
#: lines are judged on their own, so the answer does not depend on the batch.
SOLID_BATCH = 256

Box = tuple[int, int, int, int]  # top, bottom, left, right (exclusive ends)
Lines = npt.NDArray[np.bool_]


def _solid(frames: npt.NDArray[np.uint8], axis: int, solid: tuple[float, int]) -> Lines:
    """Which rows (axis=2) or columns (axis=1) of each frame are border: ``frames x lines``.

    A border line has at least the share ``solid[0]`` of its pixels within ``solid[1]``
    grey levels of its median, and that median is the tone of the frame's outermost
    line on the same side of its centre (a border is one colour; a flat stretch of
    picture in another tone is not border).

    Such a line has that share of its pixels within twice the tolerance of the edge's
    tone, which costs no median to check: medians are taken only of the lines that
    pass (in a picture without a border, the outermost few at most).
    """
    if len(frames) > SOLID_BATCH:
        return np.concatenate(
            [
                _solid(frames[start : start + SOLID_BATCH], axis, solid)
                for start in range(0, len(frames), SOLID_BATCH)
            ]
        )
    share, tolerance = solid
    along = 1 if axis == 2 else 2  # the axis that indexes the lines
    count = frames.shape[along]
    outer = np.take(frames, [0, count - 1], axis=along)
    outer_tone = np.squeeze(np.median(outer, axis=axis, keepdims=True), axis=axis)
    outer_tone = outer_tone.astype(np.int16)  # frames x 2
    edge = np.where(np.arange(count) < count // 2, outer_tone[:, :1], outer_tone[:, 1:])
    low = np.expand_dims(np.clip(edge - 2 * tolerance, 0, 255).astype(np.uint8), axis)
    high = np.expand_dims(np.clip(edge + 2 * tolerance, 0, 255).astype(np.uint8), axis)
    loose = np.count_nonzero((frames >= low) & (frames <= high), axis=axis)
    lines = np.flatnonzero((loose / frames.shape[axis] >= share).any(axis=0))
    out = np.zeros(edge.shape, np.bool_)
    if len(lines):
        picked = np.take(frames, lines, axis=along).astype(np.int16)
        median = np.median(picked, axis=axis, keepdims=True).astype(np.int16)
        near = np.count_nonzero(np.abs(picked - median) <= tolerance, axis=axis)
        flat = near / frames.shape[axis] >= share
        tone = np.squeeze(median, axis=axis)  # frames x picked lines
        out[:, lines] = flat & (np.abs(tone - edge[:, lines]) <= tolerance)
    return out


def _peel(solid: Lines, bands: bool) -> int:
    """How many lines to peel from the start of an axis.

    Solid lines are border. With `bands`, a short run of other lines (a caption line:
    at most `MAX_BAND` of the axis) is border too when solid lines enclose it on both
    sides: a caption sits inside the border, a picture's edge touches the picture.
    """
    n, i = len(solid), 0
    while i < n:
        if solid[i]:
            i += 1
            continue
        if bands and i >= max(2, n // 100):
            j = i
            while j < n and not solid[j] and j - i <= MAX_BAND * n:
                j += 1
            if j < n and solid[j] and j - i <= MAX_BAND * n:
                i = j
                continue
        break
    return i


def _edges(solid: Lines, bands: bool, paired: bool) -> tuple[int, int]:
    """First and one-past-last line of the picture along one axis.

    `paired`: peel the same depth off both ends (the shallower one). Letterbox and
    pillarbox bars come in equal pairs, while a dark sky or a black backdrop on one
    side is picture that a cropped copy would trim differently.
    """
    n = len(solid)
    start = _peel(solid, bands)
    if start >= n:
        return 0, n
    stop = n - _peel(solid[::-1], bands)
    if paired:
        depth = min(start, n - stop)
        start, stop = depth, n - depth
    if stop - start < MIN_KEEP * n:
        return 0, n
    return start, stop


def _lines(
    frames: npt.NDArray[np.uint8],
    axis: int,
    solid: tuple[float, int],
    bands: bool,
    votes: float,
) -> tuple[int, int]:
    """Kept span of rows (axis=2) or columns (axis=1) of a frame stack."""
    share = _solid(frames, axis, solid)  # N x lines
    plain = share.mean(axis=1) >= 0.95  # fades, title cards: no vote
    if not plain.all():
        share = share[~plain]
    return _edges(share.mean(axis=0) >= votes, bands, paired=not bands)


def content_box(
    frames: npt.NDArray[np.uint8],
    *,
    solid: tuple[float, int],
    bands: bool = False,
    votes: float = 1.0,
) -> Box:
    """The box that holds the picture in a stack of grey frames (``N x H x W``).

    A line is border when at least the share ``solid[0]`` of its pixels lie within
    ``solid[1]`` grey levels of its median, in at least `votes` of the frames that are
    not plain all over. With `bands` (stills), caption lines inside the border are
    peeled too; without (video), bars are peeled in equal pairs. Rows are judged again
    between the kept columns and columns between the kept rows, so pillarbox bars don't
    make rows look flat and vice versa.
    """
    height, width = frames.shape[1:]
    edges = np.concatenate(
        [_solid(frames[:, [0, -1], :], 2, solid), _solid(frames[:, :, [0, -1]], 1, solid)],
        axis=1,
    )
    if not (edges.mean(axis=0) >= votes).any():  # no edge line is border: nothing to peel
        return 0, height, 0, width
    top, bottom = _lines(frames, 2, solid, bands, votes)
    left, right = _lines(frames, 1, solid, bands, votes)
    top, bottom = _lines(frames[:, :, left:right], 2, solid, bands, votes)
    left, right = _lines(frames[:, top:bottom, :], 1, solid, bands, votes)
    return top, bottom, left, right
