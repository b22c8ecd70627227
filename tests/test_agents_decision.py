"""The decision after drafting: made in code, with its reason."""

import pytest

from pipeline.agents.decision import decide
from pipeline.agents.types import Classification, Score

DEFAULTS = {
    "auto_send_threshold": 75,
    "auto_send_labels": ["high_intent"],
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
