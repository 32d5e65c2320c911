"""A connection pool per host: made on first use, the least recently used idle one closed
beyond the limit, never one whose response is still being read."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import httpx
import pytest
from support import FixtureServer

from archiver.fetch.limits import PRUNE_EVERY, HostLimiter
from archiver.fetch.netguard import GuardedTransport
from archiver.fetch.pools import PerHostTransport


class Recorded(httpx.BaseTransport):
    """A host's transport (it learns which from its first request) that notes when it
    is closed."""

    def __init__(self, made: list[Recorded], closed: list[str]) -> None:
        self.host: str | None = None
        self.closed = closed
        self.inner = GuardedTransport(public_only=False, retries=0)
        made.append(self)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.host = self.host or request.url.host
        assert request.url.host == self.host  # a pool serves its own host only
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.closed.append(str(self.host))
        self.inner.close()


def eventually(condition: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def hosts() -> list[FixtureServer]:
    servers = [FixtureServer(f"127.0.0.{n}") for n in (2, 3, 4)]
    for server in servers:
        server.add_bytes("/x", b"hello", "text/plain")
    yield servers
    for server in servers:
        server.close()


def test_each_host_has_its_own_pool_and_the_least_recently_used_idle_one_is_closed(
    hosts: list[FixtureServer],
) -> None:
    a, b, c = hosts
    made: list[Recorded] = []
    closed: list[str] = []
    transport = PerHostTransport(lambda: Recorded(made, closed), max_pools=2)
    with httpx.Client(transport=transport, trust_env=False) as client:

        def get(server: FixtureServer) -> bytes:
            return client.get(server.url("/x")).content

        assert get(a) == get(a) == b"hello"
        assert len(made) == 1 and a.active_connections == 1  # kept alive, reused
        with client.stream("GET", b.url("/x")) as still_reading:
            assert get(c) == b"hello"  # a third pool: the idle one used longest ago goes
            assert closed == [a.host] and eventually(lambda: a.active_connections == 0)
            assert b.active_connections == 1
            assert still_reading.read() == b"hello"
        assert get(a) == b"hello"  # a new pool for a; b, now idle and oldest, is closed
        assert [t.host for t in made] == [a.host, b.host, c.host, a.host]
        assert closed == [a.host, b.host]
    assert sorted(closed) == sorted(str(t.host) for t in made)  # the client closes them all


def test_a_failed_request_gives_its_pool_back(hosts: list[FixtureServer]) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.5", 0))
        dead = f"http://127.0.0.5:{unused.getsockname()[1]}/x"  # bound, never listening
    made: list[Recorded] = []
    closed: list[str] = []
    transport = PerHostTransport(lambda: Recorded(made, closed), max_pools=1)
    with httpx.Client(transport=transport, trust_env=False) as client:
        with pytest.raises(httpx.ConnectError):
            client.get(dead)
        assert client.get(hosts[0].url("/x")).content == b"hello"
        assert closed == ["127.0.0.5"]  # not held in use by the failed request


def test_a_host_limiter_keeps_no_state_for_hosts_it_is_done_with() -> None:
    """A daemon meets new hosts for months: what it held for each must not pile up,
    and the limit still holds for a host in use while others are forgotten."""
    limiter = HostLimiter(per_host=2)
    inside: list[int] = []
    for n in range(50):
        with limiter.slot(f"https://host{n}.test/a.jpg"):
            inside.append(n)
    assert inside == list(range(50)) and not limiter._slots and not limiter._users

    busy = "https://busy.test/v.mp4"
    peak, now = [0], [0]
    guard = threading.Lock()

    def take() -> None:
        with limiter.slot(busy):
            with guard:
                now[0] += 1
                peak[0] = max(peak[0], now[0])
            time.sleep(0.02)
            with guard:
                now[0] -= 1

    workers = [threading.Thread(target=take) for _ in range(6)]
    for worker in workers:
        worker.start()
    for n in range(100):  # other hosts come and go meanwhile
        with limiter.slot(f"https://other{n}.test/"):
            pass
    for worker in workers:
        worker.join()
    assert peak[0] == 2 and not limiter._slots

    paced = HostLimiter(per_host=1, delay=0.001)
    for n in range(PRUNE_EVERY + 1):
        with paced.slot(f"https://paced{n}.test/"):
            pass
    time.sleep(0.01)
    with paced.slot("https://last.test/"):
        pass
    # the pauses that were over when the last prune ran are gone
    assert len(paced._next_start) < PRUNE_EVERY // 2
