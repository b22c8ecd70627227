"""Who owns a lead: the first of an admin's rules that fits, else the next Reviewer in turn.

Precedence, first match wins:
1. source: an OwnerRule for the webhook source the submission came through;
2. country: a CountryOwnerRule for the lead's country (country_of: the form's country or
   country_code field, else the enriched company profile's country, else the calling code of a
   phone number written internationally);
3. size: the SizeOwnerRule whose range holds the company's size (employees_of: the form's
   company size field, else the profile's employee range; "51-200" counts as 51);
4. round-robin among the eligible people (candidates()).

A rule whose owner is no longer eligible (inactive, or not in Reviewers) is skipped, as if it
did not exist. The owner is chosen at intake, when the lead has none; after enrichment,
recheck_owner() applies the rules again for a lead whose owner the round-robin chose, since its
country or size may only be known then. A rule's owner and a staff reassignment (basis "staff")
are never overwritten by it. Lead.owner_basis records which of these gave the owner.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from pipeline import config_cache
from pipeline.agents.score import employee_floor
from pipeline.intake.normalize import canonical_key, phone_country
from pipeline.integrations.enrich.vocab import country_code
from pipeline.models import (
    CountryOwnerRule,
    Lead,
    OwnerRotation,
    OwnerRule,
    ReviewAction,
    SizeOwnerRule,
    Submission,
)
from pipeline.models.leads import owner_basis_text
from pipeline.schemas import CompanyProfile

logger = logging.getLogger(__name__)

OWNER_GROUP = "Reviewers"
Basis = Lead.OwnerBasis

# Form fields (custom fields, after canonical_key) that state the country or the company size.
COUNTRY_FIELDS = ("country", "country_code")
SIZE_FIELDS = ("company_size", "employees", "employee_count", "number_of_employees")


@dataclass(frozen=True)
class LeadFacts:
    """What the rules look at."""

    source_id: int | None = None
    country: str = ""  # ISO 3166-1 alpha-2; "" when unknown
    employees: int | None = None  # the smallest head count the company's size allows


@dataclass(frozen=True)
class OwnerChoice:
    owner_id: int
    basis: str  # a Lead.OwnerBasis value
    detail: str = ""  # the source's name, the country code, the size range


@dataclass(frozen=True)
class OwnerSetup:
    """The people and the rules, read together and kept per process (config_cache)."""

    people: tuple[int, ...]
    by_source: dict[int, OwnerChoice]
    by_country: dict[str, OwnerChoice]
    by_size: tuple[tuple[int, int | None, OwnerChoice], ...]  # (min, max or None), in order


def owner_setup() -> OwnerSetup:
    return config_cache.cached("owner-setup", _load_owner_setup)


def _load_owner_setup() -> OwnerSetup:
    people = (
        get_user_model()
        .objects.filter(groups__name=OWNER_GROUP, is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
        .distinct()
    )
    return OwnerSetup(
        people=tuple(people),
        by_source={
            rule.source_id: OwnerChoice(rule.owner_id, Basis.SOURCE, rule.source.name[:100])
            for rule in OwnerRule.objects.select_related("source")
        },
        by_country={
            rule.country: OwnerChoice(rule.owner_id, Basis.COUNTRY, rule.country)
            for rule in CountryOwnerRule.objects.all()
        },
        by_size=tuple(
            (
                rule.min_employees,
                rule.max_employees,
                OwnerChoice(rule.owner_id, Basis.SIZE, rule.range_text),
            )
            for rule in SizeOwnerRule.objects.all()  # in its Meta.ordering, as .first() read it
        ),
    )


def candidates() -> list[int]:
    """The people leads are shared among, in a fixed order: active members of Reviewers.

    Only they are eligible owners: a rule naming anyone else is skipped.
    """
    return list(owner_setup().people)


def next_in_turn(people: list[int] | None = None) -> int | None:
    """The Reviewer after the one who got the last lead (round-robin), or None if there are none.

    The rotation's row is locked: two leads arriving together go to two people.
    """
    people = candidates() if people is None else people
    if not people:
        return None
    with transaction.atomic():
        rotation = OwnerRotation.objects.select_for_update().filter(pk=1).first()
        if rotation is None:  # the first lead ever: make the row, then lock it
            OwnerRotation.objects.get_or_create(pk=1)
            rotation = OwnerRotation.objects.select_for_update().get(pk=1)
        after = [pk for pk in people if pk > (rotation.last_owner_id or 0)]
        chosen = after[0] if after else people[0]
        OwnerRotation.objects.filter(pk=1).update(last_owner_id=chosen)
    return chosen


# --- What the rules look at -------------------------------------------------------------------


def country_of(
    custom_fields: Mapping[str, Any], profile: CompanyProfile | None, phone: str = ""
) -> str:
    """The lead's country as an ISO alpha-2 code, "" when nothing says: the form's country or
    country_code field (a name or a code), else the company profile's, else the phone's."""
    for key, value in custom_fields.items():
        if canonical_key(key) in COUNTRY_FIELDS and isinstance(value, str):
            code = country_code(value)
            if code:
                return code
    if profile is not None and country_code(profile.country):
        return country_code(profile.country)
    return phone_country(phone)


def employees_of(custom_fields: Mapping[str, Any], profile: CompanyProfile | None) -> int | None:
    """The company's size as its smallest head count: the form's size field ("51-200", "120"),
    else the company profile's employee range; None when unknown."""
    for key, value in custom_fields.items():
        if canonical_key(key) in SIZE_FIELDS and isinstance(value, str | int):
            floor = employee_floor(str(value))
            if floor is not None:
                return floor
    if profile is not None:
        return employee_floor(profile.employee_range)
    return None


