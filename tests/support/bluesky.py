"""Bluesky's public API answers (app.bsky.feed.getPosts) and a DID document, as
Bluesky serves them, for the post 3l6oveex3ii2l of did:plc:ewvi7nxzyoun6zhxrhs64oiz:
the platform cannot be reached from tests. Addresses of images and of the data server
are given by the test (Bluesky's own are on cdn.bsky.app and *.host.bsky.network)."""

from __future__ import annotations

import json
from typing import Any

DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
HANDLE = "kyivindependent.bsky.social"
RKEY = "3l6oveex3ii2l"
URI = f"at://{DID}/app.bsky.feed.post/{RKEY}"
POST_URL = f"https://bsky.app/profile/{DID}/post/{RKEY}"
EMBED = f"""<article><p>UPDATE 1800 GMT: The Kyiv Independent posted photos of the
strike on the power plant:</p>
<blockquote class="bluesky-embed" data-bluesky-uri="{URI}"
data-bluesky-cid="bafyreihq3xojpbhm5tdkdy5zxhafgh3yyxqynhu4ii7e5loeuf7uhxrp6e"
data-bluesky-embed-color-mode="system"><p lang="en">Smoke over the power plant after
this morning's strike.<br><br><a href="https://bsky.app/profile/{DID}/post/{RKEY}?ref_src=embed">[image
or embed]</a></p>&mdash; The Kyiv Independent (<a
href="https://bsky.app/profile/{DID}?ref_src=embed">@{HANDLE}</a>) <a
href="https://bsky.app/profile/{DID}/post/{RKEY}?ref_src=embed">October 14, 2024 at
7:41 AM</a></blockquote><script async src="https://embed.bsky.app/static/embed.js"
charset="utf-8"></script>
</article>"""


def author(
    did: str = DID, handle: str = HANDLE, name: str = "The Kyiv Independent"
) -> dict[str, Any]:
    return {
        "did": did,
        "handle": handle,
        "displayName": name,
        "avatar": f"https://cdn.bsky.app/img/avatar/plain/{did}/bafkreiavatar@jpeg",
        "labels": [],
        "createdAt": "2023-04-26T13:56:05.000Z",
    }


def images_view(cdn: str, did: str, cids: list[str]) -> dict[str, Any]:
    """An ``app.bsky.embed.images#view``: each image's CDN copies under ``cdn``."""
    return {
        "$type": "app.bsky.embed.images#view",
        "images": [
            {
                "thumb": f"{cdn}/img/feed_thumbnail/plain/{did}/{cid}@jpeg",
                "fullsize": f"{cdn}/img/feed_fullsize/plain/{did}/{cid}@jpeg",
                "alt": "Smoke rising over the plant",
                "aspectRatio": {"height": 768, "width": 1024},
            }
            for cid in cids
        ],
    }


def images_record(cids: list[str]) -> dict[str, Any]:
    """The same images as the post's record holds them: blobs by CID."""
    return {
        "$type": "app.bsky.embed.images",
        "images": [
            {
                "alt": "Smoke rising over the plant",
                "aspectRatio": {"height": 768, "width": 1024},
                "image": {
                    "$type": "blob",
                    "ref": {"$link": cid},
                    "mimeType": "image/jpeg",
                    "size": 182311,
                },
            }
            for cid in cids
        ],
    }


def post_view(
    embed: dict[str, Any] | None = None,
    record_embed: dict[str, Any] | None = None,
    text: str = "Smoke over the power plant after this morning's strike.",
) -> dict[str, Any]:
    """A ``PostView`` of the post, with ``embed`` as shown and ``record_embed`` as posted."""
    record: dict[str, Any] = {
        "$type": "app.bsky.feed.post",
        "createdAt": "2024-10-14T07:41:12.116Z",
        "langs": ["en"],
        "text": text,
    }
    view: dict[str, Any] = {
        "uri": URI,
        "cid": "bafyreihq3xojpbhm5tdkdy5zxhafgh3yyxqynhu4ii7e5loeuf7uhxrp6e",
        "author": author(),
        "record": record,
        "replyCount": 12,
        "repostCount": 87,
        "likeCount": 311,
        "quoteCount": 4,
        "indexedAt": "2024-10-14T07:41:13.021Z",
        "labels": [],
    }
    if record_embed is not None:
        record["embed"] = record_embed
    if embed is not None:
        view["embed"] = embed
    return view


def answer(*views: dict[str, Any]) -> bytes:
    """getPosts' answer: ``{"posts": [...]}`` (empty once the post is deleted)."""
    return json.dumps({"posts": list(views)}).encode()


def did_document(did: str, pds: str) -> bytes:
    """The account's DID document, as plc.directory serves it."""
    return json.dumps(
        {
            "@context": [
                "https://www.w3.org/ns/did/v1",
                "https://w3id.org/security/multikey/v1",
            ],
            "id": did,
            "alsoKnownAs": [f"at://{HANDLE}"],
            "verificationMethod": [
                {
                    "id": f"{did}#atproto",
                    "type": "Multikey",
                    "controller": did,
                    "publicKeyMultibase": "zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF",
                }
            ],
            "service": [
                {
                    "id": "#atproto_pds",
                    "type": "AtprotoPersonalDataServer",
                    "serviceEndpoint": pds,
                }
            ],
        }
    ).encode()
