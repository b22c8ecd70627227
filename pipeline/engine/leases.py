"""Leases, heartbeats and step timeouts: how the engine knows a worker is still at a step."""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import connections
from django.utils import timezone

from pipeline.engine import events
from pipeline.engine.definitions import StepTimeout
from pipeline.models.runs import StepRun, WorkerHeartbeat

Status = StepRun.Status


def extend_lease(step_run_id: int, me: str) -> bool:
    lease = timezone.now() + timedelta(seconds=settings.ENGINE_LEASE_SECONDS)
    return bool(
        StepRun.objects.filter(pk=step_run_id, status=Status.RUNNING, worker_id=me).update(
            lease_expires_at=lease
        )
    )


class Heartbeat:
    """Extends the lease every third of its length while a step runs."""

    def __init__(self, step_run_id: int, me: str) -> None:
        self.step_run_id = step_run_id
        self.me = me
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def _beat(self) -> None:
        interval = settings.ENGINE_LEASE_SECONDS / 3
        try:
            while not self.stop.wait(interval):
                try:
                    extend_lease(self.step_run_id, self.me)
                except Exception as error:  # a busy database: try again next beat
                    events.log(
                        "step.heartbeat_failed",
                        step_run_id=self.step_run_id,
                        error=type(error).__name__,
                        level=logging.WARNING,
                    )
        finally:
            connections.close_all()

    def __enter__(self) -> Heartbeat:
        self.thread = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()


class deadline:
    """Raise StepTimeout in the step after `seconds`, where the process allows it.

    SIGALRM works on the main thread of a process (a django-q2 worker). Elsewhere (inline mode
    threads) the step relies on its own I/O timeouts, and django-q2's task timeout is the backstop.
    """

    def __init__(self, seconds: float, name: str) -> None:
        self.seconds = seconds
        self.name = name
        self.active = threading.current_thread() is threading.main_thread() and hasattr(
            signal, "setitimer"
        )

    def _expire(self, signum, frame):
        raise StepTimeout(f"step {self.name!r} ran past its {self.seconds:g} s timeout")

    def __enter__(self) -> None:
        if self.active:
            self.previous = signal.signal(signal.SIGALRM, self._expire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc_info) -> None:
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)


_last_beat = {"at": 0.0}

BEAT_EVERY_SECONDS = 10.0


def beat(me: str, *, force: bool = False) -> None:
    """Record that this worker process is alive (read by /healthz), at most every 10 s."""
    if not force and time.monotonic() - _last_beat["at"] < BEAT_EVERY_SECONDS:
        return
    _last_beat["at"] = time.monotonic()
    worker = me.rsplit(":", 1)[0]
    WorkerHeartbeat.objects.update_or_create(worker=worker, defaults={"seen_at": timezone.now()})
