"""Tickets, conversation, attachments, SLA policies, calendars, teams and routing rules.

Due times are stored (and indexed) on the ticket when a clock starts, pauses, resumes or its
target changes; pages and the sweep only compare stored instants against now. The arithmetic
lives in `tickets.sla` (pure) and `tickets.sla_policies` (which targets apply, clock bookkeeping).
"""

from __future__ import annotations

from datetime import date, time

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from tourbrain_support.tiers import Tier

__all__ = [
    "Attachment",
    "BusinessCalendarConfig",
    "RoutingRule",
    "SLAPolicy",
    "SLATarget",
    "Team",
    "Ticket",
    "TicketMessage",
]


class TeamSlug(models.TextChoices):
    SUPPORT = "support", "Support"
    ENGINEERING = "engineering", "Engineering"
    BILLING = "billing", "Billing"
    PRODUCT = "product", "Product"


class Team(models.Model):
    """A team tickets are routed to; `Ticket.team` stores the slug (fast filters, no join)."""

    slug = models.CharField(max_length=20, unique=True, choices=TeamSlug.choices)
    name = models.CharField(max_length=100)
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="led_teams"
    )
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="support_teams")
    round_robin = models.BooleanField(
        default=False, help_text="Assign new tickets in turn among the available members."
    )
    # Round-robin pointer: the member who got the last ticket.
    last_assigned = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class BusinessCalendarConfig(models.Model):
    """Stored form of a `tickets.sla.BusinessCalendar`.

    weekly_hours: seven lists (Monday first) of ["HH:MM", "HH:MM"] local intervals; an end at or
    before the start crosses midnight. closed_dates: ISO dates on top of the country's holidays.
    """

    name = models.CharField(max_length=100, unique=True)
    timezone = models.CharField(max_length=64, default="UTC")
    weekly_hours = models.JSONField(default=list, blank=True)
    holiday_country = models.CharField(max_length=8, blank=True)
    holiday_subdivision = models.CharField(max_length=16, blank=True)
    closed_dates = models.JSONField(default=list, blank=True)
    always_open = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "business calendar"

    def __str__(self) -> str:
        return self.name

    def as_calendar(self):
        """The pure calendar value used by the SLA arithmetic."""
        from tickets import sla

        if self.always_open:
            return sla.calendar_24x7()
        weekly = []
        for day in range(7):
            intervals = self.weekly_hours[day] if day < len(self.weekly_hours) else []
            weekly.append(tuple((time.fromisoformat(start), time.fromisoformat(end)) for start, end in intervals))
        return sla.BusinessCalendar(
            timezone=self.timezone,
            weekly_hours=tuple(weekly),
            holiday_country=self.holiday_country or None,
            holiday_subdivision=self.holiday_subdivision or None,
            closed_dates=frozenset(date.fromisoformat(value) for value in self.closed_dates),
            always_open=False,
        )


class SLAPolicy(models.Model):
    """One published version of the SLA targets. Immutable once published: edits publish a new version."""

    version = models.PositiveIntegerField(unique=True)
    name = models.CharField(max_length=100, default="Default")
    calendar = models.ForeignKey(BusinessCalendarConfig, on_delete=models.PROTECT, related_name="policies")
    is_active = models.BooleanField(default=False)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-version"]
        verbose_name = "SLA policy version"
        verbose_name_plural = "SLA policy versions"
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="one_active_sla_policy")
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class SLATarget(models.Model):
    """Targets of one tier x priority cell of a policy version, in business minutes."""

    policy = models.ForeignKey(SLAPolicy, on_delete=models.CASCADE, related_name="targets")
    tier = models.CharField(max_length=20, choices=Tier.choices)
    priority = models.CharField(max_length=10, choices=[(p, p.title()) for p in ("low", "medium", "high", "critical")])
    first_response_minutes = models.PositiveIntegerField()
    next_response_minutes = models.PositiveIntegerField()
    resolution_minutes = models.PositiveIntegerField()

    class Meta:
        ordering = ["policy", "tier", "priority"]
        constraints = [models.UniqueConstraint(fields=["policy", "tier", "priority"], name="unique_sla_target_cell")]

    def __str__(self) -> str:
        return f"v{self.policy.version} {self.tier}/{self.priority}"


