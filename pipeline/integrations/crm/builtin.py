"""The built-in CRM: a Contact row per lead in our own database (the default adapter)."""

from __future__ import annotations

from django.urls import reverse

from pipeline.integrations.crm.base import ContactData, UpsertResult
from pipeline.models import Contact


class BuiltinCRM:
    name = "builtin"

    def delete(self, contact: ContactData, *, known_id: str = "") -> bool:
        deleted, _ = Contact.objects.filter(lead_id=contact.lead_id).delete()
        return bool(deleted)

    def upsert(self, contact: ContactData, *, known_id: str = "") -> UpsertResult:
        # One contact per lead (a unique column), so a re-run updates the same row.
        row, created = Contact.objects.update_or_create(
            lead_id=contact.lead_id,
            defaults={
                "email": contact.email,
                "first_name": contact.first_name,
                "last_name": contact.last_name,
                "phone": contact.phone,
                "company": contact.company[:300],
                "website": contact.website[:500],
                "domain": contact.domain[:253],
                "sector": contact.sector[:200],
                "employee_range": contact.employee_range[:50],
                "country": contact.country[:100],
                "tech_stack": list(contact.tech_stack),
                "label": contact.label,
                "score": contact.score,
                "score_explanation": contact.score_explanation,
                "lifecycle_stage": contact.lifecycle_stage,
                "source": contact.source[:200],
                "message": contact.message,
                "properties": {
                    "confidence": contact.confidence,
                    "flags": list(contact.flags),
                },
            },
        )
        return UpsertResult(
            external_id=str(row.pk),
            url=reverse("admin:pipeline_contact_change", args=[row.pk]),
            created=created,
        )
