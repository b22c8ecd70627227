"""A generic CRM: POST the contact as JSON to a URL, signed the Standard Webhooks way.

For Zapier, n8n, Make or anything else that takes a webhook. Headers: webhook-id,
webhook-timestamp, webhook-signature (v1, HMAC-SHA256 over "id.timestamp.body" with the
whsec_ secret). The webhook-id depends only on the lead and the contact's content, so a
retried delivery carries the same id and receivers can drop the duplicate, while a changed
contact (a new score) is a new message.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import UTC, datetime

import requests
from django.conf import settings
from standardwebhooks import Webhook

from pipeline.integrations.crm.base import ContactData, CRMError, UpsertResult

logger = logging.getLogger(__name__)

EVENT_TYPE = "contact.upserted"
ERASED_EVENT_TYPE = "contact.erased"


def message_id(contact: ContactData) -> str:
    encoded = json.dumps(contact.as_json(), sort_keys=True, separators=(",", ":")).encode()
    return f"msg_leadops_lead{contact.lead_id}_{hashlib.sha256(encoded).hexdigest()[:24]}"


class WebhookCRM:
    name = "webhook"

    def __init__(
        self, *, url: str | None = None, secret: str | None = None, timeout: float | None = None
    ) -> None:
        self.url = settings.CRM_WEBHOOK_URL if url is None else url
        secret = settings.CRM_WEBHOOK_SECRET if secret is None else secret
        if not self.url or not secret:
            raise CRMError(
                "CRM_ADAPTER=webhook needs CRM_WEBHOOK_URL and CRM_WEBHOOK_SECRET (whsec_<base64>)",
                retryable=False,
            )
        try:
            self.signer = Webhook(secret)
        except Exception as error:  # the package raises several types for a bad secret
            raise CRMError(
                f"CRM_WEBHOOK_SECRET is not a valid whsec_<base64> secret ({type(error).__name__})",
                retryable=False,
            ) from None
        self.timeout = timeout or settings.CRM_TIMEOUT_SECONDS

    def delete(self, contact: ContactData, *, known_id: str = "") -> bool:
        """Tell the receiver to delete the person: a signed `contact.erased` event naming only
        our lead id and its external id. 404 or 410: the receiver had nothing to delete."""
        data = {"lead_id": contact.lead_id, "external_id": known_id or None}
        try:
            self._post(f"msg_leadops_lead{contact.lead_id}_erased", ERASED_EVENT_TYPE, data)
        except CRMError as error:
            if error.status in (404, 410):
                return False
            raise
        return True

    def upsert(self, contact: ContactData, *, known_id: str = "") -> UpsertResult:
        data = {"contact": contact.as_json(), "external_id": known_id or None}
        response = self._post(message_id(contact), EVENT_TYPE, data)
        answer = _json(response)
        external_id = str(answer.get("id") or answer.get("external_id") or known_id)
        if not external_id:
            external_id = f"leadops-lead-{contact.lead_id}"
        created = answer.get("created")
        url = str(answer.get("url") or "")
        if not url.startswith(("https://", "http://")):
            url = ""  # shown as a link to staff: never a javascript: or relative URL
        return UpsertResult(
            external_id=external_id[:200],
            url=url[:500],
            created=created if isinstance(created, bool) else not known_id,
        )

    def _post(self, msg_id: str, event_type: str, data: dict) -> requests.Response:
        """POST one signed event; the response when it is a 2xx, CRMError otherwise."""
        now = datetime.now(tz=UTC)
        body = json.dumps(
            {"type": event_type, "timestamp": now.isoformat(), "data": data},
            separators=(",", ":"),
        )
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "LeadOps CRM webhook",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self.signer.sign(msg_id, now, body),
        }
        started = time.monotonic()
        try:
            response = requests.post(
                self.url,
                data=body.encode(),
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            raise CRMError(
                f"CRM webhook did not answer: {type(error).__name__}", retryable=True
            ) from error
        status = response.status_code
        logger.info(
            "crm webhook event=%s id=%s status=%s ms=%d",
            event_type,
            msg_id,
            status,
            (time.monotonic() - started) * 1000,
        )
        if not 200 <= status < 300:
            retryable = status in (408, 425, 429) or status >= 500
            raise CRMError(
                f"CRM webhook answered {status}"
                + (" (redirects are not followed)" if 300 <= status < 400 else ""),
                retryable=retryable,
                status=status,
            )
        return response


def _json(response: requests.Response) -> dict:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
