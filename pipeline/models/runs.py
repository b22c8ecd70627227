from django.db import models
from django.db.models import Q


class PipelineRun(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        WAITING = "waiting"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"
        REJECTED = "rejected"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.REJECTED)
    # No step of a stopped run starts, retries or readies a successor; a step still running
    # when its run stopped finishes into it and starts nothing. A rejected run is not stopped:
    # its draft was refused, but a side branch already under way (the CRM write) still ends.
    STOPPED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    lead = models.ForeignKey("pipeline.Lead", on_delete=models.CASCADE, related_name="runs")
    submission = models.ForeignKey(
        "pipeline.Submission", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    pipeline_name = models.CharField(max_length=80)
    pipeline_version = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    # A step fell back from claude to rules (or similar): the run finished, but not at its best.
    is_degraded = models.BooleanField(default=False)
    # Options for this run, e.g. {"dry_run": true} from the CLI.
    options = models.JSONField(default=dict, blank=True)
    decision = models.CharField(max_length=20, blank=True, default="")
    decision_reason = models.CharField(max_length=500, blank=True, default="")
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "-created_at"]),
            models.Index(fields=["lead", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} ({self.pipeline_name} v{self.pipeline_version}, {self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


class StepRun(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        SKIPPED = "skipped"
        WAITING = "waiting"

    DONE = (Status.SUCCEEDED, Status.SKIPPED)

    run = models.ForeignKey(PipelineRun, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=80)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempt = models.PositiveSmallIntegerField(default=0)
    # Earliest time the step may start (retry backoff).
    not_before = models.DateTimeField(null=True, blank=True)
    # A waiting timer step: the sweep completes it at this time (unless it was cancelled first).
    wake_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    worker_id = models.CharField(max_length=120, blank=True, default="")
    # When the step became ready (its last need finished) and when it was handed to the queue.
    ready_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    input_digest = models.CharField(max_length=64, blank=True, default="")
    output = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    traceback = models.TextField(blank=True, default="")
    skip_reason = models.CharField(max_length=300, blank=True, default="")
    wait_reason = models.CharField(max_length=300, blank=True, default="")
    strategy = models.CharField(max_length=20, blank=True, default="")
    fallback_reason = models.CharField(max_length=500, blank=True, default="")
    model = models.CharField(max_length=80, blank=True, default="")
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cache_read_tokens = models.PositiveIntegerField(default=0)
    cache_write_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=10, decimal_places=6, default=0)
    llm_latency_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "name"], name="steprun_unique_name_per_run")
        ]
        indexes = [
            # The sweeper: running steps by lease, queued steps by age.
            models.Index(
                fields=["status", "lease_expires_at"],
                name="steprun_sweep_idx",
                condition=Q(status__in=["queued", "running"]),
            ),
            models.Index(fields=["finished_at"], name="steprun_finished_idx"),
            # The sweep's due timers: a small set, found by time.
            models.Index(
                fields=["wake_at"],
                name="steprun_timer_idx",
                condition=Q(status="waiting", wake_at__isnull=False),
            ),
            # The dashboard's step latency percentiles, counted from the index alone: a range
            # of finishing times (today, or the days being stored), then what is counted.
            models.Index(
                fields=["finished_at", "name", "duration_ms"],
                name="steprun_latency_idx",
                condition=Q(status="succeeded"),
            ),
            # The dashboard's most frequent errors of a period: failed steps by finishing time.
            models.Index(
                fields=["finished_at"],
                name="steprun_failed_finished_idx",
                condition=Q(status="failed"),
            ),
            # Failed runs grouped by step and error (the bulk retry page), a small set.
            models.Index(
                fields=["name", "run"],
                name="steprun_failed_idx",
                condition=Q(status="failed"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} of run {self.run_id} ({self.status})"


class WorkerHeartbeat(models.Model):
    """Last time a worker of a cluster did something; read by /healthz."""

    worker = models.CharField(max_length=120, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.worker} at {self.seen_at:%Y-%m-%d %H:%M:%S}"
