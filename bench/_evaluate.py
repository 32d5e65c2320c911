"""Pairwise precision and recall of a near-duplicate decision over generated items.

Positives are (original, transformed copy) pairs of the same source. Negatives are all
pairs of items from different sources (originals and copies alike), so a copy that
matches someone else's footage counts against precision. Per transform, the negatives
are the pairs that involve a copy made by that transform.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import combinations

from _transforms import Item  # type: ignore[import-not-found]

Decide = Callable[[int, int], bool]


@dataclass
class Counts:
    """Confusion counts for one slice of the pairs."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    false_pairs: list[tuple[str, str]] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


@dataclass
class Report:
    """Counts per transform, over all original-copy pairs, and on the hard negatives."""

    per_transform: dict[str, Counts]
    overall: Counts
    copy_to_copy: Counts  # two differently transformed copies of one source
    hard_negative_fp: int
    hard_negative_pairs: int


def label(item: Item) -> str:
    return f"{item.source}:{item.transform}"


def evaluate(
    items: Sequence[Item],
    decide: Decide,
    hard_pairs: Sequence[tuple[str, str]] = (),
) -> Report:
    """Run `decide(i, j)` on every pair of `items` (by index) and tally the outcome."""
    transforms = sorted({it.transform for it in items} - {"original"})
    per = {t: Counts() for t in transforms}
    overall, c2c = Counts(), Counts()
    hard = {frozenset(p) for p in hard_pairs}
    hard_fp = hard_total = 0
    for i, j in combinations(range(len(items)), 2):
        a, b = items[i], items[j]
        flagged = decide(i, j)
        if a.source == b.source:
            originals = {a.transform, b.transform} & {"original"}
            if not originals:
                _tally(c2c, flagged, True, a, b)
                continue
            copy = b if a.transform == "original" else a
            _tally(per[copy.transform], flagged, True, a, b)
            _tally(overall, flagged, True, a, b)
            continue
        for it in {a.transform, b.transform} - {"original"}:
            _tally(per[it], flagged, False, a, b)
        _tally(overall, flagged, False, a, b)
        if frozenset((a.source, b.source)) in hard:
            hard_total += 1
            hard_fp += flagged
    return Report(per, overall, c2c, hard_fp, hard_total)


def _tally(counts: Counts, flagged: bool, same: bool, a: Item, b: Item) -> None:
    if same and flagged:
        counts.tp += 1
    elif same:
        counts.fn += 1
        counts.false_pairs.append((label(a), label(b)))
    elif flagged:
        counts.fp += 1
        counts.false_pairs.append((label(a), label(b)))
