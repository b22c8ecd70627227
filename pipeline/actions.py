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

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from pipeline import engine
from pipeline.engine import PipelineDefinitionError, get_pipeline
from pipeline.intake.normalize import without_line_breaks
from pipeline.models import (
    Draft,
    DraftRevision,
    Lead,
    OperationsSettings,
    OutboundEmail,
    PipelineRun,
    ReviewAction,
    StepRun,
)
from pipeline.pipelines import DRAFT, GATE

logger = logging.getLogger(__name__)

# How long a reviewer who opened a draft holds it (renewed while the draft stays open).
CLAIM_SECONDS = 300
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


def _clean_subject(value: str) -> str:
    # A subject is one line: CRM notes, exports and the email header all take it as one.
    return without_line_breaks(value).strip()


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
    gate = StepRun.objects.select_related("run").filter(run_id=current.run_id, name=GATE).first()
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

    With REVIEW_UNDO_SECONDS set, the gate completes only when the undo window is over:
    a one-off django-q2 schedule due at `send_at` runs release_approval (the sweep is the
    safety net), so no worker waits out the window. Until then undo_approval takes the
    approval back and nothing has reached the outbox. The send step then runs through the
    queue and the outbox; this function sends nothing.
    """
    subject = _clean_subject(subject) if subject is not None else None
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
        if not final_body.strip() or not final_subject.strip():
            # A lead that waits without a drafted reply: nothing to send until someone writes it.
            return ActionResult(
                "invalid",
                "No reply was written yet: write one (Edit) or discard the lead.",
                current,
            )
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
        _audit(
            current,
            by,
            "approve",
            detail={"version": version + 1, "edited": is_edited, "run_id": current.run_id},
        )
        grace = settings.REVIEW_UNDO_SECONDS
        if grace:
            # The undo window: the gate keeps waiting; release_approval completes it later.
            send_at = now + timedelta(seconds=grace)
            Draft.objects.filter(pk=current.pk).update(send_at=send_at)
            _schedule_release(current.pk, send_at)
        else:
            outcome = _release(Draft.objects.get(pk=current.pk))
            if not outcome.changed:
                transaction.set_rollback(True)
                return ActionResult("conflict", outcome.message, current)
    logger.info("draft.approved draft_id=%s run_id=%s by=%s", current.pk, current.run_id, by.pk)
    if grace:
        return ActionResult(
            "done", f"Approved: sending in {grace} s (Undo takes it back).", _load(draft)
        )
    return ActionResult("done", "Approved: the reply is queued for sending.", _load(draft))


def _release(draft: Draft) -> engine.Outcome:
    """Complete the human gate with the approved text (the send step follows)."""
    gate = StepRun.objects.select_related("run").get(run_id=draft.run_id, name=GATE)
    return engine.resume(
        gate,
        {
            "draft_id": draft.pk,
            "subject": draft.subject,
            "body": draft.body,
            "approved_by": draft.decided_by_id,
            "auto": False,
        },
    )


def release_schedule_name(draft_id: int) -> str:
    return f"release-draft-{draft_id}"


def _schedule_release(draft_id: int, send_at) -> None:
    """Run release_approval(draft_id) once, when the undo window is over.

    A django-q2 schedule row, written in the approval's transaction: it exists exactly when
    the approval does, and no worker sleeps through the window. The cluster's scheduler
    looks at due schedules every 30 s, so the reply leaves up to that much after the window
    at most; a re-approval after an undo moves the same row to the new time.
    """
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=release_schedule_name(draft_id),
        defaults={
            "func": "pipeline.actions.release_approval",
            "args": repr(draft_id),
            "schedule_type": Schedule.ONCE,
            "repeats": -1,  # the scheduler deletes a ONCE schedule after creating its task
            "next_run": send_at,
        },
    )


def _unschedule_release(draft_id: int) -> None:
    from django_q.models import Schedule

    Schedule.objects.filter(name=release_schedule_name(draft_id)).delete()


def release_approval(draft_id: int) -> bool:
    """Release an approved draft to the send step if its undo window is over (a worker task).

    True when this call released it; an undone, already released or not yet due draft is
    left alone, at once (nothing waits here). Safe to call any number of times, from the
    scheduled task or the sweep: the draft's row lock orders it with undo_approval, and the
    gate completes once.
    """
    with transaction.atomic():
        current = Draft.objects.select_for_update(of=("self",)).filter(pk=draft_id).first()
        now = timezone.now()
        if current is None or current.status != Draft.Status.APPROVED:
            return False
        if current.send_at is None or current.send_at > now:
            return False
        Draft.objects.filter(pk=current.pk).update(send_at=None)
        gate, problem = _waiting_gate_for_approved(current)
        if gate is None:
            logger.warning("draft.release_skipped draft_id=%s: %s", current.pk, problem)
            return False
        outcome = _release(current)
    logger.info("draft.released draft_id=%s changed=%s", draft_id, outcome.changed)
    return outcome.changed


def release_due_approvals() -> int:
    """Release every approval whose undo window is over (the sweep's safety net)."""
    due = Draft.objects.filter(
        status=Draft.Status.APPROVED, send_at__isnull=False, send_at__lte=timezone.now()
    ).values_list("pk", flat=True)
    return sum(release_approval(draft_id) for draft_id in list(due[:500]))


def _waiting_gate_for_approved(current: Draft) -> tuple[StepRun | None, str]:
    gate = StepRun.objects.filter(run_id=current.run_id, name=GATE).first()
    if gate is None or gate.status != StepRun.Status.WAITING:
        return None, "the gate is not waiting"
    if (gate.output or {}).get("draft_id") != current.pk:
        return None, "the gate waits for another draft"
    return gate, ""


def undo_approval(draft: Draft, *, by: AbstractBaseUser) -> ActionResult:
    """Take an approval back within its undo window: the draft waits for review again."""
    with transaction.atomic():
        current = _lock(draft)
        now = timezone.now()
        if current.status != Draft.Status.APPROVED or current.send_at is None:
            if current.status == Draft.Status.PENDING:
                return ActionResult("noop", "This draft is waiting for review already.", current)
            return ActionResult(
                "conflict", "Too late to undo: the reply is already on its way.", current
            )
        if current.send_at <= now:
            return ActionResult(
                "conflict", "Too late to undo: the reply is already on its way.", current
            )
        Draft.objects.filter(pk=current.pk, status=Draft.Status.APPROVED).update(
            status=Draft.Status.PENDING,
            version=F("version") + 1,
            decided_by=None,
            decided_at=None,
            send_at=None,
            updated_at=now,
        )
        _audit(current, by, "undo", detail={"version": current.version + 1})
        _unschedule_release(current.pk)
    logger.info("draft.approval_undone draft_id=%s by=%s", current.pk, by.pk)
    return ActionResult(
        "done", "Undone: nothing was sent; the draft waits for review.", _load(draft)
    )


def auto_approve_draft(draft_id: int, *, run_id: int, refusal=None) -> ActionResult:
    """Approve a draft the gate decided to send on its own, audited like a reviewer's approval.

    done: approved now. noop: this run's gate approved it already (a re-run after a crash
    between that commit and the step's finish): carry on to the send, it is the same decision.
    invalid: auto-send must not happen after all (the message says why); a human decides.
    conflict: the draft is not pending any more (someone decided or replaced it).

    The lead's row stays locked until the approval commits, so two runs of one person decide
    one after the other and the second sees the first one's approval: one automatic first
    reply per person.
    """
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=Draft.objects.get(pk=draft_id).lead_id)
        current = _lock(Draft(pk=draft_id))
        if current.run_id != run_id:
            return ActionResult("invalid", "The draft belongs to another run.", current)
        if current.status == Draft.Status.APPROVED and current.decided_by_id is None:
            return ActionResult("noop", "Already approved automatically.", current)
        if current.status != Draft.Status.PENDING:
            return _refusal(current, current.version, "approve")
        # A follow-up brings its own rules (it is not a second first reply).
        reason = (refusal or auto_send_refusal)(lead, run_id=run_id)
        if reason:
            return ActionResult("invalid", reason, current)
        now = timezone.now()
        if not _decide(current, current.version, Draft.Status.APPROVED, by=None, now=now):
            return _refusal(_load(current), current.version, "approve")
        _audit(
            current,
            None,
            "approve",
            detail={
                "version": current.version + 1,
                "edited": False,
                "run_id": run_id,
                "automatic": True,
            },
        )
    logger.info("draft.approved draft_id=%s run_id=%s by=automatic", draft_id, run_id)
    return ActionResult("done", "Approved automatically.", _load(current))


