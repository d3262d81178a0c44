"""A widget ticket accepted but not yet filed: the request answers at once, a worker files it moments later."""

from __future__ import annotations

from django.conf import settings
from django.db import models

__all__ = ["TicketIntake"]


class TicketIntake(models.Model):
    """What a customer sent from the widget, with the ticket id, reference and promise it was given.

    The id comes from the tickets' own sequence when the request is accepted, so the reference the customer
    is shown is the one the ticket gets. Filing (`tickets.intake`) creates the ticket with that id, with
    `created_at = accepted_at` (the SLA clocks start when the customer pressed send) and with the tier and
    SLA version the promise was made with, then deletes the row: a row here is a ticket not filed yet.
    The `Idempotency-Key` of the request is claimed in `TicketIdempotencyKey`, as for every widget write.
    """

    # A filing that failed this often is left for staff (the admin's retry or discard; logged each time).
    MAX_ATTEMPTS = 5

    ticket_id = models.BigIntegerField()  # from the sequence: unique without an index to keep
    reference = models.CharField(max_length=20)
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    organization = models.ForeignKey(
        "tourbrain_support.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=20)
    # type, priority, subject, description, reproduction_steps, browser_info, url
    payload = models.JSONField(default=dict)
    subject = models.CharField(max_length=200)
    accepted_at = models.DateTimeField()
    # The promise: filing uses the same tier and SLA version, so the ticket's due time is the one shown.
    tier = models.CharField(max_length=20)
    sla_policy = models.ForeignKey("tickets.SLAPolicy", on_delete=models.PROTECT, related_name="+")
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    first_response_promise = models.CharField(max_length=100, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)  # after a failure: retried from then on
    last_error = models.TextField(blank=True)
    # The X-Request-ID of the request that sent it: the ticket's creation is audited under it, whoever files it.
    # (A database default too: a process still running the previous code stores intakes without it.)
    request_id = models.CharField(max_length=128, blank=True, db_default="")

    def __str__(self) -> str:
        return f"{self.reference} ({'failed' if self.attempts >= self.MAX_ATTEMPTS else 'pending'})"

    # The 201 answer is built from these (`WidgetTicketCreatedOutput`).
    status = "new"

    @property
    def created_at(self):
        return self.accepted_at
