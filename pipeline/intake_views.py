"""Intake doors on the web: signed webhooks and the hosted, embeddable lead form."""

from __future__ import annotations

import codecs
import logging
import time

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csp import csp_override
from django.views.decorators.csrf import csrf_exempt

from pipeline.forms import HONEYPOT_FIELD, LeadForm
from pipeline.intake import ratelimit, webhooks
from pipeline.intake.errors import DeliveryConflict, IntakeError, InvalidLead
from pipeline.intake.normalize import LEAD_FIELDS, MAX_NESTING, apply_field_mapping
from pipeline.intake.receive import Receipt, receive_submission
from pipeline.intake.traps import (
    check_form_token,
    cross_origin_reason,
    issue_form_token,
    reissue_form_token,
)
from pipeline.models import Submission, WebhookSource

logger = logging.getLogger(__name__)

# The form may be framed by the sites in FORM_FRAME_ANCESTORS; every other page stays DENY.
FORM_CSP = {**settings.SECURE_CSP, "frame-ancestors": list(settings.FORM_FRAME_ANCESTORS)}


# --- Webhooks ---------------------------------------------------------------------------------


@csrf_exempt  # authenticated by the Standard Webhooks signature, not a cookie
@never_cache
def webhook(request: HttpRequest, slug: str) -> HttpResponse:
    """POST /webhooks/<slug>/: 202 {lead_id, run_id, duplicate_of} or a JSON error.

    With WEBHOOK_DEFER the 202 says {"deferred": true} with no lead_id or run_id yet: a copy of
    the delivery (the same webhook-id) sent later gets the whole answer.
    """
    started = time.monotonic()
    try:
        receipt = _receive_webhook(request, slug)
    except IntakeError as error:
        logger.info("webhook.refused slug=%s status=%s", slug[:80], error.status)
        return JsonResponse(error.as_json(), status=error.status, headers=error.headers)
    spent_ms = (time.monotonic() - started) * 1000
    logger.info(
        "webhook.accepted slug=%s submission_id=%s run_id=%s replay=%s ms=%d",
        slug,
        receipt.submission_id,
        receipt.run_id,
        receipt.is_replay,
        spent_ms,
    )
    # How long the view took (Server-Timing): a sender can tell our time from the queueing and
    # the network around it.
    headers = {"Server-Timing": f"app;dur={spent_ms:.1f}"}
    if receipt.is_replay:
        headers["Idempotent-Replayed"] = "true"
    return JsonResponse(receipt.as_json(), status=202, headers=headers)


def _receive_webhook(request: HttpRequest, slug: str) -> Receipt:
    source = webhooks.posted_source(request, slug)
    body = webhooks.read_body(request, settings.WEBHOOK_MAX_BODY_BYTES)
    kind = webhooks.content_kind(request.content_type)
    text = webhooks.decode_body(body)
    source, webhook_id = webhooks.verify_delivery(source, text, request.headers)
    # Only signed deliveries count: strangers posting to the URL cannot use up the sender's
    # allowance, and refusing them costs no more than counting them would.
    limit = source.rate_limit_per_minute or settings.WEBHOOK_RATE_LIMIT_PER_MINUTE
    verdict = ratelimit.hit(f"webhook:{source.pk}", limit)
    if not verdict.allowed:
        raise IntakeError(
            f"rate limit: at most {limit} deliveries a minute for this source; "
            f"retry in {verdict.retry_after} s",
            status=429,
            headers={"Retry-After": str(verdict.retry_after)},
        )
    payload = webhooks.parse_payload(text, kind)
    # The signed webhook-id is the delivery: a captured delivery replayed with a fresh
    # Idempotency-Key is still the same delivery.
    extra_key = webhooks.sender_key(request.headers)
    try:
        mapped = apply_field_mapping(payload, source.field_mapping or {})
    except RecursionError:  # copying a body nested hundreds deep: refuse it, not a 500
        raise InvalidLead({"body": f"nested deeper than {MAX_NESTING} levels"}) from None
    return receive_submission(
        mapped.fields,
        custom_fields=mapped.custom_fields,
        raw_payload=payload,
        channel=Submission.Channel.WEBHOOK,
        source=source,
        idempotency_key=webhook_id,
        sender_key=extra_key,
        defer=settings.WEBHOOK_DEFER,
    )


# --- Hosted form ------------------------------------------------------------------------------


@csrf_exempt  # cookie-less CSRF defence (same-origin check + signed token): see intake.traps
@xframe_options_exempt
@csp_override(FORM_CSP)
@never_cache
def hosted_form(request: HttpRequest, slug: str) -> HttpResponse:
    source = get_object_or_404(WebhookSource, slug=slug, is_active=True)
    if request.method == "POST":
        return _post_form(request, source)
    if request.method != "GET":
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    return _render_form(request, source, LeadForm())


@xframe_options_exempt
@csp_override(FORM_CSP)
def form_thanks(request: HttpRequest, slug: str) -> HttpResponse:
    source = get_object_or_404(WebhookSource, slug=slug, is_active=True)
    return render(request, "pipeline/form_thanks.html", {"source": source})


