"""The dashboard's figures for a period: what staff read in the tables, and where bars lead."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.utils import timezone

from pipeline.models import Draft, DraftRevision, PipelineRun, StepRun, Submission, WebhookSource
from tests.factories import make_lead, make_reviewer, make_submission

pytestmark = pytest.mark.django_db

PERIOD = "/dashboard/?period=custom&start=2026-03-02&end=2026-03-04"


def at(day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def received(when: datetime, *, label: str = "high_intent", **submission) -> PipelineRun:
    lead = make_lead(label=label)
    sub = make_submission(lead, **submission)
    Submission.objects.filter(pk=sub.pk).update(received_at=when)
    run = PipelineRun.objects.create(
        lead=lead, submission=sub, pipeline_name="lead", pipeline_version=1, status="running"
    )
    PipelineRun.objects.filter(pk=run.pk).update(created_at=when)
    run.refresh_from_db()
    return run


def step(run: PipelineRun, name: str, status: str = "succeeded", **fields) -> StepRun:
    fields.setdefault("finished_at", run.created_at + timedelta(seconds=2))
    return StepRun.objects.create(run=run, name=name, status=status, **fields)


def finish(run: PipelineRun, after_seconds: float, status: str = "succeeded") -> None:
    PipelineRun.objects.filter(pk=run.pk).update(
        status=status, finished_at=run.created_at + timedelta(seconds=after_seconds)
    )


def draft(run: PipelineRun, *, status: str, by=None, queue_seconds: float = 0, edited=False):
    row = Draft.objects.create(
        lead=run.lead,
        run=run,
        subject="Hello",
        body="Hi",
        status=status,
        decided_by=by,
        decided_at=run.created_at + timedelta(seconds=queue_seconds)
        if status != "pending"
        else None,
    )
    Draft.objects.filter(pk=row.pk).update(created_at=run.created_at)
    DraftRevision.objects.create(draft=row, number=1, subject="Hello", body="Hi")
    if edited:
        DraftRevision.objects.create(draft=row, number=2, subject="Hello", body="Hi!", author=by)
    return row


@pytest.fixture(autouse=True)
def fresh_figures():
    """Each request computes its figures: the minute-long cache is tested on its own."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def reviewer(client):
    user = make_reviewer()
    client.force_login(user)
    return user


@pytest.fixture
def week(reviewer):
    """Four leads over three days, one from a named webhook source, one trapped bot."""
    source = WebhookSource.objects.create(name="Website", slug="website", secret="whsec_x")
    first = received(at(2), source=source)
    second = received(at(2, 15))
    third = received(at(3), label="spam", channel="form")
    fourth = received(at(4), label="")
    bot = make_submission(make_lead(), is_trapped=True)
    Submission.objects.filter(pk=bot.pk).update(received_at=at(3))
    outside = received(at(6))  # after the period

    for run, classify_ms in ((first, 100), (second, 200), (third, 300), (fourth, 400)):
        step(
            run,
            "classify",
            duration_ms=classify_ms,
            strategy="claude",
            model="claude-haiku-5-5",
            input_tokens=1000,
            output_tokens=100,
            cache_read_tokens=800 if run is not first else 0,
            cost_usd=Decimal("0.010000"),
            finished_at=run.created_at + timedelta(seconds=1),
        )
    step(first, "draft", duration_ms=2000)
    step(second, "draft", duration_ms=4000, fallback_reason="model output failed validation")
    step(first, "send", duration_ms=50)
    step(
        third,
        "enrich",
        "failed",
        attempt=3,
        error="EnrichmentError: https://acme.example answered 503",
        finished_at=third.created_at,
    )
    step(fourth, "crm_write", "failed", attempt=1, error="CRMError: HubSpot answered 401")
    finish(first, 60)
    finish(third, 5, "failed")
    draft(first, status="approved")  # auto-sent
    draft(second, status="approved", by=reviewer, queue_seconds=600, edited=True)
    draft(fourth, status="rejected", by=reviewer, queue_seconds=1200)
    step(outside, "classify", duration_ms=9999)
    return {"first": first, "second": second, "third": third, "fourth": fourth}


