"""Failed runs: grouped by error, retried in bulk; rerun from a step; cancel; the timeline."""

import pytest

from pipeline.models import PipelineRun, ReviewAction, StepRun
from tests.factories import make_reviewer, make_waiting_draft

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewer_client(client):
    client.force_login(make_reviewer())
    return client


def make_failed_run(step: str = "crm_write", error: str = "CRMError: HubSpot answered 503"):
    draft = make_waiting_draft()
    run = PipelineRun.objects.get(pk=draft.run_id)
    StepRun.objects.filter(run=run, name=step).update(status=StepRun.Status.FAILED, error=error)
    PipelineRun.objects.filter(pk=run.pk).update(status=PipelineRun.Status.FAILED)
    return run


def test_failed_runs_are_grouped_by_step_and_error(reviewer_client):
    make_failed_run(error="CRMError: HubSpot answered 503 (request 1)")
    make_failed_run(error="CRMError: HubSpot answered 503 (request 1)")
    make_failed_run(step="draft", error="LLMError: overloaded")
    html = reviewer_client.get("/runs/errors/").content.decode()
    rows = html.split('class="error-group"')[1:]
    assert len(rows) == 2
    assert 'data-step="crm_write"' in rows[0] and ">2</a>" in rows[0]
    assert 'data-step="draft"' in rows[1] and ">1</a>" in rows[1]
    assert "Retry every run that failed with this error" in rows[0]


def test_retry_every_run_that_failed_with_this_error(reviewer_client):
    first = make_failed_run()
    second = make_failed_run()
    other = make_failed_run(error="CRMError: HubSpot answered 401")
    response = reviewer_client.post(
        "/runs/errors/retry/",
        {"step": "crm_write", "error": "CRMError: HubSpot answered 503"},
        follow=True,
    )
    assert "Retrying 2 runs." in response.content.decode()
    statuses = dict(PipelineRun.objects.values_list("pk", "status"))
    assert statuses[first.pk] == statuses[second.pk] == PipelineRun.Status.RUNNING
    assert statuses[other.pk] == PipelineRun.Status.FAILED
    assert StepRun.objects.get(run=first, name="crm_write").status == StepRun.Status.QUEUED
    assert ReviewAction.objects.filter(action="retry").count() == 2


def test_a_second_bulk_retry_finds_nothing_left(reviewer_client):
    make_failed_run()
    form = {"step": "crm_write", "error": "CRMError"}
    reviewer_client.post("/runs/errors/retry/", form)
    response = reviewer_client.post("/runs/errors/retry/", form, follow=True)
    assert "No failed run matches this error any more." in response.content.decode()


def test_bulk_retry_needs_the_reviewer_permission(client):
    client.force_login(make_reviewer(group=""))
    run = make_failed_run()
    response = client.post("/runs/errors/retry/", {"step": "crm_write", "error": "CRMError"})
    assert response.status_code == 403
    assert PipelineRun.objects.get(pk=run.pk).status == PipelineRun.Status.FAILED


def make_parallel_run():
    """classify, then enrich (third attempt, after a short backoff) beside score_form."""
    from datetime import timedelta

    from django.utils import timezone

    from tests.factories import make_lead

    origin = timezone.now() - timedelta(minutes=5)
    run = PipelineRun.objects.create(
        lead=make_lead(), pipeline_name="lead", pipeline_version=1, status="failed"
    )
    PipelineRun.objects.filter(pk=run.pk).update(created_at=origin)
    run.refresh_from_db()

    def at(seconds):
        return origin + timedelta(seconds=seconds)

    StepRun.objects.create(
        run=run,
        name="classify",
        status="succeeded",
        attempt=1,
        ready_at=at(0),
        started_at=at(0),
        finished_at=at(1),
        duration_ms=1000,
        output={"label": "high_intent"},
        input_digest="abc123def456",
    )
    StepRun.objects.create(
        run=run,
        name="enrich",
        status="succeeded",
        attempt=3,
        ready_at=at(1),
        started_at=at(1.2),
        finished_at=at(4),
        duration_ms=2800,
    )
    StepRun.objects.create(
        run=run,
        name="score_form",
        status="succeeded",
        attempt=1,
        ready_at=at(1),
        started_at=at(1),
        finished_at=at(1.5),
        duration_ms=500,
    )
    StepRun.objects.create(
        run=run,
        name="score_final",
        status="failed",
        attempt=3,
        ready_at=at(4),
        started_at=at(4),
        finished_at=at(5),
        duration_ms=1000,
        error="LLMError: overloaded",
    )
    for name in ("crm_write", "draft", "gate", "send"):
        StepRun.objects.create(run=run, name=name, status="pending")
    return run


def lane(html: str, step: str) -> str:
    start = html.index(f'<g class="lane" data-step="{step}">')
    return html[start : html.index("</g>", start)]