class RoutingRule(models.Model):
    """Data a lead edits. The first matching rule (by order) with a team decides the team; any matching
    rule with `priority_queue` puts the ticket in the priority queue. Empty match fields match anything."""

    order = models.PositiveIntegerField(default=100)
    type = models.CharField(max_length=20, blank=True, help_text="Ticket type to match; empty matches any.")
    priority = models.CharField(max_length=10, blank=True, help_text="Priority to match; empty matches any.")
    tier = models.CharField(max_length=20, blank=True, choices=Tier.choices, help_text="Empty matches any.")
    team = models.CharField(max_length=20, blank=True, choices=TeamSlug.choices)
    priority_queue = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.description or f"rule #{self.pk}"


OPEN_STATUSES = ("new", "open", "pending", "on_hold")
RUNNING_STATUSES = ("new", "open")
PAUSED_STATUSES = ("pending", "on_hold")


class TicketQuerySet(models.QuerySet):
    def open(self) -> TicketQuerySet:
        """Not solved or closed (still being worked, clocks running or paused)."""
        return self.filter(status__in=OPEN_STATUSES)

    def running(self) -> TicketQuerySet:
        """Clocks running: the sweep's population."""
        return self.filter(status__in=RUNNING_STATUSES, next_due_at__isnull=False)

    def for_queue(self) -> TicketQuerySet:
        """Rows ready for the queue: related rows joined once, sorted by the next due time."""
        return self.select_related("user", "organization", "assignee", "sla_policy__calendar").order_by(
            models.F("next_due_at").asc(nulls_last=True), "id"
        )

    def feature_requests(self) -> TicketQuerySet:
        return self.filter(type=Ticket.Type.FEATURE_REQUEST)

    def by_reference(self, reference_or_id: str | int) -> TicketQuerySet:
        """Lookup by `TB-000123`, `tb-123`, `123` or an int id."""
        pk = id_from_reference(reference_or_id)
        return self.none() if pk is None else self.filter(pk=pk)


def id_from_reference(reference_or_id: str | int) -> int | None:
    """The ticket id a reference names (`TB-000123`, `tb-123`, `123` or an int), None when it names none."""
    value = str(reference_or_id).strip().upper()
    if value.startswith("TB-"):
        value = value[3:]
    # ASCII digits only: str.isdigit() also accepts superscripts and other scripts' digits (int() refuses some).
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        return None
    return int(value)


def reference_for(pk: int) -> str:
    return f"TB-{pk:06d}"


