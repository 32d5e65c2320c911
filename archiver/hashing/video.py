"""Video fingerprints: pHashes of frames sampled on a fixed clock, bars trimmed.

Each sampled frame is reduced to a small grey picture, letterbox/pillarbox bars found
over the whole video are cut away, the corners (logo spots) are blanked, and four
64-bit pHashes are kept: the picture, its centred 90% window, and both mirrored.

Decoding is the cost, so the decoder does as little as it can: non-reference frames are
not decoded (``skip_frame=NONREF``), deblocking is skipped, frames are scaled down by
the decoder's scaler, and whole runs of packets are dropped unread when a later
keyframe still comes before the next sampling time (look-ahead in the demuxer). Work
and memory per file are bounded: at most `MAX_FRAMES` frames are kept (long videos are
sampled more sparsely) and videos over `KEYFRAMES_ONLY_AFTER` decode keyframes only.
Frames over `MAX_FRAME_PIXELS` (8K UHD, 7680x4320) are never decoded: no decoder runs
while the file is probed at open (sizes come from the container's header or the codec's
parser), a stream declaring a larger size is refused, and the decoder is told the limit
(``max_pixels``) for frames whose size is not declared or changes; a 16-bit 12000x12000
frame alone would take over a gigabyte inside libav. Frame times past `MAX_TIME` (and
declared durations past it) are taken as broken timestamps and ignored.
"""

from __future__ import annotations

import math
import struct
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import nullcontext
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
from av.container import InputContainer
from av.packet import Packet
from av.sidedata.sidedata import SideData
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from archiver.errors import AudioOnlyError, HashingError

from . import pdq
from .borders import content_box
from .images import MIN_SIDE
from .model import LARGE_DECODE, FrameHash, VideoFingerprint
from .phash import phash_batch, resize32

#: At most this many frames are sampled; past it the sampling interval doubles.
MAX_FRAMES = 3600
#: Videos shorter than this are sampled twice a second, longer ones once a second.
SHORT_VIDEO = 60.0
#: Videos longer than this are sampled at keyframes only (decoding is then ~100x faster,
#: at the cost of samples landing on the first keyframe after each sampling time).
KEYFRAMES_ONLY_AFTER = 3600.0
#: ... and so is the rest of a video once this many packets were decoded: a few hundred
#: KB of 4K at 240 frames a second, every frame a reference, declared just under the
#: hour, held a worker (and the large decoders' turn) for over an hour; an hour of
#: 30 fps stays under it.
DECODE_BUDGET = 100_000
#: Longer side of the grey picture each sampled frame is scaled to before trimming.
FRAME_SIDE = 160
#: A row or column of a video is a bar when this share of its pixels is within this
#: many grey levels of its median (bars carry compression noise and re-uploads' grain)...
FLAT_SHARE = (0.9, 14)
#: ... in at least this share of the sampled frames that are not plain all over.
FLAT_VOTES = 0.9
#: Share of the picture (each side) in the centred window also hashed per frame.
CENTRE = 0.9
#: Width and height share of each corner blanked before hashing (logo spots).
CORNER = (0.2, 0.25)
#: Packets buffered at most while looking for the next keyframe (bounds memory).
LOOKAHEAD_PACKETS = 300
LOOKAHEAD_BYTES = 16 << 20
#: Give up after this many undecodable packets in a row.
MAX_BAD_PACKETS = 100
#: Largest frame decoded, in pixels: 8K UHD (7680x4320, 33 megapixels).
MAX_FRAME_PIXELS = 7680 * 4320
#: Frames a decoder may hold at once: H.264 and HEVC keep up to 16 reference frames,
#: besides the one being decoded. ``max_pixels`` bounds each, not how many are kept: an
#: 8K 10-bit 4:4:4 stream with 16 references took 3.7 GB.
DECODER_FRAMES = 17
#: A video whose decoder may need more (frame bytes x `DECODER_FRAMES`) is not decoded.
MAX_DECODER_BYTES = 1 << 30
#: Videos whose decoder may need more than this are decoded one at a time (with large
#: pictures: `LARGE_DECODE`).
LARGE_DECODER_BYTES = 128 << 20
#: Frames measured for their quality at once (a ``64 x K x W`` float temporary each).
QUALITY_BATCH = 64
#: Frames timed later than this (seconds from the start: 10 days) are ignored, and a
#: longer declared duration counts as unknown: such times come from broken time bases.
MAX_TIME = 10 * 86400.0
#: Decoding that ends this share of the declared duration (and three sampling intervals)
#: before it ended early: the file was cut short (`covered_length`).
ENDED_EARLY = 0.1
#: Options for opening a file: no decoder may run while its streams are probed (this
#: list of allowed decoders names none). PyAV passes the probe's decoders options only
#: for streams listed in the container's header: in MPEG-PS and FLV, whose streams are
#: found while probing, ``max_pixels`` never reached them, and a 16000x16000 H.264 frame
#: took 1.1 GB before its size could be checked. Frames are decoded by `_decode` alone.
_PROBE_WITHOUT_DECODING = {"codec_whitelist": "none"}