def _post_form(request: HttpRequest, source: WebhookSource) -> HttpResponse:
    reason = cross_origin_reason(request)
    if reason:
        logger.info("form.cross_origin_refused source_id=%s", source.pk)
        return HttpResponse(
            "Forbidden: this form only accepts posts from its own page.",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    refused = _unreadable_post(request)
    if refused is not None:
        return refused
    if not _sent_as_utf8(request):
        # Our page is UTF-8 and so is every browser's post of it. Another charset (UTF-7 says
        # "+2AA-" for a lone surrogate) makes text that no page or database can hold.
        return HttpResponse(
            "Bad request: send the form as UTF-8, the encoding of its page.",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    limit = settings.FORM_RATE_LIMIT_PER_MINUTE
    verdict = ratelimit.hit(f"form:{source.pk}:{ratelimit.client_ip(request)}", limit)
    if not verdict.allowed:
        typed = {name: request.POST.get(name, "") for name in LEAD_FIELDS}
        response = _render_form(
            request,
            source,
            LeadForm(initial=typed),
            status=429,
            notice=f"Too many submissions from your address. Please wait "
            f"{verdict.retry_after} seconds and try again.",
        )
        response["Retry-After"] = str(verdict.retry_after)
        return response

    form = LeadForm(request.POST)
    check = check_form_token(
        source.slug,
        str(request.POST.get("form_token", "")),
        honeypot=str(request.POST.get(HONEYPOT_FIELD, "")),
    )
    key = f"form:{check.nonce}" if check.nonce else ""
    if check.trap_reason:
        # Stored as spam for staff to see, never processed; the bot sees the usual thanks.
        try:
            _receive_form(form.raw_fields(), source, key, request, trap_reason=check.trap_reason)
        except IntakeError as error:  # a bot replaying one token with other answers
            logger.info("form.trap_not_stored source_id=%s status=%s", source.pk, error.status)
        return redirect("pipeline:form_thanks", slug=source.slug)
    if check.is_expired:
        return _render_form(
            request,
            source,
            LeadForm(request.POST),
            notice="This page was open for a long time; please check and send it again.",
            fresh_token=True,
        )
    if not form.is_valid():
        return _render_form(request, source, form)
    try:
        _receive_form(form.lead_fields(), source, key, request)
    except InvalidLead as error:
        for field, message in error.errors.items():
            form.add_error(field if field in form.fields else None, message)
        return _render_form(request, source, form)
    except DeliveryConflict:  # this page was sent before, with other answers
        return _render_form(
            request,
            source,
            LeadForm(request.POST),
            notice="This form was already sent once. Please check it and send it again.",
            fresh_token=True,
        )
    return redirect("pipeline:form_thanks", slug=source.slug)


def _unreadable_post(request: HttpRequest) -> HttpResponse | None:
    """A post Django will not parse (too many fields, too large), answered saying why; else None.

    Django would answer a bare "Bad Request (400)" and log a traceback at ERROR for a bot's
    oversized post: it is the sender's mistake, told to the sender and logged at INFO."""
    try:
        request.POST  # noqa: B018 - parsing it is the point
    except TooManyFieldsSent:
        problem = f"the form sent more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields"
    except RequestDataTooBig:
        size = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        problem = f"the form's text is larger than {size} bytes"
    else:
        return None
    logger.info("form.unreadable_post problem=%r", problem)
    return HttpResponse(
        f"Bad request: {problem}.", status=400, content_type="text/plain; charset=utf-8"
    )


def _sent_as_utf8(request: HttpRequest) -> bool:
    """Whether the post's charset (Django reads a multipart body in the one it names) is UTF-8."""
    try:
        return codecs.lookup(request.encoding or settings.DEFAULT_CHARSET).name == "utf-8"
    except LookupError:
        return False


def _receive_form(
    fields: dict, source: WebhookSource, key: str, request: HttpRequest, *, trap_reason: str = ""
) -> Receipt:
    posted = {name: request.POST.get(name, "") for name in request.POST if name != "form_token"}
    return receive_submission(
        fields,
        raw_payload=posted,
        channel=Submission.Channel.FORM,
        source=source,
        idempotency_key=key,
        trap_reason=trap_reason,
    )


def _render_form(
    request: HttpRequest,
    source: WebhookSource,
    form: LeadForm,
    *,
    status: int = 200,
    notice: str = "",
    fresh_token: bool = False,
) -> HttpResponse:
    # A first rendering starts the fill clock. A form shown again (errors, rate limit) keeps
    # the posted token's nonce and first issue time: a person who waited may send it at once,
    # a bot that did not wait gains nothing. After an expiry or a page already sent, a new
    # token starts now: a new submission costs a new wait.
    posted = str(request.POST.get("form_token", "")) if request.method == "POST" else ""
    if posted and not fresh_token:
        token = reissue_form_token(source.slug, posted)
    else:
        token = issue_form_token(source.slug)
    if form.is_bound:
        form.data = form.data.copy()
        form.data["form_token"] = token
    else:
        form.initial["form_token"] = token
    context = {"source": source, "form": form, "notice": notice, "honeypot": form[HONEYPOT_FIELD]}
    return render(request, "pipeline/form.html", context, status=status)
