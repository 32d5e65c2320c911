"""Find the media embedded in pages: article content, live-blog updates, player pages."""

from archiver.extract.html import extract_embeds
from archiver.extract.model import (
    EmbedKind,
    ExtractError,
    FoundEmbed,
    MediaType,
    NormalizedURL,
    PageExtraction,
    UnusableEmbed,
)
from archiver.extract.player import extract_player_media
from archiver.extract.urls import is_media_file_url, normalize_url

__all__ = [
    "EmbedKind",
    "ExtractError",
    "FoundEmbed",
    "MediaType",
    "NormalizedURL",
    "PageExtraction",
    "UnusableEmbed",
    "extract_embeds",
    "extract_player_media",
    "is_media_file_url",
    "normalize_url",
]
