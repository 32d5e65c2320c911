"""Is an embed still there? One check gives exactly one status.

- ``live``: the media is still served;
- ``gone``: the server or platform says it was removed (404/410, "video unavailable",
  a terminated account, a page whose player lost its media);
- ``restricted``: it exists but not for everyone (private, login, protected account,
  age or geo restriction, 401/403/451);
- ``error``: no answer this time (time-out, DNS, refused connection, TLS, 5xx, 429,
  or an address the SSRF guard refuses). Transient: never reported as ``gone``.

How each kind of embed is probed:

- ``file``: HEAD, then a ranged GET of the first KB when HEAD is not conclusive
  (see :mod:`archiver.liveness.http_probe`);
- ``platform``: a Telegram, Reddit, Instagram, Threads, Bluesky, Mastodon or Imgur post by
  what the platform's embed widget (or the post's page, or its API) reads; the
  platform's oEmbed endpoint when it has one (YouTube, Vimeo, X, TikTok,
  Dailymotion); yt-dlp in metadata-only mode otherwise
  (Facebook, channels and playlists) and as a second opinion (see
  :mod:`archiver.liveness.oembed` and :mod:`archiver.liveness.ytdlp_probe`);
- ``player``: GET of the iframe page; a 200 that no longer plays anything is gone;
- ``page``: GET of the article page; its status code decides.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlsplit

import httpx

from archiver.config import PostsConfig
from archiver.extract.urls import platform_of, platform_post
from archiver.fetch.limits import HostLimiter
from archiver.fetch.post_readers import post_reader
from archiver.fetch.ytdlp import Ytdlp
from archiver.liveness.http_probe import MAX_PAGE_BYTES, check_file, check_page, check_post
from archiver.liveness.oembed import Verdict, endpoints, query_oembed
from archiver.liveness.result import CheckResult, Status
from archiver.liveness.ytdlp_probe import ytdlp_check

__all__ = ["KINDS", "CheckResult", "Prober", "Status"]

KINDS = frozenset({"file", "platform", "player", "page"})
YTDLP_TIMEOUT = 60.0  # a metadata probe takes seconds; a minute means something is stuck

# Platforms whose posts are checked by what their embed widget reads: they have no
# oEmbed that tells, and yt-dlp sees videos only (a photo post looks deleted to it).
_READ_POSTS = frozenset(
    {"telegram", "reddit", "instagram", "threads", "bluesky", "mastodon", "imgur"}
)

# Post URLs each oEmbed endpoint understands (others go to yt-dlp: an oEmbed 404 for
# a channel or a playlist would be a false "gone").
_OEMBED_FITS: dict[str, re.Pattern[str]] = {
    "youtube": re.compile(r"/watch\?v="),
    "vimeo": re.compile(r"vimeo\.com/\d+"),
    "twitter": re.compile(r"/status/\d+"),
    "tiktok": re.compile(r"tiktok\.com/@[^/]+/(?:video|photo)/\d+"),
    "dailymotion": re.compile(r"/video/"),
}


class Prober:
    """Checks embeds with the cheapest probe that can tell; thread-safe.

    ``client`` is configured by the caller (SSRF-guarded transport, time-outs,
    User-Agent); probes follow redirects whatever its default. ``ytdlp`` (optional)
    answers for platforms without a useful oEmbed and confirms oEmbed's bad news.
    ``oembed_endpoints`` overrides the endpoint of a platform (an empty string turns
    one off). ``limiter`` keeps the per-host politeness of the fetchers.
    """

    def __init__(
        self,
        client: httpx.Client,
        ytdlp: Ytdlp | None,
        *,
        oembed_endpoints: dict[str, str] | None = None,
        ytdlp_timeout: float = YTDLP_TIMEOUT,
        limiter: HostLimiter | None = None,
        max_page_bytes: int = MAX_PAGE_BYTES,
        posts: PostsConfig | None = None,
    ) -> None:
        self.client = client
        self.ytdlp = ytdlp
        self.endpoints = endpoints(oembed_endpoints)
        self.ytdlp_timeout = ytdlp_timeout
        self.limiter = limiter
        self.max_page_bytes = max_page_bytes
        self.posts = posts or PostsConfig()  # where the platforms' post widgets are asked

    def check(self, url: str, *, kind: str, platform: str | None) -> CheckResult:
        """Probe ``url`` as an embed of ``kind``; never raises for network or platform failures.

        Raises ValueError for a ``kind`` outside file/platform/player/page.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown embed kind {kind!r}")
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            return CheckResult("error", "unsupported URL", None)
        if kind == "file":
            return check_file(self.client, url, self.limiter)
        if kind == "platform":
            return self._check_platform(url, platform)
        return check_page(
            self.client,
            url,
            player=kind == "player",
            max_bytes=self.max_page_bytes,
            limiter=self.limiter,
        )

    def _check_platform(self, url: str, platform: str | None) -> CheckResult:
        post = platform_post(url)
        name = platform or (post.platform if post is not None else platform_of(url))
        target = post.url if post is not None else url
        reader = post_reader(name, target, self.posts) if name in _READ_POSTS else None
        if reader is not None:
            found = check_post(self.client, reader, limiter=self.limiter)
            if found.status != "error" or self.ytdlp is None:
                return found
            # the widget could not tell (a login wall, a 5xx): yt-dlp may (a private
            # account, a video post)
            second = self._ask_ytdlp(target)
            if second.status != "error":
                return second
            return replace(found, reason=f"{found.reason}; {second.reason}"[:400])
        endpoint = self.endpoints.get(name or "")
        fits = _OEMBED_FITS.get(name or "")
        if endpoint and post is not None and (fits is None or fits.search(target)):
            with self._slot(endpoint):
                verdict = query_oembed(self.client, name or "", endpoint, target)
            if self.ytdlp is None or (verdict.conclusive and not verdict.confirm):
                return verdict.result
            return _combine(verdict, self._ask_ytdlp(target))
        if self.ytdlp is None:
            what = f"{name} URLs" if name else "this URL"
            return CheckResult("error", f"no probe for {what} without yt-dlp", None)
        return self._ask_ytdlp(target)

    def _ask_ytdlp(self, url: str) -> CheckResult:
        assert self.ytdlp is not None
        with self._slot(url):
            return ytdlp_check(self.ytdlp, url, self.ytdlp_timeout)

    @contextlib.contextmanager
    def _slot(self, url: str) -> Iterator[None]:
        if self.limiter is None:
            yield
        else:
            with self.limiter.slot(url):
                yield


def _combine(verdict: Verdict, second: CheckResult) -> CheckResult:
    """Merge oEmbed's answer with yt-dlp's second opinion.

    When oEmbed did not answer, yt-dlp decides unless it failed too. When oEmbed said
    gone (or YouTube's ambiguous 401), yt-dlp's answer wins unless it could not tell:
    it finds posts oEmbed hides, and says why media went away.
    """
    first = verdict.result
    if second.status == "error":
        if verdict.conclusive:
            return first
        return replace(first, reason=f"{first.reason}; {second.reason}"[:400])
    if second.status == "live" and verdict.if_still_plays is not None:
        return verdict.if_still_plays
    return second
