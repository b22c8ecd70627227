"""Recovery: steps whose worker died (expired lease) or whose queue message was lost, and
timers that are due."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from pipeline.engine import events, leases, queue, store
from pipeline.engine.registry import get_pipeline
from pipeline.models.runs import PipelineRun, StepRun

Status = StepRun.Status


def sweep(*, dispatch: queue.Dispatch | None = None) -> dict[str, int]:
    """Recover steps whose worker died or whose queue message was lost. Scheduled by django-q2."""
    dispatch = dispatch or queue.enqueue
    now = timezone.now()
    counts = {"expired": 0, "failed": 0, "stopped": 0, "lost": 0, "due": 0, "woken": 0}
    expired = StepRun.objects.filter(status=Status.RUNNING, lease_expires_at__lt=now)
    for step_run in expired.select_related("run"):
        if step_run.run.status in PipelineRun.STOPPED:
            # Its run was cancelled while it ran, then its worker died: nothing to re-run.
            counts["stopped"] += _end_in_stopped_run(step_run, now)
            continue
        definition = get_pipeline(step_run.run.pipeline_name)
        attempts = definition.step(step_run.name).retry.attempts
        if step_run.attempt >= attempts:
            _fail_expired(step_run, now, attempts)
            counts["failed"] += 1
            continue
        requeued = StepRun.objects.filter(
            pk=step_run.pk, status=Status.RUNNING, lease_expires_at__lt=now
        ).update(
            status=Status.QUEUED,
            queued_at=now,
            lease_expires_at=None,
            not_before=None,
            error=f"worker {step_run.worker_id} stopped answering (lease expired)",
        )
        if requeued:
            counts["expired"] += 1
            dispatch(step_run.pk)
    stale = now - timedelta(seconds=settings.ENGINE_QUEUED_STALE_SECONDS)
    going = StepRun.objects.exclude(run__status__in=PipelineRun.STOPPED)
    lost = going.filter(status=Status.QUEUED, queued_at__lt=stale)
    due = going.filter(status=Status.QUEUED, queued_at__isnull=True, not_before__lte=now)
    for key, queryset in (("lost", lost), ("due", due)):
        for step_run_id in list(queryset.values_list("pk", flat=True)[:1000]):
            if StepRun.objects.filter(pk=step_run_id, status=Status.QUEUED).update(queued_at=now):
                counts[key] += 1
                dispatch(step_run_id)
    counts["woken"] = wake_due_timers(now=now, dispatch=dispatch)
    leases.beat(queue.worker_id(), force=True)
    _reschedule_sweep()
    if any(counts.values()):
        events.log("sweep", **counts)
    return counts


def wake_due_timers(*, now=None, dispatch: queue.Dispatch | None = None) -> int:
    """Complete the waiting timer steps due by `now` and continue their runs; returns how many.

    Each is woken under its run's lock by a conditional UPDATE (still waiting, still due), so
    of several sweeps (clusters) racing for one timer exactly one wakes it, and a run cancelled
    before (its timer skipped) is never woken.
    """
    dispatch = dispatch or queue.enqueue
    now = now or timezone.now()
    due = StepRun.objects.filter(status=Status.WAITING, wake_at__lte=now).order_by("wake_at")
    woken = 0
    for step_run_id in list(due.values_list("pk", flat=True)[:1000]):
        if _wake(step_run_id, now, dispatch):
            woken += 1
    return woken


def _wake(step_run_id: int, now, dispatch: queue.Dispatch) -> bool:
    with transaction.atomic():
        step_run = StepRun.objects.select_related("run").filter(pk=step_run_id).first()
        if step_run is None:
            return False
        run = store.lock_run(step_run.run)
        current = StepRun.objects.filter(pk=step_run_id, status=Status.WAITING, wake_at__lte=now)
        output = current.values_list("output", flat=True).first()
        if output is None and not current.exists():
            return False
        updated = current.update(
            status=Status.SUCCEEDED,
            finished_at=now,
            output={**(output or {}), "woke_at": now.isoformat()},
        )
        if not updated:
            return False
        definition = get_pipeline(step_run.run.pipeline_name)
        steps = store.step_states(run)
        ready = store.ready_successors(definition, run, step_run.name, now, steps=steps)
        store.update_run_status(run, now, steps=steps)
        transaction.on_commit(lambda: [dispatch(ready_id) for ready_id in ready])
    events.log("step.woken", run_id=step_run.run_id, step=step_run.name)
    return True


def _end_in_stopped_run(step_run: StepRun, now) -> int:
    """Record a stopped run's step whose worker died as failed, under the run's lock; not re-run."""
    with transaction.atomic():
        run = store.lock_run_by_id(step_run.run_id)
        if run.status not in PipelineRun.STOPPED:
            return 0  # retried or re-run since we looked: the next sweep treats it as usual
        return StepRun.objects.filter(
            pk=step_run.pk, status=Status.RUNNING, lease_expires_at__lt=now
        ).update(
            status=Status.FAILED,
            finished_at=now,
            lease_expires_at=None,
            error=f"worker {step_run.worker_id} stopped answering after the run was "
            f"{run.status}; not re-run",
        )


def _fail_expired(step_run: StepRun, now, attempts: int) -> None:
    with transaction.atomic():
        run = store.lock_run_by_id(step_run.run_id)
        message = (
            f"{step_run.name} lost its worker on each of {attempts} attempt(s) "
            f"(last: {step_run.worker_id}); giving up"
        )
        updated = StepRun.objects.filter(
            pk=step_run.pk, status=Status.RUNNING, lease_expires_at__lt=now
        ).update(status=Status.FAILED, finished_at=now, lease_expires_at=None, error=message)
        if updated:
            run.error = message
            run.save(update_fields=["error"])
            store.update_run_status(run, now)


SWEEP_SCHEDULE_NAME = "pipeline.sweep"
# django-q2's scheduler looks for due schedules every 30 s (its guard loop), whatever a schedule
# says, so the sweep runs about every 30 s: a step whose worker died is re-run at most
# ENGINE_LEASE_SECONDS + about 30 s (+ one scheduler period of jitter) after its last heartbeat.
SWEEP_EVERY_SECONDS = 30


def _reschedule_sweep() -> None:
    # django-q2 schedules count in whole minutes; pull the next run in to the scheduler's own
    # period, the shortest interval it can keep.
    from django_q.models import Schedule

    next_run = timezone.now() + timedelta(seconds=SWEEP_EVERY_SECONDS)
    Schedule.objects.filter(name=SWEEP_SCHEDULE_NAME, next_run__gt=next_run).update(
        next_run=next_run
    )