def sampling_interval(duration: float | None) -> float:
    """Seconds between sampled frames for a video of `duration` seconds."""
    if duration is None or not math.isfinite(duration) or duration <= 0:
        return 1.0
    base = 0.5 if duration < SHORT_VIDEO else 1.0
    return max(base, duration / MAX_FRAMES)


def fingerprint_video(
    path: Path, *, threads: int = 1, stop: Callable[[], None] | None = None
) -> VideoFingerprint:
    """Fingerprint a video file; raises `HashingError` with a one-line reason.

    `threads` is the decoder's thread count (1: one core, predictable; 0: automatic).
    `stop` is called between frames and raises to cut the work short: an hour of 1080p
    took the daemon's shutdown past systemd's time-out, and its SIGKILL.
    """
    try:
        container = av.open(
            str(path), metadata_errors="ignore", container_options=_PROBE_WITHOUT_DECODING
        )
    except av.FFmpegError as exc:
        raise HashingError(f"corrupt video: {_reason(exc)}") from None
    if not isinstance(container, InputContainer):  # pragma: no cover - opened for reading
        raise HashingError("corrupt video: not readable")
    with container:
        stream = _video_stream(container)
        # PyAV's stubs say a codec context is always there; it is None without a decoder.
        if getattr(stream, "codec_context", None) is None:
            raise HashingError("no decoder for this video's codec")
        declared = stream.codec_context.width * stream.codec_context.height
        if declared > MAX_FRAME_PIXELS:
            raise HashingError(
                "video frame too large to decode "
                f"({stream.codec_context.width}x{stream.codec_context.height})"
            )
        need = decoder_bytes(declared, stream.codec_context.format)
        if need > MAX_DECODER_BYTES:
            raise HashingError(
                f"video too large to fingerprint ({stream.codec_context.width}x"
                f"{stream.codec_context.height}: its decoder may need {need >> 20} MiB)"
            )
        duration = _duration(container, stream)
        sampler = _Sampler(sampling_interval(duration))
        keyframes_only = duration is not None and duration > KEYFRAMES_ONLY_AFTER
        try:
            with LARGE_DECODE if need > LARGE_DECODER_BYTES else nullcontext():
                for time, frame in _decode(container, stream, sampler, threads, keyframes_only):
                    if stop is not None:
                        stop()
                    sampler.take(time, frame)
        except MemoryError:
            raise HashingError("video too large to decode (out of memory)") from None
        if not sampler.frames and not declared:  # no size declared, and no frame decoded
            raise HashingError(
                "corrupt video: no decodable frames "
                f"(frame size unknown or over {MAX_FRAME_PIXELS:,} pixels)"
            )
        if not sampler.frames:
            raise HashingError("corrupt video: no decodable frames")
        width = stream.codec_context.width or sampler.frames[0][1].shape[1]
        height = stream.codec_context.height or sampler.frames[0][1].shape[0]
        if sampler.turns % 2:
            width, height = height, width
        if min(width, height) < MIN_SIDE:  # as for a picture: no detail to tell apart
            raise HashingError(f"video too small to hash ({width}x{height})")
        length = covered_length(duration, sampler.frames[-1][0], sampler.interval)
        frames = hash_frames(
            np.array([t for t, _ in sampler.frames]), np.stack([g for _, g in sampler.frames])
        )
    return VideoFingerprint(length, int(width), int(height), frames)


