"""POST /webhooks/<slug>/: Standard Webhooks signatures, idempotency, validation, limits."""

import base64
import json
import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from pipeline import engine
from pipeline.intake.sources import generate_secret, rotate_secret
from pipeline.models import Lead, PipelineRun, StepRun, Submission
from tests.intake_helpers import deliver, make_source, sign

pytestmark = pytest.mark.django_db

LEAD = {
    "name": "Dana Reyes",
    "email": "dana@northwind.example",
    "company": "Northwind",
    "message": "We need a demo for 40 sales reps next week.",
}


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()


@pytest.fixture
def source():
    return make_source("Website")


def test_a_signed_delivery_is_stored_and_answered_202(client, source):
    response = deliver(client, *source, {**LEAD, "utm_source": "newsletter"})

    assert response.status_code == 202
    answer = response.json()
    lead = Lead.objects.get(pk=answer["lead_id"])
    submission = lead.submissions.get()
    assert answer == {
        "lead_id": lead.pk,
        "run_id": PipelineRun.objects.get(submission=submission).pk,
        "duplicate_of": None,
        "submission_id": submission.pk,
    }
    assert (lead.email, lead.email_normalized, lead.company) == (
        "dana@northwind.example",
        "dana@northwind.example",
        "Northwind",
    )
    assert submission.channel == "webhook" and submission.source == source[0]
    assert submission.message == LEAD["message"]


def test_unknown_extra_fields_are_kept_as_custom_fields(client, source):
    payload = {**LEAD, "utm_source": "newsletter", "seats": 40, "tags": ["a", "b"]}
    response = deliver(client, *source, payload)

    submission = Submission.objects.get(pk=response.json()["submission_id"])
    assert submission.custom_fields == {"utm_source": "newsletter", "seats": 40, "tags": ["a", "b"]}
    assert submission.raw_payload == payload


def test_unicode_names_and_messages_are_kept_exactly(client, source):
    name = "  Zoë Ærøskøbing-山田 "
    message = "Hola 👋\nНам нужна демонстрация.\r\n\tتجربة  "
    response = deliver(client, *source, {**LEAD, "name": name, "message": message})

    submission = Submission.objects.get(pk=response.json()["submission_id"])
    assert (submission.name, submission.message) == (name, message)
    assert submission.lead.name == name


def test_line_breaks_in_name_and_company_are_stored_as_spaces(client, source):
    payload = {**LEAD, "name": "Dana\r\nReyes", "company": "North\nwind\u2028Inc\r"}
    response = deliver(client, *source, payload)

    assert response.status_code == 202
    submission = Submission.objects.get(pk=response.json()["submission_id"])
    assert (submission.name, submission.company) == ("Dana Reyes", "North wind Inc ")
    assert (submission.lead.name, submission.lead.company) == ("Dana Reyes", "North wind Inc ")
    assert submission.raw_payload["name"] == "Dana\r\nReyes"  # as received, for the record
    assert submission.message == LEAD["message"]


