"""Webhook notifications: a real local receiver, real retries, and no secret in the logs."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from support import FixtureServer, RequestHandler

from archiver import PRODUCT
from archiver.liveness.webhook import LivenessEvent, WebhookNotifier, redact
from archiver.logs import KeyValueFormatter

FAST = {"backoff": 0.02, "max_backoff": 0.1}


def event(n: int = 1, status: str = "gone") -> LivenessEvent:
    return LivenessEvent(
        embed_url=f"https://www.youtube.com/watch?v=abc123XYZ_{n}",
        page_url="https://example.org/syria-daily-sept-28",
        update="UPDATE 1800 GMT",
        status=status,  # type: ignore[arg-type]
        previous_status="live",
        reason="YouTube oEmbed: 404 (removed, deleted or never existed)",
        http_status=404,
        checked_at=datetime(2026, 11, 25, 18, 0, 4, tzinfo=UTC),
        archived_sha256=["9f2c81aa" + "0" * 56],
    )


class Receiver:
    """A webhook endpoint on the fixture server answering with a scripted list of statuses."""

    def __init__(self, server: FixtureServer, answers: list[tuple[int, dict[str, str]]]) -> None:
        self.bodies: list[dict[str, object]] = []
        self.headers: list[dict[str, str]] = []
        self.times: list[float] = []
        self._answers = answers
        self._lock = threading.Lock()
        self._received = threading.Condition(self._lock)
        server.add_handler("/hook", self)

    def __call__(self, request: RequestHandler) -> None:
        body = json.loads(request.read_body())
        with self._lock:
            status, headers = self._answers[min(len(self.bodies), len(self._answers) - 1)]
            self.bodies.append(body)
            self.headers.append({k.lower(): v for k, v in request.headers.items()})
            self.times.append(time.monotonic())
            self._received.notify_all()
        request.send_simple(status, b"{}", "application/json", headers)

    def wait_for(self, count: int, timeout: float = 5.0) -> None:
        with self._received:
            assert self._received.wait_for(lambda: len(self.bodies) >= count, timeout)


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """Every line the archiver logger writes, formatted as it would reach stderr."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(KeyValueFormatter())
    logger = logging.getLogger("archiver")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def notifier_factory() -> Iterator[Callable[..., WebhookNotifier]]:
    made: list[WebhookNotifier] = []

    def make(url: str | None, **options: object) -> WebhookNotifier:
        notifier = WebhookNotifier(url, **{**FAST, **options})  # type: ignore[arg-type]
        made.append(notifier)
        return notifier

    yield make
    for notifier in made:
        notifier.close(timeout=1)


def failures(lines: list[str]) -> list[str]:
    return [line for line in lines if "event=liveness.webhook_failed" in line]


def test_event_is_posted_as_json(
    server: FixtureServer, notifier_factory: Callable[..., WebhookNotifier]
) -> None:
    receiver = Receiver(server, [(204, {})])
    notifier = notifier_factory(server.url("/hook"), secret_header=("X-Archiver-Token", "t0k3n"))
    notifier.notify(event())
    receiver.wait_for(1)
    assert receiver.bodies == [
        {
            "embed_url": "https://www.youtube.com/watch?v=abc123XYZ_1",
            "page_url": "https://example.org/syria-daily-sept-28",
            "update": "UPDATE 1800 GMT",
            "status": "gone",
            "previous_status": "live",
            "reason": "YouTube oEmbed: 404 (removed, deleted or never existed)",
            "http_status": 404,
            "checked_at": "2026-11-25T18:00:04Z",
            "archived_sha256": ["9f2c81aa" + "0" * 56],
            "kept_post_sha256": None,
        }
    ]
    headers = receiver.headers[0]
    assert headers["x-archiver-token"] == "t0k3n"
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == PRODUCT


def test_close_delivers_what_is_queued(
    server: FixtureServer, notifier_factory: Callable[..., WebhookNotifier]
) -> None:
    receiver = Receiver(server, [(200, {})])
    notifier = notifier_factory(server.url("/hook"))
    for n in range(5):
        notifier.notify(event(n))
    notifier.close(timeout=5)
    assert [body["embed_url"] for body in receiver.bodies] == [
        f"https://www.youtube.com/watch?v=abc123XYZ_{n}" for n in range(5)
    ]


def test_retries_after_a_server_error(
    server: FixtureServer, notifier_factory: Callable[..., WebhookNotifier], log_lines: list[str]
) -> None:
    receiver = Receiver(server, [(500, {}), (503, {}), (200, {})])
    notifier = notifier_factory(server.url("/hook"))
    notifier.notify(event())
    receiver.wait_for(3)
    notifier.close()
    assert receiver.bodies[0] == receiver.bodies[2]
    assert server.hits("/hook") == 3
    assert failures(log_lines) == []


