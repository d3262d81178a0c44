"""Periodic on-call work: escalate unacknowledged pages (idempotent, safe with two beats)."""

from celery import shared_task


@shared_task(name="tourbrain_support.oncall.tasks.pages_escalate")
def pages_escalate() -> int:
    from tourbrain_support.oncall.paging import pages_escalate_due

    return pages_escalate_due()
