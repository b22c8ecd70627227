"""POST /inbound/<slug>/: replies to our emails, posted by an inbound-email provider or relay.

Signed the Standard Webhooks way with the secret of the webhook source of that slug, like the
lead webhook. Answers 202 {reply_id, lead_id, matched_by} (lead_id null when no lead matched:
the reply is kept and listed for staff) or a JSON error with a 4xx status.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from pipeline.intake import ratelimit, webhooks
from pipeline.intake.errors import IntakeError
from pipeline.replies.parse import parse_delivery
from pipeline.replies.receive import ReplyReceipt, receive_reply

logger = logging.getLogger(__name__)


@csrf_exempt  # authenticated by the Standard Webhooks signature, not a cookie
@never_cache
def inbound(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        receipt = _receive(request, slug)
    except IntakeError as error:
        logger.info("inbound.refused slug=%s status=%s", slug[:80], error.status)
        return JsonResponse(error.as_json(), status=error.status, headers=error.headers)
    headers = {"Idempotent-Replayed": "true"} if receipt.is_replay else {}
    return JsonResponse(receipt.as_json(), status=202, headers=headers)


def _receive(request: HttpRequest, slug: str) -> ReplyReceipt:
    source = webhooks.posted_source(request, slug)
    body = webhooks.read_body(request, settings.INBOUND_MAX_BODY_BYTES)
    text = webhooks.decode_body(body)
    source, webhook_id = webhooks.verify_delivery(source, text, request.headers)
    limit = source.rate_limit_per_minute or settings.WEBHOOK_RATE_LIMIT_PER_MINUTE
    verdict = ratelimit.hit(f"inbound:{source.pk}", limit)
    if not verdict.allowed:
        raise IntakeError(
            f"rate limit: at most {limit} deliveries a minute for this source; "
            f"retry in {verdict.retry_after} s",
            status=429,
            headers={"Retry-After": str(verdict.retry_after)},
        )
    # The whole header: a multipart body needs its boundary parameter.
    parsed, raw_payload = parse_delivery(body, request.META.get("CONTENT_TYPE", ""))
    return receive_reply(parsed, source=source, idempotency_key=webhook_id, raw_payload=raw_payload)
