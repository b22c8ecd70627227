"""The durable pipeline engine: all run state in the database, the broker only says "look now".

A step's life: pending -> queued (its needs are done) -> running (claimed by exactly one worker,
with a lease) -> succeeded | skipped | waiting | failed, or back to queued for a retry. The worker
that finishes a step marks the newly ready steps queued in the same transaction, runs one of
them itself (continuation) and enqueues the others on commit. A sweeper re-enqueues steps whose
lease expired (the worker died) or whose queue message was lost.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import signal
import socket
import threading
import time
import traceback as traceback_module
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections, router, transaction
from django.utils import timezone
from pydantic import BaseModel

from pipeline.agents.types import AgentResult
from pipeline.definitions import Pipeline, Step, StepResult, Wait, get_pipeline
from pipeline.models import Lead, PipelineRun, StepRun, Submission, WorkerHeartbeat

logger = logging.getLogger(__name__)

Status = StepRun.Status
RunStatus = PipelineRun.Status

# Retries due within this many seconds are waited for by the worker itself; later ones are
# left to the sweeper, so a worker never idles long on a backoff.
INLINE_BACKOFF_MAX_SECONDS = 5.0
LEAD_PIPELINE = "lead"


class StepTimeout(Exception):
    """The step ran past its timeout."""


class EngineError(Exception):
    """A request the engine refuses (e.g. rerun while steps are running)."""


@dataclass(frozen=True)
class Outcome:
    """The answer of resume/reject/retry/rerun_from: did it change anything, and why not."""

    changed: bool
    message: str


@dataclass
class StepContext:
    """What a step function sees: the run, its lead, and the outputs of the steps it needs."""

    run: PipelineRun
    step_run: StepRun
    lead: Lead
    submission: Submission | None
    outputs: dict[str, Any]  # need name -> stored JSON output (None when skipped)
    skipped: dict[str, str]  # need name -> skip reason
    attempt: int
    previous_output: Any = None  # a side-effect step's output from before a rerun

    @property
    def options(self) -> dict:
        return self.run.options or {}

    def heartbeat(self) -> None:
        """Extend this step's lease; long steps call it between slow operations."""
        extend_lease(self.step_run.pk, self.step_run.worker_id)


# --- Identity and queue -----------------------------------------------------------------------


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def enqueue(step_run_id: int) -> None:
    """Hand a step to the broker. The one place that knows about the queue."""
    from django_q.tasks import async_task

    async_task(
        "pipeline.engine.execute", step_run_id, task_name=f"step-{step_run_id}", broker=_broker()
    )


_brokers: dict[tuple, Any] = {}
_brokers_lock = threading.Lock()


def _broker():
    """One django-q2 broker per process and queue.

    async_task() builds a new broker for each task unless given one; for Redis that is a new
    connection pool, so a TCP connect and handshake per enqueue (about 1.3 ms against 0.08 ms
    with a reused client). Brokers are thread-safe; keyed by pid so a forked worker makes its own.
    """
    from django_q.brokers import get_broker
    from django_q.conf import Conf

    key = (os.getpid(), Conf.CLUSTER_NAME, Conf.ORM, str(Conf.REDIS))
    broker = _brokers.get(key)
    if broker is None:
        with _brokers_lock:
            broker = _brokers.get(key) or get_broker()
            _brokers[key] = broker
    return broker


Dispatch = Callable[[int], None]


# --- Start ------------------------------------------------------------------------------------


def start(
    lead: Lead,
    submission: Submission | None = None,
    *,
    pipeline: str = LEAD_PIPELINE,
    options: dict | None = None,
    dispatch: Dispatch | None = None,
) -> PipelineRun:
    """Create a run with one StepRun per step and enqueue the steps that need nothing."""
    definition = get_pipeline(pipeline)
    dispatch = dispatch or enqueue
    now = timezone.now()
    with transaction.atomic():
        run = PipelineRun.objects.create(
            lead=lead,
            submission=submission,
            pipeline_name=pipeline,
            pipeline_version=definition.version,
            status=RunStatus.RUNNING,
            started_at=now,
            options=options or {},
        )
        roots = {step.name for step in definition.steps if not step.needs}
        step_runs = StepRun.objects.bulk_create(
            [
                StepRun(
                    run=run,
                    name=step.name,
                    status=Status.QUEUED if step.name in roots else Status.PENDING,
                    ready_at=now if step.name in roots else None,
                    queued_at=now if step.name in roots else None,
                )
                for step in definition.steps
            ]
        )
        # bulk_create sets primary keys on PostgreSQL and SQLite; fetch them if not.
        if any(step_run.pk is None for step_run in step_runs):
            step_runs = list(run.steps.all())
        ready_ids = [step_run.pk for step_run in step_runs if step_run.name in roots]
        transaction.on_commit(lambda: [dispatch(step_run_id) for step_run_id in ready_ids])
    _log("run.started", run_id=run.pk, pipeline=pipeline, version=definition.version)
    return run


