"""The engine's guarantees, run inline (same claiming and storing code as the workers)."""

import time

import pytest
from django.db import OperationalError, connection

from pipeline import engine
from pipeline.dev.models import StepExecution
from pipeline.engine import Pipeline, PipelineDefinitionError, Retry, Step, hop, leases, local
from pipeline.models import PipelineRun, StepRun
from tests.factories import make_lead

pytestmark = pytest.mark.django_db(transaction=True)


def steps_of(run: PipelineRun) -> dict[str, StepRun]:
    return {step_run.name: step_run for step_run in run.steps.all()}


def executions(run: PipelineRun) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in StepExecution.objects.filter(step_run__run=run).values_list(
        "step_run__name", flat=True
    ):
        counts[name] = counts.get(name, 0) + 1
    return counts


def noop(context):
    return None


def test_unknown_needs_are_refused_at_declaration():
    with pytest.raises(PipelineDefinitionError, match="needs unknown step"):
        Pipeline("bad", 1, (Step("a", run=noop, needs=("missing",)),))


def test_cycles_are_refused_at_declaration():
    with pytest.raises(PipelineDefinitionError, match="cycle"):
        Pipeline("bad", 1, (Step("a", run=noop, needs=("b",)), Step("b", run=noop, needs=("a",))))


def test_duplicate_step_names_are_refused():
    with pytest.raises(PipelineDefinitionError, match="declared twice"):
        Pipeline("bad", 1, (Step("a", run=noop), Step("a", run=noop)))


def test_backoff_grows_exponentially_within_its_cap():
    policy = Retry(attempts=5, backoff_seconds=1, max_backoff_seconds=3, jitter=0)
    assert [policy.delay(attempt) for attempt in (1, 2, 3, 4)] == [1, 2, 3, 3]


def test_independent_steps_run_in_parallel():
    run = engine.run_inline("test-parallel", lead=make_lead(), options={"sleep": 0.3})
    assert run.status == PipelineRun.Status.SUCCEEDED
    steps = steps_of(run)
    left, right = steps["left"], steps["right"]
    assert left.started_at < right.finished_at and right.started_at < left.finished_at
    assert steps["join"].started_at >= max(left.finished_at, right.finished_at)
    assert steps["join"].output == {"step": "join", "needs": ["left", "right"]}


def test_a_run_records_its_pipeline_name_and_version():
    run = engine.run_inline("test-diamond", lead=make_lead())
    assert (run.pipeline_name, run.pipeline_version) == ("test-diamond", 1)
    assert executions(run) == dict.fromkeys(
        ["classify", "enrich", "score_form", "score_final", "crm", "draft", "send"], 1
    )


def test_the_fan_in_step_starts_exactly_once():
    run = engine.run_inline("test-diamond", lead=make_lead())
    assert executions(run)["score_final"] == 1
    assert steps_of(run)["score_final"].status == StepRun.Status.SUCCEEDED


def test_a_gate_waits_and_resume_continues_the_run():
    run = engine.run_inline("test-gated", lead=make_lead())
    assert run.status == PipelineRun.Status.WAITING
    gate = steps_of(run)["gate"]
    assert gate.status == StepRun.Status.WAITING and gate.wait_reason == "review"
    outcome = engine.continue_inline(
        lambda dispatch: engine.resume(gate, {"ok": 1}, dispatch=dispatch)
    )
    assert outcome.changed
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.SUCCEEDED
    assert steps_of(run)["send"].output == {"approved": {"ok": 1}}


def test_resuming_twice_is_a_no_op_that_says_so():
    run = engine.run_inline("test-gated", lead=make_lead())
    gate = steps_of(run)["gate"]
    engine.continue_inline(lambda dispatch: engine.resume(gate, {"ok": 1}, dispatch=dispatch))
    second = engine.continue_inline(
        lambda dispatch: engine.resume(gate, {"ok": 2}, dispatch=dispatch)
    )
    assert not second.changed and "not waiting" in second.message
    assert executions(run)["send"] == 1
    assert steps_of(run)["gate"].output == {"ok": 1}


def test_reject_ends_the_run_as_rejected_and_twice_is_a_no_op():
    run = engine.run_inline("test-gated", lead=make_lead())
    gate = steps_of(run)["gate"]
    assert engine.reject(gate, "off-topic").changed
    assert not engine.reject(gate, "again").changed
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.REJECTED
    assert steps_of(run)["send"].status == StepRun.Status.SKIPPED
    assert "send" not in executions(run)


