"""Failed logins are throttled per account and per client address, with a clear answer."""

import logging

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache

from leadops import login
from tests.factories import REVIEW_PASSWORD, make_reviewer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()
    yield
    cache.clear()


def attempt(client, username, password, address="198.51.100.7"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def test_a_wrong_password_gets_the_form_back_with_a_plain_message(client):
    make_reviewer("alice")
    response = attempt(client, "alice", "wrong")
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.text


def test_five_failures_lock_the_account_even_for_the_right_password(client, caplog):
    make_reviewer("alice")
    with caplog.at_level(logging.INFO, logger="leadops.login"):
        for _ in range(5):
            assert attempt(client, "alice", "wrong").status_code == 200

        response = attempt(client, "alice", REVIEW_PASSWORD)

    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 15 * 60
    assert "Too many failed logins for this account. Try again in 15 minutes" in response.text
    assert "_auth_user_id" not in client.session
    assert any("login.locked scope=account username='alice'" in m for m in caplog.messages)
    assert any("login.refused scope=account" in m for m in caplog.messages)


def test_the_lockout_counts_the_account_whatever_the_case_or_address(client):
    make_reviewer("alice")
    for number in range(5):
        attempt(client, "ALICE" if number % 2 else "alice", "wrong", f"203.0.113.{number}")
    assert attempt(client, "alice", REVIEW_PASSWORD, "192.0.2.1").status_code == 429


def test_many_failures_from_one_address_lock_that_address_only(client, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 8
    make_reviewer("alice")
    for number in range(8):
        attempt(client, f"guess{number}", "wrong", "198.51.100.9")

    refused = attempt(client, "alice", REVIEW_PASSWORD, "198.51.100.9")
    assert refused.status_code == 429
    assert "Too many failed logins from your network address" in refused.text

    elsewhere = attempt(client, "alice", REVIEW_PASSWORD, "192.0.2.44")
    assert elsewhere.status_code == 302


def test_a_good_login_forgets_the_accounts_earlier_failures(client):
    make_reviewer("alice")
    for _ in range(4):
        attempt(client, "alice", "wrong")
    assert attempt(client, "alice", REVIEW_PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        attempt(client, "alice", "wrong")
    assert attempt(client, "alice", REVIEW_PASSWORD).status_code == 302


def test_a_lockout_ends_after_the_lockout_time():
    start = 1_800_000_000.0
    for _ in range(5):
        login.record_failure("alice", "198.51.100.7", now=start)
    assert login.lockout_for("alice", "198.51.100.7", now=start + 60).scope == "account"
    assert login.lockout_for("alice", "198.51.100.7", now=start + 15 * 60 + 1) is None


def test_an_admin_unlocks_an_account_from_the_users_list(client):
    alice = make_reviewer("alice")
    for _ in range(5):
        attempt(client, "alice", "wrong")
    assert attempt(client, "alice", REVIEW_PASSWORD).status_code == 429

    admin = User.objects.create_superuser("root", "root@example.com", "root-pass-123")
    client.force_login(admin)
    changelist = client.get("/admin/auth/user/")
    assert "Login locked" in changelist.text
    assert login.is_account_locked("alice")
    response = client.post(
        "/admin/auth/user/",
        {"action": "unlock_login", "_selected_action": [alice.pk]},
        follow=True,
    )
    assert "Unlocked login for 1 account(s)." in response.text
    assert not login.is_account_locked("alice")
    client.logout()

    assert attempt(client, "alice", REVIEW_PASSWORD).status_code == 302


def test_the_admin_login_page_sends_people_to_the_throttled_one(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/admin/"
    posted = client.post("/admin/login/", {"username": "root", "password": "guess"})
    assert posted.status_code == 302 and posted["Location"].startswith("/login/")
