"""Notifications about leads: email to the owner and a Slack incoming-webhook message.

Events: a lead scoring at least ESCALATION_SCORE, a lead asking for a call, a reply, and a
draft waiting in review longer than REVIEW_SLA_WORKING_MINUTES (working time). Each event is
one Notification row per channel, unique by its key, so an event notifies once however often
it is noticed. Delivery is a worker task queued on commit; Slack answers 429 (its Retry-After
is honoured) and 5xx, and connection errors, are retried with backoff up to NOTIFY_MAX_ATTEMPTS;
a retry due later than a few seconds is left to the sweep (deliver_due). Delivery is at least
once: a worker that dies after Slack took the message but before recording it sends it again.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from pipeline.models import Draft, Lead, Notification

logger = logging.getLogger(__name__)

State = Notification.State
INLINE_RETRY_MAX_SECONDS = 5.0
SLACK_TIMEOUT_SECONDS = 10
WORK_START_HOUR, WORK_END_HOUR = 9, 17
CALL_RE = re.compile(
    r"\b(?:call me|give (?:me|us) a (?:call|ring)|(?:phone|quick|short|sales|discovery) call|"
    r"(?:schedule|book|set up|arrange|have|hop on) a call|call (?:us|back)|ring me)\b",
    re.IGNORECASE,
)


class SlackError(Exception):
    def __init__(self, message: str, *, retry_after: float | None = None, retryable: bool = True):
        super().__init__(message)
        self.retry_after = retry_after
        self.retryable = retryable


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
    """The sweep's part: pending notifications whose retry is due or whose task was lost."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=60)
    due = Notification.objects.filter(state=State.PENDING).filter(
        Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True, created_at__lte=stale)
    )
    delivered = 0
    for pk in list(due.values_list("pk", flat=True)[:200]):
        delivered += deliver(pk, inline_retries=False) == State.SENT
    return delivered


def deliver(notification_id: int, *, inline_retries: bool = True) -> str:
    """Send one notification, retrying what a retry can cure. Returns its state."""
    while True:
        now = timezone.now()
        claimed = Notification.objects.filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
            pk=notification_id,
            state=State.PENDING,
        )
        # Claim the attempt: push next_attempt_at out so a second deliverer waits its turn.
        lease = now + timedelta(seconds=SLACK_TIMEOUT_SECONDS + 30)
        notification = claimed.first()
        if notification is None or not claimed.update(next_attempt_at=lease):
            row = Notification.objects.filter(pk=notification_id).only("state").first()
            return row.state if row else ""
        attempt = notification.attempts + 1
        try:
            _send(notification)
        except (SlackError, requests.RequestException, OSError) as error:
            retryable = getattr(error, "retryable", True)
            message = f"{type(error).__name__}: {error}"[:2000]
            if not retryable or attempt >= settings.NOTIFY_MAX_ATTEMPTS:
                Notification.objects.filter(pk=notification_id).update(
                    state=State.FAILED, attempts=attempt, error=message, next_attempt_at=None
                )
                logger.warning("notify.failed id=%s attempts=%s", notification_id, attempt)
                return State.FAILED
            delay = getattr(error, "retry_after", None)
            if delay is None:
                delay = settings.NOTIFY_BACKOFF_SECONDS * (2 ** (attempt - 1))
            Notification.objects.filter(pk=notification_id).update(
                attempts=attempt,
                error=message,
                next_attempt_at=timezone.now() + timedelta(seconds=delay),
            )
            logger.info(
                "notify.retry id=%s attempt=%s delay_s=%.1f", notification_id, attempt, delay
            )
            if not inline_retries or delay > INLINE_RETRY_MAX_SECONDS:
                return State.PENDING
            time.sleep(delay)
            continue
        Notification.objects.filter(pk=notification_id).update(
            state=State.SENT, attempts=attempt, sent_at=timezone.now(), error=""
        )
        logger.info("notify.sent id=%s channel=%s", notification_id, notification.channel)
        return State.SENT


def lead_url(lead_id: int) -> str:
    return settings.PUBLIC_BASE_URL + reverse("review:lead", args=[lead_id])


def _send(notification: Notification) -> None:
    lead = Lead.objects.get(pk=notification.lead_id)
    if notification.channel == Notification.Channel.EMAIL:
        send_mail(
            subject=f"[LeadOps] {notification.title}: {lead}"[:200],
            message=(
                f"{notification.title}: {lead} ({lead.company or lead.email})\n"
                f"Score: {lead.score if lead.score is not None else 'not scored'}\n"
                f"Why: {notification.reason}\n\n{lead_url(lead.pk)}\n"
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[notification.recipient],
        )
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
