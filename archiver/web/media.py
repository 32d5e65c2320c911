"""Serving archived bytes: the original (with Range, for seeking) and its sidecar.

Files are found by SHA-256 through the index only. The digest is validated as 64
lowercase hex characters and looked up; the path comes from the index row and must
lie under the storage's ``media/`` directory. Nothing a client sends is ever joined
to a path, so no spelling of ``..`` (plain, encoded, doubly encoded, NUL) can reach a
file outside the archive.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import select

from archiver.archive import Archive
from archiver.extract.document import charset_of, decode_page
from archiver.extract.model import ExtractError
from archiver.index.models import Media, PageSnapshot
from archiver.store.layout import SIDECAR, Layout
from archiver.store.mediatypes import head_of, sniff
from archiver.web.security import ReadAccess

SHA256 = re.compile(r"[0-9a-f]{64}")
CHUNK = 256 * 1024
#: The only types an original is served as, inline: those archiver proves from a file's
#: bytes (``store/mediatypes.py``) and the audio types of reclassified containers. Any
#: other stored type came from the archived server's Content-Type, which that site
#: chooses: ``image/x, text/html`` is HTML to a browser (the last type in a list wins),
#: ``image/png, image/svg+xml`` an SVG document, ``image/x+xml`` XML. Those are served
#: as ``application/octet-stream`` attachments: bytes to save, never a document.
INLINE_TYPES = frozenset(
    {
        *("image/jpeg", "image/png", "image/gif", "image/webp", "image/avif", "image/bmp"),
        *("image/heic", "image/heif", "image/tiff"),
        *("video/mp4", "video/webm", "video/x-matroska", "video/quicktime", "video/ogg"),
        *("video/x-flv", "video/mpeg", "video/mp2t", "video/3gpp", "video/3gpp2"),
        *("video/x-msvideo", "audio/mpeg", "audio/mp4", "audio/ogg", "audio/opus"),
        *("audio/flac", "audio/wav", "audio/aac", "audio/webm", "audio/x-matroska"),
        "audio/3gpp",
    }
)
_EXTENSION = re.compile(r"[a-z0-9]{1,8}")

router = APIRouter(dependencies=[ReadAccess])


def archive_of(request: Request) -> Archive:
    found: Archive = request.app.state.archive
    return found


ArchiveDep = Annotated[Archive, Depends(archive_of)]


@dataclass(frozen=True)
class StoredOriginal:
    sha256: str
    mime_type: str
    path: Path

    @property
    def filename(self) -> str:
        """A download name that cannot carry quotes, slashes or control characters."""
        extension = self.path.suffix.lstrip(".").lower()
        return f"{self.sha256}.{extension}" if _EXTENSION.fullmatch(extension) else self.sha256


def valid_sha256(value: str) -> str:
    """The digest in lower case (``Get-FileHash`` prints upper case), or a 404: anything
    but 64 hex digits names nothing in the archive."""
    digest = value.lower()
    if not SHA256.fullmatch(digest):
        raise HTTPException(404, "no such file in the archive")
    return digest


def find_original(archive: Archive, sha256: str) -> StoredOriginal:
    """Look the digest up in the index; the path must be a file under ``media/``."""
    found = _indexed(archive, sha256)
    return replace(found, path=_inside_media(archive.layout, found.path))


def _indexed(archive: Archive, sha256: str) -> StoredOriginal:
    """The index's row for the digest (its file may be missing), or a 404."""
    sha256 = valid_sha256(sha256)
    with archive.read_session() as session:
        row = session.execute(
            select(Media.mime_type, Media.path).where(Media.sha256 == sha256)
        ).first()
    if row is None:
        raise HTTPException(404, "no such file in the archive")
    return StoredOriginal(sha256, row.mime_type, archive.layout.absolute(row.path))


