"""An inbound email, whatever shape its provider posts it in, as one ParsedEmail.

Accepted shapes (the first that fits wins):
- a raw RFC 5322 message: the body itself (Content-Type message/rfc822), or a `raw` field
  (SendGrid's "post the raw MIME" option sends it as `email`);
- Postmark's inbound JSON (`FromFull`, `TextBody`, `HtmlBody`, `Headers: [{Name, Value}]`);
- Mailgun's route form post (`body-plain`, `body-html`, `Message-Id`, `message-headers`);
- SendGrid's Inbound Parse form post (`headers` as a raw header block, `text`, `html`);
- the parsed fields themselves: from, to, subject, text, html, message_id, in_reply_to,
  references (any case, `-` or `_`; `Message-ID` works too).

Bodies are JSON, URL-encoded or multipart forms (SendGrid and Mailgun post multipart), or the
raw message. What is not an email (no From address) is refused with a 400 saying why.
"""

from __future__ import annotations

import email
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import HeaderParser
from email.utils import getaddresses, parseaddr
from typing import Any

from selectolax.lexbor import LexborHTMLParser

from pipeline.intake.errors import IntakeError
from pipeline.intake.normalize import scrub_text
from pipeline.intake.webhooks import FORM, JSON, decode_body, parse_payload

logger = logging.getLogger(__name__)

RAW = "raw"
MULTIPART = "multipart"
MAX_MULTIPART_FIELDS = 200
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")

# Provider field -> our field; the headers each provider posts apart are read separately.
POSTMARK_FIELDS = {"From": "from", "To": "to", "Subject": "subject", "TextBody": "text",
                   "HtmlBody": "html"}  # fmt: skip
MAILGUN_FIELDS = {"from": "from", "To": "to", "subject": "subject", "body-plain": "text",
                  "body-html": "html", "Message-Id": "message_id", "In-Reply-To": "in_reply_to",
                  "References": "references"}  # fmt: skip
SENDGRID_FIELDS = {"from": "from", "to": "to", "subject": "subject", "text": "text",
                   "html": "html"}  # fmt: skip
HEADER_FIELDS = {"message-id": "message_id", "in-reply-to": "in_reply_to",
                 "references": "references", "from": "from", "to": "to", "subject": "subject"}  # fmt: skip
GENERIC_FIELDS = (
    "from",
    "to",
    "subject",
    "text",
    "html",
    "message_id",
    "in_reply_to",
    "references",
)


class InvalidEmail(IntakeError):
    """The delivery holds no email we can store (400), field by field."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        summary = "; ".join(f"{field}: {message}" for field, message in errors.items())
        super().__init__(f"not an email: {summary}", errors=errors)


@dataclass(frozen=True)
class ParsedEmail:
    provider: str
    from_header: str
    to: str = ""
    subject: str = ""
    text: str = ""
    html: str = ""
    message_id: str = ""
    in_reply_to: str = ""
    references: str = ""

    @property
    def from_address(self) -> str:
        return parseaddr(self.from_header)[1]

    @property
    def body_text(self) -> str:
        """The text part, or the HTML part's text when the sender sent HTML only."""
        if self.text.strip() or not self.html:
            return self.text
        tree = LexborHTMLParser(self.html)
        for node in tree.css("script, style, head"):
            node.decompose()
        return (tree.body or tree.root).text(separator="\n") if tree.root else ""


def media_kind(content_type: str) -> str:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type in ("message/rfc822", "text/plain"):
        return RAW
    if media_type == "multipart/form-data":
        return MULTIPART
    if media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        return JSON
    if media_type == "application/x-www-form-urlencoded":
        return FORM
    raise IntakeError(
        f"unsupported content type {media_type or 'none'!r}: send application/json, "
        "application/x-www-form-urlencoded, multipart/form-data or message/rfc822",
        status=415,
    )


def parse_delivery(body: bytes, content_type: str) -> tuple[ParsedEmail, dict[str, Any]]:
    """The email in a delivery, and what to keep of the delivery as received."""
    kind = media_kind(content_type)
    text = decode_body(body)
    if kind == RAW:
        return from_raw(text), {"raw": text}
    if kind == MULTIPART:
        payload = parse_multipart(body, content_type)
    else:
        payload = parse_payload(text, kind)
    return from_fields(payload), payload


def parse_multipart(body: bytes, content_type: str) -> dict[str, Any]:
    """The text fields of a multipart/form-data body; attached files are left out."""
    try:
        container = email.message_from_bytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body,
            policy=policy.HTTP,
        )
    except (UnicodeEncodeError, ValueError) as error:
        raise InvalidEmail({"body": f"not a multipart form: {error}"}) from None
    if not container.is_multipart():
        raise InvalidEmail({"body": "not a multipart form (no boundary or no parts)"})
    fields: dict[str, Any] = {}
    for position, part in enumerate(container.iter_parts()):
        if position >= MAX_MULTIPART_FIELDS:
            raise InvalidEmail({"body": f"more than {MAX_MULTIPART_FIELDS} form parts"})
        name = part.get_param("name", header="content-disposition")
        if not name or part.get_filename():
            continue
        payload = part.get_payload(decode=True) or b""
        charset = part.get_content_charset() or "utf-8"
        try:
            fields[str(name)] = payload.decode(charset)
        except (LookupError, UnicodeDecodeError):
            raise InvalidEmail({str(name): f"not {charset} text"}) from None
    return fields


