"""What one webhook costs the database: the statements it sends, pinned so a regression fails.

Counted with a wrapper on the connection (every statement the ORM or our own SQL sends). The
rate limit counts in process memory here, as it does on Redis, so the database cache's statements
do not blur the figures. A test runs inside its own transaction, so the webhook's transaction
shows as a SAVEPOINT ... RELEASE pair (in production BEGIN ... COMMIT), counted apart.
"""

import contextlib

import pytest
from django.db import connection

from pipeline.models import Lead, PipelineRun, StepRun, Submission
from tests.intake_helpers import deliver, make_source

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


@contextlib.contextmanager
def statements():
    """The statements sent meanwhile: {"data": [...], "savepoints": [...]}."""
    sent: dict[str, list[str]] = {"data": [], "savepoints": []}

    def record(execute, sql, params, many, context):
        sent["savepoints" if "SAVEPOINT" in sql.upper() else "data"].append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield sent


@pytest.mark.django_db
def test_a_new_person_s_webhook_costs_nine_statements_in_one_transaction(client, source):
    with statements() as sent:
        response = deliver(client, *source, LEAD)

    assert response.status_code == 202
    answer = response.json()
    assert PipelineRun.objects.get(pk=answer["run_id"]).submission_id == answer["submission_id"]
    assert StepRun.objects.filter(run_id=answer["run_id"]).count() == 8
    # The source; the person (looked up, then created); the submission; the run and its eight
    # steps (one INSERT); the answer; the owner rule and the Reviewers to share leads among.
    assert len(sent["data"]) == 9, sent["data"]
    # One transaction (a savepoint inside the test's), with one savepoint for creating the
    # person and one for creating the run: each pair is SAVEPOINT and RELEASE.
    assert len(sent["savepoints"]) == 3 * 2, sent["savepoints"]


@pytest.mark.django_db
def test_a_returning_person_s_webhook_adds_only_the_follow_up_check_and_history(client, source):
    deliver(client, *source, LEAD)

    with statements() as sent:
        response = deliver(client, *source, {**LEAD, "message": "Any news?"})

    assert response.status_code == 202
    assert response.json()["duplicate_of"] == response.json()["lead_id"]
    # No person created; the earlier submissions (duplicate_of) and the follow-ups to stop are
    # extra. The follow-ups are stopped in a transaction of their own, after the webhook's.
    assert len(sent["data"]) == 9 - 1 + 2, sent["data"]
    assert len(sent["savepoints"]) == 3 * 2, sent["savepoints"]


@pytest.mark.django_db
def test_a_replayed_delivery_is_answered_from_the_stored_answer(client, source):
    first = deliver(client, *source, LEAD, webhook_id="msg_replayed")

    with statements() as sent:
        replay = deliver(client, *source, LEAD, webhook_id="msg_replayed")

    assert replay.status_code == 202 and replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert Submission.objects.count() == 1 and Lead.objects.count() == 1
    # The source, the person, the refused INSERT, the stored delivery with its answer.
    assert len(sent["data"]) == 4, sent["data"]
