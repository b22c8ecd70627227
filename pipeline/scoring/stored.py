"""Re-scoring a lead from what its run stored, with any scoring configuration, without Claude.

A run keeps the classifier's output, the enrichment and the form pass's per-criterion results
(where Claude judged the reading criteria). Re-scoring reuses Claude's judgements as fractions
of the points, so a criterion whose points change keeps its verdict; criteria Claude never
judged, and every criterion that is pure code, are evaluated by the rules again.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from django.db.models.fields.json import KT

from pipeline.agents.decision import decide
from pipeline.agents.defaults import AUTO_SEND_DEFAULTS
from pipeline.agents.score import Criterion, Facts, _result, earned, explain, parse_criteria
from pipeline.agents.score import total as score_total
from pipeline.schemas import (
    Classification,
    CompanyProfile,
    CriterionResult,
    Decision,
    LeadInput,
    Score,
)

SCORED_STEPS = ("classify", "enrich", "score_form", "score_final")


@dataclass
class StoredLead:
    """One decided run as stored: what the agents saw and what was decided then.

    lead, classification and profile are read-only attribute views of the stored outputs with
    the fields of LeadInput, Classification and CompanyProfile (see _construct).
    """

    run_id: int
    lead_id: int
    lead_name: str
    created_at: Any
    lead: LeadInput
    classification: Classification
    profile: CompanyProfile | None
    judged: dict[str, CriterionResult]
    score: int | None
    decision: str
    is_flagged: bool
    has_email: bool


def decision_thresholds(config) -> dict[str, Any]:
    """decide()'s keyword arguments from a ScoringConfig (saved or not), or the defaults."""
    if config is None:
        return {
            "auto_send_threshold": AUTO_SEND_DEFAULTS.threshold,
            "auto_send_labels": list(AUTO_SEND_DEFAULTS.labels),
            "min_confidence": AUTO_SEND_DEFAULTS.min_confidence,
            "review_floor": 0,
        }
    return {
        "auto_send_threshold": config.auto_send_threshold,
        "auto_send_labels": list(config.auto_send_labels),
        "min_confidence": config.auto_send_min_confidence,
        "review_floor": config.review_floor,
    }


def _judge(criterion: Criterion, stored: StoredLead, facts: Facts) -> tuple[float, str]:
    earlier = stored.judged.get(criterion.key)
    if criterion.spec.is_reading and earlier is not None and earlier.max_points:
        return earlier.points / earlier.max_points, earlier.reason
    return criterion.spec.function(facts, criterion.params)


def rescore(criteria: list[Criterion], stored: StoredLead) -> Score:
    facts = Facts(lead=stored.lead, classification=stored.classification, profile=stored.profile)
    results = []
    for criterion in criteria:
        fraction, reason = _judge(criterion, stored, facts)
        results.append(_result(criterion, fraction, reason))
    return Score(
        value=score_total(results),
        criteria=results,
        explanation=explain(results, stage="final"),
        stage="final",
    )


@dataclass(frozen=True, slots=True)
class _Points:
    points: int
    max_points: int


def rescore_value(criteria: list[Criterion], stored: StoredLead) -> int:
    """rescore(...).value without building the explanation (the what-if needs only numbers)."""
    facts = Facts(lead=stored.lead, classification=stored.classification, profile=stored.profile)
    return score_total(
        [
            _Points(earned(criterion, _judge(criterion, stored, facts)[0]), criterion.points)
            for criterion in criteria
        ]
    )


def redecide(config, stored: StoredLead, score: Score, *, auto_send_paused: bool) -> Decision:
    return decide(
        stored.classification,
        score,
        **decision_thresholds(config),
        auto_send_paused=auto_send_paused,
        lead_flagged=stored.is_flagged,
        has_email=stored.has_email,
    )


def criteria_of(config) -> list[Criterion]:
    parsed, _ = parse_criteria(list(config.criteria) if config else [])
    return parsed


