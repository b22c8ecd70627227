"""The fixed-window counter behind the webhook and form rate limits, on the configured cache."""

import uuid

import pytest
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

from pipeline.intake import ratelimit

pytestmark = pytest.mark.django_db

MINUTE_START = 1_800_000_000 - 1_800_000_000 % 60  # the first second of a window


@pytest.fixture
def key():
    """A key of this test's own: the cache (Redis) may outlive the test database."""
    return f"test:{uuid.uuid4().hex}"


def test_a_window_allows_exactly_the_limit_then_says_when_to_retry(key):
    verdicts = [ratelimit.hit(key, 2, now=MINUTE_START + 10) for _ in range(3)]

    assert [verdict.allowed for verdict in verdicts] == [True, True, False]
    assert [verdict.count for verdict in verdicts] == [1, 2, 3]
    assert verdicts[2].retry_after == 50
    assert ratelimit.hit(key, 2, now=MINUTE_START + 60).allowed  # the next window


def test_each_key_counts_on_its_own(key):
    assert ratelimit.hit(f"{key}:a", 1, now=MINUTE_START).allowed
    assert ratelimit.hit(f"{key}:b", 1, now=MINUTE_START).allowed
    assert not ratelimit.hit(f"{key}:a", 1, now=MINUTE_START).allowed


@pytest.mark.skipif(
    not isinstance(caches["default"], RedisCache), reason="the Redis path needs REDIS_URL"
)
def test_on_redis_the_counter_is_a_cache_value_that_expires(key):
    ratelimit.hit(key, 5, now=MINUTE_START)
    ratelimit.hit(key, 5, now=MINUTE_START)
    cache_key = f"ratelimit:{key}:{MINUTE_START // 60}"

    assert cache.get(cache_key) == 2  # the counter Django's cache API reads
    backend = caches["default"]
    key = backend.make_and_validate_key(cache_key)
    ttl = backend._cache.get_client(key).ttl(key)
    assert 0 < ttl <= 2 * ratelimit.WINDOW_SECONDS
