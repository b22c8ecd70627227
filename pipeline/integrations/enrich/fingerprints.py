"""Which technologies a website runs, from fingerprints: headers, cookies, the generator meta
tag, script and stylesheet URLs, form actions, known element markers and inline script text.

A small curated table of our own covering what B2B sales asks about (CMS, e-commerce,
analytics, tag managers, CRM and marketing automation, chat, frameworks, CDNs), kept as data in
`fingerprints.json`. Patterns are matched against values already pulled out of the parsed page,
never against raw HTML.

The file is a JSON array, one object per technology, in the order results are listed:

    name       the technology's name (unique), e.g. "HubSpot"
    category   one of: CMS, E-commerce, Analytics, Tag manager, Advertising,
               CRM & marketing automation, Live chat, Framework, Web server & backend,
               CDN & hosting, Business tools
    headers    [[header name, regex on its value], ...]; "" as the regex: the header is present
    cookies    [regex on Set-Cookie names, ...]
    generator  regex on <meta name="generator">
    urls       [regex on <script src>, <link href>, <iframe src>, ...]
    forms      [regex on <form action>, ...]
    selectors  [CSS selector that must match an element, ...]
    inline     [substring of inline <script> text, ...] (compared lowercased)
    implies    [name of another technology this one implies, ...]

Every field but name and category may be left out; regexes are case-insensitive. Evidence
counts in this order: header, generator, cookie, url, form, selector, inline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser as HTMLParser


@dataclass(frozen=True)
class Technology:
    name: str
    category: str
    # (header name, regex on its value); an empty regex means "the header is present".
    headers: tuple[tuple[str, str], ...] = ()
    cookies: tuple[str, ...] = ()  # regexes on Set-Cookie names
    generator: str = ""  # regex on <meta name="generator">
    urls: tuple[str, ...] = ()  # regexes on <script src>, <link href>, <iframe src>
    forms: tuple[str, ...] = ()  # regexes on <form action>
    selectors: tuple[str, ...] = ()  # CSS selectors that must match an element
    inline: tuple[str, ...] = ()  # substrings of inline <script> text (lowercased)
    implies: tuple[str, ...] = ()

    @cached_property
    def _compiled(self) -> dict[str, object]:
        flags = re.IGNORECASE
        return {
            "headers": [(h.lower(), re.compile(p, flags) if p else None) for h, p in self.headers],
            "cookies": [re.compile(p, flags) for p in self.cookies],
            "generator": re.compile(self.generator, flags) if self.generator else None,
            "urls": [re.compile(p, flags) for p in self.urls],
            "forms": [re.compile(p, flags) for p in self.forms],
        }


ECOMMERCE = "E-commerce"
FINGERPRINTS_PATH = Path(__file__).with_name("fingerprints.json")
_FIELDS = frozenset(
    ("name", "category", "headers", "cookies", "generator", "urls", "forms", "selectors")
    + ("inline", "implies")
)


def load_technologies(path: Path = FINGERPRINTS_PATH) -> tuple[Technology, ...]:
    """The fingerprint table from its JSON file; unknown fields and bad patterns fail loudly."""
    technologies = []
    for entry in json.loads(path.read_text(encoding="utf-8")):
        unknown = set(entry) - _FIELDS
        if unknown:
            raise ValueError(f"{path.name}: {entry.get('name')}: unknown fields {sorted(unknown)}")
        technology = Technology(
            name=entry["name"],
            category=entry["category"],
            headers=tuple((name, pattern) for name, pattern in entry.get("headers", ())),
            cookies=tuple(entry.get("cookies", ())),
            generator=entry.get("generator", ""),
            urls=tuple(entry.get("urls", ())),
            forms=tuple(entry.get("forms", ())),
            selectors=tuple(entry.get("selectors", ())),
            inline=tuple(marker.lower() for marker in entry.get("inline", ())),
            implies=tuple(entry.get("implies", ())),
        )
        # Compile now: a bad regular expression fails at load, not in the middle of a page.
        _ = technology._compiled
        technologies.append(technology)
    names = {technology.name for technology in technologies}
    for technology in technologies:
        missing = set(technology.implies) - names
        if missing:
            raise ValueError(f"{path.name}: {technology.name} implies unknown {sorted(missing)}")
    return tuple(technologies)


TECHNOLOGIES: tuple[Technology, ...] = load_technologies()
BY_NAME: dict[str, Technology] = {tech.name: tech for tech in TECHNOLOGIES}
CATEGORY_OF: dict[str, str] = {tech.name: tech.category for tech in TECHNOLOGIES}
ECOMMERCE_PLATFORMS = frozenset(t.name for t in TECHNOLOGIES if t.category == ECOMMERCE)

# How much each kind of evidence is trusted.
CONFIDENCE = {
    "header": 0.9,
    "cookie": 0.85,
    "generator": 0.95,
    "url": 0.85,
    "form": 0.85,
    "selector": 0.8,
    "inline": 0.7,
    "implied": 0.6,
}


@dataclass
class PageSignals:
    """What one response shows about its technology, pulled from the parsed page."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)  # lowercase names
    cookie_names: list[str] = field(default_factory=list)
    generators: list[str] = field(default_factory=list)
    resource_urls: list[str] = field(default_factory=list)
    form_actions: list[str] = field(default_factory=list)
    inline_scripts: list[str] = field(default_factory=list)  # lowercased
    tree: HTMLParser | None = None


