"""Prometheus metrics: counters and histograms recorded where things happen, gauges read at scrape.

Web workers (gunicorn) and the worker cluster are separate processes. With
PROMETHEUS_MULTIPROC_DIR set (before any process starts, the same directory for all, emptied at
deploy), prometheus_client writes every process's values to files there and /metrics adds them
up; without it, /metrics shows this process's values only (fine for `manage.py serve`'s web
part, not for the cluster's steps).

What the database already knows (queue depth, the oldest waiting draft, emails by state, the
cluster's heartbeat) is read at scrape time instead, so every process reports the same truth.
Labels are bounded: step and agent names, strategies, statuses, exception class names.
"""

from __future__ import annotations

import functools
import logging
import os

from django.conf import settings
from django.db.models import Count, Max, Min
from django.utils import timezone
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

logger = logging.getLogger(__name__)

# prometheus_client writes a file per process there as soon as a value exists; a missing
# directory would make every count fail.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)


def _never_raises(function):
    """Counting must never fail the step or the request it counts."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            function(*args, **kwargs)
        except Exception as error:
            logger.warning("metrics: %s failed: %s", function.__name__, type(error).__name__)

    return wrapper


# The metrics of this process; /metrics reads them directly only outside multiprocess mode.
REGISTRY = CollectorRegistry(auto_describe=True)

INTAKE_REQUESTS = Counter(
    "leadops_intake_requests",
    "Requests to the intake doors (webhooks, hosted forms) by answer status.",
    ["door", "status"],
    registry=REGISTRY,
)
STEP_EXECUTIONS = Counter(
    "leadops_step_executions",
    "Step attempts that ended, by step, strategy and outcome "
    "(succeeded, skipped, waiting, retry, failed).",
    ["step", "strategy", "outcome"],
    registry=REGISTRY,
)
STEP_DURATION = Histogram(
    "leadops_step_duration_seconds",
    "How long a step attempt ran, by step and strategy.",
    ["step", "strategy"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
    registry=REGISTRY,
)
STEP_FAILURES = Counter(
    "leadops_step_failures",
    "Step attempts that raised, by step and exception class (retried or not).",
    ["step", "error"],
    registry=REGISTRY,
)
LLM_CALLS = Counter(
    "leadops_llm_calls",
    "Claude API calls by agent, model and outcome (ok, error).",
    ["agent", "model", "outcome"],
    registry=REGISTRY,
)
LLM_TOKENS = Counter(
    "leadops_llm_tokens",
    "Claude tokens by agent, model and kind (input, output, cache_read, cache_write).",
    ["agent", "model", "kind"],
    registry=REGISTRY,
)
LLM_COST = Counter(
    "leadops_llm_cost_usd",
    "Claude spend in US dollars by agent and model.",
    ["agent", "model"],
    registry=REGISTRY,
)


@_never_raises
def count_intake(door: str, status: int) -> None:
    INTAKE_REQUESTS.labels(door=door, status=str(status)).inc()


@_never_raises
def count_step(
    step: str,
    outcome: str,
    *,
    strategy: str = "",
    duration_ms: int | None = None,
    error: str = "",
) -> None:
    """One step attempt ended: `outcome` is its status, or "retry" when another attempt follows."""
    STEP_EXECUTIONS.labels(step=step, strategy=strategy or "none", outcome=outcome).inc()
    if duration_ms is not None and outcome != "waiting":
        STEP_DURATION.labels(step=step, strategy=strategy or "none").observe(duration_ms / 1000)
    if error:
        STEP_FAILURES.labels(step=step, error=error).inc()


@_never_raises
def count_llm_call(agent: str, model: str, usage=None, *, cost=None) -> None:
    """One Messages API call; `usage` is the SDK's usage object (None when the call failed)."""
    LLM_CALLS.labels(agent=agent, model=model, outcome="ok" if usage else "error").inc()
    if usage is None:
        return
    for kind, value in (
        ("input", usage.input_tokens),
        ("output", usage.output_tokens),
        ("cache_read", getattr(usage, "cache_read_input_tokens", 0)),
        ("cache_write", getattr(usage, "cache_creation_input_tokens", 0)),
    ):
        if value:
            LLM_TOKENS.labels(agent=agent, model=model, kind=kind).inc(value)
    if cost:
        LLM_COST.labels(agent=agent, model=model).inc(float(cost))


