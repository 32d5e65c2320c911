"""The in-memory index of every stored fingerprint: "have we seen this before?".

Images: PDQ hashes are kept column by column (one uint64 array per 64-bit word) and
scanned exhaustively with numpy's popcount: exact for any threshold, about 20 ms per
million images. Videos: every frame's ``phash`` and ``phash_c90`` go into a
multi-index hash (`FrameHashIndex`); videos with a close frame are then scored with
the full decision rule of `compare`. Keys are the caller's ids (database rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from archiver.hashing.model import ImageFingerprint, VideoFingerprint

from .compare import (
    DECISION,
    FRAME_MAX,
    IMAGE_MIN_QUALITY,
    IMAGE_PDQ_MAX,
    MIN_FRAMES,
    Match,
    PackedImage,
    PackedVideo,
    distance_similarity,
    pack_image,
    pack_video,
    score_videos,
    video_decision,
)
from .mih import FrameHashIndex

Fingerprint = ImageFingerprint | VideoFingerprint


class _Column:
    """An append-only numpy vector that doubles its capacity."""

    def __init__(self, dtype: type[Any]) -> None:
        self._data = np.zeros(1024, dtype=dtype)
        self.size = 0

    def append(self, value: int | bool) -> None:
        if self.size == len(self._data):
            self._data = np.concatenate([self._data, np.zeros_like(self._data)])
        self._data[self.size] = value
        self.size += 1

    @property
    def view(self) -> npt.NDArray[Any]:
        return self._data[: self.size]

    def set(self, index: int, value: int | bool) -> None:
        self._data[index] = value


class _Images:
    """Image rows: PDQ words in columns, pHash, quality; extra rows for bordered images."""

    def __init__(self) -> None:
        self.keys = _Column(np.int64)
        self.live = _Column(np.bool_)
        self.quality = _Column(np.int16)
        self.phash = _Column(np.uint64)
        self.words = [_Column(np.uint64) for _ in range(4)]
        # PDQ of the image as stored, for rows whose border was trimmed.
        self.full_owner = _Column(np.int64)
        self.full_words = [_Column(np.uint64) for _ in range(4)]

    def add(self, key: int, fp: ImageFingerprint) -> int:
        row = self.keys.size
        packed = pack_image(fp)
        self.keys.append(key)
        self.live.append(True)
        self.quality.append(packed.quality)
        self.phash.append(fp.hashes["phash"])
        for w in range(4):
            self.words[w].append(int(packed.pdq[0, w]))
        for form in packed.pdq[1:]:
            self.full_owner.append(row)
            for w in range(4):
                self.full_words[w].append(int(form[w]))
        return row

    def distances(self, queries: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint16]:
        """Least distance of any query row (``Q x 4``) to each image, over all its forms."""
        n = self.keys.size
        best = np.full(n, 256, np.uint16)
        cols = [c.view for c in self.words]
        full = [c.view for c in self.full_words]
        owners = self.full_owner.view
        for q in queries:
            d = np.bitwise_count(cols[0] ^ q[0]).astype(np.uint16)
            for w in range(1, 4):
                d += np.bitwise_count(cols[w] ^ q[w])
            np.minimum(best, d, out=best)
            if len(owners):
                e = np.bitwise_count(full[0] ^ q[0]).astype(np.uint16)
                for w in range(1, 4):
                    e += np.bitwise_count(full[w] ^ q[w])
                np.minimum.at(best, owners, e)
        return best


@dataclass
class _Video:
    key: int
    packed: PackedVideo


class FingerprintIndex:
    """All stored fingerprints, queried for near-duplicates of a new one.

    Loaded at start from the stored fingerprints (`add` for each) and kept up to date
    with `add` and `remove`. Not thread-safe: guard it with a lock if shared.
    """

    def __init__(self) -> None:
        self._images = _Images()
        self._videos: list[_Video | None] = []
        self._video_live = _Column(np.bool_)
        self._frames = FrameHashIndex()
        self._rows: dict[int, tuple[str, int]] = {}  # key -> ("image" | "video", row)
        self._dead = 0

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def add(self, key: int, fp: Fingerprint) -> None:
        """Index `fp` under `key` (replacing what `key` had)."""
        if key in self._rows:
            self.remove(key)
        if isinstance(fp, ImageFingerprint):
            self._rows[key] = ("image", self._images.add(key, fp))
            return
        row = len(self._videos)
        packed = pack_video(fp)
        self._videos.append(_Video(key, packed))
        self._video_live.append(True)
        self._frames.add(row, np.concatenate([packed.full, packed.centre]))
        self._rows[key] = ("video", row)

    def remove(self, key: int) -> None:
        """Forget `key` (no error if it is not indexed)."""
        entry = self._rows.pop(key, None)
        if entry is None:
            return
        kind, row = entry
        if kind == "image":
            self._images.live.set(row, False)
        else:
            self._video_live.set(row, False)
            self._videos[row] = None
        self._dead += 1

    def query(
        self, fp: Fingerprint, min_similarity: float | None = None, limit: int = 50
    ) -> list[tuple[int, Match]]:
        """Indexed fingerprints like `fp`, best first (ties: lower key first).

        ``min_similarity=None`` applies the decision rules of `compare`; a number
        lists everything at least that similar instead (video rules on matched frames
        still apply). Images are compared with images and videos with videos.
        """
        if isinstance(fp, ImageFingerprint):
            found = self._query_image(pack_image(fp), min_similarity)
        else:
            found = self._query_video(pack_video(fp), min_similarity)
        found.sort(key=lambda kv: (-kv[1].similarity, kv[0]))
        return found[:limit]

    def query_phash(self, phash: int, max_distance: int) -> list[tuple[int, int]]:
        """Images whose pHash is within `max_distance` of `phash`: (key, distance), nearest
        first. `phash` is imagehash's hex string read as a number."""
        images = self._images
        d = np.bitwise_count(images.phash.view ^ np.uint64(phash))
        rows = np.flatnonzero((d <= max_distance) & images.live.view)
        keys = images.keys.view
        found = [(int(keys[r]), int(d[r])) for r in rows]
        found.sort(key=lambda kd: (kd[1], kd[0]))
        return found

    # --- images ----------------------------------------------------------------------

    def _query_image(
        self, query: PackedImage, min_similarity: float | None
    ) -> list[tuple[int, Match]]:
        images = self._images
        if images.keys.size == 0 or query.quality < IMAGE_MIN_QUALITY:
            return []
        floor = DECISION if min_similarity is None else min_similarity
        limit = _distance_for(floor, IMAGE_PDQ_MAX)
        straight = images.distances(query.pdq)
        mirrored = images.distances(query.pdq_mirror)
        best = np.minimum(straight, mirrored)
        ok = (best <= limit) & images.live.view
        ok &= images.quality.view >= IMAGE_MIN_QUALITY
        keys = images.keys.view
        found = []
        for r in np.flatnonzero(ok):
            is_mirror = bool(mirrored[r] < straight[r])
            method = "image-pdq-mirrored" if is_mirror else "image-pdq"
            sim = distance_similarity(int(best[r]), IMAGE_PDQ_MAX)
            found.append((int(keys[r]), Match(round(sim, 4), method)))
        return found

    # --- videos ----------------------------------------------------------------------

    def _query_video(
        self, query: PackedVideo, min_similarity: float | None
    ) -> list[tuple[int, Match]]:
        if len(query.t) < MIN_FRAMES or not self._videos:
            return []
        live = self._video_live.view.astype(np.bool_)
        hashes = np.concatenate(
            [query.full, query.centre, query.full_mirror, query.centre_mirror]
        ).ravel()
        _, owners = self._frames.search(hashes, FRAME_MAX, live)
        found = []
        for row in np.unique(owners):
            video = self._videos[int(row)]
            if video is None:
                continue
            score = score_videos(query, video.packed)
            if video_decision(score, min_similarity):
                assert score is not None
                found.append((video.key, score.match))
        if self._dead > max(1000, len(self._rows)):
            self._compact()
        return found

    def _compact(self) -> None:
        self._frames.compact(self._video_live.view.astype(np.bool_))
        self._dead = 0


def _distance_for(similarity: float, threshold: int) -> int:
    """Largest distance whose similarity is still >= `similarity` (inverse mapping)."""
    if similarity <= 0:
        return 10**6
    return int(np.floor(threshold * (1.0 - similarity) / (1.0 - DECISION) + 1e-9))
