"""When a feed says an entry was posted: RFC 822 dates (RSS), RFC 3339 (Atom, JSON Feed)
and what publishers write instead.

A zone named by letters is read only when the name means one offset ("EEST", "MSK");
feedparser and ``email.utils`` read an unknown name as UTC, which moved a Kyiv post
three hours. An ambiguous or unknown name gives no moment rather than a wrong one:
the date is provenance an investigator relies on. So RFC 822's own US names are not
all read: ``CST`` is China's (+8) as much as US Central (Go's servers in Shanghai
write it), and Cuba's (-5), as ``CDT`` is Cuba's too; ``PST`` the Philippines' (+8),
``MST`` Malaysia's (+8), ``BST`` Bangladesh's (+6) besides British Summer Time.
``EST`` and ``EDT`` are kept as US Eastern: Australia's are ``AEST`` and ``AEDT``
(the time-zone database wrote ``EST`` for them too until 2014, and publishers there
write ``AEST``), and a rule refusing them would give no date to most US feeds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from archiver.extract.structured import iso_moment

#: Zone names with one meaning, in hours east of UTC ("IST", "AST", "BST", "CST",
#: "CDT", "MST" and "PST" have several: not here).
_ZONES: dict[str, float] = {
    "UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "WEST": 1, "CET": 1,
    "MET": 1, "CEST": 2, "MEST": 2, "EET": 2, "EEST": 3, "MSK": 3, "IDT": 3, "PKT": 5,
    "SGT": 8, "HKT": 8, "JST": 9, "KST": 9, "AEST": 10, "AEDT": 11, "NZST": 12,
    "NZDT": 13, "EST": -5, "EDT": -4, "MDT": -6, "PDT": -7, "AKST": -9, "AKDT": -8,
    "HST": -10,
}  # fmt: skip
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
# "Mon, 06 May 2024 09:30:00 +0300", "6 May 24 09:30 EEST", "… UTC+03:00", "… +0000 (UTC)"
_RFC_822 = re.compile(
    r"\s*(?:[A-Za-z]{2,12}\.?,?\s*)?(?P<day>\d{1,2})\s+(?P<month>[A-Za-z]{3,9})\.?,?\s+"
    r"(?P<year>\d{2}|\d{4})\s+(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?"
    r"\s*(?P<zone>[A-Za-z]{0,5})\s*(?P<offset>[+-]\d{1,2}(?::?\d{2})?)?\s*(?:\([^)]*\))?\s*"
)
_EPOCH = re.compile(r"\s*\d{9,10}\s*")
_WORD = re.compile(r"[A-Za-z]+")
_WEEKDAYS = frozenset({"mon", "tue", "wed", "thu", "fri", "sat", "sun"})


def names_unknown_zone(raw: str) -> bool:
    """Whether a date's text names a zone by letters not read here (ambiguous or
    unknown: ``Tue Mar 12 18:00:00 CST 2024``, as Java and Go write dates): feedparser,
    which reads the forms not read here, takes CST for US Central and IST for UTC."""
    for word in _WORD.findall(raw):
        lowered = word.lower()
        if word.upper() in _ZONES or lowered[:3] in _MONTHS or lowered[:3] in _WEEKDAYS:
            continue
        if word.isupper() and 2 <= len(word) <= 5 and lowered not in ("am", "pm"):
            return True
    return False


def feed_moment(raw: str) -> tuple[bool, datetime | None]:
    """``(understood, moment)``: whether the text has a form read here, and the moment in
    UTC it names (None when its zone is unknown or a part is out of range). A text not
    understood may be left to feedparser's many other forms."""
    moment = iso_moment(raw)
    if moment is not None:
        return True, moment
    if _EPOCH.fullmatch(raw):  # seconds since 1970, as some generators write
        return True, datetime.fromtimestamp(int(raw), UTC)
    match = _RFC_822.fullmatch(raw)
    if match is None:
        return False, None
    month = _MONTHS.get(match["month"][:3].lower())
    shift = _offset(match["zone"], match["offset"])
    if month is None or shift is None:
        return True, None
    year = int(match["year"])
    year += (2000 if year < 50 else 1900) if len(match["year"]) == 2 else 0
    try:
        local = datetime(
            year, month, int(match["day"]), int(match["hour"]), int(match["minute"]),
            int(match["second"] or 0), tzinfo=timezone(shift),
        )  # fmt: skip
        return True, local.astimezone(UTC)
    except (ValueError, OverflowError):
        return True, None


def _offset(zone: str, offset: str | None) -> timedelta | None:
    """The zone's offset: a name ("EEST"), a number ("+0300", "+03:00"), a name that is
    UTC's with a number ("UTC+03:00"), or none at all (UTC); None when unknown."""
    name = zone.upper()
    if offset is None:
        named = _ZONES.get(name) if name else 0.0
        return None if named is None else timedelta(hours=named)
    if name and name not in ("UT", "UTC", "GMT"):
        return None  # "EST+5" and the like: a name and a number that need not agree
    sign = -1 if offset.startswith("-") else 1
    digits = offset[1:].replace(":", "")
    hours, minutes = (digits, "0") if len(digits) <= 2 else (digits[:-2], digits[-2:])
    if int(hours) > 14 or int(minutes) > 59:
        return None
    return sign * timedelta(hours=int(hours), minutes=int(minutes))
