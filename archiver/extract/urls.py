"""Resolve, clean and classify URLs so that one piece of media has exactly one address.

Pages point at the same video through embed players, short links and share links full of
tracking parameters; archiving each spelling separately would duplicate evidence, so every
URL is reduced to the canonical post address the platform itself uses.
"""

from __future__ import annotations

import html
import posixpath
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import (
    SplitResult,
    parse_qsl,
    quote,
    unquote,
    unquote_plus,
    unquote_to_bytes,
    urlencode,
    urljoin,
    urlsplit,
    urlunsplit,
)

import httpx

from archiver.extract.model import MediaType, NormalizedURL

# Extensions of files that plain HTTP can fetch as media, by the media they hold.
_EXTENSIONS: dict[str, MediaType] = {
    **dict.fromkeys(
        ("mp4", "m4v", "webm", "mov", "mkv", "avi", "wmv", "flv", "mpg", "mpeg", "3gp", "ogv"),
        "video",
    ),
    **dict.fromkeys(("m3u8", "mpd"), "video"),
    **dict.fromkeys(
        ("mp3", "m4a", "aac", "ogg", "oga", "opus", "wav", "flac", "wma", "weba"), "audio"
    ),
    **dict.fromkeys(
        (
            "jpg", "jpeg", "jpe", "jfif", "png", "gif", "webp", "avif",
            "tif", "tiff", "heic", "heif", "bmp",
        ),
        "image",
    ),
}  # fmt: skip

# URLs repeat within a page and across a crawl; classifying one is pure, so cache it.
_CACHE_SIZE = 8192
_FETCHABLE_SCHEMES = frozenset({"http", "https"})
# Longer URLs are left out: PostgreSQL's index rows hold at most 2,704 bytes, and embeds
# and pages are indexed by URL (one over the limit failed the whole page's embeds).
MAX_URL_BYTES = 2600
# A pasted address without its scheme: a host name with a dot (and a port), then a path
# or nothing.
_SCHEMELESS = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)+(?::[0-9]{1,5})?(?:[/?#]|$)", re.IGNORECASE)
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_ESCAPED_UTF8 = re.compile(r"(?:%[C-Fc-f][0-9A-Fa-f](?:%[89ABab][0-9A-Fa-f])+)+")
_PATH_SAFE = "/%:@!$&'()*+,;=~"
# Control characters left inside a URL, which browsers send percent-encoded (httpx refuses
# them: the capture would fail on a URL the page's readers see working).
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
# Full stops that IDNA reads as ".", besides the ones NFKC already maps to it.
_IDEOGRAPHIC_STOPS = str.maketrans({"\u3002": ".", "\uff61": "."})

# Query parameters that only identify the visitor or campaign, never the resource.
_TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "msclkid", "yclid", "wbraid", "gbraid",
        "igshid", "igsh", "mc_cid", "mc_eid", "_ga", "_gl", "ref_src", "ref_url",
        "__tn__", "mibextid",
    }
)  # fmt: skip
_TRACKING_PREFIXES = ("utm_", "__cft__")
# On platform URLs these are share/session markers too; elsewhere they may be part of a
# signed download URL, so they are only dropped for platforms.
_PLATFORM_TRACKING_PARAMS = frozenset({"si", "feature", "s", "t", "ref", "app", "pp"})
# Parameters a page may write anew in each version while the file stays the same: the
# cache-busters of static files (``photo.jpg?v=1701234567``) and the expiring signatures
# of cloud storage and CDNs (S3, Google Cloud Storage, Azure, CloudFront, Akamai,
# Facebook's, ByteDance's). They are not part of a static file's identity (`file_url`,
# `_without_volatile`).
_CACHE_BUSTERS = frozenset(
    {"v", "ver", "version", "cb", "cachebuster", "cache_buster", "cachebust", "nocache", "_",
     "rnd", "rand", "random"}
)  # fmt: skip
_SIGNATURE_PARAMS = frozenset(
    {"awsaccesskeyid", "signature", "expires", "key-pair-id", "policy", "googleaccessid", "oh",
     "oe", "hdnts", "hdnea", "__token__", "x-signature", "x-expires"}
)  # fmt: skip
_SIGNATURE_PREFIXES = ("x-amz-", "x-goog-", "_nc_")
# Azure Storage's shared access signature (SAS): short names (``sp``, ``st``, ``se``)
# that other addresses use for their own ends, so a signature's only beside its proof,
# ``sig`` (`_signed_by_sas`).
_SAS_PARAMS = frozenset(
    {"sig", "sv", "ss", "srt", "sr", "sp", "st", "se", "sip", "spr", "si", "ses", "sdd",
     "skoid", "sktid", "skt", "ske", "sks", "skv", "saoid", "suoid", "scid",
     "rscc", "rscd", "rsce", "rscl", "rsct"}
)  # fmt: skip
_SAS_PROOF = "sig"
_SIGNATURES = frozenset(  # the proof
    {"signature", "x-amz-signature", "x-goog-signature", "oh", _SAS_PROOF, "hdnts", "hdnea",
     "__token__", "x-signature"}
)  # fmt: skip
# A time as a cache-buster is the clock's (Unix seconds or milliseconds); a small one
# may choose a video's frame (Mux's and Cloudflare Stream's ``thumbnail.jpg?time=35``).
_CLOCK_PARAMS = frozenset({"t", "ts", "_t", "_ts", "time", "timestamp"})
_CLOCK_VALUE = re.compile(r"\d{10}|\d{13}")

_TRACKER_DOMAINS = frozenset(
    {
        "doubleclick.net", "googlesyndication.com", "googleadservices.com",
        "google-analytics.com", "googletagmanager.com", "googletagservices.com",
        "scorecardresearch.com", "quantserve.com", "quantcount.com", "amazon-adsystem.com",
        "taboola.com", "outbrain.com", "adnxs.com", "criteo.com", "criteo.net", "moatads.com",
        "adform.net", "rubiconproject.com", "pubmatic.com", "openx.net", "chartbeat.com",
        "chartbeat.net", "addthis.com", "sharethis.com", "imrworldwide.com", "adsrvr.org",
        "revcontent.com", "mgid.com", "casalemedia.com", "smartadserver.com", "teads.tv",
        "hotjar.com", "nr-data.net", "zemanta.com", "adroll.com", "quantcast.com",
    }
)  # fmt: skip
# First host label of ad and analytics servers ("pixel.example.com").
_TRACKER_HOST_LABELS = frozenset(
    {"pixel", "pixels", "ads", "ad", "adserver", "adservice", "tracking", "track",
     "tracker", "beacon", "stats", "analytics", "metrics", "telemetry"}
)  # fmt: skip
_TRACKER_PATH_SEGMENTS = frozenset(
    {"ads", "ad", "adserver", "adverts", "advertising", "pixel", "pixels", "tracking",
     "beacon", "tracker"}
)  # fmt: skip
_TRACKER_FILE_STEMS = frozenset({"pixel", "tracking", "beacon", "1x1", "spacer", "blank"})

# Frames that are page furniture (comment systems, maps, captchas, share buttons).
_FURNITURE_DOMAINS = frozenset(
    {
        "disqus.com", "recaptcha.net", "linkedin.com", "pinterest.com", "plusone.google.com",
        "apis.google.com", "plus.google.com", "stumbleupon.com", "connect.ok.ru",
    }
)  # fmt: skip
_FURNITURE_PREFIXES = (
    "www.google.com/recaptcha", "google.com/recaptcha", "www.google.com/maps",
    "google.com/maps", "maps.google.", "platform.twitter.com/widgets/", "twitter.com/intent/",
    "x.com/intent/", "reddit.com/static/button", "www.reddit.com/static/button",
)  # fmt: skip

_PLATFORM_HOSTS: dict[str, str] = {
    "youtube.com": "youtube",
    "youtube-nocookie.com": "youtube",
    "youtu.be": "youtube",
    "vimeo.com": "vimeo",
    "player.vimeo.com": "vimeo",
    "dailymotion.com": "dailymotion",
    "geo.dailymotion.com": "dailymotion",
    "dai.ly": "dailymotion",
    "facebook.com": "facebook",
    "fb.com": "facebook",
    "fb.watch": "facebook",
    "twitter.com": "twitter",
    "x.com": "twitter",
    "platform.twitter.com": "twitter",
    "instagram.com": "instagram",
    "instagr.am": "instagram",
    "tiktok.com": "tiktok",
    "vm.tiktok.com": "tiktok",
    "vt.tiktok.com": "tiktok",
    "t.me": "telegram",
    "telegram.me": "telegram",
    "telegram.dog": "telegram",
    # VK and OK (Odnoklassniki) carry much of the footage from Russian-speaking sides;
    # their like buttons and group widgets are not posts, so they are left out as such
    "vk.com": "vk",
    "vk.ru": "vk",
    "vkvideo.ru": "vk",
    "ok.ru": "ok",
    "odnoklassniki.ru": "ok",
    # news sites' own video platform; its player page is a script app, which yt-dlp reads
    "players.brightcove.net": "brightcove",
    # much front-line footage is posted to Reddit first; i.redd.it images are files
    "reddit.com": "reddit",
    "old.reddit.com": "reddit",
    "new.reddit.com": "reddit",
    "np.reddit.com": "reddit",
    "embed.reddit.com": "reddit",
    "redd.it": "reddit",
    "v.redd.it": "reddit",
    # Bluesky: posts on the web app and the embed widget's frames
    "bsky.app": "bluesky",
    "embed.bsky.app": "bluesky",
    # Threads (Meta): threads.net moved to threads.com; both spellings circulate
    "threads.net": "threads",
    "threads.com": "threads",
    # Imgur: posts and albums; a file on either host is a file, but i.imgur.com's
    # ".gifv" address is the page of a post's video
    "imgur.com": "imgur",
    "i.imgur.com": "imgur",
    # video hosts that much footage from Russia and from the far right is posted to,
    # each read by one of yt-dlp's extractors (rutube, zen.yandex, streamable, rumble,
    # lbry, bitchute, truthsocial)
    "rutube.ru": "rutube",
    "dzen.ru": "dzen",
    "zen.yandex.ru": "dzen",
    "streamable.com": "streamable",
    "rumble.com": "rumble",
    "odysee.com": "odysee",
    "lbry.tv": "odysee",
    "bitchute.com": "bitchute",
    "old.bitchute.com": "bitchute",
    "truthsocial.com": "truthsocial",
}
_HOST_NOISE_PREFIXES = ("www.", "m.", "mobile.", "web.", "music.", "business.")

_YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_YOUTUBE_ID_END = re.compile(r"[&;]")
_YOUTUBE_NOT_IDS = frozenset({"videoseries", "live_stream"})
_YOUTUBE_CHANNEL = re.compile(r"UC[\w-]{22}")
_DIGITS = re.compile(r"\d+")
_VIMEO_HASH = re.compile(r"[0-9a-f]{6,}")
_DAILYMOTION_ID = re.compile(r"[A-Za-z0-9]+")
_INSTAGRAM_CODE = re.compile(r"[A-Za-z0-9_-]+")
_TELEGRAM_CHANNEL = re.compile(r"[A-Za-z][A-Za-z0-9_]{2,}")
_TWITTER_USER = re.compile(r"[A-Za-z0-9_]{1,50}")
_TIKTOK_USER = re.compile(r"@[\w.-]*")
_THREADS_USER = re.compile(r"[A-Za-z0-9._]{1,30}")
# an Imgur post's id, after the title words newer links put before it (and before the
# extension of ``imgur.com/ID.jpg``, which Imgur sends on to the post's file)
# (five characters in early years, seven since)
_IMGUR_ID = re.compile(r"(?:([^/]+)-)?([A-Za-z0-9]{7}|[A-Za-z0-9]{5})(?:\.gifv)?")
# an id after title words at the top level is random, so lower-case letters alone are
# far likelier the last word of a site page's name ("terms-of-service") than an id
_IMGUR_RANDOM = re.compile(r"[A-Z0-9]")
# site pages whose names look like post ids
_IMGUR_PAGES = frozenset(
    {"about", "account", "emerald", "gallery", "legal", "login", "memegen", "press",
     "privacy", "random", "removal", "rules", "stats", "store", "terms", "topic", "users"}
)  # fmt: skip
_TELEGRAM_RESERVED = frozenset(
    {"s", "c", "joinchat", "addstickers", "addemoji", "share", "iv", "proxy", "socks"}
)

# X serves each photo in several sizes (``?name=small``, ``:large``, ``name=900x900``);
# ``name=orig`` is the photo as uploaded. Asking for it gives the evidence at full size
# and one address per photo, whatever size the page showed.
_X_PHOTO_HOST = "pbs.twimg.com"
_X_PHOTO_PATH = "/media/"
_X_PHOTO_SIZE_SUFFIX = re.compile(r":(?:[a-z]+|[0-9]+x[0-9]+)$")

# Wikimedia's thumbnails: a size in pixels (``800px-``, ``lossy-page1-800px-``) before
# the original's name.
_WIKIMEDIA_HOST = "upload.wikimedia.org"
_WIKIMEDIA_RASTER = frozenset({"jpg", "jpeg", "png", "gif", "webp"})
_WIKIMEDIA_SIZED = re.compile(r"(?:[a-z0-9-]+-)?\d{1,5}px-.+")
# The parameters of WordPress's image service (VIP Go files, Jetpack Photon): sizes,
# crops and quality of an upload, never a different file.
_WORDPRESS_RESIZING = frozenset(
    {"resize", "w", "h", "fit", "quality", "crop", "zoom", "strip", "lb", "ulb", "ssl"}
)
# The Guardian's image resizer serves every size of an editorial picture from its
# master on media.guim.co.uk (`?width=…&s=…` are the size and its signature).
_GUARDIAN_RESIZER = "i.guim.co.uk"
_GUARDIAN_MEDIA = "/img/media/"
# Reddit re-encodes each uploaded image for its previews (``auto=webp``, a width):
# ``preview.redd.it/[TITLE-v0-]ID.EXT?…`` is the upload ``i.redd.it/ID.EXT``.
_REDDIT_PREVIEW = "preview.redd.it"
_REDDIT_PREVIEW_FILE = re.compile(
    r"/(?:[^/]*-v0-)?([A-Za-z0-9]{6,32})\.(jpe?g|png|gif|webp)", re.IGNORECASE
)
# The New York Times's image service re-encodes each stored rendition on request
# (``…-superJumbo.jpg?quality=75&auto=webp&disable=upscale``); without them it serves
# the rendition as stored.
_NYT_IMAGE_HOSTS = frozenset({"static01.nyt.com", "static.nytimes.com"})
_NYT_IMAGE_PARAMETERS = frozenset(
    {"quality", "auto", "disable", "width", "height", "fit", "crop", "format", "dpr"}
)
# Jetpack's image CDN (Photon) serves a re-encoded copy of an upload of any WordPress
# site: ``i0.wp.com/SITE/PATH?resize=…`` is ``SITE/PATH`` (over https with ``ssl=1``).
_PHOTON_HOSTS = frozenset({"i0.wp.com", "i1.wp.com", "i2.wp.com", "i3.wp.com"})
# Ghost's sizes of an upload: ``/content/images/size/w2000[/format/webp]/2023/06/x.jpg``
# is ``/content/images/2023/06/x.jpg``.
_GHOST_SIZE = re.compile(r"(/(?:.+/)?content/images/)size/w\d+(?:h\d+)?/(?:format/\w+/)?(.+)")
# An image CDN that fetches another address and re-encodes it: Substack's
# ``substackcdn.com/image/fetch/w_1456,c_limit,f_auto/https%3A%2F%2F…`` (Cloudinary's
# ``/image/fetch/``), the Washington Post's ``/wp-apps/imrs.php?src=…&w=1440``.
_FETCHING_CDN = re.compile(r"/(?:.+/)?image/fetch/(?:[^/]+/)?(https?(?::|%3A).+)", re.I)
# Brightspot's image service (DIMS), which AP, NPR and other Brightspot sites run on
# hosts of their own, re-encodes the upload its ``url`` parameter names:
# ``/dims4/default/SIGNATURE/EXPIRY/strip/true/crop/…/resize/599x399!/quality/90/?url=…``
# (``/dims3/default/…`` without the signature).
_DIMS_PATH = re.compile(r"/dims[34]/")
# Next.js's image optimizer (Vercel's on its hosting) re-encodes an upload at a width
# and quality: ``/_next/image?url=%2Fuploads%2Fx.jpg&w=3840&q=75`` is ``/uploads/x.jpg``.
_NEXT_IMAGE_PATHS = ("/_next/image", "/_vercel/image")
# YouTube's thumbnail hosts: ``i.ytimg.com/vi/ID/hqdefault.jpg`` is the still that a
# "click to play" facade (lite-youtube, WP YouTube Lyte, lazy-player plugins) shows in
# place of the player until a reader clicks: the video behind it is the evidence.
_YOUTUBE_THUMBNAIL_HOSTS = frozenset(
    {"i.ytimg.com", "i1.ytimg.com", "i2.ytimg.com", "i3.ytimg.com", "i4.ytimg.com",
     "img.youtube.com"}
)  # fmt: skip
_YOUTUBE_THUMBNAIL_FOLDERS = frozenset({"vi", "vi_webp"})

PlatformMatch = tuple[str, MediaType | None]  # canonical URL, media type
_Matcher = Callable[[SplitResult, list[str], dict[str, str]], PlatformMatch | None]


def resolve_url(raw: str | None, base: str) -> str | None:
    """Make a page-given reference absolute; None for anything that cannot be fetched.

    Browsers strip surrounding whitespace and drop tabs/newlines inside URLs, and read a
    backslash before the query as a slash, so this does too (otherwise the page's
    ``https://host.example\\@other.example/`` would be fetched from other.example while a
    browser shows host.example). ``data:``, ``blob:``, ``javascript:``, ``about:`` and
    fragment-only references are not downloadable media and come back as None, and so
    do URLs over MAX_URL_BYTES, with a port that is not one or a host name IDNA refuses
    (httpx raised on those, out of the capture); other control characters are
    percent-encoded, as browsers send them.

    Credentials the page wrote into a URL (``https://user:secret@host/``) are left out:
    they would be kept in the index, the provenance and the event log (those of the
    page's own URL, given by whoever added it, are kept).
    """
    return _resolve(raw, base)[0]


