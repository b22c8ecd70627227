"""Fake company websites: real HTTP and HTTPS servers on 127.0.0.1, one virtual host per site.

`WebsiteServer` serves every site below by its Host header, over plain HTTP and over TLS with a
certificate from a throwaway CA (trustme). Its `resolve(host, port)` is the DNS the fetcher is
given in tests: the sites' names (and a few hostile ones) map to loopback, port 80 to the HTTP
server and 443 to the HTTPS one, so test URLs are ordinary `https://ledgerly.io/` URLs.
Nothing here reaches beyond 127.0.0.1; unknown names do not resolve.

Each request is recorded (host, path, headers, scheme, SNI) so tests can assert what was
fetched, what was not, and what the fetcher sent.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import trustme
from urllib3.util import connection as urllib3_connection

# --- The sites ----------------------------------------------------------------------------


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "text/html; charset=utf-8"
    delay: float = 0.0  # seconds before the status line
    size: int = 0  # stream a generated body of this many bytes after `body`
    drip: float = 0.0  # seconds between single bytes of an endless body


NORTHWIND_HOME = """<!doctype html>
<html class="no-js" lang="en">
<head>
  <meta charset="utf-8">
  <meta http-equiv="X-UA-Compatible" content="IE=edge">
  <meta name="viewport" content="width=device-width,initial-scale=1">
  <link rel="canonical" href="https://northwind-outfitters.co.uk/">
  <link rel="preconnect" href="https://cdn.shopify.com" crossorigin>
  <title>Northwind Outfitters | Waxed jackets and outdoor clothing made in Britain</title>
  <meta name="description" content="Northwind Outfitters makes waxed jackets, knitwear and outdoor clothing in Leeds, shipping across the UK and Europe.">
  <meta property="og:site_name" content="Northwind Outfitters">
  <meta property="og:url" content="https://northwind-outfitters.co.uk/">
  <meta property="og:title" content="Northwind Outfitters">
  <meta property="og:type" content="website">
  <meta property="og:description" content="Waxed jackets and outdoor clothing made in Britain.">
  <link href="//northwind-outfitters.co.uk/cdn/shop/t/12/assets/base.css?v=11853456" rel="stylesheet" type="text/css" media="all">
  <script src="//northwind-outfitters.co.uk/cdn/shopifycloud/shopify/assets/storefront/load_feature-9f4c2a.js" defer="defer"></script>
  <script src="https://cdn.shopify.com/s/files/1/0555/1234/t/12/assets/global.js?v=99" defer="defer"></script>
  <script>var Shopify = Shopify || {};
Shopify.shop = "northwind-outfitters.myshopify.com";
Shopify.locale = "en";
Shopify.currency = {"active":"GBP","rate":"1.0"};
Shopify.theme = {"name":"Dawn","id":131234567890,"role":"main"};</script>
  <script async src="https://www.googletagmanager.com/gtag/js?id=G-NW1234567"></script>
  <script>
    window.dataLayer = window.dataLayer || [];
    function gtag(){dataLayer.push(arguments);}
    gtag('js', new Date());
    gtag('config', 'G-NW1234567');
  </script>
  <script async src="https://static.klaviyo.com/onsite/js/klaviyo.js?company_id=XyZ123"></script>
  <script>
  !function(f,b,e,v,n,t,s){if(f.fbq)return;n=f.fbq=function(){n.callMethod?
  n.callMethod.apply(n,arguments):n.queue.push(arguments)};if(!f._fbq)f._fbq=n;
  n.push=n;n.loaded=!0;n.version='2.0';n.queue=[];t=b.createElement(e);t.async=!0;
  t.src=v;s=b.getElementsByTagName(e)[0];s.parentNode.insertBefore(t,s)}(window,
  document,'script','https://connect.facebook.net/en_US/fbevents.js');
  fbq('init', '301234567890123');
  fbq('track', 'PageView');
  </script>
  <script type="application/ld+json">
  {
    "@context": "http://schema.org",
    "@type": "Organization",
    "name": "Northwind Outfitters",
    "logo": "https://northwind-outfitters.co.uk/cdn/shop/files/northwind-logo.png?v=1666",
    "sameAs": [
      "https://www.instagram.com/northwindoutfitters",
      "https://www.facebook.com/northwindoutfitters",
      "https://www.pinterest.co.uk/northwindoutfitters"
    ],
    "url": "https://northwind-outfitters.co.uk"
  }
  </script>
  <script type="application/ld+json">
  {
    "@context": "http://schema.org",
    "@type": "WebSite",
    "name": "Northwind Outfitters",
    "potentialAction": {"@type": "SearchAction", "target": "https://northwind-outfitters.co.uk/search?q={search_term_string}", "query-input": "required name=search_term_string"},
    "url": "https://northwind-outfitters.co.uk"
  }
  </script>
