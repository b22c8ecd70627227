"""Write a lead to the CRM chosen by CRM_ADAPTER: builtin (default), hubspot or webhook.

Every adapter upserts on a stable key (the lead, the email, the message id), so re-running the
step updates the same contact. The external id and link are stored on the lead.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from pipeline.integrations.crm.base import (
    ContactData,
    CRMAdapter,
    CRMError,
    UpsertResult,
    contact_from,
)
from pipeline.models import Lead
from pipeline.schemas import Classification, CompanyProfile, Score

logger = logging.getLogger(__name__)

__all__ = [
    "CRMAdapter",
    "CRMError",
    "ContactData",
    "UpsertResult",
    "delete_from_crms",
    "get_adapter",
    "upsert_lead",
]


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
    if name == "salesforce":
        from pipeline.integrations.crm.salesforce import SalesforceCRM

        return SalesforceCRM()
    if name == "pipedrive":
        from pipeline.integrations.crm.pipedrive import PipedriveCRM

        return PipedriveCRM()
    raise CRMError(
        f"unknown CRM adapter {name!r} (builtin, hubspot, webhook, salesforce, pipedrive)",
        retryable=False,
    )


def upsert_lead(
    lead: Lead,
    *,
    classification: Classification | None,
    profile: CompanyProfile | None,
    score: Score | None,
    source: str = "",
    message: str = "",
) -> dict:
    """Create or update the lead's contact; returns {"adapter", "external_id", "url", "created"}.

    A lead whose personal data was erased is never written again (a retried or re-run step
    would otherwise put an anonymous record back into the CRM the erase deleted it from).
    """
    from pipeline.erase import was_erased

    adapter = get_adapter()
    if was_erased(lead.pk):
        logger.info("crm.skipped_erased lead=%s adapter=%s", lead.pk, adapter.name)
        return {
            "adapter": adapter.name,
            "external_id": "",
            "url": "",
            "created": False,
            "skipped": "the lead's personal data was erased",
        }
    contact = contact_from(
        lead,
        classification=classification,
        profile=profile,
        score=score,
        source=source,
        message=message,
    )
    started = time.monotonic()
    with _one_write_at_a_time(lead):
        known_id = Lead.objects.filter(pk=lead.pk).values_list("crm_external_id", flat=True).first()
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


# Longer than the CRM step may run (its timeout is 60 s): a write whose worker died frees the
# lead after this.
WRITE_LEASE_SECONDS = 90


@contextmanager
def _one_write_at_a_time(lead: Lead):
    """A lease on the lead's row for one CRM write. Two runs of one person writing at the same
    moment both found no record and both created one (Pipedrive has no upsert; found by a
    concurrency audit): the second now gets a retryable CRMError, and its retry finds the
    first's record id on the lead and updates that record."""
    now = timezone.now()
    until = now + timedelta(seconds=WRITE_LEASE_SECONDS)
    free = Q(crm_write_until__isnull=True) | Q(crm_write_until__lt=now)
    if not Lead.objects.filter(free, pk=lead.pk).update(crm_write_until=until):
        raise CRMError("another CRM write of this lead is under way", retryable=True)
    try:
        yield
    finally:
        Lead.objects.filter(pk=lead.pk, crm_write_until=until).update(crm_write_until=None)


@dataclass(frozen=True)
class CRMDeletion:
    adapter: str
    external_id: str
    deleted: bool  # False: the CRM had no such record (any more)


def crm_copies(lead: Lead) -> list[tuple[str, str]]:
    """(adapter, external id) of each outside CRM the lead was written to.

    Read from the lead's finished CRM steps, which name their adapter, so a lead written to
    HubSpot before the switch to Salesforce is found in both; the lead's stored id counts for
    the adapter configured now. Records LeadOps never wrote are not ours to delete. The
    built-in CRM lives in our database (the erase empties it) and is not listed.
    """
    from pipeline.models import StepRun
    from pipeline.step_names import CRM_WRITE

    copies: list[tuple[str, str]] = []
    outputs = StepRun.objects.filter(
        run__lead_id=lead.pk, name=CRM_WRITE, status=StepRun.Status.SUCCEEDED
    ).values_list("output", flat=True)
    for output in outputs:
        if isinstance(output, dict) and output.get("adapter"):
            copies.append((str(output["adapter"]), str(output.get("external_id") or "")))
    if lead.crm_external_id:
        copies.append((settings.CRM_ADAPTER, lead.crm_external_id))
    unique: dict[str, str] = {}
    for adapter, external_id in copies:
        if adapter != "builtin" and not unique.get(adapter):
            unique[adapter] = external_id
    return list(unique.items())


def delete_from_crms(lead: Lead) -> list[CRMDeletion]:
    """Delete the person's record from every outside CRM that has one (personal-data erasure).

    Raises CRMError at the first CRM that did not delete; the ones before it are done, and
    deleting again is harmless (a record already gone is `deleted=False`).
    """
    contact = ContactData(lead_id=lead.pk, email=lead.email, phone=lead.phone)
    done = []
    for name, external_id in crm_copies(lead):
        deleted = get_adapter(name).delete(contact, known_id=external_id)
        logger.info(
            "crm.deleted lead=%s adapter=%s external_id=%s deleted=%s",
            lead.pk,
            name,
            external_id,
            deleted,
        )
        done.append(CRMDeletion(name, external_id, deleted))
    return done