def section(html: str, anchor: str) -> str:
    start = html.index(f'id="{anchor}"')
    end = html.find("</section>", start)
    return html[start:end]


def table_rows(html: str) -> list[list[str]]:
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        rows.append([unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in cells])
    return rows


def test_leads_per_day_count_the_submissions_received_that_day(client, week):
    html = client.get(PERIOD).content.decode()
    rows = table_rows(section(html, "leads-per-day"))
    assert rows[1:] == [["Mon 02", "2"], ["Tue 03", "1"], ["Wed 04", "1"]]
    assert "Leads received: 4" in html


def test_leads_per_source_name_the_webhook_source_or_the_channel(client, week):
    rows = table_rows(section(client.get(PERIOD).content.decode(), "leads-per-source"))
    assert sorted(rows[1:]) == [["Website", "1"], ["via form", "1"], ["via webhook", "2"]]


def test_the_funnel_counts_runs_past_each_stage_with_rates(client, week):
    rows = table_rows(section(client.get(PERIOD).content.decode(), "funnel"))
    assert rows[1:] == [
        ["received", "4", "100%", "–"],
        ["classified", "4", "100%", "100%"],
        ["drafted", "2", "50%", "50%"],
        ["sent", "1", "25%", "50%"],
        ["replied", "0", "0%", "0%"],
    ]


def test_the_funnel_counts_leads_who_replied(client, week):
    from pipeline.models import Lead

    in_period = Submission.objects.filter(received_at__date=at(2).date(), is_trapped=False)
    Lead.objects.filter(pk=in_period.first().lead_id).update(replied_at=timezone.now())

    rows = table_rows(section(client.get(PERIOD).content.decode(), "funnel"))
    assert rows[-1] == ["replied", "1", "25%", "100%"]


def test_the_label_mix_counts_leads_received_in_the_period(client, week):
    rows = table_rows(section(client.get(PERIOD).content.decode(), "label-mix"))
    assert sorted(rows[1:]) == [["high intent", "2"], ["spam", "1"], ["unlabelled", "1"]]


def test_auto_sent_reviewed_and_reviewer_outcomes_with_time_in_queue(client, week):
    html = client.get(PERIOD).content.decode()
    share = section(html, "review-share")
    assert "33% auto-sent" in share
    assert table_rows(share)[1:] == [["auto-sent", "1"], ["reviewed", "2"], ["waiting", "0"]]
    outcomes = section(html, "reviewer-outcomes")
    assert table_rows(outcomes)[1:4] == [
        ["approved unedited", "0"],
        ["edited", "1"],
        ["rejected", "1"],
    ]
    # Nearest rank over 600 s and 1200 s: the median is the first, p90 the second.
    assert "Time in queue, median</dt><dd>10 min 0 s" in outcomes
    assert "Time in queue, p90</dt><dd>20 min 0 s" in outcomes


def test_latency_per_step_and_end_to_end_use_percentiles(client, week):
    html = section(client.get(PERIOD).content.decode(), "steps")
    rows = {row[0]: row for row in table_rows(html)[1:] if len(row) == 7}
    # classify took 100, 200, 300 and 400 ms: nearest-rank p50 is 200, p95 is 400.
    assert rows["classify"][1:4] == ["4", "200 ms", "400 ms"]
    assert rows["draft"][1:4] == ["2", "2.0 s", "4.0 s"]
    assert "median <strong>1 min 0 s</strong>" in html


def test_failures_retries_and_fallbacks_by_step_and_by_error(client, week):
    html = section(client.get(PERIOD).content.decode(), "steps")
    rows = {row[0]: row for row in table_rows(html)[1:] if len(row) == 7}
    assert rows["enrich"][4:] == ["1", "1", "0"]
    assert rows["draft"][4:] == ["0", "0", "1"]
    assert rows["crm_write"][4:] == ["1", "0", "0"]
    errors = table_rows(html[html.index('id="errors"') :])
    assert ["enrich", "EnrichmentError: https://acme.example answered 503", "1"] in errors
    assert ["crm_write", "CRMError: HubSpot answered 401", "1"] in errors


