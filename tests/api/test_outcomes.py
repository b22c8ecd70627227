"""Lead outcomes: the latest one counts, per score band, for the scoring calibration."""

import pytest

from pipeline.outcomes import is_closed, outcomes_by_score_band, record_outcome
from tests.factories import make_lead

pytestmark = pytest.mark.django_db


def test_outcomes_are_counted_per_score_band_by_the_latest_outcome():
    strong = make_lead(score=88)
    record_outcome(strong, outcome="meeting_booked")
    record_outcome(strong, outcome="won")
    record_outcome(make_lead(score=80), outcome="lost")
    record_outcome(make_lead(score=20), outcome="not_interested")
    make_lead(score=90)  # no outcome: not counted

    bands = {(band.low, band.high): band for band in outcomes_by_score_band()}

    assert bands[(75, 100)].counts == {"won": 1, "lost": 1}
    assert bands[(75, 100)].positive_rate == 0.5
    assert bands[(0, 24)].counts == {"not_interested": 1}
    assert bands[(0, 24)].positive_rate == 0.0
    assert bands[(50, 74)].leads == 0 and bands[(50, 74)].positive_rate is None


def test_a_later_meeting_reopens_a_lost_lead():
    lead = make_lead()
    record_outcome(lead, outcome="lost")
    assert is_closed(lead)
    record_outcome(lead, outcome="meeting_booked")
    assert not is_closed(lead)


def test_an_unknown_outcome_is_refused():
    with pytest.raises(ValueError, match="unknown outcome"):
        record_outcome(make_lead(), outcome="maybe")
