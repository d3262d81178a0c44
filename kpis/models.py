"""Launch KPIs: raw product events (append-only, idempotent by uuid), project API keys, refused-event counts,
and the daily rollup table every KPI page reads.

Events are a plain table indexed by timestamp (not partitioned yet; see the README's KPI section).
"""

import secrets

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
