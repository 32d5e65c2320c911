"""The systemd unit, its environment file and sysusers snippet, and the sd_notify client.

The unit is checked three ways: directive by directive here, by ``systemd-analyze
verify`` (which knows every directive of the installed systemd) and by
``systemd-analyze security``. The notifier is tested against real AF_UNIX datagram
sockets, the way systemd receives its messages.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.archiving import settings, start_daemon, write_config

from archiver import notify
from archiver.config import Config
from archiver.notify import Notifier

SYSTEMD_DIR = Path(__file__).resolve().parent.parent / "systemd"
UNIT = SYSTEMD_DIR / "archiver.service"
ENV_FILE = SYSTEMD_DIR / "archiver.env"
SYSUSERS = SYSTEMD_DIR / "archiver.sysusers"
README = SYSTEMD_DIR / "README.md"

INSTALLED_EXECUTABLE = "/opt/archiver/.venv/bin/archiver"
LOG_LEVELS = {"debug", "info", "warning", "error"}

Unit = dict[str, dict[str, list[str]]]


def parse_unit(text: str) -> Unit:
    """Sections -> keys -> every assignment in order (units may repeat a key)."""
    unit: Unit = {}
    section: dict[str, list[str]] | None = None
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith(("#", ";"))):
            continue
        if line.endswith("\\"):  # a continuation line
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], {})
            continue
        assert section is not None, f"assignment outside a section: {line!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not an assignment: {line!r}"
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


def timespan(value: str) -> float:
    """Seconds from a systemd time span such as ``45s``, ``10min`` or ``1min 30s``."""
    units = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value)
    assert parts, f"not a time span: {value!r}"
    return sum(float(n) * units[u or "s"] for n, u in parts)


@pytest.fixture(scope="module")
def unit() -> Unit:
    return parse_unit(UNIT.read_text(encoding="utf-8"))


def last(unit: Unit, section: str, key: str) -> str:
    values = unit.get(section, {}).get(key)
    assert values, f"[{section}] {key}= is missing"
    return values[-1]


# --- The unit, directive by directive --------------------------------------------

REQUIRED = [
    ("Unit", "After", "network-online.target"),
    ("Unit", "Wants", "network-online.target"),
    ("Service", "Type", "notify"),
    ("Service", "NotifyAccess", "main"),
    ("Service", "WatchdogSec", "120s"),
    ("Service", "Restart", "on-failure"),
    ("Service", "KillMode", "mixed"),
    ("Service", "User", "archiver"),
    ("Service", "Group", "archiver"),
    ("Service", "EnvironmentFile", "/etc/archiver/archiver.env"),
    ("Service", "NoNewPrivileges", "yes"),
    ("Service", "ProtectSystem", "strict"),
    ("Service", "ReadWritePaths", "/var/lib/archiver"),
    ("Service", "StateDirectory", "archiver"),
    ("Service", "PrivateTmp", "yes"),
    ("Service", "ProtectHome", "yes"),
    ("Service", "PrivateDevices", "yes"),
    ("Service", "CapabilityBoundingSet", ""),
    ("Service", "AmbientCapabilities", ""),
    ("Service", "SystemCallFilter", "@system-service"),
    ("Service", "SystemCallArchitectures", "native"),
    ("Service", "ProtectKernelTunables", "yes"),
    ("Service", "ProtectKernelModules", "yes"),
    ("Service", "ProtectKernelLogs", "yes"),
    ("Service", "ProtectControlGroups", "yes"),
    ("Service", "ProtectClock", "yes"),
    ("Service", "ProtectHostname", "yes"),
    ("Service", "RestrictNamespaces", "yes"),
    ("Service", "RestrictRealtime", "yes"),
    ("Service", "RestrictSUIDSGID", "yes"),
    ("Service", "LockPersonality", "yes"),
    ("Service", "UMask", "0027"),
    ("Install", "WantedBy", "multi-user.target"),
]


@pytest.mark.parametrize(("section", "key", "expected"), REQUIRED)
def test_unit_sets_directive(unit: Unit, section: str, key: str, expected: str) -> None:
    assert last(unit, section, key) == expected


def test_unit_restricts_address_families_to_unix_and_inet(unit: Unit) -> None:
    families = last(unit, "Service", "RestrictAddressFamilies").split()
    assert sorted(families) == ["AF_INET", "AF_INET6", "AF_UNIX"]


def test_unit_starts_the_installed_daemon(unit: Unit) -> None:
    command = last(unit, "Service", "ExecStart").split()
    assert command[0] == INSTALLED_EXECUTABLE
    assert command[-1] == "run"
    # The log level comes from the environment, with a default the CLI accepts.
    assert command[1:3] == ["--log-level", "${ARCHIVER_LOG_LEVEL}"]
    assert "ARCHIVER_LOG_LEVEL=info" in unit["Service"]["Environment"]


def test_unit_limits_memory_and_files(unit: Unit) -> None:
    assert re.fullmatch(r"\d+[KMGT]?", last(unit, "Service", "MemoryMax"))
    assert int(last(unit, "Service", "LimitNOFILE")) >= 4096


def test_unit_waits_longer_than_the_shutdown_grace(unit: Unit) -> None:
    """After the grace, aborted transfers notice within a read time-out."""
    config = Config()
    needed = config.daemon.shutdown_grace + config.network.read_timeout
    assert timespan(last(unit, "Service", "TimeoutStopSec")) >= needed + 10


def test_a_config_error_is_not_restarted_forever(unit: Unit) -> None:
    assert "2" in last(unit, "Service", "RestartPreventExitStatus").split()


def test_unit_restarts_after_a_pause(unit: Unit) -> None:
    assert timespan(last(unit, "Service", "RestartSec")) >= 1


def test_unit_leaves_out_what_would_break_it(unit: Unit) -> None:
    service = unit["Service"]
    # yt-dlp's JavaScript runtimes need writable+executable memory (see the unit).
    assert "MemoryDenyWriteExecute" not in service
    # The archive's owner must be stable for years.
    assert "DynamicUser" not in service


def test_watchdog_pings_come_at_half_the_unit_interval(unit: Unit) -> None:
    usec = int(timespan(last(unit, "Service", "WatchdogSec")) * 1_000_000)
    notifier = Notifier("/run/systemd/notify", {"WATCHDOG_USEC": str(usec)})
    assert notifier.watchdog_interval() == 60.0


# --- The environment file, the sysusers snippet and the README -------------------


def env_assignments(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    return {key: value for key, value in pairs}


def test_env_file_names_the_config() -> None:
    text = ENV_FILE.read_text(encoding="utf-8")
    assert env_assignments(text) == {"ARCHIVER_CONFIG": "/etc/archiver/archiver.toml"}
    examples = re.findall(r"^#ARCHIVER_LOG_LEVEL=(\w+)$", text, flags=re.MULTILINE)
    assert examples and set(examples) <= LOG_LEVELS


def test_readme_installs_what_the_unit_expects(unit: Unit) -> None:
    text = README.read_text(encoding="utf-8")
    for expected in [
        "python3 -m venv /opt/archiver/.venv && /opt/archiver/.venv/bin/pip install",
        INSTALLED_EXECUTABLE,
        "useradd --system --home /var/lib/archiver --shell /usr/sbin/nologin archiver",
        'root = "/var/lib/archiver"',
        last(unit, "Service", "EnvironmentFile"),
        "systemctl daemon-reload && systemctl enable --now archiver",
        "systemctl status archiver",
        "journalctl -u archiver -f",
        "/opt/archiver/.venv/bin/pip install --upgrade yt-dlp && systemctl restart archiver",
        "systemd-analyze verify",
        "systemd-analyze security archiver",
    ]:
        assert expected in text, expected


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="needs systemd-sysusers")
def test_sysusers_snippet_creates_the_user(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    result = subprocess.run(
        ["systemd-sysusers", f"--root={tmp_path}", "-"],
        input=SYSUSERS.read_text(encoding="utf-8"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    passwd = (tmp_path / "etc" / "passwd").read_text(encoding="utf-8").splitlines()
    entry = next(line.split(":") for line in passwd if line.startswith("archiver:"))
    assert entry[5:] == ["/var/lib/archiver", "/usr/sbin/nologin"]
    assert "archiver:" in (tmp_path / "etc" / "group").read_text(encoding="utf-8")


# --- systemd-analyze ---------------------------------------------------------------

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


def installable_copy(directory: Path, extra: str = "") -> Path:
    """The unit with ExecStart= pointing at an executable that exists here.

    ``verify`` fails when ExecStart='s program is missing, and /opt/archiver is only
    there on an installed host. User=archiver is kept: verify (systemd 252, run as
    root or not, with no such user) does not resolve users, so it needs no stand-in.
    """
    local = Path(sys.executable).parent / "archiver"
    executable = local if local.exists() else Path(sys.executable)
    text = UNIT.read_text(encoding="utf-8").replace(INSTALLED_EXECUTABLE, str(executable))
    text = text.replace("[Service]\n", f"[Service]\n{extra}", 1)
    copy = directory / "archiver.service"
    copy.write_text(text, encoding="utf-8")
    return copy


def verify(path: Path) -> tuple[int, list[str]]:
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": ""},
    )
    return result.returncode, (result.stdout + result.stderr).splitlines()


@needs_systemd_analyze
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    code, output = verify(installable_copy(tmp_path))
    # Any complaint about this unit names its file or its name; a directive this
    # systemd does not know is reported as an unknown key, whatever the exit code.
    ours = [line for line in output if "archiver.service" in line or str(tmp_path) in line]
    unknown = [line for line in output if "Unknown" in line]
    assert code == 0, "\n".join(output)
    assert ours == [] and unknown == [], "\n".join(output)


@needs_systemd_analyze
def test_systemd_analyze_verify_would_catch_a_misspelt_directive(tmp_path: Path) -> None:
    # verify exits 0 on an unknown key and only warns: the test above relies on
    # reading the warnings, and this shows that it would see one.
    code, output = verify(installable_copy(tmp_path, extra="ProtectSytem=strict\n"))
    assert code == 0
    assert any("Unknown key" in line and "ProtectSytem" in line for line in output), output


def offline_security_supported() -> bool:
    if shutil.which("systemd-analyze") is None:
        return False
    result = subprocess.run(
        ["systemd-analyze", "security", "--help"], capture_output=True, text=True, timeout=60
    )
    return "--offline" in result.stdout and "--threshold" in result.stdout


@pytest.mark.skipif(
    not offline_security_supported(),
    reason="needs systemd-analyze security --offline/--threshold (systemd 250 or newer)",
)
def test_systemd_analyze_security_rates_the_unit_ok(tmp_path: Path) -> None:
    # The threshold is the exposure level times ten; the unit scores 1.5 on
    # systemd 252. Dropping the kernel or the system-call group pushes it over 2.0
    # (single directives are checked one by one above).
    result = subprocess.run(
        [
            "systemd-analyze",
            "security",
            "--offline=yes",
            "--threshold=20",
            "--no-pager",
            str(installable_copy(tmp_path)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- The sd_notify client ----------------------------------------------------------


@pytest.fixture
def receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket bound in tmp_path, announced in $NOTIFY_SOCKET as systemd does."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        monkeypatch.delenv("WATCHDOG_USEC", raising=False)
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
        yield sock


@pytest.fixture
def notify_events() -> Iterator[list[logging.LogRecord]]:
    """Debug records of the notifier, whatever level the app's logger is at."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("archiver")
    handler = Collect(logging.DEBUG)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_a_watchdog_ping_due_while_the_daemon_stalled_is_sent_late_not_dropped(
    receiver: socket.socket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ping more than a second late (the process throttled at MemoryHigh, say) was
    dropped as a misfire: the next came a whole interval later, at exactly WatchdogSec,
    and systemd killed the service."""
    monkeypatch.setenv("WATCHDOG_USEC", "6000000")  # a ping every 3 s
    config = write_config(tmp_path / "a.toml", settings(tmp_path / "storage"))
    daemon = start_daemon(config, log=tmp_path / "daemon.log")
    try:
        receiver.settimeout(30)
        while b"READY=1" not in receiver.recv(4096):
            pass
        while receiver.recv(4096) != b"WATCHDOG=1":
            pass
        time.sleep(2.0)  # the next ping is due in 1 s: stall over it, to 1.5 s past it
        daemon.send_signal(signal.SIGSTOP)
        time.sleep(2.5)
        daemon.send_signal(signal.SIGCONT)
        resumed = time.monotonic()
        receiver.settimeout(5)
        while receiver.recv(4096) != b"WATCHDOG=1":
            pass
        assert time.monotonic() - resumed < 0.5  # not at the next turn, 1.5 s on
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)


def test_ready_sends_ready_and_status(receiver: socket.socket) -> None:
    notifier = Notifier.from_environment()
    assert notifier.enabled
    notifier.ready("archiving 12 sources")
    assert receiver.recv(4096) == b"READY=1\nSTATUS=archiving 12 sources"
    notifier.ready()
    assert receiver.recv(4096) == b"READY=1"


def test_each_message_is_one_datagram(receiver: socket.socket) -> None:
    notifier = Notifier.from_environment()
    notifier.status("3 downloads running")
    notifier.watchdog()
    notifier.stopping("finishing 2 downloads")
    notifier.stopping()
    assert [receiver.recv(4096) for _ in range(4)] == [
        b"STATUS=3 downloads running",
        b"WATCHDOG=1",
        b"STOPPING=1\nSTATUS=finishing 2 downloads",
        b"STOPPING=1",
    ]


def test_status_text_cannot_inject_assignments(receiver: socket.socket) -> None:
    Notifier.from_environment().status("failed: bad page\nREADY=1")
    assert receiver.recv(4096) == b"STATUS=failed: bad page READY=1"


def test_status_is_utf8(receiver: socket.socket) -> None:
    Notifier.from_environment().status("سوريا: 4 fichiers archivés")
    assert receiver.recv(4096) == "STATUS=سوريا: 4 fichiers archivés".encode()


def test_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"archiver-notify-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        notifier = Notifier.from_environment()
        assert notifier.enabled
        notifier.ready("started")
        notifier.watchdog()
        assert sock.recv(4096) == b"READY=1\nSTATUS=started"
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_without_notify_socket_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "120000000")
    notifier = Notifier.from_environment()
    assert not notifier.enabled
    notifier.ready("x")
    notifier.status("x")
    notifier.watchdog()
    notifier.stopping("x")
    # Nobody would receive the pings.
    assert notifier.watchdog_interval() is None


@pytest.mark.parametrize("value", ["", "relative/path", "vsock:2:1234", "@"])
def test_unusable_addresses_disable_the_notifier(value: str) -> None:
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": value})
    assert not notifier.enabled
    notifier.ready()


def test_send_errors_are_logged_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, notify_events: list[logging.LogRecord]
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    notifier = Notifier.from_environment()
    assert notifier.enabled
    notifier.ready("started")
    notifier.watchdog()
    failures = [r for r in notify_events if r.msg == "notify.failed"]
    assert [r.levelno for r in failures] == [logging.DEBUG, logging.DEBUG]
    fields = failures[0].__dict__["fields"]
    assert fields["message"] == "READY=1"
    assert "No such file" in fields["reason"]


def test_a_receiver_that_went_away_is_not_fatal(receiver: socket.socket) -> None:
    notifier = Notifier.from_environment()
    receiver.close()
    notifier.watchdog()  # connection refused: logged, not raised


def test_a_receiver_that_stopped_reading_does_not_block(
    receiver: socket.socket,
    monkeypatch: pytest.MonkeyPatch,
    notify_events: list[logging.LogRecord],
) -> None:
    monkeypatch.setattr(notify, "_SEND_TIMEOUT", 0.05)
    notifier = Notifier.from_environment()
    started = time.monotonic()
    for _ in range(5000):  # the receive queue of a datagram socket is short
        notifier.watchdog()
        if notify_events:
            break
    assert notify_events and notify_events[0].msg == "notify.failed"
    assert time.monotonic() - started < 5
    assert receiver.recv(4096) == b"WATCHDOG=1"  # what fitted was delivered


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"WATCHDOG_USEC": "120000000"}, 60.0),
        ({"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": str(os.getpid())}, 2.5),
        ({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": "not-a-pid"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval(environ: dict[str, str], expected: float | None) -> None:
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": "/run/systemd/notify", **environ})
    assert notifier.watchdog_interval() == expected


def test_watchdog_interval_reads_the_process_environment(
    receiver: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "120000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert Notifier.from_environment().watchdog_interval() == 60.0
