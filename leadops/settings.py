"""LeadOps settings: everything comes from environment variables (see README, "Configuration").

The defaults run on one machine: a SQLite file beside manage.py and django-q2's ORM broker.
"""

import json
import os
import tempfile
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from leadops.env import envbool, envchoice, envfloat, envint, envlist, envstr
from leadops.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

# --- Core -------------------------------------------------------------------------------------
DEBUG = envbool("DEBUG", False)
SECRET_KEY = envstr("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "django-insecure-dev-only-key-do-not-use-in-production-0123456789abcdef"
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])
# Where `manage.py serve` (make run) listens; the default PUBLIC_BASE_URL follows it.
SERVE_HOST = envstr("HOST", "127.0.0.1")
SERVE_PORT = envint("PORT", 8000, minimum=1)
_serve_host = "127.0.0.1" if SERVE_HOST in ("", "0.0.0.0", "::") else SERVE_HOST  # noqa: S104
if ":" in _serve_host:
    _serve_host = f"[{_serve_host}]"
# Absolute base URL used in links we send out (unsubscribe, webhook URLs printed by commands).
PUBLIC_BASE_URL = envstr("PUBLIC_BASE_URL", f"http://{_serve_host}:{SERVE_PORT}").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_q",
    "pipeline",
    "review",
    # After django.contrib.auth: its admin.py replaces the Users admin (unlock action).
    "leadops",
]
# Developer tools (the fake Messages API, its command): on in development, off in production.
LEADOPS_DEV_APPS = envbool("LEADOPS_DEV_APPS", DEBUG)
if LEADOPS_DEV_APPS:
    INSTALLED_APPS.append("pipeline.dev")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "pipeline.metrics.IntakeMetricsMiddleware",
]

ROOT_URLCONF = "leadops.urls"
WSGI_APPLICATION = "leadops.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
DATABASE_URL = envstr("DATABASE_URL", f"sqlite:///{BASE_DIR / 'leadops.sqlite3'}")
_database = dj_database_url.parse(DATABASE_URL)
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker writes; IMMEDIATE takes the write lock at
    # BEGIN so two writers queue on busy_timeout instead of failing with "database is locked".
    _database["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
        ),
    }
    _database["CONN_MAX_AGE"] = 0
    # Tests use a file, not shared-cache memory: memory databases lock whole tables between
    # threads, and worker processes started by tests must see the same database.
    _database["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"leadops-test-{os.getpid()}.sqlite3")
    }
else:
    _database["CONN_MAX_AGE"] = envint("CONN_MAX_AGE", 60, minimum=0)
    _database["CONN_HEALTH_CHECKS"] = True
    # Server-side binding with prepared statements: PostgreSQL plans the engine's few
    # statements once per connection instead of on every hop (about 40 % of its CPU per run).
    # Off behind a pooler in transaction mode (pgbouncer), where a connection's prepared
    # statements are not there on the next transaction's server connection.
    if envbool("DATABASE_PREPARED_STATEMENTS", True):
        _database.setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=2)
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (rate limits, soft state); shared between processes ------------------------------
REDIS_URL = envstr("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": envstr("CACHE_KEY_PREFIX", "leadops"),
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "leadops_cache",
        }
    }

