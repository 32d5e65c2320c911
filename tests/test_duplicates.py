"""Near-duplicates in the pipeline: flagged at capture, grouped, found by file and pHash."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import skimage.data
from click.testing import CliRunner
from PIL import Image
from sqlalchemy import event, select
from support import FixtureServer, MediaSet, ffmpeg_exe, make_audio, make_photo
from support.archiving import make_config, run_cli, settings, write_config

from archiver import duplicates
from archiver.archive import Archive
from archiver.capture import Capturer
from archiver.cli import cli
from archiver.errors import HashingError
from archiver.fetch.facts import parse_upload, ytdlp_facts
from archiver.index.models import DuplicatePair, Fingerprint, Media, SidecarDebt
from archiver.index.records import uploaded_by
from archiver.search import SearchQuery, search
from archiver.similar import SimilarQuery, similar_to_file
from archiver.web.views import duplicate_groups


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def recompress(source: Path, target: Path, *, scale: float = 0.4, quality: int = 30) -> Path:
    with Image.open(source) as image:
        size = (int(image.width * scale), int(image.height * scale))
        image.convert("RGB").resize(size).save(target, "JPEG", quality=quality)
    return target


def mirror_clip(source: Path, target: Path, width: int = 240) -> Path:
    subprocess.run(
        [
            ffmpeg_exe(),
            "-y",
            "-loglevel",
            "error",
            "-i",
            str(source),
            "-vf",
            f"hflip,scale={width}:-2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-crf",
            "32",
            "-an",
            str(target),
        ],
        check=True,
    )
    return target


@pytest.fixture
def copies(tmp_path: Path, media: MediaSet) -> dict[str, Path]:
    return {
        "photo_copy": recompress(media.photo_a, tmp_path / "reposted.jpg"),
        "clip_copy": mirror_clip(media.clip_a, tmp_path / "mirrored.mp4"),
    }


def serve(server: FixtureServer, media: MediaSet, copies: dict[str, Path]) -> None:
    server.add_file("/orig/photo.jpg", media.photo_a)
    server.add_file("/orig/clip.mp4", media.clip_a)
    server.add_file("/other/photo.jpg", media.photo_b)
    server.add_file("/other/clip.mp4", media.clip_b)
    server.add_file("/copy/photo.jpg", copies["photo_copy"])
    server.add_file("/copy/clip.mp4", copies["clip_copy"])
    server.add_page(
        "/first",
        "<article><p>ORIGINAL ENTRY: Strike footage:</p><video src='/orig/clip.mp4'></video>"
        "<p>Smoke:</p><img src='/orig/photo.jpg'><p>Elsewhere:</p><img src='/other/photo.jpg'>"
        "<video src='/other/clip.mp4'></video></article>",
    )
    server.add_page(
        "/repost",
        "<article><p>A channel re-posted it:</p><video src='/copy/clip.mp4'></video>"
        "<p>And the photo:</p><img src='/copy/photo.jpg'></article>",
    )


def test_copies_are_flagged_at_capture_and_name_the_earliest(
    tmp_path: Path, server: FixtureServer, media: MediaSet, copies: dict[str, Path]
) -> None:
    serve(server, media, copies)
    with Archive.open(make_config(tmp_path / "storage")) as archive:
        capturer = Capturer(archive)
        assert capturer.capture_url(server.url("/first")).ok
        report = capturer.capture_url(server.url("/repost"))
        assert report.ok
        flagged = {f.sha256: f.near_duplicates for item in report.items for f in item.files}

    photo_copy, clip_copy = sha(copies["photo_copy"]), sha(copies["clip_copy"])
    assert flagged[photo_copy]["earliest"] == sha(media.photo_a)
    assert [m["sha256"] for m in flagged[photo_copy]["matches"]] == [sha(media.photo_a)]
    assert flagged[clip_copy]["earliest"] == sha(media.clip_a)
    assert "mirror" in flagged[clip_copy]["matches"][0]["method"]

    sidecar = json.loads((archive.layout.media_dir(clip_copy) / "provenance.json").read_text())
    section = sidecar["near_duplicates"]
    assert section["earliest"] == sha(media.clip_a) and section["fingerprint"]["kind"] == "video"
    original = json.loads(
        (archive.layout.media_dir(sha(media.clip_a)) / "provenance.json").read_text()
    )
    assert original["near_duplicates"]["group_id"] == section["group_id"]  # rewritten too
    assert original["near_duplicates"]["earliest"] == sha(media.clip_a)


def test_a_member_joined_through_another_says_so_and_its_own_score(
    tmp_path: Path, server: FixtureServer
) -> None:
    """Y, a crop of the crop X of O, matches X but not O. Its sidecar gave it a score
    under the threshold named as the rule that matched, as if it matched O."""
    original = make_photo(tmp_path / "o.jpg", seed=3, size=(1200, 800))
    crop = crop_edges(original, tmp_path / "x.jpg", 0.14)
    crop_of_crop = crop_edges(crop, tmp_path / "y.jpg", 0.14)
    for name in ("o", "x", "y"):
        server.add_file(f"/{name}.jpg", tmp_path / f"{name}.jpg")
        server.add_page(f"/{name}", f"<article><p>Photo:</p><img src='/{name}.jpg'></article>")
    with Archive.open(make_config(tmp_path / "storage")) as archive:
        capturer = Capturer(archive)
        for name in ("o", "x", "y"):
            assert capturer.capture_url(server.url(f"/{name}")).ok

        def section(path: Path) -> dict[str, Any]:
            folder = archive.layout.media_dir(sha(path))
            return json.loads((folder / "provenance.json").read_text())["near_duplicates"]

        joined, direct = section(crop_of_crop), section(crop)
    assert joined["earliest"] == direct["earliest"] == sha(original)
    assert direct["method"] == "image-aligned" and direct["similarity_to_earliest"] >= 0.8
    assert joined["method"] == "image-aligned (via another member)"
    assert joined["similarity_to_earliest"] < 0.8  # its own score to O, not X's


def test_an_original_whose_download_was_retried_is_still_the_earliest_and_says_why(
    tmp_path: Path, server: FixtureServer, media: MediaSet, copies: dict[str, Path]
) -> None:
    """The earliest counted from a sighting's download: an original on a page first
    seen before the copy, fetched only at a retry after the copy, lost to the copy.
    `archiver dupes`, its JSON and the web's groups then showed the earliest member
    captured after the copy, with nothing saying why: each member gives what its place
    in the order counts from, here its first sighting and the page it was on."""
    server.add_status("/orig/photo.jpg", 503)
    server.add_file("/copy/photo.jpg", copies["photo_copy"])
    server.add_page("/first", "<article><p>Smoke:</p><img src='/orig/photo.jpg'></article>")
    server.add_page("/repost", "<article><p>Re-posted:</p><img src='/copy/photo.jpg'></article>")
    with Archive.open(make_config(tmp_path / "storage")) as archive:
        capturer = Capturer(archive)
        assert not capturer.capture_url(server.url("/first")).ok  # 503: to be retried
        assert capturer.capture_url(server.url("/repost")).ok
        server.add_file("/orig/photo.jpg", media.photo_a)
        (item,) = capturer.capture_url(server.url("/first")).items  # the retry
        with archive.read_session() as session:
            (group,) = duplicate_groups(session, limit=10)  # the web's, with dates
    assert item.status == "stored"
    assert item.files[0].near_duplicates["earliest"] == group["earliest"] == sha(media.photo_a)
    original, copy = sorted(group["members"], key=lambda m: m["sha256"] != group["earliest"])
    assert original["first_captured_at"] > copy["first_captured_at"]  # downloaded after
    assert (original["origin"]["by"], original["origin"]["page_url"]) == (
        "sighting",
        server.url("/first"),
    )
    assert copy["origin"]["page_url"] == server.url("/repost")
    assert original["origin"]["at"] < copy["origin"]["at"]  # seen before

    config = write_config(tmp_path / "d.toml", settings(tmp_path / "storage"))
    listed = CliRunner().invoke(cli, ["--config", str(config), "dupes"]).stdout.splitlines()
    assert listed[0] == f"group {group['group_id']}: earliest {sha(media.photo_a)}"
    assert listed[1].endswith(f"first seen {original['origin']['at']} on {server.url('/first')}")


def crop_edges(source: Path, target: Path, fraction: float) -> Path:
    """``source`` without ``fraction`` of its width and height, half on each side."""
    with Image.open(source) as image:
        width, height = image.size
        dx, dy = int(width * fraction / 2), int(height * fraction / 2)
        image.crop((dx, dy, width - dx, height - dy)).save(target, quality=92)
    return target


def test_cli_dupes_similar_phash_and_rehash(
    tmp_path: Path, server: FixtureServer, media: MediaSet, copies: dict[str, Path]
) -> None:
    serve(server, media, copies)
    config = write_config(tmp_path / "d.toml", settings(tmp_path / "storage"))
    assert run_cli(config, "capture", server.url("/first")).returncode == 0
    repost = run_cli(config, "capture", server.url("/repost"))
    assert repost.returncode == 0
    # The readable report says it too, under the copy's path
    said = repost.stdout.split("/copy/photo.jpg\n", 1)[1].splitlines()[1].strip()
    original = sha(media.photo_a)[:16]
    assert re.fullmatch(
        rf"near-duplicate of {original} \(0\.\d{{3}}, [a-z-]+\); group \d+, earliest {original}",
        said,
    ), said

    groups = json.loads(run_cli(config, "dupes", "--json").stdout)
    assert len(groups) == 2
    by_earliest = {g["earliest"]: g for g in groups}
    photo_group = by_earliest[sha(media.photo_a)]
    assert {m["sha256"] for m in photo_group["members"]} == {
        sha(media.photo_a),
        sha(copies["photo_copy"]),
    }
    for member in photo_group["members"]:
        assert 0 <= member["similarity"] <= 1 and member["method"]

    found = json.loads(run_cli(config, "search", "--json").stdout)
    grouped = {r["sha256"]: r["duplicate_group"] for r in found}
    assert grouped[sha(media.photo_b)] is None
    assert grouped[sha(copies["photo_copy"])] == photo_group["group_id"]

    held = recompress(media.photo_a, tmp_path / "held.jpg", scale=0.6, quality=50)
    similar = json.loads(run_cli(config, "search", "--similar-to", str(held), "--json").stdout)
    assert {r["sha256"] for r in similar} == {sha(media.photo_a), sha(copies["photo_copy"])}
    assert similar[0]["similarity"] >= similar[-1]["similarity"]
    assert all(r["match"].startswith("image-") for r in similar)  # the rule that fired
    table = run_cli(config, "search", "--similar-to", str(held)).stdout.splitlines()
    assert table[0].split()[:3] == ["SHA-256", "SIMILAR", "MATCH"]  # a copy and a re-encode differ
    assert table[1].split()[1:3] == [f"{similar[0]['similarity']:.4f}", similar[0]["match"]]
    # the archived bytes themselves: "exact", where a re-encode may score 1.0 as well
    (first, *_) = json.loads(
        run_cli(config, "search", "--similar-to", str(media.photo_a), "--json").stdout
    )
    assert (first["sha256"], first["similarity"], first["match"]) == (
        sha(media.photo_a),
        1.0,
        "exact",
    )

    sidecar = json.loads(Path(similar[0]["sidecar"]).read_text())
    phash = sidecar["near_duplicates"]["fingerprint"]["hashes"]["phash"]
    by_phash = json.loads(
        run_cli(config, "search", "--phash", phash, "--max-distance", "0", "--json").stdout
    )
    assert similar[0]["sha256"] in {r["sha256"] for r in by_phash}
    listed = CliRunner().invoke(cli, ["--config", str(config), "search", "--phash", phash])
    header, row, *_ = listed.stdout.splitlines()  # a hash search says how alike, not how
    assert header.split()[:3] == ["SHA-256", "SIMILAR", "TYPE"] and "MATCH" not in header
    assert row.split()[1:3] == [f"{by_phash[0]['similarity']:.4f}", by_phash[0]["media_type"]]

    again = run_cli(config, "rehash", "--all")
    assert again.returncode == 0 and "rehashed 6 file(s)" in again.stdout
    assert len(json.loads(run_cli(config, "dupes", "--json").stdout)) == 2

    bad = run_cli(config, "search", "--phash", "xyz")
    assert bad.returncode == 2 and "16 hex" in bad.stderr
    assert run_cli(config, "search", "--similar-to", str(held), "--text", "x").returncode == 2


def test_files_that_cannot_be_fingerprinted_keep_a_reason(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    server.add_file("/a.m4a", media.audio)
    server.add_page("/p", "<article><p>Audio:</p><audio src='/a.m4a'></audio></article>")
    with Archive.open(make_config(tmp_path / "storage")) as archive:
        (item,) = Capturer(archive).capture_url(server.url("/p")).items
        assert item.status == "stored"
        near = item.files[0].near_duplicates
        assert near["fingerprint_error"] == "audio has no visual fingerprint"
        sidecar = json.loads((item.files[0].path.parent / "provenance.json").read_text())
        assert sidecar["near_duplicates"]["fingerprint"] == {
            "kind": "none",
            "reason": "audio has no visual fingerprint",
        }


def test_the_held_file_itself_is_found_whatever_its_kind_or_length(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """ "Have we seen this?": a file whose very bytes are archived comes first at
    similarity 1.0: audio (no fingerprint) and a 2 s clip (too few frames for a video
    match) too. A file not archived that cannot be fingerprinted is still an error."""
    server.add_file("/a.m4a", media.audio)
    server.add_file("/b.mp4", media.clip_b)
    page = "<article><p>Sound and a clip:</p><audio src='/a.m4a'></audio>"
    server.add_page("/p", page + "<video src='/b.mp4'></video></article>")
    with Archive.open(make_config(tmp_path / "storage")) as archive:
        assert Capturer(archive).capture_url(server.url("/p")).ok
        for held in (media.audio, media.clip_b):
            found = similar_to_file(archive, SimilarQuery(held))
            assert [(r.media.sha256, r.similarity) for r in found] == [(sha(held), 1.0)]
        other = make_audio(tmp_path / "other.m4a", frequency=880)
        with pytest.raises(HashingError, match="audio has no visual fingerprint"):
            similar_to_file(archive, SimilarQuery(other))


def test_a_growing_group_rewrites_only_the_sidecars_that_change(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    first = recompress(media.photo_a, tmp_path / "first-copy.jpg", scale=0.5, quality=40)
    second = recompress(media.photo_a, tmp_path / "second-copy.jpg", scale=0.7, quality=35)
    for name, path in (("orig", media.photo_a), ("first", first), ("second", second)):
        server.add_file(f"/{name}.jpg", path)
        server.add_page(f"/{name}", f"<article><p>Photo:</p><img src='/{name}.jpg'></article>")
    with Archive.open(make_config(tmp_path / "storage")) as archive:
        capturer = Capturer(archive)
        for name in ("orig", "first"):
            assert capturer.capture_url(server.url(f"/{name}")).ok
        sidecars = {
            name: archive.layout.media_dir(sha(path)) / "provenance.json"
            for name, path in (("orig", media.photo_a), ("first", first), ("second", second))
        }
        before = {name: sidecars[name].read_bytes() for name in ("orig", "first")}
        assert capturer.capture_url(server.url("/second")).ok

    third = json.loads(sidecars["second"].read_text())["near_duplicates"]
    assert third["earliest"] == sha(media.photo_a) and 0.8 <= third["similarity_to_earliest"] <= 1
    assert {name: sidecars[name].read_bytes() for name in ("orig", "first")} == before


def test_a_new_process_loads_the_index_in_batches_without_thumbnails(
    tmp_path: Path,
    server: FixtureServer,
    media: MediaSet,
    copies: dict[str, Path],
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new process's matcher streams the stored fingerprints (videos with their
    frames) and reads no thumbnail to do so; the pixels of the nearest candidates alone
    are read, and a cropped photo and a mirrored clip still match."""
    crop = tmp_path / "crop.jpg"
    with Image.open(media.photo_a) as image:
        width, height = image.size
        image.convert("RGB").crop((width // 10, 0, width, height - height // 12)).save(crop)
    serve(server, media, copies)
    config = make_config(tmp_path / "storage", db_url)
    with Archive.open(config) as archive:
        assert Capturer(archive).capture_url(server.url("/first")).ok

    monkeypatch.setattr("archiver.duplicates.LOAD_BATCH", 1)  # one row per batch
    statements: list[str] = []
    with Archive.open(config) as archive:
        event.listen(
            archive.engine, "before_cursor_execute", lambda *args: statements.append(args[2])
        )
        photos = similar_to_file(archive, SimilarQuery(crop))
        reads = [s for s in statements if re.search(r"fingerprints\.thumbnail\b", s)]
        clips = similar_to_file(archive, SimilarQuery(copies["clip_copy"]))
    assert [f.media.sha256 for f in photos] == [sha(media.photo_a)]
    assert [f.media.sha256 for f in clips] == [sha(media.clip_a)]
    assert len(reads) == 1 and "IN (" in reads[0]  # the candidates' thumbnails, by id
    assert sum("FROM frame_hashes" in s for s in statements) >= 2  # one batch per video


def test_an_earlier_upload_becomes_the_earliest_and_every_member_is_rescored(
    tmp_path: Path, server: FixtureServer, media: MediaSet, copies: dict[str, Path]
) -> None:
    second_copy = mirror_clip(media.clip_a, tmp_path / "mirrored-again.mp4", width=288)
    server.add_file("/copy/clip.mp4", copies["clip_copy"])
    server.add_file("/copy2/clip.mp4", second_copy)
    server.add_file("/orig/clip.mp4", media.clip_a)
    server.add_page(
        "/repost",
        "<article><p>Re-posted:</p><video src='/copy/clip.mp4'></video>"
        "<p>Again:</p><video src='/copy2/clip.mp4'></video></article>",
    )
    server.add_page(
        "/player/1",
        '<script type="application/ld+json">{"@type": "VideoObject", "name": "Strike",'
        ' "contentUrl": "/orig/clip.mp4", "uploadDate": "2013-09-28T17:40:00Z"}</script>',
    )
    server.add_page("/live", "<article><p>The footage:</p><iframe src='/player/1'></iframe>")
    with Archive.open(make_config(tmp_path / "storage")) as archive:
        capturer = Capturer(archive)
        assert capturer.capture_url(server.url("/repost")).ok  # two copies, grouped first
        assert capturer.capture_url(server.url("/live")).ok  # then the 2013 upload

    def section(path: Path) -> dict[str, object]:
        sidecar = archive.layout.media_dir(sha(path)) / "provenance.json"
        return dict(json.loads(sidecar.read_text())["near_duplicates"])

    original = section(media.clip_a)
    assert original["earliest"] == sha(media.clip_a) and original["method"] == "earliest"
    for copy in (section(copies["clip_copy"]), section(second_copy)):
        assert copy["earliest"] == sha(media.clip_a) and copy["group_id"] == original["group_id"]
        assert copy["method"] == "video-frames-mirrored"  # compared with the new earliest


def concat_clips(first: Path, second: Path, target: Path) -> Path:
    """One clip followed by the other (same size), re-encoded."""
    subprocess.run(
        [
            ffmpeg_exe(),
            "-y",
            "-loglevel",
            "error",
            "-i",
            str(first),
            "-i",
            str(second),
            "-filter_complex",
            "[0:v][1:v]concat=n=2:v=1:a=0",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-an",
            str(target),
        ],
        check=True,
    )
    return target


def hashed_as(monkeypatch: pytest.MonkeyPatch, wrong: dict[str, Path]) -> None:
    """A hashing bug: the files with these sha256s are fingerprinted as other files."""
    real = duplicates.fingerprint

    def buggy(path: Path, media_type: Any, **options: Any) -> Any:
        return real(wrong.get(sha(Path(path)), Path(path)), media_type, **options)

    monkeypatch.setattr(duplicates, "fingerprint", buggy)


def capture_each(capturer: Capturer, server: FixtureServer, files: dict[str, Path]) -> None:
    """Each file from its own page, one after the other (capture order = dict order)."""
    for name, path in files.items():
        tag = "video" if path.suffix == ".mp4" else "img"
        server.add_file(f"/{name}{path.suffix}", path)
        server.add_page(f"/{name}", f"<article><p>{name}:</p><{tag} src='/{name}{path.suffix}'>")
        assert capturer.capture_url(server.url(f"/{name}")).ok


def test_a_rehash_that_removes_a_false_link_splits_the_group(
    tmp_path: Path,
    server: FixtureServer,
    media: MediaSet,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A copy of clip B was once hashed as a compilation of clips A and B, joining A's
    copies and B's into one group. `rehash --all` with the fixed hashes leaves pairs
    A-A2 and X-B only: two groups, each naming one of its own members as earliest, and
    every sidecar says so."""
    files = {
        "a": media.clip_a,
        "a2": mirror_clip(media.clip_a, tmp_path / "a2.mp4"),
        "x": mirror_clip(media.clip_b, tmp_path / "x.mp4", width=288),
        "b": media.clip_b,
    }
    both = concat_clips(media.clip_a, media.clip_b, tmp_path / "both.mp4")
    hashed_as(monkeypatch, {sha(files["x"]): both})
    with Archive.open(make_config(tmp_path / "storage", db_url)) as archive:
        capture_each(Capturer(archive), server, files)
        with archive.read_session() as session:
            (joined,) = duplicates.list_groups(session)
        assert {m["sha256"] for m in joined.members} == {sha(p) for p in files.values()}

        monkeypatch.undo()  # the fix
        assert duplicates.rehash_archive(archive, everything=True) == (4, 0)
        with archive.read_session() as session:
            groups = duplicates.list_groups(session)

    by_earliest = {g.earliest: {m["sha256"] for m in g.members} for g in groups}
    assert by_earliest == {
        sha(files["a"]): {sha(files["a"]), sha(files["a2"])},
        sha(files["x"]): {sha(files["x"]), sha(files["b"])},
    }
    for name, earliest in (("a", "a"), ("a2", "a"), ("x", "x"), ("b", "x")):
        sidecar = archive.layout.media_dir(sha(files[name])) / "provenance.json"
        section = json.loads(sidecar.read_text())["near_duplicates"]
        assert section["earliest"] == sha(files[earliest]), name
        group = next(g for g in groups if g.earliest == section["earliest"])
        assert section["group_id"] == group.group_id
        if name == earliest:
            assert section["method"] == "earliest"
        else:
            assert section["method"].startswith("video-frames")


def test_rehashing_everything_reads_each_new_row_once_and_the_index_keeps_its_size(
    tmp_path: Path, server: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rehash --all` forgets and fingerprints every file in turn. Each forget made the
    matcher read the index again from below the forgotten row, adding every row above it
    once more, and each removed image left its row behind: quadratic time and memory."""
    photos = {
        f"p{n}": make_photo(tmp_path / f"p{n}.jpg", seed=n, size=(320, 240)) for n in range(4)
    }
    with Archive.open(make_config(tmp_path / "storage")) as archive:
        capture_each(Capturer(archive), server, photos)
        index = archive.duplicates.index
        added: list[int] = []
        real_add = type(index).add
        monkeypatch.setattr(
            type(index), "add", lambda self, key, fp: (added.append(key), real_add(self, key, fp))
        )
        for _ in range(3):
            added.clear()
            assert duplicates.rehash_archive(archive, everything=True) == (len(photos), 0)
            assert sorted(added) == sorted(set(added)) and len(added) == len(photos)
            assert len(index) == len(photos)
            assert index._images.keys.size <= 2 * len(photos) + 1  # dead rows compacted
        with archive.read_session() as session:
            ids = list(session.scalars(select(Media.id).order_by(Media.id)))
        for media_id, path in zip(ids, photos.values(), strict=True):
            found = archive.duplicates.query(duplicates.fingerprint(path, "image"))
            assert [k for k, _ in found][:1] == [media_id]


def test_a_running_matcher_sees_a_rehash_and_a_forget_by_another_process(
    tmp_path: Path,
    server: FixtureServer,
    media: MediaSet,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A daemon's matcher has loaded a wrong fingerprint; `archiver rehash --all` in
    another process replaces it: the daemon matches the new hashes and no longer the old
    ones. A file forgotten by another process drops out of the daemon's index."""
    copy = recompress(media.photo_a, tmp_path / "copy.jpg")
    hashed_as(monkeypatch, {sha(copy): media.photo_b})
    config = write_config(tmp_path / "d.toml", settings(tmp_path / "storage", db_url))
    as_a = duplicates.fingerprint(media.photo_a, "image")
    as_b = duplicates.fingerprint(media.photo_b, "image")
    with Archive.open(make_config(tmp_path / "storage", db_url)) as daemon:
        capture_each(Capturer(daemon), server, {"copy": copy})
        monkeypatch.undo()
        with daemon.read_session() as session:
            copy_id = session.scalars(select(Media.id).where(Media.sha256 == sha(copy))).one()
        assert [k for k, _ in daemon.duplicates.query(as_b)] == [copy_id]
        assert daemon.duplicates.query(as_a) == []

        rehashed = run_cli(config, "rehash", "--all")
        assert rehashed.returncode == 0 and "rehashed 1 file(s)" in rehashed.stdout
        assert [k for k, _ in daemon.duplicates.query(as_a)] == [copy_id]
        assert daemon.duplicates.query(as_b) == []

        other = Archive.open(make_config(tmp_path / "storage", db_url))
        with other, other.session() as session:
            duplicates.forget(session, copy_id)
        assert daemon.duplicates.query(as_a) == []
        assert copy_id not in daemon.duplicates.index


def test_a_file_being_rehashed_elsewhere_is_not_matched_by_its_old_fingerprint(
    tmp_path: Path,
    server: FixtureServer,
    media: MediaSet,
    copies: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another process forgets the original (`rehash`: its new fingerprint is not stored
    yet). The daemon's index still held the old one, deletions being counted only every
    `COUNT_EVERY` seconds, and a new copy was paired and grouped with a fingerprint gone."""
    monkeypatch.setattr(duplicates, "COUNT_EVERY", 3600.0)
    with Archive.open(make_config(tmp_path / "storage")) as daemon:
        capturer = Capturer(daemon)
        capture_each(capturer, server, {"orig": media.clip_a})
        with daemon.read_session() as session:
            orig = session.scalars(select(Media.id).where(Media.sha256 == sha(media.clip_a))).one()
        assert orig in daemon.duplicates.index
        other = Archive.open(make_config(tmp_path / "storage"))
        with other:
            other.duplicates.forget(orig)
        capture_each(capturer, server, {"copy": copies["clip_copy"]})
        assert orig not in daemon.duplicates.index
        with daemon.read_session() as session:
            assert duplicates.list_groups(session) == []
            assert session.scalars(select(DuplicatePair)).all() == []
        assert near_section(daemon, copies["clip_copy"])["group_id"] is None


def test_an_upload_counts_at_its_time_or_after_its_day_when_only_the_date_is_known(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """An upload with a time (and offset) is earlier than a copy seen after that moment;
    an upload date alone (day D) only than a copy first seen after D ended everywhere."""
    seen_first = mirror_clip(media.clip_a, tmp_path / "seen-first.mp4")
    same_day = mirror_clip(media.clip_a, tmp_path / "same-day.mp4", width=288)
    a_minute = mirror_clip(media.clip_a, tmp_path / "a-minute.mp4", width=200)
    day_before = mirror_clip(media.clip_a, tmp_path / "day-before.mp4", width=160)

    def player(name: str, path: Path, uploaded: str) -> None:
        server.add_file(f"/{name}.mp4", path)
        server.add_page(
            f"/player/{name}",
            '<script type="application/ld+json">{"@type": "VideoObject", "name": "Strike",'
            f' "contentUrl": "/{name}.mp4", "uploadDate": "{uploaded}"}}</script>',
        )
        server.add_page(f"/{name}", f"<article><p>Footage:</p><iframe src='/player/{name}'>")

    def earliest(archive: Archive) -> str:
        with archive.read_session() as session:
            (group,) = duplicates.list_groups(session)
        return group.earliest

    new_york = timezone(timedelta(hours=-5))
    with Archive.open(make_config(tmp_path / "storage")) as archive:
        capturer = Capturer(archive)
        capture_each(capturer, server, {"seen": seen_first})
        with archive.read_session() as session:
            seen_at = session.scalars(
                select(Media.first_captured_at).where(Media.sha256 == sha(seen_first))
            ).one()
        # published an hour after the first copy was seen, given in New York time
        later = (seen_at + timedelta(hours=1)).replace(microsecond=0)
        player("tube", media.clip_a, later.astimezone(new_york).isoformat())
        player("dated", same_day, seen_at.date().isoformat())  # no time: D is not over
        assert capturer.capture_url(server.url("/tube")).ok
        assert capturer.capture_url(server.url("/dated")).ok
        assert earliest(archive) == sha(seen_first)
        with archive.read_session() as session:
            tube = session.scalars(select(Media).where(Media.sha256 == sha(media.clip_a))).one()
            assert (tube.platform_upload_date, tube.platform_uploaded_at) == (later.date(), later)

        before = (seen_at - timedelta(minutes=1)).replace(microsecond=0)
        player("minute", a_minute, before.strftime("%Y-%m-%dT%H:%M:%SZ"))
        assert capturer.capture_url(server.url("/minute")).ok
        assert earliest(archive) == sha(a_minute)  # a minute before, by the time given

        player("old", day_before, (seen_at.date() - timedelta(days=2)).isoformat())
        assert capturer.capture_url(server.url("/old")).ok
        assert earliest(archive) == sha(day_before)  # its whole day ended before


def test_an_upload_date_without_its_zone_counts_from_the_latest_moment_it_can_mean() -> None:
    """A date, or a time without an offset, may be local: read as a UTC day, an upload
    at 20:00 on 1 March in California (04:00 UTC on 2 March) was named earlier than a
    copy first seen at 01:00 UTC on 2 March. It ended by 12:00 UTC the day after (UTC-12)."""
    day, moment = parse_upload("2024-03-01T20:00:00")  # JSON-LD, a local time, no zone
    assert (day, moment) == (date(2024, 3, 1), None)
    facts = ytdlp_facts({"extractor_key": "Vimeo", "id": "1", "upload_date": "20240301"})
    assert facts is not None and facts.upload_date == day
    upload = Media(
        id=2, first_captured_at=datetime(2024, 3, 5, tzinfo=UTC), platform_upload_date=day
    )

    def earliest(seen: datetime) -> str:
        keys = {
            "upload": duplicates._origin_key(upload, None),
            "seen": duplicates._origin_key(Media(id=1, first_captured_at=seen), None),
        }
        return min(keys, key=keys.__getitem__)

    assert earliest(datetime(2024, 3, 2, 1, 0, tzinfo=UTC)) == "seen"  # 17:00 in California
    assert earliest(datetime(2024, 3, 2, 11, 59, tzinfo=UTC)) == "seen"  # 23:59 at UTC-12
    assert earliest(datetime(2024, 3, 2, 12, 0, tzinfo=UTC)) == "upload"  # 1 March is over
    assert uploaded_by(date.max, None) == datetime.max.replace(tzinfo=UTC)  # no day after


def near_section(archive: Archive, path: Path) -> dict[str, Any]:
    sidecar = archive.layout.media_dir(sha(path)) / "provenance.json"
    return dict(json.loads(sidecar.read_text())["near_duplicates"])


def test_a_member_dated_by_its_platform_later_becomes_the_earliest(
    tmp_path: Path, server: FixtureServer, media: MediaSet, copies: dict[str, Path], db_url: str
) -> None:
    """The original was first fetched as a plain file, after a copy, and grouped with
    it; the same bytes found later on a platform that dates the upload 2013 make it the
    earliest member, and every member's sidecar says so at once."""
    server.add_file("/copy/clip.mp4", copies["clip_copy"])
    server.add_file("/orig/clip.mp4", media.clip_a)
    server.add_file("/tube/clip.mp4", media.clip_a)  # the same bytes, on a platform
    server.add_page("/repost", "<article><p>Re-posted:</p><video src='/copy/clip.mp4'>")
    server.add_page("/plain", "<article><p>Footage:</p><video src='/orig/clip.mp4'>")
    server.add_page(
        "/player/1",
        '<script type="application/ld+json">{"@type": "VideoObject", "name": "Strike",'
        ' "contentUrl": "/tube/clip.mp4", "uploadDate": "2013-09-28T17:40:00Z"}</script>',
    )
    server.add_page("/live", "<article><p>The footage:</p><iframe src='/player/1'>")
    with Archive.open(make_config(tmp_path / "storage", db_url)) as archive:
        capturer = Capturer(archive)
        assert capturer.capture_url(server.url("/repost")).ok
        assert capturer.capture_url(server.url("/plain")).ok
        assert near_section(archive, media.clip_a)["earliest"] == sha(copies["clip_copy"])
        assert capturer.capture_url(server.url("/live")).ok
        with archive.read_session() as session:
            (group,) = duplicates.list_groups(session)
            owed = list(session.scalars(select(SidecarDebt.media_id)))
        original, copy = (
            near_section(archive, media.clip_a),
            near_section(archive, copies["clip_copy"]),
        )
    assert group.earliest == sha(media.clip_a)
    assert original["earliest"] == copy["earliest"] == sha(media.clip_a)
    assert original["method"] == "earliest"
    assert copy["method"] == "video-frames-mirrored"  # compared with the new earliest
    assert owed == []  # rewritten, not left to the next start


def test_an_upload_date_from_a_later_download_of_the_same_bytes_is_taken_when_earlier(
    tmp_path: Path, server: FixtureServer, media: MediaSet, copies: dict[str, Path], db_url: str
) -> None:
    """The original's first download came with facts but no date (a player's JSON-LD
    without uploadDate, yt-dlp's generic extractor): the same bytes from a platform
    dating the upload 2013 were never recorded, and the copy stayed the earliest. The
    date is taken, the first download's facts kept, and the sidecar says where from."""
    server.add_file("/copy/clip.mp4", copies["clip_copy"])
    server.add_page("/repost", "<article><p>Re-posted:</p><video src='/copy/clip.mp4'>")
    dates = {
        "undated": {},
        "tube": {"uploadDate": "2013-09-28T17:40:00Z"},
        "later": {"uploadDate": "2020-01-01"},
    }
    for name, dated in dates.items():
        server.add_file(f"/{name}/clip.mp4", media.clip_a)
        declared = {"@type": "VideoObject", "name": name, "contentUrl": f"/{name}/clip.mp4"}
        script = json.dumps({**declared, **dated})
        server.add_page(f"/player/{name}", f'<script type="application/ld+json">{script}</script>')
        server.add_page(f"/{name}", f"<article><p>Footage:</p><iframe src='/player/{name}'>")
    with Archive.open(make_config(tmp_path / "storage", db_url)) as archive:
        capturer = Capturer(archive)
        assert capturer.capture_url(server.url("/repost")).ok
        assert capturer.capture_url(server.url("/undated")).ok
        assert near_section(archive, media.clip_a)["earliest"] == sha(copies["clip_copy"])
        assert capturer.capture_url(server.url("/tube")).ok  # the same bytes, dated 2013
        assert capturer.capture_url(server.url("/later")).ok  # and again, dated after
        with archive.read_session() as session:
            (group,) = duplicates.list_groups(session)
        sidecar = archive.layout.media_dir(sha(media.clip_a)) / "provenance.json"
        platform = json.loads(sidecar.read_text())["platform"]
        copy = near_section(archive, copies["clip_copy"])
    assert group.earliest == copy["earliest"] == sha(media.clip_a)
    assert (platform["upload_date"], platform["uploaded_at"]) == (
        "2013-09-28",
        "2013-09-28T17:40:00Z",
    )
    assert platform["title"] == "undated"  # the first download's facts
    assert platform["metadata"]["dated_by"] == {
        "extractor": "json-ld",
        "id": None,
        "media_url": server.url("/tube/clip.mp4"),
    }


def test_a_member_found_on_a_page_seen_before_the_others_becomes_the_earliest(
    tmp_path: Path, server: FixtureServer, media: MediaSet, copies: dict[str, Path]
) -> None:
    """The original's first page failed to download it; meanwhile a copy, then the
    original's bytes from a third page were archived and grouped. The retry on the first
    page dates the original before the copy: it becomes the earliest."""
    server.add_status("/orig/photo.jpg", 503)
    server.add_file("/copy/photo.jpg", copies["photo_copy"])
    server.add_file("/third/photo.jpg", media.photo_a)
    server.add_page("/first", "<article><p>Smoke:</p><img src='/orig/photo.jpg'></article>")
    server.add_page("/repost", "<article><p>Re-posted:</p><img src='/copy/photo.jpg'>")
    server.add_page("/third", "<article><p>Again:</p><img src='/third/photo.jpg'></article>")
    with Archive.open(make_config(tmp_path / "storage")) as archive:
        capturer = Capturer(archive)
        assert not capturer.capture_url(server.url("/first")).ok  # 503: to be retried
        assert capturer.capture_url(server.url("/repost")).ok
        assert capturer.capture_url(server.url("/third")).ok
        assert near_section(archive, media.photo_a)["earliest"] == sha(copies["photo_copy"])
        server.add_file("/orig/photo.jpg", media.photo_a)
        assert capturer.capture_url(server.url("/first")).ok  # the retry
        with archive.read_session() as session:
            (group,) = duplicates.list_groups(session)
        copy = near_section(archive, copies["photo_copy"])
    assert group.earliest == copy["earliest"] == sha(media.photo_a)
    assert copy["method"].startswith("image-")


def test_a_video_container_holding_sound_alone_is_indexed_as_audio(
    tmp_path: Path, server: FixtureServer, media: MediaSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A generic MP4 (brand isom) looks like video from its first bytes; decoding shows
    sound alone, and the index and the sidecar then say audio (the bytes stay)."""
    talk = tmp_path / "talk.mp4"
    remux = ["-c", "copy", "-f", "mp4", "-brand", "isom", "-y", str(talk)]
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(media.audio), *remux], check=True)
    assert talk.read_bytes()[8:12] == b"isom"
    server.add_file("/talk.mp4", talk)
    server.add_page("/p", "<article><p>The speech:</p><video src='/talk.mp4'></video></article>")
    owed_when_reclassified: list[int | None] = []
    real_record = duplicates.DuplicateFinder._record

    def record(finder: duplicates.DuplicateFinder, media_id: int, *args: Any) -> Any:
        # a crash here, before the sidecar's rewrite, left it saying video for good
        with finder.archive.read_session() as session:
            owed_when_reclassified.extend(session.scalars(select(SidecarDebt.media_id)))
        return real_record(finder, media_id, *args)

    monkeypatch.setattr(duplicates.DuplicateFinder, "_record", record)
    with Archive.open(make_config(tmp_path / "storage")) as archive:
        (item,) = Capturer(archive).capture_url(server.url("/p")).items
        assert item.status == "stored"
        assert owed_when_reclassified == [1]
        assert item.files[0].near_duplicates["fingerprint_error"] == "audio-only file"
        with archive.read_session() as session:
            (record,) = search(session, archive.layout, SearchQuery())
            found = record.to_json()
    assert (found["media_type"], found["mime_type"]) == ("audio", "audio/mp4")
    sidecar = json.loads(Path(found["sidecar"]).read_text())
    assert sidecar["file"]["media_type"] == "audio" and sidecar["file"]["sha256"] == sha(talk)


def banner(path: Path) -> Path:
    """A 4200x32 strip of a photograph (a web banner or divider): a 64x1 thumbnail."""
    photo = Image.fromarray(skimage.data.astronaut()).resize((4200, 4200))
    photo.crop((0, 200, 4200, 232)).save(path)
    return path


def test_a_wide_banner_and_its_reencode_are_captured_searched_and_rehashed(
    tmp_path: Path, server: FixtureServer
) -> None:
    """Matching a 4200x32 banner's re-encode with it raised IndexError: its capture
    exited 1 (retried for ever by the daemon, no fingerprint stored), `search
    --similar-to` crashed and `rehash --all` stopped there. Too thin to align, the two
    are not flagged; every command works."""
    png = banner(tmp_path / "banner.png")
    jpg = tmp_path / "banner.jpg"
    with Image.open(png) as image:
        image.save(jpg, quality=80)
    later = make_photo(tmp_path / "later.jpg", seed=3)
    config = write_config(tmp_path / "archiver.toml", settings(tmp_path / "storage"))
    for name, path in (("a", png), ("b", jpg), ("c", later)):
        server.add_file(f"/{name}{path.suffix}", path)
        server.add_page(f"/{name}", f"<article><p>{name}:</p><img src='/{name}{path.suffix}'>")
        done = run_cli(config, "capture", server.url(f"/{name}"))
        assert done.returncode == 0, done.stderr
    similar = run_cli(config, "search", "--similar-to", str(jpg), "--json")
    assert similar.returncode == 0, similar.stderr
    (found,) = json.loads(similar.stdout)  # itself, by its bytes; the banner is not a match
    assert (found["sha256"], found["match"]) == (sha(jpg), "exact")
    sidecar = json.loads(Path(found["sidecar"]).read_text())
    assert sidecar["near_duplicates"]["fingerprint"]["kind"] == "image"
    again = run_cli(config, "rehash", "--all")
    assert again.returncode == 0 and "rehashed 3 file(s)" in again.stdout, again.stderr
    assert json.loads(run_cli(config, "dupes", "--json").stdout) == []


def test_a_matcher_that_fails_stores_the_fingerprint_says_why_and_rehash_matches_again(
    tmp_path: Path,
    server: FixtureServer,
    media: MediaSet,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bug in the matcher failed the capture: the file was left without a fingerprint
    and its job was retried for ever. It is stored without pairs, and says why: its
    sidecar read `group_id: null` as if it had no near-duplicates, and `archiver
    rehash` passed it over (its fingerprint is current), the copy of an archived
    original unlinked for good."""

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise IndexError("index 1 is out of bounds for axis 2 with size 1")

    copy = recompress(media.photo_a, tmp_path / "copy.jpg")
    with Archive.open(make_config(tmp_path / "storage")) as archive:
        capturer = Capturer(archive)
        capture_each(capturer, server, {"orig": media.photo_a})
        monkeypatch.setattr(duplicates.FingerprintIndex, "query", broken)
        server.add_file("/copy.jpg", copy)
        server.add_page("/p", "<article><p>Smoke:</p><img src='/copy.jpg'></article>")
        report = capturer.capture_url(server.url("/p"))
        assert report.ok
        near = report.items[0].files[0].near_duplicates
        assert near["fingerprint_error"] == "matching failed: IndexError"
        failed = near_section(archive, copy)
        assert (failed["fingerprint"]["kind"], failed["group_id"]) == ("image", None)
        assert failed["matching_error"] == "matching failed: IndexError"
        assert near_section(archive, media.photo_a)["matching_error"] is None
        # failing again, it is counted as failed (it was "rehashed 1 file(s)", exit 0)
        assert duplicates.rehash_archive(archive, everything=False) == (0, 1)
        monkeypatch.undo()
        assert duplicates.rehash_archive(archive, everything=False) == (1, 0)  # that one
        matched = near_section(archive, copy)
    assert matched["earliest"] == sha(media.photo_a) and matched["matching_error"] is None
    logged = [r for r in caplog.records if r.getMessage() == "duplicate.match_failed"]
    assert len(logged) == 2 and all(r.exc_info is not None for r in logged)


def test_rehash_goes_on_past_a_file_that_fails(
    tmp_path: Path,
    server: FixtureServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One file that failed stopped `rehash --all` there, leaving every later file
    unhashed. It is logged and passed over, and the next `rehash` takes it up again."""
    photos = {f"p{n}": make_photo(tmp_path / f"p{n}.jpg", seed=n) for n in range(3)}
    with Archive.open(make_config(tmp_path / "storage")) as archive:
        capture_each(Capturer(archive), server, photos)
        with archive.read_session() as session:
            first, *later = session.scalars(select(Media.id).order_by(Media.id))
        real = duplicates.DuplicateFinder.process

        def process(finder: duplicates.DuplicateFinder, media_id: int) -> Any:
            if media_id == first:
                raise RuntimeError("a decoder bug")
            return real(finder, media_id)

        monkeypatch.setattr(duplicates.DuplicateFinder, "process", process)
        assert duplicates.rehash_archive(archive, everything=True) == (len(later), 1)
        with archive.read_session() as session:
            assert duplicates.stale_media(session, everything=False) == [first]
        # the command says so, and exits 1 (it said "rehashed 2 file(s)", exit 0)
        config = write_config(tmp_path / "a.toml", settings(tmp_path / "storage"))
        said = CliRunner().invoke(cli, ["--config", str(config), "rehash", "--all"])
        assert (said.exit_code, said.stdout) == (1, "rehashed 2 file(s)\n")
        assert said.stderr.endswith(
            "archiver: error: 1 file(s) failed (logged): `archiver rehash` tries them again\n"
        )
        monkeypatch.undo()
        assert duplicates.rehash_archive(archive, everything=False) == (1, 0)
    (logged,) = [r for r in caplog.records if r.getMessage() == "duplicate.rehash_failed"]
    assert logged.fields == {"media_id": first, "reason": "RuntimeError: a decoder bug"}  # type: ignore[attr-defined]


def test_the_sidecar_gives_each_hash_at_its_full_width_and_the_quality_as_a_number(
    tmp_path: Path, server: FixtureServer
) -> None:
    """The sidecar's hex dropped leading zeros: this photo's PDQ was 63 digits, not the
    reference's ``format(h, "064x")``. The database keeps them as they were. The PDQ
    quality (0..100) was given in hex like the hashes: "64" for 100."""
    photo = make_photo(tmp_path / "photo.jpg", seed=18, size=(320, 240))
    hashed = duplicates.fingerprint(photo, "image").hashes
    pdq = hashed["pdq"]
    assert pdq < 1 << 252  # its first hex digit is 0
    with Archive.open(make_config(tmp_path / "storage")) as archive:
        capture_each(Capturer(archive), server, {"photo": photo})
        hashes = near_section(archive, photo)["fingerprint"]["hashes"]
        with archive.read_session() as session:
            stored = session.scalars(select(Fingerprint.hashes)).one()
    assert hashes["pdq"] == format(pdq, "064x")
    assert hashes.pop("pdq_quality") == hashed["pdq_quality"]
    for name, value in hashes.items():
        assert len(value) == (64 if name.startswith("pdq") else 16), name
        assert int(value, 16) == int(stored[name], 16)
    assert stored["pdq"] == format(pdq, "x")
