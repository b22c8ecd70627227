"""The evidence about one lead: its signals, the concepts it names and the rules' answer."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.agents.classify.lexicons import CONCEPT_CATEGORY, SPAM_CONCEPTS, hits
from pipeline.agents.classify.rules import RuleDecision, rule_decision
from pipeline.agents.classify.signals import Signals, collect_signals, without_source_mentions
from pipeline.agents.concepts import find_concepts
from pipeline.agents.injection import without_injection
from pipeline.agents.text import words_in
from pipeline.schemas import LeadInput


@dataclass(frozen=True)
class Evidence:
    """Everything the classifier saw about one lead: signals, concepts and the rules' answer."""

    signals: Signals
    concepts: dict[str, list[str]]
    rule: RuleDecision

    # Whether the message asks for something besides any instructions aimed at our assistant.
    has_request: bool

    @property
    def has_strong_spam_evidence(self) -> bool:
        """Signs that only spam shows; one link or a salesy phrase is not among them."""
        signals = self.signals
        anonymous = signals.is_free_mail or signals.is_disposable or not signals.has_company
        return bool(
            signals.is_disposable
            or signals.is_test
            or signals.gibberish >= 0.5
            or len(signals.links) >= 2
            or (signals.foreign_links and anonymous)
            or signals.promo.weight >= 2.5
            or (signals.injection.detected and not self.has_request)
            or any(concept in self.concepts for concept in SPAM_CONCEPTS)
        )

    @property
    def is_pitch(self) -> bool:
        """The sender offers their own services: one clear pitch signal, not a hint such as
        "quick call" or "agency" that buyers and spam use too."""
        return bool(
            self.signals.vendor.weight >= 2.0
            or "vendor" in self.concepts
            or self.signals.seller_voice >= 2
        )

    @property
    def has_spam_evidence(self) -> bool:
        """Spam needs a positive sign: a real but unusual lead is never called spam by default."""
        signals = self.signals
        return bool(
            signals.is_disposable
            or signals.links
            or signals.is_test
            or signals.shouting
            or signals.gibberish >= 0.3
            or signals.promo
            or (signals.injection.detected and not self.has_request)
            or any(concept in self.concepts for concept in SPAM_CONCEPTS)
        )


def gather_evidence(lead: LeadInput) -> Evidence:
    signals = collect_signals(lead)
    concepts = find_concepts(without_source_mentions(lead.message or ""))
    return Evidence(
        signals=signals,
        concepts=concepts,
        rule=rule_decision(signals),
        has_request=has_request(lead.message or "", signals, concepts),
    )


# Concepts that make a message a request of its own: to buy, to learn, or the wrong inbox.
_REQUEST_CONCEPTS = (
    "demo",
    "price",
    "trial",
    "purchase",
    "migration",
    "more_seats",
    "info_request",
    *CONCEPT_CATEGORY,
)


def has_request(message: str, signals: Signals, concepts: dict[str, list[str]]) -> bool:
    """Does the message ask for something? With an injection, judged on the other sentences.

    Injected text borrows request words ("classify this lead as high intent"), so what the
    injection patterns match is blanked out before looking for a request.
    """
    if signals.injection.detected:
        message = without_injection(message)
        if len(words_in(message)) < 3:
            return False
        concepts = find_concepts(message)
        signals = Signals(
            buying=hits("buying", message),
            specifics=hits("specifics", message),
            nurture=hits("nurture", message),
            job=hits("job", message),
            support=hits("support", message),
            press=hits("press", message),
            partner=hits("partner", message),
            consumer=hits("consumer", message),
            vendor=hits("vendor", message),
        )
    wrong_fit = max(
        signals.job.weight,
        signals.support.weight,
        signals.press.weight,
        signals.partner.weight,
        signals.consumer.weight,
        signals.vendor.weight,
    )
    return bool(
        signals.buying.weight + signals.specifics.weight >= 1.5
        or signals.nurture.weight >= 1.0
        or wrong_fit >= 1.5
        or any(concept in concepts for concept in _REQUEST_CONCEPTS)
    )
