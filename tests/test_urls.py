"""URL canonicalisation: every spelling of one piece of media must map to one address."""

from __future__ import annotations

import pytest

from archiver.extract import (
    MediaType,
    NormalizedURL,
    extract_embeds,
    is_media_file_url,
    normalize_url,
)
from archiver.extract.collect import link_embed
from archiver.extract.urls import (
    file_url,
    is_furniture_url,
    is_tracker_url,
    resolve_url,
    signed_only,
)

YT = "https://www.youtube.com/watch?v=abc123XYZ_0"
TWEET = "https://twitter.com/RaqqaMC/status/383940123456789012"
FB_VIDEO = "https://www.facebook.com/110brigade/videos/1234567890123456/"

PLATFORM_CASES = [
    # YouTube: every player and share spelling -> watch?v=ID, share/tracking params dropped
    ("https://www.youtube.com/embed/abc123XYZ_0?feature=oembed", YT, "youtube", "video"),
    ("https://www.youtube-nocookie.com/embed/abc123XYZ_0?rel=0", YT, "youtube", "video"),
    ("//www.youtube.com/embed/abc123XYZ_0", YT, "youtube", "video"),
    ("https://www.youtube.com/watch?v=abc123XYZ_0&feature=youtu.be&si=Ab&utm_source=x", YT,
     "youtube", "video"),
    ("https://youtu.be/abc123XYZ_0?si=Xy12&t=42", YT, "youtube", "video"),
    ("https://m.youtube.com/shorts/abc123XYZ_0?feature=share", YT, "youtube", "video"),
    ("https://www.youtube.com/live/abc123XYZ_0?si=q", YT, "youtube", "video"),
    ("http://www.youtube.com/v/abc123XYZ_0?fs=1&hl=en_US", YT, "youtube", "video"),
    # "hashbang" links of 2010-2012, the path or query in the fragment
    ("http://www.youtube.com/watch#!v=abc123XYZ_0&feature=related", YT, "youtube", "video"),
    ("https://twitter.com/#!/RaqqaMC/status/383940123456789012", TWEET, "twitter", None),
    # Flash players of the same years
    ("http://vimeo.com/moogaloop.swf?clip_id=27246366&server=vimeo.com",
     "https://vimeo.com/27246366", "vimeo", "video"),
    ("https://www.facebook.com/v/10151234567890123",
     "https://www.facebook.com/watch/?v=10151234567890123", "facebook", "video"),
    # Facebook's video frame and page of 2010-2013
    ("http://www.facebook.com/video/embed?video_id=4325786853421",
     "https://www.facebook.com/watch/?v=4325786853421", "facebook", "video"),
    ("http://www.facebook.com/video/video.php?v=4325786853421&ref=mf",
     "https://www.facebook.com/watch/?v=4325786853421", "facebook", "video"),
    ("https://www.youtube.com/embed/videoseries?list=PLa1b2c3",
     "https://www.youtube.com/playlist?list=PLa1b2c3", "youtube", "video"),
    # Vimeo: player -> vimeo.com/N, unlisted hash kept (the video is unreachable without it)
    ("https://player.vimeo.com/video/75219331?title=0&byline=0&portrait=0",
     "https://vimeo.com/75219331", "vimeo", "video"),
    ("https://player.vimeo.com/video/75219331?h=a1b2c3d4e5&badge=0",
     "https://vimeo.com/75219331/a1b2c3d4e5", "vimeo", "video"),
    ("https://vimeo.com/channels/staffpicks/75219331", "https://vimeo.com/75219331", "vimeo",
     "video"),
    # Dailymotion
    ("https://www.dailymotion.com/embed/video/x8abcd1?autoplay=0",
     "https://www.dailymotion.com/video/x8abcd1", "dailymotion", "video"),
    ("https://dai.ly/x8abcd1", "https://www.dailymotion.com/video/x8abcd1", "dailymotion",
     "video"),
    ("https://www.dailymotion.com/video/x15abcd_ja-afari-un-press-conference_news",
     "https://www.dailymotion.com/video/x15abcd", "dailymotion", "video"),
    ("https://geo.dailymotion.com/player.html?video=x8abcd1",
     "https://www.dailymotion.com/video/x8abcd1", "dailymotion", "video"),
    # Facebook: the video plugin wraps the real post URL in ?href=
    ("https://www.facebook.com/plugins/video.php?height=314&href=https%3A%2F%2Fwww.facebook.com"
     "%2F110brigade%2Fvideos%2F1234567890123456%2F&show_text=false&width=560", FB_VIDEO,
     "facebook", "video"),
    ("https://m.facebook.com/110brigade/videos/1234567890123456/?fbclid=IwAR0abc", FB_VIDEO,
     "facebook", "video"),
    ("https://www.facebook.com/watch/?v=1234567890&ref=sharing",
     "https://www.facebook.com/watch/?v=1234567890", "facebook", "video"),
    ("https://www.facebook.com/video.php?v=1234567890",
     "https://www.facebook.com/watch/?v=1234567890", "facebook", "video"),
    ("https://www.facebook.com/permalink.php?story_fbid=555&id=777&__cft__[0]=AZ",
     "https://www.facebook.com/permalink.php?story_fbid=555&id=777", "facebook", None),
    # X/Twitter: all hosts -> twitter.com/USER/status/ID, share params s/t dropped
    ("https://x.com/RaqqaMC/status/383940123456789012?s=20&t=AbCdEf", TWEET, "twitter", None),
    ("https://mobile.twitter.com/RaqqaMC/statuses/383940123456789012", TWEET, "twitter", None),
    ("https://twitter.com/RaqqaMC/status/383940123456789012?ref_src=twsrc%5Etfw", TWEET,
     "twitter", None),
    ("https://twitter.com/RaqqaMC/status/383940123456789012/video/1", TWEET, "twitter",
     "video"),
    ("https://twitter.com/i/web/status/383940123456789012",
     "https://twitter.com/i/status/383940123456789012", "twitter", None),
    ("https://platform.twitter.com/embed/Tweet.html?dnt=false&id=383940123456789012&theme=dark",
     "https://twitter.com/i/status/383940123456789012", "twitter", None),
    # Instagram: username prefix, /embed suffix and igshid dropped; reels stay reels
    ("https://www.instagram.com/p/CxAbC12dEfG/?utm_source=ig_web_copy_link&igshid=MzRl",
     "https://www.instagram.com/p/CxAbC12dEfG/", "instagram", None),
    ("https://instagram.com/reel/C3xYz12AbCd/embed/captioned/",
     "https://www.instagram.com/reel/C3xYz12AbCd/", "instagram", "video"),
    ("https://www.instagram.com/ab3.army/p/C3xYz12AbCd/",
     "https://www.instagram.com/p/C3xYz12AbCd/", "instagram", None),
    # TikTok
    ("https://www.tiktok.com/@frontline.reports/video/7335678901234567890?lang=en&is_copy_url=1",
     "https://www.tiktok.com/@frontline.reports/video/7335678901234567890", "tiktok", "video"),
    ("https://www.tiktok.com/embed/v2/7335678901234567890",
     "https://www.tiktok.com/@/video/7335678901234567890", "tiktok", "video"),
    # Threads: threads.net and threads.com, the post's frame and its tracking parameter
    ("https://www.threads.net/@aleppo.media/post/C9vX2aLtQzP/embed?xmt=AQGzX1",
     "https://www.threads.com/@aleppo.media/post/C9vX2aLtQzP", "threads", None),
    ("https://threads.com/t/C9vX2aLtQzP", "https://www.threads.com/t/C9vX2aLtQzP", "threads",
     None),
    # Telegram: the web preview (/s/) and telegram.me spell the same post
    ("https://t.me/s/aleppo_now/1543", "https://t.me/aleppo_now/1543", "telegram", None),
    ("https://telegram.me/aleppo_now/1543?single", "https://t.me/aleppo_now/1543", "telegram",
     None),
    ("https://t.me/aleppo_now/1543?embed=1&mode=tme", "https://t.me/aleppo_now/1543",
     "telegram", None),
    # VK: the player frame keeps the hash that lets anyone play it; pages and ?z= overlays
    ("https://vk.com/video_ext.php?oid=-22822305&id=456242487&hash=e037414127166efe&hd=2",
     "https://vk.com/video_ext.php?oid=-22822305&id=456242487&hash=e037414127166efe",
     "vk", "video"),
    ("https://m.vk.com/video-22822305_456242487?list=ln-abc", "https://vk.com/video-22822305_456242487",
     "vk", "video"),
    ("https://vk.com/wall-22822305_1234?z=video-22822305_456242487%2Fpl_wall_-22822305",
     "https://vk.com/video-22822305_456242487", "vk", "video"),
    ("https://vkvideo.ru/clip-22822305_456239017", "https://vk.com/clip-22822305_456239017",
     "vk", "video"),
    # OK (Odnoklassniki): the player frame and the video page are one video
    ("https://ok.ru/videoembed/7296167130801?autoplay=1", "https://ok.ru/video/7296167130801",
     "ok", "video"),
    ("https://m.ok.ru/video/7296167130801", "https://ok.ru/video/7296167130801", "ok", "video"),
    # Brightcove players in frames: the player page, its video kept, player options dropped
    ("https://players.brightcove.net/1234567890001/default_default/index.html?videoId=63121"
     "&autoplay=true&muted", "https://players.brightcove.net/1234567890001/default_default/"
     "index.html?videoId=63121", "brightcove", "video"),
    # Reddit: every spelling of a post -> reddit.com/comments/ID/; its hosted video kept
    ("https://www.reddit.com/r/UkraineWarVideoReport/comments/1ab2cd3/drone_footage/?utm_source"
     "=share&utm_medium=web2x", "https://www.reddit.com/comments/1ab2cd3/", "reddit", None),
    ("https://old.reddit.com/r/syriancivilwar/comments/1AB2CD3/", "https://www.reddit.com/"
     "comments/1ab2cd3/", "reddit", None),
    ("https://embed.reddit.com/r/syriancivilwar/comments/1ab2cd3/title/?embed=true",
     "https://www.reddit.com/comments/1ab2cd3/", "reddit", None),
    ("https://redd.it/1ab2cd3", "https://www.reddit.com/comments/1ab2cd3/", "reddit", None),
    ("https://v.redd.it/x8k2p4q9zr1c1", "https://v.redd.it/x8k2p4q9zr1c1", "reddit", "video"),
    ("https://www.reddit.com/r/syriancivilwar/s/Xq2bJ0aDcE", "https://www.reddit.com/r/"
     "syriancivilwar/s/Xq2bJ0aDcE", "reddit", None),
    # Bluesky: a handle (any case) or a DID; the embed widget's frame names the DID
    ("https://bsky.app/profile/KyivIndependent.bsky.social/post/3l6oveex3ii2l?ref_src=embed",
     "https://bsky.app/profile/kyivindependent.bsky.social/post/3l6oveex3ii2l", "bluesky",
     None),
    ("https://embed.bsky.app/embed/did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/"
     "3l6oveex3ii2l", "https://bsky.app/profile/did:plc:ewvi7nxzyoun6zhxrhs64oiz/post/"
     "3l6oveex3ii2l", "bluesky", None),
    # Imgur: a post, an album's embed frame, a gallery post under a tag, title words
    ("https://imgur.com/A61SaA1?utm_source=share", "https://imgur.com/A61SaA1", "imgur", None),
    ("https://imgur.com/a/Qx7pLm2/embed?pub=true&ref=https%3A%2F%2Fnews.example%2Flive&w=540",
     "https://imgur.com/a/Qx7pLm2", "imgur", None),
    ("https://m.imgur.com/t/ukraine/Hk3vB9z", "https://imgur.com/gallery/Hk3vB9z", "imgur",
     None),
    ("https://imgur.com/gallery/shelling-of-the-market-this-morning-Hk3vB9z",
     "https://imgur.com/gallery/Hk3vB9z", "imgur", None),
    ("https://imgur.com/A61SaA1.gifv", "https://imgur.com/A61SaA1", "imgur", None),
    ("https://i.imgur.com/A61SaA1.gifv", "https://imgur.com/A61SaA1", "imgur", None),
    ("https://i.imgur.com/A61SaA1", "https://imgur.com/A61SaA1", "imgur", None),
    ("https://imgur.com/gallery/shelling-of-the-market-hkzvbqa",
     "https://imgur.com/gallery/hkzvbqa", "imgur", None),
    ("https://imgur.com/a/Qx7pLm2/all", "https://imgur.com/a/Qx7pLm2", "imgur", None),
    # VK: a wall post, also opened over a community's page
    ("https://vk.com/wall-22822305_1234", "https://vk.com/wall-22822305_1234", "vk", None),
    ("https://m.vk.com/aleppo_news?w=wall-22822305_1234", "https://vk.com/wall-22822305_1234",
     "vk", None),
    # Rutube: the page, its player, a private video's key; a player's numeric id kept
    ("https://rutube.ru/video/3eac3b4561676c17df9132a9a1e62e3e/?r=wd",
     "https://rutube.ru/video/3eac3b4561676c17df9132a9a1e62e3e/", "rutube", "video"),
    ("https://rutube.ru/play/embed/3eac3b4561676c17df9132a9a1e62e3e",
     "https://rutube.ru/video/3eac3b4561676c17df9132a9a1e62e3e/", "rutube", "video"),
    ("https://rutube.ru/video/private/3eac3b4561676c17df9132a9a1e62e3e/?p=IbAigKqWd1do4mjaM5XL",
     "https://rutube.ru/video/private/3eac3b4561676c17df9132a9a1e62e3e/?p=IbAigKqWd1do4mjaM5XL",
     "rutube", "video"),
    ("https://rutube.ru/play/embed/8083783", "https://rutube.ru/play/embed/8083783", "rutube",
     "video"),
    # Dzen (formerly Yandex Zen)
    ("https://dzen.ru/video/watch/6002240ff8b1af50bb2da5e3?share_to=link",
     "https://dzen.ru/video/watch/6002240ff8b1af50bb2da5e3", "dzen", "video"),
    ("https://zen.yandex.ru/video/watch/6002240ff8b1af50bb2da5e3",
     "https://dzen.ru/video/watch/6002240ff8b1af50bb2da5e3", "dzen", "video"),
    # Streamable: the video and its player
    ("https://streamable.com/2ajlx2", "https://streamable.com/2ajlx2", "streamable", "video"),
    ("https://streamable.com/e/2ajlx2?loop=0", "https://streamable.com/2ajlx2", "streamable",
     "video"),
    # Rumble: the page (title words and all) and the player, whose id is another one
    ("https://rumble.com/v4g3h5k-drone-strike-on-the-port.html?mref=6zof&mc=x",
     "https://rumble.com/v4g3h5k-drone-strike-on-the-port.html", "rumble", "video"),
    ("https://rumble.com/embed/v4abcd1/?pub=4", "https://rumble.com/embed/v4abcd1/", "rumble",
     "video"),
    # Odysee (LBRY): the upload under its channel, its player, the player's NAME/CLAIMID
    ("https://odysee.com/@RT:fd/strike-on-the-port:d", "https://odysee.com/@RT:fd/"
     "strike-on-the-port:d", "odysee", None),
    ("https://odysee.com/$/embed/@RT:fd/strike-on-the-port:d?autoplay=true",
     "https://odysee.com/@RT:fd/strike-on-the-port:d", "odysee", None),
    ("https://odysee.com/$/embed/strike-on-the-port/d8f3a1", "https://odysee.com/"
     "strike-on-the-port:d8f3a1", "odysee", None),
    # BitChute: the video and its player
    ("https://old.bitchute.com/video/UGlrF9o9b-Q/", "https://www.bitchute.com/video/"
     "UGlrF9o9b-Q/", "bitchute", "video"),
    ("https://www.bitchute.com/embed/UGlrF9o9b-Q/", "https://www.bitchute.com/video/"
     "UGlrF9o9b-Q/", "bitchute", "video"),
    # Truth Social: a post, without /posts/, and its Mastodon embed frame
    ("https://truthsocial.com/@realDonaldTrump/posts/108779000807761862",
     "https://truthsocial.com/@realDonaldTrump/posts/108779000807761862", "truthsocial", None),
    ("https://truthsocial.com/@realDonaldTrump/108779000807761862/embed",
     "https://truthsocial.com/@realDonaldTrump/posts/108779000807761862", "truthsocial", None),
]  # fmt: skip


