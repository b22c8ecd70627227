"""The lead pipeline's step functions: the bridge between the ORM and the agents.

Each function gets a StepContext, reads what it needs from the database and from the outputs
of the steps it needs (validated back into their types), calls one agent or integration, writes
the rows that belong to its step, and returns the typed output the engine stores.
"""

from __future__ import annotations

import logging

from django.db import transaction

from pipeline.engine import StepContext, StepResult, Wait, fault_point
from pipeline.llm.budget import strategy_for
from pipeline.models import Draft, DraftRevision, Lead, OperationsSettings, ScoringConfig
from pipeline.models.drafts import POSSIBLE_SPAM_FLAG
from pipeline.schemas import (
    Classification,
    CompanyProfile,
    DraftReply,
    LeadInput,
    Score,
    ScoredLead,
)
from pipeline.step_names import CLASSIFY, DRAFT, ENRICH, GATE, SCORE_FINAL, SCORE_FORM

logger = logging.getLogger(__name__)

NOT_WORTH_ENRICHING = ("spam", "wrong_fit")


# --- Inputs -----------------------------------------------------------------------------------


def lead_input(context: StepContext) -> LeadInput:
    """The lead as the agents see it: the submission that started this run, else the lead."""
    submission = context.run.submission
    lead = context.run.lead
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
    return Classification.model_validate(context.outputs[CLASSIFY])


def profile_of(context: StepContext) -> CompanyProfile | None:
    output = context.outputs.get(ENRICH)
    return CompanyProfile.model_validate(output) if output else None


def scored_of(context: StepContext) -> ScoredLead:
    return ScoredLead.model_validate(context.outputs[SCORE_FINAL])


def scoring_config() -> tuple[list[dict], int | None, ScoringConfig | None]:
    from pipeline.agents.defaults import DEFAULT_CRITERIA

    config = ScoringConfig.current()
    if config is None:
        return list(DEFAULT_CRITERIA), None, None
    return list(config.criteria), config.version, config


# --- Conditions -------------------------------------------------------------------------------


def worth_enriching(context: StepContext) -> str | None:
    label = context.outputs[CLASSIFY]["label"]
    if label in NOT_WORTH_ENRICHING:
        return f"{label} leads are not worth a fetch"
    return None


def worth_drafting(context: StepContext) -> str | None:
    decision = scored_of(context).decision
    if decision.action == "discard":
        return f"no draft: {decision.reason}"
    # A reviewer who asks for a draft (regenerate with an instruction) gets one regardless.
    if not decision.draft and not context.options.get("draft_instruction"):
        return f"no draft: {decision.reason}"
    return None


def is_last_attempt(context: StepContext) -> bool:
    """On its last attempt an agent step answers with rules rather than fail on an outage."""
    from pipeline.engine import get_pipeline

    step = get_pipeline(context.run.pipeline_name).step(context.step_run.name)
    return context.attempt >= step.retry.attempts


def has_draft(context: StepContext) -> str | None:
    if DRAFT in context.skipped and scored_of(context).decision.action == "discard":
        return "no draft to approve"
    return None


def should_send(context: StepContext) -> str | None:
    if GATE in context.skipped:
        return "nothing approved to send"
    if context.options.get("dry_run"):
        return "dry run: nothing is sent"
    if not Lead.objects.filter(pk=context.run.lead.pk).exclude(email="").exists():
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

    result = classify_lead(
        lead_input(context),
        strategy=strategy_for("classify"),
        fallback_on_transient=is_last_attempt(context),
    )
    flags = sorted(set(context.run.lead.flags) | set(result.output.flags))
    Lead.objects.filter(pk=context.run.lead.pk).update(
        label=result.output.label,
        flags=flags,
        is_flagged=context.run.lead.is_flagged or "injection" in result.output.flags,
    )
    return StepResult.from_agent(result)


def enrich(context: StepContext):
    from pipeline.enrichment import enrich_with_cache
    from pipeline.owners import recheck_owner_quietly

    # The per-domain cache: ten leads from one company fetch its site once.
    result = enrich_with_cache(lead_input(context), strategy=strategy_for("enrich"))
    # The company's country and size may only be known now: a round-robin owner yields to a rule.
    recheck_owner_quietly(
        context.run.lead.pk, submission=context.run.submission, profile=result.output
    )
    return StepResult.from_agent(result)


def score_form(context: StepContext):
    from pipeline.agents.score import score_form as score

    criteria, version, _ = scoring_config()
    result = score(
        lead_input(context),
        classification_of(context),
        criteria,
        version,
        strategy=strategy_for("score"),
        fallback_on_transient=is_last_attempt(context),
    )
    return StepResult.from_agent(result)


def score_final(context: StepContext) -> StepResult:
    from pipeline.agents.decision import decide
    from pipeline.agents.draft import reply_language
    from pipeline.agents.score import score_final as score
    from pipeline.scoring.stored import decision_thresholds

    classification = classification_of(context)
    criteria, version, config = scoring_config()
    form_score = Score.model_validate(context.outputs[SCORE_FORM])
    result = score(
        lead_input(context), classification, form_score, profile_of(context), criteria, version
    )
    lead = Lead.objects.get(pk=context.run.lead.pk)
    decision = decide(
        classification,
        result.output,
        **decision_thresholds(config),
        lead_language=classification.language,
        reply_language=reply_language(classification.language, strategy_for("draft")),
        auto_send_paused=OperationsSettings.load().auto_send_paused,
        lead_flagged=lead.is_flagged or lead.unsubscribed_at is not None,
        has_email=bool(lead.email),
    )
    Lead.objects.filter(pk=lead.pk).update(score=result.output.value)
    type(context.run).objects.filter(pk=context.run.pk).update(
        decision=decision.action, decision_reason=decision.reason[:500]
    )
    if classification.label != "spam" and not context.options.get("dry_run"):
        from pipeline.notifications import escalate_scored

        # Once per run (the notification's key): a retried step announces nothing twice.
        escalate_scored(
            lead.pk,
            run_id=context.run.pk,
            score=result.output.value,
            message=lead_input(context).message,
        )
    return StepResult.from_agent(result, ScoredLead(score=result.output, decision=decision))


