"""Turn found URLs into ``FoundEmbed`` records and keep one record per canonical URL."""

from __future__ import annotations

from dataclasses import replace

from archiver.extract.model import FoundEmbed, MediaType
from archiver.extract.structured import MAX_METADATA_VALUE, DeclaredMedia
from archiver.extract.urls import (
    file_url,
    is_furniture_url,
    is_tracker_url,
    mastodon_embed,
    media_type_of_url,
    normalize_url,
    platform_post,
    post_identity,
    proxied_post,
    resolve_url,
    thumbnail_video,
)


def _identity(url: str) -> tuple[str, bool]:
    """The key that identifies a post within a page, and whether the URL names its author."""
    post = post_identity(url)
    if post is None:
        return url, True
    return f"{post.platform} {post.post_id}", post.names_author


#: Placements of one URL on a page kept beyond the first (`FoundEmbed.placements`).
MAX_PLACEMENTS = 20


class EmbedList:
    """Embeds in the order first found; a repeat of a URL contributes missing metadata
    and, when its update or context differs, a placement (`FoundEmbed.placements`): a
    newest-first live blog reposting footage "now verified" listed the repost first,
    and the update that first posted it was lost.

    A post found under several spellings on one page (a tweet's author in another case,
    ``/i/status/``, TikTok's ``@/video/``, Instagram's ``/reel/`` for ``/p/``: see
    `post_identity`) is one embed, under the first URL that names its author.
    """

    def __init__(self) -> None:
        self._items: list[FoundEmbed] = []
        self._by_url: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._items)

    def add(self, embed: FoundEmbed) -> int | None:
        """Record a find; returns its position if new, None if the URL was already found."""
        key, named = _identity(embed.url)
        index = self._by_url.get(key)
        if index is None:
            self._by_url[key] = len(self._items)
            self._items.append(embed)
            return len(self._items) - 1
        existing = self._items[index]
        merged = {**embed.metadata, **existing.metadata}
        existing = _placed_again(existing, embed.update, embed.context)
        if named and not _identity(existing.url)[1]:
            existing = replace(
                existing,
                url=embed.url,
                original_url=embed.original_url,
                media_type=existing.media_type or embed.media_type,
            )
        if merged != existing.metadata or existing is not self._items[index]:
            self._items[index] = replace(existing, metadata=merged)
        return None

    def set_context(self, index: int, context: str | None) -> None:
        """Fill in context that could only be computed after the embed was found."""
        self._items[index] = replace(self._items[index], context=context)

    def items(self) -> list[FoundEmbed]:
        """The embeds, in order."""
        return list(self._items)


def _placed_again(embed: FoundEmbed, update: str | None, context: str | None) -> FoundEmbed:
    """``embed`` with one more placement, unless it says nothing new."""
    placement = (update, context)
    known = {(embed.update, embed.context), *embed.placements}
    if placement in known or placement == (None, None) or len(embed.placements) >= MAX_PLACEMENTS:
        return embed
    return replace(embed, placements=(*embed.placements, placement))


def file_embed(
    url: str, media_type: MediaType | None, found_in: str, metadata: dict[str, str] | None = None
) -> FoundEmbed:
    """A media file taken from a media element (``img``, ``video``...): always kind "file"."""
    return FoundEmbed(
        kind="file",
        url=file_url(url),
        original_url=url,
        media_type=media_type or media_type_of_url(url),
        platform=None,
        found_in=found_in,
        update=None,
        context=None,
        metadata=dict(metadata or {}),
    )


def image_embed(url: str, found_in: str, metadata: dict[str, str] | None = None) -> FoundEmbed:
    """An image element's embed: the image file, or, when it is a YouTube video's
    thumbnail (a "click to play" facade standing in for the player), that video, with
    the thumbnail's URL as the one the page gave."""
    video = thumbnail_video(url)
    embed = link_embed(video, found_in, allow_player=False, metadata=metadata) if video else None
    if embed is None:
        return file_embed(url, "image", found_in, metadata)
    return replace(embed, original_url=url)


def link_embed(
    url: str,
    found_in: str,
    *,
    allow_player: bool,
    is_file: bool = False,
    media_type: MediaType | None = None,
    metadata: dict[str, str] | None = None,
) -> FoundEmbed | None:
    """An embed for a URL that may be a platform post, a media file or a player page.

    Returns None for trackers, share/like widgets, non-post platform pages (profiles,
    buttons), and for pages when ``allow_player`` is false (a plain link is not media).
    """
    if is_tracker_url(url) or is_furniture_url(url):
        return None
    post = platform_post(url) or proxied_post(url)
    if post is None and mastodon_embed(url) is not None:
        post = normalize_url(url)  # the status the frame shows
    if post is not None:
        return FoundEmbed(
            "platform", post.url, url, post.media_type or media_type, post.platform, found_in,
            None, None, dict(metadata or {}),
        )  # fmt: skip
    normalized = normalize_url(url)
    if normalized.kind == "platform":  # not a post: a profile, a button
        return None
    if normalized.kind == "file" or is_file:  # a file's canonical address, typed or not
        return file_embed(url, media_type or normalized.media_type, found_in, metadata)
    if not allow_player:
        return None
    return FoundEmbed(
        "player", normalized.url, url, None, None, found_in, None, None, dict(metadata or {})
    )


def declared_embed(
    item: DeclaredMedia, base: str, *, allow_player: bool, extra: dict[str, str] | None = None
) -> FoundEmbed | None:
    """Embed for media a page declares in its metadata (og:video, JSON-LD contentUrl);
    a JSON-LD ``embedUrl`` is the fallback when ``contentUrl`` is unusable. Its
    ``thumbnailUrl`` is kept absolute, as the page's readers were shown it."""
    metadata = {**(extra or {}), **item.metadata}
    thumbnail = resolve_url(metadata.get("thumbnailUrl"), base)
    if thumbnail is not None and len(thumbnail) <= MAX_METADATA_VALUE:
        metadata["thumbnailUrl"] = thumbnail
    url = resolve_url(item.url, base)
    found: FoundEmbed | None = None
    if url is not None:
        found = link_embed(
            url,
            item.source,
            allow_player=allow_player,
            is_file=item.is_file,
            media_type=item.media_type,
            metadata=metadata,
        )
    fallback = resolve_url(item.fallback_url, base)
    if found is None and fallback is not None:
        found = link_embed(fallback, item.source, allow_player=allow_player, metadata=metadata)
    if found is None:
        return None
    return replace(found, update=item.update, context=item.context, posted_at=item.posted_at)
