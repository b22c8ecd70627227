"""A fake Postmark email API (POST /email) on loopback, checking what Postmark checks.

The X-Postmark-Server-Token header (401 with ErrorCode 10 otherwise), a JSON body with From,
To and Subject and a body; a recipient on `inactive` gets Postmark's 422 ErrorCode 406
("inactive recipient"). Accepted messages are kept in `fake.sent` with their MessageID.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.fakes.jsonapi import FakeJSONAPI


class FakePostmark(FakeJSONAPI):
    unauthorized_body = {
        "ErrorCode": 10,
        "Message": "The Server Token you provided in the X-Postmark-Server-Token request header "
        "was invalid.",
    }

    def __init__(self, *, token: str = "postmark-server-token") -> None:
        super().__init__()
        self.token = token
        self.inactive: set[str] = set()
        self.sent: list[dict[str, Any]] = []

    def authorized(self, path, headers, query) -> bool:
        return headers.get("X-Postmark-Server-Token") == self.token

    def handle(self, method, path, query, body):
        if (method, path) != ("POST", "/email"):
            return 404, {"ErrorCode": 404, "Message": f"no route {method} {path}"}
        if not isinstance(body, dict) or not all(body.get(key) for key in ("From", "To")):
            return 422, {"ErrorCode": 300, "Message": "Invalid email request: From and To"}
        if not (body.get("TextBody") or body.get("HtmlBody")):
            return 422, {"ErrorCode": 300, "Message": "Provide either email TextBody or HtmlBody"}
        recipient = body["To"].rsplit("<", 1)[-1].rstrip(">").strip().lower()
        if recipient in self.inactive:
            return 422, {
                "ErrorCode": 406,
                "Message": "You tried to send to recipient(s) that have been marked as "
                "inactive. Found inactive addresses: "
                f"{recipient}. Inactive recipients are ones that have generated a hard bounce, "
                "a spam complaint, or a manual suppression.",
            }
        message_id = str(uuid.uuid4())
        with self.lock:
            self.sent.append({**body, "MessageID": message_id})
        return 200, {
            "To": body["To"],
            "SubmittedAt": "2026-12-05T08:00:00.0000000-05:00",
            "MessageID": message_id,
            "ErrorCode": 0,
            "Message": "OK",
        }
