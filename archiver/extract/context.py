"""Live-blog update labels and the words around an embed, which say what the media shows.

A live blog such as "Syria Daily" adds entries under labels like "UPDATE 1800 GMT:" and keeps
the first post under "ORIGINAL ENTRY"; the sentence before a video ("...posting video of
their fighters near the Citadel:") is what the author claimed it shows. Both are provenance.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from archiver.extract.document import (
    MEDIA_TAGS,
    PROBE_ELEMENTS,
    SHORT_TEXT_ELEMENTS,
    Element,
    collapse,
    tag_name,
    text_of,
)

MAX_CONTEXT = 400
_MIN_CONTEXT = 80
_SENTENCE_WINDOW = 2 * MAX_CONTEXT
_MAX_HEADING_LABEL = 200
PARAGRAPH = "\u2029"  # paragraph boundary marker inside the running text

_CITY = r"(?:Damascus|Kyiv|Kiev|Moscow|Beirut|Gaza|Jerusalem|Tehran|Israel)"
_ZONE = (
    r"(?:(?:GMT|UTC)(?:\s*[+-]\s*\d{1,2}(?::?\d{2})?)?"  # "GMT+2", "UTC-05:00"
    r"|BST|CET|CEST|EET|EEST|MSK|AST|IST|IDT|IRST|IRDT|EST|EDT|CST|CDT|PST|PDT|ET|PT|мск"
    # a city's time, "Kyiv time" (a city alone after a time is a dateline: "20:00 Kyiv:")
    rf"|local(?:\s+time)?|{_CITY}\s+time"
    # Arabic "by the time of": "بتوقيت غرينتش" is GMT, "بتوقيت مكة المكرمة" Mecca's
    r"|بتوقيت\s+(?:مكة\s+المكرمة|\w+)"
    # Russian "Moscow time" and Ukrainian "Kyiv time", in words
    r"|по\s+(?:московскому|киевскому)\s+времени|по\s+Москве|за\s+київським\s+часом)"
)
# "14:32", "2.32pm", "10:32 a.m.", "13h50", "14 h 10" (French), "14.32 Uhr" (German); not
# the day and month of a date written in numbers ("12.03.2024")
_CLOCK = (
    r"(?:\d{1,2}(?:[:.]|\s?h\s?)\d{2}(?![./]?\d)(?:\s*[ap]\.?m\.?|\s*Uhr)?"
    r"|\d{1,2}\s*[ap]\.?m\.?)"
)
_TIME = (
    rf"(?:{_CLOCK}(?:\s*(?:{_ZONE}|\({_ZONE}\)))?|\d{{3,4}}\s*{_ZONE}|\d{{3,4}}\s*(?:hrs|hours))"
)
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_WEEKDAY = r"(?:Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)[a-z]*\.?,?\s+"
_YEAR = r"(?:,?\s+\d{4}(?!\d))?"
# "12.03.2024", "12/03/2024", "2024-03-12": a date in numbers, with its year
_NUMERIC_DATE = r"(?:\d{1,2}[./]\d{1,2}[./]\d{4}|\d{4}-\d{2}-\d{2})(?!\d)"
# "March 12", "12th March", "Tuesday 12 March", "March 12, 2024", "12.03.2024"
_DATE = (
    rf"(?:(?:{_WEEKDAY})?(?:(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?!\d)"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}){_YEAR}|{_NUMERIC_DATE}))"
)
_KEYWORD = (
    r"(?:UPDATE[SD]?|BREAKING(?:\s+NEWS)?|ORIGINAL\s+ENTRY|LATEST|FLASH|URGENT"
    r"|CORRECTION|CLARIFICATION|DEVELOPING|JUST\s+IN|POSTED(?:\s+AT)?"
    # French, German and Spanish "updated"
    r"|MISE?\s+À\s+JOUR(?:\s+À)?|AKTUALISIERT(?:\s+UM)?|ACTUALIZADO(?:\s+A\s+LAS)?"
    # Arabic "last update", "update", "urgent"; Ukrainian and Russian "updated", "urgent"
    r"|آخر\s+تحديث|تحديث|عاجل|ОНОВЛЕНО|ОНОВЛЕННЯ|ТЕРМІНОВО|ОБНОВЛЕНО|ОБНОВЛЕНИЕ|СРОЧНО"
    # Hebrew "update", "updated"; Persian "update" (with or without its zero-width joiner)
    r"|עדכון|עודכן|به[\u200c ]?روز[\u200c ]?رسانی)"
)
# Each item is atomic: once matched it is not split again ("1800" as "18" and "00"), which
# made a failed match exponential ("UPDATE " and 22 digits took 9 s, 30 digits hours); a
# number's letter is not the first of a word ("2GMT" is 2 GMT).
_NUMBER = r"(?:No\.?\s*|\#\s*)?\d+(?:[a-z](?![a-z]))?"  # "2", "No. 3", "#4", "5a"
# Arabic "(at) the hour" ("تحديث الساعة 18:00": "update at 18:00")
_ARABIC_AT = r"(?:في\s+)?الساعة"
# "at" and "on", Russian "в" and Ukrainian "о" ("Оновлено о 18:00"), as words of their own
_QUALIFIER = (
    rf"(?:[\s,\-–—(]*(?>{_TIME}|{_DATE}|{_ZONE}|{_NUMBER}|at|on|(?:в|о|об|{_ARABIC_AT})(?!\w))\)?)*"
)
# a keyword's time after a colon: "آخر تحديث: 18:00" ("last update: 18:00")
_KEYWORD_TIME = rf"(?:\s*:\s*(?={_CLOCK}))?"
# a time with its date before or after it: "March 12, 2024, 10:32 a.m. ET", "9:05 ET, March 12"
_LABEL = (
    rf"(?:{_KEYWORD}{_KEYWORD_TIME}{_QUALIFIER}"
    rf"|(?:{_DATE}[\s,]+)?{_TIME}(?:[\s,]+{_DATE})?)"
)
# a time's dateline ("20:00 Kyiv: …") is the text's, after the label
_DATELINE = rf"(?:(?<=\d)|(?<=[ap]m)|(?<=\.m\.))\s+(?={_CITY}\s*:)"
_SEPARATOR = rf"(?:\s*:(?!\d)|\s*(?:--|[–—])|\s+-(?=\s)|{_DATELINE})"
# a label in square brackets needs no separator after it: "[18:00] Footage shows"; only
# one holding a time is a label, "[Updated]" and "[Update 2]" are editors' notes
_BRACKETED = rf"(?P<bracket>\[\s*(?=[^\]]{{0,80}}?{_TIME}))?"
_LEADING_LABEL = re.compile(
    rf"\s*{_BRACKETED}(?P<label>{_LABEL})(?(bracket)\s*\]\s*:?|{_SEPARATOR})", re.IGNORECASE
)
_WHOLE_LABEL = re.compile(
    rf"\s*{_BRACKETED}(?P<label>{_LABEL})(?(bracket)\s*\])\s*:?\s*", re.IGNORECASE
)

# What a post's heading opening with a moment starts with: "09:05 Explosions in Kyiv",
# "March 11, 2024", "Day 745", "UPDATE: …" (a label or not, the heading marks an update).
# Built apart from the label patterns, which read a label already known to be one: at a
# heading's start they take "2 ambulances" for 2 a.m., "300 Estonian" for 3:00 EST, "May 9
# parade" for a date and "Latest pictures" for a keyword.
_AFTER_WORD = r"(?!\w)"  # "2 PMs", "7 Americans", "1000 Ethiopian" are no times
_MOMENT_ZONE = rf"\s*(?:{_ZONE}|\({_ZONE}\)){_AFTER_WORD}"
_MOMENT_MERIDIEM = rf"\s*[ap]\.?m\.?{_AFTER_WORD}"
_MOMENT_CLOCK = (
    r"(?:\d{1,2}(?::|\s?h\s?)\d{2}(?!\d)"  # "14:50", "14h50", "14 h 50"
    # "2.32pm", "18.00 BST", "14.32 Uhr"; not "1.45 billion"
    rf"|\d{{1,2}}\.\d{{2}}(?!\d)(?:{_MOMENT_MERIDIEM}|{_MOMENT_ZONE}|\s*Uhr{_AFTER_WORD})"
    rf"|\d{{1,2}}{_MOMENT_MERIDIEM}"  # "2pm", "10 a.m."
    # military time with its zone: "1800 GMT", "0930 hrs"; not "300 local residents",
    # "1000 local people"
    rf"|(?:[01]\d[0-5]\d|2[0-3][0-5]\d)(?!\s*local\s+(?!time)\w)"
    rf"(?:{_MOMENT_ZONE}|\s*hrs{_AFTER_WORD}))"
)
# a keyword in capitals ("UPDATE 14:50", "BREAKING"), or in any case before a separator
# or a time ("Update: …", "Mise à jour 14h50"); not "Latest pictures", "Breaking down"
_MOMENT_KEYWORD = (
    rf"(?:(?-i:{_KEYWORD}){_AFTER_WORD}"
    rf"|{_KEYWORD}(?=\s*(?::|--|[–—])|\s+-\s"
    rf"|\s+(?:at\s+|à\s+|um\s+|о\s+|в\s+|{_ARABIC_AT}\s+)?{_MOMENT_CLOCK}))"
)
# a date before a separator, a year or a time ("March 11: …", "March 11 2024", "March 11,
# 14:50"), or at the end; not "May 9 parade", "Dec. 7 anniversary"
_MOMENT_DATE = (
    rf"(?:{_DATE}(?=\s*(?:$|[:,–—]|-(?!\w))|\s+\d{{4}}(?!\d)|\s+{_MOMENT_CLOCK})"
    rf"|{_NUMERIC_DATE})"
)
_MOMENT_AT_START = re.compile(
    rf"\s*(?:\[\s*(?=[^\]]{{0,80}}?{_MOMENT_CLOCK}))?(?:{_MOMENT_KEYWORD}|{_MOMENT_CLOCK}|{_MOMENT_DATE}|DAY\s+\d+(?!\d))",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?…؟。]+[\"'”’)\]]*\s+")
_ABBREVIATIONS = frozenset(
    {
        "mr", "mrs", "ms", "dr", "st", "gen", "col", "lt", "sgt", "capt", "maj", "brig",
        "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
        "vs", "no", "prof", "rep", "sen", "gov", "pres", "jr", "sr", "etc", "approx", "ca",
    }
)  # fmt: skip
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
#: Elements that hold a post's moment in ``datetime``: HTML's, and AMP's ``<amp-timeago>``
#: (which shows "2 hours ago" from it).
TIME_TAGS = ("time", "amp-timeago")


@dataclass(frozen=True)
class Label:
    """A live-blog label and how many non-space characters of the text it covers."""

    text: str
    covered: int


def label_at_start(text: str) -> Label | None:
    """The label a paragraph opens with ("UPDATE 1800 GMT: ..."), or the whole text when it
    is nothing but a label ("ORIGINAL ENTRY"); a whole label first, as "آخر تحديث: 18:00"
    ("last update: 18:00") is one label, not "آخر تحديث" before a colon."""
    match = _WHOLE_LABEL.fullmatch(text) or _LEADING_LABEL.match(text)
    if match is None:
        return None
    return Label(_clean_label(match.group("label")), _nonspace(match.group(0)))


def opens_with_moment(text: str) -> bool:
    """Whether a text opens with a time, a date, a day's number or an update keyword,
    as the heading of an update within a post does ("09:05 Explosions in Kyiv"), where
    a subheading does not ("Watch:")."""
    return _MOMENT_AT_START.match(text) is not None


def label_of_heading(heading: Element) -> str | None:
    """The update label a heading sets: its own label if it opens with one, else its text."""
    text = text_of(heading, PROBE_ELEMENTS)
    if not text:
        return None
    found = label_at_start(text)
    return found.text if found else text[:_MAX_HEADING_LABEL]


def label_of_header(header: Element) -> str | None:
    """The time a post's own ``<header>`` names, when a piece of its text is nothing but
    a label: "18.00 BST" beside "2h ago" (the Guardian), "18:00" after the author's name
    (WordPress's Liveblog plugin)."""
    for count, element in enumerate(header.iter()):
        if count >= PROBE_ELEMENTS:
            break
        match = _WHOLE_LABEL.fullmatch(collapse(element.text or ""))
        if match is not None and isinstance(element.tag, str):
            return _clean_label(match.group("label"))
    moment = next(header.iter(*TIME_TAGS), None)
    return label_of_time(moment) if moment is not None else None


# a <time datetime> value with a time of day: "2024-03-12T14:32:00Z", "2024-03-12 14:32+02:00"
_MACHINE_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(?::\d{2}(?:[.,]\d{1,12})?)? {0,2}"
    r"(Z|[+-]\d{2}:?\d{2})?",
    re.IGNORECASE,
)
_MAX_MACHINE_TIME = 64  # characters; longer is no time
# a date in words, which is the sentence's own text: "Tuesday 12 March 2024", "March 12"
_DATE_IN_WORDS = re.compile(
    rf"{_MONTH}\s*\d|\d\s*{_MONTH}|\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*day\b|\b\d{{4}}\b",
    re.IGNORECASE,
)


