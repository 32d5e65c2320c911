"""Cut a client's open connections at once, so that a transfer blocked on a silent
server ends now (Ctrl-C on a capture, the daemon's shutdown), not at its read time-out."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

import httpcore


class Connections:
    """The open connections of one client, and the switch that cuts them all.

    Cutting shuts the socket down (``shutdown(2)``): a read or write blocked on it in
    another thread returns at once and the transfer fails. Once cut, a connection made
    later is cut as soon as it opens.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[_TrackedStream] = set()
        self._cut = False

    def track(self, stream: httpcore.NetworkStream) -> httpcore.NetworkStream:
        tracked = _TrackedStream(stream, self)
        with self._lock:
            self._open.add(tracked)
            if self._cut:
                tracked.shut()
        return tracked

    def cut_all(self) -> None:
        # under the lock: a stream leaves the set before its socket is closed, so no
        # descriptor shut down here can have been reused by another file meanwhile
        with self._lock:
            self._cut = True
            for stream in self._open:
                stream.shut()

    def forget(self, stream: _TrackedStream) -> None:
        with self._lock:
            self._open.discard(stream)


class _TrackedStream(httpcore.NetworkStream):
    """A connection that its ``Connections`` can shut down; TLS keeps the same socket."""

    def __init__(self, inner: httpcore.NetworkStream, owner: Connections) -> None:
        self._inner = inner
        self._owner = owner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._owner.forget(self)
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        """TLS over the same socket. After a failed handshake httpcore closes no stream
        of ours: it is closed here, or each bad certificate's connection stayed in the
        set for the process's life."""
        try:
            self._inner = self._inner.start_tls(ssl_context, server_hostname, timeout)
        except BaseException:
            self.close()
            raise
        return self

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)

    def shut(self) -> None:
        sock = self._inner.get_extra_info("socket")
        if isinstance(sock, socket.socket):
            # already closed or never connected: nothing to cut
            with contextlib.suppress(OSError):
                # the plain socket's shutdown even for TLS: SSLSocket's own would drop
                # its TLS state under a read running in another thread
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
