"""Tell editors when an embed changes status, by POSTing JSON to a webhook.

Delivery must never slow the checks down, so :meth:`WebhookNotifier.notify` only
puts the event on a bounded in-memory queue; one background thread POSTs it,
retrying with exponential backoff on network errors, 5xx, 408 and 429 (a
Retry-After header wins over the backoff). Other 4xx answers are not retried: the
receiver refused the request itself. An event from the database's outbox (see
``outbox``) is settled through ``settle`` when its delivery ends, and one that is
dropped (a full queue, a shutdown) stays owed there, to be sent again.

Only the receiver's status line and headers are read, within a deadline per attempt:
its body says nothing that changes the outcome, and reading it whole let a receiver
that answered 400 MB, or trickled its answer, take the memory or hold every later
delivery.

Webhook URLs often carry a token (in the query string or userinfo) and the secret
header carries a credential, so logs name the receiver only as ``scheme://host``.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from archiver import PRODUCT
from archiver.config import NetworkConfig
from archiver.errors import BlockedAddressError
from archiver.fetch.http import BUSY_STATUSES, make_client, retry_after_seconds
from archiver.liveness.deadline import bounded
from archiver.liveness.result import Status, network_reason
from archiver.logs import log_event

QUEUE_SIZE = 1000
BACKOFF = 1.0  # seconds before the first retry; doubled each time
MAX_BACKOFF = 60.0
MAX_RETRY_AFTER = 300.0  # a receiver asking for more is waited on this long at most
_ABORTED = "aborted at shutdown"


@dataclass(frozen=True)
class LivenessEvent:
    """An embed's status changed (or was checked, as the caller decides)."""

    embed_url: str
    page_url: str | None
    update: str | None
    status: Status
    previous_status: Status | None
    reason: str
    http_status: int | None
    checked_at: datetime
    archived_sha256: list[str] = field(default_factory=list)
    kept_post_sha256: str | None = None  # a post of words alone: its kept text
    outbox_id: int | None = field(default=None, compare=False)  # its row, while owed

    @classmethod
    def from_json(cls, body: dict[str, Any], *, outbox_id: int | None = None) -> LivenessEvent:
        """The event a body (`to_json`'s, as the outbox keeps it) tells of."""
        checked = datetime.fromisoformat(str(body["checked_at"]).replace("Z", "+00:00"))
        return cls(
            embed_url=body["embed_url"],
            page_url=body.get("page_url"),
            update=body.get("update"),
            status=body["status"],
            previous_status=body.get("previous_status"),
            reason=body.get("reason") or "",
            http_status=body.get("http_status"),
            checked_at=checked,
            archived_sha256=list(body.get("archived_sha256") or []),
            kept_post_sha256=body.get("kept_post_sha256"),
            outbox_id=outbox_id,
        )

    def to_json(self) -> dict[str, Any]:
        """The POSTed body; ``checked_at`` as ISO 8601 UTC with a ``Z``."""
        checked = self.checked_at
        if checked.tzinfo is None:
            checked = checked.replace(tzinfo=UTC)
        stamp = checked.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return {
            "embed_url": self.embed_url,
            "page_url": self.page_url,
            "update": self.update,
            "status": self.status,
            "previous_status": self.previous_status,
            "reason": self.reason,
            "http_status": self.http_status,
            "checked_at": stamp,
            "archived_sha256": list(self.archived_sha256),
            "kept_post_sha256": self.kept_post_sha256,
        }


