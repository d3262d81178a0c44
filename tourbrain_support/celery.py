"""The Celery app: JSON only, settings under the CELERY_ namespace, request ids carried into tasks."""

import os

from celery import Celery, signals

from tourbrain_support import request_context

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tourbrain_support.settings")

app = Celery("tourbrain_support")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.before_task_publish.connect
def _attach_request_id(headers=None, **_kwargs):
    # The id of the web request (or task) that enqueued this task follows it into the worker's logs.
    request_id = request_context.get_request_id()
    if headers is not None and request_id:
        headers["request_id"] = request_id


@signals.task_prerun.connect
def _restore_request_id(task=None, **_kwargs):
    request_id = getattr(task.request, "request_id", None) if task else None
    request_context.set_request_id(request_id or f"task-{task.request.id}" if task else None)


@signals.task_postrun.connect
def _clear_request_id(**_kwargs):
    request_context.set_request_id(None)
