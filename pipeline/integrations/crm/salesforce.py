"""Salesforce: a Lead upserted by an external id field through simple-salesforce.

PATCH /services/data/vXX/sobjects/Lead/<LeadOps_Id__c>/<our lead id> creates the Lead or
updates the one carrying our id, so a re-run (or a crash between the write and storing its
answer) never makes a second Lead. The org's admin creates the custom Lead fields once
(README, "Salesforce"): LeadOps_Id__c (Text, External ID, Unique), LeadOps_Label__c (Text),
LeadOps_Score__c (Number).

Authentication: SALESFORCE_ACCESS_TOKEN as is, or a connected app's client-credentials flow
(SALESFORCE_CLIENT_ID/SECRET) whose token is cached and renewed once when Salesforce says it
expired. Answers: 401 -> renew (client credentials) or a permanent error; 403
REQUEST_LIMIT_EXCEEDED (the org's rolling 24-hour API limit, or too many concurrent requests)
and 429 -> a retryable error: the step's backoff waits, not the worker; 400 -> permanent with
Salesforce's message; 5xx, timeouts, dropped connections -> retryable.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import requests
from django.conf import settings
from django.core.cache import cache
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceResourceNotFound

from pipeline.integrations.crm.base import MAX_TEXT, ContactData, CRMError, UpsertResult

logger = logging.getLogger(__name__)

TOKEN_CACHE_KEY = "crm:salesforce:token"
TOKEN_CACHE_SECONDS = 50 * 60  # Salesforce sessions last at least an hour by default


class _TimeoutSession(requests.Session):
    """simple-salesforce sends no timeout; every request through it gets ours."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, **kwargs)


def field_overrides(raw: str) -> dict[str, str]:
    """SALESFORCE_FIELD_MAPPING: {"Salesforce field": "our field" or "" to leave it out}."""
    if not raw.strip():
        return {}
    try:
        overrides = json.loads(raw)
    except json.JSONDecodeError as error:
        raise CRMError(
            f"SALESFORCE_FIELD_MAPPING is not valid JSON: {error}", retryable=False
        ) from None
    known = set(ContactData.__dataclass_fields__)
    if not isinstance(overrides, dict) or not all(
        isinstance(ours, str) and (ours == "" or ours in known) for ours in overrides.values()
    ):
        raise CRMError(
            "SALESFORCE_FIELD_MAPPING must map Salesforce field names to one of "
            f'{", ".join(sorted(known))} (or "" to leave a field out)',
            retryable=False,
        )
    return overrides


def lead_fields(
    contact: ContactData, external_id_field: str, overrides: dict[str, str] | None = None
) -> dict:
    """The Lead record. LastName and Company are required by Salesforce, so they never go empty."""
    description = "\n\n".join(
        part for part in (contact.message, contact.score_explanation) if part
    )[:MAX_TEXT]
    fields = {
        "FirstName": contact.first_name[:40],
        "LastName": (contact.last_name or contact.first_name or contact.email.split("@")[0])[:80]
        or "Unknown",
        "Email": contact.email,
        "Phone": contact.phone[:40],
        "Company": (contact.company or contact.domain or "Unknown")[:255],
        "Website": contact.website[:255],
        "Country": contact.country[:80],
        "Description": description,
        "LeadOps_Label__c": contact.label,
        "LeadOps_Score__c": contact.score,
    }
    data = contact.as_json()
    for theirs, ours in (overrides or {}).items():
        if ours:
            value = data.get(ours)
            fields[theirs] = ";".join(value) if isinstance(value, list) else value
        else:
            fields.pop(theirs, None)
    # Leave out what we do not know, so an update never wipes what a salesperson typed.
    return {
        name: value
        for name, value in fields.items()
        if value not in ("", None) and name != external_id_field
    }


