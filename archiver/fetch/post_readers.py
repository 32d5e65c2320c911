"""Where each platform's post is read, and how: one place for capture and liveness.

X's syndication endpoint, Telegram's and Instagram's embed widget pages, Reddit's
post JSON, TikTok's and Threads' post pages, Bluesky's and Imgur's public APIs and a
Mastodon instance's API answer without an account (see `archiver.fetch.posts`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from archiver.config import PostsConfig
from archiver.errors import FetchError
from archiver.fetch import (
    bluesky,
    imgur,
    instagram,
    mastodon,
    reddit,
    telegram,
    threads,
    tiktok,
    xposts,
)
from archiver.fetch.posts import PlatformPost


@dataclass(frozen=True)
class PostReader:
    """The address of a platform's answer about one post, and how to read it."""

    url: str
    parse: Callable[[bytes], PlatformPost]
    probe: str  # what a liveness check by it is called: "telegram-widget", "reddit-json"
    # for capture: the post with its photos as uploaded, where that takes more
    # requests (given a way to GET a small document's bytes)
    originals: Callable[[PlatformPost, Callable[[str], bytes]], PlatformPost] | None = None
    # whether the post's media can change under its address (a Telegram post can be
    # edited); an uneditable post's recent yt-dlp download is shared, not fetched again
    editable: bool = True
    # what the platform's refusal means, when its answer says more than its status
    refusal: Callable[[FetchError], FetchError | None] | None = None
    # the address to read when ``url`` answers 404: an Imgur gallery post is an album
    # or a single post, which only the second endpoint tells
    otherwise: str | None = None

    @property
    def addresses(self) -> tuple[str, ...]:
        """Where the post may be read, in order: each after the one before's 404."""
        return (self.url,) if self.otherwise is None else (self.url, self.otherwise)


def post_reader(platform: str | None, url: str, settings: PostsConfig) -> PostReader | None:
    """The reader of the post at ``url`` (an embed's canonical URL), or None when
    the platform has none or the URL is not one post (a private channel's, a share link)."""
    if platform == "twitter" and (x_id := xposts.post_id(url)):
        answer = xposts.syndication_url(settings.x_syndication_url, x_id)
        return PostReader(answer, lambda body: xposts.parse_post(body, x_id), "x-syndication")
    if platform == "telegram" and (path := telegram.post_path(url)):
        widget = telegram.widget_url(settings.telegram_url, *path)
        return PostReader(
            widget, lambda body: telegram.parse_widget(body, *path, widget), "telegram-widget"
        )
    if platform == "reddit" and (reddit_id := reddit.post_id(url)):
        answer = reddit.post_json_url(settings.reddit_url, reddit_id)
        return PostReader(
            answer,
            lambda body: reddit.parse_post(body, reddit_id),
            "reddit-json",
            refusal=reddit.refusal,
        )
    if platform == "instagram" and (code := instagram.post_code(url)):
        widget = instagram.embed_url(settings.instagram_url, code)
        return PostReader(
            widget, lambda body: instagram.parse_embed(body, code, widget), "instagram-widget"
        )
    if platform == "bluesky" and (account_post := bluesky.post_path(url)):
        actor, rkey = account_post
        return PostReader(
            bluesky.posts_url(settings.bluesky_url, actor, rkey),
            lambda body: bluesky.parse_posts(body, rkey),
            "bluesky-api",
            lambda post, get: bluesky.with_originals(post, settings.plc_url, get),
        )
    if platform == "threads" and (threads_post := threads.post_path(url)):
        account, shortcode = threads_post
        return PostReader(
            threads.page_url(settings.threads_url, account, shortcode),
            lambda body: threads.parse_page(body, shortcode),
            "threads-page",
        )
    if platform == "tiktok" and (tiktok_post := tiktok.post_path(url)):
        account, kind, tiktok_id = tiktok_post
        return PostReader(
            tiktok.page_url(settings.tiktok_url, account, kind, tiktok_id),
            lambda body: tiktok.parse_page(body, tiktok_id),
            "tiktok-page",
            editable=False,
        )
    if platform == "imgur" and (imgur_post := imgur.post_path(url)):
        endpoints, post_id = imgur_post
        first, *then = (
            imgur.api_url(settings.imgur_url, settings.imgur_client_id, endpoint, post_id)
            for endpoint in endpoints
        )
        return PostReader(
            first,
            lambda body: imgur.parse_post(body, post_id),
            "imgur-api",
            refusal=imgur.refusal,
            otherwise=then[0] if then else None,
        )
    if platform == "mastodon" and (status := mastodon.api_url(url)):
        api, status_id = status
        return PostReader(api, lambda body: mastodon.parse_status(body, status_id), "mastodon-api")
    return None
