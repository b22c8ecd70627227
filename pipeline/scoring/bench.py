"""Synthetic decided leads for measuring the what-if preview (bench_whatif and its test)."""

from __future__ import annotations

import random
from datetime import timedelta

from django.utils import timezone

from pipeline.agents.defaults import DEFAULT_CRITERIA
from pipeline.models import Lead, PipelineRun, StepRun, Submission
from pipeline.schemas import Classification, CompanyProfile, Decision, Score, ScoredLead

MESSAGES = [
    "We are 40 sales reps on HubSpot and want a demo next week.",
    "What does it cost for a team of 12? Our budget is approved for Q3.",
    "Just curious how this works.",
    "Buy cheap watches now!!! http://spam.example",
    "I am the CTO at a 200-person agency; can we start before the end of the month?",
    "Bonjour, nous cherchons une démo pour 15 commerciaux.",
]
LABELS = ["high_intent", "high_intent", "low_intent", "spam", "high_intent", "low_intent"]
RANGES = ["1-10", "11-50", "51-200", "201-500", ""]
COUNTRIES = ["DE", "FR", "US", "GB", ""]


def make_decided_leads(count: int, *, seed: int = 7, tag: str = "bench") -> list[int]:
    """`count` leads, each with a submission and a decided run with stored step outputs."""
    randomizer = random.Random(seed)
    now = timezone.now()
    leads = Lead.objects.bulk_create(
        Lead(
            email=f"{tag}{index}@company{index}.example",
            email_normalized=f"{tag}{index}@company{index}.example",
            name=f"Lead {index}",
            company=f"Company {index}",
        )
        for index in range(count)
    )
    submissions = Submission.objects.bulk_create(
        Submission(
            lead=lead,
            channel=Submission.Channel.IMPORT,
            email=lead.email,
            name=lead.name,
            company=lead.company,
            message=MESSAGES[index % len(MESSAGES)],
        )
        for index, lead in enumerate(leads)
    )
    runs = []
    for index, (lead, submission) in enumerate(zip(leads, submissions, strict=True)):
        label = LABELS[index % len(LABELS)]
        action = "discard" if label == "spam" else randomizer.choice(["auto_send", "review"])
        runs.append(
            PipelineRun(
                lead=lead,
                submission=submission,
                pipeline_name="lead",
                pipeline_version=1,
                status=PipelineRun.Status.SUCCEEDED,
                decision=action,
            )
        )
    runs = PipelineRun.objects.bulk_create(runs)
    steps = []
    for index, run in enumerate(runs):
        label = LABELS[index % len(LABELS)]
        classification = Classification(
            label=label, confidence=round(randomizer.uniform(0.5, 0.99), 2), reasons=["bench"]
        )
        profile = CompanyProfile(
            domain=f"company{index}.example",
            company_name=f"Company {index}",
            sector=randomizer.choice(["Software", "Retail", "Consulting", ""]),
            employee_range=randomizer.choice(RANGES),
            country=randomizer.choice(COUNTRIES),
            tech_stack=randomizer.sample(["HubSpot", "Salesforce", "Shopify", "React"], 2),
        )
        score = Score(value=randomizer.randint(0, 100), stage="final")
        scored = ScoredLead(score=score, decision=Decision(action=run.decision, reason="bench"))
        outputs = {
            "classify": classification.model_dump(mode="json"),
            "enrich": profile.model_dump(mode="json") if label != "spam" else None,
            "score_form": Score(value=score.value, stage="form").model_dump(mode="json"),
            "score_final": scored.model_dump(mode="json"),
        }
        for name, output in outputs.items():
            steps.append(
                StepRun(
                    run=run,
                    name=name,
                    status=StepRun.Status.SUCCEEDED,
                    output=output,
                    strategy="rules",
                    finished_at=now - timedelta(days=index % 14),
                )
            )
    StepRun.objects.bulk_create(steps, batch_size=2000)
    for offset in range(14):
        day_runs = [run.pk for index, run in enumerate(runs) if index % 14 == offset]
        PipelineRun.objects.filter(pk__in=day_runs).update(created_at=now - timedelta(days=offset))
    return [run.pk for run in runs]


BENCH_CRITERIA = DEFAULT_CRITERIA
