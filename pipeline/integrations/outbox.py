"""The outbox: every email we send is an OutboundEmail row, sent at most once.

States: queued -> sending -> sent | failed | unknown (and queued -> cancelled).

- An email the lead unsubscribed from, whose run was cancelled or whose draft was rejected is
  never claimed: the claim's UPDATE checks all three, so a cancel committed before it wins,
  and the email becomes cancelled instead.

- queued -> sending is a conditional UPDATE that exactly one caller wins, committed before
  the SMTP conversation starts.
- After the server accepted the message: sending -> sent.
- A row found in `sending` by anyone else (a retry of the step, deliver() called again, the
  sweeper) is never sent again: whoever sent it crashed or is still at it, and we cannot
  know whether the server took the message. It becomes `unknown` and a human checks the mail
  server, then marks it sent or requeues it (mark_unknown_sent / requeue_email).
- SMTP answers that prove the message was not taken (connection refused before the claim,
  4xx/5xx to MAIL FROM, RCPT TO or DATA) put the row back to queued (temporary) or failed
  (permanent). Anything else during the conversation (a dropped connection, a timeout, a
  crash) leaves `unknown`.

Call these functions outside a database transaction: the claim must be committed before the
message leaves, or a crash would roll it back and allow a second send.
"""

from __future__ import annotations

import logging
import smtplib
import time
from collections.abc import Callable
from datetime import timedelta
from email.headerregistry import HeaderRegistry, UnstructuredHeader
from email.policy import default as default_policy
from email.utils import formataddr, parseaddr
from urllib.parse import quote

from django.conf import settings
from django.core import mail
from django.core.mail import EmailMessage, make_msgid
from django.db import DatabaseError, IntegrityError, transaction
from django.db import connection as db_connection
from django.db.models import F, Q
from django.utils import timezone

from pipeline.integrations import email_providers
from pipeline.models import Draft, Lead, OutboundEmail, PipelineRun, ReviewAction, StepRun

logger = logging.getLogger(__name__)

State = OutboundEmail.State
FIRST_REPLY = "first_reply"
# Temporary SMTP refusals retried this many times in all before the email counts as failed.
MAX_ATTEMPTS = 5
# A row in `sending` for longer than this (the SMTP timeout plus margin) was abandoned.
STUCK_SENDING_SECONDS = 300
# Recording what the mail server answered survives this many dead database connections.
RECORD_ATTEMPTS = 3
RECORD_BACKOFF_SECONDS = 0.2


class OutboxError(Exception):
    """An email that was not (known to be) sent. `retryable`: will the engine's retry help?"""

    def __init__(self, message: str, *, retryable: bool, email_id: int, state: str) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.email_id = email_id
        self.state = state


# --- Addresses and headers ----------------------------------------------------------------------


def sender_address() -> str:
    """The company profile's sender ("Sam Rivera <sam@acme.example>"), else DEFAULT_FROM_EMAIL.

    The drafts are signed by the profile's sender, so the From line names them too.
    """
    from pipeline.models import CompanyProfile

    profile = CompanyProfile.current()
    if profile is None or not (profile.sender_name or profile.sender_email):
        return settings.DEFAULT_FROM_EMAIL
    address = profile.sender_email or parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    return formataddr((one_line(profile.sender_name), address))


def message_id_domain() -> str:
    address = parseaddr(sender_address())[1]
    return address.rsplit("@", 1)[1] if "@" in address else "localhost"


def new_message_id() -> str:
    return make_msgid(domain=message_id_domain())


def one_line(text: str) -> str:
    """Header values cannot hold line breaks (header injection); drafts sometimes do."""
    return " ".join(text.split())


