"""Pick the one URL worth archiving from a media element's many attributes.

Images come as responsive ``srcset`` lists, lazy-loading ``data-*`` attributes over a
placeholder ``src``, or ``<picture>`` sources; videos list several ``<source>`` encodings.
Evidence wants the largest, most faithful rendition, and nothing from pixels or icons.
"""

from __future__ import annotations

import math
import posixpath
import re
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from archiver.extract.document import Element, attr, tag_name
from archiver.extract.urls import (
    file_url,
    is_avatar_url,
    is_tracker_url,
    media_type_of_url,
    refusal,
    resolve_url,
)

_TRANSCODE_OPTION = re.compile(r"(?:format[:/=]|[?&/,]fm=|[/,]f_)(?:webp|avif)\b")
#: Lazy loaders' attributes naming an element's background photo.
BACKGROUND_ATTRS = ("data-bg", "data-background-image")
STYLE_PROBE = 4096  # characters of an inline style searched for a background photo
# Lazy loaders' first (NitroPack's and Ezoic's have their own names), then srcset.
_SRCSET_ATTRS = (
    "data-srcset", "data-lazy-srcset", "nitro-lazy-srcset", "data-ezsrcset", "srcset",
)  # fmt: skip
# The photo at full size, named beside the sizes a page shows: Jetpack's original upload
# (its srcset holds resized copies without the EXIF data), a Gutenberg gallery's full
# image, a lightbox's. Taken before any srcset when it is an image on the host of the
# image shown (a gallery's markup keeps the address it was saved with through a move to
# another domain: a dead host's file would stand for the photo the page shows).
_FULL_SIZE_ATTRS = ("data-orig-file", "data-full-url", "data-full-src", "data-hi-res-src")
# What lazy loaders swap in for a stand-in src: lazysizes and the like, NitroPack
# (nitro-lazy-src), Ezoic (data-ezsrc), echo.js (data-echo).
_LAZY_SRC_ATTRS = (
    "data-src", "data-lazy-src", "data-original", "data-original-src", "data-lazy",
    "nitro-lazy-src", "data-ezsrc", "data-echo",
)  # fmt: skip
_SRC_ATTRS = (*_FULL_SIZE_ATTRS, *_LAZY_SRC_ATTRS, "src")
# Words in an attribute's name that say it holds something other than the photo (a
# low-quality preview, a thumbnail, a link, a share button's picture): never taken for
# an unknown lazy loader's address.
_NOT_THE_PHOTO = (
    "srcset", "placeholder", "lqip", "preview", "thumb", "blur", "low", "small", "tiny",
    "poster", "link", "href", "pin", "fallback", "default", "author", "avatar", "logo",
    "medium", "error", "missing", "noimage", "no-image",
)  # fmt: skip
# Words in an attribute's name that say it holds the photo at a large size (Jetpack's
# data-large-file, a lightbox's data-zoom-image): taken before an unknown lazy loader's
# other attributes.
_FULL_SIZE_WORDS = ("large", "full", "orig", "hires", "hi-res", "zoom")
# Consent managers park a frame's address until the reader agrees: Complianz
# (data-src-cmplz) and Cookiebot (data-cookieblock-src), with src="about:blank".
_FRAME_SRC_ATTRS = (
    "data-src", "data-lazy-src", "data-original", "data-url", "data-src-cmplz",
    "data-cookieblock-src", "src",
)  # fmt: skip
_PLACEHOLDER_NAMES = frozenset(
    {"blank", "spacer", "transparent", "clear", "pixel", "placeholder", "lazy", "lazyload",
     "loading", "loader", "grey", "gray", "empty", "1x1", "dummy", "trans"}
)  # fmt: skip
_PLACEHOLDER_PARTS = ("placeholder", "spacer", "lazyload", "lazy-load", "lazy_load")
#: Stand-in names an upload may carry too (a photo of a clearing, of an empty street)
_UPLOAD_LIKE_STAND_INS = frozenset({"clear", "empty", "grey", "gray"})
#: An ``<img>``'s attributes that hold words or sizes, never an address
_WORDS_NOT_ADDRESSES = frozenset(
    {"src", "alt", "title", "class", "style", "width", "height", "id", "loading", "decoding",
     "sizes", "fetchpriority", "role", "crossorigin", "referrerpolicy"}
)  # fmt: skip
_FILE_NAME = re.compile(r"\.[a-z0-9]{2,5}$", re.IGNORECASE)
_TINY = 48
_PX = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:px)?\s*$", re.IGNORECASE)
_STYLE_SIZE = re.compile(
    r"(?:^|[;\s])(width|height)\s*:\s*(\d+(?:\.\d+)?)(px|r?em)\b", re.IGNORECASE
)
_EM_PIXELS = 16  # a browser's default font size: an emoji image is 1em high
_FRAMES = frozenset({"iframe", "embed", "object"})
_ICHEF_WIDTH = re.compile(r"(https?://ichef\.bbci\.co\.uk/news/)(\d{2,4})(/.+)")
# a side given relative to the container (``width="100%"``, ``width: 80vw``)
_RELATIVE_SIDE = re.compile(r"^\s*\d+(?:\.\d+)?\s*%\s*$")
_STYLE_RELATIVE_SIDE = re.compile(
    r"(?:^|[;\s])(?:width|height)\s*:\s*\d+(?:\.\d+)?\s*(?:%|vw|vh)", re.IGNORECASE
)
_RESOLUTION = re.compile(r"(\d{3,4})\s*p?\b|\b([248])k\b", re.IGNORECASE)
_K_LINES = {"2": 1440, "4": 2160, "8": 4320}
_FORMAT_RANK = {
    "mp4": 3, "m4v": 3, "m4a": 3, "mp3": 3, "flac": 3, "wav": 3, "webm": 2, "mov": 2,
    "mkv": 2, "ogg": 2, "ogv": 2, "oga": 2, "opus": 2, "m3u8": 0, "mpd": 0,
    "x-mpegurl": 0, "dash+xml": 0, "mpeg": 3, "quicktime": 2,
}  # fmt: skip
# AMP layouts in which width and height are a shape or nothing, not pixels.
_AMP_RELATIVE_LAYOUTS = frozenset({"responsive", "fill", "flex-item", "container"})
# Brightcove names: a numeric account, a numeric video id or a reference id ("ref:…"),
# player and embed ids of letters, digits, "-" and "_".
_BRIGHTCOVE_ACCOUNT = re.compile(r"\d{1,20}", re.ASCII)
_BRIGHTCOVE_VIDEO = re.compile(r"\d{1,20}|ref:[\w.-]{1,150}", re.ASCII)
_BRIGHTCOVE_NAME = re.compile(r"[\w-]{1,64}", re.ASCII)
# Where readers are asked for money: a donation platform's host, or a page of any site
# named for giving ("/donate", PayPal's "paypal.com/donate").
_DONATION_HOSTS = (
    "patreon.com", "ko-fi.com", "buymeacoffee.com", "paypal.me", "liberapay.com",
    "opencollective.com",
)  # fmt: skip
_DONATION_PAGES = frozenset({"donate", "donation", "donations"})
#: Cheap test of a link's address as written before it is resolved and looked at.
DONATION_HINTS = ("donat", *_DONATION_HOSTS)


