"""From what a sender posted to our lead fields: field mapping, validation, normalisation.

The rules here are the same for every door; the hosted form calls them from its clean().
"""

from __future__ import annotations

import copy
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers
from django.conf import settings
from email_validator import EmailNotValidError, validate_email

from pipeline.intake.errors import InvalidLead

LEAD_FIELDS = ("name", "email", "phone", "company", "website", "message")

# The model columns' lengths; the message is a text column, bounded here.
MAX_LENGTHS = {
    "name": 300,
    "email": 320,
    "phone": 64,
    "company": 300,
    "website": 500,
    "message": 20_000,
}

# Field names senders commonly use, matched after lower-casing and turning spaces and
# hyphens into underscores. An explicit field mapping on the source wins over these.
ALIASES = {
    "name": ("name", "full_name", "fullname", "your_name", "contact_name"),
    "email": ("email", "email_address", "e_mail", "your_email", "work_email", "business_email"),
    "phone": ("phone", "phone_number", "telephone", "tel", "mobile", "mobile_phone"),
    "company": ("company", "company_name", "organization", "organisation", "business_name"),
    "website": ("website", "company_website", "web_site", "homepage", "company_url"),
    "message": ("message", "comments", "comment", "notes", "inquiry", "enquiry", "how_can_we_help"),
}
_ALIAS_INDEX = {alias: ours for ours, aliases in ALIASES.items() for alias in aliases}
_FIRST_NAME = ("first_name", "firstname", "given_name")
_LAST_NAME = ("last_name", "lastname", "family_name", "surname")

PHONE_MIN_DIGITS = 6
PHONE_MAX_DIGITS = 15  # E.164
MAX_NESTING = 32
# Lead.email_normalized holds at most this (RFC 3696 limit for an address).
MAX_EMAIL_LENGTH = 320


# Line breaks as Python's str.splitlines() knows them: CR, LF, VT, FF, FS, GS, RS, NEL, LS, PS.
_LINE_BREAKS = re.compile("[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")
# Fields that are one line wherever they go (CRM properties, CSV cells, email headers).
ONE_LINE_FIELDS = ("name", "company", "website")


@dataclass(frozen=True)
class MappedPayload:
    """A payload split into our fields (raw values, not yet validated) and everything else."""

    fields: dict[str, Any]
    custom_fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LeadFields:
    """Validated lead fields as the sender wrote them, plus the keys we match people on."""

    name: str = ""
    email: str = ""
    phone: str = ""
    company: str = ""
    website: str = ""
    message: str = ""
    email_normalized: str = ""
    phone_normalized: str = ""

    def as_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in LEAD_FIELDS}


def canonical_key(key: str) -> str:
    return str(key).strip().lower().replace("-", "_").replace(" ", "_")


def apply_field_mapping(payload: Mapping[str, Any], mapping: Mapping[str, str]) -> MappedPayload:
    """Split `payload` into our fields and custom fields; nothing is dropped.

    `mapping` is sender field -> our field. A sender field may be a dotted path into nested
    objects ("data.contact.email"); what a path consumed is removed from the custom fields.
    Fields not in the mapping are matched by name and by common aliases (ALIASES).
    """
    remaining = copy.deepcopy(dict(payload))
    fields: dict[str, Any] = {}
    for sender_key, ours in mapping.items():
        if ours not in LEAD_FIELDS or ours in fields:
            continue
        found, value = _pop_path(remaining, sender_key)
        if found:
            fields[ours] = value
    for key in list(remaining):
        ours = _ALIAS_INDEX.get(canonical_key(key))
        if ours and ours not in fields:
            fields[ours] = remaining.pop(key)
    if "name" not in fields:
        first = _find_alias(remaining, _FIRST_NAME)
        last = _find_alias(remaining, _LAST_NAME)
        parts = [remaining[key] for key in (first, last) if key is not None]
        if parts and all(isinstance(part, str) for part in parts):
            fields["name"] = " ".join(part for part in parts if part.strip())
            for key in (first, last):
                if key is not None:
                    del remaining[key]
    return MappedPayload(fields=fields, custom_fields=remaining)


def _find_alias(remaining: dict[str, Any], aliases: tuple[str, ...]) -> str | None:
    for key in remaining:
        if canonical_key(key) in aliases:
            return key
    return None


