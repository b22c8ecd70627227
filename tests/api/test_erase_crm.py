"""The personal-data erase reaches the outside CRMs: each fake on loopback must lose the record,
and a CRM that does not delete leaves the lead unerased so the erase can be run again."""

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command

from pipeline.erase import erase_person
from pipeline.integrations.crm import crm_copies, upsert_lead
from pipeline.models import Lead, ReviewAction, StepRun
from pipeline.schemas import Classification, CompanyProfile, Score
from tests.factories import make_lead, make_waiting_draft
from tests.fakes.salesforce import FakeSalesforce
from tests.integrations.test_crm_webhook import SECRET, Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def salesforce(settings, monkeypatch):
    cache.delete("crm:salesforce:token")
    with FakeSalesforce() as server:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_path)
        settings.CRM_ADAPTER = "salesforce"
        settings.SALESFORCE_INSTANCE_URL = server.url
        settings.SALESFORCE_ACCESS_TOKEN = "static-token"
        settings.SALESFORCE_API_VERSION = server.version
        settings.SALESFORCE_EXTERNAL_ID_FIELD = "LeadOps_Id__c"
        settings.SALESFORCE_FIELD_MAPPING = ""
        settings.CRM_TIMEOUT_SECONDS = 2
        yield server
    cache.delete("crm:salesforce:token")


def person(**fields):
    return make_lead(
        name="Dana Reyes", email="dana@northwind.example", company="Northwind", **fields
    )


def write(lead):
    upsert_lead(
        lead,
        classification=Classification(label="high_intent", confidence=0.9),
        profile=CompanyProfile(domain="northwind.example", country="DE"),
        score=Score(value=80, explanation="Demo for 40 people.", stage="final"),
        message="Demo please.",
    )
    return Lead.objects.get(pk=lead.pk)


def test_erasing_a_person_gdpr_deletes_their_hubspot_contact(hubspot):
    lead = write(person())
    contact_id = lead.crm_external_id
    assert contact_id in hubspot.contacts

    result = erase_person("dana@northwind.example")

    assert hubspot.contacts == {}
    request = hubspot.requests[-1]
    assert (request["method"], request["path"]) == ("POST", "/crm/v3/objects/contacts/gdpr-delete")
    assert request["json"] == {"objectId": contact_id}
    assert request["headers"]["Authorization"] == f"Bearer {hubspot.token}"
    assert result.leads == 1 and result.crm_deleted == (f"hubspot {contact_id}",)
    assert Lead.objects.get(pk=lead.pk).email == ""
    audit = ReviewAction.objects.get(lead=lead, action="erased").detail
    assert audit["crm"] == [{"adapter": "hubspot", "external_id": contact_id, "deleted": True}]


def test_a_crm_that_does_not_delete_leaves_the_lead_unerased_and_says_why(hubspot):
    lead = write(person())
    hubspot.answer(503, {"status": "error", "message": "Service unavailable"})

    with pytest.raises(CommandError, match="503.*--skip-crm"):
        call_command("erase_lead", "dana@northwind.example")

    kept = Lead.objects.get(pk=lead.pk)
    assert (kept.email, kept.name) == ("dana@northwind.example", "Dana Reyes")
    assert not ReviewAction.objects.filter(lead=lead, action="erased").exists()
    assert len(hubspot.contacts) == 1

    call_command("erase_lead", "dana@northwind.example")  # the CRM answers again
    assert hubspot.contacts == {} and Lead.objects.get(pk=lead.pk).email == ""


def test_skip_crm_erases_only_our_copy(hubspot, capsys):
    lead = write(person())
    call_command("erase_lead", "dana@northwind.example", "--skip-crm")
    assert "Outside CRMs were left as they are" in capsys.readouterr().out
    assert Lead.objects.get(pk=lead.pk).name == ""
    assert len(hubspot.contacts) == 1
    assert not [r for r in hubspot.requests if r["path"].endswith("gdpr-delete")]


