"""Measure the engine's orchestration cost on the configured broker and database.

Runs N runs of a synthetic pipeline shaped like the lead pipeline (pipeline.dev.bench.SYNTHETIC),
keeping C runs in flight, on a worker cluster of W workers that this command starts and stops
itself. The figures come from the StepRun timestamps the engine records:

- per-step overhead: from the moment a step's last need finished (its finished_at; for a
  first step, the run's start) to the moment the step's own body began (the line it appended
  to the benchmark's executions file);
- end to end: a run's start to its finish, and its ratio to the critical path (5 sleeping
  steps on the longest path, so 5 * S);
- exactly-once: executions recorded by the steps themselves (lines in that file, written
  outside the database so that the instrument does not load what it measures).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from pipeline import engine
from pipeline.dev import bench
from pipeline.dev import cluster as child
from pipeline.models import Lead, PipelineRun, StepRun

POLL_SECONDS = 0.005
READY_TIMEOUT_SECONDS = 60.0


class Command(BaseCommand):
    help = (
        "Benchmark the engine: N runs of a synthetic lead-shaped pipeline on a worker cluster "
        "this command starts, on the configured broker (Q_BROKER) and database (DATABASE_URL)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--runs", type=int, default=20, help="runs to measure (default 20)")
        parser.add_argument(
            "--concurrency",
            type=int,
            default=None,
            help="runs kept in flight (default: workers // 2, so workers are never short)",
        )
        parser.add_argument(
            "--step-seconds",
            type=float,
            default=1.0,
            help="how long each step sleeps, standing in for a network call (default 1)",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=settings.Q_WORKERS,
            help=f"worker processes in the cluster (default Q_WORKERS={settings.Q_WORKERS})",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=60.0,
            help="give up when no run has finished for this many seconds (default 60)",
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument(
            "--keep",
            action="store_true",
            help="keep the benchmark's leads, runs, executions file and cluster log afterwards",
        )

    def handle(self, *args, **options):
        runs = options["runs"]
        workers = options["workers"]
        step_seconds = options["step_seconds"]
        concurrency = options["concurrency"] or max(1, workers // 2)
        if runs < 1 or workers < 1 or concurrency < 1 or step_seconds < 0:
            raise CommandError("--runs, --workers and --concurrency must be >= 1, S >= 0")
        self._check_migrated()
        self.quiet = options["json"]
        # One log line per run started would drown the figures.
        engine_logger = logging.getLogger("pipeline.engine")
        level = engine_logger.level
        engine_logger.setLevel(logging.WARNING)
        try:
            self._bench(runs, workers, step_seconds, concurrency, options)
        finally:
            engine_logger.setLevel(level)

    def _bench(self, runs, workers, step_seconds, concurrency, options) -> None:
        # Other load on the machine moves every figure: say how busy it was before we began.
        machine = {"cpus": os.cpu_count(), "load_average_1m_before": round(os.getloadavg()[0], 2)}
        broker = settings.Q_BROKER
        redis_url = settings.REDIS_URL if broker == "redis" else None
        queue = f"{settings.Q_CLUSTER['name']}-bench-{os.getpid()}"
        token = secrets.token_hex(4)
        descriptor, name = tempfile.mkstemp(prefix="leadops-bench-", suffix=".executions")
        os.close(descriptor)
        self.executions_file = Path(name)
        warmup = workers
        leads = Lead.objects.bulk_create(
            Lead(
                email=f"bench-{token}-{number}@bench.invalid",
                email_normalized=f"bench-{token}-{number}@bench.invalid",
                name=f"Bench {number}",
            )
            for number in range(warmup + runs)
        )
        if any(lead.pk is None for lead in leads):
            leads = list(Lead.objects.filter(email__startswith=f"bench-{token}-").order_by("pk"))
        cluster = child.Cluster(
            {
                "Q_NAME": queue,
                "Q_WORKERS": str(workers),
                "DATABASE_URL": child.database_url(),
                "LOG_LEVEL": "warning",
                "ENGINE_PIPELINE_MODULES": bench.__name__,
            }
        )
        self._say(
            f"Starting {workers} workers ({broker} broker, {connection.vendor} database), "
            f"queue {queue}; log: {cluster.log_path}"
        )
        try:
            with child.use_queue(queue, redis_url=redis_url), cluster:
                # Warm-up: one quick run per worker, so imports and connections are paid for.
                warm = self._drive(
                    cluster, leads[:warmup], workers, 0.0, READY_TIMEOUT_SECONDS, "warm-up"
                )
                if warm["unfinished"]:
                    raise CommandError(
                        "the worker cluster did not run the warm-up runs; its log ends with:\n"
                        + cluster.log()[-3000:]
                    )
                self._say(
                    f"Running {runs} runs, {concurrency} in flight, steps of {step_seconds} s"
                )
                measured = self._drive(
                    cluster, leads[warmup:], concurrency, step_seconds, options["timeout"], "run"
                )
                executions = self._executions(measured["run_ids"])
                memory = self._memory(executions)
            report = self._figures(
                measured["run_ids"],
                executions,
                runs=runs,
                concurrency=concurrency,
                workers=workers,
                broker=broker,
                step_seconds=step_seconds,
            )
            report.update(memory)
            report.update(machine)
        finally:
            child.purge_queue(queue, redis_url=redis_url)
            if not options["keep"]:
                Lead.objects.filter(pk__in=[lead.pk for lead in leads]).delete()
                self.executions_file.unlink(missing_ok=True)
        if not options["keep"]:
            cluster.log_path.unlink(missing_ok=True)  # kept, and named in the error, on failure
        if options["json"]:
            self.stdout.write(json.dumps(report))
        else:
            self._print_table(report)

    # --- Driving the runs ---------------------------------------------------------------------

    def _drive(self, cluster, leads, concurrency, step_seconds, timeout, label) -> dict:
        """Start a run per lead, never more than `concurrency` unfinished at once."""
        waiting = list(reversed(leads))
        in_flight: set[int] = set()
        run_ids: list[int] = []
        done_statuses = (*PipelineRun.FINISHED, PipelineRun.Status.WAITING)
        last_progress = time.monotonic()
        while waiting or in_flight:
            while waiting and len(in_flight) < concurrency:
                run = engine.start(
                    bench.SYNTHETIC.name,
                    lead=waiting.pop(),
                    options={
                        "step_seconds": step_seconds,
                        "executions_file": str(self.executions_file),
                    },
                )
                in_flight.add(run.pk)
                run_ids.append(run.pk)
            finished = _finished(in_flight, done_statuses)
            if finished:
                in_flight -= finished
                last_progress = time.monotonic()
                continue
            if not cluster.is_running():
                raise CommandError("the worker cluster exited:\n" + cluster.log()[-3000:])
            if time.monotonic() - last_progress > timeout:
                self._say(f"{label}: no run finished for {timeout:g} s; giving up on the rest")
                break
            time.sleep(POLL_SECONDS)
        return {"run_ids": run_ids, "unfinished": len(in_flight) + len(waiting)}

    # --- Figures ------------------------------------------------------------------------------

    def _executions(self, run_ids) -> list[tuple[int, str, datetime]]:
        """The measured runs' step executions: (step_run_id, worker, when) each."""
        step_ids = set(StepRun.objects.filter(run_id__in=run_ids).values_list("pk", flat=True))
        return [
            (step_run_id, worker, datetime.fromtimestamp(at, tz=UTC))
            for step_run_id, worker, at in bench.read_executions(self.executions_file)
            if step_run_id in step_ids
        ]

    def _figures(
        self, run_ids, executions, *, runs, concurrency, workers, broker, step_seconds
    ) -> dict:
        run_rows = list(
            PipelineRun.objects.filter(pk__in=run_ids).values(
                "pk", "status", "started_at", "finished_at"
            )
        )
        succeeded = [row for row in run_rows if row["status"] == PipelineRun.Status.SUCCEEDED]
        failed = sum(1 for row in run_rows if row["status"] == PipelineRun.Status.FAILED)
        e2e = [_seconds(row["finished_at"], row["started_at"]) for row in succeeded]
        overhead_ms = _overheads_ms(run_ids, run_rows, executions)
        times_run = Counter(step_run_id for step_run_id, _, _ in executions)
        critical_path = bench.SLEEPING_STEPS_ON_CRITICAL_PATH * step_seconds
        if succeeded:
            span = _seconds(
                max(row["finished_at"] for row in succeeded),
                min(row["started_at"] for row in run_rows),
            )
        else:
            span = 0.0
        e2e_p50 = _percentile(e2e, 50)
        return {
            "runs": runs,
            "concurrency": concurrency,
            "workers": workers,
            "broker": broker,
            "database": connection.vendor,
            "step_seconds": step_seconds,
            "overhead_ms_p50": _round(_percentile(overhead_ms, 50), 2),
            "overhead_ms_p95": _round(_percentile(overhead_ms, 95), 2),
            "overhead_ms_max": _round(max(overhead_ms, default=None), 2),
            "e2e_s_p50": _round(e2e_p50, 4),
            "e2e_s_p95": _round(_percentile(e2e, 95), 4),
            "critical_path_s": critical_path,
            "ratio_p50": _round(e2e_p50 / critical_path, 4) if critical_path and e2e_p50 else None,
            "runs_per_second": _round(len(succeeded) / span, 2) if span else None,
            "lost": sum(1 for row in run_rows if row["status"] not in PipelineRun.FINISHED)
            + (runs - len(run_rows)),
            "failed": failed,
            "duplicate_executions": sum(times - 1 for times in times_run.values()),
        }

    def _memory(self, executions) -> dict:
        """Memory of the worker processes that ran the benchmark's steps, while they live."""
        pids = set()
        for worker in {worker for _, worker, _ in executions}:
            host, pid, _thread = worker.rsplit(":", 2)
            pids.add(int(pid))
        samples = [sample for sample in map(child.memory_kib, sorted(pids)) if sample]
        if not samples:
            return {}
        return {
            f"worker_{kind}_mib": round(statistics.mean(s[kind] for s in samples) / 1024, 1)
            for kind in ("rss", "pss", "uss")
            if all(kind in sample for sample in samples)
        }

    def _print_table(self, report: dict) -> None:
        rows = [
            ("setup", f"{report['broker']} broker, {report['database']} database"),
            (
                "runs / in flight / workers",
                f"{report['runs']} / {report['concurrency']} / {report['workers']}",
            ),
            ("step sleep", f"{report['step_seconds']:g} s"),
            (
                "per-step overhead p50 / p95",
                f"{report['overhead_ms_p50']} / {report['overhead_ms_p95']} ms",
            ),
            ("end to end p50 / p95", f"{report['e2e_s_p50']} / {report['e2e_s_p95']} s"),
            ("critical path", f"{report['critical_path_s']:g} s"),
            ("ratio p50 (e2e / critical path)", str(report["ratio_p50"])),
            ("runs per second", str(report["runs_per_second"])),
            ("lost / failed runs", f"{report['lost']} / {report['failed']}"),
            ("duplicate executions", str(report["duplicate_executions"])),
        ]
        rows.append(
            (
                "machine",
                f"{report['cpus']} CPUs, load average {report['load_average_1m_before']:.2f} before",
            )
        )
        if "worker_pss_mib" in report:
            rows.append(
                (
                    "memory per worker (RSS / PSS / USS)",
                    f"{report['worker_rss_mib']} / {report['worker_pss_mib']} / "
                    f"{report['worker_uss_mib']} MiB",
                )
            )
        width = max(len(label) for label, _ in rows)
        for label, value in rows:
            self.stdout.write(f"{label:<{width}}  {value}")

    # --- Helpers ------------------------------------------------------------------------------

    def _check_migrated(self) -> None:
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise CommandError(
                "the database has unapplied migrations: run `python manage.py migrate` first"
            )

    def _say(self, message: str) -> None:
        if not self.quiet:
            self.stderr.write(message)


def _finished(run_ids: set[int], statuses) -> set[int]:
    """Which of these runs are done. Plain SQL: this poll runs every few milliseconds, on the
    machine being measured, and the ORM would spend several times more CPU building it."""
    table = PipelineRun._meta.db_table
    ids = ", ".join(["%s"] * len(run_ids))
    states = ", ".join(["%s"] * len(statuses))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {table} WHERE id IN ({ids}) AND status IN ({states})",  # noqa: S608
            [*run_ids, *map(str, statuses)],
        )
        return {row[0] for row in cursor.fetchall()}


def _overheads_ms(run_ids, run_rows, executions) -> list[float]:
    """Per step: its body's start minus its last need's finish (the run's start for a root)."""
    run_started = {row["pk"]: row["started_at"] for row in run_rows}
    body_started: dict[int, datetime] = {}
    for step_run_id, _, at in executions:
        body_started[step_run_id] = min(at, body_started.get(step_run_id, at))
    finished: dict[tuple[int, str], datetime | None] = {}
    steps = list(
        StepRun.objects.filter(run_id__in=run_ids).values("pk", "run_id", "name", "finished_at")
    )
    for row in steps:
        finished[row["run_id"], row["name"]] = row["finished_at"]
    overheads = []
    for row in steps:
        began = body_started.get(row["pk"])
        needs = bench.SYNTHETIC.step(row["name"]).needs
        since = [finished[row["run_id"], need] for need in needs] or [run_started[row["run_id"]]]
        if began is None or None in since:
            continue
        overheads.append(_seconds(began, max(since)) * 1000)
    return overheads


def _seconds(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds()


def _percentile(values: list[float], percent: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
