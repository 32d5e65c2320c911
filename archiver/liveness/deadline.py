"""One deadline per probe (and webhook) request, counted from its start across
redirects, headers and body.

httpx's time-outs bound each read, not the request: a server that sends its headers
a byte at a time, each within the read time-out, held a check for minutes. The
deadline is the one capture uses (`archiver.fetch.http.Deadline`), kept in the network
stream of clients made by `make_client`; other clients go without it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx

from archiver.errors import BlockedAddressError, FetchError
from archiver.fetch.http import Deadline, Limit, within

#: A request may take this many times its client's read time-out, all told (the
#: liveness timeout, 15 s by default: 30 s).
DEADLINE_FACTOR = 2.0


class DeadlinePassed(httpx.TimeoutException):
    """A request that took longer than its deadline: a time-out, and its host counts
    as one that did not answer."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no whole answer within {seconds:g} s")


def deadline_of(client: httpx.Client) -> float | None:
    """Seconds one request of ``client`` may take; None without a read time-out."""
    read = client.timeout.read
    return DEADLINE_FACTOR * read if read else None


@contextlib.contextmanager
def bounded(client: httpx.Client, url: str, setting: str = "liveness.timeout") -> Iterator[None]:
    """Run one request of ``client`` to ``url`` within its deadline (`deadline_of`);
    raise DeadlinePassed when it is over."""
    seconds = deadline_of(client)
    if seconds is None:
        yield
        return
    deadline = Deadline(url, Limit("request", f"{DEADLINE_FACTOR:g} x {setting}", seconds))
    try:
        with within(deadline):
            yield
    except FetchError as exc:
        if isinstance(exc, BlockedAddressError) or str(exc) != str(deadline.error()):
            raise
        raise DeadlinePassed(seconds) from None
