"""Ids that people type or outsiders send, read without a 500."""

from __future__ import annotations

MAX_ID = 2**63 - 1  # a bigint primary key


def parse_id(value: str) -> int | None:
    """The positive database id `value` spells in ASCII digits, else None.

    str.isdigit() alone also passes "²" and "٣", which int() then refuses, and more digits than
    a bigint holds, which PostgreSQL refuses: both were 500s."""
    value = (value or "").strip()
    if not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None
