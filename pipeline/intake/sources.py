"""Webhook sources: creating them, their secrets (whsec_<base64>) and their public URLs."""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
from datetime import timedelta

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
    """Give `source` a new secret; the current one keeps working for `overlap`."""
    if overlap is None:
        overlap = timedelta(hours=settings.WEBHOOK_ROTATION_OVERLAP_HOURS)
    new_secret = generate_secret()
    source.previous_secret = source.secret
    source.previous_secret_expires_at = timezone.now() + overlap
    source.secret = new_secret
    source.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    logger.info(
        "webhook_source.rotated source_id=%s overlap_hours=%.1f",
        source.pk,
        overlap.total_seconds() / 3600,
    )
    return new_secret


def valid_secrets(source: WebhookSource, *, now=None) -> list[str]:
    """The secrets a delivery may be signed with right now: current, then previous."""
    now = now or timezone.now()
    found = [source.secret]
    expires = source.previous_secret_expires_at
    if source.previous_secret and expires is not None and now < expires:
        found.append(source.previous_secret)
    return found


def webhook_url(source: WebhookSource) -> str:
    return settings.PUBLIC_BASE_URL + reverse("pipeline:webhook", args=[source.slug])


def form_url(source: WebhookSource) -> str:
    return settings.PUBLIC_BASE_URL + reverse("pipeline:form", args=[source.slug])
