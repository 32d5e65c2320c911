"""The SQL index: what is stored, where it was seen, and the work still to do.

The files on disk and their sidecars are the evidence; these tables index them so
investigators can search, and hold the job queue that drives capture.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, as every JSON output of archiver writes times."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the index; use UTC-aware datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        bool: Boolean(),
        float: Float(),
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
        int: Integer(),
    }


LED_TO_KEY = 200  # characters of a page version's `led_to` its index holds
LED_TO_START = f"substr(led_to, 1, {LED_TO_KEY})"
PLATFORM_NAME_LENGTH = 100
PLATFORM_ID_LENGTH = 200


class Media(Base):
    """One stored original, identified by the SHA-256 of its bytes."""

    __tablename__ = "media"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    md5: Mapped[str] = mapped_column(String(32), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    mime_type: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(16))  # video | image | audio
    path: Mapped[str] = mapped_column(Text)  # relative to the storage root
    first_captured_at: Mapped[datetime] = mapped_column(index=True)
    platform_extractor: Mapped[str | None] = mapped_column(String(PLATFORM_NAME_LENGTH))
    platform_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LENGTH), index=True)
    platform_title: Mapped[str | None] = mapped_column(Text)
    platform_uploader: Mapped[str | None] = mapped_column(Text)
    platform_upload_date: Mapped[date | None] = mapped_column(Date, index=True)  # UTC, or as said
    platform_uploaded_at: Mapped[datetime | None]  # the exact moment, when known
    platform_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # folded words of its titles, contexts and update labels, for `search --text`;
    # deferred: it grows with the file's sightings and only queries read it
    search_text: Mapped[str | None] = mapped_column(Text, deferred=True)
    # the files archiver placed beside it: name -> {"sha256", "size_bytes"}; None for a
    # file indexed before they were recorded (its sidecar's list stands for them)
    companions: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    sightings: Mapped[list[Sighting]] = relationship(
        back_populates="media", order_by="Sighting.first_seen_at"
    )


class Page(Base):
    """A page or feed item whose embeds were searched."""

    __tablename__ = "pages"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text, unique=True)
    title: Mapped[str | None] = mapped_column(Text)
    # the title the newest version showed: the page takes it once two in a row do
    seen_title: Mapped[str | None] = mapped_column(Text)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="SET NULL"))
    # unused since migration 0022: the digest is kept per source (`FeedEntryDigest`)
    feed_entry_sha256: Mapped[str | None] = mapped_column(String(64))
    # an older page of a page split into pages: the first page's address
    first_page_url: Mapped[str | None] = mapped_column(Text, index=True)
    first_fetched_at: Mapped[datetime]
    last_fetched_at: Mapped[datetime]
    # when a source's poll last judged which embeds left the page (`record_embeds`):
    # one seen only before then was judged then; captures in between judge nothing
    judged_at: Mapped[datetime | None]

    snapshots: Mapped[list[PageSnapshot]] = relationship(
        back_populates="page", order_by="PageSnapshot.first_fetched_at"
    )
    embeds: Mapped[list[Embed]] = relationship(back_populates="page", order_by="Embed.id")


class PageSnapshot(Base):
    """One distinct version (by SHA-256 of the raw bytes) of a page."""

    __tablename__ = "page_snapshots"
    __table_args__ = (
        UniqueConstraint("page_id", "sha256"),
        # where a page's address led (a short link's story): looked up by its start, as
        # a B-tree entry must stay short and an address may not (see `pages_read_as`)
        Index("ix_page_snapshots_led_to_start", text(LED_TO_START)),
        # a page's version as of a moment (the item page's "as archived then")
        Index("ix_page_snapshots_page_fetched", "page_id", "first_fetched_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("pages.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    path: Mapped[str] = mapped_column(Text)
    final_url: Mapped[str] = mapped_column(Text)
    # `final_url` as pages are recorded (`clean_url`: no tracking parameters, no
    # fragment), which a search by the story's own address finds
    led_to: Mapped[str | None] = mapped_column(Text)
    http_status: Mapped[int]
    headers: Mapped[dict[str, Any]] = mapped_column(JSON)
    first_fetched_at: Mapped[datetime]
    last_fetched_at: Mapped[datetime]

    page: Mapped[Page] = relationship(back_populates="snapshots")


class Embed(Base):
    """A piece of media a page embeds (or a URL captured directly, with no page)."""

    __tablename__ = "embeds"
    __table_args__ = (
        Index("uq_embeds_page_url", text("coalesce(page_id, 0)"), "url", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    page_id: Mapped[int | None] = mapped_column(
        ForeignKey("pages.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(Text, index=True)  # canonical
    original_url: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))  # file | platform | player
    platform: Mapped[str | None] = mapped_column(String(32))
    media_type: Mapped[str | None] = mapped_column(String(16))
    found_in: Mapped[str] = mapped_column(String(32))
    update_label: Mapped[str | None] = mapped_column(Text)
    context: Mapped[str | None] = mapped_column(Text)
    embed_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    posted_at: Mapped[datetime | None]  # the feed entry's published (else updated) date
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]
    # a version of the page itself held it, not only a feed entry that names the page
    # (an enclosure, a video the page draws by script): only then can it leave the page
    held_by_page: Mapped[bool] = mapped_column(default=True, server_default=true())

    page: Mapped[Page | None] = relationship(back_populates="embeds")
    sightings: Mapped[list[Sighting]] = relationship(back_populates="embed")


class Sighting(Base):
    """Stored bytes found through one embed, and how they were obtained."""

    __tablename__ = "sightings"
    __table_args__ = (UniqueConstraint("media_id", "embed_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"), index=True)
    embed_id: Mapped[int] = mapped_column(ForeignKey("embeds.id", ondelete="CASCADE"), index=True)
    media_url: Mapped[str] = mapped_column(Text)
    tool: Mapped[str] = mapped_column(String(32))  # httpx | yt-dlp
    tool_version: Mapped[str] = mapped_column(String(64))
    archiver_version: Mapped[str] = mapped_column(String(64))
    http_status: Mapped[int | None]
    response_headers: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    # the sighting (of the same file) whose download this one shares, when the URL
    # was archived a little earlier through another embed and not fetched again
    reused_from_id: Mapped[int | None] = mapped_column(
        ForeignKey("sightings.id", ondelete="SET NULL", name="fk_sightings_reused_from_id")
    )

    media: Mapped[Media] = relationship(back_populates="sightings")
    embed: Mapped[Embed] = relationship(back_populates="sightings")


class JobState(StrEnum):
    """A capture job's state (`archiver.jobs` tells what each means)."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"
    GONE = "gone"


