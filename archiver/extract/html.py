"""Find every piece of media embedded in an article, with the update it appeared under.

The page is parsed, narrowed to the article body, stripped of chrome, then read once in
document order like a person would: tracking the current live-blog update and the text read
so far, so that each video, photo or post is recorded with the label and the words that
introduced it.
"""

from __future__ import annotations

import base64
import html
import itertools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import ClassVar
from urllib.parse import parse_qsl, quote, urlsplit

from archiver.extract.collect import (
    EmbedList,
    declared_embed,
    file_embed,
    image_embed,
    link_embed,
)
from archiver.extract.content import (
    TEASER_TEXT,
    find_content_root,
    is_teaser_card,
    is_update_aside,
    is_update_block,
    post_times,
    strip_chrome,
)
from archiver.extract.context import (
    MAX_CONTEXT,
    PARAGRAPH,
    TIME_TAGS,
    Captions,
    TextTrail,
    is_caption,
    is_credit,
    is_heading,
    is_screen_reader_only,
    label_at_start,
    label_of_header,
    label_of_heading,
    label_of_time,
    opens_with_moment,
    sentence_context,
)
from archiver.extract.document import (
    BLOCK_TAGS,
    MEDIA_TAGS,
    PROBE_ELEMENTS,
    SHORT_TEXT_ELEMENTS,
    Element,
    attr,
    collapse,
    fragment_elements,
    is_shadow_root,
    large_document_turn,
    leading_text,
    page_base,
    parse_document,
    tag_name,
    text_of,
)
from archiver.extract.media import (
    DONATION_HINTS,
    asks_for_donations,
    background_url,
    best_source,
    brightcove_player,
    declared_size,
    delayed_image_url,
    frame_url,
    image_url,
    is_placeholder,
    is_preview_stand_in,
    is_tiny,
    is_unwanted_image,
    picture_url,
    refused_address,
    shows_background,
)
from archiver.extract.model import (
    MAX_UNUSABLE_URL,
    ExtractError,
    FoundEmbed,
    MediaType,
    PageExtraction,
    UnusableEmbed,
)
from archiver.extract.pagination import older_page_links
from archiver.extract.structured import (
    MAX_METADATA_VALUE,
    first_meta,
    json_ld_documents,
    json_ld_media,
    live_blog_media,
    meta_values,
    open_graph_media,
)
from archiver.extract.urls import (
    bluesky_uri_url,
    is_tracker_url,
    media_type_of_url,
    normalize_url,
    platform_of,
    platform_post,
    refusal,
    resolve_url,
)
from archiver.jsontext import json_or_none

# Elements read as video or audio by their own handlers (Brightcove's among them)
_MEDIA_ELEMENTS = frozenset({"video", "video-js", "audio", "amp-video", "amp-brightcove"})
# Elements whose content is neither text to read nor media (inline SVG icons, form widgets;
# templates but declarative shadow roots, `is_shadow_root`).
_SILENT_TAGS = frozenset(
    {"style", "template", "svg", "math", "select", "textarea", "button", "canvas", "head",
     "title", "map", "link", "meta"}
)  # fmt: skip
# What a <noscript> fallback may hold: media, or a post's blockquote (its embed script's
# stand-in when scripts are off).
_NOSCRIPT_MEDIA = frozenset({"picture", "img", "iframe", "video", "audio", "blockquote"})
_READ_WHOLE = frozenset({"picture", "video", "audio", "blockquote"})
_FLASH_FILE_KEYS = ("file", "src", "video", "url", "videourl", "stream", "mp4")
_FLASH_PARAMS = ("movie", "src", "url", "filename")
_LABEL_PROBE = 160
# JW Player's cloud-hosted embed: a script that draws the player where it stands.
_JW_PLAYER_SCRIPT = re.compile(
    r"(?:https?:)?//(?:content\.jwplatform|cdn\.jwplayer)\.com/players/([A-Za-z0-9]{8})"
    r"(?:-[A-Za-z0-9]{8})?\.js(?:[?#]|$)"
)
# AMP's platform elements: the post each names, from its attributes.
_AMP_POSTS: dict[str, Callable[[Element], str | None]] = {
    "amp-youtube": lambda e: _url("https://www.youtube.com/watch?v={}", attr(e, "data-videoid")),
    "amp-vimeo": lambda e: _url("https://vimeo.com/{}", attr(e, "data-videoid")),
    "amp-dailymotion": lambda e: _url(
        "https://www.dailymotion.com/video/{}", attr(e, "data-videoid")
    ),
    "amp-twitter": lambda e: _url("https://twitter.com/i/status/{}", attr(e, "data-tweetid")),
    "amp-instagram": lambda e: _url("https://www.instagram.com/p/{}/", attr(e, "data-shortcode")),
    "amp-tiktok": lambda e: (
        src
        if (src := attr(e, "data-src")) and "/" in src
        else _url("https://www.tiktok.com/embed/v2/{}", src)
    ),
    "amp-facebook": lambda e: attr(e, "data-href"),
    "amp-reddit": lambda e: attr(e, "data-src"),
    "amp-jwplayer": lambda e: _url(
        "https://cdn.jwplayer.com/v2/media/{}", attr(e, "data-media-id")
    ),
}
_YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_SUBSTACK_UPLOAD = re.compile(r"[0-9A-Za-z-]{1,64}")
# The video a click-to-load player element names, by its tag.
_LITE_PLAYERS = {
    "lite-youtube": "https://www.youtube.com/watch?v={}",
    "lite-vimeo": "https://vimeo.com/{}",
}
# Divs that speed plugins and themes put in a YouTube player's place, drawing it on a
# click: WP Rocket's ``rll-youtube-player``, Perfmatters' ``perfmatters-lazy-youtube``,
# WP YouTube Lyte's ``lyMe``, themes' ``youtube-player`` (class names lower-cased).
_YOUTUBE_FACADE = re.compile(
    r"(?:[a-z0-9]+-)*youtube-(?:player|facade|lazy(?:-load)?)|(?:[a-z0-9]+-)*lazy-youtube"
    r"|lyte|lyme"
)
_FACADE_ID_ATTRIBUTES = ("data-id", "data-embed", "data-videoid", "data-video-id")
# Elementor's video widget: the settings naming its video, when its type is not given.
_ELEMENTOR_VIDEO_KEYS = ("youtube_url", "vimeo_url", "dailymotion_url", "hosted_url")
MAX_WIDGET_SETTINGS = 64 * 1024  # characters of a widget's data-settings JSON read
_MAX_EMBED_TEXT = 1000
MAX_TITLE = 1000  # a page or feed entry title longer than this is not a title
MAX_SRCDOC_DEPTH = 1  # an inline frame document (srcdoc) is read; one inside it is not
# What an address-less frame's text holds when it is the frame's document, not the
# fallback shown where frames are off (`_embed_snippet`): a platform's embed snippet.
_SNIPPET_CLASSES = frozenset(
    {"twitter-tweet", "twitter-video", "instagram-media", "tiktok-embed", "fb-post", "fb-video"}
)
MAX_HELD_BACK = 256 * 1024  # characters of a consent plugin's script read for its embed
# Embed Privacy: ``var _oembed_ID = '{"embed":"&lt;blockquote …"}';``
_OEMBED_START = re.compile(r"var\s{1,8}_oembed_\w{1,64}\s{0,8}=\s{0,8}'\{")
_PAGE_MEDIA_TYPES = frozenset({"VideoObject", "AudioObject"})

Handler = Callable[[Element], "bool | None"]


def extract_embeds(html: bytes | str, base_url: str, charset: str | None = None) -> PageExtraction:
    """All media embedded in the article content of a page, in document order; bytes
    are read in ``charset`` when the server named one (see `parse_document`).

    Media declared only in page metadata (``og:video``, JSON-LD ``VideoObject``) comes after
    the content's embeds; when it names media already found there, it only adds metadata.
    Raises ExtractError when the input is not an HTML document.
    """
    with large_document_turn(html):
        return _extract_embeds(parse_document(html, charset), base_url)