# a time of day in a text, not part of a date in numbers ("12.03.2024")
_CLOCK_IN_TEXT = re.compile(rf"(?<![\d.:/]){_CLOCK}", re.IGNORECASE)


def label_of_time(element: Element) -> str | None:
    """The label a post's ``<time datetime>`` (or ``<amp-timeago>``) sets: its text when
    that is a label ("18:00 BST"), else the moment it holds ("3h ago", "5 min", "hace 3
    horas" mean nothing once the page is gone; "12 березня 2024, 18:00" is the post's
    time in words no label pattern knows). A date shown without a time of day
    ("Tuesday 12 March 2024: the army said …") is the sentence's text, not a label."""
    moment = label_of_moment(element.get("datetime") or "")
    if moment is None:
        return None  # a day alone, or no moment: a date in a sentence
    text = text_of(element, PROBE_ELEMENTS)
    shown = _WHOLE_LABEL.fullmatch(text)
    if shown is not None:
        return _clean_label(shown.group("label"))
    probe = text[:_MAX_HEADING_LABEL]  # a time's text is short
    if _DATE_IN_WORDS.search(probe) and not _CLOCK_IN_TEXT.search(probe):
        return None
    return moment


def label_of_moment(value: str) -> str | None:
    """A machine-readable moment as a label ("2024-03-12 14:32 UTC", "2024-03-12 16:32
    +02:00"); None for a day alone or no moment."""
    value = value.strip()
    machine = _MACHINE_TIME.fullmatch(value) if len(value) <= _MAX_MACHINE_TIME else None
    if machine is None:
        return None
    day, clock, zone = machine.groups()
    if zone and zone.upper() != "Z" and zone.replace(":", "") not in ("+0000", "-0000"):
        return f"{day} {clock} {zone}"
    return f"{day} {clock}" + (" UTC" if zone else "")


def is_heading(element: Element) -> bool:
    """Whether the element is an h1-h6 heading."""
    return tag_name(element) in _HEADINGS


def _clean_label(label: str) -> str:
    """Label text without surrounding space or trailing punctuation."""
    return collapse(label).rstrip(" :,-–—(")


def _nonspace(text: str) -> int:
    """Number of non-whitespace characters (survives whitespace differences between nodes)."""
    return sum(1 for char in text if not char.isspace())


class TextTrail:
    """The text of the current update read so far, to find the words before an embed.

    The text is kept in pieces with their running length and the places of paragraph
    breaks, so the words around an embed are found by bisection rather than by walking
    the pieces (a paragraph of thousands of inline links asks for them thousands of
    times)."""

    def __init__(self) -> None:
        self._pieces: list[str] = []
        self._ends: list[int] = [0]  # characters before each piece, and in all
        self._breaks: list[int] = []  # indices of PARAGRAPH pieces
        self._skip = 0
        self.at_paragraph_start = True

    def restart(self, skip: int = 0) -> None:
        """Start a new update; the next ``skip`` non-space characters are its label."""
        self._pieces, self._ends, self._breaks = [], [0], []
        self._skip = skip
        self.at_paragraph_start = skip == 0

    def add(self, text: str | None) -> None:
        """Append text in document order, swallowing a pending label."""
        if not text:
            return
        if self._skip:
            text = self._swallow(text)
        if text:
            self._append(text)
            if not text.isspace():
                self.at_paragraph_start = False

    def paragraph_break(self) -> None:
        """Mark a block boundary: sentences never run across it."""
        if self._pieces and self._pieces[-1] != PARAGRAPH:
            self._breaks.append(len(self._pieces))
            self._append(PARAGRAPH)
        self.at_paragraph_start = True

    def _append(self, piece: str) -> None:
        self._pieces.append(piece)
        self._ends.append(self._ends[-1] + len(piece))

    def mark(self) -> int:
        """Position to come back to (for the sentence around an inline link)."""
        return len(self._pieces)

    def before(self, mark: int | None = None, limit: int = 4 * MAX_CONTEXT) -> str:
        """Text before ``mark`` (default: the end), going back whole pieces until about
        ``limit`` characters, or to a paragraph break past MAX_CONTEXT characters."""
        end = len(self._pieces) if mark is None else min(mark, len(self._pieces))
        total = self._ends[end]
        # the last piece that brings the text to ``limit`` characters
        start = max(bisect.bisect_right(self._ends, total - limit) - 1, 0)
        # the last paragraph break with more than MAX_CONTEXT characters from it to the end
        far = bisect.bisect_left(self._ends, total - MAX_CONTEXT)  # pieces before it qualify
        breaks = bisect.bisect_left(self._breaks, min(far, end))
        if breaks:
            start = max(start, self._breaks[breaks - 1])
        return "".join(self._pieces[start:end])

    def since(self, mark: int, limit: int = 4 * MAX_CONTEXT) -> str:
        """Text added after ``mark`` up to the next paragraph break, at most about ``limit``
        characters (each of 50,000 links in one paragraph asked for all the rest of it)."""
        end = bisect.bisect_left(self._ends, self._ends[mark] + limit, lo=mark)
        following = bisect.bisect_left(self._breaks, mark)
        if following < len(self._breaks):
            end = min(end, self._breaks[following])
        return "".join(self._pieces[mark:end])

    def _swallow(self, text: str) -> str:
        """Drop the first ``_skip`` non-space characters of text (the label being skipped)."""
        for index, char in enumerate(text):
            if self._skip == 0:
                return text[index:]
            if not char.isspace():
                self._skip -= 1
        return ""