def _pop_path(data: dict[str, Any], path: str) -> tuple[bool, Any]:
    if path in data:
        return True, data.pop(path)
    parts = path.split(".")
    if len(parts) < 2:
        return False, None
    parents = [data]
    for part in parts[:-1]:
        child = parents[-1].get(part)
        if not isinstance(child, dict):
            return False, None
        parents.append(child)
    if parts[-1] not in parents[-1]:
        return False, None
    value = parents[-1].pop(parts[-1])
    # Drop containers the path emptied, so custom fields hold only what is left over.
    for depth in range(len(parents) - 1, 0, -1):
        if parents[depth]:
            break
        parents[depth - 1].pop(parts[depth - 1])
    return True, value


def without_line_breaks(text: str) -> str:
    """`text` with each run of line breaks turned into one space (a header-injection and
    broken-CSV guard for one-line fields); other characters are kept as they are."""
    return _LINE_BREAKS.sub(" ", text)


# Mailbox providers known to deliver "name+tag@" to "name@" (sub-addressing). Elsewhere a "+"
# may be part of the mailbox name, so it is kept: two people are never merged on a guess.
PLUS_ADDRESSING_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "fastmail.com",
        "fastmail.fm",
        "proton.me",
        "protonmail.com",
        "protonmail.ch",
        "pm.me",
        "yandex.com",
        "yandex.ru",
    }
)
# Gmail ignores dots in the mailbox name, and googlemail.com is the same mailbox.
DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


class BadEmail(ValueError):
    """Not an email address; the message says why (email-validator's words)."""


def normalize_email(email: str) -> str:
    """The key we match people on, from a valid address (else BadEmail).

    email-validator checks the syntax and gives the domain in IDNA 2008 ASCII (UTS #46 mapped)
    and the mailbox in Unicode NFC; we lower-case the mailbox (no mail server we reply through
    treats case as meaningful), and fold "+tag" and Gmail's dots only for the providers above.
    """
    try:
        checked = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise BadEmail(str(error)) from None
    local, domain = checked.local_part.lower(), checked.ascii_domain.lower()
    if domain in PLUS_ADDRESSING_DOMAINS:
        local = local.split("+", 1)[0] or local
    if domain in DOTLESS_DOMAINS:
        local, domain = local.replace(".", "") or local, DOTLESS_DOMAINS[domain]
    return f"{local}@{domain}"


def normalize_phone(phone: str, *, region: str | None = None) -> str | None:
    """The key we match people on: E.164 ("+14155550100") when phonenumbers can read the number
    (national numbers in `region`, PHONE_DEFAULT_REGION by default); else its digits, with a
    leading "+" when international; None if it is not a phone number at all."""
    text = phone.strip()
    if text.startswith("00"):  # the international call prefix in most of the world
        text = "+" + text[2:]
    region = settings.PHONE_DEFAULT_REGION if region is None else region
    try:
        number = phonenumbers.parse(text, region or None)
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_possible_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return _phone_digits(text)


def phone_country(phone: str) -> str:
    """The ISO alpha-2 country of a number written internationally ("+44 20 ..." or
    "0049 30 ...") by its calling code; "" for a national number or an unknown code. A shared
    code (+1, +7) is told apart by the number when phonenumbers knows it, else its main country.
    """
    text = (phone or "").strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text.startswith("+"):
        return ""
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return ""
    region = phonenumbers.region_code_for_number(number) or ""
    if not region or region == phonenumbers.UNKNOWN_REGION:
        region = phonenumbers.region_code_for_country_code(number.country_code)
    return "" if region in (phonenumbers.UNKNOWN_REGION, "001") else region


def _phone_digits(text: str) -> str | None:
    if any(character.isalpha() for character in text):
        return None
    digits = "".join(str(unicodedata.decimal(ch)) for ch in text if ch.isdecimal())
    if not PHONE_MIN_DIGITS <= len(digits) <= PHONE_MAX_DIGITS:
        return None
    return ("+" if text.startswith("+") else "") + digits