@pytest.mark.parametrize(("given", "canonical", "platform", "media_type"), PLATFORM_CASES)
def test_platform_urls_become_canonical_post_urls(
    given: str, canonical: str, platform: str, media_type: MediaType | None
) -> None:
    url = given if given.startswith("http") else "https:" + given
    assert normalize_url(url) == NormalizedURL(canonical, platform, "platform", media_type)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # tracking params go, a signed-URL token stays, host and default port are normalised
        ("https://CDN.Example.org:443/media/Clip.MP4?utm_source=tw&token=abc&fbclid=x",
         NormalizedURL("https://cdn.example.org/media/Clip.MP4?token=abc", None, "file", "video")),
        ("https://example.org/photos/a.jpeg#gallery-3",
         NormalizedURL("https://example.org/photos/a.jpeg", None, "file", "image")),
        ("https://example.org/audio/interview.m4a",
         NormalizedURL("https://example.org/audio/interview.m4a", None, "file", "audio")),
        # twimg photos carry their format in the query, and twimg is not a platform post;
        # the uploaded size is asked for (see the X photo test below)
        ("https://pbs.twimg.com/media/FxYzAbC?format=jpg&name=large",
         NormalizedURL("https://pbs.twimg.com/media/FxYzAbC?format=jpg&name=orig", None,
                       "file", "image")),
        # si/feature are only platform share markers; elsewhere they may choose the file,
        # or sign the URL (an Azure SAS, not part of a file's address like other signatures)
        ("https://cdn.example.net/v.mp4?si=policy1&feature=hd",
         NormalizedURL("https://cdn.example.net/v.mp4?si=policy1&feature=hd", None,
                       "file", "video")),
        ("https://blob.example.net/v.mp4?sv=2021&si=policy1&sig=abc",
         NormalizedURL("https://blob.example.net/v.mp4", None, "file", "video")),
        ("https://www.liveleak.com/view?i=4f2_1380371234",
         NormalizedURL("https://www.liveleak.com/view?i=4f2_1380371234", None, "player", None)),
        # the rest of a query is kept as written: re-encoded, ``ids=1%2C2`` was not the
        # address the story gives without its tracking
        ("https://news.example/story?ids=1,2&utm_source=feed&q=a+b",
         NormalizedURL("https://news.example/story?ids=1,2&q=a+b", None, "player", None)),
        # a platform page that is not a post keeps platform kind but is cleaned
        ("https://twitter.com/RaqqaMC?ref_src=twsrc%5Etfw&s=09",
         NormalizedURL("https://twitter.com/RaqqaMC", "twitter", "platform", None)),
        # a Mastodon status is known by its embed frame; the same path elsewhere is a page
        ("https://Example.Social/@aleppo_watch/113331196497446434/embed",
         NormalizedURL("https://example.social/@aleppo_watch/113331196497446434", "mastodon",
                       "platform", None)),
        ("https://example.social/@aleppo_watch/113331196497446434",
         NormalizedURL("https://example.social/@aleppo_watch/113331196497446434", None, "player",
                       None)),
        # an Imgur post's file on either host is a file (a size-suffixed copy too)
        ("https://i.imgur.com/A61SaA1.jpeg",
         NormalizedURL("https://i.imgur.com/A61SaA1.jpeg", None, "file", "image")),
        ("https://imgur.com/A61SaA1h.jpg",
         NormalizedURL("https://imgur.com/A61SaA1h.jpg", None, "file", "image")),
        ("https://bsky.app/profile/did:plc:ewvi7nxzyoun6zhxrhs64oiz?ref_src=embed",
         NormalizedURL("https://bsky.app/profile/did:plc:ewvi7nxzyoun6zhxrhs64oiz", "bluesky",
                       "platform", None)),
    ],
)  # fmt: skip
def test_non_post_urls_are_cleaned_and_classified(given: str, expected: NormalizedURL) -> None:
    assert normalize_url(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        "https://pbs.twimg.com/media/FxYzAbC?format=jpg&name=small",
        "https://pbs.twimg.com/media/FxYzAbC?format=jpg&name=900x900",
        "https://pbs.twimg.com/media/FxYzAbC?format=jpg",
        "https://PBS.twimg.com/media/FxYzAbC?name=medium&format=jpg&utm_source=x#frag",
    ],
)
def test_every_size_of_an_x_photo_is_one_address_at_the_uploaded_size(given: str) -> None:
    """X serves a photo in several sizes; the page's choice must not shrink the evidence,
    nor make two sizes of one photo two records."""
    expected = "https://pbs.twimg.com/media/FxYzAbC?format=jpg&name=orig"
    assert normalize_url(given) == NormalizedURL(expected, None, "file", "image")
    (embed,) = [link_embed(given, "img", allow_player=False, is_file=True)]
    assert embed is not None and embed.url == expected and embed.original_url == given


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://upload.wikimedia.org/wikipedia/commons/thumb/4/4f/Aleppo_Citadel_01.jpg/"
         "800px-Aleppo_Citadel_01.jpg",
         "https://upload.wikimedia.org/wikipedia/commons/4/4f/Aleppo_Citadel_01.jpg"),
        ("https://upload.wikimedia.org/wikipedia/en/thumb/a/ab/Map%20of%20Aleppo.png/"
         "320px-Map%20of%20Aleppo.png",
         "https://upload.wikimedia.org/wikipedia/en/a/ab/Map%20of%20Aleppo.png"),
        # an SVG map's thumbnail is a rendering: kept as the page shows it
        ("https://upload.wikimedia.org/wikipedia/commons/thumb/1/1a/Syria_map.svg/"
         "640px-Syria_map.svg.png", "https://upload.wikimedia.org/wikipedia/commons/thumb/1/"
         "1a/Syria_map.svg/640px-Syria_map.svg.png"),
        ("https://upload.wikimedia.org/wikipedia/commons/4/4f/Aleppo_Citadel_01.jpg",
         "https://upload.wikimedia.org/wikipedia/commons/4/4f/Aleppo_Citadel_01.jpg"),
        # the Guardian's resizer: every width of a picture is its master
        ("https://i.guim.co.uk/img/media/6b3b8a1f0c2d4e5f/0_0_3500_2100/master/3500.jpg"
         "?width=620&dpr=2&s=none", "https://media.guim.co.uk/6b3b8a1f0c2d4e5f/0_0_3500_2100/"
         "master/3500.jpg"),
        # WordPress's image service (Al Jazeera's live blogs): the upload without its sizing
        ("https://www.aljazeera.com/wp-content/uploads/2024/11/AP24331-1.jpg?resize=770%2C513"
         "&quality=80", "https://www.aljazeera.com/wp-content/uploads/2024/11/AP24331-1.jpg"),
        ("https://www.aljazeera.com/wp-content/uploads/2024/11/AP24331-1.jpg?resize=770%2C513"
         "&token=abc", "https://www.aljazeera.com/wp-content/uploads/2024/11/AP24331-1.jpg"
         "?resize=770%2C513&token=abc"),  # something else in the query: kept as written
        # the sizes WordPress makes of an upload, which drop its EXIF data: the upload
        ("https://www.eaworldview.com/wp-content/uploads/2013/09/minaret-1024x683.jpg",
         "https://www.eaworldview.com/wp-content/uploads/2013/09/minaret.jpg"),
        ("https://www.eaworldview.com/wp-content/uploads/2023/09/minaret-scaled.JPG",
         "https://www.eaworldview.com/wp-content/uploads/2023/09/minaret.JPG"),
        ("https://www.eaworldview.com/wp-content/uploads/2013/09/minaret-1024x683.jpg?w=640",
         "https://www.eaworldview.com/wp-content/uploads/2013/09/minaret.jpg"),
        ("https://www.eaworldview.com/wp-content/uploads/2013/09/1024x683.jpg",
         "https://www.eaworldview.com/wp-content/uploads/2013/09/1024x683.jpg"),
        # Drupal's image styles: the file they were derived from
        ("https://www.syriadirect.example/sites/default/files/styles/large/public/2013-09/"
         "crater.jpg?itok=9Q", "https://www.syriadirect.example/sites/default/files/2013-09/"
         "crater.jpg"),
        ("https://i.guim.co.uk/img/static/sys-images/Guardian/Pix/pictures/2013/9/28/"
         "aleppo.jpg?width=300&s=abc", "https://i.guim.co.uk/img/static/sys-images/Guardian/"
         "Pix/pictures/2013/9/28/aleppo.jpg?width=300&s=abc"),
        # Reddit's previews, re-encoded (auto=webp), titled or not: the upload on i.redd.it
        ("https://preview.redd.it/k3uw0k0pa8x81.jpg?width=1080&format=pjpg&auto=webp&s=5f1c",
         "https://i.redd.it/k3uw0k0pa8x81.jpg"),
        ("https://preview.redd.it/fighters-near-the-citadel-v0-k3uw0k0pa8x81.PNG?width=640"
         "&format=png&auto=webp&s=5f1c", "https://i.redd.it/k3uw0k0pa8x81.png"),
        # a linked site's picture, which Reddit only proxies: kept as the page shows it
        ("https://external-preview.redd.it/Xk2Q.jpg?auto=webp&s=5f1c",
         "https://external-preview.redd.it/Xk2Q.jpg?auto=webp&s=5f1c"),
        # image CDNs that copy an upload and re-encode it: the upload (over https only
        # when Photon says it fetched it so), in its own canonical form
        ("https://i0.wp.com/kyiv.example/wp-content/uploads/2024/03/tanks-1024x768.jpg"
         "?resize=1024%2C768&ssl=1", "https://kyiv.example/wp-content/uploads/2024/03/tanks.jpg"),
        ("https://i2.wp.com/kyiv.example/photo.jpg?w=800", "http://kyiv.example/photo.jpg"),
        ("https://substackcdn.com/image/fetch/w_1456,c_limit,f_auto,q_auto:good/https%3A%2F%2F"
         "substack-post-media.s3.amazonaws.com%2Fpublic%2Fimages%2Fabc_1200x800.png",
         "https://substack-post-media.s3.amazonaws.com/public/images/abc_1200x800.png"),
        # the New York Times's renditions as stored, not re-encoded at a quality
        ("https://static01.nyt.com/images/2024/10/21/multimedia/21ukraine-live-strike/"
         "21ukraine-live-strike-superJumbo.jpg?quality=75&auto=webp&disable=upscale",
         "https://static01.nyt.com/images/2024/10/21/multimedia/21ukraine-live-strike/"
         "21ukraine-live-strike-superJumbo.jpg"),
        # Ghost's sizes of an upload, WebP ones too
        ("https://osint.example/content/images/size/w2000/2023/06/dam.jpg",
         "https://osint.example/content/images/2023/06/dam.jpg"),
        ("https://osint.example/content/images/size/w600/format/webp/2023/06/dam.jpg",
         "https://osint.example/content/images/2023/06/dam.jpg"),
    ],
)  # fmt: skip
def test_a_resized_picture_is_archived_as_the_uploaded_file(given: str, expected: str) -> None:
    assert normalize_url(given) == NormalizedURL(expected, None, "file", "image")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # a static file's cache-buster, written anew in each version of a live page
        ("https://cdn.example/media/C.jpg?v=1701234567&w=1200", "https://cdn.example/media/C.jpg?w=1200"),
        ("https://cdn.example/media/clip.mp4?_=17012&cb=9f1c", "https://cdn.example/media/clip.mp4"),
        # expiring signatures: S3's, CloudFront's, Facebook's CDN
        ("https://b.s3.amazonaws.com/D.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab12",
         "https://b.s3.amazonaws.com/D.jpg"),
        ("https://d1.cloudfront.net/v.mp4?Expires=1701&Signature=Zm9v&Key-Pair-Id=K2",
         "https://d1.cloudfront.net/v.mp4"),
        ("https://scontent.xx.fbcdn.net/v/t39/p.jpg?_nc_cat=1&_nc_ohc=Qx&oh=00_ab&oe=656F",
         "https://scontent.xx.fbcdn.net/v/t39/p.jpg"),
        # Azure's shared access signature, Akamai's tokens, ByteDance's (TikTok's) CDN
        ("https://acct.blob.core.windows.net/media/D.jpg?sv=2021-08-06&st=2026-11-28T10%3A00Z"
         "&se=2026-11-28T11%3A00Z&sr=b&sp=r&sig=Zm9v%2BYmFy",
         "https://acct.blob.core.windows.net/media/D.jpg"),
        ("https://acct.blob.core.windows.net/media/D.jpg?w=1200&sp=r&se=2026-11-28&sig=Zm9v",
         "https://acct.blob.core.windows.net/media/D.jpg?w=1200"),
        ("https://media.example/v/clip.mp4?hdnts=exp%3D1700000000~acl%3D%2F*~hmac%3Dab12",
         "https://media.example/v/clip.mp4"),
        ("https://media.example/v/clip.m3u8?__token__=exp%3D1700000000~hmac%3Dab12",
         "https://media.example/v/clip.m3u8"),
        ("https://p16-sign-va.tiktokcdn.com/obj/tos-maliva-p-0068/ab12.jpeg"
         "?x-expires=1700000000&x-signature=Zm9v%3D",
         "https://p16-sign-va.tiktokcdn.com/obj/tos-maliva-p-0068/ab12.jpeg"),
        # an Azure signature's short names without its proof are the address's own words
        ("https://news.example/photo.jpg?sp=2", "https://news.example/photo.jpg?sp=2"),
        ("https://news.example/photo.jpg?st=5&v=3", "https://news.example/photo.jpg?st=5"),
        ("https://news.example/photo.jpg?sr=b&se=2&ss=1", "https://news.example/photo.jpg?sr=b&se=2&ss=1"),
        # a time is a cache-buster when it is the clock's; a small one may choose a frame
        ("https://cdn.example/map.png?t=1701234567", "https://cdn.example/map.png"),
        ("https://cdn.example/map.png?ts=1701234567890", "https://cdn.example/map.png"),
        ("https://image.mux.com/Ab1/thumbnail.jpg?time=35", "https://image.mux.com/Ab1/thumbnail.jpg?time=35"),
        # a script may choose its file by them: kept
        ("https://news.example/image.php?v=2", "https://news.example/image.php?v=2"),
        ("https://news.example/photo.jpg?id=2", "https://news.example/photo.jpg?id=2"),
    ],
)  # fmt: skip
def test_a_static_files_cache_buster_and_signature_are_not_part_of_its_address(
    given: str, expected: str
) -> None:
    assert file_url(given) == expected