def test_retry_after_is_honoured(
    server: FixtureServer, notifier_factory: Callable[..., WebhookNotifier]
) -> None:
    receiver = Receiver(server, [(429, {"Retry-After": "1"}), (200, {})])
    notifier = notifier_factory(server.url("/hook"))
    notifier.notify(event())
    receiver.wait_for(2)
    assert receiver.times[1] - receiver.times[0] >= 0.95


def test_gives_up_after_max_attempts_with_one_warning(
    server: FixtureServer, notifier_factory: Callable[..., WebhookNotifier], log_lines: list[str]
) -> None:
    Receiver(server, [(502, {})])
    notifier = notifier_factory(server.url("/hook"), max_attempts=3)
    notifier.notify(event())
    notifier.close(timeout=5)
    assert server.hits("/hook") == 3
    (line,) = failures(log_lines)
    assert "level=warning" in line and "attempts=3" in line and 'reason="HTTP 502"' in line
    assert 'embed_url="https://www.youtube.com/watch?v=abc123XYZ_1"' in line


def test_a_refusal_is_not_retried(
    server: FixtureServer, notifier_factory: Callable[..., WebhookNotifier], log_lines: list[str]
) -> None:
    Receiver(server, [(410, {})])
    notifier = notifier_factory(server.url("/hook"))
    notifier.notify(event())
    notifier.close(timeout=5)
    assert server.hits("/hook") == 1
    assert len(failures(log_lines)) == 1


def test_a_receiver_that_moved_keeps_the_event_owed(
    server: FixtureServer, notifier_factory: Callable[..., WebhookNotifier], log_lines: list[str]
) -> None:
    """A 3xx was a refusal for good: the receiver moved (http to https) and every event
    from then on was lost."""
    Receiver(server, [(308, {"Location": "https://hooks.example.org/hook"})])
    settled: list[str | None] = []
    notifier = notifier_factory(
        server.url("/hook"), max_attempts=2, settle=lambda _, why: settled.append(why)
    )
    notifier.notify(replace(event(), outbox_id=7))
    notifier.close(timeout=5)
    assert server.hits("/hook") == 2  # retried, then left owed
    (why,) = settled
    assert why is not None and "HTTP 308 to https://hooks.example.org" in why
    assert "set liveness.webhook_url" in why


def test_an_event_being_settled_is_not_sent_again(
    server: FixtureServer, notifier_factory: Callable[..., WebhookNotifier]
) -> None:
    """Settling waits for the database (a capture holding SQLite's write lock): the
    event had left the notifier's owed set, and the daemon's next round sent it again."""
    Receiver(server, [(200, {})])
    settling, settle_now = threading.Event(), threading.Event()

    def settle(outbox_id: int, failure: str | None) -> None:
        settling.set()
        assert settle_now.wait(5)

    notifier = notifier_factory(server.url("/hook"), settle=settle)
    owed = replace(event(), outbox_id=7)
    notifier.notify(owed)
    assert settling.wait(5)
    notifier.notify(owed)  # the round that sends what the outbox still lists
    settle_now.set()
    notifier.close(timeout=5)
    assert server.hits("/hook") == 1


def test_notify_never_waits_for_a_hanging_receiver(
    server: FixtureServer, notifier_factory: Callable[..., WebhookNotifier], log_lines: list[str]
) -> None:
    server.add_hang("/hook", seconds=30)
    notifier = notifier_factory(server.url("/hook"), timeout=5)
    started = time.monotonic()
    for n in range(20):
        notifier.notify(event(n))
    assert time.monotonic() - started < 0.1
    closing = time.monotonic()
    notifier.close(timeout=0.3)
    assert time.monotonic() - closing < 2
    (dropped,) = [line for line in log_lines if "event=liveness.webhook_dropped" in line]
    assert "count=19" in dropped  # the first one is in flight


def test_a_full_queue_drops_the_oldest(
    server: FixtureServer, notifier_factory: Callable[..., WebhookNotifier], log_lines: list[str]
) -> None:
    server.add_hang("/hook", seconds=30)
    notifier = notifier_factory(server.url("/hook"), queue_size=2, timeout=5)
    for n in range(6):
        notifier.notify(event(n))
    dropped = [line for line in log_lines if 'reason="queue full"' in line]
    # the first event may already be in flight; the newest two always stay queued
    assert len(dropped) in (3, 4)
    assert all("abc123XYZ_4" not in line and "abc123XYZ_5" not in line for line in dropped)
    notifier.close(timeout=0.1)


