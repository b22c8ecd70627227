"""Leases, heartbeats and step timeouts: how the engine knows a worker is still at a step."""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import connections
from django.utils import timezone

from pipeline.engine import events
from pipeline.engine.definitions import StepTimeout
from pipeline.engine.local import per_process
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
    """Keeps a running step's lease: extended every third of its length while the step runs.

    One thread per process does the extending for every step the process runs (_Beater):
    starting a thread for each step cost about a tenth of a worker's CPU at zero-time steps.
    """

    def __init__(self, step_run_id: int, me: str) -> None:
        self.key = (step_run_id, me)

    def __enter__(self) -> Heartbeat:
        _beater().add(self.key)
        return self

    def __exit__(self, *exc_info) -> None:
        _beater().remove(self.key)


class _Beater:
    """This process's heartbeat thread and the leases it keeps: (step_run_id, worker) -> due."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.due: dict[tuple[int, str], float] = {}
        self.next_wake = math.inf
        threading.Thread(target=self._run, name="lease-heartbeat", daemon=True).start()

    def add(self, key: tuple[int, str]) -> None:
        due = time.monotonic() + settings.ENGINE_LEASE_SECONDS / 3
        with self.lock:
            self.due[key] = due
            sooner = due < self.next_wake
        if sooner:  # only when the thread would sleep past it (the interval changed)
            self.wake.set()

    def remove(self, key: tuple[int, str]) -> None:
        with self.lock:
            self.due.pop(key, None)

    def _run(self) -> None:
        while True:
            self.wake.clear()
            interval = settings.ENGINE_LEASE_SECONDS / 3
            with self.lock:
                now = time.monotonic()
                beating = [key for key, due in self.due.items() if due <= now]
                for key in beating:
                    self.due[key] = now + interval
                self.next_wake = min(self.due.values(), default=now + interval)
            if beating:
                self._beat(beating)
            self.wake.wait(max(0.0, self.next_wake - time.monotonic()))

    def _beat(self, beating: list[tuple[int, str]]) -> None:
        # A step that finished meanwhile is not extended: the UPDATE wants it running and ours.
        try:
            for step_run_id, me in beating:
                try:
                    extend_lease(step_run_id, me)
                except Exception as error:  # a busy database: try again next beat
                    events.log(
                        "step.heartbeat_failed",
                        step_run_id=step_run_id,
                        error=type(error).__name__,
                        level=logging.WARNING,
                    )
        finally:
            connections.close_all()  # this thread's own connection; beats are seconds apart


def _beater() -> _Beater:
    return per_process("lease heartbeat", _Beater)


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
