"""A small linear model for the rules classifier: softmax regression over words and signals.

Phrase rules alone generalise poorly to wording they were not written for, so `classify.rules`
asks this model too. Its inputs are explainable features of one submission:

- `w:` words and `b:` word pairs of the message (lowercased, digits folded to 0),
- `c:` character n-grams inside words (they carry stems across languages: "licen", "demo"),
- `m:` facts the rules establish (free-mail or disposable domain, links, company present,
  injection, gibberish) and `r:` the weight of each rule lexicon (buying, job, support...).

Training is deterministic (fixed row order, fixed epochs, no randomness) and runs in pure
Python in a few seconds, so `python manage.py train_classifier` regenerates the shipped
weights file byte for byte from the development sets. Never edit the weights by hand.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pipeline.agents.text import EMAIL_RE, URL_RE

LABELS: tuple[str, ...] = ("high_intent", "low_intent", "spam", "wrong_fit")
DATA_DIR = Path(__file__).parent / "data"
WEIGHTS_PATH = DATA_DIR / "classifier_weights.json"

FORMAT_VERSION = 1

# Scripts written without spaces between words: n-grams of 1-3 characters stand in for words.
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\u0e00-\u0e7f\uf900-\ufaff]")
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_DIGITS = re.compile(r"\d+")
# Features drawn from the wording; the rest are facts about the submission.
TEXT_PREFIXES = ("w:", "b:", "c:", "k:")


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int = 30
    learning_rate: float = 0.5
    l2: float = 3e-3
    # Keep only text features seen in at least this many training rows.
    min_rows: int = 2


@dataclass
class Model:
    """Weights per feature (one per label, in LABELS order) and a bias per label."""

    weights: dict[str, list[float]]
    bias: list[float]
    labels: tuple[str, ...] = LABELS
    meta: dict[str, object] = field(default_factory=dict)

    def scores(self, features: dict[str, float]) -> list[float]:
        totals = list(self.bias)
        for name, value in features.items():
            row = self.weights.get(name)
            if row is not None:
                for index, weight in enumerate(row):
                    totals[index] += weight * value
        return totals

    def probabilities(self, features: dict[str, float]) -> dict[str, float]:
        return dict(zip(self.labels, softmax(self.scores(features)), strict=True))

    def contributions(self, features: dict[str, float], label: str) -> dict[str, float]:
        """How much each feature pushed `label` above the average of the other labels."""
        index = self.labels.index(label)
        others = len(self.labels) - 1
        result = {}
        for name, value in features.items():
            row = self.weights.get(name)
            if row is None:
                continue
            push = row[index] - (sum(row) - row[index]) / others
            if push:
                result[name] = push * value
        return result

    def to_json(self) -> str:
        data = {
            "format": FORMAT_VERSION,
            "labels": list(self.labels),
            "meta": self.meta,
            "bias": [_round(value) for value in self.bias],
            "weights": {
                name: [_round(v) for v in row] for name, row in sorted(self.weights.items())
            },
        }
        return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Model:
        data = json.loads(text)
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"unsupported classifier weights format {data.get('format')!r}")
        return cls(
            weights={name: list(row) for name, row in data["weights"].items()},
            bias=list(data["bias"]),
            labels=tuple(data["labels"]),
            meta=data.get("meta", {}),
        )


def _round(value: float) -> float:
    return round(value, 5)


def softmax(scores: Sequence[float]) -> list[float]:
    top = max(scores)
    exps = [math.exp(score - top) for score in scores]
    total = sum(exps)
    return [value / total for value in exps]


# --- features -----------------------------------------------------------------------------


def normalise_text(text: str) -> str:
    """Lowercase NFKC text with links, addresses and digits folded to placeholders."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    text = EMAIL_RE.sub(" zzemail ", text)
    text = URL_RE.sub(" zzlink ", text)
    return _DIGITS.sub("0", text)


def _char_grams(token: str) -> Iterable[str]:
    if _UNSPACED.search(token):
        for size in (1, 2, 3):
            for start in range(len(token) - size + 1):
                yield token[start : start + size]
        return
    padded = f" {token} "
    for size in (3, 4, 5):
        for start in range(len(padded) - size + 1):
            yield padded[start : start + size]


