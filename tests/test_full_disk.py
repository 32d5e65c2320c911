"""A full disk: each item fails in one line, nothing half-written is left, work is
retried without counting the attempt, and the archive recovers once there is room.
A read-only disk and folders archiver may not write are the archive's state too.

The archive lives on a real tmpfs of a few MiB (tests/support/smalldisk.py), so the
kernel's own ENOSPC is what archiver meets: in downloads, in sidecars and, with
SQLite on the same disk, in the database.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from support.archiving import cli_command, settings, write_config
from support.media import make_big_file, make_photo
from support.server import FixtureServer
from support.smalldisk import Ran, Step, on_small_disk

from archiver.index.models import CaptureJob, utcnow

FULL = ("No space left on device", "database or disk is full")


def serve_page(server: FixtureServer, tmp_path: Path) -> dict[str, str]:
    """A live-blog page with eight photos and a 6 MiB video: more than the small disk
    holds. Returns sha256 by URL."""
    tmp_path.mkdir()
    files = [make_photo(tmp_path / f"p{n}.jpg", seed=n, size=(720, 540)) for n in range(8)]
    files.append(make_big_file(tmp_path / "long.mp4", 6 * 1024 * 1024, seed=3))
    body = "".join(
        f"<p>Update {n}:</p><figure><{'video' if f.suffix == '.mp4' else 'img'} "
        f"src='/m/{f.name}'></figure>"
        for n, f in enumerate(files)
    )
    server.add_page("/live", f"<article>{body}</article>")
    for f in files:
        server.add_file(f"/m/{f.name}", f)
    return {server.url(f"/m/{f.name}"): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def assert_one_line_errors(ran: Ran) -> None:
    assert "Traceback" not in ran.stderr, ran.stderr
    for line in ran.stderr.splitlines():
        assert line.startswith(("ts=", "archiver: error: ")), line


def assert_nothing_half_written(storage: Path) -> None:
    """Every original in place is whole: its bytes hash to the folder it is filed under."""
    for original in (storage / "media").rglob("original.*"):
        assert hashlib.sha256(original.read_bytes()).hexdigest() == original.parent.name


def test_a_full_disk_fails_items_in_one_line_and_the_archive_recovers(
    tmp_path: Path, server: FixtureServer
) -> None:
    expected = serve_page(server, tmp_path / "files")
    server.add_page("/later", "<article><p>Later:</p><img src='/m/p0.jpg'></article>")
    disk = tmp_path / "disk"
    config = write_config(tmp_path / "a.toml", settings(disk / "storage"))  # SQLite there too
    page = server.url("/live")
    capture = cli_command(config, "capture", page, "--json")
    # then not a byte left, for the database either
    fill = ["sh", "-c", f"cat /dev/zero > {disk / 'filler'}; true"]
    free = ["rm", str(disk / "filler")]
    midway, _, no_room, _, freed, later, verified, found = on_small_disk(
        disk,
        "3m",
        [
            Step(capture),
            Step(fill),
            Step(cli_command(config, "capture", server.url("/later"), "--json")),
            Step(free),
            Step(capture, remount="size=64m"),
            Step(cli_command(config, "capture", server.url("/later"), "--json")),
            Step(cli_command(config, "verify", "--json")),
            Step(cli_command(config, "search", "--json")),
        ],
        tmp_path / "out",
    )

    # the disk fills during the downloads: those items fail with the reason
    assert midway.returncode == 1
    assert_one_line_errors(midway)
    report = json.loads(midway.stdout)
    assert {i["url"] for i in report["items"]} == set(expected)  # each, with its outcome
    reasons = [i["reason"] for i in report["items"] if i["status"] != "stored"]
    reasons += [report["error"]] if report["error"] else []
    assert reasons and all(any(f in r for f in FULL) for r in reasons), reasons
    # a file declared larger than the room left is not begun (it filled the disk,
    # failing what was written beside it, and again at each retry)
    (video,) = [i for i in report["items"] if i["url"].endswith("/long.mp4")]
    assert re.search(r"No space left on device \(6,291,456 bytes to come, [\d,]+ free\)",
                     video["reason"]), video  # fmt: skip
    assert_nothing_half_written(disk / "storage")

    # a disk with no room at all: the database cannot be written either, and what
    # SQLite may call a "disk I/O error" is said to be a full disk
    assert no_room.returncode == 1
    assert_one_line_errors(no_room)
    assert "archive database unavailable" in no_room.stdout + no_room.stderr
    assert f"the disk is full: 0 bytes free in {disk / 'storage'}" in no_room.stderr

    assert freed.returncode == 0, freed.stdout + freed.stderr
    items = json.loads(freed.stdout)["items"]
    assert {i["url"]: f["sha256"] for i in items for f in i["files"]} == expected
    assert all(i["status"] in ("stored", "already") for i in items)
    assert later.returncode == 0, later.stdout + later.stderr
    assert verified.returncode == 0 and json.loads(verified.stdout)["ok"] is True
    assert sorted(r["sha256"] for r in json.loads(found.stdout)) == sorted(expected.values())
    assert_nothing_half_written(disk / "storage")


def test_a_daemon_on_a_full_disk_keeps_running_and_retries_without_counting(
    tmp_path: Path, server: FixtureServer, pg_url: str
) -> None:
    expected = serve_page(server, tmp_path / "files")
    disk = tmp_path / "disk"
    storage = disk / "storage"
    config = write_config(tmp_path / "a.toml", settings(storage, pg_url))
    page = server.url("/live")
    # the daemon meets the full disk, is stopped (SIGTERM) once it said so (at most a
    # minute: 15 s, the time it had, was too short on a busy machine), exits 0
    log = shlex.quote(str(tmp_path / "daemon.log"))
    daemon_run = shlex.join(cli_command(config, "--log-level", "info", "run"))
    stop_when_full = f"""{daemon_run} 2>{log} & pid=$!
for _ in $(seq 600); do grep -qE '{"|".join(FULL)}' {log} && break; sleep 0.1; done
sleep 1; kill -TERM $pid; wait $pid; code=$?; cat {log} >&2; exit $code"""
    steps = [
        Step(cli_command(config, "source", "add", page, "--every", "1h")),
        Step(["bash", "-c", stop_when_full]),
    ]
    added, daemon = on_small_disk(disk, "1m", steps, tmp_path / "out1")
    assert added.returncode == 0, added.stderr
    assert daemon.returncode == 0, daemon.stderr
    assert_one_line_errors(daemon)
    assert "event=daemon.stopped" in daemon.stderr
    assert any(f in daemon.stderr for f in FULL), daemon.stderr

    jobs = _jobs(pg_url)
    postponed = [j for j in jobs if j["state"] == "failed"]
    assert postponed, jobs
    soon = utcnow() + timedelta(minutes=2)
    for job in postponed:  # a full disk is no fault of the file: the attempt is not counted
        assert any(f in job["last_error"] for f in FULL), job
        assert job["attempts"] == 0 and job["next_attempt_at"] > soon, job

    # the archivist frees space; a capture of the page now takes every file at once
    # (the emulated disk cannot outlive its run: the next is new, and a daemon refuses
    # an empty root whose index lists files unless its folders are made on purpose)
    layout = ["mkdir", "-p", str(storage / "media"), str(storage / "pages")]
    (_, again) = on_small_disk(
        disk,
        "64m",
        [Step(layout), Step(cli_command(config, "capture", page, "--json"))],
        tmp_path / "out2",
    )
    assert again.returncode == 0, again.stdout + again.stderr
    items = json.loads(again.stdout)["items"]
    assert {i["url"]: f["sha256"] for i in items for f in i["files"]} == expected
    assert {j["state"] for j in _jobs(pg_url)} == {"done"}


PLACE_AND_DIE = """
import os, sys
import archiver.capture as capture
placed = capture.place_original
def place_and_die(*args, **kwargs):
    placed(*args, **kwargs)
    os._exit(9)  # linked into media/, not yet indexed: a crash leaves its intent
