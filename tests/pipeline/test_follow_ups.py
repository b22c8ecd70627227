"""Follow-up cadences: after the first email, follow-ups wait for their day, are drafted with the
thread, decided, sent threaded on the first email, and stop for every reason the lead gives."""

import threading
import time
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection, connections
from django.utils import timezone

from pipeline import actions, engine
from pipeline.followups import DEFAULT_CADENCES, stop_reason
from pipeline.intake.receive import process_submission, receive_submission
from pipeline.integrations import email_providers
from pipeline.models import (
    CadenceConfig,
    Draft,
    FollowUp,
    FollowUpPlan,
    InboundReply,
    Lead,
    OutboundEmail,
    PipelineRun,
    StepRun,
    Submission,
)
from pipeline.outcomes import record_outcome
from pipeline.unsubscribe import unsubscribe_lead
from tests.factories import BUYER, make_lead, make_reviewer, make_submission
from tests.fakes.smtp import FakeSMTP
from tests.intake_helpers import deliver, make_source

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("rules_business")]


def drive(run: PipelineRun) -> None:
    """Run the run's queued steps in this process (a worker would take them from the queue)."""
    queued = list(run.steps.filter(status=StepRun.Status.QUEUED).values_list("pk", flat=True))
    engine.continue_inline(lambda dispatch: [dispatch(pk) for pk in queued])


def sweep() -> dict:
    return engine.continue_inline(lambda dispatch: engine.sweep(dispatch=dispatch))


def first_email_sent(email="dana@northwind-logistics.example") -> FollowUpPlan:
    """A high-intent lead's first reply sent automatically, and its follow-up 1 started."""
    lead = make_lead(email=email, name="Dana Whitfield", company="Northwind Logistics")
    submission = make_submission(lead, message=BUYER, email=email, name="Dana Whitfield")
    run = engine.run_inline("lead", lead=lead, submission=submission)
    assert run.status == PipelineRun.Status.SUCCEEDED, run.error
    plan = FollowUpPlan.objects.get(lead=lead)
    drive(plan.follow_ups.get(number=1).run)
    return plan


def follow_up_run(plan: FollowUpPlan, number: int = 1) -> PipelineRun:
    return FollowUp.objects.get(plan=plan, number=number).run


def steps_of(run: PipelineRun) -> dict[str, StepRun]:
    return {step.name: step for step in run.steps.all()}


def at_day(plan: FollowUpPlan, days: float):
    return time_machine.travel(plan.first_email.sent_at + timedelta(days=days), tick=True)


def test_after_the_first_email_follow_up_one_waits_for_day_two():
    plan = first_email_sent()

    wait = steps_of(follow_up_run(plan))["wait"]
    assert plan.label == "high_intent"
    assert plan.steps == DEFAULT_CADENCES["high_intent"]
    assert wait.status == StepRun.Status.WAITING
    assert wait.wake_at == plan.first_email.sent_at + timedelta(days=2)
    assert len(mail.outbox) == 1


def test_on_its_day_the_follow_up_is_drafted_for_review_and_sent_threaded_once_approved():
    plan = first_email_sent()
    first = plan.first_email

    with at_day(plan, 2.01):
        assert sweep()["woken"] == 1
    run = follow_up_run(plan)
    draft = Draft.objects.get(run=run)
    assert draft.status == Draft.Status.PENDING and draft.subject == f"Re: {first.subject}"
    assert "Follow-up 1 of 2" in draft.decision_reason and len(mail.outbox) == 1

    result = engine.continue_inline(
        lambda dispatch: actions.approve_draft(draft, by=make_reviewer(), version=draft.version)
    )
    drive(run)

    assert result.status == "done"
    email = OutboundEmail.objects.get(run=run)
    assert (email.kind, email.state) == ("follow_up_1", OutboundEmail.State.SENT)
    sent = mail.outbox[-1].message()
    assert sent["In-Reply-To"] == first.message_id
    assert sent["References"] == first.message_id
    assert sent["Subject"] == f"Re: {first.subject}"
    # The next follow-up started, waiting for day 6.
    drive(follow_up_run(plan, 2))
    second = steps_of(follow_up_run(plan, 2))
    assert second["wait"].wake_at == first.sent_at + timedelta(days=6)


