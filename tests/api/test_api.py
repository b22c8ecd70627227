"""The JSON API at /api/v1/: tokens, leads, outcomes, runs, errors and the rate limit."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from pipeline.api.tokens import create_token, revoke_tokens
from pipeline.models import ApiToken, Lead, LeadOutcome, PipelineRun, ReviewAction, StepRun
from pipeline.outcomes import is_closed
from tests.factories import make_lead, make_submission, make_waiting_draft

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    cache.clear()


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def reader():
    return create_token(name="BI dashboard", scope=ApiToken.Scope.READ)[1]


@pytest.fixture
def writer():
    return create_token(name="Pipedrive sync", scope=ApiToken.Scope.READ_WRITE)[1]


def test_token_is_stored_only_as_a_hash():
    row, token = create_token(name="Zapier", scope="read")
    stored = ApiToken.objects.get(pk=row.pk)
    assert token.startswith(f"lo_{stored.prefix}_")
    assert token not in (stored.token_hash, stored.prefix, stored.name)
    assert len(stored.token_hash) == 64


def test_request_without_token_gets_401_json_reason(client):
    response = client.get("/api/v1/leads")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert "Bearer" in response.json()["reason"]


def test_revoked_token_is_refused(client):
    row, token = create_token(name="Old", scope="read")
    assert client.get("/api/v1/leads", **bearer(token)).status_code == 200
    revoke_tokens(ApiToken.objects.filter(pk=row.pk))
    assert client.get("/api/v1/leads", **bearer(token)).status_code == 401


def test_list_leads_filters_by_label_decision_source_and_date(client, reader):
    hot = make_waiting_draft(label="high_intent", decision="review").lead
    low = make_waiting_draft(label="low_intent", decision="review").lead
    form_lead = make_lead()
    make_submission(form_lead, channel="form")
    Lead.objects.filter(pk=form_lead.pk).update(created_at=timezone.now() - timedelta(days=3))

    def ids(**params):
        response = client.get("/api/v1/leads", params, **bearer(reader))
        assert response.status_code == 200, response.content
        return [item["id"] for item in response.json()["items"]]

    assert ids(label="high_intent") == [hot.pk]
    assert ids(decision="review") == [low.pk, hot.pk]
    assert ids(decision="auto_send") == []
    assert ids(source="form") == [form_lead.pk]
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert form_lead.pk not in ids(created_since=since)
    assert hot.pk in ids(created_since=since)


def test_list_leads_pages_with_a_cursor(client, reader):
    made = [make_lead().pk for _ in range(5)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/leads", params, **bearer(reader)).json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(made, reverse=True)


def test_bad_cursor_is_a_400_with_a_reason(client, reader):
    response = client.get("/api/v1/leads", {"cursor": "not-ours"}, **bearer(reader))
    assert response.status_code == 400
    assert response.json() == {
        "error": "bad_cursor",
        "reason": "cursor is not one this API gave out",
        "details": [],
    }


def test_unknown_label_is_a_422_naming_the_field(client, reader):
    response = client.get("/api/v1/leads", {"label": "hot"}, **bearer(reader))
    assert response.status_code == 422
    assert response.json()["error"] == "invalid"
    assert "label" in response.json()["reason"]


def test_get_lead_has_classification_score_enrichment_drafts_and_emails(client, reader):
    draft = make_waiting_draft(score=62, label="high_intent")
    response = client.get(f"/api/v1/leads/{draft.lead_id}", **bearer(reader))
    assert response.status_code == 200
    body = response.json()
    assert body["classification"]["label"] == "high_intent"
    assert body["score_details"]["value"] == 62
    assert body["score_details"]["explanation"] == "demo request, mid-sized"
    assert [c["label"] for c in body["score_details"]["criteria"]][0] == "Buying intent"
    assert body["enrichment"]["sector"] == "Software"
    assert [d["id"] for d in body["drafts"]] == [draft.pk]
    assert body["drafts"][0]["status"] == "pending"
    assert body["emails"] == []


def test_unknown_lead_is_a_404_json(client, reader):
    response = client.get("/api/v1/leads/999999", **bearer(reader))
    assert response.status_code == 404
    assert response.json()["reason"] == "no lead 999999"


def test_outcome_is_stored_audited_and_closes_the_lead(client, writer):
    lead = make_lead()
    response = client.post(
        f"/api/v1/leads/{lead.pk}/outcomes",
        {"outcome": "won", "note": "Signed for 40 seats"},
        content_type="application/json",
        **bearer(writer),
    )
    assert response.status_code == 201, response.content
    assert response.json()["outcome"] == "won"
    stored = LeadOutcome.objects.get(lead=lead)
    assert (stored.note, stored.token.name) == ("Signed for 40 seats", "Pipedrive sync")
    assert ReviewAction.objects.get(lead=lead, action="outcome").detail["outcome"] == "won"
    assert is_closed(lead)
    detail = client.get(f"/api/v1/leads/{lead.pk}", **bearer(writer)).json()
    assert [o["outcome"] for o in detail["outcomes"]] == ["won"]


def test_meeting_booked_does_not_close_the_lead(client, writer):
    lead = make_lead()
    client.post(
        f"/api/v1/leads/{lead.pk}/outcomes",
        {"outcome": "meeting_booked"},
        content_type="application/json",
        **bearer(writer),
    )
    assert not is_closed(lead)


def test_read_only_token_cannot_post_an_outcome(client, reader):
    lead = make_lead()
    response = client.post(
        f"/api/v1/leads/{lead.pk}/outcomes",
        {"outcome": "lost"},
        content_type="application/json",
        **bearer(reader),
    )
    assert response.status_code == 403
    assert "read-only" in response.json()["reason"]
    assert not LeadOutcome.objects.exists()


def test_unknown_outcome_is_a_422(client, writer):
    lead = make_lead()
    response = client.post(
        f"/api/v1/leads/{lead.pk}/outcomes",
        {"outcome": "maybe"},
        content_type="application/json",
        **bearer(writer),
    )
    assert response.status_code == 422
    assert "outcome" in response.json()["reason"]


def test_runs_list_and_retry_of_a_failed_run(client, writer):
    draft = make_waiting_draft()
    run = PipelineRun.objects.get(pk=draft.run_id)
    StepRun.objects.filter(run=run, name="crm_write").update(
        status=StepRun.Status.FAILED, error="HubSpot answered 503"
    )
    PipelineRun.objects.filter(pk=run.pk).update(status=PipelineRun.Status.FAILED)
    listed = client.get("/api/v1/runs", {"status": "failed"}, **bearer(writer)).json()
    assert [item["id"] for item in listed["items"]] == [run.pk]
    failed = [s for s in listed["items"][0]["steps"] if s["status"] == "failed"]
    assert failed == [
        {
            "name": "crm_write",
            "status": "failed",
            "attempt": 1,
            "error": "HubSpot answered 503",
            "duration_ms": 40,
        }
    ]
    response = client.post(f"/api/v1/runs/{run.pk}/retry", **bearer(writer))
    assert response.status_code == 202, response.content
    audit = ReviewAction.objects.get(lead_id=run.lead_id, action="retry")
    assert audit.user is None and audit.detail["via"].startswith("API token Pipedrive sync")
    assert StepRun.objects.get(run=run, name="crm_write").status == StepRun.Status.QUEUED
    again = client.post(f"/api/v1/runs/{run.pk}/retry", **bearer(writer))
    assert again.status_code == 409
    assert again.json()["error"] == "conflict"


def test_rate_limit_answers_429_with_retry_after(client):
    row, token = create_token(name="Greedy", scope="read", rate_limit_per_minute=2)
    statuses = [client.get("/api/v1/leads", **bearer(token)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    response = client.get("/api/v1/leads", **bearer(token))
    assert response.json()["error"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 60


def test_openapi_document_is_served(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    paths = document["paths"]
    assert "/api/v1/leads" in paths
    assert "/api/v1/runs/{run_id}/retry" in paths
    assert document["components"]["securitySchemes"]["TokenAuth"] == {
        "type": "http",
        "scheme": "bearer",
    }
    listing = paths["/api/v1/leads"]["get"]
    assert [p["name"] for p in listing["parameters"]] == [
        "label",
        "decision",
        "source",
        "created_since",
        "cursor",
        "limit",
    ]
    assert {"200", "401", "422", "429"} <= set(listing["responses"])


def test_unknown_endpoints_and_methods_answer_json(client, reader):
    missing = client.get("/api/v1/nothing", **bearer(reader))
    assert missing.status_code == 404
    assert "openapi.json" in missing.json()["reason"]
    wrong_method = client.delete("/api/v1/leads", **bearer(reader))
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "method_not_allowed"
    assert wrong_method["Allow"] == "GET"


def test_an_unparsable_body_is_a_400_json(client, writer):
    lead = make_lead()
    response = client.post(
        f"/api/v1/leads/{lead.pk}/outcomes",
        "{not json",
        content_type="application/json",
        **bearer(writer),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"


@pytest.mark.parametrize("path", ["/api/v1/leads", "/api/v1/runs"])
def test_a_page_costs_the_same_queries_for_few_or_many_rows(client, reader, path):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(path, **bearer(reader)).status_code == 200
        return len(captured)

    make_waiting_draft()
    client.get(path, **bearer(reader))  # the token's last_used_at is written once a minute
    few = queries()
    for _ in range(6):
        make_waiting_draft()
    assert queries() == few


def test_an_api_outcome_shows_on_the_lead_page_audit(client, writer):
    from tests.factories import make_reviewer

    lead = make_lead()
    client.post(
        f"/api/v1/leads/{lead.pk}/outcomes",
        {"outcome": "meeting_booked"},
        content_type="application/json",
        **bearer(writer),
    )
    client.force_login(make_reviewer())
    page = client.get(f"/leads/{lead.pk}/").text
    assert 'Outcome: <span class="outcome">meeting_booked</span>' in page
    assert "via API token Pipedrive sync" in page


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/leads"),
        ("get", "/api/v1/leads/1"),
        ("post", "/api/v1/leads/1/outcomes"),
        ("get", "/api/v1/runs"),
        ("post", "/api/v1/runs/1/retry"),
    ],
)
def test_every_endpoint_needs_a_token(client, method, path):
    response = getattr(client, method)(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="leadops"'


def test_a_retried_outcome_with_the_same_idempotency_key_is_stored_once(client, writer):
    lead = make_lead()

    def post(outcome, key):
        return client.post(
            f"/api/v1/leads/{lead.pk}/outcomes",
            {"outcome": outcome, "note": "Signed"},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=key,
            **bearer(writer),
        )

    first, again = post("won", "deal-77"), post("won", "deal-77")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert LeadOutcome.objects.filter(lead=lead).count() == 1
    reused = post("lost", "deal-77")
    assert reused.status_code == 409
    assert "deal-77" in reused.json()["reason"]
    assert post("lost", "deal-78").status_code == 201


def test_the_rate_limit_counts_each_token_on_its_own(client, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 2
    greedy = create_token(name="Greedy", scope="read")[1]
    patient = create_token(name="Patient", scope="read")[1]
    own_limit = create_token(name="Bulk export", scope="read", rate_limit_per_minute=5)[1]
    assert [client.get("/api/v1/leads", **bearer(greedy)).status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]
    assert client.get("/api/v1/leads", **bearer(patient)).status_code == 200
    assert [client.get("/api/v1/leads", **bearer(own_limit)).status_code for _ in range(5)] == [
        200
    ] * 5
