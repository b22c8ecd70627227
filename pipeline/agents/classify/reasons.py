"""Why the classifier answered as it did: flags and reason lines a sales person can check."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pipeline.agents import learned
from pipeline.agents.classify.lexicons import CONCEPT_CATEGORY, SPAM_CONCEPTS
from pipeline.agents.classify.rules import (
    clip,
    fact_flags,
    high_intent_reasons,
    low_intent_reasons,
    wrong_fit_reason,
)
from pipeline.schemas import Flag

if TYPE_CHECKING:
    from pipeline.agents.classify.evidence import Evidence


def wrong_fit_category(evidence: Evidence) -> str:
    """Which wrong inbox: the rules' category scores, plus the concepts named in any language."""
    scores = dict(evidence.rule.categories)
    for concept, category in CONCEPT_CATEGORY.items():
        if concept in evidence.concepts:
            scores[category] = scores.get(category, 0.0) + 2.0
    return max(scores.items(), key=lambda item: item[1])[0]


def is_support(label: str, evidence: Evidence) -> bool:
    """An existing customer writing about their account: billing, refunds, login, outages,
    cancelling; or a wrong-fit lead whose wrong inbox is support."""
    if "account_issue" in evidence.concepts:
        return True
    return label == "wrong_fit" and wrong_fit_category(evidence) == "support_request"


def fact_reasons(evidence: Evidence, flags: list[Flag]) -> list[str]:
    """Reason lines for the flags that send a lead to a human, first so a reviewer sees them."""
    reasons = []
    if evidence.signals.markup:
        where = ", ".join(
            f"{finding.kind} in {finding.field.removeprefix('custom:')}"
            for finding in evidence.signals.markup[:3]
        )
        reasons.append(f"Markup in the submission ({where}); shown escaped, a human reads it.")
    if "support" in flags:
        words = [
            *evidence.concepts.get("account_issue", []),
            *evidence.concepts.get("existing_customer", []),
        ]
        shown = f" ({', '.join(clip(word) for word in words[:3])})" if words else ""
        reasons.append(f"Reads as an existing customer's support or account request{shown}.")
    return reasons


# How strong the rules' evidence of a wrong inbox must be to flag a lead the model reads as a
# buyer or a browser. Chosen on the development sets, where no high-intent row reaches the vendor
# floor and two of about 250 reach the consumer or support floor; the flag only sends the lead
# to a human instead of an automatic reply.
WRONG_INBOX_FLOORS: dict[str, tuple[str, float]] = {
    "vendor_pitch": ("vendor_pitch", 2.5),
    "consumer": ("consumer", 3.0),
    "support_request": ("support", 3.0),
}


def wrong_inbox_flags(evidence: Evidence) -> list[Flag]:
    """Flags for clear signs of a vendor pitch, a private person or a customer's account,
    whatever the label: the decision never sends an automatic sales reply to them."""
    return [
        flag  # type: ignore[misc]
        for category, (flag, floor) in WRONG_INBOX_FLOORS.items()
        if evidence.rule.categories.get(category, 0.0) >= floor
    ]


def flags_for(label: str, evidence: Evidence) -> list[Flag]:
    signals = evidence.signals
    flags: list[Flag] = fact_flags(signals)
    if label == "wrong_fit":
        flags.append(wrong_fit_category(evidence))  # type: ignore[arg-type]
    if label != "spam" and is_support(label, evidence):
        flags.append("support")
    if label in ("high_intent", "low_intent"):
        flags.extend(wrong_inbox_flags(evidence))
    if label == "spam":
        if signals.links:
            flags.append("link_spam")
        if signals.vendor or "vendor" in evidence.concepts:
            flags.append("vendor_pitch")
    return list(dict.fromkeys(flags))


_FEATURE_NAMES = {
    "m:free_mail": "free-mail address",
    "m:disposable": "disposable email address",
    "m:no_domain": "no email domain",
    "m:business_domain": "business email domain",
    "m:company": "company given",
    "m:website": "website given",
    "m:phone": "phone given",
    "m:foreign_links": "links to other sites",
    "m:gibberish": "text that does not read as words",
    "m:test": "test or empty message",
    "m:injection": "instructions aimed at our assistant",
    "m:injection_only": "only instructions aimed at our assistant",
    "m:disposable_no_request": "throwaway address without a request",
    "m:shouting": "mostly capitals",
    "m:seller_voice": "sender describes their own offer",
    "m:buyer_voice": "asks about our product",
    "m:individual_voice": "writes as a private person",
    "m:academic_domain": "school or university address",
    "m:short": "very short message",
    "m:account_seats": "seat counts of an existing account",
    "m:pitch_with_buying_words": "a pitch that borrows buying words",
}


_UNSPACED_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def describe(feature: str, evidence: Evidence, message: str) -> str:
    kind, _, body = feature.partition(":")
    if feature in _FEATURE_NAMES:
        return _FEATURE_NAMES[feature]
    if kind == "t":
        words = evidence.concepts.get(body, [])
        shown = ", ".join(clip(word) for word in words[:2])
        return f"{body.replace('_', ' ')} ({shown})" if words else ""
    if kind == "r":
        hits = [clip(hit) for hit in getattr(evidence.signals, body)[:2]]
        return f"{body} wording ({', '.join(hits)})" if hits else ""
    if kind == "m" and body.startswith("links="):
        return f"{len(evidence.signals.links)} link(s)"
    if kind == "q":
        return ""
    word = learned.word_of_feature(feature, message)
    # Short function words ("and", "de") carry weight but explain nothing to a person.
    return f"'{word}'" if len(word) >= 4 or (word and _UNSPACED_WORD.search(word)) else ""


def reasons_for(
    label: str, evidence: Evidence, contributions: dict[str, float], message: str
) -> list[str]:
    signals = evidence.signals
    if label == "wrong_fit":
        category = wrong_fit_category(evidence)
        reasons = [wrong_fit_reason(category, signals, evidence.concepts)]
    elif label == "high_intent":
        reasons = high_intent_reasons(signals)
        asked = [
            word
            for concept in ("demo", "price", "trial", "purchase", "team_size", "timeline")
            for word in evidence.concepts.get(concept, [])[:1]
        ]
        if asked and not (signals.buying or signals.specifics):
            reasons = [f"Buying signals: {', '.join(clip(word) for word in asked[:4])}."]
    elif label == "low_intent":
        reasons = low_intent_reasons(signals)
        early = evidence.concepts.get("no_urgency", []) + evidence.concepts.get("info_request", [])
        if early and not signals.nurture:
            reasons = [f"Early-stage interest: {', '.join(clip(word) for word in early[:3])}."]
    else:
        reasons = [reason for reason in evidence.rule.reasons if evidence.rule.label == "spam"]
        found = [word for concept in SPAM_CONCEPTS for word in evidence.concepts.get(concept, [])]
        if found:
            reasons.append(f"Spam wording ({', '.join(found[:3])}).")
        if signals.is_disposable and not any("Disposable" in reason for reason in reasons):
            reasons.append(f"Disposable email domain ({signals.domain}).")
    described: list[str] = []
    for feature, _ in sorted(contributions.items(), key=lambda item: (-item[1], item[0])):
        if contributions[feature] <= 0 or len(described) >= 4:
            break
        text = describe(feature, evidence, message)
        if text and text not in described:
            described.append(text)
    if described:
        reasons.append("Strongest signals: " + "; ".join(described) + ".")
    return reasons or ["Weighed the signals together."]
