"""Django's Redis cache backend, keeping one client object per connection pool.

Django's `RedisCacheClient.get_client` builds a new `redis.Redis` on every cache call, and each one copies
the library's table of response callbacks (about 170 entries): for the widget API's two throttles (two
reads and two writes a request) that was more CPU than the Redis round trips. A client only wraps its pool
and is safe to share between threads, so one is built per pool and reused.
"""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class ReusedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            # Two threads may both build one the first time; either is fine (same pool).
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class ReusedClientRedisCache(RedisCache):
    """`django.core.cache.backends.redis.RedisCache` with `ReusedClientRedisCacheClient`."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient
