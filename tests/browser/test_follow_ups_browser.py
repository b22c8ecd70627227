"""The lead page in a real browser: a reply reached from the queue, the thread, and stopping
the follow-ups."""

import pytest
from playwright.sync_api import expect

from pipeline import engine
from pipeline.models import (
    FollowUpPlan,
    OutboundEmail,
    PipelineRun,
    StepRun,
)
from pipeline.replies.parse import ParsedEmail
from pipeline.replies.receive import receive_reply
from tests.factories import BUYER, make_lead, make_reviewer, make_submission

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("rules_business")]


def answered_lead() -> FollowUpPlan:
    """A lead whose first reply went out automatically; its follow-ups are waiting."""
    lead = make_lead(email="dana@northwind.example", name="Dana Whitfield", company="Northwind")
    submission = make_submission(lead, message=BUYER, email=lead.email, name=lead.name)
    run = engine.run_inline("lead", lead=lead, submission=submission)
    assert run.status == PipelineRun.Status.SUCCEEDED, run.error
    plan = FollowUpPlan.objects.get(lead=lead)
    queued = list(
        StepRun.objects.filter(run__follow_up__plan=plan, status=StepRun.Status.QUEUED).values_list(
            "pk", flat=True
        )
    )
    engine.continue_inline(lambda dispatch: [dispatch(pk) for pk in queued])
    return plan


def test_a_reply_in_the_queue_leads_to_the_thread_on_the_lead_page(sessions):
    make_reviewer("alice")
    plan = answered_lead()
    first = plan.first_email
    receive_reply(
        ParsedEmail(
            provider="fields",
            from_header="Dana Whitfield <dana@northwind.example>",
            subject=f"Re: {first.subject}",
            text="Tuesday at 10 works. <b>Bring pricing.</b>\n\nOn Mon, Sam wrote:\n> Hi Dana",
            in_reply_to=first.message_id,
        ),
        source=None,
    )
    page = sessions("alice").page
    page.goto("/")

    page.locator("#new-replies").get_by_role("link", name="Dana Whitfield").click()

    replies = page.locator("#replies")
    # Shown as text, never as markup, with the quoted history trimmed (it stays a click away).
    expect(replies.locator("pre.reply-text")).to_have_text(
        "Tuesday at 10 works. <b>Bring pricing.</b>"
    )
    expect(replies.get_by_text("Hi Dana")).to_be_hidden()
    expect(replies).to_contain_text(f"answers our email “{first.subject}”")
    expect(page.locator("#audit .event-email")).to_contain_text(first.subject)
    # The reply stopped the follow-ups.
    expect(page.locator(f"#cadence-{plan.pk}")).to_contain_text("Stopped: the lead replied")


def test_staff_stop_the_follow_ups_from_the_lead_page(sessions):
    make_reviewer("alice")
    plan = answered_lead()
    page = sessions("alice").page
    page.goto("/leads/")
    page.get_by_role("link", name="Dana Whitfield").first.click()
    cadence = page.locator(f"#cadence-{plan.pk}")
    expect(cadence).to_contain_text("day 2")
    expect(cadence).to_contain_text("day 6")

    cadence.get_by_label("Why").fill("we spoke on the phone")
    cadence.get_by_role("button", name="Stop follow-ups").click()

    expect(page.locator(f"#cadence-{plan.pk}")).to_contain_text(
        "Stopped: stopped by alice: we spoke on the phone"
    )
    expect(page.get_by_role("button", name="Stop follow-ups")).to_have_count(0)
    run = plan.follow_ups.get(number=1).run
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.CANCELLED
    assert not OutboundEmail.objects.filter(lead=plan.lead, kind__startswith="follow_up").exists()