capture.place_original = place_and_die
from archiver.cli import main
sys.argv = ["archiver", *sys.argv[1:]]
main()
"""


def test_a_daemon_starting_on_a_full_disk_beside_a_file_a_crash_left_placed_runs(
    tmp_path: Path, server: FixtureServer, pg_url: str
) -> None:
    """A crash left a photo placed but not indexed; the daemon started on a full disk,
    where indexing it could not write its sidecar: the start failed (exit 1, a
    traceback) and systemd restarted it in a loop, polling nothing, until there was
    room. It logs the photo as owed and runs; once there is room, it is all indexed."""
    photo = make_photo(tmp_path / "photo.jpg", size=(720, 540))
    server.add_file("/m/photo.jpg", photo)
    server.add_page(
        "/live", "<article><p>Smoke over the port:</p><img src='/m/photo.jpg'></article>"
    )
    disk = tmp_path / "disk"
    config = write_config(tmp_path / "a.toml", settings(disk / "storage", pg_url))
    crash = [sys.executable, "-c", PLACE_AND_DIE, "--config", str(config), "capture"]
    fill = ["sh", "-c", f"cat /dev/zero > {disk / 'filler'} 2>/dev/null; true"]
    run_once = cli_command(config, "--log-level", "info", "run", "--once")
    died, _, full, _, roomy, found = on_small_disk(
        disk,
        "3m",
        [
            Step([*crash, server.url("/live")]),
            Step(fill),
            Step(run_once),
            Step(["rm", str(disk / "filler")]),
            Step(run_once),
            Step(cli_command(config, "search", "--json")),
        ],
        tmp_path / "out",
    )
    assert died.returncode == 9, died.stderr
    assert full.returncode == 0, full.stderr
    assert_one_line_errors(full)
    (owed,) = [line for line in full.stderr.splitlines() if "event=placement.owed" in line]
    assert "No space left on device" in owed, owed
    assert roomy.returncode == 0, roomy.stderr
    (item,) = json.loads(found.stdout)
    assert item["sha256"] == hashlib.sha256(photo.read_bytes()).hexdigest()
    assert item["sightings"][0]["context"] == "Smoke over the port:"


def test_a_full_disk_while_reading_older_pages_fails_the_poll_not_the_pages(
    tmp_path: Path, server: FixtureServer, pg_url: str
) -> None:
    """A live blog's older pages are read before the page is recorded: a full disk
    there is the archive's fault, not an older page's, so the poll fails (and is
    retried) instead of going on as if the older pages had failed."""
    for number in (1, 2, 3):
        older = f"<a href='/live?page={number + 1}'>Older posts</a>" if number < 3 else ""
        update = f"<p>Update {number}:</p><img src='/m/p{number}.jpg'>"
        server.add_page("/live" if number == 1 else f"/live?page={number}",
                        f"<article>{update}{older}</article>")  # fmt: skip
    disk = tmp_path / "disk"
    storage = disk / "storage"
    config = write_config(tmp_path / "a.toml", settings(storage, pg_url))
    fill = f"cat /dev/zero > {disk / 'filler'} 2>/dev/null; true"
    steps = [
        Step(cli_command(config, "source", "add", server.url("/live"), "--every", "1h")),
        Step(["sh", "-c", fill]),
        Step(cli_command(config, "--log-level", "info", "run", "--once")),
    ]
    *_, full = on_small_disk(disk, "1m", steps, tmp_path / "out")
    assert_one_line_errors(full)
    (polled,) = [line for line in full.stderr.splitlines() if "event=source.polled" in line]
    assert "result=error" in polled and "cannot store the page: No space left" in polled
    assert "page.older_failed" not in full.stderr, full.stderr


UPLOAD = """
import sys
sys.path.insert(0, {tests!r})
from support.browser import AppClient
from archiver.archive import Archive
from archiver.config import load_config
from archiver.web import create_app

with Archive.open(load_config({config!r})) as archive:
    client = AppClient(create_app(archive))
    held = bytes(range(256)) * 16384  # 4 MiB: more than the disk has left
    answer = client.post("/api/similar", files={{"file": ("held.jpg", held, "image/jpeg")}})
    print(answer.status_code, answer.headers.get("retry-after"), answer.text)
    client.close()
