"""Run yt-dlp with every connection it makes checked against the address guard.

    python -m archiver.fetch.ytdlp_guard [yt-dlp arguments ...]
    python -m archiver.fetch.ytdlp_guard --unguarded [yt-dlp arguments ...]
    python -m archiver.fetch.ytdlp_guard --exec COMMAND [arguments ...]

Checking a platform URL's host before yt-dlp starts is not enough: yt-dlp follows
redirects, resolves names itself and fetches URLs it found in pages. This wrapper
patches ``socket.socket.connect`` and ``connect_ex`` before yt-dlp is imported, so
a connection to an address :func:`is_public_address` rejects fails with OSError
whoever asked for it. Downloads yt-dlp would hand to another program (ffmpeg for
live HLS, aria2c, curl, rtmpdump, ...) are refused too: that program's connections
are out of the patch's reach. ffmpeg still merges local files.

The ``--unguarded`` form (private addresses allowed) guards no address, and the
``--exec`` form (a configured yt-dlp) guards nothing: it only makes COMMAND die with
archiver, as the others do; the programs the guarded and unguarded yt-dlp start die
with it.

Every refusal is repeated as the last line of stderr (``ERROR: refused: ...``);
:class:`archiver.fetch.ytdlp.Ytdlp` turns it into a BlockedAddressError.

This module is also where addresses are classified (netguard re-exports
:func:`is_public_address`): it imports only the standard library, because it runs
in every yt-dlp child process.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import ipaddress
import os
import signal
import socket
import sys
from dataclasses import dataclass
from typing import Any

HINT = "(set network.allow_private_addresses to allow)"
REFUSED = "refused: "

# Tests only: comma-separated IP addresses to count as public, so that a test can
# serve "public" pages from 127.0.0.1 and keep 127.0.0.2 "internal". Never set by
# configuration.
TEST_ONLY_PUBLIC_ENV = "ARCHIVER_TEST_ONLY_PUBLIC_ADDRESSES"

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215 local-use prefixes
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated, RFC 4291
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # SIIT, RFC 2765
_LOW_32 = 0xFFFF_FFFF


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, translated, IPv4-compatible,
    6to4 or NAT64 /96), or None."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in (_NAT64, _NAT64_LOCAL, _IPV4_COMPATIBLE, _IPV4_TRANSLATED)):
        return ipaddress.IPv4Address(int(ip) & _LOW_32)
    return None


def is_public_address(address: str) -> bool:
    """Whether ``address`` (an IP literal, optionally with a %zone) may be connected to.

    An IPv6 form that carries an IPv4 address is judged by that IPv4 address as well.
    """
    text = address.split("%", 1)[0]
    if text in _treated_as_public():
        return True
    ip = ipaddress.ip_address(text)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL and (int(ip) >> 32) & ((1 << 48) - 1):
            return False  # a local NAT64 prefix other than /96: where the IPv4 sits is unknown
        inner = embedded_ipv4(ip)
        if inner is not None and not _public(inner):
            return False
        if inner is not None and ip.ipv4_mapped is not None:
            return True  # ::ffff:a.b.c.d is a.b.c.d itself
    return _public(ip)


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Global unicast; IPv6's deprecated site-local ``fec0::/10`` (Python calls it
    global) is some site's own network."""
    site_local = isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local
    return ip.is_global and not ip.is_multicast and not site_local


def _treated_as_public() -> frozenset[str]:
    raw = os.environ.get(TEST_ONLY_PUBLIC_ENV, "")
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def refusal(host: str, address: str) -> str:
    """The one-line reason given for a refused address (as the httpx path words it)."""
    return f"{REFUSED}{host} resolves to non-public address {address} {HINT}"


# -- the child process -----------------------------------------------------------------

_refusals: list[str] = []
_names: dict[str, str] = {}  # address -> the host name it was resolved from
_getaddrinfo = socket.getaddrinfo
_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _refuse(message: str) -> OSError:
    _refusals.append(message)
    return OSError(errno.EACCES, message)


def _checked(sock: socket.socket, address: Any) -> Any:
    """``address`` when ``sock`` may connect to it; raises OSError otherwise.

    A host name (the C library would resolve it unseen) is resolved here and replaced
    by the first public address it has.
    """
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return address
    host, port, *rest = address
    host = host.decode() if isinstance(host, bytes) else str(host)
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        infos = _getaddrinfo(host, port, sock.family, sock.type)
        addresses = [str(info[4][0]) for info in infos]
        allowed = [a for a in addresses if is_public_address(a)]
        if not allowed:
            raise _refuse(refusal(host, addresses[0])) from None
        return (allowed[0], port, *rest)
    if not is_public_address(host):
        raise _refuse(refusal(_names.get(host, host), host))
    return address


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _connect(self, _checked(self, address))


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    try:
        checked = _checked(self, address)
    except OSError as exc:
        return exc.errno or errno.EACCES
    return _connect_ex(self, checked)


def _remembering_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    infos = _getaddrinfo(host, *args, **kwargs)
    if isinstance(host, str | bytes):
        name = host.decode() if isinstance(host, bytes) else host
        for info in infos:
            _names[str(info[4][0])] = name
    return infos


def install() -> None:
    """Check every IPv4/IPv6 connection this process makes from now on."""
    setattr(socket.socket, "connect", _guarded_connect)  # noqa: B010
    setattr(socket.socket, "connect_ex", _guarded_connect_ex)  # noqa: B010
    socket.getaddrinfo = _remembering_getaddrinfo


