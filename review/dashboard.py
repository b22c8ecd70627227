"""The dashboard's figures for a period: every aggregate in SQL, a fixed number of queries.

Days are local days (settings.TIME_ZONE): a period runs from local midnight of its first day
to local midnight after its last. Leads count as received when their submission arrived; step
figures (funnel stages, latency, failures, retries, fallbacks, Claude usage and spend) belong
to the day the step finished, the same day the daily spend cap counts it on; end-to-end
latency and drafts belong to the day their run or draft was created.

A closed day's figures are stored once (`DashboardDay`: counts and latency histograms) and
rebuilt in rotation by the worker cluster; a period sums its stored days and computes only today
live, so a month reads thirty small rows instead of a million steps. Percentiles are
nearest-rank over histograms whose values keep two significant digits (1234 ms counts as
1200 ms), so they are within 5% of the exact ones. Days are bucketed by comparisons with each
local midnight, not time-zone functions.
"""

from __future__ import annotations

import logging
import time as time_module
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.core.cache import cache
from django.db import connection
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    FloatField,
    Func,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Round, Substr
from django.urls import reverse
from django.utils import timezone

from pipeline.engine import PipelineDefinitionError, get_pipeline
from pipeline.llm.budget import _cap as daily_cap
from pipeline.models import Draft, DraftRevision, Lead, PipelineRun, StepRun, Submission
from review import charts

logger = logging.getLogger(__name__)

PERIODS = {"today": 1, "7d": 7, "30d": 30}
PERIOD_NAMES = {"today": "Today", "7d": "7 days", "30d": "30 days", "custom": "Custom"}
MAX_CUSTOM_DAYS = 366
ERROR_PREFIX_LENGTH = 120
TOP_ERRORS = 10
# The step names of the lead pipeline the funnel follows.
LATENCY_INDEX = "steprun_latency_idx"
FAILED_INDEX = "steprun_failed_finished_idx"
# Figures older than this are computed again on the request.
FRESH_SECONDS = 120
SCHEDULE_NAME = "leadops-dashboard-figures"
FUNNEL_STEPS = (("classified", "classify"), ("drafted", "draft"), ("sent", "send"))


# What happened to a draft; the queryset needs `with_edits` first. One definition for the
# dashboard's counts and the leads list its bars link to.
_HUMAN = Q(decided_by__isnull=False)
DRAFT_OUTCOMES: dict[str, Q] = {
    "auto_sent": Q(status=Draft.Status.APPROVED, decided_by__isnull=True),
    "reviewed": _HUMAN,
    "approved": _HUMAN & Q(status=Draft.Status.APPROVED, is_edited=False),
    "edited": _HUMAN & Q(status=Draft.Status.APPROVED, is_edited=True),
    "rejected": _HUMAN & Q(status=Draft.Status.REJECTED),
}


def with_edits(drafts):
    """Annotate `is_edited`: a reviewer changed the text before deciding."""
    edits = DraftRevision.objects.filter(draft=OuterRef("pk"), author__isnull=False)
    return drafts.annotate(is_edited=Exists(edits))


def day_bounds(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    """Local midnight of `since` and local midnight after `until` (either may be None)."""
    start = timezone.make_aware(datetime.combine(since, time.min)) if since else None
    end = (
        timezone.make_aware(datetime.combine(until + timedelta(days=1), time.min))
        if until
        else None
    )
    return start, end


@dataclass(frozen=True)
class Period:
    key: str
    first_day: date
    last_day: date

    @property
    def start(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.first_day, time.min))

    @property
    def end(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.last_day + timedelta(days=1), time.min))

    @property
    def days(self) -> list[date]:
        count = (self.last_day - self.first_day).days + 1
        return [self.first_day + timedelta(days=offset) for offset in range(count)]

    def params(self, first: date | None = None, last: date | None = None) -> dict[str, str]:
        """The list filter for this period (or one day of it): since/until, inclusive."""
        return {
            "since": (first or self.first_day).isoformat(),
            "until": (last or first or self.last_day).isoformat(),
        }


