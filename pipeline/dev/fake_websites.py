"""Fake company websites for the benchmarks: one real HTTP server on loopback, a site per path.

`http://127.0.0.1:<port>/c/<slug>/` is the homepage of company <slug>: a small page with a
title, a description, JSON-LD and a tech-stack fingerprint, answered after `latency` seconds
(the time a real site takes). Paths under `/hang/` never answer within any sane timeout (the
site that hangs); robots.txt is a quick 404 (allow all). Leads point their website field at
these URLs, and the workers fetch them with ENRICH_ALLOW_PRIVATE_ADDRESSES=1.

The tests' own sites (tests/fakes/websites.py, virtual hosts over HTTP and HTTPS with a test
DNS) are richer; worker processes cannot be given a test DNS, hence this one.
"""

from __future__ import annotations

import html
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HANG_SECONDS = 120.0

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{name} | Operations software</title>
<meta name="description" content="{name} builds logistics software for mid-sized fleets.">
<meta property="og:site_name" content="{name}">
<script type="application/ld+json">{json_ld}</script>
<script src="https://js.hs-scripts.com/12345.js"></script>
</head><body><h1>{name}</h1>
<p>{name} helps 200+ logistics teams plan routes and track deliveries. Founded 2015,
about 120 employees, headquartered in Rotterdam.</p>
</body></html>
"""


class FakeWebsites:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0) -> None:
        self.latency = latency
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def site(self, slug: str) -> str:
        return f"{self.url}/c/{slug}/"

    def hanging_site(self, slug: str) -> str:
        return f"{self.url}/hang/{slug}/"

    def __enter__(self) -> FakeWebsites:
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                parts = self.path.split("?")[0].strip("/").split("/")
                with fake._lock:
                    fake.hits[parts[0]] += 1
                if parts[0] == "hang":
                    time.sleep(HANG_SECONDS)
                    self._send(200, b"<html><title>late</title></html>")
                elif parts[0] == "c" and len(parts) == 2:
                    if fake.latency:
                        time.sleep(fake.latency)
                    name = parts[1].replace("-", " ").title()
                    json_ld = json.dumps(
                        {"@context": "https://schema.org", "@type": "Organization", "name": name}
                    )
                    page = _PAGE.format(name=html.escape(name), json_ld=json_ld)
                    self._send(200, page.encode())
                else:
                    self._send(404, b"not found", content_type="text/plain")

            def _send(self, status: int, body: bytes, *, content_type: str = "") -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type or "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the fetcher gave up (its timeout): nothing to answer

        return Handler
