"""Writes to the index that must hold when several workers race: get-or-create and upsert."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from sqlalchemy import CompoundSelect, Select, literal_column, select, text, union
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from archiver.extract import FoundEmbed
from archiver.extract.urls import clean_url, url_spellings
from archiver.index.debts import owe_media_sidecars
from archiver.index.models import (
    LED_TO_KEY,
    LED_TO_START,
    PLATFORM_ID_LENGTH,
    PLATFORM_NAME_LENGTH,
    Embed,
    Media,
    Page,
    PageSnapshot,
    Sighting,
    Source,
    iso,
    utcnow,
)
from archiver.index.textindex import fold_text

T = TypeVar("T")

#: PostgreSQL advisory lock space (two-key form) of page addresses being created.
PAGE_LOCK = 727471


def get_or_create(
    session: Session, find: Callable[[], T | None], make: Callable[[], T]
) -> tuple[T, bool]:
    """The row ``find`` sees, else a new ``make()`` row (True); safe against a racing insert."""
    row = find()
    if row is not None:
        return row, False
    if session.get_bind().dialect.name == "sqlite":
        # SQLite transactions here hold the write lock from BEGIN: no insert can race us
        row = make()
        session.add(row)
        session.flush()
        return row, True
    try:
        with session.begin_nested():
            row = make()
            session.add(row)
            session.flush()
        return row, True
    except IntegrityError:
        row = find()
        if row is None:
            raise
        return row, False


@dataclass(frozen=True)
class PlatformFacts:
    """What a platform (or a player page's JSON-LD) says about a file."""

    extractor: str
    id: str | None
    title: str | None
    uploader: str | None
    upload_date: date | None  # the UTC day
    metadata: dict[str, Any]
    uploaded_at: datetime | None = None  # the exact moment, when the platform gave a time


#: How far behind UTC a time zone goes (UTC-12): a day or a time given without its
#: zone may end this long after the same day or time in UTC.
WESTMOST_ZONE = timedelta(hours=12)


def uploaded_by(day: date | None, moment: datetime | None) -> datetime | None:
    """The latest moment an upload can have been made: its time when the platform gave
    it with an offset, else the end of its date in the westernmost time zone (D+1 12:00
    UTC). A date alone may be a local one (a JSON-LD time without an offset, kept as its
    date; some yt-dlp extractors): read as a UTC day, an upload at 20:00 in California
    counted from before a copy first seen three hours before it was made."""
    if moment is not None:
        return moment
    if day is None:
        return None
    try:
        return datetime.combine(day, time(), UTC) + timedelta(days=1) + WESTMOST_ZONE
    except OverflowError:  # the calendar's last day: it ends after anything seen
        return datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Acquisition:
    """How a file was obtained: kept on the sighting and in the sidecar."""

    media_url: str
    tool: str
    tool_version: str
    archiver_version: str
    http_status: int | None
    response_headers: dict[str, str] | None

    @classmethod
    def of(cls, sighting: Sighting) -> Acquisition:
        """How an earlier sighting's bytes were obtained (a sighting that shares them)."""
        return cls(
            media_url=sighting.media_url,
            tool=sighting.tool,
            tool_version=sighting.tool_version,
            archiver_version=sighting.archiver_version,
            http_status=sighting.http_status,
            response_headers=sighting.response_headers,
        )


def find_page(session: Session, url: str) -> Page | None:
    """The row of the page at ``url``: of whichever spelling of the address reached the
    archive first (letters or percent-escapes in either case, `url_spellings`)."""
    return session.scalar(
        select(Page).where(Page.url.in_(url_spellings(url))).order_by(Page.id).limit(1)
    )


def upsert_page(session: Session, url: str, title: str | None, at: datetime) -> Page:
    """The page at ``url`` (`find_page`), so one page is one row however pages and
    feeds write its address."""
    spellings = url_spellings(url)

    def find() -> Page | None:
        return find_page(session, url)

    page = find()
    if page is None:
        _lock_spellings(session, spellings)
        page, _ = get_or_create(
            session,
            find,
            lambda: Page(url=url, title=title, first_fetched_at=at, last_fetched_at=at),
        )
    assert page is not None
    page.last_fetched_at = max(page.last_fetched_at, at)
    return page


def _lock_spellings(session: Session, spellings: list[str]) -> None:
    """On PostgreSQL, take a lock per spelling (held to commit), in one order.

    The unique key on `Page.url` stops a second row under one spelling, not under
    another: two workers creating `/حلب` and `/%D8%AD…` at once both found nothing
    and made two rows. Spellings of one address share locks, so the second waits for
    the first's commit and then finds its row. (SQLite writers already take turns.)
    In a transaction that appends to the event log it comes after that log's lock,
    which `logged_session` takes first; elsewhere it is the first lock taken.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for key in sorted({_int4(zlib.crc32(spelling.encode())) for spelling in spellings}):
        session.execute(
            text("SELECT pg_advisory_xact_lock(:space, :key)"), {"space": PAGE_LOCK, "key": key}
        )


def _int4(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value


def title_held(page: Page, title: str | None) -> bool:
    """Whether a version's ``title`` may retitle the page (`retitle_page`): the page has
    none yet, or the version before showed it too; the title is noted as the newest
    seen (``Page.seen_title``) for the next version to be judged by. A title that changes with every
    version (a clock, a count of new posts) is not followed: each change rewrote the
    sidecar of every file seen on the page, at every poll."""
    seen, page.seen_title = page.seen_title, title or page.seen_title
    return page.title is None or title == seen


def retitle_page(session: Session, page: Page, title: str | None) -> list[int]:
    """Give a page the title its newest version shows.

    The files seen on the page are found by its title too, so their search documents
    follow; their ids are returned for their sidecars (which name the title) to follow
    once this is committed.
    """
    if not title or title == page.title:
        return []
    page.title = title
    seen_here = select(Sighting.media_id).join(Embed).where(Embed.page_id == page.id)
    media = session.scalars(select(Media).where(Media.id.in_(seen_here))).all()
    for item in media:
        item.search_text = search_document(session, item)
    owe_media_sidecars(session, [item.id for item in media])
    return [item.id for item in media]


def upsert_snapshot(
    session: Session,
    page: Page,
    *,
    sha256: str,
    size_bytes: int,
    path: str,
    final_url: str,
    http_status: int,
    headers: dict[str, str],
    at: datetime,
) -> tuple[PageSnapshot, bool]:
    """Record one fetch of a page version; True when this version is new."""
    snapshot, created = get_or_create(
        session,
        lambda: session.scalar(
            select(PageSnapshot).where(
                PageSnapshot.page_id == page.id, PageSnapshot.sha256 == sha256
            )
        ),
        lambda: PageSnapshot(
            page_id=page.id,
            sha256=sha256,
            size_bytes=size_bytes,
            path=path,
            final_url=final_url,
            led_to=clean_url(final_url),
            http_status=http_status,
            headers=headers,
            first_fetched_at=at,
            last_fetched_at=at,
        ),
    )
    snapshot.last_fetched_at = max(snapshot.last_fetched_at, at)
    return snapshot, created


#: The key of an embed's other placements on its page in ``embeds.embed_metadata``.
PLACEMENTS_KEY = "other_placements"


def embed_metadata(found: FoundEmbed) -> dict[str, Any] | None:
    """What an embed's row keeps besides its columns: the page's words about the media
    and the other places on the page it is embedded (`FoundEmbed.placements`)."""
    data: dict[str, Any] = dict(found.metadata)
    if found.placements:
        data[PLACEMENTS_KEY] = [{"update": u, "context": c} for u, c in found.placements]
    return data or None


def placements_of(metadata: dict[str, Any] | None) -> list[dict[str, Any]]:
    """An embed's other placements on its page, from its ``embed_metadata``."""
    found = (metadata or {}).get(PLACEMENTS_KEY)
    return [place for place in found if isinstance(place, dict)] if isinstance(found, list) else []


def placement_texts(metadata: dict[str, Any] | None) -> list[str]:
    """The words of an embed's other placements, for the search text."""
    places = placements_of(metadata)
    return [text for place in places for text in place.values() if isinstance(text, str)]


def upsert_embed(session: Session, page: Page | None, found: FoundEmbed, at: datetime) -> Embed:
    """The embed a version of ``page`` holds (or a URL captured directly): from now on
    one that leaves the page can be judged removed, also when a feed entry gave it
    first (`bulk.embed_row`)."""
    page_id = page.id if page is not None else None
    embed, _ = get_or_create(
        session,
        lambda: session.scalar(
            select(Embed).where(
                Embed.page_id.is_(None) if page_id is None else Embed.page_id == page_id,
                Embed.url == found.url,
            )
        ),
        lambda: Embed(
            page_id=page_id,
            url=found.url,
            original_url=found.original_url,
            kind=found.kind,
            platform=found.platform,
            media_type=found.media_type,
            found_in=found.found_in,
            update_label=found.update,
            context=found.context,
            embed_metadata=embed_metadata(found),
            posted_at=found.posted_at,
            first_seen_at=at,
            last_seen_at=at,
        ),
    )
    embed.last_seen_at = max(embed.last_seen_at, at)
    embed.held_by_page = True
    if embed.removed_at is not None and at >= embed.removed_at:
        embed.removed_at = None  # back on the page (a version older than the removal is not)
    return embed


def upsert_media(
    session: Session,
    *,
    sha256: str,
    md5: str,
    size_bytes: int,
    mime_type: str,
    media_type: str,
    path: str,
    at: datetime,
    platform: PlatformFacts | None,
    media_url: str | None = None,
) -> tuple[Media, bool]:
    """The file's row, and whether it was made now. A download dated ``at`` before
    the row's ``first_captured_at`` (a crash left it for the next start to index, and
    another capture brought the same bytes in meanwhile) moves that back: it is when
    the bytes first entered the archive. The platform's facts are the first download's
    that had any; a later one's upload date is taken when it is earlier (`_dated_by`).
    ``media_url``: where this download came from."""
    media, created = get_or_create(
        session,
        lambda: session.scalar(select(Media).where(Media.sha256 == sha256)),
        lambda: Media(
            sha256=sha256,
            md5=md5,
            size_bytes=size_bytes,
            mime_type=mime_type,
            media_type=media_type,
            path=path,
            first_captured_at=at,
        ),
    )
    media.first_captured_at = min(media.first_captured_at, at)
    if platform is not None and media.platform_extractor is None:
        media.platform_extractor = platform.extractor[:PLATFORM_NAME_LENGTH]
        # a generic extractor names a file by its URL's last segment, of any length;
        # the whole id stays in the platform metadata and the info JSON
        media.platform_id = platform.id[:PLATFORM_ID_LENGTH] if platform.id else None
        media.platform_title = platform.title
        media.platform_uploader = platform.uploader
        media.platform_upload_date = platform.upload_date
        media.platform_uploaded_at = platform.uploaded_at
        media.platform_metadata = platform.metadata
    elif platform is not None:
        _dated_by(media, platform, media_url)
    return media, created


def _dated_by(media: Media, platform: PlatformFacts, media_url: str | None) -> None:
    """Take a later download's upload date and moment when they date the file earlier
    (`uploaded_by`) than its first facts did, or those gave none: the first download of
    an original from a player page without a date, or by yt-dlp's generic extractor,
    left a copy its group's earliest member for good when the same bytes came from a
    platform dating the upload years before. The rest of the facts stay the first
    download's; ``metadata.dated_by`` names the download the date is from."""
    taken = uploaded_by(media.platform_upload_date, media.platform_uploaded_at)
    offered = uploaded_by(platform.upload_date, platform.uploaded_at)
    if offered is None or (taken is not None and offered >= taken):
        return
    media.platform_upload_date = platform.upload_date
    media.platform_uploaded_at = platform.uploaded_at
    source = {"extractor": platform.extractor, "id": platform.id, "media_url": media_url}
    media.platform_metadata = {**(media.platform_metadata or {}), "dated_by": source}


#: Where and how each sighting was: what search results, the item page and the
#: sidecar show of it (`sighting_rows`).
SIGHTING_COLUMNS = (
    Page.url.label("page_url"),
    Page.title.label("page_title"),
    Embed.update_label,
    Embed.context,
    Embed.posted_at,
    Embed.url.label("embed_url"),
    Sighting.media_url,
    Sighting.first_seen_at,
    Embed.embed_metadata,  # its other placements on the page
)


def sighting_rows(*columns: Any) -> Select[Any]:
    """A query of ``columns`` of sightings, their embeds and their pages (none for a
    URL captured directly): what the sidecar, search results, the search text and
    verify read."""
    return (
        select(*columns)
        .select_from(Sighting)
        .join(Embed, Sighting.embed_id == Embed.id)
        .outerjoin(Page, Embed.page_id == Page.id)
    )


def search_document(session: Session, media: Media) -> str:
    """The words ``search --text`` looks in: platform title, and for every sighting
    its context, update label and page title, and those of its embed's other
    placements on the page; folded (`fold_text`), in one column.

    Read in one query: loading each sighting's embed and page one by one, inside the
    write transaction, made a file seen on hundreds of pages slower with each page.
    """
    seen = session.execute(
        sighting_rows(Embed.context, Embed.update_label, Page.title, Embed.embed_metadata)
        .where(Sighting.media_id == media.id)
        .order_by(Sighting.first_seen_at, Sighting.id)
    )
    parts = [media.platform_title or ""]
    for context, update, title, metadata in seen:
        parts += [context or "", update or "", title or "", *placement_texts(metadata)]
    # each text once: a file embedded with one caption on thousands of pages (or under
    # one update label, or one page's title) made a document thousands of times longer
    return fold_text(" ".join(dict.fromkeys(part for part in parts if part)))


def with_sighting(document: str | None, *texts: str | None) -> str:
    """A file's search text (`search_document`) with a new sighting's texts added,
    each unless it is in it already. A word never spans two texts, so a search finds
    what it would in the document made again from every sighting; making it again at
    each new sighting read them all, in the write transaction."""
    folded = document or ""
    for said in texts:
        if said and (part := fold_text(said)) not in folded:
            folded = f"{folded} {part}" if folded else part
    return folded


def upsert_sighting(
    session: Session,
    media: Media,
    embed: Embed,
    acquisition: Acquisition,
    at: datetime,
    reused_from: Sighting | None = None,
) -> Sighting:
    """The file's sighting through this embed, made on first sight; ``reused_from``: the
    earlier sighting whose download a new one shares (it was not fetched again)."""
    sighting, _ = get_or_create(
        session,
        lambda: session.scalar(
            select(Sighting).where(Sighting.media_id == media.id, Sighting.embed_id == embed.id)
        ),
        lambda: Sighting(
            media_id=media.id,
            embed_id=embed.id,
            media_url=acquisition.media_url,
            tool=acquisition.tool,
            tool_version=acquisition.tool_version,
            archiver_version=acquisition.archiver_version,
            http_status=acquisition.http_status,
            response_headers=acquisition.response_headers,
            first_seen_at=at,
            last_seen_at=at,
            reused_from_id=reused_from.id if reused_from is not None else None,
        ),
    )
    sighting.last_seen_at = max(sighting.last_seen_at, at)
    return sighting


def shared_download(first: Sighting | None) -> dict[str, Any] | None:
    """Where and when the sighting was whose download a later one shares (its
    ``reused_from``), for the sidecar and the event log."""
    if first is None:
        return None
    return {
        "page_url": first.embed.page.url if first.embed.page else None,
        "embed_url": first.embed.url,
        "first_seen_at": iso(first.first_seen_at),
    }


def pages_read_as(urls: list[str]) -> CompoundSelect[tuple[int]]:
    """Ids of the pages at ``urls``, of those whose address led there (a short link,
    a redirect), and of their older pages: those that name one as their first page,
    and a live page source's (its pages are itself and the older pages read with it)."""
    of_source = select(Page.id).join(Source, Source.id == Page.source_id)
    of_source = of_source.where(Source.url.in_(urls), Source.detected_kind == "page")
    older = select(Page.id).where(Page.first_page_url.in_(urls))
    led_there = select(PageSnapshot.page_id).where(
        literal_column(LED_TO_START).in_([url[:LED_TO_KEY] for url in urls]),  # indexed
        # the whole address, as an expression: SQLite would rather build a throwaway
        # index on the bare column for each search than use the one above
        PageSnapshot.led_to.concat("").in_(urls),
    )
    return union(select(Page.id).where(Page.url.in_(urls)), older, of_source, led_there)


def live_source(session: Session, source_id: int | None) -> int | None:
    """`source_id` if that source still exists, else None: a source can be removed
    while it is being polled, and its pages must not name it then.

    On PostgreSQL the row is held (``FOR KEY SHARE``) until the commit, so the
    removal waits for this transaction instead of failing its foreign key.
    """
    if source_id is None:
        return None
    query = select(Source.id).where(Source.id == source_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(key_share=True)
    return session.scalar(query)


__all__ = [
    "SIGHTING_COLUMNS",
    "Acquisition",
    "PlatformFacts",
    "get_or_create",
    "pages_read_as",
    "retitle_page",
    "shared_download",
    "sighting_rows",
    "title_held",
    "uploaded_by",
    "upsert_embed",
    "upsert_media",
    "upsert_page",
    "upsert_sighting",
    "upsert_snapshot",
    "utcnow",
    "with_sighting",
]
