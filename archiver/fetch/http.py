"""Pages and direct files over HTTP: streamed, hashed in the same pass, capped, guarded."""

from __future__ import annotations

import contextlib
import email.utils
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx

from archiver.config import NetworkConfig
from archiver.errors import BlockedAddressError, FetchError, Interrupted
from archiver.fetch.limits import HostLimiter
from archiver.fetch.netguard import GuardedTransport
from archiver.store.atomic import temp_file
from archiver.store.digest import Digests, Hasher

HTTPX_VERSION = httpx.__version__
HTML_TYPES = ("text/html", "application/xhtml+xml")
FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/xml", "text/xml")
HEAD_BYTES = 512


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
    merged: dict[str, str] = {}
    for key, value in response.headers.multi_items():
        key = key.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged


def _reason(exc: Exception, url: str) -> FetchError:
    """One line that says what went wrong, for the archivist and the retry log."""
    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, httpx.TooManyRedirects):
        return FetchError(f"too many redirects: {url}", retryable=False)
    if isinstance(exc, httpx.TimeoutException):
        kind = {
            httpx.ConnectTimeout: "connecting",
            httpx.ReadTimeout: "waiting for data",
            httpx.WriteTimeout: "sending",
            httpx.PoolTimeout: "waiting for a connection",
        }.get(type(exc), "")
        return FetchError(f"timed out {kind}: {url}".replace("  ", " "))
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return FetchError(f"unsupported URL: {url}", retryable=False)
    if isinstance(exc, httpx.ConnectError):
        cause = exc.__context__ or exc
        text = str(exc) or type(exc).__name__
        if isinstance(cause, ssl.SSLError) or "SSL" in text or "certificate" in text:
            return FetchError(f"TLS error: {text.splitlines()[0]}")
        return FetchError(f"connection failed: {text.splitlines()[0]}")
    if isinstance(exc, httpx.RemoteProtocolError):
        return FetchError(f"server closed the connection early: {url}")
    if isinstance(exc, httpx.HTTPError):
        return FetchError(f"{type(exc).__name__}: {exc}".splitlines()[0])
    raise exc


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (now if now is not None else time.time()), 0.0)


def _status_error(response: Response) -> FetchError:
    status = response.status
    retry = status >= 500 or status in (408, 425, 429)
    return FetchError(
        f"HTTP {status} from {response.final_url}",
        http_status=status,
        retryable=retry,
        retry_after=retry_after_seconds(response.headers.get("retry-after")),
    )


def make_client(network: NetworkConfig, timeout: float | None = None) -> httpx.Client:
    """The one way archiver builds an HTTP client: guarded, honest, bounded."""
    # keep connections to many hosts alive (liveness checks and polls go round them)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=200, keepalive_expiry=60)
    transport: httpx.HTTPTransport = (
        httpx.HTTPTransport(retries=0, limits=limits)
        if network.allow_private_addresses
        else GuardedTransport(retries=0, limits=limits)
    )
    return httpx.Client(
        transport=transport,
        follow_redirects=True,
        max_redirects=network.max_redirects,
        timeout=httpx.Timeout(
            timeout or network.read_timeout, connect=network.connect_timeout, pool=None
        ),
        headers={"User-Agent": network.user_agent},
        trust_env=False,  # an environment proxy would bypass the address guard
    )


