import pytest

from tests.factories import make_submission


@pytest.mark.django_db
def test_a_submission_belongs_to_its_lead():
    submission = make_submission()
    assert submission.lead.submissions.get() == submission


def test_favicon_ico_leads_to_the_icon_in_static_files(client):
    from django.contrib.staticfiles import finders

    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == "/static/favicon.svg"
    assert "<svg" in open(finders.find("favicon.svg")).read()
