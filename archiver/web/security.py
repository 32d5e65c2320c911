"""Who may do what: loopback by default, a token off loopback, a token for every write.

The policy is decided once, when the app is built for an address:

- On loopback, reads are open (the person at the machine), but the ``Host`` header must
  name this machine, so a web page cannot reach the archive through DNS rebinding, and
  another site may only link to it (open a page), never embed or fetch from it, so a page
  elsewhere cannot tell from ``<img src=".../media/<sha256>">`` what the archive holds.
  A request a reverse proxy forwarded (``Forwarded``, ``X-Forwarded-For``, …) is
  refused: without ``base_url`` the proxy would open those reads to its clients.
- Off loopback, and on loopback behind a reverse proxy (``base_url`` set: the proxy
  forwards the internet to 127.0.0.1, and a client can send any ``Host`` through it),
  every route needs the token, unless ``public_read_only`` opens reads. Without a
  token and without ``public_read_only`` the app refuses to start.
- Writes (queueing captures) always need the token, sent as ``Authorization: Bearer``;
  with no token configured they are refused. The login cookie is for reading pages
  only, so a cross-site form can never write; browsers' cross-site POSTs (by their
  ``Origin``) are refused outright. The cookie carries its issue time signed with the
  token and is good for 30 days: a copy stops working then, and changing the token
  ends every login at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Annotated, TypeVar
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from archiver.archive import origin_of
from archiver.config import WebConfig, is_loopback
from archiver.errors import ConfigError

COOKIE = "archiver_session"
SESSION_SECONDS = 30 * 86400  # how long a login lasts
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
MIN_TOKEN = 16

# Pages load only their own CSS, JS and media; nothing may frame them.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
# The embeddable player may be framed by any article (that is its purpose).
EMBED_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; media-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors *"
)
# Archived bytes are evidence, never a document that may run script on this origin.
MEDIA_CSP = "default-src 'none'; sandbox"


class AuthRequired(Exception):
    """The request lacks a valid token (401); pages send the person to the login form."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Forbidden(Exception):
    """The request can never succeed as configured (403)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Policy:
    token: str  # "" when none is configured
    reads_need_token: bool
    trusted_hosts: frozenset[str] | None  # None: any Host header (off loopback)
    local_only: bool = False  # reads open to this machine alone: other sites may only link
    # the origin ``[web] base_url`` publishes (``https://archive.example.org``): behind a
    # reverse proxy, browsers send it as Origin while the Host is the proxy's upstream
    published_origin: str | None = None

    @classmethod
    def for_address(cls, web: WebConfig, host: str) -> Policy:
        """The policy for serving on ``host``; raises ConfigError when it would be unsafe."""
        token = web.token.strip()
        if token and len(token) < MIN_TOKEN:
            raise ConfigError(f"web.token is too short: use at least {MIN_TOKEN} random characters")
        published = web.base_url.strip()
        if is_loopback(host) and not published:
            trusted = {"localhost", "127.0.0.1", "::1"}
            return cls(
                token, reads_need_token=False, trusted_hosts=frozenset(trusted), local_only=True
            )
        if not token and not web.public_read_only:
            if is_loopback(host):
                raise ConfigError(
                    f"web: base_url publishes the archive at {published} without a token: "
                    "set [web] token (or public_read_only = true to publish reads)"
                )
            raise ConfigError(
                f"web: refusing to serve on {host} without a token: set [web] token "
                "(or public_read_only = true to publish reads), or bind to 127.0.0.1"
            )
        trusted_hosts = None
        if is_loopback(host):  # behind a reverse proxy: its public name, or this machine's
            names = {"localhost", "127.0.0.1", "::1", (urlsplit(published).hostname or "")}
            trusted_hosts = frozenset(name.lower() for name in names if name)
        return cls(
            token,
            reads_need_token=not web.public_read_only,
            trusted_hosts=trusted_hosts,
            published_origin=origin_of(published) if published else None,
        )

    def host_allowed(self, host_header: str) -> bool:
        if self.trusted_hosts is None:
            return True
        try:
            host = urlsplit(f"//{host_header}").hostname or ""
        except ValueError:  # "[": no host at all, so not one of ours
            return False
        return host in self.trusted_hosts or is_loopback(host)

    def session_value(self, now: float | None = None) -> str:
        """A login cookie's value: when it was issued, signed with the token (never the
        token itself). It is good for `SESSION_SECONDS`: a copied cookie stops working
        then, even if the token never changes."""
        issued = str(int(time.time() if now is None else now))
        return f"{issued}.{self._signature(issued)}"

    def _signature(self, issued: str) -> str:
        message = b"archiver web session 2 " + issued.encode()
        return hmac.new(self.token.encode(), message, hashlib.sha256).hexdigest()

    def bearer_ok(self, request: Request) -> bool:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not self.token:
            return False
        return hmac.compare_digest(given.strip().encode(), self.token.encode())

    def cookie_ok(self, request: Request, now: float | None = None) -> bool:
        issued, _, signature = request.cookies.get(COOKIE, "").partition(".")
        if not self.token or not issued.isdecimal() or len(issued) > 12:
            return False
        age = (time.time() if now is None else now) - int(issued)
        return 0 <= age <= SESSION_SECONDS and hmac.compare_digest(
            signature.encode(), self._signature(issued).encode()
        )

    def token_ok(self, given: str) -> bool:
        return bool(self.token) and hmac.compare_digest(given.strip().encode(), self.token.encode())


def policy(request: Request) -> Policy:
    found: Policy = request.app.state.policy
    return found


def require_read(request: Request, rules: Annotated[Policy, Depends(policy)]) -> None:
    """Reads: open on loopback and with public_read_only; otherwise token or login cookie."""
    if not rules.reads_need_token or rules.bearer_ok(request) or rules.cookie_ok(request):
        return
    raise AuthRequired("this archive needs a token: send Authorization: Bearer <token>")


def require_write(request: Request, rules: Annotated[Policy, Depends(policy)]) -> None:
    """Writes: always the token, in the Authorization header (never a cookie)."""
    if not rules.token:
        raise Forbidden("writes are disabled: set [web] token in the config to allow them")
    if not rules.bearer_ok(request):
        raise AuthRequired("writing needs the token: send Authorization: Bearer <token>")


def same_origin(headers: Headers, published: str | None = None) -> bool:
    """A browser's POST from another site carries its Origin: refuse it (no CSRF, even
    for the upload form). Clients that send no Origin (curl, scripts) are not browsers.
    Ours is this request's Host, or the ``published`` origin (``[web] base_url``), each
    compared as `origin_of` spells it: browsers leave a default port out of Origin."""
    origin = headers.get("origin")
    if origin is None:
        return True
    theirs = origin_of(origin)
    if theirs is None:  # "null", "http://[": no site at all, so not this one
        return False
    scheme = theirs.partition(":")[0]
    return theirs in (origin_of(f"{scheme}://{headers.get('host', '')}"), published)


def embedded_elsewhere(headers: Headers, path: str = "") -> bool:
    """A request a page of another site makes for anything but a page to show: an image,
    video, object, frame, script or fetch() in it (by Fetch Metadata). That page cannot
    read the answer but sees whether it loaded (``<img>`` and ``<object>`` fire "error"
    on a 404): whether the archive holds a given file.

    A stored file (``/media/…``) is not even opened as a page for it: a window it opens
    on a download (``?download=1``, a type served as an attachment) stays its own
    ``about:blank``, which it can read, while a 404 page takes the window away from it,
    which told it apart."""
    if headers.get("sec-fetch-site") != "cross-site":
        return False
    return headers.get("sec-fetch-dest") != "document" or path.startswith("/media/")


#: Headers a reverse proxy adds for the client it forwards.
FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip")
PROXIED_WITHOUT_BASE_URL = (
    "request forwarded by a proxy: set [web] base_url (and a token) to serve behind one"
)


def forwarded(headers: Headers) -> bool:
    """Whether a reverse proxy says it sent the request (one that adds none of these
    headers cannot be told apart). A proxy on this machine forwards the internet with a
    loopback ``Host``, which would open the reads meant for the person at the machine
    to everyone; ``base_url`` says a proxy is there."""
    return any(name in headers for name in FORWARDING_HEADERS)


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site only (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class SecurityHeaders:
    """Adds the headers every response carries and refuses foreign Host headers.

    A pure ASGI middleware, so streamed media passes through untouched.
    """

    def __init__(self, app: ASGIApp, rules: Policy) -> None:
        self.app = app
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if not self.rules.host_allowed(headers.get("host", "")):
            await refuse(scope, send, 400, "unexpected Host header")
            return
        if scope["method"] not in SAFE_METHODS and not same_origin(
            headers, self.rules.published_origin
        ):
            await refuse(scope, send, 403, "cross-site request refused")
            return
        if self.rules.local_only and embedded_elsewhere(headers, scope["path"]):
            await refuse(scope, send, 403, "cross-site request refused")
            return
        if self.rules.local_only and forwarded(headers):
            await refuse(scope, send, 400, PROXIED_WITHOUT_BASE_URL)
            return
        path: str = scope["path"]
        if path.startswith("/media/"):
            csp = MEDIA_CSP
        elif path.startswith("/embed/"):
            csp = EMBED_CSP
        else:
            csp = PAGE_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),  # no-referrer would send "Origin: null"
                    (b"content-security-policy", csp.encode()),
                    (b"cross-origin-opener-policy", b"same-origin"),
                ]
                if not path.startswith(("/media/", "/embed/")):
                    extra.append((b"x-frame-options", b"DENY"))
                if not path.startswith(("/media/", "/embed/", "/static/")):
                    # search results and item pages name evidence: kept by no cache
                    # (a shared proxy, the browser's disk); media choose their own
                    extra.append((b"cache-control", b"no-store"))
                if self.rules.local_only:  # browsers without Fetch Metadata
                    extra.append((b"cross-origin-resource-policy", b"same-origin"))
                headers += [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


#: The largest request body any route but an upload takes (a capture request, the
#: login form): a client cannot make the server hold more, with or without the token.
MAX_BODY = 64 * 1024
#: Bytes per second a request body must keep up, on average, once its grace is over.
MIN_BODY_RATE = 16 * 1024
#: How long a body may take before that (the server gives it what it gives headers).
BODY_GRACE = 10.0
_T = TypeVar("_T")


class Pace:
    """A request body's deadline, moved on by what arrives: `grace` seconds from the
    headers, one second more for each `rate` bytes received. A sender gone silent, or
    trickling a byte at a time, falls behind and loses its connection, instead of
    holding it (and a task, and a file descriptor) for as long as it likes."""

    def __init__(self, grace: float, rate: int) -> None:
        self.due = time.monotonic() + grace
        self.rate = rate

    async def next(self, arriving: Awaitable[_T]) -> _T:
        """What ``arriving`` gives; TimeoutError once the body is behind."""
        async with asyncio.timeout(max(self.due - time.monotonic(), 0.0)):
            return await arriving

    def received(self, size: int) -> None:
        self.due += size / self.rate


class BodyLimit:
    """Refuses request bodies over `MAX_BODY` (413), before any of it is read when the
    length is declared, at the first byte past it when sent in chunks; and one that
    falls behind its `Pace` (``grace``, then `MIN_BODY_RATE`) with a 408 that closes
    the connection. Uploads (``upload_paths``) are exempt: they stream to disk under
    ``[web] max_upload``, at a pace of their own."""

    def __init__(
        self, app: ASGIApp, upload_paths: frozenset[str], grace: float = BODY_GRACE
    ) -> None:
        self.app = app
        self.upload_paths = upload_paths
        self.grace = grace

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.upload_paths:
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdecimal() and int(declared) > MAX_BODY:
            await refuse(scope, send, 413, f"request body over {MAX_BODY} bytes")
            return
        # a GET's receive() waits for the client to leave while a response streams
        pace = None if scope["method"] in SAFE_METHODS else Pace(self.grace, MIN_BODY_RATE)
        received = 0

        async def bounded() -> Message:
            nonlocal received, pace
            message = await receive() if pace is None else await _on_time(receive, pace)
            size = len(message.get("body", b""))
            received += size
            if received > MAX_BODY:  # a route reading the body answers 413 (see app.py)
                raise HTTPException(413, f"request body over {MAX_BODY} bytes")
            if pace is not None:
                pace.received(size)
                if not message.get("more_body", False):
                    pace = None  # the whole body is in
            return message

        await self.app(scope, bounded, send)


async def _on_time(receive: Receive, pace: Pace) -> Message:
    try:
        return await pace.next(receive())
    except TimeoutError:  # a route reading the body answers 408 (see app.py)
        message = f"request body too slow: send at least {MIN_BODY_RATE // 1024} KiB/s"
        raise HTTPException(408, message, headers={"Connection": "close"}) from None


#: Paths whose answers, errors included, are JSON (``{"error": "one line"}``).
_JSON_PREFIXES = ("/api/", "/media/", "/openapi.json")


def wants_json(path: str) -> bool:
    return path.startswith(_JSON_PREFIXES)


async def refuse(
    scope: Scope, send: Send, status: int, message: str, headers: dict[str, str] | None = None
) -> None:
    """Answer before the app runs: one line, as JSON where the app answers JSON."""
    if wants_json(scope["path"]):
        body, kind = json.dumps({"error": message}).encode(), b"application/json"
    else:
        body, kind = f"{message}\n".encode(), b"text/plain; charset=utf-8"
    extra = [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", kind),
                (b"content-length", str(len(body)).encode()),
                (b"x-content-type-options", b"nosniff"),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


ReadAccess = Depends(require_read)
WriteAccess = Depends(require_write)
