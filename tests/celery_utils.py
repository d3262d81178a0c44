"""Switches for the Celery app in tests: run tasks inline, or point the app at a broker that is down.

Both restore the configuration and drop pooled broker connections afterwards, so the next test publishes
to the real broker again. Shared tasks publish through Celery's *current* app, which another test may have
replaced (e.g. the sender app of the worker harness), so the switches apply to it as well as ours.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager

from celery import Celery, current_app
from django.test import override_settings

from tourbrain_support.broker import publish_resume
from tourbrain_support.celery import app

# Nothing listens on port 1: connecting is refused at once, like a stopped Redis.
UNREACHABLE_BROKER_URL = "redis://127.0.0.1:1/0"


def _apps() -> list[Celery]:
    current = current_app._get_current_object()
    return [app] if current is app else [app, current]


def _drop_broker_connections() -> None:
    # Forget the apps' pools so the next publish looks them up for the current broker URL; kombu keeps
    # one pool per URL, so the real broker's pool is reused afterwards (closing it would break it).
    for each in _apps():
        each._pool = None
        each.amqp._producer_pool = None


@contextmanager
def eager_tasks() -> Iterator[None]:
    """`.delay()` runs the task inline (errors propagate), e.g. inside on_commit callbacks."""
    apps = _apps()
    saved = [(each.conf.task_always_eager, each.conf.task_eager_propagates) for each in apps]
    for each in apps:
        each.conf.task_always_eager, each.conf.task_eager_propagates = True, True
    try:
        yield
    finally:
        for each, (eager, propagates) in zip(apps, saved, strict=True):
            each.conf.task_always_eager, each.conf.task_eager_propagates = eager, propagates


@contextmanager
def broker_down(url: str = UNREACHABLE_BROKER_URL) -> Iterator[None]:
    """Publishing fails as with Redis stopped; on exit the real broker is "back"."""
    apps = _apps()
    saved = [(each.conf.broker_url, each.conf.broker_transport_options, each.conf.task_always_eager) for each in apps]
    # Celery reads the CELERY_BROKER_URL environment variable before its own configuration.
    saved_environ = os.environ.get("CELERY_BROKER_URL")
    _drop_broker_connections()
    for each in apps:
        each.conf.broker_url, each.conf.broker_transport_options, each.conf.task_always_eager = url, {}, False
    os.environ["CELERY_BROKER_URL"] = url
    publish_resume()
    try:
        with override_settings(CELERY_BROKER_URL=url):
            yield
    finally:
        _drop_broker_connections()
        publish_resume()  # the broker is back: the next write publishes again
        for each, values in zip(apps, saved, strict=True):
            each.conf.broker_url, each.conf.broker_transport_options, each.conf.task_always_eager = values
        if saved_environ is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved_environ
