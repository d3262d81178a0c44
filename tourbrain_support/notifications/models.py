"""The notification outbox: rows written with their cause, delivered by a task.

A row is inserted in the same transaction as the change that causes it (so a rolled-back change sends
nothing and a committed one cannot lose its notification), then delivered by
`tourbrain_support.notifications.outbox`. The idempotency key makes a rerun of the cause (a sweep, a
retried request) insert nothing new.

`next_attempt_at` is the one clock of the redelivery scan: for a pending row it is when the next attempt
is due, for a row being sent it is when the sender's lease expires (a worker that died mid-send leaves a
row that the periodic task takes over after the lease).
"""

from django.db import models
from django.utils import timezone

__all__ = ["OutboxMessage"]


class OutboxMessage(models.Model):
    """One notification to one recipient on one channel, delivered at most once per successful send."""

    class Kind:
        """The notifications sent today (the field stays free text so a new kind needs no migration)."""

        TICKET_CRITICAL = "ticket.critical"
        TICKET_ASSIGNED = "ticket.assigned"
        SLA_WARNING = "sla.warning"
        SLA_BREACH = "sla.breach"
        AUDIT_ALERT = "audit.alert"  # former audit alerts (now alert rules: alert.notification); kept for old rows
        GDPR_REQUEST_COMPLETED = "gdpr.request_completed"  # to the person: their access export is ready
        PORTAL_LOGIN_LINK = "portal.login_link"  # to a customer: a sign-in link for the portal
        BETA_TICKET = "beta.ticket"  # to a beta organization's Slack channel: a new ticket
        BETA_REPLY = "beta.reply"  # to a beta organization's Slack channel: a public reply
        BETA_CALL_INVITE = "beta.call_invite"  # to the rep and the customers: the weekly call (.ics attached)
        BETA_INVITATION = "beta.invitation"  # to a person invited to the beta cohort
        CUSTOMER_ACK = "customer.ack"  # to the requester: we received your ticket (reference, promise)
        CUSTOMER_REPLY = "customer.reply"  # to the requester: a public staff reply
        CUSTOMER_STATUS = "customer.status"  # to the requester: pending on you, solved, closed
        ALL = (
            TICKET_CRITICAL,
            TICKET_ASSIGNED,
            SLA_WARNING,
            SLA_BREACH,
            AUDIT_ALERT,
            GDPR_REQUEST_COMPLETED,
            PORTAL_LOGIN_LINK,
            BETA_TICKET,
            BETA_REPLY,
            BETA_CALL_INVITE,
            BETA_INVITATION,
            CUSTOMER_ACK,
            CUSTOMER_REPLY,
            CUSTOMER_STATUS,
        )

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SLACK = "slack", "Slack"
        SMS = "sms", "SMS"  # a Twilio-compatible HTTP API (SMS_API_URL); the recipient is a phone number

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=64, help_text="What happened, e.g. ticket.critical, sla.breach.")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    # An email address, or a Slack channel name: one of SLACK_WEBHOOKS ("default", "alerts", "status",
    # "beta-support"), or an app's target such as "beta:<profile id>" (a beta organization's own channel).
    recipient = models.CharField(max_length=254)
    subject = models.CharField(max_length=255, blank=True)
    body = models.TextField()
    html_body = models.TextField(blank=True)
    # Email only: files sent with the message, [{"filename", "content_type", "content"}] (text content, e.g. .ics).
    attachments = models.JSONField(default=list, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=200, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)
    # The provider's answer to the successful (or final) attempt: SMTP reply, HTTP status and body; truncated.
    provider_response = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # The table keeps the name it had when the outbox lived in the tickets app (moved without copying rows).
        db_table = "tickets_outboxmessage"
        ordering = ["-created_at", "-id"]
        indexes = [
            # The redelivery scan: due pending rows and expired sending leases; sent and failed rows stay out.
            models.Index(
                fields=["next_attempt_at"],
                name="outbox_due_idx",
                condition=models.Q(status__in=["pending", "sending"]),
            ),
            models.Index(fields=["status", "-created_at"], name="outbox_status_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.recipient} ({self.status})"
