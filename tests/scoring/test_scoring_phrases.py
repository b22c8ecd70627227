"""The rules strategy reads an admin's "message mentions" phrases in every language the
classifier knows: a phrase that is a word for one of its concepts finds that concept anywhere."""

import pytest

from pipeline.agents.score import score_form
from pipeline.schemas import Classification, LeadInput

HIGH = Classification(label="high_intent", confidence=0.9)


def mentions(phrases: list[str], *, check: str = "message_mentions") -> list[dict]:
    criterion = {
        "key": "asks",
        "label": "Asks about it",
        "points": 10,
        "check": check,
        "params": {"keywords": phrases},
    }
    if check == "judged":
        criterion["question"] = "Does the lead ask about it?"
    return [criterion]


def scored(message: str, criteria: list[dict]):
    lead = LeadInput(name="Ana", email="ana@firma.example", message=message)
    [result] = score_form(lead, HIGH, criteria, 1, strategy="rules").output.criteria
    return result


@pytest.mark.parametrize(
    ("message", "word"),
    [
        ("Was kostet das für 20 Nutzer im Jahr?", "was kostet"),
        ("Pourriez-vous m'envoyer un devis pour 12 licences ?", "devis"),
        ("20名で使う場合の価格を教えてください。", "価格"),
        ("Ile kosztuje wdrożenie dla 15 handlowców?", "ile kosztuje"),
    ],
)
def test_an_english_phrase_finds_the_same_question_in_other_languages(message, word):
    result = scored(message, mentions(["pricing"]))
    assert result.points == 10
    assert result.reason == f'Mentions "{word}" (a word for "pricing").'


def test_the_phrase_itself_still_counts_in_any_case():
    result = scored("We run everything in SFDC today.", mentions(["Salesforce", "sfdc"]))
    assert (result.points, result.reason) == (10, 'Mentions "sfdc".')


def test_a_phrase_that_names_no_concept_only_finds_itself():
    # "budget approval" contains a concept word but is not one: it must not match "Preis".
    result = scored("Was kostet das?", mentions(["budget approval", "rivalsoft"]))
    assert (result.points, result.reason) == (0, "Does not mention it.")


def test_a_judged_criterion_s_keyword_fallback_reads_other_languages_too():
    result = scored(
        "Chcielibyśmy zobaczyć prezentację systemu w przyszłym tygodniu.",
        mentions(["demo"], check="judged"),
    )
    assert result.points == 10
    assert result.reason.startswith('Keyword fallback: mentions "prezentac')