class CaptureJob(Base):
    """Durable work: one URL to capture, retried with backoff until done or given up."""

    __tablename__ = "capture_jobs"
    __table_args__ = (
        # the claim query: due claimable jobs in next_attempt_at order
        Index(
            "ix_capture_jobs_claimable",
            "next_attempt_at",
            sqlite_where=text("state IN ('pending', 'failed', 'running')"),
            postgresql_where=text("state IN ('pending', 'failed', 'running')"),
        ),
        # one job per URL captured as a page (embed jobs are unique by embed_id)
        Index(
            "uq_capture_jobs_url",
            "url",
            unique=True,
            sqlite_where=text("embed_id IS NULL"),
            postgresql_where=text("embed_id IS NULL"),
        ),
        # counts by state and the newest failures (`archiver status`)
        Index("ix_capture_jobs_state_updated", "state", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    embed_id: Mapped[int | None] = mapped_column(
        ForeignKey("embeds.id", ondelete="CASCADE"), unique=True
    )
    state: Mapped[str] = mapped_column(String(16), default="pending")  # see JobState
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]  # None: not scheduled (done, or given up)
    last_error: Mapped[str | None] = mapped_column(Text)
    ytdlp_version: Mapped[str | None] = mapped_column(String(64))  # when yt-dlp gave last_error
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]
    # its worker died while it ran beside other jobs: it runs alone next (`jobs.abandon`)
    run_alone: Mapped[bool] = mapped_column(default=False, server_default=false())
    # when it was due as it was last started: its place in the queue, kept for when it
    # is cut short (`jobs.back_in_line`)
    due_at: Mapped[datetime | None]
    # when a poll found the page changed (its feed entry did) while this run of the job
    # was under way: it ends pending, for a capture of the new version (`jobs.finish`)
    page_changed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    embed: Mapped[Embed | None] = relationship()


