"""LeadOps settings: everything comes from environment variables (see README, "Configuration").

The defaults run on one machine: a SQLite file beside manage.py and django-q2's ORM broker.
"""

import os
import tempfile
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from leadops.env import envbool, envchoice, envfloat, envint, envlist, envstr

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
# Absolute base URL used in links we send out (unsubscribe, webhook URLs printed by commands).
PUBLIC_BASE_URL = envstr("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

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
]

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
ENGINE_SWEEP_SECONDS = envint("ENGINE_SWEEP_SECONDS", 30, minimum=1)
ENGINE_LEASE_SECONDS = envint("ENGINE_LEASE_SECONDS", 60, minimum=5)
# A queued step whose message has not been picked up after this long is considered lost.
ENGINE_QUEUED_STALE_SECONDS = envint("ENGINE_QUEUED_STALE_SECONDS", 120, minimum=5)

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
CRM_ADAPTER = envchoice("CRM_ADAPTER", "builtin", ("builtin", "hubspot", "webhook"))
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

# --- Intake -----------------------------------------------------------------------------------
WEBHOOK_MAX_BODY_BYTES = envint("WEBHOOK_MAX_BODY_BYTES", 256 * 1024, minimum=1024)
WEBHOOK_RATE_LIMIT_PER_MINUTE = envint("WEBHOOK_RATE_LIMIT_PER_MINUTE", 600, minimum=1)
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
LOGIN_REDIRECT_URL = "review:queue"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = envstr("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
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
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Logging ----------------------------------------------------------------------------------
LOG_LEVEL = envchoice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"line": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "line"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "pipeline": {"level": LOG_LEVEL},
        "review": {"level": LOG_LEVEL},
        "django_q": {"level": "WARNING"},
    },
}