def test_an_auto_send_step_goes_out_on_its_own_and_the_next_references_the_whole_thread():
    cadences = {
        "high_intent": [
            {"day": 2, "instruction": "", "auto_send": True},
            {"day": 6, "instruction": "", "auto_send": True},
        ]
    }
    CadenceConfig.objects.create(cadences=cadences)
    plan = first_email_sent()

    with at_day(plan, 2.01):
        sweep()
        drive(follow_up_run(plan, 2))
    with at_day(plan, 6.01):
        sweep()

    emails = list(OutboundEmail.objects.filter(lead=plan.lead).order_by("pk"))
    assert [email.kind for email in emails] == ["first_reply", "follow_up_1", "follow_up_2"]
    assert all(email.state == OutboundEmail.State.SENT for email in emails)
    assert (
        mail.outbox[-1].message()["References"] == f"{emails[0].message_id} {emails[1].message_id}"
    )
    assert mail.outbox[-1].message()["In-Reply-To"] == emails[0].message_id
    assert len(mail.outbox) == 3
    assert plan.cadence_version == CadenceConfig.objects.get().version


def reply(plan):
    source, secret = make_source("Inbound")
    payload = {
        "from": plan.lead.email,
        "text": "Yes, Tuesday works.",
        "in_reply_to": plan.first_email.message_id,
    }
    assert deliver(_client(), source, secret, payload, door="inbound").status_code == 202


def _client():
    from django.test import Client

    return Client()


def submit_again(plan):
    receive_submission(
        {"name": "Dana", "email": plan.lead.email, "message": "Also, do you integrate with SAP?"},
        channel=Submission.Channel.FORM,
        start_run=False,
    )


def submit_again_deferred(plan):
    # WEBHOOK_DEFER: stored with no person, then the worker's half (process_submission).
    submission = Submission.objects.create(
        channel=Submission.Channel.WEBHOOK, email=plan.lead.email, message="Any news?"
    )
    process_submission(submission.pk)
    assert Submission.objects.get(pk=submission.pk).lead_id == plan.lead_id


def bounce(plan):
    OutboundEmail.objects.filter(pk=plan.first_email_id).update(provider_message_id="pm-1")
    email_providers.record_event(message_id="pm-1", event_type="bounced", esp_name="postmark")


def staff_stop(plan):
    client = _client()
    client.force_login(make_reviewer())
    response = client.post(f"/leads/{plan.lead_id}/follow-ups/stop/", {"reason": "spoke by phone"})
    assert response.status_code == 302


STOPS = {
    "replied": (reply, "the lead replied"),
    "unsubscribed": (lambda plan: unsubscribe_lead(plan.lead_id, via="link"), "unsubscribed"),
    "submitted again": (submit_again, "the lead submitted again"),
    "submitted again, deferred": (submit_again_deferred, "the lead submitted again"),
    "won": (lambda plan: record_outcome(plan.lead, outcome="won"), "marked won"),
    "lost": (lambda plan: record_outcome(plan.lead, outcome="lost"), "marked lost"),
    "not interested": (
        lambda plan: record_outcome(plan.lead, outcome="not_interested"),
        "marked not interested",
    ),
    "bounced": (bounce, "bounced"),
    "staff": (staff_stop, "stopped by"),
}


@pytest.mark.parametrize("stop", list(STOPS), ids=list(STOPS))
def test_every_stop_condition_cancels_the_waiting_follow_up_and_nothing_more_is_sent(stop):
    plan = first_email_sent()
    action, words = STOPS[stop]

    action(plan)
    with at_day(plan, 30):
        counts = sweep()

    plan.refresh_from_db()
    run = follow_up_run(plan)
    assert words in plan.stop_reason
    assert run.status == PipelineRun.Status.CANCELLED
    wait = steps_of(run)["wait"]
    assert wait.status == StepRun.Status.SKIPPED and words in wait.skip_reason
    assert counts["woken"] == 0
    assert not OutboundEmail.objects.filter(lead=plan.lead, kind__startswith="follow_up").exists()
    assert len(mail.outbox) == 1


