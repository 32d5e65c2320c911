"""What a liveness check concludes, and the rules shared by every probe.

One rule matters above the others: a failure to *ask* (time-out, refused connection,
5xx, rate limit) is never evidence that media is gone. Only an answer from the
server itself (404/410, a platform saying "removed", a page that lost its player)
makes an embed ``gone``.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import httpx

from archiver.errors import BlockedAddressError
from archiver.fetch.http import BAD_URL_ERRORS, BUSY_STATUSES, retry_after_seconds
from archiver.liveness.deadline import DeadlinePassed

Status = Literal["live", "gone", "restricted", "error"]

# 451 (unavailable for legal reasons): the resource exists but is withheld, like a
# geo-block or a court order, so it is "restricted", not "gone".
_RESTRICTED = frozenset({401, 403, 451})
_GONE = frozenset({404, 410})
_MEANING = {
    401: "login required",
    451: "unavailable for legal reasons",
    429: "rate limited",
    408: "request timeout",
    425: "too early",
}


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: a status with a one-line reason an editor can read."""

    status: Status
    reason: str
    http_status: int | None
    retry_after: float | None = None  # seconds, from Retry-After on 429/503
    probe: str = ""  # which probe decided
    # the host did not answer at all (a time-out, a refused connection): its other
    # checks of the moment would only wait as long again
    unreachable: bool = field(default=False, compare=False)
    # the address asked, when it is not the embed's own (an oEmbed endpoint, a
    # platform's API): a Retry-After came from its host, so that host is paused
    asked: str = field(default="", compare=False)


def status_result(
    code: int, headers: Mapping[str, str], probe: str, *, label: str = "HTTP"
) -> CheckResult:
    """Classify a non-2xx status code (``label`` prefixes the reason, e.g. "HTTP")."""
    meaning = _MEANING.get(code)
    text = f"{label} {code}" + (f" ({meaning})" if meaning else "")
    retry_after = retry_after_seconds(headers.get("retry-after"))
    if code in _GONE:
        return CheckResult("gone", text, code, None, probe)
    if code in _RESTRICTED:
        return CheckResult("restricted", text, code, None, probe)
    if code in BUSY_STATUSES or code >= 500:  # "not now": never conclude anything
        return CheckResult("error", text, code, retry_after, probe)
    if 300 <= code < 400:
        return CheckResult("error", f"{label} {code}: redirect not followed", code, None, probe)
    # 400, 405, 406, 409, 422, ...: the request was refused, which says nothing about
    # whether the media still exists.
    return CheckResult("error", f"{label} {code} (not proof of removal)", code, None, probe)


def network_reason(exc: Exception) -> str:
    """One line saying why a request got no answer (never includes the URL)."""
    if isinstance(exc, BlockedAddressError):
        text = str(exc)
        return text if text.startswith("refused") else f"refused: {text}"
    if isinstance(exc, DeadlinePassed):
        return f"timed out: {exc}"
    if isinstance(exc, httpx.TimeoutException):
        phase = {
            httpx.ConnectTimeout: "connecting",
            httpx.ReadTimeout: "waiting for data",
            httpx.WriteTimeout: "sending",
            httpx.PoolTimeout: "waiting for a connection",
        }.get(type(exc))
        return f"timed out {phase}" if phase else "timed out"
    if isinstance(exc, httpx.TooManyRedirects):
        return "too many redirects"
    if isinstance(exc, (httpx.UnsupportedProtocol, *BAD_URL_ERRORS)):  # IDNA refuses a host
        return "unsupported URL"
    if isinstance(exc, httpx.ConnectError):
        text = _first_line(exc)
        if isinstance(exc.__context__, ssl.SSLError) or "SSL" in text or "certificate" in text:
            return f"TLS error: {text}"
        return f"connection failed: {text}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "server closed the connection early"
    return f"{type(exc).__name__}: {_first_line(exc)}"


def error_result(exc: Exception, probe: str) -> CheckResult:
    """An ``error`` result for a request that got no usable answer."""
    silent = isinstance(exc, httpx.TimeoutException | httpx.ConnectError)
    return CheckResult("error", network_reason(exc), None, None, probe, unreachable=silent)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
