"""Every staff page at phone, tablet, laptop and desktop widths, and checked by axe-core."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from pipeline.models import Lead, PipelineRun, StepRun
from tests.factories import make_lead, make_reviewer, make_waiting_draft

pytestmark = pytest.mark.django_db(transaction=True)

WIDTHS = (390, 768, 1280, 1440)
SCREENSHOT_WIDTHS = (390, 1440)


def make_pages() -> dict[str, str]:
    """Realistic rows on every page: long names, flags, a failed run, a sent reply."""
    lead = make_lead(
        name="Maximiliana Oberländer-Vasconcelos",
        email="maximiliana.oberlaender-vasconcelos@very-long-company-domain.example",
        company="Oberländer Industrial Automation and Logistics Holding GmbH",
    )
    Lead.objects.filter(pk=lead.pk).update(crm_url="/admin/pipeline/contact/1/change/")
    draft = make_waiting_draft(lead=lead, score=71, flags=["free_email", "link_spam"])
    for number in range(6):
        make_waiting_draft(
            score=40 + number, label=["high_intent", "low_intent", "spam"][number % 3]
        )
    failed = make_waiting_draft()
    StepRun.objects.filter(run_id=failed.run_id, name="crm_write").update(
        status=StepRun.Status.FAILED, error="HubSpot answered 503: " + "x" * 300
    )
    PipelineRun.objects.filter(pk=failed.run_id).update(status=PipelineRun.Status.FAILED)
    return {
        "queue": "/",
        "draft": f"/drafts/{draft.pk}/",
        "leads": "/leads/",
        "lead": f"/leads/{lead.pk}/",
        "runs": "/runs/",
        "run": f"/runs/{failed.run_id}/",
        "scoring": "/scoring/",
    }


def sideways(page, pages, artifacts) -> list[str]:
    too_wide = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for name, path in pages.items():
            page.goto(path)
            sizes = page.evaluate(
                "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            if sizes[0] > sizes[1]:
                too_wide.append(f"{name} at {width}px: {sizes[0]} > {sizes[1]}")
            if width in SCREENSHOT_WIDTHS:
                page.screenshot(path=str(artifacts / f"{name}-{width}.png"), full_page=True)
    return too_wide


def serious_violations(page, pages) -> list[str]:
    axe = Axe()
    found = []
    for name, path in pages.items():
        page.goto(path)
        for violation in axe.run(page).response["violations"]:
            if violation["impact"] in ("serious", "critical"):
                targets = [node["target"] for node in violation["nodes"]][:3]
                found.append(f"{name}: {violation['id']} ({violation['impact']}) {targets}")
    return found


def test_the_dashboard_fits_every_width_and_passes_axe(sessions, artifacts):
    make_reviewer("alice", is_superuser=True)
    make_pages()
    page = sessions("alice").page
    pages = {"dashboard": "/dashboard/"}
    assert sideways(page, pages, artifacts) + serious_violations(page, pages) == []


def test_no_staff_page_scrolls_sideways_at_any_width(sessions, artifacts):
    make_reviewer("alice", is_superuser=True)
    pages = make_pages()
    page = sessions("alice").page
    assert sideways(page, pages, artifacts) == []


def test_on_a_phone_the_queue_is_cards_and_a_draft_opens_full_screen(sessions, artifacts):
    make_reviewer("alice")
    draft = make_waiting_draft(score=88, flags=["free_email"])
    page = sessions("alice").page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    row = page.locator(f"#draft-row-{draft.pk}")
    for cell in (".score", ".age"):
        expect(row.locator(cell)).to_be_in_viewport()
    expect(row.locator(".badge.flag")).to_be_in_viewport()
    row.locator("a.open-draft").click()
    expect(page.locator(f"#draft-panel #draft-{draft.pk}")).to_be_visible()
    panel = page.locator("#draft-panel").bounding_box()
    assert (panel["x"], panel["y"], panel["width"]) == (0, 0, 390)
    approve = page.locator("#approve-button").bounding_box()
    assert approve["y"] > 844 - 120  # at the bottom, where a thumb reaches
    page.screenshot(path=str(artifacts / "draft-phone-390.png"))
    page.get_by_role("link", name="← Back to the queue").click()
    expect(row).to_be_in_viewport()


def test_every_page_passes_axe_without_serious_or_critical_violations(sessions):
    make_reviewer("alice", is_superuser=True)
    pages = make_pages()
    page = sessions("alice").page
    assert serious_violations(page, pages) == []


def test_the_login_page_passes_axe(browser, live_server):
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.goto("/login/")
    violations = [
        violation["id"]
        for violation in Axe().run(page).response["violations"]
        if violation["impact"] in ("serious", "critical")
    ]
    context.close()
    assert violations == []


def test_the_hosted_forms_phone_field_looks_like_its_other_fields(browser, live_server):
    from pipeline.models import WebhookSource

    WebhookSource.objects.create(name="Website form", slug="website", secret="whsec_x")
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.goto("/f/website/")
    style = "field => [getComputedStyle(field).borderTopColor, getComputedStyle(field).width]"
    phone = page.locator("input[type=tel]").evaluate(style)
    email = page.locator("input[type=email]").evaluate(style)
    context.close()
    assert phone == email