def bar_span(html: str, step: str) -> tuple[float, float]:
    import re

    found = re.search(
        r'<rect class="bar [a-z]+" x="([\d.]+)" y="\d+" width="([\d.]+)"', lane(html, step)
    )
    x, width = float(found.group(1)), float(found.group(2))
    return x, x + width


def test_the_timeline_shows_parallel_branches_side_by_side(reviewer_client):
    run = make_parallel_run()
    html = reviewer_client.get(f"/runs/{run.pk}/").content.decode()
    classify, enrich, score_form = (
        bar_span(html, name) for name in ("classify", "enrich", "score_form")
    )
    assert classify[1] <= score_form[0] and classify[1] <= enrich[0]
    # enrich and score_form overlap in time: they ran in parallel, one lane each.
    assert score_form[0] < enrich[1] and enrich[0] < score_form[1]


def test_the_timeline_marks_waits_and_retries(reviewer_client):
    run = make_parallel_run()
    html = reviewer_client.get(f"/runs/{run.pk}/").content.decode()
    enrich = lane(html, "enrich")
    assert '<rect class="wait"' in enrich  # ready at 1 s, started at 1.2 s
    assert "↻ 3 attempts" in enrich
    assert "Look up the company: done, 2.8 s, attempt 3" in enrich
    assert '<rect class="bar failed"' in lane(html, "score_final")
    assert '<rect class="bar' not in lane(html, "send")


def test_the_run_page_shows_each_steps_input_output_and_attempts(reviewer_client):
    run = make_parallel_run()
    html = reviewer_client.get(f"/runs/{run.pk}/").content.decode()
    row = html[html.index('data-step="score_form"', html.index("<table")) :]
    row = row[: row.index("</tr>")]
    assert "from Read the message" in row and "1 attempt<" in row
    classify = html[html.index('data-step="classify"', html.index("<table")) :]
    assert "the submission" in classify[: classify.index("</tr>")]
    assert "&quot;label&quot;: &quot;high_intent&quot;" in html
    assert "style=" not in html


def test_rerun_from_a_chosen_step_resets_it_and_what_follows(reviewer_client):
    run = make_parallel_run()
    enrich = StepRun.objects.get(run=run, name="enrich")
    response = reviewer_client.post(f"/runs/{run.pk}/rerun/", {"step_run": enrich.pk}, follow=True)
    assert "re-running enrich" in response.content.decode()
    statuses = dict(run.steps.values_list("name", "status"))
    assert statuses["classify"] == "succeeded" and statuses["score_form"] == "succeeded"
    assert statuses["enrich"] == "queued" and statuses["score_final"] == "pending"
    assert PipelineRun.objects.get(pk=run.pk).status == "running"
    assert ReviewAction.objects.get(action="rerun").detail["step"] == "enrich"


def test_rerun_of_a_step_of_another_run_or_no_step_is_refused(reviewer_client):
    run = make_parallel_run()
    other = make_parallel_run()
    foreign = StepRun.objects.get(run=other, name="enrich")
    for chosen in (foreign.pk, "nope", "", "²", "9" * 30):
        response = reviewer_client.post(f"/runs/{run.pk}/rerun/", {"step_run": chosen}, follow=True)
        assert "Pick a step of this run to rerun from." in response.content.decode()
    assert PipelineRun.objects.get(pk=run.pk).status == "failed"


def test_cancel_skips_the_remaining_steps_and_takes_the_draft_out_of_the_queue(reviewer_client):
    from pipeline.models import Draft

    draft = make_waiting_draft()
    response = reviewer_client.post(f"/runs/{draft.run_id}/cancel/", follow=True)
    assert "cancelled; 2 step(s) will not run" in response.content.decode()
    run = PipelineRun.objects.get(pk=draft.run_id)
    assert run.status == "cancelled" and run.finished_at is not None
    statuses = dict(run.steps.values_list("name", "status"))
    assert statuses["gate"] == statuses["send"] == "skipped"
    assert Draft.objects.get(pk=draft.pk).status == "rejected"
    assert reviewer_client.get("/").content.decode().count(f"/drafts/{draft.pk}/") == 0


def test_cancel_stops_the_run_at_once_while_a_step_is_running(reviewer_client):
    run = make_parallel_run()
    StepRun.objects.filter(run=run, name="crm_write").update(status="running")
    response = reviewer_client.post(f"/runs/{run.pk}/cancel/", follow=True)
    assert "crm_write still running, its result starts nothing" in response.content.decode()
    assert PipelineRun.objects.get(pk=run.pk).status == "cancelled"


def test_rerun_and_cancel_need_the_reviewer_permission(client):
    client.force_login(make_reviewer(group=""))
    run = make_parallel_run()
    enrich = StepRun.objects.get(run=run, name="enrich")
    assert client.post(f"/runs/{run.pk}/rerun/", {"step_run": enrich.pk}).status_code == 403
    assert client.post(f"/runs/{run.pk}/cancel/").status_code == 403
    assert PipelineRun.objects.get(pk=run.pk).status == "failed"
