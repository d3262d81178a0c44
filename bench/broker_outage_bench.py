"""Write latency with the broker up and down, side by side: a write must not wait on a Redis that is gone.

`python -m bench broker_outage` on the configured database. Each write is a transaction that enqueues an
outbox email and publishes its delivery task after commit (what every notifying service does). A private
`redis-server` on a free port is the broker; it is stopped for the "down" rows (connections refused). Rows:
- broker up;
- broker down, as configured (one publish attempt, then publishing paused for BROKER_PUBLISH_PAUSE_SECONDS);
- broker down, no pause (every write tries once and fails: the worst case of the breaker);
- broker down, Celery's default publish (retried, the behaviour before; fewer writes, it is slow).
Rows it writes carry a run-specific key prefix and are deleted at the end. Skipped without redis-server.
"""

import contextlib
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import transaction
from django.test.utils import override_settings

from tests.servers import RedisServer
from tourbrain_support import broker
from tourbrain_support.celery import app
from tourbrain_support.notifications.models import OutboxMessage
from tourbrain_support.notifications.outbox import outbox_enqueue
from tourbrain_support.notifications.tasks import deliver_outbox_message

WRITES = int(os.environ.get("BENCH_OUTAGE_WRITES", "200"))
OLD_WRITES = 10


def _percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@contextmanager
def _broker(url: str) -> Iterator[None]:
    """Point the Celery app at `url` (Redis, with our transport) and drop pooled connections on both ends."""
    saved = (app.conf.broker_url, app.conf.broker_transport, app.conf.broker_transport_options)
    saved_environ = os.environ.get("CELERY_BROKER_URL")  # Celery reads it before its configuration

    def drop_pools() -> None:
        app._pool = None
        app.amqp._producer_pool = None

    drop_pools()
    os.environ["CELERY_BROKER_URL"] = url
    app.conf.broker_url = url
    app.conf.broker_transport = "tourbrain_support.broker:Transport"
    app.conf.broker_transport_options = {"visibility_timeout": 3600}
    try:
        yield
    finally:
        drop_pools()
        app.conf.broker_url, app.conf.broker_transport, app.conf.broker_transport_options = saved
        if saved_environ is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved_environ


def _write(key: str) -> float:
    started = time.perf_counter()
    with transaction.atomic():
        outbox_enqueue(
            kind="bench.outage",
            channel=OutboxMessage.Channel.EMAIL,
            recipient="rep@bench.test",
            subject="SLA warning",
            body="The first response target is close.",
            idempotency_key=key,
        )
    return (time.perf_counter() - started) * 1000


def _old_write(key: str) -> float:
    """The write as it was: Celery's default publish, which retries before giving up."""
    started = time.perf_counter()
    with transaction.atomic():
        message = outbox_enqueue(
            kind="bench.outage",
            channel=OutboxMessage.Channel.EMAIL,
            recipient="rep@bench.test",
            subject="SLA warning",
            body="The first response target is close.",
            idempotency_key=key,
        )
    with contextlib.suppress(Exception):  # the broker is down: how long failing takes is what is measured
        deliver_outbox_message.delay(message.pk)
    return (time.perf_counter() - started) * 1000


def _row(label: str, samples: list[float]) -> None:
    p50, p95 = _percentile(samples, 0.5), _percentile(samples, 0.95)
    print(f"  {label:<58} {len(samples):>5} writes  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms", flush=True)


def _measure(prefix: str, name: str, count: int, write: Callable[[str], float]) -> list[float]:
    broker.publish_resume()
    return [write(f"{prefix}:{name}:{n}") for n in range(count)]


def main() -> None:
    if shutil.which("redis-server") is None:
        print("  skipped: redis-server not found")
        return
    prefix = f"bench-outage-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as folder:
        redis = RedisServer(Path(folder)).start()
        logging.disable(logging.WARNING)  # a warning per failed publish would be measured with the writes
        try:
            with _broker(redis.url(0)), override_settings(CELERY_TASK_ALWAYS_EAGER=False):
                _measure(prefix, "warm", 20, _write)  # connections, imports
                up = _measure(prefix, "up", WRITES, _write)
                redis.stop()
                down = _measure(prefix, "down", WRITES, _write)
                with override_settings(BROKER_PUBLISH_PAUSE_SECONDS=0):
                    down_no_pause = _measure(prefix, "down-no-pause", WRITES, _write)
                down_old = _measure(prefix, "down-old", OLD_WRITES, _old_write)
        finally:
            logging.disable(logging.NOTSET)
            redis.stop()
            broker.publish_resume()
            OutboxMessage.objects.filter(idempotency_key__startswith=prefix).delete()
    _row("broker up", up)
    _row("broker down (one try, then publishing paused)", down)
    _row("broker down, no pause (every write tries once)", down_no_pause)
    _row("broker down, Celery's default publish (retries; before)", down_old)
    ratio = _percentile(down, 0.5) / _percentile(up, 0.5)
    worst = _percentile(down_no_pause, 0.95) / _percentile(up, 0.95)
    print(f"  p50 down/up: {ratio:.2f}x; p95 down without pause/up: {worst:.2f}x (target: within 2x)", flush=True)
