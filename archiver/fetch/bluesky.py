"""Bluesky posts, from Bluesky's public API (see `posts`).

``https://public.api.bsky.app/xrpc/app.bsky.feed.getPosts?uris=at://DID/app.bsky.feed.post/RKEY``
answers without an account with ``{"posts": [PostView]}``, and ``{"posts": []}`` once
the post is deleted or its account gone. A post named by its author's handle (which
can change) is asked for with ``app.bsky.feed.getPostThread?uri=at://HANDLE/…``,
which resolves the handle: ``{"thread": {"post": PostView}}``; it answers a deleted
post with a 400, which is not taken as proof of removal. A PostView holds the
``author`` (``did``,
``handle``, ``displayName``), the ``record`` as posted (``text``, ``createdAt``) and
its ``embed`` as shown:

- ``app.bsky.embed.images#view``: ``images[].fullsize``, Bluesky's CDN copy
  (``cdn.bsky.app/img/feed_fullsize/plain/DID/CID@jpeg``, re-encoded);
- ``app.bsky.embed.video#view``: an HLS ``playlist``, which yt-dlp takes;
- ``app.bsky.embed.record#view``: a quoted post (``viewRecord``, its media in
  ``embeds``); ``app.bsky.embed.recordWithMedia#view``: a quote with images or a
  video of its own (``media``);
- ``app.bsky.embed.external#view``: a link card (``external.uri``).

The image as uploaded is the blob whose CID the CDN address names: the author's data
server (PDS) serves it at ``PDS/xrpc/com.atproto.sync.getBlob?did=DID&cid=CID``, and
the PDS is named in the account's DID document (``plc.directory/DID``, or
``HOST/.well-known/did.json`` for ``did:web:HOST``). yt-dlp takes Bluesky videos but
ends a photo post in "No video could be found in this post".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from archiver.config import is_http_url
from archiver.errors import FetchError
from archiver.extract.urls import normalize_url
from archiver.fetch.posts import PlatformPost
from archiver.jsontext import json_at, json_list, json_or_none, json_text

MAX_PHOTOS = 4  # Bluesky allows four images per post
_POST = re.compile(r"/profile/([^/]+)/post/([^/]+)/?")
_CDN_IMAGE = re.compile(r"/img/[a-z_]+/plain/(did:[a-z]+:[A-Za-z0-9._:%-]+)/([a-z0-9]+)(?:@|$)")
_PLAYLIST = re.compile(r"/watch/(did(?::|%3A)[a-z]+(?::|%3A)[A-Za-z0-9._:%-]+)/([a-z0-9]+)/")
_IMAGES = "app.bsky.embed.images#view"
_VIDEO = "app.bsky.embed.video#view"
_EXTERNAL = "app.bsky.embed.external#view"
_RECORD = "app.bsky.embed.record#view"
_RECORD_WITH_MEDIA = "app.bsky.embed.recordWithMedia#view"


def post_path(url: str) -> tuple[str, str] | None:
    """(account, record key) of a Bluesky post URL (``bsky.app/profile/ACTOR/post/RKEY``)."""
    found = _POST.fullmatch(urlsplit(url).path)
    return (found[1], found[2]) if found else None


def posts_url(base: str, actor: str, rkey: str) -> str:
    """Where the API is asked about the post: by DID, the list of posts it still has;
    by handle, the thread, which resolves the handle."""
    uri = f"at://{actor}/app.bsky.feed.post/{rkey}"
    if actor.startswith("did:"):
        return f"{base.rstrip('/')}/xrpc/app.bsky.feed.getPosts?{urlencode({'uris': uri})}"
    query = urlencode({"uri": uri, "depth": 0, "parentHeight": 0})
    return f"{base.rstrip('/')}/xrpc/app.bsky.feed.getPostThread?{query}"


def parse_posts(body: bytes, rkey: str) -> PlatformPost:
    """Read the API's answer (getPosts' or getPostThread's); FetchError (gone) when it
    no longer has the post, FetchError for anything that is not an answer about it."""
    data = json_or_none(body)
    thread = json_at(data, "thread")
    if isinstance(thread, dict):  # getPostThread
        shape = json_text(thread.get("$type")) or ""
        posts = [] if shape.endswith("#notFoundPost") else [thread.get("post")]
        if shape.endswith("#blockedPost"):
            raise FetchError("Bluesky: the post is blocked", retryable=True)
    else:
        posts = json_at(data, "posts")
    if not isinstance(posts, list):
        raise FetchError("Bluesky: the API did not answer with posts", retryable=True)
    if not posts:
        raise FetchError("Bluesky: the post was not found", retryable=False, gone=True)
    view = posts[0]
    uri = json_text(json_at(view, "uri")) or ""
    if not isinstance(view, dict) or not uri.endswith(f"/app.bsky.feed.post/{rkey}"):
        raise FetchError(f"Bluesky: the answer was for another post than {rkey}")
    embed = json_at(view, "embed")
    kind = json_text(json_at(embed, "$type"))
    if kind == _RECORD_WITH_MEDIA:
        media, quoted = json_at(embed, "media"), json_at(embed, "record", "record")
    elif kind == _RECORD:
        media, quoted = None, json_at(embed, "record")
    else:
        media, quoted = embed, None
    shown = None
    if json_text(json_at(quoted, "$type")) == "app.bsky.embed.record#viewRecord":
        quoted_embed = next(iter(json_list(json_at(quoted, "embeds"))), None)
        shown = _post(quoted, json_at(quoted, "value"), _own_media(quoted_embed), body)
    return _post(view, json_at(view, "record"), media, body, shown)


def _own_media(embed: Any) -> Any:
    """A quoted post's own media: a quote of its own keeps it under ``media`` (the
    post it quotes in turn is not shown)."""
    if json_text(json_at(embed, "$type")) == _RECORD_WITH_MEDIA:
        return json_at(embed, "media")
    return embed


def _post(
    view: dict[str, Any],
    record: Any,
    media: Any,
    body: bytes,
    quoted: PlatformPost | None = None,
) -> PlatformPost:
    did = json_text(json_at(view, "author", "did")) or ""
    uri = json_text(view.get("uri")) or ""
    rkey = uri.rsplit("/", 1)[-1]
    kind = json_text(json_at(media, "$type"))
    photos = [
        url
        for image in json_list(json_at(media, "images"))
        if (url := json_text(json_at(image, "fullsize")))
    ]
    link = json_text(json_at(media, "external", "uri")) if kind == _EXTERNAL else None
    playlist = json_text(json_at(media, "playlist")) if kind == _VIDEO else None
    return PlatformPost(
        platform="Bluesky",
        id=f"{did}/{rkey}",
        url=f"https://bsky.app/profile/{did}/post/{rkey}",
        text=json_text(json_at(record, "text")),
        author=json_text(json_at(view, "author", "displayName")),
        handle=json_text(json_at(view, "author", "handle")),
        posted_at=json_text(json_at(record, "createdAt")),
        photos=list(dict.fromkeys(photos if kind == _IMAGES else []))[:MAX_PHOTOS],
        # a video, or a link card to a platform's video, is yt-dlp's (it follows both)
        has_video=kind == _VIDEO
        or (link is not None and normalize_url(link).kind == "platform")
        or bool(quoted and quoted.has_video),
        record=body,
        record_name="platform.post.json",
        quoted=quoted,
        read_from="Bluesky's public API",
        # the HLS playlist names the video's blob; `with_originals` makes it the blob
        video_files=[playlist] if playlist else [],
    )


def did_document_url(did: str, plc_url: str) -> str | None:
    """Where an account's DID document is: the PLC directory, or the did:web host."""
    if did.startswith("did:plc:"):
        return f"{plc_url.rstrip('/')}/{did}"
    if did.startswith("did:web:") and ":" not in did[len("did:web:") :]:
        return f"https://{did[len('did:web:') :]}/.well-known/did.json"
    return None


