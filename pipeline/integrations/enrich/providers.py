"""Enrichment providers: the built-in web provider and a paid API adapter, behind one interface.

A provider turns an EnrichTarget into a ProviderResult. ``default_providers()`` puts the paid
provider first when its key is configured, then the built-in web provider, which needs nothing
but ``requests``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urljoin

import requests
from django.conf import settings
from selectolax.lexbor import LexborHTMLParser

from pipeline.integrations.enrich.addresses import AddressRefused, Resolver, system_resolver
from pipeline.integrations.enrich.extract import HtmlPage, build_profile, candidate_pages
from pipeline.integrations.enrich.fetch import (
    BudgetSpent,
    FetchError,
    FetchPolicy,
    Page,
    RobotsDisallowed,
    SafeFetcher,
)
from pipeline.integrations.enrich.targets import EnrichTarget
from pipeline.integrations.enrich.vocab import best_sector, country_code, employee_range
from pipeline.schemas import CompanyProfile, FieldSource

logger = logging.getLogger(__name__)


class ProviderError(Exception):
    """A provider could not answer. ``permanent`` says whether retrying later can help."""

    def __init__(self, code: str, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent


@dataclass
class ProviderResult:
    profile: CompanyProfile
    # Readable text of the fetched pages, for the claude strategy's sector reading.
    page_text: str = ""
    # Worth caching for the domain: something was actually learned or fetched successfully.
    cacheable: bool = False

    @property
    def found(self) -> bool:
        return bool(self.profile.company_name or self.profile.description)


class EnrichmentProvider(Protocol):
    name: str

    def enrich(self, target: EnrichTarget, *, deadline: float) -> ProviderResult:
        """Enrich within ``deadline`` (a time.monotonic() value). Raises ProviderError."""
        ...


# --- Built-in web provider ----------------------------------------------------------------

# Failures after which the next homepage candidate (www., plain http) is worth a try.
_TRY_NEXT_URL = frozenset({"connect", "tls", "timeout", "dns", "http"})


class WebProvider:
    """Fetches the homepage and a few same-site pages and reads the company from them."""

    name = "web"

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        *,
        resolver: Resolver = system_resolver,
        max_pages: int | None = None,
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self.max_pages = max_pages

    def enrich(self, target: EnrichTarget, *, deadline: float) -> ProviderResult:
        policy = self.policy or FetchPolicy.from_settings()
        max_pages = self.max_pages or settings.ENRICH_MAX_PAGES
        fetcher = SafeFetcher(policy, resolver=self.resolver)
        fetcher.deadline = min(fetcher.deadline, deadline)
        started = time.monotonic()

        home, skipped = self._homepage(fetcher, target)
        if home is None:
            profile = CompanyProfile(
                domain=target.domain,
                provider=self.name,
                skipped_reason=skipped,
                fetches=fetcher.records,
            )
            return ProviderResult(profile=profile)

        pages = [_html_page(home, is_home=True)]
        links = _links_of(pages[0])
        for url in candidate_pages(home.url, links, target.domain, max_pages - 1):
            try:
                page = fetcher.get(url)
            except BudgetSpent:
                break
            except (AddressRefused, FetchError):
                continue
            if page.is_html and page.body:
                pages.append(_html_page(page, is_home=False))

        profile, page_text = build_profile(target.domain, pages)
        profile = profile.model_copy(update={"provider": self.name, "fetches": fetcher.records})
        logger.info(
            "enrich web pages=%d fetches=%d fields=%d ms=%d",
            len(pages),
            len(fetcher.records),
            len(profile.field_sources),
            (time.monotonic() - started) * 1000,
        )
        return ProviderResult(profile=profile, page_text=page_text, cacheable=True)

    def _homepage(self, fetcher: SafeFetcher, target: EnrichTarget) -> tuple[Page | None, str]:
        reason = "nothing fetched"
        for url in target.urls:
            try:
                page = fetcher.get(url)
            except BudgetSpent:
                return None, "time budget spent"
            except RobotsDisallowed:
                return None, "robots.txt disallows the homepage"
            except AddressRefused as exc:
                reason = f"refused: {exc.code}"
                if exc.code != "dns":
                    return None, reason
                reason = "domain does not resolve"
                continue
            except FetchError as exc:
                reason = f"fetch failed: {exc.code}"
                if exc.code not in _TRY_NEXT_URL:
                    return None, reason
                continue
            if page.is_html and page.body:
                return page, ""
            reason = (
                f"homepage answered {page.status}"
                if page.status != 200
                else f"homepage is not HTML ({page.content_type or 'no content type'})"
            )
            if page.status < 500:
                return None, reason
        return None, reason


def _html_page(page: Page, *, is_home: bool) -> HtmlPage:
    return HtmlPage(
        url=page.url,
        html=page.text(),
        headers=tuple(page.headers.items()),
        cookie_names=tuple(page.cookie_names),
        is_home=is_home,
    )


def _links_of(page: HtmlPage) -> list[str]:
    tree = LexborHTMLParser(page.html)
    return [
        urljoin(page.url, (node.attributes.get("href") or "").strip())
        for node in tree.css("a[href]")
        if (node.attributes.get("href") or "").strip()
    ]


# --- Apollo adapter -----------------------------------------------------------------------


class ApolloProvider:
    """Apollo.io organization enrichment by domain (GET /api/v1/organizations/enrich)."""

    name = "apollo"

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = "https://api.apollo.io",
        session: requests.Session | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 8.0,
    ) -> None:
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout

    def enrich(self, target: EnrichTarget, *, deadline: float) -> ProviderResult:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ProviderError("budget", "no time left for Apollo")
        started = time.monotonic()
        try:
            response = self.session.get(
                f"{self.base_url}/api/v1/organizations/enrich",
                params={"domain": target.domain},
                headers={
                    "X-Api-Key": self.api_key,
                    "Accept": "application/json",
                    "Cache-Control": "no-cache",
                },
                timeout=(min(self.connect_timeout, remaining), min(self.read_timeout, remaining)),
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise ProviderError("timeout", "Apollo did not answer in time") from exc
        except requests.RequestException as exc:
            raise ProviderError("connect", "could not reach Apollo") from exc
        logger.info(
            "enrich apollo status=%s ms=%d",
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        if response.status_code in (401, 403):
            raise ProviderError(
                "auth", f"Apollo refused the API key ({response.status_code})", permanent=True
            )
        if response.status_code == 429:
            raise ProviderError("rate_limited", "Apollo rate limit reached")
        if response.status_code == 404:
            return ProviderResult(profile=_empty(target, "apollo has no record"))
        if response.status_code != 200:
            raise ProviderError("http", f"Apollo answered {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise ProviderError("protocol", "Apollo answered with invalid JSON") from exc
        organization = body.get("organization") if isinstance(body, dict) else None
        if not isinstance(organization, dict) or not organization.get("name"):
            return ProviderResult(profile=_empty(target, "apollo has no record"))
        return ProviderResult(profile=_apollo_profile(target.domain, organization), cacheable=True)


def _empty(target: EnrichTarget, reason: str) -> CompanyProfile:
    return CompanyProfile(domain=target.domain, provider="apollo", skipped_reason=reason)


def _text(value: object, limit: int = 1000) -> str:
    return " ".join(value.split())[:limit] if isinstance(value, str) else ""


def _apollo_profile(domain: str, organization: dict) -> CompanyProfile:
    source = FieldSource(source="apollo", confidence=0.85)
    values: dict[str, object] = {}
    sources: dict[str, FieldSource] = {}

    def put(name: str, value: object, confidence: float = 0.85) -> None:
        if value:
            values[name] = value
            sources[name] = source.model_copy(update={"confidence": confidence})

    put("company_name", _text(organization.get("name"), 200), 0.9)
    put("description", _text(organization.get("short_description")))
    industry = _text(organization.get("industry"), 200)
    hit = best_sector(industry) if industry else None
    put("sector", hit[0] if hit else industry.title(), 0.85 if hit else 0.6)
    count = organization.get("estimated_num_employees")
    if isinstance(count, int) and count > 0:
        put("employee_range", employee_range(count))
    put("country", country_code(_text(organization.get("country"), 80)))
    technologies = organization.get("technology_names") or [
        item.get("name")
        for item in organization.get("current_technologies") or []
        if isinstance(item, dict)
    ]
    tech_stack = [_text(name, 100) for name in technologies if _text(name, 100)][:100]
    for name in tech_stack:
        sources[f"tech_stack.{name}"] = source.model_copy(update={"confidence": 0.8})
    social: dict[str, str] = {}
    for network, key in (
        ("linkedin", "linkedin_url"),
        ("twitter", "twitter_url"),
        ("facebook", "facebook_url"),
    ):
        url = _text(organization.get(key), 500)
        if url.startswith(("http://", "https://")):
            social[network] = url
            sources[f"social_links.{network}"] = source
    return CompanyProfile(
        domain=domain,
        tech_stack=tech_stack,
        social_links=social,
        field_sources=sources,
        provider="apollo",
        **values,
    )


def default_providers() -> list[EnrichmentProvider]:
    """The paid provider first when configured, then the built-in web provider."""
    providers: list[EnrichmentProvider] = []
    if settings.APOLLO_API_KEY:
        providers.append(
            ApolloProvider(
                settings.APOLLO_API_KEY,
                base_url=settings.APOLLO_BASE_URL,
                connect_timeout=settings.ENRICH_CONNECT_TIMEOUT,
                read_timeout=settings.ENRICH_READ_TIMEOUT,
            )
        )
    providers.append(WebProvider())
    return providers
