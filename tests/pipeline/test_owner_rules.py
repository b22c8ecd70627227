"""Owner rules by source, country and company size, before the round-robin; the re-check after
enrichment; the admin that edits the rules; the owner's basis on the lead page and the queue."""

import pytest

from pipeline import engine
from pipeline.agents.defaults import DEFAULT_COMPANY_PROFILE, DEFAULT_CRITERIA
from pipeline.enrichment import store
from pipeline.intake.receive import receive_submission
from pipeline.models import (
    CompanyProfile,
    CountryOwnerRule,
    Lead,
    OwnerRule,
    ReviewAction,
    ScoringConfig,
    SizeOwnerRule,
    Submission,
)
from pipeline.schemas import CompanyProfile as Profile
from tests.factories import make_reviewer, make_waiting_draft
from tests.intake_helpers import deliver, make_source

pytestmark = pytest.mark.django_db

BUYER = (
    "Hi, we're replacing our spreadsheet-based lead tracking this quarter. Could we get a demo "
    "next week and pricing for 15 seats? Budget is approved."
)


def receive(email="kim@kimco.example", *, source=None, custom=None, **fields) -> Lead:
    receipt = receive_submission(
        {"name": "Kim", "email": email, "message": BUYER, **fields},
        channel=Submission.Channel.WEBHOOK if source else Submission.Channel.FORM,
        source=source,
        custom_fields=custom or {},
        start_run=False,
    )
    return Lead.objects.select_related("owner").get(pk=receipt.lead_id)


def owner_and_basis(lead: Lead) -> tuple[str | None, str, str]:
    lead.refresh_from_db()
    return (
        lead.owner.username if lead.owner else None,
        lead.owner_basis,
        lead.owner_basis_detail,
    )


@pytest.fixture
def team():
    """Three Reviewers and a rule for each kind: source, country (DE), size (51-200)."""
    people = {name: make_reviewer(name) for name in ("rota", "partners", "dach", "midmarket")}
    source, secret = make_source("Partner portal")
    OwnerRule.objects.create(source=source, owner=people["partners"])
    CountryOwnerRule.objects.create(country="DE", owner=people["dach"])
    SizeOwnerRule.objects.create(min_employees=51, max_employees=200, owner=people["midmarket"])
    return people, source, secret


# --- Precedence -------------------------------------------------------------------------------


def test_a_source_rule_wins_over_country_and_size_rules(team):
    _, source, _ = team

    lead = receive(source=source, custom={"country": "DE", "company_size": "51-200"})

    assert owner_and_basis(lead) == ("partners", "source", "Partner portal")


def test_a_country_rule_wins_over_a_size_rule(team):
    lead = receive(custom={"country": "Germany", "company_size": "51-200"})

    assert owner_and_basis(lead) == ("dach", "country", "DE")


def test_a_size_rule_applies_when_no_source_or_country_rule_fits(team):
    lead = receive(custom={"country": "FR", "employees": "120"})

    assert owner_and_basis(lead) == ("midmarket", "size", "51-200")


def test_a_lead_no_rule_fits_goes_round_robin(team):
    first = receive("a@one.example", custom={"country": "FR", "company_size": "2-10"})
    second = receive("b@two.example")

    assert owner_and_basis(first)[1:] == ("round-robin", "")
    assert owner_and_basis(second)[1:] == ("round-robin", "")
    assert first.owner_id != second.owner_id


def test_a_rule_whose_owner_left_is_skipped_for_the_next_rule(team):
    people, source, _ = team
    people["partners"].is_active = False
    people["partners"].save()

    lead = receive(source=source, custom={"country": "DE"})

    assert owner_and_basis(lead) == ("dach", "country", "DE")


def test_a_rule_naming_someone_outside_reviewers_falls_through_to_the_round_robin(team):
    people, _, _ = team
    people["dach"].groups.clear()

    lead = receive(custom={"country": "DE"})

    owner, basis, _ = owner_and_basis(lead)
    assert basis == "round-robin" and owner != "dach"


# --- Where the country comes from -------------------------------------------------------------


@pytest.mark.parametrize(
    "custom",
    [{"country": "Germany"}, {"country_code": "de"}, {"Country": " DE "}, {"country-code": "DE"}],
)
def test_the_country_is_read_from_the_form_as_a_name_or_a_code(team, custom):
    lead = receive(custom=custom)

    assert owner_and_basis(lead) == ("dach", "country", "DE")


def test_the_country_field_of_a_signed_webhook_delivery_is_read(team, client):
    _, _, secret = team
    plain, plain_secret = make_source("Website")

    response = deliver(
        client,
        plain,
        plain_secret,
        {"name": "Kim", "email": "kim@brandt.example", "message": BUYER, "country": "Deutschland"},
    )

    assert response.status_code == 202, response.content
    lead = Lead.objects.get(pk=response.json()["lead_id"])
    assert owner_and_basis(lead) == ("dach", "country", "DE")