def crm_write(context: StepContext):
    from pipeline.integrations.crm import upsert_lead

    scored = scored_of(context)
    return upsert_lead(
        context.run.lead,
        classification=classification_of(context),
        profile=profile_of(context),
        score=scored.score,
        source=lead_input(context).source,
        message=lead_input(context).message,
    )


def draft(context: StepContext):
    """Write the reply and put it where a human (or the gate) decides about it."""
    from pipeline.agents.draft import draft_reply, needs_draft
    from pipeline.schemas import CompanyVoice

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
        strategy=strategy_for("draft"),
        fallback_on_transient=is_last_attempt(context),
    )
    reply: DraftReply = result.output
    with transaction.atomic():
        # A regenerated draft replaces the run's earlier pending one.
        Draft.objects.filter(run=context.run, status=Draft.Status.PENDING).update(
            status=Draft.Status.SUPERSEDED
        )
        row = Draft.objects.create(
            lead=context.run.lead,
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
        result,
        {
            "draft_id": row.pk,
            "subject": row.subject,
            "body": row.body,
            "language": reply.language,
            "lead_language": classification.language,
        },
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
    """Auto-approve when the decision says so and nothing changed since; else wait for a human.

    Safe to run again: after a crash between the approval's commit and this step's finish, the
    re-run finds its own approval and carries on to the send.
    """
    from pipeline.actions import auto_approve_draft

    scored = scored_of(context)
    if DRAFT in context.skipped:
        # Possible spam, or low intent below the review floor: it waits for a human without a
        # drafted reply (discard it, or write or ask for one).
        draft_id = _reply_to_write(context, scored)
        return Wait("review", {"draft_id": draft_id, "reason": scored.decision.reason})
    draft_id = context.outputs[DRAFT]["draft_id"]
    if scored.decision.action != "auto_send":
        return Wait("review", {"draft_id": draft_id, "reason": scored.decision.reason})
    lead_language = context.outputs[DRAFT].get("lead_language", "")
    draft_language = context.outputs[DRAFT].get("language", "")
    if lead_language and draft_language and draft_language != lead_language:
        # A reply not in the lead's language is never sent without a human.
        return _hold_back(
            context,
            draft_id,
            f"the draft is in {draft_language}, the lead wrote in {lead_language}",
        )
    # Things may have changed since the decision: the action checks them again before approving.
    result = auto_approve_draft(draft_id, run_id=context.run.pk)
    if result.status in ("done", "noop"):
        fault_point("gate.approved")
        return {
            "draft_id": draft_id,
            "subject": result.draft.subject,
            "body": result.draft.body,
            "approved_by": None,
            "auto": True,
        }
    return _hold_back(context, draft_id, result.message.rstrip("."))


def _reply_to_write(context: StepContext, scored: ScoredLead) -> int:
    """The run's pending draft without a reply, so the lead stands in the review queue.

    Safe to run again: a re-run after a crash finds the row it created.
    """
    existing = (
        Draft.objects.filter(run=context.run, status=Draft.Status.PENDING)
        .values_list("pk", flat=True)
        .first()
    )
    if existing is not None:
        return existing
    classification = classification_of(context)
    flags = list(classification.flags)
    if scored.decision.possible_spam:
        flags.append(POSSIBLE_SPAM_FLAG)
    with transaction.atomic():
        row = Draft.objects.create(
            lead=context.run.lead,
            run=context.run,
            subject="",
            body="",
            label=classification.label,
            confidence=classification.confidence,
            score=scored.score.value,
            flags=flags,
            decision=scored.decision.action,
            decision_reason=scored.decision.reason[:500],
        )
        DraftRevision.objects.create(draft=row, number=1, subject="", body="")
    return row.pk


def _hold_back(context: StepContext, draft_id: int, reason: str) -> Wait:
    held_back = {"decision": "review", "decision_reason": f"Auto-send held back: {reason}."[:500]}
    type(context.run).objects.filter(pk=context.run.pk).update(**held_back)
    Draft.objects.filter(pk=draft_id, status=Draft.Status.PENDING).update(**held_back)
    return Wait("review", {"draft_id": draft_id, "reason": reason})


def send(context: StepContext):
    """Put the approved reply in the outbox and send it (at most once); start the follow-ups."""
    from pipeline.followups import start_follow_ups
    from pipeline.integrations.outbox import send_approved_reply

    approved = context.outputs[GATE]
    result = send_approved_reply(
        lead=context.run.lead,
        run=context.run,
        step_run=context.step_run,
        draft_id=approved["draft_id"],
        subject=approved["subject"],
        body=approved["body"],
    )
    if result["state"] == "sent":
        # Once per first email: a re-run of this step finds the plan it started.
        start_follow_ups(result["email_id"])
    return result
