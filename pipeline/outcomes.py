"""What became of a lead (won, lost, not interested, meeting booked), as reported to us.

Stored as LeadOutcome rows, newest last wins: the scoring page's calibration compares scores
with these, and follow-ups ask `is_closed()` before chasing a lead again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery

from pipeline.models import Lead, LeadOutcome, ReviewAction

logger = logging.getLogger(__name__)

MAX_NOTE = 5000


class KeyReused(Exception):
    """An Idempotency-Key already used by this token for a different outcome."""


def record_outcome(
    lead: Lead, *, outcome: str, note: str = "", token=None, by=None, idempotency_key: str = ""
) -> LeadOutcome:
    """Store one outcome for the lead and audit it on the lead page."""
    if outcome not in LeadOutcome.Outcome.values:
        raise ValueError(f"unknown outcome {outcome!r}")
    with transaction.atomic():
        row = LeadOutcome.objects.create(
            lead=lead,
            outcome=outcome,
            note=note[:MAX_NOTE],
            token=token,
            recorded_by=by,
            idempotency_key=idempotency_key,
        )
        ReviewAction.objects.create(
            lead=lead,
            user=by,
            action="outcome",
            detail={"outcome": outcome, "via": f"API token {token.name}" if token else "staff"},
        )
    logger.info(
        "lead.outcome lead=%s outcome=%s token=%s", lead.pk, outcome, getattr(token, "pk", None)
    )
    if outcome in LeadOutcome.CLOSING:
        from pipeline.followups import stop_quietly

        stop_quietly(lead.pk, f"marked {row.get_outcome_display().lower()}")
    return row


def record_outcome_once(
    lead: Lead, *, outcome: str, note: str, token, idempotency_key: str
) -> tuple[LeadOutcome, bool]:
    """record_outcome, once per (token, key): a retried request gets the first answer.

    Returns (row, created). Raises KeyReused when the key named another lead or outcome.
    """

    def earlier() -> LeadOutcome | None:
        row = LeadOutcome.objects.filter(token=token, idempotency_key=idempotency_key).first()
        if row is not None and (row.lead_id, row.outcome, row.note) != (
            lead.pk,
            outcome,
            note[:MAX_NOTE],
        ):
            raise KeyReused(f"Idempotency-Key {idempotency_key!r} was used for another outcome")
        return row

    found = earlier()
    if found is not None:
        return found, False
    try:
        row = record_outcome(
            lead, outcome=outcome, note=note, token=token, idempotency_key=idempotency_key
        )
    except IntegrityError:  # the same request, twice at the same instant
        found = earlier()
        if found is None:
            raise
        return found, False
    return row, True


def latest_outcome(lead: Lead) -> LeadOutcome | None:
    return LeadOutcome.objects.filter(lead=lead).order_by("-recorded_at", "-pk").first()


def is_closed(lead: Lead) -> bool:
    """True when the latest outcome ends the conversation: no more follow-ups."""
    latest = latest_outcome(lead)
    return latest is not None and latest.outcome in LeadOutcome.CLOSING


# Score bands the calibration compares: does a higher score mean more wins?
SCORE_BANDS = ((0, 24), (25, 49), (50, 74), (75, 100))
POSITIVE = (LeadOutcome.Outcome.WON, LeadOutcome.Outcome.MEETING_BOOKED)


@dataclass(frozen=True)
class BandOutcomes:
    low: int
    high: int
    leads: int  # leads in the band with a reported outcome
    counts: dict[str, int]  # latest outcome -> leads

    @property
    def positive_rate(self) -> float | None:
        """Share of the band's leads whose latest outcome is won or a meeting booked."""
        if not self.leads:
            return None
        return sum(self.counts.get(outcome, 0) for outcome in POSITIVE) / self.leads


def outcomes_by_score_band(bands=SCORE_BANDS, leads=None) -> list[BandOutcomes]:
    """Each lead's latest outcome, counted per score band (one query), for calibration.

    `leads` narrows the count to a Lead queryset (the scoring page's: the leads a scoring
    version decided in a period); by default every scored lead counts.
    """
    latest = LeadOutcome.objects.filter(lead=OuterRef("pk")).order_by("-recorded_at", "-pk")
    leads = Lead.objects.all() if leads is None else leads
    rows = (
        leads.filter(score__isnull=False)
        .annotate(latest_outcome=Subquery(latest.values("outcome")[:1]))
        .exclude(latest_outcome=None)
        .values_list("score", "latest_outcome")
    )
    tallies = {band: {} for band in bands}
    for score, outcome in rows:
        for low, high in bands:
            if low <= score <= high:
                counts = tallies[(low, high)]
                counts[outcome] = counts.get(outcome, 0) + 1
                break
    return [
        BandOutcomes(low, high, sum(counts.values()), counts)
        for (low, high), counts in tallies.items()
    ]
