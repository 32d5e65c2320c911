"""Threads' post page (threads.com/@USER/post/CODE), as Threads serves it, for the
post C9vX2aLtQzP: the platform cannot be reached from tests. The post's data sits in
the page's server-rendered ``data-sjs`` scripts; photo and video addresses are given
by the test (Threads' are on Instagram's CDN)."""

from __future__ import annotations

import json
from typing import Any

CODE = "C9vX2aLtQzP"
ACCOUNT = "aleppo.media"
POST_URL = f"https://www.threads.com/@{ACCOUNT}/post/{CODE}"
# Threads' embed code, as its share menu gives it (the permalink on threads.net)
EMBED = f"""<article><p>UPDATE 1100 GMT: The Aleppo Media Center posted photographs of
the shelter after the strike:</p>
<blockquote class="text-post-media" data-text-post-permalink="https://www.threads.net/@{ACCOUNT}/post/{CODE}"
data-text-post-version="0" id="ig-tp-{CODE}" style=" background:#FFF; border-width: 1px;
border-style: solid; border-color: #00000026; border-radius: 16px; max-width:540px;
margin: 1px; min-width:270px; padding:0; width:99.375%;"><a
href="https://www.threads.net/@{ACCOUNT}/post/{CODE}" style=" background:#FFFFFF;
line-height:0; padding:0 0; text-align:center; text-decoration:none; width:100%;
font-family: -apple-system, BlinkMacSystemFont, sans-serif;" target="_blank"><div
style=" padding: 40px; display: flex; flex-direction: column; align-items: center;">
<div style=" color: #000; font-size: 15px; line-height: 21px;">Post by @{ACCOUNT}</div>
<div style=" color: #000; font-size: 15px; line-height: 21px;">View on Threads</div>
</div></a></blockquote>
<script async src="https://www.threads.net/embed.js"></script>
</article>"""


def sizes(url: str, *, video: bool = False) -> list[dict[str, Any]]:
    """A photo's (or video's) sizes, as Instagram's media schema lists them: the
    original at ``url``, then smaller copies."""
    if video:
        return [
            {"type": 101, "url": url, "width": 720, "height": 1280},
            {"type": 102, "url": url + "?efg=480", "width": 480, "height": 854},
        ]
    return [
        {"url": url + "?stp=dst-jpg_s640x640", "width": 640, "height": 480},
        {"url": url, "width": 1440, "height": 1080},
        {"url": url + "?stp=dst-jpg_s320x320", "width": 320, "height": 240},
    ]


def media(photo: str | None = None, video: str | None = None) -> dict[str, Any]:
    """One photo or video of a post or of its carousel."""
    item: dict[str, Any] = {
        "pk": "3391864528021338" + str(len(photo or video or "")),
        "original_width": 1440,
        "original_height": 1080,
        "accessibility_caption": "Photo by Aleppo Media Center.",
        "has_audio": video is not None,
        "image_versions2": {"candidates": sizes(photo or (video or "") + ".jpg")},
        "video_versions": sizes(video, video=True) if video else None,
    }
    return item


def post(*items: dict[str, Any], code: str = CODE, text: str | None = None) -> dict[str, Any]:
    """The post: one photo or video, a carousel of several, or words alone."""
    found: dict[str, Any] = {
        "pk": "3391864528021338112",
        "id": "3391864528021338112_63055343223",
        "code": code,
        "taken_at": 1717490520,
        "caption": {"text": text or "The shelter in Bustan al-Qasr after this morning's strike."},
        "user": {
            "pk": "63055343223",
            "username": ACCOUNT,
            "full_name": "Aleppo Media Center",
            "is_verified": False,
            "profile_pic_url": "https://scontent.cdninstagram.com/v/t51.2885-19/amc.jpg",
        },
        "like_count": 412,
        "text_post_app_info": {"direct_reply_count": 37, "repost_count": 12},
        "image_versions2": {"candidates": []},
        "video_versions": None,
        "carousel_media": None,
    }
    if len(items) == 1:
        found.update(items[0])
    elif items:
        found["carousel_media"] = list(items)
    return found


def post_page(shown: dict[str, Any] | None) -> str:
    """The page: ``shown`` in the data of its post query, beside the app's other
    scripts; None: no post data at all, as behind a login wall."""
    edges = [] if shown is None else [{"node": {"thread_items": [{"post": shown}]}}]
    query = {
        "require": [
            [
                "ScheduledServerJS",
                "handle",
                None,
                [
                    {
                        "__bbox": {
                            "require": [
                                [
                                    "RelayPrefetchedStreamCache",
                                    "next",
                                    [],
                                    [
                                        "adp_BarcelonaPostPageDirectQueryRelayPreloader_1",
                                        {
                                            "__bbox": {
                                                "complete": True,
                                                "result": {"data": {"data": {"edges": edges}}},
                                            }
                                        },
                                    ],
                                ]
                            ]
                        }
                    }
                ],
            ]
        ]
    }
    other = {"require": [["ScheduledServerJS", "handle", None, [{"__bbox": {"define": []}}]]]}
    scripts = "".join(
        f'<script type="application/json" data-content-len="{len(text)}" data-sjs>{text}</script>'
        for text in (json.dumps(other), json.dumps(query) if shown is not None else "{}")
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Aleppo Media Center (@{ACCOUNT}) on Threads</title>
<meta property="og:title" content="Aleppo Media Center (@{ACCOUNT}) on Threads">
</head><body><div id="barcelona-page-layout"></div>
{scripts}
</body></html>"""
