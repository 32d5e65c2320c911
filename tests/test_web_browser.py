"""End to end in a real headless Chromium: search, watch and seek, the editors' dashboard.

The app runs under uvicorn on 127.0.0.1; the archive was captured from a local site
whose photo was then deleted and found gone by the liveness check. Screenshots of the
main pages are written to the test's directory, or to the directory named by
``ARCHIVER_SCREENSHOTS`` (the README's come from ``docs/screenshots``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from support import FixtureServer, MediaSet
from support.archiving import settings, store_as_earlier_versions_did
from support.browser import LiveApp, Newsroom, build_newsroom, chromium

from archiver.archive import Archive
from archiver.config import config_from_dict
from archiver.web import create_app

pytestmark = pytest.mark.slow
PUBLIC = "https://archive.example.org"  # [web] base_url: what the editors' snippets point at


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory, media: MediaSet) -> Iterator[Newsroom]:
    with FixtureServer() as server:
        root = tmp_path_factory.mktemp("browser")
        built = build_newsroom(
            root, server, media, web={"base_url": PUBLIC, "public_read_only": True}
        )
        yield built
        built.archive.close()


@pytest.fixture(scope="module")
def live(room: Newsroom) -> Iterator[LiveApp]:
    with LiveApp(create_app(room.archive)) as app:
        yield app


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("profile")) as driver:
        yield driver


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("ARCHIVER_SCREENSHOTS")
    directory = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def screenshot(browser: Any, directory: Path, name: str) -> Path:
    """A PNG of the viewport (1280x800), kept small: a palette of 256 colours."""
    path = directory / f"{name}.png"
    browser.save_screenshot(str(path))
    with Image.open(path) as image:
        image.convert("RGB").quantize(256).save(path, optimize=True)
    return path


def wait_for(browser: Any, script: str, timeout: float = 15.0) -> Any:
    """Poll a JavaScript expression until it is truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = browser.execute_script(f"return ({script});")
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {script}")


def test_search_by_hash_finds_the_item(
    room: Newsroom, live: LiveApp, browser: Any, shots: Path
) -> None:
    from selenium.webdriver.common.by import By

    browser.get(live.url + "/")
    assert browser.title.startswith("Search")
    wait_for(browser, "document.querySelectorAll('table.results tbody tr').length === 6")
    screenshot(browser, shots, "search")

    sha = room.sha["clip_a"]
    field = browser.find_element(By.NAME, "sha256")
    field.send_keys(sha[:10])
    field.submit()
    wait_for(browser, "location.search.includes('sha256=')")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.results tbody tr")
    assert len(rows) == 1
    link = rows[0].find_element(By.CSS_SELECTOR, "a.sha")
    assert link.get_attribute("title") == sha
    link.click()
    wait_for(browser, f"location.pathname === '/item/{sha}'")
    assert sha in browser.find_element(By.ID, "hashes").find_element(By.XPATH, "..").text


