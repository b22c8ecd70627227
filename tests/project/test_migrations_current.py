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