def facts_of(
    lead: Lead, submission: Submission | None = None, profile: CompanyProfile | None = None
) -> LeadFacts:
    """The facts of the submission that started this (its source, form fields and phone, else
    the lead's phone), and of the company profile once enrichment has read it."""
    custom: Mapping[str, Any] = {}
    if submission is not None and isinstance(submission.custom_fields, dict):
        custom = submission.custom_fields
    phone = (submission.phone if submission is not None else "") or lead.phone
    return LeadFacts(
        source_id=submission.source_id if submission is not None else None,
        country=country_of(custom, profile, phone),
        employees=employees_of(custom, profile),
    )


# --- Choosing ---------------------------------------------------------------------------------


def fitting_rules(facts: LeadFacts, setup: OwnerSetup | None = None) -> Iterator[OwnerChoice]:
    """The rules that fit, in precedence order, each as the choice it would make."""
    setup = setup or owner_setup()
    if facts.source_id is not None and facts.source_id in setup.by_source:
        yield setup.by_source[facts.source_id]
    if facts.country and facts.country in setup.by_country:
        yield setup.by_country[facts.country]
    if facts.employees is not None:
        for low, high, choice in setup.by_size:
            if low <= facts.employees and (high is None or facts.employees <= high):
                yield choice
                break


def rule_owner(facts: LeadFacts, setup: OwnerSetup | None = None) -> OwnerChoice | None:
    """The first fitting rule that names an eligible person, else None."""
    setup = setup or owner_setup()
    for choice in fitting_rules(facts, setup):
        if choice.owner_id in setup.people:
            return choice
        logger.info(
            "owner.rule_skipped basis=%s owner=%s reason=not_eligible",
            choice.basis,
            choice.owner_id,
        )
    return None


def choose_owner(facts: LeadFacts) -> OwnerChoice | None:
    """The owner the rules give, else the next in turn; None when nobody is eligible."""
    setup = owner_setup()
    choice = rule_owner(facts, setup)
    if choice is not None:
        return choice
    owner_id = next_in_turn(list(setup.people))
    return OwnerChoice(owner_id, Basis.ROUND_ROBIN) if owner_id is not None else None


