"""The dashboard says which strategy each agent uses and when the spend cap stops Claude."""

from decimal import Decimal

import pytest
from django.utils import timezone

from pipeline.agents.defaults import DEFAULT_CRITERIA
from pipeline.llm.budget import reset_budget_cache
from pipeline.models import PipelineRun, ScoringConfig, StepRun
from tests.factories import make_lead, make_reviewer

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewer_client(client):
    client.force_login(make_reviewer())
    return client


def agent_row(html: str, agent: str) -> str:
    start = html.index(f'id="agent-{agent}"')
    return html[start : html.index("</tr>", start)]


def test_without_a_key_every_agent_uses_rules(reviewer_client, settings):
    settings.ANTHROPIC_API_KEY = ""
    reset_budget_cache()
    html = reviewer_client.get("/dashboard/").content.decode()
    assert "No ANTHROPIC_API_KEY is set" in html
    for agent in ("classify", "enrich", "score", "draft"):
        assert ">rules<" in agent_row(html, agent)


def test_with_a_key_the_agents_use_claude_and_name_their_model(reviewer_client, settings):
    settings.ANTHROPIC_API_KEY = "sk-test"
    settings.AGENT_STRATEGY = {**settings.AGENT_STRATEGY, "score": "rules"}
    reset_budget_cache()
    html = reviewer_client.get("/dashboard/").content.decode()
    assert ">claude<" in agent_row(html, "classify")
    assert settings.LLM_MODELS["draft"] in agent_row(html, "draft")
    assert ">rules<" in agent_row(html, "score")


def test_past_the_daily_cap_the_dashboard_says_rules_answer(reviewer_client, settings):
    settings.ANTHROPIC_API_KEY = "sk-test"
    settings.LLM_DAILY_SPEND_CAP_USD = 1.0
    run = PipelineRun.objects.create(
        lead=make_lead(), pipeline_name="lead", pipeline_version=1, status="succeeded"
    )
    StepRun.objects.create(
        run=run,
        name="draft",
        status="succeeded",
        finished_at=timezone.now(),
        cost_usd=Decimal("1.50"),
    )
    reset_budget_cache()
    html = reviewer_client.get("/dashboard/").content.decode()
    assert "spend cap of $1.00 is reached" in html
    assert ">rules<" in agent_row(html, "draft")


def test_the_scoring_page_lists_the_criteria_in_force(reviewer_client):
    ScoringConfig.objects.create(
        criteria=DEFAULT_CRITERIA, auto_send_threshold=70, auto_send_labels=["high_intent"]
    )
    html = reviewer_client.get("/scoring/").content.decode()
    assert "at least <strong>70</strong>" in html
    for criterion in DEFAULT_CRITERIA:
        assert criterion["label"] in html


def test_a_signed_in_user_outside_the_staff_groups_sees_neither_page(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("visitor", password="x"))
    assert client.get("/dashboard/").status_code == 403
    assert client.get("/scoring/").status_code == 403


def test_an_admin_pauses_and_resumes_auto_send_from_the_dashboard(client):
    from pipeline.models import OperationsSettings

    admin = make_reviewer(group="Admins")
    client.force_login(admin)
    assert "Pause auto-send" in client.get("/dashboard/").content.decode()
    response = client.post("/dashboard/auto-send/", {"paused": "1"})
    assert response.status_code == 302
    settings_row = OperationsSettings.load()
    assert settings_row.auto_send_paused and settings_row.updated_by == admin
    assert "Resume auto-send" in client.get("/dashboard/").content.decode()
    client.post("/dashboard/auto-send/", {"paused": "0"})
    assert not OperationsSettings.load().auto_send_paused


def test_a_reviewer_can_neither_see_nor_use_the_switch(reviewer_client):
    assert "Pause auto-send" not in reviewer_client.get("/dashboard/").content.decode()
    assert reviewer_client.post("/dashboard/auto-send/", {"paused": "1"}).status_code == 403
    from pipeline.models import OperationsSettings

    assert not OperationsSettings.load().auto_send_paused
