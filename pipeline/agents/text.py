"""Small text helpers the agents share: addresses, links, names, and the submission as prompt data."""

from __future__ import annotations

import re
import unicodedata

from pipeline.schemas import LeadInput

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
# http(s) links, www. links, and bare domains with a common TLD ("bit.ly/x", "cheap-pills.ru").
_TLDS = (
    "com|net|org|io|co|ru|cn|xyz|top|info|biz|site|online|shop|store|club|link|ly|me|app|dev|ai"
    "|us|uk|de|fr|es|it|nl|pl|in|br|tk|ml|ga|cf|gq|pw|cc|vip|win|bid|loan|click|work|live|tech"
    "|space|website|fun|icu|pro|agency|digital|media|today|news|ws|su|ua|kz|vn|ph|id|gl|gd|to"
)
_NOT_LINKS = frozenset({"asp.net", "ado.net", "vb.net", "dot.net"})
URL_RE = re.compile(
    r"(?:https?://[^\s<>\"')\]]+|www\.[^\s<>\"')\]]+"
    rf"|\b[a-z0-9][a-z0-9\-]*(?:\.[a-z0-9\-]+)*\.(?:{_TLDS})\b(?:/[^\s<>\"')\]]*)?)(?!@)(?!\.\w)",
    re.IGNORECASE,
)
_WORD_RE = re.compile(r"[^\W\d_]+", re.UNICODE)


def email_domain(email: str) -> str:
    email = (email or "").strip().lower()
    return email.rsplit("@", 1)[1].rstrip(".") if "@" in email else ""


def links_in(text: str) -> list[str]:
    """Links and bare domains in the text, ignoring e-mail addresses."""
    found = URL_RE.findall(EMAIL_RE.sub(" ", text or ""))
    return [link for link in found if link.lower() not in _NOT_LINKS]


def words_in(text: str) -> list[str]:
    return _WORD_RE.findall(text or "")


def first_name(name: str) -> str:
    """A first name fit for "Hi <name>," or "" when the field does not look like a name."""
    name = unicodedata.normalize("NFKC", name or "").strip()
    if not name or "@" in name or any(char in name for char in "{}[]<>$#/\\|:;=*_"):
        return ""
    first = name.split()[0].strip(".,")
    if not first.replace("-", "").replace("'", "").isalpha() or len(first) > 30:
        return ""
    if len(first) == 1 or first.lower() in {"mr", "mrs", "ms", "dr", "prof", "test", "none", "n/a"}:
        parts = name.split()
        return first_name(" ".join(parts[1:])) if len(parts) > 1 and len(first) <= 4 else ""
    return first[0].upper() + first[1:] if first.islower() or first.isupper() else first


def format_submission(lead: LeadInput, *, max_message_chars: int = 6000) -> str:
    """The submission as labelled lines: what goes inside the untrusted-data delimiters."""
    lines = [
        f"Name: {lead.name}",
        f"Email: {lead.email}",
        f"Company: {lead.company}",
        f"Website: {lead.website}",
        f"Phone: {lead.phone}",
    ]
    for key, value in sorted(lead.custom_fields.items()):
        lines.append(f"{key}: {value}")
    lines.append("Message:")
    lines.append((lead.message or "")[:max_message_chars])
    return "\n".join(lines)
