"""A Mastodon instance's API answer for a status (HOST/api/v1/statuses/ID), as
Mastodon serves it: the platform's instances cannot be reached from tests, so the test
server plays the instance (its host is the status's)."""

from __future__ import annotations

import json
from typing import Any

STATUS_ID = "113331196497446434"
USER = "aleppo_watch"


def embed_frame(instance: str) -> str:
    """A live blog embedding the status with Mastodon's frame snippet."""
    return f"""<article><p>UPDATE 1800 GMT: Activists posted footage from the market
after the strike:</p>
<iframe src="{instance}/@{USER}/{STATUS_ID}/embed" class="mastodon-embed"
style="max-width: 100%; border: 0" width="400" allowfullscreen="allowfullscreen"></iframe>
<script src="{instance}/embed.js" async="async"></script>
</article>"""


def embed_blockquote(instance: str) -> str:
    """The same with the blockquote snippet of Mastodon 4.3 and later."""
    return f"""<article><p>UPDATE 1800 GMT: Activists posted footage from the market
after the strike:</p>
<blockquote class="mastodon-embed" data-embed-url="{instance}/@{USER}/{STATUS_ID}/embed"
style="background: #FCF8FF; border-radius: 8px;"><a href="{instance}/@{USER}/{STATUS_ID}"
target="_blank"><div style="margin-top: 16px; color: #787588;">Post by @{USER}@example.social</div>
<div style="font-weight: 500;">View on Mastodon</div></a></blockquote>
<script data-allowed-prefixes="{instance}/" async src="{instance}/embed.js"></script>
</article>"""


def attachment(kind: str, url: str, number: int = 1) -> dict[str, Any]:
    """One ``media_attachments`` entry: ``image``, ``video``, ``gifv`` or ``audio``."""
    return {
        "id": f"11333119{number:010d}",
        "type": kind,
        "url": url,
        "preview_url": url + ".small.jpg",
        "remote_url": None,
        "preview_remote_url": None,
        "text_url": None,
        "meta": {"original": {"width": 1024, "height": 768, "size": "1024x768"}},
        "description": "The market after the strike",
        "blurhash": "UBL_:rOpGG-oBUNG,qRj2so|=eE1w^n4S5NH",
    }


def status(
    instance: str,
    media: list[dict[str, Any]],
    content: str = "<p>Smoke over the market after the strike this morning. "
    '<a href="https://example.social/tags/Aleppo" class="mention hashtag" rel="tag">'
    "#<span>Aleppo</span></a></p>",
    reblog: dict[str, Any] | None = None,
    status_id: str = STATUS_ID,
    user: str = USER,
) -> dict[str, Any]:
    """A status in the API's format."""
    return {
        "id": status_id,
        "created_at": "2024-10-21T07:41:12.000Z",
        "in_reply_to_id": None,
        "sensitive": False,
        "spoiler_text": "",
        "visibility": "public",
        "language": "en",
        "uri": f"{instance}/users/{user}/statuses/{status_id}",
        "url": f"{instance}/@{user}/{status_id}",
        "replies_count": 3,
        "reblogs_count": 41,
        "favourites_count": 88,
        "edited_at": None,
        "content": content if reblog is None else "",
        "reblog": reblog,
        "account": {
            "id": "109312345678901234",
            "username": user,
            "acct": user,
            "display_name": "Aleppo Watch",
            "url": f"{instance}/@{user}",
            "created_at": "2022-11-07T00:00:00.000Z",
        },
        "media_attachments": media,
        "mentions": [],
        "tags": [{"name": "aleppo", "url": "https://example.social/tags/aleppo"}],
        "emojis": [],
        "card": None,
        "poll": None,
    }


def answer(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()