# --- Execute ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claimed:
    """A successor this worker claimed in the transaction that recorded its last need."""

    step_run_id: int
    run_id: int
    name: str
    needs: tuple[str, ...]


# What a worker does next: claim a queued step by id, run a step it already claimed, or stop.
Next = int | _Claimed | None


def execute(step_run_id: int, *, dispatch: Dispatch | None = None) -> None:
    """Run a step (the django-q2 task), then continue with one newly ready successor."""
    dispatch = dispatch or enqueue
    me = worker_id()
    next_step: Next = step_run_id
    while next_step is not None:
        if isinstance(next_step, _Claimed):
            loaded = _load_claimed(next_step, me)
        else:
            loaded = _claim(next_step, me)
        if loaded is None:
            break
        next_step = _execute_one(*loaded, me, dispatch)
    _beat(me)


def _execute_one(
    step_run: StepRun, need_rows: list[dict] | None, me: str, dispatch: Dispatch
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
        with _Heartbeat(step_run.pk, me), _deadline(step.timeout_seconds, step.name):
            result = step.run(context)
    except Exception as error:
        return _fail_attempt(definition, step, step_run, me, dispatch, error, started)
    duration_ms = int((time.monotonic() - started) * 1000)
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


def _claim(step_run_id: int, me: str) -> tuple[StepRun, None] | None:
    """Take the step if it is queued and due: exactly one caller wins the conditional UPDATE."""
    now = timezone.now()
    claimed = _update_step(
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
    )
    if not claimed:
        _log("step.claim_skipped", step_run_id=step_run_id)
        return None
    step_run = StepRun.objects.select_related("run", "run__lead", "run__submission").get(
        pk=step_run_id
    )
    _log("step.claimed", run_id=step_run.run_id, step=step_run.name, attempt=step_run.attempt)
    return step_run, None


def _load_claimed(claimed: _Claimed, me: str) -> tuple[StepRun, list[dict]] | None:
    """The step this worker claimed, and the steps it needs, in one query."""
    rows = StepRun.objects.select_related("run", "run__lead", "run__submission").filter(
        run_id=claimed.run_id, name__in=(claimed.name, *claimed.needs)
    )
    step_run = None
    need_rows = []
    for row in rows:
        if row.pk == claimed.step_run_id:
            step_run = row
        else:
            need_rows.append(
                {
                    "name": row.name,
                    "status": row.status,
                    "output": row.output,
                    "skip_reason": row.skip_reason,
                }
            )
    if step_run is None or step_run.status != Status.RUNNING or step_run.worker_id != me:
        _log("step.claim_lost", step_run_id=claimed.step_run_id, level=logging.WARNING)
        return None
    _log("step.claimed", run_id=step_run.run_id, step=step_run.name, attempt=step_run.attempt)
    return step_run, need_rows


def _context(
    run: PipelineRun, step_run: StepRun, step: Step, need_rows: list[dict] | None = None
) -> StepContext:
    if need_rows is None:
        need_rows = list(
            StepRun.objects.filter(run=run, name__in=step.needs).values(
                "name", "status", "output", "skip_reason"
            )
        )
    needs = {row["name"]: row for row in need_rows}
    outputs = {name: row["output"] for name, row in needs.items()}
    skipped = {
        name: row["skip_reason"] for name, row in needs.items() if row["status"] == Status.SKIPPED
    }
    return StepContext(
        run=run,
        step_run=step_run,
        lead=run.lead,
        submission=run.submission,
        outputs=outputs,
        skipped=skipped,
        attempt=step_run.attempt,
        previous_output=step_run.output if step.side_effect else None,
    )


def _as_result(value: Any) -> StepResult:
    if isinstance(value, StepResult):
        return value
    if isinstance(value, AgentResult):
        return StepResult.from_agent(value)
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
    dispatch: Dispatch,
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
    (it continues with it); the others are queued and handed to the broker on commit.
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
        fields["output"] = {"waiting_for": wait.reason, **dict(wait.data)}
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
        run = _lock_run(step_run.run)
        # Read the clock again under the lock: a need that finished in parallel committed
        # before we got it, so successors are never ready (or the run over) before it finished.
        locked_at = timezone.now()
        steps = _finish_step(run, step_run, fields, me)
        if steps is None:
            # The sweeper gave the step to another worker after our lease ran out.
            _log("step.result_discarded", run_id=run.pk, step=step_run.name, level=logging.WARNING)
            return None
        if result is not None and result.fallback_reason and not run.is_degraded:
            run.is_degraded = True
            run.save(update_fields=["is_degraded"])
        if status in (Status.SUCCEEDED, Status.SKIPPED):
            ready = _ready_successors(
                definition, run, step_run.name, locked_at, steps=steps, claim_for=me
            )
        _update_run_status(run, locked_at, steps=steps)
    _log(
        f"step.{status}",
        run_id=step_run.run_id,
        step=step_run.name,
        attempt=step_run.attempt,
        duration_ms=duration_ms,
    )
    if not ready:
        return None
    # Continue with the claimed successor here; hand the other branches to the queue.
    for step_run_id in ready[1:]:
        transaction.on_commit(lambda step_run_id=step_run_id: dispatch(step_run_id))
    claimed_id = ready[0]
    name = next(name for name, (_, pk) in steps.items() if pk == claimed_id)
    return _Claimed(claimed_id, step_run.run_id, name, definition.step(name).needs)


# Step name -> [status, pk] of every step of a run, read once under the run's lock and kept up
# to date by the writes made under it.
StepStates = dict[str, list]


def _step_states(run: PipelineRun) -> StepStates:
    connection = _connection()
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            # Identifiers come from the model's meta; every value is a parameter.
            f"SELECT {qn('name')}, {qn('status')}, {qn('id')} FROM {qn(StepRun._meta.db_table)}"  # noqa: S608
            f" WHERE {qn('run_id')} = %s",
            [run.pk],
        )
        return {name: [status, pk] for name, status, pk in cursor.fetchall()}


