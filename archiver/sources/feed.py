"""RSS, Atom and RDF (JSON Feed in ``jsonfeed``): each entry's link, its HTML content and
the files it attaches, ready for embed extraction."""

from __future__ import annotations

import calendar
import codecs
import contextlib
import html
import io
import re
from datetime import UTC, datetime
from typing import Any

from archiver.errors import FetchError
from archiver.extract.document import MAX_ELEMENTS, VOID_TAGS, large_document_turn
from archiver.extract.html import MAX_TITLE
from archiver.extract.structured import DeclaredMedia, media_from_mime
from archiver.extract.urls import resolve_url
from archiver.fetch.http import FEED_TYPES
from archiver.jsontext import json_or_none
from archiver.sources.dates import feed_moment, names_unknown_zone
from archiver.sources.entries import MAX_ATTACHMENTS, FeedEntry, declared_attachment
from archiver.sources.jsonfeed import is_json_feed, parse_json_feed
from archiver.store.mediatypes import unmarked_utf_encoding, web_codec

_FEED_ROOT = re.compile(r"<(rss|feed|rdf:RDF)[\s>]", re.IGNORECASE)
_FEED_ROOTS = frozenset({"rss", "feed", "rdf"})  # local names, lower-cased
_JSON_FEED_HOST = "jsonfeed.org"  # in any JSON Feed's version, whatever else is escaped
_SNIFF_BYTES = 65536  # enough for a licence comment or a long DOCTYPE before the root
# UTF-32 first: its little-endian mark starts with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_EBCDIC_DECLARATION = b"\x4c\x6f\xa7\x94"  # "<?xm" in cp037
_ENCODING_DECLARATION = re.compile(
    rb"[ \t\r\n]*<\?xml[^>]{0,200}?\bencoding[ \t\r\n]*=[ \t\r\n]*[\"']([A-Za-z0-9._:-]{1,40})[\"']"
)
_XML_DECLARATION = re.compile(r"<\?xml[ \t\r\n][^>]{0,1000}?\?>")
_UTF_ALIASES = frozenset(
    {"utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"}
)
_WINDOWS_1252_ALIASES = frozenset({"iso8859-1", "ascii"})  # Python's names for them
_DOCTYPE = re.compile(r"<!DOCTYPE", re.IGNORECASE)
# Where feedparser takes the document to begin (it reads entity declarations before it).
_FIRST_ELEMENT = re.compile(r"<[A-Za-z0-9_]")
_DECLARATION_PART = re.compile(r"\"|'|<!--|<\?|\[|\]|>")
_CLOSERS = {'"': '"', "'": "'", "<!--": "-->", "<?": "?>"}
_PROLOG_ITEM = re.compile(r"[ \t\r\n]+|<\?.*?\?>|<!--.*?-->", re.DOTALL)
_ELEMENT_NAME = re.compile(r"<([^\s/>!?]{1,100})")
_FALLBACK_ERRORS = "archiver.feed-windows-1252"
_CHARACTER_REFERENCE = re.compile(r"&#(?:[xX]([0-9A-Fa-f]+)|([0-9]+));")
_ATTACHMENT_FIELDS = ("type", "medium", "length", "width", "height", "duration")
# ``<link></link>``, ``<link/>``: no link, which feedparser takes for one (see `_prepared`)
_EMPTY_LINK = re.compile(r"<link[ \t\r\n]*(?:/>|>[ \t\r\n]*</link[ \t\r\n]*>)", re.IGNORECASE)


