"""Serve the web app and a django-q2 worker cluster together, in the foreground.

Ctrl-C stops both. Used by `make run`; in production run gunicorn and qcluster separately.
"""

import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

STOP_GRACE_SECONDS = 10


class Command(BaseCommand):
    help = "Serve the app on ADDRESS:PORT together with a django-q2 worker cluster."

    def add_arguments(self, parser):
        parser.add_argument("--address", default=settings.SERVE_HOST)
        parser.add_argument("--port", type=int, default=settings.SERVE_PORT)

    def handle(self, *args, address: str, port: int, **options):
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        children = {
            "worker": subprocess.Popen([*manage, "qcluster"]),
            "web": subprocess.Popen([*manage, "runserver", f"{address}:{port}", "--noreload"]),
        }
        self.stdout.write(
            f"LeadOps is serving http://{address}:{port}/ with {settings.Q_WORKERS} workers "
            f"({settings.Q_BROKER} broker). Press Ctrl-C to stop."
        )
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                exited = [name for name, child in children.items() if child.poll() is not None]
                if exited:
                    self.stderr.write(f"{', '.join(exited)} stopped; shutting down the rest.")
                    break
                time.sleep(0.2)
        finally:
            self._stop(children)

    def _stop(self, children: dict[str, subprocess.Popen]) -> None:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, child in children.items():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop in {STOP_GRACE_SECONDS} s; killing it.")
                child.kill()
                child.wait()
        self.stdout.write("Stopped.")
