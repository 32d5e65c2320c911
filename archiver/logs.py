"""Structured logs: one ``key=value`` line per event on stderr, ready for journald.

Format (documented in the README): ``ts=2026-01-01T00:00:00Z level=info event=capture.done
url=... sha256=...``. Values with spaces or quotes are JSON-quoted. Expected failures
are logged as one line with a ``reason``; only unexpected ones carry a traceback.

Other libraries' warnings (APScheduler, httpx, SQLAlchemy, Python's ``warnings``) take
the same shape, ``event=library.log logger=NAME message=...``, instead of the bare lines
Python would print: a journald reader greps one format.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

LOGGER = logging.getLogger("archiver")
LIBRARY_EVENT = "library.log"
_HANDLER_NAME = "archiver.stderr"


#: Characters that end or disguise a line in a terminal: C0 and C1 controls (ESC
#: starts terminal commands, NEL breaks lines), the Unicode line and paragraph
#: separators, bidirectional embeddings, overrides and isolates (which reorder what
#: follows), and the byte order mark.
_DRIVING = "\x00-\x09\x0b-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069\ufeff"
#: Invisible marks and joiners: escaped in the logs, which a program reads, but kept
#: in text shown to a person, since Persian and Arabic need them (U+200C, the zero
#: width non-joiner, inside words; the direction marks beside numbers).
_INVISIBLE = "\u061c\u200b-\u200f\u2060-\u2065"
_BUT_LINE_FEED = _DRIVING + _INVISIBLE
_CONTROLS = "\n" + _BUT_LINE_FEED
#: A value with any of these is JSON-quoted: whitespace, quotes, ``=`` and controls.
_NEEDS_QUOTES = re.compile(f'[\\s"={_CONTROLS}]')
#: Escaped inside the quotes too (``json.dumps`` escapes C0 controls only).
_ESCAPED = re.compile(f"[{_CONTROLS}]")
#: Escaped in a traceback, whose lines it keeps: its message may come from a page.
_IN_TRACEBACK = re.compile(f"[{_BUT_LINE_FEED}]")
#: Escaped in the CLI's text output.
_IN_TEXT = re.compile(f"[\n{_DRIVING}]")


def _escaped(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def escape_controls(text: str) -> str:
    """``text`` with each character that drives a terminal (`_DRIVING`, and line feeds)
    as a ``\\u`` escape: text from a page (a URL, a caption) printed to a terminal can
    neither break its line nor send the terminal an escape sequence or reverse what
    follows. The logs escape invisible marks and joiners too (`_INVISIBLE`)."""
    return _IN_TEXT.sub(_escaped, text)


def _value(value: object) -> str:
    """A field's value as one token: quoted when it has spaces, quotes, ``=`` or
    controls, with every control escaped, so a value from a page (a URL, a caption)
    can neither split the line nor rewrite a terminal."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if text and not _NEEDS_QUOTES.search(text):
        return text
    return _ESCAPED.sub(_escaped, json.dumps(text, ensure_ascii=False))


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        # getMessage: a plain logger call ("job %s crashed", job_id) keeps its arguments
        message = record.getMessage()
        fields: dict[str, Any] = getattr(record, "fields", {})
        if not _ours(record.name):
            message, fields = LIBRARY_EVENT, {"logger": record.name, "message": message.rstrip()}
        event = _value(message)
        parts = [f"ts={stamp}Z", f"level={record.levelname.lower()}", f"event={event}"]
        parts += [f"{key}={_value(value)}" for key, value in fields.items() if value is not None]
        line = " ".join(parts)
        if record.exc_info:  # indented: no line of it reads as an event of its own
            trace = _IN_TRACEBACK.sub(_escaped, self.formatException(record.exc_info))
            line += "\n" + "\n".join(f"  {part}" for part in trace.splitlines())
        return line


def log_event(name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event as a structured line (``fields`` become key=value pairs)."""
    LOGGER.log(level, name, extra={"fields": fields})


class ThrottledEvent:
    """An event logged at most once per ``every`` seconds, each line counting the
    repeats left out before it (``repeated=N``): on a full disk the same warning came
    from every worker, or every second, and filled the journal."""

    def __init__(self, name: str, level: int = logging.WARNING, every: float = 60.0) -> None:
        self.name, self.level, self.every = name, level, every
        self._lock = threading.Lock()
        self._last = -math.inf
        self._quiet = 0

    def __call__(self, **fields: Any) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last < self.every:
                self._quiet += 1
                return
            self._last, repeated, self._quiet = now, self._quiet, 0
        log_event(self.name, self.level, **fields, repeated=repeated or None)


@contextmanager
def events_left_out(*names: str) -> Iterator[None]:
    """Leave these events out of the log while the block runs (another display shows
    them): a filter on archiver's logger, removed afterwards."""

    def keep(record: logging.LogRecord) -> bool:
        return record.msg not in names

    LOGGER.addFilter(keep)
    try:
        yield
    finally:
        LOGGER.removeFilter(keep)


def _ours(name: str) -> bool:
    return name == LOGGER.name or name.startswith(LOGGER.name + ".")


def setup_logging(level: str = "info") -> None:
    """archiver's events at ``level`` and above; other libraries' at warning and above
    (their info lines are chatter: httpx logs every request), in the same format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    handler.set_name(_HANDLER_NAME)
    LOGGER.handlers[:] = [handler]
    LOGGER.setLevel(level.upper())
    LOGGER.propagate = False
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if h.get_name() != _HANDLER_NAME] + [handler]
    root.setLevel(max(logging.WARNING, LOGGER.level))
    logging.captureWarnings(True)
