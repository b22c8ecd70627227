"""Words for sales staff: what each pipeline step does, and what a state means to them."""

STEP_TITLES = {
    "classify": "Read the message",
    "enrich": "Look up the company",
    "score_form": "Score the form",
    "score_final": "Final score and decision",
    "crm_write": "Save to the CRM",
    "draft": "Write the reply",
    "gate": "Review",
    "send": "Send the reply",
}
STEP_STATES = {
    "pending": "not started",
    "queued": "queued",
    "running": "working",
    "succeeded": "done",
    "failed": "failed",
    "skipped": "skipped",
    "waiting": "waiting for review",
}
RUN_STATES = {
    "pending": "starting",
    "running": "in progress",
    "waiting": "waiting for review",
    "succeeded": "done",
    "failed": "failed",
    "cancelled": "cancelled",
    "rejected": "rejected",
}
DRAFT_STATES = {
    "pending": "waiting for review",
    "approved": "approved",
    "rejected": "rejected",
    "superseded": "replaced",
}
DECISIONS = {
    "auto_send": "answered automatically",
    "review": "needs a review",
    "discard": "discarded",
}
EMAIL_STATES = {
    "queued": "queued",
    "sending": "sending",
    "sent": "sent",
    "failed": "failed",
    "unknown": "fate unknown: check the mail server",
    "cancelled": "not sent (cancelled)",
}
ACTIONS = {
    "approve": "approved",
    "reject": "rejected",
    "edit": "edited",
    "regenerate": "asked for a new draft",
    "reassign": "reassigned",
    "undo": "took the approval back",
    "retry": "retried the run",
    "assign": "assigned",
    "snooze": "snoozed",
    "replied": "sent their own reply",
    "follow_ups_stopped": "stopped the follow-ups",
    "owner": "changed the owner",
}


def words(table: dict[str, str], value) -> str:
    value = str(value or "")
    return table.get(value, value.replace("_", " "))


def step_title(name: str) -> str:
    return words(STEP_TITLES, name)
