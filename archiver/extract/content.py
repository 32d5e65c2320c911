"""Find the article body and strip page chrome from it: only the article is evidence.

Logos, share buttons, author avatars, ads and "related articles" thumbnails are on every page
of a site; archiving them would bury the evidence under furniture. Chrome is recognised by
element (``nav``, ``aside``...), ARIA role, or class/id words, matched as whole words of the
class (``ad-slot`` and ``adSlot`` are ads, ``shadow``, ``header-image`` and a generated
hash, ``Post_body__mT0Ad``, are not). A wrapper that holds most of the article's text is
never chrome, whatever its class says (``content-sidebar-wrap``).
"""

from __future__ import annotations

import itertools
import re
import statistics
from collections.abc import Callable
from functools import lru_cache
from urllib.parse import parse_qsl, urljoin, urlsplit

import lxml.etree

from archiver.extract.context import TIME_TAGS, label_of_header, opens_with_moment
from archiver.extract.document import (
    MEDIA_TAGS,
    PROBE_ELEMENTS,
    Element,
    tag_name,
    text_length,
)
from archiver.extract.media import declared_size
from archiver.extract.structured import iso_moment
from archiver.extract.urls import is_avatar_url, media_type_of_url, platform_post

# Where sites put the article body, most specific first (compiled once: pages are many).
_BODY_XPATHS = tuple(
    lxml.etree.XPath(expression)
    for expression in (
        "//*[contains(concat(' ', normalize-space(@itemprop), ' '), ' articleBody ')]",
        # not Drupal's wrapper of one media item (``<article class="media ...">``)
        "//article[not(contains(concat(' ', normalize-space(@class), ' '), ' media '))]",
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
        "popup", "modal", "skiplink", "emoji", "emojis", "smiley", "smilies", "bookmark",
        "byline", "bylines", "author", "authors", "contributor", "contributors", "teaser",
        "teasers", "cta",
    }
)  # fmt: skip
# Consecutive word pairs that mark chrome where each word alone would not.
_CHROME_PAIRS = frozenset(
    {
        ("author", "photo"), ("author", "image"), ("author", "img"), ("author", "avatar"),
        ("author", "pic"), ("author", "thumb"), ("author", "bio"), ("author", "box"),
        ("byline", "image"), ("byline", "img"), ("byline", "photo"), ("widget", "area"),
        ("more", "stories"), ("most", "read"), ("most", "popular"), ("site", "header"),
        ("site", "footer"), ("top", "bar"), ("read", "more"), ("you", "may", "like"),
        ("latest", "posts"), ("story", "card"), ("story", "cards"), ("article", "card"),
    }
)  # fmt: skip
# Word beginnings that mark chrome ("sharedaddy", "socialmedia", "advertorial").
_CHROME_PREFIXES = (
    "advert", "sponsor", "newsletter", "breadcrumb", "sidebar", "gravatar", "social",
    "sharing", "share", "promo", "recommend", "comment", "related", "taboola", "outbrain",
)  # fmt: skip
_NOT_CHROME_WORDS = frozenset({"commentary", "shared", "promontory"})
# Whole class tokens that are chrome although their words are also used inside articles.
# The consent plugins' stand-ins (Borlabs Cookie's still and button, Embed Privacy's
# notice): what they hold back is read from their scripts (`_ContentWalker._held_back`).
_CHROME_TOKENS = frozenset(
    {"header", "footer", "topbar", "nav", "_brlbs-content-blocker", "embed-privacy-overlay",
     "tgme_widget_message_user", "tgme_widget_message_footer"}
)  # fmt: skip
# "Social" names a site's share or follow bar (``social``, ``site-social``,
# ``socialmedia``), except in a name that calls it a post (``social-media-post``,
# ``social-tweet``; ``social-embed`` is an embed's by `_EMBED_WORDS`), in Instant
# Articles' ``op-social`` figure and in a Drupal paragraph's type
# (``paragraph--type--social-media``), which names what an editor put in the story.
_SOCIAL_POST_WORDS = frozenset({"post", "posts", "tweet", "tweets", "status"})
_SOCIAL_POST_TOKENS = frozenset({"op-social"})
_DRUPAL_PARAGRAPH = "paragraph--type--"
# A container made for an embed is media, whatever else its class says ("social-embed",
# Borlabs Cookie's "BorlabsCookie").
_EMBED_WORDS = frozenset({"embed", "embeds", "embedded", "oembed", "borlabs"})
# Chrome words that, next to a media word, name a way of showing media (a lightbox gallery,
# a featured video): "popup-gallery", "image-popup", "promo-video" hold evidence.
_SOFT_CHROME_WORDS = frozenset({"popup", "modal", "promo"})
_MEDIA_WORDS = frozenset(
    {"gallery", "image", "images", "img", "photo", "photos", "picture", "video", "videos",
     "media", "lightbox", "slideshow", "slider", "youtube", "vimeo", "iframe", "mfp"}
)  # fmt: skip
# A first word that makes the token a page state, not a name: "has-sidebar", "no-comments".
_STATE_WORDS = frozenset({"has", "with", "no", "without"})
MAX_NESTED_WRAPPERS = 8
# How many levels below their common ancestor posts of one live blog may sit
# (``<li><div><article>``).
_RUN_DEPTHS = (1, 2, 3)
#: A later selector's match with this many times the text of the first one's is the story.
DWARFED = 8
_PAGE_ROOTS = frozenset({"body", "html"})
#: An ``<article>`` with no more text than this may be a card leading to another story.
TEASER_TEXT = 400
_STILL_TAGS = frozenset({"img", "picture", "amp-img"})
# Facebook's and Substack's embeds drawn from a ``<div>`` (`_ContentWalker._div`).
_EMBED_CLASSES = frozenset({"fb-video", "fb-post", "native-video-embed"})
# Videos above a run of posts that are the story's lead (`_bring_lead_media`).
_LEAD_VIDEOS = frozenset({"video", "video-js", "amp-video"})
# Class or id words of a byline box, where a figure is the author's headshot.
_BYLINE_WORDS = frozenset(
    {"meta", "byline", "bylines", "author", "authors", "contributor", "contributors"}
)
# A lead photo declared this small on both sides, or on either side this small, is a
# headshot or a thumbnail, not the story's photo.
_LEAD_SMALL_SIDES = 300
_LEAD_SMALL_SIDE = 150
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_POST_HEADERS = ("h2", "h3", "h4", "h5", "h6", "header", *TIME_TAGS)
# A live post's number in its id (``post-102``, ``update_7``) and the last word of a
# class naming a post (`_is_numbered_post`).
_POST_ID = re.compile(r"(?:post|entry|update)[-_]?\d+", re.IGNORECASE)
_POST_WORDS = frozenset({"post", "entry", "update"})
# Query keys naming a post within a live page (``?post=12``), and prefixes of such keys
# (`_is_post_key`).
_POST_KEYS = frozenset({"post", "update", "entry", "postid", "post_id", "update_id", "entry_id"})
_XML_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
# The part after a class name's last "__" (`_hashless`): a CSS Modules hash
# (``LiveBlogPost_body__mT0Ad``) or a BEM element (``post__share``).
_LAST_PART = re.compile(r"__(_?[A-Za-z0-9-]+(?:_[A-Za-z0-9-]+)*+_?)$")
_HASH_MARK = re.compile(r"[A-Z0-9]")
# A styled-components class beside its ``sc-`` one: a single run of letters (``iAdHGt``).
_STYLED_HASH = re.compile(r"[A-Za-z]{5,8}")


