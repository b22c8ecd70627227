"""Default business settings as data: scoring criteria, thresholds and a demo company profile.

The demo setup and the tests load these into ScoringConfig and CompanyProfile rows; admins then
change them in the UI. Criteria use the checks listed in pipeline.agents.score.CHECKS.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AutoSendPolicy:
    """When a draft may be sent without review: score threshold, labels, classifier confidence."""

    threshold: int
    labels: tuple[str, ...]
    min_confidence: float


# In force until an admin saves scoring settings, and the starting values of a new row.
AUTO_SEND_DEFAULTS = AutoSendPolicy(threshold=75, labels=("high_intent",), min_confidence=0.8)

DEFAULT_CRITERIA: list[dict] = [
    {
        "key": "buying_intent",
        "label": "Buying intent",
        "points": 25,
        "check": "intent",
        "question": "Does the lead ask to buy, trial or evaluate the product?",
    },
    {
        "key": "business_email",
        "label": "Business email address",
        "points": 10,
        "check": "business_email",
    },
    {
        "key": "company_named",
        "label": "Company or website given",
        "points": 10,
        "check": "company_given",
    },
    {
        "key": "timeline",
        "label": "Concrete timeline",
        "points": 10,
        "check": "timeline",
        "question": "Does the message mention a concrete timeline (a date, a quarter, 'this month')?",
    },
    {
        "key": "budget",
        "label": "Budget or pricing discussed",
        "points": 10,
        "check": "budget",
        "question": "Does the message mention a budget, an amount, or ask for pricing for a plan?",
    },
    {
        "key": "team_size",
        "label": "Team size stated",
        "points": 10,
        "check": "team_size",
        "params": {"min": 5},
        "question": "Does the message say how many people, seats or locations would use the product?",
    },
    {
        "key": "phone_given",
        "label": "Phone number given",
        "points": 5,
        "check": "phone_given",
    },
    {
        "key": "company_size",
        "label": "Company has 11+ employees",
        "points": 10,
        "check": "employees_at_least",
        "params": {"min": 11},
    },
    {
        "key": "target_sector",
        "label": "Sector we serve well",
        "points": 5,
        "check": "sector_in",
        "params": {
            "values": [
                "software",
                "saas",
                "technology",
                "professional services",
                "consulting",
                "agency",
                "e-commerce",
                "financial services",
                "real estate",
                "healthcare",
            ]
        },
    },
    {
        "key": "company_found",
        "label": "Company website found",
        "points": 5,
        "check": "company_found",
    },
]

# Field names match pipeline.models.CompanyProfile (and pipeline.schemas.CompanyVoice).
DEFAULT_COMPANY_PROFILE: dict = {
    "company_name": "Northwind Relay",
    "what_we_sell": (
        "Northwind Relay answers every inbound lead within minutes: it sorts out spam, looks up "
        "the company, scores the lead against your own criteria and drafts a first reply for "
        "your team to approve."
    ),
    "tone": "warm, direct, no jargon",
    "sender_name": "Sam Rivera",
    "signature": "Sam Rivera\nAccount Executive, Northwind Relay",
    "booking_link": "https://northwind-relay.example/book/sam",
    "facts": [
        "Plans start at $49 per user per month, billed annually.",
        "Every plan includes a 14-day free trial with no credit card.",
        "Data is hosted in the EU (Frankfurt).",
        "Northwind Relay integrates with HubSpot and Salesforce.",
    ],
    "careers_url": "https://northwind-relay.example/careers",
    "support_url": "https://northwind-relay.example/support",
    "partnerships_email": "partners@northwind-relay.example",
}
