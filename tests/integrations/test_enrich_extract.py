"""Reading company facts from HTML, without a network: structured data, meta, text, fingerprints."""

import pytest
from selectolax.lexbor import LexborHTMLParser

from pipeline.integrations.enrich import fingerprints
from pipeline.integrations.enrich.extract import (
    HtmlPage,
    build_profile,
    candidate_pages,
    employee_mentions,
    social_profile,
)
from pipeline.integrations.enrich.targets import registrable_parts
from pipeline.integrations.enrich.vocab import (
    best_sector,
    country_code,
    country_from_suffix,
    employee_range,
)


def home(html: str, url: str = "https://acme-widgets.com/", **kwargs) -> HtmlPage:
    return HtmlPage(url=url, html=html, is_home=True, **kwargs)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Today we are a team of 14 makers and menders.", ["11-50"]),
        ("We employ 120 employees in three offices.", ["51-200"]),
        ("Company size: 11-50 employees", ["11-50"]),
        ("A 40-person team in Lisbon.", ["11-50"]),
        ("We are 8 people who love spreadsheets.", ["2-10"]),
        ("More than 1,200 employees worldwide.", ["1001-5000"]),
        ("Trusted by 12,000 small businesses.", []),
        ("A team of 5 countries and 30 languages", []),
        ("Founded in 2019 in Berlin.", []),
        ("Over 300 projects for clients in 12 countries.", []),
    ],
)
def test_employee_counts_are_read_from_what_the_text_says(text, expected):
    assert [value for value, _confidence in employee_mentions(text)] == expected


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (1, None, "0-1"),
        (7, None, "2-10"),
        (51, 200, "51-200"),
        (11, 200, "11-200"),
        (20000, None, "10001+"),
    ],
)
def test_head_counts_map_to_linkedin_ranges(low, high, expected):
    assert employee_range(low, high) == expected


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        (
            "https://www.linkedin.com/company/acme/",
            ("linkedin", "https://www.linkedin.com/company/acme"),
        ),
        ("https://www.linkedin.com/in/jane-doe", None),  # a person, not the company
        ("https://x.com/acmehq?lang=en", ("twitter", "https://x.com/acmehq")),
        ("https://twitter.com/intent/tweet?url=x", None),
        ("https://www.facebook.com/sharer/sharer.php?u=x", None),
        (
            "https://www.facebook.com/acmewidgets",
            ("facebook", "https://www.facebook.com/acmewidgets"),
        ),
        ("https://www.youtube.com/@acme", ("youtube", "https://www.youtube.com/@acme")),
        ("https://www.youtube.com/watch?v=abc", None),
        ("https://github.com/acme", ("github", "https://github.com/acme")),
        ("https://www.pinterest.co.uk/acme", ("pinterest", "https://www.pinterest.co.uk/acme")),
        ("https://x.company.com/acme", None),
        ("https://www.instagram.com/", None),
        ("javascript:alert(1)", None),
    ],
)
def test_social_links_are_company_profiles_only(link, expected):
    assert social_profile(link) == expected


def test_one_broken_json_ld_block_does_not_hide_the_others():
    page = home(
        """<html><head>
        <script type="application/ld+json">{ "@type": "Organization", name: broken, }</script>
        <script type="application/ld+json">{"@context": "https://schema.org", "@type": "Corporation",
          "name": "Acme Widgets Ltd", "url": "https://acme-widgets.com/",
          "numberOfEmployees": 42, "address": {"@type": "PostalAddress", "addressCountry": {"@type": "Country", "name": "Ireland"}}}</script>
        </head><body></body></html>"""
    )
    profile, _text = build_profile("acme-widgets.com", [page])
    assert profile.company_name == "Acme Widgets Ltd"
    assert profile.employee_range == "11-50"
    assert profile.country == "IE"
    assert profile.field_sources["company_name"].source == "json-ld"
    assert profile.field_sources["country"].source == "json-ld address"


