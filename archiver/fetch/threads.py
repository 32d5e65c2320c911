"""Threads posts, from the post's own page (see `posts`).

``https://www.threads.com/@USER/post/CODE`` is public HTML. Its server-rendered
scripts (``<script type="application/json" data-sjs>``) hand the page's data to the
app; the one that holds the post has ``thread_items``, each with a ``post`` in
Instagram's media schema: ``code`` (the shortcode), ``user`` (``username``),
``caption.text``, ``taken_at`` (seconds since the epoch), and its media:
``image_versions2.candidates`` (each photo at several sizes, with ``width`` and
``height``), ``video_versions`` (a video's MP4s) or, for several, ``carousel_media``
with one such item per photo or video. A post of words alone has none. A quote
post holds the post it quotes, in the same schema, in
``text_post_app_info.share_info.quoted_post``; its media is shown in the embed too.

yt-dlp has no Threads extractor: the post's photos and videos are downloaded as
Threads serves them, and a post of words alone is kept as a version of its page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from archiver.config import is_http_url
from archiver.errors import FetchError
from archiver.fetch.facts import epoch_moment
from archiver.fetch.posts import PlatformPost, answer_document
from archiver.jsontext import json_at, json_list, json_or_none, json_text

MAX_MEDIA = 20  # a carousel holds at most twenty
_POST = re.compile(r"/(?:@([A-Za-z0-9._]{1,30})/post|t)/([A-Za-z0-9_-]{5,64})/?$")
_DATA = "//script[@type='application/json'][@data-sjs]"


def post_path(url: str) -> tuple[str | None, str] | None:
    """(account, shortcode) of a Threads post URL; a short ``/t/CODE`` link names no
    account."""
    found = _POST.match(urlsplit(url).path)
    return (found[1], found[2]) if found else None


def page_url(base: str, account: str | None, code: str) -> str:
    """The post's page (``/t/CODE`` redirects to it when the account is not known)."""
    return (
        f"{base.rstrip('/')}/@{account}/post/{code}" if account else f"{base.rstrip('/')}/t/{code}"
    )


def parse_page(body: bytes, code: str) -> PlatformPost:
    """Read the post page; FetchError where it holds no data of this post (a login
    wall, a changed page)."""
    post = _find_post(body, code)
    quoted = json_at(post, "text_post_app_info", "share_info", "quoted_post")
    quoted_code = json_text(json_at(quoted, "code"))
    shown = _post(quoted, quoted_code, body) if isinstance(quoted, dict) and quoted_code else None
    return _post(post, code, body, shown)


def _post(
    post: dict[str, Any], code: str, body: bytes, quoted: PlatformPost | None = None
) -> PlatformPost:
    """One post of the page (the one asked for, or the one it quotes), with its media."""
    shown = [m for m in json_list(post.get("carousel_media")) if isinstance(m, dict)] or [post]
    photos: list[str] = []
    videos: list[str] = []
    for media in shown[:MAX_MEDIA]:
        if video := _largest(json_at(media, "video_versions")):
            videos.append(video)
        elif photo := _largest(json_at(media, "image_versions2", "candidates")):
            photos.append(photo)
    handle = json_text(json_at(post, "user", "username"))
    return PlatformPost(
        platform="Threads",
        id=code,
        url=f"https://www.threads.com/@{handle}/post/{code}"
        if handle
        else f"https://www.threads.com/t/{code}",
        text=json_text(json_at(post, "caption", "text")) or None,
        author=json_text(json_at(post, "user", "full_name")) or handle,
        handle=handle,
        posted_at=epoch_moment(post.get("taken_at")),
        photos=list(dict.fromkeys(photos)),
        # a quoted post's videos are fetched as served too (yt-dlp has no extractor)
        has_video=bool(videos) or bool(quoted and quoted.has_video),
        record=body,
        record_name="platform.post.html",
        quoted=quoted,
        read_from="Threads' post page",
        video_files=list(dict.fromkeys(videos)),
    )


def _find_post(body: bytes, code: str) -> dict[str, Any]:
    """The ``post`` of this shortcode in the page's scripts."""
    scripts = answer_document(body, "Threads: the post page").xpath(_DATA)
    for script in scripts:
        text = script.text or ""
        if "thread_items" not in text or code not in text:
            continue
        for items in _values_of(json_or_none(text), "thread_items"):
            for item in json_list(items):
                post = json_at(item, "post")
                if isinstance(post, dict) and post.get("code") == code:
                    return post
    raise FetchError("Threads: the page holds no data of the post (a login wall?)")


def _values_of(data: Any, key: str) -> Iterator[Any]:
    """Every value under ``key`` anywhere in a JSON document (without recursion: the
    app's data nests deep)."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            if key in value:
                yield value[key]
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


def _largest(sizes: object) -> str | None:
    """The largest of a photo's or video's sizes (by pixels; the first when none say)."""
    found = [
        (_pixels(size), -index, url)
        for index, size in enumerate(json_list(sizes))
        if (url := json_text(json_at(size, "url"))) and is_http_url(url)
    ]
    return max(found)[2] if found else None


def _pixels(size: object) -> int:
    width, height = json_at(size, "width"), json_at(size, "height")
    return width * height if isinstance(width, int) and isinstance(height, int) else 0