# --- Queue (django-q2) ------------------------------------------------------------------------
Q_BROKER = envchoice("Q_BROKER", "orm", ("orm", "redis"))
Q_WORKERS = envint("Q_WORKERS", 4, minimum=1)
# The longest a step may run before django-q2 kills its worker; our own step timeouts are shorter.
Q_TIMEOUT = envint("Q_TIMEOUT", 300, minimum=10)
Q_CLUSTER = {
    "name": envstr("Q_NAME", "leadops"),
    "workers": Q_WORKERS,
    "timeout": Q_TIMEOUT,
    # The ORM broker re-delivers after `retry` seconds even while the first delivery waits in a
    # worker's prefetch queue: keep it above timeout plus queueing time.
    "retry": Q_TIMEOUT + 120,
    "queue_limit": Q_WORKERS * 2,
    "max_attempts": 1,
    # Run state lives in our models; django-q2's own success rows would only slow PostgreSQL.
    "save_limit": -1,
    "ack_failures": True,
    "catch_up": False,
    "label": "Tasks",
    "poll": envfloat("Q_POLL_SECONDS", 0.05, minimum=0.01),
}
if Q_BROKER == "redis":
    if not REDIS_URL:
        raise ImproperlyConfigured("Q_BROKER=redis needs REDIS_URL")
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Engine -----------------------------------------------------------------------------------
# A reviewer's approval waits this long before the reply is released for sending (Undo).
# --- Escalation --------------------------------------------------------------------------------
# A Slack incoming-webhook URL; empty: no Slack messages (owners still get email).
SLACK_WEBHOOK_URL = envstr("SLACK_WEBHOOK_URL", "")
# Where escalations go by email when a lead has no owner (empty: nowhere).
ESCALATION_EMAIL = envstr("ESCALATION_EMAIL", "")
# A lead scoring at least this is announced as hot.
ESCALATION_SCORE = envint("ESCALATION_SCORE", 80, minimum=0)
# A draft waiting in review longer than this many working minutes (Mon-Fri, 9-17 in TIME_ZONE)
# is escalated once and highlighted in the queue.
REVIEW_SLA_WORKING_MINUTES = envint("REVIEW_SLA_WORKING_MINUTES", 120, minimum=1)
# A notification is tried this many times (Slack 429/5xx, connection errors) before it fails.
NOTIFY_MAX_ATTEMPTS = envint("NOTIFY_MAX_ATTEMPTS", 5, minimum=1)
NOTIFY_BACKOFF_SECONDS = envfloat("NOTIFY_BACKOFF_SECONDS", 2.0, minimum=0)
REVIEW_UNDO_SECONDS = envint("REVIEW_UNDO_SECONDS", 10, minimum=0)
# Steps one worker process runs at once, in threads (they mostly wait on the network): the
# cluster runs Q_WORKERS x ENGINE_THREADS steps at a time. 1: the worker runs the step itself.
ENGINE_THREADS = envint("ENGINE_THREADS", 1, minimum=1)
ENGINE_LEASE_SECONDS = envint("ENGINE_LEASE_SECONDS", 60, minimum=5)
# A queued step whose message has not been picked up after this long is considered lost.
ENGINE_QUEUED_STALE_SECONDS = envint("ENGINE_QUEUED_STALE_SECONDS", 120, minimum=5)
# Modules that register pipelines besides every app's `pipelines` module (tests, benchmarks).
ENGINE_PIPELINE_MODULES = envlist("ENGINE_PIPELINE_MODULES", [])
# Fault injection for the crash tests: "POINT:PATH" makes the first process that reaches the
# named point exit at once (PATH records that one did). Empty in production.
ENGINE_CRASH_AT = envstr("ENGINE_CRASH_AT", "")

