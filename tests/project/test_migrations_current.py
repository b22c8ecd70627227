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


@pytest.mark.django_db
def test_every_migration_building_an_index_concurrently_runs_outside_a_transaction():
    # squashmigrations does not carry `atomic = False` over; PostgreSQL would refuse the squash.
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    from pipeline.migrations._operations import AddIndexWithoutBlockingWrites

    concurrent = [
        migration
        for migration in MigrationLoader(
            connection, ignore_no_migrations=True
        ).disk_migrations.values()
        if any(isinstance(op, AddIndexWithoutBlockingWrites) for op in migration.operations)
    ]
    assert concurrent, "no migration builds an index concurrently any more: drop this test"
    assert [m.name for m in concurrent if m.atomic] == []