</head>
<body class="gradient">
  <a class="skip-to-content-link button visually-hidden" href="#MainContent">Skip to content</a>
  <div class="announcement-bar" role="region" aria-label="Announcement">
    <p class="announcement-bar__message h5">Free UK delivery on orders over &pound;75</p>
  </div>
  <header class="header header--middle-left">
    <a href="/" class="header__heading-link"><img src="//northwind-outfitters.co.uk/cdn/shop/files/northwind-logo.png?v=1666&amp;width=300" alt="Northwind Outfitters" width="150" height="40"></a>
    <nav class="header__inline-menu">
      <ul class="list-menu list-menu--inline" role="list">
        <li><a href="/collections/jackets" class="header__menu-item">Jackets</a></li>
        <li><a href="/collections/knitwear" class="header__menu-item">Knitwear</a></li>
        <li><a href="/collections/accessories" class="header__menu-item">Accessories</a></li>
        <li><a href="/pages/about-us" class="header__menu-item">Our story</a></li>
      </ul>
    </nav>
    <a href="/cart" class="header__icon header__icon--cart" id="cart-icon-bubble">Cart</a>
  </header>
  <main id="MainContent" class="content-for-layout" role="main">
    <section class="banner">
      <h1 class="banner__heading">Built for weather. Made to last.</h1>
      <p>Hand-finished waxed cotton jackets, cut and sewn in our Leeds workshop.</p>
      <a href="/collections/jackets" class="button">Shop jackets</a>
    </section>
    <ul class="grid product-grid" role="list">
      <li class="grid__item"><a href="/products/fell-waxed-jacket">Fell Waxed Jacket</a> <span class="price">&pound;245.00</span></li>
      <li class="grid__item"><a href="/products/dale-fisherman-jumper">Dale Fisherman Jumper</a> <span class="price">&pound;129.00</span></li>
      <li class="grid__item"><a href="/products/moor-beanie">Moor Beanie</a> <span class="price">&pound;35.00</span></li>
    </ul>
  </main>
  <footer class="footer">
    <ul class="footer__list-social list-unstyled list-social" role="list">
      <li class="list-social__item"><a href="https://www.instagram.com/northwindoutfitters" class="link list-social__link">Instagram</a></li>
      <li class="list-social__item"><a href="https://www.facebook.com/northwindoutfitters" class="link list-social__link">Facebook</a></li>
      <li class="list-social__item"><a href="https://www.facebook.com/sharer/sharer.php?u=https://northwind-outfitters.co.uk" class="link">Share</a></li>
    </ul>
    <small class="copyright__content">&copy; 2024, <a href="/" title="">Northwind Outfitters Ltd</a>. <a target="_blank" rel="nofollow" href="https://www.shopify.com?utm_campaign=poweredby&amp;utm_medium=shopify&amp;utm_source=onlinestore">Powered by Shopify</a></small>
  </footer>
</body>
</html>
"""

NORTHWIND_ABOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Our story &ndash; Northwind Outfitters</title>
<meta property="og:site_name" content="Northwind Outfitters">
<script src="https://cdn.shopify.com/s/files/1/0555/1234/t/12/assets/global.js?v=99" defer="defer"></script>
</head><body>
<header><a href="/">Northwind Outfitters</a></header>
<main class="page-width page-width--narrow">
  <h1 class="main-page-title">Our story</h1>
  <div class="rte">
    <p>Northwind started in 2011 at a kitchen table in Headingley with one sewing machine and a
    roll of waxed cotton. Today we are a team of 14 makers, menders and packers working from
    our workshop in Leeds, West Yorkshire.</p>
    <p>Every jacket can come back to us for re-waxing and repairs, for as long as you own it.</p>
  </div>
</main>
</body></html>
"""

NORTHWIND_ROBOTS = """# we use Shopify as our ecommerce platform
User-agent: *
Disallow: /admin
Disallow: /cart
Disallow: /orders
Disallow: /checkouts/
Disallow: /checkout
Disallow: /account
Disallow: /collections/*sort_by*
Disallow: /search
Sitemap: https://northwind-outfitters.co.uk/sitemap.xml
"""

