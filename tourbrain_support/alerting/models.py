"""Alerting data: HTTP probes and probe samples, alert rules with their evaluation state, silences and history."""

from __future__ import annotations

import operator
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from tourbrain_support.roles import Role


class HttpProbe(models.Model):
    """An external service checked every minute (besides the ones in the ALERT_HTTP_PROBES setting)."""

    class Method(models.TextChoices):
        GET = "GET", "GET"
        HEAD = "HEAD", "HEAD"
        POST = "POST", "POST"

    name = models.SlugField(max_length=60, unique=True, help_text="Rules read it as probe:<name>:down, …:latency_ms")
    url = models.URLField(max_length=500)
    method = models.CharField(max_length=8, choices=Method.choices, default=Method.GET)
    expected_status = models.PositiveSmallIntegerField(default=200)
    timeout_seconds = models.FloatField(default=5.0)
    degraded_after_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="Slower answers than this count as degraded."
    )
    json_field = models.CharField(
        max_length=200, blank=True, help_text="Dotted path of a value in the JSON answer, e.g. status.indicator."
    )
    json_expected = models.CharField(
        max_length=200, blank=True, help_text="When set, another value at json_field counts as degraded."
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ProbeSample(models.Model):
    """One probe result; rules aggregate them over their window. Old rows are pruned (ALERT_PROBE_RETENTION_DAYS)."""

    class Status(models.TextChoices):
        HEALTHY = "healthy", "Healthy"
        DEGRADED = "degraded", "Degraded"
        DOWN = "down", "Down"

    probe = models.CharField(max_length=80)
    sampled_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices)
    latency_ms = models.FloatField(null=True, blank=True)
    value = models.FloatField(null=True, blank=True)
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [
            # Rules read one probe over a recent window; retention deletes by time.
            models.Index(fields=["probe", "sampled_at"], name="probe_sample_probe_time"),
            models.Index(fields=["sampled_at"], name="probe_sample_time"),
        ]

    def __str__(self) -> str:
        return f"{self.probe} {self.status} at {self.sampled_at:%Y-%m-%d %H:%M:%S}"


COMPARATORS = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


