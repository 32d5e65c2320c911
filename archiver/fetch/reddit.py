"""Reddit posts, from the JSON Reddit serves for any post page (see `posts`).

``https://www.reddit.com/comments/ID/.json?raw_json=1`` answers without an account
with two listings: the post (``kind`` ``t3``) and its comments. The post holds its
``title``, ``selftext``, ``author``, ``subreddit_name_prefixed``, ``permalink`` and
``created_utc``, and its media:

- a photo post: ``url_overridden_by_dest`` (``post_hint`` ``image``), the uploaded
  file on ``i.redd.it`` or a link to an image elsewhere;
- a gallery (``is_gallery``): ``gallery_data.items`` in the post's order, each a
  ``media_id`` into ``media_metadata``, whose ``s`` is the largest preview
  (``preview.redd.it``; ``file_url`` turns it into the uploaded file on ``i.redd.it``);
  a text post's inline images are ``media_metadata`` too;
- a video (``is_video``, ``media.reddit_video``), which yt-dlp takes as before;
- a crosspost: the original post in ``crosspost_parent_list``, with its own media;
  the crosspost's own ``url`` names the original's media too, which stays the
  original's.

yt-dlp sees a photo post as a link to an image, which is no video, and a gallery as a
link to the gallery page: both ended in "Unsupported URL". A post removed by its
author or the moderators keeps its ``removed_by_category``; what it still lists is
archived while it is there.
"""

from __future__ import annotations

import html
import re
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from archiver.errors import FetchError
from archiver.extract.urls import file_url
from archiver.fetch.facts import epoch_moment
from archiver.fetch.posts import PlatformPost
from archiver.jsontext import json_at, json_list, json_or_none, json_text

MAX_PHOTOS = 20  # a gallery holds at most twenty
_POST_ID = re.compile(r"/(?:(?:r|user)/[^/]+/)?comments/([a-z0-9]{4,12})(?:/|$)")
_IMAGE_FILE = re.compile(r"\.(?:jpe?g|png|gif|webp)$", re.IGNORECASE)
_REMOVED = {"deleted": "deleted by its author"}
_CLOSED = {
    "private": "the subreddit is private",
    "quarantined": "the subreddit is quarantined (an account must opt in)",
    "gold_only": "the subreddit is for paying members only",
}


def post_id(url: str) -> str | None:
    """The base-36 id of a Reddit post URL (``reddit.com/comments/ID/``, ``/r/SUB/…``)."""
    found = _POST_ID.match(urlsplit(url).path.lower())
    return found[1] if found else None


def post_json_url(base: str, post: str) -> str:
    return f"{base.rstrip('/')}/comments/{post}/.json?raw_json=1"


def refusal(refused: FetchError) -> FetchError | None:
    """A 403 whose JSON names why (``{"reason": "private"}``: the subreddit went private,
    or is quarantined): the post is closed to us, ``gone`` as a private video is, and
    taken again if it comes back. Other 403s (a block page for the address) are not."""
    reason = json_text(json_at(json_or_none(refused.body), "reason"))
    if refused.http_status != 403 or reason not in _CLOSED:
        return None
    return FetchError(f"Reddit: {_CLOSED[reason]}", retryable=False, gone=True)


def parse_post(body: bytes, expected_id: str) -> PlatformPost:
    """Read Reddit's answer; FetchError (gone) for a removed post that lists nothing,
    FetchError for anything that is not the post."""
    data = json_or_none(body)
    listing = json_at(data[0] if isinstance(data, list) and data else None, "data", "children")
    child = listing[0] if isinstance(listing, list) and listing else None
    post = json_at(child, "data")
    if not isinstance(post, dict) or json_at(child, "kind") != "t3":
        raise FetchError("Reddit: the post's JSON did not hold a post", retryable=True)
    if str(post.get("id") or "").lower() != expected_id:
        raise FetchError(f"Reddit: the answer was for another post than {expected_id}")
    parents = [p for p in json_list(post.get("crosspost_parent_list")) if isinstance(p, dict)]
    shown = _post(parents[0], body) if parents and parents[0].get("id") else None
    found = _post(post, body, quoted=shown)
    if shown is not None:
        # Reddit gives a crosspost the original's media address as its own ``url``:
        # what the original lists is the original's, kept with its facts (and once)
        found = replace(found, photos=[p for p in found.photos if p not in shown.photos])
    category = json_text(post.get("removed_by_category"))
    if category is None:
        return found
    removed = f"Reddit: the post was {_REMOVED.get(category, f'removed ({category})')}"
    if not (found.photos or found.has_video or (shown and shown.photos)):
        raise FetchError(removed, retryable=False, gone=True)
    return replace(found, removed=removed)