def find_content_root(root: Element) -> Element:
    """The element holding the article: the first selector that matches outside chrome,
    unless a later one matches an element with `DWARFED` times its text; else ``<body>``.

    When the selector matches several elements, a run of alike siblings or cousins (live-blog
    updates: the Guardian's ``<article class="block">``, microdata ``articleBody`` per update)
    is read as one: their closest common ancestor is the content, provided it is not chrome
    and holds little besides them (``<body>`` itself, when posts with their own headings
    sit right under it), together with alike posts in wrappers of their own beside them
    (a pinned post); the story's lead photo or video above the run is moved into it
    (`_bring_lead_media`).
    Otherwise the largest match by text wins (the story, not the teasers next to it).
    """
    body = root.find("body")
    page = body if body is not None else root
    sizes = _TextSizes()
    total = max(sizes(page), 1)
    chrome_memo: dict[Element, bool] = {}
    chosen: Element | None = None
    match: Element | None = None  # the match the content was chosen around
    for xpath in _BODY_XPATHS:
        candidates = [
            element
            for element in _outermost(xpath(root))
            if _has_substance(element, sizes)
            and not _inside_chrome(element, total, sizes, chrome_memo)
        ]
        if not candidates:
            continue
        largest = max(candidates, key=sizes)
        if chosen is None:
            chosen = _update_run_root(largest, candidates, page, total, sizes, chrome_memo)
            match = largest
        elif sizes(largest) > DWARFED * sizes(chosen):
            # the first match was a teaser card (an <article> under "more on this") and
            # the story is elsewhere: a <main> of live-blog updates without <article>
            chosen = _update_run_root(largest, candidates, page, total, sizes, chrome_memo)
            match = largest
            break
    if chosen is None:
        return page
    if chosen is not match:
        _bring_lead_media(chosen)
    return chosen


class _TextSizes:
    """``text_length`` of elements, each computed once while the content root is picked
    (thousands of candidates share the same big ancestors)."""

    def __init__(self) -> None:
        self._sizes: dict[Element, int] = {}

    def __call__(self, element: Element) -> int:
        size = self._sizes.get(element)
        if size is None:
            size = self._sizes[element] = text_length(element)
        return size


def _outermost(elements: list[Element]) -> list[Element]:
    """Matches that are not inside another match (document order kept). Whether an element
    is inside a match is worked out once per element on the way up (2,000 nested
    ``<article>`` elements each walked all their ancestors)."""
    chosen = set(elements)
    inside: dict[Element, bool] = {}  # the element or an ancestor is a match
    return [
        element
        for element in elements
        if not _upward(element.getparent(), inside, lambda node: True if node in chosen else None)
    ]


def _upward(
    start: Element | None,
    memo: dict[Element, bool],
    verdict: Callable[[Element], bool | None],
    stop_tags: frozenset[str] = frozenset(),
) -> bool:
    """The first answer ``verdict`` gives (None: no answer) from ``start`` up to the root or a
    ``stop_tags`` element, else False; kept in ``memo`` for every element on the way, so
    each ancestor is judged once however many elements below it ask."""
    path: list[Element] = []
    node = start
    found = False
    while node is not None and tag_name(node) not in stop_tags:
        known = memo.get(node)
        if known is not None:
            found = known
            break
        path.append(node)
        answer = verdict(node)
        if answer is not None:
            found = answer
            break
        node = node.getparent()
    for visited in path:
        memo[visited] = found
    return found


