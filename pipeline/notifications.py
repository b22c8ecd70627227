"""Notifications about leads: email to the owner and a Slack incoming-webhook message.

Events: a lead scoring at least ESCALATION_SCORE, a lead asking for a call, a reply, and a
draft waiting in review longer than REVIEW_SLA_WORKING_MINUTES (working time). Each event is
one Notification row per channel, unique by its key, so an event notifies once however often
it is noticed.

Delivery is a worker task queued on commit, a durable task: the row is the truth, the queue
only says "look now". An attempt is claimed by one conditional UPDATE that takes a lease
(LEASE_SECONDS), so two workers never both deliver it; the outcome is recorded only while the
lease still holds. What a retry can cure is retried with backoff up to NOTIFY_MAX_ATTEMPTS:
Slack's 429 (its Retry-After honoured) and 5xx, SMTP 4xx, timeouts and dropped connections;
Slack's other 4xx and SMTP 5xx fail at once. A retry due later than a few seconds is left to
the sweep (deliver_due), which also re-delivers a row whose task was lost (never claimed
LOST_AFTER_SECONDS after it was queued) or whose worker died (its lease ran out). Delivery is
at least once: a worker that dies after Slack or the mail server took the message but before
recording it sends it again; an email keeps its Message-ID on every attempt.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime, timedelta
from email.utils import parseaddr
from zoneinfo import ZoneInfo

import requests
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from pipeline.models import Draft, Lead, Notification

logger = logging.getLogger(__name__)

State = Notification.State
INLINE_RETRY_MAX_SECONDS = 5.0
SLACK_TIMEOUT_SECONDS = 10
# A claimed attempt is this worker's for this long: more than Slack's and SMTP's timeouts.
LEASE_SECONDS = 120
# A pending row nobody claimed this long after it was queued: its task was lost.
LOST_AFTER_SECONDS = 60
WORK_START_HOUR, WORK_END_HOUR = 9, 17
CALL_RE = re.compile(
    r"\b(?:call me|give (?:me|us) a (?:call|ring)|(?:phone|quick|short|sales|discovery) call|"
    r"(?:schedule|book|set up|arrange|have|hop on) a call|call (?:us|back)|ring me)\b",
    re.IGNORECASE,
)


# --- Raising events -----------------------------------------------------------------------------


def notify(event: str, lead: Lead, *, key: str, title: str, reason: str, draft=None) -> int:
    """Queue this event's notifications (email to the owner, Slack); returns how many are new."""
    created = 0
    owner = lead.owner if lead.owner_id else None
    channels = []
    address = (owner.email if owner else "") or settings.ESCALATION_EMAIL
    if address:
        channels.append((Notification.Channel.EMAIL, address))
    if settings.SLACK_WEBHOOK_URL:
        channels.append((Notification.Channel.SLACK, ""))
    for channel, recipient in channels:
        try:
            with transaction.atomic():
                row = Notification.objects.create(
                    event=event,
                    key=f"{key}:{channel}"[:200],
                    channel=channel,
                    lead=lead,
                    draft=draft,
                    recipient=recipient,
                    title=title[:300],
                    reason=reason[:500],
                )
        except IntegrityError:  # this event was notified already
            continue
        created += 1
        transaction.on_commit(lambda pk=row.pk: _enqueue(pk))
    return created


def notify_quietly(event: str, lead_id: int, **fields) -> None:
    """notify() for the pipeline's doors and steps: a failure is logged, never raised."""
    try:
        lead = Lead.objects.select_related("owner").get(pk=lead_id)
        notify(event, lead, **fields)
    except Exception:  # noqa: BLE001 - a notification must never fail a reply or a step
        logger.exception("notify.failed event=%s lead=%s", event, lead_id)


def escalate_scored(lead_id: int, *, run_id: int, score: int, message: str) -> None:
    """After scoring: a hot lead, and a lead asking for a call, are announced once per run."""
    if score >= settings.ESCALATION_SCORE:
        notify_quietly(
            "hot_lead",
            lead_id,
            key=f"hot_lead:{run_id}",
            title="Hot lead",
            reason=f"scored {score} (escalation at {settings.ESCALATION_SCORE})",
        )
    if CALL_RE.search(message or ""):
        notify_quietly(
            "call_request",
            lead_id,
            key=f"call_request:{run_id}",
            title="Lead asks for a call",
            reason="their message asks for a call",
        )


def escalate_overdue_reviews(now: datetime | None = None) -> int:
    """Drafts waiting in review past the SLA (working time): one escalation per draft."""
    now = now or timezone.now()
    limit = timedelta(minutes=settings.REVIEW_SLA_WORKING_MINUTES)
    # Calendar time is never less than working time: older drafts are the only candidates.
    candidates = (
        Draft.objects.filter(status=Draft.Status.PENDING, created_at__lte=now - limit)
        .filter(Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=now))
        .exclude(notification__event="review_sla")
        .select_related("lead__owner")
        .order_by("created_at")[:500]
    )
    raised = 0
    for draft in candidates:
        waited = working_time(draft.created_at, now)
        if waited < limit:
            continue
        hours = waited.total_seconds() / 3600
        raised += notify(
            "review_sla",
            draft.lead,
            key=f"review_sla:draft:{draft.pk}",
            title="Draft waiting in review past the SLA",
            reason=f"waiting {hours:.1f} working hours (SLA {limit.total_seconds() / 3600:g})",
            draft=draft,
        )
    return raised


