"""Finding media in article pages and player pages, with update labels and context."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import FixtureServer

from archiver.errors import ArchiverError
from archiver.extract import (
    ExtractError,
    FoundEmbed,
    PageExtraction,
    content,
    extract_embeds,
    extract_player_media,
)
from archiver.extract.context import TextTrail, label_at_start, sentence_context
from archiver.extract.document import (
    MAX_ATTRIBUTES,
    MAX_ELEMENTS,
    MEDIA_TAGS,
    fragment_elements,
    parse_document,
    text_length,
)
from archiver.extract.html import _ContentWalker
from archiver.extract.media import STYLE_PROBE

PAGES = Path(__file__).parent / "fixtures" / "pages"
BASE = "https://news.example/2013/09/story"


def page(name: str) -> bytes:
    return (PAGES / name).read_bytes()


def article(body: str, head: str = "", base: str = BASE) -> PageExtraction:
    """Extract from a minimal page whose article content is ``body``."""
    html = f"<html><head><title>T</title>{head}</head><body><article>{body}</article></body></html>"
    return extract_embeds(html, base)


def urls(result: PageExtraction | list[FoundEmbed]) -> list[str]:
    embeds = result.embeds if isinstance(result, PageExtraction) else result
    return [embed.url for embed in embeds]


def only(result: PageExtraction) -> FoundEmbed:
    assert len(result.embeds) == 1, urls(result)
    return result.embeds[0]


# --- the live blog: update attribution and context -------------------------------------------


def test_live_blog_embeds_carry_update_label_and_introducing_sentence() -> None:
    result = extract_embeds(page("syria_daily_liveblog.html"), "https://eaworldview.example/x")

    assert result.title == "Syria Daily, Sept 28: Insurgents Claim Advance in Aleppo"
    found = [(e.found_in, e.url, e.update) for e in result.embeds]
    assert found == [
        ("iframe", "https://www.youtube.com/watch?v=abc123XYZ_0", "UPDATE 1800 GMT"),
        ("iframe", "https://www.youtube.com/watch?v=Qm9nZ2luZ19", "UPDATE 1430 GMT"),
        ("blockquote", "https://twitter.com/RaqqaMC/status/383940123456789012", "UPDATE 1430 GMT"),
        ("iframe", "https://vimeo.com/75219331", "UPDATE 1100 GMT"),
        ("a-platform", "https://www.dailymotion.com/video/x15abcd", "UPDATE 1100 GMT"),
        ("a-img", "https://eaworldview.example/wp-content/uploads/2013/09/Aleppo-Citadel-Sept28.jpg",
         "UPDATE 1100 GMT"),
        ("img", "https://eaworldview.example/wp-content/uploads/2013/09/checkpoint-airport-road.jpg",
         "ORIGINAL ENTRY"),
        ("a-media", "https://eaworldview.example/wp-content/uploads/2013/09/coalition-spokesman.mp3",
         "ORIGINAL ENTRY"),
        ("telegram-widget", "https://t.me/aleppo_now/1543", "ORIGINAL ENTRY"),
    ]  # fmt: skip
    contexts = {e.url: e.context for e in result.embeds}
    assert contexts["https://www.youtube.com/watch?v=abc123XYZ_0"] == (
        "Rebels denied any advance by regime forces, posting video of their fighters near the "
        "Citadel:"
    )
    # the lazy iframe and the tweet after it share the sentence that introduced both
    assert contexts["https://www.youtube.com/watch?v=Qm9nZ2luZ19"] == (
        "Activists published footage of the aftermath of a airstrike on a bakery in Raqqa:"
    )
    assert contexts["https://twitter.com/RaqqaMC/status/383940123456789012"] == (
        "Activists published footage of the aftermath of a airstrike on a bakery in Raqqa:"
    )
    # a short colon sentence is widened with the sentence before it, from the same update
    assert contexts["https://vimeo.com/75219331"] == (
        "The Syrian ambassador to the UN, Bashar Ja\u2019afari, was asked about the chemical "
        "weapons resolution. The ambassador laughs:"
    )
    # an inline link gets the sentence it sits in; a photo gets its caption
    assert contexts["https://www.dailymotion.com/video/x15abcd"] == (
        "A longer version was posted by a pro-regime channel on Dailymotion, while others "
        "preferred to watch the LiveLeak copy."
    )
    assert contexts[
        "https://eaworldview.example/wp-content/uploads/2013/09/Aleppo-Citadel-Sept28.jpg"
    ] == ("Smoke rises near the Citadel in Aleppo, September 28 (Photo: Aleppo Media Centre)")
    # a link that is its own paragraph is introduced by the paragraph before it
    assert (
        contexts["https://eaworldview.example/wp-content/uploads/2013/09/coalition-spokesman.mp3"]
        == "Mr. al-Jarba said he would not attend without guarantees. His spokesman added on audio:"
    )


def test_live_blog_keeps_original_urls_and_drops_tracking() -> None:
    result = extract_embeds(page("syria_daily_liveblog.html"), "https://eaworldview.example/x")
    by_url = {e.url: e for e in result.embeds}

    lazy = by_url["https://www.youtube.com/watch?v=Qm9nZ2luZ19"]
    assert (
        lazy.original_url == "https://www.youtube-nocookie.com/embed/Qm9nZ2luZ19?rel=0&si=Tr4ck3r"
    )
    assert (lazy.kind, lazy.platform, lazy.media_type) == ("platform", "youtube", "video")
    tweet = by_url["https://twitter.com/RaqqaMC/status/383940123456789012"]
    assert tweet.original_url.endswith("/statuses/383940123456789012?ref_src=twsrc%5Etfw")
    # the tweet's own text is kept as metadata, not used as context
    assert tweet.metadata["embed_text"].startswith("Regime jets strike bakery in #Raqqa")


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("UPDATE 1800 GMT: Rebels denied any advance", "UPDATE 1800 GMT"),
        ("UPDATE, 14:30: Shelling resumed", "UPDATE, 14:30"),
        ("Update 2: The ministry said", "Update 2"),
        ("ORIGINAL ENTRY: Insurgents claimed", "ORIGINAL ENTRY"),
        ("ORIGINAL ENTRY", "ORIGINAL ENTRY"),
        ("BREAKING: Explosion in Damascus", "BREAKING"),
        ("1430 GMT: Activists report", "1430 GMT"),
        ("14:30 GMT \u2014 Activists report", "14:30 GMT"),
        ("UPDATE 3, Sept 29, 0900 GMT: More", "UPDATE 3, Sept 29, 0900 GMT"),
        ("تحديث 18:00 بتوقيت غرينتش: نشر ناشطون مقطع فيديو", "تحديث 18:00 بتوقيت غرينتش"),
        ("عاجل: سقوط قذائف على دمشق", "عاجل"),
        ("١٨:٠٠ بتوقيت دمشق: نشر ناشطون", "١٨:٠٠ بتوقيت دمشق"),  # Arabic-Indic digits
        ("ОНОВЛЕНО 18:00: Окупанти обстріляли Херсон", "ОНОВЛЕНО 18:00"),
        # dates with a year or a weekday, zones with an offset or a city, other languages
        ("March 12, 2024, 10:32 a.m. ET: Footage shows", "March 12, 2024, 10:32 a.m. ET"),
        ("9:05 a.m. ET, March 12, 2024", "9:05 a.m. ET, March 12, 2024"),
        ("Tuesday 12 March 14:32", "Tuesday 12 March 14:32"),
        ("14:32 GMT+2: Sirens", "14:32 GMT+2"),
        ("14:32 Kyiv time: Sirens", "14:32 Kyiv time"),
        ("Posted at 14:32", "Posted at 14:32"),
        ("14.32 Uhr: Ein Video zeigt", "14.32 Uhr"),
        ("14 h 10 : Une vidéo montre", "14 h 10"),
        ("Mis à jour à 13h50", "Mis à jour à 13h50"),
        ("Posted at the checkpoint, soldiers waited", None),
        ("March 12, 2024: a day of strikes", None),
        ("Updates from Aleppo: the market reopened", None),
        ("2013: a year of war", None),
        ("Breaking Bad is a television series", None),
        ("Rebels said: the checkpoint fell", None),
    ],
)
def test_live_blog_labels(text: str, label: str | None) -> None:
    found = label_at_start(text)
    assert (found.text if found else None) == label


def test_headings_set_the_update_and_br_separated_labels_are_found() -> None:
    result = article(
        "<h2>Homs: the siege of Khaldiyeh</h2>"
        "<p>Residents filmed the aftermath:</p>"
        '<iframe src="https://player.vimeo.com/video/111"></iframe>'
        "<div>Older markup without paragraphs.<br><br>"
        "<b>UPDATE 2100 GMT:</b> A second clip:<br>"
        '<iframe src="https://player.vimeo.com/video/222"></iframe></div>'
    )
    first, second = result.embeds
    assert (first.update, first.context) == (
        "Homs: the siege of Khaldiyeh",
        "Residents filmed the aftermath:",
    )
    assert (second.update, second.context) == ("UPDATE 2100 GMT", "A second clip:")


def test_vk_and_ok_players_are_embeds_and_their_buttons_are_not() -> None:
    """Footage from Russian-speaking sides is often on VK and OK, whose like buttons
    and comment widgets sit in the same pages."""
    result = article(
        "<p>UPDATE 0930 GMT: A pro-government channel posted this:</p>"
        '<iframe src="https://vk.com/video_ext.php?oid=-22822305&id=456242487&hash=e03741"'
        ' width="640" height="360"></iframe>'
        "<p>And another angle:</p>"
        '<iframe src="https://ok.ru/videoembed/7296167130801" width="640"></iframe>'
        '<iframe src="https://vk.com/widget_like.php?app=2&url=x" width="300"></iframe>'
        '<iframe src="https://connect.ok.ru/dk?st.cmd=WidgetSharePreview" width="300"></iframe>'
    )
    assert [(e.kind, e.platform, e.url, e.context) for e in result.embeds] == [
        (
            "platform",
            "vk",
            "https://vk.com/video_ext.php?oid=-22822305&id=456242487&hash=e03741",
            "A pro-government channel posted this:",
        ),
        ("platform", "ok", "https://ok.ru/video/7296167130801", "And another angle:"),
    ]


def test_context_is_collapsed_clipped_and_never_from_before_the_label() -> None:
    long_sentence = "word " * 150 + "and finally the footage:"
    result = article(
        "<p>Text that belongs to the previous update.</p>"
        f"<p>UPDATE 1200 GMT:</p><iframe src='https://player.vimeo.com/video/1'></iframe>"
        f"<p>  {long_sentence}  </p><iframe src='https://player.vimeo.com/video/2'></iframe>"
    )
    first, second = result.embeds
    assert first.update == "UPDATE 1200 GMT"
    assert first.context is None
    assert second.context is not None
    assert len(second.context) <= 400
    assert second.context.endswith("word and finally the footage:")
    assert "  " not in second.context


def test_links_listed_one_per_item_take_the_sentence_before_the_list() -> None:
    """Each link of a list took the item before it ("Homs") as its context."""
    result = article(
        "<p>Videos posted by activists:</p><ul>"
        + "".join(
            f"<li><a href='https://www.youtube.com/watch?v={c * 11}'>{town}</a></li>"
            for c, town in zip("abc", ("Homs", "Hama", "Idlib"), strict=True)
        )
        + "</ul><p>A raid on <a href='https://www.youtube.com/watch?v=ddddddddddd'>Daraa</a>."
    )
    assert [e.context for e in result.embeds] == [
        *["Videos posted by activists:"] * 3,
        "A raid on Daraa.",  # a link inside a sentence keeps that sentence
    ]


def test_sentence_context_keeps_abbreviations_and_colon_sentences_whole() -> None:
    text = "Fighting continued. Gen. Idris told the U.N. envoy: the regime used sarin:"
    assert (
        sentence_context(text)
        == "Fighting continued. Gen. Idris told the U.N. envoy: the regime used sarin:"
    )
    assert sentence_context("First. " + "X" * 90 + ". Watch:") == "X" * 90 + ". Watch:"


# --- heavy chrome: only the article is evidence ----------------------------------------------


def test_heavy_chrome_page_yields_exactly_the_article_media() -> None:
    result = extract_embeds(page("heavy_chrome.html"), "https://frontline.example/story/88231")

    assert set(urls(result)) == {
        "https://frontline.example/media/2024/02/avdiivka-coke-plant-2400.jpg",
        "https://www.dailymotion.com/video/x8abcd1",
        "https://www.facebook.com/110brigade/videos/1234567890123456/",
        "https://www.instagram.com/reel/C3xYz12AbCd/",
        "https://frontline.example/media/2024/02/avdiivka-drone-full.mp4",
        "https://www.tiktok.com/@frontline.reports/video/7335678901234567890",
    }
    assert len(result.embeds) == 6
    by_url = {e.url: e for e in result.embeds}
    hero = by_url["https://frontline.example/media/2024/02/avdiivka-coke-plant-2400.jpg"]
    assert (
        hero.context
        == "Smoke rises over the Avdiivka coke plant on 13 February. Photo: 110th Brigade"
    )
    facebook = by_url["https://www.facebook.com/110brigade/videos/1234567890123456/"]
    assert facebook.original_url.startswith("https://www.facebook.com/plugins/video.php?")
    assert (facebook.kind, facebook.platform, facebook.found_in) == (
        "platform",
        "facebook",
        "iframe",
    )
    mp4 = by_url["https://frontline.example/media/2024/02/avdiivka-drone-full.mp4"]
    assert (mp4.kind, mp4.media_type, mp4.found_in) == ("file", "video", "a-media")
    assert mp4.original_url.endswith("drone-full.mp4?utm_source=newsletter&utm_medium=email")
    assert mp4.context == (
        "The ministry released the full-resolution video file (MP4, 48 MB) for verification."
    )


def test_body_fallback_strips_page_chrome() -> None:
    html = """<html><body>
    <header><img src="/logo.png" width="300" height="80"></header>
    <nav><a href="https://www.youtube.com/watch?v=navNavNav01">Our channel</a></nav>
    <div class="share-buttons"><a href="https://twitter.com/intent/tweet?u=x">Tweet</a></div>
    <p>Footage from the front:</p><video src="/clips/front.mp4"></video>
    <div role="complementary"><img src="/promo.jpg" width="300" height="250"></div>
    <aside><img src="/sidebar.jpg" width="300" height="250"></aside>
    <footer><img src="/footer-logo.png" width="200" height="50"></footer>
    </body></html>"""
    result = extract_embeds(html, "https://site.example/a")
    assert urls(result) == ["https://site.example/clips/front.mp4"]
    assert result.embeds[0].context == "Footage from the front:"


@pytest.mark.parametrize(
    ("wrapper_class", "kept"),
    [
        ("shadow-box", True),
        ("header-image", True),
        ("download-link", True),
        ("social-embed", True),  # an embed container is media whatever else it says
        ("popup-gallery", True),  # a lightbox gallery holds the evidence photos
        ("image-popup", True),
        ("popup-youtube", True),  # Magnific Popup's player links
        ("popup-vimeo", True),
        ("newsletter-popup", False),
        ("promo-video", True),
        ("has-sidebar", True),  # a page state, not a sidebar
        ("promoted-video", False),
        ("ad-slot", False),
        ("gpt-ad", False),
        ("share-buttons", False),
        ("relatedPosts", False),
        ("author-photo", False),
        ("newsletter-signup", False),
        ("site-logo", False),
        ("sidebar-right", False),
        # a post's author portrait at 60 to 120 px, a teaser of another story, a donation
        # card: each was archived as the update's evidence
        ("live-blog-post-byline", False),
        ("liveblog-entry__author", False),
        ("contributor", False),
        ("wp-block-latest-posts", False),
        ("story-card", False),
        ("kg-cta-card", False),
        ("authority-report", True),  # "authority" is no author
        # teasers of other stories, as the FT and others name their rails
        ("o-teaser", False),
        ("teaser__image", False),
        ("author-name", False),
        ("cta-banner", False),
        ("live-post__contributor", False),  # a post's contributor box: their portrait
        ("adSlot", False),  # camelCase words
        ("shareBar", False),
        ("gptAdUnitID", False),
        ("adSlot300x250", False),  # with a size, a version or a one-letter word
        ("adUnit728x90", False),
        ("shareBarV2", False),
        ("relatedArticlesV2", False),
        ("shareOnX", False),
        ("adSlotA", False),
        ("post__share", False),  # a BEM element is words
        # generated names: the hash is no word ("mT0Ad" split at its capitals is "ad")
        ("LiveBlogPost_body__mT0Ad", True),
        ("Figure_figure__nDFpY", True),
        ("sc-kDvujY iAdHGt", True),
        # "social" is a site's share or follow bar, unless the name calls it a post
        ("social", False),
        ("social-links", False),
        ("socialIcons", False),
        ("site-social", False),
        ("footer-social", False),
        ("header-social", False),
        ("socials", False),
        ("socialmedia", False),
        ("op-social", True),
        ("social-media-post", True),
        ("social-post", True),
        ("social-tweet", True),
    ],
)
def test_chrome_is_matched_by_whole_class_words(wrapper_class: str, kept: bool) -> None:
    body = (
        "<p>" + "Long article text about the war. " * 20 + "</p>"
        f'<div class="{wrapper_class}"><img src="/photo.jpg" width="640" height="480"></div>'
    )
    assert bool(article(body).embeds) is kept


def test_an_instant_articles_social_figure_is_no_chrome() -> None:
    """Facebook Instant Articles markup (as WordPress's plugin writes feeds) puts social
    embeds in ``<figure class="op-social">``."""
    item = (
        "<p>UPDATE 1800 GMT: The governor posted a video of the aftermath:</p>"
        '<figure class="op-social"><iframe src="https://www.youtube.com/embed/JjJjJjJjJj1" '
        'width="560" height="315"></iframe></figure>'
    )
    result = extract_embeds(item, "https://news.example/2024/03/12/live")
    assert urls(result) == ["https://www.youtube.com/watch?v=JjJjJjJjJj1"]


@pytest.mark.parametrize(
    "wrapper",
    [
        "paragraph paragraph--type--social-media",  # Drupal Paragraphs bundle "social_media"
        "social-media-post",
    ],
)
def test_a_social_post_wrapper_keeps_its_post(wrapper: str) -> None:
    html = (
        "<html><body><main><article><h1>Live: war in Ukraine</h1><div class='entry-content'>"
        "<p>" + "Intro text of the live blog about the day and the war. " * 5 + "</p>"
        "<p>UPDATE 1800 GMT: The governor posted:</p>"
        f"<div class='{wrapper}'><blockquote class='twitter-tweet'><p>Strike</p>&mdash; Gov "
        "(@gov) <a href='https://twitter.com/gov/status/1767000000000000009'>March 12, 2024"
        "</a></blockquote></div></div></article></main></body></html>"
    )
    embed = only(extract_embeds(html, BASE))
    assert (embed.url, embed.update, embed.context) == (
        "https://twitter.com/gov/status/1767000000000000009",
        "UPDATE 1800 GMT",
        "The governor posted:",
    )


def test_a_sites_social_box_holding_its_channels_player_is_not_evidence() -> None:
    body = (
        "<p>UPDATE 18:00 GMT: " + "Long article text about the war. " * 20 + "</p>"
        "<iframe src='https://www.youtube.com/embed/AbCdEfGhIe5'></iframe>"
        "<div class='site-social'><p>Follow us</p><iframe src='https://www.youtube.com/embed/"
        "videoseries?list=UUxxxxxxxxxxxxxxxxxxxxxx' width='300' height='170'></iframe></div>"
    )
    html = f"<html><head><title>T</title></head><body><article>{body}</article></body></html>"
    assert urls(extract_embeds(html, BASE)) == ["https://www.youtube.com/watch?v=AbCdEfGhIe5"]


def _css_modules_live_blog(body_class: str, figure_class: str) -> str:
    """A Next.js live blog styled with CSS Modules (``File_local__hash``, Next.js's
    default naming) or styled-components (``sc-xxxx`` and a random class)."""
    posts = "".join(
        f'<article class="LiveBlogPost_post__x7Kq2" id="post-{i}"><header class='
        f'"LiveBlogPost_header__Qz3pL"><time datetime="2024-03-12T1{8 - i}:00:00Z">'
        f"1{8 - i}:00 GMT</time><h2>Strike on the port, part {i}</h2></header>"
        f'<div class="{body_class}"><p>Footage number {i} shows the strike on the port:</p>'
        f'<figure class="{figure_class}"><iframe src="https://www.youtube.com/embed/'
        f'IiIiIiIiIi{i}"></iframe></figure></div></article>'
        for i in range(1, 4)
    )
    return (
        "<html><head><title>Live</title></head><body><div id='__next'><main class="
        "'Page_main__3kLp9'><h1>Ukraine war live</h1><div class='LiveBlog_stream__8fJ2a'>"
        f"{posts}</div></main></div></body></html>"
    )


@pytest.mark.parametrize(
    ("body_class", "figure_class"),
    [
        ("LiveBlogPost_body__mT0Ad", "Embed_wrapper__k2Jx1"),  # "mT0Ad" held "ad"
        ("LiveBlogPost_body__k2Jx1", "Figure_figure__nXoAd"),
        ("LiveBlogPost_body__k2Jx1", "Figure_figure__nDFpY"),  # and "dfp"
        ("LiveBlogPost_body__xyzAd", "Embed_wrapper__k2Jx1"),  # "xyz", "Ad"
        ("LiveBlogPost_body__qvAdZK", "Embed_wrapper__k2Jx1"),
        ("LiveBlogPost_body__Ad_9k", "Embed_wrapper__k2Jx1"),  # base64's "/" and "+" as "_"
        ("LiveBlogPost_body__k_dfp", "Embed_wrapper__k2Jx1"),
        ("sc-kDvujY iAdHGt", "sc-hLBbgP fGhzQx"),  # styled-components: "i", "Ad", "HGt"
    ],
)
def test_a_generated_class_names_hash_is_no_chrome_word(body_class: str, figure_class: str) -> None:
    result = extract_embeds(_css_modules_live_blog(body_class, figure_class), BASE)
    assert urls(result) == [f"https://www.youtube.com/watch?v=IiIiIiIiIi{i}" for i in range(1, 4)]


def test_layout_wrapper_named_like_chrome_is_kept_when_it_holds_the_article() -> None:
    html = """<html><body><div class="content-sidebar-wrap">
    <div class="content"><p>The whole story is in here, with a lot of words about the war and
    the people who film it.</p><img src="/story.jpg" width="600" height="400"></div>
    <div class="sidebar"><img src="/sidebar.jpg" width="300" height="250"></div>
    </div></body></html>"""
    assert urls(extract_embeds(html, "https://site.example/")) == ["https://site.example/story.jpg"]


def test_largest_article_outside_chrome_is_the_content() -> None:
    html = """<html><body>
    <aside class="most-read"><article><h3>Teaser</h3><p>A teaser with quite a lot of text in
    it, longer than you would think.</p><img src="/teaser.jpg" width="300" height="170">
    </article></aside>
    <article><p>Short note.</p><img src="/note.jpg" width="600" height="400"></article>
    <article><p>The real story is the longest article on the page, with many words in it, and
    more words, and more.</p><img src="/story.jpg" width="600" height="400"></article>
    <div itemprop="articleBody" hidden></div>
    </body></html>"""
    assert urls(extract_embeds(html, "https://site.example/")) == ["https://site.example/story.jpg"]


def test_guardian_live_blog_blocks_are_all_read_each_under_its_header_label() -> None:
    html = """<html><body><header class="site-header"><nav><a href="/">Home</a></nav></header>
    <main><h1>Russia-Ukraine war live</h1><div id="liveblog-body">
    <article id="block-2" class="block"><header><div><a href="?page=with:block-2#block-2">
    <time datetime="2022-03-01T14:05:00Z">14.05 GMT</time></a></div>
    <h2>Strike on Kharkiv's Freedom Square</h2></header>
    <p>Footage appears to show a missile striking the regional administration building in
    Kharkiv, with cars passing in front of it.</p>
    <figure><iframe src="https://www.youtube-nocookie.com/embed/AAAAAAAAAAA"></iframe></figure>
    </article>
    <article id="block-1" class="block"><header><div><a href="#block-1">
    <time datetime="2022-03-01T13:40:00Z">13.40 GMT</time></a></div>
    <h2>Convoy north of Kyiv</h2></header>
    <p>Satellite images show the convoy.</p>
    <video src="/media/convoy.mp4"></video></article>
    </div></main>
    <aside><article class="block"><img src="/most-viewed.jpg" width="300" height="200">
    </article></aside></body></html>"""
    result = extract_embeds(html, "https://www.theguardian.example/world/live/2022/mar/01")
    assert [(e.url, e.update, e.context) for e in result.embeds] == [
        ("https://www.youtube.com/watch?v=AAAAAAAAAAA", "Strike on Kharkiv's Freedom Square",
         "Footage appears to show a missile striking the regional administration building in "
         "Kharkiv, with cars passing in front of it."),
        ("https://www.theguardian.example/media/convoy.mp4", "Convoy north of Kyiv",
         "Satellite images show the convoy."),
    ]  # fmt: skip


def test_an_update_without_a_recognised_label_does_not_inherit_the_one_before() -> None:
    """A block whose header shows "3h ago" first, or no title, took the previous
    block's title as its update, and a block opening with its photo took the previous
    block's last sentence as its context."""
    html = """<html><body><main><h1>Israel-Gaza war live</h1><div id="liveblog-body">
    <article class="block"><header><p><time>2h ago</time> 14.35 GMT</p>
    <h2>Strike on aid queue</h2></header>
    <p>Footage shows people running from the scene.</p>
    <iframe src="https://www.youtube.com/embed/AAAAAAAAAAA"></iframe></article>
    <article class="block"><figure><img src="/p/rafah.jpg" width="900" height="600"></figure>
    <p>Palestinians inspect the damage in Rafah this morning.</p></article>
    </div></main></body></html>"""
    result = extract_embeds(html, "https://www.theguardian.example/world/live/2024/mar/01")
    assert [(e.url, e.update, e.context) for e in result.embeds] == [
        ("https://www.youtube.com/watch?v=AAAAAAAAAAA", "Strike on aid queue",
         "Footage shows people running from the scene."),
        ("https://www.theguardian.example/p/rafah.jpg", None, None),
    ]  # fmt: skip


def test_microdata_live_blog_updates_are_all_read() -> None:
    html = """<html><body><div id="content"><h1>Ukraine war live</h1>
    <div itemprop="liveBlogUpdate" itemscope itemtype="http://schema.org/BlogPosting">
    <p class="block-time"><time>14.05 GMT</time></p><div itemprop="articleBody">
    <p>Footage from Kharkiv shows the strike on the square, with many people around it.</p>
    <iframe src="https://www.youtube.com/embed/AAAAAAAAAAA"></iframe></div></div>
    <div itemprop="liveBlogUpdate" itemscope itemtype="http://schema.org/BlogPosting">
    <p class="block-time"><time>13.40 GMT</time></p><div itemprop="articleBody">
    <p>Earlier clip.</p><video src="/v2.mp4"></video></div></div>
    </div></body></html>"""
    result = extract_embeds(html, "https://site.example/live")
    assert [(e.url, e.update) for e in result.embeds] == [
        ("https://www.youtube.com/watch?v=AAAAAAAAAAA", "14.05 GMT"),
        ("https://site.example/v2.mp4", "13.40 GMT"),
    ]


@pytest.mark.parametrize(
    "wrap",
    [
        "<div id='posts'>{}</div>",  # siblings (BBC live pages: class-less <article> posts)
        "<ol>{}</ol>",  # each post in <li><div><article>: cousins three levels down
    ],
    ids=["siblings", "cousins"],
)
def test_class_less_article_posts_are_all_read(wrap: str) -> None:
    """Class-less posts never counted as alike, so only the largest was read."""
    posts = [
        ("Drone footage shows damage", "Footage has emerged of the aftermath.", "drone.mp4"),
        ("Photo from Kyiv", "A building hit overnight.", "kyiv.jpg"),
        ("Port of Odesa", "Smoke over the port this morning.", "odesa.jpg"),
    ]
    tag = {"mp4": "video", "jpg": "img"}
    articles = [
        f"<article><header><h3>{title}</h3></header><p>{said}</p>"
        f"<{tag[name[-3:]]} src='/m/{name}' width='976' height='549'></article>"
        for title, said, name in posts
    ]
    if wrap.startswith("<ol>"):
        articles = [f"<li><div class='post'>{article}</div></li>" for article in articles]
    html = f"<html><body><main><h1>Ukraine war: latest</h1>{wrap.format(''.join(articles))}"
    result = extract_embeds(html + "</main></body></html>", "https://news.example/live")
    assert [(e.url.rsplit("/", 1)[1], e.update) for e in result.embeds] == [
        (name, title) for title, _, name in posts
    ]


def test_a_teaser_article_outside_the_story_does_not_take_its_place() -> None:
    """A live blog in <main> without <article> (Al Jazeera's updates) lost every update
    to an <article> teaser card below it: the first selector that matched won."""
    updates = "".join(
        f"<li class='liveblog-timeline__update'><h2>{title}</h2><div class='wysiwyg'>"
        f"<p>{said}</p><img src='/uploads/{name}' width='770' height='513'></div></li>"
        for title, said, name in [
            ("Rafah residents flee", "Thousands are on the move to the south:", "rafah.jpg"),
            ("UN warns of famine", "Children queue for food in the north.", "famine.jpg"),
        ]
    )
    html = f"""<html><body><main><h1>Israel-Gaza war live</h1><ul>{updates}</ul></main>
    <div class="more-on-this"><article class="gc"><h3><a href="/news/other">Another story</a>
    </h3><img src="/uploads/teaser.jpg" width="270" height="180"></article></div></body></html>"""
    result = extract_embeds(html, "https://news.example/liveblog/2024/3/1/x")
    assert [(e.url.rsplit("/", 1)[1], e.update) for e in result.embeds] == [
        ("rafah.jpg", "Rafah residents flee"),
        ("famine.jpg", "UN warns of famine"),
    ]


def test_story_with_teasers_alike_to_it_keeps_only_the_story() -> None:
    html = """<html><body><main><article class="post"><h1>The story</h1><p>The real story is
    long, with many words in it about the war and the footage.</p>
    <img src="/story.jpg" width="600" height="400"></article>
    <article class="post"><h3>Teaser</h3><img src="/teaser.jpg" width="300" height="200">
    </article></main></body></html>"""
    assert urls(extract_embeds(html, "https://site.example/")) == ["https://site.example/story.jpg"]


def test_article_body_itemprop_wins_over_article() -> None:
    html = """<html><body><article><div class="intro"><img src="/intro.jpg" width="900"
    height="500"></div><div itemprop="articleBody"><p>Body.</p><img src="/body.jpg"
    width="900" height="500"></div></article></body></html>"""
    assert urls(extract_embeds(html, "https://site.example/")) == ["https://site.example/body.jpg"]


@pytest.mark.parametrize(
    "img",
    [
        '<img src="/p.gif" width="1" height="1">',
        '<img src="/p.gif" width="0" height="0">',
        '<img src="/icon.png" width="32" height="32">',
        '<img src="/spacer.png" style="width:1px;height:1px">',
        '<img src="/wide-but-one.png" width="600" height="1">',
        '<img src="/logo.svg" width="300" height="100">',
        '<img src="https://secure.gravatar.com/avatar/abc?s=200" width="200" height="200">',
        '<img src="https://ad.doubleclick.net/ddm/ad/x.jpg" width="300" height="250">',
        '<img src="https://www.facebook.com/tr?id=1&ev=PageView&noscript=1">',
        '<img src="https://pixel.wp.com/g.gif?blog=1">',
        '<img src="/static/ads/banner.jpg" width="728" height="90">',
        '<iframe src="https://securepubads.g.doubleclick.net/gampad/ads?sz=300x250"></iframe>',
        '<iframe src="https://www.facebook.com/plugins/like.php?href=x" width="90" height="20">',
        '<iframe src="https://www.facebook.com/plugins/share_button.php?href=x"></iframe>',
        '<iframe src="https://platform.twitter.com/widgets/follow_button.html"></iframe>',
        '<script async src="https://platform.twitter.com/widgets.js"></script>',
        '<a href="/2013/09/another-article/">Another article</a>',
        '<a href="https://twitter.com/RaqqaMC">@RaqqaMC</a>',
        '<a href="https://www.reddit.com/r/syriancivilwar/">r/syriancivilwar</a>',
        '<a href="https://www.youtube.com/channel/UCabc">their channel</a>',
        '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">',
        '<iframe src="javascript:void(0)"></iframe>',
        '<video src="blob:https://news.example/1234"></video>',
        '<amp-img src="/icons/share.png" width="24" height="24" layout="fixed"></amp-img>',
        '<amp-youtube layout="responsive" width="16" height="9"></amp-youtube>',  # no id
        # WordPress emoji and smilies, text-sized
        '<img src="https://s.w.org/images/core/emoji/14.0.0/72x72/1f1fa-1f1e6.png" alt="🇺🇦"'
        ' class="wp-smiley" style="height: 1em; max-height: 1em;">',
        '<img class="emoji" alt="💪" src="https://s.w.org/images/core/emoji/2.2.1/72x72/1f4aa.png">',
        '<img src="/wp-includes/images/smilies/icon_smile.gif" alt=":)" class="wp-smiley">',
        '<img src="/icons/flag.png" style="width:1.2em">',
        '<img src="/rule.png" width="100%" height="20">',  # a rule across the column
        '<div class="byline-img"><img class="byline-img__img" src="/uploads/Shaun-Walker.png"'
        ' width="300" height="300"></div>',
        # a lazy loader's stand-ins, whatever size they are drawn at
        '<img class="lazyload" src="/img/grey.gif" width="900" height="600">',
        '<img src="/img/loading.gif" data-thumb="/p/t.jpg" width="900" height="600">',
        '<img src="/img/blank.gif">',
        '<img src="/img/placeholder.jpg" width="800" height="600">',
        '<img src="/img/loading.gif" data-lazy-load="https://cdn.example/images/12345"'
        ' width="800" height="600">',
    ],
)
def test_pixels_icons_ads_widgets_and_plain_links_are_not_media(img: str) -> None:
    assert article(f"<p>Text.</p>{img}").embeds == []


# --- patterns: every way a page embeds media -------------------------------------------------


@pytest.mark.parametrize(
    ("markup", "url", "kind", "found_in"),
    [
        ('<iframe src="about:blank" data-src="https://player.vimeo.com/video/42"></iframe>',
         "https://vimeo.com/42", "platform", "iframe"),
        ('<iframe class="lazy" src="/img/placeholder.html" data-lazy-src="//www.youtube.com/embed/'
         'abc123XYZ_0"></iframe>', "https://www.youtube.com/watch?v=abc123XYZ_0", "platform",
         "iframe"),
        ('<iframe src="https://video.unknown-host.example/embed/8841?autoplay=0&utm_campaign=x">'
         "</iframe>", "https://video.unknown-host.example/embed/8841?autoplay=0", "player",
         "iframe"),
        ('<iframe src="https://platform.twitter.com/embed/Tweet.html?id=383940123456789012">'
         "</iframe>", "https://twitter.com/i/status/383940123456789012", "platform", "iframe"),
        ('<iframe src="https://t.me/aleppo_now/1543?embed=1" width="100%"></iframe>',
         "https://t.me/aleppo_now/1543", "platform", "iframe"),
        # SoundCloud's mini player: as wide as the column, 20 px high, no icon
        ('<iframe width="100%" height="20" scrolling="no" src="https://w.soundcloud.com/player/'
         '?url=https%3A//api.soundcloud.com/tracks/1234567"></iframe>', "https://w.soundcloud."
         "com/player/?url=https%3A//api.soundcloud.com/tracks/1234567", "player",
         "iframe"),
        ('<iframe style="width: 100%; height: 20px" src="https://video.unknown-host.example/mini/'
         '8841"></iframe>', "https://video.unknown-host.example/mini/8841", "player", "iframe"),
        # Facebook's video frame of 2010-2013
        ('<iframe src="http://www.facebook.com/video/embed?video_id=4325786853421" width="400" '
         'height="224"></iframe>', "https://www.facebook.com/watch/?v=4325786853421", "platform",
         "iframe"),
        ('<embed src="https://media.example/flash/clip.swf" width="400" height="300">',
         "https://media.example/flash/clip.swf", "player", "iframe"),
        ('<object data="https://www.dailymotion.com/swf/video/x8abcd1" width="480" height="270">'
         "</object>", "https://www.dailymotion.com/video/x8abcd1", "platform", "iframe"),
        ('<object width="400" height="300"><param name="movie" value="/player.swf"><param '
         'name="flashvars" value="file=/video/homs.flv&amp;image=/video/homs.jpg"></object>',
         "https://news.example/video/homs.flv", "file", "iframe"),
        ('<blockquote class="instagram-media"><a href="https://www.instagram.com/p/CxAbC12dEfG/'
         '?utm_source=ig_embed">A post shared by x</a></blockquote>',
         "https://www.instagram.com/p/CxAbC12dEfG/", "platform", "blockquote"),
        ('<blockquote class="tiktok-embed" data-video-id="7335678901234567890"><section>x'
         "</section></blockquote>", "https://www.tiktok.com/@/video/7335678901234567890",
         "platform", "blockquote"),
        # Threads' snippet names the post in an attribute; a copy without it, by its link
        ('<blockquote class="text-post-media" data-text-post-permalink="https://www.threads.net/'
         '@aleppo.media/post/C9vX2aLtQzP?xmt=AQGz" data-text-post-version="0"><a href="https://'
         'www.threads.net/@aleppo.media/post/C9vX2aLtQzP">View on Threads</a></blockquote>',
         "https://www.threads.com/@aleppo.media/post/C9vX2aLtQzP", "platform", "blockquote"),
        ('<blockquote class="text-post-media"><a href="https://www.threads.net/@aleppo.media">'
         '@aleppo.media</a> <a href="https://www.threads.com/t/C9vX2aLtQzP">View on Threads</a>'
         "</blockquote>", "https://www.threads.com/t/C9vX2aLtQzP", "platform", "blockquote"),
        # Bluesky's snippet names the post by its AT URI; a copy without it, by its links
        ('<blockquote class="bluesky-embed" data-bluesky-uri="at://did:plc:ewvi7nxzyoun6zhxrhs64'
         'oiz/app.bsky.feed.post/3l6oveex3ii2l"><p>Smoke</p></blockquote>', "https://bsky.app/"
         "profile/did:plc:ewvi7nxzyoun6zhxrhs64oiz/post/3l6oveex3ii2l", "platform", "blockquote"),
        ('<blockquote class="bluesky-embed"><p>Smoke</p>&mdash; KI (<a href="https://bsky.app/'
         'profile/kyivindependent.bsky.social">@kyivindependent.bsky.social</a>) <a href="https:'
         '//bsky.app/profile/kyivindependent.bsky.social/post/3l6oveex3ii2l?ref_src=embed">Oct'
         "ober 14</a></blockquote>", "https://bsky.app/profile/kyivindependent.bsky.social/post/"
         "3l6oveex3ii2l", "platform", "blockquote"),
        # Imgur's snippet names the post or album in data-id, its link the same; the frame
        # its script puts in place
        ('<blockquote class="imgur-embed-pub" lang="en" data-id="a/Qx7pLm2" data-context="false">'
         '<a href="//imgur.com/a/Qx7pLm2">Shelling of the market</a></blockquote><script async '
         'src="//s.imgur.com/min/embed.js" charset="utf-8"></script>',
         "https://imgur.com/a/Qx7pLm2", "platform", "blockquote"),
        ('<blockquote class="imgur-embed-pub" lang="en"><a href="https://imgur.com/user/aleppo">'
         'aleppo</a> <a href="https://imgur.com/A61SaA1">View post on imgur.com</a></blockquote>',
         "https://imgur.com/A61SaA1", "platform", "blockquote"),
        ('<iframe allowfullscreen="true" class="imgur-embed-iframe-pub imgur-embed-iframe-pub-a-'
         'Qx7pLm2-false-540" scrolling="no" src="https://imgur.com/a/Qx7pLm2/embed?pub=true&amp;'
         'ref=https%3A%2F%2Fnews.example%2Flive&amp;w=540" id="imgur-embed-iframe-pub-a-Qx7pLm2">'
         "</iframe>", "https://imgur.com/a/Qx7pLm2", "platform", "iframe"),
        ('<div class="fb-video" data-href="https://www.facebook.com/110brigade/videos/1234567/">'
         "</div>", "https://www.facebook.com/110brigade/videos/1234567/", "platform", "xfbml"),
        ('<script async src="https://telegram.org/js/telegram-widget.js?22" '
         'data-telegram-post="s/aleppo_now/77"></script>',
         "https://t.me/aleppo_now/77", "platform", "telegram-widget"),
        ('<video src="/clips/raqqa.mp4" poster="/clips/raqqa.jpg"></video>',
         "https://news.example/clips/raqqa.mp4", "file", "video"),
        ('<video data-src="https://cdn.example/stream/9f8e7d"></video>',
         "https://cdn.example/stream/9f8e7d", "file", "video"),
        ('<audio src="/audio/statement.mp3" controls></audio>',
         "https://news.example/audio/statement.mp3", "file", "audio"),
        ('<img src="/p/small.jpg" srcset="/p/small.jpg 400w, /p/large.jpg 1600w, /p/mid.jpg 800w">',
         "https://news.example/p/large.jpg", "file", "img"),
        ('<img src="data:image/gif;base64,R0lGOD" data-original="/p/full.jpg" width="800">',
         "https://news.example/p/full.jpg", "file", "img"),
        ('<img src="/img/blank.gif" data-lazy-src="/p/homs-market.jpg">',
         "https://news.example/p/homs-market.jpg", "file", "img"),
        # named as stand-ins are, but no loader touches it and it is photo-sized
        ('<img src="/p/clear.jpg" width="900" height="600" alt="Block.">',
         "https://news.example/p/clear.jpg", "file", "img"),
        # a stand-in with the photo in a <noscript> copy after it
        ('<img src="/t/grey.png" width="800" height="600"><noscript><img src="/p/photo.jpg">'
         "</noscript>", "https://news.example/p/photo.jpg", "file", "img"),
        ('<img data-src="/p/x-600.jpg" data-full-src="/p/x-2000.jpg" width="600">',
         "https://news.example/p/x-2000.jpg", "file", "img"),  # the full size, not the lazy one
        ('<img src="/p/x-1024x683.jpg" data-orig-file="/p/x.jpg" width="1024">',
         "https://news.example/p/x.jpg", "file", "img"),  # Jetpack's original upload
        ('<iframe src="about:blank" data-src-cmplz="https://www.youtube.com/embed/abc123XYZ_0">'
         "</iframe>", "https://www.youtube.com/watch?v=abc123XYZ_0", "platform", "iframe"),
        ('<iframe data-cookieblock-src="https://player.vimeo.com/video/42"></iframe>',
         "https://vimeo.com/42", "platform", "iframe"),  # held back until consent
        ("<iframe srcdoc='<blockquote class=&quot;twitter-tweet&quot;><p>Shelling</p><a href="
         "&quot;https://twitter.com/RaqqaMC/status/383940123456789012&quot;>Sept 28</a>"
         "</blockquote>'></iframe>",
         "https://twitter.com/RaqqaMC/status/383940123456789012", "platform", "iframe"),
        ('<noscript>&lt;img src="/p/escaped-fallback.jpg" width="640"&gt;</noscript>',
         "https://news.example/p/escaped-fallback.jpg", "file", "img"),
        ('<div class="lazy-tweet"><noscript><blockquote class="twitter-tweet"><p>Shelling</p>'
         '<a href="https://twitter.com/RaqqaMC/status/383940123456789012">Sept 28</a>'
         "</blockquote></noscript></div>",  # a lazy embed's fallback for readers without scripts
         "https://twitter.com/RaqqaMC/status/383940123456789012", "platform", "blockquote"),
        ('<noscript><blockquote><p>A quote</p><img src="/p/quoted.jpg"></blockquote></noscript>',
         "https://news.example/p/quoted.jpg", "file", "img"),
        ('<picture><source srcset="/p/a-800.avif 800w, /p/a-2000.avif 2000w" type="image/avif">'
         '<img src="/p/a-800.jpg"></picture>', "https://news.example/p/a-2000.avif", "file",
         "picture"),
        ('<a href="/p/full-size.JPG"><img src="/p/thumb.jpg" width="150" height="100"></a>',
         "https://news.example/p/full-size.JPG", "file", "a-img"),
        ('<a href="/v/clip.mp4"><img src="/v/clip-poster.jpg" width="320" height="180"></a>',
         "https://news.example/v/clip.mp4", "file", "a-media"),
        ('<p>Download <a href="/docs/../v/clip.webm">the clip</a>.</p>',
         "https://news.example/v/clip.webm", "file", "a-media"),
        ('<p>See <a href="https://youtu.be/abc123XYZ_0?si=share">the video</a>.</p>',
         "https://www.youtube.com/watch?v=abc123XYZ_0", "platform", "a-platform"),
        ('<a href="https://www.youtube.com/watch?v=abc123XYZ_0"><img src="https://i.ytimg.com/vi/'
         'abc123XYZ_0/hqdefault.jpg" width="480" height="360"></a>',
         "https://www.youtube.com/watch?v=abc123XYZ_0", "platform", "a-platform"),
        # Brightcove in the page itself (news sites): the element names account and video
        ('<video-js data-account="1234567890001" data-player="default" data-embed="default" '
         'controls data-video-id="6312345678112" class="vjs-fluid"></video-js>',
         "https://players.brightcove.net/1234567890001/default_default/index.html"
         "?videoId=6312345678112", "platform", "video"),
        ('<video data-video-id="ref:aje-2024-citadel" data-account="665003303001" '
         'data-player="SkrZHHcl" data-embed="default" class="video-js" controls></video>',
         "https://players.brightcove.net/665003303001/SkrZHHcl_default/index.html"
         "?videoId=ref%3Aaje-2024-citadel", "platform", "video"),
        # Sky draws its Brightcove player from a div; the still inside is not a photo
        ('<div class="sdc-site-video" data-provider="brightcove" data-account-id="60579849220'
         '01" data-player-id="r1aBcD2eF" data-video-id="6349001234112"><img src="/still.jpg" '
         'width="800" height="450"></div>', "https://players.brightcove.net/6057984922001/"
         "r1aBcD2eF_default/index.html?videoId=6349001234112", "platform", "video"),
        ('<script src="https://cdn.jwplayer.com/players/nPripu9l-ALJ3XQCI.js"></script>',
         "https://cdn.jwplayer.com/v2/media/nPripu9l", "player", "jwplayer-script"),
        # Dailymotion's player script; Telegram's post on the element drawn in its place
        ('<script src="https://geo.dailymotion.com/player/x1abc.js" data-video="x8def34">'
         "</script>", "https://www.dailymotion.com/video/x8def34", "platform",
         "dailymotion-script"),
        ('<blockquote class="telegram-post" data-telegram-post="odeskaODA/12345"></blockquote>',
         "https://t.me/odeskaODA/12345", "platform", "telegram-widget"),
        ('<iframe src="https://www.youtube.com/embed/live_stream?channel=UCabcdefghijklmnopqrst'
         'uv"></iframe>', "https://www.youtube.com/channel/UCabcdefghijklmnopqrstuv/live",
         "platform", "iframe"),
        ('<blockquote class="reddit-embed-bq" data-embed-height="546"><a href="https://www.'
         'reddit.com/r/syriancivilwar/comments/1ab2cd3/fighting_near_the_citadel/">Fighting '
         'near the Citadel</a><br> by <a href="https://www.reddit.com/user/aleppo_now/">u/'
         'aleppo_now</a> in <a href="https://www.reddit.com/r/syriancivilwar/">syriancivilwar'
         '</a></blockquote>', "https://www.reddit.com/comments/1ab2cd3/", "platform",
         "blockquote"),
        ('<p>Footage: <a href="https://v.redd.it/x8k2p4q9zr1c1">the video</a>.</p>',
         "https://v.redd.it/x8k2p4q9zr1c1", "platform", "a-platform"),
        ('<img src="https://i.redd.it/4f2x9q8k1zr1c1.jpeg" width="1080" height="720">',
         "https://i.redd.it/4f2x9q8k1zr1c1.jpeg", "file", "img"),
        # AMP pages' own elements
        ('<amp-img src="/p/amp-photo.jpg" width="16" height="9" layout="responsive"></amp-img>',
         "https://news.example/p/amp-photo.jpg", "file", "img"),
        ('<amp-video width="640" height="360" layout="responsive" poster="/v/p.jpg"><source '
         'src="/v/amp-clip.mp4" type="video/mp4"><div fallback>No video</div></amp-video>',
         "https://news.example/v/amp-clip.mp4", "file", "video"),
        ('<amp-youtube data-videoid="abc123XYZ_0" layout="responsive" width="480" height="270">'
         '<amp-img src="https://i.ytimg.com/vi/abc123XYZ_0/hqdefault.jpg" placeholder '
         'layout="fill"></amp-img></amp-youtube>',
         "https://www.youtube.com/watch?v=abc123XYZ_0", "platform", "amp-youtube"),
        ('<amp-twitter width="375" height="472" layout="responsive" '
         'data-tweetid="383940123456789012"></amp-twitter>',
         "https://twitter.com/i/status/383940123456789012", "platform", "amp-twitter"),
        ('<amp-instagram data-shortcode="CxAbC12dEfG" width="1" height="1" layout="responsive">'
         "</amp-instagram>", "https://www.instagram.com/p/CxAbC12dEfG/", "platform",
         "amp-instagram"),
        ('<amp-vimeo data-videoid="27246366" layout="responsive" width="500" height="281">'
         "</amp-vimeo>", "https://vimeo.com/27246366", "platform", "amp-vimeo"),
        ('<amp-brightcove data-account="1290862519001" data-player-id="SJWAiyYWg" '
         'data-video-id="ref:amp-test-video" layout="responsive" width="480" height="270">'
         "</amp-brightcove>", "https://players.brightcove.net/1290862519001/SJWAiyYWg_default/"
         "index.html?videoId=ref%3Aamp-test-video", "platform", "video"),
        ('<amp-jwplayer data-media-id="BZ6tc0gy" data-player-id="uoIbMPm3" layout="responsive"'
         ' width="16" height="9"></amp-jwplayer>', "https://cdn.jwplayer.com/v2/media/BZ6tc0gy",
         "player", "amp-jwplayer"),
        ('<amp-iframe width="300" height="300" layout="responsive" sandbox="allow-scripts" '
         'src="https://player.vimeo.com/video/42"></amp-iframe>', "https://vimeo.com/42",
         "platform", "iframe"),
        # click-to-play facades: the still stands in for the player until a click
        ('<lite-youtube videoid="abc123XYZ_0" playlabel="Play: Citadel"><a class="lty-playbtn"'
         ' href="https://www.youtube.com/watch?v=abc123XYZ_0"></a></lite-youtube>',
         "https://www.youtube.com/watch?v=abc123XYZ_0", "platform", "lite-youtube"),
        ('<lite-vimeo videoid="364402896"></lite-vimeo>', "https://vimeo.com/364402896",
         "platform", "lite-vimeo"),
        ('<div class="youtube-facade" data-id="abc123XYZ_0"><img src="https://i.ytimg.com/vi/'
         'abc123XYZ_0/hqdefault.jpg" width="480" height="360"><button>Play</button></div>',
         "https://www.youtube.com/watch?v=abc123XYZ_0", "platform", "img"),
        ('<div class="lyte-wrapper"><div class="lyte" id="WYL_abc123XYZ_0"></div><noscript><a '
         'href="https://youtu.be/abc123XYZ_0"><img src="https://i.ytimg.com/vi/abc123XYZ_0/0.jpg"'
         ' alt="" width="640" height="340"></a></noscript></div>',
         "https://www.youtube.com/watch?v=abc123XYZ_0", "platform", "img"),
    ],
)  # fmt: skip
def test_each_embedding_pattern_is_found(markup: str, url: str, kind: str, found_in: str) -> None:
    embed = only(article(f"<p>Intro.</p>{markup}"))
    assert (embed.url, embed.kind, embed.found_in) == (url, kind, found_in)


def test_an_embed_snippet_written_inside_a_frame_without_address_is_read() -> None:
    """Instant Articles wraps a platform's snippet as ``<figure class="op-interactive">
    <iframe>SNIPPET</iframe></figure>``; the parser keeps the snippet as the frame's text."""
    item = (
        "<p>UPDATE 1800 GMT: The governor posted on X:</p>"
        '<figure class="op-interactive"><iframe><blockquote class="twitter-tweet"><p>Strike'
        '</p>&mdash; Gov (@gov) <a href="https://twitter.com/gov/status/1767000000000000010">'
        'March 12, 2024</a></blockquote><script async src="https://platform.twitter.com/'
        'widgets.js"></script></iframe></figure>'
        '<figure class="op-interactive"><iframe class="no-margin"><blockquote class='
        '"instagram-media" data-instgrm-permalink="https://www.instagram.com/p/C4abcdEFGhi/">'
        '<a href="https://www.instagram.com/p/C4abcdEFGhi/">View</a></blockquote><script async'
        ' src="//www.instagram.com/embed.js"></script></iframe></figure>'
        # a frame's fallback text is no document
        "<iframe>Your browser does not show frames.</iframe>"
    )
    result = extract_embeds(item, "https://news.example/2024/03/12/live")
    assert [(e.url, e.update, e.found_in) for e in result.embeds] == [
        ("https://twitter.com/gov/status/1767000000000000010", "UPDATE 1800 GMT", "iframe"),
        ("https://www.instagram.com/p/C4abcdEFGhi/", "UPDATE 1800 GMT", "iframe"),
    ]


@pytest.mark.parametrize(
    ("template", "found"),
    [
        ('<template shadowrootmode="open">', True),
        ('<template shadowroot="closed">', True),  # Chrome's first spelling
        ("<template>", False),  # a plain template is never shown
    ],
)
def test_a_declarative_shadow_roots_content_is_read(template: str, found: bool) -> None:
    """A web component's player in its declarative shadow root, which every current
    browser shows, was skipped as a template."""
    html = (
        "<html><head><title>Live</title></head><body><main><article><h1>Live: Sudan</h1>"
        "<p>UPDATE 18:00 GMT: Residents filmed the attack on the market:</p>"
        f'<video-embed>{template}<div class="player"><iframe src='
        '"https://www.youtube.com/embed/DdDdDdDdDd1"></iframe></div></template></video-embed>'
        "</article></main></body></html>"
    )
    embed = (
        "https://www.youtube.com/watch?v=DdDdDdDdDd1",
        "UPDATE 18:00 GMT",
        "Residents filmed the attack on the market:",
    )
    embeds = extract_embeds(html, BASE).embeds
    assert [(e.url, e.update, e.context) for e in embeds] == ([embed] if found else [])


def test_a_frames_fallback_markup_is_no_document() -> None:
    html = (
        "<html><body><article><p>UPDATE 18:00 GMT: Video:</p>"
        "<iframe width='560' height='315'><p>Your browser does not support frames.</p>"
        "<img src='/static/noframes.gif' width='560' height='315'></iframe>"
        "</article></body></html>"
    )
    assert extract_embeds(html, "https://news.example/live").embeds == []


def test_a_youtube_thumbnail_is_its_video_and_keeps_the_url_the_page_gave() -> None:
    """A facade shows only the still: the page's reader saw the video, which is the
    evidence; one video under its still and its player is one embed."""
    still = "https://i.ytimg.com/vi_webp/abc123XYZ_0/maxresdefault.webp"
    found = article(
        f'<p>Fighters near the Citadel:</p><picture><img src="{still}" alt="Citadel"></picture>'
        '<iframe src="https://www.youtube.com/embed/abc123XYZ_0"></iframe>'
        '<img src="https://i.ytimg.com/vi/not-an-id/hqdefault.jpg" width="480">'
    )
    video, other = found.embeds
    assert (video.url, video.original_url, video.media_type) == (
        "https://www.youtube.com/watch?v=abc123XYZ_0",
        still,
        "video",
    )
    assert video.context == "Fighters near the Citadel:" and video.metadata == {"alt": "Citadel"}
    assert (other.kind, other.found_in) == ("file", "img")  # not a video id: just an image


def test_old_flash_youtube_object_embed_is_found_once() -> None:
    result = article(
        "<p>Activists posted this video of shelling in Homs:</p>"
        '<object width="640" height="360"><param name="movie" value="http://www.youtube.com/v/'
        'dQw4w9WgXcQ&amp;hl=en_US&amp;feature=player_embedded&amp;version=3"></param>'
        '<param name="allowFullScreen" value="true"></param><embed src="http://www.youtube.com'
        '/v/dQw4w9WgXcQ&amp;hl=en_US&amp;feature=player_embedded&amp;version=3" '
        'type="application/x-shockwave-flash" width="640" height="360"></embed></object>'
    )
    embed = only(result)
    assert embed.url == "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    assert embed.original_url.startswith("http://www.youtube.com/v/dQw4w9WgXcQ&hl=en_US")
    assert embed.context == "Activists posted this video of shelling in Homs:"


def test_gallery_images_take_their_own_caption_not_a_sibling_figures() -> None:
    result = article(
        "<p>Residents filmed the aftermath of the strike on the market.</p>"
        '<figure class="wp-block-gallery has-nested-images columns-2">'
        '<figure class="wp-block-image size-large"><img src="/a.jpg" width="800" height="600">'
        "</figure>"
        '<figure class="wp-block-image size-large"><img src="/b.jpg" width="800" height="600">'
        '<figcaption class="wp-element-caption">Rescue workers in Kherson, 3 May</figcaption>'
        "</figure>"
        '<figcaption class="blocks-gallery-caption">Photos from the market, Odesa</figcaption>'
        "</figure>"
    )
    assert [(e.url, e.context) for e in result.embeds] == [
        ("https://news.example/a.jpg", "Photos from the market, Odesa"),
        ("https://news.example/b.jpg", "Rescue workers in Kherson, 3 May"),
    ]


def test_the_bbcs_delayed_images_are_found_at_the_photos_width() -> None:
    """BBC pages of 2011 to 2020 hold their photos in a ``<div>`` its script turned into
    an ``<img>``, naming a small rendition and the photo's width."""
    src = "https://ichef.bbci.co.uk/news/320/cpsprodpb/4CF4/production/_87600791_87600370.jpg"
    result = article(
        "<p>Rescuers worked through the night.</p><figure><span class='image-and-copyright-"
        f"container'><div class='js-delayed-image-load' data-alt='Rescuers in Aleppo' data-src"
        f"='{src}' data-width='976' data-height='549'></div></span><figcaption><span class="
        "'off-screen'>Image caption</span><span class='media-caption__text'>Rescuers in the "
        "Bustan al-Qasr district</span></figcaption></figure>"
    )
    (embed,) = result.embeds
    assert (embed.url, embed.original_url, embed.kind, embed.metadata, embed.context) == (
        src.replace("/news/320/", "/news/976/"),
        src,
        "file",
        {"alt": "Rescuers in Aleppo"},
        "Rescuers in the Bustan al-Qasr district",  # "Image caption" is for screen readers
    )


def test_a_figure_without_a_caption_does_not_take_the_next_figures() -> None:
    """The next figure counted as a caption when its media was no HTML element (an AMP
    image, a Telegram widget's script, a bare address WordPress could not embed)."""
    result = article(
        "<p>Footage from Kharkiv shows the aftermath.</p><figure><amp-youtube data-videoid="
        "'Ff12GhIjKl5' layout='responsive' width='480' height='270'></amp-youtube></figure>"
        "<figure><amp-img src='/k.jpg' width='1200' height='800' layout='responsive'>"
        "</amp-img><figcaption>A destroyed school in Kharkiv.</figcaption></figure>"
        "<p>The governor posted:</p><figure class='wp-block-embed is-provider-facebook'><div"
        " class='wp-block-embed__wrapper'>https://www.facebook.com/watch/?v=1015123456789</div>"
        "</figure><figure class='wp-block-embed is-provider-instagram'><div class='wp-block-"
        "embed__wrapper'>https://www.instagram.com/p/CxYz123abcD/</div><figcaption>Posted by"
        " the governor</figcaption></figure>"
    )
    assert [e.context for e in result.embeds] == [
        "Footage from Kharkiv shows the aftermath.",
        "A destroyed school in Kharkiv.",
        "The governor posted:",
        "Posted by the governor",
    ]


def test_every_element_read_as_media_is_a_media_tag() -> None:
    """Text and caption readers stop at MEDIA_TAGS: an element the extractor reads as
    media and they do not know was read as words."""
    read_as_media = set(_ContentWalker._HANDLERS) - {"noscript", "a", "div", "script"}
    assert read_as_media <= MEDIA_TAGS


def test_one_post_under_several_spellings_on_a_page_is_one_embed() -> None:
    result = article(
        '<p>The ministry posted:</p><iframe src="https://platform.twitter.com/embed/Tweet.html?'
        'id=1498591817536430082" width="550" height="600"></iframe>'
        '<blockquote class="twitter-tweet"><p>text</p>&mdash; BBC (@BBCWorld) <a href="'
        'https://twitter.com/BBCWorld/status/1498591817536430082">March 1, 2022</a></blockquote>'
        '<p>As <a href="https://x.com/bbcworld/status/1498591817536430082">the BBC posted</a>.</p>'
        '<iframe src="https://www.tiktok.com/embed/v2/7234567890123456789"></iframe>'
        '<blockquote class="tiktok-embed" cite="https://www.tiktok.com/@user.name/video/'
        '7234567890123456789"><a href="https://www.tiktok.com/@user.name">@user.name</a>'
        "</blockquote>"
    )
    assert [(e.url, e.found_in, e.context) for e in result.embeds] == [
        ("https://twitter.com/BBCWorld/status/1498591817536430082", "iframe",
         "The ministry posted:"),
        ("https://www.tiktok.com/@user.name/video/7234567890123456789", "iframe",
         "As the BBC posted."),
    ]  # fmt: skip
    assert result.embeds[0].original_url == (
        "https://twitter.com/BBCWorld/status/1498591817536430082"
    )


def test_platform_embeds_keep_the_url_the_page_gave() -> None:
    embed = only(article('<iframe src="//www.youtube-nocookie.com/embed/abc123XYZ_0?si=x">'))
    assert embed.original_url == "https://www.youtube-nocookie.com/embed/abc123XYZ_0?si=x"
    assert (embed.platform, embed.media_type) == ("youtube", "video")


def test_tweet_blockquote_uses_its_last_status_link() -> None:
    embed = only(
        article(
            '<blockquote class="twitter-tweet"><p>Quoting <a href="https://twitter.com/other/'
            'status/111">an earlier tweet</a> <a href="https://t.co/x">pic.twitter.com/x</a></p>'
            '&mdash; A (@a) <a href="https://x.com/a/status/222?s=20">Sept 28, 2013</a>'
            "</blockquote>"
        )
    )
    assert embed.url == "https://twitter.com/a/status/222"
    assert embed.original_url == "https://x.com/a/status/222?s=20"


def test_video_element_yields_one_embed_for_its_best_source() -> None:
    embed = only(
        article(
            '<video poster="/v/poster.jpg" controls>'
            '<source src="/v/clip.m3u8" type="application/x-mpegURL">'
            '<source src="/v/clip-1080.webm" type="video/webm" res="1080">'
            '<source src="/v/clip-480.mp4" type="video/mp4" res="480">'
            '<source src="/v/clip-1080.mp4" type="video/mp4" res="1080">'
            "Your browser cannot play this video.</video>"
        )
    )
    assert embed.url == "https://news.example/v/clip-1080.mp4"
    assert (embed.media_type, embed.found_in) == ("video", "video")
    assert embed.metadata["poster"] == "https://news.example/v/poster.jpg"


def test_lazy_image_and_its_noscript_twin_are_one_embed() -> None:
    result = article(
        '<img class="lazyload" src="data:image/gif;base64,R0lGOD" data-src="/p/a.jpg" '
        'data-srcset="/p/a-600.jpg 600w, /p/a-1800.jpg 1800w">'
        '<noscript><img src="/p/a.jpg"></noscript>'
        '<noscript><img src="/p/b.jpg"></noscript><img class="lazyload" data-src="/p/b-lazy.jpg">'
        '<img src="/p/c.jpg"><img src="/p/d.jpg">'
    )
    assert urls(result) == [
        "https://news.example/p/a-1800.jpg",
        "https://news.example/p/b.jpg",
        "https://news.example/p/c.jpg",
        "https://news.example/p/d.jpg",
    ]


def test_a_blurred_preview_beside_its_photo_is_not_archived() -> None:
    """Medium (2014-2018) draws a 60 px blurred copy while the photo loads; only the photo,
    named by the next image and its noscript fallback, is evidence."""
    cdn = "https://cdn-images-1.medium.com"
    result = article(
        '<figure><div class="progressiveMedia js-progressiveMedia graf-image" '
        'data-width="1200" data-height="800">'
        f'<img src="{cdn}/freeze/max/60/1*abc.jpeg?q=20" class="progressiveMedia-thumbnail '
        'js-progressiveMedia-thumbnail"><canvas class="progressiveMedia-canvas"></canvas>'
        f'<img class="progressiveMedia-image js-progressiveMedia-image" '
        f'data-src="{cdn}/max/800/1*abc.jpeg"><noscript><img class="progressiveMedia-noscript '
        f'js-progressiveMedia-inner" src="{cdn}/max/800/1*abc.jpeg"></noscript></div>'
        "<figcaption>Smoke over the port.</figcaption></figure>"
    )
    assert urls(result) == [f"{cdn}/max/800/1*abc.jpeg"]
    assert only(result).context == "Smoke over the port."


def test_posts_right_under_body_are_all_read() -> None:
    """Two posts that are <article> elements directly under <body> yielded only the larger
    one's media: their common ancestor, the page itself, was never taken as the content."""
    html = """<html><body><header><img src="/logo.jpg" width="300" height="80"></header>
    <article><h2>Kharkiv, 09:10</h2><p>Residents filmed the fire after the shelling:</p>
    <video src="/m/fire.mp4" width="640" height="360"></video></article>
    <article><h2>Odesa, 11:40</h2><p>A longer post about the port, with many more words than
    the first one and detail on the drones that came in from the sea before dawn:</p>
    <img src="/m/port.jpg" width="900" height="600"></article>
    <footer><img src="/m/footer.jpg" width="300" height="80"></footer></body></html>"""
    result = extract_embeds(html, "https://live.example/")
    assert [(e.url.rsplit("/", 1)[1], e.update) for e in result.embeds] == [
        ("fire.mp4", "Kharkiv, 09:10"),
        ("port.jpg", "Odesa, 11:40"),
    ]


def test_duplicates_keep_the_first_occurrence() -> None:
    result = article(
        "<p>UPDATE 1000 GMT: First:</p>"
        '<iframe src="https://www.youtube.com/embed/abc123XYZ_0"></iframe>'
        "<p>UPDATE 1200 GMT: Again:</p>"
        '<p><a href="https://youtu.be/abc123XYZ_0">same video</a></p>'
    )
    embed = only(result)
    assert (embed.found_in, embed.update, embed.context) == ("iframe", "UPDATE 1000 GMT", "First:")


def test_gallery_page_picks_largest_renditions_and_merges_page_metadata() -> None:
    result = extract_embeds(page("news_gallery.html"), "https://www.newsroom.example/x")

    assert [(e.found_in, e.url) for e in result.embeds] == [
        ("picture", "https://www.newsroom.example/world/images/market-1600.jpg"),  # not its WebP
        ("img", "https://www.newsroom.example/world/images/bakery-2048.jpg"),
        ("a-img", "https://www.newsroom.example/media/full/school-ruins.jpg"),
        ("img", "https://www.newsroom.example/world/images/portrait@3x.jpg"),
        ("video", "https://videos.newsroom.example/2019/05/idlib-market-report.mp4"),
        ("audio", "https://www.newsroom.example/world/audio/abu-ahmad-interview.mp3"),
    ]
    captions = [e.context for e in result.embeds[:4]]
    assert captions == [
        "Shoppers return to the covered market in Idlib, 12 May 2019. Photo: Omar Haj Kadour",
        "A baker prepares bread at dawn; flour prices have tripled since January.",
        "The ruins of the Al-Amal school, hit in March. Click to enlarge.",
        "Abu Ahmad, 71, has sold spices here for fifty years.",
    ]
    video = result.embeds[4]
    # og:video and the JSON-LD VideoObject name the same file: one embed, their metadata merged
    assert video.context == (
        "In a video report, our correspondent Lina Haddad walked through the market with traders:"
    )
    assert video.metadata["uploadDate"] == "2019-05-14T09:30:00Z"
    assert video.metadata["author"] == "Lina Haddad"
    assert video.metadata["name"] == "Idlib market report"
    assert video.metadata["og:video:type"] == "video/mp4"
    assert video.original_url.endswith("idlib-market-report.mp4?utm_source=site")


def test_page_level_og_video_and_json_ld_are_found_but_og_image_is_not() -> None:
    head = (
        '<meta property="og:image" content="https://site.example/share-card.jpg">'
        '<meta property="og:video:url" content="https://www.youtube.com/v/abc123XYZ_0">'
        '<meta property="og:video:type" content="application/x-shockwave-flash">'
        '<script type="application/ld+json">{"@context": "https://schema.org", "@graph": [{'
        '"@type": "VideoObject", "name": "Clip", "uploadDate": "2013-09-28",'
        '"contentUrl": "/media/clip.mp4", "author": [{"@type": "Person", "name": "A. Reporter"}]'
        ', "thumbnailUrl": "/media/clip.jpg"}]}</script>'
    )
    result = article("<p>No media in the text.</p>", head=head, base="https://site.example/a")
    assert [(e.found_in, e.url, e.kind) for e in result.embeds] == [
        ("og:video", "https://www.youtube.com/watch?v=abc123XYZ_0", "platform"),
        ("json-ld", "https://site.example/media/clip.mp4", "file"),
    ]
    assert result.embeds[1].metadata == {
        "name": "Clip",
        "uploadDate": "2013-09-28",
        "author": "A. Reporter",
        "thumbnailUrl": "https://site.example/media/clip.jpg",
    }
    assert all(e.update is None for e in result.embeds)


def test_base_href_is_respected() -> None:
    html = (
        '<html><head><base href="https://cdn.example/assets/"></head><body><article>'
        '<img src="photo.jpg"><video src="/v.mp4"></video></article></body></html>'
    )
    assert urls(extract_embeds(html, "https://site.example/story")) == [
        "https://cdn.example/assets/photo.jpg",
        "https://cdn.example/v.mp4",
    ]


# --- player pages -----------------------------------------------------------------------------


def test_player_page_yields_its_file_with_json_ld_provenance() -> None:
    embeds = extract_player_media(page("player_page.html"), "https://syriatube.example/embed/8841")

    assert [(e.kind, e.found_in, e.url, e.media_type) for e in embeds] == [
        ("file", "og:video", "https://cdn.syriatube.example/media/8841/720p.mp4", "video"),
        ("file", "og:image", "https://cdn.syriatube.example/thumbs/8841.jpg", "image"),
    ]
    video = embeds[0]
    assert video.metadata["uploadDate"] == "2013-08-21T06:12:00+03:00"
    assert video.metadata["author"] == "Douma Revolution Coordination"
    assert video.metadata["name"] == "Shelling of Douma, 21 August 2013"
    assert video.metadata["description"].startswith("Footage filmed at dawn")
    assert video.metadata["og:title"] == "Shelling of Douma, 21 August 2013"


def _people_behind(author: str, site: str) -> dict[str, Any]:
    """JSON-LD ``author`` (with a portrait) and ``publisher`` (with a logo)."""
    portrait = {"@type": "ImageObject", "url": f"{site}portrait.jpg"}
    return {
        "author": {"@type": "Person", "name": author, "image": portrait},
        "publisher": {
            "@type": "NewsMediaOrganization",
            "logo": {"@type": "ImageObject", "url": f"{site}logo.png"},
        },
    }


def test_a_player_pages_publisher_logo_and_author_portrait_are_not_its_media() -> None:
    ld = {
        "@context": "https://schema.org",
        "@graph": [
            {
                "@type": "VideoObject",
                "name": "Strike on Odesa port",
                "contentUrl": "https://video.example/media/odesa.mp4",
                **_people_behind("Reporter", "https://video.example/"),
            },
            {
                "@type": "Person",
                "@id": "https://video.example/#reporter",
                "image": {"@type": "ImageObject", "contentUrl": "https://video.example/r.jpg"},
            },
        ],
    }
    html = f"<html><head><script type='application/ld+json'>{json.dumps(ld)}</script></head>"
    embeds = extract_player_media(html + "<body></body></html>", "https://video.example/p/1")
    assert [e.url for e in embeds] == ["https://video.example/media/odesa.mp4"]
    assert embeds[0].metadata["author"] == "Reporter"


def test_player_page_without_metadata_uses_its_video_element_or_platform_frame() -> None:
    plain = (
        "<html><body><video controls><source src='/m/a-360.mp4' label='360p'>"
        "<source src='/m/a-720.mp4' label='720p'></video></body></html>"
    )
    assert urls(extract_player_media(plain, "https://p.example/e/1")) == [
        "https://p.example/m/a-720.mp4"
    ]
    wrapper = (
        "<html><head><meta property='og:video' content='https://p.example/e/2'></head><body>"
        "<iframe src='https://www.youtube.com/embed/abc123XYZ_0'></iframe>"
        "<iframe src='https://ads.example.net/banner.html'></iframe></body></html>"
    )
    embeds = extract_player_media(wrapper, "https://p.example/e/2")
    assert [(e.kind, e.platform, e.url) for e in embeds] == [
        ("platform", "youtube", "https://www.youtube.com/watch?v=abc123XYZ_0")
    ]


# --- robustness ---------------------------------------------------------------------------------


def test_truncated_windows_1256_page_is_decoded_and_recovered() -> None:
    result = extract_embeds(page("truncated_windows1256.html"), "https://ar.example/news/1")

    assert result.title == "حلب: اشتباكات عنيفة في محيط القلعة"
    assert [(e.url, e.update) for e in result.embeds[:3]] == [
        ("https://www.youtube.com/watch?v=Zx9_yT3kLm0", "UPDATE, 14:30"),
        ("https://ar.example/photos/2013/09/aleppo-citadel-smoke.jpg", "UPDATE, 14:30"),
        ("http://media.example-ar.net/video/2013/homs-0928.flv", "Update 2"),
    ]
    assert result.embeds[0].context is not None
    assert result.embeds[0].context.endswith("ناشطون نشروا هذا الفيديو:")


def test_an_undeclared_utf8_page_with_a_damaged_byte_stays_utf8() -> None:
    """One bad byte (a transfer cut in the last character) sent the whole page to
    cp1252: its title, context and the file's address came out as mojibake."""
    html = (
        "<html><head><title>Київ наживо</title></head><body><article>"
        "<p>Окупанти обстріляли Херсон. Відео:</p><video src='/відео/херсон.mp4'></video>"
        "<p>Оновлення о 14:30 — ще"
    ).encode()
    cp1252 = "<html><body><article><p>Café à Alep, été:</p><img src='/photos/café.jpg'>"

    damaged = extract_embeds(html[:-1], "https://ukr.example/live")
    western = extract_embeds(cp1252.encode("cp1252"), "https://fr.example/live")

    assert damaged.title == "Київ наживо"
    (video,) = damaged.embeds
    assert video.url == "https://ukr.example/відео/херсон.mp4"
    assert video.context == "Окупанти обстріляли Херсон. Відео:"
    assert western.embeds[0].context == "Café à Alep, été:"  # still read as cp1252


@pytest.mark.parametrize(
    "markup",
    [
        "<html><body><article><p>Unclosed <b>bold <i>italic<p>next</article></div></span>",
        "<div><table><tr><td><img src='/a.jpg'></td><p>stray</p></table><iframe src='",
        "<p>text</p>" + "<div>" * 3000 + "<img src='/deep.jpg'>",
        "<html><body>&#0;&#xD800;&bogus; <a href='http://[::1'>bad url</a></body></html>",
        "<article><p>Stray\x00 NUL and \x0b control</p><aside>x\x0by</aside>tail\x0b</article>",
    ],
)
def test_malformed_html_never_raises(markup: str) -> None:
    result = extract_embeds(markup, "https://site.example/")
    assert isinstance(result, PageExtraction)


@pytest.mark.parametrize(
    "before",
    [
        "<div>" * 300 + '<img src="/deep.jpg" width="600" height="400">' + "</div>" * 300,
        "<p>" + "<em>entry text " * 300 + "</p>",
        '<img src="data:image/png;base64,' + "A" * 11_000_000 + '">',
    ],
    ids=["300 nested divs", "300 unclosed em", "11 MB data URI"],
)
def test_deep_or_huge_markup_before_a_video_is_read(before: str) -> None:
    result = article(f"<p>Intro.</p>{before}<p>Footage from the port:</p><video src='/v.mp4'>")
    assert urls(result)[-1] == "https://news.example/v.mp4"
    assert result.embeds[-1].context == "Footage from the port:"


def test_charset_is_taken_from_bytes_meta_or_bom() -> None:
    arabic = (
        "<html><head><meta charset='windows-1256'><title>دمشق</title></head><body></body></html>"
    )
    assert extract_embeds(arabic.encode("cp1256"), BASE).title == "دمشق"
    undeclared = "<html><head><title>Ḥimṣ</title></head><body></body></html>".encode()
    assert extract_embeds(undeclared, BASE).title == "Ḥimṣ"
    bom = "\ufeff<html><head><title>Ḥalab</title></head></html>".encode("utf-16")
    assert extract_embeds(bom, BASE).title == "Ḥalab"


@pytest.mark.parametrize(
    "label",
    [
        "base64",
        "rot13",
        "zlib",
        "hex",
        "undefined",
        "idna",
        "utf-32",
        "cp500",
        "iso-2022-kr",
        "a\x00",
    ],
)
def test_a_charset_no_browser_reads_is_ignored_as_browsers_do(label: str) -> None:
    """``<meta charset="base64">`` made decoding raise (a traceback; the page and every
    embed on it lost), and ``utf-32`` or EBCDIC's ``cp500`` read the markup as nonsense:
    "not an HTML document"."""
    page = f"<meta charset='{label}'><title>Ḥimṣ</title><article><p>Smoke:</p><img src='/a.jpg'>"
    for served in (None, label):  # declared in the page, or by the server
        result = extract_embeds(page.encode(), BASE, served)
        assert result.title == "Ḥimṣ" and urls(result) == ["https://news.example/a.jpg"]


@pytest.mark.parametrize(
    ("label", "codec", "title"),
    [
        ("x-cp1251", "cp1251", "Обстрел Харькова"),
        ("windows-874", "cp874", "กรุงเทพ"),
        ("x-sjis", "cp932", "東京"),
        ("ks_c_5601-1989", "cp949", "서울"),
        ("x-mac-cyrillic", "mac_cyrillic", "Киев"),
        ("iso-8859-8-i", "iso8859-8", "ירושלים"),
    ],
)
def test_a_charset_label_browsers_know_and_python_does_not_is_read(
    label: str, codec: str, title: str
) -> None:
    """Labels only the Encoding Standard gives were unknown: the page was read as
    UTF-8 or Windows-1252, its titles and contexts mojibake no search finds."""
    page = f"<meta charset='{label}'><title>{title}</title><article><p>x</p>"
    assert extract_embeds(page.encode(codec), BASE).title == title
    assert extract_embeds(page.encode(codec), BASE, label).title == title


@pytest.mark.parametrize("width", ["NaNw", "nanx", "-nanw", "infw"])
def test_a_srcset_width_that_is_no_number_is_no_size(width: str) -> None:
    """A ``NaNw`` descriptor (a broken script's) made finding the largest candidate raise:
    the page's other embeds, and a feed's other entries, were lost with it."""
    result = article(f"<p>Shelling:</p><img srcset='/p/a.jpg {width}, /p/b.jpg 800w'>")
    assert urls(result) == ["https://news.example/p/b.jpg"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty document"),
        ("   \n\t ", "empty document"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not an HTML document (binary data)"),
        (
            b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <</Type /Catalog>>",
            "not an HTML document (binary data)",
        ),
        (b"\x00\x01\x02<html>" * 50, "not an HTML document"),
        ("just a line of plain text, no markup at all", "not an HTML document"),
    ],
)
def test_non_html_input_raises_a_one_line_extract_error(data: bytes | str, message: str) -> None:
    with pytest.raises(ExtractError) as caught:
        extract_embeds(data, BASE)
    assert str(caught.value) == message
    assert isinstance(caught.value, ArchiverError)
    with pytest.raises(ExtractError):
        extract_player_media(data, BASE)


def big_live_blog() -> bytes:
    """A 2 MB live blog with 800 updates (also used by bench/extract_bench.py)."""
    chunk = (
        "<p><strong>UPDATE {i:04d} GMT:</strong> Activists posted footage from the front line, "
        "saying it shows shelling of the district overnight:</p>"
        '<p><iframe src="https://www.youtube.com/embed/v{i:010d}"></iframe></p>'
        '<p>Local residents <a href="/2013/09/story-{i}">told us</a> more. ' + "Text. " * 150
        + '</p><p><img src="/uploads/photo-{i}.jpg" width="600" height="400"></p>'
        "<script>var tracking = '" + "x" * 1500 + "';</script>"
    )  # fmt: skip
    body = "".join(chunk.format(i=i) for i in range(800))
    return f"<html><body><div class='entry-content'>{body}</div></body></html>".encode()


def test_a_two_megabyte_live_blog_is_read_to_the_end() -> None:
    html = big_live_blog()
    assert len(html) > 2_000_000
    result = extract_embeds(html, BASE)
    assert len(result.embeds) == 1600
    assert result.embeds[-1].update == "UPDATE 0799 GMT"


def test_choosing_the_content_measures_each_element_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thousands of updates under one wrapper named like chrome must not each re-measure the
    wrapper (that was quadratic): the elements measured add up to a few times the page."""
    measured: list[int] = []

    def counting_text_length(node: object) -> int:
        measured.append(sum(1 for _ in node.iter()))  # type: ignore[attr-defined]
        return text_length(node)

    monkeypatch.setattr(content, "text_length", counting_text_length)
    entries = "".join(
        f'<article class="entry"><p>Update {i} about the war, in several words.</p>'
        f'<img src="/img{i}.jpg" width="600" height="400"></article>'
        for i in range(300)
    )
    html = (
        f'<html><body><div class="content-sidebar-wrap">{entries}'
        '<aside class="sidebar"><img src="/ad.jpg" width="300" height="250"></aside>'
        "</div></body></html>"
    )
    result = extract_embeds(html, "https://site.example/")
    page_elements = 300 * 3 + 5
    assert sum(measured) < 10 * page_elements
    assert len(result.embeds) == 300
    assert "https://site.example/ad.jpg" not in urls(result)


def test_json_ld_nested_past_the_parsers_limit_is_skipped() -> None:
    """``[[[[…`` 100,000 deep raised RecursionError out of the extraction."""
    head = '<script type="application/ld+json">' + "[" * 100_000 + "]" * 100_000 + "</script>"
    result = article("<p>Footage:</p><video src='/v.mp4'></video>", head=head)
    assert urls(result) == ["https://news.example/v.mp4"]


def test_a_live_blog_that_never_closes_its_updates_is_read_to_the_end() -> None:
    """libxml2 stops at 2,048 levels and drops the rest of the page without a word: a
    live blog leaving each update's wrapper open lost its updates past the 2,044th,
    and the capture said all was well. Past MAX_DEPTH the wrappers never closed are
    left out, so each update keeps its label and its sentence."""
    updates = "".join(
        f"<div class='update'><p><strong>UPDATE {n}:</strong> Fighters near the"
        f" Citadel, clip {n}:</p><img src='/lb{n}.jpg' width='800' height='600'>"
        for n in range(2100)
    )
    found = extract_embeds(f"<html><body><article>{updates}</article></body></html>", BASE)

    assert urls(found) == [f"https://news.example/lb{n}.jpg" for n in range(2100)]
    for n in (0, 1500, 2099):
        embed = found.embeds[n]
        assert (embed.update, embed.context) == (
            f"UPDATE {n}",
            f"Fighters near the Citadel, clip {n}:",
        )


def test_elements_nested_past_the_parsers_limit_keep_what_they_hold() -> None:
    """3,000 nested elements, closed: the picture inside and the one after were lost."""
    deep = "<div>" * 3000 + "<p>Smoke:</p><img src='/a.jpg'>" + "</div>" * 3000
    html = f"<html><body><article>{deep}<p>Fire:</p><img src='/b.jpg'></article></body></html>"
    found = extract_embeds(html, BASE)
    assert [(e.url, e.context) for e in found.embeds] == [
        ("https://news.example/a.jpg", "Smoke:"),
        ("https://news.example/b.jpg", "Fire:"),
    ]


def test_a_page_of_more_elements_than_memory_allows_is_refused_in_one_line() -> None:
    """20 MB of ``<a>`` (7 million elements, under the page size cap) took 2 GB and two
    minutes to read: past the service's memory limit on every poll."""
    html = "<html><body>" + "<a>" * (MAX_ELEMENTS + 1) + "<img src='/x.jpg'></body></html>"
    with pytest.raises(ExtractError, match=r"^more than 1,000,000 elements: a page this large"):
        extract_embeds(html, BASE)
    within = "<html><body><article><p>Smoke:</p><img src='/x.jpg'>" + "<br>" * 1000
    assert urls(extract_embeds(within + "</article></body></html>", BASE)) == [
        "https://news.example/x.jpg"
    ]


def test_an_element_with_sixty_thousand_attributes_keeps_its_first_ones() -> None:
    """libxml2 compares each attribute of a tag with all its earlier ones: 60,000 took
    9 s to parse, and a 20 MB page of them hours. Attributes past MAX_ATTRIBUTES are
    dropped before parsing; the same words inside a script are left as they are."""
    junk = " ".join(f'a{i}=">"' for i in range(60_000))
    script = f'var tag = "<img {junk}>";'
    html = (
        f"<html><body><article><p>Smoke:</p><img src='/smoke.jpg' {junk} alt='x'>"
        f"<script>{script}</script><p>The port:</p><video src='/v.mp4'></video>"
        "</article></body></html>"
    )

    root = parse_document(html)

    img = root.find(".//img")
    assert len(img.attrib) == MAX_ATTRIBUTES and img.get("src") == "/smoke.jpg"
    assert img.tail is None and root.find(".//script").text == script
    assert urls(extract_embeds(html, BASE)) == [
        "https://news.example/smoke.jpg",
        "https://news.example/v.mp4",
    ]


def test_a_label_followed_by_a_run_of_digits_is_read_at_once() -> None:
    """The label pattern tried every way of splitting digits into numbers before failing:
    "UPDATE " and 22 digits took 9 s, and 40 would take days."""
    started = time.process_time()  # CPU time: a busy machine does not fail it
    result = article(
        "<p>UPDATE " + "1" * 40 + "x shows the port.</p><p>UPDATE 1800 GMT: Footage:</p>"
        "<video src='/v.mp4'></video>"
    )
    assert time.process_time() - started < 2
    assert [(e.url, e.update) for e in result.embeds] == [
        ("https://news.example/v.mp4", "UPDATE 1800 GMT")
    ]


# --- hostile URLs -------------------------------------------------------------------------------


def test_credentials_the_page_wrote_into_urls_are_not_kept() -> None:
    """They ended up in the index, the sidecars and the hash-chained event log, which
    cannot be rewritten; the page snapshot keeps them as the page had them."""
    result = article(
        "<p>Photo:</p><img src='https://reporter:hunter2@cdn.example/p.jpg'>"
        "<p>Clip:</p><a href='//cms:hunter2@cdn.example/v.mp4'>clip</a>"
        "<iframe src='https://hunter2@player.example/e/1'></iframe>"
        "<img src='relative.jpg'>",
        head="<base href='https://editor:hunter2@static.example/2013/'>",
    )
    assert [(e.url, e.original_url) for e in result.embeds] == [
        ("https://cdn.example/p.jpg", "https://cdn.example/p.jpg"),
        ("https://cdn.example/v.mp4", "https://cdn.example/v.mp4"),
        ("https://player.example/e/1", "https://player.example/e/1"),
        ("https://static.example/2013/relative.jpg", "https://static.example/2013/relative.jpg"),
    ]
    # the page's own URL is the operator's: its credentials reach its relative links
    own = article("<img src='relative.jpg'>", base="https://me:pw@intranet.example/live/")
    assert urls(own) == ["https://me:pw@intranet.example/live/relative.jpg"]


def test_backslashes_in_urls_are_read_as_browsers_read_them() -> None:
    """Python read ``https://host.example\\@www.youtube.com/embed/…`` as a YouTube video
    (the part before "@" being a user name); a browser loads it from host.example."""
    result = article(
        "<iframe src='https://host.example\\@www.youtube.com/embed/abc123XYZ_0'></iframe>"
        "<img src='images\\photos\\port.jpg?size=l\\x'>"
    )
    assert [(e.kind, e.url) for e in result.embeds] == [
        ("player", "https://host.example/@www.youtube.com/embed/abc123XYZ_0"),
        ("file", "https://news.example/2013/09/images/photos/port.jpg?size=l\\x"),
    ]


def test_a_host_has_one_spelling_whatever_its_script() -> None:
    """An internationalized host in Unicode and in punycode were two embeds; full-width
    letters (which browsers read as ASCII) hid a YouTube video; an IPv6 address lost its
    brackets."""
    result = article(
        "<img src='https://пример.рф/фото.jpg'><img src='https://XN--E1AFMKFD.xn--p1ai/фото.jpg'>"
        "<iframe src='https://ｗｗｗ．ｙｏｕｔｕｂｅ．ｃｏｍ/embed/abc123XYZ_0'></iframe>"
        "<video src='https://[2001:db8::1]:8443/clip.mp4'></video>"
    )
    assert [(e.kind, e.url) for e in result.embeds] == [
        ("file", "https://xn--e1afmkfd.xn--p1ai/фото.jpg"),
        ("platform", "https://www.youtube.com/watch?v=abc123XYZ_0"),
        ("file", "https://[2001:db8::1]:8443/clip.mp4"),
    ]
    assert result.embeds[0].original_url == "https://пример.рф/фото.jpg"  # as the page wrote it


def test_only_the_first_base_href_counts_and_schemes_other_than_http_are_not_media() -> None:
    """A browser takes the first ``<base href>`` even when it is ``javascript:``; the
    second one pointed relative URLs at a host the page never loads from."""
    head = "<base href='javascript:void(0)'><base href='https://elsewhere.example/'>"
    result = article(
        "<img src='port.jpg'><img src='file:///etc/passwd'><a href='ftp://h.example/v.mp4'>v</a>"
        "<iframe src='javascript:alert(1)'></iframe><video src='data:video/mp4;base64,AAAA'>"
        "</video><embed src='blob:https://news.example/1'>",
        head=head,
    )
    assert urls(result) == ["https://news.example/2013/09/port.jpg"]


def test_an_overlong_url_is_left_out() -> None:
    """PostgreSQL cannot index it; it failed the whole page's embeds."""
    long = "https://cdn.example/" + "a1b2c3" * 500 + ".mp4"
    result = article(f"<video src='{long}'></video><p>Footage:</p><video src='/v.mp4'></video>")
    assert urls(result) == ["https://news.example/v.mp4"]


# --- markup that made the reading superlinear ---------------------------------------------------


def nested(opening: str, closing: str, depth: int, inner: str = "<p>x</p>") -> str:
    return opening * depth + inner + closing * depth


def in_article(body: str) -> str:
    return (
        f"<html><body><article>{body}<p>Footage from the port:</p>"
        "<video src='/v.mp4'></video></article></body></html>"
    )


SUPERLINEAR_PAGES: dict[str, Callable[[], str]] = {
    # a label was looked for at the start of every element, reading to the bottom
    "2,000 nested divs, three times": lambda: in_article(nested("<div>", "</div>", 2000) * 3),
    "2,000 nested spans, three times": lambda: in_article(nested("<span>", "</span>", 2000) * 3),
    "2,000 nested headings, twice": lambda: in_article(nested("<h2>Update", "</h2>", 2000) * 2),
    # each photo looked for its figure's caption through every figure nested in it
    "2,000 nested figures": lambda: in_article(
        nested("<figure><img src='/f.jpg'>", "<figcaption>c</figcaption></figure>", 2000)
    ),
    # each article walked up through all its ancestors to see if it was inside another
    "20,000 articles 2,000 levels deep": lambda: (
        "<html><body>"
        + nested("<div>", "</div>", 2000, "<article><p>t</p></article>" * 20_000)
        + "<article><p>Footage:</p><video src='/v.mp4'></video></article></body></html>"
    ),
    # each wrapper named like chrome measured all the text inside it
    "300 wrappers named like chrome around 2 MB": lambda: (
        "<html><body>"
        + nested(
            "<div class='sidebar-wrap'>",
            "</div>",
            300,
            "<article><p>" + "word " * 400_000 + "</p><video src='/v.mp4'></video></article>",
        )
        + "</body></html>"
    ),
    # each photo walked the large element after its parent, looking for a caption
    "1,000 photos before 10,000 elements": lambda: in_article(
        "<div><div>"
        + "".join(f"<img src='/{i}.jpg'>" for i in range(1000))
        + "</div><div>"
        + "<span></span>" * 10_000
        + "</div></div>"
    ),
}


@pytest.mark.parametrize("name", list(SUPERLINEAR_PAGES))
def test_deep_or_repetitive_markup_is_read_in_linear_time(name: str) -> None:
    """Each took 9 to 32 s (and 20 MB of it hours): something done per element walked the
    element's ancestors or its whole subtree. Now at most 2.5 s of CPU on a slow machine
    (20,000 articles), which a full suite running beside it can stretch past 3 s."""
    html = SUPERLINEAR_PAGES[name]()
    started = time.process_time()  # CPU time: a busy machine does not fail it
    result = extract_embeds(html, BASE)
    assert time.process_time() - started < 6
    assert urls(result)[-1] == "https://news.example/v.mp4"


LARGE_DOCUMENTS_SIDE_BY_SIDE = """
import sys, threading
from archiver.extract import document, extract_embeds
from archiver.sources.feed import parse_feed
def peak():  # VmHWM: ru_maxrss would start from the size of the process that forked this one
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
document.LARGE_DOCUMENT = 100_000  # the rule as for 2 MiB documents, with smaller ones
page = "<html><body><article>" + "<b></b>" * 150_000 + "<video src='/v.mp4'></video></article>"
feed = "<rss version='2.0'><channel><title>t</title>" + "<item><a/></item>" * 60_000 + "</channel></rss>"
def read():
    if sys.argv[1] == "page":
        assert len(extract_embeds(page, "https://news.example/").embeds) == 1
    else:
        assert parse_feed(feed.encode(), "https://news.example/feed") == []
before = peak()
read()
alone = peak() - before
workers = [threading.Thread(target=read) for _ in range(2)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
print(alone, peak() - before - alone)
"""


@pytest.mark.parametrize("document", ["page", "feed"])
def test_large_documents_read_side_by_side_take_the_memory_of_one(document: str) -> None:
    """libxml2's tree of a 20 MB page of tiny elements takes a gigabyte, feedparser's
    dicts of a 20 MB feed of empty items 700 MB: workers reading such documents at once
    passed the service's 2 GB limit. Large documents now take turns, and each one's
    memory is freed and given back to the system (a reference cycle kept a page's tree
    until the garbage collector ran, and each thread's malloc arena kept it after that)."""
    done = subprocess.run(
        [sys.executable, "-c", LARGE_DOCUMENTS_SIDE_BY_SIDE, document],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    alone_kb, more_kb = map(int, done.stdout.split())

    assert alone_kb > 20_000  # one document's memory: the measure is not lost in noise
    assert more_kb < alone_kb / 2  # two after it, side by side: almost nothing more


def test_each_link_of_a_long_paragraph_reads_only_the_words_around_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A paragraph of 10,000 inline links took 23 s: each link read all the rest of the
    paragraph for its sentence."""
    read: list[int] = []
    since = TextTrail.since

    def counting_since(trail: TextTrail, *args: Any, **kwargs: Any) -> str:
        text = since(trail, *args, **kwargs)
        read.append(len(text))
        return text

    monkeypatch.setattr(TextTrail, "since", counting_since)
    links = "".join(f"see <a href='/clip-{i}.mp4'>clip {i}</a>, " for i in range(10_000))
    result = article(f"<p>Footage, {links}all from the port.</p>")

    assert len(result.embeds) == 10_000
    assert all(0 < len(embed.context or "") <= 400 for embed in result.embeds)
    assert sum(read) < 2_000 * len(read)


def test_megabytes_of_title_or_alt_text_are_kept_to_a_bounded_length() -> None:
    """They were copied whole into the page's title and each embed's metadata: into every
    sidecar, search result and export."""
    huge = "Aleppo " * 300_000
    result = article(
        f"<img src='/p.jpg' alt='{huge}' title='{huge}'><video src='/v.mp4' title='{huge}'>"
        "</video>",
        head=f"<title>{huge}</title><meta property='og:video' content='/clip.mp4'>"
        f"<meta property='og:video:type' content='video/{huge}'>",
    )
    assert result.title is not None and len(result.title) <= 1000
    for embed in result.embeds:
        assert all(len(value) <= 2000 for value in embed.metadata.values()), embed.url
    og = extract_embeds(
        f"<html><head><meta property='og:title' content='{huge}'></head><body><article>"
        "<img src='/p.jpg'></article></body></html>",
        BASE,
    )
    assert og.title is not None and len(og.title) <= 1000


def test_urls_httpx_cannot_take_are_sent_as_browsers_send_them_or_left_out() -> None:
    """A control character in a URL, a host name IDNA refuses or a port that is not one
    made httpx raise inside the capture: ``archiver capture`` of the page ended in a
    traceback. Browsers percent-encode the first and refuse the others."""
    result = article(
        "<video src='/clips/port\x01side.mp4'></video><img src='https://e\u200bx.example/a.jpg'>"
        "<img src='https://😀.example/b.jpg'><img src='https://cdn.example:http/c.jpg'>"
        "<img src='https://cdn.example:99999/d.jpg'>"
    )
    assert urls(result) == ["https://news.example/clips/port%01side.mp4"]
    for url in urls(result):
        httpx.URL(url)


def test_entities_declared_by_an_xhtml_page_are_neither_read_nor_fetched(
    tmp_path: Path, server: FixtureServer
) -> None:
    """A guard: the HTML parser reads no DTD, external entity or XInclude, so a page's
    ``&e;`` stays as written instead of a local file or a URL's answer landing in the
    context or metadata of its embeds."""
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-FROM-DISK")
    server.add_bytes("/secret", b"SECRET-FROM-THE-NETWORK", "text/plain")
    for entity in (f"SYSTEM 'file://{secret}'", f"SYSTEM '{server.url('/secret')}'"):
        page = (
            f"<?xml version='1.0'?><!DOCTYPE html [<!ENTITY e {entity}>"
            f"<!ENTITY % p SYSTEM '{server.url('/secret')}'> %p;]>"
            "<html xmlns='http://www.w3.org/1999/xhtml' xmlns:xi='http://www.w3.org/2001/XInclude'>"
            "<head><title>&e;</title></head><body><article><p>Footage &e;:</p>"
            f"<xi:include href='file://{secret}' parse='text'/>"
            "<img src='/port.jpg' alt='&e;'/></article></body></html>"
        )
        for found in (extract_embeds(page, BASE), extract_embeds(page.encode(), BASE)):
            assert "SECRET" not in repr(found)
            assert found.embeds[0].context == "Footage &e;:"
        assert "SECRET" not in repr(extract_player_media(page, BASE))
    assert server.hits("/secret") == 0


def test_a_noscript_body_served_as_text_has_its_attributes_bounded_too() -> None:
    """Markup that a ``<noscript>`` holds as text is parsed on its own; 60,000 attributes
    there took 8 s as well."""
    junk = " ".join(f"a{i}" for i in range(60_000))
    (img,) = fragment_elements(f'<img src="/n.jpg" {junk}>')
    assert len(img.attrib) == MAX_ATTRIBUTES and img.get("src") == "/n.jpg"
    result = article(f'<noscript>&lt;img src="/n.jpg" {junk}&gt;</noscript>')
    assert urls(result)[0] == "https://news.example/n.jpg"


# --- markup of common publishing systems ------------------------------------------------------


def test_posts_whose_wrappers_differ_by_a_state_class_are_all_read() -> None:
    """A pinned or highlighted post's wrapper carries one more class than the others';
    every post is still part of the live blog, not just the largest one."""
    html = (
        "<html><body><main><h1>Live</h1><ol>"
        "<li class='item item--pinned'><div class='w'><article><header><h3>Summary</h3>"
        "</header><p>A long summary of the overnight strikes on the city, far longer than"
        " any other post on this page, with many words.</p><img src='/m/a.jpg'></article>"
        "</div></li><li class='item'><div class='w'><article><header><h3>Drone footage</h3>"
        "</header><p>Footage of the market:</p><video src='/m/b.mp4'></video></article>"
        "</div></li></ol></main></body></html>"
    )
    found = extract_embeds(html, BASE).embeds
    assert [(e.url, e.update, e.context) for e in found] == [
        ("https://news.example/m/a.jpg", "Summary", found[0].context),
        ("https://news.example/m/b.mp4", "Drone footage", "Footage of the market:"),
    ]


def test_a_post_address_standing_alone_is_the_embed_its_site_could_not_render() -> None:
    """WordPress prints Facebook and Instagram embed blocks (and a URL on a line of its
    own) as the bare address; an address of anything but a post stays text."""
    result = article(
        "<p>The spokesman posted on Instagram:</p><figure class='wp-block-embed'>"
        "<div class='wp-block-embed__wrapper'>\nhttps://www.instagram.com/p/CxAbC12dEfG/\n"
        "</div></figure><p>And a video of the shelling:</p>"
        "<p>https://www.facebook.com/AleppoMC/videos/10151712345678901/</p>"
        "<p>https://news.example/2013/09/another-story</p>"
        "<p>See https://www.instagram.com/p/CxAbC12dEfG/ too</p>"
    )
    assert [(e.url, e.found_in, e.context) for e in result.embeds] == [
        (
            "https://www.instagram.com/p/CxAbC12dEfG/",
            "bare-url",
            "The spokesman posted on Instagram:",
        ),
        (
            "https://www.facebook.com/AleppoMC/videos/10151712345678901/",
            "bare-url",
            "And a video of the shelling:",
        ),
    ]


def test_a_media_item_wrapped_in_an_article_stays_in_its_update() -> None:
    """Drupal wraps each embedded media item in ``<article class="media">``: it is not a
    post of its own, and its field label for screen readers is not context."""
    result = article(
        "<h2>UPDATE 1800 GMT</h2><p>Footage of the barrel bomb:</p>"
        "<article class='media media--type-remote-video'><iframe"
        " src='https://www.youtube.com/embed/Ff12GhIjKl5'></iframe></article>"
        "<p>A photograph of the crater:</p><article class='media media--type-image'>"
        "<div class='field__label visually-hidden'>Image</div><img src='/crater.jpg'></article>"
    )
    assert [(e.update, e.context) for e in result.embeds] == [
        ("UPDATE 1800 GMT", "Footage of the barrel bomb:"),
        ("UPDATE 1800 GMT", "A photograph of the crater:"),
    ]


def test_drupals_media_articles_are_not_where_the_story_is() -> None:
    """The largest media wrapper was taken for the story: the rest of it was not read."""
    html = """<html><body><main><h1>Live: shelling of Kharkiv</h1>
<div class="field--name-body"><p><strong>UPDATE 1800 GMT:</strong> Shelling continued
overnight.</p><article class="media media--type-image"><img src="/a.jpg" width="800"
height="600"><div class="caption">Residents clear rubble from the school.</div></article>
<p><strong>UPDATE 1900 GMT:</strong> Rescuers at work.</p><article class="media
media--type-image"><img src="/b.jpg" width="800" height="600"></article>
<p>Video from the scene:</p><iframe src="https://www.youtube.com/embed/Ff12GhIjKl5">
</iframe></div></main></body></html>"""
    result = extract_embeds(html, BASE)
    assert [(e.url, e.update) for e in result.embeds] == [
        ("https://news.example/a.jpg", "UPDATE 1800 GMT"),
        ("https://news.example/b.jpg", "UPDATE 1900 GMT"),
        ("https://www.youtube.com/watch?v=Ff12GhIjKl5", "UPDATE 1900 GMT"),
    ]


def test_a_posts_own_header_time_is_its_label() -> None:
    """An untitled post is labelled by the time in its header, wherever in the header it
    sits (after the author in WordPress's Liveblog plugin, beside "2h ago" at the
    Guardian), and the previous post's label does not carry over."""
    result = article(
        "<p><b>ORIGINAL ENTRY:</b> Intro.</p><div class='liveblog-entry'>"
        "<header class='liveblog-meta'><span><a href='/author/s/'>Scott Lucas</a></span>"
        " <abbr class='liveblog-timestamp' title='September 28, 2013 18:00'>18:00</abbr>"
        "</header><div><p>Activists posted this video:</p><iframe"
        " src='https://www.youtube.com/embed/Bb34CdEfGh1'></iframe></div></div>"
        "<article class='block'><header><a href='#b'><time datetime='2013-09-28T16:00Z'>"
        "2h ago</time><span>17.00 BST</span></a></header><p>Earlier:</p>"
        "<img src='/x.jpg'></article>"
        "<div class='liveblog-entry'><header><span>Scott Lucas</span></header>"
        "<p>Untimed:</p><img src='/y.jpg'></div>"
    )
    assert [(e.update, e.context) for e in result.embeds] == [
        ("18:00", "Activists posted this video:"),
        ("17.00 BST", "Earlier:"),
        (None, "Untimed:"),
    ]


@pytest.mark.parametrize(
    "shown", ["3h ago", "1h", "5 min", "a few seconds ago", "hace 3 horas", "3 години тому", ""]
)
def test_a_posts_time_in_any_relative_words_is_labelled_by_its_moment(shown: str) -> None:
    """Only English "… ago" was read: "1h", "5 min", Spanish and Ukrainian lost the
    post's time."""
    result = article(
        f"<h2>Head</h2><div class='p'><time datetime='2024-03-12T14:32:00Z'>{shown}</time>"
        "</div><p>Photo:</p><img src='/a.jpg'>"
    )
    assert result.embeds[0].update == "2024-03-12 14:32 UTC"


def test_a_posts_time_that_says_only_how_long_ago_is_labelled_by_its_moment() -> None:
    """ "3h ago" is not a label, so the post took the label of the one before it (or the
    page's title): its ``<time datetime>`` holds when it was posted."""
    result = article(
        "<div class='post'><div class='meta'><time datetime='2024-03-12T12:00:00Z'>12:00 GMT"
        "</time></div><iframe src='https://www.youtube.com/embed/EaRlIeR0001'></iframe></div>"
        "<div class='post'><div class='meta'><time datetime='2024-03-12T14:32:00Z'>3h ago"
        "</time></div><p>Footage shows the strike.</p>"
        "<iframe src='https://www.youtube.com/embed/LaBeLtEsT01'></iframe></div>"
        "<div class='post'><header><span>By Olena</span> <time datetime='2024-03-12T15:05+02:00'>"
        "14 minutes ago</time></header><p>Sirens:</p><img src='/sirens.jpg'></div>"
        "<p>On <time datetime='2024-03-12'>Tuesday</time> the port was shelled:</p>"
        "<img src='/port.jpg'>"
    )
    assert [(e.update, e.context) for e in result.embeds] == [
        ("12:00 GMT", None),
        ("2024-03-12 14:32 UTC", "Footage shows the strike."),
        ("2024-03-12 15:05 +02:00", "Sirens:"),
        # a day in a sentence is no post's time
        ("2024-03-12 15:05 +02:00", "On Tuesday the port was shelled:"),
    ]


def test_the_lead_photo_in_the_articles_title_block_is_kept_and_its_byline_is_not() -> None:
    """Ghost and the Guardian put the story's photo in the article's ``<header>``, which
    went as chrome with the byline and the share buttons once the text outweighed it."""
    html = (
        "<html><body><article><header class='article-header'><h1>The dam</h1>"
        "<div class='meta'><img src='/avatar-80.jpg' width='80' height='80'> By Olena</div>"
        "<figure class='article-image'><img src='/content/images/2023/06/dam.jpg' width="
        "'2000'><figcaption>Satellite image of the breached dam. Maxar</figcaption></figure>"
        "<div class='tools'><img src='/print.png' width='64' height='64'></div></header>"
        "<section class='gh-content'><p>" + "The reservoir emptied overnight. " * 30 + "</p>"
        "<p>Drone footage:</p><video src='/v.mp4'></video></section></article></body></html>"
    )
    result = extract_embeds(html, BASE)
    assert [(e.url, e.context) for e in result.embeds] == [
        ("https://news.example/content/images/2023/06/dam.jpg",
         "Satellite image of the breached dam. Maxar"),
        ("https://news.example/v.mp4", "Drone footage:"),
    ]  # fmt: skip


def test_embeds_a_consent_plugin_holds_back_are_found_and_its_notice_is_not_context() -> None:
    """Borlabs Cookie keeps the frame base64-encoded in a template, behind a local copy
    of the video's still; Embed Privacy keeps the oEmbed answer, HTML-escaped, in a
    script. Nothing was found (the plugin's box was chrome by its "cookie")."""
    frame = '<iframe src="https://www.youtube.com/embed/BoRlAbS0001"></iframe>'
    template = base64.b64encode(frame.encode()).decode()
    tweet = (
        "&lt;blockquote class=&quot;twitter-tweet&quot;&gt;&lt;a href=&quot;https:\\/\\/"
        "twitter.com\\/GeneralStaffUA\\/status\\/1767699999999999999&quot;&gt;March 12"
        "&lt;\\/a&gt;&lt;\\/blockquote&gt;"
    )
    result = article(
        "<p>14.10 Uhr: Der Angriff auf Charkiw:</p><div class='BorlabsCookie _brlbs-cb-youtube'>"
        "<div class='_brlbs-content-blocker'><img class='_brlbs-thumbnail' src='/wp-content/"
        "uploads/borlabs-cookie/youtube_BoRlAbS0001_maxresdefault.jpg' width='1280'><p>Mit "
        "dem Laden des Videos akzeptieren Sie die Datenschutzerklärung.</p></div><div class="
        "'borlabs-hide' data-borlabs-cookie-type='content-blocker'><script type='text/template'"
        f">{template}</script></div></div>"
        "<p>13.45 Uhr: Der Generalstab schreibt:</p><div class='embed-privacy-container "
        "embed-twitter'><div class='embed-privacy-overlay'><p>Klicken Sie hier, um den Inhalt"
        " von X anzuzeigen.</p></div><div class='embed-privacy-content'><script>var "
        f'_oembed_abc = \'{{"embed":"{tweet}"}}\';</script></div></div>'
    )
    assert [(e.url, e.update, e.context) for e in result.embeds] == [
        ("https://www.youtube.com/watch?v=BoRlAbS0001", "14.10 Uhr", "Der Angriff auf Charkiw:"),
        ("https://twitter.com/GeneralStaffUA/status/1767699999999999999", "13.45 Uhr",
         "Der Generalstab schreibt:"),
    ]  # fmt: skip


def test_a_caption_and_its_credit_in_spans_of_their_own_do_not_run_together() -> None:
    result = article(
        "<figure><img src='/smoke.jpg' width='800'><figcaption><span>Smoke rose over Gaza"
        " on Tuesday.</span><span><span>Credit...</span><span>Mahmud Hams/AFP</span></span>"
        "</figcaption></figure><p>Seen in <b>U.S.</b><i>army</i> footage:</p>"
        "<video src='/v.mp4'></video>"
    )
    assert [e.context for e in result.embeds] == [
        "Smoke rose over Gaza on Tuesday. Credit... Mahmud Hams/AFP",
        "Seen in U.S.army footage:",  # no capital after it: as a browser shows it
    ]


def test_a_teaser_of_another_article_in_the_body_is_not_evidence() -> None:
    """ "Related:" with a link around another story's thumbnail and title, set between
    two updates: the thumbnail was archived as this page's photo."""
    result = article(
        "<p><strong>Related:</strong> <a href='/2024/03/11/kharkiv-power/'><img src='/thumbs/"
        "power.jpg' width='300' height='200'> Kharkiv without power for a third day</a></p>"
        "<p>Lire aussi : <a href='https://autre.example/article'><img src='https://autre."
        "example/vignette.jpg' width='300'>Les frappes de la nuit</a></p>"
        "<p>Related: <a href='https://www.youtube.com/watch?v=abc123XYZ_0'><img src='https://"
        "i.ytimg.com/vi/abc123XYZ_0/hqdefault.jpg' width='480'>The strike, filmed</a></p>"
        "<p>The market after the strike: <a href='/photos/market/'><img src='/photos/"
        "market.jpg' width='1200'></a></p>"
        # a picture linked alone under such a label is the picture (its page, a gallery,
        # Flickr's own embed); a dash after "Recommended" is a sentence's
        "<p>More on this: the strike, seen from a roof <a href='/photos/roof/'><img src='/"
        "photos/roof.jpg' width='1200'></a></p><p>See also: <a href='https://www.flickr.com/"
        "photos/someone/53312345678/'><img src='https://live.staticflickr.com/65535/533123456"
        "78_ab12cd34ef_b.jpg' width='1024'></a></p><p>Recommended \u2014 by the regional "
        "administration \u2014 routes: <a href='/maps/routes/'><img src='/maps/routes.png' "
        "width='900'>Evacuation routes</a></p><p>See also: <a href='/photos/dam/'><img src='/"
        "photos/dam.jpg' width='1200'><span class='sr-only'>Enlarge</span></a></p>"
    )
    assert [e.url for e in result.embeds] == [
        "https://www.youtube.com/watch?v=abc123XYZ_0",
        "https://news.example/photos/market.jpg",
        "https://news.example/photos/roof.jpg",
        "https://live.staticflickr.com/65535/53312345678_ab12cd34ef_b.jpg",
        "https://news.example/maps/routes.png",
        "https://news.example/photos/dam.jpg",  # "Enlarge" is for screen readers only
    ]


def test_words_for_screen_readers_only_are_not_a_captions() -> None:
    """BBC's captions began "Image caption, " (in a class its style sheet generates),
    Drupal 7 hid its field labels as "element-invisible"."""
    result = article(
        "<figure><img src='/rubble.jpg' width='800'><figcaption><span class='ssrcss-1f39n02-"
        "VisuallyHidden e16en2lz0'>Image caption, </span>Rescuers search the rubble."
        "</figcaption></figure>"
        "<figure><img src='/dam.jpg' width='800'><figcaption><span class='visually-hidden'>"
        "Caption:</span> The dam after the breach.</figcaption></figure>"
        "<div class='wp-caption'><img src='/citadel.jpg' width='800'><p class='wp-caption-"
        "text'><span class='element-invisible'>Photo:</span>The Citadel at dawn.</p></div>"
    )
    assert [e.context for e in result.embeds] == [
        "Rescuers search the rubble.",
        "The dam after the breach.",
        "The Citadel at dawn.",
    ]


def test_a_captions_link_that_sells_the_picture_is_not_its_context() -> None:
    """Reuters' captions ended in "Purchase Licensing Rights, opens new tab"."""
    result = article(
        "<figure><img src='/kharkiv.jpg' width='800'><figcaption><span>Firefighters work at"
        " the site of a missile strike in Kharkiv, Ukraine May 25, 2024. REUTERS/Valentyn"
        " Ogirenko <a href='https://www.reutersagency.com/en/licensereuterscontent/?utm_medium"
        "=rcom-article-media'>Purchase Licensing Rights<span class='sr-only'>, opens new tab"
        "</span></a></span></figcaption></figure>"
        "<figure><img src='/dam.jpg' width='800'><figcaption>The dam after the breach."
        " <a href='https://photos.example/buy?id=1'>Buy Photo</a></figcaption></figure>"
        # the running text is the writer's own, whatever its words
        "<p>The soldiers would not let the family buy this picture</p><img src='/f.jpg'>"
        "<figure><img src='/g.jpg' width='800'><figcaption>AP Photo/John Doe | Buy Photo"
        "</figcaption></figure><p>Shelling at dawn:</p><figure><img src='/h.jpg' width='800'>"
        "<figcaption><a href='/buy/h'>Buy Photo</a></figcaption></figure>"
    )
    assert [e.context for e in result.embeds] == [
        "Firefighters work at the site of a missile strike in Kharkiv, Ukraine May 25, 2024."
        " REUTERS/Valentyn Ogirenko",
        "The dam after the breach.",
        "The soldiers would not let the family buy this picture",
        "AP Photo/John Doe",
        "Shelling at dawn:",  # a caption that is the link alone is none
    ]


def test_a_wordpress_preview_card_of_another_article_is_not_a_player() -> None:
    """WordPress shows a link to another post as a card in a frame (``/embed/#?secret=``):
    it was archived as a player."""
    result = article(
        "<p>Background:</p><blockquote class='wp-embedded-content'><a href='https://news."
        "example/2024/03/10/background/'>Background</a></blockquote><iframe class='wp-embedded"
        "-content' sandbox='allow-scripts' src='https://news.example/2024/03/10/background/"
        "embed/#?secret=AbCdEf'></iframe><video src='/clip.mp4'></video>"
    )
    assert urls(result) == ["https://news.example/clip.mp4"]


def test_a_time_shown_as_a_date_in_words_is_text_not_a_label() -> None:
    """Any ``<time datetime>`` whose text was no label became one: a dateline, "Tuesday
    12 March 2024: the army said …", took the heading's place and left ": the army
    said" as context."""
    result = article(
        "<h2>Strike on the depot</h2><p><time datetime='2024-03-12T14:32:00Z'>Tuesday 12 "
        "March 2024</time>: the army said the video was fake.</p><img src='/depot.jpg'>"
    )
    (embed,) = result.embeds
    assert embed.update == "Strike on the depot"
    assert embed.context == "Tuesday 12 March 2024: the army said the video was fake."


def test_hostile_time_attributes_and_consent_scripts_are_read_at_once() -> None:
    """A ``datetime`` of 30,000 spaces took seconds per element (two ``\\s*`` side by
    side), and nested JSON in a consent plugin's script raised RecursionError out of
    the capture."""
    padded = "2024-01-01T10:00" + " " * 30_000 + "x"
    months = "jan" * 30_000  # each "jan" a start of a month name read to the end
    deep = "var _oembed_a = '" + '{"a":' * 20_000 + "1" + "}" * 20_000 + "';"
    many = "var _oembed_a = '{" * 10_000
    started = time.process_time()  # CPU time: a busy machine does not fail it
    result = article(
        f"<p><time datetime='{padded}'>3h ago</time></p><p>Photo:</p><img src='/a.jpg'>"
        f"<p><time datetime='2024-01-01T10:00Z'>{months}</time></p>"
        f"<script>{deep}</script><script>{many}</script>"
    )
    assert time.process_time() - started < 2
    assert urls(result) == ["https://news.example/a.jpg"]


def test_many_linked_pictures_in_one_block_and_one_long_caption_are_read_at_once() -> None:
    """Each link around a picture measured its whole block for a "Related:" label, and
    each photo of a gallery searched its shared caption for a sales link: seconds on a
    page of 0.5 MB."""
    links = "".join(
        f"<a href='/story/{i}/'><img src='/p/{i}.jpg' width='300'></a> text<br>"
        for i in range(4_000)
    )
    photos = "".join(f"<img src='/g/{i}.jpg' width='800'>" for i in range(1_000))
    nested = "<div><a href='/s/1'>x</a> " * 2_000 + "Smoke. " * 40_000 + "</div>" * 2_000
    started = time.process_time()  # CPU time: a busy machine does not fail it
    result = article(
        f"<div>{links}</div><figure>{photos}<figcaption>{'Smoke. ' * 40_000}"
        f"Buy Photo</figcaption></figure><div class='gallery'>{photos.replace('/g/', '/h/')}"
        f"</div><p class="
        f"'wp-caption-text'>{'Smoke. ' * 40_000}Buy Photo</p>{nested}"
    )
    assert time.process_time() - started < 5  # 1.8 s on a slow machine, 3.4 s under load
    assert len(result.embeds) == 6_000
    assert all(e.context and e.context.endswith("Smoke.") for e in result.embeds[4_000:])


def test_post_frames_count_at_any_size_and_proxied_players_name_their_video() -> None:
    """A tweet's frame left at 0x0 (a post that did not load, often a deleted one) is
    still a citation; Embedly's and Drupal's oEmbed proxies stand for the video they
    show, which is recorded under its own address."""
    proxy = (
        "https://cdn.embedly.com/widgets/media.html?src=https%3A%2F%2Fwww.youtube.com%2F"
        "embed%2FJj90KlMnOp9&amp;url=https%3A%2F%2Fwww.youtube.com%2Fwatch%3Fv%3DJj90KlMnOp9"
        "&amp;key=a19f&amp;type=text%2Fhtml"
    )
    result = article(
        "<p>A deleted tweet:</p><iframe style='width:0px;height:0px' width='0' height='0'"
        " src='https://platform.twitter.com/embed/Tweet.html?id=1707456789012345999'></iframe>"
        f"<iframe src='{proxy}'></iframe>"
        "<iframe src='/media/oembed?url=https%3A//www.youtube.com/watch%3Fv%3DFf12GhIjKl5"
        "&amp;hash=Xr7T'></iframe><iframe src='/media/oembed?url=https%3A//news.example/x'>"
        "</iframe><iframe width='1' height='1' src='https://news.example/pixel.html'></iframe>"
    )
    assert [(e.kind, e.url) for e in result.embeds] == [
        ("platform", "https://twitter.com/i/status/1707456789012345999"),
        ("platform", "https://www.youtube.com/watch?v=Jj90KlMnOp9"),
        ("platform", "https://www.youtube.com/watch?v=Ff12GhIjKl5"),
        ("player", "https://news.example/media/oembed?url=https%3A//news.example/x"),
    ]
    assert result.embeds[1].original_url == proxy.replace("&amp;", "&")


def test_the_uploaded_rendition_is_preferred_to_resized_and_transcoded_ones() -> None:
    """A ``src`` declared wider than its ``srcset`` is the upload (Ghost); of equal
    widths the image's own format beats a WebP copy; Blogger's extension-less photo
    links are images."""
    result = article(
        "<img src='/content/images/g.jpeg' width='4032' srcset='/content/images/size/w600/g.jpeg"
        " 600w, /content/images/size/w2400/g.jpeg 2400w'>"
        "<img src='/lqip.jpeg' width='4032' data-srcset='/full-1200.jpeg 1200w'>"
        "<picture><source type='image/webp' srcset='https://miro.example/fit:1400/format:webp/"
        "1*Q.jpeg 1400w'><source srcset='https://miro.example/fit:1400/1*Q.jpeg 1400w'>"
        "<img width='700'></picture>"
        "<a href='https://blogger.googleusercontent.com/img/a/AVvXsEhZk3=s1600'>"
        "<img src='https://blogger.googleusercontent.com/img/a/AVvXsEhZk3=s320'></a>"
        # art direction: the phones' crop is not the photo
        "<picture><source media='(max-width: 600px)' srcset='/p9-mobile-crop.jpg'><source "
        "media='(min-width: 601px)' srcset='/p9-desktop.jpg'><img src='/p9-desktop.jpg'>"
        "</picture>"
        # the photo's size in width, its src one of the srcset's copies: the largest copy
        "<img src='https://cdn.example/p.jpg?width=640' width='5472' srcset='https://cdn."
        "example/p.jpg?width=640 640w, https://cdn.example/p.jpg?width=1920 1920w'>"
        # a WebP plugin's copy beside the upload, which the fallback names in src alone
        "<picture><source srcset='/wp-content/uploads/2023/10/crater.jpg.webp' type='image/"
        "webp'><img src='/wp-content/uploads/2023/10/crater.jpg' width='1200'></picture>"
        "<picture><source srcset='/webp-express/uploads/dam.webp' type='image/webp'><img src="
        "'/uploads/dam.png'></picture>"
        # larger renditions than the phone-sized fallback, in other files: the largest
        "<picture><source media='(min-width:1200px)' type='image/webp' srcset='/img/market-"
        "1600.webp'><source media='(min-width:768px)' type='image/webp' srcset='/img/market-"
        "1024.webp'><img src='/img/market-480.jpg'></picture>"
    )
    assert urls(result) == [
        "https://news.example/content/images/g.jpeg",
        "https://news.example/full-1200.jpeg",
        "https://miro.example/fit:1400/1*Q.jpeg",
        "https://blogger.googleusercontent.com/img/a/AVvXsEhZk3=s1600",
        "https://news.example/p9-desktop.jpg",
        "https://cdn.example/p.jpg?width=1920",
        "https://news.example/wp-content/uploads/2023/10/crater.jpg",
        "https://news.example/uploads/dam.png",
        "https://news.example/img/market-1600.webp",
    ]


def test_amp_players_and_reddit_posts_are_read_and_link_cards_are_chrome() -> None:
    """``amp-video-iframe`` and ``amp-reddit`` are media; a bookmark card's thumbnail (the
    linked story's picture) and a contributor's portrait are not."""
    result = article(
        "<p>State TV footage:</p><amp-video-iframe src='https://player.tv.example/embed/88'"
        " width='16' height='9' layout='responsive'></amp-video-iframe>"
        "<amp-reddit layout='responsive' width='300' height='400'"
        " data-src='https://www.reddit.com/r/syriancivilwar/comments/1nabcd/jobar/'></amp-reddit>"
        "<figure class='kg-card kg-bookmark-card'><a class='kg-bookmark-container'"
        " href='https://wire.example/world/aleppo/'><div class='kg-bookmark-thumbnail'>"
        "<img src='https://wire.example/lead.jpg'></div></a></figure>"
        "<div class='lx-stream-post__contributor'><div class='lx-stream-post__contributor-img'>"
        "<img src='https://ichef.example/64x64/p01.jpg' width='64' height='64'></div></div>"
    )
    assert [(e.kind, e.url) for e in result.embeds] == [
        ("player", "https://player.tv.example/embed/88"),
        ("platform", "https://www.reddit.com/comments/1nabcd/"),
    ]


def test_a_live_blog_drawn_from_json_ld_keeps_each_updates_label_and_context() -> None:
    """Some live blogs draw their updates by script from ``liveBlogUpdate`` alone: its
    media came without update or context, and its photos were missed (taken for the
    page's share image); a video's thumbnail is no photo of the update, nor are the
    author's portrait and the publisher's logo."""
    ld = {
        "@context": "https://schema.org",
        "@type": "LiveBlogPosting",
        "image": {"@type": "ImageObject", "url": "https://news.example/share.jpg"},
        "liveBlogUpdate": [
            {
                "@type": "BlogPosting",
                "headline": "UPDATE 1800 GMT: The ambassador laughs",
                "datePublished": "2013-09-28T18:00:00Z",
                "articleBody": "Asked whether Damascus would comply, the ambassador laughs:",
                # a live-blog plugin repeats these in every update: furniture
                **_people_behind("Jane Doe", "https://news.example/"),
                "video": {
                    "@type": "VideoObject",
                    "embedUrl": "https://www.youtube.com/embed/Kk12LmNoPq1",
                    "thumbnail": {"@type": "ImageObject", "url": "https://i.example/t.jpg"},
                },
            },
            {
                "@type": "BlogPosting",
                "headline": "Mass grave in Raqqa",
                "articleBody": "Activists posted a photograph.",
                "image": {
                    "@type": "ImageObject",
                    "url": "https://news.example/raqqa-grave.jpg",
                    "caption": "What activists say is a mass grave near Raqqa",
                },
            },
        ],
    }
    head = f"<script type='application/ld+json'>{json.dumps(ld)}</script>"
    found = extract_embeds(
        f"<html><head>{head}</head><body><main><div id='app'></div></main></body></html>", BASE
    ).embeds
    assert [(e.url, e.update, e.context) for e in found] == [
        (
            "https://www.youtube.com/watch?v=Kk12LmNoPq1",
            "UPDATE 1800 GMT",
            "Asked whether Damascus would comply, the ambassador laughs:",
        ),
        (
            "https://news.example/raqqa-grave.jpg",
            "Mass grave in Raqqa",
            "What activists say is a mass grave near Raqqa",
        ),
    ]
    assert found[0].posted_at == datetime(2013, 9, 28, 18, tzinfo=UTC)


def test_photos_shown_as_backgrounds_are_found() -> None:
    """A lazy loader's ``data-bg`` and a cover block's inline ``background-image`` hold
    photos; a background of site furniture (a tracker) or a tiny one does not."""
    result = article(
        "<p>Wide shot of the street:</p><div class='lazyload' data-bg='/uploads/street.jpg'>"
        "</div><p>The dome:</p><div class='wp-block-cover' style=\"min-height:430px;"
        "background-image:url('/uploads/dome.jpg')\"><p>After the shelling</p></div>"
        "<span style='background:url(https://www.google-analytics.com/collect.gif)'></span>"
        "<i style='width:16px;height:16px;background-image:url(/icons/quote.png)'></i>"
    )
    assert [(e.url, e.found_in, e.context) for e in result.embeds] == [
        ("https://news.example/uploads/street.jpg", "background", "Wide shot of the street:"),
        ("https://news.example/uploads/dome.jpg", "background", "The dome:"),
    ]


def test_an_inline_style_is_read_in_one_bounded_pass() -> None:
    """A pattern over the style took 12 s on 10,000 ``url( `` in one attribute: styles
    are read by hand, in their first STYLE_PROBE characters, and a ``url()`` that
    belongs to another property (a mask) is no background."""
    hostile = "background:" + "url( " * 10_000
    late = "background-image:" + " " * STYLE_PROBE + "url(/late.jpg)"
    result = article(
        f"<div style='{hostile}'></div><div style='{late}'></div>"
        "<div style='color:red; mask:url(/mask.png)'></div>"
        "<div style=\"background: #000 url( '/uploads/night.jpg' ) no-repeat\"></div>"
    )
    assert urls(result) == ["https://news.example/uploads/night.jpg"]


def test_the_picture_a_page_shows_of_a_post_is_kept_beside_the_post() -> None:
    """A screenshot linked to its tweet, or the copy of its photo a newsletter hosts,
    is what readers saw and outlives the post: it was skipped as a mere thumbnail. A
    video's own thumbnail stays that video."""
    result = article(
        "<p>The ambassador's post, since deleted:</p>"
        "<a href='https://twitter.com/AleppoNow/status/383940123456789099'>"
        "<img src='/uploads/screenshot-tweet.png' width='600' height='400'></a>"
        "<a href='https://www.youtube.com/watch?v=abc123XYZ_0'>"
        "<img src='https://i.ytimg.com/vi/abc123XYZ_0/hqdefault.jpg' width='480'></a>"
    )
    assert [(e.kind, e.url) for e in result.embeds] == [
        ("platform", "https://twitter.com/AleppoNow/status/383940123456789099"),
        ("file", "https://news.example/uploads/screenshot-tweet.png"),
        ("platform", "https://www.youtube.com/watch?v=abc123XYZ_0"),
    ]
    assert result.embeds[1].context == "The ambassador's post, since deleted:"


def test_cards_leading_to_other_stories_are_neither_the_story_nor_its_media() -> None:
    """A "more news" list of ``<article>`` cards (Elementor's posts widget) was taken
    for the story, whose own video was lost, and the cards' thumbnails archived."""
    cards = "".join(
        f"<article class='card'><a href='/news/{n}/'><img src='/img/{n}.jpg' width='300' "
        f"height='200'></a><h3><a href='/news/{n}/'>Other story {n}</a></h3></article>"
        for n in ("a", "b")
    )
    story = (
        "<div class='post-body'><p>Video shared by the governor shows the strike.</p>"
        "<iframe width='800' height='450' src='https://www.youtube.com/embed/Kh3rs0nM4rk'>"
        "</iframe><p>Three people were injured, officials said.</p></div>"
    )
    html = f"<html><body><main>{story}<div class='more-news'>{cards}</div></main></body></html>"
    found = extract_embeds(html, BASE).embeds
    assert [(e.url, e.context) for e in found] == [
        (
            "https://www.youtube.com/watch?v=Kh3rs0nM4rk",
            "Video shared by the governor shows the strike.",
        )
    ]
    # updates whose headings link to their own pages, one with its own photo: the story
    posts = (
        "<article><h2><a href='/live/post-1'>14:32</a></h2><p>Photo from the scene:</p>"
        "<img src='/uploads/scene.jpg' width='800' height='600'></article>"
        "<article><h2><a href='/live/post-2'>14:40</a></h2><p>No change.</p></article>"
    )
    found = extract_embeds(f"<html><body><main>{posts}</main></body></html>", BASE).embeds
    assert [(e.url, e.update) for e in found] == [
        ("https://news.example/uploads/scene.jpg", "14:32")
    ]


def test_an_updates_author_portrait_in_its_header_is_not_its_evidence() -> None:
    """The Guardian's blocks show the contributor's portrait beside the time, with no
    class to tell it by: it was archived as the update's evidence."""
    block = (
        "<article class='block'><header><a href='?page=with:block-1#block-1'>"
        "<time datetime='2024-03-12T14:32:05Z'>2h ago</time><span>14.32 GMT</span></a>"
        "<div><div><img src='https://uploads.guim.co.uk/2023/06/06/Martin_Belam.png' "
        "alt='Martin Belam'></div><span>Martin Belam</span></div></header>"
        "<p>Video posted by the interior ministry shows the aftermath.</p>"
        "<iframe src='https://www.youtube.com/embed/QwErTyUiOp1' width='620' height='349'>"
        "</iframe></article>"
    )
    html = f"<html><body><main><div id='liveblog-body'>{block * 2}</div></main></body></html>"
    found = extract_embeds(html, BASE).embeds
    assert [(e.url, e.update) for e in found] == [
        ("https://www.youtube.com/watch?v=QwErTyUiOp1", "14.32 GMT")
    ]


def test_a_liveblog_plugin_entry_in_amp_takes_its_time_from_its_aside() -> None:
    """WordPress's Liveblog plugin puts an entry's time in an ``<aside>`` in its AMP
    template: stripped as a sidebar, every entry had no label."""

    def entry(ago: str, clock: str, body: str) -> str:
        return (
            "<div class='liveblog-entry'><aside class='liveblog-entry-aside'>"
            f"<a class='liveblog-meta-time' href='#'><span>{ago}</span><span>{clock} </span>"
            "</a></aside><div class='liveblog-entry-main'><div class='liveblog-entry-content'>"
            f"{body}</div></div></div>"
        )

    entries = entry(
        "2 hours ago",
        "14:32",
        "<p>Rescue workers pulled a child from the rubble.</p>"
        "<amp-youtube data-videoid='AAAAAAAAAAA' width='480' height='270'></amp-youtube>",
    ) + entry(
        "3 hours ago",
        "13:05",
        "<amp-img src='/uploads/quake.jpg' width='1024' height='683'></amp-img>",
    )
    html = f"<html><body><article><div class='amp-wp-article-content'>{entries}</div></article>"
    found = extract_embeds(html + "<aside><img src='/side.jpg'></aside></body></html>", BASE)
    assert [(e.url, e.update) for e in found.embeds] == [
        ("https://www.youtube.com/watch?v=AAAAAAAAAAA", "14:32"),
        ("https://news.example/uploads/quake.jpg", "13:05"),
    ]


def test_a_telegram_channel_page_is_read_post_by_post_without_its_furniture() -> None:
    """On ``t.me/s/…`` one post's views and time were the next post's context, and the
    channel's avatar and each video's still were archived as photos."""
    html = (
        "<html><body><main class='tgme_main'><section class='tgme_channel_history'>"
        "<div class='tgme_widget_message' data-post='chan/1'>"
        "<div class='tgme_widget_message_user'><a href='https://t.me/chan'>"
        "<i class='tgme_widget_message_user_photo'><img src='https://cdn4.telesco.pe/file/"
        "avatar.jpg'></i></a></div><div class='tgme_widget_message_text'>Strike on Dnipro."
        "</div><div class='tgme_widget_message_footer'><span>21.4K</span> views "
        "<a class='tgme_widget_message_date' href='https://t.me/chan/1'><time "
        "datetime='2024-03-12T07:32:10+00:00'>07:32</time></a></div></div>"
        "<div class='tgme_widget_message' data-post='chan/2'>"
        "<a class='tgme_widget_message_video_player' href='https://t.me/chan/2'>"
        "<i class='tgme_widget_message_video_thumb' style=\"background-image:url("
        "'https://cdn4.telesco.pe/file/thumb2.jpg')\"></i><div><video "
        "src='https://cdn4.telesco.pe/file/v2.mp4'></video></div></a>"
        "<div class='tgme_widget_message_text'>Air defence over Kyiv.</div>"
        "<div class='tgme_widget_message_footer'><a class='tgme_widget_message_date' "
        "href='https://t.me/chan/2'><time datetime='2024-03-12T08:05:00+00:00'>08:05</time>"
        "</a></div></div></section></main></body></html>"
    )
    found = extract_embeds(html, "https://t.me/s/chan").embeds
    assert [(e.url, e.context) for e in found] == [
        ("https://t.me/chan/2", "Air defence over Kyiv."),  # the text after it, in its post
        ("https://cdn4.telesco.pe/file/v2.mp4", None),
    ]
    # each under its post's time, which its footer (chrome, after the media) gave
    assert {e.update for e in found} == {"2024-03-12 08:05 UTC"}


def test_a_url_embedded_twice_is_one_embed_that_keeps_its_other_placement() -> None:
    html = (
        "<main><article><h2>UPDATE 2300 GMT</h2><p>Reposting it, now verified:</p>"
        "<video src='/strike.mp4'></video></article><article><h2>UPDATE 1200 GMT</h2>"
        "<p>Unverified footage of a strike:</p><video src='/strike.mp4'></video></article>"
        "<article><h2>UPDATE 2300 GMT</h2><p>Reposting it, now verified:</p>"
        "<video src='/strike.mp4'></video></article></main>"
    )
    (embed,) = extract_embeds(f"<html><body>{html}</body></html>", BASE).embeds
    assert (embed.update, embed.context) == ("UPDATE 2300 GMT", "Reposting it, now verified:")
    assert embed.placements == (("UPDATE 1200 GMT", "Unverified footage of a strike:"),)


def test_an_amp_live_lists_items_are_updates_each_under_its_own_time() -> None:
    """An AMP live blog's posts are ``<div data-sort-time>`` items of ``<amp-live-list>``
    with their time in ``<amp-timeago>``: a post whose time read "2 hours ago" took the
    label of the post before it."""
    html = """<html><body><main><h1>Ukraine war live</h1>
    <amp-live-list id="live" layout="container" data-poll-interval="15000"><div items>
    <div id="p2" data-sort-time="1710254000000"><div class="meta"><amp-timeago
    layout="fixed" width="120" height="20" datetime="2024-03-12T14:33:20Z">March 12, 2024
    2:33 PM</amp-timeago></div><p>Kyiv's mayor posted video of air defence at work:</p>
    <amp-video width="1280" height="720" layout="responsive"><source src="/v/kyiv.mp4"
    type="video/mp4"></amp-video></div>
    <div id="p1" data-sort-time="1710250000000"><div class="meta"><amp-timeago
    layout="fixed" width="120" height="20" datetime="2024-03-12T13:26:40Z">2 hours ago
    </amp-timeago></div><p>Rescuers in Kharkiv:</p><amp-img src="/i/kharkiv.jpg"
    width="1200" height="800" layout="responsive"></amp-img></div>
    <div id="p0" data-sort-time="1710240000000"><p>Untimed:</p>
    <amp-img src="/i/untimed.jpg" width="1200" height="800" layout="responsive"></amp-img>
    </div></div></amp-live-list></main></body></html>"""
    found = extract_embeds(html, "https://news.example/live/ukraine.amp").embeds
    assert [(e.url.rsplit("/", 1)[1], e.update, e.context) for e in found] == [
        ("kyiv.mp4", "March 12, 2024 2:33 PM", "Kyiv's mayor posted video of air defence at work:"),
        ("kharkiv.jpg", "2024-03-12 13:26 UTC", "Rescuers in Kharkiv:"),
        ("untimed.jpg", None, "Untimed:"),  # an item of its own: nothing carries over
    ]


def test_a_posts_time_with_its_date_in_numbers_or_in_words_is_its_label() -> None:
    """Posts built from ``<div>`` took the label of the post before them when their time
    showed its date in numbers ("12.03.2024, 18:00") or in words no pattern knows
    ("12 березня 2024, 18:00"): a four-digit year made it "a date in a sentence"."""
    video = "<iframe src='https://www.youtube.com/embed/AbCdEfGhIa{}'></iframe>"
    posts = [
        "<time datetime='2024-03-12T17:00:00+02:00'>17:00</time>",
        "<time datetime='2024-03-12T18:00:00+02:00'>12.03.2024, 18:00</time>",
        "<time datetime='2024-03-12T18:30:00+02:00'>12 березня 2024, 18:30</time>",
        "<span class='date'>12.03.2024</span> <span class='time'>19:00</span>",
        "<span class='time'>19:30</span> <span class='date'>12/03/2024</span>",
    ]
    html = "".join(
        f"<div class='post'><div class='post__time'>{time}</div><p>Post {n}:</p>"
        f"{video.format(n)}</div>"
        for n, time in enumerate(posts)
    )
    found = article(f"<h1>Live</h1>{html}").embeds
    assert [(e.update, e.context) for e in found] == [
        ("17:00", "Post 0:"),
        ("12.03.2024, 18:00", "Post 1:"),
        ("2024-03-12 18:30 +02:00", "Post 2:"),  # the moment it holds
        ("12.03.2024 19:00", "Post 3:"),
        ("19:30 12/03/2024", "Post 4:"),
    ]


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("18:00 мск: Минобороны опубликовало видео", "18:00 мск"),
        ("Обновлено в 18:00", "Обновлено в 18:00"),
        ("Оновлено о 18:00", "Оновлено о 18:00"),
        ("18:00 بتوقيت مكة المكرمة: نشر ناشطون", "18:00 بتوقيت مكة المكرمة"),
        ("آخر تحديث: 18:00", "آخر تحديث: 18:00"),
        ("14:32 (GMT): Sirens", "14:32 (GMT)"),
        ("18:00 IDT: Sirens", "18:00 IDT"),
        ("18:00 IRST - Footage", "18:00 IRST"),
        ("2024-03-12 18:00", "2024-03-12 18:00"),
        ("UPDATE 12.03.2024, 18:00: More", "UPDATE 12.03.2024, 18:00"),
        ('עדכון 18:00: צה"ל פרסם תיעוד', "עדכון 18:00"),
        ("به\u200cروزرسانی ۱۸:۰۰: ویدئو منتشر شد", "به\u200cروزرسانی ۱۸:۰۰"),
        # Arabic "update (at) the hour 18:00"; a time in square brackets
        ("تحديث الساعة 18:00: نشر ناشطون مقطع فيديو", "تحديث الساعة 18:00"),
        ("تحديث في الساعة 18:00: صورة من الموقع", "تحديث في الساعة 18:00"),
        ("[18:00] Footage shows the port", "18:00"),
        ("[UPDATE 18:00 GMT]: More", "UPDATE 18:00 GMT"),
        ("[Watch] the strike", None),
        # a bracketed keyword alone is an editor's note, not a label
        ("[Updated] The video has been replaced", None),
        ("[Correction] An earlier version said", None),
        ("[Just in] Footage shows", None),
        ("[Update 2] More footage", None),
        # a place after a time is a dateline, not its zone; a date alone is no label
        ("20:00 Kyiv: Air defence video", "20:00"),
        ("UPDATE 1430 Damascus: Rebels said", "UPDATE 1430"),
        ("Update from Gaza: the crossing", None),
        ("12.03.2024: a day of strikes", None),
        ("Обновлено в Москве: новые данные", None),
    ],
)
def test_labels_in_more_languages_zones_and_dates_in_numbers(text: str, label: str | None) -> None:
    found = label_at_start(text)
    assert (found.text if found else None) == label


def test_an_arabic_update_at_the_hour_is_a_label() -> None:
    """ "تحديث الساعة 18:00" ("update, the hour 18:00") is how Arabic live blogs write
    "Update at 18:00"; both videos fell under the page title, the label in their context."""
    html = (
        "<html lang='ar' dir='rtl'><body><main><article><h1>مباشر: الحرب على غزة</h1>"
        "<div class='entry-content'><p>تغطية مباشرة لتطورات اليوم.</p>"
        "<p><strong>تحديث الساعة 18:00:</strong> نشر ناشطون مقطع فيديو يظهر لحظة القصف:</p>"
        "<iframe src='https://www.youtube.com/embed/AAAAAAAAAA1'></iframe>"
        "<p><strong>تحديث الساعة 17:00:</strong> صورة من موقع الاستهداف:</p>"
        "<iframe src='https://www.youtube.com/embed/AAAAAAAAAA2'></iframe>"
        "</div></article></main></body></html>"
    )
    result = extract_embeds(html, "https://ar.news.example/live")
    assert [(e.update, e.context) for e in result.embeds] == [
        ("تحديث الساعة 18:00", "نشر ناشطون مقطع فيديو يظهر لحظة القصف:"),
        ("تحديث الساعة 17:00", "صورة من موقع الاستهداف:"),
    ]


def test_a_time_in_square_brackets_is_a_label() -> None:
    result = article(
        "<p>[18:00] Footage shows the strike on the port:</p>"
        "<iframe src='https://www.youtube.com/embed/AbCdEfGhIe5'></iframe>"
        "<p>[17:00 GMT] Smoke over the city:</p><video src='/smoke.mp4'></video>"
    )
    assert [(e.update, e.context) for e in result.embeds] == [
        ("18:00", "Footage shows the strike on the port:"),
        ("17:00 GMT", "Smoke over the city:"),
    ]


def test_a_bracketed_editors_note_does_not_relabel_the_post() -> None:
    html = (
        "<html><body><main><h1>Live</h1><div class='live-feed'>"
        "<div class='live-post' id='post-102'><h2>10:32 GMT Strike on the port</h2>"
        "<p>Footage shows the port strike.</p>"
        "<p>[Updated] The video has been replaced with a longer version:</p>"
        "<iframe src='https://www.youtube.com/embed/LlLlLlLlLl1'></iframe></div>"
        "<div class='live-post' id='post-101'><h2>09:15 GMT Kharkiv</h2>"
        "<p>A new video from Kharkiv:</p>"
        "<iframe src='https://www.youtube.com/embed/LlLlLlLlLl2'></iframe></div>"
        "</div></main></body></html>"
    )
    first = extract_embeds(html, "https://news.example/live").embeds[0]
    assert first.update == "10:32 GMT Strike on the port"


def test_a_dateline_after_a_time_stays_in_the_context() -> None:
    result = article(
        "<p>20:00 <strong>Kyiv:</strong> Air defence video</p>"
        "<iframe src='https://www.youtube.com/embed/AbCdEfGhIe4'></iframe>"
        "<p>21:15 Kyiv: Sirens again</p><video src='/sirens.mp4'></video>"
    )
    assert [(e.update, e.context) for e in result.embeds] == [
        ("20:00", "Kyiv: Air defence video"),
        ("21:15", "Kyiv: Sirens again"),
    ]


def test_a_box_of_links_to_other_stories_inside_an_update_does_not_take_its_label() -> None:
    """A related-stories box set inside an update (its headline a heading that is all a
    link, Al Jazeera's "Keep reading" list of ``<article>`` cards, a bare ``<article>``
    around a link) took over the update's label, or reset it to none."""
    boxes = [
        "<div class='inline-links'><h4><a href='/news/2024/3/11/other-story'>Ukraine war:"
        " list of key events, day 747</a></h4></div>",
        "<div class='more-on'><h2>Keep reading</h2><ul>"
        "<li><article class='gc'><h3><a href='/news/2024/3/11/a'>Story A</a></h3></article>"
        "</li><li><article class='gc'><h3><a href='/news/2024/3/11/b'>Story B</a></h3>"
        "</article></li></ul></div>",
        "<article><a href='/news/2024/3/11/c'>Story C</a></article>",
    ]
    updates = "".join(
        f"<div class='update'><h2>UPDATE 18:0{n} GMT: Odesa port hit</h2><p>Missiles struck"
        f" the port.</p>{box}<p>The governor posted this video:</p><iframe src='https://"
        f"www.youtube.com/embed/AbCdEfGhIe{n}'></iframe></div>"
        for n, box in enumerate(boxes)
    )
    # a post's title that links to its own page is its label, beside the post before it
    updates += (
        "<div class='update'><h2><a href='/news/liveblog/2024/3/12/war/post-9'>Kharkiv"
        " without power</a></h2><p>Photo:</p><img src='/uploads/kharkiv.jpg'></div>"
    )
    html = f"<html><body><main><h1>Live</h1><div class='liveblog'>{updates}</div></main>"
    found = extract_embeds(html, "https://news.example/news/liveblog/2024/3/12/war").embeds
    assert [(e.update, e.context) for e in found] == [
        ("UPDATE 18:00 GMT", "The governor posted this video:"),
        ("UPDATE 18:01 GMT", "The governor posted this video:"),
        ("UPDATE 18:02 GMT", "The governor posted this video:"),
        ("Kharkiv without power", "Photo:"),
    ]


def test_a_guardian_youtube_atom_is_its_video_with_its_caption_not_its_still() -> None:
    """The Guardian draws YouTube videos from ``<div data-component="youtube-atom"
    data-video-id>`` in a ``<gu-island>``: the video was missed and its still archived
    as a photo."""
    html = (
        "<p>The military released video it says shows a tunnel:</p><figure data-spacefinder"
        "-type='model.dotcomrendering.pageElements.YoutubeBlockElement'><gu-island name="
        "'YoutubeBlockComponent' props='{}'><div data-chromatic='ignore'><div data-component"
        "='youtube-atom' data-atom-id='8052ac31' data-video-id='pz8VRrI0p0U'><div data-"
        "testid='youtube-overlay-pz8VRrI0p0U-0'><picture><img src='https://i.guim.co.uk/img/"
        "media/f4ef/0_0_1920_1080/master/1920.jpg?width=620&s=none' width='620' height='349'>"
        "</picture></div></div></div></gu-island><figcaption>IDF footage released on Tuesday"
        "</figcaption></figure>"
    )
    embed = only(article(html, base="https://www.theguardian.com/world/live/2024/mar/12/x"))
    assert (embed.url, embed.found_in, embed.context) == (
        "https://www.youtube.com/watch?v=pz8VRrI0p0U",
        "youtube-atom",
        "IDF footage released on Tuesday",
    )


def test_a_pictures_credit_is_part_of_its_caption_not_the_next_embeds_context() -> None:
    """A credit in a figure ("Photo: …", BBC's "Image source, Getty Images") was read as
    running text, and became the context of the video after the figure."""
    result = article(
        "<p>He posted these images and a video of the aftermath:</p><figure><img src='/u/"
        "a.jpg' width='1200' height='800'><span class='credit'>Photo: Kherson regional "
        "administration</span></figure><iframe src='https://www.youtube.com/embed/AbCdEfGhIa"
        "2'></iframe><figure><div><img src='/u/b.jpg' width='976'><p class='ssrcss-1abc-"
        "Copyright'><span class='ssrcss-1f39n02-VisuallyHidden'>Image source, </span>Getty "
        "Images</p></div><figcaption>Rescuers at the site</figcaption></figure><video src="
        "'/u/c.mp4'></video><p>Seen from a roof:</p><img src='/u/d.jpg' width='800'><span "
        "class='photo-credit'>AP Photo</span><video src='/u/e.mp4'></video>"
    )
    assert [e.context for e in result.embeds] == [
        "Photo: Kherson regional administration",
        "He posted these images and a video of the aftermath:",
        "Rescuers at the site (Getty Images)",
        "He posted these images and a video of the aftermath:",
        "AP Photo",  # right after its photo, outside a figure
        "Seen from a roof:",
    ]


def test_old_guardian_tweets_are_posts_and_their_text_is_not_context() -> None:
    """The Guardian's tweets of 2014 to 2021 (``<figure class="element-tweet"
    data-canonical-url><blockquote class="js-tweet tweet">``) were read as quotes: the
    tweet's byline became its context and its text the next embed's."""
    result = article(
        "<p>The ministry shared footage:</p><figure class='element element-tweet' data-"
        "canonical-url='https://twitter.com/mod_russia/status/936000000000000000'><blockquote"
        " class='js-tweet tweet'><p>Strikes on the positions</p>&mdash; MoD (@mod_russia) <a "
        "href='https://twitter.com/mod_russia/status/936000000000000000?ref=x'>November 30, "
        "2017</a></blockquote></figure><img src='/after.jpg' width='800'>"
    )
    tweet, photo = result.embeds
    assert (tweet.url, tweet.found_in, tweet.context) == (
        "https://twitter.com/mod_russia/status/936000000000000000",
        "blockquote",
        "The ministry shared footage:",
    )
    assert tweet.metadata["embed_text"].startswith("Strikes on the positions")
    assert photo.context == "The ministry shared footage:"


def test_a_video_uploaded_to_substack_is_its_file() -> None:
    result = article(
        "<p>Footage from the front:</p><div class='native-video-embed' data-component-name="
        "'VideoPlaceholder' data-attrs='{&quot;mediaUploadId&quot;:&quot;b66aaef5-0a08-44a9-"
        "9c5b-666c646a7c4a&quot;,&quot;duration&quot;:null}'></div>",
        base="https://example.substack.com/p/front",
    )
    embed = only(result)
    assert (embed.url, embed.kind, embed.media_type, embed.context) == (
        "https://substack.com/api/v1/video/upload/b66aaef5-0a08-44a9-9c5b-666c646a7c4a/src",
        "file",
        "video",
        "Footage from the front:",
    )


def test_donation_buttons_and_banners_are_not_evidence() -> None:
    result = article(
        "<p>Support us. <a href='https://www.patreon.com/newsexample'><img src='/static/"
        "patreon-button.png' width='217' height='51'></a></p><div class='wp-block-image'><a "
        "href='https://news.example/donate'><img src='/uploads/2024/01/donate-banner.jpg' "
        "width='1200' height='300' alt='Donate'></a></div><p><a href='https://ko-fi.com/x'>"
        "<span style='background-image:url(/kofi.png);width:200px;height:40px'></span></a>"
        # a photo linked to its full size is evidence, whatever its name; so is the
        # text of a sentence with a donation link in it
        "</p><p>Volunteers, funded <a href='https://www.patreon.com/x'>on Patreon</a>, "
        "filmed the donation centre:</p><a href='/uploads/donate-centre.jpg'><img src='/"
        "uploads/donate-centre-300x200.jpg'></a>"
    )
    assert [(e.url, e.context) for e in result.embeds] == [
        (
            "https://news.example/uploads/donate-centre.jpg",
            "Volunteers, funded on Patreon, filmed the donation centre:",
        )
    ]


def test_embeds_whose_addresses_can_never_be_fetched_are_reported_not_dropped() -> None:
    """Only where a usable address would have made an embed: not chrome, icons,
    ``data:`` images or mail links."""
    page = (
        "<nav><img src='ftp://example.org/nav.jpg' width='600' height='400'></nav><article>"
        "<p>Footage:</p><video src='ftp://example.org/x.mp4'></video>"
        "<iframe src='https://127.0.0.1:99999/p' width='640' height='360'></iframe>"
        "<img src='data:image/png;base64,iVBORw0KGgo=' width='640' height='480'>"
        "<p><a href='mailto:desk@example.org'>Write</a> <a href='ftp://example.org/page'>x</a></p>"
        "<img src='ftp://example.org/dot.gif' width='1' height='1'></article>"
        "<footer><video src='ftp://example.org/foot.mp4'></video></footer>"
    )
    found = extract_embeds(page, "https://news.example/live")
    assert found.embeds == []
    assert [(u.url, u.found_in, u.context) for u in found.unusable] == [
        ("ftp://example.org/x.mp4", "video", "Footage:"),
        ("https://127.0.0.1:99999/p", "iframe", "Footage:"),
    ]


LIVE = "https://news.example/live/ukraine-2024"


def live_post(n: int, title: str, said: str, cls: str = "post") -> str:
    """A live-blog update with its own heading, time and video."""
    return (
        f"<article class='{cls}'><header><h2>{title}</h2><time datetime='2024-03-12T1{n}:00Z'>"
        f"1{n}:00</time></header><p>{said}</p><iframe src='https://www.youtube.com/embed/"
        f"Kharkiv000{n}' width='640' height='360'></iframe></article>"
    )


@pytest.mark.parametrize("pinned_said", ["A summary of the day. " * 12, "A short summary."])
def test_a_pinned_post_in_a_container_of_its_own_and_the_stream_are_both_read(
    pinned_said: str,
) -> None:
    """The pinned post and the stream sit in wrappers that share no class: only the
    larger part was read (the pinned post alone, up to 15 updates in the stream)."""
    said = "Officials said a drone hit a residential block overnight."
    stream = "".join(
        live_post(n, title, said)
        for n, title in [(1, "Drone strike"), (2, "Air raid alert"), (3, "Zelensky speaks")]
    )
    html = (
        "<html><body><nav><a href='/'>Home</a></nav><main><h1>Ukraine live</h1>"
        f"<div class='pinned-post'>{live_post(9, 'Summary', pinned_said, 'post post--pinned')}"
        f"</div><div class='live-stream'>{stream}</div></main></body></html>"
    )
    found = extract_embeds(html, LIVE).embeds
    assert [(e.url.rsplit("=", 1)[1], e.update) for e in found] == [
        ("Kharkiv0009", "Summary"),
        ("Kharkiv0001", "Drone strike"),
        ("Kharkiv0002", "Air raid alert"),
        ("Kharkiv0003", "Zelensky speaks"),
    ]


def short_update(n: int, heading: str, media: str) -> str:
    """A short update whose heading links to its own permalink on the page."""
    return (
        f"<article class='post'><header><h2><a href='{LIVE}?post={n}'>{heading}</a></h2>"
        f"</header><p>The emergency service posted this.</p>{media}</article>"
    )


@pytest.mark.parametrize(
    ("media", "url"),
    [
        (
            "<script async src='https://telegram.org/js/telegram-widget.js?22' "
            "data-telegram-post='dsns_telegram/1234{n}' data-width='100%'></script>",
            "https://t.me/dsns_telegram/1234{n}",
        ),
        (
            "<div class='fb-video' data-href='https://www.facebook.com/zelenskyy.official/"
            "videos/12345{n}/'></div>",
            "https://www.facebook.com/zelenskyy.official/videos/12345{n}/",
        ),
        (
            "<a href='https://twitter.com/ua_navy/status/17600000000000000{n}'>"
            "<img src='https://pbs.twimg.com/media/GHabc{n}XAAA.jpg' width='600' height='400'>"
            "</a>",
            "https://twitter.com/ua_navy/status/17600000000000000{n}",
        ),
        # a photo linked to the post's own permalink, the page naming its address
        (
            f"<a href='{LIVE}?post={{n}}'><img src='/uploads/kharkiv-{{n}}.jpg' width='800'"
            " height='600'></a>",
            "https://news.example/uploads/kharkiv-{n}.jpg",
        ),
    ],
    ids=["telegram", "facebook", "tweet", "permalink"],
)
def test_short_updates_side_by_side_with_posts_of_their_own_are_not_teaser_cards(
    media: str, url: str
) -> None:
    """Two short updates side by side were taken for a list of cards leading to other
    stories, and both dropped: a Telegram widget, a Facebook video and a link to a tweet
    were not counted as their own media, and a permalink with a query led elsewhere."""
    long_said = "Long text about the situation on the front line near Avdiivka. " * 8
    html = (
        f"<html><head><link rel='canonical' href='{LIVE}'></head><body><main>"
        f"<h1>Ukraine live</h1><div class='stream'>{live_post(1, 'Front line', long_said)}"
        f"{short_update(2, 'Kharkiv strike', media.format(n=2))}"
        f"{short_update(3, 'Odesa strike', media.format(n=3))}</div></main></body></html>"
    )
    found = [(e.url, e.update) for e in extract_embeds(html, LIVE).embeds]
    assert (url.format(n=2), "Kharkiv strike") in found
    assert (url.format(n=3), "Odesa strike") in found
    assert found[0] == ("https://www.youtube.com/watch?v=Kharkiv0001", "Front line")


def test_a_dated_update_whose_photo_links_to_its_source_is_not_a_teaser_card() -> None:
    """Updates with their own time and headline, each photo linked to where it came
    from (a Flickr page), were dropped as a list of cards; cards stay out."""
    updates = "".join(
        f"<article class='post'><header><h2>Photos from Kharkiv {n}</h2><time datetime="
        f"'2024-03-12T1{n}:45Z'>1{n}:45</time></header><p>The emergency service released"
        f" these.</p><a href='https://www.flickr.com/photos/dsns/5351234567{n}/'><img src="
        f"'https://live.staticflickr.com/65535/5351234567{n}_abc_b.jpg' width='1024' "
        "height='683'></a></article>"
        for n in (2, 3)
    )
    cards = "".join(
        f"<article class='card'><a href='/news/{n}/'><img src='/img/{n}.jpg' width='300' "
        f"height='200'></a><h3><a href='/news/{n}/'>Other story {n}</a></h3><time "
        "datetime='2024-03-11'>11 March</time></article>"
        for n in ("a", "b")
    )
    html = (
        f"<html><body><main><h1>Ukraine live</h1><div class='stream'>{updates}</div>"
        f"<div class='more-news'>{cards}</div></main></body></html>"
    )
    found = extract_embeds(html, LIVE).embeds
    assert [(e.url, e.update) for e in found] == [
        ("https://live.staticflickr.com/65535/53512345672_abc_b.jpg", "Photos from Kharkiv 2"),
        ("https://live.staticflickr.com/65535/53512345673_abc_b.jpg", "Photos from Kharkiv 3"),
    ]


@pytest.mark.parametrize(
    "title_block",
    [
        "<header><h1>War live: strikes on Kharkiv</h1><figure><img src='/p/lead.jpg' "
        "width='1200' height='800'><figcaption>Rescuers at the site of the strike</figcaption>"
        "</figure></header><div><p>Summary: at least five people were killed.</p></div>",
        "<div class='live-header'><h1>War live: strikes on Kharkiv</h1><figure class='lead'>"
        "<video controls src='/p/lead.mp4'></video><figcaption>Rescuers at the site of the "
        "strike</figcaption></figure><div class='summary'><ul><li>Five killed.</li></ul></div>"
        "</div>",
    ],
    ids=["photo-in-header", "video-in-live-header"],
)
def test_the_lead_photo_or_video_above_a_run_of_posts_is_the_storys(title_block: str) -> None:
    """The content narrowed to the run of posts: the lead photo in the title block
    above it, which the README counts as the story's, was lost. Chrome there stays out."""
    posts = "".join(
        f"<li><article><header><h3>{title}</h3></header><p>Officials said a drone hit a "
        f"residential block.</p><img src='/p/{name}.jpg' width='976' height='549'></article>"
        "</li>"
        for title, name in [("Drone strike", "drone"), ("Air raid", "raid"), ("Odesa", "port")]
    )
    html = (
        "<html><body><nav><figure><img src='/p/nav.jpg' width='600' height='400'></figure>"
        f"</nav><main>{title_block}<div class='promo'><figure><img src='/p/promo.jpg' "
        "width='600' height='400'></figure></div>"
        f"<ol class='stream'>{posts}</ol></main></body></html>"
    )
    found = extract_embeds(html, LIVE).embeds
    assert [(e.url.rsplit("/", 1)[1], e.update, e.context) for e in found] == [
        (found[0].url.rsplit("/", 1)[1], None, "Rescuers at the site of the strike"),
        ("drone.jpg", "Drone strike", "Officials said a drone hit a residential block."),
        ("raid.jpg", "Air raid", "Officials said a drone hit a residential block."),
        ("port.jpg", "Odesa", "Officials said a drone hit a residential block."),
    ]
    assert found[0].url.rsplit("/", 1)[1] in ("lead.jpg", "lead.mp4")


def test_live_posts_drawn_without_article_each_start_an_update() -> None:
    """``<div class="live-post" data-post-id>`` posts: one without a heading took the
    label of the post before it."""
    html = """<html><body><main><h1>Ukraine live</h1><div class="live-feed">
    <div class="live-post" id="post-101" data-post-id="101"><h2>Drone strike on Kharkiv</h2>
    <p>Two people were killed in the strike.</p>
    <img src="/p/kharkiv.jpg" width="1200" height="800"></div>
    <div class="live-post" id="post-102" data-post-id="102">
    <img src="/p/belgorod.jpg" width="1200" height="800">
    <p>Russia claimed it shot down 12 drones over Belgorod.</p></div>
    </div></main></body></html>"""
    found = extract_embeds(html, LIVE).embeds
    assert [(e.url.rsplit("/", 1)[1], e.update, e.context) for e in found] == [
        ("kharkiv.jpg", "Drone strike on Kharkiv", "Two people were killed in the strike."),
        ("belgorod.jpg", None, None),
    ]


@pytest.mark.parametrize("wrap", ["siblings", "list-items"])
def test_a_post_in_a_list_item_does_not_inherit_the_label_before(wrap: str) -> None:
    """Posts drawn as ``<div class="live-post" id="post-N">`` one per ``<li>`` (cousins)
    were no posts of their own: one showing its time only as "1 hr ago" was filed under
    the previous post's "10:32am"."""
    posts = [
        "<div class='live-post' id='post-102'><p class='live-post__time'>10:32am</p>"
        "<p>Footage shows the port strike:</p>"
        "<iframe src='https://www.youtube.com/embed/LlLlLlLlLl1'></iframe></div>",
        "<div class='live-post' id='post-101'><p class='live-post__time'>1 hr ago</p>"
        "<p>A new video from Kharkiv:</p>"
        "<iframe src='https://www.youtube.com/embed/LlLlLlLlLl2'></iframe></div>",
    ]
    if wrap == "list-items":
        feed = "<ul class='live-feed'>" + "".join(f"<li>{p}</li>" for p in posts) + "</ul>"
    else:
        feed = "<div class='live-feed'>" + "".join(posts) + "</div>"
    html = f"<html><body><main><h1>Ukraine war live</h1>{feed}</main></body></html>"
    found = extract_embeds(html, LIVE).embeds
    assert [(e.update, e.context) for e in found] == [
        ("10:32am", "Footage shows the port strike:"),
        (None, "A new video from Kharkiv:"),  # not "10:32am": that is the post before
    ]


def test_a_list_of_related_stories_numbered_as_posts_does_not_relabel_the_story() -> None:
    """``<li><div class="post" id="post-N">`` with no moment and no live-post class is a
    list of other stories, not live posts: the last one's title labelled what followed."""
    items = "".join(
        f"<li><div class='post' id='post-{n}'><h3><a href='/story-{n}'>Other story number {n}"
        f" about the war</a></h3><img src='/thumbs/story-{n}.jpg' width='640' height='360'>"
        "</div></li>"
        for n in (55, 56, 57)
    )
    html = (
        "<html><body><main><h1>Story</h1><div class='story-body'>"
        "<p>" + "Intro text of the story about the day and the war. " * 5 + "</p>"
        "<p>UPDATE 18:00 GMT: The governor posted a video:</p>"
        "<iframe src='https://www.youtube.com/embed/AbCdEfGhIe5'></iframe>"
        f"<p>More on this:</p><ul>{items}</ul>"
        "<p>Later the army said:</p><video src='/clips/army.mp4'></video>"
        "</div></main></body></html>"
    )
    embeds = extract_embeds(html, "https://news.example/2024/03/12/story").embeds
    army = next(e for e in embeds if e.url.endswith("/clips/army.mp4"))
    assert army.update == "UPDATE 18:00 GMT"


STREAM = (
    "<div class='stream'><article><h2>Drone strike</h2><p>Officials said a drone hit a "
    "residential block overnight in Kharkiv.</p>{first}</article><article><h2>Air raid</h2>"
    "<p>Air raid alert across the country this morning, officials said.</p><img "
    "src='/p/raid.jpg' width='976' height='549'></article></div>"
)
DRONE_PHOTO = "<img src='/p/drone.jpg' width='976' height='549'>"


def test_boxes_beside_a_run_of_posts_are_not_its_lead_media() -> None:
    """Only the title block's media, or a figure standing bare before the posts, is the
    story's lead: a "video of the day" box and a gallery rail were taken in."""
    html = (
        "<html><body><main><div class='top'><h1>Ukraine war live</h1></div>"
        "<div class='video-of-the-day'><h2>Video of the day</h2><figure><video "
        "src='/promo/rehearsal.mp4'></video><figcaption>Eurovision rehearsals</figcaption>"
        "</figure></div><figure><a href='/galleries/fashion/'><img src='/promo/fashion.jpg' "
        "width='600' height='400'></a><figcaption>Fashion week</figcaption></figure>"
        f"{STREAM.format(first=DRONE_PHOTO)}</main></body></html>"
    )
    found = extract_embeds(html, LIVE).embeds
    assert [e.url.rsplit("/", 1)[1] for e in found] == ["drone.jpg", "raid.jpg"]


def test_a_lead_photo_a_post_shows_too_keeps_the_posts_update() -> None:
    """The title block's photo, which the first post shows with its caption, was
    recorded first under no update; the post kept only a second placement."""
    photo = "<figure><img src='/p/strike.jpg' width='976' height='549'><figcaption>Rescuers"
    html = (
        "<html><body><main><header><h1>Ukraine war live</h1><figure><img src='/p/strike.jpg'"
        " width='1200' height='800'></figure></header>"
        f"{STREAM.format(first=photo + ' at the block.</figcaption></figure>')}"
        "</main></body></html>"
    )
    found = extract_embeds(html, LIVE).embeds
    first = found[0]
    assert (first.url.rsplit("/", 1)[1], first.update, first.context) == (
        "strike.jpg",
        "Drone strike",
        "Rescuers at the block.",
    )


def test_cards_dated_hours_ago_linking_to_the_sites_stories_stay_out() -> None:
    """A "more news" card's own time and unlinked headline made it an update: its
    thumbnail, linked to the site's story, was archived beside the posts."""
    cards = "".join(
        f"<article><a href='/2024/03/{n}/'><img src='/p/{n}-thumb.jpg' width='400' "
        f"height='225'></a><h3>Story {n}</h3><time>3 hours ago</time></article>"
        for n in ("eurovision", "weather")
    )
    html = (
        "<html><body><main><h1>Ukraine war live</h1>"
        f"{STREAM.format(first=DRONE_PHOTO)}<div class='explore'><h2>Explore</h2>{cards}</div>"
        "</main></body></html>"
    )
    found = extract_embeds(html, LIVE).embeds
    assert [e.url.rsplit("/", 1)[1] for e in found] == ["drone.jpg", "raid.jpg"]


@pytest.mark.parametrize(
    "heading",
    ["14:50 Rescuers reach the block", "March 11, 2024", "Day 745", "15:20 по Киеву: видео"],
)
def test_a_heading_opening_with_a_moment_inside_a_post_starts_an_update(heading: str) -> None:
    """Only a subheading ("Watch:") is a post's own text: one opening with a time, a
    date or a day's number marks an update within it, and lost its label."""
    html = (
        "<html><body><main><article><h2>Strike on Kyiv</h2><p>Missiles hit the capital.</p>"
        f"<h3>{heading}</h3><video src='/a.mp4'></video></article><article><h2>Odesa</h2>"
        "<p>Port hit.</p><img src='/b.jpg'></article></main></body></html>"
    )
    (video, _) = extract_embeds(html, LIVE).embeds
    assert video.update is not None and video.update.split()[0] == heading.split()[0]


SITE_STREAM = (
    "<article class='post'><h2>10:05 Strike on Odesa port</h2><p>Russian drones struck the "
    "port of Odesa overnight, the governor said.</p><img src='https://site.ua/p/odesa.jpg' "
    "width='800' height='500'></article><article class='post'><h2>09:40 Shelling in "
    "Kherson</h2><p>Two people were injured in shelling of Kherson this morning.</p><img "
    "src='https://site.ua/p/kherson.jpg' width='800' height='500'></article>"
)


def site_page(inside_stream: str, canonical: str | None = "https://site.ua/live/war") -> str:
    """A live page on site.ua: its title, then two posts with photos and what is given."""
    head = f"<head><link rel='canonical' href='{canonical}'></head>" if canonical else ""
    return (
        f"<html>{head}<body><main><h1>War live</h1><div class='stream'>{SITE_STREAM}"
        f"{inside_stream}</div></main></body></html>"
    )


def found_files(html: str) -> list[str]:
    return [e.url.rsplit("/", 1)[1] for e in extract_embeds(html, "https://site.ua/x").embeds]


@pytest.mark.parametrize(
    ("canonical", "link"),
    [
        ("https://site.ua/news.php?id=100", "news.php?id={n}"),
        ("https://site.ua/?p=100", "/?p={n}"),
        (None, "?id={n}"),  # no declared address: a relative query of another page
    ],
    ids=["query-id", "wordpress-plain", "undeclared"],
)
def test_cards_linking_to_other_pages_of_a_site_addressed_by_query_stay_out(
    canonical: str | None, link: str
) -> None:
    """``news.php?id=200`` was this page (``news.php?id=100``) with a query, so its card's
    thumbnail was the post's own photo: the cards' thumbnails were archived."""
    cards = "".join(
        f"<article class='card'><a href='{link.format(n=n)}'><img src='https://site.ua/p/"
        f"thumb-{n}.jpg' width='300' height='200'></a><h3><a href='{link.format(n=n)}'>Story "
        f"{n}</a></h3></article>"
        for n in (200, 201)
    )
    assert found_files(site_page(cards, canonical)) == ["odesa.jpg", "kherson.jpg"]


@pytest.mark.parametrize("host", ["www.site.ua", "news.site.ua"])
def test_dated_cards_linking_to_the_sites_www_or_subdomain_stay_out(host: str) -> None:
    """A card's thumbnail linked to ``www.site.ua`` while the page names itself
    ``site.ua``: another site, so the card was a dated update linking to its source."""
    cards = "".join(
        f"<article class='card'><a href='https://{host}/news/{n}'><img src='https://site.ua/"
        f"p/thumb-{n}.jpg' width='300' height='200'></a><time datetime='2024-03-12T08:00'>"
        f"08:00</time><h3>Story {n}</h3></article>"
        for n in (200, 201)
    )
    assert found_files(site_page(cards)) == ["odesa.jpg", "kherson.jpg"]


@pytest.mark.parametrize(
    "post", ["https://www.youtube.com/watch?v=AAAAAAAAAA{n}", "https://t.me/site_ua/12{n}"]
)
def test_video_cards_whose_thumbnail_links_to_the_platform_stay_out(post: str) -> None:
    """A card's thumbnail linked to the video on YouTube, its headline to the site's own
    video page: the link to a platform post made it media of its own, an update."""
    cards = "".join(
        f"<article class='card'><a href='{post.format(n=n)}'><img src='https://i.ytimg.com/"
        f"vi/AAAAAAAAAA{n}/hqdefault.jpg'></a><h3><a href='/video/show-{n}'>Evening show</a>"
        "</h3></article>"
        for n in (1, 2)
    )
    assert found_files(site_page(cards)) == ["odesa.jpg", "kherson.jpg"]


@pytest.mark.parametrize(
    ("sidebar_posts", "photo_box"),
    [
        ("<article class='post small'><h3>Top story {n}</h3><img src='https://site.ua/p/"
         "thumb-{n}.jpg' width='300' height='200'><p>Excerpt.</p></article>", ""),
        ("<article class='post small'><h3>Top story {n}</h3><time datetime='2024-03-12T08:00'>"
         "08:00</time><p>Excerpt.</p></article>",
         "<div class='photo-day'><h4>Photo of the day</h4><img src='https://site.ua/p/"
         "sunflowers.jpg' width='600' height='400'></div>"),
    ],
    ids=["short-stories", "photo-of-the-day"],
)  # fmt: skip
def test_a_sidebar_column_beside_the_stream_is_not_posts_beside_it(
    sidebar_posts: str, photo_box: str
) -> None:
    """A bootstrap ``col-md-4`` of short ``article.post`` stories beside the stream's
    ``col-md-8`` was taken for a pinned post beside the run: its pictures were archived."""
    sidebar = photo_box + "".join(sidebar_posts.format(n=n) for n in (1, 2))
    html = (
        "<html><body><div class='container'><div class='col-md-8'>"
        f"{SITE_STREAM}</div><div class='col-md-4'>{sidebar}</div></div></body></html>"
    )
    assert found_files(html) == ["odesa.jpg", "kherson.jpg"]


def test_the_authors_headshot_in_the_title_block_is_no_lead_photo() -> None:
    """The byline's headshot (and a small thumbnail) above the posts was moved in as the
    story's lead photo; only the first photo there is the lead, and any video."""
    html = (
        "<html><body><main><div class='article-top'><h1>War live: day 800</h1><div "
        "class='article-meta'><figure><img src='https://site.ua/p/olena-petrenko.jpg'>"
        "</figure><span>Olena Petrenko</span></div><figure><img src='https://site.ua/p/"
        "thumb.jpg' width='120' height='120'></figure><figure><img src='https://site.ua/p/"
        "lead.jpg' width='1200' height='800'><figcaption>Firefighters in Odesa</figcaption>"
        "</figure><figure><img src='https://site.ua/p/second.jpg' width='1200' height='800'>"
        "</figure><figure><video src='https://site.ua/p/lead.mp4'></video></figure></div>"
        f"<div class='stream'>{SITE_STREAM}</div></main></body></html>"
    )
    assert found_files(html) == ["lead.jpg", "lead.mp4", "odesa.jpg", "kherson.jpg"]


@pytest.mark.parametrize(
    "tools",
    [
        "<div class='like-post' data-post-id='501'><span>Like</span></div>"
        "<div class='save-post' data-post-id='501'><span>Save</span></div>",
        "<div class='like-post' id='post-501'><span>Like</span></div>"
        "<div class='save-post' id='post-502'><span>Save</span></div>",
    ],
    ids=["data-post-id", "inside-article"],
)
def test_post_buttons_carrying_the_posts_number_start_no_update(tools: str) -> None:
    """Like and save buttons with the post's number inside a titled post were taken
    for numbered posts of their own: the post's photo lost its update."""
    html = site_page("").replace("</h2>", f"</h2><div class='post-tools'>{tools}</div>", 1)
    found = extract_embeds(html, "https://site.ua/live/war").embeds
    assert [(e.url.rsplit("/", 1)[1], e.update) for e in found] == [
        ("odesa.jpg", "10:05 Strike on Odesa port"),
        ("kherson.jpg", "09:40 Shelling in Kherson"),
    ]
