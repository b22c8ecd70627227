"""The engine benchmark's synthetic pipeline.

SYNTHETIC has the shape of the lead pipeline (two fan-outs, one fan-in, an auto-approved gate):

    classify -> {enrich, score_form} -> score_final -> {crm, draft} -> gate -> send

Each step sleeps `options["step_seconds"]` (the gate returns at once) and records that its body
ran, so duplicate executions can be counted: a line appended to `options["executions_file"]`
(bench_engine), else a StepExecution row (the engine's tests). Workers register it by importing
this module (ENGINE_PIPELINE_MODULES=pipeline.dev.bench).
"""

from __future__ import annotations

import os
import time

from pipeline.dev.models import StepExecution
from pipeline.engine import Pipeline, Retry, Step, register, worker_id


def _record(context) -> None:
    """Note that this step's body is running: who, when.

    The benchmark's line goes to a file, outside the database it measures: a row of its own
    was one more INSERT and commit per step, about a tenth of the machine's CPU at zero-time
    steps. An O_APPEND write this short is atomic, so lines from many workers never mix.
    """
    path = context.options.get("executions_file")
    if not path:
        StepExecution.objects.create(step_run_id=context.step_run.pk, worker=worker_id())
        return
    line = f"{context.step_run.pk} {worker_id()} {time.time():.6f}\n".encode()
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, line)
    finally:
        os.close(descriptor)


def read_executions(path) -> list[tuple[int, str, float]]:
    """The lines _record() appended: (step_run_id, worker, unix time) each."""
    with open(path) as lines:
        return [
            (int(step_run_id), worker, float(at))
            for step_run_id, worker, at in (line.split() for line in lines if line.strip())
        ]


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
