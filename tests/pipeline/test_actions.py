"""The reviewer actions in pipeline/actions.py, against runs that really wait at the gate."""

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone
from django_q.models import OrmQ

from pipeline import actions
from pipeline.models import Draft, PipelineRun, ReviewAction, StepRun
from tests.factories import make_reviewer, make_waiting_draft

pytestmark = pytest.mark.django_db


def step(draft: Draft, name: str) -> StepRun:
    return StepRun.objects.get(run_id=draft.run_id, name=name)


def test_approve_completes_the_gate_and_queues_the_send_step(django_capture_on_commit_callbacks):
    reviewer = make_reviewer()
    draft = make_waiting_draft()
    with django_capture_on_commit_callbacks(execute=True):
        result = actions.approve_draft(draft, by=reviewer, version=1)
    assert result.status == "done"
    draft.refresh_from_db()
    assert (draft.status, draft.version, draft.decided_by) == ("approved", 2, reviewer)
    gate = step(draft, "gate")
    assert gate.status == StepRun.Status.SUCCEEDED
    assert gate.output == {
        "draft_id": draft.pk,
        "subject": draft.subject,
        "body": draft.body,
        "approved_by": reviewer.pk,
        "auto": False,
    }
    assert step(draft, "send").status == StepRun.Status.QUEUED
    # The send step went to the broker, not run by the view's process.
    assert OrmQ.objects.count() == 1
    assert ReviewAction.objects.get(draft=draft, action="approve").user == reviewer


def test_approve_with_edits_stores_a_revision_and_sends_the_edited_text():
    reviewer = make_reviewer()
    draft = make_waiting_draft(body="Hello,\nold line\nBye")
    result = actions.approve_draft(
        draft, by=reviewer, version=1, subject="New subject", body="Hello,\r\nnew line\r\nBye"
    )
    assert result.status == "done"
    revision = draft.revisions.get(number=2)
    assert (revision.subject, revision.body, revision.author) == (
        "New subject",
        "Hello,\nnew line\nBye",
        reviewer,
    )
    assert step(draft, "gate").output["body"] == "Hello,\nnew line\nBye"
    diff = ReviewAction.objects.get(draft=draft, action="edit").detail["diff"]
    assert "-old line" in diff and "+new line" in diff and "+Subject: New subject" in diff


def test_approve_with_a_stale_version_is_a_conflict_and_changes_nothing():
    alice, bob = make_reviewer("alice"), make_reviewer("bob")
    draft = make_waiting_draft()
    assert actions.edit_draft(draft, by=alice, version=1, subject="S", body="Alice's text").changed
    result = actions.approve_draft(draft, by=bob, version=1)
    assert result.status == "conflict"
    assert "alice changed this draft" in result.message
    assert result.draft.body == "Alice's text" and result.draft.version == 2
    assert step(draft, "gate").status == StepRun.Status.WAITING


def test_approving_an_approved_draft_is_a_noop_that_says_so():
    alice, bob = make_reviewer("alice"), make_reviewer("bob")
    draft = make_waiting_draft()
    actions.approve_draft(draft, by=alice, version=1)
    result = actions.approve_draft(draft, by=bob, version=1)
    assert result.status == "noop"
    assert result.message.startswith("Already approved by alice")
    assert ReviewAction.objects.filter(action="approve").count() == 1


def test_approve_is_refused_while_the_pipeline_is_not_waiting_yet():
    reviewer = make_reviewer()
    draft = make_waiting_draft()
    StepRun.objects.filter(run_id=draft.run_id, name="gate").update(status=StepRun.Status.QUEUED)
    result = actions.approve_draft(draft, by=reviewer, version=1)
    assert result.status == "invalid" and "not waiting" in result.message
    draft.refresh_from_db()
    assert (draft.status, draft.version) == ("pending", 1)


def test_an_empty_body_is_refused():
    result = actions.approve_draft(make_waiting_draft(), by=make_reviewer(), version=1, body=" ")
    assert result.status == "invalid"
    assert result.draft.status == "pending"


def test_edit_saves_a_new_revision_and_bumps_the_version():
    reviewer = make_reviewer()
    draft = make_waiting_draft()
    result = actions.edit_draft(draft, by=reviewer, version=1, subject="Hi there", body="Short.")
    assert result.status == "done" and result.message == "Saved as revision 2."
    draft.refresh_from_db()
    assert (draft.subject, draft.body, draft.version, draft.status) == (
        "Hi there",
        "Short.",
        2,
        "pending",
    )
    assert list(draft.revisions.values_list("number", flat=True)) == [1, 2]


