"""Find the article body and strip page chrome from it: only the article is evidence.

Logos, share buttons, author avatars, ads and "related articles" thumbnails are on every page
of a site; archiving them would bury the evidence under furniture. Chrome is recognised by
element (``nav``, ``aside``...), ARIA role, or class/id words, matched as whole words of the
class (``ad-slot`` is an ad, ``shadow`` and ``header-image`` are not). A wrapper that holds
most of the article's text is never chrome, whatever its class says (``content-sidebar-wrap``).
"""

from __future__ import annotations

import itertools
import re
from functools import lru_cache

import lxml.etree

from archiver.extract.document import MEDIA_TAGS, Element, tag_name, text_length

# Where sites put the article body, most specific first (compiled once: pages are many).
_BODY_XPATHS = tuple(
    lxml.etree.XPath(expression)
    for expression in (
        "//*[contains(concat(' ', normalize-space(@itemprop), ' '), ' articleBody ')]",
        "//article",
        "//*[contains(concat(' ', normalize-space(@class), ' '), ' entry-content ')]",
        "//*[contains(concat(' ', normalize-space(@class), ' '), ' post-content ')]",
        "//*[contains(concat(' ', normalize-space(@class), ' '), ' article-body ')]",
        "//*[contains(concat(' ', normalize-space(@class), ' '), ' story-body ')]",
        "//*[@id='article-body']",
        "//main",
        "//*[@role='main']",
        "//*[@id='content']",
    )
)

_CHROME_TAGS = frozenset({"header", "nav", "footer", "aside"})
_CHROME_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search"})
# Whole words of a class or id that mark chrome ("share-buttons" -> "share", "buttons").
_CHROME_WORDS = frozenset(
    {
        "ad", "ads", "adsbygoogle", "adslot", "adunit", "adbox", "adwrap", "adwrapper",
        "adcontainer", "adzone", "dfp", "advert", "adverts", "advertisement",
        "advertisements", "advertising", "advertorial", "sponsor", "sponsors", "sponsored",
        "sponsorship", "promo", "promos", "promoted", "promotion", "promotions", "related",
        "recommended", "recommendations", "newsletter", "newsletters", "comment", "comments",
        "commentlist", "disqus", "sidebar", "sidebars", "breadcrumb", "breadcrumbs", "logo",
        "logos", "icon", "icons", "share", "shares", "sharing", "sharebar", "sharedaddy",
        "sharethis", "addthis", "social", "avatar", "avatars", "gravatar", "outbrain",
        "taboola", "subscribe", "subscription", "paywall", "masthead", "navbar",
        "navigation", "menu", "pagination", "pager", "toolbar", "tags", "cookie", "cookies",
        "popup", "modal", "skiplink",
    }
)  # fmt: skip
# Consecutive word pairs that mark chrome where each word alone would not.
_CHROME_PAIRS = frozenset(
    {
        ("author", "photo"), ("author", "image"), ("author", "img"), ("author", "avatar"),
        ("author", "pic"), ("author", "thumb"), ("author", "bio"), ("author", "box"),
        ("byline", "image"), ("byline", "photo"), ("widget", "area"), ("more", "stories"),
        ("most", "read"), ("most", "popular"), ("site", "header"), ("site", "footer"),
        ("top", "bar"), ("read", "more"), ("you", "may", "like"),
    }
)  # fmt: skip
# Word beginnings that mark chrome ("sharedaddy", "socialmedia", "advertorial").
_CHROME_PREFIXES = (
    "advert", "sponsor", "newsletter", "breadcrumb", "sidebar", "gravatar", "social",
    "sharing", "share", "promo", "recommend", "comment", "related", "taboola", "outbrain",
)  # fmt: skip
_NOT_CHROME_WORDS = frozenset({"commentary", "shared", "promontory"})
# Whole class tokens that are chrome although their words are also used inside articles.
_CHROME_TOKENS = frozenset({"header", "footer", "topbar", "nav"})
# A container made for an embed is media, whatever else its class says ("social-embed").
_EMBED_WORDS = frozenset({"embed", "embeds", "embedded", "oembed"})
_XML_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")


