"""Server-rendered pages for investigators and editors (Jinja2, a little JavaScript).

Every page is a GET that reads; the only forms that POST are the "find this file"
upload (a read: nothing is stored) and the token login.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from archiver import __version__
from archiver.archive import Archive
from archiver.errors import HashingError
from archiver.liveness.report import DEAD, STATUSES, parse_statuses
from archiver.search import QueryError
from archiver.similar import SimilarQuery, similar_to_file
from archiver.status import status_report
from archiver.web.media import archive_of, find_original, valid_sha256
from archiver.web.security import (
    COOKIE,
    SESSION_SECONDS,
    Policy,
    ReadAccess,
    policy,
    safe_next,
)
from archiver.web.uploads import BadUpload, UploadRefused, receive_upload
from archiver.web.views import (
    MAX_LIMIT,
    SEARCH_FIELDS,
    Offset,
    check_search_parameters,
    duplicate_groups,
    editors_report,
    matching_sighting,
    media_detail,
    search_query,
    search_results,
)

TEMPLATES = Path(__file__).parent / "templates"
UI_LIMIT = 50
UI_GROUPS = 100  # near-duplicate groups per page of /dupes
UI_EMBEDS = 500  # embeds per page of /editors

router = APIRouter(include_in_schema=False)
pages = APIRouter(include_in_schema=False, dependencies=[ReadAccess])
ArchiveDep = Annotated[Archive, Depends(archive_of)]


def _size(value: int | None) -> str:
    if value is None:
        return "-"
    amount = float(value)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{amount:.0f} {unit}" if unit == "bytes" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{value} bytes"


def _when(value: str | None) -> str:
    """``2026-11-25T18:00:04.512Z`` as ``2026-11-25 18:00 UTC``."""
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _external(url: str | None) -> str:
    """Link only to http(s) URLs: a stored URL must never become a script link."""
    text = (url or "").strip()
    return text if text.lower().startswith(("http://", "https://")) else "#"


templates = Jinja2Templates(directory=TEMPLATES)
templates.env.filters["external"] = _external
templates.env.filters["size"] = _size
templates.env.filters["when"] = _when
templates.env.globals["version"] = __version__
templates.env.globals["dead_statuses"] = DEAD


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    rules: Policy = request.app.state.policy
    context = {"logged_in": rules.cookie_ok(request), "login": bool(rules.token), **context}
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def _loopback_base(request: Request, archive: Archive) -> str | None:
    """The snippets' address when it is this machine's loopback, which no reader of a
    story can reach (``[web] base_url`` not set); else None."""
    if archive.config.web.base_url.strip():
        return None
    host = (request.url.hostname or "").strip("[]")
    return base_url(request, archive) if host in ("127.0.0.1", "localhost", "::1") else None


def base_url(request: Request, archive: Archive) -> str:
    """How other sites reach this archive: ``[web] base_url``, else this request's origin."""
    configured = archive.config.web.base_url.strip().rstrip("/")
    return configured or str(request.base_url).rstrip("/")


# ---- search ----------------------------------------------------------------------------


@pages.get("/", response_class=HTMLResponse)
def search_page(request: Request, archive: ArchiveDep) -> HTMLResponse:
    """The search form; with no filters, the newest captures."""
    form = {name: request.query_params.get(name, "").strip() for name in SEARCH_FIELDS}
    limit_text = request.query_params.get("limit", "").strip()
    error, results, status, limit = None, [], 200, UI_LIMIT
    try:
        check_search_parameters(request)
        if limit_text and not re.fullmatch(r"[0-9]{1,7}", limit_text):
            raise QueryError(f"limit: not a number: {limit_text[:20]!r}")
        limit = int(limit_text) if limit_text else UI_LIMIT
        query = search_query(**{k: v or None for k, v in form.items()}, limit=limit)
        with archive.read_session() as session:
            results = search_results(session, archive.layout, query)
        for result in results:  # the sighting the row shows: the one that matched
            result["shown"] = matching_sighting(result, query)
    except QueryError as exc:
        error, status = str(exc), 400
    filtered = any(form.values())
    context: dict[str, Any] = {"nav": "search", "form": form, "limit": limit_text}
    context["error"] = error
    context |= {"results": results, "filtered": filtered, "similar": False}
    context |= {"limit_used": limit, "max_limit": f"{MAX_LIMIT:,}"}
    return render(request, "search.html", context, status)


@pages.post("/similar", response_class=HTMLResponse)
async def similar_page(request: Request, archive: ArchiveDep) -> HTMLResponse:
    """ "Have we seen this?": the dropped file's near-duplicates in the archive."""
    error, results, status, name = None, [], 200, None
    headers: dict[str, str] = {}
    try:
        tmp = archive.layout.process_tmp()
        async with receive_upload(request, tmp, archive.config.web.max_upload) as upload:
            name = upload.filename
            try:
                found = await run_in_threadpool(similar_to_file, archive, SimilarQuery(upload.path))
            except (QueryError, HashingError) as exc:
                raise BadUpload(upload.scrub(str(exc))) from None
            results = [record.to_json() for record in found]
    except UploadRefused as exc:
        error, status, headers = str(exc), exc.status, exc.headers
    except BadUpload as exc:
        error, status = str(exc), 400
    form = dict.fromkeys(SEARCH_FIELDS, "")
    context: dict[str, Any] = {"nav": "search", "form": form, "limit": "", "error": error}
    context["results"] = results
    context |= {"filtered": True, "similar": True, "uploaded": name}
    page = render(request, "search.html", context, status)
    page.headers.update(headers)
    return page


