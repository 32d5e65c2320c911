"""Who does the work: a worker's id (``host:pid``) and whether that process still runs.

Leases on capture jobs and placement intents name their worker by this id, so a
process can tell a holder that died on this host from one that is busy elsewhere.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from archiver.store.layout import pid_alive


def worker_id() -> str:
    """Who holds a lease: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_exited(owner: str | None, since: datetime | None = None) -> bool:
    """Whether a lease's holder was a process of this host that no longer runs.

    With ``since`` (when the holder took what it holds), a process that started after
    it was only given the holder's pid: after a reboot, or once pids wrapped around, a
    live process of that pid held up the holder's work for as long as it ran.
    Workers on other hosts cannot be asked: their leases run out instead.
    """
    pid = (owner or "").rpartition(":")[2]
    if not (on_this_host(owner) and pid.isdecimal()):
        return False
    if not pid_alive(int(pid)):
        return True
    if since is None:
        return False
    started = started_at(int(pid))
    return started is not None and started > since


def started_at(pid: int) -> datetime | None:
    """When the process with this pid started, as ``/proc`` says (never later than it
    did: the boot time there is in whole seconds); None when it cannot be read (the
    process is gone, or this is not Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = Path("/proc/stat").read_text().partition("\nbtime ")[2].split()[0]
        ticks = int(stat.rpartition(")")[2].split()[19])  # field 22, starttime
        return datetime.fromtimestamp(int(boot) + ticks / os.sysconf("SC_CLK_TCK"), UTC)
    except (OSError, IndexError, ValueError):
        return None


def on_this_host(owner: str | None) -> bool:
    """Whether a worker's id (`worker_id`) names a process of this host."""
    return (owner or "").rpartition(":")[0] == socket.gethostname()


class Renewer:
    """Renews in the background, every third of ``hold``, the holds this process has
    on rows (by id): job leases, source claims. The thread runs only while something
    is held. Once `drop` returns, no renewal of that id is under way: what its holder
    records next (a finished job, a poll's schedule) is never overwritten by one.
    """

    def __init__(self, hold: timedelta, name: str) -> None:
        self.hold_for = hold
        self._name = name
        self._held: set[int] = set()
        self._changed = threading.Condition()
        self._renewing = threading.Lock()
        self._thread: threading.Thread | None = None

    def hold(self, row_id: int) -> None:
        with self._changed:
            self._held.add(row_id)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def drop(self, row_id: int) -> None:
        with self._renewing, self._changed:
            self._held.discard(row_id)
            self._changed.notify_all()

    def held(self) -> set[int]:
        with self._changed:
            return set(self._held)

    def renew(self, ids: list[int]) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        interval = max(self.hold_for.total_seconds() / 3, 0.05)
        while True:
            with self._changed:
                self._changed.wait_for(lambda: not self._held, timeout=interval)
                if not self._held:
                    self._thread = None
                    return
            try:
                with self._renewing:
                    if ids := sorted(self.held()):
                        self.renew(ids)
            except Exception:  # the database may be briefly away: try again next time
                logging.getLogger("archiver").warning("%s failed", self._name, exc_info=True)
