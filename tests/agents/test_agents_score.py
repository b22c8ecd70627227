"""Scoring agent: criteria as data, two passes, arithmetic in code, reading by Claude."""

import pytest

from pipeline.agents.defaults import DEFAULT_CRITERIA
from pipeline.agents.score import CHECKS, parse_criteria, score_final, score_form
from pipeline.schemas import Classification, CompanyProfile, LeadInput

HIGH = Classification(label="high_intent", confidence=0.9)
LEAD = LeadInput(
    name="Dana Fox",
    email="dana@brightcart.com",
    company="BrightCart",
    website="brightcart.com",
    phone="+1 415 555 0134",
    message="We have 45 people in sales and want a demo next week. Budget is approved.",
)
PROFILE = CompanyProfile(
    domain="brightcart.com",
    company_name="BrightCart",
    sector="E-commerce software",
    employee_range="51-200",
)


def by_key(score):
    return {result.key: result for result in score.criteria}


def test_default_criteria_are_valid_and_add_up_to_100():
    criteria, problems = parse_criteria(DEFAULT_CRITERIA)

    assert problems == []
    assert sum(c.points for c in criteria) == 100
    assert {c.check for c in criteria} <= set(CHECKS)


def test_form_pass_scores_only_the_criteria_that_need_no_enrichment():
    result = score_form(LEAD, HIGH, DEFAULT_CRITERIA, 7, strategy="rules")
    score = result.output

    assert result.strategy == "rules"
    assert score.stage == "form" and score.criteria_version == 7
    assert not any(r.needs_enrichment for r in score.criteria)
    assert by_key(score)["timeline"].points == 10
    assert by_key(score)["team_size"].reason.startswith("States a size of 45")
    assert score.value == 100
    assert "before enrichment" in score.explanation


def test_final_pass_keeps_form_judgements_and_adds_enrichment_criteria():
    form = score_form(LEAD, HIGH, DEFAULT_CRITERIA, 7, strategy="rules").output

    result = score_final(LEAD, HIGH, form, PROFILE, DEFAULT_CRITERIA, 7)
    final = result.output

    assert result.strategy == "rules" and result.usage is None
    assert final.stage == "final"
    assert {r.key for r in final.criteria} == {c["key"] for c in DEFAULT_CRITERIA}
    for earlier in form.criteria:
        assert by_key(final)[earlier.key] == earlier
    assert by_key(final)["company_size"].points == 10
    assert by_key(final)["target_sector"].points == 5
    assert final.value == 100


def test_missing_enrichment_earns_no_enrichment_points():
    form = score_form(LEAD, HIGH, DEFAULT_CRITERIA, 7, strategy="rules").output
    skipped = CompanyProfile(skipped_reason="free-mail domain")

    final = score_final(LEAD, HIGH, form, skipped, DEFAULT_CRITERIA, 7).output

    assert by_key(final)["company_found"].points == 0
    assert "free-mail domain" in by_key(final)["company_found"].reason
    assert final.value == 80


def test_score_is_points_over_available_points():
    criteria = [
        {"key": "email", "label": "Business email", "points": 30, "check": "business_email"},
        {"key": "phone", "label": "Phone", "points": 10, "check": "phone_given"},
    ]
    no_phone = LEAD.model_copy(update={"phone": ""})

    score = score_form(no_phone, HIGH, criteria, 1, strategy="rules").output

    assert [(r.points, r.max_points) for r in score.criteria] == [(30, 30), (0, 10)]
    assert score.value == 75


def test_invalid_criteria_are_skipped_with_a_note():
    criteria = [
        {"key": "email", "label": "Business email", "points": 30, "check": "business_email"},
        {"key": "Bad Key", "label": "x", "points": 5, "check": "business_email"},
        {"key": "magic", "label": "Magic", "points": 5, "check": "read_minds"},
    ]

    result = score_form(LEAD, HIGH, criteria, 1, strategy="rules")

    assert [r.key for r in result.output.criteria] == ["email"]
    assert len(result.notes) == 2