def covered_length(duration: float | None, last: float, interval: float) -> float:
    """The length a video's frames stand for: its declared duration, or up to one
    sampling interval past the last frame when decoding ended well before that.

    A download cut short keeps its header, and the duration the header declares: the
    frames of its first third were spread over the whole length by the matcher's
    spread rule (`compare.PARTS`), which then capped the share they covered and the
    complete file was never matched. A complete file ends within an interval or so of
    its duration (a keyframe's spacing for long ones) and keeps it.
    """
    if duration is None or duration <= last:
        return last
    if duration - last > max(3 * interval, ENDED_EARLY * duration):
        return last + interval
    return duration


def decoder_bytes(pixels: int, fmt: av.VideoFormat | None) -> int:
    """The most memory a stream's decoder may take: `DECODER_FRAMES` frames of its
    ``pixels`` in its format (16-bit 4:4:4 when it is known only once decoding starts)."""
    bits = fmt.padded_bits_per_pixel if fmt is not None else 48
    return pixels * bits // 8 * DECODER_FRAMES


def hash_frames(times: npt.NDArray[np.float64], grey: npt.NDArray[np.uint8]) -> list[FrameHash]:
    """pHashes of each grey frame (``N x H x W``) inside the video's bars.

    Per frame: ``phash`` of the picture, ``phash_c90`` of its centred 90% window (a copy
    cropped and scaled back up matches it), and both of the mirror image. Frames of PDQ
    quality below `pdq.MIN_QUALITY` (black, white, fades) are dropped: plain frames look
    alike in every video and must not make two videos match.
    """
    top, bottom, left, right = content_box(grey, solid=FLAT_SHARE, votes=FLAT_VOTES)
    pictures = grey[:, top:bottom, left:right]
    quality = [
        pdq.quality(pdq.downsample64(pictures[start : start + QUALITY_BATCH].astype(np.float32)))
        for start in range(0, len(pictures), QUALITY_BATCH)
    ]  # in batches: a 59-minute video's frames at once took a gigabyte
    keep = np.concatenate(quality) >= pdq.MIN_QUALITY
    times, pictures = times[keep], pictures[keep]
    if len(pictures) == 0:
        return []
    height, width = pictures.shape[1:]
    dy, dx = round(height * (1 - CENTRE) / 2), round(width * (1 - CENTRE) / 2)
    full = np.stack([resize32(_blank_corners(p)) for p in pictures])
    centre = np.stack(
        [resize32(_blank_corners(p[dy : height - dy, dx : width - dx])) for p in pictures]
    )
    columns = {
        "phash": phash_batch(full),
        "phash_mirror": phash_batch(np.ascontiguousarray(full[:, :, ::-1])),
        "phash_c90": phash_batch(centre),
        "phash_c90_mirror": phash_batch(np.ascontiguousarray(centre[:, :, ::-1])),
    }
    return [
        FrameHash(round(float(t), 3), {name: int(col[i]) for name, col in columns.items()})
        for i, t in enumerate(times)
    ]