def parse_period(params, *, today: date | None = None) -> tuple[Period, str]:
    """The period a request asks for, and a message when it asked for an impossible one."""
    today = today or timezone.localdate()
    key = params.get("period") or "7d"
    if key in PERIODS:
        return Period(key, today - timedelta(days=PERIODS[key] - 1), today), ""
    if key == "custom":
        try:
            first = date.fromisoformat(params.get("start") or "")
            last = date.fromisoformat(params.get("end") or "")
        except ValueError:
            return _default(today), "Pick a start and an end date (YYYY-MM-DD)."
        if last < first:
            return _default(today), "The end date is before the start date."
        if (last - first).days + 1 > MAX_CUSTOM_DAYS:
            return _default(today), f"A period can be at most {MAX_CUSTOM_DAYS} days."
        return Period("custom", first, last), ""
    return _default(today), "Unknown period; showing the last 7 days."


def _default(today: date) -> Period:
    return Period("7d", today - timedelta(days=6), today)


class Seconds(Func):
    """Seconds from the second datetime to the first, as a float, computed by the database."""

    output_field = FloatField()
    template = "EXTRACT(EPOCH FROM (%(expressions)s))"
    arg_joiner = " - "

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s)) * 86400.0)",
            arg_joiner=") - julianday(",
            **extra,
        )


def _from_histogram(rows, points: tuple[int, ...]) -> dict[str, dict]:
    groups: dict = {}
    for group, value, count in rows:
        groups.setdefault(group, []).append((value, count))
    result = {}
    for group, pairs in groups.items():
        pairs.sort()
        total = sum(count for _, count in pairs)
        found: dict = {"count": total}
        for point in points:
            seen = 0
            for value, count in pairs:
                seen += count
                if seen * 100 >= total * point:
                    found[point] = value
                    break
        result[group] = found
    return result


def day_index(field: str, period: Period) -> Case:
    """Which day of the period (0, 1, …) a datetime column falls on, in local time.

    Plain comparisons against each local midnight (right across DST changes), so the database
    needs no time-zone function; SQLite's are Python callbacks, slow over a million rows.
    """
    days = period.days
    whens = [
        When(**{f"{field}__lt": _midnight(day + timedelta(days=1))}, then=Value(index))
        for index, day in enumerate(days[:-1])
    ]
    return Case(*whens, default=Value(len(days) - 1), output_field=IntegerField())


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _link(name: str, **params) -> str:
    params = {key: value for key, value in params.items() if value not in ("", None)}
    return f"{reverse(name)}?{urlencode(params)}" if params else reverse(name)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _step_order() -> list[str]:
    try:
        return [step.name for step in get_pipeline("lead").steps]
    except PipelineDefinitionError:
        return []


def _cache_key(period: Period) -> str:
    return (
        f"dashboard:{period.first_day}:{period.last_day}:{period.key}:"
        f"{timezone.get_current_timezone_name()}"
    )


def forget_period(period: Period) -> None:
    """Drop the cached figures of the period (the benchmark measures cold renders)."""
    cache.delete(_cache_key(period))


def cached_dashboard_period(period: Period, *, refresh: bool = False) -> dict:
    """`dashboard_period`, shared by everyone who opens the page while it is fresh.

    A cold render reads stored days and computes today (a few hundred milliseconds over
    100,000 leads); figures at most two minutes old are still the truth people need, so
    everyone shares one computation. The worker cluster refreshes the standard periods every
    minute (`refresh_standard_periods`), so the page reads them back; a custom period, or a
    cluster that is down, computes on the request.
    """
    key = _cache_key(period)
    figures = None if refresh else cache.get(key)
    now = timezone.now()
    if figures is None or (now - figures["computed_at"]).total_seconds() > FRESH_SECONDS:
        figures = dashboard_period(period)
        figures["computed_at"] = now
        cache.set(key, figures, FRESH_SECONDS * 5)
    return figures


