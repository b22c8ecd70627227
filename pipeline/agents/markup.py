"""Markup in a lead's fields: HTML tags, event handlers, script URLs, CSS expressions, templates.

A contact form takes plain text; markup in it is a probe (someone testing what we render) or a
form that pastes HTML. It may still be a real lead, so it is a flag, not a label: the lead goes
to a human, never gets an automatic reply, and its text is shown escaped. Pure code.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from pipeline.schemas import LeadInput

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # An opening, closing or self-closing tag: "<b>", "</div>", "<img src=x>", "<br/>". An email
    # address or URL in angle brackets ("<ana@acme.example>") is not a tag.
    ("HTML tag", re.compile(r"<\s*/?\s*[a-z][a-z0-9-]*(?:\s[^<>]*)?/?\s*>", re.IGNORECASE)),
    ("HTML comment", re.compile(r"<!--|<!\[CDATA\[", re.IGNORECASE)),
    (
        "event handler",
        re.compile(r"(?<![\w-])on[a-z]{3,20}\s*=\s*[\"'`]?[\w(]", re.IGNORECASE),
    ),
    ("script URL", re.compile(r"(?<![\w-])(?:java|vb)script\s*:", re.IGNORECASE)),
    ("data URL", re.compile(r"(?<![\w-])data\s*:\s*[a-z]+/[a-z0-9.+-]+\s*[;,]", re.IGNORECASE)),
    (
        "CSS expression",
        re.compile(
            r"expression\s*\(|url\s*\(\s*[\"']?\s*(?:java|vb)script|@import\s|behaviou?r\s*:",
            re.IGNORECASE,
        ),
    ),
    ("template syntax", re.compile(r"\{\{|\{%|\$\{|<%")),
)

# Fields a lead can fill; custom fields are read too.
_FIELDS = ("name", "company", "website", "phone", "message")


@dataclass(frozen=True)
class MarkupFinding:
    field: str
    kind: str


def find_markup(lead: LeadInput) -> list[MarkupFinding]:
    """Each field that carries markup, with the first kind found in it."""
    values = [(name, getattr(lead, name) or "") for name in _FIELDS]
    values += [(f"custom:{key}", str(value)) for key, value in lead.custom_fields.items()]
    findings = []
    for field_name, value in values:
        kind = markup_kind(value)
        if kind:
            findings.append(MarkupFinding(field_name, kind))
    return findings


def markup_kind(text: str) -> str:
    """The first kind of markup in the text ("" when none); entity-encoded tags count too."""
    if not text:
        return ""
    for candidate in (text, html.unescape(text)):
        for kind, pattern in _PATTERNS:
            if pattern.search(candidate):
                return kind
    return ""
