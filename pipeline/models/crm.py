from django.db import models

from pipeline.models.leads import Lead


class Contact(models.Model):
    """The built-in CRM: one contact per lead with every field we know."""

    lead = models.OneToOneField(Lead, on_delete=models.CASCADE, related_name="contact")
    email = models.CharField(max_length=320, blank=True, default="")
    first_name = models.CharField(max_length=150, blank=True, default="")
    last_name = models.CharField(max_length=150, blank=True, default="")
    phone = models.CharField(max_length=64, blank=True, default="")
    company = models.CharField(max_length=300, blank=True, default="")
    website = models.CharField(max_length=500, blank=True, default="")
    domain = models.CharField(max_length=253, blank=True, default="")
    sector = models.CharField(max_length=200, blank=True, default="")
    employee_range = models.CharField(max_length=50, blank=True, default="")
    country = models.CharField(max_length=100, blank=True, default="")
    tech_stack = models.JSONField(default=list, blank=True)
    label = models.CharField(max_length=20, blank=True, default="")
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    score_explanation = models.TextField(blank=True, default="")
    lifecycle_stage = models.CharField(max_length=40, blank=True, default="lead")
    source = models.CharField(max_length=200, blank=True, default="")
    message = models.TextField(blank=True, default="")
    properties = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.email or f"Contact {self.pk}"
