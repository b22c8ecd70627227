"""Helpers for tests that race: work in threads on connections of their own, waits on the row
locks PostgreSQL reports, and a row held locked by a third connection."""

from __future__ import annotations

import threading
import time

from django.db import connection, transaction


def in_thread(work, errors: list, results: list | None = None) -> threading.Thread:
    """A thread (not started) that runs `work` on a connection of its own, keeping its error
    (and, given `results`, what it returned)."""

    def guarded():
        try:
            value = work()
            if results is not None:
                results.append(value)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    return threading.Thread(target=guarded)


def wait_until_blocked(seconds: float = 10, *, waiters: int = 1) -> None:
    """Until `waiters` other connections wait for a row lock (PostgreSQL); SQLite's writers
    queue on its one lock without telling, so there a moment is given instead."""
    if connection.vendor != "postgresql":
        time.sleep(0.5)
        return
    deadline = time.monotonic() + seconds
    waiting = 0
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            waiting = cursor.fetchone()[0]
            if waiting >= waiters:
                return
            time.sleep(0.02)
    raise AssertionError(f"{waiting} connection(s) waited for a lock, not {waiters}")


class RowHolder:
    """A row held FOR UPDATE by a connection of its own from `with` until release() (SQLite:
    the database's one write lock)."""

    def __init__(self, model, pk) -> None:
        self.model, self.pk = model, pk
        self.locked, self.go = threading.Event(), threading.Event()
        self.errors: list = []
        self.thread = in_thread(self._hold, self.errors)

    def _hold(self) -> None:
        with transaction.atomic():
            list(self.model.objects.select_for_update().filter(pk=self.pk))
            self.locked.set()
            if not self.go.wait(30):
                raise TimeoutError("the test never released the row")

    def __enter__(self) -> RowHolder:
        self.thread.start()
        assert self.locked.wait(10), "the row was never locked"
        return self

    def release(self) -> None:
        self.go.set()
        self.thread.join(30)
        assert not self.errors, self.errors

    def __exit__(self, *exc_info) -> None:
        self.release()
