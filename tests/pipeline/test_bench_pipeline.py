"""bench_pipeline, run the way a developer runs it: `manage.py bench_pipeline … --json`, on the
test database, with its own fakes, worker cluster and gunicorn."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from pipeline.dev.cluster import database_url
from pipeline.models import Lead, WebhookSource

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

KEYS = {
    "leads",
    "intake_rps",
    "intake_ms_p95",
    "intake_5xx",
    "decision_s_p50",
    "decision_s_p95",
    "critical_path_s",
    "ratio_p50",
    "sequential_s_p50",
    "leads_per_minute",
    "cost_usd_per_lead",
    "lost",
    "unfinished",
    "duplicate_emails",
    "duplicate_contacts",
}


def bench_pipeline(*arguments: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "LEADOPS_DEV_APPS": "1",
        "DATABASE_URL": database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "EMAIL_HOST": "127.0.0.1",
    }
    if settings.Q_BROKER == "redis":
        env["REDIS_URL"] = settings.REDIS_URL
    return subprocess.run(
        [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "bench_pipeline", *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_bench_pipeline_decides_every_lead_once_and_reports_json():
    result = bench_pipeline(
        "--leads=8",
        "--llm-latency=0.05",
        "--fetch-latency=0.01",
        "--workers=2",
        "--web-workers=1",
        "--sequential",
        f"--broker={settings.Q_BROKER}",
        "--json",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert KEYS <= set(report)
    assert report["leads"] == report["leads_stored"] == 8
    assert (report["lost"], report["unfinished"], report["intake_5xx"]) == (0, 0, 0)
    assert (report["duplicate_emails"], report["duplicate_contacts"]) == (0, 0)
    assert report["integrity_ok"] is True
    # All four labels went through: some replied automatically, some discarded, some reviewed.
    assert {"auto_send", "discard", "review"} <= set(report["decisions"])
    assert report["emails_sent"] == report["decisions"]["auto_send"]
    # Four sleeping Claude calls at most on a lead's longest path; never faster than that.
    assert 0 < report["critical_path_s"] <= 4 * 0.05 + 0.01 + 1e-9
    assert report["decision_s_p50"] >= report["critical_path_s"]
    assert report["claude_calls"] >= 8 and report["cost_usd_per_lead"] > 0
    assert report["sequential_s_p50"] > 0 and report["leads_per_minute"] > 0
    # It cleans up after itself.
    assert not Lead.objects.exists() and not WebhookSource.objects.exists()


def test_bench_pipeline_exits_non_zero_when_leads_are_left_undecided():
    # Claude answers after 30 s and the bench gives up after 2 s without progress.
    result = bench_pipeline(
        "--leads=2", "--llm-latency=30", "--workers=1", "--web-workers=1", "--stall-seconds=2"
    )
    assert result.returncode != 0
    assert "integrity check failed" in result.stderr
    assert '"unfinished": 2' in result.stderr


def test_bench_pipeline_refuses_a_database_with_earlier_work_its_workers_would_run():
    from pipeline import engine
    from tests.factories import make_lead

    engine.start("lead", lead=make_lead())  # queued, never run: an earlier benchmark's leftover

    result = bench_pipeline("--leads=2", "--workers=1", "--web-workers=1", timeout=60)

    assert result.returncode != 0
    assert "holds 1 unfinished run(s)" in result.stderr and "fresh database" in result.stderr
    assert not WebhookSource.objects.filter(name__startswith="Load bench").exists()


def test_intake_at_a_steady_rate_stores_every_lead_and_gives_each_an_owner():
    result = bench_pipeline(
        "--intake-only",
        "--leads=20",
        "--rate=40",
        "--web-workers=1",
        "--ceiling",
        "--json",
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["rate"] == 40
    # Twenty arrivals 1/40 s apart take at least 19/40 s however fast the server answers.
    assert report["intake_seconds"] >= 19 / 40
    assert report["leads_stored"] == report["leads_with_owner"] == 20
    assert (report["lost"], report["intake_5xx"]) == (0, 0)
    assert report["intake_ms_p95"] > 0
    # The view's own time, from each answer's Server-Timing, is part of the latency.
    assert 0 < report["intake_app_ms_p50"] <= report["intake_ms_p50"]
    # Where the CPU went: the web processes are part of the machine, and so is the sender.
    parts = ("web", "sender", "postgres", "redis")
    assert all(report[f"intake_{part}_cpu_ms_per_request"] >= 0 for part in parts)
    assert report["intake_machine_cpu_ms_per_request"] >= report["intake_sender_cpu_ms_per_request"]
    assert report["intake_machine_cpu_ms_per_request"] >= report["intake_web_cpu_ms_per_request"]
    assert report["intake_sender_cpu_ms_per_request"] > 0
    assert 0 < report["intake_machine_busy"] <= 1
    # --ceiling: as many GETs first, each refused (405) before any database work.
    assert report["ceiling_not_405"] == 0 and report["ceiling_rps"] > 0
    assert report["ceiling_web_cpu_ms_per_request"] >= 0 and report["ceiling_ms_p95"] > 0


def test_with_defer_the_workers_make_every_lead_and_decide_it_once():
    result = bench_pipeline(
        "--leads=8",
        "--defer",
        "--llm-latency=0.05",
        "--fetch-latency=0.01",
        "--workers=2",
        "--web-workers=1",
        f"--broker={settings.Q_BROKER}",
        "--json",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    # Every webhook was answered {"deferred": true}; the cluster found each person, gave the
    # owner and ran the pipeline to a decision.
    assert (report["defer"], report["deferred"], report["deferred_unprocessed"]) == (True, 8, 0)
    assert report["leads_stored"] == report["leads_with_owner"] == 8
    assert (report["lost"], report["unfinished"], report["intake_5xx"]) == (0, 0, 0)
    assert (report["duplicate_emails"], report["duplicate_contacts"]) == (0, 0)
    assert sum(report["decisions"].values()) == 8
    assert report["decision_s_p50"] >= report["critical_path_s"] > 0
    assert not Lead.objects.exists()


def test_deferred_intake_alone_is_finished_by_the_bench_and_timed():
    result = bench_pipeline(
        "--intake-only", "--defer", "--leads=20", "--web-workers=1", "--json", timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert (report["deferred"], report["deferred_unprocessed"]) == (20, 0)
    assert report["deferred_seconds"] > 0 and report["deferred_per_s"] > 0
    assert report["leads_stored"] == report["leads_with_owner"] == 20
    assert (report["lost"], report["intake_5xx"]) == (0, 0)
