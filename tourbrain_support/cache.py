"""Django's Redis cache backend, keeping one client object per connection pool.

Django's `RedisCacheClient.get_client` builds a new `redis.Redis` on every cache call, and each one copies
the library's table of response callbacks (about 170 entries): for the widget API's two throttles (two
reads and two writes a request) that was more CPU than the Redis round trips. A client only wraps its pool
and is safe to share between threads, so one is built per pool and reused.

`incr` is one round trip (a Lua script: INCRBY only if the key exists) where Django's sends EXISTS, then
INCRBY: the widget API's two throttles (django-ratelimit: `add`, then `incr` while the window's counter
exists) call it on every request.
"""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

# Django's `incr` semantics (ValueError for a missing key) in one command; Lua's false is a nil reply (None).
_INCR_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    return redis.call('INCRBY', KEYS[1], ARGV[1])
end
return false
"""


class ReusedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}
        self._incr_scripts: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            # Two threads may both build one the first time; either is fine (same pool).
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client

    def incr(self, key, delta):
        client = self.get_client(key, write=True)
        script = self._incr_scripts.get(id(client))
        if script is None:  # EVALSHA, loading the script once per server (redis-py's Script)
            script = self._incr_scripts[id(client)] = client.register_script(_INCR_IF_EXISTS)
        value = script(keys=[key], args=[delta])
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return value


class ReusedClientRedisCache(RedisCache):
    """`django.core.cache.backends.redis.RedisCache` with `ReusedClientRedisCacheClient`."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient
