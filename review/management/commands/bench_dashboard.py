"""Measure how long the dashboard takes to render with N leads, in a throwaway database.

Creates the test database of the configured backend (test_<name> on PostgreSQL, a temporary
file on SQLite), fills it with N leads spread over 30 days, each with a submission, a run of the
lead pipeline's eight steps (failures, retries, fallbacks and Claude usage mixed in) and, for
most, a draft with an outcome; then renders /dashboard/ for today, 7 and 30 days through the
Django test client as a staff user, and prints the cold render times (figures computed from the
closed days' stored rows and today's live rows; the period cache cleared first), the query
counts, and one render within the minute (figures cached). Before that it stores the 29 closed
days in one pass, the work a fresh deployment does once (then the cluster rebuilds two days a
minute), and prints how long that took. The database is destroyed afterwards (--keep keeps it).
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from pipeline.models import Draft, Lead, PipelineRun, StepRun, Submission
from review.dashboard import forget_period, parse_period, stored_days

STEPS = ("classify", "enrich", "score_form", "score_final", "crm_write", "draft", "gate", "send")
LABELS = ("high_intent", "high_intent", "low_intent", "spam", "wrong_fit")
CHANNELS = ("webhook", "webhook", "form", "import")
ERRORS = (
    "EnrichmentError: https://site.example answered 503",
    "TimeoutError: read timed out",
    "CRMError: HubSpot answered 429",
)


def _moment(now, seconds_ago: str) -> str:
    """SQL for `now` minus an SQL number of seconds, stored the way Django stores datetimes."""
    if connection.vendor == "postgresql":
        return f"(TIMESTAMPTZ '{now.isoformat()}' - ({seconds_ago}) * INTERVAL '1 second')"
    stamp = now.strftime("%Y-%m-%d %H:%M:%S")
    return f"strftime('%%Y-%%m-%%d %%H:%%M:%%f', '{stamp}', '-' || ({seconds_ago}) || ' seconds')"


def _pick(number: str, values: tuple[str, ...]) -> str:
    cases = " ".join(f"WHEN {index} THEN '{value}'" for index, value in enumerate(values))
    return f"CASE ({number}) %% {len(values)} {cases} END"


def _insert(cursor, model, source: tuple[str, list], expressions: dict[str, str]) -> None:
    """INSERT INTO model's table SELECT expressions FROM source; other columns get defaults."""
    columns, values, params = [], [], []
    for field in model._meta.concrete_fields:
        columns.append(connection.ops.quote_name(field.column))
        if field.attname in expressions:
            values.append(expressions[field.attname])
        else:
            values.append("%s")
            params.append(field.get_db_prep_save(field.get_default(), connection))
    sql, source_params = source
    cursor.execute(
        f"INSERT INTO {model._meta.db_table} ({', '.join(columns)})"  # noqa: S608
        f" SELECT {', '.join(values)} FROM ({sql}) source",
        [*params, *source_params],
    )


class _QueryCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


