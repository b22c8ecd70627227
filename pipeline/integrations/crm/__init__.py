"""Write a lead to the CRM chosen by CRM_ADAPTER: builtin (default), hubspot or webhook.

Every adapter upserts on a stable key (the lead, the email, the message id), so re-running the
step updates the same contact. The external id and link are stored on the lead.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings

from pipeline.agents.types import Classification, CompanyProfile, Score
from pipeline.integrations.crm.base import (
    ContactData,
    CRMAdapter,
    CRMError,
    UpsertResult,
    contact_from,
)
from pipeline.models import Lead

logger = logging.getLogger(__name__)

__all__ = ["CRMAdapter", "CRMError", "ContactData", "UpsertResult", "get_adapter", "upsert_lead"]


def get_adapter(name: str | None = None) -> CRMAdapter:
    name = name or settings.CRM_ADAPTER
    if name == "builtin":
        from pipeline.integrations.crm.builtin import BuiltinCRM

        return BuiltinCRM()
    if name == "hubspot":
        from pipeline.integrations.crm.hubspot import HubSpotCRM

        return HubSpotCRM()
    if name == "webhook":
        from pipeline.integrations.crm.webhook import WebhookCRM

        return WebhookCRM()
    raise CRMError(f"unknown CRM adapter {name!r} (builtin, hubspot, webhook)", retryable=False)


def upsert_lead(
    lead: Lead,
    *,
    classification: Classification | None,
    profile: CompanyProfile | None,
    score: Score | None,
    source: str = "",
    message: str = "",
) -> dict:
    """Create or update the lead's contact; returns {"adapter", "external_id", "url", "created"}."""
    adapter = get_adapter()
    contact = contact_from(
        lead,
        classification=classification,
        profile=profile,
        score=score,
        source=source,
        message=message,
    )
    known_id = Lead.objects.filter(pk=lead.pk).values_list("crm_external_id", flat=True).first()
    started = time.monotonic()
    result = adapter.upsert(contact, known_id=known_id or "")
    Lead.objects.filter(pk=lead.pk).update(
        crm_external_id=result.external_id[:200], crm_url=result.url[:500]
    )
    lead.crm_external_id = result.external_id[:200]
    lead.crm_url = result.url[:500]
    logger.info(
        "crm.upserted lead=%s adapter=%s external_id=%s created=%s ms=%d",
        lead.pk,
        adapter.name,
        result.external_id,
        result.created,
        (time.monotonic() - started) * 1000,
    )
    return {
        "adapter": adapter.name,
        "external_id": result.external_id,
        "url": result.url,
        "created": result.created,
    }