def _update_run_root(
    largest: Element,
    candidates: list[Element],
    page: Element,
    total: int,
    sizes: _TextSizes,
    chrome_memo: dict[Element, bool],
) -> Element:
    """The common ancestor of ``largest`` and the candidates alike to it at the same depth
    under one ancestor (siblings, or cousins in identical wrappers up to three levels
    deep: ``<li><div><article>``); ``largest`` alone when
    there are none or the ancestor would take in more than the run itself. A largest match
    holding an ``h1`` is a story with teasers next to it, not one update among others.
    Posts in other wrappers under a near ancestor are taken in too (`_with_posts_beside`)."""
    if len(candidates) < 2 or next(largest.iter("h1"), None) is not None:
        return largest
    root = _alike_run_root(largest, candidates, page, total, sizes, chrome_memo)
    return _with_posts_beside(root, largest, candidates, page, total, sizes, chrome_memo)


def _alike_run_root(
    largest: Element,
    candidates: list[Element],
    page: Element,
    total: int,
    sizes: _TextSizes,
    chrome_memo: dict[Element, bool],
) -> Element:
    """The common ancestor of ``largest`` and the candidates alike to it in alike
    wrappers (`_update_run_root`), or ``largest`` alone."""
    for depth in _RUN_DEPTHS:
        ancestor = _ancestor(largest, depth)
        if ancestor is None or (ancestor is not page and tag_name(ancestor) in _PAGE_ROOTS):
            return largest
        run = [
            candidate
            for candidate in candidates
            if _ancestor(candidate, depth) is ancestor and _alike(candidate, largest)
        ]
        if len(run) < 2:
            continue
        if not _alike_wrappers(run, depth):
            continue
        if ancestor is page and not all(_has_own_header(post) for post in run):
            return largest  # unlabelled articles side by side: a note beside the story
        if _inside_chrome(ancestor, total, sizes, chrome_memo) or sum(
            sizes(candidate) for candidate in run
        ) * 2 < sizes(ancestor):
            return largest
        return ancestor
    return largest


def _with_posts_beside(
    root: Element,
    largest: Element,
    candidates: list[Element],
    page: Element,
    total: int,
    sizes: _TextSizes,
    chrome_memo: dict[Element, bool],
) -> Element:
    """The nearest ancestor of ``root`` (up to three levels above ``largest``) that also
    holds posts alike to it outside ``root``, in a wrapper of their own: a pinned post in
    its ``<div class="pinned-post">`` above the ``<div class="live-stream">``. Either
    part alone lost the other's media. Taken only when every post there has its own
    header, none is the story (an ``h1``), the posts beside look like the run's
    (`_stream_like`: a sidebar's stories do not), no box beside them holds media of
    its own (`_boxes_with_media`: "photo of the day"), and together they hold most of
    its text."""
    for depth in _RUN_DEPTHS:
        ancestor = _ancestor(largest, depth)
        if ancestor is None or (ancestor is not page and tag_name(ancestor) in _PAGE_ROOTS):
            return root
        if ancestor is root or not _is_above(ancestor, root):
            continue
        posts = _posts_below(ancestor, largest, candidates)
        if all(post is root or _is_above(root, post) for post in posts):
            continue  # nothing beside the run yet: look further up
        run = [post for post in posts if post is root or _contains(root, post)]
        beside = [post for post in posts if not (post is root or _contains(root, post))]
        if (
            not all(_has_own_header(post) for post in posts)
            or any(next(post.iter("h1"), None) is not None for post in posts)
            or not _stream_like(beside, run, sizes)
            or _boxes_with_media(ancestor, [root, *beside])
            or _inside_chrome(ancestor, total, sizes, chrome_memo)
            or sum(sizes(post) for post in posts) * 2 < sizes(ancestor)
        ):
            return root
        return ancestor
    return root


def _contains(ancestor: Element, element: Element) -> bool:
    """Whether ``element`` is below ``ancestor``."""
    return any(node is ancestor for node in element.iterancestors())


def _stream_like(beside: list[Element], run: list[Element], sizes: _TextSizes) -> bool:
    """Whether posts beside a run look like its posts, not a sidebar's stories: each
    has its own time (a ``<time>``, a heading opening with one) or at least half the
    text of the run's median post."""
    typical = statistics.median(sizes(post) for post in run) if run else 0
    return all(
        next(post.iter(*TIME_TAGS), None) is not None
        or any(
            opens_with_moment(heading.text_content().strip()) for heading in post.iter(*_HEADINGS)
        )
        or sizes(post) * 2 >= typical
        for post in beside
    )


def _boxes_with_media(ancestor: Element, parts: list[Element]) -> bool:
    """Whether ``ancestor`` holds media outside ``parts`` (the run and the posts beside
    it), chrome and the title block (an element holding the ``<h1>`` and none of them):
    a "photo of the day" box in a sidebar column beside the stream."""
    kept = set(parts)
    stack = [child for child in ancestor if isinstance(child.tag, str)]
    while stack:
        node = stack.pop()
        if node in kept or looks_like_chrome(node):
            continue
        if tag_name(node) in MEDIA_TAGS:
            return True
        if next(node.iter("h1"), None) is not None and not any(
            _contains(node, part) for part in parts
        ):
            continue  # the story's title block: its lead photo is the story's
        stack.extend(child for child in node if isinstance(child.tag, str))
    return False


def _posts_below(ancestor: Element, largest: Element, candidates: list[Element]) -> list[Element]:
    """The candidates alike to ``largest`` at most three levels below ``ancestor``."""
    return [
        candidate
        for candidate in candidates
        if _alike(candidate, largest)
        and any(_ancestor(candidate, depth) is ancestor for depth in _RUN_DEPTHS)
    ]


def _is_above(ancestor: Element, element: Element) -> bool:
    """Whether ``ancestor`` is one of the three elements above ``element``."""
    return any(_ancestor(element, depth) is ancestor for depth in _RUN_DEPTHS)