def load_stored(runs) -> dict[int, StoredLead]:
    """The stored inputs of these runs (ids, or a queryset of run ids used as a subquery), in a
    fixed number of queries whatever their count.

    Outputs were validated when their step stored them, so they are rebuilt without validating
    again (model_construct): the what-if reads thousands of them.
    """
    from pipeline.models import PipelineRun, StepRun, Submission

    rows = list(
        PipelineRun.objects.filter(pk__in=runs).values_list(
            "pk",
            "lead_id",
            "submission_id",
            "decision",
            "created_at",
            "lead__name",
            "lead__email",
            "lead__phone",
            "lead__company",
            "lead__website",
            "lead__is_flagged",
            "lead__unsubscribed_at",
        )
    )
    outputs: dict[int, dict[str, Any]] = {}
    steps = StepRun.objects.filter(run_id__in=runs)
    for run_id, name, output in steps.filter(name__in=("classify", "enrich")).values_list(
        "run_id", "name", "output"
    ):
        outputs.setdefault(run_id, {})[name] = output
    # Only Claude's judgements are reused; rules ones are recomputed (their keywords may change).
    judged = steps.filter(name="score_form", strategy="claude").values_list("run_id", "output")
    for run_id, output in judged:
        outputs.setdefault(run_id, {})["score_form"] = output
    scores = dict(
        steps.filter(name="score_final")
        .annotate(value=KT("output__score__value"))
        .values_list("run_id", "value")
    )
    submissions = {
        row[0]: row[1:]
        for row in Submission.objects.filter(
            pk__in=PipelineRun.objects.filter(pk__in=runs).values("submission_id")
        ).values_list(
            "pk", "name", "email", "phone", "company", "website", "message", "custom_fields"
        )
    }
    stored: dict[int, StoredLead] = {}
    for (
        run_id,
        lead_id,
        submission_id,
        decision,
        created_at,
        name,
        email,
        phone,
        company,
        website,
        is_flagged,
        unsubscribed_at,
    ) in rows:
        found = outputs.get(run_id, {})
        if not found.get("classify"):
            continue
        if submission_id in submissions:
            s_name, s_email, s_phone, s_company, s_website, message, custom = submissions[
                submission_id
            ]
            lead = SimpleNamespace(
                name=s_name,
                email=s_email,
                phone=s_phone,
                company=s_company,
                website=s_website,
                message=message,
                custom_fields={str(k): str(v) for k, v in (custom or {}).items()},
                source="",
            )
        else:
            lead = SimpleNamespace(
                name=name,
                email=email,
                phone=phone,
                company=company,
                website=website,
                message="",
                custom_fields={},
                source="",
            )
        score = scores.get(run_id)
        stored[run_id] = StoredLead(
            run_id=run_id,
            lead_id=lead_id,
            lead_name=name or email or f"Lead {lead_id}",
            created_at=created_at,
            lead=lead,
            classification=_construct(Classification, found["classify"]),
            profile=_construct(CompanyProfile, found["enrich"]) if found.get("enrich") else None,
            judged={
                item["key"]: CriterionResult.model_validate(item)
                for item in (found.get("score_form") or {}).get("criteria", [])
            },
            score=int(score) if score not in (None, "") else None,
            decision=decision,
            is_flagged=bool(is_flagged or unsubscribed_at),
            has_email=bool(email),
        )
    return stored


def _construct(model, data: dict):
    """A stored output read as its type's attributes (defaults filled in), without validating
    it again: pydantic's model_construct costs more than the whole re-score of a lead."""
    view = dict(_defaults(model))
    view.update(data)
    return SimpleNamespace(**view)


_DEFAULTS: dict[type, dict[str, Any]] = {}


def _defaults(model) -> dict[str, Any]:
    if model not in _DEFAULTS:
        _DEFAULTS[model] = {
            name: field.get_default(call_default_factory=True)
            for name, field in model.model_fields.items()
        }
    return _DEFAULTS[model]
