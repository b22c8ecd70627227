"""Read-side queries of the staff pages: each page's rows in a fixed number of queries."""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import (
    Case,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from pydantic import BaseModel, ValidationError

from pipeline.engine import PipelineDefinitionError, get_pipeline
from pipeline.followups import plans_of
from pipeline.models import (
    Draft,
    DraftRevision,
    Lead,
    OutboundEmail,
    PipelineRun,
    ReviewAction,
    StepRun,
    Submission,
    WebhookSource,
)
from pipeline.pipelines import CLASSIFY, DRAFT, ENRICH, SCORE_FINAL
from pipeline.schemas import Classification, CompanyProfile, ScoredLead
from review.dashboard import DRAFT_OUTCOMES, day_bounds, with_edits

QUEUE_PAGE_SIZE = 50
LIST_PAGE_SIZE = 50

AGE_FILTERS = {
    "1h": ("newer", timedelta(hours=1)),
    "24h": ("newer", timedelta(hours=24)),
    "older": ("older", timedelta(hours=24)),
    "3d": ("older", timedelta(days=3)),
}
# Age counts from the lead's arrival (its submission), not the draft's creation: a regenerated
# draft keeps its place in the queue.
QUEUE_ORDER = {
    "score": ("-score", "arrived_at", "pk"),
    "oldest": ("arrived_at", "pk"),
    "newest": ("-arrived_at", "-pk"),
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
    "lead__replied_at",
    "lead__owner__username",
    "lead__owner_basis",
    "lead__owner_basis_detail",
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
    flag: str = "",
    source: str = "",
    age: str = "",
    assigned_to=None,
    sort: str = "score",
) -> QuerySet:
    drafts = (
        Draft.objects.filter(status=Draft.Status.PENDING)
        .filter(awake())
        .select_related("lead__owner", "claimed_by", "assigned_to", "run__submission__source")
        .only(*QUEUE_ROW_FIELDS)
        .alias(arrived_at=Coalesce("run__submission__received_at", "created_at"))
    )
    if q:
        drafts = drafts.filter(
            Q(lead__name__icontains=q) | Q(lead__email__icontains=q) | Q(lead__company__icontains=q)
        )
    if label:
        drafts = drafts.filter(label=label)
    if flag:
        drafts = drafts.filter(has_flag(flag))
    if source.startswith("source:"):
        drafts = drafts.filter(run__submission__source__slug=source.removeprefix("source:"))
    elif source:
        drafts = drafts.filter(run__submission__channel=source)
    if age in AGE_FILTERS:
        direction, span = AGE_FILTERS[age]
        cutoff = timezone.now() - span
        if direction == "newer":
            drafts = drafts.filter(arrived_at__gte=cutoff)
        else:
            drafts = drafts.filter(arrived_at__lt=cutoff)
    if assigned_to is not None:
        drafts = drafts.filter(assigned_to=assigned_to)
    return drafts.order_by(*QUEUE_ORDER.get(sort, QUEUE_ORDER["score"]))


def awake() -> Q:
    """Drafts not snoozed (or whose snooze is over): the ones the queue shows."""
    return Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=timezone.now())


def pending_count() -> int:
    """Drafts waiting for review, all filters off (the navigation's and tab title's count)."""
    return Draft.objects.filter(awake(), status=Draft.Status.PENDING).count()


def owed_replies(user) -> QuerySet:
    """Drafts the user took over ("I'll write it myself") and still owes a reply for."""
    return (
        Draft.objects.filter(assigned_to=user, reply_due_at__isnull=False)
        .select_related("lead")
        .only("reply_due_at", "lead__name", "lead__email")
        .order_by("reply_due_at")[:20]
    )


def new_replies() -> list:
    """Replies from leads that nobody has handled yet, newest first, for the queue."""
    from pipeline.models import InboundReply

    return list(
        InboundReply.objects.filter(lead__isnull=False, handled_at__isnull=True)
        .select_related("lead")
        .only("received_at", "subject", "trimmed_text", "lead__name", "lead__email")
        .order_by("-received_at", "-pk")[:20]
    )


