"""receive_reply(): store an inbound email, match it to a lead, and tell the lead's story.

Order of events, so that nothing received is lost or counted twice:
1. a delivery already stored (the same webhook-id from this source, or the same Message-ID
   from any) is answered as it was the first time;
2. match: an In-Reply-To / References id that is one of our sent Message-IDs names the email it
   answers and so the lead (the In-Reply-To first, then References newest first); failing that,
   the sender's normalised address is a lead's; failing that the reply is kept unmatched and
   listed for staff;
3. one transaction stores the reply and, for a matched lead, sets its first reply time;
4. after commit, the lead's follow-ups stop (and their own check holds them should that fail)
   and the owner is notified.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from mailparser_reply import EmailReplyParser
from mailparser_reply.constants import MAIL_LANGUAGES

from pipeline.followups import stop_quietly
from pipeline.intake.normalize import BadEmail, normalize_email, scrub_json
from pipeline.models import InboundReply, Lead, OutboundEmail, WebhookSource
from pipeline.notifications import notify_quietly
from pipeline.replies.parse import ParsedEmail, message_ids

logger = logging.getLogger(__name__)

MatchedBy = InboundReply.MatchedBy
# Languages whose quote headers ("On ... wrote:", "Am ... schrieb:") and signatures we trim.
TRIM_LANGUAGES = [language for language in MAIL_LANGUAGES if len(language) == 2]


@dataclass(frozen=True)
class ReplyReceipt:
    reply_id: int
    lead_id: int | None
    matched_by: str
    is_replay: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"reply_id": self.reply_id, "lead_id": self.lead_id, "matched_by": self.matched_by}

    @classmethod
    def of(cls, reply: InboundReply, *, is_replay: bool) -> ReplyReceipt:
        return cls(reply.pk, reply.lead_id, reply.matched_by, is_replay=is_replay)


def trim_reply(text: str) -> str:
    """The new part of an email: quoted history and the signature left out."""
    if not text.strip():
        return ""
    try:
        message = EmailReplyParser(languages=TRIM_LANGUAGES).read(text)
        latest = message.replies[0].body if message.replies else ""
    except Exception:  # noqa: BLE001 - trimming is for display; the whole text is kept anyway
        logger.warning("inbound.trim_failed", exc_info=True)
        latest = ""
    return (latest or text).strip()


def match_lead(parsed: ParsedEmail) -> tuple[Lead | None, OutboundEmail | None, str]:
    """The lead a reply belongs to, the email of ours it answers, and how we know."""
    wanted = message_ids(parsed.in_reply_to) + list(reversed(message_ids(parsed.references)))
    if wanted:
        found = {
            email.message_id: email
            for email in OutboundEmail.objects.filter(message_id__in=wanted).select_related("lead")
        }
        for message_id in wanted:
            if message_id in found:
                email = found[message_id]
                return email.lead, email, MatchedBy.HEADER
    try:
        address = normalize_email(parsed.from_address)
    except BadEmail:
        return None, None, MatchedBy.NONE
    lead = Lead.objects.filter(email_normalized=address).first()
    if lead is not None:
        return lead, None, MatchedBy.ADDRESS
    return None, None, MatchedBy.NONE


def receive_reply(
    parsed: ParsedEmail,
    *,
    source: WebhookSource | None,
    idempotency_key: str = "",
    raw_payload: dict[str, Any] | None = None,
) -> ReplyReceipt:
    earlier = _earlier(source, idempotency_key, parsed.message_id)
    if earlier is not None:
        return ReplyReceipt.of(earlier, is_replay=True)
    lead, answered, matched_by = match_lead(parsed)
    text = parsed.body_text
    try:
        with transaction.atomic():
            reply = InboundReply.objects.create(
                source=source,
                lead=lead,
                reply_to_email=answered,
                matched_by=matched_by,
                provider=parsed.provider,
                from_header=parsed.from_header,
                from_address=parsed.from_address[:320],
                to_header=parsed.to,
                subject=parsed.subject,
                text=text,
                html=parsed.html,
                trimmed_text=trim_reply(text),
                message_id=parsed.message_id,
                in_reply_to=parsed.in_reply_to,
                references=parsed.references,
                raw_payload=scrub_json(raw_payload or {}),
                idempotency_key=idempotency_key,
            )
            if lead is not None:
                Lead.objects.filter(pk=lead.pk, replied_at__isnull=True).update(
                    replied_at=reply.received_at
                )
                transaction.on_commit(lambda: stop_quietly(lead.pk, "the lead replied"))
                transaction.on_commit(lambda: _notify_reply(reply))
    except IntegrityError:
        # The same delivery or message stored between our look and our insert.
        earlier = _earlier(source, idempotency_key, parsed.message_id)
        if earlier is None:
            raise
        return ReplyReceipt.of(earlier, is_replay=True)
    logger.info(
        "inbound.stored reply_id=%s lead_id=%s matched_by=%s provider=%s",
        reply.pk,
        reply.lead_id,
        matched_by,
        parsed.provider,
    )
    return ReplyReceipt.of(reply, is_replay=False)


def _notify_reply(reply: InboundReply) -> None:
    notify_quietly(
        "reply",
        reply.lead_id,
        key=f"reply:{reply.pk}",
        title="The lead replied",
        reason=(reply.trimmed_text or reply.subject or "(no text)")[:300],
    )


def _earlier(source, idempotency_key: str, message_id: str) -> InboundReply | None:
    if idempotency_key:
        found = InboundReply.objects.filter(source=source, idempotency_key=idempotency_key).first()
        if found is not None:
            return found
    if message_id:
        return InboundReply.objects.filter(message_id=message_id).first()
    return None


def attach_reply(reply: InboundReply, lead: Lead, *, by) -> bool:
    """Staff say whose an unmatched reply is. False when it was matched meanwhile."""
    with transaction.atomic():
        changed = InboundReply.objects.filter(pk=reply.pk, lead__isnull=True).update(
            lead=lead, matched_by=MatchedBy.STAFF
        )
        if changed:
            Lead.objects.filter(pk=lead.pk, replied_at__isnull=True).update(
                replied_at=reply.received_at
            )
            transaction.on_commit(lambda: stop_quietly(lead.pk, "the lead replied"))
            transaction.on_commit(lambda: _notify_reply(reply))
    return bool(changed)


def mark_reply_handled(reply: InboundReply, *, by) -> bool:
    return bool(
        InboundReply.objects.filter(pk=reply.pk, handled_at__isnull=True).update(
            handled_at=timezone.now(), handled_by=by
        )
    )
