"""Decision rules and the index, on the transform suite's small set (see bench/).

The full evaluation is ``bench/dupes_bench.py``; this runs the same code on the
smaller test set (other photographs, regions and motions than the benchmark) and
asserts its targets, in about half a minute.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from archiver.hashing import FrameHash, ImageFingerprint, VideoFingerprint, fingerprint
from archiver.match import DECISION, FingerprintIndex, Match, align, compare, mih
from archiver.match.compare import (
    IMAGE_PDQ_MAX,
    IMAGE_WINDOW_MAX,
    IMAGE_WINDOW_PHASH,
    distance_similarity,
    pack_image,
    pack_video,
    score_images,
    score_videos,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import _transforms as T
from _evaluate import evaluate

HARD_PAIRS = [("brick_pan", "cell_pan"), ("hubble_top", "hubble_bottom")]
PHOTO_HARD_PAIRS = [("retina_bl", "retina_tr"), ("brick", "gravel")]
#: Photo transforms archiver claims (crops are only partly caught: see docs/matching.md).


def test_transform_suite(tmp_path: Path) -> None:
    videos = T.build_videos(T.TEST_CLIPS, tmp_path / "videos")
    photos = T.build_photos(T.TEST_PHOTOS, tmp_path / "photos")
    video_fps = [fingerprint(it.path, "video") for it in videos]
    photo_fps = [fingerprint(it.path, "image") for it in photos]

    report = evaluate(
        videos, lambda i, j: compare(video_fps[i], video_fps[j]) is not None, HARD_PAIRS
    )
    assert report.overall.fp == 0, report.overall.false_pairs
    assert report.hard_negative_fp == 0
    for name, counts in report.per_transform.items():
        assert counts.recall >= 0.9, (name, counts.false_pairs)
    assert report.overall.recall >= 0.95

    photo_report = evaluate(
        photos, lambda i, j: compare(photo_fps[i], photo_fps[j]) is not None, PHOTO_HARD_PAIRS
    )
    assert photo_report.overall.fp == 0, photo_report.overall.false_pairs
    assert photo_report.hard_negative_fp == 0
    assert set(photo_report.per_transform) == set(T.PHOTO_TRANSFORMS)
    for name, counts in photo_report.per_transform.items():  # crops and overlays too
        assert counts.recall >= 0.9, (name, counts.false_pairs)
    assert photo_report.overall.recall >= 0.95

    # The index finds what compare decides (it may miss a copy-to-copy pair whose close
    # frames share no 16-bit chunk; never an original-copy pair here, never an extra).
    index = FingerprintIndex()
    items, fps = videos + photos, video_fps + photo_fps
    for key, fp in enumerate(fps):
        index.add(key, fp)
    assert len(index) == len(fps)
    for key, (item, fp) in enumerate(zip(items, fps, strict=True)):
        got = {k for k, _ in index.query(fp, limit=len(fps))} - {key}
        want = {j for j, other in enumerate(fps) if j != key and compare(fp, other)}
        assert got <= want
        originals = {j for j in want if "original" in (item.transform, items[j].transform)}
        assert originals <= got, (item, [items[j] for j in originals - got])


def _image(pdq: int, phash: int = 0, quality: int = 100) -> ImageFingerprint:
    return ImageFingerprint(
        640,
        480,
        {
            "phash": phash,
            "phash_mirror": ~phash & (2**64 - 1),
            "pdq": pdq,
            "pdq_mirror": ~pdq & (2**256 - 1),
            "pdq_quality": quality,
        },
    )


def _bits(n: int) -> int:
    """A value with the lowest `n` bits set: distance `n` from 0."""
    return (1 << n) - 1


def test_image_threshold_and_similarity_scale() -> None:
    base = 0x5A5A << 100
    assert compare(_image(base), _image(base)) == Match(1.0, "image-pdq")
    at_limit = compare(_image(base), _image(base ^ _bits(IMAGE_PDQ_MAX)))
    assert at_limit is not None and at_limit.similarity == pytest.approx(DECISION)
    assert compare(_image(base), _image(base ^ _bits(IMAGE_PDQ_MAX + 1))) is None
    assert distance_similarity(0, 31) == 1.0
    assert distance_similarity(31, 31) == pytest.approx(0.8)


def _windowed(pdq: int, window: int, phash: int, window_phash: int) -> ImageFingerprint:
    full, wide = 2**256 - 1, 2**64 - 1
    return ImageFingerprint(
        640,
        480,
        {
            "phash": phash,
            "phash_mirror": ~phash & wide,
            "phash_c92": window_phash,
            "phash_c92_mirror": ~window_phash & wide,
            "pdq": pdq,
            "pdq_mirror": ~pdq & full,
            "pdq_c92": window,
            "pdq_c92_mirror": ~window & full,
            "pdq_quality": 100,
        },
    )


def test_window_rule_needs_pdq_and_phash_to_agree() -> None:
    window = _bits(128) << 128  # the original's window: far from its picture (0)
    original = _windowed(0, window, 0, 1 << 40)
    far = _bits(100)  # the copy's own window: far from everything of the original

    def copy(pdq_bits: int, phash_bits: int) -> ImageFingerprint:
        return _windowed(window ^ _bits(pdq_bits), far, (1 << 40) ^ _bits(phash_bits), 0)

    crop = copy(IMAGE_WINDOW_MAX, IMAGE_WINDOW_PHASH)
    match = compare(original, crop)
    assert match is not None and match.method == "image-pdq-window"
    assert match.similarity == pytest.approx(DECISION)
    assert compare(crop, original) == match  # either way round
    # One bit too many in PDQ, or pHashes that disagree: no match.
    assert compare(original, copy(IMAGE_WINDOW_MAX + 1, 0)) is None
    assert compare(original, copy(0, IMAGE_WINDOW_PHASH + 1)) is None
    # The index applies the same rule.
    index = FingerprintIndex()
    index.add(1, crop)
    index.add(2, copy(0, IMAGE_WINDOW_PHASH + 1))
    assert index.query(original) == [(1, match)]
    # Fingerprints without window hashes (an older scheme) use the picture rule only.
    assert compare(_image(0), crop) is None


def test_plain_images_never_match() -> None:
    assert compare(_image(0, quality=5), _image(0, quality=5)) is None


def test_images_and_videos_do_not_cross_match() -> None:
    frames = [
        FrameHash(
            float(t), dict.fromkeys(("phash", "phash_mirror", "phash_c90", "phash_c90_mirror"), 7)
        )
        for t in range(10)
    ]
    clip = VideoFingerprint(10.0, 640, 360, frames)
    assert compare(_image(1), clip) is None and compare(clip, _image(1)) is None


def _clip(seed: int, frames: int = 20, start: int = 0) -> VideoFingerprint:
    """Synthetic frame hashes: frame i of clip `seed` is the same in every copy."""
    import random

    names = ("phash", "phash_mirror", "phash_c90", "phash_c90_mirror")
    out = []
    for i in range(start, start + frames):
        rng = random.Random(seed * 100_000 + i)
        out.append(FrameHash(float(i - start), {n: rng.getrandbits(64) for n in names}))
    return VideoFingerprint(float(frames), 640, 360, out)


def test_video_rule_partial_overlap_and_minimum_frames() -> None:
    whole = _clip(1, 40)
    middle = _clip(1, 10, start=15)  # a trimmed copy: 10 of the 40 frames
    match = compare(whole, middle)
    assert match is not None and match.similarity == 1.0 and match.method == "video-frames"
    assert compare(middle, whole) == match
    assert compare(whole, _clip(2, 40)) is None
    assert compare(_clip(1, 3), _clip(1, 3)) is None  # fewer than MIN_FRAMES frames
    # Frames that match but in a scrambled order are not the same footage.
    scrambled = VideoFingerprint(
        40.0,
        640,
        360,
        [FrameHash(float((7 * i) % 40), f.hashes) for i, f in enumerate(whole.frames)],
    )
    assert compare(whole, scrambled) is None


def _still_clip(picture: Image.Image, path: Path, seconds: int, tone: int) -> Path:
    """A video of one still picture with a tone over it (a statement over a logo)."""
    frame = picture.convert("RGB").resize((320, 180)).tobytes()
    T.run_ffmpeg(
        ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "320x180", "-r", "10", "-i", "-",
         "-f", "lavfi", "-i", f"sine=frequency={tone}:duration={seconds}", "-shortest",
         "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac",
         str(path)],
        stdin=(frame for _ in range(10 * seconds)),
    )  # fmt: skip
    return path


def test_different_videos_over_one_still_picture_are_not_a_match(tmp_path: Path) -> None:
    """Every frame of a still matches every frame of another over the same picture, at
    any time shift: two statements a channel posted over its logo matched at 1.0.
    Frames that look the same count once, and one picture is not footage."""
    rocket = T.photograph("rocket")
    monday = fingerprint(_still_clip(rocket, tmp_path / "monday.mp4", 8, 440), "video")
    friday = fingerprint(_still_clip(rocket, tmp_path / "friday.mp4", 14, 660), "video")
    assert compare(monday, friday) is None
    # a shared still intro (8 frames) before different footage is not enough either
    intro = [FrameHash(float(i), _clip(7, 1).frames[0].hashes) for i in range(8)]
    first, second = _clip(1, 8), _clip(2, 8)
    with_intro = [
        VideoFingerprint(
            16.0, 640, 360, [*intro, *(FrameHash(f.t + 8, f.hashes) for f in c.frames)]
        )
        for c in (first, second)
    ]
    assert compare(*with_intro) is None


def test_a_channels_intro_and_end_slate_over_night_footage_are_not_a_match() -> None:
    """Plain frames (night footage, black) are not kept, so two night clips of one
    channel kept only its 4 s intro and 3 s end slate, and each was "covered" whole:
    1.000 for footage that had nothing in common. Counted frames must spread over the
    clip's length too; a dark clip whose kept frames are spread over it still matches
    its copy."""
    sting, slate = _clip(9, 4).frames, _clip(8, 3).frames  # animated: a look a frame
    bookends = [*sting, *(FrameHash(f.t + 27, f.hashes) for f in slate)]
    night = VideoFingerprint(30.0, 640, 360, bookends)  # 23 s of it too dark to keep
    assert compare(night, VideoFingerprint(30.0, 640, 360, list(bookends))) is None
    # one frame in three kept all through a dark clip, in both copies: one clip
    dark = VideoFingerprint(30.0, 640, 360, [f for f in _clip(3, 30).frames if f.t % 3 == 0])
    match = compare(dark, VideoFingerprint(30.0, 640, 360, list(dark.frames)))
    assert match is not None and match.similarity == 1.0


def test_long_still_videos_are_queried_in_bounded_work() -> None:
    """An hour of one logo against archived hours of it: every pair of their frames is
    close. The frame table keeps an owner's repeated hashes once, and the decision
    skips an orientation with fewer close looks than a match needs (the full scoring
    took minutes and gigabytes), with the same answer."""
    picture = 0x0123_4567_89AB_CDEF
    index = FingerprintIndex()
    for key in range(3):
        index.add(key, T.still_fingerprint(picture, 3600, 1.0, seed=key))
    # 64 noisy spellings at most, x2 (picture and centre), x3 owners
    assert len(index._frames) <= 64 * 2 * 3
    query = T.still_fingerprint(picture, 3600, 2.0, seed=9)
    assert index.query(query) == []
    assert compare(query, T.still_fingerprint(picture, 3600, 1.0, seed=1)) is None
    a, b = pack_video(query), pack_video(T.still_fingerprint(picture, 50, 1.0, seed=2))
    full = score_videos(a, b)
    assert full is not None and full.frames == 1 and full.similarity == 1.0
    assert score_videos(a, b, decisive=True) is None
    # a real match is decided and scored the same either way
    whole, middle = pack_video(_clip(1, 40)), pack_video(_clip(1, 10, start=15))
    assert score_videos(whole, middle, decisive=True) == score_videos(whole, middle)


def test_scoring_and_frame_search_in_small_blocks_give_the_same_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Frame pairs are compared, listed and searched a block at a time; blocks of a few
    pairs must give what one block gives."""
    import random

    rng = random.Random(5)
    picture = rng.getrandbits(64)
    whole = _clip(3, 60)
    jittered = VideoFingerprint(
        60.0,
        640,
        360,
        [FrameHash(f.t + rng.random() * 0.4, f.hashes) for f in whole.frames[::2]],
    )
    mirror = {"phash": "phash_mirror", "phash_c90": "phash_c90_mirror"}
    mirror |= {v: k for k, v in mirror.items()}
    mirrored = VideoFingerprint(
        20.0,
        640,
        360,
        [
            FrameHash(f.t, {n: f.hashes[swap] for n, swap in mirror.items()})
            for f in _clip(3, 20, start=30).frames
        ],
    )
    stills = [
        T.still_fingerprint(picture, 30, 1.0, seed=1),
        T.still_fingerprint(picture, 45, 2.0, seed=2),
    ]
    pairs = [
        (whole, _clip(3, 20, start=10)),
        (whole, jittered),
        (whole, mirrored),
        (whole, _clip(4, 60)),
        (stills[0], stills[1]),
        (_clip(3, 10, start=50), whole),
    ]

    def answers() -> list[object]:
        index = FingerprintIndex()
        for key, (stored, _) in enumerate(pairs):
            index.add(key, stored)
            index.add(100 + key, _clip(50 + key, 30))
        out: list[object] = [[k for k, _ in index.query(probe)] for _, probe in pairs]
        for a, b in pairs:
            out.append(score_videos(pack_video(a), pack_video(b)))
            out.append(score_videos(pack_video(b), pack_video(a)))
        return out

    whole_blocks = answers()
    assert whole_blocks[: len(pairs)] == [
        [0, 1, 2, 3],
        [0, 1, 2, 3, 5],
        [0, 1, 2, 3],
        [],
        [],
        [0, 1, 2, 3, 5],
    ]
    # (the package's `compare` is the function; the module is reached by name)
    monkeypatch.setattr(importlib.import_module("archiver.match.compare"), "_PAIRS", 7)
    monkeypatch.setattr(mih, "_BATCH", 3)
    assert answers() == whole_blocks


