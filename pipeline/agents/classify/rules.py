"""The hand-written rules: weigh the signals into label scores and the rules' own answer.

The learned model reads this answer as one of its features; when the weights are missing, it
is the classifier's answer on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipeline.agents.classify.lexicons import CONCEPT_CATEGORY
from pipeline.agents.classify.signals import Signals
from pipeline.schemas import Flag


def _label_scores(signals: Signals) -> tuple[dict[str, float], dict[str, float], list[str]]:
    """(label scores, wrong-fit category scores, reasons)."""
    reasons: list[str] = []
    business_context = (
        (0.0 if signals.is_free_mail or signals.is_disposable or not signals.domain else 1.0)
        + (0.5 if signals.has_company else 0.0)
        + (0.5 if signals.has_website else 0.0)
        + (0.25 if signals.has_phone else 0.0)
    )

    # Spam: throwaway inboxes, link farms, promotions, nonsense.
    spam = 0.0
    if signals.is_disposable:
        # A throwaway inbox is a strong hint, but people with a real question use them too.
        spam += 2.0
        reasons.append(f"Disposable email domain ({signals.domain}).")
    link_count = len(signals.links)
    # Buyers rarely paste links into a contact form; promoters nearly always do.
    spam += {0: 0.0, 1: 1.0, 2: 1.5, 3: 2.0, 4: 2.5}.get(link_count, 3.0)
    if link_count and signals.seller_voice:
        spam += 1.0
    # Links to someone else's site, from someone who does not say who they are, are promotion.
    anonymous = signals.is_free_mail or signals.is_disposable or not signals.has_company
    if signals.foreign_links:
        spam += (2.25 if anonymous else 1.0) * min(signals.foreign_links, 2)
    if link_count >= 2:
        reasons.append(f"{link_count} links in the message.")
    if signals.program_links:
        # No buyer sends a program to run; a "requirements document" that is one is a lure.
        spam += 8.0
        reasons.append(f"A link to a program file ({clip(signals.program_links[0])}).")
    if signals.promo:
        spam += signals.promo.weight
        reasons.append("Promotional or scam wording (" + ", ".join(signals.promo[:3]) + ").")
    if signals.gibberish >= 0.5 and signals.words >= 1:
        spam += 4.0
        reasons.append("The text does not read as words.")
    elif signals.gibberish >= 0.3:
        spam += 1.5
    if signals.is_test:
        spam += 3.0
        reasons.append("Empty or test message.")
    if signals.shouting:
        spam += 1.0
    # Buying intent.
    high = signals.buying.weight + signals.specifics.weight + signals.seniority.weight
    if signals.buying or signals.specifics:
        high += 0.75 * business_context
    wrong_fit_evidence = max(
        signals.job.weight,
        signals.support.weight,
        signals.press.weight,
        signals.partner.weight,
        signals.consumer.weight,
        signals.vendor.weight,
    )
    if signals.is_disposable and (
        signals.buying.weight + signals.specifics.weight < 2.5
        and wrong_fit_evidence < 2.0
        and signals.words < 25
    ):
        spam += 1.5
    if signals.injection.detected:
        # Text that only tries to steer the model is not a lead; a real request that also
        # carries an injection keeps its label (the flag sends it to a human).
        has_request = (
            signals.buying.weight + signals.specifics.weight >= 1.5
            or signals.nurture.weight >= 1.0
            or wrong_fit_evidence >= 1.5
        )
        spam += 1.0 if has_request else 3.0
    if signals.is_free_mail and not signals.has_company and (signals.promo or link_count >= 2):
        spam += 1.0

    # Wrong fit: the right person, the wrong inbox.
    categories = {
        "job_applicant": signals.job.weight,
        "support_request": signals.support.weight,
        "press": signals.press.weight,
        "partnership": signals.partner.weight,
        "consumer": signals.consumer.weight
        + (0.5 if signals.consumer and signals.is_free_mail else 0.0),
        "vendor_pitch": signals.vendor.weight
        + (
            1.0 * signals.seller_voice
            if signals.seller_voice >= 2 and signals.seller_voice > signals.buyer_voice
            else 0.0
        ),
    }
    if signals.individual_voice and (signals.is_free_mail or not signals.domain):
        categories["consumer"] += 1.0
    low = 1.0 + signals.nurture.weight + (0.3 if signals.words >= 8 else 0.0)
    # "Not yet", "next year", "just curious" take the urgency out of any buying words.
    high -= 0.5 * signals.nurture.weight
    return {"spam": spam, "high_intent": high, "low_intent": low}, categories, reasons


@dataclass(frozen=True)
class RuleDecision:
    """What the hand-written rules alone conclude; one input of the learned model."""

    label: str
    confidence: float
    flags: list[Flag]
    reasons: list[str]
    # Wrong-fit category scores (job_applicant, support_request, ...) before any penalty.
    categories: dict[str, float]


def rule_decision(signals: Signals) -> RuleDecision:
    """The rules' own answer from weighted lexicons and thresholds."""
    scores, categories, reasons = _label_scores(signals)
    flags: list[Flag] = fact_flags(signals)

    wrong_category, wrong_score = max(categories.items(), key=lambda item: item[1])
    buying_strength = scores["high_intent"]
    # Someone who is buying also mentions support, a partner or a role now and then; the wrong
    # inbox wins only when it clearly outweighs the buying signals.
    # A pitch borrows buying words ("book a call", "pricing"); only the perspective tells it apart.
    penalty = 0.15 if wrong_category == "vendor_pitch" else 0.4
    wrong_fit = wrong_score - penalty * buying_strength

    spam = scores["spam"]
    if spam >= 3.0 and spam >= wrong_fit and spam >= buying_strength - 1.0:
        label = "spam"
        if signals.links and "link_spam" not in flags:
            flags.append("link_spam")
        margin = spam - max(wrong_fit, buying_strength, 1.0)
        if signals.vendor:
            flags.append("vendor_pitch")
        if not reasons:
            reasons.append("Several weak spam signals together.")
    elif wrong_fit >= 1.25:
        label = "wrong_fit"
        margin = wrong_fit - 1.0
        flags.append(wrong_category)  # type: ignore[arg-type]
        reasons = [wrong_fit_reason(wrong_category, signals)]
        for other, value in categories.items():
            if other != wrong_category and value - 0.4 * buying_strength >= 2.0:
                flags.append(other)  # type: ignore[arg-type]
    elif buying_strength >= 2.75 and buying_strength > scores["low_intent"]:
        label = "high_intent"
        margin = buying_strength - scores["low_intent"]
        reasons = high_intent_reasons(signals)
    else:
        label = "low_intent"
        margin = scores["low_intent"] - buying_strength / 2
        reasons = low_intent_reasons(signals)

    confidence = round(min(0.97, 0.55 + 0.4 * (1 - math.exp(-max(margin, 0.0) / 2.5))), 2)
    return RuleDecision(
        label=label,
        confidence=confidence,
        flags=list(dict.fromkeys(flags)),
        reasons=reasons,
        categories=categories,
    )


