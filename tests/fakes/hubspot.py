"""The fake HubSpot lives in the dev app (bench_pipeline serves it too); tests import it here."""

from pipeline.dev.fake_hubspot import (
    PORTAL_PROPERTIES,
    FakeHubSpot,
    conflict_body,
    rate_limit_body,
    validation_body,
)

__all__ = [
    "PORTAL_PROPERTIES",
    "FakeHubSpot",
    "conflict_body",
    "rate_limit_body",
    "validation_body",
]
