"""Merging two leads that turn out to be one person keeps both histories."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from pipeline.intake.people import merge_leads
from pipeline.intake.receive import receive_submission
from pipeline.models import Contact, Lead, OutboundEmail, PipelineRun, ReviewAction, Submission
from tests.factories import make_reviewer

pytestmark = pytest.mark.django_db


def person(email="", phone="", **fields):
    receipt = receive_submission({"email": email, "phone": phone, **fields}, channel="form")
    return Lead.objects.get(pk=receipt.lead_id)


def test_a_merge_moves_every_row_of_the_other_lead_and_deletes_it():
    keep = person("dana@northwind.example", message="first")
    other = person(phone="+1 415 555 0100", name="Dana Reyes", message="second")
    OutboundEmail.objects.create(
        lead=other, to_email="x@y.example", from_email="us@acme.example", subject="s", body="b"
    )
    reviewer = make_reviewer()

    merge = merge_leads(keep, other, by=reviewer, reason="same person")

    assert not Lead.objects.filter(pk=other.pk).exists()
    assert sorted(Submission.objects.filter(lead=keep).values_list("message", flat=True)) == [
        "first",
        "second",
    ]
    assert PipelineRun.objects.filter(lead=keep).count() == 2
    assert OutboundEmail.objects.get().lead == keep
    assert merge.moved == {"submission": 1, "pipelinerun": 1, "outboundemail": 1}
    audit = ReviewAction.objects.get(action="leads_merged")
    assert (audit.lead, audit.user) == (keep, reviewer)
    assert audit.detail["merged_lead_id"] == other.pk
    assert audit.detail["merged_phone"] == "+1 415 555 0100"


def test_the_lead_that_stays_keeps_its_own_values_and_fills_its_blanks():
    keep = person("dana@northwind.example", name="Dana")
    other = person(phone="(415) 555-0100", name="Dana Reyes", company="Northwind")

    merge_leads(keep, other)

    keep.refresh_from_db()
    assert (keep.email, keep.name, keep.company) == ("dana@northwind.example", "Dana", "Northwind")
    assert (keep.phone, keep.phone_normalized) == ("(415) 555-0100", "+14155550100")


def test_an_unsubscribe_on_either_lead_holds_for_the_merged_person():
    keep = person("dana@northwind.example")
    other = person(phone="+1 415 555 0100")
    unsubscribed = timezone.now()
    Lead.objects.filter(pk=other.pk).update(unsubscribed_at=unsubscribed)

    merge_leads(keep, other)

    keep.refresh_from_db()
    assert keep.unsubscribed_at == unsubscribed


def test_the_other_lead_s_crm_contact_goes_when_the_kept_one_has_its_own():
    keep = person("dana@northwind.example")
    other = person(phone="+1 415 555 0100")
    Contact.objects.create(lead=keep, email="dana@northwind.example")
    Contact.objects.create(lead=other, phone="+1 415 555 0100")

    merge_leads(keep, other)

    assert list(Contact.objects.values_list("lead_id", "email")) == [
        (keep.pk, "dana@northwind.example")
    ]


def test_a_lead_cannot_be_merged_into_itself():
    lead = person("dana@northwind.example")
    with pytest.raises(ValueError, match="into itself"):
        merge_leads(lead, lead)


def test_the_command_merges_and_says_what_moved():
    keep = person("dana@northwind.example")
    other = person(phone="+1 415 555 0100")
    out = StringIO()

    call_command("merge_leads", str(keep.pk), str(other.pk), stdout=out)

    assert out.getvalue().strip() == (
        f"Merged lead {other.pk} into lead {keep.pk}: moved 1 pipelinerun, 1 submission."
    )
    with pytest.raises(CommandError, match=f"no lead with id {other.pk}"):
        call_command("merge_leads", str(keep.pk), str(other.pk))


def test_admins_merge_selected_leads_into_the_oldest_in_the_admin(client):
    keep = person("dana@northwind.example", message="first")
    other = person(phone="+1 415 555 0100", message="second")
    client.force_login(make_reviewer(group="Admins", is_staff=True))

    response = client.post(
        "/admin/pipeline/lead/",
        {"action": "merge_into_oldest", "_selected_action": [other.pk, keep.pk]},
        follow=True,
    )

    assert f"Merged 1 lead(s) into lead {keep.pk}" in response.text
    assert list(Lead.objects.values_list("pk", flat=True)) == [keep.pk]
    assert Submission.objects.filter(lead=keep).count() == 2
    assert ReviewAction.objects.get(action="leads_merged").user.username.startswith("reviewer")


def test_reviewers_cannot_merge_leads_in_the_admin(client):
    keep = person("dana@northwind.example")
    other = person(phone="+1 415 555 0100")
    client.force_login(make_reviewer(group="Reviewers", is_staff=True))

    client.post(
        "/admin/pipeline/lead/",
        {"action": "merge_into_oldest", "_selected_action": [other.pk, keep.pk]},
    )

    assert Lead.objects.count() == 2
