"""Every page a reviewer opens loads all it asks for: no 404s in the browser's network log."""

import pytest

from tests.factories import make_reviewer, make_waiting_draft

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_queue_asks_for_nothing_missing_and_the_favicon_is_served(sessions, live_server):
    make_reviewer("alice")
    make_waiting_draft(score=55)
    session = sessions("alice")
    page = session.page
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)

    for path in ("/", "/admin/"):
        page.goto(path)
        page.wait_for_load_state("networkidle")

    assert failed == []
    # Chromium's own /favicon.ico request never reaches page events: ask for it as it does.
    icon = page.evaluate(
        "fetch('/favicon.ico').then(r => [r.status, r.headers.get('content-type')])"
    )
    assert icon == [200, "image/svg+xml"]
