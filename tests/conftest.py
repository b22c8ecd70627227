"""Shared fixtures. Fakes of the outside world live in tests/fakes/ as real loopback servers."""

import pytest
from django.core.management import call_command


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    # The database cache backs rate limits; its table is not a migration.
    with django_db_blocker.unblock():
        call_command("createcachetable", verbosity=0)


@pytest.fixture(autouse=True)
def plain_http(settings):
    """Tests talk plain HTTP to the test client and live server; production redirects to HTTPS."""
    settings.SECURE_SSL_REDIRECT = False


@pytest.fixture(autouse=True)
def static_files_without_manifest(settings):
    """Pages render {% static %} without a collectstatic run (production uses the manifest)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
