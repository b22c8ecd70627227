"""Webhook sources: the add_webhook_source command and the admin (secret shown once, rotation)."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.utils import timezone

from pipeline.intake.sources import (
    generate_secret,
    retired_secrets,
    rotate_secret,
    valid_secrets,
)
from pipeline.models import WebhookSource
from tests.intake_helpers import deliver, make_source

pytestmark = pytest.mark.django_db


def run_command(*args) -> str:
    out = StringIO()
    call_command("add_webhook_source", *args, stdout=out)
    return out.getvalue()


def test_the_command_prints_slug_url_and_secret_as_json(settings):
    settings.PUBLIC_BASE_URL = "https://leads.example.com"
    printed = json.loads(run_command("Acme Site", "--json"))

    source = WebhookSource.objects.get()
    assert printed == {
        "slug": "acme-site",
        "url": "https://leads.example.com/webhooks/acme-site/",
        "secret": source.secret,
    }
    assert printed["secret"].startswith("whsec_")


def test_the_command_uses_a_given_secret_and_the_source_accepts_it(client):
    secret = generate_secret()
    printed = run_command("Partner CRM", "--secret", secret)

    source = WebhookSource.objects.get()
    assert source.secret == secret and secret in printed and "/f/partner-crm/" in printed
    response = deliver(client, source, secret, {"email": "a@partner.example"})
    assert response.status_code == 202


def test_the_command_refuses_a_secret_that_is_not_whsec_base64():
    with pytest.raises(CommandError, match="starts with whsec_"):
        run_command("Bad", "--secret", "hunter2")
    with pytest.raises(CommandError, match="base64"):
        run_command("Bad", "--secret", "whsec_not base64!")
    assert not WebhookSource.objects.exists()


def test_the_command_gives_each_source_its_own_slug():
    run_command("Website")
    printed = json.loads(run_command("Website", "--json"))

    assert printed["slug"] == "website-2"


def test_the_command_refuses_a_mapping_to_an_unknown_field():
    with pytest.raises(CommandError, match="map to one of name, email"):
        run_command("Bad", "--mapping", '{"Mail": "e-mail"}')


def test_a_unicode_name_still_gets_a_usable_slug():
    printed = json.loads(run_command("東京フォーム", "--json"))

    assert printed["slug"] == "source"


def test_valid_secrets_include_the_previous_one_only_during_the_overlap():
    source, secret = make_source()
    previous = generate_secret()
    ends = timezone.now() + timedelta(minutes=5)
    source.retired_secrets = [{"secret": previous, "expires_at": ends.isoformat()}]

    assert valid_secrets(source) == [secret, previous]
    assert valid_secrets(source, now=timezone.now() + timedelta(minutes=6)) == [secret]


def test_a_second_rotation_keeps_the_first_secret_until_its_own_overlap_ends():
    source, original = make_source()
    first = rotate_secret(source, overlap=timedelta(hours=2))
    second = rotate_secret(source, overlap=timedelta(hours=1))
    source.refresh_from_db()
    now = timezone.now()

    assert valid_secrets(source) == [second, first, original]
    assert valid_secrets(source, now=now + timedelta(minutes=90)) == [second, original]
    assert valid_secrets(source, now=now + timedelta(hours=3)) == [second]


def test_a_rotation_forgets_secrets_whose_overlap_has_ended():
    source, original = make_source()
    rotate_secret(source, overlap=timedelta(0))
    newest = rotate_secret(source, overlap=timedelta(hours=1))
    source.refresh_from_db()

    assert [entry["secret"] for entry in source.retired_secrets] == [
        secret for secret in valid_secrets(source) if secret != newest
    ]
    assert original not in valid_secrets(source)
    assert len(source.retired_secrets) == 1


# --- Admin ------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_user("ada", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="Admins"))
    client.force_login(user)
    return client


def test_creating_a_source_in_the_admin_shows_its_new_secret_once(admin_client):
    response = admin_client.post(
        "/admin/pipeline/webhooksource/add/",
        {"name": "Landing page", "slug": "landing", "is_active": "on", "field_mapping": "{}"},
        follow=True,
    )

    source = WebhookSource.objects.get()
    assert source.secret.startswith("whsec_")
    assert source.secret in response.text
    change_page = admin_client.get(f"/admin/pipeline/webhooksource/{source.pk}/change/")
    assert source.secret not in change_page.text
    assert "/webhooks/landing/" in change_page.text


def test_the_admin_refuses_a_mapping_to_an_unknown_field(admin_client):
    response = admin_client.post(
        "/admin/pipeline/webhooksource/add/",
        {"name": "X", "slug": "x", "field_mapping": '{"Mail": "mail"}'},
    )

    assert response.status_code == 200
    assert "map to one of" in response.text
    assert not WebhookSource.objects.exists()


def test_the_rotate_action_keeps_the_old_secret_valid_for_the_overlap(
    admin_client, client, settings
):
    settings.WEBHOOK_ROTATION_OVERLAP_HOURS = 24
    source, old_secret = make_source("Website")

    response = admin_client.post(
        "/admin/pipeline/webhooksource/",
        {"action": "rotate_secrets", "_selected_action": [source.pk]},
        follow=True,
    )

    source.refresh_from_db()
    assert source.secret != old_secret and source.secret in response.text
    [(retired, expires)] = retired_secrets(source)
    assert retired == old_secret
    remaining = expires - timezone.now()
    assert timedelta(hours=23, minutes=59) < remaining <= timedelta(hours=24)
    assert deliver(client, source, old_secret, {"email": "a@b.example"}).status_code == 202
    assert deliver(client, source, source.secret, {"email": "c@d.example"}).status_code == 202
