"""Each web process keeps the webhook sources, owner rules and Reviewers it read (config_cache):
a change saved anywhere applies to the next delivery, and a copy kept by a process that missed
the change (a secret rotated in another process) never refuses a good delivery."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from pipeline import config_cache
from pipeline.intake.sources import generate_secret
from pipeline.models import CountryOwnerRule, Lead, Submission, WebhookSource
from tests.factories import make_reviewer, staff_group
from tests.intake_helpers import deliver, make_source

pytestmark = pytest.mark.django_db(transaction=True)

LEAD = {"name": "Kim", "email": "kim@kimco.example", "message": "A demo for 20 seats, please."}


def lead_of(response) -> Lead:
    assert response.status_code == 202, response.content
    return Lead.objects.select_related("owner").get(pk=response.json()["lead_id"])


def statements_during(action) -> list[str]:
    from django.db import connection

    sent: list[str] = []

    def record(execute, sql, params, many, context):
        sent.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        action()
    return sent


def test_a_kept_source_is_not_read_again_until_something_changes(client):
    source, secret = make_source("Website")
    deliver(client, source, secret, LEAD)

    sent = statements_during(lambda: deliver(client, source, secret, {**LEAD, "email": "b@b.io"}))
    assert not any("pipeline_webhooksource" in sql for sql in sent)

    source.is_active = False
    source.save()  # an admin switches the source off: this process forgets it at once
    response = deliver(client, source, secret, {**LEAD, "email": "c@c.io"})
    assert response.status_code == 404
    assert "no active webhook source" in response.json()["error"]


def test_a_secret_rotated_elsewhere_is_read_again_when_a_signature_fails(client):
    source, old_secret = make_source("Website")
    deliver(client, source, old_secret, LEAD)  # this process keeps the source
    # Another process rotates the secret (no signal reaches this one); the sender switches.
    responses = []
    new_secret = generate_secret()
    overlap_ends = (timezone.now() + timedelta(hours=1)).isoformat()
    WebhookSource.objects.filter(pk=source.pk).update(
        secret=new_secret, retired_secrets=[{"secret": old_secret, "expires_at": overlap_ends}]
    )

    sent = statements_during(
        lambda: responses.append(deliver(client, source, new_secret, {**LEAD, "email": "b@b.io"}))
    )

    assert responses[0].status_code == 202
    # The kept copy failed, so the stored source was read once, and is kept from now on.
    assert sum("pipeline_webhooksource" in sql for sql in sent) == 1
    sent = statements_during(
        lambda: deliver(client, source, new_secret, {**LEAD, "email": "d@d.io"})
    )
    assert not any("pipeline_webhooksource" in sql for sql in sent)
    # The old secret is still within its overlap, and a wrong one is still refused.
    assert deliver(client, source, old_secret, {**LEAD, "email": "c@c.io"}).status_code == 202
    assert deliver(client, source, generate_secret(), LEAD).status_code == 401


def test_an_owner_rule_saved_applies_to_the_next_lead(client):
    rota, dach = make_reviewer("rota"), make_reviewer("dach")
    source, secret = make_source("Website")
    assert lead_of(deliver(client, source, secret, LEAD)).owner == rota  # the setup is kept

    CountryOwnerRule.objects.create(country="DE", owner=dach)
    german = {**LEAD, "email": "hans@firma.example", "country": "DE"}

    assert lead_of(deliver(client, source, secret, german)).owner == dach


def test_a_reviewer_taken_out_of_the_group_gets_no_more_leads(client):
    first, second = make_reviewer("first"), make_reviewer("second")
    source, secret = make_source("Website")
    owners = [
        lead_of(deliver(client, source, secret, {**LEAD, "email": f"p{n}@x.example"})).owner
        for n in range(2)
    ]
    assert set(owners) == {first, second}

    second.groups.remove(staff_group("Reviewers"))
    owners = {
        lead_of(deliver(client, source, secret, {**LEAD, "email": f"q{n}@x.example"})).owner
        for n in range(3)
    }
    assert owners == {first}


def test_a_change_committed_by_another_process_applies_once_the_token_is_read(monkeypatch):
    source, _ = make_source("Website")
    key = ("webhook-source", source.slug)
    load = lambda: WebhookSource.objects.get(pk=source.pk).name  # noqa: E731
    assert config_cache.cached(key, load) == "Website"
    # Another process renames it: its signal empties its own copies and, on commit, writes a
    # new token to the shared cache; this process only sees the token.
    WebhookSource.objects.filter(pk=source.pk).update(name="Renamed")
    assert config_cache.cached(key, load) == "Website"  # checked less than a second ago
    cache.set(config_cache.TOKEN_KEY, "another process's change")
    monkeypatch.setattr(config_cache, "CHECK_SECONDS", 0.0)

    assert config_cache.cached(key, load) == "Renamed"


def test_a_saved_change_writes_a_new_token_when_it_commits():
    before = cache.get(config_cache.TOKEN_KEY)
    with transaction.atomic():
        make_source("Website")
        assert cache.get(config_cache.TOKEN_KEY) == before  # not before it commits
    assert cache.get(config_cache.TOKEN_KEY) != before

    after = cache.get(config_cache.TOKEN_KEY)
    user = make_reviewer("someone")
    after = cache.get(config_cache.TOKEN_KEY)
    user.last_login = user.date_joined
    user.save(update_fields=["last_login"])  # a login changes nothing kept
    assert cache.get(config_cache.TOKEN_KEY) == after


def test_nothing_read_inside_a_transaction_is_kept():
    calls: list[int] = []

    def load() -> str:
        calls.append(1)
        return "value"

    with transaction.atomic():
        config_cache.cached("key", load)
        config_cache.cached("key", load)
    assert len(calls) == 2
    config_cache.cached("key", load)
    config_cache.cached("key", load)
    assert len(calls) == 3


def test_an_unknown_slug_is_not_kept():
    calls: list[int] = []

    def load() -> None:
        calls.append(1)

    for _ in range(3):
        assert config_cache.cached(("webhook-source", "nope"), load) is None
    assert len(calls) == 3 and User.objects.count() == 0


def test_junk_posted_to_a_slug_does_not_empty_the_kept_source(client):
    source, secret = make_source("Website")
    deliver(client, source, secret, LEAD)
    for _ in range(3):
        assert deliver(client, source, generate_secret(), LEAD).status_code == 401

    sent = statements_during(lambda: deliver(client, source, secret, {**LEAD, "email": "b@b.io"}))
    assert not any("pipeline_webhooksource" in sql for sql in sent)


@pytest.mark.parametrize("defer", [False, True], ids=["inline", "deferred"])
def test_a_kept_source_deleted_elsewhere_is_refused_404_not_500(client, settings, defer):
    from django.db import connection
    from django.test import RequestFactory

    from pipeline.intake import webhooks

    source, secret = make_source("Website")
    request = RequestFactory().post(f"/webhooks/{source.slug}/")
    assert webhooks.posted_source(request, source.slug).pk == source.pk  # kept
    with connection.cursor() as cursor:  # another program deletes it: no signal here
        table = connection.ops.quote_name(WebhookSource._meta.db_table)
        cursor.execute(f"DELETE FROM {table} WHERE id = %s", [source.pk])  # noqa: S608

    settings.WEBHOOK_DEFER = defer
    response = deliver(client, source, secret, LEAD)

    assert response.status_code == 404, response.content
    assert "no active webhook source" in response.json()["error"]
    assert not Lead.objects.exists() and not Submission.objects.exists()


def test_a_source_switched_off_elsewhere_is_refused_404_once_its_signature_fails(client):
    source, secret = make_source("Website")
    deliver(client, source, secret, LEAD)
    WebhookSource.objects.filter(pk=source.pk).update(is_active=False)  # no signal

    assert deliver(client, source, generate_secret(), LEAD).status_code == 404


def test_a_copy_is_read_again_after_its_maximum_age(monkeypatch):
    calls: list[int] = []
    config_cache.cached("key", lambda: calls.append(1) or "value")
    config_cache.cached("key", lambda: calls.append(1) or "value")
    assert len(calls) == 1
    monkeypatch.setattr(config_cache, "MAX_AGE_SECONDS", 0.0)
    config_cache.cached("key", lambda: calls.append(1) or "value")
    assert len(calls) == 2


def test_a_value_loaded_while_the_copies_were_emptied_is_not_kept():
    calls: list[int] = []

    def load_across_a_change() -> str:
        calls.append(1)
        if len(calls) == 1:
            config_cache.clear_local()  # a change committed while this was loading
        return "value read before the change"

    config_cache.cached("key", load_across_a_change)
    config_cache.cached("key", load_across_a_change)
    assert len(calls) == 2  # the first value was returned, not kept
    config_cache.cached("key", load_across_a_change)
    assert len(calls) == 2