class Source(Base):
    """A feed or live page polled on a schedule."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(8))  # auto | feed | page (as asked)
    detected_kind: Mapped[str | None] = mapped_column(String(8))  # feed | page once polled
    every_seconds: Mapped[float]
    paused: Mapped[bool] = mapped_column(default=False)
    from_config: Mapped[bool] = mapped_column(default=False)
    next_poll_at: Mapped[datetime] = mapped_column(index=True)
    claimed_by: Mapped[str | None] = mapped_column(String(200))  # host:pid polling it now
    claimed_at: Mapped[datetime | None]  # when: a process started since only reused its pid
    last_polled_at: Mapped[datetime | None]
    fetched_whole_at: Mapped[datetime | None]  # last answered with a body, not a 304
    # a live page's older pages last read back to `[polling] older_pages` (`read_back`)
    read_back_at: Mapped[datetime | None]
    last_result: Mapped[str | None] = mapped_column(String(16))  # changed | unchanged | error
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_errors: Mapped[int] = mapped_column(default=0)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    content_sha256: Mapped[str | None] = mapped_column(String(64))  # of the last body
    created_at: Mapped[datetime]


class LinkCheck(Base):
    """Liveness of one URL an archived page embeds (or of the page itself)."""

    __tablename__ = "link_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text, unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # file | platform | player | page
    platform: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str | None] = mapped_column(String(16))  # live | gone | restricted | error
    reason: Mapped[str | None] = mapped_column(Text)
    http_status: Mapped[int | None]
    probe: Mapped[str | None] = mapped_column(String(32))
    checked_at: Mapped[datetime | None]
    next_check_at: Mapped[datetime] = mapped_column(index=True)
    consecutive_errors: Mapped[int] = mapped_column(default=0)
    first_seen_dead_at: Mapped[datetime | None]  # when it last turned gone or restricted
    came_back_at: Mapped[datetime | None]  # when it last returned to live after that
    created_at: Mapped[datetime]

    events: Mapped[list[LinkCheckEvent]] = relationship(
        back_populates="check", order_by="LinkCheckEvent.at"
    )


class LinkCheckEvent(Base):
    """A change of liveness status: the history editors and investigators see."""

    __tablename__ = "link_check_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    check_id: Mapped[int] = mapped_column(
        ForeignKey("link_checks.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime]
    previous_status: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    http_status: Mapped[int | None]

    check: Mapped[LinkCheck] = relationship(back_populates="events")


class Event(Base):
    """One entry of the tamper-evident event log: each carries the previous one's hash."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)  # 1, 2, 3 ... without gaps
    at: Mapped[datetime]
    type: Mapped[str] = mapped_column(String(32), index=True)
    media_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_sha256: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)


class Fingerprint(Base):
    """A stored file's perceptual fingerprint (or why it has none), by algorithm."""

    __tablename__ = "fingerprints"

    id: Mapped[int] = mapped_column(primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"), unique=True)
    algorithm: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))  # image | video | none
    width: Mapped[int | None]
    height: Mapped[int | None]
    duration: Mapped[float | None]
    hashes: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # image: name -> hex
    # image: its 64 px grey thumbnail, row-major, and its width. Deferred and never
    # loaded by accident: only candidates being verified need the pixels.
    thumbnail_width: Mapped[int | None]
    thumbnail: Mapped[bytes | None] = mapped_column(
        LargeBinary, deferred=True, deferred_raiseload=True
    )
    frame_hash_names: Mapped[list[str] | None] = mapped_column(JSON)  # video: packing order
    frame_count: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)  # why hashing, or matching, failed
    created_at: Mapped[datetime]

    media: Mapped[Media] = relationship()
    frames: Mapped[list[FrameHashRow]] = relationship(order_by="FrameHashRow.t")


