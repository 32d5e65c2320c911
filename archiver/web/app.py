"""The web app: search, media viewer, near-duplicates, the editors' dashboard, JSON API.

``create_app(archive)`` builds it for the address it will be served on (the security
policy depends on it; see ``security.py``). Errors never carry a traceback or a host
path: the JSON API answers ``{"error": "one line"}``, pages a plain error page.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from archiver import __version__
from archiver.archive import Archive
from archiver.errors import ArchiveUnavailable, HashingError
from archiver.logs import LOGGER
from archiver.search import QueryError
from archiver.web import api, media, pages
from archiver.web.security import (
    BODY_GRACE,
    AuthRequired,
    BodyLimit,
    Forbidden,
    Policy,
    ReadAccess,
    SecurityHeaders,
    wants_json,
)
from archiver.web.uploads import BadUpload, UploadRefused, UploadSlots

STATIC = Path(__file__).parent / "static"
#: The routes that take a file ("find this file"), under ``[web] max_upload``.
UPLOAD_PATHS = frozenset({"/api/similar", "/similar"})
_REASONS = {
    400: "Bad request",
    401: "Log in first",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    408: "Too slow",
    413: "Too large",
    416: "Range not satisfiable",
    500: "Internal error",
    503: "Archive unavailable",
}


def error_response(request: Request, status: int, message: str) -> Response:
    """One line of JSON for the API and media, a plain page for people.

    A message that names a file under the storage root (a service's error) names it
    relative to the archive instead: clients learn nothing about the host's paths.
    """
    archive: Archive = request.app.state.archive
    message = message.splitlines()[0] if message else _REASONS.get(status, "error")
    message = message.replace(str(archive.layout.root), "<archive>")
    if wants_json(request.url.path):
        return JSONResponse({"error": message}, status_code=status)
    context = {"status": status, "title": _REASONS.get(status, "Error"), "message": message}
    return pages.render(request, "error.html", context, status)


def _validation_message(exc: RequestValidationError) -> str:
    first: dict[str, Any] = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "body"))
    message = str(first.get("msg", "invalid request")).splitlines()[0]
    return f"{where}: {message}" if where else message


def _install_handlers(app: FastAPI) -> None:
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else _REASONS.get(exc.status_code, "")
        response = error_response(request, exc.status_code, detail)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(request, 400, _validation_message(exc))

    async def bad_query(request: Request, exc: Exception) -> Response:
        return error_response(request, 400, str(exc).splitlines()[0])

    async def not_found(request: Request, exc: Exception) -> Response:
        return error_response(request, 404, str(exc))

    async def forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Forbidden)
        return error_response(request, 403, exc.message)

    async def auth_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AuthRequired)
        if not wants_json(request.url.path) and request.method == "GET":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        response = error_response(request, 401, exc.message)
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    async def upload_refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, UploadRefused)
        response = error_response(request, exc.status, str(exc))
        response.headers.update(exc.headers)
        return response

    async def unavailable(request: Request, exc: Exception) -> Response:
        # the database is down or its disk full: a state that passes, not a bug
        response = error_response(request, 503, str(exc))
        response.headers["Retry-After"] = "60"
        return response

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(ArchiveUnavailable, unavailable)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(QueryError, bad_query)
    app.add_exception_handler(HashingError, bad_query)
    app.add_exception_handler(BadUpload, bad_query)
    app.add_exception_handler(api.NotFound, not_found)
    app.add_exception_handler(UploadRefused, upload_refused)
    app.add_exception_handler(Forbidden, forbidden)
    app.add_exception_handler(AuthRequired, auth_required)


_PLAIN_500 = (
    b"<!doctype html><html lang=en><meta charset=utf-8><title>Internal error</title>"
    b"<h1>Internal error</h1><p>Something went wrong; it has been logged.</p></html>"
)


class CatchAll:
    """Any unexpected error: logged here with its traceback, answered without one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            path: str = scope["path"]
            LOGGER.error(
                "web.error",
                exc_info=True,
                extra={"fields": {"method": scope["method"], "path": path}},
            )
            if started:
                return  # mid-stream: the server closes the connection
            if wants_json(path):
                body, kind = b'{"error":"internal error"}', b"application/json"
            else:
                body, kind = _PLAIN_500, b"text/html; charset=utf-8"
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", kind),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})


class HeadAsGet:
    """HEAD answered as GET without the body, with the same status and headers, where
    no route takes HEAD itself: FastAPI's routes answer it 405, and link checkers
    probe pages (the embeddable player above all) with HEAD. Originals and static
    files answer HEAD on their own, without reading the file."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD" or self._taken(scope):
            await self.app(scope, receive, send)
            return

        async def bodiless(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, bodiless)

    def _taken(self, scope: Scope) -> bool:
        return any(route.matches(scope)[0] is Match.FULL for route in self.routes)


def create_app(
    archive: Archive, *, host: str | None = None, body_grace: float = BODY_GRACE
) -> FastAPI:
    """The app for ``archive``, to be served on ``host`` (default: ``[web] host``).
    A request body may take ``body_grace`` seconds before it must keep up a minimum
    rate (`BodyLimit`).

    Raises ConfigError when serving there would be unsafe (off loopback, no token).
    """
    rules = Policy.for_address(archive.config.web, host or archive.config.web.host)
    app = FastAPI(
        title="archiver",
        version=__version__,
        summary="Search the archive, stream originals, see dead embeds and their replacements.",
        docs_url=None,  # the interactive docs load scripts from a CDN; the schema is enough
        redoc_url=None,
        openapi_url=None,
    )
    app.state.archive = archive
    app.state.policy = rules
    app.state.upload_slots = UploadSlots()
    app.include_router(api.router)
    app.include_router(media.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/openapi.json", include_in_schema=False, dependencies=[ReadAccess])
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    _install_handlers(app)
    app.add_middleware(HeadAsGet, routes=app.router.routes)
    app.add_middleware(BodyLimit, upload_paths=UPLOAD_PATHS, grace=body_grace)
    app.add_middleware(CatchAll)
    app.add_middleware(SecurityHeaders, rules=rules)
    return app


__all__ = ["create_app", "error_response"]
