"""The hop's hot path: one query loads a claimed step, one thread keeps every lease, and
PostgreSQL prepares the statements it sees again."""

import threading
import time

import pytest
from django.db import connection

from pipeline import engine
from pipeline.engine import hop, leases, store
from pipeline.engine.registry import get_pipeline
from pipeline.models import StepRun
from tests.factories import make_lead

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_claimed_step_comes_with_its_run_related_rows_and_needs_in_one_query(
    django_assert_num_queries,
):
    lead = make_lead(company="Acme Rockets")
    run = engine.start("test-parallel", lead=lead, dispatch=lambda step_run_id: None)
    StepRun.objects.filter(run=run).update(status=StepRun.Status.SUCCEEDED, output={"ok": 1})
    StepRun.objects.filter(run=run, name="left").update(
        status=StepRun.Status.SKIPPED, output=None, skip_reason="not needed"
    )
    join = StepRun.objects.get(run=run, name="join")
    StepRun.objects.filter(pk=join.pk).update(
        status=StepRun.Status.RUNNING, worker_id="me:1:1", attempt=1
    )
    with django_assert_num_queries(1):
        step_run, need_rows = hop._load(join.pk, "me:1:1")
        # Everything a step reads is there already: no query for the run or the lead.
        assert step_run.run.pk == run.pk and step_run.run.lead.company == "Acme Rockets"
        assert step_run.run.submission is None
        assert step_run.run.options == {} and step_run.run.started_at is not None
    assert step_run.status == StepRun.Status.RUNNING and step_run.attempt == 1
    assert sorted(need_rows, key=lambda row: row["name"]) == [
        {"name": "left", "status": "skipped", "output": None, "skip_reason": "not needed"},
        {"name": "right", "status": "succeeded", "output": {"ok": 1}, "skip_reason": ""},
    ]


def test_a_step_another_worker_holds_or_that_is_gone_is_not_loaded():
    run = engine.start("test-parallel", lead=make_lead(), dispatch=lambda step_run_id: None)
    first = StepRun.objects.get(run=run, name="first")
    StepRun.objects.filter(pk=first.pk).update(status=StepRun.Status.RUNNING, worker_id="other")
    assert hop._load(first.pk, "me:1:1") is None
    assert store.load_claimed(first.pk + 10_000, ("lead",)) is None


def test_one_heartbeat_thread_keeps_the_leases_of_every_step_in_the_process(monkeypatch, settings):
    settings.ENGINE_LEASE_SECONDS = 0.3  # beats every 0.1 s
    extended: list[int] = []
    monkeypatch.setattr(
        leases, "extend_lease", lambda step_run_id, me: extended.append(step_run_id)
    )

    def step(step_run_id: int) -> None:
        with leases.Heartbeat(step_run_id, f"me:1:{step_run_id}"):
            time.sleep(0.5)

    threads = [threading.Thread(target=step, args=(number,)) for number in (1, 2, 3)]
    for thread in threads:
        thread.start()
    time.sleep(0.25)
    beaters = [thread for thread in threading.enumerate() if thread.name == "lease-heartbeat"]
    for thread in threads:
        thread.join()
    assert len(beaters) == 1
    assert all(extended.count(number) >= 3 for number in (1, 2, 3))
    # Finished steps are not extended any more.
    count = len(extended)
    time.sleep(0.3)
    assert len(extended) == count


def test_postgresql_prepares_a_statement_it_sees_again():
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    run = engine.start("test-parallel", lead=make_lead(), dispatch=lambda step_run_id: None)
    first = StepRun.objects.get(run=run, name="first")
    for _ in range(3):
        store.load_claimed(first.pk, ("lead",))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%LEFT JOIN%WHERE s.%run_id%"],
        )
        assert cursor.fetchone()[0] == 1


def test_every_run_start_on_postgresql_sends_one_insert_of_the_same_text_that_is_prepared():
    """The steps go in as arrays: the statement is the same for any number of steps, small
    enough for psycopg to keep converted, and PostgreSQL prepares it."""
    if connection.vendor != "postgresql":
        pytest.skip("unnest and prepared statements are PostgreSQL's")
    from psycopg._queries import MAX_CACHED_STATEMENT_PARAMS

    inserts: list[tuple[str, int]] = []

    def record(execute, sql, params, many, context):
        if sql.startswith(f'INSERT INTO "{StepRun._meta.db_table}"'):
            inserts.append((sql, len(params)))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        for name in ("test-parallel", "test-flaky", "test-parallel"):
            engine.start(name, lead=make_lead(), dispatch=lambda step_run_id: None)
    assert StepRun.objects.filter(run__pipeline_name="test-parallel").count() == 2 * 4
    other = len(get_pipeline("test-flaky").steps)
    assert other != 4 and StepRun.objects.filter(run__pipeline_name="test-flaky").count() == other
    assert len(inserts) == 3
    assert len({sql for sql, _ in inserts}) == 1
    assert all(count <= MAX_CACHED_STATEMENT_PARAMS for _, count in inserts)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%FROM unnest(%"],
        )
        assert cursor.fetchone()[0] == 1
