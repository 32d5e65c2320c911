"""A tiny sd_notify client, so ``archiver run`` can be a ``Type=notify`` systemd service.

systemd hands a service the address of its notification socket in ``$NOTIFY_SOCKET``
(a filesystem path, or an abstract socket written with a leading ``@``). The service
sends newline-separated ``KEY=VALUE`` assignments to it as AF_UNIX datagrams:
``READY=1`` when start-up (including database migrations) is done, ``STATUS=`` for
``systemctl status``, ``STOPPING=1`` when shutdown begins and ``WATCHDOG=1`` as a
liveness ping. The protocol is this small, so it is implemented here rather than
pulling in a compiled binding.

Outside systemd (a terminal, the tests, another supervisor) ``$NOTIFY_SOCKET`` is
unset and every call is a no-op. Sending never raises: a daemon that archives
evidence must not stop because its supervisor's socket went away; failures are
logged at debug level and ignored.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

from archiver.logs import log_event

NOTIFY_SOCKET_ENV = "NOTIFY_SOCKET"
WATCHDOG_USEC_ENV = "WATCHDOG_USEC"
WATCHDOG_PID_ENV = "WATCHDOG_PID"

# systemd reads the socket promptly; a bounded send keeps a wedged receiver from
# ever blocking the daemon's main loop.
_SEND_TIMEOUT = 2.0


class Notifier:
    """Sends service state to systemd; does nothing when not run under ``Type=notify``.

    Create it with :meth:`from_environment` once at start-up. The address is kept, not
    a socket: each message opens a fresh datagram socket, so nothing stays open
    across months of running and a restarted manager is reached at the same path.
    """

    def __init__(self, address: str | None, environ: Mapping[str, str] | None = None) -> None:
        """``address`` as found in ``$NOTIFY_SOCKET`` (``None``: disabled).

        ``environ`` is where the watchdog settings are read from (default
        ``os.environ``); it exists so the caller decides which environment counts.
        """
        self._address = _socket_address(address) if address else None
        self._environ: Mapping[str, str] = os.environ if environ is None else environ
        self.enabled: bool = self._address is not None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """The notifier for ``$NOTIFY_SOCKET``, or a no-op one when it is unset or unusable."""
        env = os.environ if environ is None else environ
        return cls(env.get(NOTIFY_SOCKET_ENV) or None, env)

    def ready(self, status: str | None = None) -> None:
        """Start-up is complete: systemd marks the unit active and starts the watchdog.

        With ``Type=notify`` the unit stays "activating" until this is sent, so units
        ordered after archiver wait for the migrations to have run.
        """
        self._send("READY=1", status)

    def stopping(self, status: str | None = None) -> None:
        """Shutdown has begun, so systemd shows "deactivating" rather than a hang."""
        self._send("STOPPING=1", status)

    def status(self, text: str) -> None:
        """A one-line status shown by ``systemctl status archiver``."""
        self._send(None, text)

    def watchdog(self) -> None:
        """Liveness ping; without one every ``WatchdogSec=`` systemd kills and restarts us."""
        self._send("WATCHDOG=1", None)

    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog pings, or ``None`` when no watchdog is armed.

        That is half of ``$WATCHDOG_USEC``, as sd_watchdog_enabled(3) recommends, so
        one late ping is not fatal. ``$WATCHDOG_PID``, when set, must be this
        process: children (yt-dlp, ffmpeg) inherit the environment but the watchdog
        is not theirs to feed.
        """
        if not self.enabled:
            return None
        try:
            usec = int(self._environ.get(WATCHDOG_USEC_ENV, ""))
        except ValueError:
            return None
        if usec <= 0:
            return None
        pid = self._environ.get(WATCHDOG_PID_ENV)
        if pid:
            try:
                if int(pid) != os.getpid():
                    return None
            except ValueError:
                return None
        return usec / 2 / 1_000_000

    def _send(self, state: str | None, status: str | None) -> None:
        if self._address is None:
            return
        lines = [state] if state else []
        if status is not None:
            # A newline would start a new assignment: a status text must not be
            # able to say READY=1 or STOPPING=1 by accident.
            lines.append("STATUS=" + " ".join(status.splitlines()))
        if not lines:
            return
        payload = "\n".join(lines).encode("utf-8", "replace")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.settimeout(_SEND_TIMEOUT)
                sock.sendto(payload, self._address)
        except OSError as exc:
            log_event(
                "notify.failed",
                logging.DEBUG,
                message=lines[0],
                reason=str(exc) or type(exc).__name__,
            )


def _socket_address(value: str) -> str | None:
    """The AF_UNIX address for a ``$NOTIFY_SOCKET`` value, or ``None`` if unsupported.

    ``@name`` is Linux's abstract namespace, whose real first byte is NUL. Other
    forms (newer managers also speak vsock) are not ours to reach: disabled.
    """
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    log_event("notify.unsupported_socket", logging.DEBUG, address=value)
    return None