@pytest.mark.parametrize(
    ("spelling", "signed"),
    [
        ("https://b.s3.amazonaws.com/D.jpg?X-Amz-Expires=900&X-Amz-Signature=ab12", True),
        ("https://d1.cloudfront.net/v.mp4?Expires=1701&Signature=Zm9v&Key-Pair-Id=K2", True),
        ("https://scontent.xx.fbcdn.net/v/p.jpg?_nc_cat=1&oh=00_ab&oe=656F", True),
        ("https://acct.blob.core.windows.net/c/D.jpg?sv=2021-08-06&se=2026-11-28&sig=Zm9v", True),
        ("https://media.example/v/clip.mp4?hdnts=exp%3D1700000000~hmac%3Dab12", True),
        ("https://media.example/v/clip.mp4?hdnea=exp%3D1700000000~hmac%3Dab12", True),
        ("https://media.example/v/clip.mp4?__token__=exp%3D1700000000~hmac%3Dab12", True),
        ("https://p16-sign-va.tiktokcdn.com/obj/ab12.jpeg?x-expires=1700&x-signature=Zm9v", True),
        # names a signature may carry, without one: an ordinary file, checked for liveness
        ("https://p16-sign-va.tiktokcdn.com/obj/ab12.jpeg?x-expires=1700000000", False),
        ("https://news.example/a.jpg?sp=2&se=1700000000", False),
        ("https://news.example/a.jpg?expires=1700000000", False),
        ("https://news.example/a.jpg?policy=public&v=3", False),
        ("https://scontent.xx.fbcdn.net/v/p.jpg?_nc_cat=1", False),
    ],
)
def test_a_file_is_signed_when_its_spelling_carries_the_signature(
    spelling: str, signed: bool
) -> None:
    assert signed_only(spelling, file_url(spelling)) is signed


