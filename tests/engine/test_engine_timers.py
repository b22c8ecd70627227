"""Durable timers: a step waits until a time, the sweep wakes it exactly once, cancel stops it."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import connections

from pipeline import engine
from pipeline.dev.models import StepExecution
from pipeline.engine import Pipeline, PipelineDefinitionError, Sleep, Step
from pipeline.models import PipelineRun, StepRun
from tests.factories import make_lead

pytestmark = pytest.mark.django_db(transaction=True)

IS_POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def steps_of(run: PipelineRun) -> dict[str, StepRun]:
    return {step_run.name: step_run for step_run in run.steps.all()}


def ran(run: PipelineRun, name: str) -> int:
    return StepExecution.objects.filter(step_run__run=run, step_run__name=name).count()


def sweep_inline():
    """One sweep whose dispatched steps run in this process."""
    return engine.continue_inline(lambda dispatch: engine.sweep(dispatch=dispatch))


def start_timer(wake_at: datetime) -> PipelineRun:
    return engine.run_inline(
        "test-timer", lead=make_lead(), options={"wake_at": wake_at.isoformat()}
    )


def test_a_timer_step_waits_and_the_sweep_does_not_wake_it_early():
    run = start_timer(datetime.now(UTC) + timedelta(hours=1))

    counts = sweep_inline()

    run.refresh_from_db()
    steps = steps_of(run)
    assert run.status == PipelineRun.Status.WAITING
    assert steps["wait"].status == StepRun.Status.WAITING and steps["wait"].wake_at is not None
    assert steps["after"].status == StepRun.Status.PENDING
    assert counts["woken"] == 0 and ran(run, "after") == 0


def test_the_sweep_wakes_a_due_timer_and_the_run_goes_on():
    wake_at = datetime.now(UTC) + timedelta(days=2)
    run = start_timer(wake_at)

    with time_machine.travel(wake_at + timedelta(seconds=1), tick=True):
        counts = sweep_inline()

    run.refresh_from_db()
    steps = steps_of(run)
    assert counts["woken"] == 1
    assert run.status == PipelineRun.Status.SUCCEEDED
    assert steps["wait"].output["slept_until"] == wake_at.isoformat()
    assert datetime.fromisoformat(steps["wait"].output["woke_at"]) >= wake_at
    assert ran(run, "after") == 1


def test_a_delay_declared_as_data_counts_from_when_the_step_became_ready():
    run = engine.run_inline("test-two-days", lead=make_lead())
    wait = steps_of(run)["wait"]
    assert wait.wake_at == wait.ready_at + timedelta(days=2)

    with time_machine.travel(wait.wake_at - timedelta(minutes=1), tick=True):
        assert sweep_inline()["woken"] == 0
    with time_machine.travel(wait.wake_at + timedelta(minutes=1), tick=True):
        assert sweep_inline()["woken"] == 1

    run.refresh_from_db()
    assert run.status == PipelineRun.Status.SUCCEEDED and ran(run, "after") == 1


def test_a_step_can_return_wait_until_itself():
    wake_at = datetime.now(UTC) + timedelta(hours=3)
    run = engine.run_inline(
        "test-wait-until", lead=make_lead(), options={"wake_at": wake_at.isoformat()}
    )
    assert steps_of(run)["wait"].output == {
        "waiting_for": "timer",
        "why": "day 2",
        "wake_at": wake_at.isoformat(),
    }

    with time_machine.travel(wake_at, tick=True):
        sweep_inline()

    assert ran(run, "after") == 1


def test_a_time_already_past_does_not_wait():
    run = start_timer(datetime.now(UTC) - timedelta(minutes=5))

    assert run.status == PipelineRun.Status.SUCCEEDED
    assert ran(run, "after") == 1


def test_a_waiting_run_cancelled_with_a_reason_never_fires():
    wake_at = datetime.now(UTC) + timedelta(days=2)
    run = start_timer(wake_at)

    outcome = engine.cancel(run, "the lead replied")
    with time_machine.travel(wake_at + timedelta(days=1), tick=True):
        counts = sweep_inline()

    run.refresh_from_db()
    wait = steps_of(run)["wait"]
    assert outcome.changed
    assert run.status == PipelineRun.Status.CANCELLED
    assert wait.status == StepRun.Status.SKIPPED
    assert wait.skip_reason == "run cancelled: the lead replied"
    assert counts["woken"] == 0 and ran(run, "after") == 0


def test_a_reviewer_wait_is_never_woken_by_the_sweep():
    run = engine.run_inline("test-gated", lead=make_lead())

    with time_machine.travel(datetime.now(UTC) + timedelta(days=30), tick=True):
        counts = sweep_inline()

    assert counts["woken"] == 0
    assert steps_of(run)["gate"].status == StepRun.Status.WAITING


def test_sleep_takes_exactly_one_of_after_or_until():
    with pytest.raises(PipelineDefinitionError, match="one of after= or until="):
        Pipeline("bad", 1, (Step("wait", run=Sleep()),))


@pytest.mark.skipif(not IS_POSTGRES, reason="concurrent sweeps need PostgreSQL row locks")
def test_sweeps_racing_for_due_timers_wake_each_exactly_once():
    wake_at = datetime.now(UTC) + timedelta(seconds=1)
    runs = [start_timer(wake_at + timedelta(days=1)) for _ in range(8)]
    barrier = threading.Barrier(4)
    woken: list[int] = []

    def sweeper():
        try:
            barrier.wait()
            woken.append(
                engine.wake_due_timers(
                    now=wake_at + timedelta(days=1, seconds=1), dispatch=lambda _: None
                )
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweeper) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(woken) == len(runs)
    for run in runs:
        steps = steps_of(run)
        assert steps["wait"].status == StepRun.Status.SUCCEEDED
        assert steps["after"].status == StepRun.Status.QUEUED