def working_time(start: datetime, end: datetime) -> timedelta:
    """Time between `start` and `end` that falls on Mon-Fri, 9:00-17:00 in TIME_ZONE."""
    zone = ZoneInfo(settings.TIME_ZONE)
    start, end = start.astimezone(zone), end.astimezone(zone)
    total = timedelta()
    day = start.date()
    while day <= end.date():
        if day.weekday() < 5:
            opens = datetime(day.year, day.month, day.day, WORK_START_HOUR, tzinfo=zone)
            closes = datetime(day.year, day.month, day.day, WORK_END_HOUR, tzinfo=zone)
            overlap = min(closes, end) - max(opens, start)
            if overlap > timedelta():
                total += overlap
        day += timedelta(days=1)
    return total


def is_overdue(draft: Draft, now: datetime | None = None) -> bool:
    limit = timedelta(minutes=settings.REVIEW_SLA_WORKING_MINUTES)
    now = now or timezone.now()
    return now - draft.created_at >= limit and working_time(draft.created_at, now) >= limit


# --- Delivering ---------------------------------------------------------------------------------


def _enqueue(notification_id: int) -> None:
    from django_q.tasks import async_task

    async_task(
        "pipeline.notifications.deliver", notification_id, task_name=f"notify-{notification_id}"
    )


def deliver_due(now: datetime | None = None) -> int:
    """The sweep's part: deliver the pending notifications nobody is at. Returns how many sent.

    Those are: a retry whose time came, a row whose worker died (its lease expired), and a row
    whose task was lost (queued LOST_AFTER_SECONDS ago and never claimed). A row still leased
    is left alone; one whose worker died on its last attempt ends failed.
    """
    now = now or timezone.now()
    stale = now - timedelta(seconds=LOST_AFTER_SECONDS)
    pending = Notification.objects.filter(state=State.PENDING)
    lost_worker = Q(lease_expires_at__lt=now)
    exhausted = pending.filter(lost_worker, attempts__gte=settings.NOTIFY_MAX_ATTEMPTS)
    for pk in list(exhausted.values_list("pk", flat=True)[:200]):
        Notification.objects.filter(
            lost_worker, pk=pk, state=State.PENDING, attempts__gte=settings.NOTIFY_MAX_ATTEMPTS
        ).update(
            state=State.FAILED,
            lease_expires_at=None,
            next_attempt_at=None,
            error="the worker delivering it stopped on its last attempt; it may have arrived",
        )
        logger.warning("notify.failed id=%s reason=lease_expired", pk)
    due = pending.filter(Q(lease_expires_at__isnull=True) | lost_worker).filter(
        Q(next_attempt_at__lte=now)
        | lost_worker
        | Q(next_attempt_at__isnull=True, attempts=0, created_at__lte=stale)
    )
    delivered = 0
    for pk in list(due.order_by("pk").values_list("pk", flat=True)[:200]):
        delivered += deliver(pk, inline_retries=False) == State.SENT
    return delivered


def claim(notification_id: int) -> datetime | None:
    """Take the next attempt of a pending notification for LEASE_SECONDS; None if not ours.

    One conditional UPDATE: due (no retry time, or it came), not leased (or the lease ran
    out: its worker died), attempts left. Of two workers exactly one wins. The lease's end
    is the claim's token: the outcome is recorded only while it still holds.
    """
    now = timezone.now()
    lease = now + timedelta(seconds=LEASE_SECONDS)
    claimed = Notification.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now),
        pk=notification_id,
        state=State.PENDING,
        attempts__lt=settings.NOTIFY_MAX_ATTEMPTS,
    ).update(lease_expires_at=lease, attempts=F("attempts") + 1)
    return lease if claimed else None


