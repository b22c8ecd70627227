"""Amazon SES through django-anymail and boto3, against a fake SES v2 API on loopback that
checks the Signature Version 4 of every request, and its SNS delivery/bounce notifications."""

import base64
import json
import socket

import pytest

from leadops.settings import amazon_ses_client_params
from pipeline.integrations import outbox
from pipeline.models import Lead, OutboundEmail
from tests.factories import make_lead
from tests.fakes.ses import ACCESS_KEY, REGION, SECRET_KEY, FakeSES, throttled

pytestmark = pytest.mark.django_db
TOPIC = f"arn:aws:sns:{REGION}:123456789012:leadops-ses-events"


def ses_mailer(endpoint_url: str, *, secret: str = SECRET_KEY, timeout: int = 1) -> dict:
    """The settings' SES mailer (botocore retries off), pointed at the fake with test keys."""
    return {
        "default": {
            "BACKEND": "anymail.backends.amazon_ses.EmailBackend",
            "OPTIONS": {
                "client_params": amazon_ses_client_params(
                    timeout=timeout, region=REGION, endpoint_url=endpoint_url
                ),
                "session_params": {
                    "aws_access_key_id": ACCESS_KEY,
                    "aws_secret_access_key": secret,
                },
            },
        }
    }


@pytest.fixture
def ses(settings):
    with FakeSES() as fake:
        settings.EMAIL_PROVIDER = "amazon_ses"
        settings.MAILERS = ses_mailer(fake.url)
        yield fake


def queued(lead=None) -> OutboundEmail:
    lead = lead or make_lead(email="dana@northwind.example")
    return outbox.queue_email(lead=lead, kind="first_reply", subject="Your demo", body="Hi Dana")[0]


def sends(fake) -> list[dict]:
    return [r for r in fake.requests if r["path"] == "/v2/email/outbound-emails"]


# --- Sending -------------------------------------------------------------------------------------


def test_accepted_by_ses_is_sent_with_its_message_id_and_our_headers(ses):
    email = queued()
    assert outbox.deliver(email.pk) == "sent"
    email.refresh_from_db()
    [request] = sends(ses)
    assert request["headers"]["Authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/"
    )
    [sent] = ses.sent
    message = sent["message"]
    assert message["To"] == "dana@northwind.example" and message["Subject"] == "Your demo"
    assert message["Message-ID"] == email.message_id
    assert "List-Unsubscribe" in message
    assert json.loads(message["X-Metadata"]) == {"leadops_email_id": str(email.pk)}
    assert email.provider_message_id == sent["MessageId"]


def test_a_wrongly_signed_request_fails_and_says_so(ses, settings):
    settings.MAILERS = ses_mailer(ses.url, secret="not-the-secret")
    email = queued()
    assert outbox.deliver(email.pk) == "failed"
    email.refresh_from_db()
    assert "UnrecognizedClientException" in email.error and "Amazon SES" in email.error
    assert ses.sent == []


def test_a_suppressed_recipient_fails_with_ses_s_reason(ses):
    ses.suppressed.add("dana@northwind.example")
    email = queued()
    assert outbox.deliver(email.pk) == "failed"
    email.refresh_from_db()
    assert "MessageRejected" in email.error and "suppression list" in email.error
    assert outbox.deliver(email.pk) == "failed"
    assert len(sends(ses)) == 1


def test_throttling_puts_the_email_back_in_the_queue_without_botocore_retrying(ses):
    status, body, headers = throttled()
    ses.answer(status, body, headers=headers)
    email = queued()
    assert outbox.deliver(email.pk) == "queued"
    assert len(sends(ses)) == 1  # botocore did not retry on its own
    assert "TooManyRequestsException" in OutboundEmail.objects.get(pk=email.pk).error
    assert outbox.deliver(email.pk) == "sent"
    assert len(ses.sent) == 1


def test_a_timeout_leaves_the_email_unknown_and_it_is_never_resent(ses):
    ses.answer(delay=2.5)  # longer than the 1 s read timeout: SES may have the message
    email = queued()
    assert outbox.deliver(email.pk) == "unknown"
    assert outbox.deliver(email.pk) == "unknown"
    assert len(sends(ses)) == 1


