"""The review queue in a real browser: htmx swaps, keyboard shortcuts, CSP, two reviewers racing."""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from pipeline import engine
from pipeline.models import Draft, OutboundEmail, PipelineRun, ReviewAction, StepRun
from tests.factories import make_lead, make_reviewer, make_waiting_draft

pytestmark = pytest.mark.django_db(transaction=True)


# review.js ignores action keys this long after a new draft appears (plus a margin).
KEY_DELAY_MS = 800


def row(page, draft):
    return page.locator(f"#draft-row-{draft.pk}")


def panel_shows(page, draft):
    """The draft is in the panel and htmx has settled it (its buttons are wired)."""
    expect(page.locator(f"#draft-panel #draft-{draft.pk}")).to_be_visible()
    expect(page.locator("#draft-panel")).not_to_have_class(re.compile(r"htmx-(swapping|settling)"))


def open_draft(page, draft):
    page.click(f"#draft-row-{draft.pk} a.open-draft")
    panel_shows(page, draft)


def run_send_step(draft) -> None:
    """What a django-q2 worker does with the queued send step."""
    send = StepRun.objects.get(run_id=draft.run_id, name="send")
    assert send.status == StepRun.Status.QUEUED
    engine.execute(send.pk, dispatch=lambda step_run_id: None)


def test_a_reviewer_edits_and_approves_and_the_email_reaches_the_outbox(sessions, artifacts):
    make_reviewer("alice")
    lead = make_lead(name="<script>alert(1)</script>", company="Globex")
    draft = make_waiting_draft(lead=lead, score=71, flags=["free_email"])
    other = make_waiting_draft(score=55)
    session = sessions("alice")
    page = session.page

    expect(row(page, draft)).to_contain_text("<script>alert(1)</script>")  # shown as text
    expect(page.locator("#queue-rows tr.draft-row")).to_have_count(2)
    page.screenshot(path=str(artifacts / "queue.png"), full_page=True, caret="initial")

    open_draft(page, draft)
    expect(page.locator("#claim-notice")).to_contain_text("You are reviewing this draft")
    page.screenshot(path=str(artifacts / "draft.png"), full_page=True, caret="initial")

    page.click("#edit-button")
    editor = page.locator("#edit-body")
    expect(editor).to_be_focused()
    editor.fill("Hi,\n\nTuesday at 10:00 works. Here is the invite.\n\nSam")
    page.fill("#edit-subject", "Demo on Tuesday")
    page.click("#save-button")
    expect(page.locator("#draft-notice")).to_have_text("Saved as revision 2.")
    expect(page.locator("#draft-body")).to_contain_text("Tuesday at 10:00 works.")

    page.click("#approve-button")
    expect(row(page, draft)).to_have_count(0)  # left the queue without a reload
    expect(page.locator("#queue-status")).to_contain_text("Approved: the reply is queued")
    panel_shows(page, other)  # moved on

    draft.refresh_from_db()
    assert (draft.status, draft.version, draft.subject) == ("approved", 3, "Demo on Tuesday")
    run_send_step(draft)
    email = OutboundEmail.objects.get(run_id=draft.run_id)
    assert email.state == OutboundEmail.State.SENT
    (message,) = mail.outbox
    assert message.subject == "Demo on Tuesday"
    assert "Tuesday at 10:00 works. Here is the invite." in message.body

    page.goto(f"/leads/{lead.pk}/")
    expect(page.locator("#audit")).to_contain_text("approve")
    expect(page.locator("#audit .diff-added").first).to_contain_text("+Subject: Demo on Tuesday")


def test_a_reviewer_rejects_with_a_reason(sessions):
    make_reviewer("alice")
    draft = make_waiting_draft()
    page = sessions("alice").page
    open_draft(page, draft)
    page.click("#reject-box summary")
    page.select_option("#id_reason_choice", "Already in contact with us")
    page.click("#reject-button")
    expect(row(page, draft)).to_have_count(0)
    expect(page.locator("#queue-status")).to_contain_text("Rejected: nothing will be sent.")
    draft.refresh_from_db()
    assert (draft.status, draft.reject_reason) == ("rejected", "Already in contact with us")
    assert PipelineRun.objects.get(pk=draft.run_id).status == PipelineRun.Status.REJECTED
    assert OutboundEmail.objects.count() == 0


def test_keyboard_shortcuts_move_edit_reject_and_approve(sessions, settings):
    settings.REVIEW_UNDO_SECONDS = 10  # `a` approves only where Undo can take it back
    make_reviewer("alice")
    first = make_waiting_draft(score=90)
    second = make_waiting_draft(score=80)
    third = make_waiting_draft(score=70)
    page = sessions("alice").page
    body = page.locator("body")

    page.keyboard.press("?")
    expect(page.locator("#shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#shortcuts")).to_be_hidden()

    page.keyboard.press("j")
    panel_shows(page, first)
    expect(row(page, first)).to_have_class(re.compile(r"\bselected\b"))
    page.keyboard.press("j")
    panel_shows(page, second)
    page.keyboard.press("k")
    panel_shows(page, first)
    page.wait_for_timeout(KEY_DELAY_MS)  # a draft just shown ignores action keys

    page.keyboard.press("e")
    expect(page.locator("#edit-body")).to_be_focused()
    page.keyboard.press("a")  # typing in the editor is text, not a shortcut
    expect(page.locator("#edit-body")).to_have_value(re.compile(r"^aHi,"))
    page.keyboard.press("Escape")
    expect(page.locator("#edit-form")).to_have_count(0)
    panel_shows(page, first)

    page.keyboard.press("r")
    expect(page.locator("#id_reason_choice")).to_be_focused()
    page.locator("#id_reason_choice").blur()

    body.press("a")
    expect(row(page, first)).to_have_count(0)
    # The next draft opens by itself; "a" again approves it.
    panel_shows(page, second)
    page.wait_for_timeout(KEY_DELAY_MS)
    body.press("a")
    expect(row(page, second)).to_have_count(0)
    panel_shows(page, third)
    statuses = dict(Draft.objects.values_list("pk", "status"))
    assert statuses == {first.pk: "approved", second.pk: "approved", third.pk: "pending"}