def test_index_add_remove_query() -> None:
    index = FingerprintIndex()
    base = 0x1234 << 60
    index.add(1, _image(base, phash=0xF0))
    index.add(2, _image(base ^ _bits(10), phash=0xF1))
    index.add(3, _image(base ^ _bits(60), phash=0xFF))
    index.add(10, _clip(1, 40))
    index.add(11, _clip(2, 40))
    assert len(index) == 5 and 10 in index

    found = index.query(_image(base))
    assert [k for k, _ in found] == [1, 2]
    assert found[0][1].similarity == 1.0 > found[1][1].similarity >= DECISION
    loose = index.query(_image(base), min_similarity=0.5)
    assert [k for k, _ in loose] == [1, 2, 3]
    assert index.query(_image(base), limit=1) == found[:1]

    assert [k for k, _ in index.query(_clip(1, 12, start=20))] == [10]
    assert index.query_phash(0xF0, 1) == [(1, 0), (2, 1)]
    assert index.query_phash(0xF0, 8) == [(1, 0), (2, 1), (3, 4)]

    index.remove(1)
    index.remove(10)
    index.remove(99)  # unknown keys are ignored
    assert len(index) == 3
    assert [k for k, _ in index.query(_image(base))] == [2]
    assert index.query(_clip(1, 12, start=20)) == []
    index.add(2, _image(base ^ _bits(60)))  # re-adding a key replaces it
    assert index.query(_image(base)) == []
    assert len(index) == 3


