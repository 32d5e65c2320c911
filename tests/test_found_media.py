"""Media that was on the page and went unfound: a script embed opening a fragment, posts
on the video hosts footage is moved to, photos a live blog names only in its JSON-LD."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from support import FixtureServer
from support.archiving import make_config

from archiver.archive import Archive
from archiver.capture import Capturer
from archiver.extract import FoundEmbed, extract_embeds
from archiver.fetch.http import HttpFetcher
from archiver.index.models import Embed
from archiver.sources.poll import Poller
from archiver.sources.registry import add_source

BASE = "https://news.example/live/2024/03/12/ukraine"
TELEGRAM_WIDGET = (
    '<script async src="https://telegram.org/js/telegram-widget.js?22"'
    ' data-telegram-post="insiderUKR/555" data-width="100%"></script>'
)


def found(html: str) -> list[FoundEmbed]:
    return extract_embeds(html, BASE).embeds


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (TELEGRAM_WIDGET, ("https://t.me/insiderUKR/555", "telegram-widget")),
        (
            '<script src="https://cdn.jwplayer.com/players/AbCd1234-XyZ98765.js"></script>',
            ("https://cdn.jwplayer.com/v2/media/AbCd1234", "jwplayer-script"),
        ),
        (
            '<script src="https://geo.dailymotion.com/player/x1abc.js" data-video="x8q2w3e">'
            "</script>",
            ("https://www.dailymotion.com/video/x8q2w3e", "dailymotion-script"),
        ),
    ],
)
def test_a_script_embed_opening_a_fragment_is_found(script: str, expected: tuple[str, str]) -> None:
    """libxml2 puts a script at the start of markup without ``<body>`` (a feed entry, a
    frame's ``srcdoc``) into an implied ``<head>``, where content was not looked for."""
    (embed,) = found(f"{script}<p>The channel posted the footage above.</p>")
    assert (embed.url, embed.found_in) == expected
    (inline,) = found(f"<p>Footage:</p><iframe srcdoc='{script}'></iframe>")
    assert inline.url == expected[0]


def test_text_after_a_leading_script_keeps_its_place() -> None:
    """The script moves into the body before the text the body opened with: that text
    follows the post, and is not the context it was posted in."""
    html = f"{TELEGRAM_WIDGET}Shelling in Kharkiv: <img src='/media/kharkiv.jpg'>"
    telegram, photo = found(html)
    assert (telegram.url, telegram.context) == ("https://t.me/insiderUKR/555", None)
    assert (photo.url, photo.context) == (
        "https://news.example/media/kharkiv.jpg",
        "Shelling in Kharkiv:",
    )


def test_a_feed_entry_opening_with_a_telegram_widget_has_its_post_recorded(
    tmp_path: Path, server: FixtureServer
) -> None:
    entry = (
        "<item><title>Telegram</title><link>/2024/03/12/tg</link><guid>tg</guid>"
        "<content:encoded xmlns:content='http://purl.org/rss/1.0/modules/content/'><![CDATA["
        f"{TELEGRAM_WIDGET}<p>The channel posted the footage above.</p>]]></content:encoded>"
        "</item>"
    )
    feed = f"<rss version='2.0'><channel><title>t</title>{entry}</channel></rss>"
    server.add_bytes("/live.rss", feed.encode(), "application/rss+xml")
    config = make_config(tmp_path / "storage")
    with Archive.open(config) as archive:
        with archive.session() as session:
            source = add_source(session, server.url("/live.rss"), every=60).id
        http = HttpFetcher(config.network, 2)
        try:
            Poller(Capturer(archive), config.polling, http).poll(source)
        finally:
            http.close()
        with archive.read_session() as session:
            recorded = session.execute(select(Embed.url, Embed.found_in)).all()
    assert [tuple(row) for row in recorded] == [("https://t.me/insiderUKR/555", "telegram-widget")]


POSTS = {
    "rutube": "https://rutube.ru/video/3eac3b4561676c17df9132a9a1e62e3e/",
    "dzen": "https://dzen.ru/video/watch/6002240ff8b1af50bb2da5e3",
    "streamable": "https://streamable.com/2ajlx2",
    "vk": "https://vk.com/wall-22822305_1234",
    "rumble": "https://rumble.com/v4g3h5k-drone-strike-on-the-port.html",
    "odysee": "https://odysee.com/@RT:fd/strike-on-the-port:d",
    "bitchute": "https://www.bitchute.com/video/UGlrF9o9b-Q/",
    "truthsocial": "https://truthsocial.com/@realDonaldTrump/posts/108779000807761862",
}


@pytest.mark.parametrize(("platform", "url"), POSTS.items())
def test_a_link_to_a_post_on_a_video_host_is_an_embed(platform: str, url: str) -> None:
    """Links to these hosts' videos were ordinary links (a VK wall post: a platform page
    that is no post), so the footage they lead to was never archived."""
    (embed,) = found(f"<article><p>The army posted <a href='{url}'>a video</a>.</p></article>")
    assert (embed.kind, embed.url, embed.platform, embed.found_in) == (
        "platform",
        url,
        platform,
        "a-platform",
    )


@pytest.mark.parametrize(
    ("player", "url"),
    [
        ("https://rutube.ru/play/embed/3eac3b4561676c17df9132a9a1e62e3e", POSTS["rutube"]),
        ("https://streamable.com/e/2ajlx2", POSTS["streamable"]),
        ("https://www.bitchute.com/embed/UGlrF9o9b-Q/", POSTS["bitchute"]),
        ("https://odysee.com/$/embed/@RT:fd/strike-on-the-port:d", POSTS["odysee"]),
        ("https://rumble.com/embed/v4abcd1/?pub=4", "https://rumble.com/embed/v4abcd1/"),
    ],
)
def test_a_video_hosts_player_is_recorded_as_its_video(player: str, url: str) -> None:
    (embed,) = found(f"<article><p>Footage:</p><iframe src='{player}'></iframe></article>")
    assert (embed.kind, embed.url, embed.original_url, embed.found_in) == (
        "platform",
        url,
        player,
        "iframe",
    )


def live_blog(updates: list[dict[str, object]]) -> str:
    """A live page that draws its updates by script from its JSON-LD alone."""
    posting = {
        "@context": "https://schema.org",
        "@type": "LiveBlogPosting",
        "headline": "Russia-Ukraine war live",
        "image": "https://cdn.news.example/share.jpg",
        "publisher": {
            "@type": "Organization",
            "name": "News",
            "logo": "https://cdn.news.example/logo.png",
        },
        "liveBlogUpdate": updates,
    }
    return (
        f"<html><head><script type='application/ld+json'>{json.dumps(posting)}</script>"
        "</head><body><main><h1>Russia-Ukraine war live</h1><div id='updates'></div></main>"
        "</body></html>"
    )


def test_photos_an_update_names_by_url_alone_are_found() -> None:
    """schema.org lets ``image`` be a URL or a list of them, and ``associatedMedia`` a
    ``MediaObject`` that its ``encodingFormat`` types: only ``ImageObject`` and
    ``VideoObject`` were read. The page's own share image and its publisher's logo are
    not an update's, and stay out."""
    html = live_blog(
        [
            {
                "@type": "BlogPosting",
                "headline": "Drone strike on Odesa",
                "datePublished": "2024-03-12T14:32:00Z",
                "articleBody": "The governor posted photos of the damage.",
                "image": "https://cdn.news.example/odesa-strike.jpg",
            },
            {
                "@type": "BlogPosting",
                "headline": "Kharkiv",
                "image": [
                    "https://cdn.news.example/kharkiv-1.jpg",
                    "https://cdn.news.example/kharkiv-2.jpg",
                ],
            },
            {
                "@type": "BlogPosting",
                "datePublished": "2024-03-12T12:05:00+02:00",
                "associatedMedia": {
                    "@type": "MediaObject",
                    "contentUrl": "https://cdn.news.example/clip.mp4",
                    "encodingFormat": "video/mp4",
                },
            },
            {
                "@type": "BlogPosting",
                "headline": "Read also",
                "sharedContent": {"@type": "WebPage", "image": "https://cdn.news.example/x.jpg"},
            },
        ]
    )
    got = [
        (e.url.rsplit("/", 1)[1], e.kind, e.media_type, e.update, e.context) for e in found(html)
    ]
    assert got == [
        (
            "odesa-strike.jpg",
            "file",
            "image",
            "Drone strike on Odesa",
            "The governor posted photos of the damage.",
        ),
        ("kharkiv-1.jpg", "file", "image", "Kharkiv", None),
        ("kharkiv-2.jpg", "file", "image", "Kharkiv", None),
        # no headline: the update is known by its time, as a <time datetime> shows it
        ("clip.mp4", "file", "video", "2024-03-12 12:05 +02:00", None),
    ]


def posts_page(posts: str) -> str:
    """A live blog whose updates are ``<article>`` blocks, each titled in its header."""
    return (
        "<html><head><title>Live</title></head><body><nav><a href='/'>Home</a></nav><main>"
        f"<h1>Russia-Ukraine war live</h1><div class='live-feed'>{posts}</div></main></body></html>"
    )


def test_a_subheading_in_an_update_is_its_text_not_a_new_update() -> None:
    """ "Watch:" over the video became the update's label, and the sentence before it,
    which says what the video shows, was dropped; a heading opening with a label of
    its own still starts an update."""
    html = posts_page(
        '<article><header><time datetime="2024-03-12T14:32:00Z">14:32 GMT</time>'
        "<h2>Strike on Kharkiv</h2></header><p>Officials said the drone hit.</p>"
        '<h3>Watch:</h3><iframe src="https://www.youtube.com/embed/AAAAAAAAAA1"></iframe>'
        "<h3>UPDATE 14:50 GMT</h3><p>Rescuers reached the building.</p>"
        '<iframe src="https://www.youtube.com/embed/AAAAAAAAAA2"></iframe></article>'
        '<article><header><time datetime="2024-03-12T15:32:00Z">15:32 GMT</time>'
        "<h2>Zelensky speaks</h2></header><p>He spoke.</p>"
        '<iframe src="https://www.youtube.com/embed/AAAAAAAAAA3"></iframe></article>'
    )
    assert [(e.url[-1], e.update, e.context) for e in found(html)] == [
        ("1", "Strike on Kharkiv", "Officials said the drone hit. Watch:"),
        ("2", "UPDATE 14:50 GMT", "Rescuers reached the building."),
        ("3", "Zelensky speaks", "He spoke."),
    ]


SUBHEADINGS = [
    "2 ambulances hit in Kherson", "3 ammunition depots destroyed", "7 Americans among dead",
    "4 AMX-10 tanks arrive", "10 amendments to the law", "2 PMs resign", "300 Estonian volunteers",
    "1000 Ethiopian migrants", "250 CSTO troops", "300 local residents evacuated",
    "1000 local people fled", "300 hours of shelling", "1.45 billion in aid", "Latest pictures",
    "Flash floods", "Developing world reacts", "Breaking down the deal", "Updated figures",
    "Correction facility hit", "Dec. 7 anniversary", "May 9 parade", "Jan 6 rioters", "Watch:",
]  # fmt: skip
MOMENTS = [
    "14:50 Rescuers reach the block", "09:05 Explosions in Kyiv", "10:15 a.m. Zelensky arrives",
    "2.32pm: Rescuers reach the block", "14h50", "1800 GMT", "14:50 по Киеву", "March 11, 2024",
    "March 11: strikes overnight", "Day 745", "UPDATE 14:50", "UPDATE:", "Update: rescuers arrive",
    "BREAKING:", "Mise à jour 14h50", "آخر تحديث: 18:00", "عاجل", "ОНОВЛЕНО 18:00", "ТЕРМІНОВО",
    "2pm", "12 am", "18.00 BST", "0930 hrs", "March 11 2024 Strikes on Kyiv", "12.03.2024",
]  # fmt: skip


@pytest.mark.parametrize(
    ("heading", "starts_update"),
    [*((text, False) for text in SUBHEADINGS), *((text, True) for text in MOMENTS)],
)
def test_only_a_heading_opening_with_a_moment_starts_an_update(
    heading: str, starts_update: bool
) -> None:
    """Inside a titled post, a heading opening with a time, a date, a day's number or
    an update keyword starts an update; one opening with a number of things ("2
    ambulances", "300 Estonian"), a date in a phrase ("May 9 parade") or a keyword's
    word in a headline's case ("Latest pictures") is the post's text, not read as
    2 a.m., 3:00 EST, a date or a label."""
    html = posts_page(
        '<article><header><time datetime="2024-03-12T14:32:00Z">14:32 GMT</time>'
        "<h2>Strike on Kharkiv</h2></header><p>Officials said the drone hit.</p>"
        f'<h3>{heading}</h3><iframe src="https://www.youtube.com/embed/AAAAAAAAAA1"></iframe>'
        '</article><article><header><time datetime="2024-03-12T15:32:00Z">15:32 GMT</time>'
        "<h2>Zelensky speaks</h2></header><p>He spoke.</p></article>"
    )
    (embed,) = found(html)
    if starts_update:
        assert embed.update is not None
        assert heading.startswith(embed.update)
    else:
        assert embed.update == "Strike on Kharkiv"


BANNER = '<p><a href="{}" target="_blank"><img src="{}" width="728" height="90"></a></p>'


@pytest.mark.parametrize(
    ("link", "picture"),
    [
        ("https://t.me/kyivnews_channel", "/wp-content/uploads/2023/01/telegram-banner.png"),
        ("https://news.google.com/publications/CAAqBwgKMKXLvgsw?hl=uk", "/img/google-news.png"),
        ("https://www.youtube.com/@kyivnews?sub_confirmation=1", "/img/subscribe-yt.jpg"),
        ("https://www.youtube.com/channel/UCabcdefghijklmnopqrstuv", "/img/yt-channel.jpg"),
        ("https://www.youtube.com/c/kyivnews", "/img/yt-c.jpg"),
    ],
)
def test_a_banner_asking_readers_to_follow_is_not_evidence(link: str, picture: str) -> None:
    """A picture linking to a channel, profile or publication page is the site's appeal
    for followers, like its donation banners."""
    html = f"<p>Rescuers searched the rubble in Kharkiv.</p>{BANNER.format(link, picture)}"
    assert found(html) == []


@pytest.mark.parametrize("size", ['width="1200" height="800"', ""])
def test_a_photo_linking_to_its_photographers_profile_is_still_evidence(size: str) -> None:
    """A photograph credited by a link to its author's profile is no follow banner:
    neither a strip nor a button, and nothing in its name or alt text says one."""
    photo = "https://cdn.kyivnews.example/2024/03/kharkiv-rubble.jpg"
    html = (
        "<p>Rescuers searched the rubble in Kharkiv.</p>"
        f'<p><a href="https://www.instagram.com/photographer_ua/"><img src="{photo}" {size}'
        ' alt="Rescuers on the rubble"></a></p>'
    )
    assert [e.url for e in found(html)] == [photo]


@pytest.mark.parametrize(
    ("link", "post"),
    [
        ("https://t.me/kyivnews_channel/4521", "https://t.me/kyivnews_channel/4521"),
        ("https://x.com/DefenceU/status/1760000000000000000", "https://twitter.com/DefenceU/status/1760000000000000000"),
    ],
)  # fmt: skip
def test_a_photo_linking_to_a_post_is_still_evidence(link: str, post: str) -> None:
    html = "<p>The channel posted this photo of the damaged block.</p>" + BANNER.format(
        link, "https://cdn.kyivnews.example/2024/03/kharkiv.jpg"
    )
    assert [e.url for e in found(html)] == [
        post,
        "https://cdn.kyivnews.example/2024/03/kharkiv.jpg",
    ]


def test_photos_linked_to_channels_that_credit_them_are_not_banners() -> None:
    """A credit naming the channel ("Photo: Air Force / Telegram"), "joint" and
    "spectators" in a file name, a panorama three times as wide as high: each photo
    was dropped as a follow banner."""
    photos = [
        ("https://t.me/kpszsu", "strike.jpg", 'width="1280" height="720" alt="Photo: Telegram"'),
        ("https://t.me/kpszsu", "joint-rescue.jpg", 'width="1200" height="800"'),
        ("https://t.me/synegubov", "pano.jpg", 'width="2400" height="700"'),
        ("https://x.com/dsns", "spectators.jpg", 'width="1200" height="800" alt="An icon"'),
    ]
    html = "".join(
        f'<p>Rescuers at work, {n}.</p><a href="{link}"><img src="/p/{name}" {size}></a>'
        for n, (link, name, size) in enumerate(photos)
    )
    assert [e.url.rsplit("/", 1)[1] for e in found(html)] == [name for _, name, _ in photos]


def test_a_youtube_facade_over_the_sites_own_still_is_the_video_too() -> None:
    """The still inside a facade counted as its video: one the site keeps itself
    (not YouTube's thumbnail) was archived, and the video never."""
    html = (
        "<article><p>Rescuers searched the rubble through the night.</p><div "
        'class="perfmatters-lazy-youtube" data-id="dQw4w9WgXcQ"><div><img '
        'src="/wp-content/uploads/2024/03/still.jpg" width="1280" height="720"></div></div>'
        "</article>"
    )
    assert "https://www.youtube.com/watch?v=dQw4w9WgXcQ" in [e.url for e in found(html)]
