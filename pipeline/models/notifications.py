from django.conf import settings
from django.db import models
from django.db.models import Q

from pipeline.models.drafts import Draft
from pipeline.models.leads import Lead, WebhookSource


class Notification(models.Model):
    """One message to a person or channel about a lead, delivered by a worker with retries.

    `key` names the event (e.g. "review_sla:draft:12:slack"): an event notifies once per channel.
    """

    class Channel(models.TextChoices):
        EMAIL = "email"
        SLACK = "slack"

    class State(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"

    event = models.CharField(max_length=40)
    key = models.CharField(max_length=200, unique=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="notifications")
    draft = models.ForeignKey(Draft, null=True, blank=True, on_delete=models.SET_NULL)
    recipient = models.CharField(max_length=320, blank=True, default="")
    title = models.CharField(max_length=300)
    reason = models.CharField(max_length=500, blank=True, default="")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    # Attempts claimed so far (a claim counts even if its worker died before recording it).
    attempts = models.PositiveSmallIntegerField(default=0)
    # When a retry may be claimed (backoff, Slack's Retry-After).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # The claimed attempt is its worker's until then; past it, the worker died and the sweep
    # delivers it again.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state="pending"),
                name="notification_due_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} ({self.channel}) for lead {self.lead_id}: {self.state}"


class OwnerRule(models.Model):
    """Leads from this webhook source go to this owner; other leads are shared round-robin."""

    source = models.OneToOneField(
        WebhookSource, on_delete=models.CASCADE, related_name="owner_rule"
    )
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"{self.source} -> {self.owner}"


class OwnerRotation(models.Model):
    """The round-robin's place: who got the last lead (a single row, pk=1)."""

    last_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"Round-robin after {self.last_owner_id}"
