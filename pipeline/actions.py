"""What reviewers do to drafts and runs: one typed function per action, verb first.

The review views call these and nothing else. Each action checks its preconditions with a
conditional UPDATE on (pk, version, status=pending), so two reviewers can never both decide or
overwrite one draft: the loser gets an ActionResult that says what happened instead. Decisions
go through the engine's human gate (resume / reject); nothing here sends email. Every change
writes a ReviewAction, the audit trail shown on the lead page.
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from pipeline import engine
from pipeline.models import Draft, DraftRevision, PipelineRun, ReviewAction, StepRun

logger = logging.getLogger(__name__)

# How long a reviewer who opened a draft holds it (renewed while the draft stays open).
CLAIM_SECONDS = 300
GATE_STEP = "gate"
DRAFT_STEP = "draft"
MAX_REASON = 500
MAX_INSTRUCTION = 500
MAX_SUBJECT = 300

ResultStatus = Literal["done", "noop", "conflict", "invalid"]


@dataclass(frozen=True)
class ActionResult:
    """What an action did.

    done: it changed something. noop: nothing to do (e.g. already approved), said politely.
    conflict: someone else changed the draft first; `draft` holds the current state.
    invalid: the request itself was wrong (empty reason, pipeline not waiting).
    """

    status: ResultStatus
    message: str
    draft: Draft | None = None

    @property
    def changed(self) -> bool:
        return self.status == "done"


# --- Helpers ----------------------------------------------------------------------------------


def _who(user) -> str:
    return user.get_username() if user is not None else "auto-send"


def _load(draft: Draft) -> Draft:
    return Draft.objects.select_related("decided_by", "claimed_by", "assigned_to").get(pk=draft.pk)


def _lock(draft: Draft) -> Draft:
    """The draft, its row locked until the transaction ends (PostgreSQL; SQLite locks the file).

    A second reviewer's action waits here, then sees the first one's result, not a half state.
    """
    return (
        Draft.objects.select_for_update(of=("self",))
        .select_related("decided_by", "claimed_by", "assigned_to")
        .get(pk=draft.pk)
    )


def _clean_text(value: str) -> str:
    # Browsers send textarea lines with CRLF; store what the lead will read.
    return value.replace("\r\n", "\n").replace("\r", "\n")


def _refusal(current: Draft, version: int | None, verb: str) -> ActionResult:
    """Explain why `verb` could not apply to `current` (already decided, or changed meanwhile)."""
    when = timezone.localtime(current.decided_at).strftime("%H:%M") if current.decided_at else ""
    who = _who(current.decided_by)
    if current.status == Draft.Status.APPROVED:
        if verb == "approve":
            return ActionResult(
                "noop",
                f"Already approved by {who}{f' at {when}' if when else ''}: nothing is sent twice.",
                current,
            )
        return ActionResult(
            "conflict", f"{who} approved this draft{f' at {when}' if when else ''}.", current
        )
    if current.status == Draft.Status.REJECTED:
        if verb == "reject":
            return ActionResult(
                "noop", f"Already rejected by {who}: {current.reject_reason}", current
            )
        return ActionResult(
            "conflict",
            f"{who} rejected this draft{f' at {when}' if when else ''} ({current.reject_reason}).",
            current,
        )
    if current.status == Draft.Status.SUPERSEDED:
        return ActionResult("conflict", "This draft was replaced by a regenerated one.", current)
    latest = current.revisions.select_related("author").order_by("-number").first()
    editor = _who(latest.author) if latest and latest.author_id else "someone"
    return ActionResult(
        "conflict",
        f"{editor} changed this draft while you had version {version} open; it is now at "
        f"version {current.version}. Here is the current text.",
        current,
    )


def _waiting_gate(current: Draft) -> tuple[StepRun | None, str]:
    """The run's gate if it waits for this very draft, else why not."""
    gate = (
        StepRun.objects.select_related("run").filter(run_id=current.run_id, name=GATE_STEP).first()
    )
    if gate is None:
        return None, "This draft's run has no review gate."
    if gate.status != StepRun.Status.WAITING:
        return None, (
            f"The pipeline is not waiting for a decision on this draft yet (gate is "
            f"{gate.status}); try again in a moment."
        )
    if (gate.output or {}).get("draft_id") != current.pk:
        return None, "The pipeline is waiting for another draft of this run."
    return gate, ""


