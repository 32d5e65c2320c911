"""Adding, listing, pausing and removing sources; syncing the config's ``[[sources]]``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from archiver.config import SOURCE_KINDS, PollingConfig, SourceEntry, is_http_url
from archiver.errors import ArchiverError
from archiver.extract.urls import clean_url
from archiver.index.models import Source, iso, utcnow
from archiver.index.records import get_or_create
from archiver.logs import log_event

DEFAULT_EVERY = PollingConfig().default_every  # a source added without an interval


class SourceError(ArchiverError):
    """A source command named no known source, or a bad URL or kind."""


def _check_url(url: str) -> str:
    """The URL a source is recorded under: `clean_url` (scheme and host in lower case,
    no fragment, no tracking parameters), so another spelling of it is the same source."""
    if not is_http_url(url):
        raise SourceError(f"not an http(s) URL: {url!r}")
    return clean_url(url.strip())


def _by_url(session: Session, url: str) -> Source | None:
    """The source recorded under ``url`` (`_check_url`), or under another spelling of
    it: one added before sources were recorded so."""
    source = session.scalar(select(Source).where(Source.url == url))
    if source is not None:
        return source
    parts = urlsplit(url)
    start = f"{parts.scheme}://{parts.netloc}{parts.path}".lower()  # what any spelling holds
    candidates = session.scalars(
        select(Source)
        .where(func.lower(Source.url).startswith(start, autoescape=True))
        .order_by(Source.id)
    )
    return next((s for s in candidates if _spelled(s.url) == url), None)


def add_source(
    session: Session,
    url: str,
    *,
    every: float | None,
    default_every: float = DEFAULT_EVERY,
    name: str | None = None,
    kind: str | None = None,
    from_config: bool = False,
) -> Source:
    """Add a source, or update the settings of the one with this URL, however spelled.

    What is not given (None) is left as it is on a source already there; a new one
    gets ``default_every`` and the kind ``auto``.
    """
    if kind is not None and kind not in SOURCE_KINDS:
        raise SourceError(f"kind must be one of {', '.join(SOURCE_KINDS)}, not {kind!r}")
    url = _check_url(url)
    now = utcnow()
    source, created = get_or_create(
        session,
        lambda: _by_url(session, url),
        lambda: Source(
            url=url,
            name=name,
            kind=kind or "auto",
            every_seconds=every or default_every,
            paused=False,
            from_config=from_config,
            next_poll_at=now,
            consecutive_errors=0,
            created_at=now,
        ),
    )
    if not created:
        _set_every(source, every or source.every_seconds, now)
        if kind is not None and kind != source.kind:
            _set_kind(source, kind, now)
        source.name = name or source.name
        # a config source stays the config's: `source add` renaming it, or changing its
        # interval, left it behind when its table was deleted from the file
        source.from_config = source.from_config or from_config
    return source


def _set_kind(source: Source, kind: str, now: datetime) -> None:
    """Change a source's kind, to be read so at once (`read_anew`)."""
    source.kind = kind
    if kind != "auto":
        source.detected_kind = None
    read_anew(source, now)


def read_anew(source: Source, now: datetime) -> None:
    """Make a source due now, its next poll reading its document whole and handling it
    again: after a change of kind, its validators (a 304) or its checksum (unchanged)
    kept the old kind's reading until the document changed."""
    source.etag = source.last_modified = source.content_sha256 = None
    source.fetched_whole_at = None
    source.next_poll_at = now


def _set_every(source: Source, every: float, now: datetime) -> None:
    """Change a source's interval. A shorter one takes effect now: the next poll was
    set from the old one (a daily source made hourly waited out the day)."""
    if every < source.every_seconds:
        sooner = (source.last_polled_at or now) + timedelta(seconds=every)
        source.next_poll_at = min(source.next_poll_at, sooner)
    source.every_seconds = every


#: The largest id a source can have (PostgreSQL's ``integer``): a larger number is
#: none, not a query the database refuses with a traceback.
_MAX_ID = 2**31 - 1


def find_source(session: Session, ref: str) -> Source:
    """A source by id or by URL."""
    by_id = ref.isdecimal() and len(ref) <= len(str(_MAX_ID)) and int(ref) <= _MAX_ID
    query = select(Source).where(Source.id == int(ref)) if by_id else None
    source = session.scalar(query) if query is not None else None
    if source is None and is_http_url(ref):
        source = _by_url(session, _check_url(ref))
    if source is None:
        raise SourceError(f"no source {ref!r} (see 'archiver source list')")
    return source


def set_paused(session: Session, ref: str, paused: bool) -> Source:
    source = find_source(session, ref)
    source.paused = paused
    if not paused:
        source.next_poll_at = utcnow()
    return source


def remove_source(session: Session, ref: str) -> Source:
    """Forget a source. What it found stays archived (pages keep their embeds)."""
    source = find_source(session, ref)
    session.delete(source)
    return source


def _spelled(url: str) -> str:
    """A recorded source URL as `_check_url` spells it (one added before, as given)."""
    return clean_url(url) if is_http_url(url) else url


def sync_config_sources(
    session: Session, entries: list[SourceEntry], default_every: float
) -> list[str]:
    """Make the index match the config's ``[[sources]]``: add or update each one, and
    remove config-declared sources that are no longer in the file; the URLs removed.

    The index does not record which file declared a source: daemons sharing a
    database must share one ``[[sources]]`` list, or each start removes the others'.
    Each removal is logged, so that such a start is seen.
    """
    declared = {_check_url(e.url) for e in entries}
    for entry in entries:
        add_source(
            session,
            entry.url,
            every=entry.every or default_every,
            name=entry.name,
            kind=entry.kind,
            from_config=True,
        )
    removed = []
    for source in session.scalars(select(Source).where(Source.from_config.is_(True))):
        if source.url not in declared and _spelled(source.url) not in declared:
            log_event("source.removed", url=source.url, id=source.id, reason="not in the config")
            removed.append(source.url)
            session.delete(source)
    return removed


@dataclass(frozen=True)
class SourceView:
    """A source as ``source list`` and ``status`` show it."""

    source: Source

    def to_json(self) -> dict[str, Any]:
        s = self.source
        return {
            "id": s.id,
            "url": s.url,
            "name": s.name,
            "kind": s.kind,
            "detected_kind": s.detected_kind,
            "every_seconds": s.every_seconds,
            "paused": s.paused,
            "from_config": s.from_config,
            "last_polled_at": iso(s.last_polled_at),
            "last_result": s.last_result,
            "last_error": s.last_error,
            "consecutive_errors": s.consecutive_errors,
            "next_poll_at": iso(s.next_poll_at),
        }


def list_sources(session: Session) -> list[SourceView]:
    return [SourceView(s) for s in session.scalars(select(Source).order_by(Source.id))]
