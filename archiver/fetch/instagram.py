"""Instagram posts, from the page Instagram's embedded-post widget shows (see `posts`).

``https://www.instagram.com/p/CODE/embed/captioned/`` is public HTML. Its script hands
the widget the post as ``"contextJSON":"…"`` (JSON in a JSON string), whose
``gql_data.shortcode_media`` (``xdt_shortcode_media`` on newer pages) holds the post:
``__typename`` (``GraphImage``, ``GraphVideo``, ``GraphSidecar`` for a carousel),
``display_url`` (the largest photo Instagram serves), ``edge_media_to_caption``,
``owner`` (``username``, ``full_name``), ``taken_at_timestamp`` and, for a carousel,
``edge_sidecar_to_children`` with a node per photo or video (a video's MP4 at
``video_url``).

Instagram leaves ``gql_data`` empty for some visitors. The page then still shows the
first photo as ``img.EmbeddedMediaImage`` (``srcset`` up to 1080 px wide), the caption
in ``.Caption`` and the account in ``.UsernameText``; a video shows a play button
(``data-media-type="GraphVideo"``), a carousel only its first photo
(``data-media-type="GraphSidecar"``). yt-dlp needs a browser's TLS fingerprint and an
account to get anything from Instagram, and ends a photo post in "There is no video in
this post".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from archiver.config import is_http_url
from archiver.errors import FetchError
from archiver.extract.document import Element, attr, text_of, with_class
from archiver.extract.media import largest, parse_srcset
from archiver.extract.urls import resolve_url
from archiver.fetch.facts import epoch_moment
from archiver.fetch.posts import PlatformPost, answer_document
from archiver.jsontext import json_at, json_list, json_text, load_json

MAX_PHOTOS = 20  # a carousel holds at most twenty
_POST = re.compile(r"/(?:[A-Za-z0-9._]+/)?(?:p|reels?|tv)/([A-Za-z0-9_-]{5,64})(?:/|$)")
_CONTEXT = re.compile(r'"contextJSON"\s*:\s*(?=")')
_VIDEO_TYPES = ("GraphVideo", "XDTGraphVideo")


def post_code(url: str) -> str | None:
    """The shortcode of an Instagram post, reel or IGTV URL."""
    found = _POST.match(urlsplit(url).path)
    return found[1] if found else None


def embed_url(base: str, code: str) -> str:
    return f"{base.rstrip('/')}/p/{code}/embed/captioned/"


def parse_embed(body: bytes, code: str, page_url: str) -> PlatformPost:
    """Read the widget page: the post from its script's JSON where Instagram gives it,
    else from the markup; FetchError for a page that shows no photo or video."""
    root = answer_document(body, "Instagram: the embed")
    media = _shortcode_media(body.decode("utf-8", "replace"))
    if media is not None and str(media.get("shortcode") or code) != code:
        raise FetchError(f"Instagram: the embed shows another post than {code}")
    shown = _from_json(media) if media is not None else _from_markup(root, page_url)
    if not shown.photos and not shown.has_video:
        raise FetchError("Instagram: the embed shows no photo or video", retryable=True)
    return PlatformPost(
        platform="Instagram",
        id=code,
        url=f"https://www.instagram.com/p/{code}/",
        text=shown.text,
        author=shown.author,
        handle=shown.handle,
        posted_at=shown.moment,
        photos=list(dict.fromkeys(shown.photos))[:MAX_PHOTOS],
        has_video=shown.has_video,
        record=body,
        record_name="platform.post.html",
        video_files=shown.videos,
        incomplete=shown.incomplete,
    )


@dataclass(frozen=True)
class _Shown:
    """What the widget shows of the post, from its script's data or its markup."""

    photos: list[str]
    has_video: bool
    text: str | None
    handle: str | None
    author: str | None = None
    moment: str | None = None
    # each video's MP4 as Instagram serves it: fetched when yt-dlp (which needs an
    # account for Instagram) cannot take it
    videos: list[str] = field(default_factory=list)
    incomplete: str | None = None  # what the widget did not show (`PlatformPost`)


def _shortcode_media(page: str) -> dict[str, Any] | None:
    """The post in the widget's ``contextJSON``, or None where the page holds none."""
    found = _CONTEXT.search(page)
    if found is None:
        return None
    try:
        context_text, _ = json.JSONDecoder().raw_decode(page, found.end())
        context = load_json(context_text) if isinstance(context_text, str) else None
    except (ValueError, RecursionError):
        return None
    data = json_at(context, "gql_data")
    media = json_at(data, "xdt_shortcode_media") or json_at(data, "shortcode_media")
    return media if isinstance(media, dict) else None


def _from_json(media: dict[str, Any]) -> _Shown:
    children = _nodes(media)
    photos = [url for node in children if not _is_video(node) and (url := _largest(node))]
    captions = json_list(json_at(media, "edge_media_to_caption", "edges"))
    text = json_text(json_at(captions[0], "node", "text")) if captions else None
    videos = [
        url
        for node in children
        if _is_video(node) and (url := json_text(node.get("video_url"))) and is_http_url(url)
    ]
    return _Shown(
        photos,
        any(_is_video(node) for node in children),
        text,
        json_text(json_at(media, "owner", "username")),
        json_text(json_at(media, "owner", "full_name")),
        epoch_moment(media.get("taken_at_timestamp")),
        list(dict.fromkeys(videos)),
    )


def _nodes(media: dict[str, Any]) -> list[dict[str, Any]]:
    """A carousel's photos and videos, or the post itself."""
    return [
        node
        for edge in json_list(json_at(media, "edge_sidecar_to_children", "edges"))
        if isinstance(node := json_at(edge, "node"), dict)
    ] or [media]


def _is_video(node: dict[str, Any]) -> bool:
    return node.get("__typename") in _VIDEO_TYPES or node.get("is_video") is True


def _largest(node: dict[str, Any]) -> str | None:
    """``display_url``, else the widest of ``display_resources``."""
    sizes = [
        (width, url)
        for size in json_list(node.get("display_resources"))
        if (url := json_text(json_at(size, "src")))
        and isinstance(width := json_at(size, "config_width"), int)
    ]
    return json_text(node.get("display_url")) or (max(sizes)[1] if sizes else None)


def _from_markup(root: Element, page_url: str) -> _Shown:
    image = next(iter(with_class(root, "EmbeddedMediaImage")), None)
    photo = None
    if image is not None:
        photo = largest(parse_srcset(attr(image, "srcset") or ""), page_url) or resolve_url(
            attr(image, "src"), page_url
        )
    video = bool(root.xpath("//*[@data-media-type='GraphVideo']")) or bool(
        with_class(root, "PlayButtonSprite")
    )
    caption = next(iter(with_class(root, "Caption")), None)
    text = None
    if caption is not None:
        for extra in with_class(caption, "CaptionUsername") + with_class(
            caption, "CaptionComments"
        ):
            extra.drop_tree()
        text = text_of(caption) or None
    name = next(iter(with_class(root, "UsernameText")), None)
    photos = [] if video or not photo else [photo]
    handle = (text_of(name) or None) if name is not None else None
    incomplete = None
    if root.xpath("//*[@data-media-type='GraphSidecar']"):
        # its other photos and videos are in the post's data alone, which another
        # attempt may be given: the first was taken for the whole post
        incomplete = "Instagram: the embed showed only the carousel's first photo"
    return _Shown(photos, video, text, handle, incomplete=incomplete)