def _extract_embeds(root: Element, base_url: str, depth: int = 0) -> PageExtraction:
    base = page_base(root, base_url)
    metas = meta_values(root)
    title = _title(root, metas)
    older_pages = older_page_links(root, base)  # before the page's navigation is stripped
    content = find_content_root(root)
    posted = post_times(content)
    strip_chrome(content)
    walker = _ContentWalker(content, base, depth, posted)
    walker.run()
    og_title = first_meta(metas, "og:title")
    extra = {"og:title": collapse(og_title)[:MAX_METADATA_VALUE]} if og_title else {}
    # a live blog's updates first: their media keep the update they were posted in
    json_ld = json_ld_documents(root)
    declared = live_blog_media(json_ld) + open_graph_media(metas, "video")
    declared += json_ld_media(json_ld, _PAGE_MEDIA_TYPES)
    for item in declared:
        found = declared_embed(item, base, allow_player=True, extra=extra)
        if found is not None:
            walker.embeds.add(found)
    return PageExtraction(
        title=title,
        embeds=walker.embeds.items(),
        older_pages=older_pages,
        unusable=list(walker.unusable.values()),
    )


def _title(root: Element, metas: list[tuple[str, str]]) -> str | None:
    """Page title: ``og:title`` (no site-name suffix), else ``<title>``, else the first h1;
    at most MAX_TITLE characters."""
    og_title = first_meta(metas, "og:title")
    if og_title and collapse(og_title):
        return collapse(og_title)[:MAX_TITLE]
    for path in ("head/title", ".//title", ".//h1"):
        node = root.find(path)
        text = text_of(node, SHORT_TEXT_ELEMENTS) if node is not None else ""
        if text:
            return text[:MAX_TITLE]
    return None


@dataclass(frozen=True)
class _Pending:
    """An inline link whose context is the rest of its sentence, known at its block's end."""

    index: int
    mark: int
    block: Element
    link_text: str
    list_mark: int | None = None  # where the list began, for a link that is a list item


@dataclass(frozen=True)
class _Facade:
    """A click-to-play YouTube facade open: its video, title, and how many embeds the
    page had when it opened."""

    url: str
    title: str | None
    found: int


#: Elements that show a picture.
_STILLS = frozenset({"img", "picture", "amp-img", "amp-anim"})
#: Elements whose image a handler of their own reads (their style is not looked at).
_HANDLERS_OF_IMAGES = frozenset({"img", "picture", "video", "amp-img", "amp-anim", "iframe"})
#: Elements whose whole text may be a post's address standing in for its embed.
_BARE_URL_BLOCKS = frozenset({"p", "div"})


