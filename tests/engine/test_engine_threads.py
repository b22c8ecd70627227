"""ENGINE_THREADS: one worker process runs several waiting steps at once, each exactly once."""

import time
from collections import Counter

import pytest

from pipeline import engine
from pipeline.dev import bench
from pipeline.dev.models import StepExecution
from pipeline.models import PipelineRun
from tests.engine import test_workers
from tests.engine.test_workers import finished, wait_until
from tests.factories import make_lead

broker = test_workers.broker
clusters = test_workers.clusters

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_one_worker_with_four_threads_runs_four_runs_side_by_side(clusters):
    cluster = clusters(
        workers=1,
        ENGINE_THREADS="4",
        ENGINE_PIPELINE_MODULES="pipeline.dev.bench,tests.engine_pipelines",
    )
    # Let the worker start before the clock runs.
    warm = engine.start(bench.SYNTHETIC.name, lead=make_lead(), options={"step_seconds": 0})
    wait_until(lambda: finished([warm.pk]), timeout=60, what="the warm-up run", clusters=[cluster])

    began = time.monotonic()
    runs = [
        engine.start(bench.SYNTHETIC.name, lead=make_lead(), options={"step_seconds": 0.5})
        for _ in range(4)
    ]
    run_ids = [run.pk for run in runs]
    wait_until(lambda: finished(run_ids), timeout=60, what="4 runs", clusters=[cluster])
    elapsed = time.monotonic() - began

    assert set(PipelineRun.objects.filter(pk__in=run_ids).values_list("status", flat=True)) == {
        PipelineRun.Status.SUCCEEDED
    }
    # Seven sleeping steps a run (2.5 s on its critical path); one worker running one step at
    # a time would need 4 x 3.5 s. Four threads overlap the runs.
    assert elapsed < 8, elapsed
    executions = StepExecution.objects.filter(step_run__run_id__in=run_ids)
    per_step = Counter(executions.values_list("step_run_id", flat=True))
    assert len(per_step) == 4 * 8 and set(per_step.values()) == {1}
    workers = set(executions.values_list("worker", flat=True))
    assert len({worker.rsplit(":", 1)[0] for worker in workers}) == 1  # one process
    assert len(workers) >= 4  # several threads
