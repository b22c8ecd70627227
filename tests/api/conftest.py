"""Fixtures the API and erase tests share."""

import pytest

from tests.fakes.hubspot import FakeHubSpot


@pytest.fixture
def hubspot(settings):
    with FakeHubSpot() as server:
        settings.CRM_ADAPTER = "hubspot"
        settings.HUBSPOT_TOKEN = server.token
        settings.HUBSPOT_BASE_URL = server.url
        settings.HUBSPOT_PROPERTY_MAPPING = ""
        settings.HUBSPOT_MAX_RETRY_AFTER_SECONDS = 5
        yield server
