"""receive_submission(): the one function every door calls.

Order of events, so that nothing received is ever lost:
1. validate (InvalidLead, nothing stored);
2. one transaction: find or create the Lead (a person, by normalised email, else phone), store
   the Submission exactly as received, create its run in a savepoint and record the answer on
   the submission. A run that cannot be created rolls back to the savepoint alone: the
   submission is still committed, with no answer recorded, and the sender's retry of the
   delivery or start_pending_runs() starts the run later (in its own transaction, holding the
   submission's row lock);
3. after commit: stop the person's follow-ups, give the lead an owner, enqueue the run's first
   steps (a lost message is re-delivered by the engine's sweeper).

A delivery that comes back (a retry, or a copy arriving at the same instant) meets the unique
constraint on (source, delivery id), waits for the first copy's commit, and gets its answer.

Deferred (`defer=True`, the webhook door with WEBHOOK_DEFER): step 2 is one INSERT of the
submission, with no person yet, and the answer says so; a worker then does the rest of 2 and 3
(process_submission), or start_pending_runs() does when the message to it was lost. A copy of
the delivery arriving before that does the work itself, under the same row lock, and gets the
whole answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Min
from django.utils import timezone

from pipeline import engine
from pipeline.followups import stop_quietly
from pipeline.intake.errors import DeliveryConflict, InvalidLead, UnknownSource
from pipeline.intake.normalize import (
    LEAD_FIELDS,
    LeadFields,
    clean_lead_fields,
    lenient_lead_fields,
    same_json,
    scrub_json,
    storable_problem,
)
from pipeline.models import Lead, PipelineRun, Submission, WebhookSource
from pipeline.owners import assign_owner_quietly
from pipeline.pipelines import LEAD

logger = logging.getLogger(__name__)

MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Receipt:
    """What a door answers: the lead, its new run, and whether the person was already known."""

    submission_id: int
    lead_id: int | None  # None for a trapped submission
    run_id: int | None
    duplicate_of: int | None  # the existing lead this person matched; None for a new person
    is_trapped: bool = False
    is_replay: bool = False  # an earlier delivery with the same key was answered the same way
    is_deferred: bool = False  # stored only: a worker finds the person and starts the run

    def as_json(self) -> dict[str, Any]:
        answer = {
            "lead_id": self.lead_id,
            "run_id": self.run_id,
            "duplicate_of": self.duplicate_of,
            "submission_id": self.submission_id,
        }
        if self.is_deferred:
            answer["deferred"] = True
        return answer

    @classmethod
    def from_submission(cls, submission: Submission, *, is_replay: bool) -> Receipt:
        answer = submission.response
        return cls(
            submission_id=submission.pk,
            lead_id=answer["lead_id"],
            run_id=answer.get("run_id"),
            duplicate_of=answer.get("duplicate_of"),
            is_trapped=submission.is_trapped,
            is_replay=is_replay,
        )


def receive_submission(
    fields: Mapping[str, Any],
    *,
    channel: str,
    source: WebhookSource | None = None,
    custom_fields: Mapping[str, Any] | None = None,
    raw_payload: Any = None,
    idempotency_key: str = "",
    sender_key: str = "",
    trap_reason: str = "",
    start_run: bool = True,
    run_options: dict | None = None,
    defer: bool = False,
) -> Receipt:
    """Validate, dedupe and store one submission, then start its run.

    `fields` holds our field names (name, email, phone, company, website, message) with the
    raw values received; `custom_fields` everything else the sender sent. A non-empty
    `trap_reason` (a bot trap fired) stores the submission as spam and never processes it.
    With start_run=False the caller runs the pipeline itself (engine.run_inline).

    `idempotency_key` identifies the delivery (unique per source); `sender_key`, an unsigned
    key the sender added, may only find an earlier delivery to replay. With defer=True only the
    submission is stored here and a worker does the rest (outside a caller's transaction, for
    a submission that gets a run).

    Raises InvalidLead (nothing stored), DeliveryConflict (the key was used for another
    body). A run that cannot be started is started later (start_pending_runs).
    """
    started = time.monotonic()
    custom = dict(custom_fields or {})
    payload = raw_payload if raw_payload is not None else {**dict(fields), **custom}
    for name, key in (("idempotency_key", idempotency_key), ("sender_key", sender_key)):
        if len(key) > MAX_KEY_LENGTH:
            raise InvalidLead({name: f"too long: at most {MAX_KEY_LENGTH} characters"})
    if trap_reason:
        clean = lenient_lead_fields(fields)
        custom, payload = scrub_json(custom), scrub_json(payload)
    else:
        clean = clean_lead_fields(fields)
        for name, value in (("custom_fields", custom), ("body", payload)):
            problem = storable_problem(value)
            if problem:
                raise InvalidLead({name: problem})

    if sender_key:
        # The unsigned key has no unique constraint: only a lookup finds its earlier delivery.
        earlier = _earlier_delivery(source, idempotency_key, sender_key)
        if earlier is not None:
            return _answer(earlier, payload, start_run, run_options, is_replay=True)
    # A delivery id seen before is found by its unique constraint, not by a lookup first: most
    # deliveries are new, and a copy arriving at the same instant needs the constraint anyway.
    row = {
        "source": source,
        "channel": channel,
        "custom_fields": custom,
        "raw_payload": payload,
        "idempotency_key": idempotency_key,
        "sender_key": sender_key,
        "is_trapped": bool(trap_reason),
        "trap_reason": trap_reason[:200],
        **clean.as_dict(),
    }
    in_transaction = transaction.get_connection().in_atomic_block
    if defer and start_run and not trap_reason and not in_transaction:
        try:
            # One statement in autocommit: stored (and durable) before the sender hears 202.
            submission = Submission.objects.create(**row)
        except IntegrityError:
            # Stored before: a copy, answered like any. (No earlier delivery: the source went
            # away, which the transaction below finds out and says.)
            earlier = _earlier_delivery(source, idempotency_key, sender_key)
            if earlier is not None:
                return _answer(earlier, payload, start_run, run_options, is_replay=True)
        else:
            _call_safely(submission.pk)
            logger.info(
                "intake.deferred submission_id=%s channel=%s ms=%d",
                submission.pk,
                channel,
                (time.monotonic() - started) * 1000,
            )
            return Receipt(
                submission_id=submission.pk,
                lead_id=None,
                run_id=None,
                duplicate_of=None,
                is_deferred=True,
            )
    ready: list[int] = []
    # Inside a caller's transaction the steps are enqueued when that one commits; otherwise
    # once the lead has its owner, below.
    dispatch = _enqueue_safely if in_transaction else ready.append
    try:
        with transaction.atomic():
            # A trapped bot's submission is kept for staff to see, attached to no one: it
            # neither makes a spam lead per attempt nor joins a real person's history.
            lead, is_new_person = (None, False) if trap_reason else _find_or_create_lead(clean)
            submission = Submission.objects.create(lead=lead, **row)
            receipt = _start_with_submission(
                submission,
                start_run,
                run_options,
                is_new_person=is_new_person,
                dispatch=dispatch,
            )
    except IntegrityError:
        # The same delivery was stored before, or at the same instant by a copy that committed
        # first (the insert waited for it).
        earlier = _earlier_delivery(source, idempotency_key, sender_key)
        if earlier is None:
            if source is not None and not WebhookSource.objects.filter(pk=source.pk).exists():
                # Deleted since this process kept it (config_cache): refused as unknown.
                raise UnknownSource(source.slug) from None
            raise
        return _answer(earlier, payload, start_run, run_options, is_replay=True)
    logger.info(
        "intake.stored submission_id=%s lead_id=%s run_id=%s channel=%s trapped=%s ms=%d",
        submission.pk,
        submission.lead_id,
        receipt.run_id,
        channel,
        bool(trap_reason),
        (time.monotonic() - started) * 1000,
    )
    if lead is not None:
        _welcome(submission, is_new_person=is_new_person)
    # Committed: the run's first steps go to the broker only now, after the lead has its owner.
    for step_run_id in ready:
        _enqueue_safely(step_run_id)
    return receipt


def _start_with_submission(
    submission: Submission,
    start_run: bool,
    run_options: dict | None,
    *,
    is_new_person: bool,
    dispatch: engine.Dispatch,
) -> Receipt:
    """Inside the transaction that stored `submission`: create its run, record the answer."""
    try:
        # engine.start's own transaction is a savepoint here: a failure rolls back the run
        # alone and leaves the answer unrecorded, so the run is started later.
        run = _new_run(submission, start_run, run_options, dispatch)
    except Exception as error:
        logger.exception(
            "intake.run_not_started submission_id=%s error=%s",
            submission.pk,
            type(error).__name__,
        )
        return Receipt(
            submission_id=submission.pk,
            lead_id=submission.lead_id,
            run_id=None,
            duplicate_of=_duplicate_of(submission, is_new_person=is_new_person),
            is_trapped=submission.is_trapped,
        )
    _record_answer(submission, run, is_new_person=is_new_person)
    return Receipt.from_submission(submission, is_replay=False)


def _new_run(
    submission: Submission, start_run: bool, run_options: dict | None, dispatch: engine.Dispatch
) -> PipelineRun | None:
    """The submission's run, created; None when it gets none (a trapped bot, or not asked)."""
    if not start_run or submission.is_trapped:
        return None
    return engine.start(
        LEAD.name,
        lead=submission.lead,
        submission=submission,
        options=run_options,
        dispatch=dispatch,
    )


