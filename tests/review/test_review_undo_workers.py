"""The undo window with a real django-q2 cluster: its scheduler releases the approval when the
window is over, a worker sends the reply once, and an undone approval sends nothing."""

import time

import pytest
from django_q.models import Schedule

from pipeline import actions
from pipeline.models import Draft, OutboundEmail, StepRun
from tests.engine import test_workers
from tests.engine.test_workers import wait_until
from tests.factories import make_reviewer, make_waiting_draft
from tests.fakes.smtp import FakeSMTP

clusters = test_workers.clusters

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def broker() -> str:
    # The release is a database schedule whatever the broker; one broker is enough here.
    return "orm"


def test_a_cluster_sends_the_approved_reply_once_after_the_window_and_never_the_undone_one(
    clusters, settings
):
    settings.REVIEW_UNDO_SECONDS = 2
    reviewer = make_reviewer()
    approved = make_waiting_draft()
    undone = make_waiting_draft()
    actions.approve_draft(approved, by=reviewer, version=1)
    actions.approve_draft(undone, by=reviewer, version=1)
    assert actions.undo_approval(undone, by=reviewer).status == "done"
    # Only the approval's own schedule may release it here (not the sweep, its safety net).
    Schedule.objects.exclude(name=actions.release_schedule_name(approved.pk)).delete()

    with FakeSMTP() as smtp:
        started = time.monotonic()
        cluster = clusters(workers=1, EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(smtp.port))
        wait_until(
            lambda: OutboundEmail.objects.filter(draft=approved, state="sent").exists(),
            timeout=90,
            what="the approved reply to be sent",
            clusters=[cluster],
            interval=0.5,
        )
        elapsed = time.monotonic() - started
        time.sleep(2)  # room for a second send, if there were one
        assert [received.rcpt_tos for received in smtp.messages] == [(approved.lead.email,)]

    assert StepRun.objects.get(run_id=approved.run_id, name="send").status == "succeeded"
    assert not Schedule.objects.exists()  # the scheduler deleted the one-off schedule
    undone.refresh_from_db()
    assert undone.status == Draft.Status.PENDING
    assert StepRun.objects.get(run_id=undone.run_id, name="gate").status == "waiting"
    assert not OutboundEmail.objects.filter(draft=undone).exists()
    print(f"\nreleased and sent {elapsed:.1f} s after the cluster started")
