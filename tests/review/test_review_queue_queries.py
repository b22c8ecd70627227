"""The queue stays fast: a fixed number of queries per page, whatever the number of drafts."""

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pipeline.models import Draft, Lead, PipelineRun, Submission
from tests.factories import make_reviewer, make_waiting_draft

pytestmark = pytest.mark.django_db

# Session, user, the user's permissions (2), webhook sources for the filter, drafts per label,
# drafts per flag, count, page rows, the reviewer's settings, the replies they owe, the
# reviewers (bulk assign), the reviewer's approvals still inside their undo window, the leads'
# unhandled replies and the count of replies that matched no lead.
QUEUE_QUERIES = 15
# With a filter on, the navigation counts the whole queue once more.
FILTERED_QUEUE_QUERIES = QUEUE_QUERIES + 1


def queue_queries(client, url="/") -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_the_queue_query_count_does_not_grow_with_its_rows(client):
    reviewer = make_reviewer()
    client.force_login(reviewer)
    for index in range(3):
        make_waiting_draft(flags=["free_email"], assigned_to=reviewer if index else None)
    few = queue_queries(client)
    for index in range(27):
        make_waiting_draft(flags=["free_email"], assigned_to=reviewer if index % 2 else None)
    Draft.objects.update(claimed_by=make_reviewer(), claimed_until=timezone.now())
    many = queue_queries(client)
    assert few == many == QUEUE_QUERIES


def bulk_pending_drafts(count: int) -> None:
    now = timezone.now()
    leads = Lead.objects.bulk_create(
        [
            Lead(
                email=f"lead{number}@company{number % 700}.example",
                email_normalized=f"lead{number}@company{number % 700}.example",
                name=f"Lead {number}",
                company=f"Company {number % 700}",
                label="high_intent",
                score=number % 100,
            )
            for number in range(count)
        ],
        batch_size=2000,
    )
    submissions = Submission.objects.bulk_create(
        [
            Submission(lead=lead, channel="form", email=lead.email, message="Please call me back.")
            for lead in leads
        ],
        batch_size=2000,
    )
    runs = PipelineRun.objects.bulk_create(
        [
            PipelineRun(
                lead=lead,
                submission=submission,
                pipeline_name="lead",
                pipeline_version=1,
                status="waiting",
                started_at=now,
            )
            for lead, submission in zip(leads, submissions, strict=True)
        ],
        batch_size=2000,
    )
    labels = ["high_intent", "low_intent", "wrong_fit", "spam"]
    Draft.objects.bulk_create(
        [
            Draft(
                lead=lead,
                run=run,
                subject="Your question",
                body="Thanks for writing.\n" * 20,
                label=labels[number % 4],
                confidence=0.7,
                score=number % 100,
                flags=["free_email"] if number % 5 == 0 else [],
                decision="review",
            )
            for number, (lead, run) in enumerate(zip(leads, runs, strict=True))
        ],
        batch_size=2000,
    )


def test_the_queue_renders_10000_pending_drafts_in_a_fixed_number_of_queries(
    client, django_assert_max_num_queries
):
    started = time.perf_counter()
    bulk_pending_drafts(10_000)
    created = time.perf_counter() - started
    client.force_login(make_reviewer())
    client.get("/")  # warm the template cache, as a running server has
    timings = {}
    for name, url in (
        ("default", "/"),
        ("label+search", "/?label=high_intent&q=company 12"),
        ("oldest, page 50", "/?sort=oldest&page=50"),
    ):
        with django_assert_max_num_queries(FILTERED_QUEUE_QUERIES):
            started = time.perf_counter()
            response = client.get(url)
            timings[name] = time.perf_counter() - started
        assert response.status_code == 200
    assert "10000 pending drafts" in response.content.decode() or "Page 50 of" in (
        response.content.decode()
    )
    # Figures for the README (run with -s to see them); not asserted, machines differ.
    print(
        f"\nqueue with 10,000 pending drafts on {connection.vendor}: created in {created:.1f} s; "
        + ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in timings.items())
    )
