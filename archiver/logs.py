"""Structured logs: one ``key=value`` line per event on stderr, ready for journald.

Format (documented in the README): ``ts=2026-01-01T00:00:00Z level=info event=capture.done
url=... sha256=...``. Values with spaces or quotes are JSON-quoted. Expected failures
are logged as one line with a ``reason``; only unexpected ones carry a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

LOGGER = logging.getLogger("archiver")


def _value(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if text == "" or any(c in text for c in ' "=\n\t'):
        return json.dumps(text, ensure_ascii=False)
    return text


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        # getMessage: a plain logger call ("job %s crashed", job_id) keeps its arguments
        event = _value(record.getMessage())
        parts = [f"ts={stamp}Z", f"level={record.levelname.lower()}", f"event={event}"]
        fields: dict[str, Any] = getattr(record, "fields", {})
        parts += [f"{key}={_value(value)}" for key, value in fields.items() if value is not None]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def log_event(name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event as a structured line (``fields`` become key=value pairs)."""
    LOGGER.log(level, name, extra={"fields": fields})


def setup_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    LOGGER.handlers[:] = [handler]
    LOGGER.setLevel(level.upper())
    LOGGER.propagate = False
