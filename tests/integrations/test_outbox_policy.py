"""The admins' pause switch for auto-send, and the outbox in the Django admin."""

import pytest
from django.core.exceptions import PermissionDenied

from pipeline.integrations import outbox
from pipeline.models import OperationsSettings, OutboundEmail, ReviewAction
from pipeline.operations import set_auto_send_paused
from tests.factories import REVIEW_PASSWORD, make_lead, make_reviewer

pytestmark = pytest.mark.django_db


def test_an_admin_pauses_auto_send_and_it_records_who():
    admin_user = make_reviewer(group="Admins")
    row = set_auto_send_paused(True, by=admin_user)
    assert row.auto_send_paused is True
    stored = OperationsSettings.load()
    assert (stored.auto_send_paused, stored.updated_by) == (True, admin_user)
    set_auto_send_paused(False, by=admin_user)
    assert OperationsSettings.load().auto_send_paused is False


def test_a_reviewer_cannot_pause_auto_send():
    with pytest.raises(PermissionDenied):
        set_auto_send_paused(True, by=make_reviewer(group="Reviewers"))
    assert OperationsSettings.load().auto_send_paused is False


def admin_client(client, group="Admins"):
    user = make_reviewer(group=group, is_staff=True)
    client.login(username=user.username, password=REVIEW_PASSWORD)
    return user


def test_admins_flip_the_switch_in_the_django_admin(client):
    user = admin_client(client)
    OperationsSettings.load()
    response = client.post(
        "/admin/pipeline/operationssettings/1/change/", {"auto_send_paused": "on"}
    )
    assert response.status_code == 302
    stored = OperationsSettings.load()
    assert (stored.auto_send_paused, stored.updated_by) == (True, user)


def test_reviewers_cannot_change_the_switch_in_the_django_admin(client):
    admin_client(client, group="Reviewers")
    OperationsSettings.load()
    response = client.post(
        "/admin/pipeline/operationssettings/1/change/", {"auto_send_paused": "on"}
    )
    assert response.status_code == 403
    assert OperationsSettings.load().auto_send_paused is False


def test_staff_see_unknown_emails_and_mark_them_sent_from_the_admin(client, admin_user):
    lead = make_lead()
    email, _ = outbox.queue_email(lead=lead, kind="first_reply", subject="Hello", body="Hi")
    OutboundEmail.objects.filter(pk=email.pk).update(state=OutboundEmail.State.UNKNOWN)
    client.force_login(admin_user)
    listing = client.get("/admin/pipeline/outboundemail/?state__exact=unknown")
    assert listing.status_code == 200
    assert "Hello" in listing.content.decode()
    response = client.post(
        "/admin/pipeline/outboundemail/",
        {"action": "mark_sent", "_selected_action": [email.pk]},
    )
    assert response.status_code == 302
    email.refresh_from_db()
    assert email.state == OutboundEmail.State.SENT
    assert ReviewAction.objects.get(lead=lead).user == admin_user


def test_the_contact_of_a_lead_is_visible_in_the_admin(client, admin_user):
    from pipeline.integrations.crm import upsert_lead

    lead = make_lead(email="ada@client.example")
    result = upsert_lead(lead, classification=None, profile=None, score=None)
    client.force_login(admin_user)
    page = client.get(result["url"])
    assert page.status_code == 200
    assert "ada@client.example" in page.content.decode()
