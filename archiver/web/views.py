"""What the pages and the JSON API show, built from the same services as the CLI.

Handlers stay thin: they parse a request, call one function here (which calls
``search``, ``records``, ``embed_statuses``, ``list_groups``, ``status_report`` ...),
and render or serialise the plain data it returns. Nothing here holds ORM objects
beyond the session, so templates can never trigger a lazy load.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Query
from sqlalchemy import Row, select
from sqlalchemy.orm import Session, selectinload
from starlette.requests import HTTPConnection

from archiver.duplicates import group_of, list_groups, sidecar_section
from archiver.extract.urls import url_spellings
from archiver.index.models import Embed, LinkCheck, Media, Page, PageSnapshot, Sighting, iso
from archiver.index.textindex import fold_text
from archiver.jsontext import storable
from archiver.liveness.report import DEAD, capture_note, embed_statuses, page_statuses
from archiver.search import QueryError, SearchQuery, records, refuse_undecoded, search
from archiver.store.layout import Layout

MAX_LIMIT = 1000
#: Query parameters of paged listings (the API's embeds and groups, the pages).
Limit = Annotated[int, Query(ge=1, le=10_000)]
Offset = Annotated[int, Query(ge=0, le=10**9)]


#: The filters of a search, in the API's and the search page's query strings.
SEARCH_FIELDS = ("sha256", "md5", "since", "until", "upload_since", "upload_until", "page", "text")


def check_search_parameters(request: HTTPConnection) -> None:
    """QueryError for a search parameter that is not a filter or ``limit``, or one
    given twice: a misspelt filter (``sha=…``, ``q=…``) was ignored, so every file
    matched, and of two ``sha256`` one was dropped without a word."""
    check_parameters(request, (*SEARCH_FIELDS, "limit"))


def check_parameters(request: HTTPConnection, known: tuple[str, ...]) -> None:
    """QueryError for a parameter not in ``known``, given twice (a list's too:
    ``statuses=gone`` was ignored and every embed listed), or not UTF-8 text (read
    with U+FFFD for each bad byte, ``text=%FF`` found every caption a page's wrong
    charset had left one in, where the CLI refuses such words)."""
    query = request.scope.get("query_string", b"").decode("latin-1")
    seen: set[str] = set()
    for name, value in parse_qsl(query, keep_blank_values=True, errors="surrogateescape"):
        if name not in known:
            raise QueryError(f"unknown parameter {storable(name)!r}; known: {', '.join(known)}")
        if name in seen:
            raise QueryError(f"{name}: given twice; give it once")
        refuse_undecoded(name, value)
        seen.add(name)


def search_query(*, limit: int = 100, **filters: str | None) -> SearchQuery:
    """The filters of ``archiver search`` (`SearchQuery.parse`'s; empty form fields
    count as absent), with the web's cap on `limit`; QueryError if bad."""
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit: must be from 1 to {MAX_LIMIT:,}")
    return SearchQuery.parse(**filters, limit=limit)


def search_results(session: Session, layout: Layout, query: SearchQuery) -> list[dict[str, Any]]:
    """Exactly what ``archiver search --json`` prints."""
    return [record.to_json() for record in search(session, layout, query)]


def matching_sighting(result: dict[str, Any], query: SearchQuery) -> int:
    """Which of a result's sightings (oldest first) a row shows: the first on the page
    searched for, else the first holding the words searched for, else the oldest. A row
    found through its third page showed the first page's update and context."""
    sightings = result["sightings"]
    if query.page:
        spellings = set(url_spellings(query.page))
        for index, seen in enumerate(sightings):
            if spellings & {seen["page_url"], seen["embed_url"]}:
                return index
    if query.text:
        words = fold_text(query.text).split()
        for index, seen in enumerate(sightings):
            said = fold_text(" ".join(filter(None, (seen["update"], seen["context"]))))
            if all(word in said for word in words):
                return index
    return 0


# ---- one stored file -------------------------------------------------------------------


