"""One hop: claim a step, run it, record its outcome, continue with a ready successor."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
import traceback as traceback_module
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from pydantic import BaseModel

from leadops import logs
from pipeline import metrics
from pipeline.engine import events, leases, queue, signals, store
from pipeline.engine.definitions import (
    Pipeline,
    Step,
    StepContext,
    StepResult,
    Wait,
)
from pipeline.engine.registry import get_pipeline, related_rows
from pipeline.models.runs import PipelineRun, StepRun

Status = StepRun.Status
RunStatus = PipelineRun.Status

# Retries due within this many seconds are waited for by the worker itself; later ones are
# left to the sweeper, so a worker never idles long on a backoff.
INLINE_BACKOFF_MAX_SECONDS = 5.0


def fault_point(name: str) -> None:
    """Die here, once, when ENGINE_CRASH_AT names this point: the crash tests' hook.

    A step calls it between a side effect's commit and its own finish; the first process to get
    there creates the marker file and exits without cleanup, as a SIGKILL would leave it.
    """
    point, _, marker = settings.ENGINE_CRASH_AT.partition(":")
    if point != name or not marker:
        return
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    events.log("fault.crash", point=name, pid=os.getpid(), level=logging.WARNING)
    os._exit(137)


@dataclass(frozen=True)
class _Claimed:
    """A successor this worker claimed in the transaction that recorded its last need."""

    step_run_id: int


class _ReceiversFailed(Exception):
    """Rolls back what the receivers of step_finished_in_stopped_run wrote (see _tell_stopped)."""

    def __init__(self, failed: list) -> None:
        super().__init__(f"{len(failed)} receiver(s) failed")
        self.failed = failed


# What a worker does next: claim a queued step by id, run a step it already claimed, or stop.
Next = int | _Claimed | None


def execute(step_run_id: int, *, dispatch: queue.Dispatch | None = None) -> None:
    """Run a step (the django-q2 task), then continue with one newly ready successor; the other
    ones go to the front of the broker's line."""
    dispatch = dispatch or queue.enqueue_next
    me = queue.worker_id()
    next_step: Next = step_run_id
    while next_step is not None:
        if isinstance(next_step, _Claimed):
            loaded = _load(next_step.step_run_id, me)
        else:
            loaded = _claim(next_step, me)
        if loaded is None:
            break
        claimed = loaded[0]
        with logs.bind(run_id=claimed.run_id, step_run_id=claimed.pk, step=claimed.name):
            next_step = _execute_one(*loaded, me, dispatch)
    leases.beat(me)


def _execute_one(
    step_run: StepRun, need_rows: list[dict], me: str, dispatch: queue.Dispatch
) -> Next:
    run = step_run.run
    definition = get_pipeline(run.pipeline_name)
    step = definition.step(step_run.name)
    context = _context(run, step_run, step, need_rows)
    digest = _digest(context.outputs)

    skip_reason = step.when(context) if step.when else None
    if skip_reason:
        return _finish(
            definition,
            step_run,
            me,
            dispatch,
            status=Status.SKIPPED,
            skip=skip_reason,
            digest=digest,
        )

    started = time.monotonic()
    try:
        with leases.Heartbeat(step_run.pk, me), leases.deadline(step.timeout_seconds, step.name):
            result = step.run(context)
    except Exception as error:
        return _fail_attempt(definition, step, step_run, me, dispatch, error, started)
    duration_ms = int((time.monotonic() - started) * 1000)
    if isinstance(result, Wait) and result.until is not None and result.until <= timezone.now():
        # A timer already due: nothing to wait for.
        woke = {**timer_output(result), "woke_at": timezone.now().isoformat()}
        result = StepResult(output=woke)
    if isinstance(result, Wait):
        return _finish(
            definition,
            step_run,
            me,
            dispatch,
            status=Status.WAITING,
            wait=result,
            duration_ms=duration_ms,
            digest=digest,
        )
    return _finish(
        definition,
        step_run,
        me,
        dispatch,
        status=Status.SUCCEEDED,
        result=_as_result(result),
        duration_ms=duration_ms,
        digest=digest,
    )


