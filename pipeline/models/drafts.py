from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from pipeline.models.leads import Lead
from pipeline.models.runs import PipelineRun, StepRun

# A flag the gate adds to the draft of a lead the decision called possible spam (no reply was
# written): the review queue offers to discard it with one key.
POSSIBLE_SPAM_FLAG = "possible_spam"


class Draft(models.Model):
    """The first reply to a lead, written by the drafting agent and decided by code or a human.

    A lead that waits for a human without a drafted reply (possible spam, low intent below the
    review floor) has a draft with an empty body, so it still stands in the review queue.
    """

    class Status(models.TextChoices):
        PENDING = "pending"  # waiting in the review queue
        APPROVED = "approved"  # approved (auto or by a reviewer); the email is in the outbox
        REJECTED = "rejected"
        SUPERSEDED = "superseded"  # replaced by a newer draft of the same run (regenerate)

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="drafts")
    run = models.ForeignKey(PipelineRun, on_delete=models.CASCADE, related_name="drafts")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    # Optimistic concurrency: every save bumps it; a save naming an older version is refused.
    version = models.PositiveIntegerField(default=1)
    label = models.CharField(max_length=20, blank=True, default="")
    confidence = models.FloatField(null=True, blank=True)
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    flags = models.JSONField(default=list, blank=True)
    decision = models.CharField(max_length=20, blank=True, default="")
    decision_reason = models.CharField(max_length=500, blank=True, default="")
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_drafts",
    )
    # Soft claim: who has the draft open; shown to others, expires on its own.
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="claimed_drafts",
    )
    claimed_until = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="decided_drafts",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reject_reason = models.CharField(max_length=500, blank=True, default="")
    # A reviewer's approval holds the reply until then (the undo window); cleared once the
    # approval is released to the pipeline, after which nothing can take it back.
    send_at = models.DateTimeField(null=True, blank=True)
    # A snoozed draft stays pending but leaves the queue until then.
    snoozed_until = models.DateTimeField(null=True, blank=True)
    # "I'll write it myself": the assignee owes the person a reply of their own by then;
    # cleared when they say it is done.
    reply_due_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["-score", "created_at"],
                name="draft_queue_idx",
                condition=Q(status="pending"),
            ),
            models.Index(fields=["status", "label"]),
            # The queue sorted oldest or newest first.
            models.Index(
                fields=["created_at", "id"],
                name="draft_pending_age_idx",
                condition=Q(status="pending"),
            ),
            # The dashboard's period: drafts created between two moments.
            models.Index(fields=["created_at"], name="draft_created_idx"),
        ]
        permissions = [("review_draft", "Can approve, edit, reject and regenerate drafts")]

    def __str__(self) -> str:
        return f"Draft {self.pk} for lead {self.lead_id} ({self.status})"

    @property
    def has_reply(self) -> bool:
        return bool(self.body.strip())

    @property
    def is_possible_spam(self) -> bool:
        return self.label == "spam" or POSSIBLE_SPAM_FLAG in (self.flags or [])

    def is_claim_held(self, now: datetime | None = None) -> bool:
        """Does someone hold the soft claim (has the draft open) at `now`?"""
        now = now or timezone.now()
        return (
            self.claimed_by_id is not None
            and self.claimed_until is not None
            and self.claimed_until > now
        )


class DraftRevision(models.Model):
    """Every text a draft has had: the agent's first, each edit, each regeneration."""

    draft = models.ForeignKey(Draft, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    subject = models.CharField(max_length=300)
    body = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    instruction = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["draft", "number"], name="revision_unique_number")
        ]
        ordering = ["number"]

    def __str__(self) -> str:
        return f"Revision {self.number} of draft {self.draft_id}"


class ReviewAction(models.Model):
    """Audit trail: who did what to which draft or lead, and when."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="actions")
    draft = models.ForeignKey(
        Draft, null=True, blank=True, on_delete=models.CASCADE, related_name="actions"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    action = models.CharField(max_length=40)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.action} on lead {self.lead_id}"


class OutboundEmail(models.Model):
    """The outbox. queued -> sending -> sent | failed | unknown; never sent twice."""

    class State(models.TextChoices):
        QUEUED = "queued"
        SENDING = "sending"
        SENT = "sent"
        FAILED = "failed"
        # We crashed between handing the message to SMTP and recording it: a human checks.
        UNKNOWN = "unknown"
        CANCELLED = "cancelled"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="emails")
    run = models.ForeignKey(
        PipelineRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="emails"
    )
    step_run = models.ForeignKey(
        StepRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="emails"
    )
    draft = models.ForeignKey(
        Draft, null=True, blank=True, on_delete=models.SET_NULL, related_name="emails"
    )
    # One email per purpose per run (e.g. "first_reply"): the stable key for idempotency.
    kind = models.CharField(max_length=40, default="first_reply")
    to_email = models.CharField(max_length=320)
    from_email = models.CharField(max_length=320)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    message_id = models.CharField(max_length=300, blank=True, default="")
    # Threading: a follow-up answers our earlier emails (In-Reply-To the first, References all).
    in_reply_to = models.CharField(max_length=300, blank=True, default="")
    references = models.TextField(blank=True, default="")
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    sending_started_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # An email provider's own id for the message (its webhooks name it), and the latest
    # tracking event it reported: delivered, deferred, bounced, complained, opened, ...
    provider_message_id = models.CharField(max_length=200, blank=True, default="", db_index=True)
    delivery_status = models.CharField(max_length=20, blank=True, default="")
    delivery_updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "kind"],
                condition=Q(run__isnull=False),
                name="outbound_unique_kind_per_run",
            )
        ]
        indexes = [models.Index(fields=["state", "created_at"])]
        permissions = [
            ("resolve_email", "Can record whether an email of unknown fate was delivered")
        ]

    def __str__(self) -> str:
        return f"Email {self.pk} to lead {self.lead_id} ({self.state})"