# --- LLM (Claude) -----------------------------------------------------------------------------
ANTHROPIC_API_KEY = envstr("ANTHROPIC_API_KEY", "")
ANTHROPIC_BASE_URL = envstr("ANTHROPIC_BASE_URL", "")
LLM_TIMEOUT_SECONDS = envfloat("LLM_TIMEOUT_SECONDS", 30.0, minimum=1)
LLM_MAX_RETRIES = envint("LLM_MAX_RETRIES", 2, minimum=0)
LLM_DAILY_SPEND_CAP_USD = envfloat("LLM_DAILY_SPEND_CAP_USD", 20.0, minimum=0)
# Strategy per agent: "auto" (claude when ANTHROPIC_API_KEY is set, else rules), "rules", "claude".
AGENT_STRATEGY = {
    agent: envchoice(f"AGENT_STRATEGY_{agent.upper()}", "auto", ("auto", "rules", "claude"))
    for agent in ("classify", "enrich", "score", "draft")
}
# Model ids come from the anthropic SDK's own model list (anthropic.types.ModelParam).
LLM_MODELS = {
    "classify": envstr("CLAUDE_MODEL_CLASSIFY", "claude-haiku-5-5"),
    "enrich": envstr("CLAUDE_MODEL_ENRICH", "claude-haiku-5-5"),
    "score": envstr("CLAUDE_MODEL_SCORE", "claude-haiku-5-5"),
    "draft": envstr("CLAUDE_MODEL_DRAFT", "claude-sonnet-5-5"),
}
# US dollars per million tokens: input, output, cache write, cache read.
LLM_PRICES = {
    "claude-haiku-5-5": {"input": 1.0, "output": 5.0, "cache_write": 1.25, "cache_read": 0.10},
    "claude-sonnet-5-5": {"input": 3.0, "output": 15.0, "cache_write": 3.75, "cache_read": 0.30},
    "claude-opus-5-5": {"input": 5.0, "output": 25.0, "cache_write": 6.25, "cache_read": 0.50},
}
_PRICE_FIELDS = ("input", "output", "cache_write", "cache_read")


def _extra_llm_prices(raw: str) -> dict[str, dict[str, float]]:
    """LLM_PRICES from the environment: a JSON object, model -> the four prices."""
    try:
        prices = json.loads(raw)
    except ValueError:
        raise ImproperlyConfigured(f"LLM_PRICES is not JSON: {raw!r}") from None
    if not isinstance(prices, dict):
        raise ImproperlyConfigured("LLM_PRICES must be a JSON object: model -> prices")
    for model, entry in prices.items():
        if not isinstance(entry, dict) or set(entry) != set(_PRICE_FIELDS):
            raise ImproperlyConfigured(
                f"LLM_PRICES[{model!r}] needs exactly the keys {', '.join(_PRICE_FIELDS)}"
            )
        if not all(isinstance(v, int | float) and v >= 0 for v in entry.values()):
            raise ImproperlyConfigured(f"LLM_PRICES[{model!r}] prices must be numbers >= 0")
    return prices


LLM_PRICES |= _extra_llm_prices(envstr("LLM_PRICES", "") or "{}")
# An unpriced model would be recorded at cost 0, which silently switches the daily cap off.
for _agent, _model in LLM_MODELS.items():
    if _model not in LLM_PRICES:
        raise ImproperlyConfigured(
            f"CLAUDE_MODEL_{_agent.upper()}={_model!r} has no price, so the daily spend cap "
            f"could not count it. Use a model from {', '.join(sorted(LLM_PRICES))}, or give its "
            "US dollars per million tokens in LLM_PRICES, e.g. "
            f'LLM_PRICES=\'{{"{_model}": {{"input": 1, "output": 5, "cache_write": 1.25, '
            '"cache_read": 0.1}}\''
        )

# --- Enrichment -------------------------------------------------------------------------------
ENRICH_CONNECT_TIMEOUT = envfloat("ENRICH_CONNECT_TIMEOUT", 3.0, minimum=0.1)
ENRICH_READ_TIMEOUT = envfloat("ENRICH_READ_TIMEOUT", 5.0, minimum=0.1)
ENRICH_BUDGET_SECONDS = envfloat("ENRICH_BUDGET_SECONDS", 10.0, minimum=0.5)
ENRICH_MAX_BYTES = envint("ENRICH_MAX_BYTES", 2_000_000, minimum=10_000)
ENRICH_MAX_PAGES = envint("ENRICH_MAX_PAGES", 4, minimum=1)
ENRICH_CACHE_TTL_HOURS = envint("ENRICH_CACHE_TTL_HOURS", 24 * 7, minimum=0)
# Tests serve company sites on loopback; never enable this in production.
ENRICH_ALLOW_PRIVATE_ADDRESSES = envbool("ENRICH_ALLOW_PRIVATE_ADDRESSES", False)
ENRICH_USER_AGENT = envstr(
    "ENRICH_USER_AGENT", "LeadOpsBot/0.1 (+https://github.com/leadops/leadops; lead enrichment)"
)
APOLLO_API_KEY = envstr("APOLLO_API_KEY", "")
APOLLO_BASE_URL = envstr("APOLLO_BASE_URL", "https://api.apollo.io")