# The hot path of a hop (claim, finish, read the run's step states, claim a successor) is plain
# parametrised SQL: Django's query building cost about as much CPU as the statements themselves.
# Values still go through each field's get_db_prep_save, so they are stored exactly as the ORM
# would store them.


def _connection():
    return connections[router.db_for_write(StepRun)]


def _update_step(step_run_id: int, fields: dict[str, Any], **where: Any) -> int:
    """UPDATE one StepRun if it is still in `status` (and held by `worker_id` at `attempt`).

    Returns the row count: 0 means someone else moved the step first.
    """
    connection = _connection()
    sql, params = _update_step_sql(connection, step_run_id, fields, **where)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _update_step_sql(
    connection,
    step_run_id: int,
    fields: dict[str, Any],
    *,
    status: str,
    worker_id: str | None = None,
    attempt: int | None = None,
    due_at=None,
    add_attempt: bool = False,
) -> tuple[str, list[Any]]:
    qn = connection.ops.quote_name
    meta = StepRun._meta
    assignments = []
    params: list[Any] = []
    for name, value in fields.items():
        field = meta.get_field(name)
        assignments.append(f"{qn(field.column)} = %s")
        params.append(field.get_db_prep_save(value, connection))
    if add_attempt:
        assignments.append(f"{qn('attempt')} = {qn('attempt')} + 1")
    conditions = [f"{qn('id')} = %s", f"{qn('status')} = %s"]
    params += [step_run_id, status]
    if worker_id is not None:
        conditions.append(f"{qn('worker_id')} = %s")
        params.append(worker_id)
    if attempt is not None:
        conditions.append(f"{qn('attempt')} = %s")
        params.append(attempt)
    if due_at is not None:
        conditions.append(f"({qn('not_before')} IS NULL OR {qn('not_before')} <= %s)")
        params.append(meta.get_field("not_before").get_db_prep_save(due_at, connection))
    # Identifiers come from the model's meta; every value is a parameter.
    sql = (
        f"UPDATE {qn(meta.db_table)} SET {', '.join(assignments)}"  # noqa: S608
        f" WHERE {' AND '.join(conditions)}"
    )
    return sql, params


