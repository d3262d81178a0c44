"""Core periodic tasks."""

import socket

from celery import shared_task
from django.utils import timezone

from tourbrain_support.models import WorkerHeartbeat


@shared_task(ignore_result=True)
def worker_heartbeat() -> None:
    """Record that a worker is alive and consuming; /readyz checks the age of the freshest beat."""
    WorkerHeartbeat.objects.update_or_create(
        worker=worker_heartbeat.request.hostname or socket.gethostname(), defaults={"beat_at": timezone.now()}
    )
