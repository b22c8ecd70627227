"""Which strategy an agent uses now: settings, the API key, and today's spend against the cap."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from datetime import time as day_time
from decimal import Decimal
from typing import Literal

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

logger = logging.getLogger(__name__)

# The spend total is read at most this often; a burst of steps shares one query.
SPEND_CACHE_SECONDS = 30.0

_spend_cache: dict[str, tuple[float, Decimal]] = {}
_spend_lock = threading.Lock()


def reset_budget_cache() -> None:
    with _spend_lock:
        _spend_cache.clear()


def spent_today() -> Decimal:
    """US dollars recorded on StepRuns that finished today (local time), cached ~30 s."""
    now = time.monotonic()
    today = timezone.localdate().isoformat()
    with _spend_lock:
        cached = _spend_cache.get(today)
        if cached is not None and now - cached[0] < SPEND_CACHE_SECONDS:
            return cached[1]
    from pipeline.models import StepRun

    start = timezone.make_aware(datetime.combine(timezone.localdate(), day_time.min))
    total = StepRun.objects.filter(finished_at__gte=start).aggregate(total=Sum("cost_usd"))["total"]
    total = Decimal(total or 0)
    with _spend_lock:
        _spend_cache.clear()
        _spend_cache[today] = (now, total)
    return total


def _cap() -> Decimal:
    return Decimal(str(settings.LLM_DAILY_SPEND_CAP_USD))


def strategy_status(agent: str) -> tuple[Literal["rules", "claude"], str]:
    """(strategy, why), e.g. ("rules", "daily spend cap reached: $20.01 of $20.00")."""
    configured = settings.AGENT_STRATEGY.get(agent, "auto")
    if configured == "rules":
        return "rules", f"AGENT_STRATEGY_{agent.upper()} is rules"
    if not settings.ANTHROPIC_API_KEY:
        if configured == "claude":
            logger.warning("agent=%s is set to claude but ANTHROPIC_API_KEY is empty", agent)
        return "rules", "ANTHROPIC_API_KEY is not set"
    cap = _cap()
    # A cap of 0 means no cap.
    if cap > 0:
        spent = spent_today()
        if spent >= cap:
            return "rules", f"daily spend cap reached: ${spent:.2f} of ${cap:.2f}"
    return "claude", f"model {settings.LLM_MODELS.get(agent, '?')}"


def strategy_for(agent: str) -> Literal["rules", "claude"]:
    return strategy_status(agent)[0]


AGENTS = ("classify", "enrich", "score", "draft")


def llm_overview() -> dict:
    """What the dashboard shows: today's spend against the cap and each agent's strategy."""
    cap = _cap()
    spent = spent_today()
    agents = []
    for agent in AGENTS:
        strategy, reason = strategy_status(agent)
        agents.append(
            {
                "agent": agent,
                "strategy": strategy,
                "reason": reason,
                "model": settings.LLM_MODELS.get(agent, ""),
            }
        )
    return {
        "spent_today_usd": spent,
        "daily_cap_usd": cap,
        "cap_reached": cap > 0 and spent >= cap,
        "has_api_key": bool(settings.ANTHROPIC_API_KEY),
        "agents": agents,
    }
