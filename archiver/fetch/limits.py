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
    """At most ``per_host`` concurrent requests to one host, and at least ``delay``
    seconds between the starts of two requests to it, across threads."""

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
            semaphore = self._slots.setdefault(host, threading.BoundedSemaphore(self._per_host))
        with semaphore:
            self._wait_turn(host)
            yield

    def defer(self, url: str, seconds: float) -> None:
        """The host asked us to wait (Retry-After): no request to it before then."""
        host = host_of(url)
        with self._lock:
            later = time.monotonic() + seconds
            self._next_start[host] = max(self._next_start.get(host, 0.0), later)

    def _wait_turn(self, host: str) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start.get(host, now))
            if self._delay or start > now:
                self._next_start[host] = start + self._delay
        if start > now:
            time.sleep(start - now)
