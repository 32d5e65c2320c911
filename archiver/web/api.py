"""The JSON API: the CLI's JSON, over HTTP. Errors are ``{"error": "one line"}``.

``/api/search`` returns exactly ``archiver search --json``'s objects, ``/api/embeds``
``archiver check --json``'s, ``/api/dupes`` ``archiver dupes --json``'s and
``/api/status`` ``archiver status --json``'s.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from archiver.archive import Archive
from archiver.config import is_http_url
from archiver.duplicates import list_groups
from archiver.errors import ArchiverError, HashingError
from archiver.extract.urls import clean_url
from archiver.index.models import JobState, utcnow
from archiver.jobs import requeue, url_job
from archiver.liveness.report import embed_statuses, parse_statuses
from archiver.search import QueryError
from archiver.similar import SimilarQuery, similar_to_file
from archiver.status import status_report
from archiver.web.media import archive_of, valid_sha256
from archiver.web.security import ReadAccess, WriteAccess
from archiver.web.uploads import receive_upload
from archiver.web.views import (
    Limit,
    Offset,
    check_parameters,
    check_search_parameters,
    media_detail,
    search_query,
    search_results,
)

router = APIRouter(prefix="/api", tags=["api"])
ArchiveDep = Annotated[Archive, Depends(archive_of)]
_FINISHED = {JobState.DONE, JobState.SKIPPED, JobState.GONE, JobState.FAILED}


class NotFound(ArchiverError):
    """Nothing in the archive by that name (a 404)."""


@router.get("/search", dependencies=[ReadAccess])
def api_search(
    request: Request,
    archive: ArchiveDep,
    sha256: str | None = None,
    md5: str | None = None,
    since: str | None = None,
    until: str | None = None,
    upload_since: str | None = None,
    upload_until: str | None = None,
    page: str | None = None,
    text: str | None = None,
    limit: int = 100,
) -> JSONResponse:
    """Stored files by hash (8+ hex prefix), capture date, platform upload date, page,
    words; newest capture first. The objects of ``archiver search --json``; when
    more match than ``limit``, the header ``X-More-Results: 1`` says so (a list cut
    at the limit looked like all there was, as the CLI's did before it said so)."""
    check_search_parameters(request)
    query = search_query(
        sha256=sha256,
        md5=md5,
        since=since,
        until=until,
        upload_since=upload_since,
        upload_until=upload_until,
        page=page,
        text=text,
        limit=limit,
    )
    with archive.read_session() as session:  # one more than is shown: are there more?
        found = search_results(session, archive.layout, replace(query, limit=query.limit + 1))
    more = {"X-More-Results": "1"} if len(found) > query.limit else {}
    return JSONResponse(found[: query.limit], headers=more)


@router.get("/media/{sha256}", dependencies=[ReadAccess])
def api_media(sha256: str, archive: ArchiveDep) -> JSONResponse:
    """One stored file: its search record, fingerprint summary, near-duplicate group
    and the liveness history of the embeds it was found through."""
    sha256 = valid_sha256(sha256)
    with archive.read_session() as session:
        detail = media_detail(session, archive.layout, sha256)
    if detail is None:
        raise NotFound("no such file in the archive")
    return JSONResponse(detail)


@router.get("/dupes", dependencies=[ReadAccess])
def api_dupes(
    request: Request, archive: ArchiveDep, limit: Limit = 1000, offset: Offset = 0
) -> JSONResponse:
    """Near-duplicate groups with their earliest member (``archiver dupes --json``):
    at most ``limit`` groups from ``offset``, in id order."""
    check_parameters(request, ("limit", "offset"))
    with archive.read_session() as session:
        groups = list_groups(session, limit=limit, offset=offset)
        return JSONResponse([g.to_json() for g in groups])


@router.get("/embeds", dependencies=[ReadAccess])
def api_embeds(
    request: Request,
    archive: ArchiveDep,
    status: str | None = None,
    page: str | None = None,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> JSONResponse:
    """Embeds with their latest liveness check (``archiver check --json``, without
    checking now); ``status`` takes e.g. ``gone,restricted``. At most ``limit`` rows
    from ``offset``, in page order. A ``page`` given empty is one the archive holds
    no embeds of (a 400), not every page."""
    check_parameters(request, ("status", "page", "limit", "offset"))
    statuses = parse_statuses(status)
    with archive.read_session() as session:
        rows = embed_statuses(
            session,
            archive.layout,
            page=page,
            statuses=statuses,
            limit=limit,
            offset=offset,
        )
        return JSONResponse([row.to_json() for row in rows])


@router.get("/status", dependencies=[ReadAccess])
def api_status(archive: ArchiveDep) -> JSONResponse:
    """Sources, queue counts and recent failures (``archiver status --json``)."""
    with archive.read_session() as session:
        return JSONResponse(status_report(session))


@router.post("/similar", dependencies=[ReadAccess])
async def api_similar(request: Request, archive: ArchiveDep) -> JSONResponse:
    """Near-duplicates of an uploaded image or video (multipart field ``file``; optional
    fields ``min_similarity`` and ``limit``), best first, as ``search --similar-to``."""
    tmp = archive.layout.process_tmp()
    async with receive_upload(request, tmp, archive.config.web.max_upload) as upload:
        query = SimilarQuery(
            upload.path,
            _number(upload.fields.get("min_similarity"), "min_similarity", float),
            int(_number(upload.fields.get("limit"), "limit", int) or 100),
        )
        try:
            found = await run_in_threadpool(similar_to_file, archive, query)
        except (QueryError, HashingError) as exc:
            raise QueryError(upload.scrub(str(exc))) from None
    return JSONResponse([record.to_json() for record in found])


def _number(value: str | None, name: str, kind: type[float] | type[int]) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        number = kind(value)
    except ValueError:
        raise QueryError(f"{name}: not a number: {value!r}") from None
    if kind is int and not 1 <= number <= 1000:
        raise QueryError(f"{name}: from 1 to 1000")
    return number


class CaptureRequest(BaseModel):
    url: str = Field(max_length=4096, description="A page, feed item, media or platform URL.")


@router.post("/captures", status_code=202, dependencies=[WriteAccess])
def api_captures(body: CaptureRequest, archive: ArchiveDep) -> JSONResponse:
    """Queue a capture of ``url`` (the daemon runs it); needs the token. A URL captured
    before is queued again, for a new version of the page."""
    if not is_http_url(body.url):
        raise QueryError("url: give an http:// or https:// URL")
    url = clean_url(body.url)  # as `Capturer.capture_url` takes it
    with archive.session() as session:
        job = url_job(session, url)
        if job.state in _FINISHED:
            requeue(job, utcnow())
        answer: dict[str, Any] = {"job_id": job.id, "url": job.url, "state": job.state}
    return JSONResponse(answer, status_code=202)


__all__ = ["CaptureRequest", "NotFound", "router"]
