"""The periodic sweep (a django-q2 schedule): everything that recovers from lost work.

- the engine's sweep: steps whose worker died or whose queue message was lost;
- reviewer approvals whose undo window is over but whose release task was lost;
- the outbox: emails left in `sending` by a dead worker become `unknown` for a human;
- intake: stored submissions whose run could not be started when they arrived;
- enrichment: expired cache rows;
- escalation: drafts waiting in review past the SLA, and notifications whose retry is due;
- the gate: runs waiting for a decision on a draft that is no longer pending (nobody can
  decide it any more), reported so a human looks.
"""

import logging
import time

from django.db.models import Q
from django_q.models import Schedule

from pipeline import actions, engine, notifications
from pipeline.enrichment import purge_expired
from pipeline.intake.receive import start_pending_runs
from pipeline.integrations import outbox
from pipeline.models import Draft, StepRun
from pipeline.pipelines import GATE

logger = logging.getLogger(__name__)


def sweep() -> dict[str, int]:
    started = time.monotonic()
    counts = dict(engine.sweep())
    counts["approvals_released"] = actions.release_due_approvals()
    counts["emails_unknown"] = outbox.sweep_stuck_sending()
    counts["runs_started"] = start_pending_runs()
    counts["cache_purged"] = purge_expired()
    counts["gates_stranded"] = len(report_stranded_gates())
    counts["reviews_escalated"] = notifications.escalate_overdue_reviews()
    counts["notifications_sent"] = notifications.deliver_due()
    logger.info(
        "maintenance.sweep ms=%d %s",
        (time.monotonic() - started) * 1000,
        " ".join(f"{key}={value}" for key, value in counts.items()),
    )
    return counts


def report_stranded_gates() -> list[int]:
    """Runs whose gate waits on a draft that is no longer pending; logged, ids returned.

    The review queue lists pending drafts only, so such a run would wait for ever unseen.
    """
    waiting = StepRun.objects.filter(name=GATE, status=StepRun.Status.WAITING).values_list(
        "run_id", "output"
    )
    draft_ids = {run_id: (output or {}).get("draft_id") for run_id, output in waiting}
    # An approval inside its undo window (send_at set) is not stranded: its release is due.
    pending = set(
        Draft.objects.filter(pk__in=draft_ids.values())
        .filter(
            Q(status=Draft.Status.PENDING) | Q(status=Draft.Status.APPROVED, send_at__isnull=False)
        )
        .values_list("pk", flat=True)
    )
    stranded = sorted(run_id for run_id, draft_id in draft_ids.items() if draft_id not in pending)
    if stranded:
        logger.warning(
            "maintenance.gates_stranded runs=%s (waiting on a draft that is not pending)",
            ",".join(map(str, stranded[:50])),
        )
    return stranded


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
