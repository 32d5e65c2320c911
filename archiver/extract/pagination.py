"""The link from a live page to its older updates, when the page is split into pages.

Live blogs show their newest updates on the page itself and move older ones to further
pages as new ones arrive: the Guardian's "older posts" (``?page=with:block-…``), BBC's
``?page=2``, WordPress's ``/page/2/``. What scrolls off the first page between two polls,
and what was posted before a source was added, is only on those pages.

A page's link to the next-older page is found by what it says it is: ``rel="next"``
(``<link>`` or ``<a>``), or an ``<a>`` whose text, ``aria-label`` or ``title`` reads
"next" or "older". Such a link is followed only when it continues the same page: the same
host and path with more in its query, or the path followed by a page number. A "next
article" link leads elsewhere and is not followed.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

from archiver.extract.document import Element, collapse
from archiver.extract.urls import clean_url, resolve_url

# What the link to older updates says, whole: "Next", "Older posts", "Next page ›".
_OLDER_LABEL = re.compile(
    r"^(?:next|older)(?: (?:page|posts?|updates?|entries|events))?(?: ?[›»>→])?$", re.I
)
# What a page number after the page's own path looks like: "/2", "/page/2/", "/liveblog/page/3".
_PAGE_SUFFIX = re.compile(r"^(?:/[A-Za-z_-]+){0,2}/\d{1,6}/?$")
_MAX_LABEL = 40
_MAX_LINKS = 20


def older_page_links(root: Element, base: str) -> list[str]:
    """Absolute URLs (``clean_url``) the page names as its next or older page, best first.

    Whether one of them continues the page is for ``continues_page`` to say, against
    the live page's first address.
    """
    named: list[str] = []  # rel="next"
    labelled: list[str] = []  # says "next" or "older"
    for element in root.iter("link", "a"):
        href = element.get("href")
        if not href or href.startswith("#") or len(named) + len(labelled) >= _MAX_LINKS:
            continue
        rel = element.get("rel")
        if rel and "next" in rel.lower().split():
            named.append(href)
        elif element.tag == "a" and any(
            _OLDER_LABEL.match(collapse(label[: _MAX_LABEL * 4])[:_MAX_LABEL])
            for label in (element.get("aria-label"), element.get("title"), element.text_content())
            if label
        ):
            labelled.append(href)
    found: list[str] = []
    for href in named + labelled:
        url = resolve_url(href, base)
        if url is not None and (url := clean_url(url)) not in found:
            found.append(url)
    return found


def continues_page(first_url: str, url: str) -> bool:
    """Whether ``url`` is a further page of the page first found at ``first_url``."""
    first, other = urlsplit(first_url), urlsplit(url)
    if (other.scheme, other.netloc.lower()) != (first.scheme, first.netloc.lower()):
        return False
    path = first.path.rstrip("/")
    if other.path.rstrip("/") == path:
        # the page's own query stays (``?id=7&page=2``; ``?id=8`` is another page)
        kept = set(parse_qsl(first.query)) <= set(parse_qsl(other.query))
        return kept and other.query != first.query
    return other.path.startswith(path + "/") and bool(_PAGE_SUFFIX.match(other.path[len(path) :]))
