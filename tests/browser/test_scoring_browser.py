"""The scoring page in a real browser: an admin edits a criterion, previews, saves, re-scores
the waiting drafts, and the queue shows the new scores."""

import pytest
from playwright.sync_api import expect

from pipeline.models import RescoreJob, ScoringConfig
from pipeline.scoring.rescore import run_rescore_job
from tests.factories import make_reviewer, make_waiting_draft

pytestmark = pytest.mark.django_db(transaction=True)

CRITERIA = [
    {
        "key": "germany",
        "label": "Based in Germany",
        "points": 10,
        "check": "country_in",
        "params": {"values": ["DE"]},
    },
    {"key": "phone", "label": "Phone number given", "points": 10, "check": "phone_given"},
]


def test_an_admin_edits_previews_saves_and_the_queue_shows_the_new_scores(sessions, artifacts):
    make_reviewer("ada", group="Admins")
    start = ScoringConfig.objects.create(criteria=CRITERIA, auto_send_labels=[], note="start")
    # Stored as decided with 50 (Germany met, no phone): the what-if and re-score reuse it.
    draft = make_waiting_draft(score=50)
    session = sessions("ada")
    page = session.page

    page.goto("/scoring/")
    expect(page.locator("#points-total")).to_have_text("20")
    points = page.locator("#id_criteria-1-points")
    points.fill("-10")  # a phone number now counts against a lead
    expect(page.locator("#points-total")).to_have_text("10")

    page.click("#preview-button")
    moves = page.locator("#preview-moves")
    expect(moves).to_be_visible()
    expect(page.locator("#preview")).to_contain_text("What-if on the last 1 decided leads")
    expect(page.locator("#preview-moved")).to_contain_text("100")
    page.screenshot(path=str(artifacts / "scoring-preview.png"), full_page=True)
    assert ScoringConfig.objects.count() == 1  # the preview saved nothing

    page.fill("#id_note", "Phone numbers are a bad sign")
    page.click("#save-criteria")
    # A version is its row's id, which other transactional tests may have advanced.
    expect(page.locator("#messages")).to_contain_text("Saved as version ")
    saved = ScoringConfig.current()
    assert saved.version > start.version
    expect(page.locator("#messages")).to_contain_text(f"Saved as version {saved.version}.")
    assert saved.criteria[1]["points"] == -10 and saved.note == "Phone numbers are a bad sign"

    page.click("#rescore-button")
    expect(page.locator("#rescore-job progress")).to_be_visible()
    run_rescore_job(RescoreJob.objects.get().pk)  # what the django-q2 worker does
    expect(page.locator("#rescore-result")).to_contain_text("Re-scored 1 waiting drafts")

    page.goto("/")
    expect(page.locator(f"#draft-row-{draft.pk} .score")).to_have_text("100")
