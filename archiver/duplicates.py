"""Near-duplicates in the archive: fingerprints stored, matched as they arrive, grouped.

``hashing`` computes fingerprints and ``match`` decides; this module keeps them in
the index, keeps one in-memory `FingerprintIndex` per process (loaded from the
database on first use, then updated incrementally), and maintains the groups:
near-duplicate pairs joined transitively, each group naming its **earliest** member
(the first sighting, or the platform upload when it was surely before it).
"""

from __future__ import annotations

import logging
import struct
import threading
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from time import monotonic
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import and_, case, delete, func, null, or_, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, selectinload, undefer

from archiver.archive import Archive
from archiver.errors import AudioOnlyError, Interrupted
from archiver.hashing import (
    ALGORITHM,
    FrameHash,
    HashingError,
    ImageFingerprint,
    VideoFingerprint,
    fingerprint,
)
from archiver.hashing import thumbnail as thumbnails
from archiver.index.debts import owe_media_sidecars
from archiver.index.models import (
    DuplicateGroup,
    DuplicateMember,
    DuplicatePair,
    Embed,
    Fingerprint,
    FrameHashRow,
    Media,
    Page,
    Sighting,
    iso,
    utcnow,
)
from archiver.index.records import uploaded_by
from archiver.integrity.eventlog import logged_session
from archiver.integrity.events import record_duplicate
from archiver.logs import LOGGER, log_event
from archiver.match import FingerprintIndex, Match, compare
from archiver.match.compare import pack_image, pack_video, score_images, score_videos

if TYPE_CHECKING:
    from archiver.capture import Capturer

AnyFingerprint = ImageFingerprint | VideoFingerprint
#: The audio MIME type of a container first taken for video.
AUDIO_CONTAINERS = {
    "video/mp4": "audio/mp4",
    "video/quicktime": "audio/mp4",
    "video/x-matroska": "audio/x-matroska",
    "video/webm": "audio/webm",
    "video/3gpp": "audio/3gpp",
    "video/ogg": "audio/ogg",
}
#: Matching a new file looks for fingerprints deleted elsewhere at most this often (s).
COUNT_EVERY = 60.0
#: Fingerprints read per batch when the index loads (bounds the memory it takes).
LOAD_BATCH = 500
#: How the reason of a fingerprinted file that matching failed on begins.
MATCHING_FAILED = "matching failed"
#: Hex digits of a PDQ hash (256 bits) and of a pHash or gate hash (64 bits).
PDQ_HEX, PHASH_HEX = 64, 16
_ADVISORY_KEY = 727466  # serialises matching across daemons sharing a PostgreSQL database


# ---- storage of fingerprints ------------------------------------------------------------


def _pack(frame: FrameHash, names: list[str]) -> bytes:
    return struct.pack(f">{len(names)}Q", *(frame.hashes[name] for name in names))


def to_fingerprint(row: Fingerprint, *, with_thumbnail: bool = False) -> AnyFingerprint | None:
    """Rebuild a fingerprint from its rows (None when the file had none).

    An image's thumbnail is read only `with_thumbnail` (the row must then have been
    loaded with ``undefer(Fingerprint.thumbnail)``): the index keeps none in memory.
    """
    if row.kind == "image" and row.hashes is not None:
        thumb = _thumbnail(row.thumbnail_width, row.thumbnail) if with_thumbnail else None
        return _image(row.width, row.height, row.hashes, thumb)
    if row.kind == "video" and row.frame_hash_names is not None:
        frames = [(f.t, f.hashes) for f in row.frames]
        return _video(row.duration, row.width, row.height, row.frame_hash_names, frames)
    return None


def _image(
    width: int | None,
    height: int | None,
    hashes: dict[str, str],
    thumb: thumbnails.Thumbnail | None = None,
) -> ImageFingerprint:
    values = {name: int(value, 16) for name, value in hashes.items()}
    return ImageFingerprint(width or 0, height or 0, values, thumb)


def _video(
    duration: float | None,
    width: int | None,
    height: int | None,
    names: list[str],
    frames: Iterable[tuple[float, bytes]],
) -> VideoFingerprint:
    """A video fingerprint from its frame rows: (time, hashes packed in `names` order)."""
    layout = struct.Struct(f">{len(names)}Q")
    hashed = [
        FrameHash(t, dict(zip(names, layout.unpack(packed), strict=True))) for t, packed in frames
    ]
    return VideoFingerprint(duration or 0.0, width or 0, height or 0, hashed)


def _thumbnail(width: int | None, pixels: bytes | None) -> thumbnails.Thumbnail | None:
    try:
        return thumbnails.from_pixels(width, pixels) if width and pixels else None
    except ValueError:
        return None