def test_microdata_organizations_are_read():
    page = home(
        """<html><body><div itemscope itemtype="https://schema.org/Organization">
        <span itemprop="name">Acme Widgets</span>
        <div itemprop="address" itemscope itemtype="https://schema.org/PostalAddress">
          <span itemprop="addressCountry">France</span></div>
        <link itemprop="sameAs" href="https://www.linkedin.com/company/acme-widgets">
        </div></body></html>"""
    )
    profile, _text = build_profile("acme-widgets.com", [page])
    assert profile.company_name == "Acme Widgets"
    assert profile.country == "FR"
    assert profile.social_links == {"linkedin": "https://www.linkedin.com/company/acme-widgets"}
    assert profile.field_sources["company_name"].source == "microdata"


def test_the_title_names_the_company_when_nothing_better_does():
    page = home("<html><head><title>Home | Acme Widgets</title></head><body></body></html>")
    profile, _text = build_profile("acme-widgets.com", [page])
    assert profile.company_name == "Acme Widgets"
    assert profile.field_sources["company_name"].source == "title"
    assert profile.field_sources["company_name"].confidence == 0.6


def test_nothing_is_guessed_from_an_empty_page():
    profile, text = build_profile("acme-widgets.com", [home("<html><body></body></html>")])
    assert (profile.company_name, profile.description, profile.sector) == ("", "", "")
    assert (profile.employee_range, profile.country) == ("", "")
    assert profile.tech_stack == [] and profile.social_links == {}
    assert text == ""


def test_a_generic_cctld_is_no_country_hint():
    profile, _ = build_profile(
        "acme.io", [home("<html><title>Acme</title></html>", "https://acme.io/")]
    )
    assert profile.country == ""
    profile, _ = build_profile(
        "acme.de", [home("<html><title>Acme</title></html>", "https://acme.de/")]
    )
    assert profile.country == "DE"
    assert profile.field_sources["country"].source == "tld"


def test_page_text_excludes_scripts_and_styles():
    page = home(
        "<html><head><style>.x{color:red}</style></head><body><p>We make widgets.</p>"
        "<script>var secret = 1;</script><noscript>enable js</noscript></body></html>"
    )
    _profile, text = build_profile("acme-widgets.com", [page])
    assert text == "We make widgets."


def test_candidate_pages_prefer_linked_about_pages_and_stay_on_site():
    links = [
        "https://acme-widgets.com/who-we-are/",
        "https://www.acme-widgets.com/company",
        "https://other.com/about",
        "https://acme-widgets.com/blog/about-our-new-widget",
        "https://acme-widgets.com/",
    ]
    pages = candidate_pages("https://acme-widgets.com/", links, "acme-widgets.com", 3)
    assert pages == [
        "https://acme-widgets.com/who-we-are/",
        "https://www.acme-widgets.com/company",
        "https://acme-widgets.com/pricing",
    ]
    assert candidate_pages("https://acme-widgets.com/", [], "acme-widgets.com", 2) == [
        "https://acme-widgets.com/about",
        "https://acme-widgets.com/company",
    ]


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("DE", "DE"),
        ("de", "DE"),
        ("Deutschland", "DE"),
        ("United States", "US"),
        ("UK", "GB"),
        ("Narnia", ""),
        ("", ""),
    ],
)
def test_country_names_become_iso_codes(value, code):
    assert country_code(value) == code


@pytest.mark.parametrize(
    ("suffix", "code"),
    [("co.uk", "GB"), ("fr", "FR"), ("io", ""), ("com", ""), ("myshopify.com", "")],
)
def test_country_hint_from_the_public_suffix(suffix, code):
    assert country_from_suffix(suffix) == code


def test_sector_keywords_pick_one_sector_or_none():
    assert best_sector("inbound marketing, SEO, content marketing")[0] == "Marketing & Advertising"
    assert best_sector("we sell things") is None
    assert best_sector("seo, logistics") is None  # a tie is no answer


def test_registrable_domains_use_the_bundled_public_suffix_list():
    assert registrable_parts("www.northwind-outfitters.co.uk") == (
        "northwind-outfitters.co.uk",
        "northwind-outfitters",
        "co.uk",
    )
    assert registrable_parts("acme.myshopify.com")[0] == "acme.myshopify.com"
    assert registrable_parts("127.0.0.1") == ("127.0.0.1", "127.0.0.1", "")


def detect(html="", headers=(), cookies=()):
    tree = LexborHTMLParser(html or "<html></html>")
    signals = fingerprints.signals_from("https://acme.test/", headers, list(cookies), tree)
    return fingerprints.detect([signals])


