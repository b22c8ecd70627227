"""Staff pages. Views parse, call one function in pipeline (or one query), render.

Every page works without JavaScript (plain GET/POST, then redirect); htmx requests get the
fragment they swap (Django template partials). Reviewer actions answer 200 when done or a no-op,
409 when a colleague changed the draft first and 422 when the request was wrong; review.js lets
htmx swap those answers too, so the message and the current text appear in place.
"""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from pipeline import actions
from pipeline.actions import ActionResult
from pipeline.ids import parse_id
from pipeline.models import Draft, Lead, PipelineRun, StepRun
from review import charts, preferences, queries
from review import dashboard as dashboard_queries
from review.forms import (
    FLAG_CHOICES,
    LABEL_CHOICES,
    REGENERATE_SUGGESTIONS,
    SNOOZE_PRESETS,
    ApproveForm,
    BulkForm,
    BulkRetryForm,
    EditForm,
    LeadFilterForm,
    QueueFilterForm,
    ReassignForm,
    RegenerateForm,
    RejectForm,
    RunFilterForm,
    SnoozeForm,
)
from review.models import ReviewerSettings

logger = logging.getLogger(__name__)

DRAFT_PATH = re.compile(r"/drafts/\d+/")

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


def _queue_url_params(request: HttpRequest) -> QueryDict | None:
    """The queue's filters when the htmx request came from the queue page, else None.

    The queue lives at / and, with a draft open, at /drafts/<id>/ (both keep the filters in
    the query string).
    """
    current = request.htmx.current_url_abs_path if request.htmx else None
    if not current:
        return None
    path, _, query = current.partition("?")
    if path != reverse("review:queue") and not DRAFT_PATH.fullmatch(path):
        return None
    return QueryDict(query)


def _from_queue(request: HttpRequest) -> bool:
    """The htmx request came from the queue page (which has rows to update out of band)."""
    return _queue_url_params(request) is not None


# --- Queue ------------------------------------------------------------------------------------


def _queue_context(request: HttpRequest, params) -> dict:
    """The queue's rows for `params` (a QueryDict of filters and page), as the page shows them."""
    form = QueueFilterForm(params, source_choices=queries.source_choices())
    counts = queries.label_counts()
    form.fields["label"].choices = [
        ("", "All labels"),
        *[(value, f"{name} ({counts.get(value, 0)})") for value, name in LABEL_CHOICES],
    ]
    flags = queries.flag_counts()
    chosen_flag = params.get("flag", "")
    # Flags no waiting draft carries would only lengthen the list (the chosen one stays).
    form.fields["flag"].choices = [
        ("", "Any flag"),
        *[
            (value, f"{name} ({flags.get(value, 0)})")
            for value, name in FLAG_CHOICES
            if flags.get(value) or value == chosen_flag
        ],
    ]
    filters = form.filters()
    drafts = queries.pending_drafts(
        q=filters["q"],
        label=filters["label"],
        flag=filters["flag"],
        source=filters["source"],
        age=filters["age"],
        sort=filters["sort"],
        assigned_to=request.user if filters["mine"] else None,
    )
    page = Paginator(drafts, queries.QUEUE_PAGE_SIZE).get_page(params.get("page"))
    page.object_list = list(page.object_list)
    queries.annotate_claims(page.object_list, request.user)
    is_filtered = any(filters[name] for name in ("q", "label", "flag", "source", "age", "mine"))
    query = params.copy()
    query.pop("stamp", None)
    return {
        "nav": "queue",
        "filters": form,
        "is_filtered": is_filtered,
        "page": page,
        "stamp": queries.page_stamp(page.paginator.count, page.object_list),
        "queue_query": query,
        "poll_url": f"{reverse('review:queue')}?{query.urlencode()}"
        if query
        else reverse("review:queue"),
        # Unfiltered, the page's count is the whole queue: the navigation needs no second query.
        "pending_total": None if is_filtered else page.paginator.count,
        "reviewer_settings": ReviewerSettings.of(request.user),
        "owed_replies": list(queries.owed_replies(request.user)),
        "new_replies": queries.new_replies(),
        "unmatched_replies": queries.unmatched_reply_count(),
        "reviewers": queries.reviewers(),
        "reject_reasons": RejectForm.base_fields["reason_choice"].choices,
        # Without JavaScript the approval's answer is this page: it offers Undo here.
        "undoable": queries.undoable_approvals(request.user),
        "sla_minutes": settings.REVIEW_SLA_WORKING_MINUTES,
        "undo_seconds": settings.REVIEW_UNDO_SECONDS,
    }


