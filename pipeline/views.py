"""Operational endpoints that belong to no staff page."""

import logging
from datetime import timedelta

from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from pipeline.models import WorkerHeartbeat

logger = logging.getLogger(__name__)

# A worker that has not been seen for this long makes the queue "stale".
WORKER_STALE_AFTER = timedelta(minutes=2)


@require_GET
@never_cache
def healthz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        last_beat = WorkerHeartbeat.objects.order_by("-seen_at").values_list("seen_at", flat=True)
        worker_seen = last_beat.first()
    except Exception as error:  # any database failure means "not healthy"
        logger.warning("healthz: database unreachable: %s", type(error).__name__)
        return JsonResponse({"database": "unreachable", "queue": "unknown"}, status=503)
    is_fresh = worker_seen is not None and timezone.now() - worker_seen < WORKER_STALE_AFTER
    return JsonResponse(
        {
            "database": "ok",
            "queue": "ok" if is_fresh else "stale",
            "worker_seen": worker_seen.isoformat() if worker_seen else None,
        }
    )