def unmatched_reply_count() -> int:
    from pipeline.models import InboundReply

    return InboundReply.objects.filter(lead__isnull=True).count()


def label_counts() -> dict[str, int]:
    """Waiting drafts per label, shown beside each label in the queue's filter."""
    from django.db.models import Count

    rows = (
        Draft.objects.filter(awake(), status=Draft.Status.PENDING)
        .values_list("label")
        .annotate(count=Count("pk"))
        .order_by()
    )
    return dict(rows)


def has_flag(flag: str) -> Q:
    """Drafts whose flags list holds `flag`.

    PostgreSQL answers JSON containment from the jsonb value; SQLite has no such lookup, so
    there the stored JSON text is searched for the quoted flag (flags are a fixed set of
    names, none inside another's quotes).
    """
    if connection.features.supports_json_field_contains:
        return Q(flags__contains=[flag])
    return Q(flags__icontains=json.dumps(flag))


def flag_counts() -> dict[str, int]:
    """Waiting drafts per flag, shown beside each flag in the queue's filter (one query)."""
    rows = (
        Draft.objects.filter(awake(), status=Draft.Status.PENDING)
        .exclude(flags=[])
        .values_list("flags", flat=True)
    )
    return dict(Counter(flag for flags in rows.iterator() for flag in set(flags or ())))


def undoable_approvals(user) -> list[Draft]:
    """The user's approvals still inside their undo window (the queue offers Undo on them)."""
    return list(
        Draft.objects.filter(
            status=Draft.Status.APPROVED, decided_by=user, send_at__gt=timezone.now()
        )
        .select_related("lead")
        .only("send_at", "version", "lead__name", "lead__email")
        .order_by("send_at")[:10]
    )


def annotate_claims(drafts, user) -> None:
    """Set `claim_holder` (a username, or "") on each draft: who else has it open right now."""
    now = timezone.now()
    for draft in drafts:
        is_held = draft.is_claim_held(now) and draft.claimed_by_id != user.pk
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
    rejected_by: str = ""
    instruction_limit: str = ""


def _instruction_limit(run: PipelineRun, draft: Draft, newer: Draft | None) -> str:
    if draft.status != Draft.Status.SUPERSEDED or newer is not None:
        return ""
    from pipeline.actions import instruction_limit

    return instruction_limit(str((run.options or {}).get("draft_instruction", "")))


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
    is_held = draft.is_claim_held(now)
    newer = None
    if draft.status == Draft.Status.SUPERSEDED:
        newer = Draft.objects.filter(run=run, pk__gt=draft.pk).order_by("-pk").first()
    draft_step = by_name.get(DRAFT)
    enrich = by_name.get(ENRICH)
    return DraftDetails(
        draft=draft,
        lead=draft.lead,
        run=run,
        submission=submission,
        classification=_validated(
            Classification, by_name.get(CLASSIFY) and by_name[CLASSIFY].output
        ),
        profile=_validated(CompanyProfile, enrich and enrich.output),
        scored=_validated(ScoredLead, by_name.get(SCORE_FINAL) and by_name[SCORE_FINAL].output),
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
        instruction_limit=_instruction_limit(run, draft, newer),
        rejected_by=draft.decided_by.get_username()
        if draft.status == Draft.Status.REJECTED and draft.decided_by
        else "",
    )


# --- Leads and runs ---------------------------------------------------------------------------


