"""Which technologies a website runs, from fingerprints: headers, cookies, the generator meta
tag, script and stylesheet URLs, form actions, known element markers and inline script text.

A small curated table of our own covering what B2B sales asks about (CMS, e-commerce,
analytics, tag managers, CRM and marketing automation, chat, frameworks, CDNs). Patterns are
matched against values already pulled out of the parsed page, never against raw HTML.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

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


CMS = "CMS"
ECOMMERCE = "E-commerce"
ANALYTICS = "Analytics"
TAG_MANAGER = "Tag manager"
ADVERTISING = "Advertising"
CRM = "CRM & marketing automation"
CHAT = "Live chat"
FRAMEWORK = "Framework"
SERVER = "Web server & backend"
CDN = "CDN & hosting"
OTHER = "Business tools"

TECHNOLOGIES: tuple[Technology, ...] = (
    # --- CMS ----------------------------------------------------------------------------------
    Technology(
        "WordPress",
        CMS,
        headers=(("link", r"rel=\"?https://api\.w\.org/"), ("x-pingback", r"/xmlrpc\.php")),
        generator=r"^WordPress",
        urls=(r"/wp-content/", r"/wp-includes/"),
    ),
    Technology(
        "Drupal",
        CMS,
        headers=(
            ("x-generator", r"Drupal"),
            ("x-drupal-cache", ""),
            ("x-drupal-dynamic-cache", ""),
        ),
        generator=r"^Drupal",
        urls=(r"/sites/(default|all)/(files|themes|modules)/", r"/core/misc/drupal\.js"),
    ),
    Technology(
        "Joomla",
        CMS,
        generator=r"Joomla",
        urls=(r"/media/jui/", r"/media/system/js/", r"/templates/[^/]+/js/template\.js"),
    ),
    Technology("Ghost", CMS, headers=(("x-ghost-cache-status", ""),), generator=r"^Ghost"),
    Technology(
        "Webflow",
        CMS,
        generator=r"^Webflow",
        urls=(r"assets\.website-files\.com", r"cdn\.prod\.website-files\.com", r"webflow\.js"),
        selectors=("html[data-wf-site]", "html[data-wf-page]"),
    ),
    Technology(
        "Wix",
        CMS,
        headers=(("x-wix-request-id", ""),),
        generator=r"^Wix\.com",
        urls=(r"static\.parastorage\.com", r"static\.wixstatic\.com"),
    ),
    Technology(
        "Squarespace",
        CMS,
        headers=(("server", r"^Squarespace"),),
        urls=(r"static1\.squarespace\.com", r"assets\.squarespace\.com"),
    ),
    Technology(
        "HubSpot CMS",
        CMS,
        headers=(("x-hs-hub-id", ""), ("x-hs-cache-config", "")),
        generator=r"^HubSpot",
        urls=(r"/hs/hsstatic/", r"static\.hsappstatic\.net"),
        implies=("HubSpot",),
    ),
    Technology("TYPO3", CMS, generator=r"TYPO3", urls=(r"/typo3temp/", r"/typo3conf/")),
    Technology(
        "Framer",
        CMS,
        generator=r"^Framer",
        urls=(r"framerusercontent\.com", r"events\.framer\.com"),
    ),
    # --- E-commerce ---------------------------------------------------------------------------
    Technology(
        "Shopify",
        ECOMMERCE,
        headers=(("x-shopid", ""), ("x-shopify-stage", ""), ("powered-by", r"Shopify")),
        cookies=(r"^_shopify_[ys]$", r"^_shopify_sa_[pt]$"),
        urls=(r"cdn\.shopify\.com", r"/cdn/shopifycloud/", r"/cdn/shop/"),
        inline=("shopify.shop",),
    ),
    Technology(
        "WooCommerce",
        ECOMMERCE,
        cookies=(r"^woocommerce_", r"^wp_woocommerce_session"),
        generator=r"^WooCommerce",
        urls=(r"/wp-content/plugins/woocommerce/",),
        implies=("WordPress",),
    ),
    Technology(
        "Magento",
        ECOMMERCE,
        headers=(("x-magento-cache-debug", ""), ("x-magento-tags", "")),
        cookies=(r"^X-Magento-Vary$", r"^mage-cache-"),
        urls=(r"/static/version\d+/frontend/", r"/mage/"),
    ),
    Technology(
        "BigCommerce",
        ECOMMERCE,
        headers=(("x-bc-storefront-request-id", ""),),
        urls=(r"cdn\d*\.bigcommerce\.com",),
    ),
    Technology(
        "PrestaShop",
        ECOMMERCE,
        headers=(("powered-by", r"PrestaShop"),),
        cookies=(r"^PrestaShop-",),
        generator=r"PrestaShop",
    ),
    Technology("Shopware", ECOMMERCE, urls=(r"/bundles/storefront/", r"/themes/Frontend/")),
    Technology(
        "Salesforce Commerce Cloud",
        ECOMMERCE,
        cookies=(r"^dwsid$", r"^dwac_"),
        urls=(r"demandware\.static", r"/on/demandware\.store/"),
    ),
    Technology("Ecwid", ECOMMERCE, urls=(r"app\.ecwid\.com",)),
    # --- Analytics ----------------------------------------------------------------------------
    Technology(
        "Google Analytics",
        ANALYTICS,
        urls=(r"google-analytics\.com/(analytics|ga)\.js", r"googletagmanager\.com/gtag/js"),
        inline=("google-analytics.com/analytics.js", "googletagmanager.com/gtag/js"),
    ),
    Technology(
        "Matomo",
        ANALYTICS,
        urls=(r"/matomo\.js", r"/piwik\.js", r"cdn\.matomo\.cloud"),
        inline=("_paq.push",),
    ),
    Technology("Plausible", ANALYTICS, urls=(r"plausible\.io/js/",)),
    Technology("Fathom", ANALYTICS, urls=(r"cdn\.usefathom\.com",)),
    Technology(
        "Mixpanel",
        ANALYTICS,
        urls=(r"cdn\.mxpnl\.com", r"cdn\.mixpanel\.com"),
        inline=("mixpanel.init(",),
    ),
    Technology(
        "Segment",
        ANALYTICS,
        urls=(r"cdn\.segment\.com/analytics",),
        inline=("cdn.segment.com/analytics",),
    ),
    Technology(
        "Amplitude",
        ANALYTICS,
        urls=(r"cdn\.amplitude\.com",),
        inline=("cdn.amplitude.com", "amplitude.getinstance("),
    ),
    Technology("Heap", ANALYTICS, urls=(r"cdn\.heapanalytics\.com",), inline=("heap.load(",)),
    Technology("Hotjar", ANALYTICS, urls=(r"static\.hotjar\.com",), inline=("static.hotjar.com",)),
    Technology(
        "Microsoft Clarity", ANALYTICS, urls=(r"clarity\.ms/tag",), inline=("clarity.ms/tag",)
    ),
    Technology(
        "PostHog",
        ANALYTICS,
        urls=(r"posthog\.com/static/array", r"i\.posthog\.com"),
        inline=("posthog.init(",),
    ),
    Technology("Adobe Analytics", ANALYTICS, urls=(r"AppMeasurement(\.min)?\.js",)),
    Technology("Optimizely", ANALYTICS, urls=(r"cdn\.optimizely\.com",)),
    Technology(
        "VWO",
        ANALYTICS,
        urls=(r"dev\.visualwebsiteoptimizer\.com",),
        inline=("visualwebsiteoptimizer.com",),
    ),
    # --- Tag managers -------------------------------------------------------------------------
    Technology(
        "Google Tag Manager",
        TAG_MANAGER,
        urls=(r"googletagmanager\.com/gtm\.js", r"googletagmanager\.com/ns\.html"),
        inline=("googletagmanager.com/gtm.js",),
    ),
    Technology("Adobe Experience Platform Tags", TAG_MANAGER, urls=(r"assets\.adobedtm\.com",)),
    Technology("Tealium", TAG_MANAGER, urls=(r"tags\.tiqcdn\.com",), inline=("tags.tiqcdn.com",)),
    # --- Advertising --------------------------------------------------------------------------
    Technology(
        "Meta Pixel",
        ADVERTISING,
        urls=(r"connect\.facebook\.net/[^/]+/fbevents\.js",),
        inline=("connect.facebook.net/en_us/fbevents.js", "fbq('init'", 'fbq("init"'),
    ),
    Technology(
        "LinkedIn Insight Tag",
        ADVERTISING,
        urls=(r"snap\.licdn\.com/li\.lms-analytics",),
        inline=("_linkedin_partner_id",),
    ),
    Technology(
        "Google Ads",
        ADVERTISING,
        urls=(r"googleadservices\.com/pagead/conversion", r"googleads\.g\.doubleclick\.net"),
        inline=("googleadservices.com/pagead/conversion",),
    ),
    # --- CRM and marketing automation ---------------------------------------------------------
    Technology(
        "HubSpot",
        CRM,
        cookies=(r"^__hstc$", r"^hubspotutk$", r"^__hssc$"),
        urls=(
            r"js(-[a-z0-9]+)?\.hs-scripts\.com",
            r"js(-[a-z0-9]+)?\.hsforms\.net",
            r"js(-[a-z0-9]+)?\.hs-analytics\.net",
            r"js\.hscollectedforms\.net",
            r"js\.hs-banner\.com",
        ),
        forms=(r"forms(-[a-z0-9]+)?\.hsforms\.com",),
        inline=("hbspt.forms.create", "js.hs-scripts.com"),
    ),
    Technology(
        "Marketo",
        CRM,
        urls=(r"munchkin\.marketo\.net", r"/js/forms2/js/forms2(\.min)?\.js"),
        inline=("munchkin.init(", "mktoforms2"),
    ),
    Technology(
        "Salesforce Account Engagement (Pardot)",
        CRM,
        urls=(r"pi\.pardot\.com", r"cdn\.pardot\.com"),
        forms=(r"go\.pardot\.com", r"/l/\d+/\d{4}-\d{2}-\d{2}/"),
        inline=("piaid", "pi.pardot.com"),
    ),
    Technology("Salesforce", CRM, forms=(r"webto\.salesforce\.com", r"\.my\.salesforce\.com")),
    Technology(
        "ActiveCampaign",
        CRM,
        urls=(r"trackcmp\.net", r"\.activehosted\.com"),
        forms=(r"\.activehosted\.com/proc\.php",),
        inline=("trackcmp.net",),
    ),
    Technology(
        "Mailchimp",
        CRM,
        urls=(r"chimpstatic\.com", r"list-manage\.com"),
        forms=(r"list-manage\.com/subscribe",),
    ),
    Technology(
        "Klaviyo",
        CRM,
        urls=(r"static\.klaviyo\.com", r"klaviyo\.com/onsite"),
        inline=("static.klaviyo.com",),
    ),
    Technology(
        "Brevo",
        CRM,
        urls=(r"sibautomation\.com", r"sibforms\.com"),
        forms=(r"sibforms\.com/serve/",),
    ),
    Technology(
        "Pipedrive",
        CRM,
        urls=(r"leadbooster-chat\.pipedrive\.com", r"webforms\.pipedrive\.com"),
    ),
    Technology("Zoho CRM", CRM, forms=(r"crm\.zoho\.[a-z.]+/crm/WebToLeadForm",)),
    Technology(
        "Oracle Eloqua",
        CRM,
        urls=(r"img\.en25\.com", r"elqCfg(\.min)?\.js"),
        inline=("_elqq",),
    ),
    Technology("Customer.io", CRM, urls=(r"assets\.customer\.io",)),
    # --- Live chat ----------------------------------------------------------------------------
    Technology(
        "Intercom",
        CHAT,
        cookies=(r"^intercom-(session|id)-",),
        urls=(r"widget\.intercom\.io", r"js\.intercomcdn\.com"),
        inline=("widget.intercom.io", "intercomsettings"),
    ),
    Technology("Drift", CHAT, urls=(r"js\.driftt\.com",), inline=("drift.load(",)),
    Technology(
        "Zendesk",
        CHAT,
        urls=(r"static\.zdassets\.com", r"ekr\.zdassets\.com"),
        inline=("zesettings",),
    ),
    Technology("Crisp", CHAT, urls=(r"client\.crisp\.chat",), inline=("crisp_website_id",)),
    Technology("Tawk.to", CHAT, urls=(r"embed\.tawk\.to",), inline=("embed.tawk.to",)),
    Technology("LiveChat", CHAT, urls=(r"cdn\.livechatinc\.com",), inline=("__lc.license",)),
    Technology("Freshchat", CHAT, urls=(r"wchat\.freshchat\.com", r"widget\.freshworks\.com")),
    Technology("Olark", CHAT, urls=(r"static\.olark\.com",), inline=("olark.identify(",)),
    Technology("Tidio", CHAT, urls=(r"code\.tidio\.co",)),
    Technology("Zoho SalesIQ", CHAT, urls=(r"salesiq\.zoho\.[a-z.]+",), inline=("$zoho.salesiq",)),
    # --- Frameworks ---------------------------------------------------------------------------
    Technology(
        "Next.js",
        FRAMEWORK,
        headers=(("x-powered-by", r"Next\.js"),),
        urls=(r"/_next/static/",),
        selectors=("script#__NEXT_DATA__", "#__next"),
        implies=("React",),
    ),
    Technology(
        "Nuxt",
        FRAMEWORK,
        urls=(r"/_nuxt/",),
        selectors=("#__nuxt", "script#__NUXT_DATA__"),
        inline=("window.__nuxt__",),
        implies=("Vue.js",),
    ),
    Technology(
        "Gatsby",
        FRAMEWORK,
        generator=r"^Gatsby",
        selectors=("#___gatsby",),
        implies=("React",),
    ),
    Technology(
        "React",
        FRAMEWORK,
        urls=(r"react(-dom)?(\.production)?(\.min)?\.js",),
        selectors=("[data-reactroot]",),
    ),
    Technology(
        "Vue.js",
        FRAMEWORK,
        urls=(r"vue(\.runtime)?(\.global)?(\.prod|\.min)?\.js",),
        selectors=("[data-v-app]",),
    ),
    Technology("Angular", FRAMEWORK, selectors=("[ng-version]",)),
    Technology(
        "jQuery", FRAMEWORK, urls=(r"jquery([.-]\d[\d.]*)?(\.min)?\.js", r"code\.jquery\.com")
    ),
    Technology(
        "Ruby on Rails",
        SERVER,
        selectors=('meta[name="csrf-param"][content="authenticity_token"]',),
    ),
    Technology(
        "Django",
        SERVER,
        cookies=(r"^csrftoken$", r"^django_language$"),
        selectors=('input[name="csrfmiddlewaretoken"]',),
    ),
    Technology("Laravel", SERVER, cookies=(r"^laravel_session$",)),
    Technology("PHP", SERVER, headers=(("x-powered-by", r"^PHP"),), cookies=(r"^PHPSESSID$",)),
    Technology(
        "ASP.NET",
        SERVER,
        headers=(("x-aspnet-version", ""), ("x-powered-by", r"ASP\.NET")),
        cookies=(r"^ASP\.NET_SessionId$", r"^\.AspNetCore\."),
        selectors=('input[name="__VIEWSTATE"]',),
    ),
    Technology("Express", SERVER, headers=(("x-powered-by", r"^Express"),)),
    Technology("Nginx", SERVER, headers=(("server", r"^nginx"),)),
    Technology("Apache", SERVER, headers=(("server", r"^Apache"),)),
    Technology("Microsoft IIS", SERVER, headers=(("server", r"^Microsoft-IIS"),)),
    # --- CDN and hosting ----------------------------------------------------------------------
    Technology(
        "Cloudflare",
        CDN,
        headers=(("server", r"^cloudflare"), ("cf-ray", "")),
        cookies=(r"^__cf_bm$", r"^__cfruid$", r"^cf_clearance$"),
    ),
    Technology("Fastly", CDN, headers=(("x-fastly-request-id", ""), ("x-served-by", r"^cache-"))),
    Technology(
        "Akamai",
        CDN,
        headers=(("x-akamai-transformed", ""), ("server", r"^Akamai"), ("akamai-grn", "")),
    ),
    Technology(
        "Amazon CloudFront",
        CDN,
        headers=(("x-amz-cf-id", ""), ("x-amz-cf-pop", ""), ("via", r"cloudfront")),
    ),
    Technology(
        "Vercel", CDN, headers=(("server", r"^Vercel"), ("x-vercel-id", ""), ("x-vercel-cache", ""))
    ),
    Technology("Netlify", CDN, headers=(("server", r"^Netlify"), ("x-nf-request-id", ""))),
    # --- Other business tools -----------------------------------------------------------------
    Technology("Stripe", OTHER, urls=(r"js\.stripe\.com",)),
    Technology(
        "Calendly",
        OTHER,
        urls=(r"assets\.calendly\.com",),
        selectors=(".calendly-inline-widget",),
    ),
    Technology("Typeform", OTHER, urls=(r"embed\.typeform\.com",)),
    Technology(
        "OneTrust",
        OTHER,
        cookies=(r"^OptanonConsent$",),
        urls=(r"cdn\.cookielaw\.org", r"optanon\.blob\.core\.windows\.net"),
    ),
    Technology("Cookiebot", OTHER, urls=(r"consent\.cookiebot\.com",), selectors=("#Cookiebot",)),
)

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