def test_a_stop_the_cancel_missed_still_holds_the_follow_up_at_its_own_check():
    plan = first_email_sent()
    # A reply stored without its after-commit stop (a crash at the wrong moment).
    InboundReply.objects.create(lead=plan.lead, from_address=plan.lead.email, text="No thanks")

    with at_day(plan, 2.01):
        sweep()

    steps = steps_of(follow_up_run(plan))
    assert steps["draft"].status == StepRun.Status.SKIPPED
    assert steps["draft"].skip_reason == "follow-ups stopped: the lead replied"
    assert steps["send"].status == StepRun.Status.SKIPPED
    assert not Draft.objects.filter(run=follow_up_run(plan)).exists()
    assert len(mail.outbox) == 1


def test_a_resubmission_no_worker_has_joined_yet_holds_the_follow_up_at_its_own_check():
    plan = first_email_sent()
    # WEBHOOK_DEFER: stored, its worker not come yet (a backlog, or its message lost).
    Submission.objects.create(
        channel=Submission.Channel.WEBHOOK, email=plan.lead.email.upper(), message="Any news?"
    )

    with at_day(plan, 2.01):
        sweep()

    steps = steps_of(follow_up_run(plan))
    assert steps["draft"].status == StepRun.Status.SKIPPED
    assert steps["draft"].skip_reason == "follow-ups stopped: the lead submitted again"
    assert len(mail.outbox) == 1


def test_stopping_takes_back_a_follow_up_draft_waiting_in_review():
    plan = first_email_sent()
    with at_day(plan, 2.01):
        sweep()
    draft = Draft.objects.get(run=follow_up_run(plan))

    record_outcome(plan.lead, outcome="won")

    draft.refresh_from_db()
    assert draft.status == Draft.Status.REJECTED
    assert draft.reject_reason == "follow-ups stopped: marked won"
    assert follow_up_run(plan).status == PipelineRun.Status.CANCELLED


def test_a_low_intent_lead_gets_one_follow_up_on_day_ten():
    lead = make_lead(email="kim@kimco.example", label="low_intent")
    run = engine.start("test-gated", lead=lead, dispatch=lambda _: None)
    email, _ = _sent_email(lead, run)

    from pipeline.followups import start_follow_ups

    plan = start_follow_ups(email.pk)

    assert [follow_up.due_at for follow_up in plan.follow_ups.all()] == [
        email.sent_at + timedelta(days=10)
    ]
    assert start_follow_ups(email.pk) == plan  # a re-run of the send step starts nothing more
    assert FollowUpPlan.objects.filter(lead=lead).count() == 1


def _sent_email(lead, run):
    from pipeline.integrations import outbox

    email, created = outbox.queue_email(
        lead=lead, kind="first_reply", subject="Hi", body="b", run=run
    )
    OutboundEmail.objects.filter(pk=email.pk).update(
        state=OutboundEmail.State.SENT, sent_at=timezone.now()
    )
    email.refresh_from_db()
    return email, created


def test_admins_edit_the_cadences_in_the_browser_as_versions_and_plans_keep_theirs(client):
    plan = first_email_sent()
    admin = make_reviewer(group="Admins")
    client.force_login(admin)
    page = client.get("/cadences/")
    assert page.status_code == 200 and 'value="2"' in page.content.decode()

    response = client.post(
        "/cadences/",
        {
            "based_on": "",
            "high_intent-0-day": "3",
            "high_intent-0-instruction": "Mention the pilot.",
            "high_intent-0-auto_send": "on",
            "low_intent-0-day": "14",
            "note": "slower",
        },
    )

    assert response.status_code == 302
    row = CadenceConfig.current()
    assert row.cadences == {
        "high_intent": [{"day": 3, "instruction": "Mention the pilot.", "auto_send": True}],
        "low_intent": [{"day": 14, "instruction": "", "auto_send": False}],
    }
    assert row.created_by == admin and row.note == "slower"
    plan.refresh_from_db()
    assert plan.steps == DEFAULT_CADENCES["high_intent"]


