"""A small base for fake JSON HTTP APIs on loopback (Postmark, Salesforce, Pipedrive).

Subclasses implement `authorized(headers, query)` and `handle(method, path, query, body)`.
Scripted answers go first, in order: `fake.answer(429, body, headers={"Retry-After": "1"})`,
or `fake.answer(delay=3)` to sit on the request (a timeout) before answering normally. Every
request is recorded in `fake.requests` (method, path, query, headers, json). An answer given
as bytes is sent as XML (the AWS query APIs), None as an empty body.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Scripted:
    status: int | None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class FakeJSONAPI:
    unauthorized_body: Any = {"message": "unauthorized"}

    def __init__(self, *, tls: bool = False) -> None:
        self.requests: list[dict[str, Any]] = []
        self._scripted: deque[Scripted] = deque()
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.ca_path = ""
        if tls:
            self._use_tls()

    def _use_tls(self) -> None:
        """Serve HTTPS with a certificate for 127.0.0.1 from a throwaway CA (`ca_path`)."""
        import ssl
        import tempfile

        import trustme

        ca = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        with tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False) as handle:
            handle.write(ca.cert_pem.bytes())
        self.ca_path = handle.name

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{'https' if self.ca_path else 'http'}://{host}:{port}"

    def __enter__(self):
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, status: int | None = None, body: Any = None, *, headers=None, delay=0.0):
        """Answer the next request with this (status None: handle it normally after `delay`)."""
        self._scripted.append(Scripted(status, body, dict(headers or {}), delay))

    def authorized(self, path: str, headers, query: dict[str, str]) -> bool:
        raise NotImplementedError

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        raise NotImplementedError

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = {k: v[-1] for k, v in parse_qs(raw.decode(errors="replace")).items()}
                parts = urlsplit(self.path)
                query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
                fake.requests.append(
                    {
                        "method": self.command,
                        "path": parts.path,
                        "query": query,
                        "headers": dict(self.headers),
                        "json": body,
                        "raw": raw,
                    }
                )
                headers: dict[str, str] = {}
                scripted = fake._scripted.popleft() if fake._scripted else None
                if scripted and scripted.delay:
                    time.sleep(scripted.delay)
                if not fake.authorized(parts.path, self.headers, query):
                    status, answer = 401, fake.unauthorized_body
                elif scripted and scripted.status is not None:
                    status, answer, headers = scripted.status, scripted.body, scripted.headers
                else:
                    status, answer = fake.handle(self.command, parts.path, query, body)
                is_xml = isinstance(answer, bytes)  # an AWS query API's answer
                encoded = (
                    answer if is_xml else b"" if answer is None else json.dumps(answer).encode()
                )
                try:
                    self.send_response(status)
                    if encoded:
                        content_type = "text/xml" if is_xml else "application/json; charset=utf-8"
                        self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(encoded)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(encoded)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test)

            do_POST = _serve
            do_PATCH = _serve
            do_GET = _serve
            do_PUT = _serve
            do_DELETE = _serve

        return Handler
