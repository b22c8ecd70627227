"""Settings come from the environment and fail loudly on bad values."""

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from leadops.env import envbool, envchoice, envfloat, envint, envlist


def settings_in_subprocess(env: dict[str, str], expression: str) -> subprocess.CompletedProcess:
    """Import leadops.settings fresh under `env` and print `expression`."""
    clean = {key: value for key, value in os.environ.items() if key not in _SETTINGS_VARIABLES}
    return subprocess.run(
        [sys.executable, "-c", f"import leadops.settings as s; print({expression})"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


_SETTINGS_VARIABLES = {
    "DEBUG",
    "SECRET_KEY",
    "DATABASE_URL",
    "ALLOWED_HOSTS",
    "Q_BROKER",
    "REDIS_URL",
    "CONN_MAX_AGE",
    "EMAIL_HOST",
}


@pytest.mark.parametrize(
    "raw, expected", [("1", True), ("true", True), ("Off", False), ("", False)]
)
def test_envbool_reads_common_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("FLAG", raw)
    assert envbool("FLAG", not expected) is expected


def test_envbool_refuses_nonsense(monkeypatch):
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG='maybe' is not a boolean"):
        envbool("FLAG", False)


def test_envint_refuses_non_numbers_and_values_below_minimum(monkeypatch):
    monkeypatch.setenv("COUNT", "ten")
    with pytest.raises(ImproperlyConfigured, match="not a whole number"):
        envint("COUNT", 1)
    monkeypatch.setenv("COUNT", "0")
    with pytest.raises(ImproperlyConfigured, match="must be at least 1"):
        envint("COUNT", 1, minimum=1)


def test_envfloat_envlist_and_envchoice(monkeypatch):
    monkeypatch.setenv("RATIO", "0.25")
    monkeypatch.setenv("HOSTS", "a.example, b.example,,")
    monkeypatch.setenv("BROKER", "Redis")
    assert envfloat("RATIO", 1.0) == 0.25
    assert envlist("HOSTS", []) == ["a.example", "b.example"]
    assert envchoice("BROKER", "orm", ("orm", "redis")) == "redis"
    monkeypatch.setenv("BROKER", "rabbit")
    with pytest.raises(ImproperlyConfigured, match="must be one of orm, redis"):
        envchoice("BROKER", "orm", ("orm", "redis"))


def test_secret_key_is_required_when_debug_is_off():
    result = settings_in_subprocess({"DEBUG": "0"}, "s.SECRET_KEY")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_debug_gets_a_development_key_and_a_sqlite_file_in_wal_mode():
    result = settings_in_subprocess(
        {"DEBUG": "1"},
        "s.SECRET_KEY.startswith('django-insecure'), s.DATABASES['default']['ENGINE'],"
        " s.DATABASES['default']['OPTIONS']['transaction_mode'],"
        " 'journal_mode=WAL' in s.DATABASES['default']['OPTIONS']['init_command'],"
        " s.Q_CLUSTER['orm']",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ("True django.db.backends.sqlite3 IMMEDIATE True default")


def test_postgresql_url_keeps_connections_open():
    result = settings_in_subprocess(
        {"SECRET_KEY": "k" * 50, "DATABASE_URL": "postgres://u@db.example:5432/leads"},
        "s.DATABASES['default']['ENGINE'], s.DATABASES['default']['NAME'],"
        " s.DATABASES['default']['CONN_MAX_AGE'] > 0",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.db.backends.postgresql leads True"


def test_redis_broker_needs_redis_url():
    result = settings_in_subprocess({"DEBUG": "1", "Q_BROKER": "redis"}, "s.Q_CLUSTER")
    assert result.returncode != 0
    assert "Q_BROKER=redis needs REDIS_URL" in result.stderr


def test_redis_broker_and_cache_use_redis_url():
    result = settings_in_subprocess(
        {"DEBUG": "1", "Q_BROKER": "redis", "REDIS_URL": "redis://127.0.0.1:6379/5"},
        "s.Q_CLUSTER['redis'], s.CACHES['default']['BACKEND'].rsplit('.', 1)[1]",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "redis://127.0.0.1:6379/5 RedisCache"


def test_production_defaults_are_secure():
    result = settings_in_subprocess(
        {"SECRET_KEY": "k" * 50, "ALLOWED_HOSTS": "leads.example.com"},
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT,"
        " s.SECURE_HSTS_SECONDS >= 31536000, s.ALLOWED_HOSTS",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True True True True ['leads.example.com']"


def test_check_deploy_is_clean_in_production_settings(tmp_path):
    env = {
        "SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnopq",
        "ALLOWED_HOSTS": "leads.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
        # Without EMAIL_HOST mail goes to the console, which Django's deploy check (mail.E001)
        # rightly refuses in production.
        "EMAIL_HOST": "smtp.example.com",
    }
    clean = {key: value for key, value in os.environ.items() if key not in _SETTINGS_VARIABLES}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