@dataclass(frozen=True)
class SrcsetCandidate:
    """One entry of a ``srcset``: URL with its width (``w``) or density (``x``) descriptor."""

    url: str
    width: float | None
    density: float


def parse_srcset(value: str) -> list[SrcsetCandidate]:
    """Entries of a ``srcset`` attribute; URLs may contain commas (image CDNs use them)."""
    candidates: list[SrcsetCandidate] = []
    position, length = 0, len(value)
    while position < length:
        while position < length and (value[position].isspace() or value[position] == ","):
            position += 1
        start = position
        while position < length and not value[position].isspace():
            position += 1
        url = value[start:position]
        descriptor = ""
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            end = value.find(",", position)
            end = length if end < 0 else end
            descriptor, position = value[position:end].strip(), end
        if url:
            candidates.append(_candidate(url, descriptor))
    return candidates


def _candidate(url: str, descriptor: str) -> SrcsetCandidate:
    """A srcset entry from its URL and descriptor text ("800w", "2x", or nothing)."""
    width: float | None = None
    density = 1.0
    for token in descriptor.lower().split():
        try:
            number = float(token[:-1])
        except ValueError:
            continue
        if not math.isfinite(number):  # "NaNw" from a broken script: no size at all
            continue
        if token.endswith("w"):
            width = number
        elif token.endswith("x"):
            density = number
    return SrcsetCandidate(url, width, density)


