from django.conf import settings
from django.db import models
from django.db.models import Q

from pipeline.models.drafts import OutboundEmail
from pipeline.models.leads import Lead, WebhookSource


class InboundReply(models.Model):
    """An email someone sent us, posted to /inbound/<slug>/; kept whether or not it matched a lead."""

    class MatchedBy(models.TextChoices):
        HEADER = "header"  # In-Reply-To / References named one of our Message-IDs
        ADDRESS = "address"  # the sender's address is a lead's
        STAFF = "staff"  # a person attached an unmatched reply to a lead
        NONE = "none"

    source = models.ForeignKey(
        WebhookSource, null=True, blank=True, on_delete=models.SET_NULL, related_name="replies"
    )
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="replies"
    )
    # Our email this answers, when the headers named it.
    reply_to_email = models.ForeignKey(
        OutboundEmail, null=True, blank=True, on_delete=models.SET_NULL, related_name="replies"
    )
    matched_by = models.CharField(max_length=20, choices=MatchedBy.choices, default=MatchedBy.NONE)
    provider = models.CharField(max_length=20, blank=True, default="")
    from_header = models.CharField(max_length=500, blank=True, default="")
    from_address = models.CharField(max_length=320, blank=True, default="", db_index=True)
    to_header = models.CharField(max_length=1000, blank=True, default="")
    subject = models.CharField(max_length=500, blank=True, default="")
    text = models.TextField(blank=True, default="")
    html = models.TextField(blank=True, default="")
    # The new part of the message: quoted history and signature trimmed, for display.
    trimmed_text = models.TextField(blank=True, default="")
    message_id = models.CharField(max_length=500, blank=True, default="")
    in_reply_to = models.CharField(max_length=1000, blank=True, default="")
    references = models.TextField(blank=True, default="")
    # What the sender posted, as received (a raw message is kept as its text).
    raw_payload = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=200, blank=True, default="")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # A person read it and did what it asked (the queue lists replies until then).
    handled_at = models.DateTimeField(null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="reply_unique_delivery",
            ),
            # A provider that retries with a new delivery id still sends the same message.
            models.UniqueConstraint(
                fields=["message_id"], condition=~Q(message_id=""), name="reply_unique_message"
            ),
        ]
        indexes = [
            models.Index(
                fields=["received_at"], condition=Q(lead__isnull=True), name="reply_unmatched_idx"
            ),
            models.Index(
                fields=["received_at"],
                condition=Q(lead__isnull=False, handled_at__isnull=True),
                name="reply_unhandled_idx",
            ),
        ]
        ordering = ["-received_at", "-pk"]
        verbose_name_plural = "inbound replies"

    def __str__(self) -> str:
        return f"Reply {self.pk} from {self.from_address or '?'}"
