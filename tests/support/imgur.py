"""Imgur's post API answers (``api.imgur.com/post/v1/{media,albums}/ID``), in the
format Imgur's web app reads: the API cannot be reached from tests, so the test
server plays it, and i.imgur.com."""

from __future__ import annotations

import json
from typing import Any

POST_ID = "A61SaA1"
ALBUM_ID = "Qx7pLm2"
USER = "aleppo_media"


def embed_blockquote(data_id: str) -> str:
    """A live blog embedding a post (``ID``) or an album (``a/ID``) with Imgur's snippet."""
    return f"""<article><p>UPDATE 1800 GMT: Activists posted photos and video from the
market after the strike:</p>
<blockquote class="imgur-embed-pub" lang="en" data-id="{data_id}" data-context="false">
<a href="//imgur.com/{data_id}">Shelling of the market this morning</a></blockquote>
<script async src="//s.imgur.com/min/embed.js" charset="utf-8"></script>
</article>"""


def medium(kind: str, url: str, media_id: str, mime_type: str, title: str = "") -> dict[str, Any]:
    """One entry of ``media``: an ``image`` or a ``video``."""
    return {
        "id": media_id,
        "account_id": 170331245,
        "mime_type": mime_type,
        "type": kind,
        "name": "",
        "basename": "",
        "url": url,
        "ext": url.rsplit(".", 1)[-1],
        "width": 640,
        "height": 480,
        "size": 1048576,
        "metadata": {
            "title": title,
            "description": "",
            "is_animated": kind == "video",
            "is_looping": kind == "video",
            "duration": 2 if kind == "video" else 0,
            "has_sound": False,
        },
        "created_at": "2024-10-21T07:41:12Z",
        "updated_at": None,
    }


def post(
    post_id: str,
    media: list[dict[str, Any]],
    *,
    album: bool = False,
    title: str = "Shelling of the market this morning",
    description: str = "",
) -> dict[str, Any]:
    """A post or album in the API's format, with ``include=media,account``."""
    return {
        "id": post_id,
        "account_id": 170331245,
        "title": title,
        "description": description,
        "view_count": 15234,
        "upvote_count": 211,
        "downvote_count": 3,
        "point_count": 208,
        "image_count": len(media),
        "comment_count": 17,
        "favorite_count": 40,
        "virality": 1893.4,
        "score": 2231,
        "in_most_viral": False,
        "is_album": album,
        "is_mature": False,
        "cover_id": media[0]["id"] if media else "",
        "created_at": "2024-10-21T07:41:12Z",
        "updated_at": None,
        "url": f"https://imgur.com/{'a/' if album else ''}{post_id}",
        "privacy": "public",
        "vote": None,
        "favorite": False,
        "is_ad": False,
        "ad_type": 0,
        "ad_url": "",
        "include_album_ads": False,
        "shared_with_community": True,
        "is_pending": False,
        "platform": "web",
        "media": media,
        "display": [],
        "account": {
            "id": 170331245,
            "username": USER,
            "avatar_url": f"https://i.imgur.com/{USER}_d.png?maxwidth=290&fidelity=grand",
            "created_at": "2022-02-24T04:00:00Z",
        },
    }


def answer(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()
