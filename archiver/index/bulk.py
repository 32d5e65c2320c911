"""Set-based writes for the one place rows arrive by the thousand: feed entries.

The row-at-a-time upserts in ``records`` cost a few milliseconds each through the
ORM; a first poll of a feed with 10,000 entries needs tens of thousands of them.
Here each batch is a handful of multi-row statements with ``ON CONFLICT DO
NOTHING`` (SQLite and PostgreSQL), so concurrent daemons cannot collide either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, case, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from archiver import jobs
from archiver.extract import FoundEmbed
from archiver.extract.urls import respelled_only, url_spellings
from archiver.index.models import CaptureJob, Embed, FeedEntryDigest, JobState, Page
from archiver.index.records import embed_metadata, live_source, retitle_page


@dataclass(frozen=True)
class EntryRecord:
    link: str
    title: str | None
    digest: str  # SHA-256 of the entry's HTML and attachments
    embeds: list[FoundEmbed]
    page_job: bool = True  # False when the link is itself media: one of the embeds


def insert_ignoring_duplicates(
    session: Session, table: Table, rows: Sequence[dict[str, Any]]
) -> None:
    if not rows:
        return
    session.execute(_insert(session, table).on_conflict_do_nothing(), list(rows))


def _insert(session: Session, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that can say what a conflict does, in the session's dialect."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def entry_digests(session: Session, source_id: int, links: list[str]) -> dict[str, str]:
    """The digest of what this source's entries last said of each of these links, its
    page kept under any spelling of it (`url_spellings`: the page kept as ``/حلب``,
    the feed now writing ``/%D8%AD…``, is no changed entry)."""
    link_of: dict[str, str] = {}
    for link in links:
        for spelling in url_spellings(link):
            link_of.setdefault(spelling, link)
    wanted = sorted(link_of)
    found: dict[str, str] = {}
    for start in range(0, len(wanted), _LOOKUP_BATCH):
        rows = session.execute(
            select(Page.url, FeedEntryDigest.digest)
            .join(FeedEntryDigest, FeedEntryDigest.page_id == Page.id)
            .where(
                FeedEntryDigest.source_id == source_id,
                Page.url.in_(wanted[start : start + _LOOKUP_BATCH]),
            )
        )
        found.update({link_of[url]: digest for url, digest in rows})
    return found


def _titles_given(
    session: Session, source_id: int | None, page_ids: list[int]
) -> dict[int, str | None]:
    """The title this source's entries last gave each of these pages, by page (None,
    or missing: none)."""
    if source_id is None:
        return {}
    rows = session.execute(
        select(FeedEntryDigest.page_id, FeedEntryDigest.title).where(
            FeedEntryDigest.source_id == source_id, FeedEntryDigest.page_id.in_(page_ids)
        )
    )
    return {page_id: title for page_id, title in rows}


def _record_digests(
    session: Session, source_id: int, digests: list[tuple[int, str, str | None]]
) -> None:
    """Keep what the source's entries now say of their pages, and the title they give
    each (sorted by page, as every poller writes them: no two wait on each other's
    rows)."""
    table = cast(Table, FeedEntryDigest.__table__)
    statement = _insert(session, table)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.source_id, table.c.page_id],
            set_={"digest": statement.excluded.digest, "title": statement.excluded.title},
        ),
        [
            {"source_id": source_id, "page_id": page_id, "digest": digest, "title": title}
            for page_id, digest, title in sorted(digests, key=lambda row: row[0])
        ],
    )


def _as_kept(session: Session, links: list[str]) -> dict[str, str]:
    """Each link as the archive spells its page: the spelling of the page kept already
    (letters or percent-escapes, `url_spellings`, as `upsert_page` finds it), else the
    first of this batch's spellings of it. A feed writing ``/%D8%AD…`` for a page
    captured as ``/حلب`` made a second row, and a second capture of the page."""
    options = {link: url_spellings(link) for link in links}
    wanted = sorted({spelling for spellings in options.values() for spelling in spellings})
    kept: dict[str, int] = {}
    for start in range(0, len(wanted), _LOOKUP_BATCH):
        part = wanted[start : start + _LOOKUP_BATCH]
        rows = session.execute(select(Page.url, Page.id).where(Page.url.in_(part)))
        kept.update((url, page_id) for url, page_id in rows)
    chosen: dict[str, str] = {}  # a spelling -> the link of this batch that stands for it
    spelled = {}
    for link, spellings in options.items():
        found = sorted((kept[s], s) for s in spellings if s in kept)
        first = found[0][1] if found else next((chosen[s] for s in spellings if s in chosen), link)
        for spelling in spellings:
            chosen.setdefault(spelling, first)
        spelled[link] = first
    return spelled


_LOOKUP_BATCH = 1000  # addresses per query (SQLite binds at most 32,766 at once)


def record_feed_entries(
    session: Session,
    source_id: int,
    entries: list[EntryRecord],
    now: datetime,
    retitled: list[int] | None = None,
    unsettled: list[str] | None = None,
) -> int:
    """Index a batch of new or changed feed entries: a page per entry link, its
    embeds, a capture job for each embed and one for the linked page itself (unless
    the link is media, and so one of the embeds), queued again when it had finished,
    or as it ends when it was running (`jobs.mark_changed`).
    A page an entry retitles gives its files' search text the new title; their ids
    go to ``retitled``, for their sidecars (owed, see `SidecarDebt`). An entry whose
    page's running capture could not be told of the change is not recorded as read:
    its link goes to ``unsettled``, for the next poll to read it again.

    Returns how many embeds were new.
    """
    if not entries:
        return 0
    spelled = _as_kept(session, [e.link for e in entries])
    merged: dict[str, EntryRecord] = {}  # two spellings of one page: one entry
    for entry in entries:
        link = spelled[entry.link]
        if link in merged:
            merged[link] = replace(merged[link], embeds=merged[link].embeds + entry.embeds)
        else:
            merged[link] = replace(entry, link=link)
    entries = list(merged.values())
    # One order for every poller: two inserting or updating the same links in
    # different orders could otherwise wait on each other's rows (a deadlock).
    entries = sorted(entries, key=lambda e: e.link)
    links = [e.link for e in entries]
    insert_ignoring_duplicates(
        session,
        Page.__table__,  # type: ignore[arg-type]
        [
            {"url": e.link, "title": e.title, "first_fetched_at": now, "last_fetched_at": now}
            for e in entries
        ],
    )
    pages = session.execute(select(Page.url, Page.id, Page.title).where(Page.url.in_(links)))
    page_ids, titles = {}, {}
    for url, page_id, title in pages:
        page_ids[url], titles[page_id] = page_id, title
    source = live_source(session, source_id)
    given = _titles_given(session, source, list(page_ids.values()))
    new_titles = {  # a title new to the entry (the page may have its own since)
        e.link: e.title for e in entries if e.title and given.get(page_ids[e.link]) != e.title
    }
    for entry in entries:  # few: a title changes seldom, and a new page has no files yet
        title = new_titles.get(entry.link)
        if title and title != titles[page_ids[entry.link]]:
            files = retitle_page(session, session.get_one(Page, page_ids[entry.link]), title)
            if retitled is not None:
                retitled.extend(files)
    page = cast(Table, Page.__table__)
    at = bindparam("at", type_=page.c.last_fetched_at.type)
    session.execute(
        update(page)
        .where(page.c.id == bindparam("page_id"))
        .values(
            # a title only where the entry has one; a capture of the page may have
            # committed a later fetch time since this poll began
            title=func.coalesce(bindparam("entry_title", type_=page.c.title.type), page.c.title),
            source_id=source,
            last_fetched_at=case(
                (page.c.last_fetched_at.is_(None), at),
                (page.c.last_fetched_at < at, at),
                else_=page.c.last_fetched_at,
            ),
        ),
        [
            {"page_id": page_ids[e.link], "entry_title": new_titles.get(e.link), "at": now}
            for e in entries
        ],
    )
    page_links = [e.link for e in entries if e.page_job]
    insert_ignoring_duplicates(
        session,
        CaptureJob.__table__,  # type: ignore[arg-type]
        pending_job_rows([(link, None) for link in page_links], now),
    )
    # a changed entry's page may have changed too (a developing story, a live blog):
    # captured again, also after a failure for good (the feed went out before the page
    # was up: a 404); a capture under way may have fetched it before the change, and
    # runs again as it ends; one waiting to be retried fetches it then
    unmarked = jobs.mark_changed(session, page_links, now)
    session.execute(
        update(CaptureJob)
        .where(
            CaptureJob.embed_id.is_(None),
            CaptureJob.url.in_(page_links),
            or_(
                CaptureJob.state.in_((JobState.DONE, JobState.GONE)),
                and_(CaptureJob.state == JobState.FAILED, CaptureJob.next_attempt_at.is_(None)),
            ),
        )
        .values(state=JobState.PENDING, attempts=0, next_attempt_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    ids = list(page_ids.values())
    known = {
        (page_id, url): (embed_id, spelling)
        for page_id, url, embed_id, spelling in session.execute(
            select(Embed.page_id, Embed.url, Embed.id, Embed.original_url).where(
                Embed.page_id.in_(ids)
            )
        )
    }
    fresh: dict[tuple[int, str], dict[str, Any]] = {}
    seen_again: set[tuple[int, str]] = set()
    for entry in entries:
        page_id = page_ids[entry.link]
        for found in entry.embeds:
            key = (page_id, found.url)
            if key in known and key not in seen_again:  # the newest entry's spelling
                seen_again.add(key)
                embed_id, spelling = known[key]
                if found.original_url != spelling and respelled_only(found.original_url, found.url):
                    jobs.respell_unarchived(session, embed_id, found.url, found.original_url, now)
            elif key not in known and key not in fresh:
                fresh[key] = embed_row(page_id, found, now)
    rows = [fresh[key] for key in sorted(fresh)]
    insert_ignoring_duplicates(session, Embed.__table__, rows)  # type: ignore[arg-type]
    _seen_at(session, seen_again, now)
    without_job = session.execute(
        select(Embed.id, Embed.url)
        .where(Embed.page_id.in_(ids))
        .where(~exists().where(CaptureJob.embed_id == Embed.id))
        .order_by(Embed.id)
    ).all()
    insert_ignoring_duplicates(
        session,
        CaptureJob.__table__,  # type: ignore[arg-type]
        pending_job_rows([(url, embed_id) for embed_id, url in without_job], now),
    )
    if unsettled is not None:
        unsettled.extend(sorted(unmarked))
    if source is not None:
        digests = [(page_ids[e.link], e.digest, e.title) for e in entries if e.link not in unmarked]
        if digests:
            _record_digests(session, source, digests)
    return len(fresh)


def pending_job_rows(jobs: Sequence[tuple[str, int | None]], now: datetime) -> list[dict[str, Any]]:
    """Rows for a bulk insert of new pending capture jobs, each (URL, embed id or None)."""
    return [
        {
            "url": url,
            "embed_id": embed_id,
            "state": JobState.PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for url, embed_id in jobs
    ]


def _seen_at(session: Session, embeds: set[tuple[int, str]], now: datetime) -> None:
    """Known embeds (page id, url) found again: their ``last_seen_at`` moves to `now`
    (never back: a capture may have committed a later sighting meanwhile)."""
    if not embeds:
        return
    table = cast(Table, Embed.__table__)
    at = bindparam("at", type_=table.c.last_seen_at.type)
    session.execute(
        update(table)
        .where(table.c.page_id == bindparam("owner"), table.c.url == bindparam("embed_url"))
        .values(last_seen_at=case((table.c.last_seen_at < at, at), else_=table.c.last_seen_at)),
        [{"owner": page_id, "embed_url": url, "at": now} for page_id, url in sorted(embeds)],
    )


def embed_row(page_id: int, found: FoundEmbed, now: datetime) -> dict[str, Any]:
    """An ``embeds`` row for a bulk insert: an embed a feed entry gives its page (or the
    feed), seen there for the first time. No version of the page held it yet: it is
    not judged removed from the page until one does (`upsert_embed`)."""
    return {
        "page_id": page_id,
        "url": found.url,
        "original_url": found.original_url,
        "kind": found.kind,
        "platform": found.platform,
        "media_type": found.media_type,
        "found_in": found.found_in,
        "update_label": found.update,
        "context": found.context,
        "embed_metadata": embed_metadata(found),
        "posted_at": found.posted_at,
        "first_seen_at": now,
        "last_seen_at": now,
        "held_by_page": False,
    }
