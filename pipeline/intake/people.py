"""People: one Lead per person, and merging two leads that turn out to be one person.

Merging keeps both histories: every row that points at the other lead (submissions, runs,
drafts, emails, the audit trail, and whatever later models point at Lead) is moved to the lead
that stays, an audit row says what was merged, and then the emptied lead goes. The same code
runs in the data migration that rewrote the stored dedupe keys (with the migration's models).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.apps import apps as installed_apps
from django.db import connections, transaction
from django.db.models import Model
from django.utils import timezone

from pipeline.intake.normalize import BadEmail, normalize_email, normalize_phone

logger = logging.getLogger(__name__)

MERGED = "leads_merged"
# Fields a merge fills on the lead that stays when it has none of its own.
FILLED_FIELDS = ("name", "company", "website", "phone", "crm_external_id", "crm_url")


@dataclass(frozen=True)
class Merge:
    kept_id: int
    merged_id: int
    moved: dict[str, int]  # model name -> rows moved


def merge_leads(keep: Model, other: Model, *, by=None, reason: str = "") -> Merge:
    """Make `other` part of `keep`: its history moves over, then it is deleted.

    `keep` keeps its email and keys; blanks in it are filled from `other`; an unsubscribe on
    either one holds for the merged person. Raises ValueError for a lead merged into itself.
    """
    if keep.pk == other.pk:
        raise ValueError("a lead cannot be merged into itself")
    with transaction.atomic():
        merge = merge_lead_rows(installed_apps, keep.pk, other.pk, by_id=getattr(by, "pk", None))
    logger.info(
        "lead.merged kept=%s merged=%s moved=%s by=%s reason=%s",
        merge.kept_id,
        merge.merged_id,
        sum(merge.moved.values()),
        getattr(by, "pk", None),
        reason[:80],
    )
    return merge


def merge_lead_rows(apps, keep_id: int, other_id: int, *, by_id: int | None = None) -> Merge:
    """The merge itself, against an app registry (the live one, or a migration's)."""
    Lead = apps.get_model("pipeline", "Lead")
    ReviewAction = apps.get_model("pipeline", "ReviewAction")
    # Both rows locked in pk order, so two merges of the same pair cannot deadlock.
    locked = {
        lead.pk: lead
        for lead in Lead.objects.select_for_update()
        .filter(pk__in=[keep_id, other_id])
        .order_by("pk")
    }
    keep, other = locked[keep_id], locked[other_id]
    moved: dict[str, int] = {}
    for relation in Lead._meta.related_objects:
        related = relation.related_model
        field = relation.field.name
        rows = related._default_manager.filter(**{field: other})
        if relation.one_to_one:
            if related._default_manager.filter(**{field: keep}).exists():
                continue  # the lead that stays has its own (e.g. CRM contact); the other's goes
        count = rows.update(**{field: keep})
        if count:
            moved[related._meta.model_name] = count
    updates: dict[str, Any] = {}
    for name in FILLED_FIELDS:
        if not getattr(keep, name) and getattr(other, name):
            updates[name] = getattr(other, name)
    if "phone" in updates and keep.email_normalized:
        updates["phone_normalized"] = person_keys(
            "", other.phone, phone_key=other.phone_normalized
        )[1]
    flags = list(dict.fromkeys([*(keep.flags or []), *(other.flags or [])]))
    if flags != list(keep.flags or []):
        updates["flags"] = flags
    if other.is_flagged and not keep.is_flagged:
        updates["is_flagged"] = True
    unsubscribed = [at for at in (keep.unsubscribed_at, other.unsubscribed_at) if at]
    if unsubscribed and keep.unsubscribed_at != min(unsubscribed):
        updates["unsubscribed_at"] = min(unsubscribed)
    ReviewAction.objects.create(
        lead_id=keep.pk,
        user_id=by_id,
        action=MERGED,
        detail={
            "merged_lead_id": other.pk,
            "merged_email": other.email,
            "merged_phone": other.phone,
            "merged_created_at": other.created_at.isoformat(),
            "moved": moved,
        },
    )
    other.delete()
    if updates:
        Lead.objects.filter(pk=keep.pk).update(**updates, updated_at=timezone.now())
    return Merge(kept_id=keep.pk, merged_id=other.pk or other_id, moved=moved)


def person_keys(
    email: str, phone: str, *, email_key: str = "", phone_key: str = ""
) -> tuple[str, str]:
    """(email key, phone key) under today's rules; a value they cannot read keeps its old key."""
    if email:
        try:
            email_key = normalize_email(email)
        except BadEmail:
            pass
    if phone:
        phone_key = normalize_phone(phone) or phone_key
    return email_key, phone_key


def rewrite_person_keys(apps) -> dict[str, int]:
    """Recompute every lead's dedupe keys; leads that now share one are merged into the oldest.

    Run by a data migration after the matching rules changed; returns counts for its log.
    """
    Lead = apps.get_model("pipeline", "Lead")
    people: dict[tuple[str, str], list[int]] = {}
    for lead in _leads(Lead):
        email_key, phone_key = _keys(lead)
        identity = ("email", email_key) if email_key else ("phone", phone_key)
        if any(identity[1:]):
            people.setdefault(identity, []).append(lead.pk)
    merged = 0
    for lead_ids in people.values():
        for other_id in lead_ids[1:]:
            merge_lead_rows(apps, lead_ids[0], other_id)
            merged += 1
    # Read again: a merge may have given the lead that stays a phone number.
    changed = []
    for lead in _leads(Lead):
        keys = _keys(lead)
        if keys != (lead.email_normalized, lead.phone_normalized):
            changed.append((*keys, lead.pk))
    # Two passes: a key one lead gives up may be the key another lead takes. Plain SQL: the
    # ORM's bulk_update spends minutes building CASE expressions for a hundred thousand rows.
    table = connections[Lead.objects.db].ops.quote_name(Lead._meta.db_table)
    # The table name is our model's, quoted; the values are parameters.
    update = f"UPDATE {table} SET email_normalized = %s, phone_normalized = %s WHERE id = %s"  # noqa: S608
    with connections[Lead.objects.db].cursor() as cursor:
        cursor.executemany(update, [(f"~rekey-{pk}", "", pk) for _, _, pk in changed])
        cursor.executemany(update, changed)
    return {"rewritten": len(changed), "merged": merged}


def _leads(Lead):
    fields = ("pk", "email", "phone", "email_normalized", "phone_normalized")
    return Lead.objects.order_by("created_at", "pk").only(*fields).iterator(chunk_size=2000)


def _keys(lead) -> tuple[str, str]:
    return person_keys(
        lead.email, lead.phone, email_key=lead.email_normalized, phone_key=lead.phone_normalized
    )
