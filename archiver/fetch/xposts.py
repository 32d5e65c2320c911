"""X (Twitter) posts, from the endpoint X's embedded-post widget reads (see `posts`).

``cdn.syndication.twimg.com/tweet-result?id=ID&token=TOKEN`` answers without an
account with the post as JSON (X's format, as the widget gets it): ``text``,
``created_at``, ``user`` and ``mediaDetails``, one per photo, video or GIF, with the
photo's ``media_url_https``. That URL with ``name=orig`` is the photo as uploaded; a
video's ``video_info.variants`` are its MP4s (and HLS playlist) by bitrate.
A quoted post comes as ``quoted_tweet``, with its own ``mediaDetails``, which the
embed shows too. A video may instead be in the post's ``card`` (an X Live broadcast,
an advertiser's player), which yt-dlp reads from the same answer: ``mediaDetails``
is then empty. A deleted or withheld post answers 404, or a ``TweetTombstone``.
As X's v1.1 API did, the endpoint escapes ``&``, ``<`` and ``>`` in ``text`` (and names)
as HTML: they are kept as written.
"""

from __future__ import annotations

import html
import math
import re
from typing import Any
from urllib.parse import urlencode, urlsplit

from archiver.errors import FetchError
from archiver.extract.urls import original_photo_url
from archiver.fetch.posts import PlatformPost
from archiver.jsontext import json_at, json_list, json_or_none, json_text

MAX_PHOTOS = 4  # X allows four per post; more would not be a real answer
_POST_ID = re.compile(r"/status(?:es)?/(\d{1,20})(?:[/?#]|$)")
#: Cards yt-dlp's X extractor takes a video (or a Space's audio) from, by the name after
#: the card's "…:" prefix; so are the ``poll…_video`` ones. A link's preview is not.
_VIDEO_CARDS = frozenset(
    {"player", "broadcast", "periscope_broadcast", "audiospace", "amplify", "appplayer",
     "promo_video_website", "promo_video_convo", "video_direct_message"}
)  # fmt: skip


def post_id(url: str) -> str | None:
    """The numeric id of an X/Twitter post URL."""
    found = _POST_ID.search(urlsplit(url).path + "/")
    return found[1] if found else None


def syndication_token(post: str) -> str:
    """The widget's token: ``((id / 1e15) * Math.PI).toString(36)`` without 0s and dots."""
    from yt_dlp.jsinterp import js_number_to_string  # JavaScript's number-to-text rules

    text: str = js_number_to_string((int(post) / 1e15) * math.pi, 36)
    return text.translate(str.maketrans(dict.fromkeys("0.")))


def syndication_url(endpoint: str, post: str) -> str:
    query = urlencode({"id": post, "lang": "en", "token": syndication_token(post)})
    return f"{endpoint}?{query}"


def parse_post(body: bytes, expected_id: str) -> PlatformPost:
    """Read the endpoint's answer; FetchError (gone) for a tombstone, FetchError for
    anything that is not a post."""
    data = json_or_none(body)
    if not isinstance(data, dict):
        raise FetchError("X: the post endpoint did not answer with a post", retryable=True)
    if data.get("__typename") == "TweetTombstone" or "tombstone" in data:
        said = json_text(json_at(data, "tombstone", "text", "text")) or "the post is unavailable"
        raise FetchError(f"X: {said}", retryable=False, gone=True)
    if str(data.get("id_str") or "") != expected_id:
        raise FetchError(f"X: the post endpoint answered for another post than {expected_id}")
    quoted = data.get("quoted_tweet")
    quoted_id = str(quoted.get("id_str") or "") if isinstance(quoted, dict) else ""
    shown = _post(quoted, quoted_id, body) if isinstance(quoted, dict) and quoted_id else None
    # yt-dlp reads the card of the post it is given, not one of the post it quotes
    return _post(data, expected_id, body, quoted=shown, card=card_has_video(data.get("card")))


def card_has_video(card: object) -> bool:
    """Whether a post's card is one yt-dlp can take a video from."""
    name = (json_text(json_at(card, "name")) or "").rsplit(":", 1)[-1]
    if name in _VIDEO_CARDS or (name.startswith("poll") and name.endswith("_video")):
        return True
    if name != "unified_card":
        return False
    unified = json_text(json_at(card, "binding_values", "unified_card", "string_value"))
    entities = json_at(json_or_none(unified or ""), "media_entities")
    found = entities.values() if isinstance(entities, dict) else json_list(entities)
    return any(json_at(entity, "type") == "video" for entity in found)


def _post(
    data: dict[str, Any],
    post: str,
    body: bytes,
    quoted: PlatformPost | None = None,
    card: bool = False,
) -> PlatformPost:
    media = [m for m in json_list(data.get("mediaDetails")) if isinstance(m, dict)]
    photos = [
        original_photo_url(url)
        for m in media
        if m.get("type") == "photo" and (url := json_text(m.get("media_url_https")))
    ]
    videos = [
        url for m in media if m.get("type") in ("video", "animated_gif") and (url := _best_mp4(m))
    ]
    user = data.get("user")
    if not isinstance(user, dict):
        user = {}
    handle = json_text(user.get("screen_name"))
    return PlatformPost(
        platform="X",
        id=post,
        url=f"https://x.com/{handle or 'i'}/status/{post}",
        text=_as_written(data.get("text")),
        author=_as_written(user.get("name")),
        handle=handle,
        posted_at=json_text(data.get("created_at")),
        photos=list(dict.fromkeys(photos))[:MAX_PHOTOS],
        # a quoted post's videos are yt-dlp's too: it takes them with the quoting post
        has_video=any(m.get("type") in ("video", "animated_gif") for m in media)
        or card
        or bool(quoted and quoted.has_video),
        record=body,
        record_name="platform.post.json",
        quoted=quoted,
        video_files=list(dict.fromkeys(videos)),
    )


def _as_written(value: object) -> str | None:
    """A text the endpoint gave HTML-escaped (``&amp;``, ``&gt;``), as its author wrote it."""
    text = json_text(value)
    return html.unescape(text) if text is not None else None


def _best_mp4(media: dict[str, Any]) -> str | None:
    """The highest-bitrate MP4 of a video's ``video_info.variants`` (a GIF has one)."""
    variants = [
        (bitrate if isinstance(bitrate := v.get("bitrate"), int) else 0, url)
        for v in json_list(json_at(media, "video_info", "variants"))
        if isinstance(v, dict)
        and v.get("content_type") == "video/mp4"
        and (url := json_text(v.get("url")))
    ]
    return max(variants)[1] if variants else None
