"""Reddit's JSON for a post page (reddit.com/comments/ID/.json?raw_json=1), as Reddit
serves it, for the post 1ft8kz3 in r/syriancivilwar: the platform cannot be reached
from tests. Image addresses are given by the test (Reddit's own are on i.redd.it and
preview.redd.it)."""

from __future__ import annotations

import json
from typing import Any

POST_ID = "1ft8kz3"
PERMALINK = f"/r/syriancivilwar/comments/{POST_ID}/rebel_fighters_near_the_citadel/"
EMBED = f"""<article><p>UPDATE 1800 GMT: Rebels denied any advance by regime forces,
posting photos of their fighters near the Citadel:</p>
<blockquote class="reddit-embed-bq" style="height:500px" data-embed-height="740"><a
href="https://www.reddit.com{PERMALINK}">Rebel fighters near the Citadel this
morning</a><br> by<a href="https://www.reddit.com/user/aleppo_watch/">u/aleppo_watch</a>
in<a href="https://www.reddit.com/r/syriancivilwar/">syriancivilwar</a></blockquote><script
async="" src="https://embed.reddit.com/widgets.js" charset="UTF-8"></script>
</article>"""


def image_metadata(media_id: str, url: str, mime: str = "image/jpg") -> dict[str, Any]:
    """One ``media_metadata`` entry of a gallery photo; ``s`` is its largest rendition."""
    return {
        "status": "valid",
        "e": "Image",
        "m": mime,
        "p": [{"y": 81, "x": 108, "u": url + "?width=108&format=pjpg&auto=webp&s=1"}],
        "s": {"y": 768, "x": 1024, "u": url},
        "id": media_id,
    }


def post_data(**fields: Any) -> dict[str, Any]:
    """A ``t3`` post's data; ``fields`` set its media (``url_overridden_by_dest``,
    ``is_gallery``, ``media_metadata``, …)."""
    data: dict[str, Any] = {
        "approved_at_utc": None,
        "subreddit": "syriancivilwar",
        "selftext": "",
        "author_fullname": "t2_4f9k2",
        "saved": False,
        "gilded": 0,
        "title": "Rebel fighters near the Citadel this morning",
        "subreddit_name_prefixed": "r/syriancivilwar",
        "hidden": False,
        "name": f"t3_{POST_ID}",
        "upvote_ratio": 0.97,
        "subreddit_type": "public",
        "ups": 412,
        "domain": "reddit.com",
        "media_embed": {},
        "is_self": False,
        "created": 1380354072.0,
        "link_flair_text": "Photo",
        "score": 412,
        "is_original_content": False,
        "is_reddit_media_domain": True,
        "secure_media": None,
        "media": None,
        "is_video": False,
        "over_18": False,
        "removed_by_category": None,
        "id": POST_ID,
        "author": "aleppo_watch",
        "num_comments": 37,
        "permalink": PERMALINK,
        "url": f"https://www.reddit.com/gallery/{POST_ID}",
        "subreddit_subscribers": 81234,
        "created_utc": 1380354072.0,
        "num_crossposts": 0,
    }
    data.update(fields)
    return data


def answer(data: dict[str, Any]) -> bytes:
    """The two listings Reddit answers with: the post, then its comments."""
    comment = {
        "kind": "t1",
        "data": {
            "id": "lpqx2a1",
            "author": "geo_checker",
            "body": "Geolocated: the north gate of the Citadel, 36.1995 N 37.1626 E",
            "created_utc": 1380355000.0,
            "parent_id": f"t3_{POST_ID}",
            "link_id": f"t3_{POST_ID}",
        },
    }
    listings = [
        {
            "kind": "Listing",
            "data": {
                "after": None,
                "dist": 1,
                "modhash": "",
                "geo_filter": "",
                "children": [{"kind": "t3", "data": data}],
                "before": None,
            },
        },
        {
            "kind": "Listing",
            "data": {"after": None, "dist": None, "modhash": "", "children": [comment]},
        },
    ]
    return json.dumps(listings).encode()