def test_a_picture_the_washington_posts_resizer_shows_is_archived_as_its_source() -> None:
    """``imrs.php?src=…&w=1440`` names no file type: an ``<img>`` makes it a photo."""
    given = (
        "https://www.washingtonpost.com/wp-apps/imrs.php?src=https://arc-anglerfish-washpost"
        "-prod-washpost.s3.amazonaws.com/public/RYAZANFIRE.jpg&w=1440"
    )
    embed = link_embed(given, "img", allow_player=False, is_file=True)
    assert embed is not None and embed.original_url == given
    assert embed.url == (
        "https://arc-anglerfish-washpost-prod-washpost.s3.amazonaws.com/public/RYAZANFIRE.jpg"
    )
    # a source that is nothing to fetch leaves the address as the page wrote it
    odd = "https://www.washingtonpost.com/wp-apps/imrs.php?src=javascript:x"
    assert file_url(odd) == odd


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://kyiv.example/_next/image?url=%2Fuploads%2F2024%2F03%2Fstrike.jpg&w=3840&q=75",
         "https://kyiv.example/uploads/2024/03/strike.jpg"),
        # an upload on another host, in its own canonical form
        ("https://kyiv.example/_next/image?url=https%3A%2F%2Fkyiv.example%2Fwp-content%2F"
         "uploads%2F2024%2F03%2Ftanks-1024x768.jpg&w=1080&q=75",
         "https://kyiv.example/wp-content/uploads/2024/03/tanks.jpg"),
        # a site under a base path; Vercel's optimizer
        ("https://kyiv.example/news/_next/image?url=%2Fnews%2Fstrike.png&w=640&q=75",
         "https://kyiv.example/news/strike.png"),
        ("https://kyiv.example/_vercel/image?url=%2Fstrike.jpg&w=1920&q=100",
         "https://kyiv.example/strike.jpg"),
        # what Next.js refuses to fetch is no upload: kept as written
        ("https://kyiv.example/_next/image?url=strike.jpg&w=640", "https://kyiv.example/_next/"
         "image?url=strike.jpg&w=640"),
        ("https://kyiv.example/_next/image?url=%2F%2Fcdn.example%2Fa.jpg&w=640",
         "https://kyiv.example/_next/image?url=%2F%2Fcdn.example%2Fa.jpg&w=640"),
    ],
)  # fmt: skip
def test_a_picture_nextjs_resizes_is_archived_as_the_upload(given: str, expected: str) -> None:
    """Next.js sites show every upload through their image optimizer, re-encoded at a
    width and quality (``/_next/image?url=…&w=3840&q=75``): the upload is the evidence."""
    embed = link_embed(given, "img", allow_player=False, is_file=True)
    assert embed is not None and (embed.url, embed.original_url) == (expected, given)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # AP's: a signed crop and resize of the upload on assets.apnews.com
        ("https://dims.apnews.com/dims4/default/abc123/2147483647/strip/true/crop/4000x2667+0+0/"
         "resize/599x399!/quality/90/?url=https%3A%2F%2Fassets.apnews.com%2F12%2F34%2Fabcdef%2F"
         "photo.jpg", "https://assets.apnews.com/12/34/abcdef/photo.jpg"),
        # NPR's, an upload on S3 over http (as the service fetched it)
        ("https://npr.brightspotcdn.com/dims3/default/strip/false/crop/6000x4000+0+0/resize/1100/"
         "quality/50/format/jpeg/?url=http%3A%2F%2Fnpr-brightspot.s3.amazonaws.com%2Fab%2Fcd%2F"
         "photo.jpg", "http://npr-brightspot.s3.amazonaws.com/ab/cd/photo.jpg"),
        # a Brightspot site's own host; the upload in its own canonical form
        ("https://www.kyivnews.example/dims4/default/f00/2147483647/resize/800x533/?url="
         "https%3A%2F%2Fkyivnews.example%2Fwp-content%2Fuploads%2F2024%2F03%2Fstrike-1024x683"
         ".jpg", "https://kyivnews.example/wp-content/uploads/2024/03/strike.jpg"),
        # what the service names that is nothing to fetch: kept as the page wrote it
        ("https://dims.apnews.com/dims4/default/abc/2147483647/resize/599x399/?url=javascript:x",
         "https://dims.apnews.com/dims4/default/abc/2147483647/resize/599x399/?url=javascript:x"),
        ("https://dims.apnews.com/dims4/default/abc/2147483647/resize/599x399/?url=ftp%3A%2F%2F"
         "files.example%2Fphoto.jpg", "https://dims.apnews.com/dims4/default/abc/2147483647/"
         "resize/599x399/?url=ftp%3A%2F%2Ffiles.example%2Fphoto.jpg"),
    ],
)  # fmt: skip
def test_a_picture_brightspots_image_service_resized_is_archived_as_the_upload(
    given: str, expected: str
) -> None:
    """Brightspot's DIMS (AP, NPR) shows a smaller re-encoded copy of the upload its
    ``url`` names; the page's spelling stays the embed's original, fetched if the
    upload cannot be."""
    embed = link_embed(given, "img", allow_player=False, is_file=True)
    assert embed is not None and (embed.url, embed.original_url) == (expected, given)


