"""Players a script draws where the page only names the video: Elementor's video widget,
and the click-to-play YouTube facades of speed plugins (WP Rocket, Perfmatters, themes)."""

from __future__ import annotations

import pytest

from archiver.extract import FoundEmbed, extract_embeds

BASE = "https://kyivnews.example/live/2024/03/12/ukraine"
LEAD = "<p>Rescuers searched the rubble through the night in Kharkiv after the strike.</p>"
VIDEO = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"


def page(body: str) -> str:
    """A WordPress live blog's article around ``body``."""
    return (
        "<html><head><title>Live</title></head><body><header><nav><a href='/'>Home</a>"
        "</nav></header><main><article><h1>Russia-Ukraine war live</h1><div class="
        f"'entry-content'>{LEAD}{body}</div></article></main><footer>(c)</footer></body></html>"
    )


def found(body: str) -> list[FoundEmbed]:
    return extract_embeds(page(body), BASE).embeds


def elementor(settings: str, inside: str = "") -> str:
    """Elementor's video widget as it saves it: the settings HTML-escaped JSON, the
    player an empty box its script fills."""
    return (
        '<div class="elementor-element elementor-element-3f2a1c9 elementor-widget '
        'elementor-widget-video" data-id="3f2a1c9" data-element_type="widget" '
        f'data-settings="{settings}" data-widget_type="video.default"><div class='
        '"elementor-widget-container"><div class="elementor-wrapper elementor-open-inline">'
        f'{inside}<div class="elementor-video"></div></div></div></div>'
    )


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        (
            elementor(
                "{&quot;youtube_url&quot;:&quot;https:\\/\\/www.youtube.com\\/watch?v="
                "dQw4w9WgXcQ&quot;,&quot;video_type&quot;:&quot;youtube&quot;,"
                "&quot;controls&quot;:&quot;yes&quot;}"
            ),
            (VIDEO, "platform", "elementor-video"),
        ),
        (
            elementor(
                "{&quot;video_type&quot;:&quot;vimeo&quot;,&quot;vimeo_url&quot;:&quot;"
                "https:\\/\\/vimeo.com\\/235215203&quot;}"
            ),
            ("https://vimeo.com/235215203", "platform", "elementor-video"),
        ),
        (
            elementor(
                "{&quot;video_type&quot;:&quot;hosted&quot;,&quot;hosted_url&quot;:{&quot;"
                "url&quot;:&quot;https:\\/\\/kyivnews.example\\/wp-content\\/uploads\\/2024"
                "\\/03\\/strike.mp4&quot;,&quot;id&quot;:5120}}"
            ),
            ("https://kyivnews.example/wp-content/uploads/2024/03/strike.mp4", "file", "elementor-video"),
        ),
        (
            '<div class="youtube-player" data-id="dQw4w9WgXcQ"></div>',
            (VIDEO, "platform", "youtube-player"),
        ),
        (
            '<div class="rll-youtube-player" data-src="https://www.youtube.com/embed/dQw4w9WgXcQ"'
            ' data-id="dQw4w9WgXcQ" data-query="" data-alt="Strike on Kharkiv"></div>',
            (VIDEO, "platform", "youtube-player"),
        ),
    ],
)  # fmt: skip
def test_a_player_a_script_draws_is_found(markup: str, expected: tuple[str, str, str]) -> None:
    """Nothing on the page but the widget's settings or the facade's data attributes
    names the video: it was not found at all."""
    (embed,) = found(markup)
    assert (embed.url, embed.kind, embed.found_in) == expected
    assert embed.update == "Russia-Ukraine war live"
    assert (
        embed.context
        == "Rescuers searched the rubble through the night in Kharkiv after the strike."
    )


def test_wp_rockets_facade_and_its_noscript_frame_are_one_video() -> None:
    """WP Rocket keeps the frame in a ``<noscript>`` after its facade: one video, found
    where the page gave its address."""
    (embed,) = found(
        '<div class="rll-youtube-player" data-src="https://www.youtube.com/embed/dQw4w9WgXcQ"'
        ' data-id="dQw4w9WgXcQ" data-query="start=30"></div><noscript><iframe width="640" '
        'height="360" src="https://www.youtube.com/embed/dQw4w9WgXcQ?start=30&feature=oembed"'
        "></iframe></noscript>"
    )
    assert (embed.url, embed.found_in) == (VIDEO, "iframe")


STILL = "https://kyivnews.example/wp-content/uploads/2024/03/still.jpg"
YOUTUBE_SETTINGS = "{&quot;youtube_url&quot;:&quot;https://youtu.be/dQw4w9WgXcQ&quot;}"
OVERLAY_SETTINGS = (
    "{&quot;youtube_url&quot;:&quot;https://youtu.be/dQw4w9WgXcQ&quot;,&quot;"
    "show_image_overlay&quot;:&quot;yes&quot;,&quot;image_overlay&quot;:{&quot;url&quot;:"
    f"&quot;{STILL}&quot;,&quot;id&quot;:77}}}}"
)


@pytest.mark.parametrize(
    ("settings", "overlay", "found_in"),
    [
        (
            YOUTUBE_SETTINGS,
            '<div class="elementor-custom-embed-image-overlay" style="background-image: url('
            f'{STILL});"><div class="elementor-custom-embed-play"></div></div>',
            "background",
        ),
        (
            YOUTUBE_SETTINGS,
            '<div class="elementor-custom-embed-image-overlay"><img width="1024" height="576"'
            f' src="{STILL}" alt="Rescuers at the block"></div>',
            "img",
        ),
        (OVERLAY_SETTINGS, "", "elementor-video"),  # the script draws the overlay too
    ],
    ids=["background", "img", "settings"],
)
def test_the_sites_still_over_an_elementor_video_is_kept_beside_it(
    settings: str, overlay: str, found_in: str
) -> None:
    """The image overlay Elementor shows until a click is a photo the site keeps
    itself (one from the scene, often): kept, and the video too, as with a facade's."""
    got = [
        (e.url, e.media_type, e.found_in, e.context) for e in found(elementor(settings, overlay))
    ]
    context = "Rescuers searched the rubble through the night in Kharkiv after the strike."
    assert got == [
        (VIDEO, "video", "elementor-video", context),
        (STILL, "image", found_in, context),
    ]


def test_a_youtube_thumbnail_over_an_elementor_video_is_no_second_embed() -> None:
    """A still from YouTube's thumbnail host is the video's own, not a photo."""
    overlay = (
        '<div class="elementor-custom-embed-image-overlay" style="background-image: url('
        'https://i.ytimg.com/vi/dQw4w9WgXcQ/maxresdefault.jpg);"></div>'
    )
    assert [e.url for e in found(elementor(YOUTUBE_SETTINGS, overlay))] == [VIDEO]


def test_elementor_settings_past_the_bound_are_not_read() -> None:
    """A hostile page's settings are not parsed whatever their size (a megabyte here)."""
    padding = "x" * (1 << 20)
    settings = (
        f"{{&quot;youtube_url&quot;:&quot;{VIDEO}&quot;,&quot;p&quot;:&quot;{padding}&quot;}}"
    )
    assert found(elementor(settings)) == []
