"""The broker seen from our side: a Redis transport that survives outages, and a publish that never waits.

Kombu's Redis transport, kept from killing the worker when Redis goes away while it holds a message:

On a lost connection Celery 5.7's consumer first `collect()`s the connection, which detaches the
transport from it (`transport.client = None`) but keeps its default channel, then `close()`s it. Closing
that channel restores the unacknowledged messages (a task running with `acks_late`, or one waiting for its
countdown), which builds a new Redis pool from `transport.client.hostname`: an AttributeError that Celery
does not expect, and the worker exits ("Unrecoverable error: ... no attribute 'hostname'").

Here a channel whose transport is detached answers with a Redis ConnectionError instead, which Celery
treats as the connection loss it is: the worker reconnects with its usual backoff. The messages stay in
Redis's unacknowledged set and are restored there after the visibility timeout; the outbox's periodic
delivery does not wait for them.

`publish` is how a write hands work to the worker: one attempt, then a pause (a circuit breaker).
"""

import logging
import time
from typing import Any

from django.conf import settings
from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

logger = logging.getLogger(__name__)


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous=False):
        transport = self.connection
        if transport is None or transport.client is None:
            raise RedisConnectionError("The broker connection was already closed after a connection loss.")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel


# --- publishing from a write -------------------------------------------------------------------------

# Monotonic time until which publishing is skipped after a failure (per process).
_paused_until = 0.0


def publish(task, *args: Any, **kwargs: Any) -> bool:
    """Enqueue `task` once, without Celery's publish retries; False when the broker is down or paused.

    For tasks that a periodic job also covers (the outbox): a write must not wait on a broker that is down
    (Celery retries a publish for about 0.6 s, reconnecting for seconds more). After a failure, publishing
    pauses for `BROKER_PUBLISH_PAUSE_SECONDS`, so a burst of writes during an outage does not try each time.
    """
    global _paused_until
    if time.monotonic() < _paused_until:
        return False
    try:
        task.apply_async(args=args, kwargs=kwargs, retry=True, retry_policy={"max_retries": 0})
    except Exception as error:
        _paused_until = time.monotonic() + settings.BROKER_PUBLISH_PAUSE_SECONDS
        logger.warning(
            "broker unavailable: publishing paused, the periodic job takes over",
            extra={
                "task": task.name,
                "pause_seconds": settings.BROKER_PUBLISH_PAUSE_SECONDS,
                "error": f"{type(error).__name__}: {error}",
            },
        )
        return False
    return True


def publish_resume() -> None:
    """Publish again at the next call (tests, and after an operator fixed the broker)."""
    global _paused_until
    _paused_until = 0.0
