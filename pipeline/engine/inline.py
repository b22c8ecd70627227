"""Inline mode: the whole pipeline in this process, same claiming and storing, threads for branches."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from django.db import close_old_connections, connections

from pipeline.engine import control, hop, queue
from pipeline.models.runs import PipelineRun


def run_inline(
    pipeline: str,
    *,
    options: dict | None = None,
    max_threads: int = 4,
    **run_fields: Any,
) -> PipelineRun:
    """Run the whole pipeline in this process: same claiming and storing, threads for branches.

    Returns when the run has nothing left to do here (finished, failed or waiting).
    """
    executor = _InlineExecutor(max_threads)
    run = control.start(pipeline, options=options, dispatch=executor.submit, **run_fields)
    executor.drain()
    run.refresh_from_db()
    return run


def continue_inline(action: Callable[[queue.Dispatch], Any], *, max_threads: int = 4) -> Any:
    """Call control.resume/control.retry/control.rerun_from with a dispatch that runs the steps in this process."""
    executor = _InlineExecutor(max_threads)
    result = action(executor.submit)
    executor.drain()
    return result


class _InlineExecutor:
    def __init__(self, max_threads: int) -> None:
        self.pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="inline-step")
        self.lock = threading.Lock()
        self.futures: set[Future] = set()
        self.errors: list[BaseException] = []

    def submit(self, step_run_id: int) -> None:
        future = self.pool.submit(self._run, step_run_id)
        with self.lock:
            self.futures.add(future)

    def _run(self, step_run_id: int) -> None:
        try:
            hop.execute(step_run_id, dispatch=self.submit)
        finally:
            close_old_connections()
            connections.close_all()

    def drain(self) -> None:
        try:
            while True:
                with self.lock:
                    pending = set(self.futures)
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                with self.lock:
                    self.futures -= done
                for future in done:
                    if future.exception() is not None:
                        self.errors.append(future.exception())
        finally:
            self.pool.shutdown(wait=True)
        if self.errors:
            raise self.errors[0]