def _record_answer(submission: Submission, run: PipelineRun | None, *, is_new_person: bool) -> None:
    _store_answer(
        submission,
        lead_id=submission.lead_id,
        run_id=run.pk if run else None,
        duplicate_of=_duplicate_of(submission, is_new_person=is_new_person),
    )


def _store_answer(submission: Submission, **answer: Any) -> None:
    """Store the 202 answer on the submission: a replay of this delivery gets the same one."""
    submission.response = {
        "lead_id": None,
        "run_id": None,
        "duplicate_of": None,
        **answer,
        "submission_id": submission.pk,
    }
    Submission.objects.filter(pk=submission.pk).update(response=submission.response)


def _duplicate_of(submission: Submission, *, is_new_person: bool) -> int | None:
    """The lead, when this person had submitted before; None for a new person (or a trap)."""
    if submission.is_trapped or is_new_person:
        return None
    earlier = Submission.objects.filter(lead_id=submission.lead_id, pk__lt=submission.pk)
    return submission.lead_id if earlier.exists() else None


def _earlier_delivery(
    source: WebhookSource | None, key: str, sender_key: str = ""
) -> Submission | None:
    earlier = None
    if key:
        earlier = Submission.objects.filter(source=source, idempotency_key=key).first()
    if earlier is None and sender_key:
        earlier = Submission.objects.filter(source=source, sender_key=sender_key).first()
    return earlier