def _claim(step_run_id: int, me: str) -> tuple[StepRun, list[dict]] | None:
    """Take the step if it is queued and due: exactly one caller wins the conditional UPDATE."""
    now = timezone.now()
    claimed = store.update_step(
        step_run_id,
        {
            "status": Status.RUNNING,
            "started_at": now,
            "finished_at": None,
            "worker_id": me,
            "lease_expires_at": now + timedelta(seconds=settings.ENGINE_LEASE_SECONDS),
        },
        status=Status.QUEUED,
        due_at=now,
        add_attempt=True,
        run_going=True,
    )
    if not claimed:
        events.log("step.claim_skipped", step_run_id=step_run_id)
        return None
    return _load(step_run_id, me)


def _load(step_run_id: int, me: str) -> tuple[StepRun, list[dict]] | None:
    """A step claimed by this worker, with its run, related rows and needs (one query)."""
    loaded = store.load_claimed(step_run_id, related_rows())
    step_run = loaded[0] if loaded else None
    if step_run is None or step_run.status != Status.RUNNING or step_run.worker_id != me:
        events.log("step.claim_lost", step_run_id=step_run_id, level=logging.WARNING)
        return None
    if step_run.run.status in PipelineRun.STOPPED:
        _drop(step_run, me)  # cancelled between our claim and this read
        return None
    steps = loaded[1]
    needs = get_pipeline(step_run.run.pipeline_name).step(step_run.name).needs
    events.log("step.claimed", run_id=step_run.run_id, step=step_run.name, attempt=step_run.attempt)
    return step_run, [steps[name] for name in needs if name in steps]


def _drop(step_run: StepRun, me: str) -> None:
    """Skip a step this worker claimed but has not started, because its run stopped."""
    now = timezone.now()
    store.update_step(
        step_run.pk,
        {
            "status": Status.SKIPPED,
            "skip_reason": f"run {step_run.run.status}",
            "finished_at": now,
            "lease_expires_at": None,
        },
        status=Status.RUNNING,
        worker_id=me,
        attempt=step_run.attempt,
    )
    events.log("step.dropped", run_id=step_run.run_id, step=step_run.name)


def _context(run: PipelineRun, step_run: StepRun, step: Step, need_rows: list[dict]) -> StepContext:
    needs = {row["name"]: row for row in need_rows}
    outputs = {name: row["output"] for name, row in needs.items()}
    skipped = {
        name: row["skip_reason"] for name, row in needs.items() if row["status"] == Status.SKIPPED
    }
    return StepContext(
        run=run,
        step_run=step_run,
        outputs=outputs,
        skipped=skipped,
        attempt=step_run.attempt,
        previous_output=step_run.output if step.side_effect else None,
    )


def timer_output(wait: Wait) -> dict[str, Any]:
    """What a waiting step stores: why it waits, its data, and when a timer wakes it."""
    output = {"waiting_for": wait.reason, **to_json(dict(wait.data))}
    if wait.until is not None:
        output["wake_at"] = wait.until.isoformat()
    return output


def _as_result(value: Any) -> StepResult:
    if isinstance(value, StepResult):
        return value
    return StepResult(output=value)


def to_json(value: Any) -> Any:
    """Step output as JSON-compatible data."""
    if value is None:
        return None
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json.loads(json.dumps(dataclasses.asdict(value), default=str))
    return json.loads(json.dumps(value, default=str))


