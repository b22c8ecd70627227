"""Concepts a submission can mention, in many languages: "a demo", "a price", "my CV", "a refund".

Each concept is a family of words and stems in the languages contact forms arrive in (English,
German, French, Spanish, Portuguese, Italian, Dutch, Polish, Czech, the Nordic languages,
Turkish, Russian, Japanese, Chinese, Korean, Arabic, Hindi). The learned classifier gets one
feature per concept found, so a weight learned from English rows ("demo" means buying) carries
over to a Polish or Japanese row that names the same thing. The lists are general vocabulary,
written from dictionaries, not from any labelled set.

Terms follow the grammar of `pipeline.agents.terms` (words, `*` stems, `re:` expressions).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from pipeline.agents.terms import terms_pattern

# "my family's roofing company" is a business; "my family" alone is a private person. (The rules'
# consumer lexicon, lexicons/consumer.txt, spells the same lookahead out.)
_FIRM = r"(?:business|company|firm|shop|store|restaurant|farm|practice|agency)"
_MY_FAMILYS_FIRM = rf"my family's (?:[\w-]+ ){{0,3}}{_FIRM}"

# Nouns for people or seats that follow a team size: "15 users", "18 handlowców", "20人".
_PEOPLE = (
    r"(?:people|persons?|personen|users?|employees|staff|reps|agents|seats|licen[cs]es|sellers|salespeople"
    r"|sales ?reps|members|engineers|sdrs|bdrs|account executives|aes|advisors|brokers|recruiters"
    r"|consultants|technicians|negotiators|locations|branches|offices|stores|clinics"
    r"|mitarbeiter\w*|nutzer\w*|benutzer\w*|lizenzen|vertriebler\w*|verkäufer\w*|außendienst\w*"
    r"|personnes|collaborateurs|salariés|utilisateurs|commerciaux|licences|vendeurs|agents"
    r"|négociateurs|personas|usuarios|empleados|vendedores|comerciales|licencias|agentes"
    r"|pessoas|usuários|funcionários|licenças|corretores|consultores|persone|utenti|dipendenti"
    r"|venditori|commerciali|licenze|agenti|medewerkers|gebruikers|verkopers|licenties"
    r"|accountmanagers|osób|osoby|osob|użytkownik\w*|pracownik\w*|handlowc\w*|licencj\w*"
    r"|sprzedawc\w*|uživatel\w*|zaměstnanc\w*|obchodník\w*|licenc\w*|prodejc\w*|personer"
    r"|användare|anställda|säljare|licenser|brukere|ansatte|selgere|lisenser|medarbejdere"
    r"|sælgere|henkilö\w*|hengen|käyttäjä\w*|myyjä\w*|lisenssi\w*|kişi\w*|kullanıcı\w*"
    r"|çalışan\w*|satışçı\w*|satış temsilci\w*|lisans\w*|человек|сотрудник\w*|пользовател\w*"
    r"|менеджер\w*|продавц\w*|лицензи\w*|агент\w*)"
)

# fmt: off
CONCEPTS: dict[str, tuple[str, ...]] = {
    # --- buying -------------------------------------------------------------------------
    "demo": (
        "demo*", "démo*", "demonstra*", "walkthrough", "walk us through", "see it in action",
        "präsentation", "vorführung", "produktvorstellung", "présentation", "presentación",
        "apresentação", "presentazione", "prezentac*", "prezentacj*", "ukázk*", "prezentaci",
        "visning", "esittely*", "gösterim", "tanıtım", "демо*", "демонстрац*", "презентац*",
        "デモ", "実演", "演示", "데모", "시연", "عرض توضيحي", "डेमो", "สาธิต",
    ),
    "price": (
        "price*", "pricing", "cost*", "quote*", "quotation", "how much", "tarif*", "prix",
        "devis", "combien", "preis*", "kosten*", "angebot*", "was kostet", "precio*", "cotiza*",
        "presupuesto*", "cuánto", "cuanto cuesta", "preço*", "orçamento*", "cotação", "quanto custa",
        "prezz*", "preventiv*", "quanto costa", "prijs*", "offerte*", "wat kost", "cen", "cena",
        "ceny", "cennik*", "wycen*", "ile kosztuje", "ile to kosztuje", "ceník*", "kolik stojí",
        "cenov*", "pris", "priset", "prislist*", "priser", "hinta*", "hinnasto*", "fiyat*",
        "teklif*", "ne kadar", "стоимост*", "цен*", "прайс*", "сколько стоит",
        "коммерческое предложение", "見積*", "価格", "料金", "値段", "费用", "报价", "价格",
        "多少钱", "價格", "가격", "견적", "비용", "سعر", "أسعار", "الأسعار", "كم", "कीमत",
        "मूल्य", "ราคา",
    ),
    "trial": (
        "trial", "free trial", "pilot*", "proof of concept", "poc", "essai*", "période d'essai",
        "testversion", "testphase", "testzugang", "testen", "prueba*", "período de prueba",
        "teste", "testar", "período de teste", "prova", "periodo di prova", "proef*",
        "uitproberen", "okres próbny", "wersj* testow*", "przetestować", "zkušební*",
        "vyzkoušet", "provperiod", "testa", "prøve*", "kokeilu*", "testata", "deneme",
        "denemek", "пробн*", "тестов*", "протестировать", "試用", "トライアル", "お試し", "试用",
        "体验", "체험", "무료 체험", "تجربة", "ट्रायल", "ทดลอง",
    ),
    "purchase": (
        "buy", "buying", "purchas*", "procure*", "licen*", "subscribe", "sign up for",
        "order form", "contract*", "rfp", "rfq", "tender", "kaufen", "erwerben", "lizenz*",
        "bestellen", "vertrag*", "ausschreibung", "acheter", "achat", "souscrire",
        "abonnement annuel", "appel d'offres", "comprar", "compra", "contratar", "contrato*",
        "licitaci*", "adquirir", "assinar", "licença*", "comprare", "acquist*", "licenz*",
        "contratto", "kopen", "aanschaffen", "aanbesteding", "kupi*", "zakup*", "przetarg*",
        "licencj*", "umow*", "koupit", "nákup*", "smlouv*", "köpa", "köp", "licens*",
        "upphandling", "kjøpe", "ostaa", "hankin*", "lisenssi*", "satın al*", "lisans*",
        "sözleşme", "купить", "закуп*", "приобрести", "лицензи*", "договор*", "тендер*",
        "購入", "導入", "契約", "発注", "ライセンス", "购买", "采购", "购入", "订阅", "开通",
        "구매", "구입", "도입", "شراء", "ترخيص", "खरीद*", "ซื้อ",
    ),
    "team_size": (
        rf"re:(?<!\w)\d[\d,.]*\s*\+?\s*(?:full[- ]time\s+|[a-zà-ÿ]+\s+)?{_PEOPLE}(?!\w)",
        r"re:\bteams? of (?:about |around |roughly |~|over |nearly )?\d+",
        r"re:\b\d+[- ](?:person|people|seat|user|member|strong|köpfig\w*|personnes|personas|pessoas)\b",
        r"re:\d+\s*(?:人|名|个|位|席|ユーザー|ライセンス|アカウント|명|개)",
        r"re:(?:equipo|equipa|équipe|team|zespół|tým|ekip|команда|команде|команды) (?:de |di |van |of |z |z |из )?\d+",
    ),
    "timeline": (
        "this week", "next week", "this month", "next month", "this quarter", "next quarter",
        "end of the month", "end of month", "end of quarter", "asap", "as soon as possible",
        "urgent*", "deadline", "by monday", "by friday", "go live", "go-live",         r"re:\b(?:by|before|in|until) (?:q[1-4]|h[12]|january|february|march|april|may|june|july|august|september|october|november|december)\b",
        r"re:\bwithin (?:the next )?(?:\d+|a|two|three|few|couple of) (?:days|weeks|months)\b",
        "diese woche", "nächste woche", "nächsten woche", "diesen monat", "nächsten monat",
        "bis ende", "dringend", "zeitnah", "cette semaine", "semaine prochaine",
        "la semaine prochaine", "ce mois", "avant la fin", "rapidement", "esta semana",
        "próxima semana", "semana que viene", "este mes", "lo antes posible",
        "urgente", "essa semana", "nesta semana", "próximo mês", "o quanto antes",
        "questa settimana", "prossima settimana", "entro", "questo mese", "al più presto",
        "deze week", "volgende week", "deze maand", "zo snel mogelijk", "w tym tygodniu",
        "w przyszłym tygodniu", "w tym miesiącu", "do końca", "pilne", "tento týden",
        "příští týden", "tento měsíc", "do konce", "denna vecka", "nästa vecka", "denna månad",
        "neste uke", "denne uken", "ensi viikolla", "tällä viikolla", "tässä kuussa",
        "bu hafta", "gelecek hafta", "bu ay", "acil", "на этой неделе", "на следующей неделе",
        "в этом месяце", "до конца", "срочно", "今週", "来週", "今月", "至急", "までに", "本周",
        "下周", "本月", "月底", "尽快", "이번 주", "다음 주", "이번 달", "هذا الأسبوع",
        "الأسبوع المقبل", "इस सप्ताह", "अगले सप्ताह",
    ),
    "migration": (
        "migrat*", "switch*", "replac*", "moving from", "move from", "move off", "outgrown",
        "wechsel*", "umstieg", "ablösen", "ersetzen", "migrer", "remplacer", "quitter",
        "migrar", "cambiar de", "sustituir", "reemplazar", "substituir", "trocar",
        "sostituire", "passare da", "overstappen", "vervangen", "migracj*", "przejś*",
        "zastąpi*", "zmieni*", "přechod*", "nahradit", "byta från", "ersätta",
        "siirty*", "korvata", "geçiş", "değiştir*", "переход*", "перейти", "миграц*",
        "заменить", "移行", "乗り換え", "置き換え", "迁移", "替换", "更换", "이전", "교체",
        "spreadsheet*", "excel", "salesforce", "hubspot", "pipedrive", "zoho", "dynamics",
        "monday.com", "trello", "crm actual", "aktuellen crm", "crm actuel", "crm atual",
    ),
    "more_seats": (
        "add seats", "more seats", "additional seats", "add users", "more users",
        "additional licen*", "extra seats", "extra licen*", "upgrade to", "expand our",
        "weitere lizenzen", "zusätzliche lizenzen", "plus de licences", "licences supplémentaires",
        "más licencias", "licencias adicionales", "mais licenças", "licenças adicionais",
        "licenze aggiuntive", "extra licenties", "dodatkowe licencje", "další licence",
        "fler licenser", "ek lisans", "дополнительные лицензии", "追加", "增加", "추가",
    ),
    # --- early interest -----------------------------------------------------------------
    "info_request": (
        "more info*", "some info*", "information*", "info", "brochure", "documentation",
        "whitepaper", "white paper", "e-book", "ebook", "case stud*", "webinar*", "newsletter",
        "pdf", "send me something", "something to read", "learn more", "know more",
        "infomaterial", "informationen", "unterlagen", "broschüre", "mehr erfahren", "infos",
        "documentation", "plaquette", "en savoir plus", "información", "folleto", "dossier",
        "informações", "informação", "folheto", "material", "materiais", "informazioni",
        "documentazione", "opuscolo", "informatie", "brochure", "informacj*", "materiał*",
        "broszur*", "informace", "podklady", "materiály", "informationen", "broschyr",
        "tietoa", "esite*", "bilgi*", "broşür", "информаци*", "материал*", "буклет", "資料",
        "情報", "カタログ", "资料", "信息", "介绍", "정보", "자료", "소개", "معلومات",
        "जानकारी", "ข้อมูล",
        # A brochure or catalogue by its other names.
        "prospekt", "prospekte", "katalog", "catalogue", "catálogo", "catalogo", "catalogus",
        "prospectus", "katalogu", "katalogen",
    ),
    "no_urgency": (
        "just looking", "just browsing", "just curious", "just exploring", "curious",
        "not ready", "not yet", "no rush", "no hurry", "nothing urgent", "not urgent",
        "next year", "later this year", "someday", "at some point", "in the future",
        "down the road", "down the track", "maybe", "not sure", "early stage*", "researching",
        "exploring", "no budget", "budget is frozen", "budget frozen", "no decision",
        "months away", "not this year", "no procurement", "for later", "for now",
        "nur informieren", "erstmal", "vorerst", "nächstes jahr", "nächsten jahr", "vielleicht",
        "kein budget", "keine eile", "nicht dringend", "irgendwann", "pour l'instant",
        "pour le moment", "l'année prochaine", "l'an prochain", "peut-être", "pas urgent",
        "rien d'urgent", "pas de budget", "simplement curieux", "por ahora", "por el momento",
        "el próximo año", "el año que viene", "quizás", "quizá", "tal vez", "para ir viendo",
        "sin presupuesto", "nada urgente", "solo mirando", "solo curiosidad", "por enquanto",
        "só pesquisando", "no ano que vem", "próximo ano", "talvez", "sem orçamento",
        "sem pressa", "só curiosidade", "per ora", "per il momento", "l'anno prossimo",
        "forse", "niente di urgente", "senza fretta", "stiamo solo valutando", "solo valutando",
        "curiosità", "voorlopig", "volgend jaar", "misschien", "geen haast", "oriënter*",
        "alleen even kijken", "na razie", "w przyszłym roku", "może", "rozglądamy", "bez pośpiechu",
        "zatím", "příští rok", "možná", "jen se díváme", "bara nyfiken", "nyfiken", "kanske",
        "nästa år", "ingen brådska", "foreløpig", "nysgjerrig", "ensi vuonna", "ehkä",
        "şimdilik", "gelecek yıl", "belki", "sadece bakıyoruz", "acelesi yok", "пока",
        "изучаем", "просто смотрим", "может быть", "в следующем году", "не срочно", "присматриваемся",
        "とりあえず", "検討中", "情報収集", "まだ", "来年", "急ぎ", "只是看看", "了解一下", "暂时",
        "明年", "不急", "先看看", "아직", "그냥", "내년", "ربما", "सिर्फ़ देख",
    ),
    "what_is_it": (
        "what does it do", "what does this do", "what is this", "what do you do",
        "how does it work", "difference between", "compared to", "versus",
        "was macht", "wie funktioniert", "unterschied", "qu'est-ce que", "comment fonctionne",
        "différence", "qué es", "cómo funciona", "diferencia", "o que é", "como funciona",
        "diferença", "cos'è", "come funziona", "differenza", "hoe werkt", "verschil",
        "jak działa", "czym różni", "jak funguje", "rozdíl", "hur fungerar", "skillnad",
        "nasıl çalışır", "fark", "как работает", "чем отличается", "違い", "どのように", "区别",
        "怎么用", "차이",
    ),
    # --- wrong fit ----------------------------------------------------------------------
    "job": (
        "cv", "resume", "résumé", "curriculum*", "cover letter", "internship*", "intern",
        "job*", "career*", "hiring", "vacanc*", "open position*", "open role*", "apply",
        "applying", "application for", "my application", "next role", "looking for a role",
        "lebenslauf", "bewerb*", "stellenangebot*", "praktikum", "ausbildung",
        "candidature", "candidat*", "emploi", "poste", "alternance", "currículum",
        "empleo", "vacante*", "puesto", "trabajo", "prácticas", "currículo", "vaga*",
        "emprego", "estágio", "candidatura", "lavoro", "posizione aperta", "tirocinio",
        "sollicit*", "vacature*", "stageplaats", "życiorys", "aplikuj*", "rekrutac*",
        "ofert* pracy", "stanowisk*", "praca", "staż*", "životopis", "pracovní",
        "pozice", "nabídk* práce", "ansök*", "jobb*", "praktik*", "søknad",
        "stilling*", "työpaik*", "hakemus", "ansioluettelo", "özgeçmiş*", "pozisyon*",
        "iş ilan*", "başvur*", "staj*", "резюме", "ваканси*", "должност*", "стажировк*",
        "履歴書", "応募", "採用", "求人", "職務経歴", "インターン", "简历", "应聘", "求职",
        "职位", "招聘", "实习", "이력서", "지원합니다", "채용", "구직", "السيرة الذاتية",
        "سيرتي", "وظيفة", "توظيف", "नौकरी", "बायोडाटा", "रिज्यूमे",
    ),
    "support": (
        "export all", "export our", "export my", "how do we export", "avg", "mijn gegevens", "gegevens verwijderen", "meine daten", "mes données", "mis datos", "meus dados", "i miei dati", "moje dane", "moje údaje", "mina uppgifter", "verilerimi", "мои данные", "個人情報", "我的数据",
        "can't log*", "cannot log*", "can't sign in", "unable to log*", "log in", "login",
        "password", "reset", "error*", "bug*", "broken", "not working", "stopped working",
        "doesn't work", "isn't working", "not showing", "not syncing", "crash*", "outage",
        "refund*", "charged twice", "double charged", "charged", "cancel*", "delete my",
        "delete our", "deletion", "my account", "our account", "billing", "invoice address",
        "billing address", "receipt", "downgrad*", "support ticket", "ticket", "gdpr",
        "article 15", "article 17", "art. 15", "art. 17", "personal data",         "how do i", "where do i",         "funktioniert nicht", "fehler*", "passwort", "anmelden", "anmeldung", "kündig*",
        "rückerstattung", "erstattung", "rechnungsadresse", "rechnung*", "löschung", "löschen",
        "dsgvo", "abo", "konto", "unser konto", "ne fonctionne", "ne marche", "erreur*",
        "mot de passe", "connexion", "résili*", "rembourse*", "facture*", "supprimer",
        "suppression", "rgpd", "notre compte", "mon compte", "no funciona", "no puedo",
        "contraseña", "cancelar", "reembolso", "factura*", "dar de baja", "borrar",
        "eliminar", "mi cuenta", "nuestra cuenta", "não funciona", "não consigo", "senha",
        "cancelamento", "cobrad*", "fatura*", "excluir", "minha conta", "nossa conta", "lgpd",
        "non funziona", "errore", "disdett*", "rimborso", "fattura*", "cancellare",
        "il mio account", "werkt niet", "foutmelding", "fout", "wachtwoord", "opzeggen",
        "terugbetaling", "factuur", "verwijderen", "inloggen", "nie działa", "błąd*", "hasło",
        "anulow*", "faktur*", "zwrot*", "usunąć", "usunięcie", "zalogować", "rodo", "nefunguje",
        "nefunguj*", "chyba", "heslo", "zrušit", "zrušení", "vrácení", "přihlásit", "fungerar inte",
        "fel", "lösenord", "säga upp", "uppsägning", "återbetalning", "logga in", "fakturan",
        "faktureringsadress*", "virhe", "salasana", "peruutt*", "laskutus*", "çalışmıyor",
        "hata", "şifre", "iptal", "iade", "giriş yap*", "не работает", "ошибк*", "пароль",
        "удалить", "удаление", "отменить", "возврат*", "войти", "аккаунт*", "персональные данные",
        "ログイン", "エラー", "パスワード", "解約", "返金", "不具合", "アカウント", "登录", "登入",
        "错误", "密码", "退款", "取消", "账户", "账号", "无法", "로그인", "오류", "비밀번호",
        "환불", "해지", "계정", "حسابي", "استرداد", "إلغاء", "खाता", "रिफंड",
    ),
    # An existing customer's account problem: billing, refunds, cancelling, logging in, outages.
    # Words a buyer rarely needs; a buyer who does use them is sent to a human, never lost.
    "account_issue": (
        "wrong invoice", "our invoice", "our invoices", "my invoice", "last invoice",
        "latest invoice", "the invoice is", "invoiced for", "billed for", "charged for",
        "charged twice", "double charged", "double-charged", "overcharged", "refund*",
        "credit note", "cancel our subscription", "cancel my subscription", "cancel our plan",
        "cancel our account", "cancel my account", "cancellation", "can't log in",
        "cannot log in", "can't login", "can't sign in", "unable to log in", "locked out",
        "reset my password", "reset the password", "password reset", "reset link",
        "account id", "account number", "customer number", "ticket number", "support ticket",
        "outage", "stopped working", "not working since", "stopped syncing", "error 500",
        "letzten rechnung", "unsere rechnung", "unserer rechnung", "falsche rechnung", "rechnung korrigieren", "gutschrift", "rückerstattung", "erstattung", "kündigen", "kündigung",
        "nicht mehr einloggen", "nicht einloggen", "nicht anmelden", "passwort zurücksetzen",
        "kundennummer", "zu viel berechnet", "doppelt abgebucht", "störung",
        "funktioniert nicht mehr", "notre facture", "dernière facture", "la facture est", "votre facture", "remboursement", "rembourser", "résilier",
        "résiliation", "mot de passe", "me connecter", "numéro de client", "prélevé deux fois",
        "ne fonctionne plus", "nuestra factura", "última factura", "la factura está", "en la factura", "reembolso", "devolución del", "cancelar la suscripción",
        "cancelar nuestra suscripción", "dar de baja", "darme de baja", "no puedo acceder",
        "no puedo entrar", "contraseña", "cobrado dos veces", "nos cobraron",
        "número de cliente", "nossa fatura", "última fatura", "verificar a fatura", "na fatura", "cobrados duas vezes", "cobrança", "cancelar a assinatura",
        "não consigo acessar", "não consigo entrar", "senha", "nostra fattura", "ultima fattura", "in fattura", "rimborso",
        "disdetta", "disdire", "annullare l'abbonamento", "non riesco ad accedere",
        "addebitato due volte", "codice cliente", "non funziona più", "onze factuur", "laatste factuur", "factuur klopt niet",
        "terugbetaling", "restitutie", "opzeggen", "kan niet inloggen", "wachtwoord",
        "dubbel afgeschreven", "klantnummer", "storing", "na fakturze", "ostatniej fakturze", "faktura jest", "zwrot pieniędzy",
        "anulować subskrypcję", "rezygnacj*", "wypowiedzeni*", "nie mogę się zalogować",
        "zalogować", "hasło", "hasła", "pobrano dwa razy", "numer klienta", "awari*",
        # A lower plan or fewer seats, a failed payment, a suspended account, an invoice to
        # correct, a two-factor lock-out, an outage: in every language, the account's business.
        "downgrad*", r"re:\b(?:move|moving|take|switch|put) us down\b", r"re:\b(?:step|go|drop) down to\b",
        r"re:\b(?:reduce|lower|decrease) (?:our|the|my)? ?(?:number of )?(?:seats|licen[cs]es|users)\b",
        r"re:\b(?:payment|card payment|direct debit)\b[^.\n]{0,40}\b(?:failed|declined|didn't go through)\b",
        "declined by", r"re:\baccount (?:is |was |has been |will be )?(?:suspended|locked|blocked)\b",
        "correct the invoice", "correct our invoice", "status page", "too many requests",
        r"re:\b(?:error|erreur|fehler|errore|erro|błąd) ?\d{3}\b", "herabstufen", "weniger lizenzen",
        "lizenzen reduzieren", "zahlung fehlgeschlagen", "fehlgeschlagen", "konto gesperrt",
        "wird gesperrt", "rechnungskorrektur", "reklamation", "mahnung*", "zwei-faktor*",
        "paiement a échoué", "paiement refusé", "prélèvement rejeté", "compte suspendu",
        "compte bloqué", "corriger la facture", "double authentification", "panne",
        "bajar de plan", "reducir licencias", "pago rechazado", "cuenta suspendida",
        "cuenta bloqueada", "corregir la factura", "doble factor", "caída del servicio",
        "pagamento falhou", "pagamento recusado", "conta suspensa", "conta bloqueada",
        "segunda via", "dois fatores", "fora do ar", "pagamento non riuscito", "account sospeso",
        "account bloccato", "nota di credito", "due fattori", "disservizio", "downgraden",
        "minder licenties", "betaling mislukt", "incasso mislukt", "creditnota",
        "tweestapsverificatie", "obniżyć plan", "płatność nie przeszła", "konto zablokowane",
        "faktura korygująca", r"re:\bkorekt\w* faktur\w*", r"re:\bdwuskładnikow\w*",
    ),
    "existing_customer": (
        "existing customer", "current customer", "we're a customer", "we are a customer",
        "customer since", "our subscription", "my subscription", "our plan", "my plan",
        "we signed up", "i signed up", "our workspace", "since the update", "since the upgrade",
        "since yesterday", "our users", "wir sind kunde", "als kunde", "unser abo", "seit dem update",
        "seit gestern", "nous sommes client*", "notre abonnement", "depuis hier",
        "depuis la mise à jour", "somos clientes", "nuestra suscripción", "desde ayer",
        "desde la actualización", "clientes desde", "somos cliente*", "nossa assinatura",
        "desde ontem", "siamo clienti", "il nostro abbonamento", "da ieri", "wij zijn klant",
        "ons abonnement", "sinds gisteren", "jesteśmy klient*", "nasza subskrypcj*",
        "od wczoraj", "jsme zákazník*", "od včera", "vi är kunder", "vårt abonnemang",
        "sedan igår", "müşteriyiz", "aboneliğimiz", "dünden beri", "мы клиенты", "наша подписка",
        "со вчерашнего", "после обновления", "契約中", "昨日から", "老客户", "我们的账户", "昨天开始",
        "기존 고객",
    ),
    # A family business is a business: "my family's HVAC company", "Familienbetrieb", "firma rodzinna".
    "family_business": (
        "family business", "family-owned", "family owned", "family firm", "family-run",
        rf"re:\b{_MY_FAMILYS_FIRM}\b",
        "familienunternehmen", "familienbetrieb", "entreprise familiale", "empresa familiar",
        "azienda di famiglia", "azienda familiare", "a conduzione familiare", "familiebedrijf",
        r"re:\bfirm\w* rodzinn\w*|\brodzinn\w* firm\w*", "rodinná firma", "familjeföretag", "familieforetak",
        "familievirksomhed", "aile şirketi", "家族経営", "家族企業", "家族企业",
    ),
    # A buyer's compliance question ("is it GDPR compliant?"): not an account's data request.
    "compliance": (
        "gdpr compliant", "gdpr-compliant", "gdpr compliance", "conforme au rgpd", "conforme rgpd",
        "conformité rgpd", "dsgvo-konform", "dsgvo konform", "datenschutzkonform",
        r"re:\bcumpl\w* (?:con )?(?:el )?(?:rgpd|gdpr)\b", r"re:\bconforme (?:al|ao|à|a|com a) (?:rgpd|gdpr|lgpd)\b",
        "avg-proof", "avg-conform", "avg-compliant", r"re:\bzgodn\w* z rodo\b", "soc 2", "soc2",
        "iso 27001", "data residency", "hosted in the eu", "eu hosting", "server in deutschland",
        "hébergé en europe", "alojado en la ue", "hospedado na ue", "gdpr-uyumlu", "kvkk",
    ),
    "press": (
        "δημοσιογράφ*", "עיתונאי*", "כתבה", "ziarul", "journalistin",
        "journalist*", "reporter", "article", "interview*", "podcast*", "magazine",
        "newspaper", "press release", "press inquiry", "for comment", "media inquiry", "media enquiry",         "publication", "our readers", "our listeners", "documentary", "episode",
        "redakt*", "zeitschrift", "zeitung", "artikel", "beitrag", "journaliste", "revue",
        "reportage", "entretien", "presse", "periodista", "reportaje", "entrevista", "revista",
        "prensa", "jornalista", "reportagem", "matéria", "imprensa", "giornalista", "intervista",
        "rivista", "stampa", "tijdschrift", "dziennikar*", "wywiad*", "artykuł*", "redakcj*",
        "novinář*", "rozhovor", "článek", "časopis", "reportern", "tidning*", "haastattelu",
        "toimittaja", "gazeteci", "röportaj", "makale", "dergi", "журналист*", "интервью",
        "статья", "статью", "статьи", "редакци*", "журнал*", "подкаст*", "記者", "取材", "インタビュー", "記事",
        "編集", "记者", "采访", "媒体", "报道", "기자", "인터뷰", "취재", "صحفي", "مقابلة",
        "पत्रकार",
    ),
    "partner": (
        "partner*", "reseller*", "resell*", "distribut*", "affiliate*", "white label",
        "white-label", "referral*", "commission", "revenue share", "co-marketing", "co-host",
        "integration partner", "marketplace", "wiederverkäufer", "vertriebspartner*",
        "kooperation", "zusammenarbeit", "revendeur*", "revendre", "partenaire*", "partenariat",
        "revendedor*", "revender", "revenda", "parceir*", "parceria", "socio", "socios", "alianza",
        "revendedores", "rivenditor*", "rivendere", "partnership", "collaborazione",
        "wederverkoper*", "samenwerking", "partnerschap", "partnerstw*", "dystrybut*",
        "odsprzeda*", "współprac*", "prodejce", "spolupráce", "partnerství", "återförsälj*",
        "samarbete", "forhandler", "samarbeid", "jälleenmyyj*", "kumppan*", "yhteistyö*",
        "bayi*", "iş ortağı", "iş birliği", "işbirliği", "партнер*", "партнёр*", "дилер*",
        "сотрудничеств*", "代理店", "パートナー", "販売代理", "提携", "代理商", "独家代理",
        "经销", "合作伙伴", "合作", "리셀러", "파트너", "제휴", "شراكة", "موزع", "वितरक",
    ),
    "consumer": (
        # Private persons saying so, in the languages leads write in.
        "só para mim", "para mim", "uso privado", "privé", "geen bedrijf", "kein unternehmen",
        "privatperson*", "privat", "pas une entreprise", "à titre personnel", "no es una empresa",
        "no somos una empresa", "niente azienda", "prywatn*", "nie firma", "osoba prywatna",
        "side thing", "not a business really", "just a side",
        "my rent", "rent", "landlord", "my apartment", "my flat", "my car", "my dog", "my cat", "my pet", "christmas", "holiday", "vacation", "my club", "church", "my neighbo*", "grocer*", "my bills", "my budget", "my garden", "recipe*", "ipad", "my iphone", "my phone", "soccer", "football team", "my team at school", "my class", "my teacher", "my professor", "homeschool*", "tutor", "tutoring", "my debts", "wohnung", "miete", "vermieter", "weihnacht*", "urlaub", "verein", "appartement", "loyer", "noël", "vacances", "anniversaires", "particulier*", "alquiler", "piso", "navidad", "vacaciones", "aluguel", "natal", "férias", "affitto", "natale", "vacanze", "appartamento", "huur", "kerst*", "vakantie", "mieszkani*", "czynsz", "święt*", "wakacj*", "nájem", "vánoc*", "dovolen*", "hyra", "semester", "kira", "tatil", "квартир*", "аренд*", "отпуск", "новый год", "家賃", "引っ越し", "旅行", "趣味", "房租", "搬家", "旅游", "爱好",
        "survey for my", "my research", "umfrage", "encuesta", "enquête", "ankieta", "anket", "опрос*", "アンケート", "问卷", "설문", "大学", "学部", "ゼミ", "大学生", "硕士", "छात्र", "छात्रा", "طالب", "طالبة", "φοιτητ*", "διπλωματικ*", "סטודנט*", "my house", "my car", "my flat",
        "for myself", "just me", rf"re:\bmy family\b(?!'s (?:[\w-]+ ){{0,3}}{_FIRM})", "my wife",
        "my husband", "my kids", "my children", "my son", "my daughter", "my mom", "my dad",
        "my house", "my home", "our house", "wedding", "birthday", "hobby", "student",
        "personal use", "homework", "thesis", "dissertation", "school project", "class project", "university",
        "my own", "personal loan", "household", "toddler", "privat*", "persönlich*", "familie",
        "meine frau", "mein mann", "hochzeit", "wohnung", "student*", "masterarbeit",
        "bachelorarbeit", "abschlussarbeit", "hausaufgabe*", "personnel*", "famille", "maison",
        "mariage", "étudiant*", "mémoire", "anniversaire", "familia", "mi casa", "boda",
        "estudiante", "tesis", "tfg", "cumpleaños", "préstamo personal", "pessoal", "família",
        "minha casa", "casamento", "estudante", "tese", "tcc", "aniversário", "personale",
        r"re:(?<!azienda di )\bfamiglia\b", "matrimonio", "studente*", "tesi", "compleanno", "prestito personale",
        "ristrutturare casa", "persoonlijk*", "gezin", "mijn huis", "bruiloft", "scriptie",
        "prywatn*", r"re:(?<!firma )(?<!firmą )(?<!firmy )(?<!firmie )\brodzin\w*\b(?! firm)", "ślub*", "studentk*", "praca magisterska", "praca licencjacka",
        "osobní", "rodin*", "svatb*", "diplomov*", "bakalářsk*", "familj*", "bröllop",
        "uppsats", "examensarbete", "perhe*", "häät", "opinnäyte*", "kişisel", "aile*",
        "düğün", "tez", "öğrenci*", "личн*", "семь*", "свадьб*", "студент*", "диплом*",
        "курсов*", "個人的", "個人", "家族", "結婚式", "学生", "卒業論文", "論文", "宿題",
        "个人", "家人", "家庭", "婚礼", "论文", "毕业", "作业", "개인", "가족", "학생",
        "논문", "결혼식", "قرض شخصي", "عائلتي", "لعائلتي", "شخصي", "निजी", "परिवार",
        "loan", "kredit", "préstamo", "empréstimo", "prestito", "pożyczk*", "půjčk*", "кредит",
        # Retired people, friends and clubs: free time, not a business.
        "retired", "retiree", "pensioner", "rentner*", "im ruhestand", "pensionär*",
        "retraité*", "à la retraite", "jubilad*", "aposentad*", "pensionat*", "in pensione",
        "gepensioneerd*", "emeryt*", "důchodce", "for fun", "just friends", "with friends",
        "my friends", "my band", "our band", "my hobby", "meine freunde", "mit freunden",
        "mes amis", "entre amis", "mon club", "mis amigos", "con amigos", "meus amigos",
        "i miei amici", "mijn vrienden", "moi znajomi", "ze znajomymi", "mein verein",
        "mi club", "meu clube", "il mio club", "mijn club", "mój klub",
    ),
    "vendor": (
        # A seller's offer in the words pitches use, and their no-obligation sign-offs.
        "retainer*", "flat fee", "we guarantee", "free audit", "free sample", "free mockup",
        "free review of your", "costing you", "your signup flow", "your conversion*",
        "extend your", "save your team", "can i share", "can we send your", "we deliver",
        "we localise", "we localize", "we book", "i book", "unverbindlich*",
        "darf ich ihnen", "wir bieten", "bieten wir", "notre cabinet", "nous accompagnons",
        "accompagne les", "puis-je vous", "sin compromiso", "le envío", "le envio",
        "posso inviarle", "possiamo offrirle", "mag ik u", "wij maken", "sem compromisso",
        "posso enviar-lhe", "czy możemy umówić", "oferujemy", "software house*",
        "show you how", "we'd love to show", "we would love to show", "ihnen zeigen", "vous montrer", "mostrarle", "mostrar-lhe", "mostrarvi", "laten zien hoe", "pokazać", "ukázat vám", "visa er", "size göstermek", "показать вам", "ご紹介させて", "向您展示", "software house", "dev shop", "our developers", "our designers",
        "we offer", "we provide", "we help", "we specialize", "we specialise", "we build",
        "we create", "we can help", "our services", "our agency", "our team can",         "companies like yours", "would you be interested", "would you be open",
        "are you the right person", "worth a quick", "quick chat", "outsourc*",
        "offshore", "nearshore", "lead generation", "appointment setting",
        # Staffing agencies and list sellers offering what they have ready.
        "recruitment agency", "staffing agency", "candidates ready", "we have candidates",
        "personalvermittlung", "personalberatung", "kandidaten für sie", "cabinet de recrutement",
        "agence de recrutement", "agencia de reclutamiento", "agência de recrutamento",
        "agenzia di selezione", "recruitmentbureau", "wervingsbureau", "kandidaten klaar*",
        "agencja rekrutacyjn*", "contact lists", "contact data", "b2b data", "verified contacts",
        "email lists", "kontaktdaten", "fichiers de prospection", "bases de datos de contactos", "wir bieten", "bieten wir", "unsere agentur",
        "unsere dienstleistung*", "unser team kann", "wir helfen", "nous proposons",
        "nous offrons", "notre agence", "nos services", "nous aidons", "ofrecemos",
        "nuestra agencia", "nuestros servicios", "ayudamos", "podemos ayudar", "oferecemos",
        "nossa agência", "nossos serviços", "ajudamos", "offriamo", "la nostra agenzia",
        "i nostri servizi", "aiutiamo", "wij bieden", "ons bureau", "onze diensten", "wij helpen",
        "oferujemy", "nasza agencja", "nasze usługi", "pomagamy", "nabízíme", "naše agentura",
        "naše služby", "pomáháme", "vi erbjuder", "vår byrå", "våra tjänster", "vi hjälper",
        "tarjoamme", "sunuyoruz", "ajansımız", "hizmetlerimiz", "предлагаем", "наше агентство",
        "наши услуги", "помогаем", "弊社では", "ご提案", "我们提供", "我们公司专业", "为您提供",
        "저희는", "제공합니다", "نقدم", "हम प्रदान",
    ),
    "asks_free": (
        "free", "for free", "is it free", "free version", "free plan", "free account",
        "free access", "no cost", "gratis", "gratuit*", "kostenlos*", "umsonst", "gratuito",
        "gratuita", "sin costo", "de graça", "sem custo", "za darmo", "darmow*", "zdarma",
        "bezplatn*", "gratis", "avgiftsfri*", "ilmai*", "ücretsiz", "bedava", "бесплатн*",
        "無料", "タダ", "免费", "免費", "무료", "مجان*", "मुफ़्त", "मुफ्त", "ฟรี",
    ),
    # --- spam ---------------------------------------------------------------------------
    "seo_links": (
        "seo", "backlink*", "link building", "link-building", "linkbuilding", "guest post*",
        "dofollow", "domain authority", "google ranking*", "rank on google", "first page",
        "page 1", "top 3", "top 10", "top10", "top3", "organic traffic",
        "suchmaschinenoptimierung", "google-ranking", "référencement", "première page",
        "posicionamiento", "primera página", "posicionamento", "primeira página",
        "posizionamento", "prima pagina", "vindbaarheid", "pagina 1", "pozycjonowanie",
        "pierwsza strona", "optimalizace", "první stránka", "sökmotoroptimering", "hakukone*",
        "linkki*", "googlen kärkeen", "arama motoru", "продвижение сайта", "раскрутк*",
        "поисков*", "上位表示", "検索順位", "被リンク", "排名", "外链", "百度", "검색 순위",
    ),
    "scam_money": (
        "crypto*", "bitcoin", "btc", "forex", "casino*", "free spins", "bonus", "betting",
        "viagra", "cialis", "pharmacy", "pills", "lottery", "prize", "you have won",
        "congratulations", "inheritance", "beneficiary", "wire transfer", "western union",
        "bank details", "bank account", "processing fee", "passive income", "make money",
        "earn money", "work from home", "no credit check", "instant loan*", "business loan*",
        "loan approval", "get approved", "followers", "5-star reviews", "five-star reviews",
        "dating", "hot singles", "overdue", "remit",
        "award", "engraved", "listing expires", "verify your", "suspended", "credentials",
        "gewinn*", "kredit ohne", "ohne schufa", "gagner de l'argent", "félicitations",
        "préstamos", "sin aval", "ganar dinero", "felicidades", "empréstimo", "ganhar dinheiro",
        "parabéns", "vincere", "guadagn*", "prestiti", "gefeliciteerd", "geld verdienen",
        "zarab*", "pożyczki", "gratulujemy", "půjčky", "bez registru", "výhr*", "vinst",
        "kazan*", "tebrikler", "заработ*", "без вложений", "казино", "выигр*", "поздравляем",
        "биткоин*", "займ*", "儲かる", "副業", "当選", "比特币", "日赚", "稳赚", "赚钱", "代开", "代开发票", "博彩", "赌场", "qq群", "加群", "대출", "당첨", "مبروك", "جائزة",
        "ربحت", "البنكية", "लॉटरी",
    ),
    "mass_template": (
        r"re:\{\{\s*[\w .-]+\s*\}\}",
        r"re:\[(?:first[ _]?name|last[ _]?name|name|company|company[ _]?name|your company|nombre|empresa|vorname|firma|prénom|entreprise|nome|azienda)\]",
        r"re:%(?:first_?name|company)%",
        r"re:\{(?:company|company_?name|competitor|first_?name|firstname|name|website|city)\}",
        "dear sir", "dear madam", "sir/madam", "dear customer", "dear business owner",
        "dear website owner", "hope this email finds you well", "hope this finds you well",
        "kindly", "reply 'yes'", "reply yes", "reply 'no'", "reply stop", "reply 'unsubscribe'",
        "unsubscribe", "opt out", "following up on my previous", "my previous email",
        "third follow-up", "estimado cliente", "prezado cliente", "gentile cliente", "geachte heer/mevrouw",
    ),
    "phishing": (
        r"re:\.(?:pdf|doc|docx|xls|xlsx)\.(?:html?|exe|zip|js|scr)\b",
        "log in with your", "email credentials", "secure portal", "verify your account",
        "confirm your password", "account has been suspended", "unusual sign-in",
        "will be removed", "avoid suspension", "avoid collection", "collection fees",
        "purchase order", "attached invoice", "see attached",
    ),
}
# fmt: on


@lru_cache(maxsize=1)
def _compiled() -> dict[str, re.Pattern[str]]:
    return {name: terms_pattern(terms) for name, terms in CONCEPTS.items()}


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").lower()


def find_concepts(text: str) -> dict[str, list[str]]:
    """Concept name -> the distinct words that named it (first three), for concepts present."""
    text = normalise(text)
    found: dict[str, list[str]] = {}
    for name, pattern in _compiled().items():
        words: list[str] = []
        for match in pattern.finditer(text):
            word = match.group(0).strip()
            if word and word not in words:
                words.append(word)
            if len(words) >= 3:
                break
        if words:
            found[name] = words
    return found


@lru_cache(maxsize=256)
def concepts_named_by(phrase: str) -> tuple[str, ...]:
    """The concepts a phrase is one of the words for ("pricing" -> price; "Demo" -> demo), so
    an admin's English phrase also finds "Preis", "prix" or "価格". Only whole-phrase matches
    count: "budget approval" names no concept, though it contains one."""
    text = normalise(phrase).strip()
    if not text:
        return ()
    return tuple(name for name, pattern in _compiled().items() if pattern.fullmatch(text))


def find_concept(text: str, name: str) -> str | None:
    """The first word in `text` that names the concept, or None."""
    match = _compiled()[name].search(normalise(text))
    return match.group(0).strip() if match else None
