"""HttpFetcher stays bounded whatever a server sends: memory against compression bombs,
time against servers that drip headers or chain slow redirects."""

from __future__ import annotations

import gzip
import hashlib
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpcore
import pytest
from support import FixtureServer, MediaSet, RequestHandler, make_clip

from archiver.config import NetworkConfig
from archiver.errors import FetchError
from archiver.fetch.http import Document, Download, HttpFetcher, retry_after_seconds
from archiver.fetch.netguard import check_host, resolve

CAP = 256 * 1024  # max_page_size and max_file_size in these tests
BOMB_SIZE = 64 * 1024**2  # decoded size of the bombs: ~64 KB on the wire
PEAK_LIMIT = 8 * 1024**2  # what reading a capped body may allocate at its peak
T = TypeVar("T")
PAGE = b"<!doctype html><html><body>" + b"<p>Aleppo, 28 September.</p>" * 6000 + b"</body></html>"


def network(**settings: float) -> NetworkConfig:
    return NetworkConfig(
        allow_private_addresses=True, max_page_size=CAP, max_file_size=CAP, **settings
    )


@pytest.fixture
def fetcher() -> Iterator[HttpFetcher]:
    http = HttpFetcher(network(), 2)
    yield http
    http.close()


def compress(data_chunks: Iterator[bytes], wbits: int) -> bytes:
    z = zlib.compressobj(6, zlib.DEFLATED, wbits)
    return b"".join(z.compress(chunk) for chunk in data_chunks) + z.flush()


