"""Email through a provider's HTTP API (django-anymail, Postmark on loopback) and its webhooks."""

import base64
import json

import pytest

from pipeline.integrations import outbox
from pipeline.models import Lead, OutboundEmail
from tests.factories import make_lead
from tests.fakes.postmark import FakePostmark

pytestmark = pytest.mark.django_db
TOKEN = "postmark-server-token"


@pytest.fixture
def postmark(settings):
    with FakePostmark(token=TOKEN) as fake:
        settings.EMAIL_PROVIDER = "postmark"
        settings.MAILERS = {
            "default": {
                "BACKEND": "anymail.backends.postmark.EmailBackend",
                "OPTIONS": {"server_token": TOKEN, "api_url": fake.url + "/", "timeout": 1},
            }
        }
        yield fake


def queued(lead=None) -> OutboundEmail:
    lead = lead or make_lead(email="dana@northwind.example")
    return outbox.queue_email(lead=lead, kind="first_reply", subject="Your demo", body="Hi Dana")[0]


def test_accepted_by_the_provider_is_sent_with_its_message_id(postmark):
    email = queued()
    assert outbox.deliver(email.pk) == "sent"
    email.refresh_from_db()
    [request] = postmark.requests
    assert request["headers"]["X-Postmark-Server-Token"] == TOKEN
    assert request["json"]["To"] == "dana@northwind.example"
    assert request["json"]["Subject"] == "Your demo"
    headers = {header["Name"]: header["Value"] for header in request["json"]["Headers"]}
    assert headers["Message-ID"] == email.message_id
    assert "List-Unsubscribe" in headers
    assert email.provider_message_id == postmark.sent[0]["MessageID"]
    assert email.sent_at is not None


def test_a_rejected_recipient_fails_with_the_providers_reason(postmark):
    postmark.inactive.add("dana@northwind.example")
    email = queued()
    assert outbox.deliver(email.pk) == "failed"
    email.refresh_from_db()
    assert "inactive" in email.error
    assert outbox.deliver(email.pk) == "failed"
    assert len(postmark.requests) == 1


def test_a_wrong_token_fails_and_says_so(postmark, settings):
    settings.MAILERS["default"]["OPTIONS"]["server_token"] = "wrong"
    email = queued()
    assert outbox.deliver(email.pk) == "failed"
    email.refresh_from_db()
    assert "401" in email.error and "Server Token" in email.error


def test_throttling_puts_the_email_back_in_the_queue(postmark):
    postmark.answer(429, {"ErrorCode": 429, "Message": "Rate limit exceeded"})
    email = queued()
    assert outbox.deliver(email.pk) == "queued"
    assert "429" in OutboundEmail.objects.get(pk=email.pk).error
    assert outbox.deliver(email.pk) == "sent"
    assert len(postmark.sent) == 1


def test_a_timeout_leaves_the_email_unknown_and_it_is_never_resent(postmark):
    postmark.answer(delay=2.5)  # longer than the 1 s timeout: Postmark may have it
    email = queued()
    assert outbox.deliver(email.pk) == "unknown"
    email.refresh_from_db()
    assert "Check the mail server" in email.error
    assert outbox.deliver(email.pk) == "unknown"
    assert len(postmark.requests) == 1


# --- Tracking webhooks --------------------------------------------------------------------------


def post_event(client, payload, *, secret="hooks:s3cret"):
    auth = base64.b64encode(secret.encode()).decode()
    return client.post(
        "/email/events/",
        json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {auth}",
    )