"""


def test_an_upload_to_a_full_disk_is_a_503_not_a_crash(tmp_path: Path, pg_url: str) -> None:
    """ "Find this file" keeps the upload in the archive's scratch space: a full disk
    there is the archive's state (503, Retry-After), not an internal error."""
    disk = tmp_path / "disk"
    config = write_config(tmp_path / "a.toml", settings(disk / "storage", pg_url))
    script = tmp_path / "upload.py"
    script.write_text(UPLOAD.format(tests=str(Path(__file__).parent), config=str(config)))
    fill = f"cat /dev/zero > {disk / 'filler'} 2>/dev/null; true"
    steps = [
        Step(cli_command(config, "init")),
        Step(["sh", "-c", fill]),
        Step([sys.executable, str(script)]),
    ]
    *_, upload = on_small_disk(disk, "1m", steps, tmp_path / "out")
    assert upload.returncode == 0, upload.stderr
    status, retry_after, body = upload.stdout.split(" ", 2)
    assert (status, retry_after) == ("503", "60"), upload.stdout + upload.stderr
    assert "cannot keep the upload: No space left on device" in body
    assert "Traceback" not in upload.stderr, upload.stderr


def _jobs(db_url: str) -> list[dict[str, Any]]:
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            return [
                {
                    "url": j.url,
                    "state": j.state,
                    "attempts": j.attempts,
                    "last_error": j.last_error,
                    "next_attempt_at": j.next_attempt_at,
                }
                for j in session.scalars(select(CaptureJob).where(CaptureJob.embed_id.is_not(None)))
            ]
    finally:
        engine.dispose()


def test_ytdlp_meeting_a_full_disk_blames_the_archive_not_the_video(
    tmp_path: Path, server: FixtureServer
) -> None:
    """The real yt-dlp, writing into the archive's scratch folder on a full disk: its
    "[Errno 28]" is the archive's state, retried without counting, not a bad video."""
    server.add_file("/clip.mp4", make_big_file(tmp_path / "clip.mp4", 6 * 1024 * 1024, seed=5))
    disk = tmp_path / "disk"
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from archiver.errors import ArchiveUnavailable\n"
        "from archiver.fetch.ytdlp import Ytdlp\n"
        "from archiver.config import config_from_dict\n"
        "config = config_from_dict({'network': {'allow_private_addresses': True}})\n"
        "work = Path(sys.argv[1])\n"
        "try:\n"
        "    Ytdlp(config.ytdlp, config.network, None).download(sys.argv[2], work)\n"
        "except ArchiveUnavailable as exc:\n"
        "    print(f'unavailable: {exc}; work folder left: {work.exists()}')\n"
    )
    argv = [sys.executable, "-c", code, str(disk / "work"), server.url("/clip.mp4")]
    (ran,) = on_small_disk(disk, "1m", [Step(argv)], tmp_path / "out")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == (
        "unavailable: yt-dlp: cannot write to the archive: [Errno 28] No space left on device;"
        " work folder left: False"
    )


def test_an_archive_on_a_read_only_disk_is_refused_at_start_naming_it(
    tmp_path: Path, server: FixtureServer
) -> None:
    """A disk remounted read-only (ext4 does so after I/O errors) said "archive database
    unavailable: unable to open database file", exit 1: a state that passes, so the
    service was restarted for ever. It will not pass by itself: exit 2, and where. What
    only reads still works there."""
    server.add_page("/p", "<article><p>Nothing yet.</p></article>")
    disk = tmp_path / "disk"
    config = write_config(tmp_path / "a.toml", settings(disk / "storage"))
    steps = [
        Step(cli_command(config, "init")),
        Step(cli_command(config, "capture", server.url("/p")), remount="ro"),
        Step(cli_command(config, "status")),
    ]
    _, capture, status = on_small_disk(disk, "4m", steps, tmp_path / "out")
    assert capture.returncode == 2, capture.stderr
    assert_one_line_errors(capture)
    assert f"{disk / 'storage'} is on a read-only filesystem" in capture.stderr
    # a command that only reads opens the index read-only: it still answers
    assert status.returncode == 0 and "queue: pending 0" in status.stdout, status.stderr