def test_a_bordered_image_is_found_by_the_phash_imagehash_prints_for_the_file(
    tmp_path: Path,
) -> None:
    """Only the pHash of the picture inside the border was searched: the hash imagehash
    prints for a screenshot (border and all) was 30 bits from it, and found nothing."""
    import imagehash

    photo = T.photograph("coffee").convert("RGB")
    framed = Image.new("RGB", (photo.width + 120, photo.height + 120), "white")
    framed.paste(photo, (60, 60))
    path = tmp_path / "coffee_border.png"
    framed.save(path)
    fp = fingerprint(path, "image")
    assert isinstance(fp, ImageFingerprint) and "phash_full" in fp.hashes
    index = FingerprintIndex()
    index.add(1, fp)
    for picture in (framed, photo):  # the file as it is, and the bare picture
        printed = int(str(imagehash.phash(picture)), 16)
        assert [key for key, _ in index.query_phash(printed, 4)] == [1]


def test_replaced_images_are_compacted_and_answers_do_not_change(tmp_path: Path) -> None:
    """A removed image only marked its row dead, and `rehash --all` replaces every one:
    the rows doubled with each pass. Dead rows are dropped once they outnumber the live
    ones, bordered images' extra rows with them, and queries answer as before."""
    photo = T.photograph("coffee").convert("RGB")
    framed = Image.new("RGB", (photo.width + 120, photo.height + 120), "white")
    framed.paste(photo, (60, 60))
    framed.save(tmp_path / "framed.png")
    photo.save(tmp_path / "photo.jpg", quality=40)
    paths = [tmp_path / "framed.png", tmp_path / "photo.jpg"]
    for name in ("brick", "gravel"):
        T.photograph(name).convert("RGB").save(tmp_path / f"{name}.jpg")
        paths.append(tmp_path / f"{name}.jpg")
    fps = [fingerprint(path, "image") for path in paths]
    assert isinstance(fps[0], ImageFingerprint) and "phash_full" in fps[0].hashes
    fresh = FingerprintIndex()
    for key, fp in enumerate(fps):
        fresh.add(key, fp)
    index = FingerprintIndex()
    for _ in range(5):  # five passes of `rehash --all`, keys in another order each time
        for key in (2, 0, 3, 1):
            index.add(key, fps[key])
    assert len(index) == len(fps)
    images = index._images
    assert images.keys.size <= 2 * len(fps) + 1
    owners = images.full_owner.view[images.live.view[images.full_owner.view]]
    assert images.keys.view[owners].tolist() == [0]  # the border's row, still the framed one's
    for fp in fps:
        assert index.query(fp, min_similarity=0.0) == fresh.query(fp, min_similarity=0.0)
        assert index.query(fp) == fresh.query(fp)
        assert isinstance(fp, ImageFingerprint)
        for phash in (fp.hashes["phash"], fp.hashes.get("phash_full", 0)):
            assert index.query_phash(phash, 12) == fresh.query_phash(phash, 12)
    assert [k for k, _ in index.query(fps[1])][:2] in ([1, 0], [0, 1])  # the framed copy


