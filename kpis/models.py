"""Launch KPIs: raw product events (append-only, idempotent by uuid), project API keys, refused-event counts,
and the daily rollup table every KPI page reads.

Events are a plain table indexed by timestamp (not partitioned yet; see the README's KPI section).
"""

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


def new_project_api_key() -> str:
    return "phc_" + secrets.token_urlsafe(32)


class ProjectApiKey(models.Model):
    """A key the product's analytics clients send as `api_key`/`token` (PostHog) or as a Bearer token."""

    name = models.CharField(max_length=100)
    key = models.CharField(max_length=100, unique=True, default=new_project_api_key)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


# Vercel Speed Insights measurements (one per metric of a page view, from anonymous devices): web-vitals rows, kept
# out of the user metrics (active users, sessions) that every other event counts in.
SPEED_INSIGHTS_EVENT = "$vercel_speed_insights"


class ProductEvent(models.Model):
    """One analytics event as the product sent it; never updated."""

    uuid = models.UUIDField(unique=True)
    name = models.CharField(max_length=200)
    distinct_id = models.CharField(max_length=200)
    timestamp = models.DateTimeField(db_index=True)
    received_at = models.DateTimeField(db_index=True)
    properties = models.JSONField(default=dict)
    # The organization the event belongs to when the client said so ($groups.organization / organizationId).
    organization_key = models.CharField(max_length=200, blank=True, default="")
    # Not one of the seed's tracked events (names starting with "$" are PostHog's own).
    is_custom = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["name", "timestamp"], name="kpis_event_name_ts")]

    def __str__(self) -> str:
        return f"{self.name} {self.distinct_id} {self.timestamp:%Y-%m-%d %H:%M}"


class RejectedEventCount(models.Model):
    """How many events were refused, per day, reason and event name (visible to admins)."""

    day = models.DateField()
    reason = models.CharField(max_length=50)
    event_name = models.CharField(max_length=200)
    count = models.PositiveIntegerField(default=0)
    last_message = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-day", "reason"]
        constraints = [
            models.UniqueConstraint(fields=["day", "reason", "event_name"], name="kpis_rejected_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.reason} {self.event_name}: {self.count}"


class DailyMetric(models.Model):
    """One rolled-up value: (metric, day, dimension, dimension value) -> value. Written only by upserts."""

    metric = models.CharField(max_length=60)
    day = models.DateField()
    dimension = models.CharField(max_length=60, blank=True, default="")
    dimension_value = models.CharField(max_length=200, blank=True, default="")
    value = models.FloatField()
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["metric", "day", "dimension", "dimension_value"]
        constraints = [
            models.UniqueConstraint(
                fields=["metric", "day", "dimension", "dimension_value"], name="kpis_daily_metric_unique"
            ),
        ]
        indexes = [models.Index(fields=["day"], name="kpis_daily_metric_day")]

    def __str__(self) -> str:
        return f"{self.metric} {self.day} {self.dimension}={self.dimension_value}: {self.value}"


class RollupState(models.Model):
    """Rollup bookkeeping: the received_at watermark up to which events have been rolled up."""

    key = models.CharField(max_length=50, unique=True)
    watermark = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.watermark}"


class HealthSample(models.Model):
    """One served request: sampled from this portal's own middleware, or one request from the Vercel log drain."""

    class Source(models.TextChoices):
        PORTAL = "portal", "Portal (sampled)"
        VERCEL = "vercel", "Vercel log drain"

    source = models.CharField(max_length=10, choices=Source.choices)
    # Idempotency: the portal's sample uuid, or "vercel:<requestId>" (one row per request however many lines).
    sample_key = models.CharField(max_length=200, unique=True)
    at = models.DateTimeField()
    route = models.CharField(max_length=200, blank=True, default="")
    method = models.CharField(max_length=10, blank=True, default="")
    # Vercel sends -1 when the function crashed without an answer: counted as an error.
    status = models.SmallIntegerField()
    duration_ms = models.FloatField(null=True, blank=True)
    region = models.CharField(max_length=50, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["at"], name="kpis_health_at")]

    def __str__(self) -> str:
        return f"{self.source} {self.method} {self.route} {self.status} {self.at:%Y-%m-%d %H:%M:%S}"

    @property
    def is_error(self) -> bool:
        return self.status >= 500 or self.status < 0


class OpenAIUsageSample(models.Model):
    """OpenAI usage reported by TourBrain's backend for a period (usually a minute): requests, tokens, cost,
    rate-limit (429) answers."""

    sample_key = models.CharField(max_length=100, unique=True)  # the sender's id: a resent sample is ignored
    at = models.DateTimeField()
    model = models.CharField(max_length=100)
    requests = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    rate_limit_hits = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["at"], name="kpis_openai_at")]

    def __str__(self) -> str:
        return f"{self.model} {self.at:%Y-%m-%d %H:%M}: {self.requests} requests, ${self.cost_usd}"


class PlanPrice(models.Model):
    """A plan's monthly list price from a day on (versioned: a new row from a later day; earlier rows stay). A
    subscriber pays the price in effect on the day they subscribed to the plan."""

    plan = models.CharField(max_length=50)
    monthly_price = models.DecimalField(max_digits=10, decimal_places=2)
    valid_from = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["plan", "valid_from"]
        constraints = [models.UniqueConstraint(fields=["plan", "valid_from"], name="kpis_plan_price_unique")]

    def __str__(self) -> str:
        return f"{self.plan} ${self.monthly_price}/month from {self.valid_from}"


class MarketingSpend(models.Model):
    """What was spent on acquiring customers in one calendar month (admin: product managers and admins): the
    numerator of the customer acquisition cost."""

    month = models.DateField(unique=True, help_text="The first day of the month.")
    amount_usd = models.DecimalField(max_digits=12, decimal_places=2)
    note = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-month"]
        # The first-day rule is checked in clean(), not as a database CHECK: on SQLite a date part compiles to a
        # function only Django's connection registers, and a backup's restore check opens the file without it.
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_usd__gte=0), name="kpis_marketing_spend_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}: ${self.amount_usd}"

    def clean(self) -> None:
        if self.month and self.month.day != 1:
            raise ValidationError({"month": "Enter the first day of the month (one row per month)."})


class ScorecardTargetSetting(models.Model):
    """A launch-scorecard threshold changed by a product manager or admin (the seed's value otherwise)."""

    label = models.CharField(max_length=100, unique=True)
    threshold = models.FloatField()
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.label}: {self.threshold:g}"
