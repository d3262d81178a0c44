"""Email threading and intake records: every Message-ID of a ticket's conversation, and quarantined mail.

`TicketEmail` holds one row per email that belongs to a ticket, inbound (a customer's message) or
outbound (our acknowledgement, reply or status mail). Its unique, indexed `message_id` is how an inbound
reply finds its ticket (`In-Reply-To`/`References`) and how the same inbound message ingested twice is
recognised. `QuarantinedEmail` keeps the raw bytes of a message that could not be parsed or stored.
"""

from django.db import models
from django.utils import timezone

__all__ = ["BouncingAddress", "OrganizationEmailDomain", "QuarantinedEmail", "TicketEmail"]


class TicketEmail(models.Model):
    class Direction(models.TextChoices):
        INBOUND = "inbound", "Inbound"
        OUTBOUND = "outbound", "Outbound"

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="emails")
    # The conversation entry this email carried (none for an acknowledgement or a status mail).
    ticket_message = models.ForeignKey(
        "tickets.TicketMessage", null=True, blank=True, on_delete=models.SET_NULL, related_name="emails"
    )
    direction = models.CharField(max_length=10, choices=Direction.choices)
    # Without the angle brackets, as in "TB-000123.ack.1@tourbrain.ai".
    message_id = models.CharField(max_length=255, unique=True)
    sender = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    # Inbound only: the original message as received (staff can read the full text and the quoted history).
    raw = models.BinaryField(blank=True, default=b"")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["ticket", "created_at"], name="ticket_email_ticket_created"),
            # The intake's rate limit: a sender's inbound messages of the last hour.
            models.Index(fields=["sender", "created_at"], name="ticket_email_sender_created"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} <{self.message_id}>"


class QuarantinedEmail(models.Model):
    """An inbound message that could not become a ticket or a reply: kept whole for an admin to retry or discard."""

    class Status(models.TextChoices):
        HELD = "held", "Held"
        RETRIED = "retried", "Retried (ingested)"
        DISCARDED = "discarded", "Discarded"

    raw = models.BinaryField()
    message_id = models.CharField(max_length=255, blank=True)
    sender = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    reason = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.HELD)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "quarantined email"

    def __str__(self) -> str:
        return f"{self.subject or '(no subject)'} from {self.sender or '?'} ({self.status})"


class BouncingAddress(models.Model):
    """An address our mail bounced from (a delivery status notification came back); shown to staff."""

    address = models.EmailField(unique=True)
    reason = models.TextField(blank=True)
    bounced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "bouncing addresses"

    def __str__(self) -> str:
        return self.address


class OrganizationEmailDomain(models.Model):
    """An email domain that belongs to an organization: a new sender from a verified domain joins it."""

    organization = models.ForeignKey(
        "tourbrain_support.Organization", on_delete=models.CASCADE, related_name="email_domains"
    )
    # Lower-case, without "@", e.g. "band.example.com".
    domain = models.CharField(max_length=253, unique=True)
    # Only a verified domain is used for matching (someone confirmed the organization owns it).
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain

    def save(self, *args, **kwargs):
        self.domain = self.domain.strip().lower().lstrip("@")
        super().save(*args, **kwargs)
