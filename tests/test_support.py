"""The test support itself: generated media is real, the server speaks real HTTP."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import numpy as np
import psycopg
import pytest
import sqlalchemy as sa
from PIL import Image
from sqlalchemy.engine import make_url
from support import (
    FixtureServer,
    MediaSet,
    RequestHandler,
    make_big_file,
    make_clip,
    make_photo,
    pg_schema,
)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=5) as c:
        yield c


def first_frame(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return frame.to_ndarray(format="rgb24").astype(np.int16)


# -- media -----------------------------------------------------------------------


def test_clip_is_real_h264_with_aac(media: MediaSet) -> None:
    with av.open(str(media.clip_a)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264"
        assert (video.width, video.height) == (320, 240)
        assert video.codec_context.pix_fmt == "yuv420p"
        assert audio.codec_context.name == "aac"
        assert container.duration is not None
        assert container.duration / 1e6 == pytest.approx(2.0, abs=0.1)
        assert sum(1 for _ in container.decode(video=0)) == 50
    data = media.clip_a.read_bytes()
    assert data[4:8] == b"ftyp"
    assert data.index(b"moov") < data.index(b"mdat")  # faststart


def test_clips_are_different_footage_with_camera_motion(media: MediaSet) -> None:
    a, b = first_frame(media.clip_a), first_frame(media.clip_b)
    assert np.abs(a - b).mean() > 20
    with av.open(str(media.clip_a)) as container:
        frames = [f.to_ndarray(format="rgb24").astype(np.int16) for f in container.decode(video=0)]
    assert np.abs(frames[0] - frames[-1]).mean() > 5  # the camera moved


def test_generation_is_deterministic(tmp_path: Path) -> None:
    one = make_clip(tmp_path / "1.mp4", seconds=0.4, seed=3)
    two = make_clip(tmp_path / "2.mp4", seconds=0.4, seed=3)
    other = make_clip(tmp_path / "3.mp4", seconds=0.4, seed=4)
    assert one.read_bytes() == two.read_bytes() != other.read_bytes()
    photo = make_photo(tmp_path / "1.jpg", seed=7).read_bytes()
    assert photo == make_photo(tmp_path / "2.jpg", seed=7).read_bytes()


def test_photos_are_distinct_real_images(media: MediaSet) -> None:
    pixels = []
    for path in (media.photo_a, media.photo_b, media.photo_c):
        with Image.open(path) as image:
            assert (image.format, image.size, image.mode) == ("JPEG", (800, 600), "RGB")
            pixels.append(np.asarray(image, dtype=np.int16))
            assert pixels[-1].std() > 20  # a photograph, not a flat fill
    assert np.abs(pixels[0] - pixels[1]).mean() > 20
    assert np.abs(pixels[1] - pixels[2]).mean() > 20


def test_png_pixel_and_audio(media: MediaSet) -> None:
    with Image.open(media.png) as png, Image.open(media.pixel) as pixel:
        assert png.format == "PNG"
        assert (pixel.format, pixel.size) == ("GIF", (1, 1))
    with av.open(str(media.audio)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
        assert container.duration is not None
        assert container.duration / 1e6 == pytest.approx(1.0, abs=0.1)


def test_big_file(tmp_path: Path) -> None:
    size = 20 * 1024 * 1024 + 7
    big = make_big_file(tmp_path / "big.mp4", size)
    assert big.stat().st_size == size
    with big.open("rb") as fh:
        assert fh.read(8)[4:] == b"ftyp"
    sparse = make_big_file(tmp_path / "sparse.mp4", 1 << 30, sparse=True)
    assert sparse.stat().st_size == 1 << 30


def test_big_file_is_streamed_in_ranges(
    server: FixtureServer, tmp_path: Path, client: httpx.Client
) -> None:
    big = make_big_file(tmp_path / "big.mp4", 1 << 30, sparse=True)
    server.add_file("/big.mp4", big)
    tail = client.get(server.url("/big.mp4"), headers={"Range": "bytes=-10"})
    assert (tail.status_code, tail.content) == (206, bytes(10))
    with client.stream("GET", server.url("/big.mp4")) as response:
        assert response.headers["content-length"] == str(1 << 30)
        assert next(response.iter_bytes())[4:8] == b"ftyp"


# -- server: static files ------------------------------------------------------------


def test_file_is_served_with_validators(
    server: FixtureServer, media: MediaSet, client: httpx.Client
) -> None:
    server.add_file("/v/clip.mp4", media.clip_a)
    response = client.get(server.url("/v/clip.mp4"))
    assert response.status_code == 200
    assert response.content == media.clip_a.read_bytes()
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["content-length"] == str(media.clip_a.stat().st_size)
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"].startswith('"')
    assert response.headers["last-modified"].endswith("GMT")
    assert client.get(server.url("/missing")).status_code == 404


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, None),
        ("bytes=-100", -100, None),
        ("bytes=10-999999999", 10, None),
    ],
)
def test_range_requests(
    server: FixtureServer,
    media: MediaSet,
    client: httpx.Client,
    header: str,
    start: int,
    end: int | None,
) -> None:
    data = media.photo_a.read_bytes()
    server.add_file("/p.jpg", media.photo_a)
    response = client.get(server.url("/p.jpg"), headers={"Range": header})
    expected = data[start : None if end is None else end + 1]
    first = start % len(data)
    assert response.status_code == 206
    assert response.content == expected
    assert (
        response.headers["content-range"]
        == f"bytes {first}-{first + len(expected) - 1}/{len(data)}"
    )


def test_unsatisfiable_and_ignored_ranges(
    server: FixtureServer, media: MediaSet, client: httpx.Client
) -> None:
    size = media.photo_a.stat().st_size
    server.add_file("/p.jpg", media.photo_a)
    response = client.get(server.url("/p.jpg"), headers={"Range": f"bytes={size}-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{size}"
    multi = client.get(server.url("/p.jpg"), headers={"Range": "bytes=0-1,5-6"})
    assert (multi.status_code, len(multi.content)) == (200, size)
    stale = client.get(server.url("/p.jpg"), headers={"Range": "bytes=0-9", "If-Range": '"old"'})
    assert (stale.status_code, len(stale.content)) == (200, size)


def test_head(server: FixtureServer, media: MediaSet, client: httpx.Client) -> None:
    server.add_file("/a.m4a", media.audio)
    response = client.head(server.url("/a.m4a"))
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"] == "audio/mp4"
    assert response.headers["content-length"] == str(media.audio.stat().st_size)


def test_conditional_get(server: FixtureServer, media: MediaSet, client: httpx.Client) -> None:
    server.add_file("/p.jpg", media.photo_b)
    first = client.get(server.url("/p.jpg"))
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert client.get(server.url("/p.jpg"), headers={"If-None-Match": etag}).status_code == 304
    by_date = client.get(server.url("/p.jpg"), headers={"If-Modified-Since": modified})
    assert by_date.status_code == 304
    assert by_date.headers["etag"] == etag
    assert client.get(server.url("/p.jpg"), headers={"If-None-Match": '"x"'}).status_code == 200
    assert server.hits("/p.jpg") == 4
    assert server.requests[1].headers["if-none-match"] == etag


def test_route_replacement_between_polls(server: FixtureServer, client: httpx.Client) -> None:
    server.add_page("/live", "<p>first</p>")
    first = client.get(server.url("/live"))
    assert first.headers["content-type"] == "text/html; charset=utf-8"
    server.add_page("/live", "<p>second</p>")
    second = client.get(server.url("/live"), headers={"If-None-Match": first.headers["etag"]})
    assert (second.status_code, second.text) == (200, "<p>second</p>")
    again = client.get(server.url("/live"), headers={"If-None-Match": second.headers["etag"]})
    assert again.status_code == 304
    assert server.hits("/live") == 3


# -- server: other routes ------------------------------------------------------------


def test_redirects(server: FixtureServer, client: httpx.Client) -> None:
    server.add_bytes("/target", b"here", "text/plain")
    server.add_redirect("/old", "/target", status=301)
    response = client.get(server.url("/old"), follow_redirects=True)
    assert (response.text, len(response.history)) == ("here", 1)
    server.add_redirect_loop("/loop")
    with pytest.raises(httpx.TooManyRedirects):
        client.get(server.url("/loop"), follow_redirects=True)
    assert server.hits("/loop") == 21


def test_status_retry_after_and_custom_handler(server: FixtureServer, client: httpx.Client) -> None:
    server.add_status("/gone", 410, b"gone", headers={"X-Why": "deleted"})
    gone = client.get(server.url("/gone"))
    assert (gone.status_code, gone.text, gone.headers["x-why"]) == (410, "gone", "deleted")

    server.add_retry_after("/busy", status=503, retry_after="1", times=1, data=b"ok")
    busy = client.get(server.url("/busy"))
    assert (busy.status_code, busy.headers["retry-after"]) == (503, "1")
    assert client.get(server.url("/busy")).content == b"ok"

    def echo(request: RequestHandler) -> None:
        body = request.read_body()
        request.send_simple(201, body[::-1], "application/octet-stream")

    server.add_handler("/echo", echo)
    assert client.post(server.url("/echo?x=1"), content=b"abc").content == b"cba"
    assert client.post(server.url("/echo"), content=iter([b"ab", b"cd"])).content == b"dcba"
    assert [r.method for r in server.requests if r.path.startswith("/echo")] == ["POST"] * 2


def test_truncated_response_raises(server: FixtureServer, client: httpx.Client) -> None:
    server.add_truncated("/cut.mp4", b"x" * 1000, declared_length=5000)
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(server.url("/cut.mp4"))


def test_slow_response_trickles(server: FixtureServer, client: httpx.Client) -> None:
    server.add_slow("/slow", b"a" * 1000, delay_per_chunk=0.05, chunk_size=100)
    started = time.monotonic()
    assert client.get(server.url("/slow")).content == b"a" * 1000
    assert time.monotonic() - started >= 0.45
    with pytest.raises(httpx.ReadTimeout):
        client.get(server.url("/slow"), timeout=httpx.Timeout(5, read=0.02))


def test_a_paced_file_arrives_whole_at_its_rate(
    server: FixtureServer, media: MediaSet, client: httpx.Client
) -> None:
    data = media.photo_a.read_bytes()
    server.add_file("/paced.jpg", media.photo_a, rate=len(data) / 0.5)  # half a second
    start = time.perf_counter()
    response = client.get(server.url("/paced.jpg"))
    assert response.content == data and time.perf_counter() - start >= 0.45


def test_hang_times_out(server: FixtureServer, client: httpx.Client) -> None:
    server.add_hang("/hang", seconds=30)
    with pytest.raises(httpx.ReadTimeout):
        client.get(server.url("/hang"), timeout=httpx.Timeout(5, read=0.2))


def test_endless_stream_releases_its_thread(server: FixtureServer, client: httpx.Client) -> None:
    server.add_endless("/live.mp4")
    with client.stream("GET", server.url("/live.mp4")) as response:
        assert "content-length" not in response.headers
        received = 0
        for chunk in response.iter_bytes():
            received += len(chunk)
            if received > 1_000_000:
                break
        cpu = time.process_time()
        time.sleep(0.3)  # client stops reading: the handler must block, not spin
        assert time.process_time() - cpu < 0.15
    client.close()
    deadline = time.monotonic() + 2
    while server.active_connections and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.active_connections == 0


def test_close_is_prompt_with_stuck_handlers() -> None:
    srv = FixtureServer()
    srv.add_hang("/hang", seconds=60)
    srv.add_slow("/slow", b"x" * 100, delay_per_chunk=60, chunk_size=1)
    srv.add_endless("/endless")
    stuck = httpx.Client(trust_env=False, timeout=30)
    streams = [stuck.stream("GET", srv.url("/endless"))]
    streams[0].__enter__()  # open, never read
    threads = [
        threading.Thread(target=lambda p=p: _swallow(stuck, srv.url(p)), daemon=True)
        for p in ("/hang", "/slow")
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 2
    while srv.active_connections < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert srv.active_connections == 3
    started = time.monotonic()
    srv.close()
    assert time.monotonic() - started < 1.5
    assert srv.active_connections == 0
    assert not [t for t in threading.enumerate() if t.name == f"fixture-server:{srv.port}"]
    for t in threads:
        t.join(2)
        assert not t.is_alive()
    stuck.close()


def _swallow(client: httpx.Client, url: str) -> None:
    with contextlib.suppress(httpx.HTTPError):
        client.get(url)


def test_route_errors_are_kept_for_the_test(client: httpx.Client) -> None:
    def broken(request: RequestHandler) -> None:
        raise ValueError("bug in a test route")

    with FixtureServer() as srv:
        srv.add_handler("/broken", broken)
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(srv.url("/broken"))
    assert [str(e) for e in srv.errors] == ["bug in a test route"]


def test_virtual_host_and_any_host_header(client: httpx.Client) -> None:
    with FixtureServer(host="127.0.0.5") as srv:
        srv.add_page("/", "<p>five</p>")
        assert srv.url("/x") == f"http://127.0.0.5:{srv.port}/x"
        assert client.get(srv.url("/")).text == "<p>five</p>"
        spoofed = client.get(srv.url("/"), headers={"Host": "news.example"})
        assert spoofed.status_code == 200
        assert srv.requests[-1].headers["host"] == "news.example"


def test_media_server_and_quiet(
    media_server: FixtureServer,
    media: MediaSet,
    client: httpx.Client,
    capfd: pytest.CaptureFixture[str],
) -> None:
    for path in media.files().values():
        response = client.head(media_server.url(f"/media/{path.name}"))
        assert response.headers["content-length"] == str(path.stat().st_size)
    assert client.get(media_server.url("/nope")).status_code == 404
    assert capfd.readouterr().err == ""


# -- databases -----------------------------------------------------------------------


def _schema_of(url: str) -> str:
    options = make_url(url).query["options"]
    assert isinstance(options, str)
    return options.rpartition("search_path=")[2]


def test_pg_url_is_an_isolated_empty_schema(pg_url: str) -> None:
    schema = _schema_of(pg_url)
    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as conn:
            assert conn.scalar(sa.text("select current_schema()")) == schema
            assert (
                conn.scalar(
                    sa.text("select count(*) from pg_tables where schemaname = current_schema()")
                )
                == 0
            )
            conn.execute(sa.text("create table items (id int primary key)"))
            where = conn.scalar(
                sa.text("select schemaname from pg_tables where tablename = 'items'")
            )
            assert where == schema
    finally:
        engine.dispose()


def test_pg_schema_is_dropped_even_with_a_leaked_connection() -> None:
    with pg_schema() as url:
        schema = _schema_of(url)
        engine = sa.create_engine(url)
        leaked = engine.connect()  # idle in transaction, holding a lock on the table
        leaked.execute(sa.text("create table items (id int)"))
        leaked.execute(sa.text("insert into items values (1)"))
    admin = make_url(url).set(drivername="postgresql", query={})
    with psycopg.connect(admin.render_as_string(hide_password=False)) as conn:
        row = conn.execute("select 1 from pg_namespace where nspname = %s", [schema]).fetchone()
        assert row is None
    leaked.invalidate()
    engine.dispose()


def test_pg_unreachable_fails_instead_of_skipping() -> None:
    with (
        pytest.raises(pytest.fail.Exception, match="unreachable"),
        pg_schema("postgresql+psycopg://postgres@127.0.0.1:1/test"),
    ):
        pass


def test_db_url_works_for_both_backends(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("create table items (id integer primary key, name text)"))
            conn.execute(sa.text("insert into items values (1, 'clip')"))
            assert conn.scalar(sa.text("select name from items")) == "clip"
    finally:
        engine.dispose()
