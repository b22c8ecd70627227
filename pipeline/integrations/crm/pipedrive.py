"""Pipedrive: a person (found by email, else created) and one lead for them, over its REST API.

Idempotent without a native upsert: the stored external id ("<person id>:<lead id>") is
updated in place; without it, the person is found by exact email (or phone) and the lead by
its title's "[LeadOps #<id>]" tag among the person's leads, so a crash between Pipedrive's
answer and our commit never makes a second person or lead.

Answers: 401/403 -> permanent (the token); 429 -> wait Retry-After (up to
CRM_MAX_RETRY_AFTER_SECONDS, a few times), then a retryable error; other 4xx -> permanent with
Pipedrive's message; 5xx, timeouts, dropped connections -> retryable.
"""

from __future__ import annotations

import logging
import time

import requests
from django.conf import settings

from pipeline.integrations.crm.base import ContactData, CRMError, UpsertResult

logger = logging.getLogger(__name__)

MAX_RATE_LIMITED_TRIES = 3
DEFAULT_RETRY_AFTER_SECONDS = 2.0

# Module level so tests can watch the waits without waiting.
sleep = time.sleep


class NotFound(CRMError):
    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False, status=404)


def lead_tag(lead_id: int) -> str:
    return f"[LeadOps #{lead_id}]"


def lead_title(contact: ContactData) -> str:
    who = contact.company or " ".join(filter(None, (contact.first_name, contact.last_name)))
    who = who or contact.email or contact.phone or "lead"
    facts = ", ".join(
        filter(None, (contact.label, f"score {contact.score}" if contact.score is not None else ""))
    )
    return f"{lead_tag(contact.lead_id)} {who}" + (f" ({facts})" if facts else "")


def person_body(contact: ContactData) -> dict:
    name = " ".join(filter(None, (contact.first_name, contact.last_name)))
    body: dict = {"name": name or contact.email or contact.phone or f"Lead {contact.lead_id}"}
    if contact.email:
        body["email"] = [{"value": contact.email, "primary": True, "label": "work"}]
    if contact.phone:
        body["phone"] = [{"value": contact.phone, "primary": True, "label": "work"}]
    return body


class PipedriveCRM:
    name = "pipedrive"

    def __init__(
        self, *, token: str | None = None, base_url: str | None = None, timeout=None
    ) -> None:
        self.token = settings.PIPEDRIVE_API_TOKEN if token is None else token
        if not self.token:
            raise CRMError("CRM_ADAPTER=pipedrive needs PIPEDRIVE_API_TOKEN", retryable=False)
        self.base_url = (base_url or settings.PIPEDRIVE_BASE_URL).rstrip("/")
        self.timeout = timeout or settings.CRM_TIMEOUT_SECONDS
        self.session = requests.Session()
        # The header keeps the token out of URLs, and so out of proxies' and servers' logs.
        self.session.headers.update({"x-api-token": self.token, "Accept": "application/json"})

    def upsert(self, contact: ContactData, *, known_id: str = "") -> UpsertResult:
        try:
            if known_id and ":" in known_id:
                person_id, lead_id = known_id.split(":", 1)
                try:
                    self._request("PUT", f"/v1/persons/{person_id}", person_body(contact))
                    self._request("PATCH", f"/v1/leads/{lead_id}", {"title": lead_title(contact)})
                    return UpsertResult(external_id=known_id)
                except NotFound:
                    logger.info("crm.pipedrive_known_id_gone known_id=%s", known_id)
            return self._find_or_create(contact)
        finally:
            self.session.close()

    def delete(self, contact: ContactData, *, known_id: str = "") -> bool:
        """Delete the person's LeadOps lead and the person (found as upsert finds them)."""
        try:
            if known_id and ":" in known_id:
                person_id, lead_id = known_id.split(":", 1)
            else:
                person_id = self._find_person(contact)
                if person_id is None:
                    return False
                lead_id = self._find_lead(person_id, contact.lead_id)
            deleted = False
            for path in (f"/v1/leads/{lead_id}" if lead_id else "", f"/v1/persons/{person_id}"):
                if not path:
                    continue
                try:
                    self._request("DELETE", path)
                    deleted = True
                except NotFound:
                    pass
            return deleted
        finally:
            self.session.close()

    def _find_or_create(self, contact: ContactData) -> UpsertResult:
        person_id = self._find_person(contact)
        created = person_id is None
        if person_id is None:
            person = self._request("POST", "/v1/persons", person_body(contact))
            person_id = person["id"]
        else:
            self._request("PUT", f"/v1/persons/{person_id}", person_body(contact))
        lead_id = None if created else self._find_lead(person_id, contact.lead_id)
        if lead_id is None:
            lead = self._request(
                "POST", "/v1/leads", {"title": lead_title(contact), "person_id": person_id}
            )
            lead_id = lead["id"]
            created = True
        else:
            self._request("PATCH", f"/v1/leads/{lead_id}", {"title": lead_title(contact)})
        return UpsertResult(external_id=f"{person_id}:{lead_id}", created=created)

    def _find_person(self, contact: ContactData) -> int | None:
        for field, term in (("email", contact.email), ("phone", contact.phone)):
            if not term:
                continue
            found = self._request(
                "GET",
                "/v1/persons/search",
                params={"term": term, "fields": field, "exact_match": "true", "limit": 1},
            )
            items = (found or {}).get("items") or []
            if items:
                return items[0]["item"]["id"]
        return None

    def _find_lead(self, person_id: int, lead_id: int) -> str | None:
        leads = self._request("GET", "/v1/leads", params={"person_id": person_id}) or []
        tag = lead_tag(lead_id)
        for lead in leads:
            if str(lead.get("title", "")).startswith(tag):
                return lead["id"]
        return None

    def _request(self, method: str, path: str, body=None, *, params=None):
        """Pipedrive's `data` for a successful answer; CRMError otherwise."""
        for attempt in range(1, MAX_RATE_LIMITED_TRIES + 1):
            try:
                response = self.session.request(
                    method, self.base_url + path, json=body, params=params, timeout=self.timeout
                )
            except requests.RequestException as error:
                raise CRMError(
                    f"Pipedrive did not answer {method} {path}: {type(error).__name__}",
                    retryable=True,
                ) from None
            if response.status_code != 429:
                break
            wait = _retry_after(response)
            if wait > settings.CRM_MAX_RETRY_AFTER_SECONDS or attempt == MAX_RATE_LIMITED_TRIES:
                raise CRMError(
                    f"Pipedrive rate limit: retry after {wait:.0f} s", retryable=True, status=429
                )
            logger.info("crm.pipedrive_rate_limited wait=%.1f attempt=%d", wait, attempt)
            sleep(wait)
        status = response.status_code
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        message = (payload.get("error") if isinstance(payload, dict) else "") or response.reason
        if status == 404:
            raise NotFound(f"Pipedrive: {method} {path} not found: {message}")
        if status in (401, 403):
            raise CRMError(
                f"Pipedrive refused the API token: {message}", retryable=False, status=status
            )
        if status >= 500:
            raise CRMError(f"Pipedrive answered {status}: {message}", retryable=True, status=status)
        if status >= 400 or not isinstance(payload, dict) or not payload.get("success"):
            raise CRMError(
                f"Pipedrive answered {status}: {message}", retryable=False, status=status
            )
        return payload.get("data")


def _retry_after(response) -> float:
    for header in ("Retry-After", "x-ratelimit-reset"):
        try:
            return max(0.0, float(response.headers[header]))
        except (KeyError, ValueError):
            continue
    return DEFAULT_RETRY_AFTER_SECONDS