def test_claude_calls_tokens_cache_hits_and_cost_per_day_against_the_cap(client, week, settings):
    settings.LLM_DAILY_SPEND_CAP_USD = 0.04
    html = section(client.get(PERIOD).content.decode(), "claude")
    assert "4 calls, 4000 input and 400 output tokens, 3 cache hits" in html
    assert "$0.0400</strong>, $0.0100 per lead" in html
    rows = table_rows(html)
    assert rows[1] == ["Mon 2 Mar", "2", "2000", "200", "1", "$0.0200", "50%"]
    assert 'class="cap-line"' in html


def test_an_empty_period_shows_zeros_and_says_so(client, reviewer):
    html = client.get("/dashboard/?period=custom&start=2020-01-01&end=2020-01-02").content.decode()
    assert "Leads received: 0" in html
    assert "Nothing in this period." in html
    assert "No runs in this period." in html
    assert "no decisions" in html


def test_days_are_local_days(client, reviewer, settings):
    settings.TIME_ZONE = "America/New_York"
    # 03:30 UTC on the 3rd is 22:30 on the 2nd in New York.
    received(at(3, 3, 30))
    received(at(3, 5, 30))
    html = client.get("/dashboard/?period=custom&start=2026-03-02&end=2026-03-03").content.decode()
    assert table_rows(section(html, "leads-per-day"))[1:] == [["Mon 02", "1"], ["Tue 03", "1"]]
    html = client.get("/dashboard/?period=custom&start=2026-03-03&end=2026-03-03").content.decode()
    assert "Leads received: 1" in html


def test_a_bar_links_to_the_list_with_the_same_rows(client, week):
    html = client.get(PERIOD).content.decode()
    by_label = {}
    for href, label in re.findall(
        r'<a href="([^"]+)" class="bar-link"[^>]*data-label="([^"]+)"', html
    ):
        by_label.setdefault(label, unescape(href))  # the first chart with this label
    leads = client.get(by_label["Mon 02"]).content.decode()
    assert "2 leads" in leads
    website = client.get(by_label["Website"]).content.decode()
    assert "1 lead<" in website and week["first"].lead.name in website
    via_webhook = client.get(by_label["via webhook"]).content.decode()
    assert "2 leads<" in via_webhook and week["fourth"].lead.name in via_webhook
    spam = client.get(by_label["spam"]).content.decode()
    assert "1 lead<" in spam and week["third"].lead.name in spam
    # The latency chart comes before the failures chart; the failures table links the same way.
    steps_html = section(html, "steps")
    failed_href = re.search(r'data-step="enrich".*?<a href="([^"]+)"', steps_html, re.S).group(1)
    failed = client.get(unescape(failed_href)).content.decode()
    assert "1 run," in failed and f"#{week['third'].pk}<" in failed
    edited = client.get(by_label["edited"]).content.decode()
    assert "1 lead<" in edited and week["second"].lead.name in edited


def test_the_funnel_sent_link_lists_runs_whose_send_step_succeeded(client, week):
    rows = section(client.get(PERIOD).content.decode(), "funnel")
    href = unescape(re.search(r'data-stage="sent".*?<a href="([^"]+)"', rows, re.S).group(1))
    runs = client.get(href).content.decode()
    assert "1 run," in runs and f"#{week['first'].pk}<" in runs


