"""Webhook deliveries: body limits, content types, Standard Webhooks signatures, parsing.

A delivery is signed the Standard Webhooks way (https://www.standardwebhooks.com/):
webhook-signature: "v1,<base64 HMAC-SHA256 of '<webhook-id>.<webhook-timestamp>.<raw body>'>",
keyed with the base64 part of the source's "whsec_..." secret. The `standardwebhooks` package
checks the signature; we check the headers and the timestamp first to say precisely what is
wrong. The signature covers the exact bytes sent: a proxy that re-serialises JSON breaks it.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import re
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from pipeline import config_cache
from pipeline.intake.errors import IntakeError, InvalidLead, UnknownSource
from pipeline.intake.sources import valid_secrets
from pipeline.models import WebhookSource

logger = logging.getLogger(__name__)

JSON = "json"
FORM = "form"
MAX_FORM_FIELDS = 500
SIGNATURE_BYTES = 32  # HMAC-SHA256
MAX_SIGNATURES = 20  # senders list one per secret they hold; more is not a real sender
_VERSION = re.compile(r"v[0-9][0-9a-z]{0,15}")
SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
# Svix sends the same headers under its own prefix.
SVIX_HEADERS = {
    "webhook-id": "svix-id",
    "webhook-timestamp": "svix-timestamp",
    "webhook-signature": "svix-signature",
}


def posted_source(request: HttpRequest, slug: str) -> WebhookSource:
    """The active source a delivery is posted to; 405 for another method, 404 for no source."""
    if request.method != "POST":
        raise IntakeError("use POST", status=405, headers={"Allow": "POST"})
    source = config_cache.cached(_kept_as(slug), lambda: _active_source(slug))
    if source is None:
        raise UnknownSource(slug)
    return source


def _active_source(slug: str) -> WebhookSource | None:
    return WebhookSource.objects.filter(slug=slug, is_active=True).first()


def _kept_as(slug: str) -> tuple[str, str]:
    """The source's key in config_cache."""
    return ("webhook-source", slug)


def verify_delivery(
    source: WebhookSource, text: str, headers: Mapping[str, str]
) -> tuple[WebhookSource, str]:
    """verify_signature() with the source as this process kept it (config_cache); when that
    fails, with the source as stored now if its secrets differ (rotated a moment ago in another
    process). Returns the source the signature matched, and the delivery's webhook-id.

    A refused delivery costs one read of the source, as before it was kept; the kept copy is
    dropped only when the stored one differs, so junk posted to a slug does not empty it."""
    try:
        return source, verify_signature(source, text, headers)
    except IntakeError:
        current = _active_source(source.slug)
        if current is None:  # switched off or deleted since this process kept it
            config_cache.forget(_kept_as(source.slug))
            raise UnknownSource(source.slug) from None
        if (current.secret, current.retired_secrets) == (source.secret, source.retired_secrets):
            raise
        config_cache.forget(_kept_as(source.slug))
        config_cache.cached(_kept_as(source.slug), lambda: current)  # kept from now on
    return current, verify_signature(current, text, headers)


def read_body(request: HttpRequest, limit: int) -> bytes:
    """The raw body, refusing (413) anything over `limit` bytes without reading all of it, and
    (411) a chunked one, which Django reads as empty."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if not declared and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        # Else the signature check would compare against an empty body: a wrong "mismatch".
        raise IntakeError(
            "send the body with a Content-Length header: a chunked body (Transfer-Encoding: "
            "chunked) is not read here. A proxy in front (deploy/nginx.conf) sends it on whole.",
            status=411,
        )
    if declared > limit:
        raise _too_large(declared, limit)
    body = request.read(limit + 1)
    if len(body) > limit:
        raise _too_large(None, limit)
    return body


def _too_large(size: int | None, limit: int) -> IntakeError:
    told = f"{size} bytes" if size is not None else "more than that"
    return IntakeError(
        f"body too large: the limit is {limit} bytes, this one is {told}", status=413
    )


def content_kind(content_type: str) -> str:
    """JSON or FORM, from the Content-Type's media type; 415 for anything else."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        return JSON
    if media_type == "application/x-www-form-urlencoded":
        return FORM
    shown = media_type or "none"
    raise IntakeError(
        f"unsupported content type {shown!r}: send application/json "
        "or application/x-www-form-urlencoded",
        status=415,
    )


