"""Email providers' HTTP APIs (django-anymail) mapped onto the outbox's states, and their
delivery webhooks mapped onto each email.

Sending (called by the outbox's state machine, which stays the same for SMTP and providers):
- accepted (the provider answered 2xx, the message is queued or sent there) -> sent, with the
  provider's message id kept for its webhooks;
- rejected (all recipients refused, or a 4xx about the message) -> failed with the reason;
- throttled or the provider's own error (429, 5xx) -> queued again: its answer proves it did
  not take the message;
- no answer (a read timeout, a connection dropped mid-request) -> unknown, never resent on its
  own, like an interrupted SMTP conversation. A refused connection or a connect timeout sent
  nothing: queued again.

Tracking (anymail's `tracking` signal, from the provider's webhook at /email/events/):
delivered and opened/clicked are noted; bounced, rejected and failed turn a sent (or unknown)
email into failed with the provider's reason; complained and unsubscribed also stop all mail
to the lead.
"""

from __future__ import annotations

import logging

import requests
from anymail.exceptions import AnymailError, AnymailRecipientsRefused
from anymail.signals import tracking
from django.dispatch import receiver
from django.utils import timezone

from pipeline.ids import parse_id
from pipeline.models import Lead, OutboundEmail

logger = logging.getLogger(__name__)

State = OutboundEmail.State
# SMTP-like codes, so the outbox handles a provider's answer exactly like a mail server's.
TEMPORARY = 451
PERMANENT = 554
FAILED_EVENTS = ("bounced", "rejected", "failed")
STOP_EVENTS = ("complained", "unsubscribed")
# Later events never hide worse news: a bounce stays a bounce if an "opened" arrives after it.
EVENT_RANK = {
    "queued": 0,
    "sent": 1,
    "deferred": 2,
    "delivered": 3,
    "autoresponded": 3,
    "opened": 4,
    "clicked": 5,
    "unsubscribed": 6,
    "complained": 7,
    "failed": 8,
    "rejected": 8,
    "bounced": 8,
}


def is_provider_error(error: BaseException) -> bool:
    return isinstance(error, AnymailError)


# Amazon SES error codes that mean "not now" (sending rate, daily quota), not "never".
SES_THROTTLED = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "LimitExceededException"}
)


