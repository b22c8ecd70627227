"""Train the classifier's model on the development sets, and measure it by cross-validation.

The held-out sets (pipeline/agents/data/labelled_leads*.jsonl) are never read here: training and
cross-validation use only the development files below.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.agents import learned
from pipeline.agents.classify import Evidence, decide, model_features
from pipeline.agents.evaluate import LABELS, Confusion, load_labelled

logger = logging.getLogger(__name__)

TRAINING_FILES: tuple[Path, ...] = (
    learned.DATA_DIR / "dev_leads.jsonl",
    learned.DATA_DIR / "dev_leads_a.jsonl",
    learned.DATA_DIR / "dev_leads_b.jsonl",
    learned.DATA_DIR / "dev_leads_c.jsonl",
    learned.DATA_DIR / "dev_leads_d.jsonl",
    learned.DATA_DIR / "dev_leads_e.jsonl",
    learned.DATA_DIR / "dev_leads_g.jsonl",
    learned.DATA_DIR / "dev_leads_f.jsonl",
)
# Held-out sets are named labelled_leads*.jsonl.
HELD_OUT_PREFIX = "labelled_leads"
CONFIG = learned.TrainingConfig()


@dataclass(frozen=True)
class Row:
    key: str
    features: dict[str, float]
    evidence: Evidence
    message: str
    label: str


def load_rows(path: Path) -> list[Row]:
    if path.name.startswith(HELD_OUT_PREFIX):
        raise ValueError(f"{path} is the held-out set; never train or tune on it")
    rows = []
    for labelled in load_labelled(path):
        features, evidence = model_features(labelled.lead)
        rows.append(
            Row(
                key=f"{path.name}:{labelled.id}",
                features=features,
                evidence=evidence,
                message=labelled.lead.message,
                label=labelled.label,
            )
        )
    return rows


def fit(rows: Sequence[Row], config: learned.TrainingConfig = CONFIG) -> learned.Model:
    model = learned.train([(row.key, row.features, row.label) for row in rows], config)
    model.meta["files"] = sorted({row.key.split(":", 1)[0] for row in rows})
    return model


def train_classifier(
    paths: Sequence[Path] = TRAINING_FILES, config: learned.TrainingConfig = CONFIG
) -> learned.Model:
    started = time.monotonic()
    model = fit([row for path in paths for row in load_rows(path)], config)
    logger.info(
        "trained classifier on %s rows, %s features in %.1fs",
        model.meta["rows"],
        len(model.weights),
        time.monotonic() - started,
    )
    return model


@dataclass(kw_only=True)
class FoldResult(Confusion):
    name: str

    @property
    def total(self) -> int:
        return sum(sum(row.values()) for row in self.confusion.values())

    @property
    def accuracy(self) -> float:
        return sum(self.confusion[label][label] for label in LABELS) / max(self.total, 1)


def cross_validate(
    paths: Sequence[Path] = TRAINING_FILES, config: learned.TrainingConfig = CONFIG
) -> list[FoldResult]:
    """Leave one file out: train on the others, measure on it. Files come from different writers."""
    by_file = {path.name: load_rows(path) for path in paths}
    results = []
    for name, test_rows in by_file.items():
        model = fit(
            [row for other, rows in by_file.items() if other != name for row in rows], config
        )
        confusion = {label: Counter() for label in LABELS}
        for row in test_rows:
            predicted = decide(model, row.features, row.evidence, row.message).label
            confusion[row.label][predicted] += 1
        results.append(FoldResult(name=name, confusion=confusion))
    return results