def sentence_context(before: str, after: str = "", *, skip_empty: bool = False) -> str | None:
    """The sentence(s) an embed sits in: the last sentence of ``before`` and, for an inline
    link, the rest of its sentence from ``after``; widened backwards while short.

    With ``skip_empty`` the last non-empty paragraph of ``before`` is used (a block embed
    after a line break is introduced by the paragraph above it).
    """
    paragraphs = [collapse(paragraph) for paragraph in before.split(PARAGRAPH)]
    if skip_empty:
        paragraphs = [paragraph for paragraph in paragraphs if paragraph] or [""]
    # only the sentences nearest the embed matter: bound the work on very long paragraphs
    head = paragraphs[-1][-_SENTENCE_WINDOW:]
    tail = collapse(after.split(PARAGRAPH, 1)[0])[:_SENTENCE_WINDOW]
    text = f"{head} {tail}".strip()
    if not text:
        return None
    spans = _sentence_spans(text)
    index = len(spans) - 1
    if tail:
        position = len(head)
        index = next((i for i, (_, end) in enumerate(spans) if end > position), index)
    start, end = spans[index]
    while index > 0 and end - start < _MIN_CONTEXT and end - spans[index - 1][0] <= MAX_CONTEXT:
        index -= 1
        start = spans[index][0]
    return _clip(text[start:end].strip()) or None


