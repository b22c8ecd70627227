"""Follow-up cadences: after our first email, each follow-up is a run of the "follow_up" pipeline
that waits (a durable timer) until its day, drafts with the thread so far, is decided like the
first draft (auto-send or review) and is sent threaded on the first email.

Order of events: the lead pipeline's send step starts the plan once the first email is sent
(one plan per first email); the plan starts follow-up 1; each follow-up's send step starts the
next. A plan stops when the lead replies, unsubscribes, submits again, is marked won / lost /
not interested, when one of our emails bounces, or when staff stop it: stop_follow_ups() records
why, cancels the plan's runs in the same transaction (a cancelled timer never fires; a step
running right then finishes into the cancelled run and starts nothing) and takes back pending
follow-up drafts and queued follow-up emails.

Races with a stop are settled on the plan's row lock: stop_follow_ups() holds it, and so do the
draft step when it stores its draft, start_next() when it starts the next follow-up, and the
send's last check (send_refusal(), run by the outbox right before it claims the email). Whoever
comes second sees the other's commit: a stop never misses a draft or run made at the same
moment, and a follow-up whose plan stopped a moment before it was sent is not sent. Every
follow-up step also checks stop_reason() before it acts, which covers a stop whose own call was
lost (a reply stored, then a crash before its stop ran).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from pipeline import engine
from pipeline.models import (
    CadenceConfig,
    Draft,
    FollowUp,
    FollowUpPlan,
    InboundReply,
    Lead,
    OutboundEmail,
    PipelineRun,
    ReviewAction,
    Submission,
)

logger = logging.getLogger(__name__)

PIPELINE = "follow_up"
MAX_STEPS = 5
LABELS = ("high_intent", "low_intent")
DEFAULT_CADENCES: dict[str, list[dict]] = {
    "high_intent": [
        {"day": 2, "instruction": "A short nudge: offer the next step again.", "auto_send": False},
        {"day": 6, "instruction": "A last, brief note; leave the door open.", "auto_send": False},
    ],
    "low_intent": [
        {"day": 10, "instruction": "A friendly check-in with one useful point.", "auto_send": False}
    ],
}
BOUNCED = ("bounced", "rejected", "failed")
ACTIVE_RUN = (PipelineRun.Status.PENDING, PipelineRun.Status.RUNNING, PipelineRun.Status.WAITING)


def kind_of(number: int) -> str:
    """The outbox kind of follow-up `number` (one email per kind per run)."""
    return f"follow_up_{number}"


# --- Cadences -----------------------------------------------------------------------------------


def current_cadences() -> tuple[dict[str, list[dict]], int | None]:
    row = CadenceConfig.current()
    if row is None:
        return DEFAULT_CADENCES, None
    return row.cadences, row.version


def cadence_problem(cadences: object) -> str:
    """Why `cadences` cannot be saved, or ""."""
    if not isinstance(cadences, dict):
        return "cadences are an object of label -> steps"
    for label, steps in cadences.items():
        if label not in LABELS:
            return f"no cadence for {label!r}: labels are {', '.join(LABELS)}"
        if not isinstance(steps, list) or len(steps) > MAX_STEPS:
            return f"{label}: at most {MAX_STEPS} steps"
        days = [step.get("day") for step in steps if isinstance(step, dict)]
        if len(days) != len(steps) or not all(isinstance(d, int) and 1 <= d <= 90 for d in days):
            return f"{label}: each step has a day from 1 to 90"
        if days != sorted(set(days)):
            return f"{label}: the days must grow from step to step"
    return ""


# --- Starting -----------------------------------------------------------------------------------


def start_follow_ups(first_email_id: int) -> FollowUpPlan | None:
    """Start the lead's plan after our first email went out; a second call is a no-op."""
    email = OutboundEmail.objects.select_related("lead").get(pk=first_email_id)
    existing = FollowUpPlan.objects.filter(first_email=email).first()
    if existing is not None:
        return existing
    if email.state != OutboundEmail.State.SENT or email.run_id is None:
        return None
    cadences, version = current_cadences()
    steps = list(cadences.get(email.lead.label, []))
    if not steps:
        return None
    try:
        with transaction.atomic():
            plan = FollowUpPlan.objects.create(
                lead=email.lead,
                first_email=email,
                label=email.lead.label,
                steps=steps,
                cadence_version=version,
            )
            _start_follow_up(plan, 1)
    except IntegrityError:  # started at the same instant by a re-run of the send step
        return FollowUpPlan.objects.get(first_email=email)
    logger.info("follow_ups.started plan=%s lead=%s steps=%s", plan.pk, plan.lead_id, len(steps))
    return plan


def due_at(plan: FollowUpPlan, number: int) -> datetime:
    sent_at = plan.first_email.sent_at or plan.started_at
    return sent_at + timedelta(days=int(plan.steps[number - 1]["day"]))


def _start_follow_up(plan: FollowUpPlan, number: int) -> FollowUp | None:
    """Create follow-up `number`'s row and run (in the caller's transaction)."""
    if number > len(plan.steps):
        return None
    when = due_at(plan, number)
    run = engine.start(
        PIPELINE,
        lead=plan.lead,
        options={"plan": plan.pk, "number": number, "due_at": when.isoformat()},
    )
    return FollowUp.objects.create(plan=plan, number=number, run=run, due_at=when)


def lock_plan(plan_id: int) -> FollowUpPlan:
    """The plan, its row locked until the caller's transaction ends (stop_follow_ups waits)."""
    return (
        FollowUpPlan.objects.select_for_update(of=("self",))
        .select_related("first_email", "lead")
        .get(pk=plan_id)
    )