def list_unsubscribe_headers(lead_id: int) -> dict[str, str]:
    """RFC 2369 List-Unsubscribe (mailto and https) and RFC 8058 one-click POST."""
    from pipeline.unsubscribe import unsubscribe_token, unsubscribe_url

    mailbox = settings.EMAIL_UNSUBSCRIBE_MAILTO or parseaddr(sender_address())[1]
    targets = [f"<{unsubscribe_url(lead_id)}>"]
    if mailbox:
        subject = quote(f"unsubscribe {unsubscribe_token(lead_id)}")
        targets.insert(0, f"<mailto:{mailbox}?subject={subject}>")
    return {
        "List-Unsubscribe": ", ".join(targets),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def unsubscribe_footer(lead_id: int) -> str:
    from pipeline.unsubscribe import unsubscribe_url

    return f"\n\n--\nTo stop receiving emails from us: {unsubscribe_url(lead_id)}\n"


class _UnfoldedHeader(UnstructuredHeader):
    """An ASCII header written on one line, as it is.

    The email package folds a header whose value has no space within 78 columns by turning it
    into an RFC 2047 encoded word (=?utf-8?q?=3Cmailto...?=), which mail clients and the large
    mailbox providers do not read in List-Unsubscribe: one-click unsubscribe would be broken.
    RFC 5322 allows lines up to 998 characters.
    """

    max_length = 998

    def fold(self, *, policy):
        line = f"{self.name}: {self}"
        if not line.isascii() or len(line) > self.max_length:
            return super().fold(policy=policy)
        return line + policy.linesep


def _one_line_headers(registry: HeaderRegistry) -> HeaderRegistry:
    for name in UNFOLDED_HEADERS:
        registry.map_to_type(name, _UnfoldedHeader)
    return registry


UNFOLDED_HEADERS = ("List-Unsubscribe",)
_HEADER_FACTORY = _one_line_headers(HeaderRegistry())


class OutboxMessage(EmailMessage):
    def message(self, *, policy=default_policy):
        # Whatever policy the mail backend asks for (SMTP: CRLF), with our header classes.
        return super().message(policy=policy.clone(header_factory=_HEADER_FACTORY))


def build_message(email: OutboundEmail) -> EmailMessage:
    headers = {"Message-ID": email.message_id, **list_unsubscribe_headers(email.lead_id)}
    if email.in_reply_to:
        headers["In-Reply-To"] = email.in_reply_to
        headers["References"] = email.references or email.in_reply_to
    return OutboxMessage(
        subject=one_line(email.subject),
        body=email.body.rstrip() + unsubscribe_footer(email.lead_id),
        from_email=email.from_email,
        to=[email.to_email],
        headers=headers,
    )


# --- Queueing -----------------------------------------------------------------------------------


def queue_email(
    *,
    lead: Lead,
    kind: str,
    subject: str,
    body: str,
    run: PipelineRun | None = None,
    step_run: StepRun | None = None,
    draft: Draft | None = None,
    in_reply_to: str = "",
    references: str = "",
) -> tuple[OutboundEmail, bool]:
    """The queued email of this (run, kind), created once. Returns (email, created)."""
    fields = {
        "in_reply_to": in_reply_to,
        "references": references,
        "lead": lead,
        "step_run": step_run,
        "draft": draft,
        "to_email": lead.email,
        "from_email": sender_address(),
        "subject": one_line(subject)[:300],
        "body": body,
        "message_id": new_message_id(),
    }
    if run is None:
        return OutboundEmail.objects.create(kind=kind, **fields), True
    try:
        with transaction.atomic():
            return OutboundEmail.objects.get_or_create(run=run, kind=kind, defaults=fields)
    except IntegrityError:  # a concurrent caller created it between our get and create
        return OutboundEmail.objects.get(run=run, kind=kind), False


def enqueue_delivery(email_id: int) -> None:
    """Ask a worker to deliver the email once the current transaction commits."""
    from django_q.tasks import async_task

    transaction.on_commit(
        lambda: async_task(
            "pipeline.integrations.outbox.deliver", email_id, task_name=f"email-{email_id}"
        )
    )


def send_approved_reply(
    *,
    lead: Lead,
    run: PipelineRun,
    step_run: StepRun,
    draft_id: int,
    subject: str,
    body: str,
    kind: str = FIRST_REPLY,
    in_reply_to: str = "",
    references: str = "",
    refusal: Callable[[], str] | None = None,
) -> dict:
    """The send step: queue the approved reply of `kind` (once per run) and deliver it (once).

    A follow-up names the emails it answers (`in_reply_to`, `references`) for threading, and
    its last check (`refusal`, see deliver).

    Returns {"email_id", "state", "message_id"} when the email is sent or cancelled (the lead
    unsubscribed). Raises OutboxError otherwise: retryable when the server refused for now,
    not retryable when it failed for good or its fate is unknown (a human must look).
    """
    lead = Lead.objects.get(pk=lead.pk)
    if not lead.email:
        raise OutboxError(
            f"lead {lead.pk} has no email address to reply to",
            retryable=False,
            email_id=0,
            state="",
        )
    draft = Draft.objects.filter(pk=draft_id).first()
    email, created = queue_email(
        lead=lead,
        kind=kind,
        subject=subject,
        body=body,
        run=run,
        step_run=step_run,
        draft=draft,
        in_reply_to=in_reply_to,
        references=references,
    )
    if not created:
        # Not sent yet: the latest approved text wins (a retry after an edit and re-approval).
        OutboundEmail.objects.filter(pk=email.pk, state=State.QUEUED).update(
            subject=one_line(subject)[:300], body=body, draft=draft, step_run=step_run
        )
    state = deliver(email.pk, refusal=refusal)
    email.refresh_from_db()
    result = {"email_id": email.pk, "state": state, "message_id": email.message_id}
    if state in (State.SENT, State.CANCELLED):
        return result
    if state == State.QUEUED:
        raise OutboxError(
            f"email {email.pk} not sent yet: {email.error}",
            retryable=True,
            email_id=email.pk,
            state=state,
        )
    if state == State.FAILED:
        raise OutboxError(
            f"email {email.pk} failed: {email.error}",
            retryable=False,
            email_id=email.pk,
            state=state,
        )
    raise OutboxError(
        f"email {email.pk} is {state}: it may or may not have reached the mail server "
        f"(Message-ID {email.message_id}). Check the server's log, then mark it sent or "
        f"requeue it in the outbox; it is never resent on its own.",
        retryable=False,
        email_id=email.pk,
        state=state,
    )


# --- Delivery: the state machine ----------------------------------------------------------------


def deliver(email_id: int, *, refusal: Callable[[], str] | None = None) -> str:
    """Send one outbox email at most once; returns its state afterwards (the worker task).

    `refusal`, if given, is the caller's last word: called in the transaction that claims the
    email, before the email's own lock (so row locks it takes are held until the claim commits,
    and are taken in the order a stop takes them), a non-empty answer says why
    the email must not go out, and it is cancelled with that reason instead.
    """
    email = OutboundEmail.objects.select_related("lead").get(pk=email_id)
    if email.state == State.SENDING:
        _mark_unknown(email, "found in sending: an earlier send was interrupted")
        return State.UNKNOWN
    if email.state != State.QUEUED:
        return email.state
    reason = why_not_send(email.pk)
    if reason:
        return _cancel_queued(email, reason)

    try:
        message = build_message(email)
        message.message()  # header and address problems show here, before anything is sent
    except ValueError as error:
        return _fail_before_sending(email, f"cannot build the message: {error}")

    connection = mail.mailers.default
    try:
        connection.open()
    except (OSError, smtplib.SMTPException) as error:
        # Nothing was claimed and nothing sent: the email simply stays queued.
        return _stay_queued(email, f"mail server unreachable: {describe_error(error)}")

    started = timezone.now()
    with transaction.atomic():
        # The refusal first: it may lock rows (a follow-up's plan) that a stop locks before it
        # cancels this email, so the claim takes them in the same order (no deadlock).
        refused = refusal() if refusal is not None else ""
        claimed = _lock_in_state(email.pk, State.QUEUED)
        refused = refused if claimed else ""
        # Read after the lock, in statements of their own: what committed before it counts.
        claimed = (
            claimed
            and not refused
            and OutboundEmail.objects.filter(MAY_SEND, pk=email.pk).exists()
            and OutboundEmail.objects.filter(pk=email.pk).update(
                state=State.SENDING,
                attempts=F("attempts") + 1,
                sending_started_at=started,
                error="",
            )
        )
    if refused:
        _close(connection, email.pk)
        return _cancel_queued(email, refused)
    if not claimed:
        _close(connection, email.pk)
        email.refresh_from_db()
        if email.state == State.QUEUED:  # unsubscribed, cancelled or rejected in between
            return _cancel_queued(email, why_not_send(email.pk) or "no longer to be sent")
        return email.state

    email_providers.tag(message, email.pk)
    clock = time.monotonic()
    try:
        sent = connection.send_messages([message])
    except Exception as error:
        _close(connection, email.pk)
        return _after_send_error(email, started, error)
    _close(connection, email.pk)
    if sent != 1:
        # The backend took nothing (no valid recipient): nothing can have left.
        return _settle(email, started, State.FAILED, "the mail backend sent nothing")
    _mark_sent(email, started)
    email_providers.record_accepted(email.pk, message)
    logger.info(
        "outbox.sent email=%s lead=%s ms=%d",
        email.pk,
        email.lead_id,
        (time.monotonic() - clock) * 1000,
    )
    return State.SENT


def _mark_sent(email: OutboundEmail, started) -> None:
    # `unknown` too: a sweeper may have given up on us while the server was slow to answer,
    # and we now know the message went out. sending_started_at identifies our claim.
    def record() -> None:
        OutboundEmail.objects.filter(
            pk=email.pk, state__in=(State.SENDING, State.UNKNOWN), sending_started_at=started
        ).update(state=State.SENT, sent_at=timezone.now(), error="")

    _on_a_live_connection(record, email.pk, "mark_sent")


def _on_a_live_connection(record: Callable[[], None], email_id: int, what: str) -> None:
    """Run `record`, retried on a fresh database connection if the current one died.

    What happened on the mail server is a fact we may learn only once: losing it to a dropped
    database connection would turn a delivered email into `unknown` for a human to resolve.
    """
    for attempt in range(1, RECORD_ATTEMPTS + 1):
        try:
            record()
            return
        except DatabaseError as error:
            if db_connection.in_atomic_block or attempt == RECORD_ATTEMPTS:
                logger.error(
                    "outbox.record_failed email=%s what=%s attempts=%s error=%s",
                    email_id,
                    what,
                    attempt,
                    type(error).__name__,
                )
                raise
            logger.warning(
                "outbox.record_retry email=%s what=%s attempt=%s error=%s",
                email_id,
                what,
                attempt,
                type(error).__name__,
            )
            try:
                db_connection.close()  # the next query opens a new connection
            except DatabaseError:
                pass
            time.sleep(RECORD_BACKOFF_SECONDS * attempt)


def _mark_unknown(email: OutboundEmail, reason: str) -> None:
    changed = OutboundEmail.objects.filter(pk=email.pk, state=State.SENDING).update(
        state=State.UNKNOWN,
        error=f"{reason}. Check the mail server for Message-ID {email.message_id} before "
        "resending.",
    )
    if changed:
        logger.warning("outbox.unknown email=%s lead=%s", email.pk, email.lead_id)


def _settle(email: OutboundEmail, started, state: str, error: str) -> str:
    def record() -> None:
        OutboundEmail.objects.filter(
            pk=email.pk, state=State.SENDING, sending_started_at=started
        ).update(state=state, error=error[:2000])

    _on_a_live_connection(record, email.pk, state)
    logger.warning("outbox.%s email=%s lead=%s", state, email.pk, email.lead_id)
    return OutboundEmail.objects.values_list("state", flat=True).get(pk=email.pk)


def _stay_queued(email: OutboundEmail, error: str) -> str:
    OutboundEmail.objects.filter(pk=email.pk, state=State.QUEUED).update(error=error[:2000])
    logger.warning("outbox.not_connected email=%s", email.pk)
    return State.QUEUED


def _lock_in_state(email_id: int, *states: str) -> bool:
    """Lock the email's row if it is in one of `states` (in the caller's transaction).

    The row alone, by its own columns: a claim that waited for another transaction's lock then
    reads the row as that one left it (sending, cancelled). An UPDATE whose condition joins the
    lead, run or draft (MAY_SEND) becomes `WHERE id IN (subquery)` on PostgreSQL, and the
    subquery's old snapshot let two waiting claims both win: the email went out twice."""
    rows = OutboundEmail.objects.select_for_update().filter(pk=email_id, state__in=states)
    return bool(list(rows.values_list("pk", flat=True)))


def _fail_before_sending(email: OutboundEmail, error: str) -> str:
    OutboundEmail.objects.filter(pk=email.pk, state=State.QUEUED).update(
        state=State.FAILED, error=error[:2000]
    )
    return State.FAILED


# Who may still be sent: the lead did not unsubscribe, the run was not cancelled, the draft
# not rejected. The claim's condition; why_not_send() says which one failed.
MAY_SEND = (
    Q(lead__unsubscribed_at__isnull=True)
    & ~Q(run__status=PipelineRun.Status.CANCELLED)
    & ~Q(draft__status=Draft.Status.REJECTED)
)


def why_not_send(email_id: int) -> str:
    """Why the email must not go out now (MAY_SEND does not hold), or ""."""
    row = (
        OutboundEmail.objects.filter(pk=email_id)
        .values("lead__unsubscribed_at", "run__status", "draft__status")
        .first()
    )
    if row is None:
        return "the email is gone"
    if row["lead__unsubscribed_at"] is not None:
        return "the lead unsubscribed"
    if row["run__status"] == PipelineRun.Status.CANCELLED:
        return "its run was cancelled"
    if row["draft__status"] == Draft.Status.REJECTED:
        return "its draft was rejected"
    return ""


def _cancel_queued(email: OutboundEmail, reason: str) -> str:
    OutboundEmail.objects.filter(pk=email.pk, state=State.QUEUED).update(
        state=State.CANCELLED, error=reason[:2000]
    )
    logger.info("outbox.cancelled email=%s lead=%s reason=%s", email.pk, email.lead_id, reason)
    return OutboundEmail.objects.values_list("state", flat=True).get(pk=email.pk)


def refusal_code(error: Exception) -> int | None:
    """The SMTP reply code of a refusal that proves the message was not accepted."""
    if email_providers.is_provider_error(error):
        return email_providers.refusal_code(error)
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        return max(codes) if codes else None
    if isinstance(error, (smtplib.SMTPSenderRefused, smtplib.SMTPDataError)):
        return error.smtp_code
    return None


def _after_send_error(email: OutboundEmail, started, error: Exception) -> str:
    code = refusal_code(error)
    description = describe_error(error)
    if code is not None and 400 <= code < 500:
        attempts = OutboundEmail.objects.values_list("attempts", flat=True).get(pk=email.pk)
        if attempts < MAX_ATTEMPTS:
            return _settle(email, started, State.QUEUED, f"refused for now: {description}")
        return _settle(
            email, started, State.FAILED, f"refused {attempts} times, last: {description}"
        )
    if code is not None and code >= 500:
        return _settle(email, started, State.FAILED, f"refused: {description}")
    if isinstance(error, ValueError):  # an address Django will not put on the wire
        return _settle(email, started, State.FAILED, f"not sent: {description}")
    # Dropped connection, timeout, anything else mid-conversation: the server may have it.
    return _settle(
        email,
        started,
        State.UNKNOWN,
        f"interrupted while sending ({description}). Check the mail server for Message-ID "
        f"{email.message_id} before resending.",
    )


def describe_error(error: BaseException) -> str:
    if email_providers.is_provider_error(error):
        return email_providers.describe(error)
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        parts = [f"{code} {_text(message)}" for code, message in error.recipients.values()]
        return f"{type(error).__name__}: {'; '.join(parts)}"
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{type(error).__name__}: {error.smtp_code} {_text(error.smtp_error)}"
    return f"{type(error).__name__}: {error}"[:500]


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _close(connection, email_id: int) -> None:
    # The message's fate is settled by then; a failing QUIT must not change it.
    try:
        connection.close()
    except Exception as error:
        logger.info("outbox.close_failed email=%s error=%s", email_id, type(error).__name__)


# --- For staff ----------------------------------------------------------------------------------


def mark_unknown_sent(email: OutboundEmail, *, by) -> bool:
    """Staff checked the mail server: the `unknown` email did go out."""
    changed = OutboundEmail.objects.filter(pk=email.pk, state=State.UNKNOWN).update(
        state=State.SENT,
        sent_at=F("sending_started_at"),
        error="",
    )
    if changed:
        _audit(email, by, "email_marked_sent")
    return bool(changed)


def requeue_email(email: OutboundEmail, *, by, deliver_now: bool = True) -> bool:
    """Staff checked: the `unknown` or `failed` email did not go out; queue it again.

    The Message-ID stays, so a receiving server that did get it after all can spot the copy.
    """
    with transaction.atomic():
        changed = (
            _lock_in_state(email.pk, State.UNKNOWN, State.FAILED)
            and not Lead.objects.filter(pk=email.lead_id, unsubscribed_at__isnull=False).exists()
            and OutboundEmail.objects.filter(pk=email.pk).update(
                state=State.QUEUED, sending_started_at=None, error=""
            )
        )
    if changed:
        _audit(email, by, "email_requeued")
        if deliver_now:
            enqueue_delivery(email.pk)
    return bool(changed)


def cancel_email(email: OutboundEmail, *, by) -> bool:
    """Staff decided a queued, unknown or failed email should not go out."""
    changed = OutboundEmail.objects.filter(
        pk=email.pk, state__in=(State.QUEUED, State.UNKNOWN, State.FAILED)
    ).update(state=State.CANCELLED)
    if changed:
        _audit(email, by, "email_cancelled")
    return bool(changed)


RESOLUTIONS = {
    "sent": "delivered (the mail server's log has it)",
    "resend": "not delivered: send it once more",
    "cancel": "not delivered: do not send it",
}


def resolve_unknown_email(email_id: int, *, by, resolution: str) -> tuple[bool, str]:
    """Staff checked the mail server for an `unknown` email; record what they found.

    "sent": it went out; "resend": it did not, send it once more; "cancel": it did not and it
    should not. A failed run waiting on this email is retried, so it finishes (sent) or sends
    it through its own send step (resend). Returns (changed, a sentence for the staff member);
    every change is audited by the outbox function it calls.
    """
    from pipeline import engine

    if resolution not in RESOLUTIONS:
        return False, f"unknown resolution {resolution!r}"
    with transaction.atomic():
        email = OutboundEmail.objects.select_for_update().filter(pk=email_id).first()
        if email is None or email.state != State.UNKNOWN:
            state = email.state if email else "gone"
            return False, f"Email {email_id} is {state} now, not unknown: nothing changed."
        run = email.run
        if resolution == "sent":
            changed = mark_unknown_sent(email, by=by)
        elif resolution == "resend":
            # With a run, its send step delivers it (and records the step's output).
            changed = requeue_email(email, by=by, deliver_now=run is None)
        else:
            changed = cancel_email(email, by=by)
        if not changed:  # the lead unsubscribed in between: requeueing is refused
            return False, f"Email {email_id} could not be {resolution}: the lead unsubscribed."
        continued = ""
        if run is not None and resolution != "cancel" and engine.retry(run).changed:
            continued = f" Run {run.pk} continues."
    logger.info("outbox.resolved email=%s resolution=%s user=%s", email_id, resolution, by.pk)
    return True, f"Email {email_id} recorded as {RESOLUTIONS[resolution]}.{continued}"


def sweep_stuck_sending(*, older_than_seconds: int = STUCK_SENDING_SECONDS) -> int:
    """Rows left in `sending` by a dead worker become `unknown` for a human; returns how many."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stuck = OutboundEmail.objects.filter(state=State.SENDING, sending_started_at__lt=cutoff)
    count = stuck.update(
        state=State.UNKNOWN,
        error="left in sending by a worker that stopped. Check the mail server for this "
        "Message-ID before resending.",
    )
    if count:
        logger.warning("outbox.swept_stuck count=%d", count)
    return count


def _audit(email: OutboundEmail, by, action: str) -> None:
    ReviewAction.objects.create(
        lead_id=email.lead_id,
        draft_id=email.draft_id,
        user=by,
        action=action,
        detail={"email_id": email.pk, "message_id": email.message_id},
    )
    logger.info("outbox.%s email=%s user=%s", action, email.pk, getattr(by, "pk", None))