def find_content_root(root: Element) -> Element:
    """The element holding the article: the first selector that matches outside chrome,
    largest by text when it matches several, else ``<body>``."""
    body = root.find("body")
    page = body if body is not None else root
    total = max(text_length(page), 1)
    for xpath in _BODY_XPATHS:
        candidates = [
            element
            for element in xpath(root)
            if _has_substance(element) and not _inside_chrome(element, total)
        ]
        if candidates:
            return max(candidates, key=text_length)
    return page


def _has_substance(element: Element) -> bool:
    """Whether a candidate holds any text or media (empty placeholders do not count)."""
    if text_length(element) > 0:
        return True
    return any(True for _ in element.iter(*MEDIA_TAGS))


def _inside_chrome(element: Element, total: int) -> bool:
    """Whether the element or an ancestor is chrome (an ``article`` teaser in a sidebar);
    wrappers holding most of the page's text are layout, not chrome."""
    node = element
    while node is not None and tag_name(node) not in ("body", "html"):
        if looks_like_chrome(node) and text_length(node) * 2 < total:
            return True
        node = node.getparent()
    return False


def looks_like_chrome(element: Element) -> bool:
    """Chrome by tag, ARIA role or class/id words, ignoring how much text it holds."""
    tag = tag_name(element)
    if tag is None:
        return False
    if tag in _CHROME_TAGS:
        return True
    role = (element.get("role") or "").strip().lower()
    if role in _CHROME_ROLES:
        return True
    return _chrome_names(element.get("class") or "", element.get("id") or "")


@lru_cache(maxsize=4096)
def _chrome_names(class_value: str, id_value: str) -> bool:
    """Whether any class token or the id names chrome (cached: classes repeat a lot)."""
    return any(_chrome_token(token) for token in (*class_value.split(), *id_value.split()))


def _chrome_token(token: str) -> bool:
    """Whether one class token / id names chrome, by whole words, word pairs or prefixes."""
    if token.lower() in _CHROME_TOKENS:
        return True
    words = [word.lower() for word in _WORD_SPLIT.split(token) if word]
    if not words or _EMBED_WORDS.intersection(words):
        return False
    if _CHROME_WORDS.intersection(words):
        return True
    pairs = set(itertools.pairwise(words))
    triples = set(zip(words, words[1:], words[2:], strict=False))
    return bool(_CHROME_PAIRS.intersection(pairs | triples)) or any(
        word.startswith(_CHROME_PREFIXES) and word not in _NOT_CHROME_WORDS for word in words
    )


def strip_chrome(content: Element) -> None:
    """Remove chrome inside the content root, keeping the text that follows each removal.

    A chrome-looking element that holds most of the content's text is a layout wrapper, not
    chrome; so is a ``form`` (whole pages sit in one on some publishing systems) unless small.
    """
    total = max(text_length(content), 1)
    for element in _chrome_elements(content, total):
        _drop(element)


def _drop(element: Element) -> None:
    """Remove an element, moving the text that follows it to where the element was.

    lxml refuses to store text with control characters, which broken pages do contain
    (the parser keeps them), so those characters are left out of the moved text.
    """
    parent = element.getparent()
    if parent is None:
        return
    tail, element.tail = element.tail, None
    previous = element.getprevious()
    parent.remove(element)
    if not tail:
        return
    if previous is not None:
        previous.tail = _xml_safe((previous.tail or "") + tail)
    else:
        parent.text = _xml_safe((parent.text or "") + tail)


def _xml_safe(text: str) -> str:
    """Text without the characters lxml cannot store."""
    return _XML_UNSAFE.sub("", text)


def _chrome_elements(content: Element, total: int) -> list[Element]:
    """Outermost chrome elements under ``content`` (their insides are not visited)."""
    found: list[Element] = []
    stack = [child for child in content if isinstance(child.tag, str)]
    while stack:
        element = stack.pop()
        suspect = tag_name(element) == "form" or looks_like_chrome(element)
        if suspect and text_length(element) * 2 < total:
            found.append(element)
        else:
            stack.extend(child for child in element if isinstance(child.tag, str))
    return found
