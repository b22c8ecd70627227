"""The engine benchmark's synthetic pipeline.

SYNTHETIC has the shape of the lead pipeline (two fan-outs, one fan-in, an auto-approved gate):

    classify -> {enrich, score_form} -> score_final -> {crm, draft} -> gate -> send

Each step sleeps `options["step_seconds"]` (the gate returns at once) and records a
StepExecution row, so duplicate executions can be counted. Workers register it by importing
this module (ENGINE_PIPELINE_MODULES=pipeline.dev.bench).
"""

from __future__ import annotations

import time

from pipeline.dev.models import StepExecution
from pipeline.engine import Pipeline, Retry, Step, register, worker_id


def _record(context) -> None:
    StepExecution.objects.create(step_run_id=context.step_run.pk, worker=worker_id())


def work(context) -> dict:
    """Stand-in for an agent step: record the execution, then wait like a network call."""
    _record(context)
    seconds = float(context.options.get("step_seconds", 0))
    if seconds > 0:
        time.sleep(seconds)
    return {"step": context.step_run.name}


def auto_approve(context) -> dict:
    """The gate when the decision is auto-send: approved at once, nobody waits."""
    _record(context)
    return {"approved_by": None, "auto": True}


_RETRY = Retry(attempts=3, backoff_seconds=0.5)

SYNTHETIC = register(
    Pipeline(
        "bench",
        version=1,
        steps=(
            Step("classify", run=work, retry=_RETRY),
            Step("enrich", run=work, needs=("classify",), retry=_RETRY),
            Step("score_form", run=work, needs=("classify",), retry=_RETRY),
            Step("score_final", run=work, needs=("enrich", "score_form"), retry=_RETRY),
            Step("crm", run=work, needs=("score_final",), retry=_RETRY, side_effect=True),
            Step("draft", run=work, needs=("score_final",), retry=_RETRY),
            Step("gate", run=auto_approve, needs=("draft",), retry=_RETRY),
            Step("send", run=work, needs=("gate",), retry=_RETRY, side_effect=True),
        ),
    )
)

# Steps on the longest path that sleep: classify, enrich|score_form, score_final, draft, send.
SLEEPING_STEPS_ON_CRITICAL_PATH = 5