def test_form_encoded_bodies_are_accepted(client, source):
    body = b"name=Ana+L%C3%B3pez&email=ana%40example.org&message=Hi&plan=pro"
    response = deliver(client, *source, body=body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 202
    submission = Submission.objects.get(pk=response.json()["submission_id"])
    assert (submission.name, submission.email) == ("Ana López", "ana@example.org")
    assert submission.custom_fields == {"plan": "pro"}


def test_the_source_field_mapping_maps_sender_fields_to_ours(client, source):
    webhook_source, secret = source
    webhook_source.field_mapping = {"E-mail address": "email", "data.org": "company"}
    webhook_source.save()
    payload = {"E-mail address": "kim@example.org", "data": {"org": "Kimco", "plan": "pro"}}

    response = deliver(client, webhook_source, secret, payload)

    submission = Submission.objects.get(pk=response.json()["submission_id"])
    assert (submission.email, submission.company) == ("kim@example.org", "Kimco")
    assert submission.custom_fields == {"data": {"plan": "pro"}}


# --- Signatures -------------------------------------------------------------------------------


def test_a_wrong_signature_is_refused_with_401(client, source):
    webhook_source, _ = source
    response = deliver(client, webhook_source, generate_secret(), LEAD)

    assert response.status_code == 401
    assert "signature mismatch" in response.json()["error"]
    assert not Submission.objects.exists()


def test_missing_signature_headers_are_named(client, source):
    webhook_source, _ = source
    response = client.post(
        f"/webhooks/{webhook_source.slug}/", data=json.dumps(LEAD), content_type="application/json"
    )

    assert response.status_code == 401
    assert "webhook-id, webhook-timestamp, webhook-signature" in response.json()["error"]


def test_an_expired_timestamp_is_refused_saying_so(client, source):
    response = deliver(client, *source, LEAD, timestamp=int(time.time()) - 301)

    assert response.status_code == 401
    assert "webhook-timestamp expired" in response.json()["error"]
    assert not Submission.objects.exists()


def test_a_timestamp_in_the_future_is_refused(client, source):
    response = deliver(client, *source, LEAD, timestamp=int(time.time()) + 600)

    assert response.status_code == 401
    assert "in the future" in response.json()["error"]


@pytest.mark.parametrize("timestamp", ["1" + "0" * 309, "-" + "9" * 400, "17e8", "soon", "1" * 13])
@pytest.mark.parametrize("path", ["/webhooks/{slug}/", "/inbound/{slug}/"])
def test_a_timestamp_that_is_no_time_is_refused_saying_so(client, source, timestamp, path):
    """Not a 500: a number past a float's range used to overflow on the way to the clock."""
    webhook_source, _ = source
    response = client.post(
        path.format(slug=webhook_source.slug),
        data=json.dumps(LEAD),
        content_type="application/json",
        headers={
            "webhook-id": "msg_1",
            "webhook-timestamp": timestamp,
            "webhook-signature": "v1,AAAA",
        },
    )

    assert response.status_code == 401
    assert response.json()["error"] == "webhook-timestamp must be Unix time in whole seconds"
    assert not Submission.objects.exists()


def test_a_timestamp_within_tolerance_is_accepted(client, source):
    response = deliver(client, *source, LEAD, timestamp=int(time.time()) - 280)

    assert response.status_code == 202


@pytest.mark.parametrize(
    ("signature", "detail"),
    [
        ("v1 not-base64!", "entry 1 is not '<version>,<base64 signature>'"),
        ("v1,not-base64!", "entry 1: the v1 signature is not base64"),
        ("v1,c2hvcnQ=", "entry 1: a v1 signature is 32 bytes (HMAC-SHA256), this one 5"),
        (",abc", "entry 1 is not '<version>,<base64 signature>'"),
        ("v1,", "entry 1 is not '<version>,<base64 signature>'"),
        ("v1a,anything", "no 'v1,<base64>' entry"),
        (" ".join(["v2,x"] * 21), "21 entries, at most 20"),
    ],
)
def test_a_malformed_signature_header_is_refused_with_401(client, source, signature, detail):
    response = deliver(client, *source, LEAD, signature=signature)

    assert response.status_code == 401
    error = response.json()["error"]
    assert error.startswith("malformed webhook-signature header: ")
    assert detail in error
    assert not Submission.objects.exists()


def test_a_well_formed_but_wrong_signature_is_a_mismatch_not_malformed(client, source):
    wrong = "v1," + base64.b64encode(bytes(32)).decode()
    response = deliver(client, *source, LEAD, signature=wrong)

    assert response.status_code == 401
    assert response.json()["error"].startswith("signature mismatch")


def test_entries_of_other_versions_beside_a_good_v1_are_skipped(client, source):
    webhook_source, secret = source
    body = json.dumps(LEAD).encode()
    timestamp = int(time.time())
    good = sign(secret, body, webhook_id="msg_multi", timestamp=timestamp)
    wrong = "v1," + base64.b64encode(bytes(32)).decode()
    response = deliver(
        client,
        webhook_source,
        secret,
        body=body,
        webhook_id="msg_multi",
        timestamp=timestamp,
        signature=f"v1a,c29tZS1lZDI1NTE5LXNpZw==  {wrong} {good}",
    )

    assert response.status_code == 202


def test_a_body_re_encoded_by_a_proxy_fails_verification(client, source):
    webhook_source, secret = source
    signed = json.dumps(LEAD, separators=(",", ":")).encode()
    reencoded = json.dumps(dict(reversed(LEAD.items())), indent=2).encode()
    timestamp = int(time.time())
    signature = sign(secret, signed, webhook_id="msg_proxy", timestamp=timestamp)

    response = deliver(
        client,
        webhook_source,
        secret,
        body=reencoded,
        webhook_id="msg_proxy",
        timestamp=timestamp,
        signature=signature,
    )

    assert response.status_code == 401
    error = response.json()["error"]
    assert "signature mismatch" in error and "re-encodes the body" in error
    assert not Submission.objects.exists()


def test_the_previous_secret_works_during_the_rotation_overlap(client, source):
    webhook_source, old_secret = source
    new_secret = rotate_secret(webhook_source, overlap=timedelta(hours=1))

    assert deliver(client, webhook_source, old_secret, LEAD).status_code == 202
    assert deliver(client, webhook_source, new_secret, LEAD).status_code == 202


def test_the_original_secret_survives_a_second_rotation_within_its_overlap(client, source):
    webhook_source, original = source
    rotate_secret(webhook_source, overlap=timedelta(hours=1))
    newest = rotate_secret(webhook_source, overlap=timedelta(hours=1))

    assert deliver(client, webhook_source, original, LEAD).status_code == 202
    assert deliver(client, webhook_source, newest, LEAD).status_code == 202


def test_the_previous_secret_stops_working_when_the_overlap_ends(client, source):
    webhook_source, old_secret = source
    rotate_secret(webhook_source, overlap=timedelta(hours=1))
    ended = (timezone.now() - timedelta(seconds=1)).isoformat()
    webhook_source.retired_secrets = [{"secret": old_secret, "expires_at": ended}]
    webhook_source.save()

    response = deliver(client, webhook_source, old_secret, LEAD)

    assert response.status_code == 401


def test_a_delivery_signed_with_both_secrets_is_accepted_after_the_overlap(client, source):
    webhook_source, old_secret = source
    new_secret = rotate_secret(webhook_source, overlap=timedelta(0))
    body = json.dumps(LEAD).encode()
    timestamp = int(time.time())
    both = " ".join(
        sign(secret, body, webhook_id="msg_both", timestamp=timestamp)
        for secret in (old_secret, new_secret)
    )

    response = deliver(
        client,
        webhook_source,
        new_secret,
        body=body,
        webhook_id="msg_both",
        timestamp=timestamp,
        signature=both,
    )

    assert response.status_code == 202


def test_svix_header_names_are_accepted(client, source):
    webhook_source, secret = source
    body = json.dumps(LEAD).encode()
    timestamp = int(time.time())
    headers = {
        "svix-id": "msg_svix",
        "svix-timestamp": str(timestamp),
        "svix-signature": sign(secret, body, webhook_id="msg_svix", timestamp=timestamp),
    }

    response = client.post(
        f"/webhooks/{webhook_source.slug}/",
        data=body,
        content_type="application/json",
        headers=headers,
    )

    assert response.status_code == 202


@pytest.mark.parametrize("door", ["webhooks", "inbound"])
def test_a_chunked_body_is_refused_with_411_not_a_signature_mismatch(client, source, door):
    """gunicorn passes a chunked body on without a Content-Length, which Django reads as empty."""
    webhook_source, secret = source
    body = json.dumps(LEAD).encode()
    timestamp = int(time.time())
    response = client.generic(
        "POST",
        f"/{door}/{webhook_source.slug}/",
        data=body,
        content_type="application/json",
        headers={
            "Transfer-Encoding": "chunked",
            "webhook-id": "msg_chunked",
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, body, webhook_id="msg_chunked", timestamp=timestamp),
        },
        CONTENT_LENGTH="",  # as gunicorn's environ has it for a chunked request
    )

    assert response.status_code == 411
    assert "Content-Length" in response.json()["error"]
    assert not Submission.objects.exists()


