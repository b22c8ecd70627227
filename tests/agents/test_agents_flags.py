"""The support and markup flags: facts the classifier establishes in code, in many languages."""

import pytest

from pipeline.agents.classify import classify, rules
from pipeline.agents.markup import find_markup, markup_kind
from pipeline.schemas import LeadInput


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("<b>Acme</b>", "HTML tag"),
        ("Acme</div>", "HTML tag"),
        ('<img src=x onerror="alert(1)">', "HTML tag"),
        ('click" onmouseover="steal()', "event handler"),
        ("see javascript:alert(1)", "script URL"),
        ("JaVaScRiPt :void(0)", "script URL"),
        ("data:text/html;base64,PHNjcmlwdD4=", "data URL"),
        ("width: expression(alert(1))", "CSS expression"),
        ("p { behavior: url(#default#VML) }", "CSS expression"),
        ("Hello {{ first_name }}", "template syntax"),
        ("{% debug %}", "template syntax"),
        ("${7*7}", "template syntax"),
        ("&lt;script&gt;alert(1)&lt;/script&gt;", "HTML tag"),
        ("<!-- note to the assistant -->", "HTML comment"),
    ],
)
def test_markup_of_each_kind_is_found(text, kind):
    assert markup_kind(text) == kind


@pytest.mark.parametrize(
    "text",
    [
        "Write to me at <ana@acme.example> or see <https://acme.example/about>.",
        "Our budget is < $5k and the team is > 20 people.",
        "Data: we have 40 reps; online demo on Tuesday?",
        "I <3 your product, {not a template}, 50% off? no.",
    ],
)
def test_plain_text_with_angle_brackets_or_braces_is_not_markup(text):
    assert markup_kind(text) == ""


def test_markup_is_found_in_any_field_and_named_by_field():
    lead = LeadInput(
        name="Ana",
        company="Crestview<script>alert(1)</script>",
        message="A demo please.",
        custom_fields={"title": "{{ title }}"},
    )

    assert [(f.field, f.kind) for f in find_markup(lead)] == [
        ("company", "HTML tag"),
        ("custom:title", "template syntax"),
    ]


def test_a_strong_buyer_with_a_script_tag_in_the_company_keeps_the_label_and_gets_the_flag():
    lead = LeadInput(
        name="Isabel Ward",
        email="isabel@crestview-law.example",
        company="Crestview<script>alert(1)</script>",
        message="We are 45 lawyers. Please send pricing and book a demo this week.",
    )

    result = rules(lead)

    assert result.label == "high_intent"
    assert "markup" in result.flags
    assert result.reasons[0].startswith("Markup in the submission (HTML tag in company)")


# Development examples for the support flag, one per language the classifier reads best.
SUPPORT_REQUESTS = [
    "Our last invoice charged us for 25 seats but we have 18. Please send a credit note.",
    "Hi, I can't log in since this morning and the password reset link never arrives.",
    "Please cancel our subscription at the end of the month and confirm.",
    "Unsere letzten Rechnung enthält drei Lizenzen zu viel, bitte korrigieren.",
    "Seit gestern können wir uns nicht mehr einloggen, bitte helfen Sie uns.",
    "Bonjour, notre facture est fausse et nous demandons un remboursement.",
    "Je n'arrive pas à me connecter à notre compte depuis hier.",
    "Hola, en la factura nos cobraron dos veces el mismo mes, queremos un reembolso.",
    "Olá, não consigo acessar a conta e a senha não é aceita.",
    "Buongiorno, vorremmo la disdetta del contratto e il rimborso dell'ultimo mese.",
    "Goedendag, onze factuur klopt niet en we willen het abonnement opzeggen.",
    "Dzień dobry, nie mogę się zalogować, a na fakturze jest błędna kwota.",
]


@pytest.mark.parametrize("message", SUPPORT_REQUESTS)
def test_support_and_account_requests_are_flagged_in_each_language(message):
    lead = LeadInput(
        name="Kim", email="kim@customer-co.example", company="Customer Co", message=message
    )

    result = rules(lead)

    assert "support" in result.flags, result
    assert result.label != "high_intent"
    assert any("support or account request" in reason for reason in result.reasons)


@pytest.mark.parametrize(
    "message",
    [
        "We need 30 seats for our sales team, can we pay by invoice? Demo next week please.",
        "We'd like a quote for 20 users and a trial this month; we want to replace Pipedrive.",
        "Wir möchten ein Angebot für 25 Personen und eine Demo nächste Woche.",
    ],
)
def test_buyers_are_not_flagged_support(message):
    lead = LeadInput(name="Kim", email="kim@buyer-co.example", company="Buyer Co", message=message)

    assert "support" not in rules(lead).flags


def test_the_claude_strategy_keeps_the_markup_and_support_flags_code_found(fake_anthropic):
    lead = LeadInput(
        name="Laura",
        email="laura@cresthill.example",
        company="<b>Cresthill</b>",
        message="We were charged for 30 seats on our last invoice but only have 22 users.",
    )

    result = classify(lead, strategy="claude")

    assert {"markup", "support"} <= set(result.output.flags)
