"""The enrichment agent against realistic company sites served on loopback.

Each test reads one site the way production would (rules strategy, built-in web provider) and
checks every field of the profile, where it came from, and what was fetched or refused.
"""

import time

import pytest

from pipeline.enrichment import enrich
from pipeline.integrations.enrich.addresses import AddressPolicy
from pipeline.integrations.enrich.fetch import FetchPolicy
from pipeline.integrations.enrich.providers import WebProvider
from pipeline.schemas import LeadInput

pytestmark = pytest.mark.usefixtures("only_loopback_connections")


def web(sites, **overrides) -> WebProvider:
    values = {
        "connect_timeout": 1.0,
        "read_timeout": 1.0,
        "budget_seconds": 3.0,
        "max_bytes": 2_000_000,
        "address": AddressPolicy(allow_loopback=True, loopback_ports=sites.ports),
        "verify": sites.ca_bundle,
    }
    values.update(overrides)
    return WebProvider(FetchPolicy(**values), resolver=sites.resolve)


def run(sites, lead: LeadInput, **overrides):
    return enrich(lead, strategy="rules", providers=[web(sites, **overrides)])


def source(profile, field):
    found = profile.field_sources[field]
    return found.source, found.confidence


def test_a_shopify_store(sites):
    result = run(
        sites,
        LeadInput(email="orders@northwind-outfitters.co.uk", website="northwind-outfitters.co.uk"),
    )
    profile = result.output

    assert result.strategy == "rules" and result.usage is None
    assert profile.domain == "northwind-outfitters.co.uk"
    assert profile.provider == "web" and profile.skipped_reason == ""
    assert profile.company_name == "Northwind Outfitters"
    assert source(profile, "company_name") == ("json-ld", 0.9)
    assert profile.description == (
        "Northwind Outfitters makes waxed jackets, knitwear and outdoor clothing in Leeds, "
        "shipping across the UK and Europe."
    )
    assert source(profile, "description") == ("meta description", 0.8)
    assert profile.sector == "E-commerce & Retail"
    assert source(profile, "sector") == ("tech: Shopify", 0.45)
    assert profile.employee_range == "11-50"  # "a team of 14" on the about page
    assert (
        profile.field_sources["employee_range"].url
        == "https://northwind-outfitters.co.uk/pages/about-us"
    )
    assert profile.country == "GB"
    assert source(profile, "country") == ("tld", 0.3)
    assert profile.tech_stack == [
        "Shopify",
        "Google Analytics",
        "Meta Pixel",
        "Klaviyo",
        "Cloudflare",
    ]
    assert source(profile, "tech_stack.Shopify") == ("fingerprint: header x-shopid", 0.9)
    assert source(profile, "tech_stack.Klaviyo") == ("fingerprint: script or stylesheet URL", 0.85)
    assert source(profile, "tech_stack.Meta Pixel") == ("fingerprint: inline script", 0.7)
    assert profile.social_links == {
        "facebook": "https://www.facebook.com/northwindoutfitters",
        "instagram": "https://www.instagram.com/northwindoutfitters",
        "pinterest": "https://www.pinterest.co.uk/northwindoutfitters",
    }
    assert [(fetch.url, fetch.status) for fetch in profile.fetches] == [
        ("https://northwind-outfitters.co.uk/robots.txt", 200),
        ("https://northwind-outfitters.co.uk/", 200),
        ("https://northwind-outfitters.co.uk/pages/about-us", 200),  # linked as "Our story"
        ("https://northwind-outfitters.co.uk/pricing", 404),
    ]
    # Disallowed by the store's robots.txt and never linked as an about page: not fetched.
    assert sites.count("northwind-outfitters.co.uk", "/cart") == 0


def test_a_wordpress_agency_with_hubspot_forms(sites):
    profile = run(
        sites, LeadInput(email="marie@brightpath-digital.fr", website="brightpath-digital.fr")
    ).output

    assert profile.company_name == "Brightpath Digital"
    assert source(profile, "company_name") == ("json-ld", 0.9)  # Yoast's @graph Organization
    assert profile.description.startswith("Brightpath Digital is an inbound marketing agency")
    assert profile.sector == "Marketing & Advertising"
    assert source(profile, "sector") == ("meta keywords", 0.55)
    assert profile.employee_range == "11-50"  # "a team of 25" on /about-us/
    assert profile.country == "FR"
    assert profile.tech_stack == [
        "WordPress",
        "Hotjar",
        "Google Tag Manager",
        "HubSpot",
        "jQuery",
        "PHP",
        "Nginx",
        "Cookiebot",
    ]
    assert source(profile, "tech_stack.WordPress") == ("fingerprint: header link", 0.9)
    assert source(profile, "tech_stack.HubSpot") == ("fingerprint: script or stylesheet URL", 0.85)
    assert source(profile, "tech_stack.Nginx") == ("fingerprint: header server", 0.9)
    assert profile.social_links == {
        "linkedin": "https://www.linkedin.com/company/brightpath-digital",
        "twitter": "https://x.com/brightpathfr",
    }
    assert sites.count("brightpath-digital.fr", "/about-us/") == 1