def with_originals(post: PlatformPost, plc_url: str, get: Callable[[str], bytes]) -> PlatformPost:
    """The post with each photo's CDN copy replaced by the blob as uploaded, from the
    author's data server; a photo whose server cannot be found keeps its CDN copy, and
    one whose server does not answer is taken from the CDN (``copies``): a self-hosted
    server may be shut down while the CDN still serves the photo. A video's blob is
    where to fetch it when yt-dlp cannot (its playlist is no file)."""
    servers: dict[str, str | None] = {}

    def blob(pattern: re.Pattern[str], url: str) -> str | None:
        found = pattern.search(urlsplit(url).path)
        if found is None:
            return None
        did, cid = unquote(found[1]), found[2]
        if did not in servers:
            servers[did] = _data_server(did, plc_url, get)
        server = servers[did]
        if server is None:
            return None
        query = urlencode({"did": did, "cid": cid})
        return f"{server.rstrip('/')}/xrpc/com.atproto.sync.getBlob?{query}"

    def rewrite(shown: PlatformPost) -> PlatformPost:
        originals = {photo: blob(_CDN_IMAGE, photo) or photo for photo in shown.photos}
        cdn = {original: photo for photo, original in originals.items() if original != photo}
        return replace(
            shown,
            photos=list(originals.values()),
            video_files=[url for v in shown.video_files if (url := blob(_PLAYLIST, v))],
            copies={**shown.copies, **cdn},
        )

    return replace(rewrite(post), quoted=rewrite(post.quoted) if post.quoted else None)


def _data_server(did: str, plc_url: str, get: Callable[[str], bytes]) -> str | None:
    """The ``AtprotoPersonalDataServer`` endpoint of the DID document, or None."""
    where = did_document_url(did, plc_url)
    if where is None:
        return None
    try:
        document = json_or_none(get(where))
    except FetchError:
        return None
    for service in json_list(json_at(document, "service")):
        endpoint = json_text(json_at(service, "serviceEndpoint"))
        is_pds = json_at(service, "type") == "AtprotoPersonalDataServer"
        if is_pds and endpoint and is_http_url(endpoint):
            return endpoint
    return None
