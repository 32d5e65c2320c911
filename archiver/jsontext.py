"""JSON from outside (a page's JSON-LD, a JSON Feed, a platform's info) as values that
archiver can store.

JSON may escape one half of a surrogate pair on its own (``"\\ud800"``). Python then
holds a lone surrogate, which UTF-8 cannot encode: the index, a sidecar or the event
log would fail on it, and with it the whole capture. Such halves become U+FFFD; a pair
is one character already once parsed.
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def load_json(text: str | bytes, *, strict: bool = True) -> Any:
    """``json.loads``, with lone surrogates in every string (keys too) as U+FFFD, and
    ``NaN``, ``Infinity`` and numbers past a float's range (which Python's parser
    accepts, but JSON, PostgreSQL's jsonb and strict readers of a sidecar do not) as
    null.

    Raises what ``json.loads`` raises (ValueError, RecursionError for deep nesting).
    """
    value = json.loads(text, strict=strict, parse_constant=_no_number, parse_float=_finite)
    escaped = (
        _SURROGATE_ESCAPE.search(text)
        if isinstance(text, str)
        else _SURROGATE_ESCAPE_BYTES.search(text)
    )
    return _without_lone_surrogates(value) if escaped else value


def json_or_none(text: str | bytes) -> Any:
    """``load_json``, or None for what is not JSON (or nests too deep to read): a
    platform's answer that is not one is told apart by its shape, like any other."""
    try:
        return load_json(text)
    except (ValueError, RecursionError):
        return None


def _no_number(_constant: str) -> None:
    return None


def _finite(literal: str) -> float | None:
    """A number too large for a float (``1e400``) is infinite: null, as ``Infinity`` is."""
    number = float(literal)
    return number if math.isfinite(number) else None


def storable(text: str) -> str:
    """``text`` with each lone surrogate as U+FFFD."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def _without_lone_surrogates(value: Any) -> Any:
    """Clean every string in a parsed document, in place, without recursion (documents
    nest as deep as the parser allowed)."""
    if isinstance(value, str):
        return storable(value)
    pending: list[Any] = [value]
    while pending:
        container = pending.pop()
        if isinstance(container, list):
            for index, item in enumerate(container):
                if isinstance(item, str):
                    container[index] = storable(item)
                elif isinstance(item, list | dict):
                    pending.append(item)
        elif isinstance(container, dict):
            items = list(container.items())
            container.clear()
            for key, item in items:
                if isinstance(item, str):
                    item = storable(item)
                elif isinstance(item, list | dict):
                    pending.append(item)
                container[storable(key) if isinstance(key, str) else key] = item
    return value


def json_at(data: Any, *keys: str) -> Any:
    """``data[k1][k2]…`` of a platform's answer, or None where it is not an object."""
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def json_list(value: Any) -> list[Any]:
    """A list where a platform's answer has one; anything else is no items."""
    return value if isinstance(value, list) else []


def json_text(value: Any) -> str | None:
    """A non-blank string of a platform's answer, stripped; anything else is None."""
    return value.strip() or None if isinstance(value, str) else None


def printable(value: str | os.PathLike[str]) -> str:
    """Text from the operating system (a file name, a command-line argument) as text
    that can be stored, logged and printed: its bytes that are not UTF-8 (which Python
    holds as lone surrogates, and the event log, a JSON report or a UTF-8 terminal
    cannot take) are shown as ``\\xff`` escapes."""
    return os.fsencode(value).decode("utf-8", "backslashreplace")
