"""Whether a check may still ask its host: looked at before the check starts, and again
while it waits for the host's turn and once it has it.

Checks of one host go one at a time, so many wait for their turn. A wait that began
before the host hung, asked for a long pause (Retry-After) or the daemon was asked to
stop would otherwise end in a request all the same, or in a long sleep that held a
worker (and a shutdown) for minutes.
"""

from __future__ import annotations

import threading
import time

from archiver.stopping import StopFlag

UNREACHABLE_PAUSE = 300.0  # seconds a host that did not answer a check is not asked
#: Seconds of a host's pause past its own pace that a check waits out; a longer pause
#: (a Retry-After) ends the check unasked, due again when the pause is over.
PAUSE_WAITED = 2.0


class NotAsked(Exception):
    """A check given up before its request: nothing was learnt of its URL."""

    def __init__(self, reason: str, again_in: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.again_in = again_in  # seconds until it is worth asking again


class HostGate:
    """The hosts not to ask now, and the stop; shared by a checker and its limiter
    (as the limiter's ``admit``)."""

    def __init__(self, stop: StopFlag, pace: float = 0.0) -> None:
        self.pace = pace  # seconds between two requests to one host
        self.stopping = StopFlag()  # the process's stop, or the checker's own
        stop.when_set(self.stopping.set)
        self._silent: dict[str, float] = {}  # host -> not asked until (monotonic)
        self._lock = threading.Lock()

    def refusal(self, host: str) -> NotAsked | None:
        """Why a check of ``host`` should not ask it now, or None."""
        if self.stopping.is_set():  # a shutdown: checks not begun are not begun
            return NotAsked("not asked: shutting down", UNREACHABLE_PAUSE)
        with self._lock:
            silent_until = self._silent.get(host, 0.0)
        if time.monotonic() < silent_until:
            reason = f"not asked: {host} did not answer a check moments ago"
            return NotAsked(reason, UNREACHABLE_PAUSE)
        return None

    def admit(self, host: str, wait: float) -> None:
        """The limiter's ``admit``: raise NotAsked instead of waiting ``wait`` seconds
        for a host that hung, asked for a longer pause than its pace, or a stop."""
        refused = self.refusal(host)
        if refused is not None:
            raise refused
        if wait > self.pace + PAUSE_WAITED:
            raise NotAsked(f"not asked: {host} asked for a pause ({wait:.0f} s left)", wait)

    def went_silent(self, host: str) -> None:
        """``host`` did not answer: not asked for `UNREACHABLE_PAUSE`."""
        now = time.monotonic()
        with self._lock:  # months of a daemon: forget the pauses that ended
            self._silent = {h: until for h, until in self._silent.items() if until > now}
            self._silent[host] = now + UNREACHABLE_PAUSE