# --- CRM --------------------------------------------------------------------------------------
CRM_ADAPTER = envchoice(
    "CRM_ADAPTER", "builtin", ("builtin", "hubspot", "webhook", "salesforce", "pipedrive")
)
HUBSPOT_TOKEN = envstr("HUBSPOT_TOKEN", "")
HUBSPOT_BASE_URL = envstr("HUBSPOT_BASE_URL", "https://api.hubapi.com")
HUBSPOT_PORTAL_ID = envstr("HUBSPOT_PORTAL_ID", "")
CRM_WEBHOOK_URL = envstr("CRM_WEBHOOK_URL", "")
CRM_WEBHOOK_SECRET = envstr("CRM_WEBHOOK_SECRET", "")
CRM_TIMEOUT_SECONDS = envfloat("CRM_TIMEOUT_SECONDS", 10.0, minimum=0.5)
# JSON object, our field -> HubSpot property name, merged over the defaults; "" drops a field.
HUBSPOT_PROPERTY_MAPPING = envstr("HUBSPOT_PROPERTY_MAPPING", "")
HUBSPOT_APP_URL = envstr("HUBSPOT_APP_URL", "https://app.hubspot.com").rstrip("/")
# HubSpot allows about 190 requests per 10 s per private app; shared through the cache.
HUBSPOT_RATE_LIMIT_PER_10S = envint("HUBSPOT_RATE_LIMIT_PER_10S", 190, minimum=1)
# A 429 asking to wait longer than this is left to the step's retry backoff.
HUBSPOT_MAX_RETRY_AFTER_SECONDS = envfloat("HUBSPOT_MAX_RETRY_AFTER_SECONDS", 10.0, minimum=0)
# Salesforce: the org's My Domain URL and either an OAuth access token or a connected app's
# client-credentials pair (tokens are then fetched and renewed on their own).
SALESFORCE_INSTANCE_URL = envstr("SALESFORCE_INSTANCE_URL", "")
SALESFORCE_ACCESS_TOKEN = envstr("SALESFORCE_ACCESS_TOKEN", "")
SALESFORCE_CLIENT_ID = envstr("SALESFORCE_CLIENT_ID", "")
SALESFORCE_CLIENT_SECRET = envstr("SALESFORCE_CLIENT_SECRET", "")
SALESFORCE_API_VERSION = envstr("SALESFORCE_API_VERSION", "62.0")
# The Lead field marked "External ID" (unique) that holds our lead id: the upsert key.
SALESFORCE_EXTERNAL_ID_FIELD = envstr("SALESFORCE_EXTERNAL_ID_FIELD", "LeadOps_Id__c")
# JSON object over the default Lead fields: {"Salesforce field": "our field", "Field": ""}.
SALESFORCE_FIELD_MAPPING = envstr("SALESFORCE_FIELD_MAPPING", "")
PIPEDRIVE_API_TOKEN = envstr("PIPEDRIVE_API_TOKEN", "")
PIPEDRIVE_BASE_URL = envstr("PIPEDRIVE_BASE_URL", "https://api.pipedrive.com")
# A 429 asking to wait longer than this (Salesforce, Pipedrive) is left to the step's retry.
CRM_MAX_RETRY_AFTER_SECONDS = envfloat("CRM_MAX_RETRY_AFTER_SECONDS", 10.0, minimum=0)