def _boto_answer(error: BaseException) -> tuple[int, str, str] | None:
    """(HTTP status, error code, message) when Amazon SES answered with an error."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict) or not isinstance(response.get("Error"), dict):
        return None
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    found = response["Error"]
    return (
        status if isinstance(status, int) else 400,
        str(found.get("Code", "")),
        str(found.get("Message", "")),
    )


def _boto_refusal(cause: BaseException) -> int | None:
    """refusal_code for an error from boto3 (Amazon SES), by what it proves was sent."""
    from botocore.exceptions import (
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    if isinstance(cause, (ConnectTimeoutError, EndpointConnectionError)):
        return TEMPORARY  # never connected: nothing was sent
    if isinstance(cause, (NoCredentialsError, PartialCredentialsError)):
        return PERMANENT  # nothing was sent, and nothing will be until someone configures it
    answer = _boto_answer(cause)
    if answer is None:
        return None  # a read timeout or a dropped connection: SES may have the message
    status, code, _message = answer
    if status == 429 or status >= 500 or code in SES_THROTTLED:
        return TEMPORARY
    return PERMANENT if 400 <= status < 500 else None


def refusal_code(error: BaseException) -> int | None:
    """The code of a provider answer that proves the message was not taken; None otherwise."""
    if not isinstance(error, AnymailError):
        return None
    if isinstance(error, AnymailRecipientsRefused):
        return PERMANENT
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(error.__cause__, (BotoCoreError, ClientError)):
        return _boto_refusal(error.__cause__)
    if isinstance(error, requests.ConnectTimeout) or _never_connected(error):
        return TEMPORARY  # nothing was sent
    status = getattr(error, "status_code", None)
    if status is None:
        return None  # no answer: the provider may have the message
    if status == 429 or status >= 500:
        return TEMPORARY
    if 400 <= status < 500:
        return PERMANENT
    return None


def _never_connected(error: BaseException) -> bool:
    """A refused connection (requests wraps urllib3's NewConnectionError): nothing left us."""
    from urllib3.exceptions import NewConnectionError

    cause = error.__cause__
    if not isinstance(cause, requests.ConnectionError) or not cause.args:
        return False
    return isinstance(getattr(cause.args[0], "reason", None), NewConnectionError)


def describe(error: AnymailError) -> str:
    """The provider's reason in one line (its answer, not a traceback)."""
    status = getattr(error, "status_code", None)
    reason = ""
    response = getattr(error, "response", None)
    answer = _boto_answer(error)
    if answer is not None:  # Amazon SES: boto3 hands over its parsed answer
        status, code, message = answer
        reason = f"{code}: {message}" if code else message
    elif response is not None:
        try:
            body = response.json()
            reason = str(body.get("Message") or body.get("message") or body.get("errors") or "")
        except (ValueError, AttributeError):
            reason = (getattr(response, "text", "") or "")[:300]
    if isinstance(error, AnymailRecipientsRefused):
        reason = reason or "the provider refused every recipient"
    first_line = str(error.args[0]) if error.args else type(error).__name__
    parts = [
        error.esp_name or "provider",
        f"answered {status}" if status else "",
        reason or first_line,
    ]
    return " ".join(part for part in parts if part)[:500]


METADATA_KEY = "leadops_email_id"


def tag(message, email_id: int) -> None:
    """Carry our email id in the provider's metadata (SMTP ignores it).

    The provider echoes it in its webhooks, so an email whose send timed out (`unknown`, no
    provider id known) is still recognised when the provider reports it delivered.
    """
    message.metadata = {METADATA_KEY: str(email_id)}


def record_accepted(email_id: int, message) -> None:
    """Keep the provider's id of a message it accepted; its webhooks refer to it."""
    status = getattr(message, "anymail_status", None)
    message_id = getattr(status, "message_id", None)
    if isinstance(message_id, str) and message_id:
        OutboundEmail.objects.filter(pk=email_id).update(provider_message_id=message_id[:200])


def record_event(
    *,
    message_id: str,
    event_type: str,
    reason: str = "",
    esp_name: str = "",
    email_id: str = "",
) -> bool:
    """Apply one tracking event to the email the provider calls `message_id` (or that carried
    our `email_id` in its metadata). False: no such email."""
    # The provider's text is untrusted: PostgreSQL text cannot hold NUL, so it never reaches a
    # query or a column with one.
    message_id, event_type, reason, esp_name, email_id = (
        value.replace("\x00", "") for value in (message_id, event_type, reason, esp_name, email_id)
    )
    email = None
    if message_id:
        email = OutboundEmail.objects.filter(provider_message_id=message_id).first()
    if email is None and (known := parse_id(email_id)):
        email = OutboundEmail.objects.filter(pk=known).first()
        if email is not None and message_id and not email.provider_message_id:
            OutboundEmail.objects.filter(pk=email.pk).update(provider_message_id=message_id[:200])
    if email is None:
        logger.info("email.event_unmatched esp=%s event=%s", esp_name, event_type)
        return False
    now = timezone.now()
    if EVENT_RANK.get(event_type, -1) >= EVENT_RANK.get(email.delivery_status, -1):
        OutboundEmail.objects.filter(pk=email.pk).update(
            delivery_status=event_type[:20], delivery_updated_at=now
        )
    if event_type in FAILED_EVENTS:
        OutboundEmail.objects.filter(pk=email.pk, state__in=(State.SENT, State.UNKNOWN)).update(
            state=State.FAILED, error=f"{esp_name} reported {event_type}: {reason}"[:2000]
        )
    elif event_type in ("delivered", "opened", "clicked"):
        # An email we could not be sure about did go out after all.
        OutboundEmail.objects.filter(pk=email.pk, state=State.UNKNOWN).update(
            state=State.SENT, sent_at=now, error=""
        )
    if event_type in STOP_EVENTS:
        Lead.objects.filter(pk=email.lead_id, unsubscribed_at__isnull=True).update(
            unsubscribed_at=now
        )
    if event_type in FAILED_EVENTS or event_type in STOP_EVENTS:
        from pipeline.followups import stop_quietly

        stop_quietly(email.lead_id, f"an email to the lead {event_type}")
    logger.info("email.event email=%s esp=%s event=%s", email.pk, esp_name, event_type)
    return True


@receiver(tracking, dispatch_uid="leadops-email-tracking")
def on_tracking(sender, event, esp_name, **kwargs) -> None:
    record_event(
        message_id=event.message_id or "",
        event_type=event.event_type or "unknown",
        reason=" ".join(part for part in (event.description, event.mta_response) if part)
        or event.reject_reason
        or "",
        esp_name=esp_name,
        email_id=str((event.metadata or {}).get(METADATA_KEY, "")),
    )