# --- Idempotency ------------------------------------------------------------------------------


def test_a_retried_delivery_returns_the_same_answer_without_a_second_lead_or_run(client, source):
    first = deliver(client, *source, LEAD, webhook_id="msg_retry")
    # A retry is signed afresh (new timestamp) with the same webhook-id and body.
    retry = deliver(client, *source, LEAD, webhook_id="msg_retry", timestamp=int(time.time()) - 5)

    assert first.status_code == retry.status_code == 202
    assert retry.content == first.content
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert Submission.objects.count() == 1
    assert PipelineRun.objects.count() == 1


def test_an_idempotency_key_header_identifies_the_delivery(client, source):
    key = {"Idempotency-Key": "order-1234"}
    first = deliver(client, *source, LEAD, webhook_id="msg_a", extra_headers=key)
    second = deliver(client, *source, LEAD, webhook_id="msg_b", extra_headers=key)

    assert second.json() == first.json()
    assert Submission.objects.count() == 1


@pytest.mark.parametrize("defer", [False, True])
def test_two_copies_with_one_idempotency_key_at_the_same_instant_make_one_lead(
    client, source, monkeypatch, settings, defer
):
    """Each copy looks for an earlier delivery before the other has stored: both find none, and
    the key's unique constraint makes the second insert find the first."""
    from pipeline.intake import receive

    settings.WEBHOOK_DEFER = defer
    lookup = receive._earlier_delivery
    looks = []

    def racing(source, key, sender_key=""):
        looks.append(sender_key)
        # The look before the insert finds nothing (the copy is not stored yet for the other).
        return None if len(looks) == 2 else lookup(source, key, sender_key)

    monkeypatch.setattr(receive, "_earlier_delivery", racing)
    key = {"Idempotency-Key": "order-1234"}
    first = deliver(client, *source, LEAD, webhook_id="msg_a", extra_headers=key)
    second = deliver(client, *source, LEAD, webhook_id="msg_b", extra_headers=key)

    assert first.status_code == second.status_code == 202
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert Submission.objects.count() == 1
    assert PipelineRun.objects.count() == 1


