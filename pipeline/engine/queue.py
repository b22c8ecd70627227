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
    """Hand a step to the broker, at the back of the line (a new run's first steps, a step the
    sweeper re-delivers)."""
    call_later("pipeline.engine.threads.run_step", step_run_id, name=f"step-{step_run_id}")


def enqueue_next(step_run_id: int) -> None:
    """Hand the broker a step of a run underway (made ready by a finished step, a reviewer's
    decision, a retry or a rerun): at the front of the line where the broker has one (Redis; the
    ORM broker has only a back).

    So the workers finish the runs they started before they start new ones. At the back, a
    burst of 1,000 leads ran every lead's first step, then every lead's next: no lead was
    decided for minutes, then all of them at once. At the front, leads are decided one after
    another from the first seconds (and that burst took half as long; README, "Bursts").
    """
    call_later(
        "pipeline.engine.threads.run_step", step_run_id, name=f"step-{step_run_id}", front=True
    )


def call_later(function: str, *args, name: str, front: bool = False) -> None:
    """Have a worker call `function` (a dotted path) with `args`, on this process's broker;
    `front`: before what is waiting, where the broker can."""
    from django_q.tasks import async_task

    async_task(function, *args, task_name=name, broker=_broker(front=front))


def _broker(*, front: bool = False):
    """One django-q2 broker per process, queue and end of the line.

    async_task() builds a new broker for each task unless given one; for Redis that is a new
    connection pool, so a TCP connect and handshake per enqueue (about 1.3 ms against 0.08 ms
    with a reused client). Brokers are thread-safe; keyed by pid so a forked worker makes its own.
    """
    from django_q.brokers import get_broker
    from django_q.brokers.redis_broker import Redis
    from django_q.conf import Conf

    def build():
        broker = get_broker()
        if not (front and isinstance(broker, Redis)):
            return broker

        class FrontOfTheLine(Redis):
            # django-q2's Redis broker pushes on the right and its workers pop on the left.
            def enqueue(self, task):
                return self.connection.lpush(self.list_key, task)

        return FrontOfTheLine(list_key=Conf.CLUSTER_NAME)

    key = (Conf.CLUSTER_NAME, Conf.ORM, str(Conf.REDIS), front)
    return per_process("broker", build, *key)


Dispatch = Callable[[int], None]
