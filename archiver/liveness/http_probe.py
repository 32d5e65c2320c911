"""Plain-HTTP probes: direct media files, player pages and article pages.

A probe never downloads the media: a file gets a HEAD, and when HEAD is refused or
not conclusive, one ranged GET of its first KB (read at most ``PROBE_BYTES`` even
when the server ignores the range). Servers that lost a file often still answer
200, with an HTML error page or a login form instead of the media; those are
caught by the content type and the first bytes ("soft 404").
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from dataclasses import replace

import httpx

from archiver.errors import BlockedAddressError, FetchError
from archiver.extract import ExtractError, extract_player_media
from archiver.fetch.http import BAD_URL_ERRORS
from archiver.fetch.limits import HostLimiter
from archiver.fetch.post_readers import PostReader
from archiver.liveness.deadline import DeadlinePassed, bounded
from archiver.liveness.result import CheckResult, Status, error_result, status_result
from archiver.liveness.walls import WALL_PROBE_BYTES, challenged, is_wall, wall_result
from archiver.store.mediatypes import identify, is_stream_manifest

HEAD_PROBE = "http-head"
RANGE_PROBE = "http-range"
PLAYER_PROBE = "player-page"
PAGE_PROBE = "http-get"

RANGE = "bytes=0-1023"
PROBE_BYTES = 8 * 1024  # read at most this much of a file, whatever the server sends
MAX_PAGE_BYTES = 4 * 1024 * 1024  # a player page is searched within its first 4 MB
READ_DEADLINE = 30.0  # seconds to read a body, however slowly it trickles

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# What a HEAD must name to be believed alone (with a length): video, image or audio.
_MEDIA_TYPE_PREFIXES = ("video/", "image/", "audio/")
# Types that do not say what the bytes are: look at the bytes.
_VAGUE_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream", "text/plain"})
# Sign-in services' path segments (``/oauth2/v2.0/authorize``, ``/adfs/ls/``, ``/auth/``)
_LOGIN_SEGMENT = re.compile(
    r"(?:^|/)(?:authwall|oauth2?|authorize|saml2?|adfs|auth|authenticate|sso|sessions?)(?:/|$)",
    re.IGNORECASE,
)
# "login", "log-in", "logon", "sign_in" as a word of its own, never letters of another
# ("signing", "resigning", "blog-in")
_LOGIN_WORD = re.compile(r"(?<![a-z0-9])(?:log[-_]?in|log[-_]?on|sign[-_]?in)(?![a-z0-9])", re.I)
# A name of more words is an article's slug, whatever it tells of ("…-login-outage-live")
LOGIN_NAME_WORDS = 3  # "wp-login.php", "member-login", "sso-login-page"
# Hosts that are sign-in services whatever their path (``login.microsoftonline.com``)
_LOGIN_HOSTS = ("login.", "signin.", "sso.", "auth.", "accounts.", "idp.")
# Where hosts send a lost file: imgur's /removed.png, Flickr's photo_unavailable_t.gif.
# The whole name must be one: "statue-removed-from-square.jpg" is a photograph.
_PLACEHOLDER_NAME = re.compile(
    r"(?:(?:photo|image|img|video|media|file|default)[-_]?)?"
    r"(?:removed|deleted|unavailable|not[-_]?found|no[-_]?image|placeholder)"
    r"(?:[-_]?(?:image|img|available))?"
    r"(?:[-_@](?:\d+x\d*|\d+|[a-z]))?"  # a size: -150x150, @2x, _640, Flickr's _t
    r"(?:\.\w+)?",
    re.IGNORECASE,
)
_PLAYER_TAGS = re.compile(rb"<(?:video|iframe|object|embed)\b", re.IGNORECASE)
# Fallbacks for readers without JavaScript: a tag manager's <noscript><iframe> is no player.
_NOSCRIPT = re.compile(rb"<noscript\b.*?</noscript\s*>", re.IGNORECASE | re.DOTALL)
# A media file named anywhere on the page, scripts included (JavaScript players).
_MEDIA_FILE = re.compile(
    rb"""\.(?:mp4|m4v|webm|mov|m3u8|mpd|mp3|m4a|ogg|ogv|flv)(?:[?#"'\s)\\]|$)""",
    re.IGNORECASE,
)
# A localised home page's path: ``/en/``, ``/fr-fr/``, ``/pt_BR``, ``/zh-hans/``, ``/es-419/``
_LANGUAGE_HOME = re.compile(r"/[a-z]{2}(?:[-_](?:[a-z]{2}|[a-z]{4}|\d{3}))?/?", re.IGNORECASE)
# Failures after which a second request to the same host is pointless (a host IDNA
# refuses among them).
_UNREACHABLE = (
    BlockedAddressError,
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.UnsupportedProtocol,
    httpx.TooManyRedirects,
    DeadlinePassed,
    *BAD_URL_ERRORS,
)


def check_file(client: httpx.Client, url: str, limiter: HostLimiter | None = None) -> CheckResult:
    """HEAD decides when it shows media (or a rate limit); anything else gets a ranged GET.

    HEAD is not trusted for bad news: signed CDN URLs refuse HEAD with 403, some
    servers answer 404 or 405 to HEAD only, and an HTML answer needs its body read.

    A HEAD that got no answer in time is followed by the GET at once, in the same
    turn of the host: its other checks wait for this one's verdict (a host that hangs
    is then skipped, see `LivenessChecker.check`) instead of each sending a HEAD of
    its own first; and the server, which had nothing to say for a whole time-out,
    gets no second request sooner than that.
    """
    with _slot(limiter, url):
        try:
            with bounded(client, url):
                head = client.head(url, follow_redirects=True)
        except _UNREACHABLE as exc:
            return error_result(exc, HEAD_PROBE)
        except httpx.TimeoutException:
            return _ranged_get(client, url, None)
        except httpx.HTTPError:
            head = None  # a server that chokes on HEAD (hangs up): try GET
    if head is not None:
        if head.is_success and head.history and _is_placeholder(httpx.URL(url), head.url):
            return _placeholder(head.url, head.status_code, HEAD_PROBE)
        content_type = _content_type(head.headers)
        length = head.headers.get("content-length", "")
        if (
            head.is_success
            and content_type.startswith(_MEDIA_TYPE_PREFIXES)
            and length.isdecimal()
            and int(length) > 0
        ):
            code = head.status_code
            return CheckResult("live", _served(code, content_type), code, None, HEAD_PROBE)
        if head.status_code == 429 or (
            head.status_code >= 500 and "retry-after" in head.headers
        ):  # the server said when to ask again: not a second request now
            return status_result(head.status_code, head.headers, HEAD_PROBE)
        if challenged(head.headers):
            return wall_result(head.status_code, HEAD_PROBE)
    return _ranged_get(client, url, limiter)


def _ranged_get(client: httpx.Client, url: str, limiter: HostLimiter | None) -> CheckResult:
    headers = {"Range": RANGE, "Accept-Encoding": "identity"}
    try:
        with (
            _asking(client, limiter, url),
            client.stream("GET", url, headers=headers, follow_redirects=True) as response,
        ):
            code = response.status_code
            if challenged(response.headers):
                return wall_result(code, RANGE_PROBE)
            if not response.is_success:
                if code == 416 and response.headers.get("content-range", "").endswith("/0"):
                    return CheckResult("gone", "empty file (HTTP 416)", code, None, RANGE_PROBE)
                return _refused(response, RANGE_PROBE)
            first = _read(response, PROBE_BYTES)
            content_type = _content_type(response.headers)
            redirected, final = bool(response.history), response.url
    except (BlockedAddressError, httpx.HTTPError, *BAD_URL_ERRORS) as exc:
        return error_result(exc, RANGE_PROBE)
    if _is_html(content_type, first):
        if redirected and _is_login(final):
            return _login(final, code, RANGE_PROBE)
        if is_wall(first, final if redirected else None):
            return wall_result(code, RANGE_PROBE)
        reason = f"soft 404: HTML page instead of media (HTTP {code}, {content_type or 'no type'})"
        return CheckResult("gone", reason, code, None, RANGE_PROBE)
    if redirected and _is_placeholder(httpx.URL(url), final):
        return _placeholder(final, code, RANGE_PROBE)
    if not first:
        return CheckResult("gone", f"soft 404: empty body (HTTP {code})", code, None, RANGE_PROBE)
    # as capture takes it: the bytes, the server's word, then the address's extension
    # (an ASF file served as application/octet-stream is media to both)
    taken = identify(first, content_type, str(final))
    if taken is None and not is_stream_manifest(first, content_type):
        reason = f"soft 404: not media (HTTP {code}, {content_type or 'no type'})"
        return CheckResult("gone", reason, code, None, RANGE_PROBE)
    return CheckResult("live", _served(code, content_type), code, None, RANGE_PROBE)


def check_page(
    client: httpx.Client,
    url: str,
    *,
    player: bool,
    max_bytes: int = MAX_PAGE_BYTES,
    limiter: HostLimiter | None = None,
) -> CheckResult:
    """GET a page; for a player page, a 200 that plays nothing any more is a soft 404."""
    probe = PLAYER_PROBE if player else PAGE_PROBE
    try:
        with (
            _asking(client, limiter, url),
            client.stream("GET", url, follow_redirects=True) as response,
        ):
            code = response.status_code
            if challenged(response.headers):
                return wall_result(code, probe)
            if not response.is_success:
                return _refused(response, probe)
            content_type = _content_type(response.headers)
            body = _read(response, max_bytes if player else PROBE_BYTES)
            redirected, final = bool(response.history), response.url
    except (BlockedAddressError, httpx.HTTPError, *BAD_URL_ERRORS) as exc:
        return error_result(exc, probe)
    html = _is_html(content_type, body)
    if html and redirected and _is_login(final):
        return _login(final, code, probe)
    if not player:
        return CheckResult("live", f"HTTP {code}", code, None, probe)
    if not html:
        reason = f"HTTP {code}: the player URL serves media itself ({content_type or 'no type'})"
        return CheckResult("live", reason, code, None, probe)
    if redirected and _is_home(final.path) and not _is_home(httpx.URL(url).path):
        if is_wall(body, final):  # a consent host's front page: it says nothing
            return wall_result(code, probe)
        where = f"{final.host}{final.path}"  # the site's home page plays other videos
        reason = f"soft 404: the player URL now leads to the site's home page ({where})"
        return CheckResult("gone", reason, code, None, PLAYER_PROBE)
    verdict = _player_verdict(body, str(final), code)
    if verdict.status == "gone" and is_wall(body, final if redirected else None):
        return wall_result(code, probe)
    return verdict


def check_post(
    client: httpx.Client, reader: PostReader, *, limiter: HostLimiter | None = None
) -> CheckResult:
    """A platform post, by what the platform's own embed widget reads (see
    `post_readers`): the post there is live, whether it holds photos, a video or text;
    "Post not found", a 404, a post no longer listed or one its author or the
    moderators removed is gone. yt-dlp, which sees videos only, could not tell a
    photo post from a deleted one."""
    probe = reader.probe
    try:
        for url in reader.addresses:  # each after the one before's 404
            with (
                _asking(client, limiter, url),
                client.stream("GET", url, follow_redirects=True) as got,
            ):
                code = got.status_code
                if challenged(got.headers):
                    return wall_result(code, probe)
                if code == 404 and url != reader.addresses[-1]:
                    continue
                if not got.is_success:
                    return _post_refused(got, reader, url)
                body = _read(got, MAX_PAGE_BYTES)
                break
    except (BlockedAddressError, httpx.HTTPError, *BAD_URL_ERRORS) as exc:
        return replace(error_result(exc, probe), asked=url)  # a platform API's host, say
    try:
        post = reader.parse(body)
    except FetchError as exc:
        status: Status = "gone" if exc.gone else "error"
        return CheckResult(status, str(exc)[:300], code, None, probe)
    if post.removed:
        return CheckResult("gone", post.removed[:300], code, None, probe)
    posts = post.shown()  # a forward's or a crosspost's media are the original's
    if any(p.photos for p in posts):
        shows = "photos"
    elif any(p.has_video or p.files for p in posts):
        shows = "a video"
    else:
        shows = "text"
    return CheckResult("live", f"HTTP {code}: the post is there ({shows})", code, None, probe)


def _post_refused(got: httpx.Response, reader: PostReader, url: str) -> CheckResult:
    """A platform's non-2xx answer about a post, asked at ``url``: a wall says nothing
    of it; the platform's own words may say it is closed to us."""
    code, probe = got.status_code, reader.probe
    body = _read(got, WALL_PROBE_BYTES)
    result = replace(status_result(code, got.headers, probe), asked=url)
    if result.status != "error" and is_wall(body, None):
        return wall_result(code, probe)
    if reader.refusal is not None:
        refused = FetchError(f"HTTP {code}", http_status=code)
        refused.body = body[:PROBE_BYTES]
        closed = reader.refusal(refused)
        if closed is not None:  # the platform says why: the post is closed to us
            return CheckResult("gone", str(closed)[:300], code, None, probe)
        if code == 403:  # no reason given: a block of this address, not the post
            reason = f"HTTP {code} with no reason given (a block of this address?)"
            return CheckResult("error", reason, code, None, probe)
    return result


def _refused(response: httpx.Response, probe: str) -> CheckResult:
    """A non-2xx answer, by its status, unless it is a wall: DataDome's, PerimeterX's
    and Cloudflare's blocks come as a 403, which says nothing of the media behind them.
    (A 429 or a 5xx is an error anyway, and keeps its Retry-After.)"""
    result = status_result(response.status_code, response.headers, probe)
    if result.status != "error" and is_wall(_read(response, WALL_PROBE_BYTES), None):
        return wall_result(response.status_code, probe)
    return result


def _player_verdict(body: bytes, url: str, code: int) -> CheckResult:
    """Live while the page still names something playable; a poster image is not enough."""
    try:
        found = extract_player_media(body, url)
    except ExtractError:
        found = []
    playable = [e for e in found if e.kind == "platform" or e.media_type != "image"]
    if playable:
        reason = f"HTTP {code}: player page holds media ({playable[0].url})"
    elif _PLAYER_TAGS.search(_NOSCRIPT.sub(b"", body)):
        reason = f"HTTP {code}: player page holds a player element"
    elif _MEDIA_FILE.search(body):
        reason = f"HTTP {code}: player page names a media file"
    else:
        return CheckResult("gone", "soft 404: player page holds no media", code, None, PLAYER_PROBE)
    return CheckResult("live", reason[:300], code, None, PLAYER_PROBE)


def _read(response: httpx.Response, limit: int) -> bytes:
    """At most ``limit`` bytes of the body, within READ_DEADLINE; the rest is never read."""
    chunks: list[bytes] = []
    size = 0
    deadline = time.monotonic() + READ_DEADLINE
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit or time.monotonic() > deadline:
            break
    return b"".join(chunks)[:limit]


def _is_home(path: str) -> bool:
    """A site's home page: ``/``, or a language's (``/en/``, ``/fr-fr/``)."""
    return path in ("", "/") or bool(_LANGUAGE_HOME.fullmatch(path))


def _content_type(headers: httpx.Headers) -> str:
    value: str = headers.get("content-type", "")
    return value.split(";", 1)[0].strip().lower()


def _is_html(content_type: str, first: bytes) -> bool:
    if content_type in _HTML_TYPES:
        return True
    if content_type not in _VAGUE_TYPES:
        return False
    start = first[:1024].lstrip().lower()
    return start.startswith((b"<!doctype html", b"<html")) or b"<body" in start


def _is_login(url: httpx.URL) -> bool:
    """A sign-in page: by its path, its host, or the SAML request it carries (an
    identity provider's single sign-on, ``/adfs/ls/?SAMLRequest=…``)."""
    return (
        bool(_LOGIN_SEGMENT.search(url.path))
        or any(_is_login_name(segment) for segment in url.path.split("/"))
        or url.host.startswith(_LOGIN_HOSTS)
        or "SAMLRequest" in url.params
    )


def _is_login_name(segment: str) -> bool:
    """``login``, ``sign-in``, ``wp-login.php``: a path segment of a few words, one a
    sign-in word. Redirects lead to articles too, and their slugs hold such letters."""
    stem = segment.rsplit(".", 1)[0]  # login.php, Login.aspx
    marked = _LOGIN_WORD.sub("~", stem)
    return marked != stem and len(re.split(r"[-_]+", marked)) <= LOGIN_NAME_WORDS


def _is_placeholder(asked: httpx.URL, final: httpx.URL) -> bool:
    """Whether a file's address redirected to a stand-in for lost files."""
    name = final.path.rsplit("/", 1)[-1]
    return final.path != asked.path and bool(_PLACEHOLDER_NAME.fullmatch(name))


def _placeholder(final: httpx.URL, code: int, probe: str) -> CheckResult:
    reason = f"redirected to a placeholder ({final.host}{final.path}, HTTP {code})"
    return CheckResult("gone", reason[:300], code, None, probe)


def _login(url: httpx.URL, code: int, probe: str) -> CheckResult:
    where = f"{url.host}{url.path}"  # never the query: it may carry tokens
    return CheckResult("restricted", f"redirected to a login page ({where})", code, None, probe)


def _served(code: int, content_type: str) -> str:
    return f"HTTP {code} ({content_type})" if content_type else f"HTTP {code}"


@contextlib.contextmanager
def _slot(limiter: HostLimiter | None, url: str) -> Iterator[None]:
    if limiter is None:
        yield
    else:
        with limiter.slot(url):
            yield


@contextlib.contextmanager
def _asking(client: httpx.Client, limiter: HostLimiter | None, url: str) -> Iterator[None]:
    """The host's turn, then one request within its deadline (counted from the turn)."""
    with _slot(limiter, url), bounded(client, url):
        yield