class FrameHashRow(Base):
    """One sampled video frame: its time and its hashes packed as big-endian uint64s in
    the order of ``Fingerprint.frame_hash_names``."""

    __tablename__ = "frame_hashes"

    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint_id: Mapped[int] = mapped_column(
        ForeignKey("fingerprints.id", ondelete="CASCADE"), index=True
    )
    t: Mapped[float]
    hashes: Mapped[bytes] = mapped_column(LargeBinary)


class DuplicatePair(Base):
    """Two stored files the decision rules call near-duplicates (low id first)."""

    __tablename__ = "duplicate_pairs"
    __table_args__ = (UniqueConstraint("media_a_id", "media_b_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    media_a_id: Mapped[int] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"))
    media_b_id: Mapped[int] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"), index=True)
    similarity: Mapped[float]
    method: Mapped[str] = mapped_column(String(64))
    found_at: Mapped[datetime]


class DuplicateGroup(Base):
    """Near-duplicate pairs joined into groups; the earliest member is the likely original."""

    __tablename__ = "duplicate_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    earliest_media_id: Mapped[int] = mapped_column(ForeignKey("media.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    members: Mapped[list[DuplicateMember]] = relationship(
        back_populates="group", order_by="DuplicateMember.media_id"
    )
    earliest: Mapped[Media] = relationship()


class DuplicateMember(Base):
    __tablename__ = "duplicate_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(
        ForeignKey("duplicate_groups.id", ondelete="CASCADE"), index=True
    )
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"), unique=True)
    similarity: Mapped[float]  # to the group's earliest member, 1.0 for itself
    method: Mapped[str] = mapped_column(String(64))

    group: Mapped[DuplicateGroup] = relationship(back_populates="members")
    media: Mapped[Media] = relationship()


class FeedEntryDigest(Base):
    """The digest of what a feed's entries said of a page they link, when last indexed:
    an entry unchanged since is skipped. Kept per feed, as two feeds linking one story
    say different things of it."""

    __tablename__ = "feed_entry_digests"

    source_id: Mapped[int] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
    )
    page_id: Mapped[int] = mapped_column(
        ForeignKey("pages.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(String(64))
    # the title the entries last gave the page: a new one is taken, the same one
    # again is not (the page's own title may have replaced it since)
    title: Mapped[str | None] = mapped_column(Text)


class WebhookOutbox(Base):
    """A liveness event owed to the webhook: written in the transaction that records the
    status change it tells of, removed once the receiver took it (or refused it for
    good), so neither a receiver that is down nor a shutdown loses it."""

    __tablename__ = "webhook_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    event: Mapped[dict[str, Any]] = mapped_column(JSON)  # the body POSTed
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)  # deliveries that failed
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)
    last_error: Mapped[str | None] = mapped_column(Text)


class SidecarDebt(Base):
    """A sidecar owed a rewrite: added in the transaction that changed what it says,
    removed once it is rewritten. Sidecars are written after the commit (an fsync
    must not hold the database's write lock), so a crash in between leaves debts,
    which the next start pays (`Capturer.recover`)."""

    __tablename__ = "sidecar_debts"

    id: Mapped[int] = mapped_column(primary_key=True)
    media_id: Mapped[int | None] = mapped_column(
        ForeignKey("media.id", ondelete="CASCADE"), index=True
    )
    page_sha256: Mapped[str | None] = mapped_column(String(64), index=True)


class Placement(Base):
    """A downloaded file about to be linked into ``media/`` (seen through ``embed_id``),
    or a page version into ``pages/`` (no embed), with all its index needs: written
    before the link, removed by the transaction that indexes it. What a crash left
    linked but unindexed is indexed from it at the next start, so evidence is never
    on disk without its provenance (`Capturer.recover`)."""

    __tablename__ = "placements"

    id: Mapped[int] = mapped_column(primary_key=True)
    embed_id: Mapped[int | None] = mapped_column(
        ForeignKey("embeds.id", ondelete="CASCADE"), index=True
    )
    sha256: Mapped[str] = mapped_column(String(64))
    intent: Mapped[dict[str, Any]] = mapped_column(JSON)
    owner: Mapped[str | None] = mapped_column(String(200))  # host:pid of its writer
    created_at: Mapped[datetime]