def test_a_phone_photo_stored_sideways_is_found_by_the_phash_of_its_upright_picture(
    tmp_path: Path,
) -> None:
    """The index holds the pHash of the picture as shown (EXIF orientation applied),
    which is what docs/matching.md tells `search --phash` users to hash; imagehash on
    the file as opened hashes the sideways pixels, about 30 bits away."""
    import imagehash
    from PIL import ImageOps

    photo = T.photograph("coffee").convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to show
    path = tmp_path / "phone.jpg"
    photo.rotate(90, expand=True).save(path, quality=90, exif=exif)
    index = FingerprintIndex()
    index.add(1, fingerprint(path, "image"))
    with Image.open(path) as opened:
        upright = int(str(imagehash.phash(ImageOps.exif_transpose(opened))), 16)
        sideways = int(str(imagehash.phash(opened)), 16)
    assert [key for key, _ in index.query_phash(upright, 4)] == [1]
    assert index.query_phash(sideways, 10) == []


def test_ties_list_the_earliest_key_first() -> None:
    index = FingerprintIndex()
    for key in (30, 10, 20):
        index.add(key, _image(77 << 90))
    assert [k for k, _ in index.query(_image(77 << 90))] == [10, 20, 30]


def _photo_fp(image: Image.Image, path: Path, quality: int = 90) -> ImageFingerprint:
    image.save(path, quality=quality)
    fp = fingerprint(path, "image")
    assert isinstance(fp, ImageFingerprint) and fp.thumbnail is not None
    return fp


