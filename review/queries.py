"""Read-side queries of the staff pages: each page's rows in a fixed number of queries."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db.models import Case, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, When
from django.utils import timezone
from pydantic import BaseModel, ValidationError

from pipeline.agents.types import Classification, CompanyProfile, ScoredLead
from pipeline.definitions import PipelineDefinitionError, get_pipeline
from pipeline.models import (
    Draft,
    DraftRevision,
    Lead,
    OutboundEmail,
    PipelineRun,
    ReviewAction,
    ScoringConfig,
    StepRun,
    Submission,
    WebhookSource,
)

QUEUE_PAGE_SIZE = 50
LIST_PAGE_SIZE = 50

AGE_FILTERS = {
    "1h": ("newer", timedelta(hours=1)),
    "24h": ("newer", timedelta(hours=24)),
    "older": ("older", timedelta(hours=24)),
    "3d": ("older", timedelta(days=3)),
}
QUEUE_ORDER = {
    "score": ("-score", "created_at", "pk"),
    "oldest": ("created_at", "pk"),
    "newest": ("-created_at", "-pk"),
}
# The only columns a queue row shows: keeps the 10,000-draft query narrow.
QUEUE_ROW_FIELDS = (
    "status",
    "version",
    "label",
    "confidence",
    "score",
    "flags",
    "decision",
    "created_at",
    "claimed_until",
    "lead__name",
    "lead__email",
    "lead__company",
    "claimed_by__username",
    "assigned_to__username",
    "run__submission__channel",
    "run__submission__received_at",
    "run__submission__source__name",
)


def reviewers() -> QuerySet:
    """Active users who may act on drafts (the reassign list)."""
    return (
        get_user_model()
        .objects.filter(
            Q(is_superuser=True)
            | Q(groups__permissions__codename="review_draft")
            | Q(user_permissions__codename="review_draft"),
            is_active=True,
        )
        .distinct()
        .order_by("username")
    )


def source_choices() -> list[tuple[str, str]]:
    """Queue filter choices: submission channels, then named webhook sources (by slug)."""
    channels = [(value, f"via {label.lower()}") for value, label in Submission.Channel.choices]
    sources = [
        (f"source:{slug}", name)
        for slug, name in WebhookSource.objects.order_by("name").values_list("slug", "name")
    ]
    return channels + sources


def pending_drafts(
    *,
    q: str = "",
    label: str = "",
    source: str = "",
    age: str = "",
    assigned_to=None,
    sort: str = "score",
) -> QuerySet:
    drafts = (
        Draft.objects.filter(status=Draft.Status.PENDING)
        .select_related("lead", "claimed_by", "assigned_to", "run__submission__source")
        .only(*QUEUE_ROW_FIELDS)
    )
    if q:
        drafts = drafts.filter(
            Q(lead__name__icontains=q) | Q(lead__email__icontains=q) | Q(lead__company__icontains=q)
        )
    if label:
        drafts = drafts.filter(label=label)
    if source.startswith("source:"):
        drafts = drafts.filter(run__submission__source__slug=source.removeprefix("source:"))
    elif source:
        drafts = drafts.filter(run__submission__channel=source)
    if age in AGE_FILTERS:
        direction, span = AGE_FILTERS[age]
        cutoff = timezone.now() - span
        if direction == "newer":
            drafts = drafts.filter(created_at__gte=cutoff)
        else:
            drafts = drafts.filter(created_at__lt=cutoff)
    if assigned_to is not None:
        drafts = drafts.filter(assigned_to=assigned_to)
    return drafts.order_by(*QUEUE_ORDER.get(sort, QUEUE_ORDER["score"]))


def annotate_claims(drafts, user) -> None:
    """Set `claim_holder` (a username, or "") on each draft: who else has it open right now."""
    now = timezone.now()
    for draft in drafts:
        is_held = (
            draft.claimed_by_id is not None
            and draft.claimed_until is not None
            and draft.claimed_until > now
            and draft.claimed_by_id != user.pk
        )
        draft.claim_holder = draft.claimed_by.get_username() if is_held else ""


def page_stamp(count: int, drafts) -> str:
    """A fingerprint of what a queue page shows; the live refresh skips the swap when equal.

    The minute is part of it so the rows' ages stay current.
    """
    parts = [str(count), str(int(time.time() // 60))]
    parts += [f"{d.pk}.{d.version}.{d.claim_holder}.{d.assigned_to_id}.{d.score}" for d in drafts]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


# --- One draft --------------------------------------------------------------------------------


def _validated(model: type[BaseModel], value) -> BaseModel | None:
    if not value:
        return None
    try:
        return model.model_validate(value)
    except ValidationError:
        return None


def ordered_steps(run: PipelineRun, steps) -> list[StepRun]:
    """Steps in the order the pipeline declares them (the order they happen)."""
    steps = list(steps)
    try:
        order = {
            step.name: index for index, step in enumerate(get_pipeline(run.pipeline_name).steps)
        }
    except PipelineDefinitionError:
        order = {}
    return sorted(steps, key=lambda step_run: (order.get(step_run.name, len(order)), step_run.pk))


@dataclass
class DraftDetails:
    """Everything a reviewer needs to judge one draft, on one screen."""

    draft: Draft
    lead: Lead
    run: PipelineRun
    submission: Submission | None
    classification: Classification | None
    profile: CompanyProfile | None
    scored: ScoredLead | None
    steps: list[StepRun]
    enrich_skip_reason: str
    earlier_submissions: list[Submission]
    revisions: list[DraftRevision]
    actions: list[ReviewAction]
    reviewers: QuerySet | None = None
    claim_holder: str = ""
    is_claimed_by_me: bool = False
    newer_draft: Draft | None = None
    is_regenerating: bool = False
    draft_step: StepRun | None = None


def draft_details(draft: Draft, user) -> DraftDetails:
    draft = Draft.objects.select_related(
        "lead",
        "run__submission__source",
        "decided_by",
        "claimed_by",
        "assigned_to",
    ).get(pk=draft.pk)
    run = draft.run
    steps = ordered_steps(run, StepRun.objects.filter(run=run).defer("traceback"))
    by_name = {step_run.name: step_run for step_run in steps}
    submission = run.submission
    earlier = Submission.objects.filter(lead=draft.lead).select_related("source")
    if submission is not None:
        earlier = earlier.exclude(pk=submission.pk)
    now = timezone.now()
    is_held = (
        draft.claimed_by_id is not None
        and draft.claimed_until is not None
        and draft.claimed_until > now
    )
    newer = None
    if draft.status == Draft.Status.SUPERSEDED:
        newer = Draft.objects.filter(run=run, pk__gt=draft.pk).order_by("-pk").first()
    draft_step = by_name.get("draft")
    enrich = by_name.get("enrich")
    return DraftDetails(
        draft=draft,
        lead=draft.lead,
        run=run,
        submission=submission,
        classification=_validated(
            Classification, by_name.get("classify") and by_name["classify"].output
        ),
        profile=_validated(CompanyProfile, enrich and enrich.output),
        scored=_validated(ScoredLead, by_name.get("score_final") and by_name["score_final"].output),
        steps=steps,
        enrich_skip_reason=enrich.skip_reason if enrich else "",
        earlier_submissions=list(earlier[:20]),
        revisions=list(draft.revisions.select_related("author")),
        actions=list(
            ReviewAction.objects.filter(draft=draft)
            .select_related("user")
            .order_by("-created_at")[:50]
        ),
        reviewers=reviewers(),
        claim_holder=draft.claimed_by.get_username()
        if is_held and draft.claimed_by_id != user.pk
        else "",
        is_claimed_by_me=is_held and draft.claimed_by_id == user.pk,
        newer_draft=newer,
        is_regenerating=(
            draft.status == Draft.Status.SUPERSEDED
            and newer is None
            and draft_step is not None
            and draft_step.status
            in (StepRun.Status.QUEUED, StepRun.Status.RUNNING, StepRun.Status.PENDING)
        ),
        draft_step=draft_step,
    )


# --- Leads and runs ---------------------------------------------------------------------------


def leads_list(*, q: str = "", label: str = "") -> QuerySet:
    latest_run = PipelineRun.objects.filter(lead=OuterRef("pk")).order_by("-created_at", "-pk")
    leads = Lead.objects.annotate(
        latest_run_id=Subquery(latest_run.values("pk")[:1]),
        latest_run_status=Subquery(latest_run.values("status")[:1]),
        latest_run_decision=Subquery(latest_run.values("decision")[:1]),
    )
    if q:
        leads = leads.filter(Q(name__icontains=q) | Q(email__icontains=q) | Q(company__icontains=q))
    if label:
        leads = leads.filter(label=label)
    return leads.order_by("-created_at", "-pk")


def lead_page(lead: Lead) -> dict:
    runs = list(
        PipelineRun.objects.filter(lead=lead)
        .select_related("submission")
        .prefetch_related(Prefetch("steps", queryset=StepRun.objects.defer("traceback", "output")))
        .order_by("-created_at", "-pk")
    )
    for run in runs:
        run.ordered_steps = ordered_steps(run, run.steps.all())
    return {
        "lead": lead,
        "submissions": list(lead.submissions.select_related("source")),
        "runs": runs,
        "drafts": list(
            lead.drafts.select_related("decided_by", "assigned_to")
            .prefetch_related(
                Prefetch("revisions", queryset=DraftRevision.objects.select_related("author"))
            )
            .order_by("-created_at", "-pk")
        ),
        "actions": list(
            lead.actions.select_related("user", "draft").order_by("-created_at", "-pk")
        ),
        "emails": list(OutboundEmail.objects.filter(lead=lead).order_by("-created_at")),
    }


def runs_list(*, status: str = "") -> QuerySet:
    failed_step = StepRun.objects.filter(run=OuterRef("pk"), status=StepRun.Status.FAILED).order_by(
        "pk"
    )
    runs = (
        PipelineRun.objects.select_related("lead")
        .only(
            "pipeline_name",
            "pipeline_version",
            "status",
            "is_degraded",
            "decision",
            "error",
            "created_at",
            "finished_at",
            "lead__name",
            "lead__email",
            "lead__company",
        )
        .annotate(
            failed_step=Subquery(failed_step.values("name")[:1]),
            failed_error=Subquery(failed_step.values("error")[:1]),
            is_failed=Case(
                When(status=PipelineRun.Status.FAILED, then=0),
                default=1,
                output_field=IntegerField(),
            ),
        )
    )
    if status:
        runs = runs.filter(status=status)
    return runs.order_by("is_failed", "-created_at", "-pk")


def dashboard_figures(now=None) -> dict:
    """Today at a glance: which strategy each agent uses, spend, runs, the queue, the outbox."""
    from datetime import timedelta

    from django.db.models import Count
    from django.utils import timezone

    from pipeline.llm.budget import llm_overview
    from pipeline.models import OperationsSettings, WorkerHeartbeat

    now = now or timezone.now()
    since = now - timedelta(hours=24)
    runs = dict(
        PipelineRun.objects.filter(created_at__gte=since)
        .values_list("status")
        .annotate(count=Count("pk"))
        .values_list("status", "count")
    )
    decisions = dict(
        PipelineRun.objects.filter(created_at__gte=since)
        .exclude(decision="")
        .values_list("decision")
        .annotate(count=Count("pk"))
        .values_list("decision", "count")
    )
    emails = dict(
        OutboundEmail.objects.values_list("state")
        .annotate(count=Count("pk"))
        .values_list("state", "count")
    )
    return {
        "llm": llm_overview(),
        "runs_24h": runs,
        "runs_24h_total": sum(runs.values()),
        "degraded_24h": PipelineRun.objects.filter(created_at__gte=since, is_degraded=True).count(),
        "decisions_24h": decisions,
        "pending_drafts": Draft.objects.filter(status=Draft.Status.PENDING).count(),
        "emails": emails,
        "auto_send_paused": OperationsSettings.load().auto_send_paused,
        "worker_seen": WorkerHeartbeat.objects.order_by("-seen_at")
        .values_list("seen_at", flat=True)
        .first(),
    }


def scoring_rows(config: ScoringConfig | None) -> list[dict]:
    """The criteria in force, with what each check reads (the admin UI comes with its issue)."""
    from pipeline.agents.score import CHECKS

    rows = []
    for criterion in config.criteria if config else []:
        spec = CHECKS.get(criterion.get("check", ""))
        rows.append(
            {
                **criterion,
                "description": spec.description if spec else "unknown check",
                "needs_enrichment": bool(spec and spec.needs_enrichment),
            }
        )
    return rows
