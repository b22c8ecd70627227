"""A fake HubSpot CRM v3 contacts API: a real HTTP server on loopback (tests, bench_pipeline).

It checks what HubSpot checks: the private-app bearer token (401 otherwise), the batch upsert
body shape ({"inputs": [{"idProperty": "email", "id": ..., "properties": {...}}]}), that every
property exists in the portal and that values are strings (400 VALIDATION_ERROR otherwise). It
keeps contacts by id, unique by email, so tests can count them.

Scripted answers, in order, before normal handling: `fake.answer(429, headers={"Retry-After":
"1"})`, `fake.answer(409, conflict_body(existing_id))`, `fake.answer(500)`. Every request is
recorded in `fake.requests` (method, path, headers, json).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pipeline.integrations.crm.base import DEFAULT_HUBSPOT_MAPPING

# HubSpot's own contact properties we may write, plus the portal's leadops_* custom ones.
STANDARD_PROPERTIES = {
    "email",
    "firstname",
    "lastname",
    "phone",
    "company",
    "website",
    "country",
    "city",
    "jobtitle",
    "industry",
    "numemployees",
    "lifecyclestage",
    "message",
    "hs_lead_status",
}
PORTAL_PROPERTIES = STANDARD_PROPERTIES | set(DEFAULT_HUBSPOT_MAPPING.values())


@dataclass
class Scripted:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def conflict_body(existing_id: str) -> dict:
    return {
        "status": "error",
        "message": f"Contact already exists. Existing ID: {existing_id}",
        "correlationId": str(uuid.uuid4()),
        "category": "CONFLICT",
    }


def rate_limit_body() -> dict:
    return {
        "status": "error",
        "message": "You have reached your secondly limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": str(uuid.uuid4()),
        "policyName": "SECONDLY",
    }


def validation_body(message: str) -> dict:
    return {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": "VALIDATION_ERROR",
    }


class FakeHubSpot:
    def __init__(
        self,
        *,
        token: str = "pat-na1-test-token",  # noqa: S107 - a fake's token
        properties: set[str] | None = None,
    ) -> None:
        self.token = token
        self.properties = set(PORTAL_PROPERTIES if properties is None else properties)
        self.contacts: dict[str, dict[str, str]] = {}  # id -> properties
        self.requests: list[dict[str, Any]] = []
        self._scripted: deque[Scripted] = deque()
        self._next_id = 1001
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeHubSpot:
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, status: int, body: Any = None, *, headers: dict[str, str] | None = None):
        """Answer the next request with this instead of handling it."""
        if body is None:
            body = rate_limit_body() if status == 429 else {"status": "error", "message": "boom"}
        self._scripted.append(Scripted(status, body, dict(headers or {})))

    def add_contact(self, properties: dict[str, str]) -> str:
        with self._lock:
            contact_id = str(self._next_id)
            self._next_id += 1
            self.contacts[contact_id] = dict(properties)
        return contact_id

    def contacts_per_email(self) -> dict[str, int]:
        """How many contacts hold each (lowercased) email: more than one is a duplicate."""
        with self._lock:
            emails = [props.get("email", "").lower() for props in self.contacts.values()]
        counts: dict[str, int] = {}
        for email in emails:
            counts[email] = counts.get(email, 0) + 1
        return counts

    @property
    def scripted_left(self) -> int:
        """Scripted answers not given yet."""
        return len(self._scripted)

    def find(self, email: str) -> str | None:
        for contact_id, properties in self.contacts.items():
            if properties.get("email", "").lower() == email.lower():
                return contact_id
        return None

    # --- HubSpot's behaviour -------------------------------------------------------------------

    def _check_properties(self, properties: Any) -> str | None:
        if not isinstance(properties, dict):
            return "properties must be an object"
        for name, value in properties.items():
            if name not in self.properties:
                return (
                    f'Property values were not valid: [{{"isValid":false,"message":"Property '
                    f'\\"{name}\\" does not exist","error":"PROPERTY_DOESNT_EXIST","name":"{name}"}}]'
                )
            if not isinstance(value, str):
                return f'Property values were not valid: "{name}" must be a string'
        return None

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "POST" and path == "/crm/v3/objects/contacts/gdpr-delete":
            return self._gdpr_delete(body)
        if method == "POST" and path == "/crm/v3/objects/contacts/batch/upsert":
            return self._batch_upsert(body)
        if method == "POST" and path == "/crm/v3/objects/contacts":
            return self._create(body)
        if method == "PATCH" and path.startswith("/crm/v3/objects/contacts/"):
            return self._update(path.rsplit("/", 1)[1], body)
        return 404, {"status": "error", "message": f"no route {method} {path}"}

    def _gdpr_delete(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("objectId"), str):
            return 400, validation_body("objectId must be a string")
        if body.get("idProperty") not in (None, "email"):
            return 400, validation_body("idProperty must be email when given")
        with self._lock:
            contact_id = self.find(body["objectId"]) if body.get("idProperty") else body["objectId"]
            if contact_id is None or self.contacts.pop(contact_id, None) is None:
                return 404, {"status": "error", "message": "resource not found"}
        return 204, None

    def _batch_upsert(self, body: Any) -> tuple[int, Any]:
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not inputs:
            return 400, validation_body("inputs must be a non-empty array")
        results = []
        for item in inputs:
            if not isinstance(item, dict) or set(item) - {"idProperty", "id", "properties"}:
                return 400, validation_body(f"unexpected input shape: {sorted(item)}")
            if item.get("idProperty") != "email" or not isinstance(item.get("id"), str):
                return 400, validation_body("idProperty must be email and id the email address")
            problem = self._check_properties(item.get("properties"))
            if problem:
                return 400, validation_body(problem)
            with self._lock:
                contact_id = self.find(item["id"])
                is_new = contact_id is None
                if is_new:
                    contact_id = str(self._next_id)
                    self._next_id += 1
                    self.contacts[contact_id] = {"email": item["id"]}
                self.contacts[contact_id].update(item["properties"])
            results.append(
                {
                    "id": contact_id,
                    "properties": dict(self.contacts[contact_id]),
                    "createdAt": "2026-01-01T00:00:00Z",
                    "updatedAt": "2026-01-01T00:00:00Z",
                    "archived": False,
                    "new": is_new,
                }
            )
        return 200, {"status": "COMPLETE", "results": results}

    def _create(self, body: Any) -> tuple[int, Any]:
        properties = body.get("properties") if isinstance(body, dict) else None
        problem = self._check_properties(properties)
        if problem:
            return 400, validation_body(problem)
        email = properties.get("email", "")
        if email and self.find(email):
            return 409, conflict_body(self.find(email))
        contact_id = self.add_contact(properties)
        return 201, {"id": contact_id, "properties": properties, "archived": False}

    def _update(self, contact_id: str, body: Any) -> tuple[int, Any]:
        properties = body.get("properties") if isinstance(body, dict) else None
        problem = self._check_properties(properties)
        if problem:
            return 400, validation_body(problem)
        with self._lock:
            if contact_id not in self.contacts:
                return 404, {"status": "error", "message": "resource not found"}
            self.contacts[contact_id].update(properties)
        return 200, {"id": contact_id, "properties": dict(self.contacts[contact_id])}

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                fake.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "json": body,
                    }
                )
                headers: dict[str, str] = {}
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    status, answer = (
                        401,
                        {
                            "status": "error",
                            "message": "Authentication credentials not found.",
                            "category": "INVALID_AUTHENTICATION",
                        },
                    )
                elif fake._scripted:
                    scripted = fake._scripted.popleft()
                    status, answer, headers = scripted.status, scripted.body, scripted.headers
                elif self.headers.get("Content-Type", "").split(";")[0] != "application/json":
                    status, answer = 415, {"status": "error", "message": "need JSON"}
                else:
                    status, answer = fake.handle(self.command, self.path, body)
                encoded = b"" if status == 204 else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(encoded)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(encoded)

            do_POST = _serve
            do_PATCH = _serve
            do_GET = _serve

        return Handler
