"""The link from a live page to its older updates, when the page is split into pages.

Live blogs show their newest updates on the page itself and move older ones to further
pages as new ones arrive: the Guardian's "older posts" (``?page=with:block-…``), BBC's
``?page=2``, WordPress's ``/page/2/``. What scrolls off the first page between two polls,
and what was posted before a source was added, is only on those pages.

A page's link to the next-older page is found by what it says it is: ``rel="next"``
(``<link>`` or ``<a>``), or an ``<a>`` whose text, ``aria-label`` or ``title`` reads
"next" or "older" (or so in Ukrainian, Russian, German, French, Arabic, Hebrew or
Persian). Such a link is followed only when it continues the same page: the same host
and path with more in its query, or the path followed by a page number. A "next
article" link leads elsewhere and is not followed.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, parse_qsl, urlsplit

from archiver.extract.document import Element, collapse
from archiver.extract.urls import clean_url, resolve_url

# What the link to older updates says, whole, its arrows set aside: "Next", "Older
# posts", "« Older Entries", "Next page ›", and so in the languages of the live blogs
# followed (WordPress's own words among them). Words that also mean something else
# there are left out: "Назад" ("back": the newer page as often), a bare "الأقدم" ("the
# oldest", also a sort order), "older comments".
_OLDER_WORDS = (
    r"(?:next|older)(?: (?:page|posts?|updates?|entries|events))?",
    r"наступна(?: сторінка)?|старіші(?: (?:записи|дописи|новини))?",  # Ukrainian
    r"следующая(?: страница)?|далее|(?:более )?старые записи",  # Russian
    r"ältere(?: (?:beiträge|einträge|artikel|meldungen))?|nächste seite|weiter",  # German
    r"suivante?|page suivante|(?:(?:articles|billets|publications) )?plus anciens",  # French
    r"التالي|التالية|الصفحة التالية"  # Arabic: next, next page, older posts
    r"|(?:التدوينات|المقالات|المواضيع|المنشورات|الأخبار|التحديثات) الأقدم"
    r"|(?:تدوينات|مقالات|مواضيع|منشورات|أخبار|تحديثات) أقدم",
    r"הבא|הבאה|(?:ל?העמוד|ל?הדף) הבא|(?:פוסטים|רשומות|עדכונים) (?:ישנים|ישנות) יותר",  # Hebrew
    r"بعدی|صفحه(?: ی)? بعدی|(?:نوشته[\u200c ]?های )?قدیمی[\u200c ]?تر",  # Persian
)
_OLDER_LABEL = re.compile("|".join(f"(?:{words})" for words in _OLDER_WORDS), re.I)
_ARROWS = " ›»>→‹«<←"
# What a page number after the page's own path looks like: "/2", "/page/2/", "/liveblog/page/3".
_PAGE_SUFFIX = re.compile(r"^(?:/[A-Za-z_-]+){0,2}/\d{1,6}/?$")
_MAX_LABEL = 40
# Query parameters news sites add to a shared link, naming where it was shared, never
# which page it is (the Guardian's ``CMP``, the BBC's ``ns_*`` and ``at_*``, MSN's
# ``ocid``); `clean_url` drops the general ones (``utm_*``, ``fbclid``).
_SHARE_PARAMS = frozenset(
    {
        "cmp", "ocid", "smid", "ns_mchannel", "ns_source", "ns_campaign", "ns_linkname",
        "ns_fee", "at_medium", "at_campaign", "at_custom1", "at_custom2", "at_custom3",
        "at_custom4", "intcmp", "int_cmp",
    }
)  # fmt: skip
_MAX_LINKS = 20


def older_page_links(root: Element, base: str) -> list[str]:
    """Absolute URLs (``clean_url``) the page names as its next or older page, best first.

    Whether one of them continues the page is for ``continues_page`` to say, against
    the live page's first address.
    """
    named: list[str] = []  # rel="next"
    labelled: list[str] = []  # says "next" or "older"
    for element in root.iter("link", "a"):
        href = element.get("href")
        if not href or href.startswith("#") or len(named) + len(labelled) >= _MAX_LINKS:
            continue
        rel = element.get("rel")
        if rel and "next" in rel.lower().split():
            named.append(href)
        elif element.tag == "a" and any(
            _says_older(label)
            for label in (element.get("aria-label"), element.get("title"), element.text_content())
            if label
        ):
            labelled.append(href)
    found: list[str] = []
    for href in named + labelled:
        url = resolve_url(href, base)
        if url is not None and (url := clean_url(url)) not in found:
            found.append(url)
    return found


def _says_older(label: str) -> bool:
    """Whether a link's text (or label) is, whole, one of `_OLDER_WORDS`."""
    words = collapse(label[: _MAX_LABEL * 4])[:_MAX_LABEL].strip(_ARROWS)
    return _OLDER_LABEL.fullmatch(words) is not None


def continues_page(first_url: str, url: str) -> bool:
    """Whether ``url`` is a further page of the page first found at ``first_url``.

    Both are read as `clean_url` spells them, without share parameters: a live page
    added from a shared link (``?utm_source=twitter``, ``?CMP=share_btn_tw``) links its
    older pages as ``?page=2``, which replaces the whole query.
    """
    first, other = _page_address(first_url), _page_address(url)
    if (other.scheme, other.netloc) != (first.scheme, first.netloc):
        return False
    path = first.path.rstrip("/")
    if other.path.rstrip("/") == path:
        # the page's own query stays (``?id=7&page=2``; ``?id=8`` is another page)
        return _own_query(first.query) < _own_query(other.query)
    return other.path.startswith(path + "/") and bool(_PAGE_SUFFIX.match(other.path[len(path) :]))


def same_page(first_url: str, url: str) -> bool:
    """Whether ``url`` is the page first found at ``first_url`` itself, however shared."""
    first, other = _page_address(first_url), _page_address(url)
    return (other.scheme, other.netloc, other.path.rstrip("/")) == (
        first.scheme,
        first.netloc,
        first.path.rstrip("/"),
    ) and _own_query(first.query) == _own_query(other.query)


def _page_address(url: str) -> SplitResult:
    return urlsplit(clean_url(url))


def _own_query(query: str) -> set[tuple[str, str]]:
    """A query's parameters, but those that only say where a link was shared."""
    return {(k, v) for k, v in parse_qsl(query) if k.lower() not in _SHARE_PARAMS}
