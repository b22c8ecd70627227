"""Emails whose fate is unknown: Admins record what the mail server's log says.

An email becomes `unknown` when we cannot tell whether the mail server took it (a crash or a
dropped connection mid-send). It is never resent on its own; this page is where a human who
checked the server's log says "delivered", "send it again" or "do not send it".
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from pipeline.integrations import outbox
from pipeline.models import OutboundEmail
from review.views import staff

RESOLVE = "pipeline.resolve_email"
PAGE_SIZE = 200


@staff(RESOLVE)
@require_GET
def unknown_emails(request: HttpRequest) -> HttpResponse:
    emails = (
        OutboundEmail.objects.filter(state=OutboundEmail.State.UNKNOWN)
        .select_related("lead")
        .order_by("sending_started_at", "pk")[:PAGE_SIZE]
    )
    context = {"nav": "emails", "emails": emails, "resolutions": outbox.RESOLUTIONS}
    return render(request, "review/unknown_emails.html", context)


@staff(RESOLVE)
@require_POST
def resolve_email(request: HttpRequest, pk: int) -> HttpResponse:
    resolution = request.POST.get("resolution", "")
    if resolution not in outbox.RESOLUTIONS:
        return HttpResponse(
            f"resolution must be one of {', '.join(outbox.RESOLUTIONS)}",
            status=422,
            content_type="text/plain; charset=utf-8",
        )
    changed, message = outbox.resolve_unknown_email(pk, by=request.user, resolution=resolution)
    messages.add_message(request, messages.SUCCESS if changed else messages.WARNING, message)
    return redirect("review:unknown_emails")
