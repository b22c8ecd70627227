"""The LLM layer: one small client around anthropic.Anthropic, and the strategy/budget check.

Agents call `call_structured(...)` for a validated pydantic object plus its usage. Which
strategy an agent runs (claude or rules: settings, the API key, today's spend against the cap)
is `pipeline.llm.budget.strategy_for(agent)`, which the pipeline's steps call and pass to the
agent; it reads the database, so this package's `__init__` does not import it and agents never
reach it.
"""

from pipeline.llm.client import (
    SUBMISSION_TAG,
    UNTRUSTED_DATA_NOTICE,
    LLMCallResult,
    LLMError,
    call_structured,
    cost_of,
    get_client,
    wrap_untrusted,
)

__all__ = [
    "SUBMISSION_TAG",
    "UNTRUSTED_DATA_NOTICE",
    "LLMCallResult",
    "LLMError",
    "call_structured",
    "cost_of",
    "get_client",
    "wrap_untrusted",
]