def test_switching_the_period_with_htmx_answers_the_fragment(client, week):
    response = client.get("/dashboard/?period=30d", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="period-figures">')
    assert 'aria-current="true" data-period="30d"' in html
    assert "<html" not in html and 'id="agents"' not in html


def test_an_impossible_custom_period_falls_back_with_a_message(client, reviewer):
    html = client.get("/dashboard/?period=custom&start=2026-03-05&end=2026-03-01").content.decode()
    assert "The end date is before the start date." in html
    assert 'aria-current="true" data-period="7d"' in html


def test_the_page_has_no_inline_style_or_script(client, week):
    html = client.get(PERIOD).content.decode()
    assert "style=" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "Content-Security-Policy" in client.get(PERIOD).headers


def test_the_query_count_does_not_grow_with_the_data(
    client, week, django_assert_num_queries, settings
):
    from review.models import DashboardDay

    # No cache: the count is the page's own queries, whatever backend the cache uses.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    client.get(PERIOD)  # warm the session and the spend cache; stores the three closed days
    assert DashboardDay.objects.count() == 3
    # Stored days: one query reads them, one counts the errors.
    with django_assert_num_queries(14) as counted:
        client.get(PERIOD)
    DashboardDay.objects.all().delete()
    # Nothing stored: one pass of seven queries computes the days, one stores them.
    with django_assert_num_queries(22) as cold:
        client.get(PERIOD)
    for day in (2, 3, 4):
        for _ in range(3):
            run = received(at(day, 9))
            step(run, "classify", duration_ms=5)
    with django_assert_num_queries(len(counted)):
        client.get(PERIOD)
    DashboardDay.objects.all().delete()
    with django_assert_num_queries(len(cold)):
        client.get(PERIOD)


def test_a_stored_day_is_read_back_until_the_cluster_rebuilds_it(client, reviewer):
    from review.dashboard import rebuild_days
    from review.models import DashboardDay

    yesterday = timezone.localdate() - timedelta(days=1)
    noon = timezone.make_aware(datetime.combine(yesterday, datetime.min.time())) + timedelta(
        hours=12
    )
    run = received(noon)
    pending = draft(run, status="pending")
    url = f"/dashboard/?period=custom&start={yesterday}&end={yesterday}"
    share = section(client.get(url).content.decode(), "review-share")
    assert table_rows(share)[1:] == [["auto-sent", "0"], ["reviewed", "0"], ["waiting", "1"]]
    assert DashboardDay.objects.filter(day=yesterday).exists()

    # Decided today: the stored day still says waiting, until its turn in the rotation.
    Draft.objects.filter(pk=pending.pk).update(
        status="rejected", decided_by=reviewer, decided_at=noon + timedelta(hours=1)
    )
    from django.core.cache import cache

    cache.clear()
    share = section(client.get(url).content.decode(), "review-share")
    assert table_rows(share)[1:] == [["auto-sent", "0"], ["reviewed", "0"], ["waiting", "1"]]
    assert yesterday in rebuild_days(30)
    cache.clear()
    share = section(client.get(url).content.decode(), "review-share")
    assert table_rows(share)[1:] == [["auto-sent", "0"], ["reviewed", "1"], ["waiting", "0"]]
    outcomes = section(client.get(url).content.decode(), "reviewer-outcomes")
    assert "Time in queue, median</dt><dd>1 h 0 min" in outcomes


def test_the_rotation_rebuilds_the_days_stored_longest_ago_first():
    from review.dashboard import rebuild_days
    from review.models import DashboardDay

    today = timezone.localdate()
    first = rebuild_days(3)
    assert first == [today - timedelta(days=offset) for offset in (1, 2, 3)]
    assert DashboardDay.objects.count() == 3
    # The 27 days never stored come next, then the oldest of the first three.
    for _ in range(9):
        rebuild_days(3)
    assert DashboardDay.objects.count() == 30
    assert rebuild_days(1) == [today - timedelta(days=1)]


def test_latency_histograms_keep_two_significant_digits():
    from review.dashboard import two_digits

    assert [two_digits(value) for value in (7, 99, 100, 104, 105, 1234, 1250, 98765)] == [
        7,
        99,
        100,
        100,
        110,
        1200,
        1300,
        99000,
    ]


def test_percentiles_of_stored_days_match_the_live_ones_to_two_digits(client, reviewer):
    """The same steps, counted once as today (live) and once as a stored day."""
    from django.core.cache import cache

    today = timezone.localdate()
    noon_today = timezone.make_aware(datetime.combine(today, datetime.min.time())) + timedelta(
        hours=12
    )
    for days_ago in (0, 1):
        run = received(noon_today - timedelta(days=days_ago))
        for name, duration in (("classify", 1234), ("draft", 87), ("send", 4567)):
            step(run, name, duration_ms=duration)
    live = section(client.get("/dashboard/?period=today").content.decode(), "steps")
    yesterday = today - timedelta(days=1)
    cache.clear()
    url = f"/dashboard/?period=custom&start={yesterday}&end={yesterday}"
    stored = section(client.get(url).content.decode(), "steps")
    rows_live = {row[0]: row[1:4] for row in table_rows(live)[1:] if len(row) == 7}
    rows_stored = {row[0]: row[1:4] for row in table_rows(stored)[1:] if len(row) == 7}
    assert rows_live == rows_stored
    assert rows_stored["classify"] == ["1", "1.2 s", "1.2 s"]
    assert rows_stored["draft"] == ["1", "87 ms", "87 ms"]


def test_the_cluster_refreshes_the_figures_the_page_reads_back(client, reviewer):
    from review.dashboard import refresh_standard_periods

    received(timezone.now())
    first = client.get("/dashboard/?period=today").content.decode()
    assert "Leads received: 1" in first and "figures as of" in first
    received(timezone.now())
    assert "Leads received: 1" in client.get("/dashboard/?period=today").content.decode()
    refresh_standard_periods()  # what the worker cluster does every minute
    assert "Leads received: 2" in client.get("/dashboard/?period=today").content.decode()
    # It also stored the closed days of the month, so a cold render reads them back.
    from review.models import DashboardDay

    yesterday = timezone.localdate() - timedelta(days=1)
    assert DashboardDay.objects.filter(day=yesterday).exists()
    assert DashboardDay.objects.count() == 29


def test_figures_older_than_two_minutes_are_computed_on_the_request(client, reviewer):
    from django.core.cache import cache

    from review.dashboard import _cache_key, parse_period

    received(timezone.now())
    client.get("/dashboard/?period=today")
    key = _cache_key(parse_period({"period": "today"})[0])
    figures = cache.get(key)
    figures["computed_at"] -= timedelta(minutes=3)
    cache.set(key, figures)
    received(timezone.now())
    assert "Leads received: 2" in client.get("/dashboard/?period=today").content.decode()


def test_migrate_schedules_the_refresh_every_minute():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="leadops-dashboard-figures")
    assert schedule.func == "review.dashboard.refresh_standard_periods"
    assert (schedule.schedule_type, schedule.minutes) == (Schedule.MINUTES, 1)


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(PERIOD)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_spend_cap_section_reads_the_setting(client, reviewer, settings):
    settings.LLM_DAILY_SPEND_CAP_USD = 0
    html = section(client.get("/dashboard/?period=today").content.decode(), "claude")
    assert "Daily cap" not in html and 'class="cap-line"' not in html
    assert timezone.localdate().strftime("%a %-d %b") in html