def test_real_photo_cropped_off_centre_watermarked_and_resized_is_matched(
    tmp_path: Path,
) -> None:
    photo = T.photograph("chelsea")
    original = _photo_fp(photo, tmp_path / "original.jpg")
    copies = {
        name: _photo_fp(*T.PHOTO_TRANSFORMS[name](photo)[:1], tmp_path / f"{name}.jpg")
        for name in ("crop_8pct", "watermark_banner", "resize_40pct")
    }
    # The crop is 5/3% left/right and 2/6% top/bottom: no global hash lines it up.
    crop = copies["crop_8pct"]
    assert bin(original.hashes["pdq"] ^ crop.hashes["pdq"]).count("1") > IMAGE_PDQ_MAX
    for name, copy in copies.items():
        for a, b in ((original, copy), (copy, original)):  # whichever arrives first
            match = compare(a, b)
            assert match is not None and match.method == "image-aligned", name
    # The index keeps no thumbnails when told so and loads only its candidates'.
    index = FingerprintIndex(keep_thumbnails=False)
    stored = {1: original, 2: _photo_fp(T.photograph("astronaut"), tmp_path / "other.jpg")}
    for key, fp in stored.items():
        index.add(key, fp)
    asked: list[int] = []

    def load(keys: Sequence[int]) -> dict[int, npt.NDArray[np.uint8]]:
        asked.extend(keys)
        return {k: t for k in keys if (t := stored[k].thumbnail) is not None}

    for copy in copies.values():
        assert [k for k, _ in index.query(copy, thumbnails=load)] == [1]
    assert set(asked) == {1}
    assert index.query(crop) == []  # no loader, no thumbnails kept: nothing verified


