"""Cancelling a run while one of its steps runs: the run stops at once, and what the running
step does afterwards starts nothing (no successor, no retry, no timer, no email)."""

import threading
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connections
from django.utils import timezone

from pipeline import engine
from pipeline.integrations import outbox
from pipeline.models import Draft, OutboundEmail, PipelineRun, StepRun
from tests.engine.test_engine import executions, steps_of
from tests.engine_pipelines import Hold
from tests.factories import make_lead

pytestmark = pytest.mark.django_db(transaction=True)

Status = StepRun.Status


def sweep_inline() -> dict[str, int]:
    return engine.continue_inline(lambda dispatch: engine.sweep(dispatch=dispatch))


@contextmanager
def held_run(lead=None, **options):
    """A test-held run whose first step is running (in a worker thread) until the block ends."""
    Hold.reset()
    run = engine.start(
        "test-held", lead=lead or make_lead(), options=options, dispatch=lambda _: None
    )
    held_id = steps_of(run)["held"].pk
    errors: list[BaseException] = []

    def worker():
        try:
            engine.continue_inline(lambda dispatch: dispatch(held_id))
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            errors.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert Hold.started.wait(timeout=10), "the held step never started"
        yield run
    finally:
        Hold.release.set()
        thread.join(timeout=30)
    assert not thread.is_alive() and not errors, errors
    run.refresh_from_db()


def test_cancelling_while_a_step_runs_stops_the_run_at_once():
    with held_run() as run:
        outcome = engine.cancel(run, "the lead replied")
        run.refresh_from_db()
        assert outcome.changed
        assert outcome.message == (
            "cancelled; 1 step(s) will not run; held still running, its result starts nothing"
        )
        assert run.status == PipelineRun.Status.CANCELLED and run.finished_at is not None
        assert steps_of(run)["held"].status == Status.RUNNING

    steps = steps_of(run)
    assert run.status == PipelineRun.Status.CANCELLED
    assert steps["held"].status == Status.SUCCEEDED
    assert steps["after"].status == Status.SKIPPED
    assert steps["after"].skip_reason == "run cancelled: the lead replied"
    assert executions(run) == {"held": 1}


@pytest.mark.parametrize("then", ["succeed", "fail"])
def test_apps_hear_of_a_step_finishing_into_a_stopped_run_and_cannot_break_it(then, caplog):
    """step_finished_in_stopped_run, in the transaction that records the outcome: a receiver
    that fails has its writes rolled back and is logged; the outcome is recorded all the same."""
    from pipeline.engine.signals import step_finished_in_stopped_run

    heard = []

    def failing(sender, run_id, step_run_id, **kwargs):
        heard.append((run_id, step_run_id))
        StepRun.objects.filter(pk=step_run_id).update(wait_reason="written by the receiver")
        raise RuntimeError("the receiver broke")

    step_finished_in_stopped_run.connect(failing, dispatch_uid="test-failing-receiver")
    try:
        with held_run(then=then) as run:
            engine.cancel(run, "stopped by staff")
    finally:
        step_finished_in_stopped_run.disconnect(dispatch_uid="test-failing-receiver")

    held = steps_of(run)["held"]
    assert heard == [(run.pk, held.pk)]
    assert held.status == (Status.SUCCEEDED if then == "succeed" else Status.FAILED)
    assert held.wait_reason == ""  # rolled back with the receiver
    assert "step.stopped_receiver_failed" in caplog.text and "RuntimeError" in caplog.text


def test_no_app_hears_of_a_step_finishing_into_a_run_still_going():
    from pipeline.engine.signals import step_finished_in_stopped_run

    heard = []
    step_finished_in_stopped_run.connect(
        lambda **kwargs: heard.append(kwargs), weak=False, dispatch_uid="test-listener"
    )
    try:
        with held_run():
            pass
    finally:
        step_finished_in_stopped_run.disconnect(dispatch_uid="test-listener")
    assert heard == []


def test_the_successor_of_a_step_finishing_into_a_cancelled_run_never_runs_later():
    with held_run() as run:
        engine.cancel(run, "stopped by staff")

    counts = sweep_inline()

    assert executions(run) == {"held": 1}
    assert not any(counts[key] for key in ("expired", "lost", "due", "woken"))
    assert steps_of(run)["after"].status == Status.SKIPPED


