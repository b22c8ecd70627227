"""The HubSpot adapter against a fake HubSpot on loopback."""

import pytest

from pipeline.integrations.crm import CRMError, upsert_lead
from pipeline.integrations.crm import hubspot as hubspot_module
from pipeline.integrations.crm.ratelimit import RateLimitWaitTooLong, SlidingWindowLimiter
from pipeline.models import Lead
from pipeline.schemas import Classification, CompanyProfile, Score
from tests.factories import make_lead
from tests.fakes.hubspot import PORTAL_PROPERTIES, FakeHubSpot, conflict_body, validation_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(hubspot, settings):
    settings.HUBSPOT_PORTAL_ID = "4242"
    return hubspot


@pytest.fixture
def waits(monkeypatch):
    """The adapter's sleeps, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(hubspot_module, "sleep", recorded.append)
    return recorded


def write(lead, value=88):
    return upsert_lead(
        lead,
        classification=Classification(label="high_intent", confidence=0.9),
        profile=CompanyProfile(domain="acme.example", sector="Logistics", tech_stack=["SAP"]),
        score=Score(value=value, explanation="Asks for a demo for 40 people.", stage="final"),
        source="Website form",
        message="Demo please.",
    )


def test_the_upsert_is_a_batch_upsert_by_email_with_mapped_properties(fake):
    lead = make_lead(name="Ada Lovelace", email="ada@acme.example")
    result = write(lead)
    (request,) = fake.requests
    assert request["method"] == "POST"
    assert request["path"] == "/crm/v3/objects/contacts/batch/upsert"
    assert request["headers"]["Authorization"] == f"Bearer {fake.token}"
    (item,) = request["json"]["inputs"]
    assert item["idProperty"] == "email"
    assert item["id"] == "ada@acme.example"
    properties = item["properties"]
    assert properties["firstname"] == "Ada"
    assert properties["lastname"] == "Lovelace"
    assert properties["leadops_score"] == "88"
    assert properties["leadops_score_explanation"] == "Asks for a demo for 40 people."
    assert properties["leadops_label"] == "high_intent"
    assert properties["leadops_tech_stack"] == "SAP"
    assert set(properties) <= PORTAL_PROPERTIES
    contact_id = fake.find("ada@acme.example")
    assert result == {
        "adapter": "hubspot",
        "external_id": contact_id,
        "url": f"https://app.hubspot.com/contacts/4242/record/0-1/{contact_id}",
        "created": True,
    }
    lead.refresh_from_db()
    assert lead.crm_external_id == contact_id


def test_rerunning_updates_the_same_hubspot_contact(fake):
    lead = make_lead(email="bo@acme.example")
    first = write(lead, value=50)
    second = write(lead, value=91)
    assert len(fake.contacts) == 1
    assert second["external_id"] == first["external_id"]
    assert second["created"] is False
    assert fake.contacts[first["external_id"]]["leadops_score"] == "91"


def test_a_configured_mapping_renames_properties(fake, settings):
    settings.HUBSPOT_PROPERTY_MAPPING = '{"score": "ai_score", "message": null}'
    fake.properties.add("ai_score")
    write(make_lead())
    properties = fake.requests[0]["json"]["inputs"][0]["properties"]
    assert properties["ai_score"] == "88"
    assert "leadops_score" not in properties
    assert "leadops_message" not in properties


def test_429_waits_the_retry_after_interval_then_succeeds(fake, waits):
    fake.answer(429, headers={"Retry-After": "2"})
    result = write(make_lead(email="cy@acme.example"))
    assert waits == [2.0]
    assert len(fake.requests) == 2
    assert result["external_id"] == fake.find("cy@acme.example")


def test_429_asking_for_longer_than_the_cap_is_left_to_the_step_retry(fake, waits, settings):
    settings.HUBSPOT_MAX_RETRY_AFTER_SECONDS = 1
    fake.answer(429, headers={"Retry-After": "30"})
    with pytest.raises(CRMError, match="rate limited") as caught:
        write(make_lead())
    assert caught.value.retryable is True
    assert caught.value.status == 429
    assert waits == []


def test_409_conflict_updates_the_existing_contact_it_names(fake):
    existing = fake.add_contact({"email": "old@acme.example", "firstname": "Old"})
    fake.answer(409, conflict_body(existing))
    lead = make_lead(email="dee@acme.example", name="Dee Dee")
    result = write(lead)
    assert result["external_id"] == existing
    assert result["created"] is False
    patch = fake.requests[-1]
    assert patch["method"] == "PATCH"
    assert patch["path"] == f"/crm/v3/objects/contacts/{existing}"
    assert "email" not in patch["json"]["properties"]
    assert fake.contacts[existing]["firstname"] == "Dee"
    assert Lead.objects.get(pk=lead.pk).crm_external_id == existing


def test_an_unknown_property_is_a_validation_error_that_is_not_retried(fake, settings):
    settings.HUBSPOT_PROPERTY_MAPPING = '{"sector": "industry_text"}'
    lead = make_lead()
    with pytest.raises(CRMError) as caught:
        write(lead)
    assert caught.value.retryable is False
    assert caught.value.status == 400
    assert "VALIDATION_ERROR" in str(caught.value)
    assert "industry_text" in str(caught.value)
    assert Lead.objects.get(pk=lead.pk).crm_external_id == ""


def test_a_validation_error_inside_a_207_batch_answer_is_not_retried(fake):
    error = validation_body("Email address ada@ is invalid") | {"status": "error"}
    fake.answer(207, {"status": "COMPLETE", "results": [], "errors": [error], "numErrors": 1})
    with pytest.raises(CRMError, match="invalid") as caught:
        write(make_lead())
    assert caught.value.retryable is False


def test_a_server_error_is_retryable(fake):
    fake.answer(500)
    with pytest.raises(CRMError, match="answered 500") as caught:
        write(make_lead())
    assert caught.value.retryable is True


def test_a_wrong_token_is_a_clear_error_that_is_not_retried(fake, settings):
    settings.HUBSPOT_TOKEN = "pat-na1-wrong"
    with pytest.raises(CRMError, match="check HUBSPOT_TOKEN") as caught:
        write(make_lead())
    assert caught.value.retryable is False
    assert caught.value.status == 401
    assert "pat-na1-wrong" not in str(caught.value)


def test_an_unreachable_hubspot_is_retryable(settings):
    settings.CRM_ADAPTER = "hubspot"
    settings.HUBSPOT_TOKEN = "pat-na1-test-token"
    with FakeHubSpot() as server:
        settings.HUBSPOT_BASE_URL = server.url
    # The server is closed now: connection refused.
    with pytest.raises(CRMError, match="did not answer") as caught:
        write(make_lead())
    assert caught.value.retryable is True


def test_a_lead_without_email_is_created_once_then_updated_by_its_id(fake):
    lead = make_lead(email="", email_normalized="", phone="+49 30 555", name="No Mail")
    first = write(lead)
    assert first["created"] is True
    assert fake.requests[0]["path"] == "/crm/v3/objects/contacts"
    second = write(lead)
    assert second["external_id"] == first["external_id"]
    assert fake.requests[1]["method"] == "PATCH"
    assert len(fake.contacts) == 1


# --- The shared limiter ------------------------------------------------------------------------


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def limiter(clock, key, limit=3):
    return SlidingWindowLimiter(key, limit=limit, period_seconds=10, clock=clock, sleep=clock.sleep)


def test_the_limiter_lets_the_limit_through_then_waits():
    clock = FakeClock(1_000_000.0)
    gate = limiter(clock, "test-window")
    for _ in range(3):
        assert gate.acquire(max_wait_seconds=20) == 0
    waited = gate.acquire(max_wait_seconds=20)
    # To the end of the window, then until the full previous window weighs 2/3 (2 + ours = 3).
    assert waited == pytest.approx(10 + 10 / 3)
    assert clock.now == pytest.approx(1_000_000 + waited)


def test_the_limiter_counts_the_previous_window_so_its_edge_is_no_double_burst():
    clock = FakeClock(1_000_009.0)  # late in a window
    gate = limiter(clock, "test-edge")
    for _ in range(3):
        gate.acquire(max_wait_seconds=20)
    clock.now = 1_000_010.5  # just into the next window: the previous three still weigh 95%
    waited = gate.acquire(max_wait_seconds=20)
    assert waited > 0
    # Three earlier requests at 95% weight plus ours only fit once their weight drops to 2/3.
    assert clock.now == pytest.approx(1_000_010 + 10 / 3, abs=0.01)


def test_the_limiter_shares_its_count_between_instances_through_the_cache():
    clock = FakeClock(2_000_000.0)
    limiter(clock, "test-shared", limit=2).acquire(max_wait_seconds=0)
    limiter(clock, "test-shared", limit=2).acquire(max_wait_seconds=0)
    with pytest.raises(RateLimitWaitTooLong):
        limiter(clock, "test-shared", limit=2).acquire(max_wait_seconds=1)
