"""Pages and direct files over HTTP: streamed, hashed in the same pass, capped, guarded.

Two bounds hold whatever a server sends:

- Memory: bodies are read raw and their Content-Encoding (gzip or deflate, one layer)
  is undone here in steps of at most ``DECODE_STEP`` bytes, so the size caps count
  decoded bytes before more are produced. A compressed "bomb" is cut off at the cap
  instead of being inflated whole; stacked or unknown encodings are refused.
- Time: one deadline per request (``network.page_deadline`` for pages,
  ``network.download_deadline`` for files) counts from the start of the request,
  across every redirect hop, the header phase and the body. It is enforced in the
  network stream itself: every connect, TLS handshake, read and write waits at most
  until the deadline, so a server that drips header bytes is cut off too. A file
  may run past its deadline for as long as its bytes so far need at
  ``network.download_min_rate``: a big file on a slow link completes, a trickle does not.
"""

from __future__ import annotations

import contextlib
import email.utils
import io
import itertools
import os
import ssl
import time
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import httpcore
import httpx
import idna

from archiver.config import NetworkConfig
from archiver.errors import ArchiveUnavailable, BlockedAddressError, FetchError, storage_error
from archiver.fetch.cutoff import Connections
from archiver.fetch.limits import HostLimiter
from archiver.fetch.netguard import GuardedTransport, is_bad_host
from archiver.fetch.pools import PerHostTransport
from archiver.stopping import StopFlag
from archiver.store.atomic import temp_file
from archiver.store.digest import Digests, Hasher
from archiver.store.mediatypes import HEAD_BYTES, is_markup, sniff

HTTPX_VERSION = httpx.__version__
HTML_TYPES = ("text/html", "application/xhtml+xml")
FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/feed+json",
)
XML_TYPES = ("application/xml", "text/xml")  # a feed, or XHTML: the document tells
# Content-Encodings undone here, in bounded steps; nothing else is offered or accepted
# (br and zstd decoders cannot be asked to stop at a given output size).
ACCEPT_ENCODING = "gzip, deflate"
ERROR_BODY = 4096  # bytes of an error answer kept with its error
DECODE_STEP = 64 * 1024  # most decoded bytes produced before the size cap is checked
_GZIP_MAGIC = b"\x1f\x8b"
_T = TypeVar("_T")


@dataclass(frozen=True)
class Response:
    """What the server said, kept as provenance."""

    url: str
    final_url: str
    status: int
    headers: dict[str, str]

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class Document:
    """A page or feed body read fully into memory (bounded by network.max_page_size)."""

    response: Response
    body: bytes


@dataclass(frozen=True)
class Download:
    """A file streamed into a temp file inside the archive's filesystem."""

    response: Response
    path: Path
    digests: Digests
    head: bytes  # first bytes, to tell what the file is


def _headers(response: httpx.Response) -> dict[str, str]:
    """The headers as recorded: names in lower case, a repeated header's values joined
    with ", " (RFC 9110), but Set-Cookie's with a line break: a cookie's ``Expires``
    holds a comma of its own, and no header value holds a line break."""
    merged: dict[str, str] = {}
    for key, value in response.headers.multi_items():
        key = key.lower()
        joint = "\n" if key == "set-cookie" else ", "
        merged[key] = f"{merged[key]}{joint}{value}" if key in merged else value
    return merged


#: What httpx raises, besides its HTTPError family, for a URL it cannot request (a
#: redirect's Location included): a malformed URL, a host IDNA refuses.
BAD_URL_ERRORS = (httpx.InvalidURL, idna.IDNAError)


