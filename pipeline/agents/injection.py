"""Rules that spot a lead trying to instruct our models (prompt injection).

A detected attempt flags the lead: it is never auto-sent, and a human reads the draft. The rules
look for the shapes such attempts take, not for exact sentences: overriding instructions, fake
role lines (SYSTEM:, [INST], <|im_start|>), asking for the prompt, asking for other customers'
data, steering our outcome (score, label, auto-approval), and closing our delimiters.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import unquote_plus

from confusable_homoglyphs import confusables

from pipeline.schemas import LeadInput

_I = re.IGNORECASE
_IM = re.IGNORECASE | re.MULTILINE

_OVERRIDE_VERBS = r"(?:ignore|disregard|forget|override|bypass|skip|drop|abandon)"
_PRIOR = r"(?:all|any|the|your|my|these|those|every|previous|prior|above|earlier|preceding|initial|original|system|existing|former|\s)*"
_RULE_NOUNS = r"(?:instructions?|prompts?|rules|guidelines|directions|directives|guardrails|constraints|restrictions|context|programming|policies|policy)"

PATTERNS: dict[str, list[re.Pattern[str]]] = {
    "instruction_override": [
        re.compile(rf"\b{_OVERRIDE_VERBS}\b{_PRIOR}{_RULE_NOUNS}\b", _I),
        re.compile(
            rf"\b(?:ignore|disregard|override|bypass)\s+(?:all\s+|any\s+)?(?:your|the|its)\s+\w+\s+{_RULE_NOUNS}\b",
            _I,
        ),
        re.compile(r"\b(?:new|updated|revised|real|actual)\s+(?:system\s+)?instructions?\s*:", _I),
        re.compile(r"\bfrom now on,?\s+(?:you|the assistant|ai)\b", _I),
        re.compile(
            r"\b(?:ignore|disregard|forget)\s+(?:all\s+|everything\s+)?(?:the\s+|that\s+|this\s+)?(?:above|previous|prior|preceding|earlier)\b(?!\s+(?:email|message|note|mail|submission|request))",
            _I,
        ),
        re.compile(r"\byou are (?:now|no longer)\b", _I),
        # The same override in the other languages leads arrive in.
        re.compile(
            r"\b(?:ignorier\w*|vergiss|vergessen sie|missachte\w*)\s+(?:\w+\s+){0,3}(?:anweisungen|instruktionen|regeln|vorgaben)\b"
            r"|\b(?:ignor\w*|oubli\w*)\s+(?:\w+\s+){0,3}(?:instructions|consignes)\b"
            r"|\b(?:ignora\w*|olvida\w*|omite|omitir)\s+(?:\w+\s+){0,3}(?:instrucciones|reglas|indicaciones)\b"
            r"|\b(?:ignor\w*|esque[çc]\w*|desconsider\w*)\s+(?:\w+\s+){0,3}(?:instruções|instrucoes|regras)\b"
            r"|\b(?:ignora\w*|dimentic\w*)\s+(?:\w+\s+){0,3}(?:istruzioni|regole)\b"
            r"|\b(?:negeer|vergeet)\s+(?:\w+\s+){0,3}(?:instructies|regels|opdrachten)\b"
            r"|\b(?:zignoruj|ignoruj|zapomnij)\w*\s+(?:\w+\s+){0,3}(?:instrukcje|instrukcji|polecenia|zasady)\b"
            r"|\b(?:ignoruj|zapome[ňn])\w*\s+(?:\w+\s+){0,3}(?:instrukce|pokyny|pravidla)\b"
            r"|\b(?:ignorera|glöm|glem)\s+(?:\w+\s+){0,3}(?:instruktioner|instruksjoner|regler)\b"
            r"|\b(?:talimatları|kuralları)\s+(?:\w+\s+){0,2}(?:yok say|unut|görmezden)"
            r"|(?:игнорируй|игнорировать|проигнорируй|забудь)\w*\s+(?:\w+\s+){0,3}(?:инструкции|указания|правила)"
            r"|(?:指示|命令|指令|ルール)を(?:すべて|全て)?(?:無視|忘れ)"
            r"|(?:忽略|无视|忘记|忽視|無視|忘記)[^。！\n]{0,8}(?:指令|指示|规则|規則|提示)",
            _I,
        ),
        re.compile(
            r"\b(?:do not|don't) follow (?:your|the|any) (?:previous |prior |original )?(?:instructions|rules)\b",
            _I,
        ),
    ],
    "fake_role_line": [
        re.compile(
            r"^\s*[\[(<#*]*\s*(?:system|assistant|developer|admin|administrator|operator)\s*(?:message|prompt|note|override)?\s*[\])>*]*\s*:",
            _IM,
        ),
        re.compile(
            r"\[/?(?:system|inst|sys)\]|<<\s*/?sys\s*>>|<\|\s*(?:im_start|im_end|system|endoftext)\s*\|>",
            _I,
        ),
        re.compile(
            r"</?\s*(?:system|instructions?|lead_submission|context|assistant|message|label|classification|prompt)\s*>",
            _I,
        ),
        re.compile(r"^\s*#{2,}\s*(?:system|instructions?|new task)\b", _IM),
        # The same role lines in the other languages leads arrive in, and as chat-format JSON.
        re.compile(
            r"^\s*[\[(<#*]*\s*(?:système|systeme|sistema|systém|systeem|systemnachricht|systemhinweis|systemanweisung"
            r"|assistente|asistente|assistent|asystent|administrateur|administrador|amministratore|beheerder)"
            r"\s*(?:message|prompt|note|nota|hinweis|override)?\s*[\])>*]*\s*:",
            _IM,
        ),
        re.compile(r"[\"']role[\"']\s*:\s*[\"'](?:system|assistant|developer)[\"']", _I),
        re.compile(
            r"\b(?:label|classification|intent|lead[_ ]score|score)\s*[=:]\s*[\"']?(?:high[_ -]?intent|hot|enterprise|vip|qualified|100)\b"
            r"|\bpriority\s*=\s*(?:high|urgent|top|vip)\b",
            _I,
        ),
        # The same label in the middle of a line or inside an HTML comment, followed by an order.
        re.compile(
            r"(?:<!--[^>]{0,40}|[(\[{}>.?!:;,]\s*)\b(?:ai|a\.i\.|assistant|classifier|llm|bot|model|system)\s*:\s*"
            r"(?:please\s+)?(?:ignore|mark|classify|label|tag|give|set|output|print|reveal|approve|send|forward|treat|score|share|rate|reply|respond|include|add|notify|escalate|prioriti[sz]e)\b",
            _I,
        ),
        re.compile(r"<!--[^>]*\b(?:ai|assistant|classifier|llm|chatbot|gpt|model)\b[^>]*-->", _I),
    ],
    "prompt_extraction": [
        re.compile(
            r"\b(?:reveal|show|print|repeat|output|display|share|leak|dump|recite|tell me|give me|send me|paste|include)\b"
            r"[\w\s,']{0,30}\b(?:system prompt|prompt|instructions|initial instructions|hidden instructions|configuration|guidelines you)\b",
            _I,
        ),
        re.compile(
            r"\bwhat (?:are|were) your (?:instructions|rules|guidelines|system prompt)\b", _I
        ),
        re.compile(r"\bsystem\s+prompt\b", _I),
        re.compile(
            r"\bsystemprompt\b|\bprompt (?:système|systeme|del sistema|do sistema|di sistema)\b"
            r"|\bsystemowy prompt\b|системн\w+ (?:промпт|подсказк\w*|инструкци\w*)"
            r"|システムプロンプト|系统提示|系統提示",
            _I,
        ),
        re.compile(
            r"\b(?:verbatim|word for word)\b[\w\s]{0,30}\b(?:instructions|prompt|above)\b", _I
        ),
    ],
    "data_exfiltration": [
        # Markdown images or links that would carry data out: {{all_customer_emails}}, PASTE_...
        re.compile(
            r"\{\{\s*\w*(?:customer|lead|user|client|email|prompt|secret|key)\w*\s*\}\}"
            r"|!\[[^\]]*\]\(https?://[^)]*[?&]\w+="
            r"|\bPASTE_\w+",
            _I,
        ),
        re.compile(
            r"\b(?:other|another|previous|all|every)\s+(?:of\s+your\s+)?(?:customers?|clients?|leads?|users?|submissions?|prospects?)(?:'s?)?\s+"
            r"(?:data|e-?mails?|e-?mail addresses|addresses|phone numbers|records|contact details|messages|submissions)\b",
            _I,
        ),
        # Buyers speak of their own customers ("export our customer list with emails"); an
        # attack asks for the customers of the company it writes to.
        re.compile(
            r"\b(?:list|export|dump|send|share|give)\b(?:(?!\b(?:our|my)\b)[\w\s]){0,25}\b(?:customers?|clients?|leads?|users?)\b[\w\s]{0,15}\b(?:with|and|including)\s+(?:their\s+)?(?:e-?mails?|phone numbers|contact details)\b",
            _I,
        ),
        re.compile(
            r"\b(?:e-?mail addresses|e-?mails|phone numbers|contact details|personal data)\s+(?:of|for|from)\s+(?:your\s+|the\s+)?(?:other|previous|all|existing|past)?\s*(?:customers|clients|leads|users|prospects)\b",
            _I,
        ),
        re.compile(
            r"\b(?:prices?|price list|pricing|discounts?|contracts?|deals?|data|details)\s+(?:of|for|from|with)\s+(?:your\s+|the\s+)?(?:other|all|existing|previous)\s+(?:customers|clients|leads|users|accounts)\b",
            _I,
        ),
        re.compile(
            # Credentials need a verb that asks for them: "we forgot our admin password" is support.
            r"\b(?:internal notes|database dump|(?:stored|all (?:the |your )?)api keys?|(?:stored|all (?:the |your )?)credentials)\b"
            r"|\b(?:list|table|dump|export|database)\s+of\s+(?:all\s+)?(?:your\s+|the\s+)?(?:other\s+)?(?:customers?|clients?|leads?|users?)(?:'s?)?\s+(?:e-?mails?|e-?mail addresses|phone numbers|passwords|contact details)\b"
            r"|\bexport\s+(?:the\s+|your\s+)?(?:leads?|customers?|users?|contacts?|clients?)\s+(?:table|database)\b"
            r"|\b(?:api-schlüssel|clés? api|claves? api|chaves? api|chiavi api|api-sleutels?|klucze api)\b[^.\n]{0,30}\b(?:preisgeben|zeigen|révél\w*|montr\w*|revel\w*|mostr\w*|rivel\w*|onthul\w*|ujawni\w*|poda\w*)"
            r"|\b(?:reveal|print|dump|leak)\b[^.\n]{0,25}\b(?:admin password|passwords|api keys?|access tokens?|credentials)\b"
            r"|\b(?:give me|send me|tell me|share)\b[^.\n]{0,25}\b(?:admin password|passwords|api keys|access tokens|credentials)\b",
            _I,
        ),
    ],
    "outcome_manipulation": [
        re.compile(
            r"\b(?:classify|label|mark|tag|categori[sz]e|flag|treat|rate|score)\s+(?:this|me|my|the)\s*(?:lead|message|submission|request|enquiry|inquiry)?\s+"
            r"(?:as|with)\s+(?:a\s+)?(?:high[\s_-]?intent|hot|qualified|priority|vip|urgent|100|top)",
            _I,
        ),
        re.compile(
            r"\b(?:set|give|assign|make)\s+(?:my|this|the)\s+(?:lead\s+)?(?:score|rating|priority)\s+(?:to|of|=)\s*\d+",
            _I,
        ),
        re.compile(r"\bauto[\s-]?(?:approve|send)\s+(?:this|my|me|the reply|the draft)\b", _I),
        re.compile(
            r"\b(?:als|comme|como|come|jako|som|olarak|как|tot)\s+\W?high[\s_-]?intent\b", _I
        ),
        re.compile(
            r"\b(?:skip|bypass)\s+(?:the\s+)?(?:human\s+)?(?:review|approval)\s+(?:for|of|on)\s+(?:this|my|me)\b",
            _I,
        ),
        re.compile(
            r"\b(?:respond|reply|answer|write)\s+(?:only\s+)?with\s+(?:the\s+)?(?:word|json|exactly|following)\b",
            _I,
        ),
        re.compile(
            r"\b(?:offer|give|promise)\s+(?:me|us)\s+(?:a\s+)?\d+\s?%\s+(?:discount|off)\b", _I
        ),
        re.compile(
            r"\b(?:give|offer|promise|apply|grant|approve|send)\s+(?:me|us)?\s*(?:the|a|an)?\s*\d+\s?%\s+(?:\w+\s+)?(?:discount|off)\b",
            _I,
        ),
        re.compile(
            r"\b(?:classifier|model|assistant|ai|system|bot)\s+(?:must|should|shall|will|has to)\s+(?:output|return|answer|classify|label|mark|score|respond)\b",
            _I,
        ),
        # Steering the review itself: "do not flag this", "this lead is pre-approved".
        re.compile(
            r"\b(?:do not|don't|never)\s+(?:flag|review|escalate|filter|screen)\s+(?:this|me|it|my)\b"
            r"|\b(?:mark|treat|classify|tag)\s+(?:this|it|me)\s+as\s+(?:safe|not spam|legitimate|verified|whitelisted)\b"
            r"|\bthis (?:message|lead|request|submission|email) (?:is|has been) (?:pre-?approved|verified|whitelisted|authori[sz]ed)\b",
            _I,
        ),
        # A discount demanded rather than asked about.
        re.compile(
            r"\b(?:demand|insist on|entitled to|expect|require)\w*\s+(?:a\s+|an\s+|the\s+)?\d+\s?%\s+(?:\w+\s+)?(?:discount|off)\b"
            r"|\b100\s?%\s+discount\b|\b(?:free forever|lifetime free|free for life)\b",
            _I,
        ),
        re.compile(
            r"\b(?:classify|label|mark|tag|categori[sz]e|score)\s+as\s+(?:an?\s+)?(?:high[\s_-]?intent|hot|qualified|priority|vip|enterprise|top)\b",
            _I,
        ),
    ],
    "ai_addressed": [
        re.compile(
            r"\b(?:note|message|instructions?|attention) (?:to|for) (?:the )?(?:classifier|scoring (?:model|system)|ranking system|triage system|ai|assistant)\b"
            r"|\b(?:whichever|any|every) (?:ai|assistant|bot|model|llm)\b[^.\n]{0,20}\bread"
            r"|\bif an? (?:ai|llm|language model|ai model|assistant|bot)\b[^.\n]{0,20}\b(?:is )?read"
            r"|\b(?:instrucci[oó]n|instru[cç][aã]o|istruzion[ei]|anweisung|instructie|instrukcja|consigne)\w*\s+(?:para|per|für|voor|dla|pour)\s+(?:el |la |o |a |il |l'|den |die |de |le )?(?:asistente|assistente|assistenten|assistent|asystenta|assistant|ki|ia|ai|bot|modelo|modell|model)\b",
            _I,
        ),
        re.compile(
            r"\b(?:dear|hey|hi|hello|note to(?: the)?|attention|message for(?: the)?|to the)\s+(?:ai|a\.i\.|assistant|ai assistant|chatbot|bot|gpt|chatgpt|claude|llm|language model|model|automated system|screening system)\b",
            _I,
        ),
        re.compile(
            r"\bif you(?:'re| are) an? (?:ai|assistant|bot|language model|llm|automated)\b", _I
        ),
        # Addressed to "the AI" in the other languages: an die KI, à l'IA, para la IA, voor de AI.
        re.compile(
            r"\b(?:an die|für die|liebe|hallo|à l'|pour l'|chère|para la|para a|a la|per l'|all'|cara|voor de|beste|dla)\s*(?:ki|ia|ai)\b"
            r"|\b(?:ki|ia)-?(?:assistent\w*|asistente|assistente|assistant)\b|\bassistant (?:ia|ai)\b",
            _I,
        ),
        re.compile(
            r"\b(?:ai|assistant|bot|model|llm|gpt)s? (?:reading|processing|screening|reviewing) this\b",
            _I,
        ),
        re.compile(
            r"\byou(?:'re| are) (?:an? |just an? )?(?:ai|a\.i\.|assistant|language model|chatbot|llm|bot)\b",
            _I,
        ),
        re.compile(
            r"\bas an ai\b|\b(?:your|these|new|my|the following|hidden) instructions\b|\boverride\b",
            _I,
        ),
        re.compile(
            r"\b(?:end|beginning|begin|start) of (?:the )?(?:prompt|submission|user input|input|instructions|system message)\b",
            _I,
        ),
    ],
    "reply_manipulation": [
        re.compile(
            r"\b(?:in|to|into) (?:your|the) (?:reply|response|answer|email|draft)\b[^.\n]{0,60}\b(?:include|add|say|write|mention|put|insert|state|confirm|promise|guarantee|offer|agree)\b",
            _I,
        ),
        re.compile(
            r"\b(?:include|add|put|insert|append|write)\b[^.\n]{0,60}\b(?:in|into|to) (?:your|the) (?:reply|response|answer|email|draft)\b",
            _I,
        ),
        re.compile(
            r"\bthis lead (?:is|should be)\s+(?:marked|classified|scored|treated|approved|qualified|a priority|high)",
            _I,
        ),
        re.compile(r"\b(?:approve|qualify|prioriti[sz]e) this lead\b", _I),
        re.compile(
            r"\brepeat after me\b|\bsay (?:the word|exactly|only)\b|\boutput (?:only|exactly|the word)\b",
            _I,
        ),
    ],
    "role_play": [
        re.compile(
            r"\b(?:act|behave|respond|pretend|roleplay|role-play)\s+(?:as|like|to be)\s+(?:an?\s+)?(?:unrestricted|unfiltered|jailbroken|different|evil|admin|developer|system|dan|root)\b",
            _I,
        ),
        re.compile(r"\b(?:jailbreak|dan mode|developer mode|god mode|sudo mode)\b", _I),
    ],
}


@dataclass(frozen=True)
class InjectionReport:
    detected: bool
    categories: list[str] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return (
            "possible prompt injection (" + ", ".join(self.categories) + ")"
            if self.detected
            else ""
        )


def _normalise(text: str) -> str:
    # Fold look-alike characters and drop zero-width ones people use to dodge filters.
    text = unicodedata.normalize("NFKC", text or "")
    text = re.sub(r"[\u200b-\u200f\u2060\ufeff]", "", text)
    return fold_confusables(text)


# Digits and signs written for letters in words that are mostly letters ("Ign0re prev1ous
# instruct1ons"). Numbers, ids and codes ("16", "Q3", "2FA") are left alone.
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
_LEET_WORD = re.compile(r"[A-Za-z0-9@$]*[A-Za-z][A-Za-z0-9@$]*")


def fold_leet(text: str) -> str:
    """Read a word that mixes letters with look-alike digits as letters: "prev1ous" is "previous"."""

    def fold(match: re.Match[str]) -> str:
        word = match.group(0)
        letters = sum(char.isalpha() for char in word)
        if letters < 3 or letters == len(word) or letters < len(word) / 2:
            return word
        return word.translate(_LEET)

    return _LEET_WORD.sub(fold, text)


# Uppercase Cyrillic/Greek I-shapes read as "I" in a Latin word, though the confusables table
# maps them to "l" (its skeleton); "Іgnore" is meant as "Ignore".
_I_SHAPES = {"\u0406": "I", "\u04c0": "I", "\u0399": "I"}
_WORD = re.compile(r"\w+")


@lru_cache(maxsize=4096)
def _latin_look_alike(char: str) -> str:
    if char in _I_SHAPES:
        return _I_SHAPES[char]
    found = confusables.is_confusable(char, greedy=True, preferred_aliases=["latin"])
    for homoglyph in found[0]["homoglyphs"] if found else ():
        if homoglyph["c"].isascii():
            return homoglyph["c"]
    return char


def _is_latin(char: str) -> bool:
    return char.isascii() or "LATIN" in unicodedata.name(char, "")


def fold_confusables(text: str) -> str:
    """Words that mix Latin letters with look-alikes from other scripts ("Іgnоrе", Cyrillic
    І, о, е) are read in Latin, from the Unicode confusables table. Words written wholly in
    another script (real Russian, Greek) are left as they are."""

    def fold(match: re.Match[str]) -> str:
        word = match.group(0)
        letters = [char for char in word if char.isalpha()]
        if not any(char.isascii() for char in letters) or all(_is_latin(c) for c in letters):
            return word
        return "".join(char if _is_latin(char) else _latin_look_alike(char) for char in word)

    return _WORD.sub(fold, text)


_BASE64_RUN = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


def decoded_runs(text: str) -> list[str]:
    """Plausible base64 runs and URL-encoded text, decoded: instructions hidden from the eye.

    A run counts when it decodes to UTF-8 text that reads as words (mostly letters and spaces),
    so ids, hashes and tokens that happen to be valid base64 are left out.
    """
    decoded = []
    for run in _BASE64_RUN.findall(text):
        padded = run + "=" * (-len(run) % 4)
        try:
            plain = base64.b64decode(padded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            continue
        readable = sum(char.isalpha() or char.isspace() for char in plain)
        if len(plain) >= 8 and " " in plain and readable / len(plain) >= 0.85:
            decoded.append(plain)
    if len(_PERCENT_ESCAPE.findall(text)) >= 2:
        decoded.append(unquote_plus(text))
    return decoded


def detect_injection(lead: LeadInput) -> InjectionReport:
    """Look at every free-text field of the submission, not just the message, and at any
    base64 or URL-encoded text hidden in it."""
    fields = [lead.message, lead.name, lead.company, lead.website, *lead.custom_fields.values()]
    text = "\n".join(value for value in fields if value)
    text = _normalise("\n".join([text, *decoded_runs(text)]))
    text = "\n".join(dict.fromkeys([text, fold_leet(text)]))
    categories = [
        name for name, patterns in PATTERNS.items() if any(p.search(text) for p in patterns)
    ]
    return InjectionReport(detected=bool(categories), categories=categories)


def without_injection(text: str) -> str:
    """The text with every span an injection pattern matches blanked out."""
    text = _normalise(text)
    for patterns in PATTERNS.values():
        for pattern in patterns:
            text = pattern.sub(" ", text)
    return text