def _settled_dead(check: LinkCheck) -> bool:
    """Gone or restricted by its last check that was not an error: a later error (a
    503) does not bring a dead embed back, as the editors' view has it. Last as
    recorded (by id), whatever the clock said when (it may have been set back)."""
    known = [event for event in check.events if event.status != "error"]
    return bool(known) and max(known, key=lambda event: event.id).status in DEAD


def _history(check: LinkCheck) -> dict[str, Any]:
    return {
        "embed_url": check.url,
        "status": check.status or "unchecked",
        "dead": _settled_dead(check),
        "reason": check.reason,
        "http_status": check.http_status,
        "checked_at": iso(check.checked_at),
        "first_seen_dead_at": iso(check.first_seen_dead_at),
        "came_back_at": iso(check.came_back_at),
        "events": [
            {
                "at": iso(event.at),
                "from": event.previous_status,
                "to": event.status,
                "reason": event.reason,
                "http_status": event.http_status,
            }
            for event in check.events
        ],
    }


def media_detail(session: Session, layout: Layout, sha256: str) -> dict[str, Any] | None:
    """A file's search record plus its fingerprint, group and its embeds' liveness history.

    The record is ``archiver search --json``'s object; sightings also carry the page title.
    """
    media_id = session.scalar(select(Media.id).where(Media.sha256 == sha256))
    if media_id is None:
        return None
    (record,) = records(session, layout, [media_id])
    data = record.to_json()
    media = record.media
    versions = _page_versions(session, media_id, record.sightings[:MAX_VERSIONS_SHOWN])
    for shown, sighting in zip(data["sightings"], record.sightings, strict=True):
        shown["page_title"] = sighting.page_title
        shown["page_version"] = versions.get((sighting.page_url, sighting.embed_url))
    urls = sorted({s.embed_url for s in record.sightings})
    checks = session.scalars(
        select(LinkCheck).where(LinkCheck.url.in_(urls)).options(selectinload(LinkCheck.events))
    )
    group = group_of(session, media_id)
    return {
        **data,
        "platform_metadata": media.platform_metadata,
        "near_duplicates": sidecar_section(session, media_id),
        "group": _group(session, group.to_json()) if group else None,
        "liveness": [_history(check) for check in checks],
    }


#: Sightings of one file whose page version is looked up for its item page.
MAX_VERSIONS_SHOWN = 200


def _page_versions(
    session: Session, media_id: int, sightings: Sequence[Row[Any]]
) -> dict[tuple[Any, Any], str]:
    """For each (page URL, embed URL) of these sightings, the SHA-256 of the page as
    archived when the embed was first found there: its newest version fetched by then
    (the fetch that found it). Not by when the file was downloaded: a page that lost
    the embed and showed it again would name the version without it."""
    pairs = {(s.page_url, s.embed_url) for s in sightings if s.page_url is not None}
    if not pairs:
        return {}
    found_at = session.execute(
        select(Page.id, Page.url, Embed.url, Embed.first_seen_at)
        .join(Embed, Embed.page_id == Page.id)
        .join(Sighting, Sighting.embed_id == Embed.id)
        .where(Sighting.media_id == media_id)
    ).all()
    versions: dict[tuple[Any, Any], str] = {}
    for page_id, page_url, embed_url, first_seen_at in found_at:
        if (page_url, embed_url) not in pairs or (page_url, embed_url) in versions:
            continue
        of_page = select(PageSnapshot.sha256).where(PageSnapshot.page_id == page_id)
        sha256 = session.scalar(
            of_page.where(PageSnapshot.first_fetched_at <= first_seen_at)
            .order_by(PageSnapshot.first_fetched_at.desc())
            .limit(1)
        ) or session.scalar(of_page.order_by(PageSnapshot.first_fetched_at).limit(1))
        if sha256 is not None:
            versions[(page_url, embed_url)] = sha256
    return versions


# ---- near-duplicate groups -------------------------------------------------------------


