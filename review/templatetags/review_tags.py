"""Small display filters of the staff pages. Output is plain text: templates escape it."""

from __future__ import annotations

from decimal import Decimal

from django import template

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
    """Only http(s) URLs become links; anything else stays text."""
    return str(url or "").lower().startswith(("http://", "https://"))