BRIGHTPATH_HOME = """<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Brightpath Digital &#8211; Inbound marketing &amp; HubSpot agency in Lyon</title>
<meta name='robots' content='index, follow, max-image-preview:large, max-snippet:-1, max-video-preview:-1' />
<meta name="description" content="Brightpath Digital is an inbound marketing agency and HubSpot Platinum partner. We plan, build and run B2B marketing that fills your sales pipeline." />
<meta name="keywords" content="inbound marketing, HubSpot partner agency, digital marketing, SEO, marketing automation" />
<link rel="canonical" href="https://brightpath-digital.fr/" />
<meta property="og:locale" content="en_GB" />
<meta property="og:type" content="website" />
<meta property="og:title" content="Brightpath Digital - Inbound marketing &amp; HubSpot agency" />
<meta property="og:description" content="We plan, build and run B2B marketing that fills your sales pipeline." />
<meta property="og:url" content="https://brightpath-digital.fr/" />
<meta property="og:site_name" content="Brightpath Digital" />
<meta name="twitter:card" content="summary_large_image" />
<script type="application/ld+json" class="yoast-schema-graph">{"@context":"https://schema.org","@graph":[{"@type":"WebPage","@id":"https://brightpath-digital.fr/","url":"https://brightpath-digital.fr/","name":"Brightpath Digital - Inbound marketing & HubSpot agency in Lyon","isPartOf":{"@id":"https://brightpath-digital.fr/#website"},"about":{"@id":"https://brightpath-digital.fr/#organization"},"datePublished":"2019-03-04T09:12:44+00:00","dateModified":"2024-05-21T14:02:10+00:00","inLanguage":"en-GB"},{"@type":"WebSite","@id":"https://brightpath-digital.fr/#website","url":"https://brightpath-digital.fr/","name":"Brightpath Digital","publisher":{"@id":"https://brightpath-digital.fr/#organization"},"inLanguage":"en-GB"},{"@type":"Organization","@id":"https://brightpath-digital.fr/#organization","name":"Brightpath Digital","url":"https://brightpath-digital.fr/","logo":{"@type":"ImageObject","inLanguage":"en-GB","@id":"https://brightpath-digital.fr/#/schema/logo/image/","url":"https://brightpath-digital.fr/wp-content/uploads/2021/02/brightpath-logo.svg","contentUrl":"https://brightpath-digital.fr/wp-content/uploads/2021/02/brightpath-logo.svg","caption":"Brightpath Digital"},"image":{"@id":"https://brightpath-digital.fr/#/schema/logo/image/"},"sameAs":["https://www.linkedin.com/company/brightpath-digital/","https://x.com/brightpathfr"]}]}</script>
<link rel='dns-prefetch' href='//js-eu1.hs-scripts.com' />
<link rel="alternate" type="application/rss+xml" title="Brightpath Digital &raquo; Feed" href="https://brightpath-digital.fr/feed/" />
<link rel='stylesheet' id='wp-block-library-css' href='https://brightpath-digital.fr/wp-includes/css/dist/block-library/style.min.css?ver=6.5.2' type='text/css' media='all' />
<link rel='stylesheet' id='astra-theme-css-css' href='https://brightpath-digital.fr/wp-content/themes/astra/assets/css/minified/main.min.css?ver=4.6.4' type='text/css' media='all' />
<script type="text/javascript" src="https://brightpath-digital.fr/wp-includes/js/jquery/jquery.min.js?ver=3.7.1" id="jquery-core-js"></script>
<script type="text/javascript" src="https://brightpath-digital.fr/wp-includes/js/jquery/jquery-migrate.min.js?ver=3.4.1" id="jquery-migrate-js"></script>
<script id="Cookiebot" src="https://consent.cookiebot.com/uc.js" data-cbid="0b1c2d3e-aaaa-bbbb-cccc-0123456789ab" data-blockingmode="auto" type="text/javascript"></script>
<!-- Google Tag Manager -->
<script>(function(w,d,s,l,i){w[l]=w[l]||[];w[l].push({'gtm.start':
new Date().getTime(),event:'gtm.js'});var f=d.getElementsByTagName(s)[0],
j=d.createElement(s),dl=l!='dataLayer'?'&l='+l:'';j.async=true;j.src=
'https://www.googletagmanager.com/gtm.js?id='+i+dl;f.parentNode.insertBefore(j,f);
})(window,document,'script','dataLayer','GTM-K7BRGHT');</script>
<!-- End Google Tag Manager -->
<link rel="https://api.w.org/" href="https://brightpath-digital.fr/wp-json/" />
<meta name="generator" content="WordPress 6.5.2" />
<!-- Hotjar Tracking Code -->
<script>
    (function(h,o,t,j,a,r){
        h.hj=h.hj||function(){(h.hj.q=h.hj.q||[]).push(arguments)};
        h._hjSettings={hjid:3512345,hjsv:6};
        a=o.getElementsByTagName('head')[0];
        r=o.createElement('script');r.async=1;
        r.src=t+h._hjSettings.hjid+j+h._hjSettings.hjsv;
        a.appendChild(r);
    })(window,document,'https://static.hotjar.com/c/hotjar-','.js?sv=');
</script>
</head>
<body class="home page-template-default page page-id-12 wp-custom-logo ast-desktop">
<a class="skip-link screen-reader-text" href="#content">Skip to content</a>
<header class="site-header">
  <div class="site-branding"><a href="https://brightpath-digital.fr/" rel="home">Brightpath Digital</a></div>
  <nav class="main-header-menu">
    <ul id="ast-hf-menu-1" class="main-header-menu ast-menu-shadow ast-nav-menu">
      <li class="menu-item"><a href="https://brightpath-digital.fr/services/" class="menu-link">Services</a></li>
      <li class="menu-item"><a href="https://brightpath-digital.fr/case-studies/" class="menu-link">Case studies</a></li>
      <li class="menu-item"><a href="https://brightpath-digital.fr/about-us/" class="menu-link">About us</a></li>
      <li class="menu-item"><a href="https://brightpath-digital.fr/blog/" class="menu-link">Blog</a></li>
      <li class="menu-item"><a href="https://brightpath-digital.fr/contact/" class="menu-link">Contact</a></li>
    </ul>
  </nav>
</header>
<div id="content" class="site-content">
  <h1 class="wp-block-heading">B2B marketing that fills your pipeline</h1>
  <p>We are an inbound marketing agency in Lyon. We help software and industrial companies
  across Europe attract, convert and close with HubSpot.</p>
  <div class="wp-block-columns">
    <div class="wp-block-column"><h3>Inbound strategy</h3><p>Personas, content plans and campaigns.</p></div>
    <div class="wp-block-column"><h3>HubSpot onboarding</h3><p>Marketing Hub, Sales Hub and CRM migrations.</p></div>
    <div class="wp-block-column"><h3>Websites</h3><p>Fast WordPress and HubSpot CMS sites.</p></div>
  </div>
  <h2>Talk to us</h2>
  <script charset="utf-8" type="text/javascript" src="//js-eu1.hsforms.net/forms/embed/v2.js"></script>
  <script>
    hbspt.forms.create({
      region: "eu1",
      portalId: "26123456",
      formId: "8a7b6c5d-1234-4f5e-9abc-0d1e2f3a4b5c"
    });
  </script>
</div>
<footer class="site-footer">
  <p>Brightpath Digital SAS &middot; 14 rue de la R&eacute;publique, 69002 Lyon</p>
  <a href="https://www.linkedin.com/company/brightpath-digital/">LinkedIn</a>
  <a href="https://x.com/brightpathfr">X</a>
  <a href="https://twitter.com/intent/tweet?url=https%3A%2F%2Fbrightpath-digital.fr">Tweet this</a>
</footer>
<!-- Start of HubSpot Embed Code -->
<script type="text/javascript" id="hs-script-loader" async defer src="//js-eu1.hs-scripts.com/26123456.js"></script>
<!-- End of HubSpot Embed Code -->
<script type="text/javascript" src="https://brightpath-digital.fr/wp-content/themes/astra/assets/js/minified/frontend.min.js?ver=4.6.4" id="astra-theme-js-js"></script>
</body>
</html>
"""

