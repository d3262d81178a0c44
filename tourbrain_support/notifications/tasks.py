"""Delivery tasks: thin wrappers that take ids and call the outbox services; safe to run twice."""

from celery import shared_task

from tourbrain_support.notifications.outbox import outbox_deliver, outbox_deliver_due, outbox_deliver_many


@shared_task(ignore_result=True)
def deliver_outbox_message(message_id: int) -> None:
    """Deliver one outbox row; a no-op when it is already sent, failed, not yet due or held by another worker.

    No Celery-level retries: the backoff state lives in the row, and the periodic task below retries it.
    """
    outbox_deliver(message_id)


@shared_task(ignore_result=True)
def deliver_outbox_messages(message_ids: list[int]) -> dict[str, int]:
    """Deliver a chunk of a burst (e.g. one sweep's notifications) over one SMTP connection; same no-op rules."""
    return outbox_deliver_many(message_ids)


@shared_task(ignore_result=True)
def deliver_pending_outbox() -> dict[str, int]:
    """Deliver every due outbox row: never-delivered (broker was down), retries, and expired sending leases."""
    return outbox_deliver_due()