def refresh_standard_periods() -> None:
    """Rebuild two stored days, then recompute today, 7 and 30 days into the cache.

    A django-q2 schedule, every minute.
    """
    started = time_module.monotonic()
    rebuild_days()
    for key in PERIODS:
        cached_dashboard_period(parse_period({"period": key})[0], refresh=True)
    logger.info("dashboard.refreshed ms=%d", (time_module.monotonic() - started) * 1000)


def ensure_schedule(*, using: str = "default") -> None:
    """Create the schedule of `refresh_standard_periods`; idempotent, run after `migrate`."""
    from django_q.models import Schedule

    Schedule.objects.using(using).update_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "func": "review.dashboard.refresh_standard_periods",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )


STEP_SUMS = (
    "executed",
    "succeeded",
    "failed",
    "retried",
    "fallbacks",
    "calls",
    "total_input",
    "total_output",
    "total_cache_read",
    "cache_hits",
)
OUTCOME_KEYS = ("total", "waiting", *DRAFT_OUTCOMES)


def two_digits(value) -> int:
    """`value` rounded to two significant digits (half up), how latency histograms keep it."""
    number = int(round(value))
    if number < 100:
        return number
    scale = 10 ** (len(str(number)) - 2)
    return (number + scale // 2) // scale * scale


def _two_digits_sql(column: str) -> str:
    """SQL for `two_digits` of a non-negative integer column (integer division, both backends)."""
    whens = " ".join(
        f"WHEN {column} < {10**digits} THEN (({column} + {10 ** (digits - 2) // 2})"
        f" / {10 ** (digits - 2)}) * {10 ** (digits - 2)}"
        for digits in range(3, 13)
    )
    return f"CASE WHEN {column} < 100 THEN {column} {whens} ELSE {column} END"


def _empty_day() -> dict:
    return {
        "received": 0,
        "sources": [],
        "steps": {},
        "labels": [],
        "replied": 0,
        "outcomes": dict.fromkeys(OUTCOME_KEYS, 0),
        "queue": [],
        "end_to_end": [],
        "latency": {},
    }


def _histogram_rows(pairs) -> dict[tuple, int]:
    counts: dict[tuple, int] = {}
    for key, value, count in pairs:
        bucket = (key, two_digits(value))
        counts[bucket] = counts.get(bucket, 0) + count
    return counts


def compute_days(first: date, last: date) -> dict[date, dict]:
    """The raw figures of every local day from `first` to `last`, in one pass of eight queries.

    Each query groups by the day as well, so the result splits into one JSON-ready dict per
    day: what a `DashboardDay` stores, and what today's live figures look like.
    """
    span = Period("custom", first, last)
    days = span.days
    result = {day: _empty_day() for day in days}
    start, end = span.start, span.end
    submissions = Submission.objects.filter(
        received_at__gte=start, received_at__lt=end, is_trapped=False
    )
    drafts = Draft.objects.filter(created_at__gte=start, created_at__lt=end)

    # 1. Submissions per day and source (a named webhook source, else the channel).
    for index, channel, slug, name, count in (
        submissions.order_by()
        .annotate(day=day_index("received_at", span))
        .values_list("day", "channel", "source__slug", "source__name")
        .annotate(count=Count("pk"))
    ):
        figures = result[days[index]]
        figures["received"] += count
        figures["sources"].append([channel, slug or "", name or "", count])

    # 2. Steps that finished, per day and step: the funnel, failures, retries, fallbacks and
    # Claude's calls, tokens and cost.
    for row in (
        StepRun.objects.filter(finished_at__gte=start, finished_at__lt=end)
        .order_by()
        .annotate(day=day_index("finished_at", span))
        .values("day", "name")
        .annotate(
            executed=Count("pk", filter=~Q(status=StepRun.Status.SKIPPED)),
            succeeded=Count("pk", filter=Q(status=StepRun.Status.SUCCEEDED)),
            failed=Count("pk", filter=Q(status=StepRun.Status.FAILED)),
            retried=Count("pk", filter=Q(attempt__gt=1)),
            fallbacks=Count("pk", filter=~Q(fallback_reason="")),
            calls=Count("pk", filter=~Q(model="")),
            total_input=Sum("input_tokens"),
            total_output=Sum("output_tokens"),
            total_cache_read=Sum("cache_read_tokens"),
            cache_hits=Count("pk", filter=Q(cache_read_tokens__gt=0)),
            cost=Sum("cost_usd"),
        )
    ):
        step = {key: row[key] or 0 for key in STEP_SUMS}
        step["cost"] = str(row["cost"] or 0)
        result[days[row["day"]]]["steps"][row["name"]] = step

    # 3. Label mix of the leads received that day. The label is a subquery per submission (an
    # index lookup each): a join would let PostgreSQL hash the whole lead table for one day.
    # How many of them have replied to one of our emails since is counted in the same pass.
    label_of = Lead.objects.filter(pk=OuterRef("lead_id")).values("label")[:1]
    replied_of = Lead.objects.filter(pk=OuterRef("lead_id"), replied_at__isnull=False).values("pk")[
        :1
    ]
    for index, label, count, replied in (
        submissions.order_by()
        .annotate(
            day=day_index("received_at", span),
            label=Subquery(label_of),
            replied_lead=Subquery(replied_of),
        )
        .values_list("day", "label")
        .annotate(
            count=Count("lead_id", distinct=True),
            replied=Count("replied_lead", distinct=True),
        )
    ):
        result[days[index]]["labels"].append([label or "", count])
        result[days[index]]["replied"] += replied

    # 4. Drafts: auto-sent vs reviewed, and what reviewers did.
    for row in (
        with_edits(drafts)
        .order_by()
        .annotate(day=day_index("created_at", span))
        .values("day")
        .annotate(
            total=Count("pk"),
            waiting=Count("pk", filter=Q(status=Draft.Status.PENDING)),
            **{key: Count("pk", filter=condition) for key, condition in DRAFT_OUTCOMES.items()},
        )
    ):
        result[days[row["day"]]]["outcomes"] = {key: row[key] for key in OUTCOME_KEYS}

    # 5. Time in the queue of the drafts a human decided (whole seconds), and 6. end to end
    # latency of the runs that succeeded, as histograms per day.
    queue = (
        drafts.filter(_HUMAN, decided_at__isnull=False)
        .order_by()
        .annotate(
            day=day_index("created_at", span),
            value=Round(Seconds(F("decided_at"), F("created_at"))),
        )
        .values_list("day", "value")
        .annotate(count=Count("*"))
    )
    end_to_end = (
        PipelineRun.objects.filter(
            created_at__gte=start,
            created_at__lt=end,
            status=PipelineRun.Status.SUCCEEDED,
            finished_at__isnull=False,
        )
        .order_by()
        .annotate(
            day=day_index("created_at", span),
            value=Round(Seconds(F("finished_at"), F("created_at"))),
        )
        .values_list("day", "value")
        .annotate(count=Count("*"))
    )
    for key, rows in (("queue", queue), ("end_to_end", end_to_end)):
        for (index, value), count in _histogram_rows(
            (index, value, count) for index, value, count in rows if value is not None
        ).items():
            result[days[index]][key].append([value, count])

    # 7. Step latency (milliseconds) per day and step.
    for index, name, value, count in step_latency_rows(span):
        result[days[index]]["latency"].setdefault(name, []).append([value, count])
    return result


def step_latency_rows(span: Period) -> list[tuple[int, str, int, int]]:
    """(day index, step, duration to two digits, count) of the steps that succeeded in `span`.

    Counted from the covering index (finished_at, name, duration_ms) of succeeded steps; SQLite's
    planner would rather walk the finished_at index and read every row, so it is told which.
    """
    table = StepRun._meta.db_table
    hint = f" INDEXED BY {LATENCY_INDEX}" if connection.vendor == "sqlite" else ""
    adapt = connection.ops.adapt_datetimefield_value
    bounds = [adapt(_midnight(day + timedelta(days=1))) for day in span.days[:-1]]
    day_case = (
        "CASE "
        + " ".join(f"WHEN finished_at < %s THEN {index}" for index in range(len(bounds)))
        + f" ELSE {len(bounds)} END"
        if bounds
        else "0"
    )
    sql = (
        f"SELECT day, name, {_two_digits_sql('duration_ms')} AS bucket, COUNT(*)"  # noqa: S608
        f" FROM (SELECT {day_case} AS day, name, duration_ms FROM {table}{hint}"
        # The literal status lets SQLite see that the partial index covers the query.
        " WHERE status = 'succeeded' AND duration_ms IS NOT NULL AND finished_at >= %s"
        " AND finished_at < %s) steps GROUP BY day, name, bucket"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*bounds, adapt(span.start), adapt(span.end)])
        return cursor.fetchall()


