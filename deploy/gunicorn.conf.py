"""gunicorn settings for LeadOps: `gunicorn -c deploy/gunicorn.conf.py leadops.wsgi`.

Threads, not sync workers: a sync worker is held by one client for as long as that client takes
to send its request, so a few sockets trickling a byte a second stall every page and /healthz.
A gthread worker waits for the first bytes in its event loop and gives each connection its own
thread, so slow clients hold a thread each and the others keep answering (tested with three such
sockets). Facing the internet, still put a buffering proxy in front (deploy/nginx.conf): it
reads whole requests before gunicorn sees them, so no number of slow clients reaches us.

The address comes from `-b`, or gunicorn's default 0.0.0.0:$PORT when PORT is set (Procfile
platforms); the process count from WEB_CONCURRENCY (gunicorn's own variable).
"""

import gc
import os

worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Requests mostly wait on the database; threads are cheap. Connections beyond workers x threads
# wait in the listen backlog.
threads = 8
# Load the app once, in the master, before forking (leadops/wsgi.py imports everything a first
# request would): the processes share those pages and none pays for the imports itself, which on
# two busy cores took seconds per process while requests waited. Code changes need a restart (not
# SIGHUP), as systemd's `restart` does.
preload_app = True
# A request that runs longer than this is killed with its worker; our pages answer in well under
# a second and the slow work runs in qcluster.
timeout = 30
graceful_timeout = 20
# Idle keep-alive connections are closed after this many seconds.
keepalive = 5
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
# Django decides whether a request was HTTPS (SECURE_PROXY_SSL_HEADER, off unless declared);
# gunicorn must not rewrite the scheme from client headers on its own.
secure_scheme_headers: dict[str, str] = {}
forwarded_allow_ips = ""
accesslog = "-"
errorlog = "-"


def pre_fork(server, worker) -> None:
    """Before each web process is forked: everything the master loaded (the whole app, with
    preload_app) goes to the garbage collector's permanent generation. A full collection in a
    web process then walks only what that process made since, not the app's 250,000 objects (a
    150 ms pause with every thread of the process stopped, seen as the slowest twentieth of the
    webhooks under load), and the pages stay shared with the master instead of being copied when
    the collector touches them."""
    gc.freeze()
