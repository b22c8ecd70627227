"""Business settings that admins change at run time. Versioned: a new row per change."""

from django.conf import settings
from django.db import models


class CompanyProfile(models.Model):
    """Who the drafts speak for. The newest row is the one in force."""

    company_name = models.CharField(max_length=200)
    what_we_sell = models.TextField()
    tone = models.CharField(max_length=300, default="warm, direct, no jargon")
    sender_name = models.CharField(max_length=200)
    signature = models.TextField()
    booking_link = models.CharField(max_length=500, blank=True, default="")
    # Facts a draft may state (pricing, hosting, certifications); anything else it must not claim.
    facts = models.JSONField(default=list, blank=True)
    careers_url = models.CharField(max_length=500, blank=True, default="")
    support_url = models.CharField(max_length=500, blank=True, default="")
    partnerships_email = models.CharField(max_length=320, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        get_latest_by = "pk"

    def __str__(self) -> str:
        return f"{self.company_name} (v{self.pk})"

    @classmethod
    def current(cls) -> "CompanyProfile | None":
        return cls.objects.order_by("-pk").first()


class ScoringConfig(models.Model):
    """Scoring criteria and thresholds. The newest row is in force; runs record the version used."""

    criteria = models.JSONField(default=list)
    auto_send_threshold = models.PositiveSmallIntegerField(default=75)
    # Labels whose drafts may be sent without review when above the threshold.
    auto_send_labels = models.JSONField(default=list)
    note = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        get_latest_by = "pk"

    def __str__(self) -> str:
        return f"Scoring v{self.pk}"

    @property
    def version(self) -> int:
        return self.pk

    @classmethod
    def current(cls) -> "ScoringConfig | None":
        return cls.objects.order_by("-pk").first()


class OperationsSettings(models.Model):
    """Switches admins flip at run time; a single row (pk=1)."""

    auto_send_paused = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        verbose_name_plural = "operations settings"
        permissions = [("change_settings", "Can change scoring and operations settings")]

    def __str__(self) -> str:
        return "Operations settings"

    @classmethod
    def load(cls) -> "OperationsSettings":
        settings_row, _ = cls.objects.get_or_create(pk=1)
        return settings_row