def test_the_country_is_read_from_an_international_phone_number(team):
    CountryOwnerRule.objects.create(country="GB", owner=make_reviewer("uk"))

    by_plus = receive("a@one.example", phone="+44 20 7946 0958")
    by_double_zero = receive("b@two.example", phone="0049 30 1234567")
    national = receive("c@three.example", phone="030 1234567")

    assert owner_and_basis(by_plus) == ("uk", "country", "GB")
    assert owner_and_basis(by_double_zero) == ("dach", "country", "DE")
    assert owner_and_basis(national)[1] == "round-robin"


def test_the_form_country_wins_over_the_phone_number(team):
    CountryOwnerRule.objects.create(country="GB", owner=make_reviewer("uk"))

    lead = receive(phone="+44 20 7946 0958", custom={"country": "DE"})

    assert owner_and_basis(lead) == ("dach", "country", "DE")


# --- Company size -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "owner", "rule"),
    [
        ("1-10", "small", "1-10"),
        ("10", "small", "1-10"),
        ("51-200", "midmarket", "51-200"),
        ("200", "midmarket", "51-200"),
        ("1,001-5,000", "enterprise", "1000+"),
        ("10001+", "enterprise", "1000+"),
    ],
)
def test_size_ranges_are_inclusive_and_the_last_one_is_open_ended(team, size, owner, rule):
    SizeOwnerRule.objects.create(min_employees=1, max_employees=10, owner=make_reviewer("small"))
    SizeOwnerRule.objects.create(min_employees=1000, owner=make_reviewer("enterprise"))

    lead = receive(custom={"company_size": size})

    assert owner_and_basis(lead) == (owner, "size", rule)


def test_a_size_no_range_holds_goes_round_robin(team):
    lead = receive(custom={"company_size": "11-50"})

    assert owner_and_basis(lead)[1:] == ("round-robin", "")


# --- The re-check after enrichment ------------------------------------------------------------


@pytest.fixture
def business_settings(settings):
    settings.AGENT_STRATEGY = dict.fromkeys(("classify", "enrich", "score", "draft"), "rules")
    CompanyProfile.objects.create(**DEFAULT_COMPANY_PROFILE)
    ScoringConfig.objects.create(
        criteria=DEFAULT_CRITERIA, auto_send_threshold=60, auto_send_labels=["high_intent"]
    )


def known_company(domain: str, *, country: str = "", employee_range: str = "") -> None:
    """The company's site was read earlier: the enrich step finds its profile in the cache."""
    store(
        domain,
        Profile(
            domain=domain,
            company_name="Brandt Logistik",
            country=country,
            employee_range=employee_range,
            provider="web",
        ),
    )


def enrich(lead: Lead):
    run = engine.run_inline("lead", lead=lead, submission=lead.submissions.get())
    enrich_step = run.steps.get(name="enrich")
    assert enrich_step.status == "succeeded" and enrich_step.output["provider"] == "cache:web"
    return run


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("business_settings", "only_loopback_connections")
def test_after_enrichment_a_round_robin_owner_yields_to_the_country_rule(team, client):
    known_company("brandt-logistik.com", country="DE")
    lead = receive("kim@brandt-logistik.com")
    assert owner_and_basis(lead)[1] == "round-robin"

    enrich(lead)

    assert owner_and_basis(lead) == ("dach", "country", "DE")
    audit = ReviewAction.objects.get(lead=lead, action="owner")
    assert audit.user is None and audit.detail["to"] == "dach"
    client.force_login(team[0]["rota"])
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "Assigned by country rule (DE) after enrichment" in page


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("business_settings", "only_loopback_connections")
def test_after_enrichment_the_size_rule_applies_to_the_profiles_employee_range(team):
    known_company("brandt-logistik.com", country="FR", employee_range="51-200")
    lead = receive("kim@brandt-logistik.com")

    enrich(lead)

    assert owner_and_basis(lead) == ("midmarket", "size", "51-200")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("business_settings", "only_loopback_connections")
def test_after_enrichment_a_staff_reassignment_is_kept(team, client):
    people, _, _ = team
    known_company("brandt-logistik.com", country="DE")
    lead = receive("kim@brandt-logistik.com")
    client.force_login(people["rota"])
    client.post(f"/leads/{lead.pk}/owner/", {"owner": people["partners"].pk})

    enrich(lead)

    assert owner_and_basis(lead) == ("partners", "staff", "rota")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("business_settings", "only_loopback_connections")
def test_after_enrichment_a_rule_chosen_owner_is_kept(team):
    known_company("brandt-logistik.com", country="DE", employee_range="51-200")
    lead = receive("kim@brandt-logistik.com", custom={"company_size": "60"})
    assert owner_and_basis(lead)[1] == "size"

    enrich(lead)

    assert owner_and_basis(lead) == ("midmarket", "size", "51-200")
    assert not ReviewAction.objects.filter(lead=lead, action="owner").exists()


