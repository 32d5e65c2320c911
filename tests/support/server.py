"""A real threaded HTTP/1.1 server on loopback, with routes tests can change while it runs.

Tests talk to it over real sockets, so the code under test sees genuine HTTP: keep-alive,
Range requests, conditional GETs, redirects, and servers that misbehave (slow, endless,
hanging, truncated, rate-limited).

    with FixtureServer() as server:
        server.add_file("/v.mp4", clip)
        response = httpx.get(server.url("/v.mp4"), headers={"Range": "bytes=0-99"})
"""

from __future__ import annotations

import email.utils
import hashlib
import mimetypes
import os
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import urlsplit

__all__ = ["FixtureServer", "Handler", "Request", "RequestHandler", "guess_content_type"]

CHUNK = 64 * 1024
# Errors that only mean "the client went away"; never worth reporting.
_DISCONNECTS = (ConnectionError, TimeoutError, socket.timeout)

_CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".m4a": "audio/mp4",
    ".mp3": "audio/mpeg",
    ".webm": "video/webm",
    ".mov": "video/quicktime",
    ".mkv": "video/x-matroska",
    ".ts": "video/mp2t",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mpd": "application/dash+xml",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".json": "application/json",
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".txt": "text/plain; charset=utf-8",
}


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (a host that is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def guess_content_type(path: str | os.PathLike[str]) -> str:
    """Content-Type from the extension; a fixed table first so results never vary by host."""
    suffix = Path(path).suffix.lower()
    guessed = _CONTENT_TYPES.get(suffix) or mimetypes.guess_type(f"x{suffix}")[0]
    return guessed or "application/octet-stream"


Handler = Callable[["RequestHandler"], None]
"""A custom route: receives the request handler and writes the whole response itself."""


class Request(NamedTuple):
    """One request as received: header names are lower-cased."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass
class _Entity:
    """A static representation: bytes in memory or a file streamed from disk."""

    content_type: str
    data: bytes | None = None
    file: Path | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    rate: float | None = None  # bytes per second for each response (a slower link)
    _etag: str = field(init=False, default="")

    def __post_init__(self) -> None:
        if self.data is not None:
            self._etag = f'"{hashlib.sha1(self.data).hexdigest()[:16]}"'

    def validators(self) -> tuple[int, str, float]:
        """(size, ETag, mtime), re-read for files so on-disk changes are seen."""
        if self.file is not None:
            st = self.file.stat()
            return st.st_size, f'"{st.st_mtime_ns:x}-{st.st_size:x}"', st.st_mtime
        assert self.data is not None
        return len(self.data), self._etag, self.created

    def chunks(self, start: int, length: int) -> Iterator[bytes]:
        if self.rate is None:
            return self._chunks(start, length)
        return _paced(self._chunks(start, length), self.rate)

    def _chunks(self, start: int, length: int) -> Iterator[bytes]:
        if self.data is not None:
            view = memoryview(self.data)[start : start + length]
            for offset in range(0, len(view), CHUNK):
                yield bytes(view[offset : offset + CHUNK])
            return
        assert self.file is not None
        with self.file.open("rb") as fh:
            fh.seek(start)
            while length > 0 and (chunk := fh.read(min(CHUNK, length))):
                length -= len(chunk)
                yield chunk


def _paced(chunks: Iterator[bytes], rate: float) -> Iterator[bytes]:
    """Hand out ``chunks`` no faster than ``rate`` bytes per second: each one when the
    link would have carried it."""
    began = time.perf_counter()
    sent = 0
    for chunk in chunks:
        sent += len(chunk)
        early = began + sent / rate - time.perf_counter()
        if early > 0:
            time.sleep(early)
        yield chunk


class _Unsatisfiable(Exception):
    """The Range lies wholly past the end: answer 416."""


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """A single `bytes=` range as (start, end inclusive), or None to ignore it.

    Multiple or malformed ranges are ignored (a full 200), as RFC 9110 allows.
    """
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first + last).isdigit():
        return None
    if not first:  # suffix: the last N bytes
        if not int(last) or not size:
            raise _Unsatisfiable
        return max(size - int(last), 0), size - 1
    start, end = int(first), int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise _Unsatisfiable
    return start, min(end, size - 1)


def _http_date(timestamp: float) -> str:
    return email.utils.formatdate(timestamp, usegmt=True)


def _not_modified(request: BaseHTTPRequestHandler, etag: str, mtime: float) -> bool:
    """RFC 9110 conditional GET: If-None-Match wins over If-Modified-Since."""
    if (inm := request.headers.get("If-None-Match")) is not None:
        tags = {tag.strip().removeprefix("W/") for tag in inm.split(",")}
        return "*" in tags or etag in tags
    if (ims := request.headers.get("If-Modified-Since")) is not None:
        with suppress(TypeError, ValueError, IndexError):
            return int(mtime) <= email.utils.parsedate_to_datetime(ims).timestamp()
    return False


def _if_range_ok(request: BaseHTTPRequestHandler, etag: str, mtime: float) -> bool:
    """If-Range: honour Range only while the representation is unchanged."""
    if (value := request.headers.get("If-Range")) is None:
        return True
    if value.startswith(('"', "W/")):
        return value == etag
    with suppress(TypeError, ValueError, IndexError):
        return int(mtime) == email.utils.parsedate_to_datetime(value).timestamp()
    return False


class RequestHandler(BaseHTTPRequestHandler):
    """What custom routes receive: the stdlib handler plus a few helpers."""

    protocol_version = "HTTP/1.1"
    server_version = "FixtureServer/1.0"
    sys_version = ""
    server: _HTTPServer

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests read `FixtureServer.requests` instead."""

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except _DISCONNECTS:
            self.close_connection = True

    def _dispatch(self) -> None:
        fixture = self.server.fixture
        headers = {name.lower(): value for name, value in self.headers.items()}
        fixture._record(Request(self.command, self.path, headers))
        route = fixture._route(self.path)
        if route is None:
            self.read_body()
            self.send_simple(HTTPStatus.NOT_FOUND, b"not found\n")
        else:
            route(self)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def read_body(self) -> bytes:
        """The request body (Content-Length or chunked); read it before answering."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = b""
            while size := int(self.rfile.readline().split(b";")[0], 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers
                pass
            return body
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send_simple(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "text/plain; charset=utf-8",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """A complete response with a Content-Length; body omitted for HEAD."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def wait(self, seconds: float) -> bool:
        """Sleep, but wake up as soon as the server closes; True if still running."""
        return not self.server.fixture._closing.wait(seconds)


class _HTTPServer(ThreadingHTTPServer):
    """Tracks each connection's thread and socket so `close()` can cut them off."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], fixture: FixtureServer) -> None:
        self.fixture = fixture
        self.lock = threading.Lock()
        self.workers: dict[threading.Thread, socket.socket] = {}
        super().__init__(address, RequestHandler)

    def server_bind(self) -> None:
        # Skip HTTPServer.server_bind: its getfqdn() reverse lookup can stall for seconds.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        worker = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"fixture-server:{self.server_port}",
            daemon=True,
        )
        with self.lock:
            self.workers[worker] = request
        worker.start()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.lock:
                self.workers.pop(threading.current_thread(), None)

    def handle_error(self, request: object, client_address: object) -> None:
        """Keep stderr quiet; keep real handler bugs for the test to see."""
        error = sys.exc_info()[1]
        if not (error is None or isinstance(error, _DISCONNECTS) or self.fixture._closing.is_set()):
            self.fixture.errors.append(error)


class FixtureServer:
    """A threaded HTTP server on `host` (any 127.x.y.z) with an OS-assigned port.

    It starts serving on construction and answers for any Host header. Routes can be
    added or replaced while it runs. `close()` returns within a couple of seconds even
    when handlers are stuck in slow, endless or hanging responses.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, Handler] = {}
        self._requests: list[Request] = []
        self._closing = threading.Event()
        self.errors: list[BaseException] = []
        self._httpd = _HTTPServer((host, port), self)
        self.host: str = host
        self.port: int = self._httpd.server_port
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fixture-server:{self.port}",
            daemon=True,
        )
        self._thread.start()

    # -- lifecycle -------------------------------------------------------------

    def __enter__(self) -> FixtureServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self, timeout: float = 2.0) -> None:
        """Stop accepting, cut every open connection, and wait for handlers to finish."""
        if self._closing.is_set():
            return
        self._closing.set()  # wakes handlers sleeping in `wait()`
        self._httpd.shutdown()
        with self._httpd.lock:
            workers = dict(self._httpd.workers)
        for sock in workers.values():
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # unblocks reads and writes
        deadline = time.monotonic() + timeout
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        self._httpd.server_close()
        self._thread.join(timeout)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        """Absolute URL for `path` on this server."""
        return f"{self.base_url}/{path.lstrip('/')}"

    @property
    def active_connections(self) -> int:
        """Connections currently being served (idle keep-alive ones included)."""
        with self._httpd.lock:
            return len(self._httpd.workers)

    # -- inspection ------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def hits(self, path: str) -> int:
        """Requests for `path`; the query string is ignored unless `path` has one."""
        with self._lock:
            if "?" in path:
                return sum(1 for r in self._requests if r.path == path)
            return sum(1 for r in self._requests if urlsplit(r.path).path == path)

    def _record(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)

    def _route(self, raw_path: str) -> Handler | None:
        with self._lock:
            return self._routes.get(raw_path) or self._routes.get(urlsplit(raw_path).path)

    # -- routes ------------------------------------------------------------------

    def add_handler(self, path: str, handler: Handler) -> None:
        """Serve `path` (exact, or with any query string) with `handler`; replaces any route."""
        with self._lock:
            self._routes[path] = handler

    def add_file(
        self,
        path: str,
        file_path: str | os.PathLike[str],
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        rate: float | None = None,
    ) -> None:
        """Stream a file from disk with Range, HEAD, ETag/Last-Modified and conditional GET;
        at most ``rate`` bytes per second per response, when given."""
        file = Path(file_path)
        entity = _Entity(
            content_type or guess_content_type(file), file=file, headers=headers or {}, rate=rate
        )
        self.add_handler(path, lambda request: _serve_entity(request, entity))

    def add_bytes(
        self,
        path: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Serve `data` like a file: Range, HEAD, validators and conditional GET included."""
        entity = _Entity(content_type, data=bytes(data), headers=headers or {})
        self.add_handler(path, lambda request: _serve_entity(request, entity))

    def add_page(self, path: str, html: str, headers: Mapping[str, str] | None = None) -> None:
        """Serve an HTML page; calling it again replaces the page (and changes its ETag)."""
        self.add_bytes(path, html.encode(), "text/html; charset=utf-8", headers)

    def add_redirect(self, path: str, target: str, status: int = 302) -> None:
        """Redirect to `target`, a path on this server or any absolute URL."""
        self.add_status(path, status, headers={"Location": target})

    def add_status(
        self,
        path: str,
        status: int,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer every method with a fixed status, body and headers."""

        def handler(request: RequestHandler) -> None:
            request.read_body()
            request.send_simple(status, body, headers=headers)

        self.add_handler(path, handler)

    def add_redirect_loop(self, path: str, status: int = 302) -> None:
        """`path` and `path?loop` redirect to each other forever."""

        def handler(request: RequestHandler) -> None:
            target = path if "?" in request.path else f"{path}?loop"
            request.send_response(status)
            request.send_header("Location", target)
            request.send_header("Content-Length", "0")
            request.end_headers()

        self.add_handler(path, handler)

    def add_retry_after(
        self,
        path: str,
        status: int = 429,
        retry_after: str = "2",
        *,
        times: int | None = None,
        data: bytes = b"",
        content_type: str = "application/octet-stream",
    ) -> None:
        """Refuse with `status` and a Retry-After header; after `times` refusals, serve `data`."""
        refusals = 0
        entity = _Entity(content_type, data=data)
        lock = threading.Lock()

        def handler(request: RequestHandler) -> None:
            nonlocal refusals
            with lock:
                refuse = times is None or refusals < times
                refusals += refuse
            if refuse:
                request.send_simple(
                    status, b"try again later\n", headers={"Retry-After": retry_after}
                )
            else:
                _serve_entity(request, entity)

        self.add_handler(path, handler)

    def add_slow(
        self,
        path: str,
        data: bytes,
        delay_per_chunk: float = 0.1,
        chunk_size: int = 1024,
        content_type: str = "application/octet-stream",
    ) -> None:
        """Trickle `data` (correct Content-Length) one chunk per `delay_per_chunk` seconds."""

        def handler(request: RequestHandler) -> None:
            request.send_response(200)
            request.send_header("Content-Type", content_type)
            request.send_header("Content-Length", str(len(data)))
            request.end_headers()
            if request.command == "HEAD":
                return
            for offset in range(0, len(data), chunk_size):
                if not request.wait(delay_per_chunk):
                    return
                request.wfile.write(data[offset : offset + chunk_size])

        self.add_handler(path, handler)

    def add_header_drip(self, path: str, content_type: str, *, count: int = 150) -> None:
        """A status line, then a header byte every 0.2 s (`count` of them): each read
        well within any read time-out, the answer never whole. A request body is
        read first."""

        def handler(request: RequestHandler) -> None:
            request.read_body()
            request.close_connection = True
            request.wfile.write(f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n".encode())
            request.wfile.flush()
            for _ in range(count):
                if not request.wait(0.2):
                    return
                try:
                    request.wfile.write(b"X")
                    request.wfile.flush()
                except OSError:
                    return

        self.add_handler(path, handler)

    def add_endless(
        self,
        path: str,
        content_type: str = "video/mp4",
        *,
        chunk_size: int = CHUNK,
        delay: float = 0.0,
    ) -> None:
        """Stream bytes forever, without Content-Length, until the client disconnects.

        The handler blocks in `write()` once the client stops reading (no busy loop) and
        exits on the first failed write after the client hangs up.
        """
        chunk = os.urandom(chunk_size)

        def handler(request: RequestHandler) -> None:
            request.close_connection = True
            request.send_response(200)
            request.send_header("Content-Type", content_type)
            request.send_header("Connection", "close")
            request.end_headers()
            if request.command == "HEAD":
                return
            with suppress(*_DISCONNECTS, OSError):
                while request.wait(delay):
                    request.wfile.write(chunk)

        self.add_handler(path, handler)

    def add_hang(self, path: str, seconds: float = 30.0) -> None:
        """Read the request, then say nothing for `seconds`, then hang up without answering."""

        def handler(request: RequestHandler) -> None:
            request.close_connection = True
            request.wait(seconds)

        self.add_handler(path, handler)

    def add_truncated(
        self,
        path: str,
        data: bytes,
        declared_length: int,
        content_type: str = "application/octet-stream",
    ) -> None:
        """Declare `declared_length` bytes, send only `data`, then close the connection."""

        def handler(request: RequestHandler) -> None:
            request.close_connection = True
            request.send_response(200)
            request.send_header("Content-Type", content_type)
            request.send_header("Content-Length", str(declared_length))
            request.end_headers()
            if request.command != "HEAD":
                request.wfile.write(data)
            with suppress(OSError):
                request.connection.shutdown(socket.SHUT_WR)

        self.add_handler(path, handler)


def _serve_entity(request: RequestHandler, entity: _Entity) -> None:
    """Serve a static representation the way a CDN would."""
    request.read_body()
    if request.command not in {"GET", "HEAD"}:
        request.send_simple(HTTPStatus.METHOD_NOT_ALLOWED, headers={"Allow": "GET, HEAD"})
        return
    size, etag, mtime = entity.validators()
    headers = {"ETag": etag, "Last-Modified": _http_date(mtime), "Accept-Ranges": "bytes"}
    headers.update(entity.headers)
    if _not_modified(request, etag, mtime):
        request.send_response(HTTPStatus.NOT_MODIFIED)
        for name, value in headers.items():
            request.send_header(name, value)
        request.end_headers()
        return
    status, start, length = HTTPStatus.OK, 0, size
    if (range_header := request.headers.get("Range")) and _if_range_ok(request, etag, mtime):
        try:
            byte_range = _parse_range(range_header, size)
        except _Unsatisfiable:
            headers["Content-Range"] = f"bytes */{size}"
            request.send_simple(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, headers=headers)
            return
        if byte_range is not None:
            start, end = byte_range
            status, length = HTTPStatus.PARTIAL_CONTENT, end - start + 1
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    request.send_response(status)
    request.send_header("Content-Type", entity.content_type)
    request.send_header("Content-Length", str(length))
    for name, value in headers.items():
        request.send_header(name, value)
    request.end_headers()
    if request.command == "GET":
        for chunk in entity.chunks(start, length):
            if request.server.fixture._closing.is_set():
                return
            request.wfile.write(chunk)
