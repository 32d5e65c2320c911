"""Turn raw page bytes into an lxml tree, refusing input that is not HTML at all.

Pages arrive as bytes in whatever charset the site used (Arabic live blogs are often
windows-1256), truncated by timeouts, or as something else entirely when a server lies about
its content type. Decoding follows the page's own ``<meta charset>``; recovery from broken
markup is left to lxml; binary or tag-less input is refused with a one-line reason.
"""

from __future__ import annotations

import codecs
import ctypes
import functools
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import lxml.etree
import lxml.html

from archiver.extract.model import ExtractError
from archiver.extract.urls import resolve_url
from archiver.store.mediatypes import web_codec

Element = Any  # lxml.html.HtmlElement; lxml ships no type information

_PRESCAN_BYTES = 8192
#: libxml2's tree of a page can take 50 times the page (a 20 MB page of tiny elements:
#: 1 GB). Pages larger than this are parsed and walked one at a time in a process, so
#: that workers reading large pages side by side stay within the service's memory limit.
LARGE_DOCUMENT = 2 * 1024**2
_LARGE_DOCUMENT = threading.Lock()
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Leading bytes of common binary formats a server may send instead of a page.
_BINARY_MAGIC = (
    b"%PDF-", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b", b"PK\x03\x04", b"RIFF",
    b"OggS", b"ID3", b"fLaC", b"\x1aE\xdf\xa3", b"\x7fELF",
)  # fmt: skip
# Labels that WHATWG maps to windows-1252; the ISO name undersells what pages really use.
_LATIN1_ALIASES = frozenset({"iso-8859-1", "iso8859-1", "latin1", "latin-1", "us-ascii", "ascii"})
_MARKUP_START = re.compile(r"<[A-Za-z!?/]")
# A start tag of the elements that make markup a whole page rather than a fragment.
_STRUCTURE_TAG = re.compile(r"<(?:html|head|body)[\t\n\f\r />]", re.IGNORECASE)
# Elements that start a new paragraph of running text.
BLOCK_TAGS = frozenset(
    {
        "address", "article", "blockquote", "br", "center", "dd", "details", "div", "dl",
        "dt", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li", "main",
        "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th",
        "thead", "tr", "ul",
    }
)  # fmt: skip
# Elements that are (or may hold) embedded media: HTML's, players' own (Brightcove's,
# click-to-load ones) and AMP's.
MEDIA_TAGS = frozenset(
    {
        "img", "picture", "iframe", "frame", "video", "audio", "embed", "object",
        "blockquote", "video-js", "lite-youtube", "lite-vimeo", "amp-img", "amp-anim",
        "amp-video", "amp-audio", "amp-iframe", "amp-video-iframe", "amp-brightcove",
        "amp-youtube", "amp-vimeo", "amp-dailymotion", "amp-twitter", "amp-instagram",
        "amp-tiktok", "amp-facebook", "amp-reddit", "amp-jwplayer",
    }
)  # fmt: skip
_SKIPPED_TEXT_TAGS = frozenset({"script", "style", "template", "noscript"})
# Elements read for text that is only looked at in part (a label at a paragraph's start,
# a heading, a caption): enough for any real one, and a bound on nested ones.
PROBE_ELEMENTS = 16
SHORT_TEXT_ELEMENTS = 64
# ``huge_tree`` lifts libxml2's safety limits (nesting deeper than 256 elements, text nodes
# and attributes over 10 MB): without it such pages, which broken live blogs and inline
# ``data:`` images produce, silently parse to nothing. Everything reading the tree is
# non-recursive, so deep trees cost no Python stack.
_PARSER = lxml.html.HTMLParser(
    encoding="utf-8",
    recover=True,
    no_network=True,
    remove_pis=True,
    default_doctype=False,
    huge_tree=True,
)
# Reads only the head of undecoded bytes to find the declared charset; latin-1 maps every byte.
_PRESCAN_PARSER = lxml.html.HTMLParser(
    encoding="iso-8859-1", recover=True, no_network=True, huge_tree=True
)
# For markup served as text (a ``<noscript>`` body), with the same limits as whole pages.
_FRAGMENT_PARSER = lxml.html.HTMLParser(recover=True, no_network=True, huge_tree=True)

