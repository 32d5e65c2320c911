"""RSS and Atom: each entry's link and its HTML content, ready for embed extraction."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser

from archiver.errors import FetchError

_FEED_ROOT = re.compile(rb"<(rss|feed|rdf:RDF)[\s>]", re.IGNORECASE)
FEED_CONTENT_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/feed+json",
)


@dataclass(frozen=True)
class FeedEntry:
    link: str  # absolute
    title: str | None
    html: str  # content:encoded / atom content, else the summary; may be empty
    published: datetime | None


def looks_like_feed(content_type: str, body: bytes) -> bool:
    """Decide feed or page from the Content-Type, else from the document's root element."""
    if content_type in FEED_CONTENT_TYPES:
        return True
    if content_type in ("text/html", "application/xhtml+xml"):
        return False
    head = body[:2048].lstrip(b"\xef\xbb\xbf \t\r\n")
    return bool(_FEED_ROOT.search(head)) and not head[:200].lower().startswith(b"<!doctype html")


def _when(entry: Any) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    return datetime.fromtimestamp(calendar.timegm(parsed), UTC)


def _html(entry: Any) -> str:
    contents = entry.get("content") or []
    for content in contents:
        if "html" in (content.get("type") or ""):
            return str(content.get("value") or "")
    if contents:
        return str(contents[0].get("value") or "")
    return str(entry.get("summary") or "")


def parse_feed(body: bytes, feed_url: str) -> list[FeedEntry]:
    """The feed's entries, in document order.

    HTML is kept as written (feedparser's sanitizer would strip the iframes and
    widget scripts that are the evidence); relative links are resolved later
    against each entry's link.
    """
    parsed = feedparser.parse(
        body, sanitize_html=False, resolve_relative_uris=False, response_headers={}
    )
    entries: list[FeedEntry] = []
    for entry in parsed.entries:
        link = entry.get("link") or entry.get("id") or ""
        if not link:
            continue
        entries.append(
            FeedEntry(
                link=urljoin(feed_url, link),
                title=entry.get("title"),
                html=_html(entry),
                published=_when(entry),
            )
        )
    if parsed.get("bozo") and not entries:
        # a broken feed whose loose parse still yields entries is used as far as it goes
        error = parsed.get("bozo_exception")
        reason = str(error).splitlines()[0] if error else "unreadable"
        raise FetchError(f"malformed feed: {reason}", retryable=False)
    return entries
