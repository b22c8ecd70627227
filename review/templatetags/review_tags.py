"""Small display filters of the staff pages. Output is plain text: templates escape it."""

from __future__ import annotations

import math
from decimal import Decimal

from django import template

from review.words import (
    ACTIONS,
    DECISIONS,
    DRAFT_STATES,
    EMAIL_STATES,
    RUN_STATES,
    STEP_STATES,
    STEP_TITLES,
)
from review.words import words as _words

register = template.Library()


@register.filter
def percent(value) -> str:
    """0.86 -> "86%"."""
    if value is None or value == "":
        return ""
    try:
        return f"{float(value) * 100:.0f}%"
    except (TypeError, ValueError):
        return ""


@register.filter
def label_text(value) -> str:
    """high_intent -> "high intent"."""
    return str(value or "").replace("_", " ")


@register.filter
def duration(milliseconds) -> str:
    """850 -> "850 ms", 1900 -> "1.9 s", 125000 -> "2 min 5 s"."""
    if milliseconds is None or milliseconds == "":
        return ""
    milliseconds = int(milliseconds)
    if milliseconds < 1000:
        return f"{milliseconds} ms"
    seconds = milliseconds / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s"


@register.filter
def usd(value) -> str:
    if value in (None, ""):
        return ""
    amount = Decimal(value)
    if not amount:
        return ""
    return f"${amount:.4f}"


@register.filter
def diff_lines(text) -> list[tuple[str, str]]:
    """A unified diff as (css class, line) pairs: added, removed, hunk, or context."""
    lines = []
    for line in str(text or "").splitlines():
        if line.startswith(("+++", "---")):
            continue
        if line.startswith("+"):
            kind = "added"
        elif line.startswith("-"):
            kind = "removed"
        elif line.startswith("@@"):
            kind = "hunk"
        else:
            kind = "context"
        lines.append((kind, line))
    return lines


@register.filter
def get_item(mapping, key):
    """dict lookup by a variable key."""
    if isinstance(mapping, dict):
        return mapping.get(key)
    return None


@register.filter
def is_safe_link(url) -> bool:
    """Only http(s) URLs and paths on this site (the built-in CRM's admin page) become links."""
    url = str(url or "")
    is_local_path = url.startswith("/") and not url.startswith(("//", "/\\"))
    return is_local_path or url.lower().startswith(("http://", "https://"))


@register.filter
def seconds(value) -> str:
    """A number of seconds, shown like `duration` (12.5 -> "12.5 s"; 7300 -> "2 h 1 min")."""
    if value is None or value == "":
        return ""
    # SQLite's julianday arithmetic is off by a few microseconds; nobody reads below 10 ms.
    value = round(float(value), 2)
    if value >= 3600:
        hours, rest = divmod(round(value), 3600)
        return f"{hours} h {rest // 60} min"
    return duration(value * 1000)


@register.filter
def share_of(part, whole) -> str:
    """part / whole as a percentage, "" when whole is zero."""
    try:
        whole = Decimal(whole)
        return f"{Decimal(part) / whole * 100:.0f}%" if whole else ""
    except (TypeError, ArithmeticError, ValueError):
        return ""


@register.filter
def as_json(value) -> str:
    """A step's output, indented for reading (the template escapes it)."""
    import json

    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


@register.simple_tag(takes_context=True)
def pending_total(context) -> int:
    """Drafts waiting for review, for the navigation and the tab title (one query per page).

    The queue page already counted them when no filter is on and hands that in.
    """
    known = context.get("pending_total")
    if known is not None:
        return known
    from review.queries import pending_count

    return pending_count()


@register.filter
def seconds_until(moment) -> int:
    """Whole seconds from now until `moment` (0 once it is past): the undo countdown."""
    if not moment:
        return 0
    from django.utils import timezone

    return max(0, math.ceil((moment - timezone.now()).total_seconds()))


@register.filter
def step_title(name) -> str:
    """score_final -> "Final score and decision"."""
    return _words(STEP_TITLES, name)


@register.filter
def step_state(status) -> str:
    return _words(STEP_STATES, status)


@register.filter
def run_state(status) -> str:
    return _words(RUN_STATES, status)


@register.filter
def draft_state(status) -> str:
    return _words(DRAFT_STATES, status)


@register.filter
def decision_text(decision) -> str:
    return _words(DECISIONS, decision)


@register.filter
def email_state(state) -> str:
    return _words(EMAIL_STATES, state)


@register.filter
def action_text(action) -> str:
    return _words(ACTIONS, action)


@register.filter
def is_review_rejection(step) -> bool:
    """The gate 'failed' because a reviewer rejected the draft: not a failure to sales staff."""
    return (
        getattr(step, "name", "") == "gate"
        and getattr(step, "status", "") == "failed"
        and str(getattr(step, "error", "") or "").startswith("rejected:")
    )


SPAM_FLAGS = {"link_spam", "gibberish", "disposable_email"}


@register.filter
def possible_spam(page) -> list:
    """The drafts on this page labelled or decided possible spam, or carrying a spam-like flag."""
    return [
        draft
        for draft in page
        if draft.is_possible_spam or SPAM_FLAGS.intersection(draft.flags or [])
    ]


@register.filter
def step_titles(names) -> str:
    """("classify", "enrich") -> "Read the message, Look up the company"."""
    return ", ".join(_words(STEP_TITLES, name) for name in names or ())


@register.filter
def waited(moment) -> str:
    """How long ago, in its largest unit only ("6 hours", "1 week"): a narrow Age column."""
    from django.utils.timesince import timesince

    return timesince(moment, depth=1) if moment else ""


@register.filter
def over_sla(draft) -> bool:
    """True once the draft has waited in review longer than the SLA, in working time (the same
    rule that escalates it)."""
    from pipeline.notifications import is_overdue

    return is_overdue(draft)


@register.filter
def minutes_text(minutes) -> str:
    """120 -> "2 h", 90 -> "1 h 30 min", 45 -> "45 min"."""
    hours, rest = divmod(int(minutes or 0), 60)
    parts = ([f"{hours} h"] if hours else []) + ([f"{rest} min"] if rest or not hours else [])
    return " ".join(parts)
