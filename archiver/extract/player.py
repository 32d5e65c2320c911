"""Find the real media behind a player page (the target of an iframe on an unknown host).

Player pages are thin wrappers around one video: they name the file in ``og:video``, in a
JSON-LD ``VideoObject`` (with upload date and author, valuable provenance), or in a
``<video>`` element; some only wrap a YouTube or Vimeo player.
"""

from __future__ import annotations

from archiver.extract.collect import EmbedList, declared_embed, file_embed, link_embed
from archiver.extract.document import (
    Element,
    collapse,
    large_document_turn,
    page_base,
    parse_document,
)
from archiver.extract.media import best_source, frame_url, is_tiny, is_unwanted_image
from archiver.extract.model import FoundEmbed, MediaType
from archiver.extract.structured import (
    MAX_METADATA_VALUE,
    first_meta,
    json_ld_documents,
    json_ld_media,
    meta_values,
    open_graph_media,
)
from archiver.extract.urls import is_tracker_url

_LD_TYPES = frozenset({"VideoObject", "AudioObject", "ImageObject"})
_PAGE_FIELDS = (("og:title", "og:title"), ("og:description", "og:description"))


def extract_player_media(html: bytes | str, base_url: str) -> list[FoundEmbed]:
    """Media files (or platform posts) a player page plays, best-described first.

    Order: ``og:video``, JSON-LD media objects, ``<video>``/``<audio>`` elements, frames
    that wrap a platform player, then ``og:image`` (the poster). A URL found twice is
    listed once with the metadata of both. Player pages themselves are never returned.
    Raises ExtractError when the input is not an HTML document.
    """
    with large_document_turn(html):
        return _player_media(parse_document(html), base_url)


def _player_media(root: Element, base_url: str) -> list[FoundEmbed]:
    base = page_base(root, base_url)
    metas = meta_values(root)
    page_metadata = {
        key: collapse(value)[:MAX_METADATA_VALUE]
        for name, key in _PAGE_FIELDS
        if (value := first_meta(metas, name))
    }
    embeds = EmbedList()
    declared = open_graph_media(metas, "video")
    declared += json_ld_media(json_ld_documents(root), _LD_TYPES)
    for item in declared:
        _add(embeds, declared_embed(item, base, allow_player=False, extra=page_metadata))
    for element in root.iter("video", "audio"):
        _add(embeds, _element_embed(element, base, page_metadata))
    for frame in root.iter("iframe", "embed"):
        url = frame_url(frame, base)
        if url is not None and not is_tiny(frame):
            found = link_embed(url, "iframe", allow_player=False, metadata=page_metadata)
            if found is not None and found.kind == "platform":
                _add(embeds, found)
    for item in open_graph_media(metas, "image"):
        found = declared_embed(item, base, allow_player=False, extra=page_metadata)
        if found is not None and not (found.kind == "file" and is_unwanted_image(found.url)):
            _add(embeds, found)
    return embeds.items()


def _element_embed(element: Element, base: str, metadata: dict[str, str]) -> FoundEmbed | None:
    """Embed for the best rendition of a ``<video>``/``<audio>`` element."""
    choice = best_source(element, base)
    if choice is None or is_tracker_url(choice.url):
        return None
    media_type: MediaType = "video" if element.tag == "video" else "audio"
    extra = dict(metadata)
    if choice.mime_type:
        extra["type"] = choice.mime_type[:MAX_METADATA_VALUE]
    return file_embed(choice.url, media_type, media_type, extra)


def _add(embeds: EmbedList, embed: FoundEmbed | None) -> None:
    """Add an embed if there is one."""
    if embed is not None:
        embeds.add(embed)
