"""The follow-up pipeline's step functions (see pipeline.followups for the order of events)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Q

from pipeline.engine import StepContext, StepResult, Wait
from pipeline.followups import kind_of, lock_plan, send_refusal, start_next, stop_reason
from pipeline.llm.budget import strategy_for
from pipeline.models import Draft, DraftRevision, FollowUpPlan, OutboundEmail, ScoringConfig
from pipeline.step_names import DRAFT, GATE


def plan_of(context: StepContext) -> FollowUpPlan:
    return FollowUpPlan.objects.select_related("first_email", "lead").get(
        pk=context.options["plan"]
    )


def number_of(context: StepContext) -> int:
    return int(context.options["number"])


def step_of(context: StepContext, plan: FollowUpPlan) -> dict:
    return plan.steps[number_of(context) - 1]


def due(context: StepContext) -> datetime:
    return datetime.fromisoformat(context.options["due_at"])


def still_on(context: StepContext) -> str | None:
    """Every follow-up step's condition: skipped (with the reason) once the plan stopped."""
    reason = stop_reason(plan_of(context))
    return f"follow-ups stopped: {reason}" if reason else None


def should_send(context: StepContext) -> str | None:
    if GATE in context.skipped:
        return "nothing approved to send"
    reason = still_on(context)
    if reason:
        return reason
    if not context.run.lead.email:
        return "no email address to send to"
    return None


def sent_thread(plan: FollowUpPlan) -> list[OutboundEmail]:
    """Our emails of the plan that went out, oldest first: the first email, then follow-ups."""
    ours = Q(pk=plan.first_email_id) | Q(run__follow_up__plan=plan)
    return list(
        OutboundEmail.objects.filter(ours, state=OutboundEmail.State.SENT).order_by("sent_at", "pk")
    )


def draft(context: StepContext):
    from pipeline.agents.follow_up import SentEmail, draft_follow_up
    from pipeline.schemas import Classification, CompanyVoice
    from pipeline.steps import company_voice, is_last_attempt, lead_input

    plan = plan_of(context)
    number = number_of(context)
    step = step_of(context, plan)
    lead = context.run.lead
    thread = [
        SentEmail(subject=email.subject, body=email.body, sent_on=f"{email.sent_at:%Y-%m-%d}")
        for email in sent_thread(plan)
    ]
    classification = Classification(label=plan.label, confidence=1.0, language="en")
    result = draft_follow_up(
        lead_input(context),
        classification,
        company_voice(CompanyVoice),
        thread,
        number=number,
        instruction=str(step.get("instruction", ""))[:500],
        strategy=strategy_for("draft"),
        fallback_on_transient=is_last_attempt(context),
    )
    reply = result.output
    reason = f"Follow-up {number} of {len(plan.steps)} (day {step['day']})"
    with transaction.atomic():
        # Under the plan's lock: a stop that came while the agent wrote wins (no draft), and a
        # stop coming now waits, then takes this draft back with the others.
        stopped = stop_reason(lock_plan(plan.pk))
        if stopped:
            return StepResult.from_agent(
                result, {"draft_id": None, "stopped": f"follow-ups stopped: {stopped}"}
            )
        Draft.objects.filter(run=context.run, status=Draft.Status.PENDING).update(
            status=Draft.Status.SUPERSEDED
        )
        row = Draft.objects.create(
            lead=lead,
            run=context.run,
            subject=reply.subject[:300],
            body=reply.body,
            label=plan.label,
            score=lead.score,
            flags=list(lead.flags),
            decision="auto_send" if step.get("auto_send") else "review",
            decision_reason=reason,
        )
        DraftRevision.objects.create(
            draft=row, number=1, subject=row.subject, body=row.body, instruction=""
        )
    return StepResult.from_agent(
        result, {"draft_id": row.pk, "subject": row.subject, "body": row.body}
    )


def auto_send_refusal(lead, *, run_id: int) -> str | None:
    """Why a follow-up must wait for a human, or None: decided like the first draft."""
    from pipeline.models import OperationsSettings, PipelineRun

    run = PipelineRun.objects.get(pk=run_id)
    plan = FollowUpPlan.objects.get(pk=run.options["plan"])
    step = plan.steps[int(run.options["number"]) - 1]
    if not step.get("auto_send"):
        return "this cadence step goes to review"
    if OperationsSettings.load().auto_send_paused:
        return "auto-send is paused"
    if lead.is_flagged:
        return "the lead is flagged"
    if lead.unsubscribed_at is not None:
        return "the lead unsubscribed"
    config = ScoringConfig.current()
    if config is not None:
        if config.auto_send_labels and plan.label not in config.auto_send_labels:
            return f"{plan.label} leads are not sent automatically"
        if lead.score is None or lead.score < config.auto_send_threshold:
            return f"score {lead.score} is below the auto-send threshold"
    return stop_reason(plan)


def gate(context: StepContext):
    from pipeline.actions import auto_approve_draft

    draft_id = context.outputs[DRAFT]["draft_id"]
    refusal = auto_send_refusal(context.run.lead, run_id=context.run.pk)
    if refusal:
        plan = plan_of(context)
        step = step_of(context, plan)
        heading = f"Follow-up {number_of(context)} of {len(plan.steps)} (day {step['day']})"
        Draft.objects.filter(pk=draft_id, status=Draft.Status.PENDING).update(
            decision="review", decision_reason=f"{heading}: for review, {refusal}."[:500]
        )
        return Wait("review", {"draft_id": draft_id, "reason": refusal})
    result = auto_approve_draft(draft_id, run_id=context.run.pk, refusal=auto_send_refusal)
    if result.status in ("done", "noop"):
        return {
            "draft_id": draft_id,
            "subject": result.draft.subject,
            "body": result.draft.body,
            "approved_by": None,
            "auto": True,
        }
    return Wait("review", {"draft_id": draft_id, "reason": result.message})


def send(context: StepContext):
    """Send the approved follow-up threaded on our first email, then start the next one.

    A plan stopped since the step began cancels the email instead (see send_refusal)."""
    from pipeline.integrations.outbox import send_approved_reply

    plan = plan_of(context)
    number = number_of(context)
    thread = sent_thread(plan)
    approved = context.outputs[GATE]
    result = send_approved_reply(
        lead=context.run.lead,
        run=context.run,
        step_run=context.step_run,
        draft_id=approved["draft_id"],
        subject=approved["subject"],
        body=approved["body"],
        kind=kind_of(number),
        in_reply_to=plan.first_email.message_id,
        references=" ".join(email.message_id for email in thread if email.message_id),
        # The last check, right before the outbox claims the email (a reply a moment ago).
        refusal=lambda: send_refusal(plan.pk),
    )
    if result["state"] == OutboundEmail.State.SENT:
        start_next(plan.pk, number)
    return result