BRIGHTPATH_ABOUT = """<!DOCTYPE html>
<html lang="en-GB"><head><meta charset="UTF-8">
<title>About us &#8211; Brightpath Digital</title>
<meta name="generator" content="WordPress 6.5.2" />
<meta property="og:site_name" content="Brightpath Digital" />
</head>
<body class="page-template-default page">
<div id="content" class="site-content">
<h1>About Brightpath</h1>
<p>Founded in 2014 by two former sales directors, Brightpath is now a team of 25 strategists,
writers, designers and developers, split between Lyon and Paris.</p>
<p>We have delivered more than 300 HubSpot projects for clients in 12 countries.</p>
</div>
</body></html>
"""

BRIGHTPATH_ROBOTS = """User-agent: *
Disallow: /wp-admin/
Allow: /wp-admin/admin-ajax.php

Sitemap: https://brightpath-digital.fr/wp-sitemap.xml
"""

LEDGERLY_JSONLD = {
    "@context": "https://schema.org",
    "@graph": [
        {
            "@type": "Organization",
            "@id": "https://ledgerly.io/#organization",
            "name": "Ledgerly",
            "legalName": "Ledgerly GmbH",
            "url": "https://ledgerly.io/",
            "logo": "https://ledgerly.io/static/logo.svg",
            "description": "Ledgerly is bookkeeping and invoicing software for startups and small businesses in Europe.",
            "foundingDate": "2019",
            "numberOfEmployees": {"@type": "QuantitativeValue", "minValue": 51, "maxValue": 200},
            "address": {
                "@type": "PostalAddress",
                "streetAddress": "Torstraße 19",
                "addressLocality": "Berlin",
                "postalCode": "10119",
                "addressCountry": "DE",
            },
            "sameAs": [
                "https://www.linkedin.com/company/ledgerly",
                "https://x.com/ledgerlyhq",
                "https://github.com/ledgerly",
                "https://www.youtube.com/@ledgerly",
            ],
        },
        {
            "@type": "SoftwareApplication",
            "name": "Ledgerly",
            "applicationCategory": "BusinessApplication",
            "operatingSystem": "Web",
            "offers": {"@type": "Offer", "price": "19.00", "priceCurrency": "EUR"},
        },
    ],
}