# References that are not addresses of media at all: never reported as unusable.
_NOT_MEDIA_SCHEMES = frozenset({"data", "blob", "javascript", "about", "mailto", "tel"})


def refusal(raw: str | None, base: str) -> str | None:
    """Why `resolve_url` refuses a reference that names media it cannot fetch (another
    scheme, too long, a port that is not one, a host IDNA refuses), as a one-line reason;
    None when it is accepted or is no media address at all (``data:``, ``mailto:``, a
    fragment, nothing). An embed given such an address is reported, not silently lost."""
    return _resolve(raw, base)[1]


def _resolve(raw: str | None, base: str) -> tuple[str | None, str | None]:
    """`resolve_url`'s URL, or None and `refusal`'s reason (None: no media address)."""
    if raw is None:
        return None, None
    text = raw.strip().replace("\t", "").replace("\n", "").replace("\r", "")
    if not text or text.startswith("#"):
        return None, None
    text = _browser_slashes(text)
    try:
        absolute = urljoin(base, text)
        parts = urlsplit(absolute)
        given_authority = urlsplit(text).netloc
    except ValueError:
        return None, None
    scheme = parts.scheme.lower()
    if scheme not in _FETCHABLE_SCHEMES:
        if scheme in _NOT_MEDIA_SCHEMES or not scheme:
            return None, None
        return None, f"unsupported URL: scheme {scheme[:20]!r} (only http and https are fetched)"
    if not parts.hostname:
        return None, None
    try:
        parts.port  # noqa: B018  (raises ValueError for a port that is not one)
    except ValueError:
        port = parts.netloc.rpartition("@")[2].rpartition(":")[2]
        return None, f"unsupported URL: port {port[:20]} is not a port"
    if not _canonical_host(parts.hostname).isascii():  # a name IDNA refuses: not fetchable
        return None, "unsupported URL: host name IDNA refuses"
    if "@" in given_authority:
        absolute = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    absolute = _CONTROL_CHARACTERS.sub(_percent_encoded, absolute)
    if len(absolute.encode("utf-8", errors="replace")) > MAX_URL_BYTES:
        return None, f"unsupported URL: longer than {MAX_URL_BYTES:,} bytes"
    return absolute, None


def _percent_encoded(match: re.Match[str]) -> str:
    return f"%{ord(match.group()):02X}"


def _browser_slashes(text: str) -> str:
    """Backslashes before the query or fragment as slashes, as browsers read http(s) URLs."""
    if "\\" not in text:
        return text
    ends = [index for index in (text.find("?"), text.find("#")) if index >= 0]
    end = min(ends, default=len(text))
    return text[:end].replace("\\", "/") + text[end:]


def _host(parts: SplitResult) -> str:
    """Lower-case host without port, for comparisons; internationalized names in their
    ASCII (IDNA) form."""
    return _canonical_host(parts.hostname or "")


@lru_cache(maxsize=_CACHE_SIZE)
def _canonical_host(hostname: str) -> str:
    """A host name as it is looked up: lower case, without a final dot, and a Unicode name
    in the IDNA form httpx dials (``пример.рф`` is ``xn--e1afmkfd.xn--p1ai``), full-width
    letters and stops read as ASCII as browsers do, so that one host has one spelling and
    a look-alike name shows as what it is. A name IDNA refuses is kept as written."""
    host = hostname.lower().rstrip(".")
    if host.isascii():
        return host
    host = unicodedata.normalize("NFKC", host).translate(_IDEOGRAPHIC_STOPS).lower().rstrip(".")
    if host.isascii():
        return host
    try:
        return httpx.URL(f"https://{host}/").raw_host.decode("ascii")
    except (httpx.InvalidURL, UnicodeError):
        return host


def _bare_host(host: str) -> str:
    """Host with www./m./mobile. style prefixes removed, for platform lookups."""
    for prefix in _HOST_NOISE_PREFIXES:
        if host.startswith(prefix) and host.count(".") > 1:
            return host[len(prefix) :]
    return host


def _segments(path: str) -> list[str]:
    """Non-empty path segments."""
    return [segment for segment in path.split("/") if segment]


def _is_tracking_param(name: str) -> bool:
    """Whether a query parameter only tracks the visitor."""
    lowered = name.lower()
    return lowered in _TRACKING_PARAMS or lowered.startswith(_TRACKING_PREFIXES)


