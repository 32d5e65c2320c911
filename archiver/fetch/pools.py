"""A connection pool per host, so that going round hundreds of hosts stays cheap.

httpcore's pool looks over all of its connections, for each idle one, on every
request and every response closed: quadratic in how many it holds. One pool for the
fifty-odd hosts a liveness round keeps open spent a fifth of the checker's CPU there.
A pool per origin keeps each look to that host's few connections. Pools are made on
first use and the ones unused the longest are closed beyond ``max_pools``, so idle
connections to hosts met once do not pile up.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator

import httpx

Origin = tuple[bytes, bytes, int | None]  # scheme, host, port


class _Pool:
    def __init__(self, transport: httpx.BaseTransport) -> None:
        self.transport = transport
        self.in_use = 0  # requests whose response is not closed yet


class PerHostTransport(httpx.BaseTransport):
    """Routes each request to its origin's own transport, made by ``make``."""

    def __init__(self, make: Callable[[], httpx.BaseTransport], max_pools: int = 200) -> None:
        self._make = make
        self._max_pools = max_pools
        self._pools: OrderedDict[Origin, _Pool] = OrderedDict()  # least recently used first
        self._lock = threading.Lock()
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        pool = self._take(request.url)
        try:
            response = pool.transport.handle_request(request)
        except BaseException:
            self._give_back(pool)
            raise
        if not isinstance(response.stream, httpx.SyncByteStream):  # a sync transport's never is
            self._give_back(pool)
            raise TypeError("a synchronous transport answered with an asynchronous body")
        response.stream = _ReleasingStream(response.stream, lambda: self._give_back(pool))
        return response

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.transport.close()

    def _take(self, url: httpx.URL) -> _Pool:
        origin: Origin = (url.raw_scheme, url.raw_host, url.port)
        with self._lock:
            if self._closed:
                raise RuntimeError("the HTTP client is closed")
            pool = self._pools.get(origin)
            if pool is None:
                pool = self._pools[origin] = _Pool(self._make())
            self._pools.move_to_end(origin)
            pool.in_use += 1
            surplus = self._surplus()
        for idle in surplus:
            idle.transport.close()
        return pool

    def _give_back(self, pool: _Pool) -> None:
        with self._lock:
            pool.in_use -= 1

    def _surplus(self) -> list[_Pool]:
        """Unused pools beyond ``max_pools``, least recently used first (lock held)."""
        excess = len(self._pools) - self._max_pools
        if excess <= 0:
            return []
        idle = [origin for origin, pool in self._pools.items() if pool.in_use == 0][:excess]
        return [self._pools.pop(origin) for origin in idle]


class _ReleasingStream(httpx.SyncByteStream):
    """A response body that gives its pool back once closed (once, however often)."""

    def __init__(self, stream: httpx.SyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()
