"""RFC 3161 anchoring of the log head, against a real local time-stamping authority."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from support.archiving import make_config
from support.tsa import LocalTSA, verify_signature

from archiver.archive import Archive
from archiver.errors import ArchiverError
from archiver.index.models import Event
from archiver.integrity.eventlog import log_path, record, verify_chain
from archiver.integrity.timestamp import TimestampError, timestamp_due, timestamp_head
from archiver.integrity.tsp import TokenError


@pytest.fixture
def archive(tmp_path: Path) -> Any:
    with Archive.open(make_config(tmp_path / "storage")) as opened:
        yield opened


@pytest.fixture(scope="module")
def tsa() -> Any:
    with LocalTSA() as server:
        yield server


def fill(archive: Archive, count: int) -> None:
    for i in range(count):
        record(archive, "sighting", {"n": i})


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_head_is_stamped_signed_stored_and_logged(
    archive: Archive, tsa: LocalTSA, tmp_path: Path
) -> None:
    fill(archive, 3)
    before = datetime.now(UTC).replace(microsecond=0)
    token = timestamp_head(archive, tsa.url)

    head_line = json.loads(log_path(archive.layout).read_bytes().splitlines()[2])
    assert (token.seq, token.sha256) == (3, head_line["sha256"])
    assert token.path == archive.layout.root / "log" / "timestamps" / "3.tsr"
    request = tsa.requests[-1]
    assert request["message_imprint"]["hashed_message"].native == bytes.fromhex(token.sha256)
    assert request["message_imprint"]["hash_algorithm"]["algorithm"].native == "sha256"

    reply = token.path.read_bytes()
    stamped = verify_signature(reply, tsa)  # the TSA's signature holds, by its certificate
    assert before - timedelta(seconds=1) <= stamped <= datetime.now(UTC)
    assert token.token_sha256 == hashlib.sha256(reply).hexdigest()
    if shutil.which("openssl"):  # and the standard tool a court's expert would use agrees
        ca = tmp_path / "ca.pem"
        ca.write_bytes(tsa.ca_pem())
        result = subprocess.run(
            [
                "openssl",
                "ts",
                "-verify",
                "-digest",
                token.sha256,
                "-in",
                str(token.path),
                "-CAfile",
                str(ca),
            ],
            capture_output=True,
            text=True,
        )
        assert "Verification: OK" in result.stdout, result.stderr

    with archive.read_session() as session:
        event = session.scalars(select(Event).where(Event.seq == 4)).one()
    assert event.type == "timestamp" and token.event_seq == 4
    assert event.payload["seq"] == 3 and event.payload["sha256"] == token.sha256
    assert event.payload["token"] == "log/timestamps/3.tsr"
    assert event.payload["token_sha256"] == token.token_sha256

    report = verify_chain(archive)
    assert report.ok, report.to_json()
    assert [(t.seq, t.ok) for t in report.timestamps] == [(3, True)]


def test_a_consistent_rewrite_of_both_copies_is_caught_by_the_token(
    archive: Archive, tsa: LocalTSA
) -> None:
    """Someone holding the database and the file rewrites history and recomputes every
    hash: both copies agree and chain, but the TSA signed the old head."""
    fill(archive, 4)
    timestamp_head(archive, tsa.url)
    path = log_path(archive.layout)
    entries = [json.loads(line) for line in path.read_bytes().splitlines()]
    entries[1]["payload"] = {"n": 99}
    prev = entries[0]["sha256"]
    for entry in entries[1:]:
        entry["prev_sha256"] = prev
        entry["sha256"] = hashlib.sha256(
            canonical({k: v for k, v in entry.items() if k != "sha256"})
        ).hexdigest()
        prev = entry["sha256"]
    path.write_bytes(b"".join(canonical(e) + b"\n" for e in entries))
    with archive.engine.begin() as connection:
        for entry in entries[1:]:
            connection.execute(
                text(
                    "UPDATE events SET payload = :p, prev_sha256 = :prev, sha256 = :s WHERE seq = :seq"
                ),
                {
                    "p": json.dumps(entry["payload"]),
                    "prev": entry["prev_sha256"],
                    "s": entry["sha256"],
                    "seq": entry["seq"],
                },
            )

    report = verify_chain(archive)
    assert report.breaks == []  # both copies are self-consistent and equal
    assert not report.ok
    (check,) = report.timestamps
    assert (check.seq, check.ok) == (4, False)
    assert "chain was altered" in (check.why or "")


def test_a_tampered_or_missing_token_is_reported(archive: Archive, tsa: LocalTSA) -> None:
    fill(archive, 2)
    token = timestamp_head(archive, tsa.url)
    data = bytearray(token.path.read_bytes())
    data[-5] ^= 0x01  # inside the signature
    token.path.write_bytes(bytes(data))
    (check,) = verify_chain(archive).timestamps
    assert not check.ok and "differs from the token recorded by entry 3" in (check.why or "")

    token.path.unlink()
    (check,) = verify_chain(archive).timestamps
    assert not check.ok and "missing" in (check.why or "")


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        pytest.param(
            "reject", re.escape("refused the request (rejection: policy says no)"), id="reject"
        ),
        pytest.param("wrong_nonce", "nonce does not match", id="wrong-nonce"),
        pytest.param("wrong_imprint", "another imprint", id="wrong-imprint"),
        pytest.param("garbage", "not a valid RFC 3161", id="garbage"),
        pytest.param("http_error", "answered HTTP 503", id="http-error"),
    ],
)
def test_a_bad_reply_is_refused_and_nothing_is_stored(
    archive: Archive, mode: Any, message: str
) -> None:
    fill(archive, 1)
    with LocalTSA(mode) as bad, pytest.raises(ArchiverError, match=message) as caught:
        timestamp_head(archive, bad.url)
    assert isinstance(caught.value, TimestampError | TokenError)
    assert not (archive.layout.root / "log" / "timestamps" / "1.tsr").exists()
    with archive.read_session() as session:
        assert session.scalar(select(Event.type).order_by(Event.seq.desc()).limit(1)) == "sighting"


def test_an_empty_log_or_an_unreachable_tsa_is_a_clear_error(archive: Archive) -> None:
    with pytest.raises(TimestampError, match="empty"):
        timestamp_head(archive, "http://127.0.0.1:9/tsa")
    fill(archive, 1)
    with pytest.raises(TimestampError, match="cannot reach the time-stamping authority"):
        timestamp_head(archive, "http://127.0.0.1:9/tsa", timeout=2)


def test_the_head_is_due_for_a_stamp_only_when_it_moved_and_the_last_stamp_aged(
    archive: Archive, tsa: LocalTSA
) -> None:
    day = 86400.0
    assert not timestamp_due(archive, day)  # nothing to stamp
    fill(archive, 2)
    assert timestamp_due(archive, day)
    token = timestamp_head(archive, tsa.url)
    later = datetime.now(UTC) + timedelta(days=2)
    assert not timestamp_due(archive, day, now=later)  # only the timestamp entry since
    fill(archive, 1)
    assert not timestamp_due(archive, day)  # too soon
    assert timestamp_due(archive, day, now=later)
    assert token.seq == 2
