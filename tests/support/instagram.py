"""Instagram's embedded-post widget page (instagram.com/p/CODE/embed/captioned/), as
Instagram serves it, for the post CxA7b2LMv3Q: the platform cannot be reached from
tests. Photo addresses are given by the test (Instagram's own are on its CDN)."""

from __future__ import annotations

import json
from typing import Any

CODE = "CxA7b2LMv3Q"
POST_URL = f"https://www.instagram.com/p/{CODE}/"
EMBED = f"""<article><p>UPDATE 0800 GMT: The Aleppo Media Center posted these photos
of the Citadel after the strike:</p>
<blockquote class="instagram-media" data-instgrm-captioned
data-instgrm-permalink="{POST_URL}?utm_source=ig_embed&amp;utm_campaign=loading"
data-instgrm-version="14" style="background:#FFF; border:0; margin: 1px;"><div
style="padding:16px;"><a href="{POST_URL}?utm_source=ig_embed&amp;utm_campaign=loading"
style="background:#FFFFFF; line-height:0;" target="_blank"><div style="display: flex;">
View this post on Instagram</div></a><p style="color:#c9c8cd; margin-bottom:0;"><a
href="{POST_URL}?utm_source=ig_embed&amp;utm_campaign=loading" target="_blank">A post
shared by Aleppo Media Center (@aleppo_media)</a></p></div></blockquote>
<script async src="//www.instagram.com/embed.js"></script>
</article>"""


def node(kind: str, shortcode: str, url: str) -> dict[str, Any]:
    """A photo (``GraphImage``) or video (``GraphVideo``) of the post or its carousel."""
    found: dict[str, Any] = {
        "__typename": kind,
        "id": "3195611882113361" + str(len(shortcode)),
        "shortcode": shortcode,
        "dimensions": {"height": 1080, "width": 1080},
        "display_url": url,
        "display_resources": [
            {"src": url + "?stp=dst-jpg_e35_s640x640", "config_width": 640, "config_height": 640},
            {"src": url + "?stp=dst-jpg_e35_s750x750", "config_width": 750, "config_height": 750},
            {"src": url, "config_width": 1080, "config_height": 1080},
        ],
        "is_video": kind == "GraphVideo",
        "accessibility_caption": "Photo by Aleppo Media Center on September 28, 2013.",
    }
    if kind == "GraphVideo":
        found["video_url"] = url + ".mp4"
        found["video_view_count"] = 1204
    return found


def shortcode_media(
    kind: str, url: str, children: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The post as ``gql_data.shortcode_media``: one photo or video at ``url``, or a
    carousel (``GraphSidecar``, shown by its first photo at ``url``)."""
    media = node(kind, CODE, url)
    media.update(
        {
            "owner": {
                "id": "1530498312",
                "username": "aleppo_media",
                "full_name": "Aleppo Media Center",
                "is_verified": False,
                "profile_pic_url": "https://scontent.cdninstagram.com/v/t51.2885-19/amc.jpg",
                "edge_owner_to_timeline_media": {"count": 5123},
            },
            "taken_at_timestamp": 1380354072,
            "edge_media_to_caption": {
                "edges": [{"node": {"text": "Smoke over the Citadel after this morning's strike."}}]
            },
            "edge_media_to_comment": {"count": 37, "edges": []},
            "edge_liked_by": {"count": 412},
        }
    )
    if children is not None:
        media["edge_sidecar_to_children"] = {"edges": [{"node": child} for child in children]}
    return media


def embed_page(
    media: dict[str, Any] | None, photo: str = "", video: bool = False, carousel: bool = False
) -> str:
    """The widget page: ``media`` in its script's ``contextJSON`` (None: ``gql_data``
    empty, as Instagram gives some visitors), ``photo`` as its shown image (a carousel's
    first)."""
    context = {
        "context": {"embed_type": "captioned", "ig_rid": "9f2c1d0e", "is_ig_web_embed": True},
        "gql_data": None if media is None else {"shortcode_media": media},
    }
    handle = json.dumps({"require": [["PolarisEmbedSimple", "init", [], [{"contextJSON": ""}]]]})
    script = handle.replace(
        '"contextJSON": ""', '"contextJSON": ' + json.dumps(json.dumps(context))
    )
    kind = ' data-media-type="GraphVideo"' if video else ""
    kind = ' data-media-type="GraphSidecar"' if carousel else kind
    shown = (
        f'<img class="EmbeddedMediaImage" alt="Photo by Aleppo Media Center" src="{photo}'
        f'?stp=dst-jpg_e35_s640x640" srcset="{photo}?stp=dst-jpg_e35_s640x640 640w,{photo}'
        f'?stp=dst-jpg_e35_s750x750 750w,{photo} 1080w" />'
    )
    play = '<span class="Sprite PlayButtonSprite"></span>' if video else ""
    return f"""<!DOCTYPE html>
<html lang="en" class="no-js not-logged-in client-root"><head><meta charset="utf-8">
<title>Instagram</title><link rel="stylesheet" href="/static/embed.css"></head>
<body class="">
<div class="Embed  " data-log-event="embedImpression">
 <div class="Header"><a class="Avatar InsideRing" href="https://www.instagram.com/aleppo_media/?utm_source=ig_embed&amp;ig_rid=9f2c1d0e"
  target="_blank"><span class="AvatarContainer"><img alt="aleppo_media"
  src="https://scontent.cdninstagram.com/v/t51.2885-19/amc.jpg" /></span></a>
  <div class="HeaderText"><a class="Username" href="https://www.instagram.com/aleppo_media/"
   target="_blank"><span class="UsernameText">aleppo_media</span></a></div>
  <a class="ViewProfileButton" href="https://www.instagram.com/aleppo_media/">View profile</a></div>
 <div class="Content EmbedFrame"{kind}><a class="EmbeddedMedia" href="{POST_URL}?utm_source=ig_embed"
  target="_blank"><div class="EmbeddedMediaImageContainer">{shown}{play}</div></a></div>
 <div class="Caption"><a class="CaptionUsername" href="https://www.instagram.com/aleppo_media/"
  target="_blank">aleppo_media</a><br /><br />Smoke over the Citadel after this morning&#039;s
  strike.<div class="CaptionComments"><a class="CaptionCommentsLink" href="{POST_URL}">View all
  37 comments</a></div></div>
 <div class="Footer"><a class="ViewPostButton" href="{POST_URL}">View on Instagram</a></div>
</div>
<script type="text/javascript">requireLazy(["TimeSliceImpl","ServerJS"],function(TimeSlice,ServerJS){{var s=(new ServerJS());s.handle({script});}});</script>
</body></html>"""
