"""Feed sites for the sweep benchmark, served from a process of their own.

``daemon_bench.py`` starts this module as a child process so the HTTP servers do not
share an interpreter (and its GIL) with the daemon code being timed in-process.

    python bench/_daemon_sites.py --sources 1000 --hosts 20 --first-host 10

Each source is an RSS feed with one entry at ``/feeds/<i>.xml`` (the entry's article at
``/posts/<i>``), spread round-robin over the hosts 127.0.0.<first-host>... . A feed
answers a matching ``If-None-Match`` with 304, like a CDN.

Protocol: one JSON line on stdout once serving (``{"feeds": [url, ...]}``); then one
command per stdin line, each answered with one JSON line: ``stats`` gives the requests
counted so far by kind; ``quit`` (or end of input) stops the servers and exits.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import threading
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.server import FixtureServer, RequestHandler

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Live blog {i}</title><link>{base}/</link>
<description>Updates from desk {i}</description>
<item><title>Day {i}: morning roundup</title><link>{base}/posts/{i}</link>
<guid>{base}/posts/{i}</guid><pubDate>Sat, 28 Sep 2013 18:00:00 GMT</pubDate>
<content:encoded><![CDATA[<p><strong>UPDATE 0900 GMT:</strong> A quiet morning on
front {i}; no footage yet.</p>]]></content:encoded></item>
</channel></rss>
"""

ARTICLE = """<!doctype html><html><head><title>Day {i}: morning roundup</title></head>
<body><header><nav><a href="/">Home</a></nav></header><article><h1>Day {i}</h1>
<p><strong>UPDATE 0900 GMT:</strong> A quiet morning on front {i}; no footage yet.</p>
</article></body></html>
"""


class Counts:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counter: Counter[str] = Counter()

    def add(self, key: str) -> None:
        with self.lock:
            self.counter[key] += 1

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counter)


def serve_feed(server: FixtureServer, path: str, body: bytes, counts: Counts) -> None:
    etag = f'"{hashlib.sha1(body).hexdigest()[:16]}"'

    def handler(request: RequestHandler) -> None:
        request.read_body()
        if request.headers.get("If-None-Match") == etag:
            counts.add("feed_304")
            request.send_response(304)
            request.send_header("ETag", etag)
            request.end_headers()
            return
        counts.add("feed_conditional_200" if request.headers.get("If-None-Match") else "feed_200")
        request.send_simple(200, body, "application/rss+xml", headers={"ETag": etag})

    server.add_handler(path, handler)


def serve_article(server: FixtureServer, path: str, body: bytes, counts: Counts) -> None:
    def handler(request: RequestHandler) -> None:
        request.read_body()
        counts.add("article")
        request.send_simple(200, body, "text/html; charset=utf-8")

    server.add_handler(path, handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--first-host", type=int, default=10)
    args = parser.parse_args()

    counts = Counts()
    servers = [FixtureServer(f"127.0.0.{args.first_host + h}") for h in range(args.hosts)]
    feeds: list[str] = []
    for i in range(args.sources):
        server = servers[i % args.hosts]
        base = server.base_url
        serve_feed(server, f"/feeds/{i}.xml", RSS.format(i=i, base=base).encode(), counts)
        serve_article(server, f"/posts/{i}", ARTICLE.format(i=i).encode(), counts)
        feeds.append(server.url(f"/feeds/{i}.xml"))
    print(json.dumps({"feeds": feeds}), flush=True)
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                print(json.dumps(counts.snapshot()), flush=True)
            elif command == "quit":
                break
    finally:
        for server in servers:
            server.close(timeout=1.0)


if __name__ == "__main__":
    main()
