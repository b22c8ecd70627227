from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from pipeline.models import WorkerHeartbeat


@pytest.mark.django_db
def test_healthz_reports_a_recent_worker(client):
    seen = timezone.now() - timedelta(seconds=5)
    WorkerHeartbeat.objects.create(worker="host:1", seen_at=seen)
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert (body["database"], body["queue"], body["worker_seen"]) == ("ok", "ok", seen.isoformat())
    assert body["cluster"]["live_workers"] == 1
    assert 4 <= body["cluster"]["heartbeat_age_seconds"] < 60
    assert (body["queue_depth"], body["queue_age_seconds"]) == (0, 0)


@pytest.mark.django_db
def test_healthz_reports_how_long_the_oldest_queued_step_waited(client):
    from pipeline.models import PipelineRun, StepRun
    from tests.factories import make_lead

    run = PipelineRun.objects.create(lead=make_lead(), pipeline_name="lead", pipeline_version=1)
    now = timezone.now()
    StepRun.objects.create(
        run=run, name="classify", status="queued", queued_at=now - timedelta(minutes=5)
    )
    StepRun.objects.create(
        run=run, name="enrich", status="queued", queued_at=now - timedelta(seconds=3)
    )
    StepRun.objects.create(
        run=run, name="draft", status="running", queued_at=now - timedelta(hours=1)
    )
    body = client.get("/healthz").json()
    assert body["queue_depth"] == 2
    assert 299 <= body["queue_age_seconds"] < 330
    assert body["cluster"] == {"heartbeat_age_seconds": None, "live_workers": 0}
    assert body["queue"] == "stale"


@pytest.mark.django_db
def test_healthz_says_the_queue_is_stale_without_a_recent_worker(client):
    WorkerHeartbeat.objects.create(worker="host:1", seen_at=timezone.now() - timedelta(hours=1))
    body = client.get("/healthz").json()
    assert body["database"] == "ok" and body["queue"] == "stale"


@pytest.mark.django_db
def test_healthz_answers_503_when_the_database_is_unreachable(client, monkeypatch):
    def unreachable(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("django.db.backends.base.base.BaseDatabaseWrapper.cursor", unreachable)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


@pytest.mark.django_db
def test_healthz_is_not_redirected_to_https_for_load_balancers(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/login/").status_code == 301


@pytest.mark.django_db
def test_healthz_counts_stored_deliveries_still_waiting_for_their_run(client):
    from pipeline.models import Submission
    from tests.factories import make_lead

    waiting = Submission.objects.create(channel="webhook", email="wait@example.org")
    Submission.objects.filter(pk=waiting.pk).update(
        received_at=timezone.now() - timedelta(seconds=90)
    )
    Submission.objects.create(channel="webhook", email="bot@example.org", is_trapped=True)
    Submission.objects.create(
        channel="webhook", lead=make_lead(), response={"lead_id": 1, "run_id": 1}
    )

    body = client.get("/healthz").json()

    assert body["unprocessed_submissions"] == 1
    assert 90 <= body["unprocessed_age_seconds"] < 150
