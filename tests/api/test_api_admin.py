"""Admins create and revoke API tokens in the browser (the Django admin)."""

import re

import pytest
from django.core.cache import cache

from pipeline.models import ApiToken

pytestmark = pytest.mark.django_db


def test_creating_a_token_shows_it_once_and_it_works(admin_client, client):
    cache.clear()
    response = admin_client.post(
        "/admin/pipeline/apitoken/add/",
        {"name": "Zapier", "scope": "read_write", "rate_limit_per_minute": ""},
        follow=True,
    )
    row = ApiToken.objects.get()
    token = re.search(rf"lo_{row.prefix}_[A-Za-z0-9_-]{{43}}", response.text).group(0)
    assert row.created_by.username == "admin"
    assert token not in admin_client.get(f"/admin/pipeline/apitoken/{row.pk}/change/").text
    assert client.get("/api/v1/leads", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


def test_revoke_action_stops_the_token(admin_client, client):
    from pipeline.api.tokens import create_token

    row, token = create_token(name="Old sync", scope="read")
    response = admin_client.post(
        "/admin/pipeline/apitoken/",
        {"action": "revoke", "_selected_action": [row.pk]},
        follow=True,
    )
    assert "1 token(s) revoked." in response.text
    assert client.get("/api/v1/leads", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


CORE_MODELS = (
    "lead",
    "submission",
    "pipelinerun",
    "steprun",
    "draft",
    "draftrevision",
    "reviewaction",
    "companyprofile",
    "scoringconfig",
    "enrichmentcache",
    "leadoutcome",
    "apitoken",
    "outboundemail",
    "contact",
    "workerheartbeat",
)


@pytest.mark.parametrize("model", CORE_MODELS)
def test_every_core_model_has_an_admin_list_with_search(admin_client, model):
    from tests.factories import make_waiting_draft

    make_waiting_draft()
    response = admin_client.get(f"/admin/pipeline/{model}/", {"q": "acme"})
    assert response.status_code == 200


def test_drafts_are_read_only_in_the_admin(admin_client):
    from tests.factories import make_waiting_draft

    draft = make_waiting_draft()
    page = admin_client.get(f"/admin/pipeline/draft/{draft.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.text
    response = admin_client.post(
        f"/admin/pipeline/draft/{draft.pk}/change/", {"subject": "x", "body": "y"}
    )
    assert response.status_code == 403
    draft.refresh_from_db()
    assert draft.subject == "Your demo request"


def test_lead_search_and_label_filter(admin_client):
    from tests.factories import make_lead

    make_lead(name="Dana Reyes", label="high_intent")
    make_lead(name="Sam Spam", label="spam")
    page = admin_client.get("/admin/pipeline/lead/", {"label__exact": "spam"})
    assert "Sam Spam" in page.text and "Dana Reyes" not in page.text
    page = admin_client.get("/admin/pipeline/lead/", {"q": "Dana"})
    assert "Dana Reyes" in page.text and "Sam Spam" not in page.text


def test_erase_action_in_the_admin(admin_client):
    from pipeline.models import Lead
    from tests.factories import make_lead

    lead = make_lead(name="Dana Reyes", label="high_intent")
    response = admin_client.post(
        "/admin/pipeline/lead/",
        {"action": "erase_personal_data", "_selected_action": [lead.pk]},
        follow=True,
    )
    assert "Erased the personal data of 1 lead(s)" in response.text
    lead = Lead.objects.get(pk=lead.pk)
    assert (lead.name, lead.email, lead.label) == ("", "", "high_intent")


def test_a_member_of_admins_can_create_a_token(client):
    from tests.factories import make_reviewer

    client.force_login(make_reviewer(group="Admins", is_staff=True))
    response = client.post(
        "/admin/pipeline/apitoken/add/", {"name": "Zapier", "scope": "read"}, follow=True
    )
    assert response.status_code == 200
    assert ApiToken.objects.filter(name="Zapier").exists()


def test_a_reviewer_cannot_see_api_tokens(client):
    from tests.factories import make_reviewer

    client.force_login(make_reviewer(is_staff=True))
    assert client.get("/admin/pipeline/apitoken/").status_code == 403


def test_retry_action_on_runs_in_the_admin(admin_client):
    from pipeline.models import PipelineRun, StepRun
    from tests.factories import make_waiting_draft

    failed = PipelineRun.objects.get(pk=make_waiting_draft().run_id)
    StepRun.objects.filter(run=failed, name="crm_write").update(status="failed", error="503")
    PipelineRun.objects.filter(pk=failed.pk).update(status="failed")
    waiting = make_waiting_draft().run_id
    response = admin_client.post(
        "/admin/pipeline/pipelinerun/",
        {"action": "retry_failed", "_selected_action": [failed.pk, waiting]},
        follow=True,
    )
    assert "1 run(s) retried." in response.text
    assert "1 run(s) skipped" in response.text
    assert StepRun.objects.get(run=failed, name="crm_write").status == "queued"


def test_every_pipeline_model_is_in_the_admin():
    from django.apps import apps
    from django.contrib import admin

    missing = [
        model.__name__
        for model in apps.get_app_config("pipeline").get_models()
        if model not in admin.site._registry
    ]
    assert missing == []
