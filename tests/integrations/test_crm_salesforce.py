"""The Salesforce adapter (simple-salesforce) against a fake Salesforce over HTTPS on loopback."""

import pytest
from django.core.cache import cache

from pipeline.integrations.crm import CRMError, upsert_lead
from pipeline.models import Lead
from pipeline.schemas import Classification, CompanyProfile, Score
from tests.factories import make_lead
from tests.fakes.salesforce import FakeSalesforce, limit_exceeded

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(settings, monkeypatch):
    cache.delete("crm:salesforce:token")
    with FakeSalesforce() as server:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_path)
        settings.CRM_ADAPTER = "salesforce"
        settings.SALESFORCE_INSTANCE_URL = server.url
        settings.SALESFORCE_ACCESS_TOKEN = ""
        settings.SALESFORCE_CLIENT_ID = server.client_id
        settings.SALESFORCE_CLIENT_SECRET = server.client_secret
        settings.SALESFORCE_API_VERSION = server.version
        settings.SALESFORCE_EXTERNAL_ID_FIELD = "LeadOps_Id__c"
        settings.CRM_TIMEOUT_SECONDS = 2
        settings.SALESFORCE_FIELD_MAPPING = ""
        yield server
    cache.delete("crm:salesforce:token")


def write(lead, value=88):
    return upsert_lead(
        lead,
        classification=Classification(label="high_intent", confidence=0.9),
        profile=CompanyProfile(domain="acme.example", country="DE"),
        score=Score(value=value, explanation="Asks for a demo for 40 people.", stage="final"),
        source="Website form",
        message="Demo please.",
    )


def upserts(fake):
    return [request for request in fake.requests if request["method"] == "PATCH"]


def test_a_lead_is_upserted_by_our_external_id_with_its_fields(fake):
    lead = make_lead(name="Ada Lovelace", email="ada@acme.example", company="Acme")
    result = write(lead)
    token_request, upsert = fake.requests[0], upserts(fake)[0]
    assert token_request["path"] == "/services/oauth2/token"
    assert upsert["path"] == f"/services/data/v62.0/sobjects/Lead/LeadOps_Id__c/{lead.pk}"
    assert upsert["headers"]["Authorization"].startswith("Bearer session-")
    assert upsert["json"] == {
        "FirstName": "Ada",
        "LastName": "Lovelace",
        "Email": "ada@acme.example",
        "Company": "Acme",
        "Website": "https://acme.example",
        "Country": "DE",
        "Description": "Demo please.\n\nAsks for a demo for 40 people.",
        "LeadOps_Label__c": "high_intent",
        "LeadOps_Score__c": 88,
    }
    stored = fake.leads[str(lead.pk)]
    assert result["created"] is True
    assert result["external_id"] == stored["Id"]
    assert Lead.objects.get(pk=lead.pk).crm_url.endswith(f"/lightning/r/Lead/{stored['Id']}/view")


def test_writing_twice_updates_the_same_lead(fake):
    lead = make_lead(name="Ada Lovelace", email="ada@acme.example")
    first = write(lead, value=60)
    second = write(lead, value=91)
    assert len(fake.leads) == 1
    assert second["external_id"] == first["external_id"] and second["created"] is False
    assert fake.leads[str(lead.pk)]["LeadOps_Score__c"] == 91
    token_requests = [r for r in fake.requests if r["path"] == "/services/oauth2/token"]
    assert len(token_requests) == 1  # the token is cached


def test_a_lead_without_a_name_or_company_still_has_the_required_fields(fake):
    lead = make_lead(name="", email="someone@acme.example", company="")
    write(lead)
    fields = upserts(fake)[0]["json"]
    assert fields["LastName"] == "someone"
    assert fields["Company"] == "acme.example"


def test_an_expired_session_is_renewed_once(fake):
    lead = make_lead(name="Ada Lovelace")
    write(lead)
    fake.expire_tokens()
    write(lead, value=70)
    assert fake.leads[str(lead.pk)]["LeadOps_Score__c"] == 70
    assert len([r for r in fake.requests if r["path"] == "/services/oauth2/token"]) == 2


def test_the_api_limit_is_a_retryable_error(fake):
    fake.answer(403, limit_exceeded())
    lead = make_lead()
    cache.set("crm:salesforce:token", "static-token")
    with pytest.raises(CRMError) as caught:
        write(lead)
    assert caught.value.retryable is True
    assert "REQUEST_LIMIT_EXCEEDED" in str(caught.value)


def test_a_bad_field_is_a_permanent_error_with_salesforces_message(fake, settings):
    settings.SALESFORCE_EXTERNAL_ID_FIELD = "Missing_Id__c"
    fake.answer(
        404, [{"errorCode": "NOT_FOUND", "message": "Provided external ID field does not exist"}]
    )
    cache.set("crm:salesforce:token", "static-token")
    with pytest.raises(CRMError) as caught:
        write(make_lead())
    assert caught.value.retryable is False
    assert "external ID field does not exist" in str(caught.value)


def test_wrong_client_credentials_are_a_permanent_error(fake, settings):
    settings.SALESFORCE_CLIENT_SECRET = "wrong"
    with pytest.raises(CRMError) as caught:
        write(make_lead())
    assert caught.value.retryable is False
    assert "invalid client credentials" in str(caught.value)
    assert upserts(fake) == []


def test_a_server_error_is_retryable(fake):
    fake.answer(503, [{"errorCode": "SERVER_UNAVAILABLE", "message": "try later"}])
    cache.set("crm:salesforce:token", "static-token")
    with pytest.raises(CRMError) as caught:
        write(make_lead())
    assert caught.value.retryable is True


def test_the_field_mapping_adds_and_drops_lead_fields(fake, settings):
    settings.SALESFORCE_FIELD_MAPPING = '{"Industry": "sector", "LeadOps_Label__c": ""}'
    lead = make_lead(name="Ada Lovelace")
    upsert_lead(
        lead,
        classification=Classification(label="high_intent", confidence=0.9),
        profile=CompanyProfile(domain="acme.example", sector="Logistics"),
        score=None,
    )
    fields = upserts(fake)[0]["json"]
    assert fields["Industry"] == "Logistics"
    assert "LeadOps_Label__c" not in fields


def test_a_mapping_to_an_unknown_field_is_a_permanent_error(fake, settings):
    settings.SALESFORCE_FIELD_MAPPING = '{"Industry": "industry"}'
    with pytest.raises(CRMError) as caught:
        write(make_lead())
    assert caught.value.retryable is False
    assert "SALESFORCE_FIELD_MAPPING" in str(caught.value)
