"""Per-host concurrency: be polite to the sites evidence is taken from."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


class HostLimiter:
    """Politeness per host, across threads.

    Without ``delay``: at most ``per_host`` concurrent requests to one host. With a
    ``delay``: one request at a time, and a pause of at least ``delay`` seconds after
    each ends before the next starts. (Spacing from the end, not from a planned
    start, holds the rate as the server sees it, whatever the thread scheduling.)
    """

    def __init__(self, per_host: int, delay: float = 0.0) -> None:
        self._per_host = per_host
        self._delay = delay
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._next_start: dict[str, float] = {}

    @contextlib.contextmanager
    def slot(self, url: str) -> Iterator[None]:
        host = host_of(url)
        with self._lock:
            width = 1 if self._delay else self._per_host
            semaphore = self._slots.setdefault(host, threading.BoundedSemaphore(width))
        with semaphore:
            self._wait_turn(host)
            try:
                yield
            finally:
                if self._delay:
                    with self._lock:
                        done = time.monotonic() + self._delay
                        self._next_start[host] = max(self._next_start.get(host, 0.0), done)

    def defer(self, url: str, seconds: float) -> None:
        """The host asked us to wait (Retry-After): no request to it before then."""
        host = host_of(url)
        with self._lock:
            later = time.monotonic() + seconds
            self._next_start[host] = max(self._next_start.get(host, 0.0), later)

    def _wait_turn(self, host: str) -> None:
        while True:  # re-read: a Retry-After may move the time while we sleep
            with self._lock:
                wait = self._next_start.get(host, 0.0) - time.monotonic()
            if wait <= 0:
                return
            time.sleep(min(wait, 1.0))
