"""The per-domain enrichment cache, and the one call the pipeline step makes.

Ten leads from one company fetch its site once: the profile is stored per registrable domain
for ENRICH_CACHE_TTL_HOURS (0 disables the cache). The agent stays ORM-free; this module reads
and writes the cache around it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from pipeline.agents.enrich import CachedEnrichment, run_enrichment
from pipeline.agents.types import AgentResult, CompanyProfile, LeadInput
from pipeline.integrations.enrich.providers import EnrichmentProvider
from pipeline.integrations.enrich.targets import EnrichTarget, target_for
from pipeline.models import EnrichmentCache

logger = logging.getLogger(__name__)


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
    strategy: str | None = None,
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