@lru_cache(maxsize=_CACHE_SIZE)
def clean_url(url: str) -> str:
    """Canonical spelling of a non-platform URL: lower-case scheme and host, default port,
    fragment and tracking parameters removed, everything else untouched (signed CDN URLs
    must keep their query)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip()
    scheme = parts.scheme.lower()
    host = _host(parts)
    netloc = f"[{host}]" if ":" in host else host  # an IPv6 address keeps its brackets
    try:
        port = parts.port
    except ValueError:
        return url.strip()
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        netloc = f"{netloc}:{port}"
    if parts.username:
        netloc = f"{parts.username}{':' + parts.password if parts.password else ''}@{netloc}"
    # the rest of the query as written: re-encoded (``ids=1,2`` as ``ids=1%2C2``) it was
    # not the address the story gives without the tracking
    pieces = [piece for piece in parts.query.split("&") if piece]
    kept = [piece for piece in pieces if not _is_tracking_param(_name_value(piece)[0])]
    query = parts.query if len(kept) == len(pieces) else "&".join(kept)
    fragment = parts.fragment if parts.fragment.startswith("!") else ""
    return urlunsplit((scheme, netloc, parts.path or ("/" if netloc else ""), query, fragment))


def original_photo_url(url: str) -> str:
    """An X photo URL asking for the uploaded size (``name=orig``), any size suffix
    (``.jpg:large``) dropped and the rest of the query (``format``) kept."""
    parts = urlsplit(url)
    path = _X_PHOTO_SIZE_SUFFIX.sub("", parts.path)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "name"]
    return urlunsplit(parts._replace(path=path, query=urlencode([*query, ("name", "orig")])))


@lru_cache(maxsize=_CACHE_SIZE)
def file_url(url: str) -> str:
    """Canonical address of a media file: `clean_url`, and for a photo that X, Wikimedia,
    WordPress, the Guardian's resizer or Reddit serve in several sizes, the uploaded one
    (the New York Times's: the rendition as stored, not re-encoded); a static file's
    without its cache-buster or signature (`_without_volatile`).
    The page's own spelling stays the embed's ``original_url``, and is fetched when this
    one fails (see `Capturer`)."""
    return _without_volatile(_sized_original(url))


def _without_volatile(url: str, *, signatures: bool = True) -> str:
    """``url`` without the cache-busters and (with ``signatures``) the signatures of
    its query when its path names a media file by its extension: a page writing
    ``photo.jpg?v=<random>`` in each version still shows one file (a script's,
    ``image.php?v=2``, may choose a file by them: kept)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    extension = posixpath.splitext(parts.path.lower())[1].lstrip(".")
    if not parts.query or extension not in _EXTENSIONS:
        return url
    pieces = parts.query.split("&")  # the rest kept as written: it is what is fetched
    sas = signatures and _signed_by_sas(pieces)
    kept = [piece for piece in pieces if not _is_volatile(piece, signatures, sas)]
    if len(kept) == len(pieces):
        return url
    return urlunsplit(parts._replace(query="&".join(piece for piece in kept if piece)))


def _is_volatile(piece: str, signatures: bool, sas: bool) -> bool:
    """Whether a query's ``name=value`` is a cache-buster, or (with ``signatures``) a
    signature's part (an Azure SAS's short names only in a query that ``sas`` says
    holds one)."""
    name, value = _name_value(piece)
    return _is_cache_buster(name, value) or (signatures and _is_signature(name, sas))


def _name_value(piece: str) -> tuple[str, str]:
    """A query's ``name=value``, unescaped."""
    name, _, value = piece.partition("=")
    return unquote_plus(name), unquote_plus(value)


def _is_cache_buster(name: str, value: str) -> bool:
    lowered = name.lower()
    if lowered in _CLOCK_PARAMS:
        return _CLOCK_VALUE.fullmatch(value) is not None
    return lowered in _CACHE_BUSTERS


def _is_signature(name: str, sas: bool) -> bool:
    lowered = name.lower()
    return (
        lowered in _SIGNATURE_PARAMS
        or lowered.startswith(_SIGNATURE_PREFIXES)
        or (sas and lowered in _SAS_PARAMS)
    )


def _signed_by_sas(pieces: list[str]) -> bool:
    """Whether a query's pieces hold an Azure SAS: its proof, ``sig``, is among them
    (``?sp=2`` or ``?st=5`` alone are some other address's own words)."""
    return any(_name_value(piece)[0].lower() == _SAS_PROOF for piece in pieces)


def without_cache_busters(markup: str) -> str:
    """``markup`` with each absolute address of a static file written without its
    cache-buster (`file_url`); the rest as it was. What tells a feed entry changed
    from one seen before: one whose photo the feed writes under a new ``?v=`` each
    time has not changed. A new signature is a change: the entry is read again, and
    its files not archived yet are asked for with it (`jobs.respell_unarchived`)."""

    def bare(match: re.Match[str]) -> str:
        address = html.unescape(match[0])
        stripped = _without_volatile(address, signatures=False)
        return match[0] if stripped == address else stripped

    return _ADDRESS_IN_MARKUP.sub(bare, markup)


_ADDRESS_IN_MARKUP = re.compile(r"""https?://[^\s"'<>]+""", re.IGNORECASE)


def signed_only(original_url: str, url: str) -> bool:
    """Whether the page's spelling of a file carries a signature its canonical address
    lacks (`respelled_only`, and the signature itself among what was dropped, not an
    ``expires`` alone): the bare address is refused, and the signed one expires."""
    if not respelled_only(original_url, url):
        return False
    pieces = urlsplit(original_url).query.split("&")
    return any(_name_value(piece)[0].lower() in _SIGNATURES for piece in pieces)


def respelled_only(original_url: str, url: str) -> bool:
    """Whether a file's canonical address differs from the page's spelling of it only
    by the cache-buster or signature `file_url` drops: then the page's spelling is
    what to fetch first (the bare address may be refused, or served stale by a CDN
    the cache-buster was there to get past)."""
    cleaned = clean_url(original_url)
    return cleaned != url and _without_volatile(cleaned) == url


def _sized_original(url: str) -> str:
    """`file_url` but for the volatile parameters."""
    cleaned = clean_url(url)
    try:
        parts = urlsplit(cleaned)
    except ValueError:
        return cleaned
    host = _host(parts)
    fetched = _fetched_original(host, parts)
    if fetched is not None and fetched != url:
        return _sized_original(fetched)  # the address the CDN copied, in its canonical form
    if host == _X_PHOTO_HOST and parts.path.startswith(_X_PHOTO_PATH):
        return original_photo_url(cleaned)
    if host == _WIKIMEDIA_HOST:
        return _wikimedia_original(parts) or cleaned
    if "/wp-content/uploads/" in parts.path:
        # WordPress keeps each upload beside the sizes it made of it ("-1024x683", the
        # "-scaled" copy of a large photo), which lose its EXIF data; and (VIP,
        # Jetpack) resizes an upload on request: the upload itself
        path = _WORDPRESS_SIZE.sub(r"\1", parts.path)
        query = "" if _only_resizing(parts.query) else parts.query
        if (path, query) != (parts.path, parts.query):
            return urlunsplit((parts.scheme, parts.netloc, path, query, ""))
    if (ghost := _GHOST_SIZE.fullmatch(parts.path)) is not None:
        return urlunsplit((parts.scheme, parts.netloc, f"{ghost[1]}{ghost[2]}", "", ""))
    if (drupal := _DRUPAL_STYLE.fullmatch(parts.path)) is not None:
        # Drupal's image styles are derivatives of the file under its public files
        return urlunsplit((parts.scheme, parts.netloc, f"{drupal[1]}{drupal[2]}", "", ""))
    if host == _GUARDIAN_RESIZER and parts.path.startswith(_GUARDIAN_MEDIA):
        # the resizer's source: i.guim.co.uk/img/media/P?width=… is media.guim.co.uk/P
        return urlunsplit(("https", "media.guim.co.uk", parts.path[len("/img/media") :], "", ""))
    if host == _REDDIT_PREVIEW and (upload := _REDDIT_PREVIEW_FILE.fullmatch(parts.path)):
        return f"https://i.redd.it/{upload[1]}.{upload[2].lower()}"
    nyt = host in _NYT_IMAGE_HOSTS and parts.path.startswith("/images/")
    if nyt and _only_resizing(parts.query, _NYT_IMAGE_PARAMETERS):
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return cleaned


#: A size WordPress made of an upload: ``photo-1024x683.jpg``, ``photo-scaled.jpg``.
_WORDPRESS_SIZE = re.compile(
    r"-(?:\d{1,5}x\d{1,5}|scaled)(\.(?:jpe?g|png|gif|webp))$", re.IGNORECASE
)
#: ``/sites/default/files/styles/large/public/2013-09/crater.jpg`` (with ``?itok=``) is a
#: derivative of ``/sites/default/files/2013-09/crater.jpg``.
_DRUPAL_STYLE = re.compile(r"(/(?:.+/)?sites/[^/]+/files/)styles/[^/]+/public/(.+)")


def _only_resizing(query: str, resizing: frozenset[str] = _WORDPRESS_RESIZING) -> bool:
    """Whether a query holds an image service's resizing parameters alone (WordPress's,
    unless others are named)."""
    names = {name.lower() for name, _ in parse_qsl(query, keep_blank_values=True)}
    return bool(names) and names <= resizing


def _fetched_original(host: str, parts: SplitResult) -> str | None:
    """The address an image CDN made its copy from (Photon, Substack's and Cloudinary's
    fetch, the Washington Post's resizer, Brightspot's DIMS, Next.js's optimizer), when
    it names one that is http(s)."""
    if parts.path.endswith(_NEXT_IMAGE_PATHS):
        # the site's own optimizer: a path it names (from the root: it takes no other)
        # is on the site's host
        upload = dict(parse_qsl(parts.query)).get("url", "")
        local = upload.startswith("/") and not upload.startswith("//")
        return resolve_url(upload, urlunsplit(parts)) if local or "://" in upload else None
    if host in _PHOTON_HOSTS and parts.path.count("/") >= 2:
        ssl = dict(parse_qsl(parts.query)).get("ssl") == "1"
        original = f"{'https' if ssl else 'http'}:/{parts.path}"
    elif parts.path.endswith("/imrs.php"):
        original = dict(parse_qsl(parts.query)).get("src", "")
    elif _DIMS_PATH.match(parts.path):
        original = dict(parse_qsl(parts.query)).get("url", "")
    elif (fetch := _FETCHING_CDN.fullmatch(parts.path)) is not None:
        original = fetch[1] if "://" in fetch[1] else unquote(fetch[1])
    else:
        return None
    return resolve_url(original, original) if "://" in original else None


def _wikimedia_original(parts: SplitResult) -> str | None:
    """``/wikipedia/commons/thumb/a/ab/Map.png/800px-Map.png`` is a size of
    ``/wikipedia/commons/a/ab/Map.png``: the file as uploaded, for raster images (an SVG
    map's thumbnail is a rendering, and its original no photo)."""
    segments = parts.path.split("/")[1:]  # as written: the names are percent-encoded
    if len(segments) != 7 or segments[0] != "wikipedia" or segments[2] != "thumb":
        return None
    name, sized = segments[5], segments[6]
    extension = posixpath.splitext(name.lower())[1].lstrip(".")
    if extension not in _WIKIMEDIA_RASTER or not _WIKIMEDIA_SIZED.fullmatch(sized):
        return None
    if not sized.endswith("-" + name):
        return None
    path = "/".join(["", *segments[:2], *segments[3:6]])
    return urlunsplit(("https", parts.netloc, path, "", ""))


@lru_cache(maxsize=_CACHE_SIZE)
def thumbnail_video(url: str) -> str | None:
    """The YouTube video whose thumbnail ``url`` is (``i.ytimg.com/vi/ID/…``), or None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if _host(parts) not in _YOUTUBE_THUMBNAIL_HOSTS:
        return None
    segments = _segments(parts.path)
    if len(segments) < 3 or segments[0] not in _YOUTUBE_THUMBNAIL_FOLDERS:
        return None
    video_id = segments[1]
    if not _YOUTUBE_ID.fullmatch(video_id):
        return None
    return f"https://www.youtube.com/watch?v={video_id}"


#: The host of Blogger's uploaded photos, whose addresses have no file extension.
_GOOGLE_IMAGE_HOST = ".googleusercontent.com"


@lru_cache(maxsize=_CACHE_SIZE)
def media_type_of_url(url: str) -> MediaType | None:
    """Media type implied by the URL's file extension (or a ``format=jpg`` style query);
    a size suffix after it (X's ``photo.jpg:large``) is not part of it."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    extension = posixpath.splitext(parts.path.lower())[1].lstrip(".").partition(":")[0]
    if extension:
        return _EXTENSIONS.get(extension)
    for name, value in parse_qsl(parts.query):
        if name.lower() in ("format", "fm", "ext"):
            return _EXTENSIONS.get(value.lower().lstrip("."))
    if parts.path.startswith("/img/") and (parts.hostname or "").endswith(_GOOGLE_IMAGE_HOST):
        return "image"  # Blogger's photos: /img/a/AVvXsE…=s1600, no extension
    return None


def is_media_file_url(url: str) -> bool:
    """Whether the URL names a media file that plain HTTP can fetch, judged by extension."""
    return media_type_of_url(url) is not None


@lru_cache(maxsize=_CACHE_SIZE)
def is_tracker_url(url: str) -> bool:
    """Whether the URL belongs to an ad, analytics or tracking-pixel service."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return True
    host = _host(parts)
    if _in_domains(host, _TRACKER_DOMAINS):
        return True
    labels = host.split(".")
    if len(labels) > 2 and labels[0] in _TRACKER_HOST_LABELS:
        return True
    if _bare_host(host) == "facebook.com" and parts.path.rstrip("/") == "/tr":
        return True
    segments = [segment.lower() for segment in _segments(parts.path)]
    if any(segment in _TRACKER_PATH_SEGMENTS for segment in segments[:-1]):
        return True
    if segments:
        stem = posixpath.splitext(segments[-1])[0]
        return stem in _TRACKER_FILE_STEMS or stem in _TRACKER_PATH_SEGMENTS
    return False


def _in_domains(host: str, domains: frozenset[str]) -> bool:
    """Whether ``host`` is one of ``domains`` or a subdomain of one."""
    labels = host.split(".")
    return any(".".join(labels[index:]) in domains for index in range(len(labels) - 1))


def is_avatar_url(url: str) -> bool:
    """Whether the URL is a profile picture service (gravatar), never evidence."""
    try:
        host = _host(urlsplit(url))
    except ValueError:
        return False
    return host == "gravatar.com" or host.endswith(".gravatar.com")


@lru_cache(maxsize=_CACHE_SIZE)
def is_furniture_url(url: str) -> bool:
    """Whether a frame URL is page furniture: share/like buttons, comments, maps, captchas."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return True
    host = _host(parts)
    if _in_domains(host, _FURNITURE_DOMAINS):
        return True
    location = _bare_host(host) + parts.path
    if any(spelling.startswith(_FURNITURE_PREFIXES) for spelling in (host + parts.path, location)):
        return True
    return location.startswith("facebook.com/plugins/") and not location.startswith(
        ("facebook.com/plugins/video.php", "facebook.com/plugins/post.php")
    )


@lru_cache(maxsize=_CACHE_SIZE)
def platform_of(url: str) -> str | None:
    """Platform that serves the URL's host, if it is one of the supported platforms."""
    try:
        host = _bare_host(_host(urlsplit(url)))
    except ValueError:
        return None
    if host in _PLATFORM_HOSTS:
        return _PLATFORM_HOSTS[host]
    parent = host.split(".", 1)[-1]
    return _PLATFORM_HOSTS.get(parent) if parent in ("tiktok.com", "facebook.com") else None


def _youtube(
    parts: SplitResult, segments: list[str], query: dict[str, str]
) -> PlatformMatch | None:
    """YouTube watch/embed/short/live URLs -> watch?v=ID; playlist embeds -> playlist."""
    video_id: str | None = None
    if _bare_host(_host(parts)) == "youtu.be":
        video_id = _path_video_id(segments[0]) if segments else None
    elif (
        segments
        and segments[0] in ("embed", "v", "e", "shorts", "live", "watch")
        and len(segments) > 1
    ):
        video_id = _path_video_id(segments[1])
    elif segments[:1] == ["watch"] or not segments:
        video_id = query.get("v")
    if video_id and _YOUTUBE_ID.fullmatch(video_id) and video_id not in _YOUTUBE_NOT_IDS:
        return f"https://www.youtube.com/watch?v={video_id}", "video"
    channel = query.get("channel", "")
    if segments == ["embed", "live_stream"] and _YOUTUBE_CHANNEL.fullmatch(channel):
        return f"https://www.youtube.com/channel/{channel}/live", "video"  # its live stream
    playlist = query.get("list")
    if playlist and segments[:1] in (["embed"], ["playlist"]):
        return f"https://www.youtube.com/playlist?{urlencode({'list': playlist})}", "video"
    return None


def _path_video_id(segment: str) -> str:
    """A video id from a path segment; old Flash embeds put their parameters after ``&`` or
    ``;`` with no ``?`` (``/v/ID&hl=en_US&fs=1``)."""
    return _YOUTUBE_ID_END.split(segment, 1)[0]


def _vimeo(parts: SplitResult, segments: list[str], query: dict[str, str]) -> PlatformMatch | None:
    """player.vimeo.com/video/N and channel/group paths -> vimeo.com/N (+ unlisted hash)."""
    video_id: str | None = None
    private_hash = query.get("h")
    if segments[-1:] == ["moogaloop.swf"]:  # the Flash player until 2012: ?clip_id=N
        video_id = query.get("clip_id")
    elif len(segments) >= 2 and segments[0] == "video":
        video_id = segments[1]
    elif segments and _DIGITS.fullmatch(segments[0]):
        video_id = segments[0]
        if len(segments) > 1 and _VIMEO_HASH.fullmatch(segments[1]):
            private_hash = segments[1]
    elif segments and segments[0] in ("channels", "groups", "album", "showcase"):
        video_id = next((s for s in reversed(segments) if _DIGITS.fullmatch(s)), None)
        if video_id == segments[1]:
            video_id = None  # an album/showcase id, not a video
    if not video_id or not _DIGITS.fullmatch(video_id):
        return None
    if private_hash and _VIMEO_HASH.fullmatch(private_hash):
        return f"https://vimeo.com/{video_id}/{private_hash}", "video"
    return f"https://vimeo.com/{video_id}", "video"


def _dailymotion(
    parts: SplitResult, segments: list[str], query: dict[str, str]
) -> PlatformMatch | None:
    """Dailymotion embed, swf, player and dai.ly links -> dailymotion.com/video/ID."""
    video_id: str | None = None
    if _bare_host(_host(parts)) == "dai.ly":
        video_id = segments[0] if segments else None
    elif "video" in segments[:-1]:
        video_id = segments[segments.index("video") + 1].split("_", 1)[0]
    else:
        video_id = query.get("video")
    if video_id and _DAILYMOTION_ID.fullmatch(video_id):
        return f"https://www.dailymotion.com/video/{video_id}", "video"
    return None


_FACEBOOK_KEEP_PARAMS = ("v", "story_fbid", "fbid", "id", "set")
_FACEBOOK_VIDEO_SEGMENTS = frozenset({"videos", "reel", "reels", "watch"})
_FACEBOOK_POST_SEGMENTS = frozenset({"posts", "photos", "permalink", "videos", "reel", "share"})
_FACEBOOK_POST_PAGES = frozenset(
    {"permalink.php", "story.php", "photo.php", "video.php", "photo", "watch"}
)


def _facebook(
    parts: SplitResult, segments: list[str], query: dict[str, str]
) -> PlatformMatch | None:
    """Facebook video/post URLs, unwrapping the video/post embed plugin's ``href``."""
    host = _bare_host(_host(parts))
    if segments[:1] == ["plugins"]:
        target = query.get("href")
        if target and segments[1:2] in (["video.php"], ["post.php"]):
            inner = platform_post(urljoin("https://www.facebook.com/", target))
            if inner is not None and inner.platform == "facebook":
                return inner.url, inner.media_type
        return None
    if host == "fb.watch":
        return (f"https://fb.watch/{segments[0]}/", "video") if segments else None
    if len(segments) == 2 and segments[0] == "v" and _DIGITS.fullmatch(segments[1]):
        return f"https://www.facebook.com/watch/?v={segments[1]}", "video"  # the Flash player
    if segments in (["video", "embed"], ["video", "video.php"]):  # its frame and page, 2010-13
        video_id = query.get("video_id") or query.get("v") or ""
        if not _DIGITS.fullmatch(video_id):
            return None
        return f"https://www.facebook.com/watch/?v={video_id}", "video"
    is_post = any(segment in _FACEBOOK_POST_SEGMENTS for segment in segments[:-1]) or (
        bool(segments) and segments[0] in _FACEBOOK_POST_PAGES
    )
    if not is_post:
        return None
    if segments[0] == "video.php" and "v" in query:
        return f"https://www.facebook.com/watch/?v={query['v']}", "video"
    kept = [(name, query[name]) for name in _FACEBOOK_KEEP_PARAMS if name in query]
    if segments[0] in ("watch", "permalink.php", "story.php", "photo.php", "photo") and not kept:
        return None
    media: MediaType | None = None
    if _FACEBOOK_VIDEO_SEGMENTS.intersection(segments) or segments[:2] == ["share", "v"]:
        media = "video"
    elif "photos" in segments or segments[0] in ("photo.php", "photo"):
        media = "image"
    path = parts.path if parts.path.startswith("/") else "/" + parts.path
    if segments[0] == "watch":
        path = "/watch/"
    query_text = f"?{urlencode(kept)}" if kept else ""
    return f"https://www.facebook.com{path}{query_text}", media


def _twitter(
    parts: SplitResult, segments: list[str], query: dict[str, str]
) -> PlatformMatch | None:
    """Tweet URLs on twitter.com/x.com/mobile and the Tweet.html embed -> twitter.com status."""
    host = _bare_host(_host(parts))
    if host == "platform.twitter.com":
        tweet_id = query.get("id")
        if segments[:1] == ["embed"] and tweet_id and _DIGITS.fullmatch(tweet_id):
            return f"https://twitter.com/i/status/{tweet_id}", None
        return None
    lowered = [segment.lower() for segment in segments]
    if len(lowered) >= 3 and lowered[1] in ("status", "statuses"):
        owner, rest = segments[0], segments[2:]  # /USER/status/ID or /i/status/ID
    elif len(lowered) >= 4 and lowered[:3] == ["i", "web", "status"]:
        owner, rest = "i", segments[3:]
    else:
        return None
    if not _DIGITS.fullmatch(rest[0]) or not _TWITTER_USER.fullmatch(owner):
        return None
    owner = "i" if owner.lower() == "i" else owner
    media: MediaType | None = "video" if "video" in lowered[-2:] else None
    return f"https://twitter.com/{owner}/status/{rest[0]}", media


def _instagram(
    parts: SplitResult, segments: list[str], query: dict[str, str]
) -> PlatformMatch | None:
    """Instagram post/reel/tv URLs, with or without username prefix or /embed suffix."""
    kinds = {"p": "p", "reel": "reel", "reels": "reel", "tv": "tv"}
    for index in (0, 1):
        if len(segments) > index + 1 and segments[index] in kinds:
            code = segments[index + 1]
            if not _INSTAGRAM_CODE.fullmatch(code):
                return None
            kind = kinds[segments[index]]
            media: MediaType | None = "video" if kind in ("reel", "tv") else None
            return f"https://www.instagram.com/{kind}/{code}/", media
    return None


def _tiktok(parts: SplitResult, segments: list[str], query: dict[str, str]) -> PlatformMatch | None:
    """TikTok video/photo posts and embed players -> tiktok.com/@user/video/ID; short links kept."""
    host = _bare_host(_host(parts))
    if host in ("vm.tiktok.com", "vt.tiktok.com"):
        return (f"https://{host}/{segments[0]}/", "video") if segments else None
    if segments[:1] == ["t"] and len(segments) > 1:
        return f"https://www.tiktok.com/t/{segments[1]}/", "video"
    if len(segments) >= 3 and _TIKTOK_USER.fullmatch(segments[0]):
        if segments[1] in ("video", "photo") and _DIGITS.fullmatch(segments[2]):
            media: MediaType = "video" if segments[1] == "video" else "image"
            return f"https://www.tiktok.com/{segments[0]}/{segments[1]}/{segments[2]}", media
        return None
    candidates = [segment.removesuffix(".html") for segment in segments[1:]]
    if segments[:1] in (["embed"], ["player"], ["v"]):
        video_id = next((c for c in candidates if _DIGITS.fullmatch(c) and len(c) > 8), None)
        if video_id:
            return f"https://www.tiktok.com/@/video/{video_id}", "video"
    return None


def _telegram(
    parts: SplitResult, segments: list[str], query: dict[str, str]
) -> PlatformMatch | None:
    """Telegram channel posts: t.me/s/channel/N and telegram.me -> t.me/channel/N."""
    if segments[:1] == ["s"]:
        segments = segments[1:]
    if len(segments) == 3 and segments[0] == "c" and all(map(_DIGITS.fullmatch, segments[1:])):
        return f"https://t.me/c/{segments[1]}/{segments[2]}", None
    if len(segments) == 2 and _DIGITS.fullmatch(segments[1]):
        channel = segments[0]
        if channel.lower() not in _TELEGRAM_RESERVED and _TELEGRAM_CHANNEL.fullmatch(channel):
            return f"https://t.me/{channel}/{segments[1]}", None
    return None


_VK_VIDEO = re.compile(r"(video|clip)(-?\d{1,20})_(\d{1,20})")
# A post on a wall, a community's (negative) or a person's: its videos are yt-dlp's
_VK_WALL = re.compile(r"wall(-?\d{1,20})_(\d{1,20})")
_SIGNED_ID = re.compile(r"-?\d{1,20}")


def _vk(parts: SplitResult, segments: list[str], query: dict[str, str]) -> PlatformMatch | None:
    """VK video player frames (video_ext.php: its hash, which lets anyone play the video,
    is kept) and video or clip pages, also opened over another page (?z=video...); wall
    posts (``wall-X_Y``, also opened over another page: ``?w=wall-X_Y``)."""
    if segments[:1] == ["video_ext.php"]:
        owner, video = query.get("oid", ""), query.get("id", "")
        if not (_SIGNED_ID.fullmatch(owner) and video.isdigit()):
            return None
        kept = {"oid": owner, "id": video} | ({"hash": query["hash"]} if query.get("hash") else {})
        return f"https://vk.com/video_ext.php?{urlencode(kept)}", "video"
    for candidate in (segments[0] if segments else "", query.get("z", "").split("/", 1)[0]):
        found = _VK_VIDEO.fullmatch(candidate)
        if found:
            return f"https://vk.com/{found[1]}{found[2]}_{found[3]}", "video"
    for candidate in (segments[0] if len(segments) == 1 else "", query.get("w", "")):
        wall = _VK_WALL.fullmatch(candidate)
        if wall:
            return f"https://vk.com/wall{wall[1]}_{wall[2]}", None
    return None


def _ok(parts: SplitResult, segments: list[str], query: dict[str, str]) -> PlatformMatch | None:
    """OK player frames (videoembed/ID) and video pages -> ok.ru/video/ID; live/ID kept."""
    if len(segments) >= 2 and segments[1].isdigit() and len(segments[1]) <= 20:
        if segments[0] in ("videoembed", "video"):
            return f"https://ok.ru/video/{segments[1]}", "video"
        if segments[0] == "live":
            return f"https://ok.ru/live/{segments[1]}", "video"
    return None


_RUTUBE_ID = re.compile(r"[0-9a-f]{32}")


def _rutube(parts: SplitResult, segments: list[str], query: dict[str, str]) -> PlatformMatch | None:
    """Rutube videos (``/video/ID/``, ``/live/video/ID/``, the player ``/play/embed/ID``)
    -> ``rutube.ru/video/ID/``; a private one keeps its ``?p=`` key, and a player
    that names the video by number (an older id no page shows) is kept as it is."""
    kinds = segments[:-1]
    video_id = segments[-1].lower() if segments else ""
    key = query.get("p")
    if kinds in (["play", "embed"], ["video", "embed"]) and _DIGITS.fullmatch(video_id):
        kept = f"?{urlencode({'p': key})}" if key else ""
        return f"https://rutube.ru/play/embed/{video_id}{kept}", "video"
    if kinds not in (["video"], ["live", "video"], ["video", "private"], ["play", "embed"],
                     ["embed"]) or not _RUTUBE_ID.fullmatch(video_id):  # fmt: skip
        return None
    if key:
        return f"https://rutube.ru/video/private/{video_id}/?{urlencode({'p': key})}", "video"
    return f"https://rutube.ru/video/{video_id}/", "video"


_DZEN_ID = re.compile(r"[a-z0-9]{8,64}")


def _dzen(parts: SplitResult, segments: list[str], query: dict[str, str]) -> PlatformMatch | None:
    """Dzen videos, ``dzen.ru/video/watch/ID`` (also ``/watch/ID`` and zen.yandex.ru);
    its articles (``/a/``, ``/media/``) and channels are not posts."""
    if segments[:2] == ["video", "watch"]:
        segments = segments[1:]
    if len(segments) == 2 and segments[0] == "watch" and _DZEN_ID.fullmatch(segments[1]):
        return f"https://dzen.ru/video/watch/{segments[1]}", "video"
    return None


_STREAMABLE_ID = re.compile(r"[a-z0-9]{3,12}")
# streamable.com's own pages, named like its videos
_STREAMABLE_PAGES = frozenset(
    {"about", "account", "api", "blog", "careers", "clipper", "contact", "dashboard",
     "documentation", "enterprise", "faq", "features", "help", "home", "legal", "login",
     "plans", "pricing", "privacy", "recent", "settings", "signup", "support", "terms",
     "tools", "upload", "videos"}
)  # fmt: skip


def _streamable(
    parts: SplitResult, segments: list[str], query: dict[str, str]
) -> PlatformMatch | None:
    """Streamable videos, ``streamable.com/ID`` (also its player ``/e/ID`` and ``/s/ID``)
    -> ``streamable.com/ID``; its own pages are not videos."""
    if segments[:1] in (["e"], ["s"]) and len(segments) >= 2:
        video_id = segments[1]
    elif len(segments) == 1 and segments[0] not in _STREAMABLE_PAGES:
        video_id = segments[0]
    else:
        return None
    if not _STREAMABLE_ID.fullmatch(video_id):
        return None
    return f"https://streamable.com/{video_id}", "video"


# A video's page, ``/vID-title-words.html`` (never ``/videos``), and the player's id
# (which is another id: the page cannot be told from it)
_RUMBLE_PAGE = re.compile(r"v(?!ideos)[0-9a-z]+-[\w.-]*\.html")
_RUMBLE_EMBED = re.compile(r"(?:[0-9a-z]+\.)?(v[0-9a-z]+)")


def _rumble(parts: SplitResult, segments: list[str], query: dict[str, str]) -> PlatformMatch | None:
    """Rumble videos: the page ``rumble.com/vID-title.html`` and the player
    ``rumble.com/embed/vID/``, each kept (yt-dlp reads both)."""
    if len(segments) == 1 and _RUMBLE_PAGE.fullmatch(segments[0]):
        return f"https://rumble.com/{segments[0]}", "video"
    if len(segments) == 2 and segments[0] == "embed":
        found = _RUMBLE_EMBED.fullmatch(segments[1])
        return (f"https://rumble.com/embed/{found[1]}/", "video") if found else None
    return None


# An LBRY claim as Odysee writes it: a name, with ":" and (part of) its claim id
_ODYSEE_CLAIM = re.compile(r"[^$@:/?#&]+(?::[0-9a-f]{1,40})?")
_ODYSEE_CHANNEL = re.compile(r"@[^$@:/?#&]+(?::[0-9a-f]{1,40})?")
_ODYSEE_CLAIM_ID = re.compile(r"[0-9a-f]{1,40}")


def _odysee(parts: SplitResult, segments: list[str], query: dict[str, str]) -> PlatformMatch | None:
    """Odysee (LBRY) uploads: ``odysee.com/@CHANNEL:X/NAME:Y`` or ``/NAME:Y``, the
    player ``/$/embed/…`` of either, and the player's ``/$/embed/NAME/CLAIMID`` ->
    ``odysee.com/NAME:CLAIMID``; channels and the site's ``/$/`` pages are not posts."""
    if segments[:2] == ["$", "embed"]:
        segments = segments[2:]
        named = len(segments) == 2 and not segments[0].startswith(("@", "$"))
        if named and ":" not in segments[0] and _ODYSEE_CLAIM_ID.fullmatch(segments[1]):
            segments = [f"{segments[0]}:{segments[1]}"]  # NAME/CLAIMID
    if len(segments) == 2 and _ODYSEE_CHANNEL.fullmatch(segments[0]):
        claim = segments[1]
    elif len(segments) == 1 and not segments[0].startswith("@"):
        claim = segments[0]
    else:
        return None
    if not _ODYSEE_CLAIM.fullmatch(claim):
        return None
    return f"https://odysee.com/{'/'.join(segments)}", None


_BITCHUTE_ID = re.compile(r"[A-Za-z0-9_-]{4,64}")


def _bitchute(
    parts: SplitResult, segments: list[str], query: dict[str, str]
) -> PlatformMatch | None:
    """BitChute videos, ``/video/ID/`` and the player ``/embed/ID/`` ->
    ``www.bitchute.com/video/ID/``; channels and playlists are not posts."""
    if len(segments) != 2 or segments[0] not in ("video", "embed"):
        return None
    if not _BITCHUTE_ID.fullmatch(segments[1]):
        return None
    return f"https://www.bitchute.com/video/{segments[1]}/", "video"


_TRUTH_USER = re.compile(r"@([A-Za-z0-9_]{1,64})")


def _truthsocial(
    parts: SplitResult, segments: list[str], query: dict[str, str]
) -> PlatformMatch | None:
    """Truth Social posts, ``truthsocial.com/@USER/posts/ID`` (also ``/@USER/ID`` and its
    Mastodon embed frame ``/@USER/ID/embed``) -> ``/@USER/posts/ID``; profiles are not."""
    if segments[-1:] == ["embed"]:
        segments = segments[:-1]
    if len(segments) == 3 and segments[1] == "posts":
        segments = [segments[0], segments[2]]
    user = _TRUTH_USER.fullmatch(segments[0]) if len(segments) == 2 else None
    if user is None or not _DIGITS.fullmatch(segments[1]) or len(segments[1]) > 20:
        return None
    return f"https://truthsocial.com/@{user[1]}/posts/{segments[1]}", None


def _brightcove(
    parts: SplitResult, segments: list[str], query: dict[str, str]
) -> PlatformMatch | None:
    """A Brightcove player page, ``/ACCOUNT/PLAYER_EMBED/index.html?videoId=ID`` (a
    playlist's too, for yt-dlp to try); its scripts are not posts."""
    if len(segments) != 3 or not segments[0].isdigit() or segments[2] != "index.html":
        return None
    kept = {name: query[name] for name in ("videoId", "playlistId") if query.get(name)}
    url = f"https://players.brightcove.net/{segments[0]}/{segments[1]}/index.html"
    return (f"{url}?{urlencode(kept)}" if kept else url), "video" if "videoId" in kept else None


_REDDIT_ID = re.compile(r"[a-z0-9]{4,12}")  # a post's, base 36
_REDDIT_VIDEO = re.compile(r"[a-z0-9]{6,24}")  # a hosted video's
_REDDIT_SHARE = re.compile(r"[A-Za-z0-9]{6,20}")


def _reddit(parts: SplitResult, segments: list[str], query: dict[str, str]) -> PlatformMatch | None:
    """A Reddit post under any spelling (``/r/SUB/comments/ID/slug``, ``/comments/ID``,
    ``redd.it/ID``, the embed frame) -> ``reddit.com/comments/ID/``; a hosted video
    (``v.redd.it/ID``) and a share link (``/r/SUB/s/CODE``, which only Reddit resolves)
    are kept as they are."""
    host = _host(parts)
    first = segments[0].lower() if segments else ""
    if host == "v.redd.it":
        return (f"https://v.redd.it/{first}", "video") if _REDDIT_VIDEO.fullmatch(first) else None
    if host == "redd.it":
        return (
            (f"https://www.reddit.com/comments/{first}/", None)
            if _REDDIT_ID.fullmatch(first)
            else None
        )
    if len(segments) == 4 and segments[0] == "r" and segments[2] == "s":
        if _REDDIT_SHARE.fullmatch(segments[3]):
            return f"https://www.reddit.com/r/{segments[1]}/s/{segments[3]}", None
        return None
    if "comments" in segments:
        at = segments.index("comments")
        post = segments[at + 1].lower() if len(segments) > at + 1 else ""
        if (at == 0 or (at == 2 and segments[0] in ("r", "user"))) and _REDDIT_ID.fullmatch(post):
            return f"https://www.reddit.com/comments/{post}/", None
    return None


def _threads(
    parts: SplitResult, segments: list[str], query: dict[str, str]
) -> PlatformMatch | None:
    """Threads posts: ``threads.com/@USER/post/CODE`` (also its ``/embed`` and
    ``/media`` pages, and threads.net) and the short ``/t/CODE``; profiles are not posts."""
    if len(segments) >= 3 and segments[0].startswith("@") and segments[1] == "post":
        user, code = segments[0][1:], segments[2]
        if _THREADS_USER.fullmatch(user) and _INSTAGRAM_CODE.fullmatch(code):
            return f"https://www.threads.com/@{user}/post/{code}", None
    if len(segments) >= 2 and segments[0] == "t" and _INSTAGRAM_CODE.fullmatch(segments[1]):
        return f"https://www.threads.com/t/{segments[1]}", None
    return None


def _imgur(parts: SplitResult, segments: list[str], query: dict[str, str]) -> PlatformMatch | None:
    """Imgur posts ``imgur.com/ID``, albums ``/a/ID`` and gallery posts ``/gallery/ID``
    (also under ``/t/TAG/`` and ``/r/SUBREDDIT/``), with or without the title words
    before the id and the embed frame's ``/embed`` (an album's ``/all``), and the
    ``.gifv`` page of a post's video on either host; users, site pages and files are
    not posts."""
    if _host(parts) == "i.imgur.com":  # files, but for a post's bare id and video page
        bare = _IMGUR_ID.fullmatch(segments[0]) if len(segments) == 1 else None
        return (f"https://imgur.com/{bare[2]}", None) if bare and not bare[1] else None
    if segments[-1:] in (["embed"], ["all"]):  # the embed frame, an album's "all" view
        segments = segments[:-1]
    if len(segments) == 1 and segments[0].lower() not in _IMGUR_PAGES:
        kind, slug = "", segments[0]
    elif len(segments) == 2 and segments[0] in ("a", "gallery"):
        kind, slug = f"{segments[0]}/", segments[1]
    elif len(segments) == 3 and segments[0] in ("t", "topic", "r"):
        kind, slug = "gallery/", segments[2]
    else:
        return None
    found = _IMGUR_ID.fullmatch(slug)
    if found is None or (not kind and found[1] and not _IMGUR_RANDOM.search(found[2])):
        return None  # "terms-of-service": a site page, not title words before an id
    return f"https://imgur.com/{kind}{found[2]}", None


# A Bluesky account is a DID (did:plc:…, did:web:…) or a handle (a domain name); a
# post is its record key in app.bsky.feed.post (a 13-character TID, in practice).
_BLUESKY_ACTOR = re.compile(r"did:(?:plc|web):[A-Za-z0-9._:%-]{1,200}|[A-Za-z0-9.-]{1,253}")
_BLUESKY_RKEY = re.compile(r"[A-Za-z0-9._:~-]{1,512}")
_BLUESKY_POST = "app.bsky.feed.post"


def _bluesky(
    parts: SplitResult, segments: list[str], query: dict[str, str]
) -> PlatformMatch | None:
    """Bluesky posts: ``bsky.app/profile/ACTOR/post/RKEY`` and the embed widget's frame
    ``embed.bsky.app/embed/DID/app.bsky.feed.post/RKEY``; profiles are not posts."""
    url = None
    if _host(parts) == "embed.bsky.app":
        if len(segments) == 4 and segments[0] == "embed" and segments[2] == _BLUESKY_POST:
            url = bluesky_post_url(segments[1], segments[3])
    elif len(segments) == 4 and segments[0] == "profile" and segments[2] == "post":
        url = bluesky_post_url(segments[1], segments[3])
    return (url, None) if url else None


def bluesky_post_url(actor: str, rkey: str) -> str | None:
    """The web address of a Bluesky post, from its account (DID or handle) and record
    key; None when either is not one."""
    actor = actor.lower() if not actor.startswith("did:") else actor
    if not (_BLUESKY_ACTOR.fullmatch(actor) and _BLUESKY_RKEY.fullmatch(rkey)):
        return None
    return f"https://bsky.app/profile/{actor}/post/{rkey}"


def bluesky_uri_url(uri: str | None) -> str | None:
    """The web address of the post an AT URI (``at://DID/app.bsky.feed.post/RKEY``)
    names, as Bluesky's embed snippet gives it in ``data-bluesky-uri``."""
    if not uri or not uri.startswith("at://"):
        return None
    actor, _, rest = uri[len("at://") :].partition("/")
    collection, _, rkey = rest.partition("/")
    return bluesky_post_url(actor, rkey) if collection == _BLUESKY_POST else None


# Mastodon runs on any host: a status is known by its path, and only its embed frame
# (``HOST/@USER/ID/embed``) says that a URL on an unknown host is one.
_MASTODON_STATUS = re.compile(
    r"/(?:@([A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9.-]{1,253})?)|users/([A-Za-z0-9_]{1,64})/statuses)"
    r"/(\d{1,20})(?:/embed)?/?"
)


def mastodon_status(url: str) -> str | None:
    """``HOST/@USER/ID``, the page of a Mastodon status, for any of its spellings."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    found = _MASTODON_STATUS.fullmatch(parts.path)
    if found is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    user = found[1] or found[2]
    return urlunsplit((parts.scheme, parts.netloc.lower(), f"/@{user}/{found[3]}", "", ""))


def mastodon_embed(url: str) -> str | None:
    """The status a Mastodon embed frame (``HOST/@USER/ID/embed``) shows, or None."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    return mastodon_status(url) if path.rstrip("/").endswith("/embed") else None


_MATCHERS: dict[str, _Matcher] = {
    "youtube": _youtube,
    "vimeo": _vimeo,
    "dailymotion": _dailymotion,
    "facebook": _facebook,
    "twitter": _twitter,
    "instagram": _instagram,
    "tiktok": _tiktok,
    "telegram": _telegram,
    "vk": _vk,
    "ok": _ok,
    "brightcove": _brightcove,
    "reddit": _reddit,
    "bluesky": _bluesky,
    "threads": _threads,
    "imgur": _imgur,
    "rutube": _rutube,
    "dzen": _dzen,
    "streamable": _streamable,
    "rumble": _rumble,
    "odysee": _odysee,
    "bitchute": _bitchute,
    "truthsocial": _truthsocial,
}


@lru_cache(maxsize=_CACHE_SIZE)
def platform_post(url: str) -> NormalizedURL | None:
    """The canonical post/video URL when ``url`` addresses one on a supported platform.

    Platform home pages, profiles, buttons and widgets return None: they are not media.
    """
    platform = platform_of(url)
    if platform is None:
        return None
    try:
        parts = _unbang(urlsplit(url.strip()))
    except ValueError:
        return None
    query = {
        name: value
        for name, value in parse_qsl(parts.query)
        if not _is_tracking_param(name) and name not in _PLATFORM_TRACKING_PARAMS
    }
    found = _MATCHERS[platform](parts, _segments(parts.path), query)
    if found is None:
        return None
    canonical, media_type = found
    return NormalizedURL(canonical, platform, "platform", media_type)


def _unbang(parts: SplitResult) -> SplitResult:
    """A "hashbang" address as the page it stood for: sites rendered by script in
    2010-2012 put the path in the fragment (``twitter.com/#!/User/status/ID``,
    ``youtube.com/watch#!v=ID``), and live blogs of that time link them so."""
    if not parts.fragment.startswith("!"):
        return parts
    inner = urlsplit(parts.fragment[1:])
    if inner.path.startswith("/"):  # the whole address: #!/User/status/ID
        return parts._replace(path=inner.path, query=inner.query, fragment="")
    if "=" in inner.path:  # more of the query: watch#!v=ID
        query = "&".join(part for part in (parts.query, inner.path) if part)
        return parts._replace(query=query, fragment="")
    return parts


@lru_cache(maxsize=_CACHE_SIZE)
def proxied_post(url: str) -> NormalizedURL | None:
    """The platform post an embedding proxy's player shows: Embedly's
    ``cdn.embedly.com/widgets/media.html?url=…`` (Medium, many news sites) and Drupal's
    ``/media/oembed?url=…``. Recorded under the post's own address, the video joins its
    sightings elsewhere and is checked where it lives."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    is_proxy = (host == "cdn.embedly.com" and parts.path == "/widgets/media.html") or (
        parts.path.endswith("/media/oembed")
    )
    if not is_proxy:
        return None
    query = dict(parse_qsl(parts.query))
    for name in ("url", "src"):
        post = platform_post(query.get(name, ""))
        if post is not None:
            return post
    return None


@dataclass(frozen=True)
class PostIdentity:
    """Which post a canonical post URL names, whatever else it says: a tweet under any
    spelling of its author or under ``/i/``, an Instagram post as ``/p/`` or ``/reel/``."""

    platform: str
    post_id: str  # as the platform's extractors record it (``media.platform_id``)
    author: str | None  # the account the URL names; "" or "i" when it names none
    extractors: tuple[str, ...]  # the extractor names (lower-cased) that record the id

    @property
    def names_author(self) -> bool:
        """Whether the URL names the post's account (``/i/status/`` does not)."""
        return self.author not in ("", "i")


# platform, canonical URL, extractors that record its ids
_POST_IDENTITIES = (
    (
        "twitter",
        re.compile(r"https://twitter\.com/(?P<user>[^/]+)/status/(?P<id>\d+)"),
        ("twitter", "x"),
    ),
    (
        "tiktok",
        re.compile(r"https://www\.tiktok\.com/@(?P<user>[^/]*)/(?:video|photo)/(?P<id>\d+)"),
        ("tiktok",),
    ),
    (
        "instagram",
        re.compile(r"https://www\.instagram\.com/(?:p|reel|tv)/(?P<id>[\w-]+)/"),
        ("instagram",),
    ),
    ("youtube", re.compile(r"https://www\.youtube\.com/watch\?v=(?P<id>[\w-]{11})"), ("youtube",)),
)


def post_identity(canonical_url: str) -> PostIdentity | None:
    """The post a canonical post URL (`normalize_url`'s) names, on the platforms whose
    URLs name one post in several ways; None for any other URL."""
    for platform, pattern, extractors in _POST_IDENTITIES:
        match = pattern.fullmatch(canonical_url)
        if match is not None:
            author = match.groupdict().get("user")
            return PostIdentity(platform, match.group("id"), author, extractors)
    return None


def normalize_url(url: str) -> NormalizedURL:
    """Canonical form of an absolute URL and what it is (platform post, media file, or a
    page that has to be fetched to find the media)."""
    post = platform_post(url)
    if post is not None:
        return post
    status = mastodon_embed(url)
    if status is not None:
        return NormalizedURL(status, "mastodon", "platform", None)
    platform = platform_of(url)
    if platform is not None and not (platform == "imgur" and media_type_of_url(url)):
        # not a post (a profile, a button); a file on Imgur's hosts is a file
        return NormalizedURL(_clean_platform_url(url), platform, "platform", None)
    cleaned = clean_url(url)
    media_type = media_type_of_url(cleaned)
    if media_type is not None:
        return NormalizedURL(file_url(cleaned), None, "file", media_type)
    return NormalizedURL(cleaned, None, "player", None)


def _clean_platform_url(url: str) -> str:
    """A platform URL that is not a post (a profile, a channel): tracking dropped, https."""
    cleaned = urlsplit(clean_url(url))
    pairs = parse_qsl(cleaned.query, keep_blank_values=True)
    kept = [(name, value) for name, value in pairs if name not in _PLATFORM_TRACKING_PARAMS]
    return urlunsplit(("https", cleaned.netloc, cleaned.path, urlencode(kept), ""))


def url_spellings(url: str) -> list[str]:
    """A page or embed URL as given and as archiver records it: a short link, a player
    URL or one with tracking parameters finds what was archived under the canonical one.

    Pages name the same address in letters (``/حلب``, as the address bar shows it) or
    percent-escaped (``/%D8%AD…``, upper or lower case); each spelling finds the others.
    An address without a scheme (``youtu.be/ID``, ``example.org/live``, as people paste
    them) is read as https and as http: a page archived under either is found.
    """
    given = url.strip()
    addresses = [given]
    if not given.lower().startswith(("http://", "https://")):
        if not _SCHEMELESS.match(given):
            return [url]
        addresses = ["https://" + given, "http://" + given]
    spellings = {url}
    for spelling in (escaped for address in addresses for escaped in _escapings(address)):
        spellings |= {spelling, clean_url(spelling), normalize_url(spelling).url}
    return sorted(spellings)


def _escapings(url: str) -> set[str]:
    """The URL with its path in letters, and percent-escaped in upper and lower case."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return {url}
    letters = _ESCAPED_UTF8.sub(_letters, parts.path)
    escaped = quote(letters, safe=_PATH_SAFE)
    paths = {parts.path, letters, escaped, _ESCAPE.sub(lambda m: m[0].lower(), escaped)}
    return {urlunsplit(parts._replace(path=path)) for path in paths}


def _letters(escapes: re.Match[str]) -> str:
    """A run of percent-escapes as the letters its UTF-8 spells, when it spells
    letters beyond ASCII; else as it was (``%2F`` is not a slash)."""
    try:
        text = unquote_to_bytes(escapes[0]).decode("utf-8")
    except UnicodeDecodeError:
        return escapes[0]
    return text if all(ord(char) > 0x7F for char in text) else escapes[0]
