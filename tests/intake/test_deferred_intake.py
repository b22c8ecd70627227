"""WEBHOOK_DEFER: the webhook answers once the delivery is stored; a worker does the rest.

The tests commit as production does (transaction=True): inside a caller's transaction nothing
is deferred.

The worker's message goes through the real broker (django-q2's ORM broker in the tests) and is
run here the way a worker runs it: dequeued, unsigned, called.
"""

import pydoc
import threading

import pytest
from django.db import connection
from django.test import Client

from pipeline import engine
from pipeline.intake.receive import process_submission, start_pending_runs, unanswered
from pipeline.models import Lead, PipelineRun, StepRun, Submission
from tests.factories import make_reviewer
from tests.intake_helpers import deliver, make_source, queued, statements
from tests.races import in_thread, wait_until_blocked

LEAD = {
    "name": "Dana Reyes",
    "email": "dana@northwind.example",
    "company": "Northwind",
    "message": "We need a demo for 40 sales reps next week.",
}
PROCESS = "pipeline.intake.receive.process_submission"


@pytest.fixture(autouse=True)
def deferred(settings):
    settings.WEBHOOK_DEFER = True
    # Rate limits in process memory: the database cache's statements would blur the counts.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


@pytest.fixture
def source():
    return make_source("Website")


def work_off() -> list[tuple[str, tuple]]:
    """Run the waiting intake tasks as a worker does; return the tasks queued besides (the
    runs' steps), taken off the broker too."""
    rest = []
    for function, args in queued():
        if function == PROCESS:
            pydoc.locate(function)(*args)
        else:
            rest.append((function, args))
    return rest + queued()


@pytest.mark.django_db(transaction=True)
def test_a_deferred_webhook_is_stored_in_one_statement_and_answered_before_the_person(
    client, source
):
    deliver(client, *source, {**LEAD, "email": "first@northwind.example"})  # reads the source
    queued()

    with statements() as sent:
        response = deliver(client, *source, LEAD)

    assert response.status_code == 202
    # The view's own time, for a sender to tell it from the queueing around it.
    assert float(response.headers["Server-Timing"].removeprefix("app;dur=")) > 0
    answer = response.json()
    assert answer == {
        "lead_id": None,
        "run_id": None,
        "duplicate_of": None,
        "submission_id": answer["submission_id"],
        "deferred": True,
    }
    # The submission, then the worker's message (the ORM broker's row; on Redis no statement).
    assert len(sent["data"]) == 2, sent["data"]
    assert sent["savepoints"] == []
    submission = Submission.objects.get(pk=answer["submission_id"])
    assert (submission.lead_id, submission.response, submission.email) == (None, {}, LEAD["email"])
    assert submission.raw_payload == LEAD
    assert not Lead.objects.filter(email=LEAD["email"]).exists()
    assert queued() == [(PROCESS, (submission.pk,))]


@pytest.mark.django_db(transaction=True)
def test_the_worker_finds_the_person_starts_the_run_and_gives_the_owner(client, source):
    people = [make_reviewer(f"rota{number}") for number in range(2)]
    answer = deliver(client, *source, LEAD).json()

    steps = work_off()

    submission = Submission.objects.get(pk=answer["submission_id"])
    lead = Lead.objects.get(email=LEAD["email"])
    run = PipelineRun.objects.get(submission=submission)
    assert submission.lead_id == lead.pk
    assert (lead.name, lead.company) == ("Dana Reyes", "Northwind")
    assert lead.owner_id in {person.pk for person in people}
    assert submission.response == {
        "lead_id": lead.pk,
        "run_id": run.pk,
        "duplicate_of": None,
        "submission_id": submission.pk,
    }
    # The run's first steps were handed to the broker once, after the owner was set.
    first_steps = set(
        StepRun.objects.filter(run=run, status=StepRun.Status.QUEUED).values_list("pk", flat=True)
    )
    assert {args[0] for function, args in steps} == first_steps and first_steps
    assert all(function == "pipeline.engine.threads.run_step" for function, _ in steps)


