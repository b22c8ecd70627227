"""The dashboard in a real browser: switch the period (htmx), follow a chart bar to its list."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from pipeline.models import PipelineRun, Submission
from tests.factories import make_lead, make_reviewer, make_submission

pytestmark = pytest.mark.django_db(transaction=True)


def received(days_ago: int, label: str) -> None:
    lead = make_lead(label=label)
    submission = make_submission(lead)
    Submission.objects.filter(pk=submission.pk).update(
        received_at=timezone.now() - timedelta(days=days_ago)
    )
    PipelineRun.objects.create(
        lead=lead, submission=submission, pipeline_name="lead", pipeline_version=1
    )


def test_switch_the_period_and_follow_a_bar_to_its_leads(sessions, artifacts):
    make_reviewer("dana")
    received(0, "high_intent")
    received(1, "spam")
    received(12, "spam")
    received(20, "spam")
    session = sessions("dana")
    page = session.page

    page.goto("/dashboard/")
    expect(page.locator("#leads-per-day h2")).to_have_text("Leads received: 2")
    expect(page.locator('[data-period="7d"]')).to_have_attribute("aria-current", "true")

    page.click('[data-period="30d"]')
    expect(page.locator("#leads-per-day h2")).to_have_text("Leads received: 4")
    expect(page.locator('[data-period="30d"]')).to_have_attribute("aria-current", "true")
    expect(page).to_have_url(re.compile(r"/dashboard/\?period=30d$"))
    page.screenshot(path=str(artifacts / "dashboard-30d.png"), full_page=True)

    page.locator('#label-mix svg a.bar-link[data-label="spam"] rect').click()
    expect(page).to_have_url(re.compile(r"/leads/\?label=spam&since=.*&until=.*"))
    expect(page.locator("form.filters .muted")).to_have_text("3 leads")
    expect(page.locator("#list-filter")).to_contain_text("Received from")