def _blank_corners(picture: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """The picture with its four corners set to its mean grey: where channels put logos.

    A logo is the same in every re-upload by one channel and absent from the original,
    so it would pull distinct videos of one channel together and push copies apart.
    """
    if CORNER == (0.0, 0.0):
        return picture
    out = picture.copy()
    height, width = out.shape
    ch, cw = round(height * CORNER[1]), round(width * CORNER[0])
    fill = np.uint8(round(float(out.mean())))
    for rows in (slice(0, ch), slice(height - ch, height)):
        for cols in (slice(0, cw), slice(width - cw, width)):
            out[rows, cols] = fill
    return out


def display_matrix(frame: VideoFrame) -> tuple[int, ...] | None:
    """The frame's display matrix (FFmpeg's nine fixed-point numbers), if it has one."""
    entries: Iterable[object] = frame.side_data  # PyAV's stub calls it a TypedDict
    for entry in entries:
        if isinstance(entry, SideData) and entry.type.name == "DISPLAYMATRIX":
            raw = bytes(entry)
            return struct.unpack("=9i", raw) if len(raw) == 36 else None
    return None


def display_turns(matrix: Sequence[int] | None) -> tuple[int, bool]:
    """(quarter turns counterclockwise, then mirror left to right) that show a frame as
    its display matrix says, as ffmpeg's autorotate shows it.

    PyAV's ``rotation`` ignores a flip: a horizontal flip reads as a turn by 180
    degrees, and a front camera's mirrored video was hashed upside down, matching
    neither its pixels nor a copy with the flip baked in. A matrix that mirrors
    (negative determinant) is taken as its rotation without the flip, then the flip;
    a vertical flip is a horizontal one after a half turn. The rotation is in whole
    degrees, as PyAV's ``rotation`` gives it.
    """
    if matrix is None:
        return 0, False
    a, b, _, c, d, *_ = matrix
    mirrored = a * d - b * c < 0
    if mirrored:
        a, c = -a, -c  # the flip taken out, as FFmpeg's av_display_matrix_flip puts it in
    across, down = math.hypot(a, c), math.hypot(b, d)
    if not across or not down:
        return 0, False
    degrees = math.trunc(-math.degrees(math.atan2(b / down, a / across)))
    return round(degrees / 90) % 4, mirrored


class _Sampler:
    """Keeps one grey frame per sampling interval; halves its rate when full."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.next_time = 0.0
        self.frames: list[tuple[float, npt.NDArray[np.uint8]]] = []
        self._size: tuple[int, int] | None = None
        self.turns = 0  # quarter turns counterclockwise to display the frames upright
        self._display: tuple[int, bool] | None = None  # (turns, mirrored), from the first

    def wants(self, time: float) -> bool:
        return time >= self.next_time - 0.02

    def take(self, time: float, frame: VideoFrame) -> None:
        if self._size is None:
            scale = FRAME_SIDE / max(frame.width, frame.height, 1)
            self._size = (
                max(16, round(frame.width * scale)),
                max(16, round(frame.height * scale)),
            )
        width, height = self._size
        grey = frame.reformat(width=width, height=height, format="gray8", interpolation="AREA")
        picture = np.asarray(grey.to_ndarray(), dtype=np.uint8)
        # Phones store sideways video with a display rotation, front cameras mirrored
        # with a flip; a re-upload bakes them in. Read from the first frame: a frame's
        # side data, once looked at, keeps the frame (its decoded picture) alive until
        # the garbage collector runs, and read from each, 40 MB more were held at once.
        if self._display is None:
            self._display = display_turns(display_matrix(frame))
        self.turns, mirrored = self._display
        picture = np.rot90(picture, self.turns)
        self.frames.append((time, np.ascontiguousarray(picture[:, ::-1] if mirrored else picture)))
        if len(self.frames) > MAX_FRAMES:
            self.frames = self.frames[::2]
            self.interval *= 2
        # The next point of the sampling grid strictly after this frame (more than 20 ms
        # after it). The estimate is at most two steps short; float rounding of huge
        # times cannot make the correction run on.
        limit = time + 0.02
        step = max(round(self.next_time / self.interval) + 1, math.floor(limit / self.interval))
        for _ in range(3):
            if step * self.interval > limit:
                break
            step += 1
        self.next_time = step * self.interval


def _decode(
    container: InputContainer,
    stream: VideoStream,
    sampler: _Sampler,
    threads: int,
    keyframes_only: bool,
) -> Iterator[tuple[float, VideoFrame]]:
    """Yield (seconds from start, frame) for the frames the sampler wants."""
    ctx = stream.codec_context
    ctx.thread_count = threads
    ctx.thread_type = "AUTO" if threads != 1 else "SLICE"
    ctx.skip_frame = "NONKEY" if keyframes_only else "NONREF"
    ctx.options = {"skip_loop_filter": "all", "max_pixels": str(MAX_FRAME_PIXELS)}
    base = stream.time_base or Fraction(1, 90000)
    start = stream.start_time or 0
    packets = _packets(container, stream)
    pending: deque[Packet[VideoStream]] = deque()
    bad = spent = 0
    while True:
        packet = pending.popleft() if pending else next(packets, None)
        if packet is None:
            break
        if not keyframes_only and (
            sampler.next_time > KEYFRAMES_ONLY_AFTER or spent > DECODE_BUDGET
        ):
            # no declared duration (a live recording) and already past the hour, or
            # the decoding budget spent: on at keyframes only, as a video declared that
            # long is read from the start
            keyframes_only = True
            ctx.skip_frame = "NONKEY"
        if keyframes_only and not packet.is_keyframe:
            continue
        try:
            spent += 1
            decoded = ctx.decode(packet)
            bad = 0
        except av.FFmpegError:
            bad += 1
            if bad > MAX_BAD_PACKETS:
                break
            continue
        for frame in decoded:
            if frame.pts is None:
                continue
            time = max(0.0, float((frame.pts - start) * base))
            if time <= MAX_TIME and sampler.wants(time):
                yield time, frame
                if not keyframes_only:
                    _look_ahead(packets, pending, sampler.next_time, start, base)
    try:
        for frame in ctx.decode(None):  # flush what the decoder still holds
            if frame.pts is not None:
                time = max(0.0, float((frame.pts - start) * base))
                if time <= MAX_TIME and sampler.wants(time):
                    yield time, frame
    except av.FFmpegError:
        pass


def _packets(container: InputContainer, stream: VideoStream) -> Iterator[Packet[VideoStream]]:
    """The stream's packets; a truncated or corrupt tail just ends the stream.

    PyAV's demuxer raises IndexError for a packet of a stream it did not list (one that
    appears mid-file, as in a corrupt MPEG-TS): that too ends the stream.
    """
    demux = container.demux(stream)
    while True:
        try:
            packet = next(demux)
        except (StopIteration, IndexError, av.FFmpegError):
            return
        if packet.size:
            yield packet


def _look_ahead(
    packets: Iterator[Packet[VideoStream]],
    pending: deque[Packet[VideoStream]],
    next_time: float,
    start: int,
    base: Fraction,
) -> None:
    """Drop buffered packets that precede a keyframe still due before `next_time`.

    A closed GOP never refers back past its keyframe, so everything before that
    keyframe is useless for the next sample and is not decoded at all.
    """
    ahead = list(pending)
    pending.clear()
    size = sum(p.size for p in ahead)
    while len(ahead) < LOOKAHEAD_PACKETS and size < LOOKAHEAD_BYTES:
        packet = next(packets, None)
        if packet is None:
            break
        ahead.append(packet)
        size += packet.size
        if packet.pts is None:
            break
        time = float((packet.pts - start) * base)
        if packet.is_keyframe and time <= next_time + 0.02:
            ahead = [packet]
            size = packet.size
            continue
        if time > next_time + 0.02:
            break
    pending.extend(ahead)


def _video_stream(container: InputContainer) -> VideoStream:
    """The first real video stream (cover art in audio files does not count)."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    if container.streams.audio:
        raise AudioOnlyError("audio-only file")
    raise HashingError("no video stream")


def _duration(container: InputContainer, stream: VideoStream) -> float | None:
    """The declared duration in seconds; None when unknown or past `MAX_TIME`."""
    seconds: float | None = None
    if stream.duration is not None and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        seconds = container.duration / av.time_base
    return seconds if seconds is None or seconds <= MAX_TIME else None


def _reason(exc: Exception) -> str:
    """FFmpeg's message without the errno and file name it repeats."""
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).strip().rstrip(".").lower() or type(exc).__name__
