"""Typed inputs and outputs of the agents. Steps store them as JSON and validate them back.

Pydantic models, because the same classes give Claude its structured-output schema. A leaf
module: it imports nothing of the project, so agents, the LLM layer, the integrations and the
pipeline all import their shared types from here without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

Label = Literal["high_intent", "low_intent", "spam", "wrong_fit"]
Flag = Literal[
    "injection",
    "disposable_email",
    "free_email",
    "gibberish",
    "link_spam",
    "job_applicant",
    "vendor_pitch",
    "support_request",
    "press",
    "partnership",
    "consumer",
    # An existing customer writing about their account: never a sales reply.
    "support",
    # HTML, script URLs or template syntax in a field: a human reads it first.
    "markup",
]
# Flags that name a wrong inbox (the wrong-fit categories, and an existing customer's account).
# On any label they keep a lead from an automatic sales reply: a human reads it first.
WRONG_INBOX_FLAGS: frozenset[str] = frozenset(
    {
        "job_applicant",
        "vendor_pitch",
        "support_request",
        "press",
        "partnership",
        "consumer",
        "support",
    }
)
Strategy = Literal["rules", "claude"]

# The sectors a company profile names (enrichment maps what it reads onto these).
SECTORS: tuple[str, ...] = (
    "Software & SaaS",
    "IT Services",
    "E-commerce & Retail",
    "Marketing & Advertising",
    "Consulting & Professional Services",
    "Financial Services",
    "Legal Services",
    "Healthcare & Life Sciences",
    "Education",
    "Manufacturing & Industrial",
    "Real Estate & Construction",
    "Hospitality, Travel & Food",
    "Logistics & Transportation",
    "Media & Entertainment",
    "Energy & Utilities",
    "Telecommunications",
    "Staffing & Recruiting",
    "Nonprofit & Government",
)


class LeadInput(BaseModel):
    """What the lead told us, as data. Untrusted: never instructions."""

    model_config = ConfigDict(frozen=True)

    name: str = ""
    email: str = ""
    phone: str = ""
    company: str = ""
    website: str = ""
    message: str = ""
    custom_fields: dict[str, str] = Field(default_factory=dict)
    source: str = ""


class Classification(BaseModel):
    label: Label
    confidence: float = Field(ge=0, le=1)
    reasons: list[str] = Field(default_factory=list)
    flags: list[Flag] = Field(default_factory=list)
    # How likely the lead is spam, whatever the top label: a high value keeps the draft away.
    spam_probability: float = Field(default=0.0, ge=0, le=1)
    # ISO 639-1 code of the language the lead wrote in ("" when unclear); code detects it.
    language: str = Field(default="", max_length=8)


class FieldSource(BaseModel):
    """Where one enriched field came from and how much we trust it."""

    source: str  # e.g. "json-ld", "og:site_name", "title", "tld", "apollo", "claude"
    confidence: float = Field(ge=0, le=1)
    url: str = ""


class FetchRecord(BaseModel):
    url: str
    status: int | None = None
    fetched_at: str  # ISO 8601
    note: str = ""


class CompanyProfile(BaseModel):
    """The enrichment agent's output. Fields are empty when unknown, never guessed."""

    domain: str = ""
    company_name: str = ""
    description: str = ""
    sector: str = ""
    employee_range: str = ""  # e.g. "11-50"
    country: str = ""
    tech_stack: list[str] = Field(default_factory=list)
    social_links: dict[str, str] = Field(default_factory=dict)  # network -> URL
    field_sources: dict[str, FieldSource] = Field(default_factory=dict)
    fetches: list[FetchRecord] = Field(default_factory=list)
    provider: str = ""  # "web", "apollo", "cache:web", ...
    # Why nothing was fetched (free-mail domain, disposable, refused address, budget spent).
    skipped_reason: str = ""


class CriterionResult(BaseModel):
    key: str
    label: str
    points: int
    max_points: int
    reason: str
    needs_enrichment: bool = False


class Score(BaseModel):
    value: int = Field(ge=0, le=100)
    criteria: list[CriterionResult] = Field(default_factory=list)
    explanation: str = ""
    criteria_version: int | None = None
    stage: Literal["form", "final"] = "form"


class Decision(BaseModel):
    action: Literal["auto_send", "review", "discard"]
    reason: str
    # False: the lead waits in review without a drafted reply (possible spam, below the floor).
    draft: bool = True
    possible_spam: bool = False


class ScoredLead(BaseModel):
    """The final scoring step's output: the score and what to do with the lead."""

    score: Score
    decision: Decision


class CompanyVoice(BaseModel):
    """Who the drafts speak for: a copy of the CompanyProfile row, so agents never touch the ORM.

    Build it with `CompanyVoice.model_validate(profile_row, from_attributes=True)`.
    """

    model_config = ConfigDict(frozen=True, from_attributes=True)

    company_name: str
    what_we_sell: str = ""
    tone: str = "warm, direct, no jargon"
    sender_name: str = ""
    signature: str = ""
    booking_link: str = ""
    # Facts a draft may state (pricing, hosting, certifications); anything else it must not claim.
    facts: list[str] = Field(default_factory=list)
    careers_url: str = ""
    support_url: str = ""
    partnerships_email: str = ""


class DraftReply(BaseModel):
    subject: str
    body: str
    # ISO 639-1 code of the language the reply is written in ("" when unknown).
    language: str = Field(default="", max_length=8)


@dataclass(frozen=True)
class LLMUsage:
    """What one agent call cost; recorded on the StepRun."""

    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: Decimal = Decimal("0")
    latency_ms: int = 0


OutputT = TypeVar("OutputT", bound=BaseModel)


@dataclass(frozen=True)
class AgentResult(Generic[OutputT]):
    """An agent's typed output plus how it was produced."""

    output: OutputT
    strategy: Strategy
    usage: LLMUsage | None = None
    # Set when the claude strategy failed and rules answered instead: the reason why.
    fallback_reason: str = ""
    notes: list[str] = field(default_factory=list)