def test_a_step_failing_after_its_run_was_cancelled_is_not_retried():
    with held_run(then="fail") as run:
        engine.cancel(run, "stopped by staff")

    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=10), tick=True):
        sweep_inline()

    held = steps_of(run)["held"]
    assert held.status == Status.FAILED and held.attempt == 1
    assert held.error == "ConnectionError: the held step failed"
    assert held.not_before is None
    assert executions(run) == {"held": 1}
    assert run.status == PipelineRun.Status.CANCELLED and run.error == ""


def test_a_timer_set_by_a_step_of_a_cancelled_run_never_fires():
    wake_at = datetime.now(UTC) + timedelta(days=1)
    with held_run(then="wait", wake_at=wake_at.isoformat()) as run:
        engine.cancel(run, "the lead replied")

    held = steps_of(run)["held"]
    assert held.status == Status.SKIPPED and held.skip_reason == "run cancelled"
    assert held.wake_at is None
    with time_machine.travel(wake_at + timedelta(days=1), tick=True):
        counts = sweep_inline()
    assert counts["woken"] == 0
    assert steps_of(run)["after"].status == Status.SKIPPED
    assert executions(run) == {"held": 1}


def test_a_send_step_running_when_its_run_is_cancelled_sends_nothing():
    lead = make_lead(email="ada@client.example")
    with held_run(lead, then="email") as run:
        engine.cancel(run, "by a reviewer")

    email = OutboundEmail.objects.get(run=run)
    assert email.state == OutboundEmail.State.CANCELLED
    assert email.error == "its run was cancelled"
    assert email.attempts == 0 and email.sent_at is None
    assert mail.outbox == []
    assert steps_of(run)["held"].output["state"] == OutboundEmail.State.CANCELLED


def test_the_outbox_cancels_a_queued_email_of_a_cancelled_run():
    lead = make_lead(email="ada@client.example")
    run = engine.start("test-gated", lead=lead, dispatch=lambda _: None)
    email, _ = outbox.queue_email(lead=lead, kind="first_reply", subject="Hi", body="b", run=run)

    engine.cancel(run, "by a reviewer")

    assert outbox.deliver(email.pk) == OutboundEmail.State.CANCELLED
    email.refresh_from_db()
    assert (email.state, email.error) == (OutboundEmail.State.CANCELLED, "its run was cancelled")
    assert mail.outbox == []


def test_the_outbox_cancels_a_queued_email_whose_draft_was_rejected():
    lead = make_lead(email="ada@client.example")
    run = engine.start("test-gated", lead=lead, dispatch=lambda _: None)
    draft = Draft.objects.create(
        lead=lead, run=run, subject="Hi", body="b", status=Draft.Status.REJECTED
    )
    email, _ = outbox.queue_email(
        lead=lead, kind="first_reply", subject="Hi", body="b", run=run, draft=draft
    )

    assert outbox.deliver(email.pk) == OutboundEmail.State.CANCELLED
    email.refresh_from_db()
    assert email.error == "its draft was rejected"
    assert mail.outbox == []


def test_a_step_whose_worker_died_in_a_cancelled_run_is_not_rerun_by_the_sweep():
    run = engine.start("test-held", lead=make_lead(), dispatch=lambda _: None)
    # A worker claimed the step and died: running, its lease in the past.
    StepRun.objects.filter(run=run, name="held").update(
        status=Status.RUNNING,
        attempt=1,
        worker_id="dead:1:1",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    engine.cancel(run, "stopped by staff")

    counts = sweep_inline()

    held = steps_of(run)["held"]
    assert (counts["expired"], counts["stopped"]) == (0, 1)
    assert held.status == Status.FAILED and held.lease_expires_at is None
    assert "stopped answering after the run was cancelled; not re-run" in held.error
    assert executions(run) == {}


def test_a_late_queue_message_for_a_cancelled_run_runs_nothing():
    dispatched: list[int] = []
    run = engine.start("test-held", lead=make_lead(), dispatch=dispatched.append)

    engine.cancel(run, "stopped by staff")
    engine.continue_inline(lambda dispatch: [dispatch(pk) for pk in dispatched])

    assert executions(run) == {}
    assert {step.status for step in steps_of(run).values()} == {Status.SKIPPED}
