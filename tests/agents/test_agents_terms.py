"""The term grammar shared by the lexicons and the concepts, and the lexicon file format."""

import pytest

from pipeline.agents.classify.lexicons import hits, parse_lexicon
from pipeline.agents.terms import term_pattern, terms_pattern


def test_a_word_term_matches_whole_words_only():
    pattern, needle = term_pattern("demo")
    assert needle == "demo"
    assert pattern.search("Can we get a Demo?")
    assert not pattern.search("a demonstration")


def test_a_star_makes_a_stem_and_spaces_match_any_whitespace():
    pattern, _ = term_pattern("book a demo*")
    assert pattern.search("please book a\n  demonstration").group(0) == "book a\n  demonstration"


def test_a_family_prefers_the_longest_term_and_matches_unspaced_scripts_inside_words():
    pattern = terms_pattern(("open", "open positions", "見積*"))
    assert pattern.search("any open positions?").group(0) == "open positions"
    assert pattern.search("お見積りをお願いします").group(0) == "見積"


def test_raw_terms_are_regular_expressions():
    pattern, needle = term_pattern(r"re:\b\d+ seats\b")
    assert needle is None
    assert pattern.search("we need 25 seats")


def test_a_lexicon_file_groups_terms_under_their_weight():
    cues = parse_lexicon("# buying words\n[1.5]\ndemo*\n\n[0.5]\nbudget\n")
    assert [(cue.weight, cue.needle) for cue in cues] == [(1.5, "demo"), (0.5, "budget")]


def test_a_term_before_any_weight_is_refused():
    with pytest.raises(ValueError, match="before any"):
        parse_lexicon("demo\n[1.0]\ntrial\n", name="buying.txt")


def test_the_shipped_lexicons_count_each_term_once():
    found = hits("buying", "A demo, then another demo, and pricing.")
    assert found.matched == ["demo", "pricing"]
    assert found.weight == 3.0
