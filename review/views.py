"""Staff pages. Views parse, call one function in pipeline (or one query), render.

Every page works without JavaScript (plain GET/POST, then redirect); htmx requests get the
fragment they swap (Django template partials). Reviewer actions answer 200 when done or a no-op,
409 when a colleague changed the draft first and 422 when the request was wrong; review.js lets
htmx swap those answers too, so the message and the current text appear in place.
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from pipeline import actions
from pipeline.actions import ActionResult
from pipeline.models import Draft, Lead, PipelineRun, ScoringConfig
from review import queries
from review.forms import (
    REGENERATE_SUGGESTIONS,
    ApproveForm,
    EditForm,
    LeadFilterForm,
    QueueFilterForm,
    ReassignForm,
    RegenerateForm,
    RejectForm,
    RunFilterForm,
)

logger = logging.getLogger(__name__)

VIEW = "pipeline.view_draft"
REVIEW = "pipeline.review_draft"
HTTP_STATUS = {"done": 200, "noop": 200, "conflict": 409, "invalid": 422}
NOTICE_LEVEL = {"done": "success", "noop": "info", "conflict": "warning", "invalid": "error"}
MESSAGE_LEVEL = {
    "done": messages.SUCCESS,
    "noop": messages.INFO,
    "conflict": messages.WARNING,
    "invalid": messages.ERROR,
}


def staff(permission: str):
    """Anonymous users go to the login page; signed-in users without the permission get 403."""

    def decorate(view):
        return login_required(permission_required(permission, raise_exception=True)(view))

    return decorate


def _is_partial(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


def _from_queue(request: HttpRequest) -> bool:
    """The htmx request came from the queue page (which has rows to update out of band)."""
    current = request.htmx.current_url_abs_path if request.htmx else None
    return bool(current) and current.split("?", 1)[0] == reverse("review:queue")


# --- Queue ------------------------------------------------------------------------------------


@staff(VIEW)
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    form = QueueFilterForm(request.GET, source_choices=queries.source_choices())
    filters = form.filters()
    drafts = queries.pending_drafts(
        q=filters["q"],
        label=filters["label"],
        source=filters["source"],
        age=filters["age"],
        sort=filters["sort"],
        assigned_to=request.user if filters["mine"] else None,
    )
    page = Paginator(drafts, queries.QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)
    queries.annotate_claims(page.object_list, request.user)
    stamp = queries.page_stamp(page.paginator.count, page.object_list)
    if _is_partial(request) and request.GET.get("stamp") == stamp:
        # The live refresh found nothing new: keep the reviewer's page exactly as it is.
        return HttpResponse(status=204)
    params = request.GET.copy()
    params.pop("stamp", None)
    context = {
        "nav": "queue",
        "filters": form,
        "page": page,
        "stamp": stamp,
        "poll_url": f"{request.path}?{params.urlencode()}" if params else request.path,
    }
    template = "review/queue.html#queue-list" if _is_partial(request) else "review/queue.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


# --- One draft --------------------------------------------------------------------------------


def _draft_context(request: HttpRequest, draft: Draft, **extra) -> dict:
    details = queries.draft_details(draft, request.user)
    draft = details.draft
    context = {
        "nav": "queue",
        "d": details,
        "draft": draft,
        "reject_form": RejectForm(initial={"version": draft.version}),
        "regenerate_form": RegenerateForm(initial={"version": draft.version}),
        "regenerate_suggestions": REGENERATE_SUGGESTIONS,
        "reassign_form": ReassignForm(
            initial={"to": draft.assigned_to_id}, reviewers=details.reviewers
        ),
    }
    context.update(extra)
    # Forms handed in via `extra` keep the reviewer's input; they are bound to an older version
    # only when the action failed, and then the current version must win.
    return context


def _render_draft(
    request: HttpRequest,
    draft: Draft,
    *,
    status: int = 200,
    oob_message: str = "",
    advance: bool = False,
    **extra,
) -> HttpResponse:
    context = _draft_context(request, draft, **extra)
    if not _is_partial(request):
        return render(request, "review/draft.html", context, status=status)
    html = render_to_string("review/draft.html#draft-panel", context, request)
    if _from_queue(request) and (oob_message or context["draft"].status != Draft.Status.PENDING):
        html += _queue_updates(request, context["draft"], oob_message)
    response = HttpResponse(html, status=status)
    if advance:
        trigger_client_event(response, "draft-decided", {"id": context["draft"].pk}, after="settle")
    return response


def _queue_updates(request: HttpRequest, draft: Draft, message: str) -> str:
    """Out-of-band swaps for the queue page: the row leaves (or changes) and the status line."""
    row = None
    if draft.status == Draft.Status.PENDING:
        row = queries.pending_drafts().filter(pk=draft.pk).first()
        if row is not None:
            queries.annotate_claims([row], request.user)
    html = render_to_string(
        "review/queue.html#queue-oob",
        {"row": row, "draft_pk": draft.pk, "message": message},
        request,
    )
    return html


@staff(VIEW)
@require_GET
def draft(request: HttpRequest, pk: int) -> HttpResponse:
    draft = get_object_or_404(Draft, pk=pk)
    if draft.status == Draft.Status.SUPERSEDED:
        newer = Draft.objects.filter(run_id=draft.run_id, pk__gt=draft.pk).order_by("-pk").first()
        if newer is not None:
            if not _is_partial(request):
                return redirect("review:draft", pk=newer.pk)
            return _render_draft(request, newer)
    return _render_draft(request, draft)


def _action_response(
    request: HttpRequest,
    result: ActionResult,
    draft: Draft,
    *,
    unsaved: tuple[str | None, str | None] = (None, None),
    advance: bool = False,
    **extra,
) -> HttpResponse:
    current = result.draft or draft
    if not _is_partial(request) and result.status in ("done", "noop"):
        messages.add_message(request, MESSAGE_LEVEL[result.status], result.message)
        if current.status == Draft.Status.PENDING or current.status == Draft.Status.SUPERSEDED:
            return redirect("review:draft", pk=current.pk)
        return redirect("review:queue")
    subject, body = unsaved
    conflict = None
    if (
        result.status == "conflict"
        and body is not None
        and (subject, body)
        != (
            current.subject,
            current.body,
        )
    ):
        conflict = {"subject": subject, "body": body}
    oob_message = ""
    if result.status != "invalid":
        oob_message = f"{current.lead.name or current.lead.email}: {result.message}"
    return _render_draft(
        request,
        current,
        status=HTTP_STATUS[result.status],
        notice={"level": NOTICE_LEVEL[result.status], "text": result.message},
        conflict=conflict,
        oob_message=oob_message,
        advance=advance and result.changed,
        **extra,
    )


def _invalid_form(request: HttpRequest, draft: Draft, form, **extra) -> HttpResponse:
    errors = [str(error) for field_errors in form.errors.values() for error in field_errors]
    return _render_draft(
        request,
        draft,
        status=422,
        notice={"level": "error", "text": " ".join(errors) or "Please check the form."},
        **extra,
    )


@staff(REVIEW)
@require_POST
def draft_approve(request: HttpRequest, pk: int) -> HttpResponse:
    draft = get_object_or_404(Draft.objects.select_related("lead"), pk=pk)
    form = ApproveForm(request.POST)
    if not form.is_valid():
        return _invalid_form(request, draft, form)
    subject, body = form.text()
    result = actions.approve_draft(
        draft, by=request.user, version=form.cleaned_data["version"], subject=subject, body=body
    )
    extra = {}
    if result.status == "invalid" and body is not None:
        extra["edit_form"] = EditForm(request.POST)  # keep the reviewer's text in the editor
    return _action_response(request, result, draft, unsaved=(subject, body), advance=True, **extra)


@staff(REVIEW)
@require_http_methods(["GET", "POST"])
def draft_edit(request: HttpRequest, pk: int) -> HttpResponse:
    draft = get_object_or_404(Draft.objects.select_related("lead"), pk=pk)
    if request.method == "GET":
        form = EditForm(
            initial={"version": draft.version, "subject": draft.subject, "body": draft.body}
        )
        if _is_partial(request):
            return render(
                request, "review/draft.html#draft-edit", {"draft": draft, "edit_form": form}
            )
        return _render_draft(request, draft, edit_form=form)
    form = EditForm(request.POST)
    if not form.is_valid():
        return _invalid_form(request, draft, form, edit_form=form)
    data = form.cleaned_data
    result = actions.edit_draft(
        draft, by=request.user, version=data["version"], subject=data["subject"], body=data["body"]
    )
    extra = {"edit_form": form} if result.status == "invalid" else {}
    return _action_response(
        request, result, draft, unsaved=(data["subject"], data["body"]), **extra
    )


@staff(REVIEW)
@require_POST
def draft_reject(request: HttpRequest, pk: int) -> HttpResponse:
    draft = get_object_or_404(Draft.objects.select_related("lead"), pk=pk)
    form = RejectForm(request.POST)
    if not form.is_valid():
        return _invalid_form(request, draft, form, reject_open=True)
    result = actions.reject_draft(
        draft,
        by=request.user,
        version=form.cleaned_data["version"],
        reason=form.cleaned_data["reason"],
    )
    return _action_response(request, result, draft, advance=True)


@staff(REVIEW)
@require_POST
def draft_regenerate(request: HttpRequest, pk: int) -> HttpResponse:
    draft = get_object_or_404(Draft.objects.select_related("lead"), pk=pk)
    form = RegenerateForm(request.POST)
    if not form.is_valid():
        return _invalid_form(request, draft, form)
    result = actions.regenerate_draft(
        draft,
        by=request.user,
        instruction=form.cleaned_data["instruction"],
        version=form.cleaned_data["version"],
    )
    return _action_response(request, result, draft)


@staff(REVIEW)
@require_POST
def draft_reassign(request: HttpRequest, pk: int) -> HttpResponse:
    draft = get_object_or_404(Draft.objects.select_related("lead"), pk=pk)
    form = ReassignForm(request.POST, reviewers=queries.reviewers())
    if not form.is_valid():
        return _invalid_form(request, draft, form)
    result = actions.reassign_draft(draft, by=request.user, to=form.cleaned_data["to"])
    return _action_response(request, result, draft)


@staff(REVIEW)
@require_POST
def draft_claim(request: HttpRequest, pk: int) -> HttpResponse:
    draft = get_object_or_404(Draft, pk=pk)
    result = actions.claim_draft(draft, by=request.user)
    if not _is_partial(request):
        return redirect("review:draft", pk=pk)
    details = queries.draft_details(result.draft or draft, request.user)
    return render(request, "review/draft.html#claim-notice", {"d": details})


# --- Leads ------------------------------------------------------------------------------------


@staff("pipeline.view_lead")
@require_GET
def leads(request: HttpRequest) -> HttpResponse:
    form = LeadFilterForm(request.GET)
    data = form.cleaned_data if form.is_valid() else {}
    rows = queries.leads_list(q=(data.get("q") or "").strip(), label=data.get("label") or "")
    page = Paginator(rows, queries.LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "review/leads.html", {"nav": "leads", "filters": form, "page": page})


@staff("pipeline.view_lead")
@require_GET
def lead(request: HttpRequest, pk: int) -> HttpResponse:
    lead = get_object_or_404(Lead, pk=pk)
    return render(request, "review/lead.html", {"nav": "leads", **queries.lead_page(lead)})


# --- Runs -------------------------------------------------------------------------------------


@staff("pipeline.view_pipelinerun")
@require_GET
def runs(request: HttpRequest) -> HttpResponse:
    form = RunFilterForm(request.GET)
    status = form.cleaned_data.get("status", "") if form.is_valid() else ""
    page = Paginator(queries.runs_list(status=status), queries.LIST_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "review/runs.html", {"nav": "runs", "filters": form, "page": page})


@staff("pipeline.view_pipelinerun")
@require_GET
def run(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(PipelineRun.objects.select_related("lead", "submission"), pk=pk)
    steps = queries.ordered_steps(run, run.steps.all())
    return render(
        request,
        "review/run.html",
        {"nav": "runs", "run": run, "steps": steps, "drafts": run.drafts.order_by("-pk")},
    )


@staff(REVIEW)
@require_POST
def run_retry(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(PipelineRun, pk=pk)
    result = actions.retry_run(run, by=request.user)
    if _is_partial(request) and request.htmx.target == f"run-row-{pk}":
        row = queries.runs_list().filter(pk=pk).first()
        return render(
            request,
            "review/runs.html#run-row",
            {"run": row, "notice": {"level": NOTICE_LEVEL[result.status], "text": result.message}},
        )
    messages.add_message(request, MESSAGE_LEVEL[result.status], result.message)
    return redirect("review:run", pk=pk)


# --- Pages owned by other areas (placeholders until then) ------------------------------------


@staff("pipeline.view_scoringconfig")
def scoring(request):
    config = ScoringConfig.current()
    return render(
        request,
        "review/scoring.html",
        {"nav": "scoring", "config": config, "criteria": queries.scoring_rows(config)},
    )


@staff(VIEW)
def dashboard(request):
    return render(
        request, "review/dashboard.html", {"nav": "dashboard", **queries.dashboard_figures()}
    )


@staff("pipeline.change_settings")
@require_POST
def auto_send(request):
    from pipeline.operations import set_auto_send_paused

    paused = request.POST.get("paused") == "1"
    set_auto_send_paused(paused, by=request.user)
    messages.success(
        request,
        "Auto-send is paused: every draft waits for review."
        if paused
        else "Auto-send is on again.",
    )
    return redirect("review:dashboard")
