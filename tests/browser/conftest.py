"""Headless Chromium (Debian's package) driven by Playwright against pytest-django's live_server.

Skipped, with the reason, when /usr/bin/chromium is missing; CI installs it (.ci/run).
"""

import os
from pathlib import Path

import pytest

from tests.factories import REVIEW_PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def browser(live_server, browser_settings):
    """One Chromium per test.

    Per test, not per session: Playwright's sync API keeps an event loop running in this
    thread, and Django refuses database work while one runs. Set up after the database and
    torn down before its flush, the loop only runs during the test body, where the ORM calls
    between browser steps are plain synchronous code (DJANGO_ALLOW_ASYNC_UNSAFE says so).
    """
    if not os.path.exists(CHROMIUM):
        pytest.skip(
            f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)"
        )
    from django.db import connections
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Playwright's loop gives the test body a context of its own, and Django's connections
        # are context-local: the connection opened here is not the one Django closes after each
        # test. Close it on both sides, or a later test reuses one that may have been cut since
        # (the fault test terminates every other connection to the database).
        connections.close_all()
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
        connections.close_all()


@pytest.fixture
def browser_settings(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def live_server():
    """pytest-django's live server, speaking plain HTTP on localhost.

    The security middleware reads SECURE_SSL_REDIRECT when the server thread builds its
    handler, so the setting must change before the server starts, not per test.
    """
    from django.test.utils import override_settings
    from pytest_django.live_server_helper import LiveServer

    plain_http = override_settings(
        SECURE_SSL_REDIRECT=False, SESSION_COOKIE_SECURE=False, CSRF_COOKIE_SECURE=False
    )
    plain_http.enable()
    server = LiveServer(os.getenv("DJANGO_LIVE_TEST_SERVER_ADDRESS") or "localhost")
    yield server
    server.stop()
    plain_http.disable()


class Session:
    """One signed-in browser context, with the console errors it saw (CSP reports land there)."""

    def __init__(self, browser, base_url: str) -> None:
        self.context = browser.new_context(
            base_url=base_url, viewport={"width": 1440, "height": 900}
        )
        self.context.set_default_timeout(10_000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on(
            "console",
            lambda message: self.errors.append(message.text) if message.type == "error" else None,
        )
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def log_in(self, username: str) -> None:
        page = self.page
        page.goto("/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", REVIEW_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/")
        page.wait_for_selector("#queue-list")

    def csp_violations(self) -> list[str]:
        return [error for error in self.errors if "Content Security Policy" in error]


@pytest.fixture
def sessions(browser, live_server):
    opened: list[Session] = []

    def open_session(username: str) -> Session:
        session = Session(browser, live_server.url)
        session.log_in(username)
        opened.append(session)
        return session

    yield open_session
    for session in opened:
        session.context.close()
    for session in opened:
        assert session.csp_violations() == [], session.csp_violations()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
