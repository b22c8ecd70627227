"""Admins record what the mail server's log says about an email of unknown fate."""

import pytest
from django.utils.html import escape

from pipeline import engine
from pipeline.models import OutboundEmail, PipelineRun, ReviewAction, StepRun
from tests.factories import make_lead, make_reviewer
from tests.fakes.smtp import FakeSMTP
from tests.integrations.test_outbox_smtp import SEND

State = OutboundEmail.State
PIPELINE = SEND.name
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def smtp(settings):
    with FakeSMTP() as server:
        server.use_in(settings)
        yield server


@pytest.fixture
def unknown_run(smtp):
    """A run whose reply reached the server, but the server hung up before saying so."""
    smtp.drop_after_data()
    run = engine.run_inline(PIPELINE, lead=make_lead(email="ada@client.example"))
    assert run.status == PipelineRun.Status.FAILED
    assert OutboundEmail.objects.get(run=run).state == State.UNKNOWN
    return run


@pytest.fixture
def admin_client(client):
    client.force_login(make_reviewer(group="Admins"))
    return client


def finish_queued_steps(run):
    """Do what a worker does with the steps the retry queued."""
    for step_run in StepRun.objects.filter(run=run, status=StepRun.Status.QUEUED):
        engine.execute(step_run.pk)
    run.refresh_from_db()


def test_the_page_lists_unknown_emails_for_admins(admin_client, unknown_run):
    email = OutboundEmail.objects.get(run=unknown_run)

    response = admin_client.get("/emails/unknown/")

    assert response.status_code == 200
    assert f'id="email-{email.pk}"' in response.text
    assert escape(email.message_id) in response.text


def test_reviewers_who_are_not_admins_cannot_resolve(client, unknown_run):
    client.force_login(make_reviewer(group="Reviewers"))
    email = OutboundEmail.objects.get(run=unknown_run)

    assert client.get("/emails/unknown/").status_code == 403
    response = client.post(f"/emails/{email.pk}/resolve/", {"resolution": "sent"})

    assert response.status_code == 403
    assert OutboundEmail.objects.get(pk=email.pk).state == State.UNKNOWN


def test_delivered_marks_it_sent_audited_and_the_run_finishes_without_sending(
    admin_client, unknown_run, smtp
):
    email = OutboundEmail.objects.get(run=unknown_run)

    response = admin_client.post(
        f"/emails/{email.pk}/resolve/", {"resolution": "sent"}, follow=True
    )

    assert f"Email {email.pk} recorded as delivered" in response.text
    assert f'id="email-{email.pk}"' not in response.text
    assert OutboundEmail.objects.get(pk=email.pk).state == State.SENT
    audit = ReviewAction.objects.get(action="email_marked_sent")
    assert audit.detail["email_id"] == email.pk and audit.user.groups.get().name == "Admins"
    finish_queued_steps(unknown_run)
    assert unknown_run.status == PipelineRun.Status.SUCCEEDED
    assert len(smtp.messages) == 1


def test_not_delivered_sends_it_once_through_the_run(admin_client, unknown_run, smtp):
    email = OutboundEmail.objects.get(run=unknown_run)

    admin_client.post(f"/emails/{email.pk}/resolve/", {"resolution": "resend"})
    finish_queued_steps(unknown_run)

    assert OutboundEmail.objects.get(pk=email.pk).state == State.SENT
    assert ReviewAction.objects.filter(action="email_requeued").count() == 1
    assert unknown_run.status == PipelineRun.Status.SUCCEEDED
    assert len(smtp.messages) == 2  # the dropped conversation's copy, and this one


def test_do_not_send_cancels_it_and_leaves_the_run_failed(admin_client, unknown_run, smtp):
    email = OutboundEmail.objects.get(run=unknown_run)

    admin_client.post(f"/emails/{email.pk}/resolve/", {"resolution": "cancel"})

    assert OutboundEmail.objects.get(pk=email.pk).state == State.CANCELLED
    assert ReviewAction.objects.filter(action="email_cancelled").count() == 1
    unknown_run.refresh_from_db()
    assert unknown_run.status == PipelineRun.Status.FAILED
    assert len(smtp.messages) == 1


def test_a_second_resolution_changes_nothing(admin_client, unknown_run):
    email = OutboundEmail.objects.get(run=unknown_run)
    admin_client.post(f"/emails/{email.pk}/resolve/", {"resolution": "sent"})

    response = admin_client.post(
        f"/emails/{email.pk}/resolve/", {"resolution": "cancel"}, follow=True
    )

    assert "is sent now, not unknown: nothing changed" in response.text
    assert OutboundEmail.objects.get(pk=email.pk).state == State.SENT


def test_an_unknown_resolution_is_refused_with_422(admin_client, unknown_run):
    email = OutboundEmail.objects.get(run=unknown_run)

    response = admin_client.post(f"/emails/{email.pk}/resolve/", {"resolution": "maybe"})

    assert response.status_code == 422
    assert OutboundEmail.objects.get(pk=email.pk).state == State.UNKNOWN
