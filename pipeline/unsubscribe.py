"""Unsubscribe: the signed link in every email, the page behind it and RFC 8058 one-click.

The token is the lead id signed with SECRET_KEY (django.core.signing, its own salt); it never
expires, because an unsubscribe link must keep working. GET shows a confirmation page; POST
unsubscribes. Mail clients POST "List-Unsubscribe=One-Click" without cookies or a CSRF token,
so this endpoint alone is exempt from CSRF: the signed token is what authorises the request,
and the only thing it can do is stop our email.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from pipeline.models import Lead, OutboundEmail, ReviewAction

logger = logging.getLogger(__name__)

SALT = "pipeline.unsubscribe"


def unsubscribe_token(lead_id: int) -> str:
    return signing.dumps(lead_id, salt=SALT)


def lead_id_from_token(token: str) -> int | None:
    try:
        value = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return None
    return value if isinstance(value, int) else None


def unsubscribe_url(lead_id: int) -> str:
    path_part = reverse("unsubscribe:unsubscribe", args=[unsubscribe_token(lead_id)])
    return f"{settings.PUBLIC_BASE_URL}{path_part}"


def unsubscribe_lead(lead_id: int, *, via: str) -> bool:
    """Stop all email to the lead, queued ones included. True if it was subscribed until now."""
    with transaction.atomic():
        changed = Lead.objects.filter(pk=lead_id, unsubscribed_at__isnull=True).update(
            unsubscribed_at=timezone.now()
        )
        cancelled = OutboundEmail.objects.filter(
            lead_id=lead_id, state=OutboundEmail.State.QUEUED
        ).update(state=OutboundEmail.State.CANCELLED, error="the lead unsubscribed")
        if changed:
            ReviewAction.objects.create(
                lead_id=lead_id,
                action="unsubscribed",
                detail={"via": via, "cancelled_emails": cancelled},
            )
    logger.info("lead.unsubscribed lead=%s via=%s changed=%s", lead_id, via, bool(changed))
    from pipeline.followups import stop_quietly

    stop_quietly(lead_id, "the lead unsubscribed")
    return bool(changed)


def masked(email: str) -> str:
    """a***@example.com: enough for the reader to recognise, little for anyone forwarded it."""
    local, at, domain = email.partition("@")
    if not at:
        return "your address"
    return f"{local[:1]}***@{domain}"


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    lead_id = lead_id_from_token(token)
    lead = Lead.objects.filter(pk=lead_id).first() if lead_id is not None else None
    if lead is None:
        return render(request, "pipeline/unsubscribe.html", {"state": "invalid"}, status=404)
    if request.method == "POST":
        is_one_click = request.POST.get("List-Unsubscribe") == "One-Click"
        unsubscribe_lead(lead.pk, via="one-click" if is_one_click else "link")
        return render(
            request,
            "pipeline/unsubscribe.html",
            {"state": "done", "address": masked(lead.email)},
        )
    return render(
        request,
        "pipeline/unsubscribe.html",
        {
            "state": "done" if lead.unsubscribed_at else "confirm",
            "address": masked(lead.email),
            "token": token,
        },
    )


app_name = "unsubscribe"

urlpatterns = [path("<str:token>/", unsubscribe, name="unsubscribe")]