def _answer(
    submission: Submission,
    payload: Any,
    start_run: bool,
    run_options: dict | None,
    *,
    is_replay: bool,
) -> Receipt:
    if is_replay and not same_json(submission.raw_payload, payload):
        raise DeliveryConflict(
            f"delivery id {submission.idempotency_key!r} was already used for a different "
            "body; use a new webhook-id (or Idempotency-Key) for a new lead"
        )
    if submission.response:  # answered before: the same answer, without locking the row
        return Receipt.from_submission(submission, is_replay=is_replay)
    try:
        return _start_once(submission.pk, start_run, run_options, is_replay=is_replay)
    except (DeliveryConflict, InvalidLead):
        raise
    except Exception as error:
        # The lead is stored, which is what the sender needs to know: answer 2xx. Its run
        # starts on the sender's retry of this delivery or from start_pending_runs().
        logger.exception(
            "intake.run_not_started submission_id=%s error=%s", submission.pk, type(error).__name__
        )
        earlier = Submission.objects.filter(lead_id=submission.lead_id, pk__lt=submission.pk)
        return Receipt(
            submission_id=submission.pk,
            lead_id=submission.lead_id,
            run_id=None,
            duplicate_of=submission.lead_id if earlier.exists() else None,
            is_trapped=submission.is_trapped,
            is_replay=is_replay,
        )