def _digest(outputs: dict[str, Any]) -> str:
    encoded = json.dumps(outputs, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()


def _finish(
    definition: Pipeline,
    step_run: StepRun,
    me: str,
    dispatch: queue.Dispatch,
    *,
    status: str,
    result: StepResult | None = None,
    skip: str = "",
    wait: Wait | None = None,
    duration_ms: int | None = None,
    digest: str = "",
) -> Next:
    """Record the outcome and ready the successors, in one transaction under the run's lock.

    The first successor that became ready is claimed for this worker in the same transaction
    (it continues with it); the others are queued and handed to the broker on commit. A run
    stopped (cancelled) while the step ran gets the outcome and nothing more: no successor is
    readied, and a wait (a timer, a gate) is skipped instead, so it never fires.
    """
    now = timezone.now()
    fields: dict[str, Any] = {
        "status": status,
        "finished_at": None if status == Status.WAITING else now,
        "lease_expires_at": None,
        "duration_ms": duration_ms,
        "error": "",
        "traceback": "",
        "input_digest": digest,
    }
    if status == Status.SKIPPED:
        fields["skip_reason"] = skip[:300]
        fields["output"] = None
    if wait is not None:
        fields["wait_reason"] = wait.reason[:300]
        fields["output"] = timer_output(wait)
        fields["wake_at"] = wait.until
    if result is not None:
        fields.update(
            output=to_json(result.output),
            strategy=result.strategy,
            model=result.model,
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
            cache_read_tokens=result.cache_read_tokens,
            cache_write_tokens=result.cache_write_tokens,
            cost_usd=result.cost_usd,
            llm_latency_ms=result.llm_latency_ms,
            fallback_reason=result.fallback_reason[:500],
        )
    ready: list[int] = []
    with transaction.atomic():
        run = store.lock_run(step_run.run)
        # Read the clock again under the lock: a need that finished in parallel committed
        # before we got it, so successors are never ready (or the run over) before it finished.
        locked_at = timezone.now()
        is_stopped = run.status in PipelineRun.STOPPED
        if is_stopped and status == Status.WAITING:
            status = Status.SKIPPED
            fields.update(
                status=status,
                finished_at=locked_at,
                skip_reason=f"run {run.status}",
                wait_reason="",
                wake_at=None,
                output=None,
            )
        steps = store.finish_step(run, step_run, fields, me)
        if steps is None:
            # The sweeper gave the step to another worker after our lease ran out.
            events.log(
                "step.result_discarded", run_id=run.pk, step=step_run.name, level=logging.WARNING
            )
            return None
        if is_stopped:
            _tell_stopped(step_run)
        if result is not None and result.fallback_reason and not run.is_degraded:
            run.is_degraded = True
            run.save(update_fields=["is_degraded"])
        if status in (Status.SUCCEEDED, Status.SKIPPED) and not is_stopped:
            ready = store.ready_successors(
                definition, run, step_run.name, locked_at, steps=steps, claim_for=me
            )
        store.update_run_status(run, locked_at, steps=steps)
    events.log(
        f"step.{status}",
        run_id=step_run.run_id,
        step=step_run.name,
        attempt=step_run.attempt,
        duration_ms=duration_ms,
    )
    metrics.count_step(
        step_run.name, status, strategy=result.strategy if result else "", duration_ms=duration_ms
    )
    if not ready:
        return None
    # Continue with the claimed successor here; hand the other branches to the queue.
    for step_run_id in ready[1:]:
        transaction.on_commit(lambda step_run_id=step_run_id: dispatch(step_run_id))
    return _Claimed(ready[0])


def _fail_attempt(
    definition: Pipeline,
    step: Step,
    step_run: StepRun,
    me: str,
    dispatch: queue.Dispatch,
    error: Exception,
    started: float,
) -> int | None:
    duration_ms = int((time.monotonic() - started) * 1000)
    message = f"{type(error).__name__}: {error}"[:2000]
    trace = traceback_module.format_exc()[-8000:]
    if step.retry.should_retry(error, step_run.attempt):
        delay = step.retry.delay(step_run.attempt)
        # Due soon: this worker takes it again after the backoff. Later: the sweeper does.
        is_inline = delay <= INLINE_BACKOFF_MAX_SECONDS
        updated = store.on_fresh_connection(
            lambda: _schedule_retry(step_run, me, delay, is_inline, duration_ms, message, trace)
        )
        # None: the run was stopped (cancelled) while the step ran; its failure is final.
        if updated is not None:
            metrics.count_step(
                step.name, "retry", duration_ms=duration_ms, error=type(error).__name__
            )
            events.log(
                "step.retry_scheduled",
                run_id=step_run.run_id,
                step=step.name,
                attempt=step_run.attempt,
                delay_s=round(delay, 2),
                error=type(error).__name__,
            )
            if not updated or not is_inline:
                return None
            time.sleep(delay)
            return step_run.pk
    store.on_fresh_connection(
        lambda: _record_failure(step, step_run, me, duration_ms, message, trace)
    )
    metrics.count_step(step.name, "failed", duration_ms=duration_ms, error=type(error).__name__)
    events.log(
        "step.failed",
        run_id=step_run.run_id,
        step=step.name,
        attempt=step_run.attempt,
        error=type(error).__name__,
        level=logging.WARNING,
    )
    return None


def _schedule_retry(
    step_run: StepRun,
    me: str,
    delay: float,
    is_inline: bool,
    duration_ms: int,
    message: str,
    trace: str,
) -> int | None:
    """Queue the step's next attempt; the row count, or None if its run stopped (no retry).

    Under the run's lock, so a cancel either comes first (no retry: the failure is recorded)
    or after (it skips the queued retry).
    """
    now = timezone.now()
    with transaction.atomic():
        run = store.lock_run_by_id(step_run.run_id)
        if run.status in PipelineRun.STOPPED:
            return None
        return StepRun.objects.filter(
            pk=step_run.pk, status=Status.RUNNING, worker_id=me, attempt=step_run.attempt
        ).update(
            status=Status.QUEUED,
            not_before=now + timedelta(seconds=delay),
            queued_at=now if is_inline else None,
            lease_expires_at=None,
            duration_ms=duration_ms,
            error=message,
            traceback=trace,
        )


def _record_failure(
    step: Step, step_run: StepRun, me: str, duration_ms: int, message: str, trace: str
) -> None:
    now = timezone.now()
    with transaction.atomic():
        run = store.lock_run_by_id(step_run.run_id)
        updated = StepRun.objects.filter(
            pk=step_run.pk, status=Status.RUNNING, worker_id=me, attempt=step_run.attempt
        ).update(
            status=Status.FAILED,
            finished_at=now,
            lease_expires_at=None,
            duration_ms=duration_ms,
            error=message,
            traceback=trace,
        )
        if updated and run.status in PipelineRun.STOPPED:
            _tell_stopped(step_run)
        elif updated:
            run.error = f"{step.name} failed after {step_run.attempt} attempt(s): {message}"[:2000]
            run.save(update_fields=["error"])
            store.update_run_status(run, now)


def _tell_stopped(step_run: StepRun) -> None:
    """Send step_finished_in_stopped_run in the caller's transaction, under the run's lock.

    In a savepoint: when a receiver fails, what the receivers wrote is rolled back and the
    error logged, and the step's outcome is recorded all the same."""
    try:
        with transaction.atomic():
            answers = signals.step_finished_in_stopped_run.send_robust(
                sender=PipelineRun, run_id=step_run.run_id, step_run_id=step_run.pk
            )
            failed = [
                (receiver, answer) for receiver, answer in answers if isinstance(answer, Exception)
            ]
            if failed:
                raise _ReceiversFailed(failed)
    except _ReceiversFailed as error:
        for receiver, answer in error.failed:
            events.log(
                "step.stopped_receiver_failed",
                run_id=step_run.run_id,
                step=step_run.name,
                receiver=getattr(receiver, "__qualname__", repr(receiver)),
                error=type(answer).__name__,  # its text may quote the lead
                level=logging.ERROR,
            )