def test_a_captured_delivery_replayed_with_fresh_idempotency_keys_makes_no_new_lead(client, source):
    webhook_source, secret = source
    body = json.dumps(LEAD).encode()
    timestamp = int(time.time())
    signature = sign(secret, body, webhook_id="msg_captured", timestamp=timestamp)
    answers = []
    for attempt in range(3):
        response = deliver(
            client,
            webhook_source,
            secret,
            body=body,
            webhook_id="msg_captured",
            timestamp=timestamp,
            signature=signature,
            extra_headers={"Idempotency-Key": f"fresh-{attempt}"},
        )
        answers.append((response.status_code, response.json()))

    assert [status for status, _ in answers] == [202, 202, 202]
    assert answers[1][1] == answers[2][1] == answers[0][1]
    assert Lead.objects.count() == 1
    assert Submission.objects.count() == 1
    assert PipelineRun.objects.count() == 1


def test_a_reused_delivery_id_with_a_different_body_is_a_conflict(client, source):
    deliver(client, *source, LEAD, webhook_id="msg_same")
    other = deliver(client, *source, {**LEAD, "email": "other@example.org"}, webhook_id="msg_same")

    assert other.status_code == 409
    assert "msg_same" in other.json()["error"]
    assert Submission.objects.count() == 1


def test_the_same_delivery_id_from_another_source_is_another_delivery(client, source):
    other_source = make_source("Partner")
    first = deliver(client, *source, LEAD, webhook_id="msg_shared")
    second = deliver(client, *other_source, LEAD, webhook_id="msg_shared")

    assert first.json()["submission_id"] != second.json()["submission_id"]