def unanswered() -> dict[str, Any]:
    """Stored submissions not made into a run yet: deferred ones waiting for a worker, and runs
    that could not be started. {"count", "oldest" (received_at or None)}; read by /healthz and
    /metrics through a partial index."""
    return Submission.objects.unanswered().aggregate(count=Count("pk"), oldest=Min("received_at"))


def start_pending_runs(*, older_than_seconds: float = 30, limit: int = 500) -> int:
    """Start the runs of stored submissions whose run could not be started when they arrived.

    Called by the periodic maintenance sweep; returns how many it started.
    """
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    pending = (
        Submission.objects.unanswered()
        .filter(received_at__lt=cutoff)
        .values_list("pk", flat=True)[:limit]
    )
    started = 0
    for submission_id in list(pending):
        try:
            receipt = _start_once(submission_id, True, None, is_replay=False)
        except Exception as error:  # noqa: BLE001 - one submission must not hold up the others
            logger.exception(
                "intake.pending_run_failed submission_id=%s error=%s",
                submission_id,
                type(error).__name__,
            )
            continue
        started += receipt.run_id is not None
    if started:
        logger.info("intake.pending_runs_started count=%s", started)
    return started


def process_submission(submission_id: int) -> None:
    """The worker's half of a deferred delivery: find the person, start the run, give the owner.

    Done at most once, whoever comes first (this task, a copy of the delivery, the sweep); a
    submission erased meanwhile is skipped.
    """
    try:
        _start_once(submission_id, True, None, is_replay=False)
    except Submission.DoesNotExist:
        logger.info("intake.deferred_gone submission_id=%s", submission_id)


def _start_once(
    submission_id: int, start_run: bool, run_options: dict | None, *, is_replay: bool
) -> Receipt:
    """Create the submission's run unless an earlier call did; record and return the answer.

    A submission stored deferred gets its person here first, and after commit what intake
    does for a new submission (follow-ups stopped, an owner).
    """
    ready: list[int] = []
    # Inside a caller's transaction the steps are enqueued when that one commits.
    dispatch = _enqueue_safely if transaction.get_connection().in_atomic_block else ready.append
    with transaction.atomic():
        # The row lock makes a concurrent copy wait here until this answer is committed. Only
        # the submission's row: PostgreSQL cannot lock the nullable side of the lead join.
        submission = (
            Submission.objects.select_for_update(of=("self",))
            .select_related("lead")
            .get(pk=submission_id)
        )
        if submission.response:
            return Receipt.from_submission(submission, is_replay=is_replay)
        joined = submission.lead_id is None and not submission.is_trapped
        is_new_person = False
        if joined:
            try:
                fields = _stored_fields(submission)
            except InvalidLead as error:
                # Valid when stored, not now (rules changed since): a person made of it would
                # be wrong, so it is closed with the reason instead of retried by every sweep.
                return _close_unstartable(submission, error, is_replay=is_replay)
            submission.lead, is_new_person = _find_or_create_lead(fields)
            Submission.objects.filter(pk=submission.pk).update(lead=submission.lead)
        run = _new_run(submission, start_run, run_options, dispatch)
        _record_answer(submission, run, is_new_person=is_new_person)
    if joined:
        _welcome(submission, is_new_person=is_new_person)
    for step_run_id in ready:
        _enqueue_safely(step_run_id)
    return Receipt.from_submission(submission, is_replay=is_replay)


def _close_unstartable(submission: Submission, error: InvalidLead, *, is_replay: bool) -> Receipt:
    logger.warning("intake.deferred_invalid submission_id=%s error=%s", submission.pk, error)
    _store_answer(submission, error=str(error))
    return Receipt.from_submission(submission, is_replay=is_replay)


def _stored_fields(submission: Submission) -> LeadFields:
    """The fields of a submission stored deferred (validated then), with the keys to match on."""
    return clean_lead_fields({name: getattr(submission, name) for name in LEAD_FIELDS})


def _welcome(submission: Submission, *, is_new_person: bool) -> None:
    """After a new submission's commit: its person's follow-ups stop, its lead gets an owner."""
    if not is_new_person:
        # A new submission from a person we are following up: the new conversation wins.
        stop_quietly(submission.lead_id, "the lead submitted again")
    assign_owner_quietly(submission.lead, submission=submission)


