"""A possible spam lead waits in the review queue with no reply written, and one POST discards it."""

import pytest
from django.urls import reverse

from pipeline import engine
from pipeline.actions import approve_draft
from pipeline.models import Draft, OutboundEmail, PipelineRun
from tests.factories import make_lead, make_reviewer, make_submission

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("rules_business")]

# Reads as a buyer, but it pushes two links to someone else's site from a free-mail address.
MESSAGE = (
    "Hello, we want a demo next week for 15 seats. Before that please look at "
    "https://cheap-growth-hacks.example/offer and https://cheap-growth-hacks.example/deal"
)


@pytest.fixture
def possible_spam(monkeypatch) -> Draft:
    from pipeline.agents import classify as classify_module
    from pipeline.schemas import AgentResult, Classification

    def unsure(lead, **kwargs):
        # Not spam on top, but likely enough that nobody should write to it unseen.
        return AgentResult(
            output=Classification(
                label="low_intent", confidence=0.5, reasons=["odd"], spam_probability=0.4
            ),
            strategy="rules",
        )

    monkeypatch.setattr(classify_module, "classify", unsure)
    lead = make_lead(email="kim@mailbox.example", name="Kim")
    run = engine.run_inline(
        "lead", lead=lead, submission=make_submission(lead, message=MESSAGE, email=lead.email)
    )
    assert run.status == PipelineRun.Status.WAITING
    return Draft.objects.get(run=run)


def test_possible_spam_is_listed_in_the_queue_with_its_flag_and_no_reply(client, possible_spam):
    client.force_login(make_reviewer("alice"))

    queue = client.get(reverse("review:queue")).content.decode()
    panel = client.get(reverse("review:draft", args=[possible_spam.pk])).content.decode()

    assert f'id="draft-row-{possible_spam.pk}"' in queue
    assert "possible spam" in queue
    assert 'id="discard-button"' in panel and 'aria-keyshortcuts="d"' in panel
    assert 'id="no-reply"' in panel
    # Nothing to approve: the reviewer writes a reply first, or discards it.
    assert 'id="approve-button"' not in panel


def test_the_discard_button_rejects_the_lead_and_nothing_is_sent(client, possible_spam):
    client.force_login(make_reviewer("alice"))

    client.post(
        reverse("review:draft_reject", args=[possible_spam.pk]),
        {"version": possible_spam.version, "reason_choice": "Spam or a bot"},
    )

    possible_spam.refresh_from_db()
    assert (possible_spam.status, possible_spam.reject_reason) == ("rejected", "Spam or a bot")
    assert PipelineRun.objects.get(pk=possible_spam.run_id).status == PipelineRun.Status.REJECTED
    assert not OutboundEmail.objects.exists()


def test_a_draft_without_a_reply_cannot_be_approved_until_one_is_written(possible_spam):
    reviewer = make_reviewer("alice")

    refused = approve_draft(possible_spam, by=reviewer, version=possible_spam.version)
    written = approve_draft(
        possible_spam,
        by=reviewer,
        version=possible_spam.version,
        subject="Your demo",
        body="Hi Kim, happy to show you the product. Does Tuesday work?",
    )

    assert refused.status == "invalid" and "No reply was written" in refused.message
    assert written.status == "done"
