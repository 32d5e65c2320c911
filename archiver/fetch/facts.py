"""What each source of a file says about it, as `PlatformFacts` for the index and sidecar.

yt-dlp's info, an X or Telegram post read from its widget, and a player page's JSON-LD
or Open Graph data name the title, uploader and upload time in their own ways, and
often wrongly typed: each is read here into the same facts, so capture stores them
one way.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from archiver.extract import FoundEmbed
from archiver.extract.html import MAX_TITLE
from archiver.fetch.posts import PlatformPost
from archiver.fetch.ytdlp import platform_metadata
from archiver.index.records import PlatformFacts


def parse_upload(value: object) -> tuple[date | None, datetime | None]:
    """An upload time as (its UTC date, the exact UTC moment when known).

    Seconds since the epoch (yt-dlp's ``timestamp``) and a time with an offset
    (``2024-03-01T22:30:00-05:00``, or ``Z``) are exact, and their date is the UTC one
    (2024-03-02). A date alone (``20240301``, ``2024-03-01``), or a time without an
    offset, gives the date as written and no moment: a day in a zone nobody said, which
    counts from the latest moment it can mean (`uploaded_by`).
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            stamp = datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None, None
        return stamp.date(), stamp
    if not isinstance(value, str):
        return None, None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        moment = None
    if moment is not None:
        if moment.utcoffset() is None:
            return moment.date(), None
        try:
            exact = moment.astimezone(UTC)
        except OverflowError:  # a time zone pushing year 1 or 9999 out of range
            return moment.date(), None
        return exact.date(), exact
    digits = re.sub(r"[^0-9]", "", value[:10])
    if len(digits) != 8:
        return None, None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8])), None
    except ValueError:
        return None, None


def ytdlp_facts(info: dict[str, Any]) -> PlatformFacts | None:
    if not info:
        return None
    # yt-dlp's `timestamp` is the upload's moment: exact, and its UTC date is right
    # where some extractors fill `upload_date` from a local date. The generic
    # extractor's is a file server's Last-Modified, which no platform said: a copy
    # with an old one would be named the earliest of its near-duplicates.
    day, moment = None, None
    if str(info.get("extractor_key") or info.get("extractor") or "").lower() != "generic":
        day, moment = parse_upload(info.get("timestamp"))
        if day is None:
            day, moment = parse_upload(info.get("upload_date"))
    return PlatformFacts(
        extractor=str(info.get("extractor_key") or info.get("extractor") or "yt-dlp"),
        id=str(info["id"]) if info.get("id") is not None else None,
        title=_said(info.get("title")),
        uploader=_said(info.get("uploader")) or _said(info.get("channel")),
        upload_date=day,
        metadata=platform_metadata(info),
        uploaded_at=moment,
    )


def _said(value: object) -> str | None:
    """A name or title as text: an extractor may give a number, or a list or an object
    where a name belongs, which no text column takes (the capture failed on it)."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def epoch_moment(value: object) -> str | None:
    """Seconds since the epoch, as a platform's JSON gives a post's time (a number, or
    TikTok's string of digits), in ISO 8601 (UTC); None for anything else."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, int | float):
        return None
    _, moment = parse_upload(value)
    return moment.isoformat() if moment is not None else None


def post_facts(post: PlatformPost) -> PlatformFacts:
    day, moment = parse_upload(post.posted_at)
    metadata = {
        "webpage_url": post.url,
        "uploader_id": post.handle,
        "description": post.text,
        "posted_at": post.posted_at,
        "community": post.where,
        "source": post.read_from or f"{post.platform}'s embed widget",
    }
    return PlatformFacts(
        extractor=post.platform,
        id=post.id,
        title=post.text,
        uploader=post.author,
        upload_date=day,
        metadata={k: v for k, v in metadata.items() if v is not None},
        uploaded_at=moment,
    )


def post_title(post: PlatformPost) -> str:
    """Who said what: ``Raqqa Media Center (@RaqqaMC) on X: …``, as long as a page title."""
    who = " ".join(
        part for part in (post.author, f"(@{post.handle})" if post.handle else "") if part
    )
    said = f"{who or post.id} on {post.platform}"
    return (f"{said}: {post.text}" if post.text else said)[:MAX_TITLE]


def player_facts(media: FoundEmbed) -> PlatformFacts | None:
    meta = dict(media.metadata)
    if not meta:
        return None
    day, moment = parse_upload(meta.get("uploadDate"))
    return PlatformFacts(
        extractor=media.found_in,  # json-ld or og:video
        id=None,
        title=meta.get("name") or meta.get("title"),
        uploader=meta.get("author"),
        upload_date=day,
        metadata=meta,
        uploaded_at=moment,
    )
