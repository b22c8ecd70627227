"""The classifier's weak spots: consumers and students, vendor pitches, recruiters and freelancers,
and real leads that carry markup.

Sentences written for this test, in several languages; none of them is in a training or
held-out set.
"""

import pytest

from pipeline.agents.classify import rules
from tests.factories import make_lead_input


@pytest.mark.parametrize(
    ("email", "message"),
    [
        (
            "bob.archer@gmail.com",
            "I'm retired and look after the members list of our chess club. Can I use this for free?",
        ),
        (
            "heinz.vogel@gmx.de",
            "Ich bin Rentner und möchte die Adressen meiner Freunde und Enkel ordnen. Was kostet das?",
        ),
        (
            "sophie.martin@free.fr",
            "Bonjour, je veux organiser un voyage entre amis et garder les contacts de tout le monde.",
        ),
        (
            "lucas.ferreira@gmail.com",
            "Oi, sou aposentado e quero organizar os contatos dos meus amigos do clube. É grátis?",
        ),
        (
            "marek.lis@o2.pl",
            "Dzień dobry, jestem emerytem i chcę prowadzić listę znajomych z mojego klubu. Ile to kosztuje?",
        ),
        (
            "joan.baker62@btinternet.com",
            "Hello, I'd like a lead and collar for my puppy. What is the price including postage?",
        ),
        (
            "lea.fontaine07@gmail.com",
            "Bonjour, pour un devoir de master je dois comparer deux logiciels. Vous pouvez "
            "m'aider ?",
        ),
        (
            "tim.hoffmann05@web.de",
            "Hallo, ich brauche für meine Hausarbeit ein paar Infos über Ihr Tool. Danke!",
        ),
        (
            "carla.russo61@libero.it",
            "Buongiorno, mi serve un programma per le spese di casa e le bollette. Va bene il vostro?",
        ),
    ],
)
def test_consumers_are_wrong_fit_in_each_language(email, message):
    result = rules(make_lead_input(message, email))

    assert result.label == "wrong_fit", result.reasons
    assert result.spam_probability < 0.25


@pytest.mark.parametrize(
    ("email", "company", "message"),
    [
        (
            "jo@talentbridge-staffing.example",
            "TalentBridge Staffing",
            "Hello, we are a recruitment agency for sales roles and have candidates ready for "
            "your account executive openings. Shall I send three profiles?",
        ),
        (
            "k.braun@vertriebsprofis-personal.example",
            "Vertriebsprofis Personal",
            "Guten Tag, als Personalvermittlung haben wir Kandidaten für Sie im Vertrieb. "
            "Dürfen wir Ihnen Profile schicken?",
        ),
        (
            "claire@horizon-recrutement.example",
            "Horizon Recrutement",
            "Bonjour, notre cabinet de recrutement a des candidats commerciaux disponibles pour "
            "vos postes. Puis-je vous envoyer trois profils ?",
        ),
        (
            "d.hart@hartwell-search.example",
            "Hartwell Search",
            "Hello, I'm running a confidential CFO search for a client in logistics and would "
            "value ten minutes with your finance lead.",
        ),
        (
            "m.roy@roy-conseil.example",
            "Roy Conseil",
            "Bonjour, chasseur de têtes, je cherche pour un client un directeur commercial. "
            "Pourriez-vous transmettre mon message ?",
        ),
        (
            "jana.designs@gmail.com",
            "",
            "Hi! I'm a freelance web designer and could redesign your landing page for a fixed "
            "fee. Happy to share my portfolio.",
        ),
        (
            "pablo.ux@hotmail.com",
            "",
            "Hola, soy diseñador freelance y podría mejorar vuestra web con un rediseño. ¿Os "
            "envío mi portafolio?",
        ),
        (
            "nina@mailpilot-ai.example",
            "MailPilot AI",
            "Hi, can I book 15 minutes with your team to show you how our AI inbox assistant "
            "helps companies like yours answer leads faster? Plans start at $19 per seat.",
        ),
        (
            "t.leroy@devis-express.example",
            "Devis Express",
            "Bonjour, nous aimerions vous présenter notre outil de devis en ligne lors d'une démo "
            "de 15 minutes. Tarifs dégressifs selon le nombre d'utilisateurs.",
        ),
    ],
)
def test_vendor_pitches_and_recruiters_are_wrong_fit(email, company, message):
    result = rules(make_lead_input(message, email, company))

    assert result.label == "wrong_fit", result.reasons


@pytest.mark.parametrize(
    ("label", "email", "company", "message"),
    [
        (
            "low_intent",
            "nina@haldane-optics.example",
            "Haldane Optics",
            "<p>Hello,</p><p>we are only comparing tools for later this year. Is there a "
            "product overview I can read?</p>",
        ),
        (
            "wrong_fit",
            "r.vos@brinkman-installatie.example",
            "Brinkman Installatie",
            "Goedemorgen,<br>onze factuur van oktober is twee keer afgeschreven.<br>"
            "Klantnummer 55102, graag terugbetalen.",
        ),
        (
            "high_intent",
            "ines@marbella-tiles.example",
            "<i>Marbella Tiles</i>",
            "Somos 20 vendedores y queremos una demo la próxima semana y un presupuesto "
            "para 20 usuarios este trimestre.",
        ),
    ],
)
def test_a_real_lead_carrying_markup_keeps_its_label_and_is_never_called_spam(
    label, email, company, message
):
    result = rules(make_lead_input(message, email, company))

    assert "markup" in result.flags
    assert result.label == label, result.reasons
    assert result.spam_probability < 0.25
