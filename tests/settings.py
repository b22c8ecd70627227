"""Settings for the test suite, so a bare `pytest` works: the production settings, plus what
the environment of a developer's shell does not provide.

Tests run with DEBUG off, like production. On Redis, each pytest-xdist worker gets its own
cache keys. Mail goes to Django's in-memory outbox unless the
environment names a mail backend or host; that default is not left in os.environ, so a child
process a test starts with its own EMAIL_HOST still gets SMTP.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")

_mail_default = "EMAIL_BACKEND" not in os.environ and "EMAIL_HOST" not in os.environ
if _mail_default:
    os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"
try:
    from leadops.settings import *  # noqa: F403
    from leadops.settings import CACHES
finally:
    if _mail_default:
        del os.environ["EMAIL_BACKEND"]

if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # Parallel workers share the Redis database: each gets its own keys, and clearing the
    # cache between tests removes only those.
    _worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    CACHES["default"]["BACKEND"] = "tests.cache.PrefixScopedRedisCache"
    if _worker:
        CACHES["default"]["KEY_PREFIX"] += f"-{_worker}"

# The developer tools app (the benchmark's StepExecution rows, the fake Messages API) is part of
# every test run; production leaves it out (LEADOPS_DEV_APPS).
if "pipeline.dev" not in INSTALLED_APPS:  # noqa: F405
    INSTALLED_APPS = [*INSTALLED_APPS, "pipeline.dev"]  # noqa: F405
