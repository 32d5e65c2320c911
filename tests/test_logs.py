"""The log format: archiver's events and other libraries' warnings, one shape per line."""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Iterator

import pytest

from archiver.logs import ThrottledEvent, escape_controls, log_event, setup_logging


@pytest.fixture
def structured_logs() -> Iterator[None]:
    """Undoes what a test's setup_logging did: the test run shares loggers. (The test
    calls it itself, so that its handler writes to the stderr capsys holds then.)"""
    ours, root = logging.getLogger("archiver"), logging.getLogger()
    saved = ours.handlers[:], ours.level, ours.propagate, root.handlers[:], root.level
    try:
        yield
    finally:
        logging.captureWarnings(False)
        ours.handlers[:], ours.propagate, root.handlers[:] = saved[0], saved[2], saved[3]
        ours.setLevel(saved[1])
        root.setLevel(saved[4])


def test_plain_logger_calls_keep_their_arguments(
    structured_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging("info")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("archiver").exception("job %s crashed", 1234)
    first = capsys.readouterr().err.splitlines()[0]
    assert first.endswith(' level=error event="job 1234 crashed"')


def test_other_libraries_warnings_take_the_same_shape(
    structured_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A journald reader greps one format: a library's warning or a Python warning is a
    key=value line naming its logger, not a bare line; a library's info is left out."""
    setup_logging("info")
    logging.getLogger("apscheduler.executors.default").warning(
        'Run time of job "%s" was missed by %s', "poll", "0:00:07"
    )
    logging.getLogger("httpx").info("HTTP Request: GET https://example.org/ 200 OK")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("an old spelling", DeprecationWarning, stacklevel=1)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("ts=")
    assert lines[0].endswith(
        " level=warning event=library.log logger=apscheduler.executors.default"
        ' message="Run time of job \\"poll\\" was missed by 0:00:07"'
    )
    assert " level=warning event=library.log logger=py.warnings message=" in lines[1]
    assert "DeprecationWarning: an old spelling" in lines[1]
    assert "\n" not in lines[1]


def test_values_from_pages_cannot_split_a_line_or_drive_a_terminal(
    structured_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A caption or URL with ESC, NEL, a Unicode line separator or a bidirectional
    override was logged raw unless it also had a space, a quote or ``=``: a terminal
    ran the escape, and viewers that break lines at NEL or U+2028 showed two lines."""
    setup_logging("info")
    hostile = {
        "caption": "a\x1b[2Jb",
        "url": "https://example.org/x\x85y",
        "update": "x\u2028level=error",
        "page": "\u202egnp.exe",
        "context": "می\u200cخواهم",
        "plain": "https://example.org/ok?q=1&p=2",
    }
    log_event("capture.done", **hostile)
    (line,) = capsys.readouterr().err.splitlines()
    assert not any(c in line for c in "\x1b\x85\u2028\u202e\u200c"), repr(line)
    fields = dict(part.split("=", 1) for part in line.split(" ")[3:])
    assert {k: json.loads(v) for k, v in fields.items() if k != "plain"} == {
        k: v for k, v in hostile.items() if k != "plain"
    }
    assert fields["plain"] == '"https://example.org/ok?q=1&p=2"'  # has "=": quoted, as before


def test_the_escaper_the_cli_shares_leaves_text_but_controls_alone() -> None:
    """The CLI's text output escapes what a page sends with the logs' own escaper:
    one list of characters that drive a terminal, not two that drift apart."""
    hostile = "a\x1b]8;;https://evil.example/\x07b\x9bc\u202ed\u2028e\nf\tg"
    assert escape_controls(hostile) == (
        "a\\u001b]8;;https://evil.example/\\u0007b\\u009bc\\u202ed\\u2028e\\u000af\\u0009g"
    )
    assert escape_controls("حلب: UPDATE 14:30 — «ok» 🙂") == "حلب: UPDATE 14:30 — «ok» 🙂"
    # Persian writes the zero width non-joiner inside words: kept for a reader (the
    # logs, which a program reads, escape it)
    persian = "می\u200cخواهم \u200f14:30"
    assert escape_controls(persian) == persian


def test_a_traceback_is_indented_and_its_controls_escaped(
    structured_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A traceback was appended raw: an exception's message from a page could hold a
    terminal's escape and a line reading as an event of its own."""
    setup_logging("info")
    try:
        raise RuntimeError("boom\x1b[2J\u061c\nts=2026-01-01T00:00:00Z level=info event=forged")
    except RuntimeError:
        logging.getLogger("archiver").exception("job %s crashed", 7)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].endswith(' event="job 7 crashed"')
    assert all(line.startswith("  ") for line in lines[1:]) and len(lines) > 2
    assert "\x1b" not in "".join(lines) and "\\u001b[2J\\u061c" in lines[-2]


def test_a_throttled_event_is_one_line_a_period_counting_the_rest(
    structured_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a full disk the event log's flush failed, and tore a line, every second:
    two warnings a second for as long as the disk stayed full."""
    setup_logging("info")
    flush_failed = ThrottledEvent("eventlog.flush_failed", every=0.2)
    for _ in range(5):
        flush_failed(reason="No space left on device")
    time.sleep(0.25)
    flush_failed(reason="No space left on device")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and all("event=eventlog.flush_failed" in line for line in lines)
    assert "repeated" not in lines[0] and lines[1].endswith("repeated=4")
