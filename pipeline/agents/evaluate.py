"""Measure the agents on a labelled set: the classifier, and what the decision would do.

The classifier: accuracy, per-label precision/recall, confusion. The decision: each lead goes
through the form score (the default criteria; no enrichment, so no network) and `decide` with
the default auto-send settings, giving the auto-send precision (share of auto-sent leads that
are high intent and carry no flag but free_email in the labels), the coverage (share of
high-intent leads auto-sent), every unsafe auto-send by id, and how many labelled-spam leads
would still get a draft.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

from pipeline.agents import decision as decision_rules
from pipeline.agents.classify import classify
from pipeline.agents.defaults import AUTO_SEND_DEFAULTS, DEFAULT_CRITERIA
from pipeline.agents.draft import reply_language
from pipeline.agents.score import score_final, score_form
from pipeline.schemas import Classification, Decision, Label, LeadInput

LABELS: tuple[str, ...] = get_args(Label)


@dataclass(frozen=True)
class LabelledLead:
    id: str
    lead: LeadInput
    label: str
    flags: list[str]


def load_labelled(path: str | Path) -> list[LabelledLead]:
    rows = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        data = json.loads(line)
        if data["label"] not in LABELS:
            raise ValueError(f"{path}:{number}: unknown label {data['label']!r}")
        lead = LeadInput(
            name=data.get("name") or "",
            email=data.get("email") or "",
            company=data.get("company") or "",
            website=data.get("website") or "",
            phone=data.get("phone") or "",
            message=data.get("message") or "",
        )
        rows.append(
            LabelledLead(str(data.get("id", number)), lead, data["label"], data.get("flags") or [])
        )
    return rows


@dataclass(kw_only=True)
class Confusion:
    """Counts of (expected, predicted) labels, and the figures read from them."""

    # confusion[expected][predicted] = count
    confusion: dict[str, Counter] = field(
        default_factory=lambda: {label: Counter() for label in LABELS}
    )

    def precision(self, label: str) -> float:
        predicted = sum(self.confusion[expected][label] for expected in LABELS)
        return self.confusion[label][label] / predicted if predicted else 0.0

    def recall(self, label: str) -> float:
        actual = sum(self.confusion[label].values())
        return self.confusion[label][label] / actual if actual else 0.0

    def support(self, label: str) -> int:
        return sum(self.confusion[label].values())


@dataclass(kw_only=True)
class EvalReport(Confusion):
    total: int = 0
    correct: int = 0
    fallbacks: int = 0
    strategies: Counter = field(default_factory=Counter)
    mistakes: list[tuple[str, str, str]] = field(default_factory=list)  # (id, expected, predicted)
    injection_expected: int = 0
    injection_found: int = 0
    # Per expected flag: how many rows carry it, how many we flagged, and the labels involved.
    flag_rows: Counter = field(default_factory=Counter)
    flag_found: Counter = field(default_factory=Counter)
    flag_expected_labels: dict[str, Counter] = field(default_factory=dict)
    flag_predicted_labels: dict[str, Counter] = field(default_factory=dict)
    # What the decision would do: action counts, auto-sent ids (safe or not), spam with a draft.
    actions: Counter = field(default_factory=Counter)
    high_intent_expected: int = 0
    auto_sent: list[str] = field(default_factory=list)
    unsafe_auto_sent: list[str] = field(default_factory=list)
    auto_sent_high_intent: int = 0
    spam_expected: int = 0
    spam_drafted: list[str] = field(default_factory=list)
    spam_probable_drafted: list[str] = field(default_factory=list)

    @property
    def auto_send_precision(self) -> float:
        safe = len(self.auto_sent) - len(self.unsafe_auto_sent)
        return safe / len(self.auto_sent) if self.auto_sent else 1.0

    @property
    def auto_send_coverage(self) -> float:
        return (
            self.auto_sent_high_intent / self.high_intent_expected
            if self.high_intent_expected
            else 0.0
        )

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def format(self, *, show_mistakes: bool = False) -> str:
        lines = [
            f"examples: {self.total}   accuracy: {self.accuracy:.3f}   "
            f"strategies: {dict(self.strategies)}   fallbacks: {self.fallbacks}",
            "",
            f"{'label':<12} {'precision':>9} {'recall':>7} {'support':>8}",
        ]
        for label in LABELS:
            lines.append(
                f"{label:<12} {self.precision(label):>9.3f} {self.recall(label):>7.3f} "
                f"{self.support(label):>8}"
            )
        lines += ["", "confusion (rows: expected, columns: predicted)"]
        width = max(len(label) for label in LABELS) + 1
        lines.append(" " * width + "".join(f"{label:>{width}}" for label in LABELS))
        for expected in LABELS:
            lines.append(
                f"{expected:<{width}}"
                + "".join(f"{self.confusion[expected][predicted]:>{width}}" for predicted in LABELS)
            )
        if self.injection_expected:
            lines.append("")
            lines.append(f"injection flag recall: {self.injection_found}/{self.injection_expected}")
        if self.flag_rows:
            lines += [
                "",
                f"{'flag':<17} {'rows':>4} {'found':>5}  expected labels -> predicted labels",
            ]
            for flag, count in sorted(self.flag_rows.items()):
                expected = ", ".join(
                    f"{k}:{v}" for k, v in sorted(self.flag_expected_labels[flag].items())
                )
                predicted = ", ".join(
                    f"{k}:{v}" for k, v in sorted(self.flag_predicted_labels[flag].items())
                )
                lines.append(
                    f"{flag:<17} {count:>4} {self.flag_found[flag]:>5}  {expected} -> {predicted}"
                )
        if self.actions:
            lines += [
                "",
                "decision (default settings, form score only): "
                + ", ".join(f"{action} {count}" for action, count in sorted(self.actions.items())),
                f"auto-send precision: {self.auto_send_precision:.3f} "
                f"({len(self.auto_sent) - len(self.unsafe_auto_sent)}/{len(self.auto_sent)})   "
                f"coverage of high intent: {self.auto_send_coverage:.3f} "
                f"({self.auto_sent_high_intent}/{self.high_intent_expected})",
                f"unsafe auto-sends: {len(self.unsafe_auto_sent)}"
                + (f" ({', '.join(self.unsafe_auto_sent)})" if self.unsafe_auto_sent else ""),
                f"labelled spam with a draft: {len(self.spam_drafted)}/{self.spam_expected}"
                f" (of them classified spam-probable: {len(self.spam_probable_drafted)})",
            ]
        if show_mistakes and self.mistakes:
            lines += ["", "mistakes (id: expected -> predicted)"]
            lines += [
                f"  {row_id}: {expected} -> {predicted}"
                for row_id, expected, predicted in self.mistakes
            ]
        return "\n".join(lines)


# A labelled flag that makes an automatic sales reply wrong; free mail alone does not.
SAFE_FLAGS = frozenset({"free_email"})


def simulate_decision(lead: LeadInput, classification: Classification) -> Decision:
    """The decision the pipeline would take with the default settings, the rules' form score
    and no enrichment (so no network besides the classifier's own)."""
    form = score_form(
        lead, classification, DEFAULT_CRITERIA, None, strategy="rules", fallback_on_transient=True
    ).output
    final = score_final(lead, classification, form, None, DEFAULT_CRITERIA, None).output
    return decision_rules.decide(
        classification,
        final,
        auto_send_threshold=AUTO_SEND_DEFAULTS.threshold,
        auto_send_labels=list(AUTO_SEND_DEFAULTS.labels),
        min_confidence=AUTO_SEND_DEFAULTS.min_confidence,
        auto_send_paused=False,
        lead_flagged=False,
        has_email=bool(lead.email),
        lead_language=classification.language,
        reply_language=reply_language(classification.language, "rules"),
    )


def evaluate(
    rows: list[LabelledLead], *, strategy: str = "rules", decisions: bool = True
) -> EvalReport:
    report = EvalReport()
    for row in rows:
        result = classify(row.lead, strategy=strategy, fallback_on_transient=True)
        predicted = result.output.label
        if decisions:
            _record_decision(report, row, result.output)
        report.total += 1
        report.confusion[row.label][predicted] += 1
        report.strategies[result.strategy] += 1
        if result.fallback_reason:
            report.fallbacks += 1
        if predicted == row.label:
            report.correct += 1
        else:
            report.mistakes.append((row.id, row.label, predicted))
        for flag in row.flags:
            report.flag_rows[flag] += 1
            report.flag_found[flag] += flag in result.output.flags
            report.flag_expected_labels.setdefault(flag, Counter())[row.label] += 1
            report.flag_predicted_labels.setdefault(flag, Counter())[predicted] += 1
        if "injection" in row.flags:
            report.injection_expected += 1
            report.injection_found += "injection" in result.output.flags
    return report


def _record_decision(report: EvalReport, row: LabelledLead, classification: Classification) -> None:
    decision = simulate_decision(row.lead, classification)
    report.actions[decision.action] += 1
    report.high_intent_expected += row.label == "high_intent"
    if decision.action == "auto_send":
        report.auto_sent.append(row.id)
        if row.label != "high_intent" or set(row.flags) - SAFE_FLAGS:
            report.unsafe_auto_sent.append(row.id)
        report.auto_sent_high_intent += row.label == "high_intent"
    if row.label == "spam":
        report.spam_expected += 1
        if decision.action != "discard" and decision.draft:
            report.spam_drafted.append(row.id)
            if classification.label == "spam" or decision.possible_spam:
                report.spam_probable_drafted.append(row.id)
