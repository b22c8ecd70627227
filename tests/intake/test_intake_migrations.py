"""Intake's data migrations, run backwards and forwards on a real schema."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)


def migrate(target):
    """Migrate the pipeline app to `target`; return the historical models at that point."""
    executor = MigrationExecutor(connection)
    executor.migrate([("pipeline", target)])
    executor.loader.build_graph()
    return executor.loader.project_state([("pipeline", target)]).apps


@pytest.fixture
def latest():
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_a_secret_in_its_rotation_overlap_keeps_working_after_the_migration(latest):
    old_apps = migrate("0003_submission_sender_key")
    ends = timezone.now() + timedelta(hours=3)
    old_apps.get_model("pipeline", "WebhookSource").objects.create(
        name="Website",
        slug="website",
        secret="whsec_new",
        previous_secret="whsec_old",
        previous_secret_expires_at=ends,
    )

    new_apps = migrate("0004_webhook_source_retired_secrets")

    source = new_apps.get_model("pipeline", "WebhookSource").objects.get(slug="website")
    assert source.retired_secrets == [{"secret": "whsec_old", "expires_at": ends.isoformat()}]


def test_spam_leads_made_by_trapped_submissions_are_removed_and_the_submissions_kept(latest):
    old_apps = migrate("0005_admins_resolve_unknown_emails")
    Lead = old_apps.get_model("pipeline", "Lead")
    Submission = old_apps.get_model("pipeline", "Submission")
    bot = Lead.objects.create(email="not-an-email", label="spam", flags=["bot_trap"])
    Submission.objects.create(lead=bot, channel="form", is_trapped=True, trap_reason="honeypot")
    person = Lead.objects.create(email="lea@bakery.example", email_normalized="lea@bakery.example")
    Submission.objects.create(lead=person, channel="form")

    new_apps = migrate("0006_trapped_submission_without_lead")

    Lead = new_apps.get_model("pipeline", "Lead")
    Submission = new_apps.get_model("pipeline", "Submission")
    assert list(Lead.objects.values_list("email", flat=True)) == ["lea@bakery.example"]
    trapped = Submission.objects.get(is_trapped=True)
    assert (trapped.lead_id, trapped.trap_reason) == (None, "honeypot")
    assert Submission.objects.get(is_trapped=False).lead.email == "lea@bakery.example"


def test_the_rekey_migration_rewrites_keys_and_merges_leads_that_are_one_person(latest):
    old_apps = migrate("0006_trapped_submission_without_lead")
    Lead = old_apps.get_model("pipeline", "Lead")
    Submission = old_apps.get_model("pipeline", "Submission")

    def lead(email="", key="", phone="", phone_key="", message=""):
        created = Lead.objects.create(
            email=email, email_normalized=key, phone=phone, phone_normalized=phone_key
        )
        Submission.objects.create(lead=created, channel="form", message=message or email or phone)
        return created.pk

    dotted = lead("Dana.Reyes@gmail.com", "dana.reyes@gmail.com")
    tagged = lead("danareyes+leads@gmail.com", "danareyes@gmail.com")
    international = lead(phone="+1 415 555 0100", phone_key="+14155550100")
    national = lead(phone="(415) 555-0100", phone_key="4155550100")
    team = lead("sales+emea@northwind.example", "sales@northwind.example")

    new_apps = migrate("0007_rewrite_person_keys")

    Lead = new_apps.get_model("pipeline", "Lead")
    Submission = new_apps.get_model("pipeline", "Submission")
    keys = dict(Lead.objects.values_list("pk", "email_normalized"))
    assert keys == {
        dotted: "danareyes@gmail.com",
        international: "",
        team: "sales+emea@northwind.example",
    }
    assert Lead.objects.get(pk=international).phone_normalized == "+14155550100"
    assert sorted(Submission.objects.filter(lead_id=dotted).values_list("message", flat=True)) == [
        "Dana.Reyes@gmail.com",
        "danareyes+leads@gmail.com",
    ]
    assert Submission.objects.filter(lead_id=international).count() == 2
    merges = new_apps.get_model("pipeline", "ReviewAction").objects.filter(action="leads_merged")
    assert sorted(merges.values_list("lead_id", "detail__merged_lead_id")) == sorted(
        [(dotted, tagged), (international, national)]
    )
