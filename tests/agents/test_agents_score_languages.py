"""Pricing alone, and the default criteria, read in each language the classifier reads best."""

import pytest

from pipeline.agents.classify import rules
from pipeline.agents.defaults import DEFAULT_CRITERIA
from pipeline.agents.score import score_form
from pipeline.schemas import LeadInput

# Each message asks for a price or a quote and states a team size; no budget word, no timeline.
PRICING_ONLY = [
    ("de", "Wir sind 25 Personen im Vertrieb und hätten gern ein Angebot."),
    ("fr", "Nous sommes 25 personnes dans l'équipe commerciale, pouvez-vous nous faire un devis ?"),
    ("es", "Somos 25 personas en ventas y queremos una cotización."),
    ("pt", "Somos 25 pessoas em vendas e gostaríamos de uma cotação."),
    ("it", "Siamo 25 persone nel commerciale e vorremmo un preventivo."),
    ("nl", "Wij zijn 25 medewerkers in sales en willen graag een offerte."),
    ("pl", "Jesteśmy zespołem 25 osób w sprzedaży i prosimy o cennik."),
    ("en", "We are 25 people in sales and would like a quote."),
]


@pytest.mark.parametrize(("language", "message"), PRICING_ONLY)
def test_a_request_for_a_quote_and_a_team_size_score_in_each_language(language, message):
    lead = LeadInput(name="Kim", email="kim@vertriebsteam.example", company="Acme", message=message)
    classification = rules(lead)

    score = score_form(lead, classification, DEFAULT_CRITERIA, 0, strategy="rules").output
    points = {result.key: result.points for result in score.criteria}

    assert classification.language == language
    assert points["budget"] > 0, [result.reason for result in score.criteria]
    assert points["team_size"] > 0, [result.reason for result in score.criteria]