def unprivileged(argv: list[str]) -> list[str]:
    """``argv`` without the powers of root (in a user namespace of its own): a folder's
    mode binds it, as it binds the account a service runs as."""
    return ["unshare", "--user", "--", *argv]


def test_folders_archiver_may_not_write_are_the_archives_state_not_the_items(
    tmp_path: Path, server: FixtureServer
) -> None:
    """``media/`` given to another owner made each item fail as "storage error:
    Permission denied", counted, until the evidence was given up after 16 attempts; an
    index file archiver may not write said "archive database unavailable", exit 1, so
    the service was restarted for ever."""
    photo = make_photo(tmp_path / "p.jpg", seed=4, size=(640, 480))
    server.add_file("/m/p.jpg", photo)
    page = server.url("/p")
    server.add_page("/p", "<article><p>The depot:</p><img src='/m/p.jpg'></article>")
    storage = tmp_path / "storage"
    config = write_config(tmp_path / "a.toml", settings(storage))
    subprocess.run(cli_command(config, "init"), check=True, capture_output=True)
    capture = unprivileged(cli_command(config, "capture", page, "--json"))

    (storage / "media").chmod(0o555)
    denied = subprocess.run(capture, capture_output=True, text=True, timeout=120)
    (storage / "media").chmod(0o755)
    assert denied.returncode == 1, denied.stderr
    assert_one_line_errors(denied)
    (item,) = json.loads(denied.stdout)["items"]
    assert item["status"] == "failed"
    assert item["reason"] == "cannot store original.jpg: Permission denied"
    (job,) = _jobs(f"sqlite:///{storage / 'archive.db'}")
    assert job["attempts"] == 0  # not counted against the evidence
    again = subprocess.run(capture, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["items"][0]["status"] == "stored"

    # an index it may read and not write: searches still work, captures are refused
    (storage / "archive.db").chmod(0o444)
    status = subprocess.run(
        unprivileged(cli_command(config, "status")), capture_output=True, text=True, timeout=60
    )
    refused = subprocess.run(capture, capture_output=True, text=True, timeout=60)
    (storage / "archive.db").chmod(0o644)
    assert status.returncode == 0 and "done 2" in status.stdout, status.stderr
    assert refused.returncode == 2
    assert_one_line_errors(refused)
    assert f"no permission to write {storage / 'archive.db'}" in refused.stderr

    # its folder too (an archive handed over to be read): SQLite could not make the
    # files WAL mode keeps beside the index, and searches were refused as captures are
    storage.chmod(0o555)
    reads = [
        subprocess.run(unprivileged(cli_command(config, *command)), capture_output=True, text=True)
        for command in (("search", "--json"), ("status",), ("report", page))
    ]
    storage.chmod(0o755)
    for ran in reads:
        assert ran.returncode == 0, ran.stderr
        assert_one_line_errors(ran)
    assert [r["sha256"] for r in json.loads(reads[0].stdout)] == [
        hashlib.sha256(photo.read_bytes()).hexdigest()
    ]
    assert "done 2" in reads[1].stdout and "archived" in reads[2].stdout
    assert not list(storage.glob("archive.db-*"))  # nothing written beside it


def test_an_export_onto_a_full_disk_names_where_it_was_copying_to(
    tmp_path: Path, server: FixtureServer
) -> None:
    """ "cannot copy …/media/…/original.mp4: No space left on device" named the archive's
    original, as if the evidence were failing, when the bag's disk was full."""
    server.add_file("/long.mp4", make_big_file(tmp_path / "long.mp4", 3 * 1024 * 1024, seed=9))
    config = write_config(tmp_path / "a.toml", settings(tmp_path / "storage"))
    captured = subprocess.run(
        cli_command(config, "capture", server.url("/long.mp4")), capture_output=True, text=True
    )
    assert captured.returncode == 0, captured.stderr
    disk = tmp_path / "disk"
    (export,) = on_small_disk(
        disk,
        "1m",
        [Step(cli_command(config, "export", "--out", str(disk / "bag")))],
        tmp_path / "o",
    )
    assert export.returncode == 1
    assert_one_line_errors(export)
    assert f"to {disk / 'bag' / 'data'}" in export.stderr and "No space left" in export.stderr