LEDGERLY_HOME = (
    """<!DOCTYPE html><html lang="en"><head><meta charSet="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>Ledgerly — Bookkeeping that does itself</title>
<meta name="description" content="Ledgerly automates bookkeeping, invoicing and VAT returns for startups and small businesses. Connect your bank, snap receipts, close the month in minutes."/>
<meta property="og:title" content="Ledgerly — Bookkeeping that does itself"/>
<meta property="og:description" content="Automated bookkeeping and invoicing for startups."/>
<meta property="og:image" content="https://ledgerly.io/og.png"/>
<meta name="next-head-count" content="6"/>
<link rel="preload" href="/_next/static/css/7a1b2c3d4e5f6a7b.css" as="style"/>
<link rel="stylesheet" href="/_next/static/css/7a1b2c3d4e5f6a7b.css" data-n-g=""/>
<script type="application/ld+json">"""
    + json.dumps(LEDGERLY_JSONLD)
    + """</script>
<script defer="" nomodule="" src="/_next/static/chunks/polyfills-c67a75d1b6f99dc8.js"></script>
<script src="/_next/static/chunks/webpack-8fa1640cc84ba8fe.js" defer=""></script>
<script src="/_next/static/chunks/framework-2c79e2a64abdb08b.js" defer=""></script>
<script src="/_next/static/chunks/main-0ad8a1a1e5a5a1b3.js" defer=""></script>
<script src="/_next/static/chunks/pages/index-5d1f3a5e8a9b0c1d.js" defer=""></script>
<script src="https://js.stripe.com/v3/" async=""></script>
<script>
  !function(){var analytics=window.analytics=window.analytics||[];if(!analytics.initialize){
  analytics.load=function(key,e){var t=document.createElement("script");t.type="text/javascript";
  t.async=!0;t.src="https://cdn.segment.com/analytics.js/v1/" + key + "/analytics.min.js";
  var n=document.getElementsByTagName("script")[0];n.parentNode.insertBefore(t,n)};
  analytics.load("Ab12Cd34Ef56");analytics.page();}}();
</script>
<script>
  window.intercomSettings = { api_base: "https://api-iam.eu.intercom.io", app_id: "x1y2z3w4" };
  (function(){var w=window;var ic=w.Intercom;var d=document;var i=function(){i.c(arguments);};
  i.q=[];i.c=function(args){i.q.push(args);};w.Intercom=i;var l=function(){var s=d.createElement('script');
  s.type='text/javascript';s.async=true;s.src='https://widget.intercom.io/widget/x1y2z3w4';
  var x=d.getElementsByTagName('script')[0];x.parentNode.insertBefore(s, x);};l();})();
</script>
</head>
<body>
<div id="__next">
  <header class="Nav_nav__3xYzq">
    <a class="Nav_logo__1aBcD" href="/">Ledgerly</a>
    <nav>
      <a href="/product">Product</a>
      <a href="/pricing">Pricing</a>
      <a href="/customers">Customers</a>
      <a href="/about">About</a>
      <a href="https://app.ledgerly.io/login">Log in</a>
      <a href="https://app.ledgerly.io/signup" class="Button_primary__9zYxW">Start free trial</a>
    </nav>
  </header>
  <main>
    <h1>Bookkeeping that does itself</h1>
    <p>Connect your business bank account and Ledgerly categorises every transaction, matches
    receipts and prepares your VAT return. Send invoices in any currency and get paid by card or
    SEPA transfer.</p>
    <p>Trusted by 12,000 small businesses across Germany, Austria and the Netherlands.</p>
  </main>
  <footer>
    <a href="https://www.linkedin.com/company/ledgerly">LinkedIn</a>
    <a href="https://github.com/ledgerly">GitHub</a>
    <a href="/imprint">Impressum</a>
  </footer>
</div>
<script id="__NEXT_DATA__" type="application/json">{"props":{"pageProps":{}},"page":"/","query":{},"buildId":"k2Lm3Nb4","nextExport":true,"autoExport":true,"isFallback":false,"scriptLoader":[]}</script>
</body></html>
"""
)

LEDGERLY_ABOUT = """<!DOCTYPE html><html lang="en"><head><meta charSet="utf-8"/>
<title>About — Ledgerly</title>
<script src="/_next/static/chunks/main-0ad8a1a1e5a5a1b3.js" defer=""></script>
</head><body><div id="__next"><main>
<h1>We started Ledgerly because we hated our own bookkeeping.</h1>
<p>Ledgerly was founded in 2019 in Berlin. Today we are a team of 120 people in Berlin, Vienna
and Amsterdam, backed by investors who run small businesses themselves.</p>
</main></div></body></html>
"""

LEDGERLY_PRICING = """<!DOCTYPE html><html lang="en"><head><title>Pricing — Ledgerly</title></head>
<body><h1>Plans from 19 EUR a month</h1></body></html>
"""

LEDGERLY_ROBOTS = """User-agent: *
Disallow: /app/
Disallow: /api/

User-agent: LeadOpsBot
Disallow: /pricing
Disallow: /app/
"""

NEWBRAND_HOME = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Newbrand | Industrial sensors for predictive maintenance</title>
<meta name="description" content="Newbrand (formerly Oldbrand) designs and manufactures vibration and temperature sensors for predictive maintenance in factories.">
<meta property="og:site_name" content="Newbrand">
<meta name="keywords" content="industrial sensors, manufacturing, predictive maintenance, machinery">
</head><body>
<h1>Sensors that hear a bearing fail before it does</h1>
<p>Our sensors are designed and manufactured in Eindhoven.</p>
</body></html>
"""

BIG_HEAD = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Big Catalog | Every part, every size</title>
<meta property="og:site_name" content="Big Catalog">
<meta name="description" content="Big Catalog lists every spare part we have ever stocked, on one enormous page.">
</head><body><h1>All parts</h1><ul>
"""

