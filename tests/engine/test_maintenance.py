"""The periodic sweep recovers lost work in every area, and its schedule exists once."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from pipeline import maintenance
from pipeline.models import EnrichmentCache, OutboundEmail, PipelineRun, StepRun
from tests.factories import make_lead, make_submission

pytestmark = pytest.mark.django_db


def test_the_schedule_is_created_once_and_points_at_the_sweep():
    maintenance.ensure_schedule()
    maintenance.ensure_schedule()
    schedule = Schedule.objects.get(func="pipeline.maintenance.sweep")
    assert Schedule.objects.filter(func="pipeline.maintenance.sweep").count() == 1
    assert schedule.repeats == -1


def test_the_sweep_recovers_every_kind_of_lost_work(monkeypatch):
    monkeypatch.setattr("pipeline.engine.queue.enqueue", lambda step_run_id: None)
    long_ago = timezone.now() - timedelta(hours=1)
    lead = make_lead()
    # A submission whose run was never started.
    waiting = make_submission(lead)
    type(waiting).objects.filter(pk=waiting.pk).update(received_at=long_ago)
    # An email a dead worker left in `sending`.
    email = OutboundEmail.objects.create(
        lead=lead,
        to_email=lead.email,
        from_email="sales@example.com",
        subject="Hi",
        body="Hello",
        state=OutboundEmail.State.SENDING,
        sending_started_at=long_ago,
    )
    # An expired cache row.
    EnrichmentCache.objects.create(
        domain="old.example", profile={}, fetched_at=long_ago, expires_at=long_ago
    )

    counts = maintenance.sweep()

    assert counts["runs_started"] == 1
    run = PipelineRun.objects.get(submission=waiting)
    assert StepRun.objects.get(run=run, name="classify").status == StepRun.Status.QUEUED
    email.refresh_from_db()
    assert email.state == OutboundEmail.State.UNKNOWN
    assert counts["emails_unknown"] == 1
    assert counts["cache_purged"] == 1 and not EnrichmentCache.objects.exists()


def test_migrate_creates_the_sweep_schedule():
    # The test database was built by migrate, whose post_migrate signal scheduled the sweep.
    assert Schedule.objects.filter(func="pipeline.maintenance.sweep").exists()


def test_the_sweep_reports_runs_waiting_on_a_draft_nobody_can_decide(caplog):
    from pipeline.models import Draft

    lead = make_lead()
    stuck = PipelineRun.objects.create(
        lead=lead, pipeline_name="lead", pipeline_version=1, status=PipelineRun.Status.WAITING
    )
    fine = PipelineRun.objects.create(
        lead=lead, pipeline_name="lead", pipeline_version=1, status=PipelineRun.Status.WAITING
    )
    for run, status in ((stuck, Draft.Status.APPROVED), (fine, Draft.Status.PENDING)):
        draft = Draft.objects.create(lead=lead, run=run, subject="Hi", body="Hello", status=status)
        StepRun.objects.create(
            run=run, name="gate", status=StepRun.Status.WAITING, output={"draft_id": draft.pk}
        )
    with caplog.at_level("WARNING", logger="pipeline.maintenance"):
        counts = maintenance.sweep()
    assert counts["gates_stranded"] == 1
    assert f"runs={stuck.pk} " in caplog.text


@pytest.mark.django_db(transaction=True)
def test_runs_stored_under_an_import_path_get_their_registered_name():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = ("pipeline", "0002_scoring_auto_send_confidence_and_review_floor")
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    old_apps = executor.loader.project_state([before]).apps
    OldRun = old_apps.get_model("pipeline", "PipelineRun")
    OldLead = old_apps.get_model("pipeline", "Lead")
    lead = OldLead.objects.create(email="a@example.org", email_normalized="a@example.org")
    for path in ("pipeline.bench:SYNTHETIC", "tests.engine_pipelines:FAN_IN", "lead"):
        OldRun.objects.create(lead=lead, pipeline_name=path, pipeline_version=1)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    names = sorted(PipelineRun.objects.values_list("pipeline_name", flat=True))
    assert names == ["bench", "lead", "test-fan-in"]


def test_each_sweep_brings_the_next_one_to_the_schedulers_period():
    from pipeline.engine.recovery import SWEEP_EVERY_SECONDS, SWEEP_SCHEDULE_NAME

    maintenance.ensure_schedule()
    Schedule.objects.update(next_run=timezone.now() + timedelta(hours=1))
    maintenance.sweep()
    next_run = Schedule.objects.get(name=SWEEP_SCHEDULE_NAME).next_run
    assert next_run <= timezone.now() + timedelta(seconds=SWEEP_EVERY_SECONDS)


@pytest.mark.django_db(transaction=True)
def test_a_partial_migrate_without_the_schedule_table_succeeds_and_the_full_one_schedules(caplog):
    from django.core.management import call_command

    from pipeline.engine.recovery import SWEEP_SCHEDULE_NAME
    from review.dashboard import SCHEDULE_NAME as DASHBOARD_SCHEDULE

    try:
        # post_migrate follows this one too, with django_q's tables gone.
        with caplog.at_level("WARNING", logger="pipeline.apps"):
            call_command("migrate", "django_q", "zero", verbosity=0)
        assert "schedule.skipped for='the sweep'" in caplog.text
        assert "schedule.skipped for='the dashboard refresh'" in caplog.text
    finally:
        call_command("migrate", verbosity=0)

    names = set(Schedule.objects.values_list("name", flat=True))
    assert {SWEEP_SCHEDULE_NAME, DASHBOARD_SCHEDULE} <= names