def test_new_arrivals_appear_without_losing_the_reviewers_place(sessions):
    make_reviewer("alice")
    first = make_waiting_draft(score=50)
    page = sessions("alice").page
    page.keyboard.press("j")
    panel_shows(page, first)
    arrival = make_waiting_draft(score=95)
    page.evaluate("document.body.dispatchEvent(new Event('queue-refresh'))")
    expect(row(page, arrival)).to_be_visible()
    expect(page.locator("#queue-rows tr.draft-row").first).to_have_id(f"draft-row-{arrival.pk}")
    expect(row(page, first)).to_have_class(re.compile(r"\bselected\b"))
    panel_shows(page, first)


def test_two_reviewers_racing_to_approve_send_one_reply(sessions):
    make_reviewer("alice")
    make_reviewer("bob")
    draft = make_waiting_draft()
    alice, bob = sessions("alice").page, sessions("bob").page
    open_draft(alice, draft)
    expect(alice.locator("#claim-notice")).to_contain_text("You are reviewing this draft")
    open_draft(bob, draft)
    expect(bob.locator("#claim-holder")).to_have_text("alice is reviewing this draft right now.")

    # Both click before either answer arrives.
    alice.locator("#approve-button").dispatch_event("click")
    bob.locator("#approve-button").dispatch_event("click")
    expect(row(alice, draft)).to_have_count(0)
    expect(row(bob, draft)).to_have_count(0)
    notices = [page.locator("#queue-status").inner_text(timeout=10_000) for page in (alice, bob)]
    assert sum("Approved: the reply is queued" in notice for notice in notices) == 1
    assert sum("Already approved by" in notice for notice in notices) == 1
    assert ReviewAction.objects.filter(action="approve").count() == 1
    run_send_step(draft)
    assert OutboundEmail.objects.filter(state="sent").count() == 1
    assert len(mail.outbox) == 1


def test_a_second_reviewer_editing_an_old_version_sees_the_current_text(sessions):
    make_reviewer("alice")
    make_reviewer("bob")
    draft = make_waiting_draft()
    alice, bob = sessions("alice").page, sessions("bob").page
    open_draft(alice, draft)
    open_draft(bob, draft)
    bob.click("#edit-button")  # bob starts from version 1 ...
    expect(bob.locator("#edit-body")).to_be_focused()
    alice.click("#edit-button")  # ... and alice saves version 2 first
    alice.fill("#edit-body", "Alice's version.")
    alice.click("#save-button")
    expect(alice.locator("#draft-notice")).to_have_text("Saved as revision 2.")

    bob.fill("#edit-body", "Bob's version.")
    bob.click("#save-button")
    expect(bob.locator("#draft-notice")).to_contain_text("alice changed this draft")
    expect(bob.locator("#draft-body")).to_have_text("Alice's version.")
    expect(bob.locator("#conflict-body")).to_have_value("Bob's version.")
    assert Draft.objects.get(pk=draft.pk).body == "Alice's version."


def test_one_key_discards_a_possible_spam_lead_that_has_no_reply(sessions):
    make_reviewer("alice")
    spam = make_waiting_draft(
        score=90,
        label="low_intent",
        subject="",
        body="",
        decision_reason="Possible spam (spam probability 0.40): no draft; discard it or write a reply.",
    )
    # What the gate writes for a lead the decision called possible spam.
    Draft.objects.filter(pk=spam.pk).update(flags=["possible_spam"])
    buyer = make_waiting_draft(score=80)
    page = sessions("alice").page
    body = page.locator("body")
    expect(row(page, spam)).to_contain_text("possible spam")

    page.keyboard.press("j")
    panel_shows(page, spam)
    expect(page.locator("#no-reply")).to_contain_text("Possible spam")
    expect(page.locator("#approve-button")).to_have_count(0)
    page.wait_for_timeout(KEY_DELAY_MS)
    body.press("d")

    expect(row(page, spam)).to_have_count(0)
    panel_shows(page, buyer)
    page.wait_for_timeout(KEY_DELAY_MS)
    body.press("d")  # a draft that is not possible spam has no discard key
    page.wait_for_timeout(300)
    statuses = dict(Draft.objects.values_list("pk", "status"))
    assert statuses == {spam.pk: "rejected", buyer.pk: "pending"}
    assert Draft.objects.get(pk=spam.pk).reject_reason == "Spam or a bot"
    assert PipelineRun.objects.get(pk=spam.run_id).status == PipelineRun.Status.REJECTED
    assert OutboundEmail.objects.count() == 0