def test_a_flaky_step_is_retried_until_it_succeeds():
    run = engine.run_inline("test-flaky", lead=make_lead())
    assert run.status == PipelineRun.Status.SUCCEEDED
    flaky = steps_of(run)["flaky"]
    assert flaky.attempt == 3 and flaky.output == {"attempt": 3}
    assert executions(run) == {"flaky": 3, "after": 1}


def test_a_step_out_of_attempts_fails_the_run_with_a_clear_error():
    run = engine.run_inline("test-exhausted", lead=make_lead())
    assert run.status == PipelineRun.Status.FAILED
    assert run.error == "doomed failed after 2 attempt(s): ValueError: this step never works"
    steps = steps_of(run)
    assert steps["doomed"].traceback.strip().endswith("ValueError: this step never works")
    assert steps["never"].status == StepRun.Status.PENDING


def test_an_error_marked_not_retryable_fails_at_once():
    run = engine.run_inline("test-permanent", lead=make_lead())
    assert run.status == PipelineRun.Status.FAILED
    assert executions(run) == {"refused": 1}


def test_retry_reruns_the_failed_step_and_continues(tmp_path):
    fixed_file = tmp_path / "fixed"
    run = engine.run_inline(
        "test-exhausted", lead=make_lead(), options={"fixed_file": str(fixed_file)}
    )
    assert run.status == PipelineRun.Status.FAILED
    fixed_file.write_text("the outage is over")
    outcome = engine.continue_inline(lambda dispatch: engine.retry(run, dispatch=dispatch))
    assert outcome.changed
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.SUCCEEDED
    assert steps_of(run)["never"].status == StepRun.Status.SUCCEEDED


def test_retry_of_a_run_that_did_not_fail_is_refused():
    run = engine.run_inline("test-diamond", lead=make_lead())
    outcome = engine.retry(run)
    assert not outcome.changed and "not failed" in outcome.message


def test_a_skipped_step_counts_as_done_and_records_why():
    run = engine.run_inline("test-conditional", lead=make_lead())
    steps = steps_of(run)
    assert steps["optional"].status == StepRun.Status.SKIPPED
    assert steps["optional"].skip_reason == "not wanted for this lead"
    assert steps["last"].status == StepRun.Status.SUCCEEDED
    assert run.status == PipelineRun.Status.SUCCEEDED


def test_the_condition_runs_the_step_when_it_applies():
    run = engine.run_inline("test-conditional", lead=make_lead(), options={"want_optional": True})
    assert steps_of(run)["optional"].status == StepRun.Status.SUCCEEDED


def test_rerun_from_resets_downstream_but_side_effects_do_not_repeat(tmp_path):
    effects = tmp_path / "effects.txt"
    run = engine.run_inline(
        "test-effects", lead=make_lead(), options={"effects_file": str(effects)}
    )
    assert run.status == PipelineRun.Status.SUCCEEDED
    outcome = engine.continue_inline(
        lambda dispatch: engine.rerun_from(run, "prepare", dispatch=dispatch)
    )
    assert outcome.changed
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.SUCCEEDED
    assert executions(run) == {"prepare": 2, "effect": 2, "after": 2}
    assert effects.read_text().splitlines() == [str(run.pk)]


def test_rerun_from_an_unknown_step_is_an_error():
    run = engine.run_inline("test-diamond", lead=make_lead())
    with pytest.raises(engine.EngineError, match="no step 'nope'"):
        engine.rerun_from(run, "nope")


def test_a_second_delivery_of_the_same_step_does_nothing():
    run = engine.run_inline("test-diamond", lead=make_lead())
    classify = steps_of(run)["classify"]
    engine.execute(classify.pk, dispatch=lambda step_run_id: None)
    assert executions(run)["classify"] == 1


