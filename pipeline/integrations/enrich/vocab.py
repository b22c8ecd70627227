"""Controlled vocabularies for enrichment: sectors, employee ranges and countries.

Profiles use one fixed list of sectors (so scoring criteria can name them), LinkedIn-style
employee ranges, and ISO 3166-1 alpha-2 country codes.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Phrases that point to a sector when found in keywords, an industry name or a description.
SECTOR_KEYWORDS: dict[str, tuple[str, ...]] = {
    "Software & SaaS": (
        "saas",
        "software",
        "computer software",
        "api",
        "developer tools",
        "open source",
        "cloud platform",
        "web application",
        "internet",
    ),
    "IT Services": (
        "information technology",
        "it services",
        "managed services",
        "msp",
        "cybersecurity",
        "computer & network security",
        "it support",
        "web development",
        "software development agency",
        "hosting",
    ),
    "E-commerce & Retail": (
        "e-commerce",
        "ecommerce",
        "online store",
        "online shop",
        "retail",
        "apparel",
        "clothing",
        "fashion",
        "outdoor clothing",
        "furniture",
        "cosmetics",
        "consumer goods",
        "boutique",
        "free shipping",
    ),
    "Marketing & Advertising": (
        "marketing",
        "marketing agency",
        "digital marketing",
        "inbound marketing",
        "advertising",
        "seo",
        "branding",
        "content marketing",
        "social media marketing",
        "ppc",
        "creative agency",
        "public relations",
    ),
    "Consulting & Professional Services": (
        "consulting",
        "consultancy",
        "management consulting",
        "advisory",
        "professional services",
        "accounting firm",
        "audit",
        "outsourcing",
    ),
    "Financial Services": (
        "financial services",
        "bank",
        "banking",
        "insurance",
        "fintech",
        "payments",
        "lending",
        "investment",
        "wealth management",
        "asset management",
        "accounting",
        "bookkeeping",
    ),
    "Legal Services": (
        "law firm",
        "legal services",
        "attorneys",
        "lawyers",
        "solicitors",
        "law practice",
    ),
    "Healthcare & Life Sciences": (
        "healthcare",
        "health care",
        "hospital",
        "clinic",
        "medical",
        "pharmaceutical",
        "pharma",
        "biotech",
        "biotechnology",
        "dental",
        "life sciences",
    ),
    "Education": (
        "education",
        "e-learning",
        "elearning",
        "edtech",
        "school",
        "university",
        "training courses",
        "higher education",
    ),
    "Manufacturing & Industrial": (
        "manufacturing",
        "manufacturer",
        "industrial",
        "machinery",
        "factory",
        "cnc",
        "mechanical engineering",
        "automotive",
        "chemicals",
    ),
    "Real Estate & Construction": (
        "real estate",
        "property management",
        "construction",
        "architecture",
        "builders",
        "realtor",
        "building materials",
    ),
    "Hospitality, Travel & Food": (
        "hospitality",
        "restaurant",
        "restaurants",
        "hotel",
        "travel",
        "tourism",
        "catering",
        "food & beverages",
        "food and beverage",
        "bakery",
        "leisure",
    ),
    "Logistics & Transportation": (
        "logistics",
        "freight",
        "transportation",
        "courier",
        "supply chain",
        "warehousing",
        "trucking",
        "shipping company",
    ),
    "Media & Entertainment": (
        "media",
        "publishing",
        "magazine",
        "newspaper",
        "broadcast",
        "entertainment",
        "film",
        "music",
        "podcast",
        "gaming",
    ),
    "Energy & Utilities": (
        "energy",
        "renewable energy",
        "renewables",
        "solar",
        "utilities",
        "oil & energy",
        "oil and gas",
        "electricity",
    ),
    "Telecommunications": ("telecommunications", "telecom", "broadband", "mobile network", "voip"),
    "Staffing & Recruiting": (
        "staffing",
        "recruiting",
        "recruitment",
        "headhunting",
        "talent acquisition",
        "human resources",
    ),
    "Nonprofit & Government": (
        "nonprofit",
        "non-profit",
        "charity",
        "ngo",
        "foundation",
        "government",
        "public sector",
        "municipality",
    ),
}

# schema.org types that name the kind of business outright.
SCHEMA_TYPE_SECTORS: dict[str, str] = {
    "SoftwareApplication": "Software & SaaS",
    "WebApplication": "Software & SaaS",
    "MobileApplication": "Software & SaaS",
    "OnlineStore": "E-commerce & Retail",
    "Store": "E-commerce & Retail",
    "ClothingStore": "E-commerce & Retail",
    "ShoppingCenter": "E-commerce & Retail",
    "FoodEstablishment": "Hospitality, Travel & Food",
    "Restaurant": "Hospitality, Travel & Food",
    "CafeOrCoffeeShop": "Hospitality, Travel & Food",
    "Bakery": "Hospitality, Travel & Food",
    "LodgingBusiness": "Hospitality, Travel & Food",
    "Hotel": "Hospitality, Travel & Food",
    "TravelAgency": "Hospitality, Travel & Food",
    "MedicalOrganization": "Healthcare & Life Sciences",
    "MedicalBusiness": "Healthcare & Life Sciences",
    "MedicalClinic": "Healthcare & Life Sciences",
    "Hospital": "Healthcare & Life Sciences",
    "Dentist": "Healthcare & Life Sciences",
    "Physician": "Healthcare & Life Sciences",
    "Pharmacy": "Healthcare & Life Sciences",
    "LegalService": "Legal Services",
    "Attorney": "Legal Services",
    "FinancialService": "Financial Services",
    "BankOrCreditUnion": "Financial Services",
    "InsuranceAgency": "Financial Services",
    "AccountingService": "Financial Services",
    "RealEstateAgent": "Real Estate & Construction",
    "HomeAndConstructionBusiness": "Real Estate & Construction",
    "GeneralContractor": "Real Estate & Construction",
    "EducationalOrganization": "Education",
    "School": "Education",
    "CollegeOrUniversity": "Education",
    "NGO": "Nonprofit & Government",
    "GovernmentOrganization": "Nonprofit & Government",
    "NewsMediaOrganization": "Media & Entertainment",
    "MediaOrganization": "Media & Entertainment",
    "EmploymentAgency": "Staffing & Recruiting",
}


@lru_cache(maxsize=1)
def _keyword_patterns() -> list[tuple[str, re.Pattern[str]]]:
    patterns = []
    for sector, phrases in SECTOR_KEYWORDS.items():
        for phrase in phrases:
            patterns.append((sector, re.compile(r"(?<![\w-])" + re.escape(phrase) + r"(?![\w-])")))
    return patterns


def sectors_in(text: str) -> dict[str, int]:
    """How many sector phrases occur in this (plain, non-HTML) text, per sector."""
    counts: dict[str, int] = {}
    lowered = (text or "").lower()
    if not lowered:
        return counts
    for sector, pattern in _keyword_patterns():
        if pattern.search(lowered):
            counts[sector] = counts.get(sector, 0) + 1
    return counts


def best_sector(text: str) -> tuple[str, int] | None:
    """The sector most phrases point to, with its count; None on no hit or a tie."""
    counts = sectors_in(text)
    if not counts:
        return None
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None
    return ranked[0]


# --- Employee ranges ----------------------------------------------------------------------

EMPLOYEE_RANGES: tuple[tuple[int, int | None, str], ...] = (
    (0, 1, "0-1"),
    (2, 10, "2-10"),
    (11, 50, "11-50"),
    (51, 200, "51-200"),
    (201, 500, "201-500"),
    (501, 1000, "501-1000"),
    (1001, 5000, "1001-5000"),
    (5001, 10000, "5001-10000"),
    (10001, None, "10001+"),
)


def employee_range(low: int, high: int | None = None) -> str:
    """The LinkedIn-style range for a head count (or the range low..high when it spans more)."""
    high = low if high is None else high
    if high < low:
        low, high = high, low
    for start, end, label in EMPLOYEE_RANGES:
        if start <= low and (end is None or high <= end):
            return label
    return f"{low}-{high}"


# --- Countries ----------------------------------------------------------------------------

ISO_CODES = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO
    DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU
    GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW
    KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU
    MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW
    PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF
    TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA
    ZM ZW""".split()
)

