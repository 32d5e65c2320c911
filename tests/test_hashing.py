"""Fingerprinting: reference-exact hashes, bad input, bounded work on long videos."""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path
from typing import Any

import av
import imagehash
import numpy as np
import pytest
import skimage.data
from PIL import Image
from support import ffmpeg_exe, make_audio, make_clip, make_photo

from archiver.errors import ArchiverError, Interrupted
from archiver.hashing import (
    ALGORITHM,
    HashingError,
    ImageFingerprint,
    VideoFingerprint,
    borders,
    fingerprint,
    images,
    pdq,
    thumbnail,
    video,
)
from archiver.hashing.borders import content_box
from archiver.hashing.images import hash_rgb
from archiver.hashing.phash import phash
from archiver.hashing.thumbnail import GATE_NAMES
from archiver.match import compare

# Reference PDQ hashes (Meta's C++ implementation) of scikit-image photographs.
PDQ_ASTRONAUT = "2d6b1af3a956c529e79ca3d2526fa834d4196c81cedd04de0a26b855fc99b724"
PDQ_CAMERA = "dc9c9d3b746978f888f40ce6e5c3f70f7266623e8d989cb99f21f2010841e1c7"


def _pdq_hex(rgb: np.ndarray) -> tuple[str, int]:
    f = rgb.astype(np.float32)
    luma = f[..., 0] * 0.299 + f[..., 1] * 0.587 + f[..., 2] * 0.114
    block = pdq.downsample64(luma.astype(np.float32))
    return format(pdq.words_to_int(pdq.hash_blocks(block[None])[0]), "064x"), int(
        pdq.quality(block)
    )


def test_pdq_is_bit_exact_with_the_reference() -> None:
    assert _pdq_hex(skimage.data.astronaut()) == (PDQ_ASTRONAUT, 100)
    assert _pdq_hex(np.stack([skimage.data.camera()] * 3, axis=-1)) == (PDQ_CAMERA, 100)


def test_phash_is_imagehash_phash() -> None:
    grey = np.asarray(Image.fromarray(skimage.data.coffee()).convert("L"))
    for window in (np.s_[:, :], np.s_[20:300, 50:500]):
        expected = int(str(imagehash.phash(Image.fromarray(grey[window]))), 16)
        assert phash(grey[window]) == expected


def test_image_fingerprint(tmp_path: Path) -> None:
    path = make_photo(tmp_path / "p.jpg", seed=0, size=(800, 600))
    fp = fingerprint(path, "image")
    assert isinstance(fp, ImageFingerprint)
    assert (fp.width, fp.height) == (800, 600)
    assert set(fp.hashes) == {
        "phash",
        "phash_mirror",
        "pdq",
        "pdq_mirror",
        "pdq_quality",
        "pdq_c92",
        "pdq_c92_mirror",
        "phash_c92",
        "phash_c92_mirror",
        *GATE_NAMES,
    }
    assert fp.thumbnail is not None and fp.thumbnail.shape == (48, 64)
    assert fp.hashes["pdq"] < 1 << 256 and fp.hashes["phash"] < 1 << 64
    assert fp.hashes["pdq_quality"] >= 50
    assert isinstance(ALGORITHM, str) and ALGORITHM


def test_mirrored_image_hashes_swap(tmp_path: Path) -> None:
    image = Image.fromarray(skimage.data.chelsea())
    image.save(tmp_path / "a.png")
    image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(tmp_path / "b.png")
    a, b = fingerprint(tmp_path / "a.png", "image"), fingerprint(tmp_path / "b.png", "image")
    assert a.hashes["pdq_mirror"] == b.hashes["pdq"]
    assert a.hashes["phash_mirror"] == b.hashes["phash"]
    assert a.hashes["pdq_c92_mirror"] == b.hashes["pdq_c92"]
    assert a.hashes["phash_c92_mirror"] == b.hashes["phash_c92"]
    match = compare(a, b)
    assert match is not None and match.method == "image-aligned-mirrored"


@pytest.mark.parametrize("mode", ["I;16", "I", "F"])
def test_wide_grey_images_hash_as_their_8_bit_picture(tmp_path: Path, mode: str) -> None:
    """A 16-bit PNG (or 32-bit / float TIFF) of a photograph is the photograph, not white."""
    camera = skimage.data.camera()  # 8-bit grey, 512 x 512
    Image.fromarray(camera).save(tmp_path / "eight.png")
    if mode == "F":
        wide, name = Image.fromarray(camera.astype(np.float32) / 255, "F"), "wide.tif"
    else:
        array = camera.astype(np.uint16 if mode == "I;16" else np.int32) * 257
        wide, name = Image.fromarray(array), "wide.png" if mode == "I;16" else "wide.tif"
    wide.save(tmp_path / name)
    with Image.open(tmp_path / name) as reopened:
        assert reopened.mode == mode
    eight = fingerprint(tmp_path / "eight.png", "image")
    deep = fingerprint(tmp_path / name, "image")
    assert deep.hashes == eight.hashes
    assert compare(deep, eight) is not None


def test_thumbnail_is_stored_as_pixels_and_read_back(tmp_path: Path) -> None:
    path = make_photo(tmp_path / "p.jpg", seed=1, size=(300, 500))
    fp = fingerprint(path, "image")
    assert isinstance(fp, ImageFingerprint) and fp.thumbnail is not None
    assert fp.thumbnail.shape == (64, 38) and fp.thumbnail.dtype == np.uint8
    width, pixels = thumbnail.to_pixels(fp.thumbnail)
    assert width == 38 and len(pixels) == 38 * 64
    assert np.array_equal(thumbnail.from_pixels(width, pixels), fp.thumbnail)
    for bad in ((37, pixels), (38, pixels[:-1]), (0, pixels), (38, b"")):
        with pytest.raises(ValueError):
            thumbnail.from_pixels(*bad)


