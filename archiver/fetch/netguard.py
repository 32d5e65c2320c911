"""Refuse to connect to non-public addresses, judged on the address actually dialled.

Checking a URL's hostname before the request is not enough: a public-looking name
can resolve to 127.0.0.1, or re-resolve between the check and the connection. So
the guard sits in the connection layer: it resolves the host itself, rejects every
non-public address and connects to an accepted address directly.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from archiver.errors import BlockedAddressError, FetchError
from archiver.fetch.cutoff import Connections

# The classification lives beside the yt-dlp wrapper, which must import only the
# standard library; IPv6 forms that embed an IPv4 address are judged by that address.
from archiver.fetch.ytdlp_guard import is_public_address as is_public_address


def resolve(host: str, port: int, timeout: float | None = None) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order; waiting at most
    ``timeout`` seconds for the lookup (None: as long as the system resolver does).

    With a time-out the lookup runs on a thread of its own, which the caller stops
    waiting for (getaddrinfo cannot be cancelled; it ends when the resolver gives up).
    A thread per lookup, not a pool: a few names that never resolve must not hold up
    the lookups of every other host.
    """
    if timeout is None:
        infos = _lookup(host, port)
    else:
        done: list[list[Any] | BaseException] = []
        finished = threading.Event()

        def look() -> None:
            try:
                done.append(_lookup(host, port))
            except BaseException as exc:  # handed to the caller
                done.append(exc)
            finished.set()

        threading.Thread(target=look, name=f"resolve {host}", daemon=True).start()
        if not finished.wait(timeout):
            raise httpcore.ConnectTimeout(f"resolving {host} took longer than {timeout:.3g}s")
        if isinstance(done[0], BaseException):
            raise done[0]
        infos = done[0]
    seen: list[str] = []
    for *_, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in seen:
            seen.append(address)
    return seen


#: How a host name no resolver can take starts its error (see `is_bad_host`).
BAD_HOST = "bad host name"


def _lookup(host: str, port: int) -> list[Any]:
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc.strerror}") from None
    except UnicodeError:  # an empty label (a..b) or one over 63 characters: IDNA refuses
        raise httpcore.ConnectError(f"{BAD_HOST} {host!r}: a label is empty or too long") from None


def is_bad_host(exc: BaseException) -> bool:
    """Whether a connection failed on the host's name itself: asking again cannot help."""
    return str(exc).startswith(BAD_HOST)


def check_host(host: str, port: int = 443) -> None:
    """Raise BlockedAddressError when ``host`` resolves to any non-public address.

    Used before starting yt-dlp, as an early refusal; inside yt-dlp every connection
    is checked again by :mod:`archiver.fetch.ytdlp_guard`.
    """
    try:
        addresses = resolve(host, port)
    except httpcore.ConnectError as exc:  # a FetchError, as every download failure is
        raise FetchError(f"connection failed: {exc}", retryable=not is_bad_host(exc)) from None
    blocked = [a for a in addresses if not is_public_address(a)]
    if blocked:
        raise BlockedAddressError(
            f"refused: {host} resolves to non-public address {blocked[0]}"
            " (set network.allow_private_addresses to allow)"
        )


class GuardedBackend(httpcore.NetworkBackend):
    """An httpcore network backend that resolves names itself, within the time-out,
    and (unless ``public_only`` is off) dials only public addresses.

    With the guard off (``allow_private_addresses``) the lookup still runs here:
    httpcore's own backend would wait on getaddrinfo for as long as the system
    resolver does, past every time limit.
    """

    def __init__(self, public_only: bool = True, connections: Connections | None = None) -> None:
        self._inner = httpcore.SyncBackend()
        self.public_only = public_only
        self.connections = connections  # told of each connection, to cut it at shutdown

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = resolve(host, port, timeout)  # the lookup counts against the time-out
        allowed = [a for a in addresses if is_public_address(a) or not self.public_only]
        if not allowed:
            raise BlockedAddressError(
                f"refused: {host} resolves to non-public address {addresses[0]}"
                " (set network.allow_private_addresses to allow)"
            )
        last_error: Exception | None = None
        for address in allowed:
            try:
                stream = self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
                return stream if self.connections is None else self.connections.track(stream)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise BlockedAddressError("refused: unix sockets are not reachable from archiver")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with the connection pool dialling through GuardedBackend."""

    def __init__(
        self, *, public_only: bool = True, connections: Connections | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        pool = self._pool
        self._pool = httpcore.ConnectionPool(
            ssl_context=pool._ssl_context,
            max_connections=pool._max_connections,
            max_keepalive_connections=pool._max_keepalive_connections,
            keepalive_expiry=pool._keepalive_expiry,
            http1=pool._http1,
            http2=pool._http2,
            network_backend=GuardedBackend(public_only, connections),
        )