# --- Intake -----------------------------------------------------------------------------------
WEBHOOK_MAX_BODY_BYTES = envint("WEBHOOK_MAX_BODY_BYTES", 256 * 1024, minimum=1024)
# Inbound replies carry HTML and quoted history: a larger limit than a lead's form.
INBOUND_MAX_BODY_BYTES = envint("INBOUND_MAX_BODY_BYTES", 2 * 1024 * 1024, minimum=1024)
WEBHOOK_RATE_LIMIT_PER_MINUTE = envint("WEBHOOK_RATE_LIMIT_PER_MINUTE", 600, minimum=1)
# Answer a valid webhook as soon as its delivery is stored (one INSERT); a worker then finds the
# person, gives the owner and starts the run. The 202 then carries no lead_id or run_id yet.
WEBHOOK_DEFER = envbool("WEBHOOK_DEFER", False)
# Requests a minute per API token, unless the token sets its own.
API_RATE_LIMIT_PER_MINUTE = envint("API_RATE_LIMIT_PER_MINUTE", 120, minimum=1)
WEBHOOK_TOLERANCE_SECONDS = envint("WEBHOOK_TOLERANCE_SECONDS", 300, minimum=1)
if WEBHOOK_TOLERANCE_SECONDS > 300:
    # The standardwebhooks package refuses timestamps older than 5 minutes itself.
    raise ImproperlyConfigured("WEBHOOK_TOLERANCE_SECONDS can be at most 300")
# How long the old secret keeps working after "rotate secret".
WEBHOOK_ROTATION_OVERLAP_HOURS = envint("WEBHOOK_ROTATION_OVERLAP_HOURS", 24, minimum=0)
FORM_RATE_LIMIT_PER_MINUTE = envint("FORM_RATE_LIMIT_PER_MINUTE", 10, minimum=1)
FORM_MIN_FILL_SECONDS = envfloat("FORM_MIN_FILL_SECONDS", 3.0, minimum=0)
# A rendered form can be submitted for this long; older ones are shown again to re-submit.
FORM_TOKEN_MAX_AGE_HOURS = envint("FORM_TOKEN_MAX_AGE_HOURS", 24, minimum=1)
# Who may embed /f/<slug>/ in an iframe (CSP frame-ancestors), e.g. "https://www.example.com".
FORM_FRAME_ANCESTORS = envlist("FORM_FRAME_ANCESTORS", ["*"])
# Behind a reverse proxy: the header holding the client address (its last entry is used),
# e.g. "X-Forwarded-For". Empty: the socket address (REMOTE_ADDR).
INTAKE_CLIENT_IP_HEADER = envstr("INTAKE_CLIENT_IP_HEADER", "")
# Phone numbers written without a country code belong to this region (ISO 3166 alpha-2, e.g.
# "US", "GB") when matching people; empty: such numbers match by their digits only.
PHONE_DEFAULT_REGION = envstr("PHONE_DEFAULT_REGION", "US").strip().upper()
if PHONE_DEFAULT_REGION:
    import phonenumbers

    if PHONE_DEFAULT_REGION not in phonenumbers.SUPPORTED_REGIONS:
        raise ImproperlyConfigured(
            f"PHONE_DEFAULT_REGION={PHONE_DEFAULT_REGION!r} is not a region phonenumbers knows "
            "(an ISO 3166 alpha-2 code such as US, GB, DE), or leave it empty"
        )

# --- Email ------------------------------------------------------------------------------------
# The environment variables keep Django's classic names (EMAIL_HOST, EMAIL_PORT, ...), but Django
# 6.1 deprecates those settings in favour of MAILERS, so they only feed MAILERS["default"].
# SMTP when EMAIL_HOST is set, the console otherwise (development prints the mail).
_email_host = envstr("EMAIL_HOST", "")
_email_backend = envstr(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if _email_host
    else "django.core.mail.backends.console.EmailBackend",
)
_email_options: dict = {}
if _email_backend == "django.core.mail.backends.smtp.EmailBackend":
    _email_options = {
        "host": _email_host or "localhost",
        "port": envint("EMAIL_PORT", 25, minimum=1),
        "username": envstr("EMAIL_HOST_USER", ""),
        "password": envstr("EMAIL_HOST_PASSWORD", ""),
        "use_tls": envbool("EMAIL_USE_TLS", False),
        "use_ssl": envbool("EMAIL_USE_SSL", False),
        "timeout": envint("EMAIL_TIMEOUT", 20, minimum=1),
    }
    if _email_options["use_tls"] and _email_options["use_ssl"]:
        raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are mutually exclusive")