def test_centred_window_lines_up_with_a_symmetric_crop() -> None:
    photo = np.asarray(Image.fromarray(skimage.data.chelsea()).resize((500, 400)))
    crop = photo[16:384, 20:480]  # the centred 92%
    fp, cropped = hash_rgb(photo), hash_rgb(crop)
    assert bin(fp["pdq_c92"] ^ cropped["pdq"]).count("1") <= 8
    assert bin(fp["phash_c92"] ^ cropped["phash"]).count("1") <= 2
    assert bin(fp["pdq"] ^ cropped["pdq"]).count("1") > 31  # the picture rule alone misses


def test_frames_are_judged_in_batches_with_the_answer_of_all_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An hour of video (3,600 sampled frames) was judged in one go, with temporaries
    of 8 bytes a pixel: 600 MB. In batches, each frame's lines come out the same."""
    rng = np.random.default_rng(1)
    frames = rng.integers(30, 220, (40, 90, 160), dtype=np.uint8)
    frames[::2, :10, :] = 0  # bars in some frames only, plain frames among them
    frames[1::2, 80:, :] = 255
    frames[3] = 0
    for axis in (1, 2):
        whole = borders._solid(frames, axis, video.FLAT_SHARE)
        monkeypatch.setattr(borders, "SOLID_BATCH", 7)
        assert np.array_equal(borders._solid(frames, axis, video.FLAT_SHARE), whole)
        monkeypatch.undo()
    one_go = content_box(frames, solid=video.FLAT_SHARE, votes=0.4)
    monkeypatch.setattr(borders, "SOLID_BATCH", 3)
    assert content_box(frames, solid=video.FLAT_SHARE, votes=0.4) == one_go != (0, 90, 0, 160)


def test_screenshot_border_and_caption_are_trimmed() -> None:
    photo = np.asarray(Image.fromarray(skimage.data.astronaut()).resize((300, 240)))
    canvas = np.full((240 + 2 * 15 + 50, 300 + 2 * 15, 3), 255, np.uint8)
    canvas[15:255, 15:315] = photo
    canvas[270:285, 20:250] = 0  # a caption line of "ink" under the photo
    canvas[270:285, 20:250:3] = 255
    fp, plain = hash_rgb(canvas), hash_rgb(photo)
    assert bin(fp["pdq"] ^ plain["pdq"]).count("1") <= 16
    assert "pdq_full" in fp and "pdq_full" not in plain


def test_letterbox_bars_are_trimmed_in_pairs() -> None:
    rng = np.random.default_rng(0)
    frames = np.zeros((6, 90, 160), np.uint8)
    frames[:, 12:78, :] = rng.integers(30, 220, (6, 66, 160))
    assert content_box(frames, solid=video.FLAT_SHARE, votes=video.FLAT_VOTES) == (12, 78, 0, 160)
    # A dark band on one side only is picture, not a bar: only the paired depth goes.
    frames[:, 12:30, :] = 0
    assert content_box(frames, solid=video.FLAT_SHARE, votes=video.FLAT_VOTES) == (12, 78, 0, 160)
    frames[:, 78:, :] = rng.integers(30, 220, (6, 12, 160))
    assert content_box(frames, solid=video.FLAT_SHARE, votes=video.FLAT_VOTES) == (0, 90, 0, 160)


@pytest.mark.parametrize("size", [(1, 1), (16, 16), (31, 200)])
def test_tiny_image_is_refused(tmp_path: Path, size: tuple[int, int]) -> None:
    path = tmp_path / "tiny.png"
    Image.new("RGB", size, "white").save(path)
    with pytest.raises(HashingError, match=rf"image too small to hash \({size[0]}x{size[1]}\)"):
        fingerprint(path, "image")


def test_tracking_pixel_gif_is_refused(media_dir: Path) -> None:
    with pytest.raises(HashingError, match=r"too small to hash \(1x1\)"):
        fingerprint(media_dir / "pixel.gif", "image")


def test_huge_image_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    Image.new("1", (8000, 6000)).save(path)  # 48 megapixels, a few kB on disk
    with pytest.raises(HashingError, match=r"image too large to hash \(8000x6000\)"):
        fingerprint(path, "image")


def _png_of_zeros(path: Path, width: int, height: int) -> Path:
    """An RGB PNG of black pixels, written a row at a time (small on disk: 420 kB at
    12000x12000, 432 MB once decoded)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    packer, row = zlib.compressobj(9), bytes(1 + 3 * width)  # filter byte 0, then pixels
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
    path.write_bytes(png + chunk(b"IEND", b""))
    return path


def test_a_huge_png_is_refused_before_its_pixels_are_read(tmp_path: Path) -> None:
    """Reading a PNG's EXIF made Pillow decode every pixel first (its eXIf chunk may
    follow them): 600 MB for a 420 kB file, before the size was checked. In a child
    allowed 256 MB more than it holds at the start, the refusal must come from the check."""
    import subprocess
    import sys

    path = _png_of_zeros(tmp_path / "huge.png", 12000, 12000)
    code = (
        "import resource, sys\n"
        "from archiver.hashing import fingerprint\n"
        "from archiver.errors import HashingError\n"
        "size = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
        "resource.setrlimit(resource.RLIMIT_AS, (size + (256 << 20),) * 2)\n"
        "try:\n"
        "    fingerprint(sys.argv[1], 'image')\n"
        "except HashingError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "image too large to hash (12000x12000)", done.stderr


def test_a_reason_names_the_file_not_where_the_host_keeps_it(tmp_path: Path) -> None:
    """Pillow's "cannot identify image file '/srv/archive/media/…/original.png'" was
    kept as the reason (index, sidecar, web page), naming the host's folders."""
    path = tmp_path / "original.png"
    path.write_bytes(bytes(40))
    with pytest.raises(HashingError) as caught:
        fingerprint(path, "image")
    assert str(caught.value) == "unreadable image: cannot identify image file 'original.png'"


