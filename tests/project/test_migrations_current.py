"""Every model change has its migration: `makemigrations --check` finds nothing to write."""

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_the_models_and_the_migrations_agree(capsys):
    try:
        call_command("makemigrations", "--check", "--dry-run", verbosity=1)
    except SystemExit:
        pytest.fail(
            f"a model change has no migration (make migrations):\n{capsys.readouterr().out}"
        )
    assert "No changes detected" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_the_index_on_the_submissions_table_is_built_without_holding_off_webhooks(capsys):
    from django.db import connection

    call_command("sqlmigrate", "pipeline", "0022")
    sql = capsys.readouterr().out
    assert 'CREATE INDEX "submission_unanswered"' in sql.replace("CONCURRENTLY ", "")
    # On PostgreSQL the table takes INSERTs (webhooks) while the index is built.
    assert ("CONCURRENTLY" in sql) == (connection.vendor == "postgresql")
    assert "BEGIN" not in sql


@pytest.mark.django_db(transaction=True)
def test_the_sender_key_becomes_unique_without_holding_off_webhooks(capsys):
    from django.db import connection

    call_command("sqlmigrate", "pipeline", "0023")
    raw = capsys.readouterr().out
    sql = raw.replace("CONCURRENTLY ", "").replace("IF EXISTS ", "")
    assert 'CREATE UNIQUE INDEX "submission_unique_sender_key"' in sql
    assert 'DROP INDEX "submission_sender_key"' in sql
    assert raw.count("CONCURRENTLY") == (2 if connection.vendor == "postgresql" else 0)
    assert "BEGIN" not in raw


@pytest.mark.django_db(transaction=True)
def test_copies_stored_with_one_sender_key_before_it_was_unique_keep_it_once():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from pipeline.models import Submission

    before = [("pipeline", "0022_submission_unanswered")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    old_source = apps.get_model("pipeline", "WebhookSource").objects.create(
        name="Website", slug="website", secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    )
    old_submission = apps.get_model("pipeline", "Submission")
    keys = ["order-1", "order-1", "order-1", "order-2", ""]
    rows = [
        old_submission.objects.create(
            source=old_source, channel="webhook", sender_key=key, idempotency_key=f"msg_{n}"
        ).pk
        for n, key in enumerate(keys)
    ]

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    kept = dict(Submission.objects.values_list("pk", "sender_key"))
    assert [kept[pk] for pk in rows] == ["order-1", "", "", "order-2", ""]


@pytest.mark.django_db
def test_every_migration_building_an_index_concurrently_runs_outside_a_transaction():
    # squashmigrations does not carry `atomic = False` over; PostgreSQL would refuse the squash.
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    from pipeline.migrations._operations import WithoutBlockingWrites

    concurrent = [
        migration
        for migration in MigrationLoader(
            connection, ignore_no_migrations=True
        ).disk_migrations.values()
        if any(isinstance(op, WithoutBlockingWrites) for op in migration.operations)
    ]
    assert concurrent, "no migration builds an index concurrently any more: drop this test"
    assert [m.name for m in concurrent if m.atomic] == []