def load_thumbnails(session: Session, media_ids: list[int]) -> dict[int, thumbnails.Thumbnail]:
    """The stored thumbnails of these images (the index keeps none in memory)."""
    out = {}
    rows = session.execute(
        select(Fingerprint.media_id, Fingerprint.thumbnail_width, Fingerprint.thumbnail).where(
            Fingerprint.media_id.in_(media_ids), Fingerprint.algorithm == ALGORITHM
        )
    )
    for media_id, width, pixels in rows:
        thumb = _thumbnail(width, pixels)
        if thumb is not None:
            out[media_id] = thumb
    return out


def _fingerprint_row(media_id: int, fp: AnyFingerprint | None, error: str | None) -> Fingerprint:
    row = Fingerprint(
        media_id=media_id, algorithm=ALGORITHM, kind="none", error=error, created_at=utcnow()
    )
    if isinstance(fp, ImageFingerprint):
        row.kind, row.width, row.height = "image", fp.width, fp.height
        row.hashes = {name: format(value, "x") for name, value in fp.hashes.items()}
        if fp.thumbnail is not None:
            row.thumbnail_width, row.thumbnail = thumbnails.to_pixels(fp.thumbnail)
    elif isinstance(fp, VideoFingerprint):
        names = sorted(fp.frames[0].hashes) if fp.frames else []
        row.kind, row.width, row.height, row.duration = "video", fp.width, fp.height, fp.duration
        row.frame_hash_names, row.frame_count = names, len(fp.frames)
        row.frames = [FrameHashRow(t=f.t, hashes=_pack(f, names)) for f in fp.frames]
    return row


# ---- groups ---------------------------------------------------------------------------------


def _origin_key(media: Media, seen: datetime | None) -> tuple[datetime, int, datetime, int]:
    """Earliest known instance: the first sighting, or the platform upload.

    A sighting counts from when its embed was first seen on a page, not from when its
    download ended: an original whose download failed and was retried for days
    counted from the retry, after copies found since. Files first seen in the same
    page fetch tie, and the earlier capture wins.

    When the platform gave the upload's time it counts as it is. An upload date alone
    has no time and no zone, so it stands for the latest moment it can mean
    (`uploaded_by`, D+1 12:00 UTC): an upload on day D comes before a sighting only if
    the sighting is at or after that; a file first seen during D, or before noon UTC
    the day after, stays ahead of it. ``seen``: `_first_seen`.
    """
    seen = seen or media.first_captured_at
    uploaded = uploaded_by(media.platform_upload_date, media.platform_uploaded_at)
    if uploaded is not None and uploaded <= seen:
        return uploaded, 0, media.first_captured_at, media.id
    return seen, 1, media.first_captured_at, media.id


def raw_similarity(a: AnyFingerprint, b: AnyFingerprint) -> Match | None:
    """The similarity score even below the decision threshold (for group reporting)."""
    decided = compare(a, b)
    if decided is not None:
        return decided
    if isinstance(a, ImageFingerprint) and isinstance(b, ImageFingerprint):
        return score_images(pack_image(a), pack_image(b))
    if isinstance(a, VideoFingerprint) and isinstance(b, VideoFingerprint):
        score = score_videos(pack_video(a), pack_video(b))
        return score.match if score is not None else None
    return None


@dataclass(frozen=True)
class GroupView:
    group_id: int
    earliest: str
    members: list[dict[str, Any]]  # {sha256, similarity, method, origin}

    def to_json(self) -> dict[str, Any]:
        return {"group_id": self.group_id, "earliest": self.earliest, "members": self.members}


def group_views(session: Session, groups: Sequence[DuplicateGroup]) -> list[GroupView]:
    """The groups as listed, each member with what its place in the order counts from."""
    medias = [m.media for group in groups for m in group.members]
    origins: dict[int, dict[str, Any]] = {}
    for start in range(0, len(medias), LOAD_BATCH):
        origins.update(_origins(session, medias[start : start + LOAD_BATCH]))
    views = []
    for group in groups:
        members = sorted(group.members, key=lambda m: (-m.similarity, m.media.sha256))
        listed = [
            {
                "sha256": m.media.sha256,
                "similarity": round(m.similarity, 4),
                "method": m.method,
                "origin": origins[m.media_id],
            }
            for m in members
        ]
        views.append(GroupView(group.id, group.earliest.sha256, listed))
    return views


def _origins(session: Session, medias: Sequence[Media]) -> dict[int, dict[str, Any]]:
    """What chose each file's place in its group's order (`_origin_key`): ``by`` its
    ``upload`` (the platform's time), its ``upload date`` (``at``: the latest moment the
    date can mean) or its first ``sighting`` (``page_url``: where; None when captured
    directly). Lists that showed each member's capture time and upload date dated
    the earliest member after a copy it had beaten, with nothing saying why."""
    seen = _first_seen(session, [media.id for media in medias])
    origins = {}
    for media in medias:
        at, page_url = seen.get(media.id, (None, None))
        moment, rank, _, _ = _origin_key(media, at)
        by = "sighting" if rank else "upload" if media.platform_uploaded_at else "upload date"
        origins[media.id] = {"by": by, "at": iso(moment), "page_url": page_url if rank else None}
    return origins


