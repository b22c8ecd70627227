"""The term grammar shared by the classifier's lexicons and the concepts, and its one compiler.

A term is a word or phrase that matches whole words (spaces match any run of whitespace); a
trailing `*` makes it a stem ("distribut*"); `re:` starts a raw regular expression. Terms in
scripts written without spaces (CJK, Thai) match as substrings, since they have no word edges.

`term_pattern` compiles one term (the lexicons weigh each term on its own); `terms_pattern`
compiles a family of terms into one expression (a concept only asks whether any term is there).
Both read a term the same way through `parse_term`. Imports nothing of the project.
"""

from __future__ import annotations

import re
from typing import NamedTuple

UNSPACED_SCRIPT = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")


class Term(NamedTuple):
    # "raw" (a regular expression), "unspaced" (a substring) or "word".
    kind: str
    # The regular expression for the term's text, without word edges.
    source: str
    is_stem: bool
    # A lowercase word the text must contain for the term to match: a cheap test that skips
    # most regular-expression searches. None when there is no such word.
    needle: str | None


def parse_term(term: str) -> Term:
    if term.startswith("re:"):
        return Term("raw", term[3:], False, None)
    body = term.rstrip("*")
    source = re.escape(body).replace(r"\ ", r"\s+")
    if UNSPACED_SCRIPT.search(body):
        return Term("unspaced", source, False, None)
    first_word = body.split(" ")[0].lower()
    # Case folding outside ASCII is not plain lower(); those terms always search.
    needle = first_word if first_word.isascii() and first_word else None
    return Term("word", source, term.endswith("*"), needle)


def term_pattern(term: str) -> tuple[re.Pattern[str], str | None]:
    """One term as a case-insensitive pattern, and its needle."""
    parsed = parse_term(term)
    if parsed.kind == "word":
        source = rf"(?<!\w){parsed.source}" + (r"\w*" if parsed.is_stem else r"(?!\w)")
    else:
        source = parsed.source
    return re.compile(source, re.IGNORECASE), parsed.needle


def terms_pattern(terms: tuple[str, ...] | list[str]) -> re.Pattern[str]:
    """A family of terms as one pattern; word terms share one edge check, which keeps it fast."""
    words, unspaced, raw = [], [], []
    for term in terms:
        parsed = parse_term(term)
        if parsed.kind == "raw":
            raw.append(parsed.source)
        elif parsed.kind == "unspaced":
            unspaced.append(parsed.source)
        else:
            words.append(parsed.source + (r"\w*" if parsed.is_stem else ""))
    # Longest first, so "open positions" wins over "open" and the match shows the whole term.
    words.sort(key=len, reverse=True)
    parts = []
    if words:
        parts.append(r"(?<!\w)(?:" + "|".join(words) + r")(?!\w)")
    if unspaced:
        parts.append("(?:" + "|".join(unspaced) + ")")
    parts += [f"(?:{source})" for source in raw]
    return re.compile("|".join(parts), re.IGNORECASE)
