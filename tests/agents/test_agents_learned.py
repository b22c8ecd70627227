"""The classifier's learned model: features, deterministic training, the shipped weights."""

import math

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pipeline.agents import learned
from pipeline.agents.concepts import find_concepts
from pipeline.agents.training import TRAINING_FILES, fit, load_rows

TOY = [
    ("a1", {"w:demo": 1.0, "m:business_domain": 1.0}, "high_intent"),
    ("a2", {"w:pricing": 1.0, "w:demo": 0.5}, "high_intent"),
    ("b1", {"w:info": 1.0}, "low_intent"),
    ("b2", {"w:info": 1.0, "w:brochure": 1.0}, "low_intent"),
    ("c1", {"w:casino": 1.0, "m:links=1": 1.0}, "spam"),
    ("c2", {"w:casino": 1.0, "w:bonus": 1.0}, "spam"),
    ("d1", {"w:cv": 1.0}, "wrong_fit"),
    ("d2", {"w:cv": 1.0, "w:job": 1.0}, "wrong_fit"),
]


def test_training_the_same_rows_twice_gives_the_same_weights_file():
    rows = load_rows(TRAINING_FILES[1])[:60]
    config = learned.TrainingConfig(epochs=3)

    first = fit(rows, config).to_json()
    second = fit(list(reversed(rows)), config).to_json()

    # The order rows are given in does not matter either: training visits them by key.
    assert first == second


def test_the_shipped_weights_are_what_training_on_the_development_sets_gives():
    call_command("train_classifier", "--check")


def test_the_check_fails_when_the_weights_were_edited(tmp_path):
    edited = tmp_path / "weights.json"
    edited.write_text(learned.WEIGHTS_PATH.read_text().replace('"format":1', '"format":1 '))

    with pytest.raises(CommandError):
        call_command("train_classifier", "--check", "--output", str(edited))


def test_training_refuses_the_held_out_set():
    held_out = TRAINING_FILES[0].parent / "labelled_leads.jsonl"

    with pytest.raises(ValueError, match="held-out"):
        load_rows(held_out)


def test_a_trained_model_separates_what_it_was_shown_and_probabilities_sum_to_one():
    model = learned.train(TOY, learned.TrainingConfig(epochs=20, min_rows=1))

    for _, features, label in TOY:
        probabilities = model.probabilities(features)
        assert max(probabilities, key=probabilities.get) == label
        assert math.isclose(sum(probabilities.values()), 1.0)
    assert model.contributions({"w:casino": 1.0}, "spam")["w:casino"] > 0


def test_weights_survive_the_json_round_trip():
    model = learned.train(TOY, learned.TrainingConfig(epochs=5, min_rows=1))

    again = learned.Model.from_json(model.to_json())

    for _, features, _ in TOY:
        assert again.scores(features) == pytest.approx(model.scores(features), abs=1e-4)


def test_rare_text_features_are_dropped_but_facts_are_kept():
    model = learned.train(TOY, learned.TrainingConfig(epochs=5, min_rows=2))

    assert "w:brochure" not in model.weights  # one row only
    assert "w:info" in model.weights
    assert "m:links=1" in model.weights  # a fact, kept though it is in one row


def test_text_features_fold_digits_links_and_use_character_grams():
    features = learned.text_features("Demo for 15 users: https://acme.example/x")

    assert "w:0" in features and "w:15" not in features
    assert "w:zzlink" in features
    assert "c: dem" in features
    # Scripts without spaces get short character grams instead of words.
    assert "c:履歴" in learned.text_features("履歴書を送ります")


def test_concepts_carry_across_languages_and_skip_lookalikes():
    assert {"demo", "team_size", "timeline"} <= set(
        find_concepts("Wir möchten nächste Woche eine Demo für 15 Mitarbeiter")
    )
    assert "job" in find_concepts("履歴書を添付しました。営業職に応募します。")
    assert "price" in find_concepts("Dzień dobry, proszę o cennik")
    assert "job" not in find_concepts("We're a seed-stage startup")
