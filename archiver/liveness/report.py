"""What editors read: every embed of a page with its status and the archived replacement."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    ColumnExpressionArgument,
    ScalarSelect,
    and_,
    case,
    or_,
    select,
)
from sqlalchemy.orm import Session, selectinload

from archiver.extract.urls import post_identity, url_spellings
from archiver.index.models import (
    CaptureJob,
    Embed,
    LinkCheck,
    LinkCheckEvent,
    Media,
    Page,
    PageSnapshot,
    Sighting,
    iso,
)
from archiver.index.records import pages_read_as
from archiver.store.layout import Layout

STATUSES = ("live", "gone", "restricted", "error", "unchecked")
DEAD = ("gone", "restricted")
_URL_BATCH = 500  # URLs per IN (...) list


@dataclass(frozen=True)
class KeptPost:
    """A post without media, kept as a version of its own page: its words stand in
    for it when it is deleted."""

    title: str | None  # who said what (``… on X: …``)
    sha256: str
    path: str  # absolute, of the platform's answer as served
    fetched_at: str | None  # when this version was last fetched

    def to_json(self) -> dict[str, str | None]:
        return asdict(self)


@dataclass(frozen=True)
class EmbedStatus:
    embed: Embed
    check: LinkCheck | None
    layout: Layout
    kept_post: KeptPost | None = None
    # the embed's capture job: why there is no archived copy (yet), when there is none
    job: CaptureJob | None = None
    # the files archived from this embed's URL, through this page or any other
    copies: tuple[Media, ...] = ()
    # the last status other than ``error`` (an error says nothing of the URL)
    settled: str | None = None

    @property
    def status(self) -> str:
        return self.check.status if self.check and self.check.status else "unchecked"

    @property
    def dead(self) -> bool:
        """Gone or restricted, until a check says otherwise: a later error (a 503)
        does not bring a dead embed back."""
        return self.settled in DEAD

    def to_json(self) -> dict[str, Any]:
        """The ``archiver check --json`` object."""
        check = self.check
        return {
            "embed_url": self.embed.url,
            "page_url": self.embed.page.url if self.embed.page else None,
            "update": self.embed.update_label,
            "context": self.embed.context,  # two embeds under one update told apart
            "status": self.status,
            "reason": check.reason if check else None,
            "http_status": check.http_status if check else None,
            "checked_at": iso(check.checked_at) if check else None,
            "first_seen_dead_at": iso(check.first_seen_dead_at) if check else None,
            "dead": self.dead,
            # an embed the page no longer carries (an editor replaced it): since when
            "removed_from_page_at": iso(self.embed.removed_at),
            "archived_sha256": [media.sha256 for media in self.copies],
            "kept_post": self.kept_post.to_json() if self.kept_post else None,
            "capture": self.capture(),
        }

    def capture(self) -> dict[str, Any] | None:
        """How archiving the embed went: its job's state (``done``, ``pending``,
        ``failed``, ``gone``, ``skipped``, ``running``), its last reason, attempts and
        next attempt; None for an embed recorded without a job."""
        job = self.job
        if job is None:
            return None
        return {
            "state": job.state,
            "reason": job.last_error,
            "attempts": job.attempts,
            "next_attempt_at": iso(job.next_attempt_at),
        }

    def archived(self) -> list[dict[str, str]]:
        """The archived copies of this embed: what to put in place of a dead one."""
        return [
            {
                "sha256": media.sha256,
                "media_type": media.media_type,
                "path": str(self.layout.absolute(media.path)),
            }
            for media in self.copies
        ]


def capture_note(capture: dict[str, Any] | None) -> str | None:
    """Why an embed has no archived copy, in its capture job's words (``capture failed
    after 3 attempts: HTTP 503 …; next attempt …``); None when the job is done or there
    is none."""
    if capture is None or capture["state"] == "done":
        return None
    note = f"capture {capture['state']}"
    if capture["attempts"] > 1:
        note += f" after {capture['attempts']} attempts"
    if capture["reason"]:
        note += f": {capture['reason']}"
    if capture["state"] == "failed" and capture["next_attempt_at"]:
        note += f"; next attempt {capture['next_attempt_at']}"
    return note


def settled_status(check_id: ColumnExpressionArgument[int] | int) -> ScalarSelect[str | None]:
    """The last status other than ``error`` a check recorded (None: none yet): an
    error says nothing of the URL, so what it was before still stands. Last as
    recorded (by id), not by the wall clock's ``at``: after the clock was set back, a
    return recorded then read as older than the death before it."""
    return (
        select(LinkCheckEvent.status)
        .where(LinkCheckEvent.check_id == check_id, LinkCheckEvent.status != "error")
        .order_by(LinkCheckEvent.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def parse_statuses(value: str | None) -> set[str] | None:
    """``gone,restricted`` (CLI ``--status``, API ``status``): None for everything;
    QueryError naming an unknown status, or for a value naming none (``,``, an unset
    shell variable: it listed every embed)."""
    from archiver.search import QueryError

    if value is None:
        return None
    chosen = {part.strip() for part in value.split(",") if part.strip()}
    if not chosen:
        raise QueryError("status: is empty: leave it out for every status")
    unknown = chosen - set(STATUSES)
    if unknown:
        raise QueryError(f"status: unknown {sorted(unknown)[0]!r}; use {', '.join(STATUSES)}")
    return chosen


def _require_archived(session: Session, page: str) -> None:
    """QueryError unless the archive holds embeds of ``page``: a mistyped address read
    "no dead embeds on this page", and an editor took it for a page in good order."""
    from archiver.search import QueryError

    held = select(Embed.id).where(Embed.page_id.in_(pages_read_as(url_spellings(page))))
    if session.scalar(held.limit(1)) is None:
        raise QueryError(f"no archived embeds for page {page!r}")


def embed_statuses(
    session: Session,
    layout: Layout,
    *,
    page: str | None = None,
    statuses: set[str] | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[EmbedStatus]:
    """Every embed (of one page, or of all pages) with its latest check, in page order;
    or `limit` of them from `offset` (the API pages through a large archive).

    ``statuses`` filters in the query ("unchecked": no check, or none finished yet), so
    a dashboard of the dead embeds of a large archive does not load the live ones.
    """
    # evaluated for erring checks only: the others' status is their settled one
    settled_now = case(
        (LinkCheck.status == "error", settled_status(LinkCheck.id)), else_=LinkCheck.status
    )
    query = (
        select(Embed, LinkCheck, CaptureJob, settled_now)
        .outerjoin(LinkCheck, LinkCheck.url == Embed.url)
        .outerjoin(CaptureJob, CaptureJob.embed_id == Embed.id)
        .where(Embed.page_id.is_not(None))
        .options(selectinload(Embed.page))
    )
    if page is not None:
        spellings = url_spellings(page)  # as captured: with tracking parameters, say
        query = query.where(Embed.page_id.in_(pages_read_as(spellings)))  # older pages too
        # the page itself first: its older pages may have been recorded before it
        query = query.order_by(Embed.page_id.not_in(select(Page.id).where(Page.url.in_(spellings))))
    query = query.order_by(Embed.page_id, Embed.id)
    if statuses:
        checked = sorted(statuses - {"unchecked"})
        wanted: list[ColumnElement[bool]] = [LinkCheck.status.in_(checked)] if checked else []
        if "unchecked" in statuses:
            wanted.append(LinkCheck.status.is_(None))
        if dead := [status for status in checked if status in DEAD]:
            # dead until a check says otherwise: an error in between does not take the
            # embed out of the dead view
            erring = and_(LinkCheck.status == "error", settled_status(LinkCheck.id).in_(dead))
            wanted.append(erring)
        query = query.where(or_(*wanted))
    query = query.offset(offset).limit(limit)
    rows = session.execute(query).all()
    if page is not None and not rows:
        _require_archived(session, page)
    posts = kept_posts(session, layout, {e.url for e, *_ in rows if e.kind == "platform"})
    copies = archived_copies(session, {embed.url for embed, *_ in rows})
    return [
        EmbedStatus(
            embed, check, layout, posts.get(embed.url), job, copies.get(embed.url, ()), settled
        )
        for embed, check, job, settled in rows
    ]


def archived_copies(session: Session, urls: set[str]) -> dict[str, tuple[Media, ...]]:
    """The files archived from each of these embed URLs, through any page (one query,
    in batches): the same post or file on another page is the same evidence, so an
    embed captured through the first page is not "without a copy" on the second. A
    post is found under any of its spellings too (`post_identity`), by the id its
    platform gave the files (``x.com/foo/status/N`` for ``twitter.com/Foo/status/N``,
    ``/i/status/N``; ``/reel/CODE`` for ``/p/CODE``)."""
    found: dict[str, dict[str, Media]] = {}
    wanted = sorted(urls)
    for start in range(0, len(wanted), _URL_BATCH):
        # distinct pairs first: one file seen through this URL on thousands of pages
        # is one pair, and its row is read once (not once a page)
        pairs = session.execute(
            select(Embed.url, Sighting.media_id)
            .join(Sighting, Sighting.embed_id == Embed.id)
            .where(Embed.url.in_(wanted[start : start + _URL_BATCH]))
            .distinct()
        ).all()
        media_ids = sorted({media_id for _, media_id in pairs})
        by_id = {
            media.id: media
            for first in range(0, len(media_ids), _URL_BATCH)
            for media in session.scalars(
                select(Media).where(Media.id.in_(media_ids[first : first + _URL_BATCH]))
            )
        }
        for url, media_id in pairs:
            found.setdefault(url, {})[by_id[media_id].sha256] = by_id[media_id]
    posts = {url: post for url in wanted if (post := post_identity(url)) is not None}
    by_post: dict[str, list[str]] = {}
    for url, post in posts.items():
        by_post.setdefault(post.post_id, []).append(url)
    ids = sorted(by_post)
    for start in range(0, len(ids), _URL_BATCH):
        for media in session.scalars(
            select(Media).where(Media.platform_id.in_(ids[start : start + _URL_BATCH]))
        ):
            extractor = (media.platform_extractor or "").lower()
            for url in by_post.get(media.platform_id or "", []):
                if extractor in posts[url].extractors:
                    found.setdefault(url, {})[media.sha256] = media
    return {url: tuple(by[sha] for sha in sorted(by)) for url, by in found.items()}


def kept_posts(session: Session, layout: Layout, urls: set[str]) -> dict[str, KeptPost]:
    """The newest kept version of each of these post URLs that has one (one query)."""
    if not urls:
        return {}
    found = session.execute(
        select(Page.url, Page.title, PageSnapshot)
        .join(PageSnapshot, PageSnapshot.page_id == Page.id)
        .where(Page.url.in_(sorted(urls)))
        .order_by(PageSnapshot.last_fetched_at)
    )
    return {
        url: KeptPost(
            title,
            snapshot.sha256,
            str(layout.absolute(snapshot.path)),
            iso(snapshot.last_fetched_at),
        )
        for url, title, snapshot in found
    }


def page_status(session: Session, page: str) -> LinkCheck | None:
    found = page_statuses(session, set(url_spellings(page)))
    return next(iter(found.values()), None)


def page_statuses(session: Session, pages: set[str]) -> dict[str, LinkCheck]:
    """The latest checks of these pages' own URLs, by URL (one query for them all)."""
    found = session.scalars(select(LinkCheck).where(LinkCheck.url.in_(sorted(pages))))
    return {check.url: check for check in found}
