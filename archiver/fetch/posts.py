"""A platform post's photos, which yt-dlp leaves out, with what the platform says of the post.

yt-dlp archives videos: a photo post on X, Telegram or Bluesky ends in "No video
could be found", an Instagram one in "There is no video in this post", a Reddit photo
post or gallery in "Unsupported URL", a TikTok one in its sound alone, an Imgur one in
"is not a video or animated image", and the photos beside a post's video are skipped;
yt-dlp has no Mastodon or Threads extractor at all. Live blogs embed photo posts as
often as video ones, so for these platforms archiver reads the post from what the
platform's own embed widget reads (`archiver.fetch.xposts`, `archiver.fetch.telegram`,
`archiver.fetch.instagram`), from the post's page (`archiver.fetch.tiktok`,
`archiver.fetch.threads`) or from its public API (`archiver.fetch.reddit`,
`archiver.fetch.bluesky`, `archiver.fetch.mastodon`, `archiver.fetch.imgur`): a
`PlatformPost`, whose photos and files are downloaded and whose videos still go to
yt-dlp.
`archiver.fetch.post_readers` says which is read where.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archiver.errors import FetchError
from archiver.extract import ExtractError
from archiver.extract.document import Element, parse_document


def answer_document(body: bytes, what: str) -> Element:
    """A platform's answer that is a page (an embed widget's, a post's) as a document;
    FetchError (``"{what} is not a page (…)"``) when it is none."""
    try:
        return parse_document(body)
    except ExtractError as exc:
        raise FetchError(f"{what} is not a page ({exc})") from None


@dataclass(frozen=True)
class PlatformPost:
    """What a platform's widget says about one post."""

    platform: str  # the extractor name kept with each photo: "X", "Telegram"
    id: str
    url: str  # the post's own page
    text: str | None
    author: str | None  # display name
    handle: str | None  # account name, without @
    posted_at: str | None  # as the platform gives it (ISO 8601)
    photos: list[str]  # the largest the widget offers, in post order
    has_video: bool  # a video or GIF, for yt-dlp
    record: bytes  # the widget's answer, kept beside each photo
    record_name: str  # its file name there: platform.post.json, platform.post.html
    quoted: PlatformPost | None = None  # a post it quotes, shown in its embed
    read_from: str | None = None  # what the facts came from, when not the embed widget
    where: str | None = None  # the community it was posted in: r/syriancivilwar
    # why readers no longer see it, though the platform still lists its media
    # ("Reddit: the post was removed (moderator)"): archived all the same
    removed: str | None = None
    # video and audio files the platform serves as they are, fetched like the photos
    # (Mastodon's: yt-dlp has no extractor for it)
    files: list[str] = field(default_factory=list)
    # the videos yt-dlp takes, as files the platform serves (X's best MP4): fetched
    # when yt-dlp cannot take them, so a broken extractor does not cost the video
    video_files: list[str] = field(default_factory=list)
    # why part of the post cannot be taken yet ("still being processed"): what is there
    # is archived, and the item is tried again later for the rest
    incomplete: str | None = None
    # another copy of a photo or file, fetched when the one named fails (a Mastodon
    # instance's copy of media posted on another, which may have shut down)
    copies: dict[str, str] = field(default_factory=dict)

    def shown(self) -> list[PlatformPost]:
        """This post and the one it quotes: each photo is kept with its own post's facts."""
        return [self] if self.quoted is None else [self, self.quoted]
