import pytest

from tests.factories import make_submission


@pytest.mark.django_db
def test_a_submission_belongs_to_its_lead():
    submission = make_submission()
    assert submission.lead.submissions.get() == submission
