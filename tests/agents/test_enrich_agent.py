"""The enrichment agent around its providers: the domain cache, the claude strategy, Apollo."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from pipeline import enrichment as cache
from pipeline.agents import enrich as enrich_agent
from pipeline.agents.enrich import SectorReading
from pipeline.enrichment import enrich
from pipeline.integrations.enrich.addresses import AddressPolicy
from pipeline.integrations.enrich.fetch import FetchPolicy
from pipeline.integrations.enrich.providers import ApolloProvider, WebProvider, default_providers
from pipeline.llm import LLMCallResult, LLMError
from pipeline.models import EnrichmentCache
from pipeline.schemas import LeadInput, LLMUsage
from tests.fakes.apollo import API_KEY, FakeApollo

pytestmark = pytest.mark.usefixtures("only_loopback_connections")

USAGE = LLMUsage(
    model="claude-test", input_tokens=900, output_tokens=20, cost_usd=Decimal("0.0011")
)


def web(sites) -> WebProvider:
    policy = FetchPolicy(
        connect_timeout=1.0,
        read_timeout=1.0,
        budget_seconds=3.0,
        address=AddressPolicy(allow_loopback=True, loopback_ports=sites.ports),
        verify=sites.ca_bundle,
    )
    return WebProvider(policy, resolver=sites.resolve)


@pytest.fixture(scope="module")
def apollo_server():
    server = FakeApollo().start()
    yield server
    server.stop()


@pytest.fixture
def apollo(apollo_server):
    apollo_server.requests.clear()
    apollo_server._scripted.clear()
    return apollo_server


def apollo_provider(apollo, **kwargs) -> ApolloProvider:
    return ApolloProvider(API_KEY, base_url=apollo.url, **kwargs)


class FakeClaude:
    """Stands in for pipeline.llm.call_structured; records what the agent asked."""

    def __init__(self, reading=None, error=None):
        self.reading = reading
        self.error = error
        self.calls = []

    def __call__(self, agent, *, system, content, schema, max_tokens=1024, context=""):
        self.calls.append({"agent": agent, "system": system, "content": content, "schema": schema})
        if self.error is not None:
            raise self.error
        return LLMCallResult(output=self.reading, usage=USAGE)


@pytest.fixture
def claude(monkeypatch):
    fake = FakeClaude()
    monkeypatch.setattr(enrich_agent, "call_structured", fake)
    return fake


# --- The domain cache ---------------------------------------------------------------------


@pytest.mark.django_db
def test_leads_from_one_company_fetch_its_site_once(sites, settings):
    settings.ENRICH_CACHE_TTL_HOURS = 24
    people = ["anna@ledgerly.io", "ben@ledgerly.io", "chloe@ledgerly.io"]
    results = [
        cache.enrich_with_cache(LeadInput(email=email), strategy="rules", providers=[web(sites)])
        for email in people
    ]

    assert sites.count("ledgerly.io", "/") == 1
    assert [result.output.provider for result in results] == ["web", "cache:web", "cache:web"]
    assert {result.output.company_name for result in results} == {"Ledgerly"}
    assert results[2].output.tech_stack == results[0].output.tech_stack
    assert results[2].notes == ["profile from the domain cache"]
    row = EnrichmentCache.objects.get()
    assert (row.domain, row.provider) == ("ledgerly.io", "web")
    assert row.expires_at - row.fetched_at == timedelta(hours=24)
    assert "Bookkeeping that does itself" in row.page_text


@pytest.mark.django_db
def test_an_expired_profile_is_fetched_again(sites):
    lead = LeadInput(email="anna@ledgerly.io")
    profile = enrich(lead, strategy="rules", providers=[web(sites)]).output
    long_ago = timezone.now() - timedelta(days=30)
    cache.store("ledgerly.io", profile, fetched_at=long_ago)
    sites.reset()

    result = cache.enrich_with_cache(lead, strategy="rules", providers=[web(sites)])

    assert result.output.provider == "web"
    assert sites.count("ledgerly.io", "/") == 1
    assert EnrichmentCache.objects.get().fetched_at > long_ago


@pytest.mark.django_db
def test_a_zero_ttl_turns_the_cache_off(sites, settings):
    settings.ENRICH_CACHE_TTL_HOURS = 0
    for email in ("anna@ledgerly.io", "ben@ledgerly.io"):
        cache.enrich_with_cache(LeadInput(email=email), strategy="rules", providers=[web(sites)])
    assert sites.count("ledgerly.io", "/") == 2
    assert not EnrichmentCache.objects.exists()


@pytest.mark.django_db
def test_failures_and_skipped_leads_are_not_cached(sites):
    for lead in (
        LeadInput(website="http://nobots.com/"),
        LeadInput(website="http://promo-redirect.com/metadata"),
        LeadInput(email="jane@gmail.com"),
    ):
        assert cache.enrich_with_cache(
            lead, strategy="rules", providers=[web(sites)]
        ).output.skipped_reason
    assert not EnrichmentCache.objects.exists()


@pytest.mark.django_db
def test_expired_rows_are_purged():
    now = timezone.now()
    profile = enrich_agent.CompanyProfile(domain="old.example", company_name="Old")
    cache.store("old.example", profile, fetched_at=now - timedelta(days=30))
    cache.store("new.example", profile.model_copy(update={"domain": "new.example"}), fetched_at=now)

    assert cache.purge_expired() == 1
    assert list(EnrichmentCache.objects.values_list("domain", flat=True)) == ["new.example"]
    assert cache.get_cached("old.example") is None
    assert cache.get_cached("new.example").profile.company_name == "Old"


# --- The claude strategy ------------------------------------------------------------------


def test_claude_reads_the_sector_from_the_page_text(sites, claude):
    claude.reading = SectorReading(sector="E-commerce & Retail", confidence=0.95)
    result = enrich(
        LeadInput(website="northwind-outfitters.co.uk"), strategy="claude", providers=[web(sites)]
    )

    assert result.strategy == "claude"
    assert result.usage == USAGE
    assert result.output.sector == "E-commerce & Retail"
    assert result.output.field_sources["sector"].source == "claude"
    assert result.output.field_sources["sector"].confidence == pytest.approx(0.95 * 0.85, abs=0.001)
    (call,) = claude.calls
    assert call["agent"] == "enrich" and call["schema"] is SectorReading
    assert "Website domain: northwind-outfitters.co.uk" in call["content"]
    assert "Hand-finished waxed cotton jackets" in call["content"]
    assert "a team of 14 makers" in call["content"]  # the about page's text too
    assert "var Shopify" not in call["content"]  # scripts are not page text
    assert "- Marketing & Advertising" in call["system"]


def test_an_explicit_fact_outweighs_a_hesitant_reading(sites, claude):
    claude.reading = SectorReading(sector="Financial Services", confidence=0.6)
    result = enrich(LeadInput(email="anna@ledgerly.io"), strategy="claude", providers=[web(sites)])

    assert result.output.sector == "Software & SaaS"
    assert result.output.field_sources["sector"].source == "json-ld @type"
    assert result.strategy == "claude" and result.usage == USAGE


@pytest.mark.parametrize(
    "reading",
    [
        SectorReading(sector="unknown", confidence=0.9),
        SectorReading(sector="Software & SaaS", confidence=0.2),
    ],
)
def test_an_unknown_or_unsure_reading_changes_nothing(sites, claude, reading):
    claude.reading = reading
    result = enrich(
        LeadInput(website="http://no-robots-file.com/"), strategy="claude", providers=[web(sites)]
    )
    assert result.output.sector == ""
    assert "sector" not in result.output.field_sources


def test_a_failed_claude_call_falls_back_to_the_rules_profile(sites, claude):
    claude.error = LLMError("overloaded", retryable=True, kind="overloaded", usage=USAGE)
    lead = LeadInput(website="northwind-outfitters.co.uk")
    result = enrich(lead, strategy="claude", providers=[web(sites)])

    assert result.strategy == "rules"
    assert result.fallback_reason == "overloaded: overloaded"
    assert result.usage == USAGE
    assert result.output.sector == "E-commerce & Retail"
    assert result.output.field_sources["sector"].source == "tech: Shopify"


def test_no_page_text_means_no_claude_call(sites, claude):
    result = enrich(LeadInput(email="jane@gmail.com"), strategy="claude", providers=[web(sites)])
    assert claude.calls == []
    assert result.strategy == "rules" and result.fallback_reason == ""


@pytest.mark.django_db
def test_the_claude_reading_is_cached_with_the_profile(sites, claude):
    claude.reading = SectorReading(sector="Hospitality, Travel & Food", confidence=0.9)
    # A rules run fills the cache first (with the page text) ...
    cache.enrich_with_cache(
        LeadInput(email="a@ledgerly.io"), strategy="rules", providers=[web(sites)]
    )
    stored = EnrichmentCache.objects.get()
    # ... a claude run reads the cached text without fetching and keeps its reading ...
    second = cache.enrich_with_cache(
        LeadInput(email="b@ledgerly.io"), strategy="claude", providers=[web(sites)]
    )
    # ... and the next claude run reuses that reading.
    third = cache.enrich_with_cache(
        LeadInput(email="c@ledgerly.io"), strategy="claude", providers=[web(sites)]
    )

    assert sites.count("ledgerly.io", "/") == 1
    assert len(claude.calls) == 1
    assert "Bookkeeping that does itself" in claude.calls[0]["content"]
    assert second.output.sector == third.output.sector == "Hospitality, Travel & Food"
    assert third.notes[-1] == "sector already read by Claude"
    row = EnrichmentCache.objects.get()
    assert row.profile["field_sources"]["sector"]["source"] == "claude"
    assert row.expires_at == stored.expires_at  # a reading does not extend the fetch's life


def test_the_claude_strategy_through_the_real_sdk(sites, fake_anthropic):
    result = enrich(
        LeadInput(website="http://no-robots-file.com/"), strategy="claude", providers=[web(sites)]
    )

    assert result.strategy == "claude"
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    # The fake answers the schema's first sector at its minimum confidence, 0: no reading.
    assert result.output.sector == ""
    body = fake_anthropic.requests[-1]["body"]
    assert body["tool_choice"] == {"type": "tool", "name": "record_enrich"}
    user_text = body["messages"][0]["content"]
    assert "<lead_submission>" in user_text and "hello" in user_text


def test_invalid_answers_from_the_real_sdk_fall_back_to_rules(sites, fake_anthropic):
    fake_anthropic.fail_next("invalid", "invalid")
    result = enrich(
        LeadInput(website="http://no-robots-file.com/"), strategy="claude", providers=[web(sites)]
    )
    assert result.strategy == "rules"
    assert result.fallback_reason.startswith("invalid_output")
    assert result.output.company_name == "No Robots File"


# --- Apollo -------------------------------------------------------------------------------


def test_apollo_is_asked_first_and_the_site_is_not_fetched(sites, apollo):
    result = enrich(
        LeadInput(email="anna@ledgerly.io"),
        strategy="rules",
        providers=[apollo_provider(apollo), web(sites)],
    )
    profile = result.output

    assert profile.provider == "apollo"
    assert profile.company_name == "Ledgerly"
    assert profile.description.startswith("Ledgerly builds automated bookkeeping")
    assert profile.sector == "Software & SaaS"
    assert profile.employee_range == "51-200"
    assert profile.country == "DE"
    assert profile.tech_stack == ["Next.js", "Vercel", "Segment", "Intercom", "Stripe"]
    assert profile.social_links == {
        "linkedin": "http://www.linkedin.com/company/ledgerly",
        "twitter": "https://twitter.com/ledgerlyhq",
    }
    assert {source.source for source in profile.field_sources.values()} == {"apollo"}
    (request,) = apollo.requests
    assert request["path"] == "/api/v1/organizations/enrich"
    assert request["query"] == {"domain": "ledgerly.io"}
    assert request["headers"]["X-Api-Key"] == API_KEY
    assert sites.hits == []


def test_a_domain_apollo_does_not_know_is_read_from_the_web(sites, apollo):
    result = enrich(
        LeadInput(email="marie@brightpath-digital.fr"),
        strategy="rules",
        providers=[apollo_provider(apollo), web(sites)],
    )
    assert result.output.provider == "web"
    assert result.output.company_name == "Brightpath Digital"
    assert result.notes == ["apollo: apollo has no record"]


@pytest.mark.parametrize(
    ("status", "code"), [(401, "auth"), (403, "auth"), (429, "rate_limited"), (500, "http")]
)
def test_apollo_errors_fall_back_to_the_web(sites, apollo, status, code):
    apollo.answer(status)
    result = enrich(
        LeadInput(email="anna@ledgerly.io"),
        strategy="rules",
        providers=[apollo_provider(apollo), web(sites)],
    )
    assert result.output.provider == "web"
    assert result.output.company_name == "Ledgerly"
    assert result.notes[0].startswith(f"apollo failed ({code})")


def test_a_wrong_apollo_key_is_reported(sites, apollo):
    provider = ApolloProvider("wrong-key", base_url=apollo.url)
    result = enrich(
        LeadInput(email="anna@ledgerly.io"), strategy="rules", providers=[provider, web(sites)]
    )
    assert result.notes[0].startswith("apollo failed (auth)")


def test_a_slow_apollo_is_given_up_on(sites, apollo):
    apollo.answer(200, delay=0.6)
    provider = apollo_provider(apollo, read_timeout=0.2)
    result = enrich(
        LeadInput(email="anna@ledgerly.io"), strategy="rules", providers=[provider, web(sites)]
    )
    assert result.notes[0].startswith("apollo failed (timeout)")
    assert result.output.provider == "web"


@pytest.mark.django_db
def test_apollo_profiles_are_cached_too(sites, apollo):
    providers = [apollo_provider(apollo), web(sites)]
    first = cache.enrich_with_cache(
        LeadInput(email="a@ledgerly.io"), strategy="rules", providers=providers
    )
    second = cache.enrich_with_cache(
        LeadInput(email="b@ledgerly.io"), strategy="rules", providers=providers
    )
    assert (first.output.provider, second.output.provider) == ("apollo", "cache:apollo")
    assert len(apollo.requests) == 1
    assert EnrichmentCache.objects.get().provider == "apollo"


def test_the_paid_provider_comes_first_only_when_configured(settings):
    settings.APOLLO_API_KEY = ""
    assert [provider.name for provider in default_providers()] == ["web"]
    settings.APOLLO_API_KEY = "key"
    settings.APOLLO_BASE_URL = "https://apollo.example"
    providers = default_providers()
    assert [provider.name for provider in providers] == ["apollo", "web"]
    assert providers[0].base_url == "https://apollo.example"
