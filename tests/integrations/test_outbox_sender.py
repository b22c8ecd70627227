"""Replies go out from the company profile's sender, who signs them, not from the app."""

import pytest
from django.core import mail

from pipeline.integrations import outbox
from pipeline.models import CompanyProfile
from tests.factories import make_lead

pytestmark = pytest.mark.django_db


def make_profile(**fields) -> CompanyProfile:
    values = {
        "company_name": "Acme",
        "what_we_sell": "Sales software",
        "sender_name": "Sam Rivera",
        "sender_email": "sam@acme.example",
        "signature": "Sam Rivera\nAcme",
        **fields,
    }
    return CompanyProfile.objects.create(**values)


def test_the_reply_is_sent_from_the_company_profiles_sender(settings):
    settings.DEFAULT_FROM_EMAIL = "LeadOps <sales@example.com>"
    make_profile()
    email, _ = outbox.queue_email(lead=make_lead(), kind="first_reply", subject="Hi", body="Hello")
    assert email.from_email == "Sam Rivera <sam@acme.example>"
    assert outbox.deliver(email.pk) == "sent"
    (message,) = mail.outbox
    assert message.from_email == "Sam Rivera <sam@acme.example>"
    assert message.extra_headers["Message-ID"].endswith("@acme.example>")


def test_without_a_sender_address_the_profiles_name_goes_with_the_default_address(settings):
    settings.DEFAULT_FROM_EMAIL = "LeadOps <sales@example.com>"
    make_profile(sender_email="", sender_name="Dana\nReyes")
    assert outbox.sender_address() == "Dana Reyes <sales@example.com>"


def test_without_a_profile_the_default_sender_is_used(settings):
    settings.DEFAULT_FROM_EMAIL = "LeadOps <sales@example.com>"
    assert outbox.sender_address() == "LeadOps <sales@example.com>"


def test_an_admin_sets_the_sender_on_the_scoring_page_and_the_next_reply_uses_it(client, settings):
    from tests.factories import make_reviewer

    settings.DEFAULT_FROM_EMAIL = "LeadOps <sales@example.com>"
    first = make_profile(sender_email="")
    client.force_login(make_reviewer("ada", group="Admins"))
    form = {
        **{name: value for name, value in first.values().items() if name != "facts"},
        "sender_name": "Dana Reyes",
        "sender_email": "dana@acme.example",
        "facts": "",
        "based_on": str(first.version),
        "note": "Dana answers the leads now",
    }
    assert client.post("/scoring/profile/", form).status_code == 302
    assert CompanyProfile.current().sender_email == "dana@acme.example"
    email, _ = outbox.queue_email(lead=make_lead(), kind="first_reply", subject="Hi", body="Hello")
    assert outbox.deliver(email.pk) == "sent"
    (message,) = mail.outbox
    assert message.from_email == "Dana Reyes <dana@acme.example>"

    # Saving the profile again for another reason keeps the address.
    current = CompanyProfile.current()
    form.update(tone="formal", based_on=str(current.version), note="tone")
    assert client.post("/scoring/profile/", form).status_code == 302
    assert CompanyProfile.current().sender_email == "dana@acme.example"
