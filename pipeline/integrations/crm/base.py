"""What every CRM adapter shares: the contact we write, the answer, the error, the mapping."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Protocol

from django.conf import settings

from pipeline.schemas import Classification, CompanyProfile, Score

# HubSpot textarea properties hold 65,536 characters; stay under it everywhere.
MAX_TEXT = 65_000


class CRMError(Exception):
    """A CRM write that did not happen. `retryable` tells the engine whether trying again helps."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


@dataclass(frozen=True)
class ContactData:
    """One lead as a CRM contact: what the lead told us, enrichment, classification and score."""

    lead_id: int
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    company: str = ""
    website: str = ""
    domain: str = ""
    sector: str = ""
    employee_range: str = ""
    country: str = ""
    tech_stack: tuple[str, ...] = ()
    label: str = ""
    confidence: float | None = None
    flags: tuple[str, ...] = ()
    score: int | None = None
    score_explanation: str = ""
    source: str = ""
    message: str = ""
    lifecycle_stage: str = "lead"

    def as_json(self) -> dict:
        data = asdict(self)
        data["tech_stack"] = list(self.tech_stack)
        data["flags"] = list(self.flags)
        return data


@dataclass(frozen=True)
class UpsertResult:
    external_id: str
    url: str = ""
    created: bool = False


class CRMAdapter(Protocol):
    name: str

    def upsert(self, contact: ContactData, *, known_id: str = "") -> UpsertResult:
        """Create or update the contact; `known_id` is the id an earlier write returned."""
        ...

    def delete(self, contact: ContactData, *, known_id: str = "") -> bool:
        """Remove the person's record (personal-data erasure). False: it was not there (any
        more), so erasing twice is harmless. Raises CRMError when the CRM did not delete it."""
        ...


def split_name(name: str) -> tuple[str, str]:
    parts = name.strip().split()
    if not parts:
        return "", ""
    if len(parts) == 1:
        return parts[0], ""
    return " ".join(parts[:-1]), parts[-1]


def explain(score: Score | None) -> str:
    """The score's explanation and each criterion's points, as plain text for a CRM field."""
    if score is None:
        return ""
    lines = [score.explanation.strip()] if score.explanation.strip() else []
    for criterion in score.criteria:
        lines.append(
            f"- {criterion.label}: {criterion.points}/{criterion.max_points} ({criterion.reason})"
        )
    return "\n".join(lines)[:MAX_TEXT]


def contact_from(
    lead,
    *,
    classification: Classification | None,
    profile: CompanyProfile | None,
    score: Score | None,
    source: str = "",
    message: str = "",
) -> ContactData:
    """Merge the lead's own fields with enrichment: what the lead typed wins over what we found."""
    first_name, last_name = split_name(lead.name)
    website = lead.website
    if not website and profile and profile.domain:
        website = f"https://{profile.domain}"
    return ContactData(
        lead_id=lead.pk,
        email=lead.email,
        first_name=first_name[:150],
        last_name=last_name[:150],
        phone=lead.phone,
        company=lead.company or (profile.company_name if profile else ""),
        website=website,
        domain=profile.domain if profile else "",
        sector=profile.sector if profile else "",
        employee_range=profile.employee_range if profile else "",
        country=profile.country if profile else "",
        tech_stack=tuple(profile.tech_stack) if profile else (),
        label=classification.label if classification else "",
        confidence=classification.confidence if classification else None,
        flags=tuple(classification.flags) if classification else (),
        score=score.value if score else None,
        score_explanation=explain(score),
        source=source,
        message=message[:MAX_TEXT],
    )


# Our field -> HubSpot contact property. email, firstname, lastname, phone, company, website
# and country are HubSpot's own properties; the leadops_* ones are custom properties the
# portal admin creates once (README, "HubSpot"). industry and numemployees are enumerations in
# HubSpot, so sector and size go to free-text custom properties.
DEFAULT_HUBSPOT_MAPPING: dict[str, str] = {
    "email": "email",
    "first_name": "firstname",
    "last_name": "lastname",
    "phone": "phone",
    "company": "company",
    "website": "website",
    "country": "country",
    "domain": "leadops_domain",
    "sector": "leadops_sector",
    "employee_range": "leadops_employee_range",
    "tech_stack": "leadops_tech_stack",
    "label": "leadops_label",
    "score": "leadops_score",
    "score_explanation": "leadops_score_explanation",
    "source": "leadops_source",
    "message": "leadops_message",
}


def hubspot_mapping() -> dict[str, str]:
    """The default mapping with HUBSPOT_PROPERTY_MAPPING (JSON) on top; "" or null drops a field."""
    mapping = dict(DEFAULT_HUBSPOT_MAPPING)
    raw = settings.HUBSPOT_PROPERTY_MAPPING.strip()
    if not raw:
        return mapping
    try:
        overrides = json.loads(raw)
    except json.JSONDecodeError as error:
        raise CRMError(
            f"HUBSPOT_PROPERTY_MAPPING is not valid JSON: {error}", retryable=False
        ) from None
    if not isinstance(overrides, dict):
        raise CRMError("HUBSPOT_PROPERTY_MAPPING must be a JSON object", retryable=False)
    known = set(ContactData.__dataclass_fields__)
    for ours, theirs in overrides.items():
        if ours not in known:
            raise CRMError(
                f"HUBSPOT_PROPERTY_MAPPING names unknown field {ours!r}; known fields: "
                f"{', '.join(sorted(known))}",
                retryable=False,
            )
        if theirs in (None, ""):
            mapping.pop(ours, None)
        elif isinstance(theirs, str):
            mapping[ours] = theirs
        else:
            raise CRMError(
                f"HUBSPOT_PROPERTY_MAPPING[{ours!r}] must be a property name", retryable=False
            )
    return mapping


def as_property_value(value) -> str | None:
    """HubSpot takes every property value as a string; None means "leave it alone"."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return ";".join(str(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def map_properties(contact: ContactData, mapping: dict[str, str]) -> dict[str, str]:
    """The contact as {property: value}. Empty values are left out, so they never wipe data."""
    data = contact.as_json()
    properties: dict[str, str] = {}
    for ours, theirs in mapping.items():
        value = as_property_value(data.get(ours))
        if value is None or value == "":
            continue
        properties[theirs] = value
    return properties
