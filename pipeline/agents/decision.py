"""The decision after drafting: send without review, ask a human, or discard. Pure code."""

from __future__ import annotations

from pipeline.agents.types import Classification, Decision, Score

# Below this the classifier is unsure of its own label; a human looks before anything is sent
# or thrown away.
MIN_CONFIDENCE = 0.6


def decide(
    classification: Classification,
    score: Score,
    *,
    auto_send_threshold: int,
    auto_send_labels: list[str],
    auto_send_paused: bool,
    lead_flagged: bool,
    has_email: bool = True,
) -> Decision:
    """First matching rule wins; the reason says which one, with the numbers."""
    label = classification.label
    confident = classification.confidence >= MIN_CONFIDENCE
    if label == "spam":
        if confident:
            return Decision(
                action="discard",
                reason=f"Classified as spam (confidence {classification.confidence:.2f}).",
            )
        return Decision(
            action="review",
            reason=f"Possibly spam, but confidence is only {classification.confidence:.2f}.",
        )
    if lead_flagged or "injection" in classification.flags:
        return Decision(
            action="review",
            reason="Flagged lead (possible prompt injection): a human must read it first.",
        )
    if label == "wrong_fit":
        return Decision(action="review", reason="Wrong-fit replies always go to review.")
    if not has_email:
        return Decision(action="review", reason="No email address: a human replies by phone.")
    if "disposable_email" in classification.flags:
        return Decision(
            action="review", reason="Disposable email address: a human checks before we reply."
        )
    if label not in auto_send_labels:
        return Decision(
            action="review", reason=f"Auto-send is not enabled for {label.replace('_', ' ')} leads."
        )
    if auto_send_paused:
        return Decision(action="review", reason="Auto-send is paused.")
    if not confident:
        return Decision(
            action="review",
            reason=f"Classifier confidence {classification.confidence:.2f} is below {MIN_CONFIDENCE}.",
        )
    if score.value < auto_send_threshold:
        return Decision(
            action="review",
            reason=f"Score {score.value} is below the auto-send threshold of {auto_send_threshold}.",
        )
    return Decision(
        action="auto_send",
        reason=f"{label.replace('_', ' ').capitalize()} with score {score.value} (threshold {auto_send_threshold}).",
    )
