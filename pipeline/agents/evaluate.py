"""Measure the classifier on a labelled set: accuracy, per-label precision/recall, confusion."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

from pipeline.agents.classify import classify
from pipeline.agents.types import Label, LeadInput

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


@dataclass
class EvalReport:
    total: int = 0
    correct: int = 0
    # confusion[expected][predicted] = count
    confusion: dict[str, Counter] = field(
        default_factory=lambda: {label: Counter() for label in LABELS}
    )
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

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def precision(self, label: str) -> float:
        predicted = sum(self.confusion[expected][label] for expected in LABELS)
        return self.confusion[label][label] / predicted if predicted else 0.0

    def recall(self, label: str) -> float:
        actual = sum(self.confusion[label].values())
        return self.confusion[label][label] / actual if actual else 0.0

    def support(self, label: str) -> int:
        return sum(self.confusion[label].values())

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
        if show_mistakes and self.mistakes:
            lines += ["", "mistakes (id: expected -> predicted)"]
            lines += [
                f"  {row_id}: {expected} -> {predicted}"
                for row_id, expected, predicted in self.mistakes
            ]
        return "\n".join(lines)


def evaluate(rows: list[LabelledLead], *, strategy: str = "rules") -> EvalReport:
    report = EvalReport()
    for row in rows:
        result = classify(row.lead, strategy=strategy, fallback_on_transient=True)
        predicted = result.output.label
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
