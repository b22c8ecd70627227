"""What the rules see in one lead: lexicon hits, the sender's domain, links, voice, nonsense.

Pure functions of the lead's fields; every count is explainable in a reason line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pipeline.agents.classify.lexicons import Hits, hits
from pipeline.agents.domains import is_disposable, is_free_mail, registered_domain
from pipeline.agents.injection import InjectionReport, detect_injection
from pipeline.agents.markup import MarkupFinding, find_markup
from pipeline.agents.text import EMAIL_RE, URL_RE, email_domain, links_in, words_in
from pipeline.schemas import LeadInput

_I = re.IGNORECASE

TEST_PHRASES = re.compile(
    r"\b(?:test submission|please ignore|ignore this|testing (?:the|your) form|just testing|this is a test|test message|test lead)\b",
    _I,
)
KEYBOARD_RUNS = (
    "qwert",
    "asdf",
    "zxcv",
    "yxcv",
    "azert",
    "hjkl",
    "uiop",
    "sdfg",
    "dfgh",
    "fghj",
    "ghjk",
    "wasd",
)


def _is_keyboard_or_repetition(text: str) -> bool:
    words = [word.lower() for word in words_in(text)]
    if not words:
        return False
    if len(words) >= 2 and len(set(words)) == 1:
        return True
    return sum(any(run in word for run in KEYBOARD_RUNS) for word in words) >= max(
        1, len(words) // 2
    )


TEST_SUBMISSION = re.compile(
    r"^\s*(?:test(?:ing)?(?:\s*\d*)?|asdf+|qwerty|hello|hi|hey|lorem ipsum.*|aaa+|xxx+|\.+|-+|n/?a|none|null|foo|bar|ok)\s*[.!]*\s*$",
    _I,
)


_VOWELS = set("aeiouyàáâãäåèéêëìíîïòóôõöùúûüýÿæœ")


def gibberish_ratio(text: str) -> float:
    """Share of Latin-script words that do not look like words of any human language.

    A word looks wrong when it has no vowel, a run of five consonants, or the same letter
    three times in a row. Non-Latin scripts are left alone (they are not gibberish to us).
    """
    text = EMAIL_RE.sub(" ", URL_RE.sub(" ", text or ""))
    words = [w.lower() for w in words_in(text) if len(w) >= 4 and w.isascii() and not w.isupper()]
    if not words:
        return 0.0
    bad = 0
    for word in words:
        vowels = sum(1 for char in word if char in _VOWELS)
        if vowels == 0 or vowels / len(word) < 0.15:
            bad += 1
        elif re.search(r"[^aeiouy\W\d]{5,}", word) or re.search(r"(.)\1\1", word):
            bad += 1
    return bad / len(words)


_SOURCE_MENTION = re.compile(
    r"\b(?:found|heard (?:about|of)|saw|seen|read|came across|discovered|learned about|learnt about|noticed)\s+"
    r"(?:you|your \w+|this|it|the \w+|an? \w+)?\s*(?:via|on|in|through|from|at)\s+(?:an?\s+|the\s+|your\s+)?[\w' -]{0,30}",
    _I,
)


def without_source_mentions(text: str) -> str:
    """Drop "found you via a podcast", "saw the article in the FT": how they found us, not who they are."""
    return _SOURCE_MENTION.sub(" ", text)


@dataclass
class Signals:
    """What the rules saw; every count is explainable in a reason line."""

    domain: str = ""
    is_free_mail: bool = False
    is_disposable: bool = False
    has_company: bool = False
    has_website: bool = False
    has_phone: bool = False
    words: int = 0
    links: list[str] = field(default_factory=list)
    gibberish: float = 0.0
    is_test: bool = False
    injection: InjectionReport = field(default_factory=lambda: InjectionReport(False))
    # Fields that carry HTML, script URLs or template syntax.
    markup: list[MarkupFinding] = field(default_factory=list)
    buying: Hits = field(default_factory=Hits)
    specifics: Hits = field(default_factory=Hits)
    seniority: Hits = field(default_factory=Hits)
    nurture: Hits = field(default_factory=Hits)
    job: Hits = field(default_factory=Hits)
    support: Hits = field(default_factory=Hits)
    press: Hits = field(default_factory=Hits)
    partner: Hits = field(default_factory=Hits)
    consumer: Hits = field(default_factory=Hits)
    vendor: Hits = field(default_factory=Hits)
    promo: Hits = field(default_factory=Hits)
    shouting: bool = False
    # Links to sites other than the sender's own (email domain or website field).
    foreign_links: int = 0
    # Links to a program or script file ("RFQ.pdf.exe"): a malware or phishing lure.
    program_links: list[str] = field(default_factory=list)
    # "our platform", "we offer", "your website": the sender sells to us.
    seller_voice: int = 0
    # "your pricing", "your product": the sender asks about what we sell.
    buyer_voice: int = 0
    # Writes as one person (I/my) and never as an organisation (we/our/team/company).
    individual_voice: bool = False


_SELLER_VOICE = re.compile(
    r"\bour (?:platform|product|tool|software|solution|app|service|services|agency|studio|firm|consultancy|team of|clients|offering|rates)\b"
    r"|\bwe (?:offer|provide|help|build|deliver|specialize|specialise|create|design|develop|sell|place|work with)\b"
    r"|\byour (?:company|business|website|site|homepage|marketing|growth|pipeline|revenue|bottom line|brand|team's|sales team|hiring|office|employees)\b",
    _I,
)
_BUYER_VOICE = re.compile(
    r"\byour (?:product|tool|platform|software|pricing|prices|solution|app|service|demo|plans?|api|features?|integrations?|system|offering)\b"
    r"|\bour (?:sales team|reps|sdrs|leads|inbound|enquiries|inquiries|pipeline|crm|current (?:tool|system|vendor|process))\b",
    _I,
)
_ORG_VOICE = re.compile(
    r"\b(?:we|we're|we've|we'd|our|us)\b|\bmy (?:team|company|business|firm|clients|customers|staff|employees|agency|shop|store|clinic|practice|office)\b",
    _I,
)
_SELF_VOICE = re.compile(r"\b(?:i|i'm|i've|my|me)\b", _I)


# File types that run when opened. A link's path ending in one is a lure whatever the text says.
_PROGRAM_FILE = re.compile(
    r"\.(?:exe|scr|pif|com|bat|cmd|msi|msix|vbs|vbe|js|jse|wsf|hta|jar|apk|ps1|lnk|iso|img|dmg)$",
    _I,
)


def program_links(links: list[str]) -> list[str]:
    """The links whose path (not their host: "example.com") names a program or script file."""
    found = []
    for link in links:
        path = re.sub(r"^(?:https?://)?[^/]*", "", link).split("?")[0].split("#")[0]
        if _PROGRAM_FILE.search(path.rstrip(".,;:!)")):
            found.append(link)
    return found


def _foreign_links(links: list[str], email_domain_name: str, website: str) -> int:
    own = {registered_domain(email_domain_name)} if email_domain_name else set()
    site = re.sub(r"^https?://", "", website.strip().lower()).split("/")[0]
    if site:
        own.add(registered_domain(site.removeprefix("www.")))
    count = 0
    for link in links:
        host = re.sub(r"^https?://", "", link.lower()).split("/")[0].removeprefix("www.")
        if registered_domain(host) not in own:
            count += 1
    return count


def collect_signals(lead: LeadInput) -> Signals:
    message = lead.message or ""
    domain = email_domain(lead.email)
    letters = [char for char in message if char.isalpha()]
    upper = sum(1 for char in letters if char.isupper())
    name_and_message = f"{lead.name} {message}"
    return Signals(
        domain=domain,
        is_free_mail=bool(domain) and is_free_mail(domain),
        is_disposable=bool(domain) and is_disposable(domain),
        has_company=bool(lead.company.strip())
        and lead.company.strip().lower()
        not in {"n/a", "na", "none", "-", "self", "personal", "individual", "private", "test"},
        has_website=bool(lead.website.strip()),
        has_phone=sum(char.isdigit() for char in lead.phone) >= 7,
        words=len(words_in(message)),
        links=links_in(message),
        gibberish=gibberish_ratio(name_and_message if len(words_in(message)) < 4 else message),
        is_test=bool(TEST_SUBMISSION.match(message))
        or not message.strip()
        or bool(TEST_PHRASES.search(message) and len(words_in(message)) < 15)
        or _is_keyboard_or_repetition(message),
        injection=detect_injection(lead),
        markup=find_markup(lead),
        buying=hits("buying", message),
        specifics=hits("specifics", message),
        seniority=hits(
            "seniority",
            f"{message}\n{lead.custom_fields.get('title', '')}\n{lead.custom_fields.get('job_title', '')}",
        ),
        nurture=hits("nurture", message),
        job=hits("job", message),
        support=hits("support", message),
        press=hits("press", without_source_mentions(message)),
        partner=hits("partner", message),
        consumer=hits("consumer", message),
        vendor=hits("vendor", message),
        promo=hits("promo", message),
        shouting=len(letters) >= 30 and upper / len(letters) > 0.6,
        foreign_links=_foreign_links(links_in(message), domain, lead.website),
        program_links=program_links(links_in(message)),
        seller_voice=len(_SELLER_VOICE.findall(message)),
        buyer_voice=len(_BUYER_VOICE.findall(message)),
        individual_voice=bool(_SELF_VOICE.search(message))
        and not _ORG_VOICE.search(message)
        and not (lead.company.strip()),
    )
