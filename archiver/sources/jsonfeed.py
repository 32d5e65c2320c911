"""JSON Feed (https://jsonfeed.org, versions 1 and 1.1): its items as feed entries."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from archiver.errors import FetchError
from archiver.extract.html import MAX_TITLE
from archiver.extract.structured import DeclaredMedia
from archiver.extract.urls import resolve_url
from archiver.jsontext import load_json
from archiver.sources.dates import feed_moment
from archiver.sources.entries import MAX_ATTACHMENTS, FeedEntry, declared_attachment

_VERSION_PREFIX = "https://jsonfeed.org/version/"
_ATTACHMENT_FIELDS = ("mime_type", "title", "size_in_bytes", "duration_in_seconds")


def parse_json_feed(text: str, feed_url: str) -> list[FeedEntry]:
    """The feed's items, in order, read as RSS entries are: ``url`` is the entry's page,
    ``content_html`` (else ``content_text``, else ``summary``, as text) its content,
    ``attachments`` the files it attaches, ``image`` its main picture, ``external_url``
    what it links to (``banner_image``, a blog's decoration, is not read). Relative
    URLs resolve against the item's ``url``, else the feed's. Raises FetchError (one
    line, not retryable) for JSON that is not a JSON Feed."""
    try:
        document = load_json(text)
    except (ValueError, RecursionError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FetchError(f"malformed feed: {reason}", retryable=False) from None
    if not is_json_feed(document):
        raise FetchError(
            "not an RSS, Atom, RDF or JSON feed: JSON without a JSON Feed version",
            retryable=False,
        )
    items = document.get("items")
    if not isinstance(items, list):
        raise FetchError("malformed feed: a JSON Feed without items", retryable=False)
    entries: list[FeedEntry] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        url = _text(item.get("url"))
        link = resolve_url(url, feed_url) if url else None
        content = _content(item)
        base = link or feed_url
        attachments = _attachments(item, base) + _image(item, base) + _external(item, base)
        if link is None and not content.strip() and not attachments:
            continue  # no page and no content: nothing to archive
        title = _text(item.get("title"))
        entry_id = item.get("id")
        entries.append(
            FeedEntry(
                link=link,
                base=link or feed_url,
                title=title[:MAX_TITLE] if title is not None else None,
                html=content,
                published=_published(item),
                entry_id=str(entry_id) if isinstance(entry_id, str | int) else None,
                attachments=attachments,
            )
        )
    return entries


def is_json_feed(document: Any) -> bool:
    """Whether parsed JSON names a JSON Feed version: what makes it a feed, wherever
    its ``version`` is written and however its slashes are escaped."""
    version = document.get("version") if isinstance(document, dict) else None
    return isinstance(version, str) and version.startswith(_VERSION_PREFIX)


def _published(item: dict[str, Any]) -> datetime | None:
    """``date_published``, else ``date_modified`` (RFC 3339, or what feeds write instead)."""
    for key in ("date_published", "date_modified"):
        raw = _text(item.get(key))
        if raw is not None and (moment := feed_moment(raw)[1]) is not None:
            return moment
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _content(item: dict[str, Any]) -> str:
    """``content_html``, else ``content_text`` or ``summary`` as HTML; an empty one
    hides nothing."""
    markup = _text(item.get("content_html"))
    if markup is not None and markup.strip():
        return markup
    text = _text(item.get("content_text")) or _text(item.get("summary")) or ""
    return html.escape(text, quote=False)  # plain text: nothing in it is markup


def _external(item: dict[str, Any], base: str) -> tuple[DeclaredMedia, ...]:
    """``external_url``, what a link-blog item is about (a video it points to): kept
    when it is a platform post or a media file, as an attachment is."""
    url = _text(item.get("external_url"))
    resolved = resolve_url(url, base) if url else None
    return (DeclaredMedia(resolved, None, "external_url", False),) if resolved else ()


def _image(item: dict[str, Any], base: str) -> tuple[DeclaredMedia, ...]:
    """``image``, the item's main picture (a status without a page may have no other
    copy of its photo): a file declared an image, as an attachment is."""
    url = _text(item.get("image"))
    resolved = resolve_url(url, base) if url else None
    return (DeclaredMedia(resolved, "image", "image", True),) if resolved else ()


def _attachments(item: dict[str, Any], base: str) -> tuple[DeclaredMedia, ...]:
    listed = item.get("attachments")
    found: list[DeclaredMedia] = []
    for attachment in listed[:MAX_ATTACHMENTS] if isinstance(listed, list) else []:
        if not isinstance(attachment, dict):
            continue
        url = _text(attachment.get("url"))
        resolved = resolve_url(url, base) if url else None
        fields = {
            key: _text(attachment.get(key)) or attachment.get(key) for key in _ATTACHMENT_FIELDS
        }
        declared = declared_attachment(
            resolved, attachment.get("mime_type"), None, "attachment", fields
        )
        if declared is not None:
            found.append(declared)
    return tuple(found)
