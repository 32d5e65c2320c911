"""Near-duplicates in the archive: fingerprints stored, matched as they arrive, grouped.

``hashing`` computes fingerprints and ``match`` decides; this module keeps them in
the index, keeps one in-memory `FingerprintIndex` per process (loaded from the
database on first use, then updated incrementally), and maintains the groups:
near-duplicate pairs joined transitively, each group naming its **earliest** member
(platform upload date where known, else the first sighting).
"""

from __future__ import annotations

import logging
import struct
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, or_, select, text
from sqlalchemy.orm import Session, selectinload, undefer

from archiver.archive import Archive
from archiver.hashing import (
    ALGORITHM,
    FrameHash,
    HashingError,
    ImageFingerprint,
    VideoFingerprint,
    fingerprint,
)
from archiver.hashing import thumbnail as thumbnails
from archiver.index.models import (
    DuplicateGroup,
    DuplicateMember,
    DuplicatePair,
    Fingerprint,
    FrameHashRow,
    Media,
    utcnow,
)
from archiver.integrity.eventlog import logged_session
from archiver.integrity.events import record_duplicate
from archiver.logs import log_event
from archiver.match import FingerprintIndex, Match, compare
from archiver.match.compare import pack_image, pack_video, score_images, score_videos

AnyFingerprint = ImageFingerprint | VideoFingerprint
#: Fingerprints read per batch when the index loads (bounds the memory it takes).
LOAD_BATCH = 500
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


def _origin_key(media: Media) -> tuple[datetime, datetime, int]:
    """Earliest known instance: platform upload date where known, else first sighting."""
    seen = min((s.first_seen_at for s in media.sightings), default=media.first_captured_at)
    if media.platform_upload_date is not None:
        seen = min(seen, datetime.combine(media.platform_upload_date, time(), UTC))
    return seen, media.first_captured_at, media.id


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
    members: list[dict[str, Any]]  # {sha256, similarity, method}

    def to_json(self) -> dict[str, Any]:
        return {"group_id": self.group_id, "earliest": self.earliest, "members": self.members}


def group_view(group: DuplicateGroup) -> GroupView:
    members = sorted(group.members, key=lambda m: (-m.similarity, m.media.sha256))
    return GroupView(
        group.id,
        group.earliest.sha256,
        [
            {"sha256": m.media.sha256, "similarity": round(m.similarity, 4), "method": m.method}
            for m in members
        ],
    )


def list_groups(session: Session) -> list[GroupView]:
    groups = session.scalars(
        select(DuplicateGroup)
        .options(
            selectinload(DuplicateGroup.members).selectinload(DuplicateMember.media),
            selectinload(DuplicateGroup.earliest),
        )
        .order_by(DuplicateGroup.id)
    )
    return [group_view(g) for g in groups]


def group_of(session: Session, media_id: int) -> GroupView | None:
    member = session.scalar(select(DuplicateMember).where(DuplicateMember.media_id == media_id))
    return group_view(member.group) if member is not None else None


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
    }
    return section


