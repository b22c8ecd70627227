"""CSV export of the leads list (browser and command) and the personal-data erase."""

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from pipeline.erase import erase_person
from pipeline.models import (
    Draft,
    Lead,
    LeadOutcome,
    OutboundEmail,
    PipelineRun,
    ReviewAction,
    StepRun,
    Submission,
)
from pipeline.outcomes import record_outcome
from tests.factories import make_lead, make_reviewer, make_submission, make_waiting_draft

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewer_client(client):
    client.force_login(make_reviewer())
    return client


def parse(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_browser_export_streams_the_filtered_leads_as_csv(reviewer_client):
    hot = make_waiting_draft(label="high_intent").lead
    make_waiting_draft(label="spam")
    response = reviewer_client.get("/leads/export.csv?label=high_intent")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="leads-')
    rows = parse(b"".join(response.streaming_content).decode())
    assert [(row["id"], row["label"], row["decision"]) for row in rows] == [
        (str(hot.pk), "high_intent", "review")
    ]


def test_leads_page_has_an_export_button_keeping_the_filters(reviewer_client):
    response = reviewer_client.get("/leads/?label=spam")
    assert 'href="/leads/export.csv?label=spam"' in response.text


def test_export_defuses_spreadsheet_formulas_in_lead_text(reviewer_client):
    make_lead(name='=HYPERLINK("http://evil.example","click")', company="+1 Corp")
    rows = parse(b"".join(reviewer_client.get("/leads/export.csv").streaming_content).decode())
    assert rows[0]["name"] == '\'=HYPERLINK("http://evil.example","click")'
    assert rows[0]["company"] == "'+1 Corp"


def test_export_needs_a_logged_in_reviewer(client):
    response = client.get("/leads/export.csv")
    assert response.status_code in (302, 403)


def test_export_leads_command_writes_filtered_csv(tmp_path):
    old = make_lead()
    Lead.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    new = make_lead()
    record_outcome(new, outcome="won")
    target = tmp_path / "leads.csv"
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    call_command("export_leads", "--since", since, "--output", str(target))
    rows = parse(target.read_text())
    assert [(row["id"], row["outcome"]) for row in rows] == [(str(new.pk), "won")]


def test_erase_removes_the_persons_text_and_keeps_counts():
    draft = make_waiting_draft(label="high_intent", score=62)
    lead = draft.lead
    make_submission(lead, message="Call me on +49 170 1234567, I am Dana from Northwind")
    OutboundEmail.objects.create(
        lead=lead, to_email=lead.email, from_email="s@x.example", subject="Hi Dana", body="Dana…"
    )
    record_outcome(lead, outcome="lost", note="Dana chose a competitor")
    runs_before = PipelineRun.objects.filter(lead=lead).count()

    result = erase_person(lead.email.upper())

    assert result.leads == 1
    lead.refresh_from_db()
    assert (lead.email, lead.name, lead.company, lead.phone) == ("", "", "", "")
    assert (lead.label, lead.score) == ("high_intent", 62)
    assert lead.unsubscribed_at is not None
    assert set(Submission.objects.filter(lead=lead).values_list("message", flat=True)) == {""}
    assert Draft.objects.get(pk=draft.pk).body == ""
    assert OutboundEmail.objects.get(lead=lead).body == ""
    assert LeadOutcome.objects.get(lead=lead).note == ""
    assert LeadOutcome.objects.get(lead=lead).outcome == "lost"
    classify = StepRun.objects.get(run_id=draft.run_id, name="classify").output
    assert classify["label"] == "high_intent" and classify["reasons"] == ["", ""]
    final = StepRun.objects.get(run_id=draft.run_id, name="score_final").output
    assert final["score"]["value"] == 62 and final["score"]["explanation"] == ""
    assert PipelineRun.objects.filter(lead=lead).count() == runs_before
    assert ReviewAction.objects.filter(lead=lead, action="erased").exists()


def test_erase_stops_the_persons_runs_so_nothing_more_is_drafted_written_or_sent():
    from pipeline import engine

    draft = make_waiting_draft(label="high_intent", score=62)
    run = PipelineRun.objects.get(pk=draft.run_id)
    gate = StepRun.objects.get(run=run, status=StepRun.Status.WAITING)
    assert run.status == PipelineRun.Status.WAITING

    erase_person(draft.lead.email)

    run.refresh_from_db()
    assert run.status == PipelineRun.Status.CANCELLED
    assert not run.steps.filter(status__in=["pending", "queued", "waiting"]).exists()
    # A reviewer's approval of the erased draft, still on someone's screen, starts nothing.
    assert engine.resume(gate, {"approved": True}).changed is False
    assert not OutboundEmail.objects.filter(lead=draft.lead).exists()


def test_erase_lead_command_reports_and_refuses_unknown_addresses(capsys):
    lead = make_lead(email="dana@northwind.example")
    call_command("erase_lead", "dana@northwind.example")
    assert f"Erased lead(s) {lead.pk}" in capsys.readouterr().out
    assert Lead.objects.get(pk=lead.pk).email == ""
    with pytest.raises(Exception, match="no lead or submission has that email address"):
        call_command("erase_lead", "nobody@example.com")


def test_erase_also_empties_the_persons_trapped_submissions():
    trapped = Submission.objects.create(
        lead=None,
        channel="form",
        email="Dana@Northwind.example",
        name="Dana",
        message="call me",
        is_trapped=True,
        trap_reason="filled too fast",
    )
    erase_person("dana@northwind.example")
    trapped.refresh_from_db()
    assert (trapped.email, trapped.name, trapped.message) == ("", "", "")
    assert trapped.is_trapped and trapped.trap_reason == "filled too fast"


def test_browser_export_follows_the_dashboard_date_filter(reviewer_client):
    old = make_submission().lead
    Submission.objects.filter(lead=old).update(received_at=timezone.now() - timedelta(days=10))
    new = make_submission().lead
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    response = reviewer_client.get(f"/leads/export.csv?since={since}")
    ids = [row["id"] for row in parse(b"".join(response.streaming_content).decode())]
    assert ids == [str(new.pk)]


def test_the_export_holds_one_chunk_of_rows_in_memory_not_the_whole_list(monkeypatch):
    """Four times the leads must not take four times the memory: rows arrive chunk by chunk."""
    import tracemalloc

    from pipeline import exports
    from pipeline.api.queries import leads

    monkeypatch.setattr(exports, "CHUNK", 200)

    def add(count: int, start: int) -> None:
        Lead.objects.bulk_create(
            Lead(
                email=f"person{n}@company-{n}.example",
                email_normalized=f"person{n}@company-{n}.example",
                name=f"Person number {n} with a longer name",
                company=f"Company {n} GmbH",
                website=f"https://company-{n}.example",
                label="high_intent",
                score=n % 100,
            )
            for n in range(start, start + count)
        )

    def peak_while_exporting() -> tuple[int, int]:
        lines = 0
        tracemalloc.start()
        try:
            for _line in exports.csv_lines(leads()):
                lines += 1
            return tracemalloc.get_traced_memory()[1], lines
        finally:
            tracemalloc.stop()

    add(1000, 0)
    small, lines = peak_while_exporting()
    assert lines == 1001
    add(3000, 1000)
    large, lines = peak_while_exporting()
    assert lines == 4001
    # Held in memory, 4,000 rows would take about four times what 1,000 take.
    assert large < small * 1.5, (small, large)
