"""The benchmark command: a small real run on the configured broker and the test database."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from pipeline.models import Lead, PipelineRun

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

KEYS = {
    "runs",
    "concurrency",
    "workers",
    "broker",
    "database",
    "step_seconds",
    "overhead_ms_p50",
    "overhead_ms_p95",
    "e2e_s_p50",
    "e2e_s_p95",
    "critical_path_s",
    "ratio_p50",
    "runs_per_second",
    "lost",
    "duplicate_executions",
}


def test_bench_engine_runs_the_synthetic_pipeline_on_real_workers_and_reports_json():
    out = StringIO()
    call_command(
        "bench_engine",
        "--runs=3",
        "--step-seconds=0",
        "--workers=2",
        "--json",
        stdout=out,
        stderr=StringIO(),
    )
    report = json.loads(out.getvalue())
    assert KEYS <= set(report)
    assert (report["runs"], report["workers"], report["concurrency"]) == (3, 2, 1)
    assert report["lost"] == 0 and report["failed"] == 0
    assert report["duplicate_executions"] == 0
    assert report["runs_per_second"] > 0 and report["e2e_s_p50"] > 0
    assert 0 <= report["overhead_ms_p50"] <= report["overhead_ms_p95"]
    assert report["critical_path_s"] == 0 and report["ratio_p50"] is None
    assert report["worker_pss_mib"] > 0
    # It cleans up after itself.
    assert not Lead.objects.exists() and not PipelineRun.objects.exists()


def test_bench_engine_with_step_time_reports_the_ratio_to_the_critical_path():
    out = StringIO()
    call_command(
        "bench_engine",
        "--runs=2",
        "--step-seconds=0.2",
        "--workers=2",
        "--concurrency=2",
        "--json",
        stdout=out,
        stderr=StringIO(),
    )
    report = json.loads(out.getvalue())
    assert report["critical_path_s"] == pytest.approx(1.0)
    # Never faster than the sleeping steps on the longest path.
    assert report["e2e_s_p50"] >= 1.0 and report["ratio_p50"] >= 1.0
    assert report["lost"] == 0 and report["duplicate_executions"] == 0