class Command(BaseCommand):
    help = "Render the dashboard over N generated leads in a throwaway database; print the times."

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=100_000)
        parser.add_argument("--repeat", type=int, default=3, help="renders per period")
        parser.add_argument("--keep", action="store_true", help="keep the throwaway database")

    def handle(self, *args, leads: int, repeat: int, keep: bool, **options):
        from django.conf import settings

        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
        settings.SECURE_SSL_REDIRECT = False
        settings.DEBUG = False
        old_name = connection.settings_dict["NAME"]
        test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
        try:
            self.stdout.write(f"database: {connection.vendor} ({test_name})")
            started = time.perf_counter()
            self._fill(leads)
            self.stdout.write(f"generated {leads} leads in {time.perf_counter() - started:.1f} s")
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("ANALYZE")
            self._measure(repeat)
        finally:
            if not keep:
                connection.creation.destroy_test_db(old_name, verbosity=0)

    def _fill(self, count: int) -> None:
        """Generate the rows in SQL (INSERT … SELECT over a number series): seconds, not minutes.

        "Random" spreads come from multiplying the row number by primes, so every run of the
        bench sees the same data. Columns we do not set get their model default.
        """
        reviewer = get_user_model().objects.create(username="bench-reviewer")
        now = timezone.now()
        with transaction.atomic(), connection.cursor() as cursor:
            series = (
                "SELECT generate_series(1::bigint, %s) AS i"
                if connection.vendor == "postgresql"
                else "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %s)"
                " SELECT i FROM s"
            )
            numbers = (series, [count])
            ago = "((i * 7919) %% 2592000)"  # seconds before now, over 30 days
            created = _moment(now, ago)
            _insert(
                cursor,
                Lead,
                numbers,
                {
                    "id": "i",
                    "email": "'bench' || i || '@company' || (i %% 5000) || '.example'",
                    "email_normalized": "'bench' || i || '@company' || (i %% 5000) || '.example'",
                    "name": "'Bench ' || i",
                    "label": _pick("i * 31", LABELS),
                    "created_at": created,
                    "updated_at": created,
                },
            )
            _insert(
                cursor,
                Submission,
                numbers,
                {
                    "id": "i",
                    "lead_id": "i",
                    "channel": _pick("i * 17", CHANNELS),
                    "message": "'generated'",
                    "received_at": created,
                },
            )
            failed = "(i %% 33 = 0)"
            _insert(
                cursor,
                PipelineRun,
                numbers,
                {
                    "id": "i",
                    "lead_id": "i",
                    "submission_id": "i",
                    "pipeline_name": "'lead'",
                    "pipeline_version": "1",
                    "status": f"CASE WHEN {failed} THEN 'failed' ELSE 'succeeded' END",
                    "created_at": created,
                    "started_at": created,
                    "finished_at": _moment(now, f"({ago} - 5 - (i %% 600))"),
                },
            )
            steps = " UNION ALL ".join(
                f"SELECT {number} AS k, '{name}' AS step_name"
                for number, name in enumerate(STEPS, start=1)
            )
            duration = "(((i * k * 7919) %% 4000) + 5)"
            is_failed = f"({failed} AND k = 2)"
            claude = "(k IN (1, 6) AND (i * k) %% 10 < 3)"
            errors = " ".join(f"WHEN {index} THEN '{error}'" for index, error in enumerate(ERRORS))
            _insert(
                cursor,
                StepRun,
                (
                    f"SELECT i, k, step_name FROM ({series}) numbers"  # noqa: S608 (our SQL)
                    f" CROSS JOIN ({steps}) steps WHERE NOT ({failed} AND k > 2)",
                    [count],
                ),
                {
                    "id": "((i - 1) * 8 + k)",
                    "run_id": "i",
                    "name": "step_name",
                    "status": f"CASE WHEN {is_failed} THEN 'failed' ELSE 'succeeded' END",
                    "attempt": f"CASE WHEN {is_failed} OR (i * k) %% 50 = 0 THEN 3 ELSE 1 END",
                    "ready_at": _moment(now, f"({ago} - k * 2)"),
                    "started_at": _moment(now, f"({ago} - k * 2)"),
                    "finished_at": _moment(now, f"({ago} - k * 2 - {duration} / 1000.0)"),
                    "duration_ms": duration,
                    "error": f"CASE WHEN {is_failed} THEN CASE i %% 3 {errors} END ELSE '' END",
                    "strategy": f"CASE WHEN {claude} THEN 'claude' ELSE 'rules' END",
                    "model": f"CASE WHEN {claude} THEN 'claude-haiku-5-5' ELSE '' END",
                    "input_tokens": f"CASE WHEN {claude} THEN 1200 ELSE 0 END",
                    "output_tokens": f"CASE WHEN {claude} THEN 180 ELSE 0 END",
                    "cache_read_tokens": f"CASE WHEN {claude} AND i %% 10 < 7 THEN 900 ELSE 0 END",
                    "cost_usd": f"CASE WHEN {claude} THEN 0.0021 ELSE 0 END",
                    "fallback_reason": "CASE WHEN (i * k) %% 100 = 0 THEN 'invalid output' ELSE '' END",
                },
            )
            outcome = "((i * 17) %% 100)"
            _insert(
                cursor,
                Draft,
                (
                    f"SELECT i FROM ({series}) numbers"  # noqa: S608 (our SQL)
                    f" WHERE NOT {failed} AND (i * 13) %% 10 < 6",
                    [count],
                ),
                {
                    "id": "i",
                    "lead_id": "i",
                    "run_id": "i",
                    "subject": "'Hello'",
                    "body": "'Hi'",
                    "status": f"CASE WHEN {outcome} < 70 THEN 'approved'"
                    f" WHEN {outcome} < 85 THEN 'rejected' ELSE 'pending' END",
                    "decided_by_id": f"CASE WHEN {outcome} >= 40 AND {outcome} < 85"
                    f" THEN {int(reviewer.pk)} END",
                    "decided_at": f"CASE WHEN {outcome} < 85 THEN "
                    + _moment(now, f"({ago} - 60 - (i * 101) %% 86400)")
                    + " END",
                    "created_at": created,
                    "updated_at": created,
                },
            )
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                for model in (Lead, Submission, PipelineRun, StepRun, Draft):
                    table = model._meta.db_table
                    cursor.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"  # noqa: S608
                        f" (SELECT MAX(id) FROM {table}))"
                    )

    def _measure(self, repeat: int) -> None:
        today = timezone.localdate()
        started, cpu_started = time.perf_counter(), time.process_time()
        stored_days(today - timedelta(days=29), today - timedelta(days=1))
        self.stdout.write(
            f"stored the 29 closed days in {time.perf_counter() - started:.1f} s"
            f" (this process's CPU: {time.process_time() - cpu_started:.1f} s)"
        )
        user = get_user_model().objects.create_superuser("bench-admin", "", "x")
        client = Client()
        client.force_login(user)
        for period in ("today", "7d", "30d"):
            url = f"/dashboard/?period={period}"
            client.get(url)  # templates compiled, spend cache filled
            times, cpu_times, counts = [], [], []
            for _ in range(repeat):
                # A cold render: the figures are computed, not read back.
                forget_period(parse_period({"period": period})[0])
                counter = _QueryCounter()
                with connection.execute_wrapper(counter):
                    started, cpu_started = time.perf_counter(), time.process_time()
                    response = client.get(url)
                    times.append((time.perf_counter() - started) * 1000)
                    cpu_times.append((time.process_time() - cpu_started) * 1000)
                counts.append(counter.count)
                assert response.status_code == 200, response.status_code
            started = time.perf_counter()
            client.get(url)
            warm = (time.perf_counter() - started) * 1000
            self.stdout.write(
                f"{period:>5}: median {statistics.median(times):.0f} ms, "
                f"max {max(times):.0f} ms (this process's CPU: median "
                f"{statistics.median(cpu_times):.0f} ms), {max(counts)} queries, "
                f"{len(response.content)} bytes; "
                f"within the minute (cached figures) {warm:.0f} ms"
            )