def record_run(receipt: Receipt, run: PipelineRun) -> Receipt:
    """After the caller ran the pipeline itself (start_run=False), note the run on the answer."""
    response = {**receipt.as_json(), "run_id": run.pk}
    Submission.objects.filter(pk=receipt.submission_id).update(response=response)
    return Receipt(
        submission_id=receipt.submission_id,
        lead_id=receipt.lead_id,
        run_id=run.pk,
        duplicate_of=receipt.duplicate_of,
        is_trapped=receipt.is_trapped,
        is_replay=receipt.is_replay,
    )


def _call_safely(submission_id: int) -> None:
    # Committed: a lost message leaves the submission to start_pending_runs().
    _send_safely(
        engine.call_later,
        "pipeline.intake.receive.process_submission",
        submission_id,
        name=f"intake-{submission_id}",
        failed=f"intake.defer_enqueue_failed submission_id={submission_id}",
        then="the sweep will start it",
    )


def _enqueue_safely(step_run_id: int) -> None:
    # The run's rows are committed: a lost message is re-delivered by the engine's sweeper.
    _send_safely(
        engine.enqueue,
        step_run_id,
        failed=f"intake.enqueue_failed step_run_id={step_run_id}",
        then="the sweeper will re-deliver it",
    )


def _send_safely(send, *args: Any, failed: str, then: str, **kwargs: Any) -> None:
    """A message to the workers about committed rows: if the broker is down, say so and go on
    (the lead is stored; a sweep sends it later)."""
    try:
        send(*args, **kwargs)
    except Exception as error:
        logger.warning("%s error=%s (%s)", failed, type(error).__name__, then)


def _lead_columns(clean: LeadFields) -> dict[str, str]:
    return {
        "email": clean.email,
        "email_normalized": clean.email_normalized,
        "phone": clean.phone,
        "phone_normalized": clean.phone_normalized,
        "name": clean.name,
        "company": clean.company,
        "website": clean.website,
    }


def _find_or_create_lead(clean: LeadFields) -> tuple[Lead, bool]:
    """The person these fields belong to, and whether it is new (created now).

    Safe against concurrent creation.
    """
    for _ in range(3):
        lead = _find_lead(clean)
        if lead is not None:
            _fill_blanks(lead, clean)
            return lead, False
        try:
            with transaction.atomic():
                return Lead.objects.create(**_lead_columns(clean)), True
        except IntegrityError:
            # Someone created this person a moment ago; their row is committed: look again.
            continue
    raise IntegrityError("could not find or create the lead after 3 attempts")


def _find_lead(clean: LeadFields) -> Lead | None:
    """The person's lead, locked until the caller's transaction ends (PostgreSQL).

    The lock makes an erasure of this person that is under way finish first; the lead found
    after it no longer matches (its keys are blank), so a new submission never writes onto an
    erased lead. FOR NO KEY UPDATE: rows that refer to the lead (its runs, submissions) can
    still be inserted meanwhile.
    """
    people = Lead.objects.select_for_update(no_key=True)
    if clean.email_normalized:
        return people.filter(email_normalized=clean.email_normalized).first()
    # No email: the person is their phone number. Prefer the lead known only by it.
    by_phone = people.filter(phone_normalized=clean.phone_normalized)
    return by_phone.filter(email_normalized="").first() or by_phone.order_by("-created_at").first()


def _fill_blanks(lead: Lead, clean: LeadFields) -> None:
    """A returning person may tell us more; never overwrite what we already have."""
    updates = {}
    for name in ("name", "company", "website", "phone"):
        if not getattr(lead, name) and getattr(clean, name):
            updates[name] = getattr(clean, name)
    if updates.get("phone") and lead.email_normalized:
        updates["phone_normalized"] = clean.phone_normalized
    elif "phone" in updates:
        del updates["phone"]  # an email-less lead's phone is its identity; it never changes
    if updates:
        Lead.objects.filter(pk=lead.pk).update(**updates, updated_at=timezone.now())
