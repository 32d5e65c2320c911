"""Receiving "find this file" uploads: streamed to the archive's scratch space, capped.

The body is parsed as it arrives (never held in memory) and written under the
process's ``tmp/`` directory, where a restart cleans up after a crash. The size cap
is checked twice: against Content-Length before anything is read, and by counting
the bytes of the file part as they stream in (a client can lie or send chunks).

Scratch space shares the disk with the evidence, so what uploads may hold is bounded:
at most `UPLOADS_AT_ONCE` are received at a time (one more is a 503), and a sender
that falls behind `MIN_UPLOAD_RATE` after `UPLOAD_GRACE` is cut off (a 408), so a
client going silent cannot keep its slot and its bytes on disk.
"""

from __future__ import annotations

import contextlib
import logging
import re
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from archiver.errors import storage_error
from archiver.web.security import MIN_BODY_RATE, Pace

# python-multipart logs each malformed body as a warning before it raises. The client
# gets the reason as a one-line 400; on the service's stderr it would be a bare line,
# outside archiver's log format, that any client could print as often as it likes.
_LIBRARY_LOG = logging.getLogger("python_multipart")
_LIBRARY_LOG.addHandler(logging.NullHandler())
_LIBRARY_LOG.propagate = False

#: Uploads received at once by one process: scratch space held is at most this many
#: times ``[web] max_upload``.
UPLOADS_AT_ONCE = 4
#: Bytes per second an upload must keep up, on average, once `UPLOAD_GRACE` is over.
MIN_UPLOAD_RATE = MIN_BODY_RATE
UPLOAD_GRACE = 60.0  # seconds
ENVELOPE = 64 * 1024  # room for the multipart boundaries, headers and small fields
MAX_FIELD = 1024
MAX_PARTS = 16  # the file and a few small fields (min_similarity, limit)
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}")


class BadUpload(Exception):
    """The request is not a multipart form with one file (a 400)."""


class UploadRefused(Exception):
    """An upload not taken: too large (413), too many at once (503) or sent too slowly (408).
    ``headers``: what the answer carries besides (when to try again)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.headers = {"Retry-After": "10"} if status == 503 else {}
        if status == 408:  # the rest of the body is not waited for
            self.headers["Connection"] = "close"


class UploadTooLarge(UploadRefused):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"upload too large: at most {limit} bytes")


class UploadSlots:
    """How many uploads this process is receiving; past `capacity`, none more.

    Used from the event loop alone (uploads are received in async routes), so a count
    needs no lock; a refused upload costs nothing, where one that waited would hold
    its connection.
    """

    def __init__(self) -> None:
        self.capacity = UPLOADS_AT_ONCE
        self.taken = 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        if self.taken >= self.capacity:
            raise UploadRefused(503, f"{self.capacity} uploads are being received: try again")
        self.taken += 1
        try:
            yield
        finally:
            self.taken -= 1


@dataclass
class Upload:
    path: Path
    filename: str
    size: int
    fields: dict[str, str] = field(default_factory=dict)

    def scrub(self, message: str) -> str:
        """An error about the scratch file, naming the file as the client sent it."""
        name = Path(self.filename.replace("\\", "/")).name or "the upload"
        return message.replace(str(self.path), name).replace(self.path.name, name)


class _Collector:
    """python-multipart callbacks: the file part goes to disk, small fields to memory."""

    def __init__(self, handle: tempfile._TemporaryFileWrapper[bytes], name: str, limit: int):
        self.handle = handle
        self.name = name
        self.limit = limit
        self.size = 0
        self.filename: str | None = None
        self.fields: dict[str, str] = {}
        self.parts = 0
        self._headers: dict[str, bytes] = {}
        self._header_name = b""
        self._header_value = b""
        self._target: str | None = None  # "file", a field name, or None (ignored part)
        self._value = b""

    def on_part_begin(self) -> None:
        self._headers, self._target, self._value = {}, None, b""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_name.decode("latin-1").lower()] = self._header_value
        self._header_name, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:  # each field is kept in memory: bound how many
            raise BadUpload(f"too many form fields (at most {MAX_PARTS})")
        _, options = parse_options_header(self._headers.get("content-disposition", b""))
        part = options.get(b"name", b"").decode("utf-8", "replace")
        if part == self.name and b"filename" in options and self.filename is None:
            self.filename = options[b"filename"].decode("utf-8", "replace")
            self._target = "file"
        elif b"filename" in options and part != self.name:  # not "too long", as it said
            raise BadUpload(f"send the file in the form field {self.name!r}, not {part!r}")
        elif part and part != self.name and part not in self.fields:
            self._target = part

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._target == "file":
            self.size += end - start
            if self.size > self.limit:
                raise UploadTooLarge(self.limit)
            self.handle.write(data[start:end])
        elif self._target is not None:
            self._value += data[start:end]
            if len(self._value) > MAX_FIELD:
                raise BadUpload(f"form field {self._target!r} is too long")

    def on_part_end(self) -> None:
        if self._target not in (None, "file"):
            self.fields[self._target] = self._value.decode("utf-8", "replace")


async def _paced(request: Request) -> AsyncIterator[bytes]:
    """The body's chunks, each due before the upload falls behind `MIN_UPLOAD_RATE`
    (counted from the start, after `UPLOAD_GRACE`): the wait for a chunk is bounded."""
    chunks = request.stream().__aiter__()
    pace = Pace(UPLOAD_GRACE, MIN_UPLOAD_RATE)
    while True:
        try:
            chunk = await pace.next(anext(chunks))
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise UploadRefused(
                408, f"upload too slow: send at least {MIN_UPLOAD_RATE // 1024} KiB/s"
            ) from None
        pace.received(len(chunk))
        yield chunk


@contextlib.asynccontextmanager
async def receive_upload(
    request: Request, directory: Path, limit: int, name: str = "file"
) -> AsyncIterator[Upload]:
    """Stream the form's file field ``name`` to a temporary file; removed on exit.

    Takes one of the app's upload slots (``app.state.upload_slots``) while it runs."""
    slots: UploadSlots = request.app.state.upload_slots
    with slots.slot():
        async with _received(request, directory, limit, name) as upload:
            yield upload