def fact_flags(signals: Signals) -> list[Flag]:
    flags: list[Flag] = []
    if signals.injection.detected:
        flags.append("injection")
    if signals.is_disposable:
        flags.append("disposable_email")
    if signals.is_free_mail:
        flags.append("free_email")
    if signals.gibberish >= 0.5:
        flags.append("gibberish")
    if len(signals.links) >= 3 or (signals.links and signals.promo):
        flags.append("link_spam")
    if signals.markup:
        flags.append("markup")
    return flags


def wrong_fit_reason(
    category: str, signals: Signals, concepts: dict[str, list[str]] | None = None
) -> str:
    evidence = {
        "job_applicant": signals.job,
        "support_request": signals.support,
        "press": signals.press,
        "partnership": signals.partner,
        "consumer": signals.consumer,
        "vendor_pitch": signals.vendor,
    }[category]
    what = {
        "job_applicant": "Looks like a job application",
        "support_request": "Looks like a support request from an existing user",
        "press": "Looks like a press or media request",
        "partnership": "Looks like a partnership proposal",
        "consumer": "Looks like personal, non-business use",
        "vendor_pitch": "Looks like a vendor pitching their own services",
    }[category]
    words = list(evidence[:3])
    for concept, concept_category in CONCEPT_CATEGORY.items():
        if concept_category == category:
            words += [word for word in (concepts or {}).get(concept, []) if word not in words]
    return f"{what} ({', '.join(words[:3])})." if words else f"{what}."


def high_intent_reasons(signals: Signals) -> list[str]:
    reasons = [f"Buying signals: {', '.join(signals.buying[:3])}."] if signals.buying else []
    if signals.specifics:
        reasons.append(f"Concrete details: {', '.join(signals.specifics[:3])}.")
    if signals.domain and not (signals.is_free_mail or signals.is_disposable):
        reasons.append(f"Business email domain ({signals.domain}).")
    return reasons or ["Clear buying request."]


def low_intent_reasons(signals: Signals) -> list[str]:
    if signals.nurture:
        return [f"Early-stage interest: {', '.join(clip(hit) for hit in signals.nurture[:3])}."]
    if signals.buying:
        return ["Some interest, but few concrete details yet."]
    return ["A general message without a clear buying request."]


def clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