def test_huge_jpeg_is_decoded_at_reduced_scale(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    Image.fromarray(skimage.data.astronaut()).resize((9000, 6000)).save(path, quality=80)
    fp = fingerprint(path, "image")  # 54 MP: only fits because JPEG decodes at 1/8 scale
    assert (fp.width, fp.height) == (9000, 6000)
    small = tmp_path / "small.jpg"
    Image.fromarray(skimage.data.astronaut()).resize((900, 600)).save(small, quality=80)
    assert compare(fp, fingerprint(small, "image")) is not None


def test_animated_gif_uses_first_frame_with_detail(tmp_path: Path) -> None:
    photo = Image.fromarray(skimage.data.rocket()).resize((320, 214))
    frames = [Image.new("RGB", photo.size, "black"), photo, photo.rotate(180)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    still = tmp_path / "still.png"
    with Image.open(path) as gif:
        gif.seek(1)
        gif.convert("RGB").save(still)
    fp = fingerprint(path, "image")
    assert (fp.width, fp.height) == photo.size
    assert fp.hashes == fingerprint(still, "image").hashes


def test_zero_length_files_are_refused(tmp_path: Path) -> None:
    for kind, name in (("image", "empty.jpg"), ("video", "empty.mp4")):
        path = tmp_path / name
        path.touch()
        with pytest.raises(HashingError, match="empty file"):
            fingerprint(path, kind)  # type: ignore[arg-type]


def test_garbage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(1).bytes(50_000))
    with pytest.raises(HashingError, match=r"^corrupt video"):
        fingerprint(path, "video")
    path = tmp_path / "noise.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + np.random.default_rng(1).bytes(5_000))
    with pytest.raises(HashingError, match=r"^unreadable image"):
        fingerprint(path, "image")


def test_errors_are_archiver_errors_with_one_line_reasons(tmp_path: Path) -> None:
    path = tmp_path / "x.mp4"
    path.write_bytes(b"not a video at all")
    with pytest.raises(ArchiverError) as info:
        fingerprint(path, "video")
    assert "\n" not in str(info.value)


def test_truncated_video_keeps_what_decodes(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=8, size=(320, 240), seed=3, audio=False)
    whole = fingerprint(clip, "video")
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    part = fingerprint(cut, "video")
    assert isinstance(part, VideoFingerprint) and isinstance(whole, VideoFingerprint)
    assert 0 < len(part.frames) < len(whole.frames)
    assert part.frames[-1].t < 6.0
    head = tmp_path / "head.mp4"
    head.write_bytes(data[:2000])
    with pytest.raises(HashingError, match=r"^corrupt video"):
        fingerprint(head, "video")


def test_a_video_cut_short_is_as_long_as_what_decodes_and_matches_the_whole(
    tmp_path: Path,
) -> None:
    """A download cut short keeps its header's duration. Its frames, all in the first
    third, were spread over the whole of it by the matcher, which then capped the share
    they covered: the complete file was never matched. A complete file keeps its own."""
    clip = make_clip(tmp_path / "clip.mp4", seconds=24, size=(320, 240), seed=0, audio=False)
    whole = fingerprint(clip, "video")
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 3 // 10])
    part = fingerprint(cut, "video")
    assert isinstance(part, VideoFingerprint) and isinstance(whole, VideoFingerprint)
    assert whole.duration == pytest.approx(24.0, abs=0.1)
    assert part.frames[-1].t < 12.0
    assert part.duration == pytest.approx(part.frames[-1].t + 0.5, abs=0.01)
    assert compare(part, whole) is not None
    assert video.covered_length(24.0, 23.5, 0.5) == 24.0  # ends within an interval
    assert video.covered_length(7200.0, 7190.0, 2.0) == 7200.0  # a keyframe's spacing
    assert video.covered_length(None, 8.5, 0.5) == 8.5


def test_a_video_that_spends_its_decoding_budget_goes_on_at_keyframes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decoding was bounded by the declared duration alone: a small 4K file at 240
    frames a second, every frame a reference, declared just under the hour, held a
    worker for over an hour. Past the budget the rest is read at keyframes (one a
    second here), as an hour-long video is."""
    clip = make_clip(tmp_path / "clip.mp4", seconds=10, size=(320, 240), seed=2, audio=False)
    whole = fingerprint(clip, "video")
    monkeypatch.setattr(video, "DECODE_BUDGET", 50, raising=False)  # two seconds of it
    spent = fingerprint(clip, "video")
    assert isinstance(whole, VideoFingerprint) and isinstance(spent, VideoFingerprint)
    later = [f.t for f in spent.frames if f.t > 3.0]
    assert later and all(t == pytest.approx(round(t), abs=0.01) for t in later)
    assert len(spent.frames) < len(whole.frames)
    assert compare(spent, whole) is not None


def test_audio(tmp_path: Path) -> None:
    audio = make_audio(tmp_path / "tone.m4a", 1.0)
    with pytest.raises(HashingError, match=r"^audio-only file$"):
        fingerprint(audio, "video")
    with pytest.raises(HashingError, match=r"^audio has no visual fingerprint$"):
        fingerprint(audio, "audio")


def test_video_fingerprint(media_dir: Path) -> None:
    fp = fingerprint(media_dir / "clip_a.mp4", "video")  # 2 s, 320x240, sampled twice a second
    assert isinstance(fp, VideoFingerprint)
    assert (fp.width, fp.height) == (320, 240)
    assert fp.duration == pytest.approx(2.0, abs=0.1)
    assert [f.t for f in fp.frames] == pytest.approx([0.0, 0.5, 1.0, 1.5], abs=0.05)
    names = {"phash", "phash_mirror", "phash_c90", "phash_c90_mirror"}
    assert all(set(f.hashes) == names for f in fp.frames)


def test_a_shutdown_cuts_a_video_fingerprint_short(media_dir: Path) -> None:
    """An hour of 1080p was fingerprinted to the end after SIGTERM: the daemon's
    shutdown ran past systemd's time-out, and its SIGKILL."""
    looked: list[int] = []

    def stop() -> None:
        looked.append(1)
        if len(looked) == 2:
            raise Interrupted("interrupted by shutdown")

    with pytest.raises(Interrupted):
        fingerprint(media_dir / "clip_a.mp4", "video", stop=stop)
    assert len(looked) == 2  # asked between frames, and no further


def test_display_rotation_is_applied(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=3, size=(320, 240), seed=4, audio=False)
    flagged, baked = tmp_path / "flagged.mp4", tmp_path / "baked.mp4"
    _ffmpeg(["-display_rotation", "90", "-i", str(clip), "-c", "copy", str(flagged)])
    _ffmpeg(["-i", str(flagged), *_X264, str(baked)])  # what a re-upload looks like
    a, b = fingerprint(flagged, "video"), fingerprint(baked, "video")
    assert (a.width, a.height) == (b.width, b.height) == (240, 320)
    match = compare(a, b)
    assert match is not None and match.method == "video-frames"


@pytest.mark.parametrize(
    "flags",
    [["-display_hflip"], ["-display_vflip"], ["-display_rotation", "90", "-display_hflip"]],
    ids=["hflip", "vflip", "rotated-and-mirrored"],
)
def test_a_mirroring_display_matrix_is_applied_as_a_mirror(
    tmp_path: Path, flags: list[str]
) -> None:
    """A video whose display matrix mirrors it (front cameras, editors) was turned by
    PyAV's rotation alone, which reads a horizontal flip as a half turn: hashed upside
    down, it matched neither a copy with the flip baked in nor (a plain mirror) its own
    pixels."""
    clip = make_clip(tmp_path / "clip.mp4", seconds=3, size=(320, 240), seed=4, audio=False)
    flagged, baked = tmp_path / "flagged.mp4", tmp_path / "baked.mp4"
    _ffmpeg([*flags, "-i", str(clip), "-c", "copy", str(flagged)])
    _ffmpeg(["-i", str(flagged), *_X264, str(baked)])  # what a player shows, baked in
    a, b = fingerprint(flagged, "video"), fingerprint(baked, "video")
    assert (a.width, a.height) == (b.width, b.height)
    shown = compare(a, b)
    assert shown is not None and shown.method == "video-frames"
    if flags == ["-display_hflip"]:
        pixels = compare(fingerprint(clip, "video"), a)
        assert pixels is not None and pixels.method == "video-frames-mirrored"


def test_decoded_frames_are_let_go_as_they_are_sampled(tmp_path: Path) -> None:
    """Looking at each sampled frame's side data (its display matrix) kept the frame,
    picture and all, until the garbage collector ran: capturing a page's videos took
    40 MB more at once."""
    clip = make_clip(tmp_path / "clip.mp4", seconds=4, size=(320, 240), seed=5, audio=False)
    gc.collect()
    gc.disable()
    try:
        fp = fingerprint(clip, "video")
        held = sum(isinstance(o, av.VideoFrame) for o in gc.get_objects())
    finally:
        gc.enable()
    assert isinstance(fp, VideoFingerprint) and len(fp.frames) >= 4
    assert held <= 1


def test_plain_frames_are_dropped(tmp_path: Path) -> None:
    black = tmp_path / "black.mp4"
    _ffmpeg(["-f", "lavfi", "-i", "color=c=black:s=320x240:d=4:r=25", *_X264, str(black)])
    fp = fingerprint(black, "video")
    assert isinstance(fp, VideoFingerprint) and fp.frames == []
    assert compare(fp, fp) is None


def test_sampling_interval_is_capped() -> None:
    assert video.sampling_interval(30) == 0.5
    assert video.sampling_interval(600) == 1.0
    assert video.sampling_interval(4 * 3600) == 4 * 3600 / video.MAX_FRAMES == 4.0
    assert video.sampling_interval(None) == 1.0


@pytest.mark.slow
def test_ten_minute_video_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real 10-minute file: one frame a second, a few seconds of CPU at most.

    The 4-hour case is shown by its mechanisms: with the frame cap lowered to 100 the
    same file is sampled every 6 s (the cap holds), and with the keyframe-only
    threshold lowered below its length only keyframes are decoded, which is how a
    video over an hour is read.
    """
    path = tmp_path / "long.mp4"
    source = "testsrc2=s=192x108:r=5:d=600"
    _ffmpeg(["-f", "lavfi", "-i", source, *_X264, "-g", "50", str(path)])
    cpu = time.process_time()
    fp = fingerprint(path, "video")
    spent = time.process_time() - cpu
    assert isinstance(fp, VideoFingerprint)
    assert fp.duration == pytest.approx(600, abs=1)
    assert 550 <= len(fp.frames) <= 600
    assert spent < 30

    monkeypatch.setattr(video, "MAX_FRAMES", 100)
    capped = fingerprint(path, "video")
    assert isinstance(capped, VideoFingerprint)
    assert len(capped.frames) <= 100
    assert capped.frames[1].t - capped.frames[0].t == pytest.approx(6.0, abs=0.3)

    monkeypatch.setattr(video, "KEYFRAMES_ONLY_AFTER", 60.0)
    cpu = time.process_time()
    keyed = fingerprint(path, "video")
    assert isinstance(keyed, VideoFingerprint)
    assert time.process_time() - cpu < spent
    assert all(f.t % 10 == pytest.approx(0, abs=0.01) for f in keyed.frames)  # keyframes


_X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-threads", "1"]


def _ffmpeg(args: list[str]) -> None:
    import subprocess

    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args],
        check=True,
        env={**os.environ},
    )


# Malformed and hostile input: every call returns or raises HashingError, quickly and
# without decoding more than the limits allow. Inputs are built here at run time.


def _ivf_with_absurd_times(path: Path, source: Path) -> Path:
    """An IVF whose time base is 2**31-1 s per tick and whose frames after the first are
    timed at 2**60 ticks and on: about 1e27 seconds."""
    import struct

    data = bytearray(source.read_bytes())
    assert data[:4] == b"DKIF"
    header = struct.unpack_from("<H", data, 6)[0]
    struct.pack_into("<II", data, 16, 1, 2**31 - 1)  # time base denominator, numerator
    struct.pack_into("<I", data, 24, 0)  # frame count unknown
    offset, index = header, 0
    while offset + 12 <= len(data):
        size = struct.unpack_from("<I", data, offset)[0]
        struct.pack_into("<Q", data, offset + 4, 0 if index == 0 else (1 << 60) + index)
        offset, index = offset + 12 + size, index + 1
    path.write_bytes(data)
    return path


def test_absurd_frame_times_end_quickly(tmp_path: Path) -> None:
    """Sampling times past any real length neither hang the sampler nor count."""
    import subprocess
    import sys

    vp9 = tmp_path / "clip.ivf"
    source = "testsrc2=s=160x120:r=25:d=1"
    _ffmpeg(["-f", "lavfi", "-i", source, "-c:v", "libvpx-vp9", "-deadline", "realtime", str(vp9)])
    path = _ivf_with_absurd_times(tmp_path / "absurd.ivf", vp9)
    code = (
        "import sys; from archiver.hashing import fingerprint; "
        "fp = fingerprint(sys.argv[1], 'video'); print([f.t for f in fp.frames], fp.duration)"
    )
    try:  # in a child, so that a hang is cut off
        done = subprocess.run(
            [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=15
        )
    except subprocess.TimeoutExpired:
        pytest.fail("fingerprinting a video with absurd frame times did not end")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[0.0]", "0.0"]  # the first frame only


def test_long_page_chain_is_not_counted(tmp_path: Path) -> None:
    """Only the first few pages of a TIFF are looked at: Pillow's page count walks the
    whole chain, quadratically (100,000 pages took a minute)."""
    import struct

    pages, side = 30_000, 32
    strip = bytes([128]) * side * side
    data = bytearray(b"II*\x00" + struct.pack("<I", 8 + len(strip)) + strip)
    tags = [(256, 3, side), (257, 3, side), (258, 3, 8), (259, 3, 1), (262, 3, 1)]
    tags += [(273, 4, 8), (277, 3, 1), (278, 3, side), (279, 4, len(strip))]
    ifd_size = 2 + 12 * len(tags) + 4
    for page in range(pages):
        following = len(data) + ifd_size if page < pages - 1 else 0
        data += struct.pack("<H", len(tags))
        for tag, kind, value in tags:  # LONG values fill the field, SHORT ones are padded
            field = struct.pack("<I" if kind == 4 else "<HH", value, *([] if kind == 4 else [0]))
            data += struct.pack("<HHI", tag, kind, 1) + field
        data += struct.pack("<I", following)
    path = tmp_path / "chain.tiff"
    path.write_bytes(data)
    started = time.perf_counter()
    fp = fingerprint(path, "image")
    assert time.perf_counter() - started < 1.0
    assert (fp.width, fp.height) == (side, side)


def _gif_frame_descriptor(data: bytes) -> int:
    """Offset of the first image descriptor of a one-frame GIF."""
    flags = data[10]
    offset = 13 + (3 * (2 << (flags & 7)) if flags & 0x80 else 0)
    while data[offset] == 0x21:  # extension blocks
        offset += 2
        while data[offset]:
            offset += data[offset] + 1
        offset += 1
    assert data[offset] == 0x2C
    return offset


def _gif_growing_on_frame_2(path: Path, size: tuple[int, int], disposal: int = 1) -> Path:
    """A 64x64 GIF whose flat first frame is followed by a frame declaring `size`.

    `disposal`: 1 leaves each frame in place, 2 restores its area to the background, 3
    to what was there before.
    """
    import struct

    first, second = _gif_single(0), _gif_single(1)
    head, one = first[: _gif_frame_descriptor(first)], first[_gif_frame_descriptor(first) : -1]
    two = bytearray(second[_gif_frame_descriptor(second) : -1])
    struct.pack_into("<HH", two, 5, *size)
    control = _gif_control(disposal)
    path.write_bytes(head + control + one + control + bytes(two) + b";")
    return path


def _gif_single(colour: int) -> bytes:
    """A flat 64x64 one-frame GIF."""
    import io

    out = io.BytesIO()
    Image.new("P", (64, 64), colour).save(out, "GIF")
    return out.getvalue()


def _gif_control(disposal: int) -> bytes:
    """A graphic control extension: this disposal, no transparency."""
    return b"\x21\xf9\x04" + bytes([disposal << 2]) + b"\x00\x00\x00\x00"


@pytest.mark.parametrize("kind", ["tiff", "gif"])
def test_later_frame_over_the_pixel_limit_is_refused_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """The pixel limit holds for every frame, not just the first (a 13000x13000 second
    page took 2.6 GB). Shown with the limit lowered, so the old behaviour stays cheap."""
    monkeypatch.setattr(images, "MAX_DECODE_PIXELS", 100_000)
    if kind == "tiff":
        path = tmp_path / "pages.tiff"
        flat = Image.new("L", (64, 64), 128)  # PDQ quality 0: the next page is tried
        flat.save(path, save_all=True, append_images=[Image.fromarray(skimage.data.camera())])
    else:
        path = _gif_growing_on_frame_2(tmp_path / "grows.gif", (400, 400))
    with pytest.raises(HashingError, match=r"^image too large to hash \(frame 2 is \d+x\d+\)$"):
        fingerprint(path, "image")


def test_large_progressive_jpeg_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """libjpeg holds every coefficient of a progressive JPEG at full size whatever the
    draft scale (1.35 GB for 13000x13000 CMYK), so the limit applies before scaling.
    Shown with the limit lowered; a baseline JPEG of the same size is still hashed."""
    monkeypatch.setattr(images, "MAX_DECODE_PIXELS", 500_000)
    photo = Image.fromarray(skimage.data.astronaut()).resize((1200, 1000))  # fits at 1/2
    photo.save(tmp_path / "baseline.jpg", quality=80)
    photo.save(tmp_path / "progressive.jpg", quality=80, progressive=True)
    assert fingerprint(tmp_path / "baseline.jpg", "image").width == 1200
    started = time.perf_counter()
    with pytest.raises(HashingError, match=r"^progressive JPEG too large to hash \(1200x1000\)$"):
        fingerprint(tmp_path / "progressive.jpg", "image")
    assert time.perf_counter() - started < 0.5


def test_video_frames_over_8k_are_not_decoded(tmp_path: Path) -> None:
    """A 64-megapixel frame (PNG in Matroska, 77 kB) is refused by its declared size."""
    path = tmp_path / "big.mkv"
    source = "color=c=gray:s=8000x8000:r=1:d=1"
    _ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            source,
            "-frames:v",
            "1",
            "-pix_fmt",
            "gray",
            "-c:v",
            "png",
            str(path),
        ]
    )
    with pytest.raises(HashingError, match=r"^video frame too large to decode \(8000x8000\)$"):
        fingerprint(path, "video")


def test_a_video_whose_decoder_could_outgrow_memory_is_not_decoded(tmp_path: Path) -> None:
    """An 8K 10-bit 4:4:4 H.264 stream with 16 reference frames (5 MB) took 3.7 GB:
    ``max_pixels`` bounds each frame, not how many the decoder keeps."""
    path = tmp_path / "deep.mkv"
    source = "color=c=gray:s=7680x4320:r=1:d=1"
    frame = ["-frames:v", "1", "-pix_fmt", "rgb48be", "-c:v", "png"]
    _ffmpeg(["-f", "lavfi", "-i", source, *frame, str(path)])
    refused = r"^video too large to fingerprint \(7680x4320: its decoder may need \d+ MiB\)$"
    with pytest.raises(HashingError, match=refused):
        fingerprint(path, "video")


def test_a_video_too_small_to_tell_apart_says_so(tmp_path: Path) -> None:
    """A 2x2 clip was stored with no frame hashed and no reason; a 1x1 photo gets one."""
    path = tmp_path / "tiny.mp4"
    _ffmpeg(["-f", "lavfi", "-i", "testsrc=s=8x8:d=2", "-pix_fmt", "yuv420p", str(path)])
    with pytest.raises(HashingError, match=r"^video too small to hash \(8x8\)$"):
        fingerprint(path, "video")


def test_a_video_without_a_duration_goes_on_at_keyframes_past_the_hour(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live recording declares no duration: it was decoded frame by frame however
    long it was (a multi-hour 8K stream would hold a worker for hours)."""
    path = tmp_path / "live.mkv"
    source = "testsrc=s=320x240:r=25:d=40"
    coding = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "125", "-pix_fmt", "yuv420p"]
    _ffmpeg(["-f", "lavfi", "-i", source, *coding, "-f", "matroska", "-live", "1", str(path)])
    monkeypatch.setattr(video, "KEYFRAMES_ONLY_AFTER", 12.0)
    taken: list[float] = []
    take = video._Sampler.take

    def spy(self: Any, time: float, frame: Any) -> None:
        taken.append(time)
        take(self, time, frame)

    monkeypatch.setattr(video._Sampler, "take", spy)
    fingerprint(path, "video")
    early = [t for t in taken if t < 12]
    late = [t for t in taken if t > 13]
    assert len(early) == 12  # every second before
    assert late and all(abs(t / 5 - round(t / 5)) < 0.01 for t in late)  # keyframes after


