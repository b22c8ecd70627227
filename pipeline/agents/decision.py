"""The decision after scoring: send without review, ask a human, or discard. Pure code.

The rules, first match wins; the reason names the rule and its numbers:

 1. spam, classifier sure (>= SPAM_DISCARD_CONFIDENCE)      -> discard
 2. possible spam: spam but unsure, or spam probability >= POSSIBLE_SPAM_PROBABILITY whatever
    the top label                                            -> review, no draft
 3. injection (or a lead flagged by a human, unsubscribed)  -> review
 4. markup in a field                                        -> review
 5. support or account request from an existing customer    -> review (the draft points to support)
 6. wrong fit, or signs of a wrong inbox (vendor pitch, private person) on any label -> review
 7. no email address; 8. disposable address                 -> review
 9. low intent scoring below the review floor               -> review, no draft
10. label not enabled for auto-send; 11. auto-send paused   -> review
12. classifier confidence below the minimum                 -> review
13. score below the auto-send threshold                     -> review
14. the reply cannot be written in the lead's language      -> review
15. otherwise                                               -> auto_send
"""

from __future__ import annotations

from pipeline.schemas import WRONG_INBOX_FLAGS, Classification, Decision, Score

# Below this the classifier is unsure a lead is spam; a human looks before it is thrown away.
# (How sure it must be before anything is auto-sent is the scoring configuration's
# auto_send_min_confidence, passed in as min_confidence.)
SPAM_DISCARD_CONFIDENCE = 0.6
# A lead this likely to be spam gets no drafted reply, even when spam is not the top label: a
# human decides (one key discards it) before anyone writes to it. Chosen on out-of-fold
# predictions of the development sets: 0.25 kept 3 of 19 missed spam from a draft and cost one
# legitimate lead its draft (none high intent).
POSSIBLE_SPAM_PROBABILITY = 0.25


def decide(
    classification: Classification,
    score: Score,
    *,
    auto_send_threshold: int,
    auto_send_labels: list[str],
    min_confidence: float,
    auto_send_paused: bool,
    lead_flagged: bool,
    has_email: bool = True,
    review_floor: int = 0,
    reply_language: str = "",
    lead_language: str = "",
) -> Decision:
    """First matching rule wins (see the module docstring); the reason says which one.

    ``lead_language``/``reply_language``: ISO 639-1 codes of the lead's text and of the reply
    the drafting strategy will write ("" when unknown: no language rule applies).
    """
    label = classification.label
    flags = set(classification.flags)
    if label == "spam" and classification.confidence >= SPAM_DISCARD_CONFIDENCE:
        return Decision(
            action="discard",
            reason=f"Classified as spam (confidence {classification.confidence:.2f}).",
        )
    if label == "spam" or classification.spam_probability >= POSSIBLE_SPAM_PROBABILITY:
        sure = (
            f"confidence {classification.confidence:.2f}"
            if label == "spam"
            else f"spam probability {classification.spam_probability:.2f}"
        )
        return Decision(
            action="review",
            reason=f"Possible spam ({sure}): no draft; discard it or write a reply.",
            draft=False,
            possible_spam=True,
        )
    if lead_flagged or "injection" in flags:
        return Decision(
            action="review",
            reason="Flagged lead (possible prompt injection): a human must read it first.",
        )
    if "markup" in flags:
        return Decision(
            action="review",
            reason="Markup in the submission (HTML, script or template syntax): a human reads "
            "it first; never auto-sent.",
        )
    if "support" in flags:
        return Decision(
            action="review",
            reason="Support or account request from an existing customer: the reply points to "
            "support; never an automatic sales reply.",
        )
    if label == "wrong_fit":
        return Decision(action="review", reason="Wrong-fit replies always go to review.")
    if flags & WRONG_INBOX_FLAGS:
        shown = ", ".join(sorted(flag.replace("_", " ") for flag in flags & WRONG_INBOX_FLAGS))
        return Decision(
            action="review",
            reason=f"Classified {label.replace('_', ' ')}, but with signs of a wrong inbox "
            f"({shown}): a human reads it first; never an automatic sales reply.",
        )
    if not has_email:
        return Decision(action="review", reason="No email address: a human replies by phone.")
    if "disposable_email" in flags:
        return Decision(
            action="review", reason="Disposable email address: a human checks before we reply."
        )
    if label == "low_intent" and score.value < review_floor:
        return Decision(
            action="review",
            reason=f"Low intent with score {score.value}, below the review floor of "
            f"{review_floor}: no draft.",
            draft=False,
        )
    if label not in auto_send_labels:
        return Decision(
            action="review", reason=f"Auto-send is not enabled for {label.replace('_', ' ')} leads."
        )
    if auto_send_paused:
        return Decision(action="review", reason="Auto-send is paused.")
    if classification.confidence < min_confidence:
        return Decision(
            action="review",
            reason=(
                f"Classifier confidence {classification.confidence:.2f} is below the "
                f"{min_confidence:.2f} an auto-send needs."
            ),
        )
    if score.value < auto_send_threshold:
        return Decision(
            action="review",
            reason=f"Score {score.value} is below the auto-send threshold of {auto_send_threshold}.",
        )
    if lead_language and reply_language and reply_language != lead_language:
        return Decision(
            action="review",
            reason=f"The lead wrote in {lead_language} but the reply would be in "
            f"{reply_language}: a human sends it.",
        )
    return Decision(
        action="auto_send",
        reason=(
            f"{label.replace('_', ' ').capitalize()} with score {score.value} (threshold "
            f"{auto_send_threshold}), classifier confidence {classification.confidence:.2f} "
            f"(needs {min_confidence:.2f})."
        ),
    )
