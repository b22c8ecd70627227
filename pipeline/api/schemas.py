"""What the API takes and gives, as pydantic models (they make the OpenAPI document too)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Label = Literal["high_intent", "low_intent", "spam", "wrong_fit"]
Decision = Literal["auto_send", "review", "discard"]
OutcomeName = Literal["won", "lost", "not_interested", "meeting_booked"]
RunStatus = Literal["pending", "running", "waiting", "succeeded", "failed", "cancelled", "rejected"]
# Ids are 64-bit database keys; anything larger cannot name a row (and would not fit a query).
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]
Limit = Annotated[int, Field(ge=1, le=200)]


def _no_nul(value: str | None) -> str | None:
    # PostgreSQL refuses NUL in text, so it would fail deep in the query: refuse it here.
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


class Error(BaseModel):
    error: str = Field(description="A stable code, e.g. not_found, rate_limited.")
    reason: str = Field(description="What was wrong, for a human.")
    details: list[dict] = Field(default_factory=list)


class LeadFilters(BaseModel):
    label: Label | None = None
    decision: Decision | None = Field(None, description="The decision of the lead's latest run.")
    source: str | None = Field(
        None,
        max_length=80,
        description="A webhook source slug, or a channel: webhook, form, import, cli, demo.",
    )
    created_since: datetime | None = Field(None, description="ISO 8601; naive means UTC.")
    cursor: str | None = Field(None, max_length=100, description="next_cursor of the last page.")
    limit: Limit = 50

    _checked = field_validator("source", "cursor")(_no_nul)

    @field_validator("created_since")
    @classmethod
    def in_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("is out of range") from None


class RunFilters(BaseModel):
    status: RunStatus | None = None
    lead_id: Id | None = None
    cursor: str | None = Field(None, max_length=100)
    limit: Limit = 50

    _checked = field_validator("cursor")(_no_nul)


class LeadSummary(BaseModel):
    id: int
    name: str
    email: str
    phone: str
    company: str
    website: str
    label: str
    score: int | None
    is_flagged: bool
    decision: str = Field(description="The decision of the latest run ('' before it is made).")
    latest_run_id: int | None
    latest_run_status: str
    created_at: datetime


class LeadPage(BaseModel):
    items: list[LeadSummary]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null: done.")


class ClassificationOut(BaseModel):
    label: str
    confidence: float
    reasons: list[str]
    flags: list[str]


class CriterionOut(BaseModel):
    label: str
    points: int
    max_points: int
    reason: str


class ScoreOut(BaseModel):
    value: int
    explanation: str
    criteria: list[CriterionOut]
    decision: str
    decision_reason: str


class EnrichmentOut(BaseModel):
    domain: str
    company_name: str
    description: str
    sector: str
    employee_range: str
    country: str
    tech_stack: list[str]
    social_links: dict[str, str]


class DraftOut(BaseModel):
    id: int
    run_id: int
    status: str
    subject: str
    body: str
    decision: str
    created_at: datetime
    decided_at: datetime | None


class EmailOut(BaseModel):
    id: int
    kind: str
    state: str
    to_email: str
    subject: str
    message_id: str
    error: str
    created_at: datetime
    sent_at: datetime | None


class OutcomeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    outcome: str
    note: str
    recorded_at: datetime


class LeadDetail(LeadSummary):
    classification: ClassificationOut | None
    score_details: ScoreOut | None
    enrichment: EnrichmentOut | None
    drafts: list[DraftOut]
    emails: list[EmailOut]
    outcomes: list[OutcomeOut]


class OutcomeIn(BaseModel):
    outcome: OutcomeName
    note: str = Field("", max_length=5000)

    _checked = field_validator("note")(_no_nul)


class StepOut(BaseModel):
    name: str
    status: str
    attempt: int
    error: str
    duration_ms: int | None


class RunOut(BaseModel):
    id: int
    lead_id: int
    pipeline: str
    pipeline_version: int
    status: str
    is_degraded: bool
    decision: str
    decision_reason: str
    error: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    steps: list[StepOut]


class RunPage(BaseModel):
    items: list[RunOut]
    next_cursor: str | None


class RetryOut(BaseModel):
    run_id: int
    status: str
    message: str
