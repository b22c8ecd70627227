"""The outbox against a real SMTP server on loopback (aiosmtpd), through the engine's send step.

What counts is what the server received: never two copies of one email, whatever crashes.
"""

import os
import subprocess
import sys

import pytest
from django.db import connection

from pipeline import engine, steps
from pipeline.engine import Pipeline, Retry, Step, register
from pipeline.integrations import outbox
from pipeline.models import OutboundEmail, PipelineRun, StepRun
from tests.factories import make_lead, make_reviewer
from tests.fakes.smtp import FakeSMTP

State = OutboundEmail.State
SUBJECT = "Your demo request"
BODY = "Hi Ada,\n\nDoes Tuesday at 10:00 work for a demo?\n\nSam"


def approve(context):
    """Stands in for the gate: the approved draft, as the real gate returns it."""
    return {"draft_id": 0, "subject": SUBJECT, "body": BODY, "approved_by": None, "auto": True}


# The real send step behind a stand-in gate, retried quickly.
SEND = register(
    Pipeline(
        "outbox-send",
        version=1,
        steps=(
            Step("gate", run=approve),
            Step(
                "send",
                run=steps.send,
                needs=("gate",),
                when=steps.should_send,
                retry=Retry(attempts=3, backoff_seconds=0.01, jitter=0),
                side_effect=True,
            ),
        ),
    )
)
PIPELINE = SEND.name


@pytest.fixture
def smtp(settings):
    with FakeSMTP() as server:
        server.use_in(settings)
        yield server


def send_step(run):
    return StepRun.objects.get(run=run, name="send")


@pytest.mark.django_db(transaction=True)
def test_the_server_receives_the_reply_with_its_headers(smtp, settings):
    settings.DEFAULT_FROM_EMAIL = "Sam <sam@acme-sales.example>"
    lead = make_lead(email="ada@client.example")
    run = engine.run_inline(PIPELINE, lead=lead)
    assert run.status == PipelineRun.Status.SUCCEEDED
    email = OutboundEmail.objects.get(run=run)
    assert send_step(run).output == {
        "email_id": email.pk,
        "state": "sent",
        "message_id": email.message_id,
    }
    (received,) = smtp.messages
    assert received.mail_from == "sam@acme-sales.example"
    assert received.rcpt_tos == ("ada@client.example",)
    message = received.message
    assert message["Message-ID"] == email.message_id
    assert message["Subject"] == SUBJECT
    assert "/u/" in message["List-Unsubscribe"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_content().startswith("Hi Ada,")


@pytest.mark.django_db(transaction=True)
def test_a_crash_between_send_and_commit_leaves_unknown_and_sends_once(smtp, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("worker died after the SMTP call, before recording it")

    monkeypatch.setattr(outbox, "_mark_sent", crash)
    run = engine.run_inline(PIPELINE, lead=make_lead())

    # Attempt 1 crashed after the server took the message; attempt 2 found the row in
    # `sending` and refused to guess: unknown, for a human, and no retry.
    assert len(smtp.messages) == 1
    email = OutboundEmail.objects.get(run=run)
    assert email.state == State.UNKNOWN
    assert email.attempts == 1
    step = send_step(run)
    assert (step.status, step.attempt) == (StepRun.Status.FAILED, 2)
    assert "may or may not have reached the mail server" in step.error
    assert run.status == PipelineRun.Status.FAILED

    # A retry of the run does not send either.
    engine.continue_inline(lambda dispatch: engine.retry(run, dispatch=dispatch))
    assert len(smtp.messages) == 1

    # Staff check the server's log, mark it sent; the run then finishes without sending.
    monkeypatch.undo()
    assert outbox.mark_unknown_sent(email, by=make_reviewer(group="")) is True
    engine.continue_inline(lambda dispatch: engine.retry(run, dispatch=dispatch))
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.SUCCEEDED
    assert send_step(run).output["state"] == "sent"
    assert len(smtp.messages) == 1


@pytest.mark.django_db(transaction=True)
def test_rerunning_the_send_after_success_sends_nothing_more(smtp):
    run = engine.run_inline(PIPELINE, lead=make_lead())
    engine.continue_inline(lambda dispatch: engine.rerun_from(run, "gate", dispatch=dispatch))
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.SUCCEEDED
    assert len(smtp.messages) == 1
    assert OutboundEmail.objects.filter(run=run).count() == 1


def _database_url() -> str:
    details = connection.settings_dict
    if details["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{details['NAME']}"
    user = details["USER"] + (f":{details['PASSWORD']}" if details["PASSWORD"] else "")
    return f"postgres://{user}@{details['HOST']}:{details['PORT']}/{details['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_a_process_killed_between_send_and_commit_never_sends_twice(smtp):
    lead = make_lead()
    run = PipelineRun.objects.create(lead=lead, pipeline_name="lead", pipeline_version=1)
    email, _ = outbox.queue_email(
        lead=lead, kind="first_reply", subject=SUBJECT, body=BODY, run=run
    )
    # A worker process that dies (os._exit: no cleanup, no except, no finally) right after
    # the server accepted the message.
    script = (
        "import os, django; django.setup()\n"
        "from pipeline.integrations import outbox\n"
        "outbox._mark_sent = lambda *args, **kwargs: os._exit(9)\n"
        f"outbox.deliver({email.pk})\n"
    )
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "leadops.settings",
        "SECRET_KEY": "x",
        "DATABASE_URL": _database_url(),
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp.port),
    }
    killed = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, timeout=60
    )
    assert killed.returncode == 9, killed.stderr.decode()
    assert len(smtp.messages) == 1
    email.refresh_from_db()
    assert email.state == State.SENDING

    # The step's retry (or the sweeper) finds it mid-send: unknown, and nothing resent.
    assert outbox.deliver(email.pk) == State.UNKNOWN
    with pytest.raises(outbox.OutboxError, match="may or may not"):
        outbox.send_approved_reply(
            lead=lead, run=run, step_run=None, draft_id=0, subject=SUBJECT, body=BODY
        )
    assert len(smtp.messages) == 1