# libxml2 compares each attribute of a tag with all the tag's earlier ones: 40,000
# attributes on one element took 4 s to parse, a 20 MB page of them hours. No element
# needs more than this many; the rest are dropped before parsing.
MAX_ATTRIBUTES = 256
#: A page with more elements is not read: its tree would take gigabytes (about 300
#: bytes an element, parsed and walked), past the service's memory limit. Real pages,
#: 20 MB live blogs included, hold a few hundred thousand.
MAX_ELEMENTS = 1_000_000
#: How deep a page's elements nest at most once `_flatten` has read it (libxml2 stops
#: at 2,048; a parser's implied elements, such as a table's ``<tbody>``, stay below).
MAX_DEPTH = 1024
VOID_TAGS = frozenset(
    {
        "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "img",
        "input", "keygen", "link", "meta", "param", "source", "track", "wbr",
    }
)  # fmt: skip
# Markup as the HTML5 tokenizer (which libxml2 follows) reads it, to find tags and where
# they end: comments (``<!-->``, ``--!>`` included), ``<!...>`` and ``<?...>`` up to the
# first ``>``, and start or end tags whose attribute values may hold ``>``.
_ATTRIBUTE = (
    r"[\t\n\f\r /]*+[^\t\n\f\r />][^\t\n\f\r />=]*+"
    r"(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:\"[^\"]*+\"?|'[^']*+'?|[^\t\n\f\r >]*+))?+"
)
_ONE_ATTRIBUTE = re.compile(_ATTRIBUTE)
_MARKUP = re.compile(
    r"<!--(?:-?>|[^-]*+(?:-(?!-!?>)[^-]*+)*+(?:--!?>)?)"
    r"|<(?:[!?]|/(?![A-Za-z]))[^>]*+>?"
    rf"|<(?P<end>/?)(?P<name>[A-Za-z][^\t\n\f\r />]*+)(?P<attributes>(?:{_ATTRIBUTE})*+)"
    r"(?P<close>[\t\n\f\r /]*+>?)"
)
# Elements whose content is text up to their end tag (unless written self-closing: libxml2
# then reads on as markup); ``plaintext`` has no end.
_RAW_TEXT_ENDS = {
    name: re.compile(rf"</{name}[\t\n\f\r />]", re.IGNORECASE)
    for name in ("style", "textarea", "title", "xmp", "iframe", "noembed", "noframes")
}
# What changes state inside a script: "<!--" escapes it, and in there "<script" makes a
# "</script>" end only that inner script (old ``document.write`` code does this).
_SCRIPT_MARK = re.compile(r"<!--|-->|<(/?)script(?=[\t\n\f\r />])", re.IGNORECASE)


def large_document_turn(data: bytes | str) -> AbstractContextManager[object]:
    """Hold this while a document's tree exists: large documents take turns."""
    return _large_document() if len(data) > LARGE_DOCUMENT else nullcontext()


@contextmanager
def _large_document() -> Iterator[None]:
    with _LARGE_DOCUMENT:
        try:
            yield
        finally:
            _release_free_memory()


def _release_free_memory() -> None:
    """Give the freed tree back to the system. Each worker thread allocates from its
    own malloc arena, which keeps what it freed: without this, every worker that once
    read a large page would go on holding the memory of its tree."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``; None where the C library has none."""
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def parse_document(data: bytes | str, charset: str | None = None) -> Element:
    """Parse a whole page; raises ExtractError for empty, binary or tag-less input.
    ``charset``: what the server's Content-Type named, which a byte order mark
    overrides and which overrides the page's own ``<meta charset>`` (as browsers do)."""
    if isinstance(data, bytes):
        text = decode_page(data, charset)
    elif isinstance(data, str):
        text = data
    else:
        raise ExtractError(f"cannot extract from {type(data).__name__}, expected bytes or str")
    if not text.strip():
        raise ExtractError("empty document")
    if _looks_binary(text[:_PRESCAN_BYTES]) or _MARKUP_START.search(text) is None:
        raise ExtractError("not an HTML document")
    text = _limit_attributes(text)
    try:
        root = lxml.html.document_fromstring(text.encode("utf-8", errors="replace"), parser=_PARSER)
        if _too_deep(_PARSER):
            flat = _flatten(text, MAX_DEPTH).encode("utf-8", errors="replace")
            root = lxml.html.document_fromstring(flat, parser=_PARSER)
    except (lxml.etree.ParserError, ValueError) as err:
        raise ExtractError(f"not an HTML document: {_one_line(str(err))}") from err
    if root is None or not isinstance(root.tag, str):
        raise ExtractError("not an HTML document")
    if _STRUCTURE_TAG.search(text) is None:
        _scripts_to_body(root)
    return root


