"""The process's stop flag: set at shutdown (SIGTERM, Ctrl-C), polled between chunks of
work, and telling those who asked at once (HttpFetcher cuts its open connections)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

from archiver.errors import Interrupted


class StopFlag(threading.Event):
    """A ``threading.Event`` that also runs callbacks when set.

    Polling alone is not enough: a transfer blocked on a server that sends nothing
    would notice the flag only after its read time-out (30 s by default).
    """

    def __init__(self) -> None:
        super().__init__()
        self._callbacks: list[Callable[[], None]] = []
        self._callbacks_lock = threading.Lock()

    def when_set(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the flag is set (now, if it is already)."""
        with self._callbacks_lock:
            if not self.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def check(self, what: str = "interrupted by shutdown") -> None:
        """Raise Interrupted once the flag is set: long work calls this between steps."""
        if self.is_set():
            raise Interrupted(what)

    def set(self) -> None:
        with self._callbacks_lock:
            super().set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back until the block has run: a step that must happen
    whole or not at all (a commit and what depends on it) is not cut in two; a signal
    sent meanwhile is raised again as soon as it ends.

    The handlers are swapped, not the thread's signal mask: with the main thread's
    mask blocking them the kernel hands the signal to another thread, and CPython 3.11
    then runs the Python handler only at some later, unrelated point. Handlers run in
    the main thread only, so elsewhere there is nothing to hold.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum: int, frame: object) -> None:
        received.append(signum)

    previous: dict[int, Any] = {}
    try:
        for held in _HELD:
            previous[held] = signal.signal(held, hold)
        yield
    finally:
        first = _restore(previous)
        for signum in dict.fromkeys(received):  # each handler runs; the first error wins
            try:
                signal.raise_signal(signum)
            except BaseException as exc:
                first = first or exc
        if first is not None:
            raise first


_HELD = (signal.SIGINT, signal.SIGTERM)


def _restore(previous: dict[int, Any]) -> BaseException | None:
    """Put the handlers back, every one of them. ``signal.signal()`` first runs the
    handlers of signals already pending: one put back a moment before can raise
    (Ctrl-C's KeyboardInterrupt) before the next is in place, which is then tried
    again. Returns the first such error, for the caller to raise."""
    first: BaseException | None = None
    for signum, handler in previous.items():
        for _ in range(_RESTORE_TRIES):
            try:
                signal.signal(signum, handler)
                break
            except (TypeError, ValueError, OSError):
                raise  # not a handler that ran: a handler Python cannot put back
            except BaseException as exc:
                first = first or exc
    return first


_RESTORE_TRIES = 100  # signals keep coming: each try runs the handlers of those pending
