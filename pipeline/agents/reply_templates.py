"""The rules strategy's replies in the languages leads write in most, besides English.

English replies are the fuller templates in `pipeline.agents.draft`. For German, French,
Spanish, Portuguese, Italian, Dutch and Polish the rules strategy writes these shorter ones:
a greeting, one paragraph for the label (or the wrong inbox), the next step and a sign-off.
The company profile's facts are English text, so they are left out here rather than mixed in.
A lead in any other language gets the English reply, with a note to the reviewer, and is never
auto-sent (see `pipeline.agents.decision`).

Placeholders: {company} (our name), {link} (booking link), {url} (support or careers URL),
{email} (partnerships address).
"""

from __future__ import annotations

from pipeline.agents.text import first_name
from pipeline.schemas import Classification, CompanyVoice, DraftReply, LeadInput

# fmt: off
PHRASES: dict[str, dict[str, str]] = {
    "de": {
        "hello_name": "Hallo {name},", "hello": "Guten Tag,", "regards": "Viele Grüße",
        "high_subject": "Ihre Anfrage bei {company}",
        "high": "vielen Dank für Ihre Anfrage an {company}. Ich zeige Ihnen gern, wie es mit Ihren eigenen Anfragen funktioniert, und beantworte Ihre Fragen zu Preisen und Testphase.",
        "next_link": "Am schnellsten geht es mit einem 30-minütigen Gespräch. Hier können Sie einen passenden Termin wählen: {link}",
        "next_reply": "Am schnellsten geht es mit einem 30-minütigen Gespräch. Nennen Sie mir zwei oder drei passende Zeiten in dieser oder der nächsten Woche, dann schicke ich Ihnen eine Einladung.",
        "low_subject": "Ihre Frage zu {company}",
        "low": "vielen Dank für Ihr Interesse an {company}. Wenn Sie Fragen haben, antworten Sie einfach auf diese E-Mail.",
        "low_link": "Und wenn der Zeitpunkt passt, können Sie hier ein kurzes Gespräch mit mir buchen: {link}",
        "support_subject": "Damit Ihnen schnell geholfen wird",
        "support": "vielen Dank für Ihre Nachricht, und es tut mir leid, dass etwas nicht wie gewünscht funktioniert. Diese Adresse erreicht unser Vertriebsteam; unser Support-Team hilft Ihnen am schnellsten weiter.",
        "support_url": "Sie erreichen es hier: {url}",
        "job_subject": "Ihr Interesse an {company}",
        "job": "vielen Dank für Ihr Interesse an einer Mitarbeit bei {company}. Über diese Adresse können wir leider keine Bewerbungen annehmen.",
        "job_url": "Unsere offenen Stellen finden Sie hier: {url}",
        "partner_subject": "Ihr Vorschlag an {company}",
        "partner": "vielen Dank, dass Sie an {company} gedacht haben. Vorschläge für Partnerschaften, Presse und Dienstleistungen prüft ein eigenes Team.",
        "partner_email": "Bitte senden Sie die Details an {email}.",
        "other_subject": "Ihre Frage zu {company}",
        "other": "vielen Dank für Ihr Interesse an {company}. Unser Produkt ist für Unternehmen und ihre Vertriebsteams gemacht und passt daher vielleicht nicht zu dem, was Sie beschreiben.",
    },
    "fr": {
        "hello_name": "Bonjour {name},", "hello": "Bonjour,", "regards": "Cordialement",
        "high_subject": "Votre demande à {company}",
        "high": "merci pour votre demande à {company}. Je vous montrerai volontiers comment cela fonctionne avec vos propres demandes, et je répondrai à vos questions sur les tarifs et l'essai.",
        "next_link": "Le plus simple est un appel de 30 minutes. Vous pouvez choisir un créneau ici : {link}",
        "next_reply": "Le plus simple est un appel de 30 minutes. Indiquez-moi deux ou trois créneaux qui vous conviennent cette semaine ou la suivante, et je vous enverrai une invitation.",
        "low_subject": "Votre question sur {company}",
        "low": "merci pour votre intérêt pour {company}. Si vous avez des questions, répondez simplement à cet e-mail.",
        "low_link": "Et quand le moment sera venu, vous pouvez réserver un court échange avec moi ici : {link}",
        "support_subject": "Pour vous aider rapidement",
        "support": "merci pour votre message, et désolé que quelque chose ne fonctionne pas comme prévu. Cette adresse arrive à notre équipe commerciale ; notre équipe support vous aidera plus rapidement.",
        "support_url": "Vous pouvez la joindre ici : {url}",
        "job_subject": "Votre intérêt pour {company}",
        "job": "merci pour votre intérêt à rejoindre {company}. Nous ne pouvons pas recevoir de candidatures à cette adresse.",
        "job_url": "Nos postes ouverts sont ici : {url}",
        "partner_subject": "Votre proposition à {company}",
        "partner": "merci d'avoir pensé à {company}. Les propositions de partenariat, de presse et de services sont étudiées par une autre équipe.",
        "partner_email": "Merci d'envoyer les détails à {email}.",
        "other_subject": "Votre question sur {company}",
        "other": "merci pour votre intérêt pour {company}. Notre produit est conçu pour les entreprises et leurs équipes commerciales ; il ne correspond peut-être pas à ce que vous décrivez.",
    },
    "es": {
        "hello_name": "Hola, {name}:", "hello": "Hola:", "regards": "Saludos cordiales",
        "high_subject": "Su solicitud a {company}",
        "high": "gracias por su solicitud a {company}. Con gusto le mostraré cómo funciona con sus propios contactos y responderé a sus preguntas sobre precios y la prueba.",
        "next_link": "Lo más rápido es una llamada de 30 minutos. Puede elegir el horario que le convenga aquí: {link}",
        "next_reply": "Lo más rápido es una llamada de 30 minutos. Indíqueme dos o tres horarios que le vengan bien esta semana o la próxima y le enviaré una invitación.",
        "low_subject": "Su pregunta sobre {company}",
        "low": "gracias por su interés en {company}. Si tiene preguntas, simplemente responda a este correo.",
        "low_link": "Y cuando sea el momento, puede reservar una llamada corta conmigo aquí: {link}",
        "support_subject": "Para ayudarle cuanto antes",
        "support": "gracias por su mensaje, y lamento que algo no funcione como debería. Esta dirección llega a nuestro equipo comercial; nuestro equipo de soporte le ayudará más rápido.",
        "support_url": "Puede contactarlo aquí: {url}",
        "job_subject": "Su interés en {company}",
        "job": "gracias por su interés en trabajar en {company}. No podemos recibir candidaturas en esta dirección.",
        "job_url": "Nuestras vacantes están aquí: {url}",
        "partner_subject": "Su propuesta a {company}",
        "partner": "gracias por pensar en {company}. Las propuestas de colaboración, prensa y servicios las revisa otro equipo.",
        "partner_email": "Envíe los detalles a {email}.",
        "other_subject": "Su pregunta sobre {company}",
        "other": "gracias por su interés en {company}. Nuestro producto está pensado para empresas y sus equipos comerciales, así que quizá no encaje con lo que describe.",
    },
    "pt": {
        "hello_name": "Olá, {name},", "hello": "Olá,", "regards": "Com os melhores cumprimentos",
        "high_subject": "O seu pedido à {company}",
        "high": "obrigado pelo seu pedido à {company}. Terei todo o gosto em mostrar como funciona com os seus próprios contactos e em responder às suas perguntas sobre preços e o período de teste.",
        "next_link": "O passo mais rápido é uma chamada de 30 minutos. Pode escolher um horário aqui: {link}",
        "next_reply": "O passo mais rápido é uma chamada de 30 minutos. Indique-me dois ou três horários que lhe convenham esta semana ou na próxima e eu envio um convite.",
        "low_subject": "A sua pergunta sobre a {company}",
        "low": "obrigado pelo seu interesse na {company}. Se tiver perguntas, basta responder a este e-mail.",
        "low_link": "E quando for o momento certo, pode marcar uma conversa curta comigo aqui: {link}",
        "support_subject": "Para ajudá-lo rapidamente",
        "support": "obrigado pela sua mensagem, e lamento que algo não esteja a funcionar como deveria. Este endereço chega à nossa equipa comercial; a nossa equipa de suporte pode ajudá-lo mais depressa.",
        "support_url": "Pode contactá-la aqui: {url}",
        "job_subject": "O seu interesse na {company}",
        "job": "obrigado pelo seu interesse em trabalhar na {company}. Não podemos receber candidaturas neste endereço.",
        "job_url": "As nossas vagas estão aqui: {url}",
        "partner_subject": "A sua proposta à {company}",
        "partner": "obrigado por pensar na {company}. Propostas de parceria, imprensa e serviços são analisadas por outra equipa.",
        "partner_email": "Envie os detalhes para {email}.",
        "other_subject": "A sua pergunta sobre a {company}",
        "other": "obrigado pelo seu interesse na {company}. O nosso produto foi feito para empresas e as suas equipas comerciais, por isso talvez não seja o indicado para o que descreve.",
    },
    "it": {
        "hello_name": "Buongiorno {name},", "hello": "Buongiorno,", "regards": "Cordiali saluti",
        "high_subject": "La sua richiesta a {company}",
        "high": "grazie per la sua richiesta a {company}. Le mostrerò volentieri come funziona con i vostri contatti e risponderò alle sue domande su prezzi e prova gratuita.",
        "next_link": "Il passo più rapido è una chiamata di 30 minuti. Può scegliere l'orario che preferisce qui: {link}",
        "next_reply": "Il passo più rapido è una chiamata di 30 minuti. Mi indichi due o tre orari comodi per questa settimana o la prossima e le invierò un invito.",
        "low_subject": "La sua domanda su {company}",
        "low": "grazie per il suo interesse per {company}. Se ha domande, risponda pure a questa e-mail.",
        "low_link": "E quando sarà il momento giusto, può prenotare una breve chiamata con me qui: {link}",
        "support_subject": "Per aiutarla subito",
        "support": "grazie per il suo messaggio, e mi dispiace che qualcosa non funzioni come dovrebbe. Questo indirizzo arriva al nostro team commerciale; il nostro team di assistenza può aiutarla più rapidamente.",
        "support_url": "Può contattarlo qui: {url}",
        "job_subject": "Il suo interesse per {company}",
        "job": "grazie per il suo interesse a lavorare in {company}. Non possiamo ricevere candidature a questo indirizzo.",
        "job_url": "Le posizioni aperte sono qui: {url}",
        "partner_subject": "La sua proposta a {company}",
        "partner": "grazie per aver pensato a {company}. Le proposte di partnership, stampa e servizi sono valutate da un altro team.",
        "partner_email": "Invii i dettagli a {email}.",
        "other_subject": "La sua domanda su {company}",
        "other": "grazie per il suo interesse per {company}. Il nostro prodotto è pensato per le aziende e i loro team commerciali, quindi potrebbe non essere adatto a ciò che descrive.",
    },
    "nl": {
        "hello_name": "Hallo {name},", "hello": "Goedendag,", "regards": "Met vriendelijke groet",
        "high_subject": "Uw aanvraag bij {company}",
        "high": "dank u voor uw aanvraag bij {company}. Ik laat u graag zien hoe het werkt met uw eigen aanvragen en beantwoord uw vragen over prijzen en de proefperiode.",
        "next_link": "De snelste volgende stap is een gesprek van 30 minuten. U kunt hier een moment kiezen dat u uitkomt: {link}",
        "next_reply": "De snelste volgende stap is een gesprek van 30 minuten. Laat me twee of drie tijden weten die u deze of volgende week uitkomen, dan stuur ik een uitnodiging.",
        "low_subject": "Uw vraag over {company}",
        "low": "dank u voor uw interesse in {company}. Heeft u vragen, beantwoord dan gewoon deze e-mail.",
        "low_link": "En wanneer het u uitkomt, kunt u hier een kort gesprek met mij plannen: {link}",
        "support_subject": "Zodat u snel geholpen wordt",
        "support": "dank u voor uw bericht, en vervelend dat iets niet werkt zoals het hoort. Dit adres komt bij ons salesteam terecht; ons supportteam kan u sneller helpen.",
        "support_url": "U bereikt het hier: {url}",
        "job_subject": "Uw interesse in {company}",
        "job": "dank u voor uw interesse om bij {company} te werken. Via dit adres kunnen we helaas geen sollicitaties aannemen.",
        "job_url": "Onze vacatures staan hier: {url}",
        "partner_subject": "Uw voorstel aan {company}",
        "partner": "dank u dat u aan {company} dacht. Voorstellen voor samenwerking, pers en diensten worden door een ander team bekeken.",
        "partner_email": "Stuur de details naar {email}.",
        "other_subject": "Uw vraag over {company}",
        "other": "dank u voor uw interesse in {company}. Ons product is gemaakt voor bedrijven en hun salesteams, dus het past misschien niet bij wat u beschrijft.",
    },
    "pl": {
        "hello_name": "Dzień dobry {name},", "hello": "Dzień dobry,", "regards": "Z poważaniem",
        "high_subject": "Państwa zapytanie do {company}",
        "high": "dziękuję za zapytanie do {company}. Chętnie pokażę, jak to działa na Państwa własnych zapytaniach, i odpowiem na pytania o ceny i okres próbny.",
        "next_link": "Najszybciej będzie porozmawiać przez 30 minut. Termin można wybrać tutaj: {link}",
        "next_reply": "Najszybciej będzie porozmawiać przez 30 minut. Proszę podać dwa lub trzy dogodne terminy w tym lub przyszłym tygodniu, a wyślę zaproszenie.",
        "low_subject": "Pytanie o {company}",
        "low": "dziękuję za zainteresowanie {company}. W razie pytań wystarczy odpowiedzieć na tę wiadomość.",
        "low_link": "A gdy przyjdzie odpowiedni moment, można umówić krótką rozmowę ze mną tutaj: {link}",
        "support_subject": "Aby szybko uzyskać pomoc",
        "support": "dziękuję za wiadomość i przykro mi, że coś nie działa tak, jak powinno. Ten adres trafia do naszego działu sprzedaży; nasz zespół wsparcia pomoże szybciej.",
        "support_url": "Można się z nim skontaktować tutaj: {url}",
        "job_subject": "Zainteresowanie pracą w {company}",
        "job": "dziękuję za zainteresowanie pracą w {company}. Pod tym adresem nie przyjmujemy niestety zgłoszeń rekrutacyjnych.",
        "job_url": "Nasze oferty pracy są tutaj: {url}",
        "partner_subject": "Propozycja dla {company}",
        "partner": "dziękuję, że pomyśleli Państwo o {company}. Propozycje współpracy, prasy i usług rozpatruje osobny zespół.",
        "partner_email": "Proszę przesłać szczegóły na adres {email}.",
        "other_subject": "Pytanie o {company}",
        "other": "dziękuję za zainteresowanie {company}. Nasz produkt jest przeznaczony dla firm i ich zespołów sprzedaży, więc może nie pasować do opisanej sytuacji.",
    },
}
# fmt: on

