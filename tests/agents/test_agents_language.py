"""Replies in the lead's language: detection, the rules templates, the claude prompt."""

import pytest

from pipeline.agents.defaults import DEFAULT_COMPANY_PROFILE
from pipeline.agents.draft import draft_reply, reply_language
from pipeline.agents.language import detect_language
from pipeline.agents.reply_templates import PHRASES
from pipeline.schemas import Classification, CompanyVoice, LeadInput, Score

COMPANY = CompanyVoice(**DEFAULT_COMPANY_PROFILE)

BUYERS = {
    "en": "Hi, we are 40 sales reps and would like a demo next week and pricing.",
    "de": "Guten Tag, wir sind 25 Personen und bitten um ein Angebot und eine Demo nächste Woche.",
    "fr": "Bonjour, nous sommes 18 commerciaux et souhaitons un devis et une démo cette semaine.",
    "es": "Hola, somos 30 vendedores y queremos una demostración y un presupuesto este mes.",
    "pt": "Olá, somos 35 pessoas e gostaríamos de uma demonstração e de um orçamento.",
    "it": "Buongiorno, siamo 22 persone e vorremmo un preventivo e una prova gratuita.",
    "nl": "Goedendag, wij zijn 28 medewerkers en willen graag een offerte en een demo.",
    "pl": "Dzień dobry, mamy 30 handlowców i prosimy o wycenę oraz prezentację w tym tygodniu.",
}


@pytest.mark.parametrize(("language", "message"), BUYERS.items())
def test_the_language_of_each_supported_lead_is_detected(language, message):
    assert detect_language(message) == language


@pytest.mark.parametrize("message", ["Pricing?", "hi", "", "https://acme.example/x"])
def test_short_or_empty_text_has_no_language(message):
    assert detect_language(message) == ""


def _draft(message: str, label: str = "high_intent", flags=(), **kwargs):
    lead = LeadInput(name="Kasia Nowak", email="kasia@firma.example", message=message)
    classification = Classification(
        label=label, confidence=0.9, flags=list(flags), language=detect_language(message)
    )
    return draft_reply(lead, classification, Score(value=80), None, COMPANY, **kwargs)


@pytest.mark.parametrize("language", sorted(PHRASES))
def test_the_rules_strategy_replies_in_each_template_language(language):
    result = _draft(BUYERS[language])

    reply = result.output
    assert reply.language == language
    assert detect_language(reply.body) == language
    assert "Kasia" in reply.body and COMPANY.booking_link in reply.body
    assert not result.notes


def test_a_polish_support_request_gets_a_polish_reply_pointing_to_support():
    result = _draft(
        "Dzień dobry, nie mogę się zalogować do naszego konta od wczoraj.",
        label="wrong_fit",
        flags=("support",),
    )

    assert result.output.language == "pl"
    assert COMPANY.support_url in result.output.body
    assert COMPANY.booking_link not in result.output.body


def test_a_lead_in_another_language_gets_english_with_a_note_and_is_never_auto_sent():
    result = _draft("製品について詳しい資料と見積もりを送っていただけますか。30名のチームです。")

    assert result.output.language == "en"
    assert any("no reply in it" in note for note in result.notes)
    assert reply_language("ja", "rules") == "en"
    assert reply_language("ja", "claude") == "ja"


def test_the_claude_prompt_is_told_the_leads_language(fake_anthropic):
    _draft(BUYERS["pl"], strategy="claude")

    context = str(fake_anthropic.requests[-1]["body"])
    assert "The lead wrote in Polish: write the subject and the body in Polish" in context
