"""Bot traps and cross-site checks for the hosted form.

The form carries a signed token (a nonce and the time it was rendered): it proves the post
comes from a form we served, measures the fill time, and its nonce makes a double-submitted
form one submission. Django's CSRF cookie cannot do this job here: the form is embedded in
other sites' pages, where browsers do not send our SameSite cookies to an iframe. Instead a
post must come from our own origin (Fetch Metadata / Origin headers, as CSRF defences go).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.http import HttpRequest

TOKEN_SALT = "pipeline.intake.form"


@dataclass(frozen=True)
class TokenCheck:
    nonce: str = ""
    trap_reason: str = ""  # set when the post is a bot's
    is_expired: bool = False  # a human left the page open too long: show the form again


def issue_form_token(slug: str, *, now: float | None = None, nonce: str = "") -> str:
    issued = time.time() if now is None else now
    return signing.dumps({"n": nonce or uuid.uuid4().hex, "t": round(issued, 3)}, salt=_salt(slug))


def reissue_form_token(slug: str, token: str) -> str:
    """The token for a form shown again (errors, rate limit): the posted token's nonce and
    first issue time when it is ours, else a new one starting now.

    Never backdated: a page shown again must not hand a bot that never waited a token old
    enough to pass, and keeping the nonce means one wait buys at most one submission.
    """
    try:
        data = signing.loads(token, salt=_salt(slug))
        return issue_form_token(slug, now=float(data["t"]), nonce=str(data["n"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return issue_form_token(slug)


def check_form_token(
    slug: str, token: str, *, honeypot: str, now: float | None = None
) -> TokenCheck:
    """Tell a human's post from a bot's: honeypot empty, token ours, filled slowly enough."""
    now = time.time() if now is None else now
    if honeypot.strip():
        nonce = _nonce(slug, token)
        return TokenCheck(nonce=nonce, trap_reason="honeypot field was filled in")
    try:
        data = signing.loads(token, salt=_salt(slug))
        nonce, issued = str(data["n"]), float(data["t"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return TokenCheck(trap_reason="missing or forged form token")
    elapsed = now - issued
    if elapsed < settings.FORM_MIN_FILL_SECONDS:
        return TokenCheck(nonce=nonce, trap_reason=f"form filled in {max(elapsed, 0):.1f} s")
    if elapsed > settings.FORM_TOKEN_MAX_AGE_HOURS * 3600:
        return TokenCheck(nonce=nonce, is_expired=True)
    return TokenCheck(nonce=nonce)


def _nonce(slug: str, token: str) -> str:
    try:
        return str(signing.loads(token, salt=_salt(slug))["n"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return ""


def _salt(slug: str) -> str:
    return f"{TOKEN_SALT}:{slug}"


def cross_origin_reason(request: HttpRequest) -> str:
    """Why this POST looks cross-site (a forged request), or "" when it is our own page's."""
    fetch_site = request.headers.get("Sec-Fetch-Site", "").lower()
    if fetch_site:
        if fetch_site in ("same-origin", "none"):
            return ""
        return f"Sec-Fetch-Site is {fetch_site}"
    origin = request.headers.get("Origin")
    if origin is None:
        return ""  # an older browser or a script; the signed form token still applies
    own = f"{request.scheme}://{request.get_host()}"
    if origin == own or origin in settings.CSRF_TRUSTED_ORIGINS:
        return ""
    return f"Origin {origin[:100]} is not this site"
