"""The classifier measured on labelled sets; the floors on the held-out set are pinned here."""

from pathlib import Path

import pytest
from django.core.management import call_command

from pipeline.agents.evaluate import evaluate, load_labelled

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def held_out():
    return evaluate(load_labelled(DATA / "labelled_leads.jsonl"), strategy="rules")


# The floors. Measured on the held-out set when this was written: accuracy 0.767, spam
# precision 0.938. Strict: once the rules reach the floors this XPASSes and fails, so remove
# the mark then.
@pytest.mark.xfail(strict=True, reason="rules measure 0.767 accuracy / 0.938 spam precision")
def test_rules_classifier_meets_the_floors_on_the_held_out_set(held_out):
    assert held_out.total >= 120
    assert held_out.accuracy >= 0.85, held_out.format()
    assert held_out.precision("spam") >= 0.95, held_out.format()


def test_rules_classifier_does_not_fall_below_its_measured_level(held_out):
    assert held_out.total >= 120
    assert held_out.accuracy >= 0.76, held_out.format()
    assert held_out.precision("spam") >= 0.93, held_out.format()


def test_rules_classifier_on_the_development_set():
    report = evaluate(load_labelled(DATA / "dev_leads.jsonl"), strategy="rules")

    assert report.accuracy >= 0.95, report.format()


def test_eval_agents_prints_accuracy_per_label_and_confusion(capsys):
    call_command("eval_agents", "--file", str(DATA / "dev_leads.jsonl"))

    out = capsys.readouterr().out
    assert "accuracy:" in out
    for label in ("high_intent", "low_intent", "spam", "wrong_fit"):
        assert label in out
    assert "confusion (rows: expected, columns: predicted)" in out


def test_eval_agents_runs_the_claude_strategy_against_the_fake(fake_anthropic, tmp_path):
    rows = (DATA / "dev_leads.jsonl").read_text().splitlines()[:5]
    sample = tmp_path / "sample.jsonl"
    sample.write_text("\n".join(rows))

    call_command("eval_agents", "--strategy", "claude", "--file", str(sample))

    assert len(fake_anthropic.requests) == 5
