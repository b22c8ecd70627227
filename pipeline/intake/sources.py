"""Webhook sources: creating them, their secrets (whsec_<base64>) and their public URLs."""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from pipeline.intake.normalize import LEAD_FIELDS
from pipeline.models import WebhookSource

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
SLUG_MAX = 80


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_problem(secret: str) -> str:
    """Why `secret` is not a usable Standard Webhooks secret, or ""."""
    if not secret.startswith(SECRET_PREFIX):
        return f"a secret starts with {SECRET_PREFIX}"
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return f"a secret is {SECRET_PREFIX} followed by base64"
    if len(key) < 16:
        return "a secret needs at least 16 bytes of key (24 base64 characters)"
    return ""


def mapping_problem(mapping: object) -> str:
    """Why a field mapping is unusable, or "". It maps sender field -> one of LEAD_FIELDS."""
    if not isinstance(mapping, dict):
        return 'a field mapping is a JSON object: {"Sender field": "email", ...}'
    for sender_field, ours in mapping.items():
        if not sender_field.strip():
            return "a sender field name may not be empty"
        if ours not in LEAD_FIELDS:
            return f"{sender_field!r} maps to {ours!r}; map to one of {', '.join(LEAD_FIELDS)}"
    return ""


def create_webhook_source(
    name: str,
    *,
    secret: str | None = None,
    slug: str | None = None,
    field_mapping: dict[str, str] | None = None,
    rate_limit_per_minute: int | None = None,
) -> tuple[WebhookSource, str]:
    """Create a source; returns it and its secret (the only time the caller sees it)."""
    secret = secret or generate_secret()
    problem = secret_problem(secret) or mapping_problem(field_mapping or {})
    if problem:
        raise ValueError(problem)
    wanted = slugify(slug or name)[:SLUG_MAX] or "source"
    for attempt in range(50):
        candidate = wanted if attempt == 0 else f"{wanted[: SLUG_MAX - 4]}-{attempt + 1}"
        if slug and attempt:
            raise ValueError(f"slug {wanted!r} is taken")
        if WebhookSource.objects.filter(slug=candidate).exists():
            continue
        try:
            with transaction.atomic():
                source = WebhookSource.objects.create(
                    name=name,
                    slug=candidate,
                    secret=secret,
                    field_mapping=field_mapping or {},
                    rate_limit_per_minute=rate_limit_per_minute,
                )
        except IntegrityError:  # taken between the check and the insert
            continue
        logger.info("webhook_source.created source_id=%s slug=%s", source.pk, source.slug)
        return source, secret
    raise ValueError(f"no free slug near {wanted!r}")


def rotate_secret(source: WebhookSource, *, overlap: timedelta | None = None) -> str:
    """Give `source` a new secret; the current one keeps working for `overlap`.

    Secrets retired by earlier rotations keep their own end of overlap: rotating twice in a
    row does not cut off a sender still switching from the first secret.
    """
    if overlap is None:
        overlap = timedelta(hours=settings.WEBHOOK_ROTATION_OVERLAP_HOURS)
    now = timezone.now()
    new_secret = generate_secret()
    with transaction.atomic():
        # Two admins rotating at once must not drop each other's retired secret.
        locked = WebhookSource.objects.select_for_update().get(pk=source.pk)
        retired = [(locked.secret, now + overlap)] + [
            (secret, expires) for secret, expires in retired_secrets(locked) if now < expires
        ]
        locked.retired_secrets = [
            {"secret": secret, "expires_at": expires.isoformat()} for secret, expires in retired
        ]
        locked.secret = new_secret
        locked.save(update_fields=["secret", "retired_secrets"])
    source.secret, source.retired_secrets = locked.secret, locked.retired_secrets
    logger.info(
        "webhook_source.rotated source_id=%s overlap_hours=%.1f retired_valid=%s",
        source.pk,
        overlap.total_seconds() / 3600,
        len(retired),
    )
    return new_secret


def retired_secrets(source: WebhookSource) -> list[tuple[str, datetime]]:
    """The source's earlier secrets with the end of their overlap, newest first."""
    found = []
    for entry in source.retired_secrets or []:
        try:
            found.append((str(entry["secret"]), datetime.fromisoformat(entry["expires_at"])))
        except (KeyError, TypeError, ValueError):
            logger.warning("webhook_source.bad_retired_secret source_id=%s", source.pk)
    return found


def valid_secrets(source: WebhookSource, *, now: datetime | None = None) -> list[str]:
    """The secrets a delivery may be signed with right now: current, then retired ones."""
    now = now or timezone.now()
    return [source.secret] + [
        secret for secret, expires in retired_secrets(source) if now < expires
    ]


def webhook_url(source: WebhookSource) -> str:
    return settings.PUBLIC_BASE_URL + reverse("pipeline:webhook", args=[source.slug])


def form_url(source: WebhookSource) -> str:
    return settings.PUBLIC_BASE_URL + reverse("pipeline:form", args=[source.slug])
