"""Media declared in page metadata: Open Graph ``og:video``/``og:image`` and JSON-LD objects.

Player pages often name their real video file only there, and JSON-LD carries the upload
date, author and title that make a video attributable.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from archiver.extract.context import label_at_start, label_of_moment, sentence_context
from archiver.extract.document import Element, collapse
from archiver.extract.model import MediaType
from archiver.jsontext import load_json

# Text a page declares is kept up to this length (a 10 MB alt text would be copied into
# every sidecar and search result of the embed).
MAX_METADATA_VALUE = 2000
_LD_TYPES: dict[str, MediaType] = {
    "VideoObject": "video",
    "AudioObject": "audio",
    "ImageObject": "image",
}
_LD_TEXT_FIELDS = ("name", "description", "caption", "uploadDate", "datePublished", "duration")
_ALL_LD_TYPES = frozenset(_LD_TYPES)
# A live blog's update also declares media as a ``MediaObject`` whose
# ``encodingFormat`` says what it is, or by URL alone under the properties schema.org
# lets hold one (``"image": "https://…/strike.jpg"``, a list of them).
_MEDIA_OBJECT = "MediaObject"
_UPDATE_TYPES = _ALL_LD_TYPES | {_MEDIA_OBJECT}
_UPDATE_MEDIA_PROPERTIES: dict[str, MediaType | None] = {
    "image": "image",
    "video": "video",
    "audio": "audio",
    "associatedMedia": None,
}
_MAX_HEADLINE_LABEL = 200  # a headline that opens with no label is the label, this long
_MIME_MAJOR: dict[str, MediaType] = {"video": "video", "image": "image", "audio": "audio"}
# Who made or published a thing: their logos and portraits are the site's furniture (a
# WordPress live blog repeats its publisher's logo in every update), not evidence.
_PARTY_KEYS = frozenset(
    {
        "author", "creator", "contributor", "editor", "publisher", "provider", "producer",
        "sourceOrganization", "copyrightHolder", "accountablePerson", "funder", "sponsor",
        "brand", "logo", "@context",
    }
)  # fmt: skip
_PARTY_TYPES = frozenset(
    {
        "Person", "Organization", "NewsMediaOrganization", "Corporation", "NGO",
        "GovernmentOrganization", "EducationalOrganization", "OnlineBusiness", "Brand",
    }
)  # fmt: skip


@dataclass(frozen=True)
class DeclaredMedia:
    """One media item a page declares about itself, before URL resolution."""

    url: str
    media_type: MediaType | None
    source: str  # "og:video", "og:image", "json-ld"; in feeds "enclosure", "media:content"...
    is_file: bool  # the URL is the media itself, not a page showing it
    metadata: dict[str, str] = field(default_factory=dict)
    fallback_url: str | None = None  # JSON-LD embedUrl when contentUrl is also given
    # the live-blog update (JSON-LD ``liveBlogUpdate``) that holds it: its headline's
    # label, the sentence of its text the media follows, and when it was posted
    update: str | None = None
    context: str | None = None
    posted_at: datetime | None = None


def meta_values(root: Element) -> list[tuple[str, str]]:
    """(property-or-name, content) of every ``<meta>`` in document order, names lower-cased."""
    pairs: list[tuple[str, str]] = []
    for meta in root.iter("meta"):
        name = (meta.get("property") or meta.get("name") or "").strip().lower()
        content = (meta.get("content") or "").strip()
        if name and content:
            pairs.append((name, content))
    return pairs


def first_meta(pairs: list[tuple[str, str]], name: str) -> str | None:
    """Content of the first meta tag with this property/name."""
    return next((content for key, content in pairs if key == name), None)


def open_graph_media(pairs: list[tuple[str, str]], kind: str) -> list[DeclaredMedia]:
    """``og:video`` or ``og:image`` items; each ``og:KIND``/``og:KIND:url`` starts an item and
    ``:secure_url``/``:type`` refine it (the secure URL wins, as crawlers do)."""
    prefix = f"og:{kind}"
    groups: list[dict[str, str]] = []
    for key, content in pairs:
        suffix = key[len(prefix) :] if key.startswith(prefix) else None
        if suffix in ("", ":url"):
            if groups and "url" not in groups[-1]:
                groups[-1]["url"] = content
            else:
                groups.append({"url": content})
        elif suffix in (":secure_url", ":type", ":width", ":height"):
            field_name = suffix[1:]
            if not groups or field_name in groups[-1]:
                groups.append({})
            groups[-1][field_name] = content
    found: list[DeclaredMedia] = []
    for group in groups:
        url = group.get("secure_url") or group.get("url")
        if url:
            mime = group.get("type")
            metadata = {
                f"{prefix}:{k}": v[:MAX_METADATA_VALUE]
                for k, v in group.items()
                if k in ("width", "height")
            }
            if mime:
                metadata[f"{prefix}:type"] = mime[:MAX_METADATA_VALUE]
            declared_media = media_from_mime(mime)
            is_file = declared_media is not None or kind == "image"
            media = declared_media or ("image" if kind == "image" else None)
            found.append(DeclaredMedia(url, media, prefix, is_file, metadata))
    return found


def media_from_mime(mime: str | None) -> MediaType | None:
    """Media type of a MIME type such as ``video/mp4``; None for ``text/html`` players."""
    return _MIME_MAJOR.get((mime or "").split("/", 1)[0].strip().lower())


def json_ld_media(documents: list[Any], types: frozenset[str]) -> list[DeclaredMedia]:
    """Media objects of the given schema.org types (``VideoObject``...) found anywhere in the
    page's JSON-LD (`json_ld_documents`), including nested ones (``NewsArticle.video``)
    and ``@graph`` lists."""
    return [
        media
        for data in documents
        for node in _walk_json(data)
        if (media := _declared(node, types)) is not None
    ]


def live_blog_media(documents: list[Any]) -> list[DeclaredMedia]:
    """The videos, sounds and photos of each update of a JSON-LD ``LiveBlogPosting``
    (some live blogs draw their updates by script, from this alone), each with its
    update's label (its headline's, or the headline), context (the last sentence of its
    text) and ``datePublished``. A photo of an update is evidence, unlike the page's
    own share image."""
    found: list[DeclaredMedia] = []
    for data in documents:
        for node in _walk_json(data):
            if "LiveBlogPosting" not in _types_of(node):
                continue
            updates = node.get("liveBlogUpdate")
            for update in updates if isinstance(updates, list) else [updates]:
                if isinstance(update, dict):
                    found += _update_media(update)
    return found


def _update_media(update: dict[str, Any]) -> list[DeclaredMedia]:
    headline = collapse(_text(update.get("headline")) or "")
    label = label_at_start(headline)
    body = _text(update.get("articleBody")) or ""
    title = (label.text if label else headline[:_MAX_HEADLINE_LABEL]) or None
    if title is None:  # an update with no headline is known by when it was posted
        title = _time_label(update.get("datePublished"))
    sentence = sentence_context(body, skip_empty=True) if body else None
    posted_at = iso_moment(update.get("datePublished"))
    found: list[DeclaredMedia] = []
    for media in _declared_in_update(update):
        # its caption, else the sentence of the update it follows
        context = media.metadata.get("caption") or sentence
        found.append(replace(media, update=title, context=context, posted_at=posted_at))
    return found


def _declared_in_update(update: dict[str, Any]) -> list[DeclaredMedia]:
    """The media objects anywhere in an update, and the URLs its own media properties
    give (`_UPDATE_MEDIA_PROPERTIES`), in order; not what a media object holds (its
    thumbnail). A URL deeper down (a shared article's picture) is not the update's."""
    found: list[DeclaredMedia] = []
    # (the update's property the value is under, else None; the value)
    stack: list[tuple[str | None, Any]] = list(reversed(_inner_items(update)))
    while stack:  # depth-first, in order
        key, current = stack.pop()
        if isinstance(current, list):
            stack.extend((key, item) for item in reversed(current))
        elif isinstance(current, str) and key in _UPDATE_MEDIA_PROPERTIES and current.strip():
            media_type = _UPDATE_MEDIA_PROPERTIES[key]
            found.append(
                DeclaredMedia(current.strip(), media_type, "json-ld", media_type == "image")
            )
        elif isinstance(current, dict):
            media = _declared(current, _UPDATE_TYPES)
            if media is None:
                stack.extend((None, value) for value in reversed(_inner_values(current)))
            else:
                found.append(media)
    return found


def _time_label(value: Any) -> str | None:
    """The label a ``<time datetime>`` holding this JSON-LD date would set
    (`label_of_moment`: "2024-03-12 14:32 UTC"); None for a day alone or no date."""
    return label_of_moment(value) if isinstance(value, str) else None


def iso_moment(value: Any) -> datetime | None:
    """An RFC 3339 / ISO 8601 date (``2013-09-28T18:00:00Z``) in UTC; None when unreadable."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):  # not a date; a zone pushing year 1 out of range
        return None


def _declared(node: dict[str, Any], types: frozenset[str]) -> DeclaredMedia | None:
    """The media a JSON-LD object of one of ``types`` names, if it names a URL; a
    ``MediaObject`` is what its ``encodingFormat`` says."""
    wanted = [t for t in _types_of(node) if t in types and (t in _LD_TYPES or t == _MEDIA_OBJECT)]
    if not wanted:
        return None
    media_type = _LD_TYPES.get(wanted[0]) or media_from_mime(_text(node.get("encodingFormat")))
    content_url = _first_url(node.get("contentUrl"))
    embed_url = _first_url(node.get("embedUrl"))
    if wanted[0] == "ImageObject" and content_url is None:
        content_url = _first_url(node.get("url"))
    url = content_url or embed_url
    if url is None:
        return None
    fallback = embed_url if content_url and embed_url != content_url else None
    is_file = content_url is not None
    return DeclaredMedia(url, media_type, "json-ld", is_file, _ld_metadata(node), fallback)


def json_ld_documents(root: Element) -> list[Any]:
    """The page's JSON-LD, each script parsed once (see `_json_ld_documents`)."""
    return list(_json_ld_documents(root))


def _json_ld_documents(root: Element) -> Iterator[Any]:
    """Parsed JSON of each ``application/ld+json`` script; broken JSON is skipped, and so
    is JSON nested too deep for Python's parser (``[[[[...`` raised RecursionError)."""
    for script in root.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        raw = (script.text or "").strip()
        raw = raw.removeprefix("<!--").removesuffix("-->").strip().rstrip(";")
        if not raw:
            continue
        try:
            yield load_json(raw, strict=False)
        except (ValueError, RecursionError):
            continue


def _walk_json(data: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object inside ``data``, depth-first, without recursion limits; not
    inside its people and organisations (`_inner_values`)."""
    stack = [data]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            yield current
            stack.extend(reversed(_inner_values(current)))
        elif isinstance(current, list):
            stack.extend(reversed(current))


def _inner_values(node: dict[str, Any]) -> list[Any]:
    """The values of a JSON-LD object that may hold media, in order (`_inner_items`)."""
    return [value for _, value in _inner_items(node)]


def _inner_items(node: dict[str, Any]) -> list[tuple[str, Any]]:
    """The properties of a JSON-LD object that may hold media, in order: not those of
    the people and organisations behind it (`_PARTY_KEYS`, `_PARTY_TYPES`)."""
    if any(kind in _PARTY_TYPES for kind in _types_of(node)):
        return []
    return [(key, value) for key, value in node.items() if key not in _PARTY_KEYS]


def _types_of(node: dict[str, Any]) -> list[str]:
    """The ``@type`` values of a JSON-LD node, without any ``schema:`` prefix."""
    raw = node.get("@type")
    values = raw if isinstance(raw, list) else [raw]
    return [
        value.rsplit("/", 1)[-1].rsplit(":", 1)[-1] for value in values if isinstance(value, str)
    ]


def _first_url(value: Any) -> str | None:
    """A URL from a JSON-LD value that may be a string, a list or an object with ``url``."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, list):
        return next((url for url in map(_first_url, value) if url), None)
    if isinstance(value, dict):
        return _first_url(value.get("url") or value.get("@id"))
    return None


def _text(value: Any) -> str | None:
    """A short text from a JSON-LD value (strings and numbers; first of a list)."""
    if isinstance(value, list):
        return next((text for text in map(_text, value) if text), None)
    if isinstance(value, dict):
        return _text(value.get("name") or value.get("@value"))
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        text = collapse(str(value))
        return text[:MAX_METADATA_VALUE] if text else None
    return None


def _ld_metadata(node: dict[str, Any]) -> dict[str, str]:
    """Attribution fields of a media object: name, description, dates, author, thumbnail."""
    metadata: dict[str, str] = {}
    for key in _LD_TEXT_FIELDS:
        text = _text(node.get(key))
        if text:
            metadata[key] = text
    author = _text(node.get("author") or node.get("creator"))
    if author:
        metadata["author"] = author
    thumbnail = _first_url(node.get("thumbnailUrl") or node.get("thumbnail"))
    if thumbnail and len(thumbnail) <= MAX_METADATA_VALUE:
        metadata["thumbnailUrl"] = thumbnail
    return metadata