class IntakeMetricsMiddleware:
    """Counts answers of the intake doors by status, whatever view or error produced them."""

    DOORS = {"pipeline:webhook": "webhook", "pipeline:form": "form"}

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        door = self.DOORS.get(match.view_name) if match else None
        if door:
            count_intake(door, response.status_code)
        return response


class DatabaseCollector:
    """Gauges read from the database at scrape time: the same answer from every process."""

    def collect(self):
        from pipeline.intake.receive import unanswered
        from pipeline.models import Draft, OutboundEmail, StepRun, WorkerHeartbeat

        now = timezone.now()

        def age(moment) -> float:
            return max((now - moment).total_seconds(), 0.0) if moment else 0.0

        steps = GaugeMetricFamily(
            "leadops_queue_depth", "Steps queued, running or waiting, by status.", labels=["status"]
        )
        counts = dict(
            StepRun.objects.filter(status__in=("queued", "running", "waiting"))
            .values_list("status")
            .annotate(count=Count("pk"))
            .values_list("status", "count")
        )
        for status in ("queued", "running", "waiting"):
            steps.add_metric([status], counts.get(status, 0))
        yield steps

        oldest_queued = StepRun.objects.filter(status="queued").aggregate(oldest=Min("queued_at"))
        yield GaugeMetricFamily(
            "leadops_oldest_queued_step_age_seconds",
            "How long the oldest queued step has waited for a worker (0 when none).",
            value=age(oldest_queued["oldest"]),
        )

        waiting = unanswered()
        yield GaugeMetricFamily(
            "leadops_unprocessed_submissions",
            "Stored submissions with no run yet (deferred intake waiting for a worker).",
            value=waiting["count"],
        )
        yield GaugeMetricFamily(
            "leadops_oldest_unprocessed_submission_age_seconds",
            "How long the oldest of them has waited (0 when none).",
            value=age(waiting["oldest"]),
        )

        drafts = Draft.objects.filter(status=Draft.Status.PENDING).aggregate(
            count=Count("pk"), oldest=Min("created_at")
        )
        yield GaugeMetricFamily(
            "leadops_pending_drafts", "Drafts waiting for a reviewer.", value=drafts["count"]
        )
        yield GaugeMetricFamily(
            "leadops_oldest_pending_draft_age_seconds",
            "How long the oldest draft has waited for a reviewer (0 when none).",
            value=age(drafts["oldest"]),
        )

        emails = GaugeMetricFamily("leadops_emails", "Outbox emails by state.", labels=["state"])
        by_state = dict(
            OutboundEmail.objects.values_list("state")
            .annotate(count=Count("pk"))
            .values_list("state", "count")
        )
        for state in OutboundEmail.State.values:
            emails.add_metric([state], by_state.get(state, 0))
        yield emails

        last = WorkerHeartbeat.objects.aggregate(last=Max("seen_at"))["last"]
        yield GaugeMetricFamily(
            "leadops_worker_heartbeat_age_seconds",
            "Seconds since a worker of the cluster was last seen (-1 when never).",
            value=age(last) if last else -1.0,
        )


def render() -> bytes:
    """The Prometheus text exposition of every process (multiprocess mode) plus the database."""
    registry = CollectorRegistry()
    directory = settings.PROMETHEUS_MULTIPROC_DIR
    if directory:
        MultiProcessCollector(registry, path=directory)
    else:
        registry.register(_Local())
    registry.register(DatabaseCollector())
    return generate_latest(registry)


class _Local:
    def collect(self):
        return REGISTRY.collect()
