"""RSS and Atom: each entry's link and its HTML content, ready for embed extraction."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

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
    link: str | None  # the entry's own page, an absolute http(s) URL; None when it has none
    base: str  # what relative URLs in ``html`` resolve against: the link, else xml:base or the feed
    title: str | None
    html: str  # content:encoded / atom content, else the summary; may be empty
    published: datetime | None
    entry_id: str | None = None  # RSS guid / Atom id, as written

    @property
    def label(self) -> str | None:
        """How to name the entry where it has no page of its own: its title, else its id."""
        return (self.title or "").strip() or (self.entry_id or "").strip() or None


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


def _is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _link(entry: Any, feed_url: str) -> str | None:
    """The entry's page: its link, or its id when the feed says the id is one.

    feedparser copies the id into ``link`` (``guidislink``) for an RSS guid without
    isPermaLink="false" and for an Atom entry without a link; such an id is only a
    page when it is an absolute http(s) URL (not "post-42", "urn:uuid:...", "tag:...").
    An RSS guid with isPermaLink="false" is never a page.
    """
    link = str(entry.get("link") or "")
    if not link:
        return None
    if entry.get("guidislink"):
        return link if _is_web_url(link) else None
    resolved = urljoin(feed_url, link)
    return resolved if _is_web_url(resolved) else None


def _content_base(entry: Any, feed_url: str) -> str:
    """The xml:base of the entry's content, else the feed's own URL."""
    details = [*(entry.get("content") or []), entry.get("summary_detail") or {}]
    for detail in details:
        if base := detail.get("base"):
            resolved = urljoin(feed_url, str(base))
            if _is_web_url(resolved):
                return resolved
    return feed_url


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
    against each entry's ``base``. An entry without a page of its own (no link, or
    an id that is not a permalink) is kept with ``link`` None when it has content:
    its content may hold embeds worth archiving.
    """
    parsed = feedparser.parse(
        body, sanitize_html=False, resolve_relative_uris=False, response_headers={}
    )
    entries: list[FeedEntry] = []
    for entry in parsed.entries:
        link, html = _link(entry, feed_url), _html(entry)
        if link is None and not html.strip():
            continue  # no page and no content: nothing to archive
        entries.append(
            FeedEntry(
                link=link,
                base=link or _content_base(entry, feed_url),
                title=entry.get("title"),
                html=html,
                published=_when(entry),
                entry_id=entry.get("id") or None,
            )
        )
    if parsed.get("bozo") and not entries:
        # a broken feed whose loose parse still yields entries is used as far as it goes
        error = parsed.get("bozo_exception")
        reason = str(error).splitlines()[0] if error else "unreadable"
        raise FetchError(f"malformed feed: {reason}", retryable=False)
    return entries
