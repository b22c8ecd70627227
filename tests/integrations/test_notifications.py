"""Owners and escalation: round-robin owners, Slack (Block Kit) and email notifications with
retries against a local Slack, and review SLA escalation once per draft."""

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connections
from django.utils import timezone

from pipeline import maintenance, notifications
from pipeline.intake.receive import receive_submission
from pipeline.models import Draft, Lead, Notification, OwnerRule, Submission
from pipeline.owners import assign_owner
from tests.factories import make_lead, make_reviewer, make_waiting_draft
from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import FakeSMTP
from tests.intake_helpers import make_source

pytestmark = pytest.mark.django_db

# A Wednesday, 10:00 UTC (TIME_ZONE is UTC in the tests).
WEDNESDAY_10 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def slack(settings):
    with FakeSlack() as fake:
        settings.SLACK_WEBHOOK_URL = fake.webhook_url
        settings.NOTIFY_BACKOFF_SECONDS = 0.01
        yield fake


@pytest.fixture
def smtp(settings):
    """A local mail server for the email notifications (to ESCALATION_EMAIL); no Slack."""
    with FakeSMTP() as server:
        server.use_in(settings)
        settings.SLACK_WEBHOOK_URL = ""
        settings.ESCALATION_EMAIL = "escalations@acme.example"
        settings.NOTIFY_BACKOFF_SECONDS = 0.01
        yield server


def notify_reply(key="reply:1") -> Notification:
    notifications.notify("reply", make_lead(), key=key, title="The lead replied", reason="x")
    return Notification.objects.get()


def deliver_all():
    for pk in Notification.objects.filter(state="pending").values_list("pk", flat=True):
        notifications.deliver(pk)


# --- Owners -----------------------------------------------------------------------------------


def test_round_robin_shares_new_leads_evenly_and_in_turn():
    people = [make_reviewer(f"rep{number}") for number in range(3)]
    make_reviewer("boss", group="Admins")  # not a Reviewer: gets no leads

    owners = [assign_owner(make_lead()) for _ in range(30)]

    assert Counter(owners) == {person.pk: 10 for person in people}
    assert owners[:6] == [person.pk for person in people] * 2


def test_a_source_rule_beats_the_round_robin_and_intake_assigns_the_owner():
    make_reviewer("rep")
    partner = make_reviewer("partner-manager")
    source, _ = make_source("Partner portal")
    OwnerRule.objects.create(source=source, owner=partner)

    receipt = receive_submission(
        {"name": "Kim", "email": "kim@kimco.example", "message": "Hi"},
        channel=Submission.Channel.WEBHOOK,
        source=source,
        start_run=False,
    )

    assert Lead.objects.get(pk=receipt.lead_id).owner == partner


def test_staff_reassign_the_owner_on_the_lead_page(client):
    rep, other = make_reviewer("rep"), make_reviewer("other")
    lead = make_lead(owner=rep)
    client.force_login(rep)

    response = client.post(f"/leads/{lead.pk}/owner/", {"owner": other.pk})

    assert response.status_code == 302
    assert Lead.objects.get(pk=lead.pk).owner == other
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert f'<option value="{other.pk}" selected>other</option>' in page
    assert "changed the owner" in page


def test_only_an_active_reviewer_can_be_made_the_owner(client):
    """Not a deactivated account or one without rights: it would get the lead's notifications."""
    from django.contrib.auth import get_user_model

    rep = make_reviewer("rep")
    gone = make_reviewer("left-company")
    get_user_model().objects.filter(pk=gone.pk).update(is_active=False)
    stranger = get_user_model().objects.create_user("stranger", "s@personal.example", "pw")
    lead = make_lead(owner=rep)
    client.force_login(rep)

    for chosen in (gone.pk, stranger.pk, "²", "9" * 30, "999999"):
        response = client.post(f"/leads/{lead.pk}/owner/", {"owner": chosen}, follow=True)
        assert response.status_code == 200
        assert "Only an active reviewer can own a lead." in response.content.decode()
    assert Lead.objects.get(pk=lead.pk).owner == rep
    client.post(f"/leads/{lead.pk}/owner/", {"owner": ""})
    assert Lead.objects.get(pk=lead.pk).owner is None  # nobody is a choice