class SalesforceCRM:
    name = "salesforce"

    def __init__(
        self,
        *,
        instance_url: str | None = None,
        access_token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        external_id_field: str | None = None,
        version: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self.instance_url = (instance_url or settings.SALESFORCE_INSTANCE_URL).rstrip("/")
        self.access_token = (
            settings.SALESFORCE_ACCESS_TOKEN if access_token is None else access_token
        )
        self.client_id = settings.SALESFORCE_CLIENT_ID if client_id is None else client_id
        self.client_secret = (
            settings.SALESFORCE_CLIENT_SECRET if client_secret is None else client_secret
        )
        if not self.instance_url or not (
            self.access_token or (self.client_id and self.client_secret)
        ):
            raise CRMError(
                "CRM_ADAPTER=salesforce needs SALESFORCE_INSTANCE_URL and either "
                "SALESFORCE_ACCESS_TOKEN or SALESFORCE_CLIENT_ID + SALESFORCE_CLIENT_SECRET",
                retryable=False,
            )
        self.external_id_field = external_id_field or settings.SALESFORCE_EXTERNAL_ID_FIELD
        self.version = version or settings.SALESFORCE_API_VERSION
        self.timeout = timeout or settings.CRM_TIMEOUT_SECONDS

    # --- Authentication ------------------------------------------------------------------------

    def _token(self, *, renew: bool = False) -> str:
        if self.access_token:
            return self.access_token
        if not renew:
            cached = cache.get(TOKEN_CACHE_KEY)
            if cached:
                return cached
        try:
            response = requests.post(
                f"{self.instance_url}/services/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                },
                timeout=self.timeout,
            )
        except requests.RequestException as error:
            raise CRMError(
                f"Salesforce token request failed: {type(error).__name__}", retryable=True
            ) from None
        if response.status_code != 200:
            raise CRMError(
                f"Salesforce refused the client credentials ({response.status_code}): "
                f"{response.text[:300]}",
                retryable=response.status_code >= 500,
                status=response.status_code,
            )
        token = response.json().get("access_token", "")
        if not token:
            raise CRMError("Salesforce answered the token request without a token", retryable=True)
        cache.set(TOKEN_CACHE_KEY, token, TOKEN_CACHE_SECONDS)
        return token

    def _client(self, token: str) -> Salesforce:
        return Salesforce(
            instance_url=self.instance_url,
            session_id=token,
            version=self.version,
            session=_TimeoutSession(self.timeout),
        )

    # --- The Lead ------------------------------------------------------------------------------

    def _call[T](self, action: Callable[[Salesforce], T]) -> T:
        """Run `action` with a client; a 401 renews a cached token once, errors become CRMError."""
        renewed = False
        while True:
            client = self._client(self._token())
            try:
                return action(client)
            except SalesforceError as error:
                if error.status == 401 and not self.access_token and not renewed:
                    renewed = True
                    self._token(renew=True)
                    continue
                raise self._crm_error(error) from None
            except requests.RequestException as error:
                raise CRMError(
                    f"Salesforce did not answer: {type(error).__name__}", retryable=True
                ) from None
            finally:
                client.session.close()

    def upsert(self, contact: ContactData, *, known_id: str = "") -> UpsertResult:
        fields = lead_fields(
            contact, self.external_id_field, field_overrides(settings.SALESFORCE_FIELD_MAPPING)
        )
        key = f"{self.external_id_field}/{contact.lead_id}"

        def upsert(client: Salesforce) -> UpsertResult:
            response = client.Lead.upsert(key, fields, raw_response=True)
            record_id = self._record_id(client, response, contact.lead_id) or known_id
            return UpsertResult(
                external_id=record_id,
                url=f"{self.instance_url}/lightning/r/Lead/{record_id}/view" if record_id else "",
                created=response.status_code == 201,
            )

        return self._call(upsert)

    def delete(self, contact: ContactData, *, known_id: str = "") -> bool:
        """DELETE the Lead by our external id (to the org's recycle bin, like a user's delete)."""
        key = f"{self.external_id_field}/{contact.lead_id}"

        def delete(client: Salesforce) -> bool:
            try:
                client.Lead.delete(key)
            except SalesforceResourceNotFound:
                return False
            return True

        return self._call(delete)

    def _record_id(self, client: Salesforce, response, lead_id: int) -> str:
        """The Lead's Salesforce id: in the answer when created, looked up otherwise."""
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = {}
        if isinstance(body, dict) and body.get("id"):
            return str(body["id"])
        record = client.Lead.get_by_custom_id(self.external_id_field, str(lead_id))
        return str(record.get("Id", ""))

    @staticmethod
    def _errors(error: SalesforceError) -> list[dict]:
        try:
            content = error.content
            body = json.loads(content) if isinstance(content, (bytes, str)) else content
        except ValueError:
            return []
        return [item for item in body if isinstance(item, dict)] if isinstance(body, list) else []

    def _crm_error(self, error: SalesforceError) -> CRMError:
        errors = self._errors(error)
        reason = (
            "; ".join(f"{item.get('errorCode', '')}: {item.get('message', '')}" for item in errors)
            or f"HTTP {error.status}"
        )
        codes = {item.get("errorCode") for item in errors}
        if "REQUEST_LIMIT_EXCEEDED" in codes or error.status == 429:
            return CRMError(
                f"Salesforce API limit reached: {reason}", retryable=True, status=error.status
            )
        if error.status == 401:
            return CRMError(
                f"Salesforce refused the access token: {reason}", retryable=False, status=401
            )
        return CRMError(
            f"Salesforce answered {error.status}: {reason}",
            retryable=error.status >= 500,
            status=error.status,
        )