def _scripts_to_body(root: Element) -> None:
    """Move the scripts the parser put into an implied ``<head>`` to the start of the
    body. Markup without ``<html>``, ``<head>`` or ``<body>`` is a fragment (a feed
    entry, a frame's ``srcdoc``, a consent plugin's held-back embed), and libxml2 puts
    a script at its start into the head, where the content is not looked for: a
    Telegram, JW Player or Dailymotion script embed there was lost. Everything in an
    implied head comes before the body's content, so the order stays the page's."""
    head = root.find("head")
    scripts = [] if head is None else [node for node in head if node.tag == "script"]
    if not scripts:
        return
    body = root.find("body")
    if body is None:
        body = root.makeelement("body", {})
        root.append(body)
    for position, script in enumerate(scripts):
        script.tail = None  # the head holds no text; whitespace at most
        body.insert(position, script)
    scripts[-1].tail, body.text = body.text, None  # text the body opened with follows them


def _limit_attributes(text: str) -> str:
    """The page with the attributes of any tag past the first MAX_ATTRIBUTES left out;
    ExtractError when it has more than MAX_ELEMENTS elements.

    Tags are found the way the parser will find them (`_tags`), so none is missed or
    cut inside a script, a comment or an attribute value; the scan is linear in the page.
    """
    pieces: list[str] = []
    kept = elements = 0
    for found in _tags(text):
        if not found.group("end"):
            elements += 1
            if elements > MAX_ELEMENTS:
                raise ExtractError(
                    f"more than {MAX_ELEMENTS:,} elements: a page this large is not read"
                    " (its tree would take gigabytes)"
                )
        start, end = found.span("attributes")
        if end - start > 2 * MAX_ATTRIBUTES:  # each attribute takes at least two characters
            cut = start
            for _ in range(MAX_ATTRIBUTES):
                attribute = _ONE_ATTRIBUTE.match(text, cut, end)
                if attribute is None:
                    break
                cut = attribute.end()
            if cut < end:
                pieces += [text[kept:cut], " "]  # the space ends an unquoted value as before
                kept = end
    if not pieces:
        return text
    pieces.append(text[kept:])
    return "".join(pieces)


def _tags(text: str) -> Iterator[re.Match[str]]:
    """The start and end tags of a page as the parser reads them: none in a comment,
    a script or the text of a ``<title>`` or ``<textarea>``."""
    position = 0
    while (found := _MARKUP.search(text, position)) is not None:
        position = found.end()
        name = found.group("name")
        if name is None:
            continue
        yield found
        if found.group("end") or found.group("close").endswith("/>"):
            continue
        tag = name.lower()
        if tag == "plaintext":
            return
        if tag == "script":
            position = _script_end(text, position)
            continue
        raw_text_end = _RAW_TEXT_ENDS.get(tag)
        if raw_text_end is not None:
            text_end = raw_text_end.search(text, position)
            position = len(text) if text_end is None else text_end.start()