# An email provider's HTTP API through django-anymail instead of SMTP: its name and key.
EMAIL_PROVIDER = envchoice(
    "EMAIL_PROVIDER",
    "",
    ("", "postmark", "sendgrid", "mailgun", "brevo", "resend", "amazon_ses"),
)


def amazon_ses_client_params(*, timeout: int, region: str = "", endpoint_url: str = "") -> dict:
    """boto3 client parameters for Amazon SES (and the SNS client of its webhooks).

    botocore's own retries are off: a retried SendEmail after a read timeout could send the
    message twice, and the outbox already decides what to retry (a timeout becomes `unknown`).
    """
    params: dict = {
        "config": {
            "connect_timeout": timeout,
            "read_timeout": timeout,
            "retries": {"total_max_attempts": 1},
        }
    }
    if region:
        params["region_name"] = region
    if endpoint_url:
        params["endpoint_url"] = endpoint_url
    return params


_ses_client_params: dict = {}
if EMAIL_PROVIDER == "amazon_ses":
    # AWS credentials come the AWS way (AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY, or the
    # machine's IAM role), found by boto3 itself: there is no API key to give.
    _ses_region = (
        envstr("EMAIL_PROVIDER_REGION", "")
        or os.environ.get("AWS_REGION", "")
        or os.environ.get("AWS_DEFAULT_REGION", "")
    )
    if not _ses_region:
        raise ImproperlyConfigured(
            "EMAIL_PROVIDER=amazon_ses needs EMAIL_PROVIDER_REGION (or AWS_REGION), the SES "
            "region your sending identity is verified in, e.g. eu-west-1"
        )
    _email_backend = "anymail.backends.amazon_ses.EmailBackend"
    _ses_client_params = amazon_ses_client_params(
        timeout=envint("EMAIL_TIMEOUT", 20, minimum=1), region=_ses_region
    )
    _email_options = {
        "client_params": {
            **_ses_client_params,
            **(
                {"endpoint_url": envstr("EMAIL_PROVIDER_API_URL", "")}
                if envstr("EMAIL_PROVIDER_API_URL", "")
                else {}
            ),
        }
    }
    # The configuration set whose event destination (an SNS topic) reports deliveries/bounces.
    if envstr("EMAIL_PROVIDER_CONFIGURATION_SET", ""):
        _email_options["configuration_set_name"] = envstr("EMAIL_PROVIDER_CONFIGURATION_SET", "")
elif EMAIL_PROVIDER:
    _provider_key = envstr("EMAIL_PROVIDER_API_KEY", "")
    if not _provider_key:
        raise ImproperlyConfigured(f"EMAIL_PROVIDER={EMAIL_PROVIDER} needs EMAIL_PROVIDER_API_KEY")
    _email_backend = f"anymail.backends.{EMAIL_PROVIDER}.EmailBackend"
    _email_options = {
        # Postmark calls its key a server token; the others an API key.
        ("server_token" if EMAIL_PROVIDER == "postmark" else "api_key"): _provider_key,
        "timeout": envint("EMAIL_TIMEOUT", 20, minimum=1),
    }
    if envstr("EMAIL_PROVIDER_API_URL", ""):
        _email_options["api_url"] = envstr("EMAIL_PROVIDER_API_URL", "")
# The provider's delivery/bounce webhooks authenticate with HTTP Basic "user:password". Without
# one configured, an unguessable secret keeps the endpoint closed rather than open to anyone.
EMAIL_WEBHOOK_SECRET = envstr("EMAIL_WEBHOOK_SECRET", "")
ANYMAIL = {"WEBHOOK_SECRET": EMAIL_WEBHOOK_SECRET or f"closed:{os.urandom(24).hex()}"}
if _ses_client_params:
    # The SNS client that confirms the webhook's subscription (in the topic's own region).
    ANYMAIL["AMAZON_SES_CLIENT_PARAMS"] = {
        key: value for key, value in _ses_client_params.items() if key != "region_name"
    }