PLAIN_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<meta property="og:site_name" content="{title}"></head><body><p>{text}</p></body></html>
"""

INTERNAL_SECRET = (
    b'{"AccessKeyId": "ASIA-FAKE-INTERNAL", "note": "internal service; must never be fetched"}'
)


def html(text: str) -> bytes:
    return text.encode("utf-8")


def gzip_bomb(megabytes: int) -> bytes:
    """A page that is ~50 KB on the wire and ``megabytes`` MB once decompressed."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip framing
    data = compressor.compress(b"<html><head><title>Bomb</title></head><body>")
    chunk = b" " * 1_000_000
    for _ in range(megabytes):
        data += compressor.compress(chunk)
    return data + compressor.flush()


def build_sites(admin_port: int) -> dict[str, dict[str, Route]]:
    """Every virtual host and its routes. ``admin_port``: the 'internal service' server."""
    shopify_headers = (
        ("Server", "cloudflare"),
        ("CF-RAY", "8a1b2c3d4e5f6a7b-LHR"),
        ("X-ShopId", "55512345"),
        ("X-Shopify-Stage", "production"),
        ("Powered-By", "Shopify"),
        ("Set-Cookie", "localization=GB; path=/; expires=Tue, 01 Dec 2026 00:00:00 GMT"),
        ("Set-Cookie", "_shopify_y=4b5c6d7e-aaaa-bbbb-cccc-1234567890ab; path=/; SameSite=Lax"),
        ("Set-Cookie", "_shopify_s=9f8e7d6c-aaaa-bbbb-cccc-1234567890ab; path=/; SameSite=Lax"),
        ("Set-Cookie", "cart_currency=GBP; path=/; SameSite=Lax"),
    )
    wordpress_headers = (
        ("Server", "nginx"),
        ("X-Powered-By", "PHP/8.2.12"),
        ("Link", '<https://brightpath-digital.fr/wp-json/>; rel="https://api.w.org/"'),
        ("Link", '<https://brightpath-digital.fr/wp-json/wp/v2/pages/12>; rel="alternate"'),
    )
    vercel_headers = (
        ("Server", "Vercel"),
        ("X-Vercel-Id", "fra1::iad1::8x7yz-1716300000000-abcdef123456"),
        ("X-Vercel-Cache", "HIT"),
        ("X-Powered-By", "Next.js"),
        ("Strict-Transport-Security", "max-age=63072000"),
    )
    return {
        "northwind-outfitters.co.uk": {
            "/": Route(body=html(NORTHWIND_HOME), headers=shopify_headers),
            "/pages/about-us": Route(body=html(NORTHWIND_ABOUT), headers=shopify_headers),
            "/robots.txt": Route(body=html(NORTHWIND_ROBOTS), content_type="text/plain"),
        },
        "brightpath-digital.fr": {
            "/": Route(body=html(BRIGHTPATH_HOME), headers=wordpress_headers),
            "/about-us/": Route(body=html(BRIGHTPATH_ABOUT), headers=wordpress_headers),
            "/robots.txt": Route(body=html(BRIGHTPATH_ROBOTS), content_type="text/plain"),
        },
        "ledgerly.io": {
            "/": Route(body=html(LEDGERLY_HOME), headers=vercel_headers),
            "/about": Route(body=html(LEDGERLY_ABOUT), headers=vercel_headers),
            "/pricing": Route(body=html(LEDGERLY_PRICING), headers=vercel_headers),
            "/robots.txt": Route(body=html(LEDGERLY_ROBOTS), content_type="text/plain"),
        },
        # A rebrand: http -> https -> another domain's /en/ page.
        "oldbrand.com": {
            "/": Route(status=301, headers=(("Location", "https://oldbrand.com/"),)),
        },
        "https://oldbrand.com": {
            "/": Route(status=302, headers=(("Location", "https://www.newbrand.net/en/"),)),
        },
        "www.newbrand.net": {
            "/en/": Route(body=html(NEWBRAND_HOME)),
        },
        "bigcatalog.com": {
            "/": Route(body=html(BIG_HEAD), size=10 * 1024 * 1024),
        },
        "slowpoke.com": {
            "/": Route(body=html(PLAIN_PAGE.format(title="Slowpoke", text="finally")), delay=3.0),
        },
        "dripfeed.com": {
            "/": Route(body=b"<!doctype html><html><head><title>Drip", drip=0.05),
        },
        "loop.com": {
            "/": Route(status=302, headers=(("Location", "/a"),)),
            "/a": Route(status=302, headers=(("Location", "/b"),)),
            "/b": Route(status=302, headers=(("Location", "/"),)),
        },
        # Redirects a form-filler could use to reach inside our network.
        "promo-redirect.com": {
            "/metadata": Route(
                status=302,
                headers=(("Location", "http://169.254.169.254/latest/meta-data/iam/"),),
            ),
            "/metadata-mapped": Route(
                status=302, headers=(("Location", "http://[::ffff:a9fe:a9fe]/latest/meta-data/"),)
            ),
            "/metadata-decimal": Route(
                status=302, headers=(("Location", "http://2852039166/latest/meta-data/"),)
            ),
            "/loopback": Route(
                status=302, headers=(("Location", f"http://127.0.0.1:{admin_port}/secret"),)
            ),
            "/loopback-octal": Route(
                status=302, headers=(("Location", f"http://0177.0.0.1:{admin_port}/secret"),)
            ),
            "/localhost": Route(status=302, headers=(("Location", "http://localhost/secret"),)),
            "/private-name": Route(
                status=302, headers=(("Location", "http://intranet.promo-redirect.com/"),)
            ),
            "/userinfo": Route(
                status=302, headers=(("Location", "http://promo-redirect.com@127.0.0.1/secret"),)
            ),
            "/file": Route(status=302, headers=(("Location", "file:///etc/passwd"),)),
            "/gopher": Route(status=302, headers=(("Location", "gopher://127.0.0.1:6379/_INFO"),)),
            "/port": Route(status=302, headers=(("Location", "http://public-odd-port.com:6379/"),)),
        },
        "nobots.com": {
            "/": Route(body=html(PLAIN_PAGE.format(title="Nobots", text="go away"))),
            "/robots.txt": Route(body=b"User-agent: *\nDisallow: /\n", content_type="text/plain"),
        },
        "brokenrobots.com": {
            "/": Route(body=html(PLAIN_PAGE.format(title="Broken robots", text="hi"))),
            "/robots.txt": Route(status=503, body=b"down", content_type="text/plain"),
        },
        "no-robots-file.com": {
            "/": Route(body=html(PLAIN_PAGE.format(title="No Robots File", text="hello"))),
        },
        "gzip-bomb.com": {
            "/": Route(body=gzip_bomb(50), headers=(("Content-Encoding", "gzip"),)),
        },
        "pdf-home.com": {
            "/": Route(body=b"%PDF-1.7 fake", content_type="application/pdf"),
        },
    }


