"""Approving starts an undo window: the reply is released for sending only after it."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from pipeline import actions
from pipeline.models import Draft, ReviewAction, StepRun
from tests.factories import make_reviewer, make_waiting_draft

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def undo_window(settings):
    settings.REVIEW_UNDO_SECONDS = 10


def status_of(draft: Draft, step: str) -> str:
    return StepRun.objects.get(run_id=draft.run_id, name=step).status


def expire_window(draft: Draft) -> None:
    Draft.objects.filter(pk=draft.pk).update(send_at=timezone.now() - timedelta(seconds=1))


def test_approving_holds_the_reply_for_the_undo_window():
    reviewer = make_reviewer()
    draft = make_waiting_draft()
    result = actions.approve_draft(draft, by=reviewer, version=1)
    assert result.message == "Approved: sending in 10 s (Undo takes it back)."
    draft.refresh_from_db()
    assert draft.status == Draft.Status.APPROVED
    assert draft.send_at > timezone.now() + timedelta(seconds=8)
    assert status_of(draft, "gate") == "waiting"
    assert status_of(draft, "send") == "pending"
    assert actions.release_due_approvals() == 0


def test_undo_puts_the_draft_back_in_the_queue_and_nothing_is_released():
    reviewer = make_reviewer()
    draft = make_waiting_draft()
    actions.approve_draft(draft, by=reviewer, version=1)
    result = actions.undo_approval(draft, by=reviewer)
    assert (result.status, result.message) == (
        "done",
        "Undone: nothing was sent; the draft waits for review.",
    )
    draft.refresh_from_db()
    assert (draft.status, draft.version, draft.send_at, draft.decided_by) == (
        "pending",
        3,
        None,
        None,
    )
    expire_window(draft)
    assert actions.release_due_approvals() == 0
    assert status_of(draft, "gate") == "waiting"
    assert ReviewAction.objects.filter(draft=draft, action="undo").count() == 1
    # ...and it can be approved again.
    assert actions.approve_draft(draft, by=reviewer, version=3).status == "done"


def test_after_the_window_the_approval_is_released_once_and_undo_is_too_late():
    reviewer = make_reviewer()
    draft = make_waiting_draft()
    actions.approve_draft(draft, by=reviewer, version=1, subject="Edited", body="New body")
    expire_window(draft)
    assert actions.undo_approval(draft, by=reviewer).message == (
        "Too late to undo: the reply is already on its way."
    )
    assert actions.release_approval(draft.pk) is True
    assert actions.release_approval(draft.pk) is False
    assert actions.release_due_approvals() == 0
    gate = StepRun.objects.get(run_id=draft.run_id, name="gate")
    assert gate.status == "succeeded"
    assert (gate.output["subject"], gate.output["body"]) == ("Edited", "New body")
    assert gate.output["approved_by"] == reviewer.pk
    assert status_of(draft, "send") == "queued"
    assert actions.undo_approval(draft, by=reviewer).status == "conflict"


def run_due_schedules() -> list[tuple[str, tuple]]:
    """What a django-q2 cluster does: its scheduler turns due schedules into queued tasks,
    then workers run every queued task (the send step too). Returns the releases it ran."""
    import pydoc

    from django_q.brokers import get_broker
    from django_q.scheduler import scheduler
    from django_q.signing import SignedPackage

    broker = get_broker()
    scheduler(broker=broker)
    ran = []
    while broker.queue_size():
        for task_id, payload in broker.dequeue() or []:
            task = SignedPackage.loads(payload)
            pydoc.locate(task["func"])(*task["args"], **task["kwargs"])
            broker.acknowledge(task_id)
            ran.append((task["func"], task["args"]))
    # Other schedules (the sweep, the dashboard) are due too; they are not the subject here.
    return [(func, args) for func, args in ran if func == "pipeline.actions.release_approval"]


@pytest.mark.django_db(transaction=True)  # the scheduler closes old connections
def test_the_release_is_a_schedule_due_when_the_window_ends_and_no_worker_waits(
    settings, mailoutbox
):
    from django_q.models import Schedule

    settings.REVIEW_UNDO_SECONDS = 1
    reviewer = make_reviewer()
    draft = make_waiting_draft()
    actions.approve_draft(draft, by=reviewer, version=1)
    draft.refresh_from_db()
    schedule = Schedule.objects.get(name=actions.release_schedule_name(draft.pk))
    assert (schedule.func, schedule.args, schedule.next_run) == (
        "pipeline.actions.release_approval",
        str(draft.pk),
        draft.send_at,
    )
    started = time.monotonic()
    assert actions.release_approval(draft.pk) is False  # not due: answers at once
    assert time.monotonic() - started < 0.5
    assert run_due_schedules() == []
    assert status_of(draft, "gate") == "waiting"

    time.sleep(1.1)
    assert run_due_schedules() == [("pipeline.actions.release_approval", (draft.pk,))]
    assert status_of(draft, "gate") == "succeeded"
    assert status_of(draft, "send") == "succeeded"
    assert [message.to for message in mailoutbox] == [[draft.lead.email]]
    assert not Schedule.objects.filter(name=actions.release_schedule_name(draft.pk)).exists()
    assert run_due_schedules() == []
    assert len(mailoutbox) == 1


@pytest.mark.django_db(transaction=True)  # the scheduler closes old connections
def test_undo_removes_the_scheduled_release_and_a_new_approval_moves_it(settings, mailoutbox):
    from django_q.models import Schedule

    settings.REVIEW_UNDO_SECONDS = 1
    reviewer = make_reviewer()
    draft = make_waiting_draft()
    name = actions.release_schedule_name(draft.pk)
    actions.approve_draft(draft, by=reviewer, version=1)
    actions.undo_approval(draft, by=reviewer)
    assert not Schedule.objects.filter(name=name).exists()
    time.sleep(1.1)
    assert run_due_schedules() == []
    assert status_of(draft, "gate") == "waiting"
    assert mailoutbox == []

    settings.REVIEW_UNDO_SECONDS = 30
    actions.approve_draft(draft, by=reviewer, version=3)
    draft.refresh_from_db()
    assert Schedule.objects.get(name=name).next_run == draft.send_at
    assert draft.send_at > timezone.now() + timedelta(seconds=25)


def test_the_undo_button_answers_with_the_draft_back_in_review(client):
    reviewer = make_reviewer()
    client.force_login(reviewer)
    draft = make_waiting_draft()
    response = client.post(
        f"/drafts/{draft.pk}/approve/", {"version": 1}, headers={"HX-Request": "true"}
    )
    assert "sending in" in response.content.decode()
    response = client.post(f"/drafts/{draft.pk}/undo/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "Undone: nothing was sent" in response.content.decode()
    assert "queue-refresh" in response.headers["HX-Trigger"]
    draft.refresh_from_db()
    assert draft.status == "pending"
