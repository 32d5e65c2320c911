"""Result types of media extraction, shared by page and player parsing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from archiver.errors import ArchiverError

EmbedKind = Literal["file", "platform", "player"]
"""How a find is downloaded: plain HTTP, the platform downloader, or fetch-and-search."""

MediaType = Literal["video", "image", "audio"]


class ExtractError(ArchiverError):
    """The input cannot be read as an HTML document; ``str(err)`` is a one-line reason."""


@dataclass(frozen=True)
class FoundEmbed:
    """One piece of media found on a page, with where and under which update it appeared."""

    kind: EmbedKind
    url: str
    original_url: str
    media_type: MediaType | None
    platform: str | None
    found_in: str
    update: str | None
    context: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    posted_at: datetime | None = None  # when its feed said the entry holding it was posted
    # where else on the page the same URL is embedded: (update, context) of each
    # placement after the first, in page order (a live blog reposting footage)
    placements: tuple[tuple[str | None, str | None], ...] = ()


#: Characters of an unusable embed's address kept for the report.
MAX_UNUSABLE_URL = 300


@dataclass(frozen=True)
class UnusableEmbed:
    """An embed whose address can never be fetched (another scheme, over MAX_URL_BYTES,
    a port that is not one, a host IDNA refuses): reported, never recorded."""

    url: str  # as the page gave it, cut to MAX_UNUSABLE_URL characters
    reason: str
    found_in: str
    update: str | None
    context: str | None


@dataclass(frozen=True)
class PageExtraction:
    """Everything archivable on one page, in document order, one entry per canonical URL."""

    title: str | None
    embeds: list[FoundEmbed]
    older_pages: list[str] = field(default_factory=list)  # links to its older updates
    unusable: list[UnusableEmbed] = field(default_factory=list)  # embeds not fetchable


@dataclass(frozen=True)
class NormalizedURL:
    """A URL in canonical form plus what it points at, so equal media compare equal."""

    url: str
    platform: str | None
    kind: EmbedKind
    media_type: MediaType | None
