"""The whole system under faults: real gunicorn, real worker clusters, the outside world faked
on loopback and misbehaving, while leads flow.

Faults, in one run: Claude answers 529 to 20 % of calls and times out on 5 %, HubSpot answers
429 to a burst of requests, one company website never answers, a worker is SIGKILLed twice in
the middle of a step, the whole cluster is SIGKILLed and replaced, the queue's contents are
dropped, and (on PostgreSQL) every database connection is terminated once. Afterwards every lead
is stored and decided (its run succeeded, waits for a reviewer, or failed with a visible error
that can be retried), no email went out twice and no CRM contact was created twice.
"""

import os
import signal
import time
from collections import Counter

import pytest
from django.db import connection

from pipeline import engine
from pipeline.dev import cluster as child
from pipeline.dev import loadbench
from pipeline.models import Lead, OutboundEmail, PipelineRun, StepRun
from tests.engine.test_workers import REDIS_URL, redis_is_reachable

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

IS_POSTGRES = connection.vendor == "postgresql"
DECIDED = {PipelineRun.Status.SUCCEEDED, PipelineRun.Status.WAITING, PipelineRun.Status.FAILED}


@pytest.fixture
def deployment(tmp_path, settings):
    broker = "redis" if redis_is_reachable() else "orm"
    if broker == "redis":
        settings.REDIS_URL = REDIS_URL
    options = loadbench.Options(
        workers=3,
        web_workers=1,
        broker=broker,
        llm_latency=0.4,
        fetch_latency=0.05,
        llm_failure_rates={"529": 0.20, "timeout": 0.05},
        lease_seconds=5,
        extra_env={"LLM_TIMEOUT_SECONDS": "2", "ENGINE_QUEUED_STALE_SECONDS": "10"},
    )
    with loadbench.Deployment(options, work_dir=tmp_path) as running:
        yield running


def running_worker_pids(cluster: child.Cluster) -> list[int]:
    """Worker processes of this cluster that are in the middle of a step now."""
    alive = set(cluster.pids())
    pids = []
    for worker in StepRun.objects.filter(status=StepRun.Status.RUNNING).values_list(
        "worker_id", flat=True
    ):
        parts = worker.split(":")
        if len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) in alive:
            pids.append(int(parts[1]))
    return pids


def wait_for(condition, *, timeout: float, what: str, deployment=None, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    logs = deployment.cluster_logs() if deployment else ""
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}\n{logs}")


def kill_a_busy_worker(deployment) -> int:
    victim = wait_for(
        lambda: next(iter(running_worker_pids(deployment.cluster)), None),
        timeout=30,
        what="a worker in the middle of a step",
        deployment=deployment,
    )
    os.kill(victim, signal.SIGKILL)
    return victim


def terminate_database_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_every_lead_is_decided_once_through_crashes_outages_and_a_lost_queue(deployment):
    for _ in range(6):
        deployment.hubspot.answer(429, headers={"Retry-After": "1"})
    url = f"{deployment.web.url}/webhooks/{deployment.source.slug}/"
    payloads = loadbench.lead_payloads(24, deployment.websites, token=deployment.token)
    hanging = payloads[0]
    assert hanging.label == "high_intent"
    hanging.body["website"] = deployment.websites.hanging_site("never-answers")
    deliveries, _ = loadbench.send_webhooks(url, deployment.secret, payloads, concurrency=8)

    # Two workers die in the middle of a step; the sentinel starts others in their place.
    killed = [kill_a_busy_worker(deployment)]
    time.sleep(1.0)
    killed.append(kill_a_busy_worker(deployment))
    time.sleep(1.0)
    # The whole cluster dies at once (a machine lost), with the queue's contents.
    wait_for(
        lambda: running_worker_pids(deployment.cluster),
        timeout=30,
        what="the cluster to be busy again",
        deployment=deployment,
    )
    os.killpg(deployment.cluster.pid, signal.SIGKILL)
    child.purge_queue(deployment.queue, redis_url=deployment.redis_url)
    terminated = terminate_database_connections() if IS_POSTGRES else 0
    deployment.start_cluster()

    # The web processes got their connections cut too: the next webhooks still get a 202.
    more = loadbench.lead_payloads(8, deployment.websites, token=deployment.token + "b")
    late, _ = loadbench.send_webhooks(url, deployment.secret, more, concurrency=4)
    deliveries += late
    assert Counter(d.status for d in deliveries) == {202: 32}, [d.error for d in deliveries]

    run_ids = [d.run_id for d in deliveries]
    swept = Counter()

    def decided() -> bool:
        swept.update(engine.sweep())
        return not loadbench.unsettled(run_ids)

    wait_for(
        decided, timeout=240, what="every lead to be decided", deployment=deployment, interval=0.5
    )

    runs = PipelineRun.objects.filter(pk__in=run_ids)
    print(
        f"runs {Counter(runs.values_list('status', flat=True))}, swept {dict(swept)}, "
        f"Claude failures {dict(deployment.claude.failures)}, killed {killed}, "
        f"connections terminated {terminated}"
    )
    assert runs.count() == 32
    assert set(runs.values_list("status", flat=True)) <= DECIDED
    for run in runs.filter(status=PipelineRun.Status.FAILED):
        failed = run.steps.filter(status=StepRun.Status.FAILED)
        assert failed.exists() and all(step.error for step in failed), run.pk
    assert Lead.objects.filter(email__in=[d.payload.email for d in deliveries]).count() == 32
    report = loadbench.integrity(deployment, deliveries, run_ids)
    assert (report["lost"], report["unfinished"]) == (0, 0), report
    assert (report["duplicate_emails"], report["duplicate_contacts"]) == (0, 0), report
    assert report["emails_without_outbox_row"] == 0, report
    per_lead = Counter(OutboundEmail.objects.filter(run_id__in=run_ids).values_list("lead_id"))
    assert set(per_lead.values()) <= {1}

    # The faults really happened and were recovered from.
    assert len(killed) == 2
    assert swept["expired"] >= 1
    assert deployment.claude.failures["529"] >= 1 and deployment.claude.failures["timeout"] >= 1
    assert deployment.hubspot.scripted_left == 0  # the whole 429 burst was answered
    assert StepRun.objects.filter(run_id__in=run_ids, attempt__gt=1).exists()
    if IS_POSTGRES:
        assert terminated >= 1
    hung = PipelineRun.objects.get(pk=deliveries[0].run_id)
    assert hung.status in DECIDED