def _windows_1252_for_invalid(error: UnicodeError) -> tuple[str, int]:
    """Read bytes that are not UTF-8 as Windows-1252, one sequence at a time."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    invalid = error.object[error.start : error.end]
    return invalid.decode("cp1252", errors="replace"), error.end


codecs.register_error(_FALLBACK_ERRORS, _windows_1252_for_invalid)


def looks_like_feed(content_type: str, body: bytes) -> bool:
    """Decide feed or page from the document itself, then from the Content-Type.

    - A JSON object is a feed when it names a JSON Feed version (or a feed's type
      announced it), read from the whole document (`_is_json_feed`).
    - The root element decides when it is a feed's (an RSS script served as
      ``text/html``, PHP's default, is a feed) or ``html`` (an HTML page served as RSS
      is a page), read past a long prolog and in UTF-16 too.
    - Then a page's Content-Type is believed and a feed's decides; for any other type
      a feed's root near the start (after a PHP warning, say) still makes it a feed.
    """
    head = _decode(body[:_SNIFF_BYTES])
    if head.lstrip("\ufeff \t\r\n").startswith("{"):
        # a JSON Feed, whatever JSON type it was served as (or JSON a feed's type announced)
        return content_type in FEED_TYPES or _is_json_feed(body)
    root = _root_element(head)
    if root in _FEED_ROOTS:
        return True
    if root == "html" or content_type in ("text/html", "application/xhtml+xml"):
        return False
    if content_type in FEED_TYPES:
        return True
    start = head[:2048].lstrip()
    return bool(_FEED_ROOT.search(start)) and not start[:200].lower().startswith("<!doctype html")


def _is_json_feed(body: bytes) -> bool:
    """Whether the JSON document names a JSON Feed version, as parsed: PHP escapes its
    slashes (``https:\\/\\/jsonfeed.org``), and sorted keys put ``version`` after
    the items, past any first bytes. The whole body is read (it is bounded by
    ``max_page_size``), and only when it mentions JSON Feed at all."""
    text = _decode(body)
    return _JSON_FEED_HOST in text and is_json_feed(json_or_none(text))


def _decode(body: bytes, http_charset: str | None = None) -> str:
    """The feed as text: byte order mark, UTF-16 without one, then the XML declaration,
    then the charset the server's ``Content-Type`` names. A declaration wins over the
    server (RFC 7303 says otherwise): it is what the feed's author wrote, while servers
    name a default charset for every file (``AddDefaultCharset``).

    A feed declared (or taken to be) UTF-8 that is not is read by `_not_utf_8`.
    """
    for mark, codec in _BOMS:
        if body.startswith(mark):
            return body[len(mark) :].decode(codec, errors="replace")
    unmarked = unmarked_utf_encoding(body[:64])
    if unmarked is not None:
        return body.decode(unmarked, errors="replace")
    if body.startswith(_EBCDIC_DECLARATION):
        return body.decode("cp037", errors="replace")
    declared = _ENCODING_DECLARATION.match(body)
    encoding = _codec(declared.group(1).decode("ascii")) if declared else None
    if encoding is None and http_charset:
        encoding = _codec(http_charset)
    if encoding is None or encoding in _UTF_ALIASES:  # ASCII-readable bytes are not UTF-16
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            return _not_utf_8(body, http_charset)
    return body.decode(encoding, errors="replace")


def _not_utf_8(body: bytes, http_charset: str | None) -> str:
    """A feed declared (or taken to be) UTF-8 whose bytes are not.

    Mostly in another charset the server names, and readable in it whole: in that
    one (a Windows-1256 feed whose template declares UTF-8: read as UTF-8, every
    Arabic title was mojibake). Otherwise UTF-8 with the bytes of another encoding
    (a Windows-1252 item pasted into a UTF-8 feed) read as Windows-1252, one at a
    time, so a stray byte does not turn every other title into mojibake, even when
    the server names a default charset for every file.
    """
    served = _codec(http_charset) if http_charset else None
    if served is not None and served not in _UTF_ALIASES and not _mostly_utf_8(body):
        with contextlib.suppress(UnicodeDecodeError):
            return body.decode(served)
    return body.decode("utf-8", errors=_FALLBACK_ERRORS)


def _mostly_utf_8(body: bytes) -> bool:
    """Whether more of the characters past ASCII are well-formed UTF-8 than not."""
    text = body.decode("utf-8", errors="replace")
    invalid = text.count("\ufffd")
    past_ascii = len(text) - len(text.encode("ascii", errors="ignore"))
    return past_ascii - invalid > invalid


def _codec(label: str) -> str | None:
    """Python codec for a declared encoding; Latin-1 and ASCII read as Windows-1252, as
    browsers do; None for an unknown name (a typo must not make the feed unreadable)."""
    name = web_codec(label)
    if name is None:
        return None
    if name == "gb2312":
        return "gb18030"  # its superset, which feeds declared gb2312 really use
    return "cp1252" if name in _WINDOWS_1252_ALIASES else name


def _declaration_end(text: str, start: int) -> int:
    """Where the DOCTYPE declaration at ``start`` ends: after its ``>``, past quoted
    strings, comments, processing instructions and the internal subset. One left open
    ends at its first ``>``, as feedparser reads it (or at the end of the text)."""
    depth = 0
    position = start + len("<!DOCTYPE")
    while (found := _DECLARATION_PART.search(text, position)) is not None:
        part = found.group()
        closer = _CLOSERS.get(part)
        if closer is not None:
            end = text.find(closer, found.end())
            if end < 0:
                break
            position = end + len(closer)
            continue
        position = found.end()
        if part == ">" and depth == 0:
            return position
        if part == "[":
            depth += 1
        elif part == "]":
            depth = max(depth - 1, 0)
    first = text.find(">", start)
    return len(text) if first < 0 else first + 1


def _without_doctypes(text: str) -> str:
    """The feed with every DOCTYPE before its first element replaced by a space.

    Neither parser then knows an entity the feed declares: an external one
    (``SYSTEM "file:///etc/passwd"``) is never read, and nested or repeated ones (the
    "billion laughs" and quadratic blow-up) cannot expand a small feed into gigabytes.
    feedparser keeps declarations of plain-text entities and expands them without a
    limit in its fallback parser. The HTML entities feeds use (``&nbsp;``) are still
    known to that parser; a feed's own ones are left as written.
    """
    pieces: list[str] = []
    position = 0
    element = _FIRST_ELEMENT.search(text)
    while True:
        limit = element.start() if element is not None else len(text)
        found = _DOCTYPE.search(text, position, limit)
        if found is None:
            break
        pieces += [text[position : found.start()], " "]  # a space: no new "<!DOCTYPE" or "<x"
        position = _declaration_end(text, found.start())
        if element is not None and element.start() < position:
            element = _FIRST_ELEMENT.search(text, position)
    pieces.append(text[position:])
    return "".join(pieces)


def _root_element(text: str) -> str | None:
    """Local name of the document's root element, lower-cased (``rss``, ``feed``, ``rdf``,
    ``html``); None when something other than a prolog comes before it."""
    position = 0
    while True:
        if text[position : position + 9].upper() == "<!DOCTYPE":
            position = _declaration_end(text, position)
            continue
        item = _PROLOG_ITEM.match(text, position)
        if item is not None:
            position = item.end()
            continue
        name = _ELEMENT_NAME.match(text, position)
        return name.group(1).rsplit(":", 1)[-1].lower() if name else None


def _when(entry: Any) -> datetime | None:
    """When the entry was published, else updated: read here (`feed_moment`), else as
    feedparser read a form not known here."""
    for key in ("published", "updated"):
        # dict's own get: feedparser's answers "updated" with "published", and warns
        raw = dict.get(entry, key)
        understood, moment = feed_moment(raw) if isinstance(raw, str) else (False, None)
        if not understood and not (isinstance(raw, str) and names_unknown_zone(raw)):
            moment = _parsed_moment(dict.get(entry, f"{key}_parsed"))
        if moment is not None:
            return moment
    return None


def _parsed_moment(parsed: Any) -> datetime | None:
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (ValueError, OverflowError, OSError):  # a zone pushing year 1 before year 1
        return None


def _is_absolute_web_url(url: str) -> bool:
    return url.split(":", 1)[0].strip().lower() in ("http", "https")


def _link(entry: Any, feed_url: str) -> str | None:
    """The entry's page: its link, or its id when the feed says the id is one.

    feedparser copies the id into ``link`` (``guidislink``) for an RSS guid without
    isPermaLink="false" and for an Atom entry without a link; such an id is only a
    page when it is an absolute http(s) URL (not "post-42", "urn:uuid:...", "tag:...").
    An RSS guid with isPermaLink="false" is never a page; a permalink one beside an
    empty ``<link>`` is (`_prepared` drops that). Links are read as pages'
    links are (``resolve_url``): credentials the feed wrote in one are not kept.
    """
    link = str(entry.get("link") or "")
    if not link:
        return None
    if entry.get("guidislink") and not _is_absolute_web_url(link):
        return None
    return resolve_url(link, feed_url)


def _declared_base(detail: Any, feed_url: str) -> str | None:
    """The xml:base in scope where the feed wrote ``detail`` (a content or summary), or
    None when the feed declares none: feedparser then leaves its ``base`` empty (it is
    given no document URL)."""
    base = detail.get("base")
    return resolve_url(str(base), feed_url) if base else None


def _title(entry: Any) -> str | None:
    """The entry's title, at most MAX_TITLE characters (a feed may hold megabytes of it)."""
    title = entry.get("title")
    return str(title)[:MAX_TITLE] if title is not None else None