def _post(data: dict[str, Any], body: bytes, quoted: PlatformPost | None = None) -> PlatformPost:
    post = str(data.get("id") or "").lower()
    photos = _photos(data)
    waiting = _unprocessed(data)
    unreadable = _unreadable(data)
    author = json_text(data.get("author"))
    title = json_text(data.get("title"))
    words = json_text(data.get("selftext"))
    if words in ("[removed]", "[deleted]"):
        words = None
    permalink = json_text(data.get("permalink"))
    return PlatformPost(
        platform="Reddit",
        id=post,
        url=f"https://www.reddit.com{permalink}"
        if permalink and permalink.startswith("/")
        else f"https://www.reddit.com/comments/{post}/",
        text="\n\n".join(part for part in (title, words) if part) or None,
        author=None if author in (None, "[deleted]") else author,
        handle=None,  # the author's name is the account's: said once
        posted_at=epoch_moment(data.get("created_utc")),
        photos=list(dict.fromkeys(photos))[:MAX_PHOTOS],
        has_video=_has_video(data, photos) or bool(quoted and quoted.has_video),
        record=body,
        record_name="platform.post.json",
        quoted=quoted,
        read_from="Reddit's post JSON",
        where=json_text(data.get("subreddit_name_prefixed")),
        incomplete=_incomplete(waiting, unreadable),
    )


def _incomplete(waiting: int, unreadable: int) -> str | None:
    """Why some of the post's photos cannot be taken yet: retried for them."""
    if waiting:
        return f"Reddit: {waiting} of the post's photos are still being processed"
    if unreadable:
        return f"Reddit: {unreadable} of the gallery's items name no media id (a changed format?)"
    return None


def _gallery_ids(data: dict[str, Any]) -> list[object]:
    """The ``media_id`` of each gallery item, in the post's order, as given."""
    items = json_list(json_at(data, "gallery_data", "items"))
    return [item.get("media_id") for item in items if isinstance(item, dict)]


def _unreadable(data: dict[str, Any]) -> int:
    """How many gallery items name their media by something other than an id (an
    object, a list): a malformed answer, which must not cost the rest."""
    return sum(1 for media_id in _gallery_ids(data) if not isinstance(media_id, str))


def _photos(data: dict[str, Any]) -> list[str]:
    """The post's photos in its own order, each the uploaded file where Reddit has it."""
    metadata = data.get("media_metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    given = _gallery_ids(data)
    ids = [media_id for media_id in given if isinstance(media_id, str)] or list(metadata)
    photos = [url for media_id in ids if (url := _metadata_photo(metadata.get(media_id)))]
    if photos:
        return photos
    link = json_text(data.get("url_overridden_by_dest")) or json_text(data.get("url"))
    if link and not data.get("is_video") and _is_image(data, link):
        return [file_url(html.unescape(link))]
    return []


def _unprocessed(data: dict[str, Any]) -> int:
    """How many of the post's images Reddit has not finished processing (a post made
    moments ago): their addresses are not given yet."""
    metadata = data.get("media_metadata")
    if not isinstance(metadata, dict):
        return 0
    return sum(
        1 for m in metadata.values() if isinstance(m, dict) and m.get("status") == "unprocessed"
    )


def _metadata_photo(media: object) -> str | None:
    """An Image's or AnimatedImage's largest rendition (``s``); a RedditVideo is yt-dlp's."""
    if not isinstance(media, dict) or media.get("status") != "valid":
        return None
    largest = media.get("s")
    if not isinstance(largest, dict) or media.get("e") not in ("Image", "AnimatedImage"):
        return None
    url = next(filter(None, (json_text(largest.get(key)) for key in ("u", "gif", "mp4"))), None)
    return file_url(html.unescape(url)) if url else None


def _is_image(data: dict[str, Any], link: str) -> bool:
    return data.get("post_hint") == "image" or bool(_IMAGE_FILE.search(urlsplit(link).path))


def _has_video(data: dict[str, Any], photos: list[str]) -> bool:
    """A hosted video, a gallery's video, or a link that is neither a photo nor the post
    itself: yt-dlp follows it, as it did before."""
    if data.get("is_video") or json_at(data, "media", "reddit_video"):
        return True
    metadata = data.get("media_metadata")
    if isinstance(metadata, dict) and any(
        isinstance(m, dict) and m.get("e") == "RedditVideo" for m in metadata.values()
    ):
        return True
    link = json_text(data.get("url_overridden_by_dest"))
    return bool(link) and not photos and not data.get("is_self") and not data.get("is_gallery")
