"""Shared fixtures. Fakes of the outside world live in tests/fakes/ as real loopback servers."""

import pytest
from django.core.management import call_command

import tests.engine_pipelines  # noqa: F401 (registers the engine tests' pipelines)

# Fixtures of fake outside-world servers that several test files use.
pytest_plugins = ["tests.fakes.websites"]


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
def configuration_read_afresh():
    """Each test starts with no kept sources or owner rules: between tests the database is
    rolled back or emptied, which no signal reports (in production every change is saved)."""
    from pipeline import config_cache

    config_cache.reset()
    yield
    config_cache.reset()


@pytest.fixture(autouse=True)
def approvals_without_undo_window(settings):
    """Approving releases the reply at once unless a test turns the undo window on."""
    settings.REVIEW_UNDO_SECONDS = 0


@pytest.fixture(autouse=True)
def static_files_without_manifest(settings):
    """Pages render {% static %} without a collectstatic run (production uses the manifest)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(scope="session")
def fake_anthropic_server():
    from pipeline.dev.fake_anthropic import FakeAnthropic

    with FakeAnthropic(min_cacheable_tokens=256) as server:
        yield server


@pytest.fixture
def fake_anthropic(fake_anthropic_server, settings):
    """The fake Messages API, fresh for each test, with settings pointing the real SDK at it."""
    from pipeline.llm.budget import reset_budget_cache

    fake_anthropic_server.reset()
    fake_anthropic_server.latency = 0.0
    settings.ANTHROPIC_API_KEY = "test-key"
    settings.ANTHROPIC_BASE_URL = fake_anthropic_server.url
    settings.LLM_MAX_RETRIES = 2
    settings.LLM_TIMEOUT_SECONDS = 5.0
    reset_budget_cache()
    yield fake_anthropic_server
    fake_anthropic_server.reset()


@pytest.fixture
def rules_business(settings):
    """Every agent on its rules strategy, with the demo company profile and criteria."""
    from tests.factories import make_business_settings

    settings.AGENT_STRATEGY = dict.fromkeys(("classify", "enrich", "score", "draft"), "rules")
    make_business_settings()


@pytest.fixture
def hubspot(settings):
    """The fake HubSpot, with settings pointing the HubSpot adapter at it."""
    from tests.fakes.hubspot import FakeHubSpot

    with FakeHubSpot() as server:
        settings.CRM_ADAPTER = "hubspot"
        settings.HUBSPOT_TOKEN = server.token
        settings.HUBSPOT_BASE_URL = server.url
        settings.HUBSPOT_PROPERTY_MAPPING = ""
        settings.HUBSPOT_MAX_RETRY_AFTER_SECONDS = 5
        yield server


@pytest.fixture
def pipedrive(settings):
    """The fake Pipedrive, with settings pointing the Pipedrive adapter at it."""
    from tests.fakes.pipedrive import FakePipedrive

    with FakePipedrive() as server:
        settings.CRM_ADAPTER = "pipedrive"
        settings.PIPEDRIVE_API_TOKEN = server.token
        settings.PIPEDRIVE_BASE_URL = server.url
        yield server