def from_fields(payload: Mapping[str, Any]) -> ParsedEmail:
    """The email in a provider's fields (see the module docstring for the shapes)."""
    raw = _text(payload.get("raw")) or (
        _text(payload.get("email")) if "envelope" in payload else ""
    )
    if raw:
        return from_raw(raw)
    if any(key in payload for key in ("FromFull", "TextBody", "HtmlBody")):
        return _postmark(payload)
    if any(key in payload for key in ("body-plain", "stripped-text", "message-headers")):
        return _mailgun(payload)
    if isinstance(payload.get("headers"), str) and "envelope" in payload:
        return _sendgrid(payload)
    return _generic(payload)


def _postmark(payload: Mapping[str, Any]) -> ParsedEmail:
    fields = _mapped(payload, POSTMARK_FIELDS)
    headers = payload.get("Headers")
    if isinstance(headers, list):
        pairs = [
            (item.get("Name"), item.get("Value")) for item in headers if isinstance(item, dict)
        ]
        fields = {**_header_fields(pairs), **fields}
    return _finish("postmark", fields)


def _mailgun(payload: Mapping[str, Any]) -> ParsedEmail:
    fields = _mapped(payload, MAILGUN_FIELDS)
    if not fields.get("to"):
        fields["to"] = _text(payload.get("recipient"))
    if not fields.get("from"):
        fields["from"] = _text(payload.get("sender"))
    headers = payload.get("message-headers")
    if isinstance(headers, str):
        try:
            headers = json.loads(headers)
        except ValueError:
            headers = None
    if isinstance(headers, list):
        pairs = [tuple(item) for item in headers if isinstance(item, list) and len(item) == 2]
        fields = {**_header_fields(pairs), **{k: v for k, v in fields.items() if v}}
    return _finish("mailgun", fields)


def _sendgrid(payload: Mapping[str, Any]) -> ParsedEmail:
    fields = _mapped(payload, SENDGRID_FIELDS)
    headers = HeaderParser(policy=policy.compat32).parsestr(_text(payload.get("headers")))
    fields = {**_header_fields(headers.items()), **{k: v for k, v in fields.items() if v}}
    return _finish("sendgrid", fields)


def _generic(payload: Mapping[str, Any]) -> ParsedEmail:
    fields = {}
    for key, value in payload.items():
        name = str(key).strip().lower().replace("-", "_")
        if name == "message_id" or name in GENERIC_FIELDS:
            fields[name] = _text(value)
    return _finish("fields", fields)


def from_raw(text: str) -> ParsedEmail:
    """The email in a raw RFC 5322 message."""
    try:
        message = email.message_from_string(text, policy=policy.default)
        fields = {name: _header(message, header) for header, name in HEADER_FIELDS.items()}
        fields["text"] = _part(message, "plain")
        fields["html"] = _part(message, "html")
    except Exception as error:  # noqa: BLE001 - the email package raises many kinds on bad input
        logger.info("inbound.raw_unreadable error=%s", type(error).__name__)
        raise InvalidEmail({"body": "not a readable RFC 5322 message"}) from None
    return _finish("raw", fields)


def _part(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return ""
    content = part.get_content()
    return content if isinstance(content, str) else ""


def _header(message: EmailMessage, name: str) -> str:
    value = message.get(name)
    return " ".join(str(value).split()) if value is not None else ""


def _header_fields(pairs) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in pairs:
        ours = HEADER_FIELDS.get(str(name).strip().lower())
        if ours and ours not in fields and value is not None:
            fields[ours] = " ".join(str(value).split())
    return fields


def _mapped(payload: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, str]:
    return {
        ours: _text(payload.get(theirs)) for theirs, ours in mapping.items() if theirs in payload
    }


def _text(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    if value is None:
        return ""
    if not isinstance(value, str | int | float):
        return ""
    return str(value)


def _finish(provider: str, fields: Mapping[str, str]) -> ParsedEmail:
    # Storable text only: a NUL (PostgreSQL refuses it) or a lone surrogate (JSON's "\ud800",
    # a part in UTF-7) would fail the INSERT with a 500; each becomes "?" or goes.
    fields = {name: scrub_text(value or "") for name, value in fields.items()}
    from_header = " ".join((fields.get("from") or "").split())
    if "@" not in parseaddr(from_header)[1]:
        shown = "missing" if not from_header else "has no address"
        raise InvalidEmail({"from": f"the sender (From) is {shown}: an email needs one"})
    return ParsedEmail(
        provider=provider,
        from_header=from_header[:500],
        to=" ".join((fields.get("to") or "").split())[:1000],
        subject=" ".join((fields.get("subject") or "").split())[:500],
        text=fields.get("text") or "",
        html=fields.get("html") or "",
        message_id=first_message_id(fields.get("message_id") or "")[:500],
        in_reply_to=(fields.get("in_reply_to") or "")[:1000],
        references=(fields.get("references") or "")[:20000],
    )


def message_ids(header: str) -> list[str]:
    """The <...> ids in a References / In-Reply-To header, in order."""
    found = _MESSAGE_ID.findall(header or "")
    if not found and header.strip() and " " not in header.strip():
        found = [f"<{header.strip().strip('<>')}>"]
    return found


def first_message_id(header: str) -> str:
    ids = message_ids(header)
    return ids[0] if ids else ""


def addresses(header: str) -> list[str]:
    return [address for _, address in getaddresses([header]) if "@" in address]