def test_frames_are_measured_in_batches_with_the_same_result(
    media_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All of a long video's frames at once took a gigabyte of temporaries."""
    whole = fingerprint(media_dir / "clip_a.mp4", "video")
    monkeypatch.setattr(video, "QUALITY_BATCH", 3)
    assert fingerprint(media_dir / "clip_a.mp4", "video") == whole


def _peak_in_child(path: Path, media_type: str) -> tuple[str, int]:
    """Fingerprint a file in a child process: the outcome (``hashed WxH`` or the one-line
    reason of the HashingError) and the child's peak resident memory in MB."""
    import subprocess
    import sys

    # VmHWM, not ru_maxrss: Linux carries the parent's peak over into a child's.
    code = (
        "import sys\n"
        "from archiver.hashing import HashingError, fingerprint\n"
        "try:\n"
        "    fp = fingerprint(sys.argv[1], sys.argv[2])\n"
        "    print(f'hashed {fp.width}x{fp.height}')\n"
        "except HashingError as exc:\n"
        "    print(exc)\n"
        "status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
        "print(status.split()[0])\n"  # kB
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path), media_type],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    outcome, peak = done.stdout.splitlines()
    return outcome, int(peak) // 1024


def _flv_declaring(path: Path, size: tuple[int, int]) -> Path:
    """A 1 s Sorenson H.263 FLV (400x300) whose picture headers all declare `size`.

    FLV names no streams in its header, and this codec has no parser: only decoding a
    picture tells its size.
    """
    import struct

    source = path.with_suffix(".source.flv")
    lavfi = ["-f", "lavfi", "-i", "testsrc2=s=400x300:r=25:d=1"]
    _ffmpeg([*lavfi, "-c:v", "flv", "-flvflags", "no_metadata", str(source)])
    data = bytearray(source.read_bytes())
    offset = struct.unpack_from(">I", data, 5)[0] + 4  # past the header and the first size
    while offset + 11 <= len(data):
        length = int.from_bytes(data[offset + 1 : offset + 4], "big")
        if data[offset] == 9:  # a video tag: a byte of flags, then the picture header
            start = offset + 12
            header = int.from_bytes(data[start : start + 9], "big")
            # start code (17 bits), version (5), time (8), size format 1 (3): then the
            # width and height, 16 bits each
            assert header >> 55 == 1 and (header >> 39) & 7 == 1
            header &= ~(0xFFFFFFFF << 7)
            header |= size[0] << 23 | size[1] << 7
            data[start : start + 9] = header.to_bytes(9, "big")
        offset += 11 + length + 4
    path.write_bytes(data)
    return path


