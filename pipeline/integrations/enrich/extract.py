"""Company facts from fetched pages: structured data first, then meta tags, then page text.

Structured data (JSON-LD, microdata, OpenGraph) is read with extruct; the rest of the page with
selectolax (lexbor). Every fact is a candidate with a source and a confidence; the most
trusted candidate per field wins and its source is recorded on the profile. Nothing is guessed:
a field without a candidate stays empty.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import extruct
from selectolax.lexbor import LexborHTMLParser

from pipeline.integrations.enrich import fingerprints
from pipeline.integrations.enrich.targets import registrable_parts
from pipeline.integrations.enrich.vocab import (
    SCHEMA_TYPE_SECTORS,
    best_sector,
    country_code,
    country_from_suffix,
    employee_range,
)
from pipeline.schemas import CompanyProfile, FieldSource

logger = logging.getLogger(__name__)

MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 1000
MAX_PAGE_TEXT_CHARS = 8000
MAX_HOME_TEXT_CHARS = 5000
MAX_OTHER_TEXT_CHARS = 2500
# Text of a non-home page counts a little less than the homepage's for the same kind of fact.
OTHER_PAGE_PENALTY = 0.05

_ORGANIZATION_TYPES = frozenset(
    {
        "Organization",
        "Corporation",
        "LocalBusiness",
        "ProfessionalService",
        "OnlineBusiness",
        "Brand",
    }
) | (
    frozenset(SCHEMA_TYPE_SECTORS) - {"SoftwareApplication", "WebApplication", "MobileApplication"}
)
_SOFTWARE_TYPES = frozenset({"SoftwareApplication", "WebApplication", "MobileApplication"})
_TEXT_NOISE_TAGS = ["script", "style", "noscript", "template", "svg", "iframe", "head"]
_TITLE_SEPARATORS = re.compile(r"\s+[|\-–—:·•»]\s+")
_GENERIC_TITLES = frozenset(
    {"home", "homepage", "home page", "welcome", "index", "startseite", "accueil"}
)

SOCIAL_NETWORKS: dict[str, str] = {
    "linkedin": "linkedin",
    "twitter": "twitter",
    "x": "twitter",
    "facebook": "facebook",
    "instagram": "instagram",
    "youtube": "youtube",
    "github": "github",
    "tiktok": "tiktok",
    "xing": "xing",
    "pinterest": "pinterest",
}
_SOCIAL_NON_PROFILE_SEGMENTS = frozenset(
    {
        "sharer",
        "sharer.php",
        "share",
        "share.php",
        "sharearticle",
        "intent",
        "dialog",
        "plugins",
        "tr",
        "home",
        "search",
        "hashtag",
        "i",
        "login",
        "signup",
        "watch",
        "embed",
        "pin",
        "policies",
        "legal",
        "help",
    }
)

# "team of 25", "120 employees", "11-50 employees", "a 40-person team". Matched on page text.
_N = r"(\d{1,3}(?:[,.\u202f\u00a0]\d{3})+|\d{1,7})"
_EMPLOYEE_PATTERNS: tuple[tuple[re.Pattern[str], float], ...] = (
    (
        re.compile(rf"\b{_N}\s*(?:-|–|to)\s*{_N}\s+(?:employees|staff|people|team members)\b"),
        0.6,
    ),
    (
        re.compile(
            rf"\bteam of (?:over |more than |about |around |nearly |almost |some )?{_N}\+?"
            r"(?!\s*(?:years|countries|cities|offices|partners|customers|clients|languages))"
        ),
        0.55,
    ),
    (re.compile(rf"\b{_N}[- ](?:person|people|strong) team\b"), 0.55),
    (re.compile(rf"\bwe are {_N}\+? (?:people|humans|employees|colleagues)\b"), 0.55),
    (
        re.compile(
            rf"\b(?:over |more than |about |around |nearly )?{_N}\+?\s+"
            r"(?:employees|staff members|full-time employees|team members|colleagues)\b"
        ),
        0.5,
    ),
)

_PRIORITY_LINK_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "about",
        (
            "about",
            "about-us",
            "aboutus",
            "who-we-are",
            "our-story",
            "company",
            "a-propos",
            "qui-sommes-nous",
            "uber-uns",
            "ueber-uns",
            "unternehmen",
            "quienes-somos",
            "chi-siamo",
            "over-ons",
            "team",
        ),
    ),
    ("pricing", ("pricing", "plans", "prices", "tarifs", "preise", "precios")),
)


@dataclass(frozen=True)
class HtmlPage:
    """One fetched HTML page, decoded."""

    url: str
    html: str
    headers: tuple[tuple[str, str], ...] = ()
    cookie_names: tuple[str, ...] = ()
    is_home: bool = False


@dataclass
class Candidate:
    value: Any
    source: str
    confidence: float
    url: str


@dataclass
class Evidence:
    """All candidates per field; ``best`` picks the most trusted, the first offered on a tie."""

    fields: dict[str, list[Candidate]] = field(default_factory=dict)

    def offer(self, name: str, value: Any, source: str, confidence: float, url: str) -> None:
        if value in (None, "", [], {}):
            return
        confidence = max(0.0, min(1.0, round(confidence, 3)))
        self.fields.setdefault(name, []).append(Candidate(value, source, confidence, url))

    def best(self, name: str) -> Candidate | None:
        candidates = self.fields.get(name)
        if not candidates:
            return None
        return max(enumerate(candidates), key=lambda item: (item[1].confidence, -item[0]))[1]


# --- Small helpers ------------------------------------------------------------------------


def _clean(value: Any, limit: int) -> str:
    if isinstance(value, list):
        value = next((item for item in value if isinstance(item, str) and item.strip()), "")
    if isinstance(value, dict):
        value = value.get("name") or value.get("@value") or ""
    if not isinstance(value, str):
        return ""
    text = " ".join(value.split())
    return text[:limit].rstrip()


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _types(item: dict) -> set[str]:
    types = set()
    for value in _as_list(item.get("@type")):
        if isinstance(value, str):
            types.add(value.rsplit("/", 1)[-1].rsplit("#", 1)[-1])
    return types


def _parse_count(text: str) -> int | None:
    digits = re.sub(r"[,.\u202f\u00a0 ]", "", str(text))
    if not digits.isdigit():
        return None
    number = int(digits)
    return number if 0 < number < 5_000_000 else None


# --- Structured data ----------------------------------------------------------------------


def structured_data(html: str, url: str) -> dict[str, list]:
    """JSON-LD, microdata and OpenGraph via extruct; one broken JSON-LD block loses only itself."""
    try:
        data = extruct.extract(
            html,
            base_url=url,
            syntaxes=["json-ld", "microdata", "opengraph"],
            uniform=True,
            errors="ignore",
        )
    except Exception:  # extruct wraps lxml, which raises on pathological markup
        logger.debug("extruct failed on a page", exc_info=True)
        data = {}
    if "json-ld" not in data:
        data["json-ld"] = _jsonld_block_by_block(html)
    return data


def _jsonld_block_by_block(html: str) -> list:
    items: list = []
    tree = LexborHTMLParser(html)
    for node in tree.css('script[type="application/ld+json" i]'):
        try:
            parsed = json.loads(node.text(deep=True) or "", strict=False)
        except (ValueError, RecursionError):  # nested deeper than Python's stack: a hostile page
            continue
        items.extend(parsed if isinstance(parsed, list) else [parsed])
    return items


def _walk_jsonld(items: Iterable[Any]) -> Iterator[dict]:
    """Every node worth looking at: top-level items, @graph members, publishers, main entities."""
    stack = list(items)
    seen = 0
    while stack and seen < 500:
        item = stack.pop(0)
        seen += 1
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        yield item
        for key in ("@graph", "publisher", "mainEntity", "provider", "parentOrganization"):
            if key in item:
                stack.extend(_as_list(item[key]))


def _organizations(items: Iterable[dict], domain: str) -> list[dict]:
    """Organization-like nodes, the one whose URL is on our domain first."""
    organizations = [item for item in items if _types(item) & _ORGANIZATION_TYPES and len(item) > 2]

    def on_our_domain(item: dict) -> bool:
        url = _clean(item.get("url") or item.get("@id") or "", 500)
        host = urlsplit(url).hostname or ""
        return bool(domain) and (host == domain or host.endswith("." + domain))

    return sorted(organizations, key=lambda item: not on_our_domain(item))


def _employee_count(value: Any) -> str:
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, dict):
        low = _parse_count(value.get("minValue", "")) if value.get("minValue") is not None else None
        high = (
            _parse_count(value.get("maxValue", "")) if value.get("maxValue") is not None else None
        )
        exact = _parse_count(value.get("value", "")) if value.get("value") is not None else None
        if exact:
            return employee_range(exact)
        if low and high:
            return employee_range(low, high)
        if low:
            return employee_range(low)
        return ""
    count = _parse_count(value) if isinstance(value, (int, str)) else None
    return employee_range(count) if count else ""


def _address_country(item: dict) -> str:
    addresses = _as_list(item.get("address"))
    for location in _as_list(item.get("location")):
        if isinstance(location, dict):
            addresses.extend(_as_list(location.get("address")))
    for address in addresses:
        if isinstance(address, dict):
            country = address.get("addressCountry")
            if isinstance(country, dict):
                country = country.get("name") or country.get("identifier") or ""
            code = country_code(_clean(country, 80))
            if code:
                return code
    return ""


def _keywords(value: Any) -> str:
    return ", ".join(_clean(item, 200) for item in _as_list(value) if _clean(item, 200))


def _offer_organization(evidence: Evidence, org: dict, source: str, weight: float, url: str):
    evidence.offer(
        "company_name", _clean(org.get("name"), MAX_NAME_CHARS), source, 0.9 * weight, url
    )
    description = _clean(org.get("description"), MAX_DESCRIPTION_CHARS)
    evidence.offer("description", description, source, 0.85 * weight, url)
    evidence.offer(
        "employee_range", _employee_count(org.get("numberOfEmployees")), source, 0.9 * weight, url
    )
    evidence.offer("country", _address_country(org), f"{source} address", 0.9 * weight, url)
    industry = _clean(org.get("industry"), 200)
    hit = best_sector(industry) if industry else None
    if hit:
        evidence.offer("sector", hit[0], f"{source} industry", 0.8 * weight, url)
    for schema_type in sorted(_types(org)):
        if schema_type in SCHEMA_TYPE_SECTORS:
            evidence.offer(
                "sector", SCHEMA_TYPE_SECTORS[schema_type], f"{source} @type", 0.75 * weight, url
            )
    keywords = _keywords(org.get("keywords")) or _keywords(org.get("knowsAbout"))
    hit = best_sector(keywords) if keywords else None
    if hit:
        evidence.offer("sector", hit[0], f"{source} keywords", 0.55 * weight, url)
    for link in _as_list(org.get("sameAs")):
        if isinstance(link, str):
            _offer_social(evidence, link, f"{source} sameAs", 0.9 * weight, url)


# --- Social links -------------------------------------------------------------------------


def social_profile(link: str) -> tuple[str, str] | None:
    """(network, normalised URL) when the link is a company's profile on a social network."""
    try:
        parts = urlsplit(link.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    registrable, label, _suffix = registrable_parts(parts.hostname)
    network = SOCIAL_NETWORKS.get(label)
    if network is None or (label == "x" and registrable != "x.com"):
        return None
    segments = [segment for segment in parts.path.split("/") if segment]
    if not segments or segments[0].lower() in _SOCIAL_NON_PROFILE_SEGMENTS:
        return None
    if network == "linkedin" and segments[0].lower() not in ("company", "school", "showcase"):
        return None
    if network == "linkedin" and len(segments) < 2:
        return None
    if network == "youtube" and not (
        segments[0].startswith("@") or segments[0] in ("channel", "c", "user")
    ):
        return None
    host = parts.hostname.lower()
    path = "/" + "/".join(segments)
    return network, urlunsplit(("https", host, path, "", ""))


def _offer_social(evidence: Evidence, link: str, source: str, confidence: float, url: str):
    profile = social_profile(link)
    if profile is not None:
        network, normalised = profile
        evidence.offer(f"social_links.{network}", normalised, source, confidence, url)


# --- Page text ----------------------------------------------------------------------------


def _title_name(title: str, domain_label: str) -> tuple[str, float] | None:
    segments = [segment.strip() for segment in _TITLE_SEPARATORS.split(title) if segment.strip()]
    squashed_label = re.sub(r"[^a-z0-9]", "", domain_label.lower())
    for segment in segments:
        squashed = re.sub(r"[^a-z0-9]", "", segment.lower())
        if (
            squashed_label
            and squashed
            and (
                squashed == squashed_label
                or squashed.startswith(squashed_label)
                or squashed_label.startswith(squashed)
            )
        ):
            return segment, 0.6
    if len(segments) == 1 and len(segments[0].split()) <= 4:
        if segments[0].lower() not in _GENERIC_TITLES:
            return segments[0], 0.4
    return None


def visible_text(tree: LexborHTMLParser) -> str:
    """The page's readable text, scripts and styles removed, whitespace collapsed."""
    tree.strip_tags(_TEXT_NOISE_TAGS)
    root = tree.body or tree.root
    if root is None:
        return ""
    return " ".join((root.text(separator=" ", deep=True) or "").split())


def employee_mentions(text: str) -> list[tuple[str, float]]:
    """Employee ranges the text states ("team of 25" -> "11-50"), with a confidence each."""
    found: list[tuple[str, float]] = []
    taken: list[tuple[int, int]] = []  # a phrase counts once, for its most specific pattern
    lowered = text.lower()
    for pattern, confidence in _EMPLOYEE_PATTERNS:
        for match in pattern.finditer(lowered):
            start, end = match.span()
            if any(start < taken_end and taken_start < end for taken_start, taken_end in taken):
                continue
            taken.append((start, end))
            numbers = [_parse_count(group) for group in match.groups() if group]
            if not numbers or any(number is None for number in numbers):
                continue
            if len(numbers) == 2:
                found.append((employee_range(numbers[0], numbers[1]), confidence))
            else:
                found.append((employee_range(numbers[0]), confidence))
    return found


# --- The whole profile --------------------------------------------------------------------


@dataclass
class PageAnalysis:
    text: str
    links: list[str]
    detections: dict[str, fingerprints.Detection]


def analyse_page(page: HtmlPage, evidence: Evidence, domain: str) -> PageAnalysis:
    """Offer every fact this page shows to ``evidence``; return its text, links and tech."""
    penalty = 0.0 if page.is_home else OTHER_PAGE_PENALTY
    weight = 1.0 - penalty
    _registrable, label, _suffix = registrable_parts(domain)
    tree = LexborHTMLParser(page.html)

    signals = fingerprints.signals_from(page.url, page.headers, list(page.cookie_names), tree)
    detections = fingerprints.detect([signals])

    data = structured_data(page.html, page.url)
    jsonld_nodes = list(_walk_jsonld(data.get("json-ld", [])))
    for org in _organizations(jsonld_nodes, domain)[:1]:
        _offer_organization(evidence, org, "json-ld", weight, page.url)
    if any(_types(node) & _SOFTWARE_TYPES for node in jsonld_nodes):
        evidence.offer("sector", "Software & SaaS", "json-ld @type", 0.7 * weight, page.url)
    microdata_nodes = [item for item in data.get("microdata", []) if isinstance(item, dict)]
    for org in _organizations(microdata_nodes, domain)[:1]:
        _offer_organization(evidence, org, "microdata", 0.95 * weight, page.url)

    for graph in data.get("opengraph", []):
        if not isinstance(graph, dict):
            continue
        site_name = _clean(graph.get("og:site_name"), MAX_NAME_CHARS)
        evidence.offer("company_name", site_name, "og:site_name", 0.8 * weight, page.url)
        if page.is_home:
            description = _clean(graph.get("og:description"), MAX_DESCRIPTION_CHARS)
            evidence.offer("description", description, "og:description", 0.7, page.url)

    meta = {}
    for node in tree.css("meta[name][content]"):
        meta.setdefault((node.attributes.get("name") or "").lower(), node.attributes.get("content"))
    evidence.offer(
        "company_name",
        _clean(meta.get("application-name"), MAX_NAME_CHARS),
        "meta application-name",
        0.6 * weight,
        page.url,
    )
    if page.is_home:
        description = _clean(meta.get("description"), MAX_DESCRIPTION_CHARS)
        if len(description) >= 10:
            evidence.offer("description", description, "meta description", 0.8, page.url)
        title_node = tree.css_first("title")
        title = _clean(title_node.text() if title_node else "", 300)
        named = _title_name(title, label) if title else None
        if named:
            evidence.offer("company_name", named[0][:MAX_NAME_CHARS], "title", named[1], page.url)
    keywords = _clean(meta.get("keywords"), 1000)
    hit = best_sector(keywords) if keywords else None
    if hit:
        evidence.offer("sector", hit[0], "meta keywords", 0.55 * weight, page.url)

    links = []
    for node in tree.css("a[href]"):
        href = (node.attributes.get("href") or "").strip()
        if href and not href.startswith(("#", "mailto:", "tel:", "javascript:")):
            absolute = urljoin(page.url, href)
            links.append(absolute)
            _offer_social(evidence, absolute, "link", 0.7 * weight, page.url)

    text = visible_text(tree)
    for value, confidence in employee_mentions(text):
        evidence.offer("employee_range", value, "page text", confidence, page.url)
    return PageAnalysis(text=text, links=links, detections=detections)


def build_profile(domain: str, pages: list[HtmlPage]) -> tuple[CompanyProfile, str]:
    """The profile the pages support, and the readable text for a model to read."""
    evidence = Evidence()
    detections: dict[str, fingerprints.Detection] = {}
    texts: list[str] = []
    for page in pages:
        analysis = analyse_page(page, evidence, domain)
        for name, detection in analysis.detections.items():
            if name not in detections or detection.confidence > detections[name].confidence:
                detections[name] = detection
        limit = MAX_HOME_TEXT_CHARS if page.is_home else MAX_OTHER_TEXT_CHARS
        if analysis.text:
            texts.append(analysis.text[:limit])

    _registrable, _label, suffix = registrable_parts(domain)
    evidence.offer("country", country_from_suffix(suffix), "tld", 0.3, "")
    if any(name in fingerprints.ECOMMERCE_PLATFORMS for name in detections):
        platform = next(name for name in detections if name in fingerprints.ECOMMERCE_PLATFORMS)
        evidence.offer(
            "sector", "E-commerce & Retail", f"tech: {platform}", 0.45, detections[platform].url
        )
    description = evidence.best("description")
    if description is not None:
        hit = best_sector(description.value)
        if hit:
            evidence.offer("sector", hit[0], "description", 0.4, description.url)

    profile = CompanyProfile(domain=domain)
    sources: dict[str, FieldSource] = {}
    values: dict[str, Any] = {}
    for name in ("company_name", "description", "sector", "employee_range", "country"):
        best = evidence.best(name)
        if best is not None:
            values[name] = best.value
            sources[name] = FieldSource(
                source=best.source, confidence=best.confidence, url=best.url
            )
    social: dict[str, str] = {}
    for name in sorted(evidence.fields):
        if name.startswith("social_links."):
            best = evidence.best(name)
            if best is not None:
                social[name.split(".", 1)[1]] = best.value
                sources[name] = FieldSource(
                    source=best.source, confidence=best.confidence, url=best.url
                )
    order = {tech.name: index for index, tech in enumerate(fingerprints.TECHNOLOGIES)}
    tech_stack = sorted(detections, key=lambda name: order[name])
    for name in tech_stack:
        detection = detections[name]
        sources[f"tech_stack.{name}"] = FieldSource(
            source=f"fingerprint: {detection.evidence}",
            confidence=detection.confidence,
            url=detection.url,
        )
    profile = profile.model_copy(
        update={
            **values,
            "social_links": social,
            "tech_stack": tech_stack,
            "field_sources": sources,
        }
    )
    page_text = "\n\n".join(texts)[:MAX_PAGE_TEXT_CHARS]
    return profile, page_text


def candidate_pages(home_url: str, links: Iterable[str], domain: str, limit: int) -> list[str]:
    """Same-site pages that say who the company is: linked about/company pages, then pricing;
    the conventional /about, /company and /pricing when the homepage links none."""
    if limit <= 0:
        return []
    home = urlsplit(home_url)
    chosen: dict[str, list[str]] = {kind: [] for kind, _ in _PRIORITY_LINK_WORDS}
    for link in links:
        parts = urlsplit(link)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            continue
        if registrable_parts(parts.hostname)[0] != registrable_parts(home.hostname or "")[0]:
            continue
        segments = [segment.lower() for segment in parts.path.split("/") if segment]
        if not segments or len(segments) > 3:
            continue
        last = segments[-1].removesuffix(".html").removesuffix(".php")
        clean = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        if clean.rstrip("/") == home_url.rstrip("/"):
            continue
        for kind, words in _PRIORITY_LINK_WORDS:
            if last in words and clean not in chosen[kind]:
                chosen[kind].append(clean)
                break
    origin = urlunsplit((home.scheme, home.netloc, "", "", ""))
    if not chosen["about"]:
        chosen["about"] = [origin + "/about", origin + "/company"]
    if not chosen["pricing"]:
        chosen["pricing"] = [origin + "/pricing"]
    ordered = chosen["about"][:2] + chosen["pricing"][:1]
    return list(dict.fromkeys(ordered))[:limit]
