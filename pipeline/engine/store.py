"""Run state in the database: the hop's hand-written SQL, the run lock, readiness and run status."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections, router

from pipeline.engine import events
from pipeline.engine.definitions import Pipeline
from pipeline.models.runs import PipelineRun, StepRun

Status = StepRun.Status
RunStatus = PipelineRun.Status

# Step name -> [status, pk] of every step of a run, read once under the run's lock and kept up
# to date by the writes made under it.
StepStates = dict[str, list]


def step_states(run: PipelineRun) -> StepStates:
    connection = db_connection()
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            # Identifiers come from the model's meta; every value is a parameter.
            f"SELECT {qn('name')}, {qn('status')}, {qn('id')} FROM {qn(StepRun._meta.db_table)}"  # noqa: S608
            f" WHERE {qn('run_id')} = %s",
            [run.pk],
        )
        return {name: [status, pk] for name, status, pk in cursor.fetchall()}


# The columns a new run's StepRun rows set; every other column gets its model default.
NEW_STEP_FIELDS = ("run", "name", "status", "ready_at", "queued_at")


def insert_steps(run: PipelineRun, rows: list[tuple[str, str, Any, Any]]) -> dict[str, int]:
    """INSERT a new run's StepRuns, (name, status, ready_at, queued_at) each, in one statement.

    Returns name -> primary key. Plain SQL with the other columns' defaults prepared once per
    process: bulk_create builds the same statement in about twice the CPU, on every run start.
    On PostgreSQL the rows go in as four arrays (unnest), so the statement's text and its 28
    parameters are the same for every run: psycopg converts it once (it does not cache a query
    of over 50 parameters, and one VALUES row per step made 224) and the server prepares it.
    """
    connection = db_connection()
    if not connection.features.can_return_rows_from_bulk_insert:
        made = StepRun.objects.bulk_create(
            [
                StepRun(run=run, name=name, status=status, ready_at=ready, queued_at=queued)
                for name, status, ready, queued in rows
            ]
        )
        if any(step_run.pk is None for step_run in made):
            made = list(run.steps.all())
        return {step_run.name: step_run.pk for step_run in made}
    shape = _insert_shape(connection)
    meta = StepRun._meta
    ready_at, queued_at = meta.get_field("ready_at"), meta.get_field("queued_at")
    if connection.vendor == "postgresql":
        params = [
            run.pk,
            *shape.defaults,
            [name for name, _, _, _ in rows],
            [status for _, status, _, _ in rows],
            [ready_at.get_db_prep_save(ready, connection) for _, _, ready, _ in rows],
            [queued_at.get_db_prep_save(queued, connection) for _, _, _, queued in rows],
        ]
        sql = shape.unnest_sql
    else:
        params = []
        for name, status, ready, queued in rows:
            params += [
                run.pk,
                name,
                status,
                ready_at.get_db_prep_save(ready, connection),
                queued_at.get_db_prep_save(queued, connection),
                *shape.defaults,
            ]
        sql = shape.values_sql + ", ".join([shape.placeholders] * len(rows)) + shape.returning
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {name: pk for pk, name in cursor.fetchall()}


@dataclass(frozen=True)
class _InsertShape:
    defaults: list[Any]  # the prepared defaults of the columns not in NEW_STEP_FIELDS
    values_sql: str  # INSERT ... VALUES, to be followed by one `placeholders` per row
    placeholders: str
    returning: str
    unnest_sql: str  # PostgreSQL: the whole statement, the rows as arrays


_insert_shapes: dict[str, _InsertShape] = {}


def _insert_shape(connection) -> _InsertShape:
    """The statements' fixed parts, built once per database alias (the defaults are constants).

    Identifiers and types come from the model's meta; every value is a parameter.
    """
    shape = _insert_shapes.get(connection.alias)
    if shape is None:
        qn = connection.ops.quote_name
        meta = StepRun._meta
        given = [meta.get_field(name) for name in NEW_STEP_FIELDS]
        rest = [
            field for field in meta.concrete_fields if not field.primary_key and field not in given
        ]
        columns = ", ".join(qn(field.column) for field in given + rest)
        table = qn(meta.db_table)
        returning = f" RETURNING {qn('id')}, {qn('name')}"
        # run_id and the defaults once, each cast to its column's type; the per-step columns
        # (name, status, ready_at, queued_at) from arrays of theirs.
        constants = ", ".join(f"%s::{_cast_type(field, connection)}" for field in rest)
        arrays = ", ".join(f"%s::{_cast_type(field, connection)}[]" for field in given[1:])
        unnest_sql = (
            f"INSERT INTO {table} ({columns}) SELECT %s, s.*, {constants} "  # noqa: S608
            f"FROM unnest({arrays}) AS s" + returning
        )
        shape = _insert_shapes[connection.alias] = _InsertShape(
            defaults=[field.get_db_prep_save(field.get_default(), connection) for field in rest],
            values_sql=f"INSERT INTO {table} ({columns}) VALUES ",  # noqa: S608
            placeholders="(" + ", ".join(["%s"] * (len(given) + len(rest))) + ")",
            returning=returning,
            unnest_sql=unnest_sql,
        )
    return shape


def _cast_type(field, connection) -> str:
    """The type a parameter is cast to: text for strings, so that a value too long for its
    column fails on the INSERT (an explicit cast to varchar(n) would cut it short)."""
    if field.get_internal_type() in ("CharField", "TextField", "SlugField"):
        return "text"
    return field.db_type(connection)


# --- Loading a claimed step ----------------------------------------------------------------


def load_claimed(step_run_id: int, related: tuple[str, ...]) -> tuple[StepRun, StepStates] | None:
    """A claimed step with its run and the run's `related` rows (PipelineRun foreign keys), and
    every step of the run as name -> {status, output, skip_reason}, in one plain SELECT.

    The run and its related rows are joined to the claimed step's row only. The ORM's
    select_related() built this query anew for every hop: about a fifth of a worker's CPU.
    Returns None when the step no longer exists.
    """
    connection = db_connection()
    shape = _load_shape(connection, related)
    with connection.cursor() as cursor:
        cursor.execute(shape.sql, [step_run_id, step_run_id])
        rows = cursor.fetchall()
    claimed = None
    steps: dict[str, dict[str, Any]] = {}
    for row in rows:
        step = shape.build(connection, row, 0)
        steps[step.name] = {
            "name": step.name,
            "status": step.status,
            "output": step.output,
            "skip_reason": step.skip_reason,
        }
        if step.pk == step_run_id:
            claimed = step
            run = shape.build(connection, row, 1)
            step._state.fields_cache["run"] = run
            for index, name in enumerate(related, start=2):
                run._state.fields_cache[name] = shape.build(connection, row, index)
    if claimed is None:
        return None
    return claimed, steps


class _LoadShape:
    """load_claimed()'s SQL for one database and set of related rows, and how to read a row."""

    def __init__(self, connection, related: tuple[str, ...]) -> None:
        qn = connection.ops.quote_name
        run_meta = PipelineRun._meta
        models = [StepRun, PipelineRun]
        joins = [
            f"LEFT JOIN {qn(run_meta.db_table)} t1 ON s.{qn('id')} = %s"
            f" AND t1.{qn('id')} = s.{qn('run_id')}"
        ]
        for index, name in enumerate(related, start=2):
            field = run_meta.get_field(name)
            models.append(field.related_model)
            joins.append(
                f"LEFT JOIN {qn(field.related_model._meta.db_table)} t{index}"
                f" ON t{index}.{qn(field.target_field.column)} = t1.{qn(field.column)}"
            )
        self.slices: list[tuple[int, int, int, list[Any]]] = []
        columns = []
        start = 0
        for index, model in enumerate(models):
            alias = "s" if index == 0 else f"t{index}"
            fields = model._meta.concrete_fields
            columns += [f"{alias}.{qn(field.column)}" for field in fields]
            converters = []
            for field in fields:
                expression = field.get_col(alias)
                found = connection.ops.get_db_converters(expression) + expression.get_db_converters(
                    connection
                )
                converters.append((found, expression))
            self.slices.append(
                (start, start + len(fields), fields.index(model._meta.pk), converters)
            )
            start += len(fields)
        self.models = models
        steps = qn(StepRun._meta.db_table)
        # Identifiers come from the models' meta; every value is a parameter.
        self.sql = (
            f"SELECT {', '.join(columns)} FROM {steps} s {' '.join(joins)}"  # noqa: S608
            f" WHERE s.{qn('run_id')} = (SELECT {qn('run_id')} FROM {steps} WHERE {qn('id')} = %s)"
        )

    def build(self, connection, row, index: int):
        """The model instance in part `index` of a row (None for a related row that is not there)."""
        start, end, pk, converters = self.slices[index]
        values = list(row[start:end])
        if values[pk] is None:
            return None
        for position, (found, expression) in enumerate(converters):
            for converter in found:
                values[position] = converter(values[position], expression, connection)
        return self.models[index].from_db(connection.alias, None, values)


_load_shapes: dict[tuple[str, tuple[str, ...]], _LoadShape] = {}


def _load_shape(connection, related: tuple[str, ...]) -> _LoadShape:
    key = (connection.alias, related)
    shape = _load_shapes.get(key)
    if shape is None:
        shape = _load_shapes[key] = _LoadShape(connection, related)
    return shape


def db_connection():
    return connections[router.db_for_write(StepRun)]


def on_fresh_connection[T](write: Callable[[], T]) -> T:
    """Run `write`; if the database connection died under it, run it once more on a new one.

    A step that failed because the database went away (a restart, a terminated backend) leaves
    this worker's connection dead: recording the failure on it would raise too, and the step
    would sit out its lease. `write` must be safe to repeat (conditional updates are).
    """
    try:
        return write()
    except DatabaseError as error:
        connection = db_connection()
        if connection.in_atomic_block:
            raise
        with contextlib.suppress(DatabaseError):
            connection.close()
        events.log("db.reconnect", error=type(error).__name__, level=logging.WARNING)
        return write()


def update_step(step_run_id: int, fields: dict[str, Any], **where: Any) -> int:
    """UPDATE one StepRun if it is still in `status` (and held by `worker_id` at `attempt`).

    Returns the row count: 0 means someone else moved the step first.
    """
    connection = db_connection()
    sql, params = update_step_sql(connection, step_run_id, fields, **where)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def update_step_sql(
    connection,
    step_run_id: int,
    fields: dict[str, Any],
    *,
    status: str,
    worker_id: str | None = None,
    attempt: int | None = None,
    due_at=None,
    add_attempt: bool = False,
    run_going: bool = False,
) -> tuple[str, list[Any]]:
    """The UPDATE of update_step(). With `run_going`, only while the step's run is not stopped."""
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
    if run_going:
        runs = qn(PipelineRun._meta.db_table)
        placeholders = ", ".join(["%s"] * len(PipelineRun.STOPPED))
        conditions.append(
            f"NOT EXISTS (SELECT 1 FROM {runs} WHERE {runs}.{qn('id')} ="  # noqa: S608
            f" {qn(meta.db_table)}.{qn('run_id')} AND {runs}.{qn('status')} IN ({placeholders}))"
        )
        params += list(PipelineRun.STOPPED)
    # Identifiers come from the model's meta; every value is a parameter.
    sql = (
        f"UPDATE {qn(meta.db_table)} SET {', '.join(assignments)}"  # noqa: S608
        f" WHERE {' AND '.join(conditions)}"
    )
    return sql, params


