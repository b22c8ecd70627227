"""Who owns a lead: an admin's rule for its webhook source, else the next Reviewer in turn."""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.db import transaction

from pipeline.models import Lead, OwnerRotation, OwnerRule, ReviewAction, WebhookSource

logger = logging.getLogger(__name__)

OWNER_GROUP = "Reviewers"


def candidates() -> list[int]:
    """The people leads are shared among, in a fixed order: active members of Reviewers."""
    return list(
        get_user_model()
        .objects.filter(groups__name=OWNER_GROUP, is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
        .distinct()
    )


def next_in_turn() -> int | None:
    """The Reviewer after the one who got the last lead (round-robin), or None if there are none.

    The rotation's row is locked: two leads arriving together go to two people.
    """
    people = candidates()
    if not people:
        return None
    with transaction.atomic():
        OwnerRotation.objects.get_or_create(pk=1)
        rotation = OwnerRotation.objects.select_for_update().get(pk=1)
        after = [pk for pk in people if pk > (rotation.last_owner_id or 0)]
        chosen = after[0] if after else people[0]
        rotation.last_owner_id = chosen
        rotation.save(update_fields=["last_owner"])
    return chosen


def assign_owner(lead: Lead, *, source: WebhookSource | None = None) -> int | None:
    """Give a lead without an owner one; returns the owner's id (the existing one if it has one)."""
    if lead.owner_id is not None:
        return lead.owner_id
    rule = OwnerRule.objects.filter(source=source).first() if source is not None else None
    owner_id = rule.owner_id if rule is not None else next_in_turn()
    if owner_id is None:
        return None
    updated = Lead.objects.filter(pk=lead.pk, owner__isnull=True).update(owner_id=owner_id)
    if not updated:  # someone assigned it meanwhile
        return Lead.objects.values_list("owner_id", flat=True).get(pk=lead.pk)
    lead.owner_id = owner_id
    logger.info("lead.owner_assigned lead=%s owner=%s by_rule=%s", lead.pk, owner_id, bool(rule))
    return owner_id


def assign_owner_quietly(lead: Lead | None, *, source: WebhookSource | None = None) -> None:
    """assign_owner for intake: a failure is logged and never fails the delivery."""
    if lead is None:
        return
    try:
        assign_owner(lead, source=source)
    except Exception:  # noqa: BLE001 - the lead is stored; staff can still assign it by hand
        logger.exception("lead.owner_assign_failed lead=%s", lead.pk)


def reassign_owner(lead: Lead, owner, *, by) -> bool:
    """Staff give the lead to another person (or to nobody); audited on the lead."""
    before = Lead.objects.select_related("owner").get(pk=lead.pk).owner
    if (before.pk if before else None) == (owner.pk if owner else None):
        return False
    with transaction.atomic():
        Lead.objects.filter(pk=lead.pk).update(owner=owner)
        ReviewAction.objects.create(
            lead=lead,
            user=by,
            action="owner",
            detail={
                "from": before.get_username() if before else "",
                "to": owner.get_username() if owner else "",
            },
        )
    return True
