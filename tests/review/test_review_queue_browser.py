"""The review queue's newer parts in headless Chromium: the `a` key and the undo window, flag
filters, the SLA mark, Undo without JavaScript, and axe plus widths on the pages the layout test
does not visit (run errors, unknown emails, the hosted form, unsubscribe, the no-JS pages)."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from pipeline.integrations import outbox
from pipeline.models import Draft, OutboundEmail, PipelineRun, StepRun, Submission, WebhookSource
from pipeline.unsubscribe import unsubscribe_url
from tests.browser import conftest as browser_conftest
from tests.browser.test_review_layout import serious_violations, sideways
from tests.factories import REVIEW_PASSWORD, make_lead, make_reviewer, make_waiting_draft

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The browser fixtures live beside the older browser tests; this file sits in tests/.
live_server = browser_conftest.live_server
browser = browser_conftest.browser
browser_settings = browser_conftest.browser_settings
sessions = browser_conftest.sessions
artifacts = browser_conftest.artifacts

KEY_DELAY_MS = 800  # review.js ignores action keys for 700 ms after a new draft appears


def panel_shows(page, draft):
    expect(page.locator(f"#draft-panel #draft-{draft.pk}")).to_be_visible()
    expect(page.locator("#draft-panel")).not_to_have_class(re.compile(r"htmx-(swapping|settling)"))


# Past the SLA on any day: ten days hold at least six working days.
LATE = timedelta(days=10)


def arrived_ago(draft: Draft, delta: timedelta) -> None:
    """The lead arrived and its draft has waited in review since `delta` ago.

    The SLA counts working time (Mon-Fri 9-17), so a row meant to be past it waits ten days:
    past two working hours whatever the day the test runs; one meant to be within it waits less
    than two hours of any time.
    """
    moment = timezone.now() - delta
    Submission.objects.filter(pk=draft.run.submission_id).update(received_at=moment)
    Draft.objects.filter(pk=draft.pk).update(created_at=moment)


# --- The `a` key never sends without the undo window ----------------------------------------


def test_without_an_undo_window_a_only_moves_to_approve_and_sends_nothing(sessions, settings):
    settings.REVIEW_UNDO_SECONDS = 0
    make_reviewer("alice")
    draft = make_waiting_draft(score=90)
    page = sessions("alice").page
    page.keyboard.press("?")
    expect(page.locator("#shortcuts")).to_contain_text("replies are sent at once here")
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    panel_shows(page, draft)
    page.wait_for_timeout(KEY_DELAY_MS)

    page.keyboard.press("a")
    expect(page.locator("#approve-button")).to_be_focused()
    page.wait_for_timeout(300)
    draft.refresh_from_db()
    assert draft.status == Draft.Status.PENDING
    assert StepRun.objects.get(run_id=draft.run_id, name="gate").status == "waiting"
    assert OutboundEmail.objects.count() == 0

    page.keyboard.press("Enter")  # a deliberate second key approves and sends
    expect(page.locator("#queue-clear")).to_be_visible()
    draft.refresh_from_db()
    assert draft.status == Draft.Status.APPROVED
    assert StepRun.objects.get(run_id=draft.run_id, name="send").status == "queued"


def test_with_the_undo_window_a_approves_and_undo_takes_it_back(sessions, settings):
    settings.REVIEW_UNDO_SECONDS = 10
    make_reviewer("alice")
    draft = make_waiting_draft(score=90)
    page = sessions("alice").page
    page.keyboard.press("j")
    panel_shows(page, draft)
    page.wait_for_timeout(KEY_DELAY_MS)
    page.keyboard.press("a")
    status = page.locator("#queue-status")
    expect(status).to_contain_text("sending in")
    draft.refresh_from_db()
    assert draft.status == Draft.Status.APPROVED and draft.send_at is not None
    assert StepRun.objects.get(run_id=draft.run_id, name="send").status == "pending"
    status.get_by_role("button", name="Undo").click()
    panel_shows(page, draft)
    expect(page.locator("#draft-status")).to_have_text("waiting for review")
    assert StepRun.objects.get(run_id=draft.run_id, name="gate").status == "waiting"


# --- Filters and the SLA ----------------------------------------------------------------------


def test_pick_a_flag_with_its_count_and_see_only_those_drafts(sessions):
    make_reviewer("alice")
    links = make_waiting_draft(score=90, flags=["link_spam", "free_email"])
    free = make_waiting_draft(score=80, flags=["free_email"])
    plain = make_waiting_draft(score=70)
    page = sessions("alice").page
    flag = page.locator("#id_flag")
    expect(flag).to_have_accessible_name("Flag")
    expect(flag.locator("option")).to_have_text(["Any flag", "Free email (2)", "Link spam (1)"])
    flag.select_option("link_spam")
    expect(page).to_have_url(re.compile(r"flag=link_spam"))
    expect(page.locator("#queue-rows tr.draft-row")).to_have_count(1)
    expect(page.locator(f"#draft-row-{links.pk}")).to_be_visible()
    flag.select_option("")
    expect(page.locator("#queue-rows tr.draft-row")).to_have_count(3)
    for draft in (free, plain):
        expect(page.locator(f"#draft-row-{draft.pk}")).to_be_visible()


@pytest.mark.parametrize("width", [390, 1440])
def test_a_row_past_the_sla_says_so_on_a_phone_and_a_desktop(sessions, settings, width):
    settings.REVIEW_SLA_WORKING_MINUTES = 120
    make_reviewer("alice")
    late = make_waiting_draft(score=90)
    fresh = make_waiting_draft(score=80)
    arrived_ago(late, LATE)
    page = sessions("alice").page
    page.set_viewport_size({"width": width, "height": 900})
    page.goto("/")
    mark = page.locator(f"#draft-row-{late.pk} .badge.sla")
    expect(mark).to_have_text("over SLA")
    expect(mark).to_be_in_viewport()
    expect(page.locator(f"#draft-row-{late.pk}")).to_have_class(re.compile(r"\bpast-sla\b"))
    expect(page.locator(f"#draft-row-{fresh.pk} .badge.sla")).to_have_count(0)
    # Not colour alone: the mark is a word, and it reads as a different colour from the age.
    colours = page.locator(f"#draft-row-{late.pk} td.age").evaluate(
        "cell => [getComputedStyle(cell).color, "
        "getComputedStyle(cell.querySelector('.badge.sla')).color]"
    )
    assert colours[0] != colours[1]


# --- Without JavaScript -----------------------------------------------------------------------


def no_js_page(browser, live_server, username: str):
    context = browser.new_context(
        base_url=live_server.url,
        java_script_enabled=False,
        viewport={"width": 1440, "height": 900},
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", REVIEW_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    return context, page


def test_without_javascript_approve_then_undo_from_the_queue(browser, live_server, settings):
    settings.REVIEW_UNDO_SECONDS = 30
    make_reviewer("alice")
    draft = make_waiting_draft(score=90)
    other = make_waiting_draft(score=80)
    context, page = no_js_page(browser, live_server, "alice")
    try:
        page.click(f"#draft-row-{draft.pk} a.open-draft")
        expect(page).to_have_url(re.compile(rf"/drafts/{draft.pk}/$"))
        page.click("#approve-button")
        expect(page).to_have_url(re.compile(r"/$"))
        expect(page.locator("#messages")).to_contain_text("Approved: sending in 30 s")
        offer = page.locator(f"#undoable-{draft.pk}")
        expect(offer).to_contain_text("Approved the reply to")
        expect(page.locator(f"#draft-row-{draft.pk}")).to_have_count(0)
        offer.get_by_role("button", name="Undo").click()

        expect(page.locator("#messages")).to_contain_text("Undone: nothing was sent")
        expect(page.locator(f"#draft-panel #draft-{draft.pk}")).to_be_visible()
        expect(page.locator(f"#undoable-{draft.pk}")).to_have_count(0)
        expect(page.locator(f"#draft-row-{other.pk}")).to_be_visible()
        draft.refresh_from_db()
        assert draft.status == Draft.Status.PENDING
        assert StepRun.objects.get(run_id=draft.run_id, name="gate").status == "waiting"
        assert OutboundEmail.objects.count() == 0
    finally:
        context.close()


# --- Every other page: axe, widths, screenshots --------------------------------------------


def make_other_pages() -> dict[str, str]:
    lead = make_lead(name="Hannah Lindqvist", email="hannah@lindqvist-consulting.example")
    draft = make_waiting_draft(lead=lead, score=70, flags=["free_email"])
    arrived_ago(draft, LATE)  # a row past the SLA
    for number in range(3):
        failed = make_waiting_draft(score=30 + number)
        StepRun.objects.filter(run_id=failed.run_id, name="crm_write").update(
            status=StepRun.Status.FAILED, error="CRMError: CRM webhook answered 503"
        )
        PipelineRun.objects.filter(pk=failed.run_id).update(status=PipelineRun.Status.FAILED)
    email, _ = outbox.queue_email(
        lead=lead, kind="first_reply", subject="Your question", body="Thanks.\n\nBest,\nSam"
    )
    OutboundEmail.objects.filter(pk=email.pk).update(
        state=OutboundEmail.State.UNKNOWN, error="interrupted while sending"
    )
    source = WebhookSource.objects.create(name="Website form", slug="website", secret="whsec_x")
    return {
        "queue-filtered": "/?flag=free_email&sort=oldest",
        "draft-edit": f"/drafts/{draft.pk}/edit/",
        "scoring-thresholds": "/scoring/?tab=thresholds",
        "scoring-profile": "/scoring/?tab=profile",
        "scoring-versions": "/scoring/?tab=versions",
        "scoring-calibration": "/scoring/?tab=calibration",
        "run-errors": "/runs/errors/",
        "unknown-emails": "/emails/unknown/",
        "form": f"/f/{source.slug}/",
        "form-thanks": f"/f/{source.slug}/thanks/",
        "unsubscribe": urlsplit(unsubscribe_url(lead.pk)).path,
    }


def test_the_other_pages_pass_axe_and_fit_every_width(sessions, artifacts, settings):
    settings.REVIEW_UNDO_SECONDS = 600
    settings.REVIEW_SLA_WORKING_MINUTES = 120
    make_reviewer("alice", is_superuser=True)
    pages = make_other_pages()
    # The queue as it looks right after an approval: the Undo offer and an over-SLA row.
    approved = make_waiting_draft(score=95)
    from django.contrib.auth.models import User

    from pipeline import actions

    actions.approve_draft(approved, by=User.objects.get(username="alice"), version=1)
    pages["queue-undo"] = "/"
    page = sessions("alice").page
    page.goto("/")
    expect(page.locator(f"#undoable-{approved.pk}")).to_be_visible()
    expect(page.locator(".badge.sla")).to_have_count(1)
    assert serious_violations(page, pages) == []
    assert sideways(page, pages, artifacts) == []


@pytest.mark.parametrize("width", [768, 1101, 1280, 1440])
def test_the_queue_table_stays_inside_its_column_beside_an_open_draft(sessions, settings, width):
    settings.REVIEW_SLA_WORKING_MINUTES = 120
    make_reviewer("alice")
    lead = make_lead(
        name="Maximiliana Oberländer-Vasconcelos",
        email="maximiliana.oberlaender-vasconcelos@very-long-company-domain.example",
        company="Oberländer Industrial Automation and Logistics Holding GmbH",
    )
    draft = make_waiting_draft(lead=lead, score=90, flags=["free_email", "link_spam"])
    arrived_ago(draft, LATE)
    page = sessions("alice").page
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"/drafts/{draft.pk}/")
    panel_shows(page, draft)
    edges = page.evaluate(
        """() => {
          const side = document.querySelector('.queue-side').getBoundingClientRect();
          const table = document.querySelector('table.queue').getBoundingClientRect();
          const name = document.querySelector('#queue-rows a.open-draft').closest('td')
            .getBoundingClientRect();
          return [table.right, side.right, name.width];
        }"""
    )
    assert edges[0] <= edges[1] + 1, f"the table ends at {edges[0]}, its column at {edges[1]}"
    if width >= 1280:
        assert edges[2] >= 140  # the name reads as words, not a column of letters


def test_the_no_javascript_confirmation_page_passes_axe_and_fits(
    browser, live_server, sessions, artifacts
):
    make_reviewer("alice")
    drafts = [make_waiting_draft(score=score) for score in (90, 80)]
    context, page = no_js_page(browser, live_server, "alice")
    try:
        for draft in drafts:
            page.check(f"#draft-row-{draft.pk} input.pick-box")
        page.select_option("#bulk-reason", "Not a fit for us")
        page.click("#bulk-reject")  # the bar is not hidden without JavaScript
        expect(page.get_by_role("heading", level=1)).to_contain_text("Reject")
        html = page.content()
    finally:
        context.close()
    assert Draft.objects.filter(status=Draft.Status.REJECTED).count() == 0  # it asks first
    page = sessions("alice").page
    page.goto("/runs/")  # same origin, so the page's stylesheet loads
    page.set_content(html)
    from axe_playwright_python.sync_playwright import Axe

    found = [
        violation["id"]
        for violation in Axe().run(page).response["violations"]
        if violation["impact"] in ("serious", "critical")
    ]
    assert found == []
    for width in (390, 768, 1280, 1440):
        page.set_viewport_size({"width": width, "height": 900})
        sizes = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert sizes[0] <= sizes[1], f"bulk-confirm at {width}px: {sizes}"
        if width in (390, 1440):
            page.screenshot(path=str(artifacts / f"bulk-confirm-{width}.png"), full_page=True)


# --- Non-text contrast, focus, skip link, shortcuts announced ---------------------------------

CONTRAST = """selector => {
  const rgb = text => text.match(/[\\d.]+/g).map(Number);
  const luminance = ([r, g, b]) => {
    const [R, G, B] = [r, g, b].map(v => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * R + 0.7152 * G + 0.0722 * B;
  };
  const background = element => {
    for (; element; element = element.parentElement) {
      const colour = rgb(getComputedStyle(element).backgroundColor);
      if (colour.length < 4 || colour[3] > 0) return colour;
    }
    return [255, 255, 255];
  };
  return Array.from(document.querySelectorAll(selector))
    .filter(element => element.getClientRects().length)
    .filter(element => parseFloat(getComputedStyle(element).borderTopWidth) > 0)
    .map(element => {
      const a = luminance(rgb(getComputedStyle(element).borderTopColor));
      const b = luminance(background(element.parentElement));
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      return [element.id || element.name || element.textContent.trim(), ratio];
    });
}"""
CONTROLS = (
    "input[type=text], input[type=search], input[type=datetime-local], select, textarea, button"
)


def test_controls_have_3_to_1_borders_a_focus_ring_a_skip_link_and_announced_keys(
    sessions, settings
):
    settings.REVIEW_UNDO_SECONDS = 10
    make_reviewer("alice")
    draft = make_waiting_draft(score=90)
    make_waiting_draft(score=80)
    page = sessions("alice").page
    page.goto(f"/drafts/{draft.pk}/")
    panel_shows(page, draft)
    page.click("#reject-box summary")  # the reason picker and note are controls too
    page.click("#snooze-box summary")
    borders = page.evaluate(CONTRAST, CONTROLS)
    assert len(borders) > 10
    assert [(name, round(ratio, 2)) for name, ratio in borders if ratio < 3] == []

    # The first Tab reaches the skip link, which takes the keyboard past the navigation.
    page.goto("/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to the content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    focused = page.evaluate(
        """() => {
          const element = document.activeElement;
          const style = getComputedStyle(element);
          return [Boolean(element.closest('main')), style.outlineStyle,
                  parseFloat(style.outlineWidth)];
        }"""
    )
    assert focused[0] is True, "Tab after the skip link stays in the navigation"
    assert focused[1] != "none" and focused[2] >= 2, f"no visible focus ring: {focused}"

    # Screen readers hear the keys: the help button describes them, the buttons name theirs.
    expect(page.get_by_role("button", name="Shortcuts")).to_have_accessible_description(
        re.compile(r"a approves with 10 seconds to undo")
    )
    page.click(f"#draft-row-{draft.pk} a.open-draft")
    panel_shows(page, draft)
    expect(page.locator("#approve-button")).to_have_attribute("aria-keyshortcuts", "a")