#: Hard negatives: side-by-side tiles of one photograph share its layout and texture;
#: the top corners of a fundus photograph are near mirror images of each other (dark
#: corner, bright arc) and differ only in their vessels.
TILE_PAIRS = {
    "hubble": ("hubble_deep_field", (0.0, 0.0, 0.5, 1.0), (0.5, 0.0, 1.0, 1.0)),
    "retina": ("retina", (0.0, 0.0, 0.5, 0.5), (0.5, 0.0, 1.0, 0.5)),
}


@pytest.mark.parametrize("pair", sorted(TILE_PAIRS))
def test_adjacent_tiles_and_mirror_symmetric_tiles_are_not_matched(
    tmp_path: Path, pair: str
) -> None:
    name, left, right = TILE_PAIRS[pair]
    a = _photo_fp(T.region_of(name, left), tmp_path / "a.jpg")
    tile = T.region_of(name, right)
    for label, transform in (("b", None), ("mirror", "mirror"), ("crop", "crop_8pct")):
        image = tile if transform is None else T.PHOTO_TRANSFORMS[transform](tile)[0]
        b = _photo_fp(image, tmp_path / f"{label}.jpg")
        assert compare(a, b) is None and compare(b, a) is None, label
        score = score_images(pack_image(a), pack_image(b))
        assert score is None or score.similarity < DECISION - 0.1, (label, score)


def test_alignment_score_needs_most_blocks_to_agree() -> None:
    rng = np.random.default_rng(5)
    picture = rng.normal(0, 10, (60, 60)).astype(np.float32)
    blocks = [(i, j) for i in range(align.GRID) for j in range(align.GRID)]

    def spoil(cells: Sequence[tuple[int, int]]) -> npt.NDArray[np.float32]:
        out = picture.copy()
        for i, j in cells:
            out[i * 10 : i * 10 + 10, j * 10 : j * 10 + 10] = rng.normal(0, 10, (10, 10))
        return out

    # A banner over the bottom row and a caption above it: most blocks still agree.
    assert align.block_score(picture, spoil(blocks[-8:])) > 0.9
    # A shared outline over 20 of 36 blocks, different detail elsewhere: the median
    # would call it a copy; 65% of the blocks must agree.
    outline = spoil(blocks[20:])
    assert np.median([1.0] * 20 + [0.0] * 16) == 1.0
    assert align.block_score(picture, outline) < 0.3


def banner(height: int, path: Path) -> Path:
    """A 4200 px wide strip of a photograph (a web banner or divider), as PNG."""
    photo = T.photograph("astronaut").resize((4200, 4200))
    photo.crop((0, 200, 4200, 200 + height)).save(path)
    return path


