"""GET /metrics: bearer-protected, Prometheus text that prometheus_client's own parser reads."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from pipeline import engine
from pipeline.models import OutboundEmail, Submission, WorkerHeartbeat
from tests.factories import make_lead, make_waiting_draft

pytestmark = pytest.mark.django_db

TOKEN = "scrape-me-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.PROMETHEUS_MULTIPROC_DIR = ""


def scrape(client) -> dict:
    """{(sample name, frozenset(labels)): value} of one scrape."""
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_are_a_404_without_a_token_setting(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", headers=AUTH).status_code == 404


def test_metrics_need_the_bearer_token(client, metrics_on):
    assert client.get("/metrics").status_code == 401
    response = client.get("/metrics", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_queue_drafts_emails_and_heartbeat_come_from_the_database(client, metrics_on):
    draft = make_waiting_draft()
    OutboundEmail.objects.create(
        lead=draft.lead, to_email="a@b.example", from_email="s@x.example", subject="s", body="b"
    )
    WorkerHeartbeat.objects.create(worker="host:1", seen_at=timezone.now() - timedelta(seconds=30))
    samples = scrape(client)
    assert value(samples, "leadops_pending_drafts") == 1
    assert value(samples, "leadops_oldest_pending_draft_age_seconds") >= 0
    assert value(samples, "leadops_queue_depth", status="waiting") == 1  # the gate
    assert value(samples, "leadops_emails", state="queued") == 1
    assert value(samples, "leadops_emails", state="sent") == 0
    assert 29 <= value(samples, "leadops_worker_heartbeat_age_seconds") < 120


def test_deliveries_waiting_for_a_worker_are_a_gauge(client, metrics_on):
    Submission.objects.create(channel="webhook", email="wait@example.org")
    Submission.objects.create(channel="webhook", email="bot@example.org", is_trapped=True)
    samples = scrape(client)
    assert value(samples, "leadops_unprocessed_submissions") == 1
    assert value(samples, "leadops_oldest_unprocessed_submission_age_seconds") >= 0


@pytest.mark.django_db(transaction=True)
def test_step_executions_durations_and_failures_are_counted(client, metrics_on):
    before = scrape(client)
    engine.run_inline("test-exhausted", lead=make_lead())
    after = scrape(client)

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert (
        grew("leadops_step_executions_total", step="doomed", strategy="none", outcome="retry") == 1
    )
    assert (
        grew("leadops_step_executions_total", step="doomed", strategy="none", outcome="failed") == 1
    )
    assert grew("leadops_step_failures_total", step="doomed", error="ValueError") == 2
    assert grew("leadops_step_duration_seconds_count", step="doomed", strategy="none") == 2


def test_claude_calls_tokens_and_cost_are_counted(client, metrics_on, fake_anthropic):
    from pipeline.llm import call_structured
    from pipeline.schemas import Classification

    before = scrape(client)
    result = call_structured(
        "classify", system="You classify leads.", content="Demo please", schema=Classification
    )
    after = scrape(client)
    labels = {"agent": "classify", "model": "claude-haiku-5-5"}

    def grew(name, **extra):
        return value(after, name, **labels, **extra) - value(before, name, **labels, **extra)

    assert grew("leadops_llm_calls_total", outcome="ok") == 1
    assert grew("leadops_llm_tokens_total", kind="input") == result.usage.input_tokens
    assert grew("leadops_llm_tokens_total", kind="output") == result.usage.output_tokens
    assert grew("leadops_llm_cost_usd_total") == pytest.approx(float(result.usage.cost_usd))


def test_intake_requests_are_counted_by_status(client, metrics_on):
    before = scrape(client)
    assert (
        client.post("/webhooks/nobody/", data="{}", content_type="application/json").status_code
        == 404
    )
    after = scrape(client)
    name = "leadops_intake_requests_total"
    assert (
        value(after, name, door="webhook", status="404")
        - value(before, name, door="webhook", status="404")
        == 1
    )


def test_multiprocess_mode_adds_up_what_other_processes_counted(client, settings, tmp_path):
    """A worker process counts a step into the shared directory; the web process reports it."""
    settings.METRICS_TOKEN = TOKEN
    settings.PROMETHEUS_MULTIPROC_DIR = str(tmp_path)
    script = (
        "import django; django.setup(); from pipeline import metrics; "
        "metrics.count_step('classify', 'succeeded', strategy='rules', duration_ms=120); "
        "metrics.count_step('classify', 'succeeded', strategy='rules', duration_ms=80)"
    )
    environment = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "leadops.settings",
        # Production settings refuse to start without a mail server; none is used here.
        "EMAIL_HOST": "127.0.0.1",
    }
    for _ in range(2):  # two worker processes
        subprocess.run(
            [sys.executable, "-c", script],
            check=True,
            env=environment,
            cwd=Path(__file__).resolve().parents[2],
            timeout=60,
        )
    assert len(list(tmp_path.glob("*.db"))) >= 2
    samples = scrape(client)
    labels = {"step": "classify", "strategy": "rules"}
    assert value(samples, "leadops_step_executions_total", **labels, outcome="succeeded") == 4
    assert value(samples, "leadops_step_duration_seconds_count", **labels) == 4
    assert value(samples, "leadops_step_duration_seconds_sum", **labels) == pytest.approx(0.4)
    assert value(samples, "leadops_step_duration_seconds_bucket", **labels, le="0.1") == 2


def test_a_broken_metrics_directory_never_fails_the_step(monkeypatch, caplog):
    from pipeline import metrics

    def broken(**labels):
        raise OSError("disk full")

    monkeypatch.setattr(metrics.STEP_EXECUTIONS, "labels", broken)
    metrics.count_step("classify", "succeeded", strategy="rules", duration_ms=5)
    assert "metrics: count_step failed: OSError" in caplog.text