def _clip(text: str) -> str:
    """At most MAX_CONTEXT characters, keeping the end (the part that introduces the media)."""
    if len(text) <= MAX_CONTEXT:
        return text
    cut = text[-(MAX_CONTEXT - 1) :]
    space = cut.find(" ")
    return "…" + (cut[space + 1 :] if 0 <= space < 40 else cut)


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentence boundaries: ., ! or ? followed by space and a non-lowercase character, except
    after abbreviations and initials. Colons do not end a sentence."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        following = text[match.end() : match.end() + 1]
        if following.islower() or _ends_with_abbreviation(text, match.start()):
            continue
        spans.append((start, match.end()))
        start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans or [(0, len(text))]


def _ends_with_abbreviation(text: str, dot: int) -> bool:
    """Whether the period at ``dot`` closes an abbreviation ("Gen.", "U.N.", "J.") instead."""
    if text[dot] != ".":
        return False
    words = text[max(0, dot - 24) : dot].rsplit(None, 1)
    word = words[-1].lstrip("(\"'“‘") if words else ""
    if not word:
        return False
    return word.lower() in _ABBREVIATIONS or len(word) == 1 or "." in word


class Captions:
    """Captions of the media in one page's content. A figure's own caption, and whether an
    element holds a caption, are looked up once however many photos ask (each photo of a
    gallery walked the gallery)."""

    def __init__(self, stop: Element) -> None:
        self._stop = stop
        self._figures: dict[Element, str | None] = {}
        # siblings that are, or wrap, a caption: its text (read once: a gallery's photos
        # share it) and whether it is a credit alone, else None
        self._holders: dict[Element, tuple[str, bool] | None] = {}

    def of(self, element: Element, *, siblings: bool = True) -> str | None:
        """Caption of a media element: the enclosing figure's own ``figcaption`` (in a
        gallery, an image's own figure's caption, else the gallery's), or (``siblings``) a
        caption-class element right after it (WordPress ``wp-caption-text``, Blogger
        ``tr-caption``). Inline links only take a figure's caption. A credit right after
        the media ("Photo: Reuters") is part of the caption found further up, or the
        caption when there is none. The Guardian's ``<gu-island>`` around a player is not
        counted among the levels climbed."""
        credits: list[str] = []
        node = element
        for _ in range(_CAPTION_LEVELS):
            if node is None or node is self._stop:
                break
            if tag_name(node) == "figure" and (text := self._figure(node)):
                return _clip(_credited(text, credits))
            following = _next_element(node) if siblings else None
            if following is not None and following not in self._holders:
                self._holders[following] = self._holder(following)
            held = self._holders[following] if following is not None else None
            if held is not None and held[1]:
                credits.append(held[0])
            elif held is not None:
                return _clip(_credited(held[0], credits))
            node = _parent_past_islands(node)
        found = _with_credits(None, credits)
        return _clip(found) if found else None

    def _figure(self, figure: Element) -> str | None:
        """A figure's own caption with its credits (`_own_caption`), read once."""
        if figure not in self._figures:
            self._figures[figure] = _unsold(_own_caption(figure))
        return self._figures[figure]

    def _holder(self, sibling: Element) -> tuple[str, bool] | None:
        """The caption a sibling after a media element is or wraps, and whether it is
        a credit alone; a figure's ``figcaption`` is the figure's whole caption, its
        credits with it."""
        held = _held_caption(sibling)
        if held is None:
            return None
        parent = sibling.getparent()
        if tag_name(sibling) == "figcaption" and tag_name(parent) == "figure":
            text = self._figure(parent)
        else:
            text = _unsold(caption_text(sibling))
        return (text, held == "credit") if text else None


