"""The broker: the one place that knows about django-q2. It only says "look at this step now"."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable

from pipeline.engine.local import per_process


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def enqueue(step_run_id: int) -> None:
    """Hand a step to the broker. The one place that knows about the queue."""
    call_later("pipeline.engine.threads.run_step", step_run_id, name=f"step-{step_run_id}")


def call_later(function: str, *args, name: str) -> None:
    """Have a worker call `function` (a dotted path) with `args`, on this process's broker."""
    from django_q.tasks import async_task

    async_task(function, *args, task_name=name, broker=_broker())


def _broker():
    """One django-q2 broker per process and queue.

    async_task() builds a new broker for each task unless given one; for Redis that is a new
    connection pool, so a TCP connect and handshake per enqueue (about 1.3 ms against 0.08 ms
    with a reused client). Brokers are thread-safe; keyed by pid so a forked worker makes its own.
    """
    from django_q.brokers import get_broker
    from django_q.conf import Conf

    return per_process("broker", get_broker, Conf.CLUSTER_NAME, Conf.ORM, str(Conf.REDIS))


Dispatch = Callable[[int], None]