class _ContentWalker:
    """Reads the content in document order, recording embeds with label and context."""

    # The handler of each tag, by method name: bound methods kept on the walker would
    # be a reference cycle holding the page's whole tree (a gigabyte for some 20 MB
    # pages) until the garbage collector happens to run.
    _HANDLERS: ClassVar[Mapping[str, str]] = {
        "iframe": "_frame",
        "frame": "_frame",
        "embed": "_embed_element",
        "object": "_object",
        "video": "_video",
        "video-js": "_video",  # Brightcove's player element
        "audio": "_audio",
        "picture": "_picture",
        "img": "_img",
        "noscript": "_noscript",
        "a": "_anchor",
        "blockquote": "_blockquote",
        "div": "_div",
        "script": "_script",
        "lite-youtube": "_lite_player",
        "lite-vimeo": "_lite_player",
        # AMP pages (a live blog's AMP version, the link a feed gives) name their media
        # in AMP's own elements
        "amp-img": "_img",
        "amp-anim": "_img",
        "amp-video": "_video",
        "amp-audio": "_audio",
        "amp-iframe": "_frame",
        "amp-video-iframe": "_frame",  # a third-party player in AMP's video frame
        "amp-brightcove": "_video",
        **dict.fromkeys(_AMP_POSTS, "_amp_post"),
    }

    def __init__(
        self,
        content: Element,
        base: str,
        depth: int = 0,
        posted: dict[Element, str] | None = None,
    ) -> None:
        self.embeds = EmbedList()
        self.unusable: dict[str, UnusableEmbed] = {}  # by address, in page order
        self._depth = depth  # inline frame documents (srcdoc) this one is inside
        self._content = content
        self._posted = posted or {}  # posts whose label their footer gave (`post_times`)
        self._base = base
        self._base_platform = platform_of(base)
        self._trail = TextTrail()
        self._label: str | None = None
        self._lists: list[tuple[Element, int]] = []  # open lists, with where each began
        self._muted: set[Element] = set()
        self._captions = Captions(content)
        self._blocks: list[Element] = [content]  # the open paragraph-level elements
        self._pending: dict[Element, list[_Pending]] = {}  # by the block that completes them
        self._recorded = 0
        self._yielded: set[Element] = set()  # images that produced an embed (lazy twins)
        self._teaser_blocks: dict[Element, bool] = {}  # blocks that open with "Related:"
        self._teaser_articles: dict[Element, bool] = {}  # `_is_teaser`, asked more than once
        self._teasers: set[Element] = set()  # open cards leading to other stories
        self._figures = 0  # figures open
        # where the current label was set: (its index in _blocks, that element); a
        # heading in a box nested inside it does not take over
        self._label_scope: tuple[int, Element] | None = None
        # the open post (`_starts_update`) and the level of the heading titling it (0:
        # none does); a heading below that level in it is its text (`_is_subheading`)
        self._post: Element | None = None
        self._title_level: int | None = None
        self._lead_in: tuple[int, str] | None = None  # such a heading: its mark, its text
        self._facades: dict[Element, _Facade] = {}  # open YouTube facades (`_div`)
        self._noscript_facades: dict[Element, _Facade] = {}  # by the fallback after each

    def run(self) -> None:
        """Walk the content once, without recursion (malformed pages nest deeply).

        Nothing done per element may walk its ancestors or its whole subtree: broken pages
        nest 2,000 levels deep, many times over."""
        stack: list[tuple[Element, bool]] = [(self._content, False)]
        while stack:
            node, closing = stack.pop()
            if closing:
                self._close(node)
                if self._blocks[-1] is node and node is not self._content:
                    self._blocks.pop()
                continue
            stack.append((node, True))
            if self._open(node):
                if tag_name(node) in BLOCK_TAGS and node is not self._content:
                    self._blocks.append(node)
                stack.extend((child, False) for child in reversed(node))
        self._settle(None)

    def _open(self, node: Element) -> bool:
        """Handle an element's start; returns whether to read its children."""
        tag = tag_name(node)
        if tag is None or (tag in _SILENT_TAGS and not is_shadow_root(node)):
            return False
        if tag == "figure":
            self._figures += 1  # credits inside are their media's
        if tag == "br":
            self._trail.paragraph_break()
            return False
        if tag in BLOCK_TAGS:
            self._trail.paragraph_break()
        if tag in ("ul", "ol"):
            self._lists.append((node, self._trail.mark()))
        if node is not self._content and self._starts_update(node):
            # a post of its own: nothing of the post before carries over, neither its
            # label (this one may have none that is recognised) nor its sentences
            self._new_update(self._posted.get(node), 0, node)
            self._post, self._title_level = node, None
        elif node is not self._content and self._is_teaser(node):
            self._teasers.add(node)  # a card leading to another story: its headline
        if is_heading(node):
            label = label_of_heading(node)
            if label and not self._names_another_page(node, label):
                if self._is_subheading(node, label):
                    self._lead_in = (self._trail.mark(), label)
                    self._add_text(node.text)
                    return True  # the post's own words, introducing what follows
                self._note_title(node)
                self._new_update(label, 0)
            self._mute(node)
            return True
        if tag == "header" or (tag == "aside" and is_update_aside(node)):
            label = label_of_header(node)
            if label:
                self._new_update(label, 0)
                self._mute(node)  # the post's time and author are not its context
        if shows_background(node) and tag not in _HANDLERS_OF_IMAGES:
            self._background(node)
        if self._telegram_widget(node):
            return False  # its fallback text and link are the same post
        if tag not in _MEDIA_ELEMENTS and node.get("data-video-id") and self._site_player(node):
            return False  # the poster inside is the player's still, not a photo
        name = self._HANDLERS.get(tag)
        handler: Handler | None = getattr(self, name) if name else None
        outcome = handler(node) if handler is not None else None
        if outcome is not None:
            return outcome
        if not self._muted and self._trail.at_paragraph_start and not _opens_with_block(node):
            found = label_at_start(leading_text(node, _LABEL_PROBE))
            if found is not None:
                self._new_update(found.text, found.covered)
            elif tag in TIME_TAGS and (moment := label_of_time(node)):
                self._new_update(moment, 0)  # a post's "3h ago", with its moment inside
                self._mute(node)
        if is_caption(node) or is_screen_reader_only(node) or self._media_credit(node):
            self._mute(node)
        if tag in _BARE_URL_BLOCKS and not len(node) and self._bare_post(node):
            return False
        self._add_text(node.text)
        return True

    def _media_credit(self, node: Element) -> bool:
        """A credit (`is_credit`) in a figure or right after a media element: part of
        that media's caption (`Captions`), not running text."""
        if not is_credit(node):
            return False
        if self._figures:
            return True
        previous = _previous_element(node)
        return previous is not None and any(
            tag_name(inner) in MEDIA_TAGS
            for inner in itertools.islice(previous.iter(), PROBE_ELEMENTS)
        )

    def _bare_post(self, node: Element) -> bool:
        """A paragraph that is nothing but a platform post's address: an embed the CMS
        could not render (WordPress shows Facebook and Instagram embed blocks, and URLs
        on a line of their own, as their bare URL since those sites closed their oEmbed
        API in 2020). Addresses of anything but a post stay text."""
        text = (node.text or "").strip()
        if not text.startswith(("https://", "http://")) or any(c.isspace() for c in text):
            return False
        if platform_post(text) is None:
            return False
        return self._record(node, link_embed(text, "bare-url", allow_player=False))

    def _close(self, node: Element) -> None:
        """Handle an element's end: unmute, end its paragraph, then read its tail text."""
        tag = tag_name(node)
        if tag is not None:
            if self._lists and self._lists[-1][0] is node:
                self._lists.pop()
            if node is self._post:
                self._post = self._title_level = None
            if self._facades and node in self._facades:
                self._facade_end(node, self._facades.pop(node))
            if tag == "figure" and self._figures:
                self._figures -= 1
            if self._muted:
                self._muted.discard(node)
            if self._teasers:
                self._teasers.discard(node)
            if tag in BLOCK_TAGS:
                self._trail.paragraph_break()
            if self._pending:
                self._settle(node)
        if node is not self._content:
            self._add_text(node.tail)

    def _add_text(self, text: str | None) -> None:
        """Read running text; a paragraph opening with a label starts a new update."""
        if not text or self._muted:
            return
        if self._trail.at_paragraph_start and not text.isspace():
            found = label_at_start(collapse(text[: _LABEL_PROBE * 2])[:_LABEL_PROBE])
            if found is not None:
                self._new_update(found.text, found.covered)
        self._trail.add(text)

    def _mute(self, node: Element) -> None:
        """Keep an element's text (heading, caption) out of the running text."""
        self._muted.add(node)

    def _new_update(self, label: str | None, covered: int, block: Element | None = None) -> None:
        """Switch to a new live-blog update; its label text is not part of the context.
        ``block``: the update's own element (about to open); else the label belongs to
        the open element around it (around the paragraph it opens)."""
        self._settle(None)
        self._label = label
        self._trail.restart(covered)
        self._lead_in = None
        if block is not None:
            self._label_scope = (len(self._blocks), block)
            return
        depth = len(self._blocks) - 1
        if depth > 0 and tag_name(self._blocks[depth]) in _PARAGRAPHS:
            depth -= 1
        self._label_scope = (depth, self._blocks[depth])

    def _note_title(self, heading: Element) -> None:
        """Note the level of the heading that titles the open post: its first one, come
        before any of the post's text (in its header, say); an h1 titles the page."""
        if self._post is None or self._title_level is not None:
            return
        level = _heading_level(heading)
        self._title_level = level if level > 1 and not collapse(self._trail.before()) else 0

    def _is_subheading(self, heading: Element, label: str) -> bool:
        """A heading below the title of the open post ("Watch:", "Reaction in Kyiv"),
        not opening with a moment of its own ("UPDATE 1800 GMT", "09:05 Explosions in
        Kyiv", "March 11"): part of that post, not an update of its own. Pages without
        posts keep every heading as a label."""
        if not self._title_level:
            return False
        return _heading_level(heading) > self._title_level and not opens_with_moment(label)

    def _starts_update(self, node: Element) -> bool:
        """Whether an element is a post of its own (`is_update_block`), not a card
        leading to another story; or an item of an AMP live list (``<amp-live-list>
        <div items><div data-sort-time>``)."""
        if is_update_block(node):
            return not self._is_teaser(node)
        if "data-sort-time" not in node.attrib:
            return False
        items = node.getparent()
        return (
            items is not None
            and "items" in items.attrib
            and tag_name(items.getparent()) == "amp-live-list"
        )

    def _is_teaser(self, node: Element) -> bool:
        """An ``<article>`` that only leads to another story: `is_teaser_card`, or one
        without media that is nothing but a link to another page (a bare ``<a href>``
        around a headline). Only small ones are measured (each of 2,000 nested articles
        would be read to the bottom otherwise)."""
        if tag_name(node) != "article":
            return False
        known = self._teaser_articles.get(node)
        if known is None:
            small = _small_text(node, SHORT_TEXT_ELEMENTS, TEASER_TEXT)
            known = small is not None and (
                is_teaser_card(node, small)
                or (
                    next(node.iter(*MEDIA_TAGS), None) is None and self._wholly_link_elsewhere(node)
                )
            )
            self._teaser_articles[node] = known
        return known

    def _names_another_page(self, heading: Element, label: str) -> bool:
        """Whether a heading is not the label of what follows: one naming a box of
        links ("Keep reading", "Related stories"), or one that is nothing but a link to
        another page in a teaser card or in a box set inside a labelled update (a
        related story's headline). A post's title linking to its own page is a label;
        so is a heading opening with a label of its own ("UPDATE 1800 GMT: …")."""
        if _BOX_HEADING.fullmatch(label):
            return True
        return (
            (bool(self._teasers) or self._inside_labelled_block())
            and label_at_start(label) is None
            and self._wholly_link_elsewhere(heading)
        )

    def _inside_labelled_block(self) -> bool:
        """Whether the element being opened sits in a block nested inside the one the
        current label was set in (a box inside the update, not a post beside it)."""
        if self._label is None or self._label_scope is None:
            return False
        depth, scope = self._label_scope
        return len(self._blocks) - 1 > depth and self._blocks[depth] is scope

    def _wholly_link_elsewhere(self, node: Element) -> bool:
        """Whether an element's text is all one link's, and that link leads to another
        page: not a permalink within this one (``#post-12``), not this page, not a
        file. Only its first PROBE_ELEMENTS elements are read."""
        text = text_of(node, PROBE_ELEMENTS)
        if not text:
            return False
        for count, link in enumerate(node.iter()):
            if count >= PROBE_ELEMENTS:
                return False
            if tag_name(link) == "a":
                return text_of(link, PROBE_ELEMENTS) == text and self._leads_elsewhere(link)
        return False

    def _leads_elsewhere(self, link: Element) -> bool:
        """Whether a link goes to another page than this one (or a place in it)."""
        href = attr(link, "href")
        if href is None or "#" in href or media_type_of_url(href) is not None:
            return False
        url = resolve_url(href, self._base)
        if url is None:
            return False
        target, page = urlsplit(url), urlsplit(self._base)
        return (target.netloc, target.path) != (page.netloc, page.path)

    def _settle(self, block: Element | None) -> None:
        """Give pending inline links inside ``block`` (all, if None) their sentence."""
        if block is None:
            groups, self._pending = list(self._pending.values()), {}
        else:
            groups = [self._pending.pop(block, [])]
        for group in groups:
            for pending in group:
                self.embeds.set_context(pending.index, self._link_context(pending))

    def _link_context(self, pending: _Pending) -> str | None:
        """Context of an inline link: the sentence it sits in; a link that is a paragraph of
        its own is introduced by the text before it, like any block embed."""
        before = self._trail.before(pending.mark)
        after = self._trail.since(pending.mark)
        stands_alone = not collapse(before.rsplit(PARAGRAPH, 1)[-1]) and collapse(
            after
        ) == collapse(pending.link_text)
        if stands_alone:
            if pending.list_mark is not None:  # a list of links: the sentence before it
                before = self._trail.before(pending.list_mark)
            return sentence_context(before, skip_empty=True)
        return sentence_context(before, after)

    def _record(self, node: Element, embed: FoundEmbed | None, *, inline: bool = False) -> bool:
        """Store an embed with the current update and its caption or preceding sentence."""
        if embed is None:
            return False
        caption = self._captions.of(node, siblings=not inline)
        context = caption
        if caption is None and not inline:
            context = self._preceding_context()
        index = self.embeds.add(replace(embed, update=self._label, context=context))
        if inline and caption is None and index is not None:
            block = self._blocks[-1]  # the nearest paragraph-level element around the link
            link_text = text_of(node, SHORT_TEXT_ELEMENTS)[:_MAX_EMBED_TEXT]
            in_list = tag_name(block) == "li" and self._lists
            list_mark = self._lists[-1][1] if in_list else None
            pending = _Pending(index, self._trail.mark(), block, link_text, list_mark)
            self._pending.setdefault(block, []).append(pending)
        self._recorded += 1
        return True

    def _preceding_context(self) -> str | None:
        """The sentence before a block embed; a short subheading right before it
        ("Watch:", `_is_subheading`) is joined to the sentence before that, which says
        what there is to watch."""
        context = sentence_context(self._trail.before(), skip_empty=True)
        if self._lead_in is None or context != self._lead_in[1] or len(context) > _LEAD_IN:
            return context
        before = sentence_context(self._trail.before(self._lead_in[0]), skip_empty=True)
        joined = f"{before} {context}" if before else context
        return joined if len(joined) <= MAX_CONTEXT else context

    def _refused(self, node: Element, found: tuple[str, str] | None, found_in: str) -> None:
        """Report an embed whose address (``found``: it and why, from `refusal`) can
        never be fetched, with the update and context it would have been recorded with."""
        if found is None:
            return
        raw, reason = found
        url = raw.strip()[:MAX_UNUSABLE_URL]
        if url in self.unusable:
            return
        context = self._captions.of(node)
        if context is None:
            context = sentence_context(self._trail.before(), skip_empty=True)
        self.unusable[url] = UnusableEmbed(url, reason, found_in, self._label, context)

    def _link(self, node: Element, url: str | None, found_in: str) -> bool:
        """Record an iframe/embed/object target: platform post, media file or player page.
        A post's frame counts at any size: one left at 0x0 is a post that did not load
        (often a deleted one), not a tracking pixel."""
        if url is None or (is_tiny(node) and platform_post(url) is None):
            return False
        return self._record(node, link_embed(url, found_in, allow_player=True))

    def _frame(self, node: Element) -> bool:
        """``<iframe>``, including lazy ``data-src`` ones; its fallback text is not read.
        A frame whose document is inline yields what that document embeds: its
        ``srcdoc`` (a tweet or a player pasted into it), or, with no address, its text
        when that is a platform's embed snippet (`_embed_snippet`: Instant Articles'
        ``<figure class="op-interactive"><iframe>``, which the parser keeps as raw
        text); other text is the fallback shown where frames are off."""
        if "wp-embedded-content" in _classes(node):
            return False  # WordPress's preview card of another article, not a player
        url = frame_url(node, self._base)
        inline = node.get("srcdoc")
        if url is None and inline:
            self._inline_document(node, inline, "iframe")
            return False
        text = node.text or ""
        if url is None and _embed_snippet(text) and self._inline_document(node, text, "iframe"):
            return False
        if url is None and not is_tiny(node):
            self._refused(node, refused_address(node, self._base), "iframe")
        self._link(node, url, "iframe")
        return False

    def _inline_document(self, node: Element, markup: str, found_in: str | None) -> bool:
        """Record what a document held inside the page embeds (a frame's ``srcdoc``, the
        markup a consent plugin holds back), as found at ``node``."""
        if self._depth >= MAX_SRCDOC_DEPTH:
            return False
        try:
            inner = _extract_embeds(parse_document(markup), self._base, self._depth + 1)
        except ExtractError:
            return False
        for embed in inner.embeds:
            self._record(node, replace(embed, found_in=found_in or embed.found_in))
        for unusable in inner.unusable:
            self.unusable.setdefault(unusable.url, unusable)
        return bool(inner.embeds)

    def _held_back(self, node: Element) -> bool:
        """The embed a consent plugin holds back until the reader agrees, in a script
        that no browser runs as it stands: Borlabs Cookie's base64 template, Embed
        Privacy's oEmbed answer (HTML escaped in a JSON string in a JavaScript one)."""
        text = node.text or ""
        if len(text) > MAX_HELD_BACK:
            return False
        try:
            if (node.get("type") or "").strip().lower() == "text/template":
                markup = base64.b64decode(text.strip(), validate=True).decode("utf-8")
            elif (held := _oembed_answer(text)) is not None:
                markup = html.unescape(str(json.loads(held).get("embed") or ""))
            else:
                return False
        except (ValueError, AttributeError, RecursionError):  # not base64, JSON, a dict
            return False
        return bool(markup) and self._inline_document(node, markup, None)

    def _embed_element(self, node: Element) -> bool:
        """``<embed src>`` (old Flash players, still in 2013-era pages)."""
        url = resolve_url(attr(node, "src", "data-src"), self._base)
        flash_file = self._flash_file(node.get("flashvars"))
        if flash_file is None and url is None and not is_tiny(node):
            self._refused(node, refused_address(node, self._base), "iframe")
        self._link(node, flash_file or url, "iframe")
        return False

    def _object(self, node: Element) -> bool:
        """``<object data>``/``<param name=movie>``; the nested ``<embed>`` is read only when
        the object itself gave nothing."""
        params = {
            (param.get("name") or "").strip().lower(): param.get("value")
            for param in node
            if tag_name(param) == "param"  # its own: nested objects were walked each time
        }
        candidates = [
            self._flash_file(params.get("flashvars")),
            resolve_url(attr(node, "data"), self._base),
            *(resolve_url(params.get(name), self._base) for name in _FLASH_PARAMS),
        ]
        found = any(url is not None and self._link(node, url, "iframe") for url in candidates)
        return not found

    def _flash_file(self, flashvars: str | None) -> str | None:
        """Media file named in a Flash player's ``flashvars`` (``file=clip.mp4&image=...``)."""
        for key, value in parse_qsl(flashvars or ""):
            if key.lower() in _FLASH_FILE_KEYS:
                url = resolve_url(value, self._base)
                if url is not None and media_type_of_url(url) in ("video", "audio"):
                    return url
        return None

    def _video(self, node: Element) -> bool:
        """``<video>``: one embed for the best ``<source>``; the poster is only metadata."""
        self._media_element(node, "video")
        return False

    def _audio(self, node: Element) -> bool:
        """``<audio>``: one embed for the best ``<source>``."""
        self._media_element(node, "audio")
        return False

    def _media_element(self, node: Element, media_type: MediaType) -> bool:
        """Record the best rendition of a video/audio element, or the player page of a
        Brightcove video element that names its video instead of a file."""
        choice = best_source(node, self._base)
        player = brightcove_player(node) if choice is None and media_type == "video" else None
        if player is not None:
            return self._record(node, link_embed(player, "video", allow_player=True))
        if choice is None:
            self._refused(node, refused_address(node, self._base), media_type)
        if choice is None or is_tracker_url(choice.url):
            return False
        metadata: dict[str, str] = {}
        poster = resolve_url(attr(node, "poster", "data-poster"), self._base)
        if poster:
            metadata["poster"] = poster
        if choice.mime_type:
            metadata["type"] = choice.mime_type[:MAX_METADATA_VALUE]
        title = attr(node, "title", "aria-label")
        if title:
            metadata["title"] = title[:MAX_METADATA_VALUE]
        return self._record(node, file_embed(choice.url, media_type, media_type, metadata))

    def _picture(self, node: Element) -> bool:
        """``<picture>``: the largest rendition among its sources and fallback image."""
        img = next(node.iter("img"), None)
        if img is not None and is_tiny(img):
            return False
        url = picture_url(node, self._base)
        if url is None:
            self._refused(node, refused_address(node, self._base), "picture")
        if url is not None and not is_unwanted_image(url):
            embed = image_embed(url, "picture", _image_metadata(img))
            if self._record(node, embed):
                self._yielded.add(node)
        return False

    def _background(self, node: Element) -> None:
        """A photo shown as an element's background (a cover block); its text, read
        on, is not its context: the sentence before it is."""
        if is_tiny(node) or _is_player_still(node):
            return
        url = background_url(node, self._base)
        if url is not None and not is_unwanted_image(url):
            self._record(node, image_embed(url, "background"))

    def _img(self, node: Element) -> bool:
        """``<img>`` (srcset, lazy attributes), unless tiny, a tracker, or a noscript twin."""
        previous = _previous_element(node)
        if tag_name(previous) == "noscript" and previous in self._yielded:
            return False  # the <noscript> copy right before it was already recorded
        if is_tiny(node) or is_preview_stand_in(node):
            return False
        url = image_url(node, self._base)
        if url is None:
            self._refused(node, refused_address(node, self._base), "img")
        if url is not None and not is_unwanted_image(url):
            embed = image_embed(url, "img", _image_metadata(node))
            if self._record(node, embed):
                self._yielded.add(node)
        return False

    def _noscript(self, node: Element) -> bool:
        """``<noscript>`` fallbacks: their images count unless the lazy twin just did; a
        YouTube facade's fallback (`_facade_end`) names its video, else the facade does."""
        facade = self._noscript_facades.pop(node, None) if self._noscript_facades else None
        before = self._recorded
        self._noscript_fallback(node)
        if facade is not None and self._recorded == before:
            self._click_to_play(node, facade.url, "youtube-player", facade.title)
        return False

    def _noscript_fallback(self, node: Element) -> None:
        """Record the media of a ``<noscript>`` fallback, unless its lazy twin did."""
        previous = _previous_element(node)
        if tag_name(previous) in ("img", "picture") and previous in self._yielded:
            return
        inner = list(node) if len(node) else fragment_elements(node.text or "")
        before = self._recorded
        for element in inner:
            for media in _outer_media(element):
                self._noscript_media(media, node)
        if self._recorded > before:
            self._yielded.add(node)

    def _noscript_media(self, media: Element, noscript: Element) -> None:
        """Record one media element of a noscript fallback, placed where the noscript is."""
        tag = tag_name(media)
        if tag == "blockquote":
            if self._blockquote(media) is None:  # an ordinary quote: media inside it count
                for child in media:
                    for inner in _outer_media(child):
                        self._noscript_media(inner, noscript)
        elif tag in ("video", "audio"):
            choice = best_source(media, self._base)
            if choice is not None and not is_tracker_url(choice.url):
                media_type: MediaType = "video" if tag == "video" else "audio"
                self._record(noscript, file_embed(choice.url, media_type, media_type))
        elif tag == "iframe":
            if not is_tiny(media):
                self._link(noscript, frame_url(media, self._base), "iframe")
        elif not is_tiny(media if tag == "img" else next(media.iter("img"), media)):
            url = image_url(media, self._base) if tag == "img" else picture_url(media, self._base)
            if url is not None and not is_unwanted_image(url):
                found_in = "img" if tag == "img" else "picture"
                self._record(noscript, image_embed(url, found_in, _image_metadata(media)))

    def _anchor(self, node: Element) -> bool | None:
        """``<a href>`` to a platform post or a media file; a wrapped thumbnail is skipped in
        favour of the full-size target. Other links are just text."""
        href = attr(node, "href")
        if href is None:
            return None
        if self._banner(node, href):
            return False  # the site's appeal for money or followers, not a photo
        if self._teaser_of_another_page(node, href):
            return False  # its thumbnail is that page's picture, not this one's evidence
        if not self._may_be_media_link(href):
            return None
        url = resolve_url(href, self._base)
        if url is None:
            reason = refusal(href, self._base)
            if reason is not None and (media_type_of_url(href) or platform_post(href)):
                self._refused(node, (href, reason), "a-media")
            return None
        if is_tracker_url(url):
            return None
        thumbnail = next((n for n in node.iter("img", "picture") if n is not node), None)
        embed: FoundEmbed | None = None
        if platform_post(url) is not None:
            embed = link_embed(url, "a-platform", allow_player=False)
        else:
            media_type = media_type_of_url(url)
            if media_type is not None and not (media_type == "image" and is_unwanted_image(url)):
                wrapped_image = thumbnail is not None and media_type == "image"
                found_in = "a-img" if wrapped_image else "a-media"
                embed = link_embed(url, found_in, allow_player=False)
        if embed is None:
            return None
        link_text = text_of(node, SHORT_TEXT_ELEMENTS)[:_MAX_EMBED_TEXT]
        if link_text:
            embed = replace(embed, metadata={**embed.metadata, "link_text": link_text})
        if thumbnail is not None:
            self._record(node, embed)
            if embed.kind == "platform":
                # the picture the page showed of the post (a screenshot, the copy of its
                # photo a newsletter hosts) is evidence too, and outlives the post; a
                # video's own thumbnail is that video, already recorded
                read = self._picture if tag_name(thumbnail) == "picture" else self._img
                read(thumbnail)
            return False
        self._record(node, embed, inline=True)
        return None

    def _banner(self, node: Element, href: str) -> bool:
        """A small link around a picture (a button, a banner) leading to a donation
        page (`asks_for_donations`) or to a channel, profile or publication to follow
        (`_is_follow_page`). A link that is text is read as text; a link around more
        than PROBE_ELEMENTS elements (one a broken page left open) is no button."""
        lowered = href.lower()
        donation = any(hint in lowered for hint in DONATION_HINTS)
        if not donation and "//" not in href and self._base_platform is None:
            return False  # most links: to the site's own pages, no address resolved
        pictures: list[Element] = []
        for count, inner in enumerate(node.iter()):
            if count > PROBE_ELEMENTS:
                return False
            if tag_name(inner) in _STILLS or shows_background(inner):
                pictures.append(inner)
        url = resolve_url(href, self._base) if pictures else None
        if url is None:
            return False
        if donation and asks_for_donations(url):
            return True
        return _is_follow_page(url) and all(_banner_like(p) for p in pictures)

    def _may_be_media_link(self, href: str) -> bool:
        """Cheap pre-check for the commonest element on a page: a relative link to another
        page of the same (non-platform) site is never media."""
        if media_type_of_url(href) is not None or "//" in href:
            return True
        return self._base_platform is not None

    def _blockquote(self, node: Element) -> bool | None:
        """Tweet, Instagram, Threads, TikTok, Reddit, Bluesky, Mastodon and Imgur embed
        blockquotes; their quoted text is metadata, not context. Ordinary quotes are
        read as text."""
        classes = _classes(node)
        url: str | None = None
        if classes & {"twitter-tweet", "twitter-video", "twitter-tweet-rendered", "tweet"}:
            # the Guardian's of 2014 to 2021: <figure class="element-tweet"
            # data-canonical-url><blockquote class="js-tweet tweet">
            url = _canonical_tweet(node, self._base)
            url = url or next(reversed(self._post_links(node, "twitter")), None)
            tweet_id = attr(node, "data-tweet-id")
            if url is None and tweet_id:
                url = f"https://twitter.com/i/status/{tweet_id}"
        elif "instagram-media" in classes:
            url = resolve_url(attr(node, "data-instgrm-permalink"), self._base)
            url = url or next(reversed(self._post_links(node, "instagram")), None)
        elif "reddit-embed-bq" in classes or "reddit-card" in classes:
            url = next(iter(self._post_links(node, "reddit")), None)  # then author, subreddit
        elif "bluesky-embed" in classes:  # at://DID/app.bsky.feed.post/RKEY, then links
            url = bluesky_uri_url(attr(node, "data-bluesky-uri"))
            url = url or next(reversed(self._post_links(node, "bluesky")), None)
        elif "mastodon-embed" in classes:  # its frame, HOST/@USER/ID/embed
            url = resolve_url(attr(node, "data-embed-url"), self._base)
        elif "text-post-media" in classes:  # Threads: its permalink, else its link
            url = resolve_url(attr(node, "data-text-post-permalink"), self._base)
            if url is None or platform_post(url) is None:
                url = next(iter(self._post_links(node, "threads")), None)
        elif "imgur-embed-pub" in classes:  # data-id: "ID" for a post, "a/ID" for an album
            data_id = attr(node, "data-id")
            url = f"https://imgur.com/{data_id}" if data_id else None
            if url is None or platform_post(url) is None:
                url = next(iter(self._post_links(node, "imgur")), None)
        elif "tiktok-embed" in classes:
            url = resolve_url(attr(node, "cite"), self._base)
            video_id = attr(node, "data-video-id")
            if (url is None or platform_post(url) is None) and video_id:
                url = f"https://www.tiktok.com/embed/v2/{video_id}"
        else:
            return None
        if url is None:
            return None
        metadata: dict[str, str] = {}
        quoted = text_of(node)
        if quoted:
            metadata["embed_text"] = quoted[:_MAX_EMBED_TEXT]
        self._record(node, link_embed(url, "blockquote", allow_player=False, metadata=metadata))
        return False

    def _teaser_of_another_page(self, node: Element, href: str) -> bool:
        """A link to another page around its thumbnail and headline, in a short block
        that opens with "Related:", "Read more:", "See also:" (or the like in French,
        Spanish, German): a teaser of another article set in the body. A picture linked
        alone (to its own page, a gallery) is not one."""
        block = self._blocks[-1]
        if block not in self._teaser_blocks:  # each block looked at once, and briefly
            self._teaser_blocks[block] = (
                block is not self._content
                and _TEASER_LABEL.match(leading_text(block, 40)) is not None
                and _is_short(block)
            )
        if not self._teaser_blocks[block] or next(node.iter("img", "picture"), None) is None:
            return False
        if not _has_visible_words(node):
            return False  # no headline: the picture alone, linked
        url = resolve_url(href, self._base)
        return url is not None and normalize_url(url).kind == "player"  # another page

    def _post_links(self, node: Element, platform: str) -> list[str]:
        """The links inside an embed that address posts on ``platform``, in order (in a
        tweet blockquote the last is the tweet itself, earlier ones are its contents; in
        a Reddit embed the post comes first)."""
        found: list[str] = []
        for link in node.iter("a"):
            url = resolve_url(attr(link, "href"), self._base)
            post = platform_post(url) if url is not None else None
            if url is not None and post is not None and post.platform == platform:
                found.append(url)
        return found

    def _div(self, node: Element) -> bool | None:
        """Facebook's ``<div class="fb-video|fb-post" data-href>`` embeds, the BBC's
        delayed images: ``<div class="js-delayed-image-load" data-src data-width
        data-alt>``, for which its script makes an ``<img>`` (2011 to 2020), videos
        uploaded to Substack (`_substack_video`), and players a script draws in the
        div: Elementor's video widget, click-to-play YouTube facades."""
        classes = _classes(node)
        if "elementor-widget-video" in classes and (named := self._elementor_video(node)):
            if self._click_to_play(node, named[0], "elementor-video", None, is_file=named[1]):
                self._elementor_still(node)
                return False
        elif any(_YOUTUBE_FACADE.fullmatch(name) for name in classes):
            video = self._facade_video(node)
            if video is not None:  # recorded at its end, unless its still was (`_facade_end`)
                title = attr(node, "title", "data-title", "data-alt")
                self._facades[node] = _Facade(video, title, len(self.embeds))
        if "js-delayed-image-load" in classes:
            src = resolve_url(attr(node, "data-src"), self._base)
            if src is not None and not is_tiny(node) and not is_unwanted_image(src):
                alt = collapse(attr(node, "data-alt") or "")[:MAX_METADATA_VALUE]
                shown = delayed_image_url(src, node.get("data-width"))
                embed = image_embed(shown, "img", {"alt": alt} if alt else None)
                self._record(node, replace(embed, original_url=src))
            return False
        if "native-video-embed" in classes and self._substack_video(node):
            return False
        if not classes & {"fb-video", "fb-post"}:
            return None
        url = resolve_url(attr(node, "data-href", "data-url"), self._base)
        if url is None:
            return None
        self._record(node, link_embed(url, "xfbml", allow_player=False))
        return False

    def _substack_video(self, node: Element) -> bool:
        """A video uploaded to Substack: ``<div class="native-video-embed"
        data-attrs='{"mediaUploadId": ID}'>``, for which its script draws the player;
        the file is at ``substack.com/api/v1/video/upload/ID/src``."""
        try:
            attrs = json.loads(node.get("data-attrs") or "")
        except (ValueError, RecursionError):
            return False
        upload = attrs.get("mediaUploadId") if isinstance(attrs, dict) else None
        if not isinstance(upload, str) or _SUBSTACK_UPLOAD.fullmatch(upload) is None:
            return False
        url = f"https://substack.com/api/v1/video/upload/{upload}/src"
        return self._record(node, file_embed(url, "video", "video"))

    def _lite_player(self, node: Element) -> bool:
        """``<lite-youtube videoid>``, ``<lite-vimeo videoid>``: players that load on a
        click, naming their video in an attribute and showing only a still until then."""
        tag = tag_name(node) or ""
        url = _url(_LITE_PLAYERS[tag], attr(node, "videoid"))
        if url is None:
            return True  # a fallback link inside may still name it
        # the still and play button inside are not media
        return not self._click_to_play(node, url, tag, attr(node, "playlabel", "title"))

    def _click_to_play(
        self, node: Element, url: str, found_in: str, title: str | None, *, is_file: bool = False
    ) -> bool:
        """Record the video a player element names before its script draws it (a file
        when ``is_file``); returns whether it did. Once it did, nothing inside is read:
        the still there is that video's, not a photo, and a fallback names it again."""
        metadata = {"title": collapse(title)[:MAX_METADATA_VALUE]} if title else {}
        media_type: MediaType | None = "video" if is_file else None
        found = link_embed(
            url, found_in, allow_player=False, is_file=is_file, media_type=media_type,
            metadata=metadata,
        )  # fmt: skip
        return self._record(node, found)

    def _facade_end(self, node: Element, facade: _Facade) -> None:
        """At a YouTube facade's end: its video, unless what is inside already named a
        video (its YouTube still, `image_embed`), or a ``<noscript>`` fallback right
        after it names it (WP Rocket's frame, read there as the page gave it; the facade
        is its stand-in). A still the site keeps itself is no video: it is kept, and
        the video too."""
        inside = self.embeds.items()[facade.found :]
        if any(embed.media_type != "image" for embed in inside):
            return
        fallback = _next_element(node)
        if tag_name(fallback) == "noscript" and fallback is not None:
            self._noscript_facades[fallback] = facade
        else:
            self._click_to_play(node, facade.url, "youtube-player", facade.title)

    def _elementor_video(self, node: Element) -> tuple[str, bool] | None:
        """The video of Elementor's video widget, and whether it is a file: its
        ``data-settings`` JSON names it (``video_type``, then ``youtube_url``,
        ``vimeo_url``, ``dailymotion_url`` or ``hosted_url``, a string or ``{"url":
        …}``), and its script draws the player, so nothing else on the page does."""
        settings = _elementor_settings(node)
        if settings is None:
            return None
        kind = settings.get("video_type")
        keys = (f"{kind}_url",) if isinstance(kind, str) else _ELEMENTOR_VIDEO_KEYS
        for key in keys:
            value = settings.get(key)
            if isinstance(value, dict):  # hosted_url: the media library's {"id", "url"}
                value = value.get("url")
            url = resolve_url(value, self._base) if isinstance(value, str) else None
            if url is not None:
                return url, key == "hosted_url"
        return None

    def _elementor_still(self, node: Element) -> None:
        """The still Elementor's video widget shows over its player until a click (its
        ``elementor-custom-embed-image-overlay``: an ``<img>`` or a background, else
        ``image_overlay`` in its settings): a photo the site keeps itself, recorded
        beside the video (`_facade_end`); a YouTube thumbnail is that video, no photo."""
        overlay = next(
            (
                element
                for element in itertools.islice(node.iter(), PROBE_ELEMENTS)
                if "elementor-custom-embed-image-overlay" in _classes(element)
            ),
            None,
        )
        found: FoundEmbed | None = None
        if overlay is not None:
            img = next(itertools.islice(overlay.iter("img"), 1), None)
            url = image_url(img, self._base) if img is not None and not is_tiny(img) else None
            if url is not None:
                found = image_embed(url, "img", _image_metadata(img))
            elif (url := background_url(overlay, self._base)) is not None:
                found = image_embed(url, "background")
        settings = _elementor_settings(node) if found is None else None
        if settings is not None and settings.get("show_image_overlay") == "yes":
            value = settings.get("image_overlay")
            value = value.get("url") if isinstance(value, dict) else value
            url = resolve_url(value, self._base) if isinstance(value, str) else None
            if url is not None and not is_placeholder(url):
                found = image_embed(url, "elementor-video")
        if found is None or found.media_type != "image" or is_unwanted_image(found.url):
            return  # none, or a YouTube thumbnail: the video's own still
        self._record(overlay if overlay is not None else node, found)

    def _facade_video(self, node: Element) -> str | None:
        """The YouTube video a click-to-play facade names (`_YOUTUBE_FACADE`): an id in
        ``data-id``, ``data-embed`` or ``data-videoid``, WP YouTube Lyte's
        ``id="WYL_ID"``, or the player's address in ``data-src`` (WP Rocket's)."""
        named = node.get("id") or ""
        lyte = named.removeprefix("WYL_") if named.startswith("WYL_") else None
        for value in (*(node.get(name) for name in _FACADE_ID_ATTRIBUTES), lyte):
            if value and _YOUTUBE_ID.fullmatch(value.strip()):
                return f"https://www.youtube.com/watch?v={value.strip()}"
        for name in ("data-src", "data-embed"):
            url = resolve_url(attr(node, name), self._base)
            post = platform_post(url) if url is not None else None
            if post is not None and post.platform == "youtube":
                return post.url
        return None

    def _amp_post(self, node: Element) -> bool:
        """``<amp-youtube data-videoid>``, ``<amp-twitter data-tweetid>`` and the like."""
        tag = tag_name(node) or ""
        url = _AMP_POSTS[tag](node)
        found = link_embed(url, tag, allow_player=True) if url else None
        self._record(node, found)
        return False  # a placeholder image or fallback text inside is not media

    def _script(self, node: Element) -> bool:
        """Scripts are never run; only JW Player's one-line embed (``<script
        src=".../players/MEDIAID-PLAYERID.js">``) and Dailymotion's (``<script
        src="https://geo.dailymotion.com/player/PLAYER.js" data-video>``) name media, and
        consent plugins hold embeds back in scripts (`_held_back`). Telegram's widget is
        read from any element, its script among them (`_telegram_widget`)."""
        if self._held_back(node):
            return False
        src = attr(node, "src") or ""
        jw_media = _JW_PLAYER_SCRIPT.match(src)
        if jw_media:
            url = f"https://cdn.jwplayer.com/v2/media/{jw_media[1]}"  # whichever player shows it
            self._record(node, link_embed(url, "jwplayer-script", allow_player=True))
        video = attr(node, "data-video")
        if video and platform_of(resolve_url(src, self._base) or "") == "dailymotion":
            url = f"https://www.dailymotion.com/video/{quote(video, safe='')}"
            self._record(node, link_embed(url, "dailymotion-script", allow_player=False))
        return False

    def _site_player(self, node: Element) -> bool:
        """A player the site draws from an element naming a Brightcove video (Sky's
        ``<div data-provider="brightcove" data-account-id data-video-id>``), or a
        YouTube video: the Guardian's atom (``<div data-component="youtube-atom"
        data-video-id>``), which shows its still until played."""
        if node.get("data-component") == "youtube-atom":
            video = attr(node, "data-video-id") or ""
            if _YOUTUBE_ID.fullmatch(video) is None:
                return False
            url = f"https://www.youtube.com/watch?v={video}"
            return self._record(node, link_embed(url, "youtube-atom", allow_player=False))
        player = brightcove_player(node)
        return player is not None and self._record(
            node, link_embed(player, "video", allow_player=True)
        )

    def _telegram_widget(self, node: Element) -> bool:
        """Telegram's post widget: ``data-telegram-post="CHANNEL/ID"`` on its script, or on
        the element a site draws in its place (a consent placeholder, a blockquote)."""
        post = attr(node, "data-telegram-post")
        if not post:
            return False
        url = f"https://t.me/{post.strip('/')}"
        return self._record(node, link_embed(url, "telegram-widget", allow_player=False))


