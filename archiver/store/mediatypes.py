"""Tell what a file is from its first bytes, so a lying Content-Type cannot mislabel evidence."""

from __future__ import annotations

import codecs
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

MediaKind = Literal["video", "image", "audio"]

#: The first bytes `sniff` and `identify` look at.
HEAD_BYTES = 512

# (offset, magic, mime); ISO-BMFF brands are handled separately
_MAGIC: list[tuple[int, bytes, str]] = [
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"BM", "image/bmp"),
    (0, b"\x1aE\xdf\xa3", "video/webm"),  # EBML: webm or matroska, refined below
    (0, b"OggS", "audio/ogg"),
    (0, b"fLaC", "audio/flac"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"FLV", "video/x-flv"),
    (0, b"\x00\x00\x01\xba", "video/mpeg"),
    (0, b"\x00\x00\x01\xb3", "video/mpeg"),
]

_BRANDS = {
    b"avif": "image/avif",
    b"avis": "image/avif",
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"mif1": "image/heif",
    b"qt  ": "video/quicktime",
    b"M4A ": "audio/mp4",
    b"M4B ": "audio/mp4",
    b"3gp4": "video/3gpp",
    b"3gp5": "video/3gpp",
    b"3g2a": "video/3gpp2",
}

_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/avif": "avif",
    "image/heic": "heic",
    "image/heif": "heif",
    "image/tiff": "tif",
    "image/bmp": "bmp",
    "video/mp4": "mp4",
    "video/webm": "webm",
    "video/x-matroska": "mkv",
    "video/quicktime": "mov",
    "video/x-flv": "flv",
    "video/mpeg": "mpg",
    "video/mp2t": "ts",
    "video/3gpp": "3gp",
    "video/3gpp2": "3g2",
    "video/x-msvideo": "avi",
    "audio/mpeg": "mp3",
    "audio/mp4": "m4a",
    "audio/ogg": "ogg",
    "video/ogg": "ogv",
    "audio/opus": "opus",
    "audio/flac": "flac",
    "audio/wav": "wav",
    "audio/aac": "aac",
}


@dataclass(frozen=True)
class MediaIdentity:
    mime_type: str
    media_type: MediaKind
    extension: str


def head_of(path: Path) -> bytes:
    """A stored file's first `HEAD_BYTES`, what tells what it is."""
    with path.open("rb") as f:
        return f.read(HEAD_BYTES)


