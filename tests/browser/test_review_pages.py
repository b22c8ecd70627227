"""Staff pages in a real browser, followed the way a user does: clicking the links they see."""

import re

import pytest
from playwright.sync_api import expect

from pipeline.models import PipelineRun
from review import queries
from tests.factories import make_lead, make_reviewer, make_waiting_draft

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(queries, "QUEUE_PAGE_SIZE", 2)
    monkeypatch.setattr(queries, "LIST_PAGE_SIZE", 2)


def test_next_on_the_queue_reaches_page_two_through_htmx(sessions, small_pages):
    make_reviewer("alice")
    drafts = [make_waiting_draft(score=score) for score in (90, 80, 70)]
    page = sessions("alice").page
    expect(page.locator("#queue-rows tr.draft-row")).to_have_count(2)

    page.get_by_role("link", name="Next →").click()
    expect(page.locator(f"#draft-row-{drafts[2].pk}")).to_be_visible()
    expect(page.locator("#queue-rows tr.draft-row")).to_have_count(1)
    expect(page.locator("#queue-list .pager")).to_contain_text("Page 2 of 2")
    expect(page).to_have_url(re.compile(r"/\?page=2$"))

    page.get_by_role("link", name="← Previous").click()
    expect(page.locator(f"#draft-row-{drafts[0].pk}")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/\?page=1$"))


def test_next_on_the_queue_keeps_the_filters(sessions, small_pages):
    make_reviewer("alice")
    spam = [make_waiting_draft(label="spam", score=score) for score in (30, 20, 10)]
    make_waiting_draft(label="high_intent", score=99)
    page = sessions("alice").page
    page.goto("/?label=spam")
    page.get_by_role("link", name="Next →").click()
    expect(page.locator("#queue-rows tr.draft-row")).to_have_count(1)
    expect(page.locator(f"#draft-row-{spam[2].pk}")).to_be_visible()
    expect(page).to_have_url(re.compile(r"label=spam"))


@pytest.mark.parametrize("path, rows", [("/leads/", "table.leads"), ("/runs/", "table.runs")])
def test_next_on_the_leads_and_runs_pages_reaches_page_two(sessions, small_pages, path, rows):
    make_reviewer("alice")
    for number in range(3):
        make_waiting_draft(lead=make_lead(name=f"Lead {number}"))
    page = sessions("alice").page
    page.goto(path)
    expect(page.locator(f"{rows} tbody tr")).to_have_count(2)
    page.get_by_role("link", name="Next →").click()
    expect(page).to_have_url(re.compile(r"\?page=2$"))
    expect(page.locator(f"{rows} tbody tr")).to_have_count(1)
    expect(page.locator(".pager")).to_contain_text("Page 2 of 2")
    assert PipelineRun.objects.count() == 3


# --- The flow of deciding drafts -----------------------------------------------------------

KEY_DELAY_MS = 800  # review.js ignores action keys for 700 ms after a new draft appears


def panel_shows(page, draft):
    expect(page.locator(f"#draft-panel #draft-{draft.pk}")).to_be_visible()
    expect(page.locator("#draft-panel")).not_to_have_class(re.compile(r"htmx-(swapping|settling)"))


def test_counts_position_and_the_next_draft_stay_true_after_each_decision(sessions):
    make_reviewer("alice")
    first, second = make_waiting_draft(score=90), make_waiting_draft(score=80)
    page = sessions("alice").page
    expect(page.locator("#queue-count")).to_have_text("2 pending drafts")
    expect(page.locator("#nav-pending")).to_contain_text("2")
    assert page.title().startswith("(2) ")
    # Nothing open yet, many drafts: the panel says how to start.
    expect(page.locator("#draft-panel")).to_contain_text("Pick a draft")

    page.click(f"#draft-row-{first.pk} a.open-draft")
    panel_shows(page, first)
    expect(page.locator("#draft-position")).to_have_text("1 of 2")
    page.click("#approve-button")

    panel_shows(page, second)  # the next one opened by itself
    expect(page.locator("#queue-count")).to_have_text("1 pending draft")
    expect(page.locator("#nav-pending")).to_contain_text("1")
    expect(page.locator("#draft-position")).to_have_text("1 of 1")
    expect(page).to_have_title(re.compile(r"^\(1\) "))

    page.click("#reject-box summary")
    page.select_option("#id_reason_choice", "Already in contact with us")
    page.click("#reject-button")
    expect(page.locator("#queue-clear")).to_contain_text("The queue is clear")
    expect(page.locator("#queue-count")).to_have_text("0 pending drafts")
    expect(page.locator("#queue-rows")).to_contain_text("The queue is clear.")
    expect(page.locator("#nav-pending")).to_have_text("")
    expect(page).not_to_have_title(re.compile(r"^\("))


def test_a_double_press_of_a_approves_only_the_draft_on_screen(sessions, settings):
    settings.REVIEW_UNDO_SECONDS = 10  # `a` approves only where Undo can take it back
    make_reviewer("alice")
    first, second = make_waiting_draft(score=90), make_waiting_draft(score=80)
    page = sessions("alice").page
    page.keyboard.press("j")
    panel_shows(page, first)
    page.wait_for_timeout(KEY_DELAY_MS)
    page.keyboard.press("a")
    panel_shows(page, second)  # opened after the decision...
    page.keyboard.press("a")  # ...and a second press a moment later does nothing to it
    page.wait_for_timeout(300)
    second.refresh_from_db()
    first.refresh_from_db()
    assert (first.status, second.status) == ("approved", "pending")


def test_each_draft_opens_at_the_top_of_the_panel_with_the_actions_first(sessions):
    make_reviewer("alice")
    long_body = "\n\n".join(f"Paragraph {number} of a long reply." for number in range(80))
    first = make_waiting_draft(score=90, body=long_body)
    second = make_waiting_draft(score=80, body=long_body)
    page = sessions("alice").page
    page.click(f"#draft-row-{first.pk} a.open-draft")
    panel_shows(page, first)
    page.locator("#draft-panel").evaluate("panel => panel.scrollTop = 2000")
    # The actions stay in view while the reviewer reads down the draft.
    expect(page.locator("#approve-button")).to_be_in_viewport()
    page.click(f"#draft-row-{second.pk} a.open-draft")
    panel_shows(page, second)
    assert page.locator("#draft-panel").evaluate("panel => panel.scrollTop") == 0
    # The lead's message comes before the reply.
    message_top = page.locator("#lead-message").bounding_box()["y"]
    assert message_top < page.locator("#draft-body").bounding_box()["y"]


def test_opening_a_draft_puts_its_address_in_the_url_for_reload_and_back(sessions):
    make_reviewer("alice")
    first, second = make_waiting_draft(score=90), make_waiting_draft(score=80)
    page = sessions("alice").page
    page.goto("/?label=high_intent")
    page.click(f"#draft-row-{first.pk} a.open-draft")
    panel_shows(page, first)
    expect(page).to_have_url(re.compile(rf"/drafts/{first.pk}/\?label=high_intent$"))
    page.click(f"#draft-row-{second.pk} a.open-draft")
    panel_shows(page, second)
    expect(page).to_have_url(re.compile(rf"/drafts/{second.pk}/"))

    page.reload()
    panel_shows(page, second)
    expect(page.locator(f"#draft-row-{first.pk}")).to_be_visible()  # the queue is there too
    expect(page.locator("#id_label")).to_have_value("high_intent")

    page.go_back()
    expect(page).to_have_url(re.compile(rf"/drafts/{first.pk}/"))
    panel_shows(page, first)


# --- Undo ------------------------------------------------------------------------------------


def run_send_step(draft) -> None:
    """What a django-q2 worker does with the queued send step."""
    from pipeline import engine
    from pipeline.models import StepRun

    send = StepRun.objects.get(run_id=draft.run_id, name="send")
    assert send.status == StepRun.Status.QUEUED
    engine.execute(send.pk, dispatch=lambda step_run_id: None)


def test_undo_within_the_window_sends_nothing_and_after_it_the_reply_goes_once(sessions, settings):
    from pipeline import actions
    from pipeline.models import Draft, StepRun
    from tests.fakes.smtp import FakeSMTP

    settings.REVIEW_UNDO_SECONDS = 3
    make_reviewer("alice")
    draft = make_waiting_draft(score=90)
    with FakeSMTP() as smtp:
        smtp.use_in(settings)
        page = sessions("alice").page
        page.click(f"#draft-row-{draft.pk} a.open-draft")
        panel_shows(page, draft)
        page.click("#approve-button")
        status = page.locator("#queue-status")
        expect(status).to_contain_text("sending in")
        status.get_by_role("button", name="Undo").click()

        panel_shows(page, draft)
        expect(page.locator("#draft-status")).to_have_text("waiting for review")
        expect(page.locator(f"#draft-row-{draft.pk}")).to_be_visible()  # back in the list
        page.wait_for_timeout(3200)
        assert actions.release_due_approvals() == 0  # the window passed: nothing to release
        draft.refresh_from_db()
        assert draft.status == Draft.Status.PENDING
        assert StepRun.objects.get(run_id=draft.run_id, name="gate").status == "waiting"
        assert smtp.messages == []

        page.wait_for_timeout(KEY_DELAY_MS)
        page.click("#approve-button")
        expect(page.locator("#queue-clear")).to_be_visible()
        expect(status.get_by_role("button", name="Undo")).to_be_visible()
        assert actions.release_due_approvals() == 0  # still inside the window
        expect(status).to_contain_text("too late to undo: on its way", timeout=6000)
        assert actions.release_due_approvals() == 1  # what the worker's release task does
        run_send_step(draft)
        assert actions.release_due_approvals() == 0
        assert len(smtp.messages) == 1


# --- Triage ------------------------------------------------------------------------------------


def test_bulk_reject_with_shift_click_and_x_and_one_reason(sessions):
    from pipeline.models import Draft

    make_reviewer("alice")
    drafts = [make_waiting_draft(score=score) for score in (90, 80, 70, 60)]
    page = sessions("alice").page
    expect(page.locator("#bulk-form")).to_be_hidden()
    page.locator(f"#draft-row-{drafts[0].pk} input.pick-box").click()
    page.locator(f"#draft-row-{drafts[2].pk} input.pick-box").click(modifiers=["Shift"])
    expect(page.locator("#bulk-count")).to_have_text("3 selected")
    page.keyboard.press("j")  # highlight the first row...
    page.keyboard.press("x")  # ...and x takes it out of the selection again
    expect(page.locator("#bulk-count")).to_have_text("2 selected")

    page.select_option("#bulk-reason", "Not a fit for us")
    page.fill("#bulk-note", "outside our market")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#bulk-reject")
    expect(page.locator("#queue-status")).to_contain_text("Rejected 2 drafts.")
    expect(page.locator("#queue-rows tr.draft-row")).to_have_count(2)
    expect(page.locator("#bulk-form")).to_be_hidden()
    statuses = dict(Draft.objects.values_list("pk", "status"))
    assert [statuses[draft.pk] for draft in drafts] == [
        "pending",
        "rejected",
        "rejected",
        "pending",
    ]
    assert (
        Draft.objects.get(pk=drafts[1].pk).reject_reason == "Not a fit for us: outside our market"
    )


def test_discard_all_possible_spam_on_the_page_asks_first(sessions):
    from pipeline.models import Draft

    make_reviewer("alice")
    spam = [make_waiting_draft(label="spam", score=5), make_waiting_draft(flags=["link_spam"])]
    keep = make_waiting_draft(score=90)
    page = sessions("alice").page
    button = page.locator("#discard-spam")
    expect(button).to_have_text("Discard all 2 possible spam on this page")
    page.once("dialog", lambda dialog: dialog.dismiss())
    button.click()
    page.wait_for_timeout(300)
    assert Draft.objects.filter(status="rejected").count() == 0
    page.once("dialog", lambda dialog: dialog.accept())
    button.click()
    expect(page.locator("#queue-status")).to_contain_text("Rejected 2 drafts.")
    expect(page.locator("#queue-rows tr.draft-row")).to_have_count(1)
    assert {d.pk for d in Draft.objects.filter(status="rejected")} == {d.pk for d in spam}
    assert Draft.objects.get(pk=keep.pk).status == "pending"


def test_a_snoozed_draft_leaves_the_queue_and_comes_back(sessions):
    from datetime import timedelta

    from django.utils import timezone

    from pipeline.models import Draft

    make_reviewer("alice")
    draft = make_waiting_draft(score=90)
    other = make_waiting_draft(score=10)
    page = sessions("alice").page
    page.click(f"#draft-row-{draft.pk} a.open-draft")
    panel_shows(page, draft)
    page.click("#snooze-box summary")
    page.click("#snooze-1h")
    expect(page.locator(f"#draft-row-{draft.pk}")).to_have_count(0)
    expect(page.locator("#queue-status")).to_contain_text("Snoozed until")
    panel_shows(page, other)
    Draft.objects.filter(pk=draft.pk).update(snoozed_until=timezone.now() - timedelta(seconds=1))
    page.goto("/")
    expect(page.locator(f"#draft-row-{draft.pk}")).to_be_visible()


def test_assign_to_me_and_saved_filters_and_label_counts(sessions):
    make_reviewer("alice")
    draft = make_waiting_draft(label="spam")
    make_waiting_draft(label="high_intent")
    page = sessions("alice").page
    expect(page.locator("#id_label option[value=spam]")).to_have_text("Spam (1)")
    page.click(f"#draft-row-{draft.pk} a.open-draft")
    panel_shows(page, draft)
    page.click("#assign-me-button")
    expect(page.locator(f"#draft-row-{draft.pk}")).to_contain_text("→ alice")

    page.goto("/?label=spam&mine=on")
    page.fill("#save-filter-name", "My spam")
    page.click("#save-filter-button")
    page.goto("/")
    page.get_by_role("link", name="My spam").click()
    expect(page).to_have_url(re.compile(r"label=spam"))
    expect(page.locator("#queue-rows tr.draft-row")).to_have_count(1)


def test_single_key_shortcuts_can_be_turned_off(sessions):
    make_reviewer("alice")
    draft = make_waiting_draft()
    page = sessions("alice").page
    page.keyboard.press("?")
    page.click("#shortcuts-off")
    expect(page.locator("#messages")).to_contain_text("Single-key shortcuts are off.")
    page.wait_for_load_state("load")
    page.keyboard.press("j")
    page.wait_for_timeout(300)
    expect(page.locator(f"#draft-panel #draft-{draft.pk}")).to_have_count(0)
    page.keyboard.press("?")  # still opens the list, where they can be turned on again
    page.click("#shortcuts-on")
    expect(page.locator("#messages")).to_contain_text("Single-key shortcuts are on.")
    page.wait_for_load_state("load")  # review.js (deferred) listens again
    page.keyboard.press("j")
    panel_shows(page, draft)
