"""Telegram channel posts, from the page Telegram's embedded-post widget shows (see `posts`).

``https://t.me/CHANNEL/ID?embed=1&mode=tme`` is public HTML: the message
(``.tgme_widget_message``, ``data-post="CHANNEL/ID"``), its text
(``.tgme_widget_message_text``), the channel's name (``.tgme_widget_message_owner_name``),
the time (``.tgme_widget_message_date time[datetime]``), each photo as the
``background-image`` of an ``a.tgme_widget_message_photo_wrap`` (an album shows all of
its photos), a video as ``.tgme_widget_message_video_player`` (its MP4 in
``video.tgme_widget_message_video``), a round "video message" as
``video.tgme_widget_message_roundvideo`` and a voice message as
``audio.tgme_widget_message_voice``: those two yt-dlp does not take, so their files are
fetched as served. Media the widget cannot show ("Please open Telegram to view this
post", ``.message_media_not_supported``) is there all the same: the post is not one
of words alone, and is tried again. A forwarded post names where it came from in
``a.tgme_widget_message_forwarded_from_name``. A deleted post, or one
of a channel that went private, shows ``.tgme_widget_message_error`` ("Post not found").
"""

from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import urljoin, urlsplit

from archiver.errors import FetchError
from archiver.extract.document import Element, attr, text_of, with_class
from archiver.extract.urls import resolve_url
from archiver.fetch.posts import PlatformPost, answer_document

MAX_PHOTOS = 10  # an album holds at most ten
_PUBLIC_POST = re.compile(r"/([A-Za-z][A-Za-z0-9_]{2,})/(\d{1,12})/?")
_BACKGROUND = re.compile(r"background-image\s*:\s*url\(\s*(['\"]?)(.+?)\1\s*\)", re.IGNORECASE)
_HOSTS = ("t.me", "telegram.me")
# the widget's "Please open Telegram to view this post": media it has no player for
_NOT_SHOWN = "Telegram: the post holds media its embed widget does not show"


def post_path(url: str) -> tuple[str, str] | None:
    """(channel, message id) of a public channel post URL (``t.me/CHANNEL/ID``)."""
    found = _PUBLIC_POST.fullmatch(urlsplit(url).path)  # not t.me/c/ID/N: private
    return (found[1], found[2]) if found else None


def widget_url(base: str, channel: str, message: str) -> str:
    return f"{base.rstrip('/')}/{channel}/{message}?embed=1&mode=tme"


def parse_widget(body: bytes, channel: str, message: str, page_url: str) -> PlatformPost:
    """Read the widget page; FetchError (gone) for "Post not found", FetchError for a page
    that shows no such message."""
    root = answer_document(body, "Telegram: the post widget")
    error = _first(root, "tgme_widget_message_error")
    if error is not None:
        said = text_of(error) or "Post not found"
        raise FetchError(f"Telegram: {said}", retryable=False, gone=True)
    post = next(
        (
            node
            for node in with_class(root, "tgme_widget_message")
            if (attr(node, "data-post") or "").lower() == f"{channel}/{message}".lower()
        ),
        None,
    )
    if post is None:
        raise FetchError(f"Telegram: the post widget shows no message {channel}/{message}")
    photos = [
        urljoin(page_url, found[2])
        for node in with_class(post, "tgme_widget_message_photo_wrap")
        if (found := _BACKGROUND.search(node.get("style") or ""))
    ]
    # a video's MP4 as Telegram serves it: fetched when yt-dlp cannot take the post
    videos = [
        url
        for node in with_class(post, "tgme_widget_message_video")
        if (url := resolve_url(attr(node, "src"), page_url))
    ]
    text = _first(post, "tgme_widget_message_text")
    author = _first(post, "tgme_widget_message_owner_name")
    date = _first(post, "tgme_widget_message_date")
    moment = None if date is None else next((attr(t, "datetime") for t in date.iter("time")), None)
    hidden = _first(post, "message_media_not_supported")
    shown = PlatformPost(
        platform="Telegram",
        id=f"{channel}/{message}",
        url=f"https://t.me/{channel}/{message}",
        text=(text_of(text) or None) if text is not None else None,
        author=(text_of(author) or None) if author is not None else None,
        handle=channel,
        posted_at=moment,
        photos=list(dict.fromkeys(photos))[:MAX_PHOTOS],
        has_video=_first(post, "tgme_widget_message_video_player") is not None,
        record=body,
        record_name="platform.post.html",
        files=_own_files(post, page_url),
        video_files=list(dict.fromkeys(videos)),
        incomplete=None if hidden is None else _NOT_SHOWN,
    )
    return _forwarded(post, shown)


def _own_files(post: Element, page_url: str) -> list[str]:
    """A round video message's MP4 and a voice message's audio, in post order:
    yt-dlp's Telegram extractor takes neither, so they are fetched as served."""
    wanted = {"tgme_widget_message_roundvideo": "video", "tgme_widget_message_voice": "audio"}
    found = [
        url
        for name, tag in wanted.items()
        for node in with_class(post, name)
        if node.tag == tag and (url := resolve_url(attr(node, "src"), page_url))
    ]
    return list(dict.fromkeys(found))


def _forwarded(post: Element, found: PlatformPost) -> PlatformPost:
    """A forwarded post's media credited to the post it was forwarded from, when the
    widget links to that post: who posted it first says where it came from, as with a
    quoted post. The widget gives that post's channel and name, not its time. Forwarded
    from an account without a public post, the name is kept in what the facts were
    read from."""
    origin = _first(post, "tgme_widget_message_forwarded_from_name")
    if origin is None:
        return found
    name = text_of(origin) or None
    source = f"Telegram's embed widget of {found.url}, which forwarded it"
    linked = resolve_url(attr(origin, "href"), found.url)
    path = post_path(linked) if linked and urlsplit(linked).hostname in _HOSTS else None
    if path is None:
        said = f"Telegram's embed widget (the post is forwarded from {name or 'another account'})"
        return replace(found, read_from=said)
    first = replace(
        found,
        id=f"{path[0]}/{path[1]}",
        url=f"https://t.me/{path[0]}/{path[1]}",
        author=name,
        handle=path[0],
        posted_at=None,  # the widget's time is the forward's
        has_video=False,  # yt-dlp takes the video from the post the page embeds
        read_from=source,
        incomplete=None,
    )
    return replace(found, photos=[], files=[], video_files=[], quoted=first)


def _first(root: Element, name: str) -> Element | None:
    found = with_class(root, name)
    return found[0] if found else None