def sniff(head: bytes) -> str | None:
    """The MIME type the first bytes prove, or None."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        return _BRANDS.get(brand, "video/mp4")
    if head[:4] == b"RIFF" and len(head) >= 12:
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}.get(
            head[8:12]
        )
    for offset, magic, mime in _MAGIC:  # before the looser checks below ("GIF" is 0x47)
        if head[offset : offset + len(magic)] == magic:
            if mime == "video/webm" and b"matroska" in head[:64]:
                return "video/x-matroska"
            if mime == "audio/ogg" and any(codec in head[:512] for codec in _OGG_VIDEO):
                return "video/ogg"
            return mime
    if _transport_stream(head):
        return "video/mp2t"
    return _mpeg_audio(head[:4])


def _transport_stream(head: bytes) -> bool:
    """MPEG-TS: a 0x47 sync byte every 188 bytes, or every 192 in M2TS (Blu-ray, AVCHD
    cameras' ``.m2ts``/``.mts``), where a 4-byte time stamp comes before each packet;
    there, three packets in a row, since a 0x47 at offset 4 alone is common."""
    if head[:1] == b"\x47" and len(head) > 188 and head[188:189] == b"\x47":
        return True
    return len(head) > 4 + 2 * 192 and all(head[4 + n * 192] == 0x47 for n in range(3))


#: The first header packet of a video stream in an Ogg file: Theora, Daala, OGM.
_OGG_VIDEO = (b"\x80theora", b"\x80daala", b"\x01video")


def _mpeg_audio(header: bytes) -> str | None:
    """An MPEG audio (or AAC ADTS) frame header, checked field by field: a frame sync
    alone is 11 bits, which other data (a UTF-16 byte order mark: FF FE) also has."""
    if len(header) < 3 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version, layer = (header[1] >> 3) & 3, (header[1] >> 1) & 3
    if layer == 0:  # AAC ADTS: a 12-bit sync, MPEG-4 or -2, a known sampling rate
        return "audio/aac" if header[1] & 0xF0 == 0xF0 and (header[2] >> 2) & 0xF < 13 else None
    bitrate, sampling = header[2] >> 4, (header[2] >> 2) & 3
    if version == 1 or bitrate == 15 or sampling == 3:  # reserved values: not a frame
        return None
    return "audio/mpeg"


#: Text that FFmpeg would follow to other files (HLS, its concat lists): never evidence
#: itself, and a decoder must not be handed it.
_PLAYLISTS = (b"#EXTM3U", b"ffconcat version")


def is_markup(head: bytes) -> bool:
    """Text that starts with ``<`` (HTML, XML, SVG), in UTF-8, UTF-16 or UTF-32, BOM or not."""
    for bom, encoding in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            return _starts_with_lt(head[2:66], encoding)
    unmarked = unmarked_utf_encoding(head[:64])
    if unmarked is not None:
        return _starts_with_lt(head[:64], unmarked)
    return head.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] == b"<"


def _starts_with_lt(body: bytes, encoding: str) -> bool:
    text = body[: len(body) // 4 * 4].decode(encoding, "replace")
    return text.lstrip().startswith("<")


def unmarked_utf_encoding(head: bytes) -> str | None:
    """UTF-16 or UTF-32 without a byte order mark, told by the zero bytes of the ASCII
    characters that markup and feeds start with."""
    if len(head) < 4:
        return None
    if head[0] and head[1:4] == b"\0\0\0":
        return "utf-32-le"
    if head[:3] == b"\0\0\0" and head[3]:
        return "utf-32-be"
    even, odd = head[0::2], head[1::2]
    if not any(odd) and all(even):
        return "utf-16-le"
    if not any(even) and all(odd):
        return "utf-16-be"
    return None


#: Codecs Python has that no browser reads a page or feed in (the Encoding Standard
#: names none of them): EBCDIC, UTF-7 and UTF-32, which turn markup into nonsense, and
#: codecs that are not a plain character set at all.
_NOT_WEB_CODECS = frozenset(
    {
        "cp037", "cp273", "cp424", "cp500", "cp875", "cp1026", "cp1140",
        "utf-7", "utf-32", "utf-32-le", "utf-32-be",
        "undefined", "idna", "punycode", "unicode-escape", "raw-unicode-escape",
        "iso2022_kr", "hz",  # the Encoding Standard reads these as "replacement"
    }
)  # fmt: skip
#: Labels the WHATWG Encoding Standard gives that Python does not know, as the Python
#: codec of the encoding they name (UTF-16 labels: as UTF-8, as browsers read markup
#: whose bytes are ASCII).
_WHATWG_LABELS = {
    "windows-874": "cp874", "dos-874": "cp874",
    "iso-8859-8-i": "iso8859-8", "iso-8859-8-e": "iso8859-8", "csiso88598i": "iso8859-8",
    "visual": "iso8859-8", "logical": "iso8859-8",
    "iso-8859-6-e": "iso8859-6", "iso-8859-6-i": "iso8859-6",
    "sun_eu_greek": "iso8859-7",
    "x-sjis": "cp932", "windows-31j": "cp932", "x-euc-jp": "euc_jp",
    "windows-949": "cp949", "ks_c_5601-1989": "cp949", "cseuckr": "cp949",
    "iso-ir-149": "cp949", "ksc_5601": "cp949",
    "x-gbk": "gb18030", "x-x-big5": "big5hkscs", "cn-big5": "big5hkscs",
    "x-mac-roman": "mac_roman", "x-mac-cyrillic": "mac_cyrillic", "x-mac-ukrainian": "mac_cyrillic",
    "koi": "koi8_r", "koi8": "koi8_r", "koi8-ru": "koi8_u",
    "unicode-1-1-utf-8": "utf-8", "unicode11utf8": "utf-8", "unicode20utf8": "utf-8",
    "x-unicode20utf8": "utf-8", "ucs-2": "utf-8", "csunicode": "utf-8",
    "iso88591": "cp1252", "iso885911": "cp874",
    **{f"x-cp125{n}": f"cp125{n}" for n in range(9)},
    **{f"iso8859{n}": f"iso8859-{n}" for n in (2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 14, 15)},
}  # fmt: skip


def web_codec(label: str) -> str | None:
    """Python's codec for a charset a page or feed names (its own labels, and those
    only the WHATWG Encoding Standard gives, such as ``x-sjis`` or ``windows-874``),
    or None: a name neither knows, or a codec no browser reads (``base64``, ``rot13``,
    ``utf-32``, EBCDIC, ``iso-2022-kr``), so the document is decoded as if it had
    named none."""
    name = label.strip().lower()
    try:
        info = codecs.lookup(_WHATWG_LABELS.get(name, name))
    except (LookupError, ValueError):  # ValueError: a NUL in the label
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_WEB_CODECS:
        return None  # base64, zlib, rot13, ... decode bytes to bytes, or raise
    return info.name


#: A MIME type as HTTP spells one (RFC 9110 tokens): one type, no list, no parameters.
_MIME = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")


def _declared(content_type: str | None) -> str | None:
    """The server's Content-Type as one plain media type, or None.

    A list (``image/x-icon, text/html``, where browsers take the last), a malformed
    value or an XML-based type (``image/svg+xml``: markup that can carry script) is
    not taken as the file's type: it would be stored, and repeated when the file is
    served.
    """
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    if not _MIME.fullmatch(declared) or declared.endswith("+xml"):
        return None
    return declared


def _kind(mime: str) -> MediaKind | None:
    major = mime.split("/", 1)[0]
    if major in ("video", "image", "audio"):
        return major  # type: ignore[return-value]
    return None


_MANIFEST_TYPES = frozenset(
    {"application/vnd.apple.mpegurl", "application/x-mpegurl", "audio/mpegurl",
     "audio/x-mpegurl", "application/dash+xml"}
)  # fmt: skip


def _is_text(head: bytes) -> bool:
    """Bytes with no control character but tab and line ends: words, such as an error
    message at a file's address. Video, image and audio files hold control bytes (a NUL
    at least) within their first bytes."""
    sample = head[:512]
    return bool(sample) and not sample.translate(None, _TEXT_BYTES)


#: Bytes that occur in text (of any 8-bit or UTF-8 encoding).
_TEXT_BYTES = bytes([9, 10, 13, *range(0x20, 0x7F), *range(0x80, 0x100)])


def is_stream_manifest(head: bytes, content_type: str | None) -> bool:
    """An HLS playlist or a DASH manifest: the video is in the segments it lists."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"#EXTM3U") or (text.startswith(b"<") and b"<MPD" in head[:1024]):
        return True
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    return declared in _MANIFEST_TYPES and not sniff(head)


def identify(head: bytes, content_type: str | None, url: str | None) -> MediaIdentity | None:
    """What a downloaded file is: its bytes first, then the server's word, then the URL.

    Returns None when nothing says it is video, image or audio (an HTML error page
    served as a "video" is not evidence).
    """
    declared = _declared(content_type)
    candidates = [sniff(head)]
    if declared != "application/octet-stream":
        candidates.append(declared)
    if url:
        candidates.append(mimetypes.guess_type(url.split("?", 1)[0])[0])
    if candidates[0] is None and (
        is_markup(head) or head.lstrip().startswith(_PLAYLISTS) or _is_text(head)
    ):
        return None  # markup, a playlist or words ("404 Not Found"), whatever the headers say
    for mime in candidates:
        if mime and (kind := _kind(mime)) and not mime.endswith("+xml"):
            return MediaIdentity(mime, kind, extension_for(mime))
    return None


def extension_for(mime: str) -> str:
    """The extension an original of this type is stored under (``mp4``, no dot)."""
    return (_EXTENSIONS.get(mime) or mimetypes.guess_extension(mime) or ".bin").lstrip(".")
