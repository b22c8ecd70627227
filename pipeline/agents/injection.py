"""Rules that spot a lead trying to instruct our models (prompt injection).

A detected attempt flags the lead: it is never auto-sent, and a human reads the draft. The rules
look for the shapes such attempts take, not for exact sentences: overriding instructions, fake
role lines (SYSTEM:, [INST], <|im_start|>), asking for the prompt, asking for other customers'
data, steering our outcome (score, label, auto-approval), and closing our delimiters.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from pipeline.agents.types import LeadInput

_I = re.IGNORECASE
_IM = re.IGNORECASE | re.MULTILINE

_OVERRIDE_VERBS = r"(?:ignore|disregard|forget|override|bypass|skip|drop|abandon)"
_PRIOR = r"(?:all|any|the|your|my|these|those|every|previous|prior|above|earlier|preceding|initial|original|system|existing|former|\s)*"
_RULE_NOUNS = r"(?:instructions?|prompts?|rules|guidelines|directions|directives|guardrails|constraints|restrictions|context|programming|policies|policy)"

PATTERNS: dict[str, list[re.Pattern[str]]] = {
    "instruction_override": [
        re.compile(rf"\b{_OVERRIDE_VERBS}\b{_PRIOR}{_RULE_NOUNS}\b", _I),
        re.compile(r"\b(?:new|updated|revised|real|actual)\s+(?:system\s+)?instructions?\s*:", _I),
        re.compile(r"\bfrom now on,?\s+(?:you|the assistant|ai)\b", _I),
        re.compile(
            r"\b(?:ignore|disregard|forget)\s+(?:all\s+|everything\s+)?(?:the\s+|that\s+|this\s+)?(?:above|previous|prior|preceding|earlier)\b(?!\s+(?:email|message|note|mail|submission|request))",
            _I,
        ),
        re.compile(r"\byou are (?:now|no longer)\b", _I),
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
        re.compile(r"</?\s*(?:system|instructions?|lead_submission|context|assistant)\s*>", _I),
        re.compile(r"^\s*#{2,}\s*(?:system|instructions?|new task)\b", _IM),
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
            r"\b(?:verbatim|word for word)\b[\w\s]{0,30}\b(?:instructions|prompt|above)\b", _I
        ),
    ],
    "data_exfiltration": [
        re.compile(
            r"\b(?:other|another|previous|all|every)\s+(?:of\s+your\s+)?(?:customers?|clients?|leads?|users?|submissions?|prospects?)(?:'s?)?\s+"
            r"(?:data|e-?mails?|e-?mail addresses|addresses|phone numbers|records|contact details|messages|submissions)\b",
            _I,
        ),
        re.compile(
            r"\b(?:list|export|dump|send|share|give)\b[\w\s]{0,25}\b(?:customers?|clients?|leads?|users?)\b[\w\s]{0,15}\b(?:with|and|including)\s+(?:their\s+)?(?:e-?mails?|phone numbers|contact details)\b",
            _I,
        ),
        re.compile(
            r"\b(?:e-?mail addresses|e-?mails|phone numbers|contact details|personal data)\s+(?:of|for|from)\s+(?:your\s+|the\s+)?(?:other|previous|all|existing|past)?\s*(?:customers|clients|leads|users|prospects)\b",
            _I,
        ),
        re.compile(
            r"\b(?:internal notes|database dump|your api keys?|your credentials|admin password)\b",
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
    ],
    "ai_addressed": [
        re.compile(
            r"\b(?:dear|hey|hi|hello|note to(?: the)?|attention|message for(?: the)?|to the)\s+(?:ai|a\.i\.|assistant|ai assistant|chatbot|bot|gpt|chatgpt|claude|llm|language model|model|automated system|screening system)\b",
            _I,
        ),
        re.compile(
            r"\bif you(?:'re| are) an? (?:ai|assistant|bot|language model|llm|automated)\b", _I
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
            r"\b(?:in|to|into) (?:your|the) (?:reply|response|answer|email|draft)\b[^.\n]{0,60}\b(?:include|add|say|write|mention|put|insert|state)\b",
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
    return re.sub(r"[\u200b-\u200f\u2060\ufeff]", "", text)


def detect_injection(lead: LeadInput) -> InjectionReport:
    """Look at every free-text field of the submission, not just the message."""
    fields = [lead.message, lead.name, lead.company, lead.website, *lead.custom_fields.values()]
    text = _normalise("\n".join(value for value in fields if value))
    categories = [
        name for name, patterns in PATTERNS.items() if any(p.search(text) for p in patterns)
    ]
    return InjectionReport(detected=bool(categories), categories=categories)
