"""Two workers, or a worker and an unsubscribe, at one queued email at the same instant: it goes
out once, or not at all. Real row locks: these mean most on PostgreSQL, where two claims that
waited for the same row used to both win (found by a concurrency audit)."""

import threading
from types import SimpleNamespace

import pytest
from django.core import mail

from pipeline.integrations import outbox
from pipeline.models import OutboundEmail, PipelineRun
from tests.factories import make_lead
from tests.races import RowHolder, in_thread, wait_until_blocked

pytestmark = pytest.mark.django_db(transaction=True)


def queued_email() -> OutboundEmail:
    lead = make_lead()
    run = PipelineRun.objects.create(lead=lead, pipeline_name="lead", pipeline_version=1)
    email, _ = outbox.queue_email(lead=lead, kind="first_reply", subject="Hi", body="Body", run=run)
    return email


def test_two_workers_claiming_one_email_behind_a_lock_send_it_once():
    email = queued_email()
    errors, results = [], []
    workers = [in_thread(lambda: outbox.deliver(email.pk), errors, results) for _ in range(2)]
    # Both read it queued, then meet at its row, held a moment by a third connection (as any
    # slow commit touching the row would).
    with RowHolder(OutboundEmail, email.pk):
        for worker in workers:
            worker.start()
        wait_until_blocked(waiters=2)
    for worker in workers:
        worker.join(30)

    assert not errors, errors
    email.refresh_from_db()
    assert len(mail.outbox) == 1
    assert (email.state, email.attempts) == (OutboundEmail.State.SENT, 1)
    # The other found it taken: sent by the first, or still being sent by it.
    assert OutboundEmail.State.SENT in results and len(results) == 2


def test_two_workers_starting_together_send_each_email_once():
    for _ in range(10):
        email = queued_email()
        barrier = threading.Barrier(2)
        errors = []

        def work(email_id=email.pk, barrier=barrier):
            barrier.wait(10)
            return outbox.deliver(email_id)

        workers = [in_thread(work, errors) for _ in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
        assert not errors, errors
    assert len(mail.outbox) == 10
    assert set(OutboundEmail.objects.values_list("attempts", flat=True)) == {1}


def test_an_email_claimed_while_the_lead_unsubscribes_is_not_sent(monkeypatch):
    from pipeline import unsubscribe

    email = queued_email()
    # The unsubscribe stops just before it commits, having cancelled the queued email.
    inside, go = threading.Event(), threading.Event()
    audit = unsubscribe.ReviewAction

    def create(**fields):
        inside.set()
        assert go.wait(30)
        return audit.objects.create(**fields)

    monkeypatch.setattr(
        unsubscribe, "ReviewAction", SimpleNamespace(objects=SimpleNamespace(create=create))
    )
    errors, results = [], []
    leaving = in_thread(
        lambda: unsubscribe.unsubscribe_lead(email.lead_id, via="one-click"), errors
    )
    leaving.start()
    assert inside.wait(10)
    worker = in_thread(lambda: outbox.deliver(email.pk), errors, results)
    worker.start()
    wait_until_blocked()  # the worker's claim waits for the unsubscribe's row lock
    go.set()
    leaving.join(30)
    worker.join(30)

    assert not errors, errors
    email.refresh_from_db()
    assert email.lead.unsubscribed_at is not None
    assert len(mail.outbox) == 0
    assert email.state == OutboundEmail.State.CANCELLED
    assert results == [OutboundEmail.State.CANCELLED]