def test_days_that_do_not_grow_are_refused_saying_why(client):
    client.force_login(make_reviewer(group="Admins"))

    response = client.post("/cadences/", {"high_intent-0-day": "6", "high_intent-1-day": "2"})

    assert response.status_code == 422
    assert "the days must grow" in response.content.decode()
    assert not CadenceConfig.objects.exists()


def test_reviewers_cannot_edit_cadences(client):
    client.force_login(make_reviewer())

    assert client.get("/cadences/").status_code == 403


def test_the_lead_page_shows_the_cadence_what_was_sent_and_what_is_due(client):
    plan = first_email_sent()
    client.force_login(make_reviewer())

    page = client.get(f"/leads/{plan.lead_id}/").content.decode()

    assert 'id="cadence-' in page and "day 2" in page and "day 6" in page
    assert 'id="stop-follow-ups"' in page
    stop_reason_now = stop_reason(plan)
    assert stop_reason_now is None
    Lead.objects.filter(pk=plan.lead_id).update(unsubscribed_at=timezone.now())
    page = client.get(f"/leads/{plan.lead_id}/").content.decode()
    assert "Stopped: the lead unsubscribed" in page and 'id="stop-follow-ups"' not in page


# --- Races with a stop ----------------------------------------------------------------------


AUTO_SEND = {
    "high_intent": [
        {"day": 2, "instruction": "", "auto_send": True},
        {"day": 6, "instruction": "", "auto_send": True},
    ]
}


def in_a_thread_of_its_own(action):
    """`action` for a server's callback thread: its database connection closed after."""

    def run():
        try:
            action()
        finally:
            connections.close_all()

    return run


def wait_until(condition, *, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_staff_stopping_while_the_follow_up_is_being_drafted_leaves_no_draft_and_sends_nothing(
    settings, fake_anthropic
):
    plan = first_email_sent()
    # Claude takes two seconds to write the follow-up: staff stop the plan meanwhile.
    settings.AGENT_STRATEGY = {**settings.AGENT_STRATEGY, "draft": "claude"}
    fake_anthropic.latency = 2.0
    errors = []

    def worker():
        try:
            sweep()
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    with at_day(plan, 2.01):
        thread = threading.Thread(target=worker)
        thread.start()
        wait_until(lambda: len(fake_anthropic.requests) == 1)
        assert steps_of(follow_up_run(plan))["draft"].status == StepRun.Status.RUNNING
        staff_stop(plan)
        assert follow_up_run(plan).status == PipelineRun.Status.CANCELLED
        thread.join(timeout=30)

    run = follow_up_run(plan)
    steps = steps_of(run)
    assert not errors and not thread.is_alive()
    assert run.status == PipelineRun.Status.CANCELLED
    assert steps["draft"].status == StepRun.Status.SUCCEEDED
    assert steps["draft"].output["draft_id"] is None
    assert steps["gate"].status == steps["send"].status == StepRun.Status.SKIPPED
    assert not Draft.objects.filter(run=run).exists()
    assert not OutboundEmail.objects.filter(run=run).exists()
    assert len(mail.outbox) == 1


def test_a_reply_arriving_while_the_follow_up_is_being_sent_stops_it(settings):
    CadenceConfig.objects.create(cadences=AUTO_SEND)
    plan = first_email_sent()

    with FakeSMTP() as smtp:
        smtp.use_in(settings)
        # The mail server is slow to answer; the lead's reply comes in meanwhile.
        smtp.on_connect(in_a_thread_of_its_own(lambda: reply(plan)))
        with at_day(plan, 2.01):
            sweep()

    run = follow_up_run(plan)
    email = OutboundEmail.objects.get(run=run)
    plan.refresh_from_db()
    assert smtp.messages == []
    assert email.state == OutboundEmail.State.CANCELLED and email.attempts == 0
    assert email.error == "follow-ups stopped: the lead replied"
    assert plan.stop_reason == "the lead replied"
    assert run.status == PipelineRun.Status.CANCELLED
    assert not FollowUp.objects.filter(plan=plan, number=2).exists()


def test_a_reply_whose_stop_was_lost_still_holds_the_follow_up_at_the_last_check(settings):
    CadenceConfig.objects.create(cadences=AUTO_SEND)
    plan = first_email_sent()

    def reply_stored_without_its_stop():
        # The reply was stored, then the process died before its stop_follow_ups ran.
        InboundReply.objects.create(lead=plan.lead, from_address=plan.lead.email, text="Stop")

    with FakeSMTP() as smtp:
        smtp.use_in(settings)
        smtp.on_connect(in_a_thread_of_its_own(reply_stored_without_its_stop))
        with at_day(plan, 2.01):
            sweep()

    run = follow_up_run(plan)
    email = OutboundEmail.objects.get(run=run)
    assert smtp.messages == []
    assert email.state == OutboundEmail.State.CANCELLED and email.attempts == 0
    assert email.error == "follow-ups stopped: the lead replied"
    assert steps_of(run)["send"].output["state"] == OutboundEmail.State.CANCELLED
    assert not FollowUp.objects.filter(plan=plan, number=2).exists()


def test_with_nothing_in_the_way_the_auto_sent_follow_up_reaches_the_mail_server(settings):
    CadenceConfig.objects.create(cadences=AUTO_SEND)
    plan = first_email_sent()

    with FakeSMTP() as smtp:
        smtp.use_in(settings)
        with at_day(plan, 2.01):
            sweep()

    email = OutboundEmail.objects.get(run=follow_up_run(plan))
    assert email.state == OutboundEmail.State.SENT
    assert [received.message["Message-ID"] for received in smtp.messages] == [email.message_id]
    assert FollowUp.objects.filter(plan=plan, number=2).exists()


def test_staff_stopping_while_the_follow_up_is_being_claimed_neither_deadlocks_nor_sends(
    settings, monkeypatch
):
    """The claim's last check takes the plan's lock; the stop takes the plan's, then cancels the
    queued email: both take the plan first, so neither waits for the other in a circle (it was
    email then plan in the claim: PostgreSQL broke the deadlock by failing one of the two)."""
    from pipeline import followup_steps
    from tests.races import in_thread

    CadenceConfig.objects.create(cadences=AUTO_SEND)
    plan = first_email_sent()
    inside, go = threading.Event(), threading.Event()
    last_check = followup_steps.send_refusal

    def paused_last_check(plan_id):
        inside.set()
        assert go.wait(30), "the test never let the claim go on"
        return last_check(plan_id)

    monkeypatch.setattr(followup_steps, "send_refusal", paused_last_check)
    errors: list[BaseException] = []
    with FakeSMTP() as smtp:
        smtp.use_in(settings)
        with at_day(plan, 2.01):
            worker = in_thread(sweep, errors)
            worker.start()
            assert inside.wait(30), "the follow-up never reached its last check"
            stopper = in_thread(lambda: staff_stop(plan), errors)
            stopper.start()
            stopper.join(3)  # it finishes, or waits for a lock the claim holds
            go.set()
            stopper.join(30)
            worker.join(30)

    assert not errors, errors
    run = follow_up_run(plan)
    email = OutboundEmail.objects.get(run=run)
    plan.refresh_from_db()
    assert plan.stop_reason.endswith(": spoke by phone")
    # Not failed by a deadlock: the send step finished, having seen the stop or not.
    send = steps_of(run)["send"]
    assert send.status == StepRun.Status.SUCCEEDED and send.output["state"] == email.state
    if connection.vendor == "sqlite":
        # The claim's transaction holds SQLite's one write lock from its BEGIN IMMEDIATE: the
        # stop waits for it, so the email went out and the stop came after.
        assert [m.message["Message-ID"] for m in smtp.messages] == [email.message_id]
        assert email.state == OutboundEmail.State.SENT
    else:
        # The paused claim held no lock yet: the stop went first, and the claim saw it.
        assert smtp.messages == []
        assert email.state == OutboundEmail.State.CANCELLED and email.attempts == 0