def _canonical_tweet(blockquote: Element, base: str) -> str | None:
    """The tweet a Guardian tweet figure names in ``data-canonical-url``, around its
    blockquote; None when there is none or it is no tweet."""
    figure = blockquote.getparent()
    if tag_name(figure) != "figure":
        return None
    url = resolve_url(attr(figure, "data-canonical-url"), base)
    post = platform_post(url) if url is not None else None
    return url if post is not None and post.platform == "twitter" else None


def _oembed_answer(script: str) -> str | None:
    """The JSON Embed Privacy keeps in ``var _oembed_ID = '{…}';`` (found by position,
    not by a pattern that would try every end for every start)."""
    start = _OEMBED_START.search(script)
    if start is None:
        return None
    end = script.find("}';", start.end())
    return script[start.end() - 1 : end + 1] if end >= 0 else None


def _url(template: str, identifier: str | None) -> str | None:
    """``template`` with an id put in as one path segment, or None without an id."""
    return template.format(quote(identifier, safe="")) if identifier else None


#: Words of a picture's file name or class that make it a sign, not a photo (whole
#: words: "joint-rescue.jpg" and "spectators" are photos).
_BANNER_WORDS = frozenset(
    {"banner", "button", "btn", "badge", "follow", "subscribe", "logo", "icon", "cta", "promo"}
)
#: What a sign's alt text says ("Follow us on Google News"); a photo's alt describes it,
#: and may credit a channel ("Photo: Air Force / Telegram").
_BANNER_ALT = re.compile(r"\b(?:follow\s+us|subscribe|join\s+(?:us|our))\b", re.IGNORECASE)


