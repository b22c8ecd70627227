"""The lead pipeline's step functions: the bridge between the ORM and the agents.

Each function gets a StepContext, reads what it needs from the database and from the outputs
of the steps it needs (validated back into their types), calls one agent or integration, writes
the rows that belong to its step, and returns the typed output the engine stores.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from pipeline.agents.types import (
    Classification,
    CompanyProfile,
    DraftReply,
    LeadInput,
    Score,
    ScoredLead,
)
from pipeline.definitions import StepResult, Wait
from pipeline.engine import StepContext
from pipeline.models import Draft, DraftRevision, Lead, OperationsSettings, ScoringConfig

logger = logging.getLogger(__name__)

NOT_WORTH_ENRICHING = ("spam", "wrong_fit")


# --- Inputs -----------------------------------------------------------------------------------


def lead_input(context: StepContext) -> LeadInput:
    """The lead as the agents see it: the submission that started this run, else the lead."""
    submission = context.submission
    lead = context.lead
    if submission is None:
        return LeadInput(
            name=lead.name,
            email=lead.email,
            phone=lead.phone,
            company=lead.company,
            website=lead.website,
        )
    return LeadInput(
        name=submission.name,
        email=submission.email,
        phone=submission.phone,
        company=submission.company,
        website=submission.website,
        message=submission.message,
        custom_fields={str(key): str(value) for key, value in submission.custom_fields.items()},
        source=submission.source.name if submission.source_id else submission.channel,
    )


def classification_of(context: StepContext) -> Classification:
    return Classification.model_validate(context.outputs["classify"])


def profile_of(context: StepContext) -> CompanyProfile | None:
    output = context.outputs.get("enrich")
    return CompanyProfile.model_validate(output) if output else None


def scored_of(context: StepContext) -> ScoredLead:
    return ScoredLead.model_validate(context.outputs["score_final"])


def scoring_config() -> tuple[list[dict], int | None, ScoringConfig | None]:
    from pipeline.agents.defaults import DEFAULT_CRITERIA

    config = ScoringConfig.current()
    if config is None:
        return list(DEFAULT_CRITERIA), None, None
    return list(config.criteria), config.version, config


# --- Conditions -------------------------------------------------------------------------------


def worth_enriching(context: StepContext) -> str | None:
    label = context.outputs["classify"]["label"]
    if label in NOT_WORTH_ENRICHING:
        return f"{label} leads are not worth a fetch"
    return None


def worth_drafting(context: StepContext) -> str | None:
    decision = scored_of(context).decision
    if decision.action == "discard":
        return f"no draft: {decision.reason}"
    return None


def is_last_attempt(context: StepContext) -> bool:
    """On its last attempt an agent step answers with rules rather than fail on an outage."""
    from pipeline.definitions import get_pipeline

    step = get_pipeline(context.run.pipeline_name).step(context.step_run.name)
    return context.attempt >= step.retry.attempts


def has_draft(context: StepContext) -> str | None:
    if "draft" in context.skipped:
        return "no draft to approve"
    return None


def should_send(context: StepContext) -> str | None:
    if "gate" in context.skipped:
        return "nothing approved to send"
    if context.options.get("dry_run"):
        return "dry run: nothing is sent"
    if not Lead.objects.filter(pk=context.lead.pk).exclude(email="").exists():
        return "no email address to send to: reply by phone"
    return None


def should_write_crm(context: StepContext) -> str | None:
    from django.conf import settings

    if context.options.get("dry_run") and settings.CRM_ADAPTER != "builtin":
        return f"dry run: the {settings.CRM_ADAPTER} CRM is not written"
    return None


# --- Steps ------------------------------------------------------------------------------------


def classify(context: StepContext):
    from pipeline.agents.classify import classify as classify_lead

    result = classify_lead(lead_input(context), fallback_on_transient=is_last_attempt(context))
    flags = sorted(set(context.lead.flags) | set(result.output.flags))
    Lead.objects.filter(pk=context.lead.pk).update(
        label=result.output.label,
        flags=flags,
        is_flagged=context.lead.is_flagged or "injection" in result.output.flags,
    )
    return result


def enrich(context: StepContext):
    from pipeline.integrations.enrich.cache import enrich_with_cache

    # The per-domain cache: ten leads from one company fetch its site once.
    return enrich_with_cache(lead_input(context))


def score_form(context: StepContext):
    from pipeline.agents.score import score_form as score

    criteria, version, _ = scoring_config()
    return score(
        lead_input(context),
        classification_of(context),
        criteria,
        version,
        fallback_on_transient=is_last_attempt(context),
    )


def score_final(context: StepContext) -> StepResult:
    from pipeline.agents.decision import decide
    from pipeline.agents.score import score_final as score

    classification = classification_of(context)
    criteria, version, config = scoring_config()
    form_score = Score.model_validate(context.outputs["score_form"])
    result = score(
        lead_input(context), classification, form_score, profile_of(context), criteria, version
    )
    lead = Lead.objects.get(pk=context.lead.pk)
    decision = decide(
        classification,
        result.output,
        auto_send_threshold=config.auto_send_threshold if config else 75,
        auto_send_labels=list(config.auto_send_labels) if config else ["high_intent"],
        auto_send_paused=OperationsSettings.load().auto_send_paused,
        lead_flagged=lead.is_flagged or lead.unsubscribed_at is not None,
        has_email=bool(lead.email),
    )
    Lead.objects.filter(pk=lead.pk).update(score=result.output.value)
    type(context.run).objects.filter(pk=context.run.pk).update(
        decision=decision.action, decision_reason=decision.reason[:500]
    )
    return StepResult.from_agent(result, ScoredLead(score=result.output, decision=decision))


def crm_write(context: StepContext):
    from pipeline.integrations.crm import upsert_lead

    scored = scored_of(context)
    return upsert_lead(
        context.lead,
        classification=classification_of(context),
        profile=profile_of(context),
        score=scored.score,
        source=lead_input(context).source,
        message=lead_input(context).message,
    )


def draft(context: StepContext):
    """Write the reply and put it where a human (or the gate) decides about it."""
    from pipeline.agents.draft import draft_reply, needs_draft
    from pipeline.agents.types import CompanyVoice

    scored = scored_of(context)
    classification = classification_of(context)
    drafting_as = classification
    if not needs_draft(classification):
        # Possibly spam, not sure enough to discard: a cautious reply for the reviewer to judge.
        drafting_as = classification.model_copy(update={"label": "low_intent"})
    company = company_voice(CompanyVoice)
    instruction = str(context.options.get("draft_instruction", ""))[:500]
    result = draft_reply(
        lead_input(context),
        drafting_as,
        scored.score,
        profile_of(context),
        company,
        instruction=instruction,
        fallback_on_transient=is_last_attempt(context),
    )
    reply: DraftReply = result.output
    with transaction.atomic():
        # A regenerated draft replaces the run's earlier pending one.
        Draft.objects.filter(run=context.run, status=Draft.Status.PENDING).update(
            status=Draft.Status.SUPERSEDED
        )
        row = Draft.objects.create(
            lead=context.lead,
            run=context.run,
            subject=reply.subject[:300],
            body=reply.body,
            label=classification.label,
            confidence=classification.confidence,
            score=scored.score.value,
            flags=list(classification.flags),
            decision=scored.decision.action,
            decision_reason=scored.decision.reason[:500],
        )
        DraftRevision.objects.create(
            draft=row, number=1, subject=row.subject, body=row.body, instruction=instruction
        )
    return StepResult.from_agent(
        result, {"draft_id": row.pk, "subject": row.subject, "body": row.body}
    )


def company_voice(voice_type):
    """The company profile in force, as the agents' plain copy (agents never see the ORM)."""
    from pipeline.agents.defaults import DEFAULT_COMPANY_PROFILE
    from pipeline.models import CompanyProfile as CompanyProfileRow

    row = CompanyProfileRow.current()
    if row is None:
        return voice_type(**DEFAULT_COMPANY_PROFILE)
    return voice_type(
        company_name=row.company_name,
        what_we_sell=row.what_we_sell,
        tone=row.tone,
        sender_name=row.sender_name,
        signature=row.signature,
        booking_link=row.booking_link,
        facts=list(row.facts),
        careers_url=row.careers_url,
        support_url=row.support_url,
        partnerships_email=row.partnerships_email,
    )


