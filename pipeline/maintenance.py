"""The periodic sweep (a django-q2 schedule): everything that recovers from lost work.

- the engine's sweep: steps whose worker died or whose queue message was lost;
- the outbox: emails left in `sending` by a dead worker become `unknown` for a human;
- intake: stored submissions whose run could not be started when they arrived;
- enrichment: expired cache rows.
"""

import logging
import time

from django_q.models import Schedule

from pipeline import engine
from pipeline.intake.receive import start_pending_runs
from pipeline.integrations import outbox
from pipeline.integrations.enrich.cache import purge_expired

logger = logging.getLogger(__name__)


def sweep() -> dict[str, int]:
    started = time.monotonic()
    counts = dict(engine.sweep())
    counts["emails_unknown"] = outbox.sweep_stuck_sending()
    counts["runs_started"] = start_pending_runs()
    counts["cache_purged"] = purge_expired()
    logger.info(
        "maintenance.sweep ms=%d %s",
        (time.monotonic() - started) * 1000,
        " ".join(f"{key}={value}" for key, value in counts.items()),
    )
    return counts


def ensure_schedule(*, using: str = "default") -> None:
    """Create (or repoint) the django-q2 schedule that runs sweep(); idempotent.

    Runs after every `migrate` (pipeline.apps), so deployments need no extra step.
    """
    Schedule.objects.using(using).update_or_create(
        name=engine.SWEEP_SCHEDULE_NAME,
        defaults={
            "func": "pipeline.maintenance.sweep",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )
