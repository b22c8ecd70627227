"""Configuration every delivery reads, kept in each process until it changes.

Webhook sources, owner rules and the Reviewers change a few times a day, and every webhook read
them: four to five queries of its fifteen. Each process now keeps what it loaded. A save or delete
of one of these models (signals) empties this process's copies at once and, once its transaction
commits, writes a new token to the shared cache; every process compares its token with the shared
one at most once every CHECK_SECONDS and reloads when they differ, so a change made anywhere
applies everywhere within about a second. A copy is reloaded after MAX_AGE_SECONDS whatever the
token says, for a change made without signals (queryset.update(), SQL, another program).

Nothing is kept that was read inside a transaction, which may see rows that then roll back: the
caller reads the database instead (so do the tests, which run inside one).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Hashable
from typing import Any

from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

TOKEN_KEY = "leadops:config-token"
CHECK_SECONDS = 1.0
MAX_AGE_SECONDS = 60.0
MAX_ENTRIES = 10_000  # copies per process; past it they are dropped and loaded again

_lock = threading.Lock()
_entries: dict[Hashable, tuple[float, Any]] = {}  # key -> (loaded at, value)
# The token the copies were loaded under, when it was last read, and how many times the copies
# were emptied: a value loaded while they were emptied may be older than the change, so it is
# returned but not kept.
_state = {"token": None, "checked_at": float("-inf"), "generation": 0}


def cached[T](key: Hashable, load: Callable[[], T], *, keep: Callable[[T], bool] = bool) -> T:
    """The value `load()` gives, from this process's copy while the configuration is unchanged.

    A value for which `keep` is false (by default: None, an empty list) is not kept: an unknown
    webhook slug costs its query every time, and strangers' slugs do not fill the memory.
    """
    if transaction.get_connection().in_atomic_block:
        return load()
    now = time.monotonic()
    _check_token(now)
    entry = _entries.get(key)
    if entry is not None and now - entry[0] < MAX_AGE_SECONDS:
        return entry[1]
    generation = _state["generation"]
    value = load()
    if keep(value):
        with _lock:
            if _state["generation"] == generation:
                if len(_entries) >= MAX_ENTRIES:
                    _entries.clear()
                _entries[key] = (now, value)
    return value


def forget(key: Hashable) -> None:
    """Drop this process's copy of `key` (e.g. a signature that failed with a kept secret)."""
    with _lock:
        _entries.pop(key, None)


def changed(*, update_fields: frozenset[str] | None = None, **_: Any) -> None:
    """A signal receiver: the configuration changed. This process forgets its copies now;
    every other process when the change commits (the shared token). A login (a user's
    last_login saved alone) changes nothing kept here."""
    if update_fields == frozenset({"last_login"}):
        return
    clear_local()
    transaction.on_commit(_new_token)


def clear_local() -> None:
    with _lock:
        _clear()


def _clear() -> None:  # under _lock
    _entries.clear()
    _state["generation"] += 1


def reset() -> None:
    """Forget everything, the token included: as a new process."""
    with _lock:
        _clear()
        _state.update(token=None, checked_at=float("-inf"))


def _new_token() -> None:
    clear_local()
    try:
        cache.set(TOKEN_KEY, uuid.uuid4().hex, timeout=None)
    except Exception as error:  # noqa: BLE001 - other processes reload within MAX_AGE_SECONDS
        logger.warning("config_cache.token_not_written error=%s", type(error).__name__)


def _check_token(now: float) -> None:
    if now - _state["checked_at"] < CHECK_SECONDS:
        return
    try:
        token = cache.get(TOKEN_KEY)
    except Exception as error:  # noqa: BLE001 - the cache is down: keep nothing meanwhile
        logger.warning("config_cache.token_not_read error=%s", type(error).__name__)
        clear_local()
        return
    with _lock:
        if token != _state["token"]:
            _clear()
            _state["token"] = token
        _state["checked_at"] = now