def test_keyword_criterion_admins_can_add():
    criteria = [
        {
            "key": "uses_salesforce",
            "label": "Uses Salesforce",
            "points": 10,
            "check": "message_mentions",
            "params": {"keywords": ["Salesforce", "SFDC"]},
        }
    ]
    lead = LEAD.model_copy(update={"message": "We run everything in SFDC today."})

    assert score_form(lead, HIGH, criteria, 1, strategy="rules").output.value == 100


def test_claude_judges_reading_criteria_and_code_does_the_arithmetic(fake_anthropic):
    result = score_form(LEAD, HIGH, DEFAULT_CRITERIA, 7, strategy="claude")
    score = result.output

    assert result.strategy == "claude" and result.usage is not None
    body = fake_anthropic.requests[-1]["body"]
    assert body["tool_choice"]["name"] == "record_score"
    context = body["messages"][0]["content"]
    assert '"key": "timeline"' in context and '"key": "business_email"' not in context
    assert by_key(score)["timeline"].reason == 'The message says "next week".'
    assert by_key(score)["business_email"].reason.startswith("Writes from a company domain")
    available = sum(r.max_points for r in score.criteria)
    assert score.value == round(100 * sum(r.points for r in score.criteria) / available)


def test_claude_is_not_called_when_no_criterion_needs_reading(fake_anthropic):
    criteria = [
        {"key": "email", "label": "Business email", "points": 10, "check": "business_email"}
    ]

    result = score_form(LEAD, HIGH, criteria, 1, strategy="claude")

    assert result.strategy == "rules"
    assert fake_anthropic.requests == []


def test_claude_failure_falls_back_to_rules(fake_anthropic):
    fake_anthropic.fail_next("invalid", "invalid")

    result = score_form(LEAD, HIGH, DEFAULT_CRITERIA, 7, strategy="claude")

    assert result.strategy == "rules"
    assert result.fallback_reason.startswith("invalid_output")
    assert result.output == score_form(LEAD, HIGH, DEFAULT_CRITERIA, 7, strategy="rules").output


# Team size, timeline and budget or pricing, said in each language the classifier reads best.
MULTILINGUAL_CUES = [
    ("de", "Wir sind 25 Personen, bitte ein Angebot bis Ende des Monats, Budget ist genehmigt."),
    ("fr", "Nous sommes 18 commerciaux, merci pour un devis cette semaine."),
    ("es", "Somos 30 vendedores, necesitamos un presupuesto este mes."),
    ("pt", "Somos 35 funcionários e queremos um orçamento no próximo mês."),
    ("it", "Siamo 22 persone, vorremmo un preventivo entro fine mese."),
    ("nl", "Wij zijn 28 medewerkers en willen een offerte volgende week."),
    ("pl", "Mamy 30 handlowców, prosimy o wycenę w tym tygodniu."),
    ("ja", "30名のチームです。来週までに見積もりをお願いします。"),
]


@pytest.mark.parametrize(("language", "message"), MULTILINGUAL_CUES)
def test_team_size_timeline_and_pricing_are_read_in_each_language(language, message):
    from pipeline.agents.score import Facts as ScoreFacts
    from pipeline.agents.score import evaluate, parse_criteria

    criteria, _ = parse_criteria(
        [
            {
                "key": "team",
                "label": "Team",
                "points": 10,
                "check": "team_size",
                "params": {"min": 5},
            },
            {"key": "when", "label": "Timeline", "points": 10, "check": "timeline"},
            {"key": "money", "label": "Budget", "points": 10, "check": "budget"},
        ]
    )
    facts = ScoreFacts(
        lead=LeadInput(email="a@firma.example", message=message),
        classification=Classification(label="high_intent", confidence=0.9),
        profile=None,
    )

    results = {criterion.key: evaluate(criterion, facts) for criterion in criteria}

    assert {key: result.points for key, result in results.items()} == {
        "team": 10,
        "when": 10,
        "money": 10,
    }, {key: result.reason for key, result in results.items()}
