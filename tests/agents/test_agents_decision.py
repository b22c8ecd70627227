"""The decision after drafting: made in code, with its reason."""

import pytest

from pipeline.agents.decision import decide
from pipeline.schemas import Classification, Score

DEFAULTS = {
    "auto_send_threshold": 75,
    "auto_send_labels": ["high_intent"],
    "min_confidence": 0.8,
    "auto_send_paused": False,
    "lead_flagged": False,
}


def classification(label="high_intent", confidence=0.9, flags=()):
    return Classification(label=label, confidence=confidence, flags=list(flags))


def test_confident_high_intent_above_the_threshold_is_sent():
    decision = decide(classification(), Score(value=80), **DEFAULTS)

    assert decision.action == "auto_send"
    assert "80" in decision.reason and "75" in decision.reason


def test_score_below_the_threshold_goes_to_review():
    decision = decide(classification(), Score(value=74), **DEFAULTS)

    assert decision.action == "review"
    assert decision.reason == "Score 74 is below the auto-send threshold of 75."


def test_spam_is_discarded():
    assert decide(classification("spam"), Score(value=0), **DEFAULTS).action == "discard"


def test_unsure_spam_goes_to_review_instead_of_the_bin():
    assert (
        decide(classification("spam", confidence=0.55), Score(value=0), **DEFAULTS).action
        == "review"
    )


@pytest.mark.parametrize(
    ("overrides", "flags", "label", "reason_part"),
    [
        ({"lead_flagged": True}, (), "high_intent", "injection"),
        ({}, ("injection",), "high_intent", "injection"),
        ({}, (), "wrong_fit", "Wrong-fit"),
        ({}, ("disposable_email",), "high_intent", "Disposable"),
        ({}, (), "low_intent", "not enabled for low intent"),
        ({"auto_send_paused": True}, (), "high_intent", "paused"),
    ],
)
def test_flagged_wrong_fit_disabled_or_paused_leads_go_to_review(
    overrides, flags, label, reason_part
):
    decision = decide(
        classification(label, flags=flags), Score(value=99), **{**DEFAULTS, **overrides}
    )

    assert decision.action == "review"
    assert reason_part in decision.reason


def test_low_confidence_goes_to_review():
    decision = decide(classification(confidence=0.5), Score(value=99), **DEFAULTS)

    assert decision.action == "review"
    assert "confidence" in decision.reason


def test_confidence_between_spam_discard_and_the_auto_send_minimum_goes_to_review():
    decision = decide(classification(confidence=0.7), Score(value=99), **DEFAULTS)
    assert decision.action == "review"
    assert "0.70 is below the 0.80 an auto-send needs" in decision.reason


def test_the_auto_send_minimum_confidence_is_the_configured_one():
    settings = {**DEFAULTS, "min_confidence": 0.65}
    decision = decide(classification(confidence=0.7), Score(value=99), **settings)
    assert decision.action == "auto_send"
    assert "needs 0.65" in decision.reason


def _case(label="high_intent", confidence=0.9, flags=(), spam_probability=0.0):
    return Classification(
        label=label, confidence=confidence, flags=list(flags), spam_probability=spam_probability
    )


# Every rule in order. Each case also matches every later rule it can, so the table shows
# that the earlier rule wins: (classification, score, settings, action, draft, reason part).
DECISION_TABLE = [
    (
        _case("spam", 0.9, ("markup",)),
        99,
        {},
        "discard",
        True,
        "Classified as spam (confidence 0.90)",
    ),
    (
        _case("spam", 0.5, ("injection",)),
        99,
        {},
        "review",
        False,
        "Possible spam (confidence 0.50)",
    ),
    (
        _case("high_intent", 0.9, ("injection", "markup"), spam_probability=0.45),
        99,
        {},
        "review",
        False,
        "Possible spam (spam probability 0.45)",
    ),
    (
        _case("high_intent", 0.9, ("injection", "markup", "support")),
        99,
        {},
        "review",
        True,
        "injection",
    ),
    (
        _case("high_intent", 0.9, ("markup", "support")),
        99,
        {"lead_flagged": True},
        "review",
        True,
        "Flagged lead",
    ),
    (
        _case("high_intent", 0.9, ("markup", "support")),
        99,
        {},
        "review",
        True,
        "Markup in the submission",
    ),
    (_case("high_intent", 0.9, ("support",)), 99, {}, "review", True, "Support or account request"),
    (_case("wrong_fit", 0.9, ("disposable_email",)), 99, {}, "review", True, "Wrong-fit"),
    (
        _case("high_intent", 0.9, ("disposable_email",)),
        99,
        {"has_email": False},
        "review",
        True,
        "No email",
    ),
    (_case("high_intent", 0.9, ("disposable_email",)), 99, {}, "review", True, "Disposable"),
    (
        _case("low_intent", 0.9),
        30,
        {"review_floor": 40, "auto_send_labels": ["high_intent", "low_intent"]},
        "review",
        False,
        "Low intent with score 30, below the review floor of 40: no draft.",
    ),
    (
        _case("low_intent", 0.9),
        30,
        {"auto_send_paused": True},
        "review",
        True,
        "not enabled for low intent",
    ),
    (
        _case("high_intent", 0.5),
        10,
        {"auto_send_paused": True},
        "review",
        True,
        "Auto-send is paused.",
    ),
    (
        _case("high_intent", 0.5),
        10,
        {},
        "review",
        True,
        "0.50 is below the 0.80 an auto-send needs",
    ),
    (
        _case("high_intent", 0.9),
        10,
        {"lead_language": "pl", "reply_language": "en"},
        "review",
        True,
        "Score 10 is below the auto-send threshold of 75.",
    ),
    (
        _case("high_intent", 0.9),
        99,
        {"lead_language": "pl", "reply_language": "en"},
        "review",
        True,
        "The lead wrote in pl but the reply would be in en",
    ),
    (
        _case("high_intent", 0.9),
        99,
        {"lead_language": "pl", "reply_language": "pl"},
        "auto_send",
        True,
        "High intent with score 99 (threshold 75), classifier confidence 0.90 (needs 0.80).",
    ),
]


@pytest.mark.parametrize(
    ("case", "score", "overrides", "action", "draft", "reason"), DECISION_TABLE
)
def test_the_decision_table_in_order(case, score, overrides, action, draft, reason):
    decision = decide(case, Score(value=score), **{**DEFAULTS, **overrides})

    assert (decision.action, decision.draft) == (action, draft)
    assert reason in decision.reason


def test_possible_spam_is_marked_for_the_review_queue():
    decision = decide(_case("low_intent", 0.6, spam_probability=0.5), Score(value=50), **DEFAULTS)

    assert decision.possible_spam and not decision.draft


@pytest.mark.parametrize("flag", ["vendor_pitch", "consumer", "support", "partnership"])
def test_a_buyer_with_signs_of_a_wrong_inbox_is_never_auto_sent(flag):
    result = decide(classification(flags=[flag]), Score(value=95), **DEFAULTS)

    assert result.action == "review"
    assert "never an automatic sales reply" in result.reason