def deliver(notification_id: int, *, inline_retries: bool = True) -> str:
    """Send one notification, retrying what a retry can cure. Returns its state.

    At least once: a worker that dies after the message left but before recording it leaves
    a lease that runs out, and the sweep sends it again; an email carries the same Message-ID
    each time, so the copy is recognisable.
    """
    while True:
        lease = claim(notification_id)
        if lease is None:
            row = Notification.objects.filter(pk=notification_id).only("state").first()
            return row.state if row else ""
        notification = Notification.objects.select_related("lead").get(pk=notification_id)
        held = Notification.objects.filter(
            pk=notification_id, state=State.PENDING, lease_expires_at=lease
        )
        try:
            _send(notification)
        except Exception as error:  # noqa: BLE001 - the task's boundary: record and retry
            failure = as_delivery_error(error)
            attempt = notification.attempts
            message = f"{failure}"[:2000]
            if not failure.retryable or attempt >= settings.NOTIFY_MAX_ATTEMPTS:
                held.update(
                    state=State.FAILED, error=message, next_attempt_at=None, lease_expires_at=None
                )
                logger.warning("notify.failed id=%s attempts=%s", notification_id, attempt)
                return State.FAILED
            delay = failure.retry_after
            if delay is None:
                delay = settings.NOTIFY_BACKOFF_SECONDS * (2 ** (attempt - 1))
            held.update(
                error=message,
                next_attempt_at=timezone.now() + timedelta(seconds=delay),
                lease_expires_at=None,
            )
            logger.info(
                "notify.retry id=%s attempt=%s delay_s=%.1f", notification_id, attempt, delay
            )
            if not inline_retries or delay > INLINE_RETRY_MAX_SECONDS:
                return State.PENDING
            time.sleep(delay)
            continue
        recorded = held.update(
            state=State.SENT, sent_at=timezone.now(), error="", lease_expires_at=None
        )
        if not recorded:  # our lease ran out and another worker took over: it records
            logger.warning("notify.lease_lost id=%s", notification_id)
        logger.info("notify.sent id=%s channel=%s", notification_id, notification.channel)
        return State.SENT


class DeliveryError(Exception):
    """A notification not delivered; `retryable`: will trying again help? `retry_after`: when."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class SlackError(DeliveryError):
    def __init__(self, message: str, *, retry_after: float | None = None, retryable: bool = True):
        super().__init__(message, retryable=retryable, retry_after=retry_after)


def as_delivery_error(error: Exception) -> DeliveryError:
    """What a failed send means for its retry.

    Slack: 429 and 5xx, timeouts and connection errors retry; other answers (4xx) fail at once.
    Email: a 5xx refusal (SMTP or an email provider) and an address that cannot be sent fail at
    once; 4xx, timeouts, dropped connections and anything else retry.
    """
    if isinstance(error, DeliveryError):
        return error
    from pipeline.integrations.outbox import describe_error, refusal_code

    description = describe_error(error)
    code = refusal_code(error)
    if code is not None and code >= 500:
        return DeliveryError(f"refused: {description}", retryable=False)
    if isinstance(error, ValueError):  # an address or header Django will not put on the wire
        return DeliveryError(f"not sent: {description}", retryable=False)
    return DeliveryError(description, retryable=True)


def lead_url(lead_id: int) -> str:
    return settings.PUBLIC_BASE_URL + reverse("review:lead", args=[lead_id])


def message_id(notification: Notification) -> str:
    """The email's Message-ID: the same on every attempt, so a resent copy is recognisable."""
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    domain = address.rsplit("@", 1)[1] if "@" in address else "localhost"
    created = int(notification.created_at.timestamp())
    return f"<notification.{notification.pk}.{created}@{domain}>"


def _send(notification: Notification) -> None:
    lead = notification.lead
    if notification.channel == Notification.Channel.EMAIL:
        EmailMessage(
            subject=f"[LeadOps] {notification.title}: {lead}"[:200],
            body=(
                f"{notification.title}: {lead} ({lead.company or lead.email})\n"
                f"Score: {lead.score if lead.score is not None else 'not scored'}\n"
                f"Why: {notification.reason}\n\n{lead_url(lead.pk)}\n"
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[notification.recipient],
            headers={"Message-ID": message_id(notification)},
        ).send()
        return
    post_to_slack(slack_message(notification, lead))


def slack_message(notification: Notification, lead: Lead) -> dict:
    """Block Kit: a header, the lead's facts as fields, and a button to the lead page.

    Lead text goes into plain_text objects (never mrkdwn), so it cannot format or link."""
    name = str(lead)[:150]
    score = str(lead.score) if lead.score is not None else "not scored"
    return {
        "text": f"{notification.title}: {name} (score {score})",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": notification.title[:150]}},
            {
                "type": "section",
                "fields": [
                    {"type": "plain_text", "text": f"Lead: {name}"},
                    {"type": "plain_text", "text": f"Company: {(lead.company or '-')[:150]}"},
                    {"type": "plain_text", "text": f"Score: {score}"},
                    {"type": "plain_text", "text": f"Why: {notification.reason[:300]}"},
                ],
            },
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open the lead"},
                        "url": lead_url(lead.pk),
                    }
                ],
            },
        ],
    }


def post_to_slack(message: dict) -> None:
    try:
        response = requests.post(
            settings.SLACK_WEBHOOK_URL, json=message, timeout=SLACK_TIMEOUT_SECONDS
        )
    except requests.RequestException as error:
        raise SlackError(f"Slack unreachable: {type(error).__name__}") from None
    if response.status_code == 200:
        return
    if response.status_code == 429:
        try:
            retry_after = float(response.headers.get("Retry-After", ""))
        except ValueError:
            retry_after = None
        raise SlackError("Slack answered 429 (rate limited)", retry_after=retry_after)
    if response.status_code >= 500:
        raise SlackError(f"Slack answered {response.status_code}")
    raise SlackError(
        f"Slack answered {response.status_code}: {response.text[:200]}", retryable=False
    )