def auto_send_refusal(lead: Lead, *, run_id: int) -> str | None:
    """Why a draft decided for auto-send must wait for a human after all, or None.

    Call with the lead's row locked: the earlier-reply check is only exact under that lock.
    """
    if OperationsSettings.load().auto_send_paused:
        return "auto-send is paused"
    if lead.is_flagged:
        return "the lead is flagged"
    if lead.unsubscribed_at is not None:
        return "the lead unsubscribed"
    gone = [OutboundEmail.State.FAILED, OutboundEmail.State.CANCELLED]
    earlier_emails = (
        OutboundEmail.objects.filter(lead=lead, kind="first_reply")
        .exclude(run_id=run_id)
        .exclude(state__in=gone)
    )
    # An approval of another run whose email is not in the outbox yet counts as a reply: it
    # is the reservation a concurrent run of the same person meets (dry runs send nothing).
    earlier_approvals = (
        Draft.objects.filter(lead=lead, status=Draft.Status.APPROVED)
        .exclude(run_id=run_id)
        .exclude(emails__state__in=gone)
        .values_list("run__options", flat=True)
    )
    is_answered = any(not (options or {}).get("dry_run") for options in earlier_approvals)
    if is_answered or earlier_emails.exists():
        return "this person already got a reply; a human decides whether to answer again"
    return None