@pytest.mark.parametrize(
    ("height", "rows", "found"), [(32, 1, False), (200, 3, False), (400, 6, True)]
)
def test_a_wide_banner_and_its_reencode_are_compared(
    tmp_path: Path, height: int, rows: int, found: bool
) -> None:
    """A 4200x32 banner has a 64x1 thumbnail: aligning it with its re-encode raised
    IndexError, and one 2-5 rows tall scored NaN (blocks with no pixel). Too thin to
    align is too plain to say (-1); from `align.MIN_SIDE` (6) rows on, the copy is found."""
    png = banner(height, tmp_path / "banner.png")
    with Image.open(png) as image:
        jpeg = _photo_fp(image, tmp_path / "banner.jpg", quality=80)
    original = fingerprint(png, "image")
    assert isinstance(original, ImageFingerprint) and original.thumbnail is not None
    assert original.thumbnail.shape == (rows, 64)
    for a, b in ((original, jpeg), (jpeg, original)):
        assert a.thumbnail is not None and b.thumbnail is not None
        score = align.align_score(a.thumbnail, b.thumbnail, False)
        assert score > 0.9 if found else score == -1.0
        assert (compare(a, b) is not None) == found


def test_blocks_without_pixels_are_left_out_of_the_score() -> None:
    """A plane under `align.GRID` rows leaves some blocks empty: their NaN made the
    score NaN."""
    rng = np.random.default_rng(7)
    picture = rng.normal(0, 10, (3, 60)).astype(np.float32)
    assert align.block_score(picture, picture) == pytest.approx(1.0)


#: Different pictures that share an outline and then get the same overlay: the bottom
#: corners of a fundus photograph (near mirror images: black corner, bright arc) with the
#: same screenshot border and its top halves under the same banner: with faces of the
#: LFW subset (one layout for all, below), the closest different-source pairs of the
#: extra-negatives benchmark (bench/negatives_bench.py).
OUTLINE_PAIRS = {
    "retina corners, caption": (
        "retina",
        (0, 2 / 3, 1 / 3, 1),
        (2 / 3, 2 / 3, 1, 1),
        "border_caption",
    ),
    "retina halves, banner": ("retina", (0, 0, 0.5, 0.5), (0.5, 0, 1, 0.5), "watermark_banner"),
}


@pytest.mark.parametrize("pair", sorted(OUTLINE_PAIRS))
def test_shared_outline_and_overlay_are_not_a_match(tmp_path: Path, pair: str) -> None:
    name, left, right, transform = OUTLINE_PAIRS[pair]
    fn = T.PHOTO_TRANSFORMS[transform]
    a = _photo_fp(fn(T.region_of(name, left))[0], tmp_path / "a.jpg")
    b = _photo_fp(fn(T.region_of(name, right))[0], tmp_path / "b.jpg")
    assert compare(a, b) is None and compare(b, a) is None
    for x, y in ((a, b), (b, a)):
        score = score_images(pack_image(x), pack_image(y))
        assert score is None or score.similarity < DECISION - 0.15, score
    # The same picture under the overlay is still found.
    original = _photo_fp(T.region_of(name, left), tmp_path / "original.jpg")
    assert compare(original, a) is not None


def test_faces_of_one_layout_are_not_matched(tmp_path: Path) -> None:
    crop = T.PHOTO_TRANSFORMS["crop_8pct"]
    banner = T.PHOTO_TRANSFORMS["watermark_banner"]
    a = _photo_fp(crop(T.photograph("lfw_subset:15"))[0], tmp_path / "a.jpg")
    b = _photo_fp(banner(T.photograph("lfw_subset:24"))[0], tmp_path / "b.jpg")
    c = _photo_fp(T.photograph("lfw_subset:15"), tmp_path / "c.jpg")
    for x, y in ((a, b), (b, a), (c, b)):
        score = score_images(pack_image(x), pack_image(y))
        assert score is None or score.similarity < DECISION - 0.15, score
    assert compare(a, c) is not None  # the face itself, cropped, is found
