"""Classification agent: is this lead buying, browsing, spam, or in the wrong inbox?

`rules` weighs signals from the message, the email domain, links and the filled fields;
`claude` asks the classify model for the same typed answer. Facts code can establish for sure
(prompt injection, disposable or free-mail domain) are flags in both strategies.

The package, by idea: `lexicons` (wording families, read from `lexicons/*.txt`), `signals`
(what the rules see), `rules` (the hand-written answer), `evidence` (signals, concepts and
that answer together), `model` (the learned model on top), `reasons` (explanations and flags)
and `claude` (the prompt). Pure: it imports neither the ORM nor settings nor integrations.
"""

from __future__ import annotations

from pipeline.agents.classify.claude import AGENT, SYSTEM_PROMPT, claude
from pipeline.agents.classify.evidence import Evidence, gather_evidence
from pipeline.agents.classify.model import LABELS, decide, fact_features, model_features, rules
from pipeline.agents.classify.signals import collect_signals, gibberish_ratio
from pipeline.agents.fallback import fall_back_to_rules
from pipeline.llm import LLMError
from pipeline.schemas import AgentResult, Classification, LeadInput

__all__ = [
    "AGENT",
    "LABELS",
    "SYSTEM_PROMPT",
    "Evidence",
    "classify",
    "claude",
    "collect_signals",
    "decide",
    "fact_features",
    "gather_evidence",
    "gibberish_ratio",
    "model_features",
    "rules",
]


def classify(
    lead: LeadInput, *, strategy: str = "rules", fallback_on_transient: bool = False
) -> AgentResult[Classification]:
    """Classify with the given strategy; fall back to rules when Claude cannot answer.

    A retryable Claude failure (rate limit, overload, timeout) is raised for the engine's retry
    policy unless `fallback_on_transient` (the step's last attempt), which answers with rules.
    """
    chosen = strategy
    by_rules = rules(lead)
    if chosen == "rules":
        return AgentResult(output=by_rules, strategy="rules")
    try:
        output, usage = claude(lead)
    except LLMError as exc:
        return fall_back_to_rules(
            exc, by_rules, agent="classify", fallback_on_transient=fallback_on_transient
        )
    # Flags that code establishes for sure hold whatever the model said.
    certain = {"injection", "disposable_email", "free_email", "markup", "support"}
    flags = list(dict.fromkeys([*output.flags, *(f for f in by_rules.flags if f in certain)]))
    reasons = list(output.reasons)
    if "injection" in by_rules.flags and "injection" not in output.flags:
        reasons.append("Our injection rules flagged the message.")
    # The rules' spam probability stands beside the model's label, so a possible spam gets no
    # draft whichever strategy classified it.
    spam_probability = max(
        by_rules.spam_probability, output.confidence if output.label == "spam" else 0.0
    )
    output = output.model_copy(
        update={
            "flags": flags,
            "reasons": reasons,
            "spam_probability": spam_probability,
            "language": by_rules.language,
        }
    )
    return AgentResult(output=output, strategy="claude", usage=usage)  # type: ignore[arg-type]
