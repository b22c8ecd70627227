"""Several steps at once in one worker process: threads for steps that wait on the network.

Every step's django-q2 task is `run_step`, and the worker's own ENGINE_THREADS decides. With
T = 1 (the default) the worker runs the step itself. With T > 1 it waits for one of the
process's T slots, hands the step to a thread and returns, so the worker takes its next task
while the step waits on Claude or a website. A worker process then runs up to T steps at once
for the memory of one process; each thread keeps its own database connection (plan
workers x threads connections).

What changes with threads, and why it stays safe: django-q2 no longer sees how long a step takes
(its task returned), and SIGALRM step deadlines work only on a process's main thread, so a step
is bounded by its own I/O timeouts (Claude's, the fetcher's budget, the CRM's and SMTP's). A
worker that stops (SIGTERM or a crash) takes its threads' steps with it; their leases expire and
the sweep re-runs them, as after any crash. Claiming stays a conditional UPDATE per step, so two
threads never run one step.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections

from pipeline.engine.hop import execute
from pipeline.engine.local import per_process

logger = logging.getLogger("pipeline.engine")


def _pool() -> tuple[ThreadPoolExecutor, threading.BoundedSemaphore]:
    """This process's pool and its slots."""

    def build():
        size = settings.ENGINE_THREADS
        pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="step")
        return pool, threading.BoundedSemaphore(size)

    return per_process("step threads", build)


def run_step(step_run_id: int) -> None:
    """The django-q2 task for a step: run it here, or in one of this process's threads."""
    if settings.ENGINE_THREADS <= 1:
        execute(step_run_id)
        return
    # Block until a slot is free, so the worker takes no more tasks than it has threads.
    pool, slots = _pool()
    slots.acquire()
    try:
        pool.submit(_execute, step_run_id, slots)
    except BaseException:
        slots.release()
        raise


def _execute(step_run_id: int, slots: threading.BoundedSemaphore) -> None:
    try:
        # What django-q2 does around a task in its own process: no connection left broken or
        # past its age from an earlier step of this thread.
        close_old_connections()
        execute(step_run_id)
    except Exception:
        # The step's own errors are recorded by execute(); this is the database or the broker
        # failing around it. The step's lease runs out and the sweep re-runs it.
        logger.exception("engine.thread_failed step_run_id=%s", step_run_id)
    finally:
        close_old_connections()
        slots.release()
