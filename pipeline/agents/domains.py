"""Which email domains belong to no company: free-mail providers and disposable inboxes.

A lead writing from gmail.com has no company site to enrich, and one from a throwaway inbox
is a spam signal. Both lists are data; the checks are pure functions with no network. Also
the registered domain of a host, from the Public Suffix List.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

import tldextract

# The Public Suffix List snapshot bundled with tldextract (never fetched), private suffixes
# included, so acme.myshopify.com is its own company and not Shopify.
_extractor = tldextract.TLDExtract(
    suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True
)

# Free-mail providers people use for personal mail. Curated by hand: the big global ones plus
# the large national providers (their users are consumers, not companies).
FREE_MAIL_DOMAINS: frozenset[str] = frozenset(
    {
        # Google, Microsoft, Yahoo, Apple, AOL, Proton and other global providers
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "outlook.fr",
        "outlook.de",
        "outlook.es",
        "outlook.it",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.fr",
        "hotmail.de",
        "hotmail.es",
        "hotmail.it",
        "hotmail.nl",
        "hotmail.be",
        "live.com",
        "live.co.uk",
        "live.fr",
        "live.de",
        "live.nl",
        "live.be",
        "live.it",
        "msn.com",
        "passport.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "yahoo.de",
        "yahoo.es",
        "yahoo.it",
        "yahoo.ca",
        "yahoo.com.au",
        "yahoo.com.br",
        "yahoo.co.in",
        "yahoo.co.jp",
        "ymail.com",
        "rocketmail.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "aim.com",
        "protonmail.com",
        "protonmail.ch",
        "proton.me",
        "pm.me",
        "tutanota.com",
        "tutanota.de",
        "tuta.io",
        "tutamail.com",
        "zoho.com",
        "zohomail.com",
        "gmx.com",
        "gmx.net",
        "gmx.de",
        "gmx.at",
        "gmx.ch",
        "gmx.fr",
        "mail.com",
        "email.com",
        "usa.com",
        "fastmail.com",
        "fastmail.fm",
        "hey.com",
        "hushmail.com",
        "mailfence.com",
        "posteo.de",
        "posteo.net",
        "runbox.com",
        "disroot.org",
        "riseup.net",
        "startmail.com",
        "inbox.com",
        "lycos.com",
        "excite.com",
        "juno.com",
        "netzero.net",
        "earthlink.net",
        "comcast.net",
        "verizon.net",
        "att.net",
        "sbcglobal.net",
        "bellsouth.net",
        "cox.net",
        "charter.net",
        "optonline.net",
        "shaw.ca",
        "rogers.com",
        "sympatico.ca",
        "btinternet.com",
        "sky.com",
        "talktalk.net",
        "virginmedia.com",
        "ntlworld.com",
        "blueyonder.co.uk",
        "bigpond.com",
        "optusnet.com.au",
        "xtra.co.nz",
        # Europe
        "web.de",
        "t-online.de",
        "freenet.de",
        "arcor.de",
        "orange.fr",
        "wanadoo.fr",
        "free.fr",
        "sfr.fr",
        "neuf.fr",
        "laposte.net",
        "libero.it",
        "virgilio.it",
        "tiscali.it",
        "alice.it",
        "tin.it",
        "telefonica.net",
        "terra.es",
        "ziggo.nl",
        "kpnmail.nl",
        "planet.nl",
        "home.nl",
        "telenet.be",
        "skynet.be",
        "bluewin.ch",
        "seznam.cz",
        "centrum.cz",
        "wp.pl",
        "o2.pl",
        "onet.pl",
        "interia.pl",
        "op.pl",
        "sapo.pt",
        "abv.bg",
        "mail.ee",
        "inbox.lv",
        "inbox.lt",
        "yandex.com",
        "yandex.ru",
        "ya.ru",
        "mail.ru",
        "bk.ru",
        "list.ru",
        "inbox.ru",
        "rambler.ru",
        "ukr.net",
        # Asia, Latin America, elsewhere
        "qq.com",
        "163.com",
        "126.com",
        "yeah.net",
        "sina.com",
        "sina.cn",
        "sohu.com",
        "aliyun.com",
        "naver.com",
        "daum.net",
        "hanmail.net",
        "nate.com",
        "rediffmail.com",
        "uol.com.br",
        "bol.com.br",
        "terra.com.br",
        "ig.com.br",
        "prodigy.net.mx",
    }
)


def _normalise(domain: str) -> str:
    domain = (domain or "").strip().lower().rstrip(".")
    if "@" in domain:
        domain = domain.rsplit("@", 1)[1]
    return domain


def _candidates(domain: str) -> list[str]:
    """The domain and each parent (mx1.mail.gmail.com -> mail.gmail.com -> gmail.com)."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


def is_free_mail(domain: str) -> bool:
    """True for a personal mailbox provider (gmail.com, outlook.fr, ...) or its subdomains.

    Accepts a bare domain or a whole address.
    """
    domain = _normalise(domain)
    return bool(domain) and any(c in FREE_MAIL_DOMAINS for c in _candidates(domain))


@lru_cache(maxsize=1)
def _disposable_domains() -> frozenset[str]:
    from disposable_email_domains import blocklist

    return frozenset(d.lower() for d in blocklist) - FREE_MAIL_DOMAINS


def is_disposable(domain: str) -> bool:
    """True for a throwaway-inbox domain (mailinator.com, ...) or its subdomains.

    Uses the community list shipped in the ``disposable-email-domains`` package (no network).
    Accepts a bare domain or a whole address.
    """
    domain = _normalise(domain)
    blocked = _disposable_domains()
    return bool(domain) and any(c in blocked for c in _candidates(domain))


def registrable_parts(host: str) -> tuple[str, str, str]:
    """(registrable domain, its label, public suffix): www.acme.co.uk -> acme.co.uk, acme, co.uk.

    IP literals come back as themselves with an empty suffix; hosts without a public suffix
    (localhost) have an empty registrable domain.
    """
    host = (host or "").strip().lower().rstrip(".").strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return host, host, ""
    result = _extractor(host)
    return result.top_domain_under_public_suffix, result.domain, result.suffix


def registered_domain(host: str) -> str:
    """The domain a company registered: www.acme.co.uk -> acme.co.uk; the host itself when it
    has no public suffix (localhost, a typo)."""
    return registrable_parts(host)[0] or (host or "").strip().lower().rstrip(".")