@staff(VIEW)
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    context = _queue_context(request, request.GET)
    if _is_partial(request) and request.GET.get("stamp") == context["stamp"]:
        # The live refresh found nothing new: keep the reviewer's page exactly as it is.
        return HttpResponse(status=204)
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
        "snooze_presets": SNOOZE_PRESETS,
        "snooze_form": SnoozeForm(),
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
        # A deep link (/drafts/<id>/, reloaded or shared) opens the queue with the draft in it.
        page = _queue_context(request, request.GET)
        page.update(context, open_draft=True)
        return render(request, "review/queue.html", page, status=status)
    html = render_to_string("review/draft.html#draft-panel", context, request)
    if _from_queue(request) and (oob_message or context["draft"].status != Draft.Status.PENDING):
        html += _queue_updates(request, context["draft"], oob_message)
    response = HttpResponse(html, status=status)
    if advance:
        trigger_client_event(response, "draft-decided", {"id": context["draft"].pk}, after="settle")
    return response


def _queue_updates(request: HttpRequest, draft: Draft, message: str) -> str:
    """Out-of-band swaps for the queue page: the row leaves (or changes), the counts, the status."""
    row = None
    if draft.status == Draft.Status.PENDING:
        row = queries.pending_drafts().filter(pk=draft.pk).first()
        if row is not None:
            queries.annotate_claims([row], request.user)
    params = _queue_url_params(request) or QueryDict()
    context = _queue_context(request, params)
    html = render_to_string(
        "review/queue.html#queue-oob",
        {
            "row": row,
            "draft_pk": draft.pk,
            "message": message,
            "page": context["page"],
            "is_filtered": context["is_filtered"],
            "pending_total": queries.pending_count(),
            "undo": draft if _can_undo(draft, request.user) else None,
            "sla_minutes": context["sla_minutes"],
        },
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


def _can_undo(draft: Draft, user) -> bool:
    return (
        draft.status == Draft.Status.APPROVED
        and draft.send_at is not None
        and draft.send_at > timezone.now()
    )


@staff(REVIEW)
@require_POST
def draft_undo(request: HttpRequest, pk: int) -> HttpResponse:
    draft = get_object_or_404(Draft.objects.select_related("lead"), pk=pk)
    result = actions.undo_approval(draft, by=request.user)
    response = _action_response(request, result, draft)
    if _is_partial(request) and result.changed:
        # The draft is back in the queue: the list shows it again.
        trigger_client_event(response, "queue-refresh")
    return response


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


@staff(REVIEW)
@require_POST
def draft_snooze(request: HttpRequest, pk: int) -> HttpResponse:
    draft = get_object_or_404(Draft.objects.select_related("lead"), pk=pk)
    form = SnoozeForm(request.POST)
    if not form.is_valid():
        return _invalid_form(request, draft, form)
    result = actions.snooze_draft(draft, by=request.user, until=form.cleaned_data["moment"])
    return _action_response(request, result, draft, advance=True)


@staff(REVIEW)
@require_POST
def draft_replied(request: HttpRequest, pk: int) -> HttpResponse:
    draft = get_object_or_404(Draft, pk=pk, assigned_to=request.user)
    result = actions.mark_reply_written(draft, by=request.user)
    messages.add_message(request, MESSAGE_LEVEL[result.status], result.message)
    return redirect(_safe_back(request))


@staff(REVIEW)
@require_POST
def drafts_bulk(request: HttpRequest) -> HttpResponse:
    """Reject or assign several selected queue rows with one reason or one assignee."""
    form = BulkForm(request.POST, reviewers=queries.reviewers())
    back = request.POST.get("back") or reverse("review:queue")
    if not back.startswith("/") or back.startswith("//"):
        back = reverse("review:queue")
    if not form.is_valid():
        errors = [str(error) for errors in form.errors.values() for error in errors]
        message = " ".join(errors) or "Please check the selection."
        if _is_partial(request):
            return _bulk_answer(request, message, status=422)
        messages.error(request, message)
        return redirect(back)
    data = form.cleaned_data
    if data["action"] == "reject" and not data["confirmed"] and not _is_partial(request):
        # Without JavaScript there was no confirmation dialog: ask on a page of its own.
        return render(
            request,
            "review/bulk-confirm.html",
            {
                "nav": "queue",
                "data": {
                    "reason_choice": request.POST.get("reason_choice", ""),
                    "reason_text": request.POST.get("reason_text", ""),
                    "drafts_list": request.POST.getlist("drafts"),
                },
                "count": len(data["drafts"]),
                "back": back,
            },
        )
    summary = actions.bulk_decide(
        data["drafts"],
        by=request.user,
        action=data["action"],
        reason=data.get("reason", ""),
        to=data.get("to"),
    )
    if _is_partial(request):
        return _bulk_answer(request, summary)
    messages.info(request, summary)
    return redirect(back)


def _bulk_answer(request: HttpRequest, message: str, *, status: int = 200) -> HttpResponse:
    html = render_to_string(
        "review/queue.html#queue-status", {"message": message, "oob": False}, request
    )
    response = HttpResponse(html, status=status)
    trigger_client_event(response, "queue-refresh")
    return response


@staff(VIEW)
@require_POST
def shortcuts_setting(request: HttpRequest) -> HttpResponse:
    enabled = request.POST.get("enabled") == "1"
    preferences.set_single_key_shortcuts(request.user, enabled=enabled)
    messages.success(
        request,
        "Single-key shortcuts are on." if enabled else "Single-key shortcuts are off.",
    )
    return redirect(_safe_back(request))


@staff(VIEW)
@require_POST
def filter_save(request: HttpRequest) -> HttpResponse:
    query = request.POST.get("query", "")
    is_saved, message = preferences.save_filter(
        request.user, name=request.POST.get("name", ""), query=query
    )
    (messages.success if is_saved else messages.error)(request, message)
    cleaned = preferences.clean_filter_query(query)
    return redirect(f"{reverse('review:queue')}?{cleaned}" if cleaned else "review:queue")


@staff(VIEW)
@require_POST
def filter_delete(request: HttpRequest) -> HttpResponse:
    name = request.POST.get("name", "")
    if preferences.delete_filter(request.user, name=name):
        messages.success(request, f"Removed the filter “{name}”.")
    return redirect("review:queue")


def _safe_back(request: HttpRequest) -> str:
    back = request.POST.get("back") or ""
    return back if back.startswith("/") and not back.startswith("//") else reverse("review:queue")


# --- Leads ------------------------------------------------------------------------------------


def _filtered_leads(request: HttpRequest):
    """The leads page's filter form and its rows: the page and its CSV export share them."""
    form = LeadFilterForm(request.GET)
    data = form.cleaned_data if form.is_valid() else {}
    rows = queries.leads_list(
        q=(data.get("q") or "").strip(),
        label=data.get("label") or "",
        since=data.get("since"),
        until=data.get("until"),
        source=data.get("source") or "",
        draft=data.get("draft") or "",
    )
    return form, rows


@staff("pipeline.view_lead")
@require_GET
def leads(request: HttpRequest) -> HttpResponse:
    form, rows = _filtered_leads(request)
    page = Paginator(rows, queries.LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "review/leads.html", {"nav": "leads", "filters": form, "page": page})


@staff("pipeline.view_lead")
@require_GET
def leads_export(request: HttpRequest) -> StreamingHttpResponse:
    """The leads list with the page's current filters, as a streamed CSV file."""
    from pipeline.exports import csv_lines

    _, rows = _filtered_leads(request)
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    return StreamingHttpResponse(
        csv_lines(rows),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="leads-{stamp}.csv"'},
    )


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
    data = form.cleaned_data if form.is_valid() else {}
    rows = queries.runs_list(
        status=data.get("status") or "",
        since=data.get("since"),
        until=data.get("until"),
        step=data.get("step") or "",
        step_status=data.get("step_status") or "",
        error=data.get("error") or "",
    )
    page = Paginator(rows, queries.LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "review/runs.html", {"nav": "runs", "filters": form, "page": page})


@staff("pipeline.view_pipelinerun")
@require_GET
def run(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(PipelineRun.objects.select_related("lead", "submission"), pk=pk)
    steps = queries.ordered_steps(run, run.steps.all())
    needs = dashboard_queries.step_needs(run)
    for step_run in steps:
        step_run.needs = needs.get(step_run.name, ())
    drafts = list(run.drafts.select_related("decided_by").order_by("-pk"))
    rejected = next((d for d in drafts if d.status == Draft.Status.REJECTED), None)
    return render(
        request,
        "review/run.html",
        {
            "nav": "runs",
            "run": run,
            "steps": steps,
            "timeline": charts.timeline(run, steps, now=timezone.now()),
            "drafts": drafts,
            "rejected_by": rejected.decided_by.get_username()
            if rejected and rejected.decided_by
            else "",
        },
    )


@staff(REVIEW)
@require_POST
def run_rerun(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(PipelineRun, pk=pk)
    chosen = request.POST.get("step_run", "")
    step_run = StepRun.objects.filter(run=run, pk=parse_id(chosen)).first()
    if step_run is None:
        messages.error(request, "Pick a step of this run to rerun from.")
        return redirect("review:run", pk=pk)
    result = actions.rerun_run_from(run, step_run.name, by=request.user)
    messages.add_message(request, MESSAGE_LEVEL[result.status], result.message)
    return redirect("review:run", pk=pk)


@staff(REVIEW)
@require_POST
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(PipelineRun, pk=pk)
    result = actions.cancel_run(run, by=request.user)
    messages.add_message(request, MESSAGE_LEVEL[result.status], result.message)
    return redirect("review:run", pk=pk)


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


@staff("pipeline.view_pipelinerun")
@require_GET
def run_errors(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "review/run_errors.html",
        {"nav": "runs", "groups": dashboard_queries.failed_error_groups()},
    )


@staff(REVIEW)
@require_POST
def run_errors_retry(request: HttpRequest) -> HttpResponse:
    form = BulkRetryForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Name the step and the error to retry.")
        return redirect("review:run_errors")
    result = actions.retry_runs_failed_with(
        step=form.cleaned_data["step"], error=form.cleaned_data["error"], by=request.user
    )
    messages.add_message(request, MESSAGE_LEVEL[result.status], result.message)
    return redirect("review:run_errors")


# --- Pages owned by other areas (placeholders until then) ------------------------------------


@staff(VIEW)
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    period, problem = dashboard_queries.parse_period(request.GET)
    context = {
        "nav": "dashboard",
        "periods": dashboard_queries.PERIOD_NAMES,
        "period_problem": problem,
        **dashboard_queries.cached_dashboard_period(period),
    }
    if _is_partial(request):
        response = render(request, "review/dashboard.html#period-figures", context)
    else:
        response = render(
            request, "review/dashboard.html", {**context, **queries.dashboard_figures()}
        )
    patch_vary_headers(response, ["HX-Request"])
    return response


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
