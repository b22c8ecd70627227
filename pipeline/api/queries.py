"""Read side of the API: a page of leads or runs in a fixed number of queries, one lead in full."""

from __future__ import annotations

import base64
import binascii

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from pydantic import BaseModel, ValidationError

from pipeline.models import Lead, PipelineRun, StepRun, Submission
from pipeline.schemas import Classification, CompanyProfile, ScoredLead


class BadCursor(ValueError):
    pass


def encode_cursor(pk: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{pk}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The last id of the previous page (pages go newest first, by id)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, _, pk = raw.partition(":")
        value = int(pk)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor("cursor is not one this API gave out") from None
    if version != "v1" or not 1 <= value <= 2**63 - 1:
        raise BadCursor("cursor is not one this API gave out")
    return value


def leads(*, label=None, decision=None, source=None, created_since=None, cursor=None) -> QuerySet:
    """Leads newest first with their latest run's id, status and decision."""
    latest_run = PipelineRun.objects.filter(lead=OuterRef("pk")).order_by("-created_at", "-pk")
    rows = Lead.objects.annotate(
        latest_run_id=Subquery(latest_run.values("pk")[:1]),
        latest_run_status=Subquery(latest_run.values("status")[:1]),
        latest_run_decision=Subquery(latest_run.values("decision")[:1]),
    )
    if label:
        rows = rows.filter(label=label)
    if decision:
        rows = rows.filter(latest_run_decision=decision)
    if source:
        from_source = Submission.objects.filter(lead=OuterRef("pk")).filter(
            Q(source__slug=source) | Q(channel=source)
        )
        rows = rows.filter(Exists(from_source))
    if created_since:
        rows = rows.filter(created_at__gte=created_since)
    if cursor:
        rows = rows.filter(pk__lt=decode_cursor(cursor))
    return rows.order_by("-pk")


def page(rows: QuerySet, limit: int) -> tuple[list, str | None]:
    """One page and the cursor of the next (None on the last page)."""
    items = list(rows[: limit + 1])
    if len(items) > limit:
        return items[:limit], encode_cursor(items[limit - 1].pk)
    return items, None


def _validated(model: type[BaseModel], value):
    if not value:
        return None
    try:
        return model.model_validate(value)
    except ValidationError:
        return None


def lead_detail(lead_id: int) -> dict | None:
    """One lead with what its latest finished work says: class, score, enrichment, drafts, emails."""
    lead = leads().filter(pk=lead_id).first()
    if lead is None:
        return None
    latest_outputs = {}
    if lead.latest_run_id:
        for step in StepRun.objects.filter(
            run_id=lead.latest_run_id, name__in=("classify", "enrich", "score_final")
        ).only("name", "output"):
            latest_outputs[step.name] = step.output
    classification = _validated(Classification, latest_outputs.get("classify"))
    profile = _validated(CompanyProfile, latest_outputs.get("enrich"))
    scored = _validated(ScoredLead, latest_outputs.get("score_final"))
    data = summary(lead)
    data.update(
        classification=classification.model_dump(mode="json") if classification else None,
        score_details=(
            {
                "value": scored.score.value,
                "explanation": scored.score.explanation,
                "criteria": [criterion.model_dump() for criterion in scored.score.criteria],
                "decision": scored.decision.action,
                "decision_reason": scored.decision.reason,
            }
            if scored
            else None
        ),
        enrichment=profile.model_dump(mode="json") if profile else None,
        drafts=list(lead.drafts.order_by("-created_at", "-pk").values()),
        emails=list(lead.emails.order_by("-created_at", "-pk").values()),
        outcomes=list(lead.outcomes.order_by("-recorded_at", "-pk").values()),
    )
    return data


def summary(lead: Lead) -> dict:
    return {
        "id": lead.pk,
        "name": lead.name,
        "email": lead.email,
        "phone": lead.phone,
        "company": lead.company,
        "website": lead.website,
        "label": lead.label,
        "score": lead.score,
        "is_flagged": lead.is_flagged,
        "decision": lead.latest_run_decision or "",
        "latest_run_id": lead.latest_run_id,
        "latest_run_status": lead.latest_run_status or "",
        "created_at": lead.created_at,
    }


def runs(*, status=None, lead_id=None, cursor=None) -> QuerySet:
    rows = PipelineRun.objects.prefetch_related(
        Prefetch(
            "steps",
            queryset=StepRun.objects.only(
                "run_id", "name", "status", "attempt", "error", "duration_ms"
            ).order_by("pk"),
        )
    )
    if status:
        rows = rows.filter(status=status)
    if lead_id:
        rows = rows.filter(lead_id=lead_id)
    if cursor:
        rows = rows.filter(pk__lt=decode_cursor(cursor))
    return rows.order_by("-pk")


def run_out(run: PipelineRun) -> dict:
    return {
        "id": run.pk,
        "lead_id": run.lead_id,
        "pipeline": run.pipeline_name,
        "pipeline_version": run.pipeline_version,
        "status": run.status,
        "is_degraded": run.is_degraded,
        "decision": run.decision,
        "decision_reason": run.decision_reason,
        "error": run.error,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "steps": [
            {
                "name": step.name,
                "status": step.status,
                "attempt": step.attempt,
                "error": step.error,
                "duration_ms": step.duration_ms,
            }
            for step in run.steps.all()
        ],
    }
