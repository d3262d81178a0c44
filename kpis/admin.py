from django.contrib import admin

from kpis.models import DailyMetric, MarketingSpend, PlanPrice, ProjectApiKey, RejectedEventCount
from tourbrain_support.admin_mixins import ReadOnlyAdminMixin


@admin.register(ProjectApiKey)
class ProjectApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    readonly_fields = ["created_at"]


@admin.register(RejectedEventCount)
class RejectedEventCountAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["day", "reason", "event_name", "count", "last_message"]
    list_filter = ["reason", "day"]
    search_fields = ["event_name"]


@admin.register(DailyMetric)
class DailyMetricAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["metric", "day", "dimension", "dimension_value", "value", "computed_at"]
    list_filter = ["metric"]
    date_hierarchy = "day"


@admin.register(MarketingSpend)
class MarketingSpendAdmin(admin.ModelAdmin):
    """Acquisition spend per month (the first day of the month): the customer acquisition cost's numerator
    (rerun `kpi_rollup --from --to` for a past month)."""

    list_display = ["month", "amount_usd", "note", "updated_at"]
    readonly_fields = ["updated_at"]


@admin.register(PlanPrice)
class PlanPriceAdmin(admin.ModelAdmin):
    """Versioned plan prices: add a row from a later day to change a price (subscribers keep the price of the
    day they subscribed; rerun `kpi_rollup --from --to` for days already rolled up)."""

    list_display = ["plan", "monthly_price", "valid_from", "created_at"]
    list_filter = ["plan"]
    readonly_fields = ["created_at"]