def _image_found(markup: str) -> list[str]:
    """The addresses archived from ``markup`` in an article; unusable ones too."""
    html = f"<html><body><article><p>The strike on Kharkiv:</p>{markup}</article></body></html>"
    found = extract_embeds(html, "https://kyivnews.example/live/ukraine")
    return [embed.url for embed in found.embeds] + [item.url for item in found.unusable]


WPCOM = "https://kyivblog.files.wordpress.com/2024/03/strike.jpg"
OFFLOADED = "https://cdn.kyivnews.example/2024/03"
MOVED = "https://cdn.kyivnews.example/wp-content/uploads/2022/03"


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        # WordPress.com: srcset lists resized copies (?w=2048), without the EXIF data
        (f'<img data-orig-file="{WPCOM}" data-orig-size="4032,3024" src="{WPCOM}?w=1024" '
         f'srcset="{WPCOM}?w=1024 1024w, {WPCOM}?w=2048 2048w, {WPCOM}?w=150 150w" '
         'width="1024" height="768">', WPCOM),
        # media offloaded to a CDN: its sizes are outside /wp-content/uploads/
        (f'<img data-orig-file="{OFFLOADED}/strike.jpg" src="{OFFLOADED}/strike-1024x768.jpg" '
         f'srcset="{OFFLOADED}/strike-1024x768.jpg 1024w, {OFFLOADED}/strike-300x225.jpg 300w" '
         'width="1024" height="768">', f"{OFFLOADED}/strike.jpg"),
        # a Gutenberg gallery's full image; a lightbox's
        (f'<img data-id="124" src="{OFFLOADED}/b-1024x683.jpg" srcset="{OFFLOADED}/'
         f'b-1024x683.jpg 1024w" data-full-url="{OFFLOADED}/b.jpg" data-link="https://'
         'kyivnews.example/?attachment_id=124" width="1024" height="683">',
         f"{OFFLOADED}/b.jpg"),
        (f'<img data-full-src="{OFFLOADED}/c.jpg" data-srcset="{OFFLOADED}/c-800.jpg 800w" '
         'src="data:image/gif;base64,R0lGOD" width="800">', f"{OFFLOADED}/c.jpg"),
        # Jetpack's original through Photon: the upload, as Photon's copies are
        ('<img data-orig-file="https://i0.wp.com/kyivnews.example/wp-content/uploads/2024/03/'
         'd.jpg?fit=4032%2C3024&amp;ssl=1" srcset="https://i0.wp.com/kyivnews.example/'
         'wp-content/uploads/2024/03/d.jpg?resize=1024%2C768&amp;ssl=1 1024w" width="1024">',
         "https://kyivnews.example/wp-content/uploads/2024/03/d.jpg"),
        # in a <picture>, before its sources
        (f'<picture><source srcset="{OFFLOADED}/e-1024x768.webp 1024w" type="image/webp">'
         f'<img data-orig-file="{OFFLOADED}/e.jpg" src="{OFFLOADED}/e-1024x768.jpg"></picture>',
         f"{OFFLOADED}/e.jpg"),
        # a "full size" that is no image (an attachment page): the srcset's largest
        (f'<img data-full-url="https://kyivnews.example/?attachment_id=124" srcset="'
         f'{OFFLOADED}/f-300x200.jpg 300w, {OFFLOADED}/f-1024x683.jpg 1024w" width="1024">',
         f"{OFFLOADED}/f-1024x683.jpg"),
        # a full size on another host (a gallery saved before the site moved): the photo
        # shown, whose page spelling the capture falls back to; Photon's copy of the
        # site's upload is on the site's host
        (f'<img src="{MOVED}/g-1024x683.jpg" srcset="{MOVED}/g-1024x683.jpg 1024w" data-full-'
         'url="http://old-kyivnews.example/wp-content/uploads/2022/03/g.jpg">',
         f"{MOVED}/g.jpg"),
        (f'<picture><source srcset="{MOVED}/h-1024x683.jpg 1024w"><img data-orig-file="http://'
         f'old-kyivnews.example/wp-content/uploads/2022/03/h.jpg" src="{MOVED}/h-300x200.jpg">'
         '</picture>', f"{MOVED}/h.jpg"),
        ('<img data-orig-file="https://www.kyivnews.example/wp-content/uploads/2022/03/i.png" '
         'src="https://i0.wp.com/kyivnews.example/wp-content/uploads/2022/03/i.png?w=1024">',
         "https://www.kyivnews.example/wp-content/uploads/2022/03/i.png"),
    ],
)  # fmt: skip
def test_the_original_upload_an_img_names_comes_before_its_srcset(
    markup: str, expected: str
) -> None:
    """A srcset lists the sizes made of an upload, which drop its EXIF data (camera,
    time); the upload the tag names (``data-orig-file``, ``data-full-url``,
    ``data-full-src``) is the evidence."""
    assert _image_found(markup) == [expected]


