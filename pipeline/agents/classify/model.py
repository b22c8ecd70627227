"""The learned model on top of the rules: features from the evidence, and the final answer."""

from __future__ import annotations

import logging
import re

from pipeline.agents import learned
from pipeline.agents.classify.evidence import Evidence, gather_evidence
from pipeline.agents.classify.lexicons import CONCEPT_CATEGORY, LEXICONS
from pipeline.agents.classify.reasons import (
    fact_reasons,
    flags_for,
    is_support,
    reasons_for,
)
from pipeline.agents.injection import without_injection
from pipeline.agents.language import detect_language
from pipeline.schemas import Classification, LeadInput

logger = logging.getLogger(__name__)

LABELS = learned.LABELS
# Rules never claim certainty: a human can always overrule them.
MAX_CONFIDENCE = 0.97

# Schools and universities: ".edu", ".ac.uk", "student.uni.example", "etu.ecole.fr", "uni-x.de".
_ACADEMIC_DOMAIN = re.compile(
    r"(?:^|\.)(?:edu|ac|student|students|stud|etu|etud|alumni|uni|univ)\.|\.edu$|\.edu\.\w+$"
    r"|(?:^|[.-])(?:uni|univ|university|universidad|universite|universita|hochschule|college|school)[.-]"
)


def fact_features(evidence: Evidence) -> dict[str, float]:
    """The model's non-text features: facts, lexicon weights, concepts and the rules' answer."""
    signals = evidence.signals
    features: dict[str, float] = {
        "m:free_mail": float(signals.is_free_mail),
        "m:disposable": float(signals.is_disposable),
        "m:no_domain": float(not signals.domain),
        "m:business_domain": float(
            bool(signals.domain) and not signals.is_free_mail and not signals.is_disposable
        ),
        "m:company": float(signals.has_company),
        "m:website": float(signals.has_website),
        "m:phone": float(signals.has_phone),
        "m:foreign_links": min(signals.foreign_links, 3) / 2,
        "m:gibberish": signals.gibberish,
        "m:test": float(signals.is_test),
        "m:shouting": float(signals.shouting),
        "m:seller_voice": min(signals.seller_voice, 3) / 2,
        "m:buyer_voice": min(signals.buyer_voice, 3) / 2,
        "m:individual_voice": float(signals.individual_voice),
        "m:short": float(signals.words < 6),
        "m:academic_domain": float(bool(_ACADEMIC_DOMAIN.search(signals.domain))),
        # Markup is a probe or a pasted signature, seen on buyers and spam alike: a flag for a
        # human, weighed by what the rest of the lead says.
        "m:markup": float(bool(signals.markup)),
        f"q:rule={evidence.rule.label}": 1.0,
    }
    if signals.links:
        features[f"m:links={min(len(signals.links), 3)}"] = 1.0
    # Seat counts beside account words ("invoice for 15 licences", "22 users can't log in") are
    # the customer's account, not a purchase, unless the message also asks for more seats.
    if (
        signals.support.weight >= 2.0
        and "team_size" in evidence.concepts
        and "more_seats" not in evidence.concepts
    ):
        features["m:account_seats"] = 1.0
    # A pitch borrows buying words: "book a demo" from someone who offers their own services.
    if evidence.is_pitch and any(word in evidence.concepts for word in ("demo", "price", "trial")):
        features["m:pitch_with_buying_words"] = 1.0
    # A real request that carries an injection keeps the label of the request: the injection is
    # a flag for a human, not a feature. Only a message that is nothing but instructions is.
    if signals.injection.detected and not evidence.has_request:
        features["m:injection"] = 1.0
        for category in signals.injection.categories:
            features[f"m:injection:{category}"] = 1.0
        features["m:injection_only"] = 1.0
    if signals.is_disposable and not evidence.has_request:
        features["m:disposable_no_request"] = 1.0
    for name in LEXICONS:
        weight = getattr(signals, name).weight
        if weight:
            features[f"r:{name}"] = min(weight, 6.0) / 3
    if evidence.rule.label == "wrong_fit":
        for flag in evidence.rule.flags:
            if flag in CONCEPT_CATEGORY.values():
                features[f"q:rule_wrong_fit={flag}"] = 1.0
    for concept in evidence.concepts:
        features[f"t:{concept}"] = 1.0
    return {name: value for name, value in features.items() if value}


