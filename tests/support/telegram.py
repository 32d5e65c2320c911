"""Telegram's embedded-post widget page (t.me/CHANNEL/ID?embed=1&mode=tme), as Telegram
serves it, for the post AleppoToday/1234: the platform cannot be reached from tests."""

from __future__ import annotations


def telegram_widget(parts: str) -> str:
    """The widget page for AleppoToday/1234 (t.me/AleppoToday/1234?embed=1&mode=tme)."""
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Aleppo Today &ndash; Telegram</title>
<meta property="og:image" content="https://cdn4.telesco.pe/file/avatar.jpg">
<link href="//telegram.org/css/widget-frame.css?72" rel="stylesheet"></head>
<body class="widget_frame_base tgme_widget body_widget_post emoji_image nodark">
<div class="tgme_widget_message_wrap js-widget_message_wrap date_visible">
 <div class="tgme_widget_message text_not_supported_wrap js-widget_message"
  data-post="AleppoToday/1234" data-view="eyJjIjotMTIzfQ" data-peer="c1234567890_-1"
  data-post-id="1234">
  <div class="tgme_widget_message_user"><a href="https://t.me/AleppoToday"><i
   class="tgme_widget_message_user_photo bgcolor1" data-content="A"><img
   src="https://cdn4.telesco.pe/file/avatar.jpg"></i></a></div>
  <div class="tgme_widget_message_bubble">
   <div class="tgme_widget_message_author accent_color"><a
    class="tgme_widget_message_owner_name" href="https://t.me/AleppoToday"><span
    dir="auto">Aleppo Today</span></a></div>
   {parts}
   <div class="tgme_widget_message_text js-message_text" dir="auto">Smoke over the
    Citadel after the strike this morning.</div>
   <div class="tgme_widget_message_footer compact js-message_footer">
    <div class="tgme_widget_message_info short js-message_info">
     <span class="tgme_widget_message_views">12.3K</span>
     <span class="tgme_widget_message_meta"><a class="tgme_widget_message_date"
      href="https://t.me/AleppoToday/1234"><time datetime="2013-09-28T07:41:12+00:00"
      class="time">07:41</time></a></span>
    </div>
   </div>
  </div>
 </div>
</div>
</body></html>"""


def album(*urls: str) -> str:
    photos = "".join(
        f"""<a class="tgme_widget_message_photo_wrap grouped_media_wrap blured js-message_photo"
 style="left:0px;top:{i * 303}px;width:453px;height:301px;background-image:url('{url}')"
 data-ratio="1.5" href="https://t.me/AleppoToday/{1234 + i}?single"></a>"""
        for i, url in enumerate(urls)
    )
    return f"""<div class="tgme_widget_message_grouped_wrap js-message_grouped_wrap"
 style="width:453px;"><div class="tgme_widget_message_grouped js-message_grouped"
 style="padding-top:133.333%"><div class="tgme_widget_message_grouped_layer
 js-message_grouped_layer" style="width:453px;height:604px">{photos}</div></div></div>"""


def video(src: str) -> str:
    """A video's player in the widget, its MP4 at ``src``."""
    return f"""<a class="tgme_widget_message_video_player js-message_video_player"
 href="https://t.me/AleppoToday/1234"><i class="tgme_widget_message_video_thumb"
 style="background-image:url('https://cdn4.telesco.pe/file/thumb.jpg')"></i>
 <div class="tgme_widget_message_video_wrap"><video
 src="{src}" class="tgme_widget_message_video
 js-message_video" width="100%" height="100%"></video></div>
 <time class="message_video_duration js-message_video_duration">0:02</time></a>"""


def round_video(src: str) -> str:
    """A round "video message" in the widget, its MP4 at ``src``."""
    return f"""<div class="tgme_widget_message_roundvideo_player js-message_roundvideo_player">
 <div class="tgme_widget_message_roundvideo_wrap"><i class="tgme_widget_message_roundvideo_thumb"
 style="background-image:url('https://cdn4.telesco.pe/file/rthumb.jpg')"></i>
 <video class="tgme_widget_message_roundvideo js-message_roundvideo" src="{src}"
 width="100%" height="100%" preload muted autoplay loop playsinline></video>
 <div class="tgme_widget_message_roundvideo_border"></div></div>
 <time class="tgme_widget_message_roundvideo_duration">0:02</time></div>"""


def voice(src: str) -> str:
    """A voice message's player in the widget, its audio at ``src``."""
    return f"""<a class="tgme_widget_message_voice_player js-message_voice_player"
 href="https://t.me/AleppoToday/1234"><audio class="tgme_widget_message_voice
 js-message_voice" src="{src}" width="100%" height="100%" preload></audio>
 <div class="tgme_widget_message_voice_btn_wrap"><i class="tgme_widget_message_voice_btn"></i></div>
 <div class="tgme_widget_message_voice_wrap"><div class="tgme_widget_message_voice_progress_wrap">
 <div class="bar"></div></div><time class="tgme_widget_message_voice_duration
 js-message_voice_duration">0:01</time></div></a>"""


def not_supported() -> str:
    """What the widget shows for media it has no player for (a poll's, a sticker's,
    a large file's)."""
    return """<div class="message_media_not_supported_wrap"><div
 class="message_media_not_supported"><div class="message_media_not_supported_label">Please
 open Telegram to view this post</div><a href="https://t.me/AleppoToday/1234?single"
 class="message_media_view_in_telegram">VIEW IN TELEGRAM</a></div></div>"""


def forwarded_from(name: str, href: str | None) -> str:
    """The line above a forwarded post: a link to the post it came from, or the name
    alone (a person's account, or one that hides the link)."""
    if href is None:
        return f"""<div class="tgme_widget_message_forwarded_from accent_color">Forwarded
 from <span class="tgme_widget_message_forwarded_from_name">{name}</span></div>"""
    return f"""<div class="tgme_widget_message_forwarded_from accent_color">Forwarded from <a
 class="tgme_widget_message_forwarded_from_name" href="{href}"><span
 dir="auto">{name}</span></a></div>"""