def _content(entry: Any, atom: bool) -> Any:
    """The entry's content as feedparser details it (``value``, ``base``): its HTML
    content (``content:encoded``, Atom ``<content>``), else its summary (RSS
    ``<description>``), else a plain-text content; an empty one hides none. In Atom a
    plain-text ``<content>`` comes before the ``<summary>``, an abstract of it.

    In RSS feedparser files a second summary-like element (a Mastodon attachment's
    ``<media:description>``, ``<itunes:summary>``, ``<dc:description>``) as plain-text
    content: read first, the photo's alt text stood in for the post's text and links.
    """
    contents = [c for c in entry.get("content") or [] if str(c.get("value") or "").strip()]
    for content in contents:
        if "html" in (content.get("type") or ""):
            return content
    summary = entry.get("summary_detail") or {}
    if contents and (atom or not str(summary.get("value") or "").strip()):
        return contents[0]
    return summary


def _attachments(entry: Any, feed_url: str) -> tuple[DeclaredMedia, ...]:
    """The files an entry attaches: RSS ``<enclosure>``, Atom ``<link rel="enclosure">``
    and out-of-line ``<content src="...">``, and Media RSS ``<media:content>`` (also
    inside ``<media:group>``), in that order.

    A declared video, image or audio type (or Media RSS ``medium``) makes the URL a file;
    otherwise only a platform post or a URL with a media file's extension is kept
    (``declared_embed``). Thumbnails are not evidence and are not read.
    """
    found: list[DeclaredMedia] = []
    declared = [("enclosure", item, item.get("href")) for item in entry.get("enclosures") or []]
    declared += [("content", item, url) for item, url in _media_sources(entry, feed_url)]
    declared += [
        ("media:content", item, item.get("url")) for item in entry.get("media_content") or []
    ]
    for source, item, url in declared[:MAX_ATTACHMENTS]:
        fields = {key: item.get(key) for key in _ATTACHMENT_FIELDS}
        attached = declared_attachment(url, item.get("type"), item.get("medium"), source, fields)
        if attached is not None:
            found.append(attached)
    return tuple(found)


