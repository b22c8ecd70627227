"""A request-rate limiter shared by every process through the Django cache.

A sliding window estimated from two fixed windows (the current and the previous one), the way
Cloudflare counts: cheap (one counter per window) and without the double burst a plain fixed
window allows at its edges. With Redis as the cache the counters are atomic; with the database
cache two processes may both take the last slot, and the 429 handling covers that overshoot.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.core.cache import cache


class RateLimitWaitTooLong(Exception):
    """Waiting for a free slot would take longer than the caller allows."""

    def __init__(self, wait_seconds: float) -> None:
        super().__init__(f"rate limit: the next free slot is {wait_seconds:.1f} s away")
        self.wait_seconds = wait_seconds


class SlidingWindowLimiter:
    def __init__(
        self,
        key: str,
        *,
        limit: int,
        period_seconds: float,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.key = key
        self.limit = limit
        self.period = period_seconds
        self.clock = clock
        self.sleep = sleep

    def _window_key(self, window: int) -> str:
        return f"ratelimit:{self.key}:{window}"

    def _count(self, window: int) -> int:
        return int(cache.get(self._window_key(window)) or 0)

    def _take(self, window: int) -> int:
        key = self._window_key(window)
        cache.add(key, 0, timeout=int(self.period * 3) + 1)
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=int(self.period * 3) + 1)
            return 1

    def acquire(self, *, max_wait_seconds: float) -> float:
        """Take one slot, sleeping until one is free. Returns the seconds waited."""
        waited = 0.0
        while True:
            now = self.clock()
            window = int(now // self.period)
            elapsed = (now - window * self.period) / self.period
            previous = self._count(window - 1)
            current = self._take(window)
            if previous * (1 - elapsed) + current <= self.limit:
                return waited
            cache.decr(self._window_key(window))  # give the slot back
            if current > self.limit:
                wait = (window + 1) * self.period - now
            else:
                # The previous window's weight must shrink until our request fits.
                needed = 1 - (self.limit - current) / previous
                wait = max((needed - elapsed) * self.period, 0.001)
            if waited + wait > max_wait_seconds:
                raise RateLimitWaitTooLong(wait)
            self.sleep(wait)
            waited += wait
