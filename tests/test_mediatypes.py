"""What a downloaded file is, told from its first bytes: real files, and look-alikes."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from support import ffmpeg_exe

from archiver.store.mediatypes import identify, is_stream_manifest, sniff


def encoded(tmp_path: Path, name: str, *args: str) -> bytes:
    """The first 512 bytes of a short file made by ffmpeg from a test source."""
    path = tmp_path / name
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", *args, "-t", "1", "-y"]
    subprocess.run([*command, str(path)], check=True)
    return path.read_bytes()[:512]


def test_real_audio_and_video_are_told_apart(tmp_path: Path) -> None:
    sine = ["-f", "lavfi", "-i", "sine=frequency=440"]
    raw_mp3 = encoded(tmp_path, "a.mp3", *sine, "-c:a", "libmp3lame", "-id3v2_version", "0")
    assert raw_mp3[:1] == b"\xff" and sniff(raw_mp3) == "audio/mpeg"  # no ID3 tag: a frame
    assert sniff(encoded(tmp_path, "a.aac", *sine, "-c:a", "aac", "-f", "adts")) == "audio/aac"
    theora = encoded(
        tmp_path, "v.ogv", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=5", "-c:v", "libtheora"
    )
    vorbis = encoded(tmp_path, "a.ogg", *sine, "-c:a", "libvorbis")
    assert (sniff(theora), sniff(vorbis)) == ("video/ogg", "audio/ogg")
    found = identify(theora, "audio/ogg", "https://example.org/clip.ogv")
    assert found is not None and (found.media_type, found.extension) == ("video", "ogv")


def test_a_gif_is_a_gif_whatever_its_palette_holds() -> None:
    """MPEG-TS is recognised by 0x47 every 188 bytes, and "GIF" starts with 0x47: a
    palette byte of 0x47 at offset 188 must not make a photo a video."""
    picture = Image.frombytes("L", (16, 16), bytes(range(256))).convert("P")
    data = io.BytesIO()
    picture.save(data, "GIF", optimize=False)  # a 256-colour table: bytes 13 to 780
    head = bytearray(data.getvalue()[:512])
    head[188] = 0x47  # one colour's green
    assert Image.open(io.BytesIO(bytes(head) + data.getvalue()[512:])).size == (16, 16)
    assert sniff(bytes(head)) == "image/gif"


def test_words_at_a_files_address_are_not_evidence() -> None:
    """An error message sent as text/plain from a ``.jpg`` address was stored as an
    image, its type guessed from the URL."""
    words = b"404 Not Found\r\nThe requested file was deleted by its owner.\n"
    for declared in ("text/plain", "application/octet-stream", None):
        assert identify(words, declared, "https://example.org/photo.jpg") is None
    binary = b"\x00\x00\x01\xba\x44\x00\x04\x00\x04\x01"  # an MPEG-PS pack header
    assert identify(binary, None, "https://example.org/clip.mpg") is not None


@pytest.mark.parametrize(
    "head",
    [
        "\ufeff<!DOCTYPE html><html><body>Not found</body></html>".encode("utf-16-le"),
        "\ufeff<html><body>Not found</body></html>".encode("utf-16-be"),
        b"\xef\xbb\xbf<html><body>Not found</body></html>",
        b"#EXTM3U\n#EXT-X-VERSION:3\n#EXTINF:10,\nfile:///etc/hostname\n",
        b"ffconcat version 1.0\nfile '/etc/hostname'\n",
        '<svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>'.encode("utf-16-be"),
        "  <html><body>Not found</body></html>".encode("utf-16-le"),
    ],
    ids=[
        "utf-16-le",
        "utf-16-be",
        "utf-8-bom",
        "hls",
        "ffconcat",
        "utf-16-be-no-bom",
        "utf-16-le-no-bom",
    ],
)
def test_text_served_as_media_is_not_evidence(head: bytes) -> None:
    """An error page or a playlist with a media Content-Type is refused: a UTF-16 byte
    order mark (FF FE) also looks like an MPEG audio frame sync, and a playlist would
    have the decoder read the files it names."""
    assert identify(head, "audio/mpeg", "https://example.org/a.mp3") is None
    assert identify(head, "video/mp4", "https://example.org/v.mp4") is None


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("IMAGE/PNG; charset=binary", "image/png"),  # one type: taken, as it is spelt
        ("image/x-icon, text/html", None),  # a list: browsers take the last
        ("image/png, image/svg+xml", None),
        ("image/x+xml", None),  # XML-based: markup
        ("image/svg+xml", None),
        ("image/png\r\nX-Injected: 1", None),
        ("image/", None),
    ],
)
def test_only_one_plain_declared_type_is_taken(declared: str, expected: str | None) -> None:
    """When the bytes say nothing, the server's Content-Type names the type stored and
    served again later; anything but one plain media type is not believed."""
    unknown = bytes(range(1, 200))
    found = identify(unknown, declared, None)
    assert (found.mime_type if found else None) == expected


@pytest.mark.parametrize(
    ("head", "content_type", "manifest"),
    [
        (b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n", "text/plain", True),
        (b"\xef\xbb\xbf#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\nlow/index.m3u8\n", None, True),
        (
            b'<?xml version="1.0" encoding="utf-8"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011"'
            b' type="static" mediaPresentationDuration="PT4S">',
            "application/dash+xml",
            True,
        ),
        (b"#EXTINF and more", "application/vnd.apple.mpegurl; charset=utf-8", True),
        # media, markup and text are not manifests, whatever they are called
        ((b"\x47\x40\x11\x10" + b"\xff" * 184) * 2, "application/vnd.apple.mpegurl", False),
        (b"<!DOCTYPE html><html><body>Not found</body></html>", "text/html", False),
        (b"<svg xmlns='http://www.w3.org/2000/svg'>", "image/svg+xml", False),
    ],
)
def test_hls_and_dash_manifests_are_told_from_media(
    head: bytes, content_type: str | None, manifest: bool
) -> None:
    """A playlist is not the video: capture hands it to yt-dlp to join its segments."""
    assert is_stream_manifest(head, content_type) is manifest


def test_mpeg_ts_in_192_byte_packets_is_video(tmp_path: Path) -> None:
    """AVCHD cameras and Blu-ray write MPEG-TS with a 4-byte time stamp before each
    188-byte packet (.m2ts, .mts). Only 188-byte packets were recognised: such footage
    served as application/octet-stream was refused as "not media", for good."""
    test_source = ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=5", "-c:v", "mpeg2video"]
    m2ts = encoded(tmp_path, "00001.m2ts", *test_source, "-f", "mpegts", "-mpegts_m2ts_mode", "1")
    assert m2ts[4] == m2ts[196] == m2ts[388] == 0x47 and m2ts[0] != 0x47
    found = identify(m2ts, "application/octet-stream", "https://example.org/00001.MTS")
    assert found is not None
    assert (found.mime_type, found.media_type, found.extension) == ("video/mp2t", "video", "ts")
    chance = bytearray(512)  # a sync byte where two packets would have theirs is not three
    chance[4] = chance[196] = 0x47
    assert sniff(bytes(chance)) is None
