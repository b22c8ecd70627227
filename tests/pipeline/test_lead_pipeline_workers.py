"""The lead pipeline on real django-q2 clusters: a crash after the gate's approval, and one
person reaching us several times at once. Mail goes to a real SMTP server on loopback.
"""

from collections import Counter

import pytest

from pipeline import engine
from pipeline.models import (
    Draft,
    OutboundEmail,
    PipelineRun,
    ReviewAction,
)
from tests.engine import test_workers
from tests.engine.test_workers import IS_POSTGRES, finished, wait_until
from tests.factories import BUYER, make_business_settings, make_lead, make_submission
from tests.fakes.smtp import FakeSMTP

# The real-cluster fixtures (a cluster per test on a fresh queue, on each broker).
broker = test_workers.broker
clusters = test_workers.clusters

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

RULES = {f"AGENT_STRATEGY_{agent}": "rules" for agent in ("CLASSIFY", "ENRICH", "SCORE", "DRAFT")}


@pytest.fixture
def smtp():
    with FakeSMTP() as server:
        yield server


@pytest.fixture
def business_settings():
    make_business_settings()


def mail_env(smtp: FakeSMTP) -> dict[str, str]:
    return {"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(smtp.port), **RULES}


def recover_until_finished(run_ids, cluster) -> None:
    def recovered() -> bool:
        engine.sweep()
        return finished(run_ids)

    wait_until(recovered, timeout=60, what="the runs to finish", clusters=[cluster], interval=0.5)


def test_a_worker_killed_after_the_gate_approved_still_answers_the_lead_once(
    clusters, smtp, business_settings, tmp_path
):
    crashed = tmp_path / "crashed"
    cluster = clusters(
        workers=2,
        ENGINE_LEASE_SECONDS="5",
        ENGINE_CRASH_AT=f"gate.approved:{crashed}",
        **mail_env(smtp),
    )
    lead = make_lead(email="dana@northwind-logistics.example", company="Northwind")
    run = engine.start("lead", lead=lead, submission=make_submission(lead, message=BUYER))

    wait_until(crashed.exists, timeout=60, what="the worker to die after the approval")
    assert Draft.objects.get(run=run).status == Draft.Status.APPROVED
    recover_until_finished([run.pk], cluster)

    run.refresh_from_db()
    assert run.status == PipelineRun.Status.SUCCEEDED, run.error
    assert run.decision == "auto_send"
    assert run.steps.get(name="gate").attempt == 2
    assert OutboundEmail.objects.get(run=run).state == OutboundEmail.State.SENT
    assert [received.rcpt_tos for received in smtp.messages] == [(lead.email,)]
    assert ReviewAction.objects.filter(lead=lead, action="approve").count() == 1


@pytest.mark.skipif(
    not IS_POSTGRES,
    reason="SQLite serialises every write, so concurrent gates cannot race there; "
    "the race needs PostgreSQL (DATABASE_URL=postgres://...)",
)
@pytest.mark.postgres
def test_simultaneous_submissions_from_one_person_get_one_automatic_reply(
    clusters, smtp, business_settings
):
    cluster = clusters(workers=4, **mail_env(smtp))
    lead = make_lead(email="dana@northwind-logistics.example", company="Northwind")
    submissions = [make_submission(lead, message=f"{BUYER} ({n})") for n in range(12)]
    pending: list[int] = []
    runs = [
        engine.start("lead", lead=lead, submission=submission, dispatch=pending.append)
        for submission in submissions
    ]
    for step_run_id in pending:  # all at once, so the workers race through the same steps
        engine.enqueue(step_run_id)
    recover_until_finished_or_waiting([run.pk for run in runs], cluster)

    assert [received.rcpt_tos for received in smtp.messages] == [(lead.email,)]
    # The lead's own runs: the one reply may also have started its follow-up cadence's run.
    lead_runs = PipelineRun.objects.filter(lead=lead, pipeline_name="lead")
    decisions = Counter(lead_runs.values_list("decision", flat=True))
    assert decisions == {"auto_send": 1, "review": 11}
    assert PipelineRun.objects.filter(lead=lead).exclude(pipeline_name="lead").count() <= 1
    held = lead_runs.filter(decision="review")
    assert all("already got a reply" in run.decision_reason for run in held)
    assert OutboundEmail.objects.filter(lead=lead).count() == 1


def recover_until_finished_or_waiting(run_ids, cluster) -> None:
    def settled() -> bool:
        engine.sweep()
        return not (
            PipelineRun.objects.filter(pk__in=run_ids)
            .exclude(status__in=(*PipelineRun.FINISHED, PipelineRun.Status.WAITING))
            .exists()
        )

    wait_until(settled, timeout=90, what="the runs to settle", clusters=[cluster], interval=0.5)


@pytest.mark.skipif(
    not IS_POSTGRES, reason="the race needs PostgreSQL (DATABASE_URL=postgres://...)"
)
@pytest.mark.postgres
def test_three_signed_deliveries_from_one_person_at_once_get_one_automatic_reply(
    clusters, smtp, business_settings
):
    from django.test import Client

    from tests.intake.test_intake_dedupe import at_the_same_instant
    from tests.intake_helpers import deliver, make_source

    cluster = clusters(workers=4, **mail_env(smtp))
    source, secret = make_source(rate_limit_per_minute=1000)
    payload = {"email": "dana@northwind-logistics.example", "company": "Northwind"}

    responses = at_the_same_instant(
        3,  # different webhook-ids: three real deliveries, not retries of one
        lambda index: deliver(Client(), source, secret, {**payload, "message": f"{BUYER} {index}"}),
    )
    assert [response.status_code for response in responses] == [202, 202, 202]
    run_ids = [response.json()["run_id"] for response in responses]
    assert len(set(run_ids)) == 3 and len({r.json()["lead_id"] for r in responses}) == 1
    recover_until_finished_or_waiting(run_ids, cluster)

    assert [received.rcpt_tos for received in smtp.messages] == [(payload["email"],)]
    decisions = Counter(
        PipelineRun.objects.filter(pk__in=run_ids).values_list("decision", flat=True)
    )
    assert decisions == {"auto_send": 1, "review": 2}