def test_line_breaks_in_an_edited_subject_become_spaces():
    draft = make_waiting_draft()
    actions.edit_draft(
        draft, by=make_reviewer(), version=1, subject="Hi\r\nBcc: x@evil.example", body="Short."
    )
    draft.refresh_from_db()
    assert draft.subject == "Hi Bcc: x@evil.example"
    assert draft.revisions.get(number=2).subject == "Hi Bcc: x@evil.example"


def test_line_breaks_in_a_subject_edited_on_approval_become_spaces():
    draft = make_waiting_draft()
    actions.approve_draft(draft, by=make_reviewer(), version=1, subject="Demo\n\u2028next week")
    draft.refresh_from_db()
    assert (draft.status, draft.subject) == ("approved", "Demo next week")


def test_edit_without_changes_is_a_noop():
    draft = make_waiting_draft()
    result = actions.edit_draft(
        draft, by=make_reviewer(), version=1, subject=draft.subject, body=draft.body
    )
    assert result.status == "noop"
    assert draft.revisions.count() == 1


def test_two_edits_of_the_same_version_keep_the_first_and_refuse_the_second():
    alice, bob = make_reviewer("alice"), make_reviewer("bob")
    draft = make_waiting_draft()
    assert actions.edit_draft(draft, by=alice, version=1, subject="A", body="from alice").changed
    result = actions.edit_draft(draft, by=bob, version=1, subject="B", body="from bob")
    assert result.status == "conflict"
    draft.refresh_from_db()
    assert draft.body == "from alice"


def test_reject_ends_the_run_and_records_the_reason():
    reviewer = make_reviewer()
    draft = make_waiting_draft()
    result = actions.reject_draft(draft, by=reviewer, version=1, reason="Not a fit for us")
    assert result.status == "done"
    draft.refresh_from_db()
    assert (draft.status, draft.reject_reason, draft.decided_by) == (
        "rejected",
        "Not a fit for us",
        reviewer,
    )
    assert PipelineRun.objects.get(pk=draft.run_id).status == PipelineRun.Status.REJECTED
    assert step(draft, "gate").status == StepRun.Status.FAILED
    assert step(draft, "send").status == StepRun.Status.SKIPPED
    action = ReviewAction.objects.get(draft=draft, action="reject")
    assert action.detail["reason"] == "Not a fit for us"


def test_reject_needs_a_reason():
    draft = make_waiting_draft()
    result = actions.reject_draft(draft, by=make_reviewer(), version=1, reason="  ")
    assert result.status == "invalid"
    assert step(draft, "gate").status == StepRun.Status.WAITING


def test_reject_after_approve_is_a_conflict():
    alice, bob = make_reviewer("alice"), make_reviewer("bob")
    draft = make_waiting_draft()
    actions.approve_draft(draft, by=alice, version=1)
    result = actions.reject_draft(draft, by=bob, version=1, reason="spam")
    assert result.status == "conflict" and "alice approved" in result.message
    assert Draft.objects.get(pk=draft.pk).status == "approved"


def test_regenerate_reruns_only_the_drafting_step_with_the_instruction(
    django_capture_on_commit_callbacks,
):
    reviewer = make_reviewer()
    draft = make_waiting_draft()
    with django_capture_on_commit_callbacks(execute=True):
        result = actions.regenerate_draft(draft, by=reviewer, instruction="  shorter,  please ")
    assert result.status == "done"
    run = PipelineRun.objects.get(pk=draft.run_id)
    assert run.options["draft_instruction"] == "shorter, please"
    statuses = dict(run.steps.values_list("name", "status"))
    assert statuses["draft"] == StepRun.Status.QUEUED
    assert statuses["gate"] == statuses["send"] == StepRun.Status.PENDING
    assert statuses["classify"] == statuses["score_final"] == StepRun.Status.SUCCEEDED
    assert Draft.objects.get(pk=draft.pk).status == Draft.Status.SUPERSEDED
    assert OrmQ.objects.count() == 1
    assert ReviewAction.objects.get(action="regenerate").detail["instruction"] == (
        "shorter, please"
    )


def test_reassign_records_who_had_it_and_who_has_it_now():
    alice, bob = make_reviewer("alice"), make_reviewer("bob")
    draft = make_waiting_draft(assigned_to=alice)
    result = actions.reassign_draft(draft, by=alice, to=bob)
    assert result.status == "done" and result.draft.assigned_to == bob
    assert ReviewAction.objects.get(action="reassign").detail == {"from": "alice", "to": "bob"}
    assert actions.reassign_draft(draft, by=alice, to=bob).status == "noop"
    assert actions.reassign_draft(draft, by=alice, to=None).draft.assigned_to is None


