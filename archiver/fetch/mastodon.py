"""Mastodon posts (statuses), from the instance's own API (see `posts`).

Any server can run Mastodon, so a status is known by its embed rather than its host:
``HOST/@USER/ID/embed`` (the frame, and the ``data-embed-url`` of the
``mastodon-embed`` blockquote). ``HOST/api/v1/statuses/ID`` answers without an
account on most instances (some require one: 401) with the status as JSON: its
``content`` (HTML), ``account`` (``acct``, ``display_name``), ``created_at``, ``url``
and ``media_attachments``, each an ``image``, ``video``, ``gifv`` (an MP4) or
``audio`` at ``url`` on that instance, or at ``remote_url`` on the instance it was
posted to (fetched from there, the original; from ``url``, the instance's copy, when
that fails: small instances shut down). An attachment posted elsewhere that the
instance never downloaded (too large, its origin down at the time) is ``unknown``,
with the file still at ``remote_url``: it is taken, and what it is said by its bytes.
A boost holds the boosted status in ``reblog``. A deleted status answers 404. yt-dlp
has no Mastodon extractor: the files are fetched directly.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from archiver.config import is_http_url
from archiver.errors import FetchError
from archiver.extract.document import fragment_elements, text_of
from archiver.extract.urls import mastodon_status
from archiver.fetch.posts import PlatformPost
from archiver.jsontext import json_at, json_list, json_or_none, json_text

MAX_ATTACHMENTS = 20  # Mastodon allows 4; forks allow more


def api_url(url: str) -> tuple[str, str] | None:
    """The instance's API address of the status at ``url``, and the status's id."""
    found = mastodon_status(url)
    if found is None:
        return None
    parts = urlsplit(found)
    status_id = parts.path.rsplit("/", 1)[-1]
    return urlunsplit(
        (parts.scheme, parts.netloc, f"/api/v1/statuses/{status_id}", "", "")
    ), status_id


def parse_status(body: bytes, status_id: str) -> PlatformPost:
    """Read the API's answer; FetchError for anything that is not the status."""
    data = json_or_none(body)
    if not isinstance(data, dict) or str(data.get("id") or "") != status_id:
        raise FetchError(f"Mastodon: the API did not answer with status {status_id}")
    boosted = data.get("reblog")
    quoted = _post(boosted, body) if isinstance(boosted, dict) else None
    return _post(data, body, quoted)


def _post(data: dict[str, Any], body: bytes, quoted: PlatformPost | None = None) -> PlatformPost:
    attachments = [a for a in json_list(data.get("media_attachments")) if isinstance(a, dict)]
    photos, files, copies = [], [], {}
    for attachment in attachments[:MAX_ATTACHMENTS]:
        here = json_text(attachment.get("url"))
        remote = json_text(attachment.get("remote_url"))
        url = remote or here
        if url and is_http_url(url):
            kind = attachment.get("type")
            if kind == "image":
                photos.append(url)
            elif kind in ("video", "gifv", "audio") or (kind == "unknown" and remote):
                files.append(url)  # an "unknown" one is told by its bytes (`identify`)
            if here and here != url and is_http_url(here):
                copies[url] = here  # this instance's copy, should the original's fail
    words = "\n".join(
        text
        for node in fragment_elements(json_text(data.get("content")) or "")
        if (text := text_of(node))
    )
    warning = json_text(data.get("spoiler_text"))
    return PlatformPost(
        platform="Mastodon",
        id=str(data.get("id") or ""),
        url=json_text(data.get("url")) or json_text(data.get("uri")) or "",
        text="\n\n".join(part for part in (warning, words) if part) or None,
        author=json_text(json_at(data, "account", "display_name")),
        handle=json_text(json_at(data, "account", "acct")),
        posted_at=json_text(data.get("created_at")),
        photos=list(dict.fromkeys(photos)),
        has_video=False,  # its files are fetched directly: yt-dlp has no Mastodon extractor
        record=body,
        record_name="platform.post.json",
        quoted=quoted,
        read_from="the Mastodon instance's API",
        files=list(dict.fromkeys(files)),
        copies=copies,
    )