@pytest.mark.django_db(transaction=True)
def test_a_returning_person_joins_their_lead_and_the_answer_says_duplicate_of(client, source):
    first = deliver(client, *source, LEAD).json()
    work_off()
    again = deliver(client, *source, {**LEAD, "message": "Any news?"}).json()
    assert again["deferred"] and again["lead_id"] is None

    work_off()

    lead = Lead.objects.get()
    answer = Submission.objects.get(pk=again["submission_id"]).response
    assert Submission.objects.get(pk=first["submission_id"]).lead_id == lead.pk
    assert (answer["lead_id"], answer["duplicate_of"]) == (lead.pk, lead.pk)
    assert PipelineRun.objects.filter(lead=lead).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_copy_sent_before_the_worker_gets_the_whole_answer_and_the_worker_adds_nothing(
    client, source
):
    first = deliver(client, *source, LEAD, webhook_id="msg_again")

    copy = deliver(client, *source, LEAD, webhook_id="msg_again")
    work_off()
    later = deliver(client, *source, LEAD, webhook_id="msg_again")

    run = PipelineRun.objects.get()
    whole = {
        "lead_id": Lead.objects.get().pk,
        "run_id": run.pk,
        "duplicate_of": None,
        "submission_id": first.json()["submission_id"],
    }
    assert first.json()["deferred"] is True
    assert copy.status_code == later.status_code == 202
    assert copy.json() == later.json() == whole
    assert copy.headers["Idempotent-Replayed"] == "true"
    assert Submission.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_copy_with_another_body_is_refused_409_before_the_worker(client, source):
    deliver(client, *source, LEAD, webhook_id="msg_same")

    response = deliver(client, *source, {**LEAD, "message": "other"}, webhook_id="msg_same")

    assert response.status_code == 409
    assert Lead.objects.count() == 0 and Submission.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_invalid_webhook_is_still_refused_at_once_and_nothing_is_stored(client, source):
    response = deliver(client, *source, {"name": "No way to reach me"})

    assert response.status_code == 400
    assert "an email or a phone number is required" in response.json()["error"]
    assert Submission.objects.count() == 0
    assert queued() == []


@pytest.mark.django_db(transaction=True)
def test_a_lost_message_leaves_the_submission_to_the_sweep(client, source, monkeypatch):
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(engine, "call_later", broker_down)
    answer = deliver(client, *source, LEAD).json()
    assert answer["deferred"] and queued() == []
    monkeypatch.undo()

    assert start_pending_runs(older_than_seconds=0) == 1

    submission = Submission.objects.get(pk=answer["submission_id"])
    assert submission.lead == Lead.objects.get(email=LEAD["email"])
    assert submission.response["run_id"] == PipelineRun.objects.get().pk


@pytest.mark.django_db(transaction=True)
def test_a_submission_erased_before_the_worker_came_is_skipped(client, source):
    answer = deliver(client, *source, LEAD).json()
    Submission.objects.filter(pk=answer["submission_id"]).delete()

    process_submission(answer["submission_id"])

    assert Lead.objects.count() == 0 and PipelineRun.objects.count() == 0


@pytest.mark.django_db  # the test's own transaction is the caller's
def test_inside_a_caller_s_transaction_nothing_is_deferred():
    from django.db import transaction

    from pipeline.intake.receive import receive_submission

    with transaction.atomic():
        receipt = receive_submission(LEAD, channel="webhook", defer=True)

    assert not receipt.is_deferred
    assert receipt.lead_id == Lead.objects.get().pk and receipt.run_id is not None