def test_probing_decodes_no_frame(tmp_path: Path) -> None:
    """Opening a video decodes nothing: a pixel limit given at open reaches the probe's
    decoders only for streams listed in the header, and FLV and MPEG-PS list none. A
    16000x16000 picture took 260 MB here (an H.264 one in MPEG-PS or FLV, 1.1 GB). The
    same file at its real size is hashed: its frame size is known from decoding."""
    path = _flv_declaring(tmp_path / "huge.flv", (16000, 16000))
    outcome, peak = _peak_in_child(path, "video")
    assert peak < 120, f"{peak} MB"
    assert outcome == (
        "corrupt video: no decodable frames (frame size unknown or over 33,177,600 pixels)"
    )
    fp = fingerprint(_flv_declaring(tmp_path / "plain.flv", (400, 300)), "video")
    assert isinstance(fp, VideoFingerprint) and (fp.width, fp.height) == (400, 300)
    assert len(fp.frames) == 2


def _gif_claiming_13000(path: Path, how: str) -> Path:
    """A tiny GIF with a frame declaring 13000x13000 that is to be disposed of.

    Pillow grows its canvas and fills the frame's area for the disposal while seeking
    to the frame (a 64x64 first frame keeps the canvas small until then).
    """
    import struct

    if how in ("restore to background", "restore to previous"):
        disposal = 2 if how == "restore to background" else 3
        return _gif_growing_on_frame_2(path, (13000, 13000), disposal)
    first = _gif_single(0)
    head, one = first[: _gif_frame_descriptor(first)], first[_gif_frame_descriptor(first) : -1]
    huge = bytearray(one)
    struct.pack_into("<HH", huge, 5, 13000, 13000)
    if how == "first frame":
        path.write_bytes(head + _gif_control(2) + bytes(huge) + b";")
        return path
    assert how == "after an empty extension"
    # Pillow reads an extension (other than a comment) whose first sub-block is empty on
    # to the next terminator: this 64x64 frame's first byte (0x2C) reads as a length of
    # 44, the rest of the frame, so it is skipped as one sub-block and the 13000x13000
    # frame is the second that Pillow sees, not the third.
    hidden = b"\x2c" + struct.pack("<4HB", 0, 0, 64, 64, 0) + b"\x02\x20" + bytes(32) + b"\x00"
    extension = b"\x21\xf9\x00" + hidden + b"\x00"
    path.write_bytes(head + _gif_control(2) + one + extension + bytes(huge) + b";")
    return path