class Ticket(models.Model):
    """A support ticket: the seed's SupportTicket plus workflow, routing and stored SLA clocks."""

    class Type(models.TextChoices):
        BUG = "bug", "Bug"
        FEATURE_REQUEST = "feature_request", "Feature request"
        QUESTION = "question", "Question"
        BILLING = "billing", "Billing"

    class Priority(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        CRITICAL = "critical", "Critical"

    class Status(models.TextChoices):
        NEW = "new", "New"
        OPEN = "open", "Open"
        PENDING = "pending", "Pending (waiting on customer)"
        ON_HOLD = "on_hold", "On hold"
        SOLVED = "solved", "Solved"
        CLOSED = "closed", "Closed"

    class Channel(models.TextChoices):
        WIDGET = "widget", "In-app widget"
        EMAIL = "email", "Email"
        PORTAL = "portal", "Portal"
        API = "api", "API"
        STAFF = "staff", "Staff"

    class SLAState(models.TextChoices):
        OK = "ok", "OK"
        WARNING = "warning", "Warning"
        BREACHED = "breached", "Breached"

    Team = TeamSlug
    Tier = Tier

    # Stored so lookups and search by reference use an index; set right after the insert (derived from id).
    reference = models.CharField(max_length=20, unique=True, null=True, blank=True, editable=False)

    # The seed's SupportTicket.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    organization = models.ForeignKey(
        "tourbrain_support.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    type = models.CharField(max_length=20, choices=Type.choices)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.MEDIUM)
    description = models.TextField()
    reproduction_steps = models.TextField(blank=True)
    browser_info = models.CharField(max_length=500, blank=True)
    url = models.URLField(max_length=2000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    # Workflow.
    subject = models.CharField(max_length=200)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.PORTAL)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    team = models.CharField(max_length=20, choices=TeamSlug.choices, default=TeamSlug.SUPPORT)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_tickets"
    )
    tier = models.CharField(max_length=20, choices=Tier.choices, default=Tier.GENERAL)
    priority_queue = models.BooleanField(default=False)
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="duplicates"
    )

    # SLA: the policy version applied, stored clocks and state. Clients never write these.
    sla_policy = models.ForeignKey(SLAPolicy, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    next_response_due_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    # Earliest due time among the running clocks; NULL while paused or stopped. The queue sorts by it.
    next_due_at = models.DateTimeField(null=True, blank=True)
    # Instant the warning share of the earliest running clock is used up; NULL while paused or stopped.
    sla_warning_at = models.DateTimeField(null=True, blank=True)
    sla_state = models.CharField(max_length=10, choices=SLAState.choices, default=SLAState.OK)
    first_responded_at = models.DateTimeField(null=True, blank=True)
    last_customer_message_at = models.DateTimeField(null=True, blank=True)
    # When the requester last opened the ticket (widget/portal): staff replies after it are unread.
    requester_last_seen_at = models.DateTimeField(null=True, blank=True)
    solved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Pause bookkeeping: business minutes each clock had used when it stopped ticking.
    paused_at = models.DateTimeField(null=True, blank=True)
    first_response_elapsed_minutes = models.IntegerField(default=0)
    next_response_elapsed_minutes = models.IntegerField(default=0)
    resolution_elapsed_minutes = models.IntegerField(default=0)
    escalated_at = models.DateTimeField(null=True, blank=True)
    warning_notified_at = models.DateTimeField(null=True, blank=True)

    # The part of TourBrain the ticket is about (a status-page component), set by staff: when an incident on it
    # resolves, beta users with open tickets about it are told.
    component = models.ForeignKey(
        "oncall.Component", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=True
    )

    # Optimistic locking: every change bumps it; a form sends the version it was rendered from.
    version = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    history = HistoricalRecords(excluded_fields=["updated_at", "requester_last_seen_at"])
    objects = TicketQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "next_due_at"], name="ticket_status_next_due"),
            models.Index(fields=["team", "status", "next_due_at"], name="ticket_team_status_due"),
            models.Index(fields=["assignee", "status"], name="ticket_assignee_status"),
            models.Index(fields=["organization", "created_at"], name="ticket_org_created"),
            models.Index(fields=["user", "created_at"], name="ticket_user_created"),
            # Queue order of the active tickets (the default queue view); an ascending PostgreSQL
            # index already puts NULLs last, as the queue's ORDER BY does.
            models.Index(
                fields=["next_due_at", "id"],
                name="ticket_active_queue_order",
                condition=Q(status__in=OPEN_STATUSES),
            ),
            # Queue order across every status ("any status" views and searches).
            models.Index(fields=["next_due_at", "id"], name="ticket_queue_order_all"),
            # The sweep: pure comparisons of stored instants against now, on the few rows still ok/warning.
            models.Index(
                fields=["sla_warning_at"],
                name="ticket_sweep_warning",
                condition=Q(sla_state="ok", status__in=RUNNING_STATUSES),
            ),
            models.Index(
                fields=["next_due_at"],
                name="ticket_sweep_breach",
                condition=Q(sla_state__in=["ok", "warning"], status__in=RUNNING_STATUSES),
            ),
            models.Index(fields=["solved_at"], name="ticket_solved_autoclose", condition=Q(status="solved")),
            models.Index(fields=["duplicate_of"], name="ticket_feature_dup", condition=Q(type="feature_request")),
        ]

    def __str__(self) -> str:
        return f"{self.reference or 'TB-?'} {self.subject}"

    @property
    def is_paused(self) -> bool:
        return self.status in PAUSED_STATUSES

    @property
    def is_active(self) -> bool:
        return self.status in OPEN_STATUSES


class TicketMessage(models.Model):
    """One entry of the conversation: a public reply (customer or staff) or an internal note (staff only)."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    is_internal = models.BooleanField(default=False, help_text="Internal note: never shown to the customer.")
    is_from_staff = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="message_ticket_created")]

    def __str__(self) -> str:
        return f"message #{self.pk} on {self.ticket_id}"


def attachment_path(instance: Attachment, filename: str) -> str:
    return f"attachments/{timezone.now():%Y/%m}/{filename}"


class Attachment(models.Model):
    """A file on a message, stored through Django's storage API (limits in settings.TICKET_ATTACHMENT_*)."""

    message = models.ForeignKey(TicketMessage, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=300)
    filename = models.CharField(max_length=255)
    size = models.PositiveIntegerField()
    content_type = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.filename

    @property
    def name(self) -> str:
        return self.filename
