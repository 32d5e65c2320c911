"""Fixity: damage to a real captured archive is found and named by SHA-256 and path."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from support import FixtureServer, MediaSet
from support.archiving import cli_command, make_config, run_cli, settings, write_config

from archiver.archive import Archive
from archiver.capture import Capturer
from archiver.config import YtdlpConfig, config_from_dict
from archiver.duplicates import DuplicateFinder
from archiver.errors import Interrupted
from archiver.index.debts import owe_media_sidecars
from archiver.index.models import Event, Media, PageSnapshot
from archiver.integrity import eventlog, readers
from archiver.integrity.bag import ExportError
from archiver.integrity.eventlog import file_head, flush_log, log_path, rebuild_log
from archiver.integrity.export import export_bag
from archiver.integrity.fixity import (
    FULL_CHECK_PARTS,
    SLICE_LOCK,
    Part,
    Problem,
    _load,
    _recheck,
    due_part,
    run_due_slice,
    verify_archive,
)
from archiver.integrity.repair import rewrite_sidecars
from archiver.search import SearchQuery
from archiver.store.layout import Layout
from archiver.store.objects import find_original, place_original

LIVE = """<!doctype html><html><head><title>Aleppo live, day 3</title></head><body><article>
<h1>Aleppo live, day 3</h1>
<p><strong>UPDATE 0900 GMT:</strong> Activists filmed the market after the strike:</p>
<video controls src="/media/clip_a.mp4"></video>
<p><strong>UPDATE 1100 GMT:</strong> Smoke rises over the citadel:</p>
<img src="/media/photo_a.jpg" width="800" height="600">
<p>Another view, from the east:</p>
<img src="/media/photo_b.jpg" width="800" height="600">
</article></body></html>
"""


FAKE_YTDLP = Path(__file__).parent / "fixtures" / "fake_ytdlp.py"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(archive: Archive, server: FixtureServer, media: MediaSet) -> dict[str, Path]:
    """Capture a live blog with a clip and two photos; name -> stored original."""
    server.add_page("/live", LIVE)
    for name in ("clip_a", "photo_a", "photo_b"):
        path = getattr(media, name)
        server.add_file(f"/media/{path.name}", path)
    report = Capturer(archive).capture_url(server.url("/live"))
    assert report.ok, report.to_json()
    stored = {f.sha256: f.path for item in report.items for f in item.files}
    return {
        name: stored[sha256_of(getattr(media, name))] for name in ("clip_a", "photo_a", "photo_b")
    }


@pytest.fixture
def archive(tmp_path: Path, db_url: str) -> Any:
    with Archive.open(make_config(tmp_path / "storage", db_url)) as opened:
        yield opened


@pytest.fixture
def sqlite_archive(tmp_path: Path) -> Any:
    with Archive.open(make_config(tmp_path / "storage")) as opened:
        yield opened


def named(problems: list[Problem]) -> set[tuple[str, str | None, str | None]]:
    return {(p.kind, p.sha256, p.path) for p in problems}


def page_snapshot(archive: Archive) -> tuple[str, Path]:
    with archive.read_session() as session:
        snapshot = session.scalars(select(PageSnapshot)).one()
        return snapshot.sha256, archive.layout.absolute(snapshot.path)


def test_a_clean_archive_verifies_and_the_run_is_logged(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    originals = build(archive, server, media)
    _, page = page_snapshot(archive)

    report = verify_archive(archive)

    assert report.ok, report.to_json()
    assert (report.originals, report.pages, report.files_hashed) == (3, 1, 4)
    assert (
        report.bytes_hashed
        == sum(p.stat().st_size for p in originals.values()) + page.stat().st_size
    )
    assert report.chain.ok and report.chain.entries == 4  # 3 captures + 1 page
    with archive.read_session() as session:
        logged = session.scalars(select(Event).where(Event.seq == report.event_seq)).one()
    assert logged.type == "fixity"
    assert logged.payload["ok"] is True and logged.payload["scope"] == "full"
    assert logged.payload["counts"] == {
        "missing": 0,
        "corrupt": 0,
        "orphan": 0,
        "disagreement": 0,
        "chain": 0,
    }
    assert json.loads(json.dumps(report.to_json()))["ok"] is True


def test_each_kind_of_damage_is_named_by_sha256_and_path(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    originals = build(archive, server, media)
    clip, photo_a, photo_b = originals["clip_a"], originals["photo_a"], originals["photo_b"]
    clip_sha, a_sha, b_sha = (p.parent.name for p in (clip, photo_a, photo_b))

    with clip.open("r+b") as f:  # one flipped bit, size unchanged
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0x01]))
    with photo_a.open("r+b") as f:
        f.truncate(photo_a.stat().st_size // 2)
    photo_b.unlink()
    stray = clip.parent / "extra.bin"
    stray.write_bytes(b"not indexed")
    foreign_sha = hashlib.sha256(b"someone else's file").hexdigest()
    foreign = archive.layout.media_dir(foreign_sha) / "original.jpg"
    foreign.parent.mkdir(parents=True)
    foreign.write_bytes(b"someone else's file")

    report = verify_archive(archive)

    assert not report.ok
    assert named(report.problems) == {
        ("corrupt", clip_sha, str(clip)),
        ("corrupt", a_sha, str(photo_a)),
        ("missing", b_sha, str(photo_b)),
        ("orphan", clip_sha, str(stray)),
        ("orphan", foreign_sha, str(foreign)),
    }
    details = {p.path: p.detail for p in report.problems}
    assert "bytes changed" in details[str(clip)]
    assert f"{photo_a.stat().st_size} bytes" in details[str(photo_a)]
    assert report.counts == {"missing": 1, "corrupt": 2, "orphan": 2, "disagreement": 0, "chain": 0}
    with archive.read_session() as session:
        payload = session.scalars(select(Event.payload).where(Event.seq == report.event_seq)).one()
    assert payload["ok"] is False and payload["counts"]["corrupt"] == 2
    root = str(archive.layout.root) + "/"
    assert {"kind": "missing", "sha256": b_sha, "path": str(photo_b).removeprefix(root)} in payload[
        "problems"
    ]


def test_a_file_name_that_is_not_utf8_is_an_orphan_shown_with_escapes(
    archive: Archive, server: FixtureServer, media: MediaSet, tmp_path: Path
) -> None:
    """A name with a byte that is not UTF-8 (``bad\\xffname``) beside an original made
    verify crash on the log entry (lone surrogates are no JSON), reporting nothing."""
    originals = build(archive, server, media)
    clip = originals["clip_a"]
    odd = Path(os.fsdecode(bytes(clip.parent) + b"/bad\xffname"))
    odd.write_bytes(b"x")

    report = verify_archive(archive)

    assert not report.ok
    assert named(report.problems) == {("orphan", clip.parent.name, str(odd))}
    shown = str(clip.parent) + "/bad\\xffname"
    assert report.to_json()["problems"][0]["path"] == shown
    assert shown in report.lines()[0]
    with archive.read_session() as session:
        payload = session.scalars(select(Event.payload).where(Event.seq == report.event_seq)).one()
    assert payload["problems"][0]["path"].endswith("/bad\\xffname")
    # the bag of an export to such a folder is whole and recorded under that name
    odd.unlink()
    bag = Path(os.fsdecode(bytes(tmp_path) + b"/bag\xffx"))
    exported = export_bag(archive, SearchQuery.parse(sha256=clip.parent.name), bag)
    assert exported.to_json()["path"].endswith("/bag\\xffx") and (bag / "bagit.txt").is_file()
    with archive.read_session() as session:
        payload = session.scalars(
            select(Event.payload).where(Event.seq == exported.event_seq)
        ).one()
    assert payload["bag"] == "bag\\xffx"


def test_things_standing_where_files_belong_are_named_not_followed(
    archive: Archive, server: FixtureServer, media: MediaSet, tmp_path: Path
) -> None:
    """A link where an original belongs passed verify and was exported (its target's
    bytes were hashed); a pipe where a sidecar belongs held verify forever; a folder
    where the log file belongs was an IsADirectoryError traceback."""
    originals = build(archive, server, media)
    photo = originals["photo_a"]
    outside = tmp_path / "elsewhere.jpg"
    shutil.copyfile(photo, outside)
    photo.unlink()
    photo.symlink_to(outside)
    sidecar = originals["photo_b"].parent / "provenance.json"
    sidecar.unlink()
    os.mkfifo(sidecar)
    log = log_path(archive.layout)
    log.unlink()
    log.mkdir()

    report = verify_archive(archive)

    details = {(p.kind, p.path): p.detail for p in report.problems}
    assert details[("corrupt", str(photo))] == (
        f"original is a symbolic link (to {outside}), not the stored file"
    )
    assert details[("corrupt", str(sidecar))] == "sidecar is unreadable: not a regular file"
    assert [b.to_json() for b in report.chain.breaks] == [
        {"seq": 1, "where": "file", "why": "events.jsonl is not a regular file"}
    ]
    with pytest.raises(ExportError, match="is a symbolic link"):
        export_bag(archive, SearchQuery.parse(sha256=photo.parent.name), tmp_path / "bag")
    assert not (tmp_path / "bag").exists()


@pytest.mark.parametrize("name", ["thumbnail.webp", "platform.info.json", "provenance.json"])
def test_a_link_where_a_companion_or_sidecar_belongs_is_named_not_followed(
    tmp_path: Path,
    server: FixtureServer,
    media: MediaSet,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    """A companion file or a sidecar moved off the archive's disk, a link left in its
    place, passed verify (the link was followed to the same bytes) while export refused
    it: `verify` named nothing for `--rewrite-sidecars` to write again."""
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(media.clip_b))
    ytdlp = YtdlpConfig(command=[sys.executable, str(FAKE_YTDLP)], timeout=30)
    config = make_config(tmp_path / "storage").model_copy(update={"ytdlp": ytdlp})
    server.add_page(
        "/live",
        "<article><p>Fighters:</p><iframe src='https://www.youtube.com/embed/abc123XYZ_0'>"
        "</iframe></article>",
    )
    with Archive.open(config) as archive:
        (item,) = Capturer(archive).capture_url(server.url("/live")).items
        folder = item.files[0].path.parent
        assert verify_archive(archive).ok
        elsewhere = tmp_path / "elsewhere" / name
        elsewhere.parent.mkdir()
        shutil.move(folder / name, elsewhere)
        (folder / name).symlink_to(elsewhere)  # the same bytes, off the archive's disk

        report = verify_archive(archive)

        what = "sidecar" if name == "provenance.json" else f"companion file {name!r}"
        assert [(p.kind, p.sha256, p.path, p.detail) for p in report.problems] == [
            (
                "corrupt",
                folder.name,
                str(folder / name),
                f"{what} is a symbolic link (to {elsewhere}), not the stored file",
            )
        ]
        if name == "provenance.json":  # a sidecar can be written again from the index
            (rewritten,) = rewrite_sidecars(archive)
            assert rewritten.problems[0].startswith("sidecar is a symbolic link")
            assert verify_archive(archive).ok


@pytest.mark.parametrize("linked_as", ["original.mp4", "original.bin"])
def test_a_link_where_an_original_belongs_is_not_taken_for_the_stored_bytes(
    tmp_path: Path, linked_as: str
) -> None:
    """An original replaced by a link (verify: the archive no longer holds the bytes)
    counted as stored: a new capture of the very same bytes threw its verified copy
    away and kept the link. The copy takes the link's place, under its name."""
    layout = Layout(tmp_path / "storage")
    layout.create()
    body = b"\x00\x00\x00\x18ftypmp42" + b"evidence" * 1000
    sha = hashlib.sha256(body).hexdigest()
    scratch = layout.tmp_root / "t"
    scratch.mkdir()
    (scratch / "a.part").write_bytes(body)
    placed = place_original(layout, scratch / "a.part", sha, "mp4")
    elsewhere = tmp_path / "usb" / "clip.mp4"
    elsewhere.parent.mkdir()
    shutil.move(placed, elsewhere)
    link = placed.with_name(linked_as)
    link.symlink_to(elsewhere)
    assert find_original(layout, sha) is None

    (scratch / "b.part").write_bytes(body)
    again = place_original(layout, scratch / "b.part", sha, "mp4")

    assert again == link and not again.is_symlink() and again.read_bytes() == body
    assert sorted(p.name for p in placed.parent.iterdir()) == [linked_as]
    assert elsewhere.read_bytes() == body and not (scratch / "b.part").exists()
    assert find_original(layout, sha) == link


