"""Calibration: what reviewers did with the drafts of each score band, and the auto-send
threshold that evidence supports.

Outcomes per draft (superseded drafts are left out: their run's newest draft counts):
approved unedited, edited (approved after an edit or a regeneration), rejected, waiting, and
auto-sent (approved with no reviewer). The threshold only learns from reviewer verdicts on
drafts whose label may be auto-sent: the lowest threshold T such that, among those drafts
scoring at least T, the share approved unedited is at or above the target precision, with at
least MIN_EVIDENCE verdicts behind it. With fewer verdicts it says how many more it needs.

Beside the reviewers' verdicts, the outcomes integrations report (won, meeting booked, lost,
not interested; `pipeline.outcomes`) are counted per band for the same drafts' leads: does a
higher score mean more business?
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Max

OUTCOMES = ("unedited", "edited", "rejected", "waiting", "auto_sent")
VERDICTS = ("unedited", "edited", "rejected")
MIN_EVIDENCE = 30
BAND_WIDTH = 10
DEFAULT_PRECISION = 0.95


@dataclass(frozen=True)
class Band:
    low: int
    high: int
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def unedited_share(self) -> float | None:
        verdicts = sum(self.counts[name] for name in VERDICTS)
        return self.counts["unedited"] / verdicts if verdicts else None


@dataclass(frozen=True)
class Calibration:
    bands: list[Band]
    target: float
    verdicts: int  # reviewer verdicts on auto-sendable labels, the threshold's evidence
    threshold: int | None  # the lowest threshold meeting the target with enough evidence
    precision: float | None  # approved-unedited share at that threshold
    evidence: int  # verdicts at or above that threshold
    needs_more: int  # reviewed leads still needed before a threshold can be suggested


def band_edges() -> list[tuple[int, int]]:
    """(low, high) of each score band; the last one takes 100."""
    return [
        (low, 100 if low + BAND_WIDTH >= 100 else low + BAND_WIDTH - 1)
        for low in range(0, 100, BAND_WIDTH)
    ]


def _drafts(*, version: int | None, since: datetime | None, until: datetime | None):
    """The drafts of the period (their run's newest), scored by `version` if given."""
    from pipeline.models import Draft, StepRun

    drafts = Draft.objects.exclude(status=Draft.Status.SUPERSEDED).filter(score__isnull=False)
    if since is not None:
        drafts = drafts.filter(created_at__gte=since)
    if until is not None:
        drafts = drafts.filter(created_at__lt=until)
    if version is not None:
        scored_by = StepRun.objects.filter(
            name="score_final", output__score__criteria_version=version
        ).values("run_id")
        drafts = drafts.filter(run_id__in=scored_by)
    return drafts


def outcome_rows(*, version: int | None, since: datetime | None, until: datetime | None):
    """(score, label, outcome) for each draft in the period, scored by `version` if given."""
    from pipeline.models import Draft

    drafts = _drafts(version=version, since=since, until=until)
    rows = drafts.annotate(revisions_count=Max("revisions__number")).values_list(
        "score", "label", "status", "decided_by_id", "revisions_count"
    )
    for score, label, status, decided_by, revisions in rows:
        if status == Draft.Status.PENDING:
            outcome = "waiting"
        elif status == Draft.Status.REJECTED:
            outcome = "rejected"
        elif decided_by is None:
            outcome = "auto_sent"
        elif (revisions or 1) > 1:
            outcome = "edited"
        else:
            outcome = "unedited"
        yield score, label, outcome


def reported_outcomes(*, version: int | None, since: datetime | None, until: datetime | None):
    """The latest reported outcome of each lead those drafts belong to, per score band."""
    from pipeline.models import Lead
    from pipeline.outcomes import outcomes_by_score_band

    drafts = _drafts(version=version, since=since, until=until)
    leads = Lead.objects.filter(pk__in=drafts.values("lead_id"))
    return outcomes_by_score_band(bands=band_edges(), leads=leads)


def calibrate(
    rows,
    *,
    auto_send_labels: list[str],
    target: float = DEFAULT_PRECISION,
    min_evidence: int = MIN_EVIDENCE,
) -> Calibration:
    """Pure arithmetic over (score, label, outcome) rows; see the module docstring."""
    rows = list(rows)
    bands = []
    for low, high in band_edges():
        counts = dict.fromkeys(OUTCOMES, 0)
        for score, _label, outcome in rows:
            if low <= score <= high:
                counts[outcome] += 1
        bands.append(Band(low=low, high=high, counts=counts))

    evidence_rows = [
        (score, outcome)
        for score, label, outcome in rows
        if outcome in VERDICTS and label in auto_send_labels
    ]
    verdicts = len(evidence_rows)
    if verdicts < min_evidence:
        return Calibration(bands, target, verdicts, None, None, 0, min_evidence - verdicts)
    best_short: tuple[int, int] | None = None  # (threshold, evidence) meeting target, too few
    for threshold in range(0, 101):
        above = [outcome for score, outcome in evidence_rows if score >= threshold]
        if not above:
            break
        precision = above.count("unedited") / len(above)
        if precision >= target:
            if len(above) >= min_evidence:
                return Calibration(bands, target, verdicts, threshold, precision, len(above), 0)
            best_short = best_short or (threshold, len(above))
    # No threshold meets the target with enough verdicts above it. The target can only be
    # shown with min_evidence verdicts above the threshold: say how many are missing there.
    if best_short is not None:
        threshold, evidence = best_short
        return Calibration(bands, target, verdicts, None, None, evidence, min_evidence - evidence)
    # Enough verdicts, and none of the thresholds reaches the target: that is the answer.
    return Calibration(bands, target, verdicts, None, None, 0, 0)