@pytest.mark.parametrize(
    ("kwargs", "name", "evidence"),
    [
        ({"headers": [("X-ShopId", "1")]}, "Shopify", "header x-shopid"),
        ({"cookies": ["_shopify_y"]}, "Shopify", "cookie"),
        (
            {"html": '<meta name="generator" content="WordPress 6.5">'},
            "WordPress",
            "meta generator",
        ),
        (
            {"html": '<script src="//js-eu1.hs-scripts.com/1.js"></script>'},
            "HubSpot",
            "script or stylesheet URL",
        ),
        (
            {
                "html": '<form action="https://webto.salesforce.com/servlet/servlet.WebToLead"></form>'
            },
            "Salesforce",
            "form action",
        ),
        ({"html": '<div ng-version="17.1.0"></div>'}, "Angular", "page markup"),
        (
            {"html": "<script>window.intercomSettings = {app_id: 'x'};</script>"},
            "Intercom",
            "inline script",
        ),
        ({"headers": [("Server", "cloudflare")]}, "Cloudflare", "header server"),
        ({"headers": [("X-Powered-By", "Express")]}, "Express", "header x-powered-by"),
        (
            {"html": '<script src="https://js.driftt.com/include/1/x.js"></script>'},
            "Drift",
            "script or stylesheet URL",
        ),
        (
            {"html": '<link rel="stylesheet" href="/wp-content/plugins/woocommerce/x.css">'},
            "WooCommerce",
            "script or stylesheet URL",
        ),
    ],
)
def test_technologies_are_recognised_from_each_kind_of_evidence(kwargs, name, evidence):
    found = detect(**kwargs)
    assert found[name].evidence == evidence


def test_implied_technologies_are_added_with_less_confidence():
    found = detect(html='<script id="__NEXT_DATA__" type="application/json">{}</script>')
    assert found["React"].evidence == "implied by Next.js"
    assert found["React"].confidence < found["Next.js"].confidence


def test_a_plain_page_shows_no_technology():
    assert (
        detect(
            html="<html><body><p>Hello</p></body></html>", headers=[("Content-Type", "text/html")]
        )
        == {}
    )


def test_the_fingerprint_table_is_consistent():
    names = [tech.name for tech in fingerprints.TECHNOLOGIES]
    assert len(names) == len(set(names)) >= 60
    for tech in fingerprints.TECHNOLOGIES:
        assert all(implied in fingerprints.BY_NAME for implied in tech.implies)
        assert (
            tech.headers
            or tech.cookies
            or tech.generator
            or tech.urls
            or tech.forms
            or tech.selectors
            or tech.inline
        )
        for selector in tech.selectors:
            LexborHTMLParser("<html></html>").css(selector)  # valid CSS
    categories = {tech.category for tech in fingerprints.TECHNOLOGIES}
    assert {
        "CMS",
        "E-commerce",
        "Analytics",
        "Tag manager",
        "CRM & marketing automation",
        "Live chat",
        "Framework",
        "CDN & hosting",
    } <= categories


def test_the_fingerprint_file_refuses_unknown_fields_and_unknown_implied_names(tmp_path):
    bad_field = tmp_path / "fields.json"
    bad_field.write_text('[{"name": "X", "category": "CMS", "url": ["/x/"]}]')
    with pytest.raises(ValueError, match="unknown fields"):
        fingerprints.load_technologies(bad_field)
    bad_implies = tmp_path / "implies.json"
    bad_implies.write_text('[{"name": "X", "category": "CMS", "implies": ["Nope"]}]')
    with pytest.raises(ValueError, match="implies unknown"):
        fingerprints.load_technologies(bad_implies)


def test_a_fingerprint_written_in_the_file_is_detected(tmp_path):
    path = tmp_path / "fingerprints.json"
    path.write_text(
        '[{"name": "Acme CMS", "category": "CMS", "generator": "^Acme", "implies": ["PHP"]},'
        ' {"name": "PHP", "category": "Web server & backend"}]'
    )
    (acme, php) = fingerprints.load_technologies(path)
    assert (acme.name, acme.generator, acme.implies) == ("Acme CMS", "^Acme", ("PHP",))
    assert php.category == "Web server & backend"