def edit_draft(
    draft: Draft, *, by: AbstractBaseUser, version: int, subject: str, body: str
) -> ActionResult:
    """Save the reviewer's text as a new revision; the draft stays pending."""
    subject = _clean_subject(subject)
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


WRITE_MYSELF = "I will write this reply myself"
# How long a reviewer who takes a reply over has to send it.
WRITE_MYSELF_HOURS = 24


def reject_draft(draft: Draft, *, by: AbstractBaseUser, version: int, reason: str) -> ActionResult:
    """Reject the draft: the run ends as rejected and nothing is sent.

    "I will write this reply myself" also assigns the draft to the reviewer with a reply due
    in WRITE_MYSELF_HOURS, listed for them in the queue until they mark it done.
    """
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
        is_taken_over = reason.startswith(WRITE_MYSELF)
        if is_taken_over:
            Draft.objects.filter(pk=current.pk).update(
                assigned_to=by, reply_due_at=now + timedelta(hours=WRITE_MYSELF_HOURS)
            )
        _audit(
            current,
            by,
            "reject",
            detail={"reason": reason, "version": version + 1, "run_id": current.run_id},
        )
    logger.info("draft.rejected draft_id=%s run_id=%s by=%s", current.pk, current.run_id, by.pk)
    if is_taken_over:
        return ActionResult(
            "done",
            f"Yours to answer: nothing is sent from here; your reply is due within "
            f"{WRITE_MYSELF_HOURS} hours (listed under “Replies you owe”).",
            _load(draft),
        )
    return ActionResult("done", "Rejected: nothing will be sent.", _load(draft))


