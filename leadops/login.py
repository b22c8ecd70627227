"""Login throttling: failed logins counted per account and per client address.

Counters live on the shared cache (Redis, or the database cache on one machine), so every web
process sees the same counts. Past LOGIN_FAILURES_PER_ACCOUNT failures for one account, or
LOGIN_FAILURES_PER_ADDRESS from one address, within LOGIN_LOCKOUT_MINUTES, that account or
address is refused for LOGIN_LOCKOUT_MINUTES, even with the right password: an attacker's next
guess could be the right one. An admin unlocks an account from the Users list in the admin.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass
from typing import Literal

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpResponse

from pipeline.intake.ratelimit import client_ip

logger = logging.getLogger(__name__)

Scope = Literal["account", "address"]


@dataclass(frozen=True)
class Lockout:
    scope: Scope
    retry_after: int  # seconds

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.retry_after / 60))


def _window() -> int:
    return settings.LOGIN_LOCKOUT_MINUTES * 60


def _ident(scope: Scope, value: str) -> str:
    # Usernames are typed by strangers: hash them into safe, bounded cache keys.
    if scope == "account":
        value = value.strip().lower()
    return hashlib.sha256(f"{scope}:{value}".encode()).hexdigest()[:32]


def _lock_key(scope: Scope, value: str) -> str:
    return f"login:locked:{_ident(scope, value)}"


def _count_key(scope: Scope, value: str, bucket: int) -> str:
    return f"login:failures:{_ident(scope, value)}:{bucket}"


def _limit(scope: Scope) -> int:
    if scope == "account":
        return settings.LOGIN_FAILURES_PER_ACCOUNT
    return settings.LOGIN_FAILURES_PER_ADDRESS


def lockout_for(username: str, address: str, *, now: float | None = None) -> Lockout | None:
    """The lockout that refuses this login attempt, or None."""
    now = time.time() if now is None else now
    try:
        locks = cache.get_many([_lock_key("account", username), _lock_key("address", address)])
    except Exception as error:
        # A broken cache must not lock staff out of their own tool; say so in the log.
        logger.warning("login.throttle_unavailable error=%s", type(error).__name__)
        return None
    for scope, value in (("account", username), ("address", address)):
        until = locks.get(_lock_key(scope, value))
        if until is not None and until > now:
            return Lockout(scope, math.ceil(until - now))
    return None


def record_failure(username: str, address: str, *, now: float | None = None) -> None:
    """Count one failed login; lock the account or address that reaches its limit."""
    now = time.time() if now is None else now
    window = _window()
    bucket = int(now // window)
    for scope, value in (("account", username), ("address", address)):
        key = _count_key(scope, value, bucket)
        try:
            cache.add(key, 0, timeout=window * 2)
            try:
                count = cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, timeout=window * 2)
                count = 1
            # The previous window counts too, so failures cannot hide across a boundary.
            count += cache.get(_count_key(scope, value, bucket - 1), 0)
            if count >= _limit(scope):
                cache.set(_lock_key(scope, value), now + window, timeout=window)
                logger.warning(
                    "login.locked scope=%s username=%r address=%s failures=%d minutes=%d",
                    scope,
                    username[:150],
                    address,
                    count,
                    settings.LOGIN_LOCKOUT_MINUTES,
                )
        except Exception as error:
            logger.warning("login.throttle_unavailable error=%s", type(error).__name__)
            return
    logger.info("login.failed username=%r address=%s", username[:150], address)


def unlock_account(username: str, *, now: float | None = None) -> None:
    """Lift an account's lockout and forget its failures (an admin action; a good login)."""
    now = time.time() if now is None else now
    bucket = int(now // _window())
    cache.delete_many(
        [
            _lock_key("account", username),
            _count_key("account", username, bucket),
            _count_key("account", username, bucket - 1),
        ]
    )


def is_account_locked(username: str) -> bool:
    until = cache.get(_lock_key("account", username))
    return until is not None and until > time.time()


class ThrottledAuthenticationForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "locked_account": (
            "Too many failed logins for this account. Try again in %(minutes)d minutes, "
            "or ask an administrator to unlock it."
        ),
        "locked_address": (
            "Too many failed logins from your network address. Try again in %(minutes)d minutes."
        ),
    }

    lockout: Lockout | None = None

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = client_ip(self.request) if self.request else "unknown"
        self.lockout = lockout_for(username, address)
        if self.lockout is not None:
            logger.warning(
                "login.refused scope=%s username=%r address=%s",
                self.lockout.scope,
                username[:150],
                address,
            )
            raise ValidationError(
                self.error_messages[f"locked_{self.lockout.scope}"],
                code=f"locked_{self.lockout.scope}",
                params={"minutes": self.lockout.minutes},
            )
        try:
            cleaned = super().clean()
        except ValidationError:
            record_failure(username, address)
            raise
        unlock_account(username)
        return cleaned


class LoginView(auth_views.LoginView):
    """Django's login view with throttling; a locked-out attempt answers 429 with Retry-After."""

    authentication_form = ThrottledAuthenticationForm

    def form_invalid(self, form) -> HttpResponse:
        response = super().form_invalid(form)
        if form.lockout is not None:
            response.status_code = 429
            response["Retry-After"] = str(form.lockout.retry_after)
        return response