_CAPTION_LEVELS = 4  # levels climbed from a media element to its figure
_ISLANDS = 2  # <gu-island> elements passed on one step up, at most


def _parent_past_islands(node: Element) -> Element | None:
    """The parent of an element, past a ``<gu-island>`` (the Guardian's wrapper of a
    part of the page its scripts bring to life), which is layout, not a level."""
    parent = node.getparent()
    for _ in range(_ISLANDS):
        if parent is None or tag_name(parent) != "gu-island":
            break
        parent = parent.getparent()
    return parent


#: A caption's closing link that sells the picture: Reuters' "Purchase Licensing
#: Rights" (with its screen readers' ", opens new tab"), newspapers' "Buy Photo".
_SALES_LINK = re.compile(
    r"(?:^|\s+(?:[|·•]\s*)?)"
    r"(?:Purchase [Ll]icensing [Rr]ights|Buy (?:[Tt]his )?(?:[Pp]hoto|[Ii]mage|[Pp]icture)"
    r"|BUY PHOTO)(?:\s*,?\s*opens (?:in )?(?:a )?new (?:tab|window))?\s*$"
)
_SALES_TAIL = 80  # characters at the end of a caption where that link is looked for


def _unsold(caption: str | None) -> str | None:
    """A caption without its closing sales link (the photographer's credit stays); None
    for one that is nothing else."""
    if not caption:
        return caption
    head, tail = caption[:-_SALES_TAIL], caption[-_SALES_TAIL:]
    return (head + _SALES_LINK.sub("", tail)).strip() or None


