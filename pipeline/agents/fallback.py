"""What every agent does when its Claude call fails: answer with rules, or let the engine retry."""

from __future__ import annotations

import logging

from pipeline.llm import LLMError
from pipeline.schemas import AgentResult, OutputT

logger = logging.getLogger(__name__)


def fall_back_to_rules(
    error: LLMError,
    by_rules: OutputT,
    *,
    agent: str,
    fallback_on_transient: bool = True,
    notes: list[str] | None = None,
) -> AgentResult[OutputT]:
    """The rules answer, recording why and what the failed call cost.

    An outage (a retryable error) is re-raised unless `fallback_on_transient`: the engine's
    retry policy gets another go first, and only the step's last attempt degrades to rules.
    """
    if error.retryable and not fallback_on_transient:
        raise error
    logger.warning("%s fell back to rules: %s", agent, error.kind)
    return AgentResult(
        output=by_rules,
        strategy="rules",
        usage=error.usage,
        fallback_reason=str(error),
        notes=list(notes or []),
    )