def _bring_lead_media(run_root: Element) -> None:
    """Move the story's lead photo or video above a run of posts (a ``<figure>`` or a
    ``<video>`` in the title block holding the ``<h1>``, or standing bare between it and
    the posts) to the start of the run's root: the content is one element, and the
    run's root holds only the posts. Looked for before the root, and before each
    ancestor up to the one holding the ``<h1>`` (none is moved when no ``<h1>`` is that
    near). A box beside them ("video of the day", a gallery rail) is not the story's,
    nor is a figure linking to another page; one that shows what a post shows is left
    to the post, which gives it its update."""
    if next(run_root.iter("h1"), None) is not None:
        return  # the title block is inside
    found: list[Element] = []
    node = run_root
    for _ in _RUN_DEPTHS:
        parent = node.getparent()
        if parent is None or tag_name(parent) in _PAGE_ROOTS:
            return
        before = list(node.itersiblings(preceding=True))[::-1]
        titled = [
            n for n, sibling in enumerate(before) if next(sibling.iter("h1"), None) is not None
        ]
        start = titled[-1] if titled else 0
        level = [
            media
            for n, sibling in enumerate(before[start:], start)
            for media in (_lead_media(sibling) if titled and n == start else _bare_lead(sibling))
        ]
        found[:0] = level
        if titled:
            _move_lead_media(found, run_root)
            return
        node = parent


def _bare_lead(element: Element) -> list[Element]:
    """A ``<figure>`` holding media, or a video, standing on its own (no box around it)."""
    if _is_lead_media(element):
        return [] if looks_like_chrome(element) or _byline_block(element) else [element]
    return []


def _is_lead_media(element: Element) -> bool:
    """A video, or a ``<figure>`` holding media: what a story's lead can be."""
    tag = tag_name(element)
    return tag in _LEAD_VIDEOS or (
        tag == "figure" and next(element.iter(*MEDIA_TAGS), None) is not None
    )


def _move_lead_media(found: list[Element], run_root: Element) -> None:
    """Put the lead media first in the run's root: any video, and the first photo that
    is no headshot or thumbnail (`_small_or_avatar`); never a figure linking to another
    page, nor one whose source a post there shows too."""
    page = _PageAddress(run_root)
    shown = _sources(run_root)
    position = 0
    photo_taken = False
    for media in found:
        video = _is_lead_video(media)
        if (
            (not video and (photo_taken or _small_or_avatar(media)))
            or _sources(media) & shown
            or any(_leads_elsewhere(a, page) for a in media.iter("a"))
        ):
            continue
        photo_taken = photo_taken or not video
        _drop(media)
        run_root.insert(position, media)
        position += 1


def _is_lead_video(media: Element) -> bool:
    """A video or a figure holding one (a player's frame too), not a photo."""
    return any(
        tag_name(node) in _LEAD_VIDEOS or tag_name(node) == "iframe" for node in media.iter()
    )


def _small_or_avatar(media: Element) -> bool:
    """Whether a figure's picture is an avatar (`is_avatar_url`) or declared small: both
    sides at most 300 px, or either at most 150 (an author's headshot, a thumbnail)."""
    still = next(media.iter("img", "amp-img"), None)
    if still is None:
        return False
    if any(
        is_avatar_url((still.get(name) or "").strip())
        for name in ("src", "data-src", "data-lazy-src")
    ):
        return True
    sides = [side for side in declared_size(still) if side is not None]
    if not sides:
        return False
    both = len(sides) == 2 and max(sides) <= _LEAD_SMALL_SIDES
    return both or min(sides) <= _LEAD_SMALL_SIDE


def _byline_block(element: Element) -> bool:
    """A box of the story's byline or metadata (``article-meta``, ``byline``,
    ``author-box``), where a figure is the author's headshot."""
    class_value = element.get("class") or ""
    words = _name_words(class_value, _styled(class_value)) + _name_words(element.get("id") or "")
    return not _BYLINE_WORDS.isdisjoint(words)


def _sources(element: Element) -> set[str]:
    """The addresses of the pictures and videos in an element, as written."""
    return {
        value.strip()
        for node in element.iter(*MEDIA_TAGS, "source")
        for name in ("src", "data-src", "data-lazy-src")
        if (value := node.get(name)) and not value.startswith("data:")
    }


def _lead_media(element: Element) -> list[Element]:
    """The outermost ``<figure>``s holding media and the videos in an element, outside
    chrome (a title block's ``<header>`` is none), a byline or metadata box
    (`_byline_block`) and other posts or cards."""
    found = []
    stack = [element]
    while stack:
        node = stack.pop()
        tag = tag_name(node)
        if (
            tag is None
            or tag == "article"
            or (looks_like_chrome(node) and not _title_block(node))
            or _byline_block(node)
        ):
            continue
        if _is_lead_media(node):
            found.append(node)
            continue
        stack.extend(reversed(node))
    return found


def _title_block(element: Element) -> bool:
    """A ``<header>`` holding the page's ``<h1>`` and no class of chrome: the story's
    title block, where its lead photo is."""
    return (
        tag_name(element) == "header"
        and not _chrome_besides_tag(element)
        and next(element.iter("h1"), None) is not None
    )


def _ancestor(element: Element, depth: int) -> Element | None:
    """The ancestor ``depth`` levels up, or None."""
    node = element
    for _ in range(depth):
        node = node.getparent()
        if node is None:
            return None
    return node


def _alike(element: Element, other: Element) -> bool:
    """Same kind of element: the same tag and ``itemprop``, and a class in common or
    neither a class."""
    if tag_name(element) != tag_name(other):
        return False
    if (element.get("itemprop") or "").split() != (other.get("itemprop") or "").split():
        return False
    classes = set((element.get("class") or "").split())
    other_classes = set((other.get("class") or "").split())
    if classes or other_classes:
        return bool(classes & other_classes)
    return True  # neither has a class: class-less <article> posts (BBC live pages)