def _media_sources(entry: Any, feed_url: str) -> list[tuple[Any, str | None]]:
    """Atom contents given out of line (``<content src="clip.mp4" type="video/mp4"/>``)
    whose type is video, image or audio, with their URL resolved as feedparser leaves
    it relative: against the xml:base in scope, else the feed's URL."""
    found: list[tuple[Any, str | None]] = []
    for content in entry.get("content") or []:
        src = content.get("src")
        if src and media_from_mime(content.get("type")):
            base = _declared_base(content, feed_url) or feed_url
            found.append((content, resolve_url(str(src), base)))
    return found


def _prepared(text: str) -> bytes:
    """The feed as UTF-8 without its XML declaration and DOCTYPE, and with no reference to
    a character that cannot be, for feedparser; raises FetchError for an HTML page, and
    for one nested too deep or too large to read (`_check_shape`).

    Empty ``<link>`` elements are dropped: feedparser took one for the item's link, so
    a permalink ``<guid>`` beside it was no page."""
    if _root_element(text) == "html":
        raise FetchError("not an RSS, Atom, RDF or JSON feed: an HTML page", retryable=False)
    if declaration := _XML_DECLARATION.match(text):
        text = text[declaration.end() :]  # it named the encoding of the bytes decoded above
    text = _CHARACTER_REFERENCE.sub(_possible_character, text)
    _check_shape(text)
    return _EMPTY_LINK.sub("", _without_doctypes(text)).encode("utf-8")


