"""Fixed-window rate limits on the shared cache (Redis or the database cache).

One counter per key and minute: cache.add() creates it, cache.incr() counts. On Redis both go
in one MULTI/EXEC round trip (Django's add then incr would be three: SET NX, EXISTS, INCR); on
the database cache incr is a read then a write, so a burst of concurrent requests may overshoot
the limit by a few, never undershoot it.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    count: int
    limit: int
    retry_after: int  # seconds until the window resets (0 when allowed)


def hit(key: str, limit: int, *, window: int = WINDOW_SECONDS, now: float | None = None) -> Verdict:
    """Count one request against `key`; allowed while the window's count is within `limit`."""
    now = time.time() if now is None else now
    bucket = int(now // window)
    cache_key = f"ratelimit:{key}:{bucket}"
    try:
        count = _count(cache_key, window * 2)
    except Exception as error:
        # A broken cache must not turn leads away: let the request through and say so.
        logger.warning("ratelimit.cache_unavailable key=%s error=%s", key, type(error).__name__)
        return Verdict(True, 0, limit, 0)
    if count <= limit:
        return Verdict(True, count, limit, 0)
    retry_after = max(1, math.ceil((bucket + 1) * window - now))
    return Verdict(False, count, limit, retry_after)


def _count(cache_key: str, timeout: int) -> int:
    """Add one to the counter (created at 0 with `timeout` when missing); returns the new count."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        key = backend.make_and_validate_key(cache_key)
        client = backend._cache.get_client(key, write=True)
        # Django's RedisCache stores ints as plain Redis integers, so INCR counts the same value
        # cache.get() reads.
        with client.pipeline(transaction=True) as pipeline:
            pipeline.set(key, 0, ex=timeout, nx=True)
            pipeline.incr(key)
            return int(pipeline.execute()[-1])
    cache.add(cache_key, 0, timeout=timeout)
    try:
        return cache.incr(cache_key)
    except ValueError:  # the key expired between add and incr
        cache.set(cache_key, 1, timeout=timeout)
        return 1


def client_ip(request: HttpRequest) -> str:
    """The client's address: from INTAKE_CLIENT_IP_HEADER's last entry behind a proxy."""
    header = settings.INTAKE_CLIENT_IP_HEADER
    if header:
        value = request.headers.get(header, "")
        candidate = value.rsplit(",", 1)[-1].strip()
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            pass
    return request.META.get("REMOTE_ADDR", "") or "unknown"