def _alike_wrappers(run: list[Element], depth: int) -> bool:
    """Whether the wrappers between a run of cousins and their common ancestor
    (``depth`` levels up) are the same kind of element, level by level (``_alike``: a
    state class such as ``item--pinned`` on one post's wrapper does not set it apart)."""
    for level in range(1, depth):
        wrappers = [_ancestor(element, level) for element in run]
        first = wrappers[0]
        if first is None or not all(
            wrapper is not None and _alike(wrapper, first) for wrapper in wrappers[1:]
        ):
            return False
    return True


def _has_own_header(post: Element) -> bool:
    """Whether a post carries its own title or time, as each update of a live blog does."""
    return next(post.iter(*_POST_HEADERS), None) is not None


def is_update_block(element: Element) -> bool:
    """A live-blog post of its own: an ``<article>`` (the Guardian's blocks, class-less
    posts) other than one wrapping a single media item (Drupal's ``<article
    class="media">``), an entry of WordPress's Liveblog plugin, a post of a Telegram
    channel's page, or a microdata ``liveBlogUpdate``."""
    classes = element.get("class")
    if tag_name(element) == "article":
        return not classes or "media" not in classes.split()
    if classes and "liveblog-entry" in classes and "liveblog-entry" in classes.split():
        return True
    if _is_telegram_post(element):
        return True  # a post of a Telegram channel's page (t.me/s/…)
    if _is_numbered_post(element):
        return _numbered_post_beside(element)
    itemprop = element.get("itemprop")
    return bool(itemprop) and "liveBlogUpdate" in itemprop.split()


def _is_numbered_post(element: Element) -> bool:
    """An element drawn as a live post without ``<article>``: a class naming a post
    (``live-post``, ``lb-entry``, ``live-update``), the post's number in its id
    (``id="post-102"``; a ``data-post-id`` alone is a like or save button's), and some
    text or a heading. Only one beside another such (`_numbered_post_beside`: a
    sibling, or a cousin, one post per ``<li>``) is a post of its own
    (`is_update_block`): a single story's ``<div id="post-12" class="post">`` is not;
    nor is one inside an ``<article>`` or another update."""
    if not _numbered_shape(element):
        return False
    if next(element.iter(*_HEADINGS), None) is None and not any(
        text.strip() for text in element.itertext()
    ):
        return False
    return not any(_opens_update(ancestor) for ancestor in element.iterancestors())


def _numbered_post_beside(element: Element) -> bool:
    """Whether another numbered post of the same tag is next to this one: a sibling, or
    a cousin in the wrapper beside its own, the wrappers alike level by level up to three
    levels (`_alike_wrappers`, as `find_content_root` reads a run of cousins), among
    the first PROBE_ELEMENTS elements of its level there. One post per ``<li>`` was no
    post of its own, and one without a recognised label took the label of the post
    before. Cousins must both be drawn as live posts (`_live_post`): a list of related
    stories, each ``<li><div class="post" id="post-N">``, relabelled what followed it."""
    for depth in _RUN_DEPTHS:
        wrapper = _ancestor(element, depth - 1)
        if wrapper is None or (depth > 1 and not _live_post(element)):
            return False
        for step in (-1, 1):
            level = [] if (beside := _element_sibling(wrapper, step)) is None else [beside]
            for _ in range(depth - 1):
                below = (child for node in level for child in node if isinstance(child.tag, str))
                level = list(itertools.islice(below, PROBE_ELEMENTS))
            if any(
                tag_name(other) == tag_name(element)
                and _is_numbered_post(other)
                and _alike_wrappers([element, other], depth)
                and (depth == 1 or _live_post(other))
                for other in level
            ):
                return True
    return False


def _live_post(post: Element) -> bool:
    """Whether a numbered post is drawn as a live-blog post: a class naming one
    (``live-post``, ``liveblog-entry``, ``lb-entry``), or a moment of its own (a
    ``<time>``, a text that is only a label, a heading opening with a time)."""
    words = _name_words(post.get("class") or "")
    if "lb" in words or any(word.startswith("live") for word in words):
        return True
    if next(post.iter(*TIME_TAGS), None) is not None or label_of_header(post) is not None:
        return True
    heading = next(post.iter(*_HEADINGS), None)
    return heading is not None and opens_with_moment(heading.text_content().strip())


def _numbered_shape(element: Element) -> bool:
    """An id of the ``post-102`` form and a class naming a post (`_is_numbered_post`)."""
    return bool(_POST_ID.fullmatch(element.get("id") or "")) and any(
        words[-1] in _POST_WORDS
        for token in (element.get("class") or "").split()
        if (words := _name_words(token))
    )


def _opens_update(element: Element) -> bool:
    """An ``<article>``, or an update block (`is_update_block`) told without looking
    at its neighbours or ancestors: a numbered post's shape is enough."""
    if tag_name(element) == "article" or _numbered_shape(element):
        return True
    classes = (element.get("class") or "").split()
    itemprop = (element.get("itemprop") or "").split()
    return "liveblog-entry" in classes or _is_telegram_post(element) or "liveBlogUpdate" in itemprop


def _element_sibling(element: Element, step: int) -> Element | None:
    """The element right before (``step`` -1) or after (1) this one, comments skipped."""
    sibling = element.getprevious() if step < 0 else element.getnext()
    while sibling is not None and not isinstance(sibling.tag, str):
        sibling = sibling.getprevious() if step < 0 else sibling.getnext()
    return sibling


def is_update_aside(element: Element) -> bool:
    """An update's ``<aside>`` that holds its time: its header (WordPress's Liveblog
    plugin in AMP pages puts "2 hours ago 14:32" there), not a sidebar."""
    parent = element.getparent()
    return (
        tag_name(element) == "aside"
        and parent is not None
        and is_update_block(parent)
        and label_of_header(element) is not None
    )