def _reason(exc: Exception, url: str) -> FetchError:
    """One line that says what went wrong, for the archivist and the retry log."""
    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, httpx.TooManyRedirects):
        # retried: a cookie wall or a CDN sends a loop for a while as often as for good
        return FetchError(f"too many redirects: {url}")
    if isinstance(exc, httpx.TimeoutException):
        kind = {
            httpx.ConnectTimeout: "connecting",
            httpx.ReadTimeout: "waiting for data",
            httpx.WriteTimeout: "sending",
            httpx.PoolTimeout: "waiting for a connection",
        }.get(type(exc), "")
        return FetchError(f"timed out {kind}: {url}".replace("  ", " "))
    if isinstance(exc, (httpx.UnsupportedProtocol, *BAD_URL_ERRORS)):
        target = _requested(exc)
        if target is not None and target != url:  # a redirect to ``file:``, ``ftp:``
            return FetchError(f"unsupported redirect from {url} to {target}", retryable=False)
        return FetchError(f"unsupported URL: {url}", retryable=False)
    if isinstance(exc, httpx.ConnectError):
        cause = exc.__context__ or exc
        text = str(exc) or type(exc).__name__
        if isinstance(cause, ssl.SSLError) or "SSL" in text or "certificate" in text:
            return FetchError(f"TLS error: {text.splitlines()[0]}")
        if is_bad_host(exc):
            return FetchError(f"unsupported URL: {text.splitlines()[0]}", retryable=False)
        return FetchError(f"connection failed: {text.splitlines()[0]}")
    if isinstance(exc, httpx.NetworkError):  # reset or cut while the answer came
        text = (str(exc) or type(exc).__name__).splitlines()[0]
        return FetchError(f"connection lost ({text}): {url}")
    if isinstance(exc, httpx.RemoteProtocolError):
        if str(exc).startswith("Invalid URL in location header"):
            where = str(exc).removeprefix("Invalid URL in location header: ").rstrip(".")
            return FetchError(f"bad redirect from {url}: {where}", retryable=False)
        text = str(exc)
        if text.startswith(("peer closed", "Server disconnected")) or not text:
            return FetchError(f"server closed the connection early: {url}")
        # the answer broke HTTP itself ("illegal header line: ...", two lengths)
        return FetchError(f"malformed HTTP answer from {url}: {text.splitlines()[0][:200]}")
    if isinstance(exc, httpx.HTTPError):
        return FetchError(f"{type(exc).__name__}: {exc}".splitlines()[0])
    raise exc


def _requested(exc: Exception) -> str | None:
    """The URL of the request that failed (a redirect's target), when httpx knows it."""
    try:
        return str(exc.request.url) if isinstance(exc, httpx.RequestError) else None
    except RuntimeError:  # raised before any request was made
        return None


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit() also takes "²"
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (now if now is not None else time.time()), 0.0)


def _error_body(raw: httpx.Response, url: str, deadline: Deadline) -> bytes:
    """The first `ERROR_BODY` bytes of an error answer (a platform's JSON reason), or
    what arrived of them before the connection failed."""
    got = b""
    with contextlib.suppress(httpx.HTTPError, FetchError):
        for chunk in _decoded(raw, url):
            got += chunk
            deadline.check()
            if len(got) >= ERROR_BODY:
                break
    return got[:ERROR_BODY]


#: Time-outs and rate limits: the server asks to be asked later.
BUSY_STATUSES = frozenset({408, 425, 429})
#: Refusals that hosts of embedded media also give for a while, to a bot check or a
#: rate limit: a job that met one is retried with the backoff, not failed at once.
_DENIED = frozenset({401, 403})


def is_refusal(status: int | None) -> bool:
    """Whether an HTTP status refuses this address (a 4xx other than time-outs and rate
    limits), so another spelling of it may still be served."""
    return status is not None and 400 <= status < 500 and status not in BUSY_STATUSES


#: The redirects httpx follows when they name a ``Location``.
_FOLLOWED = frozenset({301, 302, 303, 307, 308})


def _refuse_part(response: Response) -> None:
    """Raise for an answer that is not the whole resource though nothing else was asked
    for: a 206 (archiver never sends ``Range``: its bytes would be stored as the whole
    file, or the page cut short), a redirect without a ``Location`` to follow, or one
    that is not followed (a 300's list of choices, a 305): a redirect's body is no
    file and no page. All are retried, as a redirect loop is: none says the resource
    is gone, and a server may answer otherwise later."""
    status = response.status
    if status == 206:
        raise FetchError(
            f"HTTP 206 (part of the file) from {response.final_url}, for the whole file",
            http_status=status,
        )
    if not 300 <= status < 400 or status == 304:
        return
    location = response.headers.get("location")
    if not location:
        raise FetchError(
            f"HTTP {status} from {response.final_url}: a redirect with no Location",
            http_status=status,
        )
    if status not in _FOLLOWED:
        raise FetchError(
            f"HTTP {status} from {response.final_url}: a redirect that is not followed "
            f"(only 301, 302, 303, 307 and 308 are), to {location[:200]}",
            http_status=status,
        )


