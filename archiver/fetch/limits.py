"""Per-host concurrency: be polite to the sites evidence is taken from."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

from archiver.stopping import StopFlag

#: Every this many slots taken, the pauses that are over are forgotten.
PRUNE_EVERY = 1000


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


class HostLimiter:
    """Politeness per host, across threads.

    Without ``delay``: at most ``per_host`` concurrent requests to one host. With a
    ``delay``: one request at a time, and a pause of at least ``delay`` seconds after
    each ends before the next starts. (Spacing from the end, not from a planned
    start, holds the rate as the server sees it, whatever the thread scheduling.)

    A wait for a host's turn ends early when ``stop`` is set: the caller then
    decides, on its stop flag, whether to go on. ``admit`` (optional) is told the
    host and the seconds left before its turn each time the wait is looked at, and
    once more when the turn has come; it may raise to give the request up (a
    liveness check skips a host that hung or asked for a long pause, instead of
    holding a worker for it).
    """

    def __init__(
        self,
        per_host: int,
        delay: float = 0.0,
        *,
        stop: StopFlag | None = None,
        admit: Callable[[str, float], None] | None = None,
    ) -> None:
        self._per_host = per_host
        self._delay = delay
        self._stop = stop
        self._admit = admit
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # a pause set, or the stop
        self._version = 0
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._users: dict[str, int] = {}  # threads holding or waiting for a host's slot
        self._next_start: dict[str, float] = {}
        self._calls = 0
        if stop is not None:
            stop.when_set(self._wake)

    @contextlib.contextmanager
    def slot(self, url: str) -> Iterator[None]:
        host = host_of(url)
        with self._lock:
            width = 1 if self._delay else self._per_host
            semaphore = self._slots.setdefault(host, threading.BoundedSemaphore(width))
            self._users[host] = self._users.get(host, 0) + 1
            self._calls += 1
            if self._calls % PRUNE_EVERY == 0:
                self._prune()
        try:
            with semaphore:
                self._wait_turn(host)
                try:
                    yield
                finally:
                    if self._delay:
                        with self._lock:
                            done = time.monotonic() + self._delay
                            self._next_start[host] = max(self._next_start.get(host, 0.0), done)
        finally:
            with self._lock:
                self._users[host] -= 1
                if not self._users[host]:  # nobody holds or waits for it: made anew if needed
                    del self._users[host], self._slots[host]

    def _prune(self) -> None:
        """Forget the pauses that are over (the lock held): a daemon meets new hosts
        for months, and kept each one it ever asked."""
        now = time.monotonic()
        for host in [h for h, start in self._next_start.items() if start <= now]:
            del self._next_start[host]

    def defer(self, url: str, seconds: float) -> None:
        """The host asked us to wait (Retry-After): no request to it before then."""
        host = host_of(url)
        with self._lock:
            later = time.monotonic() + seconds
            self._next_start[host] = max(self._next_start.get(host, 0.0), later)
            self._version += 1
            self._changed.notify_all()

    def _wake(self) -> None:
        """The stop was set: every wait for a turn is looked at again now."""
        with self._lock:
            self._version += 1
            self._changed.notify_all()

    def _wait_turn(self, host: str) -> None:
        while True:  # re-read: a Retry-After may move the time while we wait
            with self._lock:
                wait = self._next_start.get(host, 0.0) - time.monotonic()
                seen = self._version
            if self._admit is not None:
                self._admit(host, max(wait, 0.0))
            if wait <= 0 or (self._stop is not None and self._stop.is_set()):
                return
            with self._lock:
                if self._version == seen:  # else a pause or the stop came meanwhile
                    self._changed.wait(min(wait, 1.0))