# The languages the rules strategy writes: English (the draft module) and the ones above.
REPLY_LANGUAGES = frozenset({"en", *PHRASES})


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def localized_reply(
    lead: LeadInput, classification: Classification, company: CompanyVoice, language: str
) -> DraftReply:
    """The rules reply in `language` (one of PHRASES)."""
    phrases = PHRASES[language]
    values = {
        "company": company.company_name,
        "link": company.booking_link,
        "email": company.partnerships_email,
    }
    flags = set(classification.flags)
    if "support" in flags or "support_request" in flags:
        kind, extra = "support", ("support_url", company.support_url)
    elif classification.label == "high_intent":
        kind, extra = "high", ("next_link", company.booking_link)
    elif classification.label == "low_intent":
        kind, extra = "low", ("low_link", company.booking_link)
    elif "job_applicant" in flags:
        kind, extra = "job", ("job_url", company.careers_url)
    elif flags & {"partnership", "vendor_pitch", "press"}:
        kind, extra = "partner", ("partner_email", company.partnerships_email)
    else:
        kind, extra = "other", ("", "")
    paragraphs = [_capitalised(phrases[kind].format(**values))]
    key, value = extra
    if key and value:
        paragraphs.append(phrases[key].format(**values, url=value))
    elif kind == "high":
        paragraphs.append(phrases["next_reply"])
    name = first_name(lead.name)
    greeting = phrases["hello_name"].format(name=name) if name else phrases["hello"]
    signature = company.signature.strip() or company.sender_name or company.company_name
    body = "\n\n".join([greeting, *paragraphs, f"{phrases['regards']},\n{signature}"])
    subject = phrases[f"{kind}_subject"].format(**values)
    return DraftReply(subject=subject, body=body, language=language)