def _own_caption(figure: Element) -> str | None:
    """Text of a figure's own ``figcaption``, with the credits set elsewhere in the
    figure (`is_credit`: "Photo: Reuters" under the photo, BBC's "Image source, Getty
    Images" over it) after it: not those of a figure nested in it (in a WordPress
    gallery each photo's figure has its caption), whose insides are not walked either."""
    caption: str | None = None
    credits: list[str] = []
    stack = list(reversed(figure))
    while stack:
        node = stack.pop()
        tag = tag_name(node)
        if tag == "figcaption":
            caption = caption or _unsold(caption_text(node))
        elif tag is not None and is_credit(node):
            credits.append(_unsold(caption_text(node)) or "")
        elif tag is not None and tag != "figure":
            stack.extend(reversed(node))
    return _with_credits(caption, credits)


def _with_credits(caption: str | None, credits: list[str]) -> str | None:
    """A caption with its credits (`_credited`); the credits alone when there is no
    caption, None when there are none either."""
    if caption:
        return _credited(caption, credits)
    return "; ".join(dict.fromkeys(credit for credit in credits if credit)) or None


def _credited(caption: str, credits: list[str]) -> str:
    """A caption with the credits it does not hold already set apart in brackets
    ("Rescuers at the site (Reuters)")."""
    shown = [credit for credit in dict.fromkeys(credits) if credit and credit not in caption]
    return f"{caption} ({'; '.join(shown)})" if shown else caption


def caption_text(caption: Element) -> str:
    """A caption's text as readers see it: words for screen readers only (BBC's "Image
    caption, ") are not part of it."""
    return text_of(caption, SHORT_TEXT_ELEMENTS, hidden=is_screen_reader_only)


#: Classes of text hidden from sight and read out by screen readers only (Drupal 7's
#: "element-invisible" and the BBC's "off-screen" among them), and the endings of
#: generated ones (the BBC's "ssrcss-1f39n02-VisuallyHidden").
_SCREEN_READER_ONLY = frozenset(
    {
        "visually-hidden",
        "visuallyhidden",
        "sr-only",
        "screen-reader-text",
        "screen-reader-only",
        "element-invisible",
        "off-screen",
        "offscreen",
    }
)
_SCREEN_READER_ONLY_ENDINGS = ("-visually-hidden", "-visuallyhidden", "-sr-only")


def is_caption(element: Element) -> bool:
    """Whether the element is a caption (its text belongs to a figure, not the running text)."""
    return tag_name(element) == "figcaption" or "caption" in (element.get("class") or "").lower()


#: Class words of a picture's credit: "credit", "photo-credit", BBC's generated
#: "…-Copyright" and "…-ImageSource", "attribution".
_CREDIT_WORDS = ("credit", "copyright", "imagesource", "image-source", "attribution")


def is_credit(element: Element) -> bool:
    """Whether the element is a picture's credit ("Photo: Kherson regional
    administration"): in a figure or right after the media, part of its caption."""
    classes = (element.get("class") or "").lower()
    return any(word in classes for word in _CREDIT_WORDS)


def is_screen_reader_only(element: Element) -> bool:
    """Whether the element's text is hidden from sight ("Image" above a Drupal field):
    never the sentence that introduces an embed."""
    classes = (element.get("class") or "").lower()
    if not any(hint in classes for hint in ("hidden", "only", "reader", "invisible", "screen")):
        return False  # most elements: substring tests, not a split
    return any(
        name in _SCREEN_READER_ONLY or name.endswith(_SCREEN_READER_ONLY_ENDINGS)
        for name in classes.split()
    )


def _held_caption(element: Element) -> str | None:
    """Whether a sibling is, or only wraps, a caption ("caption") or only a credit
    ("credit"), else None (and is not itself more media, nor a figure, whose caption is
    its own media's whatever that is: a bare address, a widget's script); one of more
    than SHORT_TEXT_ELEMENTS elements is not (each photo before it walked it whole)."""
    found: str | None = None
    for count, inner in enumerate(element.iter()):
        if count >= SHORT_TEXT_ELEMENTS or inner.tag in MEDIA_TAGS or inner.tag == "figure":
            return None
        if found == "caption" or not isinstance(inner.tag, str):
            continue
        if is_caption(inner):
            found = "caption"
        elif is_credit(inner):
            found = "credit"
    return found


def _next_element(node: Element) -> Element | None:
    """Next sibling that is an element (comments skipped)."""
    sibling = node.getnext()
    while sibling is not None and not isinstance(sibling.tag, str):
        sibling = sibling.getnext()
    return sibling