def list_groups(session: Session, *, limit: int | None = None, offset: int = 0) -> list[GroupView]:
    """The groups in id order; or `limit` of them from `offset` (the web pages them)."""
    groups = session.scalars(
        select(DuplicateGroup)
        .options(
            selectinload(DuplicateGroup.members).selectinload(DuplicateMember.media),
            selectinload(DuplicateGroup.earliest),
        )
        .order_by(DuplicateGroup.id)
        .offset(offset)
        .limit(limit)
    )
    return group_views(session, list(groups))


def group_of(session: Session, media_id: int) -> GroupView | None:
    member = session.scalar(select(DuplicateMember).where(DuplicateMember.media_id == media_id))
    return group_views(session, [member.group])[0] if member is not None else None


def sidecar_section(session: Session, media_id: int) -> dict[str, Any] | None:
    """The sidecar's ``near_duplicates`` section for one file."""
    fp = session.scalar(select(Fingerprint).where(Fingerprint.media_id == media_id))
    if fp is None:
        return None
    member = session.scalar(select(DuplicateMember).where(DuplicateMember.media_id == media_id))
    section: dict[str, Any] = {
        "algorithm": fp.algorithm,
        "fingerprint": _summary(fp),
        "group_id": member.group_id if member else None,
        "earliest": member.group.earliest.sha256 if member else None,
        "similarity_to_earliest": round(member.similarity, 4) if member else None,
        "method": member.method if member else None,
        # a file matching failed on was compared with nothing: no group says nothing
        "matching_error": fp.error if fp.kind != "none" else None,
    }
    return section


def _summary(fp: Fingerprint) -> dict[str, Any]:
    if fp.kind == "image":
        return {
            "kind": "image",
            "width": fp.width,
            "height": fp.height,
            "hashes": {name: _shown(name, value) for name, value in (fp.hashes or {}).items()},
        }
    if fp.kind == "video":
        return {
            "kind": "video",
            "width": fp.width,
            "height": fp.height,
            "duration": fp.duration,
            "frames_hashed": fp.frame_count,
            "frame_hash_names": fp.frame_hash_names,
        }
    return {"kind": "none", "reason": fp.error}


def _shown(name: str, value: str) -> str | int:
    """A stored hash as its reference prints it, leading zeros and all: 64 hex digits
    for PDQ (``format(h, "064x")``), 16 for pHash and the gate hashes. The database
    keeps them without, and a sidecar's PDQ was a digit short one time in sixteen.
    ``pdq_quality`` is a number, not a hash: stored in hex like the hashes, it is
    given as the number (0..100; a quality of 100 read "64")."""
    if name == "pdq_quality":
        return int(value, 16)
    if name.startswith("pdq"):
        return value.rjust(PDQ_HEX, "0")
    if name.startswith(("phash", "gate")):
        return value.rjust(PHASH_HEX, "0")
    return value


# ---- the per-process matcher -----------------------------------------------------------------


@dataclass(frozen=True)
class Flag:
    """What matching a new file found: its group, the earliest member, its matches."""

    media_id: int
    group_id: int | None
    earliest: str | None
    matches: list[dict[str, Any]]  # {sha256, similarity, method}
    error: str | None = None
    affected: tuple[int, ...] = ()  # media whose sidecars need rewriting
    unmatched: bool = False  # hashed, but matching it failed: taken up again by rehash