def zeros(size: int) -> Iterator[bytes]:
    block = bytes(1024**2)
    for _ in range(size // len(block)):
        yield block


ENCODERS: dict[str, tuple[str, int]] = {
    "gzip": ("gzip", zlib.MAX_WBITS | 16),
    "x-gzip": ("x-gzip", zlib.MAX_WBITS | 16),
    "deflate-zlib": ("deflate", zlib.MAX_WBITS),
    "deflate-raw": ("deflate", -zlib.MAX_WBITS),  # what many servers send as "deflate"
}


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    """Each encoding's bomb: BOMB_SIZE zero bytes compressed (~0.2 s each), and
    "stacked": the gzip one gzipped again, a few hundred bytes."""
    by_wbits = {wbits: compress(zeros(BOMB_SIZE), wbits) for _, wbits in ENCODERS.values()}
    made = {name: by_wbits[wbits] for name, (_, wbits) in ENCODERS.items()}
    return made | {"stacked": gzip.compress(made["gzip"])}


def serve_encoded(
    server: FixtureServer, path: str, body: bytes, encodings: list[str], content_type: str
) -> None:
    """Serve ``body`` as is with one Content-Encoding header line per entry of ``encodings``."""

    def handler(request: RequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", content_type)
        for encoding in encodings:
            request.send_header("Content-Encoding", encoding)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    server.add_handler(path, handler)


def peak_while(action: Callable[[], T]) -> tuple[T | FetchError, int]:
    """Run ``action``; return its result (or the FetchError it raised) and the peak bytes
    Python allocated meanwhile (bytes objects and zlib's buffers are both traced)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        result: T | FetchError = action()
    except FetchError as exc:
        result = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result, peak


# ---- memory -------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ENCODERS))
def test_a_compressed_page_is_decoded_as_before_and_a_bomb_stops_at_the_cap(
    fetcher: HttpFetcher, server: FixtureServer, bombs: dict[str, bytes], name: str
) -> None:
    encoding, wbits = ENCODERS[name]
    serve_encoded(server, "/page", compress(iter([PAGE]), wbits), [encoding], "text/html")
    serve_encoded(server, "/bomb", bombs[name], [encoding], "text/html")

    document = fetcher.get_document(server.url("/page"))
    assert document.body == PAGE  # stored decoded, with the headers as the server sent them
    assert document.response.headers["content-encoding"] == encoding
    assert server.requests[-1].headers["accept-encoding"] == "gzip, deflate"

    refused, peak = peak_while(lambda: fetcher.get_document(server.url("/bomb")))
    assert isinstance(refused, FetchError)
    assert str(refused) == f"page too large: more than {CAP} bytes"
    assert not refused.retryable
    assert peak < PEAK_LIMIT, f"decoding a capped page allocated {peak / 1024**2:.0f} MB"


@pytest.mark.parametrize("header_lines", [["gzip, gzip"], ["gzip", "gzip"], ["x-gzip, gzip"]])
def test_stacked_encodings_are_refused_before_anything_is_decoded(
    fetcher: HttpFetcher, server: FixtureServer, bombs: dict[str, bytes], header_lines: list[str]
) -> None:
    serve_encoded(server, "/bomb", bombs["stacked"], header_lines, "text/html")

    refused, peak = peak_while(lambda: fetcher.get_document(server.url("/bomb")))
    assert isinstance(refused, FetchError)
    assert str(refused).startswith("refused: stacked content encodings (")
    assert "\n" not in str(refused) and not refused.retryable
    assert peak < PEAK_LIMIT, f"a refused body allocated {peak / 1024**2:.0f} MB"


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress"])
def test_an_encoding_that_cannot_be_bounded_is_refused(
    fetcher: HttpFetcher, server: FixtureServer, encoding: str
) -> None:
    serve_encoded(server, "/page", b"\x1b\x00\xf8\xa5compressed?", [encoding], "text/html")

    with pytest.raises(FetchError) as caught:
        fetcher.get_document(server.url("/page"))
    assert str(caught.value) == (
        f"refused: unsupported content encoding {encoding!r} (only gzip and deflate): "
        f"{server.url('/page')}"
    )
    assert not caught.value.retryable
    assert server.requests[-1].headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize("how", ["download", "fetch"])
def test_a_file_sent_compressed_is_stored_decoded_and_a_bomb_stops_at_the_cap(
    server: FixtureServer, bombs: dict[str, bytes], tmp_path: Path, how: str
) -> None:
    clip = bytes(range(256)) * 400  # 100 KB, under the cap
    serve_encoded(server, "/clip.mp4", gzip.compress(clip), ["gzip"], "video/mp4")
    serve_encoded(server, "/bomb.mp4", bombs["gzip"], ["gzip"], "video/mp4")
    http = HttpFetcher(network(), 2)

    def get(path: str) -> tuple[str, int, bytes, bytes]:
        open_it = http.download if how == "download" else http.fetch
        with open_it(server.url(path), tmp_path / "tmp") as got:
            assert isinstance(got, Download)
            return got.digests.sha256, got.digests.size_bytes, got.head, got.path.read_bytes()

    sha256, size, head, stored = get("/clip.mp4")
    assert (sha256, size, head) == (hashlib.sha256(clip).hexdigest(), len(clip), clip[:512])
    assert stored == clip
    # download() asks for the file as is; fetch() cannot know it will get a file
    wanted = "identity" if how == "download" else "gzip, deflate"
    assert server.requests[-1].headers["accept-encoding"] == wanted

    refused, peak = peak_while(lambda: get("/bomb.mp4"))
    http.close()
    assert isinstance(refused, FetchError)
    assert str(refused) == f"file too large: more than {CAP} bytes"
    assert peak < PEAK_LIMIT, f"a capped download allocated {peak / 1024**2:.0f} MB"
    assert not list((tmp_path / "tmp").iterdir())


@pytest.mark.parametrize("name", list(ENCODERS))
@pytest.mark.parametrize("how", ["download", "page"])
def test_a_compressed_body_cut_short_is_refused_not_stored(
    server: FixtureServer, tmp_path: Path, name: str, how: str
) -> None:
    """Without Content-Length the connection's close ends the body, so a cut is only seen
    by the compressed stream's missing end: the part received is never stored as whole."""
    encoding, wbits = ENCODERS[name]
    photo = bytes(range(256)) * 400
    packed = compress(iter([photo]), wbits)

    def cut_short(request: RequestHandler) -> None:
        request.close_connection = True
        request.send_response(200)
        request.send_header("Content-Type", "text/html" if how == "page" else "image/jpeg")
        request.send_header("Content-Encoding", encoding)
        request.end_headers()
        request.wfile.write(packed[: len(packed) * 2 // 3])

    server.add_handler("/cut", cut_short)
    serve_encoded(server, "/whole", packed, [encoding], "image/jpeg")
    http = HttpFetcher(network(), 2)
    try:
        if how == "page":
            with pytest.raises(FetchError) as caught:
                http.get_document(server.url("/cut"))
        else:
            with http.download(server.url("/whole"), tmp_path / "tmp") as whole:
                assert whole.path.read_bytes() == photo
            with (
                pytest.raises(FetchError) as caught,
                http.download(server.url("/cut"), tmp_path / "tmp"),
            ):
                pass
    finally:
        http.close()
    assert str(caught.value) == (
        f"incomplete download: the {encoding.removeprefix('x-')} body is cut short: "
        f"{server.url('/cut')}"
    )
    assert caught.value.retryable
    assert not (tmp_path / "tmp").exists() or not list((tmp_path / "tmp").iterdir())


# ---- time ---------------------------------------------------------------------------

DEADLINE = 1.5  # seconds; each read on its own stays well within read_timeout
SLOW_FOR = 6.0  # how long the slow servers below take to answer in full


def drip_headers(request: RequestHandler) -> None:
    """Answer one header byte every 0.1 s for SLOW_FOR seconds, then finish the page."""
    request.close_connection = True
    request.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Drip: ")
    began = time.monotonic()
    while time.monotonic() - began < SLOW_FOR:
        if not request.wait(0.1):
            return
        request.wfile.write(b"a")
    request.wfile.write(b"\r\nContent-Length: 7\r\nConnection: close\r\n\r\n<p></p>")


def slow_redirects(request: RequestHandler) -> None:
    """/hop?n: each hop answers after 0.5 s; hop 8 is the page (4.5 s in all)."""
    hop = int(request.path.partition("?")[2] or 0)
    if not request.wait(0.5):
        return
    if hop < 8:
        request.send_simple(302, headers={"Location": f"/hop?{hop + 1}"})
    else:
        request.send_simple(200, b"<p>at last</p>", "text/html")


def run(http: HttpFetcher, how: str, url: str, tmp: Path) -> Document | Download:
    if how == "get_document":
        return http.get_document(url)
    with (http.download if how == "download" else http.fetch)(url, tmp) as got:
        return got


# (how, which deadline is short, message) -- fetch() does not know what it gets until
# the headers arrive, so meanwhile the shorter of the two deadlines applies.
CASES = [
    ("get_document", "page_deadline", "page took longer than 1.5s (network.page_deadline)"),
    ("download", "download_deadline", "download took longer than 1.5s (network.download_deadline)"),
    ("fetch", "page_deadline", "response took longer than 1.5s (network.page_deadline)"),
    ("fetch", "download_deadline", "response took longer than 1.5s (network.download_deadline)"),
]


@pytest.mark.parametrize("route", ["drip", "redirects"])
@pytest.mark.parametrize(("how", "short", "message"), CASES)
def test_one_deadline_covers_redirects_and_the_header_phase(
    server: FixtureServer, tmp_path: Path, route: str, how: str, short: str, message: str
) -> None:
    server.add_handler("/drip", drip_headers)
    server.add_handler("/hop", slow_redirects)
    limits = {"page_deadline": 60.0, "download_deadline": 60.0, short: DEADLINE}
    http = HttpFetcher(network(read_timeout=1.0, **limits), 2)
    url = server.url("/drip" if route == "drip" else "/hop")

    began = time.monotonic()
    with pytest.raises(FetchError) as caught:
        run(http, how, url, tmp_path / "tmp")
    took = time.monotonic() - began
    http.close()

    assert str(caught.value) == f"{message}: {url}"
    assert caught.value.retryable
    assert DEADLINE - 0.05 <= took < DEADLINE + 1.0
    if route == "redirects":
        assert server.hits("/hop") <= 4  # three hops fit in 1.5 s, the fourth is cut off


def test_the_deadline_is_for_the_whole_request_once_the_body_flows(
    server: FixtureServer, tmp_path: Path
) -> None:
    """fetch(): the header phase is held to the page deadline, then a file gets the
    download deadline, still counted from the start of the request."""

    def slow_start_file(request: RequestHandler) -> None:
        if request.wait(1.0):  # headers after 1 s: within the 1.5 s page deadline
            request.send_simple(200, b"\x00" * 1000, "video/mp4")

    def slow_file(request: RequestHandler) -> None:
        request.close_connection = True
        request.send_response(200)
        request.send_header("Content-Type", "video/mp4")
        request.send_header("Content-Length", "1000")
        request.end_headers()
        for _ in range(100):  # 10 s of 10-byte reads, each well within read_timeout
            if not request.wait(0.1):
                return
            request.wfile.write(b"\x00" * 10)

    def slow_redirect(request: RequestHandler) -> None:
        if request.wait(1.0):
            request.send_simple(302, headers={"Location": "/slow.mp4"})

    server.add_handler("/slow-start.mp4", slow_start_file)
    server.add_handler("/to-slow.mp4", slow_redirect)
    server.add_handler("/slow.mp4", slow_file)
    http = HttpFetcher(network(read_timeout=2.0, page_deadline=1.5, download_deadline=2.5), 2)

    got = run(http, "fetch", server.url("/slow-start.mp4"), tmp_path / "tmp")
    assert isinstance(got, Download) and got.digests.size_bytes == 1000

    began = time.monotonic()
    with pytest.raises(FetchError) as caught:
        run(http, "fetch", server.url("/to-slow.mp4"), tmp_path / "tmp")
    took = time.monotonic() - began
    http.close()
    assert 2.45 <= took < 3.2  # the redirect's 1 s counts: not 1 s + 2.5 s
    assert str(caught.value) == (
        f"download took longer than 2.5s (network.download_deadline): {server.url('/to-slow.mp4')}"
    )


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("Thu, 01 Jan 1970 00:02:00 GMT", 60.0),
        ("²", None),  # a digit to str.isdigit(), not to float()
        ("soon", None),
        ("", None),
    ],
)
def test_retry_after_is_read_or_ignored_never_an_error(header: str, seconds: float | None) -> None:
    assert retry_after_seconds(header, now=60.0) == seconds


@pytest.mark.parametrize("allow_private", [False, True])
def test_a_resolver_that_does_not_answer_is_cut_off_by_the_deadline(
    monkeypatch: pytest.MonkeyPatch, allow_private: bool
) -> None:
    """archiver resolves names itself, with the address guard on or off; a lookup
    that hangs (a DNS server that never answers) counts against the request's time
    limit like the rest."""
    real = socket.getaddrinfo
    answered = threading.Event()

    def unanswered(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "slow-dns.example":
            answered.wait(10)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", unanswered)
    network = NetworkConfig(
        allow_private_addresses=allow_private, page_deadline=1.0, read_timeout=5.0
    )
    http = HttpFetcher(network, 2)
    began = time.monotonic()
    with pytest.raises(FetchError) as caught:
        http.get_document("http://slow-dns.example/live")
    took = time.monotonic() - began
    answered.set()
    http.close()
    assert str(caught.value) == (
        "page took longer than 1s (network.page_deadline): http://slow-dns.example/live"
    )
    assert took < 2.0


def test_names_that_never_resolve_do_not_hold_up_other_lookups(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A hostile page can embed many names whose lookups hang; each request stops
    waiting at its own limit, and the lookups of other hosts still go through."""
    real = socket.getaddrinfo
    release = threading.Event()

    def hanging(host: str, *args: Any, **kwargs: Any) -> Any:
        if host.startswith("blackhole"):
            release.wait(10)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    try:
        for n in range(12):
            with pytest.raises(httpcore.ConnectTimeout):
                resolve(f"blackhole{n}.example", 443, 0.05)
        began = time.monotonic()
        assert "127.0.0.1" in resolve("localhost", 443, 2.0)
        assert time.monotonic() - began < 1.0
    finally:
        release.set()


def test_a_url_httpx_cannot_request_is_a_one_line_failure(server: FixtureServer) -> None:
    """A control character or a host IDNA refuses, in the URL given or in a redirect's
    Location: httpx raises errors that are not its HTTPError; each is one line. A host
    with an empty or over-long label (a..b) passed httpx and crashed the capture with
    the resolver's UnicodeError."""
    server.add_redirect("/moved", "http://xn--a.example/live")
    server.add_redirect("/moved-to-a-bad-name", "http://a..b/x.mp4")
    http = HttpFetcher(NetworkConfig(allow_private_addresses=True), 2)
    urls = (
        "http://exa\x01mple.org/live",
        "http://xn--a.example/",
        server.url("/moved"),
        "http://a..b/x.jpg",
        f"http://{'a' * 64}.example/x.mp4",
        server.url("/moved-to-a-bad-name"),
    )
    try:
        for url in urls:
            with pytest.raises(FetchError, match=r"^unsupported URL: ") as caught:
                http.get_document(url)
            assert not caught.value.retryable
    finally:
        http.close()


def test_a_failed_tls_handshake_leaves_no_connection_behind(
    server: FixtureServer, fetcher: HttpFetcher
) -> None:
    """Each one stayed among the client's open connections for the process's life
    (bad certificates are common: the daemon grew for months)."""
    plain = server.url("/").replace("http://", "https://")
    for _ in range(5):
        with pytest.raises(FetchError):
            fetcher.get_document(plain)
    assert fetcher.connections._open == set()


def test_a_location_that_is_no_url_is_a_bad_redirect_not_a_dropped_connection(
    server: FixtureServer, fetcher: HttpFetcher
) -> None:
    """It was "server closed the connection early", retried with the backoff for ever."""
    server.add_redirect("/garbled", "http://[::1")
    with pytest.raises(FetchError, match=r"^bad redirect from .*/garbled: ") as caught:
        fetcher.get_document(server.url("/garbled"))
    assert not caught.value.retryable


def test_an_answer_that_breaks_http_says_so(server: FixtureServer, fetcher: HttpFetcher) -> None:
    """A header line with a NUL or a non-ASCII name was "server closed the connection
    early": the server was blamed for going away, and nobody looked at its headers."""

    def broken(request: RequestHandler) -> None:
        request.wfile.write(b"HTTP/1.1 200 OK\r\nETag: a\x00b\r\nContent-Length: 2\r\n\r\nok")

    server.add_handler("/broken", broken)
    with pytest.raises(FetchError) as caught:
        fetcher.get_document(server.url("/broken"))
    assert str(caught.value) == (
        f"malformed HTTP answer from {server.url('/broken')}: "
        "illegal header line: bytearray(b'ETag: a\\x00b')"
    )


def test_an_empty_answer_is_no_file_to_keep_but_a_failure_to_retry(
    server: FixtureServer, fetcher: HttpFetcher, tmp_path: Path
) -> None:
    """A 200 with no bytes (a CDN's hiccup) was stored as an empty original.mp4, and
    every later empty answer was "already archived": the clip was never fetched."""
    server.add_bytes("/clip.mp4", b"", "video/mp4")
    empty = r"^empty response: HTTP 200 with no bytes$"
    with (
        pytest.raises(FetchError, match=empty) as caught,
        fetcher.download(server.url("/clip.mp4"), tmp_path),
    ):
        pass
    assert caught.value.retryable and not any(tmp_path.iterdir())


def test_a_name_that_does_not_resolve_is_a_fetch_error_before_ytdlp(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With private addresses refused, the look-up before yt-dlp raised httpcore's
    ConnectError, which no caller expected: a platform URL captured while the
    resolver was down ended in a traceback."""

    def down(host: str, *args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", down)
    with pytest.raises(FetchError, match=r"^connection failed: cannot resolve www.youtube.com"):
        check_host("www.youtube.com")
    monkeypatch.undo()
    with pytest.raises(FetchError, match=r"^connection failed: bad host name 'a..b'") as caught:
        check_host("a..b")
    assert not caught.value.retryable


@pytest.mark.parametrize(("rate", "completes"), [(80_000, True), (8_000, False)])
def test_the_download_deadline_stops_trickles_not_slow_steady_links(
    server: FixtureServer, tmp_path: Path, rate: int, completes: bool
) -> None:
    """A 240 kB file at 80 kB/s takes 3 s against a 1 s deadline: it averages more
    than download_min_rate (20 kB/s), so it completes (a multi-GB video on a slow link
    would otherwise fail every time, and be retried in vain). At 8 kB/s it is cut off
    at the deadline, as before."""
    body = tmp_path / "clip.mp4"
    body.write_bytes(bytes(range(256)) * 937)  # 239,872 bytes
    server.add_file("/clip.mp4", body, rate=rate)
    http = HttpFetcher(network(download_deadline=1.0, download_min_rate=20_000), 2)
    began = time.monotonic()
    try:
        if completes:
            got = run(http, "download", server.url("/clip.mp4"), tmp_path / "tmp")
            assert got.digests.size_bytes == body.stat().st_size
            assert time.monotonic() - began > 2.5
        else:
            with pytest.raises(FetchError) as caught:
                run(http, "download", server.url("/clip.mp4"), tmp_path / "tmp")
            assert time.monotonic() - began < 2.0
            assert str(caught.value).startswith(
                "download took longer than 1s (network.download_deadline)"
            )
    finally:
        http.close()


# ---- what an answer is --------------------------------------------------------------


def chunked(*parts: bytes) -> bytes:
    """``parts`` as HTTP/1.1 chunks, then the last (empty) chunk."""
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


def test_no_cookie_is_kept_and_each_set_cookie_is_recorded_apart(
    server: FixtureServer, fetcher: HttpFetcher, media: MediaSet, tmp_path: Path
) -> None:
    """One client serves the whole process: a Set-Cookie from one capture went back
    with later requests, so what was archived depended on state no provenance
    records (a redirect's next hops still get the cookies its hops set, as from a
    browser). Repeated Set-Cookie values were recorded joined with ", ", which a
    cookie's Expires date also holds: they could not be told apart."""
    expiring = "consent=yes; Expires=Fri, 31 Dec 2100 23:59:59 GMT; Path=/"
    session = "session=abc; Path=/; HttpOnly"
    photo = media.photo_a.read_bytes()

    def with_cookies(request: RequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", "image/jpeg")
        request.send_header("Set-Cookie", expiring)
        request.send_header("Set-Cookie", session)
        request.send_header("Content-Length", str(len(photo)))
        request.end_headers()
        request.wfile.write(photo)

    server.add_handler("/first.jpg", with_cookies)
    server.add_status("/hop", 302, headers={"Location": "/second.jpg", "Set-Cookie": "hop=1"})
    server.add_bytes("/second.jpg", photo, "image/jpeg")

    def checking(request: RequestHandler) -> None:  # a cookie check: set, then back
        if "checked=1" in request.headers.get("Cookie", ""):
            request.send_simple(200, photo, "image/jpeg")
        else:
            request.send_simple(302, headers={"Location": "/check", "Set-Cookie": "checked=1"})

    server.add_handler("/check", checking)

    with fetcher.download(server.url("/first.jpg"), tmp_path) as first:
        assert first.response.headers["set-cookie"].split("\n") == [expiring, session]
    with fetcher.fetch(server.url("/hop"), tmp_path) as second:
        assert isinstance(second, Download) and second.path.read_bytes() == photo
    fetcher.get_document(server.url("/first.jpg"))
    with fetcher.download(server.url("/check"), tmp_path) as checked:
        assert checked.path.read_bytes() == photo
    fetcher.get_document(server.url("/first.jpg"))

    assert [(request.path, request.headers.get("cookie")) for request in server.requests] == [
        ("/first.jpg", None),
        ("/hop", None),
        ("/second.jpg", "hop=1"),
        ("/first.jpg", None),
        ("/check", None),
        ("/check", "checked=1"),
        ("/first.jpg", None),
    ]


@pytest.mark.parametrize("how", ["download", "fetch", "page"])
def test_a_chunked_body_is_not_held_to_a_content_length_beside_it(
    server: FixtureServer, fetcher: HttpFetcher, media: MediaSet, tmp_path: Path, how: str
) -> None:
    """Transfer-Encoding frames the body whatever Content-Length says (RFC 9112, 6.3):
    a stray length was "incomplete download: N of M bytes" at every retry, or, over
    the cap, "too large" for a body under it. The cap still holds as the body comes."""
    body = PAGE if how == "page" else media.photo_a.read_bytes()
    content_type = "text/html" if how == "page" else "image/jpeg"
    over = bytes(range(256)) * (CAP // 256 + 1)

    def framed(data: bytes, length: int) -> Callable[[RequestHandler], None]:
        def handler(request: RequestHandler) -> None:
            request.close_connection = True
            request.wfile.write(
                f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {length}\r\nTransfer-Encoding: chunked\r\n"
                "Connection: close\r\n\r\n".encode()
                + chunked(data[: len(data) // 2], data[len(data) // 2 :])
            )

        return handler

    server.add_handler("/short", framed(body, 1234))
    server.add_handler("/long", framed(body, CAP * 4))
    server.add_handler("/over", framed(over, 1234))

    def get(path: str) -> bytes:
        if how == "page":
            return fetcher.get_document(server.url(path)).body
        with (fetcher.download if how == "download" else fetcher.fetch)(
            server.url(path), tmp_path
        ) as got:
            assert isinstance(got, Download)
            return got.path.read_bytes()

    assert get("/short") == body
    assert get("/long") == body
    with pytest.raises(FetchError, match=r" too large: more than 262144 bytes$") as caught:
        get("/over")
    assert not caught.value.retryable and not list(tmp_path.iterdir())


@pytest.mark.parametrize("what", ["clip", "page"])
def test_a_first_chunk_of_a_few_bytes_does_not_decide_what_an_answer_is(
    server: FixtureServer, fetcher: HttpFetcher, tmp_path: Path, what: str
) -> None:
    """fetch() read only the first chunk to tell a page from a file served as
    text/html: a clip whose server sent 4 bytes first ("\\0\\0\\0\\x1c", short of its
    ftyp) was read as a page and never archived as a file."""
    if what == "clip":
        body = make_clip(tmp_path / "clip.mp4", seconds=1).read_bytes()
        first, rest = body[:4], body[4:]
    else:
        first, rest = b"\n", PAGE

    def dripped(request: RequestHandler) -> None:
        request.close_connection = True
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n"
        head += b"Connection: close\r\n\r\n"
        request.wfile.write(head + b"%x\r\n%s\r\n" % (len(first), first))
        if request.wait(0.2):  # the client reads the first chunk on its own
            request.wfile.write(chunked(rest[:100], rest[100:]))

    server.add_handler("/live", dripped)
    with fetcher.fetch(server.url("/live"), tmp_path / "tmp") as got:
        if what == "clip":
            assert isinstance(got, Download)
            assert got.path.read_bytes() == first + rest and got.head == body[:512]
        else:
            assert isinstance(got, Document) and got.body == first + rest


@pytest.mark.parametrize("status", [300, 305])
@pytest.mark.parametrize("how", ["download", "fetch", "page"])
def test_a_redirect_that_is_not_followed_is_refused_not_stored(
    server: FixtureServer, fetcher: HttpFetcher, media: MediaSet, tmp_path: Path, how: str,
    status: int,
) -> None:  # fmt: skip
    """httpx follows 301, 302, 303, 307 and 308. A 300 (Multiple Choices) or a 305 with
    a Location went on as an answer: its body was stored as the file, with
    http_status 300, or read as the page."""
    server.add_status(
        "/clip.mp4", status, media.photo_a.read_bytes(), headers={"Location": "/a/clip.mp4"}
    )
    url = server.url("/clip.mp4")
    with pytest.raises(FetchError) as caught:
        run(fetcher, how if how != "page" else "get_document", url, tmp_path / "tmp")
    assert str(caught.value) == (
        f"HTTP {status} from {url}: a redirect that is not followed "
        "(only 301, 302, 303, 307 and 308 are), to /a/clip.mp4"
    )
    assert caught.value.http_status == status and caught.value.retryable
    assert server.hits("/a/clip.mp4") == 0
    assert not (tmp_path / "tmp").exists() or not list((tmp_path / "tmp").iterdir())


def test_a_download_waiting_out_a_hosts_pause_ends_at_a_stop(
    server: FixtureServer, media: MediaSet, tmp_path: Path
) -> None:
    """A download waiting for a host that asked for a pause (Retry-After) slept it out
    at a shutdown, past systemd's time-out and into its SIGKILL."""
    server.add_file("/clip.mp4", media.clip_a)
    http = HttpFetcher(network(), 2)
    try:
        http.limiter.defer(server.url("/clip.mp4"), 600)
        failed: list[BaseException] = []

        def download() -> None:
            try:
                with http.download(server.url("/clip.mp4"), tmp_path):
                    pass
            except BaseException as exc:  # what ended it is the point
                failed.append(exc)

        waiting = threading.Thread(target=download)
        waiting.start()
        time.sleep(0.3)
        started = time.monotonic()
        http.stop.set()
        waiting.join(10)
        assert not waiting.is_alive() and time.monotonic() - started < 5
        assert [type(exc).__name__ for exc in failed] == ["Interrupted"]
        assert server.hits("/clip.mp4") == 0
    finally:
        http.close()