def _banner_like(picture: Element) -> bool:
    """Whether a picture linked to a channel or profile is a banner or a button, not a
    photo credited to its author's profile (evidence, kept): declared at most 150 px
    high, or a strip at most 250 px high and three times as wide (728x90, 970x250; a
    panorama is taller), or named one by a word of its file name or class
    ("telegram-banner.png") or by its alt text ("Follow us on Google News"). A picture
    that says nothing of its size or kind is kept."""
    width, height = declared_size(picture)
    if height is not None and (
        height <= 150 or (height <= 250 and width is not None and width >= 3 * height)
    ):
        return True
    source = picture.get("src") or picture.get("data-src") or ""
    name = re.split(r"[?#]", source, maxsplit=1)[0].rsplit("/", 1)[-1]
    words = set(re.split(r"[^a-z0-9]+", f"{name} {picture.get('class') or ''}".lower()))
    return bool(words & _BANNER_WORDS) or bool(_BANNER_ALT.search(picture.get("alt") or ""))


def _is_follow_page(url: str) -> bool:
    """Whether a link leads to a page to follow, not to a post: a platform's channel or
    profile (``t.me/NAME``, ``youtube.com/@NAME``, ``/c/NAME``, ``/channel/ID``), a Google
    News publication, a WhatsApp channel. A platform's page of a photo or video that is
    no post to it (VK's ``photo-1_2``) is not one."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").removeprefix("www.")
    except ValueError:  # an address Python cannot split (a bracketed host left open)
        return False
    segments = [segment.lower() for segment in parts.path.split("/") if segment]
    if host == "news.google.com" or (host == "whatsapp.com" and segments[:1] == ["channel"]):
        return True
    if platform_of(url) is None or platform_post(url) is not None or not segments:
        return False
    if len(segments) == 1:
        return _MEDIA_PAGE.fullmatch(segments[0]) is None  # a name, not a photo's page
    return len(segments) == 2 and (
        segments[0] in _CHANNEL_PATHS
        or (segments[0].startswith("@") and _MEDIA_PAGE.fullmatch(segments[1]) is None)
    )


def _heading_level(heading: Element) -> int:
    """1 for ``<h1>``, 6 for ``<h6>``."""
    return int((tag_name(heading) or "h6")[1])


def _opens_with_block(node: Element) -> bool:
    """Whether an element's text starts in a paragraph-level child, which is looked at for
    a label itself (so 2,000 nested ``div`` elements are not each read to the bottom)."""
    if node.text and not node.text.isspace():
        return False
    first = next((child for child in node if isinstance(child.tag, str)), None)
    return first is not None and first.tag in BLOCK_TAGS and first.tag != "br"


def _outer_media(element: Element) -> Iterator[Element]:
    """Media elements and blockquotes in and under ``element`` in document order, except
    those inside a picture, video or audio element (read with their sources) or inside a
    blockquote (read by whoever takes the blockquote)."""
    stack = [element]
    while stack:
        node = stack.pop()
        tag = tag_name(node)
        if tag in _NOSCRIPT_MEDIA:
            yield node
        if tag is not None and tag not in _READ_WHOLE:
            stack.extend(reversed(node))


#: Words that name a box of links to other articles: "Related", "Read more".
_TEASER_WORDS = (
    r"(?:related(?: stories| articles| coverage)?|read more|read also|also read|see also"
    r"|more on this|lire aussi|à lire aussi|voir aussi|leer más|lea también"
    r"|mehr zum thema|lesen sie auch|auch interessant)"
)
#: What opens a block that links to another article: "Related:", "Read more –".
_TEASER_LABEL = re.compile(rf"\s*{_TEASER_WORDS}\s*:", re.IGNORECASE)
#: A heading over such a box (Al Jazeera's "Keep reading"), which labels no update.
_BOX_HEADING = re.compile(
    rf"(?:{_TEASER_WORDS}|keep reading|more on this story|more stories|recommended"
    r"|you may also like|read next)\s*:?",
    re.IGNORECASE,
)
#: Paragraph-level elements: a label read in one belongs to the element around it.
_PARAGRAPHS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "dt", "dd", "pre"})
_TEASER_TEXT = 300  # characters of a teaser's block at most: its label and a headline
#: A platform's path that names a channel or profile: ``/c/NAME``, ``/r/NAME``, ``/s/NAME``.
_CHANNEL_PATHS = frozenset(
    {"c", "channel", "user", "u", "r", "profile", "s", "joinchat", "group", "groups"}
)
#: A path segment naming a photo, video or album page rather than a channel.
_MEDIA_PAGE = re.compile(
    r"(?:photos?|albums?|videos?|clips?|wall|reels?|stor(?:y|ies)|watch|playlist|shorts"
    r"|streams|live|media|gallery)(?:[-_]?-?\d[\d_-]*)?"
)
_LEAD_IN = 80  # characters of a subheading at most that leads in to the media below it


def _small_text(node: Element, max_elements: int, max_text: int) -> int | None:
    """`text_length` of an element of at most ``max_elements`` elements and
    ``max_text`` characters of text; None for a larger one, which is not read to its end."""
    size = 0
    for count, element in enumerate(node.iter()):
        if count >= max_elements:
            return None
        tail = element.tail if element is not node else None
        if tag_name(element) in (None, "script", "style", "template"):
            pieces: tuple[str | None, ...] = (tail,)  # a comment's, a script's text unseen
        else:
            pieces = (element.text, tail)
        size += sum(len("".join(piece.split())) for piece in pieces if piece)
        if size > max_text:
            return None
    return size


def _is_short(block: Element) -> bool:
    """Whether a block holds at most `_TEASER_TEXT` characters of text in at most
    PROBE_ELEMENTS elements; a longer one is not measured to its end."""
    size = 0
    for count, element in enumerate(block.iter()):
        if count > PROBE_ELEMENTS:
            return False
        pieces = (element.text, element.tail if element is not block else None)
        size += sum(len("".join(piece.split())) for piece in pieces if piece)
        if size > _TEASER_TEXT:
            return False
    return True


def _has_visible_words(link: Element) -> bool:
    """Whether a link shows words of its own (a headline), beyond text for screen
    readers only ("Enlarge"), in its first SHORT_TEXT_ELEMENTS elements."""
    return bool(text_of(link, SHORT_TEXT_ELEMENTS, hidden=is_screen_reader_only))


def _image_metadata(img: Element | None) -> dict[str, str]:
    """Alt text and title of an image: not enough for context, still worth keeping."""
    if img is None:
        return {}
    metadata: dict[str, str] = {}
    for name in ("alt", "title"):
        value = attr(img, name)
        if value:
            metadata[name] = collapse(value)[:MAX_METADATA_VALUE]
    return metadata


def _elementor_settings(node: Element) -> dict[str, object] | None:
    """The ``data-settings`` JSON of an Elementor widget; settings longer than
    MAX_WIDGET_SETTINGS characters are not read."""
    raw = node.get("data-settings") or ""
    settings = json_or_none(raw) if len(raw) <= MAX_WIDGET_SETTINGS else None
    return settings if isinstance(settings, dict) else None


def _embed_snippet(markup: str) -> bool:
    """Whether markup holds a platform's embed snippet (`_SNIPPET_CLASSES`), a frame
    with an address or a ``<video>``: a frame's document, where a frame's fallback
    ("Your browser does not support frames" and a picture) is none."""
    if "<" not in markup:
        return False
    try:
        root = parse_document(markup)
    except ExtractError:
        return False
    return any(
        tag_name(node) == "video"
        or (tag_name(node) == "iframe" and bool(node.get("src")))
        or not _SNIPPET_CLASSES.isdisjoint(_classes(node))
        for node in root.iter("blockquote", "div", "iframe", "video")
    )


def _classes(node: Element) -> set[str]:
    """Lower-cased class tokens."""
    return set((node.get("class") or "").lower().split())


def _is_player_still(node: Element) -> bool:
    """A background beside the ``<video>`` it stands for until played (Telegram's
    ``tgme_widget_message_video_thumb``): that video's still, not a photo."""
    parent = node.getparent()
    if parent is None:
        return False
    return any(video is not node for video in parent.iter("video"))


def _next_element(node: Element) -> Element | None:
    """Next sibling that is an element (comments and whitespace skipped)."""
    sibling = node.getnext()
    while sibling is not None and not isinstance(sibling.tag, str):
        sibling = sibling.getnext()
    return sibling


def _previous_element(node: Element) -> Element | None:
    """Previous sibling that is an element (comments and whitespace skipped)."""
    sibling = node.getprevious()
    while sibling is not None and not isinstance(sibling.tag, str):
        sibling = sibling.getprevious()
    return sibling
