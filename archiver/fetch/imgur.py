"""Imgur posts and albums, from Imgur's own post API (see `posts`).

Imgur's web app reads ``api.imgur.com/post/v1/media/ID`` for a post and
``/post/v1/albums/ID`` for an album, with its public ``client_id`` and
``include=media,account``; no account is needed. The answer is the post as JSON:
``id``, ``title``, ``description``, ``created_at``, ``url``, ``is_album``, ``account``
(``username``) and ``media``, each an ``image`` or a ``video`` (``type``) at ``url``
on i.imgur.com, as uploaded (an animated GIF is served as an MP4 ``video``), with
its own ``metadata.title`` and ``description``. A deleted post answers 404.

yt-dlp's Imgur extractor takes videos only (a photo post ends in "… is not a video or
animated image", an album's photos are left out): the post's files are fetched as
Imgur serves them, its photos first. A gallery post (``/gallery/ID``) is an album or a
single post: the albums endpoint is asked first, and its 404 sends the reader on to
the media endpoint, as Imgur's web app and yt-dlp do.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode, urlsplit

from archiver.config import is_http_url
from archiver.errors import FetchError
from archiver.fetch.posts import PlatformPost
from archiver.jsontext import json_at, json_list, json_or_none, json_text

MAX_MEDIA = 1000  # a bound on what one answer makes archiver fetch; albums hold fewer
_POST = re.compile(r"/(a/|gallery/)?([A-Za-z0-9]{5,7})")
# the API endpoints that may hold each kind of post, in the order they are asked
_ENDPOINTS = {"": ("media",), "a/": ("albums",), "gallery/": ("albums", "media")}


def post_path(url: str) -> tuple[tuple[str, ...], str] | None:
    """(API endpoints, id) of a canonical Imgur post (``imgur.com/ID``: ``media``),
    album (``imgur.com/a/ID``: ``albums``) or gallery post (``imgur.com/gallery/ID``:
    ``albums``, and on its 404 ``media``) URL."""
    found = _POST.fullmatch(urlsplit(url).path)
    if found is None:
        return None
    return _ENDPOINTS[found[1] or ""], found[2]


def api_url(base: str, client_id: str, endpoint: str, post_id: str) -> str:
    query = urlencode({"client_id": client_id, "include": "media,account"})
    return f"{base.rstrip('/')}/post/v1/{endpoint}/{post_id}?{query}"


def refusal(refused: FetchError) -> FetchError | None:
    """Imgur's 403 names no reason: a block of this address or of the client id,
    which says nothing of the post (not "restricted")."""
    return None


def parse_post(body: bytes, post_id: str) -> PlatformPost:
    """Read the API's answer; FetchError for anything that is not the post."""
    data = json_or_none(body)
    if not isinstance(data, dict) or data.get("id") != post_id:
        raise FetchError(f"Imgur: the API did not answer with post {post_id}")
    media = [item for item in json_list(data.get("media")) if isinstance(item, dict)]
    photos, files = [], []
    for item in media[:MAX_MEDIA]:
        url = json_text(item.get("url"))
        if url and is_http_url(url):
            if item.get("type") == "image":
                photos.append(url)
            elif item.get("type") == "video":
                files.append(url)
    handle = json_text(json_at(data, "account", "username"))
    return PlatformPost(
        platform="Imgur",
        id=post_id,
        url=json_text(data.get("url")) or f"https://imgur.com/{post_id}",
        text=_words(data, media),
        author=handle,
        handle=handle,
        posted_at=json_text(data.get("created_at")),
        photos=list(dict.fromkeys(photos)),
        has_video=False,  # its videos are files on i.imgur.com, fetched directly
        record=body,
        record_name="platform.post.json",
        read_from="Imgur's post API",
        files=list(dict.fromkeys(files)),
    )


def _words(data: dict[str, Any], media: list[dict[str, Any]]) -> str | None:
    """The post's title and description, then each file's own, in order."""
    parts = [json_text(data.get("title")), json_text(data.get("description"))]
    for item in media[:MAX_MEDIA]:
        parts += [json_text(json_at(item, "metadata", key)) for key in ("title", "description")]
    return "\n\n".join(dict.fromkeys(part for part in parts if part)) or None
