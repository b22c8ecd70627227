"""Operational endpoints that belong to no staff page."""

import hmac
import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, Min, Q
from django.http import Http404, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from pipeline.intake.receive import unanswered
from pipeline.models import StepRun, WorkerHeartbeat

logger = logging.getLogger(__name__)

# A worker that has not been seen for this long makes the queue "stale".
WORKER_STALE_AFTER = timedelta(minutes=2)


@require_GET
@never_cache
def healthz(request):
    """The database, the worker cluster's heartbeat and how long the oldest queued step waited.

    503 only when the database is unreachable: a stale cluster is reported, not fatal, so a load
    balancer keeps sending form posts (they are stored and wait for the workers).
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        now = timezone.now()
        beats = WorkerHeartbeat.objects.aggregate(
            last=Max("seen_at"),
            live=Count("pk", filter=Q(seen_at__gte=now - WORKER_STALE_AFTER)),
        )
        queue = StepRun.objects.filter(status=StepRun.Status.QUEUED).aggregate(
            depth=Count("pk"), oldest=Min("queued_at")
        )
        waiting = unanswered()
    except Exception as error:  # any database failure means "not healthy"
        logger.warning("healthz: database unreachable: %s", type(error).__name__)
        return JsonResponse({"database": "unreachable", "queue": "unknown"}, status=503)
    worker_seen = beats["last"]
    is_fresh = worker_seen is not None and now - worker_seen < WORKER_STALE_AFTER
    oldest = queue["oldest"]
    return JsonResponse(
        {
            "database": "ok",
            "queue": "ok" if is_fresh else "stale",
            "worker_seen": worker_seen.isoformat() if worker_seen else None,
            "cluster": {
                "heartbeat_age_seconds": round((now - worker_seen).total_seconds(), 1)
                if worker_seen
                else None,
                "live_workers": beats["live"],
            },
            "queue_depth": queue["depth"],
            "queue_age_seconds": _age(now, oldest),
            # Stored deliveries with no run yet (deferred, or a run that failed to start).
            "unprocessed_submissions": waiting["count"],
            "unprocessed_age_seconds": _age(now, waiting["oldest"]),
        }
    )


def _age(now, moment) -> float:
    return round(max((now - moment).total_seconds(), 0), 1) if moment else 0


@require_GET
@never_cache
def metrics(request):
    """Prometheus text format for a scraper holding METRICS_TOKEN; a 404 when none is set."""
    from prometheus_client import CONTENT_TYPE_LATEST

    from pipeline.metrics import render

    token = settings.METRICS_TOKEN
    if not token:
        raise Http404("metrics are off")
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        response = HttpResponse(
            "A bearer token is needed.\n", status=401, content_type="text/plain"
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(render(), content_type=CONTENT_TYPE_LATEST)