def _facts(session: Session, shas: Iterable[str]) -> dict[str, dict[str, Any]]:
    rows = session.execute(
        select(
            Media.sha256,
            Media.media_type,
            Media.platform_title,
            Media.platform_upload_date,
            Media.first_captured_at,
        ).where(Media.sha256.in_(sorted(set(shas))))
    )
    return {
        row.sha256: {
            "media_type": row.media_type,
            "title": row.platform_title,
            "upload_date": row.platform_upload_date.isoformat()
            if row.platform_upload_date
            else None,
            "first_captured_at": iso(row.first_captured_at),
        }
        for row in rows
    }


def _group(session: Session, group: dict[str, Any]) -> dict[str, Any]:
    facts = _facts(session, [m["sha256"] for m in group["members"]])
    members = [{**m, **facts.get(m["sha256"], {})} for m in group["members"]]
    return {**group, "members": members}


def duplicate_groups(session: Session, *, limit: int, offset: int = 0) -> list[dict[str, Any]]:
    """``archiver dupes --json`` with each member's type, title and dates added: `limit`
    groups from `offset`."""
    groups = [g.to_json() for g in list_groups(session, limit=limit, offset=offset)]
    facts = _facts(session, [m["sha256"] for g in groups for m in g["members"]])
    return [
        {**g, "members": [{**m, **facts.get(m["sha256"], {})} for m in g["members"]]}
        for g in groups
    ]


# ---- the editors' dashboard ------------------------------------------------------------


def embed_snippet(base_url: str, sha256: str, media_type: str, label: str | None) -> str:
    """HTML an editor pastes where the dead embed was: the archived copy, served from here."""
    src = html.escape(f"{base_url}/media/{sha256}", quote=True)
    if media_type == "video":
        return f'<video controls preload="metadata" src="{src}"></video>'
    if media_type == "audio":
        return f'<audio controls src="{src}"></audio>'
    return f'<img src="{src}" alt="{html.escape(label or "", quote=True)}">'


def iframe_snippet(base_url: str, sha256: str, label: str | None) -> str:
    src = html.escape(f"{base_url}/embed/{sha256}", quote=True)
    title = html.escape(label or "archived video", quote=True)
    return f'<iframe src="{src}" width="640" height="360" title="{title}" allowfullscreen></iframe>'


@dataclass
class PageReport:
    url: str
    title: str | None
    status: str | None
    embeds: list[dict[str, Any]] = field(default_factory=list)

    @property
    def dead(self) -> int:
        """Dead embeds the page still carries: what is left for an editor to replace."""
        return sum(1 for e in self.embeds if e["dead"] and not e["removed_from_page_at"])


def editors_report(
    session: Session,
    layout: Layout,
    base_url: str,
    *,
    page: str | None = None,
    statuses: set[str] | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[PageReport]:
    """Per page, each embed (``archiver report``'s rows) with snippets for its archived
    copy; `limit` embeds from `offset`, in page order."""
    reports: dict[str, PageReport] = {}
    rows = embed_statuses(session, layout, page=page, statuses=statuses, limit=limit, offset=offset)
    owners = {row.embed.page.url for row in rows if row.embed.page is not None}
    checks = page_statuses(session, owners)
    for row in rows:
        owner = row.embed.page
        if owner is None:
            continue
        if owner.url not in reports:
            check = checks.get(owner.url)
            reports[owner.url] = PageReport(owner.url, owner.title, check.status if check else None)
        data = row.to_json()
        label = row.embed.context or row.embed.update_label
        data["capture_note"] = capture_note(data["capture"])
        data["archived"] = [
            {
                "sha256": copy["sha256"],
                "media_type": copy["media_type"],
                "snippet": embed_snippet(base_url, copy["sha256"], copy["media_type"], label),
                "iframe": iframe_snippet(base_url, copy["sha256"], label)
                if copy["media_type"] == "video"
                else None,
            }
            for copy in row.archived()
        ]
        reports[owner.url].embeds.append(data)
    return list(reports.values())


__all__ = [
    "MAX_LIMIT",
    "Limit",
    "Offset",
    "PageReport",
    "duplicate_groups",
    "editors_report",
    "embed_snippet",
    "media_detail",
    "search_query",
    "search_results",
]
