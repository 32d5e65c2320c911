"""Who does the work: a worker's id (``host:pid``) and whether that process still runs.

Leases on capture jobs and placement intents name their worker by this id, so a
process can tell a holder that died on this host from one that is busy elsewhere.
"""

from __future__ import annotations

import os
import socket

from archiver.store.layout import pid_alive


def worker_id() -> str:
    """Who holds a lease: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_exited(owner: str | None) -> bool:
    """Whether a lease's holder was a process of this host that no longer runs.

    Workers on other hosts cannot be asked: their leases run out instead.
    """
    pid = (owner or "").rpartition(":")[2]
    return on_this_host(owner) and pid.isdecimal() and not pid_alive(int(pid))


def on_this_host(owner: str | None) -> bool:
    """Whether a worker's id (`worker_id`) names a process of this host."""
    return (owner or "").rpartition(":")[0] == socket.gethostname()