def text_features(text: str, *, max_tokens: int = 400) -> dict[str, float]:
    """Words, word pairs and character n-grams, each group scaled to unit length."""
    tokens = _TOKEN.findall(normalise_text(text))[:max_tokens]
    words = {f"w:{token}" for token in tokens}
    pairs = {f"b:{first} {second}" for first, second in zip(tokens, tokens[1:], strict=False)}
    grams = {f"c:{gram}" for token in tokens for gram in _char_grams(token)}
    features: dict[str, float] = {}
    for group in (words, pairs, grams):
        if group:
            value = 1.0 / math.sqrt(len(group))
            for name in group:
                features[name] = value
    return features


def word_of_feature(feature: str, text: str) -> str:
    """The word of `text` a text feature came from, for reasons ("" when none)."""
    kind, _, body = feature.partition(":")
    if kind in ("w", "b"):
        return body
    if kind != "c":
        return ""
    needle = body.strip()
    for token in _TOKEN.findall(normalise_text(text)):
        if needle and needle in token:
            return token
    return ""


def build_features(
    text: str, facts: dict[str, float], *, max_tokens: int = 400
) -> dict[str, float]:
    features = text_features(text, max_tokens=max_tokens)
    features.update(facts)
    return features


# --- training ------------------------------------------------------------------------------


def _row_order(keys: Sequence[str]) -> list[int]:
    """A fixed, well-mixed order of the rows (labels interleaved), independent of file order."""
    return sorted(range(len(keys)), key=lambda i: hashlib.sha256(keys[i].encode()).hexdigest())


def train(
    examples: Sequence[tuple[str, dict[str, float], str]],
    config: TrainingConfig = TrainingConfig(),
) -> Model:
    """Fit softmax regression by SGD on (key, features, label) rows; deterministic.

    `key` only fixes the order rows are visited in. Text features seen in fewer than
    `config.min_rows` rows are dropped; fact features are always kept.
    """
    row_counts: dict[str, int] = defaultdict(int)
    for _, features, _ in examples:
        for name in features:
            row_counts[name] += 1
    kept = {
        name
        for name, count in row_counts.items()
        if count >= config.min_rows or name[:2] not in TEXT_PREFIXES
    }
    rows = [
        ({name: value for name, value in features.items() if name in kept}, LABELS.index(label))
        for _, features, label in examples
    ]
    order = _row_order([key for key, _, _ in examples])
    size = len(LABELS)
    weights: dict[str, list[float]] = {name: [0.0] * size for name in sorted(kept)}
    bias = [0.0] * size
    # Averaged SGD: the mean of the weights over all steps generalises better than the last.
    total_weights: dict[str, list[float]] = {name: [0.0] * size for name in weights}
    total_bias = [0.0] * size
    last_seen: dict[str, int] = {name: 0 for name in weights}
    step = 0
    decay = 1.0 - config.learning_rate * config.l2
    for epoch in range(config.epochs):
        rate = config.learning_rate / (1.0 + epoch * 0.1)
        decay = 1.0 - rate * config.l2
        for index in order:
            features, target = rows[index]
            scores = list(bias)
            for name, value in features.items():
                row = weights[name]
                for k in range(size):
                    scores[k] += row[k] * value
            probabilities = softmax(scores)
            step += 1
            for k in range(size):
                gradient = probabilities[k] - (1.0 if k == target else 0.0)
                total_bias[k] += bias[k] * (step - 1 - last_seen.get("", 0))
                bias[k] -= rate * gradient
            last_seen[""] = step - 1
            for name, value in features.items():
                row = weights[name]
                totals = total_weights[name]
                idle = step - 1 - last_seen[name]
                for k in range(size):
                    totals[k] += row[k] * idle
                    gradient = (probabilities[k] - (1.0 if k == target else 0.0)) * value
                    row[k] = row[k] * decay - rate * gradient
                last_seen[name] = step - 1
    # Close the running sums and average.
    for name, row in weights.items():
        idle = step - last_seen[name]
        totals = total_weights[name]
        for k in range(size):
            totals[k] += row[k] * idle
    for k in range(size):
        total_bias[k] += bias[k] * (step - last_seen.get("", 0))
    steps = max(step, 1)
    averaged = {
        name: [value / steps for value in totals]
        for name, totals in total_weights.items()
        if any(abs(value / steps) >= 5e-6 for value in totals)
    }
    return Model(
        weights=averaged,
        bias=[value / steps for value in total_bias],
        meta={
            "rows": len(examples),
            "epochs": config.epochs,
            "learning_rate": config.learning_rate,
            "l2": config.l2,
            "min_rows": config.min_rows,
        },
    )


@lru_cache(maxsize=4)
def load_model(path: str = str(WEIGHTS_PATH)) -> Model:
    return Model.from_json(Path(path).read_text(encoding="utf-8"))
