"""Versions of the business settings: what changed between two, and restoring an old one."""

from __future__ import annotations

from typing import Any

THRESHOLD_NAMES = {
    "auto_send_threshold": "Auto-send score",
    "auto_send_labels": "Labels that may be auto-sent",
    "auto_send_min_confidence": "Classifier confidence an auto-send needs",
    "review_floor": "Review floor",
}


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{key}={_show(item)}" for key, item in sorted(value.items())) or "none"
    if value in ("", None):
        return "empty"
    return str(value)


def _criterion_changes(old: dict, new: dict) -> list[str]:
    changes = []
    for field, name in (("label", "label"), ("points", "points"), ("check", "kind")):
        if old.get(field) != new.get(field):
            changes.append(f"{name} {_show(old.get(field))} → {_show(new.get(field))}")
    if (old.get("params") or {}) != (new.get("params") or {}):
        changes.append(
            f"parameters {_show(old.get('params') or {})} → {_show(new.get('params') or {})}"
        )
    if (old.get("question") or "") != (new.get("question") or ""):
        changes.append("rubric rewritten")
    return changes


def diff_scoring(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """Readable lines saying what `new` changed against `old` (the values of two versions)."""
    if old is None:
        return ["First version."]
    lines = []
    for field, name in THRESHOLD_NAMES.items():
        before, after = old.get(field), new.get(field)
        if field == "auto_send_labels":
            before, after = sorted(before or []), sorted(after or [])
        if before != after:
            lines.append(f"{name}: {_show(before)} → {_show(after)}")
    old_criteria = {c.get("key"): c for c in old.get("criteria") or []}
    new_criteria = {c.get("key"): c for c in new.get("criteria") or []}
    for key, criterion in new_criteria.items():
        if key not in old_criteria:
            lines.append(
                f"Added “{criterion.get('label')}” ({_show(criterion.get('points'))} points)."
            )
        else:
            changes = _criterion_changes(old_criteria[key], criterion)
            if changes:
                lines.append(f"Changed “{criterion.get('label')}”: " + "; ".join(changes) + ".")
    for key, criterion in old_criteria.items():
        if key not in new_criteria:
            lines.append(
                f"Removed “{criterion.get('label')}” ({_show(criterion.get('points'))} points)."
            )
    old_order = [key for key in old_criteria if key in new_criteria]
    new_order = [key for key in new_criteria if key in old_criteria]
    if old_order != new_order:
        lines.append("Criteria reordered.")
    return lines or ["No change."]


def diff_profile(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    if old is None:
        return ["First version."]
    lines = []
    for field, after in new.items():
        before = old.get(field)
        if before == after:
            continue
        name = field.replace("_", " ").capitalize()
        if field == "facts":
            added = [fact for fact in after if fact not in before]
            removed = [fact for fact in before if fact not in after]
            for fact in added:
                lines.append(f"Fact added: {fact}")
            for fact in removed:
                lines.append(f"Fact removed: {fact}")
        elif len(str(before)) > 80 or len(str(after)) > 80:
            lines.append(f"{name} rewritten.")
        else:
            lines.append(f"{name}: {_show(before)} → {_show(after)}")
    return lines or ["No change."]


def version_history(model, *, limit: int = 50) -> list[dict[str, Any]]:
    """The newest versions first, each with who, when, the note and its diff to the one before."""
    rows = list(model.objects.select_related("created_by").order_by("-pk")[: limit + 1])
    differ = diff_scoring if model.__name__ == "ScoringConfig" else diff_profile
    history = []
    for index, row in enumerate(rows[:limit]):
        previous = rows[index + 1] if index + 1 < len(rows) else None
        history.append(
            {
                "row": row,
                "is_current": index == 0,
                "changes": differ(previous.values() if previous else None, row.values()),
            }
        )
    return history


def restore_version(model, version: int, *, by, based_on: int | None):
    """Save an old version's values as the newest version (history is never rewritten)."""
    old = model.objects.get(pk=version)
    return model.save_version(
        old.values(), by=by, note=f"Restored version {version}.", based_on=based_on
    )
