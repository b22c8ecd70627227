"""Two admins saving the same version at the same instant: one wins, the other gets a conflict."""

import threading

import pytest
from django.db import connection

from pipeline.models import ScoringConfig, VersionConflict
from tests.factories import make_reviewer

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_saves_from_one_version_at_once_store_exactly_one(settings):
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith(
        ("file:memorydb", ":memory:")
    ):
        pytest.skip("threads need a database file or a server")
    first = ScoringConfig.objects.create(criteria=[], auto_send_threshold=75)
    admins = [make_reviewer(group="Admins"), make_reviewer(group="Admins")]
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def save(admin, threshold):
        try:
            start.wait()
            ScoringConfig.save_version(
                {**first.values(), "auto_send_threshold": threshold},
                by=admin,
                note="race",
                based_on=first.version,
            )
            outcomes.append("saved")
        except VersionConflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=save, args=(admin, threshold))
        for admin, threshold in zip(admins, (80, 90), strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "saved"]
    assert ScoringConfig.objects.count() == 2