def test_a_full_size_on_another_host_leaves_the_shown_copy_to_fall_back_to() -> None:
    """The capture retries an embed's ``original_url`` when its canonical URL fails: a
    stale full-size address as both would lose the photo with its old host."""
    html = (
        f'<html><body><article><p>Gallery:</p><img src="{MOVED}/g-1024x683.jpg" data-full-'
        'url="http://old-kyivnews.example/wp-content/uploads/2022/03/g.jpg"></article></body>'
        "</html>"
    )
    (embed,) = extract_embeds(html, "https://kyivnews.example/live/ukraine").embeds
    assert (embed.url, embed.original_url) == (f"{MOVED}/g.jpg", f"{MOVED}/g-1024x683.jpg")


BLANK = "data:image/svg+xml;nitro-empty-id=MTIz;base64,PHN2Zz48L3N2Zz4="


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        # NitroPack, Ezoic, echo.js: their own attribute names over a stand-in src
        (f'<img nitro-lazy-src="https://cdn.example.com/p/nitro.jpg" nitro-lazy-srcset="https:'
         '//cdn.example.com/p/nitro.jpg 1200w, https://cdn.example.com/p/nitro-2400.jpg 2400w"'
         f' src="{BLANK}" class="nitro-lazy" width="1200">',
         ["https://cdn.example.com/p/nitro-2400.jpg"]),
        ('<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-ezsrc="https://cdn.example.'
         'com/p/ez.jpg" ezimgfmt="rs rscb1 src ng ngcb1" width="1200">',
         ["https://cdn.example.com/p/ez.jpg"]),
        ('<img src="https://cdn.example.com/grey.gif" data-echo="https://cdn.example.com/p/'
         'echo.jpg" width="1200">', ["https://cdn.example.com/p/echo.jpg"]),
        # a loader not known by name: its attribute holds an image file on http(s)
        (f'<img src="{BLANK}" data-attachment-id="55" data-caption="Kharkiv" data-lazyloaded-'
         'image="/media/2024/03/unknown.jpeg" width="1200">',
         ["https://kyivnews.example/media/2024/03/unknown.jpeg"]),
        ('<img data-tiny-image="https://cdn.example.com/p/t.jpg" data-ll-src="https://cdn.'
         'example.com/p/no-src.png" width="1200">', ["https://cdn.example.com/p/no-src.png"]),
        # previews, thumbnails, links and share pictures are not the photo; nor is what is
        # no image file; and a src that is a photo is the photo
        (f'<img src="{BLANK}" data-lowsrc="https://cdn.example.com/p/low.jpg" data-thumb="https:'
         '//cdn.example.com/p/thumb.jpg" data-pin-media="https://cdn.example.com/p/pin.jpg" '
         'data-link="https://cdn.example.com/p/page.jpg" data-page="https://kyivnews.example/'
         'photos/1" width="1200">', []),
        ('<img src="https://cdn.example.com/p/shown.jpg" data-lazyloaded-image="https://cdn.'
         'example.com/p/other.jpg" width="1200">', ["https://cdn.example.com/p/shown.jpg"]),
        # stand-ins, someone's picture and smaller sizes give way to the photo, a name
        # for a large size (Jetpack's data-large-file, no data-orig-file) to other names
        (f'<img src="{BLANK}" data-fallback-src="https://cdn.example.com/img/no-image.jpg" '
         'data-img="https://cdn.example.com/p/a.jpg" width="1200">',
         ["https://cdn.example.com/p/a.jpg"]),
        ('<img data-author-image="https://cdn.example.com/p/author.jpg" data-image="https://'
         'cdn.example.com/p/b.jpg" width="1200">', ["https://cdn.example.com/p/b.jpg"]),
        (f'<img src="{BLANK}" data-medium-file="https://cdn.example.com/p/c-m.jpg" data-pic='
         '"https://cdn.example.com/p/c-any.jpg" data-large-file="https://cdn.example.com/p/'
         'c-l.jpg" width="1200">', ["https://cdn.example.com/p/c-l.jpg"]),
        (f'<img src="{BLANK}" data-lazy-pic="https://cdn.example.com/p/d.jpg" data-zoom-image='
         '"https://cdn.example.com/p/d-zoom.jpg" width="1200">',
         ["https://cdn.example.com/p/d-zoom.jpg"]),
        (f'<img src="{BLANK}" data-large-file="https://cdn.example.com/p/e-l.jpg" data-orig-'
         'file="https://cdn.example.com/p/e.jpg" width="1200">',
         ["https://cdn.example.com/p/e.jpg"]),
    ],
)  # fmt: skip
def test_a_photo_behind_a_lazy_loaders_stand_in_is_found(markup: str, expected: list[str]) -> None:
    """Lazy loaders park the photo in attributes of their own names over a ``data:`` or
    placeholder ``src``: an unread one dropped the photo without a word."""
    assert _image_found(markup) == expected