@pytest.mark.django_db(transaction=True)
def test_the_worker_and_a_copy_at_the_same_instant_start_one_run(source):
    answer = deliver(Client(), *source, LEAD, webhook_id="msg_race").json()
    queued()
    barrier = threading.Barrier(2)
    results, errors = [None, None], []

    def worker():
        barrier.wait()
        process_submission(answer["submission_id"])

    def copy():
        barrier.wait()
        results[1] = deliver(Client(), *source, LEAD, webhook_id="msg_race").json()

    threads = [in_thread(work, errors) for work in (worker, copy)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    run = PipelineRun.objects.get()
    assert Lead.objects.count() == 1
    assert results[1]["run_id"] == run.pk and results[1]["lead_id"] == Lead.objects.get().pk
    # The run's first steps went to the broker once, by whichever of the two started it.
    assert (
        len([task for task in queued() if task[0] != PROCESS])
        == StepRun.objects.filter(run=run, status=StepRun.Status.QUEUED).count()
    )


@pytest.mark.django_db(transaction=True)
def test_a_submission_no_longer_valid_is_closed_with_the_reason_not_retried(client, source):
    # Stored by a version whose rules took this address; today's refuse it.
    broken = Submission.objects.create(channel="webhook", email="not an address")

    assert start_pending_runs(older_than_seconds=0) == 0

    answer = Submission.objects.get(pk=broken.pk).response
    assert answer["run_id"] is None and "not a valid email address" in answer["error"]
    assert not Lead.objects.exists()
    assert unanswered()["count"] == 0  # out of /healthz's waiting count, and of the sweep's


@pytest.mark.django_db(transaction=True)
def test_one_submission_that_fails_does_not_hold_up_the_sweep(client, source, monkeypatch):
    from django.db import OperationalError

    from pipeline.intake import receive

    first = deliver(client, *source, {**LEAD, "email": "boom@northwind.example"}).json()
    second = deliver(client, *source, LEAD).json()
    queued()  # the worker's messages were lost
    real = receive._find_or_create_lead

    def failing(fields):
        if fields.email.startswith("boom"):
            raise OperationalError("server closed the connection unexpectedly")
        return real(fields)

    monkeypatch.setattr(receive, "_find_or_create_lead", failing)

    assert start_pending_runs(older_than_seconds=0) == 1

    assert Submission.objects.get(pk=second["submission_id"]).response["run_id"]
    assert Submission.objects.get(pk=first["submission_id"]).response == {}  # tried again later


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("door", ["person", "lead"])
def test_erasure_before_the_worker_came_leaves_nothing_for_it_to_make(client, source, door):
    from pipeline.erase import erase_leads, erase_person

    known = deliver(client, *source, LEAD).json()
    work_off()
    lead = Lead.objects.get()
    again = deliver(client, *source, {**LEAD, "message": "Please call me"}).json()

    if door == "person":
        erase_person(LEAD["email"].upper(), external_crms=False)
    else:  # the admin's action on the lead
        erase_leads([lead], external_crms=False)
    work_off()  # the worker comes after all

    waiting = Submission.objects.get(pk=again["submission_id"])
    assert (waiting.email, waiting.message, waiting.raw_payload) == ("", "", {})
    assert waiting.lead_id is None and waiting.response["erased"] is True
    assert list(Lead.objects.values_list("pk", "email")) == [(lead.pk, "")]
    assert PipelineRun.objects.filter(submission_id=again["submission_id"]).count() == 0
    assert Submission.objects.get(pk=known["submission_id"]).email == ""
    assert unanswered()["count"] == 0


@pytest.mark.django_db(transaction=True)
def test_erasing_a_person_while_a_worker_makes_them_a_lead_erases_that_lead_too(
    client, source, monkeypatch
):
    from pipeline.erase import erase_person
    from pipeline.intake import receive

    answer = deliver(client, *source, LEAD).json()
    queued()
    made, go = threading.Event(), threading.Event()
    real = receive._find_or_create_lead

    def slow(fields):
        found = real(fields)
        made.set()  # the person is made, not committed: the worker still holds the submission
        go.wait(20)
        return found

    monkeypatch.setattr(receive, "_find_or_create_lead", slow)
    errors = []

    worker = in_thread(lambda: process_submission(answer["submission_id"]), errors)
    worker.start()
    assert made.wait(20)
    eraser = in_thread(lambda: erase_person(LEAD["email"], external_crms=False), errors)
    eraser.start()
    wait_until_blocked()
    go.set()
    for thread in (worker, eraser):
        thread.join(timeout=60)

    assert not errors, errors
    # The worker finished first (the eraser waited for its row); the lead it made was erased.
    lead = Lead.objects.get()
    assert (lead.email, lead.name, lead.company) == ("", "", "")
    assert lead.unsubscribed_at is not None
    submission = Submission.objects.get(pk=answer["submission_id"])
    assert submission.lead_id == lead.pk and (submission.email, submission.message) == ("", "")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("door", ["person", "lead"])
@pytest.mark.parametrize(
    "known, waiting",
    [
        # Another form of the same address: the worker would match it by the normalised one.
        ({"email": "dana.reyes@gmail.com"}, {"email": "danareyes+demo@gmail.com"}),
        # No address at all: the worker would match it by the phone number.
        (
            {"email": "dana@northwind.example", "phone": "+1 415 555 0100"},
            {"email": "", "phone": "+1 (415) 555-0100"},
        ),
    ],
    ids=["address-variant", "phone-only"],
)
def test_erasure_closes_the_waiting_submissions_the_worker_would_make_the_person_of(
    client, source, door, known, waiting
):
    from pipeline.erase import erase_leads, erase_person

    deliver(client, *source, {**LEAD, **known}).json()
    work_off()
    lead = Lead.objects.get()
    again = deliver(client, *source, {**LEAD, **waiting, "message": "Please call me"}).json()
    assert again["deferred"]

    if door == "person":
        erase_person(known["email"], external_crms=False)
    else:
        erase_leads([lead], external_crms=False)
    work_off()

    assert list(Lead.objects.values_list("pk", "email", "phone", "name")) == [(lead.pk, "", "", "")]
    closed = Submission.objects.get(pk=again["submission_id"])
    assert (closed.email, closed.phone, closed.message) == ("", "", "")
    assert closed.lead_id is None and closed.response["erased"] is True


@pytest.mark.django_db(transaction=True)
def test_erasure_leaves_the_waiting_submissions_of_other_people(client, source):
    from pipeline.erase import erase_person

    deliver(client, *source, {**LEAD, "phone": "+1 415 555 0100"}).json()
    work_off()
    # Another address with the same phone is another person to the worker; so is another
    # Gmail user.
    others = [
        deliver(
            client, *source, {**LEAD, "email": f"{who}@gmail.com", "phone": "+14155550100"}
        ).json()["submission_id"]
        for who in ("sam", "danareyes.other")
    ]

    erase_person(LEAD["email"], external_crms=False)

    assert [Submission.objects.get(pk=pk).response for pk in others] == [{}, {}]
    work_off()
    assert Lead.objects.exclude(email="").count() == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: on SQLite the paused erase holds the one write lock the webhook needs",
)
def test_a_submission_made_while_an_erase_is_under_way_never_writes_onto_the_erased_lead(
    client, source, monkeypatch
):
    from pipeline import erase
    from pipeline.intake.receive import process_submission

    deliver(client, *source, {key: value for key, value in LEAD.items() if key != "company"})
    work_off()
    lead = Lead.objects.get()
    paused, go = threading.Event(), threading.Event()
    real_scrub = erase.scrub

    def slow_scrub(value, key=""):
        if not paused.is_set():  # the lead is blanked, the erase's transaction still open
            paused.set()
            go.wait(20)
        return real_scrub(value, key)

    monkeypatch.setattr(erase, "scrub", slow_scrub)
    errors = []
    eraser = in_thread(lambda: erase.erase_leads([lead], external_crms=False), errors)
    eraser.start()
    assert paused.wait(20)
    # The person writes again, with their company, while the erase is under way.
    again = deliver(client, *source, {**LEAD, "message": "Call me again"}).json()
    queued()
    worker = in_thread(lambda: process_submission(again["submission_id"]), errors)
    worker.start()
    wait_until_blocked()  # the worker waits for the erase's lock on the lead
    go.set()
    for thread in (eraser, worker):
        thread.join(timeout=60)

    assert not errors, errors
    lead.refresh_from_db()
    assert (lead.email, lead.name, lead.company) == ("", "", "")
    # The new submission made a new lead of its own, after the erase.
    joined = Submission.objects.get(pk=again["submission_id"])
    assert joined.lead_id != lead.pk
    assert joined.lead.company == "Northwind" and joined.message == "Call me again"
