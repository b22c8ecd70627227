"""process_leads FILE.jsonl --inline --json: one result per input line, in input order.

These tests run the command through the real engine with a stand-in "lead" pipeline whose
steps have the real step names and output shapes, so they do not depend on the agents.
"""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from pipeline.engine import Pipeline, Step, Wait, registry
from pipeline.models import PipelineRun, StepRun, Submission

pytestmark = pytest.mark.django_db(transaction=True)

KEYS = {
    "input_id",
    "lead_id",
    "run_id",
    "status",
    "classification",
    "score",
    "decision",
    "decision_reason",
    "draft",
    "error",
}


def classify(context):
    spam = "buy now" in context.run.submission.message.lower()
    return {
        "label": "spam" if spam else "high_intent",
        "confidence": 0.97 if spam else 0.88,
        "reasons": ["stand-in"],
        "flags": ["link_spam"] if spam else [],
    }


def score_final(context):
    spam = context.outputs["classify"]["label"] == "spam"
    value = 5 if spam else 82
    action = "discard" if spam else ("auto_send" if value >= 75 else "review")
    reason = "spam is never answered" if spam else "82 is above the auto-send threshold 75"
    PipelineRun.objects.filter(pk=context.run.pk).update(decision=action, decision_reason=reason)
    return {
        "score": {
            "value": value,
            "criteria": [],
            "explanation": f"{value} points",
            "stage": "final",
        },
        "decision": {"action": action, "reason": reason},
    }


def worth_drafting(context):
    if context.outputs["score_final"]["decision"]["action"] == "discard":
        return "no draft for discarded leads"
    return None


def draft(context):
    name = context.run.submission.name or "there"
    return {"draft_id": None, "subject": f"Hello {name}", "body": f"Hi {name}, thanks!"}


def gate(context):
    return {"auto": True}


def has_draft(context):
    return "no draft" if "draft" in context.skipped else None


def should_send(context):
    if "gate" in context.skipped:
        return "nothing to send"
    return "dry run" if context.options.get("dry_run") else None


def send(context):
    return {"sent": True}


STAND_IN = Pipeline(
    "lead",
    version=1,
    steps=(
        Step("classify", run=classify),
        Step("score_final", run=score_final, needs=("classify",)),
        Step("draft", run=draft, needs=("score_final",), when=worth_drafting),
        Step("gate", run=gate, needs=("draft",), when=has_draft),
        Step("send", run=send, needs=("gate",), when=should_send),
    ),
)


@pytest.fixture(autouse=True)
def stand_in_pipeline(monkeypatch):
    monkeypatch.setitem(registry._REGISTRY, "lead", STAND_IN)


def process(tmp_path, lines, *options) -> list[dict]:
    path = tmp_path / "leads.jsonl"
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n",
        encoding="utf-8",
    )
    out = StringIO()
    call_command("process_leads", str(path), "--inline", "--json", *options, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_each_line_gives_one_result_in_input_order(tmp_path):
    results = process(
        tmp_path,
        [
            {"id": "a1", "name": "Ana", "email": "ana@example.org", "message": "Demo please"},
            {"name": "Bot", "email": "bot@example.org", "message": "BUY NOW cheap"},
            {"id": 3, "email": "sam@example.org", "message": "Pricing?"},
        ],
    )

    assert [result["input_id"] for result in results] == ["a1", None, 3]
    assert all(set(result) == KEYS for result in results)
    ana, bot, _ = results
    assert ana["status"] == "succeeded" and ana["error"] is None
    assert ana["classification"] == {"label": "high_intent", "confidence": 0.88, "flags": []}
    assert ana["score"] == {"value": 82, "explanation": "82 points"}
    assert ana["decision"] == "auto_send"
    assert ana["decision_reason"] == "82 is above the auto-send threshold 75"
    assert ana["draft"] == {"subject": "Hello Ana", "body": "Hi Ana, thanks!"}
    assert bot["classification"]["label"] == "spam" and bot["classification"]["flags"] == [
        "link_spam"
    ]
    assert (bot["decision"], bot["draft"]) == ("discard", None)
    assert PipelineRun.objects.get(pk=ana["run_id"]).lead_id == ana["lead_id"]


def test_bad_lines_are_reported_in_place_and_the_rest_processed(tmp_path):
    results = process(
        tmp_path,
        [
            {"id": "ok", "email": "ok@example.org"},
            "{not json",
            {"id": "bad", "email": "bad@"},
            {"id": "ok2", "phone": "+1 415 555 0100"},
        ],
    )

    assert [result["status"] for result in results] == ["succeeded", "error", "error", "succeeded"]
    assert results[1]["error"].startswith("line 2: not valid JSON")
    assert results[2]["input_id"] == "bad"
    assert results[2]["error"].startswith("email: not a valid email address: ")
    assert all(set(result) == KEYS for result in results)


def test_a_line_stored_whose_run_failed_here_says_so_with_its_lead(tmp_path, monkeypatch):
    from pipeline import engine

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(engine, "run_inline", broken)
    [result] = process(tmp_path, [{"id": "x", "email": "ok@example.org"}])

    assert set(result) == KEYS
    assert (result["status"], result["run_id"]) == ("stored", None)
    assert result["lead_id"] == Submission.objects.get().lead_id
    assert result["error"].endswith(
        "running it here failed (RuntimeError; see the log): the workers run it"
    )


def test_extra_fields_are_kept_as_custom_fields_and_the_id_is_not_one(tmp_path):
    (result,) = process(
        tmp_path, [{"id": "x", "email": "a@example.org", "seats": 40, "source_page": "/pricing"}]
    )

    submission = Submission.objects.get(pk=PipelineRun.objects.get().submission_id)
    assert submission.custom_fields == {"seats": 40, "source_page": "/pricing"}
    assert submission.channel == "cli"
    assert submission.response["run_id"] == result["run_id"]


def test_dry_run_marks_the_run_and_sends_nothing(tmp_path):
    (result,) = process(tmp_path, [{"email": "a@example.org", "message": "Demo"}], "--dry-run")

    run = PipelineRun.objects.get(pk=result["run_id"])
    assert run.options == {"dry_run": True}
    send = run.steps.get(name="send")
    assert (send.status, send.skip_reason) == (StepRun.Status.SKIPPED, "dry run")
    assert result["draft"] is not None


def test_a_run_waiting_for_review_reports_waiting(tmp_path, monkeypatch):
    waiting = Pipeline(
        "lead",
        version=1,
        steps=(
            Step("classify", run=classify),
            Step("score_final", run=score_final, needs=("classify",)),
            Step("draft", run=draft, needs=("score_final",)),
            Step("gate", run=lambda context: Wait("review", {}), needs=("draft",)),
        ),
    )
    monkeypatch.setitem(registry._REGISTRY, "lead", waiting)

    (result,) = process(tmp_path, [{"email": "a@example.org"}])

    assert result["status"] == "waiting"
    assert result["draft"]["subject"] == "Hello there"


def test_without_inline_the_runs_are_queued(tmp_path, monkeypatch):
    from pipeline import engine

    queued: list[int] = []
    monkeypatch.setattr(engine, "enqueue", queued.append)
    path = tmp_path / "leads.jsonl"
    path.write_text(json.dumps({"id": 1, "email": "a@example.org"}) + "\n", encoding="utf-8")
    out = StringIO()

    call_command("process_leads", str(path), "--json", stdout=out)

    (result,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert result["status"] == "running" and result["classification"] is None
    assert len(queued) == 1