#: A feed whose elements nest deeper is not read. feedparser reads ill-formed XML with
#: memory growing as the square of the depth: 3,000 elements left open took 110 MB,
#: 10,000 took 720 MB, and 34,000 in an 800 KB feed over 20 GB.
MAX_FEED_DEPTH = 1024
#: The start of a start or end tag: its name, then attributes whose quoted values may
#: hold ``>`` (a value over `MAX_QUOTED` characters, or one left open, stops it short
#: of its ``>``: no tag). Possessive throughout: it never backtracks, and the scan goes
#: on from where it stopped, so no character is read twice.
MAX_QUOTED = 4096
_TAG_START = re.compile(
    r"<(/?+)([A-Za-z_][^\s/>\"']*+)"
    rf"((?:[^>\"']++|\"[^\"]{{0,{MAX_QUOTED}}}+\"|'[^']{{0,{MAX_QUOTED}}}+')*+)"
)
#: What holds no elements, and the text that ends it.
_SKIPPED = (("<![CDATA[", "]]>"), ("<!--", "-->"), ("<!", ">"), ("<?", ">"))


def _check_shape(text: str) -> None:
    """Refuse a feed that is nested deeper than `MAX_FEED_DEPTH` or holds more than
    `MAX_ELEMENTS` elements (as a page), before feedparser builds anything of it.

    The depth counts start tags against end tags, as an ill-formed feed is read: an
    element left open stays open. Void HTML elements (``<br>``, ``<img>``) and what
    CDATA sections, comments and declarations hold count for nothing. One pass,
    linear in the feed whatever it holds."""
    depth = elements = position = 0
    while (start := text.find("<", position)) >= 0:
        skipped = next((pair for pair in _SKIPPED if text.startswith(pair[0], start)), None)
        if skipped is not None:
            end = text.find(skipped[1], start + len(skipped[0]))
            if end < 0:
                return  # the rest is one unfinished section: no element in it
            position = end + len(skipped[1])
            continue
        tag = _TAG_START.match(text, start)
        if tag is None or not text.startswith(">", tag.end()):
            position = start + 1 if tag is None else tag.end() + 1  # "a < b", or no tag
            continue
        position = tag.end() + 1
        closing, name, attributes = tag.groups()
        if name.lower() in VOID_TAGS:  # holds nothing, its end tag closes nothing
            continue
        if closing:
            depth = max(depth - 1, 0)
            continue
        elements += 1
        if elements > MAX_ELEMENTS:
            raise FetchError(
                f"malformed feed: more than {MAX_ELEMENTS:,} elements", retryable=False
            )
        if not attributes.endswith("/"):
            depth += 1
            if depth > MAX_FEED_DEPTH:
                raise FetchError(
                    f"malformed feed: elements nested more than {MAX_FEED_DEPTH:,} deep",
                    retryable=False,
                )