def redact(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: no userinfo, path or query string."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(invalid URL)"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{port}"


def _moved_to(response: httpx.Response) -> str:
    """Where a receiver's redirect points: its scheme, host and port alone."""
    try:
        return redact(str(response.url.join(response.headers["location"])))
    except (KeyError, httpx.InvalidURL, ValueError):
        return "elsewhere"


def _outcome(code: int, headers: httpx.Headers, moved: str) -> tuple[float | None, str, bool]:
    """What a receiver's answer means (see `WebhookNotifier._post`); ``moved``: where
    a redirect points."""
    if 200 <= code < 300:
        return None, "", True
    retry_after = retry_after_seconds(headers.get("retry-after"))
    wait = min(retry_after, MAX_RETRY_AFTER) if retry_after is not None else 0.0
    if 300 <= code < 400:  # moved (http to https, say): owed until the URL is set anew
        return wait, f"HTTP {code} to {moved}: set liveness.webhook_url", True
    retry = code >= 500 or code in BUSY_STATUSES
    return wait, f"HTTP {code}", retry


class WebhookNotifier:
    """Delivers LivenessEvents to ``url`` in the background; ``url=None`` turns it off."""

    def __init__(
        self,
        url: str | None,
        *,
        client: httpx.Client | None = None,
        secret_header: tuple[str, str] | None = None,
        max_attempts: int = 5,
        timeout: float = 10.0,
        queue_size: int = QUEUE_SIZE,
        backoff: float = BACKOFF,
        max_backoff: float = MAX_BACKOFF,
        settle: Callable[[int, str | None], None] | None = None,
        still_owed: Callable[[int], bool] | None = None,
    ) -> None:
        self.url = url
        # told how an outbox event's delivery ended: None when delivered or refused
        # for good, else why it was not delivered
        self._settle = settle
        # asked just before an outbox event is sent: a round that read the outbox
        # before the event was delivered and settled queued it again (see `_run`)
        self._still_owed = still_owed
        self._owed: set[int] = set()  # outbox events queued or being delivered
        self.target = redact(url) if url else ""
        self._client = client
        self._own_client = client is None
        self._headers = {"User-Agent": PRODUCT}
        self._secret = secret_header
        if secret_header is not None:
            self._headers[secret_header[0]] = secret_header[1]
        self._max_attempts = max(1, max_attempts)
        self._timeout = timeout
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._queue: collections.deque[LivenessEvent] = collections.deque()
        self._queue_size = max(1, queue_size)
        self._cond = threading.Condition()
        self._closing = False
        self._abort = threading.Event()  # set when close() runs out of time
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return self.url is not None

    def notify(self, event: LivenessEvent) -> None:
        """Queue ``event`` for delivery and return at once."""
        if self.url is None:
            return
        dropped: LivenessEvent | None = None
        with self._cond:
            if event.outbox_id is not None:
                if event.outbox_id in self._owed:
                    return  # on its way already
                self._owed.add(event.outbox_id)
            if self._closing:
                dropped = event
            else:
                if len(self._queue) >= self._queue_size:
                    dropped = self._queue.popleft()
                self._queue.append(event)
                self._start()
                self._cond.notify()
            if dropped is not None and dropped.outbox_id is not None:
                self._owed.discard(dropped.outbox_id)  # still owed: sent again later
        if dropped is not None:
            why = "notifier closed" if dropped is event else "queue full"
            self._warn("liveness.webhook_dropped", dropped, why)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what can be delivered within ``timeout`` seconds, then stop."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if self._abort.is_set():
            return  # closed before, and out of time then: nothing left to wait for
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                self._abort.set()  # stop waiting on backoffs; drop what is left
                self._drop_remaining()
                thread.join(min(timeout, 1.0))
        if thread is None and self._own_client and self._client is not None:
            self._client.close()

    # -- the delivery thread -------------------------------------------------------

    def _start(self) -> None:
        """Start the delivery thread on first use (called with the lock held)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="liveness-webhook", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._closing:
                        self._cond.wait()
                    if not self._queue or self._abort.is_set():
                        break
                    event = self._queue.popleft()
                if event.outbox_id is not None and not self._owed_yet(event.outbox_id):
                    with self._cond:
                        self._owed.discard(event.outbox_id)
                    continue
                outcome: str | None = "not delivered"
                try:
                    outcome = self._deliver(event)
                except Exception as exc:  # a bug must not stop every later delivery
                    reason = self._scrub(f"{type(exc).__name__}: {exc}")
                    outcome = reason.splitlines()[0][:300]
                    self._warn("liveness.webhook_failed", event, outcome)
                self._settled(event, outcome)
        finally:
            self._drop_remaining()
            if self._own_client and self._client is not None:
                self._client.close()

    def _owed_yet(self, outbox_id: int) -> bool:
        """Whether an outbox event is still owed. The outbox is read without a lock
        (`outbox.owed`), so an event delivered and settled between that read and its
        `notify` was queued again; sent twice without any crash. Settling runs on
        this thread, so this look, on the same thread, always sees it."""
        if self._still_owed is None:
            return True
        try:
            return self._still_owed(outbox_id)
        except Exception:  # rather twice than never
            logging.getLogger("archiver").exception("reading webhook event %s", outbox_id)
            return True

    def _drop_remaining(self) -> None:
        with self._cond:
            left = list(self._queue)
            self._queue.clear()
            self._owed.clear()
        if left:
            kept = sum(1 for event in left if event.outbox_id is not None)
            log_event(
                "liveness.webhook_dropped",
                logging.WARNING,
                target=self.target,
                count=len(left),
                kept_owed=kept or None,  # sent again by the next checker
                reason="not delivered before shutdown",
            )

    def _settled(self, event: LivenessEvent, failure: str | None) -> None:
        """Tell the outbox how an owed event's delivery ended; an event aborted at
        shutdown stays owed as it was."""
        if event.outbox_id is None:
            return
        try:
            if self._settle is not None and failure != _ABORTED:
                self._settle(event.outbox_id, failure)
        except Exception:  # the event stays owed: sent again, not lost with this thread
            logging.getLogger("archiver").exception("settling webhook event %s", event.outbox_id)
        finally:  # in flight until settled: a round meanwhile (settling waits for the
            with self._cond:  # database's lock) sent a delivered event again
                self._owed.discard(event.outbox_id)

    def _deliver(self, event: LivenessEvent) -> str | None:
        """POST the event, retrying; None once delivered or refused for good, else why
        it was not delivered."""
        body = event.to_json()
        reason = ""
        for attempt in range(1, self._max_attempts + 1):
            if self._abort.is_set():
                self._warn("liveness.webhook_failed", event, _ABORTED, attempt - 1)
                return _ABORTED
            delay, reason, retry = self._post(body)
            if delay is None:
                log_event(
                    "liveness.webhook_sent", logging.DEBUG, target=self.target,
                    embed_url=event.embed_url, status=event.status, attempts=attempt,
                )  # fmt: skip
                return None
            if not retry:
                self._warn("liveness.webhook_failed", event, reason, attempt)
                return None  # the receiver refused the request itself: not sent again
            if attempt < self._max_attempts:
                backoff = min(self._backoff * 2 ** (attempt - 1), self._max_backoff)
                self._abort.wait(max(delay, backoff) if delay else backoff)
        self._warn("liveness.webhook_failed", event, reason, self._max_attempts)
        return reason or "not delivered"

    def _post(self, body: dict[str, Any]) -> tuple[float | None, str, bool]:
        """One attempt: (None, "", _) on success, else (wait hint, reason, retryable).

        Decided on the status line and headers alone; the body is never read (the
        connection is closed instead), and the attempt has a deadline of twice the
        time-out, all told (`bounded`)."""
        assert self.url is not None
        client = self._http()
        try:
            with (
                bounded(client, self.url, "the webhook time-out"),
                client.stream(
                    "POST",
                    self.url,
                    json=body,
                    headers=self._headers,
                    timeout=self._timeout,
                    follow_redirects=False,
                ) as response,
            ):
                code, headers = response.status_code, response.headers
                moved = _moved_to(response) if 300 <= code < 400 else ""
        except BlockedAddressError as exc:  # a guarded client refusing the address
            return 0.0, self._scrub(network_reason(exc)), False
        except httpx.HTTPError as exc:
            return 0.0, self._scrub(network_reason(exc)), True
        return _outcome(code, headers, moved)

    def _http(self) -> httpx.Client:
        """The client given, or one of archiver's own (its requests bound by their
        deadline), to any address: receivers are often on the local network."""
        if self._client is None:
            network = NetworkConfig(allow_private_addresses=True, connect_timeout=self._timeout)
            self._client = make_client(network, timeout=self._timeout)
        return self._client

    def _scrub(self, text: str) -> str:
        """Belt and braces: no secret may reach a log line, whatever an exception says."""
        secrets = [self.url or ""]
        parts = urlsplit(self.url or "")
        secrets += [parts.query, parts.password or "", parts.username or "", parts.path]
        if self._secret is not None:
            secrets.append(self._secret[1])
        for secret in sorted(filter(None, secrets), key=len, reverse=True):
            if len(secret) > 1:
                text = text.replace(secret, "[redacted]")
        return text

    def _warn(self, name: str, event: LivenessEvent, reason: str, attempts: int = 0) -> None:
        log_event(
            name,
            logging.WARNING,
            target=self.target,
            embed_url=event.embed_url,
            status=event.status,
            attempts=attempts or None,
            reason=reason,
        )
