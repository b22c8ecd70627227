"""The LLM layer: one small client around anthropic.Anthropic, and the strategy/budget check.

Agents call `call_structured(...)` for a validated pydantic object plus its usage, and
`strategy_for(agent)` to decide between the claude and rules strategies.
"""

from pipeline.llm.budget import (
    llm_overview,
    reset_budget_cache,
    spent_today,
    strategy_for,
    strategy_status,
)
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
    "llm_overview",
    "reset_budget_cache",
    "spent_today",
    "strategy_for",
    "strategy_status",
    "wrap_untrusted",
]