def start_next(plan_id: int, number: int) -> None:
    """After follow-up `number` was sent: start the next one, once, unless the plan stopped."""
    try:
        with transaction.atomic():
            plan = lock_plan(plan_id)
            if stop_reason(plan) or FollowUp.objects.filter(plan=plan, number=number + 1).exists():
                return
            _start_follow_up(plan, number + 1)
    except IntegrityError:
        return


def send_refusal(plan_id: int) -> str:
    """Why a follow-up of the plan must not be sent now, or "": the send's last check.

    Called by the outbox inside the transaction that claims the email, so the plan's lock is
    held until the claim commits: a stop in progress is waited for and wins.
    """
    reason = stop_reason(lock_plan(plan_id))
    return f"follow-ups stopped: {reason}" if reason else ""


# --- Stopping -----------------------------------------------------------------------------------


def stop_reason(plan: FollowUpPlan) -> str | None:
    """Why the plan must send nothing more, or None while it goes on."""
    if plan.stopped_at is not None:
        return plan.stop_reason or "stopped"
    from pipeline.outcomes import latest_outcome

    lead = Lead.objects.get(pk=plan.lead_id)
    if InboundReply.objects.filter(lead=lead, received_at__gte=plan.started_at).exists():
        return "the lead replied"
    if lead.unsubscribed_at is not None:
        return "the lead unsubscribed"
    if Submission.objects.filter(lead=lead, received_at__gt=plan.started_at).exists():
        return "the lead submitted again"
    if lead.email and _waiting_submission_from(lead.email, plan.started_at):
        return "the lead submitted again"
    outcome = latest_outcome(lead)
    if outcome is not None and outcome.outcome in outcome.CLOSING:
        return f"marked {outcome.get_outcome_display().lower()}"
    if OutboundEmail.objects.filter(lead=lead, delivery_status__in=BOUNCED).exists():
        return "an email to the lead bounced"
    return None


def _waiting_submission_from(email: str, since) -> bool:
    """A deferred submission (WEBHOOK_DEFER) from this address that no worker has made part of
    a lead yet: the person wrote again, even if the lead does not show it yet."""
    waiting = Submission.objects.waiting_for_a_worker()
    return waiting.filter(email__iexact=email, received_at__gt=since).exists()


def stop_follow_ups(lead: Lead | int, reason: str, *, by=None) -> int:
    """Stop the lead's running plans: record why, cancel their runs, take back pending follow-up
    drafts and queued follow-up emails, all in one transaction under the plans' row locks.
    Returns how many plans it stopped."""
    lead_id = lead if isinstance(lead, int) else lead.pk
    now = timezone.now()
    with transaction.atomic():
        plans = list(
            FollowUpPlan.objects.select_for_update()
            .filter(lead_id=lead_id, stopped_at=None)
            .order_by("pk")
        )
        if not plans:
            return 0
        FollowUpPlan.objects.filter(pk__in=[plan.pk for plan in plans]).update(
            stopped_at=now, stop_reason=reason[:300]
        )
        runs = list(PipelineRun.objects.filter(follow_up__plan__in=plans, status__in=ACTIVE_RUN))
        Draft.objects.filter(run__in=runs, status=Draft.Status.PENDING).update(
            status=Draft.Status.REJECTED,
            reject_reason=f"follow-ups stopped: {reason}"[:500],
            decided_at=now,
        )
        OutboundEmail.objects.filter(
            run__in=runs, kind__startswith="follow_up_", state=OutboundEmail.State.QUEUED
        ).update(state=OutboundEmail.State.CANCELLED, error=f"follow-ups stopped: {reason}")
        for run in runs:
            # A step running right now finishes into the cancelled run and starts nothing.
            engine.cancel(run, f"follow-ups stopped: {reason}")
        ReviewAction.objects.create(
            lead_id=lead_id, user=by, action="follow_ups_stopped", detail={"reason": reason}
        )
    logger.info("follow_ups.stopped lead=%s plans=%s reason=%s", lead_id, len(plans), reason)
    return len(plans)


def stop_quietly(lead_id: int | None, reason: str) -> None:
    """stop_follow_ups for the doors (reply, intake, unsubscribe, email events): never fails them.

    A failure is logged; the follow-up steps' own stop_reason check still holds every email.
    """
    if lead_id is None:
        return
    try:
        stop_follow_ups(lead_id, reason)
    except Exception:  # noqa: BLE001 - the caller's own work is done and must be answered
        logger.exception("follow_ups.stop_failed lead=%s", lead_id)


# --- The lead page ------------------------------------------------------------------------------


def plans_of(lead: Lead) -> list[FollowUpPlan]:
    """The lead's plans, newest first, each with `.rows`: every cadence step with its state."""
    plans = list(
        FollowUpPlan.objects.filter(lead=lead)
        .select_related("first_email")
        .prefetch_related("follow_ups__run__emails", "follow_ups__run__drafts")
        .order_by("-started_at", "-pk")
    )
    for plan in plans:
        started = {follow_up.number: follow_up for follow_up in plan.follow_ups.all()}
        plan.reason = stop_reason(plan)
        plan.rows = []
        for number, step in enumerate(plan.steps, start=1):
            follow_up = started.get(number)
            emails = list(follow_up.run.emails.all()) if follow_up else []
            drafts = list(follow_up.run.drafts.all()) if follow_up else []
            plan.rows.append(
                {
                    "number": number,
                    "day": step["day"],
                    "instruction": step.get("instruction", ""),
                    "auto_send": bool(step.get("auto_send")),
                    "due_at": follow_up.due_at if follow_up else due_at(plan, number),
                    "run": follow_up.run if follow_up else None,
                    "email": emails[0] if emails else None,
                    "draft": drafts[-1] if drafts else None,
                }
            )
    return plans