class AlertRule(models.Model):
    """A condition on a source's value over a window; see `tourbrain_support.alerting.evaluation`."""

    class Severity(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    Comparator = models.TextChoices("Comparator", [(key, key) for key in COMPARATORS])

    name = models.CharField(max_length=100, unique=True, help_text="The alert's name (Prometheus `alert:`).")
    source = models.CharField(
        max_length=120, help_text="probe:<name>:down|up|latency_ms|value, or a registered source (e.g. kpis.error_rate)"
    )
    comparator = models.CharField(max_length=2, choices=Comparator.choices, default=">")
    threshold = models.FloatField()
    recovery_threshold = models.FloatField(
        null=True, blank=True, help_text="While firing, the value must pass this one to resolve (hysteresis)."
    )
    window = models.DurationField(default=timedelta(minutes=1), help_text="The source's value covers this period.")
    for_duration = models.DurationField(
        default=timedelta(0), help_text="The condition must hold this long before the alert fires."
    )
    nodata_after = models.DurationField(
        null=True, blank=True, help_text="No value for this long is an alert of its own; empty: no data is ignored."
    )
    repeat_interval = models.DurationField(
        null=True, blank=True, help_text="While firing, notify again after this long; empty: once."
    )
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    channels = models.JSONField(
        default=list,
        blank=True,
        help_text='e.g. ["email:ops@example.com", "slack:alerts", "role:admin", "oncall"]',
    )
    summary = models.CharField(max_length=300, blank=True)
    runbook = models.TextField(blank=True)
    labels = models.JSONField(default=dict, blank=True)
    customer_notice = models.CharField(
        max_length=300,
        blank=True,
        help_text="While the rule fires, customers see this as a maintenance banner (widget and portal); empty: none.",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        problem = channels_problem(self.channels)
        if problem:
            errors["channels"] = problem
        if not isinstance(self.labels, dict) or not all(isinstance(value, str) for value in self.labels.values()):
            errors["labels"] = 'Labels are an object of strings, e.g. {"team": "platform"}.'
        if self.window is not None and self.window <= timedelta(0):
            errors["window"] = "The window must be longer than zero."
        if errors:
            raise ValidationError(errors)

    @property
    def expression(self) -> str:
        return f"{self.source}[{format_duration(self.window)}] {self.comparator} {format_number(self.threshold)}"

    def all_labels(self) -> dict[str, str]:
        """The labels silences match: the rule's own plus alertname and severity."""
        return {
            **{str(k): str(v) for k, v in (self.labels or {}).items()},
            "alertname": self.name,
            "severity": self.severity,
        }


class AlertState(models.Model):
    """The evaluation state of one rule, written only by a conditional UPDATE on `version` (one writer per change)."""

    class State(models.TextChoices):
        INACTIVE = "inactive", "Inactive"
        PENDING = "pending", "Pending"
        FIRING = "firing", "Firing"
        NODATA = "nodata", "No data"
        RESOLVED = "resolved", "Resolved"

    rule = models.OneToOneField(AlertRule, on_delete=models.CASCADE, related_name="state", primary_key=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.INACTIVE)
    version = models.PositiveIntegerField(default=0)
    # Counts firing (or no-data) episodes: notifications of one episode share it in their idempotency keys.
    instance = models.PositiveIntegerField(default=0)
    pending_since = models.DateTimeField(null=True, blank=True)
    active_since = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(default=timezone.now)
    last_data_at = models.DateTimeField(null=True, blank=True)
    # The episode last notified as firing (0: none yet, e.g. it fired under a silence), when and how often.
    notified_instance = models.PositiveIntegerField(default=0)
    last_notified_at = models.DateTimeField(null=True, blank=True)
    repeats = models.PositiveIntegerField(default=0)
    last_value = models.FloatField(null=True, blank=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.rule_id}: {self.state}"


class Silence(models.Model):
    """Mutes notifications of the rules whose labels match every matcher, until `ends_at`."""

    OPERATORS = ("=", "!=", "=~", "!~")

    matchers = models.JSONField(help_text='[["severity", "=", "critical"], ["alertname", "=~", "Clerk.*"]]')
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-ends_at"]
        indexes = [models.Index(fields=["ends_at"], name="silence_ends_at")]

    def __str__(self) -> str:
        return f"silence {self.pk} until {self.ends_at:%Y-%m-%d %H:%M}"

    @property
    def matchers_text(self) -> str:
        return ", ".join(f"{name}{op}{value}" for name, op, value in self.matchers)


class AlertEvent(models.Model):
    """History: every state change of a rule and every notification sent (or muted) for it."""

    class Kind(models.TextChoices):
        PENDING = "pending", "Pending"
        FIRING = "firing", "Firing"
        REPEAT = "repeat", "Repeated"
        NODATA = "nodata", "No data"
        RESOLVED = "resolved", "Resolved"
        INACTIVE = "inactive", "Back to inactive"

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    instance = models.PositiveIntegerField(default=0)
    value = models.FloatField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now)
    notified = models.BooleanField(default=False)
    silenced = models.BooleanField(default=False)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["rule", "-at"], name="alert_event_rule_at")]

    def __str__(self) -> str:
        return f"{self.rule_id} {self.kind} at {self.at:%Y-%m-%d %H:%M:%S}"


STAFF_ROLES = tuple(Role.values)  # `role:<role>` channels


def channels_problem(channels) -> str:
    """Why a channel list is unusable ("" when it is fine): email:<address>, slack:<channel name>, role:<role>
    or oncall."""
    if not isinstance(channels, list):
        return 'Channels are a list, e.g. ["email:ops@example.com", "slack:alerts", "oncall"].'
    for channel in channels:
        scheme, _, name = str(channel).partition(":")
        if channel == "oncall" or (scheme == "slack" and name) or (scheme == "email" and "@" in name):
            continue
        if scheme == "role" and name in STAFF_ROLES:
            continue
        return (
            f"{channel!r} is not a channel: use email:<address>, slack:<channel name>, role:<role> "
            f"({', '.join(STAFF_ROLES)}) or oncall."
        )
    return ""


def format_duration(value: timedelta | None) -> str:
    """Prometheus duration text: 90s -> 1m30s, 0 -> 0s."""
    if value is None:
        return ""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