def test_a_new_run_has_its_roots_queued_and_every_other_column_at_its_default():
    dispatched: list[int] = []
    run = engine.start("test-diamond", lead=make_lead(), dispatch=dispatched.append)
    steps = steps_of(run)
    # The roots (steps that need nothing) are queued and handed to the broker, the rest wait.
    assert dispatched == [steps["classify"].pk]
    assert steps["classify"].status == StepRun.Status.QUEUED
    assert steps["classify"].ready_at == steps["classify"].queued_at == run.started_at
    set_by_start = {"id", "run", "name", "status", "ready_at", "queued_at"}
    for name, step_run in steps.items():
        if name != "classify":
            assert (step_run.status, step_run.ready_at, step_run.queued_at) == (
                StepRun.Status.PENDING,
                None,
                None,
            )
        for field in StepRun._meta.concrete_fields:
            if field.name not in set_by_start:
                assert getattr(step_run, field.attname) == field.get_default(), (name, field.name)


def test_the_sweeper_requeues_a_step_whose_lease_expired():
    lead = make_lead()
    dispatched: list[int] = []
    run = engine.start("test-diamond", lead=lead, dispatch=dispatched.append)
    first = steps_of(run)["classify"]
    # A worker claimed it and died: running, lease in the past.
    from datetime import timedelta

    from django.utils import timezone

    StepRun.objects.filter(pk=first.pk).update(
        status=StepRun.Status.RUNNING,
        attempt=1,
        worker_id="dead:1:1",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    swept: list[int] = []
    counts = engine.sweep(dispatch=swept.append)
    assert counts["expired"] == 1 and swept == [first.pk]
    first.refresh_from_db()
    assert first.status == StepRun.Status.QUEUED
    assert "lease expired" in first.error


def test_the_sweeper_fails_a_step_that_lost_its_worker_too_often():
    lead = make_lead()
    run = engine.start("test-diamond", lead=lead, dispatch=lambda step_run_id: None)
    from datetime import timedelta

    from django.utils import timezone

    StepRun.objects.filter(run=run, name="classify").update(
        status=StepRun.Status.RUNNING,
        attempt=3,
        worker_id="dead:1:1",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    counts = engine.sweep(dispatch=lambda step_run_id: None)
    assert counts["failed"] == 1
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.FAILED
    assert "lost its worker on each of 3 attempt(s)" in run.error


def test_the_sweeper_redelivers_a_queued_step_whose_message_was_lost(settings):
    settings.ENGINE_QUEUED_STALE_SECONDS = 5
    lead = make_lead()
    run = engine.start("test-diamond", lead=lead, dispatch=lambda step_run_id: None)
    from datetime import timedelta

    from django.utils import timezone

    StepRun.objects.filter(run=run, name="classify").update(
        queued_at=timezone.now() - timedelta(seconds=60)
    )
    swept: list[int] = []
    assert engine.sweep(dispatch=swept.append)["lost"] == 1
    assert swept == [steps_of(run)["classify"].pk]


def test_enqueue_reuses_one_broker_per_process(monkeypatch):
    from django_q import brokers
    from django_q.models import OrmQ

    made = []
    real_get_broker = brokers.get_broker
    monkeypatch.setattr(
        brokers, "get_broker", lambda *args: made.append(1) or real_get_broker(*args)
    )
    monkeypatch.setattr(local, "_built", {})
    for step_run_id in (1, 2, 3):
        engine.enqueue(step_run_id)
    assert len(made) == 1
    assert OrmQ.objects.count() == 3


def test_a_step_continued_by_the_same_worker_costs_few_queries(
    monkeypatch, django_assert_max_num_queries
):
    # The successor is claimed in the transaction that records its need, then loaded together
    # with the outputs it needs. A hop is BEGIN, lock the run, finish the step, read the run's
    # step states, claim the successor, COMMIT, load it (plus the step's own INSERT); on
    # PostgreSQL the finish and the states read are one statement. A 4-step chain in one worker:
    # 29 queries on PostgreSQL, 33 on SQLite.
    monkeypatch.setitem(leases._last_beat, "at", time.monotonic())
    run = engine.start("test-chain", lead=make_lead(), dispatch=lambda step_run_id: None)
    first = steps_of(run)["one"]
    with django_assert_max_num_queries(29 if connection.vendor == "postgresql" else 33):
        engine.execute(first.pk, dispatch=lambda step_run_id: None)
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.SUCCEEDED
    assert executions(run) == {"one": 1, "two": 1, "three": 1, "four": 1}
    assert steps_of(run)["four"].output == {"step": "four", "needs": ["three"]}


def test_a_step_not_yet_due_is_not_claimed_until_its_backoff_ends():
    from datetime import timedelta

    from django.utils import timezone

    run = engine.start("test-chain", lead=make_lead(), dispatch=lambda step_run_id: None)
    first = steps_of(run)["one"]
    StepRun.objects.filter(pk=first.pk).update(not_before=timezone.now() + timedelta(minutes=1))
    engine.execute(first.pk, dispatch=lambda step_run_id: None)
    first.refresh_from_db()
    assert first.status == StepRun.Status.QUEUED and first.attempt == 0
    assert executions(run) == {}
    StepRun.objects.filter(pk=first.pk).update(not_before=timezone.now() - timedelta(seconds=1))
    engine.execute(first.pk, dispatch=lambda step_run_id: None)
    assert executions(run) == {"one": 1, "two": 1, "three": 1, "four": 1}
    assert steps_of(run)["one"].attempt == 1


def test_a_worker_whose_step_was_taken_over_discards_its_result():
    run = engine.start("test-chain", lead=make_lead(), dispatch=lambda step_run_id: None)
    first = steps_of(run)["one"]
    step_run, need_rows = hop._claim(first.pk, "slow:1:1")
    assert step_run.status == StepRun.Status.RUNNING and step_run.attempt == 1
    # Its lease ran out; the sweeper requeued the step and another worker claimed it.
    StepRun.objects.filter(pk=first.pk).update(worker_id="other:1:1", attempt=2)
    dispatched: list[int] = []
    assert hop._execute_one(step_run, need_rows, "slow:1:1", dispatched.append) is None
    steps = steps_of(run)
    assert steps["one"].status == StepRun.Status.RUNNING
    assert steps["one"].worker_id == "other:1:1" and steps["one"].output is None
    assert steps["two"].status == StepRun.Status.PENDING and dispatched == []
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.RUNNING


def test_a_worker_continues_with_the_successor_that_has_the_longest_way_to_go():
    dispatched: list[int] = []
    run = engine.start("test-diamond", lead=make_lead(), dispatch=dispatched.append)
    done = 0
    while done < len(dispatched):
        engine.execute(dispatched[done], dispatch=dispatched.append)
        done += 1
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.SUCCEEDED
    names = dict(StepRun.objects.filter(run=run).values_list("pk", "name"))
    # After score_final, draft (then send) stays with the worker; crm goes to the queue.
    assert [names[step_run_id] for step_run_id in dispatched] == ["classify", "score_form", "crm"]


def test_a_heartbeat_that_fails_once_keeps_beating(monkeypatch, settings):
    import time

    settings.ENGINE_LEASE_SECONDS = 0.3  # beats every 0.1 s
    calls: list[int] = []

    def flaky_extend(step_run_id, me):
        calls.append(step_run_id)
        if len(calls) == 1:
            raise OperationalError("database is locked")
        return True

    monkeypatch.setattr(leases, "extend_lease", flaky_extend)
    with leases.Heartbeat(7, "me"):
        time.sleep(0.6)
    assert len(calls) >= 3 and set(calls) == {7}


def test_an_unregistered_pipeline_name_is_an_error_and_imports_nothing():
    import sys

    assert "this_module_does_not_exist" not in sys.modules
    with pytest.raises(PipelineDefinitionError, match="no pipeline called"):
        engine.start("this_module_does_not_exist:PIPELINE", lead=make_lead())
    with pytest.raises(PipelineDefinitionError, match="no pipeline called"):
        engine.get_pipeline("tests.engine_pipelines:CHAIN")
    assert not PipelineRun.objects.exists()


def test_a_second_pipeline_under_a_taken_name_is_refused():
    with pytest.raises(PipelineDefinitionError, match="already registered"):
        engine.register(Pipeline("test-chain", 1, (Step("a", run=noop),)))
    assert engine.get_pipeline("test-chain").step("one")


def test_a_step_failing_on_a_dead_connection_is_recorded_on_a_fresh_one():
    run = engine.run_inline("test-dead-connection", lead=make_lead())
    assert run.status == PipelineRun.Status.SUCCEEDED, run.error
    fragile = steps_of(run)["fragile"]
    assert fragile.attempt == 2 and fragile.output == {"attempt": 2}
    assert executions(run) == {"fragile": 2}
