"""Objects a process builds once and shares between its threads; a forked child builds its own."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable

_built: dict[tuple, object] = {}
_lock = threading.RLock()


def per_process[T](name: str, build: Callable[[], T], *key: Hashable) -> T:
    """The object called `name` (and `key`) in this process, built by `build` the first time.

    Keyed by pid: a worker forked from a process that had built one (a connection pool, a
    thread) must not use its parent's.
    """
    full = (os.getpid(), name, *key)
    found = _built.get(full)
    if found is None:
        with _lock:
            found = _built.get(full)
            if found is None:
                found = _built[full] = build()
    return found  # type: ignore[return-value]