def _status_error(response: Response) -> FetchError:
    status = response.status
    retry = status >= 500 or status in BUSY_STATUSES or status in _DENIED
    return FetchError(
        f"HTTP {status} from {response.final_url}",
        http_status=status,
        retryable=retry,
        retry_after=retry_after_seconds(response.headers.get("retry-after")),
    )


# Connections are pooled per host (see `PerHostTransport`), kept alive for a minute, to
# the last 200 hosts used: liveness checks and polls go round many hosts.
_HOST_LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=4, keepalive_expiry=60)
_MAX_HOST_POOLS = 200


def _no_cookies() -> CookieJar:
    """A jar that keeps no cookie: one capture's Set-Cookie is never sent with another
    request, so what is archived depends on no state that its provenance does not
    record (a redirect's hops keep theirs: `_OneRequestCookies`)."""
    return CookieJar(DefaultCookiePolicy(allowed_domains=[]))


#: The cookies a request's redirects have set so far, in the request's extensions.
_CHAIN_COOKIES = "archiver.chain_cookies"


class _OneRequestCookies(httpx.Client):
    """A client whose cookies last one request: those its redirects set go with its
    next hops, as a browser sends them (a site that sets one and redirects back to
    check it loops for ever without), and none outlives the request."""

    def _build_redirect_request(
        self, request: httpx.Request, response: httpx.Response
    ) -> httpx.Request:
        redirect = super()._build_redirect_request(request, response)
        chain = request.extensions.get(_CHAIN_COOKIES)
        if not isinstance(chain, httpx.Cookies):
            chain = httpx.Cookies()
        chain.extract_cookies(response)
        redirect.extensions = {**request.extensions, _CHAIN_COOKIES: chain}
        chain.set_cookie_header(redirect)
        return redirect


