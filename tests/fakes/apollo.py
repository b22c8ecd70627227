"""A fake Apollo.io organization enrichment API: a real HTTP server on loopback.

GET /api/v1/organizations/enrich?domain=... with the X-Api-Key header, as Apollo documents it.
Known domains answer {"organization": {...}} in Apollo's shape; unknown ones answer 200 with
an empty object, as Apollo does. A wrong key gets 401. Scripted statuses (`fake.answer(429)`) are served first, in order. Every request
is recorded in `fake.requests` (path, query, headers).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

API_KEY = "apollo-test-key"

ORGANIZATIONS = {
    "ledgerly.io": {
        "id": "5f2a9c1e8b7d6c0012a3b4c5",
        "name": "Ledgerly",
        "website_url": "http://www.ledgerly.io",
        "blog_url": None,
        "linkedin_url": "http://www.linkedin.com/company/ledgerly",
        "twitter_url": "https://twitter.com/ledgerlyhq",
        "facebook_url": None,
        "primary_domain": "ledgerly.io",
        "industry": "computer software",
        "keywords": ["bookkeeping", "invoicing", "accounting software", "smb"],
        "estimated_num_employees": 140,
        "founded_year": 2019,
        "short_description": "Ledgerly builds automated bookkeeping and invoicing software for small businesses.",
        "city": "Berlin",
        "state": "Berlin",
        "country": "Germany",
        "raw_address": "Torstrasse 19, Berlin, Berlin, Germany, 10119",
        "technology_names": ["Next.js", "Vercel", "Segment", "Intercom", "Stripe"],
        "current_technologies": [
            {"uid": "next_js", "name": "Next.js", "category": "Frameworks"},
            {"uid": "vercel", "name": "Vercel", "category": "Hosting"},
        ],
    }
}


class FakeApollo:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self._scripted: deque[tuple[int, float]] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, status: int, *, delay: float = 0.0) -> None:
        """Serve this status (after ``delay`` seconds) to the next request."""
        with self._lock:
            self._scripted.append((status, delay))

    def start(self) -> FakeApollo:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # noqa: A002
                pass

            def do_GET(self):  # noqa: N802
                parts = urlsplit(self.path)
                query = {key: values[0] for key, values in parse_qs(parts.query).items()}
                with fake._lock:
                    fake.requests.append(
                        {"path": parts.path, "query": query, "headers": dict(self.headers.items())}
                    )
                    scripted = fake._scripted.popleft() if fake._scripted else None
                if scripted is not None:
                    status, delay = scripted
                    if delay:
                        time.sleep(delay)
                    self._send(status, {"error": f"scripted {status}"})
                    return
                if parts.path != "/api/v1/organizations/enrich":
                    self._send(404, {"error": "not found"})
                    return
                if self.headers.get("X-Api-Key") != API_KEY:
                    self._send(401, {"error": "Invalid access credentials."})
                    return
                organization = ORGANIZATIONS.get(query.get("domain", ""))
                self._send(200, {"organization": organization} if organization else {})

            def _send(self, status, body):
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler
