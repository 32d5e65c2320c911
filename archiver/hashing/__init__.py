"""Perceptual fingerprints of images and videos, for near-duplicate detection.

``fingerprint(path, media_type)`` returns an `ImageFingerprint` (pHash and PDQ of the
border-trimmed picture and of its mirror image) or a `VideoFingerprint` (PDQ of frames
sampled on a fixed clock, bars trimmed). `ALGORITHM` names the scheme; it is stored with
each fingerprint and bumped whenever the output for the same file changes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from archiver.errors import HashingError

from .images import fingerprint_image
from .model import ALGORITHM, FrameHash, ImageFingerprint, VideoFingerprint
from .video import fingerprint_video

__all__ = [
    "ALGORITHM",
    "FrameHash",
    "HashingError",
    "ImageFingerprint",
    "VideoFingerprint",
    "fingerprint",
    "fingerprint_image",
    "fingerprint_video",
]


def fingerprint(
    path: Path,
    media_type: Literal["image", "video", "audio"],
    *,
    threads: int = 1,
    stop: Callable[[], None] | None = None,
) -> ImageFingerprint | VideoFingerprint:
    """Fingerprint a stored file; raises `HashingError` with a one-line reason.

    `threads`: decoder threads for video (1 keeps hashing to one core). `stop` is
    called between a video's frames and raises to cut it short (a shutdown).
    """
    path = Path(path)
    if media_type == "audio":
        raise HashingError("audio has no visual fingerprint")
    try:
        if path.stat().st_size == 0:
            raise HashingError(f"empty file: no {media_type} to fingerprint")
    except OSError as exc:
        raise HashingError(f"cannot read file: {exc.strerror or exc}") from None
    try:
        if media_type == "image":
            return fingerprint_image(path)
        if media_type == "video":
            return fingerprint_video(path, threads=threads, stop=stop)
    except HashingError as exc:  # the reason is kept and shown: no host path in it
        if str(path) not in str(exc):
            raise
        raise type(exc)(str(exc).replace(str(path), path.name)) from None
    raise HashingError(f"unknown media type {media_type!r}")