# --- SMTP answers -------------------------------------------------------------------------------


def deliver_once(lead=None):
    lead = lead or make_lead()
    email, _ = outbox.queue_email(lead=lead, kind="first_reply", subject=SUBJECT, body=BODY)
    return email, outbox.deliver(email.pk)


@pytest.mark.django_db(transaction=True)
def test_a_temporary_refusal_keeps_the_email_queued_and_a_later_try_sends_it(smtp):
    smtp.refuse("RCPT", "450 4.2.1 Mailbox busy, try later")
    email, state = deliver_once()
    assert state == State.QUEUED
    email.refresh_from_db()
    assert "450" in email.error
    assert smtp.messages == []
    assert outbox.deliver(email.pk) == State.SENT
    assert len(smtp.messages) == 1
    email.refresh_from_db()
    assert email.attempts == 2


@pytest.mark.django_db(transaction=True)
def test_a_permanent_refusal_fails_the_email_for_good(smtp):
    smtp.refuse("DATA", "554 5.7.1 Message rejected as spam")
    email, state = deliver_once()
    assert state == State.FAILED
    email.refresh_from_db()
    assert "554" in email.error
    assert outbox.deliver(email.pk) == State.FAILED
    assert smtp.messages == []


@pytest.mark.django_db(transaction=True)
def test_a_connection_lost_after_data_is_unknown_because_the_server_may_have_it(smtp):
    smtp.drop_after_data()
    email, state = deliver_once()
    assert state == State.UNKNOWN
    assert len(smtp.messages) == 1
    assert outbox.deliver(email.pk) == State.UNKNOWN
    assert len(smtp.messages) == 1


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_server_leaves_the_email_queued_untouched(settings):
    with FakeSMTP() as server:
        server.use_in(settings)
    # Closed now: connection refused before anything was claimed.
    email, state = deliver_once()
    assert state == State.QUEUED
    email.refresh_from_db()
    assert email.attempts == 0
    assert "unreachable" in email.error


@pytest.mark.django_db(transaction=True)
def test_the_send_step_retries_a_temporary_refusal_and_sends_once(smtp):
    smtp.refuse("RCPT", "451 4.3.0 Temporary failure")
    run = engine.run_inline(PIPELINE, lead=make_lead())
    assert run.status == PipelineRun.Status.SUCCEEDED
    assert send_step(run).attempt == 2
    assert len(smtp.messages) == 1


@pytest.mark.django_db(transaction=True)
def test_list_unsubscribe_arrives_as_plain_ascii_on_one_line(smtp, settings):
    settings.PUBLIC_BASE_URL = "https://leads.acme-sales.example"
    settings.DEFAULT_FROM_EMAIL = "Sam <sam@acme-sales.example>"
    lead = make_lead(email="ada@client.example")
    engine.run_inline(PIPELINE, lead=lead)

    (received,) = smtp.messages
    lines = received.raw.split(b"\r\n")
    (header,) = [line for line in lines if line.startswith(b"List-Unsubscribe:")]
    value = header.removeprefix(b"List-Unsubscribe: ").decode("ascii")
    assert "=?" not in value
    mailto, https = value.split(", ")
    assert mailto.startswith("<mailto:sam@acme-sales.example?subject=unsubscribe%20")
    assert https.startswith("<https://leads.acme-sales.example/u/") and https.endswith(">")
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in lines


def connection_killer():
    """A callable that makes this thread's database connection dead, from any thread, the
    way a restarted database server or a network cut does: its next query fails."""
    connection.ensure_connection()
    if connection.vendor != "postgresql":
        return connection.connection.close  # SQLite: the connection object this thread holds
    backend_pid = connection.connection.info.backend_pid
    details = connection.settings_dict

    def terminate():
        import psycopg

        with psycopg.connect(
            host=details["HOST"],
            port=details["PORT"],
            user=details["USER"],
            password=details["PASSWORD"] or None,
            dbname=details["NAME"],
            autocommit=True,
        ) as other:
            other.execute("SELECT pg_terminate_backend(%s)", [backend_pid])

    return terminate


@pytest.mark.django_db(transaction=True)
def test_a_database_connection_dead_after_the_server_accepted_still_records_sent(smtp):
    lead = make_lead()
    email, _ = outbox.queue_email(lead=lead, kind="first_reply", subject=SUBJECT, body=BODY)
    smtp.on_accept(connection_killer())

    state = outbox.deliver(email.pk)

    assert state == State.SENT
    assert len(smtp.messages) == 1
    email.refresh_from_db()
    assert (email.state, email.error) == (State.SENT, "")
    assert email.sent_at is not None
