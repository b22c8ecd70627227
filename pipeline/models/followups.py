from django.db import models

from pipeline.models.config import VersionedSettings
from pipeline.models.drafts import OutboundEmail
from pipeline.models.leads import Lead
from pipeline.models.runs import PipelineRun


class CadenceConfig(VersionedSettings):
    """Follow-up cadences per label. The newest row is in force; plans keep the steps they began with.

    cadences: {"high_intent": [{"day": 2, "instruction": "...", "auto_send": false}, ...], ...};
    a step's day counts from the first email's sending.
    """

    SETTINGS_FIELDS = ("cadences",)

    cadences = models.JSONField(default=dict)

    class Meta(VersionedSettings.Meta):
        pass

    def __str__(self) -> str:
        return f"Cadences v{self.pk}"


class FollowUpPlan(models.Model):
    """The follow-ups one lead gets after our first email, and whether they were stopped."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="follow_up_plans")
    # One plan per first email: starting it twice (a re-run of the send step) is a no-op.
    first_email = models.OneToOneField(
        OutboundEmail, on_delete=models.CASCADE, related_name="follow_up_plan"
    )
    label = models.CharField(max_length=20)
    # The cadence's steps when the plan began: later edits do not move a lead's due days.
    steps = models.JSONField(default=list)
    cadence_version = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=300, blank=True, default="")

    def __str__(self) -> str:
        return f"Follow-ups of lead {self.lead_id} ({self.label})"


class FollowUp(models.Model):
    """One follow-up of a plan: its run waits until the due time, drafts, decides and sends."""

    plan = models.ForeignKey(FollowUpPlan, on_delete=models.CASCADE, related_name="follow_ups")
    number = models.PositiveSmallIntegerField()
    run = models.OneToOneField(PipelineRun, on_delete=models.CASCADE, related_name="follow_up")
    due_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["plan", "number"], name="follow_up_unique_number")
        ]
        ordering = ["number"]

    def __str__(self) -> str:
        return f"Follow-up {self.number} of plan {self.plan_id}"
