"""HubSpot CRM v3: contacts upserted by email with a private-app token.

POST /crm/v3/objects/contacts/batch/upsert with idProperty "email" creates the contact or
updates the one with that email, so a re-run never makes a second contact. Leads without an
email are updated by the id an earlier write stored, or created once.
"""

from __future__ import annotations

import logging
import re
import time
from email.utils import parsedate_to_datetime

import requests
from django.conf import settings
from django.utils import timezone

from pipeline.integrations.crm.base import (
    ContactData,
    CRMError,
    UpsertResult,
    hubspot_mapping,
    map_properties,
)
from pipeline.integrations.crm.ratelimit import RateLimitWaitTooLong, SlidingWindowLimiter

logger = logging.getLogger(__name__)

UPSERT_PATH = "/crm/v3/objects/contacts/batch/upsert"
CONTACTS_PATH = "/crm/v3/objects/contacts"
# Permanent deletion for privacy laws (a plain DELETE only archives the contact for 90 days).
GDPR_DELETE_PATH = "/crm/v3/objects/contacts/gdpr-delete"
# Without a Retry-After header HubSpot's secondly limit clears within a second.
DEFAULT_RETRY_AFTER_SECONDS = 1.0
MAX_RATE_LIMITED_TRIES = 4
EXISTING_ID = re.compile(r"Existing ID:\s*(\d+)")

# Module level so tests can watch the waits without waiting.
sleep = time.sleep


class ContactConflict(CRMError):
    """HubSpot says the contact exists already (409) and names its id."""

    def __init__(self, message: str, existing_id: str) -> None:
        super().__init__(message, retryable=False, status=409)
        self.existing_id = existing_id