class DuplicateFinder:
    """Fingerprints new files and flags near-duplicates against the whole archive."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.index = FingerprintIndex(keep_thumbnails=False)
        self.loaded_up_to = 0  # every fingerprint row up to this id has been read
        self._rows_seen = 0  # rows (any algorithm) up to `loaded_up_to` believed stored
        self._top: tuple[int, datetime] | None = None  # the highest row read: id, created_at
        self._keys = array("q")  # media ids of the rows read: the indexed keys and more
        self._counted_at = -COUNT_EVERY  # when the rows were last counted (monotonic)
        self.lock = threading.Lock()

    def refresh(self, session: Session, *, count_deleted: bool = True) -> None:
        """Bring the index up to date with the stored fingerprints (this or another process).

        Rows stored since the last look are streamed in batches as plain columns (no ORM
        objects, no thumbnails), so loading a large archive's index at start holds one
        batch at a time. A newer row for an indexed file replaces its entry (a rehash in
        another process); a row without hashes or of another algorithm removes it.

        Rows deleted elsewhere (`forget` not yet followed by a new row) are noticed by
        counting: one statement gives the number of rows and the highest id, which
        SQLite answers from the smallest index without reading rows. Only when the count
        differs from the rows this process has read (less those a newer row of the same
        file replaced) are the stored media ids read and the missing keys dropped.
        Counting scans every row on PostgreSQL (about 40 ms per million), so matching a
        new file (`count_deleted` False) counts at most every `COUNT_EVERY` seconds; a
        look for an investigator always counts.
        """
        sqlite = session.get_bind().dialect.name == "sqlite"
        last = self._top if sqlite else None
        counting = count_deleted or monotonic() >= self._counted_at + COUNT_EVERY
        count, top, last_created = session.execute(
            select(
                select(func.count()).select_from(Fingerprint).scalar_subquery()
                if counting
                else null(),
                select(func.max(Fingerprint.id)).scalar_subquery(),
                select(Fingerprint.created_at)
                .where(Fingerprint.id == (last[0] if last else 0))
                .scalar_subquery(),
            )
        ).one()
        top = top or 0
        newer = Fingerprint.id > self.loaded_up_to
        if last is not None and last_created != last[1]:
            # SQLite hands the highest id out again once its row is deleted: when the
            # highest row read is gone or another, the rows written since are found by
            # their time of writing (one host, one clock). PostgreSQL never reuses ids.
            newer = or_(newer, Fingerprint.created_at > last[1])
        current = Fingerprint.algorithm == ALGORITHM
        rows = session.execute(
            select(
                Fingerprint.id,
                Fingerprint.media_id,
                Fingerprint.kind,
                Fingerprint.width,
                Fingerprint.height,
                Fingerprint.duration,
                case((current, Fingerprint.hashes)).label("hashes"),
                case((current, Fingerprint.frame_hash_names)).label("frame_hash_names"),
            )
            .where(newer, Fingerprint.id <= top)
            .order_by(Fingerprint.id)
            .execution_options(yield_per=LOAD_BATCH)
        )
        seen = self._rows_seen
        for batch in rows.partitions():
            videos = [r.id for r in batch if r.kind == "video" and r.frame_hash_names is not None]
            frames = _frame_rows(session, videos)
            for r in batch:
                fp: AnyFingerprint | None = None
                if r.kind == "image" and r.hashes is not None:
                    fp = _image(r.width, r.height, r.hashes)
                elif r.id in frames:
                    fp = _video(r.duration, r.width, r.height, r.frame_hash_names, frames[r.id])
                if r.media_id in self.index:
                    seen -= 1  # one row per file: the one indexed is gone
                if fp is not None:
                    self.index.add(r.media_id, fp)  # replaces what the file had
                else:
                    self.index.remove(r.media_id)
                self._keys.append(r.media_id)
                seen += 1
        self.loaded_up_to = top  # rows read above it have since been deleted
        if sqlite and (last is None or (top, last_created) != last):
            created = session.scalar(select(Fingerprint.created_at).where(Fingerprint.id == top))
            self._top = (top, created) if created is not None else None
        if counting:
            self._counted_at = monotonic()
        # Uncounted, `seen` may include rows deleted meanwhile: the next count corrects it.
        self._rows_seen = seen if not counting or seen == count else self._drop_deleted(session)

    def _drop_deleted(self, session: Session) -> int:
        """Unindex the files whose fingerprint rows are gone; how many rows are stored."""
        stored = np.array(
            session.scalars(
                select(Fingerprint.media_id).where(Fingerprint.id <= self.loaded_up_to)
            ).all(),
            dtype=np.int64,
        )
        known = np.unique(np.frombuffer(self._keys, dtype=np.int64))
        for key in np.setdiff1d(known, stored, assume_unique=True).tolist():
            self.index.remove(key)
        self._keys = array("q", stored.tobytes())
        return len(stored)

    def forget(self, media_id: int) -> tuple[int, ...]:
        """`forget` a file in its own transaction and unindex it; the media whose
        sidecar section changed (see `forget`)."""
        with self.lock, self.archive.session() as session:
            rows = list(
                session.scalars(select(Fingerprint.id).where(Fingerprint.media_id == media_id))
            )
            affected = forget(session, media_id)
            owe_media_sidecars(session, affected)
        with self.lock:
            self.index.remove(media_id)
            self._rows_seen -= sum(row <= self.loaded_up_to for row in rows)
            if rows and max(rows) >= self.loaded_up_to:
                # SQLite may hand the highest id out again: read from below it. Only
                # then: `rehash --all` forgets every file, and reading from below each
                # one read the whole index again each time.
                self.loaded_up_to = min(self.loaded_up_to, min(rows) - 1)
                self._top = None
        return affected

    def query(
        self, fp: AnyFingerprint, min_similarity: float | None = None
    ) -> list[tuple[int, Match]]:
        with self.lock, self.archive.read_session() as session:
            self.refresh(session)
            return self.index.query(fp, min_similarity, limit=1000, thumbnails=_loader(session))

    def query_phash(self, phash: int, max_distance: int) -> list[tuple[int, int]]:
        with self.lock:
            with self.archive.read_session() as session:
                self.refresh(session)
            return self.index.query_phash(phash, max_distance)

    def process(self, media_id: int) -> Flag | None:
        """Fingerprint a stored file (unless done) and flag its near-duplicates."""
        with self.archive.read_session() as session:
            media = session.get_one(Media, media_id)
            if session.scalar(select(Fingerprint.id).where(Fingerprint.media_id == media_id)):
                return None
            path = self.archive.layout.absolute(media.path)
            media_type = media.media_type
        fp: AnyFingerprint | None = None
        error: str | None = None
        try:
            fp = fingerprint(Path(path), media_type, stop=self.archive.stop.check)  # type: ignore[arg-type]
        except Interrupted:
            raise  # a shutdown: fingerprinted when its job runs again
        except AudioOnlyError as exc:
            error = str(exc)
            self._index_as_audio(media_id)
        except HashingError as exc:
            error = str(exc)
        except Exception as exc:  # a decoder bug must not take the pipeline down
            logging.getLogger("archiver").exception("fingerprinting media %s failed", media_id)
            error = f"fingerprinting failed: {type(exc).__name__}"
        return self._record(media_id, fp, error)

    def reconsider(self, media_id: int) -> tuple[int, ...]:
        """Name the earliest member of a stored file's group again, after the file got a
        new sighting or its platform's upload time; the members whose sidecar section
        changed (owed in the same commit).

        A file is matched once, when it is fingerprinted, and its group chose its
        earliest member then: a copy stayed the earliest when the original, grouped
        already, was later found on a page first seen before it, or on the platform
        that dated its upload years before.
        """
        with self.archive.read_session() as session:
            member = select(DuplicateMember.group_id).where(DuplicateMember.media_id == media_id)
            if session.scalar(member) is None:
                return ()  # a group formed later chooses with what is stored by then
        with self.lock, self.archive.session() as session:
            if session.get_bind().dialect.name == "postgresql":  # like `_record`
                session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})
            group_id = session.scalar(member)
            if group_id is None:
                return ()
            group = session.get_one(DuplicateGroup, group_id)
            before = {m.media_id: (group.id, group.earliest_media_id) for m in group.members}
            _rescore(session, group, before)
            if before[media_id] == (group.id, group.earliest_media_id):
                return ()
            group.updated_at = utcnow()
            changed = tuple(sorted(before))  # every section names the earliest member
            owe_media_sidecars(session, changed)
        log_event("duplicate.earliest", group=group_id, earliest=group.earliest_media_id)
        return changed

    def _index_as_audio(self, media_id: int) -> None:
        """A file its first bytes called video (a generic MP4 or Matroska container)
        that decodes as sound alone is indexed as audio: searches and the sidecar
        (rewritten after matching, and owed in the same commit: a crash before that
        rewrite left a sidecar saying video for good) say what it is. Its bytes and path
        do not change."""
        with logged_session(self.archive) as session:
            media = session.get_one(Media, media_id)
            if media.media_type == "video":
                media.media_type = "audio"
                media.mime_type = AUDIO_CONTAINERS.get(media.mime_type, media.mime_type)
                owe_media_sidecars(session, [media_id])
        log_event("media.reclassified", media_id=media_id, media_type="audio")

    def _record(self, media_id: int, fp: AnyFingerprint | None, error: str | None) -> Flag:
        with self.lock, logged_session(self.archive) as session:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})
            if session.scalar(select(Fingerprint.id).where(Fingerprint.media_id == media_id)):
                return Flag(media_id, None, None, [], error)  # another worker got here first
            self.refresh(session, count_deleted=False)
            found, failed = self._matches(session, media_id, fp)
            found = self._still_stored(session, found)
            row = _fingerprint_row(media_id, fp, error or failed)
            session.add(row)
            session.flush()
            row_id, row_created = row.id, row.created_at
            for other, match in found:
                low, high = sorted((media_id, other))
                session.add(
                    DuplicatePair(
                        media_a_id=low,
                        media_b_id=high,
                        similarity=match.similarity,
                        method=match.method,
                        found_at=utcnow(),
                    )
                )
            group, affected = (
                self._regroup(session, media_id, [k for k, _ in found])
                if found
                else (None, (media_id,))
            )
            shas = dict(
                session.execute(
                    select(Media.id, Media.sha256).where(Media.id.in_([k for k, _ in found]))
                ).all()
            )
            new = session.get_one(Media, media_id)
            owe_media_sidecars(session, affected)
            for other, match in found:  # the event log last: it holds its lock to commit
                record_duplicate(
                    session,
                    new.sha256,
                    shas[other],
                    media_type=new.media_type,
                    similarity=match.similarity,
                    method=match.method,
                )
            flag = Flag(
                media_id,
                group.id if group else None,
                group.earliest.sha256 if group else None,
                [
                    {"sha256": shas[k], "similarity": round(m.similarity, 4), "method": m.method}
                    for k, m in found
                ],
                error or failed,
                affected,
                unmatched=failed is not None,
            )
        with self.lock:
            if self.loaded_up_to < row_id:
                # Read up to the row before this one while holding the database's write
                # lock (matching is serialised), so this row is the next one: take it.
                if fp is not None:
                    self.index.add(media_id, fp)
                self._keys.append(media_id)
                self._rows_seen += 1
                self.loaded_up_to, self._top = row_id, (row_id, row_created)
        if flag.group_id is not None:
            log_event(
                "duplicate.flagged",
                media_id=media_id,
                group=flag.group_id,
                earliest=flag.earliest,
                matches=len(flag.matches),
            )
        return flag

    def _matches(
        self, session: Session, media_id: int, fp: AnyFingerprint | None
    ) -> tuple[list[tuple[int, Match]], str | None]:
        """What the index matches `fp` with, and the reason when matching failed.

        A bug in the matcher must not fail the capture: its file would have no
        fingerprint, its job would be retried for ever, and `archiver rehash` would stop
        there. The fingerprint is stored without pairs instead, with the reason (the
        sidecar says it, and `archiver rehash` matches the file again), and logged.
        Database errors are not the matcher's: they fail the capture as they would.
        """
        if fp is None:
            return [], None
        try:
            found = self.index.query(fp, limit=1000, thumbnails=_loader(session))
        except SQLAlchemyError:
            raise
        except Exception as exc:
            reason = f"{MATCHING_FAILED}: {type(exc).__name__}"
            LOGGER.error(
                "duplicate.match_failed",
                exc_info=True,
                extra={"fields": {"media_id": media_id, "reason": reason}},
            )
            return [], reason
        return [(k, m) for k, m in found if k != media_id], None

    def _still_stored(
        self, session: Session, found: list[tuple[int, Match]]
    ) -> list[tuple[int, Match]]:
        """The matches whose fingerprint is still stored; the others leave the index.

        Matching a new file notices fingerprints deleted elsewhere only every
        `COUNT_EVERY` seconds: a file another process was rehashing (forgotten, its new
        fingerprint not yet stored) was matched by its old one, and the pair and group
        stood on a fingerprint gone. Called under both locks, before the new row.
        """
        if not found:
            return found
        stored = set(
            session.scalars(
                select(Fingerprint.media_id).where(
                    Fingerprint.media_id.in_([k for k, _ in found]),
                    Fingerprint.algorithm == ALGORITHM,
                )
            )
        )
        for key in {k for k, _ in found} - stored:
            self.index.remove(key)
            self._rows_seen -= 1  # read, and deleted since
        return [(k, m) for k, m in found if k in stored]

    def _regroup(
        self, session: Session, media_id: int, others: list[int]
    ) -> tuple[DuplicateGroup, tuple[int, ...]]:
        """Join the new file, its matches and their groups into one group.

        Also returns the members whose sidecar section changed (new to the group, or
        a new earliest member), so a growing group does not rewrite every sidecar.
        """
        ids = [media_id, *others]
        members = session.scalars(
            select(DuplicateMember).where(DuplicateMember.media_id.in_(ids))
        ).all()
        group_ids = sorted({m.group_id for m in members})
        before = {
            member_id: (group_id, earliest)
            for member_id, group_id, earliest in session.execute(
                select(
                    DuplicateMember.media_id,
                    DuplicateMember.group_id,
                    DuplicateGroup.earliest_media_id,
                )
                .join(DuplicateGroup, DuplicateGroup.id == DuplicateMember.group_id)
                .where(DuplicateMember.group_id.in_(group_ids))
            ).all()
        }
        now = utcnow()
        if group_ids:
            group = session.get_one(DuplicateGroup, group_ids[0])
            for other_group in group_ids[1:]:
                for member in session.scalars(
                    select(DuplicateMember).where(DuplicateMember.group_id == other_group)
                ):
                    member.group_id = group.id
                session.flush()
                session.execute(delete(DuplicateGroup).where(DuplicateGroup.id == other_group))
        else:
            group = DuplicateGroup(earliest_media_id=media_id, created_at=now, updated_at=now)
            session.add(group)
            session.flush()
        in_group = {
            m.media_id
            for m in session.scalars(
                select(DuplicateMember).where(DuplicateMember.group_id == group.id)
            )
        }
        for new in set(ids) - in_group:
            session.add(DuplicateMember(group_id=group.id, media_id=new, similarity=0.0, method=""))
        session.flush()
        session.expire(group)
        _rescore(session, group, before)
        group.updated_at = now
        now_state = (group.id, group.earliest_media_id)
        changed = tuple(m.media_id for m in group.members if before.get(m.media_id) != now_state)
        return group, changed


def _first_seen(session: Session, media_ids: list[int]) -> dict[int, tuple[datetime, str | None]]:
    """When each file was first seen (`_origin_key`) and on which page (None: captured
    directly), from one aggregate: a group holding a file seen on thousands of pages
    loaded every sighting of it. Of sightings seen at once, the first recorded."""
    earliest = case(
        (Sighting.first_seen_at < Embed.first_seen_at, Sighting.first_seen_at),
        else_=Embed.first_seen_at,
    )
    first = (
        select(Sighting.media_id, func.min(earliest).label("at"))
        .join(Embed, Sighting.embed_id == Embed.id)
        .where(Sighting.media_id.in_(media_ids))
        .group_by(Sighting.media_id)
        .subquery()
    )
    rows = session.execute(
        select(Sighting.media_id, first.c.at, Page.url)
        .join(Embed, Sighting.embed_id == Embed.id)
        .outerjoin(Page, Embed.page_id == Page.id)
        .join(first, and_(first.c.media_id == Sighting.media_id, earliest == first.c.at))
        .order_by(Sighting.id)
    )
    seen: dict[int, tuple[datetime, str | None]] = {}
    for media_id, at, page_url in rows:
        seen.setdefault(media_id, (at, page_url))
    return seen


def _rescore(session: Session, group: DuplicateGroup, before: dict[int, tuple[int, int]]) -> None:
    """Name the earliest member and every member's similarity to it.

    Members that were in this group under the same earliest member keep their
    score: only the new ones are compared (all of them when the earliest changes),
    so a group growing one copy at a time costs one comparison per copy.
    """
    ids = [m.media_id for m in group.members]
    medias = session.scalars(select(Media).where(Media.id.in_(ids))).all()
    seen = {media_id: at for media_id, (at, _) in _first_seen(session, ids).items()}
    earliest = min(medias, key=lambda media: _origin_key(media, seen.get(media.id)))
    group.earliest_media_id = earliest.id
    scored = {m for m, state in before.items() if state == (group.id, earliest.id)}
    todo = [m for m in group.members if m.media_id not in scored | {earliest.id}]
    prints = {
        row.media_id: to_fingerprint(row, with_thumbnail=True)
        for row in session.scalars(
            select(Fingerprint)
            .where(Fingerprint.media_id.in_([earliest.id, *(m.media_id for m in todo)]))
            .options(selectinload(Fingerprint.frames), undefer(Fingerprint.thumbnail))
        )
    }
    origin = prints.get(earliest.id)
    for member in group.members:
        if member.media_id == earliest.id:
            member.similarity, member.method = 1.0, "earliest"
    for member in todo:
        mine = prints.get(member.media_id)
        decided = compare(mine, origin) if mine and origin else None
        if decided is not None:
            member.similarity, member.method = decided.similarity, decided.method
            continue
        # it joined through another member: its own score to the earliest (under the
        # rule's threshold, or none), and the rule of the pair that joined it
        raw = raw_similarity(mine, origin) if mine and origin else None
        member.similarity = raw.similarity if raw is not None else 0.0
        member.method = _best_pair(session, member.media_id)[1]
    session.flush()
    session.refresh(group)


def _frame_rows(session: Session, ids: list[int]) -> dict[int, list[tuple[float, bytes]]]:
    """The frame rows (time, packed hashes) of these video fingerprints, in time order."""
    out: dict[int, list[tuple[float, bytes]]] = {i: [] for i in ids}
    for start in range(0, len(ids), LOAD_BATCH):
        for owner, t, packed in session.execute(
            select(FrameHashRow.fingerprint_id, FrameHashRow.t, FrameHashRow.hashes)
            .where(FrameHashRow.fingerprint_id.in_(ids[start : start + LOAD_BATCH]))
            .order_by(FrameHashRow.fingerprint_id, FrameHashRow.t)
        ):
            out[owner].append((t, packed))
    return out


def _loader(session: Session) -> Callable[[Sequence[int]], dict[int, thumbnails.Thumbnail]]:
    return lambda keys: load_thumbnails(session, list(keys))


def _best_pair(session: Session, media_id: int) -> tuple[float, str]:
    pair = session.scalar(
        select(DuplicatePair)
        .where(or_(DuplicatePair.media_a_id == media_id, DuplicatePair.media_b_id == media_id))
        .order_by(DuplicatePair.similarity.desc())
    )
    if pair is None:
        return 0.0, "none"
    return pair.similarity, f"{pair.method} (via another member)"


def forget(session: Session, media_id: int) -> tuple[int, ...]:
    """Drop a file's fingerprint, pairs and membership (before rehashing it).

    Its group is rebuilt from the pairs left (`_rebuild`); returns the media whose
    sidecar section changed, the forgotten file included.
    """
    if session.get_bind().dialect.name == "postgresql":  # like `_record`: one at a time
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})
    session.execute(delete(Fingerprint).where(Fingerprint.media_id == media_id))
    session.execute(
        delete(DuplicatePair).where(
            or_(DuplicatePair.media_a_id == media_id, DuplicatePair.media_b_id == media_id)
        )
    )
    group_id = session.scalar(
        select(DuplicateMember.group_id).where(DuplicateMember.media_id == media_id)
    )
    if group_id is None:
        return (media_id,)
    return tuple(sorted({media_id, *_rebuild(session, group_id)}))


def _rebuild(session: Session, group_id: int) -> set[int]:
    """Regroup a group's members by the pairs left between them, after some were deleted.

    Each connected component of two or more members becomes a group (the largest keeps
    the group's id), members left alone leave, and every group names its earliest
    member again. Scores kept are those of members still under the same earliest member
    in the same group, except those that stood on a pair (``via another member``).
    Returns the members whose group, earliest member, similarity or method changed.
    """
    group = session.get_one(DuplicateGroup, group_id)
    members = {
        m.media_id: m
        for m in session.scalars(
            select(DuplicateMember).where(DuplicateMember.group_id == group_id)
        )
    }
    old = {
        k: (group_id, group.earliest_media_id, m.similarity, m.method) for k, m in members.items()
    }
    parent = {k: k for k in members}

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    ids = list(members)
    for start in range(0, len(ids), LOAD_BATCH):
        for a, b in session.execute(
            select(DuplicatePair.media_a_id, DuplicatePair.media_b_id).where(
                DuplicatePair.media_a_id.in_(ids[start : start + LOAD_BATCH])
            )
        ):
            if a in parent and b in parent:
                parent[root(a)] = root(b)
    parts: dict[int, list[int]] = {}
    for k in ids:
        parts.setdefault(root(k), []).append(k)
    kept = sorted((p for p in parts.values() if len(p) > 1), key=lambda p: (-len(p), min(p)))
    alone = [p[0] for p in parts.values() if len(p) == 1]
    if alone:
        session.execute(delete(DuplicateMember).where(DuplicateMember.media_id.in_(alone)))
    if not kept:
        session.execute(delete(DuplicateGroup).where(DuplicateGroup.id == group_id))
        return set(members)
    now = utcnow()
    groups = [group]
    for part in kept[1:]:
        split = DuplicateGroup(earliest_media_id=min(part), created_at=now, updated_at=now)
        session.add(split)
        session.flush()
        for k in part:
            members[k].group_id = split.id
        groups.append(split)
    session.flush()
    before = {
        k: (group_id, group.earliest_media_id)
        for k, m in members.items()
        if not m.method.endswith("(via another member)")
    }
    changed = set(alone)
    for each in groups:
        session.expire(each)
        _rescore(session, each, before)
        each.updated_at = now
        for m in each.members:
            state = (each.id, each.earliest_media_id, m.similarity, m.method)
            if old[m.media_id] != state:
                changed.add(m.media_id)
    return changed


def rehash_archive(archive: Archive, *, everything: bool) -> tuple[int, int]:
    """Fingerprint again what an older algorithm (or nothing) fingerprinted; regroup.

    Files are redone oldest first, so groups form in capture order. A rehashed file
    leaves its group first, and the group is rebuilt from the pairs left: it may split
    in several, or dissolve when one member is left. Every sidecar whose section
    changed is rewritten. Returns how many files were rehashed and how many failed:
    one that failed is logged and passed over (`_rehash`).
    """
    from archiver.capture import Capturer

    with archive.read_session() as session:
        todo = stale_media(session, everything)
    capturer = Capturer(archive)
    done = sum(_rehash(archive.duplicates, capturer, media_id) for media_id in todo)
    return done, len(todo) - done


def _rehash(finder: DuplicateFinder, capturer: Capturer, media_id: int) -> bool:
    """Rehash one file and rewrite the sidecars that changed; False when it failed,
    also when its matching failed again (counted as rehashed, the command said it
    worked while the copy stayed unlinked).

    One file that failed (a bug in matching or regrouping it) stopped `rehash --all`
    there, leaving every later file unhashed. The failure is logged
    (``duplicate.rehash_failed``); forgotten and not fingerprinted again, the file is
    taken up by the next `archiver rehash`.
    """
    affected: set[int] = set()
    flag = None
    try:
        affected = set(finder.forget(media_id))
        flag = finder.process(media_id)
    except Interrupted:
        raise
    except Exception as exc:
        LOGGER.error(
            "duplicate.rehash_failed",
            exc_info=True,
            extra={"fields": {"media_id": media_id, "reason": f"{type(exc).__name__}: {exc}"}},
        )
        return False
    finally:
        for changed in sorted({media_id, *affected, *(flag.affected if flag else ())}):
            capturer.rewrite_sidecar(changed)
    return not (flag and flag.unmatched)


def stale_media(session: Session, everything: bool) -> list[int]:
    """Media to (re)hash: without a fingerprint of the current algorithm, or one that
    matching failed on (`_matches`: hashed, compared with nothing), or all."""
    query = select(Media.id).order_by(Media.first_captured_at, Media.id)
    if not everything:
        matched = select(Fingerprint.media_id).where(
            Fingerprint.algorithm == ALGORITHM,
            or_(Fingerprint.error.is_(None), Fingerprint.kind == "none"),
        )
        query = query.where(Media.id.not_in(matched))
    return list(session.scalars(query))


__all__ = [
    "DuplicateFinder",
    "Flag",
    "GroupView",
    "forget",
    "group_of",
    "list_groups",
    "sidecar_section",
    "stale_media",
    "to_fingerprint",
]
