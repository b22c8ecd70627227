from django.conf import settings
from django.core.exceptions import ValidationError
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
    """Leads from this webhook source go to this owner (before country and size rules)."""

    source = models.OneToOneField(
        WebhookSource, on_delete=models.CASCADE, related_name="owner_rule"
    )
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"{self.source} -> {self.owner}"


class CountryOwnerRule(models.Model):
    """Leads from this country go to this owner (after a source rule; before size rules)."""

    country = models.CharField(
        max_length=2, unique=True, help_text="ISO 3166-1 alpha-2 code: DE, GB, US."
    )
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["country"]

    def __str__(self) -> str:
        return f"{self.country} -> {self.owner}"

    def clean(self) -> None:
        from pipeline.integrations.enrich.vocab import country_code

        code = country_code(self.country)
        if not code:
            raise ValidationError(
                {"country": f"{self.country!r} is not an ISO 3166-1 alpha-2 country code."}
            )
        self.country = code


class SizeOwnerRule(models.Model):
    """Leads from companies of this size go to this owner (after source and country rules).

    A company's size is the smallest head count it states ("51-200" counts as 51); the range is
    inclusive, and open-ended when max_employees is empty. Ranges never overlap.
    """

    min_employees = models.PositiveIntegerField()
    max_employees = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: no upper limit."
    )
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["min_employees"]

    def __str__(self) -> str:
        return f"{self.range_text} employees -> {self.owner}"

    @property
    def range_text(self) -> str:
        if self.max_employees is None:
            return f"{self.min_employees}+"
        return f"{self.min_employees}-{self.max_employees}"

    def clean(self) -> None:
        if self.min_employees is None:
            return  # the field's own error says it is required
        if self.max_employees is not None and self.min_employees > self.max_employees:
            raise ValidationError({"max_employees": "The upper limit is below the lower one."})
        others = SizeOwnerRule.objects.exclude(pk=self.pk)
        if self.max_employees is not None:
            others = others.filter(min_employees__lte=self.max_employees)
        overlapping = others.filter(
            Q(max_employees__isnull=True) | Q(max_employees__gte=self.min_employees)
        ).first()
        if overlapping is not None:
            raise ValidationError(
                f"{self.range_text} employees overlaps the rule for "
                f"{overlapping.range_text} employees ({overlapping.owner})."
            )


class OwnerRotation(models.Model):
    """The round-robin's place: who got the last lead (a single row, pk=1)."""

    last_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"Round-robin after {self.last_owner_id}"
