"""Tasks only the test workers load (`celery worker --include tests.tourbrain_support.worker_test_tasks`)."""

import time

from celery import shared_task


@shared_task(name="tests.worker.busy", ignore_result=True)
def busy(seconds: float) -> None:
    """Keeps the worker busy, as a long task at the head of a backlog does."""
    time.sleep(seconds)
