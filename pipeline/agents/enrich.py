"""The enrichment agent: a lead's email domain and website become a company profile.

rules:  the providers (a paid API when configured, then the built-in web reader), or a cached
        profile for the domain when the step passes one.
claude: the same, plus Claude's reading of the fetched page text for the sector, when there is
        page text to read. A failed Claude call falls back to the rules profile.

The agent never touches the ORM: the step looks the cache up and stores the result
(pipeline.integrations.enrich.cache.enrich_with_cache does both around this agent).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from django.conf import settings
from pydantic import BaseModel, Field

from pipeline.agents.fallback import fall_back_to_rules
from pipeline.agents.types import AgentResult, CompanyProfile, FieldSource, LeadInput, LLMUsage
from pipeline.integrations.enrich.providers import (
    EnrichmentProvider,
    ProviderError,
    ProviderResult,
    default_providers,
)
from pipeline.integrations.enrich.targets import EnrichTarget, NoTarget, target_for
from pipeline.integrations.enrich.vocab import SECTORS
from pipeline.llm import LLMError, call_structured, strategy_for

logger = logging.getLogger(__name__)

AGENT = "enrich"
# A model's sector reading counts for this much of its stated confidence: more than keyword
# matches and schema types, less than an explicit industry in structured data or a paid API.
CLAUDE_SECTOR_WEIGHT = 0.85
# A reading the model itself is this unsure of is no reading.
MIN_CLAUDE_CONFIDENCE = 0.3
MAX_CLAUDE_TEXT_CHARS = 8000

SYSTEM_PROMPT = f"""You read the text of a company's own website and name the sector the
company works in: what it sells or does, not who its customers are.

Answer with exactly one of these sectors, or "unknown" when the text does not make it clear
(for example a parked domain, a login page or a cookie wall):
{chr(10).join("- " + sector for sector in SECTORS)}

Set confidence between 0 and 1: 0.9 or more only when the text states plainly what the company
does; 0.5 when you infer it from indirect hints."""


class SectorReading(BaseModel):
    """Claude's reading of the page text."""

    sector: Literal[*SECTORS, "unknown"]  # type: ignore[valid-type]
    confidence: float = Field(ge=0, le=1)


@dataclass(frozen=True)
class CachedEnrichment:
    """A profile stored for a domain, with the page text it was read from."""

    domain: str
    profile: CompanyProfile
    page_text: str = ""
    fetched_at: datetime | None = None


@dataclass
class EnrichmentRun:
    """The agent's result plus what the step should write back to the domain cache."""

    result: AgentResult[CompanyProfile]
    # None: nothing to (re)write; else store this (fetched_at None means "fetched now").
    to_cache: CachedEnrichment | None = None


def enrich(
    lead: LeadInput,
    *,
    strategy: str | None = None,
    cached: CachedEnrichment | None = None,
    providers: list[EnrichmentProvider] | None = None,
) -> AgentResult[CompanyProfile]:
    """Enrich the lead's company. ``cached``: the step's cache hit for the lead's domain."""
    return run_enrichment(lead, strategy=strategy, cached=cached, providers=providers).result


def run_enrichment(
    lead: LeadInput,
    *,
    strategy: str | None = None,
    cached: CachedEnrichment | None = None,
    providers: list[EnrichmentProvider] | None = None,
) -> EnrichmentRun:
    chosen = strategy or strategy_for(AGENT)
    target = target_for(lead)
    if isinstance(target, NoTarget):
        profile = CompanyProfile(domain=target.domain, skipped_reason=target.reason)
        return EnrichmentRun(result=AgentResult(output=profile, strategy="rules"))

    notes: list[str] = []
    to_cache: CachedEnrichment | None = None
    if cached is not None and cached.domain == target.domain:
        provider_name = cached.profile.provider.removeprefix("cache:")
        profile = cached.profile.model_copy(update={"provider": f"cache:{provider_name}"})
        page_text = cached.page_text
        notes.append("profile from the domain cache")
    else:
        found = _run_providers(target, providers, notes)
        profile, page_text = found.profile, found.page_text
        if found.cacheable:
            to_cache = CachedEnrichment(target.domain, profile, page_text)

    if chosen != "claude":
        return EnrichmentRun(AgentResult(output=profile, strategy="rules", notes=notes), to_cache)
    if profile.field_sources.get("sector", FieldSource(source="", confidence=0)).source == "claude":
        notes.append("sector already read by Claude")
        return EnrichmentRun(AgentResult(output=profile, strategy="claude", notes=notes), to_cache)
    if not page_text.strip():
        notes.append("no page text for Claude to read; rules profile")
        return EnrichmentRun(AgentResult(output=profile, strategy="rules", notes=notes), to_cache)

    try:
        reading, usage = read_sector(profile, page_text)
    except LLMError as exc:
        # The page facts stand on their own: a failed sector reading never fails the step.
        return EnrichmentRun(
            fall_back_to_rules(exc, profile, agent="enrich", notes=notes), to_cache
        )

    profile = _with_sector(profile, reading)
    # Keep Claude's reading with the cached profile so other leads of this company reuse it.
    base = to_cache or cached
    if base is not None:
        to_cache = CachedEnrichment(target.domain, profile, page_text, base.fetched_at)
    return EnrichmentRun(
        AgentResult(output=profile, strategy="claude", usage=usage, notes=notes), to_cache
    )


def _run_providers(
    target: EnrichTarget, providers: list[EnrichmentProvider] | None, notes: list[str]
) -> ProviderResult:
    """The first provider that finds the company; else the last answer (it says why not)."""
    deadline = time.monotonic() + settings.ENRICH_BUDGET_SECONDS
    last: ProviderResult | None = None
    for provider in providers if providers is not None else default_providers():
        try:
            result = provider.enrich(target, deadline=deadline)
        except ProviderError as exc:
            logger.warning("enrich provider=%s failed: %s", provider.name, exc.code)
            notes.append(f"{provider.name} failed ({exc.code}): {exc}")
            continue
        if result.found:
            return result
        notes.append(f"{provider.name}: {result.profile.skipped_reason or 'nothing found'}")
        last = result
    if last is not None:
        return last
    return ProviderResult(
        profile=CompanyProfile(domain=target.domain, skipped_reason="no provider answered")
    )


def read_sector(profile: CompanyProfile, page_text: str) -> tuple[SectorReading, LLMUsage]:
    """Ask Claude which sector the page text describes. Raises pipeline.llm.LLMError."""
    content = "\n".join(
        [
            f"Website domain: {profile.domain}",
            f"Name the site gives itself: {profile.company_name or '(none found)'}",
            f"Description the site gives: {profile.description or '(none found)'}",
            "",
            "Website text:",
            page_text[:MAX_CLAUDE_TEXT_CHARS],
        ]
    )
    result = call_structured(
        AGENT, system=SYSTEM_PROMPT, content=content, schema=SectorReading, max_tokens=200
    )
    return result.output, result.usage


def _with_sector(profile: CompanyProfile, reading: SectorReading) -> CompanyProfile:
    if reading.sector == "unknown" or reading.confidence < MIN_CLAUDE_CONFIDENCE:
        return profile
    confidence = round(reading.confidence * CLAUDE_SECTOR_WEIGHT, 3)
    current = profile.field_sources.get("sector")
    if profile.sector and current is not None and current.confidence > confidence:
        return profile
    sources = dict(profile.field_sources)
    sources["sector"] = FieldSource(source="claude", confidence=confidence)
    return profile.model_copy(update={"sector": reading.sector, "field_sources": sources})
