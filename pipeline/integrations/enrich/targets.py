"""Which company a lead belongs to: the registrable domain of its website, else of its email.

Registrable domains come from `pipeline.agents.domains.registrable_parts` (the Public Suffix
List bundled with tldextract), so acme.myshopify.com is its own company and not Shopify.
"""

from __future__ import annotations

from dataclasses import dataclass

import idna

from pipeline.agents.domains import is_disposable, is_free_mail, registrable_parts
from pipeline.integrations.enrich.addresses import AddressRefused, parse_target
from pipeline.schemas import LeadInput

# Sites where a lead's "website" is a profile page, not the company's own site.
PLATFORM_DOMAINS = frozenset(
    {
        "linkedin.com",
        "facebook.com",
        "instagram.com",
        "twitter.com",
        "x.com",
        "youtube.com",
        "tiktok.com",
        "github.com",
        "medium.com",
        "google.com",
        "goo.gl",
        "bit.ly",
        "linktr.ee",
        "wa.me",
        "t.me",
    }
)


@dataclass(frozen=True)
class EnrichTarget:
    """What to enrich: ``domain`` is the cache key, ``urls`` the homepages to try in order."""

    domain: str
    urls: tuple[str, ...]
    from_email: bool = False


@dataclass(frozen=True)
class NoTarget:
    """Why there is nothing to fetch for this lead."""

    reason: str
    domain: str = ""


def _ascii_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError:
        return ""


def _website_target(website: str) -> EnrichTarget | NoTarget | None:
    """The target for the website field; None when the field is empty or unusable."""
    raw = website.strip()
    if not raw:
        return None
    has_scheme = "://" in raw[:12]
    url = raw if has_scheme else "https://" + raw.lstrip("/")
    try:
        target = parse_target(url)
    except AddressRefused as exc:
        if exc.code in ("scheme", "url", "host"):
            return None
        # A user name or odd port in the URL: refuse it for what it is.
        return NoTarget(reason=f"refused: {exc.code}", domain="")
    if target.ip is not None:
        return EnrichTarget(domain=target.host, urls=(target.url,))
    registrable, _label, _suffix = registrable_parts(target.host)
    if not registrable or registrable in PLATFORM_DOMAINS or is_free_mail(registrable):
        return None
    urls = [target.url]
    if not has_scheme:
        urls.append(target.url.replace("https://", "http://", 1))
    return EnrichTarget(domain=registrable, urls=tuple(urls))


def target_for(lead: LeadInput) -> EnrichTarget | NoTarget:
    """The website field wins; else the email domain, unless it is free-mail or disposable."""
    from_website = _website_target(lead.website or "")
    if from_website is not None:
        return from_website
    email = (lead.email or "").strip()
    if "@" not in email:
        return NoTarget(reason="no website and no email domain")
    host = _ascii_host(email.rsplit("@", 1)[1])
    registrable = registrable_parts(host)[0] if host else ""
    if not registrable:
        return NoTarget(reason="email domain is not a registrable domain")
    if is_disposable(registrable) or is_disposable(host):
        return NoTarget(reason="disposable email domain", domain=registrable)
    if is_free_mail(registrable) or is_free_mail(host):
        return NoTarget(reason="free-mail domain", domain=registrable)
    return EnrichTarget(
        domain=registrable,
        urls=(f"https://{registrable}/", f"https://www.{registrable}/", f"http://{registrable}/"),
        from_email=True,
    )