def largest(candidates: list[SrcsetCandidate], base: str) -> str | None:
    """Absolute URL of the largest fetchable candidate: by width when widths are given,
    else by pixel density. Of equal ones, a rendition in the image's own format beats a
    WebP or AVIF transcode of it; then the first wins."""
    found = _largest(candidates, base)
    return found[1] if found else None


def _largest(candidates: list[SrcsetCandidate], base: str) -> tuple[SrcsetCandidate, str] | None:
    usable = [
        (candidate, resolved)
        for candidate in candidates
        if (resolved := resolve_url(candidate.url, base)) is not None
        and not is_placeholder(resolved)
    ]
    if not usable:
        return None
    by_width = any(candidate.width is not None for candidate, _ in usable)

    def size(pair: tuple[SrcsetCandidate, str]) -> float:
        return (pair[0].width or 0.0) if by_width else pair[0].density

    top = size(max(usable, key=size))
    tied = [pair for pair in usable if size(pair) == top]
    return next((pair for pair in tied if not _is_transcode(pair[1])), tied[0])


def _is_transcode(url: str) -> bool:
    """Whether an image URL names a WebP or AVIF rendition (sites add them beside the
    JPEG or PNG that was uploaded): by its extension, or an image service's format
    option (``/format:webp/``, ``/format/webp/``, ``fm=webp``, ``f_avif``)."""
    parts = urlsplit(url.lower())
    return parts.path.endswith((".webp", ".avif")) or bool(
        _TRANSCODE_OPTION.search(f"{parts.path}?{parts.query}")
    )


def image_url(img: Element, base: str) -> str | None:
    """Full-size URL of an ``<img>``: the full size it names (`_full_size_url`), else
    the largest ``srcset`` entry (lazy variants first), else the lazy ``data-src`` family,
    else ``src``; placeholders and ``data:`` URIs are skipped.
    A ``src`` declared wider than every ``srcset`` entry is the original itself (Ghost
    names the upload in ``src`` and its smaller copies in ``srcset``), unless ``src``
    is one of those copies (the declared width is then the photo's, not the file's)."""
    shown = _largest_srcset_url(img, base) or _displayed_src(img, base)
    return _full_size_url(img, base, shown) or shown


def _largest_srcset_url(img: Element, base: str) -> str | None:
    """The largest entry of an ``<img>``'s first ``srcset`` that has one, or its ``src``
    when that is declared wider than all of them (see `image_url`)."""
    for name in _SRCSET_ATTRS:
        value = attr(img, name)
        if value:
            candidates = parse_srcset(value)
            found = _largest(candidates, base)
            if found:
                widest, url = found
                declared = _pixels(img.get("width")) if name == "srcset" else None
                # beside a lazy srcset, src is a stand-in
                if declared is not None and widest.width is not None and declared > widest.width:
                    src = resolve_url(attr(img, "src"), base)
                    listed = {resolve_url(candidate.url, base) for candidate in candidates}
                    if src is not None and not is_placeholder(src) and src not in listed:
                        return src
                return url
    return None