# Mailgun and Resend sign their webhooks with a key of their own, beside the Basic credentials.
_webhook_signing_key = envstr("EMAIL_PROVIDER_WEBHOOK_SIGNING_KEY", "")
if _webhook_signing_key:
    ANYMAIL["MAILGUN_WEBHOOK_SIGNING_KEY"] = _webhook_signing_key
    ANYMAIL["RESEND_SIGNING_SECRET"] = _webhook_signing_key
if _email_backend == "django.core.mail.backends.console.EmailBackend" and not DEBUG:
    # The outbox would mark console mail "sent": in production that loses every reply.
    raise ImproperlyConfigured(
        "EMAIL_HOST is not set while DEBUG is off: replies would only be printed to the console "
        "and recorded as sent. Set EMAIL_HOST (and EMAIL_PORT, EMAIL_HOST_USER, ...) to your "
        "SMTP server, EMAIL_PROVIDER (with EMAIL_PROVIDER_API_KEY) to an email API, or "
        "EMAIL_BACKEND to another real backend."
    )
MAILERS = {"default": {"BACKEND": _email_backend, "OPTIONS": _email_options}}
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "LeadOps <sales@example.com>")
# The mailbox for "mailto:" unsubscribe requests (List-Unsubscribe); empty: the From address.
EMAIL_UNSUBSCRIBE_MAILTO = envstr("EMAIL_UNSUBSCRIBE_MAILTO", "")

# --- Auth, i18n, static -----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
# Failed logins: past either limit within the lockout time, the account or the client address is
# refused for LOGIN_LOCKOUT_MINUTES (admins unlock accounts in the admin's Users list).
LOGIN_FAILURES_PER_ACCOUNT = envint("LOGIN_FAILURES_PER_ACCOUNT", 5, minimum=1)
LOGIN_FAILURES_PER_ADDRESS = envint("LOGIN_FAILURES_PER_ADDRESS", 20, minimum=1)
LOGIN_LOCKOUT_MINUTES = envint("LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
LOGIN_REDIRECT_URL = "review:queue"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = envstr("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Where `collectstatic` writes (whitenoise serves it with hashed, compressed names).
STATIC_ROOT = Path(envstr("STATIC_ROOT", "") or BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Security ---------------------------------------------------------------------------------
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.SELF],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", True)
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    # Load balancers probe health over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", True)
# Behind a TLS-terminating proxy that sets it (and strips it from clients): the header that says
# the original request was HTTPS, e.g. "X-Forwarded-Proto". Empty (the default): no header is
# trusted, since a client talking to us directly could claim HTTPS with it.
_proxy_ssl_header = envstr("SECURE_PROXY_SSL_HEADER", "").strip()
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https") if _proxy_ssl_header else None
)

# --- Monitoring -------------------------------------------------------------------------------
# GET /metrics answers only with "Authorization: Bearer <METRICS_TOKEN>"; unset, it is a 404.
METRICS_TOKEN = envstr("METRICS_TOKEN", "")
# prometheus_client reads this variable itself when it is imported; set it (the same directory,
# emptied at deploy) for gunicorn and qcluster so /metrics adds up every process.
PROMETHEUS_MULTIPROC_DIR = envstr("PROMETHEUS_MULTIPROC_DIR", "")

# --- Logging ----------------------------------------------------------------------------------
LOG_LEVEL = envchoice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()
# "json": one JSON object per line with the run and step ids (for log shippers); "text": lines.
LOG_FORMAT = envchoice("LOG_FORMAT", "text", ("text", "json"))
LOGGING = logging_config(log_format=LOG_FORMAT, level=LOG_LEVEL)