def _summary(fp: Fingerprint) -> dict[str, Any]:
    if fp.kind == "image":
        return {
            "kind": "image",
            "width": fp.width,
            "height": fp.height,
            "hashes": dict(fp.hashes or {}),
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


class DuplicateFinder:
    """Fingerprints new files and flags near-duplicates against the whole archive."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.index = FingerprintIndex(keep_thumbnails=False)
        self.loaded_up_to = 0
        self.lock = threading.Lock()

    def refresh(self, session: Session) -> None:
        """Add fingerprints stored since the last look (by this or another process).

        Rows are streamed in batches as plain columns (no ORM objects, no thumbnails),
        so loading a large archive's index at start holds one batch at a time.
        """
        rows = session.execute(
            select(
                Fingerprint.id,
                Fingerprint.media_id,
                Fingerprint.kind,
                Fingerprint.width,
                Fingerprint.height,
                Fingerprint.duration,
                Fingerprint.hashes,
                Fingerprint.frame_hash_names,
            )
            .where(Fingerprint.id > self.loaded_up_to, Fingerprint.algorithm == ALGORITHM)
            .order_by(Fingerprint.id)
            .execution_options(yield_per=LOAD_BATCH)
        )
        for batch in rows.partitions():
            videos = [r.id for r in batch if r.kind == "video" and r.frame_hash_names is not None]
            frames = _frame_rows(session, videos)
            for r in batch:
                fp: AnyFingerprint | None = None
                if r.kind == "image" and r.hashes is not None:
                    fp = _image(r.width, r.height, r.hashes)
                elif r.id in frames:
                    fp = _video(r.duration, r.width, r.height, r.frame_hash_names, frames[r.id])
                if fp is not None and r.media_id not in self.index:
                    self.index.add(r.media_id, fp)
                self.loaded_up_to = max(self.loaded_up_to, r.id)

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
            fp = fingerprint(Path(path), media_type)  # type: ignore[arg-type]
        except HashingError as exc:
            error = str(exc)
        except Exception as exc:  # a decoder bug must not take the pipeline down
            logging.getLogger("archiver").exception("fingerprinting media %s failed", media_id)
            error = f"fingerprinting failed: {type(exc).__name__}"
        return self._record(media_id, fp, error)

    def _record(self, media_id: int, fp: AnyFingerprint | None, error: str | None) -> Flag:
        with self.lock, logged_session(self.archive) as session:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})
            if session.scalar(select(Fingerprint.id).where(Fingerprint.media_id == media_id)):
                return Flag(media_id, None, None, [], error)  # another worker got here first
            self.refresh(session)
            found = (
                [
                    (k, m)
                    for k, m in self.index.query(fp, limit=1000, thumbnails=_loader(session))
                    if k != media_id
                ]
                if fp
                else []
            )
            row = _fingerprint_row(media_id, fp, error)
            session.add(row)
            session.flush()
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
                error,
                affected,
            )
        if fp is not None:
            with self.lock:
                if media_id not in self.index:
                    self.index.add(media_id, fp)
        if flag.group_id is not None:
            log_event(
                "duplicate.flagged",
                media_id=media_id,
                group=flag.group_id,
                earliest=flag.earliest,
                matches=len(flag.matches),
            )
        return flag

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
        self._rescore(session, group, before)
        group.updated_at = now
        now_state = (group.id, group.earliest_media_id)
        changed = tuple(m.media_id for m in group.members if before.get(m.media_id) != now_state)
        return group, changed

    def _rescore(
        self,
        session: Session,
        group: DuplicateGroup,
        before: dict[int, tuple[int, int]],
    ) -> None:
        """Name the earliest member and every member's similarity to it.

        Members that were in this group under the same earliest member keep their
        score: only the new ones are compared (all of them when the earliest changes),
        so a group growing one copy at a time costs one comparison per copy.
        """
        medias = {
            m.id: m
            for m in session.scalars(
                select(Media)
                .where(Media.id.in_([m.media_id for m in group.members]))
                .options(selectinload(Media.sightings))
            )
        }
        earliest = min(medias.values(), key=_origin_key)
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
            match = raw_similarity(mine, origin) if mine and origin else None
            if match is not None:
                member.similarity, member.method = match.similarity, match.method
            else:
                best = _best_pair(session, member.media_id)
                member.similarity, member.method = best
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


def forget(session: Session, media_id: int) -> None:
    """Drop a file's fingerprint, pairs and membership (before rehashing it)."""
    session.execute(delete(Fingerprint).where(Fingerprint.media_id == media_id))
    session.execute(
        delete(DuplicatePair).where(
            or_(DuplicatePair.media_a_id == media_id, DuplicatePair.media_b_id == media_id)
        )
    )
    member = session.scalar(select(DuplicateMember).where(DuplicateMember.media_id == media_id))
    if member is None:
        return
    group_id = member.group_id
    session.delete(member)
    session.flush()
    left = session.scalar(
        select(func.count())
        .select_from(DuplicateMember)
        .where(DuplicateMember.group_id == group_id)
    )
    if not left or left < 2:
        session.execute(delete(DuplicateMember).where(DuplicateMember.group_id == group_id))
        session.execute(delete(DuplicateGroup).where(DuplicateGroup.id == group_id))


def rehash_archive(archive: Archive, *, everything: bool) -> int:
    """Fingerprint again what an older algorithm (or nothing) fingerprinted; regroup.

    Files are redone oldest first, so groups form in capture order. A rehashed file
    leaves its group first; a group left with one member is dissolved.
    """
    from archiver.capture import Capturer

    with archive.read_session() as session:
        todo = stale_media(session, everything)
    finder = archive.duplicates
    capturer = Capturer(archive)
    for media_id in todo:
        with archive.session() as session:
            forget(session, media_id)
        with finder.lock:
            if media_id in finder.index:
                finder.index.remove(media_id)
        flag = finder.process(media_id)
        for affected in (flag.affected if flag else ()) or (media_id,):
            capturer.rewrite_sidecar(affected)
    return len(todo)


def stale_media(session: Session, everything: bool) -> list[int]:
    """Media to (re)hash: without a fingerprint of the current algorithm, or all."""
    query = select(Media.id).order_by(Media.first_captured_at, Media.id)
    if not everything:
        current = select(Fingerprint.media_id).where(Fingerprint.algorithm == ALGORITHM)
        query = query.where(Media.id.not_in(current))
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
