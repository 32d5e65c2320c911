"""Verify a candidate image pair by aligning their thumbnails.

Hashes only propose candidates; this decides. One thumbnail is searched for inside the
other (either way round, since either may be the crop): for each covered share from
`MIN_SHARE` to 1 the outer one is rescaled so both have the same pixel scale and the
inner one slides over it (normalised cross-correlation); the best placement is refined
to a quarter pixel by bilinear sampling. Both are high-passed first (picture minus a
Gaussian blur), so the match rests on fine detail rather than on the layout that
fools global hashes (the two halves of a fundus photograph share their dark corners
and bright arc, not their vessels).

The score is the **35th percentile** of the correlations over a 6x6 grid of blocks
that have any detail: a watermark or caption changes a few blocks, a different picture
changes most of them, even when the two share an outline (see `BLOCK_QUANTILE`).
Figures are in docs/matching.md.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

Plane = npt.NDArray[np.float32]

#: The least share of the outer picture's side the inner one may cover (crops to ~16%).
MIN_SHARE = 0.84
_SHARES = np.round(np.arange(MIN_SHARE, 1.0001, 0.02), 3)
#: Neither side may be cropped more than this share on the other axis.
MIN_AXIS_SHARE = 0.8
#: Gaussian sigma (thumbnail pixels) of the blur subtracted for the high-pass.
SIGMA = 1.5
#: Blocks per side of the scoring grid, and the least high-pass std for a block to count.
GRID = 6
MIN_BLOCK_STD = 1.5
#: At least this share of the blocks must carry detail, or the pair is too plain to say.
MIN_BLOCKS = 0.25
#: A thumbnail thinner than this on either side cannot be aligned: some blocks of the
#: grid would hold no pixel (a 4200x32 banner's thumbnail is 64x1).
MIN_SIDE = GRID
#: The score is this quantile of the blocks' correlations: 65% of the blocks with detail
#: must agree at least that well. An overlay spoils a band or a corner of a copy; a
#: different picture sharing an outline (the arc and black corner of a fundus tile, the
#: oval of a face) agrees along that outline only, which can be half of the blocks.
BLOCK_QUANTILE = 0.35


@functools.lru_cache(maxsize=256)
def _blur_matrix(n: int) -> npt.NDArray[np.float32]:
    """Gaussian blur of a length-`n` axis (mirrored at the ends) as an ``n x n`` matrix."""
    radius = max(1, round(3 * SIGMA))
    offsets = np.arange(-radius, radius + 1)
    weights = np.exp(-0.5 * (offsets / SIGMA) ** 2)
    weights /= weights.sum()
    matrix = np.zeros((n, n))
    for i in range(n):
        for offset, weight in zip(offsets.tolist(), weights.tolist(), strict=True):
            j = i + offset
            j = -j if j < 0 else (2 * (n - 1) - j if j >= n else j)
            matrix[i, min(max(j, 0), n - 1)] += weight
    return matrix.astype(np.float32)


def _blur(plane: Plane) -> Plane:
    return np.asarray(_blur_matrix(plane.shape[0]) @ plane @ _blur_matrix(plane.shape[1]).T)


def highpass(plane: Plane) -> Plane:
    """The plane minus its Gaussian blur: edges and texture, no layout."""
    return np.asarray(plane - _blur(plane), np.float32)


def _resize(plane: Plane, height: int, width: int) -> Plane:
    image = Image.fromarray(plane, "F").resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(image, np.float32)


def _ncc_map(outer: Plane, inner: Plane) -> npt.NDArray[np.float64]:
    """Normalised cross-correlation of `inner` at every placement inside `outer`."""
    h, w = inner.shape
    t = inner.astype(np.float64) - float(inner.mean())
    norm = float(np.sqrt((t * t).sum()))
    o = outer.astype(np.float64)
    windows = sliding_window_view(o, (h, w))
    num = np.einsum("pqhw,hw->pq", windows, t)
    # Window sums from integral images.
    s1 = np.pad(o, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    s2 = np.pad(o * o, ((1, 0), (1, 0))).cumsum(0).cumsum(1)

    def box(s: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray(s[h:, w:] - s[:-h, w:] - s[h:, :-w] + s[:-h, :-w])

    total, squares = box(s1), box(s2)
    var = np.maximum(squares - total * total / (h * w), 1e-6)
    return np.asarray(num / (np.sqrt(var) * norm + 1e-6))


def _interpolation(starts: npt.NDArray[np.float64], scale: float, n: int, size: int) -> Plane:
    """Linear interpolation at ``start + i * scale`` (i < n) along an axis of `size`
    samples, for each start: a ``K x n x size`` stack of matrices."""
    pos = np.clip(starts[:, None] + np.arange(n) * scale, 0, size - 1.001)
    low = pos.astype(np.int64)
    frac = pos - low
    out = np.zeros((len(starts), n, size), np.float32)
    k, i = np.indices(low.shape)
    out[k, i, low] = 1 - frac
    out[k, i, low + 1] = frac
    return out


def _sample(
    plane: Plane,
    scale: float,
    tops: npt.NDArray[np.float64],
    lefts: npt.NDArray[np.float64],
    shape: tuple[int, ...],
) -> Plane:
    """Bilinear samples of `plane` at ``(top + i * scale, left + j * scale)`` for every
    pair of a top and a left: ``(len(tops) * len(lefts)) x h x w``, tops major."""
    rows = _interpolation(tops, scale, shape[0], plane.shape[0])
    cols = _interpolation(lefts, scale, shape[1], plane.shape[1])
    out = np.matmul((rows @ plane)[:, None], cols.transpose(0, 2, 1)[None])
    return np.asarray(out.reshape(-1, shape[0], shape[1]), np.float32)


def _ncc_many(stack: Plane, ref: Plane) -> npt.NDArray[np.float64]:
    """Correlation of each plane of a ``K x h x w`` stack with `ref`."""
    a = stack - stack.mean(axis=(1, 2), keepdims=True)
    b = ref - ref.mean()
    num = np.einsum("khw,hw->k", a, b)
    den = np.sqrt(np.einsum("khw,khw->k", a, a) * float((b * b).sum())) + 1e-6
    return np.asarray(num / den, np.float64)


def _ncc(x: Plane, y: Plane) -> float:
    a = x - x.mean()
    b = y - y.mean()
    return float((a * b).sum() / (np.sqrt(float((a * a).sum()) * float((b * b).sum())) + 1e-6))


def block_score(x: Plane, y: Plane) -> float:
    """The `BLOCK_QUANTILE` of the correlations of the `GRID` x `GRID` blocks with
    detail; -1 when too few blocks have any. Empty blocks (a side under `GRID` pixels)
    have none: their NaN made the score NaN."""
    h, w = x.shape
    values = []
    for i in range(GRID):
        for j in range(GRID):
            block = np.s_[i * h // GRID : (i + 1) * h // GRID, j * w // GRID : (j + 1) * w // GRID]
            if x[block].size == 0:
                continue
            if max(float(x[block].std()), float(y[block].std())) < MIN_BLOCK_STD:
                continue
            values.append(_ncc(x[block], y[block]))
    if len(values) < max(4, MIN_BLOCKS * GRID * GRID):
        return -1.0
    return float(np.quantile(values, BLOCK_QUANTILE, method="lower"))


def _coarse(outer: Plane, inner_hp: Plane) -> tuple[float, float, float, float] | None:
    """Best (correlation, scale, top, left) over the covered shares, whole pixels."""
    ih, iw = inner_hp.shape
    oh, ow = outer.shape
    best: tuple[float, float, float, float] | None = None
    for share in _SHARES:
        scale = float(share) * min(oh / ih, ow / iw)  # outer pixels per inner pixel
        height, width = round(oh / scale), round(ow / scale)
        if height < ih or width < iw:
            continue
        if ih / height < MIN_AXIS_SHARE or iw / width < MIN_AXIS_SHARE:
            continue
        corr = _ncc_map(highpass(_resize(outer, height, width)), inner_hp)
        flat = int(corr.argmax())
        value = float(corr.flat[flat])
        if best is None or value > best[0]:
            py, px = divmod(flat, corr.shape[1])
            best = (value, oh / height, py * oh / height, px * ow / width)
    return best


def _refine(outer_hp: Plane, inner_hp: Plane, scale: float, top: float, left: float) -> Plane:
    """The outer's samples under the inner, at the best quarter-pixel placement."""
    shape = inner_hp.shape
    grid = np.arange(-0.5, 0.51, 0.25)

    def at(s: float, ys: npt.NDArray[np.float64], xs: npt.NDArray[np.float64]) -> Plane:
        # Pixel centres: inner pixel i sits at outer coordinate y + (i + 0.5) * s - 0.5.
        return _sample(outer_hp, s, ys + (s - 1) / 2, xs + (s - 1) / 2, shape)

    for _ in range(2):
        values = _ncc_many(at(scale, top + grid, left + grid), inner_hp)
        iy, ix = divmod(int(values.argmax()), len(grid))
        top, left = top + float(grid[iy]), left + float(grid[ix])
        scales = [scale * (1 + d) for d in (-0.01, -0.005, 0.0, 0.005, 0.01)]
        ys, xs = np.array([top]), np.array([left])
        values = np.array([_ncc_many(at(s, ys, xs), inner_hp)[0] for s in scales])
        scale = scales[int(values.argmax())]
    return np.asarray(at(scale, np.array([top]), np.array([left]))[0], np.float32)


def align_score(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8], mirrored: bool) -> float:
    """How well `b` lines up with `a` (mirrored first if asked): -1..1, see module doc.

    -1 (too plain to say) when a side of either is under `MIN_SIDE` pixels: a very wide
    or tall picture's thumbnail has too few rows or columns to lay the grid over.
    """
    if min(*a.shape, *b.shape) < MIN_SIDE:
        return -1.0
    first = np.asarray(a[:, ::-1] if mirrored else a, np.float32)
    second = np.asarray(b, np.float32)
    best: tuple[float, Plane, Plane, float, float, float] | None = None
    for outer, inner in ((first, second), (second, first)):
        inner_hp = highpass(inner)
        found = _coarse(outer, inner_hp)
        if found is not None and (best is None or found[0] > best[0]):
            best = (found[0], outer, inner_hp, found[1], found[2], found[3])
    if best is None:
        return -1.0
    _, outer, inner_hp, scale, top, left = best
    aligned = _refine(highpass(outer), inner_hp, scale, top, left)
    return block_score(aligned, inner_hp)
