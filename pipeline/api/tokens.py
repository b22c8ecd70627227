"""API tokens: made once, shown once, stored as a SHA-256, revoked by stamping revoked_at.

A token is `lo_<prefix>_<secret>`: the prefix (kept in clear) lets staff tell keys apart in the
admin; the whole token is 256 bits of randomness, so one unsalted SHA-256 is enough to keep a
database leak from becoming a working key (a slow password hash would only slow every request).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.utils import timezone

from pipeline.models import ApiToken

PREFIX = "lo_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(
    *, name: str, scope: str, by=None, rate_limit_per_minute: int | None = None
) -> tuple[ApiToken, str]:
    """A new token row and the token itself, which is never recoverable afterwards."""
    row = ApiToken(
        name=name, scope=scope, created_by=by, rate_limit_per_minute=rate_limit_per_minute
    )
    token = issue_secret(row)
    row.save()
    return row, token


def issue_secret(row: ApiToken) -> str:
    """Give an unsaved or existing row a fresh token (the admin's add form); returns it."""
    row.prefix = secrets.token_hex(4)
    token = f"{PREFIX}{row.prefix}_{secrets.token_urlsafe(32)}"
    row.token_hash = hash_token(token)
    return token


def find_token(token: str) -> ApiToken | None:
    """The active token row for this bearer token, or None."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    digest = hash_token(token)
    row = ApiToken.objects.filter(token_hash=digest, revoked_at__isnull=True).first()
    # The lookup is by hash already; compare again in constant time for good measure.
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return row


def touch(row: ApiToken) -> None:
    """Record use at most once a minute, so reads don't turn into a write each."""
    now = timezone.now()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)


def revoke_tokens(queryset) -> int:
    """Revoke the given tokens at once; already revoked ones stay as they were."""
    return queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