def model_features(lead: LeadInput) -> tuple[dict[str, float], Evidence]:
    """The learned model's features for one lead, and the evidence they came from."""
    evidence = gather_evidence(lead)
    return learned.build_features(model_text(lead, evidence), fact_features(evidence)), evidence


def model_text(lead: LeadInput, evidence: Evidence) -> str:
    """The words the model reads. A real request that carries an injection is read without the
    injected sentences: their words ("ignore", "instructions", "system") come mostly from spam
    in training, and would pull the request towards spam. The flag still goes to a human."""
    message = lead.message or ""
    if evidence.signals.injection.detected and evidence.has_request:
        return without_injection(message)
    return message


def rules(lead: LeadInput) -> Classification:
    """Deterministic classification: rule signals weighed by the learned model; no network."""
    features, evidence = model_features(lead)
    language = detect_language(lead.message or "")
    try:
        model = learned.load_model()
    except (OSError, ValueError) as exc:
        # The weights ship with the code; without them the hand-written rules still answer.
        logger.error("classifier weights unavailable, using rules only: %s", exc)
        return from_rule_decision(evidence).model_copy(update={"language": language})
    classification = decide(model, features, evidence, lead.message or "")
    return classification.model_copy(update={"language": language})


def decide(
    model: learned.Model, features: dict[str, float], evidence: Evidence, message: str
) -> Classification:
    """The model's most probable label, never spam without a positive sign of spam."""
    probabilities = model.probabilities(features)
    if not evidence.has_spam_evidence or (
        # A vendor pitching their own services is wrong_fit unless it shows what only spam shows.
        evidence.is_pitch and not evidence.has_strong_spam_evidence
    ):
        probabilities = renormalised(probabilities, without="spam")
    label = max(LABELS, key=lambda name: probabilities[name])
    if evidence.signals.injection.detected and not evidence.has_request:
        # Text that only tries to steer our assistant is not a lead, whatever else it resembles.
        label = "spam"
        probabilities = {**probabilities, "spam": max(probabilities["spam"], 0.6)}
    if evidence.signals.program_links:
        # A link to a program file is a lure, however much the text reads like a buyer.
        label = "spam"
        probabilities = {**probabilities, "spam": max(probabilities["spam"], 0.9)}
    reasons = reasons_for(label, evidence, model.contributions(features, label), message)
    if evidence.signals.injection.detected:
        reasons.append("The message tries to instruct our assistant; flagged for a human.")
    flags = flags_for(label, evidence)
    return Classification(
        label=label,  # type: ignore[arg-type]
        confidence=round(min(probabilities[label], MAX_CONFIDENCE), 2),
        reasons=(fact_reasons(evidence, flags) + reasons)[:4],
        flags=flags,
        spam_probability=round(probabilities["spam"], 2),
    )


def renormalised(probabilities: dict[str, float], *, without: str) -> dict[str, float]:
    rest = sum(value for name, value in probabilities.items() if name != without)
    return {
        name: (0.0 if name == without else value / rest) for name, value in probabilities.items()
    }


def from_rule_decision(evidence: Evidence) -> Classification:
    label = evidence.rule.label
    flags = list(evidence.rule.flags)
    if label != "spam" and is_support(label, evidence) and "support" not in flags:
        flags.append("support")
    reasons = list(evidence.rule.reasons)
    if evidence.signals.injection.detected:
        reasons.append("The message tries to instruct our assistant; flagged for a human.")
    return Classification(
        label=label,  # type: ignore[arg-type]
        confidence=evidence.rule.confidence,
        reasons=(fact_reasons(evidence, flags) + reasons)[:4],
        flags=flags,  # type: ignore[arg-type]
        spam_probability=evidence.rule.confidence if label == "spam" else 0.0,
    )
