"""The outbox state machine, with Django's in-memory mail backend (tests/integrations/test_outbox_smtp.py
does the same against a real SMTP server)."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from pipeline.integrations import outbox
from pipeline.integrations.outbox import OutboxError, send_approved_reply
from pipeline.models import OutboundEmail, PipelineRun, ReviewAction
from tests.factories import make_lead, make_reviewer

pytestmark = pytest.mark.django_db

State = OutboundEmail.State


def make_run(lead):
    return PipelineRun.objects.create(lead=lead, pipeline_name="lead", pipeline_version=1)


def send(lead, run, **overrides):
    arguments = {
        "lead": lead,
        "run": run,
        "step_run": None,
        "draft_id": 0,
        "subject": "Your demo request",
        "body": "Hi Ada,\n\nDoes Tuesday at 10:00 work?\n\nSam",
        **overrides,
    }
    return send_approved_reply(**arguments)


def test_the_approved_reply_is_sent_with_its_message_id_and_unsubscribe_headers(settings):
    settings.DEFAULT_FROM_EMAIL = "Sam at Acme <sam@acme-sales.example>"
    settings.PUBLIC_BASE_URL = "https://leads.acme-sales.example"
    lead = make_lead(email="ada@client.example")
    result = send(lead, make_run(lead))
    email = OutboundEmail.objects.get()
    assert result == {"email_id": email.pk, "state": "sent", "message_id": email.message_id}
    assert email.state == State.SENT
    assert email.attempts == 1
    assert email.sent_at is not None
    assert email.message_id.endswith("@acme-sales.example>")
    (message,) = mail.outbox
    assert message.to == ["ada@client.example"]
    assert message.from_email == "Sam at Acme <sam@acme-sales.example>"
    assert message.extra_headers["Message-ID"] == email.message_id
    unsubscribe = message.extra_headers["List-Unsubscribe"]
    assert unsubscribe.startswith("<mailto:sam@acme-sales.example?subject=unsubscribe%20")
    assert "<https://leads.acme-sales.example/u/" in unsubscribe
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "To stop receiving emails from us: https://leads.acme-sales.example/u/" in message.body


def test_sending_twice_for_the_same_run_sends_one_email():
    lead = make_lead()
    run = make_run(lead)
    first = send(lead, run)
    second = send(lead, run)
    assert second == first
    assert OutboundEmail.objects.count() == 1
    assert len(mail.outbox) == 1


def test_a_subject_with_line_breaks_goes_out_on_one_line():
    lead = make_lead()
    send(lead, make_run(lead), subject="Your demo\r\nBcc: victim@example.com")
    assert mail.outbox[0].subject == "Your demo Bcc: victim@example.com"
    assert mail.outbox[0].bcc == []


def test_an_unsubscribed_lead_gets_nothing_and_the_step_succeeds():
    lead = make_lead(unsubscribed_at=timezone.now())
    result = send(lead, make_run(lead))
    assert result["state"] == "cancelled"
    assert OutboundEmail.objects.get().error == "the lead unsubscribed"
    assert mail.outbox == []


def test_a_lead_without_an_email_address_is_a_permanent_error():
    lead = make_lead(email="", email_normalized="", phone="+4930123")
    with pytest.raises(OutboxError, match="no email address") as caught:
        send(lead, make_run(lead))
    assert caught.value.retryable is False


def test_an_email_found_in_sending_becomes_unknown_and_is_never_resent():
    lead = make_lead()
    run = make_run(lead)
    email, _ = outbox.queue_email(lead=lead, kind="first_reply", subject="s", body="b", run=run)
    OutboundEmail.objects.filter(pk=email.pk).update(
        state=State.SENDING, sending_started_at=timezone.now()
    )
    with pytest.raises(OutboxError, match="may or may not have reached") as caught:
        send(lead, run)
    assert caught.value.retryable is False
    email.refresh_from_db()
    assert email.state == State.UNKNOWN
    assert email.message_id in email.error
    assert outbox.deliver(email.pk) == State.UNKNOWN
    assert mail.outbox == []


def test_a_crash_after_the_send_leaves_the_email_unknown_not_resent(monkeypatch):
    lead = make_lead()
    run = make_run(lead)

    def crash(*args, **kwargs):
        raise RuntimeError("worker killed between SMTP and the database")

    monkeypatch.setattr(outbox, "_mark_sent", crash)
    with pytest.raises(RuntimeError):
        send(lead, run)
    assert OutboundEmail.objects.get().state == State.SENDING
    monkeypatch.undo()
    with pytest.raises(OutboxError):
        send(lead, run)  # the engine's retry of the step
    assert OutboundEmail.objects.get().state == State.UNKNOWN
    assert len(mail.outbox) == 1


def test_staff_mark_an_unknown_email_sent_and_it_is_recorded():
    reviewer = make_reviewer()
    lead = make_lead()
    email, _ = outbox.queue_email(lead=lead, kind="first_reply", subject="s", body="b")
    started = timezone.now()
    OutboundEmail.objects.filter(pk=email.pk).update(
        state=State.UNKNOWN, sending_started_at=started
    )
    assert outbox.mark_unknown_sent(email, by=reviewer) is True
    email.refresh_from_db()
    assert (email.state, email.sent_at) == (State.SENT, started)
    action = ReviewAction.objects.get(lead=lead)
    assert (action.action, action.user, action.detail["email_id"]) == (
        "email_marked_sent",
        reviewer,
        email.pk,
    )
    assert outbox.mark_unknown_sent(email, by=reviewer) is False


def test_a_requeued_email_goes_out_once_with_the_same_message_id(
    django_capture_on_commit_callbacks, monkeypatch
):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)  # django-q2 runs the queued task right here
    reviewer = make_reviewer()
    lead = make_lead()
    email, _ = outbox.queue_email(lead=lead, kind="first_reply", subject="s", body="b")
    OutboundEmail.objects.filter(pk=email.pk).update(state=State.UNKNOWN)
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox.requeue_email(email, by=reviewer) is True
    email.refresh_from_db()
    assert email.state == State.SENT
    assert mail.outbox[0].extra_headers["Message-ID"] == email.message_id
    assert outbox.requeue_email(email, by=reviewer) is False  # sent: nothing to requeue
    assert ReviewAction.objects.filter(lead=lead, action="email_requeued").count() == 1


def test_a_queued_follow_up_to_a_lead_who_unsubscribed_is_cancelled():
    lead = make_lead()
    email, _ = outbox.queue_email(lead=lead, kind="follow_up_1", subject="s", body="b")
    lead.unsubscribed_at = timezone.now()
    lead.save()
    assert outbox.deliver(email.pk) == State.CANCELLED
    assert mail.outbox == []


def test_the_sweeper_hands_emails_stuck_in_sending_to_a_human():
    lead = make_lead()
    old, _ = outbox.queue_email(lead=lead, kind="a", subject="s", body="b")
    fresh, _ = outbox.queue_email(lead=lead, kind="b", subject="s", body="b")
    OutboundEmail.objects.filter(pk=old.pk).update(
        state=State.SENDING, sending_started_at=timezone.now() - timedelta(minutes=10)
    )
    OutboundEmail.objects.filter(pk=fresh.pk).update(
        state=State.SENDING, sending_started_at=timezone.now()
    )
    assert outbox.sweep_stuck_sending() == 1
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert (old.state, fresh.state) == (State.UNKNOWN, State.SENDING)


def test_the_console_backend_is_used_when_email_host_is_unset():
    from tests.project.test_settings import settings_in_subprocess

    result = settings_in_subprocess(
        {"DEBUG": "1"}, "s.MAILERS['default']['BACKEND'], hasattr(s, 'EMAIL_HOST')"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.core.mail.backends.console.EmailBackend False"


def test_email_host_configures_the_smtp_mailer_from_djangos_variable_names():
    from tests.project.test_settings import settings_in_subprocess

    result = settings_in_subprocess(
        {
            "DEBUG": "1",
            "EMAIL_HOST": "smtp.example.com",
            "EMAIL_PORT": "587",
            "EMAIL_HOST_USER": "apikey",
            "EMAIL_HOST_PASSWORD": "secret",
            "EMAIL_USE_TLS": "1",
        },
        "s.MAILERS['default']",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(
        {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": "smtp.example.com",
                "port": 587,
                "username": "apikey",
                "password": "secret",
                "use_tls": True,
                "use_ssl": False,
                "timeout": 20,
            },
        }
    )