def finish_step(
    run: PipelineRun, step_run: StepRun, fields: dict[str, Any], me: str
) -> StepStates | None:
    """Store a running step's outcome, then read the run's step states (under the run's lock).

    Returns None when the step is no longer this worker's attempt (nothing was written).
    """
    connection = db_connection()
    update_sql, params = update_step_sql(
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
        return step_states(run)
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


def lock_run(run: PipelineRun) -> PipelineRun:
    """Lock the run's row (SELECT ... FOR UPDATE; SQLite's IMMEDIATE transaction already holds
    the write lock) and refresh the fields the engine decides on: status and is_degraded.

    Must be called inside transaction.atomic(). Step states are read by a separate statement
    after this one: on PostgreSQL a statement's snapshot is taken before it waits for a lock.
    """
    connection = db_connection()
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


def lock_run_by_id(run_id: int) -> PipelineRun:
    """lock_run() for a run known by id: the one row-lock the engine takes on a run."""
    run = PipelineRun(pk=run_id)
    run._state.adding = False
    return lock_run(run)


def ready_successors(
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
        steps = step_states(run)
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
        update_step(
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


def update_run_status(run: PipelineRun, now, *, steps: StepStates | None = None) -> None:
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
    events.log(f"run.{new_status}", run_id=run.pk)


def step_outputs(run: PipelineRun, names: Iterable[str] | None = None) -> dict[str, Any]:
    queryset = StepRun.objects.filter(run=run)
    if names is not None:
        queryset = queryset.filter(name__in=list(names))
    return dict(queryset.values_list("name", "output"))