def decode_body(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidLead({"body": f"not UTF-8 text (bad byte at offset {error.start})"}) from None


def signature_headers(headers: Mapping[str, str]) -> dict[str, str]:
    found = {}
    for name in SIGNATURE_HEADERS:
        value = headers.get(name) or headers.get(SVIX_HEADERS[name])
        if value:
            found[name] = value
    return found


def verify_signature(
    source: WebhookSource, text: str, headers: Mapping[str, str], *, now: float | None = None
) -> str:
    """Check the delivery's signature with the source's secret(s); return its webhook-id.

    Raises IntakeError(401) saying which header is missing, that the timestamp expired, that
    the signature header is malformed, or that no signature matched.
    """
    return check_signature(valid_secrets(source, now=timezone.now()), text, headers, now=now)


MAX_TIMESTAMP = 10**11


def check_signature(
    secrets: Sequence[str], text: str, headers: Mapping[str, str], *, now: float | None = None
) -> str:
    """verify_signature() without the database: the secrets are given."""
    found = signature_headers(headers)
    missing = [name for name in SIGNATURE_HEADERS if name not in found]
    if missing:
        raise _unauthorized(
            f"missing signature header(s): {', '.join(missing)} "
            "(sign deliveries the Standard Webhooks way)"
        )
    try:
        timestamp = int(found["webhook-timestamp"].strip())
    except ValueError:
        timestamp = None
    # Beyond the year 5000 it is not a time: and a number past a float's range (309 digits)
    # would not even subtract from the clock.
    if timestamp is None or abs(timestamp) > MAX_TIMESTAMP:
        raise _unauthorized("webhook-timestamp must be Unix time in whole seconds")
    now = time.time() if now is None else now
    tolerance = settings.WEBHOOK_TOLERANCE_SECONDS
    age = now - timestamp
    if age > tolerance:
        raise _unauthorized(
            f"webhook-timestamp expired: signed {math.floor(age)} s ago, we accept "
            f"{tolerance} s (sign each delivery attempt afresh)"
        )
    if -age > tolerance:
        raise _unauthorized(
            f"webhook-timestamp is {math.floor(-age)} s in the future: check the sender's clock"
        )
    signatures = parse_signature_header(found["webhook-signature"])
    # The library sees only entries we parsed, so what it says is "match" or "no match",
    # whatever wording its version uses for a header it cannot read.
    checked = {**found, "webhook-signature": " ".join(f"v1,{value}" for value in signatures)}
    for secret in secrets:
        try:
            Webhook(secret).verify(text, checked, json_parse=False)
        except WebhookVerificationError:
            continue
        return found["webhook-id"]
    raise _unauthorized(
        "signature mismatch: no v1 signature matches this body with the source's secret. "
        "Sign the exact bytes you send, as '<webhook-id>.<webhook-timestamp>.<body>'; a proxy "
        "that re-encodes the body (JSON whitespace, key order) breaks the signature"
    )


def parse_signature_header(header: str) -> list[str]:
    """The base64 values of the header's v1 entries; 401 saying what is wrong otherwise.

    The header is space-separated "<version>,<signature>" entries; versions other than v1
    (asymmetric "v1a", future ones) are skipped, as the scheme asks, but must be well formed.
    """
    entries = header.split()
    if len(entries) > MAX_SIGNATURES:
        raise _malformed(f"{len(entries)} entries, at most {MAX_SIGNATURES}")
    values = []
    for position, entry in enumerate(entries, start=1):
        version, comma, value = entry.partition(",")
        if not comma or not _VERSION.fullmatch(version) or not value:
            raise _malformed(f"entry {position} is not '<version>,<base64 signature>'")
        if version != "v1":
            continue
        try:
            digest = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _malformed(f"entry {position}: the v1 signature is not base64") from None
        if len(digest) != SIGNATURE_BYTES:
            raise _malformed(
                f"entry {position}: a v1 signature is {SIGNATURE_BYTES} bytes "
                f"(HMAC-SHA256), this one {len(digest)}"
            )
        values.append(value)
    if not values:
        raise _malformed("no 'v1,<base64>' entry (sign with HMAC-SHA256, version v1)")
    return values


def _malformed(detail: str) -> IntakeError:
    return _unauthorized(f"malformed webhook-signature header: {detail}")


def _unauthorized(message: str) -> IntakeError:
    return IntakeError(message, status=401)


def parse_payload(text: str, kind: str) -> dict[str, Any]:
    """The body as a dict: a JSON object, or form fields (repeated names become lists)."""
    if kind == JSON:
        try:
            payload = json.loads(text, parse_constant=_refuse_constant, parse_int=parse_json_int)
        except (ValueError, RecursionError) as error:
            detail = str(error)[:200] if isinstance(error, ValueError) else "nested too deeply"
            raise InvalidLead({"body": f"not valid JSON: {detail}"}) from None
        if not isinstance(payload, dict):
            raise InvalidLead({"body": f"must be a JSON object, not {type(payload).__name__}"})
        return payload
    try:
        pairs = parse_qsl(
            text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS, errors="strict"
        )
    except UnicodeDecodeError:
        raise InvalidLead({"body": "a form value is not UTF-8 once percent-decoded"}) from None
    except ValueError as error:
        raise InvalidLead({"body": f"not a valid form body: {error}"}) from None
    payload: dict[str, Any] = {}
    for key, value in pairs:
        if key in payload:
            existing = payload[key]
            payload[key] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            payload[key] = value
    return payload


def parse_json_int(text: str) -> int:
    """json's parse_int: a number too long for Python to read is said plainly (Python's own
    message tells the sender to call sys.set_int_max_str_digits)."""
    limit = sys.get_int_max_str_digits()
    digits = len(text) - text.startswith("-")
    if limit and digits > limit:
        raise ValueError(f"a number of {digits} digits (at most {limit})")
    return int(text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def sender_key(headers: Mapping[str, str]) -> str:
    """The Idempotency-Key header, if sent. It is not signed: it only adds to the webhook-id."""
    key = (headers.get("Idempotency-Key") or "").strip()
    if len(key) > 200:
        raise InvalidLead({"Idempotency-Key": "too long: at most 200 characters"})
    return key
