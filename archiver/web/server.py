"""Serving the app with uvicorn: in the foreground (``archiver serve``) or beside the daemon.

The listening socket is bound here, before uvicorn starts, so a taken port or a bad
address is one clear error instead of a log line from inside a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import signal
import socket
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from archiver.archive import Archive
from archiver.errors import ArchiverError
from archiver.logs import ThrottledEvent, log_event
from archiver.web.app import create_app
from archiver.web.security import refuse

STOP_GRACE = 5.0  # open connections (a video being watched) get this long at shutdown
#: How long a connection may take to send a request's headers: half-sent requests
#: (slowloris) would otherwise hold their sockets until the process runs out of them.
HEADER_TIMEOUT = 10.0
#: Connections served at once; requests past it are answered 503 at once.
MAX_CONNECTIONS = 1000
BUSY = "too many connections: try again"
#: Refusals past `MAX_CONNECTIONS`: a flood of them is one line a minute, not one each.
OVER_CAPACITY = ThrottledEvent("web.over_capacity")


class BindError(ArchiverError):
    """The address cannot be listened on (taken port, unknown host)."""


class _Server(uvicorn.Server):
    """uvicorn, minus its signal handling: the caller owns signals (daemon or serve())."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _Protocol(H11Protocol):
    """uvicorn's HTTP/1.1, with what it lacks: a time limit on sending a request's
    headers (a connection that starts no new request within `HEADER_TIMEOUT` while
    none is being answered is closed; idle keep-alive ends sooner anyway), and past
    `MAX_CONNECTIONS` a 503 in the app's one-line form, with Retry-After, whose log
    line is throttled (uvicorn's own limit answers plain text and logs each one)."""

    _timer: asyncio.TimerHandle | None = None
    _watched: object = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._app = self.app
        self.app = self._admit

    async def _admit(self, scope: Scope, receive: Receive, send: Send) -> None:
        # as uvicorn's limit_concurrency counts: this task is among the tasks already
        if len(self.connections) >= MAX_CONNECTIONS or len(self.tasks) > MAX_CONNECTIONS:
            OVER_CAPACITY(limit=MAX_CONNECTIONS)
            headers = {"Retry-After": "10", "Connection": "close"}
            await refuse(scope, send, 503, BUSY, headers)
            return
        await self._app(scope, receive, send)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm()

    def _arm(self) -> None:
        self._watched = self.cycle
        self._timer = self.loop.call_later(HEADER_TIMEOUT, self._check)

    def _check(self) -> None:
        # a request whose body is late is answered 408 by the app (`BodyLimit`)
        answering = self.cycle is not None and not self.cycle.response_complete
        if answering or self.cycle is not self._watched:
            self._arm()  # a response is under way, or a request began since
        elif not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        super().connection_lost(exc)


def _more_descriptors(wanted: int = 8 * MAX_CONNECTIONS) -> None:
    """Raise the soft limit on open files towards the hard one (systemd's soft default
    is 1,024): `MAX_CONNECTIONS` sockets beside the daemon's downloads and database."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _listen(host: str, port: int) -> socket.socket:
    _more_descriptors()
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, UnicodeError) as exc:
        raise BindError(f"web: cannot listen on {host}:{port}: {exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise BindError(f"web: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def _server(archive: Archive, host: str) -> _Server:
    app = create_app(archive, host=host, body_grace=HEADER_TIMEOUT)
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        lifespan="off",
        ws="none",
        loop="asyncio",
        http=_Protocol,  # which limits connections (`MAX_CONNECTIONS`)
        timeout_keep_alive=5,
        timeout_graceful_shutdown=int(STOP_GRACE),
    )
    return _Server(config)


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(archive: Archive, host: str | None = None, port: int | None = None) -> None:
    """Serve until SIGINT or SIGTERM (``archiver serve``); returns after a clean stop.

    Raises ConfigError for an unsafe address (off loopback without a token) and
    BindError when the address cannot be listened on.
    """
    web = archive.config.web
    host = host or web.host
    server = _server(archive, host)  # the policy check comes before binding
    sock = _listen(host, web.port if port is None else port)

    def stop(signum: int, _frame: FrameType | None) -> None:
        server.force_exit = server.should_exit  # a second signal: stop waiting
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    log_event("web.listening", url=_url(sock))
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
    log_event("web.stopped")


class Background:
    """The web app running in a thread of the daemon; ``stop()`` at shutdown."""

    def __init__(self, server: _Server, sock: socket.socket) -> None:
        self.server = server
        self.socket = sock
        self.url = _url(sock)
        self.port: int = sock.getsockname()[1]
        self.thread = threading.Thread(target=self._run, name="web", daemon=True)
        self.failed: BaseException | None = None

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self.socket])
        except BaseException as exc:  # SystemExit from a failed start-up included
            self.failed = exc

    def start(self, timeout: float = 10.0) -> Background:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started and self.thread.is_alive():
            if time.monotonic() > deadline:
                break
            self.thread.join(0.02)
        if not self.server.started:
            self._halt()
            why = f": {self.failed}" if self.failed else ""
            raise BindError(f"web: the server did not start on {self.url}{why}")
        log_event("web.listening", url=self.url)
        return self

    def stop(self) -> None:
        """Stop accepting, give open responses a few seconds, then end the thread."""
        if self.thread.is_alive():
            self._halt()
            log_event("web.stopped")

    def _halt(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(STOP_GRACE + 2)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(2.0)
        self.socket.close()


def start_background(
    archive: Archive, host: str | None = None, port: int | None = None
) -> Background:
    """Start serving in a thread (``archiver run`` with ``[web] enabled``); returns at once.

    Raises ConfigError for an unsafe address and BindError when it cannot listen.
    """
    web = archive.config.web
    host = host or web.host
    server = _server(archive, host)
    return Background(server, _listen(host, web.port if port is None else port)).start()


__all__ = ["Background", "BindError", "serve", "start_background"]