@contextlib.asynccontextmanager
async def _received(
    request: Request, directory: Path, limit: int, name: str
) -> AsyncIterator[Upload]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdecimal() and int(declared) > limit + ENVELOPE:
        raise UploadTooLarge(limit)
    content_type, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise BadUpload(f"send the file as multipart/form-data in a field named {name!r}")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(dir=directory, prefix="upload-", delete=False)  # noqa: SIM115
    except OSError as exc:
        raise storage_error(exc, "cannot keep the upload") from None
    path = Path(handle.name)
    try:
        collector = _Collector(handle, name, limit)
        parser = MultipartParser(
            boundary,
            {
                "on_part_begin": collector.on_part_begin,
                "on_header_field": collector.on_header_field,
                "on_header_value": collector.on_header_value,
                "on_header_end": collector.on_header_end,
                "on_headers_finished": collector.on_headers_finished,
                "on_part_data": collector.on_part_data,
                "on_part_end": collector.on_part_end,
            },
        )
        received = 0
        try:
            async for chunk in _paced(request):
                received += len(chunk)
                if received > limit + ENVELOPE:
                    raise UploadTooLarge(limit)
                parser.write(chunk)
            parser.finalize()
            handle.close()
            if collector.filename is None:
                raise BadUpload(f"no file in the form field {name!r}")
            suffix = _SUFFIX.fullmatch(Path(collector.filename).suffix)
            if suffix:  # the type is sniffed from the bytes; the suffix only helps
                path = path.rename(path.with_suffix(suffix.group(0).lower()))
        except OSError as exc:  # a full disk is the archive's state: a 503, not a 500
            raise storage_error(exc, "cannot keep the upload") from None
        yield Upload(path, collector.filename, collector.size, collector.fields)
    except FormParserError:  # a malformed body, or a boundary the parser refuses
        raise BadUpload("malformed multipart body") from None
    except ClientDisconnect:  # the sender gave up: nobody hears the answer, nothing broke
        raise BadUpload("the upload was cut short") from None
    finally:
        handle.close()
        path.unlink(missing_ok=True)
