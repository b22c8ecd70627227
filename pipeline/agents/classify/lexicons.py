"""The classifier's lexicons: families of wording, weighed term by term, read from data files.

Each `lexicons/<name>.txt` holds one lexicon: a `[weight]` line starts a group of terms of that
weight, then one term a line in the grammar of `pipeline.agents.terms`; `#` starts a comment
line. Weight 2+ is one clear signal on its own; weight 1 is a hint that needs company. Terms
cover English plus the words French, German, Spanish, Portuguese, Italian and Dutch forms use
most. The files are read and compiled once per process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import NamedTuple

from pipeline.agents.terms import term_pattern

LEXICON_DIR = Path(__file__).parent / "lexicons"

# The lexicons a signal set holds, in the order the model's features list them.
LEXICONS = (
    "buying",
    "specifics",
    "seniority",
    "nurture",
    "job",
    "support",
    "press",
    "partner",
    "consumer",
    "vendor",
    "promo",
)

# Concepts (any language) that say which wrong inbox a lead is in.
CONCEPT_CATEGORY: dict[str, str] = {
    "job": "job_applicant",
    "support": "support_request",
    "existing_customer": "support_request",
    "press": "press",
    "partner": "partnership",
    "consumer": "consumer",
    "vendor": "vendor_pitch",
}
# Concepts that are evidence of spam on their own.
SPAM_CONCEPTS = ("seo_links", "scam_money", "mass_template", "phishing")


class Cue(NamedTuple):
    weight: float
    pattern: re.Pattern[str]
    # A lowercase word the text must contain for the pattern to match, or None.
    needle: str | None


def parse_lexicon(text: str, *, name: str = "lexicon") -> list[Cue]:
    """Cues from a lexicon file's text; a term before any `[weight]` line is an error."""
    cues: list[Cue] = []
    weight: float | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            weight = float(line[1:-1])
            continue
        if weight is None:
            raise ValueError(f"{name}:{number}: a term before any [weight] line")
        pattern, needle = term_pattern(line)
        cues.append(Cue(weight, pattern, needle))
    return cues


@cache
def lexicon(name: str) -> list[Cue]:
    path = LEXICON_DIR / f"{name}.txt"
    return parse_lexicon(path.read_text(encoding="utf-8"), name=path.name)


@dataclass
class Hits:
    """Which patterns of one lexicon matched (the matched text) and their total weight."""

    matched: list[str] = field(default_factory=list)
    weight: float = 0.0

    def __bool__(self) -> bool:
        return bool(self.matched)

    def __len__(self) -> int:
        return len(self.matched)

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        return self.matched[index]


def hits(name: str, text: str) -> Hits:
    """The terms of lexicon `name` found in `text`, each counted once."""
    found = Hits()
    lowered = text.lower()
    for weight, pattern, needle in lexicon(name):
        if needle is not None and needle not in lowered:
            continue
        match = pattern.search(text)
        if match and match.group(0).strip().lower() not in (m.lower() for m in found.matched):
            found.matched.append(match.group(0).strip())
            found.weight += weight
    return found


# Compiled at import, so a worker parent that imports the classifier before it forks shares them.
for _name in LEXICONS:
    lexicon(_name)