def gate(context: StepContext):
    """Auto-approve when the decision says so and nothing changed since; else wait for a human."""
    draft_id = context.outputs["draft"]["draft_id"]
    scored = scored_of(context)
    if scored.decision.action != "auto_send":
        return Wait("review", {"draft_id": draft_id, "reason": scored.decision.reason})
    # Things may have changed since the decision: check them again right before sending.
    reason = auto_send_refusal(context)
    if reason is None:
        row = Draft.objects.get(pk=draft_id)
        approved = Draft.objects.filter(pk=draft_id, status=Draft.Status.PENDING).update(
            status=Draft.Status.APPROVED, decided_at=timezone.now()
        )
        if approved:
            return {
                "draft_id": draft_id,
                "subject": row.subject,
                "body": row.body,
                "approved_by": None,
                "auto": True,
            }
        reason = "the draft changed before it could be sent"
    held_back = {"decision": "review", "decision_reason": f"Auto-send held back: {reason}."[:500]}
    type(context.run).objects.filter(pk=context.run.pk).update(**held_back)
    Draft.objects.filter(pk=draft_id).update(**held_back)
    return Wait("review", {"draft_id": draft_id, "reason": reason})


def auto_send_refusal(context: StepContext) -> str | None:
    """Why a draft decided for auto-send must wait for a human after all, or None."""
    from pipeline.models import OutboundEmail

    lead = Lead.objects.get(pk=context.lead.pk)
    if OperationsSettings.load().auto_send_paused:
        return "auto-send is paused"
    if lead.is_flagged:
        return "the lead is flagged"
    if lead.unsubscribed_at is not None:
        return "the lead unsubscribed"
    earlier = (
        OutboundEmail.objects.filter(lead=lead, kind="first_reply")
        .exclude(run=context.run)
        .exclude(state__in=[OutboundEmail.State.FAILED, OutboundEmail.State.CANCELLED])
    )
    if earlier.exists():
        return "this person already got a reply; a human decides whether to answer again"
    return None


def send(context: StepContext):
    """Put the approved reply in the outbox and send it (at most once)."""
    from pipeline.integrations.outbox import send_approved_reply

    approved = context.outputs["gate"]
    return send_approved_reply(
        lead=context.lead,
        run=context.run,
        step_run=context.step_run,
        draft_id=approved["draft_id"],
        subject=approved["subject"],
        body=approved["body"],
    )