def test_a_contact_already_gone_from_the_crm_does_not_stop_the_erase(hubspot):
    lead = write(person())
    hubspot.contacts.clear()  # a salesperson deleted it by hand
    result = erase_person("dana@northwind.example")
    assert (result.leads, result.crm_deleted, result.crm_failed) == (1, (), ())
    audit = ReviewAction.objects.get(lead=lead, action="erased").detail
    assert audit["crm"][0]["deleted"] is False


def test_erasing_deletes_the_salesforce_lead_by_our_external_id(salesforce):
    lead = write(person())
    assert str(lead.pk) in salesforce.leads

    result = erase_person("dana@northwind.example")

    assert salesforce.leads == {}
    delete = [r for r in salesforce.requests if r["method"] == "DELETE"]
    assert [r["path"] for r in delete] == [
        f"/services/data/v{salesforce.version}/sobjects/Lead/LeadOps_Id__c/{lead.pk}"
    ]
    assert delete[0]["headers"]["Authorization"] == "Bearer static-token"
    assert result.leads == 1


def test_erasing_deletes_the_pipedrive_lead_and_person(pipedrive):
    lead = write(person())
    person_id, pipedrive_lead = lead.crm_external_id.split(":")

    erase_person("dana@northwind.example")

    assert pipedrive.persons == {} and pipedrive.leads == {}
    deletes = [(r["method"], r["path"]) for r in pipedrive.requests if r["method"] == "DELETE"]
    assert deletes == [
        ("DELETE", f"/v1/leads/{pipedrive_lead}"),
        ("DELETE", f"/v1/persons/{person_id}"),
    ]
    assert all(r["headers"]["x-api-token"] == pipedrive.token for r in pipedrive.requests)


def test_the_crm_webhook_gets_a_signed_erase_event_without_personal_data(settings):
    with Receiver() as receiver:
        settings.CRM_ADAPTER = "webhook"
        settings.CRM_WEBHOOK_URL = receiver.url
        settings.CRM_WEBHOOK_SECRET = SECRET
        lead = write(person())
        erase_person("dana@northwind.example")

    erased = receiver.deliveries[-1]
    assert erased["verified"]
    assert erased["payload"]["type"] == "contact.erased"
    assert erased["payload"]["data"] == {"lead_id": lead.pk, "external_id": "zap-77"}
    assert "dana" not in str(erased["payload"]).lower()


def test_a_lead_written_to_hubspot_before_a_switch_to_salesforce_is_deleted_in_both(
    hubspot, salesforce, settings
):
    settings.CRM_ADAPTER = "hubspot"
    draft = make_waiting_draft(lead=person())
    hubspot_id = write(draft.lead).crm_external_id
    StepRun.objects.filter(run_id=draft.run_id, name="crm_write").update(
        output={"adapter": "hubspot", "external_id": hubspot_id, "url": "", "created": True}
    )
    settings.CRM_ADAPTER = "salesforce"
    lead = write(draft.lead)
    assert crm_copies(lead) == [("hubspot", hubspot_id), ("salesforce", lead.crm_external_id)]

    erase_person("dana@northwind.example")

    assert hubspot.contacts == {} and salesforce.leads == {}


def test_the_admin_action_reports_a_lead_its_crm_did_not_delete(hubspot, admin_client):
    lead = write(person())
    hubspot.answer(403, {"status": "error", "message": "missing scopes", "category": "MISSING"})
    response = admin_client.post(
        "/admin/pipeline/lead/",
        {"action": "erase_personal_data", "_selected_action": [lead.pk]},
        follow=True,
    )
    assert f"Lead {lead.pk} was not erased: the CRM did not delete its record" in response.text
    assert Lead.objects.get(pk=lead.pk).name == "Dana Reyes"


def test_a_crm_step_run_again_after_the_erase_writes_nothing(hubspot):
    lead = write(person())
    erase_person("dana@northwind.example")
    requests_before = len(hubspot.requests)

    result = upsert_lead(
        Lead.objects.get(pk=lead.pk), classification=None, profile=None, score=None
    )

    assert result["skipped"] == "the lead's personal data was erased"
    assert len(hubspot.requests) == requests_before and hubspot.contacts == {}
