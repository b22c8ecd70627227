"""A fake Salesforce REST API over HTTPS on loopback (simple-salesforce insists on https).

It checks what Salesforce checks: the bearer session token (401 INVALID_SESSION_ID otherwise),
the client-credentials token request, that upserted fields exist on Lead, deletes by external id, that the external id
is not also in the body, that a new Lead has LastName and Company (400 REQUIRED_FIELD_MISSING),
and that the score is a number. Leads are kept by external id so tests can count them.
"""

from __future__ import annotations

import itertools

from tests.fakes.jsonapi import FakeJSONAPI

LEAD_FIELDS = {
    "FirstName",
    "LastName",
    "Email",
    "Phone",
    "Company",
    "Website",
    "Country",
    "Description",
    "LeadSource",
    "LeadOps_Id__c",
    "LeadOps_Label__c",
    "LeadOps_Score__c",
    "Industry",
    "NumberOfEmployees",
}
EXTERNAL_ID = "LeadOps_Id__c"


def limit_exceeded() -> list[dict]:
    return [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]


class FakeSalesforce(FakeJSONAPI):
    unauthorized_body = [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]

    def __init__(self, *, client_id="connected-app", client_secret="app-secret", version="62.0"):
        super().__init__(tls=True)
        self.client_id, self.client_secret, self.version = client_id, client_secret, version
        self.tokens: set[str] = {"static-token"}
        self.leads: dict[str, dict] = {}  # external id -> fields (with Id)
        self._ids = itertools.count(1)

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def authorized(self, path, headers, query) -> bool:
        if path == "/services/oauth2/token":
            return True
        auth = headers.get("Authorization", "")
        return auth.startswith("Bearer ") and auth.removeprefix("Bearer ") in self.tokens

    def handle(self, method, path, query, body):
        if path == "/services/oauth2/token":
            return self._token(body)
        prefix = f"/services/data/v{self.version}/sobjects/Lead/{EXTERNAL_ID}/"
        if not path.startswith(prefix):
            return 404, [{"errorCode": "NOT_FOUND", "message": f"no route {method} {path}"}]
        external_id = path.removeprefix(prefix)
        if method == "PATCH":
            return self._upsert(external_id, body)
        if method == "GET":
            if external_id not in self.leads:
                return 404, [
                    {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}
                ]
            return 200, {"attributes": {"type": "Lead"}, **self.leads[external_id]}
        if method == "DELETE":
            with self.lock:
                if self.leads.pop(external_id, None) is None:
                    return 404, [
                        {
                            "errorCode": "NOT_FOUND",
                            "message": "Provided external ID field "
                            "does not exist or is not accessible",
                        }
                    ]
            return 204, None
        return 405, [{"errorCode": "METHOD_NOT_ALLOWED", "message": method}]

    def _token(self, body):
        if (
            not isinstance(body, dict)
            or body.get("grant_type") != "client_credentials"
            or (body.get("client_id"), body.get("client_secret"))
            != (self.client_id, self.client_secret)
        ):
            return 400, {
                "error": "invalid_client",
                "error_description": "invalid client credentials",
            }
        token = f"session-{next(self._ids)}"
        self.tokens.add(token)
        return 200, {"access_token": token, "instance_url": self.url, "token_type": "Bearer"}

    def _upsert(self, external_id: str, body):
        if not isinstance(body, dict):
            return 400, [{"errorCode": "JSON_PARSER_ERROR", "message": "body must be an object"}]
        unknown = sorted(set(body) - LEAD_FIELDS)
        if unknown:
            return 400, [
                {
                    "errorCode": "INVALID_FIELD",
                    "message": f"No such column '{unknown[0]}' on sobject of type Lead",
                }
            ]
        if EXTERNAL_ID in body:
            return 400, [{"errorCode": "INVALID_FIELD", "message": "external id in the body"}]
        score = body.get("LeadOps_Score__c")
        if score is not None and not isinstance(score, (int, float)):
            return 400, [{"errorCode": "INVALID_TYPE", "message": "LeadOps_Score__c: not a number"}]
        with self.lock:
            existing = self.leads.get(external_id)
            if existing is None:
                missing = [name for name in ("LastName", "Company") if not body.get(name)]
                if missing:
                    return 400, [
                        {
                            "errorCode": "REQUIRED_FIELD_MISSING",
                            "message": f"Required fields are missing: {missing}",
                        }
                    ]
                record_id = f"00Q{next(self._ids):015d}"
                self.leads[external_id] = {"Id": record_id, EXTERNAL_ID: external_id, **body}
                return 201, {"id": record_id, "success": True, "errors": [], "created": True}
            existing.update(body)
            return 200, {"id": existing["Id"], "success": True, "errors": [], "created": False}