class HubSpotCRM:
    name = "hubspot"

    def __init__(
        self,
        *,
        token: str | None = None,
        base_url: str | None = None,
        portal_id: str | None = None,
        mapping: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> None:
        self.token = settings.HUBSPOT_TOKEN if token is None else token
        if not self.token:
            raise CRMError(
                "CRM_ADAPTER=hubspot needs HUBSPOT_TOKEN (a private-app access token with the "
                "crm.objects.contacts.write scope)",
                retryable=False,
            )
        self.base_url = (base_url or settings.HUBSPOT_BASE_URL).rstrip("/")
        self.portal_id = settings.HUBSPOT_PORTAL_ID if portal_id is None else portal_id
        self.mapping = hubspot_mapping() if mapping is None else mapping
        self.timeout = timeout or settings.CRM_TIMEOUT_SECONDS
        self.session = requests.Session()
        self.session.headers.update(
            {
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            }
        )
        self.limiter = SlidingWindowLimiter(
            "hubspot:" + self.base_url,
            limit=settings.HUBSPOT_RATE_LIMIT_PER_10S,
            period_seconds=10.0,
            sleep=lambda seconds: sleep(seconds),
        )

    # --- The contact ---------------------------------------------------------------------------

    def upsert(self, contact: ContactData, *, known_id: str = "") -> UpsertResult:
        properties = map_properties(contact, self.mapping)
        email_property = self.mapping.get("email", "email")
        try:
            if contact.email:
                return self._upsert_by_email(contact.email, properties)
            if known_id:
                return self._update(known_id, properties)
            return self._create(properties)
        except ContactConflict as conflict:
            # The email belongs to an existing contact (e.g. as a secondary email): update it.
            properties.pop(email_property, None)
            return self._update(conflict.existing_id, properties)
        finally:
            self.session.close()

    def delete(self, contact: ContactData, *, known_id: str = "") -> bool:
        """GDPR-delete the contact: by the id an earlier write stored, else by its email."""
        if known_id:
            body = {"objectId": known_id}
        elif contact.email:
            body = {"objectId": contact.email, "idProperty": "email"}
        else:
            return False
        try:
            self._request("POST", GDPR_DELETE_PATH, body)
        except CRMError as error:
            if error.status == 404:
                return False
            raise
        finally:
            self.session.close()
        return True

    def _upsert_by_email(self, email: str, properties: dict[str, str]) -> UpsertResult:
        body = {"inputs": [{"idProperty": "email", "id": email, "properties": properties}]}
        data = self._request("POST", UPSERT_PATH, body)
        results = data.get("results") or []
        if not results or not results[0].get("id"):
            raise CRMError(
                "HubSpot answered the upsert without a contact id", retryable=True, status=200
            )
        contact_id = str(results[0]["id"])
        return UpsertResult(
            external_id=contact_id,
            url=self.record_url(contact_id),
            created=bool(results[0].get("new")),
        )

    def _update(self, contact_id: str, properties: dict[str, str]) -> UpsertResult:
        self._request("PATCH", f"{CONTACTS_PATH}/{contact_id}", {"properties": properties})
        return UpsertResult(external_id=contact_id, url=self.record_url(contact_id), created=False)

    def _create(self, properties: dict[str, str]) -> UpsertResult:
        data = self._request("POST", CONTACTS_PATH, {"properties": properties})
        contact_id = str(data.get("id", ""))
        if not contact_id:
            raise CRMError("HubSpot created a contact without an id", retryable=False, status=201)
        return UpsertResult(external_id=contact_id, url=self.record_url(contact_id), created=True)

    def record_url(self, contact_id: str) -> str:
        if not self.portal_id:
            return ""
        return f"{settings.HUBSPOT_APP_URL}/contacts/{self.portal_id}/record/0-1/{contact_id}"

    # --- HTTP ----------------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: dict) -> dict:
        cap = settings.HUBSPOT_MAX_RETRY_AFTER_SECONDS
        for attempt in range(1, MAX_RATE_LIMITED_TRIES + 1):
            try:
                self.limiter.acquire(max_wait_seconds=cap)
            except RateLimitWaitTooLong as error:
                raise CRMError(
                    f"HubSpot rate limit ({settings.HUBSPOT_RATE_LIMIT_PER_10S} requests per 10 s) "
                    f"reached: {error}",
                    retryable=True,
                    status=429,
                ) from None
            started = time.monotonic()
            try:
                response = self.session.request(
                    method, self.base_url + path, json=body, timeout=self.timeout
                )
            except requests.RequestException as error:
                raise CRMError(
                    f"HubSpot {method} {path} did not answer: {type(error).__name__}",
                    retryable=True,
                ) from error
            logger.info(
                "hubspot %s %s status=%s ms=%d",
                method,
                path,
                response.status_code,
                (time.monotonic() - started) * 1000,
            )
            if response.status_code != 429:
                return self._answer(method, path, response)
            wait = retry_after_seconds(response)
            if wait > cap or attempt == MAX_RATE_LIMITED_TRIES:
                raise CRMError(
                    f"HubSpot rate limited {method} {path} (429, {policy(response)}); "
                    f"asked to wait {wait:.1f} s",
                    retryable=True,
                    status=429,
                )
            sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _answer(self, method: str, path: str, response: requests.Response) -> dict:
        status = response.status_code
        data = _json(response)
        where = f"HubSpot {method} {path}"
        if status in (200, 201, 207):
            errors = data.get("errors") or []
            if errors:
                first = errors[0]
                raise _error_from(where, _status_of(first, status), first)
            return data
        if status == 204:
            return {}
        raise _error_from(where, status, data)


def _json(response: requests.Response) -> dict:
    try:
        data = response.json()
    except ValueError:
        return {"message": response.text[:300]}
    return data if isinstance(data, dict) else {"message": str(data)[:300]}


def _status_of(error: dict, default: int) -> int:
    try:
        return int(error.get("status"))
    except (TypeError, ValueError):
        category = str(error.get("category", ""))
        return {
            "CONFLICT": 409,
            "OBJECT_ALREADY_EXISTS": 409,
            "VALIDATION_ERROR": 400,
            "RATE_LIMITS": 429,
        }.get(category, default)


def _error_from(where: str, status: int, data: dict) -> CRMError:
    message = str(data.get("message", ""))[:1000]
    category = data.get("category", "")
    correlation = data.get("correlationId", "")
    facts = f"{where} answered {status}" + (f" {category}" if category else "")
    detail = f": {message}" if message else ""
    trace = f" (correlationId {correlation})" if correlation else ""
    if status == 409:
        match = EXISTING_ID.search(message)
        if match:
            return ContactConflict(f"{facts}{detail}{trace}", match.group(1))
        return CRMError(f"{facts}{detail}{trace}", retryable=False, status=status)
    if status == 401:
        return CRMError(
            f"{facts}: HubSpot refused the token; check HUBSPOT_TOKEN (a private-app access "
            f"token){trace}",
            retryable=False,
            status=status,
        )
    if status == 403:
        return CRMError(
            f"{facts}{detail}: the private app needs the crm.objects.contacts.write scope{trace}",
            retryable=False,
            status=status,
        )
    if status == 429 or status >= 500:
        return CRMError(f"{facts}{detail}{trace}", retryable=True, status=status)
    # 400 validation errors (a property that does not exist, a bad value) and other 4xx:
    # the same request will fail the same way.
    return CRMError(f"{facts}{detail}{trace}", retryable=False, status=status)


def retry_after_seconds(response: requests.Response) -> float:
    """Seconds HubSpot asks us to wait: Retry-After (seconds or a date), else one second."""
    raw = response.headers.get("Retry-After", "").strip()
    if not raw:
        return DEFAULT_RETRY_AFTER_SECONDS
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_SECONDS
    return max((when - timezone.now()).total_seconds(), 0.0)


def policy(response: requests.Response) -> str:
    data = _json(response)
    return str(data.get("policyName") or data.get("errorType") or "rate limit")