@pytest.fixture
def hooks(postmark, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hooks:s3cret"}
    return postmark


def sent_email(postmark) -> OutboundEmail:
    email = queued()
    outbox.deliver(email.pk)
    email.refresh_from_db()
    return email


def test_a_delivery_event_marks_the_email_delivered(client, hooks):
    email = sent_email(hooks)
    response = post_event(
        client,
        {
            "RecordType": "Delivery",
            "MessageID": email.provider_message_id,
            "Recipient": "dana@northwind.example",
            "DeliveredAt": "2026-12-05T08:01:00Z",
            "Details": "Test delivery webhook details",
            "Tag": "",
            "ServerID": 23,
            "Metadata": {},
        },
    )
    assert response.status_code == 200
    email.refresh_from_db()
    assert (email.state, email.delivery_status) == ("sent", "delivered")


def test_a_bounce_fails_the_email_with_the_reason(client, hooks):
    email = sent_email(hooks)
    response = post_event(
        client,
        {
            "RecordType": "Bounce",
            "ID": 42,
            "Type": "HardBounce",
            "TypeCode": 1,
            "MessageID": email.provider_message_id,
            "Email": "dana@northwind.example",
            "BouncedAt": "2026-12-05T08:02:00Z",
            "Description": "The server was unable to deliver your message (ex: unknown user).",
            "Details": "smtp;550 5.1.1 user unknown",
            "Inactive": True,
            "CanActivate": True,
            "Subject": "Your demo",
        },
    )
    assert response.status_code == 200
    email.refresh_from_db()
    assert (email.state, email.delivery_status) == ("failed", "bounced")
    assert "Postmark reported bounced" in email.error
    assert "550 5.1.1 user unknown" in email.error


def test_a_spam_complaint_unsubscribes_the_lead(client, hooks):
    email = sent_email(hooks)
    post_event(
        client,
        {
            "RecordType": "SpamComplaint",
            "ID": 43,
            "Type": "SpamComplaint",
            "TypeCode": 512,
            "MessageID": email.provider_message_id,
            "Email": "dana@northwind.example",
            "BouncedAt": "2026-12-05T08:03:00Z",
            "Description": "The subscriber explicitly marked this message as spam.",
            "Details": "",
            "Subject": "Your demo",
        },
    )
    assert Lead.objects.get(pk=email.lead_id).unsubscribed_at is not None


def test_webhooks_without_the_secret_are_refused(client, hooks):
    email = sent_email(hooks)
    response = post_event(
        client,
        {"RecordType": "Bounce", "MessageID": email.provider_message_id, "Type": "HardBounce"},
        secret="hooks:wrong",
    )
    assert response.status_code == 400
    assert OutboundEmail.objects.get(pk=email.pk).state == "sent"


def test_a_garbage_webhook_body_is_a_400_not_a_500(client, hooks):
    auth = base64.b64encode(b"hooks:s3cret").decode()
    for body in ("not json", "[]", '{"RecordType": 5}', "{}"):
        response = client.post(
            "/email/events/",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Basic {auth}",
        )
        assert response.status_code < 500, body


def test_email_provider_from_the_environment_selects_the_anymail_backend():
    from tests.project.test_settings import settings_in_subprocess

    result = settings_in_subprocess(
        {
            "DEBUG": "1",
            "EMAIL_PROVIDER": "postmark",
            "EMAIL_PROVIDER_API_KEY": "pm-key",
            "EMAIL_PROVIDER_API_URL": "http://127.0.0.1:9/",
        },
        "s.MAILERS['default']",
    )
    assert result.returncode == 0, result.stderr
    assert "'BACKEND': 'anymail.backends.postmark.EmailBackend'" in result.stdout
    assert "'server_token': 'pm-key'" in result.stdout
    assert "'api_url': 'http://127.0.0.1:9/'" in result.stdout


def test_an_email_provider_without_a_key_fails_loudly():
    from tests.project.test_settings import settings_in_subprocess

    result = settings_in_subprocess({"DEBUG": "1", "EMAIL_PROVIDER": "sendgrid"}, "1")
    assert result.returncode != 0
    assert "EMAIL_PROVIDER=sendgrid needs EMAIL_PROVIDER_API_KEY" in result.stderr


def _json_like():
    from hypothesis import strategies as st

    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(
                st.sampled_from(["RecordType", "MessageID", "Type", "Recipient", "Email", "x"])
                | st.text(max_size=8),
                children,
                max_size=5,
            )
        ),
        max_leaves=10,
    )


def test_the_webhook_never_answers_5xx_to_any_body(client, hooks):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    auth = base64.b64encode(b"hooks:s3cret").decode()
    bodies = _json_like().map(json.dumps) | st.binary(max_size=80).map(
        lambda data: data.decode("latin-1")
    )

    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(body=bodies, record=st.sampled_from(["Delivery", "Bounce", "SpamComplaint", "Open"]))
    def check(body, record):
        for payload in (body, json.dumps({"RecordType": record, "MessageID": body[:30]})):
            response = client.post(
                "/email/events/",
                payload,
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Basic {auth}",
            )
            assert response.status_code < 500, (payload, response.content[:200])

    check()


def test_a_delivery_report_settles_an_email_whose_send_timed_out(client, hooks):
    hooks.answer(delay=2.5)
    email = queued()
    assert outbox.deliver(email.pk) == "unknown"
    [request] = hooks.requests
    assert request["json"]["Metadata"] == {"leadops_email_id": str(email.pk)}
    response = post_event(
        client,
        {
            "RecordType": "Delivery",
            "MessageID": "late-message-id",
            "Recipient": "dana@northwind.example",
            "DeliveredAt": "2026-12-05T08:01:00Z",
            "Details": "",
            "Metadata": {"leadops_email_id": str(email.pk)},
        },
    )
    assert response.status_code == 200
    email.refresh_from_db()
    assert (email.state, email.delivery_status) == ("sent", "delivered")
    assert email.provider_message_id == "late-message-id"


@pytest.mark.parametrize("email_id", ["²", "٣", "9" * 30, "-1", " "])
def test_a_delivery_report_naming_no_email_of_ours_is_ignored_not_a_500(client, hooks, email_id):
    response = post_event(
        client,
        {
            "RecordType": "Delivery",
            "MessageID": "unknown-message-id",
            "Recipient": "dana@northwind.example",
            "DeliveredAt": "2026-12-05T08:01:00Z",
            "Details": "",
            "Metadata": {"leadops_email_id": email_id},
        },
    )
    assert response.status_code == 200


def test_a_refused_connection_keeps_the_email_queued(settings):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.MAILERS = {
        "default": {
            "BACKEND": "anymail.backends.postmark.EmailBackend",
            "OPTIONS": {"server_token": TOKEN, "api_url": f"http://127.0.0.1:{port}/"},
        }
    }
    email = queued()
    assert outbox.deliver(email.pk) == "queued"
    assert "refused for now" in OutboundEmail.objects.get(pk=email.pk).error