def _is_telegram_post(element: Element) -> bool:
    classes = (element.get("class") or "").split()
    return bool(element.get("data-post")) and "tgme_widget_message" in classes


def post_times(content: Element) -> dict[Element, str]:
    """Each post of a Telegram channel's page with the moment it was posted, its
    update label ("2024-03-12 07:32 UTC"): it sits in the post's footer, after its
    media, and the footer is chrome. Read before the chrome is stripped."""
    labels: dict[Element, str] = {}
    for post in content.iter("div"):
        if not _is_telegram_post(post):
            continue
        moments = (iso_moment(time.get("datetime")) for time in post.iter("time"))
        moment = next((m for m in moments if m is not None), None)  # not a clip's length
        if moment is not None:
            labels[post] = f"{moment:%Y-%m-%d %H:%M} UTC"
    return labels


def _has_substance(element: Element, sizes: _TextSizes) -> bool:
    """Whether a candidate holds any text or media (empty placeholders do not count), and
    is not a card leading to another story (`is_teaser_card`)."""
    if is_teaser_card(element, sizes(element)):
        return False
    if sizes(element) > 0:
        return True
    return any(True for _ in element.iter(*MEDIA_TAGS))


def is_teaser_card(element: Element, size: int | None = None) -> bool:
    """An ``<article>`` that only leads to another story (a "more news" card, Elementor's
    posts widget): little text (``size``, its `text_length`), no player or post of its own
    (`_own_embed`: a Telegram widget, a Facebook post, a link to a tweet count), and
    either its pictures all inside links to other pages, or no picture and its headline
    such a link. An update whose photo is its own is not one, whatever links its heading
    holds; nor is one with its own time under a headline of its own (a post whose photo
    links to where it came from). A link to a platform post around a still alone is
    not the card's own when its headline leads to another page (a video card's
    thumbnail linking to YouTube, its headline to the site's video page)."""
    if tag_name(element) != "article":
        return False
    if (text_length(element) if size is None else size) > TEASER_TEXT:
        return False
    page = _PageAddress(element)
    headline_links = [link for link in element.iter("a") if _in_heading(link, element)]
    headline_elsewhere = any(_leads_elsewhere(link, page) for link in headline_links)
    stills = []
    for node in element.iter():
        if _own_embed(node) and not (headline_elsewhere and _wraps_only_still(node)):
            return False  # a player, a video, a post: the card holds media of its own
        if tag_name(node) in _STILL_TAGS:
            stills.append(node)
    if stills:
        if _is_dated_update(element, headline_links, stills, page):
            return False
        return all(_in_link_elsewhere(still, element, page) for still in stills)
    return headline_elsewhere


def _wraps_only_still(node: Element) -> bool:
    """A link (to a platform post) around a still and no text: a video card's thumbnail
    linking to the video on YouTube, while its headline leads to the site's own page."""
    return (
        tag_name(node) == "a"
        and next(node.iter(*_STILL_TAGS), None) is not None
        and text_length(node) == 0
        and not any(_own_embed(inner) for inner in node.iterdescendants())
    )


def _own_embed(node: Element) -> bool:
    """Whether an element is media the content walker records as an embed, other than a
    still: a player or a post (`MEDIA_TAGS`), Telegram's widget (its script included),
    Facebook's ``fb-video``/``fb-post``, a link to a platform post."""
    tag = tag_name(node)
    if tag is None:
        return False
    if tag in MEDIA_TAGS:
        return tag not in _STILL_TAGS
    if node.get("data-telegram-post"):
        return True
    if tag == "div":
        return bool(_EMBED_CLASSES.intersection((node.get("class") or "").split()))
    if tag == "a":
        href = (node.get("href") or "").strip()
        return href.startswith(("https://", "http://", "//")) and (
            platform_post(href if not href.startswith("//") else "https:" + href) is not None
        )
    return False


def _is_dated_update(
    element: Element, headline_links: list[Element], stills: list[Element], page: _PageAddress
) -> bool:
    """Whether an article is a post of its own: its own time, a headline that leads
    nowhere else (a card's headline is the link to its story), and its photos linked,
    if at all, to another site, where they came from (a card's thumbnail links to the
    site's own story, "3 hours ago" beside it)."""
    if next(element.iter(*TIME_TAGS), None) is None:
        return False
    if next(element.iter(*_HEADINGS), None) is None:
        return False
    if any(_leads_elsewhere(link, page) for link in headline_links):
        return False
    links = (_enclosing_link(still, element) for still in stills)
    return all(link is None or page.other_site(link.get("href") or "") for link in links)


def _enclosing_link(node: Element, card: Element) -> Element | None:
    """The link ``node`` sits in, below ``card``; None when it is in none."""
    for ancestor in node.iterancestors():
        if ancestor is card:
            return None
        if tag_name(ancestor) == "a":
            return ancestor
    return None


def _in_link_elsewhere(node: Element, card: Element, page: _PageAddress) -> bool:
    """Whether ``node`` sits in a link to another page, below ``card``."""
    link = _enclosing_link(node, card)
    return link is not None and _leads_elsewhere(link, page)


def _in_heading(link: Element, card: Element) -> bool:
    """Whether a link holds or sits in a heading, below ``card``."""
    if next((e for e in link.iterdescendants() if tag_name(e) in _HEADINGS), None) is not None:
        return True
    for ancestor in link.iterancestors():
        if ancestor is card:
            return False
        if tag_name(ancestor) in _HEADINGS:
            return True
    return False