COUNTRY_NAMES: dict[str, str] = {
    "united states": "US",
    "united states of america": "US",
    "usa": "US",
    "u.s.a.": "US",
    "u.s.": "US",
    "america": "US",
    "united kingdom": "GB",
    "uk": "GB",
    "great britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "germany": "DE",
    "deutschland": "DE",
    "france": "FR",
    "spain": "ES",
    "españa": "ES",
    "italy": "IT",
    "italia": "IT",
    "netherlands": "NL",
    "the netherlands": "NL",
    "nederland": "NL",
    "holland": "NL",
    "belgium": "BE",
    "belgique": "BE",
    "belgië": "BE",
    "switzerland": "CH",
    "schweiz": "CH",
    "suisse": "CH",
    "austria": "AT",
    "österreich": "AT",
    "ireland": "IE",
    "portugal": "PT",
    "sweden": "SE",
    "sverige": "SE",
    "norway": "NO",
    "norge": "NO",
    "denmark": "DK",
    "danmark": "DK",
    "finland": "FI",
    "suomi": "FI",
    "iceland": "IS",
    "poland": "PL",
    "polska": "PL",
    "czech republic": "CZ",
    "czechia": "CZ",
    "slovakia": "SK",
    "hungary": "HU",
    "romania": "RO",
    "bulgaria": "BG",
    "greece": "GR",
    "croatia": "HR",
    "slovenia": "SI",
    "serbia": "RS",
    "estonia": "EE",
    "latvia": "LV",
    "lithuania": "LT",
    "luxembourg": "LU",
    "malta": "MT",
    "cyprus": "CY",
    "ukraine": "UA",
    "turkey": "TR",
    "türkiye": "TR",
    "russia": "RU",
    "israel": "IL",
    "united arab emirates": "AE",
    "uae": "AE",
    "saudi arabia": "SA",
    "qatar": "QA",
    "egypt": "EG",
    "south africa": "ZA",
    "nigeria": "NG",
    "kenya": "KE",
    "morocco": "MA",
    "canada": "CA",
    "mexico": "MX",
    "méxico": "MX",
    "brazil": "BR",
    "brasil": "BR",
    "argentina": "AR",
    "chile": "CL",
    "colombia": "CO",
    "peru": "PE",
    "australia": "AU",
    "new zealand": "NZ",
    "india": "IN",
    "pakistan": "PK",
    "bangladesh": "BD",
    "china": "CN",
    "hong kong": "HK",
    "taiwan": "TW",
    "japan": "JP",
    "south korea": "KR",
    "korea": "KR",
    "singapore": "SG",
    "malaysia": "MY",
    "indonesia": "ID",
    "thailand": "TH",
    "vietnam": "VN",
    "viet nam": "VN",
    "philippines": "PH",
}

# Country-code TLDs that are mostly sold as generic names (.io, .co, .ai...): no country hint.
GENERIC_CCTLDS = frozenset(
    "io co ai me tv fm ly gg sh ac cc ws to so am la vc st nu tk ml ga cf gq is ag sc bz gl ms"
    " cx im re fo mn".split()
)


def country_code(value: str) -> str:
    """ISO alpha-2 code for a country name or code as sites write it; "" when unknown."""
    cleaned = " ".join((value or "").strip().split())
    if not cleaned:
        return ""
    if len(cleaned) == 2 and cleaned.upper() in ISO_CODES:
        return cleaned.upper()
    if cleaned.upper() == "UK":
        return "GB"
    return COUNTRY_NAMES.get(cleaned.lower().rstrip("."), "")


def country_from_suffix(suffix: str) -> str:
    """The country a public suffix hints at (co.uk -> GB, fr -> FR, io -> "")."""
    last = (suffix or "").rsplit(".", 1)[-1].lower()
    if len(last) != 2 or last in GENERIC_CCTLDS:
        return ""
    if last == "uk":
        return "GB"
    return last.upper() if last.upper() in ISO_CODES else ""
