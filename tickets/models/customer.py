"""What the customer side adds to a ticket: the satisfaction rating and the widget's idempotency keys."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

__all__ = ["TicketIdempotencyKey", "TicketSatisfaction"]


class TicketSatisfaction(models.Model):
    """The customer's rating (CSAT 1-5) of how a solved ticket was handled: one per ticket.

    `solved_at` is the solve it rates: a ticket reopened and solved again may be rated afresh.
    """

    ticket = models.OneToOneField("tickets.Ticket", on_delete=models.CASCADE, related_name="satisfaction")
    score = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    rated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    solved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "satisfaction rating"
        constraints = [models.CheckConstraint(condition=Q(score__gte=1, score__lte=5), name="satisfaction_score_1_5")]

    def __str__(self) -> str:
        return f"{self.score}/5 on ticket {self.ticket_id}"


class TicketIdempotencyKey(models.Model):
    """A client's `Idempotency-Key` and the answer its first request got; a retry is answered from here.

    Unique per user: two concurrent requests with the same key race on the constraint, the loser reads
    the winner's answer once it commits.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    # A digest of the request, so a key reused for a different request is refused instead of answered.
    request_digest = models.CharField(max_length=64)
    ticket = models.ForeignKey("tickets.Ticket", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    response_status = models.PositiveSmallIntegerField(default=0)
    response_body = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="unique_idempotency_key_per_user")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_key_created")]

    def __str__(self) -> str:
        return f"{self.key} ({self.user_id})"
