"""The Redis cache backend reuses one client per connection pool and behaves as Django's (a real Redis)."""

import os

import pytest

from tourbrain_support.cache import ReusedClientRedisCache

REDIS_URL = os.environ.get("REDIS_URL", "")
pytestmark = pytest.mark.skipif(not REDIS_URL, reason="needs a Redis server (REDIS_URL)")


def test_one_client_per_pool_and_the_cache_works():
    cache = ReusedClientRedisCache(REDIS_URL, {"KEY_PREFIX": "test-cache-client"})

    first, again = cache._cache.get_client(), cache._cache.get_client(write=True)
    cache.set("greeting", {"hello": "world"}, timeout=30)

    assert first is again
    assert cache.get("greeting") == {"hello": "world"}
    assert cache.add("greeting", "other") is False
    assert cache.add("counter", 1) is True
    assert cache.incr("counter") == 2
    cache.delete_many(["greeting", "counter"])
    assert cache.get("greeting") is None