def test_a_refused_connection_keeps_the_email_queued(settings):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.MAILERS = ses_mailer(f"http://127.0.0.1:{port}")
    email = queued()
    assert outbox.deliver(email.pk) == "queued"


def test_email_provider_amazon_ses_from_the_environment():
    from tests.project.test_settings import settings_in_subprocess

    result = settings_in_subprocess(
        {
            "DEBUG": "1",
            "EMAIL_PROVIDER": "amazon_ses",
            "EMAIL_PROVIDER_REGION": "eu-central-1",
            "EMAIL_PROVIDER_CONFIGURATION_SET": "leadops-events",
            "EMAIL_TIMEOUT": "7",
        },
        "s.MAILERS['default'], s.ANYMAIL['AMAZON_SES_CLIENT_PARAMS']",
    )
    assert result.returncode == 0, result.stderr
    assert "'BACKEND': 'anymail.backends.amazon_ses.EmailBackend'" in result.stdout
    assert "'region_name': 'eu-central-1'" in result.stdout
    assert "'retries': {'total_max_attempts': 1}" in result.stdout
    assert "'read_timeout': 7" in result.stdout
    assert "'configuration_set_name': 'leadops-events'" in result.stdout


def test_amazon_ses_without_a_region_fails_loudly():
    from tests.project.test_settings import settings_in_subprocess

    result = settings_in_subprocess(
        {"DEBUG": "1", "EMAIL_PROVIDER": "amazon_ses", "AWS_REGION": "", "AWS_DEFAULT_REGION": ""},
        "1",
    )
    assert result.returncode != 0
    assert "EMAIL_PROVIDER=amazon_ses needs EMAIL_PROVIDER_REGION" in result.stderr


# --- Tracking: SES events through an SNS topic ----------------------------------------------------


@pytest.fixture
def hooks(ses, settings):
    settings.ANYMAIL = {
        "WEBHOOK_SECRET": "hooks:s3cret",
        "AMAZON_SES_CLIENT_PARAMS": amazon_ses_client_params(timeout=1, endpoint_url=ses.url),
        "AMAZON_SES_SESSION_PARAMS": {
            "aws_access_key_id": ACCESS_KEY,
            "aws_secret_access_key": SECRET_KEY,
        },
    }
    return ses


def post_sns(client, message: dict | str, *, kind="Notification", secret="hooks:s3cret", **extra):
    sns_id = f"sns-{abs(hash(json.dumps(message, sort_keys=True)))}"
    body = {
        "Type": kind,
        "MessageId": sns_id,
        "TopicArn": TOPIC,
        "Message": message if isinstance(message, str) else json.dumps(message),
        "Timestamp": "2026-12-05T08:01:00.000Z",
        **extra,
    }
    auth = base64.b64encode(secret.encode()).decode()
    return client.post(
        "/email/events/",
        json.dumps(body),
        content_type="text/plain; charset=UTF-8",  # what SNS sends
        HTTP_AUTHORIZATION=f"Basic {auth}",
        HTTP_X_AMZ_SNS_MESSAGE_TYPE=kind,
        HTTP_X_AMZ_SNS_MESSAGE_ID=sns_id,
        HTTP_X_AMZ_SNS_TOPIC_ARN=TOPIC,
    )


def ses_event(event_type: str, message_id: str, *, headers=(), **event) -> dict:
    return {
        "eventType": event_type,
        "mail": {
            "timestamp": "2026-12-05T08:00:00.000Z",
            "messageId": message_id,
            "destination": ["dana@northwind.example"],
            "headers": list(headers),
        },
        **event,
    }


def sent_email() -> OutboundEmail:
    email = queued()
    assert outbox.deliver(email.pk) == "sent"
    email.refresh_from_db()
    return email


def test_an_sns_delivery_notification_marks_the_email_delivered(client, hooks):
    email = sent_email()
    delivery = {"recipients": ["dana@northwind.example"], "smtpResponse": "250 2.0.0 OK"}
    response = post_sns(client, ses_event("Delivery", email.provider_message_id, delivery=delivery))
    assert response.status_code == 200
    email.refresh_from_db()
    assert (email.state, email.delivery_status) == ("sent", "delivered")


