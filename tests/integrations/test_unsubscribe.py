"""Unsubscribe: the signed link, the confirmation page and RFC 8058 one-click."""

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from pipeline.integrations import outbox
from pipeline.models import Lead, OutboundEmail, PipelineRun, ReviewAction
from pipeline.unsubscribe import lead_id_from_token, unsubscribe_token, unsubscribe_url
from tests.factories import make_lead

pytestmark = pytest.mark.django_db


@pytest.fixture
def client():
    # Mail clients and browsers following the link carry no CSRF cookie: check it for real.
    return Client(enforce_csrf_checks=True)


def link(lead) -> str:
    return f"/u/{unsubscribe_token(lead.pk)}/"


def test_the_token_is_signed_and_names_the_lead():
    lead = make_lead()
    token = unsubscribe_token(lead.pk)
    assert lead_id_from_token(token) == lead.pk
    assert lead_id_from_token(token[:-2] + "xx") is None
    assert unsubscribe_url(lead.pk).endswith(f"/u/{token}/")


def test_get_asks_for_confirmation_and_changes_nothing(client):
    lead = make_lead(email="ada@client.example")
    url = link(lead)  # once: the signed token carries the second it was made
    response = client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Stop all emails from us to a***@client.example?" in page
    assert f'action="{url}"' in page
    assert Lead.objects.get(pk=lead.pk).unsubscribed_at is None


def test_the_confirmation_form_unsubscribes_without_a_csrf_token(client):
    lead = make_lead()
    response = client.post(link(lead))
    assert response.status_code == 200
    assert "You are unsubscribed" in response.content.decode()
    assert Lead.objects.get(pk=lead.pk).unsubscribed_at is not None
    action = ReviewAction.objects.get(lead=lead)
    assert (action.action, action.detail["via"]) == ("unsubscribed", "link")


def test_one_click_post_from_a_mail_client_unsubscribes(client):
    lead = make_lead()
    response = client.post(
        link(lead),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert Lead.objects.get(pk=lead.pk).unsubscribed_at is not None
    assert ReviewAction.objects.get(lead=lead).detail["via"] == "one-click"


def test_unsubscribing_twice_keeps_the_first_time(client):
    lead = make_lead()
    client.post(link(lead))
    first = Lead.objects.get(pk=lead.pk).unsubscribed_at
    client.post(link(lead))
    assert Lead.objects.get(pk=lead.pk).unsubscribed_at == first
    assert ReviewAction.objects.filter(lead=lead, action="unsubscribed").count() == 1
    assert "You are unsubscribed" in client.get(link(lead)).content.decode()


def test_a_tampered_link_is_refused_and_changes_nothing(client):
    lead = make_lead()
    token = unsubscribe_token(lead.pk)
    forged = token.replace(token.split(":")[0], unsubscribe_token(lead.pk + 1).split(":")[0])
    for path in (f"/u/{forged}/", "/u/not-a-token/"):
        response = client.post(path)
        assert response.status_code == 404
        assert "This link does not work" in response.content.decode()
    assert Lead.objects.get(pk=lead.pk).unsubscribed_at is None


def test_queued_emails_are_cancelled_when_the_lead_unsubscribes(client):
    lead = make_lead()
    follow_up, _ = outbox.queue_email(lead=lead, kind="follow_up_1", subject="s", body="b")
    client.post(link(lead))
    follow_up.refresh_from_db()
    assert follow_up.state == OutboundEmail.State.CANCELLED
    assert outbox.deliver(follow_up.pk) == OutboundEmail.State.CANCELLED
    assert mail.outbox == []


def test_the_link_in_a_sent_email_works_and_stops_the_follow_ups(client, settings):
    settings.PUBLIC_BASE_URL = "https://leads.example"
    lead = make_lead()
    run = PipelineRun.objects.create(lead=lead, pipeline_name="lead", pipeline_version=1)
    outbox.send_approved_reply(
        lead=lead, run=run, step_run=None, draft_id=0, subject="Hello", body="Hi"
    )
    header = mail.outbox[0].extra_headers["List-Unsubscribe"]
    url = header.split("<https://leads.example", 1)[1].split(">", 1)[0]
    assert client.post(url, data={"List-Unsubscribe": "One-Click"}).status_code == 200

    follow_up, _ = outbox.queue_email(
        lead=lead, kind="follow_up_1", subject="Following up", body="Any news?", run=run
    )
    assert outbox.deliver(follow_up.pk) == OutboundEmail.State.CANCELLED
    assert len(mail.outbox) == 1


def test_an_already_unsubscribed_lead_sees_the_done_page(client):
    lead = make_lead(unsubscribed_at=timezone.now())
    response = client.get(link(lead))
    assert "You are unsubscribed" in response.content.decode()
    assert "<form" not in response.content.decode()
