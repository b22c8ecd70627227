"""Field mapping, email/phone normalisation and validation rules shared by every door."""

import re

import pytest

from pipeline.intake.errors import InvalidLead
from pipeline.intake.normalize import (
    BadEmail,
    apply_field_mapping,
    clean_lead_fields,
    normalize_email,
    normalize_phone,
    same_json,
    storable_problem,
)


@pytest.mark.parametrize(
    ("email", "normalized"),
    [
        ("Dana@Northwind.Example", "dana@northwind.example"),
        # "+tag" is folded only where the provider is known to deliver it to the mailbox.
        ("dana+demo@northwind.example", "dana+demo@northwind.example"),
        ("  DANA+a+b@Gmail.com ", "dana@gmail.com"),
        ("dana+leads@outlook.com", "dana@outlook.com"),
        ("+tag@gmail.com", "+tag@gmail.com"),
        ("first.last@example.org", "first.last@example.org"),
        # Gmail ignores dots, and googlemail.com is gmail.com.
        ("First.Last+x@googlemail.com", "firstlast@gmail.com"),
        # IDNA 2008 (UTS #46 mapped): the German sharp s stays, fullwidth letters map.
        ("zoë@bücher.example", "zoë@xn--bcher-kva.example"),
        ("max@straße.example", "max@xn--strae-oqa.example"),
        ("ana@ＥＸＡＭＰＬＥ.org", "ana@example.org"),
        # The mailbox is compared in Unicode NFC: a decomposed "e" + accent is "é".
        ("rene\u0301@example.org", "ren\u00e9@example.org"),
    ],
)
def test_emails_are_matched_on_one_key_per_mailbox(email, normalized):
    assert normalize_email(email) == normalized


@pytest.mark.parametrize(
    ("email", "reason"),
    [
        ("dana@", "There must be something after the @-sign."),
        ("dana@localhost", "It should have a period."),
        ("dana@printer.local", "special-use or reserved name"),
        ("da..na@example.org", "period"),
        ("dana@exa_mple.org", "invalid characters"),
    ],
)
def test_bad_addresses_are_refused_with_email_validator_s_reason(email, reason):
    with pytest.raises(BadEmail, match=re.escape(reason)):
        normalize_email(email)


@pytest.mark.parametrize(
    ("phone", "normalized"),
    [
        ("+1 (415) 555-0100", "+14155550100"),
        ("+1.415.555.0100", "+14155550100"),
        # National numbers are read in PHONE_DEFAULT_REGION (US here).
        ("(415) 555-0100", "+14155550100"),
        ("415.555.0100", "+14155550100"),
        ("0044 20 7946 0958", "+442079460958"),
        ("020 7946 0958", "02079460958"),
        ("١٢٣٤٥٦٧٨", "12345678"),
        ("call me", None),
        ("123", None),
        ("+1 415 555 0100 ext 12", "+14155550100"),
        ("+1 800 FLOWERS", "+18003569377"),
    ],
)
def test_phone_numbers_become_e164_or_their_digits(phone, normalized, settings):
    settings.PHONE_DEFAULT_REGION = "US"
    assert normalize_phone(phone) == normalized


@pytest.mark.parametrize(
    ("region", "phone", "normalized"),
    [
        ("GB", "020 7946 0958", "+442079460958"),
        ("GB", "+44 (0)20 7946 0958", "+442079460958"),
        ("DE", "030 1234567", "+49301234567"),
        ("", "(415) 555-0100", "4155550100"),  # no region: national numbers match by digits
    ],
)
def test_the_default_region_reads_national_numbers(region, phone, normalized, settings):
    settings.PHONE_DEFAULT_REGION = region
    assert normalize_phone(phone) == normalized