def make_client(
    network: NetworkConfig, timeout: float | None = None, connections: Connections | None = None
) -> httpx.Client:
    """The one way archiver builds an HTTP client: guarded, honest, bounded; with
    ``connections``, its open connections can be cut at once."""
    public_only = not network.allow_private_addresses
    tls = httpx.create_ssl_context()  # one for all hosts: each takes 25 ms of CPU to make

    def host_pool() -> httpx.BaseTransport:
        transport = GuardedTransport(
            public_only=public_only,
            connections=connections,
            verify=tls,
            retries=0,
            limits=_HOST_LIMITS,
        )
        _bound_by_deadlines(transport)
        return transport

    return _OneRequestCookies(
        transport=PerHostTransport(host_pool, max_pools=_MAX_HOST_POOLS),
        follow_redirects=True,
        max_redirects=network.max_redirects,
        cookies=_no_cookies(),
        timeout=httpx.Timeout(
            timeout or network.read_timeout, connect=network.connect_timeout, pool=None
        ),
        # explicit, so installing brotli or zstandard never widens what is accepted
        headers={"User-Agent": network.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
        trust_env=False,  # an environment proxy would bypass the address guard
    )


class HttpFetcher:
    """One pooled client for the whole process; thread-safe."""

    def __init__(
        self,
        network: NetworkConfig,
        per_host_concurrency: int,
        stop: StopFlag | None = None,
        per_host_delay: float = 0.0,
    ) -> None:
        self.network = network
        self.stop = stop or StopFlag()  # set at shutdown: transfers abort
        self.connections = Connections()
        self.client = make_client(network, connections=self.connections)
        self.limiter = HostLimiter(per_host_concurrency, per_host_delay, stop=self.stop)
        # a transfer blocked on a silent server would see the flag only at its read
        # time-out: its connection is cut instead, and it fails as Interrupted
        self.stop.when_set(self.connections.cut_all)

    def close(self) -> None:
        self.client.close()

    def _page_limit(self) -> Limit:
        return Limit("page", "network.page_deadline", self.network.page_deadline)

    def _download_limit(self) -> Limit:
        return download_limit(self.network)

    @contextlib.contextmanager
    def _stream(
        self, url: str, limit: Limit, headers: dict[str, str] | None = None
    ) -> Iterator[tuple[httpx.Response, Response, Deadline]]:
        """GET ``url`` with one deadline from now (once the host's slot is ours) to the
        end of the block: redirects, headers and body all count against it."""
        try:
            httpx.URL(url).host  # noqa: B018 (the host is what fails: a bad IDNA label)
        except (httpx.InvalidURL, UnicodeError):  # or a control character
            raise FetchError(f"unsupported URL: {url}", retryable=False) from None
        with self.limiter.slot(url):
            self.stop.check()
            deadline = Deadline(url, limit)
            try:
                with within(deadline), self.client.stream("GET", url, headers=headers) as raw:
                    response = Response(url, str(raw.url), raw.status_code, _headers(raw))
                    _refuse_part(response)
                    yield raw, response, deadline
            except BlockedAddressError:
                raise
            except (httpx.HTTPError, *BAD_URL_ERRORS, FetchError) as exc:
                self.stop.check()  # the connection was cut at shutdown: not the item's fault
                raise _reason(exc, url) from None

    def get_document(self, url: str, headers: dict[str, str] | None = None) -> Document:
        """GET a page or feed into memory, refusing bodies over network.max_page_size."""
        with self._stream(url, self._page_limit(), headers) as (raw, response, deadline):
            if response.status == 304:
                return Document(response, b"")
            if response.status >= 400:
                refused = _status_error(response)
                refused.body = _error_body(raw, url, deadline)  # a platform's own reason
                raise refused
            return Document(response, self._read_capped(raw, _decoded(raw, url), deadline))

    def _read_capped(
        self, raw: httpx.Response, chunks: Iterable[bytes], deadline: Deadline
    ) -> bytes:
        """The body's decoded ``chunks`` into memory, refused over the cap."""
        cap = self.network.max_page_size
        declared = _declared_length(raw)
        if declared is not None and declared > cap:
            raise FetchError(f"page too large: {declared} bytes > {cap}", retryable=False)
        body: list[bytes] = []
        size = 0
        for chunk in chunks:
            self.stop.check()
            size += len(chunk)
            if size > cap:
                raise FetchError(f"page too large: more than {cap} bytes", retryable=False)
            deadline.check()
            body.append(chunk)
        return b"".join(body)

    @contextlib.contextmanager
    def fetch(self, url: str, tmp_dir: Path) -> Iterator[Document | Download]:
        """GET ``url``: HTML and feeds come back as a Document, anything else as a Download.

        A Download's temp file is removed when the block exits unless it was published.
        The connection and the per-host slot are released before the caller's block
        runs, so storing one file never holds up the next download.

        What the URL is only shows in the response's headers, so until they arrive
        the shorter of the two deadlines applies; then the page or download deadline,
        still counted from the start of the request. Compression is offered (gzip,
        deflate) since this is usually a page; a compressed file is stored decoded.
        """
        page, file = self._page_limit(), self._download_limit()
        with temp_file(tmp_dir) as (path, sink):
            result: Document | Download
            shorter = page if page.seconds <= file.seconds else file
            first = Limit("response", shorter.setting, shorter.seconds)
            with self._stream(url, first) as (raw, response, deadline):
                if response.status >= 400:
                    raise _status_error(response)
                chunks = _decoded(raw, url)
                page_like = response.content_type in ("", *HTML_TYPES, *FEED_TYPES, *XML_TYPES)
                if page_like:  # a page named, or no type: the first bytes tell
                    read, rest = _first_bytes(chunks)
                    head = b"".join(read)
                    chunks = itertools.chain(read, rest)
                    if not response.content_type:  # no type named: a browser sniffs markup
                        page_like = is_markup(head)
                    else:  # a photo served as text/html (a server's default type) is a photo
                        page_like = sniff(head) is None
                if page_like:
                    deadline.limit = page
                    deadline.check()
                    result = Document(response, self._read_capped(raw, chunks, deadline))
                else:
                    deadline.limit = file
                    deadline.check()
                    result = self._save(raw, chunks, response, path, sink, deadline)
            yield result

    @contextlib.contextmanager
    def download(self, url: str, tmp_dir: Path) -> Iterator[Download]:
        """Stream a file to a temp file, hashing as it arrives (see ``fetch``).

        Asks for ``Accept-Encoding: identity``: media is already compressed, so
        transfer compression gains nothing, and uncompressed the bytes on the wire
        are the file's bytes, so Content-Length can prove the file complete (see
        ``_identity``). A server that compresses anyway is still decoded, in bounded
        steps, and the decoded bytes are what is stored and hashed, as with ``fetch``
        (which cannot ask for identity: it does not know yet whether it gets a page).
        """
        with temp_file(tmp_dir) as (path, sink):
            with self._stream(url, self._download_limit(), {"Accept-Encoding": "identity"}) as (
                raw,
                response,
                deadline,
            ):
                if response.status >= 400:
                    raise _status_error(response)
                chunks = _decoded(raw, url)
                result = self._save(raw, chunks, response, path, sink, deadline)
            yield result

    def _save(
        self,
        raw: httpx.Response,
        chunks: Iterable[bytes],
        response: Response,
        path: Path,
        sink: BinaryIO,
        deadline: Deadline,
    ) -> Download:
        """Stream the body's decoded ``chunks`` to ``sink``, hashed."""
        cap = self.network.max_file_size
        declared = _declared_length(raw)
        if declared is not None and declared > cap:
            raise FetchError(f"file too large: {declared} bytes > {cap}", retryable=False)
        if declared is not None:
            _check_room(sink, declared)
        hasher = Hasher()
        head = b""
        try:
            for chunk in chunks:
                self.stop.check()
                if len(head) < HEAD_BYTES:
                    head += chunk[: HEAD_BYTES - len(head)]
                hasher.update(chunk)
                if hasher.size > cap:
                    raise FetchError(f"file too large: more than {cap} bytes", retryable=False)
                deadline.received = hasher.size
                deadline.check()
                sink.write(chunk)
            sink.flush()
        except httpx.HTTPError as exc:
            self.stop.check()  # the connection was cut at shutdown: not the item's fault
            raise _reason(exc, response.url) from None
        except OSError as exc:
            raise storage_error(exc, "cannot write to the archive") from None
        if declared is not None and _identity(raw) and hasher.size != declared:
            raise FetchError(f"incomplete download: {hasher.size} of {declared} bytes")
        if not hasher.size:  # no evidence: a hiccup to retry, not an empty file to keep
            status = response.status
            raise FetchError(f"empty response: HTTP {status} with no bytes", http_status=status)
        return Download(response, path, hasher.digests(), head)


def _check_room(sink: BinaryIO, size: int) -> None:
    """ArchiveUnavailable, before a byte is written, for a file larger than the room left
    on the archive's disk. Written until the disk was full, it failed every capture and
    sidecar written meanwhile, and again at each of its retries (a full disk is retried
    uncounted, every few minutes, until there is room)."""
    try:
        disk = os.fstatvfs(sink.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        return
    free = disk.f_bavail * disk.f_frsize
    if size > free:
        raise ArchiveUnavailable(
            f"cannot write to the archive: No space left on device ({size:,} bytes to come,"
            f" {free:,} free)"
        )


def _first_bytes(chunks: Iterator[bytes]) -> tuple[list[bytes], Iterator[bytes]]:
    """The body's first chunks, as many as it takes to hold `HEAD_BYTES` (or the whole
    body, when shorter); and the rest to come. A server's first chunk can be a line
    break or four bytes: too few to tell a page from a file served as text/html."""
    read: list[bytes] = []
    size = 0
    for chunk in chunks:
        read.append(chunk)
        size += len(chunk)
        if size >= HEAD_BYTES:
            break
    return read, chunks


def _declared_length(raw: httpx.Response) -> int | None:
    """The body's length as Content-Length gives it, or None: none given, or a
    Transfer-Encoding beside it, which the body's framing follows instead (RFC 9112,
    6.3), so the length says nothing of the body."""
    declared = raw.headers.get("content-length")
    if "transfer-encoding" in raw.headers or not declared or not declared.isdecimal():
        return None
    return int(declared)


def _codings(raw: httpx.Response) -> list[str]:
    """The Content-Encoding layers, outermost last; "identity" ones dropped."""
    value = raw.headers.get("content-encoding", "")
    return [c for c in (part.strip().lower() for part in value.split(",")) if c != "identity" and c]


def _identity(raw: httpx.Response) -> bool:
    """True when the body is sent as-is, so the raw bytes are the file's bytes."""
    return not _codings(raw)


def _decoded(raw: httpx.Response, url: str) -> Iterator[bytes]:
    """The body with its Content-Encoding undone, in chunks of at most DECODE_STEP bytes
    (identity: the raw chunks as they arrive).

    Decoding stops as soon as the caller stops asking, so a size cap checked between
    chunks bounds memory whatever the compression ratio. One gzip or deflate layer is
    undone; stacked or other encodings are refused before any byte is read.
    """
    codings = _codings(raw)
    if not codings:
        yield from raw.iter_raw()
        return
    if len(codings) > 1:
        raise FetchError(
            f"refused: stacked content encodings ({', '.join(codings)}): {url}", retryable=False
        )
    coding = {"x-gzip": "gzip"}.get(codings[0], codings[0])
    if coding not in ("gzip", "deflate"):
        raise FetchError(
            f"refused: unsupported content encoding {coding!r} (only gzip and deflate): {url}",
            retryable=False,
        )
    inflater = _Inflater(gzip=coding == "gzip")
    try:
        for chunk in raw.iter_raw():
            yield from inflater.feed(chunk)
    except zlib.error as exc:
        raise FetchError(f"corrupt {coding} body ({exc}): {url}") from None
    if not inflater.complete:
        # a body sent without Content-Length ends where the connection closes: only the
        # stream's own end (for gzip, its checksum and length) proves it whole
        raise FetchError(f"incomplete download: the {coding} body is cut short: {url}")


class _Inflater:
    """gzip or deflate, decoded in steps of at most DECODE_STEP output bytes.

    Matches what httpx decoded before: "deflate" may be zlib-wrapped (RFC 9110) or
    raw (a common server mistake). Further gzip members are decoded too (RFC 1952);
    other bytes after the end are ignored. A stream cut short yields what it holds and
    is not `complete`: unlike httpx, the caller refuses it.
    """

    def __init__(self, *, gzip: bool) -> None:
        self._gzip = gzip
        self._z: Any = None  # zlib's Decompress (no public type); made on the first bytes
        self._pending = b""  # under two bytes: not enough to tell what follows
        self._ignore = False  # after the stream's end: trailing bytes, dropped

    @property
    def complete(self) -> bool:
        """Whether the stream reached its end (with gzip, its checksum held), or nothing
        at all was sent."""
        if self._z is None:
            return not self._pending
        return bool(self._z.eof)

    def feed(self, data: bytes) -> Iterator[bytes]:
        data, self._pending = self._pending + data, b""
        while data and not self._ignore:
            if self._z is None or self._z.eof:
                if len(data) < 2:
                    self._pending = data
                    return
                if self._z is None:
                    wbits = zlib.MAX_WBITS if _zlib_header(data) else -zlib.MAX_WBITS
                    self._z = zlib.decompressobj(zlib.MAX_WBITS | 16 if self._gzip else wbits)
                elif self._gzip and data.startswith(_GZIP_MAGIC):  # another member
                    self._z = zlib.decompressobj(zlib.MAX_WBITS | 16)
                else:
                    self._ignore = True
                    return
            data = yield from self._steps(data)

    def _steps(self, data: bytes) -> Generator[bytes, None, bytes]:
        """Decode ``data`` a step at a time; return what follows the stream's end."""
        z = self._z
        while True:
            out: bytes = z.decompress(data, DECODE_STEP)
            if out:
                yield out
            if z.eof:
                rest: bytes = z.unused_data
                return rest
            data = z.unconsumed_tail
            if not data and len(out) < DECODE_STEP:
                return b""


def _zlib_header(data: bytes) -> bool:
    """Whether ``data`` starts with a zlib (RFC 1950) header rather than raw deflate."""
    return data[0] & 0x0F == 8 and data[0] >> 4 <= 7 and (data[0] << 8 | data[1]) % 31 == 0


# ---- one deadline per request, enforced in the network stream -----------------------


@dataclass(frozen=True)
class Limit:
    what: str  # "page", "download" or "response" (not known yet), for the message
    setting: str  # the config key, for the message
    seconds: float
    min_rate: int = 0  # bytes/s: past ``seconds``, a transfer this fast may go on


def download_limit(network: NetworkConfig) -> Limit:
    """A file's time limit, for yt-dlp's downloads as for direct files."""
    return Limit(
        "download",
        "network.download_deadline",
        network.download_deadline,
        network.download_min_rate,
    )


@dataclass
class Deadline:
    """A request's time limit, counted from its start across redirects and headers."""

    url: str
    limit: Limit
    started: float = field(default_factory=time.monotonic)
    received: int = 0  # body bytes so far

    def allowed(self) -> float:
        """Seconds the request may take: its limit, or as long as its bytes so far need
        at the limit's minimum rate, so a big file on a slow but steady link completes
        while a server that trickles is still cut off at the limit."""
        if self.limit.min_rate <= 0:
            return self.limit.seconds
        return max(self.limit.seconds, self.received / self.limit.min_rate)

    def remaining(self) -> float:
        return self.started + self.allowed() - time.monotonic()

    def error(self) -> FetchError:
        seconds = f"{self.limit.seconds:.3f}".rstrip("0").rstrip(".")
        took = f"{self.limit.what} took longer than {seconds}s ({self.limit.setting})"
        if self.allowed() > self.limit.seconds:
            took += f", then slowed below {self.limit.min_rate} bytes/s (network.download_min_rate)"
        return FetchError(f"{took}: {self.url}")

    def check(self) -> None:
        if self.remaining() <= 0:
            raise self.error()


# The deadline of the request this thread is making: httpcore does all of a sync
# request's network I/O in the calling thread, so the streams below can find it here.
_DEADLINE: ContextVar[Deadline | None] = ContextVar("archiver_http_deadline", default=None)


@contextlib.contextmanager
def within(deadline: Deadline) -> Iterator[None]:
    """Hold the requests made in the block (by a client `make_client` built) to
    ``deadline``: redirects, headers and body, all told."""
    token = _DEADLINE.set(deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _within(call: Callable[[float | None], _T], timeout: float | None) -> _T:
    """Run one network operation, waiting no longer than the current deadline allows."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return call(timeout)
    remaining = deadline.remaining()
    if remaining <= 0:
        raise deadline.error()
    if timeout is not None and timeout < remaining:
        return call(timeout)  # its own time-out comes first: a plain httpx time-out
    try:
        return call(remaining)
    except httpcore.TimeoutException:
        raise deadline.error() from None


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return _within(lambda t: self._inner.read(max_bytes, t), timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        _within(lambda t: self._inner.write(buffer, t), timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        tls = _within(lambda t: self._inner.start_tls(ssl_context, server_hostname, t), timeout)
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """Wraps a backend (the address guard's, or httpcore's own) so that every stream
    it makes honours the current request's deadline."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = _within(
            lambda t: self._inner.connect_tcp(host, port, t, local_address, socket_options),
            timeout,
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        stream = _within(
            lambda t: self._inner.connect_unix_socket(path, t, socket_options), timeout
        )
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _bound_by_deadlines(transport: httpx.HTTPTransport) -> None:
    """Make ``transport``'s connections honour the deadline of the request using them.

    httpx has no total time-out, only one per read, so the deadline lives in the
    network stream. The pool hands its backend to each new connection, so this must
    run before the first request.
    """
    pool = transport._pool
    if not isinstance(getattr(pool, "_network_backend", None), httpcore.NetworkBackend):
        raise RuntimeError("httpcore changed: cannot bound requests by a deadline")
    pool._network_backend = _DeadlineBackend(pool._network_backend)