def _full_size_url(img: Element, base: str, shown: str | None) -> str | None:
    """The full-size photo an ``<img>`` names (``data-orig-file``, ``data-full-url``...),
    when that is an image on http(s) on the host of the image it shows (``shown``, if
    any): a srcset lists only the sizes made of it. One on another host is passed over:
    the embed keeps a single address of the page's, and a gallery's stale one (the site
    moved) would leave the capture no copy the page shows to fall back to."""
    for name in _FULL_SIZE_ATTRS:
        resolved = resolve_url(attr(img, name), base)
        if (
            resolved is not None
            and not is_placeholder(resolved)
            and _is_image(resolved)
            and (shown is None or _same_host(resolved, shown))
        ):
            return resolved
    return None


def _same_host(url: str, other: str) -> bool:
    """Whether two image addresses are on one host ("www." aside), either as written or
    as archived (`file_url`: Photon's copy ``i0.wp.com/site/…`` is on the site's)."""

    def hosts(address: str) -> set[str]:
        names = {urlsplit(spelling).hostname or "" for spelling in (address, file_url(address))}
        return {name.removeprefix("www.") for name in names} - {""}

    return bool(hosts(url) & hosts(other))


def _displayed_src(img: Element, base: str) -> str | None:
    """The address an ``<img>`` displays: a lazy loader's ``data-src`` family, else
    ``src``, else, when ``src`` is a stand-in, an unknown lazy loader's attribute."""
    for name in (*_LAZY_SRC_ATTRS, "src"):
        resolved = resolve_url(attr(img, name), base)
        if resolved is not None and not is_placeholder(resolved):
            return resolved
    if not _shows_stand_in(img, base):
        return None
    return _unknown_lazy_src(img, base) or _photo_named_like_a_stand_in(img, base)


def _photo_named_like_a_stand_in(img: Element, base: str) -> str | None:
    """A ``src`` named as an upload may be and stand-ins also are (``clear.jpg``,
    ``empty.jpg``, ``grey.jpg``) that is the photo itself: no lazy loader touches the
    ``<img>`` (no ``lazy`` class, no address in another attribute, no ``<noscript>``
    copy after it) and it declares a photo's size, not an icon's. A real photo of
    that name in an update was dropped without a word. Names that say what they are
    (``placeholder``, ``loading``, ``blank``, ``spacer``...) stay stand-ins."""
    src = resolve_url(attr(img, "src"), base)
    width, height = declared_size(img)
    if src is None or width is None or height is None or min(width, height) <= _TINY:
        return None
    if _stem(src) not in _UPLOAD_LIKE_STAND_INS or "lazy" in (img.get("class") or "").lower():
        return None
    for name, value in img.items():
        lowered, text = str(name).lower(), str(value).strip()
        if lowered in _WORDS_NOT_ADDRESSES or lowered.startswith("aria-"):
            continue
        if "/" in text or _FILE_NAME.search(text):
            return None  # an address a loader may take, though none is taken here
    following = img.getnext()
    if following is not None and tag_name(following) == "noscript":
        return None  # the photo is there, for readers without scripts
    return src


def _shows_stand_in(img: Element, base: str) -> bool:
    """Whether an ``<img>``'s ``src`` is no photo: missing, a ``data:`` URI (or another
    reference to nothing fetchable) or a placeholder file: a lazy loader's script puts
    the photo in, from an attribute of its own."""
    raw = attr(img, "src")
    resolved = resolve_url(raw, base)
    if resolved is None:
        return refusal(raw, base) is None  # refused: a real address, reported as such
    return is_placeholder(resolved)


def _unknown_lazy_src(img: Element, base: str) -> str | None:
    """The photo a lazy loader this module does not know parks in a ``data-*`` or
    ``*-src`` attribute: of those whose value is an image file on http(s) and whose name
    says nothing of a preview, thumbnail, link, stand-in or someone's picture
    (`_NOT_THE_PHOTO`), the first, in document order, named for a large size
    (`_FULL_SIZE_WORDS`: Jetpack's ``data-large-file`` when there is no
    ``data-orig-file``), else the first. Without it a photo behind a new plugin's
    stand-in would be dropped without a word."""
    known = {*_SRC_ATTRS, *_SRCSET_ATTRS}
    first: str | None = None
    for name, value in img.items():
        lowered = str(name).lower()
        if lowered in known or not (lowered.startswith("data-") or lowered.endswith("-src")):
            continue
        if any(word in lowered for word in _NOT_THE_PHOTO):
            continue
        resolved = resolve_url(str(value), base)
        if resolved is None or is_placeholder(resolved) or not _is_image(resolved):
            continue
        if any(word in lowered for word in _FULL_SIZE_WORDS):
            return resolved
        first = first or resolved
    return first


