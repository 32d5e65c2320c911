"""Search the index: by hash (full or prefix), capture date, page, and words.

The CLI's ``search --json`` and the web API return exactly ``MediaRecord.to_json()``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    String,
    bindparam,
    func,
    literal,
    select,
    union,
)
from sqlalchemy.orm import Session

from archiver.errors import ArchiverError
from archiver.extract.urls import url_spellings
from archiver.index.models import DuplicateMember, Embed, Media, Sighting, iso
from archiver.index.records import (
    SIGHTING_COLUMNS,
    pages_read_as,
    placements_of,
    sighting_rows,
)
from archiver.index.textindex import MIN_INDEXED, IndexedWords, fold_text
from archiver.jsontext import printable, storable
from archiver.store.layout import SIDECAR, Layout

MIN_PREFIX = 8
DEFAULT_LIMIT = 100
#: The most results one search returns (an export takes as many): more is a typo, and
#: a number past 2^63 cannot reach the database.
MAX_RESULTS = 1_000_000
RECENT_WINDOW = 50  # files read per result by the newest-first pass for words
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # before any capture


#: Different words a text search takes at most (each is a LIKE and an index lookup).
MAX_WORDS = 32
#: Characters of one word at most: SQLite refuses a LIKE pattern over 50,000 bytes
#: (4 bytes a character, and an escape before each wildcard, stay under it).
MAX_WORD_LENGTH = 10_000


class QueryError(ArchiverError):
    """A search filter is malformed (bad hash, bad date)."""


# [0-9], not \d: \d takes the digits of every script, which int() reads too ("２０２６",
# "٢٠٢٦-١١" were taken as dates); ISO 8601 writes ASCII digits only
_WEEK = re.compile(r"[0-9]{4}-?W[0-9]{2}")
_YEAR = re.compile(r"[0-9]{4}")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")  # ISO 8601 has no 202611: it reads as a date
_ORDINAL = re.compile(r"([0-9]{4})-?([0-9]{3})")
# a day, "T" (or a space), a time with or without colons and a zone or none
_ONE_DAY = timedelta(days=1)
_DATETIME = re.compile(
    r"([0-9W-]+)[T ]([0-9]{2}(?::?[0-9]{2}(?::?[0-9]{2}(?:[.,][0-9]+)?)?)?)"
    r"(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?"
)
_DAY_END = re.compile(r"24(?::?00){0,2}(?:[.,]0+)?")  # 24:00, the day's end


def _period(text: str) -> tuple[date, date | None] | None:
    """The first day of the date, week, month or year ``text`` names and the first
    day after it (None past the calendar's end); None when it names no period."""
    try:
        if _YEAR.fullmatch(text):
            first = date(int(text), 1, 1)
            return first, _or_none(lambda: date(first.year + 1, 1, 1))
        if month := _MONTH.fullmatch(text):
            first = date(int(month[1]), int(month[2]), 1)
            return first, _or_none(lambda: (first + timedelta(days=31)).replace(day=1))
        if ordinal := _ORDINAL.fullmatch(text):
            first = date(int(ordinal[1]), 1, 1) + timedelta(days=int(ordinal[2]) - 1)
            if ordinal[2] == "000" or first.year != int(ordinal[1]):
                raise ValueError(f"no day {ordinal[2]} in {ordinal[1]}")
        else:
            first = date.fromisoformat(text)
    except (ValueError, OverflowError):
        return None
    length = timedelta(weeks=1) if _WEEK.fullmatch(text) else timedelta(days=1)
    return first, _or_none(lambda: first + length)


def _or_none(next_day: Callable[[], date]) -> date | None:
    try:
        return next_day()
    except (ValueError, OverflowError):  # past the calendar's last day
        return None


def parse_when(value: str, *, end: bool = False) -> datetime:
    """An ISO 8601 date or datetime as UTC. A date, in any ISO form (2026-11-25,
    20261125, 2026-W48-3, the ordinal 2026-329), is the day's start, or with `end` the
    next day's; a week (2026-W48), a month (2026-11) or a year (2026) likewise the
    whole period: its first day's start, or with `end` the start of the next. A
    datetime with `end` is the end of what it names, to its precision (`_moment`)."""
    text = value.strip().upper()  # ISO 8601 allows "t" and "z" as well
    try:
        period = _period(text)
        if period is not None:
            first, after = period
            if not end:
                return datetime.combine(first, time(), UTC)
            if after is None:  # the calendar's last day: no end at all
                return datetime.max.replace(tzinfo=UTC)
            return datetime.combine(after, time(), UTC)
        return _moment(text, end=end)
    except ValueError:
        raise QueryError(f"not an ISO 8601 date or datetime: {value!r}") from None
    except OverflowError:
        raise QueryError(f"date out of range: {value!r}") from None


def _moment(text: str, *, end: bool = False) -> datetime:
    """A datetime as UTC: a day in any ISO form (ordinal too: 2026-331T14:35Z), then a
    time, then a zone or none; 24:00 is the next day's start. What else Python's reader
    takes is refused: "2026-11-27-05:00" (a date in UTC-5) was 05:00 that day, and
    "2026-11-27Z" that day's start, so ``--until`` left the whole day out.

    With `end`, the first moment after it, as a bare date's end is the next day's
    start: ``--until 14:35`` takes in that minute, and a capture shown as 14:35:07
    (the search table's seconds) is found by ``--until 14:35:07``; it was left out,
    being a fraction of a second later. 24:00 is a day's end already."""
    found = _DATETIME.fullmatch(text)
    day = _period(found[1]) if found else None
    if found is None or day is None or (day[1] is not None and day[1] - day[0] != _ONE_DAY):
        raise ValueError(text)  # no time, or a week, month or year before it
    clock, zone = found[2].replace(",", "."), (found[3] or "").replace("Z", "+00:00")
    day_end = _DAY_END.fullmatch(clock) is not None
    parsed = datetime.fromisoformat(f"{day[0].isoformat()}T{'00:00' if day_end else clock}{zone}")
    parsed += _ONE_DAY if day_end else timedelta(0)
    moment = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if not end or day_end:
        return moment
    try:
        return moment + _precision(clock)
    except OverflowError:  # the calendar's last moment: no end at all
        return datetime.max.replace(tzinfo=UTC)


def _precision(clock: str) -> timedelta:
    """How long a time of day as written lasts: an hour (14), a minute (14:35), a
    second (14:35:07), or with a fraction the microsecond the index keeps times to
    (finer digits are cut off, as Python's reader does, so 07.1234567 ends after the
    stored 07.123456)."""
    if "." in clock:
        return timedelta(microseconds=1)
    digits = len(clock.replace(":", ""))
    return {2: timedelta(hours=1), 4: timedelta(minutes=1)}.get(digits, timedelta(seconds=1))


def _when(name: str, value: str, *, end: bool = False) -> datetime:
    """`parse_when`, with an error that names the filter."""
    try:
        return parse_when(value, end=end)
    except QueryError as exc:
        raise QueryError(f"{name}: {exc}") from None


def _last_day(name: str, value: str) -> date:
    """The last day a date, week or datetime covers (a datetime: its own day, and
    24:00 the day it ends)."""
    return (_when(name, value, end=True) - timedelta(microseconds=1)).date()


def _hex_prefix(value: str, name: str, full: int) -> str:
    text = value.strip().lower()
    if not re.fullmatch(r"[0-9a-f]+", text) or not MIN_PREFIX <= len(text) <= full:
        raise QueryError(f"{name}: takes {MIN_PREFIX} to {full} hex characters, got {value!r}")
    return text


def refuse_undecoded(name: str, value: str) -> None:
    """QueryError for a value holding bytes that were not UTF-8 (lone surrogates: a
    shell argument, or a query string read with ``surrogateescape``)."""
    if storable(value) != value:
        raise QueryError(f"{name}: is not UTF-8 text: '{printable(value)}'")


@dataclass(frozen=True)
class SearchQuery:
    sha256: str | None = None
    md5: str | None = None
    since: datetime | None = None  # on first capture time, inclusive
    until: datetime | None = None  # exclusive: the end of what was given (`parse_when`)
    page: str | None = None
    text: str | None = None
    upload_since: date | None = None  # on the platform's upload date, inclusive
    upload_until: date | None = None  # inclusive
    limit: int = DEFAULT_LIMIT

    @classmethod
    def parse(
        cls,
        *,
        sha256: str | None = None,
        md5: str | None = None,
        since: str | None = None,
        until: str | None = None,
        page: str | None = None,
        text: str | None = None,
        upload_since: str | None = None,
        upload_until: str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> SearchQuery:
        """Validate user input (CLI flags, API query parameters); an error names the
        filter as both know it (``sha256: …``). A filter given empty is refused:
        ``--sha256 "$H"`` with ``$H`` unset must not select everything."""
        if not 1 <= limit <= MAX_RESULTS:
            raise QueryError(f"limit: must be from 1 to {MAX_RESULTS:,}")
        filters = {
            "sha256": sha256, "md5": md5, "since": since, "until": until, "page": page,
            "text": text, "upload-since": upload_since, "upload-until": upload_until,
        }  # fmt: skip
        for name, value in filters.items():
            if value is not None and not value.strip():
                raise QueryError(f"{name}: is empty: leave it out to search everything")
        for name, given in (("page", page), ("text", text)):
            if given and "\x00" in given:
                raise QueryError(f"{name}: cannot contain a NUL character")
            if given:  # a shell argument not in UTF-8
                refuse_undecoded(name, given)
        if text and len(set(fold_text(text).split())) > MAX_WORDS:
            raise QueryError(f"text: takes at most {MAX_WORDS} different words")
        if text and max(map(len, fold_text(text).split()), default=0) > MAX_WORD_LENGTH:
            raise QueryError(f"text: a word is longer than {MAX_WORD_LENGTH:,} characters")
        return cls(
            sha256=_hex_prefix(sha256, "sha256", 64) if sha256 else None,
            md5=_hex_prefix(md5, "md5", 32) if md5 else None,
            since=_when("since", since) if since else None,
            until=_when("until", until, end=True) if until else None,
            page=page.strip() if page else None,
            text=text.strip() if text else None,
            upload_since=_when("upload-since", upload_since).date() if upload_since else None,
            upload_until=_last_day("upload-until", upload_until) if upload_until else None,
            limit=limit,
        )

    @property
    def words(self) -> list[str]:
        """Each word must be a substring of ``media.search_text`` (both folded alike by
        `fold_text`); a word given twice counts once."""
        return list(dict.fromkeys(fold_text(self.text or "").split()))

    @property
    def indexed_words(self) -> list[str]:
        """The words the trigram index can look up (shorter ones are only scanned for)."""
        return [word for word in self.words if len(word) >= MIN_INDEXED]

    def statement(self) -> Select[int]:
        """The media ids that match, newest capture first.

        Each filter narrows ``media`` directly (hash prefixes as index ranges, page
        and words through sub-selects), so no join multiplies rows to de-duplicate.
        Words: a LIKE each is the definition of a match; the trigram index (SQLite's
        FTS5 table, PostgreSQL's GIN index) finds the candidates, which are sorted
        afterwards (``OFFSET 0`` keeps PostgreSQL from walking the capture-time index
        instead when it overestimates a word, which is a full scan for a rare one).
        """
        query = self._narrowed().where(*_word_matches(Media.search_text.expression, self.words))
        if not self.indexed_words:
            return query.order_by(*_NEWEST_FIRST).limit(self.limit)
        query = query.where(IndexedWords(Media.id.expression, self.indexed_words))
        found = query.add_columns(Media.first_captured_at).offset(0).subquery()
        order = (found.c.first_captured_at.desc(), found.c.id.desc())
        return select(found.c.id).order_by(*order).limit(self.limit)

    def recent_statement(self) -> Select[int]:
        """The word matches among the newest ``limit * RECENT_WINDOW`` files that pass
        the other filters (a few more on equal capture times).

        When that fills the page it is the answer, since the window is the start of
        the result order. It is how a common word stays fast: a newest-first walk
        stops as soon as the page is full, while the index would read most of itself
        for the word. The window's end is one capture time, so the walk is an index
        range that also stops there for a rare word.
        """
        newest = self._narrowed().with_only_columns(Media.first_captured_at)
        edge = newest.order_by(Media.first_captured_at.desc())  # the index order alone
        edge = edge.offset(self.limit * RECENT_WINDOW - 1).limit(1)
        start = func.coalesce(edge.scalar_subquery(), literal(EPOCH, Media.first_captured_at.type))
        query = self._narrowed().where(Media.first_captured_at >= start)
        query = query.where(*_word_matches(Media.search_text.expression, self.words))
        return query.order_by(*_NEWEST_FIRST).limit(self.limit)

    def _narrowed(self) -> Select[int]:
        """The ids that pass every filter but the words."""
        query = select(Media.id)
        for column, prefix in ((Media.sha256, self.sha256), (Media.md5, self.md5)):
            if prefix:  # hex only: "g" sorts after every hex digit
                query = query.where(column >= prefix, column < prefix + "g")
        if self.since:
            query = query.where(Media.first_captured_at >= self.since)
        if self.until:
            query = query.where(Media.first_captured_at < self.until)
        if self.upload_since:
            query = query.where(Media.platform_upload_date >= self.upload_since)
        if self.upload_until:
            query = query.where(Media.platform_upload_date <= self.upload_until)
        seen = select(Sighting.media_id).join(Embed, Embed.id == Sighting.embed_id)
        if self.page:
            spellings = url_spellings(self.page)
            on_page = seen.where(Embed.page_id.in_(pages_read_as(spellings)))
            on_embed = seen.where(Embed.url.in_(spellings))
            query = query.where(Media.id.in_(union(on_page, on_embed)))
        return query


_NEWEST_FIRST = (Media.first_captured_at.desc(), Media.id.desc())


def _word_matches(column: ColumnElement[str | None], words: list[str]) -> list[ColumnElement[bool]]:
    """LIKE '%word%' per word, its wildcards taken literally.

    The pattern goes into the SQL text, not a parameter: PostgreSQL then plans each
    search for its words (the trigram index for a rare one, the capture-time walk
    for a common one) instead of settling, after a few runs of the prepared
    statement, on one generic plan that scans every file for a rare word.
    """
    return [
        column.like(bindparam(None, f"%{_escape(w)}%", String(), literal_execute=True), "\\")
        for w in words
    ]


def _escape(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class MediaRecord:
    """One stored file as search results present it."""

    media: Media
    layout: Layout
    duplicate_group: int | None = None
    similarity: float | None = None  # for --similar-to and --phash results
    sightings: Sequence[Row[Any]] = ()  # `SIGHTING_COLUMNS`, oldest first
    match: str | None = None  # --similar-to: "exact" (the very bytes), else the rule

    def to_json(self) -> dict[str, Any]:
        m = self.media
        path = self.layout.absolute(m.path)
        return {
            "sha256": m.sha256,
            "md5": m.md5,
            "media_type": m.media_type,
            "mime_type": m.mime_type,
            "size_bytes": m.size_bytes,
            "path": str(path),
            "sidecar": str(path.parent / SIDECAR),
            "first_captured_at": iso(m.first_captured_at),
            "sightings": [
                {
                    "page_url": s.page_url,
                    "update": s.update_label,
                    "context": s.context,
                    "other_placements": placements_of(s.embed_metadata),
                    "posted_at": iso(s.posted_at),
                    "embed_url": s.embed_url,
                    "media_url": s.media_url,
                    "first_seen_at": iso(s.first_seen_at),
                }
                for s in self.sightings
            ],
            "platform": {
                "extractor": m.platform_extractor,
                "id": m.platform_id,
                "title": m.platform_title,
                "uploader": m.platform_uploader,
                "upload_date": m.platform_upload_date.isoformat()
                if m.platform_upload_date
                else None,
                "uploaded_at": iso(m.platform_uploaded_at),
            }
            if m.platform_extractor
            else None,
            "duplicate_group": self.duplicate_group,
            **({"similarity": round(self.similarity, 4)} if self.similarity is not None else {}),
            **({"match": self.match} if self.match is not None else {}),
        }


def search(session: Session, layout: Layout, query: SearchQuery) -> list[MediaRecord]:
    return records(session, layout, matching_ids(session, query))


def matching_ids(session: Session, query: SearchQuery) -> list[int]:
    """The ids ``query.statement()`` selects, found the fast way for the words given.

    A common word is found at once by walking the newest files, and costs the
    trigram index a read of most of itself; a rare one is the reverse. Neither
    planner tells them apart reliably (FTS5 gives no estimate; PostgreSQL's comes
    from sampled documents), so the bounded walk goes first and only words it does
    not fill the page with go to the index.
    """
    if query.indexed_words:
        recent = list(session.scalars(query.recent_statement()))
        if len(recent) == query.limit:
            return recent
    return list(session.scalars(query.statement()))


#: Ids looked up per statement: SQLite takes 32,766 values in one, PostgreSQL 65,535.
_ID_BATCH = 10_000


def records(
    session: Session,
    layout: Layout,
    ids: list[int],
    similarity: dict[int, float] | None = None,
    matches: dict[int, str] | None = None,
) -> list[MediaRecord]:
    """Search results for these media ids, in this order (with how each matched, for
    a similarity search)."""
    groups: dict[int, int] = {}
    by_id: dict[int, Media] = {}
    seen: dict[int, list[Row[Any]]] = {}
    for start in range(0, len(ids), _ID_BATCH):  # a statement takes 32,766 values at most
        batch = ids[start : start + _ID_BATCH]
        groups.update(
            session.execute(
                select(DuplicateMember.media_id, DuplicateMember.group_id).where(
                    DuplicateMember.media_id.in_(batch)
                )
            ).all()
        )
        by_id.update(
            (row.id, row) for row in session.scalars(select(Media).where(Media.id.in_(batch)))
        )
        # as rows, not objects with their embeds and pages: the item page of a file
        # seen on 10,000 pages took 1.6 s and 58 MB to build (0.37 s and 14 MB now)
        for media_id, rows in itertools.groupby(
            session.execute(
                sighting_rows(Sighting.media_id, *SIGHTING_COLUMNS)
                .where(Sighting.media_id.in_(batch))
                .order_by(Sighting.media_id, Sighting.first_seen_at, Sighting.id)
            ),
            key=lambda row: row.media_id,
        ):
            seen[media_id] = list(rows)
    similarity, matches = similarity or {}, matches or {}
    return [
        MediaRecord(
            by_id[i], layout, groups.get(i), similarity.get(i), seen.get(i, []), matches.get(i)
        )
        for i in ids
        if i in by_id
    ]


__all__ = [
    "MediaRecord",
    "QueryError",
    "SearchQuery",
    "matching_ids",
    "parse_when",
    "records",
    "search",
]
