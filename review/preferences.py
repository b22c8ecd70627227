"""What a reviewer changes for themselves (not the pipeline's business: nothing here is audited)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from review.models import MAX_SAVED_FILTERS, ReviewerSettings

# Only the queue's own filter names are kept in a saved filter (never the page or the stamp).
FILTER_KEYS = ("q", "label", "flag", "source", "age", "sort", "mine")


def set_single_key_shortcuts(user, *, enabled: bool) -> ReviewerSettings:
    settings, _ = ReviewerSettings.objects.get_or_create(user=user)
    settings.single_key_shortcuts = enabled
    settings.save(update_fields=["single_key_shortcuts"])
    return settings


def clean_filter_query(query: str) -> str:
    pairs = [(key, value) for key, value in parse_qsl(query) if key in FILTER_KEYS and value]
    return urlencode(pairs)


def save_filter(user, *, name: str, query: str) -> tuple[bool, str]:
    """Keep the queue's current filters under `name` (replacing one of the same name)."""
    name = " ".join(name.split())[:60]
    query = clean_filter_query(query)
    if not name:
        return False, "Give the filter a name."
    if not query:
        return False, "Pick at least one filter to save."
    settings, _ = ReviewerSettings.objects.get_or_create(user=user)
    saved = [item for item in settings.saved_filters if item.get("name") != name]
    if len(saved) >= MAX_SAVED_FILTERS:
        return False, f"You can keep {MAX_SAVED_FILTERS} filters; remove one first."
    settings.saved_filters = [*saved, {"name": name, "query": query}]
    settings.save(update_fields=["saved_filters"])
    return True, f"Saved the filter “{name}”."


def delete_filter(user, *, name: str) -> bool:
    settings = ReviewerSettings.objects.filter(user=user).first()
    if settings is None:
        return False
    kept = [item for item in settings.saved_filters if item.get("name") != name]
    if len(kept) == len(settings.saved_filters):
        return False
    settings.saved_filters = kept
    settings.save(update_fields=["saved_filters"])
    return True