def test_a_damaged_original_is_restored_when_its_bytes_come_again(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    """A recapture of bytes whose stored copy had rotted (or was tampered with) threw
    the verified download away, kept the damaged file and gave it a new sighting.
    The fresh copy takes its place; the damaged one is kept and the log says so."""
    body = media.photo_a.read_bytes()
    server.add_bytes("/a.jpg", body, "image/jpeg")
    server.add_bytes("/b.jpg", body, "image/jpeg")
    (first,) = Capturer(archive).capture_url(server.url("/a.jpg")).items
    original = first.files[0].path
    rotten = bytearray(body)
    rotten[len(rotten) // 2] ^= 0xFF
    original.write_bytes(bytes(rotten))
    assert {p.kind for p in verify_archive(archive).problems} == {"corrupt"}

    (again,) = Capturer(archive).capture_url(server.url("/b.jpg")).items

    assert again.status == "already" and again.files[0].path == original
    assert original.read_bytes() == body
    (kept,) = archive.layout.replaced_dir(sha256_of(media.photo_a)).iterdir()
    assert kept.read_bytes() == bytes(rotten) and kept.name.startswith("original.")
    with archive.read_session() as session:
        event = session.scalars(select(Event).where(Event.type == "original_restored")).one()
    assert event.payload == {
        "sha256": sha256_of(media.photo_a),
        "path": archive.layout.relative(original),
        "kept": archive.layout.relative(kept),
        "kept_sha256": hashlib.sha256(rotten).hexdigest(),
        "kept_size_bytes": len(body),
    }
    report = verify_archive(archive)
    assert report.ok, report.problems


def test_a_broken_event_chain_fails_the_run(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    build(archive, server, media)
    with archive.engine.begin() as connection:
        connection.execute(text("UPDATE events SET type = 'sighting' WHERE seq = 2"))
    report = verify_archive(archive)
    chain = [p for p in report.problems if p.kind == "chain"]
    assert [p.detail.split(":")[0] for p in chain] == ["database entry 2", "file entry 2"]
    assert report.counts["chain"] == 2 and not report.ok


def test_what_the_log_says_was_captured_and_the_index_lost_is_missing(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    """An original or a page version deleted from the index and the disk alike passed
    verify, though the intact log records its capture: only index to disk and disk to
    index were checked, and archiver never removes either row."""
    originals = build(archive, server, media)
    clip, photo = originals["clip_a"].parent, originals["photo_a"].parent
    page_sha, page = page_snapshot(archive)
    with archive.engine.begin() as connection:
        for sha in (clip.name, photo.name):
            connection.execute(text("DELETE FROM media WHERE sha256 = :s"), {"s": sha})
        connection.execute(text("DELETE FROM page_snapshots WHERE sha256 = :s"), {"s": page_sha})
        captured = dict(
            connection.execute(
                text("SELECT media_sha256, seq FROM events WHERE type = 'capture'")
            ).all()
        )
        (paged,) = connection.execute(text("SELECT seq FROM events WHERE type = 'page'")).one()
    shutil.rmtree(clip)
    shutil.rmtree(page.parent)  # the photo's folder stays: its files are orphans now

    report = verify_archive(archive)

    missing = {p.path: (p.sha256, p.detail) for p in report.problems if p.kind == "missing"}
    assert missing == {
        str(clip): (
            clip.name,
            f"the log records its capture (entry {captured[clip.name]}); "
            "the index and the disk have none",
        ),
        str(photo): (
            photo.name,
            f"the log records its capture (entry {captured[photo.name]}); the index has none",
        ),
        str(page.parent): (
            page_sha,
            f"the log records its capture (entry {paged}); the index and the disk have none",
        ),
    }
    assert report.counts["orphan"] == len(list(photo.iterdir())) and report.chain.ok
    # a slice names those of its part only
    parts = [verify_archive(archive, part=Part(i, 3), record_event=False) for i in range(3)]
    assert sorted(p.path for r in parts for p in r.problems if p.kind == "missing") == sorted(
        missing
    )


def test_sidecar_and_database_disagreements_are_named(
    sqlite_archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    archive = sqlite_archive
    originals = build(archive, server, media)
    sidecar = originals["photo_a"].parent / "provenance.json"
    document = json.loads(sidecar.read_text())
    document["file"]["md5"] = "0" * 32
    document["sightings"].append(
        dict(document["sightings"][0], page_url="https://example.org/forged")
    )
    sidecar.write_text(json.dumps(document))
    page_sha, page = page_snapshot(archive)
    page_sidecar = page.parent / "provenance.json"
    page_document = json.loads(page_sidecar.read_text())
    page_document["size_bytes"] += 1
    page_sidecar.write_text(json.dumps(page_document))
    (originals["clip_a"].parent / "provenance.json").unlink()

    report = verify_archive(archive)

    sha = originals["photo_a"].parent.name
    assert sorted(
        (p.kind, p.sha256, p.path, p.detail.split(":")[0]) for p in report.problems
    ) == sorted(
        [
            ("disagreement", sha, str(sidecar), "file.md5"),
            ("disagreement", sha, str(sidecar), "sightings (count)"),
            ("disagreement", page_sha, str(page_sidecar), "size_bytes"),
            (
                "missing",
                originals["clip_a"].parent.name,
                str(originals["clip_a"].parent / "provenance.json"),
                "sidecar is missing",
            ),
        ]
    )


@pytest.mark.parametrize(
    ("forge", "named"),
    [
        (lambda d: d["sightings"][0].update(context="Regime forces filmed near the Citadel:"),
         "sightings"),
        (lambda d: d["sightings"][0].update(page_url="https://example.org/forged"), "sightings"),
        (lambda d: d["sightings"][0].update(first_seen_at="2011-03-15T09:00:00.000Z"),
         "sightings"),
        (lambda d: d.update(first_captured_at="2011-03-15T09:00:00.000Z"), "first_captured_at"),
        (lambda d: d.update(platform={"extractor": "Youtube", "id": "abc123XYZ_0"}), "platform"),
        (lambda d: d["sightings"][0].update(embed_original_url="https://x.example/a.jpg"),
         "sightings"),
        (lambda d: d["sightings"][0]["acquisition"].update(tool="yt-dlp"), "sightings"),
        (lambda d: d.update(platform={"title": "Fighters near the Citadel"}), "platform"),
        # these passed verify, and went into bags as they were forged
        (lambda d: d["sightings"][0]["acquisition"].update(http_status=404), "sightings"),
        (lambda d: d["sightings"][0]["acquisition"].update(tool_version="0.1"), "sightings"),
        (lambda d: d["sightings"][0].update(found_in="video"), "sightings"),
        (lambda d: d["sightings"][0].update(posted_at="2011-03-15T09:00:00.000Z"), "sightings"),
        (lambda d: d["sightings"][0].update(last_seen_at="2031-03-15T09:00:00.000Z"),
         "sightings"),
        # a platform's details where the database has no platform at all
        (lambda d: d.update(platform={"extractor": None, "uploaded_at": "2011-03-15T09:00:00Z",
                                      "metadata": {"description": "Filmed in 2011"}}),
         "platform"),
    ],
    ids=["context", "page", "first seen", "first captured", "platform", "address as written",
         "tool", "platform title", "http status", "tool version", "found in", "posted at",
         "last seen", "platform details without a platform"],
)  # fmt: skip
def test_forged_provenance_in_a_sidecar_is_a_disagreement(
    sqlite_archive: Archive, server: FixtureServer, media: MediaSet, forge: Any, named: str
) -> None:
    """Only the file's own facts and the number of sightings were held against the
    index: a sidecar saying where, when and in what words the file was found could be
    rewritten and verify said all was well."""
    sidecar = build(sqlite_archive, server, media)["photo_a"].parent / "provenance.json"
    assert_forgery_found(sqlite_archive, sidecar, forge, named)


def assert_forgery_found(archive: Archive, sidecar: Path, forge: Any, named: str) -> None:
    """``forge`` changed the sidecar, and verify reports that alone, naming ``named``."""
    document = json.loads(sidecar.read_text())
    forge(document)
    sidecar.write_text(json.dumps(document))

    (problem,) = verify_archive(archive).problems

    assert (problem.kind, problem.path, problem.detail.split(":")[0]) == (
        "disagreement",
        str(sidecar),
        named,
    )


def _with_platform(archive: Archive, photo: Path) -> Path:
    """The photo's file given a platform's facts in the index, as yt-dlp gives them,
    and its sidecar written again from there; the sidecar."""
    with archive.session() as session:
        stored = session.scalars(select(Media).where(Media.sha256 == photo.parent.name)).one()
        stored.platform_extractor, stored.platform_id = "Youtube", "abc123XYZ_0"
        stored.platform_uploaded_at = datetime(2013, 9, 28, 18, 0, tzinfo=UTC)
        stored.platform_metadata = {"description": "Fighters near the Citadel", "duration": 2}
        media_id = stored.id
    Capturer(archive).rewrite_sidecar(media_id)
    return photo.parent / "provenance.json"


@pytest.mark.parametrize(
    ("forge", "named"),
    [
        (lambda d: d["sightings"][0]["acquisition"]["response_headers"].update(
            {"last-modified": "Tue, 15 Mar 2011 09:00:00 GMT"}), "sightings"),
        (lambda d: d["sightings"][0]["acquisition"].update(reused_from={
            "page_url": "https://example.org/first", "embed_url": "https://example.org/a.jpg",
            "first_seen_at": "2011-03-15T09:00:00.000Z"}), "sightings"),
        (lambda d: d["platform"]["metadata"].update(description="Filmed in 2011"), "platform"),
        (lambda d: d["platform"].update(uploaded_at="2011-03-15T09:00:00.000Z"), "platform"),
        (lambda d: d["sightings"][0].update(witness="Abu Ahmad"), "keys archiver does not write"),
        (lambda d: d["file"].update(original_name="citadel.jpg"), "keys archiver does not write"),
        # these passed a first review of the checks above
        (lambda d: d.update(sightings=1), "sightings (count)"),
        (lambda d: d["file"].update(size_bytes=float(d["file"]["size_bytes"])), "file.size_bytes"),
        (lambda d: d.update(schema_version=2), "schema_version"),
        (lambda d: d.update(companion_digests={"platform.info.json": {
            "sha256": "0" * 64, "size_bytes": 1}}), "companion_digests"),
    ],
    ids=["response headers", "shared download", "platform metadata", "upload moment",
         "a sighting's new key", "a file's new key", "sightings not a list",
         "a size as a float", "schema version", "companion digests"],
)  # fmt: skip
def test_forged_acquisition_and_platform_details_and_new_keys_are_a_disagreement(
    sqlite_archive: Archive, server: FixtureServer, media: MediaSet, forge: Any, named: str
) -> None:
    """These passed verify and were exported as they stood: a sighting's response
    headers and shared download, the platform's upload moment and metadata, and keys
    archiver never writes, which nothing in the index could vouch for."""
    sidecar = _with_platform(sqlite_archive, build(sqlite_archive, server, media)["photo_a"])
    assert verify_archive(sqlite_archive).ok
    assert_forgery_found(sqlite_archive, sidecar, forge, named)


@pytest.mark.parametrize(
    ("forge", "key"),
    [
        (lambda d: d["near_duplicates"].update(witness="Abu Ahmad"), "near_duplicates.witness"),
        (lambda d: d["near_duplicates"]["fingerprint"].update(taken_in="Aleppo"),
         "near_duplicates.fingerprint.taken_in"),
    ],
    ids=["near duplicates", "fingerprint"],
)  # fmt: skip
def test_new_keys_in_the_near_duplicates_section_are_a_disagreement(
    sqlite_archive: Archive, server: FixtureServer, media: MediaSet, forge: Any, key: str
) -> None:
    """The section is not compared with the index (its groups change as files join
    them), and keys invented inside it passed verify, though no level of a sidecar may
    hold a key archiver does not write."""
    sidecars = [p.parent / "provenance.json" for p in build(sqlite_archive, server, media).values()]
    sections = [json.loads(s.read_text())["near_duplicates"] for s in sidecars]
    assert {s["fingerprint"]["kind"] for s in sections} == {"image", "video"}
    assert verify_archive(sqlite_archive).ok  # every key archiver writes there passes
    assert_forgery_found(sqlite_archive, sidecars[1], forge, "keys archiver does not write")
    (problem,) = verify_archive(sqlite_archive).problems
    assert problem.detail == f"keys archiver does not write: {key}"


@pytest.mark.parametrize(
    ("forge", "detail"),
    [
        # a JSON reader keeps one of two values under a key: which, is its choice
        (lambda text: text.replace("{", '{"sightings": [], ', 1), "two values under the key"),
        # no UTF-8 can hold it: verify and its report ended in a traceback
        (lambda text: text.replace('"sightings"', '"\\ud800": 1, "sightings"', 1),
         "not Unicode"),
    ],
    ids=["a key twice", "a lone surrogate"],
)  # fmt: skip
def test_a_sidecar_archiver_cannot_have_written_is_corrupt(
    tmp_path: Path, server: FixtureServer, media: MediaSet, forge: Any, detail: str
) -> None:
    config = write_config(tmp_path / "archiver.toml", settings(tmp_path / "storage"))
    with Archive.open(config_from_dict(settings(tmp_path / "storage"))) as archive:
        sidecar = build(archive, server, media)["photo_a"].parent / "provenance.json"
        sidecar.write_text(forge(sidecar.read_text()))

        (problem,) = verify_archive(archive).problems

    assert (problem.kind, problem.path) == ("corrupt", str(sidecar))
    assert detail in problem.detail
    result = run_cli(config, "verify")  # its report prints
    assert result.returncode == 1 and "corrupt" in result.stdout, result.stderr


def test_a_key_archiver_does_not_write_in_a_page_sidecar_is_a_disagreement(
    sqlite_archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    build(sqlite_archive, server, media)
    (sidecar,) = sqlite_archive.layout.pages_root.rglob("provenance.json")
    document = json.loads(sidecar.read_text())
    document["pages"][0]["witness"] = "Abu Ahmad"
    sidecar.write_text(json.dumps(document))

    (problem,) = verify_archive(sqlite_archive).problems

    assert (problem.kind, problem.detail) == (
        "disagreement",
        "keys archiver does not write: pages[].witness",
    )


def test_a_sidecar_from_before_the_upload_moment_was_kept_still_verifies(
    sqlite_archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    """Sidecars written before migration 0010 have no ``uploaded_at``; the migration
    filled the index's from the metadata without writing them again."""
    sidecar = _with_platform(sqlite_archive, build(sqlite_archive, server, media)["photo_a"])
    document = json.loads(sidecar.read_text())
    del document["platform"]["uploaded_at"]
    sidecar.write_text(json.dumps(document))
    assert verify_archive(sqlite_archive).ok


@pytest.mark.parametrize(
    ("fact", "forged"),
    [("url", "https://example.org/elsewhere"), ("http_status", 404),
     ("first_fetched_at", "2011-03-15T09:00:00.000Z"), ("final_url", "https://example.org/")],
)  # fmt: skip
@pytest.mark.parametrize("version", [1, 2])
def test_forged_page_facts_in_a_page_sidecar_are_a_disagreement(
    sqlite_archive: Archive,
    server: FixtureServer,
    media: MediaSet,
    fact: str,
    forged: object,
    version: int,
) -> None:
    """Only a page version's bytes, size and number of pages were held against the
    index: its sidecar could say another page served it, or that it answered 404. A
    sidecar of version 1 (the page's facts at the top level) was not checked at all."""
    build(sqlite_archive, server, media)
    (sidecar,) = sqlite_archive.layout.pages_root.rglob("provenance.json")
    document = json.loads(sidecar.read_text())
    if version == 1:  # as archivers before schema 2 wrote it
        document |= {"schema_version": 1, **document.pop("pages")[0]}
        sidecar.write_text(json.dumps(document))
        assert verify_archive(sqlite_archive).ok
        document[fact] = forged
    else:
        document["pages"][0][fact] = forged
    sidecar.write_text(json.dumps(document))

    (problem,) = verify_archive(sqlite_archive).problems

    assert (problem.kind, problem.path, problem.detail.split(":")[0]) == (
        "disagreement",
        str(sidecar),
        "pages",
    )


def test_a_disagreeing_sidecar_is_not_exported_until_rewritten_from_the_index(
    archive: Archive, server: FixtureServer, media: MediaSet, tmp_path: Path
) -> None:
    """Export copied a sidecar as it was on disk, so a bag could say one thing and the
    archive's index another. It refuses now; ``verify --rewrite-sidecars`` writes such
    sidecars again from the index, keeps the old ones and logs each rewrite."""
    originals = build(archive, server, media)
    sidecar = originals["photo_a"].parent / "provenance.json"
    document = json.loads(sidecar.read_text())
    said = document["sightings"][0]["context"]
    document["sightings"][0]["context"] = "Regime forces filmed near the Citadel:"
    sidecar.write_text(json.dumps(document))
    forged = sidecar.read_bytes()
    clip_sidecar = originals["clip_a"].parent / "provenance.json"
    clip_sidecar.unlink()
    the_photo = SearchQuery.parse(sha256=originals["photo_a"].parent.name)

    with pytest.raises(ExportError, match=r"verify --rewrite-sidecars") as refused:
        export_bag(archive, the_photo, tmp_path / "bag")
    assert "sightings: a page, update, context" in str(refused.value)
    with pytest.raises(ExportError, match=r"sidecar is missing; `archiver verify --rewrite"):
        export_bag(archive, SearchQuery.parse(), tmp_path / "bag")
    assert not (tmp_path / "bag").exists()

    rewritten = {r.sidecar: r for r in rewrite_sidecars(archive)}

    photo = rewritten[archive.layout.relative(sidecar)]
    assert photo.kind == "original" and photo.problems[0].startswith("sightings:")
    assert photo.replaced is not None
    assert archive.layout.absolute(photo.replaced).read_bytes() == forged
    assert photo.replaced_sha256 == hashlib.sha256(forged).hexdigest()
    clip = rewritten[archive.layout.relative(clip_sidecar)]
    assert (clip.replaced, clip.replaced_sha256) == (None, None)
    assert len(rewritten) == 2
    assert json.loads(sidecar.read_text())["sightings"][0]["context"] == said
    assert clip_sidecar.is_file()
    assert verify_archive(archive).ok  # the kept copies are no orphans
    assert rewrite_sidecars(archive) == []
    with archive.read_session() as session:
        logged = session.scalars(select(Event).where(Event.type == "sidecar_rewritten")).all()
    assert {(e.media_sha256, e.payload["replaced_sha256"]) for e in logged} == {
        (photo.sha256, photo.replaced_sha256),
        (clip.sha256, None),
    }
    report = export_bag(archive, the_photo, tmp_path / "bag")
    bag_log = (report.path / "data" / "log" / "events.jsonl").read_text()
    assert '"sidecar_rewritten"' in bag_log


def test_a_check_waits_for_a_sidecar_its_writer_still_owes(
    sqlite_archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    """With many captures at once, sidecar writers wait their turn on the folder's
    lock: the second look came too soon, and verify exited 1 (an export was refused)
    over a sidecar a few sightings behind that its writer then wrote."""
    archive = sqlite_archive
    folder = build(archive, server, media)["photo_a"].parent
    sidecar = folder / "provenance.json"
    document = json.loads(sidecar.read_text())
    document["sightings"] = []  # as if written before the sighting its writer now adds
    sidecar.write_text(json.dumps(document))
    with archive.session() as session:
        media_id = session.scalars(select(Media.id).where(Media.sha256 == folder.name)).one()
        owe_media_sidecars(session, [media_id])
    writer = threading.Timer(1.0, Capturer(archive).rewrite_sidecar, [media_id])
    writer.start()
    try:
        report = verify_archive(archive)
    finally:
        writer.join()
    assert report.ok, report.to_json()


def test_no_sidecar_is_written_into_a_folder_that_is_gone(
    sqlite_archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    """A file whose whole folder was deleted is a missing file for `verify` to name;
    a rewrite raised FileNotFoundError there and stopped with a traceback."""
    folder = build(sqlite_archive, server, media)["photo_a"].parent
    shutil.rmtree(folder)

    assert rewrite_sidecars(sqlite_archive) == []
    assert not folder.exists()
    assert ("missing", folder.name) in {
        (p.kind, p.sha256) for p in verify_archive(sqlite_archive).problems
    }


def test_a_page_sidecar_is_rewritten_and_verify_reports_it_as_json(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    server.add_file("/media/photo_a.jpg", media.photo_a)
    server.add_page(
        "/live", "<article><p>Smoke over the port:</p><img src='/media/photo_a.jpg'></article>"
    )
    config = write_config(tmp_path / "archiver.toml", settings(tmp_path / "storage"))
    assert run_cli(config, "capture", server.url("/live")).returncode == 0
    (sidecar,) = (tmp_path / "storage" / "pages").rglob("provenance.json")
    document = json.loads(sidecar.read_text())
    document["pages"][0]["http_status"] = 404
    sidecar.write_text(json.dumps(document))
    assert run_cli(config, "verify").returncode == 1

    checked = run_cli(config, "verify", "--rewrite-sidecars", "--json")

    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    (rewritten,) = report["sidecars_rewritten"]
    assert rewritten["kind"] == "page" and rewritten["problems"][0].startswith("pages:")
    assert report["ok"] is True
    assert json.loads(sidecar.read_text())["pages"][0]["http_status"] == 200
    said = run_cli(config, "verify", "--rewrite-sidecars").stdout
    assert said.startswith("sidecars: 0 rewritten from the index\nok: full")
    # a bag carrying the rewritten sidecar carries the entry that says so
    assert run_cli(config, "export", "--out", str(tmp_path / "bag")).returncode == 0
    bag_log = (tmp_path / "bag" / "data" / "log" / "events.jsonl").read_text().splitlines()
    assert [json.loads(line)["type"] for line in bag_log].count("sidecar_rewritten") == 1


def test_a_repair_cut_short_is_in_the_log_and_runs_again(
    sqlite_archive: Archive,
    server: FixtureServer,
    media: MediaSet,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A crash after a repair but before its entry left it unrecorded for good: a
    refilled log, or a rewritten sidecar, with no ``log_rebuilt`` or
    ``sidecar_rewritten`` entry, and verify then said all was well. The entry comes
    first now; a repair stopped after it is named by verify and done again."""
    archive = sqlite_archive
    build(archive, server, media)
    (sidecar,) = archive.layout.pages_root.rglob("provenance.json")
    document = json.loads(sidecar.read_text())
    document["pages"][0]["http_status"] = 404
    sidecar.write_text(json.dumps(document))
    assert verify_archive(archive).ok is False
    log_path(archive.layout).unlink()

    class Killed(BaseException):
        pass

    def killed(*args: object, **kwargs: object) -> None:
        raise Killed

    with monkeypatch.context() as patched:
        patched.setattr(Capturer, "rewrite_page_sidecar", killed)
        with pytest.raises(Killed):
            rewrite_sidecars(archive)
        patched.setattr(eventlog, "flush_log", killed)
        with pytest.raises(Killed):
            rebuild_log(archive)
    with archive.read_session() as session:
        kinds = session.scalars(select(Event.type).order_by(Event.seq)).all()
    assert kinds[-2:] == ["sidecar_rewritten", "log_rebuilt"]
    report = verify_archive(archive)
    assert {p.kind for p in report.problems} == {"disagreement", "chain"}

    assert len(rewrite_sidecars(archive)) == 1 and rebuild_log(archive) > 0
    assert verify_archive(archive).ok
    with archive.read_session() as session:
        kinds = session.scalars(select(Event.type).order_by(Event.seq)).all()
    assert kinds.count("sidecar_rewritten") == 2 and kinds.count("log_rebuilt") == 2


def test_a_stray_file_beside_an_original_is_no_companion_even_after_a_rewrite(
    sqlite_archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    """Only files archiver placed are companions. The sidecar used to list every file
    in the folder, so a file dropped there was adopted at the next rewrite (here: a
    second page's sighting) and verify stopped reporting it."""
    archive = sqlite_archive
    folder = build(archive, server, media)["photo_a"].parent
    (folder / "note.txt").write_text("planted")
    server.add_page(
        "/elsewhere", '<article><p>Seen again:</p><img src="/media/photo_a.jpg"></article>'
    )
    assert Capturer(archive).capture_url(server.url("/elsewhere")).ok
    sidecar = folder / "provenance.json"
    document = json.loads(sidecar.read_text())
    assert len(document["sightings"]) == 2
    assert (document["companion_files"], document["companion_digests"]) == ([], {})
    assert named(verify_archive(archive).problems) == {
        ("orphan", folder.name, str(folder / "note.txt"))
    }

    document["companion_files"] = ["note.txt"]  # a sidecar cannot vouch for it either
    sidecar.write_text(json.dumps(document))
    assert named(verify_archive(archive).problems) == {
        ("orphan", folder.name, str(folder / "note.txt")),
        ("disagreement", folder.name, str(sidecar)),
    }


@pytest.mark.parametrize(
    ("damage", "kind", "detail"),
    [
        (lambda document: "[" * 100_000 + "]" * 100_000, "corrupt", "nested too deep"),
        (lambda document: "[]", "corrupt", "not a JSON object but list"),
        (
            lambda document: json.dumps({**document, "companion_files": 5}),
            "disagreement",
            "companion_files is not a list but int",
        ),
    ],
    ids=["nested too deep", "an array", "companions not a list"],
)
def test_a_sidecar_of_the_wrong_shape_is_named_and_not_exported(
    sqlite_archive: Archive,
    server: FixtureServer,
    media: MediaSet,
    tmp_path: Path,
    damage: Any,
    kind: str,
    detail: str,
) -> None:
    """Tampered sidecars that are JSON but not of the right shape crashed verify
    (RecursionError, "'int' object is not iterable") and export."""
    archive = sqlite_archive
    sidecar = build(archive, server, media)["photo_a"].parent / "provenance.json"
    sidecar.write_text(damage(json.loads(sidecar.read_text())))

    report = verify_archive(archive)

    ((found, path, said),) = [(p.kind, p.path, p.detail) for p in report.problems]
    assert (found, path) == (kind, str(sidecar)) and detail in said
    with pytest.raises(ExportError, match="its sidecar is unreadable"):
        export_bag(archive, SearchQuery.parse(sha256=sidecar.parent.name), tmp_path / "bag")


def test_scratch_of_a_running_process_is_not_an_orphan_but_a_dead_ones_is(
    sqlite_archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    archive = sqlite_archive
    build(archive, server, media)
    mine = archive.layout.process_tmp()
    mine.mkdir(parents=True, exist_ok=True)
    (mine / "download.part").write_bytes(b"in progress")
    other_host = archive.layout.tmp_root / "elsewhere-4242"
    other_host.mkdir()
    (other_host / "x.part").write_bytes(b"another host's work")
    assert verify_archive(archive).ok

    dead = archive.layout.tmp_root / f"{socket.gethostname()}-{2**22 + 12345}"
    dead.mkdir()
    (dead / "x.part").write_bytes(b"left by a crash")
    report = verify_archive(archive)
    assert named(report.problems) == {("orphan", None, str(dead))}


def test_a_sample_checks_that_many_originals_and_still_the_chain(
    sqlite_archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    archive = sqlite_archive
    originals = build(archive, server, media)
    report = verify_archive(archive, sample=2)
    assert report.ok and report.scope == "sample of 2"
    assert (report.originals, report.pages, report.files_hashed) == (2, 0, 2)
    assert report.chain.entries == 4

    for path in originals.values():
        path.unlink()
    report = verify_archive(archive, sample=1)
    assert [p.kind for p in report.problems] == ["missing"]


def test_parts_cover_every_object_exactly_once(
    archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    originals = build(archive, server, media)
    stray = originals["photo_a"].parent / "stray.txt"
    stray.write_text("x")
    reports = [verify_archive(archive, part=Part(i, 3), record_event=False) for i in range(3)]
    assert sum(r.originals for r in reports) == 3 and sum(r.pages for r in reports) == 1
    assert sum(r.files_hashed for r in reports) == 4
    assert [p.path for r in reports for p in r.problems] == [str(stray)]
    # the database picks a part's rows, as `Part.holds` would (a full run goes part by part)
    everything = _load(archive)
    for count in (3, 7, FULL_CHECK_PARTS):
        for index in range(count):
            part = Part(index, count)
            originals_in, snapshots_in = _load(archive, part=part)
            assert originals_in == [o for o in everything[0] if part.holds(o.sha256)]
            assert snapshots_in == [s for s in everything[1] if part.holds(s.sha256)]
    full = verify_archive(archive, record_event=False)
    assert (full.originals, full.pages, full.files_hashed) == (3, 1, 4)
    assert [p.path for p in full.problems] == [str(stray)]
    with pytest.raises(ValueError):
        Part(3, 3)


def test_a_file_indexed_while_the_check_ran_is_not_reported(
    sqlite_archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    """A capture places a file before indexing it: the walk may see it first."""
    archive = sqlite_archive
    clip = build(archive, server, media)["clip_a"]
    unknown = hashlib.sha256(b"nothing").hexdigest()
    stray = archive.layout.media_dir(unknown) / "original.bin"
    seen_early = [
        Problem("orphan", clip.parent.name, str(clip), "not known to the index"),
        Problem(
            "orphan",
            clip.parent.name,
            str(clip.parent / "provenance.json"),
            "not known to the index",
        ),
        Problem("orphan", unknown, str(stray), "not known to the index"),
    ]
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"nothing")
    assert named(_recheck(archive, seen_early)) == {("orphan", unknown, str(stray))}


def test_verify_streams_through_a_small_buffer(
    sqlite_archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files larger than the read buffer are hashed in pieces, never read whole."""
    from archiver.integrity import readers

    monkeypatch.setattr(readers, "BUFFER", 4096)
    monkeypatch.setattr(readers, "_local", type(readers._local)())
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(100_000))
    assert readers.sha256_file(big) == (sha256_of(big), 100_000)


def test_the_weekly_cycle_runs_each_daily_slice_once(
    sqlite_archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    archive = sqlite_archive
    build(archive, server, media)
    week = 7 * 86400.0
    part = due_part(archive, week)
    assert part is not None
    seq = verify_archive(archive, part=part).event_seq
    with archive.read_session() as session:  # the run is dated by the clock, not by `now`
        ran = session.scalars(select(Event.at).where(Event.seq == seq)).one()
    assert due_part(archive, week, now=ran) is None  # done today
    tomorrow = due_part(archive, week, now=ran + timedelta(days=1))
    assert tomorrow == Part((part.index + 1) % 7, 7)
    slices = {due_part(archive, week, now=ran + timedelta(days=d)) for d in range(1, 8)}
    assert {p.index for p in slices if p} == set(range(7))


def test_a_check_recorded_while_the_clock_ran_ahead_does_not_stand_for_later_slices(
    sqlite_archive: Archive,
) -> None:
    """A run dated 2031 (a bad clock step) counted as the run of every slot before it:
    once the clock was right again the daily slices stopped until 2031."""
    archive = sqlite_archive
    week = 7 * 86400.0
    monday = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    eventlog.record(
        archive, "fixity", {"ok": True, "scope": "full"}, at=datetime(2031, 1, 1, tzinfo=UTC)
    )
    for days in (0, 1, 30, 365):
        assert due_part(archive, week, now=monday + timedelta(days=days)) is not None
    part = due_part(archive, week, now=monday)
    assert part is not None
    eventlog.record(archive, "fixity", {"ok": True, "scope": f"part {part.index}/7"}, at=monday)
    assert due_part(archive, week, now=monday + timedelta(hours=5)) is None  # done today
    assert due_part(archive, week, now=datetime(2031, 1, 1, 1, tzinfo=UTC)) is None


def test_a_shutdown_interrupts_the_run_between_files_and_records_nothing(
    sqlite_archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    archive = sqlite_archive
    build(archive, server, media)
    archive.stop.set()
    with pytest.raises(Interrupted):
        verify_archive(archive)
    with archive.read_session() as session:
        assert session.scalar(select(Event).where(Event.type == "fixity")) is None


def test_daemons_sharing_postgresql_do_not_check_the_same_slice_at_once(
    tmp_path: Path, pg_url: str, server: FixtureServer, media: MediaSet
) -> None:
    """While one daemon checks today's slice (it holds the slice's advisory lock),
    another skips it; once the first has recorded it, nobody checks it again."""
    week = 7 * 86400.0
    with Archive.open(make_config(tmp_path / "storage", pg_url)) as archive:
        build(archive, server, media)
        part = due_part(archive, week)
        assert part is not None
        key = {"k": SLICE_LOCK, "part": part.index}
        other = create_engine(pg_url)
        with other.connect() as running_elsewhere:
            assert running_elsewhere.scalar(text("SELECT pg_try_advisory_lock(:k, :part)"), key)
            assert run_due_slice(archive, week) is None  # the other daemon has it
            running_elsewhere.execute(text("SELECT pg_advisory_unlock(:k, :part)"), key)
        other.dispose()
        report = run_due_slice(archive, week)
        assert report is not None and report.ok and report.scope == f"part {part.index}/7"
        assert run_due_slice(archive, week) is None  # done for this slot
        with archive.read_session() as session:
            runs = session.scalars(select(Event).where(Event.type == "fixity")).all()
        assert len(runs) == 1


def test_a_log_file_that_lost_lines_a_check_saw_is_named(
    sqlite_archive: Archive, server: FixtureServer, media: MediaSet
) -> None:
    """The file may lag the database (a crash before a flush) and is then completed;
    but lines the last check saw in it cannot vanish: deleting the file is reported,
    so a database rewritten whole cannot pass by removing its witness."""
    archive = sqlite_archive
    build(archive, server, media)
    assert verify_archive(archive).ok
    log_path(archive.layout).unlink()
    report = verify_archive(archive)
    lost = [p for p in report.problems if p.kind == "chain"]
    assert not report.ok and len(lost) == 1
    assert "lines were removed or the file was replaced" in lost[0].detail

    # nor does the loss pass later: a flush refilled the file from the database, and
    # the failing check's own count of lines let the next one pass
    flush_log(archive)
    assert file_head(archive.layout) == 0
    again = verify_archive(archive)
    assert [p.detail for p in again.problems if p.kind == "chain"] == [lost[0].detail]

    # rebuilt on purpose, the log says so, and checks pass again
    assert rebuild_log(archive) > 0
    assert verify_archive(archive).ok
    with archive.read_session() as session:
        rebuilt = session.scalars(select(Event).where(Event.type == "log_rebuilt")).one()
    assert rebuilt.payload["file_ended_at"] == 0


@pytest.mark.parametrize("thing", ["folder", "pipe"])
def test_a_folder_or_pipe_where_a_witnessed_log_file_belongs_is_named(
    tmp_path: Path, thing: str
) -> None:
    """Once a check had counted the file's lines, a folder in its place made `verify` a
    traceback (IsADirectoryError), and a pipe held it forever."""
    config = write_config(tmp_path / "archiver.toml", settings(tmp_path / "storage"))
    with Archive.open(make_config(tmp_path / "storage")) as archive:
        for n in range(3):
            eventlog.record(archive, "capture", {"n": n})
        assert verify_archive(archive).ok
        path = log_path(archive.layout)
    path.unlink()
    if thing == "folder":
        path.mkdir()
    else:
        os.mkfifo(path)

    done = run_cli(config, "verify", "--json", timeout=60)

    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    assert [(p["kind"], p["path"], p["detail"]) for p in report["problems"]] == [
        ("chain", str(path), "file entry 1: events.jsonl is not a regular file")
    ]
    with Archive.open(make_config(tmp_path / "storage")) as archive:
        with archive.read_session() as session:  # the count a check saw is kept
            assert eventlog.witnessed_lines(session) == 3
        eventlog.record(archive, "capture", {"n": 4})  # its flush refuses, not blocks
    assert not path.is_file()


def test_an_unreadable_original_is_named_and_the_check_goes_on(
    sqlite_archive: Archive, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = sqlite_archive
    stored = build(archive, server, media)
    bad = stored["photo_a"]
    read = readers.sha256_file

    def failing_disk(path: Path) -> tuple[str, int]:
        if path == bad:
            raise OSError(errno.EIO, "Input/output error")
        return read(path)

    monkeypatch.setattr("archiver.integrity.fixity.sha256_file", failing_disk)
    report = verify_archive(archive, record_event=False)
    assert named(report.problems) == {("corrupt", sha256_of(media.photo_a), str(bad))}
    assert report.problems[0].detail == "original is unreadable: Input/output error"
    assert report.originals == 3


def test_a_file_being_fingerprinted_already_has_its_sidecar(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fingerprinting a long video takes minutes after the file is indexed; a check
    run meanwhile finds its sidecar (and the companions it lists) in place."""
    data = settings(tmp_path / "one-at-a-time")
    data["download"]["concurrency"] = 1  # no other capture settles anything meanwhile
    archive = Archive.open(config_from_dict(data))
    process = DuplicateFinder.process
    during: list[list[Problem]] = []

    def check_first(finder: DuplicateFinder, media_id: int) -> Any:
        during.append(verify_archive(archive, record_event=False).problems)
        return process(finder, media_id)

    monkeypatch.setattr(DuplicateFinder, "process", check_first)
    build(archive, server, media)
    archive.close()
    assert len(during) == 3 and during == [[], [], []]


def test_a_link_to_a_name_that_is_not_utf8_is_reported_as_utf8(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """A link's target with a byte that is not UTF-8 went into the problem's detail as
    it was: `verify --json` printed bytes no UTF-8 reader takes, and so did `verify`."""
    server.add_file("/media/photo_a.jpg", media.photo_a)
    server.add_page(
        "/live", "<article><p>Smoke over the port:</p><img src='/media/photo_a.jpg'></article>"
    )
    config = write_config(tmp_path / "archiver.toml", settings(tmp_path / "storage"))
    assert run_cli(config, "capture", server.url("/live")).returncode == 0
    (photo,) = (tmp_path / "storage" / "media").rglob("original.*")
    photo.unlink()
    os.symlink(os.fsencode(tmp_path) + b"/usb\xffdrive.jpg", photo)
    shown = f"original is a symbolic link (to {tmp_path}/usb\\xffdrive.jpg), not the stored file"

    checked = subprocess.run(cli_command(config, "verify", "--json"), capture_output=True)

    assert checked.returncode == 1, checked.stderr
    (problem,) = json.loads(checked.stdout.decode("utf-8"))["problems"]
    assert (problem["kind"], problem["path"], problem["detail"]) == ("corrupt", str(photo), shown)
    said = subprocess.run(cli_command(config, "verify"), capture_output=True)
    assert f"({shown})" in said.stdout.decode("utf-8")


def test_a_sidecar_linked_to_a_name_that_is_not_utf8_is_rewritten(
    sqlite_archive: Archive, server: FixtureServer, media: MediaSet, tmp_path: Path
) -> None:
    """The link's target went as it was into the ``sidecar_rewritten`` entry, which
    no JSON can hold: `--rewrite-sidecars` ended in a traceback, rewriting nothing."""
    sidecar = build(sqlite_archive, server, media)["photo_a"].parent / "provenance.json"
    sidecar.unlink()
    os.symlink(os.fsencode(tmp_path) + b"/usb\xffdrive.json", sidecar)

    (rewritten,) = rewrite_sidecars(sqlite_archive)

    assert rewritten.problems == (
        f"sidecar is a symbolic link (to {tmp_path}/usb\\xffdrive.json), not the stored file",
    )
    assert not sidecar.is_symlink() and verify_archive(sqlite_archive).ok
