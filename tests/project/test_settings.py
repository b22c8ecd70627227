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
    "DATABASE_PREPARED_STATEMENTS",
    "EMAIL_HOST",
    "EMAIL_BACKEND",
    "EMAIL_PROVIDER",
    "EMAIL_PROVIDER_API_KEY",
    "EMAIL_PROVIDER_REGION",
    "EMAIL_PROVIDER_CONFIGURATION_SET",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "LLM_PRICES",
    "SECURE_PROXY_SSL_HEADER",
    "STATIC_ROOT",
    "HOST",
    "PORT",
    "PUBLIC_BASE_URL",
    "CLAUDE_MODEL_CLASSIFY",
    "CLAUDE_MODEL_ENRICH",
    "CLAUDE_MODEL_SCORE",
    "CLAUDE_MODEL_DRAFT",
}
# A production environment as the README's snippet sets it.
PRODUCTION = {
    "SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnopq",
    "ALLOWED_HOSTS": "leads.example.com",
    "EMAIL_HOST": "smtp.example.com",
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
        {**PRODUCTION, "DATABASE_URL": "postgres://u@db.example:5432/leads"},
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
        PRODUCTION,
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
        env={**clean, **env, "DJANGO_SETTINGS_MODULE": "leadops.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_without_an_email_host_refuses_to_start():
    result = settings_in_subprocess({**PRODUCTION, "EMAIL_HOST": ""}, "s.MAILERS")
    assert result.returncode != 0
    assert "EMAIL_HOST is not set while DEBUG is off" in result.stderr


def test_an_explicit_mail_backend_is_accepted_without_email_host():
    result = settings_in_subprocess(
        {
            **PRODUCTION,
            "EMAIL_HOST": "",
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        },
        "s.MAILERS['default']['BACKEND']",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.core.mail.backends.filebased.EmailBackend"


def test_an_email_provider_is_accepted_without_email_host():
    result = settings_in_subprocess(
        {
            **PRODUCTION,
            "EMAIL_HOST": "",
            "EMAIL_PROVIDER": "postmark",
            "EMAIL_PROVIDER_API_KEY": "server-token",
        },
        "s.MAILERS['default']['BACKEND']",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "anymail.backends.postmark.EmailBackend"


def test_a_claude_model_without_a_price_refuses_to_start():
    result = settings_in_subprocess(
        {"DEBUG": "1", "CLAUDE_MODEL_DRAFT": "claude-unknown-9"}, "s.LLM_MODELS"
    )
    assert result.returncode != 0
    assert "CLAUDE_MODEL_DRAFT='claude-unknown-9' has no price" in result.stderr
    assert "LLM_PRICES" in result.stderr


def test_llm_prices_adds_the_price_of_another_model():
    prices = (
        '{"claude-unknown-9": {"input": 2, "output": 8, "cache_write": 2.5, "cache_read": 0.2}}'
    )
    result = settings_in_subprocess(
        {"DEBUG": "1", "CLAUDE_MODEL_DRAFT": "claude-unknown-9", "LLM_PRICES": prices},
        "s.LLM_PRICES['claude-unknown-9']['output'], s.LLM_PRICES['claude-haiku-5-5']['input']",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "8 1.0"


@pytest.mark.parametrize(
    "prices, message",
    [
        ("{not json", "LLM_PRICES is not JSON"),
        ('{"m": {"input": 1}}', "needs exactly the keys"),
        ('{"m": {"input": -1, "output": 1, "cache_write": 1, "cache_read": 1}}', "numbers >= 0"),
    ],
)
def test_llm_prices_refuses_malformed_values(prices, message):
    result = settings_in_subprocess({"DEBUG": "1", "LLM_PRICES": prices}, "s.LLM_PRICES")
    assert result.returncode != 0
    assert message in result.stderr


def test_no_proxy_header_is_trusted_unless_one_is_declared():
    default = settings_in_subprocess(PRODUCTION, "s.SECURE_PROXY_SSL_HEADER")
    declared = settings_in_subprocess(
        {**PRODUCTION, "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto"},
        "s.SECURE_PROXY_SSL_HEADER",
    )
    assert default.returncode == 0 and declared.returncode == 0, default.stderr + declared.stderr
    assert default.stdout.strip() == "None"
    assert declared.stdout.strip() == "('HTTP_X_FORWARDED_PROTO', 'https')"


@pytest.mark.django_db
def test_a_client_cannot_claim_https_with_x_forwarded_proto_by_default(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert settings.SECURE_PROXY_SSL_HEADER is None

    response = client.get("/login/", headers={"X-Forwarded-Proto": "https"})

    assert response.status_code == 301
    assert response["Location"].startswith("https://")


@pytest.mark.django_db
def test_a_declared_proxy_header_marks_the_request_secure(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    assert client.get("/login/", headers={"X-Forwarded-Proto": "https"}).status_code == 200
    assert client.get("/login/").status_code == 301


def test_database_url_defaults_to_a_sqlite_file_beside_manage_py():
    result = settings_in_subprocess({"DEBUG": "1"}, "s.DATABASES['default']['NAME']")
    assert result.returncode == 0, result.stderr
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert result.stdout.strip() == os.path.join(root, "leadops.sqlite3")


def test_the_readme_production_snippet_passes_check_deploy(tmp_path):
    """The README's production `export` lines, run through `check --deploy`: no issues."""
    readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")).read()
    snippet = readme.split("## Running in production", 1)[1].split("```sh", 1)[1].split("```")[0]
    env: dict[str, str] = {}
    for line in snippet.splitlines():
        if line.startswith("export "):
            for assignment in line.removeprefix("export ").split():
                name, _, value = assignment.partition("=")
                env[name] = value
    assert {"SECRET_KEY", "ALLOWED_HOSTS", "EMAIL_HOST", "DATABASE_URL"} <= set(env)
    # The snippet's PostgreSQL and Redis hosts do not exist here; check --deploy needs neither.
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'deploy.sqlite3'}"
    env.pop("REDIS_URL", None)
    env.pop("Q_BROKER", None)
    env["SECRET_KEY"] = PRODUCTION["SECRET_KEY"]
    clean = {key: value for key, value in os.environ.items() if key not in _SETTINGS_VARIABLES}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env={**clean, **env, "DJANGO_SETTINGS_MODULE": "leadops.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, "http://127.0.0.1:8000"),
        ({"PORT": "8123"}, "http://127.0.0.1:8123"),
        ({"HOST": "0.0.0.0", "PORT": "9000"}, "http://127.0.0.1:9000"),
        (
            {"PORT": "8123", "PUBLIC_BASE_URL": "https://leads.example.com/"},
            "https://leads.example.com",
        ),
    ],
)
def test_public_base_url_follows_the_port_make_run_serves_on(env, expected):
    clean_env = {"DEBUG": "1", **env}
    result = settings_in_subprocess(clean_env, "s.PUBLIC_BASE_URL")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_phone_default_region_is_read_upper_case_and_an_unknown_one_is_refused():
    known = settings_in_subprocess(
        {"DEBUG": "1", "PHONE_DEFAULT_REGION": "gb"}, "s.PHONE_DEFAULT_REGION"
    )
    unknown = settings_in_subprocess(
        {"DEBUG": "1", "PHONE_DEFAULT_REGION": "XX"}, "s.PHONE_DEFAULT_REGION"
    )

    assert known.stdout.strip() == "GB"
    assert unknown.returncode != 0
    assert "PHONE_DEFAULT_REGION='XX' is not a region phonenumbers knows" in unknown.stderr


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "True 2"),
        ({"DATABASE_PREPARED_STATEMENTS": "1"}, "True 2"),
        ({"DATABASE_PREPARED_STATEMENTS": "0"}, "None None"),
    ],
)
def test_postgresql_prepares_statements_unless_told_not_to(env, expected):
    options = "s.DATABASES['default'].get('OPTIONS', {})"
    done = settings_in_subprocess(
        {"DEBUG": "1", "DATABASE_URL": "postgres://u@db.example:5432/leadops", **env},
        f"{options}.get('server_side_binding'), {options}.get('prepare_threshold')",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected


def test_sqlite_has_no_prepared_statements_setting():
    done = settings_in_subprocess(
        {"DEBUG": "1", "DATABASE_PREPARED_STATEMENTS": "1"},
        "'server_side_binding' in s.DATABASES['default']['OPTIONS']",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
