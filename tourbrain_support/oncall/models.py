"""On-call rotation, pages, incidents and the launch checklist's manual items."""

from datetime import time

from django.conf import settings
from django.db import models
from django.utils import timezone


class Responder(models.Model):
    """A person who can be paged: a staff user and the phone number SMS pages go to."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="responder")
    phone = models.CharField(max_length=32, blank=True, help_text="E.164, e.g. +447700900123; empty: no SMS.")
    is_active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.user.get_full_name() or self.user.email


class Rotation(models.Model):
    """Members take turns week by week: in week n the n-th member is primary, the next one secondary."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    name = models.CharField(max_length=100, unique=True)
    is_active = models.BooleanField(default=True, help_text="Only active rotations are paged.")
    match_labels = models.JSONField(
        default=dict,
        blank=True,
        help_text='Alerts whose labels hold all of these page this rotation, e.g. {"team": "platform"}. '
        "An alert no rotation selects pages every active rotation.",
    )
    handover_weekday = models.PositiveSmallIntegerField(choices=Weekday.choices, default=Weekday.MONDAY)
    handover_time = models.TimeField(default=time(9, 0), help_text="Local time in the rotation's time zone.")
    time_zone = models.CharField(max_length=64, blank=True, help_text="Empty: BUSINESS_TIMEZONE.")
    # Week 0 is the week whose hand-over is on or after this date.
    starts_on = models.DateField(default=timezone.localdate)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class RotationMember(models.Model):
    rotation = models.ForeignKey(Rotation, on_delete=models.CASCADE, related_name="members")
    responder = models.ForeignKey(Responder, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]
        constraints = [models.UniqueConstraint(fields=["rotation", "responder"], name="oncall_member_once")]

    def __str__(self) -> str:
        return f"{self.position}. {self.responder}"


class Override(models.Model):
    """Someone covers a role for a while (a holiday, a swap); the newest override wins when two overlap."""

    class Role(models.TextChoices):
        PRIMARY = "primary", "Primary"
        SECONDARY = "secondary", "Secondary"

    rotation = models.ForeignKey(Rotation, on_delete=models.CASCADE, related_name="overrides")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.PRIMARY)
    responder = models.ForeignKey(Responder, on_delete=models.CASCADE, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["rotation", "ends_at"], name="oncall_override_ends")]
        constraints = [
            models.CheckConstraint(condition=models.Q(ends_at__gt=models.F("starts_at")), name="oncall_override_span")
        ]

    def __str__(self) -> str:
        return f"{self.responder} as {self.role} ({self.reason})"


class EscalationContact(models.Model):
    """Paged after the secondary: service-provider support (Vercel, Supabase, Clerk) or a manager."""

    name = models.CharField(max_length=100)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=32, blank=True)
    support_url = models.URLField(blank=True, help_text="The provider's support or status page (runbook link).")
    position = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.name


class Page(models.Model):
    """One page of the on-call for one alert key; climbs the levels until someone acknowledges it."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    class Level(models.IntegerChoices):
        PRIMARY = 0, "Primary"
        SECONDARY = 1, "Secondary"
        ESCALATION = 2, "Escalation contacts"

    key = models.CharField(
        max_length=200, unique=True, help_text="The alert's key (and rotation): paging it again is a no-op."
    )
    # The alert's own key, shared by the pages of every rotation it paged; resolving the alert closes them all.
    alert_key = models.CharField(max_length=200, blank=True, db_index=True)
    rotation = models.ForeignKey(
        "Rotation", null=True, blank=True, on_delete=models.SET_NULL, related_name="pages", help_text="Whose people."
    )
    severity = models.CharField(max_length=20)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.URLField(max_length=500, blank=True)
    status = models.CharField(max_length=14, choices=Status.choices, default=Status.OPEN)
    level = models.PositiveSmallIntegerField(choices=Level.choices, default=Level.PRIMARY)
    # When the next level is paged if nobody acknowledged; null once acknowledged, resolved or at the top.
    escalate_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who each level paged: [{"level", "name", "email", "phone"}], for the page's page and the audit trail.
    paged = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(
                fields=["escalate_at"], name="oncall_page_escalate", condition=models.Q(escalate_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"[{self.severity}] {self.title}"


class Component(models.Model):
    """A part of TourBrain shown on the status page; `probe_name` ties it to a health probe's samples."""

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=200, blank=True)
    probe_name = models.CharField(max_length=100, blank=True, help_text="Health probe whose samples give uptime.")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Incident(models.Model):
    class Severity(models.TextChoices):
        # Ordered from least to most severe; the status page shows a component at its worst open incident.
        MINOR = "minor", "Minor (degraded performance)"
        MAJOR = "major", "Major (partial outage)"
        CRITICAL = "critical", "Critical (major outage)"

    class Status(models.TextChoices):
        INVESTIGATING = "investigating", "Investigating"
        IDENTIFIED = "identified", "Identified"
        MONITORING = "monitoring", "Monitoring"
        RESOLVED = "resolved", "Resolved"

    title = models.CharField(max_length=200)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.MAJOR)
    status = models.CharField(max_length=14, choices=Status.choices, default=Status.INVESTIGATING)
    components = models.ManyToManyField(Component, related_name="incidents", blank=True)
    is_public = models.BooleanField(default=True, help_text="Shown on /status/ and as a banner to customers.")
    page_key = models.CharField(max_length=200, blank=True, help_text="The alert/page this incident came from.")
    opened_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    summary = models.TextField(blank=True, help_text="Post-incident summary, written when it resolves.")

    class Meta:
        ordering = ["-opened_at", "-pk"]
        indexes = [models.Index(fields=["resolved_at", "opened_at"], name="oncall_incident_window")]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status != self.Status.RESOLVED


class IncidentUpdate(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="updates")
    status = models.CharField(max_length=14, choices=Incident.Status.choices)
    message = models.TextField()
    is_public = models.BooleanField(default=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_status_display()}: {self.message[:60]}"


class LaunchItemTick(models.Model):
    """A manual item of the launch checklist, ticked (or unticked) by an admin with a note."""

    key = models.CharField(max_length=64, unique=True)
    done = models.BooleanField(default=False)
    note = models.TextField(blank=True)
    ticked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ticked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.key}: {'done' if self.done else 'open'}"


class LaunchDeliveryResult(models.Model):
    """The last run of a launch check that sends something real (test email, Slack post, Sentry event)."""

    key = models.CharField(max_length=64, unique=True)
    ok = models.BooleanField(default=False)
    detail = models.TextField(blank=True)
    ran_at = models.DateTimeField()
    ran_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.key}: {'ok' if self.ok else 'failed'}"
