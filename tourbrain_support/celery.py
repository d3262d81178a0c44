"""The Celery app: JSON only, settings under the CELERY_ namespace, request ids carried into tasks."""

import logging
import os
import socket

from celery import Celery, signals

from tourbrain_support import request_context

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tourbrain_support.settings")

logger = logging.getLogger(__name__)

app = Celery("tourbrain_support")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.before_task_publish.connect
def _attach_request_id(headers=None, **_kwargs):
    # The id of the web request (or task) that enqueued this task follows it into the worker's logs.
    request_id = request_context.get_request_id()
    if headers is not None and request_id:
        headers["request_id"] = request_id


# Request id that was current before each running task, restored afterwards (eager tasks run inside a request).
_outer_request_ids: dict[str, str | None] = {}


def _incoming_request_id(task) -> str | None:
    # Custom message headers land on task.request in a worker, under task.request.headers with apply().
    request = task.request
    return getattr(request, "request_id", None) or (getattr(request, "headers", None) or {}).get("request_id")


@signals.task_prerun.connect
def _restore_request_id(task_id=None, task=None, **_kwargs):
    if task is None:
        return
    outer = request_context.get_request_id()
    _outer_request_ids[task_id] = outer
    request_context.set_request_id(_incoming_request_id(task) or outer or f"task-{task_id}")


@signals.task_postrun.connect
def _clear_request_id(task_id=None, **_kwargs):
    request_context.set_request_id(_outer_request_ids.pop(task_id, None))


@signals.setup_logging.connect
def _use_django_logging(**_kwargs):
    # Workers and beat log like the web process (JSON lines with the request id) instead of Celery's format.
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


@signals.worker_ready.connect
def _first_heartbeat(sender=None, **_kwargs):
    # Report in from the worker's own process the moment it consumes, not one beat interval later. (A
    # heartbeat task sent now would wait behind whatever is queued already, and /readyz would stay 503
    # until the backlog is worked off.) The periodic heartbeat task keeps proving that tasks are run.
    from django.db import connections

    from tourbrain_support.tasks import heartbeat_record

    hostname = getattr(sender, "hostname", None) or socket.gethostname()
    try:
        heartbeat_record(hostname)
    except Exception:
        logger.warning("first heartbeat of %s not recorded; the periodic one will be", hostname, exc_info=True)
    finally:
        connections.close_all()  # the pool's processes must not share this process's connection
