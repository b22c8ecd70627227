"""Inbound replies for staff: the ones that matched no lead, and marking a lead's reply handled."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from pipeline.models import InboundReply, Lead
from pipeline.replies.receive import attach_reply, mark_reply_handled
from review.views import REVIEW, VIEW, staff

PAGE_SIZE = 200


@staff(VIEW)
@require_GET
def unmatched_replies(request: HttpRequest) -> HttpResponse:
    replies = InboundReply.objects.filter(lead__isnull=True).select_related("source")[:PAGE_SIZE]
    return render(request, "review/unmatched_replies.html", {"nav": "queue", "replies": replies})


@staff(REVIEW)
@require_POST
def reply_handled(request: HttpRequest, pk: int) -> HttpResponse:
    reply = get_object_or_404(InboundReply, pk=pk)
    if mark_reply_handled(reply, by=request.user):
        messages.success(request, "Marked handled.")
    back = request.POST.get("back", "")
    if url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return redirect(back)
    return redirect("review:queue")


@staff(REVIEW)
@require_POST
def reply_attach(request: HttpRequest, pk: int) -> HttpResponse:
    reply = get_object_or_404(InboundReply, pk=pk)
    try:
        lead = Lead.objects.get(pk=int(request.POST.get("lead", "")))
    except (ValueError, Lead.DoesNotExist):
        messages.error(request, "No lead with that number.")
        return redirect("review:unmatched_replies")
    if attach_reply(reply, lead, by=request.user):
        messages.success(request, f"Reply attached to {lead}.")
        return redirect("review:lead", lead.pk)
    messages.warning(request, "That reply already belongs to a lead.")
    return redirect("review:unmatched_replies")
