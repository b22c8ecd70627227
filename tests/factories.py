"""Small factory functions: make_<thing>(**overrides) returns a saved row."""

from itertools import count

from pipeline.models import Lead, Submission
from pipeline.schemas import LeadInput

_sequence = count(1)


def make_lead(**overrides) -> Lead:
    number = next(_sequence)
    email = overrides.pop("email", f"person{number}@acme-{number}.example")
    fields = {
        "email": email,
        "email_normalized": email.lower(),
        "name": f"Person {number}",
        "company": f"Acme {number}",
        **overrides,
    }
    return Lead.objects.create(**fields)


def make_submission(lead: Lead | None = None, **overrides) -> Submission:
    lead = lead or make_lead()
    fields = {
        "lead": lead,
        "channel": Submission.Channel.WEBHOOK,
        "name": lead.name,
        "email": lead.email,
        "company": lead.company,
        "message": "We are evaluating tools for our sales team of 40 and want a demo next week.",
        **overrides,
    }
    return Submission.objects.create(**fields)


# --- Review queue: a draft whose run really waits at the human gate ---------------------------

REVIEW_PASSWORD = "review-pass-123"  # noqa: S105 (test accounts only)
_review_password: dict[str, str] = {}


def make_reviewer(username: str | None = None, *, group: str = "Reviewers", **fields):
    """A staff user in one of the groups created by review/migrations/0001_staff_groups.py."""
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User

    # Hash once per process: the hasher is slow on purpose, and every test makes users.
    if "hash" not in _review_password:
        _review_password["hash"] = make_password(REVIEW_PASSWORD)
    username = username or f"reviewer{next(_sequence)}"
    user = User.objects.create(username=username, password=_review_password["hash"], **fields)
    if group:
        user.groups.add(staff_group(group))
    return user


def staff_group(name: str):
    """The staff group, recreated when a transactional test's flush removed it.

    Flushing keeps permissions (post_migrate makes them again) but not the groups that
    review/migrations/0001_staff_groups.py created, so later tests rebuild them the same way.
    """
    import importlib

    from django.contrib.auth.models import Group, Permission

    group, created = Group.objects.get_or_create(name=name)
    if created:
        migration = importlib.import_module("review.migrations.0001_staff_groups")
        pairs = list(migration.REVIEWER_PERMISSIONS)
        if name == "Admins":
            pairs += migration.ADMIN_EXTRA_PERMISSIONS
            # Granted later by pipeline/migrations/0005_admins_resolve_unknown_emails.py.
            pairs += [("pipeline", "resolve_email")]
            pairs += importlib.import_module(
                "review.migrations.0002_admins_manage_api_tokens"
            ).ADMIN_API_PERMISSIONS
        group.permissions.add(
            *[
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
                for app_label, codename in pairs
            ]
        )
    return group


