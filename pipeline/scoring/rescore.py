"""Re-score the drafts waiting in the queue with a new scoring version, in the background.

start_rescore() makes a RescoreJob and hands its id to django-q2; run_rescore_job() (the worker)
re-scores each pending draft from its run's stored outputs (no Claude call), updates the score
and decision the queue shows, and counts progress on the job row for the page's progress bar.
A draft that now clears the auto-send bar is not sent: it stays pending and is listed on the
job, and only confirm_rescore() (an admin's one confirmation) approves those drafts.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from pipeline.models import (
    Draft,
    Lead,
    OperationsSettings,
    PipelineRun,
    RescoreJob,
    ScoringConfig,
    StepRun,
)
from pipeline.schemas import ScoredLead
from pipeline.scoring.stored import criteria_of, load_stored, redecide, rescore

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 25
TASK = "pipeline.scoring.rescore.run_rescore_job"


def start_rescore(config: ScoringConfig, *, by, enqueue=None) -> RescoreJob:
    """The job re-scoring the pending drafts with `config`; one running job at a time."""
    running = RescoreJob.objects.filter(
        status__in=[RescoreJob.Status.QUEUED, RescoreJob.Status.RUNNING]
    ).first()
    if running is not None:
        return running
    total = Draft.objects.filter(status=Draft.Status.PENDING).count()
    job = RescoreJob.objects.create(config=config, created_by=by, total=total)
    if enqueue is None:
        from django_q.tasks import async_task

        transaction.on_commit(lambda: async_task(TASK, job.pk, task_name=f"rescore-{job.pk}"))
    else:
        enqueue(job.pk)
    return job


def run_rescore_job(job_id: int) -> None:
    claimed = RescoreJob.objects.filter(pk=job_id, status=RescoreJob.Status.QUEUED).update(
        status=RescoreJob.Status.RUNNING
    )
    if not claimed:
        return
    job = RescoreJob.objects.select_related("config").get(pk=job_id)
    try:
        _rescore_pending(job)
    except Exception as exc:  # the page must say it failed rather than spin forever
        logger.exception("rescore.failed job_id=%s", job_id)
        RescoreJob.objects.filter(pk=job_id).update(
            status=RescoreJob.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise


def _rescore_pending(job: RescoreJob) -> None:
    config = job.config
    criteria = criteria_of(config)
    paused = OperationsSettings.load().auto_send_paused
    pending = list(
        Draft.objects.filter(status=Draft.Status.PENDING)
        .order_by("pk")
        .values_list("pk", "run_id", "lead_id", "score", "version")
    )
    RescoreJob.objects.filter(pk=job.pk).update(total=len(pending))
    stored = load_stored([row[1] for row in pending])
    outputs = dict(
        StepRun.objects.filter(run_id__in=list(stored), name="score_final").values_list(
            "run_id", "output"
        )
    )
    done = changed = 0
    clears_bar: list[dict] = []
    for draft_id, run_id, lead_id, score_before, version in pending:
        lead = stored.get(run_id)
        if lead is not None:
            score = rescore(criteria, lead).model_copy(update={"criteria_version": config.version})
            decision = redecide(config, lead, score, auto_send_paused=paused)
            if decision.action == "auto_send":
                clears_bar.append(
                    {
                        "draft_id": draft_id,
                        "version": version,
                        "lead_id": lead_id,
                        "lead": lead.lead_name,
                        "score_before": score_before,
                        "score": score.value,
                    }
                )
                decision = decision.model_copy(
                    update={
                        "action": "review",
                        "reason": f"Re-scored with v{config.version}: {decision.reason} "
                        "Waiting for an admin to confirm the auto-send.",
                    }
                )
            if _store(draft_id, run_id, lead_id, score, decision, outputs.get(run_id)):
                changed += score.value != score_before
        done += 1
        if done % PROGRESS_EVERY == 0:
            RescoreJob.objects.filter(pk=job.pk).update(done=done, changed=changed)
    RescoreJob.objects.filter(pk=job.pk).update(
        done=done,
        changed=changed,
        clears_bar=clears_bar,
        status=RescoreJob.Status.DONE,
        finished_at=timezone.now(),
    )
    logger.info("rescore.done job_id=%s drafts=%s changed=%s", job.pk, done, changed)


def _store(draft_id, run_id, lead_id, score, decision, final_output) -> bool:
    """Write the new score where the queue, the lead and the run read it; False when a reviewer
    decided the draft in the meantime (then nothing is written)."""
    reason = decision.reason[:500]
    with transaction.atomic():
        updated = Draft.objects.filter(pk=draft_id, status=Draft.Status.PENDING).update(
            score=score.value, decision=decision.action, decision_reason=reason
        )
        if not updated:
            return False
        Lead.objects.filter(pk=lead_id).update(score=score.value)
        PipelineRun.objects.filter(pk=run_id).update(
            decision=decision.action, decision_reason=reason
        )
        if final_output:
            scored = ScoredLead(score=score, decision=decision)
            StepRun.objects.filter(run_id=run_id, name="score_final").update(
                output=scored.model_dump(mode="json")
            )
    return True


def confirm_rescore(job: RescoreJob, *, by) -> tuple[int, int]:
    """Approve the drafts the job listed as clearing the bar (still pending and unchanged).

    Returns (approved, skipped). A second confirmation does nothing.
    """
    from pipeline.actions import approve_draft

    claimed = RescoreJob.objects.filter(pk=job.pk, status=RescoreJob.Status.DONE).update(
        status=RescoreJob.Status.CONFIRMED
    )
    if not claimed:
        return 0, 0
    approved = skipped = 0
    for entry in job.clears_bar:
        draft = Draft.objects.filter(pk=entry["draft_id"], status=Draft.Status.PENDING).first()
        if draft is None:
            skipped += 1
            continue
        # The version the admin saw listed: a draft edited since is not approved blindly.
        result = approve_draft(draft, by=by, version=entry["version"])
        if result.status == "done":
            approved += 1
        else:
            skipped += 1
    logger.info("rescore.confirmed job_id=%s approved=%s skipped=%s", job.pk, approved, skipped)
    return approved, skipped