# --- Slack ------------------------------------------------------------------------------------


def test_the_slack_message_is_block_kit_with_the_lead_score_reason_and_link(slack, settings):
    lead = make_lead(name="Dana Reyes", company="Northwind", score=91)

    notifications.notify(
        "hot_lead", lead, key="hot_lead:1", title="Hot lead", reason="scored 91 (escalation at 80)"
    )
    deliver_all()

    (message,) = slack.messages()
    header, section, actions = message["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "Hot lead"}}
    assert [field["text"] for field in section["fields"]] == [
        "Lead: Dana Reyes",
        "Company: Northwind",
        "Score: 91",
        "Why: scored 91 (escalation at 80)",
    ]
    assert all(field["type"] == "plain_text" for field in section["fields"])
    assert actions["elements"][0]["url"] == f"{settings.PUBLIC_BASE_URL}/leads/{lead.pk}/"
    assert message["text"] == "Hot lead: Dana Reyes (score 91)"


def test_slack_500_and_429_are_retried_until_it_takes_the_message(slack):
    slack.answer(500, "internal_error")
    slack.answer(429, "rate_limited", headers={"Retry-After": "0"})
    notifications.notify("reply", make_lead(), key="reply:1", title="The lead replied", reason="x")

    deliver_all()

    row = Notification.objects.get(channel="slack")
    assert (row.state, row.attempts) == ("sent", 3)
    assert len(slack.requests) == 3


def test_a_429_asking_to_wait_long_is_left_to_the_sweep_then_sent(slack):
    slack.answer(429, "rate_limited", headers={"Retry-After": "30"})
    notifications.notify("reply", make_lead(), key="reply:2", title="The lead replied", reason="x")

    deliver_all()
    row = Notification.objects.get(channel="slack")
    assert (row.state, row.attempts) == ("pending", 1)
    assert row.next_attempt_at > timezone.now() + timedelta(seconds=25)

    with time_machine.travel(timezone.now() + timedelta(seconds=31), tick=True):
        maintenance.sweep()

    row.refresh_from_db()
    assert (row.state, row.attempts) == ("sent", 2)


def test_slack_failing_every_time_ends_failed_with_the_reason(slack, settings):
    settings.NOTIFY_MAX_ATTEMPTS = 3
    for _ in range(3):
        slack.answer(503, "unavailable")
    notifications.notify("reply", make_lead(), key="reply:3", title="The lead replied", reason="x")

    deliver_all()

    row = Notification.objects.get(channel="slack")
    assert (row.state, row.attempts) == ("failed", 3)
    assert "503" in row.error


def test_a_slack_400_is_not_retried(slack):
    slack.answer(400, "invalid_blocks")
    notifications.notify("reply", make_lead(), key="reply:4", title="The lead replied", reason="x")

    deliver_all()

    row = Notification.objects.get(channel="slack")
    assert (row.state, row.attempts) == ("failed", 1)


def test_the_owner_gets_an_email_and_an_event_notifies_once(slack):
    owner = make_reviewer("rep", email="rep@acme.example")
    lead = make_lead(name="Dana Reyes", owner=owner, score=85)

    for _ in range(2):
        notifications.notify("reply", lead, key="reply:9", title="The lead replied", reason="yes")
    deliver_all()

    assert Notification.objects.count() == 2  # one email, one Slack message
    (email,) = mail.outbox
    assert email.to == ["rep@acme.example"]
    assert "The lead replied: Dana Reyes" in email.subject
    assert f"/leads/{lead.pk}/" in email.body and "Score: 85" in email.body


# --- Durable delivery: claims, leases, the sweep, what is retried -----------------------------


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_one_notification_deliver_it_once(slack):
    slack.answer(delay=1.0)  # Slack is slow to answer: both workers are at it at once
    row = notify_reply()
    barrier = threading.Barrier(2)
    states: list[str] = []

    def worker():
        try:
            barrier.wait()
            states.append(notifications.deliver(row.pk))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    row.refresh_from_db()
    assert sorted(states) == ["pending", "sent"]
    assert len(slack.requests) == 1
    assert (row.state, row.attempts, row.lease_expires_at) == ("sent", 1, None)


def test_a_notification_whose_task_was_lost_is_delivered_by_the_sweep(slack):
    # The test's transaction never commits, so notify()'s queued task never runs: a lost task.
    row = notify_reply()
    queued_at = row.created_at

    with time_machine.travel(queued_at + timedelta(seconds=50), tick=False):
        maintenance.sweep()
    assert slack.requests == []

    with time_machine.travel(queued_at + timedelta(seconds=61), tick=False):
        counts = maintenance.sweep()

    row.refresh_from_db()
    assert counts["notifications_sent"] == 1
    assert (row.state, row.attempts) == ("sent", 1)
    assert len(slack.requests) == 1


def test_a_notification_whose_worker_died_is_delivered_again_once_its_lease_runs_out(slack):
    row = notify_reply()
    # A worker claimed the attempt, then died before it reached Slack.
    lease = notifications.claim(row.pk)
    assert lease is not None and notifications.claim(row.pk) is None

    notifications.deliver(row.pk)  # a duplicate task while the lease holds: nothing happens
    maintenance.sweep()
    assert slack.requests == []

    with time_machine.travel(lease + timedelta(seconds=1), tick=False):
        maintenance.sweep()

    row.refresh_from_db()
    assert (row.state, row.attempts) == ("sent", 2)
    assert len(slack.requests) == 1


def test_a_worker_dying_on_the_last_attempt_leaves_the_notification_failed(slack, settings):
    settings.NOTIFY_MAX_ATTEMPTS = 1
    row = notify_reply()
    lease = notifications.claim(row.pk)

    with time_machine.travel(lease + timedelta(seconds=1), tick=False):
        maintenance.sweep()

    row.refresh_from_db()
    assert (row.state, row.attempts) == ("failed", 1)
    assert "stopped on its last attempt; it may have arrived" in row.error
    assert slack.requests == []


def test_a_slack_timeout_is_retried(slack, monkeypatch):
    monkeypatch.setattr(notifications, "SLACK_TIMEOUT_SECONDS", 0.3)
    slack.answer(delay=1.0)  # answered after we gave up waiting
    row = notify_reply()

    deliver_all()

    row.refresh_from_db()
    assert (row.state, row.attempts) == ("sent", 2)
    assert len(slack.requests) == 2


def test_an_smtp_5xx_fails_the_email_at_once(smtp):
    smtp.refuse("RCPT", "550 5.1.1 No such user here")
    row = notify_reply()

    deliver_all()

    row.refresh_from_db()
    assert (row.state, row.attempts) == ("failed", 1)
    assert "550" in row.error and "No such user here" in row.error
    assert smtp.messages == []


def test_an_smtp_4xx_is_retried_until_the_email_is_taken(smtp):
    smtp.refuse("RCPT", "451 4.3.0 Try again later")
    row = notify_reply()

    deliver_all()

    row.refresh_from_db()
    assert (row.state, row.attempts) == ("sent", 2)
    assert [received.rcpt_tos for received in smtp.messages] == [("escalations@acme.example",)]


def test_an_email_sent_again_after_a_lost_answer_keeps_its_message_id(smtp):
    # The server keeps the first copy and hangs up before saying so: we cannot know, so we
    # send again, and the reader's mail program sees the same message twice.
    smtp.drop_after_data()
    row = notify_reply()

    deliver_all()

    row.refresh_from_db()
    assert (row.state, row.attempts) == ("sent", 2)
    first, second = (received.message["Message-ID"] for received in smtp.messages)
    assert first == second == notifications.message_id(row)
    assert first.startswith(f"<notification.{row.pk}.")


# --- Events -----------------------------------------------------------------------------------


def test_a_reply_notifies_the_owner(client, slack, django_capture_on_commit_callbacks):
    from tests.intake_helpers import deliver

    owner = make_reviewer("rep", email="rep@acme.example")
    lead = make_lead(email="dana@northwind.example", owner=owner)
    source, secret = make_source("Inbound")

    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, source, secret, {"from": lead.email, "text": "Call me"}, door="inbound")
    deliver_all()

    assert Notification.objects.filter(event="reply", lead=lead, state="sent").count() == 2
    assert mail.outbox[0].to == ["rep@acme.example"]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Could we book a call next week?", True),
        ("Please give me a call on 555 0100.", True),
        ("We'd like a demo.", False),
    ],
)
def test_a_lead_asking_for_a_call_is_escalated(slack, message, expected):
    lead = make_lead()
    notifications.escalate_scored(lead.pk, run_id=1, score=10, message=message)

    assert Notification.objects.filter(event="call_request").exists() == expected
    assert not Notification.objects.filter(event="hot_lead").exists()


