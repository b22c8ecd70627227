"""A lead is a person: submissions from every door attach to it, each starting its own run."""

import threading
import time
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test import Client

from pipeline import engine
from pipeline.intake import receive
from pipeline.intake.receive import receive_submission
from pipeline.intake.traps import issue_form_token
from pipeline.models import Lead, PipelineRun, Submission
from tests.intake_helpers import deliver, make_source


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()


@pytest.mark.django_db
def test_a_second_submission_attaches_to_the_lead_and_starts_a_new_run(client):
    source = make_source()
    first = deliver(client, *source, {"email": "Dana+demo@Gmail.com", "message": "one"})
    second = deliver(client, *source, {"email": "dana@gmail.com", "message": "two"})

    lead = Lead.objects.get()
    assert first.json()["duplicate_of"] is None
    assert second.json()["duplicate_of"] == lead.pk == second.json()["lead_id"]
    assert first.json()["run_id"] != second.json()["run_id"]
    assert lead.runs.count() == 2
    # The original text is kept: on the lead (first seen) and on each submission.
    assert lead.email == "Dana+demo@Gmail.com"
    assert list(lead.submissions.order_by("pk").values_list("email", "message")) == [
        ("Dana+demo@Gmail.com", "one"),
        ("dana@gmail.com", "two"),
    ]


@pytest.mark.django_db
def test_the_same_person_is_one_lead_across_webhook_form_and_import(client, tmp_path):
    source, secret = make_source()
    deliver(client, source, secret, {"email": "ana@example.org", "message": "via webhook"})
    client.post(
        f"/f/{source.slug}/",
        {
            "email": "ANA@example.org",
            "message": "via form",
            "form_token": issue_form_token(source.slug, now=time.time() - 10),
        },
    )
    csv_file = tmp_path / "backfill.csv"
    csv_file.write_text("Email,Message\nAna@Example.org,via import\n", encoding="utf-8")
    call_command("import_leads", str(csv_file), stdout=StringIO())

    lead = Lead.objects.get()
    assert sorted(lead.submissions.values_list("channel", flat=True)) == [
        "form",
        "import",
        "webhook",
    ]
    assert lead.runs.count() == 3


@pytest.mark.django_db
def test_a_phone_written_nationally_or_internationally_is_one_person(settings):
    settings.PHONE_DEFAULT_REGION = "US"
    first = receive_submission({"phone": "+1 415 555 0100"}, channel="webhook")
    second = receive_submission({"phone": "(415) 555-0100"}, channel="form")

    assert first.lead_id == second.lead_id
    assert Lead.objects.get().phone_normalized == "+14155550100"


@pytest.mark.django_db
def test_plus_tags_merge_people_only_at_providers_known_to_use_them():
    gmail = [
        receive_submission({"email": e}, channel="form")
        for e in ("a.b+x@gmail.com", "ab@gmail.com")
    ]
    company = [
        receive_submission({"email": e}, channel="form")
        for e in ("sales+emea@northwind.example", "sales@northwind.example")
    ]

    assert gmail[0].lead_id == gmail[1].lead_id
    assert company[0].lead_id != company[1].lead_id


@pytest.mark.django_db
def test_without_an_email_the_person_is_their_phone_number():
    first = receive_submission({"phone": "+1 (415) 555-0100"}, channel="webhook")
    second = receive_submission({"phone": "+1 415 555 0100", "name": "Sam"}, channel="form")
    other = receive_submission({"phone": "+1 415 555 0199"}, channel="form")

    assert first.lead_id == second.lead_id != other.lead_id
    assert second.duplicate_of == first.lead_id


@pytest.mark.django_db
def test_an_email_identifies_the_person_even_when_the_phone_matches_another_lead():
    by_phone = receive_submission({"phone": "+14155550100"}, channel="webhook")
    by_email = receive_submission(
        {"email": "sam@example.org", "phone": "+14155550100"}, channel="webhook"
    )

    assert by_email.lead_id != by_phone.lead_id


@pytest.mark.django_db
def test_a_returning_person_fills_blanks_but_never_overwrites():
    receive_submission({"email": "a@b.example", "name": "Ana"}, channel="webhook")
    receive_submission(
        {"email": "a@b.example", "name": "Someone Else", "company": "B Corp"}, channel="form"
    )

    lead = Lead.objects.get()
    assert (lead.name, lead.company) == ("Ana", "B Corp")


# --- At the same instant ----------------------------------------------------------------------


def at_the_same_instant(count, work):
    """Run work(index) in `count` threads released together; return their results in order."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list = []

    def worker(index):
        try:
            barrier.wait()
            results[index] = work(index)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


@pytest.fixture
def queued(monkeypatch):
    enqueued: list[int] = []
    monkeypatch.setattr(engine, "enqueue", enqueued.append)
    return enqueued


@pytest.mark.django_db(transaction=True)
def test_copies_of_one_delivery_at_the_same_instant_make_one_lead_and_one_run(queued):
    source = make_source(rate_limit_per_minute=1000)
    payload = {"email": "rush@example.org", "message": "Hello"}
    body_time = int(time.time())

    responses = at_the_same_instant(
        4,
        lambda index: deliver(
            Client(), *source, payload, webhook_id="msg_rush", timestamp=body_time
        ),
    )

    assert {response.status_code for response in responses} == {202}
    assert len({response.content for response in responses}) == 1
    assert Lead.objects.count() == 1
    assert Submission.objects.count() == 1
    assert PipelineRun.objects.count() == 1
    assert len(queued) == 1  # the run's first step was enqueued once


@pytest.mark.django_db(transaction=True)
def test_two_first_submissions_of_a_new_person_at_the_same_instant_make_one_lead(queued):
    results = at_the_same_instant(
        4,
        lambda index: receive_submission(
            {"email": "New.Person@example.org", "message": f"copy {index}"},
            channel="webhook",
            idempotency_key=f"key-{index}",
        ),
    )

    assert len({receipt.lead_id for receipt in results}) == 1
    assert Lead.objects.count() == 1
    assert Submission.objects.count() == 4
    assert PipelineRun.objects.count() == 4
    assert sum(receipt.duplicate_of is None for receipt in results) == 1


@pytest.mark.django_db
def test_a_delivery_seen_before_is_answered_from_the_unique_constraint_alone(monkeypatch):
    source, _ = make_source()
    fields = {"email": "race@example.org"}
    first = receive_submission(fields, channel="webhook", source=source, idempotency_key="k1")
    real_lookup = receive._earlier_delivery
    lookups = []

    def counted(*args):
        lookups.append(args)
        return real_lookup(*args)

    monkeypatch.setattr(receive, "_earlier_delivery", counted)
    second = receive_submission(fields, channel="webhook", source=source, idempotency_key="k1")

    assert len(lookups) == 1  # no lookup before the insert: the constraint found the copy
    assert second.as_json() == first.as_json() and second.is_replay
    assert Submission.objects.count() == 1
    assert PipelineRun.objects.count() == 1


@pytest.mark.django_db
def test_a_person_created_between_lookup_and_insert_is_found_again(monkeypatch):
    first = receive_submission({"email": "race@example.org"}, channel="webhook")
    real_find = receive._find_lead
    finds = []

    def misses_once(clean):
        finds.append(clean)
        return None if len(finds) == 1 else real_find(clean)

    monkeypatch.setattr(receive, "_find_lead", misses_once)
    second = receive_submission({"email": "RACE@example.org"}, channel="form")

    assert len(finds) == 2
    assert second.lead_id == first.lead_id
    assert Lead.objects.count() == 1
