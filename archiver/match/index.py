"""The in-memory index of every stored fingerprint: "have we seen this before?".

Images: PDQ hashes are kept column by column (one uint64 array per 64-bit word) and
scanned exhaustively with numpy's popcount: exact for any threshold. The window rule
scans the one-word pHash columns first and computes PDQ only where the pHashes agree.
For fingerprints with thumbnails the ten one-word gate hashes are scanned too, and the
nearest candidates (at most `IMAGE_MAX_CANDIDATES`) are verified by aligning
thumbnails, which are not kept in memory: a loader fetches them for the candidates.
Videos: every frame's ``phash`` and ``phash_c90`` go into a multi-index hash
(`FrameHashIndex`); videos with a close frame are then scored with the full decision
rule of `compare`. Keys are the caller's ids (database rows).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from archiver.hashing.model import ImageFingerprint, VideoFingerprint
from archiver.hashing.thumbnail import GATE_NAMES

from .compare import (
    DECISION,
    FRAME_MAX,
    IMAGE_GATE_MAX,
    IMAGE_MAX_CANDIDATES,
    IMAGE_MIN_QUALITY,
    IMAGE_PDQ_MAX,
    IMAGE_WINDOW_MAX,
    IMAGE_WINDOW_PHASH,
    MIN_FRAMES,
    Match,
    PackedImage,
    PackedVideo,
    image_method,
    pack_image,
    pack_video,
    query_gates,
    score_videos,
    verify_images,
    video_decision,
)
from .mih import FrameHashIndex

Fingerprint = ImageFingerprint | VideoFingerprint
Thumbnail = npt.NDArray[np.uint8]
#: Fetches the stored thumbnails of the given keys (missing keys are left out).
ThumbnailLoader = Callable[[Sequence[int]], Mapping[int, Thumbnail]]


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

    def keep(self, rows: npt.NDArray[np.intp]) -> None:
        """Keep only these rows, in this order."""
        self.assign(self.view[rows])

    def assign(self, values: npt.NDArray[Any]) -> None:
        """Hold these values instead (with room to grow)."""
        self._data = np.zeros(max(1024, 2 * len(values)), dtype=self._data.dtype)
        self._data[: len(values)] = values
        self.size = len(values)


class _Images:
    """Image rows: PDQ words in columns, pHash, quality; extra rows for bordered images."""

    def __init__(self) -> None:
        self.keys = _Column(np.int64)
        self.live = _Column(np.bool_)
        self.quality = _Column(np.int16)
        self.phash = _Column(np.uint64)
        # pHash of the image as stored, border and all (the picture's when none was
        # trimmed): what imagehash prints for the file
        self.stored_phash = _Column(np.uint64)
        self.words = [_Column(np.uint64) for _ in range(4)]
        # The centred window: PDQ words and pHash (rows without one are not windowed).
        self.windowed = _Column(np.bool_)
        self.window_words = [_Column(np.uint64) for _ in range(4)]
        self.window_phash = _Column(np.uint64)
        # PDQ of the image as stored, for rows whose border was trimmed.
        self.full_owner = _Column(np.int64)
        self.full_words = [_Column(np.uint64) for _ in range(4)]
        # Gate hashes (picture, then windows) of rows whose matches are aligned.
        self.gated = _Column(np.bool_)
        self.gates = [_Column(np.uint64) for _ in GATE_NAMES]

    def add(self, key: int, fp: ImageFingerprint) -> int:
        row = self.keys.size
        packed = pack_image(fp)
        self.keys.append(key)
        self.live.append(True)
        self.quality.append(packed.quality)
        self.phash.append(fp.hashes["phash"])
        self.stored_phash.append(fp.hashes.get("phash_full", fp.hashes["phash"]))
        for w in range(4):
            self.words[w].append(int(packed.pdq[0, w]))
        self.windowed.append(packed.window is not None)
        for w in range(4):
            self.window_words[w].append(0 if packed.window is None else int(packed.window[0, w]))
        self.window_phash.append(0 if packed.phash is None else packed.phash[2])
        for form in packed.pdq[1:]:
            self.full_owner.append(row)
            for w in range(4):
                self.full_words[w].append(int(form[w]))
        self.gated.append(packed.aligned)
        for g, column in enumerate(self.gates):
            column.append(0 if packed.gate is None else int(packed.gate[g]))
        return row

    def compact(self) -> npt.NDArray[np.int64]:
        """Drop the rows of removed images; each old row's new row (-1 when dropped).

        A removed image only marks its row dead: `archiver rehash --all` replaces every
        image once, and each scan went over all the rows it left, twice the archive.
        """
        live = self.live.view.copy()
        rows = np.flatnonzero(live)
        moved = np.full(len(live), -1, np.int64)
        moved[rows] = np.arange(len(rows))
        full = np.flatnonzero(live[self.full_owner.view])
        owners = moved[self.full_owner.view[full]]
        for column in self._row_columns():
            column.keep(rows)
        for column in self.full_words:
            column.keep(full)
        self.full_owner.assign(owners)
        return moved

    def _row_columns(self) -> list[_Column]:
        """The columns with one value per image row."""
        return [
            self.keys,
            self.live,
            self.quality,
            self.phash,
            self.stored_phash,
            *self.words,
            self.windowed,
            *self.window_words,
            self.window_phash,
            self.gated,
            *self.gates,
        ]

    def gate_distances(self, query: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint16]:
        """`compare.gate_distance` of one query form to every row (64 for rows without)."""
        pictures = self.gates[0].view
        best = np.bitwise_count(pictures ^ query[0]).astype(np.uint16)
        for column in self.gates[1:]:
            np.minimum(best, np.bitwise_count(column.view ^ query[0]), out=best)
        for window in query[1:]:
            np.minimum(best, np.bitwise_count(pictures ^ window), out=best)
        best[~self.gated.view] = 64
        return np.asarray(best, np.uint16)

    def window_distances(
        self, query: PackedImage
    ) -> tuple[npt.NDArray[np.uint16], npt.NDArray[np.bool_]]:
        """The window rule against every image: least PDQ distance among the pairings
        (query window to picture, query picture to window, straight or mirrored) whose
        pHashes agree, 256 where none does; and whether the least one was mirrored."""
        n = self.keys.size
        best = np.full(n, 256, np.uint16)
        mirrored = np.zeros(n, np.bool_)
        if query.window is None or query.phash is None:
            return best, mirrored
        windowed = self.windowed.view
        pictures = [c.view for c in self.words]
        windows = [c.view for c in self.window_words]
        for m in (0, 1):
            form = (query.pdq_mirror if m else query.pdq)[0]
            pairings = (
                (query.window[m], pictures, self.phash.view, query.phash[2 + m]),
                (form, windows, self.window_phash.view, query.phash[m]),
            )
            for q, cols, phashes, ph in pairings:
                # pHash first (one word): PDQ only for the few rows whose pHashes agree.
                close = np.bitwise_count(phashes ^ np.uint64(ph)) <= IMAGE_WINDOW_PHASH
                rows = np.flatnonzero(close & windowed)
                if len(rows) == 0:
                    continue
                d = np.bitwise_count(cols[0][rows] ^ q[0]).astype(np.uint16)
                for w in range(1, 4):
                    d += np.bitwise_count(cols[w][rows] ^ q[w])
                better = d < best[rows]
                best[rows[better]] = d[better]
                mirrored[rows[better]] = bool(m)
        return best, mirrored

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

    def __init__(self, *, keep_thumbnails: bool = True) -> None:
        """`keep_thumbnails`: hold added images' thumbnails in memory (small sets, tests);
        otherwise `query` needs a loader to verify image candidates."""
        self._keep_thumbnails = keep_thumbnails
        self._thumbnails: dict[int, Thumbnail] = {}
        self._images = _Images()
        self._videos: list[_Video | None] = []
        self._video_live = _Column(np.bool_)
        self._frames = FrameHashIndex()
        self._rows: dict[int, tuple[str, int]] = {}  # key -> ("image" | "video", row)
        self._dead = 0
        self._dead_images = 0

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
            if self._keep_thumbnails and fp.thumbnail is not None:
                self._thumbnails[key] = fp.thumbnail
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
            self._thumbnails.pop(key, None)
            self._dead_images += 1
            if self._dead_images > self._images.keys.size - self._dead_images:
                self._compact_images()
        else:
            self._video_live.set(row, False)
            self._videos[row] = None
            self._dead += 1

    def _compact_images(self) -> None:
        """Drop dead image rows once they outnumber the live ones (amortised: each
        compaction follows as many removals as the rows it keeps)."""
        moved = self._images.compact()
        for key, (kind, row) in self._rows.items():
            if kind == "image":
                self._rows[key] = (kind, int(moved[row]))
        self._dead_images = 0

    def query(
        self,
        fp: Fingerprint,
        min_similarity: float | None = None,
        limit: int = 50,
        thumbnails: ThumbnailLoader | None = None,
    ) -> list[tuple[int, Match]]:
        """Indexed fingerprints like `fp`, best first (ties: lower key first).

        ``min_similarity=None`` applies the decision rules of `compare`; a number
        lists everything at least that similar instead (video rules on matched frames
        still apply). Images are compared with images and videos with videos.
        `thumbnails` loads stored thumbnails of image candidates (default: those kept).
        """
        if isinstance(fp, ImageFingerprint):
            loader = thumbnails or self._kept_thumbnails
            found = self._query_image(pack_image(fp), min_similarity, loader)
        else:
            found = self._query_video(pack_video(fp), min_similarity)
        found.sort(key=lambda kv: (-kv[1].similarity, kv[0]))
        return found[:limit]

    def query_phash(self, phash: int, max_distance: int) -> list[tuple[int, int]]:
        """Images whose pHash is within `max_distance` of `phash`: (key, distance), nearest
        first. `phash` is imagehash's hex string read as a number. The nearer of the
        picture's pHash (inside any border) and the stored image's counts, so the hash
        imagehash prints for a screenshot finds it as well as the bare picture's does."""
        images = self._images
        query = np.uint64(phash)
        d = np.minimum(
            np.bitwise_count(images.phash.view ^ query),
            np.bitwise_count(images.stored_phash.view ^ query),
        )
        rows = np.flatnonzero((d <= max_distance) & images.live.view)
        keys = images.keys.view
        found = [(int(keys[r]), int(d[r])) for r in rows]
        found.sort(key=lambda kd: (kd[1], kd[0]))
        return found

    # --- images ----------------------------------------------------------------------

    def _kept_thumbnails(self, keys: Sequence[int]) -> dict[int, Thumbnail]:
        return {k: self._thumbnails[k] for k in keys if k in self._thumbnails}

    def _query_image(
        self, query: PackedImage, min_similarity: float | None, thumbnails: ThumbnailLoader
    ) -> list[tuple[int, Match]]:
        images = self._images
        if images.keys.size == 0 or query.quality < IMAGE_MIN_QUALITY:
            return []
        floor = DECISION if min_similarity is None else min_similarity
        straight = images.distances(query.pdq)
        mirrored = images.distances(query.pdq_mirror)
        best = np.minimum(straight, mirrored)
        window, window_mirrored = images.window_distances(query)
        sim = _similarity(best, IMAGE_PDQ_MAX)
        window_sim = _similarity(window, IMAGE_WINDOW_MAX)
        by_window = window_sim > sim
        sim = np.where(by_window, window_sim, sim)
        usable = images.live.view & (images.quality.view >= IMAGE_MIN_QUALITY)
        ok = (sim >= floor - 1e-9) & usable
        flipped = np.where(by_window, window_mirrored, mirrored < straight)
        keys = images.keys.view
        found = []
        aligned = query.aligned
        if aligned and query.thumbnail is None:
            raise ValueError("a query image with gate hashes needs its thumbnail")
        for r in np.flatnonzero(ok & ~images.gated.view if aligned else ok):
            method = image_method(bool(flipped[r]), bool(by_window[r]))
            found.append((int(keys[r]), Match(float(sim[r]), method)))
        if aligned:
            hashed = (sim >= DECISION - 1e-9) & usable & images.gated.view
            found += self._verify(query, hashed, flipped, usable, floor, thumbnails)
        return found

    def _verify(
        self,
        query: PackedImage,
        hashed: npt.NDArray[np.bool_],
        flipped: npt.NDArray[np.bool_],
        usable: npt.NDArray[np.bool_],
        floor: float,
        thumbnails: ThumbnailLoader,
    ) -> list[tuple[int, Match]]:
        """Align the query's thumbnail with the nearest candidates' (gate or hash rules)."""
        images = self._images
        straight, mirrored = (images.gate_distances(g) for g in query_gates(query))
        gate_ok = [(straight <= IMAGE_GATE_MAX) & usable, (mirrored <= IMAGE_GATE_MAX) & usable]
        rows = np.flatnonzero(hashed | gate_ok[0] | gate_ok[1])
        if len(rows) == 0:
            return []
        # Hash-rule hits first, then by gate distance; ties by key (the earliest).
        nearest = np.minimum(straight, mirrored)[rows]
        keys = images.keys.view
        order = np.lexsort((keys[rows], nearest, ~hashed[rows]))
        rows = rows[order[:IMAGE_MAX_CANDIDATES]]
        stored = thumbnails([int(keys[r]) for r in rows])
        assert query.thumbnail is not None
        found = []
        for r in rows:
            thumb = stored.get(int(keys[r]))
            if thumb is None:
                continue
            orientations = {m for m in (False, True) if gate_ok[m][r]}
            if hashed[r]:
                orientations.add(bool(flipped[r]))
            match = verify_images(query.thumbnail, thumb, orientations)
            if match is not None and match.similarity >= floor - 1e-9:
                found.append((int(keys[r]), match))
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
        found = []
        for row in self._frames.search(hashes, FRAME_MAX, live):
            video = self._videos[int(row)]
            if video is None:
                continue
            score = score_videos(query, video.packed, decisive=True)
            if video_decision(score, min_similarity):
                assert score is not None
                found.append((video.key, score.match))
        if self._dead > max(1000, len(self._rows)):
            self._compact()
        return found

    def _compact(self) -> None:
        self._frames.compact(self._video_live.view.astype(np.bool_))
        self._dead = 0


def _similarity(distance: npt.NDArray[np.uint16], threshold: int) -> npt.NDArray[np.float64]:
    """`distance_similarity` of every distance, rounded as `compare` rounds it."""
    sim = np.maximum(0.0, 1.0 - (1.0 - DECISION) * distance.astype(np.float64) / threshold)
    return np.asarray(np.round(sim, 4), np.float64)
