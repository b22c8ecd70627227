"""Personal-data erasure for one person: their text goes, the anonymous counts stay.

What stays: the Lead row (so lead, label, score and decision counts are unchanged), its runs and
steps with their statuses, timings and costs, drafts' and emails' states, outcomes. What goes:
every name, address, phone, company, website, message, draft and email text, raw payload, CRM
copy, and any free text inside step outputs and audit details (reasons quote the lead). The lead
is marked unsubscribed, so nothing is ever sent to it again. Erasing twice is harmless.

Outside CRMs (HubSpot, Salesforce, Pipedrive, the CRM webhook) are asked to delete the person's
record first, while we still know who it is. A lead whose CRM did not delete (down, a missing
permission) is left as it was and reported, so the erase can be run again; `external_crms=False`
erases only our copy.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace

from django.db import transaction
from django.db.models import Q
from django.dispatch import receiver
from django.utils import timezone

from pipeline.engine.signals import step_finished_in_stopped_run
from pipeline.models import (
    Contact,
    Draft,
    DraftRevision,
    Lead,
    LeadOutcome,
    OutboundEmail,
    PipelineRun,
    ReviewAction,
    StepRun,
    Submission,
)

logger = logging.getLogger(__name__)

ERASED = "[erased]"
# Strings under these keys are our own vocabulary (labels, states, codes), never lead text.
KEPT_KEYS = frozenset(
    {
        "label",
        "flags",
        "action",
        "stage",
        "key",
        "status",
        "state",
        "outcome",
        "sector",
        "employee_range",
        "country",
        "tech_stack",
        "provider",
        "strategy",
        "adapter",
        "waiting_for",
        "via",
    }
)


ERASED_SUBMISSION = {
    "name": "",
    "email": "",
    "phone": "",
    "company": "",
    "website": "",
    "message": "",
    "custom_fields": {},
    "raw_payload": {},
    # An import's key is a digest of the person's row (and a sender's own key may hold an
    # address): neither is kept to say the person was here.
    "sender_key": "",
}


# The answer recorded on a submission erased before a worker made it a lead (WEBHOOK_DEFER): it
# is done, so no worker, copy or sweep makes the person again from it.
ERASED_ANSWER = {"lead_id": None, "run_id": None, "duplicate_of": None, "erased": True}


@dataclass(frozen=True)
class Erasure:
    leads: int
    submissions: int
    drafts: int
    emails: int
    steps: int
    # "<adapter> <external id>" of each outside CRM record deleted.
    crm_deleted: tuple[str, ...] = ()
    # (lead id, the CRM's reason) for each lead left unerased because its CRM did not delete.
    crm_failed: tuple[tuple[int, str], ...] = ()


def scrub(value, key: str = ""):
    """The JSON value with every free-text string emptied; numbers, booleans and codes kept."""
    if isinstance(value, dict):
        return {name: scrub(item, name) for name, item in value.items()}
    if isinstance(value, list):
        return [scrub(item, key) for item in value]
    if isinstance(value, str):
        return value if key in KEPT_KEYS else ""
    return value


def leads_of(email: str):
    """Every lead that is this person: by normalised email, or a submission from the address."""
    email = email.strip()
    if not email:
        return Lead.objects.none()
    submitted = Submission.objects.filter(email__iexact=email).values("lead_id")
    same = Q(email__iexact=email) | Q(pk__in=submitted)
    # A valid address also finds the leads matched on its normalised form; another, its text.
    if normalized := _normalized(email):
        same |= Q(email_normalized=normalized)
    return Lead.objects.filter(same)


def erase_person(email: str, *, by=None, external_crms: bool = True) -> Erasure:
    # Bot-trapped submissions belong to no lead, but may carry this person's address; so do
    # deferred ones a worker has not made a lead yet. Those first: a worker making one into a
    # lead at this moment holds its row, so this waits for it, and the lead it made is among
    # the ones looked up next.
    count = _erase_unjoined([email], by=by)
    erasure = erase_leads(leads_of(email), by=by, external_crms=external_crms)
    return replace(erasure, submissions=erasure.submissions + count)


def _erase_unjoined(emails: Iterable[str], phones: Iterable[str] = (), *, by=None) -> int:
    """Erase the submissions of the person with these addresses that belong to no lead:
    trapped ones from the addresses, and deferred ones waiting for a worker, which are closed
    with ERASED_ANSWER.

    A waiting one is the person's when the worker would make it part of them: by its address
    in any form that normalises alike ("dana.reyes+demo@gmail.com" for "danareyes@gmail.com"),
    or, for one without an address, by its phone number (`phones`, normalised)."""
    addresses = {email.strip().lower() for email in emails if email.strip()}
    keys = _Keys(addresses, {_normalized(email) for email in addresses} - {""}, set(phones) - {""})
    with transaction.atomic():
        waiting = Submission.objects.waiting_for_a_worker()
        theirs = [
            pk
            for pk, email, phone in waiting.values_list("pk", "email", "phone")
            if keys.match(email, phone)
        ]
        # A worker making one of them part of a lead at this moment holds its row: this waits,
        # then leaves it (it is part of a lead now, erased with that lead).
        closed = waiting.filter(pk__in=theirs).update(**ERASED_SUBMISSION, response=ERASED_ANSWER)
        # The rest from their addresses: trapped ones, and ones closed with a reason.
        others = Q()
        for email in addresses:
            others |= Q(email__iexact=email)
        count = closed
        if addresses:
            unjoined = Submission.objects.filter(others, lead__isnull=True).exclude(pk__in=theirs)
            count += unjoined.update(**ERASED_SUBMISSION)
    if count:
        logger.info(
            "submissions.erased unjoined=%s waiting=%s by=%s",
            count,
            closed,
            getattr(by, "pk", None),
        )
    return count


@dataclass(frozen=True)
class _Keys:
    """What a worker would match a waiting submission to a person on (receive._find_lead)."""

    addresses: set[str]
    emails: set[str]  # normalised
    phones: set[str]  # normalised

    def match(self, email: str, phone: str) -> bool:
        if email.strip():
            return email.strip().lower() in self.addresses or _normalized(email) in self.emails
        return bool(phone.strip()) and _normalized_phone(phone) in self.phones


def _normalized(email: str) -> str:
    """The address as the worker matches people on it; "" when it is not a valid one."""
    from pipeline.intake.normalize import BadEmail, normalize_email

    try:
        return normalize_email(email)
    except BadEmail:
        return ""


def _normalized_phone(phone: str) -> str:
    from pipeline.intake.normalize import normalize_phone

    return normalize_phone(phone) or ""


def _stop_runs(lead_ids: list[int]) -> None:
    """Cancel the leads' runs still going (or failed, so retryable): no step starts for an erased
    person, so nothing is drafted, written to a CRM or sent from what is left. A step running
    at this moment finishes into its cancelled run, possibly after the erase: what it records
    and writes then is erased as it finishes (_erase_what_a_late_step_kept)."""
    from pipeline import engine

    going = PipelineRun.objects.filter(lead_id__in=lead_ids).exclude(
        status__in=(
            PipelineRun.Status.SUCCEEDED,
            PipelineRun.Status.CANCELLED,
            PipelineRun.Status.REJECTED,
        )
    )
    running = StepRun.objects.filter(run__in=going, status=StepRun.Status.RUNNING).count()
    cancelled = sum(
        engine.cancel(run, "the lead's personal data was erased").changed for run in going
    )
    if cancelled:
        logger.info("lead.erase_runs_cancelled runs=%s steps_running=%s", cancelled, running)


def _lock_drafts_and_runs(lead_ids: list[int]) -> None:
    """Take the leads' drafts' and runs' row locks (the run's is the engine's run lock) for the
    erase's transaction.

    A step finishing at this moment records its outcome under its run's lock: either it does
    so first and the erase then scrubs what it recorded, or it waits for the erase and then
    sees the erase (step_finished_in_stopped_run, below) and scrubs what it wrote itself. Their
    drafts' rows first, in the order a reviewer's approval takes them (draft, then run)."""
    drafts = Draft.objects.filter(lead_id__in=lead_ids).order_by("pk")
    list(drafts.select_for_update().values_list("pk", flat=True))
    runs = PipelineRun.objects.filter(lead_id__in=lead_ids).order_by("pk")
    list(runs.select_for_update().values_list("pk", flat=True))


@dataclass(frozen=True)
class _Scrubbed:
    submissions: int
    drafts: int
    emails: int
    steps: int


def _scrub(lead_ids: list[int]) -> _Scrubbed:
    """Empty the leads' personal data everywhere it is kept (the erase's own audit entries
    stay). Harmless to repeat."""
    Lead.objects.filter(pk__in=lead_ids).update(
        email="",
        email_normalized="",
        phone="",
        phone_normalized="",
        name="",
        company="",
        website="",
    )
    submissions = Submission.objects.filter(lead_id__in=lead_ids).update(**ERASED_SUBMISSION)
    drafts = Draft.objects.filter(lead_id__in=lead_ids).update(
        subject=ERASED, body="", reject_reason=""
    )
    DraftRevision.objects.filter(draft__lead_id__in=lead_ids).update(
        subject=ERASED, body="", instruction=""
    )
    emails = OutboundEmail.objects.filter(lead_id__in=lead_ids).update(
        to_email="", subject=ERASED, body="", error=""
    )
    Contact.objects.filter(lead_id__in=lead_ids).update(
        email="",
        first_name="",
        last_name="",
        phone="",
        company="",
        website="",
        domain="",
        message="",
        score_explanation="",
        properties={},
    )
    LeadOutcome.objects.filter(lead_id__in=lead_ids).update(note="")
    PipelineRun.objects.filter(lead_id__in=lead_ids).update(error="")
    steps = 0
    for step in StepRun.objects.filter(run__lead_id__in=lead_ids).only("pk", "output"):
        StepRun.objects.filter(pk=step.pk).update(
            output=scrub(step.output), error="", traceback="", fallback_reason=""
        )
        steps += 1
    audit = ReviewAction.objects.filter(lead_id__in=lead_ids).exclude(action="erased")
    for action in audit.only("pk", "detail"):
        ReviewAction.objects.filter(pk=action.pk).update(detail=scrub(action.detail))
    return _Scrubbed(submissions, drafts, emails, steps)


def was_erased(lead_id: int) -> bool:
    return ReviewAction.objects.filter(lead_id=lead_id, action="erased").exists()


@receiver(step_finished_in_stopped_run, dispatch_uid="leadops-erase-late-steps")
def _erase_what_a_late_step_kept(sender, run_id: int, step_run_id: int, **kwargs) -> None:
    """A step that was running when its lead was erased finished afterwards (into its cancelled
    run): what it recorded and wrote (its output or error, a draft, the built-in CRM's copy) is
    erased too, and an outside CRM record it wrote is deleted first."""
    lead_id = PipelineRun.objects.filter(pk=run_id).values_list("lead_id", flat=True).first()
    if lead_id is None or not was_erased(lead_id):
        return
    _delete_late_crm_record(lead_id, step_run_id)
    with transaction.atomic():
        _scrub([lead_id])
    logger.info("lead.erased_late_step lead=%s step_run=%s", lead_id, step_run_id)


def _delete_late_crm_record(lead_id: int, step_run_id: int) -> None:
    """A CRM step that finished after the erase may have written the person to an outside CRM
    after the erase had deleted them there: the CRMs are asked to delete again (a record already
    gone counts as deleted). When one does not, the audit entry says why, and the record's id
    stays on the lead (crm_external_id), where erasing again finds it."""
    from pipeline.integrations.crm import CRMError, delete_from_crms
    from pipeline.step_names import CRM_WRITE

    if not StepRun.objects.filter(pk=step_run_id, name=CRM_WRITE).exists():
        return
    crm, reason = [], ""
    try:
        crm = _crm_audit(delete_from_crms(Lead.objects.get(pk=lead_id)))
    except Exception as error:  # whatever the CRM adapter raised, the scrub that follows runs
        logger.warning("lead.erase_late_crm_failed lead=%s error=%s", lead_id, type(error).__name__)
        reason = str(error)[:300] if isinstance(error, CRMError) else type(error).__name__
    ReviewAction.objects.create(
        lead_id=lead_id,
        action="erased",
        detail={
            "at": timezone.now().isoformat(),
            "crm": crm,
            "crm_failed": reason,
            "late_step_run_id": step_run_id,
        },
    )


def _crm_audit(deletions) -> list[dict]:
    return [
        {"adapter": d.adapter, "external_id": d.external_id, "deleted": d.deleted}
        for d in deletions
    ]


def _delete_from_crms(leads: list[Lead]) -> tuple[list[Lead], dict[int, list], list]:
    """Ask the outside CRMs to delete each lead's record: (erasable leads, what each CRM did per
    lead id, (lead id, reason) for the leads whose CRM did not delete)."""
    from pipeline.integrations.crm import CRMError, delete_from_crms

    erasable, done, failed = [], {}, []
    for lead in leads:
        try:
            done[lead.pk] = delete_from_crms(lead)
        except CRMError as error:
            logger.warning("lead.erase_crm_failed lead=%s retryable=%s", lead.pk, error.retryable)
            failed.append((lead.pk, str(error)))
            continue
        erasable.append(lead)
    return erasable, done, failed


def erase_leads(leads, *, by=None, external_crms: bool = True) -> Erasure:
    """Erase the personal data of the given leads (a queryset or list)."""
    leads = list(leads)
    crm_done: dict[int, list] = {}
    crm_failed: list[tuple[int, str]] = []
    if external_crms:
        leads, crm_done, crm_failed = _delete_from_crms(leads)
    lead_ids = [lead.pk for lead in leads]
    if not lead_ids:
        return Erasure(0, 0, 0, 0, 0, crm_failed=tuple(crm_failed))
    _stop_runs(lead_ids)
    now = timezone.now()
    # Their addresses and phones as stored before this erases them: a deferred submission with
    # one of them would otherwise make the person again.
    stored = list(Lead.objects.filter(pk__in=lead_ids).values_list("email", "phone_normalized"))
    addresses, phones = [email for email, _ in stored], [phone for _, phone in stored]
    with transaction.atomic():
        # First, as a worker locks them first (the submission, then the person): one making a
        # waiting submission of theirs part of a lead finishes before this goes on.
        unjoined = _erase_unjoined(addresses, phones, by=by)
        Lead.objects.filter(pk__in=lead_ids, unsubscribed_at__isnull=True).update(
            unsubscribed_at=now
        )
        _lock_drafts_and_runs(lead_ids)
        scrubbed = _scrub(lead_ids)
        for lead_id in lead_ids:
            ReviewAction.objects.create(
                lead_id=lead_id,
                user=by,
                action="erased",
                detail={
                    "at": now.isoformat(),
                    "crm": _crm_audit(crm_done.get(lead_id, [])),
                    "external_crms": external_crms,
                },
            )
    logger.info("lead.erased leads=%s by=%s", ",".join(map(str, lead_ids)), getattr(by, "pk", None))
    deleted = tuple(
        f"{d.adapter} {d.external_id}".strip()
        for lead_id in lead_ids
        for d in crm_done.get(lead_id, [])
        if d.deleted
    )
    return Erasure(
        len(lead_ids),
        unjoined + scrubbed.submissions,
        scrubbed.drafts,
        scrubbed.emails,
        scrubbed.steps,
        deleted,
        tuple(crm_failed),
    )