def assign_owner(lead: Lead, *, submission: Submission | None = None) -> int | None:
    """Give a lead without an owner one; returns the owner's id (the existing one if it has one).

    `submission` is the one just received: its source, form fields and phone.
    """
    if lead.owner_id is not None:
        return lead.owner_id
    choice = choose_owner(facts_of(lead, submission))
    if choice is None:
        return None
    updated = Lead.objects.filter(pk=lead.pk, owner__isnull=True).update(
        owner_id=choice.owner_id, owner_basis=choice.basis, owner_basis_detail=choice.detail
    )
    if not updated:  # someone assigned it meanwhile
        return Lead.objects.values_list("owner_id", flat=True).get(pk=lead.pk)
    lead.owner_id, lead.owner_basis, lead.owner_basis_detail = (
        choice.owner_id,
        choice.basis,
        choice.detail,
    )
    logger.info(
        "lead.owner_assigned lead=%s owner=%s basis=%s", lead.pk, choice.owner_id, choice.basis
    )
    return choice.owner_id


def assign_owner_quietly(lead: Lead | None, *, submission: Submission | None = None) -> None:
    """assign_owner for intake: a failure is logged and never fails the delivery."""
    if lead is None:
        return
    try:
        assign_owner(lead, submission=submission)
    except Exception:  # noqa: BLE001 - the lead is stored; staff can still assign it by hand
        logger.exception("lead.owner_assign_failed lead=%s", lead.pk)


def recheck_owner(
    lead_id: int, *, submission: Submission | None, profile: CompanyProfile | None
) -> bool:
    """After enrichment: give a lead whose owner the round-robin chose to the rule that now fits.

    Only an automatic (round-robin) owner is replaced; a rule's owner or a staff reassignment
    stays. The update is conditional on the owner read here, so a staff reassignment made
    meanwhile wins. Returns whether the owner (or the basis) changed; audited on the lead.
    """
    lead = Lead.objects.select_related("owner").get(pk=lead_id)
    if lead.owner_basis != Basis.ROUND_ROBIN:
        return False
    choice = rule_owner(facts_of(lead, submission, profile))
    if choice is None:
        return False
    with transaction.atomic():
        updated = Lead.objects.filter(
            pk=lead.pk, owner_id=lead.owner_id, owner_basis=Basis.ROUND_ROBIN
        ).update(
            owner_id=choice.owner_id, owner_basis=choice.basis, owner_basis_detail=choice.detail
        )
        if not updated:
            return False
        if choice.owner_id != lead.owner_id:
            owner = get_user_model().objects.get(pk=choice.owner_id)
            ReviewAction.objects.create(
                lead=lead,
                user=None,
                action="owner",
                detail={
                    "from": lead.owner.get_username() if lead.owner else "",
                    "to": owner.get_username(),
                    "message": f"{owner_basis_text(choice.basis, choice.detail)} after enrichment",
                },
            )
    logger.info(
        "lead.owner_rechecked lead=%s owner=%s basis=%s", lead.pk, choice.owner_id, choice.basis
    )
    return True


def recheck_owner_quietly(
    lead_id: int, *, submission: Submission | None, profile: CompanyProfile | None
) -> None:
    """recheck_owner for the enrich step: a failure is logged and never fails the step."""
    try:
        recheck_owner(lead_id, submission=submission, profile=profile)
    except Exception:  # noqa: BLE001 - the lead keeps its round-robin owner; staff can reassign
        logger.exception("lead.owner_recheck_failed lead=%s", lead_id)


def reassign_owner(lead: Lead, owner, *, by) -> bool:
    """Staff give the lead to another person (or to nobody); audited on the lead.

    The basis becomes "staff": no rule and no re-check replaces a person's choice.
    """
    before = Lead.objects.select_related("owner").get(pk=lead.pk).owner
    if (before.pk if before else None) == (owner.pk if owner else None):
        return False
    with transaction.atomic():
        Lead.objects.filter(pk=lead.pk).update(
            owner=owner, owner_basis=Basis.STAFF, owner_basis_detail=by.get_username()[:100]
        )
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