def make_waiting_draft(
    *,
    lead: Lead | None = None,
    message: str = "Hi, we are 40 sales reps on HubSpot and want to see a demo next week.",
    channel: str = Submission.Channel.WEBHOOK,
    source=None,
    label: str = "high_intent",
    confidence: float = 0.86,
    score: int = 62,
    flags: tuple[str, ...] | list[str] = (),
    decision: str = "review",
    decision_reason: str = "",
    subject: str = "Your demo request",
    body: str = "Hi,\n\nThanks for reaching out. Does Tuesday at 10:00 work for a demo?\n\nBest,\nSam",
    fallback_reason: str = "",
    **draft_fields,
):
    """Lead + Submission + a lead-pipeline run stopped at its gate, and the pending Draft.

    Step outputs are shaped like pipeline/schemas.py; the gate StepRun is "waiting" for
    the draft, so engine.resume / engine.reject work on it exactly as in production.
    """
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from pipeline.engine import get_pipeline
    from pipeline.models import Draft, DraftRevision, PipelineRun, StepRun
    from pipeline.schemas import (
        Classification,
        CompanyProfile,
        CriterionResult,
        Decision,
        FieldSource,
        Score,
        ScoredLead,
    )

    lead = lead or make_lead()
    decision_reason = decision_reason or f"score {score} is below the auto-send threshold 75"
    Lead.objects.filter(pk=lead.pk).update(label=label, score=score, flags=list(flags))
    submission = make_submission(lead, message=message, channel=channel, source=source)
    definition = get_pipeline("lead")
    started = timezone.now() - timedelta(seconds=9)
    run = PipelineRun.objects.create(
        lead=lead,
        submission=submission,
        pipeline_name="lead",
        pipeline_version=definition.version,
        status=PipelineRun.Status.WAITING,
        started_at=started,
        decision=decision,
        decision_reason=decision_reason,
        is_degraded=bool(fallback_reason),
    )
    draft = Draft.objects.create(
        lead=lead,
        run=run,
        subject=subject,
        body=body,
        label=label,
        confidence=confidence,
        score=score,
        flags=list(flags),
        decision=decision,
        decision_reason=decision_reason,
        **draft_fields,
    )
    DraftRevision.objects.create(draft=draft, number=1, subject=subject, body=body)

    domain = lead.email.rsplit("@", 1)[-1] if "@" in lead.email else ""
    classification = Classification(
        label=label,
        confidence=confidence,
        reasons=["asks for a demo", "names a team size"],
        flags=list(flags),
    )
    is_enriched = label not in ("spam", "wrong_fit")
    profile = CompanyProfile(
        domain=domain,
        company_name=lead.company,
        description="Sales engagement software for mid-sized B2B teams.",
        sector="Software",
        employee_range="51-200",
        country="DE",
        tech_stack=["HubSpot", "Cloudflare"],
        field_sources={"company_name": FieldSource(source="json-ld", confidence=0.9)},
        provider="web",
    )
    criteria = [
        CriterionResult(
            key="intent",
            label="Buying intent",
            points=30,
            max_points=40,
            reason="asks for a demo next week",
        ),
        CriterionResult(
            key="size",
            label="Company size",
            points=20,
            max_points=30,
            reason="51-200 employees",
            needs_enrichment=True,
        ),
        CriterionResult(
            key="fit",
            label="Industry fit",
            points=12,
            max_points=30,
            reason="software, adjacent to our market",
        ),
    ]
    form_score = Score(value=max(score - 10, 0), criteria=criteria[:1], stage="form")
    final = ScoredLead(
        score=Score(
            value=score, criteria=criteria, explanation="demo request, mid-sized", stage="final"
        ),
        decision=Decision(action=decision, reason=decision_reason),
    )
    outputs = {
        "classify": classification.model_dump(mode="json"),
        "enrich": profile.model_dump(mode="json") if is_enriched else None,
        "score_form": form_score.model_dump(mode="json"),
        "score_final": final.model_dump(mode="json"),
        "crm_write": {"adapter": "builtin", "external_id": f"contact-{lead.pk}", "created": True},
        "draft": {"draft_id": draft.pk, "subject": subject, "body": body},
    }
    strategies = {
        "classify": "claude",
        "enrich": "rules",
        "score_form": "rules",
        "score_final": "rules",
        "crm_write": "",
        "draft": "claude",
    }
    rows = []
    moment = started
    for step in definition.steps:
        duration = {"classify": 850, "enrich": 1900, "draft": 2400}.get(step.name, 40)
        fields = {"run": run, "name": step.name, "attempt": 1}
        if step.name == "gate":
            fields.update(
                status=StepRun.Status.WAITING,
                started_at=moment,
                ready_at=moment,
                duration_ms=3,
                wait_reason="review",
                output={"waiting_for": "review", "draft_id": draft.pk, "reason": decision_reason},
            )
        elif step.name == "send":
            fields.update(status=StepRun.Status.PENDING, attempt=0)
        elif step.name == "enrich" and not is_enriched:
            fields.update(
                status=StepRun.Status.SKIPPED,
                started_at=moment,
                finished_at=moment,
                skip_reason=f"{label} leads are not worth a fetch",
            )
        else:
            strategy = strategies.get(step.name, "rules")
            fields.update(
                status=StepRun.Status.SUCCEEDED,
                ready_at=moment,
                started_at=moment,
                finished_at=moment + timedelta(milliseconds=duration),
                duration_ms=duration,
                output=outputs[step.name],
                strategy=strategy,
                model="claude-haiku-5-5" if strategy == "claude" else "",
                input_tokens=1200 if strategy == "claude" else 0,
                output_tokens=180 if strategy == "claude" else 0,
                cost_usd=Decimal("0.0021") if strategy == "claude" else Decimal("0"),
                fallback_reason=fallback_reason if step.name == "draft" else "",
            )
            moment += timedelta(milliseconds=duration)
        rows.append(StepRun(**fields))
    StepRun.objects.bulk_create(rows)
    return draft


# A message every strategy reads as a strong buyer (high intent, auto-sent with business_settings).
BUYER = (
    "Hi, we're a 120-person logistics company replacing our spreadsheet-based lead tracking "
    "this quarter. Could we get a demo next week and pricing for 15 seats? Budget is approved."
)


def make_business_settings() -> None:
    """The demo company profile and criteria; high intent scoring 60 or more is auto-sent."""
    from pipeline.agents.defaults import DEFAULT_COMPANY_PROFILE, DEFAULT_CRITERIA
    from pipeline.models import CompanyProfile, ScoringConfig

    CompanyProfile.objects.create(**DEFAULT_COMPANY_PROFILE)
    ScoringConfig.objects.create(
        criteria=DEFAULT_CRITERIA, auto_send_threshold=60, auto_send_labels=["high_intent"]
    )


def make_lead_input(message: str, email: str, company: str = "", name: str = "Alex") -> LeadInput:
    """A lead as the agents see it (not saved): what a contact form would send."""
    return LeadInput(name=name, email=email, company=company, message=message)