def leads_list(
    *,
    q: str = "",
    label: str = "",
    since=None,
    until=None,
    source: str = "",
    draft: str = "",
) -> QuerySet:
    """Leads, newest first; since/until/source/draft are the dashboard's filters (local days)."""

    latest_run = PipelineRun.objects.filter(lead=OuterRef("pk")).order_by("-created_at", "-pk")
    leads = Lead.objects.annotate(
        latest_run_id=Subquery(latest_run.values("pk")[:1]),
        latest_run_status=Subquery(latest_run.values("status")[:1]),
        latest_run_decision=Subquery(latest_run.values("decision")[:1]),
    )
    if q:
        leads = leads.filter(Q(name__icontains=q) | Q(email__icontains=q) | Q(company__icontains=q))
    if label:
        leads = leads.filter(label="" if label == "none" else label)
    start, end = day_bounds(since, until)
    if start or end or source:
        submissions = Submission.objects.filter(lead=OuterRef("pk"), is_trapped=False)
        if start:
            submissions = submissions.filter(received_at__gte=start)
        if end:
            submissions = submissions.filter(received_at__lt=end)
        if source.startswith("source:"):
            submissions = submissions.filter(source__slug=source.removeprefix("source:"))
        elif source:
            submissions = submissions.filter(channel=source, source__isnull=True)
        leads = leads.filter(Exists(submissions))
    if draft in DRAFT_OUTCOMES:
        drafts = with_edits(Draft.objects.filter(lead=OuterRef("pk"))).filter(DRAFT_OUTCOMES[draft])
        if start:
            drafts = drafts.filter(created_at__gte=start)
        if end:
            drafts = drafts.filter(created_at__lt=end)
        leads = leads.filter(Exists(drafts))
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
    submissions = list(lead.submissions.select_related("source"))
    # Opening a draft claims it; that is presence, not activity worth a line in the history.
    actions = list(
        lead.actions.exclude(action="claim")
        .select_related("user", "draft")
        .order_by("-created_at", "-pk")
    )
    emails = list(OutboundEmail.objects.filter(lead=lead).order_by("-created_at"))
    replies = list(lead.replies.select_related("reply_to_email").order_by("-received_at", "-pk"))
    return {
        "lead": lead,
        "submissions": submissions,
        "runs": runs,
        "drafts": list(
            lead.drafts.select_related("decided_by", "assigned_to")
            .prefetch_related(
                Prefetch("revisions", queryset=DraftRevision.objects.select_related("author"))
            )
            .order_by("-created_at", "-pk")
        ),
        "actions": actions,
        "emails": emails,
        "replies": replies,
        "follow_up_plans": plans_of(lead),
        "owners": reviewers(),
        "timeline": lead_timeline(submissions, runs, actions, emails, replies),
    }


def lead_timeline(submissions, runs, actions, emails, replies=()) -> list[dict]:
    """Everything that happened to one person, newest first: what they sent, what the
    pipeline decided, what reviewers did, which emails went out and what they answered."""
    events = [{"at": s.received_at, "kind": "submission", "item": s} for s in submissions]
    events += [{"at": run.created_at, "kind": "run", "item": run} for run in runs]
    events += [{"at": action.created_at, "kind": "action", "item": action} for action in actions]
    events += [
        {"at": email.sent_at or email.created_at, "kind": "email", "item": email}
        for email in emails
    ]
    events += [{"at": reply.received_at, "kind": "reply", "item": reply} for reply in replies]
    return sorted(events, key=lambda event: event["at"], reverse=True)


def runs_list(
    *,
    status: str = "",
    since=None,
    until=None,
    step: str = "",
    step_status: str = "",
    error: str = "",
) -> QuerySet:
    """Runs, failed first; since/until/step/step_status/error are the dashboard's filters."""

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
    start, end = day_bounds(since, until)
    if start:
        runs = runs.filter(created_at__gte=start)
    if end:
        runs = runs.filter(created_at__lt=end)
    if step or step_status or error:
        steps = StepRun.objects.filter(run=OuterRef("pk"))
        if step:
            steps = steps.filter(name=step)
        if step_status:
            steps = steps.filter(status=step_status)
        if error:
            steps = steps.filter(error__startswith=error)
        runs = runs.filter(Exists(steps))
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