# Names our fake DNS answers, beyond the sites: hostile answers a real attacker could set up.
HOSTILE_DNS: dict[str, list[str]] = {
    "intranet.promo-redirect.com": ["10.20.30.40"],
    "mixed-answers.com": ["93.184.215.14", "192.168.1.10"],
    "metadata.rebind.com": ["169.254.169.254"],
    "v6-loopback.com": ["::1"],
    "v6-mapped.com": ["::ffff:10.0.0.1"],
    # A public address (TEST-NET would be refused as reserved): only used where the fetcher
    # must refuse before connecting, so nothing is ever sent to it.
    "public-odd-port.com": ["93.184.215.14"],
    "localhost": ["127.0.0.1", "::1"],
}

# Served over TLS too (the certificate names them); other sites are plain HTTP only.
TLS_HOSTS = (
    "ledgerly.io",
    "oldbrand.com",
    "www.newbrand.net",
    "northwind-outfitters.co.uk",
    "brightpath-digital.fr",
)
# In the certificate's view: a name our DNS sends to the TLS server that the cert does not cover.
WRONG_CERT_HOSTS = ("wrong-cert.com",)


@dataclass
class Hit:
    server: str  # "http", "https" or "admin" (the internal service nobody may reach)
    host: str
    path: str
    headers: dict[str, str]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _SiteHTTPServer

    server_header = "TestSites/1.0"

    def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
        pass

    def version_string(self):
        return self.server_header

    def do_GET(self):  # noqa: N802 - http.server's naming
        owner = self.server.owner
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]").lower()
        path = self.path.split("?", 1)[0]
        owner.record(Hit(self.server.name, host, self.path, dict(self.headers.items())))
        if self.server.catch_all is not None:
            routes = {path: self.server.catch_all}
        else:
            routes = owner.sites.get(f"{self.server.scheme}://{host}") or owner.sites.get(host, {})
        route = routes.get(path)
        if route is None:
            route = Route(status=404, body=b"<html><body>Not found</body></html>")
        try:
            self._answer(route)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass
        self.close_connection = True

    def _answer(self, route: Route):
        stop = self.server.owner.stopping
        if route.delay and stop.wait(route.delay):
            return
        # The site's own Server header replaces http.server's.
        self.server_header = next(
            (value for name, value in route.headers if name.lower() == "server"), "TestSites/1.0"
        )
        self.send_response(route.status)
        self.send_header("Content-Type", route.content_type)
        for name, value in route.headers:
            if name.lower() != "server":
                self.send_header(name, value)
        self.send_header("Connection", "close")
        if route.drip:
            self.end_headers()
            self.wfile.write(route.body)
            while not stop.wait(route.drip):
                self.wfile.write(b" ")
                self.wfile.flush()
            return
        length = len(route.body) + route.size
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(route.body)
        sent = len(route.body)
        chunk = b"<li class='part'>Spare part, see catalogue entry for details</li>\n" * 1000
        while sent < length and not stop.is_set():
            piece = chunk[: length - sent]
            self.wfile.write(piece)
            sent += len(piece)
            self.server.owner.add_sent(sent)