def test_no_secret_reaches_the_logs(
    server: FixtureServer, notifier_factory: Callable[..., WebhookNotifier], log_lines: list[str]
) -> None:
    receiver = Receiver(server, [(500, {})])
    url = f"http://hookuser:hookpass@127.0.0.1:{server.port}/hook?token=QueryS3cret"
    notifier = notifier_factory(
        url, secret_header=("X-Archiver-Token", "HeaderS3cret"), max_attempts=2
    )
    notifier.notify(event())
    notifier.close(timeout=5)

    with socket.socket() as sock:  # a receiver that is not there: the error path
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = f"http://hookuser:hookpass@127.0.0.1:{port}/hook?token=QueryS3cret"
    other = notifier_factory(
        down, secret_header=("X-Archiver-Token", "HeaderS3cret"), max_attempts=2
    )
    other.notify(event())
    other.close(timeout=5)

    assert receiver.headers[0]["x-archiver-token"] == "HeaderS3cret"  # the secrets were used
    assert receiver.headers[0]["authorization"].startswith("Basic ")
    assert len(failures(log_lines)) == 2
    text = "\n".join(log_lines)
    for secret in ("QueryS3cret", "token=", "HeaderS3cret", "hookuser", "hookpass", "/hook"):
        assert secret not in text
    assert f"target=http://127.0.0.1:{server.port} " in text
    assert f"target=http://127.0.0.1:{port} " in text
    assert "connection failed" in text


def test_without_a_url_nothing_happens(notifier_factory: Callable[..., WebhookNotifier]) -> None:
    notifier = notifier_factory(None)
    notifier.notify(event())
    assert not notifier.enabled
    notifier.close()


def test_redact_keeps_scheme_host_and_port_only() -> None:
    assert (
        redact("https://u:p@hooks.example.org:8443/x/y?token=1#f")
        == "https://hooks.example.org:8443"
    )
    assert redact("https://[::1]/hook") == "https://[::1]"


def test_naive_check_time_is_taken_as_utc() -> None:
    naive = LivenessEvent(
        "https://a.example/v.mp4", None, None, "live", None, "HTTP 200", 200,
        datetime(2026, 11, 25, 18, 0, 4), [],
    )  # fmt: skip
    assert naive.to_json()["checked_at"] == "2026-11-25T18:00:04Z"


def test_a_receiver_that_trickles_its_answer_holds_no_later_delivery(
    server: FixtureServer, notifier_factory: Callable[..., WebhookNotifier]
) -> None:
    """The first answer is a 200 whose body comes a byte every half second: its body
    was read to the end, and every later event waited for it."""
    got: list[float] = []

    def hook(request: RequestHandler) -> None:
        request.read_body()
        got.append(time.monotonic())
        if len(got) > 1:
            request.send_simple(204, b"", "text/plain")
            return
        request.send_response(200)
        request.send_header("Content-Type", "text/plain")
        request.end_headers()
        for _ in range(60):
            if not request.wait(0.5):
                return
            try:
                request.wfile.write(b".")
                request.wfile.flush()
            except OSError:
                return

    server.add_handler("/hook", hook)
    notifier = notifier_factory(server.url("/hook"), timeout=2.0)
    notifier.notify(event(1))
    notifier.notify(event(2))
    deadline = time.monotonic() + 3
    while len(got) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(got) == 2 and got[1] - got[0] < 1.0


def test_a_huge_answer_is_not_read(
    server: FixtureServer, notifier_factory: Callable[..., WebhookNotifier]
) -> None:
    """A receiver answering 400 MB: it was read whole (800 MB more memory)."""
    sent = [0]

    def hook(request: RequestHandler) -> None:
        request.read_body()
        request.send_response(200)
        request.send_header("Content-Type", "application/octet-stream")
        request.send_header("Content-Length", str(400 * 1024 * 1024))
        request.end_headers()
        chunk = b"\0" * (1024 * 1024)
        try:
            for _ in range(400):
                request.wfile.write(chunk)
                sent[0] += len(chunk)
        except OSError:
            pass

    server.add_handler("/hook", hook)
    settled: list[str | None] = []
    notifier = notifier_factory(
        server.url("/hook"), settle=lambda _id, failure: settled.append(failure)
    )
    notifier.notify(replace(event(), outbox_id=1))
    notifier.close(timeout=10)
    assert settled == [None]  # delivered: the status says so
    assert sent[0] < 50 * 1024 * 1024


def test_a_receiver_that_trickles_its_headers_is_cut_off_at_the_deadline(
    server: FixtureServer,
    notifier_factory: Callable[..., WebhookNotifier],
    log_lines: list[str],
) -> None:
    """Each attempt has a deadline of twice the time-out, all told: a header byte every
    0.2 s, each well within the time-out, held the delivery thread for as long."""
    server.add_header_drip("/hook", "text/plain", count=100)
    notifier = notifier_factory(server.url("/hook"), timeout=0.5, max_attempts=1)
    started = time.monotonic()
    notifier.notify(event())
    notifier.close(timeout=5)
    assert time.monotonic() - started < 3
    (failed,) = failures(log_lines)
    assert 'reason="timed out: no whole answer within 1 s"' in failed, failed