class HttpFetcher:
    """One pooled client for the whole process; thread-safe."""

    def __init__(
        self,
        network: NetworkConfig,
        per_host_concurrency: int,
        stop: threading.Event | None = None,
        per_host_delay: float = 0.0,
    ) -> None:
        self.network = network
        self.stop = stop or threading.Event()  # set at shutdown: transfers abort
        self.client = make_client(network)
        self.limiter = HostLimiter(per_host_concurrency, per_host_delay)

    def close(self) -> None:
        self.client.close()

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise Interrupted("interrupted by shutdown")

    @contextlib.contextmanager
    def _stream(
        self, url: str, headers: dict[str, str] | None = None
    ) -> Iterator[tuple[httpx.Response, Response]]:
        with self.limiter.slot(url):
            try:
                with self.client.stream("GET", url, headers=headers) as raw:
                    yield raw, Response(url, str(raw.url), raw.status_code, _headers(raw))
            except BlockedAddressError:
                raise
            except (httpx.HTTPError, FetchError) as exc:
                raise _reason(exc, url) from None

    def get_document(self, url: str, headers: dict[str, str] | None = None) -> Document:
        """GET a page or feed into memory, refusing bodies over network.max_page_size."""
        with self._stream(url, headers) as (raw, response):
            if response.status == 304:
                return Document(response, b"")
            if response.status >= 400:
                raise _status_error(response)
            return Document(response, self._read_capped(raw, url))

    def _read_capped(self, raw: httpx.Response, url: str) -> bytes:
        cap = self.network.max_page_size
        declared = raw.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise FetchError(f"page too large: {int(declared)} bytes > {cap}", retryable=False)
        chunks: list[bytes] = []
        size = 0
        deadline = time.monotonic() + self.network.page_deadline
        for chunk in raw.iter_bytes():
            self._check_stop()
            size += len(chunk)
            if size > cap:
                raise FetchError(f"page too large: more than {cap} bytes", retryable=False)
            if time.monotonic() > deadline:
                raise FetchError(f"page took longer than {self.network.page_deadline:.0f}s: {url}")
            chunks.append(chunk)
        return b"".join(chunks)

    @contextlib.contextmanager
    def fetch(self, url: str, tmp_dir: Path) -> Iterator[Document | Download]:
        """GET ``url``: HTML and feeds come back as a Document, anything else as a Download.

        A Download's temp file is removed when the block exits unless it was published.
        The connection and the per-host slot are released before the caller's block
        runs, so storing one file never holds up the next download.
        """
        with temp_file(tmp_dir) as (path, sink):
            result: Document | Download
            with self._stream(url) as (raw, response):
                if response.status >= 400:
                    raise _status_error(response)
                if response.content_type in HTML_TYPES + FEED_TYPES:
                    result = Document(response, self._read_capped(raw, url))
                else:
                    result = self._save(raw, response, path, sink)
            yield result

    @contextlib.contextmanager
    def download(self, url: str, tmp_dir: Path) -> Iterator[Download]:
        """Stream a file to a temp file, hashing as it arrives (see ``fetch``)."""
        with temp_file(tmp_dir) as (path, sink):
            with self._stream(url) as (raw, response):
                if response.status >= 400:
                    raise _status_error(response)
                result = self._save(raw, response, path, sink)
            yield result

    def _save(
        self, raw: httpx.Response, response: Response, path: Path, sink: BinaryIO
    ) -> Download:
        cap = self.network.max_file_size
        declared = raw.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise FetchError(f"file too large: {int(declared)} bytes > {cap}", retryable=False)
        hasher = Hasher()
        head = b""
        deadline = time.monotonic() + self.network.download_deadline
        try:
            for chunk in raw.iter_raw() if _identity(raw) else raw.iter_bytes():
                self._check_stop()
                if len(head) < HEAD_BYTES:
                    head += chunk[: HEAD_BYTES - len(head)]
                hasher.update(chunk)
                if hasher.size > cap:
                    raise FetchError(f"file too large: more than {cap} bytes", retryable=False)
                if time.monotonic() > deadline:
                    raise FetchError(
                        f"download took longer than {self.network.download_deadline:.0f}s"
                    )
                sink.write(chunk)
        except httpx.HTTPError as exc:
            raise _reason(exc, response.url) from None
        except OSError as exc:
            raise FetchError(f"cannot write to the archive: {exc.strerror}") from None
        sink.flush()
        if declared and declared.isdigit() and _identity(raw) and hasher.size != int(declared):
            raise FetchError(f"incomplete download: {hasher.size} of {declared} bytes")
        return Download(response, path, hasher.digests(), head)


def _identity(raw: httpx.Response) -> bool:
    """True when the body is sent as-is, so the raw bytes are the file's bytes."""
    return raw.headers.get("content-encoding", "identity").lower() in ("identity", "")
