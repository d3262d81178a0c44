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


def test_incr_is_one_round_trip_with_djangos_meaning(monkeypatch):
    cache = ReusedClientRedisCache(REDIS_URL, {"KEY_PREFIX": "test-cache-incr"})
    cache.delete("hits")
    with pytest.raises(ValueError, match="not found"):
        cache.incr("hits")
    assert cache.get("hits") is None  # a missing key is not created
    assert cache.add("hits", 1, timeout=30) is True
    client, sent = cache._cache.get_client(write=True), []
    send = client.execute_command
    monkeypatch.setattr(
        client, "execute_command", lambda *args, **options: sent.append(args[0]) or send(*args, **options)
    )
    assert [cache.incr("hits"), cache.incr("hits", 5)] == [2, 7]
    assert sent == ["EVALSHA", "EVALSHA"]  # Django's own sends EXISTS, then INCRBY
    monkeypatch.undo()
    assert cache.get("hits") == 7
    assert 0 < client.ttl(cache.make_and_validate_key("hits")) <= 30  # its expiry kept
    cache.delete("hits")
