import pytest
from django.contrib.auth.models import Group

from pipeline.models import Draft


@pytest.mark.django_db
def test_reviewers_may_work_drafts_but_not_change_settings(django_user_model):
    reviewer = django_user_model.objects.create_user("rita", password="x")
    reviewer.groups.add(Group.objects.get(name="Reviewers"))
    assert reviewer.has_perm("pipeline.review_draft")
    assert reviewer.has_perm("pipeline.view_lead")
    assert not reviewer.has_perm("pipeline.change_settings")
    assert not reviewer.has_perm("pipeline.add_scoringconfig")


@pytest.mark.django_db
def test_admins_may_also_change_settings(django_user_model):
    admin = django_user_model.objects.create_user("ada", password="x")
    admin.groups.add(Group.objects.get(name="Admins"))
    assert admin.has_perm("pipeline.review_draft")
    assert admin.has_perm("pipeline.change_settings")
    assert admin.has_perm("pipeline.add_scoringconfig")
    assert admin.has_perm("pipeline.change_webhooksource")


@pytest.mark.django_db
def test_draft_review_permission_exists_on_the_model():
    assert ("review_draft", "Can approve, edit, reject and regenerate drafts") in (
        Draft._meta.permissions
    )