@pytest.mark.parametrize(
    "how",
    ["first frame", "restore to background", "restore to previous", "after an empty extension"],
)
def test_gif_frame_sizes_are_checked_before_pillow_reads_the_frame(
    tmp_path: Path, how: str
) -> None:
    """A 300-byte GIF whose second frame claims 13000x13000 took 700 MB before its size
    could be checked after the seek (210 MB when the first frame claims it)."""
    path = _gif_claiming_13000(tmp_path / "claims.gif", how)
    outcome, peak = _peak_in_child(path, "image")
    assert peak < 120, f"{peak} MB"
    frame = "" if how == "first frame" else "frame 2 is "
    assert outcome == f"image too large to hash ({frame}13000x13000)"


def test_gif_frame_sizes_read_ahead_are_pillows(tmp_path: Path) -> None:
    """The canvas sizes read ahead of Pillow are the ones it gives each frame, past a
    comment, a loop count, stray bytes and a frame reaching past the canvas (which
    grows it)."""
    import struct

    first = _gif_single(0)
    pieces = [first[: _gif_frame_descriptor(first)]]
    pieces += [b"\x21\xfe\x05hello\x00", b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"]
    for index in range(4):
        single = _gif_single(index)
        frame = bytearray(single[_gif_frame_descriptor(single) : -1])
        if index == 2:
            struct.pack_into("<H", frame, 1, 40)  # left edge at 40: reaches 104
        pieces += [_gif_control(index), bytes(frame), b"\x07" if index == 1 else b""]
    path = tmp_path / "frames.gif"
    path.write_bytes(b"".join(pieces) + b";")
    with Image.open(path) as gif:
        sizes = [gif.size]
        for index in range(1, 4):
            gif.seek(index)
            sizes.append(gif.size)
        with pytest.raises(EOFError):
            gif.seek(4)
    assert sizes == [(64, 64), (64, 64), (104, 64), (104, 64)]
    assert images._gif_canvases(path, 10) == sizes
    assert images._gif_canvases(path, 2) == sizes[:2]


def test_large_animated_gif_is_hashed_in_bounded_memory(tmp_path: Path) -> None:
    """A 6000x6000 GIF (36 megapixels, within the pixel limit) of five flat frames, each
    looked at in turn for detail, with a transparent colour and restored to the
    background after each. It took 740 MB: Pillow composites the frames after the first
    in RGB(A), about 16 bytes a pixel, and putting the first on white took 13 bytes a
    pixel more. Its first frame alone is hashed, in less than 250 MB."""
    import io

    out = io.BytesIO()
    Image.new("P", (6000, 6000), 0).save(out, "GIF")
    one = out.getvalue()
    head, frame = one[: _gif_frame_descriptor(one)], one[_gif_frame_descriptor(one) : -1]
    control = bytearray(_gif_control(2))
    control[3] |= 1  # with a transparent colour ...
    control[6] = 1  # ... that the frames don't use
    path = tmp_path / "big.gif"
    path.write_bytes(head + (bytes(control) + frame) * 5 + b";")
    outcome, peak = _peak_in_child(path, "image")
    assert outcome == "hashed 6000x6000"
    assert peak < 250, f"{peak} MB"


def test_video_without_a_decoder_is_refused(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=1, size=(160, 120), seed=0, audio=False)
    mkv = tmp_path / "clip.mkv"
    _ffmpeg(["-i", str(clip), "-c", "copy", str(mkv)])
    data = mkv.read_bytes()
    assert data.count(b"V_MPEG4/ISO/AVC") == 1
    mkv.write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_MPEG4/ISO/XYZ"))
    with pytest.raises(HashingError, match=r"^no decoder for this video's codec$"):
        fingerprint(mkv, "video")


def test_demuxer_index_error_ends_the_stream() -> None:
    """PyAV raises IndexError at the end of a stream that grew streams mid-file (a
    corrupt MPEG-TS): the packets read so far are kept."""

    class Packet:
        size = 10

    class Container:
        def demux(self, stream: object) -> object:
            yield Packet()
            yield Packet()
            raise IndexError("list index out of range")

    packets = list(video._packets(Container(), None))  # type: ignore[arg-type]
    assert len(packets) == 2


def _pillow_failures(tmp_path: Path) -> list[tuple[str, bytes]]:
    """Files on which Pillow raises something other than OSError or SyntaxError."""
    import io
    import struct

    from PIL import features

    photo = Image.fromarray(skimage.data.astronaut()).resize((320, 240))
    out: list[tuple[str, bytes]] = []
    buffer = io.BytesIO()
    photo.save(buffer, "DDS")
    dds = bytearray(buffer.getvalue())
    struct.pack_into("<I", dds, 80, 0x4)  # pixel format flags: FOURCC...
    dds[84:88] = b"ZZZZ"  # ... one there is none of: NotImplementedError
    out.append(("bad.dds", bytes(dds)))
    buffer = io.BytesIO()
    photo.save(buffer, "TIFF", save_all=True, append_images=[photo.rotate(90, expand=True)])
    out.append(("cut.tiff", buffer.getvalue()[:202]))  # TypeError counting pages
    buffer = io.BytesIO()
    frames = [photo, photo.rotate(180), photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    out.append(("cut.gif", buffer.getvalue()[: len(buffer.getvalue()) // 3]))  # IndexError
    if features.check("avif"):
        buffer = io.BytesIO()
        photo.save(buffer, "AVIF")
        avif = buffer.getvalue()
        out.append(("no_item.avif", avif.replace(b"pitm", b"xxxx", 1)))  # RuntimeError at open
        mdat = avif.index(b"mdat")
        broken = avif[: mdat + 20] + bytes(64) + avif[mdat + 84 :]
        out.append(("broken.avif", broken))  # RuntimeError decoding
    return out


def test_pillow_failures_on_bad_input_are_hashing_errors(tmp_path: Path) -> None:
    for name, data in _pillow_failures(tmp_path):
        path = tmp_path / name
        path.write_bytes(data)
        try:
            fingerprint(path, "image")
        except HashingError as exc:
            assert "\n" not in str(exc), name
            assert str(exc).startswith(("unreadable image: ", "image too")), (name, str(exc))


def test_large_pictures_are_decoded_one_at_a_time(tmp_path: Path) -> None:
    """Pillow decodes a WebP through libwebp's animation decoder, at about 17 bytes a
    pixel: 430 MB for 25 megapixels. Four download workers hashing such files side by
    side would pass the service's 2 GB memory limit; large decodes take turns."""
    import subprocess
    import sys

    rng = np.random.default_rng(7)
    noise = rng.integers(0, 255, (100, 100, 3), dtype=np.uint8)
    path = tmp_path / "panorama.webp"
    Image.fromarray(noise).resize((5000, 5000)).save(path, quality=40)
    code = (
        "import sys, threading\n"
        "from archiver.hashing import fingerprint\n"
        "n = int(sys.argv[2])\n"
        "threads = [threading.Thread(target=fingerprint, args=(sys.argv[1], 'image'))"
        " for _ in range(n)]\n"
        "for t in threads: t.start()\n"
        "for t in threads: t.join()\n"
        "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])\n"
    )

    def peak_mb(side_by_side: int) -> int:
        done = subprocess.run(
            [sys.executable, "-c", code, str(path), str(side_by_side)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return int(done.stdout) // 1024

    one, three = peak_mb(1), peak_mb(3)
    assert one > 250  # the cost this guards against is real
    assert three < one + 150, (one, three)
