"""A fake Pipedrive REST API (v1 persons and leads) on loopback.

It checks what Pipedrive checks: the API token (x-api-token header or api_token query; 401
otherwise), a person's name and the shape of its email/phone lists, that a lead has a title
and names an existing person, and answers searches by exact email or phone. People and leads
are kept so tests can count them. 429s are scripted: `fake.answer(429, rate_limited(),
headers={"Retry-After": "2"})`.
"""

from __future__ import annotations

import itertools
import uuid

from tests.fakes.jsonapi import FakeJSONAPI


def rate_limited() -> dict:
    return {"success": False, "error": "Request over limit", "errorCode": 429}


def _fail(status: int, error: str):
    return status, {"success": False, "error": error, "errorCode": status}


def _valid_channel(values) -> bool:
    return isinstance(values, list) and all(
        isinstance(item, dict) and isinstance(item.get("value"), str) for item in values
    )


class FakePipedrive(FakeJSONAPI):
    unauthorized_body = {"success": False, "error": "unauthorized access", "errorCode": 401}

    def __init__(self, *, token: str = "pipedrive-token") -> None:
        super().__init__()
        self.token = token
        self.persons: dict[int, dict] = {}
        self.leads: dict[str, dict] = {}
        self._ids = itertools.count(501)

    def authorized(self, path, headers, query) -> bool:
        return self.token in (headers.get("x-api-token"), query.get("api_token"))

    def handle(self, method, path, query, body):
        parts = path.strip("/").split("/")
        if parts[:2] == ["v1", "persons"]:
            if len(parts) == 3 and parts[2] == "search" and method == "GET":
                return self._search(query)
            if len(parts) == 2 and method == "POST":
                return self._save_person(None, body)
            if len(parts) == 3 and method == "PUT":
                return self._save_person(parts[2], body)
            if len(parts) == 3 and method == "DELETE":
                return self._delete(self.persons, int(parts[2]) if parts[2].isdigit() else 0)
        if parts[:2] == ["v1", "leads"]:
            if len(parts) == 2 and method == "GET":
                person = query.get("person_id")
                found = [lead for lead in self.leads.values() if str(lead["person_id"]) == person]
                return 200, {"success": True, "data": found}
            if len(parts) == 2 and method == "POST":
                return self._save_lead(None, body)
            if len(parts) == 3 and method == "PATCH":
                return self._save_lead(parts[2], body)
            if len(parts) == 3 and method == "DELETE":
                return self._delete(self.leads, parts[2])
        return _fail(404, f"no route {method} {path}")

    def _delete(self, rows: dict, key):
        with self.lock:
            if rows.pop(key, None) is None:
                return _fail(404, "Not found")
        return 200, {"success": True, "data": {"id": key}}

    def _search(self, query):
        term, field = query.get("term", ""), query.get("fields", "")
        if len(term) < 2 or field not in ("email", "phone") or query.get("exact_match") != "true":
            return _fail(400, "term must be 2+ characters; fields email or phone; exact_match")
        items = [
            {"result_score": 1, "item": {"id": person_id, "name": person["name"]}}
            for person_id, person in self.persons.items()
            if any(entry["value"].lower() == term.lower() for entry in person.get(field, []))
        ]
        return 200, {"success": True, "data": {"items": items}}

    def _save_person(self, person_id, body):
        if not isinstance(body, dict) or not body.get("name"):
            return _fail(400, "Name must be given.")
        for channel in ("email", "phone"):
            if channel in body and not _valid_channel(body[channel]):
                return _fail(400, f"{channel} must be a list of {{value, primary, label}}")
        with self.lock:
            is_new = person_id is None
            if is_new:
                person_id = next(self._ids)
            elif not person_id.isdigit() or int(person_id) not in self.persons:
                return _fail(404, "Person not found")
            person_id = int(person_id)
            self.persons.setdefault(person_id, {}).update(body)
        return 201 if is_new else 200, {"success": True, "data": {"id": person_id, **body}}

    def _save_lead(self, lead_id, body):
        if not isinstance(body, dict):
            return _fail(400, "body must be an object")
        with self.lock:
            if lead_id is None:
                if not body.get("title"):
                    return _fail(400, "Title is required")
                if body.get("person_id") not in self.persons:
                    return _fail(400, "A lead must be linked to an existing person or organization")
                lead_id = str(uuid.uuid4())
                self.leads[lead_id] = {"id": lead_id, **body}
                return 201, {"success": True, "data": self.leads[lead_id]}
            if lead_id not in self.leads:
                return _fail(404, "Lead not found")
            self.leads[lead_id].update(body)
            return 200, {"success": True, "data": self.leads[lead_id]}