def top_errors(period: Period) -> list[dict]:
    """The most frequent errors of the steps that failed in the period, from a partial index.

    Counted live over the whole period (error text is not copied into stored days); the literal
    status lets SQLite see that the index of failed steps covers the query.
    """
    table = StepRun._meta.db_table
    hint = f" INDEXED BY {FAILED_INDEX}" if connection.vendor == "sqlite" else ""
    sql = (
        f"SELECT name, SUBSTR(error, 1, {ERROR_PREFIX_LENGTH}) AS prefix, COUNT(*) AS count"  # noqa: S608
        f" FROM {table}{hint} WHERE status = 'failed' AND finished_at >= %s AND finished_at < %s"
        f" GROUP BY name, prefix ORDER BY count DESC, name, prefix LIMIT {TOP_ERRORS}"
    )
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(sql, [adapt(period.start), adapt(period.end)])
        return [
            {"name": name, "prefix": prefix, "count": count}
            for name, prefix, count in cursor.fetchall()
        ]


def _time_zone() -> str:
    return timezone.get_current_timezone_name()


def stored_days(first: date, last: date) -> dict[date, dict]:
    """The figures of the closed days from `first` to `last`: stored rows, the missing computed.

    One query reads the stored days; when some are missing, one pass computes the span from the
    first to the last missing day, and one query stores them.
    """
    from review.models import DashboardDay

    zone = _time_zone()
    found = dict(
        DashboardDay.objects.filter(time_zone=zone, day__gte=first, day__lte=last).values_list(
            "day", "figures"
        )
    )
    missing = [
        first + timedelta(days=offset)
        for offset in range((last - first).days + 1)
        if first + timedelta(days=offset) not in found
    ]
    if missing:
        computed = compute_days(missing[0], missing[-1])
        _store(zone, computed)
        found.update(computed)
    return found