def _possible_character(reference: re.Match[str]) -> str:
    """A numeric character reference as written if it names a character, else U+FFFD.

    feedparser turns ``&#x110000;`` into a ValueError and a 20-digit one into an
    OverflowError, failing the whole feed, and ``&#xD800;`` into a lone surrogate that
    no database or file can store."""
    hexadecimal, decimal = reference.group(1), reference.group(2)
    digits = hexadecimal or decimal
    if len(digits) > 8:
        return "&#xFFFD;"
    value = int(digits, 16 if hexadecimal else 10)
    if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        return "&#xFFFD;"
    return reference.group(0)


def parse_feed(body: bytes, feed_url: str, http_charset: str | None = None) -> list[FeedEntry]:
    """The feed's entries, in document order.

    HTML is kept as written (feedparser's sanitizer would strip the iframes and
    widget scripts that are the evidence); relative links are resolved later
    against each entry's ``base``. An entry without a page of its own (no link, or
    an id that is not a permalink) is kept with ``link`` None when it has content:
    its content may hold embeds worth archiving. The feed is decoded here and its
    DOCTYPE dropped (see ``_without_doctypes``) before feedparser reads it. A JSON
    document is read as a JSON Feed.
    ``http_charset`` is the charset the server named, for a feed that declares none.
    Raises FetchError (one line, not retryable) for what is not a feed.
    """
    text = _decode(body, http_charset).lstrip("\ufeff \t\r\n")
    if text.startswith("{"):
        return parse_json_feed(text, feed_url)
    with large_document_turn(body):  # feedparser's dicts can take 35 times the feed
        return _xml_entries(text, feed_url)


def _xml_entries(text: str, feed_url: str) -> list[FeedEntry]:
    import feedparser  # here: ``capture`` asks ``looks_like_feed`` and need not load it

    prepared = _prepared(text)
    try:
        parsed = feedparser.parse(
            # a stream: given bytes, feedparser first tries them as a file name to open
            # ("/etc/passwd", or "/dev/zero" as the whole body)
            io.BytesIO(prepared),
            sanitize_html=False,
            resolve_relative_uris=False,
            response_headers={},
        )
    except Exception as exc:  # feedparser's own bugs on hostile input: one line, no traceback
        # (a namespace URI with a no-break space in it: "too many values to unpack")
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FetchError(f"malformed feed: {reason}", retryable=False) from None
    atom = str(parsed.get("version") or "").startswith("atom")
    entries: list[FeedEntry] = []
    for entry in parsed.entries:
        detail = _content(entry, atom)
        link, content = _link(entry, feed_url), str(detail.get("value") or "")
        if atom and detail.get("type") == "text/plain":
            content = html.escape(content, quote=False)  # Atom's text: nothing in it is markup
        attachments = _attachments(entry, feed_url)
        if link is None and not content.strip() and not attachments:
            continue  # no page and no content: nothing to archive
        entries.append(
            FeedEntry(
                link=link,
                # relative URLs in it resolve against the xml:base in scope (XML Base)
                base=_declared_base(detail, feed_url) or link or feed_url,
                title=_title(entry),
                html=content,
                published=_when(entry),
                entry_id=entry.get("id") or None,
                attachments=attachments,
            )
        )
    if parsed.get("bozo") and not entries:
        # a broken feed whose loose parse still yields entries is used as far as it goes
        error = parsed.get("bozo_exception")
        reason = str(error).splitlines()[0] if error else "unreadable"
        raise FetchError(f"malformed feed: {reason}", retryable=False)
    if not entries and not parsed.get("version"):
        raise FetchError("not an RSS, Atom, RDF or JSON feed", retryable=False)
    return entries
