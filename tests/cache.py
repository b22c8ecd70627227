"""A Redis cache for tests whose clear() removes only its own keys.

Django's RedisCache.clear() flushes the whole Redis database. Tests clear the cache between
cases, and parallel test processes (pytest-xdist), other checkouts and CI runs may share one
Redis database, each under its own KEY_PREFIX: a flush would wipe their rate-limit counters
mid-test.
"""

from django.core.cache.backends.redis import RedisCache


class PrefixScopedRedisCache(RedisCache):
    def clear(self) -> bool:
        client = self._cache.get_client(write=True)
        keys = list(client.scan_iter(match=f"{self.key_prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        return True