def _finish_step(
    run: PipelineRun, step_run: StepRun, fields: dict[str, Any], me: str
) -> StepStates | None:
    """Store a running step's outcome, then read the run's step states (under the run's lock).

    Returns None when the step is no longer this worker's attempt (nothing was written).
    """
    connection = _connection()
    update_sql, params = _update_step_sql(
        connection,
        step_run.pk,
        fields,
        status=Status.RUNNING,
        worker_id=me,
        attempt=step_run.attempt,
    )
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(update_sql, params)
            if not cursor.rowcount:
                return None
        return _step_states(run)
    # One round trip on PostgreSQL. The SELECT shares the statement's snapshot, taken after the
    # run lock was granted (so every step finished under that lock is seen) but before the
    # UPDATE in its WITH: it reports this step's old status, replaced below. Should the UPDATE
    # wait for this step's row (a heartbeat), the snapshot predates the wait; steps only become
    # done under the run lock we hold, so readiness and the run's end are still exact.
    qn = connection.ops.quote_name
    table = qn(StepRun._meta.db_table)
    sql = (
        f"WITH finished AS ({update_sql} RETURNING {qn('id')}) "  # noqa: S608
        f"SELECT {qn('name')}, {qn('status')}, {qn('id')}, (SELECT COUNT(*) FROM finished)"
        f" FROM {table} WHERE {qn('run_id')} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, run.pk])
        rows = cursor.fetchall()
    if not rows or not rows[0][3]:
        return None
    steps = {name: [status, pk] for name, status, pk, _ in rows}
    steps[step_run.name][0] = fields["status"]
    return steps


def _lock_run(run: PipelineRun) -> PipelineRun:
    """Lock the run's row (SELECT ... FOR UPDATE; SQLite's IMMEDIATE transaction already holds
    the write lock) and refresh the fields the engine decides on: status and is_degraded.

    Must be called inside transaction.atomic(). Step states are read by a separate statement
    after this one: on PostgreSQL a statement's snapshot is taken before it waits for a lock.
    """
    connection = _connection()
    qn = connection.ops.quote_name
    sql = (
        f"SELECT {qn('status')}, {qn('is_degraded')} FROM {qn(PipelineRun._meta.db_table)}"  # noqa: S608
        f" WHERE {qn('id')} = %s"
    )
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(sql, [run.pk])
        row = cursor.fetchone()
    if row is None:
        raise PipelineRun.DoesNotExist(f"run {run.pk} no longer exists")
    run.status, run.is_degraded = row[0], bool(row[1])
    return run


def _ready_successors(
    definition: Pipeline,
    run: PipelineRun,
    name: str,
    now,
    *,
    steps: StepStates | None = None,
    claim_for: str | None = None,
) -> list[int]:
    """Queue the successors of `name` whose needs are all done; return their ids.

    Called with the run row locked: only holders of that lock move a step out of pending, so
    the states read under it stay true until commit. With `claim_for`, the first ready
    successor is claimed for that worker instead of queued.
    """
    candidates = definition.dependents[name]
    if not candidates:
        return []
    if steps is None:
        steps = _step_states(run)
    ready_names = [
        candidate
        for candidate in candidates
        if steps[candidate][0] == Status.PENDING
        and all(steps[need][0] in StepRun.DONE for need in definition.step(candidate).needs)
    ]
    # The worker continues with the first: the one with the longest way to the end, so the
    # critical path does not wait on the broker.
    ready_names.sort(key=lambda candidate: -definition.remaining[candidate])
    ready = [steps[candidate][1] for candidate in ready_names]
    if not ready:
        return []
    queued = ready[1:] if claim_for else ready
    if queued:
        StepRun.objects.filter(pk__in=queued, status=Status.PENDING).update(
            status=Status.QUEUED, ready_at=now, queued_at=now, not_before=None
        )
    if claim_for:
        _update_step(
            ready[0],
            {
                "status": Status.RUNNING,
                "ready_at": now,
                "queued_at": now,
                "not_before": None,
                "started_at": now,
                "finished_at": None,
                "worker_id": claim_for,
                "lease_expires_at": now + timedelta(seconds=settings.ENGINE_LEASE_SECONDS),
            },
            status=Status.PENDING,
            add_attempt=True,
        )
    for state in steps.values():
        if state[1] in ready:
            state[0] = Status.RUNNING if claim_for and state[1] == ready[0] else Status.QUEUED
    return ready


def _update_run_status(run: PipelineRun, now, *, steps: StepStates | None = None) -> None:
    """Derive the run's status from its steps (called with the run row locked)."""
    if run.status in (RunStatus.CANCELLED, RunStatus.REJECTED):
        return
    if steps is None:
        statuses = list(StepRun.objects.filter(run=run).values_list("status", flat=True))
    else:
        statuses = [status for status, _ in steps.values()]
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    active = counts.get(Status.QUEUED, 0) + counts.get(Status.RUNNING, 0)
    if counts.get(Status.FAILED):
        new_status = RunStatus.FAILED if not active else RunStatus.RUNNING
    elif active:
        new_status = RunStatus.RUNNING
    elif counts.get(Status.WAITING):
        new_status = RunStatus.WAITING
    elif counts.get(Status.PENDING):
        new_status = RunStatus.RUNNING  # only while a transition is in flight
    else:
        new_status = RunStatus.SUCCEEDED
    if new_status == run.status:
        return
    run.status = new_status
    run.finished_at = now if new_status in PipelineRun.FINISHED else None
    run.save(update_fields=["status", "finished_at"])
    _log(f"run.{new_status}", run_id=run.pk)


def _fail_attempt(
    definition: Pipeline,
    step: Step,
    step_run: StepRun,
    me: str,
    dispatch: Dispatch,
    error: Exception,
    started: float,
) -> int | None:
    duration_ms = int((time.monotonic() - started) * 1000)
    message = f"{type(error).__name__}: {error}"[:2000]
    trace = traceback_module.format_exc()[-8000:]
    if step.retry.should_retry(error, step_run.attempt):
        delay = step.retry.delay(step_run.attempt)
        not_before = timezone.now() + timedelta(seconds=delay)
        # Due soon: this worker takes it again after the backoff. Later: the sweeper does.
        is_inline = delay <= INLINE_BACKOFF_MAX_SECONDS
        updated = StepRun.objects.filter(
            pk=step_run.pk, status=Status.RUNNING, worker_id=me, attempt=step_run.attempt
        ).update(
            status=Status.QUEUED,
            not_before=not_before,
            queued_at=timezone.now() if is_inline else None,
            lease_expires_at=None,
            duration_ms=duration_ms,
            error=message,
            traceback=trace,
        )
        _log(
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
    now = timezone.now()
    with transaction.atomic():
        run = PipelineRun.objects.select_for_update().get(pk=step_run.run_id)
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
        if updated:
            run.error = f"{step.name} failed after {step_run.attempt} attempt(s): {message}"[:2000]
            run.save(update_fields=["error"])
            _update_run_status(run, now)
    _log(
        "step.failed",
        run_id=step_run.run_id,
        step=step.name,
        attempt=step_run.attempt,
        error=type(error).__name__,
        level=logging.WARNING,
    )
    return None


# --- Leases, heartbeats, timeouts -------------------------------------------------------------


def extend_lease(step_run_id: int, me: str) -> bool:
    lease = timezone.now() + timedelta(seconds=settings.ENGINE_LEASE_SECONDS)
    return bool(
        StepRun.objects.filter(pk=step_run_id, status=Status.RUNNING, worker_id=me).update(
            lease_expires_at=lease
        )
    )


class _Heartbeat:
    """Extends the lease every third of its length while a step runs."""

    def __init__(self, step_run_id: int, me: str) -> None:
        self.step_run_id = step_run_id
        self.me = me
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def _beat(self) -> None:
        interval = settings.ENGINE_LEASE_SECONDS / 3
        try:
            while not self.stop.wait(interval):
                try:
                    extend_lease(self.step_run_id, self.me)
                except Exception as error:  # a busy database: try again next beat
                    _log(
                        "step.heartbeat_failed",
                        step_run_id=self.step_run_id,
                        error=type(error).__name__,
                        level=logging.WARNING,
                    )
        finally:
            connections.close_all()

    def __enter__(self) -> _Heartbeat:
        self.thread = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()


class _deadline:
    """Raise StepTimeout in the step after `seconds`, where the process allows it.

    SIGALRM works on the main thread of a process (a django-q2 worker). Elsewhere (inline mode
    threads) the step relies on its own I/O timeouts, and django-q2's task timeout is the backstop.
    """

    def __init__(self, seconds: float, name: str) -> None:
        self.seconds = seconds
        self.name = name
        self.active = threading.current_thread() is threading.main_thread() and hasattr(
            signal, "setitimer"
        )

    def _expire(self, signum, frame):
        raise StepTimeout(f"step {self.name!r} ran past its {self.seconds:g} s timeout")

    def __enter__(self) -> None:
        if self.active:
            self.previous = signal.signal(signal.SIGALRM, self._expire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc_info) -> None:
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)


_last_beat = {"at": 0.0}
BEAT_EVERY_SECONDS = 10.0


def _beat(me: str, *, force: bool = False) -> None:
    """Record that this worker process is alive (read by /healthz), at most every 10 s."""
    if not force and time.monotonic() - _last_beat["at"] < BEAT_EVERY_SECONDS:
        return
    _last_beat["at"] = time.monotonic()
    worker = me.rsplit(":", 1)[0]
    WorkerHeartbeat.objects.update_or_create(worker=worker, defaults={"seen_at": timezone.now()})


# --- The human gate ---------------------------------------------------------------------------


def resume(step_run: StepRun, output: Any = None, *, dispatch: Dispatch | None = None) -> Outcome:
    """Complete a waiting step with `output` and continue the run. A second call is a no-op."""
    dispatch = dispatch or enqueue
    definition = get_pipeline(step_run.run.pipeline_name)
    now = timezone.now()
    with transaction.atomic():
        run = PipelineRun.objects.select_for_update().get(pk=step_run.run_id)
        updated = StepRun.objects.filter(pk=step_run.pk, status=Status.WAITING).update(
            status=Status.SUCCEEDED, output=to_json(output), finished_at=now
        )
        if not updated:
            current = StepRun.objects.get(pk=step_run.pk).status
            return Outcome(False, f"{step_run.name} is {current}, not waiting: nothing to resume")
        steps = _step_states(run)
        ready = _ready_successors(definition, run, step_run.name, now, steps=steps)
        _update_run_status(run, now, steps=steps)
        transaction.on_commit(lambda: [dispatch(step_run_id) for step_run_id in ready])
    _log("step.resumed", run_id=run.pk, step=step_run.name)
    return Outcome(True, f"{step_run.name} resumed")


def reject(step_run: StepRun, reason: str) -> Outcome:
    """End a waiting run as rejected. A second call is a no-op."""
    now = timezone.now()
    with transaction.atomic():
        run = PipelineRun.objects.select_for_update().get(pk=step_run.run_id)
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
    _log("run.rejected", run_id=run.pk, step=step_run.name)
    return Outcome(True, "run rejected")


# --- Retry and rerun --------------------------------------------------------------------------


def retry(run: PipelineRun, *, dispatch: Dispatch | None = None) -> Outcome:
    """Re-run the failed step(s) of a failed run with fresh attempts, then continue."""
    dispatch = dispatch or enqueue
    now = timezone.now()
    with transaction.atomic():
        locked = PipelineRun.objects.select_for_update().get(pk=run.pk)
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
    _log("run.retried", run_id=run.pk, steps=len(failed))
    return Outcome(True, f"retrying {len(failed)} step(s)")


def rerun_from(run: PipelineRun, step_name: str, *, dispatch: Dispatch | None = None) -> Outcome:
    """Reset `step_name` and everything downstream of it, then run them again.

    Side-effect steps keep their earlier output, which their function sees as
    `context.previous_output`, so they do not repeat their effect.
    """
    dispatch = dispatch or enqueue
    definition = get_pipeline(run.pipeline_name)
    if step_name not in definition.by_name:
        raise EngineError(f"pipeline {run.pipeline_name!r} has no step {step_name!r}")
    names = definition.downstream(step_name)
    now = timezone.now()
    with transaction.atomic():
        locked = PipelineRun.objects.select_for_update().get(pk=run.pk)
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
    _log("run.rerun", run_id=run.pk, step=step_name, steps=len(names))
    return Outcome(True, f"re-running {', '.join(names)}")


# --- Recovery ---------------------------------------------------------------------------------


def sweep(*, dispatch: Dispatch | None = None) -> dict[str, int]:
    """Recover steps whose worker died or whose queue message was lost. Scheduled by django-q2."""
    dispatch = dispatch or enqueue
    now = timezone.now()
    counts = {"expired": 0, "failed": 0, "lost": 0, "due": 0}
    expired = StepRun.objects.filter(status=Status.RUNNING, lease_expires_at__lt=now)
    for step_run in expired.select_related("run"):
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
    lost = StepRun.objects.filter(status=Status.QUEUED, queued_at__lt=stale)
    due = StepRun.objects.filter(status=Status.QUEUED, queued_at__isnull=True, not_before__lte=now)
    for key, queryset in (("lost", lost), ("due", due)):
        for step_run_id in list(queryset.values_list("pk", flat=True)[:1000]):
            if StepRun.objects.filter(pk=step_run_id, status=Status.QUEUED).update(queued_at=now):
                counts[key] += 1
                dispatch(step_run_id)
    _beat(worker_id(), force=True)
    _reschedule_sweep()
    if any(counts.values()):
        _log("sweep", **counts)
    return counts


def _fail_expired(step_run: StepRun, now, attempts: int) -> None:
    with transaction.atomic():
        run = PipelineRun.objects.select_for_update().get(pk=step_run.run_id)
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
            _update_run_status(run, now)


SWEEP_SCHEDULE_NAME = "pipeline.sweep"


def ensure_sweep_schedule() -> None:
    """Create the django-q2 schedule that runs sweep() (idempotent)."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=SWEEP_SCHEDULE_NAME,
        defaults={
            "func": "pipeline.engine.sweep",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )


def _reschedule_sweep() -> None:
    # django-q2 schedules count in whole minutes; pull the next run in to our interval.
    # Its scheduler looks every ~30 s, which bounds how often this can fire.
    from django_q.models import Schedule

    next_run = timezone.now() + timedelta(seconds=settings.ENGINE_SWEEP_SECONDS)
    Schedule.objects.filter(name=SWEEP_SCHEDULE_NAME, next_run__gt=next_run).update(
        next_run=next_run
    )


# --- Inline mode ------------------------------------------------------------------------------


def run_inline(
    lead: Lead,
    submission: Submission | None = None,
    *,
    pipeline: str = LEAD_PIPELINE,
    options: dict | None = None,
    max_threads: int = 4,
) -> PipelineRun:
    """Run the whole pipeline in this process: same claiming and storing, threads for branches.

    Returns when the run has nothing left to do here (finished, failed or waiting).
    """
    executor = _InlineExecutor(max_threads)
    run = start(lead, submission, pipeline=pipeline, options=options, dispatch=executor.submit)
    executor.drain()
    run.refresh_from_db()
    return run


def continue_inline(action: Callable[[Dispatch], Any], *, max_threads: int = 4) -> Any:
    """Call resume/retry/rerun_from with a dispatch that runs the steps in this process."""
    executor = _InlineExecutor(max_threads)
    result = action(executor.submit)
    executor.drain()
    return result


class _InlineExecutor:
    def __init__(self, max_threads: int) -> None:
        self.pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="inline-step")
        self.lock = threading.Lock()
        self.futures: set[Future] = set()
        self.errors: list[BaseException] = []

    def submit(self, step_run_id: int) -> None:
        future = self.pool.submit(self._run, step_run_id)
        with self.lock:
            self.futures.add(future)

    def _run(self, step_run_id: int) -> None:
        try:
            execute(step_run_id, dispatch=self.submit)
        finally:
            close_old_connections()
            connections.close_all()

    def drain(self) -> None:
        try:
            while True:
                with self.lock:
                    pending = set(self.futures)
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                with self.lock:
                    self.futures -= done
                for future in done:
                    if future.exception() is not None:
                        self.errors.append(future.exception())
        finally:
            self.pool.shutdown(wait=True)
        if self.errors:
            raise self.errors[0]


# --- Queries the UI and commands share ---------------------------------------------------------


def step_outputs(run: PipelineRun, names: Iterable[str] | None = None) -> dict[str, Any]:
    queryset = StepRun.objects.filter(run=run)
    if names is not None:
        queryset = queryset.filter(name__in=list(names))
    return dict(queryset.values_list("name", "output"))


def _log(event: str, *, level: int = logging.INFO, **fields: Any) -> None:
    if not logger.isEnabledFor(level):
        return
    details = " ".join(f"{key}={value}" for key, value in fields.items() if value is not None)
    logger.log(level, "%s %s", event, details)
