"""The WSGI application. gunicorn imports this module once, in its master, and forks the web
processes after (preload_app in deploy/gunicorn.conf.py); so it also imports what the first
request would otherwise import in every process: the URLconf with every view, and the cache's
Redis client."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadops.settings")
application = get_wsgi_application()


def _import_what_requests_need() -> None:
    # Imports only: no database connection or socket is opened before the fork.
    from django.conf import settings
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (the property imports the URLconf and the views)
    if any("redis" in cache["BACKEND"].lower() for cache in settings.CACHES.values()):
        import redis  # noqa: F401 (Django's Redis cache imports it on first use)


_import_what_requests_need()