def _flatten(text: str, limit: int) -> str:
    """The page with elements nested past ``limit`` left out (their start and end
    tags), what they hold kept in the page at that depth.

    libxml2 stops reading a page nested 2,048 elements deep (a live blog that leaves
    each update's wrapper open) and drops the rest without a word; browsers keep such
    content. Past ``limit``, the elements a page never closes (the runaway wrappers)
    are left out, so the paragraphs and labels inside them keep their shape; past
    ``limit + _DEPTH_BAND``, every element is. Depth is counted from the tags as
    written: elements HTML lets a page leave open (``<p>``, ``<li>``) count more than
    they nest, which only flattens such a page more.
    """
    tags = list(_tags(text))
    closed = _explicitly_closed(tags)
    pieces: list[str] = []
    kept = depth = 0
    open_elements: list[tuple[str, bool]] = []  # (tag, left out)
    for number, found in enumerate(tags):
        tag = found.group("name").lower()
        if found.group("end"):
            index = _opened_by(open_elements, tag)
            if index is None:
                continue
            if open_elements[index][1]:
                pieces.append(text[kept : found.start()])
                kept = found.end()
            depth -= sum(1 for _, left_out in open_elements[index:] if not left_out)
            del open_elements[index:]
        elif _opens(found, tag):
            left_out = depth >= limit + _DEPTH_BAND or (depth >= limit and not closed[number])
            open_elements.append((tag, left_out))
            if left_out:
                pieces.append(text[kept : found.start()])
                kept = found.end()
            else:
                depth += 1
    if not pieces:
        return text
    pieces.append(text[kept:])
    return "".join(pieces)


#: How much deeper than `MAX_DEPTH` elements a page closes may still nest.
_DEPTH_BAND = 512
#: How far down the open elements an end tag looks for the one it ends; past that it
#: ends nothing (as a stray end tag), so a page of stray end tags costs linear time.
_END_TAG_REACH = 64


def _explicitly_closed(tags: list[re.Match[str]]) -> list[bool]:
    """For each tag of `_tags`, whether it is a start tag that an end tag closes."""
    closed = [False] * len(tags)
    open_elements: list[tuple[str, int]] = []  # (tag, its number)
    for number, found in enumerate(tags):
        tag = found.group("name").lower()
        if found.group("end"):
            index = _opened_by(open_elements, tag)
            if index is not None:
                closed[open_elements[index][1]] = True
                del open_elements[index:]
        elif _opens(found, tag):
            open_elements.append((tag, number))
    return closed


def _opens(found: re.Match[str], tag: str) -> bool:
    """Whether a start tag opens an element that holds what follows (not ``<br>``,
    not ``<div/>``)."""
    return tag not in VOID_TAGS and not found.group("close").endswith("/>")


def _opened_by(open_elements: Sequence[tuple[str, object]], tag: str) -> int | None:
    """Where among the open elements the one an end tag for ``tag`` ends is, if any."""
    for index in range(len(open_elements) - 1, max(len(open_elements) - _END_TAG_REACH, 0) - 1, -1):
        if open_elements[index][0] == tag:
            return index
    return None


def _too_deep(parser: lxml.etree.HTMLParser) -> bool:
    """Whether the parser's last page was nested past libxml2's limit (it stopped there)."""
    return any("Excessive depth" in entry.message for entry in parser.error_log)


def _script_end(text: str, position: int) -> int:
    """Where the text of a script starting at ``position`` ends (its ``</script``), with
    the HTML5 tokenizer's escaped and double-escaped states."""
    state = "data"
    while (mark := _SCRIPT_MARK.search(text, position)) is not None:
        token = mark.group().lower()
        position = mark.end()
        if token == "<!--":
            position -= 2  # its dashes may be those of a "-->"
            state = "escaped" if state == "data" else state
        elif token == "-->":
            state = "data"
        elif mark.group(1):  # </script
            if state != "double":
                return mark.start()
            state = "escaped"
        elif state == "escaped":  # <script
            state = "double"
    return len(text)


#: Undeclared text is UTF-8 when it holds this many well-formed non-ASCII characters
#: per damaged byte; else cp1252 (whose accented letters are rarely valid UTF-8).
MOSTLY_UTF8 = 8