def test_an_sns_bounce_fails_the_email_with_the_reason(client, hooks):
    email = sent_email()
    bounce = {
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "bouncedRecipients": [
            {"emailAddress": "dana@northwind.example", "diagnosticCode": "550 5.1.1 unknown user"}
        ],
    }
    response = post_sns(client, ses_event("Bounce", email.provider_message_id, bounce=bounce))
    assert response.status_code == 200
    email.refresh_from_db()
    assert email.state == "failed" and "550 5.1.1 unknown user" in email.error


def test_an_sns_complaint_unsubscribes_the_lead(client, hooks):
    email = sent_email()
    complaint = {
        "complainedRecipients": [{"emailAddress": "dana@northwind.example"}],
        "complaintFeedbackType": "abuse",
    }
    post_sns(client, ses_event("Complaint", email.provider_message_id, complaint=complaint))
    assert Lead.objects.get(pk=email.lead_id).unsubscribed_at is not None


def test_a_delivery_settles_an_email_whose_send_timed_out_by_its_metadata_header(client, hooks):
    hooks.answer(delay=2.5)
    email = queued()
    assert outbox.deliver(email.pk) == "unknown"
    metadata = json.dumps({"leadops_email_id": str(email.pk)})
    event = ses_event(
        "Delivery",
        "late-ses-id",
        headers=[{"name": "X-Metadata", "value": metadata}],
        delivery={"recipients": ["dana@northwind.example"]},
    )
    assert post_sns(client, event).status_code == 200
    email.refresh_from_db()
    assert (email.state, email.provider_message_id) == ("sent", "late-ses-id")


def test_the_sns_subscription_is_confirmed_with_a_signed_call(client, hooks):
    response = post_sns(
        client,
        "You have chosen to subscribe to the topic.",
        kind="SubscriptionConfirmation",
        Token="token-123",
        SubscribeURL="https://sns.example.invalid/confirm",
    )
    assert response.status_code == 200
    assert hooks.confirmed == [{"TopicArn": TOPIC, "Token": "token-123"}]


def test_a_subscription_aws_refuses_to_confirm_is_a_400_with_the_reason(client, hooks, settings):
    settings.ANYMAIL["AMAZON_SES_SESSION_PARAMS"]["aws_secret_access_key"] = "wrong"
    response = post_sns(
        client, "Subscribe?", kind="SubscriptionConfirmation", Token="token-9", SubscribeURL="x"
    )
    assert response.status_code == 400
    assert response.json()["error"] == "not_confirmed"
    assert hooks.confirmed == []


def test_notifications_without_the_secret_or_with_a_garbage_message_are_4xx(client, hooks):
    email = sent_email()
    event = ses_event("Delivery", email.provider_message_id, delivery={"recipients": []})
    assert post_sns(client, event, secret="hooks:wrong").status_code in (400, 401, 403)
    assert post_sns(client, "{not json").status_code == 400
    assert post_sns(client, {"eventType": "Bounce", "mail": {}}).status_code == 400
    email.refresh_from_db()
    assert email.delivery_status != "delivered"


def test_an_unreadable_answer_to_the_confirmation_is_a_400_not_a_500(client, hooks):
    hooks.answer(200, {"not": "the XML SNS answers"})
    response = post_sns(
        client, "Subscribe?", kind="SubscriptionConfirmation", Token="token-7", SubscribeURL="x"
    )
    assert response.status_code == 400 and response.json()["error"] == "not_confirmed"


def test_the_ses_webhook_never_answers_5xx_to_any_message(client, hooks):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
    values = st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(
                st.sampled_from(["mail", "bounce", "bouncedRecipients", "headers", "reason"])
                | st.text(max_size=6),
                children,
                max_size=4,
            )
        ),
        max_leaves=8,
    )
    events = st.sampled_from(["Bounce", "Delivery", "Complaint", "Reject", "Open", "Click", "x"])

    @settings(
        max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(event=events, extra=st.dictionaries(st.text(max_size=10), values, max_size=3))
    def check(event, extra):
        message = {"eventType": event, **extra}
        response = post_sns(client, message)
        assert response.status_code < 500, (message, response.content[:200])

    check()