def _next_revision(draft: Draft) -> int:
    highest = DraftRevision.objects.filter(draft=draft).aggregate(highest=Max("number"))
    return (highest["highest"] or 0) + 1


def _diff(before_subject: str, before_body: str, after_subject: str, after_body: str) -> str:
    before = [f"Subject: {before_subject}", "", *before_body.splitlines()]
    after = [f"Subject: {after_subject}", "", *after_body.splitlines()]
    return "\n".join(difflib.unified_diff(before, after, "before", "after", lineterm="", n=2))


def _record_edit(current: Draft, *, by, subject: str, body: str, new_version: int) -> DraftRevision:
    revision = DraftRevision.objects.create(
        draft=current,
        number=_next_revision(current),
        subject=subject,
        body=body,
        author=by,
    )
    _audit(
        current,
        by,
        "edit",
        detail={
            "revision": revision.number,
            "version": new_version,
            "diff": _diff(current.subject, current.body, subject, body),
        },
    )
    return revision


def _validate_text(subject: str | None, body: str | None) -> str:
    if subject is not None and not subject.strip():
        return "The subject cannot be empty."
    if subject is not None and len(subject) > MAX_SUBJECT:
        return f"The subject is longer than {MAX_SUBJECT} characters."
    if body is not None and not body.strip():
        return "The body cannot be empty."
    return ""


# --- Draft actions ----------------------------------------------------------------------------


def approve_draft(
    draft: Draft,
    *,
    by: AbstractBaseUser,
    version: int,
    subject: str | None = None,
    body: str | None = None,
) -> ActionResult:
    """Approve the draft (with the reviewer's edits, if given) and complete the human gate.

    The send step then runs through the queue and the outbox; this function sends nothing.
    """
    subject = subject.strip() if subject is not None else None
    body = _clean_text(body) if body is not None else None
    problem = _validate_text(subject, body)
    if problem:
        return ActionResult("invalid", problem, _load(draft))
    now = timezone.now()
    with transaction.atomic():
        current = _lock(draft)
        if current.status != Draft.Status.PENDING or current.version != version:
            return _refusal(current, version, "approve")
        gate, problem = _waiting_gate(current)
        if gate is None:
            return ActionResult("invalid", problem, current)
        final_subject = subject if subject is not None else current.subject
        final_body = body if body is not None else current.body
        is_edited = (final_subject, final_body) != (current.subject, current.body)
        updated = _decide(
            current,
            version,
            Draft.Status.APPROVED,
            by=by,
            now=now,
            subject=final_subject,
            body=final_body,
        )
        if not updated:
            return _refusal(_load(draft), version, "approve")
        if is_edited:
            _record_edit(
                current, by=by, subject=final_subject, body=final_body, new_version=version + 1
            )
        outcome = engine.resume(
            gate,
            {
                "draft_id": current.pk,
                "subject": final_subject,
                "body": final_body,
                "approved_by": by.pk,
                "auto": False,
            },
        )
        if not outcome.changed:
            transaction.set_rollback(True)
            return ActionResult("conflict", outcome.message, current)
        _audit(
            current,
            by,
            "approve",
            detail={"version": version + 1, "edited": is_edited, "run_id": current.run_id},
        )
    logger.info("draft.approved draft_id=%s run_id=%s by=%s", current.pk, current.run_id, by.pk)
    return ActionResult("done", "Approved: the reply is queued for sending.", _load(draft))