class _SiteHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner, name, *, context=None, catch_all=None):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.owner = owner
        self.name = name
        self.scheme = "https" if context is not None else "http"
        self.context = context
        self.catch_all = catch_all

    def finish_request(self, request, client_address):
        # The TLS handshake runs in the request's own thread, so a stalled client blocks nobody.
        if self.context is not None:
            request.settimeout(5)
            try:
                request = self.context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        pass


class WebsiteServer:
    """The fake internet for enrichment tests. Start with `start()`, stop with `stop()`."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.ca = trustme.CA()
        self.hits: list[Hit] = []
        self.sni: list[str] = []
        self.resolved: list[tuple[str, int]] = []
        self.body_bytes_sent = 0
        self._lock = threading.Lock()
        self.extra_dns: dict[str, list[str]] = {}

        certificate = self.ca.issue_cert(*TLS_HOSTS)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certificate.configure_cert(context)
        context.sni_callback = self._record_sni
        self._ca_file = self.ca.cert_pem.tempfile()
        self._ca_path = self._ca_file.__enter__()

        self.admin = _SiteHTTPServer(self, "admin", catch_all=Route(body=INTERNAL_SECRET))
        self.http = _SiteHTTPServer(self, "http")
        self.https = _SiteHTTPServer(self, "https", context=context)
        self.sites = build_sites(self.admin.server_address[1])
        self._threads: list[threading.Thread] = []

    # --- what tests use ---

    @property
    def ca_bundle(self) -> str:
        """Path of a PEM file with the test CA, for the fetcher's `verify`."""
        return self._ca_path

    @property
    def ports(self) -> frozenset[int]:
        return frozenset({self.http.server_address[1], self.https.server_address[1]})

    @property
    def admin_port(self) -> int:
        return self.admin.server_address[1]

    def resolve(self, host: str, port: int) -> list[tuple[str, int]]:
        """Fake DNS: site names -> 127.0.0.1 on our servers' ports; hostile names as listed."""
        host = host.lower().rstrip(".")
        with self._lock:
            self.resolved.append((host, port))
        if host in self.extra_dns:
            return [(address, port) for address in self.extra_dns[host]]
        if host in HOSTILE_DNS:
            return [(address, port) for address in HOSTILE_DNS[host]]
        if host in self.sites or host in TLS_HOSTS or host in WRONG_CERT_HOSTS:
            if port == 443:
                return [("127.0.0.1", self.https.server_address[1])]
            if port == 80:
                return [("127.0.0.1", self.http.server_address[1])]
            return [("127.0.0.1", port)]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    def count(self, host: str, path: str) -> int:
        with self._lock:
            return sum(1 for hit in self.hits if hit.host == host and hit.path == path)

    def admin_hits(self) -> int:
        with self._lock:
            return sum(1 for hit in self.hits if hit.server == "admin")

    def requests_to(self, host: str) -> Counter:
        with self._lock:
            return Counter(hit.path for hit in self.hits if hit.host == host)

    def reset(self) -> None:
        with self._lock:
            self.hits.clear()
            self.sni.clear()
            self.resolved.clear()
            self.body_bytes_sent = 0
            self.extra_dns.clear()

    # --- plumbing ---

    def record(self, hit: Hit) -> None:
        with self._lock:
            self.hits.append(hit)

    def add_sent(self, total: int) -> None:
        with self._lock:
            self.body_bytes_sent = max(self.body_bytes_sent, total)

    def _record_sni(self, ssl_socket, server_name, context):
        with self._lock:
            self.sni.append(server_name or "")

    def start(self) -> WebsiteServer:
        for server in (self.admin, self.http, self.https):
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
            thread.daemon = True
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self.stopping.set()
        for server in (self.admin, self.http, self.https):
            server.shutdown()
            server.server_close()
        self._ca_file.__exit__(None, None, None)


def wait_until(predicate, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


# --- Fixtures (import them into a test module to use them) ---------------------------------


@pytest.fixture(scope="session")
def website_server():
    server = WebsiteServer().start()
    yield server
    server.stop()


@pytest.fixture
def sites(website_server):
    """The fake sites, with a clean request log."""
    website_server.reset()
    return website_server


@pytest.fixture
def only_loopback_connections(monkeypatch):
    """Fail the test if anything tries to open a TCP connection beyond 127.0.0.1 / ::1."""
    original = urllib3_connection.create_connection

    def guarded(address, *args, **kwargs):
        host = str(address[0]).strip("[]")
        try:
            is_loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            is_loopback = False
        if not is_loopback:
            raise AssertionError(f"a test tried to connect to {host!r}")
        return original(address, *args, **kwargs)

    monkeypatch.setattr(urllib3_connection, "create_connection", guarded)
