"""Platform oEmbed endpoints: the cheapest way to hear a platform say "removed" or "private".

One small JSON request per post, no page scraping and no subprocess. Each platform
answers in its own way, so each has its own table of what a status code means:

- YouTube: 200 live; 404 "Not Found" and 400 "Bad Request" gone (deleted, removed,
  terminated account, or no such video); 401 "Unauthorized" restricted: the video is
  private *or* its uploader disabled embedding (YouTube does not say which; yt-dlp
  is asked when configured); 403 "Forbidden" restricted (private).
- Vimeo: 200 live (a 200 with ``domain_status_code: 403`` is a video whose embedding
  is limited to the owner's chosen domains: still live); 404 gone, but Vimeo also
  answers 404 for unlisted links without their hash and some privacy settings, so
  yt-dlp confirms when configured; 403 restricted (private or domain-restricted).
- X/Twitter: 200 live; 404 gone (post deleted or account suspended); 403 restricted
  (protected account).
- TikTok: 200 live; 400/404 gone (TikTok answers ``{"code":400,"message":"Something
  went wrong",...}`` for removed posts, and for malformed URLs too, so yt-dlp
  confirms when configured; it also gives that answer now and then for a post that
  is there, so a "gone" is asked once more, a second later); 403 restricted.
- Dailymotion: 200 live; 404 gone; 401/403 restricted (private or password).

Everywhere: 429 is an error with its Retry-After, and so is anything unexpected
(5xx, a 200 that is not JSON, a network failure), or a wall answering for the
endpoint (a Cloudflare challenge, a captcha: see `walls`) whatever its status; those
leave the decision to yt-dlp when it is configured. Every "gone" is also put to
yt-dlp when it is configured: it tells *why* (removed by the uploader, terminated
account, terms of service) and it catches the posts an oEmbed 404 hides but that
still play.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import Any

import httpx

from archiver.errors import BlockedAddressError
from archiver.fetch.http import BAD_URL_ERRORS
from archiver.jsontext import json_or_none
from archiver.liveness.deadline import bounded
from archiver.liveness.result import CheckResult, Status, error_result, status_result
from archiver.liveness.walls import challenged, is_wall, wall_result

DEFAULT_ENDPOINTS: dict[str, str] = {
    "youtube": "https://www.youtube.com/oembed",
    "vimeo": "https://vimeo.com/api/oembed.json",
    "twitter": "https://publish.twitter.com/oembed",
    "tiktok": "https://www.tiktok.com/oembed",
    "dailymotion": "https://www.dailymotion.com/services/oembed",
}
LABELS = {
    "youtube": "YouTube",
    "vimeo": "Vimeo",
    "twitter": "X",
    "tiktok": "TikTok",
    "dailymotion": "Dailymotion",
}
# TikTok's endpoint has been seen answering 400 "Something went wrong" for a post that
# is there, and the post's own answer the next time: one such answer is no removal
ASK_GONE_AGAIN = frozenset({"tiktok"})
ASK_AGAIN_AFTER = 1.0  # seconds
_BARE_WORDS = {"forbidden": 403, "unauthorized": 401, "not found": 404}
_OEMBED_KEYS = frozenset({"html", "title", "type", "author_name"})
MAX_BODY = 256 * 1024  # an oEmbed answer is a few KB
_DEADLINE = 30.0  # seconds to read it, however slowly it trickles


@dataclass(frozen=True)
class _Rule:
    status: Status
    meaning: str


_RULES: dict[str, dict[int, _Rule]] = {
    "youtube": {
        400: _Rule("gone", "no such video"),
        401: _Rule("restricted", "private or embedding disabled"),
        403: _Rule("restricted", "private"),
        404: _Rule("gone", "removed, deleted or never existed"),
    },
    "vimeo": {
        401: _Rule("restricted", "private"),
        403: _Rule("restricted", "private or embedding restricted"),
        404: _Rule("gone", "deleted or hidden"),
    },
    "twitter": {
        403: _Rule("restricted", "protected account"),
        404: _Rule("gone", "post deleted or account suspended"),
    },
    "tiktok": {
        400: _Rule("gone", "removed or no such post"),
        403: _Rule("restricted", "private"),
        404: _Rule("gone", "removed or no such post"),
    },
    "dailymotion": {
        401: _Rule("restricted", "private or password-protected"),
        403: _Rule("restricted", "private or password-protected"),
        404: _Rule("gone", "deleted or never existed"),
        410: _Rule("gone", "deleted"),
    },
}


@dataclass(frozen=True)
class Verdict:
    """What an oEmbed endpoint said, and how far to trust it.

    ``conclusive`` is False when the endpoint did not really answer (5xx, network,
    garbage): yt-dlp should decide. ``confirm`` asks yt-dlp for a second opinion on
    an answer that is ambiguous on this platform. ``if_still_plays`` replaces the
    result when yt-dlp finds the media after all (YouTube's 401: embedding disabled).
    """

    result: CheckResult
    conclusive: bool
    confirm: bool = False
    if_still_plays: CheckResult | None = None


def endpoints(overrides: Mapping[str, str] | None) -> dict[str, str]:
    """The default endpoints with ``overrides`` applied; an empty string disables one."""
    merged = {**DEFAULT_ENDPOINTS, **(overrides or {})}
    return {platform: url for platform, url in merged.items() if url}


def query_oembed(client: httpx.Client, platform: str, endpoint: str, post_url: str) -> Verdict:
    """Ask ``endpoint`` about ``post_url`` and interpret the answer for ``platform``.

    A "gone" from a platform whose endpoint is known to say so now and then of posts
    that are there (`ASK_GONE_AGAIN`) is asked once more, after a pause: the second
    answer stands.
    """
    verdict = _ask(client, platform, endpoint, post_url)
    if verdict.result.status == "gone" and platform in ASK_GONE_AGAIN:
        time.sleep(ASK_AGAIN_AFTER)
        verdict = _ask(client, platform, endpoint, post_url)
    return verdict


def _ask(client: httpx.Client, platform: str, endpoint: str, post_url: str) -> Verdict:
    probe = f"oembed:{platform}"
    label = f"{LABELS.get(platform, platform)} oEmbed"
    params = {"url": post_url, "format": "json"}
    try:
        with (
            bounded(client, endpoint),
            client.stream(
                "GET",
                endpoint,
                params=params,
                headers={"Accept": "application/json"},
                follow_redirects=True,
            ) as response,
        ):
            body = _read(response)
            status, headers = response.status_code, response.headers
    except (httpx.HTTPError, BlockedAddressError, *BAD_URL_ERRORS) as exc:
        # the endpoint's host did not answer (when ``unreachable``), not the post's
        result = replace(error_result(exc, probe), asked=endpoint)
        return Verdict(_prefixed(result, label), conclusive=False)
    verdict = interpret(platform, status, headers, body)
    # the endpoint's host answered, not the post's: a Retry-After pauses the endpoint's
    return replace(verdict, result=replace(verdict.result, asked=endpoint))


def interpret(platform: str, status: int, headers: Mapping[str, str], body: bytes) -> Verdict:
    """Classify one oEmbed answer (status, headers, body) from ``platform``.

    A wall (a Cloudflare challenge, a captcha) answering for the endpoint, with a 403
    most often, says nothing of the post, whatever the platform's table reads in its
    status: it is an error, and the next probe (yt-dlp, when configured) decides.
    """
    verdict = _by_status(platform, status, headers, body)
    if verdict.result.status in ("gone", "restricted") and (
        challenged(headers) or is_wall(body, None)
    ):
        label = f"{LABELS.get(platform, platform)} oEmbed"
        result = _prefixed(wall_result(status, verdict.result.probe), label)
        return Verdict(result, conclusive=False)
    return verdict


def _by_status(platform: str, status: int, headers: Mapping[str, str], body: bytes) -> Verdict:
    """What the answer means by its status (or the code its body wraps) alone."""
    probe = f"oembed:{platform}"
    label = f"{LABELS.get(platform, platform)} oEmbed"
    document = json_or_none(body)
    detail = _detail(document, body).removeprefix(str(status)).strip()  # "404 Not Found"
    meaning = status  # the status code the answer really stands for
    if status == 200:
        embedded = document.get("code") if isinstance(document, dict) else None
        if isinstance(embedded, int) and embedded >= 400 and "html" not in document:
            meaning = embedded  # TikTok has wrapped its error in a 200
        elif isinstance(document, dict) and _OEMBED_KEYS.intersection(document):
            return Verdict(_live(platform, document, label, probe), conclusive=True)
        else:  # YouTube has answered a bare "Forbidden" with a 200 for private videos
            meaning = _BARE_WORDS.get(detail.lower(), 0)
        if not meaning:
            result = CheckResult("error", f"{label}: 200 without oEmbed JSON", 200, None, probe)
            return Verdict(result, conclusive=False)
    rule = _RULES.get(platform, {}).get(meaning)
    if rule is None:
        result = _with_detail(status_result(meaning, headers, probe, label=label), detail)
        if result.status in ("gone", "restricted"):  # a generic 404/410/401/403
            return Verdict(result, conclusive=True, confirm=result.status == "gone")
        # 429: back off, do not hammer the platform with yt-dlp too; 5xx and the
        # unexpected: let yt-dlp decide.
        return Verdict(result, conclusive=meaning == 429)
    shown = detail if detail.lower() != _phrase(status) else ""
    words = " ".join(filter(None, (str(status), shown)))
    result = CheckResult(rule.status, f"{label}: {words} ({rule.meaning})", status, None, probe)
    if platform == "youtube" and meaning == 401:
        still_plays = CheckResult(
            "restricted",
            f"{label}: {status} (embedding disabled by the uploader; the video still plays"
            " on YouTube)",
            status,
            None,
            probe,
        )
        return Verdict(result, conclusive=True, confirm=True, if_still_plays=still_plays)
    return Verdict(result, conclusive=True, confirm=rule.status == "gone")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower()
    except ValueError:
        return ""


def _live(platform: str, document: dict[str, Any], label: str, probe: str) -> CheckResult:
    note = ""
    if platform == "vimeo" and document.get("domain_status_code") == 403:
        note = " (embedding limited to the owner's chosen domains)"
    return CheckResult("live", f"{label}: 200{note}", 200, None, probe)


def _read(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    deadline = time.monotonic() + _DEADLINE
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_BODY or time.monotonic() > deadline:
            break
    return b"".join(chunks)[:MAX_BODY]


def _detail(document: Any, body: bytes) -> str:
    """The platform's own short words: YouTube's "Not Found", TikTok's status_msg, ..."""
    text: object = None
    if isinstance(document, dict):
        error = document.get("error")
        errors = document.get("errors")
        if isinstance(error, dict):
            text = error.get("message")
        elif isinstance(error, str):
            text = error
        elif isinstance(errors, list) and errors and isinstance(errors[0], dict):
            text = errors[0].get("message")
        text = text or document.get("status_msg") or document.get("message")
    elif document is None:
        decoded = body[:200].decode("utf-8", "replace").strip()
        if decoded and "<" not in decoded:
            text = decoded.splitlines()[0]
    return " ".join(str(text).split())[:120] if isinstance(text, str) else ""


def _with_detail(result: CheckResult, detail: str) -> CheckResult:
    if not detail or detail.lower() == _phrase(result.http_status or 0):
        return result
    return CheckResult(
        result.status, f"{result.reason}: {detail}", result.http_status, result.retry_after,
        result.probe,
    )  # fmt: skip


def _prefixed(result: CheckResult, label: str) -> CheckResult:
    return replace(result, reason=f"{label}: {result.reason}")
