"""Admin: admins edit the rotation, overrides, escalation contacts and status-page components.

Pages, incidents and launch ticks change through their services (pages /oncall/, /launch/), so the
admin shows them read-only: a state changed here would skip the notifications and the audit trail.
"""

from django.contrib import admin
from django.db import models

from tourbrain_support.oncall.models import (
    Component,
    EscalationContact,
    Incident,
    IncidentUpdate,
    LaunchDeliveryResult,
    LaunchItemTick,
    Override,
    Page,
    Responder,
    Rotation,
    RotationMember,
)


class RotationMemberInline(admin.TabularInline):
    model = RotationMember
    extra = 1
    autocomplete_fields = ["responder"]


class OverrideInline(admin.TabularInline):
    model = Override
    extra = 1
    autocomplete_fields = ["responder"]
    fields = ["role", "responder", "starts_at", "ends_at", "reason"]


@admin.register(Rotation)
class RotationAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "handover_weekday", "handover_time", "time_zone", "starts_on"]
    inlines = [RotationMemberInline, OverrideInline]


@admin.register(Responder)
class ResponderAdmin(admin.ModelAdmin):
    list_display = ["__str__", "phone", "is_active"]
    search_fields = ["user__email", "user__name"]
    autocomplete_fields = ["user"]


@admin.register(EscalationContact)
class EscalationContactAdmin(admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["name", "email", "phone", "support_url", "position", "is_active"]


@admin.register(Component)
class ComponentAdmin(admin.ModelAdmin):
    list_display = ["name", "probe_name", "position"]


class ReadOnlyAdmin(admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Page)
class PageAdmin(ReadOnlyAdmin):
    list_display = ["title", "severity", "status", "level", "created_at", "acknowledged_by"]
    list_filter = ["status", "severity"]


class IncidentUpdateInline(admin.TabularInline):
    model = IncidentUpdate
    extra = 0
    can_delete = False
    fields = ["created_at", "status", "message", "is_public", "author"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    list_display = ["title", "severity", "status", "is_public", "opened_at", "resolved_at"]
    list_filter = ["status", "severity"]
    inlines = [IncidentUpdateInline]


@admin.register(LaunchItemTick)
class LaunchItemTickAdmin(ReadOnlyAdmin):
    list_display = ["key", "done", "ticked_by", "ticked_at"]


@admin.register(LaunchDeliveryResult)
class LaunchDeliveryResultAdmin(admin.ModelAdmin):
    list_display = ("key", "ok", "detail", "ran_at", "ran_by")
    readonly_fields = ("key", "ok", "detail", "ran_at", "ran_by")
