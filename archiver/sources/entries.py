"""A feed entry, whatever the feed's format: its link, its HTML, the files it attaches,
and the embeds those make (with the entry's own text as their context)."""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from archiver.extract.collect import declared_embed, link_embed
from archiver.extract.context import sentence_context
from archiver.extract.document import large_document_turn, parse_document, text_of
from archiver.extract.model import ExtractError, FoundEmbed, MediaType
from archiver.extract.structured import MAX_METADATA_VALUE, DeclaredMedia, media_from_mime
from archiver.extract.urls import without_cache_busters

_MAX_LABEL = 200  # as a heading's label on a page
MAX_ATTACHMENTS = 64  # files one entry may attach (a hostile feed may list thousands)
# Media RSS ``medium`` values that are media (others: "document", "executable")
_MEDIUMS: dict[str, MediaType] = {"video": "video", "image": "image", "audio": "audio"}


@dataclass(frozen=True)
class FeedEntry:
    link: str | None  # the entry's own page, an absolute http(s) URL; None when it has none
    base: str  # what relative URLs in ``html`` resolve against: xml:base, else the link or the feed
    title: str | None
    html: str  # content:encoded / atom content, else the summary; may be empty
    published: datetime | None
    entry_id: str | None = None  # RSS guid / Atom id / JSON Feed id, as written
    attachments: tuple[DeclaredMedia, ...] = ()  # enclosures, Media RSS, JSON attachments

    @property
    def digest(self) -> str:
        """What tells a changed entry from one seen before: its HTML and its attachments
        (an entry without attachments keeps the digest of its HTML alone), the
        addresses of files in them without their cache-busters (an entry that wrote
        one anew at every poll queued its page each time)."""
        attached = "".join(f"\n{item.url} {item.source}" for item in self.attachments)
        text = without_cache_busters(self.html + attached)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @property
    def label(self) -> str | None:
        """How to name the entry where it has no page of its own: its title, else its id
        (at most as long as a heading's label: it is repeated on each of its embeds)."""
        label = (self.title or "").strip() or (self.entry_id or "").strip()
        return label[:_MAX_LABEL] or None


def declared_attachment(
    url: Any, mime: Any, medium: Any, source: str, fields: dict[str, Any]
) -> DeclaredMedia | None:
    """A file an entry attaches, as declared: a video, image or audio type (or Media RSS
    ``medium``) makes the URL a file; otherwise only a platform post or a URL with a
    media file's extension is kept (``declared_embed``). ``fields`` (size, duration...)
    are kept as metadata, prefixed with ``source``. None without a URL."""
    if not isinstance(url, str) or not url.strip():
        return None
    mime_text = mime.strip() if isinstance(mime, str) else ""
    medium_text = medium.strip().lower() if isinstance(medium, str) else ""
    media_type = media_from_mime(mime_text) or _MEDIUMS.get(medium_text)
    metadata = {
        f"{source}:{key}": str(value).strip()[:MAX_METADATA_VALUE]
        for key, value in fields.items()
        if isinstance(value, str | int | float) and str(value).strip()
    }
    return DeclaredMedia(url.strip(), media_type, source, media_type is not None, metadata)


def media_embeds(entry: FeedEntry) -> list[FoundEmbed]:
    """Embeds for the entry's link when it is itself media (a video feed's watch URL, a
    link straight to a file), then for the files the entry attaches.

    Their context is the entry's own text, as for an embed at its end: the sentences
    just before (a description ending "posting video of their fighters:"), else the
    entry's title.
    """
    found = [
        embed
        for embed in (
            link_media(entry),
            *(declared_embed(item, entry.base, allow_player=False) for item in entry.attachments),
        )
        if embed is not None
    ]
    if not found:
        return []
    context = _entry_text_context(entry.html) or sentence_context(entry.title or "")
    return [replace(embed, context=context) for embed in found]


def link_media(entry: FeedEntry) -> FoundEmbed | None:
    """The entry's link as an embed when it is a platform post or a media file; None
    when it is a page (an article, which is captured as a page instead)."""
    return link_embed(entry.link, "link", allow_player=False) if entry.link else None


def _entry_text_context(markup: str) -> str | None:
    if "<" not in markup:
        return sentence_context(html.unescape(markup))  # a plain-text summary
    try:
        with large_document_turn(markup):
            return sentence_context(text_of(parse_document(markup)))
    except ExtractError:
        return None