def test_a_claim_is_shown_to_others_and_moves_with_the_reviewer():
    alice, bob = make_reviewer("alice"), make_reviewer("bob")
    first, second = make_waiting_draft(), make_waiting_draft()
    assert actions.claim_draft(first, by=alice).status == "done"
    held = actions.claim_draft(first, by=bob)
    assert held.status == "conflict" and held.message == "alice is reviewing this draft."
    actions.claim_draft(second, by=alice)
    assert Draft.objects.get(pk=first.pk).claimed_by is None
    assert actions.claim_draft(first, by=bob).draft.claimed_by == bob


def test_an_expired_claim_can_be_taken_and_renewals_are_not_audited():
    alice, bob = make_reviewer("alice"), make_reviewer("bob")
    draft = make_waiting_draft()
    actions.claim_draft(draft, by=alice)
    actions.claim_draft(draft, by=alice)
    assert ReviewAction.objects.filter(action="claim").count() == 1
    Draft.objects.filter(pk=draft.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert actions.claim_draft(draft, by=bob).draft.claimed_by == bob


def test_retry_run_requeues_the_failed_step_and_is_audited():
    reviewer = make_reviewer()
    draft = make_waiting_draft()
    run = PipelineRun.objects.get(pk=draft.run_id)
    StepRun.objects.filter(run=run, name="crm_write").update(
        status=StepRun.Status.FAILED, error="HubSpot answered 503"
    )
    PipelineRun.objects.filter(pk=run.pk).update(status=PipelineRun.Status.FAILED)
    result = actions.retry_run(run, by=reviewer)
    assert result.status == "done"
    assert step(draft, "crm_write").status == StepRun.Status.QUEUED
    assert ReviewAction.objects.get(action="retry").detail["run_id"] == run.pk
    assert actions.retry_run(run, by=reviewer).status == "noop"


@pytest.mark.django_db(transaction=True)
def test_two_reviewers_approving_at_once_send_one_reply():
    alice, bob = make_reviewer("alice"), make_reviewer("bob")
    draft = make_waiting_draft()
    barrier = threading.Barrier(2)
    results = {}

    def approve(user):
        try:
            barrier.wait()
            results[user.get_username()] = actions.approve_draft(draft, by=user, version=1)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=approve, args=(user,)) for user in (alice, bob)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(result.status for result in results.values()) == ["done", "noop"]
    assert ReviewAction.objects.filter(action="approve").count() == 1
    assert step(draft, "send").status == StepRun.Status.QUEUED
    assert OrmQ.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("other", ["cancel the run", "erase the lead"])
def test_an_approval_meeting_a_cancel_or_an_erase_waits_for_it_instead_of_deadlocking(
    other, monkeypatch, settings
):
    """The approval holds the draft and is about to resume the run's gate when staff cancel the
    run (or erase the lead): they take the draft before the run too, so they wait for it.
    Taking the run first deadlocked on PostgreSQL, an error page for one of the two people."""
    from pipeline.erase import erase_leads
    from tests.races import in_thread, wait_until_blocked

    settings.REVIEW_UNDO_SECONDS = 0
    alice, staff = make_reviewer("alice"), make_reviewer("staff")
    draft = make_waiting_draft()
    run = PipelineRun.objects.get(pk=draft.run_id)
    inside, go = threading.Event(), threading.Event()
    release = actions._release

    def paused_release(current):
        inside.set()
        assert go.wait(20)
        return release(current)

    monkeypatch.setattr(actions, "_release", paused_release)
    errors, results = [], []
    approving = in_thread(
        lambda: actions.approve_draft(draft, by=alice, version=1), errors, results
    )
    approving.start()
    assert inside.wait(10)
    if other == "cancel the run":
        work = lambda: actions.cancel_run(run, by=staff)  # noqa: E731
    else:
        work = lambda: erase_leads([draft.lead], by=staff, external_crms=False)  # noqa: E731
    stopping = in_thread(work, errors)
    stopping.start()
    wait_until_blocked()  # it waits for the approval's draft row
    go.set()
    approving.join(30)
    stopping.join(30)

    assert not errors, errors
    # A cancel waits, so the approval resumes the gate and the cancel then stops the send. An
    # erase cancels the run before its transaction, so on PostgreSQL the approval finds it
    # cancelled; on SQLite the approval's transaction holds the one write lock and goes first.
    expected = {"done"} if other == "cancel the run" else {"done", "conflict"}
    assert results[0].status in expected
    assert PipelineRun.objects.get(pk=run.pk).status == PipelineRun.Status.CANCELLED
    assert step(draft, "send").status == StepRun.Status.SKIPPED


def test_a_claim_is_held_until_it_expires():
    draft = make_waiting_draft()
    reviewer = make_reviewer()
    assert not draft.is_claim_held()
    actions.claim_draft(draft, by=reviewer)
    draft.refresh_from_db()
    assert draft.is_claim_held()
    assert not draft.is_claim_held(timezone.now() + timedelta(seconds=actions.CLAIM_SECONDS + 1))