def test_a_saas_site_with_json_ld_found_from_the_email_domain_alone(sites):
    profile = run(sites, LeadInput(name="Anna", email="anna@ledgerly.io")).output

    assert profile.domain == "ledgerly.io"
    assert profile.company_name == "Ledgerly"
    assert profile.description == (
        "Ledgerly is bookkeeping and invoicing software for startups and small businesses in Europe."
    )
    assert source(profile, "description") == ("json-ld", 0.85)
    assert profile.sector == "Software & SaaS"
    assert source(profile, "sector") == ("json-ld @type", 0.7)
    # JSON-LD says 51-200; the about page's "team of 120" agrees but counts for less.
    assert profile.employee_range == "51-200"
    assert source(profile, "employee_range") == ("json-ld", 0.9)
    assert profile.country == "DE"
    assert source(profile, "country") == ("json-ld address", 0.9)
    assert profile.tech_stack == ["Segment", "Intercom", "Next.js", "React", "Vercel", "Stripe"]
    assert source(profile, "tech_stack.React") == ("fingerprint: implied by Next.js", 0.6)
    assert profile.social_links == {
        "github": "https://github.com/ledgerly",
        "linkedin": "https://www.linkedin.com/company/ledgerly",
        "twitter": "https://x.com/ledgerlyhq",
        "youtube": "https://www.youtube.com/@ledgerly",
    }
    assert [(fetch.url, fetch.status, fetch.note) for fetch in profile.fetches] == [
        ("https://ledgerly.io/robots.txt", 200, ""),
        ("https://ledgerly.io/", 200, ""),
        ("https://ledgerly.io/about", 200, ""),
        ("https://ledgerly.io/pricing", None, "robots.txt disallows"),
    ]
    assert sites.count("ledgerly.io", "/pricing") == 0


def test_a_site_behind_a_redirect_chain(sites):
    profile = run(sites, LeadInput(email="ops@oldbrand.com", website="http://oldbrand.com")).output

    assert profile.domain == "oldbrand.com"
    assert profile.company_name == "Newbrand"
    assert source(profile, "company_name") == ("og:site_name", 0.8)
    assert profile.description.startswith("Newbrand (formerly Oldbrand) designs and manufactures")
    assert profile.sector == "Manufacturing & Industrial"
    assert (profile.employee_range, profile.country, profile.tech_stack) == ("", "", [])
    statuses = [(fetch.url, fetch.status) for fetch in profile.fetches if "robots" not in fetch.url]
    assert statuses[:3] == [
        ("http://oldbrand.com/", 301),
        ("https://oldbrand.com/", 302),
        ("https://www.newbrand.net/en/", 200),
    ]
    # The about pages are looked for on the site the chain ended on.
    assert all(url.startswith("https://www.newbrand.net/") for url, _ in statuses[3:])


def test_a_ten_megabyte_page_is_read_only_up_to_the_cap(sites):
    started = time.monotonic()
    profile = run(sites, LeadInput(website="http://bigcatalog.com/"), max_bytes=300_000).output

    assert time.monotonic() - started < 1.5
    assert profile.company_name == "Big Catalog"
    assert profile.description.startswith("Big Catalog lists every spare part")
    home = next(fetch for fetch in profile.fetches if fetch.url == "http://bigcatalog.com/")
    assert home.note == "truncated at 300000 bytes"


def test_json_ld_nested_past_pythons_stack_is_dropped_and_the_page_still_read(sites):
    """A hostile page: 100,000 nested brackets made json.loads raise RecursionError, which
    escaped the enrich step (found by an SSRF audit)."""
    from tests.fakes.websites import Route

    nested = "[" * 100_000 + "]" * 100_000
    page = (
        "<!doctype html><html><head><title>Nest Co</title>"
        f'<script type="application/ld+json">{nested}</script></head><body>hi</body></html>'
    )
    sites.sites["nested-jsonld.com"] = {"/": Route(body=page.encode())}
    try:
        profile = run(sites, LeadInput(website="http://nested-jsonld.com/")).output
    finally:
        sites.sites.pop("nested-jsonld.com")

    assert profile.company_name == "Nest Co"