def test_a_score_at_the_escalation_score_is_a_hot_lead(slack, settings):
    settings.ESCALATION_SCORE = 75
    lead = make_lead()

    notifications.escalate_scored(lead.pk, run_id=1, score=74, message="")
    assert not Notification.objects.exists()
    notifications.escalate_scored(lead.pk, run_id=1, score=75, message="")
    notifications.escalate_scored(lead.pk, run_id=1, score=75, message="")  # a retried step

    assert Notification.objects.filter(event="hot_lead").count() == 1


# --- Review SLA -------------------------------------------------------------------------------


def test_working_time_counts_weekdays_from_nine_to_five_only():
    friday_16 = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)
    monday_10 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)

    assert notifications.working_time(friday_16, monday_10) == timedelta(hours=2)
    assert notifications.working_time(WEDNESDAY_10, WEDNESDAY_10 + timedelta(hours=1)) == (
        timedelta(hours=1)
    )


def test_a_draft_past_the_sla_is_escalated_once_and_highlighted_in_the_queue(client, slack):
    with time_machine.travel(WEDNESDAY_10, tick=False):
        overdue = make_waiting_draft()
    with time_machine.travel(WEDNESDAY_10 + timedelta(hours=1, minutes=30), tick=False):
        fresh = make_waiting_draft()

    with time_machine.travel(WEDNESDAY_10 + timedelta(hours=2, minutes=1), tick=False):
        first = notifications.escalate_overdue_reviews()
        again = notifications.escalate_overdue_reviews()
        reviewer = make_reviewer()
        client.force_login(reviewer)
        queue = client.get("/").content.decode()

    assert (first, again) == (1, 0)
    row = Notification.objects.get(event="review_sla")
    assert row.draft == overdue and "2.0 working hours" in row.reason
    assert Notification.objects.filter(draft=fresh).count() == 0
    overdue_row = queue.split(f'id="draft-row-{overdue.pk}"')[1].split("</tr>")[0]
    fresh_row = queue.split(f'id="draft-row-{fresh.pk}"')[1].split("</tr>")[0]
    assert "over SLA" in overdue_row and "over SLA" not in fresh_row


def test_nights_and_weekends_do_not_count_towards_the_sla(slack):
    friday_16 = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)
    with time_machine.travel(friday_16, tick=False):
        make_waiting_draft()

    with time_machine.travel(datetime(2026, 12, 7, 9, 30, tzinfo=UTC), tick=False):
        assert notifications.escalate_overdue_reviews() == 0
    with time_machine.travel(datetime(2026, 12, 7, 10, 0, tzinfo=UTC), tick=False):
        assert notifications.escalate_overdue_reviews() == 1


def test_a_decided_draft_is_never_escalated(slack):
    with time_machine.travel(WEDNESDAY_10, tick=False):
        draft = make_waiting_draft()
    Draft.objects.filter(pk=draft.pk).update(status=Draft.Status.REJECTED)

    with time_machine.travel(WEDNESDAY_10 + timedelta(days=2), tick=False):
        assert notifications.escalate_overdue_reviews() == 0