def _store(zone: str, computed: dict[date, dict]) -> None:
    from review.models import DashboardDay

    now = timezone.now()
    DashboardDay.objects.bulk_create(
        [
            DashboardDay(day=day, time_zone=zone, figures=figures, computed_at=now)
            for day, figures in computed.items()
        ],
        update_conflicts=True,
        unique_fields=["time_zone", "day"],
        update_fields=["figures", "computed_at"],
    )


def rebuild_days(count: int = 2, *, within: int = 30) -> list[date]:
    """Compute again the `count` closed days of the last `within` stored longest ago.

    Days change after they close (drafts decided, runs finished, leads relabelled), so the
    cluster cycles through the last month: two days a minute, each day every quarter hour.
    """
    from review.models import DashboardDay

    zone = _time_zone()
    today = timezone.localdate()
    closed = [today - timedelta(days=offset) for offset in range(1, within + 1)]
    stored = dict(
        DashboardDay.objects.filter(time_zone=zone, day__in=closed).values_list(
            "day", "computed_at"
        )
    )
    oldest = sorted(closed, key=lambda day: (day in stored, stored.get(day)))[:count]
    for day in oldest:
        _store(zone, compute_days(day, day))
    return oldest


def dashboard_period(period: Period) -> dict:
    """Everything the period part of the dashboard shows, in a fixed number of queries.

    Closed days come from their stored figures (`stored_days`); today and later days are
    computed live; the most frequent errors are counted over the whole period.
    """
    today = timezone.localdate()
    days: dict[date, dict] = {}
    if period.first_day < today:
        days.update(stored_days(period.first_day, min(period.last_day, today - timedelta(days=1))))
    if period.last_day >= today:
        days.update(compute_days(max(period.first_day, today), period.last_day))

    leads_by_day = [(day, days[day]["received"]) for day in period.days]
    received = sum(count for _, count in leads_by_day)

    sources: dict[tuple, int] = {}
    labels: dict[str, int] = {}
    replied = 0
    trouble: dict[str, dict] = {}
    claude: dict[date, dict] = {}
    outcomes = dict.fromkeys(OUTCOME_KEYS, 0)
    histograms: dict[str, dict] = {"queue": {}, "end_to_end": {}, "latency": {}}
    for day in period.days:
        figures = days[day]
        for channel, slug, name, count in figures["sources"]:
            sources[(channel, slug, name)] = sources.get((channel, slug, name), 0) + count
        for label, count in figures["labels"]:
            labels[label] = labels.get(label, 0) + count
        replied += figures.get("replied", 0)
        for key in OUTCOME_KEYS:
            outcomes[key] += figures["outcomes"][key]
        for name, step in figures["steps"].items():
            by_step = trouble.setdefault(name, {"name": name})
            for key in ("executed", "succeeded", "failed", "retried", "fallbacks"):
                by_step[key] = by_step.get(key, 0) + step[key]
            if step["calls"]:
                spend = claude.setdefault(day, {"cost": Decimal(0)})
                for key in ("calls", "total_input", "total_output", "total_cache_read"):
                    spend[key] = spend.get(key, 0) + step[key]
                spend["cache_hits"] = spend.get("cache_hits", 0) + step["cache_hits"]
                spend["cost"] += Decimal(step["cost"])
        for key in ("queue", "end_to_end"):
            for value, count in figures[key]:
                pair = ("all", value)
                histograms[key][pair] = histograms[key].get(pair, 0) + count
        for name, pairs in figures["latency"].items():
            for value, count in pairs:
                pair = (name, value)
                histograms["latency"][pair] = histograms["latency"].get(pair, 0) + count

    def merged(key: str, points: tuple[int, ...]) -> dict:
        rows = [(group, value, count) for (group, value), count in histograms[key].items()]
        return _from_histogram(rows, points)

    by_source = [
        (name or f"via {channel}", count, f"source:{slug}" if slug else channel)
        for (channel, slug, name), count in sorted(
            sources.items(), key=lambda item: (-item[1], item[0][0], item[0][1])
        )
    ]
    reached = {stage: trouble.get(step, {}).get("succeeded", 0) for stage, step in FUNNEL_STEPS}

    errors = top_errors(period)

    return _present(
        period,
        leads_by_day=leads_by_day,
        received=received,
        by_source=by_source,
        reached=reached,
        replied=replied,
        labels=sorted(labels.items(), key=lambda item: (-item[1], item[0])),
        outcomes=outcomes,
        queue_time=merged("queue", (50, 90)).get("all", {}),
        end_to_end=merged("end_to_end", (50, 95)).get("all", {}),
        per_step=merged("latency", (50, 95)),
        trouble=trouble,
        errors=errors,
        claude=claude,
    )


