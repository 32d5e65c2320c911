"""Anchor the event log's head with an RFC 3161 time-stamping authority (TSA).

The hash chain proves order and integrity, but whoever holds both copies could
rewrite them together. A token signed by an outside TSA fixes the head's hash at
a point in time: any later rewrite of an entry at or before it no longer matches
the token. Tokens are kept as ``log/timestamps/<seq>.tsr`` (the DER response) and
recorded by a ``timestamp`` entry; ``verify_chain`` checks them.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from archiver import PRODUCT
from archiver.archive import Archive
from archiver.errors import ArchiverError
from archiver.index.models import Event, utcnow
from archiver.integrity import tsp
from archiver.integrity.canonical import format_time
from archiver.integrity.eventlog import (
    append_event,
    head,
    logged_session,
    timestamps_dir,
)
from archiver.store.atomic import publish, temp_file

MAX_REPLY = 1024 * 1024


class TimestampError(ArchiverError):
    """The head could not be stamped: empty log, TSA unreachable or refusing, bad reply."""


@dataclass(frozen=True)
class TimestampToken:
    seq: int  # the stamped entry
    sha256: str  # its hash: the message imprint
    gen_time: datetime  # the TSA's time
    serial_number: int
    tsa_url: str
    path: Path
    token_sha256: str
    event_seq: int | None  # the ``timestamp`` entry recording it (None: stamped by another)

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "sha256": self.sha256,
            "gen_time": format_time(self.gen_time),
            "serial_number": self.serial_number,
            "tsa_url": self.tsa_url,
            "path": str(self.path),
            "token_sha256": self.token_sha256,
            "event_seq": self.event_seq,
        }


def timestamp_head(archive: Archive, tsa_url: str, *, timeout: float = 30.0) -> TimestampToken:
    """Stamp the newest entry's SHA-256, keep the token, and log a ``timestamp`` entry.

    The reply must be granted, stamp exactly our imprint, echo our nonce, and carry a
    signature that holds under its time-stamping signer certificate. A token file
    already there for the same entry (another process, or an earlier run that stopped
    before logging it) is kept if it stamps this entry's hash and its signature holds;
    it is logged unless a ``timestamp`` entry already names it.
    """
    with archive.read_session() as session:
        seq, sha256 = head(session)
    if seq == 0:
        raise TimestampError("the event log is empty: nothing to timestamp")
    digest = bytes.fromhex(sha256)
    nonce = secrets.randbits(63)
    reply = _post(tsa_url, tsp.build_request(digest, nonce), timeout)
    token = tsp.parse_token(reply)
    tsp.check_reply(token, digest, nonce)

    layout = archive.layout
    path = timestamps_dir(layout) / f"{seq}.tsr"
    with temp_file(layout.process_tmp(), ".tsr") as (tmp, sink):
        sink.write(reply)
        sink.flush()
        placed = publish(tmp, path)
    if not placed:
        reply = path.read_bytes()
        where = layout.relative(path)
        try:
            token = tsp.parse_token(reply)
        except tsp.TokenError as exc:
            raise TimestampError(f"{where} is already there and does not hold: {exc}") from None
        problem = tsp.imprint_problem(token, digest)
        if problem:
            raise TimestampError(f"{where} is already there and {problem}")
    token_sha256 = hashlib.sha256(reply).hexdigest()
    payload = {
        "seq": seq,
        "sha256": sha256,
        "tsa_url": tsa_url,
        "gen_time": format_time(token.gen_time),
        "serial_number": str(token.serial_number),
        "policy": token.policy,
        "token": layout.relative(path),
        "token_sha256": token_sha256,
    }
    event_seq = _record_unless_named(archive, payload)
    return TimestampToken(
        seq, sha256, token.gen_time, token.serial_number, tsa_url, path, token_sha256, event_seq
    )


def _record_unless_named(archive: Archive, payload: dict[str, Any]) -> int | None:
    """Append the ``timestamp`` entry unless one already names this token; the look and
    the append are one transaction under the log's append lock, so two processes that
    hold the same token file log it once. Returns the new entry's seq, or None."""
    with logged_session(archive) as session:  # the log's lock, from the start
        recorded = session.scalars(select(Event.payload).where(Event.type == "timestamp"))
        if any(
            p.get("seq") == payload["seq"] or p.get("token") == payload["token"] for p in recorded
        ):
            return None
        event = append_event(session, "timestamp", payload)
        return event.seq


def timestamp_due(archive: Archive, every_seconds: float, *, now: datetime | None = None) -> bool:
    """Whether the head should be stamped: entries were added since the last stamp and
    that stamp is at least ``every_seconds`` old (or there is none). A stamp dated in
    the future was recorded while the clock ran ahead: it is due, or stamping would
    stop until the clock reached that date."""
    with archive.read_session() as session:
        seq, _ = head(session)
        last = session.scalars(
            select(Event).where(Event.type == "timestamp").order_by(Event.seq.desc()).limit(1)
        ).first()
    if seq == 0:
        return False
    if last is None:
        return True
    moment = now or utcnow()
    age = (moment - last.at).total_seconds()
    return seq > last.seq and (age < 0 or age >= every_seconds)


def _post(url: str, request: bytes, timeout: float) -> bytes:
    headers = {
        "Content-Type": "application/timestamp-query",
        "Accept": "application/timestamp-reply",
        "User-Agent": PRODUCT,
    }
    try:
        with (
            httpx.Client(timeout=timeout) as client,
            client.stream("POST", url, content=request, headers=headers) as response,
        ):
            if response.status_code != 200:
                raise TimestampError(
                    f"the time-stamping authority at {url} answered HTTP {response.status_code}"
                )
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_REPLY:
                    raise TimestampError(f"the reply from {url} is larger than {MAX_REPLY} bytes")
            return bytes(body)
    except httpx.HTTPError as exc:
        raise TimestampError(f"cannot reach the time-stamping authority at {url}: {exc}") from None


__all__ = ["TimestampError", "TimestampToken", "timestamp_due", "timestamp_head"]