MAX_INLINE_SCRIPT_CHARS = 200_000


def signals_from(
    url: str, headers: Iterable[tuple[str, str]], cookie_names: list[str], tree: HTMLParser
) -> PageSignals:
    signals = PageSignals(url=url, cookie_names=list(cookie_names), tree=tree)
    for name, value in headers:
        key = name.lower()
        signals.headers[key] = (
            f"{signals.headers[key]}, {value}" if key in signals.headers else value
        )
    for node in tree.css('meta[name="generator" i]'):
        content = (node.attributes.get("content") or "").strip()
        if content:
            signals.generators.append(content)
    for node in tree.css("script[src], iframe[src]"):
        signals.resource_urls.append(node.attributes.get("src") or "")
    for node in tree.css("link[href]"):
        signals.resource_urls.append(node.attributes.get("href") or "")
    for node in tree.css("form[action]"):
        signals.form_actions.append(node.attributes.get("action") or "")
    budget = MAX_INLINE_SCRIPT_CHARS
    for node in tree.css("script:not([src])"):
        if budget <= 0:
            break
        text = (node.text(deep=True) or "")[:budget].lower()
        budget -= len(text)
        if text.strip():
            signals.inline_scripts.append(text)
    return signals


@dataclass(frozen=True)
class Detection:
    name: str
    category: str
    evidence: str  # e.g. "header x-shopid", "script URL", "generator"
    confidence: float
    url: str


def _first_match(tech: Technology, signals: PageSignals) -> tuple[str, str] | None:
    compiled = tech._compiled
    for header, pattern in compiled["headers"]:
        value = signals.headers.get(header)
        if value is not None and (pattern is None or pattern.search(value)):
            return "header", f"header {header}"
    if compiled["generator"] is not None:
        for generator in signals.generators:
            if compiled["generator"].search(generator):
                return "generator", "meta generator"
    for pattern in compiled["cookies"]:
        if any(pattern.search(name) for name in signals.cookie_names):
            return "cookie", "cookie"
    for pattern in compiled["urls"]:
        if any(pattern.search(url) for url in signals.resource_urls):
            return "url", "script or stylesheet URL"
    for pattern in compiled["forms"]:
        if any(pattern.search(action) for action in signals.form_actions):
            return "form", "form action"
    if signals.tree is not None:
        for selector in tech.selectors:
            if signals.tree.css_first(selector) is not None:
                return "selector", "page markup"
    for marker in tech.inline:
        if any(marker in script for script in signals.inline_scripts):
            return "inline", "inline script"
    return None


def detect(pages: Iterable[PageSignals]) -> dict[str, Detection]:
    """Technologies found on any of the pages, the strongest evidence for each, in table order."""
    found: dict[str, Detection] = {}
    for signals in pages:
        for tech in TECHNOLOGIES:
            match = _first_match(tech, signals)
            if match is None:
                continue
            kind, evidence = match
            detection = Detection(tech.name, tech.category, evidence, CONFIDENCE[kind], signals.url)
            current = found.get(tech.name)
            if current is None or detection.confidence > current.confidence:
                found[tech.name] = detection
    for detection in list(found.values()):
        for implied in BY_NAME[detection.name].implies:
            if implied not in found:
                found[implied] = Detection(
                    implied,
                    CATEGORY_OF[implied],
                    f"implied by {detection.name}",
                    CONFIDENCE["implied"],
                    detection.url,
                )
    order = {tech.name: index for index, tech in enumerate(TECHNOLOGIES)}
    return dict(sorted(found.items(), key=lambda item: order[item[0]]))