def test_the_legacy_size_suffix_of_an_x_photo_is_read_and_dropped() -> None:
    url = "https://pbs.twimg.com/media/BVUc0ZJCIAAmnM_.jpg:large"
    assert is_media_file_url(url)
    assert normalize_url(url).url == "https://pbs.twimg.com/media/BVUc0ZJCIAAmnM_.jpg?name=orig"
    # other hosts' URLs and X's other images (avatars, cards) are not rewritten
    for other in (
        "https://cdn.example.org/media/photo.jpg?name=small",
        "https://pbs.twimg.com/profile_banners/12/1500/600x200",
        "https://pbs.twimg.com/card_img/17/abc?format=jpg&name=small",
    ):
        assert "name=orig" not in normalize_url(other).url


@pytest.mark.parametrize(
    ("url", "is_media"),
    [
        ("https://example.org/v/clip.mp4", True),
        ("https://example.org/v/clip.WEBM?x=1", True),
        ("https://example.org/a/voice.ogg", True),
        ("https://example.org/a/voice.flac", True),
        ("https://example.org/i/photo.HEIC", True),
        ("https://example.org/i/photo.avif", True),
        ("https://example.org/i/scan.tiff", True),
        ("https://example.org/i/logo.svg", False),
        ("https://example.org/docs/report.pdf", False),
        ("https://example.org/2013/09/syria-daily/", False),
        ("https://example.org/clip.mp4.html", False),
    ],
)
def test_media_files_are_recognised_by_extension(url: str, is_media: bool) -> None:
    assert is_media_file_url(url) is is_media


@pytest.mark.parametrize(
    ("raw", "base", "expected"),
    [
        ("/img/a.jpg", "https://example.org/news/story", "https://example.org/img/a.jpg"),
        ("a.jpg", "https://example.org/news/story", "https://example.org/news/a.jpg"),
        ("//cdn.example.org/a.jpg", "https://example.org/", "https://cdn.example.org/a.jpg"),
        ("  https://example.org/a\n.jpg\t ", "https://x.example/", "https://example.org/a.jpg"),
        ("data:image/gif;base64,R0lGODlhAQABAAAAACw=", "https://example.org/", None),
        ("blob:https://example.org/1234-5678", "https://example.org/", None),
        ("javascript:void(0)", "https://example.org/", None),
        ("about:blank", "https://example.org/", None),
        ("#comments", "https://example.org/", None),
        ("mailto:desk@example.org", "https://example.org/", None),
        ("", "https://example.org/", None),
    ],
)
def test_resolve_url_makes_absolute_and_refuses_unfetchable(
    raw: str, base: str, expected: str | None
) -> None:
    assert resolve_url(raw, base) == expected


@pytest.mark.parametrize(
    ("url", "tracker"),
    [
        ("https://securepubads.g.doubleclick.net/gampad/ads?sz=728x90", True),
        ("https://tpc.googlesyndication.com/safeframe/container.html", True),
        ("https://www.google-analytics.com/collect?v=1", True),
        ("https://www.facebook.com/tr?id=1&ev=PageView", True),
        ("https://pixel.quantserve.com/pixel/p-abc.gif", True),
        ("https://sb.scorecardresearch.com/p?c1=2", True),
        ("https://example.org/ads/banner-300x250.jpg", True),
        ("https://example.org/static/pixel.gif", True),
        ("https://images.taboola.com/taboola/image/fetch/x.jpg", True),
        ("https://example.org/uploads/2013/09/ads-in-aleppo.jpg", False),
        ("https://ad.nl/nieuws/foto.jpg", False),
        ("https://example.org/media/shadow.jpg", False),
    ],
)
def test_tracker_and_ad_urls_are_recognised(url: str, tracker: bool) -> None:
    assert is_tracker_url(url) is tracker


@pytest.mark.parametrize(
    ("url", "furniture"),
    [
        ("https://www.facebook.com/plugins/like.php?href=x", True),
        ("https://www.facebook.com/plugins/share_button.php?href=x", True),
        ("https://platform.twitter.com/widgets/follow_button.html", True),
        ("https://disqus.com/embed/comments/", True),
        ("https://www.google.com/maps/embed?pb=1", True),
        ("https://www.facebook.com/plugins/video.php?href=x", False),
        ("https://www.youtube.com/embed/abc123XYZ_0", False),
    ],
)
def test_widget_frames_are_furniture(url: str, furniture: bool) -> None:
    assert is_furniture_url(url) is furniture


@pytest.mark.parametrize(
    "url",
    [
        "https://vk.com/widget_like.php?app=2&page=0&url=https%3A%2F%2Fnews.example",
        "https://vk.com/widget_comments.php?app=2",
        "https://vk.com/aleppo_news",
        "https://connect.ok.ru/dk?st.cmd=WidgetSharePreview&st.shareUrl=x",
        "https://ok.ru/group/54321",
        "https://imgur.com/user/aleppo_media",
        "https://imgur.com/upload",
        "https://imgur.com/privacy",
        "https://imgur.com/",
        "https://imgur.com/gallery",
        "https://imgur.com/terms-of-service",
        "https://imgur.com/community-rules",
        "https://rutube.ru/channel/25902603/",
        "https://dzen.ru/a/ZfB2yQ",
        "https://dzen.ru/id/606fd806cc13cb3c58c05cf5",
        "https://streamable.com/login",
        "https://rumble.com/c/RT",
        "https://rumble.com/videos",
        "https://odysee.com/@RT:fd",
        "https://odysee.com/$/settings",
        "https://www.bitchute.com/channel/aleppo/",
        "https://truthsocial.com/@realDonaldTrump",
    ],
)
def test_platform_buttons_groups_and_site_pages_are_not_media(url: str) -> None:
    """Only their videos are: share buttons, comment widgets and group pages are not;
    nor are Imgur's user and site pages, nor the channels and site pages of the other
    video hosts."""
    assert link_embed(url, "iframe", allow_player=True) is None


def test_a_file_on_imgurs_hosts_is_still_a_file() -> None:
    """Made a platform, imgur.com dropped the links to its files that were archived.
    Elsewhere a file-like address on a platform's host stays the platform's: a Vimeo
    player's signed MP4 beside a JSON-LD ``embedUrl`` is the post's, which yt-dlp takes."""
    for url in ("https://imgur.com/A61SaA1h.jpg", "https://imgur.com/AbCdEfG.mp4"):
        found = link_embed(url, "a", allow_player=False)
        assert found is not None and (found.kind, found.url) == ("file", url)
    signed = "https://player.vimeo.com/external/123456789.hd.mp4?s=5f1c"
    assert link_embed(signed, "json-ld", allow_player=False) is None
