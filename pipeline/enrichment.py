"""Enrichment on the lead pipeline's side: providers, the per-domain cache, and the agent.

The enrich step calls `enrich_with_cache(lead, strategy=...)`: it looks the lead's registrable
domain up in the cache, runs the providers (a paid API when configured, then the built-in web
reader) when there is no fresh entry, lets the agent (`pipeline.agents.enrich.judge`) add
Claude's sector reading, and writes the cache back. Ten leads from one company fetch its site
once: a profile is kept for ENRICH_CACHE_TTL_HOURS (0 disables the cache).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from pipeline.agents.enrich import judge
from pipeline.integrations.enrich.providers import (
    EnrichmentProvider,
    ProviderError,
    ProviderResult,
    default_providers,
)
from pipeline.integrations.enrich.targets import EnrichTarget, NoTarget, target_for
from pipeline.models import EnrichmentCache
from pipeline.schemas import AgentResult, CompanyProfile, LeadInput

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachedEnrichment:
    """A profile stored for a domain, with the page text it was read from."""

    domain: str
    profile: CompanyProfile
    page_text: str = ""
    fetched_at: datetime | None = None


@dataclass
class EnrichmentRun:
    """The agent's result plus what the step should write back to the domain cache."""

    result: AgentResult[CompanyProfile]
    # None: nothing to (re)write; else store this (fetched_at None means "fetched now").
    to_cache: CachedEnrichment | None = None


def enrich(
    lead: LeadInput,
    *,
    strategy: str = "rules",
    cached: CachedEnrichment | None = None,
    providers: list[EnrichmentProvider] | None = None,
) -> AgentResult[CompanyProfile]:
    """Enrich the lead's company. ``cached``: the cache hit for the lead's domain, if any."""
    return run_enrichment(lead, strategy=strategy, cached=cached, providers=providers).result


def run_enrichment(
    lead: LeadInput,
    *,
    strategy: str = "rules",
    cached: CachedEnrichment | None = None,
    providers: list[EnrichmentProvider] | None = None,
) -> EnrichmentRun:
    target = target_for(lead)
    if isinstance(target, NoTarget):
        profile = CompanyProfile(domain=target.domain, skipped_reason=target.reason)
        return EnrichmentRun(result=AgentResult(output=profile, strategy="rules"))

    notes: list[str] = []
    to_cache: CachedEnrichment | None = None
    if cached is not None and cached.domain == target.domain:
        provider_name = cached.profile.provider.removeprefix("cache:")
        profile = cached.profile.model_copy(update={"provider": f"cache:{provider_name}"})
        page_text = cached.page_text
        notes.append("profile from the domain cache")
    else:
        found = _run_providers(target, providers, notes)
        profile, page_text = found.profile, found.page_text
        if found.cacheable:
            to_cache = CachedEnrichment(target.domain, profile, page_text)

    result = judge(profile, page_text, strategy=strategy, notes=notes)
    if result.usage is not None:
        # Keep Claude's reading with the cached profile so other leads of this company reuse it.
        base = to_cache or cached
        if base is not None:
            to_cache = CachedEnrichment(target.domain, result.output, page_text, base.fetched_at)
    return EnrichmentRun(result, to_cache)


def _run_providers(
    target: EnrichTarget, providers: list[EnrichmentProvider] | None, notes: list[str]
) -> ProviderResult:
    """The first provider that finds the company; else the last answer (it says why not)."""
    deadline = time.monotonic() + settings.ENRICH_BUDGET_SECONDS
    last: ProviderResult | None = None
    for provider in providers if providers is not None else default_providers():
        try:
            result = provider.enrich(target, deadline=deadline)
        except ProviderError as exc:
            logger.warning("enrich provider=%s failed: %s", provider.name, exc.code)
            notes.append(f"{provider.name} failed ({exc.code}): {exc}")
            continue
        if result.found:
            return result
        notes.append(f"{provider.name}: {result.profile.skipped_reason or 'nothing found'}")
        last = result
    if last is not None:
        return last
    return ProviderResult(
        profile=CompanyProfile(domain=target.domain, skipped_reason="no provider answered")
    )


def get_cached(domain: str, *, now: datetime | None = None) -> CachedEnrichment | None:
    """The unexpired cached profile for a registrable domain, or None."""
    if not domain or settings.ENRICH_CACHE_TTL_HOURS <= 0:
        return None
    now = now or timezone.now()
    row = EnrichmentCache.objects.filter(domain=domain, expires_at__gt=now).first()
    if row is None:
        return None
    try:
        profile = CompanyProfile.model_validate(row.profile)
    except ValueError:
        logger.warning("enrich cache row %s does not validate; ignoring it", row.pk)
        return None
    return CachedEnrichment(
        domain=row.domain, profile=profile, page_text=row.page_text, fetched_at=row.fetched_at
    )


def store(
    domain: str,
    profile: CompanyProfile,
    *,
    page_text: str = "",
    fetched_at: datetime | None = None,
    now: datetime | None = None,
) -> None:
    """Store (or replace) the profile for a domain; it expires TTL hours after ``fetched_at``."""
    ttl_hours = settings.ENRICH_CACHE_TTL_HOURS
    if not domain or ttl_hours <= 0:
        return
    fetched_at = fetched_at or now or timezone.now()
    EnrichmentCache.objects.update_or_create(
        domain=domain,
        defaults={
            "profile": profile.model_dump(mode="json"),
            "provider": profile.provider.removeprefix("cache:")[:40],
            "page_text": page_text,
            "fetched_at": fetched_at,
            "expires_at": fetched_at + timedelta(hours=ttl_hours),
        },
    )


def purge_expired(*, now: datetime | None = None) -> int:
    """Delete expired rows; returns how many. Cheap enough for a periodic sweep."""
    deleted, _ = EnrichmentCache.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted


def enrich_with_cache(
    lead: LeadInput,
    *,
    strategy: str = "rules",
    providers: list[EnrichmentProvider] | None = None,
) -> AgentResult[CompanyProfile]:
    """What the pipeline's enrich step calls: cache lookup, the agent, cache write."""
    target = target_for(lead)
    cached = get_cached(target.domain) if isinstance(target, EnrichTarget) else None
    run = run_enrichment(lead, strategy=strategy, cached=cached, providers=providers)
    if run.to_cache is not None:
        entry = run.to_cache
        stored = entry.profile.model_copy(
            update={"provider": entry.profile.provider.removeprefix("cache:")}
        )
        store(entry.domain, stored, page_text=entry.page_text, fetched_at=entry.fetched_at)
    return run.result
