"""The engine's guarantees with real django-q2 clusters: crash recovery, exactly-once, fan-in,
durable timers.

Each test starts `manage.py qcluster` children on the test database and a queue of its own,
and stops them (their whole process groups) in the fixture's teardown, whatever happens.
"""

import os
import signal
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings

from pipeline import engine
from pipeline.dev.cluster import Cluster, database_url, purge_queue, use_queue
from pipeline.dev.models import StepExecution
from pipeline.models import PipelineRun, StepRun
from tests.factories import make_lead

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/9"
IS_POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
requires_postgres = pytest.mark.skipif(
    not IS_POSTGRES,
    reason="needs PostgreSQL (DATABASE_URL=postgres://...): several clusters on one database",
)


def redis_is_reachable() -> bool:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


@pytest.fixture(params=["orm", "redis"])
def broker(request) -> str:
    if request.param == "redis" and not redis_is_reachable():
        pytest.skip(f"Redis is not reachable at {REDIS_URL} (set REDIS_URL)")
    return request.param


@pytest.fixture
def clusters(broker, tmp_path):
    """start(workers=2, **env) -> Cluster: a real cluster on the test database and a fresh queue."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    redis_url = REDIS_URL if broker == "redis" else None
    started: list[Cluster] = []

    def start(workers: int = 2, **env: str) -> Cluster:
        cluster = Cluster(
            {
                "Q_NAME": queue,
                "Q_BROKER": broker,
                "Q_WORKERS": str(workers),
                "DATABASE_URL": database_url(),
                "LOG_LEVEL": "warning",
                "ENGINE_PIPELINE_MODULES": "tests.engine_pipelines",
                **({"REDIS_URL": redis_url} if redis_url else {}),
                **env,
            },
            log_path=tmp_path / f"cluster-{len(started)}.log",
        )
        started.append(cluster)
        return cluster.start()

    with use_queue(queue, redis_url=redis_url):
        try:
            yield start
        finally:
            for cluster in started:
                cluster.stop(grace_seconds=3)
            purge_queue(queue, redis_url=redis_url)


def wait_until(condition, *, timeout: float, what: str, clusters=(), interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    logs = "\n".join(f"--- {cluster.log_path}:\n{cluster.log()[-2000:]}" for cluster in clusters)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}\n{logs}")


def finished(run_ids) -> bool:
    return (
        not PipelineRun.objects.filter(pk__in=run_ids)
        .exclude(status__in=PipelineRun.FINISHED)
        .exists()
    )


def executions_by_step(run: PipelineRun) -> dict[str, int]:
    return dict(
        Counter(
            StepExecution.objects.filter(step_run__run=run).values_list("step_run__name", flat=True)
        )
    )


def worker_pid(step_execution: StepExecution) -> int:
    return int(step_execution.worker.split(":")[1])


def warm_up(started: list[Cluster], *, timeout: float = 90) -> None:
    """Start short runs until a worker of every cluster has executed a step."""

    def all_working() -> bool:
        pids = {worker_pid(execution) for execution in StepExecution.objects.all()}
        return all(pids & set(cluster.pids()) for cluster in started)

    deadline = time.monotonic() + timeout
    while not all_working():
        if time.monotonic() > deadline:
            pytest.fail(f"not every cluster took work within {timeout:g} s")
        engine.start("test-parallel", lead=make_lead(), options={"sleep": 0})
        time.sleep(0.5)


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child stays a zombie until its parent reaps it; it no longer runs.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_worker_killed_mid_step_is_recovered_and_side_effects_do_not_repeat(clusters, tmp_path):
    cluster = clusters(workers=2, ENGINE_LEASE_SECONDS="5")
    effects, started = tmp_path / "effects.txt", tmp_path / "started"
    run = engine.start(
        "test-crash",
        lead=make_lead(),
        options={"effects_file": str(effects), "started_file": str(started), "sleep": 60},
    )
    wait_until(started.exists, timeout=30, what="the slow step to start", clusters=[cluster])
    victim = int(started.read_text())
    assert victim in cluster.pids()

    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: not is_alive(victim), timeout=5, what="the worker to die")
    slow = StepRun.objects.get(run=run, name="slow")
    assert (slow.status, slow.attempt) == (StepRun.Status.RUNNING, 1)
    assert effects.read_text().splitlines() == [str(run.pk)]

    # Nothing extends the dead worker's lease; once it runs out the sweeper re-enqueues the step
    # and a worker the sentinel started in its place runs it.
    swept = Counter()

    def recovered() -> bool:
        swept.update(engine.sweep())
        return finished([run.pk])

    wait_until(recovered, timeout=20, what="the run to recover", clusters=[cluster], interval=0.5)
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.SUCCEEDED, run.error
    assert swept["expired"] == 1
    assert executions_by_step(run) == {"effect": 1, "slow": 2, "after": 1}
    assert effects.read_text().splitlines() == [str(run.pk)]
    slow.refresh_from_db()
    assert slow.attempt == 2
    first, second = StepExecution.objects.filter(step_run=slow).order_by("pk")
    assert worker_pid(first) == victim
    assert worker_pid(second) != victim and worker_pid(second) in cluster.pids()


@requires_postgres
@pytest.mark.postgres
def test_two_clusters_on_one_database_run_every_step_exactly_once(clusters):
    first, second = clusters(workers=3), clusters(workers=3)

    def deliver_twice(step_run_id: int) -> None:
        # An at-least-once broker may deliver a message twice; both copies race to claim.
        engine.enqueue(step_run_id)
        engine.enqueue(step_run_id)

    runs = [
        engine.start("test-diamond", lead=make_lead(), dispatch=deliver_twice) for _ in range(50)
    ]
    run_ids = [run.pk for run in runs]
    wait_until(
        lambda: finished(run_ids), timeout=60, what="50 runs to finish", clusters=[first, second]
    )

    assert set(PipelineRun.objects.filter(pk__in=run_ids).values_list("status", flat=True)) == {
        PipelineRun.Status.SUCCEEDED
    }
    step_runs = StepRun.objects.filter(run_id__in=run_ids)
    assert step_runs.count() == 50 * 7
    assert set(step_runs.values_list("status", flat=True)) == {StepRun.Status.SUCCEEDED}
    per_step = Counter(
        StepExecution.objects.filter(step_run__run_id__in=run_ids).values_list(
            "step_run_id", flat=True
        )
    )
    assert len(per_step) == 50 * 7 and set(per_step.values()) == {1}
    workers = {
        worker_pid(execution)
        for execution in StepExecution.objects.filter(step_run__run_id__in=run_ids)
    }
    assert workers & set(first.pids()) and workers & set(second.pids())


@requires_postgres
@pytest.mark.postgres
def test_parallel_steps_finishing_together_start_their_join_exactly_once(clusters):
    first, second = clusters(workers=4), clusters(workers=4)
    # Both clusters must be taking work before a wave is timed, or a slow start (a loaded
    # machine takes many seconds to fork and import) releases the branches before anyone runs them.
    warm_up([first, second])
    run_ids: list[int] = []
    # Waves of four runs: eight branch steps, one per worker across both clusters, all woken at
    # the same instant, so both branches of a run finish together and race to start the join.
    for _ in range(3):
        release_at = time.time() + 1.5
        wave = [
            engine.start("test-fan-in", lead=make_lead(), options={"release_at": release_at}).pk
            for _ in range(4)
        ]
        run_ids += wave
        wait_until(
            lambda wave=wave: finished(wave),
            timeout=60,
            what="a wave of fan-in runs",
            clusters=[first, second],
        )

    together = 0
    for run in PipelineRun.objects.filter(pk__in=run_ids):
        assert run.status == PipelineRun.Status.SUCCEEDED, run.error
        assert executions_by_step(run) == {"first": 1, "left": 1, "right": 1, "join": 1}
        steps = {step.name: step for step in run.steps.all()}
        gap = abs(steps["left"].finished_at - steps["right"].finished_at).total_seconds()
        together += gap < 0.05
        print(f"run {run.pk}: left and right finished {gap * 1000:.1f} ms apart")
        assert steps["join"].started_at >= max(
            steps["left"].finished_at, steps["right"].finished_at
        )
    # The race must actually have happened for the test to prove anything.
    assert together >= len(run_ids) // 2


@pytest.mark.parametrize("broker", ["orm"], indirect=True)
def test_a_step_longer_than_its_lease_keeps_it_by_heartbeat(clusters, tmp_path):
    cluster = clusters(workers=2, ENGINE_LEASE_SECONDS="5")
    started = tmp_path / "started"
    run = engine.start(
        "test-crash",
        lead=make_lead(),
        options={
            "effects_file": str(tmp_path / "effects.txt"),
            "started_file": str(started),
            "sleep": 8,  # longer than the 5 s lease: only heartbeats keep the step its own
        },
    )
    wait_until(started.exists, timeout=30, what="the slow step to start", clusters=[cluster])
    swept = Counter()

    def done() -> bool:
        swept.update(engine.sweep())
        return finished([run.pk])

    wait_until(done, timeout=20, what="the run to finish", clusters=[cluster], interval=0.5)
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.SUCCEEDED, run.error
    assert swept["expired"] == 0
    assert executions_by_step(run) == {"effect": 1, "slow": 1, "after": 1}
    slow = StepRun.objects.get(run=run, name="slow")
    assert slow.attempt == 1 and slow.duration_ms >= 8000


STOP_GRACE_SECONDS = 3.0
IDLE_EXIT_SECONDS = 15.0


@pytest.mark.parametrize("broker", ["orm"], indirect=True)
def test_a_cluster_stopped_mid_step_is_gone_within_its_grace_and_loses_nothing(clusters, tmp_path):
    cluster = clusters(workers=2, ENGINE_LEASE_SECONDS="5")
    effects, started = tmp_path / "effects.txt", tmp_path / "started"
    run = engine.start(
        "test-crash",
        lead=make_lead(),
        options={"effects_file": str(effects), "started_file": str(started), "sleep": 60},
    )
    wait_until(started.exists, timeout=30, what="the slow step to start", clusters=[cluster])

    # The deploy recipe (README, Stopping workers): SIGTERM to the main process, SIGKILL to the
    # process group once the grace period is over.
    began = time.monotonic()
    cluster.stop(grace_seconds=STOP_GRACE_SECONDS)
    assert time.monotonic() - began < STOP_GRACE_SECONDS + 2
    assert not cluster.pids()
    slow = StepRun.objects.get(run=run, name="slow")
    assert (slow.status, slow.attempt) == (StepRun.Status.RUNNING, 1)

    # The next cluster (the deploy's new one) re-runs the step cut short once its lease is over.
    replacement = clusters(workers=2, ENGINE_LEASE_SECONDS="5")

    def recovered() -> bool:
        engine.sweep()
        return finished([run.pk])

    wait_until(recovered, timeout=30, what="the run to recover", clusters=[replacement])
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.SUCCEEDED, run.error
    assert executions_by_step(run) == {"effect": 1, "slow": 2, "after": 1}
    assert effects.read_text().splitlines() == [str(run.pk)]


@pytest.mark.parametrize("broker", ["orm"], indirect=True)
def test_a_cluster_with_no_step_running_exits_on_sigterm_alone(clusters):
    cluster = clusters(workers=2)
    run = engine.start("test-parallel", lead=make_lead(), options={"sleep": 0.1})
    wait_until(lambda: finished([run.pk]), timeout=60, what="the run", clusters=[cluster])

    # No SIGKILL here: SIGTERM to the main process alone ends every process of an idle cluster.
    began = time.monotonic()
    os.kill(cluster.pid, signal.SIGTERM)
    # Nothing escalates to SIGKILL here, so any exit is SIGTERM's doing; the bound is generous
    # because a loaded CI machine takes seconds to schedule eight exiting processes.
    wait_until(
        lambda: cluster.process.poll() is not None and not cluster.pids(),
        timeout=IDLE_EXIT_SECONDS,
        what="the idle cluster to exit on SIGTERM",
        clusters=[cluster],
    )
    assert time.monotonic() - began < IDLE_EXIT_SECONDS
    assert cluster.process.returncode == 0


# --- Durable timers ---------------------------------------------------------------------------

# The sweep runs from django-q2's scheduler, which looks for due schedules every 30 s.
WAKE_TIMEOUT = 120


def timer_waiting(run_id: int) -> bool:
    return StepRun.objects.filter(
        run_id=run_id, name="wait", status=StepRun.Status.WAITING
    ).exists()


@pytest.mark.parametrize("broker", ["orm"], indirect=True)
def test_a_cluster_killed_before_the_due_time_loses_nothing_and_the_next_one_wakes_it(clusters):
    cluster = clusters(workers=1)
    wake_at = datetime.now(UTC) + timedelta(seconds=40)
    run = engine.start("test-timer", lead=make_lead(), options={"wake_at": wake_at.isoformat()})
    wait_until(lambda: timer_waiting(run.pk), timeout=35, what="the timer", clusters=[cluster])

    cluster.stop(grace_seconds=0)  # SIGKILL after SIGTERM: a crash, as far as the run knows
    time.sleep(max(0.0, (wake_at - datetime.now(UTC)).total_seconds()) + 1)
    assert timer_waiting(run.pk), "nothing may wake the timer while no cluster runs"

    restarted = clusters(workers=1)
    wait_until(
        lambda: finished([run.pk]), timeout=WAKE_TIMEOUT, what="the woken run", clusters=[restarted]
    )

    run.refresh_from_db()
    assert run.status == PipelineRun.Status.SUCCEEDED
    assert executions_by_step(run) == {"first": 1, "after": 1}
    woke_at = datetime.fromisoformat(run.steps.get(name="wait").output["woke_at"])
    assert woke_at >= wake_at


@requires_postgres
@pytest.mark.postgres
def test_two_clusters_wake_each_timer_exactly_once(clusters):
    first, second = clusters(workers=2), clusters(workers=2)
    wake_at = datetime.now(UTC) + timedelta(seconds=5)
    run_ids = [
        engine.start("test-timer", lead=make_lead(), options={"wake_at": wake_at.isoformat()}).pk
        for _ in range(10)
    ]

    wait_until(
        lambda: finished(run_ids),
        timeout=WAKE_TIMEOUT,
        what="10 timer runs",
        clusters=[first, second],
    )

    for run in PipelineRun.objects.filter(pk__in=run_ids):
        assert run.status == PipelineRun.Status.SUCCEEDED, run.error
        assert executions_by_step(run) == {"first": 1, "after": 1}
