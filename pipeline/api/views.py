"""/api/v1/: the JSON API for integrators (django-ninja).

Every answer is JSON. Errors are {"error": code, "reason": text, "details": [...]}: 400 bad
cursor, 401 no or unknown token, 403 a read-only token writing, 404 no such lead or run, 409 a
retry of a run that has nothing to retry, 422 a field that does not validate, 429 over the
token's rate limit (with Retry-After). Bad input never produces a 5xx.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import Http404, HttpRequest
from ninja import NinjaAPI, Path, Query, Status
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer

from pipeline.api import queries
from pipeline.api.schemas import (
    Error,
    Id,
    LeadDetail,
    LeadFilters,
    LeadPage,
    OutcomeIn,
    OutcomeOut,
    RetryOut,
    RunFilters,
    RunPage,
)
from pipeline.api.tokens import find_token, touch
from pipeline.intake.ratelimit import hit
from pipeline.models import ApiToken, Lead, PipelineRun

logger = logging.getLogger(__name__)


class RateLimited(Exception):
    def __init__(self, retry_after: int, limit: int) -> None:
        super().__init__(f"more than {limit} requests a minute for this token")
        self.retry_after = retry_after


class TokenAuth(HttpBearer):
    """Authorization: Bearer lo_…; each request counts against the token's rate limit."""

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        row = find_token(token)
        if row is None:
            return None
        limit = row.rate_limit_per_minute or settings.API_RATE_LIMIT_PER_MINUTE
        verdict = hit(f"api-token:{row.pk}", limit)
        if not verdict.allowed:
            raise RateLimited(verdict.retry_after, limit)
        touch(row)
        return row


api = NinjaAPI(
    title="LeadOps API",
    version="1",
    description="Read leads and runs, report outcomes, retry failed runs. "
    "Authenticate with `Authorization: Bearer <token>` (admins create tokens in the admin).",
    auth=TokenAuth(),
    urls_namespace="api-v1",
    # The interactive docs page loads its assets from a CDN, which our CSP forbids.
    docs_url=None,
)

ERRORS = {400: Error, 401: Error, 404: Error, 422: Error, 429: Error}


def error(request, status: int, code: str, reason: str, details=None, headers=None):
    response = api.create_response(
        request, {"error": code, "reason": reason, "details": details or []}, status=status
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


@api.exception_handler(ValidationError)
def on_invalid(request, exc: ValidationError):
    details = [
        {"field": ".".join(str(part) for part in item.get("loc", ())), "message": item.get("msg")}
        for item in exc.errors
    ]
    reason = "; ".join(f"{item['field']}: {item['message']}" for item in details)
    return error(request, 422, "invalid", reason or "the request does not validate", details)


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request, exc: AuthenticationError):
    return error(
        request,
        401,
        "unauthorized",
        "send 'Authorization: Bearer <token>' with an active API token",
        headers={"WWW-Authenticate": 'Bearer realm="leadops"'},
    )


@api.exception_handler(RateLimited)
def on_rate_limited(request, exc: RateLimited):
    return error(
        request, 429, "rate_limited", str(exc), headers={"Retry-After": str(exc.retry_after)}
    )


@api.exception_handler(queries.BadCursor)
def on_bad_cursor(request, exc: queries.BadCursor):
    return error(request, 400, "bad_cursor", str(exc))


@api.exception_handler(Http404)
def on_not_found(request, exc: Http404):
    return error(request, 404, "not_found", str(exc) or "no such resource")


@api.exception_handler(HttpError)
def on_http_error(request, exc: HttpError):
    codes = {
        400: "bad_request",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        409: "conflict",
    }
    return error(request, exc.status_code, codes.get(exc.status_code, "error"), exc.message)


def require_write(request) -> ApiToken:
    token: ApiToken = request.auth
    if not token.can_write:
        raise HttpError(403, f"token {token.prefix}… is read-only; this needs read+write")
    return token


@api.get("/leads", response={200: LeadPage, **ERRORS}, tags=["leads"])
def list_leads(request, filters: Query[LeadFilters]):
    """Leads, newest first. Filters combine; follow next_cursor for the next page."""
    rows = queries.leads(
        label=filters.label,
        decision=filters.decision,
        source=filters.source,
        created_since=filters.created_since,
        cursor=filters.cursor,
    )
    items, next_cursor = queries.page(rows, filters.limit)
    return {"items": [queries.summary(lead) for lead in items], "next_cursor": next_cursor}


@api.get("/leads/{lead_id}", response={200: LeadDetail, **ERRORS}, tags=["leads"])
def get_lead(request, lead_id: Path[Id]):
    """One lead: classification, score and its explanation, enrichment, drafts, emails, outcomes."""
    data = queries.lead_detail(lead_id)
    if data is None:
        raise Http404(f"no lead {lead_id}")
    return data


@api.post(
    "/leads/{lead_id}/outcomes",
    response={200: OutcomeOut, 201: OutcomeOut, 403: Error, 409: Error, **ERRORS},
    tags=["leads"],
)
def post_outcome(request, lead_id: Path[Id], payload: OutcomeIn):
    """Report what became of the lead (won, lost, not_interested, meeting_booked) with a note.

    Send an `Idempotency-Key` header to make retries safe: the same key again answers 200 with
    the outcome first stored; the key reused for another outcome is a 409.
    """
    from pipeline.outcomes import KeyReused, record_outcome, record_outcome_once

    token = require_write(request)
    lead = Lead.objects.filter(pk=lead_id).first()
    if lead is None:
        raise Http404(f"no lead {lead_id}")
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > 200 or "\x00" in key:
        raise HttpError(400, "Idempotency-Key must be at most 200 printable characters")
    if not key:
        row = record_outcome(lead, outcome=payload.outcome, note=payload.note, token=token)
        return Status(201, row)
    try:
        row, created = record_outcome_once(
            lead, outcome=payload.outcome, note=payload.note, token=token, idempotency_key=key
        )
    except KeyReused as reused:
        raise HttpError(409, str(reused)) from None
    return Status(201 if created else 200, row)


@api.get("/runs", response={200: RunPage, **ERRORS}, tags=["runs"])
def list_runs(request, filters: Query[RunFilters]):
    """Pipeline runs, newest first, with their steps."""
    rows = queries.runs(status=filters.status, lead_id=filters.lead_id, cursor=filters.cursor)
    items, next_cursor = queries.page(rows, filters.limit)
    return {"items": [queries.run_out(run) for run in items], "next_cursor": next_cursor}


@api.post(
    "/runs/{run_id}/retry",
    response={202: RetryOut, 403: Error, 409: Error, **ERRORS},
    tags=["runs"],
)
def retry_run(request, run_id: Path[Id]):
    """Retry the failed steps of a failed run. 409 when the run has nothing to retry."""
    from pipeline.actions import retry_run as retry

    token = require_write(request)
    run = PipelineRun.objects.filter(pk=run_id).first()
    if run is None:
        raise Http404(f"no run {run_id}")
    result = retry(run, by=None, via=f"API token {token.name} ({token.prefix}…)")
    if not result.changed:
        raise HttpError(409, result.message)
    return Status(202, {"run_id": run.pk, "status": "queued", "message": result.message})
