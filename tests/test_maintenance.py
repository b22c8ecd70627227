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
    schedule = Schedule.objects.get()
    assert schedule.func == "pipeline.maintenance.sweep"
    assert schedule.repeats == -1


def test_the_sweep_recovers_every_kind_of_lost_work(monkeypatch):
    monkeypatch.setattr("pipeline.engine.enqueue", lambda step_run_id: None)
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