def mark_reply_written(draft: Draft, *, by: AbstractBaseUser) -> ActionResult:
    """The reviewer who took a reply over has sent it: it leaves their list."""
    updated = Draft.objects.filter(pk=draft.pk, reply_due_at__isnull=False).update(
        reply_due_at=None, updated_at=timezone.now()
    )
    if not updated:
        return ActionResult("noop", "Already done.", _load(draft))
    _audit(draft, by, "replied", detail={})
    return ActionResult("done", "Marked as answered.", _load(draft))


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
        outcome = engine.rerun_from(run, DRAFT)
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
    message = "Writing a new draft; it replaces this one when ready."
    limit = instruction_limit(instruction)
    if limit:
        message += f" {limit}"
    return ActionResult("done", message, _load(draft))


def instruction_limit(instruction: str) -> str:
    """Why the drafting agent cannot follow a reviewer's instruction right now, or ""."""
    from pipeline.llm.budget import strategy_status

    if not instruction:
        return ""
    strategy, why = strategy_status("draft")
    if strategy == "claude":
        return ""
    return (
        f"Note: drafts are written by the rules strategy ({why}), which cannot follow "
        f"“{instruction}”: the new draft will read much like this one. Edit it by hand instead."
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


def bulk_decide(
    drafts: list[tuple[int, int]],
    *,
    by: AbstractBaseUser,
    action: Literal["reject", "assign"],
    reason: str = "",
    to: AbstractBaseUser | None = None,
) -> str:
    """Reject or assign several drafts, each at the version the reviewer saw; says what happened.

    Each draft goes through the same function as a single decision (its own transaction and
    audit row); one a colleague changed meanwhile is skipped, not overwritten.
    """
    found = Draft.objects.in_bulk([pk for pk, _ in drafts])
    done, skipped = 0, []
    for pk, version in drafts:
        draft = found.get(pk)
        if draft is None:
            skipped.append("gone")
            continue
        if action == "reject":
            result = reject_draft(draft, by=by, version=version, reason=reason)
        else:
            result = reassign_draft(draft, by=by, to=to)
        if result.status in ("done", "noop"):
            done += 1
        else:
            skipped.append(result.message)
    verb = "Rejected" if action == "reject" else f"Assigned to {_assignee(to)}:"
    summary = f"{verb} {done} draft{'s' if done != 1 else ''}."
    if skipped:
        summary += f" {len(skipped)} skipped (changed by a colleague meanwhile or not waiting)."
    return summary


def snooze_draft(draft: Draft, *, by: AbstractBaseUser, until) -> ActionResult:
    """Hide a pending draft from the queue until `until`; it comes back on its own."""
    now = timezone.now()
    if until <= now:
        return ActionResult("invalid", "Pick a time in the future.", _load(draft))
    with transaction.atomic():
        current = _lock(draft)
        if current.status != Draft.Status.PENDING:
            return ActionResult(
                "invalid", "Only drafts waiting for review can be snoozed.", current
            )
        Draft.objects.filter(pk=current.pk, status=Draft.Status.PENDING).update(
            snoozed_until=until, claimed_by=None, claimed_until=None, updated_at=now
        )
        _audit(current, by, "snooze", detail={"until": until.isoformat()})
    when = timezone.localtime(until).strftime("%a %H:%M")
    return ActionResult(
        "done", f"Snoozed until {when}: it comes back to the queue then.", _load(draft)
    )


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
        is_renewal = current.is_claim_held(now) and current.claimed_by_id == by.pk
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


def retry_run(run: PipelineRun, *, by: AbstractBaseUser | None, via: str = "") -> ActionResult:
    """Retry the failed step(s) of a failed run (engine.retry), through the queue.

    `via` names what asked when it was not a person in the UI (e.g. an API token), for the audit.
    """
    with transaction.atomic():
        outcome = engine.retry(run)
        if not outcome.changed:
            return ActionResult("noop", outcome.message)
        detail = {"run_id": run.pk, "message": outcome.message}
        if via:
            detail["via"] = via
        ReviewAction.objects.create(lead_id=run.lead_id, user=by, action="retry", detail=detail)
    logger.info("run.retry_requested run_id=%s by=%s", run.pk, getattr(by, "pk", None))
    return ActionResult("done", f"Run {run.pk}: {outcome.message}.")


def rerun_run_from(run: PipelineRun, step: str, *, by: AbstractBaseUser) -> ActionResult:
    """Run `step` and everything after it again (engine.rerun_from), through the queue."""
    try:
        definition = get_pipeline(run.pipeline_name)
    except PipelineDefinitionError:
        return ActionResult("invalid", f"Pipeline {run.pipeline_name!r} is not declared any more.")
    if step not in definition.by_name:
        return ActionResult("invalid", f"The pipeline has no step {step!r}.")
    with transaction.atomic():
        outcome = engine.rerun_from(run, step)
        if not outcome.changed:
            return ActionResult("conflict", f"Run {run.pk}: {outcome.message}.")
        ReviewAction.objects.create(
            lead_id=run.lead_id,
            user=by,
            action="rerun",
            detail={"run_id": run.pk, "step": step, "message": outcome.message},
        )
    logger.info("run.rerun_requested run_id=%s step=%s by=%s", run.pk, step, by.pk)
    return ActionResult("done", f"Run {run.pk}: {outcome.message}.")


def cancel_run(run: PipelineRun, *, by: AbstractBaseUser) -> ActionResult:
    """Cancel a run: its remaining steps never run, its pending draft leaves the queue."""
    now = timezone.now()
    with transaction.atomic():
        # Its drafts' rows before the run's, the order a reviewer's approval takes them (the
        # draft, then the run to resume its gate): the other way round, an approval at the same
        # moment deadlocked with this and one of the two people got an error page.
        pending = Draft.objects.filter(run=run, status=Draft.Status.PENDING)
        list(pending.select_for_update().values_list("pk", flat=True))
        outcome = engine.cancel(run, f"by {_who(by)}")
        if not outcome.changed:
            return ActionResult("conflict", f"Run {run.pk}: {outcome.message}.")
        pending.update(
            status=Draft.Status.REJECTED,
            reject_reason="Run cancelled",
            decided_by=by,
            decided_at=now,
            version=F("version") + 1,
            claimed_by=None,
            claimed_until=None,
            updated_at=now,
        )
        OutboundEmail.objects.filter(run=run, state=OutboundEmail.State.QUEUED).update(
            state=OutboundEmail.State.CANCELLED
        )
        ReviewAction.objects.create(
            lead_id=run.lead_id, user=by, action="cancel", detail={"run_id": run.pk}
        )
    logger.info("run.cancel_requested run_id=%s by=%s", run.pk, by.pk)
    return ActionResult("done", f"Run {run.pk}: {outcome.message}.")


# A bulk retry touches at most this many runs per click; the page says when more are left.
BULK_RETRY_LIMIT = 500


def retry_runs_failed_with(*, step: str, error: str, by: AbstractBaseUser) -> ActionResult:
    """Retry every failed run whose step `step` failed with an error starting with `error`."""
    if not step or not error:
        return ActionResult("invalid", "Name the step and the error to retry.")
    run_ids = list(
        StepRun.objects.filter(
            name=step,
            status=StepRun.Status.FAILED,
            error__startswith=error,
            run__status=PipelineRun.Status.FAILED,
        )
        .order_by("run_id")
        .values_list("run_id", flat=True)[:BULK_RETRY_LIMIT]
    )
    retried = 0
    for run in PipelineRun.objects.filter(pk__in=run_ids).order_by("pk"):
        with transaction.atomic():
            outcome = engine.retry(run)
            if outcome.changed:
                retried += 1
                ReviewAction.objects.create(
                    lead_id=run.lead_id,
                    user=by,
                    action="retry",
                    detail={"run_id": run.pk, "message": outcome.message, "bulk": True},
                )
    logger.info("run.bulk_retry_requested step=%s runs=%s by=%s", step, retried, by.pk)
    if not retried:
        return ActionResult("noop", "No failed run matches this error any more.")
    return ActionResult("done", f"Retrying {retried} run{'s' if retried != 1 else ''}.")


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