def _refuse_external_downloaders() -> None:
    from yt_dlp.downloader.external import ExternalFD
    from yt_dlp.downloader.rtmp import RtmpFD

    def refuse(self: Any, filename: str, info_dict: dict[str, Any]) -> bool:
        program = type(self).__name__.removesuffix("FD").lower()
        message = (
            f"{REFUSED}yt-dlp would hand the download to {program}, whose connections"
            f" the address guard cannot check {HINT}"
        )
        _refusals.append(message)
        self.report_error(message)
        return False

    ExternalFD.real_download = refuse
    RtmpFD.real_download = refuse


@dataclass(frozen=True)
class _Served:
    """What says one response came from the same file as another: its strong ETag,
    else its Last-Modified, and its whole length."""

    validator: str | None
    length: int | None

    @classmethod
    def of(cls, status: int, headers: Any) -> _Served:
        etag = headers.get("ETag")
        validator = etag if etag and not etag.startswith("W/") else headers.get("Last-Modified")
        if status == 206:  # the whole length, after the slash of "bytes 0-99/12345"
            length = headers.get("Content-Range", "").rpartition("/")[2]
        else:
            length = headers.get("Content-Length")
        return cls(validator, int(length) if length and length.isdecimal() else None)

    def differs(self, other: _Served) -> bool:
        return any(
            mine is not None and theirs is not None and mine != theirs
            for mine, theirs in ((self.validator, other.validator), (self.length, other.length))
        )


def _resume_only_the_same_file() -> None:
    """Have yt-dlp resume a cut download (or fetch its next chunk) only from the file
    it began: it asks with ``Range`` alone, so a file replaced in between was stored as
    the old one's start joined to the new one's end. The request carries ``If-Range``,
    and a part whose ETag or length differs all the same is not used: the file is
    asked for whole again, which yt-dlp takes as a server that cannot resume."""
    from yt_dlp import YoutubeDL

    first: dict[str, _Served] = {}
    urlopen = YoutubeDL.urlopen

    def same_file_urlopen(ydl: Any, request: Any) -> Any:
        url = getattr(request, "url", None)
        began = first.get(url) if url else None
        ranged = began is not None and "Range" in request.headers
        if ranged and began is not None and began.validator:
            request.headers["If-Range"] = began.validator
        response = urlopen(ydl, request)
        if url is None or response.status not in (200, 206):
            return response
        served = _Served.of(response.status, response.headers)
        if began is None:
            first[url] = served
        elif ranged and response.status == 206 and served.differs(began):
            response.close()
            whole = request.copy()
            for name in ("Range", "If-Range"):
                whole.headers.pop(name, None)
            response = urlopen(ydl, whole)
            first[url] = _Served.of(response.status, response.headers)
        elif response.status == 200:
            first[url] = served  # begun again
        return response

    YoutubeDL.urlopen = same_file_urlopen


#: The process id of the archiver process that started this one.
PARENT_ENV = "ARCHIVER_YTDLP_PARENT"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent() -> None:
    """Be killed when the archiver process that started us dies, ``kill -9`` included
    (Linux): its time-out and size watch die with it, and a hung extractor ran on for
    ever, writing into a scratch folder the next start removes. The kernel signals
    when the starting thread ends, which waits for us until we end."""
    parent = os.environ.get(PARENT_ENV, "")
    if not parent.isdecimal() or not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != int(parent):  # it died before we asked
        os._exit(1)


def children_die_with_us() -> None:
    """Have every program yt-dlp starts (ffmpeg merging streams, ffprobe, ``--exec``)
    be killed when yt-dlp dies (Linux): we die with archiver, but an ffmpeg merge went
    on after a ``kill -9``, writing into a scratch folder the next start removes."""
    if not sys.platform.startswith("linux"):
        return
    import subprocess

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    original = subprocess.Popen.__init__

    def start(popen: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> None:
        if kwargs.get("preexec_fn") is None:
            us = os.getpid()

            def in_child() -> None:  # runs between fork and exec
                prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
                if os.getppid() != us:  # we died before it asked
                    os._exit(1)

            kwargs["preexec_fn"] = in_child
        original(popen, *args, **kwargs)

    subprocess.Popen.__init__ = start  # type: ignore[method-assign, assignment]


#: ``python -m archiver.fetch.ytdlp_guard --exec COMMAND ...``: die with the parent,
#: then become COMMAND, unguarded (a configured yt-dlp): what it starts in turn may
#: outlive it
EXEC = "--exec"
#: ``python -m archiver.fetch.ytdlp_guard --unguarded ...``: the installed yt-dlp with
#: private addresses allowed: no address guard, but its children die with it
UNGUARDED = "--unguarded"
#: How the ``--exec`` form says COMMAND could not start: its last stderr line, and exit
CANNOT_START = "cannot start: "
CANNOT_START_EXIT = 127


def _become(command: list[str]) -> int:
    """Replace this process with ``command``, which keeps the parent-death signal."""
    try:
        os.execvp(command[0], command)
    except (OSError, IndexError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "no command"
        sys.stderr.write(f"ERROR: {CANNOT_START}{reason}\n")
    return CANNOT_START_EXIT


def main(argv: list[str]) -> int | str | None:
    die_with_parent()
    if argv[:1] == [EXEC]:
        return _become(argv[1:])
    children_die_with_us()
    guarded = argv[:1] != [UNGUARDED]
    if not guarded:
        argv = argv[1:]
    else:
        install()
        # curl_cffi talks through libcurl, below the patched socket layer: keep it out
        sys.modules["curl_cffi"] = None  # type: ignore[assignment]
    import yt_dlp

    if guarded:
        _refuse_external_downloaders()
    _resume_only_the_same_file()
    code: int | str | None = 0
    try:
        yt_dlp.main(argv)
    except SystemExit as exc:
        code = exc.code
    if _refusals:
        sys.stdout.flush()
        sys.stderr.write(f"ERROR: {_refusals[0]}\n")
        sys.stderr.flush()
        code = code or 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
