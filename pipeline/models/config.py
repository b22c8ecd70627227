"""Business settings that admins change at run time. Versioned: a new row per change."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models, transaction

from pipeline.agents.defaults import AUTO_SEND_DEFAULTS, AutoSendPolicy  # noqa: F401


class VersionConflict(Exception):
    """Someone saved a newer version after the one the editor started from."""

    def __init__(self, based_on: int | None, current: VersionedSettings | None) -> None:
        self.based_on = based_on
        self.current = current
        who = current.created_by.get_username() if current and current.created_by else "someone"
        when = current.created_at.strftime("%Y-%m-%d %H:%M") if current else ""
        super().__init__(
            f"Not saved: {who} saved version {current.version if current else '?'} at {when} "
            f"after you opened version {based_on}. Reload to see their change, then edit again."
        )


class VersionedSettings(models.Model):
    """A settings row that is never edited: every change is a new row, the newest is in force.

    `SETTINGS_FIELDS` names the fields a version consists of (copied on restore, compared by the
    diff); the bookkeeping fields (note, created_at, created_by) say who changed what and why.
    """

    SETTINGS_FIELDS: ClassVar[tuple[str, ...]] = ()

    note = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        abstract = True
        get_latest_by = "pk"

    @property
    def version(self) -> int:
        return self.pk

    @classmethod
    def current(cls):
        return cls.objects.select_related("created_by").order_by("-pk").first()

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.SETTINGS_FIELDS}

    @classmethod
    def save_version(cls, values: dict[str, Any], *, by, note: str, based_on: int | None):
        """Store `values` as the new version in force, unless a version newer than `based_on`
        exists (then VersionConflict: a second admin never silently overwrites the first).

        The newest row is locked first (PostgreSQL; SQLite's IMMEDIATE transactions lock the
        file), and the check for a newer row is a fresh statement after the lock, so it also
        sees a row committed by the transaction it waited for.
        """
        with transaction.atomic():
            locked = cls.objects.select_for_update().order_by("-pk").values_list("pk", flat=True)
            list(locked[:1])
            newer = cls.objects.filter(pk__gt=based_on or 0)
            if newer.exists():
                raise VersionConflict(based_on, cls.current())
            unknown = set(values) - set(cls.SETTINGS_FIELDS)
            if unknown:
                raise ValueError(f"not settings fields: {', '.join(sorted(unknown))}")
            return cls.objects.create(**values, note=note[:300], created_by=by)


class CompanyProfile(VersionedSettings):
    """Who the drafts speak for. The newest row is the one in force."""

    SETTINGS_FIELDS = (
        "company_name",
        "what_we_sell",
        "tone",
        "sender_name",
        "sender_email",
        "signature",
        "booking_link",
        "facts",
        "careers_url",
        "support_url",
        "partnerships_email",
    )

    company_name = models.CharField(max_length=200)
    what_we_sell = models.TextField()
    tone = models.CharField(max_length=300, default="warm, direct, no jargon")
    sender_name = models.CharField(max_length=200)
    # The address replies go out from (with sender_name); empty: DEFAULT_FROM_EMAIL's address.
    # The mail server must be allowed to send for its domain (SPF/DKIM).
    sender_email = models.EmailField(blank=True, default="")
    signature = models.TextField()
    booking_link = models.CharField(max_length=500, blank=True, default="")
    # Facts a draft may state (pricing, hosting, certifications); anything else it must not claim.
    facts = models.JSONField(default=list, blank=True)
    careers_url = models.CharField(max_length=500, blank=True, default="")
    support_url = models.CharField(max_length=500, blank=True, default="")
    partnerships_email = models.CharField(max_length=320, blank=True, default="")

    class Meta(VersionedSettings.Meta):
        pass

    def __str__(self) -> str:
        return f"{self.company_name} (v{self.pk})"


class ScoringConfig(VersionedSettings):
    """Scoring criteria and thresholds. The newest row is in force; runs record the version used."""

    SETTINGS_FIELDS = (
        "criteria",
        "auto_send_threshold",
        "auto_send_labels",
        "auto_send_min_confidence",
        "review_floor",
    )

    criteria = models.JSONField(default=list)
    auto_send_threshold = models.PositiveSmallIntegerField(default=AUTO_SEND_DEFAULTS.threshold)
    # Labels whose drafts may be sent without review when above the threshold.
    auto_send_labels = models.JSONField(default=list)
    # How sure the classifier must be of its label before a draft may be sent without review.
    auto_send_min_confidence = models.FloatField(default=AUTO_SEND_DEFAULTS.min_confidence)
    # Low-intent leads scoring below this get no draft (they wait in review without one).
    review_floor = models.PositiveSmallIntegerField(default=0)

    class Meta(VersionedSettings.Meta):
        pass

    def __str__(self) -> str:
        return f"Scoring v{self.pk}"


class RescoreJob(models.Model):
    """Re-scoring the pending drafts with one scoring version, in the background.

    The worker fills in progress as it goes; drafts that now clear the auto-send bar are only
    listed (`clears_bar`), never sent, until an admin confirms them.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        CONFIRMED = "confirmed"  # the admin confirmed the listed drafts; they went to send

    config = models.ForeignKey(ScoringConfig, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    # [{"draft_id", "version", "lead", "score_before", "score", "reason"}] awaiting confirmation.
    clears_bar = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Re-score job {self.pk} ({self.status}, {self.done}/{self.total})"

    @property
    def percent(self) -> int:
        return 100 if not self.total else round(100 * self.done / self.total)

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED, self.Status.CONFIRMED)


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
    def load(cls) -> OperationsSettings:
        settings_row, _ = cls.objects.get_or_create(pk=1)
        return settings_row
