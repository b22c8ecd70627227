"""Drafting agent: templates by label that read as written by a person, Claude drafts, safety."""

import re

import pytest

from pipeline.agents.defaults import DEFAULT_COMPANY_PROFILE
from pipeline.agents.draft import NoDraftNeeded, check_draft, draft_reply
from pipeline.schemas import (
    Classification,
    CompanyProfile,
    CompanyVoice,
    DraftReply,
    LeadInput,
    Score,
)

COMPANY = CompanyVoice(**DEFAULT_COMPANY_PROFILE)
SCORE = Score(value=80)
LEAD = LeadInput(
    name="dana fox",
    email="dana@brightcart.com",
    company="BrightCart",
    message="We'd like a demo and pricing for our 30 reps.",
)


def labelled(label, *flags):
    return Classification(label=label, confidence=0.9, flags=list(flags))


def rules_draft(lead=LEAD, classification=None, company=COMPANY, profile=None):
    result = draft_reply(
        lead, classification or labelled("high_intent"), SCORE, profile, company, strategy="rules"
    )
    assert result.strategy == "rules"
    return result.output


def test_high_intent_reply_answers_and_proposes_the_next_step():
    draft = rules_draft()

    assert draft.subject == "Your Northwind Relay demo"
    assert draft.body.startswith("Hi Dana,")
    assert "BrightCart" in draft.body
    assert "Plans start at $49 per user per month" in draft.body
    assert DEFAULT_COMPANY_PROFILE["booking_link"] in draft.body
    assert draft.body.endswith(DEFAULT_COMPANY_PROFILE["signature"])


@pytest.mark.parametrize(
    ("classification", "expected"),
    [
        (labelled("low_intent"), "Here is the short version of what we do"),
        (labelled("wrong_fit", "job_applicant"), DEFAULT_COMPANY_PROFILE["careers_url"]),
        (labelled("wrong_fit", "support_request"), DEFAULT_COMPANY_PROFILE["support_url"]),
        (labelled("wrong_fit", "partnership"), DEFAULT_COMPANY_PROFILE["partnerships_email"]),
        (labelled("wrong_fit", "vendor_pitch"), DEFAULT_COMPANY_PROFILE["partnerships_email"]),
        (labelled("wrong_fit", "consumer"), "built for businesses"),
    ],
)
def test_each_label_gets_its_own_reply(classification, expected):
    assert expected in rules_draft(classification=classification).body


def test_missing_data_leaves_no_holes():
    bare_company = CompanyVoice(company_name="Acme")
    anonymous = LeadInput(name="", email="x@gmail.com", message="What do you do?")

    for classification in (
        labelled("high_intent"),
        labelled("low_intent"),
        labelled("wrong_fit", "job_applicant"),
        labelled("wrong_fit", "press"),
    ):
        draft = rules_draft(anonymous, classification, bare_company)
        assert draft.body.startswith("Hello,")
        assert not re.search(r"[{}\[\]]|None|\bnull\b|  ", draft.body)
        assert check_draft(draft, lead=anonymous, company=bare_company) == []


def test_lead_text_never_becomes_a_merge_field_hole():
    sneaky = LEAD.model_copy(update={"name": "{first_name}", "company": "Acme {company} $999"})

    draft = rules_draft(sneaky)

    assert "{" not in draft.body and "$999" not in draft.body
    assert draft.body.startswith("Hello,")


def test_spam_gets_no_draft():
    with pytest.raises(NoDraftNeeded):
        draft_reply(LEAD, labelled("spam"), SCORE, None, COMPANY, strategy="rules")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("Hi {first_name}, thanks.", "placeholder"),
        ("Hi Dana, we can do it for $19 a month.", "price"),
        ("Hi Dana, we'll give you 30% off.", "price"),
        ("Hi Dana, ask bob@othercorp.example how he likes it.", "email address"),
        ("Hi Dana, you were classified as high_intent.", "internal"),
        (
            "Hi Dana. You write the first reply to an inbound sales enquiry on behalf of a company.",
            "instructions",
        ),
    ],
)
def test_safety_check_catches_unsafe_drafts(body, problem):
    problems = check_draft(DraftReply(subject="Hi", body=body), lead=LEAD, company=COMPANY)

    assert any(problem in p for p in problems)


def test_safety_check_accepts_prices_the_company_states():
    draft = DraftReply(subject="Pricing", body="Plans start at $49 per user per month.")

    assert check_draft(draft, lead=LEAD, company=COMPANY) == []


def test_claude_draft_speaks_for_the_company_and_sends_the_profile_as_context(fake_anthropic):
    profile = CompanyProfile(company_name="BrightCart", description="Shop software")

    result = draft_reply(
        LEAD,
        labelled("high_intent"),
        SCORE,
        profile,
        COMPANY,
        strategy="claude",
        instruction="Keep it short.",
    )

    assert result.strategy == "claude"
    assert result.usage.model == "claude-sonnet-5-5"
    assert result.output.body.startswith("Hi Dana,")
    content = fake_anthropic.requests[-1]["body"]["messages"][0]["content"]
    context, submission = content.split("<lead_submission>")
    assert '"company_name": "Northwind Relay"' in context
    assert "Keep it short." in context and "Reply type: high_intent" in context
    assert "From the lead's company website" in submission


def test_unsafe_claude_draft_is_replaced_by_the_rules_draft(fake_anthropic):
    fake_anthropic.fail_next("unsafe")

    result = draft_reply(LEAD, labelled("high_intent"), SCORE, None, COMPANY, strategy="claude")

    assert result.strategy == "rules"
    assert result.fallback_reason.startswith("draft failed the safety check")
    assert "email address" in result.fallback_reason and "price" in result.fallback_reason
    assert result.output == rules_draft()
    assert result.usage is not None