def test_video_plays_and_seeks_with_range_requests(
    room: Newsroom, live: LiveApp, browser: Any, shots: Path
) -> None:
    sha = room.sha["clip_a"]
    browser.get(f"{live.url}/item/{sha}")
    wait_for(browser, "document.getElementById('player').readyState >= 1")
    played = browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const video = document.getElementById('player');
        video.muted = true;
        video.play().then(() => {
          const started = performance.now();
          const waitPlaying = () => {
            if (video.currentTime > 0.3 || performance.now() - started > 5000) {
              video.pause();
              video.addEventListener('seeked', () => done({
                currentTime: video.currentTime,
                readyState: video.readyState,
                played: Array.from({length: video.played.length},
                                   (_, i) => [video.played.start(i), video.played.end(i)]),
                duration: video.duration,
                error: video.error && video.error.code,
              }), {once: true});
              video.currentTime = 1.5;
            } else {
              setTimeout(waitPlaying, 50);
            }
          };
          waitPlaying();
        }, (err) => done({error: String(err)}));
        """
    )
    assert played["error"] is None, played
    assert abs(played["currentTime"] - 1.5) < 0.1, played
    assert played["readyState"] >= 2, played  # HAVE_CURRENT_DATA at the new position
    assert played["played"] and played["played"][0][1] > 0.2, played
    assert 1.9 < played["duration"] < 2.2
    ranged = [r for r in live.requests if r.path == f"/media/{sha}" and r.range]
    assert ranged, live.requests
    assert all(r.range.startswith("bytes=") for r in ranged if r.range)
    browser.execute_script("window.scrollTo(0, 0)")
    screenshot(browser, shots, "media")


def test_editors_see_the_dead_embed_and_its_replacement(
    room: Newsroom, live: LiveApp, browser: Any, shots: Path
) -> None:
    from selenium.webdriver.common.by import By

    browser.get(live.url + "/editors")
    rows = {
        row.find_element(By.CSS_SELECTOR, "td a.url").text: row
        for row in browser.find_elements(By.CSS_SELECTOR, "tr.embed-row")
    }
    assert set(rows) == {room.url("/media/photo_a.jpg"), room.url("/player/1")}
    photo = rows[room.url("/media/photo_a.jpg")]
    assert "gone" in photo.text and "since" in photo.text and "HTTP 404" in photo.text
    snippet = photo.find_element(By.CSS_SELECTOR, "textarea.snippet-code").get_attribute("value")
    alt = "Smoke rises over the old city after the morning strikes:"
    assert snippet == f'<img src="{PUBLIC}/media/{room.sha["photo_a"]}" alt="{alt}">'
    wait_for(browser, "document.querySelector('tr.embed-row img.thumb').naturalWidth > 0")
    player = rows[room.url("/player/1")]
    assert "gone" in player.text and "soft 404" in player.text
    video = player.find_element(By.CSS_SELECTOR, "textarea.snippet-code").get_attribute("value")
    src = f"{PUBLIC}/media/{room.sha['clip_b']}"
    assert video == f'<video controls preload="metadata" src="{src}"></video>'
    screenshot(browser, shots, "editors")

    browser.get(live.url + "/dupes")
    groups = browser.find_elements(By.CSS_SELECTOR, "section.group")
    assert len(groups) == 2
    earliest = browser.find_elements(By.CSS_SELECTOR, "li.member.earliest")
    assert {e.find_element(By.CSS_SELECTOR, "a.sha").get_attribute("title") for e in earliest} == {
        room.sha["clip_a"],
        room.sha["photo_a"],
    }
    wait_for(
        browser,
        "Array.from(document.querySelectorAll('img.thumb')).every(i => i.complete && i.naturalWidth)",
    )
    screenshot(browser, shots, "dupes")


def test_dropping_a_file_finds_its_near_duplicates(
    room: Newsroom, live: LiveApp, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    held = tmp_path / "forwarded.jpg"
    with Image.open(room.files["photo_a"]) as image:
        image.convert("RGB").resize((400, 300)).save(held, "JPEG", quality=40)
    browser.get(live.url + "/")
    browser.find_element(By.ID, "drop-file").send_keys(str(held))
    browser.find_element(By.CSS_SELECTOR, "#drop-form button[type=submit]").click()
    wait_for(browser, "location.pathname === '/similar'")
    heading = browser.find_element(By.ID, "results-title").text
    assert "forwarded.jpg" in heading
    found = {
        a.get_attribute("title")
        for a in browser.find_elements(By.CSS_SELECTOR, "table.results a.sha")
    }
    assert found == {room.sha["photo_a"], room.sha["photo_copy"]}


def test_an_archived_file_never_opens_as_a_page(browser: Any, tmp_path: Path) -> None:
    """Bytes archived as a "photo" under an HTML or SVG type their server chose (by an
    earlier version) are saved when opened, never rendered as a document at the
    archive's address."""
    hostile = {
        "image/x-icon, text/html": (
            b"xx<html><h1>an archived page</h1><a href=https://evil.example>log in</a></html>"
        ),
        "image/png, image/svg+xml": (
            '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">'
            "<text>an archived page</text></svg>".encode("utf-16-be")
        ),
    }
    archive = Archive.open(config_from_dict(settings(tmp_path / "storage")))
    try:
        shas = [
            store_as_earlier_versions_did(archive, body, declared)
            for declared, body in hostile.items()
        ]
        browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "deny"})
        with LiveApp(create_app(archive)) as app:
            for sha in shas:
                browser.get(app.url + "/status")
                browser.get(f"{app.url}/media/{sha}")
                shown = browser.execute_script("return [location.pathname, document.contentType]")
                assert shown == ["/status", "text/html"], (sha, shown)  # saved: no navigation
                assert "an archived page" not in browser.page_source
    finally:
        archive.close()


def test_other_sites_cannot_tell_what_a_loopback_archive_holds(
    room: Newsroom, browser: Any, server: FixtureServer
) -> None:
    """A page on another site that embeds an archived photo by its digest sees it fail to
    load, exactly as a digest the archive does not hold."""
    local = Archive.open(config_from_dict(settings(room.archive.layout.root)))
    try:
        with LiveApp(create_app(local)) as app:
            probes = {
                "held": f"{app.url}/media/{room.sha['photo_a']}",
                "missing": f"{app.url}/media/{'0' * 64}",
            }
            tags = (
                '<img src="{url}" data-k="img {name}" onload="seen(this, 1)" '
                'onerror="seen(this, 0)"><object data="{url}" data-k="object {name}" '
                'width="20" height="20" onload="seen(this, 1)" onerror="seen(this, 0)"></object>'
            )
            markup = "".join(tags.format(url=url, name=name) for name, url in probes.items())
            script = (
                "<script>window.results = {}; function seen(element, loaded) "
                "{ results[element.dataset.k] = loaded ? 'load' : 'error'; }</script>"
            )
            server.add_page("/probe", f"<html><body>{script}{markup}</body></html>")
            browser.get(server.url("/probe").replace("127.0.0.1", "localhost"))  # another site
            results = wait_for(browser, "Object.keys(window.results).length === 4 && results")
    finally:
        local.close()
    assert results == {
        "img held": "error",
        "img missing": "error",
        "object held": "error",
        "object missing": "error",
    }
