"""The CRM write: the built-in contacts, the mapping, and what upsert_lead stores on the lead."""

import pytest

from pipeline.integrations.crm import CRMError, get_adapter, upsert_lead
from pipeline.integrations.crm.base import (
    DEFAULT_HUBSPOT_MAPPING,
    contact_from,
    hubspot_mapping,
    map_properties,
)
from pipeline.models import Contact, Lead
from pipeline.schemas import Classification, CompanyProfile, CriterionResult, Score
from tests.factories import make_lead

pytestmark = pytest.mark.django_db


def classification(label="high_intent"):
    return Classification(label=label, confidence=0.91, reasons=["asks for a demo"], flags=[])


def profile():
    return CompanyProfile(
        domain="acme.example",
        company_name="Acme Robotics",
        sector="Industrial automation",
        employee_range="51-200",
        country="DE",
        tech_stack=["Shopify", "HubSpot"],
    )


def score(value=82):
    return Score(
        value=value,
        explanation="Strong fit: a team of 40 asking for a demo.",
        criteria=[
            CriterionResult(
                key="team_size", label="Team size", points=20, max_points=25, reason="40 people"
            )
        ],
        stage="final",
    )


def write(lead, **overrides):
    arguments = {
        "classification": classification(),
        "profile": profile(),
        "score": score(),
        "source": "Website form",
        "message": "We want a demo next week.",
        **overrides,
    }
    return upsert_lead(lead, **arguments)


def test_builtin_contact_holds_every_field_and_the_lead_keeps_its_id():
    lead = make_lead(name="Ada Maria Lovelace", email="ada@acme.example", phone="+49 30 1234")
    result = write(lead)
    contact = Contact.objects.get(lead=lead)
    assert result == {
        "adapter": "builtin",
        "external_id": str(contact.pk),
        "url": f"/admin/pipeline/contact/{contact.pk}/change/",
        "created": True,
    }
    assert (contact.first_name, contact.last_name) == ("Ada Maria", "Lovelace")
    assert contact.email == "ada@acme.example"
    assert contact.phone == "+49 30 1234"
    assert contact.company == lead.company
    assert contact.domain == "acme.example"
    assert contact.website == "https://acme.example"
    assert contact.sector == "Industrial automation"
    assert contact.employee_range == "51-200"
    assert contact.country == "DE"
    assert contact.tech_stack == ["Shopify", "HubSpot"]
    assert contact.label == "high_intent"
    assert contact.score == 82
    assert "Strong fit" in contact.score_explanation
    assert "Team size: 20/25 (40 people)" in contact.score_explanation
    assert contact.source == "Website form"
    assert contact.message == "We want a demo next week."
    assert contact.properties["confidence"] == 0.91
    lead.refresh_from_db()
    assert lead.crm_external_id == str(contact.pk)
    assert lead.crm_url == f"/admin/pipeline/contact/{contact.pk}/change/"


def test_rerunning_the_builtin_write_updates_the_same_contact():
    lead = make_lead()
    first = write(lead)
    second = write(lead, score=score(40), classification=classification("low_intent"))
    assert Contact.objects.filter(lead=lead).count() == 1
    assert second["external_id"] == first["external_id"]
    assert second["created"] is False
    contact = Contact.objects.get(lead=lead)
    assert (contact.score, contact.label) == (40, "low_intent")


def test_company_falls_back_to_the_enriched_name_when_the_lead_gave_none():
    lead = make_lead(company="")
    write(lead)
    assert Contact.objects.get(lead=lead).company == "Acme Robotics"


def test_a_lead_without_enrichment_or_score_still_gets_a_contact():
    lead = make_lead()
    write(lead, profile=None, score=None, classification=None)
    contact = Contact.objects.get(lead=lead)
    assert contact.score is None
    assert contact.domain == ""
    assert Lead.objects.get(pk=lead.pk).crm_external_id == str(contact.pk)


def test_mapping_puts_score_and_explanation_into_custom_properties():
    lead = make_lead(name="Grace Hopper", email="grace@navy.example")
    contact = contact_from(
        lead, classification=classification(), profile=profile(), score=score(), source="form"
    )
    properties = map_properties(contact, DEFAULT_HUBSPOT_MAPPING)
    assert properties["email"] == "grace@navy.example"
    assert properties["firstname"] == "Grace"
    assert properties["lastname"] == "Hopper"
    assert properties["leadops_score"] == "82"
    assert properties["leadops_score_explanation"].startswith("Strong fit")
    assert properties["leadops_tech_stack"] == "Shopify;HubSpot"
    assert properties["leadops_label"] == "high_intent"
    # Empty values are left out so they never wipe what the CRM has.
    assert "phone" not in properties
    assert all(isinstance(value, str) for value in properties.values())


def test_mapping_overrides_rename_and_drop_fields(settings):
    settings.HUBSPOT_PROPERTY_MAPPING = '{"score": "lead_score_ai", "message": ""}'
    mapping = hubspot_mapping()
    assert mapping["score"] == "lead_score_ai"
    assert "message" not in mapping
    assert mapping["email"] == "email"


@pytest.mark.parametrize(
    "raw, problem",
    [
        ("{not json", "not valid JSON"),
        ("[1]", "must be a JSON object"),
        ('{"favourite_colour": "x"}', "unknown field 'favourite_colour'"),
    ],
)
def test_a_bad_mapping_is_a_clear_error_that_retrying_cannot_fix(settings, raw, problem):
    settings.HUBSPOT_PROPERTY_MAPPING = raw
    with pytest.raises(CRMError, match=problem) as caught:
        hubspot_mapping()
    assert caught.value.retryable is False


def test_hubspot_without_a_token_is_refused_without_retrying(settings):
    settings.HUBSPOT_TOKEN = ""
    with pytest.raises(CRMError, match="needs HUBSPOT_TOKEN") as caught:
        get_adapter("hubspot")
    assert caught.value.retryable is False


def test_webhook_without_url_or_secret_is_refused_without_retrying(settings):
    settings.CRM_WEBHOOK_URL = ""
    with pytest.raises(CRMError, match="needs CRM_WEBHOOK_URL") as caught:
        get_adapter("webhook")
    assert caught.value.retryable is False