class _PageAddress:
    """The address of the page an element is in, as the page declares it (``<link
    rel="canonical">``, ``og:url``): a link there with a post's key in its query,
    ``?post=12``, is a post's permalink within the page, but one with another query,
    ``news.php?id=200``, another page. Looked up once, when asked."""

    def __init__(self, element: Element) -> None:
        self._element = element
        self._address: tuple[str, str, str] | None = None
        self._looked = False

    def _declared(self) -> tuple[str, str, str] | None:
        if not self._looked:
            self._looked = True
            self._address = _declared_address(self._element)
        return self._address

    def same_page(self, href: str) -> bool:
        """Whether ``href`` names this page (with a fragment, or a query that differs from
        the page's own only by a post's key). A relative query is this path: with no
        declared address, the same page when its keys are all a post's."""
        address = self._declared()
        if address is None:
            return href.startswith("?") and not _query_apart_from_posts(href[1:])
        host, path, query = address
        base = f"https://{host}{path}" + (f"?{query}" if query else "")
        try:
            target = urlsplit(urljoin(base, href))
            target_host = (target.hostname or "").lower()
        except ValueError:  # a broken host ("http://[::1")
            return False
        return (
            target_host.removeprefix("www.") == host.removeprefix("www.")
            and (target.path or "/") == path
            and _query_apart_from_posts(target.query) == _query_apart_from_posts(query)
        )

    def other_site(self, href: str) -> bool:
        """Whether ``href`` is an absolute address on another site than the page's (as
        it declares it: ``www.`` and subdomains are the same site); a relative one is the
        site's own. When the page declares no address, any absolute one may be another
        site's: a photo linked to its source is evidence, a thumbnail kept in its place
        only chrome."""
        href = href.strip()
        if not href.startswith(("https://", "http://", "//")):
            return False
        address = self._declared()
        if address is None:
            return True
        try:
            host = urlsplit(href if not href.startswith("//") else "https:" + href).hostname
        except ValueError:
            return False
        return not _same_site((host or "").lower(), address[0])


def _same_site(host: str, other: str) -> bool:
    """Whether two hosts are one site: equal but for ``www.``, or one a subdomain of
    the other (``video.site.ua`` and ``site.ua``)."""
    host, other = host.removeprefix("www."), other.removeprefix("www.")
    return bool(host) and (
        host == other or host.endswith("." + other) or other.endswith("." + host)
    )


def _is_post_key(key: str) -> bool:
    """A query key naming a post within a live page (``post``, ``update_id``,
    ``liveblog_entry``, ``lb_post``)."""
    key = key.lower()
    return key in _POST_KEYS or key.startswith(("liveblog", "lb_"))


def _query_apart_from_posts(query: str) -> list[tuple[str, str]]:
    """A query's keys and values, sorted, but those naming a post within the page."""
    return sorted(
        (key, value)
        for key, value in parse_qsl(query, keep_blank_values=True)
        if not _is_post_key(key)
    )


def _declared_address(element: Element) -> tuple[str, str, str] | None:
    """(host, path, query) of the canonical link or ``og:url`` in the page's ``<head>``."""
    head = element.getroottree().getroot().find("head")
    for node in () if head is None else head:
        tag = tag_name(node)
        if tag == "link" and "canonical" in (node.get("rel") or "").lower().split():
            address = node.get("href")
        elif tag == "meta" and (node.get("property") or "").strip() == "og:url":
            address = node.get("content")
        else:
            continue
        try:
            parts = urlsplit((address or "").strip())
            host = parts.hostname
        except ValueError:
            continue
        if parts.scheme in ("http", "https") and host:
            return host.lower(), parts.path or "/", parts.query
    return None


def _leads_elsewhere(link: Element, page: _PageAddress) -> bool:
    """A link to another page: not a permalink within this one (``#post-12``,
    ``?post=12``), not a file."""
    href = (link.get("href") or "").strip()
    return (
        bool(href)
        and "#" not in href
        and media_type_of_url(href) is None
        and not page.same_page(href)
    )


def _inside_chrome(
    element: Element, total: int, sizes: _TextSizes, memo: dict[Element, bool]
) -> bool:
    """Whether the element or an ancestor is chrome (an ``article`` teaser in a sidebar);
    wrappers holding most of the page's text are layout, not chrome. Above a wrapper that
    holds most of the text every ancestor does too, so the walk stops there (2,000 nested
    wrappers named like chrome each measured the text of the whole page)."""

    def verdict(node: Element) -> bool | None:
        return sizes(node) * 2 < total if looks_like_chrome(node) else None

    return _upward(element, memo, verdict, _PAGE_ROOTS)


def looks_like_chrome(element: Element) -> bool:
    """Chrome by tag, ARIA role or class/id words, ignoring how much text it holds."""
    tag = tag_name(element)
    if tag is None:
        return False
    if tag in _CHROME_TAGS:
        return True
    return _chrome_besides_tag(element)


@lru_cache(maxsize=4096)
def _chrome_names(class_value: str, id_value: str) -> bool:
    """Whether any class token or the id names chrome (cached: classes repeat a lot)."""
    styled = _styled(class_value)
    return any(_chrome_token(token, styled) for token in class_value.split()) or any(
        _chrome_token(token) for token in id_value.split()
    )