# ---- one file --------------------------------------------------------------------------


@pages.get("/item/{sha256}", response_class=HTMLResponse)
def item_page(sha256: str, request: Request, archive: ArchiveDep) -> HTMLResponse:
    """Viewer, hashes, sightings, platform data, near-duplicates, liveness history."""
    sha256 = valid_sha256(sha256)
    with archive.read_session() as session:
        detail = media_detail(session, archive.layout, sha256)
    if detail is None:
        return render(
            request, "error.html", {"status": 404, "message": "No such file in the archive."}, 404
        )
    context = {"nav": "search", "item": detail, "base_url": base_url(request, archive)}
    return render(request, "item.html", context)


@router.get("/embed/{sha256}", response_class=HTMLResponse, dependencies=[ReadAccess])
def embed_player(sha256: str, request: Request, archive: ArchiveDep) -> HTMLResponse:
    """A bare player other sites may frame: the replacement for a dead iframe embed."""
    original = find_original(archive, sha256)
    kind = original.mime_type.split("/", 1)[0]
    return render(request, "embed.html", {"sha256": sha256, "kind": kind})


# ---- groups, editors, status -----------------------------------------------------------


@pages.get("/dupes", response_class=HTMLResponse)
def dupes_page(request: Request, archive: ArchiveDep, offset: Offset = 0) -> HTMLResponse:
    """The near-duplicate groups, `UI_GROUPS` at a time."""
    with archive.read_session() as session:
        groups = duplicate_groups(session, limit=UI_GROUPS + 1, offset=offset)
    context: dict[str, Any] = {"nav": "dupes", "groups": groups[:UI_GROUPS]}
    context |= _paging(request, offset, UI_GROUPS, more=len(groups) > UI_GROUPS)
    return render(request, "dupes.html", context)


def _paging(request: Request, offset: int, step: int, *, more: bool) -> dict[str, str | None]:
    """Links to the previous and next slice of a paged listing (None at either end)."""

    def at(start: int) -> str:  # relative: the page may be reached through a proxy
        url = request.url.include_query_params(offset=start)
        return f"{url.path}?{url.query}"

    return {
        "previous_url": at(max(offset - step, 0)) if offset > 0 else None,
        "next_url": at(offset + step) if more else None,
    }


@pages.get("/editors", response_class=HTMLResponse)
def editors_page(
    request: Request,
    archive: ArchiveDep,
    page: str = "",
    status: str = "dead",
    offset: Offset = 0,
) -> HTMLResponse:
    """Per page, each embed with its status and the archived copy to use instead,
    `UI_EMBEDS` embeds at a time.

    ``status=dead`` (the default) shows gone and restricted embeds, ``all`` everything.
    """
    error, reports, code, more = None, [], 200, False
    status = status.strip() or "dead"  # an empty choice is the default (it was "all")
    try:
        chosen = {"dead": set(DEAD), "all": None}.get(status)
        if status not in ("dead", "all"):
            chosen = parse_statuses(status)
        with archive.read_session() as session:
            reports = editors_report(
                session,
                archive.layout,
                base_url(request, archive),
                page=page.strip() or None,
                statuses=chosen,
                limit=UI_EMBEDS + 1,
                offset=offset,
            )
        more = sum(len(r.embeds) for r in reports) > UI_EMBEDS
        if more:  # the one past the page only says there is a next one
            last = reports[-1]
            last.embeds.pop()
            if not last.embeds:
                reports.pop()
    except QueryError as exc:
        error, code = str(exc), 400
    context: dict[str, Any] = {"nav": "editors", "reports": reports, "page": page}
    context["status"] = status
    context["unreachable_base"] = _loopback_base(request, archive)
    context |= {"error": error, "statuses": STATUSES}
    context |= _paging(request, offset, UI_EMBEDS, more=more)
    return render(request, "editors.html", context, code)


@pages.get("/status", response_class=HTMLResponse)
def status_page(request: Request, archive: ArchiveDep) -> HTMLResponse:
    with archive.read_session() as session:
        report = status_report(session)
    return render(request, "status.html", {"nav": "status", "report": report})


# ---- login -----------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", {"next": safe_next(next), "error": None})


@router.post("/login", response_model=None)
def login(
    request: Request,
    archive: ArchiveDep,
    rules: Annotated[Policy, Depends(policy)],
    token: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2048)] = "/",
) -> Response:
    """Check the token and set the session cookie (derived from it) for the pages."""
    if not rules.token_ok(token):
        context = {"next": safe_next(next), "error": "That token is not right."}
        return render(request, "login.html", context, 401)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        rules.session_value(),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https" or base_url(request, archive).startswith("https:"),
        max_age=SESSION_SECONDS,
    )
    return response


@router.post("/logout")
def logout() -> RedirectResponse:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


router.include_router(pages)