def clean_lead_fields(raw: Mapping[str, Any]) -> LeadFields:
    """Validate our fields; raise InvalidLead naming every bad field.

    Messages are kept exactly as sent; names and companies too (Unicode, spaces), except that
    line breaks become spaces: they are one-line fields everywhere they go. Email, phone and
    website lose surrounding whitespace.
    """
    errors: dict[str, str] = {}
    values: dict[str, str] = {}
    for name in LEAD_FIELDS:
        value, error = _as_text(raw.get(name), name)
        if error:
            errors[name] = error
            continue
        if name in ONE_LINE_FIELDS:
            value = without_line_breaks(value)
        if name in ("email", "phone", "website"):
            value = value.strip()
        values[name] = value
    email_normalized = phone_normalized = ""
    if values.get("email"):
        try:
            email_normalized = normalize_email(values["email"])
        except BadEmail as error:
            errors["email"] = f"not a valid email address: {error}"
        else:
            # An international domain grows when spelled in ASCII (punycode).
            if len(email_normalized) > MAX_EMAIL_LENGTH:
                errors["email"] = f"too long: at most {MAX_EMAIL_LENGTH} characters once normalised"
                email_normalized = ""
    if values.get("phone"):
        phone_normalized = normalize_phone(values["phone"]) or ""
        if not phone_normalized:
            errors["phone"] = (
                f"not a phone number (expected {PHONE_MIN_DIGITS} to {PHONE_MAX_DIGITS} digits)"
            )
    if not values.get("email") and not values.get("phone") and not {"email", "phone"} & set(errors):
        errors.setdefault("email", "an email or a phone number is required")
        errors.setdefault("phone", "an email or a phone number is required")
    if errors:
        raise InvalidLead(errors)
    return LeadFields(
        **values, email_normalized=email_normalized, phone_normalized=phone_normalized
    )


def lenient_lead_fields(raw: Mapping[str, Any]) -> LeadFields:
    """Whatever a trapped bot sent, made storable: text, truncated, never matched on."""
    values = {}
    for name in LEAD_FIELDS:
        value = raw.get(name)
        text = scrub_text("" if value is None else str(value))
        if name in ONE_LINE_FIELDS:
            text = without_line_breaks(text)
        values[name] = text[: MAX_LENGTHS[name]]
    return LeadFields(**values)


def _as_text(value: Any, name: str) -> tuple[str, str]:
    if value is None:
        return "", ""
    if isinstance(value, bool):
        return "", "must be text, not true or false"
    if isinstance(value, int) or (isinstance(value, float) and name != "phone"):
        value = str(value)
    if not isinstance(value, str):
        return "", "must be text"
    problem = text_problem(value)
    if problem:
        return "", problem
    if len(value) > MAX_LENGTHS[name]:
        return "", f"too long: at most {MAX_LENGTHS[name]} characters"
    return value, ""


def text_problem(text: str) -> str:
    """Why a string cannot be stored (PostgreSQL refuses NUL and lone surrogates), or ""."""
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text"
    return ""


def scrub_text(text: str) -> str:
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def storable_problem(value: Any) -> str:
    """Why a JSON value cannot be stored as a JSON column on SQLite and PostgreSQL, or ""."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_NESTING:
            return f"nested deeper than {MAX_NESTING} levels"
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return f"a value {problem}"
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                return "a number is not finite"
        elif isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str) or text_problem(key):
                    return "a field name is not valid text"
                stack.append((child, depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend((child, depth + 1) for child in item)
        elif item is not None and not isinstance(item, bool | int):
            return f"a value of type {type(item).__name__} is not JSON"
    return ""


def scrub_json(value: Any, depth: int = 0) -> Any:
    """A storable copy of a bot's payload (text scrubbed, too deep cut off)."""
    if depth > MAX_NESTING:
        return None
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {scrub_text(str(key)): scrub_json(child, depth + 1) for key, child in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_json(child, depth + 1) for child in value]
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value


def same_json(stored: Any, received: Any) -> bool:
    """Equal as JSON values. Numbers compare by decimal value: PostgreSQL's jsonb gives back
    3.998077820930653e+16 as the integer 39980778209306530."""
    if isinstance(stored, bool) or isinstance(received, bool):
        return stored is received
    if isinstance(stored, int | float) and isinstance(received, int | float):
        try:
            return Decimal(repr(stored)) == Decimal(repr(received))
        except InvalidOperation:
            return stored == received
    if isinstance(stored, dict) and isinstance(received, dict):
        return stored.keys() == received.keys() and all(
            same_json(stored[key], received[key]) for key in stored
        )
    if isinstance(stored, list) and isinstance(received, list):
        return len(stored) == len(received) and all(
            same_json(left, right) for left, right in zip(stored, received, strict=True)
        )
    return stored == received
