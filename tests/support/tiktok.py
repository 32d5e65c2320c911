"""TikTok's post page (tiktok.com/@USER/video/ID), as TikTok serves it to a browser,
for the post 7335678901234567890: the platform cannot be reached from tests. The
photos', sound's and video's addresses are given by the test (TikTok's are on its CDN).
"""

from __future__ import annotations

import json
from typing import Any

POST_ID = "7335678901234567890"
ACCOUNT = "frontline.reports"
POST_URL = f"https://www.tiktok.com/@{ACCOUNT}/video/{POST_ID}"
# TikTok's embed code: the post link is the blockquote's cite
EMBED = f"""<article><p>UPDATE 1430 GMT: Residents of Douma shared photographs of the
shelter after the strike, set to a recording of the sirens:</p>
<blockquote class="tiktok-embed" cite="{POST_URL}" data-video-id="{POST_ID}"
style="max-width: 605px;min-width: 325px;"><section><a target="_blank"
title="@{ACCOUNT}" href="https://www.tiktok.com/@{ACCOUNT}?refer=embed">@{ACCOUNT}</a>
The shelter this morning <a title="douma" target="_blank"
href="https://www.tiktok.com/tag/douma?refer=embed">#douma</a> <a target="_blank"
title="original sound - {ACCOUNT}"
href="https://www.tiktok.com/music/original-sound-7335678901234567891?refer=embed">original
sound - {ACCOUNT}</a></section></blockquote>
<script async src="https://www.tiktok.com/embed.js"></script>
</article>"""


def item(
    *,
    photos: list[list[str]] | None = None,
    sound: str | None = None,
    video: str | None = None,
    post_id: str = POST_ID,
) -> dict[str, Any]:
    """``itemInfo.itemStruct``: a photo post (each photo's copies on TikTok's CDN) with
    its sound, or a video post playing ``video``."""
    found: dict[str, Any] = {
        "id": post_id,
        "desc": "The shelter this morning #douma",
        "createTime": "1707921000",
        "scheduleTime": 0,
        "video": {
            "id": post_id if video else "",
            "height": 1024 if video else 0,
            "width": 576 if video else 0,
            "duration": 9 if video else 0,
            "ratio": "540p",
            "cover": "https://p16-sign-va.tiktokcdn.com/obj/tos-maliva-p-0068/cover",
            "playAddr": video or "",
            "downloadAddr": (video + "?watermark=1") if video else "",
            "format": "mp4" if video else "",
            "bitrate": 1015405 if video else 0,
        },
        "author": {
            "id": "6604511138619654149",
            "uniqueId": ACCOUNT,
            "nickname": "Frontline Reports",
            "avatarThumb": "https://p16-sign-va.tiktokcdn.com/tos-maliva-avt-0068/a.jpeg",
            "signature": "Reports from the front lines",
            "verified": False,
            "secUid": "MS4wLjABAAAAoShJqaw_5gvy48y3azFeFcT4jeyKWbB0VVYasOCt2tTLwjNFIaDcHAM4D",
            "privateAccount": False,
        },
        "music": {
            "id": "7335678901234567891",
            "title": f"original sound - {ACCOUNT}",
            "playUrl": sound or "",
            "coverLarge": "https://p16-sign-va.tiktokcdn.com/tos-maliva-avt-0068/m.jpeg",
            "authorName": "Frontline Reports",
            "original": True,
            "duration": 15,
        },
        "stats": {
            "diggCount": 1204,
            "shareCount": 41,
            "commentCount": 33,
            "playCount": 51800,
            "collectCount": 12,
        },
        "locationCreated": "SY",
        "isAd": False,
    }
    if photos is not None:
        images = [
            {"imageURL": {"urlList": copies}, "imageWidth": 1080, "imageHeight": 1440}
            for copies in photos
        ]
        found["imagePost"] = {
            "images": images,
            "cover": images[0] if images else None,
            "shareCover": images[0] if images else None,
            "title": "",
        }
    return found


def post_page(
    item: dict[str, Any] | None, status: int = 0, message: str = "", *, data: bool = True
) -> str:
    """The page: ``item`` in its rehydration script (``status`` TikTok's code for it);
    without ``data``, the script is missing, as on the challenge page TikTok shows some
    visitors first."""
    detail: dict[str, Any] = {"statusCode": status, "statusMsg": message}
    if item is not None:
        detail["itemInfo"] = {"itemStruct": item}
        detail["shareMeta"] = {"title": "Frontline Reports on TikTok", "desc": item["desc"]}
    scope = {
        "__DEFAULT_SCOPE__": {
            "webapp.app-context": {"language": "en", "region": "US", "user": {}},
            "webapp.video-detail": detail,
        }
    }
    # TikTok writes every "/" in the JSON as \u002F
    script = json.dumps(scope, separators=(",", ":")).replace("/", "\\u002F")
    rehydration = (
        f'<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__" type="application/json">{script}</script>'
        if data
        else '<script src="https://sf16-website-login.neutral.ttwstatic.com/obj/challenge.js">'
        "</script>"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Frontline Reports on TikTok</title>
<meta property="og:title" content="Frontline Reports on TikTok">
</head><body><div id="app"></div>
{rehydration}
<script src="https://sf16-website-login.neutral.ttwstatic.com/obj/app.js" defer></script>
</body></html>"""