def _none_match(header: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names the file: ``*``, or its tag compared weakly
    (``W/"…"`` matches, RFC 9110 13.1.2)."""
    tags = [tag.strip().removeprefix("W/") for tag in (header or "").split(",")]
    return "*" in tags or etag in tags


def _inside_media(
    layout: Layout, path: Path, what: str = "file", *, root: Path | None = None
) -> Path:
    """``path`` resolved, when it is a file under ``media/`` (or ``root``); else a 404
    naming ``what``."""
    resolved = path.resolve()
    under = (root or layout.media_root).resolve()
    if not resolved.is_relative_to(under) or not resolved.is_file():
        raise HTTPException(404, f"the {what} is missing from storage")
    return resolved


def _page_version(archive: Archive, sha256: str) -> tuple[Path, dict[str, str]]:
    """The stored bytes of a page version the index knows, under ``pages/``, and the
    headers it was served with; else a 404."""
    sha256 = valid_sha256(sha256)
    with archive.read_session() as session:
        stored = session.execute(
            select(PageSnapshot.path, PageSnapshot.headers)
            .where(PageSnapshot.sha256 == sha256)
            .limit(1)
        ).first()
    if stored is None:
        raise HTTPException(404, "no such page version in the archive")
    layout = archive.layout
    path = _inside_media(layout, layout.absolute(stored.path), "page", root=layout.pages_root)
    return path, dict(stored.headers or {})


#: ASCII digits only (str.isdigit() also takes "²"), and no more than a file size needs.
_RANGE_NUMBERS = re.compile(r"[0-9]{0,19}-[0-9]{0,19}")


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One ``bytes=`` range as (first, last) inclusive; None means "send it all".

    Malformed and multi-range headers are ignored (a 200), as RFC 9110 allows; a range
    starting past the end raises a 416.
    """
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not (first or last) or not _RANGE_NUMBERS.fullmatch(first + "-" + last):
        return None
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise HTTPException(416, "range not satisfiable")
        return max(size - suffix, 0), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise HTTPException(416, "range not satisfiable")
    return start, min(end, size - 1)


@functools.lru_cache(maxsize=4096)  # keyed by path: an original's bytes never change
def proven(path: Path) -> bool:
    """Whether a file's first bytes prove it a picture, video or sound (`sniff`). The
    type stored for one they do not prove came from the archived server's word."""
    try:
        return sniff(head_of(path)) is not None
    except OSError:
        return False


def _chunks(path: Path, start: int, length: int) -> Iterator[bytes]:
    with path.open("rb") as handle:
        handle.seek(start)
        while length > 0:
            chunk = handle.read(min(CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk


def stream_original(request: Request, original: StoredOriginal, *, download: bool) -> Response:
    """The bytes with Range, If-Range and ETag (the digest: the bytes never change)."""
    size = original.path.stat().st_size
    etag = f'"{original.sha256}"'
    inline = not download and original.mime_type in INLINE_TYPES and proven(original.path)
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Cache-Control": "private, max-age=31536000, immutable",
        "Content-Disposition": (
            f'{"inline" if inline else "attachment"}; filename="{original.filename}"'
        ),
    }
    media_type = original.mime_type if inline else "application/octet-stream"
    if _none_match(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    start, end, status = 0, size - 1, 200
    range_header = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if range_header and (if_range is None or if_range.strip() == etag):
        try:
            chosen = parse_range(range_header, size)
        except HTTPException:
            return Response(
                status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"}
            )
        if chosen is not None:
            (start, end), status = chosen, 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    length = max(end - start + 1, 0)
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media_type)
    return StreamingResponse(
        _chunks(original.path, start, length),
        status_code=status,
        headers=headers,
        media_type=media_type,
    )


@router.get("/media/{sha256}")
@router.head("/media/{sha256}", include_in_schema=False)
def original(
    sha256: str, request: Request, archive: ArchiveDep, download: bool = False
) -> Response:
    """The archived original; ``?download=1`` makes it an attachment."""
    return stream_original(request, find_original(archive, sha256), download=download)


@router.get("/media/pages/{sha256}")
@router.head("/media/pages/{sha256}", include_in_schema=False)
def page_version(sha256: str, archive: ArchiveDep, download: bool = False) -> Response:
    """A page version as archived: its source as text, decoded as it was served (its
    charset, else its own declaration), to read; ``?download=1`` gives its bytes.

    Never as a document: even sandboxed, a page's resource hints (``dns-prefetch``,
    ``preconnect``) and its ``<base>`` reach the sites it names, and tell them who
    reads it."""
    path, headers = _page_version(archive, sha256)  # a page is at most max_page_size
    try:
        text = None if download else decode_page(path.read_bytes(), charset_of(headers))
    except ExtractError:  # not text at all: the bytes are what there is
        text = None
    if text is None:
        return _stored(path, "application/octet-stream", f'attachment; filename="{sha256}.html"')
    return Response(
        text,
        media_type="text/plain",  # Starlette adds charset=utf-8: what the text is sent as
        headers={
            "Content-Disposition": f'inline; filename="{sha256}.html.txt"',
            "Cache-Control": "private, no-cache",
        },
    )


@router.get("/media/pages/{sha256}/provenance.json")
@router.head("/media/pages/{sha256}/provenance.json", include_in_schema=False)
def page_provenance(sha256: str, archive: ArchiveDep) -> Response:
    """A page version's sidecar, as stored: every address that served these bytes."""
    sidecar = _page_version(archive, sha256)[0].parent / SIDECAR
    layout = archive.layout
    found = _inside_media(layout, sidecar, "sidecar", root=layout.pages_root)
    return _stored(found, "application/json", f'inline; filename="{sha256}.page-provenance.json"')


@router.get("/media/{sha256}/provenance.json")
@router.head("/media/{sha256}/provenance.json", include_in_schema=False)
def provenance(sha256: str, archive: ArchiveDep) -> Response:
    """The provenance sidecar next to the original, as stored (byte for byte); also when
    the original is lost, which is when it is needed most."""
    found = _indexed(archive, sha256)
    sidecar = _inside_media(archive.layout, found.path.parent / SIDECAR, "sidecar")
    return _stored(sidecar, "application/json", f'inline; filename="{sha256}.provenance.json"')


def _stored(path: Path, media_type: str, disposition: str) -> Response:
    """A small stored file (a sidecar, a page version) whole, never cached by others; the
    server drops the body of a HEAD."""
    return Response(
        path.read_bytes(),
        media_type=media_type,
        headers={"Content-Disposition": disposition, "Cache-Control": "private, no-cache"},
    )