# --- Admin ------------------------------------------------------------------------------------


@pytest.fixture
def admin(client):
    client.force_login(make_reviewer("root", is_superuser=True, is_staff=True))
    return client


def test_the_admin_adds_a_country_rule_and_upper_cases_the_code(admin, team):
    people, _, _ = team

    response = admin.post(
        "/admin/pipeline/countryownerrule/add/", {"country": "gb", "owner": people["rota"].pk}
    )

    assert response.status_code == 302, response.content.decode()
    assert CountryOwnerRule.objects.filter(country="GB", owner=people["rota"]).exists()


def test_the_admin_refuses_a_country_that_is_not_an_iso_code(admin, team):
    people, _, _ = team

    response = admin.post(
        "/admin/pipeline/countryownerrule/add/", {"country": "XX", "owner": people["rota"].pk}
    )

    assert response.status_code == 200
    assert "is not an ISO 3166-1 alpha-2 country code" in response.content.decode()
    assert not CountryOwnerRule.objects.filter(country="XX").exists()


def test_the_admin_refuses_a_second_rule_for_the_same_country(admin, team):
    people, _, _ = team

    response = admin.post(
        "/admin/pipeline/countryownerrule/add/", {"country": "de", "owner": people["rota"].pk}
    )

    assert response.status_code == 200
    assert "Country owner rule with this Country already exists." in response.content.decode()
    assert CountryOwnerRule.objects.get(country="DE").owner == people["dach"]


def test_the_admin_refuses_a_size_range_whose_minimum_is_above_its_maximum(admin, team):
    people, _, _ = team

    response = admin.post(
        "/admin/pipeline/sizeownerrule/add/",
        {"min_employees": "500", "max_employees": "300", "owner": people["rota"].pk},
    )

    assert response.status_code == 200
    assert "The upper limit is below the lower one." in response.content.decode()
    assert SizeOwnerRule.objects.count() == 1


@pytest.mark.parametrize(
    ("low", "high"),
    [("10", "51"), ("200", "300"), ("100", "120"), ("1", ""), ("5", "1000")],
)
def test_the_admin_refuses_a_size_range_overlapping_another(admin, team, low, high):
    people, _, _ = team

    response = admin.post(
        "/admin/pipeline/sizeownerrule/add/",
        {"min_employees": low, "max_employees": high, "owner": people["rota"].pk},
    )

    assert response.status_code == 200
    assert "overlaps the rule for 51-200 employees (midmarket)" in response.content.decode()
    assert SizeOwnerRule.objects.count() == 1


def test_the_admin_accepts_adjacent_size_ranges_and_an_open_ended_one(admin, team):
    people, _, _ = team

    below = admin.post(
        "/admin/pipeline/sizeownerrule/add/",
        {"min_employees": "11", "max_employees": "50", "owner": people["rota"].pk},
    )
    above = admin.post(
        "/admin/pipeline/sizeownerrule/add/",
        {"min_employees": "201", "max_employees": "", "owner": people["rota"].pk},
    )
    overlapping_the_open_one = admin.post(
        "/admin/pipeline/sizeownerrule/add/",
        {"min_employees": "5000", "max_employees": "6000", "owner": people["rota"].pk},
    )

    assert (below.status_code, above.status_code) == (302, 302)
    assert overlapping_the_open_one.status_code == 200
    assert "overlaps the rule for 201+ employees (rota)" in (
        overlapping_the_open_one.content.decode()
    )
    assert [str(rule) for rule in SizeOwnerRule.objects.all()] == [
        "11-50 employees -> rota",
        "51-200 employees -> midmarket",
        "201+ employees -> rota",
    ]


# --- What staff see ---------------------------------------------------------------------------


def test_the_lead_page_and_the_queue_say_why_the_lead_has_its_owner(team, client):
    people, _, _ = team
    lead = receive(custom={"country": "DE"})
    make_waiting_draft(lead=lead)
    client.force_login(people["rota"])

    page = client.get(f"/leads/{lead.pk}/").content.decode()
    queue = client.get("/").content.decode()

    assert 'title="Assigned by country rule (DE)"' in page
    assert 'title="Owner: Assigned by country rule (DE)">dach</span>' in queue


def test_a_staff_reassignment_is_shown_as_staffs_choice(team, client):
    people, _, _ = team
    lead = receive(custom={"country": "DE"})
    client.force_login(people["rota"])

    client.post(f"/leads/{lead.pk}/owner/", {"owner": people["midmarket"].pk})

    assert owner_and_basis(lead) == ("midmarket", "staff", "rota")
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "Reassigned by staff (rota)" in page