def test_every_chart_bar_is_a_named_link_outside_any_image_role(client, week):
    html = client.get(PERIOD).content.decode()
    charts = re.findall(r"<svg[^>]*>.*?</svg>", html, re.S)
    assert charts and all('role="img"' not in chart.split(">", 1)[0] for chart in charts)
    links = re.findall(r'<a href="[^"]+" class="bar-link"[^>]*>', html)
    assert links and all(re.search(r'aria-label="[^"]+: [^"]+"', link) for link in links)
    assert 'aria-label="Mon 02: 2"' in html


def test_stored_days_belong_to_their_time_zone_and_follow_daylight_saving(
    client, reviewer, settings
):
    from django.core.cache import cache

    # New York moves to daylight time at 02:00 on Sunday 8 March 2026 (a 23-hour day).
    received(at(8, 4, 30))  # 23:30 on Saturday the 7th in New York, the 8th in UTC
    received(at(9, 3, 30))  # 23:30 on Sunday the 8th in New York (UTC-4 by then)
    received(at(9, 4, 30))  # 00:30 on Monday the 9th in New York
    url = "/dashboard/?period=custom&start=2026-03-07&end=2026-03-09"
    in_utc = table_rows(section(client.get(url).content.decode(), "leads-per-day"))[1:]
    assert in_utc == [["Sat 07", "0"], ["Sun 08", "1"], ["Mon 09", "2"]]
    settings.TIME_ZONE = "America/New_York"
    cache.clear()
    in_new_york = table_rows(section(client.get(url).content.decode(), "leads-per-day"))[1:]
    assert in_new_york == [["Sat 07", "1"], ["Sun 08", "1"], ["Mon 09", "1"]]
