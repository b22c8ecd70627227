"""The enrichment agent's own judgement: Claude's reading of a company's page text for its sector.

rules:  the profile the providers found stands as it is.
claude: Claude reads the fetched page text and names the sector, weighed against what the page
        itself said. A failed Claude call falls back to the rules profile.

Pure: the providers (network), the domain cache (ORM) and the strategy choice live on the
pipeline side (`pipeline.enrichment`), which calls `judge` with what they found.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from pipeline.agents.fallback import fall_back_to_rules
from pipeline.llm import LLMError, call_structured
from pipeline.schemas import SECTORS, AgentResult, CompanyProfile, FieldSource, LLMUsage

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


def judge(
    profile: CompanyProfile, page_text: str, *, strategy: str, notes: list[str]
) -> AgentResult[CompanyProfile]:
    """The providers' profile, with Claude's sector reading when the strategy is claude."""
    if strategy != "claude":
        return AgentResult(output=profile, strategy="rules", notes=notes)
    if profile.field_sources.get("sector", FieldSource(source="", confidence=0)).source == "claude":
        notes.append("sector already read by Claude")
        return AgentResult(output=profile, strategy="claude", notes=notes)
    if not page_text.strip():
        notes.append("no page text for Claude to read; rules profile")
        return AgentResult(output=profile, strategy="rules", notes=notes)
    try:
        reading, usage = read_sector(profile, page_text)
    except LLMError as exc:
        # The page facts stand on their own: a failed sector reading never fails the step.
        return fall_back_to_rules(exc, profile, agent="enrich", notes=notes)
    return AgentResult(
        output=with_sector(profile, reading), strategy="claude", usage=usage, notes=notes
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


def with_sector(profile: CompanyProfile, reading: SectorReading) -> CompanyProfile:
    if reading.sector == "unknown" or reading.confidence < MIN_CLAUDE_CONFIDENCE:
        return profile
    confidence = round(reading.confidence * CLAUDE_SECTOR_WEIGHT, 3)
    current = profile.field_sources.get("sector")
    if profile.sector and current is not None and current.confidence > confidence:
        return profile
    sources = dict(profile.field_sources)
    sources["sector"] = FieldSource(source="claude", confidence=confidence)
    return profile.model_copy(update={"sector": reading.sector, "field_sources": sources})
