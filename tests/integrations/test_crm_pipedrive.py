"""The Pipedrive adapter against a fake Pipedrive on loopback."""

import pytest

from pipeline.integrations.crm import CRMError, upsert_lead
from pipeline.integrations.crm import pipedrive as pipedrive_module
from pipeline.models import Lead
from pipeline.schemas import Classification, Score
from tests.factories import make_lead
from tests.fakes.pipedrive import rate_limited

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(pipedrive, settings):
    settings.CRM_MAX_RETRY_AFTER_SECONDS = 5
    return pipedrive


@pytest.fixture
def waits(monkeypatch):
    recorded: list[float] = []
    monkeypatch.setattr(pipedrive_module, "sleep", recorded.append)
    return recorded


def write(lead, value=88):
    return upsert_lead(
        lead,
        classification=Classification(label="high_intent", confidence=0.9),
        profile=None,
        score=Score(value=value, explanation="Demo request.", stage="final"),
    )


def test_a_person_and_a_lead_are_created_with_the_token_in_a_header(fake):
    lead = make_lead(
        name="Ada Lovelace", email="ada@acme.example", company="Acme", phone="+4930123"
    )
    result = write(lead)
    [person] = fake.persons.values()
    [pipedrive_lead] = fake.leads.values()
    assert person["name"] == "Ada Lovelace"
    assert person["email"] == [{"value": "ada@acme.example", "primary": True, "label": "work"}]
    assert pipedrive_lead["title"] == f"[LeadOps #{lead.pk}] Acme (high_intent, score 88)"
    assert result["external_id"] == f"{pipedrive_lead['person_id']}:{pipedrive_lead['id']}"
    assert Lead.objects.get(pk=lead.pk).crm_external_id == result["external_id"]
    assert all(request["headers"]["x-api-token"] == fake.token for request in fake.requests)
    assert all("api_token" not in request["query"] for request in fake.requests)


def test_writing_again_updates_the_same_person_and_lead(fake):
    lead = make_lead(name="Ada Lovelace", email="ada@acme.example", company="Acme")
    write(lead, value=60)
    write(Lead.objects.get(pk=lead.pk), value=91)
    assert len(fake.persons) == 1 and len(fake.leads) == 1
    assert next(iter(fake.leads.values()))["title"].endswith("score 91)")


def test_a_lost_external_id_still_finds_the_person_and_lead(fake):
    lead = make_lead(name="Ada Lovelace", email="ada@acme.example")
    write(lead)
    Lead.objects.filter(pk=lead.pk).update(crm_external_id="")  # a crash before our commit
    result = write(Lead.objects.get(pk=lead.pk), value=70)
    assert len(fake.persons) == 1 and len(fake.leads) == 1
    assert result["created"] is False


def test_an_existing_person_gets_a_new_lead(fake):
    fake.persons[7] = {"name": "Ada", "email": [{"value": "ada@acme.example", "primary": True}]}
    write(make_lead(name="Ada Lovelace", email="ada@acme.example"))
    assert len(fake.persons) == 1
    assert next(iter(fake.leads.values()))["person_id"] == 7


def test_a_429_waits_retry_after_then_succeeds(fake, waits):
    fake.answer(429, rate_limited(), headers={"Retry-After": "2"})
    write(make_lead())
    assert waits == [2.0]
    assert len(fake.leads) == 1


def test_a_long_rate_limit_is_left_to_the_step_retry(fake, waits):
    fake.answer(429, rate_limited(), headers={"Retry-After": "60"})
    with pytest.raises(CRMError) as caught:
        write(make_lead())
    assert (caught.value.retryable, caught.value.status) == (True, 429)
    assert waits == []


def test_a_wrong_token_is_a_permanent_error(fake, settings):
    settings.PIPEDRIVE_API_TOKEN = "wrong"
    with pytest.raises(CRMError) as caught:
        write(make_lead())
    assert caught.value.retryable is False
    assert "unauthorized access" in str(caught.value)


def test_a_server_error_is_retryable(fake):
    fake.answer(502, {"success": False, "error": "Bad gateway"})
    with pytest.raises(CRMError) as caught:
        write(make_lead())
    assert caught.value.retryable is True


@pytest.mark.django_db(transaction=True)
def test_two_writes_of_one_lead_at_the_same_moment_make_one_person_and_one_lead(fake, monkeypatch):
    """Two runs of one person (two submissions a moment apart) reach the CRM step together:
    both searched, found nobody and created a person each. The second now waits its turn (a
    retryable error, so the engine tries again) and then updates the first's record."""
    import threading

    from pipeline.integrations.crm.pipedrive import PipedriveCRM
    from tests.races import in_thread

    searched, go = threading.Event(), threading.Event()
    find_person = PipedriveCRM._find_person

    def slow_find_person(self, contact):
        found = find_person(self, contact)
        searched.set()
        assert go.wait(10)
        return found

    monkeypatch.setattr(PipedriveCRM, "_find_person", slow_find_person)
    lead = make_lead(name="Ada Lovelace", email="ada@acme.example", company="Acme")
    errors = []
    first = in_thread(lambda: write(Lead.objects.get(pk=lead.pk)), errors)
    first.start()
    assert searched.wait(10)  # the first has searched and found nobody
    with pytest.raises(CRMError, match="another CRM write of this lead is under way") as caught:
        write(Lead.objects.get(pk=lead.pk))
    assert caught.value.retryable
    go.set()
    first.join(10)
    assert not errors, errors

    write(Lead.objects.get(pk=lead.pk))  # the engine's retry

    assert (len(fake.persons), len(fake.leads)) == (1, 1)
    assert Lead.objects.get(pk=lead.pk).crm_write_until is None


def test_a_write_whose_worker_died_frees_the_lead_after_the_lease(fake):
    from datetime import timedelta

    from django.utils import timezone

    lead = make_lead(email="ada@acme.example")
    Lead.objects.filter(pk=lead.pk).update(crm_write_until=timezone.now() - timedelta(seconds=1))
    write(lead)
    assert len(fake.persons) == 1