def decode_page(data: bytes, served: str | None = None) -> str:
    """Decode page bytes: BOM, then the charset the server named, then the page's
    declared one, then UTF-8 (also with a few damaged bytes), then cp1252."""
    if not data.strip():
        return ""
    if data.startswith(_BINARY_MAGIC) or data[4:8] == b"ftyp":
        raise ExtractError("not an HTML document (binary data)")
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    if data.startswith((b"<\x00", b"\x00<")):  # UTF-16 without a byte order mark
        encoding = "utf-16-le" if data[0] == ord("<") else "utf-16-be"
        return data.decode(encoding, errors="replace")
    declared = _known_encoding(served) or _declared_charset(data[:_PRESCAN_BYTES])
    if declared is not None:
        return data.decode(declared, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", errors="replace")
    damaged = text.count("\ufffd")
    decoded = sum(1 for char in text if char > "\x7f") - damaged
    if decoded >= MOSTLY_UTF8 * damaged:
        return text  # UTF-8 with a damaged byte or two (a cut transfer): not cp1252
    return data.decode("cp1252", errors="replace")


def _declared_charset(head: bytes) -> str | None:
    """Charset named by ``<meta charset>`` or ``<meta http-equiv=content-type>`` in the head."""
    try:
        probe = lxml.html.document_fromstring(head, parser=_PRESCAN_PARSER)
    except (lxml.etree.ParserError, ValueError):
        return None
    for meta in probe.iter("meta"):
        label = meta.get("charset")
        if label is None and (meta.get("http-equiv") or "").strip().lower() == "content-type":
            label = _charset_from_content_type(meta.get("content") or "")
        encoding = _known_encoding(label)
        if encoding is not None:
            return encoding
    return None


def charset_of(headers: dict[str, str]) -> str | None:
    """The charset a response's Content-Type names, if any."""
    return _charset_from_content_type(headers.get("content-type") or "")


def _charset_from_content_type(value: str) -> str | None:
    """The ``charset=`` parameter of a Content-Type value."""
    for parameter in value.split(";")[1:]:
        name, _, charset = parameter.partition("=")
        if name.strip().lower() == "charset":
            return charset.strip().strip("\"'")
    return None


def _known_encoding(label: str | None) -> str | None:
    """Python codec for a charset label, or None if unknown (a typo must not break decoding)."""
    if not label:
        return None
    label = label.strip().lower()
    if label in _LATIN1_ALIASES:
        return "cp1252"
    if label in ("utf-16", "utf-16le", "utf-16be"):
        return "utf-8"  # an ASCII-readable page cannot really be UTF-16; browsers agree
    return web_codec(label)


def _looks_binary(sample: str) -> bool:
    """Whether decoded text is full of control characters, i.e. not a text document (a few
    stray ones occur in real, broken pages)."""
    controls = sum(1 for char in sample if ord(char) < 32 and char not in "\t\n\r\f")
    return controls > max(8, len(sample) // 100)


def _one_line(message: str) -> str:
    """First line of a message, for errors that must stay on one line."""
    return message.strip().splitlines()[0] if message.strip() else "parse failed"


def page_base(root: Element, base_url: str) -> str:
    """Base for relative URLs: the first ``<base>`` with an href, resolved against the page
    URL, as browsers take it; a later one is ignored even when the first is not an http(s)
    URL (``javascript:``, ``data:``), which leaves the page's own URL."""
    for base in root.iter("base"):
        href = base.get("href")
        if href is not None:
            return resolve_url(href, base_url) or base_url
    return base_url


def tag_name(node: Element) -> str | None:
    """Tag of an element (the HTML parser lower-cases them); None for comments, processing
    instructions and None."""
    tag = getattr(node, "tag", None)
    return tag if isinstance(tag, str) else None


def is_shadow_root(node: Element) -> bool:
    """A declarative shadow root, ``<template shadowrootmode="open">`` (``shadowroot``
    in Chrome's first version): browsers show what it holds in its host element, a web
    component's player or post, while a plain template's content is never shown."""
    return node.tag == "template" and (
        "shadowrootmode" in node.attrib or "shadowroot" in node.attrib
    )


def attr(node: Element, *names: str) -> str | None:
    """First non-blank value among the named attributes."""
    for name in names:
        value = node.get(name)
        if value is not None and value.strip():
            return str(value).strip()
    return None


def with_class(root: Element, name: str) -> list[Element]:
    """``root`` and its descendants whose ``class`` lists ``name``, in document order."""
    query = (
        f"descendant-or-self::*[contains(concat(' ', normalize-space(@class), ' '), ' {name} ')]"
    )
    return list(root.xpath(query))


def collapse(text: str) -> str:
    """Whitespace runs (including non-breaking spaces) as single spaces, trimmed."""
    return " ".join(text.split())


def iter_text(
    node: Element,
    stop_at: frozenset[str] = frozenset(),
    max_elements: int | None = None,
    hidden: Callable[[Element], bool] | None = None,
) -> Iterator[str]:
    """Text inside an element in document order, leaving out scripts, styles and templates
    other than shadow roots (and descendants ``hidden`` says are not seen); block
    boundaries come out as a space so that paragraphs do not run together. Stops at the
    first descendant whose tag is in ``stop_at``, or after entering ``max_elements``
    elements (callers that need only a little text must not walk a huge subtree for it)."""
    stack: list[tuple[Element, bool]] = [(node, False)]
    entered = 0
    while stack:
        current, tail_only = stack.pop()
        tag = current.tag  # the HTML parser lower-cases tags; comments have a non-str tag
        if tail_only:
            if tag in BLOCK_TAGS:
                yield " "
            if current.tail:
                yield current.tail
            continue
        if not isinstance(tag, str) or (tag in _SKIPPED_TEXT_TAGS and not is_shadow_root(current)):
            continue
        if tag in stop_at and current is not node:
            return
        if hidden is not None and current is not node and hidden(current):
            continue
        entered += 1
        if max_elements is not None and entered > max_elements:
            return
        if current.text:
            yield current.text
        for child in reversed(current):
            stack.append((child, True))
            stack.append((child, False))


def text_of(
    node: Element,
    max_elements: int | None = None,
    hidden: Callable[[Element], bool] | None = None,
) -> str:
    """Visible text of an element, whitespace-collapsed; of its first ``max_elements``
    elements only, if given, and without the descendants ``hidden`` leaves out. A
    sentence that ends where the next element's text begins with a capital is kept apart
    from it: a caption and its credit in spans of their own ("on Tuesday." and
    "Credit...") read "on Tuesday.Credit..." otherwise."""
    pieces: list[str] = []
    for piece in iter_text(node, max_elements=max_elements, hidden=hidden):
        if pieces and piece[:1].isupper() and pieces[-1][-1:] in _SENTENCE_ENDS:
            pieces.append(" ")
        pieces.append(piece)
    return collapse("".join(pieces))


_SENTENCE_ENDS = frozenset(".!?…")


def text_length(node: Element) -> int:
    """Amount of visible, non-whitespace text in an element (for comparing containers).

    Computed from lxml's native text extraction minus script/style text: it runs on whole
    pages, so it has to be fast rather than exact about nested scripts."""
    total = _nonspace(node.text_content())
    for hidden in node.iter(*_SKIPPED_TEXT_TAGS):
        if not is_shadow_root(hidden):
            total -= _nonspace(hidden.text_content())
    return max(total, 0)


def _nonspace(text: str) -> int:
    """Number of non-whitespace characters."""
    return len("".join(text.split()))


def leading_text(node: Element, limit: int = 160) -> str:
    """First ``limit`` characters of an element's visible text before any media element in
    it (text after a photo does not open the container), cheap on huge containers: at
    most PROBE_ELEMENTS elements are read. Each element of a page may be probed, so the
    text of 2,000 empty nested elements was walked 2,000 times (5 s for 20 KB of page)."""
    pieces: list[str] = []
    size = 0
    for piece in iter_text(node, MEDIA_TAGS, PROBE_ELEMENTS):
        pieces.append(piece)
        size += len(piece)
        if size >= limit * 2:
            break
    return collapse("".join(pieces))[:limit]


def fragment_elements(markup: str) -> list[Element]:
    """Elements of an HTML fragment given as text (a ``<noscript>`` body served as text),
    with the same bound on attributes as whole pages."""
    try:
        fragments = lxml.html.fragments_fromstring(
            _limit_attributes(markup), parser=_FRAGMENT_PARSER
        )
    except (lxml.etree.ParserError, ValueError):
        return []
    return [fragment for fragment in fragments if not isinstance(fragment, str)]