def _chrome_token(token: str, styled: bool = False) -> bool:
    """Whether one class token / id names chrome, by whole words, word pairs or prefixes;
    ``styled``: whether the element has a styled-components class (`_name_words`)."""
    if token.lower() in _CHROME_TOKENS:
        return True
    words = _name_words(token, styled)
    if not words or words[0] in _STATE_WORDS or _EMBED_WORDS.intersection(words):
        return False
    pairs = set(itertools.pairwise(words))
    triples = set(zip(words, words[1:], words[2:], strict=False))
    if _CHROME_PAIRS.intersection(pairs | triples):
        return True
    chrome_words = {
        word
        for word in words
        if word in _CHROME_WORDS
        or (word.startswith(_CHROME_PREFIXES) and word not in _NOT_CHROME_WORDS)
    }
    if _social_post_box(token.lower(), words):
        chrome_words = {word for word in chrome_words if not word.startswith("social")}
    if chrome_words <= _SOFT_CHROME_WORDS and _MEDIA_WORDS.intersection(words):
        return False
    return bool(chrome_words)


def _social_post_box(token: str, words: list[str]) -> bool:
    """Whether a lower-cased name holding "social" calls it a box of posts, where
    "social" is no chrome word (`_SOCIAL_POST_WORDS`): the post inside was dropped with
    it. Its other chrome words still count."""
    return (
        token in _SOCIAL_POST_TOKENS
        or token.startswith(_DRUPAL_PARAGRAPH)
        or not _SOCIAL_POST_WORDS.isdisjoint(words)
    )


def _name_words(names: str, styled: bool = False) -> list[str]:
    """The words of class tokens or an id, lower-cased: split at separators and at
    camelCase's capitals (``adSlot300x250``: "ad", "slot300x250"). A generated hash has
    no words: split at its capitals it held "ad" or "dfp", and every embed of a
    component went as an ad. One is CSS Modules' last part (`_hashless`); on an element
    with a styled-components class (``styled``), the ``sc-`` class and the others that
    are a single run of 5 to 8 letters (``sc-kDvujY iAdHGt``)."""
    return [
        word.lower()
        for token in names.split()
        if not (styled and (token.startswith("sc-") or _STYLED_HASH.fullmatch(token)))
        for word in _WORD_SPLIT.split(_hashless(token))
        if word
    ]


def _hashless(token: str) -> str:
    """A class name without its CSS Modules hash: the part after its last "__" that is
    5 characters or more and holds a capital or a digit (``LiveBlogPost_body__mT0Ad``,
    ``__Ad_9k``: base64, whose "/" and "+" Next.js writes as "_"), or in Next.js's
    ``File_local__hash`` form is 5 characters holding an "_" (``Post_body__k_dfp``). A
    BEM element is words, kept (``post__share``)."""
    last = _LAST_PART.search(token)
    if last is None:
        return token
    part, head = last[1], token[: last.start()]
    if len(part) >= 5 and (
        _HASH_MARK.search(part) or (len(part) == 5 and "_" in part and "_" in head)
    ):
        return head
    return token


def _styled(class_value: str) -> bool:
    """Whether a class attribute has a styled-components class (``sc-kDvujY``)."""
    return any(token.startswith("sc-") for token in class_value.split())


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
    """Outermost chrome elements under ``content`` (their insides are not visited).

    Measuring a suspect reads all its text, so inside MAX_NESTED_WRAPPERS nested wrappers
    named like chrome (each holding most of the text) nothing more is measured: the rest
    is kept as content (2,000 nested ones measured the whole page 2,000 times).
    """
    found: list[Element] = []
    in_article = tag_name(content) == "article"
    stack = [(child, in_article, 0) for child in content if isinstance(child.tag, str)]
    while stack:
        element, in_article, wrappers = stack.pop()
        tag = tag_name(element)
        if wrappers >= MAX_NESTED_WRAPPERS:
            suspect = False
        elif tag == "aside" and is_update_aside(element):
            suspect = False  # the update's time
        elif tag == "header" and in_article and _is_update_header(element):
            suspect = _chrome_besides_tag(element)
            if not suspect:
                found += _header_portraits(element)
        else:
            suspect = tag == "form" or looks_like_chrome(element) or _in_card_list(element)
        if suspect and text_length(element) * 2 < total:
            if tag == "header" and in_article and not _chrome_besides_tag(element):
                # the article's title block: its byline and share buttons go, its lead
                # photo (a figure, as Ghost and the Guardian put it there) is the story's
                children = [child for child in element if isinstance(child.tag, str)]
                for child in children:
                    if next(child.iter("figure"), None) is None:
                        found.append(child)
                    else:
                        stack.append((child, in_article, wrappers))
            else:
                found.append(element)
        else:
            inside = in_article or tag == "article"
            below = wrappers + suspect
            stack.extend((child, inside, below) for child in element if isinstance(child.tag, str))
    return found


def _header_portraits(header: Element) -> list[Element]:
    """The pictures in an update's own header outside a ``<figure>``: its author's
    portrait beside the time (the Guardian's, with no class to tell it by)."""
    found = []
    for still in header.iter(*_STILL_TAGS):
        inside = itertools.takewhile(lambda node: node is not header, still.iterancestors())
        if not any(tag_name(node) in ("figure", "picture") for node in inside):
            found.append(still)
    return found


def _in_card_list(element: Element) -> bool:
    """A teaser card (`is_teaser_card`) beside another one: a list of other stories. One
    card alone may be an update of its own that links out."""
    if not is_teaser_card(element):
        return False
    parent = element.getparent()
    siblings = () if parent is None else parent.iterchildren("article")
    return any(other is not element and is_teaser_card(other) for other in siblings)


def _is_update_header(header: Element) -> bool:
    """Whether a ``<header>`` inside an article is an update's own header (its time and
    title: the update label), not the page title block with byline and share buttons."""
    return next(header.iter("h1"), None) is None


def _chrome_besides_tag(element: Element) -> bool:
    """Chrome by ARIA role or class/id words alone (a tag that is not chrome by itself)."""
    role = (element.get("role") or "").strip().lower()
    if role in _CHROME_ROLES:
        return True
    return _chrome_names(element.get("class") or "", element.get("id") or "")
