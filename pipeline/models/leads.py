from django.conf import settings
from django.db import models
from django.db.models import Q


class WebhookSource(models.Model):
    """A sender allowed to post leads to /webhooks/<slug>/, signed the Standard Webhooks way."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    secret = models.CharField(max_length=200, help_text="whsec_<base64>")
    # Secrets replaced by a rotation, each working until its own overlap ends:
    # [{"secret": "whsec_...", "expires_at": ISO 8601}], newest first.
    retired_secrets = models.JSONField(default=list, blank=True)
    # Sender field name -> our field name (name, email, company, website, phone, message).
    field_mapping = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Lead(models.Model):
    """A person: one per normalised email (or phone when there is no email)."""

    class OwnerBasis(models.TextChoices):
        SOURCE = "source", "source rule"
        COUNTRY = "country", "country rule"
        SIZE = "size", "size rule"
        ROUND_ROBIN = "round-robin", "round-robin"
        STAFF = "staff", "staff"

    email = models.CharField(max_length=320, blank=True, default="")
    email_normalized = models.CharField(max_length=320, blank=True, default="")
    phone = models.CharField(max_length=64, blank=True, default="")
    phone_normalized = models.CharField(max_length=32, blank=True, default="")
    name = models.CharField(max_length=300, blank=True, default="")
    company = models.CharField(max_length=300, blank=True, default="")
    website = models.CharField(max_length=500, blank=True, default="")
    # Set when any submission tried to instruct our agents, among other flags.
    flags = models.JSONField(default=list, blank=True)
    is_flagged = models.BooleanField(default=False)
    label = models.CharField(max_length=20, blank=True, default="")
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    # The salesperson who owns the lead: hears of its replies and escalations.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_leads",
    )
    # Why the lead has its owner (OwnerBasis), and the rule's particulars: the source's name,
    # the country code, the size range, or who reassigned it.
    owner_basis = models.CharField(
        max_length=20, blank=True, default="", choices=OwnerBasis.choices
    )
    owner_basis_detail = models.CharField(max_length=100, blank=True, default="")
    # When they first answered one of our emails (the funnel's "replied" stage).
    replied_at = models.DateTimeField(null=True, blank=True, db_index=True)
    crm_external_id = models.CharField(max_length=200, blank=True, default="")
    crm_url = models.CharField(max_length=500, blank=True, default="")
    # While a CRM write of this lead is under way (integrations.crm.upsert_lead): one at a time.
    crm_write_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["email_normalized"],
                condition=~Q(email_normalized=""),
                name="lead_unique_email",
            ),
            models.UniqueConstraint(
                fields=["phone_normalized"],
                condition=Q(email_normalized="") & ~Q(phone_normalized=""),
                name="lead_unique_phone_without_email",
            ),
        ]
        indexes = [models.Index(fields=["phone_normalized"])]

    def __str__(self) -> str:
        return self.name or self.email or self.phone or f"Lead {self.pk}"

    @property
    def owner_basis_text(self) -> str:
        """Why the lead has its owner, for a tooltip: "Assigned by country rule (DE)"."""
        return owner_basis_text(self.owner_basis, self.owner_basis_detail)


def owner_basis_text(basis: str, detail: str = "") -> str:
    """ "Assigned by country rule (DE)", "Reassigned by staff (kim)"; "" for no basis."""
    if basis not in Lead.OwnerBasis.values:
        return ""
    if basis == Lead.OwnerBasis.STAFF:
        text = "Reassigned by staff"
    else:
        text = f"Assigned by {Lead.OwnerBasis(basis).label}"
    return f"{text} ({detail})" if detail else text


# Not answered yet: stored deferred (WEBHOOK_DEFER) and waiting for a worker, or its run could
# not be started. Few rows however many submissions there are (a partial index keeps them).
UNANSWERED = Q(response={}, is_trapped=False)


class SubmissionQuerySet(models.QuerySet):
    def unanswered(self):
        return self.filter(UNANSWERED)

    def waiting_for_a_worker(self):
        """Unanswered and part of no lead yet: its person is not made (WEBHOOK_DEFER)."""
        return self.unanswered().filter(lead__isnull=True)


class Submission(models.Model):
    """One form submission of a lead, kept exactly as received."""

    class Channel(models.TextChoices):
        WEBHOOK = "webhook"
        FORM = "form"
        IMPORT = "import"
        CLI = "cli"
        DEMO = "demo"

    # None for a bot-trapped submission (kept for staff to see, it is nobody's history), and for
    # a deferred one until a worker has found its person (WEBHOOK_DEFER).
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="submissions"
    )
    source = models.ForeignKey(
        WebhookSource, null=True, blank=True, on_delete=models.SET_NULL, related_name="submissions"
    )
    channel = models.CharField(max_length=20, choices=Channel.choices)
    name = models.CharField(max_length=300, blank=True, default="")
    email = models.CharField(max_length=320, blank=True, default="")
    phone = models.CharField(max_length=64, blank=True, default="")
    company = models.CharField(max_length=300, blank=True, default="")
    website = models.CharField(max_length=500, blank=True, default="")
    message = models.TextField(blank=True, default="")
    custom_fields = models.JSONField(default=dict, blank=True)
    raw_payload = models.JSONField(default=dict, blank=True)
    # Delivery id (the signed webhook-id, a form's nonce, ...) and the answer we gave, replayed
    # on retries.
    idempotency_key = models.CharField(max_length=200, blank=True, default="")
    # A sender's Idempotency-Key beside a signed webhook-id: not covered by the signature, so it
    # can only make a delivery a replay of an earlier one, never make a replay a new delivery.
    sender_key = models.CharField(max_length=200, blank=True, default="")
    response = models.JSONField(default=dict, blank=True)
    # Bot-trapped submissions are kept (visible to staff) but never processed.
    is_trapped = models.BooleanField(default=False)
    trap_reason = models.CharField(max_length=200, blank=True, default="")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = SubmissionQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="submission_unique_delivery",
            ),
            # The sender's unsigned Idempotency-Key: two copies with fresh webhook-ids arriving
            # at the same instant make one submission (the second insert finds the first).
            models.UniqueConstraint(
                fields=["source", "sender_key"],
                condition=~Q(sender_key=""),
                name="submission_unique_sender_key",
            ),
        ]
        indexes = [
            # Read by the sweep, /healthz and /metrics.
            models.Index(
                fields=["received_at"],
                condition=UNANSWERED,
                name="submission_unanswered",
            ),
        ]
        ordering = ["-received_at"]

    def __str__(self) -> str:
        if self.lead_id is None:
            return f"Submission {self.pk} ({'trapped' if self.is_trapped else 'not processed yet'})"
        return f"Submission {self.pk} of lead {self.lead_id}"