def _present(period: Period, **figures) -> dict:
    """Turn the raw aggregates into charts (with their links) and table rows."""
    range_params = period.params()
    day_label = "%a %d" if len(period.days) <= 7 else "%d %b"

    leads_by_day = figures["leads_by_day"]
    received = figures["received"]
    leads_chart = charts.columns(
        "Leads received per day",
        [
            (
                day.strftime(day_label),
                count,
                str(count),
                _link("review:leads", **period.params(day)),
            )
            for day, count in leads_by_day
        ],
    )
    source_chart = charts.rows(
        "Leads by source",
        [
            (label, count, str(count), _link("review:leads", source=key, **range_params))
            for label, count, key in figures["by_source"]
        ],
    )

    reached = figures["reached"]
    funnel_rows = [("received", received, _link("review:leads", **range_params))]
    for stage, step in FUNNEL_STEPS:
        funnel_rows.append(
            (
                stage,
                reached[stage],
                _link("review:runs", step=step, step_status="succeeded", **range_params),
            )
        )
    # Leads received in the period who answered one of our emails (at any time since).
    funnel_rows.append(
        ("replied", figures.get("replied", 0), _link("review:leads", **range_params))
    )
    funnel = [
        {
            "stage": stage,
            "count": count,
            "rate": _rate(count, received),
            "step_rate": _rate(count, funnel_rows[index - 1][1]) if index else None,
            "href": href,
        }
        for index, (stage, count, href) in enumerate(funnel_rows)
    ]
    funnel_chart = charts.rows(
        "Funnel", [(row["stage"], row["count"], str(row["count"]), row["href"]) for row in funnel]
    )

    labels = [
        (label or "unlabelled", count, _link("review:leads", label=label or "none", **range_params))
        for label, count in figures["labels"]
    ]
    label_chart = charts.rows(
        "Label mix", [(label, count, str(count), href) for label, count, href in labels]
    )

    outcomes = figures["outcomes"]
    decided = outcomes["auto_sent"] + outcomes["reviewed"]
    share_chart = charts.rows(
        "Auto-sent vs reviewed",
        [
            (
                "auto-sent",
                outcomes["auto_sent"],
                str(outcomes["auto_sent"]),
                _link("review:leads", draft="auto_sent", **range_params),
            ),
            (
                "reviewed",
                outcomes["reviewed"],
                str(outcomes["reviewed"]),
                _link("review:leads", draft="reviewed", **range_params),
            ),
            (
                "waiting",
                outcomes["waiting"],
                str(outcomes["waiting"]),
                _link("review:queue"),
            ),
        ],
    )
    outcome_chart = charts.rows(
        "Reviewer outcomes",
        [
            (
                text,
                outcomes[key],
                str(outcomes[key]),
                _link("review:leads", draft=key, **range_params),
            )
            for key, text in (
                ("approved", "approved unedited"),
                ("edited", "edited"),
                ("rejected", "rejected"),
            )
        ],
    )

    order = _step_order()
    trouble = figures["trouble"]
    per_step = figures["per_step"]
    names = sorted(
        set(trouble) | set(per_step),
        key=lambda name: (order.index(name) if name in order else len(order), name),
    )
    step_rows = []
    for name in names:
        counts = trouble.get(name, {})
        latency = per_step.get(name, {})
        step_rows.append(
            {
                "name": name,
                "executed": counts.get("executed", 0),
                "failed": counts.get("failed", 0),
                "retried": counts.get("retried", 0),
                "fallbacks": counts.get("fallbacks", 0),
                "p50_ms": latency.get(50),
                "p95_ms": latency.get(95),
                "failed_href": _link(
                    "review:runs", step=name, step_status="failed", **range_params
                ),
            }
        )
    failure_chart = charts.rows(
        "Failures by step",
        [(row["name"], row["failed"], str(row["failed"]), row["failed_href"]) for row in step_rows],
        css="bad",
    )
    latency_chart = charts.rows(
        "Step latency p95 (ms)",
        [
            (
                row["name"],
                row["p95_ms"] or 0,
                f"{row['p95_ms'] or 0:.0f}",
                _link("review:runs", step=row["name"], **range_params),
            )
            for row in step_rows
        ],
        unit="ms",
    )
    errors = [
        {
            "step": row["name"],
            "error": row["prefix"],
            "count": row["count"],
            "href": _link(
                "review:runs",
                step=row["name"],
                step_status="failed",
                error=row["prefix"],
                **range_params,
            ),
        }
        for row in figures["errors"]
    ]

    claude_days = []
    totals = {
        "calls": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_read_tokens": 0,
        "cache_hits": 0,
        "cost": Decimal(0),
    }
    for day in period.days:
        row = figures["claude"].get(day, {})
        values = {
            "calls": row.get("calls") or 0,
            "input_tokens": row.get("total_input") or 0,
            "output_tokens": row.get("total_output") or 0,
            "cache_read_tokens": row.get("total_cache_read") or 0,
            "cache_hits": row.get("cache_hits") or 0,
            "cost": row.get("cost") or Decimal(0),
        }
        for key in totals:
            totals[key] += values[key]
        claude_days.append({"day": day, **values})
    cap = daily_cap()
    cost_chart = charts.columns(
        "Claude spend per day",
        [
            (
                row["day"].strftime(day_label),
                row["cost"],
                f"${row['cost']:.2f}",
                _link("review:runs", **period.params(row["day"])),
            )
            for row in claude_days
        ],
        line=cap if cap > 0 else None,
        line_label=f"cap ${cap:.2f}" if cap > 0 else "",
        unit="$",
    )

    end_to_end = figures["end_to_end"]
    queue_time = figures["queue_time"]
    return {
        "period": period,
        "range_params": range_params,
        "received": received,
        "leads_by_day": leads_by_day,
        "leads_chart": leads_chart,
        "by_source": figures["by_source"],
        "source_chart": source_chart,
        "funnel": funnel,
        "funnel_chart": funnel_chart,
        "labels": labels,
        "label_chart": label_chart,
        "outcomes": outcomes,
        "auto_share": _rate(outcomes["auto_sent"], decided),
        "share_chart": share_chart,
        "outcome_chart": outcome_chart,
        "queue_time": {
            "count": queue_time.get("count", 0),
            "p50_s": queue_time.get(50),
            "p90_s": queue_time.get(90),
        },
        "end_to_end": {
            "count": end_to_end.get("count", 0),
            "p50_s": end_to_end.get(50),
            "p95_s": end_to_end.get(95),
        },
        "step_rows": step_rows,
        "failure_chart": failure_chart,
        "latency_chart": latency_chart,
        "errors": errors,
        "claude_days": claude_days,
        "claude_totals": totals,
        "claude_per_lead": totals["cost"] / received if received else None,
        "daily_cap": cap,
        "cost_chart": cost_chart,
    }


def failed_error_groups(limit: int = 50) -> list[dict]:
    """Failed runs grouped by the step that failed and the start of its error, biggest first."""
    rows = (
        StepRun.objects.filter(status=StepRun.Status.FAILED, run__status=PipelineRun.Status.FAILED)
        .values("name", prefix=Substr("error", 1, ERROR_PREFIX_LENGTH))
        .annotate(runs=Count("run_id", distinct=True), last=Max("finished_at"))
        .order_by("-runs", "name", "prefix")[:limit]
    )
    return [
        {
            **row,
            "href": _link(
                "review:runs", step=row["name"], step_status="failed", error=row["prefix"]
            ),
        }
        for row in rows
    ]


def step_needs(run: PipelineRun) -> dict[str, tuple[str, ...]]:
    """Which steps each step of the run's pipeline reads (its input), by name."""
    try:
        return {step.name: step.needs for step in get_pipeline(run.pipeline_name).steps}
    except PipelineDefinitionError:
        return {}
