"""Starting runs and the controls from outside: resume/reject a waiting step, retry, rerun."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from pipeline.engine import events, hop, queue, store
from pipeline.engine.registry import get_pipeline
from pipeline.models.runs import PipelineRun, StepRun

Status = StepRun.Status
RunStatus = PipelineRun.Status


class EngineError(Exception):
    """A request the engine refuses (e.g. rerun while steps are running)."""


@dataclass(frozen=True)
class Outcome:
    """The answer of resume/reject/retry/rerun_from: did it change anything, and why not."""

    changed: bool
    message: str


def start(
    pipeline: str,
    *,
    options: dict | None = None,
    dispatch: queue.Dispatch | None = None,
    **run_fields: Any,
) -> PipelineRun:
    """Create a run of the registered `pipeline` and enqueue the steps that need nothing.

    `run_fields` are the run's own columns the pipeline's app defines (the lead pipeline: lead
    and submission); the engine stores them and never looks inside.
    """
    definition = get_pipeline(pipeline)
    dispatch = dispatch or queue.enqueue
    now = timezone.now()
    with transaction.atomic():
        run = PipelineRun.objects.create(
            **run_fields,
            pipeline_name=pipeline,
            pipeline_version=definition.version,
            status=RunStatus.RUNNING,
            started_at=now,
            options=options or {},
        )
        roots = {step.name for step in definition.steps if not step.needs}
        ids = store.insert_steps(
            run,
            [
                (step.name, Status.QUEUED, now, now)
                if step.name in roots
                else (step.name, Status.PENDING, None, None)
                for step in definition.steps
            ],
        )
        ready_ids = [ids[step.name] for step in definition.steps if step.name in roots]
        transaction.on_commit(lambda: [dispatch(step_run_id) for step_run_id in ready_ids])
    events.log("run.started", run_id=run.pk, pipeline=pipeline, version=definition.version)
    return run


def resume(
    step_run: StepRun, output: Any = None, *, dispatch: queue.Dispatch | None = None
) -> Outcome:
    """Complete a waiting step with `output` and continue the run. A second call is a no-op."""
    dispatch = dispatch or queue.enqueue_next
    definition = get_pipeline(step_run.run.pipeline_name)
    now = timezone.now()
    with transaction.atomic():
        run = store.lock_run_by_id(step_run.run_id)
        updated = StepRun.objects.filter(pk=step_run.pk, status=Status.WAITING).update(
            status=Status.SUCCEEDED, output=hop.to_json(output), finished_at=now
        )
        if not updated:
            current = StepRun.objects.get(pk=step_run.pk).status
            return Outcome(False, f"{step_run.name} is {current}, not waiting: nothing to resume")
        steps = store.step_states(run)
        ready = store.ready_successors(definition, run, step_run.name, now, steps=steps)
        store.update_run_status(run, now, steps=steps)
        transaction.on_commit(lambda: [dispatch(step_run_id) for step_run_id in ready])
    events.log("step.resumed", run_id=run.pk, step=step_run.name)
    return Outcome(True, f"{step_run.name} resumed")


def reject(step_run: StepRun, reason: str) -> Outcome:
    """End a waiting run as rejected. A second call is a no-op."""
    now = timezone.now()
    with transaction.atomic():
        run = store.lock_run_by_id(step_run.run_id)
        updated = StepRun.objects.filter(pk=step_run.pk, status=Status.WAITING).update(
            status=Status.FAILED, error=f"rejected: {reason}"[:2000], finished_at=now
        )
        if not updated:
            current = StepRun.objects.get(pk=step_run.pk).status
            return Outcome(False, f"{step_run.name} is {current}, not waiting: nothing to reject")
        StepRun.objects.filter(run=run, status=Status.PENDING).update(
            status=Status.SKIPPED, skip_reason="run rejected", finished_at=now
        )
        run.status = RunStatus.REJECTED
        run.finished_at = now
        run.error = f"rejected: {reason}"[:2000]
        run.save(update_fields=["status", "finished_at", "error"])
    events.log("run.rejected", run_id=run.pk, step=step_run.name)
    return Outcome(True, "run rejected")


def retry(run: PipelineRun, *, dispatch: queue.Dispatch | None = None) -> Outcome:
    """Re-run the failed step(s) of a failed run with fresh attempts, then continue."""
    dispatch = dispatch or queue.enqueue_next
    now = timezone.now()
    with transaction.atomic():
        locked = store.lock_run_by_id(run.pk)
        if locked.status != RunStatus.FAILED:
            return Outcome(False, f"run {run.pk} is {locked.status}, not failed")
        failed = list(
            StepRun.objects.filter(run=locked, status=Status.FAILED).values_list("pk", flat=True)
        )
        StepRun.objects.filter(pk__in=failed).update(
            status=Status.QUEUED,
            attempt=0,
            not_before=None,
            ready_at=now,
            queued_at=now,
            finished_at=None,
            error="",
            traceback="",
        )
        locked.status = RunStatus.RUNNING
        locked.finished_at = None
        locked.error = ""
        locked.save(update_fields=["status", "finished_at", "error"])
        transaction.on_commit(lambda: [dispatch(step_run_id) for step_run_id in failed])
    events.log("run.retried", run_id=run.pk, steps=len(failed))
    return Outcome(True, f"retrying {len(failed)} step(s)")


def rerun_from(
    run: PipelineRun, step_name: str, *, dispatch: queue.Dispatch | None = None
) -> Outcome:
    """Reset `step_name` and everything downstream of it, then run them again.

    Side-effect steps keep their earlier output, which their function sees as
    `context.previous_output`, so they do not repeat their effect.
    """
    dispatch = dispatch or queue.enqueue_next
    definition = get_pipeline(run.pipeline_name)
    if step_name not in definition.by_name:
        raise EngineError(f"pipeline {run.pipeline_name!r} has no step {step_name!r}")
    names = definition.downstream(step_name)
    now = timezone.now()
    with transaction.atomic():
        locked = store.lock_run_by_id(run.pk)
        rows = {row.name: row for row in StepRun.objects.filter(run=locked)}
        busy = [name for name, row in rows.items() if row.status in (Status.RUNNING,)]
        if busy:
            return Outcome(False, f"steps still running: {', '.join(sorted(busy))}")
        needs_done = all(
            rows[need].status in StepRun.DONE for need in definition.step(step_name).needs
        )
        if not needs_done:
            return Outcome(False, f"{step_name} cannot run: its needs are not done")
        for name in names:
            row = rows[name]
            keep_output = definition.step(name).side_effect
            row.status = Status.QUEUED if name == step_name else Status.PENDING
            row.attempt = 0
            row.not_before = None
            row.ready_at = now if name == step_name else None
            row.queued_at = now if name == step_name else None
            row.started_at = None
            row.finished_at = None
            row.error = ""
            row.traceback = ""
            row.skip_reason = ""
            row.wait_reason = ""
            row.fallback_reason = ""
            if not keep_output:
                row.output = None
        StepRun.objects.bulk_update(
            [rows[name] for name in names],
            [
                "status",
                "attempt",
                "not_before",
                "ready_at",
                "queued_at",
                "started_at",
                "finished_at",
                "error",
                "traceback",
                "skip_reason",
                "wait_reason",
                "fallback_reason",
                "output",
            ],
        )
        locked.status = RunStatus.RUNNING
        locked.finished_at = None
        locked.error = ""
        locked.save(update_fields=["status", "finished_at", "error"])
        first = rows[step_name].pk
        transaction.on_commit(lambda: dispatch(first))
    events.log("run.rerun", run_id=run.pk, step=step_name, steps=len(names))
    return Outcome(True, f"re-running {', '.join(names)}")


def cancel(run: PipelineRun, reason: str) -> Outcome:
    """Stop a run for good, at once: its unfinished steps are skipped and it ends as cancelled.

    Queued steps, a retry waiting out its backoff, a waiting gate and a pending timer are
    skipped with the reason. A step running right now is left to finish into the cancelled
    run: its outcome is recorded, but it readies no successor, a wait it returns is skipped,
    and a failure is not retried (see hop._finish and hop._fail_attempt, which read the run's
    status under the same lock). Call it in the caller's transaction to stop the run together
    with the caller's own rows.
    """
    now = timezone.now()
    with transaction.atomic():
        locked = store.lock_run_by_id(run.pk)
        if locked.status in (RunStatus.SUCCEEDED, RunStatus.CANCELLED, RunStatus.REJECTED):
            return Outcome(False, f"run {run.pk} is {locked.status}")
        rows = StepRun.objects.filter(run=locked)
        busy = sorted(rows.filter(status=Status.RUNNING).values_list("name", flat=True))
        skipped = rows.filter(status__in=(Status.PENDING, Status.QUEUED, Status.WAITING)).update(
            status=Status.SKIPPED,
            skip_reason=f"run cancelled: {reason}"[:300],
            not_before=None,
            lease_expires_at=None,
            finished_at=now,
        )
        locked.status = RunStatus.CANCELLED
        locked.finished_at = now
        locked.save(update_fields=["status", "finished_at"])
    events.log("run.cancelled", run_id=run.pk, steps=skipped, running=len(busy))
    message = f"cancelled; {skipped} step(s) will not run"
    if busy:
        message += f"; {', '.join(busy)} still running, its result starts nothing"
    return Outcome(True, message)
