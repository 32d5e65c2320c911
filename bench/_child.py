"""Measuring in a fresh process: its peak resident memory, and what it prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def vm_hwm(pid: int) -> int:
    """The kernel's resident-memory high-water mark of a running process, in bytes."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def in_child(script: str, *args: str) -> Any:
    """Run ``script`` with ``args`` in a new interpreter; the JSON it printed."""
    out = subprocess.run(
        [sys.executable, script, *args], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out)


def timed(work: Callable[[], T]) -> tuple[T, float, float]:
    """What ``work`` returned, its wall seconds and how much it grew this process's
    peak resident memory (MB)."""
    before = vm_hwm(os.getpid())
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    return result, seconds, (vm_hwm(os.getpid()) - before) / 1e6
