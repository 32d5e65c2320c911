"""Errors that carry a one-line reason meant for the archivist, not a traceback."""

from __future__ import annotations

import errno


class ArchiverError(Exception):
    """Base of every expected failure; ``str(err)`` is a complete one-line reason."""


class ConfigError(ArchiverError):
    """The configuration file is missing, malformed or names a bad value."""


class FetchError(ArchiverError):
    """A download failed: network, HTTP status, size cap, refused address, ..."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        retryable: bool = True,
        retry_after: float | None = None,
        gone: bool = False,
    ):
        super().__init__(message)
        self.http_status = http_status
        self.retryable = retryable
        self.retry_after = retry_after  # seconds the server asked us to wait
        self.gone = gone or http_status in (404, 410)  # the media no longer exists there
        self.body = b""  # the start of an error answer's body, where one was read


class BlockedAddressError(FetchError):
    """The URL's host resolves to an address archiver must not reach (SSRF guard)."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


class HashingError(ArchiverError):
    """A file could not be fingerprinted; ``str()`` is a one-line reason."""


class AudioOnlyError(HashingError):
    """A container identified as video holds sound alone (an MP4 or Matroska file)."""


class StoreError(ArchiverError):
    """The archive could not be written (disk full, permissions)."""


class ArchiveUnavailable(StoreError):
    """The archive as a whole cannot take the work now: its disk is full or read-only,
    a folder in it may not be written, or its database cannot be reached or written.

    Not the fault of the item at hand: its job is retried later and the attempt is
    not counted, so a disk that stays full over a weekend never makes archiver give
    up on evidence.
    """


#: errno values that say the archive's filesystem, not one file, is at fault
UNAVAILABLE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})
#: ... and, for a write inside an archive that exists, a folder archiver may no longer
#: write (its owner or mode changed) or one it cannot make (a file or a dead link to an
#: unmounted disk in the way): the operator's to put right, not the evidence's
_ARCHIVE_STATE_ERRNOS = UNAVAILABLE_ERRNOS | {errno.EACCES, errno.EPERM, errno.EEXIST}


def storage_error(exc: OSError, what: str) -> StoreError:
    """The one-line error for a failed write into the archive: ``what: reason``."""
    reason = f"{what}: {exc.strerror or exc}"
    if exc.errno in _ARCHIVE_STATE_ERRNOS:
        return ArchiveUnavailable(reason)
    return StoreError(reason)


class Interrupted(ArchiverError):
    """Work stopped because the daemon is shutting down; the job goes back to pending."""