def _is_image(url: str) -> bool:
    """Whether a URL names an image file, judged on the address it is archived under
    (`file_url`: an image CDN's copy is judged by the upload it names)."""
    return media_type_of_url(file_url(url)) == "image"


def picture_url(picture: Element, base: str) -> str | None:
    """Largest rendition offered by a ``<picture>``'s sources and its fallback ``<img>``.
    A source for small screens only (``media="(max-width: 600px)"``) is left out when
    there are others: art direction gives phones a crop of the photo. A WebP or AVIF
    copy of the fallback's own file (a WebP plugin's ``crater.jpg.webp`` or
    ``crater.webp`` beside ``<img src="crater.jpg">``) gives way to that file. A full
    size the ``<img>`` names (`_full_size_url`) comes before all of them."""
    img = next(picture.iter("img"), None)
    shown = _picture_rendition(picture, img, base)
    full_size = _full_size_url(img, base, shown) if img is not None else None
    return full_size or shown


def _picture_rendition(picture: Element, img: Element | None, base: str) -> str | None:
    """The rendition a ``<picture>`` is archived as without the full size its ``<img>``
    names (see `picture_url`)."""
    candidates: list[SrcsetCandidate] = []
    crops: list[SrcsetCandidate] = []
    for node in picture.iter("source", "img"):
        for name in _SRCSET_ATTRS:
            value = attr(node, name)
            if value:
                narrow = "max-width" in (node.get("media") or "").lower()
                (crops if narrow else candidates).extend(parse_srcset(value))
                break
    found = largest(candidates, base) or largest(crops, base)
    if img is None:
        return found
    if found is None:
        return image_url(img, base)
    fallback = _displayed_src(img, base)
    return fallback if fallback and _is_copy_of(found, fallback) else found


def _is_copy_of(transcode: str, upload: str) -> bool:
    """Whether ``transcode`` is a WebP or AVIF copy of ``upload``, by their file names."""
    copy_name = posixpath.basename(urlsplit(transcode).path).lower()
    name = posixpath.basename(urlsplit(upload).path).lower()
    stem = name.rsplit(".", 1)[0]
    return _is_transcode(transcode) and copy_name in {
        f"{base}.{fmt}" for base in (name, stem) for fmt in ("webp", "avif")
    }


def delayed_image_url(src: str, declared_width: str | None) -> str:
    """The rendition BBC's delayed image (``<div class="js-delayed-image-load" data-src
    data-width>``) asks its image service for: ``data-src`` names a small one
    (``ichef.bbci.co.uk/news/320/…``), ``data-width`` the photo's width."""
    found = _ICHEF_WIDTH.fullmatch(src)
    width = _pixels(declared_width)
    if found is None or width is None or width <= int(found[2]):
        return src
    return f"{found[1]}{int(width)}{found[3]}"


def frame_url(frame: Element, base: str) -> str | None:
    """Target of an ``<iframe>``, preferring lazy-loading attributes over a placeholder src."""
    for name in _FRAME_SRC_ATTRS:
        resolved = resolve_url(attr(frame, name), base)
        if resolved is not None:
            return resolved
    return None


def refused_address(element: Element, base: str) -> tuple[str, str] | None:
    """The first address of a media element (its ``<source>`` and ``<img>`` children's
    too) that names media `resolve_url` cannot fetch, with why (`refusal`). Asked only
    when the element gave no usable address, so what it would have embedded is reported."""
    nested = element.iter("source", "img", "iframe", "embed", "video", "audio", "object")
    for node in [element, *(node for node in nested if node is not element)]:
        raws: list[str | None] = []
        for name in _SRCSET_ATTRS:
            raws.extend(candidate.url for candidate in parse_srcset(attr(node, name) or ""))
        raws.extend(attr(node, name) for name in (*_SRC_ATTRS, *_FRAME_SRC_ATTRS, "data"))
        for raw in raws:
            if raw is not None and (reason := refusal(raw, base)) is not None:
                return raw, reason
    return None


