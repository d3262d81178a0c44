"""A widget ticket accepted but not yet filed: the request answers at once, a worker files it moments later."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

__all__ = ["TicketIntake"]


class TicketIntake(models.Model):
    """What a customer sent from the widget, with the ticket id and reference it was promised.

    The id comes from the tickets' own sequence when the request is accepted, so the reference the customer
    is shown is the one the ticket gets. Filing (`tickets.intake`) creates the ticket with that id and
    `created_at = accepted_at` (the SLA clocks start when the customer pressed send), then empties the
    payload: the row stays only to answer a retried `Idempotency-Key` with the first answer.
    """

    # A filing that failed this often is left for staff (the admin's retry; logged as an error each time).
    MAX_ATTEMPTS = 5

    ticket_id = models.BigIntegerField()  # from the sequence: unique without an index to keep
    reference = models.CharField(max_length=20)
    # Indexed only while pending (below): every index is written by each accept and each filing.
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    organization = models.ForeignKey(
        "tourbrain_support.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=20)
    # type, priority, subject, description, reproduction_steps, browser_info, url
    payload = models.JSONField(default=dict)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 (NULL: sent without a key)
    request_digest = models.CharField(max_length=64, blank=True)
    subject = models.CharField(max_length=200)
    accepted_at = models.DateTimeField()
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    first_response_promise = models.CharField(max_length=100, blank=True)
    filed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["requester", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="unique_intake_key_per_requester",
            )
        ]
        indexes = [
            models.Index(fields=["id"], condition=Q(filed_at__isnull=True), name="intake_pending"),
            models.Index(fields=["requester"], condition=Q(filed_at__isnull=True), name="intake_pending_requester"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} ({'filed' if self.filed_at else 'pending'})"

    # The 201 answer is built from these, the first time and for every retry (`WidgetTicketCreatedOutput`).
    status = "new"

    @property
    def created_at(self):
        return self.accepted_at
