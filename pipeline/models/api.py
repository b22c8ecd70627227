from django.conf import settings
from django.db import models

from pipeline.models.leads import Lead


class ApiToken(models.Model):
    """One integration's key to /api/v1/. Only a SHA-256 of the token is stored."""

    class Scope(models.TextChoices):
        READ = "read", "read"
        READ_WRITE = "read_write", "read + write"

    name = models.CharField(max_length=200, help_text="Which integration uses it, e.g. 'Zapier'.")
    scope = models.CharField(max_length=20, choices=Scope.choices, default=Scope.READ)
    # The first characters of the token, shown in lists so staff can tell keys apart.
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: API_RATE_LIMIT_PER_MINUTE."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="api_tokens",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def can_write(self) -> bool:
        return self.scope == self.Scope.READ_WRITE


class LeadOutcome(models.Model):
    """What became of a lead, reported by the sales team's tools (or staff)."""

    class Outcome(models.TextChoices):
        WON = "won"
        LOST = "lost"
        NOT_INTERESTED = "not_interested"
        MEETING_BOOKED = "meeting_booked"

    # Outcomes after which nobody should chase the lead again.
    CLOSING = (Outcome.WON, Outcome.LOST, Outcome.NOT_INTERESTED)

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="outcomes")
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    note = models.TextField(blank=True, default="")
    token = models.ForeignKey(
        ApiToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="outcomes"
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    recorded_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The sender's Idempotency-Key: a retried POST finds its outcome instead of adding another.
    idempotency_key = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["-recorded_at", "-pk"]
        indexes = [models.Index(fields=["lead", "-recorded_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["token", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="outcome_unique_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.outcome} for lead {self.lead_id}"
