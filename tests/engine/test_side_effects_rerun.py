"""Side-effect steps run again after a crash between their commit and their finish.

A worker that dies there leaves the step `running` with its old output and an expired lease;
the sweeper hands it to another worker, which must not repeat the effect nor lose the lead.
Each test reaches that state from a real run, then lets the sweep recover it in process.
"""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from pipeline import engine
from pipeline.models import (
    Contact,
    Draft,
    OutboundEmail,
    PipelineRun,
    ReviewAction,
    StepRun,
)
from tests.factories import BUYER, make_lead, make_submission

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("rules_business")]


def answered_run(**options) -> PipelineRun:
    lead = make_lead(email="dana@northwind-logistics.example", company="Northwind")
    run = engine.run_inline(
        "lead", lead=lead, submission=make_submission(lead, message=BUYER), options=options
    )
    assert run.status == PipelineRun.Status.SUCCEEDED and run.decision == "auto_send", run.error
    return run


def crash_after_effect(run: PipelineRun, step: str, *, downstream_pending: tuple = ()) -> None:
    """Put `step` back where a worker that died right after its effect committed left it."""
    StepRun.objects.filter(run=run, name=step).update(
        status=StepRun.Status.RUNNING,
        output=None,
        finished_at=None,
        worker_id="gone:1:1",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    StepRun.objects.filter(run=run, name__in=downstream_pending).update(
        status=StepRun.Status.PENDING, output=None, finished_at=None, attempt=0
    )
    PipelineRun.objects.filter(pk=run.pk).update(
        status=PipelineRun.Status.RUNNING, finished_at=None
    )


def recover() -> dict:
    return engine.continue_inline(lambda dispatch: engine.sweep(dispatch=dispatch))


def test_a_gate_rerun_after_its_approval_committed_carries_on_to_one_send(settings):
    # A dry run stops after the gate's approval, as a crash there would: no email exists yet.
    run = answered_run(dry_run=True)
    assert Draft.objects.get(run=run).status == Draft.Status.APPROVED
    assert not OutboundEmail.objects.filter(run=run).exists()
    PipelineRun.objects.filter(pk=run.pk).update(options={})
    crash_after_effect(run, "gate", downstream_pending=("send",))

    assert recover()["expired"] == 1
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.SUCCEEDED and run.decision == "auto_send"
    assert run.steps.get(name="gate").attempt == 2
    email = OutboundEmail.objects.get(run=run)
    assert email.state == OutboundEmail.State.SENT
    assert [message.to for message in mail.outbox] == [[run.lead.email]]
    approvals = ReviewAction.objects.filter(lead=run.lead, action="approve")
    assert approvals.count() == 1 and approvals.get().user is None


def test_the_gate_approves_through_an_audited_action(settings):
    run = answered_run()
    draft = Draft.objects.get(run=run)
    assert (draft.status, draft.version, draft.decided_by) == (Draft.Status.APPROVED, 2, None)
    action = ReviewAction.objects.get(draft=draft, action="approve")
    assert action.user is None
    assert action.detail == {"version": 2, "edited": False, "run_id": run.pk, "automatic": True}


def test_a_crm_write_rerun_after_its_upsert_writes_one_contact():
    run = answered_run()
    crash_after_effect(run, "crm_write")
    assert recover()["expired"] == 1
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.SUCCEEDED
    assert Contact.objects.filter(lead=run.lead).count() == 1
    assert run.steps.get(name="crm_write").attempt == 2


def test_a_send_rerun_after_the_mail_went_out_sends_nothing_more():
    run = answered_run()
    crash_after_effect(run, "send")
    assert recover()["expired"] == 1
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.SUCCEEDED
    assert OutboundEmail.objects.get(run=run).state == OutboundEmail.State.SENT
    assert len(mail.outbox) == 1


def test_an_approval_not_yet_in_the_outbox_holds_back_a_second_automatic_reply():
    first = answered_run()
    # The first reply is approved but its email not created yet (its send step is still to run).
    OutboundEmail.objects.filter(run=first).delete()
    lead = first.lead
    second = engine.run_inline(
        "lead", lead=lead, submission=make_submission(lead, message=BUYER + " Any news?")
    )
    assert second.status == PipelineRun.Status.WAITING
    assert second.decision == "review" and "already got a reply" in second.decision_reason


def test_a_dry_run_approval_does_not_count_as_a_reply():
    dry = answered_run(dry_run=True)
    lead = dry.lead
    real = engine.run_inline("lead", lead=lead, submission=make_submission(lead, message=BUYER))
    assert real.status == PipelineRun.Status.SUCCEEDED and real.decision == "auto_send"
    assert len(mail.outbox) == 1
