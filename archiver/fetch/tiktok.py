"""TikTok posts, from the post's own page (see `posts`).

``https://www.tiktok.com/@USER/video/ID`` (``/photo/ID`` for a photo post) is public
HTML. Its ``<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__">`` holds the post as
``__DEFAULT_SCOPE__["webapp.video-detail"]``: a ``statusCode`` (0 when the post is
shown) and ``itemInfo.itemStruct`` with ``id``, ``desc`` (the caption), ``createTime``
(seconds since the epoch, as a string), ``author`` (``uniqueId``, ``nickname``),
``music`` (the sound, ``playUrl`` its file) and either ``video`` (``playAddr``) or, for
a photo post (a "slideshow"), ``imagePost.images``, each photo's copies on TikTok's
CDN in ``imageURL.urlList``.

yt-dlp reads the same page. It has no extractor for ``/photo/`` addresses, and of a
photo post reached at ``/video/ID`` it keeps the sound alone: the photos, which are
the evidence, are left out. So archiver reads the page first: a photo post's photos
and sound are downloaded as TikTok serves them, and a video still goes to yt-dlp.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from archiver.config import is_http_url
from archiver.errors import FetchError
from archiver.fetch.facts import epoch_moment
from archiver.fetch.posts import PlatformPost, answer_document
from archiver.jsontext import json_at, json_list, json_or_none, json_text

MAX_PHOTOS = 35  # TikTok allows up to 35 photos in a post
_POST = re.compile(r"/@([\w.-]*)/(video|photo)/(\d{5,25})/?$")
_DATA = "//script[@id='__UNIVERSAL_DATA_FOR_REHYDRATION__']"


def post_path(url: str) -> tuple[str, str, str] | None:
    """(account, ``video`` or ``photo``, id) of a TikTok post URL; the account may be
    empty (an embed player names none)."""
    found = _POST.match(urlsplit(url).path)
    return (found[1], found[2], found[3]) if found else None


def page_url(base: str, account: str, kind: str, post_id: str) -> str:
    """The post's page; TikTok shows any post under ``@_`` when the account is unknown."""
    return f"{base.rstrip('/')}/@{account or '_'}/{kind}/{post_id}"


def parse_page(body: bytes, post_id: str) -> PlatformPost:
    """Read the post page; FetchError where it does not show the post (TikTok's status
    code, a challenge page instead of the post, another post)."""
    item = _item(body, post_id)
    photos = [
        url
        for image in json_list(json_at(item, "imagePost", "images"))
        if (url := _first_http(json_at(image, "imageURL", "urlList")))
    ]
    sound = json_text(json_at(item, "music", "playUrl"))
    video = json_text(json_at(item, "video", "playAddr"))
    has_video = not photos and bool(video or json_at(item, "video", "duration"))
    if not photos and not has_video:
        raise FetchError("TikTok: the page shows no photo or video", retryable=True)
    handle = json_text(json_at(item, "author", "uniqueId"))
    kind = "photo" if photos else "video"
    return PlatformPost(
        platform="TikTok",
        id=post_id,
        url=f"https://www.tiktok.com/@{handle or '_'}/{kind}/{post_id}",
        text=json_text(item.get("desc")) or None,
        author=json_text(json_at(item, "author", "nickname")),
        handle=handle,
        posted_at=epoch_moment(item.get("createTime")),
        photos=list(dict.fromkeys(photos))[:MAX_PHOTOS],
        has_video=has_video,
        record=body,
        record_name="platform.post.html",
        read_from="TikTok's post page",
        # a photo post's sound is part of what was posted (yt-dlp keeps it alone)
        files=[sound] if photos and sound and is_http_url(sound) else [],
        video_files=[video] if has_video and video and is_http_url(video) else [],
    )


def _item(body: bytes, post_id: str) -> dict[str, Any]:
    """``itemInfo.itemStruct`` of the page's post."""
    scripts = answer_document(body, "TikTok: the post page").xpath(_DATA)
    data = json_or_none(scripts[0].text or "") if scripts else None
    detail = json_at(data, "__DEFAULT_SCOPE__", "webapp.video-detail")
    if not isinstance(detail, dict):
        raise FetchError("TikTok: the page holds no post data (a challenge page?)")
    status = detail.get("statusCode")
    item = json_at(detail, "itemInfo", "itemStruct")
    if status not in (0, None) or not isinstance(item, dict):
        message = json_text(detail.get("statusMsg")) or "no post"
        raise FetchError(f"TikTok: the page shows no post (status {status}: {message})")
    if str(item.get("id") or post_id) != post_id:
        raise FetchError(f"TikTok: the page shows another post than {post_id}")
    return item


def _first_http(urls: object) -> str | None:
    """The first of a photo's copies (TikTok lists the same photo on several CDN hosts)."""
    return next((url for url in json_list(urls) if isinstance(url, str) and is_http_url(url)), None)