def test_leads_whose_name_servers_never_answer_do_not_starve_other_leads_lookups(sites):
    """Their lookups outlive the leads that started them (getaddrinfo cannot be stopped): two
    such leads used to fill the shared pool, and the next lead's domain "did not resolve"."""
    import threading

    release = threading.Event()
    calls = []

    def resolver(host, port):
        if "slowdns-" in host:
            calls.append(host)
            release.wait(30)
            raise OSError("timed out")
        return sites.resolve(host, port)

    def enriched(email):
        provider = WebProvider(
            FetchPolicy(
                connect_timeout=0.3,
                read_timeout=1.0,
                budget_seconds=3.0,
                address=AddressPolicy(allow_loopback=True, loopback_ports=sites.ports),
                verify=sites.ca_bundle,
            ),
            resolver=resolver,
        )
        return enrich(LeadInput(email=email), strategy="rules", providers=[provider]).output

    try:
        for number in range(3):
            assert enriched(f"x@slowdns-{number}.com").skipped_reason == "domain does not resolve"
        # The same slow domain again and again shares the lookups already hanging.
        for _ in range(3):
            enriched("y@slowdns-0.com")
        after = enriched("anna@ledgerly.io")
    finally:
        release.set()

    assert after.company_name == "Ledgerly", (after.skipped_reason, after.fetches)
    assert len(calls) == 9  # three domains, three (host, port) each: none looked up twice


def test_a_slow_site_is_given_up_on_quickly(sites):
    started = time.monotonic()
    result = run(sites, LeadInput(website="http://slowpoke.com/"), read_timeout=0.3)

    assert time.monotonic() - started < 1.0
    assert result.output.skipped_reason == "fetch failed: timeout"
    assert result.output.company_name == ""
    assert result.output.fetches[-1].note == "failed: no response in time"


@pytest.mark.parametrize(
    ("website", "reason"),
    [
        ("http://promo-redirect.com/metadata", "refused: link_local"),
        ("http://promo-redirect.com/loopback", "refused: loopback"),
        ("http://promo-redirect.com/private-name", "refused: private"),
        ("http://169.254.169.254/latest/meta-data/", "refused: link_local"),
        ("http://[::ffff:a9fe:a9fe]/", "refused: link_local"),
        ("http://2852039166/", "refused: link_local"),
        ("http://10.0.0.1/", "refused: private"),
        ("http://metadata.rebind.com/", "refused: link_local"),
        ("http://promo-redirect.com@127.0.0.1/", "refused: userinfo"),
        ("http://northwind-outfitters.co.uk:6379/", "refused: loopback"),
    ],
)
def test_a_website_pointing_inside_our_network_is_refused(sites, website, reason):
    profile = run(sites, LeadInput(email="x@example.org", website=website)).output

    assert profile.skipped_reason == reason
    assert profile.company_name == ""
    assert sites.admin_hits() == 0


def test_loopback_sites_are_refused_with_the_default_settings(sites):
    result = enrich(
        LeadInput(website="https://ledgerly.io/"),
        strategy="rules",
        providers=[WebProvider(resolver=sites.resolve)],  # policy from settings
    )
    assert result.output.skipped_reason == "refused: loopback"
    assert sites.hits == []


def test_a_homepage_disallowed_by_robots_txt_is_not_fetched(sites):
    profile = run(sites, LeadInput(website="http://nobots.com/")).output
    assert profile.skipped_reason == "robots.txt disallows the homepage"
    assert sites.requests_to("nobots.com") == {"/robots.txt": 1}


def test_a_homepage_that_is_not_html_gives_nothing(sites):
    profile = run(sites, LeadInput(website="http://pdf-home.com/")).output
    assert profile.skipped_reason == "homepage is not HTML (application/pdf)"


@pytest.mark.parametrize(
    ("lead", "reason", "domain"),
    [
        (LeadInput(email="jane.doe@gmail.com"), "free-mail domain", "gmail.com"),
        (LeadInput(email="jane@eu.outlook.fr"), "free-mail domain", "outlook.fr"),
        (LeadInput(email="x@mailinator.com"), "disposable email domain", "mailinator.com"),
        (LeadInput(email="x@gmail.com", website="gmail.com"), "free-mail domain", "gmail.com"),
        (
            LeadInput(email="x@gmail.com", website="https://www.linkedin.com/company/acme"),
            "free-mail domain",
            "gmail.com",
        ),
        (LeadInput(name="No contact"), "no website and no email domain", ""),
    ],
)
def test_leads_without_a_company_domain_fetch_nothing(sites, lead, reason, domain):
    result = run(sites, lead)
    assert result.output.skipped_reason == reason
    assert result.output.domain == domain
    assert result.output.fetches == []
    assert sites.resolved == [] and sites.hits == []


def test_the_website_field_wins_over_the_email_domain(sites):
    profile = run(
        sites, LeadInput(email="anna@ledgerly.io", website="brightpath-digital.fr")
    ).output
    assert profile.domain == "brightpath-digital.fr"
    assert sites.requests_to("ledgerly.io") == {}


def test_a_free_mail_lead_with_a_company_website_is_enriched(sites):
    profile = run(
        sites, LeadInput(email="marie.bp@gmail.com", website="https://brightpath-digital.fr/")
    ).output
    assert profile.company_name == "Brightpath Digital"
