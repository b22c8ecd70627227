"""What one webhook costs the database: the statements it sends, pinned so a regression fails.

Counted with a wrapper on the connection (every statement the ORM or our own SQL sends). The
rate limit counts in process memory here, as it does on Redis, so the database cache's statements
do not blur the figures. The tests commit as production does (transaction=True): the webhook's
transaction is BEGIN ... COMMIT, which the wrapper does not see, and the process keeps the source
and the owner rules it read (config_cache) after the first delivery, as a web process does.
"""

import pytest

from pipeline.models import Lead, PipelineRun, StepRun, Submission
from tests.factories import make_reviewer
from tests.intake_helpers import deliver, make_source, statements

LEAD = {
    "name": "Dana Reyes",
    "email": "dana@northwind.example",
    "company": "Northwind",
    "message": "We need a demo for 40 sales reps next week.",
}


@pytest.fixture(autouse=True)
def cache_in_memory(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


@pytest.fixture
def source():
    return make_source("Website")


@pytest.mark.django_db(transaction=True)
def test_a_new_person_s_webhook_costs_six_statements_in_one_transaction_and_a_message(
    client, source
):
    deliver(client, *source, {**LEAD, "email": "first@northwind.example"})  # reads the setup

    with statements() as sent:
        response = deliver(client, *source, LEAD)

    assert response.status_code == 202
    answer = response.json()
    assert PipelineRun.objects.get(pk=answer["run_id"]).submission_id == answer["submission_id"]
    assert StepRun.objects.filter(run_id=answer["run_id"]).count() == 8
    # The person (looked up, then created); the submission; the run and its eight steps (one
    # INSERT); the answer; after the commit, the first step's message (django-q2's ORM broker
    # here; on Redis it is no statement). The source and the owner rules (nobody is in
    # Reviewers here) are kept from the first delivery.
    assert len(sent["data"]) == 6 + 1, sent["data"]
    # One transaction, with one savepoint for creating the person and one for creating the
    # run: each pair is SAVEPOINT and RELEASE.
    assert len(sent["savepoints"]) == 2 * 2, sent["savepoints"]


@pytest.mark.django_db(transaction=True)
def test_the_first_webhook_a_process_serves_reads_the_source_and_the_owner_setup(client, source):
    with statements() as sent:
        response = deliver(client, *source, LEAD)

    assert response.status_code == 202
    # The seven, the source, and the Reviewers with the source, country and size rules.
    assert len(sent["data"]) == 7 + 1 + 4, sent["data"]


@pytest.mark.django_db(transaction=True)
def test_a_returning_person_s_webhook_adds_only_the_follow_up_check_and_history(client, source):
    deliver(client, *source, LEAD)

    with statements() as sent:
        response = deliver(client, *source, {**LEAD, "message": "Any news?"})

    assert response.status_code == 202
    assert response.json()["duplicate_of"] == response.json()["lead_id"]
    # No person created; the earlier submissions (duplicate_of) and the follow-ups to stop are
    # extra. The follow-ups are stopped in a transaction of their own, after the webhook's.
    assert len(sent["data"]) == 7 - 1 + 2, sent["data"]
    assert len(sent["savepoints"]) == 1 * 2, sent["savepoints"]  # creating the run


@pytest.mark.django_db(transaction=True)
def test_a_replayed_delivery_is_answered_from_the_stored_answer(client, source):
    first = deliver(client, *source, LEAD, webhook_id="msg_replayed")

    with statements() as sent:
        replay = deliver(client, *source, LEAD, webhook_id="msg_replayed")

    assert replay.status_code == 202 and replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert Submission.objects.count() == 1 and Lead.objects.count() == 1
    # The person, the refused INSERT, the stored delivery with its answer.
    assert len(sent["data"]) == 3, sent["data"]


@pytest.mark.django_db(transaction=True)
def test_with_a_team_the_owner_in_turn_costs_three_statements(client, source):
    people = [make_reviewer(f"rota{number}") for number in range(2)]
    deliver(client, *source, {**LEAD, "email": "first@northwind.example"})  # reads the setup

    with statements() as sent:
        response = deliver(client, *source, LEAD)

    assert Lead.objects.get(pk=response.json()["lead_id"]).owner_id == people[1].pk
    # The seven, then the rotation's row locked and moved on (its own transaction), and the
    # lead's owner set. The Reviewers are kept with the rules.
    assert len(sent["data"]) == 7 + 3, sent["data"]
