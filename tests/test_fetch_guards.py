"""The address guard and the size cap hold inside yt-dlp, with the real yt-dlp on local servers.

Everything runs on loopback, so the tests name which addresses count as public
(ARCHIVER_TEST_ONLY_PUBLIC_ADDRESSES): 127.0.0.1 serves the "public" pages, and
127.0.0.2 stands for an internal service that must never be reached.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import FixtureServer, MediaSet, ffmpeg_exe
from support.archiving import make_config, settings
from support.server import RequestHandler

from archiver.config import Config, YtdlpConfig, config_from_dict
from archiver.errors import BlockedAddressError, FetchError
from archiver.fetch.netguard import check_host, is_public_address
from archiver.fetch.ytdlp import Ytdlp
from archiver.fetch.ytdlp_guard import UNGUARDED

FAKE = Path(__file__).parent / "fixtures" / "fake_ytdlp.py"
PUBLIC_ENV = "ARCHIVER_TEST_ONLY_PUBLIC_ADDRESSES"
HINT = "(set network.allow_private_addresses to allow)"


@pytest.fixture
def internal() -> Iterator[FixtureServer]:
    """A server on 127.0.0.2: the internal service an attacker wants yt-dlp to reach."""
    with FixtureServer(host="127.0.0.2") as srv:
        yield srv


@pytest.fixture
def only_127_0_0_1_public(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PUBLIC_ENV, "127.0.0.1")


def guarded(root: Path, **network: object) -> Ytdlp:
    """yt-dlp as the daemon runs it by default: private addresses refused."""
    config = make_config(root, allow_private_addresses=False, **network)
    return Ytdlp(config.ytdlp, config.network, ffmpeg_exe())


# -- IPv6 forms that carry an IPv4 address ---------------------------------------------


@pytest.mark.parametrize(
    ("private", "public"),
    [
        ("64:ff9b::a9fe:a9fe", "64:ff9b::808:808"),  # NAT64 of 169.254.169.254 / 8.8.8.8
        ("64:ff9b:1::a9fe:a9fe", "64:ff9b:1::808:808"),  # local-use NAT64, /96 layout
        ("::ffff:0:7f00:1", "::ffff:0:808:808"),  # IPv4-translated (SIIT)
        ("2002:7f00:1::", "2002:808:808::"),  # 6to4
        ("2002:a00:1::1", "2002:808:808::1"),  # 6to4 of 10.0.0.1
        ("::7f00:1", "::808:808"),  # IPv4-compatible
        ("::ffff:10.0.0.1", "::ffff:8.8.8.8"),  # IPv4-mapped
    ],
)
def test_ipv6_forms_are_judged_by_the_ipv4_address_they_carry(private: str, public: str) -> None:
    assert not is_public_address(private)
    assert is_public_address(public)
    assert not is_public_address("64:ff9b:1:7f00:1::")  # local NAT64 of another layout
    assert not is_public_address("fec0::1")  # site-local, deprecated, still some site's own


# -- the address guard inside yt-dlp ----------------------------------------------------


@pytest.mark.usefixtures("only_127_0_0_1_public")
def test_guarded_ytdlp_downloads_from_an_allowed_address(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    server.add_file("/clip.mp4", media.clip_a)
    ytdlp = guarded(tmp_path)
    assert ytdlp.command[1:] == ["-m", "archiver.fetch.ytdlp_guard"]
    args = ytdlp.arguments(server.url("/clip.mp4"), tmp_path / "work")
    assert args[args.index("--downloader") + 1] == "native"
    # nothing that rewrites what was served: no fixups, no joining of a broadcast's parts
    assert args[args.index("--fixup") + 1] == "never"
    assert args[args.index("--concat-playlist") + 1] == "never"

    (file,) = ytdlp.download(server.url("/clip.mp4"), tmp_path / "work").files
    assert file.path.read_bytes() == media.clip_a.read_bytes()


@pytest.mark.usefixtures("only_127_0_0_1_public")
def test_guarded_ytdlp_takes_no_proxy_from_the_environment(
    tmp_path: Path,
    server: FixtureServer,
    media: MediaSet,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """yt-dlp took ``HTTP_PROXY``: the guard saw the proxy's address alone, and a
    public proxy fetched intranet addresses for it (HttpFetcher ignores the variables)."""
    server.add_file("/clip.mp4", media.clip_a)
    with FixtureServer() as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "ALL_PROXY"):
            monkeypatch.setenv(name, proxy.url())
        (file,) = guarded(tmp_path).download(server.url("/clip.mp4"), tmp_path / "work").files
        assert proxy.requests == []
    assert file.path.read_bytes() == media.clip_a.read_bytes()


@pytest.mark.usefixtures("only_127_0_0_1_public")
def test_redirect_to_an_internal_address_is_refused_inside_ytdlp(
    tmp_path: Path, server: FixtureServer, internal: FixtureServer, media: MediaSet
) -> None:
    internal.add_file("/secret.mp4", media.clip_a)
    server.add_redirect("/clip.mp4", internal.url("/secret.mp4"))
    check_host("127.0.0.1")  # the first host passes the check made before yt-dlp starts

    with pytest.raises(BlockedAddressError) as caught:
        guarded(tmp_path).download(server.url("/clip.mp4"), tmp_path / "work")

    assert (
        str(caught.value) == f"refused: 127.0.0.2 resolves to non-public address 127.0.0.2 {HINT}"
    )
    assert not caught.value.retryable
    assert server.hits("/clip.mp4") >= 1
    assert internal.requests == []
    assert not (tmp_path / "work").exists()


@pytest.mark.usefixtures("only_127_0_0_1_public")
def test_hls_segments_on_an_internal_address_are_refused(
    tmp_path: Path, server: FixtureServer, internal: FixtureServer
) -> None:
    internal.add_bytes("/seg0.ts", b"\x47" + bytes(187), "video/mp2t")
    playlist = (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:2.0,\n{internal.url('/seg0.ts')}\n#EXT-X-ENDLIST\n"
    )
    server.add_bytes("/live.m3u8", playlist.encode(), "application/vnd.apple.mpegurl")

    with pytest.raises(BlockedAddressError, match=r"^refused: 127\.0\.0\.2 resolves to"):
        guarded(tmp_path).download(server.url("/live.m3u8"), tmp_path / "work")
    assert server.hits("/live.m3u8") >= 1
    assert internal.requests == []


RUN_BOUNDED = """
import sys, threading
from archiver.fetch.ytdlp import run_bounded
run_bounded(sys.argv[1:], 600, threading.Event())
"""


@pytest.mark.usefixtures("only_127_0_0_1_public")
@pytest.mark.parametrize("guarded", [True, False])
def test_ytdlp_dies_with_the_process_that_started_it(tmp_path: Path, guarded: bool) -> None:
    """``kill -9`` of an ``archiver capture`` left its yt-dlp running (in a session of
    its own) with nothing to time it out: a hung extractor ran on for ever, and one
    downloading wrote on past the size cap (unguarded, with private addresses allowed
    or a configured command, it did still after the guarded one no longer did)."""
    network = {"allow_private_addresses": not guarded}
    config = config_from_dict(settings(tmp_path / "storage", network=network))
    command = Ytdlp(config.ytdlp, config.network, None).command
    assert (UNGUARDED in command) is not guarded
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(60)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/clip.mp4"  # never answers
        ytdlp = [*command, "--ignore-config"]
        ytdlp += ["--socket-timeout", "600", "--paths", str(tmp_path), "--", url]
        starter = subprocess.Popen([sys.executable, "-c", RUN_BOUNDED, *ytdlp])
        try:
            connection, _ = listener.accept()  # yt-dlp asks, and waits
        finally:
            starter.kill()
            starter.wait()
        with connection:
            connection.settimeout(30)
            while connection.recv(65536):  # its request, then the end: yt-dlp is gone
                pass


def process_gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")  # dead, not yet reaped


@pytest.mark.usefixtures("only_127_0_0_1_public")
@pytest.mark.parametrize("guarded", [True, False])
def test_programs_ytdlp_starts_die_with_it(
    tmp_path: Path, server: FixtureServer, media: MediaSet, guarded: bool
) -> None:
    """yt-dlp died with a killed archiver, but what it had started (an ffmpeg merge)
    ran on, writing into a scratch folder the next start removes."""
    server.add_file("/clip.mp4", media.clip_a)
    config = config_from_dict(
        settings(tmp_path / "storage", network={"allow_private_addresses": not guarded})
    )
    command = Ytdlp(config.ytdlp, config.network, None).command
    pid_file = tmp_path / "child.pid"
    # what yt-dlp starts after the download: it says its pid, then waits ({} is the file)
    child = f"echo $$ > {pid_file}.part && mv {pid_file}.part {pid_file} && exec sleep 300 # {{}}"
    ytdlp = [*command, "--ignore-config", "--no-cache-dir", "--paths", str(tmp_path / "work")]
    ytdlp += ["--exec", child, "--", server.url("/clip.mp4")]
    starter = subprocess.Popen([sys.executable, "-c", RUN_BOUNDED, *ytdlp])
    try:
        deadline = time.monotonic() + 120
        while not pid_file.exists():
            assert starter.poll() is None and time.monotonic() < deadline, "no child started"
            time.sleep(0.05)
    finally:
        starter.kill()  # as kill -9 of archiver
        starter.wait()
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 30
    while not process_gone(pid):
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            pytest.fail("the program yt-dlp started outlived it")
        time.sleep(0.05)


@pytest.mark.usefixtures("only_127_0_0_1_public")
def test_guard_refuses_to_hand_a_download_to_ffmpeg(
    tmp_path: Path, server: FixtureServer, media: MediaSet
) -> None:
    """ffmpeg would open the URL itself, below the guard: it may merge files, not fetch."""
    server.add_file("/clip.mp4", media.clip_a)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "archiver.fetch.ytdlp_guard",
            "--ignore-config",
            "--no-cache-dir",
            "--downloader",
            "ffmpeg",
            "--ffmpeg-location",
            ffmpeg_exe(),
            "--paths",
            str(tmp_path),
            "--",
            server.url("/clip.mp4"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ERROR: refused: yt-dlp would hand the download to ffmpeg")
    assert server.hits("/clip.mp4") == 1  # the extractor's look; ffmpeg never asked
    assert not list(tmp_path.iterdir())


# -- the size cap ----------------------------------------------------------------------


def add_chunked_endless(server: FixtureServer, path: str) -> None:
    """A video sent with Transfer-Encoding: chunked, no length, until the client leaves."""
    chunk = b"\x00\x00\x00\x18ftypmp42" + os.urandom(64 * 1024 - 12)

    def handler(request: RequestHandler) -> None:
        request.close_connection = True
        request.send_response(200)
        request.send_header("Content-Type", "video/mp4")
        request.send_header("Transfer-Encoding", "chunked")
        request.end_headers()
        if request.command == "HEAD":
            return
        try:
            while request.wait(0.005):
                request.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            return

    server.add_handler(path, handler)


def test_size_cap_stops_a_chunked_download_while_it_runs(
    tmp_path: Path, server: FixtureServer
) -> None:
    add_chunked_endless(server, "/stream.mp4")
    config = make_config(tmp_path, max_file_size=1024**2)
    config = config.model_copy(update={"ytdlp": YtdlpConfig(timeout=20)})
    work = tmp_path / "work"
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        Ytdlp(config.ytdlp, config.network, None).download(server.url("/stream.mp4"), work)
    assert str(caught.value) == "file larger than the 1 MiB cap"
    assert not caught.value.retryable
    assert time.monotonic() - started < 15
    assert not work.exists()


def test_a_file_declared_over_the_cap_is_refused_without_downloading_it(
    tmp_path: Path, server: FixtureServer
) -> None:
    """With a Content-Length over the cap yt-dlp skips the file itself; that is the
    permanent size error, not a retryable "found no media"."""
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(3 * 1024**2))
    server.add_file("/big.mp4", big)
    config = make_config(tmp_path / "archive", max_file_size=1024**2)
    work = tmp_path / "work"
    with pytest.raises(FetchError) as caught:
        Ytdlp(config.ytdlp, config.network, None).download(server.url("/big.mp4"), work)
    assert str(caught.value) == "file larger than the 1 MiB cap"
    assert not caught.value.retryable
    assert not work.exists()


def test_an_oversized_result_is_refused_after_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(3 * 1024**2))
    monkeypatch.setenv("FAKE_YTDLP_MEDIA", str(big))
    base = make_config(tmp_path / "archive", max_file_size=2 * 1024**2)
    config: Config = base.model_copy(
        update={"ytdlp": YtdlpConfig(command=[sys.executable, str(FAKE)])}
    )
    work = tmp_path / "work"
    with pytest.raises(FetchError) as caught:
        Ytdlp(config.ytdlp, config.network, None).download(
            "https://www.youtube.com/watch?v=abc123XYZ_0", work
        )
    assert str(caught.value) == "file larger than the 2 MiB cap"
    assert not caught.value.retryable
    assert not work.exists()
