"""Which step a worker takes next: runs underway before new runs, on the real brokers."""

import uuid

import pytest

from pipeline import engine
from pipeline.dev.cluster import purge_queue, use_queue
from pipeline.engine import hop, queue
from pipeline.models import PipelineRun, StepRun
from tests.engine.test_workers import REDIS_URL, redis_is_reachable
from tests.factories import make_lead
from tests.intake_helpers import queued as taken

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["redis", "orm"])
def broker(request):
    """A queue of this test's own on the given broker, emptied afterwards."""
    if request.param == "redis" and not redis_is_reachable():
        pytest.skip(f"Redis is not reachable at {REDIS_URL} (set REDIS_URL)")
    name = f"order-{uuid.uuid4().hex[:12]}"
    redis_url = REDIS_URL if request.param == "redis" else None
    with use_queue(name, redis_url=redis_url):
        try:
            yield request.param
        finally:
            purge_queue(name, redis_url=redis_url)


def step(run: PipelineRun, name: str) -> int:
    return StepRun.objects.get(run=run, name=name).pk


def test_a_branch_of_a_run_underway_is_taken_before_a_newer_run_starts(broker):
    earlier = engine.start("test-parallel", lead=make_lead(), options={"sleep": 0})
    newer = engine.start("test-parallel", lead=make_lead(), options={"sleep": 0})
    assert [args for _, args in taken()] == [(step(earlier, "first"),), (step(newer, "first"),)]
    queue.enqueue(step(newer, "first"))  # the newer run's first step waits in line

    # A worker runs the earlier run's first step, continues with one branch itself and hands
    # the other to the broker.
    hop.execute(step(earlier, "first"))

    line = [args[0] for _, args in taken()]
    branch = StepRun.objects.get(run=earlier, name__in=["left", "right"], status="queued").pk
    if broker == "redis":
        assert line == [branch, step(newer, "first")]
    else:  # the ORM broker has no front of the line (nor a promised order): both are there
        assert sorted(line) == sorted([branch, step(newer, "first")])


def test_enqueue_goes_to_the_back_of_the_line_and_enqueue_next_to_the_front(broker):
    first, second, third = (
        engine.start("test-parallel", lead=make_lead(), options={"sleep": 0}) for _ in range(3)
    )
    taken()
    queue.enqueue(step(first, "first"))
    queue.enqueue(step(second, "first"))
    queue.enqueue_next(step(third, "first"))

    line = [args[0] for _, args in taken()]
    expected = [step(first, "first"), step(second, "first")]
    if broker == "redis":
        assert line == [step(third, "first"), *expected]
    else:
        assert sorted(line) == sorted([*expected, step(third, "first")])


def test_a_reviewer_s_decision_does_not_wait_behind_new_runs(broker):
    reviewed = engine.start("test-gated", lead=make_lead())
    taken()
    hop.execute(step(reviewed, "draft"))  # the draft, then the gate, which waits for a person
    assert StepRun.objects.get(run=reviewed, name="gate").status == StepRun.Status.WAITING
    newer = engine.start("test-gated", lead=make_lead())  # its first step waits in line

    engine.resume(StepRun.objects.get(run=reviewed, name="gate"), {"approved": True})

    line = [args[0] for _, args in taken()]
    if broker == "redis":
        assert line == [step(reviewed, "send"), step(newer, "draft")]
    else:
        assert sorted(line) == sorted([step(reviewed, "send"), step(newer, "draft")])