def edit_draft(
    draft: Draft, *, by: AbstractBaseUser, version: int, subject: str, body: str
) -> ActionResult:
    """Save the reviewer's text as a new revision; the draft stays pending."""
    subject = subject.strip()
    body = _clean_text(body)
    problem = _validate_text(subject, body)
    if problem:
        return ActionResult("invalid", problem, _load(draft))
    now = timezone.now()
    with transaction.atomic():
        current = _lock(draft)
        if current.status != Draft.Status.PENDING or current.version != version:
            return _refusal(current, version, "edit")
        if (subject, body) == (current.subject, current.body):
            return ActionResult("noop", "Nothing changed.", current)
        updated = Draft.objects.filter(
            pk=current.pk, version=version, status=Draft.Status.PENDING
        ).update(subject=subject, body=body, version=F("version") + 1, updated_at=now)
        if not updated:
            return _refusal(_load(draft), version, "edit")
        revision = _record_edit(current, by=by, subject=subject, body=body, new_version=version + 1)
    logger.info("draft.edited draft_id=%s revision=%s by=%s", current.pk, revision.number, by.pk)
    return ActionResult("done", f"Saved as revision {revision.number}.", _load(draft))


def reject_draft(draft: Draft, *, by: AbstractBaseUser, version: int, reason: str) -> ActionResult:
    """Reject the draft: the run ends as rejected and nothing is sent."""
    reason = " ".join(reason.split())[:MAX_REASON]
    if not reason:
        return ActionResult("invalid", "Say why you reject this draft.", _load(draft))
    now = timezone.now()
    with transaction.atomic():
        current = _lock(draft)
        if current.status != Draft.Status.PENDING or current.version != version:
            return _refusal(current, version, "reject")
        gate, problem = _waiting_gate(current)
        if gate is None:
            return ActionResult("invalid", problem, current)
        updated = _decide(
            current, version, Draft.Status.REJECTED, by=by, now=now, reject_reason=reason
        )
        if not updated:
            return _refusal(_load(draft), version, "reject")
        outcome = engine.reject(gate, reason)
        if not outcome.changed:
            transaction.set_rollback(True)
            return ActionResult("conflict", outcome.message, current)
        _audit(
            current,
            by,
            "reject",
            detail={"reason": reason, "version": version + 1, "run_id": current.run_id},
        )
    logger.info("draft.rejected draft_id=%s run_id=%s by=%s", current.pk, current.run_id, by.pk)
    return ActionResult("done", "Rejected: nothing will be sent.", _load(draft))


def regenerate_draft(
    draft: Draft, *, by: AbstractBaseUser, instruction: str, version: int | None = None
) -> ActionResult:
    """Write the draft again with the reviewer's instruction: re-runs only the drafting step.

    The current draft is superseded at once (it leaves the queue); the drafting step creates
    the new one, and the gate waits for it as before.
    """
    instruction = " ".join(instruction.split())[:MAX_INSTRUCTION]
    with transaction.atomic():
        current = _lock(draft)
        if current.status != Draft.Status.PENDING or (
            version is not None and current.version != version
        ):
            return _refusal(current, version, "regenerate")
        gate, problem = _waiting_gate(current)
        if gate is None:
            return ActionResult("invalid", problem, current)
        filters = Q(pk=current.pk, status=Draft.Status.PENDING)
        if version is not None:
            filters &= Q(version=version)
        updated = Draft.objects.filter(filters).update(
            status=Draft.Status.SUPERSEDED,
            version=F("version") + 1,
            claimed_by=None,
            claimed_until=None,
            updated_at=timezone.now(),
        )
        if not updated:
            return _refusal(_load(draft), version, "regenerate")
        run = PipelineRun.objects.select_for_update().get(pk=current.run_id)
        run.options = {**(run.options or {}), "draft_instruction": instruction}
        run.save(update_fields=["options"])
        outcome = engine.rerun_from(run, DRAFT_STEP)
        if not outcome.changed:
            transaction.set_rollback(True)
            return ActionResult("conflict", outcome.message, current)
        _audit(
            current,
            by,
            "regenerate",
            detail={"instruction": instruction, "run_id": run.pk},
        )
    logger.info("draft.regenerating draft_id=%s run_id=%s by=%s", current.pk, run.pk, by.pk)
    return ActionResult(
        "done", "Writing a new draft; it replaces this one when ready.", _load(draft)
    )


