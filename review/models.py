"""What each reviewer chose for themselves: keyboard shortcuts and saved queue filters."""

from django.conf import settings
from django.db import models

MAX_SAVED_FILTERS = 12


class ReviewerSettings(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reviewer_settings"
    )
    # WCAG 2.1.4: single-key shortcuts can be turned off (speech input types letters too).
    single_key_shortcuts = models.BooleanField(default=True)
    # [{"name": "Spam today", "query": "label=spam&age=24h"}], the reviewer's own order.
    saved_filters = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name_plural = "reviewer settings"

    def __str__(self) -> str:
        return f"Settings of user {self.user_id}"

    @classmethod
    def of(cls, user) -> "ReviewerSettings":
        """The user's settings; defaults (unsaved) until they change something."""
        found = cls.objects.filter(user=user).first()
        return found or cls(user=user)


class DashboardDay(models.Model):
    """One closed local day's dashboard aggregates, so a period sums rows instead of scanning.

    `figures` holds counts per source, step, label and draft outcome, and latency histograms
    (values to two significant digits); no lead's data. Keyed by the time zone the day is
    local to. Rebuilt in rotation by the worker cluster (days change after they close: drafts
    are decided, runs finish); today is always computed live.
    """

    day = models.DateField()
    time_zone = models.CharField(max_length=64)
    figures = models.JSONField()
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["time_zone", "day"], name="dashboard_day_unique")
        ]

    def __str__(self) -> str:
        return f"Dashboard figures of {self.day} ({self.time_zone})"