def is_placeholder(url: str) -> bool:
    """Whether an image URL is a lazy-loading stand-in (blank.gif, placeholder.png)."""
    stem = _stem(url)
    return stem in _PLACEHOLDER_NAMES or any(part in stem for part in _PLACEHOLDER_PARTS)


def _stem(url: str) -> str:
    """A URL's file name without its extension, lower-cased (``blank`` of ``/Blank.gif``)."""
    return posixpath.splitext(posixpath.basename(urlsplit(url).path.lower()))[0]


def is_preview_stand_in(img: Element) -> bool:
    """A blurred preview drawn while the photo loads, as an element of its own: Medium's
    ``progressiveMedia-thumbnail`` (60 px wide), with the photo in the element after it."""
    return any(
        token.lower().endswith("progressivemedia-thumbnail")
        for token in (img.get("class") or "").split()
    )


def shows_background(element: Element) -> bool:
    """Whether an element may show a photo as its background: the cheap test, made on
    every element, before `background_url` reads one."""
    attrib = element.attrib  # BACKGROUND_ATTRS, one by one: a loop costs every element
    return "style" in attrib or "data-bg" in attrib or "data-background-image" in attrib


def background_url(element: Element, base: str) -> str | None:
    """The photo an element shows as its background: a lazy loader's ``data-bg`` (or
    ``data-background-image``), else the first ``url(…)`` of an inline
    ``background-image`` (a WordPress cover block, a full-width photo)."""
    for name in BACKGROUND_ATTRS:
        resolved = resolve_url(attr(element, name), base)
        if resolved is not None and not is_placeholder(resolved):
            return resolved
    # read by hand, in one pass, within the first STYLE_PROBE characters: a pattern
    # took 12 s on a style of 10,000 "url( " (a hostile page stalls no capture)
    style = (element.get("style") or "")[:STYLE_PROBE]
    lower = style.lower()
    declared = lower.find("background")
    opened = lower.find("url(", declared) if declared >= 0 else -1
    if opened < 0 or ";" in lower[declared:opened]:
        return None  # no background, or the url() is another property's
    closed = style.find(")", opened)
    if closed < 0:
        return None
    resolved = resolve_url(style[opened + 4 : closed].strip().strip("'\"").strip(), base)
    return resolved if resolved is not None and not is_placeholder(resolved) else None


def asks_for_donations(url: str) -> bool:
    """Whether a link leads to a donation page: a button or banner around it is the
    site's appeal for money, never evidence."""
    try:
        parts = urlsplit(url.lower())
    except ValueError:
        return False
    host = (parts.hostname or "").removeprefix("www.")
    if any(host == name or host.endswith("." + name) for name in _DONATION_HOSTS):
        return True
    return any(segment in _DONATION_PAGES for segment in parts.path.split("/"))


def is_unwanted_image(url: str) -> bool:
    """Images that are never evidence: trackers, ads, avatars and SVG icons/logos."""
    path = urlsplit(url).path.lower()
    return path.endswith((".svg", ".svgz")) or is_tracker_url(url) or is_avatar_url(url)


def declared_size(element: Element) -> tuple[float | None, float | None]:
    """Width and height from attributes or inline style, when given in pixels (or in
    ems, as text-sized images are: 16 px each)."""
    width = _pixels(element.get("width"))
    height = _pixels(element.get("height"))
    for name, value, unit in _STYLE_SIZE.findall(element.get("style") or ""):
        pixels = float(value) * (1 if unit.lower() == "px" else _EM_PIXELS)
        if name.lower() == "width" and width is None:
            width = pixels
        elif name.lower() == "height" and height is None:
            height = pixels
    return width, height


def _pixels(value: str | None) -> float | None:
    """A pixel length such as ``300`` or ``300px``; None for percentages and junk."""
    match = _PX.match(value or "")
    return float(match.group(1)) if match else None


def is_tiny(element: Element) -> bool:
    """Tracking pixels and icons: a side of at most 1 px, or every declared side <= 48 px.
    An AMP element laid out to its container (``layout="responsive"``: ``width="16"
    height="9"`` is its shape) declares no size in pixels, and a frame with a side
    relative to its container (SoundCloud's mini player, ``width="100%" height="20"``)
    is no icon (an image as wide as the column and 20 px high is a rule)."""
    if (element.get("layout") or "").strip().lower() in _AMP_RELATIVE_LAYOUTS:
        return False
    width, height = declared_size(element)
    sides = [side for side in (width, height) if side is not None]
    if not sides:
        return False
    relative = tag_name(element) in _FRAMES and (
        any(_RELATIVE_SIDE.match(element.get(name) or "") for name in ("width", "height"))
        or _STYLE_RELATIVE_SIDE.search(element.get("style") or "") is not None
    )
    return min(sides) <= 1 or (max(sides) <= _TINY and not relative)


@dataclass(frozen=True)
class SourceChoice:
    """The chosen rendition of a ``<video>``/``<audio>`` element."""

    url: str
    mime_type: str | None


def best_source(element: Element, base: str) -> SourceChoice | None:
    """Best rendition of a video/audio element: highest declared resolution, then MP4 over
    other containers over streaming manifests, then document order."""
    options: list[tuple[tuple[int, int, int], SourceChoice]] = []
    nodes = [element, *(s for s in element.iter("source") if s is not element)]
    for order, node in enumerate(nodes):
        url = resolve_url(attr(node, "src", "data-src"), base)
        if url is None:
            continue
        mime = attr(node, "type")
        score = (_resolution(node), _format_rank(url, mime), -order)
        options.append((score, SourceChoice(url, mime)))
    if not options:
        return None
    return max(options, key=lambda option: option[0])[1]


def brightcove_player(element: Element) -> str | None:
    """The Brightcove player page of a ``<video-js>`` (or ``<video>``) element that names
    its video by account and id, as news sites embed Brightcove in the page itself
    (``data-account``, ``data-video-id``, ``data-player``, ``data-embed``; Sky's
    ``<div data-provider="brightcove" data-account-id>`` too); yt-dlp reads that page.
    None when the element does not name one."""
    account = attr(element, "data-account", "data-account-id") or ""
    video = attr(element, "data-video-id") or ""
    if not _BRIGHTCOVE_ACCOUNT.fullmatch(account) or not _BRIGHTCOVE_VIDEO.fullmatch(video):
        return None
    player = attr(element, "data-player", "data-player-id") or "default"
    embed = attr(element, "data-embed") or "default"
    if not _BRIGHTCOVE_NAME.fullmatch(player) or not _BRIGHTCOVE_NAME.fullmatch(embed):
        return None
    query = urlencode({"videoId": video})
    return f"https://players.brightcove.net/{account}/{player}_{embed}/index.html?{query}"


def _resolution(node: Element) -> int:
    """Vertical resolution a ``<source>`` declares through player-plugin attributes."""
    if tag_name(node) != "source":
        return 0
    for name in ("size", "res", "data-res", "data-quality", "label", "data-label"):
        match = _RESOLUTION.search(node.get(name) or "")
        if match:
            return int(match.group(1)) if match.group(1) else _K_LINES[match.group(2)]
    return 0


def _format_rank(url: str, mime: str | None) -> int:
    """Preference of a container: MP4 plays everywhere; manifests need extra work."""
    if mime:
        subtype = mime.split(";", 1)[0].split("/", 1)[-1].strip().lower()
        if subtype in _FORMAT_RANK:
            return _FORMAT_RANK[subtype]
    extension = posixpath.splitext(urlsplit(url).path.lower())[1].lstrip(".")
    return _FORMAT_RANK.get(extension, 1)
