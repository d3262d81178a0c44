"""Core tasks: the worker heartbeat that /readyz reads, a round-trip probe, and draining the Sentry transfer spool."""

import logging
import socket

from celery import shared_task
from django.utils import timezone

from tourbrain_support import request_context, sentry
from tourbrain_support.models import WorkerHeartbeat

logger = logging.getLogger(__name__)


def heartbeat_record(worker: str) -> None:
    """Record that this worker is alive now; /readyz checks the age of the freshest beat."""
    WorkerHeartbeat.objects.update_or_create(worker=worker, defaults={"beat_at": timezone.now()})


@shared_task(ignore_result=True)
def worker_heartbeat() -> None:
    """Record that a worker is alive and consuming (beat sends it every 30 s)."""
    heartbeat_record(worker_heartbeat.request.hostname or socket.gethostname())


@shared_task(ignore_result=False)
def ping(note: str = "") -> dict:
    """Round-trip probe: logs one line and answers which worker ran it, under which request id."""
    logger.info("ping received", extra={"note": note})
    return {"worker": ping.request.hostname, "request_id": request_context.get_request_id(), "note": note}


@shared_task(ignore_result=True)
def sentry_transfer_log_drain() -> int:
    """Record the spooled transfers to Sentry not yet in the GDPR log (left by a crash or a database outage)."""
    return sentry.transfer_log_drain()
