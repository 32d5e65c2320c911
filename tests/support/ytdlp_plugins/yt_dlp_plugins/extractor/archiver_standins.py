"""Stand-ins for extractors of sites the tests cannot reach, loaded by yt-dlp as plugins
when this folder's parent is on ``PYTHONPATH`` (see `support.ytdlp.standin_extractors`).

``/multipart/ID`` on 127.0.0.1 is a broadcast in parts, as ORF, Bilibili or Twitcasting
give it: a "multi_video" playlist of ``/v/part1.mp4`` and ``/v/part2.mp4``.
``/channel/ID?entries=N`` is a plain playlist of ``/v/cN.mp4``, one to N.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from yt_dlp.extractor.common import InfoExtractor


class ArchiverMultiPartIE(InfoExtractor):
    _VALID_URL = r"https?://127\.0\.0\.1:\d+/multipart/(?P<id>\w+)"

    def _real_extract(self, url: str) -> dict[str, Any]:
        video_id = self._match_id(url)
        base = url.split("/multipart/")[0]
        entries = [
            {
                "id": f"{video_id}_p{n}",
                "title": f"Part {n}",
                "url": f"{base}/v/part{n}.mp4",
                "ext": "mp4",
                "timestamp": 1380390000 + n,
            }
            for n in (1, 2)
        ]
        return self.playlist_result(entries, video_id, "Broadcast", multi_video=True)


class ArchiverChannelIE(InfoExtractor):
    _VALID_URL = r"https?://127\.0\.0\.1:\d+/channel/(?P<id>\w+)"

    def _real_extract(self, url: str) -> dict[str, Any]:
        channel = self._match_id(url)
        base = url.split("/channel/")[0]
        count = int(parse_qs(urlsplit(url).query).get("entries", ["3"])[0])
        entries = [
            {"id": f"c{n}", "title": f"Clip {n}", "url": f"{base}/v/c{n}.mp4", "ext": "mp4"}
            for n in range(1, count + 1)
        ]
        return self.playlist_result(entries, channel, "Channel")
