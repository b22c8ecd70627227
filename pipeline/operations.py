"""Switches admins flip at run time (OperationsSettings), one typed function per switch."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.db import transaction

from pipeline.models import OperationsSettings

logger = logging.getLogger(__name__)

SETTINGS_PERMISSION = "pipeline.change_settings"


def can_change_settings(user) -> bool:
    return bool(user and user.is_active and user.has_perm(SETTINGS_PERMISSION))


def set_auto_send_paused(paused: bool, *, by) -> OperationsSettings:
    """Pause or resume auto-send for every lead, recording who did it and when.

    While paused, the gate sends every draft to the review queue (pipeline/steps.py: gate).
    Only admins (the pipeline.change_settings permission) may flip it.
    """
    if not can_change_settings(by):
        raise PermissionDenied("only admins may pause or resume auto-send")
    with transaction.atomic():
        OperationsSettings.load()
        row = OperationsSettings.objects.select_for_update().get(pk=1)
        changed = row.auto_send_paused != paused
        row.auto_send_paused = paused
        row.updated_by = by
        row.save(update_fields=["auto_send_paused", "updated_by", "updated_at"])
    logger.info(
        "operations.auto_send_%s user=%s changed=%s",
        "paused" if paused else "resumed",
        by.pk,
        changed,
    )
    return row
