"""Switches for the Celery app in tests: run tasks inline, or point the app at a broker that is down.

Both restore the app's configuration and drop its pooled broker connections afterwards, so the next
test publishes to the real broker again.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager

from django.test import override_settings

from tourbrain_support.celery import app

# Nothing listens on port 1: connecting is refused at once, like a stopped Redis.
UNREACHABLE_BROKER_URL = "redis://127.0.0.1:1/0"


def _drop_broker_connections() -> None:
    # Forget the app's pools so the next publish looks them up for the current broker URL; kombu keeps
    # one pool per URL, so the real broker's pool is reused afterwards (closing it would break it).
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def eager_tasks() -> Iterator[None]:
    """`.delay()` runs the task inline (errors propagate), e.g. inside on_commit callbacks."""
    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    try:
        yield
    finally:
        app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@contextmanager
def broker_down(url: str = UNREACHABLE_BROKER_URL) -> Iterator[None]:
    """Publishing fails as with Redis stopped; on exit the real broker is "back"."""
    conf = app.conf
    saved = conf.broker_url, conf.broker_transport_options, conf.task_always_eager
    # Celery reads the CELERY_BROKER_URL environment variable before its own configuration.
    saved_environ = os.environ.get("CELERY_BROKER_URL")
    _drop_broker_connections()
    conf.broker_url, conf.broker_transport_options, conf.task_always_eager = url, {}, False
    os.environ["CELERY_BROKER_URL"] = url
    try:
        with override_settings(CELERY_BROKER_URL=url):
            yield
    finally:
        _drop_broker_connections()
        conf.broker_url, conf.broker_transport_options, conf.task_always_eager = saved
        if saved_environ is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved_environ