# --- Validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        (
            {"name": "No Contact", "message": "hi"},
            {
                "email": "an email or a phone number is required",
                "phone": "an email or a phone number is required",
            },
        ),
        ({"email": "not-an-email"}, {"email": "not a valid email address"}),
        ({"email": "a@b.example", "phone": "call me"}, {"phone": "not a phone number"}),
        ({"email": ["a@b.example"]}, {"email": "must be text"}),
        ({"email": "a@b.example", "name": True}, {"name": "must be text, not true or false"}),
        ({"email": "a@b.example", "name": "x" * 301}, {"name": "too long: at most 300"}),
        ({"email": "a@b.example", "message": "nul\x00byte"}, {"message": "NUL"}),
        ({"email": "a@b.example", "extra": "nul\x00"}, {"custom_fields": "NUL"}),
    ],
)
def test_invalid_leads_are_refused_with_400_naming_each_bad_field(client, source, payload, errors):
    response = deliver(client, *source, payload)

    assert response.status_code == 400
    body = response.json()
    assert set(body["errors"]) == set(errors)
    for field, message in errors.items():
        assert message in body["errors"][field]
    assert not Submission.objects.exists()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (b"{not json", "body", "not valid JSON"),
        (b"[1, 2]", "body", "must be a JSON object, not list"),
        (b"\xff\xfe{}", "body", "not UTF-8"),
        (b'{"email": "a@b.example", "n": 1e999}', "custom_fields", "not finite"),
        (b'{"email": "a@b.example", "n": NaN}', "body", "NaN is not a JSON number"),
        (b'{"n": -' + b"9" * 5000 + b"}", "body", "not valid JSON: a number of 5000 digits"),
    ],
)
def test_bodies_we_cannot_read_are_refused_with_400(client, source, body, field, message):
    webhook_source, secret = source
    signature = "v1,AAAA" if body.startswith(b"\xff") else None
    response = deliver(client, webhook_source, secret, body=body, signature=signature)

    assert response.status_code == 400
    assert message in response.json()["errors"][field]


def test_a_body_over_the_size_limit_is_refused_with_413(client, source, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 2048
    response = deliver(client, *source, {**LEAD, "message": "x" * 3000})

    assert response.status_code == 413
    assert "the limit is 2048 bytes" in response.json()["error"]


def test_a_wrong_content_type_is_refused_with_415(client, source):
    response = deliver(client, *source, body=b"email=a@b.example", content_type="text/plain")

    assert response.status_code == 415
    assert "text/plain" in response.json()["error"]


def test_an_unknown_source_is_404(client):
    response = client.post("/webhooks/nobody/", data="{}", content_type="application/json")

    assert response.status_code == 404
    assert "nobody" in response.json()["error"]


def test_an_inactive_source_is_404(client, source):
    webhook_source, secret = source
    webhook_source.is_active = False
    webhook_source.save()

    assert deliver(client, webhook_source, secret, LEAD).status_code == 404


def test_only_post_is_allowed(client, source):
    response = client.get(f"/webhooks/{source[0].slug}/")

    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


def test_deliveries_over_the_source_rate_limit_get_429_with_retry_after(client, source):
    webhook_source, secret = source
    webhook_source.rate_limit_per_minute = 2
    webhook_source.save()

    statuses = [deliver(client, webhook_source, secret, LEAD).status_code for _ in range(3)]
    limited = deliver(client, webhook_source, secret, LEAD)

    assert statuses == [202, 202, 429]
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert "at most 2 deliveries a minute" in limited.json()["error"]
    assert Submission.objects.count() == 2


def test_the_rate_limit_is_per_source(client, source):
    webhook_source, secret = source
    webhook_source.rate_limit_per_minute = 1
    webhook_source.save()
    other = make_source("Partner", rate_limit_per_minute=1)

    assert deliver(client, webhook_source, secret, LEAD).status_code == 202
    assert deliver(client, *other, LEAD).status_code == 202


# --- Durability -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_failed_enqueue_does_not_lose_the_lead(client, source, monkeypatch):
    def broker_down(step_run_id):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(engine, "enqueue", broker_down)
    response = deliver(client, *source, LEAD)

    assert response.status_code == 202
    run = PipelineRun.objects.get(pk=response.json()["run_id"])
    # The run's first step waits in the database for the sweeper to re-deliver it.
    assert run.steps.get(name="classify").status == StepRun.Status.QUEUED
    assert Submission.objects.get().lead.email == LEAD["email"]


@pytest.mark.django_db(transaction=True)
def test_a_run_that_cannot_be_created_is_accepted_and_the_retry_creates_it(
    client, source, monkeypatch
):
    monkeypatch.setattr(engine, "enqueue", lambda step_run_id: None)
    real_start = engine.start

    def failing_start(*args, **kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(engine, "start", failing_start)
    first = deliver(client, *source, LEAD, webhook_id="msg_hiccup")

    assert first.status_code == 202
    assert first.json()["run_id"] is None
    assert Submission.objects.get().lead_id == first.json()["lead_id"]
    assert not PipelineRun.objects.exists()

    monkeypatch.setattr(engine, "start", real_start)
    retry = deliver(client, *source, LEAD, webhook_id="msg_hiccup")

    assert retry.status_code == 202
    assert retry.json()["run_id"] == PipelineRun.objects.get().pk
    assert Submission.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_database_error_while_creating_the_run_still_commits_the_submission(
    client, source, monkeypatch
):
    from django.db import DatabaseError, connection, transaction

    from pipeline.intake.receive import start_pending_runs

    monkeypatch.setattr(engine, "enqueue", lambda step_run_id: None)
    real_start = engine.start

    def start_then_fail_in_sql(*args, **kwargs):
        with transaction.atomic():  # as engine.start: its writes are rolled back with it
            real_start(*args, **kwargs)
            with connection.cursor() as cursor:
                cursor.execute("SELECT * FROM no_such_table_for_this_test")

    monkeypatch.setattr(engine, "start", start_then_fail_in_sql)
    response = deliver(client, *source, LEAD)

    assert response.status_code == 202
    assert response.json()["run_id"] is None
    submission = Submission.objects.get(pk=response.json()["submission_id"])
    assert submission.lead.email == LEAD["email"] and submission.response == {}
    assert not PipelineRun.objects.exists()
    with pytest.raises(DatabaseError):  # the failure was real SQL, not a stub
        start_then_fail_in_sql("lead", lead=submission.lead, submission=submission)

    monkeypatch.setattr(engine, "start", real_start)
    assert start_pending_runs(older_than_seconds=0) == 1
    submission.refresh_from_db()
    assert submission.response["run_id"] == PipelineRun.objects.get(submission=submission).pk


def test_unsigned_requests_do_not_use_up_the_sender_s_allowance(client, source):
    webhook_source, secret = source
    webhook_source.rate_limit_per_minute = 1
    webhook_source.save()
    for _ in range(3):
        deliver(client, webhook_source, generate_secret(), LEAD)

    assert deliver(client, webhook_source, secret, LEAD).status_code == 202


def test_a_stored_lead_whose_run_cannot_start_is_still_accepted_and_started_later(
    client, source, monkeypatch
):
    def broken_start(*args, **kwargs):
        raise RuntimeError("queue tables are being migrated")

    monkeypatch.setattr(engine, "start", broken_start)
    response = deliver(client, *source, LEAD)
    assert response.status_code == 202
    answer = response.json()
    assert answer["run_id"] is None
    submission = Submission.objects.get(pk=answer["submission_id"])
    assert not PipelineRun.objects.filter(submission=submission).exists()

    monkeypatch.undo()
    from pipeline.intake.receive import start_pending_runs

    assert start_pending_runs(older_than_seconds=0) == 1
    run = PipelineRun.objects.get(submission=submission)
    submission.refresh_from_db()
    assert submission.response["run_id"] == run.pk
    assert start_pending_runs(older_than_seconds=0) == 0


def test_a_body_nested_hundreds_deep_is_refused_with_400_not_500(client, source):
    body = b'{"email": "a@b.example", "x": ' + b'{"a": ' * 800 + b"1" + b"}" * 800 + b"}"
    response = deliver(client, *source, body=body)
    assert response.status_code == 400
    assert "nested deeper than" in response.json()["errors"]["body"]
    assert not Submission.objects.exists()


def test_an_international_address_too_long_once_in_ascii_is_refused(client, source):
    label = "東京都千代田区丸の内一丁目二番三号"  # 17 characters, 70 once punycoded
    email = "a@" + ".".join([label] * 14) + ".jp"
    response = deliver(client, *source, {"email": email, "message": "hello"})
    assert response.status_code == 400
    assert "too long" in response.json()["errors"]["email"]


def test_a_slug_with_a_nul_byte_is_404(client):
    assert (
        client.post("/webhooks/a%00b/", data=b"{}", content_type="application/json").status_code
        == 404
    )