def reassign_draft(
    draft: Draft, *, by: AbstractBaseUser, to: AbstractBaseUser | None
) -> ActionResult:
    """Give the draft to another reviewer (or to nobody). The text and version are untouched."""
    with transaction.atomic():
        current = _lock(draft)
        if current.status != Draft.Status.PENDING:
            return ActionResult(
                "invalid", "Only drafts waiting for review can be reassigned.", current
            )
        to_id = to.pk if to is not None else None
        if current.assigned_to_id == to_id:
            return ActionResult("noop", f"Already assigned to {_assignee(to)}.", current)
        # Conditional on the assignee we read: a concurrent reassignment wins, this one says so.
        updated = Draft.objects.filter(
            pk=current.pk, status=Draft.Status.PENDING, assigned_to_id=current.assigned_to_id
        ).update(assigned_to_id=to_id, updated_at=timezone.now())
        if not updated:
            return ActionResult("conflict", "Someone reassigned this draft just now.", _load(draft))
        _audit(
            current,
            by,
            "reassign",
            detail={
                "from": current.assigned_to.get_username() if current.assigned_to else None,
                "to": to.get_username() if to is not None else None,
            },
        )
    return ActionResult("done", f"Assigned to {_assignee(to)}.", _load(draft))


def _assignee(user) -> str:
    return user.get_username() if user is not None else "nobody"


def claim_draft(draft: Draft, *, by: AbstractBaseUser) -> ActionResult:
    """Hold a soft claim on a draft the reviewer has open, shown to colleagues.

    It blocks nothing (saving is protected by the version number); it tells others who is
    looking. Opening another draft moves the reviewer's claim there. Renewals are not audited.
    """
    now = timezone.now()
    until = now + timedelta(seconds=CLAIM_SECONDS)
    with transaction.atomic():
        current = _lock(draft)
        if current.status != Draft.Status.PENDING:
            return ActionResult("noop", f"This draft is {current.status}.", current)
        is_renewal = (
            current.claimed_by_id == by.pk
            and current.claimed_until is not None
            and current.claimed_until > now
        )
        updated = (
            Draft.objects.filter(pk=current.pk, status=Draft.Status.PENDING)
            .filter(
                Q(claimed_by__isnull=True)
                | Q(claimed_by=by)
                | Q(claimed_until__isnull=True)
                | Q(claimed_until__lt=now)
            )
            .update(claimed_by=by, claimed_until=until)
        )
        if not updated:
            holder = _load(draft)
            name = _who(holder.claimed_by) if holder.claimed_by_id else "someone"
            return ActionResult("conflict", f"{name} is reviewing this draft.", holder)
        Draft.objects.filter(claimed_by=by).exclude(pk=current.pk).update(
            claimed_by=None, claimed_until=None
        )
        if not is_renewal:
            _audit(
                current,
                by,
                "claim",
                detail={"until": until.isoformat()},
            )
    return ActionResult("done", "You are reviewing this draft.", _load(draft))


# --- Runs -------------------------------------------------------------------------------------


def retry_run(run: PipelineRun, *, by: AbstractBaseUser) -> ActionResult:
    """Retry the failed step(s) of a failed run (engine.retry), through the queue."""
    with transaction.atomic():
        outcome = engine.retry(run)
        if not outcome.changed:
            return ActionResult("noop", outcome.message)
        ReviewAction.objects.create(
            lead_id=run.lead_id,
            user=by,
            action="retry",
            detail={"run_id": run.pk, "message": outcome.message},
        )
    logger.info("run.retry_requested run_id=%s by=%s", run.pk, by.pk)
    return ActionResult("done", f"Run {run.pk}: {outcome.message}.")


def _decide(draft: Draft, version: int, status: str, *, by, now, **fields) -> bool:
    """Move a pending draft at `version` to `status`; False when a colleague got there first."""
    return bool(
        Draft.objects.filter(pk=draft.pk, version=version, status=Draft.Status.PENDING).update(
            status=status,
            version=F("version") + 1,
            decided_by=by,
            decided_at=now,
            claimed_by=None,
            claimed_until=None,
            updated_at=now,
            **fields,
        )
    )


def _audit(draft: Draft, by, action: str, *, detail: dict) -> ReviewAction:
    """The audit row every draft action writes (shown on the lead page)."""
    return ReviewAction.objects.create(
        lead_id=draft.lead_id, draft=draft, user=by, action=action, detail=detail
    )
