"""The canonical encoding of a log entry: the bytes its SHA-256 is taken over.

Anyone must be able to recompute an entry's hash from the JSON line alone, with any
JSON library: keys sorted, no whitespace, UTF-8, times as ISO 8601 UTC with six
fractional digits and a ``Z``. Documented in docs/integrity.md.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64  # prev_sha256 of the first entry
HASHED_FIELDS = ("seq", "at", "type", "media_sha256", "payload", "prev_sha256")


def encode(value: Any) -> bytes:
    """Canonical JSON: sorted keys, no whitespace, UTF-8; NaN and infinities refused."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def normalize(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as it reads back from JSON (tuples become lists, keys strings), so the
    hash taken now matches the one recomputed from the database or the file later."""
    if not isinstance(payload, dict):
        raise TypeError("an event payload must be a JSON object")
    try:
        result: dict[str, Any] = json.loads(encode(payload))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"an event payload must be plain JSON: {exc}") from None
    return result


def format_time(value: datetime) -> str:
    """``2026-11-25T18:00:04.512000Z``: always UTC, always microseconds."""
    if value.tzinfo is None:
        raise ValueError("event times must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def entry_hash(entry: dict[str, Any]) -> str:
    """SHA-256 of the canonical encoding of the hashed fields (``sha256`` itself excluded)."""
    return hashlib.sha256(encode({k: entry.get(k) for k in HASHED_FIELDS})).hexdigest()


def entry_line(entry: dict[str, Any], sha256: str) -> bytes:
    """One line of ``log/events.jsonl``: the hashed fields plus ``sha256``, canonical."""
    return encode({**{k: entry.get(k) for k in HASHED_FIELDS}, "sha256": sha256}) + b"\n"