def test_the_mapping_takes_nested_paths_and_leaves_the_rest_as_custom_fields():
    payload = {
        "type": "lead.created",
        "data": {"contact": {"mail": "a@b.example", "tz": "UTC"}, "org": "B Corp"},
    }
    mapped = apply_field_mapping(payload, {"data.contact.mail": "email", "data.org": "company"})

    assert mapped.fields == {"email": "a@b.example", "company": "B Corp"}
    assert mapped.custom_fields == {"type": "lead.created", "data": {"contact": {"tz": "UTC"}}}
    assert payload["data"]["contact"]["mail"] == "a@b.example"  # the payload is not changed


def test_common_sender_field_names_map_themselves():
    mapped = apply_field_mapping(
        {
            "Email Address": "a@b.example",
            "Phone-Number": "+1 415 555 0100",
            "Company Name": "B",
            "Comments": "Hi",
            "first_name": "Ana",
            "Last Name": "López",
            "plan": "pro",
        },
        {},
    )

    assert mapped.fields == {
        "email": "a@b.example",
        "phone": "+1 415 555 0100",
        "company": "B",
        "message": "Hi",
        "name": "Ana López",
    }
    assert mapped.custom_fields == {"plan": "pro"}


def test_an_explicit_mapping_wins_over_a_same_named_field():
    mapped = apply_field_mapping(
        {"email": "old@b.example", "work": "new@b.example"}, {"work": "email"}
    )

    assert mapped.fields == {"email": "new@b.example"}
    assert mapped.custom_fields == {"email": "old@b.example"}


def test_a_lead_needs_an_email_or_a_phone():
    with pytest.raises(InvalidLead) as caught:
        clean_lead_fields({"name": "Nobody"})

    assert set(caught.value.errors) == {"email", "phone"}


def test_a_phone_alone_is_enough():
    fields = clean_lead_fields({"phone": " +1 415 555 0100 "})

    assert (fields.phone, fields.phone_normalized, fields.email_normalized) == (
        "+1 415 555 0100",
        "+14155550100",
        "",
    )


def test_every_bad_field_is_named_at_once():
    with pytest.raises(InvalidLead) as caught:
        clean_lead_fields({"email": "nope", "phone": "x", "website": "w" * 501, "name": {"a": 1}})

    assert set(caught.value.errors) == {"email", "phone", "website", "name"}


def test_numbers_are_accepted_as_text_but_a_float_phone_is_not():
    fields = clean_lead_fields({"email": "a@b.example", "company": 3, "phone": 4155550100})

    assert (fields.company, fields.phone) == ("3", "4155550100")
    with pytest.raises(InvalidLead):
        clean_lead_fields({"phone": 4155550100.0})


def test_names_and_messages_are_kept_exactly_email_loses_only_outer_spaces():
    fields = clean_lead_fields({"email": " Dana+x@B.example ", "name": " Zoë ", "message": " hi\n"})

    assert (fields.email, fields.name, fields.message) == ("Dana+x@B.example", " Zoë ", " hi\n")
    assert fields.email_normalized == "dana+x@b.example"


DEEP: list = ["deep"]
for _ in range(40):
    DEEP = [DEEP]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"a": "fine", "b": [1, 2.5, None, True]}, ""),
        ({"a": "\x00"}, "NUL"),
        ({"a": "\ud800"}, "not valid Unicode"),
        ({"\ud800": 1}, "field name"),
        ({"a": float("inf")}, "not finite"),
        ({"a": DEEP}, "nested"),
    ],
)
def test_values_a_database_cannot_store_are_named(value, problem):
    found = storable_problem(value)

    assert (problem in found) if problem else found == ""


@pytest.mark.parametrize(
    ("stored", "received", "same"),
    [
        ({"n": 39980778209306530}, {"n": 3.998077820930653e16}, True),
        ({"n": 0.0}, {"n": -0.0}, True),
        ({"n": 1}, {"n": True}, False),
        ({"n": 1}, {"n": 2}, False),
        ({"a": [1, "x"]}, {"a": [1, "x"]}, True),
        ({"a": [1, "x"]}, {"a": [1]}, False),
        ({"a": 1}, {"b": 1}, False),
    ],
)
def test_a_stored_payload_is_compared_as_json_values(stored, received, same):
    assert same_json(stored, received) is same
